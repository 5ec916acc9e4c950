package policy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

const evalPolicy = `version: 1
groups:
  sre: [alice@example.com, "arn:aws:iam::111111111111:user/*"]
  ci: ["repo:acme/*"]
targets:
  prod:
    provider: fake
    fake: {role: admin}
    max_duration: 4h
    default_duration: 1h
  staging-eu:
    provider: fake
    fake: {role: dev}
    max_duration: 8h
    default_duration: 2h
  staging-us:
    provider: fake
    fake: {role: dev}
  sandbox:
    provider: fake
    fake: {role: dev}
    max_duration: 1d
rules:
  - name: sre-prod
    subjects: ["group:sre", "arn:aws:sts::111111111111:assumed-role/*/bob@example.com"]
    targets: [prod]
    max_duration: 2h
    require:
      reason: true
      ticket: '^(CHG|INC)-[0-9]+$'
    when: 'request.time.getHours("UTC") >= 6'
  - name: sre-staging
    subjects: ["group:sre"]
    targets: ["staging-*", staging-eu]
  - name: oncall-prod
    subjects: [carol@example.com]
    targets: [prod]
    require: {approvals: 1}
  - name: ci-sandbox
    subjects: ["group:ci"]
    targets: [sandbox]
    when: 'principal.claims.repository == "acme/infra" && request.duration <= duration("30m")'
  - name: dave-any-ticket
    subjects: [dave@example.com]
    targets: [sandbox, prod]
    require: {ticket: true}
  - name: short-prod
    subjects: [dave@example.com]
    targets: [prod]
    max_duration: 30m
`

var (
	morning = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	night   = time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
)

func who(id string, aliases ...string) providers.Principal {
	return providers.Principal{ID: id, Aliases: aliases}
}

func TestEvaluate(t *testing.T) {
	p := mustParse(t, evalPolicy)
	alice := who("alice@example.com")
	tests := []struct {
		name string
		in   Input
		want Decision // Target is checked by name only
	}{
		{"allow with everything given",
			Input{Principal: alice, Target: "prod", Duration: time.Hour, Reason: "deploy", Ticket: "CHG-42", Time: morning},
			Decision{Allowed: true, Rule: "sre-prod", Duration: time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"no duration gets the target default",
			Input{Principal: alice, Target: "prod", Reason: "deploy", Ticket: "INC-7", Time: morning},
			Decision{Allowed: true, Rule: "sre-prod", Duration: time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"default capped to the provider limit",
			Input{Principal: alice, Target: "staging-eu", Time: morning, Limit: 90 * time.Minute, LimitReason: "role chaining"},
			Decision{Allowed: true, Rule: "sre-staging", Duration: 90 * time.Minute, MaxDuration: 90 * time.Minute, Groups: []string{"sre"}}},
		{"glob target",
			Input{Principal: alice, Target: "staging-us", Duration: 30 * time.Minute, Time: morning},
			Decision{Allowed: true, Rule: "sre-staging", Duration: 30 * time.Minute, MaxDuration: time.Hour, Groups: []string{"sre"}}},
		{"reason missing",
			Input{Principal: alice, Target: "prod", Ticket: "CHG-1", Time: morning},
			Decision{Rule: "sre-prod", Reasons: []string{`rule "sre-prod": reason required`}, Missing: []string{"reason"},
				Duration: time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"blank reason is no reason",
			Input{Principal: alice, Target: "prod", Reason: " \t", Ticket: "CHG-1", Time: morning},
			Decision{Rule: "sre-prod", Reasons: []string{`rule "sre-prod": reason required`}, Missing: []string{"reason"},
				Duration: time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"reason and ticket missing",
			Input{Principal: alice, Target: "prod", Time: morning},
			Decision{Rule: "sre-prod", Reasons: []string{`rule "sre-prod": reason required`, `rule "sre-prod": ticket required (must match ^(CHG|INC)-[0-9]+$)`},
				Missing: []string{"reason", "ticket"}, Duration: time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"ticket does not match",
			Input{Principal: alice, Target: "prod", Reason: "r", Ticket: "JIRA-1", Time: morning},
			Decision{Reasons: []string{`rule "sre-prod": ticket "JIRA-1" does not match ^(CHG|INC)-[0-9]+$`},
				Duration: time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"ticket regexp is anchored as written",
			Input{Principal: alice, Target: "prod", Reason: "r", Ticket: "xCHG-1", Time: morning},
			Decision{Reasons: []string{`rule "sre-prod": ticket "xCHG-1" does not match ^(CHG|INC)-[0-9]+$`},
				Duration: time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"duration above the rule max",
			Input{Principal: alice, Target: "prod", Duration: 3 * time.Hour, Reason: "r", Ticket: "CHG-1", Time: morning},
			Decision{Reasons: []string{`rule "sre-prod": duration 3h exceeds the maximum 2h`},
				Duration: 3 * time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"duration above the target max",
			Input{Principal: alice, Target: "staging-eu", Duration: 9 * time.Hour, Time: morning},
			Decision{Reasons: []string{`rule "sre-staging": duration 9h exceeds the maximum 8h`},
				Duration: 9 * time.Hour, MaxDuration: 8 * time.Hour, Groups: []string{"sre"}}},
		{"duration above the provider limit says why",
			Input{Principal: alice, Target: "prod", Duration: 2 * time.Hour, Reason: "r", Ticket: "CHG-1", Time: morning,
				Limit: time.Hour, LimitReason: "AWS role chaining limits sessions to 1h"},
			Decision{Reasons: []string{`rule "sre-prod": duration 2h exceeds the maximum 1h (AWS role chaining limits sessions to 1h)`},
				Duration: 2 * time.Hour, MaxDuration: time.Hour, Groups: []string{"sre"}}},
		{"every failure of a rule is listed",
			Input{Principal: alice, Target: "prod", Duration: 3 * time.Hour, Time: morning},
			Decision{Reasons: []string{`rule "sre-prod": reason required`, `rule "sre-prod": ticket required (must match ^(CHG|INC)-[0-9]+$)`,
				`rule "sre-prod": duration 3h exceeds the maximum 2h`}, Duration: 3 * time.Hour, MaxDuration: 2 * time.Hour, Groups: []string{"sre"}}},
		{"when does not hold at night",
			Input{Principal: alice, Target: "prod", Reason: "r", Ticket: "CHG-1", Time: night},
			Decision{Reasons: []string{`rule "sre-prod": when does not hold: request.time.getHours("UTC") >= 6`},
				Duration: time.Hour, Groups: []string{"sre"}}},
		{"glob subject over the id",
			Input{Principal: who("arn:aws:sts::111111111111:assumed-role/Admin/bob@example.com"), Target: "prod", Reason: "r", Ticket: "CHG-1", Time: morning},
			Decision{Allowed: true, Rule: "sre-prod", Duration: time.Hour, MaxDuration: 2 * time.Hour}},
		{"a glob's * crosses /",
			Input{Principal: who("arn:aws:sts::111111111111:assumed-role/a/b/bob@example.com"), Target: "prod", Reason: "r", Ticket: "CHG-1", Time: morning},
			Decision{Allowed: true, Rule: "sre-prod", Duration: time.Hour, MaxDuration: 2 * time.Hour}},
		{"a glob matches the whole name",
			Input{Principal: who("arn:aws:sts::111111111111:assumed-role/a/bob@example.com.evil"), Target: "prod", Reason: "r", Ticket: "CHG-1", Time: morning},
			Decision{Reasons: []string{"no rule grants arn:aws:sts::111111111111:assumed-role/a/bob@example.com.evil access to prod"}, Duration: time.Hour}},
		{"group through an alias",
			Input{Principal: who("arn:aws:sts::111111111111:assumed-role/SSO/alice@example.com", "alice@example.com"), Target: "staging-eu", Time: morning},
			Decision{Allowed: true, Rule: "sre-staging", Duration: 2 * time.Hour, MaxDuration: 8 * time.Hour, Groups: []string{"sre"}}},
		{"group through a glob member",
			Input{Principal: who("arn:aws:iam::111111111111:user/zed"), Target: "staging-eu", Time: morning},
			Decision{Allowed: true, Rule: "sre-staging", Duration: 2 * time.Hour, MaxDuration: 8 * time.Hour, Groups: []string{"sre"}}},
		{"groups claimed by the caller are ignored",
			Input{Principal: providers.Principal{ID: "eve@example.com", Groups: []string{"sre"}}, Target: "staging-eu", Time: morning},
			Decision{Reasons: []string{"no rule grants eve@example.com access to staging-eu"}, Duration: 2 * time.Hour}},
		{"nobody",
			Input{Principal: who("eve@example.com"), Target: "prod", Time: morning},
			Decision{Reasons: []string{"no rule grants eve@example.com access to prod"}, Duration: time.Hour}},
		{"unknown target",
			Input{Principal: alice, Target: "prdo", Time: morning},
			Decision{Reasons: []string{`unknown target "prdo" (known: prod, sandbox, staging-eu, staging-us)`}, Groups: []string{"sre"}}},
		{"needs approval",
			Input{Principal: who("carol@example.com"), Target: "prod", Time: morning},
			Decision{Rule: "oncall-prod", Reasons: []string{`rule "oncall-prod": needs 1 approval`}, Missing: []string{"approval"}, Duration: time.Hour, MaxDuration: 4 * time.Hour}},
		{"approved",
			Input{Principal: who("carol@example.com"), Target: "prod", Duration: 4 * time.Hour, Approvals: 1, Time: morning},
			Decision{Allowed: true, Rule: "oncall-prod", Duration: 4 * time.Hour, MaxDuration: 4 * time.Hour}},
		{"cel over claims and duration",
			Input{Principal: providers.Principal{ID: "repo:acme/infra", Claims: map[string]any{"repository": "acme/infra"}}, Target: "sandbox", Duration: 30 * time.Minute, Time: morning},
			Decision{Allowed: true, Rule: "ci-sandbox", Duration: 30 * time.Minute, MaxDuration: 24 * time.Hour, Groups: []string{"ci"}}},
		{"cel duration too long",
			Input{Principal: providers.Principal{ID: "repo:acme/infra", Claims: map[string]any{"repository": "acme/infra"}}, Target: "sandbox", Duration: time.Hour, Time: morning},
			Decision{Reasons: []string{`rule "ci-sandbox": when does not hold: principal.claims.repository == "acme/infra" && request.duration <= duration("30m")`},
				Duration: time.Hour, Groups: []string{"ci"}}},
		{"cel error is a deny with the error",
			Input{Principal: providers.Principal{ID: "repo:acme/web"}, Target: "sandbox", Duration: 30 * time.Minute, Time: morning},
			Decision{Reasons: []string{`rule "ci-sandbox": when failed: no such key: repository`}, Duration: 30 * time.Minute, Groups: []string{"ci"}}},
		{"first allowing rule wins",
			Input{Principal: who("dave@example.com"), Target: "prod", Duration: 20 * time.Minute, Ticket: "T-1", Time: morning},
			Decision{Allowed: true, Rule: "dave-any-ticket", Duration: 20 * time.Minute, MaxDuration: 4 * time.Hour}},
		{"a later rule allows when an earlier one does not",
			Input{Principal: who("dave@example.com"), Target: "prod", Duration: 20 * time.Minute, Time: morning},
			Decision{Allowed: true, Rule: "short-prod", Duration: 20 * time.Minute, MaxDuration: 4 * time.Hour}},
		{"default is capped per rule",
			Input{Principal: who("dave@example.com"), Target: "prod", Time: morning},
			Decision{Allowed: true, Rule: "short-prod", Duration: 30 * time.Minute, MaxDuration: 4 * time.Hour}},
		{"reasons of every matching rule",
			Input{Principal: who("dave@example.com"), Target: "prod", Duration: time.Hour, Time: morning},
			Decision{Rule: "dave-any-ticket", Reasons: []string{`rule "dave-any-ticket": ticket required`, `rule "short-prod": duration 1h exceeds the maximum 30m`},
				Missing: []string{"ticket"}, Duration: time.Hour, MaxDuration: 4 * time.Hour}},
		{"negative duration",
			Input{Principal: alice, Target: "prod", Duration: -time.Minute, Time: morning},
			Decision{Reasons: []string{"duration -1m must be positive"}, Groups: []string{"sre"}}},
		{"principal without id",
			Input{Target: "prod", Time: morning},
			Decision{Reasons: []string{"the principal has no id"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Evaluate(tt.in)
			if _, known := p.Targets[tt.in.Target]; known != (got.Target != nil) || got.Target != nil && got.Target.Name != tt.in.Target {
				t.Errorf("Target = %+v", got.Target)
			}
			got.Target = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %#v\nwant %#v", got, tt.want)
			}
			if got.NeedsApproval() != (tt.name == "needs approval") {
				t.Errorf("NeedsApproval = %v", got.NeedsApproval())
			}
		})
	}
}

// TestMissingNamesOneRule checks that a denial names one rule that would
// allow and exactly what it needs, preferring a rule that needs no
// approval, so the CLI asks for the least.
func TestMissingNamesOneRule(t *testing.T) {
	p := mustParse(t, `version: 1
targets:
  prod: {provider: fake, fake: {role: r}}
rules:
  - {name: approve, subjects: [x], targets: [prod], require: {approvals: 1, reason: true}}
  - {name: why, subjects: [x], targets: [prod], require: {reason: true}}
  - {name: ticket, subjects: [x], targets: [prod], require: {ticket: true}}
  - {name: never, subjects: [x], targets: [prod], when: 'false', require: {reason: true}}
`)
	d := p.Evaluate(Input{Principal: who("x"), Target: "prod"})
	if d.Allowed || d.Rule != "why" || !reflect.DeepEqual(d.Missing, []string{"reason"}) || d.NeedsApproval() || len(d.Reasons) != 6 {
		t.Errorf("decision = %+v", d)
	}
	// With a reason, "approve" still needs its approval but "why" allows.
	if d := p.Evaluate(Input{Principal: who("x"), Target: "prod", Reason: "r"}); !d.Allowed || d.Rule != "why" {
		t.Errorf("decision = %+v", d)
	}
	only := mustParse(t, `version: 1
targets:
  prod: {provider: fake, fake: {role: r}}
rules:
  - {name: approve, subjects: [x], targets: [prod], require: {approvals: 2, reason: true}}
`)
	d = only.Evaluate(Input{Principal: who("x"), Target: "prod", Reason: "r", Approvals: 1})
	if d.Rule != "approve" || !d.NeedsApproval() {
		t.Errorf("decision = %+v", d)
	}
}

func TestGroupsOf(t *testing.T) {
	p := mustParse(t, `version: 1
groups:
  a: [x@example.com, "*@contractors.example"]
  b: [x@example.com]
  c: [y]
`)
	tests := []struct {
		pr   providers.Principal
		want []string
	}{
		{who("x@example.com"), []string{"a", "b"}},
		{who("arn:...", "x@example.com"), []string{"a", "b"}},
		{who("bob@contractors.example"), []string{"a"}},
		{who("z", "y", "q@contractors.example"), []string{"a", "c"}},
		{who("nobody"), nil},
		{who("", ""), nil},
	}
	for _, tt := range tests {
		if got := p.GroupsOf(tt.pr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("GroupsOf(%v) = %q, want %q", tt.pr.Names(), got, tt.want)
		}
	}
}

func TestDecisionJSON(t *testing.T) {
	p := mustParse(t, evalPolicy)
	d := p.Evaluate(Input{Principal: who("dave@example.com"), Target: "prod", Duration: 90 * time.Minute, Time: morning})
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"allowed":false,"rule":"dave-any-ticket","reasons":["rule \"dave-any-ticket\": ticket required","rule \"short-prod\": duration 1h30m exceeds the maximum 30m"],` +
		`"missing":["ticket"],"duration":"1h30m","duration_s":5400,"max_duration":"4h","max_duration_s":14400,"target":"prod"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// naiveGlob matches the patterns TestIndexMatchesNaive writes (literals, *
// and ?) through an equivalent regular expression.
func naiveGlob(pat, s string) bool {
	re := regexp.QuoteMeta(pat)
	re = strings.ReplaceAll(strings.ReplaceAll(re, `\*`, ".*"), `\?`, ".")
	return regexp.MustCompile("^(?s:" + re + ")$").MatchString(s)
}

// TestIndexMatchesNaive checks the index against the obvious scan over
// every rule on random policies: for random principals and targets, the
// rules a decision considers are exactly, and in the same order, those
// whose subjects match the principal and whose targets match the target.
func TestIndexMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	envs := []string{"prod", "stage", "dev"}
	for round := range 40 {
		var b strings.Builder
		b.WriteString("version: 1\ngroups:\n")
		for g := range 5 {
			fmt.Fprintf(&b, "  g%d: [u%d, u%d, \"x%d*\"]\n", g, rng.IntN(10), rng.IntN(10), g)
		}
		b.WriteString("targets:\n")
		var names []string
		for i := range 30 {
			n := fmt.Sprintf("%s-%d", envs[i%3], i)
			names = append(names, n)
			fmt.Fprintf(&b, "  %s: {provider: fake, fake: {role: r}}\n", n)
		}
		b.WriteString("rules:\n")
		// Some rounds have many rules per target, others many per subject,
		// so that both ways through the index are taken.
		wideTargets := round%2 == 0
		for i := range 60 {
			var tg, sj []string
			for range 1 + rng.IntN(3) {
				switch k := rng.IntN(6); {
				case k == 0 || wideTargets && k < 3:
					tg = append(tg, `"`+envs[rng.IntN(3)]+`-*"`)
				case k == 3:
					tg = append(tg, `"*-1?"`)
				default:
					tg = append(tg, names[rng.IntN(len(names))])
				}
				switch k := rng.IntN(6); {
				case k == 0 || !wideTargets && k < 3:
					sj = append(sj, `"u*"`)
				case k == 3:
					sj = append(sj, fmt.Sprintf(`"group:g%d"`, rng.IntN(5)))
				case k == 4:
					sj = append(sj, fmt.Sprintf(`"x%d?"`, rng.IntN(5)))
				default:
					sj = append(sj, fmt.Sprintf("u%d", rng.IntN(10)))
				}
			}
			fmt.Fprintf(&b, "  - {name: r%d, subjects: [%s], targets: [%s]}\n", i, strings.Join(sj, ", "), strings.Join(tg, ", "))
		}
		p := mustParse(t, b.String())
		for range 20 {
			pr := who(fmt.Sprintf("u%d", rng.IntN(12)), fmt.Sprintf("x%d%d", rng.IntN(6), rng.IntN(3)))
			target := names[rng.IntN(len(names))]
			groups := p.GroupsOf(pr)
			var want []string
			for _, r := range p.Rules {
				subj := slices.ContainsFunc(r.Subjects, func(s string) bool {
					if g, ok := strings.CutPrefix(s, "group:"); ok {
						return slices.Contains(groups, g)
					}
					return slices.ContainsFunc(pr.Names(), func(n string) bool { return naiveGlob(s, n) })
				})
				tgt := slices.ContainsFunc(r.Targets, func(pat string) bool { return naiveGlob(pat, target) })
				if subj && tgt {
					want = append(want, r.Name)
				}
			}
			for _, all := range []bool{false, true} {
				_, evals := p.decide(Input{Principal: pr, Target: target, Time: morning}, p.view(pr), all)
				var got []string
				for _, e := range evals {
					if e.subject != "" {
						got = append(got, e.rule.Name)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("round %d, %v on %s (all=%v): rules %v, want %v", round, pr.Names(), target, all, got, want)
				}
			}
		}
	}
}

// TestEvaluateConcurrently runs decisions from many goroutines; with -race
// it proves a parsed policy (CEL programs included) is safe to share.
func TestEvaluateConcurrently(t *testing.T) {
	p := mustParse(t, evalPolicy)
	in := Input{Principal: who("alice@example.com"), Target: "prod", Reason: "r", Ticket: "CHG-1", Time: morning}
	done := make(chan Decision)
	for range 8 {
		go func() {
			var d Decision
			for range 50 {
				d = p.Evaluate(in)
				p.Explain(in)
			}
			done <- d
		}()
	}
	for range 8 {
		if d := <-done; !d.Allowed || d.Rule != "sre-prod" {
			t.Errorf("decision = %+v", d)
		}
	}
}
