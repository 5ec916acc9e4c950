package elevation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship"
	"github.com/jitaccess/jit/internal/audit/ship/shiptest"
	"github.com/jitaccess/jit/internal/elevation"
	et "github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

// withSinks makes the fixture ship to sinks: the user's configuration names
// them, and the builder returns them in that order.
func (f *fixture) withSinks(t *testing.T, targets ...ship.Target) {
	t.Helper()
	f.svc.UserSinks = nil
	for _, tg := range targets {
		f.svc.UserSinks = append(f.svc.UserSinks, policy.SinkConfig{Type: "file", Path: "/" + tg.Name, Name: tg.Name, Required: tg.Required})
	}
	f.svc.Sinks = func([]policy.SinkConfig) (*ship.Shipper, error) { return ship.New(f.journal, targets) }
	var mu sync.Mutex
	f.svc.Warn = func(s string) { mu.Lock(); f.warns = append(f.warns, s); mu.Unlock() }
}

// eventsOf are the event types of lines.
func eventsOf(t *testing.T, lines [][]byte) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		var e audit.Event
		if err := jsonUnmarshal(l, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Event)
	}
	return out
}

func journalLinesOf(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func TestSinksReceiveTheJournal(t *testing.T) {
	f := newFixture(t, alice)
	f.src = et.NewSource(et.Policy + "audit:\n  sinks:\n    - {type: file, path: /policy/sink.jsonl}\n")
	f.svc.Source = f.src
	f.svc.UserSinks = []policy.SinkConfig{{Type: "file", Path: "/user/sink.jsonl"}}
	good, bad := &shiptest.MemorySink{SinkName: "good"}, &shiptest.MemorySink{SinkName: "bad"}
	bad.SetDown(true)
	var cfgs []policy.SinkConfig
	f.svc.Sinks = func(c []policy.SinkConfig) (*ship.Shipper, error) {
		cfgs = c
		return ship.New(f.journal, []ship.Target{{Sink: good}, {Sink: bad}})
	}
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x", Session: []string{"sh"}})
	if err != nil {
		t.Fatalf("a failing sink stopped the elevation: %v", err)
	}
	if err := f.svc.EndSession(context.Background(), res, []string{"sh"}, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 || cfgs[0].Path != "/policy/sink.jsonl" || cfgs[1].Path != "/user/sink.jsonl" {
		t.Errorf("sinks built from %+v, want the policy's then the user's", cfgs)
	}
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	// Exactly the journal's lines, byte for byte.
	if got, want := good.Lines(), journalLinesOf(t, f.journal); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("sink got %q\nwant %q", eventsOf(t, got), eventsOf(t, want))
	}
	if want := []string{"request", "grant", "session_start", "session_end"}; !slices.Equal(eventsOf(t, good.Lines()), want) {
		t.Errorf("sink got %v, want %v", eventsOf(t, good.Lines()), want)
	}
	if len(f.warns) != 1 || !strings.Contains(f.warns[0], "audit sink bad: sink is down") || !strings.Contains(f.warns[0], "jit audit flush") {
		t.Errorf("warnings = %q, want the failing sink named once", f.warns)
	}
	// The backlog of the sink that was down goes out with the next run.
	bad.SetDown(false)
	g := newFixture(t, alice)
	g.journal, g.svc.Journal = f.journal, audit.OpenJournal(f.journal)
	g.withSinks(t, ship.Target{Sink: bad, Name: "bad"})
	if _, err := g.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "y"}); err != nil {
		t.Fatal(err)
	}
	g.svc.Close()
	if got, want := bad.Lines(), journalLinesOf(t, f.journal); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("backlog not delivered: sink has %v", eventsOf(t, got))
	}
}

func TestNoSinksNoShippingIO(t *testing.T) {
	f := newFixture(t, alice)
	built := false
	f.svc.Sinks = func([]policy.SinkConfig) (*ship.Shipper, error) { built = true; return nil, nil }
	if _, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	f.svc.Close()
	if built {
		t.Error("sinks built without any configured")
	}
	entries, _ := os.ReadDir(filepath.Dir(f.journal))
	for _, e := range entries {
		if strings.Contains(e.Name(), "cursor") {
			t.Errorf("%s created without sinks", e.Name())
		}
	}
}

func TestRequiredSinkDownRefusesBeforeTheGrant(t *testing.T) {
	f := newFixture(t, alice)
	req := &shiptest.MemorySink{SinkName: "siem"}
	req.SetDown(true)
	opt := &shiptest.MemorySink{SinkName: "copy"}
	f.withSinks(t, ship.Target{Sink: req, Name: "siem", Required: true}, ship.Target{Sink: opt, Name: "copy"})
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"})
	var se *elevation.SinkError
	if !errors.As(err, &se) || res != nil {
		t.Fatalf("Elevate = %+v, %v; want a SinkError", res, err)
	}
	if se.Event != "request" || !slices.Equal(se.Sinks, []string{"siem"}) || !errors.Is(err, shiptest.ErrDown) {
		t.Errorf("error %+v", se)
	}
	for _, want := range []string{"required audit sink siem did not accept the request: sink is down", "no credentials issued", "jit audit status"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if len(f.prov.Grants()) != 0 {
		t.Error("the provider was asked to grant although the request was not accepted")
	}
	evs, _ := f.events(t)
	if got := kinds(evs); !slices.Equal(got, []string{"request", "error"}) || !strings.Contains(evs[1].Error, "siem did not accept the request") {
		t.Errorf("journal %v, error %q", got, evs[len(evs)-1].Error)
	}
	f.svc.Close()
	if len(f.warns) != 0 {
		t.Errorf("warnings %q repeat the error", f.warns)
	}
	// The refusal reaches the sinks that are up.
	if got := eventsOf(t, opt.Lines()); !slices.Equal(got, []string{"request", "error"}) {
		t.Errorf("other sink got %v", got)
	}
}

func TestRequiredSinkUp(t *testing.T) {
	f := newFixture(t, alice)
	req := &shiptest.MemorySink{SinkName: "siem"}
	slow := &shiptest.MemorySink{SinkName: "slow", Delay: time.Second}
	f.withSinks(t, ship.Target{Sink: req, Name: "siem", Required: true}, ship.Target{Sink: slow, Name: "slow"})
	f.svc.ShipWait = 10 * time.Second
	start := time.Now()
	res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x", Session: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	// Accepted before the credentials were returned, not later.
	if got := eventsOf(t, req.Lines()); !slices.Equal(got, []string{"request", "grant", "session_start"}) {
		t.Errorf("required sink had %v when the credentials were released", got)
	}
	// A sink that is not required does not hold the elevation up.
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("elevation took %v: it waited for a sink that is not required", d)
	}
	if res.Grant == nil {
		t.Error("no grant")
	}
	f.svc.Close()
	if len(slow.Lines()) != 3 {
		t.Errorf("slow sink got %d events by Close", len(slow.Lines()))
	}
}

// grantRefuser accepts batches until one holds a grant.
type grantRefuser struct{ shiptest.MemorySink }

func (g *grantRefuser) Send(ctx context.Context, batch []audit.Record) error {
	for _, r := range batch {
		if r.Event.Event == audit.EventGrant {
			return errors.New("503 service unavailable")
		}
	}
	return g.MemorySink.Send(ctx, batch)
}

// noRevoke is the fake provider without Revoke.
type noRevoke struct{ p *et.Provider }

func (n noRevoke) Name() string { return n.p.Name() }
func (n noRevoke) Grant(ctx context.Context, r providers.Request) (*providers.Grant, error) {
	return n.p.Grant(ctx, r)
}
func (n noRevoke) WhoAmI(ctx context.Context) (providers.Principal, error) { return n.p.WhoAmI(ctx) }

func TestRequiredSinkRefusesTheGrant(t *testing.T) {
	t.Run("revocable", func(t *testing.T) {
		f := newFixture(t, alice)
		f.svc.Grants = &grants.Store{Dir: filepath.Join(t.TempDir(), "grants")}
		sink := &grantRefuser{shiptest.MemorySink{SinkName: "siem"}}
		f.withSinks(t, ship.Target{Sink: sink, Name: "siem", Required: true})
		res, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x", Session: []string{"sh"}})
		var se *elevation.SinkError
		if !errors.As(err, &se) || res != nil || se.Event != "grant" {
			t.Fatalf("Elevate = %+v, %v", res, err)
		}
		if !strings.Contains(err.Error(), "did not accept the grant: 503 service unavailable; no credentials issued; the grant was revoked") {
			t.Errorf("message %q", err)
		}
		if strings.Contains(err.Error(), et.SecretValue) {
			t.Error("the error holds the secret")
		}
		if g, r := f.prov.Grants(), f.prov.Revoked(); len(g) != 1 || len(r) != 1 || r[0].RequestID != g[0].ID {
			t.Errorf("granted %d, revoked %d: want the grant revoked", len(g), len(r))
		}
		evs, data := f.events(t)
		if got := kinds(evs); !slices.Equal(got, []string{"request", "grant", "session_start", "error", "revoke"}) {
			t.Errorf("journal %v", got)
		}
		if bytes.Contains(data, []byte(et.SecretValue)) {
			t.Error("the journal holds the secret")
		}
		if recs, _ := f.svc.Grants.List(); len(recs) != 0 {
			t.Errorf("a revoked grant stays on record: %+v", recs)
		}
	})
	t.Run("not revocable", func(t *testing.T) {
		f := newFixture(t, alice)
		f.svc.Grants = &grants.Store{Dir: filepath.Join(t.TempDir(), "grants")}
		f.svc.Providers = et.Registry(f.prov)
		reg := providers.NewRegistry()
		reg.Register(et.Spec(), func() (providers.Provider, error) { return noRevoke{f.prov}, nil })
		f.svc.Providers = reg
		sink := &grantRefuser{shiptest.MemorySink{SinkName: "siem"}}
		f.withSinks(t, ship.Target{Sink: sink, Name: "siem", Required: true})
		_, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"})
		if err == nil || !strings.Contains(err.Error(), "fake grants cannot be revoked: it stays valid in the cloud until") {
			t.Fatalf("Elevate = %v", err)
		}
		evs, _ := f.events(t)
		if got := kinds(evs); !slices.Equal(got, []string{"request", "grant", "error"}) {
			t.Errorf("journal %v", got)
		}
		// Still valid in the cloud: on record, so status shows it and its
		// expiry is journaled.
		if recs, _ := f.svc.Grants.List(); len(recs) != 1 || recs[0].SessionPID != 0 {
			t.Errorf("records %+v", recs)
		}
	})
}

func TestRequiredSinkThatCannotBeBuilt(t *testing.T) {
	f := newFixture(t, alice)
	f.svc.UserSinks = []policy.SinkConfig{{Type: "http", URL: "https://siem.example.com/", Required: true}}
	f.svc.Sinks = func([]policy.SinkConfig) (*ship.Shipper, error) {
		return nil, errors.New("two audit sinks are named x")
	}
	_, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"})
	var se *elevation.SinkError
	if !errors.As(err, &se) || !slices.Equal(se.Sinks, []string{"http https://siem.example.com/"}) || len(f.prov.Grants()) != 0 {
		t.Fatalf("Elevate = %v (%d grants)", err, len(f.prov.Grants()))
	}
}

// A sink that hangs costs the elevation nothing, and Close at most
// ShipWait.
func TestHangingSinkIsBounded(t *testing.T) {
	f := newFixture(t, alice)
	hang := &shiptest.MemorySink{SinkName: "hang", Delay: time.Minute}
	f.withSinks(t, ship.Target{Sink: hang, Name: "hang", Timeout: 10 * time.Second})
	f.svc.ShipWait = 200 * time.Millisecond
	start := time.Now()
	if _, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	elevated := time.Since(start)
	f.svc.Close()
	if total := time.Since(start); elevated > time.Second || total > 3*time.Second {
		t.Errorf("elevation %v, with close %v", elevated, total)
	}
	if len(f.warns) != 1 || !strings.Contains(f.warns[0], "audit sink hang") {
		t.Errorf("warnings %q", f.warns)
	}
}

// The end of a session whose jit was killed, journaled by the next run,
// reaches the sinks too.
func TestSweptEventsAreShipped(t *testing.T) {
	svc, _, journal, _ := lifecycleService(t)
	ctx := context.Background()
	res, err := svc.Elevate(ctx, elevation.Request{Target: "staging", Duration: time.Hour, Session: []string{"make", "deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	r, _ := svc.Grants.Get(res.RequestID)
	r.SessionPID = cmd.Process.Pid
	if err := svc.Grants.Put(r); err != nil {
		t.Fatal(err)
	}
	// The next run (another command: jit status) ships what it journals.
	next := et.Service(&et.Provider{}, et.NewSource(et.Policy), journal)
	next.Grants, next.Host = svc.Grants, svc.Host
	m := &shiptest.MemorySink{SinkName: "m"}
	next.UserSinks = []policy.SinkConfig{{Type: "file", Path: "/m"}}
	next.Sinks = func([]policy.SinkConfig) (*ship.Shipper, error) {
		return ship.New(journal, []ship.Target{{Sink: m, Name: "m"}})
	}
	if _, err := next.Status(ctx); err != nil {
		t.Fatal(err)
	}
	next.Close()
	got := eventsOf(t, m.Lines())
	if !slices.Equal(got, []string{"request", "grant", "session_start", "session_end"}) {
		t.Errorf("sink got %v", got)
	}
}

func TestAuditShipper(t *testing.T) {
	f := newFixture(t, alice)
	m := &shiptest.MemorySink{SinkName: "m"}
	f.withSinks(t, ship.Target{Sink: m, Name: "m"})
	if _, err := f.svc.Elevate(context.Background(), elevation.Request{Target: "staging", Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	sh, err := f.svc.AuditShipper(context.Background())
	if err != nil || sh == nil || sh.Len() != 1 {
		t.Fatalf("AuditShipper = %v, %v", sh, err)
	}
	f.svc.Close()

	// A policy that cannot be loaded: the user's sinks, and the error.
	g := newFixture(t, alice)
	g.src.Err = errors.New("repository unreachable")
	g.withSinks(t, ship.Target{Sink: m, Name: "m"})
	sh, err = g.svc.AuditShipper(context.Background())
	var pe *elevation.PolicyError
	if sh == nil || !errors.As(err, &pe) {
		t.Errorf("AuditShipper without policy = %v, %v", sh, err)
	}
	g.svc.Close()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
