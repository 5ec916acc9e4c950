package syslog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/jitaccess/jit/internal/audit"
)

// SDID is the SD-ID of the structured-data element every message carries.
// 32473 is the private enterprise number IANA reserves for documentation
// examples (RFC 5612); jit has no registered number of its own. Receivers
// match on the whole SD-ID, so it is fixed rather than configurable: a
// deployment that needs another one filters on APP-NAME "jit" instead.
const SDID = "jit@32473"

// AppName is the APP-NAME of every message.
const AppName = "jit"

// Facility is the syslog facility of every message: authpriv (10), the one
// for security and authorisation messages that syslog daemons keep out of
// world-readable logs.
const Facility = 10

// Severities (RFC 5424 §6.2.1) jit uses.
const (
	SeverityWarning = 4
	SeverityNotice  = 5
	SeverityInfo    = 6
)

// Severity returns the severity a message for an event of type typ gets:
// warning for deny and error (something a security team looks at), notice
// for grant and extend (access was handed out or prolonged), info for
// everything else (request, session_start, session_end, expire, revoke,
// approve, and types added later).
func Severity(typ string) int {
	switch typ {
	case audit.EventDeny, audit.EventError:
		return SeverityWarning
	case audit.EventGrant, audit.EventExtend:
		return SeverityNotice
	}
	return SeverityInfo
}

// header holds the fields of a message that come from the sending process
// rather than from the event.
type header struct {
	hostname string // fallback HOSTNAME, already valid or "-"
	procID   string // PROCID, already valid or "-"
}

// timeLayout has exactly six fractional digits: RFC 5424 allows at most six,
// and rsyslog garbles more.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// appendMessage appends the RFC 5424 message for rec to dst:
//
//	<PRI>1 TIMESTAMP HOSTNAME jit PROCID MSGID [jit@32473 seq=".." ...] LINE
//
// MSG is rec.Line byte for byte, without a BOM: see the package comment.
// Whatever rec holds, the result is a valid RFC 5424 message (fields that
// would be invalid become "-" or lose their offending characters); only
// MSG, which is copied as it is, is outside its control.
func appendMessage(dst []byte, rec audit.Record, h header) []byte {
	e := rec.Event
	if e == nil {
		// The shipper always parses the line; this keeps a bare line usable.
		e = &audit.Event{}
		if err := json.Unmarshal(rec.Line, e); err != nil {
			e = &audit.Event{}
		}
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(Facility*8+Severity(e.Event)), 10)
	dst = append(dst, ">1 "...)

	if t := e.Time.UTC(); !e.Time.IsZero() && t.Year() >= 0 && t.Year() <= 9999 {
		dst = t.AppendFormat(dst, timeLayout)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, ' ')

	host := h.hostname
	if validName(e.Host, 255) {
		// The machine the event happened on, which is the originator even
		// when a later run ships it.
		host = e.Host
	}
	dst = append(dst, host...)
	dst = append(dst, ' ')
	dst = append(dst, AppName...)
	dst = append(dst, ' ')
	dst = append(dst, h.procID...)
	dst = append(dst, ' ')
	if validName(e.Event, 32) {
		dst = append(dst, e.Event...)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, ' ')

	seq := rec.Seq
	if seq == 0 {
		seq = e.Seq
	}
	dst = append(dst, '[')
	dst = append(dst, SDID...)
	dst = append(dst, ` seq="`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, '"')
	dst = appendParam(dst, "request_id", e.RequestID)
	dst = appendParam(dst, "target", e.Target)
	if e.Principal != nil {
		dst = appendParam(dst, "principal", e.Principal.ID)
	}
	dst = appendParam(dst, "hash", e.Hash)
	dst = append(dst, ']')

	if len(rec.Line) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, rec.Line...)
	}
	return dst
}

// appendParam appends ` name="value"` unless value is empty. The value is
// escaped as RFC 5424 §6.3.3 requires (`"`, `\` and `]` get a backslash).
// Invalid UTF-8 and control characters, which the RFC allows in a
// PARAM-VALUE but rsyslog rewrites on receipt (as #NNN) and many parsers
// choke on, become U+FFFD: the structured data is an index for searching,
// and MSG keeps the exact value.
func appendParam(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	for i := 0; i < len(value); {
		r, size := utf8.DecodeRuneInString(value[i:])
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r == '"' || r == '\\' || r == ']':
			dst = append(dst, '\\', byte(r))
		default:
			dst = append(dst, value[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// validName reports whether s may stand as a header field of at most max
// characters: 1 to max printable US-ASCII characters (33 to 126).
func validName(s string, max int) bool {
	if s == "" || len(s) > max || s == "-" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// headerField returns s if it is a valid header field of at most max
// characters, else "-" (the NILVALUE).
func headerField(s string, max int) string {
	if validName(s, max) {
		return s
	}
	return "-"
}

// sizeError is the refusal of a message above the sink's size limit.
func sizeError(rec audit.Record, size, limit int, transport string) error {
	return fmt.Errorf("event seq %d makes a %d-byte syslog message, above the %d-byte limit for %s (rsyslog's default maxMessageSize is 8096 bytes: raise it at the receiver and in the sink's options, or ship this event through another sink)", rec.Seq, size, limit, transport)
}
