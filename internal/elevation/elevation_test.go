package elevation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

var now = time.Date(2026, 12, 3, 17, 40, 1, 0, time.UTC)

var alice = providers.Principal{ID: "alice@example.com", Source: "fake:whoami", Aliases: []string{"arn:fake:alice"}}

type fixture struct {
	svc     *elevation.Service
	prov    *et.Provider
	src     *et.Source
	journal string
	warns   []string
}

func newFixture(t *testing.T, pr providers.Principal) *fixture {
	t.Helper()
	f := &fixture{
		prov:    &et.Provider{Principal: pr, Now: func() time.Time { return now }},
		src:     et.NewSource(et.Policy),
		journal: filepath.Join(t.TempDir(), "state", "audit.jsonl"),
	}
	f.svc = &elevation.Service{
		Source:    f.src,
		Providers: et.Registry(f.prov),
		Journal:   audit.OpenJournal(f.journal),
		Now:       func() time.Time { return now },
		Host:      "testhost",
		Version:   "v9.9.9-test",
		Warn:      func(s string) { f.warns = append(f.warns, s) },
	}
	return f
}

// events reads the journal; nil when it does not exist.
func (f *fixture) events(t *testing.T) ([]audit.Event, []byte) {
	t.Helper()
	data, err := os.ReadFile(f.journal)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var evs []audit.Event
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var e audit.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	rep, err := audit.VerifyFile(f.journal)
	if err != nil || !rep.OK() {
		t.Errorf("journal does not verify: %v %+v", err, rep)
	}
	return evs, data
}

func kinds(evs []audit.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Event
	}
	return out
}

var wantPolicyRef = audit.PolicyRef{Repo: "git@example.com:acme/access.git", Ref: "main", Commit: et.Commit, File: "jit.yaml"}

func TestElevateAllowed(t *testing.T) {
	f := newFixture(t, alice)
	res, err := f.svc.Elevate(context.Background(), elevation.Request{
		Target: "prod", Duration: time.Hour, Reason: "deploy", Ticket: "CHG-42",
		Session: []string{"/bin/bash", "-l"},
	})
	if err != nil {
		t.Fatalf("Elevate: %v", err)
	}
	if res.Grant == nil || res.Grant.Target != "prod" || !slices.Contains(res.Grant.Secrets(), et.SecretValue) {
		t.Fatalf("result grant = %+v, want prod with the provider's credentials", res.Grant)
	}
	if !res.Decision.Allowed || res.Decision.Rule != "sre-prod" || res.Decision.Duration != time.Hour {
		t.Errorf("decision = %+v", res.Decision)
	}
	if res.Policy != wantPolicyRef || res.RevokeNote != "fake grants end at expiry" {
		t.Errorf("policy %+v revoke note %q", res.Policy, res.RevokeNote)
	}
	if len(res.RequestID) != 26 {
		t.Errorf("request id %q", res.RequestID)
	}

	grants := f.prov.Grants()
	if len(grants) != 1 {
		t.Fatalf("Grant called %d times, want 1", len(grants))
	}
	g := grants[0]
	if g.ID != res.RequestID || g.Target.Name != "prod" || g.Duration != time.Hour || g.Reason != "deploy" || g.Ticket != "CHG-42" || g.Principal.ID != alice.ID {
		t.Errorf("provider request = %+v", g)
	}
	if spec, ok := g.Target.Spec.(*et.TargetSpec); !ok || spec.Role != "admin" {
		t.Errorf("provider target spec = %#v", g.Target.Spec)
	}
	if !reflect.DeepEqual(g.Principal.Groups, []string{"sre"}) {
		t.Errorf("principal groups = %v, want [sre] from the policy", g.Principal.Groups)
	}

	evs, raw := f.events(t)
	if got, want := kinds(evs), []string{"request", "grant", "session_start"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for _, e := range evs {
		if e.RequestID != res.RequestID || e.Target != "prod" || e.Provider != "fake" || e.DurationS != 3600 ||
			e.Reason != "deploy" || e.Ticket != "CHG-42" || e.Host != "testhost" || e.JitVersion != "v9.9.9-test" || e.Schema != audit.Schema {
			t.Errorf("%s event fields = %+v", e.Event, e)
		}
		if e.Principal == nil || e.Principal.ID != alice.ID || e.Principal.Source != "fake:whoami" || !reflect.DeepEqual(e.Principal.Groups, []string{"sre"}) {
			t.Errorf("%s principal = %+v", e.Event, e.Principal)
		}
		if e.Policy == nil || *e.Policy != wantPolicyRef {
			t.Errorf("%s policy = %+v", e.Event, e.Policy)
		}
		if !e.Time.Equal(now) {
			t.Errorf("%s time = %v", e.Event, e.Time)
		}
	}
	req, grant, start := evs[0], evs[1], evs[2]
	for _, e := range []audit.Event{req, grant} {
		if e.Decision == nil || !e.Decision.Allowed || e.Decision.Rule != "sre-prod" {
			t.Errorf("%s decision = %+v", e.Event, e.Decision)
		}
	}
	if req.ExpiresAt != nil || req.Grant != nil {
		t.Errorf("request carries grant fields: %+v", req)
	}
	if grant.ExpiresAt == nil || !grant.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("grant expires_at = %v, want %v", grant.ExpiresAt, now.Add(time.Hour))
	}
	if want := map[string]string{"role": "admin", "key_id": et.KeyID}; !reflect.DeepEqual(grant.Grant, want) {
		t.Errorf("grant refs = %v, want %v", grant.Grant, want)
	}
	if start.Session == nil || !reflect.DeepEqual(start.Session.Command, []string{"/bin/bash", "-l"}) || start.Session.ExitCode != nil {
		t.Errorf("session_start session = %+v", start.Session)
	}
	if bytes.Contains(raw, []byte(et.SecretValue)) {
		t.Errorf("the journal holds the secret value:\n%s", raw)
	}
	if !bytes.Contains(raw, []byte(et.KeyID)) {
		t.Errorf("the journal lacks the non-secret key id")
	}
}

func TestElevateWithoutSessionHasNoSessionStart(t *testing.T) {
	f := newFixture(t, alice)
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := f.events(t)
	if got := kinds(evs); !reflect.DeepEqual(got, []string{"request", "grant"}) {
		t.Errorf("events = %v", got)
	}
	// No duration asked: the target's default (1h), and the grant is for it.
	if res.Decision.Duration != time.Hour || f.prov.Grants()[0].Duration != time.Hour || evs[0].DurationS != 3600 {
		t.Errorf("default duration: decision %v, granted %v, journaled %ds", res.Decision.Duration, f.prov.Grants()[0].Duration, evs[0].DurationS)
	}
}

func TestElevateDenied(t *testing.T) {
	tests := []struct {
		name       string
		pr         providers.Principal
		req        elevation.Request
		wantReason string
	}{
		{"no rule for the principal", providers.Principal{ID: "bob@example.com", Source: "fake:whoami"}, elevation.Request{Target: "prod", Reason: "x", Ticket: "CHG-1"}, "no rule grants bob@example.com access to prod"},
		{"no rule for the target", alice, elevation.Request{Target: "vault", Reason: "x"}, "no rule grants alice@example.com access to vault"},
		{"too long", alice, elevation.Request{Target: "prod", Duration: 3 * time.Hour, Reason: "x", Ticket: "CHG-1"}, "duration 3h exceeds the maximum 2h"},
		{"bad ticket", alice, elevation.Request{Target: "prod", Reason: "x", Ticket: "INC-1"}, `ticket "INC-1" does not match`},
		{"unknown target", alice, elevation.Request{Target: "nope", Reason: "x"}, `unknown target "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.pr)
			res, err := f.svc.Elevate(context.Background(), tt.req)
			var de *elevation.DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("Elevate error = %v, want a DeniedError", err)
			}
			if res != nil {
				t.Errorf("denied Elevate returned a result: %+v", res)
			}
			if de.Target != tt.req.Target || de.Principal != tt.pr.ID || !strings.Contains(de.Error(), tt.wantReason) {
				t.Errorf("DeniedError = %+v (%q), want target %s principal %s and %q", de, de, tt.req.Target, tt.pr.ID, tt.wantReason)
			}
			if n := len(f.prov.Grants()); n != 0 {
				t.Errorf("Grant called %d times on a denial", n)
			}
			evs, _ := f.events(t)
			if got := kinds(evs); !reflect.DeepEqual(got, []string{"request", "deny"}) {
				t.Fatalf("events = %v, want request, deny", got)
			}
			for _, e := range evs {
				if e.Decision == nil || e.Decision.Allowed || !strings.Contains(strings.Join(e.Decision.Reasons, "; "), tt.wantReason) {
					t.Errorf("%s decision = %+v", e.Event, e.Decision)
				}
				if e.Principal == nil || e.Principal.ID != tt.pr.ID || e.Target != tt.req.Target {
					t.Errorf("%s event = %+v", e.Event, e)
				}
				if e.Grant != nil || e.ExpiresAt != nil {
					t.Errorf("%s event has grant fields", e.Event)
				}
			}
		})
	}
}

func TestElevateMissingInputWithoutAsk(t *testing.T) {
	f := newFixture(t, alice)
	_, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "prod", Ticket: "CHG-1"})
	var mi *elevation.MissingInputError
	if !errors.As(err, &mi) {
		t.Fatalf("error = %v, want MissingInputError", err)
	}
	if mi.Target != "prod" || mi.Rule != "sre-prod" || !reflect.DeepEqual(mi.Fields, []string{"reason"}) {
		t.Errorf("MissingInputError = %+v", mi)
	}
	if want := `reason required to elevate to prod (rule "sre-prod")`; mi.Error() != want {
		t.Errorf("message = %q, want %q", mi.Error(), want)
	}
	if evs, _ := f.events(t); evs != nil {
		t.Errorf("journaled %v for a request that was never decided", kinds(evs))
	}
	if len(f.prov.Grants()) != 0 {
		t.Error("Grant called")
	}

	// Both missing: both named.
	_, err = f.svc.Elevate(context.Background(), elevation.Request{Target: "prod"})
	if !errors.As(err, &mi) || !reflect.DeepEqual(mi.Fields, []string{"reason", "ticket"}) {
		t.Errorf("error = %v, want reason and ticket missing", err)
	}
}

type asked struct {
	field, hint string
	validate    func(string) error
}

func TestElevateAsks(t *testing.T) {
	f := newFixture(t, alice)
	var got []asked
	answers := map[string]string{"reason": "asked reason", "ticket": "CHG-7"}
	res, err := f.svc.Elevate(context.Background(), elevation.Request{
		Target: "prod",
		Ask: func(_ context.Context, field, hint string, validate func(string) error) (string, error) {
			got = append(got, asked{field, hint, validate})
			return answers[field], nil
		},
	})
	if err != nil {
		t.Fatalf("Elevate: %v", err)
	}
	if len(got) != 2 || got[0].field != "reason" || got[1].field != "ticket" {
		t.Fatalf("asked %+v, want reason then ticket", got)
	}
	if got[1].hint != "must match ^CHG-[0-9]+$" || !strings.Contains(got[0].hint, "audit") {
		t.Errorf("hints = %q, %q", got[0].hint, got[1].hint)
	}
	// The validators reject what the policy would deny, so the user is
	// asked again instead of denied.
	for _, c := range []struct {
		i   int
		in  string
		bad bool
	}{{0, "  ", true}, {0, "why", false}, {1, "INC-1", true}, {1, "", true}, {1, "CHG-12", false}} {
		if err := got[c.i].validate(c.in); (err != nil) != c.bad {
			t.Errorf("validate %s(%q) = %v, want error %v", got[c.i].field, c.in, err, c.bad)
		}
	}
	if !res.Decision.Allowed || len(f.prov.Grants()) != 1 {
		t.Fatalf("not granted: %+v", res.Decision)
	}
	if g := f.prov.Grants()[0]; g.Reason != "asked reason" || g.Ticket != "CHG-7" {
		t.Errorf("provider got reason %q ticket %q", g.Reason, g.Ticket)
	}
	evs, _ := f.events(t)
	for _, e := range evs {
		if e.Reason != "asked reason" || e.Ticket != "CHG-7" {
			t.Errorf("%s journaled reason %q ticket %q", e.Event, e.Reason, e.Ticket)
		}
	}
}

func TestElevateAskCancelled(t *testing.T) {
	f := newFixture(t, alice)
	cancelled := errors.New("cancelled by user")
	_, err := f.svc.Elevate(context.Background(), elevation.Request{
		Target: "prod", Ticket: "CHG-1",
		Ask: func(context.Context, string, string, func(string) error) (string, error) { return "", cancelled },
	})
	if !errors.Is(err, cancelled) {
		t.Errorf("error = %v, want the Ask error", err)
	}
	if evs, _ := f.events(t); evs != nil || len(f.prov.Grants()) != 0 {
		t.Errorf("journaled %v / granted %d after a cancelled question", kinds(evs), len(f.prov.Grants()))
	}
}

func TestElevateProviderLimit(t *testing.T) {
	f := newFixture(t, alice)
	f.prov.Limit, f.prov.LimitReason = 45*time.Minute, "role chaining limits sessions to 45m"
	_, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "prod", Duration: time.Hour, Reason: "x", Ticket: "CHG-1"})
	var de *elevation.DeniedError
	if !errors.As(err, &de) || !strings.Contains(de.Error(), "exceeds the maximum 45m (role chaining limits sessions to 45m)") {
		t.Fatalf("error = %v, want a denial naming the provider's limit", err)
	}
	if len(f.prov.Grants()) != 0 {
		t.Error("granted above the provider's limit")
	}
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "prod", Duration: 45 * time.Minute, Reason: "x", Ticket: "CHG-1"})
	if err != nil || res.Decision.Duration != 45*time.Minute {
		t.Errorf("at the limit: %v, %+v", err, res)
	}
}

func TestElevateProviderError(t *testing.T) {
	f := newFixture(t, alice)
	perr := &providers.Error{Kind: providers.KindDenied, Op: "assume role admin", Code: "AccessDenied", Err: errors.New("not trusted\nsecond line")}
	f.prov.GrantErr = perr
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"})
	if !errors.Is(err, perr) || res != nil {
		t.Fatalf("Elevate = %+v, %v; want the provider's error", res, err)
	}
	evs, _ := f.events(t)
	if got := kinds(evs); !reflect.DeepEqual(got, []string{"request", "error"}) {
		t.Fatalf("events = %v, want request, error", got)
	}
	if e := evs[1]; e.Error != "assume role admin: not trusted" || e.RequestID != evs[0].RequestID || e.Target != "staging" {
		t.Errorf("error event = %+v", e)
	}
}

func TestElevateJournalUnwritable(t *testing.T) {
	t.Run("before the request", func(t *testing.T) {
		f := newFixture(t, alice)
		// A file where the journal's directory should be: fails as root too.
		blocker := filepath.Dir(f.journal)
		if err := os.WriteFile(blocker, []byte("not a directory"), 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"})
		var ae *elevation.AuditError
		if !errors.As(err, &ae) || res != nil {
			t.Fatalf("Elevate = %+v, %v; want an AuditError", res, err)
		}
		if !strings.Contains(err.Error(), "no credentials issued") {
			t.Errorf("message %q does not say nothing was issued", err)
		}
		if len(f.prov.Grants()) != 0 {
			t.Error("Grant called although the request could not be journaled")
		}
	})
	t.Run("after the provider granted", func(t *testing.T) {
		f := newFixture(t, alice)
		// The grant happens, then the journal becomes unwritable: a
		// directory where the file was.
		f.prov.OnGrant = func(providers.Request) {
			if err := os.Remove(f.journal); err != nil {
				t.Error(err)
			}
			if err := os.Mkdir(f.journal, 0o700); err != nil {
				t.Error(err)
			}
		}
		res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"})
		var ae *elevation.AuditError
		if !errors.As(err, &ae) {
			t.Fatalf("error = %v, want an AuditError", err)
		}
		if res != nil {
			t.Errorf("credentials returned although the grant is not on record: %+v", res)
		}
		if strings.Contains(err.Error(), et.SecretValue) {
			t.Error("the error holds the secret")
		}
		if len(f.prov.Grants()) != 1 || len(f.prov.Revoked()) != 1 || f.prov.Revoked()[0].RequestID != f.prov.Grants()[0].ID {
			t.Errorf("granted %d, revoked %v: want the unrecorded grant revoked", len(f.prov.Grants()), f.prov.Revoked())
		}
	})
}

func TestEndSession(t *testing.T) {
	f := newFixture(t, alice)
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x", Session: []string{"terraform", "apply"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.EndSession(context.Background(), res, []string{"terraform", "apply"}, 3, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	evs, raw := f.events(t)
	if got := kinds(evs); !reflect.DeepEqual(got, []string{"request", "grant", "session_start", "session_end"}) {
		t.Fatalf("events = %v", got)
	}
	end := evs[3]
	if end.RequestID != res.RequestID || end.Target != "staging" || end.Provider != "fake" || end.Principal == nil || end.Principal.ID != alice.ID {
		t.Errorf("session_end = %+v", end)
	}
	if end.Session == nil || end.Session.ExitCode == nil || *end.Session.ExitCode != 3 || end.Session.DurationMS != 1500 || !reflect.DeepEqual(end.Session.Command, []string{"terraform", "apply"}) {
		t.Errorf("session_end session = %+v", end.Session)
	}
	// Exit code 0 is recorded, not omitted.
	if err := f.svc.EndSession(context.Background(), res, []string{"sh"}, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"exit_code":3`)) {
		t.Errorf("journal lacks exit_code 3")
	}
	evs, raw = f.events(t)
	if !bytes.Contains(raw, []byte(`"exit_code":0`)) || evs[4].Session.ExitCode == nil {
		t.Errorf("exit code 0 not journaled: %s", raw)
	}
}

func TestElevateDryRun(t *testing.T) {
	f := newFixture(t, alice)
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "prod", Duration: time.Hour, Reason: "x", Ticket: "CHG-1", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Grant != nil || !res.Decision.Allowed || res.Decision.MaxDuration != 2*time.Hour || res.Target.Name != "prod" || res.Principal.ID != alice.ID {
		t.Errorf("dry run result = %+v", res)
	}
	_, err = f.svc.Elevate(context.Background(), elevation.Request{Target: "vault", DryRun: true})
	var de *elevation.DeniedError
	if !errors.As(err, &de) {
		t.Errorf("denied dry run error = %v", err)
	}
	if evs, _ := f.events(t); evs != nil || len(f.prov.Grants()) != 0 {
		t.Errorf("dry run journaled %v, granted %d", kinds(evs), len(f.prov.Grants()))
	}
}

func TestPolicyLoadedOnce(t *testing.T) {
	f := newFixture(t, alice)
	for range 3 {
		if _, _, err := f.svc.Policy(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	if f.src.Loads() != 1 {
		t.Errorf("policy loaded %d times, want once per service", f.src.Loads())
	}
}

func TestPolicyErrors(t *testing.T) {
	f := newFixture(t, alice)
	f.src.Err = errors.New("repository unreachable")
	_, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging"})
	var pe *elevation.PolicyError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "repository unreachable") {
		t.Errorf("error = %v, want a PolicyError", err)
	}

	f = newFixture(t, alice)
	f.src = et.NewSource("version: 1\ntargets:\n  x: {provider: nocloud}\n")
	f.svc.Source = f.src
	_, err = f.svc.Elevate(context.Background(), elevation.Request{Target: "x"})
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "policy at commit "+et.Commit[:12]) || !strings.Contains(err.Error(), `unknown provider "nocloud"`) {
		t.Errorf("error = %v, want a PolicyError naming the commit and the problem", err)
	}
	if evs, _ := f.events(t); evs != nil {
		t.Errorf("journaled %v", kinds(evs))
	}
}

func TestWhoAmI(t *testing.T) {
	f := newFixture(t, alice)
	pol, _, err := f.svc.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pr, err := f.svc.WhoAmI(context.Background(), "fake", pol)
	if err != nil || pr.ID != alice.ID || !reflect.DeepEqual(pr.Groups, []string{"sre"}) {
		t.Errorf("WhoAmI = %+v, %v", pr, err)
	}
	pr, err = f.svc.WhoAmI(context.Background(), "fake", nil)
	if err != nil || pr.Groups != nil {
		t.Errorf("WhoAmI without a policy = %+v, %v; want no groups", pr, err)
	}
	// Groups the provider claims are not trusted: the policy decides.
	f.prov.Principal.Groups = []string{"admins"}
	if pr, _ = f.svc.WhoAmI(context.Background(), "fake", pol); !reflect.DeepEqual(pr.Groups, []string{"sre"}) {
		t.Errorf("groups = %v, want only the policy's", pr.Groups)
	}
	if _, err := f.svc.WhoAmI(context.Background(), "gcp", nil); err == nil || !strings.Contains(err.Error(), `unknown provider "gcp"`) {
		t.Errorf("unknown provider: %v", err)
	}
	authErr := &providers.Error{Kind: providers.KindAuth, Op: "get caller identity", Hint: "sign in"}
	f.prov.WhoAmIErr = authErr
	if _, err := f.svc.WhoAmI(context.Background(), "fake", nil); !errors.Is(err, authErr) {
		t.Errorf("WhoAmI error = %v", err)
	}
	// Elevate does not journal a request it cannot attribute.
	if _, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging"}); providers.KindOf(err) != providers.KindAuth {
		t.Errorf("Elevate error = %v, want the auth error", err)
	}
	if evs, _ := f.events(t); evs != nil {
		t.Errorf("journaled %v", kinds(evs))
	}

	r := providers.NewRegistry()
	r.Register(et.Spec(), func() (providers.Provider, error) { return nameOnly{}, nil })
	svc := &elevation.Service{Source: f.src, Providers: r, Journal: audit.OpenJournal(f.journal)}
	if _, err := svc.WhoAmI(context.Background(), "fake", nil); err == nil || !strings.Contains(err.Error(), "cannot tell who the caller is") {
		t.Errorf("provider without WhoAmI: %v", err)
	}
}

type nameOnly struct{}

func (nameOnly) Name() string { return "fake" }
func (nameOnly) Grant(context.Context, providers.Request) (*providers.Grant, error) {
	return nil, errors.New("no")
}

func TestErrorMessages(t *testing.T) {
	de := &elevation.DeniedError{Target: "prod", Principal: "bob", Decision: policy.Decision{}}
	if de.Error() != "denied: bob may not elevate to prod" {
		t.Errorf("DeniedError without reasons = %q", de)
	}
	de.Decision.Reasons = []string{"a", "b"}
	if de.Error() != "denied: a; b" {
		t.Errorf("DeniedError = %q", de)
	}
	inner := errors.New("disk full")
	ae := &elevation.AuditError{Err: inner}
	if ae.Error() != "audit journal: disk full" || !errors.Is(ae, inner) {
		t.Errorf("AuditError = %q", ae)
	}
	pe := &elevation.PolicyError{Err: inner}
	if pe.Error() != "disk full" || !errors.Is(pe, inner) {
		t.Errorf("PolicyError = %q", pe)
	}
}
