package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// readSlots reads the head file's two slots as Append left them.
func readSlots(t *testing.T, path string) [headSlots][]byte {
	t.Helper()
	data := must(os.ReadFile(path + headSuffix))
	if len(data) != headSlotSize*headSlots {
		t.Fatalf("head is %d bytes, want %d: %q", len(data), headSlotSize*headSlots, data)
	}
	var s [headSlots][]byte
	for i := range headSlots {
		s[i] = data[i*headSlotSize : (i+1)*headSlotSize]
	}
	return s
}

func lastTip(t *testing.T, path string) tip {
	t.Helper()
	evs, err := Tail(path, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Tail = %v, %v", evs, err)
	}
	return tip{Seq: evs[0].Seq, Hash: evs[0].Hash}
}

func writeSlot(t *testing.T, path string, slot int, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path+headSuffix, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, int64(slot*headSlotSize)); err != nil {
		t.Fatal(err)
	}
}

// newestSlot is the slot holding the highest seq.
func newestSlot(t *testing.T, path string) int {
	t.Helper()
	_, slot, err := parseHead(must(os.ReadFile(path + headSuffix)))
	if err != nil {
		t.Fatal(err)
	}
	return slot
}

func TestSlotRoundTrip(t *testing.T) {
	hash := strings.Repeat("0123456789abcdef", 4)
	for _, tp := range []tip{{}, {Seq: 1, Hash: hash}, {Seq: 1<<64 - 1, Hash: hash}} {
		b := appendSlot([]byte("prefix"), tp)
		if !bytes.HasPrefix(b, []byte("prefix")) || len(b) != len("prefix")+headSlotSize || b[len(b)-1] != '\n' {
			t.Fatalf("appendSlot(%v) = %q", tp, b)
		}
		got, ok := parseSlot(b[len("prefix"):])
		if !ok || got != tp {
			t.Errorf("parseSlot(appendSlot(%v)) = %v, %v", tp, got, ok)
		}
	}
}

func TestParseSlotRejects(t *testing.T) {
	hash := strings.Repeat("0123456789abcdef", 4)
	good := appendSlot(nil, tip{Seq: 42, Hash: hash})
	other := appendSlot(nil, tip{Seq: 43, Hash: strings.Repeat("f", 64)})
	// edit replaces old by new in the good slot and keeps its length by
	// taking or giving padding, so only the edit makes it invalid.
	edit := func(old, new string) []byte {
		b := bytes.Replace(good, []byte(old), []byte(new), 1)
		if bytes.Equal(b, good) {
			t.Fatalf("%q is not in %q", old, good)
		}
		body := bytes.TrimRight(b[:len(b)-1], " ")
		return append(append(body, bytes.Repeat([]byte{' '}, headSlotSize-1-len(body))...), '\n')
	}
	for name, b := range map[string][]byte{
		"torn: new start, old end": append(bytes.Clone(other[:40]), good[40:]...),
		"torn: old start, new end": append(bytes.Clone(good[:80]), other[80:]...),
		"seq changed":              edit(`"seq":42`, `"seq":52`),
		"seq with leading zero":    edit(`"seq":42`, `"seq":042`),
		"seq with a sign":          edit(`"seq":42`, `"seq":+42`),
		"crc changed":              edit(`"crc":"`, `"crc":"0`),
		"crc uppercase":            bytes.ToUpper(good),
		"space inside":             edit(`{"hash"`, `{ "hash"`),
		"uppercase hash":           edit("abcdef", "ABCDEF"),
		"no newline":               append(bytes.Clone(good[:headSlotSize-1]), ' '),
		"short":                    good[:headSlotSize-1],
		"long":                     append(bytes.Clone(good), ' '),
		"zeros":                    make([]byte, headSlotSize),
		// Correct checksums around values that are no head.
		"seq 0 with a hash":    appendSlot(nil, tip{Seq: 0, Hash: hash}),
		"seq 1 without a hash": appendSlot(nil, tip{Seq: 1, Hash: ""}),
		"short hash":           appendSlot(nil, tip{Seq: 1, Hash: hash[:63]}),
	} {
		if got, ok := parseSlot(b); ok {
			t.Errorf("%s: parseSlot(%q) = %v, want rejected", name, b, got)
		}
	}
}

func TestHeadSlotsAlternate(t *testing.T) {
	path := journalPath(t)
	appendN(t, path, 1)
	before := must(os.Stat(path + headSuffix))
	prev := lastTip(t, path)
	for i := 2; i <= 5; i++ {
		appendN(t, path, 1)
		cur := lastTip(t, path)
		s := readSlots(t, path)
		a, okA := parseSlot(s[0])
		b, okB := parseSlot(s[1])
		if !okA || !okB {
			t.Fatalf("after %d appends: slots %q %q", i, s[0], s[1])
		}
		// The newest slot holds this append, the other the one before.
		if got := []tip{a, b}; !(got[0] == cur && got[1] == prev) && !(got[1] == cur && got[0] == prev) {
			t.Fatalf("after %d appends: slots %v, want %v and %v", i, got, cur, prev)
		}
		prev = cur
	}
	// Overwritten in place, not replaced: the same file all along.
	if after := must(os.Stat(path + headSuffix)); !os.SameFile(before, after) {
		t.Error("head file was replaced, not updated in place")
	}
	checkChain(t, path, 5)
}

func TestHeadTornSlot(t *testing.T) {
	path := journalPath(t)
	appendN(t, path, 3)
	s := readSlots(t, path)
	newest := newestSlot(t, path)
	older := s[1-newest]
	// A crash in the middle of the next head write: part new, part old.
	appendN(t, path, 1)
	s = readSlots(t, path)
	written := 1 - newest // the slot the fourth append wrote
	torn := append(bytes.Clone(s[written][:50]), older[50:]...)
	writeSlot(t, path, written, torn)

	// The torn slot is ignored; the other one is behind the journal, which
	// is what a crash before the head write leaves, and fine.
	rep := mustVerifyFile(t, path)
	requireOK(t, rep)
	h, ok, err := readHead(path + headSuffix)
	if err != nil || !ok || h.Seq != 3 {
		t.Fatalf("readHead = %v, %v, %v; want seq 3 from the intact slot", h, ok, err)
	}
	var warned []string
	j := OpenJournal(path)
	j.Warn = func(m string) { warned = append(warned, m) }
	if err := j.Append(newEvent(5)); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 0 {
		t.Errorf("warnings = %q", warned)
	}
	// The append overwrote the torn slot: both are valid again.
	s = readSlots(t, path)
	for i := range headSlots {
		if _, ok := parseSlot(s[i]); !ok {
			t.Errorf("slot %d still invalid: %q", i, s[i])
		}
	}
	if h, _, _ := readHead(path + headSuffix); h != lastTip(t, path) {
		t.Errorf("head %v, want %v", h, lastTip(t, path))
	}
	checkChain(t, path, 5)
}

func TestHeadBadChecksumIsNotTrusted(t *testing.T) {
	path := journalPath(t)
	appendN(t, path, 3)
	newest := newestSlot(t, path)
	// A slot claiming more events than the journal holds, but not written
	// by Append (its checksum is of other bytes), must not make the journal
	// look truncated.
	s := readSlots(t, path)
	forged := bytes.Replace(s[1-newest], []byte(`"seq":2,`), []byte(`"seq":9,`), 1)
	writeSlot(t, path, 1-newest, forged)
	requireOK(t, mustVerifyFile(t, path))
	appendN(t, path, 1)
	checkChain(t, path, 4)
}

func TestHeadBothSlotsDamaged(t *testing.T) {
	path := journalPath(t)
	appendN(t, path, 2)
	before := must(os.ReadFile(path))
	for i := range headSlots {
		writeSlot(t, path, i, bytes.Repeat([]byte{'x'}, headSlotSize))
	}
	err := OpenJournal(path).Append(newEvent(0))
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Append = %v, want ErrDamaged naming the checksum", err)
	}
	if after := must(os.ReadFile(path)); !bytes.Equal(before, after) {
		t.Error("refused append changed the journal")
	}
	rep := mustVerifyFile(t, path)
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != KindHead {
		t.Fatalf("problems = %v", rep.Problems)
	}
}

func TestHeadEarlierFormIsConverted(t *testing.T) {
	path := journalPath(t)
	appendN(t, path, 2)
	last := lastTip(t, path)
	legacy := fmt.Sprintf(`{"hash":"%s","seq":%d}`+"\n", last.Hash, last.Seq)
	if err := os.WriteFile(path+headSuffix, []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	requireOK(t, mustVerifyFile(t, path))

	appendN(t, path, 1)
	s := readSlots(t, path) // now in the two-slot form
	h, slot, err := parseHead(bytes.Join(s[:], nil))
	if err != nil || slot < 0 || h != lastTip(t, path) {
		t.Fatalf("parseHead = %v, %d, %v; want %v", h, slot, err, lastTip(t, path))
	}
	checkChain(t, path, 3)

	// An earlier-form head that disagrees is still caught.
	stale := fmt.Sprintf(`{"hash":"%s","seq":%d}`, last.Hash, 3)
	if err := os.WriteFile(path+headSuffix, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := OpenJournal(path).Append(newEvent(0)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Append with a contradicting head = %v, want ErrDamaged", err)
	}
}

func FuzzParseHead(f *testing.F) {
	hash := strings.Repeat("0123456789abcdef", 4)
	f.Add(appendSlot(appendSlot(nil, tip{Seq: 1, Hash: hash}), tip{}))
	f.Add(appendSlot(appendSlot(nil, tip{Seq: 7, Hash: hash}), tip{Seq: 8, Hash: hash}))
	f.Add([]byte(`{"hash":"","seq":0}`))
	f.Add([]byte(`{"hash":"` + hash + `","seq":12}` + "\n"))
	f.Add(bytes.Repeat([]byte{' '}, headSlotSize*headSlots))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, slot, err := parseHead(data)
		if err != nil {
			return
		}
		if !h.valid() {
			t.Fatalf("parseHead accepted an invalid head %v", h)
		}
		if slot < 0 {
			return
		}
		// A head read from a slot is exactly what Append writes for it, and
		// no valid slot holds a higher seq.
		if len(data) != headSlotSize*headSlots || slot >= headSlots {
			t.Fatalf("slot %d of %d bytes", slot, len(data))
		}
		if got := data[slot*headSlotSize : (slot+1)*headSlotSize]; !bytes.Equal(got, appendSlot(nil, h)) {
			t.Fatalf("slot %d = %q, not the encoding of %v", slot, got, h)
		}
		if o, ok := parseSlot(data[(1-slot)*headSlotSize : (2-slot)*headSlotSize]); ok && o.Seq > h.Seq {
			t.Fatalf("chose seq %d over seq %d", h.Seq, o.Seq)
		}
	})
}

func TestHeadModeIsRestored(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are ACLs on Windows")
	}
	path := journalPath(t)
	appendN(t, path, 2)
	if err := os.Chmod(path+headSuffix, 0o666); err != nil {
		t.Fatal(err)
	}
	appendN(t, path, 1)
	if fi := must(os.Stat(path + headSuffix)); fi.Mode().Perm() != 0o600 {
		t.Errorf("head mode %v after append, want 0600", fi.Mode().Perm())
	}
	checkChain(t, path, 3)
}
