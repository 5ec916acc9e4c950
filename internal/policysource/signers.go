package policysource

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// signerLine is one entry of an OpenSSH allowed_signers file (ssh-keygen(1),
// ALLOWED SIGNERS).
type signerLine struct {
	line       int
	principals string // comma-separated patterns, as written (quotes removed)
	key        ssh.PublicKey
	// certAuthority marks a CA key: it vouches for certificates, never for a
	// plain key equal to itself.
	certAuthority bool
	namespaces    string // comma-separated patterns; "" with hasNamespaces false means any
	hasNamespaces bool
	validAfter    int64 // unix seconds; 0 = unset
	validBefore   int64 // unix seconds; 0 = unset
}

// parseAllowedSigners parses an allowed_signers file. Times without a "Z" or
// "UTC" suffix are read in loc, as ssh-keygen reads them in local time.
//
// ssh-keygen skips a line it cannot parse (after logging it); jit rejects the
// whole file instead, because a trust root with a typo should be fixed, not
// silently half-applied. That can only make jit stricter than git.
func parseAllowedSigners(data []byte, loc *time.Location) ([]signerLine, error) {
	var out []signerLine
	n := 0
	for len(data) > 0 {
		n++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		l, ok, err := parseSignerLine(string(raw), loc)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if ok {
			l.line = n
			out = append(out, l)
		}
	}
	return out, nil
}

const sshWhitespace = " \t\r\n"

// parseSignerLine parses "principals [options] keytype base64 [comment]".
// ok is false for blank and comment lines.
func parseSignerLine(s string, loc *time.Location) (l signerLine, ok bool, err error) {
	s = strings.TrimLeft(s, " \t")
	s = strings.TrimRight(s, "\r")
	if s == "" || s[0] == '#' {
		return l, false, nil
	}
	principals, rest, err := nextToken(s)
	if err != nil {
		return l, false, err
	}
	if principals == "" {
		return l, false, errors.New("empty principals")
	}
	if rest == "" {
		return l, false, errors.New("missing key")
	}
	l.principals = principals

	// Like sshkey_read: if what follows is not a key, it is the options.
	key, keyErr := parseKey(rest)
	if keyErr != nil {
		if isKeyType(firstField(rest)) {
			return l, false, fmt.Errorf("invalid key: %w", keyErr)
		}
		opts, after, err := splitOptions(rest)
		if err != nil {
			return l, false, err
		}
		if after == "" {
			return l, false, errors.New("missing key")
		}
		if err := l.parseOptions(opts, loc); err != nil {
			return l, false, fmt.Errorf("bad options: %w", err)
		}
		key, err = parseKey(after)
		if err != nil {
			return l, false, fmt.Errorf("invalid key: %w", err)
		}
	}
	l.key = key
	return l, true, nil
}

// nextToken splits off the first whitespace-delimited token the way OpenSSH's
// strdelimw does: a double quote (even mid-token) starts a quoted part that
// runs to the next quote and ends the token; the quotes are removed.
func nextToken(s string) (tok, rest string, err error) {
	i := strings.IndexAny(s, sshWhitespace+`"`)
	if i < 0 {
		return s, "", nil
	}
	if s[i] == '"' {
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			return "", "", errors.New("unterminated quote in principals")
		}
		tok = s[:i] + s[i+1:i+1+j]
		return tok, strings.TrimLeft(s[i+1+j+1:], sshWhitespace), nil
	}
	return s[:i], strings.TrimLeft(s[i+1:], sshWhitespace), nil
}

// splitOptions splits the options token from the key that follows it, as
// sshkey_advance_past_options does: whitespace inside quotes does not end the
// options, and \" does not toggle quoting.
func splitOptions(s string) (opts, rest string, err error) {
	quoted := false
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !quoted && (c == ' ' || c == '\t') {
			break
		}
		if c == '\\' && i+1 < len(s) && s[i+1] == '"' {
			i++
			continue
		}
		if c == '"' {
			quoted = !quoted
		}
	}
	if quoted {
		return "", "", errors.New("unterminated quote in options")
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), nil
}

// parseOptions follows sshsigopt_parse: comma-separated, case-insensitive
// names, values in double quotes, each option at most once, nothing unknown.
func (l *signerLine) parseOptions(opts string, loc *time.Location) error {
	var haveAfter, haveBefore bool
	for opts != "" {
		switch {
		case hasPrefixFold(opts, "cert-authority"):
			l.certAuthority = true
			opts = opts[len("cert-authority"):]
		case hasPrefixFold(opts, "namespaces="):
			if l.hasNamespaces {
				return errors.New(`multiple "namespaces" clauses`)
			}
			v, rest, err := dequote(opts[len("namespaces="):])
			if err != nil {
				return err
			}
			l.namespaces, l.hasNamespaces, opts = v, true, rest
		case hasPrefixFold(opts, "valid-after="):
			if haveAfter {
				return errors.New(`multiple "valid-after" clauses`)
			}
			v, rest, err := dequote(opts[len("valid-after="):])
			if err != nil {
				return err
			}
			t, err := parseSSHTime(v, loc)
			if err != nil || t == 0 {
				return errors.New(`invalid "valid-after" time`)
			}
			l.validAfter, haveAfter, opts = t, true, rest
		case hasPrefixFold(opts, "valid-before="):
			if haveBefore {
				return errors.New(`multiple "valid-before" clauses`)
			}
			v, rest, err := dequote(opts[len("valid-before="):])
			if err != nil {
				return err
			}
			t, err := parseSSHTime(v, loc)
			if err != nil || t == 0 {
				return errors.New(`invalid "valid-before" time`)
			}
			l.validBefore, haveBefore, opts = t, true, rest
		}
		if opts == "" {
			break
		}
		// Anything but a comma here is an option jit does not know; empty
		// options between commas are skipped, as OpenSSH does.
		if opts[0] != ',' {
			return fmt.Errorf("unknown option %q", strings.SplitN(opts, ",", 2)[0])
		}
		opts = opts[1:]
	}
	if l.validAfter != 0 && l.validBefore != 0 && l.validBefore <= l.validAfter {
		return errors.New(`"valid-before" time is before "valid-after"`)
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// dequote reads a double-quoted value where \" stands for a quote (OpenSSH's
// opt_dequote).
func dequote(s string) (val, rest string, err error) {
	if s == "" || s[0] != '"' {
		return "", "", errors.New("missing start quote")
	}
	var b strings.Builder
	i := 1
	for ; i < len(s) && s[i] != '"'; i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == '"' {
			i++
		}
		b.WriteByte(s[i])
	}
	if i >= len(s) {
		return "", "", errors.New("missing end quote")
	}
	return b.String(), s[i+1:], nil
}

// parseSSHTime parses YYYYMMDD[HHMM[SS]][Z|UTC] like OpenSSH's
// parse_absolute_time, returning unix seconds.
func parseSSHTime(s string, loc *time.Location) (int64, error) {
	if len(s) > 1 && strings.EqualFold(s[len(s)-1:], "z") {
		s, loc = s[:len(s)-1], time.UTC
	} else if len(s) > 3 && strings.EqualFold(s[len(s)-3:], "utc") {
		s, loc = s[:len(s)-3], time.UTC
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a time")
		}
	}
	num := func(a, b int) int {
		n := 0
		for _, c := range s[a:b] {
			n = n*10 + int(c-'0')
		}
		return n
	}
	var hh, mi, ss int
	switch len(s) {
	case 8:
	case 12:
		hh, mi = num(8, 10), num(10, 12)
	case 14:
		hh, mi, ss = num(8, 10), num(10, 12), num(12, 14)
	default:
		return 0, errors.New("not a time")
	}
	y, mo, d := num(0, 4), num(4, 6), num(6, 8)
	if mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mi > 59 || ss > 59 {
		return 0, errors.New("not a time")
	}
	t := time.Date(y, time.Month(mo), d, hh, mi, ss, 0, loc)
	if t.Day() != d { // 31 February and friends
		return 0, errors.New("not a time")
	}
	if t.Unix() < 0 {
		return 0, errors.New("time before 1970")
	}
	return t.Unix(), nil
}

func firstField(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

// isKeyType reports whether s names an SSH public key or certificate type.
func isKeyType(s string) bool {
	switch s {
	case ssh.KeyAlgoRSA, "ssh-dss", ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoED25519, ssh.KeyAlgoSKECDSA256, ssh.KeyAlgoSKED25519:
		return true
	}
	return strings.HasSuffix(s, "-cert-v01@openssh.com")
}

// parseKey reads "keytype base64 [comment]".
func parseKey(s string) (ssh.PublicKey, error) {
	typ := firstField(s)
	if !isKeyType(typ) {
		return nil, fmt.Errorf("unknown key type %q", truncate(typ, 40))
	}
	b64 := firstField(strings.TrimLeft(s[len(typ):], " \t"))
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("key is not base64")
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, err
	}
	if key.Type() != typ {
		return nil, fmt.Errorf("key type %s does not match its data (%s)", typ, key.Type())
	}
	return key, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// validAt reports whether the line's validity interval holds at t (unix
// seconds), with OpenSSH's inclusive bounds.
func (l *signerLine) validAt(t int64) bool {
	if l.validAfter != 0 && t < l.validAfter {
		return false
	}
	if l.validBefore != 0 && t > l.validBefore {
		return false
	}
	return true
}

// matchPatternList is OpenSSH's match_pattern_list: 1 when s matches one of
// the comma-separated patterns, -1 when it matches a negated (!) one, else 0.
func matchPatternList(s, list string) int {
	got := 0
	for list != "" {
		negated := false
		if list[0] == '!' {
			negated, list = true, list[1:]
		}
		sub := list
		if i := strings.IndexByte(list, ','); i >= 0 {
			sub, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		// OpenSSH copies a subpattern into a 1024-byte buffer and treats a
		// longer one as no match at all.
		if len(sub) >= 1023 {
			return 0
		}
		if matchPattern(s, sub) {
			if negated {
				return -1
			}
			got = 1
		}
	}
	return got
}

// matchPattern matches s against a glob with * and ? (OpenSSH match_pattern),
// in linear time by remembering only the last star.
func matchPattern(s, p string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si++
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
