package targets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

func TestNewCmdTargets(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		wantJSON bool
		wantErr  string
	}{
		{args: nil},
		{args: []string{"--json"}, wantJSON: true},
		{args: []string{"prod"}, wantErr: `takes no arguments (got "prod")`},
	} {
		ios, _, _, _ := iostreams.Test()
		var got *Options
		cmd := NewCmdTargets(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
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
		if err != nil || got.JSON != tt.wantJSON {
			t.Errorf("%q: %v %+v", tt.args, err, got)
		}
	}
}

func options(t *testing.T, prov *et.Provider) (*Options, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	svc := et.Service(prov, et.NewSource(et.Policy), filepath.Join(t.TempDir(), "audit.jsonl"))
	return &Options{
		IO:        ios,
		Elevation: func() (*elevation.Service, error) { return svc, nil },
		Now:       func() time.Time { return time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) },
	}, out, errOut
}

var alice = providers.Principal{ID: "alice@example.com", Source: "fake"}

func TestRunTable(t *testing.T) {
	o, out, errOut := options(t, &et.Provider{Principal: alice})
	o.IO.SetStdoutTTY(true)
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	want := "TARGET   PROVIDER  ALLOWED  MAX  REQUIRES        DESCRIPTION\n" +
		"prod     fake      yes      2h   reason, ticket  Production\n" +
		"staging  fake      yes      1h                   Staging\n" +
		"vault    fake      no                            \n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr %q", errOut)
	}

	// Piped: no header.
	o, out, _ = options(t, &et.Provider{Principal: alice})
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "TARGET") || !strings.HasPrefix(out.String(), "prod ") {
		t.Errorf("piped output:\n%s", out)
	}
}

func TestRunJSON(t *testing.T) {
	prov := &et.Provider{Principal: alice, Limit: 90 * time.Minute, LimitReason: "role chaining: 1h30m at most"}
	o, out, _ := options(t, prov)
	o.JSON = true
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rows) != 3 {
		t.Fatalf("rows = %v", rows)
	}
	prod, staging, vault := rows[0], rows[1], rows[2]
	// The provider's cap wins where it is below the policy's, and says why.
	if prod["name"] != "prod" || prod["allowed"] != true || prod["max_duration"] != "1h30m" || prod["rule"] != "sre-prod" || prod["note"] != "role chaining: 1h30m at most" || prod["description"] != "Production" || prod["provider"] != "fake" {
		t.Errorf("prod = %v", prod)
	}
	if r, _ := prod["requires"].([]any); len(r) != 2 || r[0] != "reason" || r[1] != "ticket" {
		t.Errorf("prod requires = %v", prod["requires"])
	}
	if staging["max_duration"] != "1h" || staging["note"] != nil {
		t.Errorf("staging = %v", staging)
	}
	if vault["allowed"] != false || vault["max_duration"] != nil {
		t.Errorf("vault = %v", vault)
	}
}

func TestRunCallerUnknown(t *testing.T) {
	o, out, errOut := options(t, &et.Provider{WhoAmIErr: errors.New("no credentials")})
	o.JSON = true
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if v, ok := r["allowed"]; !ok || v != nil {
			t.Errorf("row %v: allowed should be null when the caller is unknown", r)
		}
	}
	if !strings.Contains(errOut.String(), "jit: warning: cannot tell who you are on fake, so whether you may elevate is unknown: no credentials") {
		t.Errorf("stderr %q", errOut)
	}
	o, out, _ = options(t, &et.Provider{WhoAmIErr: errors.New("no credentials")})
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "prod     fake  unknown      Production\n") {
		t.Errorf("table:\n%s", out)
	}
}

func TestRunErrors(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	boom := errors.New("no policy repository configured")
	o := &Options{IO: ios, Elevation: func() (*elevation.Service, error) { return nil, boom }, Now: time.Now}
	if err := run(context.Background(), o); !errors.Is(err, boom) {
		t.Errorf("error = %v", err)
	}
	src := &et.Source{Err: errors.New("unreachable")}
	svc := et.Service(&et.Provider{}, src, filepath.Join(t.TempDir(), "a.jsonl"))
	o.Elevation = func() (*elevation.Service, error) { return svc, nil }
	if err := run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("error = %v", err)
	}
}
