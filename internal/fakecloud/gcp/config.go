package gcp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/internal/loopback"
)

// Identity is a base identity the fake knows: a user or service account
// that signs in with a static access token (what `jit dev` and tests hand
// to jit) or with a refresh token at the token endpoint (an authorized_user
// ADC file).
type Identity struct {
	// Email is the account; a *.gserviceaccount.com address is a service
	// account, anything else a user.
	Email string `yaml:"email" json:"email"`
	// Token is an access token that authenticates as Email.
	Token string `yaml:"token,omitempty" json:"token,omitempty"`
	// RefreshToken, when set, is exchanged at the token endpoint
	// (grant_type=refresh_token) for fresh access tokens of Email.
	RefreshToken string `yaml:"refresh_token,omitempty" json:"refresh_token,omitempty"`
	// Expires, when set, makes Token invalid afterwards.
	Expires time.Time `yaml:"expires,omitempty" json:"expires,omitempty"`
}

// ServiceAccount is a service account that callers may impersonate.
type ServiceAccount struct {
	// Email is NAME@PROJECT.iam.gserviceaccount.com.
	Email string `yaml:"email" json:"email"`
	// TokenCreators are the e-mails (or IAM members, user:E /
	// serviceAccount:E) holding iam.serviceAccounts.getAccessToken on it.
	TokenCreators []string `yaml:"token_creators" json:"token_creators"`
	// ExtendedLifetime says the organization policy
	// constraints/iam.allowServiceAccountCredentialLifetimeExtension lists
	// it: tokens may live 12h instead of 1h.
	ExtendedLifetime bool `yaml:"extended_lifetime,omitempty" json:"extended_lifetime,omitempty"`
}

// Condition is an IAM condition (CEL). The fake evaluates the forms jit
// and gcloud users write for expiry: request.time < timestamp("T"),
// request.time >= timestamp("T") and their conjunction with &&; any other
// expression is stored but grants nothing.
type Condition struct {
	Title       string `yaml:"title" json:"title"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Expression  string `yaml:"expression" json:"expression"`
}

// Binding is one role binding of a policy.
type Binding struct {
	Role      string     `yaml:"role" json:"role"`
	Members   []string   `yaml:"members" json:"members"`
	Condition *Condition `yaml:"condition,omitempty" json:"condition,omitempty"`
}

// Policy is a resource and its initial IAM policy. A resource exists in the
// fake exactly when it has a Policy entry (possibly with no bindings).
// Permissions to read and change the policy come from the policy itself:
// roles/owner, roles/resourcemanager.projectIamAdmin (folderIamAdmin,
// organizationAdmin) and roles/iam.securityAdmin may set it; those and
// roles/editor, roles/viewer, roles/browser and roles/iam.securityReviewer
// may read it.
type Policy struct {
	// Resource is projects/ID, folders/NUMBER or organizations/NUMBER.
	Resource string    `yaml:"resource" json:"resource"`
	Bindings []Binding `yaml:"bindings,omitempty" json:"bindings,omitempty"`
}

// Entitlement is a Privileged Access Manager entitlement.
type Entitlement struct {
	// Name is {projects/ID|folders/N|organizations/N}/locations/LOC/entitlements/ID.
	Name string `yaml:"name" json:"name"`
	// Eligible are the e-mails (or members) who may request grants.
	Eligible []string `yaml:"eligible" json:"eligible"`
	// Approvers, when set, must approve each grant (one approval, not the
	// requester's own); without approvers grants activate at once.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// Admins hold privilegedaccessmanager.grants.revoke: only they may
	// revoke grants, as in PAM, where a requester needs that permission
	// too.
	Admins []string `yaml:"admins,omitempty" json:"admins,omitempty"`
	// MaxRequestDuration caps RequestedDuration; default 1h.
	MaxRequestDuration time.Duration `yaml:"max_request_duration,omitempty" json:"max_request_duration,omitempty"`
	// RequireJustification refuses grants without a justification.
	RequireJustification bool `yaml:"require_justification,omitempty" json:"require_justification,omitempty"`
	// Role and Resource, when set, are bound (with an expiry condition) to
	// the requester while a grant is active, as PAM does; Resource defaults
	// to the entitlement's parent.
	Role     string `yaml:"role,omitempty" json:"role,omitempty"`
	Resource string `yaml:"resource,omitempty" json:"resource,omitempty"`
	// ActivationDelay keeps an approved grant ACTIVATING this long on the
	// fake clock before it turns ACTIVE.
	ActivationDelay time.Duration `yaml:"activation_delay,omitempty" json:"activation_delay,omitempty"`
}

// Config configures a fake.
type Config struct {
	// GRPCAddr and HTTPAddr are the listen addresses; both must be
	// loopback. Default 127.0.0.1:0 (an ephemeral port).
	GRPCAddr string `yaml:"grpc_addr,omitempty" json:"grpc_addr,omitempty"`
	HTTPAddr string `yaml:"http_addr,omitempty" json:"http_addr,omitempty"`
	// Identities are the base identities whose tokens the fake accepts.
	Identities []Identity `yaml:"identities" json:"identities"`
	// ServiceAccounts may be impersonated by their token creators.
	ServiceAccounts []ServiceAccount `yaml:"service_accounts,omitempty" json:"service_accounts,omitempty"`
	// Policies are the resources that exist and their IAM policies.
	Policies []Policy `yaml:"policies,omitempty" json:"policies,omitempty"`
	// Entitlements are the PAM entitlements.
	Entitlements []Entitlement `yaml:"entitlements,omitempty" json:"entitlements,omitempty"`
	// Now is the clock that issues and expires tokens, evaluates conditions
	// and moves PAM grants along (default time.Now); Server.Advance shifts
	// it.
	Now func() time.Time `yaml:"-" json:"-"`
}

// ParseConfig decodes a YAML (or JSON) configuration strictly: unknown keys
// are errors. Durations are Go durations ("1h", "90m").
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("parse fake gcp config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the configuration without starting anything.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, a := range []struct{ name, addr string }{{"grpc_addr", c.GRPCAddr}, {"http_addr", c.HTTPAddr}} {
		if a.addr != "" {
			if err := loopback.CheckAddr(a.addr); err != nil {
				add("%s: %v", a.name, err)
			}
		}
	}
	tokens := map[string]bool{}
	for i, id := range c.Identities {
		where := fmt.Sprintf("identities[%d]", i)
		if !strings.Contains(id.Email, "@") {
			add("%s: email %q is not an e-mail address", where, id.Email)
		}
		if id.Token == "" && id.RefreshToken == "" {
			add("%s: needs a token or a refresh_token", where)
		}
		for _, t := range []string{id.Token, id.RefreshToken} {
			if t == "" {
				continue
			}
			if tokens[t] {
				add("%s: a token is listed twice", where)
			}
			tokens[t] = true
		}
	}
	for i, sa := range c.ServiceAccounts {
		if !isServiceAccount(sa.Email) {
			add("service_accounts[%d]: email %q is not a service account (NAME@PROJECT.iam.gserviceaccount.com)", i, sa.Email)
		}
	}
	seen := map[string]bool{}
	for i, p := range c.Policies {
		where := fmt.Sprintf("policies[%d]", i)
		if _, _, err := parseResource(p.Resource); err != nil {
			add("%s: %v", where, err)
		}
		if seen[p.Resource] {
			add("%s: resource %s is listed twice", where, p.Resource)
		}
		seen[p.Resource] = true
		pb := policyFromConfig(p)
		if err := validateBindings(pb.Bindings, 3); err != nil {
			add("%s: %v", where, err)
		}
	}
	for i, e := range c.Entitlements {
		where := fmt.Sprintf("entitlements[%d]", i)
		if _, err := parseEntitlementName(e.Name); err != nil {
			add("%s: %v", where, err)
		}
		if len(e.Eligible) == 0 {
			add("%s: eligible is empty", where)
		}
		if e.MaxRequestDuration < 0 || e.ActivationDelay < 0 {
			add("%s: durations must not be negative", where)
		}
		if e.Resource != "" {
			if _, _, err := parseResource(e.Resource); err != nil {
				add("%s: resource: %v", where, err)
			}
		}
	}
	return errors.Join(errs...)
}

func isServiceAccount(email string) bool {
	local, domain, ok := strings.Cut(email, "@")
	return ok && local != "" && strings.HasSuffix(domain, ".gserviceaccount.com")
}

// parseResource splits projects/ID, folders/N or organizations/N.
func parseResource(s string) (kind, id string, err error) {
	kind, id, ok := strings.Cut(s, "/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", "", fmt.Errorf("%q is not a resource name (projects/ID, folders/N, organizations/N)", s)
	}
	switch kind {
	case "projects", "folders", "organizations":
		return kind, id, nil
	}
	return "", "", fmt.Errorf("%q is not a resource name (projects/ID, folders/N, organizations/N)", s)
}

// parseEntitlementName returns the entitlement's parent resource.
func parseEntitlementName(s string) (string, error) {
	p := strings.Split(s, "/")
	if len(p) != 6 || p[2] != "locations" || p[4] != "entitlements" || p[3] == "" || p[5] == "" {
		return "", fmt.Errorf("%q is not an entitlement name (projects/ID/locations/LOC/entitlements/ID)", s)
	}
	parent := p[0] + "/" + p[1]
	if _, _, err := parseResource(parent); err != nil {
		return "", err
	}
	return parent, nil
}
