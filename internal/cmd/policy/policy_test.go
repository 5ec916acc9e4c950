package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/cmdutil/cmdtest"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policysource"
	"github.com/jitaccess/jit/providers"
)

var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// deps returns Deps over the fake provider's registry and src; out and
// errOut are the command's streams.
func deps(src policysource.Source) (*Deps, *bytes.Buffer, *bytes.Buffer, *et.Provider) {
	ios, _, out, errOut := iostreams.Test()
	prov := &et.Provider{Principal: providers.Principal{ID: "alice@example.com", Source: "fake"}}
	reg := et.Registry(prov)
	d := &Deps{
		IO:        ios,
		Source:    func() (policysource.Source, error) { return src, nil },
		Providers: func() *providers.Registry { return reg },
		Elevation: func() (*elevation.Service, error) {
			return &elevation.Service{Source: src, Providers: reg}, nil
		},
		Now: func() time.Time { return now },
	}
	return d, out, errOut, prov
}

func TestNewCmds(t *testing.T) {
	d, _, _, _ := deps(nil)
	t.Run("validate", func(t *testing.T) {
		var got *ValidateOptions
		runF := func(o *ValidateOptions) error { got = o; return nil }
		if err := cmdtest.Execute(NewCmdValidate(d, runF)); err != nil || got.File != "" {
			t.Errorf("no args: %v %+v", err, got)
		}
		if err := cmdtest.Execute(NewCmdValidate(d, runF), "./jit.yaml"); err != nil || got.File != "./jit.yaml" {
			t.Errorf("file: %v %+v", err, got)
		}
		if err := cmdtest.Execute(NewCmdValidate(d, runF), "a", "b"); !cmdtest.IsUsage(err, "at most 1 argument (a policy file)") {
			t.Errorf("two files: %v", err)
		}
	})
	t.Run("test", func(t *testing.T) {
		var got *TestOptions
		runF := func(o *TestOptions) error { got = o; return nil }
		if err := cmdtest.Execute(NewCmdTest(d, runF), "cases.yaml", "--policy", "jit.yaml"); err != nil || got.Cases != "cases.yaml" || got.Policy != "jit.yaml" {
			t.Errorf("%v %+v", err, got)
		}
		if err := cmdtest.Execute(NewCmdTest(d, runF), "a", "b"); !cmdtest.IsUsage(err, "at most 1 argument") {
			t.Errorf("two files: %v", err)
		}
	})
	t.Run("explain", func(t *testing.T) {
		var got *ExplainOptions
		runF := func(o *ExplainOptions) error { got = o; return nil }
		err := cmdtest.Execute(NewCmdExplain(d, runF), "prod", "--as", "bob", "--for", "2h", "-r", "why", "-t", "CHG-1", "--at", "2026-12-03T09:00:00Z", "--policy", "p.yaml", "--json")
		want := ExplainOptions{Target: "prod", As: "bob", For: "2h", Reason: "why", Ticket: "CHG-1", At: "2026-12-03T09:00:00Z", Policy: "p.yaml", JSON: true}
		if err != nil {
			t.Fatal(err)
		}
		got.Deps = nil
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("options = %+v, want %+v", *got, want)
		}
		if err := cmdtest.Execute(NewCmdExplain(d, runF)); !cmdtest.IsUsage(err, "target required: jit policy explain <target> --as <principal>") {
			t.Errorf("no target: %v", err)
		}
	})
	t.Run("tree", func(t *testing.T) {
		ios, _, _, _ := iostreams.Test()
		cmd := NewCmdPolicy(&cmdutil.Factory{IOStreams: ios})
		var names []string
		for _, c := range cmd.Commands() {
			names = append(names, c.Name())
		}
		if !reflect.DeepEqual(names, []string{"explain", "test", "validate"}) {
			t.Errorf("subcommands = %v", names)
		}
	})
}

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "jit.yaml", et.Policy)
	bad := write(t, dir, "bad.yaml", "version: 1\ntargets:\n  prod:\n    provider: nocloud\nrules:\n  - name: r\n    subjects: [x]\n    targets: [missing]\n")
	src := et.NewSource(et.Policy)
	tests := []struct {
		name       string
		file       string
		src        policysource.Source
		wantStderr string
		wantErr    []string
	}{
		{name: "file", file: good, wantStderr: good + " is valid: 3 targets, 2 rules\n"},
		{name: "configured commit", src: src, wantStderr: "jit.yaml at commit 0123456789ab (git@example.com:acme/access.git, ref main) is valid: 3 targets, 2 rules\n"},
		{name: "invalid file", file: bad, wantErr: []string{bad + ":4:", `unknown provider "nocloud"`, bad + ":8:", `"missing"`}},
		{name: "missing file", file: filepath.Join(dir, "nope.yaml"), wantErr: []string{"nope.yaml does not exist"}},
		{name: "source error", src: &et.Source{Err: errors.New("policy repository unreachable")}, wantErr: []string{"policy repository unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, out, errOut, _ := deps(tt.src)
			args := []string{}
			if tt.file != "" {
				args = append(args, tt.file)
			}
			err := cmdtest.Execute(NewCmdValidate(d, nil), args...)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if errOut.String() != tt.wantStderr || out.Len() != 0 {
				t.Errorf("stderr %q stdout %q, want stderr %q", errOut, out, tt.wantStderr)
			}
		})
	}
}

func TestTest(t *testing.T) {
	dir := t.TempDir()
	pol := write(t, dir, "jit.yaml", et.Policy)
	cases := write(t, dir, "cases.yaml", et.Tests)
	// A policy in another directory with its cases beside it.
	other := filepath.Join(t.TempDir(), "policies")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	otherPol := write(t, other, "access.yaml", et.Policy)
	write(t, other, "access_test.yaml", et.Tests)
	failing := write(t, dir, "failing.yaml", `- name: bob may use prod
  principal: bob@example.com
  target: prod
  reason: x
  ticket: CHG-1
  expect: allow
- name: fine
  principal: alice@example.com
  target: staging
  expect: allow
`)
	commitSrc := et.NewSource(et.Policy)
	commitSrc.Files = map[string]string{"jit_test.yaml": et.Tests}
	tests := []struct {
		name    string
		opts    TestOptions
		src     policysource.Source
		wantOut string
		silent  bool
		wantErr string
	}{
		{name: "cases and policy files", opts: TestOptions{Cases: cases, Policy: pol}, wantOut: "ok   2 cases passed (" + pol + ")\n"},
		{name: "cases beside a policy file elsewhere", opts: TestOptions{Policy: otherPol}, wantOut: "ok   2 cases passed (" + otherPol + ")\n"},
		{name: "cases at the configured commit", src: commitSrc, wantOut: "ok   2 cases passed (jit.yaml at commit 0123456789ab (git@example.com:acme/access.git, ref main))\n"},
		{name: "cases file against the configured commit", opts: TestOptions{Cases: cases}, src: commitSrc, wantOut: "ok   2 cases passed (jit.yaml at commit"},
		{name: "failing case", opts: TestOptions{Cases: failing, Policy: pol}, silent: true,
			wantOut: "FAIL bob may use prod (" + failing + ":1): "},
		{name: "no cases at the commit", src: et.NewSource(et.Policy), wantErr: "jit_test.yaml does not exist at commit"},
		{name: "no cases beside the file", opts: TestOptions{Policy: write(t, t.TempDir(), "jit.yaml", et.Policy)}, wantErr: "no cases file given and "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, out, _, _ := deps(tt.src)
			o := tt.opts
			o.Deps = d
			err := runTest(context.Background(), &o)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			case tt.silent:
				if !errors.Is(err, cmdutil.ErrSilent) {
					t.Fatalf("error = %v, want ErrSilent", err)
				}
				if !strings.Contains(out.String(), "FAIL 1 of 2 cases failed ("+pol+")\n") {
					t.Errorf("output lacks the summary:\n%s", out)
				}
			case err != nil:
				t.Fatal(err)
			}
			if !strings.HasPrefix(out.String(), tt.wantOut) {
				t.Errorf("output:\n%s\nwant prefix:\n%s", out, tt.wantOut)
			}
		})
	}
}

func TestTestsFileFor(t *testing.T) {
	for in, want := range map[string]string{"jit.yaml": "jit_test.yaml", "policies/access.yml": "policies/access_test.yml", "noext": "noext_test"} {
		if got := testsFileFor(in); got != want {
			t.Errorf("testsFileFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	pol := write(t, dir, "jit.yaml", et.Policy)
	t.Run("as a principal", func(t *testing.T) {
		d, out, _, prov := deps(nil)
		err := runExplain(context.Background(), &ExplainOptions{Deps: d, Target: "prod", As: "alice@example.com", For: "1h", Reason: "x", Ticket: "CHG-1", Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"principal: alice@example.com\n", "groups:    sre\n", "target:    prod (provider fake, max 4h, default 30m)\n", "duration:  1h\n", `rule "sre-prod" (line `, "<- decides", `decision: allow by rule "sre-prod" for 1h (max 2h)`} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
		if len(prov.Grants()) != 0 {
			t.Error("explain granted")
		}
	})
	t.Run("json, denied", func(t *testing.T) {
		d, out, _, _ := deps(nil)
		if err := runExplain(context.Background(), &ExplainOptions{Deps: d, Target: "prod", As: "bob@example.com", Policy: pol, JSON: true}); err != nil {
			t.Fatal(err)
		}
		var x struct {
			Principal string `json:"principal"`
			Decision  struct {
				Allowed bool     `json:"allowed"`
				Reasons []string `json:"reasons"`
			} `json:"decision"`
		}
		if err := json.Unmarshal(out.Bytes(), &x); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if x.Principal != "bob@example.com" || x.Decision.Allowed || len(x.Decision.Reasons) == 0 {
			t.Errorf("explanation = %+v", x)
		}
	})
	t.Run("caller from the provider, configured policy", func(t *testing.T) {
		d, out, _, _ := deps(et.NewSource(et.Policy))
		if err := runExplain(context.Background(), &ExplainOptions{Deps: d, Target: "staging"}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "principal: alice@example.com\n") || !strings.Contains(out.String(), `decision: allow by rule "anyone-staging"`) {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("caller unknown", func(t *testing.T) {
		d, _, _, prov := deps(et.NewSource(et.Policy))
		prov.WhoAmIErr = &providers.Error{Kind: providers.KindAuth, Op: "who am i"}
		err := runExplain(context.Background(), &ExplainOptions{Deps: d, Target: "staging"})
		var he *cmdutil.HintError
		if !errors.As(err, &he) || he.Hint != "or name the principal: --as <id>" || providers.KindOf(err) != providers.KindAuth {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("at a time", func(t *testing.T) {
		d, out, _, _ := deps(nil)
		if err := runExplain(context.Background(), &ExplainOptions{Deps: d, Target: "staging", As: "x", At: "2026-01-01T00:00:00Z", Policy: pol}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "decision: allow") {
			t.Errorf("output:\n%s", out)
		}
	})
	for _, tt := range []struct {
		o    ExplainOptions
		want string
	}{
		{ExplainOptions{Target: "prod", As: "a", For: "forever"}, "--for: "},
		{ExplainOptions{Target: "prod", As: "a", At: "tomorrow"}, `--at: "tomorrow" is not an RFC 3339 time`},
	} {
		d, _, _, _ := deps(nil)
		o := tt.o
		o.Deps, o.Policy = d, pol
		if err := runExplain(context.Background(), &o); !cmdtest.IsUsage(err, tt.want) {
			t.Errorf("%+v: error = %v, want usage error %q", tt.o, err, tt.want)
		}
	}
}
