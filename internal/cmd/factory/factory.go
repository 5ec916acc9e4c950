// Package factory wires the real dependencies into a cmdutil.Factory. It is
// the only place that knows how config, policy source, journal and
// providers fit together.
package factory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/audit/ship"
	"github.com/jitaccess/jit/internal/audit/sinks/httpsink"
	"github.com/jitaccess/jit/internal/audit/sinks/s3sink"
	"github.com/jitaccess/jit/internal/audit/sinks/syslog"
	"github.com/jitaccess/jit/internal/build"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/config"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/grants"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/internal/policysource"
	"github.com/jitaccess/jit/internal/prompt"
	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/all"
	"github.com/jitaccess/jit/providers/aws"
	"github.com/jitaccess/jit/providers/azure"
	"github.com/jitaccess/jit/providers/gcp/remote"
)

// Globals are the values of the root's persistent flags, read when the
// factory's functions are first called (after flag parsing).
type Globals struct {
	ConfigFile func() string
	Debug      func() bool
	Flags      func() *pflag.FlagSet
}

// New returns the factory of the real program.
func New(ios *iostreams.IOStreams, g Globals) *cmdutil.Factory {
	f := &cmdutil.Factory{
		IOStreams:  ios,
		Getenv:     os.Getenv,
		Environ:    os.Environ,
		Executable: func() string { p, _ := os.Executable(); return p },
	}
	if os.Getenv("JIT_NO_PROMPT") != "" {
		ios.SetNeverPrompt(true)
	}
	f.Debugf = func(format string, args ...any) {
		if g.Debug() {
			fmt.Fprintf(ios.ErrOut, "jit: debug: "+format+"\n", args...)
		}
	}
	warn := func(msg string) { fmt.Fprintln(ios.ErrOut, "jit: warning: "+msg) }

	f.Prompter = sync.OnceValue(func() prompt.Prompter { return prompt.New(ios.In, ios.ErrOut) })
	f.Config = sync.OnceValues(func() (*config.Config, error) {
		cfg, err := config.Load(config.Options{File: g.ConfigFile(), Flags: g.Flags()})
		if err == nil {
			f.Debugf("config: file=%q policy.repo=%q policy.ref=%q journal=%q", cfg.File, cfg.Policy.Repo, cfg.Policy.Ref, cfg.Audit.Journal)
		}
		return cfg, err
	})
	f.Providers = sync.OnceValue(func() *providers.Registry {
		cfg, err := f.Config()
		o := all.Options{Getenv: os.Getenv, Warn: warn}
		if err == nil {
			o.AWS = aws.Options{Profile: cfg.Providers.AWS.Profile, Region: cfg.Providers.AWS.Region, Endpoint: cfg.Providers.AWS.Endpoint,
				IdentityCacheDir: filepath.Join(cfg.CacheDir, "identity")}
			g := cfg.Providers.GCP
			o.GCP = remote.Options{ResourceManagerEndpoint: g.ResourceManagerEndpoint, IAMCredentialsEndpoint: g.IAMCredentialsEndpoint,
				PAMEndpoint: g.PAMEndpoint, TokenInfoURL: g.TokenInfoURL, TokenURL: g.TokenURL, CredentialsFile: g.CredentialsFile}
			az := cfg.Providers.Azure
			o.Azure = azure.Options{Endpoint: az.Endpoint, AuthorityHost: az.AuthorityHost, TenantID: az.TenantID, Cloud: az.Cloud}
			o.AzureCAFile = az.CAFile

		}
		return all.New(o)
	})
	f.PolicySource = sync.OnceValues(func() (policysource.Source, error) {
		cfg, err := f.Config()
		if err != nil {
			return nil, err
		}
		if cfg.Policy.Repo == "" {
			return nil, cmdutil.WithHint(fmt.Errorf("no policy repository configured"),
				"set policy.repo in "+config.DefaultFile(os.Getenv)+" or JIT_POLICY_REPO (try jit dev for a sandbox)")
		}
		return &policysource.Git{
			Repo: cfg.Policy.Repo, Ref: cfg.Policy.Ref, File: cfg.Policy.File,
			AllowedSigners: cfg.Policy.AllowedSigners, MaxAge: StaleLimit(cfg.Policy.MaxAge),
			CacheDir: cfg.CacheDir, Warn: warn,
		}, nil
	})
	f.Elevation = sync.OnceValues(func() (*elevation.Service, error) {
		cfg, err := f.Config()
		if err != nil {
			return nil, err
		}
		// Without a policy the service still serves what needs none
		// (status, revoke); anything that needs the policy gets the error.
		src, err := f.PolicySource()
		if err != nil {
			src = failingSource{err}
		}
		host, _ := os.Hostname()
		journal := audit.OpenJournal(cfg.Audit.Journal)
		journal.Warn = warn
		if cfg.Audit.SigningKey != "" {
			// Configured signing that cannot sign issues nothing.
			if journal.Signer, err = audit.LoadSigner(cfg.Audit.SigningKey); err != nil {
				return nil, fmt.Errorf("audit.signing_key: %w", err)
			}
		}
		svc := &elevation.Service{
			Source:    src,
			Providers: f.Providers(),
			Journal:   journal,
			Grants:    &grants.Store{Dir: filepath.Join(cfg.StateDir, "grants")},
			Sinks:     sinks(cfg.Audit.Journal),
			UserSinks: cfg.Audit.Sinks,
			Host:      host,
			Version:   build.Version,
			Warn:      warn,
		}
		if g.Debug() {
			// Only then: the service formats debug lines only when asked.
			svc.Debugf = f.Debugf
		}
		return svc, nil
	})
	return f
}

// StaleLimit translates policy.max_age into policysource.Git.MaxAge: a user
// who writes 0 means "never use a stale cache", which Git spells as a
// negative value (its zero means the default).
func StaleLimit(maxAge time.Duration) time.Duration {
	if maxAge == 0 {
		return -1
	}
	return maxAge
}

// sinks returns the builder of the shipper of journal to the audit sinks of
// the policy and the user. Building a sink reaches no server (an s3 sink
// reads the AWS configuration files); a sink that cannot be built becomes
// one that fails every delivery (see
// ship.Targets), so that its events wait in the journal and, if it is
// required, elevations are refused.
func sinks(journal string) func([]policy.SinkConfig) (*ship.Shipper, error) {
	return func(cfgs []policy.SinkConfig) (*ship.Shipper, error) {
		targets, err := ship.Targets(cfgs, func(c policy.SinkConfig) (audit.BatchSink, error) { return buildSink(c, journal) })
		if err != nil {
			return nil, err
		}
		return ship.New(journal, targets)
	}
}

// buildSink makes the sink of one configuration, for the journal at
// journal.
func buildSink(c policy.SinkConfig, journal string) (audit.BatchSink, error) {
	c.Name = ship.SinkName(c)
	switch c.Type {
	case "file":
		return audit.NewFileSink(expandHome(c.Path), c.MaxSize), nil
	case "syslog":
		return syslog.New(c, syslog.Options{})
	case "http":
		return httpsink.New(c, httpsink.Options{Version: build.Version})
	case "s3":
		// Loads the AWS configuration (files, no request): only when an
		// s3 sink is configured, at the first event of a run.
		// Every machine's journal gets its own directory under the prefix.
		return s3sink.New(context.Background(), c, s3sink.Options{JournalID: func() (string, error) { return audit.JournalID(journal) }})
	}
	return nil, fmt.Errorf("audit sink type %s is not supported by this jit version", c.Type)
}

// expandHome expands a leading "~/" in a sink's path, as the user's
// configuration writes it.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// failingSource stands in for a policy source that could not be configured.
type failingSource struct{ err error }

func (f failingSource) Load(context.Context) (*policysource.Snapshot, error) { return nil, f.err }
