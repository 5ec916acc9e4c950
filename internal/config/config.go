// Package config loads jit's configuration (CONTRACT §1) into a typed
// struct: flag > JIT_* environment variable > config file > default. It uses
// its own viper instance, never the global one, and nothing outside this
// package touches viper.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/internal/policy"
)

// Config is jit's configuration.
type Config struct {
	// File is the configuration file that was read, "" when none exists.
	File string

	Policy    Policy
	Audit     Audit
	Providers Providers

	// Directories (XDG): state holds the journal, cache holds policy clones.
	StateDir string
	CacheDir string
}

// Policy says where the access policy lives.
type Policy struct {
	Repo           string
	Ref            string
	File           string
	AllowedSigners string
	MaxAge         time.Duration
}

// Audit configures the local journal and the user's own sinks.
type Audit struct {
	Journal string
	Sinks   []policy.SinkConfig
	// SigningKey is the Ed25519 private key (OpenSSH or PKCS#8 PEM file)
	// the journal signs each event with; "" signs nothing.
	SigningKey string
	// VerifyKeys are the public keys `jit audit verify` checks signatures
	// against: each an authorized_keys line or the path of a file of them.
	VerifyKeys []string
}

// Providers holds how jit itself signs in to each cloud.
type Providers struct {
	AWS   AWS
	Azure Azure
	GCP   GCP
}

// GCP configures how jit (through jit-gcp) reaches Google Cloud. The
// credentials are Google's Application Default Credentials unless
// CredentialsFile names a file.
type GCP struct {
	ResourceManagerEndpoint string
	IAMCredentialsEndpoint  string
	PAMEndpoint             string
	TokenInfoURL            string
	TokenURL                string
	CredentialsFile         string
}

// Azure configures how jit reaches Azure Resource Manager and Entra ID.
// Credentials come from azidentity's default chain (Azure CLI login,
// environment, workload identity, managed identity).
type Azure struct {
	Endpoint      string
	AuthorityHost string
	TenantID      string
	Cloud         string
	// CAFile is a PEM file of extra CA certificates to trust (the jit dev
	// sandbox's fake, a TLS-inspecting proxy).
	CAFile string
}

// AWS configures the base identity jit uses to call STS.
type AWS struct {
	Profile  string
	Region   string
	Endpoint string
}

// key describes one configuration key.
type key struct {
	name string // dotted path, e.g. policy.repo
	def  any
	flag string // persistent flag bound to it, if any
	help string
}

// Keys are every configuration key, their defaults and their flags. The
// environment variable of a key is JIT_ + the upper-cased path with _ for dots.
var keys = []key{
	{"policy.repo", "", "policy-repo", "git URL or local repository path of the access policy"},
	{"policy.ref", "main", "policy-ref", "branch, tag or commit of the policy"},
	{"policy.file", "jit.yaml", "", "path of the policy file inside the repository"},
	{"policy.allowed_signers", "", "", "allowed_signers file: require an SSH-signed policy commit"},
	{"policy.max_age", "1h", "", "how old a cached policy may be when the remote cannot be reached (0: never use a stale one)"},
	{"audit.journal", "", "", "path of the local audit journal"},
	{"audit.sinks", nil, "", "extra audit sinks of this user"},
	{"audit.signing_key", "", "", "Ed25519 private key (OpenSSH or PKCS#8 PEM) that signs every journaled event"},
	{"audit.verify_keys", nil, "", "public keys (authorized_keys lines or files) jit audit verify checks signatures with"},
	{"providers.aws.profile", "", "aws-profile", "AWS profile of jit's base identity"},
	{"providers.aws.region", "", "", "AWS region of jit's base identity"},
	{"providers.aws.endpoint", "", "", "STS endpoint override"},
	{"providers.gcp.credentials_file", "", "", "Google credentials file (default: Application Default Credentials)"},
	{"providers.gcp.endpoints.resourcemanager", "", "", "Resource Manager endpoint override (host:port or URL)"},
	{"providers.gcp.endpoints.iamcredentials", "", "", "IAM Credentials endpoint override"},
	{"providers.gcp.endpoints.privilegedaccessmanager", "", "", "Privileged Access Manager endpoint override"},
	{"providers.gcp.endpoints.tokeninfo", "", "", "OAuth2 tokeninfo URL override"},
	{"providers.gcp.endpoints.token", "", "", "OAuth2 token URL override"},
	{"providers.azure.endpoint", "", "", "Azure Resource Manager endpoint override"},
	{"providers.azure.authority_host", "", "", "Entra ID authority host override"},
	{"providers.azure.tenant_id", "", "", "Entra ID tenant of jit's base identity"},
	{"providers.azure.cloud", "", "", "Azure cloud: AzurePublic (default), AzureChina or AzureGovernment"},
	{"providers.azure.ca_file", "", "", "extra CA certificates (PEM) to trust for Azure endpoints"},
}

// Key documents one configuration key for `jit help config` and docs.
type Key struct{ Name, Env, Flag, Default, Help string }

// Keys lists every key with its environment variable, flag and default.
func Keys() []Key {
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		d := ""
		if k.def != nil {
			d = fmt.Sprint(k.def)
		}
		f := ""
		if k.flag != "" {
			f = "--" + k.flag
		}
		out = append(out, Key{Name: k.name, Env: EnvName(k.name), Flag: f, Default: d, Help: k.help})
	}
	return out
}

// EnvName is the environment variable of a key: policy.repo → JIT_POLICY_REPO.
func EnvName(k string) string {
	return "JIT_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
}

// FlagNames are the persistent flags the root command registers and Load
// binds, with their help text.
func FlagNames() map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if k.flag != "" {
			out[k.flag] = k.help
		}
	}
	return out
}

// Options tell Load where to look.
type Options struct {
	// File is --config; "" means $JIT_CONFIG, then the XDG default.
	File string
	// Flags holds the persistent flags named by FlagNames; may be nil.
	Flags *pflag.FlagSet
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// DefaultFile is $XDG_CONFIG_HOME/jit/config.yaml (~/.config/jit/config.yaml).
func DefaultFile(getenv func(string) string) string {
	return filepath.Join(xdgDir(getenv, "XDG_CONFIG_HOME", ".config"), "jit", "config.yaml")
}

func xdgDir(getenv func(string) string, env, fallback string) string {
	if d := getenv(env); d != "" && filepath.IsAbs(d) {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, fallback)
}

// Load reads the configuration.
func Load(o Options) (*Config, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	v := viper.New()
	v.SetConfigType("yaml")
	for _, k := range keys {
		if k.def != nil {
			v.SetDefault(k.name, k.def)
		}
		if val := getenv(EnvName(k.name)); val != "" {
			// Set explicitly rather than viper.AutomaticEnv so that tests can
			// inject the environment and nested keys behave the same.
			v.Set(k.name, val)
		}
		if k.flag != "" && o.Flags != nil {
			if f := o.Flags.Lookup(k.flag); f != nil && f.Changed {
				v.Set(k.name, f.Value.String())
			}
		}
	}

	file, explicit := o.File, o.File != ""
	if file == "" {
		if file = getenv("JIT_CONFIG"); file != "" {
			explicit = true
		} else {
			file = DefaultFile(getenv)
		}
	}
	cfg := &Config{}
	var fileSinks *yaml.Node
	data, err := os.ReadFile(expandHome(file, getenv))
	switch {
	case err == nil:
		cfg.File = file
		if fileSinks, err = checkKeys(data, file); err != nil {
			return nil, err
		}
		if err := v.MergeConfigMap(mustMap(data)); err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
		// Values already Set (env, flags) keep precedence over the merged file.
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	default:
		return nil, fmt.Errorf("read config: %w", err)
	}

	cfg.Policy.Repo = expandHome(v.GetString("policy.repo"), getenv)
	cfg.Policy.Ref = v.GetString("policy.ref")
	cfg.Policy.File = v.GetString("policy.file")
	cfg.Policy.AllowedSigners = expandHome(v.GetString("policy.allowed_signers"), getenv)
	if cfg.Policy.MaxAge, err = policy.ParseDuration(v.GetString("policy.max_age")); err != nil {
		return nil, fmt.Errorf("policy.max_age: %w", err)
	}
	cfg.Audit.Journal = expandHome(v.GetString("audit.journal"), getenv)
	cfg.Audit.SigningKey = expandHome(v.GetString("audit.signing_key"), getenv)
	// A key line has spaces, so the variable holds one key per line.
	var verifyKeys []string
	if s := getenv(EnvName("audit.verify_keys")); s != "" {
		verifyKeys = strings.Split(s, "\n")
	} else {
		switch x := v.Get("audit.verify_keys").(type) {
		case string: // one key, whose spaces must not split it
			verifyKeys = []string{x}
		case []any:
			for _, k := range x {
				verifyKeys = append(verifyKeys, fmt.Sprint(k))
			}
		}
	}
	for _, k := range verifyKeys {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Audit.VerifyKeys = append(cfg.Audit.VerifyKeys, expandHome(k, getenv))
		}
	}
	cfg.Providers.AWS = AWS{
		Profile:  v.GetString("providers.aws.profile"),
		Region:   v.GetString("providers.aws.region"),
		Endpoint: v.GetString("providers.aws.endpoint"),
	}
	cfg.Providers.GCP = GCP{
		ResourceManagerEndpoint: v.GetString("providers.gcp.endpoints.resourcemanager"),
		IAMCredentialsEndpoint:  v.GetString("providers.gcp.endpoints.iamcredentials"),
		PAMEndpoint:             v.GetString("providers.gcp.endpoints.privilegedaccessmanager"),
		TokenInfoURL:            v.GetString("providers.gcp.endpoints.tokeninfo"),
		TokenURL:                v.GetString("providers.gcp.endpoints.token"),
		CredentialsFile:         expandHome(v.GetString("providers.gcp.credentials_file"), getenv),
	}
	cfg.Providers.Azure = Azure{
		Endpoint:      v.GetString("providers.azure.endpoint"),
		AuthorityHost: v.GetString("providers.azure.authority_host"),
		TenantID:      v.GetString("providers.azure.tenant_id"),
		Cloud:         v.GetString("providers.azure.cloud"),
		CAFile:        expandHome(v.GetString("providers.azure.ca_file"), getenv),
	}
	// Sinks are decoded from the file's own YAML node rather than from
	// viper's copy, which has lost the line numbers messages need.
	if s := getenv(EnvName("audit.sinks")); s != "" {
		if cfg.Audit.Sinks, err = decodeEnvSinks(s); err != nil {
			return nil, err
		}
	} else if fileSinks != nil {
		if cfg.Audit.Sinks, err = policy.DecodeSinks(fileSinks, file); err != nil {
			return nil, err
		}
	}

	cfg.StateDir = filepath.Join(xdgDir(getenv, "XDG_STATE_HOME", ".local/state"), "jit")
	cfg.CacheDir = filepath.Join(xdgDir(getenv, "XDG_CACHE_HOME", ".cache"), "jit")
	if cfg.Audit.Journal == "" {
		cfg.Audit.Journal = filepath.Join(cfg.StateDir, "audit.jsonl")
	}
	return cfg, nil
}

// decodeEnvSinks decodes JIT_AUDIT_SINKS, a YAML (or JSON) list of sinks.
func decodeEnvSinks(s string) ([]policy.SinkConfig, error) {
	name := EnvName("audit.sinks")
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(s), &node); err != nil {
		return nil, fmt.Errorf("%s: not a YAML list of sinks: %w", name, err)
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		return policy.DecodeSinks(node.Content[0], name)
	}
	return policy.DecodeSinks(&node, name)
}

// checkKeys rejects unknown keys in the file, naming the line, so that a
// typo (`polcy:`) does not silently fall back to a default. It returns the
// node of audit.sinks, nil when the file has none.
func checkKeys(data []byte, file string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	// known maps every key path to whether it is a section (has keys
	// below it) rather than a value.
	known := map[string]bool{}
	for _, k := range keys {
		parts := strings.Split(k.name, ".")
		for i := range parts {
			known[strings.Join(parts[:i+1], ".")] = i < len(parts)-1
		}
	}
	var sinks *yaml.Node
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		// An alias is checked as what it stands for. Known paths are at
		// most three keys deep, so a cycle through an alias ends in an
		// unknown key.
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			// A value where a section belongs (`policy: git@…`) would
			// otherwise hide every key of the section, defaults included.
			if prefix == "" || known[prefix] && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				if prefix == "" {
					return fmt.Errorf("config %s:%d: expected a mapping of keys", file, n.Line)
				}
				return fmt.Errorf("config %s:%d: %s must be a mapping of its keys (such as %s), not a value", file, n.Line, prefix, firstChild(prefix))
			}
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			if _, ok := known[path]; !ok {
				return fmt.Errorf("config %s:%d: unknown key %q (known: %s)", file, k.Line, path, strings.Join(knownLeaves(), ", "))
			}
			if path == "audit.sinks" {
				sinks = val
				continue
			}
			if err := walk(val, path); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.Content[0], ""); err != nil {
		return nil, err
	}
	return sinks, nil
}

// firstChild names the first key below a section, for messages.
func firstChild(section string) string {
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(k.name, section+"."); ok {
			return strings.SplitN(rest, ".", 2)[0]
		}
	}
	return "…"
}

func knownLeaves() []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.name)
	}
	sort.Strings(out)
	return out
}

func mustMap(data []byte) map[string]any {
	m := map[string]any{}
	_ = yaml.Unmarshal(data, &m) // already parsed successfully by checkKeys
	return m
}

func expandHome(p string, getenv func(string) string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return p
}
