package syslog

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit/internal/audit"
)

func TestMessage(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	h := header{hostname: "laptop", procID: "4242"}
	line := []byte(`{"event":"grant","seq":7}`)
	full := func(typ string) *audit.Event {
		return &audit.Event{Event: typ, Seq: 7, Time: at, RequestID: "r1", Target: "prod",
			Principal: &audit.Principal{ID: "alice"}, Hash: "ab12", Host: "build-01"}
	}
	tests := []struct {
		name string
		rec  audit.Record
		want string
	}{
		{"grant", audit.Record{Seq: 7, Line: line, Event: full("grant")},
			`<85>1 2026-12-03T10:00:00.123456Z build-01 jit 4242 grant [jit@32473 seq="7" request_id="r1" target="prod" principal="alice" hash="ab12"] ` + string(line)},
		{"deny is warning", audit.Record{Seq: 7, Line: line, Event: full("deny")},
			`<84>1 2026-12-03T10:00:00.123456Z build-01 jit 4242 deny [jit@32473 seq="7" request_id="r1" target="prod" principal="alice" hash="ab12"] ` + string(line)},
		{"error is warning", audit.Record{Seq: 7, Line: line, Event: full("error")},
			`<84>1 2026-12-03T10:00:00.123456Z build-01 jit 4242 error [jit@32473 seq="7" request_id="r1" target="prod" principal="alice" hash="ab12"] ` + string(line)},
		{"extend is notice", audit.Record{Seq: 7, Line: line, Event: full("extend")},
			`<85>1 2026-12-03T10:00:00.123456Z build-01 jit 4242 extend [jit@32473 seq="7" request_id="r1" target="prod" principal="alice" hash="ab12"] ` + string(line)},
		{"request is info", audit.Record{Seq: 7, Line: line, Event: full("request")},
			`<86>1 2026-12-03T10:00:00.123456Z build-01 jit 4242 request [jit@32473 seq="7" request_id="r1" target="prod" principal="alice" hash="ab12"] ` + string(line)},
		{"unknown type with a space is info, MSGID nil", audit.Record{Seq: 1, Line: line, Event: &audit.Event{Event: "odd type", Time: at}},
			`<86>1 2026-12-03T10:00:00.123456Z laptop jit 4242 - [jit@32473 seq="1"] ` + string(line)},
		{"MSGID longer than 32 is nil", audit.Record{Seq: 1, Line: line, Event: &audit.Event{Event: strings.Repeat("x", 33), Time: at}},
			`<86>1 2026-12-03T10:00:00.123456Z laptop jit 4242 - [jit@32473 seq="1"] ` + string(line)},
		{"escaping", audit.Record{Seq: 2, Line: line, Event: &audit.Event{Event: "grant", Time: at, Target: `a"b]c\d`, Principal: &audit.Principal{ID: `x]"\`}}},
			`<85>1 2026-12-03T10:00:00.123456Z laptop jit 4242 grant [jit@32473 seq="2" target="a\"b\]c\\d" principal="x\]\"\\"] ` + string(line)},
		{"control characters and bad UTF-8 become U+FFFD, other Unicode stays", audit.Record{Seq: 2, Line: line, Event: &audit.Event{Event: "grant", Time: at, Target: "é\n\x7f\u0085\xff✓"}},
			`<85>1 2026-12-03T10:00:00.123456Z laptop jit 4242 grant [jit@32473 seq="2" target="é` + strings.Repeat("\uFFFD", 4) + `✓"] ` + string(line)},
		{"time converted to UTC and truncated to microseconds", audit.Record{Seq: 3, Line: line, Event: &audit.Event{Event: "grant", Time: time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.FixedZone("x", 3600))}},
			`<85>1 2026-01-02T02:04:05.999999Z laptop jit 4242 grant [jit@32473 seq="3"] ` + string(line)},
		{"zero time is nil", audit.Record{Seq: 3, Line: line, Event: &audit.Event{Event: "grant"}},
			`<85>1 - laptop jit 4242 grant [jit@32473 seq="3"] ` + string(line)},
		{"year above 9999 is nil", audit.Record{Seq: 3, Line: line, Event: &audit.Event{Event: "grant", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
			`<85>1 - laptop jit 4242 grant [jit@32473 seq="3"] ` + string(line)},
		{"invalid host falls back", audit.Record{Seq: 3, Line: line, Event: &audit.Event{Event: "grant", Time: at, Host: "my host"}},
			`<85>1 2026-12-03T10:00:00.123456Z laptop jit 4242 grant [jit@32473 seq="3"] ` + string(line)},
		{"no line, no MSG", audit.Record{Seq: 3, Event: &audit.Event{Event: "grant", Time: at}},
			`<85>1 2026-12-03T10:00:00.123456Z laptop jit 4242 grant [jit@32473 seq="3"]`},
		{"no event: parsed from the line", audit.Record{Line: []byte(`{"event":"deny","seq":9,"time":"2026-12-03T10:00:00.5Z","target":"t"}`)},
			`<84>1 2026-12-03T10:00:00.500000Z laptop jit 4242 deny [jit@32473 seq="9" target="t"] {"event":"deny","seq":9,"time":"2026-12-03T10:00:00.5Z","target":"t"}`},
		{"no event, line not JSON", audit.Record{Seq: 4, Line: []byte(`not json`)},
			`<86>1 - laptop jit 4242 - [jit@32473 seq="4"] not json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendMessage(nil, tt.rec, h))
			if got != tt.want {
				t.Fatalf("message\n got %s\nwant %s", got, tt.want)
			}
			if _, err := parse5424([]byte(got)); err != nil {
				t.Fatalf("not valid RFC 5424: %v\n%s", err, got)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	want := map[string]int{
		audit.EventRequest: 6, audit.EventDeny: 4, audit.EventGrant: 5, audit.EventSessionStart: 6,
		audit.EventSessionEnd: 6, audit.EventExpire: 6, audit.EventRevoke: 6, audit.EventExtend: 5,
		audit.EventApprove: 6, audit.EventError: 4, "": 6, "future": 6,
	}
	for typ, sev := range want {
		if got := Severity(typ); got != sev {
			t.Errorf("Severity(%q) = %d, want %d", typ, got, sev)
		}
	}
}

// TestParse5424Rejects keeps the test parser honest: it must reject what
// the RFC rejects, or the fuzz test proves nothing.
func TestParse5424Rejects(t *testing.T) {
	bad := []string{
		``,
		`<192>1 - h a p m -`,
		`<085>1 - h a p m -`,
		`<85>0 - h a p m -`,
		`<85>1 2026-12-03T10:00:00.1234567Z h a p m -`,
		`<85>1 2026-12-03T10:00:00Q h a p m -`,
		`<85>1 2026-13-03T10:00:00Z h a p m -`,
		`<85>1 - h a p -`,
		`<85>1 - h a p m`,
		`<85>1 - h a p ` + strings.Repeat("m", 33) + ` -`,
		`<85>1 - h a p m [id x="a]"]`,
		`<85>1 - h a p m [id x="a\b"]`,
		`<85>1 - h a p m [id x="a"`,
		`<85>1 - h a p m [id x="` + "\xff" + `"]`,
		`<85>1 - h a p m [id x=a]`,
		`<85>1 - h a p m [id]x`,
		`<85>1 - h a p m x`,
	}
	for _, s := range bad {
		if m, err := parse5424([]byte(s)); err == nil {
			t.Errorf("parse5424(%q) accepted: %+v", s, m)
		}
	}
	good := []string{
		`<0>1 - - - - - -`,
		`<191>1 2026-12-03T10:00:00.123456+01:00 h a p m [a@1 x="\"\\\]"][b y=""] msg`,
		`<85>1 2026-12-03T10:00:00Z h a p m - `,
	}
	for _, s := range good {
		if _, err := parse5424([]byte(s)); err != nil {
			t.Errorf("parse5424(%q): %v", s, err)
		}
	}
}

// clean reports whether s survives appendParam unchanged: valid UTF-8
// without C0, DEL or C1 control characters.
func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

func FuzzMessage(f *testing.F) {
	f.Add("grant", "build-01", "r1", "prod", "alice", "ab12", int64(1796292000123456789), uint64(7), []byte(`{"seq":7}`), false, "laptop", "42")
	f.Add("odd type", "my host", `a"b]c\d`, "\xff\n", `x]"\`, "", int64(0), uint64(0), []byte{}, true, "", "-")
	f.Add("", "", "", "", "", "", int64(-1<<62), uint64(1<<63), []byte(`{"event":"deny","seq":9,"time":"2026-12-03T10:00:00.5Z"}`), true, "h", "1")
	f.Fuzz(func(t *testing.T, typ, host, req, target, principal, hash string, nanos int64, seq uint64, line []byte, bare bool, hostname, procID string) {
		s, err := New(policyConfig("udp://127.0.0.1:514"), Options{Hostname: hostname, ProcID: procID})
		if err != nil {
			t.Fatal(err)
		}
		e := &audit.Event{Event: typ, Host: host, RequestID: req, Target: target, Hash: hash, Time: time.Unix(0, nanos)}
		if principal != "" {
			e.Principal = &audit.Principal{ID: principal}
		}
		rec := audit.Record{Seq: seq, Line: line, Event: e}
		if bare {
			rec.Event = nil
		}
		msg := appendMessage(nil, rec, s.hdr)
		m, err := parse5424(msg)
		if err != nil {
			t.Fatalf("invalid RFC 5424: %v\n%q", err, msg)
		}
		if m.appName != AppName || m.version != 1 || m.pri/8 != Facility {
			t.Fatalf("header %+v", m)
		}
		if len(line) == 0 && m.msg != nil || len(line) > 0 && string(m.msg) != string(line) {
			t.Fatalf("MSG %q, want the line %q", m.msg, line)
		}
		if len(m.sd) != 1 || m.sd[0].id != SDID {
			t.Fatalf("structured data %+v", m.sd)
		}
		if bare {
			return
		}
		if m.pri%8 != Severity(typ) {
			t.Fatalf("severity %d for %q", m.pri%8, typ)
		}
		if want := headerField(typ, 32); m.msgID != want {
			t.Fatalf("MSGID %q for type %q", m.msgID, typ)
		}
		if m.timestamp != "-" {
			ts, err := time.Parse(time.RFC3339Nano, m.timestamp)
			if err != nil || !ts.Equal(e.Time.Truncate(time.Microsecond)) {
				t.Fatalf("TIMESTAMP %s for %s", m.timestamp, e.Time.UTC())
			}
		} else if y := e.Time.UTC().Year(); y >= 0 && y <= 9999 {
			t.Fatalf("no TIMESTAMP for %s", e.Time.UTC())
		}
		for _, p := range []struct{ name, in string }{{"request_id", req}, {"target", target}, {"principal", principal}, {"hash", hash}} {
			got, ok := m.param(p.name)
			if ok != (p.in != "") {
				t.Fatalf("param %s present=%v for %q", p.name, ok, p.in)
			}
			if ok && clean(p.in) && got != p.in {
				t.Fatalf("param %s = %q, want %q", p.name, got, p.in)
			}
			if ok && !clean(got) {
				t.Fatalf("param %s = %q holds control characters", p.name, got)
			}
		}
	})
}
