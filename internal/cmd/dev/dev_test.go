package dev

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jitaccess/jit/internal/cmdutil"
	"github.com/jitaccess/jit/internal/cmdutil/cmdtest"
	"github.com/jitaccess/jit/internal/iostreams"
)

func TestNewCmdDev(t *testing.T) {
	tests := []struct {
		args    []string
		want    Options
		wantErr string
	}{
		{args: nil, want: Options{Command: []string{}}},
		{args: []string{"--keep", "--dir", "/tmp/sb", "--", "jit", "targets"}, want: Options{Keep: true, Dir: "/tmp/sb", Command: []string{"jit", "targets"}}},
		{args: []string{"jit", "targets"}, wantErr: "put the command after --: jit dev -- jit targets"},
	}
	for _, tt := range tests {
		ios, _, _, _ := iostreams.Test()
		var got *Options
		cmd := NewCmdDev(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
		err := cmdtest.Execute(cmd, tt.args...)
		if tt.wantErr != "" {
			if !cmdtest.IsUsage(err, tt.wantErr) {
				t.Errorf("%q: error = %v", tt.args, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.Keep != tt.want.Keep || got.Dir != tt.want.Dir || len(got.Command) != len(tt.want.Command) || (len(got.Command) > 0 && !reflect.DeepEqual(got.Command, tt.want.Command)) {
			t.Errorf("%q: options %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
}

func options(env map[string]string) (*Options, *bytes.Buffer, *bytes.Buffer) {
	ios, _, out, errOut := iostreams.Test()
	return &Options{
		IO:     ios,
		Getenv: func(k string) string { return env[k] },
		Environ: func() []string {
			var l []string
			for k, v := range env {
				l = append(l, k+"="+v)
			}
			return l
		},
	}, out, errOut
}

func TestRun(t *testing.T) {
	needGit(t)
	dir := filepath.Join(t.TempDir(), "sandbox")
	o, out, errOut := options(map[string]string{
		"PATH": "/usr/bin:/bin", "HOME": t.TempDir(),
		"JIT_POLICY_REPO": "/users/own/policy", "JIT_CONFIG": "/users/own/config.yaml", "JIT_REQUEST_ID": "01OUTER",
		"AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "outer-token", "KEEP_ME": "yes",
	})
	o.Dir = dir
	o.Command = []string{"sh", "-c", `echo "config=$JIT_CONFIG"; echo "repo=${JIT_POLICY_REPO-unset} req=${JIT_REQUEST_ID-unset} profile=${AWS_PROFILE-unset} token=${AWS_SESSION_TOKEN-unset} keep=$KEEP_ME"; echo "sts=$AWS_ENDPOINT_URL_STS"; echo "jit=$(command -v jit)"; test -f "$JIT_CONFIG" && git -C "$JIT_DEV/policy" log --oneline | wc -l; exit 4`}
	err := run(context.Background(), o)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != 4 {
		t.Fatalf("error = %v, want the command's exit status 4\nstderr: %s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("output:\n%s\nstderr:\n%s", out, errOut)
	}
	if lines[0] != "config="+filepath.Join(dir, "config.yaml") {
		t.Errorf("line %q", lines[0])
	}
	if lines[1] != "repo=unset req=unset profile=unset token=unset keep=yes" {
		t.Errorf("the user's jit and AWS settings leak into the sandbox: %q", lines[1])
	}
	if u, err := url.Parse(strings.TrimPrefix(lines[2], "sts=")); err != nil || u.Hostname() != "127.0.0.1" {
		t.Errorf("STS endpoint %q is not loopback", lines[2])
	}
	if lines[3] != "jit="+filepath.Join(dir, "bin", "jit") {
		t.Errorf("jit in the sandbox: %q", lines[3])
	}
	if strings.TrimSpace(lines[4]) != "1" {
		t.Errorf("policy repository commits: %q", lines[4])
	}
	if !strings.Contains(errOut.String(), "jit dev: sandbox in "+dir) || strings.Contains(errOut.String(), "type exit") {
		t.Errorf("banner:\n%s", errOut)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("sandbox left behind: %v", err)
	}
}

func TestRunKeepAndDir(t *testing.T) {
	needGit(t)
	dir := t.TempDir()
	o, _, _ := options(map[string]string{"PATH": "/usr/bin:/bin"})
	o.Dir, o.Keep, o.Command = dir, true, []string{"true"}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.yaml", "policy/jit.yaml", "policy/jit_test.yaml", "policy/.git"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("kept sandbox lacks %s: %v", f, err)
		}
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if !strings.Contains(string(cfg), "repo: "+filepath.Join(dir, "policy")) {
		t.Errorf("config.yaml:\n%s", cfg)
	}
	if fi, err := os.Stat(filepath.Join(dir, "config.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config.yaml mode %v", fi.Mode())
	}

	// The same directory again: not empty.
	o, _, _ = options(map[string]string{"PATH": "/usr/bin:/bin"})
	o.Dir, o.Command = dir, []string{"true"}
	var fe *cmdutil.FlagError
	if err := run(context.Background(), o); !errors.As(err, &fe) || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("error = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err != nil {
		t.Error("a refused --dir was modified")
	}
}
