package elevation_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/providers"
)

func lifecycleService(t *testing.T) (*elevation.Service, *elevationtest.Provider, string, *time.Time) {
	t.Helper()
	dir := t.TempDir()
	p := &elevationtest.Provider{Principal: providers.Principal{ID: "alice@example.com", Source: "fake"}}
	journal := filepath.Join(dir, "audit.jsonl")
	svc := elevationtest.Service(p, elevationtest.NewSource(elevationtest.Policy), journal)
	svc.Grants = &grants.Store{Dir: filepath.Join(dir, "grants")}
	now := time.Now()
	svc.Now = func() time.Time { return now }
	p.Now = svc.Now
	return svc, p, journal, &now
}

func events(t *testing.T, journal string) []string {
	t.Helper()
	evs, err := audit.Tail(journal, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Event)
	}
	return out
}

func TestGrantIsRecordedAndExpires(t *testing.T) {
	svc, _, journal, now := lifecycleService(t)
	ctx := context.Background()
	res, err := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour, Session: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := svc.Status(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Status = %v, %v", recs, err)
	}
	r := recs[0]
	if r.RequestID != res.RequestID || r.State != grants.StateActive || r.SessionPID != os.Getpid() || !r.Revocable ||
		r.Principal != "alice@example.com" || r.Refs["key_id"] != elevationtest.KeyID || r.Policy["commit"] != elevationtest.Commit {
		t.Errorf("record = %+v", r)
	}
	data, _ := os.ReadFile(filepath.Join(svc.Grants.Dir, res.RequestID+".json"))
	if strings.Contains(string(data), elevationtest.SecretValue) {
		t.Fatal("the grant record holds a secret")
	}
	if err := svc.EndSession(ctx, res, []string{"sh"}, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	// Before expiry nothing happens; after it, `expire` is journaled once
	// and the record goes.
	if _, err := svc.Status(ctx); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Hour)
	recs, err = svc.Status(ctx)
	if err != nil || len(recs) != 0 {
		t.Fatalf("after expiry Status = %v, %v", recs, err)
	}
	if _, err := svc.Status(ctx); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(events(t, journal), " ")
	if got != "request grant session_start session_end expire" {
		t.Errorf("journal = %s", got)
	}
	if rep, err := audit.VerifyFile(journal); err != nil || !rep.OK() {
		t.Errorf("journal does not verify: %+v %v", rep, err)
	}
}

func TestSweepEndsSessionsOfDeadProcesses(t *testing.T) {
	svc, _, journal, _ := lifecycleService(t)
	ctx := context.Background()
	res, err := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour, Session: []string{"make", "deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	// A process that has exited stands in for a killed jit.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Grants.Get(res.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	r.SessionPID = cmd.Process.Pid
	if err := svc.Grants.Put(r); err != nil {
		t.Fatal(err)
	}
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Sweep(ctx); err != nil { // once only
		t.Fatal(err)
	}
	evs, _ := audit.Tail(journal, 0)
	last := evs[len(evs)-1]
	if last.Event != audit.EventSessionEnd || !strings.Contains(last.Error, "ended without recording it") ||
		last.Session == nil || strings.Join(last.Session.Command, " ") != "make deploy" || len(evs) != 4 {
		t.Fatalf("journal = %v, last %+v", events(t, journal), last)
	}
	if r, _ := svc.Grants.Get(res.RequestID); !r.SessionEnded || r.SessionPID != 0 {
		t.Errorf("record after sweep = %+v", r)
	}
	// A live process (this test) is left alone.
	res2, _ := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour, Session: []string{"sh"}})
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := svc.Grants.Get(res2.RequestID); r.SessionEnded {
		t.Error("a running session was ended")
	}
}

func TestRevoke(t *testing.T) {
	svc, p, journal, _ := lifecycleService(t)
	ctx := context.Background()
	a, _ := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour})
	b, _ := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour})
	if _, err := svc.Revoke(ctx, "nothing"); !errors.Is(err, elevation.ErrNoGrant) {
		t.Fatalf("Revoke(nothing) = %v", err)
	}
	res, err := svc.Revoke(ctx, a.RequestID)
	if err != nil || len(res) != 1 || !res[0].Revoked {
		t.Fatalf("Revoke(id) = %+v, %v", res, err)
	}
	if rv := p.Revoked(); len(rv) != 1 || rv[0].RequestID != a.RequestID || rv[0].Refs["key_id"] != elevationtest.KeyID || rv[0].Env != nil {
		t.Fatalf("provider revoked %+v", rv)
	}
	// By target: the remaining grant.
	res, err = svc.Revoke(ctx, "staging")
	if err != nil || len(res) != 1 || res[0].Record.RequestID != b.RequestID {
		t.Fatalf("Revoke(target) = %+v, %v", res, err)
	}
	if recs, _ := svc.Status(ctx); len(recs) != 0 {
		t.Errorf("records left: %+v", recs)
	}
	if got := strings.Count(strings.Join(events(t, journal), " "), "revoke"); got != 2 {
		t.Errorf("%d revoke events, want 2", got)
	}
}

func TestRevokeNotRevocable(t *testing.T) {
	svc, p, journal, _ := lifecycleService(t)
	ctx := context.Background()
	a, _ := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour})
	r, _ := svc.Grants.Get(a.RequestID)
	r.Revocable, r.RevokeNote = false, "credentials live until they expire"
	_ = svc.Grants.Put(r)
	res, err := svc.Revoke(ctx, "staging")
	if err != nil || len(res) != 1 || res[0].Revoked || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "credentials live until they expire") {
		t.Fatalf("Revoke = %+v, %v", res, err)
	}
	if len(p.Revoked()) != 0 || strings.Contains(strings.Join(events(t, journal), " "), "revoke") {
		t.Error("an unrevocable grant was revoked or journaled as revoked")
	}
}

func TestPendingGrantIsRecorded(t *testing.T) {
	svc, p, journal, _ := lifecycleService(t)
	p.GrantErr = &providers.Error{Kind: providers.KindPending, Op: "activate", Hint: "approval awaited; follow it in the portal",
		Refs: map[string]string{"request_name": "req-1"}}
	ctx := context.Background()
	_, err := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour})
	if providers.KindOf(err) != providers.KindPending {
		t.Fatalf("Elevate = %v", err)
	}
	recs, _ := svc.Status(ctx)
	if len(recs) != 1 || recs[0].State != grants.StatePending || recs[0].Refs["request_name"] != "req-1" {
		t.Fatalf("records = %+v", recs)
	}
	evs, _ := audit.Tail(journal, 0)
	last := evs[len(evs)-1]
	if last.Event != audit.EventError || !strings.HasPrefix(last.Error, "pending approval: ") || last.Grant["request_name"] != "req-1" {
		t.Errorf("journaled %+v", last)
	}
	// A pending request can be withdrawn.
	if res, err := svc.Revoke(ctx, "staging"); err != nil || !res[0].Revoked {
		t.Errorf("Revoke of a pending grant = %+v, %v", res, err)
	}
}

func TestPendingSupersededAndLapsed(t *testing.T) {
	svc, p, journal, now := lifecycleService(t)
	ctx := context.Background()
	p.GrantErr = &providers.Error{Kind: providers.KindPending, Op: "activate", Hint: "wait", Refs: map[string]string{"request_name": "r1"}}
	if _, err := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour}); providers.KindOf(err) != providers.KindPending {
		t.Fatal(err)
	}
	// Approved: the next elevation of the target is granted, and the
	// pending record goes.
	p.GrantErr = nil
	res, err := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := svc.Status(ctx)
	if len(recs) != 1 || recs[0].RequestID != res.RequestID {
		t.Fatalf("records = %+v", recs)
	}
	// Never approved: after PendingLifetime jit stops following it.
	p.GrantErr = &providers.Error{Kind: providers.KindPending, Op: "activate", Hint: "wait", Refs: map[string]string{"request_name": "r2"}}
	if _, err := svc.Elevate(ctx, elevation.Request{Target: "prod", Duration: time.Hour, Reason: "x", Ticket: "CHG-1"}); providers.KindOf(err) != providers.KindPending {
		t.Fatal(err)
	}
	*now = now.Add(elevation.PendingLifetime + time.Hour)
	if recs, _ := svc.Status(ctx); len(recs) != 0 {
		t.Fatalf("records after a day = %+v", recs)
	}
	// Both records end in the same sweep, in an order that depends on
	// their ids; find the lapsed request's event.
	evs, _ := audit.Tail(journal, 2)
	var lapsed *audit.Event
	for i := range evs {
		if evs[i].Target == "prod" {
			lapsed = &evs[i]
		}
	}
	if lapsed == nil || lapsed.Event != audit.EventExpire || !strings.Contains(lapsed.Error, "awaited approval") {
		t.Errorf("last events = %+v", evs)
	}
}

func TestRequestTextIsBounded(t *testing.T) {
	svc, p, journal, _ := lifecycleService(t)
	for _, req := range []elevation.Request{
		{Target: "staging", Reason: strings.Repeat("r", elevation.MaxReasonLength+1)},
		{Target: "staging", Reason: "one\nline"},
		{Target: "staging", Ticket: strings.Repeat("T", elevation.MaxTicketLength+1)},
	} {
		if _, err := svc.Elevate(context.Background(), req); err == nil {
			t.Errorf("Elevate accepted reason of %d bytes, ticket of %d", len(req.Reason), len(req.Ticket))
		}
	}
	if len(p.Grants()) != 0 {
		t.Error("the provider was asked")
	}
	if evs, _ := audit.Tail(journal, 0); len(evs) != 0 {
		t.Errorf("journaled %d events", len(evs))
	}
}
