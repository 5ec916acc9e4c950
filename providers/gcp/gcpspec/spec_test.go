package gcpspec

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec TargetSpec
		want string // "" valid; else a substring of the error
	}{
		{"binding default mode", TargetSpec{Resource: proj, Role: "roles/compute.admin"}, ""},
		{"binding folder, custom role", TargetSpec{Mode: ModeBinding, Resource: folder, Role: "organizations/987654321098/roles/jitAdmin"}, ""},
		{"binding project custom role", TargetSpec{Resource: "projects/123456789", Role: "projects/jit-proj/roles/deploy.admin", Project: "jit-proj"}, ""},
		{"binding owner", TargetSpec{Resource: proj, Role: "roles/owner"}, "basic role"},
		{"binding editor", TargetSpec{Resource: proj, Role: "roles/editor"}, "basic role"},
		{"binding viewer", TargetSpec{Resource: proj, Role: "roles/viewer"}, "basic role"},
		{"binding without role", TargetSpec{Resource: proj}, "role is required"},
		{"binding without resource", TargetSpec{Role: "roles/compute.admin"}, "resource is required"},
		{"binding bad resource kind", TargetSpec{Resource: "buckets/x", Role: "roles/compute.admin"}, "not a resource name"},
		{"binding bad project id", TargetSpec{Resource: "projects/My_Proj", Role: "roles/compute.admin"}, "not a project id"},
		{"binding folder by name", TargetSpec{Resource: "folders/prod", Role: "roles/compute.admin"}, "by number"},
		{"binding role without prefix", TargetSpec{Resource: proj, Role: "compute.admin"}, "not a role name"},
		{"binding withcond role", TargetSpec{Resource: proj, Role: "roles/compute.admin_withcond_abc"}, "version-1 view"},
		{"binding with service account", TargetSpec{Resource: proj, Role: "roles/compute.admin", ServiceAccount: deployer}, "service_account does not apply"},
		{"binding with allow_12h", TargetSpec{Resource: proj, Role: "roles/compute.admin", Allow12h: true}, "allow_12h does not apply"},
		{"impersonate", TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer, Allow12h: true, Scopes: []string{DefaultScope}}, ""},
		{"impersonate default SA", TargetSpec{Mode: ModeImpersonate, ServiceAccount: "123456789-compute@developer.gserviceaccount.com"}, ""},
		{"impersonate without SA", TargetSpec{Mode: ModeImpersonate}, "service_account is required"},
		{"impersonate member form", TargetSpec{Mode: ModeImpersonate, ServiceAccount: "serviceAccount:" + deployer}, "without the serviceAccount: prefix"},
		{"impersonate user", TargetSpec{Mode: ModeImpersonate, ServiceAccount: alice}, "not a service account"},
		{"impersonate bad scope", TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer, Scopes: []string{"cloud-platform"}}, "not an OAuth scope"},
		{"impersonate with role", TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer, Role: "roles/compute.admin"}, "role does not apply"},
		{"pam", TargetSpec{Mode: ModePAM, Entitlement: entOpen}, ""},
		{"pam org", TargetSpec{Mode: ModePAM, Entitlement: "organizations/987654321098/locations/global/entitlements/break-glass"}, ""},
		{"pam without entitlement", TargetSpec{Mode: ModePAM}, "entitlement is required"},
		{"pam bad entitlement", TargetSpec{Mode: ModePAM, Entitlement: "projects/jit-proj/entitlements/x"}, "not an entitlement name"},
		{"pam with resource", TargetSpec{Mode: ModePAM, Entitlement: entOpen, Resource: proj}, "resource does not apply"},
		{"unknown mode", TargetSpec{Mode: "sudo"}, `mode "sudo" is not one of`},
		{"bad project", TargetSpec{Resource: proj, Role: "roles/compute.admin", Project: "X"}, "project \"X\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSpecDecodesStrictly(t *testing.T) {
	doc := `
mode: impersonate
service_account: deployer@jit-proj.iam.gserviceaccount.com
scopes: [https://www.googleapis.com/auth/cloud-platform]
allow_12h: true
project: other-proj
`
	ts := Spec().NewTargetSpec().(*TargetSpec)
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(ts); err != nil {
		t.Fatal(err)
	}
	if ts.Mode != ModeImpersonate || !ts.Allow12h || ts.ServiceAccount != deployer || len(ts.Scopes) != 1 || ts.EffectiveProject() != "other-proj" {
		t.Errorf("decoded %+v", ts)
	}
	dec = yaml.NewDecoder(strings.NewReader("mode: binding\nrole_arn: x\n"))
	dec.KnownFields(true)
	if err := dec.Decode(Spec().NewTargetSpec()); err == nil {
		t.Error("an unknown key decoded")
	}
}

func TestDefaultProject(t *testing.T) {
	for _, tc := range []struct {
		spec TargetSpec
		want string
	}{
		{TargetSpec{Resource: proj, Role: "roles/x"}, "jit-proj"},
		{TargetSpec{Resource: "projects/123456789", Role: "roles/x"}, ""},
		{TargetSpec{Resource: folder, Role: "roles/x"}, ""},
		{TargetSpec{Resource: folder, Role: "roles/x", Project: "given-proj"}, "given-proj"},
		{TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}, "jit-proj"},
		{TargetSpec{Mode: ModeImpersonate, ServiceAccount: "1-compute@developer.gserviceaccount.com"}, ""},
		{TargetSpec{Mode: ModePAM, Entitlement: entOpen}, "jit-proj"},
		{TargetSpec{Mode: ModePAM, Entitlement: "folders/1/locations/global/entitlements/e"}, ""},
	} {
		if got := tc.spec.EffectiveProject(); got != tc.want {
			t.Errorf("project(%+v) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}
