package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(evalPolicy))
	f.Add([]byte(whenPolicy(`request.time.getHours("UTC") >= 6 && "sre" in principal.groups`)))
	f.Add([]byte(base + "  - name: r\n    subjects: [\"group:sre\", \"a*\"]\n    targets: [prod, \"staging-*\"]\n    require: {reason: true, ticket: '^X-[0-9]+$', approvals: 1}\n"))
	f.Add([]byte("version: 1\ntargets:\n  a: &x {provider: fake, fake: {role: r, nested: {depth: 2}}}\n  b:\n    <<: *x\n    max_duration: 1d\n"))
	f.Add([]byte("version: 1\naudit:\n  sinks:\n    - {type: http, url: \"https://x\", headers: {A: b}, max_size: 1}\nidentity:\n  issuers: [{name: a, url: \"https://a\"}]\n"))
	f.Add([]byte("version: 1\nrules: [\n"))
	f.Add([]byte("a: *b\n"))
	f.Add([]byte("- &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, testOptions())
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not *Errors: %v", err, err)
			}
			if len(errs.List) == 0 {
				t.Fatal("empty *Errors")
			}
			for _, e := range errs.List {
				if e.Line < 1 || e.File != "jit.yaml" || e.Msg == "" {
					t.Fatalf("error without a position or message: %#v", e)
				}
			}
			return
		}
		// A valid policy evaluates, explains and lists without panicking,
		// and only ever names rules and targets it has. The number of
		// requests is bounded so that large inputs keep the fuzzer fast.
		budget := 200
		for _, name := range append(p.TargetNames(), "nope") {
			for _, r := range p.Rules {
				for _, s := range append(r.Subjects, "anyone") {
					if budget--; budget < 0 {
						return
					}
					in := Input{Principal: who(s, "alias"), Target: name, Time: morning, Reason: "r", Ticket: "T-1"}
					d := p.Evaluate(in)
					if d.Allowed && p.Targets[name] == nil {
						t.Fatalf("allowed an unknown target %q", name)
					}
					if d.Allowed && d.Duration > d.MaxDuration {
						t.Fatalf("allowed %v above the max %v", d.Duration, d.MaxDuration)
					}
					if x := p.Explain(in); x.Decision.Allowed != d.Allowed || x.Decision.Rule != d.Rule {
						t.Fatalf("Explain %+v disagrees with Evaluate %+v", x.Decision, d)
					}
					_ = p.Explain(in).String()
				}
			}
		}
		p.TargetViews(who("x"), morning)
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15m", "1h30m", "2d", "1d12h", "1.5d", "-1d", "0", "1x", "", "106751d23h47m16s", "9223372036854775807ns", ".5d", "1d.5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid duration ") {
				t.Fatalf("unexpected error text %q", err)
			}
			return
		}
		// Without days it is exactly Go's parser.
		if !strings.Contains(s, "d") {
			if want, werr := time.ParseDuration(s); werr != nil || want != d {
				t.Fatalf("ParseDuration(%q) = %v, Go says %v, %v", s, d, want, werr)
			}
		}
		// What FormatDuration writes parses back to the same value.
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Fatalf("round trip of %v via %q = %v, %v", d, FormatDuration(d), back, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"100MB", "1GiB", "512KB", "42", "-1", "1.5GB", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}

func FuzzParseTests(f *testing.F) {
	f.Add([]byte("cases:\n  - {name: a, principal: {id: x, aliases: [y], groups: [g], claims: {a: [1, {b: c}]}}, target: prod, duration: 1h, time: 2026-01-01T00:00:00Z, expect: allow, rule: r}\n"))
	f.Add([]byte("- {principal: a, target: t, expect: deny, approvals: 2, reason: r, ticket: t}\n"))
	f.Add([]byte("- {principal: a\n"))
	f.Add([]byte("cases: &a [*a]\n"))
	p := mustParse(f, evalPolicy)
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := ParseTests(data, "t.yaml")
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error %T is not a non-empty *Errors: %v", err, err)
			}
			for _, e := range errs.List {
				if e.Line < 1 || e.File != "t.yaml" {
					t.Fatalf("error without a position: %#v", e)
				}
			}
			return
		}
		for _, r := range p.RunTests(cases, morning) {
			if r.Passed == (r.Problem != "") {
				t.Fatalf("passed=%v with problem %q", r.Passed, r.Problem)
			}
		}
	})
}
