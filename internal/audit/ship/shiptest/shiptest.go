// Package shiptest helps test audit sinks and the shipping of the journal:
// an in-memory sink that can be taken down, a recorder of what a shipper
// sends, and RunKillRestart, the "kill the sink in the middle of 1,000
// elevations and bring it back" test, which sink packages run against
// their real servers.
package shiptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/elevation/elevationtest"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

// ErrDown is what a MemorySink returns while it is down.
var ErrDown = errors.New("sink is down")

// MemorySink is an audit.BatchSink that keeps the lines it accepts. It can
// be taken down, made to fail every n-th Send, and notices Sends that
// overlap in time (two shippers delivering at once). One MemorySink may
// serve several shippers, as one server serves several jit processes.
type MemorySink struct {
	// SinkName is Name(); "memory" when empty.
	SinkName string
	// FailEvery, when > 0, makes every FailEvery-th Send fail.
	FailEvery int
	// AcceptThenFail makes the FailEvery-th Sends keep the batch before
	// failing, as a server that stored it but whose answer was lost does.
	AcceptThenFail bool
	// Delay is how long each Send takes (honouring ctx).
	Delay time.Duration

	mu       sync.Mutex
	lines    [][]byte
	sends    int
	failures int
	down     bool
	inFlight atomic.Int32
	overlaps atomic.Int32
}

// Name implements audit.BatchSink.
func (m *MemorySink) Name() string {
	if m.SinkName == "" {
		return "memory"
	}
	return m.SinkName
}

// Send keeps the batch, unless the sink is down or this Send is one to fail.
func (m *MemorySink) Send(ctx context.Context, batch []audit.Record) error {
	if m.inFlight.Add(1) > 1 {
		m.overlaps.Add(1)
	}
	defer m.inFlight.Add(-1)
	if m.Delay > 0 {
		t := time.NewTimer(m.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sends++
	if m.down {
		m.failures++
		return ErrDown
	}
	fail := m.FailEvery > 0 && m.sends%m.FailEvery == 0
	if fail && !m.AcceptThenFail {
		m.failures++
		return ErrDown
	}
	for _, r := range batch {
		m.lines = append(m.lines, slices.Clone(r.Line))
	}
	if fail {
		m.failures++
		return ErrDown
	}
	return nil
}

// Close does nothing: the sink keeps its lines.
func (m *MemorySink) Close() error { return nil }

// SetDown takes the sink down or brings it back.
func (m *MemorySink) SetDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// Lines returns copies of the lines accepted, in order.
func (m *MemorySink) Lines() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(m.lines))
	for i, l := range m.lines {
		out[i] = slices.Clone(l)
	}
	return out
}

// Counts returns how many Sends there were and how many failed.
func (m *MemorySink) Counts() (sends, failures int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sends, m.failures
}

// Overlaps counts Sends that began while another was in progress.
func (m *MemorySink) Overlaps() int { return int(m.overlaps.Load()) }

// Send is one Send a Recorder saw.
type Send struct {
	First, Last uint64 // seqs
	Err         error
}

// Recorder wraps the sinks of successive shippers (one per simulated jit
// process) and logs every Send they make, to check what a shipper did.
type Recorder struct {
	mu    sync.Mutex
	sends []Send
}

// Wrap returns s, logging its Sends in r.
func (r *Recorder) Wrap(s audit.BatchSink) audit.BatchSink { return &recorded{s, r} }

// Sends returns the Sends seen, in order.
func (r *Recorder) Sends() []Send {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sends)
}

// Check reports, as test errors, a shipper that broke its promises: a
// batch not in order, or accepted events delivered again (each successful
// Send must start just after the previous successful one: nothing twice per
// cursor advance).
func (r *Recorder) Check(t testing.TB) {
	t.Helper()
	var next uint64 = 1
	for i, s := range r.Sends() {
		if s.Last < s.First {
			t.Errorf("send %d: seqs %d–%d out of order", i+1, s.First, s.Last)
		}
		if s.First != next {
			t.Errorf("send %d (%v) starts at seq %d, want %d: events after the cursor %s", i+1, s.Err, s.First, next,
				map[bool]string{true: "skipped", false: "sent again after they were accepted"}[s.First > next])
		}
		if s.Err == nil {
			next = s.Last + 1
		}
	}
}

type recorded struct {
	audit.BatchSink
	r *Recorder
}

func (s *recorded) Send(ctx context.Context, batch []audit.Record) error {
	err := s.BatchSink.Send(ctx, batch)
	sd := Send{Err: err}
	if len(batch) > 0 {
		sd.First, sd.Last = batch[0].Seq, batch[len(batch)-1].Seq
		for i := 1; i < len(batch); i++ {
			if batch[i].Seq != batch[i-1].Seq+1 {
				sd.Last = 0 // not consecutive: Check reports it
			}
		}
	}
	s.r.mu.Lock()
	s.r.sends = append(s.r.sends, sd)
	s.r.mu.Unlock()
	return err
}

// KillRestart configures RunKillRestartWith.
type KillRestart struct {
	// Elevations is how many elevations run (1,000 when 0); the sink is
	// stopped before elevation StopAt and started before StartAt (30 % and
	// 70 % of them when 0).
	Elevations, StopAt, StartAt int
	// Timeout bounds one Send (500 ms when 0): a stopped server that
	// accepts connections but does not answer costs that much per run.
	Timeout time.Duration
	// EndEvery journals a session end after every EndEvery-th elevation
	// (10 when 0).
	EndEvery int
	// FlushTimeout bounds the final flush (60 s when 0).
	FlushTimeout time.Duration
}

// RunKillRestart runs 1,000 elevations, each as a separate jit run (a new
// elevation.Service with the fake provider, shipping to a sink newSink
// makes) with the sink stopped (stop) in the middle and started again
// (start) later. Every elevation must succeed: the sink is not required.
// Then a flush delivers what is left, and read returns what the sink holds,
// one journal line per element. It checks that the sink holds every event
// of the journal, in order, none twice except where a failed delivery may
// have been stored anyway, that its copy verifies as a chain, and that the
// shipper never sent accepted events again.
func RunKillRestart(t *testing.T, newSink func() audit.BatchSink, stop, start func(), read func() [][]byte) {
	RunKillRestartWith(t, KillRestart{}, newSink, stop, start, read)
}

// RunKillRestartWith is RunKillRestart with settings.
func RunKillRestartWith(t *testing.T, k KillRestart, newSink func() audit.BatchSink, stop, start func(), read func() [][]byte) {
	t.Helper()
	if k.Elevations <= 0 {
		k.Elevations = 1000
	}
	if k.StopAt <= 0 {
		k.StopAt = k.Elevations * 3 / 10
	}
	if k.StartAt <= 0 {
		k.StartAt = k.Elevations * 7 / 10
	}
	if k.Timeout <= 0 {
		k.Timeout = 500 * time.Millisecond
	}
	if k.EndEvery <= 0 {
		k.EndEvery = 10
	}
	if k.FlushTimeout <= 0 {
		k.FlushTimeout = 60 * time.Second
	}
	dir := t.TempDir()
	journal := filepath.Join(dir, "state", "audit.jsonl")
	prov := &elevationtest.Provider{Principal: providers.Principal{ID: "alice@example.com", Source: "fake"}}
	src := elevationtest.NewSource(elevationtest.Policy)
	rec := &Recorder{}
	const name = "sink under test"
	shipper := func() (*ship.Shipper, error) {
		return ship.New(journal, []ship.Target{{Sink: rec.Wrap(newSink()), Name: name, Type: "test", Timeout: k.Timeout}})
	}
	ctx := context.Background()
	stopped := false
	defer func() {
		if stopped {
			start()
		}
	}()
	for i := range k.Elevations {
		switch i {
		case k.StopAt:
			stop()
			stopped = true
		case k.StartAt:
			start()
			stopped = false
		}
		svc := elevationtest.Service(prov, src, journal)
		svc.UserSinks = []policy.SinkConfig{{Type: "file", Path: "/unused", Name: name}}
		svc.Sinks = func([]policy.SinkConfig) (*ship.Shipper, error) { return shipper() }
		svc.ShipWait = 2*k.Timeout + time.Second
		var warns []string
		svc.Warn = func(s string) { warns = append(warns, s) }
		res, err := svc.Elevate(ctx, elevation.Request{Target: "staging", Reason: fmt.Sprintf("run %d", i), Session: []string{"true"}})
		if err != nil {
			t.Fatalf("elevation %d failed although the sink is not required: %v", i, err)
		}
		if i%k.EndEvery == 0 {
			if err := svc.EndSession(ctx, res, []string{"true"}, 0, time.Millisecond); err != nil {
				t.Fatalf("elevation %d: session end: %v", i, err)
			}
		}
		if err := svc.Close(); err != nil {
			t.Fatalf("elevation %d: close: %v", i, err)
		}
	}
	failedSends := 0
	for _, s := range rec.Sends() {
		if s.Err != nil {
			failedSends++
		}
	}
	if failedSends == 0 {
		t.Errorf("no delivery failed while the sink was stopped: the test proves nothing")
	}

	sh, err := shipper()
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, k.FlushTimeout)
	sts := sh.Flush(fctx, 0, 50*time.Millisecond)
	cancel()
	if err := sh.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if len(sts) != 1 || !sts[0].OK() {
		t.Fatalf("flush left a backlog: %+v", sts)
	}
	rec.Check(t)

	want, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	CheckCopy(t, bytes.SplitAfter(want, []byte("\n")), read(), rec.Sends())
}

// CheckCopy checks a sink's copy (got, one line per element, with or
// without its newline) against the journal's lines: every line, in order;
// a line again only if a failed Send covered it; and the copy verifies as
// a chain (audit.VerifyReader in copy mode).
func CheckCopy(t testing.TB, journal, got [][]byte, sends []Send) {
	t.Helper()
	var want [][]byte
	for _, l := range journal {
		if l = bytes.TrimSuffix(l, []byte("\n")); len(l) > 0 {
			want = append(want, l)
		}
	}
	failedCovers := func(seq uint64) bool {
		for _, s := range sends {
			if s.Err != nil && seq >= s.First && seq <= s.Last {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	next, repeats := 0, 0
	var all bytes.Buffer
	for i, l := range got {
		l = bytes.TrimSuffix(l, []byte("\n"))
		all.Write(l)
		all.WriteByte('\n')
		if seen[string(l)] {
			repeats++
			var e struct {
				Seq uint64 `json:"seq"`
			}
			_ = json.Unmarshal(l, &e)
			if !failedCovers(e.Seq) {
				t.Errorf("sink line %d (seq %d) arrived twice, but no failed delivery covered it", i+1, e.Seq)
			}
			continue
		}
		if next >= len(want) || !bytes.Equal(l, want[next]) {
			t.Fatalf("sink line %d is not journal line %d:\n got %.200s\nwant %.200s", i+1, next+1, l, at(want, next))
		}
		seen[string(l)] = true
		next++
	}
	if next != len(want) {
		t.Fatalf("the sink holds %d of the journal's %d events", next, len(want))
	}
	rep, err := audit.VerifyReader(&all, audit.VerifyOptions{Copy: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Partial || rep.Repeats != repeats || rep.Events-rep.Repeats != len(want) {
		t.Errorf("the sink's copy does not verify: %+v", rep)
	}
	t.Logf("%d events delivered, %d again after failures", len(want), repeats)
}

func at(lines [][]byte, i int) []byte {
	if i < len(lines) {
		return lines[i]
	}
	return []byte("(none)")
}
