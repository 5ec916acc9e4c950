package policy

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"go.yaml.in/yaml/v3"
)

// The variables a `when` expression sees. They are Go structs exposed to
// CEL as typed objects (not maps), so that a misspelt field such as
// request.tmie is a compile error when the policy is loaded rather than a
// silent "when does not hold" at request time.
type celRequest struct {
	Target    string        `cel:"target"`
	Duration  time.Duration `cel:"duration"`
	DurationS int64         `cel:"duration_s"`
	Reason    string        `cel:"reason"`
	Ticket    string        `cel:"ticket"`
	Time      time.Time     `cel:"time"`
	Approvals int64         `cel:"approvals"`
}

type celPrincipal struct {
	ID      string         `cel:"id"`
	Source  string         `cel:"source"`
	Account string         `cel:"account"`
	Aliases []string       `cel:"aliases"`
	Groups  []string       `cel:"groups"`
	Claims  map[string]any `cel:"claims"`
}

type celTarget struct {
	Name        string `cel:"name"`
	Provider    string `cel:"provider"`
	Description string `cel:"description"`
}

// celCostLimit bounds the work one `when` may do. Realistic conditions cost
// well under 100; the limit only stops pathological expressions (huge
// comprehensions over claims) from stalling a decision.
const celCostLimit = 100_000

// celEnvOnce holds the CEL environment, built once per process and only
// when a policy has a `when`: building it costs milliseconds, which a CLI
// that starts for every command should not pay for nothing. The
// environment is immutable and safe for concurrent use.
var celEnvOnce struct {
	sync.Once
	env *cel.Env
	err error
}

func celEnv() (*cel.Env, error) {
	celEnvOnce.Do(func() { celEnvOnce.env, celEnvOnce.err = newCELEnv() })
	return celEnvOnce.env, celEnvOnce.err
}

func newCELEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(
			reflect.TypeFor[celRequest](),
			reflect.TypeFor[celPrincipal](),
			reflect.TypeFor[celTarget](),
			ext.ParseStructTags(true),
		),
		ext.Strings(),
		cel.Variable("request", cel.ObjectType("policy.celRequest")),
		cel.Variable("principal", cel.ObjectType("policy.celPrincipal")),
		cel.Variable("target", cel.ObjectType("policy.celTarget")),
	)
}

// condition is a compiled `when`.
type condition struct {
	expr string
	prg  cel.Program
}

// compileWhen compiles a rule's `when`, reporting problems at their place
// in the file where it can be worked out.
func compileWhen(c *collector, n *yaml.Node, expr, ctx string) *condition {
	if strings.TrimSpace(expr) == "" {
		c.at(n, ctx+"when is empty: remove it or write a condition")
		return nil
	}
	env, err := celEnv()
	if err != nil {
		c.at(n, ctx+"when: cannot set up CEL: "+err.Error())
		return nil
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			msg := strings.TrimSuffix(e.Message, " (in container '')")
			line, col, exact := celPosition(n, expr, e.Location.Line(), e.Location.Column())
			if !exact {
				msg += fmt.Sprintf(" (at %d:%d in the expression)", e.Location.Line(), e.Location.Column()+1)
			}
			c.errs = append(c.errs, &Error{File: c.file, Line: line, Col: col, Msg: ctx + "when: " + msg})
		}
		return nil
	}
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) && !out.IsExactType(cel.DynType) {
		c.at(n, fmt.Sprintf("%swhen must be a condition (bool), not %s", ctx, out))
		return nil
	}
	prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
	if err != nil {
		c.at(n, ctx+"when: "+err.Error())
		return nil
	}
	return &condition{expr: expr, prg: prg}
}

// celPosition maps a position inside an expression to the file. It is exact
// for an expression on one line written plain or quoted without escapes (the
// usual case); otherwise it falls back to the start of the value.
func celPosition(n *yaml.Node, expr string, line, col int) (int, int, bool) {
	if line < 1 || col < 0 || strings.ContainsRune(expr, '\n') {
		return n.Line, n.Column, false
	}
	switch n.Style {
	case 0:
		return n.Line, n.Column + col, true
	case yaml.SingleQuotedStyle:
		if !strings.Contains(expr, "'") {
			return n.Line, n.Column + 1 + col, true
		}
	case yaml.DoubleQuotedStyle:
		if !strings.ContainsAny(expr, `\"`) {
			return n.Line, n.Column + 1 + col, true
		}
	}
	return n.Line, n.Column, false
}

// eval runs the condition. An error (a missing claim, the cost limit) means
// the condition does not hold; the error says why.
func (w *condition) eval(vars map[string]any) (bool, error) {
	out, _, err := w.prg.Eval(vars)
	if err != nil {
		return false, err
	}
	if out.Type() != types.BoolType {
		return false, fmt.Errorf("returned %s, not a bool", out.Type().TypeName())
	}
	return out.Value().(bool), nil
}
