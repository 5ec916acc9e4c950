// Package session runs the elevated subshell or command: it builds the
// child's environment from the grant (removing variables that would shadow
// the credentials), forwards signals, and passes the child's exit status
// through. Credentials reach the child through its environment only.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Var is one variable to set in the child's environment.
type Var struct{ Name, Value string }

// BuildEnv returns base with every name in unset removed and set applied
// (set wins over base), sorted for determinism.
func BuildEnv(base []string, set []Var, unset []string) []string {
	m := make(map[string]string, len(base)+len(set))
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		m[k] = v
	}
	for _, n := range unset {
		delete(m, n)
	}
	for _, s := range set {
		m[s.Name] = s.Value
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Options describe the child.
type Options struct {
	// Argv is the command and its arguments; Argv[0] is looked up in PATH.
	Argv []string
	Env  []string
	Dir  string

	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// Interactive means stdin is a terminal: the child is in the terminal's
	// foreground process group, so the terminal already delivers Ctrl-C,
	// Ctrl-\ and Ctrl-Z to it, and jit must not deliver them a second time
	// (a second SIGINT makes terraform abort instead of stopping gracefully).
	Interactive bool
}

// Result is how the child ended.
type Result struct {
	ExitCode int
	// Signal is set when the child was killed by a signal; ExitCode is then
	// 128 + the signal number, as shells report it.
	Signal   syscall.Signal
	Duration time.Duration
}

// ErrNotFound reports a command that is not in PATH.
var ErrNotFound = errors.New("command not found")

// Run starts the child, waits for it and returns its exit status. Signals
// sent to jit are forwarded to the child; jit itself keeps running until
// the child exits so that it can record the end of the session.
//
// Cancelling ctx ends the child with SIGTERM. A context that is cancelled
// by the same signals Run forwards (signal.NotifyContext) must be detached
// with context.WithoutCancel, or the child gets a second signal — which
// makes programs such as terraform abort instead of stopping gracefully,
// and defeats Interactive.
func Run(ctx context.Context, o Options) (Result, error) {
	if len(o.Argv) == 0 {
		return Result{}, errors.New("run: no command")
	}
	path, err := lookPath(o.Argv[0], o.Env)
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return Result{ExitCode: 127}, fmt.Errorf("run %s: %w", o.Argv[0], ErrNotFound)
	case err != nil:
		// Found but not runnable (not executable, a directory): the
		// shell's 126, not "not found".
		var xe *exec.Error
		if errors.As(err, &xe) {
			err = xe.Err
		}
		return Result{ExitCode: 126}, fmt.Errorf("run %s: %w", o.Argv[0], err)
	}
	cmd := &exec.Cmd{Path: path, Args: o.Argv, Env: o.Env, Dir: o.Dir, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}

	forward := forwardedSignals
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forward...)
	defer signal.Stop(sigs)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: 126}, fmt.Errorf("run %s: %w", o.Argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	ctxDone := ctx.Done()
	for {
		select {
		case s := <-sigs:
			if o.Interactive && (s == syscall.SIGINT || s == syscall.SIGQUIT) {
				continue // the terminal delivered it to the child already
			}
			_ = cmd.Process.Signal(s)
		case <-ctxDone:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			ctxDone = nil
		case err := <-done:
			return result(err, time.Since(start))
		}
	}
}

func result(err error, d time.Duration) (Result, error) {
	if err == nil {
		return Result{Duration: d}, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return Result{ExitCode: 1, Duration: d}, err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Result{ExitCode: 128 + int(ws.Signal()), Signal: ws.Signal(), Duration: d}, nil
	}
	return Result{ExitCode: ee.ExitCode(), Duration: d}, nil
}

// lookPath resolves name against the PATH of the child's environment, which
// is what the child's own shell would do.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range strings.Split(p, ":") {
				if dir == "" {
					dir = "."
				}
				c := dir + "/" + name
				if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return c, nil
				}
			}
			return "", exec.ErrNotFound
		}
	}
	return exec.LookPath(name)
}

// Shell returns the user's shell for a subshell: $SHELL, else /bin/sh.
func Shell(getenv func(string) string) string {
	if s := getenv("SHELL"); s != "" {
		return s
	}
	return "/bin/sh"
}
