package grants

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestPutGetListDelete(t *testing.T) {
	s := &Store{Dir: filepath.Join(t.TempDir(), "state", "grants")}
	if recs, err := s.List(); err != nil || recs != nil {
		t.Fatalf("List of a missing dir = %v, %v", recs, err)
	}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	a := &Record{RequestID: "01B", State: StateActive, Target: "prod", Provider: "aws", Principal: "arn:x",
		Created: now, NotAfter: now.Add(time.Hour), Refs: map[string]string{"access_key_id": "ASIA1"}, SessionPID: 42, SessionCmd: []string{"sh"}}
	b := &Record{RequestID: "01A", State: StatePending, Target: "pam", Provider: "gcp", Refs: map[string]string{"grant": "g/1"}}
	for _, r := range []*Record{a, b} {
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get("01B")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, a)
	}
	recs, err := s.List()
	if err != nil || len(recs) != 2 || recs[0].RequestID != "01A" || recs[1].RequestID != "01B" {
		t.Fatalf("List = %+v, %v", recs, err)
	}
	for path, mode := range map[string]os.FileMode{s.Dir: 0o700, filepath.Join(s.Dir, "01B.json"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, mode)
		}
	}
	if err := s.Delete("01B"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("01B"); err != nil {
		t.Errorf("deleting a missing record: %v", err)
	}
	if recs, _ := s.List(); len(recs) != 1 {
		t.Errorf("after delete: %d records", len(recs))
	}
}

func TestRejectsPathsAsIDs(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	for _, id := range []string{"", "../x", "a/b", "x.json", ".hidden"} {
		if err := s.Put(&Record{RequestID: id}); err == nil {
			t.Errorf("Put(%q) accepted", id)
		}
		if _, err := s.Get(id); err == nil {
			t.Errorf("Get(%q) accepted", id)
		}
	}
}

func TestListSkipsDamagedRecords(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if err := s.Put(&Record{RequestID: "GOOD", State: StateActive}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "BAD.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := s.List()
	if err == nil || len(recs) != 1 || recs[0].RequestID != "GOOD" {
		t.Errorf("List = %+v, %v; want the good record and an error naming the bad one", recs, err)
	}
}

func TestExpiredAndGrant(t *testing.T) {
	now := time.Now()
	r := &Record{RequestID: "X", State: StateActive, Target: "t", Provider: "p", NotAfter: now, Refs: map[string]string{"k": "v"}, Revocable: true}
	if !r.Expired(now) || r.Expired(now.Add(-time.Second)) {
		t.Error("Expired is wrong at the boundary")
	}
	if (&Record{State: StatePending}).Expired(now) {
		t.Error("a pending grant without an end expired")
	}
	g := r.Grant()
	if g.RequestID != "X" || g.Refs["k"] != "v" || !g.Revocable || g.Env != nil {
		t.Errorf("Grant() = %+v", g)
	}
}
