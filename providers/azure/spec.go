package azure

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitaccess/jit/providers"
)

// ProviderName is the value of a target's `provider:` key.
const ProviderName = "azure"

// MinActiveDuration is how long Azure keeps an activation before it accepts
// a SelfDeactivate for it (ActiveDurationTooShort before that).
const MinActiveDuration = 5 * time.Minute

// RevokeNote says what revoking an Azure grant can and cannot do.
const RevokeNote = "jit revoke deactivates the PIM activation (SelfDeactivate), or cancels the request while it awaits approval. " +
	"Azure refuses to deactivate in the first 5 minutes after activation, and Azure RBAC may take a few minutes " +
	"to stop honouring the role everywhere; the user's own sign-in (az, terraform) stays valid, only the role goes."

// TargetSpec is a target's `azure:` section in the policy.
type TargetSpec struct {
	// Scope is where the role is activated: /subscriptions/<id>,
	// /subscriptions/<id>/resourceGroups/<rg>[/providers/…] or
	// /providers/Microsoft.Management/managementGroups/<mg>.
	Scope string `yaml:"scope"`
	// Role is the role's name as PIM shows it ("Contributor"). Exactly one
	// of Role and RoleDefinitionID is set.
	Role string `yaml:"role"`
	// RoleDefinitionID is the role definition's id
	// (…/providers/Microsoft.Authorization/roleDefinitions/<guid>, or the
	// bare GUID).
	RoleDefinitionID string `yaml:"role_definition_id"`
	// Subscription goes to AZURE_SUBSCRIPTION_ID and ARM_SUBSCRIPTION_ID of
	// the session; the scope's subscription when empty.
	Subscription string `yaml:"subscription"`
	// TicketSystem names the ticket system in PIM's ticket info when a
	// ticket is given (PIM records it next to the ticket number).
	TicketSystem string `yaml:"ticket_system"`
}

// Limits of the settings' strings (PIM's own limits are not documented;
// these keep policy files sane).
const (
	maxRoleNameLen     = 512
	maxTicketSystemLen = 100
)

// Validate checks the settings statically: no I/O, no SDK.
func (t *TargetSpec) Validate() error {
	var errs []error
	if t.Scope == "" {
		errs = append(errs, errors.New("scope is required (/subscriptions/<id>, /subscriptions/<id>/resourceGroups/<rg> or /providers/Microsoft.Management/managementGroups/<mg>)"))
	} else if _, err := ParseScope(t.Scope); err != nil {
		errs = append(errs, fmt.Errorf("scope: %w", err))
	}
	switch {
	case t.Role == "" && t.RoleDefinitionID == "":
		errs = append(errs, errors.New("set role (the role's name, e.g. Contributor) or role_definition_id"))
	case t.Role != "" && t.RoleDefinitionID != "":
		errs = append(errs, errors.New("set only one of role and role_definition_id"))
	case t.Role != "":
		if err := checkText("role", t.Role, maxRoleNameLen); err != nil {
			errs = append(errs, err)
		}
	default:
		if _, err := RoleDefinitionGUID(t.RoleDefinitionID); err != nil {
			errs = append(errs, fmt.Errorf("role_definition_id: %w", err))
		}
	}
	if t.Subscription != "" && !IsGUID(t.Subscription) {
		errs = append(errs, fmt.Errorf("subscription %q is not a subscription id (a GUID)", t.Subscription))
	}
	if t.TicketSystem != "" {
		if err := checkText("ticket_system", t.TicketSystem, maxTicketSystemLen); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkText(key, s string, max int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", key)
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%s %q has leading or trailing spaces", key, s)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s is %d characters; at most %d", key, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s holds the control character %q", key, r)
		}
	}
	return nil
}

// SubscriptionID is the subscription the session's AZURE_SUBSCRIPTION_ID
// names: the configured one, else the scope's, else "" (a management
// group scope).
func (t *TargetSpec) SubscriptionID() string {
	if t.Subscription != "" {
		return t.Subscription
	}
	if s, err := ParseScope(t.Scope); err == nil {
		return s.Subscription
	}
	return ""
}

// roleLabel names the role for messages.
func (t *TargetSpec) roleLabel() string {
	if t.Role != "" {
		return t.Role
	}
	return t.RoleDefinitionID
}

// Spec describes the Azure provider to the policy loader.
func Spec() providers.Spec {
	return providers.Spec{
		Name:          ProviderName,
		NewTargetSpec: func() providers.TargetSpec { return &TargetSpec{} },
		RevokeNote:    RevokeNote,
	}
}

// RoleAndScope returns the target's role (its name, or its definition id)
// and scope, so that `jit targets --eligible` can say which targets an
// eligibility serves.
func (t *TargetSpec) RoleAndScope() (string, string) {
	if t.Role != "" {
		return t.Role, t.Scope
	}
	return t.RoleDefinitionID, t.Scope
}
