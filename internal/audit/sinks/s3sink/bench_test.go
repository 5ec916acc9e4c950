package s3sink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/policy"
)

// BenchmarkShip sends one batch per iteration to versitygw on loopback and
// reports events/s at several batch sizes.
func BenchmarkShip(b *testing.B) {
	srv := startServer(b)
	j := makeJournal(b, 10000, journalStart, time.Second)
	for _, size := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := mkSink(b, srv.sinkConfig(fmt.Sprintf("bench%d/", size)), rootCreds())
			bs := batches(j.records, size)
			bytes := 0
			for _, r := range bs[0] {
				bytes += len(r.Line) + 1
			}
			b.SetBytes(int64(bytes))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := s.Send(context.Background(), bs[i%len(bs)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkBacklog10k ships a backlog of 10,000 events, one batch after
// the other as the shipper does, and reports the time it takes.
func BenchmarkBacklog10k(b *testing.B) {
	srv := startServer(b)
	j := makeJournal(b, 10000, journalStart, time.Second)
	for _, size := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := mkSink(b, srv.sinkConfig(fmt.Sprintf("backlog%d/", size)), rootCreds())
			bs := batches(j.records, size)
			for b.Loop() {
				for _, batch := range bs {
					if err := s.Send(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/10k-events")
			b.ReportMetric(float64(b.N*len(j.records))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkNew is what building the sink costs each jit process that
// ships: loading the AWS configuration and making the client (no request).
func BenchmarkNew(b *testing.B) {
	isolateAWS(b)
	cfg := policy.SinkConfig{Type: "s3", Bucket: "audit", Endpoint: "http://127.0.0.1:9"}
	for b.Loop() {
		s, err := New(context.Background(), cfg, rootCreds())
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
