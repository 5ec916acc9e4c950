package aws

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCallerARN(t *testing.T) {
	tests := []struct {
		in                   string
		typ, name, role, err string
		roleARN              string
	}{
		{in: "arn:aws:iam::111111111111:user/alice", typ: TypeUser, name: "alice"},
		{in: "arn:aws:iam::111111111111:user/division/team/alice", typ: TypeUser, name: "alice"},
		{in: "arn:aws:iam::111111111111:root", typ: TypeRoot},
		{in: "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_1/bob@example.com", typ: TypeAssumedRole, name: "bob@example.com",
			role: "AWSReservedSSO_Admin_1", roleARN: "arn:aws:iam::111111111111:role/AWSReservedSSO_Admin_1"},
		{in: "arn:aws-cn:sts::111111111111:assumed-role/r/s", typ: TypeAssumedRole, name: "s", role: "r", roleARN: "arn:aws-cn:iam::111111111111:role/r"},
		{in: "arn:aws:sts::111111111111:federated-user/carol", typ: TypeFederatedUser, name: "carol"},
		{in: "arn:aws:sts::111111111111:assumed-role/r", err: "assumed-role/<role>/<session>"},
		{in: "arn:aws:sts::111111111111:assumed-role/r/s/x", err: "assumed-role/<role>/<session>"},
		{in: "arn:aws:iam::111111111111:role/r", err: "not a caller ARN"},
		{in: "arn:aws:iam::1:user/alice", err: "12-digit"},
		{in: "arn:aws:iam::111111111111:user/", err: "empty name"},
		{in: "alice@example.com", err: "not an ARN"},
		{in: "arn:aws:iam::111111111111", err: "not an ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := ParseCallerARN(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error %q, got %v (%+v)", tt.err, err, c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Type != tt.typ || c.Name != tt.name || c.Role != tt.role || c.RoleARN() != tt.roleARN || c.String() != tt.in {
				t.Fatalf("got %+v roleARN=%s", c, c.RoleARN())
			}
		})
	}
}

func TestRoleSessionName(t *testing.T) {
	tests := map[string]string{
		"01JREQ7Z":                  "jit-01JREQ7Z",
		"a b/c:d":                   "jit-a-b-c-d",
		"ünïcode":                   "jit--n-code",
		strings.Repeat("x", 100):    "jit-" + strings.Repeat("x", 60),
		"keep_+=,.@-":               "jit-keep_+=,.@-",
		"":                          "jit-",
		"01J9Z3QK7R2M8W6V5T4S3R2Q1": "jit-01J9Z3QK7R2M8W6V5T4S3R2Q1",
	}
	for in, want := range tests {
		if got := RoleSessionName(in); got != want {
			t.Errorf("RoleSessionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSourceIdentityFor(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "bob@example.com", want: "bob@example.com"},
		{in: "aws:evil", want: "aws-evil"},
		{in: "Ana María", want: "Ana-Mar-a"},
		{in: "x", err: "at least 2"},
		{in: "", err: "at least 2"},
		{in: strings.Repeat("y", 80), want: strings.Repeat("y", 64)},
	}
	for _, tt := range tests {
		got, err := SourceIdentityFor(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SourceIdentityFor(%q): want error %q, got %q %v", tt.in, tt.err, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SourceIdentityFor(%q) = %q %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSanitizeTagValue(t *testing.T) {
	tests := map[string]string{
		"CHG-42":             "CHG-42",
		"JIRA 42 / ops:prod": "JIRA 42 / ops:prod",
		"a#b\"c<d>":          "a_b_c_d_",
		"ünïcode ✓":          "ünïcode _",
		"bad\xffutf8":        "bad_utf8",
	}
	for in, want := range tests {
		if got := sanitizeTagValue(in); got != want {
			t.Errorf("sanitizeTagValue(%q) = %q, want %q", in, got, want)
		}
	}
	if n := utf8.RuneCountInString(sanitizeTagValue(strings.Repeat("é", 300))); n != 256 {
		t.Errorf("tag value of %d characters", n)
	}
}

var sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]*$`)

func FuzzRoleSessionName(f *testing.F) {
	for _, s := range []string{"01JREQ7Z", "a b", "ü", strings.Repeat("x", 70), "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := RoleSessionName(id)
		if !strings.HasPrefix(got, "jit-") || len(got) > 64 || len(got) < 4 || !sessionNameRe.MatchString(got) {
			t.Fatalf("RoleSessionName(%q) = %q", id, got)
		}
		// Sanitising only replaces: an id already in the charset survives
		// whole (up to the length limit).
		if sessionNameRe.MatchString(id) && !strings.HasPrefix("jit-"+id, got) {
			t.Fatalf("RoleSessionName(%q) = %q altered a valid id", id, got)
		}
	})
}

func FuzzSourceIdentityFor(f *testing.F) {
	for _, s := range []string{"bob@example.com", "aws:x", "AWS:x", "a", "ü ü", strings.Repeat("z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := SourceIdentityFor(name)
		if err != nil {
			return
		}
		if len(got) < 2 || len(got) > 64 || !sessionNameRe.MatchString(got) || strings.HasPrefix(strings.ToLower(got), "aws:") {
			t.Fatalf("SourceIdentityFor(%q) = %q", name, got)
		}
	})
}

var tagValueRe = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func FuzzSanitizeTagValue(f *testing.F) {
	for _, s := range []string{"CHG-42", "a#b", "✓", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := sanitizeTagValue(v)
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > 256 || !tagValueRe.MatchString(got) {
			t.Fatalf("sanitizeTagValue(%q) = %q", v, got)
		}
	})
}

func FuzzParseCallerARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::111111111111:user/alice", "arn:aws:iam::111111111111:root",
		"arn:aws:sts::111111111111:assumed-role/r/s", "arn:aws:sts::111111111111:federated-user/c",
		"arn:aws:iam::111111111111:role/r", "arn:::::", "arn:aws:sts::111111111111:assumed-role//",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCallerARN(s)
		if err != nil {
			return
		}
		if c.String() != s {
			t.Fatalf("round trip %q -> %q", s, c.String())
		}
		if len(c.Account) != 12 || !isDigits(c.Account) {
			t.Fatalf("account %q accepted", c.Account)
		}
		switch c.Type {
		case TypeAssumedRole:
			if c.Role == "" || c.Name == "" || strings.Contains(c.Role, "/") || strings.Contains(c.Name, "/") {
				t.Fatalf("assumed role %+v", c)
			}
			if r, err := ParseARN(c.RoleARN()); err != nil || r.Service != "iam" || r.Resource != "role/"+c.Role {
				t.Fatalf("role ARN %q", c.RoleARN())
			}
		case TypeUser, TypeFederatedUser:
			if c.Name == "" {
				t.Fatalf("empty name in %+v", c)
			}
		case TypeRoot:
		default:
			t.Fatalf("type %q", c.Type)
		}
	})
}

func FuzzTargetSpecValidate(f *testing.F) {
	f.Add("arn:aws:iam::111111111111:role/x", "eu-west-1", `{"Statement":[]}`, "ext-1")
	f.Add("arn:aws:iam::111111111111:role/a/b/c", "", "", "")
	f.Add("", "x", "{", "!")
	f.Fuzz(func(t *testing.T, role, region, policy, ext string) {
		s := TargetSpec{RoleARN: role, Region: region, SessionPolicy: policy, ExternalID: ext}
		if s.Validate() != nil {
			return
		}
		// Whatever Validate accepts, ParseARN must read as an IAM role.
		a, err := ParseARN(role)
		if err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") || len(a.Account) != 12 {
			t.Fatalf("accepted role_arn %q", role)
		}
		if policy != "" && utf8.RuneCountInString(policy) > 2048 {
			t.Fatalf("accepted a policy of %d characters", utf8.RuneCountInString(policy))
		}
	})
}
