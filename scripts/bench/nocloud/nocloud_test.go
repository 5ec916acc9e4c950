//go:build unix

// Package nocloud checks that `jit version`, `jit policy validate` and `jit
// audit verify` initialise no cloud SDK, by watching the real jit binary from
// outside: AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE are named pipes
// whose opening the test notices, and AWS_ENDPOINT_URL_STS is a loopback
// listener that counts connections. Loading the AWS SDK's default
// configuration opens both files (that is how it finds profiles), so a
// command that opens neither and connects nowhere has not initialised it.
// `jit whoami`, which must load it, is the control: the same watch has to
// see it, or the watch proves nothing.
package nocloud

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
)

// watch counts what a jit process does with the AWS SDK's inputs.
type watch struct {
	configOpens atomic.Int64 // opens of AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE
	connects    atomic.Int64 // connections to AWS_ENDPOINT_URL_STS
	env         []string
	stop        func()
}

func newWatch(t *testing.T, dir string) *watch {
	t.Helper()
	w := &watch{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			w.connects.Add(1)
			c.Close() // no answer: the count is what matters
		}
	}()
	done := make(chan struct{})
	var pipes []string
	for _, name := range []string{"aws-config", "aws-credentials"} {
		p := filepath.Join(dir, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("no named pipes here: %v", err)
		}
		pipes = append(pipes, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.serveEmpty(p, done)
		}()
	}
	w.env = append(cleanEnv(),
		"HOME="+dir,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"AWS_CONFIG_FILE="+pipes[0],
		"AWS_SHARED_CREDENTIALS_FILE="+pipes[1],
		"AWS_ENDPOINT_URL_STS=http://"+ln.Addr().String(),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_REGION=us-east-1",
		"AWS_MAX_ATTEMPTS=1",
		"JIT_NO_PROMPT=1",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
	)
	w.stop = func() {
		close(done)
		ln.Close()
		wg.Wait()
	}
	t.Cleanup(w.stop)
	return w
}

// serveEmpty notices each open of the pipe for reading: such an open waits
// for a writer, so polling for one with a non-blocking write open finds it.
// The writer closes at once and the reader sees an empty file.
func (w *watch) serveEmpty(p string, done chan struct{}) {
	for {
		select {
		case <-done:
			return
		default:
		}
		fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err == nil {
			w.configOpens.Add(1)
			syscall.Close(fd)
			// Let the reader see end of file before looking again, or the
			// same open would be counted twice.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if !errors.Is(err, syscall.ENXIO) { // ENXIO: no reader yet
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// cleanEnv is the environment without anything that steers AWS, jit or git.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "JIT_") || strings.HasPrefix(k, "GIT_") ||
			strings.HasPrefix(k, "XDG_") || k == "HOME" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (w *watch) run(t *testing.T, jit string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(jit, args...)
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func buildJit(t *testing.T, dir string) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	bin := filepath.Join(dir, "jit")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/jitaccess/jit/cmd/jit")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build jit: %v\n%s", err, out)
	}
	return bin
}

const policyYAML = `version: 1
targets:
  sandbox:
    provider: aws
    aws:
      role_arn: arn:aws:iam::111111111111:role/sandbox-admin
    max_duration: 1h
rules:
  - name: everyone
    subjects: ["*"]
    targets: [sandbox]
`

// policyRepo makes a repository whose main branch holds the policy.
func policyRepo(t *testing.T, dir string, env []string) string {
	t.Helper()
	repo := filepath.Join(dir, "policy")
	if err := os.MkdirAll(repo, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "jit.yaml"), []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "jit.yaml"},
		{"-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "policy"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = repo, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return repo
}

func TestCommandsInitialiseNoCloudSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("builds jit")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	jit := buildJit(t, dir)
	w := newWatch(t, dir)
	repo := policyRepo(t, dir, w.env)
	cfg := filepath.Join(dir, "config", "jit", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("policy:\n  repo: "+repo+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, "state", "jit", "audit.jsonl")
	if err := audit.OpenJournal(journal).Append(
		&audit.Event{Event: audit.EventRequest, Target: "sandbox"},
		&audit.Event{Event: audit.EventDeny, Target: "sandbox"},
	); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "AWS_ACCESS_KEY_ID=AKIANOCLOUD000000001", "AWS_SECRET_ACCESS_KEY=not-a-real-secret-0000000000000000000000")

	for _, c := range []struct {
		name string
		args []string
		want string // in the output, to show the command did its work
	}{
		{"version", []string{"version"}, "jit"},
		{"policy validate (configured commit)", []string{"policy", "validate"}, "is valid"},
		{"policy validate FILE", []string{"policy", "validate", filepath.Join(repo, "jit.yaml")}, "is valid"},
		{"audit verify (configured journal)", []string{"audit", "verify"}, "2 events"},
		{"audit verify FILE", []string{"audit", "verify", journal}, "2 events"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, conns := w.configOpens.Load(), w.connects.Load()
			out, err := w.run(t, jit, c.args...)
			if err != nil {
				t.Fatalf("jit %v: %v\n%s", c.args, err, out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("jit %v printed %q, want %q in it", c.args, out, c.want)
			}
			if n := w.configOpens.Load() - before; n != 0 {
				t.Errorf("jit %v opened the AWS config or credentials file %d times: it loaded the AWS SDK's configuration", c.args, n)
			}
			if n := w.connects.Load() - conns; n != 0 {
				t.Errorf("jit %v connected to STS %d times", c.args, n)
			}
		})
	}

	// The control: a command that needs the SDK is seen by the same watch.
	t.Run("control: whoami", func(t *testing.T) {
		before, conns := w.configOpens.Load(), w.connects.Load()
		out, _ := w.run(t, jit, "whoami") // fails: the listener never answers
		if w.configOpens.Load() == before {
			t.Errorf("jit whoami opened no AWS config file; the watch cannot see the SDK loading (output %q)", out)
		}
		if w.connects.Load() == conns {
			t.Errorf("jit whoami made no connection to STS; the watch cannot see calls (output %q)", out)
		}
	})
}
