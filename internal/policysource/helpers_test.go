package policysource

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// isolateGit gives the test its own HOME and an empty global git config, and
// fixes author and committer, so that the machine's settings play no part.
func isolateGit(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	home := t.TempDir()
	cfg := filepath.Join(home, "gitconfig")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"HOME":                home,
		"XDG_CONFIG_HOME":     filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":      filepath.Join(home, ".cache"),
		"GIT_CONFIG_GLOBAL":   cfg,
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "Alice",
		"GIT_AUTHOR_EMAIL":    "alice@example.com",
		"GIT_COMMITTER_NAME":  "Alice",
		"GIT_COMMITTER_EMAIL": "alice@example.com",
		"GIT_TERMINAL_PROMPT": "0",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE", "GIT_SSH_COMMAND"} {
		unsetenv(t, k)
	}
	return home
}

// unsetenv unsets k for the duration of the test.
func unsetenv(t testing.TB, k string) {
	t.Helper()
	t.Setenv(k, "") // registers restoration of the old value
	os.Unsetenv(k)
}

// git runs git in dir and returns its trimmed stdout; failure ends the test.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func gitErr(dir string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), errors.New(strings.TrimSpace(stderr.String()) + ": " + err.Error())
	}
	return strings.TrimSpace(stdout.String()), nil
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newRepo makes a non-bare repository on branch main with jit.yaml = content
// committed, and returns its path.
func newRepo(t testing.TB, content string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "access")
	git(t, "", "init", "-q", "-b", "main", dir)
	writeFile(t, filepath.Join(dir, "jit.yaml"), content)
	git(t, dir, "add", "jit.yaml")
	git(t, dir, "commit", "-q", "-m", "policy")
	return dir
}

// commitFile commits path=content on the current branch and returns the commit.
func commitFile(t testing.TB, dir, path, content string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, path), content)
	git(t, dir, "add", path)
	git(t, dir, "commit", "-q", "-m", "update "+path)
	return git(t, dir, "rev-parse", "HEAD")
}

func wantKind(t *testing.T, err error, kind Kind) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q (%T) is not %v", err, err, kind)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %q is not a *Error", err)
	}
	if strings.Contains(pe.Error(), "\n") {
		t.Errorf("error message has more than one line: %q", pe.Error())
	}
	return pe
}
