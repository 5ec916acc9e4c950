package policysource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultCacheDir is $XDG_CACHE_HOME/jit, or ~/.cache/jit.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "jit"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "jit"), nil
}

// mirror locates the bare mirror of a remote repository:
// <CacheDir>/policy/<sha256(url)[:16]>.git.
func (g *Git) mirror() (repoLocation, error) {
	dir := g.CacheDir
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return repoLocation{}, &Error{Kind: Invalid, Repo: redactURL(g.Repo), Err: err, Msg: "policy: " + err.Error() + "; set XDG_CACHE_HOME"}
		}
		dir = d
	}
	sum := sha256.Sum256([]byte(g.Repo))
	gitDir := filepath.Join(dir, "policy", hex.EncodeToString(sum[:])[:16]+".git")
	return repoLocation{display: redactURL(g.Repo), dir: filepath.Dir(gitDir), gitDir: gitDir, remote: true}, nil
}

// stampPath is the file beside the mirror that records the last successful fetch.
func stampPath(gitDir string) string { return strings.TrimSuffix(gitDir, ".git") + ".fetched" }

func readStamp(gitDir string) (time.Time, error) {
	b, err := os.ReadFile(stampPath(gitDir))
	if err != nil {
		return time.Time{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return time.Parse(time.RFC3339Nano, strings.TrimSpace(line))
}

// writeStamp replaces the stamp atomically so that a concurrent reader never
// sees a half-written time. The URL is recorded for whoever inspects the cache.
func writeStamp(gitDir, url string, t time.Time) error {
	f, err := os.CreateTemp(filepath.Dir(gitDir), ".fetched-*")
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintf(f, "%s\n%s\n", t.UTC().Format(time.RFC3339Nano), url)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), stampPath(gitDir))
	}
	if werr != nil {
		_ = os.Remove(f.Name())
	}
	return werr
}

func (g *Git) loadRemote(ctx context.Context, ref, file string, signers *trustRoot) (*Snapshot, error) {
	loc, err := g.mirror()
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(loc.gitDir)
	haveMirror := statErr == nil
	sc := g.snapshotCache(loc, signers)

	// A commit id names immutable content: if the mirror has it, asking the
	// remote cannot change the answer.
	if haveMirror && isHexID(strings.ToLower(ref)) {
		snap, pend := g.fromCache(sc, loc, ref, file, signers)
		if snap != nil {
			if at, err := readStamp(loc.gitDir); err == nil {
				snap.FetchedAt = at
			}
			return snap, nil
		}
		r, err := newRunner(g.GitPath)
		if err != nil {
			return nil, err
		}
		if snap, ok, err := g.readCachedCommit(ctx, r, loc, ref, file, signers, pend); ok || err != nil {
			return snap, err
		}
	}
	r, err := newRunner(g.GitPath)
	if err != nil {
		return nil, err
	}

	fetchErr := g.fetch(ctx, r, loc, haveMirror)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	now := g.now()
	fetchedAt, stale := now, false
	if fetchErr != nil {
		line := scrubURL(fetchErr.Error(), g.Repo)
		if !haveMirror {
			return nil, &Error{Kind: Unreachable, Repo: loc.display, Ref: ref, Err: fetchErr,
				Msg: fmt.Sprintf("policy: cannot reach %s and there is no cached copy: %s", loc.display, line)}
		}
		at, err := readStamp(loc.gitDir)
		if err != nil {
			return nil, &Error{Kind: Unreachable, Repo: loc.display, Ref: ref, Err: fetchErr,
				Msg: fmt.Sprintf("policy: cannot reach %s and the time of the cached copy is unknown: %s", loc.display, line)}
		}
		age := now.Sub(at)
		if maxAge := g.maxAge(); maxAge < 0 || age > maxAge {
			limit := "policy.max_age forbids using it"
			if maxAge >= 0 {
				limit = "policy.max_age is " + humanAge(maxAge)
			}
			return nil, &Error{Kind: Unreachable, Repo: loc.display, Ref: ref, Err: fetchErr,
				Msg: fmt.Sprintf("policy: cannot reach %s and the cached copy is %s old (%s): %s", loc.display, humanAge(age), limit, line)}
		}
		fetchedAt, stale = at, true
		snap, err := g.readMirror(ctx, r, loc, ref, file, signers, sc)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) && pe.Kind == NotFound {
				pe.Msg += fmt.Sprintf(" (in the cached copy fetched %s ago: %s cannot be reached: %s)", humanAge(age), loc.display, line)
			}
			return nil, err
		}
		g.warn(fmt.Sprintf("policy: cannot reach %s (%s); using cached commit %s fetched %s ago", loc.display, line, short(snap.Commit), humanAge(age)))
		snap.FetchedAt, snap.Stale = fetchedAt, stale
		return snap, nil
	}
	if err := writeStamp(loc.gitDir, loc.display, now); err != nil {
		// Without the stamp a later outage fails closed; say so but go on.
		g.warn(fmt.Sprintf("policy: cannot record the fetch time of %s: %v", loc.display, err))
	}
	snap, err := g.readMirror(ctx, r, loc, ref, file, signers, sc)
	if err != nil {
		return nil, err
	}
	snap.FetchedAt = fetchedAt
	return snap, nil
}

// readMirror reads the mirror as it is after a fetch (or a failed one): the
// refs in-process and the snapshot from the cache when it can, else git.
func (g *Git) readMirror(ctx context.Context, r *runner, loc repoLocation, ref, file string, signers *trustRoot, sc *snapshotCache) (*Snapshot, error) {
	snap, pend := g.fromCache(sc, loc, ref, file, signers)
	if snap != nil {
		return snap, nil
	}
	cf, err := r.catFile(ctx, loc.dir, loc.gitDir)
	if err != nil {
		return nil, loc.gitFailure(ctx, ref, err)
	}
	defer cf.close()
	return g.read(ctx, r, cf, loc, ref, file, signers, pend)
}

// readCachedCommit serves a commit id from the mirror without fetching; ok is
// false when the mirror lacks it.
func (g *Git) readCachedCommit(ctx context.Context, r *runner, loc repoLocation, ref, file string, signers *trustRoot, pend *pendingStore) (*Snapshot, bool, error) {
	cf, err := r.catFile(ctx, loc.dir, loc.gitDir)
	if err != nil {
		return nil, false, nil
	}
	defer cf.close()
	objs, err := cf.query(ref + "^{commit}")
	if err != nil || objs[0].typ != "commit" {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, false, ctxErr
		}
		return nil, false, nil
	}
	snap, err := g.read(ctx, r, cf, loc, ref, file, signers, pend)
	if err != nil {
		return nil, false, err
	}
	if at, err := readStamp(loc.gitDir); err == nil {
		snap.FetchedAt = at
	}
	return snap, true, nil
}

// fetch brings the mirror up to date with the remote's branches and tags, or
// creates it. A first clone goes to a temporary directory and is renamed into
// place, so that a concurrent jit never sees a half-made mirror.
func (g *Git) fetch(ctx context.Context, r *runner, loc repoLocation, haveMirror bool) error {
	policyDir := filepath.Dir(loc.gitDir)
	if err := os.MkdirAll(policyDir, 0o700); err != nil {
		return fmt.Errorf("create the cache directory: %w", err)
	}
	env := r.networkEnv(ctx, g.Repo, policyDir)
	if haveMirror {
		_, err := r.runNetwork(ctx, policyDir, loc.gitDir, env, "fetch", "--quiet", "--prune", "--no-write-fetch-head",
			"--", g.Repo, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
		return err
	}
	tmp, err := os.MkdirTemp(policyDir, ".clone-*")
	if err != nil {
		return fmt.Errorf("create the cache directory: %w", err)
	}
	// --template= keeps the user's template hooks out of the mirror.
	if _, err := r.runNetwork(ctx, policyDir, "", env, "clone", "--bare", "--quiet", "--template=", "--", g.Repo, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	// Fetches name the URL themselves; keeping it out of the mirror's config
	// keeps credentials embedded in it off the disk.
	if _, err := r.run(ctx, policyDir, tmp, nil, "remote", "remove", "origin"); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("prepare the mirror: %w", err)
	}
	if err := os.Rename(tmp, loc.gitDir); err != nil {
		_ = os.RemoveAll(tmp)
		if _, statErr := os.Stat(loc.gitDir); statErr == nil {
			return nil // another jit made the mirror meanwhile
		}
		return fmt.Errorf("create the mirror: %w", err)
	}
	return nil
}

// networkEnv forbids prompts: git's own (GIT_TERMINAL_PROMPT=0, already in
// the base environment), Git Credential Manager's, and ssh's (BatchMode),
// unless the user chose an ssh command themselves.
func (r *runner) networkEnv(ctx context.Context, url, dir string) []string {
	env := []string{"GIT_CEILING_DIRECTORIES=" + filepath.Dir(dir)}
	if os.Getenv("GCM_INTERACTIVE") == "" {
		env = append(env, "GCM_INTERACTIVE=never")
	}
	if isSSHURL(url) && os.Getenv("GIT_SSH_COMMAND") == "" && os.Getenv("GIT_SSH") == "" {
		out, err := r.run(ctx, dir, "", env, "config", "--global", "--get", "core.sshCommand")
		if err != nil || strings.TrimSpace(string(out)) == "" {
			env = append(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
		}
	}
	return env
}

func isSSHURL(url string) bool {
	for _, p := range []string{"ssh://", "git+ssh://", "ssh+git://"} {
		if strings.HasPrefix(url, p) {
			return true
		}
	}
	return !strings.Contains(url, "://") && IsURL(url)
}

// runNetwork runs a fetch or clone in its own session, so that neither git
// nor ssh nor a credential helper can open the terminal to prompt; the whole
// session is killed when ctx ends.
func (r *runner) runNetwork(ctx context.Context, dir, gitDir string, env []string, args ...string) ([]byte, error) {
	full := append([]string{"-c", "core.hooksPath=" + os.DevNull}, args...)
	out, err := r.runWith(ctx, dir, gitDir, env, detach, full...)
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) && ge.line == "" {
			return out, fmt.Errorf("git %s failed: %w", args[0], ge.err)
		}
	}
	return out, err
}

// redactURL hides credentials embedded in a URL: the whole user part of an
// http(s) URL (a token is often given as the user name), the password of
// others. scp-like addresses cannot carry a password.
func redactURL(raw string) string {
	user, i, ok := urlUserinfo(raw)
	if !ok {
		return raw
	}
	var red string
	switch strings.ToLower(raw[:strings.Index(raw, "://")]) {
	case "http", "https":
		red = "***"
	default:
		name, _, hasPassword := strings.Cut(user, ":")
		if !hasPassword {
			return raw
		}
		red = name + ":***"
	}
	return raw[:i] + red + raw[i+len(user):]
}

// scrubURL removes the credentials of url from a message, such as git's error.
func scrubURL(msg, url string) string {
	user, _, ok := urlUserinfo(url)
	if !ok {
		return msg
	}
	redacted, _, _ := urlUserinfo(redactURL(url))
	if redacted == user {
		return msg
	}
	return strings.ReplaceAll(msg, user, redacted)
}

// urlUserinfo finds the user[:password] part of a scheme:// URL and its offset.
func urlUserinfo(raw string) (string, int, bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", 0, false
	}
	start := i + 3
	auth := raw[start:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	at := strings.LastIndexByte(auth, '@')
	if at <= 0 {
		return "", 0, false
	}
	return auth[:at], start, true
}
