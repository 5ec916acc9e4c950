package jitcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

func TestClassifyAndReport(t *testing.T) {
	denied := &elevation.DeniedError{Target: "prod", Principal: "bob", Decision: policy.Decision{Reasons: []string{`no rule grants bob access to prod`}}}
	authErr := &providers.Error{Kind: providers.KindAuth, Op: "get caller identity", Err: errors.New("ExpiredToken: the security token included in the request is expired"), Hint: "sign in again: aws sso login"}
	tests := []struct {
		name     string
		err      error
		cmdPath  string // the command the error came from; "" for none
		wantCode int
		wantHint string
		wantOut  string
	}{
		{name: "nil", err: nil, wantCode: 0, wantOut: ""},
		{name: "exit status passes through silently", err: &cmdutil.ExitError{Code: 7}, wantCode: 7, wantOut: ""},
		{name: "exit status with a message", err: &cmdutil.ExitError{Code: 127, Err: errors.New("run terrafrom: command not found")}, wantCode: 127, wantOut: "jit: run terrafrom: command not found\n"},
		{name: "exit status wrapped stays silent", err: fmt.Errorf("session: %w", &cmdutil.ExitError{Code: 130}), wantCode: 130, wantOut: ""},
		{name: "cancel", err: cmdutil.ErrCancel, wantCode: 2, wantOut: "jit: cancelled\n"},
		{name: "context cancelled", err: fmt.Errorf("assume role: %w", context.Canceled), wantCode: 2, wantOut: "jit: cancelled\n"},
		{name: "denied", err: denied, cmdPath: "jit elevate", wantCode: 3, wantOut: "jit: denied: no rule grants bob access to prod\n"},
		{name: "denied with a hint", err: cmdutil.WithHint(denied, "ask in #access"), wantCode: 3, wantHint: "ask in #access", wantOut: "jit: denied: no rule grants bob access to prod\nhint: ask in #access\n"},
		{name: "usage error", err: cmdutil.FlagErrorf("--for: invalid duration %q", "1x"), cmdPath: "jit elevate", wantCode: 64, wantOut: "jit: --for: invalid duration \"1x\"\nRun 'jit elevate --help' for usage.\n"},
		{name: "usage error without a command", err: cmdutil.FlagErrorf("bad"), wantCode: 64, wantOut: "jit: bad\n"},
		{name: "usage error with a hint", err: cmdutil.WithHint(cmdutil.FlagErrorf("target required"), "see jit targets"), cmdPath: "jit env", wantCode: 64, wantHint: "see jit targets", wantOut: "jit: target required\nhint: see jit targets\nRun 'jit env --help' for usage.\n"},
		{name: "cobra unknown flag", err: errors.New("unknown flag: --frobnicate"), cmdPath: "jit targets", wantCode: 64, wantOut: "jit: unknown flag: --frobnicate\nRun 'jit targets --help' for usage.\n"},
		{name: "cobra unknown command", err: errors.New(`unknown command "frobnicate" for "jit"`), cmdPath: "jit", wantCode: 64, wantOut: "jit: unknown command \"frobnicate\" for \"jit\"\nRun 'jit --help' for usage.\n"},
		{name: "cobra unknown shorthand", err: errors.New("unknown shorthand flag: 'z' in -z"), cmdPath: "jit", wantCode: 64, wantOut: "jit: unknown shorthand flag: 'z' in -z\nRun 'jit --help' for usage.\n"},
		{name: "cobra missing flag argument", err: errors.New("flag needs an argument: --for"), cmdPath: "jit env", wantCode: 64, wantOut: "jit: flag needs an argument: --for\nRun 'jit env --help' for usage.\n"},
		{name: "cobra required flag", err: errors.New(`required flag(s) "as" not set`), cmdPath: "jit policy explain", wantCode: 64, wantOut: "jit: required flag(s) \"as\" not set\nRun 'jit policy explain --help' for usage.\n"},
		{name: "not a usage error because it mentions a flag", err: errors.New("cannot read unknown flag file"), wantCode: 1, wantOut: "jit: cannot read unknown flag file\n"},
		{name: "provider auth", err: fmt.Errorf("whoami: %w", authErr), wantCode: 4, wantHint: "sign in again: aws sso login", wantOut: "jit: whoami: get caller identity: ExpiredToken: the security token included in the request is expired\nhint: sign in again: aws sso login\n"},
		{name: "provider pending", err: &providers.Error{Kind: providers.KindPending, Op: "PIM request pending"}, wantCode: 5, wantOut: "jit: PIM request pending\n"},
		{name: "provider denied is not a policy denial", err: &providers.Error{Kind: providers.KindDenied, Op: "assume role", Err: errors.New("AccessDenied"), Hint: "check the role's trust policy"}, wantCode: 1, wantHint: "check the role's trust policy", wantOut: "jit: assume role: AccessDenied\nhint: check the role's trust policy\n"},
		{name: "hint wins over the provider's", err: cmdutil.WithHint(authErr, "run jit whoami"), wantCode: 4, wantHint: "run jit whoami"},
		{name: "plain error", err: errors.New("no policy repository configured"), wantCode: 1, wantOut: "jit: no policy repository configured\n"},
		{name: "audit error", err: &elevation.AuditError{Err: errors.New("disk full; no credentials issued")}, wantCode: 1, wantOut: "jit: audit journal: disk full; no credentials issued\n"},
		{name: "silent", err: cmdutil.ErrSilent, wantCode: 1, wantOut: ""},
		{name: "silent wrapped", err: fmt.Errorf("verify: %w", cmdutil.ErrSilent), wantCode: 1, wantOut: ""},
		{name: "multi-line folded", err: errors.New("first\nsecond\n"), wantCode: 1, wantOut: "jit: first second\n"},
		{name: "policy problems keep their lines", err: errors.New("jit.yaml:3:5: a\njit.yaml:9:1: b"), wantCode: 1, wantOut: "jit: jit.yaml:3:5: a\njit.yaml:9:1: b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err != nil {
				code, hint := Classify(tt.err)
				if code != tt.wantCode || hint != tt.wantHint {
					t.Errorf("Classify = %d, %q; want %d, %q", code, hint, tt.wantCode, tt.wantHint)
				}
			}
			var cmd *cobra.Command
			if tt.cmdPath != "" {
				cmd = commandAt(tt.cmdPath)
			}
			var buf bytes.Buffer
			if code := Report(&buf, cmd, tt.err); code != tt.wantCode {
				t.Errorf("Report = %d, want %d", code, tt.wantCode)
			}
			if tt.wantOut != "" || tt.wantHint == "" {
				if buf.String() != tt.wantOut {
					t.Errorf("Report printed %q, want %q", buf.String(), tt.wantOut)
				}
			}
		})
	}
}

// commandAt builds a chain of commands whose CommandPath is path.
func commandAt(path string) *cobra.Command {
	var parent, c *cobra.Command
	for _, name := range strings.Fields(path) {
		c = &cobra.Command{Use: name}
		if parent != nil {
			parent.AddCommand(c)
		}
		parent = c
	}
	return c
}

func TestExitCodes(t *testing.T) {
	// CONTRACT §6: these numbers are fixed.
	got := []int{ExitOK, ExitError, ExitCancelled, ExitDenied, ExitAuth, ExitPending, ExitUsage}
	want := []int{0, 1, 2, 3, 4, 5, 64}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("exit codes = %v, want %v", got, want)
			break
		}
	}
}

// TestCommandTree: the real tree has every command of CONTRACT §3 and each
// is documented.
func TestCommandTree(t *testing.T) {
	root := NewRoot()
	var paths []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.Hidden || s.Name() == "help" {
				continue
			}
			paths = append(paths, s.CommandPath())
			if s.Short == "" {
				t.Errorf("%s has no short description", s.CommandPath())
			}
			if s.Runnable() && s.Example == "" && s.Name() != "__complete" {
				t.Errorf("%s has no example", s.CommandPath())
			}
			walk(s)
		}
	}
	walk(root)
	sort.Strings(paths)
	for _, want := range []string{
		"jit elevate", "jit env", "jit credential-process", "jit targets", "jit whoami",
		"jit policy validate", "jit policy test", "jit policy explain",
		"jit audit verify", "jit audit tail", "jit dev", "jit completion", "jit version",
	} {
		i := sort.SearchStrings(paths, want)
		if i == len(paths) || paths[i] != want {
			t.Errorf("command tree lacks %q; has %q", want, paths)
		}
	}
	for _, name := range []string{"config", "debug", "policy-repo", "policy-ref", "aws-profile"} {
		if root.PersistentFlags().Lookup(name) == nil {
			t.Errorf("root lacks the persistent flag --%s", name)
		}
	}
}
