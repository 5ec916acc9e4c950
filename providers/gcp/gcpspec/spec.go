package gcpspec

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitaccess/jit/providers"
)

// ProviderName is the value of a target's `provider:` key.
const ProviderName = "gcp"

// Modes of a target.
const (
	// ModeBinding adds a time-bound conditional IAM binding for the caller.
	ModeBinding = "binding"
	// ModeImpersonate mints a short-lived access token of a service account.
	ModeImpersonate = "impersonate"
	// ModePAM requests a grant of a Privileged Access Manager entitlement.
	ModePAM = "pam"
)

// Token lifetimes of IAM Credentials GenerateAccessToken.
const (
	// MaxTokenLifetime is the default cap on a service account token.
	MaxTokenLifetime = time.Hour
	// MaxExtendedTokenLifetime is the cap when the organization policy
	// constraints/iam.allowServiceAccountCredentialLifetimeExtension lists
	// the service account.
	MaxExtendedTokenLifetime = 12 * time.Hour
)

// DefaultScope is the OAuth scope of impersonated tokens when a target
// names none.
const DefaultScope = "https://www.googleapis.com/auth/cloud-platform"

// RevokeNote says, per mode, what revoking a GCP grant does.
const RevokeNote = "binding: jit revoke removes the conditional IAM binding (IAM takes a few minutes to propagate the removal). " +
	"pam: jit revoke revokes the PAM grant. " +
	"impersonate: Google cannot revoke a service account access token; it stays valid until it expires " +
	"(to stop further tokens, remove the caller's roles/iam.serviceAccountTokenCreator on the service account, or disable the service account)."

// TargetSpec is a target's `gcp:` section in the policy.
type TargetSpec struct {
	// Mode is binding (default), impersonate or pam.
	Mode string `yaml:"mode"`
	// Resource is the resource whose IAM policy gets the binding
	// (binding): projects/ID, folders/NUMBER or organizations/NUMBER.
	Resource string `yaml:"resource"`
	// Role is the role to bind (binding): roles/NAME or a custom role.
	// Basic roles are refused: IAM allows no condition on them.
	Role string `yaml:"role"`
	// Project goes to CLOUDSDK_CORE_PROJECT and GOOGLE_CLOUD_PROJECT of the
	// session; by default the resource's project (binding), the service
	// account's project (impersonate) or the entitlement's (pam).
	Project string `yaml:"project"`
	// ServiceAccount is the e-mail of the service account to impersonate.
	ServiceAccount string `yaml:"service_account"`
	// Scopes are the OAuth scopes of the impersonated token; default
	// cloud-platform.
	Scopes []string `yaml:"scopes"`
	// Allow12h says the organization policy
	// constraints/iam.allowServiceAccountCredentialLifetimeExtension lists
	// this service account, so tokens may live up to 12h (else 1h).
	Allow12h bool `yaml:"allow_12h"`
	// Entitlement is the PAM entitlement to request a grant of:
	// projects/ID/locations/LOC/entitlements/NAME (or folders/…,
	// organizations/…).
	Entitlement string `yaml:"entitlement"`
}

// EffectiveMode is Mode with its default applied.
func (t *TargetSpec) EffectiveMode() string {
	if t.Mode == "" {
		return ModeBinding
	}
	return t.Mode
}

// Validate checks the settings statically: no I/O, no SDK.
func (t *TargetSpec) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	mode := t.EffectiveMode()
	// Settings of one mode in another mode's target are mistakes that would
	// otherwise be silently ignored.
	notFor := func(field string, set bool) {
		if set {
			add("%s does not apply to mode %s", field, mode)
		}
	}
	switch mode {
	case ModeBinding:
		if t.Resource == "" {
			add("resource is required in mode binding (projects/ID, folders/NUMBER or organizations/NUMBER)")
		} else if _, err := ParseResource(t.Resource); err != nil {
			errs = append(errs, fmt.Errorf("resource: %w", err))
		}
		if t.Role == "" {
			add("role is required in mode binding (e.g. roles/compute.admin)")
		} else if err := validateRole(t.Role); err != nil {
			errs = append(errs, err)
		}
		notFor("service_account", t.ServiceAccount != "")
		notFor("scopes", len(t.Scopes) > 0)
		notFor("allow_12h", t.Allow12h)
		notFor("entitlement", t.Entitlement != "")
	case ModeImpersonate:
		switch {
		case t.ServiceAccount == "":
			add("service_account is required in mode impersonate (NAME@PROJECT.iam.gserviceaccount.com)")
		case strings.HasPrefix(t.ServiceAccount, "serviceAccount:"):
			add("service_account %q: give the e-mail without the serviceAccount: prefix", t.ServiceAccount)
		case !IsServiceAccountEmail(t.ServiceAccount):
			add("service_account %q is not a service account e-mail (NAME@PROJECT.iam.gserviceaccount.com)", t.ServiceAccount)
		}
		for _, s := range t.Scopes {
			if !strings.HasPrefix(s, "https://") || strings.ContainsAny(s, " \t\r\n") {
				add("scopes: %q is not an OAuth scope URL such as %s", s, DefaultScope)
			}
		}
		notFor("resource", t.Resource != "")
		notFor("role", t.Role != "")
		notFor("entitlement", t.Entitlement != "")
	case ModePAM:
		if t.Entitlement == "" {
			add("entitlement is required in mode pam (projects/ID/locations/global/entitlements/NAME)")
		} else if _, err := ParseEntitlement(t.Entitlement); err != nil {
			errs = append(errs, err)
		}
		notFor("resource", t.Resource != "")
		notFor("role", t.Role != "")
		notFor("service_account", t.ServiceAccount != "")
		notFor("scopes", len(t.Scopes) > 0)
		notFor("allow_12h", t.Allow12h)
	default:
		add("mode %q is not one of binding, impersonate, pam", t.Mode)
	}
	if t.Project != "" && !IsProjectID(t.Project) {
		add("project %q is not a project id (6–30 lowercase letters, digits and hyphens, starting with a letter)", t.Project)
	}
	return errors.Join(errs...)
}

// project is the project id for the session's environment, or "".
func (t *TargetSpec) EffectiveProject() string {
	if t.Project != "" {
		return t.Project
	}
	switch t.EffectiveMode() {
	case ModeBinding:
		if r, err := ParseResource(t.Resource); err == nil && r.Kind == KindProject && !isDigits(r.ID) {
			return r.ID
		}
	case ModeImpersonate:
		return ProjectOfServiceAccount(t.ServiceAccount)
	case ModePAM:
		if e, err := ParseEntitlement(t.Entitlement); err == nil && e.Parent.Kind == KindProject && !isDigits(e.Parent.ID) {
			return e.Parent.ID
		}
	}
	return ""
}

func (t *TargetSpec) EffectiveScopes() []string {
	if len(t.Scopes) == 0 {
		return []string{DefaultScope}
	}
	return append([]string(nil), t.Scopes...)
}

// maxLifetime is the cap on an impersonated token of this target.
func (t *TargetSpec) MaxLifetime() time.Duration {
	if t.Allow12h {
		return MaxExtendedTokenLifetime
	}
	return MaxTokenLifetime
}

// Spec describes the GCP provider to the policy loader.
func Spec() providers.Spec {
	return providers.Spec{
		Name:          ProviderName,
		NewTargetSpec: func() providers.TargetSpec { return &TargetSpec{} },
		RevokeNote:    RevokeNote,
		Principal:     principalFromID,
		Collects:      true,
	}
}

// principalFromID is the principal WhoAmI would report for an e-mail (or
// an IAM member string user:E / serviceAccount:E), without any I/O.
func principalFromID(id string) (providers.Principal, bool) {
	email := id
	typ := ""
	if e, ok := strings.CutPrefix(id, "user:"); ok {
		email, typ = e, TypeUser
	} else if e, ok := strings.CutPrefix(id, "serviceAccount:"); ok {
		email, typ = e, TypeServiceAccount
	}
	if !IsEmail(email) {
		return providers.Principal{}, false
	}
	if typ == "" {
		typ = TypeOfEmail(email)
	}
	pr := Principal(email, typ, "derived from the e-mail")
	return pr, true
}

func Principal(email, typ, source string) providers.Principal {
	pr := providers.Principal{
		ID:      email,
		Source:  source,
		Aliases: []string{MemberFor(email, typ)},
		Claims:  map[string]any{"type": typ, "email": email},
	}
	if typ == TypeServiceAccount {
		pr.Account = ProjectOfServiceAccount(email)
	}
	return pr
}

// MaxDuration is GCP's own cap for a target: for impersonation, the token
// lifetime Google allows (1h, or 12h with allow_12h). Bindings have no cap;
// a PAM entitlement's maximum is enforced by PAM itself.
func MaxDuration(spec *TargetSpec) (time.Duration, string) {
	if spec == nil || spec.EffectiveMode() != ModeImpersonate {
		return 0, ""
	}
	if spec.Allow12h {
		return MaxExtendedTokenLifetime, "Google caps service account tokens at 12h even with the lifetime-extension org policy"
	}
	return MaxTokenLifetime, "Google caps service account tokens at 1h unless the org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension lists " + spec.ServiceAccount + " (then set allow_12h)"
}
