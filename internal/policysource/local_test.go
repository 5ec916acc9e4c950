package policysource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadLocalIgnoresUncommittedChanges(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "version: 1 # v1\n")
	v1 := git(t, repo, "rev-parse", "HEAD")

	// Staged change, then a different unstaged change on top, then an
	// untracked file: none of them is committed.
	writeFile(t, filepath.Join(repo, "jit.yaml"), "version: 1 # staged\n")
	git(t, repo, "add", "jit.yaml")
	writeFile(t, filepath.Join(repo, "jit.yaml"), "version: 1 # working tree\n")
	writeFile(t, filepath.Join(repo, "untracked.yaml"), "version: 1 # untracked\n")

	g := &Git{Repo: repo}
	snap, err := g.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(snap.Data); got != "version: 1 # v1\n" {
		t.Errorf("Data = %q, want the committed v1", got)
	}
	if snap.Commit != v1 {
		t.Errorf("Commit = %s, want %s", snap.Commit, v1)
	}
	if snap.Repo != repo || snap.Ref != "main" || snap.File != "jit.yaml" || snap.IsWorkingFile() || snap.Stale {
		t.Errorf("snapshot = %+v", snap)
	}
	if snap.CommitTime.IsZero() || snap.FetchedAt.IsZero() {
		t.Errorf("times not set: %+v", snap)
	}

	// An untracked policy file is not in any commit.
	g.File = "untracked.yaml"
	_, err = g.Load(context.Background())
	wantKind(t, err, NotFound)
}

func TestLoadLocalRefs(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "main v1\n")
	v1 := git(t, repo, "rev-parse", "HEAD")
	git(t, repo, "tag", "light")
	git(t, repo, "tag", "-a", "-m", "annotated", "release-1")
	git(t, repo, "checkout", "-q", "-b", "other")
	other := commitFile(t, repo, "jit.yaml", "other branch\n")
	git(t, repo, "update-ref", "refs/remotes/origin/main", v1)
	git(t, repo, "checkout", "-q", "main")
	v2 := commitFile(t, repo, "jit.yaml", "main v2\n")
	// What is checked out must not matter.
	git(t, repo, "checkout", "-q", "other")

	tests := []struct {
		ref, want, commit string
	}{
		{"", "main v2\n", v2},
		{"main", "main v2\n", v2},
		{"refs/heads/main", "main v2\n", v2},
		{"other", "other branch\n", other},
		{"light", "main v1\n", v1},
		{"release-1", "main v1\n", v1},
		{"refs/tags/release-1", "main v1\n", v1},
		{v1, "main v1\n", v1},
		{strings.ToUpper(v1), "main v1\n", v1},
		{v1[:9], "main v1\n", v1},
		{"origin/main", "main v1\n", v1},
		{"main~1", "main v1\n", v1},
		{"HEAD", "other branch\n", other},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			snap, err := (&Git{Repo: repo, Ref: tt.ref}).Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if string(snap.Data) != tt.want || snap.Commit != tt.commit {
				t.Errorf("got %q at %s, want %q at %s", snap.Data, snap.Commit, tt.want, tt.commit)
			}
		})
	}
}

func TestLoadLocalRepositoryKinds(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "policy\n")
	commit := git(t, repo, "rev-parse", "HEAD")
	tmp := t.TempDir()

	bare := filepath.Join(tmp, "bare.git")
	git(t, "", "clone", "-q", "--bare", repo, bare)
	wt := filepath.Join(tmp, "worktree")
	git(t, repo, "worktree", "add", "-q", "-b", "wt", wt)
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(repo, link); err != nil {
		t.Fatal(err)
	}
	home := os.Getenv("HOME")
	inHome := filepath.Join(home, "policy-repo")
	git(t, "", "clone", "-q", repo, inHome)

	for name, path := range map[string]string{
		"bare": bare, "worktree": wt, "symlink": link, "tilde": "~/policy-repo", "dotgit": filepath.Join(repo, ".git"),
	} {
		t.Run(name, func(t *testing.T) {
			ref := "main"
			snap, err := (&Git{Repo: path, Ref: ref}).Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if string(snap.Data) != "policy\n" || snap.Commit != commit {
				t.Errorf("got %q at %s", snap.Data, snap.Commit)
			}
		})
	}
}

func TestLoadLocalErrors(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "policy\n")
	commit := git(t, repo, "rev-parse", "HEAD")
	// A tag and a branch of the same name on different commits.
	git(t, repo, "tag", "dup")
	commitFile(t, repo, "jit.yaml", "policy 2\n")
	git(t, repo, "branch", "dup")
	if err := os.MkdirAll(filepath.Join(repo, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	commitFile(t, repo, "dir/x.yaml", "x\n")
	if err := os.Symlink("/etc/passwd", filepath.Join(repo, "escape.yaml")); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", "escape.yaml")
	git(t, repo, "commit", "-q", "-m", "symlink")
	last := git(t, repo, "rev-parse", "HEAD")

	empty := filepath.Join(t.TempDir(), "empty")
	git(t, "", "init", "-q", "-b", "main", empty)
	plain := t.TempDir()
	// A plain directory inside a repository must not be read as that repository.
	inside := filepath.Join(repo, "dir")
	nowhere := filepath.Join(t.TempDir(), "missing")
	notDir := filepath.Join(repo, "jit.yaml")

	tests := []struct {
		name     string
		g        Git
		kind     Kind
		contains []string
	}{
		{"missing ref", Git{Repo: repo, Ref: "release"}, NotFound,
			[]string{"policy ref release not found in " + repo, "set policy.ref", "main"}},
		{"missing commit id", Git{Repo: repo, Ref: strings.Repeat("ab", 20)}, NotFound, []string{"policy ref " + strings.Repeat("ab", 20) + " not found"}},
		{"ambiguous ref", Git{Repo: repo, Ref: "dup"}, Invalid,
			[]string{"policy ref dup is ambiguous", "refs/tags/dup", "refs/heads/dup", "refs/heads/dup or a full commit id"}},
		{"missing file", Git{Repo: repo, File: "nope.yaml"}, NotFound,
			[]string{"policy file nope.yaml not found at commit " + last[:7] + " of " + repo + " (ref main)", "set policy.file"}},
		{"missing file at old commit", Git{Repo: repo, Ref: commit, File: "dir/x.yaml"}, NotFound,
			[]string{"policy file dir/x.yaml not found at commit " + commit[:7]}},
		{"directory", Git{Repo: repo, File: "dir"}, Invalid, []string{"policy file dir is a directory"}},
		{"symlink out of tree", Git{Repo: repo, File: "escape.yaml"}, Invalid, []string{"symbolic link pointing outside"}},
		{"empty repository", Git{Repo: empty}, NotFound, []string{"policy repository " + empty + " has no commits", "commit the policy"}},
		{"not a repository", Git{Repo: plain}, Invalid, []string{"policy repository " + plain + " is not a git repository", "set policy.repo"}},
		{"directory inside a repository", Git{Repo: inside}, Invalid, []string{"is not a git repository"}},
		{"missing path", Git{Repo: nowhere}, NotFound, []string{"policy repository " + nowhere + " does not exist", "set policy.repo"}},
		{"file as repository", Git{Repo: notDir}, Invalid, []string{"is not a directory"}},
		{"no repo", Git{}, Invalid, []string{"policy.repo is not set"}},
		{"index ref", Git{Repo: repo, Ref: ":jit.yaml"}, Invalid, []string{`policy.ref ":jit.yaml" is not usable`}},
		{"option ref", Git{Repo: repo, Ref: "--output=x"}, Invalid, []string{"starts with '-'"}},
		{"file outside", Git{Repo: repo, File: "../jit.yaml"}, Invalid, []string{"outside the repository"}},
		{"absolute file", Git{Repo: repo, File: "/etc/passwd"}, Invalid, []string{"is absolute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.g.Load(context.Background())
			pe := wantKind(t, err, tt.kind)
			t.Log(pe.Error())
			for _, s := range tt.contains {
				if !strings.Contains(pe.Error(), s) {
					t.Errorf("error %q does not contain %q", pe.Error(), s)
				}
			}
		})
	}
}

func TestLoadLocalFileVariants(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "root\n")
	commitFile(t, repo, "policies/jit.yaml", "nested\n")
	if err := os.Symlink("policies/jit.yaml", filepath.Join(repo, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", "link.yaml")
	git(t, repo, "commit", "-q", "-m", "link")
	for file, want := range map[string]string{
		"policies/jit.yaml":    "nested\n",
		"./policies/jit.yaml":  "nested\n",
		"policies//jit.yaml":   "nested\n",
		"link.yaml":            "nested\n", // in-tree symlinks are followed
		"policies/../jit.yaml": "root\n",
	} {
		snap, err := (&Git{Repo: repo, File: file}).Load(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if string(snap.Data) != want {
			t.Errorf("%s: got %q, want %q", file, snap.Data, want)
		}
	}
}

// The environment of the calling process and the repository's own
// configuration must not change what is read or run programs.
func TestLoadLocalHardening(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "real\n")
	real := git(t, repo, "rev-parse", "HEAD")
	decoy := newRepo(t, "decoy\n")
	decoyCommit := git(t, decoy, "rev-parse", "HEAD")

	// refs/replace would substitute another commit for the real one.
	git(t, repo, "fetch", "-q", decoy, "main:refs/heads/decoy")
	git(t, repo, "replace", real, decoyCommit)
	if got := git(t, repo, "show", "main:jit.yaml"); got != "decoy" {
		t.Fatalf("replace ref not effective for plain git: %q", got)
	}
	// fsmonitor hook would run a program for commands that touch the index.
	marker := filepath.Join(t.TempDir(), "ran")
	hook := filepath.Join(t.TempDir(), "hook.sh")
	writeFile(t, hook, "#!/bin/sh\ntouch "+marker+"\n")
	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "config", "core.fsmonitor", hook)

	t.Setenv("GIT_DIR", filepath.Join(decoy, ".git"))
	t.Setenv("GIT_OBJECT_DIRECTORY", filepath.Join(decoy, ".git", "objects"))
	t.Setenv("GIT_INDEX_FILE", filepath.Join(decoy, ".git", "index"))
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "core.fsmonitor")
	t.Setenv("GIT_CONFIG_VALUE_0", hook)
	t.Setenv("GIT_REPLACE_REF_BASE", "refs/replace/")

	snap, err := (&Git{Repo: repo}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.Data) != "real\n" || snap.Commit != real {
		t.Errorf("got %q at %s, want the real commit %s", snap.Data, snap.Commit, real)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the repository's fsmonitor program ran")
	}
}

func TestReadAtLocal(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "policy\n")
	commitFile(t, repo, "jit_test.yaml", "cases v1\n")
	g := &Git{Repo: repo}
	snap, err := g.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	commitFile(t, repo, "jit_test.yaml", "cases v2\n")
	writeFile(t, filepath.Join(repo, "jit_test.yaml"), "cases dirty\n")

	data, err := g.ReadAt(context.Background(), snap.Commit, snap.Sibling("jit_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "cases v1\n" {
		t.Errorf("ReadAt = %q, want the file at the snapshot's commit", data)
	}
	_, err = g.ReadAt(context.Background(), snap.Commit, "missing.yaml")
	wantKind(t, err, NotFound)
	_, err = g.ReadAt(context.Background(), "main", "jit.yaml")
	wantKind(t, err, Invalid)
	_, err = g.ReadAt(context.Background(), strings.Repeat("0", 40), "jit.yaml")
	wantKind(t, err, NotFound)
}

func TestLoadCancelled(t *testing.T) {
	isolateGit(t)
	repo := newRepo(t, "policy\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Git{Repo: repo}).Load(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSnapshotSibling(t *testing.T) {
	tests := []struct {
		snap Snapshot
		want string
	}{
		{Snapshot{Commit: "c", File: "jit.yaml"}, "jit_test.yaml"},
		{Snapshot{Commit: "c", File: "policies/prod/jit.yaml"}, "policies/prod/jit_test.yaml"},
		{Snapshot{File: "/etc/jit/jit.yaml"}, "/etc/jit/jit_test.yaml"},
		{Snapshot{File: "jit.yaml"}, "jit_test.yaml"},
	}
	for _, tt := range tests {
		if got := tt.snap.Sibling("jit_test.yaml"); got != tt.want {
			t.Errorf("Sibling(%+v) = %q, want %q", tt.snap, got, tt.want)
		}
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "jit.yaml")
	writeFile(t, p, "working\n")
	writeFile(t, filepath.Join(dir, "jit_test.yaml"), "cases\n")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &File{Path: p, Now: func() time.Time { return now }}
	var src Source = f
	snap, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.Data) != "working\n" || !snap.IsWorkingFile() || snap.Commit != "" || snap.File != p || !snap.FetchedAt.Equal(now) {
		t.Errorf("snapshot = %+v", snap)
	}
	var rd Reader = f
	data, err := rd.ReadAt(context.Background(), "", snap.Sibling("jit_test.yaml"))
	if err != nil || string(data) != "cases\n" {
		t.Errorf("ReadAt = %q, %v", data, err)
	}
	_, err = rd.ReadAt(context.Background(), strings.Repeat("a", 40), "x")
	wantKind(t, err, Invalid)

	_, err = (&File{Path: filepath.Join(dir, "nope.yaml")}).Load(context.Background())
	pe := wantKind(t, err, NotFound)
	if !strings.Contains(pe.Error(), "nope.yaml does not exist") {
		t.Errorf("message %q", pe.Error())
	}
	_, err = (&File{Path: dir}).Load(context.Background())
	wantKind(t, err, Invalid)
}

func TestIsURL(t *testing.T) {
	tests := map[string]bool{
		"https://github.com/acme/access.git": true,
		"ssh://git@github.com/acme/access":   true,
		"git@github.com:acme/access.git":     true,
		"github.com:acme/access.git":         true,
		"file:///srv/git/access.git":         true,
		"git+ssh://host/x":                   true,
		"/srv/git/access.git":                false,
		"./access":                           false,
		"access":                             false,
		"~/src/access":                       false,
		"dir/with:colon":                     false,
		"C:/repos/access":                    false,
		`C:\repos\access`:                    false,
		"":                                   false,
		"://x":                               false,
		"a b://c":                            true, // scp-like: host "a b", as git reads it
	}
	for in, want := range tests {
		if got := IsURL(in); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestHumanAge(t *testing.T) {
	tests := map[time.Duration]string{
		-time.Second:                    "0s",
		45 * time.Second:                "45s",
		12*time.Minute + 30*time.Second: "12m",
		time.Hour:                       "1h",
		3*time.Hour + 20*time.Minute:    "3h20m",
		50 * time.Hour:                  "2d2h",
		72 * time.Hour:                  "3d",
	}
	for d, want := range tests {
		if got := humanAge(d); got != want {
			t.Errorf("humanAge(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestHardenEnv(t *testing.T) {
	in := []string{
		"PATH=/bin", "HOME=/h", "GIT_DIR=/x", "GIT_WORK_TREE=/x", "GIT_INDEX_FILE=/x", "GIT_OBJECT_DIRECTORY=/x",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=a", "GIT_CONFIG_VALUE_0=b", "GIT_CONFIG_PARAMETERS='a'='b'",
		"GIT_CONFIG=/x", "GIT_CONFIG_SYSTEM=/x", "GIT_CONFIG_GLOBAL=/mine", "GIT_SSH_COMMAND=ssh -i k",
		"GIT_TERMINAL_PROMPT=1", "GIT_EXEC_PATH=/evil", "LC_ALL=de_DE.UTF-8",
	}
	got := strings.Join(hardenEnv(in), "\n") + "\n"
	for _, keep := range []string{"PATH=/bin", "HOME=/h", "GIT_CONFIG_GLOBAL=/mine", "GIT_SSH_COMMAND=ssh -i k",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_NO_REPLACE_OBJECTS=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"} {
		if !strings.Contains(got, keep+"\n") {
			t.Errorf("hardened env lacks %s", keep)
		}
	}
	for _, drop := range []string{"GIT_DIR=", "GIT_WORK_TREE=", "GIT_INDEX_FILE=", "GIT_OBJECT_DIRECTORY=", "GIT_CONFIG_COUNT=",
		"GIT_CONFIG_KEY_0=", "GIT_CONFIG_VALUE_0=", "GIT_CONFIG_PARAMETERS=", "GIT_CONFIG=", "GIT_CONFIG_SYSTEM=",
		"GIT_TERMINAL_PROMPT=1", "GIT_EXEC_PATH=", "LC_ALL=de"} {
		if strings.Contains(got, drop) {
			t.Errorf("hardened env keeps %s", drop)
		}
	}
}

func TestLastErrorLine(t *testing.T) {
	tests := map[string]string{
		"":                                       "",
		"fatal: repository 'x' does not exist\n": "fatal: repository 'x' does not exist",
		"fatal: detected dubious ownership in repository at '/x'\nTo add an exception for this directory, call:\n\n\tgit config --global --add safe.directory /x\n": "fatal: detected dubious ownership in repository at '/x'",
		"warning: a\nsomething odd\n\n": "something odd",
		"ssh: connect to host 127.0.0.1 port 22: Connection refused\r\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n": "ssh: connect to host 127.0.0.1 port 22: Connection refused",
		"fatal: '/x' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure\n":                                                                          "fatal: '/x' does not appear to be a git repository",
	}
	for in, want := range tests {
		if got := lastErrorLine(in); got != want {
			t.Errorf("lastErrorLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkLoadLocal is a Load that misses the snapshot cache, as the first
// Load after a new commit does: git reads the commit and the entry is written
// (BenchmarkLoadLocalWarm is the hit).
func BenchmarkLoadLocal(b *testing.B) {
	isolateGit(b)
	repo := newRepo(b, strings.Repeat("# policy line\n", 200))
	cache := b.TempDir()
	g := &Git{Repo: repo, CacheDir: cache}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		entries, _ := filepath.Glob(filepath.Join(cache, "snapshots", "*.snap"))
		for _, e := range entries {
			if err := os.Remove(e); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := g.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
