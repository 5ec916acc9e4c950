package factory

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/ssh"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/config"
	"github.com/jitaccess/jit/internal/iostreams"
	"github.com/jitaccess/jit/internal/policy"
	"github.com/jitaccess/jit/internal/policysource"
)

// isolate points every variable the factory reads at a fresh home.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": "", "XDG_CACHE_HOME": "",
		"JIT_CONFIG": "", "JIT_POLICY_REPO": "", "JIT_POLICY_REF": "", "JIT_POLICY_MAX_AGE": "", "JIT_AUDIT_JOURNAL": "",
		"JIT_AUDIT_SINKS": "", "JIT_AUDIT_SIGNING_KEY": "", "JIT_AUDIT_VERIFY_KEYS": "", "JIT_NO_PROMPT": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	return home
}

func globals(file string, debug bool, args ...string) Globals {
	fs := pflag.NewFlagSet("jit", pflag.ContinueOnError)
	for name, help := range config.FlagNames() {
		fs.String(name, "", help)
	}
	_ = fs.Parse(args)
	return Globals{ConfigFile: func() string { return file }, Debug: func() bool { return debug }, Flags: func() *pflag.FlagSet { return fs }}
}

func TestPolicySource(t *testing.T) {
	home := isolate(t)
	cfgFile := filepath.Join(home, "c.yaml")
	if err := os.WriteFile(cfgFile, []byte("policy:\n  repo: ~/policy\n  ref: prod\n  file: access/jit.yaml\n  max_age: 0s\n  allowed_signers: ~/signers\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	ios, _, _, _ := iostreams.Test()
	f := New(ios, globals(cfgFile, false, "--policy-ref", "flag-ref"))
	src, err := f.PolicySource()
	if err != nil {
		t.Fatal(err)
	}
	g, ok := src.(*policysource.Git)
	if !ok {
		t.Fatalf("source = %T", src)
	}
	want := policysource.Git{Repo: filepath.Join(home, "policy"), Ref: "flag-ref", File: "access/jit.yaml", AllowedSigners: filepath.Join(home, "signers"), MaxAge: -1, CacheDir: filepath.Join(home, "cache", "jit")}
	if g.Repo != want.Repo || g.Ref != want.Ref || g.File != want.File || g.AllowedSigners != want.AllowedSigners || g.MaxAge != want.MaxAge || g.CacheDir != want.CacheDir {
		t.Errorf("git source = %+v\nwant %+v", *g, want)
	}
	if src2, _ := f.PolicySource(); src2 != src {
		t.Error("policy source built twice")
	}
}

func TestNoRepository(t *testing.T) {
	isolate(t)
	ios, _, _, _ := iostreams.Test()
	f := New(ios, globals("", false))
	_, err := f.PolicySource()
	var he *cmdutil.HintError
	if !errors.As(err, &he) || err.Error() != "no policy repository configured" || !strings.Contains(he.Hint, "JIT_POLICY_REPO") || !strings.Contains(he.Hint, "jit dev") {
		t.Errorf("error = %v", err)
	}
	// The service still serves what needs no policy (status, revoke), and
	// anything that needs the policy gets the same error.
	svc, err := f.Elevation()
	if err != nil {
		t.Fatalf("Elevation: %v", err)
	}
	if _, _, err := svc.Policy(context.Background()); !errors.As(err, &he) || !strings.Contains(err.Error(), "no policy repository configured") {
		t.Errorf("Policy() = %v, want the missing-repository error with its hint", err)
	}
}

func TestConfigErrorsPropagate(t *testing.T) {
	isolate(t)
	ios, _, _, _ := iostreams.Test()
	f := New(ios, globals(filepath.Join(t.TempDir(), "missing.yaml"), false))
	if _, err := f.Config(); err == nil {
		t.Fatal("missing --config file accepted")
	}
	if _, err := f.PolicySource(); err == nil {
		t.Error("policy source built from a broken config")
	}
	if _, err := f.Elevation(); err == nil {
		t.Error("elevation service built from a broken config")
	}
	// Providers still work (their specs are needed for policy validate).
	if names := f.Providers().Names(); len(names) == 0 {
		t.Error("no providers")
	}
}

func TestElevation(t *testing.T) {
	home := isolate(t)
	t.Setenv("JIT_POLICY_REPO", filepath.Join(home, "repo"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv("JIT_AUDIT_SINKS", "[{type: file, path: /x/sink.jsonl}]")
	ios, _, _, _ := iostreams.Test()
	f := New(ios, globals("", false))
	svc, err := f.Elevation()
	if err != nil {
		t.Fatal(err)
	}
	j, ok := svc.Journal.(*audit.Journal)
	if !ok || j.Path != filepath.Join(home, "state", "jit", "audit.jsonl") {
		t.Errorf("journal = %#v", svc.Journal)
	}
	if len(svc.UserSinks) != 1 || svc.UserSinks[0].Path != "/x/sink.jsonl" {
		t.Errorf("user sinks = %+v", svc.UserSinks)
	}
	if svc.Source == nil || svc.Providers == nil || svc.Sinks == nil {
		t.Errorf("service = %+v", svc)
	}
	if svc2, _ := f.Elevation(); svc2 != svc {
		t.Error("service built twice")
	}
}

func TestNoPromptAndDebug(t *testing.T) {
	isolate(t)
	t.Setenv("JIT_NO_PROMPT", "1")
	ios, _, _, errOut := iostreams.Test()
	ios.SetStdinTTY(true)
	ios.SetStderrTTY(true)
	f := New(ios, globals("", false))
	if ios.CanPrompt() {
		t.Error("JIT_NO_PROMPT did not disable prompting")
	}
	f.Debugf("x=%d", 1)
	if errOut.Len() != 0 {
		t.Errorf("debug output without --debug: %q", errOut)
	}
	f = New(ios, globals("", true))
	f.Debugf("x=%d", 1)
	if errOut.String() != "jit: debug: x=1\n" {
		t.Errorf("debug output %q", errOut)
	}
}

func TestStaleLimit(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{0: -1, time.Hour: time.Hour, -time.Second: -time.Second, 48 * time.Hour: 48 * time.Hour} {
		if got := StaleLimit(in); got != want {
			t.Errorf("StaleLimit(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestSinks(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(dir, "audit.jsonl")
	sh, err := sinks(journal)([]policy.SinkConfig{
		{Type: "file", Path: filepath.Join(dir, "a.jsonl")}, {Type: "carrier-pigeon", Name: "pigeon", Required: true}, {Type: "file", Path: "~/b.jsonl", Name: "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if sh.Journal != journal || sh.Len() != 3 || !sh.HasRequired() {
		t.Fatalf("shipper %+v", sh)
	}
	if got := sh.Targets[0]; got.Name != "file "+filepath.Join(dir, "a.jsonl") || got.Sink.Name() != got.Name || got.Type != "file" {
		t.Errorf("file target %+v", got)
	}
	// An unknown type fails every delivery, so a required one refuses.
	if err := sh.Targets[1].Sink.Send(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "audit sink type carrier-pigeon is not supported") {
		t.Errorf("unsupported sink: %v", err)
	}
	home, _ := os.UserHomeDir()
	if got := sh.Targets[2].Sink.Name(); got != "file "+filepath.Join(home, "b.jsonl") {
		t.Errorf("~ not expanded: %q", got)
	}
	if _, err := sinks(journal)([]policy.SinkConfig{{Type: "file", Path: "/a", Name: "x"}, {Type: "file", Path: "/b", Name: "x"}}); err == nil {
		t.Error("two different sinks with one name accepted")
	}
}

func TestSigningKey(t *testing.T) {
	home := isolate(t)
	t.Setenv("JIT_AUDIT_SIGNING_KEY", filepath.Join(home, "missing_key"))
	ios, _, _, _ := iostreams.Test()
	if _, err := New(ios, globals("", false)).Elevation(); err == nil || !strings.Contains(err.Error(), "audit.signing_key") {
		t.Errorf("unreadable signing key: %v", err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	block, _ := ssh.MarshalPrivateKey(key, "")
	p := filepath.Join(home, "jit_audit")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JIT_AUDIT_SIGNING_KEY", p)
	svc, err := New(ios, globals("", false)).Elevation()
	if err != nil {
		t.Fatal(err)
	}
	if j := svc.Journal.(*audit.Journal); j.Signer == nil || j.Signer.Fingerprint() != audit.Fingerprint(key.Public().(ed25519.PublicKey)) {
		t.Errorf("journal signer %+v", j.Signer)
	}
}
