package s3sink

import (
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

const (
	hashA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hashB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func rec(seq uint64, t time.Time, hash string) audit.Record {
	return audit.Record{Seq: seq, Line: []byte(`{}`), Event: &audit.Event{Seq: seq, Time: t, Hash: hash}}
}

func TestObjectKey(t *testing.T) {
	day := time.Date(2026, 12, 3, 23, 59, 59, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name    string
		prefix  string
		batch   []audit.Record
		want    string
		wantErr string
	}{
		{"one event", "jit/", []audit.Record{rec(1, day, hashA)},
			"jit/2026/12/03/00000000000000000001-00000000000000000001-0123456789abcdef.jsonl", ""},
		{"date of the first event, hash of the last", "", []audit.Record{rec(41, day, hashA), rec(42, day.Add(time.Hour), hashB)},
			"2026/12/03/00000000000000000041-00000000000000000042-fedcba9876543210.jsonl", ""},
		{"date in UTC", "p/", []audit.Record{rec(7, time.Date(2026, 1, 1, 0, 30, 0, 0, paris), hashA)},
			"p/2025/12/31/00000000000000000007-00000000000000000007-0123456789abcdef.jsonl", ""},
		{"largest seq", "x", []audit.Record{rec(18446744073709551615, day, hashA)},
			"x2026/12/03/18446744073709551615-18446744073709551615-0123456789abcdef.jsonl", ""},
		{"from the line when no event", "", []audit.Record{{Seq: 3, Line: []byte(`{"seq":3,"time":"2027-02-28T10:00:00Z","hash":"` + hashB + `"}`)}},
			"2027/02/28/00000000000000000003-00000000000000000003-fedcba9876543210.jsonl", ""},
		{"empty", "", nil, "", "empty batch"},
		{"seq 0", "", []audit.Record{rec(0, day, hashA)}, "", "seq 0"},
		{"no hash", "", []audit.Record{rec(1, day, "")}, "", "no hash"},
		{"uppercase hash", "", []audit.Record{rec(1, day, strings.ToUpper(hashA))}, "", "no hash"},
		{"line not json", "", []audit.Record{{Seq: 1, Line: []byte(`nope`)}}, "", "not a journaled event"},
		{"year past 9999", "", []audit.Record{rec(1, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), hashA)}, "", "outside years"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ObjectKey(tc.prefix, tc.batch)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ObjectKey error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("ObjectKey = %q\n want %q", got, tc.want)
			}
			k, err := ParseKey(tc.prefix, got)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", got, err)
			}
			if k.First != tc.batch[0].Seq || k.Last != tc.batch[len(tc.batch)-1].Seq {
				t.Fatalf("ParseKey seqs %d-%d, want %d-%d", k.First, k.Last, tc.batch[0].Seq, tc.batch[len(tc.batch)-1].Seq)
			}
		})
	}
}

func TestKeysSortBySeq(t *testing.T) {
	day := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	prev := ""
	for _, seq := range []uint64{1, 9, 10, 99, 100, 12345, 1 << 40, 1<<64 - 1} {
		k, err := ObjectKey("", []audit.Record{rec(seq, day, hashA)})
		if err != nil {
			t.Fatal(err)
		}
		if k <= prev {
			t.Fatalf("key for seq %d (%s) does not sort after %s", seq, k, prev)
		}
		prev = k
	}
}

func TestParseKeyRejects(t *testing.T) {
	good := "jit/2026/12/03/00000000000000000001-00000000000000000002-0123456789abcdef.jsonl"
	if _, err := ParseKey("jit/", good); err != nil {
		t.Fatalf("ParseKey(%q): %v", good, err)
	}
	for _, key := range []string{
		"other/2026/12/03/00000000000000000001-00000000000000000002-0123456789abcdef.jsonl",
		"jit/2026/12/03/00000000000000000001-00000000000000000002-0123456789abcdef.json",
		"jit/2026/12/03/00000000000000000001-00000000000000000002-0123456789ABCDEF.jsonl",
		"jit/2026/12/03/00000000000000000001-00000000000000000002-0123456789abcde.jsonl",
		"jit/2026/13/03/00000000000000000001-00000000000000000002-0123456789abcdef.jsonl",
		"jit/2026/02/30/00000000000000000001-00000000000000000002-0123456789abcdef.jsonl",
		"jit/2026-12-03/0000000000000000001-00000000000000000002-0123456789abcdef.jsonl",
		"jit/2026/12/03/00000000000000000002-00000000000000000001-0123456789abcdef.jsonl",
		"jit/2026/12/03/00000000000000000000-00000000000000000001-0123456789abcdef.jsonl",
		"jit/2026/12/03/+0000000000000000001-00000000000000000002-0123456789abcdef.jsonl",
		"jit/2026/12/03/99999999999999999999-99999999999999999999-0123456789abcdef.jsonl",
		"jit/2026/12/03/00000000000000000001_00000000000000000002-0123456789abcdef.jsonl",
		"jit/2026/12/03/00000000000000000001-00000000000000000002-0123456789abcdef.jsonl.tmp",
		"jit/",
		"",
	} {
		if k, err := ParseKey("jit/", key); err == nil {
			t.Errorf("ParseKey(%q) = %+v, want an error", key, k)
		}
	}
}

// FuzzParseKey: ParseKey never panics, and what it accepts is exactly what
// FormatKey writes.
func FuzzParseKey(f *testing.F) {
	f.Add("jit/", "jit/2026/12/03/00000000000000000001-00000000000000000002-0123456789abcdef.jsonl")
	f.Add("", "0000/01/01/18446744073709551615-18446744073709551615-ffffffffffffffff.jsonl")
	f.Add("a", "a2024/02/29/00000000000000000003-00000000000000000004-0000000000000000.jsonl")
	f.Add("x/", "x/2026/12/03/0000000000000000000a-00000000000000000002-0123456789abcdef.jsonl")
	f.Fuzz(func(t *testing.T, prefix, key string) {
		k, err := ParseKey(prefix, key)
		if err != nil {
			return
		}
		if k.First == 0 || k.Last < k.First || len(k.Hash) != KeyHashLen {
			t.Fatalf("ParseKey(%q) accepted %+v", key, k)
		}
		if again := FormatKey(prefix, k); again != key {
			t.Fatalf("FormatKey(ParseKey(%q)) = %q", key, again)
		}
	})
}

// FuzzKeyRoundTrip: every key ObjectKey builds parses back to its batch.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add("jit/", uint64(1), uint64(0), int64(1764806399), hashA)
	f.Add("", uint64(1<<64-1), uint64(0), int64(-62135596800), hashB)
	f.Add("a/b/", uint64(5), uint64(3), int64(253402300799), hashA)
	f.Fuzz(func(t *testing.T, prefix string, first, extra uint64, unix int64, hash string) {
		if first == 0 || first+extra < first {
			return
		}
		extra %= 1000
		tm := time.Unix(unix, 0).UTC()
		last := first + extra
		if last < first {
			return
		}
		batch := []audit.Record{rec(first, tm, hash), rec(last, tm.Add(time.Hour), hash)}
		key, err := ObjectKey(prefix, batch)
		if err != nil {
			return
		}
		k, err := ParseKey(prefix, key)
		if err != nil {
			t.Fatalf("ParseKey(ObjectKey) %q: %v", key, err)
		}
		if k.First != first || k.Last != last || k.Hash != hash[:KeyHashLen] ||
			k.Day.Year() != tm.Year() || k.Day.YearDay() != tm.YearDay() {
			t.Fatalf("round trip of %d-%d %s %s gave %+v", first, last, tm, hash, k)
		}
	})
}
