// Package request holds what `jit elevate`, `jit env` and
// `jit credential-process` share: the request flags, the target picker and
// the reason prompt, and the session variables of CONTRACT §4.
package request

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/internal/prompt"
	"github.com/jitaccess/jit/providers"
)

// Flags are the request flags.
type Flags struct {
	For    string
	Reason string
	Ticket string
	DryRun bool
}

// Add registers the flags on cmd.
func (fl *Flags) Add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&fl.For, "for", "", "how long the access lasts, e.g. 15m, 1h30m, 1d (default: the target's default)")
	cmd.Flags().StringVarP(&fl.Reason, "reason", "r", "", "why you need the access (recorded in the audit trail)")
	cmd.Flags().StringVarP(&fl.Ticket, "ticket", "t", "", "change or incident ticket, e.g. CHG-42")
	cmd.Flags().BoolVar(&fl.DryRun, "dry-run", false, "decide and show what would be granted, without granting")
}

// Parse checks the request flags and returns --for (0 when not given).
func (fl *Flags) Parse() (time.Duration, error) {
	if err := elevation.CheckText("reason", fl.Reason); err != nil {
		return 0, cmdutil.FlagErrorf("--%v", err)
	}
	if err := elevation.CheckText("ticket", fl.Ticket); err != nil {
		return 0, cmdutil.FlagErrorf("--%v", err)
	}
	if fl.For == "" {
		return 0, nil
	}
	d, err := policy.ParseDuration(fl.For)
	if err != nil {
		return 0, cmdutil.FlagErrorf("--for: %v", err)
	}
	if d <= 0 {
		return 0, cmdutil.FlagErrorf("--for must be positive, got %s", fl.For)
	}
	return d, nil
}

// Request builds the elevation request. When prompting is possible, missing
// values the policy requires are asked for on stderr.
func (fl *Flags) Request(target string, d time.Duration, io *iostreams.IOStreams, p func() prompt.Prompter) elevation.Request {
	r := elevation.Request{Target: target, Duration: d, Reason: fl.Reason, Ticket: fl.Ticket, DryRun: fl.DryRun}
	if io.CanPrompt() && p != nil {
		r.Ask = func(_ context.Context, field, hint string, validate func(string) error) (string, error) {
			switch field {
			case "reason":
				return p().Input("Reason for elevating to "+target, hint, validate)
			case "ticket":
				// The pattern goes in the title: accessible prompts show no
				// description.
				title := "Ticket for " + target
				if hint != "" {
					title += " (" + hint + ")"
				}
				return p().Input(title, "", validate)
			}
			return p().Input(field, hint, validate)
		}
	}
	return r
}

// Elevate is what elevate, env and credential-process share: pick the
// target when none was named (on a terminal), ask for what the policy
// requires where prompting is possible (p may be nil: never), and turn a
// value that is still missing into the usage error naming its flag.
func (fl *Flags) Elevate(ctx context.Context, svc *elevation.Service, target, cmdName string, d time.Duration,
	io *iostreams.IOStreams, p func() prompt.Prompter, session []string) (*elevation.Result, error) {
	if target == "" {
		var err error
		if target, err = PickTarget(ctx, svc, io, p, cmdName); err != nil {
			return nil, err
		}
	}
	req := fl.Request(target, d, io, p)
	req.Session = session
	res, err := svc.Elevate(ctx, req)
	var mi *elevation.MissingInputError
	if errors.As(err, &mi) {
		return nil, MissingInput(mi)
	}
	return res, err
}

// MissingInput turns a MissingInputError into the usage error of the
// contract: a missing value the policy requires names the flag.
func MissingInput(err *elevation.MissingInputError) error {
	flags := ""
	for i, f := range err.Fields {
		if i > 0 {
			flags += " and "
		}
		flags += "--" + f
	}
	return cmdutil.FlagErrorf("%s required to elevate to %s (rule %q); not prompting because this is not a terminal", flags, err.Target, err.Rule)
}

// CheckTarget is the usage error for a missing target when no one can be
// asked; commands call it before loading anything, so that the mistake is
// reported as such even where jit is not configured.
func CheckTarget(target string, io *iostreams.IOStreams, cmdName string) error {
	if target == "" && !io.CanPrompt() {
		return cmdutil.FlagErrorf("target required: jit %s <target> (see jit targets)", cmdName)
	}
	return nil
}

// PickTarget asks for a target on a terminal, or returns a usage error.
func PickTarget(ctx context.Context, svc *elevation.Service, io *iostreams.IOStreams, p func() prompt.Prompter, cmdName string) (string, error) {
	if err := CheckTarget("", io, cmdName); err != nil {
		return "", err
	}
	pol, _, err := svc.Policy(ctx)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(pol.Targets))
	for n := range pol.Targets {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("the policy defines no targets")
	}
	sort.Strings(names)
	labels := make([]string, len(names))
	for i, n := range names {
		labels[i] = n
		if d := pol.Targets[n].Description; d != "" {
			labels[i] = n + " — " + d
		}
	}
	i, err := p().Select("Elevate to", labels, 0)
	if err != nil {
		return "", err
	}
	return names[i], nil
}

// SessionVars are the variables every elevated session gets (CONTRACT §4),
// followed by the provider's own.
func SessionVars(res *elevation.Result) []providers.EnvVar {
	g := res.Grant
	vars := []providers.EnvVar{
		{Name: "JIT_TARGET", Value: g.Target},
		{Name: "JIT_PROVIDER", Value: g.Provider},
		{Name: "JIT_REQUEST_ID", Value: g.RequestID},
		{Name: "JIT_EXPIRES_AT", Value: g.NotAfter.UTC().Format(time.RFC3339)},
	}
	return append(vars, g.Env...)
}

// CheckNesting refuses to elevate inside an elevated session unless nested.
func CheckNesting(getenv func(string) string, nested bool) error {
	if id := getenv("JIT_REQUEST_ID"); id != "" && !nested {
		return cmdutil.FlagErrorf("already in a jit session for %s (request %s): exit it first, or pass --nested", getenv("JIT_TARGET"), id)
	}
	return nil
}

// DescribeDryRun is the human summary of a dry run.
func DescribeDryRun(res *elevation.Result) string {
	d := res.Decision
	s := fmt.Sprintf("would grant %s to %s for %s (rule %q, maximum %s, policy commit %s)",
		res.Target.Name, res.Principal.ID, policy.FormatDuration(d.Duration), d.Rule, policy.FormatDuration(d.MaxDuration), shortCommit(res.Policy.Commit))
	if res.RevokeNote != "" {
		s += "\nrevocation: " + res.RevokeNote
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// CompleteTargets completes target names from the policy, without touching
// any cloud.
func CompleteTargets(f *cmdutil.Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 || f.Elevation == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		svc, err := f.Elevation()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		pol, _, err := svc.Policy(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for n, t := range pol.Targets {
			out = append(out, n+"\t"+t.Description)
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
