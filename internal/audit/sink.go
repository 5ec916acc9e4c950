package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// FileGenerations is how many rotated files a FileSink keeps: `<path>.1`
// (the newest) to `<path>.5`.
const FileGenerations = 5

// FileSink is the `file` sink: it appends each record's line, the journal's
// own bytes, to a file, so that the copy verifies like the journal (with
// `jit audit verify --copy`, as rotation starts files mid-journal). It
// creates the file with mode 0600 and its directories with 0700, writes
// each batch with one write and syncs it before Send returns. Several
// processes may share the file: writes and rotation take an flock on
// `<path>.lock`.
type FileSink struct {
	path    string
	maxSize int64

	mu     sync.Mutex
	lock   *os.File // opened lazily, kept open
	f      *os.File
	closed bool
	buf    []byte
	// noSync skips fsync; benchmarks use it to measure everything else.
	noSync bool
}

var _ BatchSink = (*FileSink)(nil)

// NewFileSink returns a sink writing to path. When maxSize > 0, a batch
// that would take the file past maxSize bytes first rotates it: `<path>.1`
// becomes `<path>.2` and so on, the oldest beyond FileGenerations is
// dropped, and the file becomes `<path>.1`. A batch is never split across
// files. It does no I/O until the first Send.
func NewFileSink(path string, maxSize int64) *FileSink {
	return &FileSink{path: path, maxSize: maxSize}
}

// Name returns "file " and the path.
func (s *FileSink) Name() string { return "file " + s.path }

// Send appends the batch's lines and syncs the file.
func (s *FileSink) Send(ctx context.Context, batch []Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: send after close", s.Name())
	}
	if len(batch) == 0 {
		return nil
	}
	buf := s.buf[:0]
	for i, r := range batch {
		if len(r.Line) == 0 || bytes.IndexByte(r.Line, '\n') >= 0 {
			return fmt.Errorf("%s: record %d (seq %d) is not one journal line", s.Name(), i+1, r.Seq)
		}
		buf = append(append(buf, r.Line...), '\n')
	}
	s.buf = buf
	if err := s.write(buf); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	return nil
}

func (s *FileSink) write(line []byte) error {
	if s.lock == nil {
		if err := mkdirAllSync(filepath.Dir(s.path), true); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		lock, err := os.OpenFile(s.path+lockSuffix, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		s.lock = lock
	}
	if err := lockFile(s.lock, true); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer unlockFile(s.lock)

	if err := s.open(); err != nil {
		return err
	}
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if s.maxSize > 0 && size > 0 && size+int64(len(line)) > s.maxSize {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		size = 0
	}
	if _, err := s.f.Write(line); err != nil {
		// A partial batch would leave a torn line in the copy; the whole
		// batch is sent again.
		_ = s.f.Truncate(size)
		return err
	}
	if s.noSync {
		return nil
	}
	return syncData(s.f)
}

// open (re)opens the file unless the one held is still the one at the path:
// another process may have rotated it.
func (s *FileSink) open() error {
	if s.f != nil {
		held, err1 := s.f.Stat()
		cur, err2 := os.Stat(s.path)
		if err1 == nil && err2 == nil && os.SameFile(held, cur) {
			return nil
		}
		s.f.Close()
		s.f = nil
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	s.f = f
	return nil
}

func (s *FileSink) rotate() error {
	s.f.Close()
	s.f = nil
	for i := FileGenerations - 1; i >= 1; i-- {
		err := os.Rename(s.gen(i), s.gen(i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(s.path, s.gen(1)); err != nil {
		return err
	}
	if err := s.open(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.path))
}

func (s *FileSink) gen(i int) string { return s.path + "." + strconv.Itoa(i) }

// Close closes the file. It is safe to call more than once.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	if s.f != nil {
		errs = append(errs, s.f.Close())
		s.f = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
		s.lock = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: close: %w", s.Name(), err)
	}
	return nil
}
