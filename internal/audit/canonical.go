package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// Canonical returns the canonical JSON of v, the exact bytes the journal
// stores and hashes (see [Journal] for the rules). v is first marshalled with
// encoding/json, so struct tags and omitempty apply; nothing is added.
func Canonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	tree, err := parseJSON(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return appendCanonical(nil, tree, false), nil
}

// ComputeHash returns the hash the journal records for e: lowercase hex
// SHA-256 over e.Prev followed by the canonical JSON of e without its `hash`
// and `sig` members. e.Hash and e.Sig are ignored, so the result can be
// compared with e.Hash.
func ComputeHash(e *Event) (string, error) {
	tree, err := eventTree(e)
	if err != nil {
		return "", err
	}
	return chainHash(e.Prev, appendCanonical(nil, tree, true)), nil
}

// eventTree is e as the generic value its canonical form is written from.
func eventTree(e *Event) (map[string]any, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Event, err)
	}
	tree, err := parseJSON(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Event, err)
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil, errors.New("encode event: not a json object")
	}
	return obj, nil
}

func chainHash(prev string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// parseJSON decodes exactly one JSON value, keeping numbers as written.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	// Decode stops after the value; anything but whitespace after it is an error.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the json value")
	}
	return v, nil
}

// unhashed reports the members of an event that its hash does not cover:
// the hash itself, and the signature made from it.
func unhashed(key string) bool { return key == "hash" || key == "sig" }

// appendCanonical appends the canonical form of a value produced by
// parseJSON. hashed leaves out the members of the top-level object that the
// chain hash does not cover (see unhashed); nested objects keep every member.
func appendCanonical(dst []byte, v any, hashed bool) []byte {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			if !hashed || !unhashed(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendCanonical(dst, v[k], false)
		}
		return append(dst, '}')
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCanonical(dst, e, false)
		}
		return append(dst, ']')
	case string:
		return appendString(dst, v)
	case json.Number:
		return append(dst, v...)
	case bool:
		if v {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	default: // nil: parseJSON yields no other types
		return append(dst, "null"...)
	}
}

// AppendJSONString appends s as a JSON string quoted exactly as the journal
// quotes strings (encoding/json with HTML escaping off), for formats that
// embed journal values (HTTP sink bodies).
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

// appendString quotes s exactly as encoding/json does with HTML escaping off,
// so that a line written through Canonical and one re-serialised by Verify
// agree byte for byte (FuzzCanonical checks the two against each other).
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
