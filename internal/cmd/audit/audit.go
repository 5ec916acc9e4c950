// Package audit implements `jit audit verify|tail`. Neither loads the
// policy or any cloud SDK.
package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/config"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
)

// NewCmdAudit returns `jit audit` and its subcommands.
func NewCmdAudit(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit <command>",
		Short: "Verify and read the audit journal",
		Long: `Every step of every elevation (request, deny, grant, session start and end)
is appended to a hash-chained journal, $XDG_STATE_HOME/jit/audit.jsonl by
default (audit.journal), and synced to disk before credentials are handed
out. These commands check and read it.`,
	}
	cmd.AddCommand(NewCmdVerify(f, nil), NewCmdTail(f, nil))
	return cmd
}

// VerifyOptions of `jit audit verify`.
type VerifyOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*config.Config, error)
	File   string
	JSON   bool
}

// NewCmdVerify returns `jit audit verify`.
func NewCmdVerify(f *cmdutil.Factory, runF func(*VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{IO: f.IOStreams, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "verify [<file>|-]",
		Short: "Check the hash chain of a journal",
		Long: `Check every line of a journal: its hash, its link to the line before,
its sequence number and its canonical form. Any edited, dropped, duplicated
or reordered line is named by its line number. Exits 1 on any break.

Without an argument, the configured journal is checked, including that no
events were cut off its end; "-" reads a journal from stdin.`,
		Example: `  $ jit audit verify
  ok: 1532 events, seq 1–1532, chain intact

  $ jit audit verify /var/log/jit/audit.jsonl
  $ aws s3 cp s3://audit/jit/2026-12-03.jsonl - | jit audit verify -`,
		Args: cmdutil.MaximumArgs(1, "a journal file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return runVerify(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	return cmd
}

func runVerify(o *VerifyOptions) error {
	var (
		rep  *audit.Report
		err  error
		name = o.File
	)
	switch o.File {
	case "-":
		name = "stdin"
		rep, err = audit.Verify(o.IO.In)
	case "":
		cfg, cerr := o.Config()
		if cerr != nil {
			return cerr
		}
		name = cfg.Audit.Journal
		rep, err = audit.VerifyFile(cfg.Audit.Journal)
	default:
		rep, err = audit.VerifyFile(o.File)
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", name, err)
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			if p.Line == 0 { // the journal as a whole (its head)
				fmt.Fprintf(o.IO.Out, "%s: %s: %s\n", name, p.Kind, p.Msg)
				continue
			}
			fmt.Fprintf(o.IO.Out, "%s:%d: %s: %s\n", name, p.Line, p.Kind, p.Msg)
		}
	}
	if !rep.OK() {
		if !o.JSON {
			if rep.Omitted > 0 {
				fmt.Fprintf(o.IO.Out, "… and %d more problems\n", rep.Omitted)
			}
			fmt.Fprintf(o.IO.Out, "BROKEN: %d problem(s) in %d lines\n", len(rep.Problems)+rep.Omitted, rep.Lines)
		}
		return cmdutil.ErrSilent
	}
	if !o.JSON {
		fmt.Fprintf(o.IO.Out, "ok: %d events, seq %d–%d, chain intact\n", rep.Events, rep.First, rep.Last)
	}
	return nil
}

// TailOptions of `jit audit tail`.
type TailOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*config.Config, error)
	N      int
	JSON   bool
}

// NewCmdTail returns `jit audit tail`.
func NewCmdTail(f *cmdutil.Factory, runF func(*TailOptions) error) *cobra.Command {
	opts := &TailOptions{IO: f.IOStreams, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "tail [-n <count>] [--json]",
		Short: "Show the latest audit events",
		Example: `  $ jit audit tail -n 3
  2026-12-03 17:40:01Z  request        prod  arn:aws:iam::111111111111:user/alice  1h  allowed by sre-prod  01JE…
  2026-12-03 17:40:01Z  grant          prod  arn:aws:iam::111111111111:user/alice  1h  until 18:40:01Z      01JE…
  2026-12-03 17:40:01Z  session_start  prod  arn:aws:iam::111111111111:user/alice  1h  /bin/bash            01JE…

  # the raw events, for jq
  $ jit audit tail -n 100 --json | jq 'select(.event == "deny")'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.N < 0 {
				return cmdutil.FlagErrorf("-n must be zero or more, got %d", opts.N)
			}
			if runF != nil {
				return runF(opts)
			}
			return runTail(opts)
		},
	}
	cmd.Flags().IntVarP(&opts.N, "lines", "n", 10, "how many events (0: all)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the events as JSON Lines")
	return cmd
}

func runTail(o *TailOptions) error {
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	events, err := audit.Tail(cfg.Audit.Journal, o.N)
	if err != nil {
		return err
	}
	if events == nil {
		if _, err := os.Stat(cfg.Audit.Journal); os.IsNotExist(err) {
			fmt.Fprintf(o.IO.ErrOut, "jit: no audit journal yet at %s\n", cfg.Audit.Journal)
		}
		return nil
	}
	for i := range events {
		e := &events[i]
		if o.JSON {
			line, err := audit.Canonical(e)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.IO.Out, "%s\n", line)
			continue
		}
		fmt.Fprintln(o.IO.Out, Summary(e))
	}
	return nil
}

// Summary is one human line for an event.
func Summary(e *audit.Event) string {
	who := "-"
	if e.Principal != nil {
		who = e.Principal.ID
	}
	dur := "-"
	if e.DurationS > 0 {
		dur = policy.FormatDuration(time.Duration(e.DurationS) * time.Second)
	}
	detail := ""
	switch e.Event {
	case audit.EventRequest:
		if e.Decision != nil && e.Decision.Allowed {
			detail = "allowed by " + e.Decision.Rule
		} else {
			detail = "reason: " + e.Reason
		}
	case audit.EventDeny:
		if e.Decision != nil {
			detail = strings.Join(e.Decision.Reasons, "; ")
		}
	case audit.EventGrant:
		if e.ExpiresAt != nil {
			detail = "until " + e.ExpiresAt.UTC().Format("15:04:05Z")
		}
	case audit.EventSessionStart, audit.EventSessionEnd:
		if e.Session != nil {
			detail = strings.Join(e.Session.Command, " ")
			if e.Session.ExitCode != nil {
				detail += fmt.Sprintf(" → exit %d", *e.Session.ExitCode)
			}
		}
	case audit.EventError:
		detail = e.Error
	}
	return fmt.Sprintf("%s  %-13s  %s  %s  %s  %s  %s", e.Time.UTC().Format("2006-01-02 15:04:05Z"), e.Event, orDash(e.Target), who, dur, detail, e.RequestID)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
