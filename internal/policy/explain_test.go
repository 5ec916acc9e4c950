package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

func TestExplainString(t *testing.T) {
	p := mustParse(t, evalPolicy)
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"deny with several rules",
			Input{Principal: who("dave@example.com", "dave"), Target: "prod", Duration: time.Hour, Time: morning},
			`principal: dave@example.com
aliases:   dave
groups:    none
target:    prod (provider fake, max 4h, default 1h)
duration:  1h
rule "sre-prod" (line 24): does not apply
  ok    target matches "prod"
  no    subject: none of group:sre, arn:aws:sts::111111111111:assumed-role/*/bob@example.com matches
rule "oncall-prod" (line 35): does not apply
  ok    target matches "prod"
  no    subject: none of carol@example.com matches
rule "dave-any-ticket" (line 43): would allow with ticket
  ok    target matches "prod"
  ok    subject matches "dave@example.com"
  no    ticket required, not given
  ok    duration 1h <= max 4h, set by the target's max_duration
rule "short-prod" (line 47): denies
  ok    target matches "prod"
  ok    subject matches "dave@example.com"
  no    duration 1h > max 30m, set by the rule's max_duration
decision: deny
  - rule "dave-any-ticket": ticket required
  - rule "short-prod": duration 1h exceeds the maximum 30m
  would allow with: ticket
`},
		{"allow with when and a provider limit",
			Input{Principal: who("alice@example.com"), Target: "prod", Reason: "r", Ticket: "CHG-1", Time: morning, Limit: 45 * time.Minute, LimitReason: "role chaining"},
			`principal: alice@example.com
groups:    sre
target:    prod (provider fake, max 4h, default 1h)
duration:  the default (provider limit 45m: role chaining)
rule "sre-prod" (line 24): allows <- decides
  ok    target matches "prod"
  ok    subject matches "group:sre"
  ok    when request.time.getHours("UTC") >= 6
  ok    reason given
  ok    ticket "CHG-1"
  ok    duration 45m (default) <= max 45m, set by role chaining
rule "oncall-prod" (line 35): does not apply
  ok    target matches "prod"
  no    subject: none of carol@example.com matches
rule "dave-any-ticket" (line 43): does not apply
  ok    target matches "prod"
  no    subject: none of dave@example.com matches
rule "short-prod" (line 47): does not apply
  ok    target matches "prod"
  no    subject: none of dave@example.com matches
decision: allow by rule "sre-prod" for 45m (max 45m)
`},
		{"glob target, when failing and approvals",
			Input{Principal: who("repo:acme/web"), Target: "sandbox", Duration: 10 * time.Minute, Time: morning},
			`principal: repo:acme/web
groups:    ci
target:    sandbox (provider fake, max 1d, default 1h)
duration:  10m
rule "ci-sandbox" (line 39): denies
  ok    target matches "sandbox"
  ok    subject matches "group:ci"
  no    when principal.claims.repository == "acme/infra" && request.duration <= duration("30m") (failed: no such key: repository)
  ok    duration 10m <= max 1d, set by the target's max_duration
rule "dave-any-ticket" (line 43): does not apply
  ok    target matches "sandbox"
  no    subject: none of dave@example.com matches
decision: deny
  - rule "ci-sandbox": when failed: no such key: repository
`},
		{"unknown target",
			Input{Principal: who("alice@example.com"), Target: "nope", Time: morning},
			`principal: alice@example.com
groups:    sre
target:    nope (does not exist)
duration:  the default
decision: deny
  - unknown target "nope" (known: prod, sandbox, staging-eu, staging-us)
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Explain(tt.in).String()
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			// Explain never decides differently from Evaluate.
			e, d := p.Explain(tt.in).Decision, p.Evaluate(tt.in)
			if !reflect.DeepEqual(e, d) {
				t.Errorf("Explain decision %+v != Evaluate %+v", e, d)
			}
		})
	}
}

func TestExplainApprovalsAndNoRules(t *testing.T) {
	p := mustParse(t, `version: 1
targets:
  prod: {provider: fake, fake: {role: r}}
  lonely: {provider: fake, fake: {role: r}}
rules:
  - {name: two-eyes, subjects: [carol], targets: [prod], require: {approvals: 2}}
`)
	x := p.Explain(Input{Principal: who("carol"), Target: "prod", Approvals: 1})
	want := []Check{
		{Name: "approvals", OK: false, Detail: "1 of 2"},
		{Name: "duration", OK: true, Detail: "1h (default) <= max 1h, set by the target's max_duration"},
	}
	if len(x.Rules) != 1 || !reflect.DeepEqual(x.Rules[0].Checks, want) || x.Rules[0].Result != "would allow with approval" {
		t.Errorf("rules = %+v", x.Rules)
	}
	if got := x.Decision.Reasons; len(got) != 1 || got[0] != `rule "two-eyes": needs 2 approvals (1 given)` {
		t.Errorf("reasons = %q", got)
	}
	s := p.Explain(Input{Principal: who("carol"), Target: "lonely"}).String()
	if want := "no rule names this target\ndecision: deny\n  - no rule grants carol access to lonely\n"; !strings.HasSuffix(s, want) {
		t.Errorf("got:\n%s", s)
	}
}

func TestExplainJSON(t *testing.T) {
	p := mustParse(t, evalPolicy)
	x := p.Explain(Input{Principal: providers.Principal{ID: "carol@example.com"}, Target: "prod", Duration: 2 * time.Hour, Time: morning})
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Principal string `json:"principal"`
		Target    string `json:"target"`
		Requested string `json:"requested"`
		Rules     []struct {
			Rule, Subject, Result string
			Checks                []Check
		} `json:"rules"`
		Decision struct {
			Allowed      bool     `json:"allowed"`
			Missing      []string `json:"missing"`
			MaxDurationS int64    `json:"max_duration_s"`
		} `json:"decision"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Principal != "carol@example.com" || back.Target != "prod" || back.Requested != "2h" || len(back.Rules) != 4 {
		t.Fatalf("json = %s", b)
	}
	if r := back.Rules[1]; r.Rule != "oncall-prod" || r.Subject != "carol@example.com" || r.Result != "would allow with approval" || len(r.Checks) != 2 {
		t.Errorf("rule = %+v", r)
	}
	if back.Decision.Allowed || !reflect.DeepEqual(back.Decision.Missing, []string{"approval"}) || back.Decision.MaxDurationS != 4*3600 {
		t.Errorf("decision = %+v", back.Decision)
	}
}

func TestTargetViews(t *testing.T) {
	p := mustParse(t, evalPolicy)
	got := p.TargetViews(who("alice@example.com"), morning)
	want := []TargetView{
		{Name: "prod", Provider: "fake", Allowed: true, MaxDuration: 2 * time.Hour, DefaultDuration: time.Hour, Rule: "sre-prod", Requires: []string{"reason", "ticket"}},
		{Name: "sandbox", Provider: "fake", DefaultDuration: time.Hour},
		{Name: "staging-eu", Provider: "fake", Allowed: true, MaxDuration: 8 * time.Hour, DefaultDuration: 2 * time.Hour, Rule: "sre-staging"},
		{Name: "staging-us", Provider: "fake", Allowed: true, MaxDuration: time.Hour, DefaultDuration: time.Hour, Rule: "sre-staging"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
	// At night the `when` of sre-prod does not hold: prod is not available.
	night := p.TargetViews(who("alice@example.com"), night)
	if night[0].Allowed || night[0].MaxDuration != 0 {
		t.Errorf("prod at night = %+v", night[0])
	}
	carol := p.TargetViews(who("carol@example.com"), morning)
	if v := carol[0]; !v.Allowed || v.Rule != "oncall-prod" || !reflect.DeepEqual(v.Requires, []string{"approval"}) || v.MaxDuration != 4*time.Hour {
		t.Errorf("carol prod = %+v", v)
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"prod","provider":"fake","allowed":true,"rule":"sre-prod","requires":["reason","ticket"],"max_duration":"2h","max_duration_s":7200,"default_duration":"1h","default_duration_s":3600}`; string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
}
