// Package version implements `jit version`.
package version

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/build"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/iostreams"
)

// Options of `jit version`.
type Options struct {
	IO   *iostreams.IOStreams
	JSON bool
}

// NewCmdVersion returns the command.
func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show jit's version, commit and build date",
		Example: `  # the version, commit and build date
  $ jit version
  jit v0.1.0 (commit 3f2a9c1, built 2026-12-03T17:00:00Z, go1.26.8 linux/amd64)`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func run(o *Options) error {
	v, c, d := build.Info()
	if o.JSON {
		return json.NewEncoder(o.IO.Out).Encode(map[string]string{
			"version": v, "commit": c, "date": d, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
		})
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	_, err := fmt.Fprintf(o.IO.Out, "jit %s (commit %s, built %s, %s %s/%s)\n", v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
