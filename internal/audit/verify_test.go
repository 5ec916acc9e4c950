package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// journalLines appends n varied events and returns the journal's lines,
// each with its newline.
func journalLines(t testing.TB, n int) [][]byte {
	t.Helper()
	path := journalPath(t)
	j := OpenJournal(path)
	j.noSync = true
	kinds := []string{EventRequest, EventGrant, EventSessionStart, EventSessionEnd}
	for i := range n {
		e := newEvent(i)
		e.Event = kinds[i%len(kinds)]
		if i%4 == 1 {
			e.Grant = map[string]string{"access_key_id": "ASIA" + strings.Repeat("X", i), "note": "<&>"}
			e.Decision = &Decision{Allowed: true, Rule: "sre-prod", Reasons: []string{"ok"}}
		}
		if i%4 == 3 {
			code := i
			e.Session = &Session{Command: []string{"sh", "-c", "echo \"hi\"\t"}, ExitCode: &code}
		}
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return bytes.SplitAfter(must(os.ReadFile(path)), []byte("\n"))[:n]
}

func verifyLines(t *testing.T, lines [][]byte) *Report {
	t.Helper()
	rep, err := Verify(bytes.NewReader(bytes.Join(lines, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type want struct {
	line int
	kind Kind
	msg  string // a substring
}

func checkProblems(t *testing.T, rep *Report, wants []want) {
	t.Helper()
	ok := len(rep.Problems) == len(wants)
	for i := 0; ok && i < len(wants); i++ {
		p := rep.Problems[i]
		ok = p.Line == wants[i].line && p.Kind == wants[i].kind && strings.Contains(p.Msg, wants[i].msg)
	}
	if !ok {
		var got []string
		for _, p := range rep.Problems {
			got = append(got, p.String())
		}
		t.Errorf("problems:\n  %s\nwant %+v", strings.Join(got, "\n  "), wants)
	}
}

func TestVerifyClean(t *testing.T) {
	lines := journalLines(t, 20)
	rep := verifyLines(t, lines)
	checkProblems(t, rep, nil)
	if rep.Lines != 20 || rep.Events != 20 || rep.First != 1 || rep.Last != 20 {
		t.Errorf("report = %+v", rep)
	}
	empty, err := Verify(strings.NewReader(""))
	if err != nil || !empty.OK() || empty.Lines != 0 {
		t.Errorf("Verify(empty) = %+v, %v", empty, err)
	}
}

// Every single-byte change to a line, anywhere in it (its newline included),
// is reported on that line, and damage does not spread further than the
// line after it.
func TestVerifyEveryByteFlip(t *testing.T) {
	lines := journalLines(t, 20)
	masks := []byte{0x01, 0x20, 0x80}
	if testing.Short() {
		masks = masks[:1]
	}
	for _, target := range []int{1, 2, 8, 20} {
		line := lines[target-1]
		for pos := range line {
			for _, mask := range masks {
				mutated := slices.Clone(lines)
				mutated[target-1] = slices.Clone(line)
				mutated[target-1][pos] ^= mask
				rep := verifyLines(t, mutated)
				named := false
				for _, p := range rep.Problems {
					named = named || p.Line == target
					if p.Line != target && p.Line != target+1 {
						t.Errorf("line %d byte %d ^%#x: problem reported on another line: %v", target, pos, mask, p)
					}
				}
				if !named {
					t.Fatalf("line %d byte %d (%q) ^ %#x not detected: %v", target, pos, line[pos], mask, rep.Problems)
				}
			}
		}
	}
}

// forge rewrites line with edit applied to its content and, like a forger
// who knows the format, a recomputed hash.
func forge(t *testing.T, line []byte, edit func(e *Event)) []byte {
	t.Helper()
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatal(err)
	}
	edit(&e)
	h, err := ComputeHash(&e)
	if err != nil {
		t.Fatal(err)
	}
	e.Hash = h
	out, err := Canonical(&e)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestVerifyTampering(t *testing.T) {
	lines := journalLines(t, 20)
	ln := func(i int) []byte { return lines[i-1] } // by line number
	join := func(parts ...[][]byte) [][]byte { return slices.Concat(parts...) }
	seg := func(from, to int) [][]byte { return lines[from-1 : to] } // lines from..to, inclusive

	tests := []struct {
		name  string
		lines [][]byte
		want  []want
	}{
		{"line deleted", join(seg(1, 6), seg(8, 20)),
			[]want{{7, KindDropped, "seq 8 follows seq 6: 1 event missing before it"}}},
		{"three lines deleted", join(seg(1, 6), seg(10, 20)),
			[]want{{7, KindDropped, "seq 10 follows seq 6: 3 events missing"}}},
		{"first line deleted", seg(2, 20),
			[]want{{1, KindDropped, "seq 2 is the first event: 1 event missing"}}},
		{"adjacent lines swapped", join(seg(1, 6), [][]byte{ln(8), ln(7)}, seg(9, 20)),
			[]want{{7, KindReordered, "seq 8 comes before seq 7 (line 8)"}, {8, KindReordered, "seq 7 comes after seq 8 (line 7)"}}},
		{"line moved to the end", join(seg(1, 4), seg(6, 20), [][]byte{ln(5)}),
			[]want{{5, KindReordered, "seq 6 comes before seq 5 (line 20)"}, {20, KindReordered, "seq 5 comes after seq 20"}}},
		{"line duplicated", join(seg(1, 9), [][]byte{ln(9)}, seg(10, 20)),
			[]want{{10, KindDuplicated, "repeats line 9 (seq 9)"}}},
		{"line duplicated later", join(seg(1, 20), [][]byte{ln(3)}),
			[]want{{21, KindDuplicated, "repeats line 3"}}},
		{"forged line with wrong prev inserted", join(seg(1, 10),
			[][]byte{forge(t, ln(11), func(e *Event) { e.Reason = "forged"; e.Prev = strings.Repeat("ab", 32) })}, seg(11, 20)),
			[]want{{11, KindBrokenLink, "prev is not the hash of seq 10 (line 10)"}}},
		{"forged line forking from an earlier event", join(seg(1, 10),
			[][]byte{forge(t, ln(11), func(e *Event) { e.Reason = "forged"; e.Prev = must(parseTip(ln(5))).Hash })}, seg(11, 20)),
			[]want{{11, KindBrokenLink, "prev names line 5, not seq 10"}}},
		{"line replaced by a consistent forgery", join(seg(1, 9),
			[][]byte{forge(t, ln(10), func(e *Event) { e.Reason = "forged" })}, seg(11, 20)),
			[]want{{11, KindBrokenLink, "prev is not the hash of seq 10 (line 10): this line was inserted, or that one replaced"}}},
		{"forged line with correct prev inserted", join(seg(1, 10),
			[][]byte{forge(t, ln(11), func(e *Event) { e.Reason = "forged" })}, seg(11, 20)),
			[]want{{12, KindBrokenLink, "seq 11 again, first at line 11, with other content"}}},
		{"seq renumbered with recomputed hash", join(seg(1, 9),
			[][]byte{forge(t, ln(10), func(e *Event) { e.Seq = 12 })}),
			[]want{{10, KindBrokenLink, "seq 12 links directly to seq 9 (line 9)"}}},
		{"chain restarted in the middle", join(seg(1, 10),
			[][]byte{forge(t, ln(11), func(e *Event) { e.Seq = 1; e.Prev = "" })}),
			[]want{{11, KindBrokenLink, "seq 1 again, first at line 1"}}},
		{"first line with a prev", join([][]byte{forge(t, ln(1), func(e *Event) { e.Prev = strings.Repeat("0", 64) })}, seg(2, 20)),
			[]want{{1, KindBrokenLink, "the first event has a prev"}}},
		{"blank line inserted", join(seg(1, 5), [][]byte{[]byte("\n")}, seg(6, 20)),
			[]want{{6, KindMalformed, "empty line"}}},
		{"garbage line replaces one", join(seg(1, 5), [][]byte{[]byte("garbage\n")}, seg(7, 20)),
			[]want{{6, KindMalformed, "not a JSON object"}}},
		{"whitespace added", join(seg(1, 5), [][]byte{append(bytes.TrimSuffix(ln(6), []byte("\n")), " \n"...)}, seg(7, 20)),
			[]want{{6, KindNotCanonical, ""}}},
		{"CRLF", join(seg(1, 5), [][]byte{bytes.Replace(ln(6), []byte("\n"), []byte("\r\n"), 1)}, seg(7, 20)),
			[]want{{6, KindNotCanonical, ""}}},
		{"keys reordered", join(seg(1, 5), [][]byte{reorderKeys(t, ln(6))}, seg(7, 20)),
			[]want{{6, KindNotCanonical, ""}}},
		{"html escaping", join(seg(1, 1), [][]byte{bytes.ReplaceAll(ln(2), []byte("<&>"), []byte(`\u003c\u0026\u003e`))}, seg(3, 20)),
			[]want{{2, KindNotCanonical, ""}}},
		{"content edited", join(seg(1, 5), [][]byte{bytes.Replace(ln(6), []byte(`"prod"`), []byte(`"test"`), 1)}, seg(7, 20)),
			[]want{{6, KindEdited, "hash does not match"}}},
		{"torn end", join(seg(1, 19), [][]byte{ln(20)[:30]}),
			[]want{{20, KindTorn, "no newline"}}},
		{"hash missing", join(seg(1, 5), [][]byte{bytes.Replace(ln(6), []byte(`"hash":`), []byte(`"hasx":`), 1)}, seg(7, 20)),
			[]want{{6, KindMalformed, "hash is missing"}}},
		{"seq not a number", join(seg(1, 5), [][]byte{bytes.Replace(ln(6), []byte(`"seq":6`), []byte(`"seq":"6"`), 1)}, seg(7, 20)),
			[]want{{6, KindMalformed, "seq is missing"}}},
		{"not an object", join(seg(1, 5), [][]byte{[]byte("[1,2]\n")}, seg(6, 20)),
			[]want{{6, KindMalformed, "not a JSON object"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, verifyLines(t, tt.lines), tt.want)
		})
	}
}

// reorderKeys writes the line's members in reverse order, keeping them all.
func reorderKeys(t *testing.T, line []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	slices.Reverse(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", k, m[k])
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func TestVerifyCapsProblems(t *testing.T) {
	rep, err := Verify(strings.NewReader(strings.Repeat("x\n", 250)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != MaxProblems || rep.Omitted != 150 || rep.Lines != 250 || rep.OK() {
		t.Errorf("problems %d, omitted %d, lines %d", len(rep.Problems), rep.Omitted, rep.Lines)
	}
}

func TestVerifyHugeLine(t *testing.T) {
	lines := journalLines(t, 4)
	huge := bytes.Repeat([]byte("a"), maxLineBytes+10)
	input := io.MultiReader(bytes.NewReader(bytes.Join(lines[:2], nil)),
		bytes.NewReader(huge), strings.NewReader("\n"), bytes.NewReader(bytes.Join(lines[2:], nil)))
	rep, err := Verify(iotest.HalfReader(input))
	if err != nil {
		t.Fatal(err)
	}
	// The line is reported and skipped; the events around it still chain.
	if len(rep.Problems) != 1 || rep.Problems[0].Line != 3 || rep.Problems[0].Kind != KindMalformed ||
		rep.Lines != 5 || rep.Events != 4 {
		t.Errorf("report = %+v", rep)
	}
}

func TestVerifyReadError(t *testing.T) {
	if _, err := Verify(iotest.ErrReader(io.ErrUnexpectedEOF)); err == nil {
		t.Error("Verify ignored a read error")
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{Line: 7, Seq: 9, Kind: KindDropped, Msg: "seq 9 follows seq 7: 1 event missing before it"}
	if got := p.String(); got != "line 7: dropped: seq 9 follows seq 7: 1 event missing before it" {
		t.Errorf("String() = %q", got)
	}
	if got := (Problem{Kind: KindTruncated, Msg: "x"}).String(); got != "journal: truncated: x" {
		t.Errorf("String() = %q", got)
	}
}

func FuzzVerify(f *testing.F) {
	lines := journalLines(f, 6)
	f.Add(bytes.Join(lines, nil))
	f.Add(bytes.Join([][]byte{lines[0], lines[2], lines[1], lines[1]}, nil))
	f.Add(bytes.Join([][]byte{lines[3], lines[4]}, nil)[:200])
	f.Add([]byte("{}\n\n[]\n\"x\"\nnull"))
	f.Add([]byte(`{"seq":1,"prev":"","hash":"` + strings.Repeat("0", 64) + `"}` + "\n"))
	f.Add([]byte(`{"seq":18446744073709551615,"prev":"","hash":"` + strings.Repeat("a", 64) + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		nl := bytes.Count(data, []byte("\n"))
		maxLines := nl
		if len(data) > 0 && data[len(data)-1] != '\n' {
			maxLines++
		}
		if rep.Lines != maxLines || rep.Events > rep.Lines || len(rep.Problems) > MaxProblems {
			t.Fatalf("report %+v for %d lines", rep, maxLines)
		}
		for _, p := range rep.Problems {
			if p.Line < 1 || p.Line > rep.Lines || p.Kind == "" || p.Msg == "" {
				t.Fatalf("bad problem %+v", p)
			}
		}
		// A report without problems means every line is a linked event.
		if rep.OK() && (rep.Events != rep.Lines || (rep.Lines > 0 && (rep.First != 1 || rep.Last != uint64(rep.Lines)))) {
			t.Fatalf("clean report %+v", rep)
		}
	})
}

// TestFormatIndependentVerifier checks a journal the way the Journal doc
// tells another implementation to, with encoding/json's generic decoding and
// encoding, string operations and SHA-256 only: none of this package's code.
func TestFormatIndependentVerifier(t *testing.T) {
	prev := ""
	for i, line := range journalLines(t, 12) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		if got := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(got, line) {
			t.Fatalf("line %d is not canonical:\n%s\n%s", i+1, line, got)
		}
		hash, _ := m["hash"].(string)
		if m["prev"] != prev || m["seq"] != json.Number(strconv.Itoa(i+1)) {
			t.Fatalf("line %d: prev %v seq %v", i+1, m["prev"], m["seq"])
		}
		body := bytes.Replace(line, []byte(`,"hash":"`+hash+`"`), nil, 1)
		sum := sha256.Sum256(append([]byte(prev), body...))
		if hex.EncodeToString(sum[:]) != hash {
			t.Fatalf("line %d: hash %s does not match", i+1, hash)
		}
		prev = hash
	}
}

func TestVerifyHighestSeq(t *testing.T) {
	e := &Event{Event: EventRequest, Seq: math.MaxUint64, ID: "a"}
	e.Hash = must(ComputeHash(e))
	first := append(must(Canonical(e)), '\n')
	next := forge(t, first, func(n *Event) { n.Seq = 3; n.Prev = strings.Repeat("1", 64) })
	rep := verifyLines(t, [][]byte{first, next})
	checkProblems(t, rep, []want{
		{1, KindBrokenLink, "seq 18446744073709551615 has the empty prev only seq 1 may have"},
		{2, KindReordered, "seq 3 comes after seq 18446744073709551615"},
	})
}
