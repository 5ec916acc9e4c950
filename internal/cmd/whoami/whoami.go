// Package whoami implements `jit whoami`.
package whoami

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

// Options of `jit whoami`.
type Options struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)
	Provider  string
	JSON      bool
}

// NewCmdWhoami returns the command.
func NewCmdWhoami(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Elevation: f.Elevation}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are as the policy sees you",
		Long: `Show the principal the policy matches: the cloud's own view of your base
credentials (for AWS, the ARN GetCallerIdentity returns, and for an assumed
role also its session name, often your SSO e-mail), and the policy groups
you are in.`,
		Example: `  $ jit whoami
  arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Dev_1a2b/alice@example.com
    source   aws:sts:GetCallerIdentity
    aliases  alice@example.com, arn:aws:iam::111111111111:role/AWSReservedSSO_Dev_1a2b
    groups   sre

  $ jit whoami --json | jq -r .id`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Provider, "provider", "aws", "whose view of your identity: the provider name")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	svc, err := o.Elevation()
	if err != nil {
		return err
	}
	var pol *policy.Policy
	if p, _, err := svc.Policy(ctx); err == nil {
		pol = p
	} else {
		fmt.Fprintf(o.IO.ErrOut, "jit: warning: groups unknown: %v\n", err)
	}
	pr, err := svc.WhoAmI(providers.WithFreshIdentity(ctx), o.Provider, pol)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(pr)
	}
	fmt.Fprintln(o.IO.Out, pr.ID)
	fmt.Fprintf(o.IO.Out, "  source   %s\n", pr.Source)
	if pr.Account != "" {
		fmt.Fprintf(o.IO.Out, "  account  %s\n", pr.Account)
	}
	if len(pr.Aliases) > 0 {
		fmt.Fprintf(o.IO.Out, "  aliases  %s\n", strings.Join(pr.Aliases, ", "))
	}
	groups := "(none)"
	if len(pr.Groups) > 0 {
		groups = strings.Join(pr.Groups, ", ")
	}
	fmt.Fprintf(o.IO.Out, "  groups   %s\n", groups)
	return nil
}
