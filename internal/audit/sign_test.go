package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testKey returns a fixed Ed25519 key; seed picks which.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// signedLines appends n events, signing those from the one with index
// from on (-1: none), and returns the journal's lines with their newlines.
func signedLines(t testing.TB, n, from int, s *Signer) [][]byte {
	t.Helper()
	path := journalPath(t)
	j := OpenJournal(path)
	j.noSync = true
	for i := range n {
		j.Signer = nil
		if from >= 0 && i >= from {
			j.Signer = s
		}
		e := newEvent(i)
		if i%3 == 1 {
			e.Grant = map[string]string{"access_key_id": "ASIA" + strings.Repeat("Y", i)}
		}
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return bytes.SplitAfter(must(os.ReadFile(path)), []byte("\n"))[:n]
}

func verifyWith(t *testing.T, lines [][]byte, o VerifyOptions) *Report {
	t.Helper()
	rep, err := VerifyReader(bytes.NewReader(bytes.Join(lines, nil)), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func writeKeyFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSigner(t *testing.T) {
	key := testKey(1)
	openssh, err := ssh.MarshalPrivateKey(key, "audit@test")
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	wantFP := ssh.FingerprintSHA256(must(ssh.NewPublicKey(key.Public())))
	for _, tt := range []struct {
		name string
		data []byte
		err  string
	}{
		{"openssh", pem.EncodeToMemory(openssh), ""},
		{"pkcs8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), ""},
		{"passphrase", pem.EncodeToMemory(encrypted), "passphrase"},
		{"ecdsa", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "needs an Ed25519 key"},
		{"garbage", []byte("not a key"), "not an OpenSSH or PKCS#8 PEM private key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadSigner(writeKeyFile(t, tt.data))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("LoadSigner = %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Fingerprint() != wantFP || !s.PublicKey().Equal(key.Public()) {
				t.Errorf("fingerprint %s, want %s", s.Fingerprint(), wantFP)
			}
			if !strings.HasPrefix(s.AuthorizedKey(), "ssh-ed25519 AAAA") {
				t.Errorf("AuthorizedKey = %q", s.AuthorizedKey())
			}
		})
	}
	if runtime.GOOS != "windows" {
		p := writeKeyFile(t, pem.EncodeToMemory(openssh))
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSigner(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("LoadSigner of a world-readable key = %v", err)
		}
	}
	if _, err := LoadSigner(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing key accepted")
	}
}

// The fingerprint is the one ssh-keygen prints for the key.
func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("no ssh-keygen")
	}
	s := NewSigner(testKey(2))
	p := writeKeyFile(t, []byte(s.AuthorizedKey()+"\n"))
	out, err := exec.Command(keygen, "-l", "-E", "sha256", "-f", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(out)); len(f) < 2 || f[1] != s.Fingerprint() {
		t.Errorf("ssh-keygen says %q, Fingerprint %q", out, s.Fingerprint())
	}
}

func TestParsePublicKeys(t *testing.T) {
	a, b := NewSigner(testKey(1)), NewSigner(testKey(2))
	der, _ := x509.MarshalPKIXPublicKey(b.PublicKey())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecSSH, _ := ssh.NewPublicKey(&ec.PublicKey)
	for _, tt := range []struct {
		name string
		data string
		want []string
		err  string
	}{
		{"authorized_keys", "# audit keys\n\n" + a.AuthorizedKey() + " alice\n" + `no-pty,command="x y" ` + b.AuthorizedKey() + "\n", []string{a.Fingerprint(), b.Fingerprint()}, ""},
		{"allowed_signers", "audit@example.com " + a.AuthorizedKey() + "\n", []string{a.Fingerprint()}, ""},
		{"pem", string(pemKey), []string{b.Fingerprint()}, ""},
		{"ecdsa", string(ssh.MarshalAuthorizedKey(ecSSH)), nil, "use an ssh-ed25519 key"},
		{"no key", "hello world\n", nil, "line 1: not an"},
		{"empty", "# nothing\n", nil, "no public key"},
		{"broken base64", "ssh-ed25519 AAAA!!!\n", nil, "not an \"ssh-ed25519"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParsePublicKeys([]byte(tt.data))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParsePublicKeys = %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, Fingerprint(k))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys %v, want %v", got, tt.want)
			}
		})
	}
	// LoadPublicKeys takes a key line or a file.
	if keys, err := LoadPublicKeys(a.AuthorizedKey() + " comment"); err != nil || len(keys) != 1 || Fingerprint(keys[0]) != a.Fingerprint() {
		t.Errorf("LoadPublicKeys(line) = %v, %v", keys, err)
	}
	p := writeKeyFile(t, pemKey)
	if keys, err := LoadPublicKeys(p); err != nil || len(keys) != 1 || Fingerprint(keys[0]) != b.Fingerprint() {
		t.Errorf("LoadPublicKeys(file) = %v, %v", keys, err)
	}
	if _, err := LoadPublicKeys(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing key file accepted")
	}
}

func TestSignedJournal(t *testing.T) {
	s := NewSigner(testKey(1))
	lines := signedLines(t, 10, 0, s)
	for i, line := range lines {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		if e.Key != s.Fingerprint() || !checkSig(s.PublicKey(), e.Hash, e.Sig) {
			t.Fatalf("line %d: key %q sig %q", i+1, e.Key, e.Sig)
		}
		// The hash covers key but not sig.
		if h, err := ComputeHash(&e); err != nil || h != e.Hash {
			t.Fatalf("line %d: ComputeHash = %s, %v; want %s", i+1, h, err, e.Hash)
		}
	}
	rep := verifyWith(t, lines, VerifyOptions{Keys: NewKeyRing(s.PublicKey())})
	checkProblems(t, rep, nil)
	if rep.Signed != 10 || rep.FirstSigned != 1 || !rep.SignaturesChecked || rep.UnsignedBefore != 0 {
		t.Errorf("report %+v", rep)
	}
	// Without keys, the signatures' form is checked, and they are counted.
	rep = verifyWith(t, lines, VerifyOptions{})
	checkProblems(t, rep, nil)
	if rep.Signed != 10 || rep.SignaturesChecked {
		t.Errorf("report without keys %+v", rep)
	}
}

// resign replaces a line's sig with sig (the hash is not affected).
func resign(t *testing.T, line []byte, sig string) []byte {
	t.Helper()
	tree, err := parseJSON(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	obj := tree.(map[string]any)
	if sig == "" {
		delete(obj, "sig")
	} else {
		obj["sig"] = sig
	}
	return append(appendCanonical(nil, obj, false), '\n')
}

func TestVerifySignatures(t *testing.T) {
	a, b := NewSigner(testKey(1)), NewSigner(testKey(2))
	ringA := NewKeyRing(a.PublicKey())
	signed := signedLines(t, 8, 3, a) // lines 1-3 unsigned, 4-8 signed by a
	byB := signedLines(t, 8, 0, b)
	var e5 Event
	_ = json.Unmarshal(signed[4], &e5)
	var e6 Event
	_ = json.Unmarshal(signed[5], &e6)

	tests := []struct {
		name  string
		lines func() [][]byte
		o     VerifyOptions
		wants []want
		check func(t *testing.T, r *Report)
	}{
		{name: "signing started later", lines: func() [][]byte { return signed }, o: VerifyOptions{Keys: ringA},
			check: func(t *testing.T, r *Report) {
				if r.UnsignedBefore != 3 || r.Signed != 5 || r.FirstSigned != 4 {
					t.Errorf("report %+v", r)
				}
			}},
		{name: "unknown key", lines: func() [][]byte { return byB }, o: VerifyOptions{Keys: ringA},
			wants: []want{{1, KindUnknownKey, b.Fingerprint()}, {2, KindUnknownKey, ""}, {3, KindUnknownKey, ""}, {4, KindUnknownKey, ""},
				{5, KindUnknownKey, ""}, {6, KindUnknownKey, ""}, {7, KindUnknownKey, ""}, {8, KindUnknownKey, ""}}},
		{name: "either key", lines: func() [][]byte { return byB }, o: VerifyOptions{Keys: NewKeyRing(a.PublicKey(), b.PublicKey())}},
		{name: "signature of another event", lines: func() [][]byte {
			l := slices.Clone(signed)
			l[4] = resign(t, l[4], e6.Sig)
			return l
		}, o: VerifyOptions{Keys: ringA}, wants: []want{{5, KindBadSignature, "not " + a.Fingerprint() + "'s signature"}}},
		{name: "signature removed", lines: func() [][]byte {
			l := slices.Clone(signed)
			l[4] = resign(t, l[4], "")
			return l
		}, o: VerifyOptions{}, wants: []want{{5, KindUnsigned, "signature was removed"}}},
		{name: "signature malformed", lines: func() [][]byte {
			l := slices.Clone(signed)
			l[4] = resign(t, l[4], base64.StdEncoding.EncodeToString([]byte("short")))
			return l
		}, o: VerifyOptions{}, wants: []want{{5, KindBadSignature, "64-byte"}}},
		{name: "unsigned line after signing started", lines: func() [][]byte {
			// Signing turned off at line 7: forging a chain is not needed,
			// the journal itself can do it.
			path := journalPath(t)
			j := OpenJournal(path)
			j.noSync = true
			for i := range 8 {
				j.Signer = nil
				if i >= 2 && i < 6 {
					j.Signer = a
				}
				if err := j.Append(newEvent(i)); err != nil {
					t.Fatal(err)
				}
			}
			return bytes.SplitAfter(must(os.ReadFile(path)), []byte("\n"))[:8]
		}, o: VerifyOptions{Keys: ringA}, wants: []want{{7, KindUnsigned, "although line 3 was"}, {8, KindUnsigned, ""}}},
		{name: "nothing signed", lines: func() [][]byte { return journalLines(t, 3) }, o: VerifyOptions{Keys: ringA},
			wants: []want{{0, KindUnsigned, "no event is signed"}}},
		{name: "nothing signed, no keys", lines: func() [][]byte { return journalLines(t, 3) }, o: VerifyOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := verifyWith(t, tt.lines(), tt.o)
			checkProblems(t, rep, tt.wants)
			if tt.check != nil {
				tt.check(t, rep)
			}
		})
	}
}

// Every single-byte change to a signed line is reported on that line when
// signatures are checked: the signature bytes too, which the hash does not
// cover.
func TestVerifySignedEveryByteFlip(t *testing.T) {
	s := NewSigner(testKey(3))
	lines := signedLines(t, 6, 0, s)
	o := VerifyOptions{Keys: NewKeyRing(s.PublicKey())}
	masks := []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}
	if testing.Short() {
		masks = masks[:2]
	}
	for _, target := range []int{1, 4, 6} {
		line := lines[target-1]
		for pos := range line {
			for _, mask := range masks {
				mutated := slices.Clone(lines)
				mutated[target-1] = slices.Clone(line)
				mutated[target-1][pos] ^= mask
				rep := verifyWith(t, mutated, o)
				named := false
				for _, p := range rep.Problems {
					named = named || p.Line == target
				}
				if !named {
					t.Fatalf("line %d byte %d (%q) ^ %#x not detected: %v", target, pos, line[pos], mask, rep.Problems)
				}
			}
		}
	}
}

func TestVerifyCopy(t *testing.T) {
	lines := journalLines(t, 12)
	cat := func(parts ...[][]byte) [][]byte { return slices.Concat(parts...) }
	copyOpts := VerifyOptions{Copy: true}
	tests := []struct {
		name    string
		lines   [][]byte
		o       VerifyOptions
		wants   []want
		partial bool
		repeats int
		first   uint64
	}{
		{name: "whole", lines: lines, o: copyOpts, first: 1},
		{name: "from the middle", lines: lines[5:], o: copyOpts, partial: true, first: 6},
		{name: "from the middle, not a copy", lines: lines[5:], o: VerifyOptions{}, first: 6,
			wants: []want{{1, KindDropped, "5 events missing"}}},
		{name: "a batch again", lines: cat(lines[:8], lines[4:]), o: copyOpts, repeats: 4, first: 1},
		{name: "pieces overlap, from the middle", lines: cat(lines[2:6], lines[3:9], lines[9:]), o: copyOpts, partial: true, repeats: 3, first: 3},
		{name: "a batch again, not a copy", lines: cat(lines[:3], lines[1:]), o: VerifyOptions{}, first: 1,
			wants: []want{{4, KindDuplicated, ""}, {5, KindDuplicated, ""}}},
		{name: "a hole in a copy", lines: cat(lines[:4], lines[6:]), o: copyOpts, first: 1,
			wants: []want{{5, KindDropped, "2 events missing"}}},
		{name: "edited repeat is not a repeat", lines: cat(lines[:4], [][]byte{bytes.Replace(lines[3], []byte(`"seq":4`), []byte(`"seq": 4`), 1)}, lines[4:]),
			o: copyOpts, first: 1, wants: []want{{5, KindNotCanonical, ""}, {5, KindDuplicated, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := verifyWith(t, tt.lines, tt.o)
			checkProblems(t, rep, tt.wants)
			if rep.Partial != tt.partial || rep.Repeats != tt.repeats || rep.First != tt.first {
				t.Errorf("partial %v repeats %d first %d, want %v %d %d", rep.Partial, rep.Repeats, rep.First, tt.partial, tt.repeats, tt.first)
			}
			if len(tt.wants) == 0 && rep.Last != 12 {
				t.Errorf("last %d, want 12", rep.Last)
			}
		})
	}
}

func TestVerifyFileWithCopy(t *testing.T) {
	lines := journalLines(t, 5)
	p := filepath.Join(t.TempDir(), "copy.jsonl")
	if err := os.WriteFile(p, bytes.Join(lines[2:], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	// A copy has no head file: as a journal it is broken, as a copy fine.
	if rep, err := VerifyFile(p); err != nil || rep.OK() {
		t.Errorf("VerifyFile(copy) = %+v, %v; want problems", rep, err)
	}
	rep, err := VerifyFileWith(p, VerifyOptions{Copy: true})
	if err != nil || !rep.OK() || !rep.Partial || rep.First != 3 || rep.Last != 5 {
		t.Errorf("VerifyFileWith(copy) = %+v, %v", rep, err)
	}
	if _, err := VerifyFileWith(p+".missing", VerifyOptions{Copy: true}); err == nil {
		t.Error("missing copy verified")
	}
}

func FuzzVerifySigned(f *testing.F) {
	s := NewSigner(testKey(4))
	lines := signedLines(f, 6, 2, s)
	f.Add(bytes.Join(lines, nil), true, false)
	f.Add(bytes.Join(lines[3:], nil), true, true)
	f.Add(bytes.Join(slices.Concat(lines[:4], lines[2:]), nil), false, true)
	f.Add([]byte(`{"seq":1,"prev":"","key":"SHA256:`+strings.Repeat("A", 43)+`","sig":"`+strings.Repeat("A", 86)+`==","hash":"`+strings.Repeat("0", 64)+`"}`+"\n"), true, false)
	f.Add([]byte(`{"seq":1,"prev":"","key":7,"sig":[],"hash":"`+strings.Repeat("0", 64)+`"}`+"\n"), true, true)
	ring := NewKeyRing(s.PublicKey())
	f.Fuzz(func(t *testing.T, data []byte, keys, copyMode bool) {
		o := VerifyOptions{Copy: copyMode}
		if keys {
			o.Keys = ring
		}
		rep, err := VerifyReader(bytes.NewReader(data), o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Events > rep.Lines || len(rep.Problems) > MaxProblems || rep.Signed > rep.Events+rep.Repeats {
			t.Fatalf("report %+v", rep)
		}
		for _, p := range rep.Problems {
			if p.Line < 0 || p.Line > rep.Lines || p.Kind == "" || p.Msg == "" {
				t.Fatalf("bad problem %+v", p)
			}
		}
		// A clean signature check means every event after the first
		// signed one carries a good signature by the key.
		if rep.OK() && keys {
			if rep.Events > 0 && rep.Signed == 0 {
				t.Fatalf("clean report without signatures: %+v", rep)
			}
			n := 0
			for line := range bytes.SplitSeq(data, []byte("\n")) {
				n++
				if n < rep.FirstSigned || len(line) == 0 {
					continue
				}
				var e Event
				if json.Unmarshal(line, &e) != nil || !checkSig(s.PublicKey(), e.Hash, e.Sig) {
					t.Fatalf("line %d passed without a good signature: %s", n, line)
				}
			}
		}
	})
}
