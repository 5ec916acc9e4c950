package session

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBuildEnv(t *testing.T) {
	tests := []struct {
		name  string
		base  []string
		set   []Var
		unset []string
		want  []string
	}{
		{
			name: "sorted, set wins over base",
			base: []string{"Z=1", "A=1", "AWS_REGION=us-east-1"},
			set:  []Var{{"AWS_REGION", "eu-west-1"}, {"JIT_TARGET", "prod"}},
			want: []string{"A=1", "AWS_REGION=eu-west-1", "JIT_TARGET=prod", "Z=1"},
		},
		{
			name:  "unset removes from base",
			base:  []string{"AWS_PROFILE=admin", "AWS_DEFAULT_PROFILE=x", "HOME=/h"},
			unset: []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "NOT_THERE"},
			want:  []string{"HOME=/h"},
		},
		{
			name:  "set wins over unset",
			base:  []string{"AWS_SESSION_TOKEN=old"},
			set:   []Var{{"AWS_SESSION_TOKEN", "new"}},
			unset: []string{"AWS_SESSION_TOKEN"},
			want:  []string{"AWS_SESSION_TOKEN=new"},
		},
		{
			name: "values keep = and newlines; last base duplicate wins",
			base: []string{"A=x=y", "B=1", "B=2", "C=line1\nline2"},
			want: []string{"A=x=y", "B=2", "C=line1\nline2"},
		},
		{
			name: "malformed base entries dropped, empty values kept",
			base: []string{"NOEQUALS", "=nokey", "E="},
			set:  []Var{{"F", ""}},
			want: []string{"E=", "F="},
		},
		{name: "empty", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := append([]string(nil), tt.base...)
			got := BuildEnv(tt.base, tt.set, tt.unset)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BuildEnv = %q, want %q", got, tt.want)
			}
			if !reflect.DeepEqual(base, tt.base) {
				t.Errorf("BuildEnv modified its base: %q", tt.base)
			}
		})
	}
}

func TestShell(t *testing.T) {
	for env, want := range map[string]string{"/bin/zsh": "/bin/zsh", "": "/bin/sh"} {
		if got := Shell(func(string) string { return env }); got != want {
			t.Errorf("Shell with SHELL=%q = %q, want %q", env, got, want)
		}
	}
}

func needSh(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	return sh
}

// baseEnv is a minimal environment with a PATH to the usual tools.
func baseEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
}

func TestRunExitStatus(t *testing.T) {
	needSh(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		argv     []string
		wantCode int
		wantSig  syscall.Signal
		wantErr  error  // errors.Is
		errText  string // substring, when an error is expected
	}{
		{name: "success", argv: []string{"sh", "-c", "exit 0"}, wantCode: 0},
		{name: "status passes through", argv: []string{"sh", "-c", "exit 7"}, wantCode: 7},
		{name: "status 255", argv: []string{"sh", "-c", "exit 255"}, wantCode: 255},
		{name: "killed by SIGKILL", argv: []string{"sh", "-c", "kill -KILL $$"}, wantCode: 128 + 9, wantSig: syscall.SIGKILL},
		{name: "killed by SIGTERM", argv: []string{"sh", "-c", "kill -TERM $$"}, wantCode: 128 + 15, wantSig: syscall.SIGTERM},
		{name: "not in PATH", argv: []string{"jit-no-such-command-xyz"}, wantCode: 127, wantErr: ErrNotFound, errText: "run jit-no-such-command-xyz: command not found"},
		{name: "path does not exist", argv: []string{filepath.Join(dir, "nope")}, wantCode: 127, wantErr: ErrNotFound},
		{name: "not executable", argv: []string{notExec}, wantCode: 126, errText: "permission denied"},
		{name: "a directory", argv: []string{dir}, wantCode: 126, errText: "run " + dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Run(context.Background(), Options{Argv: tt.argv, Env: baseEnv(), Stdout: io.Discard, Stderr: io.Discard})
			if r.ExitCode != tt.wantCode || r.Signal != tt.wantSig {
				t.Errorf("Run = code %d signal %v, want %d %v", r.ExitCode, r.Signal, tt.wantCode, tt.wantSig)
			}
			switch {
			case tt.errText == "" && tt.wantErr == nil:
				if err != nil {
					t.Errorf("Run error = %v, want nil", err)
				}
			default:
				if err == nil {
					t.Fatalf("Run error = nil, want one")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Run error = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == nil && errors.Is(err, ErrNotFound) {
					t.Errorf("Run error = %v: a command that exists is not 'not found'", err)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("Run error = %q, want it to contain %q", err, tt.errText)
				}
			}
		})
	}
	if _, err := Run(context.Background(), Options{}); err == nil {
		t.Error("Run with no argv succeeded")
	}
}

func TestRunDuration(t *testing.T) {
	needSh(t)
	r, err := Run(context.Background(), Options{Argv: []string{"sh", "-c", "sleep 0.2"}, Env: baseEnv()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Duration < 200*time.Millisecond || r.Duration > 10*time.Second {
		t.Errorf("Duration = %v, want about 200ms", r.Duration)
	}
}

func TestRunStreams(t *testing.T) {
	needSh(t)
	var out, errOut bytes.Buffer
	r, err := Run(context.Background(), Options{
		Argv:  []string{"sh", "-c", "read line; echo \"out:$line\"; echo \"err:$line\" >&2; cat"},
		Env:   baseEnv(),
		Stdin: strings.NewReader("first\nrest of\ninput"), Stdout: &out, Stderr: &errOut,
	})
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", r, err)
	}
	if got, want := out.String(), "out:first\nrest of\ninput"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := errOut.String(), "err:first\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

// TestRunEnvironment: the child sees exactly Env, nothing of jit's own
// environment.
func TestRunEnvironment(t *testing.T) {
	envBin, err := exec.LookPath("env")
	if err != nil {
		t.Skip("no env")
	}
	t.Setenv("JIT_SESSION_TEST_LEAK", "must-not-appear")
	want := BuildEnv(nil, []Var{{"PATH", "/usr/bin:/bin"}, {"JIT_TARGET", "prod"}, {"AWS_SECRET_ACCESS_KEY", "s3cr3t with spaces"}, {"EMPTY", ""}}, nil)
	var out bytes.Buffer
	if _, err := Run(context.Background(), Options{Argv: []string{envBin}, Env: want, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("child environment = %q, want exactly %q", got, want)
	}
}

// TestRunLooksUpInChildPATH: the command is found through the PATH the
// child gets, not jit's.
func TestRunLooksUpInChildPATH(t *testing.T) {
	needSh(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jit-test-tool"), []byte("#!/bin/sh\necho from-child-path\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A non-executable file earlier in PATH is skipped, as shells do.
	early := t.TempDir()
	if err := os.WriteFile(filepath.Join(early, "jit-test-tool"), []byte("#!/bin/sh\necho wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r, err := Run(context.Background(), Options{Argv: []string{"jit-test-tool"}, Env: []string{"PATH=" + early + ":" + dir + ":/usr/bin:/bin"}, Stdout: &out})
	if err != nil || r.ExitCode != 0 || out.String() != "from-child-path\n" {
		t.Errorf("Run = %+v, %v, stdout %q", r, err, out.String())
	}
	// Not in the child's PATH: not found, even though jit's PATH has sh.
	r, err = Run(context.Background(), Options{Argv: []string{"sh", "-c", "true"}, Env: []string{"PATH=" + dir}})
	if !errors.Is(err, ErrNotFound) || r.ExitCode != 127 {
		t.Errorf("Run of sh outside the child's PATH = %+v, %v; want 127 not found", r, err)
	}
}

func TestRunContextCancelTerminates(t *testing.T) {
	needSh(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	ready := make(chan struct{})
	out.onWrite = func(s string) {
		if strings.Contains(s, "ready") {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
	}
	done := make(chan struct{})
	var r Result
	var err error
	go func() {
		defer close(done)
		r, err = Run(ctx, Options{Argv: []string{"sh", "-c", `trap 'echo got-term; kill $! 2>/dev/null; exit 9' TERM; echo ready; sleep 5 >/dev/null 2>&1 & wait`}, Env: baseEnv(), Stdout: &out})
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("child never became ready")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if err != nil || r.ExitCode != 9 {
		t.Errorf("Run = %+v, %v; want exit 9 from the TERM trap", r, err)
	}
	if got := strings.Count(out.String(), "got-term"); got != 1 {
		t.Errorf("child saw TERM %d times, want once; output %q", got, out.String())
	}
}

type syncBuffer struct {
	mu      chan struct{}
	buf     bytes.Buffer
	onWrite func(string)
}

func (b *syncBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.lock()
	n, err := b.buf.Write(p)
	s := b.buf.String()
	<-b.mu
	if b.onWrite != nil {
		b.onWrite(s)
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

// TestHelperProcess is not a test: it is the jit process of the signal
// tests, re-executed from the test binary. It runs the command after "--"
// through Run, as jit elevate does, and prints how it ended.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("JIT_SESSION_HELPER")
	if mode == "" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	ctx := context.Background()
	if os.Getenv("JIT_SESSION_HELPER_MAIN") != "" {
		// As jitcmd.Main: the first Ctrl-C cancels what jit is doing, and
		// the command detaches the session from it.
		c, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx = context.WithoutCancel(c)
	}
	r, err := Run(ctx, Options{
		Argv: args, Env: baseEnv(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Interactive: mode == "interactive",
	})
	fmt.Printf("helper: exit=%d signal=%d err=%v\n", r.ExitCode, int(r.Signal), err)
	os.Exit(0)
}

// trapScript reports every INT and TERM it receives; after the first it
// waits half a second more, so that a second delivery shows, and exits with
// 9 if it got TERM, else 8. "ready" means the traps are in place.
const trapScript = `trap 'echo got-int; I=1' INT; trap 'echo got-term; T=1' TERM; echo ready; while [ -z "$T$I" ]; do sleep 0.05; done; sleep 0.5; [ -n "$T" ] && exit 9; exit 8`

// runHelper starts the helper with the given mode and sends it signals,
// each once the child is ready. It returns everything the helper printed.
func runHelper(t *testing.T, mode string, main bool, sigs ...syscall.Signal) string {
	t.Helper()
	needSh(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "--", "sh", "-c", trapScript)
	cmd.Env = append(os.Environ(), "JIT_SESSION_HELPER="+mode)
	if main {
		cmd.Env = append(cmd.Env, "JIT_SESSION_HELPER_MAIN=1")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out []string
	timeout := time.After(20 * time.Second)
	next := func() (string, bool) {
		select {
		case l, ok := <-lines:
			if ok {
				out = append(out, l)
			}
			return l, ok
		case <-timeout:
			_ = cmd.Process.Kill()
			t.Fatalf("helper timed out; output so far %q", out)
			return "", false
		}
	}
	for {
		l, ok := next()
		if !ok {
			t.Fatalf("helper ended before the child was ready: %q", out)
		}
		if l == "ready" {
			break
		}
	}
	for i, s := range sigs {
		if err := cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
		out = append(out, "sent "+s.String())
		if i == len(sigs)-1 {
			break
		}
		// Give the child time to act on this signal before the next, so
		// that its output shows which signal it reacted to.
		wait := time.After(500 * time.Millisecond)
	drain:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break drain
				}
				out = append(out, l)
			case <-wait:
				break drain
			}
		}
	}
	for {
		if _, ok := next(); !ok {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v; output %q", err, out)
	}
	return strings.Join(out, "\n")
}

func TestSignalForwarding(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	tests := []struct {
		name string
		mode string
		main bool
		sigs []syscall.Signal
		want []string
		not  []string
	}{
		{name: "SIGTERM forwarded", mode: "batch", sigs: []syscall.Signal{syscall.SIGTERM}, want: []string{"sent terminated", "got-term", "helper: exit=9 signal=0 err=<nil>"}, not: []string{"got-int"}},
		{name: "SIGINT forwarded when not interactive", mode: "batch", sigs: []syscall.Signal{syscall.SIGINT}, want: []string{"sent interrupt", "got-int", "helper: exit=8 signal=0 err=<nil>"}, not: []string{"got-term"}},
		{name: "SIGINT not forwarded when interactive, SIGTERM is", mode: "interactive", sigs: []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}, want: []string{"sent interrupt", "sent terminated", "got-term", "helper: exit=9 signal=0 err=<nil>"}, not: []string{"got-int"}},
		// As in jit elevate under Main, whose own signal context must not
		// add a second signal.
		{name: "under Main: SIGTERM delivered once", mode: "batch", main: true, sigs: []syscall.Signal{syscall.SIGTERM}, want: []string{"sent terminated", "got-term", "helper: exit=9 signal=0 err=<nil>"}, not: []string{"got-int"}},
		{name: "under Main: interactive SIGINT not delivered", mode: "interactive", main: true, sigs: []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}, want: []string{"sent interrupt", "sent terminated", "got-term", "helper: exit=9"}, not: []string{"got-int"}},
		{name: "SIGHUP forwarded, child killed by it", mode: "interactive", sigs: []syscall.Signal{syscall.SIGHUP}, want: []string{"helper: exit=" + strconv.Itoa(128+int(syscall.SIGHUP)) + " signal=1 err=<nil>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := runHelper(t, tt.mode, tt.main, tt.sigs...)
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("output lacks %q after the lines before it:\n%s", w, out)
					break
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
			if c := strings.Count(out, "got-term"); c > 1 {
				t.Errorf("child got TERM %d times:\n%s", c, out)
			}
		})
	}
}
