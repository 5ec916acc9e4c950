package policysource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// runner runs the git binary with an environment that a parent process or the
// repository cannot use to redirect what jit reads.
type runner struct {
	git string
	env []string
}

func newRunner(gitPath string) (*runner, error) {
	if gitPath == "" {
		gitPath = "git"
	}
	p, err := exec.LookPath(gitPath)
	if err != nil {
		return nil, &Error{Kind: Internal, Err: err,
			Msg: fmt.Sprintf("policy: git is required to read the policy repository: %v; install git or put it on PATH", err)}
	}
	return &runner{git: p, env: hardenEnv(os.Environ())}, nil
}

// hardenEnv drops the variables that would make git read another repository,
// index, object store or configuration than the one jit names, and forbids
// prompting. The user's global configuration (GIT_CONFIG_GLOBAL or
// ~/.gitconfig) is kept so that fetches use their credential helpers and ssh
// settings; the system configuration is not read.
func hardenEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+8)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if dropGitVar(k) {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_NO_REPLACE_OBJECTS=1",
		"GIT_TERMINAL_PROMPT=0",
		// jit classifies some failures by git's wording.
		"LC_ALL=C",
		"LANGUAGE=",
	)
}

func dropGitVar(k string) bool {
	switch k {
	case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_INDEX_VERSION",
		"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR",
		"GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
		"GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "GIT_REPLACE_REF_BASE", "GIT_NO_REPLACE_OBJECTS",
		"GIT_SHALLOW_FILE", "GIT_GRAFT_FILE", "GIT_QUARANTINE_PATH", "GIT_PREFIX",
		"GIT_TERMINAL_PROMPT", "GIT_ATTR_SOURCE", "GIT_DEFAULT_HASH", "GIT_REF_PARANOIA",
		"LC_ALL", "LANGUAGE":
		return true
	case "GIT_CONFIG_GLOBAL":
		return false
	}
	// GIT_CONFIG, GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT, GIT_CONFIG_KEY_n,
	// GIT_CONFIG_VALUE_n, GIT_CONFIG_SYSTEM, GIT_CONFIG_NOSYSTEM: injected
	// configuration, e.g. from a git alias or hook that runs jit.
	return strings.HasPrefix(k, "GIT_CONFIG")
}

// args prefixes git's global options: never consult fsmonitor, never let
// refs/replace substitute objects, and name the repository explicitly so that
// no discovery happens.
func (r *runner) args(gitDir string, args ...string) []string {
	full := make([]string, 0, len(args)+5)
	full = append(full, "-c", "core.fsmonitor=false", "--no-replace-objects")
	if gitDir != "" {
		full = append(full, "--git-dir="+gitDir)
	}
	return append(full, args...)
}

// run runs a short git command and returns its stdout; a failure becomes an
// error quoting git's last stderr line.
func (r *runner) run(ctx context.Context, dir, gitDir string, extraEnv []string, args ...string) ([]byte, error) {
	return r.runWith(ctx, dir, gitDir, extraEnv, nil, args...)
}

// runWith is run with a hook to adjust the command before it starts.
func (r *runner) runWith(ctx context.Context, dir, gitDir string, extraEnv []string, prepare func(*exec.Cmd), args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.git, r.args(gitDir, args...)...)
	cmd.Dir = dir
	cmd.Env = append(r.env[:len(r.env):len(r.env)], extraEnv...)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = 2 * time.Second
	if prepare != nil {
		prepare(cmd)
	}
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return stdout.Bytes(), &gitError{args: args, line: lastErrorLine(stderr.String()), err: err}
	}
	return stdout.Bytes(), nil
}

// gitError is a failed git command; its message is git's own last word.
type gitError struct {
	args []string
	line string
	err  error
}

func (e *gitError) Error() string {
	if e.line != "" {
		return e.line
	}
	return fmt.Sprintf("git %s: %v", strings.Join(e.args, " "), e.err)
}

func (e *gitError) Unwrap() error { return e.err }

// lastErrorLine picks the line of git's stderr that says what went wrong: the
// last "fatal:"/"error:" line, else the last non-empty line. git ends every
// failed fetch with the same "could not read from remote repository"; the
// line before it (ssh's or the transport's complaint) is the informative one.
func lastErrorLine(s string) string {
	const generic = "fatal: Could not read from remote repository."
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if l == generic {
			if i > 0 {
				return lines[i-1]
			}
			return l
		}
		if strings.HasPrefix(l, "fatal:") || strings.HasPrefix(l, "error:") {
			return l
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// catFile is one `git cat-file --batch --follow-symlinks` process: every
// object jit needs for a Load is read through it, because a git process per
// object would cost more than the whole rest of a jit run.
type catFile struct {
	ctx    context.Context
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer
	err    error
}

// object is one answer of cat-file. typ is the object type, or a status:
// "missing", "ambiguous", or for a path, "symlink" (pointing outside the
// tree, data is the target), "dangling", "loop", "notdir".
type object struct {
	oid  string
	typ  string
	data []byte
}

func (r *runner) catFile(ctx context.Context, dir, gitDir string) (*catFile, error) {
	cmd := exec.CommandContext(ctx, r.git, r.args(gitDir, "cat-file", "--batch", "--follow-symlinks")...)
	cmd.Dir = dir
	cmd.Env = r.env
	cmd.WaitDelay = 2 * time.Second
	c := &catFile{ctx: ctx, cmd: cmd, stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = c.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, &gitError{args: []string{"cat-file"}, err: err}
	}
	c.stdin, c.stdout = in, bufio.NewReaderSize(out, 64<<10)
	return c, nil
}

// query asks for several objects at once and reads the answers in order.
func (c *catFile) query(names ...string) ([]object, error) {
	if c.err != nil {
		return nil, c.err
	}
	var req bytes.Buffer
	for _, n := range names {
		if strings.ContainsAny(n, "\n\x00") {
			return nil, fmt.Errorf("object name %q contains a newline", n)
		}
		req.WriteString(n)
		req.WriteByte('\n')
	}
	if _, err := c.stdin.Write(req.Bytes()); err != nil {
		return nil, c.fail(err)
	}
	objs := make([]object, len(names))
	for i := range names {
		o, err := c.read()
		if err != nil {
			return nil, c.fail(err)
		}
		objs[i] = o
	}
	return objs, nil
}

func (c *catFile) read() (object, error) {
	line, err := c.stdout.ReadString('\n')
	if err != nil {
		return object{}, err
	}
	line = strings.TrimSuffix(line, "\n")
	switch {
	case strings.HasSuffix(line, " missing"):
		return object{typ: "missing"}, nil
	case strings.HasSuffix(line, " ambiguous"):
		return object{typ: "ambiguous"}, nil
	}
	f := strings.Fields(line)
	var o object
	var sizeField string
	switch len(f) {
	case 3:
		o.oid, o.typ, sizeField = f[0], f[1], f[2]
	case 2:
		o.typ, sizeField = f[0], f[1]
	default:
		return object{}, fmt.Errorf("unexpected cat-file output %q", truncate(line, 80))
	}
	size, err := strconv.ParseInt(sizeField, 10, 64)
	if err != nil || size < 0 {
		return object{}, fmt.Errorf("unexpected cat-file output %q", truncate(line, 80))
	}
	if size > maxPolicySize {
		return object{}, fmt.Errorf("object %s is larger than %d bytes", o.oid, maxPolicySize)
	}
	o.data = make([]byte, size+1)
	if _, err := io.ReadFull(c.stdout, o.data); err != nil {
		return object{}, err
	}
	if o.data[size] != '\n' {
		return object{}, errors.New("unexpected cat-file output: object not followed by a newline")
	}
	o.data = o.data[:size]
	return o, nil
}

// fail stops the process and explains the failure with git's stderr.
func (c *catFile) fail(err error) error {
	_ = c.stdin.Close()
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	if ctxErr := c.ctx.Err(); ctxErr != nil {
		c.err = ctxErr
		return ctxErr
	}
	c.err = &gitError{args: []string{"cat-file", "--batch"}, line: lastErrorLine(c.stderr.String()), err: err}
	return c.err
}

// close ends the process; it is safe to call more than once.
func (c *catFile) close() {
	if c.err != nil {
		return
	}
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
	c.err = errors.New("cat-file closed")
}
