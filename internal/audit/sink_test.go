package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// rec is the record of an event: its canonical line.
func rec(t testing.TB, e *Event) Record {
	t.Helper()
	line, err := Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Seq: e.Seq, Line: line, Event: e}
}

func TestFileSinkCopiesJournal(t *testing.T) {
	dir := t.TempDir()
	jpath := filepath.Join(dir, "audit.jsonl")
	spath := filepath.Join(dir, "var", "log", "jit", "audit.jsonl")
	j := OpenJournal(jpath)
	s := NewFileSink(spath, 0)
	if s.Name() != "file "+spath {
		t.Errorf("Name() = %q", s.Name())
	}
	if _, err := os.Stat(filepath.Join(dir, "var")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("NewFileSink did I/O")
	}
	// Batches of 1, 2 and 3 events.
	for _, n := range []int{1, 2, 3} {
		var batch []Record
		for i := range n {
			e := newEvent(i)
			if err := j.Append(e); err != nil {
				t.Fatal(err)
			}
			batch = append(batch, rec(t, e))
		}
		if err := s.Send(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Send(context.Background(), nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	got, want := must(os.ReadFile(spath)), must(os.ReadFile(jpath))
	if !bytes.Equal(got, want) {
		t.Errorf("sink content differs from the journal:\n%s\n%s", got, want)
	}
	rep, err := Verify(bytes.NewReader(got))
	if err != nil || !rep.OK() {
		t.Errorf("sink copy does not verify: %v %v", rep.Problems, err)
	}
	for p, mode := range map[string]fs.FileMode{
		spath: 0o600, spath + ".lock": 0o600,
		filepath.Dir(spath): fs.ModeDir | 0o700, filepath.Join(dir, "var"): fs.ModeDir | 0o700,
	} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v, want mode %v", p, err, mode)
		}
	}
	if err := s.Send(context.Background(), []Record{rec(t, newEvent(9))}); err == nil || !strings.Contains(err.Error(), "after close") {
		t.Errorf("Send after Close = %v", err)
	}
}

func TestFileSinkRejectsNonLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.jsonl")
	s := NewFileSink(path, 0)
	defer s.Close()
	good := rec(t, newEvent(1))
	for _, bad := range [][]byte{nil, []byte("{\"a\":1}\n{\"b\":2}")} {
		err := s.Send(context.Background(), []Record{good, {Seq: 2, Line: bad}})
		if err == nil || !strings.Contains(err.Error(), "record 2 (seq 2) is not one journal line") {
			t.Errorf("Send(%q) = %v", bad, err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a refused batch was partly written")
	}
}

func TestFileSinkCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.jsonl")
	s := NewFileSink(path, 0)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, []Record{rec(t, newEvent(0))}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("cancelled Send created the file")
	}
}

func TestFileSinkRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.jsonl")
	e := &Event{Event: EventRequest, ID: "x", Seq: 1}
	lineLen := int64(len(must(Canonical(e))) + 1)
	const perFile = 3
	s := NewFileSink(path, perFile*lineLen+lineLen/2) // room for 3 lines, not 4
	defer s.Close()
	const writes = perFile*(FileGenerations+1) + 2 // fills every generation and starts a new file
	for i := 1; i <= writes; i++ {
		e.Seq = uint64(i)
		if err := s.Send(context.Background(), []Record{rec(t, e)}); err != nil {
			t.Fatal(err)
		}
	}
	// Newest in path (2 lines), then .1 (3 lines, seqs before those), ...
	// up to .5; the oldest file was dropped.
	next := uint64(writes)
	for g := 0; g <= FileGenerations; g++ {
		p := path
		if g > 0 {
			p = fmt.Sprintf("%s.%d", path, g)
		}
		lines := strings.Split(strings.TrimSuffix(string(must(os.ReadFile(p))), "\n"), "\n")
		want := perFile
		if g == 0 {
			want = 2
		}
		if len(lines) != want {
			t.Fatalf("%s has %d lines, want %d", p, len(lines), want)
		}
		for i := len(lines) - 1; i >= 0; i-- {
			if !strings.Contains(lines[i], fmt.Sprintf(`"seq":%d,`, next)) {
				t.Fatalf("%s line %d = %s, want seq %d", p, i+1, lines[i], next)
			}
			next--
		}
		if fi, _ := os.Stat(p); fi.Mode() != 0o600 || fi.Size() > s.maxSize {
			t.Errorf("%s: mode %v size %d", p, fi.Mode(), fi.Size())
		}
	}
	if _, err := os.Stat(fmt.Sprintf("%s.%d", path, FileGenerations+1)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("more than %d generations kept", FileGenerations)
	}
}

// Sinks of several processes (here: several FileSinks, each with its own
// lock descriptor) share one file and rotate it without losing a line.
func TestFileSinkShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.jsonl")
	const sinks, each = 4, 30
	var wg sync.WaitGroup
	errs := make(chan error, sinks*each)
	for w := range sinks {
		s := NewFileSink(path, 4000)
		defer s.Close()
		wg.Go(func() {
			for i := range each {
				errs <- s.Send(context.Background(), []Record{rec(t, &Event{Event: EventRequest, RequestID: fmt.Sprintf("w%d-%d", w, i)})})
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
	seen := map[string]bool{}
	for _, p := range []string{path, path + ".1", path + ".2", path + ".3", path + ".4", path + ".5"} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if int64(len(data)) > 4000 {
			t.Errorf("%s has %d bytes, over the maximum", p, len(data))
		}
		// A sink still writing to a file another one rotated away would
		// rotate again too early.
		if p != path && len(data)+110 <= 4000 {
			t.Errorf("%s was rotated at %d bytes, with room left for another line", p, len(data))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if seen[line] {
				t.Errorf("line written twice: %s", line)
			}
			seen[line] = true
		}
	}
	// 120 lines of about 105 bytes fill 4 of the 6 files: none was dropped.
	if len(seen) != sinks*each {
		t.Errorf("found %d lines, want %d", len(seen), sinks*each)
	}
}

// A batch that would overflow the file goes whole into a new one.
func TestFileSinkRotatesWholeBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.jsonl")
	var batch []Record
	for i := 1; i <= 4; i++ {
		batch = append(batch, rec(t, &Event{Event: EventRequest, ID: "x", Seq: uint64(i)}))
	}
	lineLen := int64(len(batch[0].Line) + 1)
	s := NewFileSink(path, 6*lineLen)
	defer s.Close()
	for range 2 {
		if err := s.Send(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path + ".1"} {
		if n := strings.Count(string(must(os.ReadFile(p))), "\n"); n != 4 {
			t.Errorf("%s has %d lines, want the 4 of one batch", p, n)
		}
	}
}
