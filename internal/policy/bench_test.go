package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

// genPolicy writes a policy the size of a large organisation: nTargets
// (a multiple of 150) targets over 50 teams, 50 groups, and nRules rules
// mixing exact, group and glob subjects with exact and glob targets. The
// last-but-five rule is the one that grants bench@example.com access to
// the returned target; the principal appears in no other rule. With
// everywhere set, every rule targets "*" instead (the worst case for the
// index).
func genPolicy(nRules, nTargets int, everywhere bool, withWhen bool) (string, string) {
	apps := nTargets / 150
	special := fmt.Sprintf("team7-app%d-prod", apps-1)
	var b strings.Builder
	b.WriteString("version: 1\ngroups:\n")
	for g := range 50 {
		fmt.Fprintf(&b, "  team%d: [", g)
		for m := range 20 {
			if m > 0 {
				b.WriteString(", ")
			}
			if m == 19 {
				fmt.Fprintf(&b, `"arn:aws:iam::%012d:user/*"`, g)
			} else {
				fmt.Fprintf(&b, "user%d.%d@example.com", g, m)
			}
		}
		b.WriteString("]\n")
	}
	b.WriteString("targets:\n")
	for i := range nTargets {
		fmt.Fprintf(&b, "  team%d-app%d-%s:\n    provider: fake\n    fake: {role: r%d}\n    max_duration: 8h\n", i%50, i/50/3, []string{"prod", "stage", "dev"}[i/50%3], i)
	}
	b.WriteString("rules:\n")
	for i := range nRules {
		team := i % 50
		fmt.Fprintf(&b, "  - name: rule-%d\n    subjects: [", i)
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			fmt.Fprintf(&b, `"group:team%d"`, team)
		case 5, 6, 7:
			fmt.Fprintf(&b, "user%d.%d@example.com, user%d.%d@example.com", team, i%19, (team+1)%50, i%17)
		default:
			fmt.Fprintf(&b, `"arn:aws:sts::%012d:assumed-role/*/user%d.*@example.com"`, team, i%19)
		}
		if i == nRules-5 {
			b.WriteString(", bench@example.com")
		}
		b.WriteString("]\n    targets: [")
		switch {
		case everywhere:
			b.WriteString(`"*"`)
		case i == nRules-5:
			b.WriteString(special)
		case i%7 == 0:
			fmt.Fprintf(&b, `"team%d-app%d-*"`, team, i%apps)
		default:
			fmt.Fprintf(&b, "team%d-app%d-prod, team%d-app%d-stage", team, i%apps, team, (i+1)%apps)
		}
		b.WriteString("]\n    max_duration: 2h\n")
		if i%3 == 0 {
			b.WriteString("    require: {reason: true, ticket: '^CHG-[0-9]+$'}\n")
		}
		if withWhen && i%4 == 0 {
			b.WriteString("    when: 'request.time.getHours(\"UTC\") >= 6 && request.duration <= duration(\"2h\")'\n")
		}
	}
	return b.String(), special
}

func benchEvaluate(b *testing.B, nRules, nTargets int, everywhere, withWhen bool) {
	src, target := genPolicy(nRules, nTargets, everywhere, withWhen)
	p := mustParse(b, src)
	in := Input{Principal: providers.Principal{ID: "arn:aws:sts::000000000007:assumed-role/SSO/bench@example.com", Aliases: []string{"bench@example.com"}},
		Target: target, Duration: time.Hour, Time: morning}
	d := p.Evaluate(in)
	if !d.Allowed || d.Rule != fmt.Sprintf("rule-%d", len(p.Rules)-5) {
		b.Fatalf("decision = %+v", d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.Evaluate(in)
	}
}

func BenchmarkEvaluate10Rules(b *testing.B)            { benchEvaluate(b, 10, 150, false, false) }
func BenchmarkEvaluate10000Rules(b *testing.B)         { benchEvaluate(b, 10000, 1500, false, false) }
func BenchmarkEvaluate10000RulesWithWhen(b *testing.B) { benchEvaluate(b, 10000, 1500, false, true) }

// BenchmarkEvaluate10000RulesEverywhere is the worst case: every rule
// names every target, so the index cannot narrow anything down.
func BenchmarkEvaluate10000RulesEverywhere(b *testing.B) { benchEvaluate(b, 10000, 1500, true, false) }

func BenchmarkTargetViews1500Targets(b *testing.B) {
	src, _ := genPolicy(10000, 1500, false, false)
	p := mustParse(b, src)
	pr := providers.Principal{ID: "user7.3@example.com"}
	b.ReportAllocs()
	for b.Loop() {
		p.TargetViews(pr, morning)
	}
}

func benchParse(b *testing.B, nRules, nTargets int, withWhen bool) {
	src, _ := genPolicy(nRules, nTargets, false, withWhen)
	benchParseSrc(b, src)
}

func BenchmarkParse10Rules(b *testing.B)         { benchParse(b, 10, 150, false) }
func BenchmarkParse10RulesWithWhen(b *testing.B) { benchParse(b, 10, 150, true) }
func BenchmarkParse10000Rules(b *testing.B)      { benchParse(b, 10000, 1500, false) }

// BenchmarkCELEnv is the one-time cost a policy with `when` pays on top of
// BenchmarkParse10RulesWithWhen, and a policy without `when` never pays.
func BenchmarkCELEnv(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newCELEnv(); err != nil {
			b.Fatal(err)
		}
	}
}

// The example policy of the tests: 4 targets, 6 rules, 2 of them with when.
func BenchmarkParseSmall(b *testing.B) {
	benchParseSrc(b, strings.ReplaceAll(evalPolicy, "    when:", "    description:"))
}
func BenchmarkParseSmallWithWhen(b *testing.B) { benchParseSrc(b, evalPolicy) }

func benchParseSrc(b *testing.B, src string) {
	data := []byte(src)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, testOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
