// Package dev implements `jit dev`: a self-contained sandbox with a fake STS
// on loopback, a throwaway policy repository and a config, and then a shell
// or a command in which every jit command works with no cloud account.
package dev

import (
	"bufio"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/fakecloud"
	fakeazure "github.com/jitaccess/jit/internal/fakecloud/azure"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/session"
	"github.com/jitaccess/jit/providers/gcp/remote"
)

//go:embed sandbox/*.yaml
var sandboxFiles embed.FS

// Identity of the sandbox user, who signs in to the fake STS and, as
// dev@sandbox.jit.example, to the fake Entra ID.
const (
	UserARN     = "arn:aws:iam::111111111111:user/dev"
	AccessKeyID = "AKIAJITDEVSANDBOX001"
	UserEmail   = "dev@sandbox.jit.example"
	// UserObjectID is the sandbox user's Entra object id.
	UserObjectID = "0d3f2c1b-5a6e-4f70-8a9b-1c2d3e4f5a6b"
	// AzureSubscription is the sandbox's Azure subscription.
	AzureSubscription = "00000000-0000-4000-8000-00000000abcd"
	azureClientID     = "11111111-2222-4333-8444-555555555555"
	// GCPProject is the sandbox's Google Cloud project.
	GCPProject = "jit-sandbox"
	// GCPDeployer is the sandbox's service account for impersonation.
	GCPDeployer = "deployer@jit-sandbox.iam.gserviceaccount.com"
)

// Options of `jit dev`.
type Options struct {
	IO      *iostreams.IOStreams
	Getenv  func(string) string
	Environ func() []string

	Command []string
	Keep    bool
	Dir     string
}

// NewCmdDev returns the command.
func NewCmdDev(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Getenv: f.Getenv, Environ: f.Environ}
	cmd := &cobra.Command{
		Use:   "dev [-- <command> [<args>...]]",
		Short: "Start a sandbox with a fake cloud to try jit offline",
		Long: `Start a self-contained sandbox and a shell (or the command after --) in it:

  - a fake AWS STS on 127.0.0.1 that speaks the real protocol, checks SigV4
    signatures, and issues credentials that really expire;
  - a throwaway git repository holding a policy (targets sandbox-admin,
    sandbox-readonly, prod and billing) — edit and commit it to change what
    the sandbox allows;
  - a config and base credentials for a sandbox user, and an audit journal,
    all in a temporary directory removed on exit (unless --keep).

Inside, every jit command works as it would against AWS.`,
		Example: `  # a sandbox shell
  $ jit dev
  $ jit targets
  $ jit elevate sandbox-admin --for 15m --reason "trying jit" -- jit whoami
  $ jit elevate prod --reason "no ticket"        # denied: the rule needs one
  $ jit audit tail

  # one command in a fresh sandbox
  $ jit dev -- jit policy test`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() == -1 && len(args) > 0 {
				return cmdutil.FlagErrorf("put the command after --: jit dev -- %s", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command = args
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "keep the sandbox directory on exit")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "create the sandbox in this (new or empty) directory")
	return cmd
}

// Sandbox is a running sandbox.
type Sandbox struct {
	Dir    string
	Config string
	Repo   string
	STS    *fakecloud.STS
	Azure  *fakeazure.Server
	// gcp is the jit-gcp process serving the fake Google APIs: Google's
	// gRPC stack stays out of jit (see providers/gcp/remote).
	gcp    *exec.Cmd
	gcpURL string
	// Warnings are what the sandbox could not set up.
	Warnings []string
	BinDir   string   // holds a jit that is this binary; put it first in PATH
	Env      []string // variables a child needs, NAME=value
}

// Close stops the fake clouds.
func (s *Sandbox) Close() error {
	err := s.STS.Close()
	if s.Azure != nil {
		err = errors.Join(err, s.Azure.Close())
	}
	if s.gcp != nil && s.gcp.Process != nil {
		_ = s.gcp.Process.Signal(os.Interrupt)
		_ = s.gcp.Wait()
	}
	return err
}

// Start creates the sandbox in dir (which must exist and be empty or new).
func Start(ctx context.Context, dir string) (*Sandbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox dir: %w", err)
	}
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(b[:])
	sts, err := fakecloud.NewSTS(fakecloud.STSConfig{
		Identities: []fakecloud.STSIdentity{{AccessKeyID: AccessKeyID, SecretAccessKey: secret, ARN: UserARN}},
		Roles: []fakecloud.STSRole{
			{ARN: "arn:aws:iam::111111111111:role/sandbox-admin", MaxSessionDuration: 4 * time.Hour, TrustedPrincipals: []string{UserARN}, AllowTagSession: true, AllowSetSourceIdentity: true},
			{ARN: "arn:aws:iam::111111111111:role/sandbox-readonly", MaxSessionDuration: 12 * time.Hour, TrustedPrincipals: []string{UserARN}},
			{ARN: "arn:aws:iam::222222222222:role/prod-admin", MaxSessionDuration: time.Hour, TrustedPrincipals: []string{UserARN}, AllowTagSession: true, AllowSetSourceIdentity: true},
			{ARN: "arn:aws:iam::333333333333:role/billing-admin", MaxSessionDuration: time.Hour, TrustedPrincipals: []string{"arn:aws:iam::333333333333:user/finance"}},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start fake STS: %w", err)
	}
	sb := &Sandbox{Dir: dir, STS: sts, Repo: filepath.Join(dir, "policy"), Config: filepath.Join(dir, "config.yaml")}
	azSecret := hex.EncodeToString(b[10:])
	sb.Azure, err = fakeazure.New(fakeazure.Config{
		Principals: []fakeazure.Principal{{ObjectID: UserObjectID, UPN: UserEmail, Name: "Sandbox Developer",
			ClientID: azureClientID, ClientSecret: azSecret, MFA: true}},
		Eligibilities: []fakeazure.Eligibility{
			{PrincipalID: UserObjectID, Scope: "/subscriptions/" + AzureSubscription, Role: "Contributor", MaxDuration: 8 * time.Hour},
			{PrincipalID: UserObjectID, Scope: "/subscriptions/" + AzureSubscription, Role: "Owner", MaxDuration: 2 * time.Hour, RequireApproval: true},
		},
	})
	if err != nil {
		sts.Close()
		return nil, fmt.Errorf("start fake Azure: %w", err)
	}
	fail := func(err error) (*Sandbox, error) {
		sb.Close()
		return nil, err
	}
	gcpToken, gcpRefresh := "ya29.sandbox-"+hex.EncodeToString(b[:8]), "1//sandbox-"+hex.EncodeToString(b[8:16])
	gcpEnv, err := sb.startGCP(ctx, gcpToken, gcpRefresh)
	if errors.Is(err, errNoJitGCP) {
		// The rest of the sandbox works without it; GCP targets then say
		// what is missing when used.
		sb.Warnings = append(sb.Warnings, err.Error()+"; the gcp-* targets will not work")
	} else if err != nil {
		return fail(err)
	}
	if err := sb.writeRepo(ctx); err != nil {
		return fail(err)
	}
	adcFile := filepath.Join(dir, "gcp-credentials.json")
	adc := fmt.Sprintf(`{"type":"authorized_user","client_id":"jit-dev.apps.googleusercontent.com","client_secret":"sandbox","refresh_token":%q}`, gcpRefresh)
	if err := os.WriteFile(adcFile, []byte(adc), 0o600); err != nil {
		return fail(err)
	}
	caFile := filepath.Join(dir, "azure-ca.pem")
	if err := os.WriteFile(caFile, sb.Azure.CertPEM(), 0o600); err != nil {
		return fail(err)
	}
	cfg := fmt.Sprintf("# jit dev sandbox configuration\npolicy:\n  repo: %s\n  ref: main\n  file: jit.yaml\n", sb.Repo)
	if err := os.WriteFile(sb.Config, []byte(cfg), 0o600); err != nil {
		return fail(err)
	}
	// The sandbox's jit is this jit, whatever is installed.
	binDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o700); err != nil {
		return fail(err)
	}
	if exe, err := os.Executable(); err == nil {
		_ = os.Symlink(exe, filepath.Join(binDir, "jit"))
	}
	sb.BinDir = binDir
	empty := filepath.Join(dir, "aws-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return fail(err)
	}
	sb.Env = []string{
		"JIT_DEV=" + dir,
		"JIT_CONFIG=" + sb.Config,
		"XDG_STATE_HOME=" + filepath.Join(dir, "state"),
		"XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL_STS=" + sts.URL(),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + empty,
		"AWS_SHARED_CREDENTIALS_FILE=" + empty,
		// Azure: the sandbox user signs in to the fake Entra ID with a
		// client secret (EnvironmentCredential only: no Azure CLI, no
		// managed-identity probe), and jit trusts the fake's certificate.
		"AZURE_TENANT_ID=" + sb.Azure.TenantID(),
		"AZURE_CLIENT_ID=" + azureClientID,
		"AZURE_CLIENT_SECRET=" + azSecret,
		"AZURE_AUTHORITY_HOST=" + sb.Azure.URL(),
		"AZURE_TOKEN_CREDENTIALS=EnvironmentCredential",
		"JIT_PROVIDERS_AZURE_ENDPOINT=" + sb.Azure.URL(),
		"JIT_PROVIDERS_AZURE_AUTHORITY_HOST=" + sb.Azure.URL(),
		"JIT_PROVIDERS_AZURE_CA_FILE=" + caFile,
		// GCP: the sandbox user's application default credentials are a
		// refresh token the fake exchanges; gcloud gets a base token and
		// the fake's REST endpoints. Google's metadata server is never
		// probed.
		"GOOGLE_APPLICATION_CREDENTIALS=" + adcFile,
		"JIT_PROVIDERS_GCP_ENDPOINTS_RESOURCEMANAGER=" + gcpEnv["FAKE_GCP_GRPC"],
		"JIT_PROVIDERS_GCP_ENDPOINTS_IAMCREDENTIALS=" + gcpEnv["FAKE_GCP_GRPC"],
		"JIT_PROVIDERS_GCP_ENDPOINTS_PRIVILEGEDACCESSMANAGER=" + gcpEnv["FAKE_GCP_GRPC"],
		"JIT_PROVIDERS_GCP_ENDPOINTS_TOKENINFO=" + gcpEnv["FAKE_GCP_TOKENINFO"],
		"JIT_PROVIDERS_GCP_ENDPOINTS_TOKEN=" + gcpEnv["FAKE_GCP_TOKEN"],
		"GCE_METADATA_HOST=127.0.0.1:9",
		"GCE_METADATA_IP=127.0.0.1:9",
		"NO_GCE_CHECK=true",
		"CLOUDSDK_CONFIG=" + filepath.Join(dir, "gcloud"),
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true",
		"CLOUDSDK_CORE_PROJECT=" + GCPProject,
		"CLOUDSDK_AUTH_ACCESS_TOKEN=" + gcpToken,
	}
	for k, v := range gcpEnv {
		if strings.HasPrefix(k, "CLOUDSDK_") {
			sb.Env = append(sb.Env, k+"="+v)
		}
	}
	return sb, nil
}

// writeRepo commits the sandbox policy into a fresh git repository, with
// git isolated from the user's configuration.
func (sb *Sandbox) writeRepo(ctx context.Context) error {
	if _, err := exec.LookPath("git"); err != nil {
		return cmdutil.WithHint(errors.New("jit dev needs git"), "install git (apt-get install git, brew install git)")
	}
	if err := os.MkdirAll(sb.Repo, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"jit.yaml", "jit_test.yaml"} {
		data, err := sandboxFiles.ReadFile("sandbox/" + name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sb.Repo, name), data, 0o600); err != nil {
			return err
		}
	}
	env := append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=jit dev", "GIT_AUTHOR_EMAIL=dev@jit.invalid",
		"GIT_COMMITTER_NAME=jit dev", "GIT_COMMITTER_EMAIL=dev@jit.invalid")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "jit.yaml", "jit_test.yaml"},
		{"commit", "-q", "-m", "Sandbox policy"},
	} {
		c := exec.CommandContext(ctx, "git", args...)
		c.Dir, c.Env = sb.Repo, env
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in %s: %v: %s", args[0], sb.Repo, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func run(ctx context.Context, o *Options) error {
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "jit-dev-")
		if err != nil {
			return err
		}
		dir = d
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return cmdutil.FlagErrorf("--dir %s is not empty", dir)
	}
	sb, err := Start(ctx, dir)
	if err != nil {
		if !o.Keep {
			os.RemoveAll(dir) // a half-made sandbox is of no use
		}
		return err
	}
	defer func() {
		sb.Close()
		if !o.Keep {
			os.RemoveAll(dir)
		}
	}()

	argv := o.Command
	if len(argv) == 0 {
		argv = []string{session.Shell(o.Getenv)}
	}
	// Variables that would point the child at real clouds or at the user's
	// own jit configuration are removed.
	unset := []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "JIT_REQUEST_ID", "JIT_TARGET",
		// The fake speaks plain HTTP; a CA bundle would only cost every
		// SDK start-up its parsing.
		"AWS_CA_BUNDLE",
		"JIT_PROVIDER", "JIT_EXPIRES_AT"}
	for _, kv := range o.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "JIT_") {
			unset = append(unset, k)
		}
	}
	set := make([]session.Var, 0, len(sb.Env))
	for _, kv := range sb.Env {
		k, v, _ := strings.Cut(kv, "=")
		set = append(set, session.Var{Name: k, Value: v})
	}
	set = append(set, session.Var{Name: "PATH", Value: sb.BinDir + string(os.PathListSeparator) + o.Getenv("PATH")})
	env := session.BuildEnv(o.Environ(), set, unset)

	{
		fmt.Fprintf(o.IO.ErrOut, `jit dev: sandbox in %s
  fake AWS STS  %s (loopback; SigV4 checked, credentials expire)
  fake Azure    %s (loopback HTTPS: Entra ID and PIM; Owner needs approval)
  fake GCP      %s (loopback: IAM, IAM Credentials, PAM; break-glass needs approval)
  policy repo   %s (edit jit.yaml and commit to change the policy)
  you are       %s (AWS) and %s (Azure, GCP)
  try           jit targets · jit elevate sandbox-admin --for 15m -r demo -- jit whoami · jit audit tail
`, dir, sb.STS.URL(), sb.Azure.URL(), sb.gcpURL, sb.Repo, UserARN, UserEmail)
		for _, w := range sb.Warnings {
			fmt.Fprintln(o.IO.ErrOut, "  warning       "+w)
		}
		if len(o.Command) == 0 {
			fmt.Fprintln(o.IO.ErrOut, "  type exit to leave the sandbox")
		}
	}
	// Detached: ctx is cancelled by the signals that session.Run forwards
	// itself, and a second delivery would make the child abort.
	r, err := session.Run(context.WithoutCancel(ctx), session.Options{Argv: argv, Env: env, Stdin: o.IO.In, Stdout: o.IO.Out, Stderr: o.IO.ErrOut, Interactive: o.IO.IsStdinTTY()})
	if err != nil {
		return &cmdutil.ExitError{Code: r.ExitCode, Err: err}
	}
	if r.ExitCode != 0 {
		return &cmdutil.ExitError{Code: r.ExitCode}
	}
	return nil
}

var errNoJitGCP = errors.New("the sandbox's GCP needs " + remote.Executable)

// startGCP runs the sandbox's fake Google APIs in jit-gcp and returns the
// addresses it reports (FAKE_GCP_* and gcloud's endpoint overrides).
func (sb *Sandbox) startGCP(ctx context.Context, token, refresh string) (map[string]string, error) {
	exe, err := remote.FindExecutable()
	if err != nil {
		return nil, fmt.Errorf("%w: %v (make build builds it)", errNoJitGCP, err)
	}
	proj := "projects/" + GCPProject
	cfg := fmt.Sprintf(`identities:
  - {email: %q, token: %q, refresh_token: %q}
  - {email: approver@sandbox.jit.example, token: ya29.sandbox-approver}
service_accounts:
  - {email: %q, token_creators: ["user:%s"]}
policies:
  - resource: %s
    bindings:
      - {role: roles/resourcemanager.projectIamAdmin, members: ["user:%s"]}
      - {role: roles/iam.securityReviewer, members: ["serviceAccount:%s"]}
entitlements:
  - {name: %s/locations/global/entitlements/admin, eligible: [%q], admins: [%q], role: roles/compute.admin, max_request_duration: 4h}
  - {name: %s/locations/global/entitlements/break-glass, eligible: [%q], admins: [%q], approvers: [approver@sandbox.jit.example], role: roles/iam.securityAdmin, max_request_duration: 2h}
`, UserEmail, token, refresh, GCPDeployer, UserEmail, proj, UserEmail, GCPDeployer, proj, UserEmail, UserEmail, proj, UserEmail, UserEmail)
	cfgFile := filepath.Join(sb.Dir, "gcp-fake.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "fake", "-config", cfgFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the fake GCP: %w", err)
	}
	sb.gcp = cmd
	env := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			env[k] = v
		}
		if env["FAKE_GCP_GRPC"] != "" && env["FAKE_GCP_TOKEN"] != "" && env["CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS"] != "" {
			sb.gcpURL = env["FAKE_GCP_HTTP"]
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return env, nil
		}
	}
	return nil, fmt.Errorf("the fake GCP did not start: %s", strings.TrimSpace(stderr.String()))
}
