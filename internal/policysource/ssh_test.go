package policysource

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeSSH puts an "ssh" on PATH that records its arguments and session and
// fails like an unreachable host.
func fakeSSH(t *testing.T, name string) (dir, argsFile, statFile string) {
	t.Helper()
	dir = t.TempDir()
	argsFile = filepath.Join(dir, name+".args")
	statFile = filepath.Join(dir, name+".stat")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\ncat /proc/$$/stat > " + statFile + " 2>/dev/null\necho 'ssh: connect to host example port 22: Connection refused' >&2\nexit 255\n"
	writeFile(t, filepath.Join(dir, name), script)
	if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, argsFile, statFile
}

// sessionOf reads the session id field of a /proc/PID/stat line.
func sessionOf(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(stat[i+1:]) // state ppid pgrp session ...
	if len(f) < 4 {
		return ""
	}
	return f[3]
}

func TestFetchNeverPrompts(t *testing.T) {
	isolateGit(t)
	bin, argsFile, statFile := fakeSSH(t, "ssh")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	url := "git@127.0.0.1:acme/access.git"
	load := func() error {
		_, err := (&Git{Repo: url, CacheDir: t.TempDir()}).Load(context.Background())
		return err
	}

	t.Run("default", func(t *testing.T) {
		err := load()
		pe := wantKind(t, err, Unreachable)
		if !strings.Contains(pe.Error(), "ssh: connect to host example port 22: Connection refused") {
			t.Errorf("error = %q", pe.Error())
		}
		args, _ := os.ReadFile(argsFile)
		if !strings.Contains(string(args), "-o BatchMode=yes") {
			t.Errorf("ssh args %q lack BatchMode", args)
		}
		if runtime.GOOS == "linux" {
			self, err1 := os.ReadFile("/proc/self/stat")
			child, err2 := os.ReadFile(statFile)
			if err1 != nil || err2 != nil || sessionOf(string(child)) == "" {
				t.Fatalf("cannot read sessions: %v, %v, %q", err1, err2, child)
			}
			if sessionOf(string(self)) == sessionOf(string(child)) {
				t.Errorf("ssh ran in jit's session %s; it could open the terminal", sessionOf(string(self)))
			}
		}
	})
	t.Run("user GIT_SSH_COMMAND", func(t *testing.T) {
		t.Setenv("GIT_SSH_COMMAND", "ssh -o User=mine")
		_ = load()
		args, _ := os.ReadFile(argsFile)
		if !strings.Contains(string(args), "-o User=mine") || strings.Contains(string(args), "BatchMode") {
			t.Errorf("ssh args %q: want the user's command unchanged", args)
		}
	})
	t.Run("user core.sshCommand", func(t *testing.T) {
		custom, customArgs, _ := fakeSSH(t, "customssh")
		git(t, "", "config", "--global", "core.sshCommand", filepath.Join(custom, "customssh"))
		defer git(t, "", "config", "--global", "--unset", "core.sshCommand")
		_ = load()
		if _, err := os.Stat(customArgs); err != nil {
			t.Errorf("the user's core.sshCommand did not run: %v", err)
		}
	})
}
