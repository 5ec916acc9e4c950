package httpsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

var allFormats = []string{FormatJSON, FormatSplunkHEC, FormatElasticsearch, FormatLoki, FormatOTLP}

func testSink(tb testing.TB, format string, mod func(*policy.SinkConfig)) *Sink {
	tb.Helper()
	cfg := policy.SinkConfig{Type: "http", URL: "http://127.0.0.1:9/x", Format: format}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, Options{Version: "v1.2.3"})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// body is one request body and the records it holds.
type body struct {
	data []byte
	recs []audit.Record
}

// bodies encodes batch as Send would, with bodies of at most max bytes.
func bodies(s *Sink, batch []audit.Record, max int) ([]body, error) {
	pieces, err := encodePieces(s.enc, batch)
	if err != nil {
		return nil, err
	}
	var out []body
	for start := 0; start < len(pieces); {
		data, n := assemble(s.enc, pieces[start:], max)
		out = append(out, body{data, batch[start : start+n]})
		start += n
	}
	return out, nil
}

// shippable says, independently of the encoder, whether a record must be
// accepted: its line one UTF-8 JSON object on one line, and for formats
// that read the event, an event with a time in 1970–2261 (and for loki a
// type).
func shippable(format string, r audit.Record) bool {
	l := r.Line
	if len(l) == 0 || l[0] != '{' || l[len(l)-1] != '}' || bytes.ContainsAny(l, "\r\n") || !utf8.Valid(l) || !json.Valid(l) {
		return false
	}
	if format == FormatJSON {
		return true
	}
	ev := r.Event
	if ev == nil {
		ev = new(audit.Event)
		if json.Unmarshal(l, ev) != nil {
			return false
		}
	}
	if ev.Time.Unix() < 0 || ev.Time.Year() >= 2262 {
		return false
	}
	if format == FormatLoki && (ev.Event == "" || !utf8.ValidString(ev.Event)) {
		return false
	}
	return true
}

func FuzzBodies(f *testing.F) {
	recs, _ := journalRecords(f, 12)
	for _, r := range recs {
		f.Add(r.Line, r.Event.Event, r.Event.RequestID, r.Event.Target, r.Event.Host, r.Event.Time.UnixNano(), r.Seq, false)
	}
	f.Add([]byte(`{"event":"grant","time":"2026-01-02T03:04:05Z","seq":1}`), "", "", "", "", int64(0), uint64(0), false)
	f.Add([]byte(`{"a":"\u2028</script>\"\\"}`), "deny\x00", "r\xff", "t\n", "h\"", int64(-1), uint64(math.MaxUint64), true)
	f.Add([]byte("{}\n"), "", "", "", "", int64(math.MaxInt64), uint64(1), true)
	f.Add([]byte(`{"time":"1969-12-31T23:59:59Z"}`), "", "", "", "", int64(0), uint64(1), false)
	f.Add([]byte(`[1,2]`), "", "", "", "", int64(0), uint64(1), false)
	f.Add([]byte("{\"x\":\"\xc3\x28\"}"), "", "", "", "", int64(0), uint64(1), false)

	good := recs[1]
	sinks := map[string]*Sink{}
	for _, format := range allFormats {
		sinks[format] = testSink(f, format, func(c *policy.SinkConfig) {
			if format == FormatElasticsearch || format == FormatSplunkHEC {
				c.Index = "audit-x"
			}
		})
	}
	f.Fuzz(func(t *testing.T, line []byte, event, requestID, target, host string, nanos int64, seq uint64, withEvent bool) {
		r := audit.Record{Seq: seq, Line: line}
		if withEvent {
			r.Event = &audit.Event{Event: event, RequestID: requestID, Target: target, Host: host, Seq: seq,
				Time: time.Unix(0, nanos).UTC()}
		}
		batch := []audit.Record{good, r, good}
		for _, format := range allFormats {
			s := sinks[format]
			want := shippable(format, r)
			for _, max := range []int{DefaultMaxBodyBytes, 300} {
				bs, err := bodies(s, batch, max)
				if !want {
					if err == nil || !errors.Is(err, ErrBadRecord) {
						t.Fatalf("%s: an unshippable record (%q) gave err %v", format, line, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %q refused: %v", format, line, err)
				}
				var all []audit.Record
				for _, b := range bs {
					if len(b.data) > max && len(b.recs) != 1 {
						t.Fatalf("%s: a body of %d bytes > %d holds %d records", format, len(b.data), max, len(b.recs))
					}
					evs, err := decodeBody(format, b.data)
					if err != nil {
						t.Fatalf("%s: the body does not decode: %v\n%q", format, err, b.data)
					}
					checkShipped(t, format, b.recs, evs)
					all = append(all, b.recs...)
				}
				if len(all) != len(batch) {
					t.Fatalf("%s: the bodies hold %d records, want %d", format, len(all), len(batch))
				}
			}
		}
	})
}

// checkShipped compares the decoded events of a batch's bodies with the
// batch: every line verbatim, in order (for loki, in order within each
// stream), with the event's time and the format's metadata.
func checkShipped(t *testing.T, format string, batch []audit.Record, got []shipped) {
	t.Helper()
	if len(got) != len(batch) {
		t.Fatalf("%s: %d events decoded, want %d", format, len(got), len(batch))
	}
	type want struct {
		r  audit.Record
		ev *audit.Event
	}
	var wants []want
	for _, r := range batch {
		ev := r.Event
		if ev == nil && format != FormatJSON {
			ev = new(audit.Event)
			_ = json.Unmarshal(r.Line, ev)
		}
		wants = append(wants, want{r, ev})
	}
	if format == FormatLoki {
		// Streams group by event type; within one, batch order.
		slices.SortStableFunc(wants, func(a, b want) int {
			return strings.Compare(streamOrder(batch, a.ev.Event), streamOrder(batch, b.ev.Event))
		})
	}
	for i, g := range got {
		w := wants[i]
		if !bytes.Equal(g.line, w.r.Line) {
			t.Fatalf("%s: event %d is %q, want the line %q", format, i, g.line, w.r.Line)
		}
		switch format {
		case FormatSplunkHEC, FormatLoki, FormatOTLP:
			if g.unixNano != w.ev.Time.UnixNano() {
				t.Fatalf("%s: event %d has time %d, want %d", format, i, g.unixNano, w.ev.Time.UnixNano())
			}
		}
		switch format {
		case FormatSplunkHEC:
			if g.attrs["host"] != w.ev.Host || g.attrs["index"] != "audit-x" {
				t.Fatalf("hec: event %d has %v, want host %q", i, g.attrs, w.ev.Host)
			}
		case FormatElasticsearch:
			wantAction := map[string]string{"_index": "audit-x"}
			if isHexHash(w.ev.Hash) {
				wantAction["_id"] = w.ev.Hash
			}
			if !mapsEqual(g.attrs, wantAction) {
				t.Fatalf("es: event %d action %v, want %v", i, g.attrs, wantAction)
			}
		case FormatLoki:
			if !mapsEqual(g.attrs, map[string]string{"app": "jit", "event": w.ev.Event}) {
				t.Fatalf("loki: event %d labels %v", i, g.attrs)
			}
		case FormatOTLP:
			seq := w.r.Seq
			if seq == 0 {
				seq = w.ev.Seq
			}
			num, text := otlpSeverity(w.ev.Event)
			wantAttrs := map[string]string{
				"service.name": "jit", "scope": "jit.audit",
				"severity_number": strconv.Itoa(num), "severity_text": text,
				"jit.event": strings.ToValidUTF8(w.ev.Event, "\uFFFD"),
			}
			if w.ev.RequestID != "" {
				wantAttrs["jit.request_id"] = strings.ToValidUTF8(w.ev.RequestID, "\uFFFD")
			}
			if w.ev.Target != "" {
				wantAttrs["jit.target"] = strings.ToValidUTF8(w.ev.Target, "\uFFFD")
			}
			if seq <= math.MaxInt64 {
				wantAttrs["jit.seq"] = strconv.FormatUint(seq, 10)
			}
			if !mapsEqual(g.attrs, wantAttrs) {
				t.Fatalf("otlp: event %d attributes %v, want %v", i, g.attrs, wantAttrs)
			}
		}
	}
}

// streamOrder ranks an event type by its first appearance in the batch.
func streamOrder(batch []audit.Record, typ string) string {
	for i, r := range batch {
		ev := r.Event
		if ev == nil {
			ev = new(audit.Event)
			_ = json.Unmarshal(r.Line, ev)
		}
		if ev.Event == typ {
			return strconv.Itoa(1000000 + i)
		}
	}
	return "x"
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// FuzzAppendJSONString checks the string escaper against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range reasons {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // callers pass valid UTF-8 only
		}
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Fatalf("%q encodes to %s, which decodes to %q (%v)", s, b, back, err)
		}
		want, _ := audit.Canonical(s)
		if !bytes.Equal(b, want) {
			t.Fatalf("%q: %s, want the journal's escaping %s", s, b, want)
		}
	})
}

// BenchmarkEncode measures building the bodies of a 500-event batch.
func BenchmarkEncode(b *testing.B) {
	recs, _ := journalRecords(b, 500)
	for _, format := range allFormats {
		b.Run(format, func(b *testing.B) {
			s := testSink(b, format, nil)
			var size int
			for b.Loop() {
				bs, err := bodies(s, recs, DefaultMaxBodyBytes)
				if err != nil {
					b.Fatal(err)
				}
				size = len(bs[0].data)
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(size)/float64(len(recs)), "bytes/event")
		})
	}
}
