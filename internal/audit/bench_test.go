package audit

import (
	"bytes"
	"testing"
)

func benchmarkAppend(b *testing.B, noSync bool) {
	j := OpenJournal(journalPath(b))
	j.noSync = noSync
	e := exampleEvent()
	b.ReportAllocs()
	for b.Loop() {
		e.ID = "" // a fresh id each time, as a real event has
		if err := j.Append(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend is one event with everything a real append does: lock,
// read the head and the end of the journal, write and fdatasync the journal,
// overwrite a head slot and fdatasync it.
func BenchmarkAppend(b *testing.B) { benchmarkAppend(b, false) }

// BenchmarkAppendNoSync is the same without the syncs.
func BenchmarkAppendNoSync(b *testing.B) { benchmarkAppend(b, true) }

// BenchmarkVerify verifies a journal of 10,000 events.
func BenchmarkVerify(b *testing.B) {
	data := bytes.Join(journalLines(b, 10000), nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Verify(bytes.NewReader(data))
		if err != nil || !rep.OK() || rep.Events != 10000 {
			b.Fatalf("%v %v", rep.Problems, err)
		}
	}
}

func BenchmarkCanonicalEvent(b *testing.B) {
	e := exampleEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonical(e); err != nil {
			b.Fatal(err)
		}
	}
}
