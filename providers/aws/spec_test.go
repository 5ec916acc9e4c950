package aws

import (
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/providers"
)

func TestTargetSpecValidate(t *testing.T) {
	ok := func(mod func(*TargetSpec)) TargetSpec {
		s := TargetSpec{RoleARN: "arn:aws:iam::111111111111:role/prod-admin"}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	tests := []struct {
		name string
		spec TargetSpec
		want string // "" = valid
	}{
		{"minimal", ok(nil), ""},
		{"role with path", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws:iam::111111111111:role/team/ops/deployer" }), ""},
		{"gov partition", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws-us-gov:iam::111111111111:role/x"; s.Region = "us-gov-west-1" }), ""},
		{"china partition", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws-cn:iam::111111111111:role/x"; s.Region = "cn-north-1" }), ""},
		{"everything", ok(func(s *TargetSpec) {
			s.Region = "eu-west-1"
			s.SessionPolicy = `{"Version":"2012-10-17","Statement":[]}`
			s.PolicyARNs = []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::111111111111:policy/team/scoped"}
			s.ExternalID = "ext:1/2=3"
			s.SourceIdentity, s.SessionTags = true, true
		}), ""},
		{"missing role", TargetSpec{}, "role_arn is required"},
		{"user not role", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws:iam::111111111111:user/alice" }), "not an IAM role ARN"},
		{"short account", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws:iam::11111111111:role/x" }), "not an IAM role ARN"},
		{"region in role arn", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws:iam:eu-west-1:111111111111:role/x" }), "not an IAM role ARN"},
		{"role name too long", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws:iam::111111111111:role/" + strings.Repeat("r", 65) }), "not an IAM role ARN"},
		{"role name bad char", ok(func(s *TargetSpec) { s.RoleARN = "arn:aws:iam::111111111111:role/a b" }), "not an IAM role ARN"},
		{"bad region", ok(func(s *TargetSpec) { s.Region = "Europe" }), "region"},
		{"policy not json", ok(func(s *TargetSpec) { s.SessionPolicy = "{" }), "not a JSON object"},
		{"policy array", ok(func(s *TargetSpec) { s.SessionPolicy = "[]" }), "not a JSON object"},
		{"policy without statement", ok(func(s *TargetSpec) { s.SessionPolicy = `{"Version":"2012-10-17"}` }), "Statement"},
		{"policy too long", ok(func(s *TargetSpec) { s.SessionPolicy = `{"Statement":[],"x":"` + strings.Repeat("a", 2040) + `"}` }), "at most 2048"},
		{"policy bad char", ok(func(s *TargetSpec) { s.SessionPolicy = `{"Statement":[],"x":"€"}` }), "U+0020–U+00FF"},
		{"eleven policy arns", ok(func(s *TargetSpec) {
			for i := 0; i < 11; i++ {
				s.PolicyARNs = append(s.PolicyARNs, "arn:aws:iam::aws:policy/P")
			}
		}), "at most 10"},
		{"bad policy arn", ok(func(s *TargetSpec) { s.PolicyARNs = []string{"arn:aws:iam::aws:role/x"} }), "not an IAM policy ARN"},
		{"external id short", ok(func(s *TargetSpec) { s.ExternalID = "x" }), "external_id"},
		{"external id char", ok(func(s *TargetSpec) { s.ExternalID = "a b" }), "external_id"},
		{"external id long", ok(func(s *TargetSpec) { s.ExternalID = strings.Repeat("x", 1225) }), "external_id"},
		{"several problems at once", TargetSpec{Region: "x", ExternalID: "!"}, "role_arn is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestSpec(t *testing.T) {
	s := Spec()
	if s.Name != "aws" || s.RevokeNote == "" || !strings.Contains(s.RevokeNote, "cannot revoke") {
		t.Fatalf("spec %+v", s)
	}
	ts, ok := s.NewTargetSpec().(*TargetSpec)
	if !ok {
		t.Fatalf("NewTargetSpec returned %T", s.NewTargetSpec())
	}
	// The policy loader decodes the aws: section strictly into this type.
	doc := "role_arn: arn:aws:iam::111111111111:role/x\nregion: eu-west-1\nsession_policy: '{\"Statement\":[]}'\npolicy_arns: [arn:aws:iam::aws:policy/P]\nexternal_id: ext-1\nsource_identity: true\nsession_tags: true\n"
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(ts); err != nil {
		t.Fatal(err)
	}
	if ts.RoleARN != "arn:aws:iam::111111111111:role/x" || ts.Region != "eu-west-1" || len(ts.PolicyARNs) != 1 || ts.ExternalID != "ext-1" || !ts.SourceIdentity || !ts.SessionTags || ts.SessionPolicy == "" {
		t.Fatalf("decoded %+v", ts)
	}
	if err := ts.Validate(); err != nil {
		t.Fatal(err)
	}
	dec = yaml.NewDecoder(strings.NewReader("role_arn: x\nrole: y\n"))
	dec.KnownFields(true)
	if err := dec.Decode(s.NewTargetSpec()); err == nil {
		t.Fatal("unknown key accepted")
	}
	if s.NewTargetSpec() == s.NewTargetSpec() {
		t.Fatal("NewTargetSpec must return a fresh value")
	}
}

func TestSpecPrincipalFromARN(t *testing.T) {
	derive := Spec().Principal
	tests := []struct {
		id      string
		ok      bool
		aliases []string
		account string
	}{
		{"alice@example.com", false, nil, ""},
		{"arn:aws:iam::111111111111:user/alice", true, nil, "111111111111"},
		{"arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Dev_abc/bob@example.com", true,
			[]string{"bob@example.com", "arn:aws:iam::111111111111:role/AWSReservedSSO_Dev_abc"}, "111111111111"},
		{"arn:aws-cn:sts::222222222222:assumed-role/r/s", true, []string{"s", "arn:aws-cn:iam::222222222222:role/r"}, "222222222222"},
		{"arn:aws:s3:::bucket", false, nil, ""},
	}
	for _, tt := range tests {
		pr, ok := derive(tt.id)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.id, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if pr.ID != tt.id || pr.Account != tt.account || !slices.Equal(pr.Aliases, tt.aliases) {
			t.Errorf("%s: got %+v, want aliases %v account %s", tt.id, pr, tt.aliases, tt.account)
		}
	}
	// The registry asks each provider in turn and falls back to the id.
	r := providers.NewRegistry()
	r.Register(Spec(), nil)
	if got := r.PrincipalFromID("bob"); got.ID != "bob" || got.Aliases != nil {
		t.Errorf("PrincipalFromID(bob) = %+v", got)
	}
	if got := r.PrincipalFromID(tests[2].id); !slices.Equal(got.Aliases, tests[2].aliases) {
		t.Errorf("PrincipalFromID(%s) = %+v", tests[2].id, got)
	}
}
