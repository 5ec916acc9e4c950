package azure

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/internal/loopback"
)

// DefaultTenantID is the tenant of a Config that names none.
const DefaultTenantID = "72f988bf-0000-4000-8000-00000000000a"

// DefaultMaxDuration is PIM's default "Activation maximum duration".
const DefaultMaxDuration = 8 * time.Hour

// MinActiveDuration is how long an activation must have lasted before
// PIM accepts its SelfDeactivate.
const MinActiveDuration = 5 * time.Minute

// Principal is a user or service principal of the fake tenant.
type Principal struct {
	// ObjectID is the principal's object id (the token's oid), a GUID.
	ObjectID string `yaml:"object_id" json:"object_id"`
	// UPN is a user's principal name (alice@example.com); empty for a
	// service principal.
	UPN string `yaml:"upn,omitempty" json:"upn,omitempty"`
	// Email goes to the token's email claim when set.
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// Name is the display name.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// ClientID and ClientSecret sign the principal in through the token
	// endpoint's client-credentials grant. The fake uses that grant for
	// users too: it stands in for whatever sign-in the real user does, so
	// that azidentity's ClientSecretCredential and EnvironmentCredential
	// work against the fake.
	ClientID     string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	ClientSecret string `yaml:"client_secret,omitempty" json:"client_secret,omitempty"`
	// MFA makes the principal's tokens say it signed in with MFA (amr).
	MFA bool `yaml:"mfa,omitempty" json:"mfa,omitempty"`
}

// IsUser reports whether the principal is a user (it has a UPN).
func (p Principal) IsUser() bool { return p.UPN != "" }

// Eligibility is a PIM eligible assignment of a role at a scope, with the
// role's settings at that scope.
type Eligibility struct {
	// PrincipalID is the object id of the eligible principal.
	PrincipalID string `yaml:"principal_id" json:"principal_id"`
	// Scope is /subscriptions/<id>[/resourceGroups/<rg>[/providers/…]] or
	// /providers/Microsoft.Management/managementGroups/<id>.
	Scope string `yaml:"scope" json:"scope"`
	// Role is the role's display name ("Contributor").
	Role string `yaml:"role" json:"role"`
	// RoleDefinitionID is the role definition's id; derived from Role (the
	// built-in roles' real GUIDs, else a name-based GUID) when empty.
	RoleDefinitionID string `yaml:"role_definition_id,omitempty" json:"role_definition_id,omitempty"`
	// MaxDuration is the role setting "Activation maximum duration";
	// default 8h.
	MaxDuration time.Duration `yaml:"max_duration,omitempty" json:"max_duration,omitempty"`
	// RequireApproval holds activations as PendingApproval until an
	// approver (the /_fake/approve endpoint) decides.
	RequireApproval bool `yaml:"require_approval,omitempty" json:"require_approval,omitempty"`
	// RequireJustification, RequireTicket and RequireMFA are the role's
	// "on activation, require …" settings.
	RequireJustification bool `yaml:"require_justification,omitempty" json:"require_justification,omitempty"`
	RequireTicket        bool `yaml:"require_ticket,omitempty" json:"require_ticket,omitempty"`
	RequireMFA           bool `yaml:"require_mfa,omitempty" json:"require_mfa,omitempty"`
	// EndsAt, when set, ends the eligibility itself (on the fake clock).
	EndsAt time.Time `yaml:"ends_at,omitempty" json:"ends_at,omitempty"`
	// MemberType is Direct (default), Group or Inherited, as listed.
	MemberType string `yaml:"member_type,omitempty" json:"member_type,omitempty"`
}

// Config configures a fake.
type Config struct {
	// Addr is the listen address; it must be a loopback address. Default
	// 127.0.0.1:0 (an ephemeral port).
	Addr string `yaml:"addr,omitempty" json:"addr,omitempty"`
	// TenantID is the Entra ID tenant; default DefaultTenantID.
	TenantID string `yaml:"tenant_id,omitempty" json:"tenant_id,omitempty"`
	// Principals are the tenant's users and service principals.
	Principals []Principal `yaml:"principals" json:"principals"`
	// Eligibilities are the PIM eligible assignments.
	Eligibilities []Eligibility `yaml:"eligibilities" json:"eligibilities"`
	// AllowImmediateDeactivation lifts PIM's 5-minute minimum before a
	// SelfDeactivate (for suites that revoke right after granting).
	AllowImmediateDeactivation bool `yaml:"allow_immediate_deactivation,omitempty" json:"allow_immediate_deactivation,omitempty"`
	// ProvisioningPolls makes a new activation answer PendingProvisioning
	// to its creation and to this many GETs before it is Provisioned.
	ProvisioningPolls int `yaml:"provisioning_polls,omitempty" json:"provisioning_polls,omitempty"`
	// PageSize splits lists into pages of this many items linked by
	// nextLink; 0 answers in one page.
	PageSize int `yaml:"page_size,omitempty" json:"page_size,omitempty"`
	// TokenLifetime is how long issued access tokens live on the wall
	// clock; default 1h.
	TokenLifetime time.Duration `yaml:"token_lifetime,omitempty" json:"token_lifetime,omitempty"`
	// Now is the clock of schedules (activations, their expiry, the
	// 5-minute rule, eligibility ends); default time.Now. Advance shifts it.
	Now func() time.Time `yaml:"-" json:"-"`
	// WallClock is what token expiry is checked against (default
	// time.Now): credentials cache tokens by the real clock, so advancing
	// Now must not expire them.
	WallClock func() time.Time `yaml:"-" json:"-"`
}

// ParseConfig decodes a YAML (or JSON) configuration strictly: unknown keys
// are errors. Durations are Go durations ("8h", "90m").
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("parse fake azure config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the configuration without starting anything.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr != "" {
		if err := loopback.CheckAddr(c.Addr); err != nil {
			errs = append(errs, err)
		}
	}
	if c.TenantID != "" && !isGUID(c.TenantID) {
		errs = append(errs, fmt.Errorf("tenant_id %q is not a GUID", c.TenantID))
	}
	if c.ProvisioningPolls < 0 || c.PageSize < 0 || c.TokenLifetime < 0 {
		errs = append(errs, errors.New("provisioning_polls, page_size and token_lifetime must not be negative"))
	}
	oids, clients := map[string]bool{}, map[string]bool{}
	for i, p := range c.Principals {
		where := fmt.Sprintf("principals[%d]", i)
		if !isGUID(p.ObjectID) {
			errs = append(errs, fmt.Errorf("%s: object_id %q is not a GUID", where, p.ObjectID))
		} else if oids[strings.ToLower(p.ObjectID)] {
			errs = append(errs, fmt.Errorf("%s: object_id %s is listed twice", where, p.ObjectID))
		}
		oids[strings.ToLower(p.ObjectID)] = true
		if (p.ClientID == "") != (p.ClientSecret == "") {
			errs = append(errs, fmt.Errorf("%s: client_id and client_secret go together", where))
		}
		if p.ClientID != "" {
			if clients[p.ClientID] {
				errs = append(errs, fmt.Errorf("%s: client_id %s is listed twice", where, p.ClientID))
			}
			clients[p.ClientID] = true
		}
	}
	for i, e := range c.Eligibilities {
		where := fmt.Sprintf("eligibilities[%d]", i)
		if !oids[strings.ToLower(e.PrincipalID)] {
			errs = append(errs, fmt.Errorf("%s: principal_id %q is not a configured principal", where, e.PrincipalID))
		}
		if !validScope(e.Scope) {
			errs = append(errs, fmt.Errorf("%s: scope %q is not a subscription, resource group, resource or management group scope", where, e.Scope))
		}
		if e.Role == "" {
			errs = append(errs, fmt.Errorf("%s: role is required", where))
		}
		if e.RoleDefinitionID != "" && roleGUID(e.RoleDefinitionID) == "" {
			errs = append(errs, fmt.Errorf("%s: role_definition_id %q does not end in /roleDefinitions/<guid>", where, e.RoleDefinitionID))
		}
		if e.MaxDuration < 0 {
			errs = append(errs, fmt.Errorf("%s: max_duration must not be negative", where))
		}
		switch e.MemberType {
		case "", "Direct", "Group", "Inherited":
		default:
			errs = append(errs, fmt.Errorf("%s: member_type %q is not Direct, Group or Inherited", where, e.MemberType))
		}
	}
	return errors.Join(errs...)
}

// validScope accepts the scope forms PIM works at.
func validScope(s string) bool {
	seg := strings.Split(strings.TrimPrefix(s, "/"), "/")
	if !strings.HasPrefix(s, "/") {
		return false
	}
	for _, p := range seg {
		if p == "" {
			return false
		}
	}
	switch {
	case strings.EqualFold(seg[0], "subscriptions"):
		if len(seg) < 2 || !isGUID(seg[1]) {
			return false
		}
		return len(seg) == 2 || len(seg) >= 4 && strings.EqualFold(seg[2], "resourceGroups")
	case strings.EqualFold(seg[0], "providers"):
		return len(seg) == 4 && strings.EqualFold(seg[1], "Microsoft.Management") && strings.EqualFold(seg[2], "managementGroups")
	}
	return false
}

func isGUID(s string) bool {
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

// roleGUID is the lower-case GUID at the end of a role definition id, or
// "".
func roleGUID(id string) string {
	i := strings.LastIndex(strings.ToLower(id), "/providers/microsoft.authorization/roledefinitions/")
	if i < 0 {
		if isGUID(id) {
			return strings.ToLower(id)
		}
		return ""
	}
	g := id[i+len("/providers/microsoft.authorization/roledefinitions/"):]
	if !isGUID(g) {
		return ""
	}
	return strings.ToLower(g)
}

// builtinRoleGUID is the real GUID of one of Azure's best-known built-in
// roles, or "".
func builtinRoleGUID(name string) string {
	switch strings.ToLower(name) {
	case "owner":
		return "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	case "contributor":
		return "b24988ac-6180-42a0-ab88-20f7382dd24c"
	case "reader":
		return "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	case "user access administrator":
		return "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	}
	return ""
}
