package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// message5424 is an RFC 5424 message taken apart by parse5424.
type message5424 struct {
	pri       int
	version   int
	timestamp string // as written, "-" for none
	hostname  string
	appName   string
	procID    string
	msgID     string
	sd        []sdElement // nil for NILVALUE
	msg       []byte      // nil when absent
}

type sdElement struct {
	id     string
	params []sdParam
}

type sdParam struct{ name, value string }

func (m *message5424) param(name string) (string, bool) {
	for _, e := range m.sd {
		for _, p := range e.params {
			if p.name == name {
				return p.value, true
			}
		}
	}
	return "", false
}

// parse5424 parses b strictly by the ABNF of RFC 5424 §6, and stricter in
// one place: a backslash in a PARAM-VALUE must escape `"`, `\` or `]` (the
// RFC keeps other backslashes as they are; the sink never writes one).
func parse5424(b []byte) (*message5424, error) {
	p := &parser{b: b}
	m := &message5424{}
	if !p.eat('<') {
		return nil, p.errf("no '<' opening PRI")
	}
	digits := p.while(isDigit)
	if len(digits) < 1 || len(digits) > 3 || (len(digits) > 1 && digits[0] == '0') {
		return nil, p.errf("bad PRIVAL %q", digits)
	}
	m.pri, _ = strconv.Atoi(digits)
	if m.pri > 191 {
		return nil, p.errf("PRIVAL %d above 191", m.pri)
	}
	if !p.eat('>') {
		return nil, p.errf("no '>' closing PRI")
	}
	v := p.while(isDigit)
	if len(v) < 1 || len(v) > 3 || v[0] == '0' {
		return nil, p.errf("bad VERSION %q", v)
	}
	m.version, _ = strconv.Atoi(v)
	var err error
	if m.timestamp, err = p.field("TIMESTAMP", 64); err != nil {
		return nil, err
	}
	if m.timestamp != "-" {
		if err := checkTimestamp(m.timestamp); err != nil {
			return nil, p.errf("TIMESTAMP %q: %v", m.timestamp, err)
		}
	}
	if m.hostname, err = p.field("HOSTNAME", 255); err != nil {
		return nil, err
	}
	if m.appName, err = p.field("APP-NAME", 48); err != nil {
		return nil, err
	}
	if m.procID, err = p.field("PROCID", 128); err != nil {
		return nil, err
	}
	if m.msgID, err = p.field("MSGID", 32); err != nil {
		return nil, err
	}
	if !p.eat(' ') {
		return nil, p.errf("no SP before STRUCTURED-DATA")
	}
	if p.eat('-') {
		m.sd = nil
	} else {
		if p.peek() != '[' {
			return nil, p.errf("STRUCTURED-DATA is neither '-' nor '['")
		}
		for p.peek() == '[' {
			e, err := p.element()
			if err != nil {
				return nil, err
			}
			m.sd = append(m.sd, e)
		}
	}
	if p.done() {
		return m, nil
	}
	if !p.eat(' ') {
		return nil, p.errf("no SP before MSG")
	}
	m.msg = p.b[p.i:]
	return m, nil
}

type parser struct {
	b []byte
	i int
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) done() bool { return p.i >= len(p.b) }

func (p *parser) peek() byte {
	if p.done() {
		return 0
	}
	return p.b[p.i]
}

func (p *parser) eat(c byte) bool {
	if p.peek() == c && !p.done() {
		p.i++
		return true
	}
	return false
}

func (p *parser) while(f func(byte) bool) string {
	start := p.i
	for !p.done() && f(p.b[p.i]) {
		p.i++
	}
	return string(p.b[start:p.i])
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isPrintUS(c byte) bool   { return c >= 33 && c <= 126 }
func isSDNameChr(c byte) bool { return isPrintUS(c) && c != '=' && c != ']' && c != '"' }

// field reads SP and a header field of 1 to max PRINTUSASCII.
func (p *parser) field(name string, max int) (string, error) {
	if !p.eat(' ') {
		return "", p.errf("no SP before %s", name)
	}
	s := p.while(isPrintUS)
	if len(s) == 0 || len(s) > max {
		return "", p.errf("%s %q has %d characters, want 1 to %d printable US-ASCII", name, s, len(s), max)
	}
	return s, nil
}

func (p *parser) element() (sdElement, error) {
	var e sdElement
	p.eat('[')
	e.id = p.while(isSDNameChr)
	if len(e.id) == 0 || len(e.id) > 32 {
		return e, p.errf("bad SD-ID %q", e.id)
	}
	for {
		if p.eat(']') {
			return e, nil
		}
		if !p.eat(' ') {
			return e, p.errf("expected SP or ']' in SD-ELEMENT %s", e.id)
		}
		name := p.while(isSDNameChr)
		if len(name) == 0 || len(name) > 32 {
			return e, p.errf("bad PARAM-NAME %q", name)
		}
		if !p.eat('=') || !p.eat('"') {
			return e, p.errf("expected =\" after PARAM-NAME %s", name)
		}
		var val []byte
		for {
			if p.done() {
				return e, p.errf("unterminated PARAM-VALUE of %s", name)
			}
			c := p.b[p.i]
			p.i++
			if c == '"' {
				break
			}
			if c == ']' {
				return e, p.errf("unescaped ']' in PARAM-VALUE of %s", name)
			}
			if c == '\\' {
				n := p.peek()
				if n != '"' && n != '\\' && n != ']' {
					return e, p.errf("backslash before %q in PARAM-VALUE of %s", n, name)
				}
				p.i++
				c = n
			}
			val = append(val, c)
		}
		if !utf8.Valid(val) {
			return e, p.errf("PARAM-VALUE of %s is not UTF-8", name)
		}
		e.params = append(e.params, sdParam{name, string(val)})
	}
}

// checkTimestamp checks FULL-DATE "T" FULL-TIME with at most six fractional
// digits, and that it is a real date and time.
func checkTimestamp(s string) error {
	b := []byte(s)
	if len(b) < 20 {
		return errors.New("too short")
	}
	shape := "dddd-dd-ddTdd:dd:dd"
	for i := range len(shape) {
		if (shape[i] == 'd' && !isDigit(b[i])) || (shape[i] != 'd' && b[i] != shape[i]) {
			return fmt.Errorf("character %d does not match %s", i, shape)
		}
	}
	rest := b[len(shape):]
	if len(rest) > 0 && rest[0] == '.' {
		n := 0
		for n+1 < len(rest) && isDigit(rest[n+1]) {
			n++
		}
		if n < 1 || n > 6 {
			return fmt.Errorf("%d fractional digits, want 1 to 6", n)
		}
		rest = rest[n+1:]
	}
	switch {
	case string(rest) == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && isDigit(rest[1]) && isDigit(rest[2]) && rest[3] == ':' && isDigit(rest[4]) && isDigit(rest[5]):
	default:
		return fmt.Errorf("bad offset %q", rest)
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return err
	}
	return nil
}

// splitOctetCounted splits an RFC 6587 octet-counted stream into messages.
func splitOctetCounted(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 1 {
			return nil, errors.New("no MSG-LEN")
		}
		n, err := strconv.Atoi(string(b[:sp]))
		if err != nil || b[0] == '0' || n < 1 || sp+1+n > len(b) {
			return nil, fmt.Errorf("bad MSG-LEN %q", b[:sp])
		}
		out = append(out, b[sp+1:sp+1+n])
		b = b[sp+1+n:]
	}
	return out, nil
}
