package httpsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// vlCase is one way of shipping to VictoriaLogs and of reading the events
// back.
type vlCase struct {
	name    string
	format  string
	path    string
	headers map[string]string
	labels  map[string]string
	// line recovers the journal line from a stored row.
	line func(row map[string]string) ([]byte, error)
	// byRequest and byEvent are LogsQL queries for the events of one
	// request and of one type.
	byRequest func(id string) string
	byEvent   func(typ string) string
}

func fromMsg(row map[string]string) ([]byte, error) {
	msg, ok := row["_msg"]
	if !ok {
		return nil, errors.New("no _msg")
	}
	return []byte(msg), nil
}

// unpacked queries fields of the line kept as _msg.
func unpacked(field string) func(string) string {
	return func(v string) string {
		return fmt.Sprintf(`* | unpack_json fields (%s) result_prefix "j." | filter j.%s:=%s`, field, field, strconv.Quote(v))
	}
}

func vlCases() []vlCase {
	return []vlCase{
		{
			name: "splunk-hec", format: FormatSplunkHEC,
			// The sink completes /services/collector to …/event.
			path:      "/insert/splunk/services/collector",
			line:      func(row map[string]string) ([]byte, error) { return reconstruct(row, "event.") },
			byRequest: func(id string) string { return "event.request_id:=" + strconv.Quote(id) },
			byEvent:   func(t string) string { return "event.event:=" + strconv.Quote(t) },
		},
		{
			name: "splunk-hec-line", format: FormatSplunkHEC,
			path:      "/insert/splunk/services/collector/event",
			headers:   map[string]string{"VL-Msg-Field": "event", "VL-Preserve-JSON-Keys": "event"},
			line:      fromMsg,
			byRequest: unpacked("request_id"),
			byEvent:   unpacked("event"),
		},
		{
			name: "elasticsearch", format: FormatElasticsearch,
			path:    "/insert/elasticsearch",
			headers: map[string]string{"VL-Time-Field": "time"},
			line: func(row map[string]string) ([]byte, error) {
				// The time field became _time.
				r := map[string]string{"time": row["_time"]}
				for k, v := range row {
					r[k] = v
				}
				return reconstruct(r, "")
			},
			byRequest: func(id string) string { return "request_id:=" + strconv.Quote(id) },
			byEvent:   func(t string) string { return "event:=" + strconv.Quote(t) },
		},
		{
			name: "loki", format: FormatLoki,
			path:      "/insert/loki/api/v1/push",
			headers:   map[string]string{"VL-Loki-Disable-Message-Parsing": "1"},
			labels:    map[string]string{"app": "jit", "env": "test"},
			line:      fromMsg,
			byRequest: unpacked("request_id"),
			// The event type is a stream label.
			byEvent: func(t string) string { return fmt.Sprintf(`{app="jit",env="test",event=%s}`, strconv.Quote(t)) },
		},
		{
			name: "otlp", format: FormatOTLP,
			path:      "/insert/opentelemetry",
			line:      fromMsg,
			byRequest: func(id string) string { return "jit.request_id:=" + strconv.Quote(id) },
			byEvent:   func(t string) string { return "jit.event:=" + strconv.Quote(t) },
		},
	}
}

func (c vlCase) sink(tb testing.TB, v *vlogs) *Sink {
	tb.Helper()
	return c.sinkAt(tb, "http://"+v.addr)
}

// sinkAt returns the case's sink for a VictoriaLogs at base.
func (c vlCase) sinkAt(tb testing.TB, base string) *Sink {
	tb.Helper()
	s, err := New(policy.SinkConfig{Type: "http", URL: base + c.path, Format: c.format, Headers: c.headers,
		Labels: c.labels, Timeout: 5 * time.Second}, Options{Version: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// stored reads every event back from VictoriaLogs: the recovered lines by
// seq, and how many rows each seq had.
func (c vlCase) stored(tb testing.TB, v *vlogs, q string) (map[uint64][]byte, map[uint64]int, []map[string]string) {
	tb.Helper()
	rows := v.query(q)
	lines := map[uint64][]byte{}
	copies := map[uint64]int{}
	for _, row := range rows {
		line, err := c.line(row)
		if err != nil {
			tb.Fatalf("recover the line from %v: %v", row, err)
		}
		var ev audit.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			tb.Fatalf("recovered line %q: %v", line, err)
		}
		if prev, dup := lines[ev.Seq]; dup && string(prev) != string(line) {
			tb.Fatalf("seq %d stored twice with different content:\n%s\n%s", ev.Seq, prev, line)
		}
		lines[ev.Seq] = line
		copies[ev.Seq]++
	}
	return lines, copies, rows
}

func TestVictoriaLogsFormats(t *testing.T) {
	vlogsBinary(t)
	recs, _ := journalRecords(t, 300)
	for _, c := range vlCases() {
		t.Run(c.name, func(t *testing.T) {
			v := startVLogs(t)
			s := c.sink(t, v)
			// Uneven batches, as a shipper's backlog would come.
			for start := 0; start < len(recs); start += 37 {
				if err := s.Send(context.Background(), recs[start:min(len(recs), start+37)]); err != nil {
					t.Fatalf("send: %v", err)
				}
			}

			lines, copies, rows := c.stored(t, v, "* | sort by (_time)")
			if len(rows) != len(recs) {
				t.Fatalf("VictoriaLogs holds %d rows, want %d", len(rows), len(recs))
			}
			var ordered [][]byte
			for _, r := range recs {
				got, ok := lines[r.Seq]
				if !ok || copies[r.Seq] != 1 {
					t.Fatalf("seq %d stored %d times", r.Seq, copies[r.Seq])
				}
				if string(got) != string(r.Line) {
					t.Fatalf("seq %d: the stored event differs from the journal line:\n got %s\nwant %s", r.Seq, got, r.Line)
				}
				ordered = append(ordered, got)
			}
			verifyCopy(t, ordered)

			// _time is the event's time, so time order is journal order.
			var last uint64
			for i, row := range rows {
				line, _ := c.line(row)
				var ev audit.Event
				_ = json.Unmarshal(line, &ev)
				ts, err := time.Parse(time.RFC3339Nano, row["_time"])
				if err != nil || !ts.Equal(ev.Time) {
					t.Fatalf("row %d (seq %d): _time %q, want the event time %s", i, ev.Seq, row["_time"], ev.Time.Format(time.RFC3339Nano))
				}
				if ev.Seq < last {
					t.Fatalf("row %d: seq %d after seq %d in time order", i, ev.Seq, last)
				}
				last = ev.Seq
			}

			for _, id := range []string{"req-00000", "req-00031", "req-00074"} {
				var want []uint64
				for _, r := range recs {
					if r.Event.RequestID == id {
						want = append(want, r.Seq)
					}
				}
				got, _, _ := c.stored(t, v, c.byRequest(id))
				if seqs := sortedKeys(got); !slices.Equal(seqs, want) {
					t.Errorf("query for request %s found seqs %v, want %v", id, seqs, want)
				}
			}
			for _, typ := range []string{audit.EventGrant, audit.EventDeny} {
				want := 0
				for _, r := range recs {
					if r.Event.Event == typ {
						want++
					}
				}
				got, _, _ := c.stored(t, v, c.byEvent(typ))
				if len(got) != want {
					t.Errorf("query for %s events found %d, want %d", typ, len(got), want)
				}
				for seq, line := range got {
					if string(line) != string(recs[seq-1].Line) || recs[seq-1].Event.Event != typ {
						t.Errorf("query for %s events found seq %d, a %s", typ, seq, recs[seq-1].Event.Event)
					}
				}
			}
			if c.format == FormatOTLP {
				checkOTLPFields(t, rows, recs)
			}
		})
	}
}

// checkOTLPFields checks the attributes and severity VictoriaLogs stored.
func checkOTLPFields(t *testing.T, rows []map[string]string, recs []audit.Record) {
	t.Helper()
	for _, row := range rows {
		var ev audit.Event
		_ = json.Unmarshal([]byte(row["_msg"]), &ev)
		num, _ := otlpSeverity(ev.Event)
		want := map[string]string{
			"jit.event":       ev.Event,
			"jit.request_id":  ev.RequestID,
			"jit.target":      ev.Target,
			"jit.seq":         strconv.FormatUint(ev.Seq, 10),
			"severity_number": strconv.Itoa(num),
			"service.name":    "jit",
		}
		for k, w := range want {
			if row[k] != w {
				t.Fatalf("seq %d: field %s = %q, want %q (row %v)", ev.Seq, k, row[k], w, row)
			}
		}
	}
	_ = recs
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestVictoriaLogsKilled ships 1,000 events in batches while VictoriaLogs
// is SIGKILLed in the middle and restarted on the same port and storage,
// retrying failed batches as the shipper does. Every event must then be
// there, in order, duplicated only where a batch was accepted but its
// acknowledgment lost, and the copy must verify.
//
// A batch counts as acknowledged when Send returned nil and the rows were
// then persisted: VictoriaLogs answers before it writes rows to disk (within
// -inmemoryDataFlushInterval, 5 s by default), so a SIGKILL loses rows it
// has already acknowledged. A store meant to be relied on must have a
// durable acknowledgment (Elasticsearch's translog, Loki's WAL, Splunk's
// indexer acknowledgment); persist stands in for it here.
func TestVictoriaLogsKilled(t *testing.T) {
	vlogsBinary(t)
	const n, batch = 1000, 25
	recs, _ := journalRecords(t, n)
	for _, c := range vlCases() {
		if c.name == "splunk-hec-line" {
			continue // same wire format as splunk-hec
		}
		t.Run(c.name, func(t *testing.T) {
			v := startVLogs(t)
			s := c.sink(t, v)

			var (
				sent      atomic.Int64 // events acknowledged so far
				killed    = make(chan struct{})
				restarted = make(chan struct{})
			)
			go func() {
				// Kill in the middle, while the sender is busy.
				for sent.Load() < n/2 {
					time.Sleep(time.Millisecond)
				}
				v.kill()
				close(killed)
				time.Sleep(300 * time.Millisecond)
				v.restart()
				close(restarted)
			}()

			failedAttempts := 0
			retried := map[uint64]bool{} // seqs of batches that were sent more than once
			deadline := time.Now().Add(2 * time.Minute)
			for start := 0; start < n; start += batch {
				b := recs[start:min(n, start+batch)]
				for attempt := 0; ; attempt++ {
					if time.Now().After(deadline) {
						t.Fatalf("batch at seq %d not delivered in time", b[0].Seq)
					}
					err := s.Send(context.Background(), b)
					if err == nil {
						err = v.persist()
					} else if !IsRetryable(err) {
						t.Fatalf("seq %d: a dead server must give a retryable error, got %v", b[0].Seq, err)
					}
					if err == nil {
						break
					}
					failedAttempts++
					for _, r := range b {
						retried[r.Seq] = true
					}
					time.Sleep(50 * time.Millisecond) // the shipper's backoff
				}
				sent.Add(int64(len(b)))
			}
			<-killed
			<-restarted
			if failedAttempts == 0 {
				t.Fatal("no send failed: the kill did not land in the middle of the run")
			}

			lines, copies, rows := c.stored(t, v, "*")
			dups := len(rows) - len(lines)
			var ordered [][]byte
			for _, r := range recs {
				got, ok := lines[r.Seq]
				if !ok {
					t.Fatalf("seq %d is missing after the restart (%d of %d there)", r.Seq, len(lines), n)
				}
				if string(got) != string(r.Line) {
					t.Fatalf("seq %d differs:\n got %s\nwant %s", r.Seq, got, r.Line)
				}
				if copies[r.Seq] > 1 && !retried[r.Seq] {
					t.Fatalf("seq %d stored %d times, but its batch was sent once", r.Seq, copies[r.Seq])
				}
				ordered = append(ordered, got)
			}
			verifyCopy(t, ordered)
			t.Logf("%s: %d events, %d failed attempts while VictoriaLogs was down, %d duplicates (batches accepted whose acknowledgment was lost)",
				c.name, n, failedAttempts, dups)
		})
	}
}

// TestVictoriaLogsBacklog ships 10,000 backlogged events in batches of
// 1,000; it must take under 5 s per format.
func TestVictoriaLogsBacklog(t *testing.T) {
	vlogsBinary(t)
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 10000
	recs, _ := journalRecords(t, n)
	for _, c := range vlCases() {
		if c.name == "splunk-hec-line" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			v := startVLogs(t)
			s := c.sink(t, v)
			start := time.Now()
			for i := 0; i < n; i += 1000 {
				if err := s.Send(context.Background(), recs[i:min(n, i+1000)]); err != nil {
					t.Fatal(err)
				}
			}
			took := time.Since(start)
			if got := v.count("*"); got != n {
				t.Fatalf("VictoriaLogs holds %d events, want %d", got, n)
			}
			t.Logf("%s: %d backlogged events shipped in %s (%.0f events/s)", c.name, n, took.Round(time.Millisecond), n/took.Seconds())
			if took > 5*time.Second {
				t.Fatalf("shipping %d events took %s, want < 5 s", n, took)
			}
		})
	}
}

// BenchmarkShipVictoriaLogs measures shipping throughput to a loopback
// VictoriaLogs, in batches of 500 events.
func BenchmarkShipVictoriaLogs(b *testing.B) {
	vlogsBinary(b)
	const batch = 500
	recs, _ := journalRecords(b, batch)
	for _, c := range vlCases() {
		if c.name == "splunk-hec-line" {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			v := startVLogs(b)
			s := c.sink(b, v)
			for b.Loop() {
				if err := s.Send(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// TestVictoriaLogsAnswerLost puts a proxy between the sink and
// VictoriaLogs that lets one batch through and then cuts the connection
// instead of relaying the answer: the server has the batch, the sink sees a
// failure and the batch is sent again. Exactly that batch must be stored
// twice, and the copy deduplicated by hash must verify.
func TestVictoriaLogsAnswerLost(t *testing.T) {
	vlogsBinary(t)
	const n, batch, dropAt = 200, 20, 4
	recs, _ := journalRecords(t, n)
	for _, c := range vlCases() {
		if c.name == "splunk-hec-line" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			v := startVLogs(t)
			var requests atomic.Int64
			var dropped atomic.Bool
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				req, _ := http.NewRequest(r.Method, v.url(r.URL.RequestURI()), bytes.NewReader(body))
				req.Header = r.Header.Clone()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				answer, _ := io.ReadAll(resp.Body)
				if requests.Add(1) == dropAt && resp.StatusCode/100 == 2 {
					dropped.Store(true)
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						conn.Close()
					}
					return
				}
				for k, vs := range resp.Header {
					w.Header()[k] = vs
				}
				w.WriteHeader(resp.StatusCode)
				w.Write(answer)
			}))
			t.Cleanup(proxy.Close)
			s := c.sinkAt(t, proxy.URL)

			resent := map[uint64]bool{}
			for start := 0; start < n; start += batch {
				b := recs[start:min(n, start+batch)]
				for attempt := 0; ; attempt++ {
					err := s.Send(context.Background(), b)
					if err == nil {
						break
					}
					if !IsRetryable(err) || attempt > 3 {
						t.Fatalf("seq %d: %v", b[0].Seq, err)
					}
					for _, r := range b {
						resent[r.Seq] = true
					}
				}
			}
			if !dropped.Load() {
				t.Fatal("the proxy dropped no answer")
			}
			lines, copies, rows := c.stored(t, v, "*")
			var ordered [][]byte
			for _, r := range recs {
				want := 1
				if resent[r.Seq] {
					want = 2
				}
				if copies[r.Seq] != want {
					t.Fatalf("seq %d stored %d times, want %d", r.Seq, copies[r.Seq], want)
				}
				if string(lines[r.Seq]) != string(r.Line) {
					t.Fatalf("seq %d differs", r.Seq)
				}
				ordered = append(ordered, lines[r.Seq])
			}
			if len(resent) != batch || len(rows) != n+batch {
				t.Fatalf("%d events resent, %d rows: want one batch of %d twice", len(resent), len(rows), batch)
			}
			verifyCopy(t, ordered)
		})
	}
}
