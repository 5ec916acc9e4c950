package httpsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

var eventTypes = []string{
	audit.EventRequest, audit.EventGrant, audit.EventSessionStart, audit.EventSessionEnd,
	audit.EventDeny, audit.EventError, audit.EventExpire, audit.EventRevoke, audit.EventExtend, audit.EventApprove,
}

// reasons exercise escaping: quotes, backslashes, HTML characters, control
// characters, JavaScript line separators, non-ASCII and astral characters.
var reasons = []string{
	`CHG-42 "quoted" \ back\slash`,
	"tab\tnewline\ncr\r nul-ish \x01\x1f del\x7f",
	"<script>&amp;</script> é ü ß 日本語 🔐",
	"line\u2028sep\u2029para",
	"",
}

// journalRecords appends n events to a new journal and returns its lines
// as a shipper would hand them over, and the journal's path.
func journalRecords(tb testing.TB, n int) ([]audit.Record, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "audit.jsonl")
	j := audit.OpenJournal(path)
	const chunk = 500
	for start := 0; start < n; start += chunk {
		var evs []*audit.Event
		for i := start; i < min(n, start+chunk); i++ {
			evs = append(evs, testEvent(i))
		}
		if err := j.Append(evs...); err != nil {
			tb.Fatalf("append: %v", err)
		}
	}
	return readJournal(tb, path), path
}

func testEvent(i int) *audit.Event {
	typ := eventTypes[i%len(eventTypes)]
	exit := i % 3
	exp := time.Now().Add(time.Hour).UTC()
	e := &audit.Event{
		Event:     typ,
		RequestID: fmt.Sprintf("req-%05d", i/4),
		Principal: &audit.Principal{ID: fmt.Sprintf("user%d@example.com", i%7), Source: "aws-sso", Groups: []string{"sre", "on-call"}},
		Target:    []string{"prod", "staging", "billing-admin"}[i%3],
		Provider:  "aws",
		Reason:    fmt.Sprintf("%s #%d", reasons[i%len(reasons)], i),
		Ticket:    fmt.Sprintf("CHG-%d", i),
		Host:      "ws-01.example.com",
	}
	switch typ {
	case audit.EventRequest:
		e.DurationS = 3600
	case audit.EventGrant:
		e.ExpiresAt = &exp
		e.Grant = map[string]string{"access_key_id": fmt.Sprintf("ASIA%012d", i), "assumed_role_id": "AROA:jit"}
		e.Decision = &audit.Decision{Allowed: true, Rule: "sre-prod", Reasons: []string{"group sre", "ticket given"}}
		e.Policy = &audit.PolicyRef{Repo: "git@example.com:sec/policy.git", Ref: "main", Commit: strings.Repeat("a", 40), File: "jit.yaml"}
	case audit.EventDeny:
		e.Decision = &audit.Decision{Allowed: false, Reasons: []string{"outside working hours"}}
	case audit.EventSessionEnd:
		e.Session = &audit.Session{Command: []string{"aws", "s3", "ls", "--profile=x y"}, ExitCode: &exit, DurationMS: int64(i)}
	case audit.EventError:
		e.Error = "assume role: AccessDenied"
	}
	return e
}

// readJournal returns the journal's lines as records.
func readJournal(tb testing.TB, path string) []audit.Record {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var recs []audit.Record
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		ev := new(audit.Event)
		if err := json.Unmarshal(line, ev); err != nil {
			tb.Fatalf("journal line %q: %v", line, err)
		}
		recs = append(recs, audit.Record{Seq: ev.Seq, Line: line, Event: ev})
	}
	return recs
}

// verifyCopy checks that lines, in this order, form a chain that
// audit.Verify accepts.
func verifyCopy(tb testing.TB, lines [][]byte) {
	tb.Helper()
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	rep, err := audit.Verify(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	if !rep.OK() || rep.Events != len(lines) {
		tb.Fatalf("the copy does not verify: %d events of %d, problems %v", rep.Events, len(lines), rep.Problems)
	}
}

// reconstruct rebuilds a journal line from the fields a store flattened an
// event into ("principal.id", "decision.allowed", arrays as JSON text,
// every value a string; empty strings dropped): it types each value by the
// audit.Event field it belongs to and writes the event's canonical JSON.
// The result is byte-identical to the journal line only if the store kept
// every value exactly.
func reconstruct(fields map[string]string, prefix string) ([]byte, error) {
	tree := map[string]any{}
	for k, v := range fields {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		k = strings.TrimPrefix(k, prefix)
		top, rest, nested := strings.Cut(k, ".")
		ft, ok := jsonField(reflect.TypeFor[audit.Event](), top)
		if !ok {
			continue // a field of the store's own, not of the event
		}
		if !nested {
			val, err := typed(ft, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			tree[top] = val
			continue
		}
		obj, _ := tree[top].(map[string]any)
		if obj == nil {
			obj = map[string]any{}
			tree[top] = obj
		}
		et := ft
		for et.Kind() == reflect.Pointer {
			et = et.Elem()
		}
		var mt reflect.Type
		switch et.Kind() {
		case reflect.Map:
			mt = et.Elem() // grant: keys may hold dots
		case reflect.Struct:
			if mt, ok = jsonField(et, rest); !ok {
				return nil, fmt.Errorf("%s: unknown member", k)
			}
		default:
			return nil, fmt.Errorf("%s: %s is not an object", k, top)
		}
		val, err := typed(mt, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		obj[rest] = val
	}
	raw, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	var ev audit.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	return audit.Canonical(&ev)
}

func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// typed turns a store's string value into the JSON value of type t.
func typed(t reflect.Type, v string) (any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.String || t == reflect.TypeFor[time.Time]() {
		return v, nil
	}
	var raw json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, fmt.Errorf("value %q is not JSON for a %s", v, t)
	}
	return raw, nil
}
