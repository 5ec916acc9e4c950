package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func journalPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "jit", "audit.jsonl")
}

func newEvent(i int) *Event {
	return &Event{Event: EventRequest, RequestID: NewID(time.Now()), Target: "prod", Reason: "test " + strconv.Itoa(i)}
}

// appendN appends n events one by one and returns the journal.
func appendN(t testing.TB, path string, n int) *Journal {
	t.Helper()
	j := OpenJournal(path)
	for i := range n {
		if err := j.Append(newEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

func mustVerifyFile(t *testing.T, path string) *Report {
	t.Helper()
	rep, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func requireOK(t *testing.T, rep *Report) {
	t.Helper()
	if !rep.OK() {
		for _, p := range rep.Problems {
			t.Error(p)
		}
		t.FailNow()
	}
}

func TestAppendVerifyRoundTrip(t *testing.T) {
	path := journalPath(t)
	j := OpenJournal(path)
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenJournal did I/O: %v", err)
	}

	local := time.FixedZone("CET", 3600)
	exp := time.Date(2026, 12, 3, 19, 0, 0, 0, local)
	var all []*Event
	for batch := range 5 { // batches of 1..5 events
		var evs []*Event
		for k := range batch + 1 {
			e := newEvent(len(all) + k)
			if k == 0 {
				e.ExpiresAt = &exp
				e.Time = time.Date(2026, 12, 3, 18, 0, 0, 5, local)
			}
			evs = append(evs, e)
		}
		if err := j.Append(evs...); err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	if exp.Location() != local {
		t.Error("Append changed the caller's ExpiresAt time")
	}

	rep := mustVerifyFile(t, path)
	requireOK(t, rep)
	if rep.Events != 15 || rep.First != 1 || rep.Last != 15 {
		t.Errorf("report = %+v, want 15 events 1..15", rep)
	}

	idRE := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
	ids := map[string]bool{}
	prev := ""
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.Prev != prev || e.Schema != Schema {
			t.Errorf("event %d: seq %d prev %.8s schema %q", i, e.Seq, e.Prev, e.Schema)
		}
		if h, err := ComputeHash(e); err != nil || h != e.Hash {
			t.Errorf("event %d: hash %s, recomputed %s (%v)", i, e.Hash, h, err)
		}
		if !idRE.MatchString(e.ID) || ids[e.ID] {
			t.Errorf("event %d: bad or repeated id %q", i, e.ID)
		}
		ids[e.ID] = true
		if e.Time.Location() != time.UTC || (e.ExpiresAt != nil && e.ExpiresAt.Location() != time.UTC) {
			t.Errorf("event %d: time not in UTC: %v %v", i, e.Time, e.ExpiresAt)
		}
		prev = e.Hash
	}

	// The file holds exactly the canonical lines of the completed events.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, e := range all {
		line, err := Canonical(e)
		if err != nil {
			t.Fatal(err)
		}
		want = append(append(want, line...), '\n')
	}
	if !bytes.Equal(data, want) {
		t.Errorf("journal content differs from the canonical events:\n%s\nwant\n%s", data, want)
	}
	if !bytes.Contains(data, []byte(`"time":"2026-12-03T17:00:00.000000005Z"`)) ||
		!bytes.Contains(data, []byte(`"expires_at":"2026-12-03T18:00:00Z"`)) {
		t.Errorf("times not written in UTC:\n%s", data)
	}

	got, err := Tail(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) || got[14].Hash != all[14].Hash || got[0].Reason != all[0].Reason {
		t.Errorf("Tail(0) returned %d events, not the ones appended", len(got))
	}
}

func TestAppendKeepsGivenFields(t *testing.T) {
	j := OpenJournal(journalPath(t))
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	e := &Event{Schema: "jit.audit/v9", ID: "given", Time: when, Event: EventDeny, Seq: 77, Prev: "x", Hash: "y"}
	if err := j.Append(e); err != nil {
		t.Fatal(err)
	}
	if e.Schema != "jit.audit/v9" || e.ID != "given" || !e.Time.Equal(when) {
		t.Errorf("Append replaced given fields: %+v", e)
	}
	if e.Seq != 1 || e.Prev != "" || len(e.Hash) != 64 {
		t.Errorf("Append did not assign seq/prev/hash: %d %q %q", e.Seq, e.Prev, e.Hash)
	}
}

func TestAppendUsesNow(t *testing.T) {
	j := OpenJournal(journalPath(t))
	j.Now = func() time.Time { return time.Date(2030, 5, 6, 7, 8, 9, 0, time.FixedZone("X", -7200)) }
	e := newEvent(0)
	if err := j.Append(e); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2030, 5, 6, 9, 8, 9, 0, time.UTC); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v", e.Time, want)
	}
}

func TestAppendRejectsUntypedEvents(t *testing.T) {
	path := journalPath(t)
	j := OpenJournal(path)
	for _, evs := range [][]*Event{{nil}, {newEvent(0), {Reason: "no type"}}} {
		if err := j.Append(evs...); err == nil {
			t.Errorf("Append(%v) succeeded", evs)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rejected append wrote the journal: %v", err)
	}
	if err := j.Append(); err != nil {
		t.Errorf("Append() = %v", err)
	}
}

func checkChain(t *testing.T, path string, want int) {
	t.Helper()
	rep := mustVerifyFile(t, path)
	requireOK(t, rep)
	evs, err := Tail(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != want {
		t.Fatalf("journal has %d events, want %d", len(evs), want)
	}
	seen := map[string]bool{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		if seen[e.RequestID] {
			t.Fatalf("request %s journaled twice", e.RequestID)
		}
		seen[e.RequestID] = true
	}
}

func TestAppendConcurrentGoroutines(t *testing.T) {
	path := journalPath(t)
	const workers, each = 6, 20
	shared := OpenJournal(path)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		// Half share one Journal, half have their own: both must serialise.
		j := shared
		if w%2 == 1 {
			j = OpenJournal(path)
		}
		wg.Go(func() {
			for i := range each {
				e := newEvent(0)
				e.RequestID = fmt.Sprintf("g%d-%d", w, i)
				if i%5 == 0 {
					errs <- j.Append(e, &Event{Event: EventGrant, RequestID: e.RequestID + "-grant"})
				} else {
					errs <- j.Append(e)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkChain(t, path, workers*each+workers*each/5)
}

// TestHelperProcess is not a test: TestAppendConcurrentProcesses runs the test
// binary with JIT_AUDIT_HELPER set to make it append events from another process.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("JIT_AUDIT_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	name := os.Getenv("JIT_AUDIT_HELPER_NAME")
	n, _ := strconv.Atoi(os.Getenv("JIT_AUDIT_HELPER_N"))
	j := OpenJournal(path)
	for i := range n {
		if err := j.Append(&Event{Event: EventRequest, RequestID: fmt.Sprintf("%s-%d", name, i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := journalPath(t)
	const procs, each = 4, 40
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "JIT_AUDIT_HELPER="+path,
			"JIT_AUDIT_HELPER_NAME=p"+strconv.Itoa(p), "JIT_AUDIT_HELPER_N="+strconv.Itoa(each))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	// Append from this process at the same time.
	j := OpenJournal(path)
	for i := range each {
		if err := j.Append(&Event{Event: EventRequest, RequestID: fmt.Sprintf("main-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
	}
	checkChain(t, path, (procs+1)*each)
}

func TestPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are ACLs on Windows")
	}
	path := journalPath(t)
	appendN(t, path, 2)
	root := filepath.Dir(filepath.Dir(filepath.Dir(path))) // the test's temporary directory
	for _, c := range []struct {
		path string
		mode fs.FileMode
	}{
		{filepath.Join(root, "state"), fs.ModeDir | 0o700},
		{filepath.Dir(path), fs.ModeDir | 0o700},
		{path, 0o600},
		{path + ".lock", 0o600},
		{path + ".head", 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	if _, err := os.Stat(path + ".head.tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary head file left behind: %v", err)
	}
}

func TestRefusesUnsafeJournal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are ACLs on Windows")
	}
	for _, mode := range []fs.FileMode{0o620, 0o602, 0o666, 0o777} {
		t.Run(mode.String(), func(t *testing.T) {
			path := journalPath(t)
			appendN(t, path, 1)
			before, _ := os.ReadFile(path)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			err := OpenJournal(path).Append(newEvent(1))
			if err == nil || !strings.Contains(err.Error(), "writable by group or others") || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("Append to a %v journal: %v", mode, err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("refused append changed the journal")
			}
		})
	}
	t.Run("group-readable is fine", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 1)
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := OpenJournal(path).Append(newEvent(1)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		path := journalPath(t)
		if err := os.MkdirAll(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := OpenJournal(path).Append(newEvent(1)); err == nil {
			t.Fatal("Append to a directory succeeded")
		}
	})
}

func TestTornLastLine(t *testing.T) {
	t.Run("interrupted write is cut off", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 3)
		torn := `{"decision":{"allowed":tr`
		appendBytes(t, path, torn)

		rep := mustVerifyFile(t, path)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != KindTorn || rep.Problems[0].Line != 4 {
			t.Fatalf("problems = %v, want one torn line 4", rep.Problems)
		}

		var warnings []string
		j := OpenJournal(path)
		j.Warn = func(m string) { warnings = append(warnings, m) }
		e := newEvent(3)
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
		if e.Seq != 4 {
			t.Errorf("seq = %d, want 4", e.Seq)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], fmt.Sprintf("incomplete line (%d bytes)", len(torn))) {
			t.Errorf("warnings = %q", warnings)
		}
		checkChain(t, path, 4)
	})
	t.Run("only a torn line", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 0)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(`{"sch`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".head", []byte(`{"hash":"","seq":0}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := OpenJournal(path).Append(newEvent(0)); err != nil {
			t.Fatal(err)
		}
		checkChain(t, path, 1)
	})
	t.Run("completed event without newline is refused", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 3)
		data, _ := os.ReadFile(path)
		if err := os.WriteFile(path, data[:len(data)-1], 0o600); err != nil {
			t.Fatal(err)
		}
		err := OpenJournal(path).Append(newEvent(3))
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "ends at seq 2") {
			t.Fatalf("Append = %v, want ErrDamaged naming seq 2", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, data[:len(data)-1]) {
			t.Error("refused append changed the journal")
		}
	})
}

func appendBytes(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestHead(t *testing.T) {
	cutLastLine := func(t *testing.T, path string) {
		data, _ := os.ReadFile(path)
		lines := bytes.SplitAfter(data, []byte("\n"))
		if err := os.WriteFile(path, bytes.Join(lines[:len(lines)-2], nil), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("tail cut off", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 5)
		cutLastLine(t, path)
		rep := mustVerifyFile(t, path)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != KindTruncated || !strings.Contains(rep.Problems[0].Msg, "1 event cut off") {
			t.Fatalf("problems = %v", rep.Problems)
		}
		if rep, _ := Verify(bytes.NewReader(must(os.ReadFile(path)))); !rep.OK() {
			t.Errorf("Verify of the stream (which cannot see the cut) = %v", rep.Problems)
		}
		if err := OpenJournal(path).Append(newEvent(9)); !errors.Is(err, ErrDamaged) {
			t.Fatalf("Append after cut = %v, want ErrDamaged", err)
		}
	})
	t.Run("last event replaced", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 5)
		cutLastLine(t, path)
		// A self-consistent replacement: its chain is fine, the head is not.
		j := OpenJournal(path)
		head := must(os.ReadFile(path + ".head"))
		if err := os.Remove(path + ".head"); err != nil {
			t.Fatal(err)
		}
		if err := j.Append(&Event{Event: EventRequest, Reason: "forged"}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".head", head, 0o600); err != nil {
			t.Fatal(err)
		}
		rep := mustVerifyFile(t, path)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != KindHead || !strings.Contains(rep.Problems[0].Msg, "rewritten") {
			t.Fatalf("problems = %v", rep.Problems)
		}
		if err := j.Append(newEvent(9)); !errors.Is(err, ErrDamaged) {
			t.Fatalf("Append = %v, want ErrDamaged", err)
		}
	})
	t.Run("head missing", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 2)
		if err := os.Remove(path + ".head"); err != nil {
			t.Fatal(err)
		}
		rep := mustVerifyFile(t, path)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != KindHead {
			t.Fatalf("problems = %v", rep.Problems)
		}
		var warned []string
		j := OpenJournal(path)
		j.Warn = func(m string) { warned = append(warned, m) }
		if err := j.Append(newEvent(2)); err != nil {
			t.Fatal(err)
		}
		if len(warned) != 1 || !strings.Contains(warned[0], "was missing") {
			t.Errorf("warnings = %q", warned)
		}
		checkChain(t, path, 3)
	})
	t.Run("head behind after a crash", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 2)
		old := must(os.ReadFile(path + ".head"))
		appendN(t, path, 1)
		if err := os.WriteFile(path+".head", old, 0o600); err != nil { // as if the head write was lost
			t.Fatal(err)
		}
		requireOK(t, mustVerifyFile(t, path))
		appendN(t, path, 1)
		checkChain(t, path, 4)
	})
	t.Run("journal deleted", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 2)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		err := OpenJournal(path).Append(newEvent(0))
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "is missing") {
			t.Fatalf("Append = %v", err)
		}
	})
	t.Run("head garbage", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 2)
		if err := os.WriteFile(path+".head", []byte("not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := OpenJournal(path).Append(newEvent(0)); !errors.Is(err, ErrDamaged) {
			t.Fatalf("Append = %v", err)
		}
		rep := mustVerifyFile(t, path)
		if len(rep.Problems) != 1 || rep.Problems[0].Kind != KindHead {
			t.Fatalf("problems = %v", rep.Problems)
		}
	})
	t.Run("last line not an event", func(t *testing.T) {
		path := journalPath(t)
		appendN(t, path, 2)
		appendBytes(t, path, "{}\n")
		if err := OpenJournal(path).Append(newEvent(0)); !errors.Is(err, ErrDamaged) {
			t.Fatalf("Append = %v", err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTail(t *testing.T) {
	path := journalPath(t)
	if evs, err := Tail(path, 5); err != nil || evs != nil {
		t.Fatalf("Tail of a missing journal = %v, %v", evs, err)
	}
	j := OpenJournal(path)
	var reasons []string
	for i := range 12 {
		e := newEvent(i)
		if i%3 == 0 { // lines longer than Tail's first chunks
			e.Reason = strings.Repeat(strconv.Itoa(i), 5000+i*1000)
		}
		reasons = append(reasons, e.Reason)
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	appendBytes(t, path, `{"torn":`)
	for _, n := range []int{1, 2, 3, 7, 12, 13, 100, 0, -1} {
		evs, err := Tail(path, n)
		if err != nil {
			t.Fatal(err)
		}
		want := min(n, 12)
		if n <= 0 {
			want = 12
		}
		if len(evs) != want {
			t.Fatalf("Tail(%d) returned %d events, want %d", n, len(evs), want)
		}
		for i, e := range evs {
			k := 12 - want + i
			if e.Seq != uint64(k+1) || e.Reason != reasons[k] {
				t.Fatalf("Tail(%d)[%d] = seq %d, want seq %d", n, i, e.Seq, k+1)
			}
		}
	}
	appendBytes(t, path, "\n")
	if _, err := Tail(path, 2); err == nil || !strings.Contains(err.Error(), "line 1 from the end") {
		t.Errorf("Tail over a malformed line = %v", err)
	}
}

func TestLastLines(t *testing.T) {
	long := strings.Repeat("x", 10000)
	tests := []struct {
		data string
		n    int
		want []string
		end  int
	}{
		{"", 1, nil, 0},
		{"a\n", 1, []string{"a"}, 2},
		{"a\nb\n", 1, []string{"b"}, 4},
		{"a\nb\n", 5, []string{"a", "b"}, 4},
		{"a\nb\ntor", 1, []string{"b"}, 4},
		{"a\nb\ntor", 2, []string{"a", "b"}, 4},
		{"torn", 1, nil, 0},
		{"\n\n", 2, []string{"", ""}, 2},
		{long + "\n" + long + "\nx", 1, []string{long}, 2*len(long) + 2},
		{long + "\n" + long + "\n", 2, []string{long, long}, 2*len(long) + 2},
	}
	for _, tt := range tests {
		lines, end, err := lastLines(strings.NewReader(tt.data), int64(len(tt.data)), tt.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			got = append(got, string(l))
		}
		if !slices.Equal(got, tt.want) || end != int64(tt.end) {
			t.Errorf("lastLines(%.20q, %d) = %.40q, %d; want %.40q, %d", tt.data, tt.n, got, end, tt.want, tt.end)
		}
	}
}

func TestNewID(t *testing.T) {
	idRE := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
	base := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	var prev string
	for i := range 2000 {
		id := NewID(base.Add(time.Duration(i) * time.Millisecond))
		if !idRE.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		if id <= prev {
			t.Fatalf("id %s of a later millisecond sorts before %s", id, prev)
		}
		seen[id], prev = true, id
	}
	// The time is in the first 10 characters, as in a ULID.
	if a, b := NewID(base), NewID(base); a[:10] != b[:10] || a == b {
		t.Errorf("ids of one millisecond: %s %s", a, b)
	}
	if got := NewID(time.UnixMilli(0))[:10]; got != "0000000000" {
		t.Errorf("time part at the epoch = %s", got)
	}
	if got := NewID(time.UnixMilli(1<<48 - 1))[:10]; got != "7ZZZZZZZZZ" {
		t.Errorf("largest time part = %s", got)
	}
}

func TestAppendUnencodableEventChangesNothing(t *testing.T) {
	path := journalPath(t)
	appendN(t, path, 2)
	appendBytes(t, path, `{"torn`)
	before := must(os.ReadFile(path))
	bad := newEvent(2)
	bad.Time = time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC) // beyond RFC 3339
	if err := OpenJournal(path).Append(newEvent(3), bad); err == nil {
		t.Fatal("Append of an event with an unencodable time succeeded")
	}
	if after := must(os.ReadFile(path)); !bytes.Equal(before, after) {
		t.Errorf("failed append changed the journal:\n%s", after)
	}
}
