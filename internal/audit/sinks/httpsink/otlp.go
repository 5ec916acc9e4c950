package httpsink

import (
	"encoding/json"
	"io"
	"math"
	"mime"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/jitaccess/jit/internal/audit"
)

// OTLP field numbers (opentelemetry-proto, logs v1 and common v1). The
// messages are few and stable, so they are written with protowire rather
// than through the generated OTLP module.
const (
	// ExportLogsServiceRequest
	otlpResourceLogs = 1
	// ResourceLogs
	otlpRLResource  = 1
	otlpRLScopeLogs = 2
	// Resource
	otlpResourceAttributes = 1
	// ScopeLogs
	otlpSLScope      = 1
	otlpSLLogRecords = 2
	// InstrumentationScope
	otlpScopeName    = 1
	otlpScopeVersion = 2
	// LogRecord
	otlpLRTime           = 1 // fixed64
	otlpLRSeverityNumber = 2
	otlpLRSeverityText   = 3
	otlpLRBody           = 5
	otlpLRAttributes     = 6
	// KeyValue
	otlpKVKey   = 1
	otlpKVValue = 2
	// AnyValue
	otlpAnyString = 1
	otlpAnyInt    = 3
	// ExportLogsServiceResponse / ExportLogsPartialSuccess
	otlpRespPartialSuccess   = 1
	otlpPartialRejected      = 1
	otlpPartialErrorMessage  = 2
	otlpSeverityInfo         = 9
	otlpSeverityWarn         = 13
	otlpSeverityError        = 17
	otlpScope                = "jit.audit"
	otlpMaxLenVarint         = 5 // a length below 4 GiB
	otlpResourceServiceName  = "service.name"
	otlpResourceServiceValue = "jit"
)

// otlpSeverity maps an event type to its OTLP severity.
func otlpSeverity(event string) (int, string) {
	switch event {
	case audit.EventDeny:
		return otlpSeverityWarn, "WARN"
	case audit.EventError:
		return otlpSeverityError, "ERROR"
	}
	return otlpSeverityInfo, "INFO"
}

type otlpEncoder struct{ version string }

func (otlpEncoder) contentType() string { return "application/x-protobuf" }
func (otlpEncoder) needsEvent() bool    { return true }

// piece encodes one LogRecord message (without its tag and length).
func (otlpEncoder) piece(r audit.Record, ev *audit.Event) (piece, error) {
	b := make([]byte, 0, len(r.Line)+160)
	b = protowire.AppendTag(b, otlpLRTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, uint64(ev.Time.UnixNano()))
	num, text := otlpSeverity(ev.Event)
	b = protowire.AppendTag(b, otlpLRSeverityNumber, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(num))
	b = appendStringField(b, otlpLRSeverityText, text)
	// AnyValue{string_value: line}; the line is valid UTF-8 (checkLine).
	b = protowire.AppendTag(b, otlpLRBody, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(protowire.SizeTag(otlpAnyString)+protowire.SizeBytes(len(r.Line))))
	b = protowire.AppendTag(b, otlpAnyString, protowire.BytesType)
	b = protowire.AppendBytes(b, r.Line)
	b = appendStringAttr(b, otlpLRAttributes, "jit.event", ev.Event)
	if ev.RequestID != "" {
		b = appendStringAttr(b, otlpLRAttributes, "jit.request_id", ev.RequestID)
	}
	if ev.Target != "" {
		b = appendStringAttr(b, otlpLRAttributes, "jit.target", ev.Target)
	}
	seq := r.Seq
	if seq == 0 {
		seq = ev.Seq
	}
	if seq <= math.MaxInt64 {
		b = appendIntAttr(b, otlpLRAttributes, "jit.seq", int64(seq))
	}
	return piece{data: b}, nil
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendStringAttr appends a KeyValue with a string AnyValue as field num.
// Proto3 strings must be UTF-8: an invalid sequence (impossible in a parsed
// event) becomes U+FFFD rather than an unparsable message.
func appendStringAttr(b []byte, num protowire.Number, key, val string) []byte {
	if !utf8.ValidString(val) {
		val = strings.ToValidUTF8(val, "\uFFFD")
	}
	anyLen := protowire.SizeTag(otlpAnyString) + protowire.SizeBytes(len(val))
	kvLen := protowire.SizeTag(otlpKVKey) + protowire.SizeBytes(len(key)) +
		protowire.SizeTag(otlpKVValue) + protowire.SizeBytes(anyLen)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(kvLen))
	b = appendStringField(b, otlpKVKey, key)
	b = protowire.AppendTag(b, otlpKVValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	return appendStringField(b, otlpAnyString, val)
}

func appendIntAttr(b []byte, num protowire.Number, key string, val int64) []byte {
	anyLen := protowire.SizeTag(otlpAnyInt) + protowire.SizeVarint(uint64(val))
	kvLen := protowire.SizeTag(otlpKVKey) + protowire.SizeBytes(len(key)) +
		protowire.SizeTag(otlpKVValue) + protowire.SizeBytes(anyLen)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(kvLen))
	b = appendStringField(b, otlpKVKey, key)
	b = protowire.AppendTag(b, otlpKVValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	b = protowire.AppendTag(b, otlpAnyInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(val))
}

// resource returns the Resource message: service.name=jit.
func (e otlpEncoder) resource() []byte {
	var res []byte
	res = appendStringAttr(res, otlpResourceAttributes, otlpResourceServiceName, otlpResourceServiceValue)
	return res
}

// scope returns the InstrumentationScope message.
func (e otlpEncoder) scope() []byte {
	var sc []byte
	sc = appendStringField(sc, otlpScopeName, otlpScope)
	if e.version != "" {
		sc = appendStringField(sc, otlpScopeVersion, strings.ToValidUTF8(e.version, "\uFFFD"))
	}
	return sc
}

func (e otlpEncoder) base() int {
	// Three nested length-delimited messages, each a tag and a length.
	return len(e.resource()) + len(e.scope()) + 5*(1+otlpMaxLenVarint)
}

// sep is each further record's tag and length (base has room for the
// first one's).
func (otlpEncoder) sep() int           { return 1 + otlpMaxLenVarint }
func (otlpEncoder) keyCost(string) int { return 0 }

func (e otlpEncoder) build(pieces []piece) []byte {
	res, sc := e.resource(), e.scope()
	scopeLogsLen := protowire.SizeTag(otlpSLScope) + protowire.SizeBytes(len(sc))
	for _, p := range pieces {
		scopeLogsLen += protowire.SizeTag(otlpSLLogRecords) + protowire.SizeBytes(len(p.data))
	}
	resourceLogsLen := protowire.SizeTag(otlpRLResource) + protowire.SizeBytes(len(res)) +
		protowire.SizeTag(otlpRLScopeLogs) + protowire.SizeBytes(scopeLogsLen)
	b := make([]byte, 0, protowire.SizeTag(otlpResourceLogs)+protowire.SizeBytes(resourceLogsLen))
	b = protowire.AppendTag(b, otlpResourceLogs, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(resourceLogsLen))
	b = protowire.AppendTag(b, otlpRLResource, protowire.BytesType)
	b = protowire.AppendBytes(b, res)
	b = protowire.AppendTag(b, otlpRLScopeLogs, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(scopeLogsLen))
	b = protowire.AppendTag(b, otlpSLScope, protowire.BytesType)
	b = protowire.AppendBytes(b, sc)
	for _, p := range pieces {
		b = protowire.AppendTag(b, otlpSLLogRecords, protowire.BytesType)
		b = protowire.AppendBytes(b, p.data)
	}
	return b
}

func (otlpEncoder) checksAnswer() bool { return true }

// checkAnswer looks for a partial success that rejected records. The
// answer is protobuf (what was sent) or, from some receivers, JSON.
func (otlpEncoder) checkAnswer(contentType string, r io.Reader) error {
	data, err := readAnswer(r)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	var rejected int64
	var msg string
	switch mt {
	case "application/json":
		var a struct {
			PartialSuccess *struct {
				RejectedLogRecords json.Number `json:"rejectedLogRecords"`
				ErrorMessage       string      `json:"errorMessage"`
			} `json:"partialSuccess"`
		}
		if err := json.Unmarshal(data, &a); err != nil {
			return refused(false, "the answer is not an OTLP answer (%s)", firstLine(data))
		}
		if ps := a.PartialSuccess; ps != nil {
			rejected, _ = ps.RejectedLogRecords.Int64()
			msg = ps.ErrorMessage
		}
	case "application/x-protobuf", "application/protobuf":
		var ok bool
		rejected, msg, ok = parsePartialSuccess(data)
		if !ok {
			return refused(false, "the answer is not an OTLP protobuf answer")
		}
	default:
		// A 2xx in another type (text from a proxy): the status is all
		// there is to go by.
		return nil
	}
	if rejected > 0 {
		return refused(false, "the receiver rejected %d of the batch's log records: %s", rejected, firstLine([]byte(msg)))
	}
	return nil
}

// parsePartialSuccess reads ExportLogsServiceResponse.partial_success.
func parsePartialSuccess(b []byte) (rejected int64, msg string, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, "", false
		}
		b = b[n:]
		if num == otlpRespPartialSuccess && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, "", false
			}
			b = b[n:]
			for len(v) > 0 {
				fnum, ftyp, m := protowire.ConsumeTag(v)
				if m < 0 {
					return 0, "", false
				}
				v = v[m:]
				switch {
				case fnum == otlpPartialRejected && ftyp == protowire.VarintType:
					x, m := protowire.ConsumeVarint(v)
					if m < 0 {
						return 0, "", false
					}
					rejected, v = int64(x), v[m:]
				case fnum == otlpPartialErrorMessage && ftyp == protowire.BytesType:
					s, m := protowire.ConsumeBytes(v)
					if m < 0 {
						return 0, "", false
					}
					msg, v = string(s), v[m:]
				default:
					m := protowire.ConsumeFieldValue(fnum, ftyp, v)
					if m < 0 {
						return 0, "", false
					}
					v = v[m:]
				}
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, "", false
		}
		b = b[m:]
	}
	return rejected, msg, true
}
