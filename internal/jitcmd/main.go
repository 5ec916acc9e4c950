// Package jitcmd is jit's one Main: it builds the command tree, runs it,
// and maps typed errors to the documented exit codes (CONTRACT §6), printing
// one line (and a hint) on stderr.
package jitcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jitaccess/jit/internal/cmd/factory"
	"github.com/jitaccess/jit/internal/cmd/root"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

// Exit codes (CONTRACT §6).
const (
	ExitOK        = 0
	ExitError     = 1
	ExitCancelled = 2
	ExitDenied    = 3
	ExitAuth      = 4
	ExitPending   = 5
	ExitUsage     = 64
)

// Main runs jit with the process's arguments and returns the exit code.
func Main() int {
	ios := iostreams.System()
	g := &root.GlobalFlags{}
	var cmd *cobra.Command
	f := factory.New(ios, factory.Globals{
		ConfigFile: func() string { return g.Config },
		Debug:      func() bool { return g.Debug },
		Flags:      func() *pflag.FlagSet { return cmd.Root().PersistentFlags() },
	})
	cmd = root.NewCmdRoot(f, g)
	cmd.SetArgs(os.Args[1:])
	cmd.SetIn(ios.In)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)

	// The first Ctrl-C cancels what jit is doing (a prompt, a cloud call);
	// while a child runs, the session package handles signals itself.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := cmd.ExecuteContextC(ctx)
	if err != nil && ctx.Err() != nil && !isExit(err) {
		err = cmdutil.ErrCancel
	}
	return Report(ios.ErrOut, c, err)
}

func isExit(err error) bool {
	var ee *cmdutil.ExitError
	return errors.As(err, &ee)
}

// Report prints err (if any) and returns its exit code.
func Report(w io.Writer, cmd *cobra.Command, err error) int {
	if err == nil {
		return ExitOK
	}
	code, hint := Classify(err)
	var ee *cmdutil.ExitError
	switch {
	case errors.Is(err, cmdutil.ErrSilent):
	case errors.As(err, &ee) && ee.Err == nil:
	case code == ExitCancelled:
		fmt.Fprintln(w, "jit: cancelled")
	default:
		fmt.Fprintf(w, "jit: %s\n", oneLine(err.Error()))
		if hint != "" {
			fmt.Fprintf(w, "hint: %s\n", hint)
		}
		if code == ExitUsage && cmd != nil {
			fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return code
}

// Classify maps an error to its exit code and hint.
func Classify(err error) (int, string) {
	hint := ""
	var he *cmdutil.HintError
	if errors.As(err, &he) {
		hint = he.Hint
	}
	var pe *providers.Error
	if errors.As(err, &pe) && hint == "" {
		hint = pe.Hint
	}
	var (
		ee *cmdutil.ExitError
		fe *cmdutil.FlagError
		de *elevation.DeniedError
	)
	switch {
	case errors.As(err, &ee):
		return ee.Code, ""
	case errors.Is(err, cmdutil.ErrCancel), errors.Is(err, context.Canceled):
		return ExitCancelled, ""
	case errors.As(err, &de):
		return ExitDenied, hint
	case errors.As(err, &fe), isCobraUsage(err):
		return ExitUsage, hint
	case providers.KindOf(err) == providers.KindAuth:
		return ExitAuth, hint
	case providers.KindOf(err) == providers.KindPending:
		return ExitPending, hint
	}
	return ExitError, hint
}

// isCobraUsage recognises the errors cobra itself returns for bad command
// lines, which are not typed.
func isCobraUsage(err error) bool {
	m := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "required flag"} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	// Multi-problem errors (policy validation) keep their lines; anything
	// else is folded so a stray newline cannot hide a message.
	if strings.Count(s, "\n") > 0 && !strings.Contains(s, ".yaml:") {
		return strings.ReplaceAll(s, "\n", " ")
	}
	return s
}
