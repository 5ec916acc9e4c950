// Package status implements `jit status`.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
)

// Options of `jit status`.
type Options struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)
	Now       func() time.Time
	JSON      bool
}

// Row is one grant as `jit status --json` prints it.
type Row struct {
	RequestID  string            `json:"request_id"`
	State      string            `json:"state"`
	Target     string            `json:"target"`
	Provider   string            `json:"provider"`
	Principal  string            `json:"principal"`
	ExpiresAt  *time.Time        `json:"expires_at,omitempty"`
	Remaining  string            `json:"remaining,omitempty"`
	Revocable  bool              `json:"revocable"`
	RevokeNote string            `json:"revoke_note,omitempty"`
	Session    string            `json:"session,omitempty"`
	Refs       map[string]string `json:"refs,omitempty"`
}

// NewCmdStatus returns the command.
func NewCmdStatus(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Elevation: f.Elevation, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the active and pending grants made on this machine",
		Long: `List the grants jit made on this machine that have not ended: active ones
with the time left, and ones awaiting approval in the cloud. Grants that have
expired since the last jit run are journaled (expire) and dropped here.`,
		Example: `  $ jit status
  REQUEST                     TARGET  PROVIDER  STATE   LEFT  REVOCABLE  SESSION
  01M8YHMG5Z5JYPXMF71GKVK5YY  prod    aws       active  42m   no         running (jit pid 4242)

  $ jit status --json | jq -r '.[].request_id'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	svc, err := o.Elevation()
	if err != nil {
		return err
	}
	defer svc.Close()
	recs, err := svc.Status(ctx)
	if err != nil {
		return err
	}
	rows := Rows(recs, o.Now())
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []Row{}
		}
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "jit: no active or pending grants on this machine")
		return nil
	}
	tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
	if o.IO.IsStdoutTTY() {
		fmt.Fprintln(tw, "REQUEST\tTARGET\tPROVIDER\tSTATE\tLEFT\tREVOCABLE\tSESSION")
	}
	for _, r := range rows {
		left := r.Remaining
		if left == "" {
			left = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.RequestID, r.Target, r.Provider, r.State, left,
			map[bool]string{true: "yes", false: "no"}[r.Revocable], orDash(r.Session))
	}
	return tw.Flush()
}

// Rows turns records into rows, with the time left at now.
func Rows(recs []*grants.Record, now time.Time) []Row {
	var rows []Row
	for _, r := range recs {
		row := Row{RequestID: r.RequestID, State: r.State, Target: r.Target, Provider: r.Provider, Principal: r.Principal,
			Revocable: r.Revocable, RevokeNote: r.RevokeNote, Refs: r.Refs}
		if !r.NotAfter.IsZero() {
			t := r.NotAfter.UTC()
			row.ExpiresAt = &t
			if left := r.NotAfter.Sub(now); left > 0 {
				row.Remaining = policy.FormatDuration(left.Round(time.Minute))
				if left < time.Minute {
					row.Remaining = "<1m"
				}
			}
		}
		switch {
		case r.SessionPID != 0 && !r.SessionEnded:
			row.Session = fmt.Sprintf("running (jit pid %d)", r.SessionPID)
		case r.SessionEnded:
			row.Session = "ended"
		}
		rows = append(rows, row)
	}
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
