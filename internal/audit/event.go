// Package audit is jit's tamper-evident trail: the event schema, the
// hash-chained local journal that is written and synced before credentials
// leave the process, its verifier, and the sinks that receive copies.
package audit

import "time"

// Schema is the value of every event's `schema` field.
const Schema = "jit.audit/v1"

// Event types (CONTRACT §5).
const (
	EventRequest      = "request"
	EventDeny         = "deny"
	EventGrant        = "grant"
	EventSessionStart = "session_start"
	EventSessionEnd   = "session_end"
	EventExpire       = "expire"
	EventRevoke       = "revoke"
	EventExtend       = "extend"
	EventApprove      = "approve"
	EventError        = "error"
)

// Event is one line of the journal. Fields are omitted when not applicable.
// No field ever holds a secret value.
type Event struct {
	Schema string `json:"schema"`
	// Seq numbers the events of one journal from 1, so a dropped or
	// reordered line can be named.
	Seq       uint64    `json:"seq"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Event     string    `json:"event"`
	RequestID string    `json:"request_id,omitempty"`

	Principal *Principal `json:"principal,omitempty"`
	Target    string     `json:"target,omitempty"`
	Provider  string     `json:"provider,omitempty"`
	DurationS int64      `json:"duration_s,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Ticket    string     `json:"ticket,omitempty"`

	Decision *Decision         `json:"decision,omitempty"`
	Policy   *PolicyRef        `json:"policy,omitempty"`
	Grant    map[string]string `json:"grant,omitempty"`
	Session  *Session          `json:"session,omitempty"`
	// Error is a one-line description for `error` events.
	Error string `json:"error,omitempty"`

	Host       string `json:"host,omitempty"`
	JitVersion string `json:"jit_version,omitempty"`

	Prev string `json:"prev"`
	Hash string `json:"hash,omitempty"`
	// Key is the SSH SHA256 fingerprint ("SHA256:…") of the Ed25519 key
	// that signed the event, when the journal signs. It is part of the
	// hashed content, so it cannot be changed without breaking the chain.
	Key string `json:"key,omitempty"`
	// Sig is the standard base64 Ed25519 signature, by the key Key names,
	// of the 64 ASCII hex digits of Hash. Like Hash, it is left out of the
	// hashed content (it is made from the hash).
	Sig string `json:"sig,omitempty"`
}

// Principal is the caller as recorded.
type Principal struct {
	ID     string   `json:"id"`
	Source string   `json:"source,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// Decision is the policy's answer.
type Decision struct {
	Allowed bool     `json:"allowed"`
	Rule    string   `json:"rule,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

// PolicyRef pins the policy the decision was made with.
type PolicyRef struct {
	Repo   string `json:"repo,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Commit string `json:"commit,omitempty"`
	File   string `json:"file,omitempty"`
}

// Session describes how an elevated session ended.
type Session struct {
	Command    []string `json:"command,omitempty"`
	ExitCode   *int     `json:"exit_code,omitempty"`
	DurationMS int64    `json:"duration_ms,omitempty"`
}
