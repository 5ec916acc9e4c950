// Package gc implements `jit gc`.
package gc

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/providers"
)

// Options of `jit gc`.
type Options struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)
}

// NewCmdGC returns the command.
func NewCmdGC(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Elevation: f.Elevation}
	return &cobra.Command{
		Use:   "gc",
		Short: "Remove what expired grants left behind in the cloud",
		Long: `Some clouds keep a record of a time-bound grant after it ends: a GCP
conditional IAM binding stays in the policy, inert, until someone deletes it.
jit removes the expired bindings it made whenever it grants on the same
resource; jit gc does it for every target of the policy. It also journals the
end of grants on this machine that expired since the last jit run.`,
		Example: `  $ jit gc
  gcp: removed 3 expired bindings`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
}

func run(ctx context.Context, o *Options) error {
	svc, err := o.Elevation()
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.Sweep(ctx); err != nil {
		return err
	}
	pol, _, err := svc.Policy(ctx)
	if err != nil {
		return err
	}
	byProvider := map[string][]providers.Target{}
	for _, t := range pol.Targets {
		byProvider[t.Provider] = append(byProvider[t.Provider], t.ProviderTarget())
	}
	names := make([]string, 0, len(byProvider))
	for n := range byProvider {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		spec, _ := svc.Providers.Spec(n)
		if !spec.Collects {
			continue
		}
		p, err := svc.Providers.Get(n)
		if err != nil {
			return err
		}
		c, ok := p.(providers.Collector)
		if !ok {
			continue
		}
		removed, err := c.Collect(ctx, byProvider[n])
		fmt.Fprintf(o.IO.Out, "%s: removed %d expired grant records\n", n, removed)
		switch {
		case err == nil:
		case providers.KindOf(err) == providers.KindDenied:
			// A resource you may not administer is someone else's to clean.
			fmt.Fprintf(o.IO.ErrOut, "jit: warning: %s: skipped what you may not change: %s\n", n, strings.ReplaceAll(err.Error(), "\n", "; "))
		default:
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}
