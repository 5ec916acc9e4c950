package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/providers"
)

// TestCase is one policy test: a request and the decision it must get.
//
// In the file a case reads:
//
//   - name: alice may use prod for an hour
//     principal: alice@example.com          # or {id, source, account, aliases, groups, claims}
//     target: prod
//     duration: 1h                          # optional; default: the target's default
//     reason: CHG-42                        # optional
//     ticket: CHG-42                        # optional
//     approvals: 1                          # optional
//     time: 2026-01-05T09:00:00Z            # optional; default: when the tests run
//     expect: allow                         # allow or deny
//     rule: sre-prod                        # optional: the rule that must allow
//
// A principal's groups are not an input: membership comes from the policy.
// Given in a case, they are an expectation the computed groups must equal.
type TestCase struct {
	Name      string              `json:"name"`
	Principal providers.Principal `json:"principal"`
	// Groups is true when the case states the principal's groups.
	Groups    bool       `json:"-"`
	Target    string     `json:"target"`
	Duration  string     `json:"duration,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Ticket    string     `json:"ticket,omitempty"`
	Approvals int        `json:"approvals,omitempty"`
	Time      *time.Time `json:"time,omitempty"`
	// Expect is "allow" or "deny".
	Expect string `json:"expect"`
	// Rule, with expect: allow, is the rule that must decide.
	Rule string `json:"rule,omitempty"`
	Line int    `json:"line"`
}

// Expectations a test case may state.
const (
	ExpectAllow = "allow"
	ExpectDeny  = "deny"
)

var caseKeys = []string{"name", "principal", "target", "duration", "reason", "ticket", "approvals", "time", "expect", "rule"}

// ParseTests parses policy test cases: a top-level list of cases, or a
// mapping with the list under "cases". Keys are checked strictly; on failure
// the error is an *Errors with every problem and its position.
func ParseTests(data []byte, file string) ([]TestCase, error) {
	c := &collector{file: file}
	root := parseDocument(c, data)
	if root == nil {
		return nil, c.err()
	}
	list := root
	if root.Kind == yaml.MappingNode {
		if len(root.Content) == 0 {
			return nil, nil // an empty file
		}
		f, ok := fields(c, root, "", "cases")
		if !ok {
			return nil, c.err()
		}
		cs, ok := f["cases"]
		if !ok {
			if len(c.errs) == 0 {
				c.at(root, "cases is required: list the test cases")
			}
			return nil, c.err()
		}
		list = resolve(cs.v)
	}
	if isNull(list) {
		return nil, c.err()
	}
	if list.Kind != yaml.SequenceNode {
		c.at(list, "expected a list of test cases, not "+kindName(list))
		return nil, c.err()
	}
	var out []TestCase
	seen := map[string]int{}
	for i, item := range list.Content {
		item = resolve(item)
		tc, ok := parseCase(c, item, i)
		if !ok {
			continue
		}
		if first, dup := seen[tc.Name]; dup {
			c.at(item, fmt.Sprintf("duplicate test name %q (first at line %d)", tc.Name, first))
			continue
		}
		seen[tc.Name] = tc.Line
		out = append(out, tc)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseCase(c *collector, n *yaml.Node, i int) (TestCase, bool) {
	ctx := fmt.Sprintf("test #%d: ", i+1)
	tc := TestCase{Line: n.Line}
	if isNull(n) {
		c.at(n, ctx+"empty test case")
		return tc, false
	}
	errs := len(c.errs)
	f, ok := fields(c, n, ctx, caseKeys...)
	if !ok {
		return tc, false
	}
	if v, ok := f["name"]; ok {
		tc.Name, _ = scalar(c, v.v, ctx, "name")
	}
	if tc.Name == "" {
		tc.Name = fmt.Sprintf("test #%d (line %d)", i+1, n.Line)
	} else {
		ctx = fmt.Sprintf("test %q: ", tc.Name)
	}
	str := func(key string, dst *string) {
		if v, ok := f[key]; ok {
			*dst, _ = scalar(c, v.v, ctx, key)
		}
	}
	str("target", &tc.Target)
	str("duration", &tc.Duration)
	str("reason", &tc.Reason)
	str("ticket", &tc.Ticket)
	str("expect", &tc.Expect)
	str("rule", &tc.Rule)
	if v, ok := f["principal"]; !ok {
		c.at(n, ctx+"principal is required")
	} else {
		tc.Principal, tc.Groups = parsePrincipal(c, v.v, ctx)
	}
	if tc.Target == "" {
		at := n
		if v, ok := f["target"]; ok {
			at = v.v
		}
		c.at(at, ctx+"target is required")
	}
	if tc.Duration != "" {
		if d, err := ParseDuration(tc.Duration); err != nil {
			c.at(f["duration"].v, ctx+"duration: "+err.Error())
		} else if d <= 0 {
			c.at(f["duration"].v, fmt.Sprintf("%sduration must be positive, not %s", ctx, tc.Duration))
		}
	}
	if v, ok := f["approvals"]; ok {
		if a, ok := integer(c, v.v, ctx, "approvals"); ok {
			if a < 0 {
				c.at(v.v, ctx+"approvals must be 0 or more")
			}
			tc.Approvals = a
		}
	}
	if v, ok := f["time"]; ok {
		if s, ok := scalar(c, v.v, ctx, "time"); ok {
			if t, err := parseTime(s); err != nil {
				c.at(v.v, fmt.Sprintf("%stime: invalid time %q: use RFC 3339, e.g. 2026-01-05T09:00:00Z", ctx, s))
			} else {
				tc.Time = &t
			}
		}
	}
	switch v, ok := f["expect"]; {
	case !ok:
		c.at(n, ctx+"expect is required: allow or deny")
	case tc.Expect != ExpectAllow && tc.Expect != ExpectDeny:
		c.at(v.v, fmt.Sprintf("%sexpect must be allow or deny, not %q", ctx, tc.Expect))
	case tc.Rule != "" && tc.Expect != ExpectAllow:
		c.at(f["rule"].k, ctx+"rule names the allowing rule, so it needs expect: allow")
	}
	return tc, len(c.errs) == errs
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// yaml.v3 renders an unquoted timestamp with a space separator.
	if t, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

func parsePrincipal(c *collector, n *yaml.Node, ctx string) (providers.Principal, bool) {
	var pr providers.Principal
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		pr.ID = n.Value
		return pr, false
	}
	pctx := ctx + "principal: "
	f, ok := fields(c, n, pctx, "id", "source", "account", "aliases", "groups", "claims")
	if !ok {
		return pr, false
	}
	str := func(key string, dst *string) {
		if v, ok := f[key]; ok {
			*dst, _ = scalar(c, v.v, pctx, key)
		}
	}
	str("id", &pr.ID)
	str("source", &pr.Source)
	str("account", &pr.Account)
	if pr.ID == "" {
		c.at(n, pctx+"id is required")
	}
	if v, ok := f["aliases"]; ok {
		pr.Aliases, _, _ = stringList(c, v.v, pctx, "aliases")
	}
	groups := false
	if v, ok := f["groups"]; ok {
		g, _, _ := stringList(c, v.v, pctx, "groups")
		pr.Groups, groups = nonNil(g), true
		slices.Sort(pr.Groups)
	}
	if v, ok := f["claims"]; ok && !isNull(v.v) {
		cn := resolve(v.v)
		var claims map[string]any
		if cn.Kind != yaml.MappingNode {
			c.at(cn, pctx+"claims must be a mapping, not "+kindName(cn))
		} else if err := cn.Decode(&claims); err != nil {
			reportDecodeError(c, cn, err, pctx+"claims: ")
		} else {
			pr.Claims = claims
		}
	}
	return pr, groups
}

// TestResult is the outcome of one test case.
type TestResult struct {
	Case   TestCase `json:"case"`
	Passed bool     `json:"passed"`
	Got    Decision `json:"got"`
	// Problem says, when the case failed, what differed.
	Problem string `json:"problem,omitempty"`
}

// RunTests evaluates each case against the policy; cases without a time run
// at now. A case whose target is not in the policy fails whatever it
// expects, since a misspelt target would otherwise pass every deny test.
func (p *Policy) RunTests(cases []TestCase, now time.Time) []TestResult {
	out := make([]TestResult, 0, len(cases))
	for _, tc := range cases {
		out = append(out, p.runTest(tc, now))
	}
	return out
}

func (p *Policy) runTest(tc TestCase, now time.Time) TestResult {
	res := TestResult{Case: tc}
	in := Input{Principal: tc.Principal, Target: tc.Target, Reason: tc.Reason, Ticket: tc.Ticket, Approvals: tc.Approvals, Time: now}
	in.Principal.Groups = nil
	if tc.Time != nil {
		in.Time = *tc.Time
	}
	if tc.Duration != "" {
		d, err := ParseDuration(tc.Duration)
		if err != nil {
			res.Problem = err.Error()
			return res
		}
		in.Duration = d
	}
	res.Got = p.Evaluate(in)
	var problems []string
	switch {
	case res.Got.Target == nil:
		problems = append(problems, fmt.Sprintf("target %q does not exist (known: %s)", tc.Target, knownList(p.names)))
	case tc.Expect == ExpectAllow && !res.Got.Allowed:
		problems = append(problems, "expected allow, got deny: "+strings.Join(res.Got.Reasons, "; "))
	case tc.Expect == ExpectDeny && res.Got.Allowed:
		problems = append(problems, fmt.Sprintf("expected deny, got allow by rule %q", res.Got.Rule))
	case tc.Expect == ExpectAllow && tc.Rule != "" && res.Got.Rule != tc.Rule:
		problems = append(problems, fmt.Sprintf("expected rule %q to allow, got rule %q", tc.Rule, res.Got.Rule))
	}
	if tc.Groups && !slices.Equal(nonNil(res.Got.Groups), tc.Principal.Groups) {
		problems = append(problems, fmt.Sprintf("expected groups [%s], got [%s]", strings.Join(tc.Principal.Groups, ", "), strings.Join(res.Got.Groups, ", ")))
	}
	res.Problem = strings.Join(problems, "; ")
	res.Passed = len(problems) == 0
	return res
}
