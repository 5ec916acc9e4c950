package syslog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

// TestBacklog10k ships 10,000 backlogged events to a loopback rsyslog and
// requires that all of them are in rsyslog's file within 5 s (issue 4),
// for each transport and batch size the shipper might use. Over UDP it
// requires the time only and logs how many arrived.
func TestBacklog10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 events")
	}
	recs, _ := journalRecords(t, 10000)
	r := startRsyslog(t, rsyslogOptions{})
	for _, input := range []string{"tcp", "tls", "udp"} {
		for _, batch := range []int{100, 1000} {
			t.Run(fmt.Sprintf("%s/batch=%d", input, batch), func(t *testing.T) {
				before := len(r.completeLines(input + ".msg"))
				s, err := New(r.config(input), Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				start := time.Now()
				for i := 0; i < len(recs); i += batch {
					if err := s.Send(context.Background(), recs[i:min(i+batch, len(recs))]); err != nil {
						t.Fatal(err)
					}
				}
				sent := time.Since(start)
				lines := r.waitLines(input+".msg", before+len(recs), time.Second)
				arrived := time.Since(start)
				got := len(lines) - before
				t.Logf("%s, batches of %d: sent in %v (%.0f events/s), the last written by rsyslog after %v; %d of %d arrived",
					input, batch, sent.Round(time.Millisecond), float64(len(recs))/sent.Seconds(), arrived.Round(time.Millisecond), got, len(recs))
				if input != "udp" && got != len(recs) {
					t.Fatalf("%d of %d events arrived\n%s", got, len(recs), r.internal())
				}
				// UDP promises nothing: a receiver starved of CPU drops
				// datagrams however they are paced. What arrives must
				// still be journal lines, whole and in order.
				var last uint64
				for i, line := range lines[before:] {
					seq := seqOf(line)
					if seq <= last || seq > uint64(len(recs)) || string(line) != string(recs[seq-1].Line) {
						t.Fatalf("message %d is not the journal line after seq %d: %.80s", i+1, last, line)
					}
					last = seq
				}
				if arrived > 5*time.Second {
					t.Fatalf("10,000 events took %v, want under 5s", arrived)
				}
			})
		}
	}
}

// BenchmarkSend measures shipping throughput to a loopback rsyslog: each
// iteration sends one batch and counts as batch events. The events/s
// metric is the sink's; rsyslog keeps up (TestBacklog10k checks arrival).
func BenchmarkSend(b *testing.B) {
	recs, _ := journalRecords(b, 1000)
	r := startRsyslog(b, rsyslogOptions{})
	cases := []struct {
		input string
		opts  Options
	}{
		{"udp", Options{}},
		{"tcp", Options{}},
		{"tls", Options{}},
	}
	for _, c := range cases {
		for _, batch := range []int{10, 100, 1000} {
			name := c.input
			b.Run(fmt.Sprintf("%s/batch=%d", name, batch), func(b *testing.B) {
				s, err := New(r.config(c.input), c.opts)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				var bytes int64
				for _, rec := range recs[:batch] {
					bytes += int64(len(rec.Line))
				}
				b.SetBytes(bytes)
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					off := (i * batch) % len(recs)
					if err := s.Send(ctx, recs[off:min(off+batch, len(recs))]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

var _ audit.BatchSink = (*Sink)(nil)
