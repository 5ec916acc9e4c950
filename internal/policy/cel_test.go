package policy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Paris below must not depend on the machine

	"github.com/jitaccess/jit/providers"
)

func whenPolicy(expr string) string {
	return "version: 1\ngroups:\n  sre: [alice]\ntargets:\n  prod: {provider: fake, fake: {role: r}, description: Production, max_duration: 4h}\n" +
		"rules:\n  - name: r\n    subjects: [alice, bob]\n    targets: [prod]\n    when: '" + strings.ReplaceAll(expr, "'", "''") + "'\n"
}

func TestWhen(t *testing.T) {
	alice := providers.Principal{ID: "alice", Source: "test", Account: "111", Aliases: []string{"al"},
		Claims: map[string]any{"repository": "acme/infra", "run": 7, "tags": []any{"a", "b"}, "admin": true}}
	bob := providers.Principal{ID: "bob"}
	base := Input{Principal: alice, Target: "prod", Duration: 20 * time.Minute, Reason: "fix", Ticket: "CHG-1", Time: morning, Approvals: 2}
	tests := []struct {
		expr   string
		in     Input
		allow  bool
		reason string // the deny reason, when not allowed
	}{
		{`request.time.getHours("UTC") >= 6`, base, true, ""},
		{`request.time.getHours("UTC") >= 10`, base, false, `rule "r": when does not hold: request.time.getHours("UTC") >= 10`},
		{`request.time.getHours("Europe/Paris") == 10`, base, true, ""},
		{`"sre" in principal.groups`, base, true, ""},
		{`"sre" in principal.groups`, Input{Principal: bob, Target: "prod", Time: morning}, false, `rule "r": when does not hold: "sre" in principal.groups`},
		{`request.duration <= duration("30m")`, base, true, ""},
		{`request.duration <= duration("30m")`, Input{Principal: alice, Target: "prod", Duration: time.Hour, Time: morning}, false,
			`rule "r": when does not hold: request.duration <= duration("30m")`},
		{`request.duration == duration("1h")`, Input{Principal: alice, Target: "prod", Time: morning}, true, ""}, // the default
		{`principal.claims.repository == "acme/infra"`, base, true, ""},
		{`principal.claims.run == 7 && "b" in principal.claims.tags`, base, true, ""},
		{`principal.claims.admin`, base, true, ""},
		{`has(principal.claims.nope) && principal.claims.nope == "x"`, base, false, `rule "r": when does not hold: has(principal.claims.nope) && principal.claims.nope == "x"`},
		{`principal.claims.nope == "x"`, base, false, `rule "r": when failed: no such key: nope`},
		{`principal.claims.repository`, base, false, `rule "r": when failed: returned string, not a bool`},
		{`request.duration_s == 1200 && request.reason == "fix" && request.ticket.startsWith("CHG-") && request.approvals == 2 && request.target == "prod"`, base, true, ""},
		{`principal.id == "alice" && principal.source == "test" && principal.account == "111" && "al" in principal.aliases`, base, true, ""},
		{`target.name == "prod" && target.provider == "fake" && target.description == "Production"`, base, true, ""},
		{`principal.id.lowerAscii() == "alice"`, base, true, ""},
		// The cost limit stops runaway comprehensions; that is a deny.
		{`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`,
			base, false, `rule "r": when failed: operation cancelled: actual cost limit exceeded`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p := mustParse(t, whenPolicy(tt.expr))
			d := p.Evaluate(tt.in)
			if d.Allowed != tt.allow {
				t.Fatalf("allowed = %v, reasons %q", d.Allowed, d.Reasons)
			}
			if !tt.allow && (len(d.Reasons) != 1 || d.Reasons[0] != tt.reason) {
				t.Errorf("reasons = %q\nwant %q", d.Reasons, tt.reason)
			}
		})
	}
}

// TestCELIsLazy checks, in a fresh process, that a policy without `when`
// never builds the CEL environment and that one with `when` does.
func TestCELIsLazy(t *testing.T) {
	if os.Getenv("JIT_POLICY_LAZY_CHILD") == "1" {
		noWhen := strings.ReplaceAll(evalPolicy, "    when:", "    description:")
		if p := mustParse(t, noWhen); len(p.Rules) != 6 {
			t.Fatalf("rules = %d", len(p.Rules))
		}
		if celEnvOnce.env != nil || celEnvOnce.err != nil {
			t.Fatal("parsing a policy without when built the CEL environment")
		}
		mustParse(t, whenPolicy("true"))
		if celEnvOnce.env == nil {
			t.Fatal("parsing a policy with when did not build the CEL environment")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCELIsLazy$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "JIT_POLICY_LAZY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestCELIsLazy") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
