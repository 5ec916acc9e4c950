// Package targets implements `jit targets`.
package targets

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/providers"
)

// Options of `jit targets`.
type Options struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)
	Now       func() time.Time
	JSON      bool
	Eligible  bool
}

// Row is one target as `jit targets --json` prints it.
type Row struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Provider    string   `json:"provider"`
	Allowed     *bool    `json:"allowed"` // null when the caller is unknown
	MaxDuration string   `json:"max_duration,omitempty"`
	Rule        string   `json:"rule,omitempty"`
	Requires    []string `json:"requires,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// NewCmdTargets returns the command.
func NewCmdTargets(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Elevation: f.Elevation, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "targets",
		Short: "List the targets, whether you may elevate and for how long",
		Long: `List the policy's targets with, for the caller, whether a rule allows
elevating, the longest duration it allows (including the provider's own
limits, such as AWS role chaining), and what the rule requires.`,
		Example: `  $ jit targets
  TARGET   PROVIDER  ALLOWED  MAX  REQUIRES        DESCRIPTION
  prod     aws       yes      1h   reason, ticket  Production account, administrator
  staging  aws       yes      4h                   Staging

  $ jit targets --json | jq -r '.[] | select(.allowed) | .name'

  # the roles Azure PIM says you are eligible for, wherever they are
  $ jit targets --eligible`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&opts.Eligible, "eligible", false, "list what the clouds themselves say you may activate (Azure PIM eligibility)")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	svc, err := o.Elevation()
	if err != nil {
		return err
	}
	pol, _, err := svc.Policy(ctx)
	if err != nil {
		return err
	}
	if o.Eligible {
		return runEligible(ctx, o, svc, pol)
	}
	rows := Rows(ctx, svc, pol, o.Now(), func(msg string) { fmt.Fprintln(o.IO.ErrOut, "jit: warning: "+msg) })
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
	if o.IO.IsStdoutTTY() {
		fmt.Fprintln(tw, "TARGET\tPROVIDER\tALLOWED\tMAX\tREQUIRES\tDESCRIPTION")
	}
	for _, r := range rows {
		allowed := "unknown"
		if r.Allowed != nil {
			allowed = map[bool]string{true: "yes", false: "no"}[*r.Allowed]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Provider, allowed, r.MaxDuration, strings.Join(r.Requires, ", "), r.Description)
	}
	return tw.Flush()
}

// Rows evaluates every target for the caller, resolving the caller once per
// provider. A provider whose caller cannot be resolved leaves Allowed
// unknown and warns.
func Rows(ctx context.Context, svc *elevation.Service, pol *policy.Policy, now time.Time, warn func(string)) []Row {
	byProvider := map[string][]string{}
	for n, t := range pol.Targets {
		byProvider[t.Provider] = append(byProvider[t.Provider], n)
	}
	var rows []Row
	for prov, names := range byProvider {
		pr, err := svc.WhoAmI(ctx, prov, pol)
		known := err == nil
		if !known {
			warn(fmt.Sprintf("cannot tell who you are on %s, so whether you may elevate is unknown: %v", prov, err))
		}
		views := map[string]policy.TargetView{}
		if known {
			for _, v := range pol.TargetViews(pr, now) {
				views[v.Name] = v
			}
		}
		p, _ := svc.Providers.Get(prov)
		lim, _ := p.(elevation.Limiter)
		for _, n := range names {
			t := pol.Targets[n]
			r := Row{Name: n, Description: t.Description, Provider: prov}
			if known {
				v := views[n]
				a := v.Allowed
				r.Allowed, r.Rule, r.Requires = &a, v.Rule, v.Requires
				maxD := v.MaxDuration
				if lim != nil && a {
					if l, why := lim.MaxDuration(ctx, t.ProviderTarget(), pr); l > 0 && l < maxD {
						maxD, r.Note = l, why
					}
				}
				if a {
					r.MaxDuration = policy.FormatDuration(maxD)
				}
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

// EligibleRow is one role a cloud says the caller may activate.
type EligibleRow struct {
	Provider string `json:"provider"`
	providers.EligibleRole
	// Targets are the policy's targets for this role and scope.
	Targets []string `json:"targets,omitempty"`
}

func runEligible(ctx context.Context, o *Options, svc *elevation.Service, pol *policy.Policy) error {
	provs := map[string]bool{}
	for _, t := range pol.Targets {
		provs[t.Provider] = true
	}
	var rows []EligibleRow
	for _, name := range svc.Providers.Names() {
		if !provs[name] {
			continue
		}
		p, err := svc.Providers.Get(name)
		if err != nil {
			return err
		}
		l, ok := p.(providers.EligibilityLister)
		if !ok {
			continue
		}
		roles, err := l.Eligible(ctx)
		if err != nil {
			return fmt.Errorf("%s eligibility: %w", name, err)
		}
		for _, r := range roles {
			row := EligibleRow{Provider: name, EligibleRole: r}
			for _, t := range pol.Targets {
				if t.Provider == name && matchesTarget(t, r) {
					row.Targets = append(row.Targets, t.Name)
				}
			}
			sort.Strings(row.Targets)
			rows = append(rows, row)
		}
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []EligibleRow{}
		}
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "jit: no cloud-side eligibility for the policy's providers")
		return nil
	}
	tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
	if o.IO.IsStdoutTTY() {
		fmt.Fprintln(tw, "PROVIDER\tROLE\tSCOPE\tENDS\tTARGETS")
	}
	for _, r := range rows {
		ends := "permanent"
		if !r.EndsAt.IsZero() {
			ends = r.EndsAt.UTC().Format(time.RFC3339)
		}
		targets := strings.Join(r.Targets, ", ")
		if targets == "" {
			targets = "(no target in the policy)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Provider, r.Role, r.Scope, ends, targets)
	}
	return tw.Flush()
}

// matchesTarget reports whether a target of the policy names this role at
// this scope (by the provider's own settings, which expose both).
func matchesTarget(t *policy.Target, r providers.EligibleRole) bool {
	s, ok := t.Spec.(interface{ RoleAndScope() (string, string) })
	if !ok {
		return false
	}
	role, scope := s.RoleAndScope()
	return strings.EqualFold(strings.TrimSuffix(scope, "/"), strings.TrimSuffix(r.Scope, "/")) &&
		(strings.EqualFold(role, r.Role) || strings.EqualFold(role, r.RoleID))
}
