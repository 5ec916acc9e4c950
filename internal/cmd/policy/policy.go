// Package policy implements `jit policy validate|test|explain`. None of them
// touches a cloud SDK unless explain has to find out who the caller is.
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	pol "github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/internal/policysource"
	"github.com/jitaccess/jit/providers"
)

// Deps are what the policy commands need.
type Deps struct {
	IO        *iostreams.IOStreams
	Source    func() (policysource.Source, error)
	Providers func() *providers.Registry
	Elevation func() (*elevation.Service, error)
	Now       func() time.Time
}

// NewCmdPolicy returns `jit policy` and its subcommands.
func NewCmdPolicy(f *cmdutil.Factory) *cobra.Command {
	d := &Deps{IO: f.IOStreams, Source: f.PolicySource, Providers: f.Providers, Elevation: f.Elevation, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "policy <command>",
		Short: "Validate, test and explain the access policy",
		Long: `The access policy is read from the commit that policy.ref names in the
repository policy.repo — never from a working tree. These commands check it,
run its test cases and explain its decisions, without calling any cloud
(except explain without --as, which asks the cloud who you are).`,
	}
	cmd.AddCommand(NewCmdValidate(d, nil), NewCmdTest(d, nil), NewCmdExplain(d, nil))
	return cmd
}

// load reads the policy from file, or from the configured source when file
// is "".
func (d *Deps) load(ctx context.Context, file string) (*pol.Policy, *policysource.Snapshot, policysource.Source, error) {
	var src policysource.Source
	if file != "" {
		src = &policysource.File{Path: file}
	} else {
		s, err := d.Source()
		if err != nil {
			return nil, nil, nil, err
		}
		src = s
	}
	snap, err := src.Load(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := pol.Parse(snap.Data, pol.Options{File: snap.File, Providers: d.Providers().Specs()})
	if err != nil {
		return nil, snap, src, err
	}
	return p, snap, src, nil
}

func where(s *policysource.Snapshot) string {
	if s.Commit == "" {
		return s.File
	}
	c := s.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	return fmt.Sprintf("%s at commit %s (%s, ref %s)", s.File, c, s.Repo, s.Ref)
}

// ValidateOptions of `jit policy validate`.
type ValidateOptions struct {
	*Deps
	File string
}

// NewCmdValidate returns `jit policy validate`.
func NewCmdValidate(d *Deps, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{Deps: d}
	return &cobra.Command{
		Use:   "validate [<file>]",
		Short: "Check the policy at the configured commit, or a policy file",
		Long: `Parse and validate the policy: unknown keys, unknown providers, targets a
rule names that do not exist, bad globs, regular expressions and CEL, bad
durations. Every problem is reported with its file, line and column.

With a file argument, the file is checked as it is on disk (for authoring);
without, the policy at the commit policy.ref names.`,
		Example: `  # the policy jit would use now
  $ jit policy validate

  # a file you are editing, before you commit it
  $ jit policy validate ./jit.yaml`,
		Args: cmdutil.MaximumArgs(1, "a policy file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			p, snap, _, err := opts.load(cmd.Context(), opts.File)
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.IO.ErrOut, "%s is valid: %d targets, %d rules\n", where(snap), len(p.Targets), len(p.Rules))
			return nil
		},
	}
}

// TestOptions of `jit policy test`.
type TestOptions struct {
	*Deps
	Cases  string
	Policy string
}

// NewCmdTest returns `jit policy test`.
func NewCmdTest(d *Deps, runF func(*TestOptions) error) *cobra.Command {
	opts := &TestOptions{Deps: d}
	cmd := &cobra.Command{
		Use:   "test [<cases-file>]",
		Short: "Run the policy's test cases",
		Long: `Run test cases against the policy and report each failure. A case names a
principal, a target, a duration, optionally a reason, ticket and time, and
the expected decision (allow or deny) and rule:

  - name: sre may use prod for an hour
    principal: alice@example.com
    target: prod
    duration: 1h
    reason: CHG-1 deploy
    ticket: CHG-1
    expect: allow
    rule: sre-prod

Without an argument the cases are read from <policy>_test.yaml beside the
policy file (jit_test.yaml for jit.yaml) at the same commit, so the tests
travel with the policy. Exits 1 when any case fails.`,
		Example: `  $ jit policy test
  ok   4 cases passed (jit.yaml at commit 1a2b3c4d5e6f)

  # cases and policy from your working copy, while editing
  $ jit policy test ./jit_test.yaml --policy ./jit.yaml`,
		Args: cmdutil.MaximumArgs(1, "a test cases file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Cases = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return runTest(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Policy, "policy", "", "a policy file to test instead of the configured commit")
	return cmd
}

type atReader interface {
	ReadAt(ctx context.Context, commit, path string) ([]byte, error)
}

func runTest(ctx context.Context, o *TestOptions) error {
	p, snap, src, err := o.load(ctx, o.Policy)
	if err != nil {
		return err
	}
	var data []byte
	file := o.Cases
	switch {
	case file != "":
		s, err := (&policysource.File{Path: file}).Load(ctx)
		if err != nil {
			return err
		}
		data = s.Data
	default:
		file = testsFileFor(snap.File)
		r, ok := src.(atReader)
		if !ok || snap.Commit == "" {
			// file is already beside the policy file: same directory.
			s, err := (&policysource.File{Path: file}).Load(ctx)
			if err != nil {
				return cmdutil.FlagErrorf("no cases file given and %s not found beside the policy: %v", file, err)
			}
			data = s.Data
		} else if data, err = r.ReadAt(ctx, snap.Commit, file); err != nil {
			return cmdutil.WithHint(err, "commit a "+file+" beside the policy, or name a cases file: jit policy test FILE")
		}
	}
	cases, err := pol.ParseTests(data, file)
	if err != nil {
		return err
	}
	// A case naming a principal by id alone matches as that caller would:
	// an AWS assumed-role ARN also matches by session name and role ARN.
	for i := range cases {
		pr := &cases[i].Principal
		if len(pr.Aliases) == 0 && pr.Source == "" && pr.Account == "" {
			d := o.Providers().PrincipalFromID(pr.ID)
			pr.Aliases, pr.Account = d.Aliases, d.Account
			if pr.Claims == nil {
				pr.Claims = d.Claims
			}
		}
	}
	results := p.RunTests(cases, o.Now())
	failed := 0
	for _, r := range results {
		if r.Passed {
			continue
		}
		failed++
		fmt.Fprintf(o.IO.Out, "FAIL %s (%s:%d): %s\n", r.Case.Name, file, r.Case.Line, r.Problem)
	}
	if failed > 0 {
		fmt.Fprintf(o.IO.Out, "FAIL %d of %d cases failed (%s)\n", failed, len(results), where(snap))
		return cmdutil.ErrSilent
	}
	fmt.Fprintf(o.IO.Out, "ok   %d cases passed (%s)\n", len(results), where(snap))
	return nil
}

// testsFileFor names the cases file beside a policy file: jit.yaml →
// jit_test.yaml.
func testsFileFor(policyFile string) string {
	ext := path.Ext(policyFile)
	return strings.TrimSuffix(policyFile, ext) + "_test" + ext
}

// ExplainOptions of `jit policy explain`.
type ExplainOptions struct {
	*Deps
	Target string
	As     string
	For    string
	Reason string
	Ticket string
	At     string
	Policy string
	JSON   bool
}

// NewCmdExplain returns `jit policy explain`.
func NewCmdExplain(d *Deps, runF func(*ExplainOptions) error) *cobra.Command {
	opts := &ExplainOptions{Deps: d}
	cmd := &cobra.Command{
		Use:   "explain <target> [--as <principal>] [--for <duration>]",
		Short: "Show which rule decides a request and why",
		Long: `Evaluate a request without making it and show, rule by rule, whether the
subject, target, condition, requirements and duration match, and the
decision. Without --as, the caller is asked of the cloud (as jit whoami).`,
		Example: `  $ jit policy explain prod --as alice@example.com --for 2h
  $ jit policy explain prod --as arn:aws:iam::111111111111:user/bob --reason x --ticket CHG-1 --json`,
		Args: cmdutil.ExactArgs(1, "target required: jit policy explain <target> --as <principal>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runExplain(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.As, "as", "", "the principal to evaluate for (an id, ARN or e-mail); default: you")
	cmd.Flags().StringVar(&opts.For, "for", "", "requested duration (default: the target's default)")
	cmd.Flags().StringVarP(&opts.Reason, "reason", "r", "", "reason given with the request")
	cmd.Flags().StringVarP(&opts.Ticket, "ticket", "t", "", "ticket given with the request")
	cmd.Flags().StringVar(&opts.At, "at", "", "evaluate at this time (RFC 3339), default now")
	cmd.Flags().StringVar(&opts.Policy, "policy", "", "a policy file to explain instead of the configured commit")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func runExplain(ctx context.Context, o *ExplainOptions) error {
	in := pol.Input{Target: o.Target, Reason: o.Reason, Ticket: o.Ticket, Time: o.Now()}
	if o.For != "" {
		d, err := pol.ParseDuration(o.For)
		if err != nil {
			return cmdutil.FlagErrorf("--for: %v", err)
		}
		in.Duration = d
	}
	if o.At != "" {
		t, err := time.Parse(time.RFC3339, o.At)
		if err != nil {
			return cmdutil.FlagErrorf("--at: %q is not an RFC 3339 time such as 2026-12-03T09:00:00Z", o.At)
		}
		in.Time = t
	}
	p, _, _, err := o.load(ctx, o.Policy)
	if err != nil {
		return err
	}
	if o.As != "" {
		in.Principal = o.Providers().PrincipalFromID(o.As)
	} else {
		svc, err := o.Elevation()
		if err != nil {
			return err
		}
		prov := "aws"
		if t, ok := p.Targets[o.Target]; ok {
			prov = t.Provider
		}
		if in.Principal, err = svc.WhoAmI(ctx, prov, nil); err != nil {
			return cmdutil.WithHint(err, "or name the principal: --as <id>")
		}
		// The provider's own cap for this caller (AWS role chaining), as
		// jit elevate would apply it.
		if t, ok := p.Targets[o.Target]; ok {
			if pv, err := svc.Providers.Get(prov); err == nil {
				if lim, ok := pv.(elevation.Limiter); ok {
					in.Limit, in.LimitReason = lim.MaxDuration(ctx, t.ProviderTarget(), in.Principal)
				}
			}
		}
	}
	in.Principal.Groups = p.GroupsOf(in.Principal)
	ex := p.Explain(in)
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	_, err = fmt.Fprint(o.IO.Out, ex.String())
	return err
}
