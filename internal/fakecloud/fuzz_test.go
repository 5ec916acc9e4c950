package fakecloud

import (
	"regexp"
	"strings"
	"testing"
)

func FuzzParseSigV4Header(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIA/20261203/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd")
	f.Add("AWS4-HMAC-SHA256 Credential=/a/b/c/d, SignedHeaders=;, Signature=")
	f.Add("AWS4-HMAC-SHA256 Credential=A/B/C/D/E,Credential=x")
	f.Add("Bearer x")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseSigV4Header(h)
		if err != nil {
			if err.status != 400 || err.code != "IncompleteSignature" {
				t.Fatalf("parse error %+v", err)
			}
			return
		}
		if a.AccessKeyID == "" || a.Signature == "" || len(a.SignedHeaders) == 0 {
			t.Fatalf("accepted incomplete header %q: %+v", h, a)
		}
		for _, sh := range a.SignedHeaders {
			if sh == "" || sh != strings.ToLower(sh) {
				t.Fatalf("accepted signed header %q", sh)
			}
		}
	})
}

func FuzzParseARN(f *testing.F) {
	for _, s := range []string{aliceARN, bobARN, adminRole, "arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:s3:::bucket/a:b", "arn::::", "arn:a:b:c:d:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := parseARN(s)
		if !ok {
			return
		}
		if a.String() != s {
			t.Fatalf("round trip %q -> %q", s, a.String())
		}
		if k := principalKind(a); k == kindAssumedRole {
			parts := strings.Split(a.resource, "/")
			if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
				t.Fatalf("%q classified as assumed role", s)
			}
		}
	})
}

// globRef is the obvious regexp translation of globMatch's patterns.
func globRef(pattern, s string) bool {
	var b strings.Builder
	b.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()).MatchString(s)
}

func FuzzGlobMatch(f *testing.F) {
	f.Add("arn:aws:iam::*:role/AWSReservedSSO_*", "arn:aws:iam::111111111111:role/AWSReservedSSO_Admin_1")
	f.Add("a*b*c", "aXbYbZc")
	f.Add("*", "")
	f.Add("a?c", "abc")
	f.Add("**x", "yyx")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		// globMatch works on bytes, the reference on runes: compare on ASCII.
		for _, c := range pattern + s {
			if c >= 0x80 {
				return
			}
		}
		if got, want := globMatch(pattern, s), globRef(pattern, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	})
}
