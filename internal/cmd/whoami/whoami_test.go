package whoami

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

func TestNewCmdWhoami(t *testing.T) {
	for _, tt := range []struct {
		args         []string
		wantProvider string
		wantJSON     bool
		wantErr      string
	}{
		{args: nil, wantProvider: "aws"},
		{args: []string{"--provider", "fake", "--json"}, wantProvider: "fake", wantJSON: true},
		{args: []string{"me"}, wantErr: "takes no arguments"},
	} {
		ios, _, _, _ := iostreams.Test()
		var got *Options
		cmd := NewCmdWhoami(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		_, err := cmd.ExecuteC()
		if tt.wantErr != "" {
			var fe *cmdutil.FlagError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error = %v", tt.args, err)
			}
			continue
		}
		if err != nil || got.Provider != tt.wantProvider || got.JSON != tt.wantJSON {
			t.Errorf("%q: %v %+v", tt.args, err, got)
		}
	}
}

func options(t *testing.T, prov *et.Provider, src *et.Source) (*Options, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	svc := et.Service(prov, src, filepath.Join(t.TempDir(), "audit.jsonl"))
	return &Options{IO: ios, Provider: "fake", Elevation: func() (*elevation.Service, error) { return svc, nil }}, out, errOut
}

var alice = providers.Principal{ID: "arn:fake:alice", Source: "fake:GetCallerIdentity", Aliases: []string{"alice@example.com"}, Account: "111111111111"}

func TestRun(t *testing.T) {
	o, out, errOut := options(t, &et.Provider{Principal: alice}, et.NewSource(et.Policy))
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := "arn:fake:alice\n  source   fake:GetCallerIdentity\n  account  111111111111\n  aliases  alice@example.com\n  groups   sre\n"
	if out.String() != want || errOut.Len() != 0 {
		t.Errorf("output:\n%s\nwant:\n%s\nstderr %q", out, want, errOut)
	}

	o, out, _ = options(t, &et.Provider{Principal: providers.Principal{ID: "bob", Source: "fake"}}, et.NewSource(et.Policy))
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if want := "bob\n  source   fake\n  groups   (none)\n"; out.String() != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestRunJSON(t *testing.T) {
	o, out, _ := options(t, &et.Provider{Principal: alice}, et.NewSource(et.Policy))
	o.JSON = true
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var got providers.Principal
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := alice
	want.Groups = []string{"sre"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON = %+v, want %+v", got, want)
	}
}

// TestRunWithoutPolicy: whoami still answers when the policy cannot be
// read, and says the groups are unknown.
func TestRunWithoutPolicy(t *testing.T) {
	o, out, errOut := options(t, &et.Provider{Principal: alice}, &et.Source{Err: errors.New("repository unreachable")})
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "arn:fake:alice\n") || !strings.Contains(out.String(), "groups   (none)") {
		t.Errorf("output:\n%s", out)
	}
	if errOut.String() != "jit: warning: groups unknown: repository unreachable\n" {
		t.Errorf("stderr %q", errOut)
	}
}

func TestRunErrors(t *testing.T) {
	authErr := &providers.Error{Kind: providers.KindAuth, Op: "get caller identity", Hint: "sign in"}
	o, out, _ := options(t, &et.Provider{WhoAmIErr: authErr}, et.NewSource(et.Policy))
	if err := run(context.Background(), o); !errors.Is(err, authErr) {
		t.Errorf("error = %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q", out)
	}
	o, _, _ = options(t, &et.Provider{Principal: alice}, et.NewSource(et.Policy))
	o.Provider = "gcp"
	if err := run(context.Background(), o); err == nil || !strings.Contains(err.Error(), `unknown provider "gcp"`) {
		t.Errorf("error = %v", err)
	}
}
