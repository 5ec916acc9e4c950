package policysource

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // git object ids of SHA-1 repositories are SHA-1 by definition
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// commitInfo is what jit needs from a raw commit object.
type commitInfo struct {
	tree           string
	committerEmail string
	committerTime  time.Time
	// signature is the value of the gpgsig header (continuation lines joined,
	// their leading space removed), nil when the commit is unsigned.
	signature []byte
	// payload is the commit object without the signature header: the bytes
	// the signature was made over.
	payload []byte
}

// parseCommit parses a raw commit object (the bytes `git cat-file commit`
// prints). sha256Repo selects the signature header of a SHA-256 repository.
//
// The signature extraction follows git's parse_buffer_signed_by_header: in the
// header section, a line starting with "<header> " opens the signature and
// every following line starting with a space continues it; all those lines are
// left out of the payload, everything else (including the message) is kept
// byte for byte.
func parseCommit(raw []byte, sha256Repo bool) (*commitInfo, error) {
	sigHeader := "gpgsig "
	if sha256Repo {
		sigHeader = "gpgsig-sha256 "
	}
	info := &commitInfo{}
	payload := make([]byte, 0, len(raw))
	var sig []byte
	inSig, sawSig, sigHeaders := false, false, 0
	var treeSeen, committerSeen bool
	rest := raw
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if line[0] == '\n' {
			// End of headers: the message is kept verbatim.
			payload = append(payload, line...)
			payload = append(payload, rest...)
			break
		}
		switch {
		case inSig && line[0] == ' ':
			sig = append(sig, line[1:]...)
			continue
		case bytes.HasPrefix(line, []byte(sigHeader)):
			sigHeaders++
			sig = append(sig, line[len(sigHeader):]...)
			inSig, sawSig = true, true
			continue
		}
		inSig = false
		payload = append(payload, line...)
		body := bytes.TrimSuffix(line, []byte("\n"))
		switch {
		case bytes.HasPrefix(body, []byte("tree ")):
			if treeSeen {
				return nil, errors.New("commit has more than one tree header")
			}
			treeSeen = true
			info.tree = string(body[len("tree "):])
			if !isHexID(info.tree) {
				return nil, fmt.Errorf("commit has a malformed tree id %q", info.tree)
			}
		case bytes.HasPrefix(body, []byte("committer ")):
			if committerSeen {
				return nil, errors.New("commit has more than one committer header")
			}
			committerSeen = true
			email, t, err := parseIdent(body[len("committer "):])
			if err != nil {
				return nil, fmt.Errorf("commit has a malformed committer: %w", err)
			}
			info.committerEmail, info.committerTime = email, t
		}
	}
	if !treeSeen {
		return nil, errors.New("commit has no tree header")
	}
	if !committerSeen {
		return nil, errors.New("commit has no committer header")
	}
	if sigHeaders > 1 {
		return nil, errors.New("commit has more than one signature header")
	}
	if sawSig {
		info.signature = sig
	}
	info.payload = payload
	return info, nil
}

// parseIdent parses "Name <email> 1700000000 +0100".
func parseIdent(b []byte) (email string, t time.Time, err error) {
	gt := bytes.LastIndexByte(b, '>')
	if gt < 0 {
		return "", time.Time{}, errors.New("no <email>")
	}
	lt := bytes.LastIndexByte(b[:gt], '<')
	if lt < 0 {
		return "", time.Time{}, errors.New("no <email>")
	}
	email = string(b[lt+1 : gt])
	fields := bytes.Fields(b[gt+1:])
	if len(fields) != 2 {
		return "", time.Time{}, errors.New("no timestamp")
	}
	secs, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("bad timestamp %q", fields[0])
	}
	tz := fields[1]
	if len(tz) != 5 || (tz[0] != '+' && tz[0] != '-') {
		return "", time.Time{}, fmt.Errorf("bad time zone %q", tz)
	}
	hh, err1 := strconv.Atoi(string(tz[1:3]))
	mm, err2 := strconv.Atoi(string(tz[3:5]))
	if err1 != nil || err2 != nil {
		return "", time.Time{}, fmt.Errorf("bad time zone %q", tz)
	}
	off := hh*3600 + mm*60
	if tz[0] == '-' {
		off = -off
	}
	return email, time.Unix(secs, 0).In(time.FixedZone(string(tz), off)), nil
}

// objectID computes the git object id of a commit's raw bytes, so that the
// bytes whose signature is checked are proven to be the commit jit records.
func objectID(kind string, raw []byte, sha256Repo bool) string {
	header := kind + " " + strconv.Itoa(len(raw)) + "\x00"
	if sha256Repo {
		h := sha256.New()
		h.Write([]byte(header))
		h.Write(raw)
		return hex.EncodeToString(h.Sum(nil))
	}
	h := sha1.New() //nolint:gosec // see import
	h.Write([]byte(header))
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))
}

// isHexID reports whether s is a full SHA-1 or SHA-256 object id in lowercase hex.
func isHexID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return isLowerHex(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
