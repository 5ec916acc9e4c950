package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Signer signs the events a [Journal] appends with an Ed25519 key: each
// event gets `key`, the key's SSH SHA256 fingerprint (part of the hashed
// content), and `sig`, the base64 signature of its `hash`. Because every
// hash covers all the events before it, one good signature vouches for the
// whole journal up to that line.
type Signer struct {
	key ed25519.PrivateKey
	fp  string
}

// NewSigner returns a signer using key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, fp: Fingerprint(key.Public().(ed25519.PublicKey))}
}

// LoadSigner reads an unencrypted Ed25519 private key, in OpenSSH form
// (`ssh-keygen -t ed25519`) or PKCS#8 PEM (`openssl genpkey -algorithm
// ed25519`), from path. It refuses a key that group or others may read, as
// ssh does, and a key protected by a passphrase: jit signs without asking.
func LoadSigner(path string) (*Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit signing key %s may be read by others (mode %04o): run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	s, err := ParseSigner(data)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: %w", path, err)
	}
	return s, nil
}

// ParseSigner parses an unencrypted Ed25519 private key in OpenSSH or
// PKCS#8 PEM form. Errors never include the key's bytes.
func ParseSigner(data []byte) (*Signer, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	var pme *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pme):
		return nil, errors.New("is protected by a passphrase; jit signs without prompting: use a key without one, readable only by you")
	case err != nil:
		// The parser's message names the problem, not the key material.
		return nil, fmt.Errorf("not an OpenSSH or PKCS#8 PEM private key: %v", err)
	}
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		return NewSigner(k), nil
	case *ed25519.PrivateKey:
		return NewSigner(*k), nil
	default:
		return nil, fmt.Errorf("is a %T key; audit signing needs an Ed25519 key (ssh-keygen -t ed25519)", raw)
	}
}

// Fingerprint is the signer's key as events name it: "SHA256:…".
func (s *Signer) Fingerprint() string { return s.fp }

// PublicKey returns the public half of the signer's key.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// AuthorizedKey returns the public key as an authorized_keys line
// ("ssh-ed25519 AAAA…"), the form `jit audit verify --key` takes.
func (s *Signer) AuthorizedKey() string {
	pk, _ := ssh.NewPublicKey(s.PublicKey()) // cannot fail for an Ed25519 key
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}

// sign returns the `sig` of an event whose hash is hash.
func (s *Signer) sign(hash string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, []byte(hash)))
}

// Fingerprint returns the SSH SHA256 fingerprint of an Ed25519 public key,
// as `ssh-keygen -l` prints it: "SHA256:" and the unpadded base64 of the
// SHA-256 of the key's SSH wire form.
func Fingerprint(pub ed25519.PublicKey) string {
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(pk)
}

// KeyRing is a set of Ed25519 public keys, by fingerprint, that
// [VerifyReader] accepts signatures from.
type KeyRing struct {
	keys map[string]ed25519.PublicKey
}

// NewKeyRing returns a key ring holding keys.
func NewKeyRing(keys ...ed25519.PublicKey) *KeyRing {
	k := &KeyRing{keys: map[string]ed25519.PublicKey{}}
	for _, pub := range keys {
		k.Add(pub)
	}
	return k
}

// Add adds a key; adding it again changes nothing.
func (k *KeyRing) Add(pub ed25519.PublicKey) {
	if len(pub) != ed25519.PublicKeySize {
		return
	}
	k.keys[Fingerprint(pub)] = slices.Clone(pub)
}

// Len is how many keys the ring holds.
func (k *KeyRing) Len() int { return len(k.keys) }

// Fingerprints lists the keys' fingerprints, sorted.
func (k *KeyRing) Fingerprints() []string {
	out := make([]string, 0, len(k.keys))
	for fp := range k.keys {
		out = append(out, fp)
	}
	slices.Sort(out)
	return out
}

func (k *KeyRing) get(fp string) (ed25519.PublicKey, bool) {
	pub, ok := k.keys[fp]
	return pub, ok
}

// ParsePublicKeys reads Ed25519 public keys: authorized_keys or
// allowed_signers style lines ("ssh-ed25519 AAAA… comment", optionally
// after options or principals; blank lines and # comments skipped) and PEM
// "PUBLIC KEY" blocks (PKIX, as `openssl pkey -pubout` writes). A line or
// block that holds no Ed25519 key is an error naming it.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	rest := data
	for {
		block, after := pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM public key: %v", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("PEM public key is a %T key, not Ed25519", k)
		}
		out = append(out, pub)
		rest = after
	}
	if len(out) > 0 {
		return out, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pub, err := parseKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, pub)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no public key found")
	}
	return out, nil
}

// parseKeyLine reads one authorized_keys line (with or without options),
// or an allowed_signers line (principals, then the key), which the
// authorized_keys parser reads as options.
func parseKeyLine(line string) (ed25519.PublicKey, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf(`not an "ssh-ed25519 AAAA…" public key: %v`, err)
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok || pk.Type() != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("a %s key cannot check audit signatures: use an ssh-ed25519 key", pk.Type())
	}
	pub, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %s key cannot check audit signatures: use an ssh-ed25519 key", pk.Type())
	}
	return pub, nil
}

// LoadPublicKeys reads the keys spec names: an authorized_keys line given
// inline ("ssh-ed25519 AAAA…"), or the path of a file of such lines or of
// PEM public keys. It is how `--key` and `audit.verify_keys` are read.
func LoadPublicKeys(spec string) ([]ed25519.PublicKey, error) {
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, " AAAA") {
		pub, err := parseKeyLine(spec)
		if err != nil {
			return nil, fmt.Errorf("public key %.20q…: %w", spec, err)
		}
		return []ed25519.PublicKey{pub}, nil
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	keys, err := ParsePublicKeys(data)
	if err != nil {
		return nil, fmt.Errorf("public keys %s: %w", spec, err)
	}
	return keys, nil
}

// checkSig verifies sig, the `sig` of an event, against hash with pub.
func checkSig(pub ed25519.PublicKey, hash, sig string) bool {
	raw, ok := decodeSig(sig)
	return ok && ed25519.Verify(pub, []byte(hash), raw)
}

// decodeSig decodes a `sig`: standard base64 with padding, strictly (no
// stray bits in the last character), of exactly 64 bytes, so that a changed
// byte can never decode to the same signature.
func decodeSig(sig string) ([]byte, bool) {
	raw, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return nil, false
	}
	return raw, true
}

// validFingerprint checks the form of a `key` member: "SHA256:" and the 43
// characters of an unpadded base64 SHA-256.
func validFingerprint(fp string) bool {
	rest, ok := strings.CutPrefix(fp, "SHA256:")
	if !ok || len(rest) != 43 {
		return false
	}
	raw, err := base64.RawStdEncoding.Strict().DecodeString(rest)
	return err == nil && len(raw) == 32
}
