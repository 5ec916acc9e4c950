package azure

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestTargetSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec TargetSpec
		want string // "" = valid
	}{
		{"subscription and role", TargetSpec{Scope: subScope, Role: "Contributor"}, ""},
		{"resource group", TargetSpec{Scope: rgScope, Role: "Reader", TicketSystem: "jira"}, ""},
		{"resource", TargetSpec{Scope: rgScope + "/providers/Microsoft.KeyVault/vaults/kv1", Role: "Key Vault Administrator"}, ""},
		{"child resource", TargetSpec{Scope: rgScope + "/providers/Microsoft.Sql/servers/s1/databases/db1", Role: "Reader"}, ""},
		{"management group", TargetSpec{Scope: mgScope, RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/" + contributor}, ""},
		{"role definition guid", TargetSpec{Scope: subScope, RoleDefinitionID: contributor, Subscription: otherSub}, ""},
		{"role definition under a subscription", TargetSpec{Scope: subScope, RoleDefinitionID: subScope + "/providers/Microsoft.Authorization/roleDefinitions/" + contributor}, ""},
		{"case-insensitive keywords", TargetSpec{Scope: "/SUBSCRIPTIONS/" + subID + "/RESOURCEGROUPS/rg", Role: "Reader"}, ""},
		{"unicode resource group", TargetSpec{Scope: subScope + "/resourceGroups/grüppe(1)", Role: "Reader"}, ""},
		{"no scope", TargetSpec{Role: "Reader"}, "scope is required"},
		{"no role", TargetSpec{Scope: subScope}, "set role"},
		{"both roles", TargetSpec{Scope: subScope, Role: "Reader", RoleDefinitionID: contributor}, "only one of"},
		{"relative scope", TargetSpec{Scope: "subscriptions/" + subID, Role: "Reader"}, "must start with"},
		{"trailing slash", TargetSpec{Scope: subScope + "/", Role: "Reader"}, "empty segment"},
		{"dot dot", TargetSpec{Scope: subScope + "/resourceGroups/..", Role: "Reader"}, `".." segment`},
		{"query in scope", TargetSpec{Scope: subScope + "?x=1", Role: "Reader"}, "holds the character"},
		{"space in scope", TargetSpec{Scope: subScope + "/resourceGroups/a b", Role: "Reader"}, "holds the character"},
		{"bad subscription", TargetSpec{Scope: "/subscriptions/prod", Role: "Reader"}, "subscription id"},
		{"rg ending in a period", TargetSpec{Scope: subScope + "/resourceGroups/rg.", Role: "Reader"}, "ends in a period"},
		{"deployment under subscription", TargetSpec{Scope: subScope + "/providers/Microsoft.Resources/deployments/d", Role: "Reader"}, "only /resourceGroups/"},
		{"odd resource path", TargetSpec{Scope: rgScope + "/providers/Microsoft.Web/sites", Role: "Reader"}, "a resource scope continues"},
		{"bad namespace", TargetSpec{Scope: rgScope + "/providers/web/sites/x", Role: "Reader"}, "namespace"},
		{"other provider scope", TargetSpec{Scope: "/providers/Microsoft.Foo/bars/x", Role: "Reader"}, "managementGroups"},
		{"root scope", TargetSpec{Scope: "/", Role: "Reader"}, "empty segment"},
		{"bad role id", TargetSpec{Scope: subScope, RoleDefinitionID: "Contributor"}, "role_definition_id"},
		{"role id bad prefix", TargetSpec{Scope: subScope, RoleDefinitionID: "/x y/providers/Microsoft.Authorization/roleDefinitions/" + contributor}, "role_definition_id"},
		{"role with newline", TargetSpec{Scope: subScope, Role: "Reader\n"}, "spaces"},
		{"role with control", TargetSpec{Scope: subScope, Role: "Re\x01ader"}, "control character"},
		{"long role", TargetSpec{Scope: subScope, Role: strings.Repeat("r", 513)}, "at most 512"},
		{"bad subscription override", TargetSpec{Scope: mgScope, Role: "Reader", Subscription: "prod"}, "not a subscription id"},
		{"several problems", TargetSpec{Subscription: "x"}, "scope is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestTargetSpecDecodesStrictly(t *testing.T) {
	var s TargetSpec
	doc := "scope: " + subScope + "\nrole: Contributor\nsubscription: " + otherSub + "\nticket_system: jira\n"
	if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	if s.Scope != subScope || s.Role != "Contributor" || s.SubscriptionID() != otherSub || s.TicketSystem != "jira" {
		t.Errorf("decoded %+v", s)
	}
	if got := (&TargetSpec{Scope: rgScope}).SubscriptionID(); got != subID {
		t.Errorf("SubscriptionID from scope = %q", got)
	}
	if got := (&TargetSpec{Scope: mgScope}).SubscriptionID(); got != "" {
		t.Errorf("SubscriptionID of a management group = %q", got)
	}
	sp := Spec()
	if sp.Name != "azure" || sp.RevokeNote == "" {
		t.Errorf("Spec = %+v", sp)
	}
	if _, ok := sp.NewTargetSpec().(*TargetSpec); !ok {
		t.Error("NewTargetSpec is not a *TargetSpec")
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want Scope
	}{
		{subScope, Scope{Kind: ScopeSubscription, Subscription: subID}},
		{rgScope, Scope{Kind: ScopeResourceGroup, Subscription: subID, ResourceGroup: "app-rg"}},
		{rgScope + "/providers/Microsoft.Compute/virtualMachines/vm1", Scope{Kind: ScopeResource, Subscription: subID, ResourceGroup: "app-rg"}},
		{mgScope, Scope{Kind: ScopeManagementGroup, ManagementGroup: "platform"}},
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseScope(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestScopeRelations(t *testing.T) {
	if !sameScope(subScope, strings.ToUpper(subScope)) || sameScope(subScope, rgScope) {
		t.Error("sameScope")
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{subScope, rgScope, mgScope, rgScope + "/providers/Microsoft.Sql/servers/s/databases/d",
		"/", "//", subScope + "/../x", subScope + "?a", "/subscriptions/" + subID + "/resourceGroups/%2e%2e", "/providers/Microsoft.Management/managementGroups/a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		// What is accepted is safe to paste into a URL path: absolute, no
		// empty or dot segments, nothing that ends or escapes the path.
		if !strings.HasPrefix(s, "/") || strings.Contains(s, "//") || strings.HasSuffix(s, "/") ||
			strings.ContainsAny(s, "?#%\\ \t\r\n") || strings.Contains(s, "/./") || strings.Contains(s, "/../") ||
			strings.HasSuffix(s, "/..") || strings.HasSuffix(s, "/.") {
			t.Fatalf("accepted unsafe scope %q", s)
		}
		switch sc.Kind {
		case ScopeSubscription, ScopeResourceGroup, ScopeResource:
			if !IsGUID(sc.Subscription) || !strings.EqualFold(s[:len("/subscriptions/")+36], "/subscriptions/"+sc.Subscription) {
				t.Fatalf("scope %q parsed as %+v", s, sc)
			}
			if (sc.Kind == ScopeSubscription) != (sc.ResourceGroup == "") {
				t.Fatalf("scope %q parsed as %+v", s, sc)
			}
		case ScopeManagementGroup:
			if sc.ManagementGroup == "" || !strings.HasSuffix(s, "/"+sc.ManagementGroup) {
				t.Fatalf("scope %q parsed as %+v", s, sc)
			}
		default:
			t.Fatalf("scope %q has kind %q", s, sc.Kind)
		}
		// A valid scope validates as a target scope, and its role
		// definition ids parse back to their GUID.
		if g, err := RoleDefinitionGUID(s + roleDefinitionsPath + contributor); err != nil || g != contributor {
			t.Fatalf("RoleDefinitionGUID under %q = %q, %v", s, g, err)
		}
	})
}
