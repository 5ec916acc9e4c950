package policysource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Git reads the policy file at the commit a ref names in a git repository.
//
// A local repository (a path, bare or not) is read in place: only committed
// objects are consulted, so uncommitted, staged and untracked changes have no
// effect. A remote repository (https://, ssh://, file://, user@host:path) is
// kept as a bare mirror under CacheDir, fetched on every Load; when the
// remote cannot be reached, the mirror is used if its last successful fetch is
// within MaxAge (reported through Warn), otherwise Load fails closed.
//
// Reading a commit costs a git process, so what a commit yields is kept in a
// snapshot cache under CacheDir, and a Load reads the ref itself (loose and
// packed refs) to find the commit: when the ref still names a cached commit,
// no git process runs. Entries are proven by their object hashes and
// signatures are checked again on every Load; anything unusual (revision
// expressions, worktrees, reftable, SHA-256 repositories) goes to git.
//
// The zero values of Ref, File, MaxAge, CacheDir, Now and GitPath select the
// defaults. A Git is safe for concurrent use if Warn is.
type Git struct {
	// Repo is a git URL or a local repository path (policy.repo).
	Repo string
	// Ref is a branch, tag, commit id or other revision (policy.ref); default main.
	Ref string
	// File is the policy's path inside the repository (policy.file); default jit.yaml.
	File string
	// AllowedSigners is the path of an OpenSSH allowed_signers file
	// (policy.allowed_signers). When set, the commit must be SSH-signed by a
	// key it lists for the "git" namespace.
	AllowedSigners string
	// MaxAge is how old a cached mirror may be when the remote is unreachable
	// (policy.max_age); zero means DefaultMaxAge, negative means never use it.
	MaxAge time.Duration
	// CacheDir holds the mirrors of remote repositories and the snapshot
	// cache; default $XDG_CACHE_HOME/jit (~/.cache/jit).
	CacheDir string
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Warn receives one-line warnings, such as serving a stale cached policy.
	Warn func(msg string)
	// GitPath is the git binary; "git" looked up in PATH when empty.
	GitPath string
}

// Load reads the policy file at the commit Ref names.
func (g *Git) Load(ctx context.Context) (*Snapshot, error) {
	ref, file, err := g.settings()
	if err != nil {
		return nil, err
	}
	signers, err := g.loadSigners()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if IsURL(g.Repo) {
		return g.loadRemote(ctx, ref, file, signers)
	}
	loc, err := localRepo(g.Repo)
	if err != nil {
		return nil, err
	}
	snap, pend := g.fromCache(g.snapshotCache(loc, signers), loc, ref, file, signers)
	if snap == nil {
		r, err := newRunner(g.GitPath)
		if err != nil {
			return nil, err
		}
		cf, err := r.catFile(ctx, loc.dir, loc.gitDir)
		if err != nil {
			return nil, loc.gitFailure(ctx, ref, err)
		}
		defer cf.close()
		if snap, err = g.read(ctx, r, cf, loc, ref, file, signers, pend); err != nil {
			return nil, err
		}
	}
	snap.FetchedAt = g.now()
	return snap, nil
}

// ReadAt reads another file at a commit a previous Load returned, such as the
// policy test cases beside the policy. path is relative to the repository root.
func (g *Git) ReadAt(ctx context.Context, commit, p string) ([]byte, error) {
	commit = strings.ToLower(commit)
	if !isHexID(commit) {
		return nil, &Error{Kind: Invalid, Repo: g.displayRepo(), Commit: commit,
			Msg: fmt.Sprintf("policy: %q is not a full commit id", commit)}
	}
	file, err := cleanFile(p)
	if err != nil {
		return nil, err
	}
	r, err := newRunner(g.GitPath)
	if err != nil {
		return nil, err
	}
	var loc repoLocation
	if IsURL(g.Repo) {
		loc, err = g.mirror()
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(loc.gitDir); err != nil {
			return nil, &Error{Kind: NotFound, Repo: loc.display, Commit: commit,
				Msg: fmt.Sprintf("policy: no cached copy of %s; load the policy first", loc.display)}
		}
	} else if loc, err = localRepo(g.Repo); err != nil {
		return nil, err
	}
	cf, err := r.catFile(ctx, loc.dir, loc.gitDir)
	if err != nil {
		return nil, loc.gitFailure(ctx, commit, err)
	}
	defer cf.close()
	objs, err := cf.query(commit + "^{commit}")
	if err != nil {
		return nil, loc.gitFailure(ctx, commit, err)
	}
	if objs[0].typ != "commit" {
		return nil, &Error{Kind: NotFound, Repo: loc.display, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s not found in %s", short(commit), loc.display)}
	}
	info, err := g.checkCommit(loc, commit, commit, objs[0].data)
	if err != nil {
		return nil, err
	}
	return readBlob(ctx, cf, loc, commit, commit, info.tree, file)
}

// displayRepo is the repository as messages may show it.
func (g *Git) displayRepo() string {
	if IsURL(g.Repo) {
		return redactURL(g.Repo)
	}
	return g.Repo
}

func (g *Git) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Git) warn(msg string) {
	if g.Warn != nil {
		g.Warn(msg)
	}
}

func (g *Git) maxAge() time.Duration {
	if g.MaxAge == 0 {
		return DefaultMaxAge
	}
	return g.MaxAge
}

// settings validates and defaults the configured ref and file.
func (g *Git) settings() (ref, file string, err error) {
	if strings.TrimSpace(g.Repo) == "" {
		return "", "", &Error{Kind: Invalid, Msg: "policy.repo is not set; set it to a git URL or a local repository path"}
	}
	ref = g.Ref
	if ref == "" {
		ref = DefaultRef
	}
	if err := checkRef(ref); err != nil {
		return "", "", &Error{Kind: Invalid, Repo: g.displayRepo(), Ref: ref,
			Msg: fmt.Sprintf("policy.ref %q is not usable: %v; set policy.ref to a branch, tag or commit id", ref, err)}
	}
	f := g.File
	if f == "" {
		f = DefaultFile
	}
	file, err = cleanFile(f)
	if err != nil {
		return "", "", err
	}
	return ref, file, nil
}

// checkRef rejects what cat-file would read as something other than a
// revision (":path" reads the index, "rev:path" a tree entry) or could not
// carry in its line protocol.
func checkRef(ref string) error {
	if strings.HasPrefix(ref, "-") {
		return errors.New("it starts with '-'")
	}
	for _, c := range ref {
		if c < 0x20 || c == 0x7f || c == ' ' {
			return errors.New("it contains a space or control character")
		}
		if c == ':' {
			return errors.New("it contains ':'")
		}
	}
	return nil
}

// cleanFile turns the configured policy path into a repository path.
func cleanFile(f string) (string, error) {
	bad := func(why string) error {
		return &Error{Kind: Invalid, Msg: fmt.Sprintf("policy.file %q %s; set policy.file to a path inside the repository such as %s", f, why, DefaultFile)}
	}
	if strings.ContainsAny(f, "\n\x00") {
		return "", bad("contains a newline")
	}
	p := path.Clean(strings.TrimPrefix(f, "./"))
	switch {
	case path.IsAbs(p):
		return "", bad("is absolute")
	case p == "." || p == "":
		return "", bad("is empty")
	case p == ".." || strings.HasPrefix(p, "../"):
		return "", bad("is outside the repository")
	}
	return p, nil
}

// trustRoot is a parsed allowed_signers file.
type trustRoot struct {
	path  string
	lines []signerLine
	sum   string // hex sha256 of the file, for the snapshot cache's key
}

// loadSigners reads the trust root. It lives outside the repository so that
// the commit being checked cannot choose who may sign it.
func (g *Git) loadSigners() (*trustRoot, error) {
	if g.AllowedSigners == "" {
		return nil, nil
	}
	p, err := expandHome(g.AllowedSigners)
	if err != nil {
		return nil, &Error{Kind: Invalid, Msg: fmt.Sprintf("policy.allowed_signers %s: %v", g.AllowedSigners, err), Err: err}
	}
	data, err := readFileLimited(p)
	if err != nil {
		return nil, &Error{Kind: Invalid, Err: err,
			Msg: fmt.Sprintf("policy.allowed_signers: %v; create the file or unset policy.allowed_signers", err)}
	}
	signers, err := parseAllowedSigners(data, time.Local)
	if err != nil {
		return nil, &Error{Kind: Invalid, Err: err,
			Msg: fmt.Sprintf("policy.allowed_signers %s: %v (see ssh-keygen(1), ALLOWED SIGNERS)", p, err)}
	}
	if len(signers) == 0 {
		return nil, &Error{Kind: Invalid,
			Msg: fmt.Sprintf("policy.allowed_signers %s lists no keys; add the keys allowed to sign the policy", p)}
	}
	sum := sha256.Sum256(data)
	return &trustRoot{path: p, lines: signers, sum: hex.EncodeToString(sum[:])}, nil
}

// IsURL reports whether repo names a remote the way git does: "scheme://…",
// or scp-like "[user@]host:path" with no slash before the first colon.
// Everything else is a local path.
func IsURL(repo string) bool {
	if i := strings.Index(repo, "://"); i > 0 {
		scheme := repo[:i]
		ok := true
		for _, c := range scheme {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	colon := strings.IndexByte(repo, ':')
	if colon <= 0 {
		return false
	}
	if slash := strings.IndexByte(repo, '/'); slash >= 0 && slash < colon {
		return false
	}
	// A drive letter ("C:\x", "C:/x") is a path, as git treats it on Windows.
	if colon == 1 && len(repo) > 2 && (repo[2] == '\\' || repo[2] == '/') {
		return false
	}
	return true
}

// repoLocation is a repository jit reads objects from.
type repoLocation struct {
	display string // what messages and snapshots call it
	dir     string // where git runs
	gitDir  string
	remote  bool
}

func localRepo(repo string) (repoLocation, error) {
	p, err := expandHome(repo)
	if err != nil {
		return repoLocation{}, &Error{Kind: Invalid, Repo: repo, Msg: fmt.Sprintf("policy.repo %s: %v", repo, err), Err: err}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return repoLocation{}, &Error{Kind: Invalid, Repo: repo, Msg: fmt.Sprintf("policy.repo %s: %v", repo, err), Err: err}
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return repoLocation{}, &Error{Kind: NotFound, Repo: abs, Err: err,
			Msg: fmt.Sprintf("policy repository %s does not exist; set policy.repo to a git repository path or URL", abs)}
	case err != nil:
		return repoLocation{}, &Error{Kind: Invalid, Repo: abs, Err: err, Msg: fmt.Sprintf("policy repository %s: %v", abs, err)}
	case !st.IsDir():
		return repoLocation{}, &Error{Kind: Invalid, Repo: abs,
			Msg: fmt.Sprintf("policy repository %s is not a directory; set policy.repo to a git repository path or URL", abs)}
	}
	loc := repoLocation{display: abs, dir: abs, gitDir: abs}
	// Name the git directory explicitly: discovery could wander up into an
	// enclosing repository, and safe.bareRepository=explicit would refuse an
	// implicit bare one. A .git file (worktree, submodule) works as --git-dir.
	if _, err := os.Lstat(filepath.Join(abs, ".git")); err == nil {
		loc.gitDir = filepath.Join(abs, ".git")
	}
	return loc, nil
}

// gitFailure turns a git failure into an *Error for this repository.
func (l repoLocation) gitFailure(ctx context.Context, ref string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "dubious ownership") {
		return &Error{Kind: Invalid, Repo: l.display, Ref: ref, Err: err,
			Msg: fmt.Sprintf("policy repository %s belongs to another user (%s); trust it with git config --global --add safe.directory %s", l.display, msg, l.display)}
	}
	if strings.Contains(msg, "not a git repository") {
		return &Error{Kind: Invalid, Repo: l.display, Ref: ref, Err: err,
			Msg: fmt.Sprintf("policy repository %s is not a git repository (%s); set policy.repo to the repository's top-level directory", l.display, msg)}
	}
	return &Error{Kind: Internal, Repo: l.display, Ref: ref, Err: err,
		Msg: fmt.Sprintf("policy: read %s (ref %s): %s", l.display, ref, msg)}
}

// read resolves ref, checks the commit and reads file from its tree, all
// through the one cat-file process. With pend, what it read is stored in the
// snapshot cache for the next Load that finds the ref where it is now.
func (g *Git) read(ctx context.Context, r *runner, cf *catFile, loc repoLocation, ref, file string, signers *trustRoot, pend *pendingStore) (*Snapshot, error) {
	commit, raw, err := resolveRef(cf, ref)
	if err != nil {
		return nil, g.refError(ctx, r, loc, ref, err)
	}
	info, err := g.checkCommit(loc, ref, commit, raw)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Repo: loc.display, Ref: ref, Commit: commit, CommitTime: info.committerTime, File: file}
	if signers != nil {
		principal, fp, err := verifyCommit(info, commit, signers.lines, signers.path)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				pe.Repo, pe.Ref = loc.display, ref
			}
			return nil, err
		}
		snap.Signer, snap.SignerKey = principal, fp
	}
	snap.Data, err = readBlob(ctx, cf, loc, ref, commit, info.tree, file)
	if err != nil {
		return nil, err
	}
	if pend != nil {
		pend.store(cf, commit, raw, info, file, snap.Data)
	}
	return snap, nil
}

// checkCommit proves the bytes are the object the id names and parses them.
func (g *Git) checkCommit(loc repoLocation, ref, commit string, raw []byte) (*commitInfo, error) {
	sha256Repo := len(commit) == 64
	if objectID("commit", raw, sha256Repo) != commit {
		return nil, &Error{Kind: Internal, Repo: loc.display, Ref: ref, Commit: commit,
			Msg: fmt.Sprintf("policy commit %s in %s is corrupt: its content does not hash to its id; run git fsck", short(commit), loc.display)}
	}
	info, err := parseCommit(raw, sha256Repo)
	if err != nil {
		return nil, &Error{Kind: Invalid, Repo: loc.display, Ref: ref, Commit: commit, Err: err,
			Msg: fmt.Sprintf("policy commit %s in %s cannot be read: %v", short(commit), loc.display, err)}
	}
	return info, nil
}

func readBlob(ctx context.Context, cf *catFile, loc repoLocation, ref, commit, tree, file string) ([]byte, error) {
	objs, err := cf.query(tree + ":" + file)
	if err != nil {
		return nil, loc.gitFailure(ctx, ref, err)
	}
	o := objs[0]
	where := fmt.Sprintf("at commit %s of %s (ref %s)", short(commit), loc.display, ref)
	fix := "commit the policy file or set policy.file"
	if loc.remote {
		fix = "commit and push the policy file or set policy.file"
	}
	mk := func(kind Kind, what string) error {
		return &Error{Kind: kind, Repo: loc.display, Ref: ref, Commit: commit,
			Msg: fmt.Sprintf("policy file %s %s %s; %s", file, what, where, fix)}
	}
	switch o.typ {
	case "blob":
		return o.data, nil
	case "missing", "dangling", "notdir":
		return nil, mk(NotFound, "not found")
	case "tree":
		return nil, mk(Invalid, "is a directory")
	case "symlink":
		return nil, mk(Invalid, "is a symbolic link pointing outside the repository")
	case "loop":
		return nil, mk(Invalid, "is a symbolic link loop")
	default:
		return nil, mk(Invalid, "is a "+o.typ+", not a file,")
	}
}

// refResolution errors.
type refMissing struct{}

func (refMissing) Error() string { return "ref not found" }

type refAmbiguous struct{ names []string }

func (e refAmbiguous) Error() string { return "ref is ambiguous" }

// resolveRef finds the commit ref names. git's own resolution decides; for a
// plain name the places git looks (refs/NAME, refs/tags/NAME, refs/heads/NAME,
// refs/remotes/NAME, refs/remotes/NAME/HEAD) are asked as well in the same
// round trip, and more than one hit is refused rather than settled by git's
// precedence, which would silently prefer a tag over a branch.
func resolveRef(cf *catFile, ref string) (commit string, raw []byte, err error) {
	var cands []string
	if plainRefName(ref) {
		cands = []string{"refs/" + ref, "refs/tags/" + ref, "refs/heads/" + ref, "refs/remotes/" + ref, "refs/remotes/" + ref + "/HEAD"}
	}
	queries := make([]string, 0, len(cands)+1)
	queries = append(queries, ref+"^{commit}")
	for _, c := range cands {
		queries = append(queries, c+"^{commit}")
	}
	objs, err := cf.query(queries...)
	if err != nil {
		return "", nil, err
	}
	var hits []string
	hitOID := ""
	for i, c := range cands {
		if objs[i+1].typ == "commit" {
			hits = append(hits, c)
			hitOID = objs[i+1].oid
		}
	}
	fullID := isHexID(strings.ToLower(ref))
	if len(hits) > 1 || (len(hits) == 1 && (fullID || objs[0].oid != hitOID)) {
		if len(hits) == 1 {
			what := ref
			if fullID {
				what = "commit " + ref
			}
			hits = append([]string{what}, hits...)
		}
		return "", nil, refAmbiguous{names: hits}
	}
	switch objs[0].typ {
	case "commit":
		return objs[0].oid, objs[0].data, nil
	case "ambiguous":
		return "", nil, refAmbiguous{}
	default:
		return "", nil, refMissing{}
	}
}

// plainRefName reports whether ref is a bare name subject to git's ref
// lookup rules, rather than a full ref, a pseudo-ref or a revision expression.
func plainRefName(ref string) bool {
	if strings.HasPrefix(ref, "refs/") || strings.ContainsAny(ref, "^~:?*[\\@{} ") {
		return false
	}
	switch ref {
	case "HEAD", "FETCH_HEAD", "ORIG_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD":
		return false
	}
	return true
}

func (g *Git) refError(ctx context.Context, r *runner, loc repoLocation, ref string, err error) error {
	var amb refAmbiguous
	switch {
	case errors.As(err, &amb):
		msg := fmt.Sprintf("policy ref %s is ambiguous in %s", ref, loc.display)
		if len(amb.names) == 0 {
			return &Error{Kind: Invalid, Repo: loc.display, Ref: ref,
				Msg: msg + " (several objects have ids starting with it); set policy.ref to the full commit id"}
		}
		return &Error{Kind: Invalid, Repo: loc.display, Ref: ref,
			Msg: msg + " (it matches " + strings.Join(amb.names, " and ") + "); set policy.ref to a full ref name such as refs/heads/" + ref + " or a full commit id"}
	case errors.As(err, new(refMissing)):
		// An error path may afford a second git process for a better hint.
		out, lerr := r.run(ctx, loc.dir, loc.gitDir, nil, "for-each-ref", "--count=8", "--format=%(refname)", "refs/heads/", "refs/tags/")
		var names []string
		for _, n := range strings.Fields(string(out)) {
			n = strings.TrimPrefix(strings.TrimPrefix(n, "refs/heads/"), "refs/tags/")
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		if lerr == nil && len(names) == 0 {
			fix := "commit the policy"
			if loc.remote {
				fix = "commit and push the policy"
			}
			return &Error{Kind: NotFound, Repo: loc.display, Ref: ref,
				Msg: fmt.Sprintf("policy repository %s has no commits (no branches or tags); %s on %s", loc.display, fix, ref)}
		}
		msg := fmt.Sprintf("policy ref %s not found in %s", ref, loc.display)
		if len(names) > 0 {
			msg += " (branches and tags: " + strings.Join(names, ", ") + ")"
		}
		fix := "set policy.ref to an existing branch, tag or commit"
		if loc.remote && strings.HasPrefix(ref, "origin/") {
			fix = "name the branch as the remote does (" + strings.TrimPrefix(ref, "origin/") + "), or " + fix
		}
		return &Error{Kind: NotFound, Repo: loc.display, Ref: ref, Msg: msg + "; " + fix}
	}
	return loc.gitFailure(ctx, ref, err)
}
