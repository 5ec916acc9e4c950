package audit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Sink receives copies of events already appended to the local journal.
// Write delivers one event and returns only once the sink has accepted it
// (for a `required` sink, that acceptance is what elevation waits for).
// Implementations must be safe for concurrent use.
type Sink interface {
	Write(ctx context.Context, e *Event) error
	// Close releases the sink's resources; Write after Close fails.
	Close() error
	// Name identifies the sink in messages, e.g. "file:/var/log/jit/audit.jsonl".
	Name() string
}

// FileGenerations is how many rotated files a FileSink keeps: `<path>.1`
// (the newest) to `<path>.5`.
const FileGenerations = 5

// FileSink appends each event's canonical line to a file: the journal's own
// bytes, so each copied line keeps the hash that ties it to the journal. It
// creates the file with mode 0600 and its directories with 0700, and syncs
// the file on every Write. Several processes may share the file: writes and
// rotation take an flock on `<path>.lock`.
type FileSink struct {
	path    string
	maxSize int64

	mu     sync.Mutex
	lock   *os.File // opened lazily, kept open
	f      *os.File
	closed bool
}

// NewFileSink returns a sink writing to path. When maxSize > 0, a Write that
// would take the file past maxSize bytes first rotates it: `<path>.1` becomes
// `<path>.2` and so on, the oldest beyond FileGenerations is dropped, and the
// file becomes `<path>.1`. It does no I/O until the first Write.
func NewFileSink(path string, maxSize int64) *FileSink {
	return &FileSink{path: path, maxSize: maxSize}
}

// Name returns "file:" and the path.
func (s *FileSink) Name() string { return "file:" + s.path }

// Write appends e's canonical line and syncs the file.
func (s *FileSink) Write(ctx context.Context, e *Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	if e == nil {
		return fmt.Errorf("%s: no event", s.Name())
	}
	line, err := Canonical(e)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	line = append(line, '\n')

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: write after close", s.Name())
	}
	if err := s.write(line); err != nil {
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
	if s.maxSize > 0 {
		fi, err := s.f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() > 0 && fi.Size()+int64(len(line)) > s.maxSize {
			if err := s.rotate(); err != nil {
				return fmt.Errorf("rotate: %w", err)
			}
		}
	}
	if _, err := s.f.Write(line); err != nil {
		return err
	}
	return s.f.Sync()
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
