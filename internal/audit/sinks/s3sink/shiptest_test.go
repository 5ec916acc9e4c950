package s3sink

import (
	"bytes"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship/shiptest"
)

// TestShiptestKillRestart runs the shipping core's kill-and-restart test
// against versitygw: 1,000 elevations, each a separate jit run shipping to a
// new s3 sink, with the server SIGKILLed in the middle and restarted on the
// same port and directory later. What ReadAll returns must be the journal,
// every event once, in order, and verify.
func TestShiptestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1,000 elevations")
	}
	srv := startServer(t)
	cfg := srv.sinkConfig("ship/")
	newSink := func() audit.BatchSink {
		s, err := New(t.Context(), cfg, rootCreds())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	read := func() [][]byte {
		data, r := readAll(t, cfg, rootCreds())
		if sk := r.Skipped(); len(sk) > 0 {
			t.Logf("ReadAll skipped %d objects: %v", len(sk), sk)
		}
		return bytes.SplitAfter(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	}
	start := time.Now()
	shiptest.RunKillRestartWith(t, shiptest.KillRestart{Timeout: 2 * time.Second}, newSink, srv.kill, srv.start, read)
	t.Logf("1,000 elevations through a kill and restart in %s; server started %d times", time.Since(start).Round(time.Millisecond), srv.starts)
	if srv.starts != 2 {
		t.Fatalf("server started %d times, want 2 (start, restart)", srv.starts)
	}
}
