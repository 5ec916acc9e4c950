package gcpspec

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseExpiry(t *testing.T) {
	at := time.Date(2026, 12, 3, 17, 19, 2, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{ExpiryExpression(at), true},
		{`request.time < timestamp("2026-12-03T17:19:02Z")`, true},
		{`  request.time < timestamp("2026-12-03T18:19:02+01:00") `, true},
		{`request.time < timestamp("2026-12-03T17:19:02.000Z")`, true},
		{`request.time <timestamp("2026-12-03T17:19:02Z")`, false},
		{`request.time < timestamp("2026-12-03T17:19:02Z") && resource.name == "x"`, false},
		{`request.time >= timestamp("2026-12-01T00:00:00Z") && request.time < timestamp("2026-12-03T17:19:02Z")`, false},
		{`request.time < timestamp("tomorrow")`, false},
		{`request.time < timestamp("2026-12-03T17:19:02Z"")`, false},
		{``, false},
	} {
		got, ok := ParseExpiry(tc.expr)
		if ok != tc.ok || (ok && !got.Equal(at)) {
			t.Errorf("ParseExpiry(%q) = %s, %v; want ok=%v", tc.expr, got, ok, tc.ok)
		}
	}
}

func TestBindingDescription(t *testing.T) {
	d := BindingDescription(alice, "line one\nline\ttwo", "CHG-1")
	if d != "jit: alice@example.com reason=line one line two ticket=CHG-1" {
		t.Errorf("description %q", d)
	}
	long := BindingDescription(alice, strings.Repeat("ü", 300), "")
	if len(long) > maxDescriptionLen || !utf8.ValidString(long) {
		t.Errorf("long description is %d bytes, valid %v", len(long), utf8.ValidString(long))
	}
}

func FuzzParseExpiry(f *testing.F) {
	f.Add(`request.time < timestamp("2026-12-03T17:19:02Z")`)
	f.Add(`request.time < timestamp("")`)
	f.Add(`request.time < timestamp("2026-12-03T17:19:02Z") || true`)
	f.Add("")
	f.Fuzz(func(t *testing.T, e string) {
		at, ok := ParseExpiry(e)
		if !ok {
			return
		}
		// Whatever parses is exactly jit's form around an RFC 3339 time;
		// writing it again and parsing that gives the same instant.
		if !strings.HasPrefix(strings.TrimSpace(e), `request.time < timestamp("`) || !strings.HasSuffix(strings.TrimSpace(e), `")`) {
			t.Fatalf("ParseExpiry accepted %q", e)
		}
		again, ok := ParseExpiry(ExpiryExpression(at))
		if !ok || !again.Equal(at.Truncate(time.Second)) {
			t.Fatalf("round trip of %q: %s, %v", e, again, ok)
		}
	})
}

func FuzzBindingTitle(f *testing.F) {
	f.Add("01JREQ7Z")
	f.Add(strings.Repeat("x", 200))
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, id string) {
		title := BindingTitle(id)
		if !IsJITTitle(title) && id != "" {
			t.Fatalf("BindingTitle(%q) = %q is not recognised as jit's", id, title)
		}
		if len(title) > maxTitleLen || !utf8.ValidString(title) {
			t.Fatalf("BindingTitle(%q) = %q (%d bytes)", id, title, len(title))
		}
		d := BindingDescription(id, id, id)
		if len(d) > maxDescriptionLen || !utf8.ValidString(d) || strings.ContainsAny(d, "\r\n") {
			t.Fatalf("BindingDescription(%q) = %q", id, d)
		}
	})
}

func FuzzParseResource(f *testing.F) {
	for _, s := range []string{proj, folder, org, "projects/123", "projects/", "buckets/x", "projects/a/b", "folders/1x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResource(s)
		if err != nil {
			return
		}
		if r.String() != s {
			t.Fatalf("ParseResource(%q) = %q", s, r)
		}
		if strings.ContainsAny(r.ID, "/ \t\r\n\"") || r.ID == "" {
			t.Fatalf("ParseResource(%q) accepted id %q", s, r.ID)
		}
		// A project target's default project is the id, and it must be a
		// valid one for the environment.
		if r.Kind == KindProject && !isDigits(r.ID) && !IsProjectID(r.ID) {
			t.Fatalf("ParseResource(%q) accepted a bad project id", s)
		}
	})
}

func FuzzParseEntitlement(f *testing.F) {
	for _, s := range []string{entOpen, "folders/1/locations/global/entitlements/e", "projects/x/locations//entitlements/e", "a/b/c/d/e/f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEntitlement(s)
		if err != nil {
			return
		}
		if e.String() != s {
			t.Fatalf("ParseEntitlement(%q) = %q", s, e)
		}
	})
}

func FuzzValidateRole(f *testing.F) {
	for _, s := range []string{"roles/compute.admin", "roles/owner", "projects/jit-proj/roles/x", "organizations/1/roles/y", "roles/", "roles/a_withcond_b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, role string) {
		if validateRole(role) != nil {
			return
		}
		if isBasicRole(role) || strings.Contains(role, "_withcond_") || strings.ContainsAny(role, " \t\r\n\"") {
			t.Fatalf("validateRole accepted %q", role)
		}
	})
}
