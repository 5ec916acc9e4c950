// Package root assembles jit's command tree.
package root

import (
	"github.com/spf13/cobra"

	auditCmd "github.com/jitaccess/jit/internal/cmd/audit"
	completionCmd "github.com/jitaccess/jit/internal/cmd/completion"
	credprocCmd "github.com/jitaccess/jit/internal/cmd/credentialprocess"
	devCmd "github.com/jitaccess/jit/internal/cmd/dev"
	elevateCmd "github.com/jitaccess/jit/internal/cmd/elevate"
	envCmd "github.com/jitaccess/jit/internal/cmd/env"
	gcCmd "github.com/jitaccess/jit/internal/cmd/gc"
	policyCmd "github.com/jitaccess/jit/internal/cmd/policy"
	revokeCmd "github.com/jitaccess/jit/internal/cmd/revoke"
	statusCmd "github.com/jitaccess/jit/internal/cmd/status"
	targetsCmd "github.com/jitaccess/jit/internal/cmd/targets"
	versionCmd "github.com/jitaccess/jit/internal/cmd/version"
	whoamiCmd "github.com/jitaccess/jit/internal/cmd/whoami"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/config"
)

// GlobalFlags are the persistent flags every command accepts.
type GlobalFlags struct {
	Config string
	Debug  bool
}

// NewCmdRoot returns the root command. Config-backed persistent flags are
// registered here and read lazily by the factory's Config.
func NewCmdRoot(f *cmdutil.Factory, g *GlobalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jit <command> [flags]",
		Short: "Just-in-time privileged access",
		Long: `jit gives you time-bound cloud access when a policy in git allows it, and
records every step in a tamper-evident audit trail. Standing admin rights are
the credentials attackers steal; with jit there are none to steal.

  jit elevate prod --for 1h --reason "CHG-42 rotate keys"

finds out who you are (the cloud's own caller identity), reads the policy
from a pinned git commit, decides, creates the access through the cloud's own
mechanism (AWS STS AssumeRole), and starts a subshell with the short-lived
credentials. Try it with no cloud at all: jit dev.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Example: `  $ jit targets
  $ jit elevate prod --for 1h --reason "CHG-42 rotate keys"
  $ eval "$(jit env staging --for 30m -r 'debug INC-7')"
  $ jit dev -- jit elevate sandbox-admin --for 15m -r demo -- aws sts get-caller-identity`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&g.Config, "config", "", "configuration file (default $JIT_CONFIG, then ~/.config/jit/config.yaml)")
	pf.BoolVar(&g.Debug, "debug", false, "log what jit does on stderr (never secrets)")
	for name, help := range config.FlagNames() {
		pf.String(name, "", help)
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })

	cmd.AddGroup(&cobra.Group{ID: "access", Title: "Access:"}, &cobra.Group{ID: "policy", Title: "Policy and audit:"})
	add := func(group string, cs ...*cobra.Command) {
		for _, c := range cs {
			c.GroupID = group
			cmd.AddCommand(c)
		}
	}
	add("access",
		elevateCmd.NewCmdElevate(f, nil),
		envCmd.NewCmdEnv(f, nil),
		credprocCmd.NewCmdCredentialProcess(f, nil),
		targetsCmd.NewCmdTargets(f, nil),
		whoamiCmd.NewCmdWhoami(f, nil),
		statusCmd.NewCmdStatus(f, nil),
		revokeCmd.NewCmdRevoke(f, nil),
	)
	add("policy",
		policyCmd.NewCmdPolicy(f),
		auditCmd.NewCmdAudit(f),
		gcCmd.NewCmdGC(f, nil),
		devCmd.NewCmdDev(f, nil),
	)
	cmd.AddCommand(versionCmd.NewCmdVersion(f, nil), completionCmd.NewCmdCompletion(f))
	cmd.SetHelpCommandGroupID("")
	cmd.SetCompletionCommandGroupID("")
	return cmd
}
