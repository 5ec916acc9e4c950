package elevate

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

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/cmd/request"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/cmdutil/cmdtest"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

func TestNewCmdElevate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options // only Target, Flags, Nested, Command are compared
		wantErr string  // substring of a usage error
	}{
		{name: "target", args: []string{"prod"}, want: Options{Target: "prod", Command: []string{}}},
		{name: "no target", args: nil, want: Options{Command: []string{}}},
		{name: "all flags", args: []string{"prod", "--for", "1h30m", "-r", "CHG-42 rotate", "-t", "CHG-42", "--dry-run", "--nested"},
			want: Options{Target: "prod", Flags: request.Flags{For: "1h30m", Reason: "CHG-42 rotate", Ticket: "CHG-42", DryRun: true}, Nested: true, Command: []string{}}},
		{name: "long flags", args: []string{"--reason", "r", "--ticket", "T-1", "prod"}, want: Options{Target: "prod", Flags: request.Flags{Reason: "r", Ticket: "T-1"}, Command: []string{}}},
		{name: "command after --", args: []string{"prod", "--for", "15m", "--", "aws", "s3", "ls", "--recursive"},
			want: Options{Target: "prod", Flags: request.Flags{For: "15m"}, Command: []string{"aws", "s3", "ls", "--recursive"}}},
		{name: "command without target", args: []string{"--", "env"}, want: Options{Command: []string{"env"}}},
		{name: "two targets without --", args: []string{"prod", "staging"}, wantErr: "put the command after --: jit elevate prod -- staging"},
		{name: "two targets before --", args: []string{"prod", "staging", "--", "ls"}, wantErr: `one target only, got ["prod" "staging"]`},
		{name: "-- without a command", args: []string{"prod", "--"}, wantErr: "no command after --"},
		{name: "unknown flag", args: []string{"prod", "--frobnicate"}, wantErr: "unknown flag: --frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var got *Options
			cmd := NewCmdElevate(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
			err := cmdtest.Execute(cmd, tt.args...)
			if tt.wantErr != "" {
				if !cmdtest.IsUsage(err, tt.wantErr) {
					t.Fatalf("error = %v (%T), want a usage error containing %q", err, err, tt.wantErr)
				}
				if got != nil {
					t.Error("run function called despite the usage error")
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if got.Target != tt.want.Target || got.Flags != tt.want.Flags || got.Nested != tt.want.Nested || !reflect.DeepEqual(got.Command, tt.want.Command) {
				t.Errorf("options = target %q flags %+v nested %v command %q; want %q %+v %v %q",
					got.Target, got.Flags, got.Nested, got.Command, tt.want.Target, tt.want.Flags, tt.want.Nested, tt.want.Command)
			}
		})
	}
	ios, _, _, _ := iostreams.Test()
	if cmd := NewCmdElevate(&cmdutil.Factory{IOStreams: ios}, nil); !cmd.HasAlias("exec") {
		t.Error("elevate has no exec alias")
	}
}

// fixture is a run-ready Options over the fake provider.
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
		Environ: func() []string {
			var out []string
			for k, v := range env {
				out = append(out, k+"="+v)
			}
			return out
		},
	}
	return f
}

func (f *fixture) events(t *testing.T) []audit.Event {
	t.Helper()
	evs, err := audit.Tail(f.journal, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestRunUsageErrorsBeforeLoading(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		mod     func(*Options)
		wantErr string
	}{
		{"no target without a terminal", nil, func(o *Options) {}, "target required: jit elevate <target>"},
		{"nested", map[string]string{"JIT_REQUEST_ID": "01ABC", "JIT_TARGET": "staging"}, func(o *Options) { o.Target = "prod" }, "already in a jit session for staging (request 01ABC)"},
		{"bad duration", nil, func(o *Options) { o.Target = "prod"; o.Flags.For = "soon" }, "--for: invalid duration"},
		{"zero duration", nil, func(o *Options) { o.Target = "prod"; o.Flags.For = "0s" }, "--for must be positive"},
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
				t.Error("the elevation service (config, policy) was loaded before the usage error")
			}
		})
	}
}

func TestRunCommand(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	f := newFixture(t, map[string]string{"PATH": "/usr/bin:/bin", "FAKE_PROFILE": "shadowing", "KEEP": "kept"})
	f.opts.Target = "staging"
	f.opts.Flags.Reason = "test"
	f.opts.Command = []string{"/bin/sh", "-c", `echo "target=$JIT_TARGET provider=$JIT_PROVIDER id=$JIT_REQUEST_ID exp=$JIT_EXPIRES_AT"; echo "secret=$FAKE_SECRET keep=$KEEP profile=${FAKE_PROFILE-unset}"; exit 3`}
	err := run(context.Background(), f.opts)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Err != nil {
		t.Fatalf("error = %v, want the command's exit status 3", err)
	}
	evs := f.events(t)
	if len(evs) != 4 || evs[3].Event != audit.EventSessionEnd {
		t.Fatalf("events %d, want request, grant, session_start, session_end", len(evs))
	}
	id := evs[0].RequestID
	lines := strings.Split(strings.TrimSpace(f.out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "target=staging provider=fake id="+id+" exp=") {
		t.Fatalf("child printed %q", f.out.String())
	}
	exp, err := time.Parse(time.RFC3339, strings.TrimPrefix(lines[0], "target=staging provider=fake id="+id+" exp="))
	if err != nil || !strings.HasSuffix(lines[0], "Z") || exp.Sub(time.Now()) > time.Hour || exp.Sub(time.Now()) < 58*time.Minute {
		t.Errorf("JIT_EXPIRES_AT in %q: %v", lines[0], err)
	}
	if lines[1] != "secret="+et.SecretValue+" keep=kept profile=unset" {
		t.Errorf("child environment line %q", lines[1])
	}
	end := evs[3]
	if end.Session == nil || end.Session.ExitCode == nil || *end.Session.ExitCode != 3 || !reflect.DeepEqual(end.Session.Command, f.opts.Command) {
		t.Errorf("session_end = %+v", end.Session)
	}
	if !reflect.DeepEqual(evs[2].Session.Command, f.opts.Command) {
		t.Errorf("session_start command = %q", evs[2].Session.Command)
	}
	// Not a terminal: jit says nothing on stderr.
	if f.errOut.Len() != 0 {
		t.Errorf("stderr = %q", f.errOut)
	}
}

func TestRunSubshellAndMessages(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	f := newFixture(t, map[string]string{"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"})
	f.opts.IO.SetStderrTTY(true)
	f.opts.IO.In = strings.NewReader("echo in-subshell $JIT_TARGET\nexit 0\n")
	f.opts.Target = "staging"
	f.opts.Flags.Reason = "test"
	if err := run(context.Background(), f.opts); err != nil {
		t.Fatalf("run: %v", err)
	}
	if f.out.String() != "in-subshell staging\n" {
		t.Errorf("stdout = %q", f.out)
	}
	msg := f.errOut.String()
	if !strings.Contains(msg, "jit: alice@example.com elevated to staging until ") || !strings.Contains(msg, "starting a subshell") || !strings.Contains(msg, "jit: left the staging session after ") {
		t.Errorf("stderr = %q", msg)
	}
	evs := f.events(t)
	if got := evs[2].Session.Command; !reflect.DeepEqual(got, []string{"/bin/sh"}) {
		t.Errorf("session command = %q, want $SHELL", got)
	}
}

func TestRunCommandNotFound(t *testing.T) {
	f := newFixture(t, map[string]string{"PATH": t.TempDir()})
	f.opts.Target = "staging"
	f.opts.Flags.Reason = "test"
	f.opts.Command = []string{"terrafrom", "plan"}
	err := run(context.Background(), f.opts)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != 127 || ee.Err == nil || !strings.Contains(err.Error(), "terrafrom") {
		t.Fatalf("error = %v, want exit 127 naming the command", err)
	}
	evs := f.events(t)
	if end := evs[len(evs)-1]; end.Event != audit.EventSessionEnd || *end.Session.ExitCode != 127 {
		t.Errorf("last event = %+v", end)
	}
}

func TestRunDecisions(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Options)
		check   func(t *testing.T, err error)
		events  int
		grants  int
		wantErr string
	}{
		{
			name: "dry run",
			mod: func(o *Options) {
				o.Target = "prod"
				o.Flags = request.Flags{For: "1h", Reason: "r", Ticket: "CHG-1", DryRun: true}
			},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "missing reason without a terminal names the flag",
			mod:  func(o *Options) { o.Target = "prod"; o.Flags.Ticket = "CHG-1" },
			check: func(t *testing.T, err error) {
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) || err.Error() != `--reason required to elevate to prod (rule "sre-prod"); not prompting because this is not a terminal` {
					t.Fatalf("error = %v", err)
				}
			},
		},
		{
			name: "denied",
			mod:  func(o *Options) { o.Target = "vault"; o.Flags.Reason = "r" },
			check: func(t *testing.T, err error) {
				var de *elevation.DeniedError
				if !errors.As(err, &de) {
					t.Fatalf("error = %v", err)
				}
			},
			events: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, map[string]string{"PATH": "/usr/bin:/bin"})
			tt.mod(f.opts)
			f.opts.Command = []string{"/bin/false"}
			tt.check(t, run(context.Background(), f.opts))
			if n := len(f.events(t)); n != tt.events {
				t.Errorf("%d events journaled, want %d", n, tt.events)
			}
			if n := len(f.prov.Grants()); n != tt.grants {
				t.Errorf("%d grants, want %d", n, tt.grants)
			}
			if f.out.Len() != 0 {
				t.Errorf("stdout = %q", f.out)
			}
		})
	}
	f := newFixture(t, nil)
	f.opts.Target, f.opts.Flags = "prod", request.Flags{For: "1h", Reason: "r", Ticket: "CHG-1", DryRun: true}
	if err := run(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	want := `would grant prod to alice@example.com for 1h (rule "sre-prod", maximum 2h, policy commit 0123456789ab)` + "\nrevocation: fake grants end at expiry\n"
	if f.errOut.String() != want {
		t.Errorf("dry run said %q, want %q", f.errOut, want)
	}
	// JSON of the decision is not printed: stdout stays empty for scripts.
	var v any
	if json.Unmarshal(f.out.Bytes(), &v) == nil {
		t.Errorf("dry run printed data on stdout: %q", f.out)
	}
}
