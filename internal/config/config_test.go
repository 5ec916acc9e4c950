package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/jitaccess/jit/internal/policy"
)

// env returns a getenv over a fixed map, so that no test reads the real
// environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// flags returns the persistent flags the root command registers, parsed
// from args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("jit", pflag.ContinueOnError)
	for name, help := range FlagNames() {
		fs.String(name, "", help)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %q: %v", args, err)
	}
	return fs
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const fullFile = `policy:
  repo: /srv/file-repo
  ref: file-ref
  file: file.yaml
  allowed_signers: /etc/file-signers
  max_age: 30m
audit:
  journal: /var/file/audit.jsonl
providers:
  aws:
    profile: file-profile
    region: file-region
    endpoint: http://127.0.0.1:1/file
`

// TestPrecedence checks flag > env > file > default for every kind of key:
// with and without a flag, with a non-empty default, a duration, a path.
func TestPrecedence(t *testing.T) {
	type getter func(*Config) string
	keysUnderTest := []struct {
		key      string
		get      getter
		def      string
		file     string
		envValue string
		want     string // for envValue, when it differs (durations)
		flag     string // "" when the key has no flag
	}{
		{key: "policy.repo", get: func(c *Config) string { return c.Policy.Repo }, def: "", file: "/srv/file-repo", envValue: "/srv/env-repo", flag: "policy-repo"},
		{key: "policy.ref", get: func(c *Config) string { return c.Policy.Ref }, def: "main", file: "file-ref", envValue: "env-ref", flag: "policy-ref"},
		{key: "policy.file", get: func(c *Config) string { return c.Policy.File }, def: "jit.yaml", file: "file.yaml", envValue: "env.yaml"},
		{key: "policy.allowed_signers", get: func(c *Config) string { return c.Policy.AllowedSigners }, def: "", file: "/etc/file-signers", envValue: "/etc/env-signers"},
		{key: "policy.max_age", get: func(c *Config) string { return c.Policy.MaxAge.String() }, def: "1h0m0s", file: "30m0s", envValue: "2d", want: "48h0m0s"},
		{key: "audit.journal", get: func(c *Config) string { return c.Audit.Journal }, def: "/state/jit/audit.jsonl", file: "/var/file/audit.jsonl", envValue: "/var/env/audit.jsonl"},
		{key: "providers.aws.profile", get: func(c *Config) string { return c.Providers.AWS.Profile }, def: "", file: "file-profile", envValue: "env-profile", flag: "aws-profile"},
		{key: "providers.aws.region", get: func(c *Config) string { return c.Providers.AWS.Region }, def: "", file: "file-region", envValue: "eu-west-9"},
		{key: "providers.aws.endpoint", get: func(c *Config) string { return c.Providers.AWS.Endpoint }, def: "", file: "http://127.0.0.1:1/file", envValue: "http://127.0.0.1:2/env"},
	}
	for _, k := range keysUnderTest {
		t.Run(k.key, func(t *testing.T) {
			dir := t.TempDir()
			cfgFile := writeFile(t, dir, "config.yaml", fullFile)
			wantEnv := k.envValue
			if k.want != "" {
				wantEnv = k.want
			}
			base := map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "/state"}
			with := func(extra map[string]string) map[string]string {
				m := map[string]string{}
				for a, b := range base {
					m[a] = b
				}
				for a, b := range extra {
					m[a] = b
				}
				return m
			}
			layers := []struct {
				name  string
				file  string
				env   map[string]string
				flags []string
				want  string
			}{
				{"default", filepath.Join(dir, "absent", "config.yaml"), base, nil, k.def},
				{"file over default", cfgFile, base, nil, k.file},
				{"env over file", cfgFile, with(map[string]string{EnvName(k.key): k.envValue}), nil, wantEnv},
			}
			if k.flag != "" {
				layers = append(layers, struct {
					name  string
					file  string
					env   map[string]string
					flags []string
					want  string
				}{"flag over env", cfgFile, with(map[string]string{EnvName(k.key): k.envValue}), []string{"--" + k.flag, "from-flag"}, "from-flag"})
			}
			for _, l := range layers {
				t.Run(l.name, func(t *testing.T) {
					// A missing default file is fine; an explicit missing
					// one is not, so the default layer goes through
					// XDG_CONFIG_HOME instead of File.
					o := Options{Getenv: env(l.env), Flags: flags(t, l.flags...)}
					if l.name == "default" {
						l.env["XDG_CONFIG_HOME"] = filepath.Join(dir, "absent")
					} else {
						o.File = l.file
					}
					cfg, err := Load(o)
					if err != nil {
						t.Fatalf("Load: %v", err)
					}
					if got := k.get(cfg); got != l.want {
						t.Errorf("%s = %q, want %q", k.key, got, l.want)
					}
				})
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for k, want := range map[string]string{
		"policy.repo":            "JIT_POLICY_REPO",
		"policy.allowed_signers": "JIT_POLICY_ALLOWED_SIGNERS",
		"providers.aws.profile":  "JIT_PROVIDERS_AWS_PROFILE",
		"audit.sinks":            "JIT_AUDIT_SINKS",
	} {
		if got := EnvName(k); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestKeysDocumentEveryKey(t *testing.T) {
	got := map[string]Key{}
	for _, k := range Keys() {
		got[k.Name] = k
	}
	want := map[string]Key{
		"policy.repo":    {Name: "policy.repo", Env: "JIT_POLICY_REPO", Flag: "--policy-repo", Default: ""},
		"policy.ref":     {Name: "policy.ref", Env: "JIT_POLICY_REF", Flag: "--policy-ref", Default: "main"},
		"policy.file":    {Name: "policy.file", Env: "JIT_POLICY_FILE", Default: "jit.yaml"},
		"policy.max_age": {Name: "policy.max_age", Env: "JIT_POLICY_MAX_AGE", Default: "1h"},
		"audit.sinks":    {Name: "audit.sinks", Env: "JIT_AUDIT_SINKS"},
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("Keys() lacks %s", name)
			continue
		}
		if g.Env != w.Env || g.Flag != w.Flag || g.Default != w.Default || g.Help == "" {
			t.Errorf("Keys()[%s] = %+v, want env %q flag %q default %q and some help", name, g, w.Env, w.Flag, w.Default)
		}
	}
	fn := FlagNames()
	for _, f := range []string{"policy-repo", "policy-ref", "aws-profile"} {
		if fn[f] == "" {
			t.Errorf("FlagNames() lacks %s", f)
		}
	}
	if len(fn) != 3 {
		t.Errorf("FlagNames() = %v, want exactly 3 flags", fn)
	}
}

// TestConfigFileSelection checks --config > $JIT_CONFIG > the XDG default,
// and that only a missing default file is fine.
func TestConfigFileSelection(t *testing.T) {
	dir := t.TempDir()
	flagFile := writeFile(t, dir, "flag.yaml", "policy: {repo: /from/flag-file}\n")
	envFile := writeFile(t, dir, "env.yaml", "policy: {repo: /from/env-file}\n")
	xdgFile := writeFile(t, dir, "xdg/jit/config.yaml", "policy: {repo: /from/xdg-file}\n")
	homeFile := writeFile(t, dir, "home/.config/jit/config.yaml", "policy: {repo: /from/home-file}\n")
	tests := []struct {
		name     string
		file     string
		env      map[string]string
		wantRepo string
		wantFile string
		wantErr  string
	}{
		{name: "flag wins over JIT_CONFIG", file: flagFile, env: map[string]string{"JIT_CONFIG": envFile, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}, wantRepo: "/from/flag-file", wantFile: flagFile},
		{name: "JIT_CONFIG wins over XDG", env: map[string]string{"JIT_CONFIG": envFile, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg")}, wantRepo: "/from/env-file", wantFile: envFile},
		{name: "XDG_CONFIG_HOME", env: map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "xdg"), "HOME": filepath.Join(dir, "home")}, wantRepo: "/from/xdg-file", wantFile: xdgFile},
		{name: "HOME/.config without XDG_CONFIG_HOME", env: map[string]string{"HOME": filepath.Join(dir, "home")}, wantRepo: "/from/home-file", wantFile: homeFile},
		{name: "relative XDG_CONFIG_HOME is ignored", env: map[string]string{"XDG_CONFIG_HOME": "xdg", "HOME": filepath.Join(dir, "home")}, wantRepo: "/from/home-file", wantFile: homeFile},
		{name: "missing default file is fine", env: map[string]string{"HOME": filepath.Join(dir, "nobody")}, wantRepo: "", wantFile: ""},
		{name: "missing --config is an error", file: filepath.Join(dir, "nope.yaml"), env: map[string]string{"HOME": filepath.Join(dir, "home")}, wantErr: "nope.yaml"},
		{name: "missing JIT_CONFIG is an error", env: map[string]string{"JIT_CONFIG": filepath.Join(dir, "gone.yaml"), "HOME": filepath.Join(dir, "home")}, wantErr: "gone.yaml"},
		{name: "--config with ~", file: "~/.config/jit/config.yaml", env: map[string]string{"HOME": filepath.Join(dir, "home")}, wantRepo: "/from/home-file", wantFile: "~/.config/jit/config.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Options{File: tt.file, Getenv: env(tt.env)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Policy.Repo != tt.wantRepo || cfg.File != tt.wantFile {
				t.Errorf("repo %q file %q, want repo %q file %q", cfg.Policy.Repo, cfg.File, tt.wantRepo, tt.wantFile)
			}
		})
	}
}

func TestDefaultFile(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/jit/config.yaml"},
		{map[string]string{"HOME": "/h"}, "/h/.config/jit/config.yaml"},
		{map[string]string{"XDG_CONFIG_HOME": "rel", "HOME": "/h"}, "/h/.config/jit/config.yaml"},
	}
	for _, tt := range tests {
		if got := DefaultFile(env(tt.env)); got != tt.want {
			t.Errorf("DefaultFile(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestDirectories(t *testing.T) {
	tests := []struct {
		name                  string
		env                   map[string]string
		state, cache, journal string
	}{
		{"XDG", map[string]string{"HOME": "/h", "XDG_STATE_HOME": "/s", "XDG_CACHE_HOME": "/c"}, "/s/jit", "/c/jit", "/s/jit/audit.jsonl"},
		{"HOME fallbacks", map[string]string{"HOME": "/h"}, "/h/.local/state/jit", "/h/.cache/jit", "/h/.local/state/jit/audit.jsonl"},
		{"relative XDG ignored", map[string]string{"HOME": "/h", "XDG_STATE_HOME": "s", "XDG_CACHE_HOME": "c"}, "/h/.local/state/jit", "/h/.cache/jit", "/h/.local/state/jit/audit.jsonl"},
		{"journal key wins over state dir", map[string]string{"HOME": "/h", "XDG_STATE_HOME": "/s", "JIT_AUDIT_JOURNAL": "/j/a.jsonl"}, "/s/jit", "/h/.cache/jit", "/j/a.jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["XDG_CONFIG_HOME"] = t.TempDir() // no file
			cfg, err := Load(Options{Getenv: env(tt.env)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.StateDir != tt.state || cfg.CacheDir != tt.cache || cfg.Audit.Journal != tt.journal {
				t.Errorf("state %q cache %q journal %q, want %q %q %q", cfg.StateDir, cfg.CacheDir, cfg.Audit.Journal, tt.state, tt.cache, tt.journal)
			}
		})
	}
}

func TestHomeExpansion(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "c.yaml", "policy:\n  repo: ~/policy\n  allowed_signers: ~/.config/jit/allowed_signers\naudit:\n  journal: ~/audit.jsonl\nproviders:\n  aws:\n    profile: ~notapath\n")
	cfg, err := Load(Options{File: f, Getenv: env(map[string]string{"HOME": "/home/alice"})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Repo != "/home/alice/policy" {
		t.Errorf("repo = %q", cfg.Policy.Repo)
	}
	if cfg.Policy.AllowedSigners != "/home/alice/.config/jit/allowed_signers" {
		t.Errorf("allowed_signers = %q", cfg.Policy.AllowedSigners)
	}
	if cfg.Audit.Journal != "/home/alice/audit.jsonl" {
		t.Errorf("journal = %q", cfg.Audit.Journal)
	}
	// Only ~ and ~/ are expanded (not ~user), and only in paths.
	if cfg.Providers.AWS.Profile != "~notapath" {
		t.Errorf("profile = %q, want it untouched", cfg.Providers.AWS.Profile)
	}
	// A git URL with ~ inside is not a path.
	cfg, err = Load(Options{File: f, Getenv: env(map[string]string{"HOME": "/home/alice", "JIT_POLICY_REPO": "ssh://git@host/~alice/policy.git"})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Repo != "ssh://git@host/~alice/policy.git" {
		t.Errorf("repo = %q", cfg.Policy.Repo)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // substrings of the error
	}{
		{"unknown top-level key names its line", "policy:\n  repo: x\npolcy:\n  ref: y\n", []string{"c.yaml:3:", `unknown key "polcy"`, "policy.repo"}},
		{"unknown nested key names its line", "policy:\n  repo: x\n  refs: main\n", []string{"c.yaml:3:", `unknown key "policy.refs"`}},
		{"unknown provider key", "providers:\n  aws:\n    regoin: x\n", []string{"c.yaml:3:", `"providers.aws.regoin"`}},
		{"unknown provider", "providers:\n  oracle: {}\n", []string{"c.yaml:2:", `"providers.oracle"`}},
		{"map under a leaf", "policy:\n  repo:\n    url: x\n", []string{"c.yaml:3:", `"policy.repo.url"`}},
		{"scalar where a section belongs", "policy: git@example.com:a/b.git\n", []string{"c.yaml:1:", "policy", "mapping"}},
		{"alias to a section under a leaf", "policy: &p\n  repo: *p\n", []string{"c.yaml:2:", `"policy.repo.repo"`}},
		{"alias to a value under a section", "x: &v hello\n", []string{"c.yaml:1:", `unknown key "x"`}},
		{"not a mapping", "- a\n- b\n", []string{"c.yaml:1:", "mapping"}},
		{"not YAML", "policy: [\n", []string{"c.yaml"}},
		{"bad duration", "policy:\n  max_age: soon\n", []string{"policy.max_age", "soon"}},
		{"bad sink type", "audit:\n  sinks:\n    - {type: carrier-pigeon}\n", []string{"c.yaml:3", "carrier-pigeon"}},
		{"sink key of another type", "audit:\n  sinks:\n    - type: file\n      path: /a\n      url: http://127.0.0.1/\n", []string{"c.yaml:5", "url"}},
		{"sink without its required key", "audit:\n  sinks:\n    - type: file\n", []string{"c.yaml:3", "path"}},
		{"sinks not a list", "audit:\n  sinks: {type: file}\n", []string{"c.yaml:2", "list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, t.TempDir(), "c.yaml", tt.data)
			_, err := Load(Options{File: f, Getenv: env(map[string]string{"HOME": "/h"})})
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAliases(t *testing.T) {
	f := writeFile(t, t.TempDir(), "c.yaml", "policy:\n  repo: &r /srv/policy\n  allowed_signers: *r\n")
	cfg, err := Load(Options{File: f, Getenv: env(map[string]string{"HOME": "/h"})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Repo != "/srv/policy" || cfg.Policy.AllowedSigners != "/srv/policy" {
		t.Errorf("policy = %+v", cfg.Policy)
	}
}

func TestEmptyAndNullFile(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n", "policy:\n", "policy: {}\nproviders:\n  aws:\n"} {
		f := writeFile(t, t.TempDir(), "c.yaml", data)
		cfg, err := Load(Options{File: f, Getenv: env(map[string]string{"HOME": "/h"})})
		if err != nil {
			t.Errorf("Load(%q): %v", data, err)
			continue
		}
		if cfg.Policy.Ref != "main" || cfg.Policy.File != "jit.yaml" || cfg.Policy.MaxAge != time.Hour {
			t.Errorf("Load(%q) defaults = %+v", data, cfg.Policy)
		}
	}
}

func TestSinks(t *testing.T) {
	fileSinks := "audit:\n  sinks:\n    - {type: file, path: /var/log/jit.jsonl, max_size: 1MB}\n    - {type: syslog, address: 'tcp://127.0.0.1:6514', required: true}\n"
	tests := []struct {
		name    string
		file    string
		env     string
		want    []policy.SinkConfig
		wantErr []string
	}{
		{
			name: "from the file",
			file: fileSinks,
			want: []policy.SinkConfig{
				{Type: "file", Path: "/var/log/jit.jsonl", MaxSize: 1000000, Line: 3},
				{Type: "syslog", Address: "tcp://127.0.0.1:6514", Required: true, Line: 4},
			},
		},
		{
			name: "env YAML list wins over the file",
			file: fileSinks,
			env:  "[{type: http, url: 'http://127.0.0.1:8088/x', format: splunk-hec, token_env: TOK}]",
			want: []policy.SinkConfig{{Type: "http", URL: "http://127.0.0.1:8088/x", Format: "splunk-hec", TokenEnv: "TOK", Line: 1}},
		},
		{
			name: "env JSON list",
			env:  `[{"type":"file","path":"/a"}]`,
			want: []policy.SinkConfig{{Type: "file", Path: "/a", Line: 1}},
		},
		{
			name: "env block YAML list",
			env:  "- type: file\n  path: /a\n- type: file\n  path: /b\n",
			want: []policy.SinkConfig{{Type: "file", Path: "/a", Line: 1}, {Type: "file", Path: "/b", Line: 3}},
		},
		{name: "env empty list", env: "[]", want: nil},
		{name: "none", want: nil},
		{name: "env bad sink", env: "[{type: file}]", wantErr: []string{"JIT_AUDIT_SINKS", "path"}},
		{name: "env not YAML", env: "[{", wantErr: []string{"JIT_AUDIT_SINKS"}},
		{name: "env not a list", env: "type: file", wantErr: []string{"JIT_AUDIT_SINKS", "list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{"HOME": "/h"}
			if tt.env != "" {
				e["JIT_AUDIT_SINKS"] = tt.env
			}
			o := Options{Getenv: env(e)}
			if tt.file != "" {
				o.File = writeFile(t, t.TempDir(), "c.yaml", tt.file)
			} else {
				e["XDG_CONFIG_HOME"] = t.TempDir()
			}
			cfg, err := Load(o)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Load succeeded with sinks %+v, want an error", cfg.Audit.Sinks)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Audit.Sinks, tt.want) {
				t.Errorf("sinks = %+v\nwant    %+v", cfg.Audit.Sinks, tt.want)
			}
		})
	}
}

// TestFlagsOnlyWhenChanged: a registered but unset flag does not override
// the environment with "".
func TestFlagsOnlyWhenChanged(t *testing.T) {
	cfg, err := Load(Options{
		Getenv: env(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": t.TempDir(), "JIT_POLICY_REPO": "/env/repo", "JIT_POLICY_REF": "env-ref"}),
		Flags:  flags(t, "--policy-ref", "flag-ref"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Repo != "/env/repo" || cfg.Policy.Ref != "flag-ref" {
		t.Errorf("repo %q ref %q, want /env/repo and flag-ref", cfg.Policy.Repo, cfg.Policy.Ref)
	}
}

// TestPartialOverride: setting one key of a section by env or flag keeps
// the file's other keys of that section.
func TestPartialOverride(t *testing.T) {
	f := writeFile(t, t.TempDir(), "c.yaml", fullFile)
	cfg, err := Load(Options{
		File:   f,
		Getenv: env(map[string]string{"HOME": "/h", "JIT_PROVIDERS_AWS_REGION": "eu-central-1"}),
		Flags:  flags(t, "--policy-repo", "/flag/repo"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := AWS{Profile: "file-profile", Region: "eu-central-1", Endpoint: "http://127.0.0.1:1/file"}
	if cfg.Providers.AWS != want {
		t.Errorf("aws = %+v, want %+v", cfg.Providers.AWS, want)
	}
	if cfg.Policy.Repo != "/flag/repo" || cfg.Policy.Ref != "file-ref" || cfg.Policy.File != "file.yaml" {
		t.Errorf("policy = %+v", cfg.Policy)
	}
}

func TestMaxAge(t *testing.T) {
	// Negative is policysource's "never serve a stale cache"; it must
	// survive loading.
	for in, want := range map[string]time.Duration{"2d": 48 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "0s": 0, "-1s": -time.Second} {
		cfg, err := Load(Options{Getenv: env(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": t.TempDir(), "JIT_POLICY_MAX_AGE": in})})
		if err != nil {
			t.Errorf("max_age %q: %v", in, err)
			continue
		}
		if cfg.Policy.MaxAge != want {
			t.Errorf("max_age %q = %v, want %v", in, cfg.Policy.MaxAge, want)
		}
	}
	f := writeFile(t, t.TempDir(), "c.yaml", "policy:\n  max_age: 2d\n")
	cfg, err := Load(Options{File: f, Getenv: env(map[string]string{"HOME": "/h"})})
	if err != nil || cfg.Policy.MaxAge != 48*time.Hour {
		t.Errorf("max_age: 2d in the file = %v, %v; want 48h", cfg, err)
	}
}

// FuzzLoadFile feeds arbitrary bytes as the configuration file: Load must
// not panic, and any error must name the file.
func FuzzLoadFile(f *testing.F) {
	for _, s := range []string{fullFile, "", "policy:\n", "policy: x\n", "audit:\n  sinks:\n    - {type: file, path: /a}\n", "- a\n", "a: &x {b: *x}\n", "policy: {repo: [1, 2]}\n", "providers:\n  aws: {profile: {x: 1}}\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(Options{File: p, Getenv: env(map[string]string{"HOME": "/h"})})
		if err != nil && !strings.Contains(err.Error(), "c.yaml") && !strings.Contains(err.Error(), "policy.max_age") {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}

func TestAuditSigningKeys(t *testing.T) {
	dir := t.TempDir()
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJpZyBrZXkgZm9yIGF1ZGl0IHNpZ25hdHVyZXMgMTIzNDU2 audit@host"
	for _, tt := range []struct {
		name, file string
		env        map[string]string
		signing    string
		verify     []string
	}{
		{name: "none", file: "audit: {}\n"},
		{name: "file list", file: "audit:\n  signing_key: ~/.ssh/jit_audit\n  verify_keys:\n    - " + key + "\n    - ~/keys/audit.pub\n",
			signing: "/home/alice/.ssh/jit_audit", verify: []string{key, "/home/alice/keys/audit.pub"}},
		{name: "one key as a string keeps its spaces", file: "audit:\n  verify_keys: " + key + "\n", verify: []string{key}},
		{name: "environment, one key per line", file: "audit:\n  verify_keys: [/ignored]\n",
			env:     map[string]string{"JIT_AUDIT_VERIFY_KEYS": key + "\n\n/etc/jit/audit.pub\n", "JIT_AUDIT_SIGNING_KEY": "/etc/jit/key"},
			signing: "/etc/jit/key", verify: []string{key, "/etc/jit/audit.pub"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"HOME": "/home/alice"}
			for k, v := range tt.env {
				env[k] = v
			}
			f := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".yaml", tt.file)
			cfg, err := Load(Options{File: f, Getenv: func(k string) string { return env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Audit.SigningKey != tt.signing || !reflect.DeepEqual(cfg.Audit.VerifyKeys, tt.verify) {
				t.Errorf("signing %q verify %q, want %q %q", cfg.Audit.SigningKey, cfg.Audit.VerifyKeys, tt.signing, tt.verify)
			}
		})
	}
}
