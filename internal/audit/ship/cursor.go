package ship

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"
	"unicode/utf8"
)

// The cursor file of a sink is `<id>.cursor` in the cursor directory, where
// id is the first 16 hex digits of the SHA-256 of the sink's name. Like the
// journal's head, it holds two fixed-size slots, each one line
//
//	{"sink":…,"seq":…,…,"gen":N,"crc":"<8 hex>"}<spaces>\n
//
// where crc is the CRC-32C of the bytes before `,"crc"`. An update
// overwrites, in place, the slot that does not hold the newest cursor (the
// highest gen), so a write torn by a crash spoils at most that slot and the
// other still holds the cursor before it: the events since are delivered
// again, which at-least-once delivery allows. Updates are not synced for
// the same reason.
const (
	slotSize  = 2048
	slots     = 2
	fileSize  = slotSize * slots
	crcMarker = `,"crc":"`
	// maxErrorLen and maxNameLen keep a slot within slotSize.
	maxErrorLen = 900
	maxNameLen  = 600
)

// cursor is where delivery to one sink stands.
type cursor struct {
	// Sink is the sink's name, Type its type (for status without config).
	Sink string `json:"sink"`
	Type string `json:"type,omitempty"`
	// Seq and Hash are the last event the sink accepted (0 and "": none).
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	// Start and Offset are the byte offsets of that event's line in the
	// journal and just past its newline: where the backlog starts.
	Start  int64 `json:"start"`
	Offset int64 `json:"offset"`
	// Failures counts consecutive failed deliveries; LastError is the last
	// failure's message.
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Gen orders the two slots: the higher one is current.
	Gen uint64 `json:"gen"`
}

// cursorID names a sink's cursor and lock files.
func cursorID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:8])
}

func (c *cursor) valid() error {
	switch {
	case c.Seq == 0 && (c.Hash != "" || c.Start != 0 || c.Offset != 0):
		return errors.New("no event delivered, yet a hash or offset")
	case c.Seq > 0 && !isHash(c.Hash):
		return errors.New("hash is not 64 lowercase hex digits")
	case c.Seq > 0 && (c.Start < 0 || c.Offset <= c.Start):
		return errors.New("offsets do not delimit a line")
	case c.Failures < 0:
		return errors.New("negative failure count")
	case c.Sink == "":
		return errors.New("no sink name")
	}
	return nil
}

// appendSlot appends the slot holding c: exactly slotSize bytes. Names and
// errors too long for a slot are shortened.
func appendSlot(b []byte, c cursor) ([]byte, error) {
	c.Sink = storedName(c.Sink)
	c.LastError = truncate(c.LastError, maxErrorLen)
	for {
		body, err := json.Marshal(&c)
		if err != nil {
			return b, err
		}
		body = body[:len(body)-1] // the closing brace comes after the crc
		sum := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
		line := fmt.Appendf(body, `%s%08x"}`, crcMarker, sum)
		if len(line) < slotSize {
			b = append(b, line...)
			for range slotSize - 1 - len(line) {
				b = append(b, ' ')
			}
			return append(b, '\n'), nil
		}
		// Escaping made it longer than the estimate: shorten the error.
		switch {
		case c.LastError == "":
			return b, errors.New("the sink's name does not fit its cursor: give the sink a shorter name")
		case len(c.LastError) <= len("…"):
			c.LastError = ""
		default:
			c.LastError = truncate(c.LastError, len(c.LastError)/2)
		}
	}
}

// storedName is a sink's name as its cursor records it.
func storedName(name string) string { return truncate(name, maxNameLen) }

// truncate shortens s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len("…"), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// parseSlot reads one slot. Only the exact bytes appendSlot writes for what
// it parses to are valid, so any torn mixture of two writes is rejected.
func parseSlot(b []byte) (cursor, bool) {
	if len(b) != slotSize || b[len(b)-1] != '\n' {
		return cursor{}, false
	}
	line := bytes.TrimRight(b[:len(b)-1], " ")
	i := bytes.LastIndex(line, []byte(crcMarker))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return cursor{}, false
	}
	body := line[:i]
	want, err := strconv.ParseUint(string(line[i+len(crcMarker):len(line)-2]), 16, 32)
	if err != nil || uint32(want) != crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) {
		return cursor{}, false
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(append(body[:len(body):len(body)], '}')))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.valid() != nil {
		return cursor{}, false
	}
	again, err := appendSlot(nil, c)
	if err != nil || !bytes.Equal(again, b) {
		return cursor{}, false
	}
	return c, true
}

// parseCursor reads a cursor file's content and returns the current cursor
// and the slot holding it.
func parseCursor(data []byte) (cursor, int, error) {
	if len(data) != fileSize {
		return cursor{}, -1, fmt.Errorf("is %d bytes, not %d", len(data), fileSize)
	}
	slot := -1
	var cur cursor
	for i := range slots {
		c, ok := parseSlot(data[i*slotSize : (i+1)*slotSize])
		if ok && (slot < 0 || c.Gen > cur.Gen) {
			cur, slot = c, i
		}
	}
	if slot < 0 {
		return cursor{}, -1, errors.New("has no slot with a valid checksum")
	}
	return cur, slot, nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
