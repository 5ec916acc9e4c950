package jitcmd

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jitaccess/jit/internal/cmd/factory"
	"github.com/jitaccess/jit/internal/cmd/root"
	"github.com/jitaccess/jit/internal/iostreams"
)

// NewRoot builds the real command tree with test streams, for generated
// documentation and completion scripts.
func NewRoot() *cobra.Command {
	ios, _, _, _ := iostreams.Test()
	g := &root.GlobalFlags{}
	var cmd *cobra.Command
	f := factory.New(ios, factory.Globals{
		ConfigFile: func() string { return g.Config },
		Debug:      func() bool { return false },
		Flags:      func() *pflag.FlagSet { return cmd.PersistentFlags() },
	})
	cmd = root.NewCmdRoot(f, g)
	cmd.DisableAutoGenTag = true
	return cmd
}
