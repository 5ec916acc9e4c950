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

var _ Sink = (*FileSink)(nil)

func TestFileSinkCopiesJournal(t *testing.T) {
	dir := t.TempDir()
	jpath := filepath.Join(dir, "audit.jsonl")
	spath := filepath.Join(dir, "var", "log", "jit", "audit.jsonl")
	j := OpenJournal(jpath)
	s := NewFileSink(spath, 0)
	if s.Name() != "file:"+spath {
		t.Errorf("Name() = %q", s.Name())
	}
	if _, err := os.Stat(filepath.Join(dir, "var")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("NewFileSink did I/O")
	}
	for i := range 5 {
		e := newEvent(i)
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), e); err != nil {
			t.Fatal(err)
		}
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
	if err := s.Write(context.Background(), newEvent(9)); err == nil || !strings.Contains(err.Error(), "after close") {
		t.Errorf("Write after Close = %v", err)
	}
}

func TestFileSinkCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sink.jsonl")
	s := NewFileSink(path, 0)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, newEvent(0)); !errors.Is(err, context.Canceled) {
		t.Errorf("Write = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("cancelled Write created the file")
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
		if err := s.Write(context.Background(), e); err != nil {
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
				errs <- s.Write(context.Background(), &Event{Event: EventRequest, RequestID: fmt.Sprintf("w%d-%d", w, i)})
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
