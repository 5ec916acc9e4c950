// Package ship delivers the audit journal to sinks: every event, exactly as
// journaled, in order, at least once, with a cursor per sink kept beside
// the journal. The journal is the record; shipping copies it, so a sink
// that is down loses nothing: its backlog waits in the journal and is
// delivered by the next run or by `jit audit flush`.
package ship

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

// Defaults of a Shipper and its targets.
const (
	// DefaultTimeout bounds one Send of a target without its own Timeout.
	DefaultTimeout = 2 * time.Second
	// DefaultBatchSize and DefaultBatchBytes bound one batch.
	DefaultBatchSize  = 500
	DefaultBatchBytes = 1 << 20
	// MaxBackoff caps the wait between two Flush attempts.
	MaxBackoff = 30 * time.Second
	// maxLine bounds a journal line read while shipping (as the journal does).
	maxLine = 16 << 20
	// pollEvery is how often Require looks again at a sink another process
	// or goroutine is delivering to.
	pollEvery = 2 * time.Millisecond
)

// Target is one sink to deliver to.
type Target struct {
	Sink audit.BatchSink
	// Name keys the sink's cursor and names it in messages; Sink.Name()
	// when empty. Two targets of a Shipper may not share a name.
	Name string
	// Type is the sink type (file, syslog, http, s3), for status.
	Type string
	// Required marks a sink that must accept the request and grant events
	// before credentials are released (see Shipper.Require).
	Required bool
	// Timeout bounds one Send; DefaultTimeout when 0.
	Timeout time.Duration
}

func (t *Target) name() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Sink.Name()
}

func (t *Target) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return DefaultTimeout
}

// Shipper delivers the journal to its targets. Set its fields, then use it
// from any number of goroutines; Close it when done. Two Shippers, in one
// process or two, never deliver to the same sink at once: each sink's
// cursor has a lock, and a Shipper that finds it taken leaves that sink's
// backlog to the holder.
type Shipper struct {
	// Journal is the journal file.
	Journal string
	// CursorDir holds the cursors; Journal + ".cursors" when empty. It is
	// created, with mode 0700, by the first delivery.
	CursorDir string
	Targets   []Target
	// BatchSize and BatchBytes bound one Send; the defaults when 0.
	BatchSize  int
	BatchBytes int
	// RetryAfter keeps Ship from trying again, for this long, a target that
	// failed in an earlier Ship of this Shipper, so that a sink that hangs
	// costs one timeout per process rather than one per event. Require and
	// Flush always try. 0 always tries.
	RetryAfter time.Duration
	// Now and Sleep replace time.Now and a context-aware time.Sleep.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Warn, if not nil, receives one-line notes that change nothing.
	Warn func(string)

	once    sync.Once
	initErr error
	states  []*state
}

// New returns a shipper of journal to targets, checking that their names
// are unique. It does no I/O.
func New(journal string, targets []Target) (*Shipper, error) {
	s := &Shipper{Journal: journal, Targets: targets}
	if _, err := s.init(); err != nil {
		return nil, err
	}
	return s, nil
}

// Status is where delivery to one sink stands.
type Status struct {
	Name     string
	Type     string
	Required bool
	// Delivered is the seq of the last event the sink accepted, Last the
	// seq of the journal's last event, Backlog the events in between.
	Delivered uint64
	Last      uint64
	Backlog   uint64
	// LastError, LastAttempt, LastSuccess and Failures (consecutive) come
	// from the cursor: they survive the process.
	LastError   string
	LastAttempt time.Time
	LastSuccess time.Time
	Failures    int
	// Cursor is the cursor file.
	Cursor string
	// Sent counts the events this call delivered.
	Sent int
	// Busy: another process or goroutine was delivering to the sink, so
	// this call left its backlog to it.
	Busy bool
	// Skipped: the sink failed moments ago in this process (RetryAfter),
	// so this call did not try it.
	Skipped bool
	// Err is why this call did not deliver the whole backlog (nil when it
	// did, or when Busy). A cursor that does not match the journal is an
	// error here too, never silently reset.
	Err error
}

// OK reports whether the sink has accepted the whole journal.
func (st *Status) OK() bool { return st.Err == nil && st.Backlog == 0 && !st.Busy }

// state is a target and its files, kept open across deliveries.
type state struct {
	t       Target
	name    string
	id      string
	timeout time.Duration
	// sem excludes the goroutines of this process (flock cannot: they share
	// lockF's open file description).
	sem chan struct{}

	// Guarded by sem:
	lockF *os.File
	curF  *os.File
	slot  int
	buf   []byte

	mu       sync.Mutex
	failedAt time.Time // the last failure in this process; zero after a success
	lastErr  error
}

func (st *state) failure() (time.Time, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.failedAt, st.lastErr
}

func (st *state) setFailure(at time.Time, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.failedAt, st.lastErr = at, err
}

func (s *Shipper) init() ([]*state, error) {
	s.once.Do(func() {
		seen := map[string]bool{}
		for i := range s.Targets {
			t := s.Targets[i]
			if t.Sink == nil {
				s.initErr = fmt.Errorf("audit sink #%d has no sink", i+1)
				return
			}
			name := t.name()
			if strings.TrimSpace(name) == "" {
				s.initErr = fmt.Errorf("audit sink #%d has no name", i+1)
				return
			}
			if seen[name] {
				s.initErr = fmt.Errorf("two audit sinks are named %q: give each a distinct name (key name:)", name)
				return
			}
			seen[name] = true
			s.states = append(s.states, &state{
				t: t, name: name, id: cursorID(name), timeout: t.timeout(),
				sem: make(chan struct{}, 1), slot: -1,
			})
		}
	})
	return s.states, s.initErr
}

func (s *Shipper) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Shipper) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Shipper) cursorDir() string {
	if s.CursorDir != "" {
		return s.CursorDir
	}
	return s.Journal + ".cursors"
}

func (s *Shipper) cursorPath(st *state) string {
	return filepath.Join(s.cursorDir(), st.id+".cursor")
}

// Len is the number of targets.
func (s *Shipper) Len() int { return len(s.Targets) }

// HasRequired reports whether any target is required.
func (s *Shipper) HasRequired() bool {
	for _, t := range s.Targets {
		if t.Required {
			return true
		}
	}
	return false
}

// Ship delivers each target's backlog once, the targets in parallel, each
// as far as it gets before ctx ends; it never stops early because one sink
// fails. A target that another process is delivering to is skipped (Busy):
// that process delivers it.
func (s *Shipper) Ship(ctx context.Context) []Status {
	return s.each(ctx, func(st *state) Status {
		if at, err := st.failure(); s.RetryAfter > 0 && !at.IsZero() && s.now().Sub(at) < s.RetryAfter {
			out := s.peek(st)
			out.Skipped, out.Err = true, err
			return out
		}
		return s.deliver(ctx, st, false)
	}, nil)
}

// each runs f for every target (or those pick selects), in parallel.
func (s *Shipper) each(ctx context.Context, f func(*state) Status, pick func(int) bool) []Status {
	states, err := s.init()
	if err != nil {
		out := make([]Status, len(s.Targets))
		for i := range out {
			out[i] = Status{Name: s.Targets[i].Name, Type: s.Targets[i].Type, Required: s.Targets[i].Required, Err: err}
		}
		return out
	}
	out := make([]Status, len(states))
	var todo []int
	for i := range states {
		if pick == nil || pick(i) {
			todo = append(todo, i)
		}
	}
	if len(todo) == 1 {
		out[todo[0]] = f(states[todo[0]])
		return out
	}
	var wg sync.WaitGroup
	for _, i := range todo {
		wg.Go(func() { out[i] = f(states[i]) })
	}
	wg.Wait()
	return out
}

// deliver ships st's backlog, waiting for its lock when wait is set (as
// long as ctx allows and whoever holds it makes progress).
func (s *Shipper) deliver(ctx context.Context, st *state, wait bool) Status {
	got, err := s.acquire(ctx, st, wait)
	if err != nil {
		out := s.peek(st)
		out.Err = err
		return out
	}
	if !got {
		out := s.peek(st)
		out.Busy = true
		return out
	}
	defer s.release(st)
	out := s.shipLocked(ctx, st)
	if out.Err != nil {
		st.setFailure(s.now(), out.Err)
	} else {
		st.setFailure(time.Time{}, nil)
	}
	return out
}

// acquire takes st's in-process semaphore and its file lock. Without wait
// it tries once; with wait it polls until it gets them, ctx ends, or the
// holder makes no progress for the target's timeout.
func (s *Shipper) acquire(ctx context.Context, st *state, wait bool) (bool, error) {
	var progress uint64
	var at time.Time
	if wait {
		at = s.now()
		if c, err := s.readCursor(st); err == nil {
			progress = c.Seq
		}
	}
	for {
		select {
		case st.sem <- struct{}{}:
			ok, err := s.lockFile(st)
			if ok {
				return true, nil
			}
			<-st.sem
			if err != nil {
				return false, err
			}
		default:
		}
		if !wait {
			return false, nil
		}
		if c, err := s.readCursor(st); err == nil && c.Seq != progress {
			progress, at = c.Seq, s.now()
		}
		// A holder's Send may take the whole timeout; a little more
		// tells a slow delivery from a stuck one.
		if s.now().Sub(at) > st.timeout+st.timeout/2 {
			return false, fmt.Errorf("another jit process has been delivering to audit sink %s for over %s without progress", st.name, st.timeout)
		}
		if err := s.sleep(ctx, pollEvery); err != nil {
			return false, fmt.Errorf("audit sink %s: waiting for another jit process to deliver: %w", st.name, err)
		}
	}
}

// lockFile takes st's file lock without waiting. Called holding sem.
func (s *Shipper) lockFile(st *state) (bool, error) {
	if st.lockF == nil {
		if err := mkdirPrivate(s.cursorDir()); err != nil {
			return false, fmt.Errorf("audit sink cursors: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(s.cursorDir(), st.id+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return false, fmt.Errorf("audit sink %s: lock: %w", st.name, err)
		}
		st.lockF = f
	}
	ok, err := tryLock(st.lockF)
	if err != nil {
		return false, fmt.Errorf("audit sink %s: lock: %w", st.name, err)
	}
	return ok, nil
}

func (s *Shipper) release(st *state) {
	if st.lockF != nil {
		_ = unlock(st.lockF)
	}
	<-st.sem
}

func mkdirPrivate(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	return os.MkdirAll(dir, 0o700)
}

// readCursor reads st's cursor without its lock: the slots make a read
// racing a write safe. A sink without a cursor file has delivered nothing.
func (s *Shipper) readCursor(st *state) (cursor, error) {
	data, err := os.ReadFile(s.cursorPath(st))
	if errors.Is(err, fs.ErrNotExist) {
		return cursor{Sink: st.name, Type: st.t.Type}, nil
	}
	if err != nil {
		return cursor{}, fmt.Errorf("read cursor: %w", err)
	}
	c, _, err := parseCursor(data)
	if err != nil {
		return cursor{}, fmt.Errorf("cursor %s %v: delivery to this sink stops until it is repaired; remove it to deliver the whole journal again", s.cursorPath(st), err)
	}
	if c.Sink != storedName(st.name) {
		return cursor{}, fmt.Errorf("cursor %s belongs to sink %q, not %q", s.cursorPath(st), c.Sink, st.name)
	}
	c.Sink = st.name
	return c, nil
}

// loadCursor opens (creating if need be) and reads st's cursor. Called
// holding st's lock.
func (s *Shipper) loadCursor(st *state) (cursor, error) {
	path := s.cursorPath(st)
	if st.curF == nil {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			if err := createCursor(path, cursor{Sink: st.name, Type: st.t.Type}); err != nil {
				return cursor{}, err
			}
			f, err = os.OpenFile(path, os.O_RDWR, 0)
		}
		if err != nil {
			return cursor{}, fmt.Errorf("open cursor: %w", err)
		}
		st.curF = f
	}
	if cap(st.buf) < fileSize {
		st.buf = make([]byte, fileSize)
	}
	buf := st.buf[:fileSize]
	n, err := st.curF.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return cursor{}, fmt.Errorf("read cursor %s: %w", path, err)
	}
	c, slot, err := parseCursor(buf[:n])
	if err != nil {
		return cursor{}, fmt.Errorf("cursor %s %v: delivery to this sink stops until it is repaired; remove it to deliver the whole journal again", path, err)
	}
	if c.Sink != storedName(st.name) {
		return cursor{}, fmt.Errorf("cursor %s belongs to sink %q, not %q", path, c.Sink, st.name)
	}
	c.Sink = st.name
	st.slot = slot
	return c, nil
}

// saveCursor writes c to the slot that does not hold the current cursor.
func (s *Shipper) saveCursor(st *state, c *cursor) error {
	c.Gen++
	b, err := appendSlot(st.buf[:0], *c)
	if err != nil {
		return err
	}
	slot := 1 - st.slot
	if _, err := st.curF.WriteAt(b, int64(slot*slotSize)); err != nil {
		return fmt.Errorf("write cursor %s: %w", s.cursorPath(st), err)
	}
	st.slot = slot
	return nil
}

// createCursor writes a new cursor file atomically (and durably: it is
// created once per sink).
func createCursor(path string, c cursor) error {
	b, err := appendSlot(nil, c)
	if err != nil {
		return err
	}
	b = append(b, b...)
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // a stale one could carry a wider mode
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create cursor: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("create cursor %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// peek is st's status from its cursor, without delivering.
func (s *Shipper) peek(st *state) Status {
	out := Status{Name: st.name, Type: st.t.Type, Required: st.t.Required, Cursor: s.cursorPath(st)}
	c, err := s.readCursor(st)
	if err != nil {
		out.Err, out.LastError = err, err.Error()
	} else {
		out.fill(&c)
	}
	if last, err := LastSeq(s.Journal); err == nil {
		out.Last = last
		if err == nil && out.Err == nil && last > out.Delivered {
			out.Backlog = last - out.Delivered
		}
	}
	return out
}

func (st *Status) fill(c *cursor) {
	st.Delivered, st.LastError, st.LastAttempt, st.LastSuccess, st.Failures = c.Seq, c.LastError, c.LastAttempt, c.LastSuccess, c.Failures
}

// shipLocked delivers st's backlog. Called holding st's lock.
func (s *Shipper) shipLocked(ctx context.Context, st *state) Status {
	out := Status{Name: st.name, Type: st.t.Type, Required: st.t.Required, Cursor: s.cursorPath(st)}
	c, err := s.loadCursor(st)
	if err != nil {
		out.Err, out.LastError = err, err.Error()
		out.Last, _ = LastSeq(s.Journal)
		return out
	}
	fail := func(err error) Status {
		c.Failures++
		c.LastError, c.LastAttempt = oneLine(err.Error()), s.now().UTC()
		if serr := s.saveCursor(st, &c); serr != nil {
			err = errors.Join(err, serr)
		}
		out.fill(&c)
		out.Err = err
		if last, lerr := LastSeq(s.Journal); lerr == nil {
			out.Last = last
			if last > c.Seq {
				out.Backlog = last - c.Seq
			}
		}
		return out
	}
	b, err := openBacklog(s.Journal, &c)
	if err != nil {
		return fail(err)
	}
	if b == nil { // no journal yet
		out.fill(&c)
		return out
	}
	defer b.close()
	size, maxBytes := s.BatchSize, s.BatchBytes
	if size <= 0 {
		size = DefaultBatchSize
	}
	if maxBytes <= 0 {
		maxBytes = DefaultBatchBytes
	}
	for {
		batch, end, err := b.next(size, maxBytes)
		if err != nil {
			return fail(err)
		}
		if len(batch) == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("%s: %w", st.name, err))
		}
		sctx, cancel := context.WithTimeout(ctx, st.timeout)
		err = st.t.Sink.Send(sctx, batch)
		cancel()
		if err != nil {
			b.rewind()
			return fail(err)
		}
		lastRec := batch[len(batch)-1]
		c.Seq, c.Hash, c.Start, c.Offset = lastRec.Seq, lastRec.Event.Hash, end.start, end.end
		now := s.now().UTC()
		c.LastAttempt, c.LastSuccess, c.Failures, c.LastError = now, now, 0, ""
		out.Sent += len(batch)
		if err := s.saveCursor(st, &c); err != nil {
			return fail(err)
		}
	}
	out.fill(&c)
	out.Last = b.lastSeq
	return out
}

// span is the byte range of a journal line, newline included.
type span struct{ start, end int64 }

// backlog reads the journal's lines after a cursor.
type backlog struct {
	f       *os.File
	r       *bufio.Reader
	off     int64 // offset of the next line to read
	size    int64
	lastSeq uint64 // seq and hash of the last line read
	lastH   string
	// mark is the state before the batch last read, for rewind.
	mark struct {
		off  int64
		seq  uint64
		hash string
	}
}

// openBacklog opens the journal and finds where the backlog after c
// starts: c.Offset, when the line before it is the event c names;
// otherwise (the journal was moved, rewritten or replaced) by reading the
// journal from its start. A cursor ahead of the journal, or naming another
// event at its seq, is an error. It returns nil when there is no journal.
func openBacklog(path string, c *cursor) (*backlog, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if c.Seq > 0 {
			return nil, fmt.Errorf("the sink has events up to seq %d, but there is no journal at %s", c.Seq, path)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open audit journal: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit journal: %w", err)
	}
	b := &backlog{f: f, size: fi.Size()}
	if c.Seq > 0 {
		if err := b.resume(c); err != nil {
			f.Close()
			return nil, err
		}
	}
	b.seek(b.off)
	return b, nil
}

func (b *backlog) seek(off int64) {
	b.off = off
	r := io.NewSectionReader(b.f, off, b.size-off)
	if b.r == nil {
		b.r = bufio.NewReaderSize(r, 32<<10)
	} else {
		b.r.Reset(r)
	}
}

func (b *backlog) close() { b.f.Close() }

// lineTip is what shipping reads of a line to find a cursor.
type lineTip struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func (b *backlog) resume(c *cursor) error {
	if c.Offset <= b.size && c.Offset-c.Start <= maxLine {
		line := make([]byte, c.Offset-c.Start)
		if _, err := b.f.ReadAt(line, c.Start); err == nil && line[len(line)-1] == '\n' {
			var t lineTip
			if json.Unmarshal(line[:len(line)-1], &t) == nil && t.Seq == c.Seq && t.Hash == c.Hash {
				b.off, b.lastSeq, b.lastH = c.Offset, c.Seq, c.Hash
				return nil
			}
		}
	}
	// The offsets do not line up: look for the event from the start.
	b.seek(0)
	var last uint64
	for {
		start := b.off
		line, err := b.line()
		if err != nil {
			return err
		}
		if line == nil {
			break
		}
		var t lineTip
		if err := json.Unmarshal(line, &t); err != nil {
			return fmt.Errorf("audit journal line at byte %d is not an event (%v): check it with `jit audit verify`", start, err)
		}
		last = t.Seq
		if t.Seq != c.Seq {
			continue
		}
		if t.Hash != c.Hash {
			return fmt.Errorf("the journal's event seq %d is not the one this sink received (hash %.12s…, not %.12s…): the journal was rewritten or replaced; check it with `jit audit verify`, then remove the sink's cursor to deliver it as it is now", c.Seq, t.Hash, c.Hash)
		}
		c.Start, c.Offset = start, b.off
		b.lastSeq, b.lastH = c.Seq, c.Hash
		return nil
	}
	return fmt.Errorf("the sink has events up to seq %d but the journal ends at seq %d: the journal was cut or replaced; check it with `jit audit verify`, then remove the sink's cursor to deliver it from its start", c.Seq, last)
}

// line reads the next complete line, without its newline; nil at the end
// (a last line without a newline is an append in progress, or torn).
func (b *backlog) line() ([]byte, error) {
	var line []byte
	for {
		chunk, err := b.r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			return nil, fmt.Errorf("audit journal line at byte %d is longer than %d bytes: check it with `jit audit verify`", b.off, maxLine)
		}
		line = append(line, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("read audit journal: %w", err)
		}
		b.off += int64(len(line))
		return line[:len(line)-1], nil
	}
}

// next reads up to n records, or maxBytes of lines (at least one record),
// after the last line read; end is the span of the last one.
func (b *backlog) next(n, maxBytes int) ([]audit.Record, span, error) {
	b.mark.off, b.mark.seq, b.mark.hash = b.off, b.lastSeq, b.lastH
	var out []audit.Record
	var end span
	size := 0
	for len(out) < n && (len(out) == 0 || size < maxBytes) {
		start := b.off
		line, err := b.line()
		if err != nil {
			return nil, span{}, err
		}
		if line == nil {
			break
		}
		e := new(audit.Event)
		if err := json.Unmarshal(line, e); err != nil {
			return nil, span{}, fmt.Errorf("audit journal line at byte %d is not an event (%v): check it with `jit audit verify`", start, err)
		}
		if e.Seq != b.lastSeq+1 || e.Prev != b.lastH {
			return nil, span{}, fmt.Errorf("audit journal line at byte %d (seq %d) does not follow seq %d: the journal is damaged; check it with `jit audit verify`", start, e.Seq, b.lastSeq)
		}
		b.lastSeq, b.lastH = e.Seq, e.Hash
		out = append(out, audit.Record{Seq: e.Seq, Line: line, Event: e})
		end = span{start, b.off}
		size += len(line) + 1
	}
	return out, end, nil
}

// rewind goes back to before the batch last read.
func (b *backlog) rewind() {
	b.lastSeq, b.lastH = b.mark.seq, b.mark.hash
	b.seek(b.mark.off)
}

// LastSeq returns the seq of the journal's last complete line; 0 when the
// journal does not exist or is empty.
func LastSeq(journal string) (uint64, error) {
	evs, err := audit.Tail(journal, 1)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[0].Seq, nil
}

// RequiredError means required sinks did not accept events up to Seq.
type RequiredError struct {
	Seq    uint64
	Failed []SinkError
}

// SinkError is one sink's failure.
type SinkError struct {
	Name string
	Err  error
}

func (e *RequiredError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		parts[i] = fmt.Sprintf("%s: %s", f.Name, oneLine(f.Err.Error()))
	}
	noun := "sink"
	if len(e.Failed) > 1 {
		noun = "sinks"
	}
	return fmt.Sprintf("required audit %s did not accept the events up to seq %d: %s", noun, e.Seq, strings.Join(parts, "; "))
}

// Names lists the sinks that failed.
func (e *RequiredError) Names() []string {
	out := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Name
	}
	return out
}

// Unwrap returns the sinks' errors.
func (e *RequiredError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Err
	}
	return out
}

// Require makes sure every required target has accepted the journal up to
// seq: it delivers their backlogs now, waiting for a sink another process is
// delivering to while that process makes progress. It returns a
// *RequiredError naming each required sink that did not get there. Only
// ctx and the targets' timeouts bound it.
func (s *Shipper) Require(ctx context.Context, seq uint64) error {
	states, err := s.init()
	if err != nil {
		return &RequiredError{Seq: seq, Failed: []SinkError{{Name: "audit sinks", Err: err}}}
	}
	sts := s.each(ctx, func(st *state) Status {
		out := s.deliver(ctx, st, true)
		if out.Err == nil && out.Delivered < seq {
			out.Err = fmt.Errorf("delivered up to seq %d only", out.Delivered)
		}
		return out
	}, func(i int) bool { return states[i].t.Required })
	var re RequiredError
	re.Seq = seq
	for i, st := range sts {
		if states[i].t.Required && st.Err != nil {
			re.Failed = append(re.Failed, SinkError{Name: states[i].name, Err: st.Err})
		}
	}
	if len(re.Failed) > 0 {
		return &re
	}
	return nil
}

// Flush delivers every target's backlog, trying each failing target again
// after backoff, doubled at each attempt (at most MaxBackoff), until all are
// delivered, attempts are used up (0: no limit) or ctx ends. It waits for
// sinks other processes are delivering to.
func (s *Shipper) Flush(ctx context.Context, attempts int, backoff time.Duration) []Status {
	states, _ := s.init()
	var out []Status
	pending := func(i int) bool { return out == nil || i >= len(out) || !out[i].OK() }
	for attempt := 1; ; attempt++ {
		round := s.each(ctx, func(st *state) Status { return s.deliver(ctx, st, true) }, pending)
		if out == nil {
			out = round
		} else {
			for i := range round {
				if pending(i) {
					sent := out[i].Sent
					out[i] = round[i]
					out[i].Sent += sent
				}
			}
		}
		if len(states) == 0 || !slices.ContainsFunc(out, func(st Status) bool { return !st.OK() }) {
			return out
		}
		if attempts > 0 && attempt >= attempts {
			return out
		}
		d := min(backoff<<min(attempt-1, 30), MaxBackoff)
		if backoff <= 0 {
			d = 0
		}
		if err := s.sleep(ctx, d); err != nil || ctx.Err() != nil {
			return out
		}
	}
}

// Status reports each target's cursor and backlog, without delivering.
func (s *Shipper) Status() ([]Status, error) {
	states, err := s.init()
	if err != nil {
		return nil, err
	}
	if _, err := LastSeq(s.Journal); err != nil {
		return nil, err
	}
	out := make([]Status, len(states))
	for i, st := range states {
		out[i] = s.peek(st)
	}
	return out, nil
}

// Close closes the sinks and the cursor files. It waits for deliveries in
// progress in this process.
func (s *Shipper) Close() error {
	states, _ := s.init()
	var errs []error
	for _, st := range states {
		st.sem <- struct{}{}
		if st.curF != nil {
			errs = append(errs, st.curF.Close())
			st.curF = nil
		}
		if st.lockF != nil {
			errs = append(errs, st.lockF.Close())
			st.lockF = nil
		}
		<-st.sem
	}
	for _, t := range s.Targets {
		if t.Sink != nil {
			if err := t.Sink.Close(); err != nil {
				errs = append(errs, fmt.Errorf("audit sink %s: close: %w", t.name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
