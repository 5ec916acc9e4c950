package policysource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// remoteFixture is a bare "remote" reached through file:// and a clone to
// push from.
type remoteFixture struct {
	bare, work, url string
}

func newRemote(t *testing.T, content string) *remoteFixture {
	t.Helper()
	src := newRepo(t, content)
	bare := filepath.Join(t.TempDir(), "access.git")
	git(t, "", "clone", "-q", "--bare", src, bare)
	work := filepath.Join(t.TempDir(), "work")
	git(t, "", "clone", "-q", bare, work)
	return &remoteFixture{bare: bare, work: work, url: "file://" + bare}
}

func (f *remoteFixture) push(t *testing.T, content string) string {
	t.Helper()
	c := commitFile(t, f.work, "jit.yaml", content)
	git(t, f.work, "push", "-q", "origin", "HEAD:main")
	return c
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLoadRemote(t *testing.T) {
	isolateGit(t)
	f := newRemote(t, "v1\n")
	cache := filepath.Join(t.TempDir(), "cache")
	clk := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	var warnings []string
	g := &Git{Repo: f.url, CacheDir: cache, Now: clk.now, Warn: func(m string) { warnings = append(warnings, m) }}
	ctx := context.Background()

	// First use clones.
	snap, err := g.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.Data) != "v1\n" || snap.Stale || !snap.FetchedAt.Equal(clk.t) || snap.Repo != f.url {
		t.Errorf("first load: %+v", snap)
	}
	sum := sha256.Sum256([]byte(f.url))
	mirror := filepath.Join(cache, "policy", hex.EncodeToString(sum[:])[:16]+".git")
	if _, err := os.Stat(filepath.Join(mirror, "HEAD")); err != nil {
		t.Fatalf("no mirror at %s: %v", mirror, err)
	}
	for _, d := range []string{cache, filepath.Join(cache, "policy")} {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", d, st.Mode().Perm(), err)
		}
	}
	stamp := strings.TrimSuffix(mirror, ".git") + ".fetched"
	if st, err := os.Stat(stamp); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("fetch stamp %s: %v %v", stamp, st, err)
	}
	if cfg, err := os.ReadFile(filepath.Join(mirror, "config")); err != nil || strings.Contains(string(cfg), "url") {
		t.Errorf("mirror config keeps the remote URL (%v):\n%s", err, cfg)
	}
	if hooks, err := os.ReadDir(filepath.Join(mirror, "hooks")); err == nil && len(hooks) > 0 {
		t.Errorf("mirror has hooks from a template: %v", hooks)
	}

	// A pushed commit is seen on the next Load.
	clk.t = clk.t.Add(10 * time.Minute)
	v2 := f.push(t, "v2\n")
	snap, err = g.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.Data) != "v2\n" || snap.Commit != v2 || snap.Stale || !snap.FetchedAt.Equal(clk.t) {
		t.Errorf("after push: %+v", snap)
	}
	lastFetch := clk.t

	// A deleted remote branch disappears from the mirror too.
	git(t, f.work, "push", "-q", "origin", "HEAD:refs/heads/temp")
	if _, err := (&Git{Repo: f.url, CacheDir: cache, Ref: "temp", Now: clk.now}).Load(ctx); err != nil {
		t.Fatal(err)
	}
	git(t, f.work, "push", "-q", "origin", ":refs/heads/temp")
	_, err = (&Git{Repo: f.url, CacheDir: cache, Ref: "temp", Now: clk.now}).Load(ctx)
	wantKind(t, err, NotFound)
	lastFetch = clk.t

	// Unreachable within max_age: served from the cache, with a warning.
	if err := os.Rename(f.bare, f.bare+".moved"); err != nil {
		t.Fatal(err)
	}
	clk.t = lastFetch.Add(12 * time.Minute)
	warnings = nil
	snap, err = g.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.Data) != "v2\n" || !snap.Stale || !snap.FetchedAt.Equal(lastFetch) {
		t.Errorf("stale load: %+v", snap)
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings = %q, want one", warnings)
	}
	wantPrefix := "policy: cannot reach " + f.url + " ("
	wantSuffix := "); using cached commit " + v2[:7] + " fetched 12m ago"
	if w := warnings[0]; !strings.HasPrefix(w, wantPrefix) || !strings.HasSuffix(w, wantSuffix) || strings.Contains(w, "\n") {
		t.Errorf("warning = %q, want %q…%q", w, wantPrefix, wantSuffix)
	}

	// A ref the cache lacks says the remote was not asked.
	_, err = (&Git{Repo: f.url, CacheDir: cache, Ref: "nosuch", Now: clk.now}).Load(ctx)
	pe := wantKind(t, err, NotFound)
	if !strings.Contains(pe.Error(), "in the cached copy fetched 12m ago") {
		t.Errorf("error = %q", pe.Error())
	}

	// Older than max_age: fail closed.
	clk.t = lastFetch.Add(3 * time.Hour)
	_, err = g.Load(ctx)
	pe = wantKind(t, err, Unreachable)
	want := "policy: cannot reach " + f.url + " and the cached copy is 3h old (policy.max_age is 1h): fatal:"
	if !strings.HasPrefix(pe.Error(), want) {
		t.Errorf("error = %q, want prefix %q", pe.Error(), want)
	}
	// A longer max_age allows it again.
	g2 := *g
	g2.MaxAge = 4 * time.Hour
	if snap, err := g2.Load(ctx); err != nil || !snap.Stale {
		t.Errorf("max_age 4h: %+v, %v", snap, err)
	}
	// A negative max_age never serves from the cache.
	g2.MaxAge = -1
	clk.t = lastFetch.Add(time.Second)
	_, err = g2.Load(ctx)
	wantKind(t, err, Unreachable)

	// A full commit id in the mirror needs no fetch, even when unreachable and old.
	clk.t = lastFetch.Add(48 * time.Hour)
	warnings = nil
	byID := &Git{Repo: f.url, CacheDir: cache, Ref: v2, Now: clk.now, Warn: g.Warn}
	snap, err = byID.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.Data) != "v2\n" || snap.Stale || len(warnings) != 0 || !snap.FetchedAt.Equal(lastFetch) {
		t.Errorf("commit id from cache: %+v, warnings %q", snap, warnings)
	}
	data, err := byID.ReadAt(ctx, v2, "jit.yaml")
	if err != nil || string(data) != "v2\n" {
		t.Errorf("ReadAt from mirror = %q, %v", data, err)
	}
	// A commit id the mirror lacks does need the remote.
	_, err = (&Git{Repo: f.url, CacheDir: cache, Ref: strings.Repeat("1", 40), Now: clk.now}).Load(ctx)
	wantKind(t, err, Unreachable)

	// Reachable again: fresh, not stale.
	if err := os.Rename(f.bare+".moved", f.bare); err != nil {
		t.Fatal(err)
	}
	snap, err = g.Load(ctx)
	if err != nil || snap.Stale || !snap.FetchedAt.Equal(clk.t) {
		t.Errorf("reachable again: %+v, %v", snap, err)
	}
}

func TestLoadRemoteNoCache(t *testing.T) {
	isolateGit(t)
	url := "file://" + filepath.Join(t.TempDir(), "nothing.git")
	cache := filepath.Join(t.TempDir(), "cache")
	_, err := (&Git{Repo: url, CacheDir: cache}).Load(context.Background())
	pe := wantKind(t, err, Unreachable)
	if !strings.HasPrefix(pe.Error(), "policy: cannot reach "+url+" and there is no cached copy: ") {
		t.Errorf("error = %q", pe.Error())
	}
	// Nothing half-made is left behind.
	entries, _ := os.ReadDir(filepath.Join(cache, "policy"))
	if len(entries) != 0 {
		t.Errorf("cache has %v after a failed clone", entries)
	}
}

func TestLoadRemoteErrors(t *testing.T) {
	isolateGit(t)
	f := newRemote(t, "v1\n")
	cache := filepath.Join(t.TempDir(), "cache")
	_, err := (&Git{Repo: f.url, CacheDir: cache, Ref: "origin/main"}).Load(context.Background())
	pe := wantKind(t, err, NotFound)
	if !strings.Contains(pe.Error(), "name the branch as the remote does (main)") {
		t.Errorf("error = %q", pe.Error())
	}
	_, err = (&Git{Repo: f.url, CacheDir: cache, File: "missing.yaml"}).Load(context.Background())
	pe = wantKind(t, err, NotFound)
	if !strings.Contains(pe.Error(), "policy file missing.yaml not found at commit") || !strings.Contains(pe.Error(), "commit and push the policy") {
		t.Errorf("error = %q", pe.Error())
	}

	empty := filepath.Join(t.TempDir(), "empty.git")
	git(t, "", "init", "-q", "--bare", empty)
	_, err = (&Git{Repo: "file://" + empty, CacheDir: cache}).Load(context.Background())
	pe = wantKind(t, err, NotFound)
	if !strings.Contains(pe.Error(), "has no commits") || !strings.Contains(pe.Error(), "commit and push the policy") {
		t.Errorf("error = %q", pe.Error())
	}
}

func TestDefaultCacheDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "/xdg/cache")
	if d, _ := DefaultCacheDir(); d != "/xdg/cache/jit" {
		t.Errorf("with XDG_CACHE_HOME: %s", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	if d, _ := DefaultCacheDir(); d != filepath.Join(home, ".cache", "jit") {
		t.Errorf("without XDG_CACHE_HOME: %s", d)
	}
}

func TestRemoteCredentialsStayHidden(t *testing.T) {
	isolateGit(t)
	for _, url := range []string{
		"https://jit-bot:s3cr3t-t0ken@127.0.0.1:1/acme/access.git",
		"https://s3cr3t-t0ken@127.0.0.1:1/acme/access.git",
	} {
		var warned []string
		_, err := (&Git{Repo: url, CacheDir: t.TempDir(), Warn: func(m string) { warned = append(warned, m) }}).Load(context.Background())
		pe := wantKind(t, err, Unreachable)
		if strings.Contains(pe.Error(), "s3cr3t") || strings.Contains(pe.Repo, "s3cr3t") || strings.Contains(strings.Join(warned, ""), "s3cr3t") {
			t.Errorf("credential leaked: %q (repo %q)", pe.Error(), pe.Repo)
		}
		if !strings.Contains(pe.Error(), "https://***@127.0.0.1:1/acme/access.git") {
			t.Errorf("error %q does not name the redacted URL", pe.Error())
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://user:pw@github.com/a/b.git":   "https://***@github.com/a/b.git",
		"https://ghp_token@github.com/a/b.git": "https://***@github.com/a/b.git",
		"HTTP://u@h/x":                         "HTTP://***@h/x",
		"https://github.com/a/b.git":           "https://github.com/a/b.git",
		"ssh://git@github.com/a/b.git":         "ssh://git@github.com/a/b.git",
		"ssh://git:pw@github.com/a/b.git":      "ssh://git:***@github.com/a/b.git",
		"git@github.com:a/b.git":               "git@github.com:a/b.git",
		"file:///srv/a@b/x.git":                "file:///srv/a@b/x.git",
		"https://h/path?q=a@b":                 "https://h/path?q=a@b",
	}
	for in, want := range tests {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := scrubURL("fatal: unable to access 'https://user:pw@h/x/': refused", "https://user:pw@h/x"); got != "fatal: unable to access 'https://***@h/x/': refused" {
		t.Errorf("scrubURL = %q", got)
	}
}
