// Package grants keeps jit's local record of the grants it made on this
// machine — never a secret, only what is needed to list them (`jit status`),
// end them early (`jit revoke`) and journal their end (`expire`) even when
// the jit process that made them was killed.
//
// One JSON file per grant, <dir>/<request id>.json, mode 0600 in a 0700
// directory, written atomically (temp file and rename).
package grants

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jitaccess/jit/providers"
)

// States of a record.
const (
	StateActive  = "active"
	StatePending = "pending" // awaiting approval in the cloud
)

// Record is one grant as jit remembers it.
type Record struct {
	RequestID  string            `json:"request_id"`
	State      string            `json:"state"`
	Target     string            `json:"target"`
	Provider   string            `json:"provider"`
	Principal  string            `json:"principal"`
	Source     string            `json:"principal_source,omitempty"`
	Groups     []string          `json:"groups,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Ticket     string            `json:"ticket,omitempty"`
	Created    time.Time         `json:"created"`
	NotBefore  time.Time         `json:"not_before,omitempty"`
	NotAfter   time.Time         `json:"not_after,omitempty"`
	Refs       map[string]string `json:"refs,omitempty"`
	Revocable  bool              `json:"revocable"`
	RevokeNote string            `json:"revoke_note,omitempty"`
	Host       string            `json:"host,omitempty"`
	// SessionPID is the jit process running the grant's session, while it
	// runs; SessionEnded is set when it recorded the end.
	SessionPID   int               `json:"session_pid,omitempty"`
	SessionCmd   []string          `json:"session_command,omitempty"`
	SessionEnded bool              `json:"session_ended,omitempty"`
	Policy       map[string]string `json:"policy,omitempty"`
}

// Grant rebuilds the provider's view of the grant, for Revoke.
func (r *Record) Grant() *providers.Grant {
	return &providers.Grant{
		RequestID: r.RequestID, Target: r.Target, Provider: r.Provider, Principal: r.Principal,
		NotBefore: r.NotBefore, NotAfter: r.NotAfter, Refs: r.Refs, Revocable: r.Revocable, RevokeNote: r.RevokeNote,
	}
}

// Expired reports whether the grant has ended by time.
func (r *Record) Expired(now time.Time) bool {
	return r.State == StateActive && !r.NotAfter.IsZero() && !now.Before(r.NotAfter)
}

// Store is the directory of records.
type Store struct {
	Dir string
}

// validID keeps request ids usable as file names.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Store) path(id string) string { return filepath.Join(s.Dir, id+".json") }

// Put writes a record, replacing any with the same request id.
func (s *Store) Put(r *Record) error {
	if !validID(r.RequestID) {
		return fmt.Errorf("grant record: invalid request id %q", r.RequestID)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("grant record: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("grant record: %w", err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".tmp-"+r.RequestID+"-*")
	if err != nil {
		return fmt.Errorf("grant record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("grant record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("grant record: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path(r.RequestID)); err != nil {
		return fmt.Errorf("grant record: %w", err)
	}
	return nil
}

// Get reads one record.
func (s *Store) Get(id string) (*Record, error) {
	if !validID(id) {
		return nil, fmt.Errorf("invalid request id %q", id)
	}
	data, err := os.ReadFile(s.path(id))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("grant record %s: %w", id, err)
	}
	return &r, nil
}

// Delete removes a record; a missing one is not an error.
func (s *Store) Delete(id string) error {
	if !validID(id) {
		return fmt.Errorf("invalid request id %q", id)
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List returns every record, oldest first. Unreadable files are reported
// in the error but do not hide the others.
func (s *Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Record
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		r, err := s.Get(strings.TrimSuffix(name, ".json"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RequestID < out[j].RequestID })
	return out, errors.Join(errs...)
}
