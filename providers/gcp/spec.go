package gcp

import (
	"time"

	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/gcp/gcpspec"
)

// The target settings and the names jit writes into GCP live in gcpspec,
// which links no Google SDK: jit validates a policy, and the jit binary
// carries GCP's settings, without the SDK's start-up cost. These aliases
// keep this package's API whole.

// TargetSpec is a GCP target's settings.
type TargetSpec = gcpspec.TargetSpec

// Resource is a project, folder or organization.
type Resource = gcpspec.Resource

// Entitlement is a PAM entitlement's name.
type Entitlement = gcpspec.Entitlement

// Names and limits; see gcpspec.
const (
	ProviderName             = gcpspec.ProviderName
	ModeBinding              = gcpspec.ModeBinding
	ModeImpersonate          = gcpspec.ModeImpersonate
	ModePAM                  = gcpspec.ModePAM
	MaxTokenLifetime         = gcpspec.MaxTokenLifetime
	MaxExtendedTokenLifetime = gcpspec.MaxExtendedTokenLifetime
	DefaultScope             = gcpspec.DefaultScope
	RevokeNote               = gcpspec.RevokeNote
	KindProject              = gcpspec.KindProject
	KindFolder               = gcpspec.KindFolder
	KindOrganization         = gcpspec.KindOrganization
	TitlePrefix              = gcpspec.TitlePrefix
	TypeUser                 = gcpspec.TypeUser
	TypeServiceAccount       = gcpspec.TypeServiceAccount
)

// Spec describes the provider to the policy loader.
func Spec() providers.Spec { return gcpspec.Spec() }

// ParseResource parses projects/ID, folders/N or organizations/N.
func ParseResource(s string) (Resource, error) { return gcpspec.ParseResource(s) }

// ParseEntitlement parses a PAM entitlement name.
func ParseEntitlement(s string) (Entitlement, error) { return gcpspec.ParseEntitlement(s) }

// BindingTitle is the condition title of a request's binding.
func BindingTitle(requestID string) string { return gcpspec.BindingTitle(requestID) }

// ExpiryExpression is the condition of a binding that ends at t.
func ExpiryExpression(t time.Time) string { return gcpspec.ExpiryExpression(t) }

// ParseExpiry reads the end of a binding jit wrote.
func ParseExpiry(expr string) (time.Time, bool) { return gcpspec.ParseExpiry(expr) }

// IsJITTitle reports whether a condition title is one jit writes.
func IsJITTitle(title string) bool { return gcpspec.IsJITTitle(title) }

// RequestUUID derives the PAM request id from a jit request id.
func RequestUUID(requestID string) string { return gcpspec.RequestUUID(requestID) }

// IsProjectID reports whether s is a valid project id.
func IsProjectID(s string) bool { return gcpspec.IsProjectID(s) }

// IsServiceAccountEmail reports whether s is a service account's e-mail.
func IsServiceAccountEmail(s string) bool { return gcpspec.IsServiceAccountEmail(s) }

func principal(email, typ, source string) providers.Principal {
	return gcpspec.Principal(email, typ, source)
}
func isEmail(s string) bool { return gcpspec.IsEmail(s) }
func bindingDescription(principal, reason, ticket string) string {
	return gcpspec.BindingDescription(principal, reason, ticket)
}
func memberFor(email, typ string) string { return gcpspec.MemberFor(email, typ) }
func typeOfEmail(email string) string    { return gcpspec.TypeOfEmail(email) }
