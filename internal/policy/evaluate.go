package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitaccess/jit/providers"
)

// Input is one access request as the policy sees it.
type Input struct {
	Principal providers.Principal
	Target    string
	// Duration is the requested length; 0 asks for the target's default
	// (capped to the effective maximum).
	Duration time.Duration
	Reason   string
	Ticket   string
	// Time is when the request is made; `when` conditions see it.
	Time time.Time
	// Approvals is how many approvals the request has collected.
	Approvals int
	// Limit is an extra cap from the provider (e.g. 1h for AWS role
	// chaining), 0 for none; LimitReason says why, for messages.
	Limit       time.Duration
	LimitReason string
}

// Missing values a rule needs that were not given; the CLI prompts for them
// or, when it cannot prompt, names the flag.
const (
	MissingReason   = "reason"
	MissingTicket   = "ticket"
	MissingApproval = "approval"
)

// Decision is the policy's answer to one Input.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Rule is the allowing rule; on denial, the rule that would allow once
	// the values in Missing are given, if there is one.
	Rule string `json:"rule,omitempty"`
	// Reasons says, on denial, every check that failed, per rule.
	Reasons []string `json:"reasons,omitempty"`
	// Duration is the effective duration (the default applied when none
	// was asked for).
	Duration time.Duration `json:"-"`
	// MaxDuration is the longest duration any rule that matches the
	// principal and target (and whose `when` holds) could grant; 0 if none.
	MaxDuration time.Duration `json:"-"`
	// Missing lists, on denial, what Rule needs to allow: "reason",
	// "ticket", "approval". When several rules could allow, Rule is the
	// first that needs no approval, else the first.
	Missing []string `json:"missing,omitempty"`
	// Groups are the principal's groups according to the policy.
	Groups []string `json:"groups,omitempty"`
	// Target is the requested target, nil if it does not exist.
	Target *Target `json:"-"`
}

// NeedsApproval reports whether approvals alone stand between the request
// and an allowing rule.
func (d Decision) NeedsApproval() bool {
	return !d.Allowed && len(d.Missing) == 1 && d.Missing[0] == MissingApproval
}

// MarshalJSON adds the durations in the policy's own notation and in seconds.
func (d Decision) MarshalJSON() ([]byte, error) {
	type plain Decision
	return json.Marshal(struct {
		plain
		Duration     string `json:"duration,omitempty"`
		DurationS    int64  `json:"duration_s,omitempty"`
		MaxDuration  string `json:"max_duration,omitempty"`
		MaxDurationS int64  `json:"max_duration_s,omitempty"`
		Target       string `json:"target,omitempty"`
	}{plain(d), fmtDur(d.Duration), int64(d.Duration / time.Second), fmtDur(d.MaxDuration), int64(d.MaxDuration / time.Second), targetName(d.Target)})
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return FormatDuration(d)
}

func targetName(t *Target) string {
	if t == nil {
		return ""
	}
	return t.Name
}

// GroupsOf returns, sorted, the groups that have the principal's ID or any
// of its aliases as a member (members may be globs). Groups the principal
// already carries are not trusted: membership comes from the policy only.
func (p *Policy) GroupsOf(pr providers.Principal) []string {
	var lists [][]int32
	for _, n := range pr.Names() {
		if n == "" {
			continue
		}
		if l := p.idx.groupsByMember[n]; len(l) > 0 {
			lists = append(lists, l)
		}
		p.idx.memberGlobs.match(n, func(ids []int32) { lists = append(lists, ids) })
	}
	ids := mergeIDs(lists)
	if len(ids) == 0 {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = p.idx.groupNames[id]
	}
	return out
}

// principalView is what the policy knows of a principal, computed once per
// principal: its names, groups and the rules its subjects can match.
type principalView struct {
	pr     providers.Principal
	names  []string
	groups []string
	rules  []int32
}

func (p *Policy) view(pr providers.Principal) *principalView {
	v := &principalView{pr: pr, names: pr.Names()}
	v.groups = p.GroupsOf(pr)
	v.rules = p.subjectRules(v.names, v.groups)
	return v
}

// Evaluate decides a request: deny by default; allowed when a rule matches
// the principal and the target, its `when` holds, its requirements are met
// and the duration is within the effective maximum. The first allowing rule
// in file order decides.
func (p *Policy) Evaluate(in Input) Decision {
	d, _ := p.decide(in, p.view(in.Principal), false)
	return d
}

// ruleEval is what one rule made of a request.
type ruleEval struct {
	rule    *Rule
	subject string // the subject that matched, "" when none did
	target  string // the target name or pattern that matched
	// when: nil error and held reports the result; a non-nil error means
	// it could not be evaluated (and does not hold).
	hasWhen bool
	held    bool
	whenErr error
	max     time.Duration
	limitBy string // "rule", "target" or "limit": what sets max
	dur     time.Duration
	// failures are the failed checks, without the rule prefix.
	failures []string
	// missing are the values whose absence is the only problem.
	missing []string
	// fixable is true when giving the missing values would allow.
	fixable bool
	allowed bool
}

// decide evaluates in against the rules that match both the principal and
// the target, in file order. It walks the shorter of the two candidate
// lists the index gives (the rules naming the target, the rules whose
// subjects can match the principal) and checks the other side rule by rule.
// With all set, rules that name the target but not the principal are
// returned too (for Explain).
func (p *Policy) decide(in Input, pv *principalView, all bool) (Decision, []ruleEval) {
	groups, names := pv.groups, pv.names
	d := Decision{Groups: groups}
	t, ok := p.Targets[in.Target]
	if !ok {
		d.Reasons = []string{fmt.Sprintf("unknown target %q (known: %s)", in.Target, knownList(p.names))}
		d.Duration = in.Duration
		return d, nil
	}
	d.Target = t
	switch {
	case in.Principal.ID == "":
		d.Reasons = []string{"the principal has no id"}
		return d, nil
	case in.Duration < 0:
		d.Reasons = []string{fmt.Sprintf("duration %s must be positive", FormatDuration(in.Duration))}
		return d, nil
	}
	ids := pv.rules
	if lists, n := p.targetRules(t.Name); all || n < len(ids) {
		ids = mergeIDs(lists)
	}
	var (
		evals   []ruleEval
		vars    map[string]any
		matched bool
		reasons []string
		fixable = -1 // index in evals of the rule that would allow if given Missing
	)
	for _, id := range ids {
		r := p.Rules[id]
		// Whichever list ids came from, both sides are checked on the rule
		// itself: that also names the patterns that matched.
		e := ruleEval{rule: r, target: r.matchTarget(t.Name)}
		if e.target == "" {
			continue
		}
		e.subject = r.matchSubject(names, groups)
		if e.subject == "" {
			if all {
				evals = append(evals, e)
			}
			continue
		}
		matched = true
		e.max, e.limitBy = effectiveMax(r, t, in.Limit)
		e.dur = in.Duration
		if e.dur == 0 {
			e.dur = min(t.DefaultDuration, e.max)
		}
		e.held = true
		if r.when != nil {
			if vars == nil {
				vars = celVars(in, t, groups)
			}
			vars["request"] = celRequestOf(in, e.dur)
			e.hasWhen = true
			e.held, e.whenErr = r.when.eval(vars)
		}
		p.check(&e, in)
		if e.held {
			d.MaxDuration = max(d.MaxDuration, e.max)
		}
		if e.allowed && !d.Allowed {
			d.Allowed, d.Rule, d.Duration = true, r.Name, e.dur
		}
		if !d.Allowed {
			for _, f := range e.failures {
				reasons = append(reasons, fmt.Sprintf("rule %q: %s", r.Name, f))
			}
			if e.fixable && (fixable < 0 || needsApproval(evals[fixable].missing) && !needsApproval(e.missing)) {
				fixable = len(evals)
			}
		}
		evals = append(evals, e)
	}
	if d.Allowed {
		return d, evals
	}
	if !matched {
		reasons = []string{fmt.Sprintf("no rule grants %s access to %s", in.Principal.ID, t.Name)}
	}
	d.Reasons = reasons
	if fixable >= 0 {
		d.Rule, d.Missing = evals[fixable].rule.Name, sortMissing(evals[fixable].missing)
	}
	d.Duration = in.Duration
	if d.Duration == 0 {
		d.Duration = t.DefaultDuration
		if d.MaxDuration > 0 {
			d.Duration = min(d.Duration, d.MaxDuration)
		}
	}
	return d, evals
}

// check runs a rule's requirements and duration limit, recording every
// failure so that the author of a request learns everything at once.
func (p *Policy) check(e *ruleEval, in Input) {
	r := e.rule
	fixable := true
	if !e.held {
		fixable = false
		if e.whenErr != nil {
			e.failures = append(e.failures, "when failed: "+e.whenErr.Error())
		} else {
			e.failures = append(e.failures, "when does not hold: "+r.When)
		}
	}
	if r.Require.Reason && strings.TrimSpace(in.Reason) == "" {
		e.failures = append(e.failures, "reason required")
		e.missing = append(e.missing, MissingReason)
	}
	if r.Require.Ticket != "" {
		switch ticket := strings.TrimSpace(in.Ticket); {
		case ticket == "" && r.ticket == nil:
			e.failures = append(e.failures, "ticket required")
			e.missing = append(e.missing, MissingTicket)
		case ticket == "":
			e.failures = append(e.failures, fmt.Sprintf("ticket required (must match %s)", r.Require.Ticket))
			e.missing = append(e.missing, MissingTicket)
		case r.ticket != nil && !r.ticket.MatchString(in.Ticket):
			e.failures = append(e.failures, fmt.Sprintf("ticket %q does not match %s", in.Ticket, r.Require.Ticket))
			fixable = false
		}
	}
	if need := r.Require.Approvals; in.Approvals < need {
		msg := fmt.Sprintf("needs %d approval", need)
		if need > 1 {
			msg += "s"
		}
		if in.Approvals > 0 {
			msg += fmt.Sprintf(" (%d given)", in.Approvals)
		}
		e.failures = append(e.failures, msg)
		e.missing = append(e.missing, MissingApproval)
	}
	if e.dur > e.max {
		msg := fmt.Sprintf("duration %s exceeds the maximum %s", FormatDuration(e.dur), FormatDuration(e.max))
		if e.limitBy == "limit" && in.LimitReason != "" {
			msg += " (" + in.LimitReason + ")"
		}
		e.failures = append(e.failures, msg)
		fixable = false
	}
	e.allowed = len(e.failures) == 0
	e.fixable = fixable && !e.allowed
}

func needsApproval(missing []string) bool { return slices.Contains(missing, MissingApproval) }

// effectiveMax is the smallest of the rule's, the target's and the
// provider's limits, and which of them it is.
func effectiveMax(r *Rule, t *Target, limit time.Duration) (time.Duration, string) {
	m, by := t.MaxDuration, "target"
	if r.MaxDuration > 0 && r.MaxDuration < m {
		m, by = r.MaxDuration, "rule"
	}
	if limit > 0 && limit < m {
		m, by = limit, "limit"
	}
	return m, by
}

// matchTarget returns the rule's target name or pattern that matches the
// target, or "".
func (r *Rule) matchTarget(target string) string {
	for _, t := range r.tgtExact {
		if t == target {
			return t
		}
	}
	for _, g := range r.tgtGlobs {
		if g.match(target) {
			return g.pat
		}
	}
	return ""
}

// matchSubject returns the first subject of the rule that matches one of
// the principal's names or groups: exact ids first, then groups, then
// globs, cheapest first.
func (r *Rule) matchSubject(names, groups []string) string {
	for _, s := range r.subjExact {
		for _, n := range names {
			if n == s {
				return s
			}
		}
	}
	for _, g := range r.subjGroups {
		if slices.Contains(groups, g) {
			return groupPrefix + g
		}
	}
	for _, g := range r.subjGlobs {
		for _, n := range names {
			if n != "" && g.match(n) {
				return g.pat
			}
		}
	}
	return ""
}

func sortMissing(m []string) []string {
	order := func(s string) int {
		switch s {
		case MissingReason:
			return 0
		case MissingTicket:
			return 1
		}
		return 2
	}
	slices.SortFunc(m, func(a, b string) int { return order(a) - order(b) })
	return m
}

func celVars(in Input, t *Target, groups []string) map[string]any {
	claims := in.Principal.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	return map[string]any{
		"principal": &celPrincipal{
			ID: in.Principal.ID, Source: in.Principal.Source, Account: in.Principal.Account,
			Aliases: nonNil(in.Principal.Aliases), Groups: nonNil(groups), Claims: claims,
		},
		"target": &celTarget{Name: t.Name, Provider: t.Provider, Description: t.Description},
	}
}

func celRequestOf(in Input, dur time.Duration) *celRequest {
	return &celRequest{
		Target: in.Target, Duration: dur, DurationS: int64(dur / time.Second),
		Reason: in.Reason, Ticket: in.Ticket, Time: in.Time, Approvals: int64(in.Approvals),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
