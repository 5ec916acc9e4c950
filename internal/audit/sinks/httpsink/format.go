package httpsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit/internal/audit"
)

// piece is one record encoded for a format; key groups pieces that share a
// Loki stream.
type piece struct {
	data []byte
	key  string
}

// encoder builds the bodies of one format. A body is framing around pieces:
// base bytes once, sep bytes between pieces, keyCost bytes for each distinct
// key; assemble uses these to stay under the size limit.
type encoder interface {
	contentType() string
	// needsEvent is true when pieces use the parsed event, not just the line.
	needsEvent() bool
	piece(r audit.Record, ev *audit.Event) (piece, error)
	base() int
	sep() int
	keyCost(key string) int
	build(pieces []piece) []byte
	// checksAnswer is true when a 2xx answer must be read and checked.
	checksAnswer() bool
	// checkAnswer reads the answer (at most MaxResponseBytes+1 bytes are
	// readable) and returns nil if the batch was accepted, or an
	// *answerError.
	checkAnswer(contentType string, r io.Reader) error
}

// answerError is a 2xx answer that does not accept the batch.
type answerError struct {
	msg       string
	retryable bool
}

func (e *answerError) Error() string { return e.msg }

func refused(retryable bool, format string, args ...any) error {
	return &answerError{msg: fmt.Sprintf(format, args...), retryable: retryable}
}

// ErrBadRecord marks a record that cannot be shipped in the sink's format.
var ErrBadRecord = errors.New("record cannot be shipped")

// checkLine accepts one UTF-8 JSON object on one line: what every format
// embeds verbatim or carries as a string.
func checkLine(line []byte) error {
	switch {
	case len(line) == 0:
		return errors.New("empty line")
	case line[0] != '{' || line[len(line)-1] != '}':
		return errors.New("not a JSON object")
	case bytes.ContainsAny(line, "\r\n"):
		return errors.New("not on one line")
	case !utf8.Valid(line):
		return errors.New("not valid UTF-8")
	case !json.Valid(line):
		return errors.New("not valid JSON")
	}
	return nil
}

// minTime and maxTime bound the times every format can carry as Unix
// nanoseconds in an int64.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

func encodePieces(enc encoder, batch []audit.Record) ([]piece, error) {
	pieces := make([]piece, 0, len(batch))
	for i, r := range batch {
		seq := r.Seq
		fail := func(err error) error {
			if seq == 0 {
				return fmt.Errorf("%w: batch record %d: %v", ErrBadRecord, i+1, err)
			}
			return fmt.Errorf("%w: seq %d: %v", ErrBadRecord, seq, err)
		}
		if err := checkLine(r.Line); err != nil {
			return nil, fail(err)
		}
		ev := r.Event
		if enc.needsEvent() {
			if ev == nil {
				ev = new(audit.Event)
				if err := json.Unmarshal(r.Line, ev); err != nil {
					return nil, fail(fmt.Errorf("does not parse as an event: %v", err))
				}
				if seq == 0 {
					seq = ev.Seq
				}
			}
			if ev.Time.Before(minTime) || !ev.Time.Before(maxTime) {
				return nil, fail(fmt.Errorf("time %s is outside 1970–2261", ev.Time.Format(time.RFC3339)))
			}
		}
		p, err := enc.piece(r, ev)
		if err != nil {
			return nil, fail(err)
		}
		pieces = append(pieces, p)
	}
	return pieces, nil
}

// assemble builds the body of the longest prefix of pieces that fits in max
// bytes (at least one piece) and returns it with that prefix's length.
func assemble(enc encoder, pieces []piece, max int) ([]byte, int) {
	size := enc.base()
	keys := map[string]bool{}
	n := 0
	for _, p := range pieces {
		cost := len(p.data)
		if n > 0 {
			cost += enc.sep()
		}
		if !keys[p.key] {
			cost += enc.keyCost(p.key)
		}
		if n > 0 && size+cost > max {
			break
		}
		keys[p.key] = true
		size += cost
		n++
	}
	return enc.build(pieces[:n]), n
}

// appendJSONString is the journal's own string quoting.
func appendJSONString(dst []byte, s string) []byte { return audit.AppendJSONString(dst, s) }

// readAnswer reads a whole answer of at most MaxResponseBytes.
func readAnswer(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, refused(true, "read answer: %v", err)
	}
	if len(data) > MaxResponseBytes {
		return nil, refused(false, "the answer is larger than %d bytes: cannot confirm the batch was accepted", MaxResponseBytes)
	}
	return data, nil
}

// json: a JSON array of the lines.

type jsonEncoder struct{}

func (jsonEncoder) contentType() string { return "application/json" }
func (jsonEncoder) needsEvent() bool    { return false }
func (jsonEncoder) piece(r audit.Record, _ *audit.Event) (piece, error) {
	return piece{data: r.Line}, nil
}
func (jsonEncoder) base() int                           { return 2 }
func (jsonEncoder) sep() int                            { return 1 }
func (jsonEncoder) keyCost(string) int                  { return 0 }
func (jsonEncoder) checksAnswer() bool                  { return false }
func (jsonEncoder) checkAnswer(string, io.Reader) error { return nil }
func (jsonEncoder) build(pieces []piece) []byte {
	b := make([]byte, 0, sizeOf(pieces, 1)+2)
	b = append(b, '[')
	for i, p := range pieces {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.data...)
	}
	return append(b, ']')
}

func sizeOf(pieces []piece, sep int) int {
	n := 0
	for _, p := range pieces {
		n += len(p.data) + sep
	}
	return n
}

// splunk-hec: newline-separated HEC event objects.

type hecEncoder struct{ index string }

func (hecEncoder) contentType() string { return "application/json" }
func (hecEncoder) needsEvent() bool    { return true }
func (e hecEncoder) piece(r audit.Record, ev *audit.Event) (piece, error) {
	b := make([]byte, 0, len(r.Line)+128)
	t := ev.Time
	b = append(b, `{"time":`...)
	b = strconv.AppendInt(b, t.Unix(), 10)
	b = append(b, '.')
	ns := strconv.Itoa(t.Nanosecond())
	b = append(b, "000000000"[len(ns):]...)
	b = append(b, ns...)
	if ev.Host != "" {
		b = append(b, `,"host":`...)
		b = appendJSONString(b, ev.Host)
	}
	b = append(b, `,"source":"jit","sourcetype":"jit:audit"`...)
	if e.index != "" {
		b = append(b, `,"index":`...)
		b = appendJSONString(b, e.index)
	}
	b = append(b, `,"event":`...)
	b = append(b, r.Line...)
	return piece{data: append(b, '}')}, nil
}
func (hecEncoder) base() int          { return 0 }
func (hecEncoder) sep() int           { return 1 }
func (hecEncoder) keyCost(string) int { return 0 }
func (hecEncoder) checksAnswer() bool { return true }
func (hecEncoder) build(pieces []piece) []byte {
	b := make([]byte, 0, sizeOf(pieces, 1))
	for i, p := range pieces {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, p.data...)
	}
	return b
}

func (hecEncoder) checkAnswer(_ string, r io.Reader) error {
	data, err := readAnswer(r)
	if err != nil {
		return err
	}
	var a struct {
		Text string `json:"text"`
		Code *int   `json:"code"`
	}
	if err := json.Unmarshal(data, &a); err != nil || a.Code == nil {
		return refused(false, "the answer is not a Splunk HEC answer (%s): is the url a HEC endpoint?", firstLine(data))
	}
	if *a.Code != 0 {
		return refused(false, "HEC answered code %d: %s", *a.Code, firstLine([]byte(a.Text)))
	}
	return nil
}

// elasticsearch: _bulk NDJSON.

type esEncoder struct{ index string }

func (esEncoder) contentType() string { return "application/x-ndjson" }
func (esEncoder) needsEvent() bool    { return true }
func (e esEncoder) piece(r audit.Record, ev *audit.Event) (piece, error) {
	b := make([]byte, 0, len(r.Line)+len(e.index)+110)
	b = append(b, `{"create":{"_index":`...)
	b = appendJSONString(b, e.index)
	if isHexHash(ev.Hash) {
		b = append(b, `,"_id":"`...)
		b = append(b, ev.Hash...)
		b = append(b, '"')
	}
	b = append(b, "}}\n"...)
	b = append(b, r.Line...)
	return piece{data: append(b, '\n')}, nil
}
func (esEncoder) base() int          { return 0 }
func (esEncoder) sep() int           { return 0 }
func (esEncoder) keyCost(string) int { return 0 }
func (esEncoder) checksAnswer() bool { return true }
func (esEncoder) build(pieces []piece) []byte {
	b := make([]byte, 0, sizeOf(pieces, 0))
	for _, p := range pieces {
		b = append(b, p.data...)
	}
	return b
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkAnswer streams the _bulk answer: `errors` comes first in practice,
// and when it is false the items (about 200 bytes each in Elasticsearch,
// more than MaxResponseBytes for a large batch) need not be read.
func (esEncoder) checkAnswer(_ string, r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	bad := func() error {
		return refused(false, "the answer is not an Elasticsearch _bulk answer: is the url a _bulk endpoint?")
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad()
	}
	var errorsFlag *bool
	var items *esResult
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return esReadError(err)
		}
		key, _ := tok.(string)
		switch key {
		case "errors":
			var v bool
			if err := dec.Decode(&v); err != nil {
				return esReadError(err)
			}
			if !v {
				return nil
			}
			if items != nil {
				return items.verdict()
			}
			errorsFlag = &v
		case "items":
			res, err := esItems(dec)
			if err != nil {
				return esReadError(err)
			}
			if errorsFlag != nil {
				return res.verdict()
			}
			items = &res
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return esReadError(err)
			}
		}
	}
	if errorsFlag == nil {
		return bad()
	}
	return refused(false, "Elasticsearch answered errors:true but listed no items")
}

func esReadError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return refused(false, "the _bulk answer is cut off or larger than %d bytes: cannot confirm the batch was accepted", MaxResponseBytes)
	}
	return refused(false, "the answer is not an Elasticsearch _bulk answer: %v", err)
}

type esResult struct {
	failed, retryable, dup int
	first                  string
}

func (r esResult) verdict() error {
	if r.failed == 0 {
		// Only 409s: the documents are there already (a batch sent again).
		return nil
	}
	return refused(r.retryable == r.failed, "Elasticsearch refused %d of the batch's documents; first: %s", r.failed, r.first)
}

// esItems reads the items array, counting the failures other than 409
// (document exists: this batch, or part of it, was delivered before).
func esItems(dec *json.Decoder) (esResult, error) {
	var res esResult
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		if err == nil {
			err = errors.New("items is not an array")
		}
		return res, err
	}
	for i := 0; dec.More(); i++ {
		var item map[string]struct {
			Status int `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		if err := dec.Decode(&item); err != nil {
			return res, err
		}
		for _, v := range item {
			switch {
			case v.Status == 409:
				res.dup++
			case v.Status >= 300 || v.Error != nil:
				res.failed++
				if v.Status == 429 || v.Status >= 500 {
					res.retryable++
				}
				if res.first == "" {
					res.first = fmt.Sprintf("document %d: status %d", i+1, v.Status)
					if v.Error != nil {
						res.first += ": " + firstLine([]byte(v.Error.Type+": "+v.Error.Reason))
					}
				}
			}
		}
	}
	_, err := dec.Token() // ]
	return res, err
}

// loki: push API JSON.

type lokiEncoder struct {
	keys   []string // label names, sorted, "event" among them
	values map[string]string
}

var lokiLabelName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`) })

func newLokiEncoder(cfg map[string]string) (lokiEncoder, error) {
	if len(cfg) == 0 {
		cfg = map[string]string{"app": "jit"}
	}
	keys := make([]string, 0, len(cfg)+1)
	for k, v := range cfg {
		switch {
		case !lokiLabelName().MatchString(k) || strings.HasPrefix(k, "__"):
			return lokiEncoder{}, fmt.Errorf("label name %q is not a valid Loki label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", k)
		case k == "event":
			return lokiEncoder{}, errors.New(`label "event" is set by the sink to the event type: use another name`)
		case v == "" || !utf8.ValidString(v):
			return lokiEncoder{}, fmt.Errorf("label %s: the value is empty or not UTF-8", k)
		}
		keys = append(keys, k)
	}
	keys = append(keys, "event")
	slices.Sort(keys)
	return lokiEncoder{keys: keys, values: maps.Clone(cfg)}, nil
}

// labels renders the stream labels of an event type.
func (e lokiEncoder) labels(event string) []byte {
	b := []byte{'{'}
	for i, k := range e.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		if k == "event" {
			b = appendJSONString(b, event)
		} else {
			b = appendJSONString(b, e.values[k])
		}
	}
	return append(b, '}')
}

func (lokiEncoder) contentType() string { return "application/json" }
func (lokiEncoder) needsEvent() bool    { return true }
func (lokiEncoder) piece(r audit.Record, ev *audit.Event) (piece, error) {
	if ev.Event == "" || !utf8.ValidString(ev.Event) {
		return piece{}, errors.New("no event type")
	}
	b := make([]byte, 0, len(r.Line)+len(r.Line)/8+32)
	b = append(b, `["`...)
	b = strconv.AppendInt(b, ev.Time.UnixNano(), 10)
	b = append(b, `",`...)
	b = appendJSONString(b, string(r.Line))
	return piece{data: append(b, ']'), key: ev.Event}, nil
}

const (
	lokiHead       = `{"streams":[`
	lokiTail       = `]}`
	lokiStreamHead = `{"stream":`
	lokiValuesHead = `,"values":[`
	lokiStreamTail = `]}`
)

func (lokiEncoder) base() int { return len(lokiHead) + len(lokiTail) }
func (lokiEncoder) sep() int  { return 1 }
func (e lokiEncoder) keyCost(key string) int {
	return len(lokiStreamHead) + len(e.labels(key)) + len(lokiValuesHead) + len(lokiStreamTail) + 1
}
func (lokiEncoder) checksAnswer() bool                  { return false }
func (lokiEncoder) checkAnswer(string, io.Reader) error { return nil }

// build writes one stream per event type, in the order the types first
// appear; within a stream the values keep the batch's (seq) order.
func (e lokiEncoder) build(pieces []piece) []byte {
	var order []string
	groups := map[string][]int{}
	for i, p := range pieces {
		if _, ok := groups[p.key]; !ok {
			order = append(order, p.key)
		}
		groups[p.key] = append(groups[p.key], i)
	}
	b := make([]byte, 0, sizeOf(pieces, 1)+len(order)*96+16)
	b = append(b, lokiHead...)
	for si, key := range order {
		if si > 0 {
			b = append(b, ',')
		}
		b = append(b, lokiStreamHead...)
		b = append(b, e.labels(key)...)
		b = append(b, lokiValuesHead...)
		for vi, i := range groups[key] {
			if vi > 0 {
				b = append(b, ',')
			}
			b = append(b, pieces[i].data...)
		}
		b = append(b, lokiStreamTail...)
	}
	return append(b, lokiTail...)
}
