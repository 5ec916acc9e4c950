// Package policy parses, validates and evaluates jit's access policy, and
// runs policy test cases. It is pure: no I/O, no clock, no cloud SDK. The
// caller supplies the file's bytes, the provider specs and the time.
//
// # Decisions
//
// Access is denied by default. A request (principal, target, duration,
// reason, ticket, time) is allowed when a rule
//
//   - matches the principal: a subject is the principal's id or one of its
//     aliases exactly, a glob over them, or group:NAME for a group the
//     policy defines and the principal belongs to;
//   - matches the target: by name or by glob;
//   - has a `when` (CEL) that holds, if it has one;
//   - has its requirements met: a non-blank reason when require.reason is
//     true, a ticket matching require.ticket (a regular expression, used as
//     written, so anchor it), and at least require.approvals approvals;
//   - allows the duration: at most the smallest of the rule's max_duration,
//     the target's max_duration and the provider's limit (Input.Limit). No
//     duration asks for the target's default_duration, capped to that max.
//
// Rules are tried in file order and the first allowing rule decides. On a
// denial the decision lists every failed check of every rule that matched
// the principal and target, and which missing values (reason, ticket,
// approval) would make a rule allow, so the CLI can prompt or name the flag.
//
// Patterns use path.Match syntax (*, ?, [class], \ escapes) and match the
// whole name, but * and ? also match "/", as wildcards do in IAM policies:
// subjects are mostly ARNs, so "arn:aws:iam::111111111111:*" means every
// user of the account and "*" everyone. Group membership comes only from
// the policy's groups (members may be patterns); groups the principal
// claims elsewhere are ignored.
//
// # `when`
//
// A rule's `when` is a CEL expression returning bool, compiled when the
// policy is parsed; the CEL environment is only built for policies that use
// `when`. It sees:
//
//	request:   target, duration (duration), duration_s (int), reason,
//	           ticket, time (timestamp), approvals (int)
//	principal: id, source, account, aliases, groups (list of strings),
//	           claims (map)
//	target:    name, provider, description
//
// for example `request.time.getHours("UTC") >= 6`, `"sre" in
// principal.groups`, `request.duration <= duration("30m")` or
// `principal.claims.repository == "acme/infra"`. An evaluation error (a
// missing claim, the cost limit) means the condition does not hold; the
// error is the reason given.
//
// # Errors
//
// Parse and ParseTests report every problem at once as an *Errors whose
// entries carry the file, line and column of the offending YAML node, in
// the compiler form "jit.yaml:12:5: message".
package policy
