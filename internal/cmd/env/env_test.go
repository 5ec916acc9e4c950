package env

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/cmd/request"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/cmdutil/cmdtest"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

func TestNewCmdEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{name: "target", args: []string{"prod"}, want: Options{Target: "prod"}},
		{name: "no target", args: nil, want: Options{}},
		{name: "flags", args: []string{"staging", "--for", "30m", "-r", "debug INC-7", "--ticket", "INC-7", "--shell", "fish", "--nested", "--dry-run"},
			want: Options{Target: "staging", Flags: request.Flags{For: "30m", Reason: "debug INC-7", Ticket: "INC-7", DryRun: true}, Shell: "fish", Nested: true}},
		{name: "every format", args: []string{"prod", "--shell", "github"}, want: Options{Target: "prod", Shell: "github"}},
		{name: "unknown shell", args: []string{"prod", "--shell", "tcsh"}, wantErr: "--shell: "},
		{name: "two targets", args: []string{"prod", "staging"}, wantErr: "takes at most 1 argument (the target), got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var got *Options
			cmd := NewCmdEnv(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
			err := cmdtest.Execute(cmd, tt.args...)
			if tt.wantErr != "" {
				if !cmdtest.IsUsage(err, tt.wantErr) {
					t.Fatalf("error = %v, want a usage error containing %q", err, tt.wantErr)
				}
				if got != nil {
					t.Error("run function called")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Target != tt.want.Target || got.Flags != tt.want.Flags || got.Shell != tt.want.Shell || got.Nested != tt.want.Nested {
				t.Errorf("options = %q %+v %q %v, want %q %+v %q %v", got.Target, got.Flags, got.Shell, got.Nested, tt.want.Target, tt.want.Flags, tt.want.Shell, tt.want.Nested)
			}
		})
	}
}

type fixture struct {
	opts    *Options
	prov    *et.Provider
	journal string
	out     *bytes.Buffer
	errOut  *bytes.Buffer
	built   int
}

func newFixture(t *testing.T, env map[string]string) *fixture {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := &fixture{
		prov:    &et.Provider{Principal: providers.Principal{ID: "alice@example.com", Source: "fake"}},
		journal: filepath.Join(t.TempDir(), "audit.jsonl"),
		out:     out, errOut: errOut,
	}
	svc := et.Service(f.prov, et.NewSource(et.Policy), f.journal)
	if env == nil {
		env = map[string]string{}
	}
	f.opts = &Options{
		IO:        ios,
		Elevation: func() (*elevation.Service, error) { f.built++; return svc, nil },
		Getenv:    func(k string) string { return env[k] },
	}
	return f
}

func TestRunUsageErrorsBeforeLoading(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		mod     func(*Options)
		wantErr string
	}{
		{"no target without a terminal", nil, func(o *Options) {}, "target required: jit env <target>"},
		{"no target, even with --dry-run", nil, func(o *Options) { o.Flags.DryRun = true }, "target required"},
		{"nested", map[string]string{"JIT_REQUEST_ID": "01ABC"}, func(o *Options) { o.Target = "prod" }, "already in a jit session"},
		{"github without GITHUB_ENV", nil, func(o *Options) { o.Target = "prod"; o.Shell = "github" }, "$GITHUB_ENV, which is not set"},
		{"bad duration", nil, func(o *Options) { o.Target = "prod"; o.Flags.For = "-5m" }, "--for must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.env)
			tt.mod(f.opts)
			err := run(context.Background(), f.opts)
			if !cmdtest.IsUsage(err, tt.wantErr) {
				t.Fatalf("error = %v, want a usage error containing %q", err, tt.wantErr)
			}
			if f.built != 0 {
				t.Error("the elevation service was loaded before the usage error")
			}
		})
	}
}

func TestRunFormats(t *testing.T) {
	tests := []struct {
		name  string
		shell string // --shell
		env   string // $SHELL
		check func(t *testing.T, out string)
	}{
		{"json", "json", "/bin/bash", func(t *testing.T, out string) {
			var m map[string]string
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("not JSON: %v: %q", err, out)
			}
			if m["JIT_TARGET"] != "staging" || m["JIT_PROVIDER"] != "fake" || m["FAKE_SECRET"] != et.SecretValue || m["FAKE_KEY_ID"] != et.KeyID || m["JIT_REQUEST_ID"] == "" || m["JIT_EXPIRES_AT"] == "" {
				t.Errorf("variables = %v", m)
			}
		}},
		{"bash from $SHELL", "", "/usr/bin/bash", func(t *testing.T, out string) {
			for _, w := range []string{"export JIT_TARGET=", "export FAKE_SECRET=", "unset -v FAKE_PROFILE"} {
				if !strings.Contains(out, w) {
					t.Errorf("bash output lacks %q:\n%s", w, out)
				}
			}
		}},
		{"fish from $SHELL", "", "/usr/local/bin/fish", func(t *testing.T, out string) {
			if !strings.Contains(out, "set -gx JIT_TARGET") || !strings.Contains(out, "set -e -g FAKE_PROFILE") {
				t.Errorf("fish output:\n%s", out)
			}
		}},
		{"--shell wins over $SHELL", "dotenv", "/usr/bin/fish", func(t *testing.T, out string) {
			if !strings.Contains(out, "JIT_TARGET=") || strings.Contains(out, "set -gx") || strings.Contains(out, "export ") {
				t.Errorf("dotenv output:\n%s", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, map[string]string{"SHELL": tt.env})
			f.opts.Target, f.opts.Shell, f.opts.Flags.Reason = "staging", tt.shell, "r"
			if err := run(context.Background(), f.opts); err != nil {
				t.Fatal(err)
			}
			tt.check(t, f.out.String())
			if f.errOut.Len() != 0 {
				t.Errorf("stderr without a terminal = %q", f.errOut)
			}
			evs, err := audit.Tail(f.journal, 0)
			if err != nil || len(evs) != 2 || evs[1].Event != audit.EventGrant {
				t.Errorf("journal = %d events, %v; want request and grant (no session)", len(evs), err)
			}
		})
	}
}

func TestRunTerminalMessage(t *testing.T) {
	f := newFixture(t, map[string]string{"SHELL": "/bin/bash"})
	f.opts.IO.SetStderrTTY(true)
	f.opts.Target, f.opts.Flags.Reason = "staging", "r"
	if err := run(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.errOut.String(), "jit: staging access until ") {
		t.Errorf("stderr = %q", f.errOut)
	}
	if strings.Contains(f.errOut.String(), et.SecretValue) {
		t.Error("secret on stderr")
	}
}

func TestRunGitHub(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "github_env")
	if err := os.WriteFile(envFile, []byte("EARLIER=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, map[string]string{"GITHUB_ENV": envFile})
	f.opts.Target, f.opts.Shell, f.opts.Flags.Reason = "staging", "github", "ci"
	if err := run(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.out.String(), "::add-mask::"+et.SecretValue) {
		t.Errorf("stdout does not mask the secret: %q", f.out)
	}
	data, _ := os.ReadFile(envFile)
	if !strings.HasPrefix(string(data), "EARLIER=1\n") || !strings.Contains(string(data), et.SecretValue) || !strings.Contains(string(data), "JIT_TARGET") {
		t.Errorf("$GITHUB_ENV = %q, want the variables appended", data)
	}

	f = newFixture(t, map[string]string{"GITHUB_ENV": filepath.Join(t.TempDir(), "missing", "file")})
	f.opts.Target, f.opts.Shell, f.opts.Flags.Reason = "staging", "github", "ci"
	if err := run(context.Background(), f.opts); err == nil || !strings.Contains(err.Error(), "open $GITHUB_ENV") {
		t.Errorf("error = %v", err)
	}
	if len(f.prov.Grants()) != 0 {
		t.Error("granted although the credentials could not be delivered")
	}
}

func TestRunDryRunAndDenied(t *testing.T) {
	f := newFixture(t, nil)
	f.opts.Target, f.opts.Flags = "staging", request.Flags{Reason: "r", DryRun: true}
	if err := run(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	if f.out.Len() != 0 || !strings.HasPrefix(f.errOut.String(), "would grant staging to alice@example.com for 1h") {
		t.Errorf("dry run: stdout %q stderr %q", f.out, f.errOut)
	}
	if len(f.prov.Grants()) != 0 {
		t.Error("dry run granted")
	}

	f = newFixture(t, nil)
	f.opts.Target, f.opts.Flags.Reason = "vault", "r"
	var de *elevation.DeniedError
	if err := run(context.Background(), f.opts); !errors.As(err, &de) {
		t.Errorf("error = %v, want denied", err)
	}
	if f.out.Len() != 0 {
		t.Errorf("denied printed %q", f.out)
	}

	f = newFixture(t, nil)
	f.opts.Target = "prod"
	var fe *cmdutil.FlagError
	if err := run(context.Background(), f.opts); !errors.As(err, &fe) || !strings.Contains(err.Error(), "--reason and --ticket required to elevate to prod") {
		t.Errorf("error = %v, want a usage error naming both flags", err)
	}
}
