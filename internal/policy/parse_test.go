package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a valid policy head; rules appended to it start on line 12.
const base = `version: 1
groups:
  sre: [alice@example.com, "arn:aws:iam::1:user/*"]
targets:
  prod:
    provider: fake
    fake: {role: admin}
  staging-eu:
    provider: fake
    fake: {role: dev}
rules:
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // every error, one per line
	}{
		{"empty file", "", `jit.yaml:1:1: version is required: add "version: 1"`},
		{"not a mapping", "- a\n", `jit.yaml:1:1: expected a mapping, not a list`},
		{"unsupported version", "version: 2\n", `jit.yaml:1:10: unsupported version 2: only version 1 is supported`},
		{"version not a number", "version: one\n", `jit.yaml:1:10: version must be a whole number`},
		{"unknown top-level key", "version: 1\nrulez: []\n",
			`jit.yaml:2:1: unknown key "rulez" (known: audit, groups, identity, rules, targets, version)`},
		{"repeated key", "version: 1\nversion: 1\n", `jit.yaml:2:1: key "version" is repeated (first at line 1)`},
		{"yaml syntax error names the line", "version: 1\nrules: [\n", `jit.yaml:2: invalid YAML: did not find expected node content`},
		{"yaml tab indentation", "version: 1\ngroups:\n\tsre: []\n", `jit.yaml:3: invalid YAML: found character that cannot start any token`},
		{"two documents", "version: 1\n---\nversion: 1\n", `jit.yaml:2:1: a second YAML document: the file must hold exactly one document`},
		{"invalid utf-8", "version: 1\ngroups:\n  s\xffre: []\n", `jit.yaml:3:4: invalid UTF-8: the file must be UTF-8 text`},

		// groups
		{"group members not a list", "version: 1\ngroups:\n  sre: {a: b}\n", `jit.yaml:3:8: group "sre": members must be a list of strings, not a mapping`},
		{"group bad member glob", "version: 1\ngroups:\n  sre: [\"a[\"]\n", `jit.yaml:3:9: group "sre": bad member pattern "a[": syntax error in pattern`},
		{"group of groups", "version: 1\ngroups:\n  sre: [\"group:ops\"]\n", `jit.yaml:3:9: group "sre": member "group:ops": groups cannot contain groups; list the members`},

		// targets
		{"unknown target key", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    max: 1h\n",
			`jit.yaml:6:5: target "prod": unknown key "max" (known: default_duration, description, fake, max_duration, provider)`},
		{"missing provider", "version: 1\ntargets:\n  prod:\n    description: x\n",
			`jit.yaml:4:5: target "prod": provider is required (known: fake, other)`},
		{"unknown provider", "version: 1\ntargets:\n  prod:\n    provider: azure\n",
			`jit.yaml:4:15: target "prod": unknown provider "azure" (known: fake, other)`},
		{"missing provider section", "version: 1\ntargets:\n  prod:\n    provider: fake\n",
			`jit.yaml:4:5: target "prod": missing the "fake" section with the fake provider's settings`},
		{"section of another provider", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    other: {project: p}\n",
			`jit.yaml:6:5: target "prod": section "other" is for provider other, but the target's provider is fake`},
		{"unknown key in provider section", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake:\n      role: a\n      rgion: eu\n",
			`jit.yaml:7:7: target "prod": fake: unknown key "rgion" (known: nested, region, role, session, tags)`},
		{"unknown key nested in provider section", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake:\n      role: a\n      nested:\n        dpth: 1\n",
			`jit.yaml:8:9: target "prod": fake.nested: unknown key "dpth" (known: depth)`},
		{"wrong type in provider section", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake:\n      role: [a, b]\n",
			`jit.yaml:6:13: target "prod": fake: cannot unmarshal !!seq into string`},
		{"wrong scalar type in flow provider section", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a, nested: {depth: deep}}\n",
			"jit.yaml:5:37: target \"prod\": fake: cannot unmarshal !!str `deep` into int"},
		{"provider validation", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake:\n      region: eu\n",
			`jit.yaml:5:5: target "prod": fake: role is required`},
		{"empty provider section validated", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake:\n",
			`jit.yaml:5:5: target "prod": fake: role is required`},
		{"zero max_duration", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    max_duration: 0s\n",
			`jit.yaml:6:19: target "prod": max_duration must be positive, not 0s`},
		{"negative default_duration", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    default_duration: -1h\n",
			`jit.yaml:6:23: target "prod": default_duration must be positive, not -1h`},
		{"unparsable duration", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    max_duration: 1x\n",
			`jit.yaml:6:19: target "prod": max_duration: invalid duration "1x": use a Go duration such as 15m, 1h30m or 2d`},
		{"default above max", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    max_duration: 1h\n    default_duration: 1d\n",
			`jit.yaml:7:23: target "prod": default_duration 1d is above max_duration 1h`},
		{"default above implicit max", "version: 1\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    default_duration: 2h\n",
			`jit.yaml:6:23: target "prod": default_duration 2h is above max_duration 1h`},
		{"empty target name", "version: 1\ntargets:\n  \"\":\n    provider: fake\n    fake: {role: a}\n",
			`jit.yaml:3:3: target name must not be empty`},
		{"glob in target name", "version: 1\ntargets:\n  \"prod-*\":\n    provider: fake\n    fake: {role: a}\n",
			`jit.yaml:3:3: target name "prod-*" must not contain *, ?, [ or \ (rules use them as patterns)`},
		{"target not a mapping", "version: 1\ntargets:\n  prod: fake\n",
			`jit.yaml:3:9: target "prod": expected a mapping with provider and its settings, not a scalar`},

		// rules
		{"rule names a missing target", base + "  - name: sre-prod\n    subjects: [group:sre]\n    targets: [prdo]\n",
			`jit.yaml:14:15: rule "sre-prod": target "prdo" does not exist (known: prod, staging-eu)`},
		{"glob matching no target", base + "  - name: r\n    subjects: [group:sre]\n    targets: [\"dev-*\"]\n",
			`jit.yaml:14:15: rule "r": target pattern "dev-*" matches no target (known: prod, staging-eu)`},
		{"bad target glob", base + "  - name: r\n    subjects: [group:sre]\n    targets: [\"prod[\"]\n",
			`jit.yaml:14:15: rule "r": bad target pattern "prod[": syntax error in pattern`},
		{"duplicate rule names", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n  - name: r\n    subjects: [y]\n    targets: [prod]\n",
			`jit.yaml:15:5: duplicate rule name "r" (first defined at line 12)`},
		{"rule without name", base + "  - subjects: [x]\n    targets: [prod]\n",
			`jit.yaml:12:5: rule #1: name is required`},
		{"rule without subjects", base + "  - name: r\n    targets: [prod]\n",
			`jit.yaml:12:5: rule "r": subjects is required: list ids, globs or group:NAME`},
		{"rule with empty subjects", base + "  - name: r\n    subjects: []\n    targets: [prod]\n",
			`jit.yaml:13:15: rule "r": subjects must not be empty: list ids, globs or group:NAME`},
		{"rule without targets", base + "  - name: r\n    subjects: [x]\n",
			`jit.yaml:12:5: rule "r": targets is required: list target names or globs`},
		{"rule with empty targets", base + "  - name: r\n    subjects: [x]\n    targets: []\n",
			`jit.yaml:14:14: rule "r": targets must not be empty: list target names or globs`},
		{"undefined group", base + "  - name: r\n    subjects: [\"group:ops\"]\n    targets: [prod]\n",
			`jit.yaml:13:16: rule "r": subject "group:ops": group "ops" is not defined (known: sre)`},
		{"bad subject glob", base + "  - name: r\n    subjects: [\"arn:*[\"]\n    targets: [prod]\n",
			`jit.yaml:13:16: rule "r": bad subject pattern "arn:*[": syntax error in pattern`},
		{"unknown rule key", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    max: 1h\n",
			`jit.yaml:15:5: rule "r": unknown key "max" (known: description, max_duration, name, require, subjects, targets, when)`},
		{"unknown require key", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    require: {reason: true, tiket: x}\n",
			`jit.yaml:15:29: rule "r": require: unknown key "tiket" (known: approvals, reason, ticket)`},
		{"bad ticket regexp", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    require:\n      ticket: '^(CHG-[0-9]+$'\n",
			"jit.yaml:16:15: rule \"r\": require.ticket: bad regular expression \"^(CHG-[0-9]+$\": missing closing ): `^(CHG-[0-9]+$`"},
		{"reason not a bool", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    require: {reason: yes}\n",
			`jit.yaml:15:23: rule "r": require.reason must be true or false`},
		{"negative approvals", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    require: {approvals: -1}\n",
			`jit.yaml:15:26: rule "r": require.approvals must be 0 or more`},
		{"zero rule max_duration", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    max_duration: 0m\n",
			`jit.yaml:15:19: rule "r": max_duration must be positive, not 0m`},
		{"cel does not compile", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    when: 'request.tmie > 1'\n",
			`jit.yaml:15:19: rule "r": when: undefined field 'tmie'`},
		{"cel undeclared variable, plain scalar", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    when: user == 1\n",
			`jit.yaml:15:11: rule "r": when: undeclared reference to 'user'`},
		{"cel in a block scalar", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    when: |\n      true &&\n      nope\n",
			`jit.yaml:15:11: rule "r": when: undeclared reference to 'nope' (at 2:1 in the expression)`},
		{"cel not a bool", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    when: 'request.duration_s + 1'\n",
			`jit.yaml:15:11: rule "r": when must be a condition (bool), not int`},
		{"empty when", base + "  - name: r\n    subjects: [x]\n    targets: [prod]\n    when: ''\n",
			`jit.yaml:15:11: rule "r": when is empty: remove it or write a condition`},
		{"rule not a mapping", base + "  - r\n", `jit.yaml:12:5: rule #1: expected a mapping with name, subjects and targets, not a scalar`},

		// identity and audit
		{"issuer without name and url", "version: 1\nidentity:\n  issuers:\n    - audience: sts\n",
			"jit.yaml:4:7: issuer #1: name is required\njit.yaml:4:7: issuer #1: url is required"},
		{"issuer with http url", "version: 1\nidentity:\n  issuers:\n    - {name: gh, url: \"http://example.com\"}\n",
			`jit.yaml:4:23: issuer "gh": url "http://example.com" must start with https:// (plain http only on loopback)`},
		{"issuer unknown key", "version: 1\nidentity:\n  issuers:\n    - {name: gh, url: \"https://x\", aud: y}\n",
			`jit.yaml:4:36: issuer #1: unknown key "aud" (known: audience, name, url)`},
		{"unknown identity key", "version: 1\nidentity:\n  providers: []\n",
			`jit.yaml:3:3: identity: unknown key "providers" (known: issuers)`},
		{"sink without type", "version: 1\naudit:\n  sinks:\n    - {path: /x}\n",
			`jit.yaml:4:7: audit sink #1: type is required (known: file, http, s3, syslog)`},
		{"sink of unknown type", "version: 1\naudit:\n  sinks:\n    - {type: kafka}\n",
			`jit.yaml:4:14: audit sink #1: unknown sink type "kafka" (known: file, http, s3, syslog)`},
		{"file sink without path", "version: 1\naudit:\n  sinks:\n    - {type: file}\n",
			`jit.yaml:4:7: audit sink #1 (file): path is required for a file sink`},
		{"syslog sink without address", "version: 1\naudit:\n  sinks:\n    - {type: syslog}\n",
			`jit.yaml:4:7: audit sink #1 (syslog): address is required for a syslog sink`},
		{"http sink without url", "version: 1\naudit:\n  sinks:\n    - {type: http}\n",
			`jit.yaml:4:7: audit sink #1 (http): url is required for an http sink`},
		{"s3 sink without bucket", "version: 1\naudit:\n  sinks:\n    - {type: s3}\n",
			`jit.yaml:4:7: audit sink #1 (s3): bucket is required for an s3 sink`},
		{"sink unknown key", "version: 1\naudit:\n  sinks:\n    - {type: file, path: /x, colour: red}\n",
			`jit.yaml:4:30: audit sink #1: unknown key "colour" (known: address, bucket, ca_file, endpoint, format, headers, hmac_key_env, hmac_key_file, index, labels, max_size, name, path, path_style, prefix, profile, region, required, timeout, tls, token_env, token_file, type, url)`},

		// everything at once, sorted by position
		{"all errors sorted by line", "version: 3\ntargets:\n  prod:\n    provider: fake\n    fake: {role: a}\n    max_duration: 0h\nrules:\n  - name: r\n    subjects: [\"group:nope\"]\n    targets: [prdo]\n",
			"jit.yaml:1:10: unsupported version 3: only version 1 is supported\n" +
				"jit.yaml:6:19: target \"prod\": max_duration must be positive, not 0h\n" +
				"jit.yaml:9:16: rule \"r\": subject \"group:nope\": group \"nope\" is not defined (known: none)\n" +
				"jit.yaml:10:15: rule \"r\": target \"prdo\" does not exist (known: prod)"},
		{"a broken target is still known to rules", "version: 1\ntargets:\n  prod:\n    provider: nope\nrules:\n  - {name: r, subjects: [x], targets: [prod, \"p*\"]}\n",
			`jit.yaml:4:15: target "prod": unknown provider "nope" (known: fake, other)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.src), testOptions())
			if err == nil {
				t.Fatalf("Parse succeeded (%d rules), want error:\n%s", len(p.Rules), tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("errors differ\n got: %s\nwant: %s", got, tt.want)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want *Errors", err)
			}
			for _, e := range errs.List {
				if e.File != "jit.yaml" || e.Line < 1 {
					t.Errorf("error without position: %#v", e)
				}
			}
			var one *Error
			if !errors.As(err, &one) || one != errs.List[0] {
				t.Errorf("errors.As(*Error) does not reach the first error")
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	src := `version: 1
groups:
  sre: [alice@example.com, "arn:aws:iam::111111111111:user/*"]
  empty:
targets:
  prod:
    description: Production
    provider: fake
    fake:
      role: admin
      region: eu-west-1
      tags: {team: sre}
      session: 15m
    max_duration: 1d12h
    default_duration: 2h
  staging-eu: &staging
    provider: fake
    fake: {role: dev}
  staging-us:
    <<: *staging
    description: merged
  short:
    provider: fake
    fake: {role: x}
    max_duration: 30m
  other:
    provider: other
    other: {project: p1}
rules:
  - name: sre-prod
    description: SRE on call
    subjects: ["group:sre", "arn:aws:sts::111111111111:assumed-role/*/bob@example.com"]
    targets: [prod, "staging-*"]
    max_duration: 1h
    require:
      reason: true
      ticket: '^(CHG|INC)-[0-9]+$'
      approvals: 0
    when: 'request.time.getHours("UTC") >= 6'
  - name: any-ticket
    subjects: carol@example.com
    targets: [short]
    require: {ticket: true, approvals: 2}
identity:
  issuers:
    - {name: github, url: https://token.actions.githubusercontent.com, audience: sts.amazonaws.com}
    - {name: dev, url: "http://127.0.0.1:8080/"}
audit:
  sinks:
    - {type: file, path: /var/log/jit/audit.jsonl, max_size: 100MB}
    - {type: http, url: "https://siem.example.com/x", format: splunk-hec, headers: {X-Team: sec}, token_env: SPLUNK_TOKEN, required: true, timeout: 5s}
`
	p := mustParse(t, src)
	if p.Version != 1 || p.File != "jit.yaml" {
		t.Errorf("version/file = %d/%q", p.Version, p.File)
	}
	if want := []string{"alice@example.com", "arn:aws:iam::111111111111:user/*"}; !reflect.DeepEqual(p.Groups["sre"], want) {
		t.Errorf("groups[sre] = %q", p.Groups["sre"])
	}
	if g, ok := p.Groups["empty"]; !ok || len(g) != 0 {
		t.Errorf("groups[empty] = %q, %v; want defined and empty", g, ok)
	}
	if want := []string{"other", "prod", "short", "staging-eu", "staging-us"}; !reflect.DeepEqual(p.TargetNames(), want) {
		t.Errorf("TargetNames = %q", p.TargetNames())
	}
	prod := p.Targets["prod"]
	wantSpec := &fakeSpec{Role: "admin", Region: "eu-west-1", Tags: map[string]string{"team": "sre"}, Session: 15 * time.Minute}
	if !reflect.DeepEqual(prod.Spec, wantSpec) {
		t.Errorf("prod spec = %#v", prod.Spec)
	}
	if prod.MaxDuration != 36*time.Hour || prod.DefaultDuration != 2*time.Hour || prod.Description != "Production" || prod.Line != 6 {
		t.Errorf("prod = %+v", prod)
	}
	pt := prod.ProviderTarget()
	if pt.Name != "prod" || pt.Provider != "fake" || pt.Spec != prod.Spec {
		t.Errorf("ProviderTarget = %+v", pt)
	}
	// Defaults: max 1h, default min(1h, max).
	if s := p.Targets["staging-eu"]; s.MaxDuration != time.Hour || s.DefaultDuration != time.Hour {
		t.Errorf("staging-eu durations = %v/%v", s.MaxDuration, s.DefaultDuration)
	}
	if s := p.Targets["short"]; s.MaxDuration != 30*time.Minute || s.DefaultDuration != 30*time.Minute {
		t.Errorf("short durations = %v/%v", s.MaxDuration, s.DefaultDuration)
	}
	// The merge key brings in the anchored target's settings.
	if s := p.Targets["staging-us"]; s.Provider != "fake" || s.Description != "merged" || s.Spec.(*fakeSpec).Role != "dev" {
		t.Errorf("staging-us = %+v %+v", s, s.Spec)
	}
	if _, ok := p.Targets["other"].Spec.(*otherSpec); !ok {
		t.Errorf("other spec = %T", p.Targets["other"].Spec)
	}
	if len(p.Rules) != 2 {
		t.Fatalf("rules = %d", len(p.Rules))
	}
	r := p.Rules[0]
	if r.Name != "sre-prod" || r.Description != "SRE on call" || r.MaxDuration != time.Hour || r.Line != 30 ||
		r.Require != (Require{Reason: true, Ticket: "^(CHG|INC)-[0-9]+$"}) || r.Require.TicketPattern() != r.Require.Ticket || r.When != `request.time.getHours("UTC") >= 6` {
		t.Errorf("rule 0 = %+v", r)
	}
	if !reflect.DeepEqual(r.Targets, []string{"prod", "staging-*"}) || len(r.Subjects) != 2 {
		t.Errorf("rule 0 targets/subjects = %q %q", r.Targets, r.Subjects)
	}
	if r := p.Rules[1]; !reflect.DeepEqual(r.Subjects, []string{"carol@example.com"}) || r.Require != (Require{Ticket: "true", Approvals: 2}) || r.Require.TicketPattern() != "" {
		t.Errorf("rule 1 = %+v", r)
	}
	wantIssuers := []Issuer{
		{Name: "github", URL: "https://token.actions.githubusercontent.com", Audience: "sts.amazonaws.com", Line: 46},
		{Name: "dev", URL: "http://127.0.0.1:8080/", Line: 47},
	}
	if !reflect.DeepEqual(p.Issuers, wantIssuers) {
		t.Errorf("issuers = %+v", p.Issuers)
	}
	wantSinks := []SinkConfig{
		{Type: "file", Path: "/var/log/jit/audit.jsonl", MaxSize: 100_000_000, Line: 50},
		{Type: "http", URL: "https://siem.example.com/x", Format: "splunk-hec", Headers: map[string]string{"X-Team": "sec"},
			TokenEnv: "SPLUNK_TOKEN", Required: true, Timeout: 5 * time.Second, Line: 51},
	}
	if !reflect.DeepEqual(p.Sinks, wantSinks) {
		t.Errorf("sinks = %+v", p.Sinks)
	}
}

func TestParseWithoutProviders(t *testing.T) {
	_, err := Parse([]byte("version: 1\ntargets:\n  prod:\n    provider: fake\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown provider "fake" (known: none)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestKnownListIsShortened(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n")
	for i := range 20 {
		b.WriteString("  t" + string(rune('a'+i)) + ": {provider: fake, fake: {role: r}}\n")
	}
	b.WriteString("rules:\n  - {name: r, subjects: [x], targets: [nope]}\n")
	_, err := Parse([]byte(b.String()), testOptions())
	want := `jit.yaml:24:40: rule "r": target "nope" does not exist (known: ta, tb, tc, td, te, tf, tg, th, ti, tj, tk, tl, … (8 more))`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}
