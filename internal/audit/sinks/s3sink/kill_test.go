package s3sink

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

// TestKillServerMidway ships 1,000 journaled events in batches of 20 while
// the server is SIGKILLed twice in the middle of a request (and restarted
// on the same port and directory) and two answers are lost after the server
// stored the object. The shipper loop retries each failed batch with
// backoff, as the shipper does. Afterwards the bucket must hold every event
// exactly once, in order, and verify.
func TestKillServerMidway(t *testing.T) {
	if testing.Short() {
		t.Skip("ships 1,000 events through two server restarts")
	}
	srv := startServer(t)
	j := makeJournal(t, 1000, journalStart, 3*time.Second)
	proxy := newDropProxy(t, srv.addr)
	cfg := srv.sinkConfig("kill/")
	cfg.Endpoint = proxy.endpoint()
	cfg.Timeout = 2 * time.Second
	opts := rootCreds()
	opts.RetryMaxAttempts = 1 // every failure reaches the shipper loop
	s := mkSink(t, cfg, opts)

	bs := batches(j.records, 20)
	killAt := map[int]bool{15: true, 35: true}
	dropAt := map[int]bool{5: true, 25: true}
	restarted := make(chan error, len(killAt))
	failures, attempts := 0, 0
	deadline := time.Now().Add(2 * time.Minute)
	for i, tries := 0, 0; i < len(bs); {
		if time.Now().After(deadline) {
			t.Fatalf("batch %d of %d still not delivered after 2 minutes (%d failures)", i+1, len(bs), failures)
		}
		if tries == 0 {
			if dropAt[i] {
				proxy.armed.Store(true)
			}
			if killAt[i] {
				kill := func() {
					srv.kill()
					go func() {
						time.Sleep(300 * time.Millisecond)
						restarted <- srv.tryStart()
					}()
				}
				proxy.onRequest.Store(&kill)
			}
		}
		attempts++
		err := s.Send(context.Background(), bs[i])
		if err != nil {
			failures++
			tries++
			if failures <= 6 {
				t.Logf("batch %d, try %d: %v", i+1, tries, err)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error holds the secret: %v", err)
			}
			time.Sleep(min(10*time.Millisecond<<min(tries, 5), 200*time.Millisecond))
			continue
		}
		i, tries = i+1, 0
	}
	for range killAt {
		if err := <-restarted; err != nil {
			t.Fatalf("restart: %v", err)
		}
	}
	t.Logf("%d batches delivered in %d attempts (%d failed), %d answers lost, server started %d times",
		len(bs), attempts, failures, proxy.dropped.Load(), srv.starts)
	if srv.starts != 3 || proxy.dropped.Load() != 2 || failures < 4 {
		t.Fatalf("the chaos did not happen: %d starts, %d answers dropped, %d failures", srv.starts, proxy.dropped.Load(), failures)
	}

	objs := srv.listObjects("kill/")
	if len(objs) != len(bs) {
		t.Fatalf("%d objects in the bucket, want %d: a retried batch was stored twice or one is missing", len(objs), len(bs))
	}
	seen := map[uint64]int{}
	for i, o := range objs {
		want, _ := s.Key(bs[i])
		if o.key != want {
			t.Fatalf("object %d is %s, want %s", i, o.key, want)
		}
		for line := range bytes.SplitSeq(bytes.TrimSuffix(o.body, []byte("\n")), []byte("\n")) {
			var e audit.Event
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatalf("%s: %v", o.key, err)
			}
			seen[e.Seq]++
		}
	}
	for seq := uint64(1); seq <= 1000; seq++ {
		if seen[seq] != 1 {
			t.Fatalf("seq %d is in the bucket %d times, want once", seq, seen[seq])
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("the bucket holds %d distinct seqs, want 1000", len(seen))
	}
	got := concat(objs)
	if !bytes.Equal(got, j.data) {
		t.Fatalf("the objects in key order (%d bytes) are not the journal (%d bytes)", len(got), len(j.data))
	}
	mustVerify(t, got, 1000)

	read, r := readAll(t, cfg, rootCreds())
	if !bytes.Equal(read, j.data) || len(r.Skipped()) != 0 {
		t.Fatalf("ReadAll after the restarts: %d bytes (journal %d), skipped %v", len(read), len(j.data), r.Skipped())
	}
}
