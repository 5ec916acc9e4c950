package s3sink

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// Two machines ship their journals to one bucket and prefix (a policy's
// sink is shared): each journal's objects go under its own id, and each
// directory verifies as one chain.
func TestJournalsKeptApart(t *testing.T) {
	s := startServer(t)
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	ids := map[string]*journal{}
	for i := 0; i < 2; i++ {
		j := makeJournal(t, 12+i, start, time.Second)
		id, err := audit.JournalID(j.path)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 16 || id != j.records[0].Event.Hash[:16] {
			t.Fatalf("JournalID = %q, first hash %q", id, j.records[0].Event.Hash)
		}
		ids[id] = j
		opts := rootCreds()
		opts.JournalID = func() (string, error) { return audit.JournalID(j.path) }
		sink, err := New(context.Background(), s.sinkConfig("jit/"), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches(j.records, 5) {
			if err := sink.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
		sink.Close()
	}
	if len(ids) != 2 {
		t.Fatal("two journals share an id")
	}
	for id, j := range ids {
		objs := s.listObjects("jit/" + id + "/")
		if len(objs) != 3 {
			t.Fatalf("journal %s: %d objects", id, len(objs))
		}
		for _, o := range objs {
			if !strings.HasPrefix(o.key, "jit/"+id+"/2026/12/03/") {
				t.Errorf("key %s", o.key)
			}
		}
		data, _ := readAll(t, s.sinkConfig("jit/"+id+"/"), rootCreds())
		if string(data) != string(j.data) {
			t.Errorf("journal %s: the objects are not the journal", id)
		}
		mustVerify(t, data, len(j.records))
	}
}

func TestJournalIDErrors(t *testing.T) {
	if _, err := audit.JournalID(t.TempDir() + "/none.jsonl"); err == nil {
		t.Error("JournalID of a missing journal succeeded")
	}
	opts := Options{JournalID: func() (string, error) { return "a/b", nil }}
	sink, err := New(context.Background(), policyConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Key([]audit.Record{rec(1, time.Now(), strings.Repeat("a", 64))}); err == nil {
		t.Error("a journal id with a slash became a key element")
	}
}

func policyConfig() policy.SinkConfig {
	return policy.SinkConfig{Type: "s3", Bucket: "audit", Endpoint: "http://127.0.0.1:9", Region: "us-east-1"}
}
