// Package providertest is the conformance suite every provider passes
// against its loopback fake, in the spirit of restic's backend tests: a
// provider's own test supplies a constructor, the suite checks the contract
// of the providers package.
//
//	func TestConformance(t *testing.T) {
//		providertest.Suite{New: func(t *testing.T) providertest.Env { … }}.Run(t)
//	}
package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

// Env is one provider wired to a fresh fake.
type Env struct {
	Provider providers.Provider
	// Target is a target the fake lets the provider grant.
	Target providers.Target
	// Denied is a target the fake refuses (the cloud's access denied).
	Denied providers.Target
	// Principal is the caller, as the elevation service would pass it.
	Principal providers.Principal
	// Duration is a duration the target allows; default 30m.
	Duration time.Duration
	// Block, when set, makes the fake hold every request until the returned
	// release func is called, so that cancellation during a call can be
	// tested.
	Block func() (release func())
	// Active reports whether the grant is still in force on the fake's
	// side; used to check Revoke. Required for providers that can revoke.
	Active func(g *providers.Grant) bool
}

// Suite runs the conformance tests.
type Suite struct {
	// New returns a fresh Env; called once per test.
	New func(t *testing.T) Env
}

// Run runs every test of the suite as a subtest.
func (s Suite) Run(t *testing.T) {
	t.Run("GrantWithinWindow", s.grantWithinWindow)
	t.Run("CancelledBefore", s.cancelledBefore)
	t.Run("CancelledDuring", s.cancelledDuring)
	t.Run("ErrorsClassified", s.errorsClassified)
	t.Run("RedactedHasNoSecrets", s.redacted)
	t.Run("WhoAmI", s.whoAmI)
	t.Run("Revoke", s.revoke)
}

func (e *Env) request(t providers.Target) providers.Request {
	d := e.Duration
	if d == 0 {
		d = 30 * time.Minute
	}
	return providers.Request{
		ID: "01M8CONFORMANCE0000000000" + "0", Target: t, Principal: e.Principal,
		Duration: d, Reason: "conformance", Ticket: "CHG-1",
	}
}

func (s Suite) grantWithinWindow(t *testing.T) {
	e := s.New(t)
	req := e.request(e.Target)
	before := time.Now()
	g, err := e.Provider.Grant(context.Background(), req)
	after := time.Now()
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if g.RequestID != req.ID || g.Target != req.Target.Name || g.Provider != e.Provider.Name() {
		t.Errorf("grant identifies request %q target %q provider %q, want %q %q %q",
			g.RequestID, g.Target, g.Provider, req.ID, req.Target.Name, e.Provider.Name())
	}
	// Expiry never beyond the requested window (a second of slack for the
	// cloud's own rounding of timestamps).
	if limit := after.Add(req.Duration + time.Second); g.NotAfter.After(limit) {
		t.Errorf("NotAfter %s is beyond the requested window (now + %s = %s)", g.NotAfter, req.Duration, limit)
	}
	if !g.NotAfter.After(before) {
		t.Errorf("NotAfter %s is not in the future", g.NotAfter)
	}
	if !g.NotBefore.IsZero() && g.NotBefore.After(after.Add(time.Second)) {
		t.Errorf("NotBefore %s is in the future", g.NotBefore)
	}
}

func (s Suite) cancelledBefore(t *testing.T) {
	e := s.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g, err := e.Provider.Grant(ctx, e.request(e.Target))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Grant with a cancelled context = %v, %v; want an error wrapping context.Canceled", g, err)
	}
}

func (s Suite) cancelledDuring(t *testing.T) {
	e := s.New(t)
	if e.Block == nil {
		t.Skip("the fake cannot hold requests")
	}
	release := e.Block()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.Provider.Grant(ctx, e.request(e.Target))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Grant cancelled during the call = %v; want an error wrapping context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Grant did not return after its context was cancelled")
	}
}

func (s Suite) errorsClassified(t *testing.T) {
	e := s.New(t)
	_, err := e.Provider.Grant(context.Background(), e.request(e.Denied))
	if err == nil {
		t.Fatal("Grant on the denied target succeeded")
	}
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	if pe.Kind != providers.KindDenied {
		t.Errorf("kind = %s, want %s", pe.Kind, providers.KindDenied)
	}
	if pe.Op == "" {
		t.Error("error names no operation")
	}
	for _, s := range []string{err.Error(), pe.Hint} {
		if strings.ContainsAny(s, "\r\n") {
			t.Errorf("message is not one line: %q", s)
		}
	}
	if pe.Hint == "" {
		t.Error("an access-denied error gives no hint")
	}
}

func (s Suite) redacted(t *testing.T) {
	e := s.New(t)
	g, err := e.Provider.Grant(context.Background(), e.request(e.Target))
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	var secrets []string
	for _, v := range g.Env {
		if v.Secret {
			secrets = append(secrets, v.Value)
		}
	}
	if got := g.Secrets(); len(got) != len(secrets) {
		t.Errorf("Secrets() = %d values, want %d", len(got), len(secrets))
	}
	red, err := json.Marshal(g.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(string(red), sec) {
			t.Errorf("Redacted() contains a secret value")
		}
	}
	for k, v := range g.Refs {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(v, sec) {
				t.Errorf("ref %s contains a secret value", k)
			}
		}
	}
}

func (s Suite) whoAmI(t *testing.T) {
	e := s.New(t)
	w, ok := e.Provider.(providers.WhoAmIer)
	if !ok {
		t.Skip("provider has no WhoAmI")
	}
	pr, err := w.WhoAmI(context.Background())
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	if pr.ID == "" || pr.Source == "" {
		t.Errorf("WhoAmI = %+v; want an id and a source", pr)
	}
}

func (s Suite) revoke(t *testing.T) {
	e := s.New(t)
	r, ok := e.Provider.(providers.Revoker)
	if !ok {
		t.Skip("provider cannot revoke")
	}
	g, err := e.Provider.Grant(context.Background(), e.request(e.Target))
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if !g.Revocable {
		t.Skip("this grant is not revocable")
	}
	if e.Active == nil {
		t.Fatal("a revocable provider's Env must say how to see a grant is active")
	}
	if !e.Active(g) {
		t.Fatal("the grant is not active on the fake after Grant")
	}
	// Revoke from the local record: no environment, only references.
	rec := &providers.Grant{RequestID: g.RequestID, Target: g.Target, Provider: g.Provider, Principal: g.Principal,
		NotBefore: g.NotBefore, NotAfter: g.NotAfter, Refs: g.Refs, Revocable: g.Revocable}
	if err := r.Revoke(context.Background(), rec); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if e.Active(g) {
		t.Error("the grant is still active after Revoke")
	}
	if err := r.Revoke(context.Background(), rec); err != nil {
		t.Errorf("second Revoke: %v; revoking an ended grant must not fail", err)
	}
}
