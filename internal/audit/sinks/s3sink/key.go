package s3sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

// KeyHashLen is how many hex digits of the last event's hash an object key
// carries: enough (64 bits) that two different batches with the same seqs,
// say from two journals, do not overwrite each other.
const KeyHashLen = 16

// keySuffix ends every object key the sink writes.
const keySuffix = ".jsonl"

// seqDigits is the width of a seq in a key: every uint64 fits, and a fixed
// width makes the keys of one day sort by seq.
const seqDigits = 20

// KeyInfo is what an object key says about the object's content.
type KeyInfo struct {
	// Day is the UTC date of the batch's first event (midnight UTC).
	Day time.Time
	// First and Last are the seqs of the batch's first and last events.
	First, Last uint64
	// Hash is the first KeyHashLen hex digits of the last event's hash.
	Hash string
}

// FormatKey returns the object key for k under prefix:
//
//	<prefix><YYYY>/<MM>/<DD>/<first, 20 digits>-<last, 20 digits>-<hash, 16 hex>.jsonl
//
// The prefix is used verbatim (like any S3 prefix, "jit/" puts the objects
// in a folder, "jit" in front of the year).
func FormatKey(prefix string, k KeyInfo) string {
	d := k.Day.UTC()
	var b strings.Builder
	b.Grow(len(prefix) + 11 + 2*seqDigits + 2 + len(k.Hash) + len(keySuffix))
	b.WriteString(prefix)
	fmt.Fprintf(&b, "%04d/%02d/%02d/%0*d-%0*d-%s%s", d.Year(), int(d.Month()), d.Day(),
		seqDigits, k.First, seqDigits, k.Last, k.Hash, keySuffix)
	return b.String()
}

// ParseKey reads an object key written under prefix. It accepts exactly the
// keys FormatKey writes (a valid date, first ≤ last, both positive, a
// lowercase hex hash), so FormatKey(prefix, k) == key whenever it succeeds.
func ParseKey(prefix, key string) (KeyInfo, error) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return KeyInfo{}, fmt.Errorf("key %q is not under the prefix %q", key, prefix)
	}
	const dateLen = len("2006/01/02/")
	const want = dateLen + seqDigits + 1 + seqDigits + 1 + KeyHashLen + len(keySuffix)
	if len(rest) != want || !strings.HasSuffix(rest, keySuffix) ||
		rest[4] != '/' || rest[7] != '/' || rest[10] != '/' ||
		rest[dateLen+seqDigits] != '-' || rest[dateLen+2*seqDigits+1] != '-' {
		return KeyInfo{}, fmt.Errorf("key %q does not have the form %sYYYY/MM/DD/<first seq>-<last seq>-<hash>%s", key, prefix, keySuffix)
	}
	var k KeyInfo
	y, okY := digits(rest[0:4])
	m, okM := digits(rest[5:7])
	d, okD := digits(rest[8:10])
	if !okY || !okM || !okD {
		return KeyInfo{}, fmt.Errorf("key %q: the date is not YYYY/MM/DD", key)
	}
	k.Day = time.Date(int(y), time.Month(m), int(d), 0, 0, 0, 0, time.UTC)
	if k.Day.Year() != int(y) || int(k.Day.Month()) != int(m) || k.Day.Day() != int(d) {
		return KeyInfo{}, fmt.Errorf("key %q: %s is not a date", key, rest[:10])
	}
	first, okF := digits(rest[dateLen : dateLen+seqDigits])
	last, okL := digits(rest[dateLen+seqDigits+1 : dateLen+2*seqDigits+1])
	if !okF || !okL || first == 0 || last < first {
		return KeyInfo{}, fmt.Errorf("key %q: the seqs are not a range first-last of positive numbers", key)
	}
	k.First, k.Last = first, last
	k.Hash = rest[dateLen+2*seqDigits+2 : len(rest)-len(keySuffix)]
	if !isLowerHex(k.Hash) {
		return KeyInfo{}, fmt.Errorf("key %q: the hash is not %d lowercase hex digits", key, KeyHashLen)
	}
	return k, nil
}

// digits parses a run of ASCII digits (no sign, no other character) that
// fits a uint64.
func digits(s string) (uint64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// ObjectKey returns the key of the object that holds batch under prefix.
// It depends only on the batch's content (the first event's date, the seq
// range and the last event's hash), never on when it is sent: re-sending a
// batch writes the same key.
func ObjectKey(prefix string, batch []audit.Record) (string, error) {
	k, err := batchKey(batch)
	if err != nil {
		return "", err
	}
	return FormatKey(prefix, k), nil
}

func batchKey(batch []audit.Record) (KeyInfo, error) {
	if len(batch) == 0 {
		return KeyInfo{}, errors.New("empty batch")
	}
	first, last := batch[0], batch[len(batch)-1]
	if first.Seq == 0 {
		return KeyInfo{}, errors.New("the batch starts at seq 0: journal seqs start at 1")
	}
	t, _, err := lineFields(first)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("seq %d: %w", first.Seq, err)
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return KeyInfo{}, fmt.Errorf("seq %d: time %s is outside years 0 to 9999", first.Seq, t.UTC().Format(time.RFC3339))
	}
	_, hash, err := lineFields(last)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("seq %d: %w", last.Seq, err)
	}
	u := t.UTC()
	return KeyInfo{
		Day:   time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC),
		First: first.Seq,
		Last:  last.Seq,
		Hash:  hash[:KeyHashLen],
	}, nil
}

// lineFields returns the time and hash of a record, from its parsed event
// when it has one and from its line otherwise.
func lineFields(r audit.Record) (time.Time, string, error) {
	t, h := time.Time{}, ""
	if r.Event != nil {
		t, h = r.Event.Time, r.Event.Hash
	} else {
		var e struct {
			Time time.Time `json:"time"`
			Hash string    `json:"hash"`
		}
		if err := json.Unmarshal(r.Line, &e); err != nil {
			return time.Time{}, "", fmt.Errorf("not a journaled event: %w", err)
		}
		t, h = e.Time, e.Hash
	}
	if len(h) != 64 || !isLowerHex(h) {
		return time.Time{}, "", errors.New("the event has no hash of 64 lowercase hex digits: it was not journaled")
	}
	return t, h, nil
}

// lineSeqHash returns the seq and hash members of a journal line, or
// ok false when it is not an event.
func lineSeqHash(line []byte) (seq uint64, hash string, ok bool) {
	var e struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if json.Unmarshal(line, &e) != nil || e.Seq == 0 || len(e.Hash) != 64 || !isLowerHex(e.Hash) {
		return 0, "", false
	}
	return e.Seq, e.Hash, true
}
