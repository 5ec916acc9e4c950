package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// memSink is a sink for the package's own tests (shiptest has the full
// one, but importing it here would be a cycle).
type memSink struct {
	name      string
	mu        sync.Mutex
	lines     [][]byte
	batches   [][2]uint64
	sends     int
	down      bool
	failEvery int
	delay     time.Duration
	inFlight  atomic.Int32
	overlaps  atomic.Int32
	closed    bool
}

var errDown = errors.New("sink is down")

func (m *memSink) Name() string { return m.name }
func (m *memSink) Send(ctx context.Context, batch []audit.Record) error {
	if m.inFlight.Add(1) > 1 {
		m.overlaps.Add(1)
	}
	defer m.inFlight.Add(-1)
	if m.delay > 0 {
		select {
		case <-time.After(m.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sends++
	if m.down || (m.failEvery > 0 && m.sends%m.failEvery == 0) {
		return errDown
	}
	for _, r := range batch {
		if !bytes.Equal(r.Line, bytes.TrimSpace(r.Line)) || r.Event == nil || r.Event.Seq != r.Seq {
			return fmt.Errorf("bad record %+v", r)
		}
		m.lines = append(m.lines, slices.Clone(r.Line))
	}
	m.batches = append(m.batches, [2]uint64{batch[0].Seq, batch[len(batch)-1].Seq})
	return nil
}
func (m *memSink) Close() error { m.closed = true; return nil }
func (m *memSink) setDown(d bool) {
	m.mu.Lock()
	m.down = d
	m.mu.Unlock()
}
func (m *memSink) got() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lines)
}

type fixture struct {
	t       testing.TB
	journal string
	j       *audit.Journal
}

func newFixture(t testing.TB) *fixture {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "audit.jsonl")
	return &fixture{t: t, journal: path, j: audit.OpenJournal(path)}
}

func (f *fixture) append(n int) {
	f.t.Helper()
	for i := range n {
		if err := f.j.Append(&audit.Event{Event: audit.EventRequest, RequestID: fmt.Sprintf("r%d", i), Target: "prod"}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) lines() [][]byte {
	f.t.Helper()
	data, err := os.ReadFile(f.journal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	var out [][]byte
	for l := range bytes.SplitSeq(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		out = append(out, l)
	}
	return out
}

func (f *fixture) shipper(targets ...Target) *Shipper {
	f.t.Helper()
	s, err := New(f.journal, targets)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

func equalLines(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("sink has %d lines, journal %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("line %d differs:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

// checkBatches asserts that successive accepted batches continue exactly
// where the previous one ended: in order, nothing twice.
func checkBatches(t testing.TB, m *memSink) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var next uint64 = 1
	for i, b := range m.batches {
		if b[0] != next || b[1] < b[0] {
			t.Fatalf("batch %d is seqs %d–%d, want it to start at %d", i+1, b[0], b[1], next)
		}
		next = b[1] + 1
	}
}

func TestShipInOrder(t *testing.T) {
	f := newFixture(t)
	f.append(23)
	m := &memSink{name: "mem"}
	s := f.shipper(Target{Sink: m, Type: "test"})
	s.BatchSize = 5
	sts := s.Ship(context.Background())
	if len(sts) != 1 || !sts[0].OK() || sts[0].Sent != 23 || sts[0].Delivered != 23 || sts[0].Last != 23 || sts[0].Name != "mem" {
		t.Fatalf("status %+v", sts)
	}
	if m.sends != 5 {
		t.Errorf("%d sends for 23 events in batches of 5, want 5", m.sends)
	}
	equalLines(t, m.got(), f.lines())
	// Nothing new: nothing sent.
	if st := s.Ship(context.Background())[0]; st.Sent != 0 || m.sends != 5 {
		t.Errorf("second Ship sent %d (%d sends)", st.Sent, m.sends)
	}
	f.append(4)
	if st := s.Ship(context.Background())[0]; st.Sent != 4 || !st.OK() {
		t.Errorf("third Ship = %+v", st)
	}
	equalLines(t, m.got(), f.lines())
	checkBatches(t, m)

	// A new Shipper (the next jit run) resumes from the cursor.
	f.append(3)
	s2 := f.shipper(Target{Sink: m, Name: "mem"})
	if st := s2.Ship(context.Background())[0]; st.Sent != 3 || st.Delivered != 30 {
		t.Errorf("next run = %+v", st)
	}
	equalLines(t, m.got(), f.lines())
	checkBatches(t, m)
}

func TestShipBatchBytes(t *testing.T) {
	f := newFixture(t)
	f.append(10)
	m := &memSink{name: "mem"}
	s := f.shipper(Target{Sink: m})
	s.BatchBytes = 1 // every batch is one line
	s.Ship(context.Background())
	if m.sends != 10 {
		t.Errorf("%d sends, want one per line", m.sends)
	}
	equalLines(t, m.got(), f.lines())
}

func TestShipNoJournalNoSinks(t *testing.T) {
	f := newFixture(t)
	m := &memSink{name: "mem"}
	s := f.shipper(Target{Sink: m})
	if st := s.Ship(context.Background())[0]; !st.OK() || st.Sent != 0 || m.sends != 0 {
		t.Errorf("Ship without a journal = %+v", st)
	}
	// No targets: no I/O at all.
	f = newFixture(t)
	empty := f.shipper()
	if sts := empty.Ship(context.Background()); len(sts) != 0 {
		t.Errorf("Ship without targets = %+v", sts)
	}
	if empty.Flush(context.Background(), 3, time.Second) != nil && len(empty.Flush(context.Background(), 3, time.Second)) != 0 {
		t.Error("Flush without targets returned statuses")
	}
	if err := empty.Require(context.Background(), 5); err != nil {
		t.Errorf("Require without targets = %v", err)
	}
	if _, err := os.Stat(filepath.Dir(f.journal)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a shipper without targets touched the disk: %v", err)
	}
}

// A sink failing every other Send still gets every event, in order, once.
func TestShipFailingEveryOtherCall(t *testing.T) {
	f := newFixture(t)
	m := &memSink{name: "flaky", failEvery: 2}
	s := f.shipper(Target{Sink: m})
	s.BatchSize = 3
	for range 12 {
		f.append(2)
		st := s.Ship(context.Background())[0]
		if st.Err != nil && !errors.Is(st.Err, errDown) {
			t.Fatalf("unexpected error %v", st.Err)
		}
	}
	for range 20 {
		if s.Ship(context.Background())[0].OK() {
			break
		}
	}
	equalLines(t, m.got(), f.lines())
	checkBatches(t, m)
}

func TestBacklogDeliveredOnNextShip(t *testing.T) {
	f := newFixture(t)
	f.append(5)
	m := &memSink{name: "mem", down: true}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := f.shipper(Target{Sink: m, Required: true, Type: "syslog"})
	s.Now = func() time.Time { return now }
	st := s.Ship(context.Background())[0]
	if !errors.Is(st.Err, errDown) || st.Backlog != 5 || st.Delivered != 0 || st.Failures != 1 || st.LastError != errDown.Error() {
		t.Fatalf("status of a down sink = %+v", st)
	}
	now = now.Add(time.Minute)
	st = s.Ship(context.Background())[0]
	if st.Failures != 2 || !st.LastAttempt.Equal(now) || !st.LastSuccess.IsZero() {
		t.Errorf("second failure = %+v", st)
	}
	// The cursor keeps the failure across processes.
	sts, err := f.shipper(Target{Sink: m, Required: true, Type: "syslog"}).Status()
	if err != nil || len(sts) != 1 || sts[0].Failures != 2 || sts[0].Backlog != 5 || !sts[0].Required || sts[0].Type != "syslog" || sts[0].LastError == "" {
		t.Errorf("Status = %+v, %v", sts, err)
	}
	m.setDown(false)
	now = now.Add(time.Minute)
	f.append(1)
	st = s.Ship(context.Background())[0]
	if !st.OK() || st.Sent != 6 || st.Failures != 0 || st.LastError != "" || !st.LastSuccess.Equal(now) {
		t.Errorf("after the sink came back = %+v", st)
	}
	equalLines(t, m.got(), f.lines())
}

// RetryAfter: a sink that failed is not tried again by the same process
// for a while; Require and Flush still try it.
func TestRetryAfter(t *testing.T) {
	f := newFixture(t)
	f.append(2)
	m := &memSink{name: "mem", down: true}
	now := time.Now()
	s := f.shipper(Target{Sink: m})
	s.Now = func() time.Time { return now }
	s.RetryAfter = time.Minute
	s.Ship(context.Background())
	st := s.Ship(context.Background())[0]
	if !st.Skipped || st.Err == nil || m.sends != 1 {
		t.Errorf("second Ship = %+v after %d sends, want skipped", st, m.sends)
	}
	now = now.Add(2 * time.Minute)
	m.setDown(false)
	if st := s.Ship(context.Background())[0]; st.Skipped || !st.OK() {
		t.Errorf("Ship after RetryAfter = %+v", st)
	}
}

func TestFlushBackoff(t *testing.T) {
	f := newFixture(t)
	f.append(4)
	m := &memSink{name: "mem", down: true}
	var slept []time.Duration
	s := f.shipper(Target{Sink: m})
	s.Sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		if len(slept) == 3 {
			m.setDown(false)
		}
		return nil
	}
	sts := s.Flush(context.Background(), 0, 100*time.Millisecond)
	if !sts[0].OK() || sts[0].Sent != 4 {
		t.Errorf("Flush = %+v", sts)
	}
	if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}; !slices.Equal(slept, want) {
		t.Errorf("slept %v, want %v", slept, want)
	}

	// Attempts run out: the backlog is reported; backoff is capped.
	f.append(2)
	m.setDown(true)
	slept = nil
	s.Sleep = func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	sts = s.Flush(context.Background(), 4, 20*time.Second)
	if sts[0].OK() || sts[0].Backlog != 2 || !errors.Is(sts[0].Err, errDown) {
		t.Errorf("Flush with the sink down = %+v", sts)
	}
	if want := []time.Duration{20 * time.Second, MaxBackoff, MaxBackoff}; !slices.Equal(slept, want) {
		t.Errorf("slept %v, want %v", slept, want)
	}

	// A cancelled context ends it.
	ctx, cancel := context.WithCancel(context.Background())
	s.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
	if sts := s.Flush(ctx, 0, time.Second); sts[0].OK() {
		t.Errorf("Flush after cancel = %+v", sts)
	}
}

// Only the failing sinks are tried again.
func TestFlushRetriesFailingOnly(t *testing.T) {
	f := newFixture(t)
	f.append(3)
	good, bad := &memSink{name: "good"}, &memSink{name: "bad", down: true}
	s := f.shipper(Target{Sink: good}, Target{Sink: bad})
	n := 0
	s.Sleep = func(context.Context, time.Duration) error {
		if n++; n == 2 {
			bad.setDown(false)
		}
		return nil
	}
	sts := s.Flush(context.Background(), 0, time.Millisecond)
	if !sts[0].OK() || !sts[1].OK() || sts[0].Sent != 3 || sts[1].Sent != 3 {
		t.Errorf("Flush = %+v", sts)
	}
	if good.sends != 1 || bad.sends != 3 {
		t.Errorf("sends good %d bad %d, want 1 and 3", good.sends, bad.sends)
	}
}

func TestCursorProblems(t *testing.T) {
	setup := func(t *testing.T) (*fixture, *memSink, *Shipper) {
		f := newFixture(t)
		f.append(6)
		m := &memSink{name: "mem"}
		s := f.shipper(Target{Sink: m})
		if st := s.Ship(context.Background())[0]; !st.OK() {
			t.Fatal(st.Err)
		}
		return f, m, s
	}
	cursorFile := func(s *Shipper) string { return filepath.Join(s.cursorDir(), cursorID("mem")+".cursor") }

	t.Run("corrupt", func(t *testing.T) {
		f, m, s := setup(t)
		f.append(2)
		if err := os.WriteFile(cursorFile(s), bytes.Repeat([]byte("x"), fileSize), 0o600); err != nil {
			t.Fatal(err)
		}
		before := m.sends
		s2 := f.shipper(Target{Sink: m})
		st := s2.Ship(context.Background())[0]
		if st.Err == nil || !strings.Contains(st.Err.Error(), "no slot with a valid checksum") || m.sends != before {
			t.Errorf("Ship with a corrupt cursor = %+v (%d sends)", st, m.sends-before)
		}
		if data, _ := os.ReadFile(cursorFile(s)); !bytes.Equal(data, bytes.Repeat([]byte("x"), fileSize)) {
			t.Error("the corrupt cursor was rewritten")
		}
		if err := f.shipper(Target{Sink: m, Required: true}).Require(context.Background(), 1); err == nil {
			t.Error("Require passed with a corrupt cursor")
		}
		sts, err := s2.Status()
		if err != nil || sts[0].Err == nil || !strings.Contains(sts[0].LastError, "remove it") {
			t.Errorf("Status = %+v, %v", sts, err)
		}
	})
	t.Run("one slot torn", func(t *testing.T) {
		f, m, s := setup(t)
		// Tear the newest slot: the older one still holds a cursor, from
		// which delivery resumes (events again, at least once).
		data, _ := os.ReadFile(cursorFile(s))
		_, slot, err := parseCursor(data)
		if err != nil {
			t.Fatal(err)
		}
		data[slot*slotSize+10] ^= 1
		if err := os.WriteFile(cursorFile(s), data, 0o600); err != nil {
			t.Fatal(err)
		}
		f.append(1)
		st := f.shipper(Target{Sink: m}).Ship(context.Background())[0]
		if !st.OK() || st.Delivered != 7 {
			t.Errorf("Ship after a torn slot = %+v", st)
		}
	})
	t.Run("ahead of the journal", func(t *testing.T) {
		f, m, _ := setup(t)
		// The journal is moved aside and a new one started.
		if err := os.Rename(f.journal, f.journal+".old"); err != nil {
			t.Fatal(err)
		}
		os.Remove(f.journal + ".head")
		f.append(3)
		st := f.shipper(Target{Sink: m}).Ship(context.Background())[0]
		if st.Err == nil || !strings.Contains(st.Err.Error(), "up to seq 6 but the journal ends at seq 3") || st.Failures != 1 {
			t.Errorf("Ship = %+v", st)
		}
	})
	t.Run("hash differs", func(t *testing.T) {
		f, m, _ := setup(t)
		if err := os.Rename(f.journal, f.journal+".old"); err != nil {
			t.Fatal(err)
		}
		os.Remove(f.journal + ".head")
		f.append(8)
		st := f.shipper(Target{Sink: m}).Ship(context.Background())[0]
		if st.Err == nil || !strings.Contains(st.Err.Error(), "event seq 6 is not the one this sink received") {
			t.Errorf("Ship = %+v", st)
		}
		if len(m.got()) != 6 {
			t.Errorf("the sink got %d lines of another journal", len(m.got())-6)
		}
	})
	t.Run("offsets do not line up", func(t *testing.T) {
		f, m, s := setup(t)
		// The same events at other offsets (a journal copied with a line
		// of its own before): found by reading from the start.
		data, _ := os.ReadFile(cursorFile(s))
		c, _, _ := parseCursor(data)
		c.Start, c.Offset = 3, 40
		b, _ := appendSlot(nil, c)
		if err := os.WriteFile(cursorFile(s), append(b, b...), 0o600); err != nil {
			t.Fatal(err)
		}
		f.append(2)
		st := f.shipper(Target{Sink: m}).Ship(context.Background())[0]
		if !st.OK() || st.Sent != 2 {
			t.Errorf("Ship = %+v", st)
		}
		equalLines(t, m.got(), f.lines())
	})
	t.Run("journal damaged after the cursor", func(t *testing.T) {
		f, m, _ := setup(t)
		f.append(2)
		data, _ := os.ReadFile(f.journal)
		lines := bytes.SplitAfter(data, []byte("\n"))
		// Drop seq 7.
		data = bytes.Join(append(lines[:6:6], lines[7:]...), nil)
		if err := os.WriteFile(f.journal, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st := f.shipper(Target{Sink: m}).Ship(context.Background())[0]
		if st.Err == nil || !strings.Contains(st.Err.Error(), "does not follow seq 6") || len(m.got()) != 6 {
			t.Errorf("Ship = %+v, sink %d lines", st, len(m.got()))
		}
	})
}

func TestCursorFiles(t *testing.T) {
	f := newFixture(t)
	f.append(2)
	s := f.shipper(Target{Sink: &memSink{name: "syslog tcp://127.0.0.1:6514"}})
	s.Ship(context.Background())
	dir := f.journal + ".cursors"
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cursor dir: %v %v", fi, err)
	}
	id := cursorID("syslog tcp://127.0.0.1:6514")
	if len(id) != 16 {
		t.Errorf("id %q", id)
	}
	for _, name := range []string{id + ".cursor", id + ".lock"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, id+".cursor"))
	c, _, err := parseCursor(data)
	if err != nil || c.Sink != "syslog tcp://127.0.0.1:6514" || c.Seq != 2 || c.Offset != int64(len(must(os.ReadFile(f.journal)))) {
		t.Errorf("cursor %+v, %v", c, err)
	}
	// A cursor of another name under this id (a collision, or a file put
	// there) is refused.
	s2 := f.shipper(Target{Sink: &memSink{name: "x"}})
	s2.CursorDir = dir
	if err := os.WriteFile(filepath.Join(dir, cursorID("x")+".cursor"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := s2.Ship(context.Background())[0]; st.Err == nil || !strings.Contains(st.Err.Error(), "belongs to sink") {
		t.Errorf("Ship with another sink's cursor = %+v", st)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Two shippers (two jit processes) on one journal never deliver to one
// sink at the same time, and never deliver an event twice.
func TestConcurrentShippers(t *testing.T) {
	f := newFixture(t)
	m := &memSink{name: "shared", delay: 200 * time.Microsecond}
	var wg sync.WaitGroup
	var busy atomic.Int32
	for w := range 4 {
		s := f.shipper(Target{Sink: m})
		s.BatchSize = 3
		j := audit.OpenJournal(f.journal)
		wg.Go(func() {
			for i := range 25 {
				if err := j.Append(&audit.Event{Event: audit.EventRequest, RequestID: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
				if st := s.Ship(context.Background())[0]; st.Busy {
					busy.Add(1)
				} else if st.Err != nil {
					t.Error(st.Err)
				}
			}
		})
	}
	wg.Wait()
	if o := m.overlaps.Load(); o != 0 {
		t.Errorf("%d sends overlapped", o)
	}
	// Busy shippers left events to the others; the last word goes to a
	// final run.
	f.shipper(Target{Sink: m}).Ship(context.Background())
	equalLines(t, m.got(), f.lines())
	checkBatches(t, m)
	t.Logf("%d ships found the sink busy", busy.Load())
}

func TestRequire(t *testing.T) {
	f := newFixture(t)
	f.append(3)
	req, opt := &memSink{name: "req", down: true}, &memSink{name: "opt", down: true}
	s := f.shipper(Target{Sink: req, Required: true}, Target{Sink: opt})
	err := s.Require(context.Background(), 3)
	var re *RequiredError
	if !errors.As(err, &re) || !slices.Equal(re.Names(), []string{"req"}) || !errors.Is(err, errDown) || re.Seq != 3 {
		t.Fatalf("Require with the required sink down = %v", err)
	}
	if !strings.Contains(err.Error(), "required audit sink did not accept the events up to seq 3: req: sink is down") {
		t.Errorf("message %q", err)
	}
	if opt.sends != 0 {
		t.Error("Require delivered to a sink that is not required")
	}
	req.setDown(false)
	if err := s.Require(context.Background(), 3); err != nil {
		t.Fatalf("Require with the sink up = %v", err)
	}
	if len(req.got()) != 3 {
		t.Errorf("required sink has %d events", len(req.got()))
	}
	// Already delivered: no send.
	n := req.sends
	if err := s.Require(context.Background(), 2); err != nil || req.sends != n {
		t.Errorf("Require of delivered events = %v, %d sends", err, req.sends-n)
	}
}

// Require waits for another shipper that is delivering to the sink, and
// gives up on one that makes no progress.
func TestRequireWaitsForLock(t *testing.T) {
	f := newFixture(t)
	f.append(30)
	slow := &memSink{name: "slow", delay: 20 * time.Millisecond}
	other := f.shipper(Target{Sink: slow, Required: true})
	other.BatchSize = 1
	started := make(chan struct{})
	done := make(chan Status)
	go func() {
		close(started)
		done <- other.Ship(context.Background())[0]
	}()
	<-started
	time.Sleep(5 * time.Millisecond)
	s := f.shipper(Target{Sink: slow, Required: true, Timeout: 200 * time.Millisecond})
	if err := s.Require(context.Background(), 30); err != nil {
		t.Errorf("Require while another shipper delivers = %v", err)
	}
	<-done
	if slow.overlaps.Load() != 0 {
		t.Error("sends overlapped")
	}
	equalLines(t, slow.got(), f.lines())

	// A holder that does not progress: Require gives up after the timeout.
	f.append(1)
	stuck := &memSink{name: "stuck", delay: time.Second}
	holder := f.shipper(Target{Sink: stuck, Timeout: 5 * time.Second})
	go holder.Ship(context.Background())
	time.Sleep(20 * time.Millisecond)
	s2 := f.shipper(Target{Sink: stuck, Required: true, Timeout: 100 * time.Millisecond})
	start := time.Now()
	err := s2.Require(context.Background(), 31)
	if err == nil || !strings.Contains(err.Error(), "without progress") {
		t.Errorf("Require with a stuck holder = %v", err)
	}
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("Require waited %v", d)
	}
}

func TestSendTimeout(t *testing.T) {
	f := newFixture(t)
	f.append(1)
	hang := &memSink{name: "hang", delay: time.Minute}
	s := f.shipper(Target{Sink: hang, Timeout: 50 * time.Millisecond})
	start := time.Now()
	st := s.Ship(context.Background())[0]
	if !errors.Is(st.Err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Ship to a hanging sink = %+v after %v", st, time.Since(start))
	}
}

func TestNewChecksNames(t *testing.T) {
	m := &memSink{name: "a"}
	if _, err := New("j", []Target{{Sink: m}, {Sink: &memSink{name: "a"}}}); err == nil || !strings.Contains(err.Error(), `two audit sinks are named "a"`) {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := New("j", []Target{{Sink: m}, {Sink: m, Name: "b"}}); err != nil {
		t.Errorf("distinct names: %v", err)
	}
	if _, err := New("j", []Target{{}}); err == nil {
		t.Error("target without a sink accepted")
	}
	if _, err := New("j", []Target{{Sink: &memSink{name: " "}}}); err == nil {
		t.Error("blank name accepted")
	}
}

func TestSinkName(t *testing.T) {
	for _, tt := range []struct {
		c    policy.SinkConfig
		want string
	}{
		{policy.SinkConfig{Type: "file", Path: "/var/log/jit/audit.jsonl"}, "file /var/log/jit/audit.jsonl"},
		{policy.SinkConfig{Type: "syslog", Address: "tcp://127.0.0.1:6514", TLS: true}, "syslog tcp://127.0.0.1:6514"},
		{policy.SinkConfig{Type: "http", URL: "https://user:pw@siem.example.com/services/collector?token=x#f"}, "http https://siem.example.com/services/collector"},
		{policy.SinkConfig{Type: "s3", Bucket: "audit", Prefix: "jit/"}, "s3 audit/jit/"},
		{policy.SinkConfig{Type: "s3", Bucket: "audit", Name: "archive"}, "archive"},
	} {
		if got := SinkName(tt.c); got != tt.want {
			t.Errorf("SinkName(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestTargets(t *testing.T) {
	built := 0
	build := func(c policy.SinkConfig) (audit.BatchSink, error) {
		built++
		if c.Type == "http" {
			return nil, errors.New("token_env SPLUNK_TOKEN is not set")
		}
		return &memSink{name: SinkName(c)}, nil
	}
	ts, err := Targets([]policy.SinkConfig{
		{Type: "file", Path: "/a"},
		{Type: "http", URL: "https://siem/x", Required: true},
		{Type: "file", Path: "/a", Required: true, Timeout: time.Second, Line: 9}, // the user's copy of the policy's sink
		{Type: "syslog", Address: "udp://127.0.0.1:514"},
	}, build)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || built != 3 {
		t.Fatalf("targets %+v (%d built)", ts, built)
	}
	if ts[0].Name != "file /a" || !ts[0].Required || ts[0].Timeout != time.Second || ts[0].Type != "file" {
		t.Errorf("merged target %+v", ts[0])
	}
	fs, ok := ts[1].Sink.(*Failing)
	if !ok || !ts[1].Required || fs.Send(context.Background(), nil) == nil || !strings.Contains(fs.Err.Error(), "SPLUNK_TOKEN") || fs.Name() != "http https://siem/x" {
		t.Errorf("unbuildable sink %+v", ts[1])
	}
	if _, err := Targets([]policy.SinkConfig{{Type: "file", Path: "/a", Name: "x"}, {Type: "file", Path: "/b", Name: "x"}}, build); err == nil ||
		!strings.Contains(err.Error(), `#1 and #2 are both named "x"`) {
		t.Errorf("differing sinks with one name: %v", err)
	}
	ts, _ = Targets([]policy.SinkConfig{{Type: "carrier-pigeon"}}, func(policy.SinkConfig) (audit.BatchSink, error) { return nil, nil })
	if err := ts[0].Sink.Send(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("unknown type: %v", err)
	}
}

func TestCursorSlotRoundTrip(t *testing.T) {
	c := cursor{Sink: "http https://siem.example.com/x", Type: "http", Seq: 42, Hash: strings.Repeat("ab", 32), Start: 100, Offset: 612,
		Failures: 3, LastError: strings.Repeat("é<>\x01", 500), LastAttempt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Gen: 7}
	b, err := appendSlot(nil, c)
	if err != nil || len(b) != slotSize {
		t.Fatalf("appendSlot: %d bytes, %v", len(b), err)
	}
	got, ok := parseSlot(b)
	if !ok || got.Seq != 42 || got.Gen != 7 || !strings.HasSuffix(got.LastError, "…") || len(got.LastError) > maxErrorLen {
		t.Errorf("round trip = %+v, %v", got, ok)
	}
	// Two slots: the higher gen wins; either alone will do.
	c2 := got
	c2.Gen, c2.Seq = 8, 43
	b2, _ := appendSlot(nil, c2)
	for _, data := range [][]byte{append(slices.Clone(b), b2...), append(slices.Clone(b2), b...)} {
		cur, _, err := parseCursor(data)
		if err != nil || cur.Seq != 43 {
			t.Errorf("parseCursor = %+v, %v", cur, err)
		}
	}
	torn := append(slices.Clone(b), b2...)
	torn[slotSize+20] ^= 0x40
	if cur, slot, err := parseCursor(torn); err != nil || cur.Seq != 42 || slot != 0 {
		t.Errorf("torn newer slot: %+v %d %v", cur, slot, err)
	}
	for name, bad := range map[string]cursor{
		"no name":        {Seq: 1, Hash: c.Hash, Start: 0, Offset: 1},
		"seq, no hash":   {Sink: "x", Seq: 1, Offset: 1},
		"hash, no seq":   {Sink: "x", Hash: c.Hash},
		"empty line":     {Sink: "x", Seq: 1, Hash: c.Hash, Start: 5, Offset: 5},
		"negative fails": {Sink: "x", Failures: -1},
	} {
		b, _ := appendSlot(nil, bad)
		if _, ok := parseSlot(b); ok {
			t.Errorf("%s: invalid cursor accepted", name)
		}
	}
}

// Names and errors of any length and content fit a slot, or are refused:
// never an endless shortening.
func TestCursorLongContent(t *testing.T) {
	ctl := strings.Repeat("\x01", 1000)
	for _, c := range []cursor{
		{Sink: strings.Repeat("n", 5000), LastError: strings.Repeat("e", 5000)},
		{Sink: "s", LastError: ctl},
		{Sink: ctl[:300], LastError: ctl},
	} {
		b, err := appendSlot(nil, c)
		if err != nil {
			if !strings.Contains(err.Error(), "shorter name") {
				t.Errorf("appendSlot: %v", err)
			}
			continue
		}
		got, ok := parseSlot(b)
		if !ok || got.Sink != storedName(c.Sink) {
			t.Errorf("round trip of a long cursor: %v %q", ok, got.Sink)
		}
	}
	if _, err := appendSlot(nil, cursor{Sink: ctl[:600]}); err == nil {
		t.Error("a name that cannot fit was accepted")
	}
	// A long name keys its cursor by the whole name, and is recognised.
	f := newFixture(t)
	f.append(2)
	long := strings.Repeat("syslog ", 200)
	s := f.shipper(Target{Sink: &memSink{name: long}})
	for range 2 {
		if st := s.Ship(context.Background())[0]; st.Err != nil {
			t.Fatal(st.Err)
		}
	}
	if sts, err := s.Status(); err != nil || sts[0].Delivered != 2 {
		t.Errorf("status %+v %v", sts, err)
	}
}

func FuzzParseCursor(f *testing.F) {
	c := cursor{Sink: "s", Seq: 3, Hash: strings.Repeat("0", 64), Start: 10, Offset: 20, Gen: 2, LastError: "x"}
	b, _ := appendSlot(nil, c)
	f.Add(append(slices.Clone(b), b...))
	f.Add(b)
	f.Add(bytes.Repeat([]byte(" "), fileSize))
	f.Add([]byte(`{"sink":"s","seq":0,"hash":"","start":0,"offset":0,"failures":0,"gen":0,"crc":"00000000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cur, slot, err := parseCursor(data)
		if err != nil {
			return
		}
		if slot < 0 || slot >= slots || cur.valid() != nil {
			t.Fatalf("parseCursor accepted %+v in slot %d", cur, slot)
		}
		again, err := appendSlot(nil, cur)
		if err != nil || !bytes.Equal(again, data[slot*slotSize:(slot+1)*slotSize]) {
			t.Fatalf("slot %d does not re-encode to itself", slot)
		}
	})
}
