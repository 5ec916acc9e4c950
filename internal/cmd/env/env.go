// Package env implements `jit env`: grant, then print the environment for
// eval, a dotenv file, JSON, or GitHub Actions.
package env

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmd/request"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/prompt"
	"github.com/jitaccess/jit/internal/shellenv"
)

// Options of `jit env`.
type Options struct {
	IO        *iostreams.IOStreams
	Prompter  func() prompt.Prompter
	Elevation func() (*elevation.Service, error)
	Getenv    func(string) string

	Target string
	Flags  request.Flags
	Shell  string
	Nested bool
}

// NewCmdEnv returns the command.
func NewCmdEnv(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Prompter: f.Prompter, Elevation: f.Elevation, Getenv: f.Getenv}
	cmd := &cobra.Command{
		Use:   "env [<target>] [flags]",
		Short: "Get time-bound access and print it as environment variables",
		Long: `Ask the policy for access to a target and, when it allows, print the
credentials as statements for the current shell to evaluate. The format
follows $SHELL unless --shell says otherwise:

  bash, zsh   eval "$(jit env prod --for 1h -r 'CHG-42')"
  fish        jit env prod --shell fish | source
  pwsh        jit env prod --shell pwsh | Invoke-Expression
  dotenv      NAME="value" lines
  json        one JSON object of the variables
  github      in GitHub Actions: masks the secrets (::add-mask::) and appends
              the variables to $GITHUB_ENV for the following steps

Variables that would shadow the credentials (AWS_PROFILE, …) are unset.
Values are quoted so that any byte survives.`,
		Example: `  # credentials in the current bash or zsh
  $ eval "$(jit env prod --for 1h --reason 'CHG-42 rotate keys')"

  # a CI step that gives later steps deploy credentials
  $ jit env deploy --for 30m --reason "$GITHUB_RUN_ID" --shell github`,
		Args:              cmdutil.MaximumArgs(1, "the target"),
		ValidArgsFunction: request.CompleteTargets(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Target = args[0]
			}
			if opts.Shell != "" {
				if _, err := shellenv.ParseFormat(opts.Shell); err != nil {
					return cmdutil.FlagErrorf("--shell: %v", err)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.Flags.Add(cmd)
	cmd.Flags().StringVar(&opts.Shell, "shell", "", "output format: bash, zsh, fish, pwsh, dotenv, json or github (default: from $SHELL)")
	cmd.Flags().BoolVar(&opts.Nested, "nested", false, "allow elevating inside an elevated session")
	_ = cmd.RegisterFlagCompletionFunc("shell", cobra.FixedCompletions(shellenv.Formats(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func run(ctx context.Context, o *Options) error {
	if err := request.CheckNesting(o.Getenv, o.Nested); err != nil {
		return err
	}
	if err := request.CheckTarget(o.Target, o.IO, "env"); err != nil {
		return err
	}
	format := shellenv.FormatForShell(o.Getenv("SHELL"))
	if o.Shell != "" {
		format, _ = shellenv.ParseFormat(o.Shell)
	}
	var ghEnv *os.File
	if format == shellenv.GitHub {
		path := o.Getenv("GITHUB_ENV")
		if path == "" {
			return cmdutil.FlagErrorf("--shell github writes to $GITHUB_ENV, which is not set (it is set inside GitHub Actions)")
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("open $GITHUB_ENV: %w", err)
		}
		defer f.Close()
		ghEnv = f
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
	res, err := o.Flags.Elevate(ctx, svc, o.Target, "env", d, o.IO, o.Prompter, nil)
	if err != nil {
		return err
	}
	if o.Flags.DryRun {
		fmt.Fprintln(o.IO.ErrOut, request.DescribeDryRun(res))
		return nil
	}
	vars := request.SessionVars(res)
	if ghEnv != nil {
		if err := shellenv.RenderGitHub(o.IO.Out, ghEnv, vars, res.Grant.Unset); err != nil {
			return err
		}
		return ghEnv.Sync()
	}
	if err := shellenv.Render(o.IO.Out, format, vars, res.Grant.Unset); err != nil {
		return err
	}
	if o.IO.IsStderrTTY() {
		fmt.Fprintf(o.IO.ErrOut, "jit: %s access until %s (request %s)\n", res.Grant.Target, res.Grant.NotAfter.Local().Format("15:04 MST"), res.Grant.RequestID)
	}
	return nil
}
