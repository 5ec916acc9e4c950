// Package completion implements `jit completion`.
package completion

import (
	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
)

// NewCmdCompletion returns the command.
func NewCmdCompletion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion {bash|zsh|fish|powershell}",
		Short: "Print a shell completion script",
		Long: `Print the completion script for a shell. Completion of target names asks
the policy, so it works once jit is configured.

  bash:        jit completion bash > ~/.local/share/bash-completion/completions/jit
  zsh:         jit completion zsh > "${fpath[1]}/_jit"
  fish:        jit completion fish > ~/.config/fish/completions/jit.fish
  powershell:  jit completion powershell | Out-String | Invoke-Expression`,
		Example: `  # load completions into the current bash
  $ source <(jit completion bash)`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		Args:      cmdutil.ExactArgs(1, "which shell? jit completion {bash|zsh|fish|powershell}"),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), f.IOStreams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell", "pwsh":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return cmdutil.FlagErrorf("unsupported shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}
