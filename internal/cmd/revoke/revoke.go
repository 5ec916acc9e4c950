// Package revoke implements `jit revoke`.
package revoke

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
)

// Options of `jit revoke`.
type Options struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)
	Key       string
}

// NewCmdRevoke returns the command.
func NewCmdRevoke(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Elevation: f.Elevation}
	cmd := &cobra.Command{
		Use:   "revoke {<request-id> | <target>}",
		Short: "End a grant early, as far as its provider allows",
		Long: `End a grant made on this machine before it expires: by request id (see
jit status), or every grant on record for a target. jit says plainly what its
provider can end and what stays valid until expiry:

  aws    STS credentials cannot be revoked; they stay valid until they expire.
         Exiting the session drops them from your shell; copies stay valid.
  gcp    a conditional IAM binding is removed; a PAM grant is revoked; a
         service-account access token cannot be revoked.
  azure  the PIM activation is deactivated (Azure refuses in the first
         5 minutes after activation); a pending request is cancelled.

Every revocation is journaled (revoke).`,
		Example: `  $ jit revoke 01M8YHMG5Z5JYPXMF71GKVK5YY
  $ jit revoke proj-admin`,
		Args: cmdutil.ExactArgs(1, "which grant? jit revoke <request-id|target> (see jit status)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Key = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	return cmd
}

func run(ctx context.Context, o *Options) error {
	svc, err := o.Elevation()
	if err != nil {
		return err
	}
	defer svc.Close()
	results, err := svc.Revoke(ctx, o.Key)
	if errors.Is(err, elevation.ErrNoGrant) {
		return cmdutil.FlagErrorf("%v", err)
	}
	if err != nil {
		return err
	}
	var failed []error
	for _, r := range results {
		rec := r.Record
		if r.Revoked {
			fmt.Fprintf(o.IO.Out, "revoked %s (%s, %s)\n", rec.RequestID, rec.Target, rec.Provider)
			continue
		}
		failed = append(failed, fmt.Errorf("%s (%s): %w", rec.RequestID, rec.Target, r.Err))
	}
	if len(failed) == 1 {
		return failed[0]
	}
	return errors.Join(failed...)
}
