// Package cmdtest runs a command in tests the way the root command runs it:
// output discarded, and cobra's own flag errors turned into usage errors.
package cmdtest

import (
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
)

// Execute runs cmd with args.
func Execute(cmd *cobra.Command, args ...string) error {
	if args == nil {
		args = []string{}
	}
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
	_, err := cmd.ExecuteC()
	return err
}

// IsUsage reports whether err is a usage error (exit 64) whose message
// contains msg.
func IsUsage(err error, msg string) bool {
	var fe *cmdutil.FlagError
	return errors.As(err, &fe) && strings.Contains(err.Error(), msg)
}
