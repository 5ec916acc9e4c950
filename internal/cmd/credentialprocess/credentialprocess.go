// Package credentialprocess implements `jit credential-process`, the AWS
// credential_process protocol (Version 1 JSON on stdout).
package credentialprocess

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmd/request"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/iostreams"
)

// Options of `jit credential-process`.
type Options struct {
	IO        *iostreams.IOStreams
	Elevation func() (*elevation.Service, error)

	Target string
	Flags  request.Flags
}

// Output is the credential_process response, Version 1.
type Output struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// NewCmdCredentialProcess returns the command.
func NewCmdCredentialProcess(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Elevation: f.Elevation}
	cmd := &cobra.Command{
		Use:   "credential-process <target> [flags]",
		Short: "Print AWS credentials in the credential_process format",
		Long: `Print credentials for an AWS target as the JSON that the AWS CLI and SDKs
read from a credential_process (Version 1). It never prompts: give the reason
and ticket the policy requires as flags.

AWS tools call the process again shortly before the credentials expire, and
every call is a new, audited elevation; ask for a duration above 15 minutes so
that the AWS CLI does not call it twice per command.`,
		Example: `  # in ~/.aws/config
  [profile prod-jit]
  credential_process = jit credential-process prod --for 1h --reason "on-call"

  $ aws --profile prod-jit sts get-caller-identity`,
		Args:              cmdutil.ExactArgs(1, "target required: jit credential-process <target>"),
		ValidArgsFunction: request.CompleteTargets(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if opts.Flags.DryRun {
				return cmdutil.FlagErrorf("--dry-run is not supported by credential-process; use jit elevate --dry-run")
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.Flags.Add(cmd)
	return cmd
}

func run(ctx context.Context, o *Options) error {
	d, err := o.Flags.Parse()
	if err != nil {
		return err
	}
	svc, err := o.Elevation()
	if err != nil {
		return err
	}
	defer svc.Close()
	// Refuse other clouds' targets before anything is granted.
	pol, _, err := svc.Policy(ctx)
	if err != nil {
		return err
	}
	if t, ok := pol.Targets[o.Target]; ok && t.Provider != "aws" {
		return cmdutil.FlagErrorf("target %s uses provider %s; credential-process is for AWS targets", t.Name, t.Provider)
	}
	// No prompter: the AWS CLI owns the terminal.
	res, err := o.Flags.Elevate(ctx, svc, o.Target, "credential-process", d, o.IO, nil, nil)
	if err != nil {
		return err
	}
	g := res.Grant
	if g.Provider != "aws" {
		return cmdutil.FlagErrorf("target %s uses provider %s; credential-process is for AWS targets", g.Target, g.Provider)
	}
	out := Output{Version: 1, Expiration: g.NotAfter.UTC().Format(time.RFC3339)}
	for _, v := range g.Env {
		switch v.Name {
		case "AWS_ACCESS_KEY_ID":
			out.AccessKeyID = v.Value
		case "AWS_SECRET_ACCESS_KEY":
			out.SecretAccessKey = v.Value
		case "AWS_SESSION_TOKEN":
			out.SessionToken = v.Value
		}
	}
	if out.AccessKeyID == "" || out.SecretAccessKey == "" {
		return fmt.Errorf("provider %s returned no AWS credentials for %s", g.Provider, g.Target)
	}
	return json.NewEncoder(o.IO.Out).Encode(out)
}
