// Package audit implements `jit audit verify|tail|status|flush`. Verify
// and tail load neither the policy nor any cloud SDK; status and flush load
// the policy for its sinks.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
		Short: "Verify, read and ship the audit journal",
		Long: `Every step of every elevation (request, deny, grant, session start and end)
is appended to a hash-chained journal, $XDG_STATE_HOME/jit/audit.jsonl by
default (audit.journal), and synced to disk before credentials are handed
out. From there it is shipped to the sinks of the policy and of your
configuration (audit.sinks). These commands check and read the journal,
show where delivery to each sink stands, and deliver what is left.`,
	}
	cmd.AddCommand(NewCmdVerify(f, nil), NewCmdTail(f, nil), NewCmdStatus(f, nil), NewCmdFlush(f, nil))
	return cmd
}

// VerifyOptions of `jit audit verify`.
type VerifyOptions struct {
	IO     *iostreams.IOStreams
	Config func() (*config.Config, error)
	// Files are the inputs: none for the configured journal, "-" for
	// stdin, or files and directories (whose files are taken in name
	// order), read as one.
	Files []string
	// Keys are --key values: public keys or files of them.
	Keys []string
	// Copy verifies a sink's copy (see audit.VerifyOptions.Copy).
	Copy bool
	JSON bool
}

// NewCmdVerify returns `jit audit verify`.
func NewCmdVerify(f *cmdutil.Factory, runF func(*VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{IO: f.IOStreams, Config: f.Config}
	cmd := &cobra.Command{
		Use:   "verify [<file>... | -] [--key <public key>]... [--copy]",
		Short: "Check the hash chain and signatures of a journal or a sink's copy",
		Long: `Check every line of a journal: its hash, its link to the line before,
its sequence number and its canonical form. Any edited, dropped, duplicated
or reordered line is named by its line number. Exits 1 on any break.

Without an argument, the configured journal is checked, including that no
events were cut off its end; "-" reads from stdin. Several files, or a
directory (its files in name order, as an s3 sink names its objects), are
read one after the other as one copy.

A sink's copy may start in the middle of the journal (a rotated file, the
objects of a prefix) and may hold a batch twice (delivery is at least once):
--copy accepts both, and says so.

With --key (or audit.verify_keys in the configuration, or the public half of
audit.signing_key), every signature is checked: a line signed by another
key, a bad signature, or an unsigned line after the first signed one is a
problem. A key is an authorized_keys line ("ssh-ed25519 AAAA…") or a file
of them (a .pub file, an allowed_signers file, a PEM public key).`,
		Example: `  $ jit audit verify
  ok: 1532 events, seq 1–1532, chain intact

  $ jit audit verify --copy /var/log/jit/audit.jsonl.1 /var/log/jit/audit.jsonl
  $ ssh bastion cat /var/log/jit/audit.jsonl | jit audit verify --copy -

  # what an s3 sink wrote for one journal (jit audit status names its id),
  # with signatures checked
  $ aws s3 sync s3://audit/jit/3f9c2a7e1b4d5c6f/ ./jit-audit/
  $ jit audit verify --copy --key ~/.ssh/jit_audit.pub ./jit-audit/`,
		Args: func(cmd *cobra.Command, args []string) error {
			if slices.Contains(args, "-") && len(args) > 1 {
				return cmdutil.FlagErrorf(`"-" (stdin) cannot be combined with files`)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(opts)
			}
			return runVerify(opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Keys, "key", nil, "check signatures against this public key (authorized_keys line or file); repeatable")
	cmd.Flags().BoolVar(&opts.Copy, "copy", false, "the input is a sink's copy: it may start mid-journal and repeat a batch")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	return cmd
}

// verifyKeys gathers the keys to check signatures with: --key, else
// audit.verify_keys, else the public half of audit.signing_key. nil means
// signatures are checked for form only.
func verifyKeys(o *VerifyOptions, cfg *config.Config) (*audit.KeyRing, error) {
	specs := o.Keys
	if len(specs) == 0 && cfg != nil {
		specs = cfg.Audit.VerifyKeys
	}
	if len(specs) == 0 {
		if cfg == nil || cfg.Audit.SigningKey == "" {
			return nil, nil
		}
		s, err := audit.LoadSigner(cfg.Audit.SigningKey)
		if err != nil {
			return nil, fmt.Errorf("audit.signing_key (whose public key checks the signatures): %w", err)
		}
		return audit.NewKeyRing(s.PublicKey()), nil
	}
	ring := audit.NewKeyRing()
	for _, spec := range specs {
		keys, err := audit.LoadPublicKeys(spec)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			ring.Add(k)
		}
	}
	return ring, nil
}

// expandInputs replaces each directory by the regular files in it and
// below it, in path order — the order of an s3 sink's keys
// (<journal id>/YYYY/MM/DD/<first seq>-<last seq>-…), synced to disk.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil || !fi.IsDir() {
			out = append(out, a) // opening it reports the error
			continue
		}
		n := len(out)
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && path != a {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s holds no files", a)
		}
	}
	return out, nil
}

func runVerify(o *VerifyOptions) error {
	var cfg *config.Config
	if o.Config != nil && (len(o.Files) == 0 || len(o.Keys) == 0) {
		c, err := o.Config()
		switch {
		case err == nil:
			cfg = c
		case len(o.Files) == 0:
			return err
		}
		// A file can be checked without a configuration.
	}
	keys, err := verifyKeys(o, cfg)
	if err != nil {
		return err
	}
	vo := audit.VerifyOptions{Keys: keys, Copy: o.Copy}
	var (
		rep  *audit.Report
		name string
	)
	files, err := expandInputs(o.Files)
	if err != nil {
		return err
	}
	switch {
	case len(files) == 1 && files[0] == "-":
		name = "stdin"
		rep, err = audit.VerifyReader(o.IO.In, vo)
	case len(files) == 0:
		if cfg == nil {
			return fmt.Errorf("no journal to verify: name a file, or - for stdin")
		}
		name = cfg.Audit.Journal
		rep, err = audit.VerifyFileWith(cfg.Audit.Journal, vo)
	case len(files) == 1:
		name = files[0]
		rep, err = audit.VerifyFileWith(files[0], vo)
	default:
		name = "input"
		rep, err = verifyFiles(files, vo)
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
			if !o.Copy && rep.First > 1 && len(files) > 0 {
				fmt.Fprintf(o.IO.Out, "hint: a sink's copy may start mid-journal: verify it with --copy\n")
			}
		}
		return cmdutil.ErrSilent
	}
	if !o.JSON {
		fmt.Fprintf(o.IO.Out, "ok: %d events, seq %d–%d, chain intact%s\n", rep.Events-rep.Repeats, rep.First, rep.Last, verifyNotes(rep))
		if rep.Signed > 0 && !rep.SignaturesChecked {
			fmt.Fprintf(o.IO.Out, "note: %d events are signed; the signatures were not checked (give --key, or set audit.verify_keys)\n", rep.Signed)
		}
	}
	return nil
}

// verifyNotes completes the ok line.
func verifyNotes(rep *audit.Report) string {
	var b strings.Builder
	if rep.SignaturesChecked {
		fmt.Fprintf(&b, ", %d signatures good", rep.Signed)
		if rep.UnsignedBefore > 0 {
			fmt.Fprintf(&b, " (the %d events before line %d were written before signing began; the first signature covers them)", rep.UnsignedBefore, rep.FirstSigned)
		}
	}
	if rep.Partial {
		fmt.Fprintf(&b, "; a copy starting at seq %d, verified from there", rep.First)
	}
	if rep.Repeats > 0 {
		fmt.Fprintf(&b, "; %d lines delivered twice were skipped", rep.Repeats)
	}
	return b.String()
}

// verifyFiles verifies files read one after the other.
func verifyFiles(files []string, vo audit.VerifyOptions) (*audit.Report, error) {
	readers := make([]io.Reader, 0, len(files))
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		readers = append(readers, f)
	}
	return audit.VerifyReader(io.MultiReader(readers...), vo)
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
