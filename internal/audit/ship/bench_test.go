package ship

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

// noopSink accepts everything at once: what is left is the shipper's own
// cost (reading the journal, parsing each event, the cursor).
type noopSink struct{}

func (noopSink) Name() string                               { return "noop" }
func (noopSink) Send(context.Context, []audit.Record) error { return nil }
func (noopSink) Close() error                               { return nil }

// backlogJournal writes a journal of n realistic events once per size.
func backlogJournal(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	j := audit.OpenJournal(path)
	events := make([]*audit.Event, 0, 100)
	for i := range n {
		exp := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
		events = append(events, &audit.Event{
			Event: audit.EventGrant, RequestID: fmt.Sprintf("01JEQ8Z%019d", i), Target: "prod", Provider: "aws",
			Principal: &audit.Principal{ID: "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Eng_1a2b/alice@example.com", Source: "aws:sts:GetCallerIdentity", Groups: []string{"sre"}},
			DurationS: 3600, ExpiresAt: &exp, Reason: "CHG-42 rotate keys", Ticket: "CHG-42",
			Decision: &audit.Decision{Allowed: true, Rule: "sre-prod"},
			Policy:   &audit.PolicyRef{Repo: "git@github.com:acme/access.git", Ref: "main", Commit: "2675c8c6d0b8b0c5c7f2d6a1b2c3d4e5f6a7b8c9", File: "jit.yaml"},
			Grant:    map[string]string{"access_key_id": "ASIAEXAMPLE", "assumed_role_id": "AROAEXAMPLE:jit-x"},
			Host:     "laptop", JitVersion: "v0.1.0",
		})
		if len(events) == cap(events) || i == n-1 {
			if err := j.Append(events...); err != nil {
				b.Fatal(err)
			}
			events = events[:0]
		}
	}
	return path
}

// benchmarkBacklog ships a backlog of 10,000 events from a fresh cursor.
func benchmarkBacklog(b *testing.B, newSink func(dir string) audit.BatchSink) {
	const n = 10000
	journal := backlogJournal(b, n)
	b.ReportAllocs()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		s := &Shipper{Journal: journal, CursorDir: filepath.Join(dir, "cursors"), Targets: []Target{{Sink: newSink(dir), Name: "bench"}}}
		start := time.Now()
		st := s.Ship(context.Background())[0]
		total += time.Since(start)
		if !st.OK() || st.Sent != n {
			b.Fatalf("status %+v", st)
		}
		s.Close()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
}

// BenchmarkShipNoop is the shipper's own throughput.
func BenchmarkShipNoop(b *testing.B) {
	benchmarkBacklog(b, func(string) audit.BatchSink { return noopSink{} })
}

// BenchmarkShipFile ships to a file sink, which syncs each batch (500
// events).
func BenchmarkShipFile(b *testing.B) {
	benchmarkBacklog(b, func(dir string) audit.BatchSink { return audit.NewFileSink(filepath.Join(dir, "copy.jsonl"), 0) })
}

// BenchmarkShipRound is what shipping adds to one append of a jit run with
// a sink that is up: lock, cursor, the journal's new line, the Send, the
// cursor update.
func BenchmarkShipRound(b *testing.B) {
	journal := backlogJournal(b, 1000)
	j := audit.OpenJournal(journal)
	s := &Shipper{Journal: journal, Targets: []Target{{Sink: noopSink{}, Name: "bench"}}}
	defer s.Close()
	s.Ship(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := j.Append(&audit.Event{Event: audit.EventRequest, Target: "prod"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if st := s.Ship(context.Background())[0]; st.Sent != 1 {
			b.Fatalf("status %+v", st)
		}
	}
}

// BenchmarkShipRoundNewProcess is a round as the first one of a jit run:
// a new Shipper, which opens its files.
func BenchmarkShipRoundNewProcess(b *testing.B) {
	journal := backlogJournal(b, 1000)
	j := audit.OpenJournal(journal)
	(&Shipper{Journal: journal, Targets: []Target{{Sink: noopSink{}, Name: "bench"}}}).Ship(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := j.Append(&audit.Event{Event: audit.EventRequest, Target: "prod"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s := &Shipper{Journal: journal, Targets: []Target{{Sink: noopSink{}, Name: "bench"}}}
		if st := s.Ship(context.Background())[0]; st.Sent != 1 {
			b.Fatalf("status %+v", st)
		}
		s.Close()
	}
}
