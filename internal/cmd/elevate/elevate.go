// Package elevate implements `jit elevate`: grant, then run a subshell or a
// command with the grant's environment, and record the end of the session.
package elevate

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmd/request"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/prompt"
	"github.com/jitaccess/jit/internal/session"
)

// Options of `jit elevate`.
type Options struct {
	IO        *iostreams.IOStreams
	Prompter  func() prompt.Prompter
	Elevation func() (*elevation.Service, error)
	Getenv    func(string) string
	Environ   func() []string

	Target  string
	Flags   request.Flags
	Nested  bool
	Command []string
}

// NewCmdElevate returns the command.
func NewCmdElevate(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Prompter: f.Prompter, Elevation: f.Elevation, Getenv: f.Getenv, Environ: f.Environ}
	cmd := &cobra.Command{
		Use:   "elevate [<target>] [flags] [-- <command> [<args>...]]",
		Short: "Get time-bound access and start a subshell or run a command with it",
		Long: `Ask the policy for access to a target and, when it allows, create time-bound
access through the cloud's own mechanism, then start $SHELL (or run the command
after --) with the credentials in its environment. When the shell or command
exits, the end of the session is recorded. The exit status is the command's.

Credentials reach the child only through its environment; nothing is written
to disk but the audit journal, which holds no secret.`,
		Example: `  # a subshell with production access for an hour
  $ jit elevate prod --for 1h --reason "CHG-42 rotate keys"

  # one command, then the access is no longer in any shell
  $ jit elevate prod --for 15m -r "INC-7 inspect" -- aws s3 ls

  # what would happen, without granting
  $ jit elevate prod --for 2h --dry-run`,
		Aliases: []string{"exec"},
		Args: func(cmd *cobra.Command, args []string) error {
			at := cmd.ArgsLenAtDash()
			if at == -1 && len(args) > 1 {
				return cmdutil.FlagErrorf("put the command after --: jit elevate %s -- %s", args[0], args[1])
			}
			if at > 1 {
				return cmdutil.FlagErrorf("one target only, got %q", args[:at])
			}
			return nil
		},
		ValidArgsFunction: request.CompleteTargets(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			at := cmd.ArgsLenAtDash()
			if at == -1 {
				at = len(args)
			}
			if at == 1 {
				opts.Target = args[0]
			}
			opts.Command = args[at:]
			if cmd.ArgsLenAtDash() != -1 && len(opts.Command) == 0 {
				return cmdutil.FlagErrorf("no command after --")
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.Flags.Add(cmd)
	cmd.Flags().BoolVar(&opts.Nested, "nested", false, "allow elevating inside an elevated session")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	if err := request.CheckNesting(o.Getenv, o.Nested); err != nil {
		return err
	}
	if err := request.CheckTarget(o.Target, o.IO, "elevate"); err != nil {
		return err
	}
	d, err := o.Flags.Parse()
	if err != nil {
		return err
	}
	svc, err := o.Elevation()
	if err != nil {
		return err
	}
	defer svc.Close()
	argv := o.Command
	if len(argv) == 0 {
		argv = []string{session.Shell(o.Getenv)}
	}
	res, err := o.Flags.Elevate(ctx, svc, o.Target, "elevate", d, o.IO, o.Prompter, argv)
	if err != nil {
		return err
	}
	if o.Flags.DryRun {
		fmt.Fprintln(o.IO.ErrOut, request.DescribeDryRun(res))
		return nil
	}

	g := res.Grant
	vars := request.SessionVars(res)
	set := make([]session.Var, len(vars))
	for i, v := range vars {
		set[i] = session.Var{Name: v.Name, Value: v.Value}
	}
	env := session.BuildEnv(o.Environ(), set, g.Unset)
	if o.IO.IsStderrTTY() {
		what := "a subshell"
		if len(o.Command) > 0 {
			what = o.Command[0]
		}
		fmt.Fprintf(o.IO.ErrOut, "jit: %s elevated to %s until %s (request %s); starting %s\n",
			res.Principal.ID, g.Target, g.NotAfter.Local().Format("15:04 MST"), g.RequestID, what)
	}
	// Detached: ctx is cancelled by the signals that session.Run forwards
	// itself, and a second delivery would make the child abort.
	r, runErr := session.Run(context.WithoutCancel(ctx), session.Options{
		Argv: argv, Env: env, Stdin: o.IO.In, Stdout: o.IO.Out, Stderr: o.IO.ErrOut,
		Interactive: o.IO.IsStdinTTY(),
	})
	if err := svc.EndSession(context.WithoutCancel(ctx), res, argv, r.ExitCode, r.Duration); err != nil {
		fmt.Fprintf(o.IO.ErrOut, "jit: warning: session end not recorded: %v\n", err)
	}
	if runErr != nil {
		// The shell's codes for a command that cannot run: 127 not found,
		// 126 not executable.
		return &cmdutil.ExitError{Code: r.ExitCode, Err: runErr}
	}
	if o.IO.IsStderrTTY() && len(o.Command) == 0 {
		fmt.Fprintf(o.IO.ErrOut, "jit: left the %s session after %s\n", g.Target, r.Duration.Round(time.Second))
	}
	if r.ExitCode != 0 {
		return &cmdutil.ExitError{Code: r.ExitCode}
	}
	return nil
}
