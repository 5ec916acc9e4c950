package gcpspec

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Resource kinds of an IAM policy that mode binding can edit.
const (
	KindProject      = "projects"
	KindFolder       = "folders"
	KindOrganization = "organizations"
)

// Resource is a parsed Resource Manager resource name.
type Resource struct {
	// Kind is KindProject, KindFolder or KindOrganization.
	Kind string
	// ID is the project id (or number), folder number or organization
	// number.
	ID string
}

// String is the resource name, e.g. projects/my-proj.
func (r Resource) String() string { return r.Kind + "/" + r.ID }

// ParseResource parses projects/ID (or projects/NUMBER), folders/NUMBER or
// organizations/NUMBER.
func ParseResource(s string) (Resource, error) {
	kind, id, ok := strings.Cut(s, "/")
	if !ok || id == "" {
		return Resource{}, fmt.Errorf("%q is not a resource name (want projects/ID, folders/NUMBER or organizations/NUMBER)", s)
	}
	switch kind {
	case KindProject:
		if !isDigits(id) && !IsProjectID(id) {
			return Resource{}, fmt.Errorf("%q: %q is not a project id (6–30 lowercase letters, digits and hyphens, starting with a letter) or number", s, id)
		}
	case KindFolder, KindOrganization:
		if !isDigits(id) {
			return Resource{}, fmt.Errorf("%q: %s are named by number, e.g. %s/123456789012", s, kind, kind)
		}
	default:
		return Resource{}, fmt.Errorf("%q is not a resource name (want projects/ID, folders/NUMBER or organizations/NUMBER)", s)
	}
	return Resource{Kind: kind, ID: id}, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsProjectID reports whether s is a valid project id: 6–30 characters of
// lowercase letters, digits and hyphens, starting with a letter and not
// ending with a hyphen.
func IsProjectID(s string) bool {
	if len(s) < 6 || len(s) > 30 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// basicRoles are the legacy roles IAM refuses conditions on.
func isBasicRole(role string) bool {
	switch role {
	case "roles/owner", "roles/editor", "roles/viewer":
		return true
	}
	return false
}

// validateRole accepts a predefined role (roles/NAME) or a custom role
// (projects/ID/roles/NAME, organizations/NUMBER/roles/NAME).
func validateRole(role string) error {
	name, custom := "", false
	switch {
	case strings.HasPrefix(role, "roles/"):
		name = role[len("roles/"):]
	case strings.HasPrefix(role, "projects/") || strings.HasPrefix(role, "organizations/"):
		parent, n, ok := strings.Cut(role, "/roles/")
		if !ok {
			return fmt.Errorf("role %q is not a role name (want roles/NAME or projects/ID/roles/NAME)", role)
		}
		if _, err := ParseResource(parent); err != nil {
			return fmt.Errorf("role %q: %w", role, err)
		}
		name, custom = n, true
	default:
		return fmt.Errorf("role %q is not a role name (want roles/NAME, projects/ID/roles/NAME or organizations/NUMBER/roles/NAME)", role)
	}
	if name == "" || len(name) > 64 {
		return fmt.Errorf("role %q has an empty or over-long name", role)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return fmt.Errorf("role %q: names hold letters, digits, '_' and '.' only", role)
		}
	}
	if !custom && isBasicRole(role) {
		return fmt.Errorf("role %s is a basic role: IAM does not allow conditions on roles/owner, roles/editor or roles/viewer, so jit cannot make it expire; use a predefined or custom role", role)
	}
	if strings.Contains(name, "_withcond_") {
		return fmt.Errorf("role %q is IAM's lossy version-1 view of a conditional binding, not a role", role)
	}
	return nil
}

// IsServiceAccountEmail reports whether s looks like a service account's
// e-mail address (NAME@PROJECT.iam.gserviceaccount.com or one of Google's
// service-agent and default domains ending in gserviceaccount.com).
func IsServiceAccountEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 64 || !strings.HasSuffix(domain, ".gserviceaccount.com") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return isHostname(domain)
}

// projectOfServiceAccount is the project a user-managed service account
// lives in (NAME@PROJECT.iam.gserviceaccount.com), or "".
func ProjectOfServiceAccount(email string) string {
	_, domain, _ := strings.Cut(email, "@")
	if p, ok := strings.CutSuffix(domain, ".iam.gserviceaccount.com"); ok && IsProjectID(p) {
		return p
	}
	return ""
}

func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isEmail is a plausibility check for a principal's e-mail: one @, a
// non-empty local part without spaces, a dotted domain.
func IsEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(s) > 254 || strings.ContainsAny(local, " \t\r\n:@\"<>") || !utf8.ValidString(local) {
		return false
	}
	return strings.Contains(domain, ".") && isHostname(strings.ToLower(domain))
}

// Entitlement is a parsed PAM entitlement name:
// {projects/ID|folders/N|organizations/N}/locations/LOC/entitlements/ID.
type Entitlement struct {
	Parent   Resource
	Location string
	ID       string
}

// String is the entitlement's resource name.
func (e Entitlement) String() string {
	return e.Parent.String() + "/locations/" + e.Location + "/entitlements/" + e.ID
}

// ParseEntitlement parses a PAM entitlement name.
func ParseEntitlement(s string) (Entitlement, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 6 || parts[2] != "locations" || parts[4] != "entitlements" {
		return Entitlement{}, fmt.Errorf("%q is not an entitlement name (want projects/ID/locations/global/entitlements/NAME)", s)
	}
	parent, err := ParseResource(parts[0] + "/" + parts[1])
	if err != nil {
		return Entitlement{}, fmt.Errorf("entitlement %q: %w", s, err)
	}
	if !isLabel(parts[3]) {
		return Entitlement{}, fmt.Errorf("entitlement %q: location %q is not a location id such as global", s, parts[3])
	}
	if !isLabel(parts[5]) {
		return Entitlement{}, fmt.Errorf("entitlement %q: %q is not an entitlement id (lowercase letters, digits and hyphens)", s, parts[5])
	}
	return Entitlement{Parent: parent, Location: parts[3], ID: parts[5]}, nil
}

// isLabel: 1–63 lowercase letters, digits and hyphens, starting with a
// letter or digit and not ending with a hyphen.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Condition limits of IAM ([docs]: the title is a short label, the
// description a longer text; IAM rejects longer ones).
const (
	maxTitleLen       = 100
	maxDescriptionLen = 256
)

// TitlePrefix starts the condition title of every binding jit creates; gc
// and revoke recognise jit's bindings by it.
const TitlePrefix = "jit-"

// BindingTitle is the condition title of the binding for a request.
func BindingTitle(requestID string) string {
	// Request ids are ULIDs (26 characters); cut longer ones on a rune
	// boundary rather than let IAM refuse the binding.
	return truncateUTF8(TitlePrefix+requestID, maxTitleLen)
}

// ExpiryExpression is the CEL condition that ends a binding at t.
func ExpiryExpression(t time.Time) string {
	return `request.time < timestamp("` + t.UTC().Format(time.RFC3339) + `")`
}

// ParseExpiry recognises the expression jit writes,
// request.time < timestamp("RFC3339"), and returns its end. Anything else
// (another condition someone wrote, a start time, extra clauses) is not
// jit's and reports false: gc must never remove a binding it did not
// create.
func ParseExpiry(expr string) (time.Time, bool) {
	const prefix, suffix = `request.time < timestamp("`, `")`
	rest, ok := strings.CutPrefix(strings.TrimSpace(expr), prefix)
	if !ok {
		return time.Time{}, false
	}
	ts, ok := strings.CutSuffix(rest, suffix)
	if !ok || strings.ContainsAny(ts, `"\`) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// IsJITTitle reports whether a condition title is one jit writes.
func IsJITTitle(title string) bool {
	return strings.HasPrefix(title, TitlePrefix) && len(title) > len(TitlePrefix)
}

// bindingDescription is the condition description: who, why, which
// ticket, within IAM's length limit.
func BindingDescription(principal, reason, ticket string) string {
	var b strings.Builder
	b.WriteString("jit: ")
	b.WriteString(OneLine(principal))
	if r := OneLine(reason); r != "" {
		b.WriteString(" reason=")
		b.WriteString(r)
	}
	if t := OneLine(ticket); t != "" {
		b.WriteString(" ticket=")
		b.WriteString(t)
	}
	return truncateUTF8(b.String(), maxDescriptionLen)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune; invalid
// UTF-8 is replaced, because protobuf strings must be valid UTF-8.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// RequestUUID derives the PAM request_id from jit's request id: a
// name-based (version 5) UUID, so that a retried CreateGrant for the same
// jit request is recognised by PAM as the same request.
func RequestUUID(requestID string) string {
	// A fixed namespace of jit's own (a random v4 UUID).
	ns := [16]byte{0x6b, 0x1f, 0x3e, 0x52, 0x9c, 0x4d, 0x4a, 0x81, 0x8e, 0x27, 0x5d, 0x0b, 0xc3, 0x71, 0x94, 0xa6}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(requestID))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// memberFor is the IAM member string of a Google principal.
func MemberFor(email, typ string) string {
	if typ == TypeServiceAccount {
		return "serviceAccount:" + email
	}
	return "user:" + email
}

// Principal types, as Claims["type"] reports them.
const (
	TypeUser           = "user"
	TypeServiceAccount = "serviceAccount"
)

// typeOfEmail tells a service account from a user by its domain.
func TypeOfEmail(email string) string {
	if IsServiceAccountEmail(email) {
		return TypeServiceAccount
	}
	return TypeUser
}

// OneLine folds any whitespace, newlines included, into single spaces.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
