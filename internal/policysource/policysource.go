// Package policysource reads the jit policy file from a git repository at the
// commit a ref names (never from a working tree or index), optionally verifying
// that the commit carries an SSH signature by a trusted key, and from a plain
// file for authoring.
package policysource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults for the policy.* configuration keys (CONTRACT §1).
const (
	DefaultRef    = "main"
	DefaultFile   = "jit.yaml"
	DefaultMaxAge = time.Hour
)

// maxPolicySize bounds what is read into memory; a policy is a few kilobytes,
// anything near this is a mistake or an attack on the reader.
const maxPolicySize = 16 << 20

// Snapshot is one read of the policy: its bytes and where exactly they came from.
// The commit id goes into every decision and audit event.
type Snapshot struct {
	// Repo is the repository as read: a URL as configured, or the absolute
	// local path. Empty for a working file.
	Repo string
	// Ref is the configured ref (branch, tag, commit id or other revision).
	Ref string
	// Commit is the full id of the commit the file was read from; empty for a
	// working file (see IsWorkingFile).
	Commit string
	// CommitTime is the committer time of Commit.
	CommitTime time.Time
	// File is the path of the policy inside the repository, or the file path
	// for a working file.
	File string
	// Data holds the policy file's bytes.
	Data []byte
	// Signer is the allowed_signers principal whose key signed Commit; empty
	// when no signature was required.
	Signer string
	// SignerKey is the SHA256 fingerprint of the key that signed Commit.
	SignerKey string
	// FetchedAt is, for a remote repository, the time of the last successful
	// fetch of the cached mirror; for a local repository or file, the time of
	// the read.
	FetchedAt time.Time
	// Stale reports that the remote could not be reached and the snapshot was
	// served from a cached mirror that is still within policy.max_age.
	Stale bool
}

// IsWorkingFile reports whether the snapshot was read from a plain file rather
// than from a commit, so nothing vouches for its content.
func (s *Snapshot) IsWorkingFile() bool { return s.Commit == "" }

// Sibling returns the path of a file named name in the same directory as the
// policy file, in the form ReadAt expects for this snapshot's source.
func (s *Snapshot) Sibling(name string) string {
	if s.IsWorkingFile() {
		return filepath.Join(filepath.Dir(s.File), name)
	}
	dir := s.File
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		return dir[:i+1] + name
	}
	return name
}

// Source loads the current policy snapshot. Load may be called repeatedly; each
// call reflects the source's state at that moment.
type Source interface {
	Load(ctx context.Context) (*Snapshot, error)
}

// Reader is implemented by sources that can read further files of a snapshot,
// such as the policy test cases kept beside the policy.
type Reader interface {
	// ReadAt reads path at commit (a full commit id from a Snapshot, or "" for
	// a working file).
	ReadAt(ctx context.Context, commit, path string) ([]byte, error)
}

// Kind classifies policy source failures so that the CLI can map them to exit
// codes and hints. A Kind is itself an error, so errors.Is(err, NotFound) works
// for any *Error of that kind.
type Kind int

// The kinds of failure.
const (
	// NotFound: the repository, ref or file does not exist.
	NotFound Kind = iota + 1
	// Unreachable: the remote could not be fetched and no usable cache exists.
	Unreachable
	// Unsigned: a signature is required but the commit has no SSH signature.
	Unsigned
	// Untrusted: the signature does not verify or its key is not allowed.
	Untrusted
	// Invalid: the configuration (repo, ref, file, allowed_signers) is wrong.
	Invalid
	// Internal: git failed in an unexpected way.
	Internal
)

// Error returns the kind's name.
func (k Kind) Error() string {
	switch k {
	case NotFound:
		return "policy source: not found"
	case Unreachable:
		return "policy source: unreachable"
	case Unsigned:
		return "policy source: unsigned"
	case Untrusted:
		return "policy source: untrusted"
	case Invalid:
		return "policy source: invalid"
	case Internal:
		return "policy source: internal"
	}
	return fmt.Sprintf("policy source: kind %d", int(k))
}

// Error is a policy source failure. Its message is one lowercase line naming
// the repository, ref or commit and, where there is one, the fix.
type Error struct {
	Kind   Kind
	Repo   string // the repository, credentials removed from a URL
	Ref    string // the configured ref, when known
	Commit string // the commit, when known
	Msg    string // the whole one-line message
	Err    error  // the cause, if any
}

// Error returns the one-line message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// File is a policy read from a plain file, for authoring (`jit policy validate
// FILE`). Its snapshots have no commit.
type File struct {
	// Path is the policy file; a leading ~ is expanded.
	Path string
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Load reads the file.
func (f *File) Load(ctx context.Context) (*Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := expandHome(f.Path)
	if err != nil {
		return nil, &Error{Kind: Invalid, Msg: fmt.Sprintf("policy file %s: %v", f.Path, err), Err: err}
	}
	data, err := readFileLimited(p)
	if err != nil {
		return nil, fileError(f.Path, err)
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	return &Snapshot{File: f.Path, Data: data, FetchedAt: now()}, nil
}

// ReadAt reads path from the filesystem; commit must be empty because a
// working file has no commit.
func (f *File) ReadAt(ctx context.Context, commit, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if commit != "" {
		return nil, &Error{Kind: Invalid, Commit: commit, Msg: fmt.Sprintf("policy file %s: cannot read %s at commit %s from a working file", f.Path, path, short(commit))}
	}
	p, err := expandHome(path)
	if err != nil {
		return nil, &Error{Kind: Invalid, Msg: fmt.Sprintf("policy file %s: %v", path, err), Err: err}
	}
	data, err := readFileLimited(p)
	if err != nil {
		return nil, fileError(path, err)
	}
	return data, nil
}

func fileError(name string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &Error{Kind: NotFound, Msg: fmt.Sprintf("policy file %s does not exist", name), Err: err}
	case errors.Is(err, errTooLarge):
		return &Error{Kind: Invalid, Msg: fmt.Sprintf("policy file %s is larger than %d bytes", name, maxPolicySize), Err: err}
	default:
		return &Error{Kind: Invalid, Msg: fmt.Sprintf("read policy file %s: %v", name, err), Err: err}
	}
}

var errTooLarge = errors.New("file too large")

func readFileLimited(p string) ([]byte, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory", p)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxPolicySize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPolicySize {
		return nil, errTooLarge
	}
	return data, nil
}

// expandHome expands a leading "~" or "~/" to the user's home directory.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand ~: %w", err)
	}
	return filepath.Join(home, p[1:]), nil
}

// short abbreviates a commit id for messages.
func short(id string) string {
	if len(id) > 7 {
		return id[:7]
	}
	return id
}

// humanAge renders a duration the way people say it: 45s, 12m, 3h, 3h20m, 2d4h.
func humanAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		// Sub-second ages only matter next to a sub-second max_age.
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}
