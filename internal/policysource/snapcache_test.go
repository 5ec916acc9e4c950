package policysource

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// gitCounter is a git wrapper script that logs each invocation's arguments
// before running the real git, so that a test can see whether and how git ran.
type gitCounter struct {
	path string // the wrapper, for Git.GitPath
	log  string
}

func newGitCounter(t testing.TB) *gitCounter {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the git wrapper is a shell script")
	}
	real, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	c := &gitCounter{path: filepath.Join(dir, "git"), log: filepath.Join(dir, "calls")}
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + c.log + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(c.path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// calls returns the argument lines of every git run so far.
func (c *gitCounter) calls(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(c.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func (c *gitCounter) count(t testing.TB) int { return len(c.calls(t)) }

// loadCounting loads and reports how many git processes the Load ran.
func loadCounting(t *testing.T, c *gitCounter, g *Git) (*Snapshot, error, int) {
	t.Helper()
	before := c.count(t)
	snap, err := g.Load(context.Background())
	return snap, err, c.count(t) - before
}

func snapshotFiles(t *testing.T, cache string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(cache, "snapshots", "*.snap"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSnapshotCacheRunsNoGitWhenWarm(t *testing.T) {
	isolateGit(t)
	gc := newGitCounter(t)
	repo := newRepo(t, "version: 1 # v1\n")
	v1 := git(t, repo, "rev-parse", "HEAD")
	cache := filepath.Join(t.TempDir(), "cache")
	g := &Git{Repo: repo, CacheDir: cache, GitPath: gc.path}

	cold, err, n := loadCounting(t, gc, g)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the first Load ran no git: there was nothing to read from")
	}
	warm, err, n := loadCounting(t, gc, g)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the second Load of the same commit ran git %d times: %q", n, gc.calls(t))
	}
	if warm.Commit != v1 || string(warm.Data) != "version: 1 # v1\n" || warm.Repo != repo || warm.Ref != "main" || warm.File != "jit.yaml" {
		t.Errorf("warm snapshot = %+v", warm)
	}
	if !warm.CommitTime.Equal(cold.CommitTime) || warm.CommitTime.Location().String() != cold.CommitTime.Location().String() || warm.FetchedAt.IsZero() {
		t.Errorf("times: warm %v/%v, cold %v", warm.CommitTime, warm.FetchedAt, cold.CommitTime)
	}

	files := snapshotFiles(t, cache)
	if len(files) != 1 {
		t.Fatalf("snapshot files = %v, want one", files)
	}
	if st, err := os.Stat(files[0]); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("entry mode: %v, %v; want 0600", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Dir(files[0])); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("snapshots dir mode: %v, %v; want 0700", st.Mode(), err)
	}

	// (g) Uncommitted changes, staged or not, still play no part, warm or cold.
	writeFile(t, filepath.Join(repo, "jit.yaml"), "version: 1 # staged\n")
	git(t, repo, "add", "jit.yaml")
	writeFile(t, filepath.Join(repo, "jit.yaml"), "version: 1 # working tree\n")
	for _, cacheDir := range []string{cache, filepath.Join(t.TempDir(), "fresh")} {
		g2 := *g
		g2.CacheDir = cacheDir
		snap, err := g2.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if string(snap.Data) != "version: 1 # v1\n" || snap.Commit != v1 {
			t.Errorf("with uncommitted changes (cache %s): %q at %s", cacheDir, snap.Data, snap.Commit)
		}
	}
}

// (b) The ref is read on every Load: a new commit is seen at once.
func TestSnapshotCacheSeesNewCommits(t *testing.T) {
	isolateGit(t)
	gc := newGitCounter(t)
	repo := newRepo(t, "v1\n")
	g := &Git{Repo: repo, CacheDir: t.TempDir(), GitPath: gc.path}
	if _, err := g.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, content := range []string{"v2\n", "v3\n"} {
		c := commitFile(t, repo, "jit.yaml", content)
		if i == 1 {
			git(t, repo, "pack-refs", "--all")
		}
		snap, err, n := loadCounting(t, gc, g)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Commit != c || string(snap.Data) != content {
			t.Errorf("after commit %s: got %q at %s", c, snap.Data, snap.Commit)
		}
		if n == 0 {
			t.Errorf("a new commit was served without git")
		}
		if _, err, n := loadCounting(t, gc, g); err != nil || n != 0 {
			t.Errorf("second Load of %s: %v, %d git runs", content, err, n)
		}
	}
	// Moving the branch back to a commit already cached needs no git.
	first := git(t, repo, "rev-list", "--max-parents=0", "HEAD")
	git(t, repo, "update-ref", "refs/heads/main", first)
	snap, err, n := loadCounting(t, gc, g)
	if err != nil || snap.Commit != first || string(snap.Data) != "v1\n" || n != 0 {
		t.Errorf("branch moved back: %v, %+v, %d git runs", err, snap, n)
	}
}

// (c), (d) Refs read in-process agree with git, in loose and packed form,
// and whatever the in-process reader declines still works through git.
func TestSnapshotCacheRefs(t *testing.T) {
	isolateGit(t)
	gc := newGitCounter(t)
	repo := newRepo(t, "v1\n")
	v1 := git(t, repo, "rev-parse", "HEAD")
	git(t, repo, "tag", "light")
	git(t, repo, "tag", "-a", "-m", "annotated", "release-1")
	git(t, repo, "tag", "dup") // ambiguous with the branch dup below
	git(t, repo, "update-ref", "refs/remotes/origin/main", v1)
	git(t, repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	v2 := commitFile(t, repo, "jit.yaml", "v2\n")
	git(t, repo, "branch", "dup")
	git(t, repo, "branch", v1) // a branch named like a commit id
	gitDir := filepath.Join(repo, ".git")

	tests := []struct {
		ref    string
		commit string // "" for an ambiguous ref
		// inProcess: warm Loads run no git. Otherwise every Load asks git.
		inProcess, inProcessPacked bool
	}{
		{ref: "main", commit: v2, inProcess: true, inProcessPacked: true},
		{ref: "refs/heads/main", commit: v2, inProcess: true, inProcessPacked: true},
		{ref: "light", commit: v1, inProcess: true, inProcessPacked: true},
		{ref: "refs/tags/light", commit: v1, inProcess: true, inProcessPacked: true},
		// A loose annotated tag names the tag object, whose entry holds the
		// tag; packed-refs records the commit it peels to.
		{ref: "release-1", commit: v1, inProcess: true, inProcessPacked: true},
		{ref: "refs/tags/release-1", commit: v1, inProcess: true, inProcessPacked: true},
		{ref: "origin/main", commit: v1, inProcess: true, inProcessPacked: true},
		// origin is refs/remotes/origin/HEAD, a symbolic ref; pack-refs keeps
		// symbolic refs loose.
		{ref: "origin", commit: v1, inProcess: true, inProcessPacked: true},
		{ref: v2, commit: v2, inProcess: true, inProcessPacked: true},
		{ref: strings.ToUpper(v2), commit: v2, inProcess: true, inProcessPacked: true},
		{ref: v2[:10], commit: v2},
		{ref: "main~1", commit: v1},
		{ref: "HEAD", commit: v2},
		{ref: "dup"},
		{ref: v1},
	}
	for _, packed := range []bool{false, true} {
		if packed {
			git(t, repo, "pack-refs", "--all")
			if _, err := os.Stat(filepath.Join(gitDir, "refs", "heads", "main")); err == nil {
				t.Fatal("pack-refs left refs/heads/main loose")
			}
		}
		name := map[bool]string{false: "loose", true: "packed"}[packed]
		for _, tt := range tests {
			t.Run(name+"/"+tt.ref, func(t *testing.T) {
				g := &Git{Repo: repo, Ref: tt.ref, CacheDir: t.TempDir(), GitPath: gc.path}
				for i := range 2 {
					snap, err, n := loadCounting(t, gc, g)
					if tt.commit == "" {
						pe := wantKind(t, err, Invalid)
						if !strings.Contains(pe.Error(), "is ambiguous") {
							t.Errorf("error = %q", pe.Error())
						}
						if n == 0 {
							t.Error("an ambiguous ref was refused without asking git")
						}
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					if snap.Commit != tt.commit {
						t.Errorf("load %d: commit %s, want %s", i, snap.Commit, tt.commit)
					}
					inProcess := tt.inProcess
					if packed {
						inProcess = tt.inProcessPacked
					}
					if i == 1 && inProcess != (n == 0) {
						t.Errorf("warm Load ran git %d times (%q); want in-process %v", n, gc.calls(t)[len(gc.calls(t))-n:], inProcess)
					}
				}
				// The in-process reader either agrees with git or declines.
				rs, ok := openRefStore(gitDir)
				if !ok {
					t.Fatal("openRefStore declined a plain repository")
				}
				if oid, ok := rs.resolve(tt.ref); ok {
					want := tt.commit
					if !packed && strings.Contains(tt.ref, "release-1") {
						want = git(t, repo, "rev-parse", "refs/tags/release-1")
					}
					if tt.commit == "" || oid != want {
						t.Errorf("resolve(%q) = %s, want %q", tt.ref, oid, want)
					}
				}
			})
		}
	}

	// The ambiguity stays refused when both commits are cached.
	cache := t.TempDir()
	for _, ref := range []string{"refs/heads/dup", "refs/tags/dup"} {
		if _, err := (&Git{Repo: repo, Ref: ref, CacheDir: cache}).Load(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := (&Git{Repo: repo, Ref: "dup", CacheDir: cache}).Load(context.Background())
	wantKind(t, err, Invalid)
}

// (e) An entry that does not prove itself is ignored and rewritten.
func TestSnapshotCacheTamperedEntry(t *testing.T) {
	isolateGit(t)
	gc := newGitCounter(t)
	repo := newRepo(t, "version: 1\nrules: [allow-alice]\n")
	commitFile(t, repo, "policies/prod/jit.yaml", "version: 1\nrules: [prod]\n")
	commit := git(t, repo, "rev-parse", "HEAD")
	otherCommit := git(t, repo, "rev-parse", "HEAD~1")
	git(t, repo, "tag", "-a", "-m", "release", "release")
	git(t, repo, "tag", "-a", "-m", "signed-off release", "outer", "release")

	edit := func(f func(e *snapshotEntry)) func([]byte) []byte {
		return func(raw []byte) []byte {
			e, err := decodeSnapshot(raw)
			if err != nil {
				t.Fatal(err)
			}
			f(e)
			return e.encode()
		}
	}
	tests := []struct {
		name   string
		file   string
		tamper func(raw []byte) []byte
	}{
		{"bytes edited in the file", "jit.yaml", func(raw []byte) []byte {
			return edit(func(e *snapshotEntry) { e.Data = bytes.Replace(e.Data, []byte("alice"), []byte("mallo"), 1) })(raw)
		}},
		{"bytes and blob id edited", "jit.yaml", edit(func(e *snapshotEntry) {
			e.Data = []byte("version: 1\nrules: [allow-everyone]\n")
			e.BlobID = objectID("blob", e.Data, false)
		})},
		{"bytes, blob id and tree edited", "jit.yaml", edit(func(e *snapshotEntry) {
			old := e.BlobID
			e.Data = []byte("version: 1\nrules: [allow-everyone]\n")
			e.BlobID = objectID("blob", e.Data, false)
			oldBin, newBin := hexBytes(t, old), hexBytes(t, e.BlobID)
			e.Trees[0] = bytes.Replace(e.Trees[0], oldBin, newBin, 1)
		})},
		{"nested tree swapped", "policies/prod/jit.yaml", edit(func(e *snapshotEntry) { e.Trees[1], e.Trees[2] = e.Trees[2], e.Trees[1] })},
		{"tree missing", "policies/prod/jit.yaml", edit(func(e *snapshotEntry) { e.Trees = e.Trees[:2] })},
		{"commit object edited", "jit.yaml", edit(func(e *snapshotEntry) {
			e.CommitObject = bytes.Replace(e.CommitObject, []byte("Alice"), []byte("Mallory"), 1)
		})},
		{"entry of another commit", "jit.yaml", edit(func(e *snapshotEntry) { e.Commit = otherCommit })},
		{"entry of another file", "jit.yaml", edit(func(e *snapshotEntry) { e.File = "other.yaml" })},
		{"truncated", "jit.yaml", func(raw []byte) []byte { return raw[:len(raw)/2] }},
		{"empty", "jit.yaml", func([]byte) []byte { return nil }},
		{"garbage", "jit.yaml", func([]byte) []byte { return []byte("\x00\x01garbage") }},
		{"tag edited", "jit.yaml@release", edit(func(e *snapshotEntry) {
			e.Tags[0] = bytes.Replace(e.Tags[0], []byte("release"), []byte("relaxed"), 1)
		})},
		{"tag dropped", "jit.yaml@release", edit(func(e *snapshotEntry) { e.Tags = nil })},
		{"tag of a tag dropped", "jit.yaml@outer", edit(func(e *snapshotEntry) { e.Tags = e.Tags[:1] })},
		{"tag of a tag swapped", "jit.yaml@outer", edit(func(e *snapshotEntry) { e.Tags[0], e.Tags[1] = e.Tags[1], e.Tags[0] })},
		{"tag in place of the target", "jit.yaml@release", edit(func(e *snapshotEntry) { e.Target = e.Commit })},
		{"future format", "jit.yaml", func(raw []byte) []byte {
			return bytes.Replace(raw, []byte(snapshotMagic), []byte("jit policy snapshot 2\n"), 1)
		}},
		{"trailing bytes", "jit.yaml", func(raw []byte) []byte { return append(raw, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			file, ref, _ := strings.Cut(tt.file, "@")
			g := &Git{Repo: repo, File: file, Ref: ref, CacheDir: cache, GitPath: gc.path}
			want, err := g.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			files := snapshotFiles(t, cache)
			if len(files) != 1 {
				t.Fatalf("snapshot files = %v", files)
			}
			raw, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			tampered := tt.tamper(raw)
			if bytes.Equal(tampered, raw) {
				t.Fatal("the tampering changed nothing")
			}
			if err := os.WriteFile(files[0], tampered, 0o600); err != nil {
				t.Fatal(err)
			}

			snap, err, n := loadCounting(t, gc, g)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Error("a tampered entry was used: no git ran")
			}
			if ref != "" {
				if tags := len(e0(t, cache).Tags); tags != map[string]int{"release": 1, "outer": 2}[ref] {
					t.Errorf("rewritten entry has %d tags", tags)
				}
			}
			if snap.Commit != commit || !bytes.Equal(snap.Data, want.Data) {
				t.Errorf("got %q at %s, want %q at %s", snap.Data, snap.Commit, want.Data, commit)
			}
			// The git path rewrote the entry: the next Load is warm again.
			if snap, err, n := loadCounting(t, gc, g); err != nil || n != 0 || !bytes.Equal(snap.Data, want.Data) {
				t.Errorf("after rewrite: %v, %d git runs, %q", err, n, snap.Data)
			}
		})
	}
}

// e0 decodes the one entry in cache.
func e0(t *testing.T, cache string) *snapshotEntry {
	t.Helper()
	files := snapshotFiles(t, cache)
	if len(files) != 1 {
		t.Fatalf("snapshot files = %v", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeSnapshot(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range []byte(s[2*i : 2*i+2]) {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= c - '0'
			case c >= 'a' && c <= 'f':
				v |= c - 'a' + 10
			default:
				t.Fatalf("not hex: %q", s)
			}
		}
		b[i] = v
	}
	return b
}

// (f) Repositories the in-process reader declines still load through git.
func TestSnapshotCacheRepositoryKinds(t *testing.T) {
	isolateGit(t)
	gc := newGitCounter(t)
	repo := newRepo(t, "policy\n")
	commit := git(t, repo, "rev-parse", "HEAD")
	tmp := t.TempDir()
	bare := filepath.Join(tmp, "bare.git")
	git(t, "", "clone", "-q", "--bare", repo, bare)
	wt := filepath.Join(tmp, "worktree")
	git(t, repo, "worktree", "add", "-q", "-b", "wt", wt)
	sep := filepath.Join(tmp, "separate")
	git(t, "", "clone", "-q", "--separate-git-dir", filepath.Join(tmp, "separate.git"), repo, sep)
	withExt := filepath.Join(tmp, "ext")
	git(t, "", "clone", "-q", repo, withExt)
	git(t, withExt, "config", "extensions.worktreeConfig", "true")
	alt := filepath.Join(tmp, "alt")
	git(t, "", "clone", "-q", "--shared", repo, alt)

	tests := []struct {
		name, path string
		inProcess  bool
	}{
		{"non-bare", repo, true},
		{"bare", bare, true},
		{"dot git", filepath.Join(repo, ".git"), true},
		{"worktree (gitdir: file)", wt, false},
		{"separate git dir (gitdir: file)", sep, false},
		{"repository extension", withExt, false},
		{"alternates", alt, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Git{Repo: tt.path, CacheDir: t.TempDir(), GitPath: gc.path}
			if tt.name == "worktree (gitdir: file)" {
				g.Ref = "wt"
			}
			for i := range 2 {
				snap, err, n := loadCounting(t, gc, g)
				if err != nil {
					t.Fatal(err)
				}
				if snap.Commit != commit || string(snap.Data) != "policy\n" {
					t.Errorf("got %q at %s", snap.Data, snap.Commit)
				}
				if i == 1 && tt.inProcess != (n == 0) {
					t.Errorf("warm Load ran git %d times; want in-process %v", n, tt.inProcess)
				}
			}
		})
	}
}

// (h) Signatures: an entry never stands in for a signature check.
func TestSnapshotCacheSigners(t *testing.T) {
	isolateGit(t)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	gc := newGitCounter(t)
	keys := t.TempDir()
	alice := newSSHKey(t, keys, "alice", "ed25519")
	bob := newSSHKey(t, keys, "bob", "ed25519")
	repo := newRepo(t, "unsigned\n")
	unsigned := git(t, repo, "rev-parse", "HEAD")
	signers := filepath.Join(keys, "allowed_signers")
	writeFile(t, signers, "alice@example.com "+alice.line+"\n")
	cache := t.TempDir()

	// Cached without signers, the unsigned commit does not satisfy a Load
	// that requires them.
	if _, err := (&Git{Repo: repo, CacheDir: cache, GitPath: gc.path}).Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	signed := &Git{Repo: repo, CacheDir: cache, GitPath: gc.path, AllowedSigners: signers}
	_, err, n := loadCounting(t, gc, signed)
	pe := wantKind(t, err, Unsigned)
	if pe.Commit != unsigned || n == 0 {
		t.Errorf("commit %s, %d git runs", pe.Commit, n)
	}
	// Even an entry placed under the signed key is checked again.
	unsignedKey := (&snapshotCache{repo: filepath.Join(repo, ".git")}).key(unsigned, "jit.yaml")
	signedKey := (&snapshotCache{repo: filepath.Join(repo, ".git"), signers: sha256Hex(t, signers)}).key(unsigned, "jit.yaml")
	raw, err := os.ReadFile(filepath.Join(cache, "snapshots", unsignedKey+".snap"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeSnapshot(raw)
	if err != nil {
		t.Fatal(err)
	}
	e.Key = signedKey
	writeFile(t, filepath.Join(cache, "snapshots", signedKey+".snap"), string(e.encode()))
	_, err, n = loadCounting(t, gc, signed)
	wantKind(t, err, Unsigned)
	if n == 0 {
		t.Error("the forged entry was not rejected by the signature check")
	}

	// A signed commit is cached and its signer reported from the cache.
	writeFile(t, filepath.Join(repo, "jit.yaml"), "signed\n")
	git(t, repo, "add", "jit.yaml")
	git(t, repo, "-c", "gpg.format=ssh", "-c", "user.signingkey="+alice.priv, "commit", "-q", "-S", "-m", "signed")
	signedCommit := git(t, repo, "rev-parse", "HEAD")
	cold, err := signed.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	warm, err, n := loadCounting(t, gc, signed)
	if err != nil || n != 0 {
		t.Fatalf("warm signed Load: %v, %d git runs", err, n)
	}
	if warm.Commit != signedCommit || warm.Signer != "alice@example.com" || warm.SignerKey != alice.fp || warm.Signer != cold.Signer || warm.SignerKey != cold.SignerKey {
		t.Errorf("warm %+v, cold %+v", warm, cold)
	}
	// Without signers the same commit is another entry, with no signer.
	snap, err, n := loadCounting(t, gc, &Git{Repo: repo, CacheDir: cache, GitPath: gc.path})
	if err != nil || n == 0 || snap.Signer != "" || snap.SignerKey != "" {
		t.Errorf("unsigned Load of the signed commit: %v, %d git runs, signer %q", err, n, snap.Signer)
	}
	// A trust root that no longer lists the key refuses the cached commit.
	writeFile(t, signers, "bob@example.com "+bob.line+"\n")
	_, err = signed.Load(context.Background())
	wantKind(t, err, Untrusted)
}

func sha256Hex(t *testing.T, p string) string {
	t.Helper()
	g := &Git{AllowedSigners: p}
	tr, err := g.loadSigners()
	if err != nil {
		t.Fatal(err)
	}
	return tr.sum
}

// After a fetch, a mirror is read in-process; a commit id it already holds
// needs neither the network nor git.
func TestSnapshotCacheRemote(t *testing.T) {
	isolateGit(t)
	gc := newGitCounter(t)
	f := newRemote(t, "v1\n")
	cache := filepath.Join(t.TempDir(), "cache")
	g := &Git{Repo: f.url, CacheDir: cache, GitPath: gc.path}
	first, err := g.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	before := gc.count(t)
	snap, err := g.Load(context.Background())
	if err != nil || snap.Commit != first.Commit || snap.Repo != f.url {
		t.Fatalf("second Load: %v, %+v", err, snap)
	}
	calls := gc.calls(t)[before:]
	if len(calls) != 1 || !strings.Contains(calls[0], " fetch ") {
		t.Errorf("second Load ran %q, want the fetch alone", calls)
	}
	v2 := f.push(t, "v2\n")
	if snap, err := g.Load(context.Background()); err != nil || snap.Commit != v2 || string(snap.Data) != "v2\n" {
		t.Errorf("after push: %v, %+v", err, snap)
	}
	byID := &Git{Repo: f.url, CacheDir: cache, GitPath: gc.path, Ref: v2}
	if snap, err, n := loadCounting(t, gc, byID); err != nil || n != 0 || string(snap.Data) != "v2\n" || snap.FetchedAt.IsZero() {
		t.Errorf("commit id held by the mirror: %v, %d git runs, %+v", err, n, snap)
	}
}

func TestSnapshotCachePrune(t *testing.T) {
	dir := t.TempDir()
	c := &snapshotCache{dir: dir}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxSnapshots + 1 {
		p := filepath.Join(dir, fmt.Sprintf("%04d.snap", i))
		writeFile(t, p, "{}")
		// Entry i is i minutes old: the highest numbers are the oldest.
		if err := os.Chtimes(p, base, base.Add(-time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "unrelated"), "x")
	c.prune()
	m, _ := filepath.Glob(filepath.Join(dir, "*.snap"))
	if len(m) != maxSnapshots*3/4 {
		t.Errorf("%d entries after pruning, want %d", len(m), maxSnapshots*3/4)
	}
	for i := range maxSnapshots + 1 {
		_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("%04d.snap", i)))
		if kept := i < maxSnapshots*3/4; kept != (err == nil) {
			t.Errorf("entry %d: kept %v, want %v", i, err == nil, kept)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "unrelated")); err != nil {
		t.Error("prune removed a file that is not an entry")
	}
	// At or under the limit nothing goes.
	c.prune()
	if m2, _ := filepath.Glob(filepath.Join(dir, "*.snap")); len(m2) != len(m) {
		t.Errorf("second prune left %d of %d", len(m2), len(m))
	}
}

func TestOpenRefStoreDeclines(t *testing.T) {
	isolateGit(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, gitDir string)
	}{
		{"sha256 object format", func(t *testing.T, d string) {
			appendFile(t, filepath.Join(d, "config"), "[extensions]\n\tobjectFormat = sha256\n")
		}},
		{"reftable", func(t *testing.T, d string) {
			appendFile(t, filepath.Join(d, "config"), "[extensions]\n\trefStorage = reftable\n")
		}},
		{"reftable directory", func(t *testing.T, d string) {
			if err := os.Mkdir(filepath.Join(d, "reftable"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"format version 2", func(t *testing.T, d string) {
			appendFile(t, filepath.Join(d, "config"), "[core]\n\trepositoryformatversion = 2\n")
		}},
		{"linked worktree directory", func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "commondir"), "../..\n") }},
		{"alternates", func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "objects", "info", "alternates"), "/elsewhere\n")
		}},
		{"no HEAD", func(t *testing.T, d string) {
			if err := os.Remove(filepath.Join(d, "HEAD")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newRepo(t, "x\n")
			d := filepath.Join(repo, ".git")
			if _, ok := openRefStore(d); !ok {
				t.Fatal("declined before the change")
			}
			tt.setup(t, d)
			if _, ok := openRefStore(d); ok {
				t.Error("accepted")
			}
		})
	}
	// A .git file is not a directory to read refs from.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".git"), "gitdir: /elsewhere\n")
	if _, ok := openRefStore(filepath.Join(dir, ".git")); ok {
		t.Error("accepted a gitdir: file")
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestRefStoreLooseRefs(t *testing.T) {
	const a, b = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name   string
		files  map[string]string // relative to the git dir
		ref    string
		want   string // "" = declined
		packed string
	}{
		{name: "loose", files: map[string]string{"refs/heads/main": a + "\n"}, ref: "main", want: a},
		{name: "no newline", files: map[string]string{"refs/heads/main": a}, ref: "main", want: a},
		{name: "uppercase id", files: map[string]string{"refs/heads/main": strings.ToUpper(a) + "\n"}, ref: "main"},
		{name: "trailing garbage", files: map[string]string{"refs/heads/main": a + "\nx"}, ref: "main"},
		{name: "short id", files: map[string]string{"refs/heads/main": a[:39] + "\n"}, ref: "main"},
		{name: "loose wins over packed", files: map[string]string{"refs/heads/main": a + "\n"}, packed: b + " refs/heads/main\n", ref: "main", want: a},
		{name: "packed", packed: "# pack-refs with: peeled fully-peeled sorted \n" + b + " refs/heads/main\n", ref: "main", want: b},
		{name: "packed peeled", packed: a + " refs/tags/v1\n^" + b + "\n", ref: "v1", want: b},
		{name: "packed twice", packed: a + " refs/heads/main\n" + b + " refs/heads/main\n", ref: "main"},
		{name: "bad packed-refs", packed: a + " refs/heads/main\nnonsense\n", ref: "main"},
		{name: "symref", files: map[string]string{"refs/heads/main": "ref: refs/heads/trunk\n", "refs/heads/trunk": a + "\n"}, ref: "main", want: a},
		{name: "symref to packed", files: map[string]string{"refs/heads/main": "ref: refs/heads/trunk\n"}, packed: b + " refs/heads/trunk\n", ref: "main", want: b},
		{name: "symref outside refs", files: map[string]string{"refs/heads/main": "ref: HEAD\n"}, ref: "main"},
		{name: "symref loop", files: map[string]string{"refs/heads/main": "ref: refs/heads/main\n"}, ref: "main"},
		{name: "dangling symref", files: map[string]string{"refs/heads/main": "ref: refs/heads/gone\n"}, ref: "main"},
		{name: "tag and branch", files: map[string]string{"refs/heads/x": a + "\n", "refs/tags/x": a + "\n"}, ref: "x"},
		{name: "branch and packed tag", files: map[string]string{"refs/heads/x": a + "\n"}, packed: b + " refs/tags/x\n", ref: "x"},
		{name: "remote", files: map[string]string{"refs/remotes/origin/main": a + "\n"}, ref: "origin/main", want: a},
		{name: "name in the git dir", files: map[string]string{"refs/heads/FOO": a + "\n", "FOO": b + "\n"}, ref: "FOO"},
		{name: "full ref", files: map[string]string{"refs/heads/x": a + "\n", "refs/tags/x": b + "\n"}, ref: "refs/tags/x", want: b},
		{name: "missing", ref: "main"},
		{name: "commit id", ref: a, want: a},
		{name: "commit id that is also a branch", files: map[string]string{"refs/heads/" + a: b + "\n"}, ref: a},
		{name: "dot dot", files: map[string]string{"refs/heads/main": a + "\n"}, ref: "../refs/heads/main"},
		{name: "dot dot in full ref", files: map[string]string{"refs/heads/main": a + "\n"}, ref: "refs/heads/../heads/main"},
		{name: "lock", files: map[string]string{"refs/heads/main.lock": a + "\n"}, ref: "main.lock"},
		{name: "revision", ref: "main~1"},
		{name: "HEAD", files: map[string]string{"HEAD": a + "\n"}, ref: "HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			writeFile(t, filepath.Join(d, "HEAD"), "ref: refs/heads/main\n")
			for name, content := range tt.files {
				writeFile(t, filepath.Join(d, filepath.FromSlash(name)), content)
			}
			if tt.packed != "" {
				writeFile(t, filepath.Join(d, "packed-refs"), tt.packed)
			}
			rs, ok := openRefStore(d)
			if !ok {
				t.Fatal("openRefStore declined")
			}
			got, ok := rs.resolve(tt.ref)
			if !ok {
				got = ""
			}
			if got != tt.want {
				t.Errorf("resolve(%q) = %q, %v; want %q", tt.ref, got, ok, tt.want)
			}
		})
	}
}

func TestValidRefName(t *testing.T) {
	for name, want := range map[string]bool{
		"refs/heads/main": true, "refs/heads/feature/x-1.2": true, "refs/tags/v1.0": true,
		"": false, "@": false, "refs/heads/": false, "refs//heads": false, "/refs/heads/x": false,
		"refs/heads/.hidden": false, "refs/heads/x.lock": false, "refs/heads/a..b": false, "refs/heads/x.": false,
		"refs/heads/a b": false, "refs/heads/a~1": false, "refs/heads/a^": false, "refs/heads/a:b": false,
		"refs/heads/a?": false, "refs/heads/a*": false, "refs/heads/a[": false, `refs/heads/a\b`: false,
		"refs/heads/a@{1}": false, "refs/heads/\x7f": false, "refs/heads/é": false,
	} {
		if got := validRefName(name); got != want {
			t.Errorf("validRefName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestPlainRepoConfig(t *testing.T) {
	for cfg, want := range map[string]bool{
		"": true,
		"[core]\n\trepositoryformatversion = 0\n\tbare = false\n":                        true,
		"[core]\n\trepositoryformatversion = 1\n":                                        true,
		"[core]\n\trepositoryformatversion = 2\n":                                        false,
		"[core]\n\trepositoryformatversion\n":                                            false,
		"[extensions]\n\tobjectformat = sha256\n":                                        false,
		"[Extensions]\n\trefStorage = reftable\n":                                        false,
		"[core]\n\tRepositoryFormatVersion = 1\n[extensions]\n\tpartialclone = origin\n": false,
	} {
		if got := plainRepoConfig([]byte(cfg)); got != want {
			t.Errorf("plainRepoConfig(%q) = %v, want %v", cfg, got, want)
		}
	}
}

func TestParsePackedRefs(t *testing.T) {
	const a, b = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in   string
		want []string // "name oid peeled"
		ok   bool
	}{
		{"", nil, true},
		{"# pack-refs with: peeled fully-peeled sorted \n", nil, true},
		{"# pack-refs with: peeled\n" + a + " refs/heads/main\n" + a + " refs/tags/v1\n^" + b + "\n",
			[]string{"refs/heads/main " + a + " ", "refs/tags/v1 " + a + " " + b}, true},
		{a + " refs/heads/main\n", []string{"refs/heads/main " + a + " "}, true},
		{"# something else\n", nil, false},
		{"# pack-refs with: peeled", nil, false},
		{a + " refs/heads/main", nil, false},
		{"^" + b + "\n", nil, false},
		{a + " refs/tags/v1\n^" + b + "\n^" + b + "\n", nil, false},
		{a + " refs/heads/main\n\n", nil, false},
		{strings.ToUpper(a) + " refs/heads/main\n", nil, false},
		{a + "  refs/heads/main\n", nil, false},
		{a + " HEAD\n", nil, false},
		{a + " refs/heads/a..b\n", nil, false},
		{a + " refs/tags/v1\n^" + b[:39] + "\n", nil, false},
		{a + "0" + strings.Repeat("0", 23) + " refs/heads/main\n", nil, false},
	}
	for _, tt := range tests {
		var got []string
		err := parsePackedRefs([]byte(tt.in), func(name, oid, peeled string) { got = append(got, name+" "+oid+" "+peeled) })
		if (err == nil) != tt.ok {
			t.Errorf("%q: error %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParsePackedRefs checks the packed-refs parser against a plain
// line-by-line reading of the format, and that what it accepts survives
// being written back out.
func FuzzParsePackedRefs(f *testing.F) {
	const a, b = "0123456789abcdef0123456789abcdef01234567", "89abcdef0123456789abcdef0123456789abcdef"
	f.Add([]byte("# pack-refs with: peeled fully-peeled sorted \n" + a + " refs/heads/main\n" + a + " refs/tags/v1\n^" + b + "\n"))
	f.Add([]byte(a + " refs/heads/main\n"))
	f.Add([]byte("^" + b + "\n"))
	f.Add([]byte(a + " refs/heads/x.lock\n"))
	f.Add([]byte("# pack-refs with:\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		type ref struct{ name, oid, peeled string }
		var got []ref
		err := parsePackedRefs(data, func(name, oid, peeled string) { got = append(got, ref{name, oid, peeled}) })

		// The reference reading.
		var want []ref
		wantOK := true
		lines := strings.SplitAfter(string(data), "\n")
		for i, l := range lines {
			if l == "" {
				continue
			}
			if !strings.HasSuffix(l, "\n") {
				wantOK = false
				break
			}
			l = strings.TrimSuffix(l, "\n")
			switch {
			case i == 0 && strings.HasPrefix(l, "#"):
				if !strings.HasPrefix(l, "# pack-refs with:") {
					wantOK = false
				}
			case strings.HasPrefix(l, "^"):
				if len(want) == 0 || want[len(want)-1].peeled != "" || i == 0 || strings.HasPrefix(lines[i-1], "^") || len(l) != 41 || !isLowerHex(l[1:]) {
					wantOK = false
				} else {
					want[len(want)-1].peeled = l[1:]
				}
			default:
				id, name, ok := strings.Cut(l, " ")
				if !ok || len(id) != 40 || !isLowerHex(id) || !strings.HasPrefix(name, "refs/") || !validRefName(name) {
					wantOK = false
				} else {
					want = append(want, ref{name, id, ""})
				}
			}
			if !wantOK {
				break
			}
		}
		if (err == nil) != wantOK {
			t.Fatalf("parser error %v, reference ok %v", err, wantOK)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("got %d refs %q, want %d %q", len(got), got, len(want), want)
		}
		var out strings.Builder
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("ref %d: got %+v, want %+v", i, got[i], want[i])
			}
			out.WriteString(got[i].oid + " " + got[i].name + "\n")
			if got[i].peeled != "" {
				out.WriteString("^" + got[i].peeled + "\n")
			}
		}
		var again []ref
		if err := parsePackedRefs([]byte(out.String()), func(name, oid, peeled string) { again = append(again, ref{name, oid, peeled}) }); err != nil {
			t.Fatalf("rewritten file rejected: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("rewritten file has %d refs, want %d", len(again), len(got))
		}
	})
}

// FuzzFindTreeEntry checks that the tree reader never panics and only returns
// entries that are in the tree exactly once.
func FuzzFindTreeEntry(f *testing.F) {
	entry := func(mode, name string, id byte) []byte {
		return append([]byte(mode+" "+name+"\x00"), bytes.Repeat([]byte{id}, 20)...)
	}
	f.Add(append(entry("100644", "jit.yaml", 1), entry("40000", "policies", 2)...), "jit.yaml")
	f.Add(entry("120000", "link", 3), "link")
	f.Add([]byte("100644 x"), "x")
	f.Fuzz(func(t *testing.T, tree []byte, name string) {
		mode, id, err := findTreeEntry(tree, name)
		if err != nil {
			return
		}
		if len(id) != 40 || !isLowerHex(id) || mode == "" {
			t.Fatalf("entry %q %q", mode, id)
		}
		if n := bytes.Count(tree, []byte(" "+name+"\x00")); n < 1 {
			t.Fatalf("%q found but not in the tree", name)
		}
		bin, _ := hex.DecodeString(id)
		if !bytes.Contains(tree, append([]byte(mode+" "+name+"\x00"), bin...)) {
			t.Fatalf("entry %s %s %s is not in the tree", mode, name, id)
		}
	})
}

// FuzzDecodeSnapshot checks that the entry decoder never panics on what it
// finds on disk, and that what it accepts is exactly what encode writes.
func FuzzDecodeSnapshot(f *testing.F) {
	e := &snapshotEntry{Key: "k", Target: "t", Tags: [][]byte{[]byte("object x\ntype commit\n")}, Commit: "c", File: "jit.yaml", CommitObject: []byte("tree x\n"),
		Trees: [][]byte{[]byte("100644 jit.yaml\x00aaaaaaaaaaaaaaaaaaaa"), {}}, BlobID: "b", Data: []byte("version: 1\n")}
	f.Add(e.encode())
	f.Add((&snapshotEntry{}).encode())
	f.Add([]byte(snapshotMagic + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeSnapshot(data)
		if err != nil {
			return
		}
		if again := e.encode(); !bytes.Equal(again, data) {
			t.Fatalf("re-encoded %q, decoded from %q", again, data)
		}
	})
}

func BenchmarkLoadLocalWarm(b *testing.B) {
	isolateGit(b)
	repo := newRepo(b, strings.Repeat("# policy line\n", 200))
	g := &Git{Repo: repo, CacheDir: b.TempDir()}
	ctx := context.Background()
	if _, err := g.Load(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := g.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadLocalWarmSigned is a cache hit that checks the commit's SSH
// signature again (ed25519).
func BenchmarkLoadLocalWarmSigned(b *testing.B) {
	isolateGit(b)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		b.Skip("ssh-keygen not installed")
	}
	keys := b.TempDir()
	priv := filepath.Join(keys, "alice")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", priv).CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		b.Fatal(err)
	}
	signers := filepath.Join(keys, "allowed_signers")
	writeFile(b, signers, "alice@example.com "+string(pub))
	repo := newRepo(b, "unsigned\n")
	writeFile(b, filepath.Join(repo, "jit.yaml"), strings.Repeat("# policy line\n", 200))
	git(b, repo, "add", "jit.yaml")
	git(b, repo, "-c", "gpg.format=ssh", "-c", "user.signingkey="+priv, "commit", "-q", "-S", "-m", "signed")
	g := &Git{Repo: repo, CacheDir: b.TempDir(), AllowedSigners: signers}
	ctx := context.Background()
	if _, err := g.Load(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if snap, err := g.Load(ctx); err != nil || snap.Signer == "" {
			b.Fatal(err)
		}
	}
}
