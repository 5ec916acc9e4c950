package elevation

import (
	"fmt"
	"strings"

	"github.com/jitaccess/jit/internal/policy"
)

// DeniedError is a policy denial (exit 3). It is journaled before it is
// returned.
type DeniedError struct {
	Target    string
	Principal string
	Decision  policy.Decision
}

func (e *DeniedError) Error() string {
	if len(e.Decision.Reasons) == 0 {
		return fmt.Sprintf("denied: %s may not elevate to %s", e.Principal, e.Target)
	}
	return fmt.Sprintf("denied: %s", strings.Join(e.Decision.Reasons, "; "))
}

// MissingInputError means the policy requires a value the request lacks and
// no one could be asked for it (not a terminal). The command turns it into a
// usage error naming the flag.
type MissingInputError struct {
	Target string
	Fields []string // "reason", "ticket"
	Rule   string
}

func (e *MissingInputError) Error() string {
	return fmt.Sprintf("%s required to elevate to %s (rule %q)", strings.Join(e.Fields, " and "), e.Target, e.Rule)
}

// AuditError means the journal could not be written; no credentials were
// issued (or, for a session end, the record is missing).
type AuditError struct{ Err error }

func (e *AuditError) Error() string { return "audit journal: " + e.Err.Error() }
func (e *AuditError) Unwrap() error { return e.Err }

// PolicyError means the policy could not be loaded or is invalid.
type PolicyError struct{ Err error }

func (e *PolicyError) Error() string { return e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }
