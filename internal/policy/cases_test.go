package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

func TestParseTests(t *testing.T) {
	src := `cases:
  - name: alice in the morning
    principal: alice@example.com
    target: prod
    duration: 1h
    reason: deploy
    ticket: CHG-1
    time: 2026-03-02T09:00:00Z
    expect: allow
    rule: sre-prod
  - principal:
      id: "arn:aws:sts::1:assumed-role/SSO/alice@example.com"
      source: aws
      account: "1"
      aliases: [alice@example.com]
      groups: [sre]
      claims: {repository: acme/infra, run: 3}
    target: staging-eu
    approvals: 2
    time: "2026-03-02"
    expect: deny
`
	got, err := ParseTests([]byte(src), "jit_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	t2 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	want := []TestCase{
		{Name: "alice in the morning", Principal: providers.Principal{ID: "alice@example.com"}, Target: "prod", Duration: "1h",
			Reason: "deploy", Ticket: "CHG-1", Time: &t1, Expect: "allow", Rule: "sre-prod", Line: 2},
		{Name: "test #2 (line 11)", Principal: providers.Principal{ID: "arn:aws:sts::1:assumed-role/SSO/alice@example.com", Source: "aws", Account: "1",
			Aliases: []string{"alice@example.com"}, Groups: []string{"sre"}, Claims: map[string]any{"repository": "acme/infra", "run": 3}},
			Groups: true, Target: "staging-eu", Approvals: 2, Time: &t2, Expect: "deny", Line: 11},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d cases", len(got))
	}
	for i := range want {
		if !got[i].Time.Equal(*want[i].Time) {
			t.Errorf("case %d time = %v", i, got[i].Time)
		}
		got[i].Time, want[i].Time = nil, nil
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("case %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// A bare list is accepted too.
	list, err := ParseTests([]byte("- {principal: a, target: t, expect: deny}\n"), "x.yaml")
	if err != nil || len(list) != 1 || list[0].Principal.ID != "a" || list[0].Name != "test #1 (line 1)" {
		t.Errorf("bare list: %+v, %v", list, err)
	}
	if none, err := ParseTests(nil, "x.yaml"); err != nil || len(none) != 0 {
		t.Errorf("empty file: %+v, %v", none, err)
	}
}

func TestParseTestsErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown key", "- {principal: a, target: t, expect: deny, expected: allow}\n",
			`t.yaml:1:43: test #1: unknown key "expected" (known: approvals, duration, expect, name, principal, reason, rule, target, ticket, time)`},
		{"unknown top key", "tests: []\n", `t.yaml:1:1: unknown key "tests" (known: cases)`},
		{"missing everything", "- name: x\n", "t.yaml:1:3: test \"x\": principal is required\n" +
			"t.yaml:1:3: test \"x\": target is required\nt.yaml:1:3: test \"x\": expect is required: allow or deny"},
		{"bad expect", "- {principal: a, target: t, expect: maybe}\n", `t.yaml:1:37: test #1: expect must be allow or deny, not "maybe"`},
		{"rule with deny", "- {principal: a, target: t, expect: deny, rule: r}\n", `t.yaml:1:43: test #1: rule names the allowing rule, so it needs expect: allow`},
		{"bad duration", "- {principal: a, target: t, expect: deny, duration: 5}\n",
			`t.yaml:1:53: test #1: duration: invalid duration "5": use a Go duration such as 15m, 1h30m or 2d`},
		{"zero duration", "- {principal: a, target: t, expect: deny, duration: 0s}\n", `t.yaml:1:53: test #1: duration must be positive, not 0s`},
		{"bad time", "- {principal: a, target: t, expect: deny, time: tomorrow}\n",
			`t.yaml:1:49: test #1: time: invalid time "tomorrow": use RFC 3339, e.g. 2026-01-05T09:00:00Z`},
		{"principal without id", "- {principal: {aliases: [x]}, target: t, expect: deny}\n", `t.yaml:1:15: test #1: principal: id is required`},
		{"principal unknown key", "- {principal: {id: a, group: [x]}, target: t, expect: deny}\n",
			`t.yaml:1:23: test #1: principal: unknown key "group" (known: account, aliases, claims, groups, id, source)`},
		{"claims not a map", "- {principal: {id: a, claims: [x]}, target: t, expect: deny}\n", `t.yaml:1:31: test #1: principal: claims must be a mapping, not a list`},
		{"duplicate names", "- {name: n, principal: a, target: t, expect: deny}\n- {name: n, principal: a, target: t, expect: deny}\n",
			`t.yaml:2:3: duplicate test name "n" (first at line 1)`},
		{"not a list", "cases: {a: b}\n", `t.yaml:1:8: expected a list of test cases, not a mapping`},
		{"empty case", "- \n", `t.yaml:1:2: test #1: empty test case`},
		{"syntax", "- {principal: a\n", `t.yaml:1: invalid YAML: did not find expected ',' or '}'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTests([]byte(tt.src), "t.yaml")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
		})
	}
}

func TestRunTests(t *testing.T) {
	p := mustParse(t, evalPolicy)
	cases, err := ParseTests([]byte(`
- {name: pass allow, principal: alice@example.com, target: prod, reason: r, ticket: CHG-1, expect: allow, rule: sre-prod}
- {name: pass deny at night, principal: alice@example.com, target: prod, reason: r, ticket: CHG-1, time: "2026-03-02T03:00:00Z", expect: deny}
- {name: fail expected allow, principal: alice@example.com, target: prod, expect: allow}
- {name: fail expected deny, principal: alice@example.com, target: staging-eu, expect: deny}
- {name: fail other rule, principal: dave@example.com, target: prod, duration: 10m, expect: allow, rule: dave-any-ticket}
- {name: fail unknown target, principal: alice@example.com, target: prdo, expect: deny}
- {name: pass groups, principal: {id: x, aliases: [alice@example.com], groups: [sre]}, target: staging-us, expect: allow}
- {name: fail groups, principal: {id: eve, groups: [sre]}, target: staging-us, expect: deny}
- {name: pass approvals, principal: carol@example.com, target: prod, approvals: 1, duration: 3h, expect: allow}
- {name: pass claims, principal: {id: "repo:acme/infra", claims: {repository: acme/infra}}, target: sandbox, duration: 30m, expect: allow}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results := p.RunTests(cases, morning)
	want := map[string]string{
		"pass allow":          "",
		"pass deny at night":  "",
		"fail expected allow": `expected allow, got deny: rule "sre-prod": reason required; rule "sre-prod": ticket required (must match ^(CHG|INC)-[0-9]+$)`,
		"fail expected deny":  `expected deny, got allow by rule "sre-staging"`,
		"fail other rule":     `expected rule "dave-any-ticket" to allow, got rule "short-prod"`,
		"fail unknown target": `target "prdo" does not exist (known: prod, sandbox, staging-eu, staging-us)`,
		"pass groups":         "",
		"fail groups":         "expected groups [sre], got []",
		"pass approvals":      "",
		"pass claims":         "",
	}
	if len(results) != len(want) {
		t.Fatalf("%d results", len(results))
	}
	for _, r := range results {
		w, ok := want[r.Case.Name]
		if !ok {
			t.Fatalf("unexpected case %q", r.Case.Name)
		}
		if r.Problem != w || r.Passed != (w == "") || r.Passed != strings.HasPrefix(r.Case.Name, "pass") {
			t.Errorf("%s: passed=%v problem=%q\nwant problem %q", r.Case.Name, r.Passed, r.Problem, w)
		}
	}
	// Cases without a time run at the given now.
	if r := p.RunTests(cases[:1], night)[0]; r.Passed {
		t.Errorf("case at night passed: %+v", r.Got)
	}
}
