package request

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/internal/prompt"
	"github.com/jitaccess/jit/providers"
)

// fakePrompter answers from fixed values and records the questions.
type fakePrompter struct {
	selectIdx int
	selectErr error
	input     string
	asked     []string
	options   []string
}

func (p *fakePrompter) Select(title string, options []string, def int) (int, error) {
	p.asked = append(p.asked, title)
	p.options = options
	return p.selectIdx, p.selectErr
}

func (p *fakePrompter) Input(title, description string, validate func(string) error) (string, error) {
	p.asked = append(p.asked, title+" | "+description)
	if validate != nil {
		if err := validate(p.input); err != nil {
			return "", err
		}
	}
	return p.input, nil
}

func terminal() *iostreams.IOStreams {
	ios, _, _, _ := iostreams.Test()
	ios.SetStdinTTY(true)
	ios.SetStderrTTY(true)
	return ios
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		reason  string
		ticket  string
		want    time.Duration
		wantErr string
	}{
		{"", "", "", 0, ""},
		{"15m", "", "", 15 * time.Minute, ""},
		{"1h30m", "", "", 90 * time.Minute, ""},
		{"1d", "", "", 24 * time.Hour, ""},
		{"0s", "", "", 0, "--for must be positive, got 0s"},
		{"-1h", "", "", 0, "--for must be positive, got -1h"},
		{"an hour", "", "", 0, "--for: invalid duration"},
		{"1h", strings.Repeat("x", 1001), "", 0, "--reason is 1001 bytes; keep it under 1000"},
		{"1h", "two\nlines", "", 0, "--reason must be one line"},
		{"1h", "ok", strings.Repeat("T", 129), 0, "--ticket is 129 bytes"},
		{"1h", strings.Repeat("x", 1000), "CHG-1", time.Hour, ""},
	}
	for _, tt := range tests {
		d, err := (&Flags{For: tt.in, Reason: tt.reason, Ticket: tt.ticket}).Parse()
		if tt.wantErr != "" {
			var fe *cmdutil.FlagError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want usage error %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, d, err, tt.want)
		}
	}
}

func TestAdd(t *testing.T) {
	var fl Flags
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	fl.Add(cmd)
	cmd.SetArgs([]string{"--for", "2h", "-r", "why", "-t", "CHG-1", "--dry-run"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := (Flags{For: "2h", Reason: "why", Ticket: "CHG-1", DryRun: true}); fl != want {
		t.Errorf("flags = %+v, want %+v", fl, want)
	}
}

func TestRequest(t *testing.T) {
	fl := Flags{Reason: "r", Ticket: "T", DryRun: true}
	ios, _, _, _ := iostreams.Test()
	p := &fakePrompter{input: "typed"}
	get := func() prompt.Prompter { return p }

	r := fl.Request("prod", time.Hour, ios, get)
	if r.Target != "prod" || r.Duration != time.Hour || r.Reason != "r" || r.Ticket != "T" || !r.DryRun || r.Ask != nil {
		t.Errorf("request without a terminal = %+v (Ask set: %v)", r, r.Ask != nil)
	}
	if r := fl.Request("prod", 0, terminal(), nil); r.Ask != nil {
		t.Error("Ask set without a prompter")
	}
	never := terminal()
	never.SetNeverPrompt(true)
	if r := fl.Request("prod", 0, never, get); r.Ask != nil {
		t.Error("Ask set although prompting is disabled")
	}

	r = fl.Request("prod", 0, terminal(), get)
	if r.Ask == nil {
		t.Fatal("no Ask on a terminal")
	}
	v, err := r.Ask(context.Background(), "reason", "why you need it", nil)
	if err != nil || v != "typed" || p.asked[0] != "Reason for elevating to prod | why you need it" {
		t.Errorf("Ask(reason) = %q, %v; asked %q", v, err, p.asked)
	}
	if _, err := r.Ask(context.Background(), "ticket", "must match x", func(string) error { return errors.New("bad ticket") }); err == nil {
		t.Error("validator not passed to the prompter")
	}
	// The pattern is in the title: accessible prompts show no description.
	if p.asked[1] != "Ticket for prod (must match x) | " {
		t.Errorf("asked %q", p.asked)
	}
	if _, err := r.Ask(context.Background(), "approver", "who", nil); err != nil || p.asked[2] != "approver | who" {
		t.Errorf("unknown field asked as %q", p.asked)
	}
}

func TestMissingInput(t *testing.T) {
	tests := []struct {
		fields []string
		want   string
	}{
		{[]string{"reason"}, `--reason required to elevate to prod (rule "sre-prod"); not prompting because this is not a terminal`},
		{[]string{"reason", "ticket"}, `--reason and --ticket required to elevate to prod (rule "sre-prod"); not prompting because this is not a terminal`},
	}
	for _, tt := range tests {
		err := MissingInput(&elevation.MissingInputError{Target: "prod", Fields: tt.fields, Rule: "sre-prod"})
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || err.Error() != tt.want {
			t.Errorf("MissingInput(%v) = %v, want usage error %q", tt.fields, err, tt.want)
		}
	}
}

func TestCheckNesting(t *testing.T) {
	env := map[string]string{"JIT_REQUEST_ID": "01REQ", "JIT_TARGET": "prod"}
	getenv := func(k string) string { return env[k] }
	err := CheckNesting(getenv, false)
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || err.Error() != "already in a jit session for prod (request 01REQ): exit it first, or pass --nested" {
		t.Errorf("nested = %v", err)
	}
	if err := CheckNesting(getenv, true); err != nil {
		t.Errorf("--nested = %v", err)
	}
	if err := CheckNesting(func(string) string { return "" }, false); err != nil {
		t.Errorf("not nested = %v", err)
	}
}

func TestCheckTarget(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	err := CheckTarget("", ios, "env")
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || err.Error() != "target required: jit env <target> (see jit targets)" {
		t.Errorf("CheckTarget = %v", err)
	}
	if err := CheckTarget("prod", ios, "env"); err != nil {
		t.Errorf("with a target: %v", err)
	}
	if err := CheckTarget("", terminal(), "env"); err != nil {
		t.Errorf("on a terminal (will ask): %v", err)
	}
}

func service(t *testing.T, src *et.Source) *elevation.Service {
	t.Helper()
	return et.Service(&et.Provider{Principal: providers.Principal{ID: "alice@example.com"}}, src, filepath.Join(t.TempDir(), "a.jsonl"))
}

func TestPickTarget(t *testing.T) {
	svc := service(t, et.NewSource(et.Policy))
	p := &fakePrompter{selectIdx: 1}
	got, err := PickTarget(context.Background(), svc, terminal(), func() prompt.Prompter { return p }, "elevate")
	if err != nil || got != "staging" {
		t.Errorf("PickTarget = %q, %v; want staging", got, err)
	}
	if want := []string{"prod — Production", "staging — Staging", "vault"}; !reflect.DeepEqual(p.options, want) {
		t.Errorf("options = %q, want %q", p.options, want)
	}
	p.selectErr = prompt.ErrCancelled
	if _, err := PickTarget(context.Background(), svc, terminal(), func() prompt.Prompter { return p }, "elevate"); !errors.Is(err, cmdutil.ErrCancel) {
		t.Errorf("cancelled pick = %v", err)
	}
	ios, _, _, _ := iostreams.Test()
	var fe *cmdutil.FlagError
	if _, err := PickTarget(context.Background(), svc, ios, func() prompt.Prompter { return p }, "env"); !errors.As(err, &fe) {
		t.Errorf("no terminal = %v", err)
	}
	empty := service(t, et.NewSource("version: 1\n"))
	if _, err := PickTarget(context.Background(), empty, terminal(), func() prompt.Prompter { return p }, "env"); err == nil || !strings.Contains(err.Error(), "no targets") {
		t.Errorf("no targets = %v", err)
	}
}

func TestSessionVars(t *testing.T) {
	exp := time.Date(2026, 12, 3, 18, 40, 1, 0, time.FixedZone("CET", 3600))
	res := &elevation.Result{Grant: &providers.Grant{
		RequestID: "01REQ", Target: "prod", Provider: "aws", NotAfter: exp,
		Env: []providers.EnvVar{{Name: "AWS_REGION", Value: "eu-west-1"}, {Name: "AWS_SECRET_ACCESS_KEY", Value: "s", Secret: true}},
	}}
	want := []providers.EnvVar{
		{Name: "JIT_TARGET", Value: "prod"},
		{Name: "JIT_PROVIDER", Value: "aws"},
		{Name: "JIT_REQUEST_ID", Value: "01REQ"},
		{Name: "JIT_EXPIRES_AT", Value: "2026-12-03T17:40:01Z"},
		{Name: "AWS_REGION", Value: "eu-west-1"},
		{Name: "AWS_SECRET_ACCESS_KEY", Value: "s", Secret: true},
	}
	if got := SessionVars(res); !reflect.DeepEqual(got, want) {
		t.Errorf("SessionVars = %+v\nwant %+v", got, want)
	}
}

func TestDescribeDryRun(t *testing.T) {
	res := &elevation.Result{
		Principal: providers.Principal{ID: "alice"},
		Target:    &policy.Target{Name: "prod"},
		Decision:  policy.Decision{Allowed: true, Rule: "sre", Duration: 90 * time.Minute, MaxDuration: 48 * time.Hour},
		Policy:    audit.PolicyRef{Commit: "0123456789abcdef"},
	}
	if got, want := DescribeDryRun(res), `would grant prod to alice for 1h30m (rule "sre", maximum 2d, policy commit 0123456789ab)`; got != want {
		t.Errorf("DescribeDryRun = %q, want %q", got, want)
	}
	res.RevokeNote = "sessions end at expiry"
	if got := DescribeDryRun(res); !strings.HasSuffix(got, "\nrevocation: sessions end at expiry") {
		t.Errorf("DescribeDryRun = %q", got)
	}
}

func TestCompleteTargets(t *testing.T) {
	svc := service(t, et.NewSource(et.Policy))
	f := &cmdutil.Factory{Elevation: func() (*elevation.Service, error) { return svc, nil }}
	cmd := &cobra.Command{}
	cmd.SetContext(context.Background())
	got, dir := CompleteTargets(f)(cmd, nil, "")
	if want := []string{"prod\tProduction", "staging\tStaging", "vault\t"}; !reflect.DeepEqual(got, want) || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("completions = %q, %v", got, dir)
	}
	if got, _ := CompleteTargets(f)(cmd, []string{"prod"}, ""); got != nil {
		t.Errorf("second argument completed: %q", got)
	}
	broken := &cmdutil.Factory{Elevation: func() (*elevation.Service, error) { return nil, errors.New("no config") }}
	if got, _ := CompleteTargets(broken)(cmd, nil, ""); got != nil {
		t.Errorf("completions without a policy: %q", got)
	}
}
