package policysource

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testKey is a fixed ed25519 public key in authorized_keys form.
func testKey(t testing.TB, seed byte) (ssh.PublicKey, string) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	pk, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pk, pk.Type() + " " + base64.StdEncoding.EncodeToString(pk.Marshal())
}

func TestParseAllowedSigners(t *testing.T) {
	pk, key := testKey(t, 1)
	utc := func(s string) int64 {
		tm, err := time.Parse("2006-01-02T15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.Unix()
	}
	tests := []struct {
		in   string
		want []signerLine
	}{
		{"", nil},
		{"# comment\n\n   \n\t# indented comment\n", nil},
		{"alice@example.com " + key, []signerLine{{line: 1, principals: "alice@example.com"}}},
		{"alice@example.com " + key + " a comment with spaces\r\n", []signerLine{{line: 1, principals: "alice@example.com"}}},
		{"  a,b@x,*@corp " + key, []signerLine{{line: 1, principals: "a,b@x,*@corp"}}},
		{`"alice smith@example.com,bob" ` + key, []signerLine{{line: 1, principals: "alice smith@example.com,bob"}}},
		{"\n# c\nalice\t" + key + "\n", []signerLine{{line: 3, principals: "alice"}}},
		{`alice namespaces="git,file" ` + key, []signerLine{{line: 1, principals: "alice", namespaces: "git,file", hasNamespaces: true}}},
		{`alice Namespaces="a b",cert-authority ` + key, []signerLine{{line: 1, principals: "alice", namespaces: "a b", hasNamespaces: true, certAuthority: true}}},
		{`alice namespaces="x\"y" ` + key, []signerLine{{line: 1, principals: "alice", namespaces: `x"y`, hasNamespaces: true}}},
		{`alice ,,namespaces="git",, ` + key, []signerLine{{line: 1, principals: "alice", namespaces: "git", hasNamespaces: true}}},
		{`alice valid-after="20240101Z",valid-before="202501021530Z" ` + key,
			[]signerLine{{line: 1, principals: "alice", validAfter: utc("2024-01-01T00:00:00"), validBefore: utc("2025-01-02T15:30:00")}}},
		{`alice valid-before="20250102153045utc" ` + key, []signerLine{{line: 1, principals: "alice", validBefore: utc("2025-01-02T15:30:45")}}},
		{`alice valid-before="20250102" ` + key, []signerLine{{line: 1, principals: "alice", validBefore: time.Date(2025, 1, 2, 0, 0, 0, 0, time.Local).Unix()}}},
	}
	for _, tt := range tests {
		got, err := parseAllowedSigners([]byte(tt.in), time.Local)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %d lines, want %d", tt.in, len(got), len(tt.want))
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i].key.Marshal(), pk.Marshal()) {
				t.Errorf("%q: wrong key", tt.in)
			}
			got[i].key = nil
			if got[i] != tt.want[i] {
				t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got[i], tt.want[i])
			}
		}
	}
}

func TestParseAllowedSignersErrors(t *testing.T) {
	_, key := testKey(t, 1)
	tests := map[string]string{
		"alice":                    "line 1: missing key",
		"alice@example.com\n":      "line 1: missing key",
		"alice ssh-ed25519":        "line 1: invalid key",
		"alice ssh-ed25519 AAAA!!": "line 1: invalid key",
		"ok " + key + "\nalice ssh-ed25519 AAAAC3Nz":                    "line 2: invalid key",
		"alice namespaces=git " + key:                                   "bad options: missing start quote",
		`alice namespaces="git ` + key:                                  "unterminated quote",
		`alice nosuch="x" ` + key:                                       `unknown option "nosuch=\"x\""`,
		`alice namespaces="a",namespaces="b" ` + key:                    `multiple "namespaces" clauses`,
		`alice valid-after="2024" ` + key:                               `invalid "valid-after" time`,
		`alice valid-after="20241301" ` + key:                           `invalid "valid-after" time`,
		`alice valid-after="20240230" ` + key:                           `invalid "valid-after" time`,
		`alice valid-before="19700101Z" ` + key:                         `invalid "valid-before" time`,
		`alice valid-before="2024010112" ` + key:                        `invalid "valid-before" time`,
		`alice valid-after="20250101Z",valid-before="20240101Z" ` + key: `"valid-before" time is before "valid-after"`,
		`alice valid-after="20240101Z",valid-before="20240101Z" ` + key: `"valid-before" time is before "valid-after"`,
		`alice cert-authorityX ` + key:                                  `unknown option`,
		`"alice ` + key:                                                 "unterminated quote in principals",
		`alice namespaces="git" ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGb`:    "invalid key",
	}
	for in, want := range tests {
		_, err := parseAllowedSigners([]byte(in), time.UTC)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	// A key whose type name disagrees with its data.
	_, k := testKey(t, 2)
	if _, err := parseAllowedSigners([]byte("a ssh-rsa"+strings.TrimPrefix(k, "ssh-ed25519")), time.UTC); err == nil {
		t.Error("mismatched key type accepted")
	}
}

func TestMatchPatternList(t *testing.T) {
	tests := []struct {
		s, list string
		want    int
	}{
		{"alice@example.com", "alice@example.com", 1},
		{"alice@example.com", "bob@example.com", 0},
		{"alice@example.com", "bob,alice@example.com", 1},
		{"alice@example.com", "*@example.com", 1},
		{"alice@example.org", "*@example.com", 0},
		{"alice@example.com", "!alice@example.com,*@example.com", -1},
		{"bob@example.com", "!alice@example.com,*@example.com", 1},
		{"git", "git,file", 1},
		{"git", "gi?", 1},
		{"git", "g*t", 1},
		{"git", "", 0},
		{"git", ",", 0},
		{"a*b", "a*b", 1},
		{"", "*", 1},
		{"x", strings.Repeat("x", 1100), 0},
	}
	for _, tt := range tests {
		if got := matchPatternList(tt.s, tt.list); got != tt.want {
			t.Errorf("matchPatternList(%q, %q) = %d, want %d", tt.s, tt.list, got, tt.want)
		}
	}
}

// matchPatternRef is the textbook recursive glob, to check matchPattern against.
func matchPatternRef(s, p string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if matchPatternRef(s[i:], p[1:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && matchPatternRef(s[1:], p[1:])
	default:
		return s != "" && s[0] == p[0] && matchPatternRef(s[1:], p[1:])
	}
}

func FuzzMatchPattern(f *testing.F) {
	for _, seed := range [][2]string{{"alice@example.com", "*@example.com"}, {"abc", "a?c"}, {"aaa", "a*a*a"}, {"", "*"}, {"ab", "*?*?"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, p string) {
		if len(s) > 24 || len(p) > 24 || strings.Count(p, "*") > 6 {
			return // keep the exponential reference cheap
		}
		if got, want := matchPattern(s, p), matchPatternRef(s, p); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, reference says %v", s, p, got, want)
		}
	})
}

// FuzzParseAllowedSigners checks that the parser never panics, that what it
// accepts is well formed, and that a parsed line written out again parses to
// the same thing.
func FuzzParseAllowedSigners(f *testing.F) {
	_, key := testKey(f, 1)
	for _, seed := range []string{
		"alice@example.com " + key,
		"# comment\n\n*@example.com namespaces=\"git\" " + key + " comment",
		`"a b,c" cert-authority,valid-after="20240101",valid-before="20250101Z" ` + key,
		`alice namespaces="x\"y",,  ` + key,
		`a valid-after="202401011200UTC" ` + key + "\r\nb " + key,
		"alice ssh-ed25519 AAAA",
		`"unterminated ` + key,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := parseAllowedSigners(data, time.UTC)
		if err != nil {
			return
		}
		for _, l := range lines {
			if l.key == nil || l.principals == "" || l.line < 1 {
				t.Fatalf("malformed result %+v", l)
			}
			if l.validAfter < 0 || l.validBefore < 0 || (l.validAfter != 0 && l.validBefore != 0 && l.validBefore <= l.validAfter) {
				t.Fatalf("bad validity %+v", l)
			}
			if strings.ContainsAny(l.namespaces, `"\`) || strings.ContainsAny(l.principals, "\"\n") {
				continue // not representable unambiguously; skip the round trip
			}
			var opts []string
			if l.certAuthority {
				opts = append(opts, "cert-authority")
			}
			if l.hasNamespaces {
				opts = append(opts, `namespaces="`+l.namespaces+`"`)
			}
			ts := func(u int64) string { return time.Unix(u, 0).UTC().Format("20060102150405") + "Z" }
			if l.validAfter != 0 {
				opts = append(opts, `valid-after="`+ts(l.validAfter)+`"`)
			}
			if l.validBefore != 0 {
				opts = append(opts, `valid-before="`+ts(l.validBefore)+`"`)
			}
			line := `"` + l.principals + `" `
			if len(opts) > 0 {
				line += strings.Join(opts, ",") + " "
			}
			line += l.key.Type() + " " + base64.StdEncoding.EncodeToString(l.key.Marshal())
			again, err := parseAllowedSigners([]byte(line), time.UTC)
			if err != nil || len(again) != 1 {
				t.Fatalf("re-parse of %q: %v (%d lines)", line, err, len(again))
			}
			a := again[0]
			if a.principals != l.principals || a.certAuthority != l.certAuthority || a.hasNamespaces != l.hasNamespaces ||
				a.namespaces != l.namespaces || a.validAfter != l.validAfter || a.validBefore != l.validBefore ||
				!bytes.Equal(a.key.Marshal(), l.key.Marshal()) {
				t.Fatalf("round trip of %q changed it:\n%+v\n%+v", line, l, a)
			}
		}
	})
}

const sampleCommit = "tree 0123456789abcdef0123456789abcdef01234567\n" +
	"parent 89abcdef0123456789abcdef0123456789abcdef\n" +
	"author Alice <alice@example.com> 1700000000 +0100\n" +
	"committer Alice Smith <alice@example.com> 1700000060 -0230\n" +
	"gpgsig -----BEGIN SSH SIGNATURE-----\n" +
	" U1NIU0lH\n" +
	" \n" +
	" -----END SSH SIGNATURE-----\n" +
	"\n" +
	"message\n\ngpgsig not a header\n"

func TestParseCommit(t *testing.T) {
	info, err := parseCommit([]byte(sampleCommit), false)
	if err != nil {
		t.Fatal(err)
	}
	if info.tree != "0123456789abcdef0123456789abcdef01234567" || info.committerEmail != "alice@example.com" {
		t.Errorf("info = %+v", info)
	}
	if want := time.Unix(1700000060, 0); !info.committerTime.Equal(want) {
		t.Errorf("committer time %v, want %v", info.committerTime, want)
	}
	if _, off := info.committerTime.Zone(); off != -(2*3600 + 30*60) {
		t.Errorf("zone offset %d", off)
	}
	wantSig := "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n\n-----END SSH SIGNATURE-----\n"
	if string(info.signature) != wantSig {
		t.Errorf("signature %q, want %q", info.signature, wantSig)
	}
	wantPayload := strings.Replace(sampleCommit, "gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n \n -----END SSH SIGNATURE-----\n", "", 1)
	if string(info.payload) != wantPayload {
		t.Errorf("payload %q, want %q", info.payload, wantPayload)
	}

	// In a SHA-256 repository the header is gpgsig-sha256, and gpgsig stays.
	info, err = parseCommit([]byte(strings.Replace(sampleCommit, "gpgsig -", "gpgsig-sha256 -", 1)), true)
	if err != nil || info.signature == nil || bytes.Contains(info.payload, []byte("BEGIN SSH")) {
		t.Errorf("sha256: %+v %v", info, err)
	}
	info, err = parseCommit([]byte(sampleCommit), true)
	if err != nil || info.signature != nil || string(info.payload) != sampleCommit {
		t.Errorf("sha256 repo with a sha1 signature header: %+v %v", info, err)
	}

	bad := map[string]string{
		"no tree":          strings.Replace(sampleCommit, "tree ", "tre ", 1),
		"two trees":        "tree 0123456789abcdef0123456789abcdef01234567\n" + sampleCommit,
		"bad tree":         strings.Replace(sampleCommit, "tree 0123", "tree X123", 1),
		"no committer":     strings.Replace(sampleCommit, "committer ", "commiter ", 1),
		"two committers":   strings.Replace(sampleCommit, "author ", "committer ", 1),
		"bad time":         strings.Replace(sampleCommit, "1700000060", "17000x0060", 1),
		"bad zone":         strings.Replace(sampleCommit, "-0230", "-02:30", 1),
		"no email":         strings.Replace(sampleCommit, "<alice@example.com> 1700000060", "alice 1700000060", 1),
		"two signatures":   strings.Replace(sampleCommit, "\n\nmessage", "\ngpgsig x\n\nmessage", 1),
		"empty":            "",
		"message only":     "\nhello",
		"committer no tz":  strings.Replace(sampleCommit, "1700000060 -0230", "1700000060", 1),
		"committer no gt":  strings.Replace(sampleCommit, "Alice Smith <alice@example.com>", "Alice Smith <alice", 1),
		"committer no lt":  strings.Replace(sampleCommit, "Alice Smith <alice@example.com>", "Alice Smith alice>", 1),
		"signature in msg": "tree 0123456789abcdef0123456789abcdef01234567\n\ncommitter A <a> 1 +0000\n",
	}
	for name, raw := range bad {
		if _, err := parseCommit([]byte(raw), false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestObjectID(t *testing.T) {
	// `printf 'hello\n' | git hash-object --stdin` and the same for SHA-256.
	if got := objectID("blob", []byte("hello\n"), false); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Errorf("sha1 id %s", got)
	}
	if got := objectID("blob", []byte("hello\n"), true); got != "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4" {
		t.Errorf("sha256 id %s", got)
	}
}

// FuzzParseCommit checks that the commit parser never panics and that the
// payload is the raw commit with exactly the signature header lines removed.
func FuzzParseCommit(f *testing.F) {
	f.Add([]byte(sampleCommit), false)
	f.Add([]byte(strings.Replace(sampleCommit, "gpgsig -", "gpgsig-sha256 -", 1)), true)
	f.Add([]byte("tree 0123456789abcdef0123456789abcdef01234567\ncommitter A <a@b> 1 +0000\n"), false)
	f.Add([]byte("tree 0123456789abcdef0123456789abcdef01234567\ncommitter A <a@b> 1 +0000\ngpgsig a\n b\n\n c\n"), false)
	f.Fuzz(func(t *testing.T, raw []byte, sha256Repo bool) {
		info, err := parseCommit(raw, sha256Repo)
		if err != nil {
			return
		}
		header := "gpgsig "
		if sha256Repo {
			header = "gpgsig-sha256 "
		}
		// Rebuild the payload independently: drop the signature header and
		// its continuation lines from the header section.
		var want, sig []byte
		inSig, body := false, false
		for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			switch {
			case body:
				want = append(want, line...)
			case line[0] == '\n':
				body = true
				want = append(want, line...)
			case inSig && line[0] == ' ':
				sig = append(sig, line[1:]...)
			case bytes.HasPrefix(line, []byte(header)):
				inSig = true
				sig = append(sig, line[len(header):]...)
			default:
				inSig = false
				want = append(want, line...)
			}
		}
		if !bytes.Equal(info.payload, want) {
			t.Fatalf("payload %q, want %q", info.payload, want)
		}
		if !bytes.Equal(info.signature, sig) || (info.signature == nil) != (sig == nil) {
			t.Fatalf("signature %q, want %q", info.signature, sig)
		}
		if !isHexID(info.tree) {
			t.Fatalf("tree %q", info.tree)
		}
		_ = fmt.Sprint(info.committerTime)
	})
}
