package providers

import (
	"errors"
	"fmt"
)

// Kind classifies a provider error so the CLI can choose an exit code and the
// elevation service can decide whether to retry.
type Kind int

const (
	// KindUnknown is an unclassified failure (exit 1).
	KindUnknown Kind = iota
	// KindAuth: the base credentials are missing, invalid or expired; the
	// user must sign in again (exit 4).
	KindAuth
	// KindDenied: the cloud refused the call (trust policy, missing
	// permission). Not a jit policy denial (exit 1).
	KindDenied
	// KindInvalid: the request broke a cloud rule (duration above the role's
	// maximum, malformed session policy) (exit 1).
	KindInvalid
	// KindThrottled: rate limited; retryable.
	KindThrottled
	// KindTransient: 5xx or unavailable; retryable.
	KindTransient
	// KindConflict: concurrent modification (etag); re-read and retry.
	KindConflict
	// KindNotFound: the role, binding or entitlement does not exist.
	KindNotFound
	// KindPending: the grant awaits approval (exit 5).
	KindPending
)

var kindNames = [...]string{"unknown", "auth", "denied", "invalid", "throttled", "transient", "conflict", "not-found", "pending"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a classified provider error. Its message never holds a secret.
type Error struct {
	Kind Kind
	// Op names what failed, e.g. "assume role arn:aws:iam::1:role/x".
	Op string
	// Code is the cloud's own error code, e.g. "AccessDenied".
	Code string
	// Hint is one line telling the user how to fix it (or, for KindPending,
	// how to follow the request).
	Hint string
	// Refs are non-secret references to what the cloud created even though
	// the call did not grant yet: for KindPending, the pending grant or
	// request name, so that it can be journaled, followed and revoked.
	Refs map[string]string
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Op
	}
	return e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or KindUnknown.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return KindUnknown
}
