package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jitaccess/jit/providers"
)

// Explanation traces how a decision was reached: every rule that names the
// target, what each of its checks made of the request, and the decision.
type Explanation struct {
	Principal string   `json:"principal"`
	Aliases   []string `json:"aliases,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Target    string   `json:"target"`
	// Provider is empty when the target does not exist.
	Provider string `json:"provider,omitempty"`
	// TargetMax and TargetDefault are the target's own durations.
	TargetMax     string `json:"target_max_duration,omitempty"`
	TargetDefault string `json:"target_default_duration,omitempty"`
	// Requested is the duration asked for; empty for the default.
	Requested   string      `json:"requested,omitempty"`
	Limit       string      `json:"limit,omitempty"`
	LimitReason string      `json:"limit_reason,omitempty"`
	Rules       []RuleTrace `json:"rules"`
	Decision    Decision    `json:"decision"`
}

// RuleTrace is one rule's part in an explanation.
type RuleTrace struct {
	Rule string `json:"rule"`
	Line int    `json:"line"`
	// Target is the target name or pattern of the rule that matched.
	Target string `json:"target"`
	// Subject is the subject that matched the principal; empty if none did,
	// in which case Subjects lists them and nothing else is checked.
	Subject  string   `json:"subject,omitempty"`
	Subjects []string `json:"subjects,omitempty"`
	Checks   []Check  `json:"checks,omitempty"`
	// Result is "allows", "denies", "does not apply" or "would allow with
	// reason, ticket" (the values still missing).
	Result string `json:"result"`
	// Decisive marks the rule that allowed the request.
	Decisive bool `json:"decisive,omitempty"`
}

// Check is one requirement of a rule against the request.
type Check struct {
	// Name is when, reason, ticket, approvals or duration.
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Explain evaluates in like Evaluate and says why: for each rule that names
// the target, whether its subjects match the principal (and by which
// pattern), the result of its `when`, each requirement and the duration
// against the limits.
func (p *Policy) Explain(in Input) Explanation {
	pv := p.view(in.Principal)
	d, evals := p.decide(in, pv, true)
	x := Explanation{
		Principal: in.Principal.ID, Aliases: in.Principal.Aliases, Groups: pv.groups,
		Target: in.Target, Requested: fmtDur(in.Duration),
		Limit: fmtDur(in.Limit), LimitReason: in.LimitReason,
		Rules: []RuleTrace{}, Decision: d,
	}
	if t := d.Target; t != nil {
		x.Provider = t.Provider
		x.TargetMax, x.TargetDefault = FormatDuration(t.MaxDuration), FormatDuration(t.DefaultDuration)
	}
	decided := false
	for _, e := range evals {
		rt := RuleTrace{Rule: e.rule.Name, Line: e.rule.Line, Target: e.target, Subject: e.subject}
		switch {
		case e.subject == "":
			rt.Subjects = e.rule.Subjects
			rt.Result = "does not apply"
		default:
			rt.Checks = traceChecks(e, in)
			switch {
			case e.allowed:
				rt.Result = "allows"
				if d.Allowed && !decided && d.Rule == e.rule.Name {
					rt.Decisive, decided = true, true
				}
			case e.fixable:
				rt.Result = "would allow with " + strings.Join(e.missing, ", ")
			default:
				rt.Result = "denies"
			}
		}
		x.Rules = append(x.Rules, rt)
	}
	return x
}

func traceChecks(e ruleEval, in Input) []Check {
	r := e.rule
	var out []Check
	if e.hasWhen {
		c := Check{Name: "when", OK: e.held, Detail: r.When}
		if e.whenErr != nil {
			c.Detail = r.When + " (failed: " + e.whenErr.Error() + ")"
		}
		out = append(out, c)
	}
	if r.Require.Reason {
		if strings.TrimSpace(in.Reason) == "" {
			out = append(out, Check{Name: "reason", Detail: "required, not given"})
		} else {
			out = append(out, Check{Name: "reason", OK: true, Detail: "given"})
		}
	}
	if r.Require.Ticket != "" {
		want := "required"
		if r.ticket != nil {
			want = "must match " + r.Require.Ticket
		}
		switch {
		case strings.TrimSpace(in.Ticket) == "":
			out = append(out, Check{Name: "ticket", Detail: want + ", not given"})
		case r.ticket != nil && !r.ticket.MatchString(in.Ticket):
			out = append(out, Check{Name: "ticket", Detail: fmt.Sprintf("%q does not match %s", in.Ticket, r.Require.Ticket)})
		default:
			out = append(out, Check{Name: "ticket", OK: true, Detail: fmt.Sprintf("%q", in.Ticket)})
		}
	}
	if need := r.Require.Approvals; need > 0 {
		out = append(out, Check{Name: "approvals", OK: in.Approvals >= need, Detail: fmt.Sprintf("%d of %d", in.Approvals, need)})
	}
	by := map[string]string{"rule": "the rule's max_duration", "target": "the target's max_duration", "limit": "the provider's limit"}[e.limitBy]
	if e.limitBy == "limit" && in.LimitReason != "" {
		by = in.LimitReason
	}
	asked := ""
	if in.Duration == 0 {
		asked = " (default)"
	}
	op := "<="
	if e.dur > e.max {
		op = ">"
	}
	out = append(out, Check{Name: "duration", OK: e.dur <= e.max,
		Detail: fmt.Sprintf("%s%s %s max %s, set by %s", FormatDuration(e.dur), asked, op, FormatDuration(e.max), by)})
	return out
}

// String renders the explanation for people, one fact per line.
func (x Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "principal: %s\n", x.Principal)
	if len(x.Aliases) > 0 {
		fmt.Fprintf(&b, "aliases:   %s\n", strings.Join(x.Aliases, ", "))
	}
	groups := "none"
	if len(x.Groups) > 0 {
		groups = strings.Join(x.Groups, ", ")
	}
	fmt.Fprintf(&b, "groups:    %s\n", groups)
	if x.Provider == "" {
		fmt.Fprintf(&b, "target:    %s (does not exist)\n", x.Target)
	} else {
		fmt.Fprintf(&b, "target:    %s (provider %s, max %s, default %s)\n", x.Target, x.Provider, x.TargetMax, x.TargetDefault)
	}
	req := x.Requested
	if req == "" {
		req = "the default"
	}
	fmt.Fprintf(&b, "duration:  %s", req)
	if x.Limit != "" {
		fmt.Fprintf(&b, " (provider limit %s", x.Limit)
		if x.LimitReason != "" {
			b.WriteString(": " + x.LimitReason)
		}
		b.WriteString(")")
	}
	b.WriteString("\n")
	if x.Provider != "" && len(x.Rules) == 0 {
		b.WriteString("no rule names this target\n")
	}
	for _, r := range x.Rules {
		fmt.Fprintf(&b, "rule %q (line %d): %s", r.Rule, r.Line, r.Result)
		if r.Decisive {
			b.WriteString(" <- decides")
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  ok    target matches %q\n", r.Target)
		if r.Subject == "" {
			fmt.Fprintf(&b, "  no    subject: none of %s matches\n", strings.Join(r.Subjects, ", "))
			continue
		}
		fmt.Fprintf(&b, "  ok    subject matches %q\n", r.Subject)
		for _, c := range r.Checks {
			mark := "no"
			if c.OK {
				mark = "ok"
			}
			fmt.Fprintf(&b, "  %-5s %s %s\n", mark, c.Name, c.Detail)
		}
	}
	d := x.Decision
	if d.Allowed {
		fmt.Fprintf(&b, "decision: allow by rule %q for %s (max %s)\n", d.Rule, FormatDuration(d.Duration), FormatDuration(d.MaxDuration))
		return b.String()
	}
	b.WriteString("decision: deny\n")
	for _, r := range d.Reasons {
		fmt.Fprintf(&b, "  - %s\n", r)
	}
	if len(d.Missing) > 0 {
		fmt.Fprintf(&b, "  would allow with: %s\n", strings.Join(d.Missing, ", "))
	}
	return b.String()
}

// TargetView is a target as one principal sees it, for `jit targets`.
type TargetView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Provider    string `json:"provider"`
	// Allowed says some rule would allow the principal now, possibly once
	// the values in Requires are given.
	Allowed bool `json:"allowed"`
	// MaxDuration is the longest grant the principal could get; 0 if none.
	MaxDuration     time.Duration `json:"-"`
	DefaultDuration time.Duration `json:"-"`
	// Rule is the first rule that would allow.
	Rule string `json:"rule,omitempty"`
	// Requires lists what that rule needs: reason, ticket, approval.
	Requires []string `json:"requires,omitempty"`
}

// TargetViews lists every target, sorted by name, with whether the
// principal may elevate to it at now (for the target's default duration)
// and what it would need.
func (p *Policy) TargetViews(pr providers.Principal, now time.Time) []TargetView {
	pv := p.view(pr)
	out := make([]TargetView, 0, len(p.names))
	for _, name := range p.names {
		t := p.Targets[name]
		v := TargetView{Name: name, Description: t.Description, Provider: t.Provider}
		d, _ := p.decide(Input{Principal: pr, Target: name, Time: now}, pv, false)
		v.MaxDuration = d.MaxDuration
		v.DefaultDuration = d.Duration
		if d.Rule != "" {
			v.Allowed, v.Rule, v.Requires = true, d.Rule, d.Missing
		}
		out = append(out, v)
	}
	return out
}

// MarshalJSON adds the durations in the policy's notation and in seconds.
func (v TargetView) MarshalJSON() ([]byte, error) {
	type plain TargetView
	return json.Marshal(struct {
		plain
		MaxDuration      string `json:"max_duration,omitempty"`
		MaxDurationS     int64  `json:"max_duration_s,omitempty"`
		DefaultDuration  string `json:"default_duration,omitempty"`
		DefaultDurationS int64  `json:"default_duration_s,omitempty"`
	}{plain(v), fmtDur(v.MaxDuration), int64(v.MaxDuration / time.Second), fmtDur(v.DefaultDuration), int64(v.DefaultDuration / time.Second)})
}
