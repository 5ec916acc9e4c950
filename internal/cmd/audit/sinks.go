package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
)

// StatusOptions of `jit audit status`.
type StatusOptions struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)
	JSON      bool
}

// NewCmdStatus returns `jit audit status`.
func NewCmdStatus(f *cmdutil.Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IOStreams, Elevation: f.Elevation}
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show where delivery of the journal to each audit sink stands",
		Long: `For each audit sink of the policy and of your configuration: its type,
whether it is required, the last event it accepted, how many events wait
for it in the local journal, and its last error and success. Nothing is
delivered: see jit audit flush.`,
		Example: `  $ jit audit status
  SINK                         TYPE    REQUIRED  DELIVERED  BACKLOG  LAST SUCCESS          LAST ERROR
  syslog tcp://10.0.0.5:6514   syslog  yes       1532       0        2026-12-03 17:40:01Z  -
  s3 audit/jit/                s3      no        1490       42       2026-12-03 16:02:11Z  RequestTimeout (3 failures)

  $ jit audit status --json | jq '.[] | select(.backlog > 0) | .name'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the sinks as JSON")
	return cmd
}

// sinkJSON is a sink in `--json` output.
type sinkJSON struct {
	Name        string     `json:"name"`
	Type        string     `json:"type"`
	Required    bool       `json:"required"`
	Delivered   uint64     `json:"delivered_seq"`
	Last        uint64     `json:"last_seq"`
	Backlog     uint64     `json:"backlog"`
	Failures    int        `json:"failures"`
	LastError   string     `json:"last_error,omitempty"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	LastSuccess *time.Time `json:"last_success,omitempty"`
	Cursor      string     `json:"cursor"`
}

func toJSON(st ship.Status) sinkJSON {
	out := sinkJSON{Name: st.Name, Type: st.Type, Required: st.Required, Delivered: st.Delivered, Last: st.Last,
		Backlog: st.Backlog, Failures: st.Failures, LastError: st.LastError, Cursor: st.Cursor}
	if st.Err != nil && out.LastError == "" {
		out.LastError = st.Err.Error()
	}
	if !st.LastAttempt.IsZero() {
		t := st.LastAttempt.UTC()
		out.LastAttempt = &t
	}
	if !st.LastSuccess.IsZero() {
		t := st.LastSuccess.UTC()
		out.LastSuccess = &t
	}
	return out
}

// sinkSet is the configured sinks' shipper (nil: none) and the service it
// belongs to; polErr is set when the policy, and so its sinks, could not be
// loaded.
type sinkSet struct {
	sh     *ship.Shipper
	svc    *elevation.Service
	polErr error
}

// openSinks builds the sinkSet, warning when the policy's sinks are missing.
// Close the service when done.
func openSinks(ctx context.Context, ios *iostreams.IOStreams, newSvc func() (*elevation.Service, error)) (*sinkSet, error) {
	svc, err := newSvc()
	if err != nil {
		return nil, err
	}
	sh, err := svc.AuditShipper(ctx)
	var pe *elevation.PolicyError
	if err != nil && !errors.As(err, &pe) {
		svc.Close()
		return nil, err
	}
	if pe != nil {
		fmt.Fprintf(ios.ErrOut, "jit: warning: the policy could not be loaded, so its audit sinks are missing here: %s\n", oneLine(pe.Error()))
	}
	set := &sinkSet{sh: sh, svc: svc}
	if pe != nil {
		set.polErr = pe
	}
	return set, nil
}

func runStatus(ctx context.Context, o *StatusOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	set, err := openSinks(ctx, o.IO, o.Elevation)
	if err != nil {
		return err
	}
	defer set.svc.Close()
	var sts []ship.Status
	if set.sh != nil {
		if sts, err = set.sh.Status(); err != nil {
			return err
		}
	}
	if o.JSON {
		out := make([]sinkJSON, len(sts))
		for i, st := range sts {
			out[i] = toJSON(st)
		}
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(sts) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "jit: no audit sinks configured: events are in the local journal only (add audit.sinks to the policy or your configuration)")
		return nil
	}
	// The journal's id names its directory in an s3 sink shared by many
	// machines.
	if id, err := audit.JournalID(set.sh.Journal); err == nil {
		fmt.Fprintf(o.IO.ErrOut, "journal %s (id %s)\n", set.sh.Journal, id)
	}
	tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tTYPE\tREQUIRED\tDELIVERED\tBACKLOG\tLAST SUCCESS\tLAST ERROR")
	for _, st := range sts {
		req := "no"
		if st.Required {
			req = "yes"
		}
		success := "-"
		if !st.LastSuccess.IsZero() {
			success = st.LastSuccess.UTC().Format("2006-01-02 15:04:05Z")
		}
		lastErr := "-"
		switch {
		case st.Err != nil:
			lastErr = oneLine(st.Err.Error())
		case st.LastError != "":
			lastErr = st.LastError
			if st.Failures > 1 {
				lastErr += fmt.Sprintf(" (%d failures)", st.Failures)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", st.Name, orDash(st.Type), req, st.Delivered, st.Backlog, success, lastErr)
	}
	return tw.Flush()
}

// FlushOptions of `jit audit flush`.
type FlushOptions struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)
	Timeout   time.Duration
	// Backoff is the first wait between attempts (doubled each time).
	Backoff time.Duration
}

// NewCmdFlush returns `jit audit flush`.
func NewCmdFlush(f *cmdutil.Factory, runF func(*FlushOptions) error) *cobra.Command {
	opts := &FlushOptions{IO: f.IOStreams, Elevation: f.Elevation, Backoff: 500 * time.Millisecond}
	cmd := &cobra.Command{
		Use:   "flush [--timeout <duration>]",
		Short: "Deliver every audit sink's backlog now",
		Long: `Deliver to each audit sink the events of the journal it has not accepted yet,
trying a failing sink again with growing pauses until it accepts them or the
timeout ends. Every jit run does this in passing; flush is for a sink that
was down, before you stop looking. It first records the end of grants and
sessions that ended while no jit watched them.

Exits 1, naming the sinks, if a backlog remains.`,
		Example: `  $ jit audit flush
  syslog tcp://10.0.0.5:6514: up to date (seq 1532)
  s3 audit/jit/: delivered 42 events (up to seq 1532)

  $ jit audit flush --timeout 10s || echo "the SIEM is still down"`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("--timeout must be positive, got %s", opts.Timeout)
			}
			if runF != nil {
				return runF(opts)
			}
			return runFlush(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", time.Minute, "give up after this long")
	return cmd
}

func runFlush(ctx context.Context, o *FlushOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	set, err := openSinks(ctx, o.IO, o.Elevation)
	if err != nil {
		return err
	}
	defer set.svc.Close()
	if err := set.svc.Sweep(ctx); err != nil {
		fmt.Fprintf(o.IO.ErrOut, "jit: warning: %s\n", oneLine(err.Error()))
	}
	if set.sh == nil {
		if set.polErr != nil {
			return set.polErr
		}
		fmt.Fprintln(o.IO.ErrOut, "jit: no audit sinks configured: nothing to deliver")
		return nil
	}
	sts := set.sh.Flush(ctx, 0, o.Backoff)
	var left []string
	for _, st := range sts {
		switch {
		case st.OK() && st.Sent == 0:
			fmt.Fprintf(o.IO.Out, "%s: up to date (seq %d)\n", st.Name, st.Delivered)
		case st.OK():
			fmt.Fprintf(o.IO.Out, "%s: delivered %s (up to seq %d)\n", st.Name, plural(st.Sent, "event"), st.Delivered)
		default:
			why := "not delivered"
			if st.Err != nil {
				why = oneLine(st.Err.Error())
			}
			fmt.Fprintf(o.IO.Out, "%s: %s wait: %s\n", st.Name, plural(int(st.Backlog), "event"), why)
			left = append(left, fmt.Sprintf("%s (%d)", st.Name, st.Backlog))
		}
	}
	if len(left) > 0 {
		return cmdutil.WithHint(fmt.Errorf("audit backlog remains at %s: %s", plural(len(left), "sink"), strings.Join(left, ", ")),
			"the events stay in the local journal; see jit audit status, and run jit audit flush again")
	}
	if set.polErr != nil {
		return fmt.Errorf("the policy's audit sinks were not flushed: %w", set.polErr)
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
