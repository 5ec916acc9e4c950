package azure

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scope kinds, as ParseScope classifies them.
const (
	ScopeSubscription    = "subscription"
	ScopeResourceGroup   = "resourceGroup"
	ScopeResource        = "resource"
	ScopeManagementGroup = "managementGroup"
)

// Scope is a parsed ARM scope.
type Scope struct {
	// Kind is ScopeSubscription, ScopeResourceGroup, ScopeResource or
	// ScopeManagementGroup.
	Kind string
	// Subscription is the subscription id ("" for a management group).
	Subscription string
	// ResourceGroup is the resource group's name, for resource groups and
	// resources.
	ResourceGroup string
	// ManagementGroup is the management group's id.
	ManagementGroup string
}

// maxScopeLen bounds a scope; ARM resource ids are far shorter in practice.
const maxScopeLen = 2048

// ParseScope checks an ARM scope where PIM roles can be activated:
// /subscriptions/<guid>, /subscriptions/<guid>/resourceGroups/<rg>,
// /subscriptions/<guid>/resourceGroups/<rg>/providers/<Namespace>/<type>/<name>[/<type>/<name>…]
// or /providers/Microsoft.Management/managementGroups/<id>. Keywords are
// case-insensitive, as in ARM. The SDK pastes the scope into the request
// path unescaped, so anything that could change the path's meaning (empty
// or dot segments, '?', '#', '%', backslashes, spaces) is refused.
func ParseScope(s string) (Scope, error) {
	if s == "" {
		return Scope{}, errors.New("empty scope")
	}
	if len(s) > maxScopeLen {
		return Scope{}, fmt.Errorf("scope is %d bytes; at most %d", len(s), maxScopeLen)
	}
	if !utf8.ValidString(s) {
		return Scope{}, errors.New("scope is not valid UTF-8")
	}
	if s[0] != '/' {
		return Scope{}, fmt.Errorf("scope %q must start with /subscriptions/ or /providers/Microsoft.Management/managementGroups/", s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`?#%\"'<>&*:|`, r) {
			return Scope{}, fmt.Errorf("scope %q holds the character %q", s, r)
		}
	}
	seg := strings.Split(s[1:], "/")
	for _, p := range seg {
		if p == "" {
			return Scope{}, fmt.Errorf("scope %q has an empty segment (a doubled or trailing /)", s)
		}
		if p == "." || p == ".." {
			return Scope{}, fmt.Errorf("scope %q has a %q segment", s, p)
		}
	}
	switch {
	case strings.EqualFold(seg[0], "subscriptions"):
		if len(seg) < 2 || !IsGUID(seg[1]) {
			return Scope{}, fmt.Errorf("scope %q: /subscriptions/ must be followed by a subscription id (a GUID)", s)
		}
		sc := Scope{Kind: ScopeSubscription, Subscription: seg[1]}
		if len(seg) == 2 {
			return sc, nil
		}
		if !strings.EqualFold(seg[2], "resourceGroups") || len(seg) < 4 {
			return Scope{}, fmt.Errorf("scope %q: after the subscription only /resourceGroups/<name> is a PIM scope", s)
		}
		if err := checkResourceGroup(seg[3]); err != nil {
			return Scope{}, fmt.Errorf("scope %q: %w", s, err)
		}
		sc.Kind, sc.ResourceGroup = ScopeResourceGroup, seg[3]
		if len(seg) == 4 {
			return sc, nil
		}
		// A resource: /providers/<Namespace>/<type>/<name>, then any
		// number of <type>/<name> pairs (child resources).
		rest := seg[4:]
		if !strings.EqualFold(rest[0], "providers") || len(rest) < 4 || len(rest)%2 != 0 {
			return Scope{}, fmt.Errorf("scope %q: a resource scope continues /providers/<Namespace>/<type>/<name>", s)
		}
		if !isNamespace(rest[1]) {
			return Scope{}, fmt.Errorf("scope %q: %q is not a resource provider namespace such as Microsoft.Compute", s, rest[1])
		}
		for i := 2; i < len(rest); i += 2 {
			if !isTypeName(rest[i]) {
				return Scope{}, fmt.Errorf("scope %q: %q is not a resource type", s, rest[i])
			}
		}
		sc.Kind = ScopeResource
		return sc, nil
	case strings.EqualFold(seg[0], "providers"):
		if len(seg) != 4 || !strings.EqualFold(seg[1], "Microsoft.Management") || !strings.EqualFold(seg[2], "managementGroups") {
			return Scope{}, fmt.Errorf("scope %q: the only /providers/ scope is /providers/Microsoft.Management/managementGroups/<id>", s)
		}
		if err := checkManagementGroup(seg[3]); err != nil {
			return Scope{}, fmt.Errorf("scope %q: %w", s, err)
		}
		return Scope{Kind: ScopeManagementGroup, ManagementGroup: seg[3]}, nil
	}
	return Scope{}, fmt.Errorf("scope %q must start with /subscriptions/ or /providers/Microsoft.Management/managementGroups/", s)
}

// checkResourceGroup applies Azure's resource group naming rule: 1–90
// letters, digits, '_', '-', '.', '(' and ')', not ending in '.'.
func checkResourceGroup(name string) error {
	if n := utf8.RuneCountInString(name); n > 90 {
		return fmt.Errorf("resource group name is %d characters; at most 90", n)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_-.()", r) {
			return fmt.Errorf("resource group name %q holds %q", name, r)
		}
	}
	if strings.HasSuffix(name, ".") {
		return fmt.Errorf("resource group name %q ends in a period", name)
	}
	return nil
}

// checkManagementGroup applies Azure's management group id rule: 1–90
// ASCII letters, digits, '-', '_', '.', '(' and ')'.
func checkManagementGroup(id string) error {
	if len(id) > 90 {
		return fmt.Errorf("management group id is %d characters; at most 90", len(id))
	}
	for _, r := range id {
		if r >= utf8.RuneSelf || !(isAlnum(r) || strings.ContainsRune("-_.()", r)) {
			return fmt.Errorf("management group id %q holds %q", id, r)
		}
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// isNamespace matches resource provider namespaces: Company.Service[.More].
func isNamespace(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for _, r := range p {
			if !isAlnum(r) {
				return false
			}
		}
	}
	return true
}

func isTypeName(s string) bool {
	for _, r := range s {
		if !isAlnum(r) && r != '-' && r != '_' {
			return false
		}
	}
	return s != ""
}

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 hex form.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

const roleDefinitionsPath = "/providers/Microsoft.Authorization/roleDefinitions/"

// RoleDefinitionGUID returns the lower-case GUID of a role definition id:
// a bare GUID, /providers/Microsoft.Authorization/roleDefinitions/<guid>,
// or that path under a scope. The same role appears under different scope
// prefixes, so roles are compared by this GUID.
func RoleDefinitionGUID(id string) (string, error) {
	if IsGUID(id) {
		return strings.ToLower(id), nil
	}
	i := strings.LastIndex(strings.ToLower(id), strings.ToLower(roleDefinitionsPath))
	if i < 0 {
		return "", fmt.Errorf("%q is neither a role definition GUID nor …%s<guid>", id, roleDefinitionsPath)
	}
	guid := id[i+len(roleDefinitionsPath):]
	if !IsGUID(guid) {
		return "", fmt.Errorf("%q does not end in a role definition GUID", id)
	}
	if prefix := id[:i]; prefix != "" {
		if _, err := ParseScope(prefix); err != nil {
			return "", fmt.Errorf("%q: %w", id, err)
		}
	}
	return strings.ToLower(guid), nil
}

// sameScope compares scopes as ARM does: case-insensitively.
func sameScope(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/"))
}
