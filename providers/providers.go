// Package providers is jit's extension point: the contract between the
// elevation use case and one cloud. A provider turns an allowed request into
// time-bound access through the cloud's own mechanism and describes, without
// secrets, what it created.
//
// Providers are registered explicitly (see Registry); nothing registers itself
// in init(), so a binary only pays for the clouds it wires in, and tests build
// registries of fakes.
package providers

import (
	"context"
	"time"
)

// Provider creates time-bound access on one cloud.
//
// Optional capabilities are separate interfaces found by type assertion:
// WhoAmIer, Revoker.
type Provider interface {
	// Name is the value of a target's `provider:` key, e.g. "aws".
	Name() string
	// Grant creates the access the request describes. It must honour ctx
	// cancellation, never return an expiry beyond req.Duration from now, and
	// classify its errors with *Error.
	Grant(ctx context.Context, req Request) (*Grant, error)
}

// WhoAmIer is implemented by providers that can tell who the caller is from
// the cloud's own view of the base credentials (AWS GetCallerIdentity, the
// oid/upn of an Azure token, the account of Google credentials).
type WhoAmIer interface {
	WhoAmI(ctx context.Context) (Principal, error)
}

type freshIdentityKey struct{}

// WithFreshIdentity asks WhoAmI to ask the cloud even when a provider has
// the answer cached, as `jit whoami` does: it is the command a user runs to
// check their credentials.
func WithFreshIdentity(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshIdentityKey{}, true)
}

// FreshIdentity reports whether WhoAmI must not use a cached answer.
func FreshIdentity(ctx context.Context) bool { return ctx.Value(freshIdentityKey{}) != nil }

// Revoker is implemented by providers whose grants can be ended early.
// Revoke must work from a Grant rebuilt from jit's local record of it —
// RequestID, Target, Provider, Principal, NotBefore, NotAfter and Refs, with
// no Env — so everything it needs must be in Refs. Revoking a grant that has
// already ended is not an error.
type Revoker interface {
	Revoke(ctx context.Context, g *Grant) error
}

// Collector is implemented by providers that leave records in the cloud
// after a grant expires (GCP conditional bindings): Collect removes those
// jit created for the given targets that have expired, and says how many.
type Collector interface {
	Collect(ctx context.Context, targets []Target) (int, error)
}

// EligibleRole is a role the caller could activate, as the cloud lists it
// (Azure PIM eligibility).
type EligibleRole struct {
	Scope       string `json:"scope"`
	Role        string `json:"role"`
	RoleID      string `json:"role_id"`
	Description string `json:"description,omitempty"`
	// EndsAt is when the eligibility itself ends (zero: permanent).
	EndsAt time.Time `json:"ends_at,omitzero"`
}

// EligibilityLister is implemented by providers whose cloud keeps its own
// list of what the caller may activate (Azure PIM), for `jit targets`.
type EligibilityLister interface {
	Eligible(ctx context.Context) ([]EligibleRole, error)
}

// TargetSpec is a provider's typed settings for one target, decoded from the
// target's provider section of the policy (e.g. the `aws:` map). Validate is a
// static check run when the policy is loaded: no I/O, no SDK.
type TargetSpec interface {
	Validate() error
}

// Spec describes a provider to the policy loader without constructing it: the
// policy can be validated, explained and tested with no cloud SDK initialised.
type Spec struct {
	// Name is the provider name used in `provider:` and as the settings key.
	Name string
	// NewTargetSpec returns a pointer to an empty settings struct that the
	// policy loader decodes the target's settings into (unknown keys are
	// rejected).
	NewTargetSpec func() TargetSpec
	// RevokeNote says, for --dry-run and `jit revoke`, what revoking a grant
	// of this provider does and what stays valid until expiry.
	RevokeNote string
	// Collects says the provider implements Collector, so that `jit gc`
	// builds only the providers that leave records behind.
	Collects bool
	// Principal, when set, derives from an id alone the principal WhoAmI
	// would report for it (for AWS, an assumed-role ARN's session name and
	// role ARN as aliases), without any I/O. `jit policy explain --as` and
	// policy test cases use it, so that they match as a real caller would.
	Principal func(id string) (Principal, bool)
}

// Target is one entry of the policy's `targets:` map, as a provider sees it.
type Target struct {
	Name     string
	Provider string
	// Spec is the provider's own decoded settings (the type its
	// Spec.NewTargetSpec returned).
	Spec TargetSpec
}

// Principal is the caller as the policy sees it.
type Principal struct {
	// ID is the canonical identifier, e.g. an AWS ARN or an e-mail address.
	ID string `json:"id"`
	// Source says where the identity came from, e.g. "aws:sts:GetCallerIdentity".
	Source string `json:"source"`
	// Aliases are further names the policy may match subjects against (for
	// an AWS assumed-role ARN, the session name, often the SSO e-mail).
	Aliases []string `json:"aliases,omitempty"`
	// Groups are filled in from the policy's `groups:` once it is loaded.
	Groups []string `json:"groups,omitempty"`
	// Account is the cloud account, project or tenant of the base identity.
	Account string `json:"account,omitempty"`
	// Claims carry further attributes (token claims, tags) for CEL `when`.
	Claims map[string]any `json:"claims,omitempty"`
}

// Names returns the ID followed by the aliases: every string a policy subject
// may match.
func (p Principal) Names() []string {
	out := make([]string, 0, 1+len(p.Aliases))
	out = append(out, p.ID)
	return append(out, p.Aliases...)
}

// Request is an allowed elevation handed to a provider.
type Request struct {
	// ID is the request id, unique per elevation; providers stamp it on the
	// cloud side (session name, tags, binding title, justification).
	ID        string
	Target    Target
	Principal Principal
	Duration  time.Duration
	Reason    string
	Ticket    string
}

// EnvVar is one variable to deliver to the elevated session.
type EnvVar struct {
	Name  string
	Value string
	// Secret marks values that must never be logged, journaled or shown.
	Secret bool
}

// Grant describes access a provider created.
type Grant struct {
	RequestID string
	Target    string
	Provider  string
	Principal string
	NotBefore time.Time
	NotAfter  time.Time
	// Refs are the provider's own non-secret references to what it created
	// (access key id, assumed-role id, binding title, PIM request name).
	Refs map[string]string
	// Env is what the elevated session receives.
	Env []EnvVar
	// Unset lists variables that would shadow the grant's credentials and
	// must be removed from the session's environment.
	Unset []string
	// Revocable says whether Revoke can end the grant early; RevokeNote says
	// what remains valid until NotAfter either way.
	Revocable  bool
	RevokeNote string
}

// Redacted is the grant with every secret value removed, for audit events,
// JSON output and --debug.
type Redacted struct {
	RequestID  string            `json:"request_id"`
	Target     string            `json:"target"`
	Provider   string            `json:"provider"`
	Principal  string            `json:"principal"`
	NotBefore  time.Time         `json:"not_before"`
	NotAfter   time.Time         `json:"not_after"`
	Refs       map[string]string `json:"refs,omitempty"`
	EnvNames   []string          `json:"env,omitempty"`
	Revocable  bool              `json:"revocable"`
	RevokeNote string            `json:"revoke_note,omitempty"`
}

// Redacted returns the grant without secret values: references and the names
// (not values) of the variables it delivers.
func (g *Grant) Redacted() Redacted {
	r := Redacted{
		RequestID: g.RequestID, Target: g.Target, Provider: g.Provider, Principal: g.Principal,
		NotBefore: g.NotBefore, NotAfter: g.NotAfter, Revocable: g.Revocable, RevokeNote: g.RevokeNote,
	}
	if len(g.Refs) > 0 {
		r.Refs = make(map[string]string, len(g.Refs))
		for k, v := range g.Refs {
			r.Refs[k] = v
		}
	}
	for _, e := range g.Env {
		r.EnvNames = append(r.EnvNames, e.Name)
	}
	return r
}

// Secrets returns the secret values the grant carries, so that output
// filters (--debug, error messages) can scrub them.
func (g *Grant) Secrets() []string {
	var out []string
	for _, e := range g.Env {
		if e.Secret && e.Value != "" {
			out = append(out, e.Value)
		}
	}
	return out
}
