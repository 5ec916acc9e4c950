package policysource

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// refStore reads the refs of a git directory without running git, for the
// common layouts only: loose ref files and packed-refs of a SHA-1 repository
// with the files backend. Whatever it cannot answer exactly as git would, it
// declines (ok false), and the caller asks git.
//
// It never decides on its own that an object is a commit: it only names the
// object a ref points to. The snapshot cache, whose entries are proven to be
// commits by their hash, is what turns that name into a commit.
type refStore struct {
	gitDir     string
	packed     []byte
	packedRead bool
}

// maxLooseRef bounds a loose ref file: an id or "ref: <name>" and a newline.
const maxLooseRef = 4096

// openRefStore returns a reader of gitDir's refs, or ok false when the git
// directory is anything but a plain one jit reads the way git does: a .git
// file (worktree, submodule), a linked worktree's directory (its refs live
// partly elsewhere), reftable, any repository extension (SHA-256 object
// format, ref storage, …), an unknown repository format, or alternates.
func openRefStore(gitDir string) (*refStore, bool) {
	st, err := os.Stat(gitDir)
	if err != nil || !st.IsDir() {
		return nil, false
	}
	if !isFile(filepath.Join(gitDir, "HEAD")) {
		return nil, false
	}
	for _, name := range []string{"commondir", "reftable", filepath.Join("objects", "info", "alternates")} {
		if _, err := os.Lstat(filepath.Join(gitDir, name)); !isAbsent(err) {
			return nil, false
		}
	}
	cfg, err := os.ReadFile(filepath.Join(gitDir, "config"))
	if err != nil && !isAbsent(err) {
		return nil, false
	}
	if !plainRepoConfig(cfg) {
		return nil, false
	}
	return &refStore{gitDir: gitDir}, true
}

// plainRepoConfig reports whether a repository's config declares nothing
// that changes how refs or object ids are read: no [extensions] at all (a
// substring check, so a mention in a comment also declines, which is only
// slower) and a repositoryformatversion of 0 or 1. git reads both from this
// file alone, without following includes.
func plainRepoConfig(cfg []byte) bool {
	lower := bytes.ToLower(cfg)
	if bytes.Contains(lower, []byte("extensions")) {
		return false
	}
	for _, line := range bytes.Split(lower, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte("="))
		if !bytes.Contains(k, []byte("repositoryformatversion")) {
			continue
		}
		if !ok {
			return false
		}
		if v = bytes.TrimSpace(v); !bytes.Equal(v, []byte("0")) && !bytes.Equal(v, []byte("1")) {
			return false
		}
	}
	return true
}

func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func isFile(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.Mode().IsRegular()
}

// resolve names the object ref points to, with resolveRef's rules: a full
// commit id is itself unless a ref of that name exists; a plain name must
// match exactly one of refs/NAME, refs/tags/NAME, refs/heads/NAME,
// refs/remotes/NAME, refs/remotes/NAME/HEAD (two matches are ambiguous and
// left to git, which refuses them with its message); a full "refs/…" name
// is itself. Everything else (short ids, revision expressions, HEAD, names
// git might find directly in the git directory) is declined.
//
// For an annotated tag the packed-refs file records the commit it peels to,
// and that is returned; a loose tag ref yields the tag object's id, which the
// snapshot cache never holds, so git is asked.
func (s *refStore) resolve(ref string) (oid string, ok bool) {
	lower := strings.ToLower(ref)
	if isHexID(lower) {
		if len(lower) != 40 {
			return "", false
		}
		if !validRefName("refs/heads/" + ref) {
			return "", false
		}
		for _, c := range refCandidates(ref) {
			_, found, ok := s.lookup(c, 0)
			if !ok || found {
				return "", false
			}
		}
		return lower, true
	}
	if strings.HasPrefix(ref, "refs/") {
		if !validRefName(ref) {
			return "", false
		}
		oid, found, ok := s.lookup(ref, 0)
		return oid, ok && found
	}
	if !plainRefName(ref) || !validRefName("refs/heads/"+ref) {
		return "", false
	}
	// git's own lookup tries the name inside the git directory first.
	if _, err := os.Lstat(filepath.Join(s.gitDir, filepath.FromSlash(ref))); !isAbsent(err) {
		return "", false
	}
	n := 0
	for _, c := range refCandidates(ref) {
		id, found, ok := s.lookup(c, 0)
		if !ok {
			return "", false
		}
		if found {
			n++
			oid = id
		}
	}
	if n != 1 {
		return "", false
	}
	return oid, true
}

// refCandidates are the places git's lookup tries for a plain name, as
// resolveRef asks them.
func refCandidates(ref string) []string {
	return []string{"refs/" + ref, "refs/tags/" + ref, "refs/heads/" + ref, "refs/remotes/" + ref, "refs/remotes/" + ref + "/HEAD"}
}

// maxSymrefDepth is git's limit on chains of symbolic refs.
const maxSymrefDepth = 5

// lookup reads one full ref name: the loose file if there is one, else the
// packed-refs entry. found is false when the ref does not exist; ok is false
// when jit cannot tell for sure.
func (s *refStore) lookup(name string, depth int) (oid string, found, ok bool) {
	p := filepath.Join(s.gitDir, filepath.FromSlash(name))
	st, err := os.Lstat(p)
	switch {
	case isAbsent(err):
	case err != nil:
		return "", false, false
	case st.IsDir():
		// git reads a directory where a ref would be as no loose ref.
	case !st.Mode().IsRegular() || st.Size() > maxLooseRef:
		// A symlink is an old-style symbolic ref; git handles those.
		return "", false, false
	default:
		data, err := os.ReadFile(p)
		if err != nil {
			return "", false, false
		}
		if target, isSym := bytes.CutPrefix(data, []byte("ref:")); isSym {
			t := strings.TrimSpace(string(target))
			if depth >= maxSymrefDepth || !strings.HasPrefix(t, "refs/") || !validRefName(t) {
				return "", false, false
			}
			return s.lookup(t, depth+1)
		}
		id := strings.TrimSuffix(string(data), "\n")
		if len(id) != 40 || !isLowerHex(id) {
			return "", false, false
		}
		return id, true, true
	}
	// Read lazily, and only after the loose ref was found missing: git packs
	// a ref by writing packed-refs first and deleting the loose file after,
	// so this order never misses a ref being packed.
	if !s.packedRead {
		s.packedRead = true
		data, err := os.ReadFile(filepath.Join(s.gitDir, "packed-refs"))
		switch {
		case isAbsent(err):
		case err != nil:
			return "", false, false
		default:
			s.packed = data
		}
	}
	if s.packed == nil {
		return "", false, true
	}
	var hit, peel string
	seen := 0
	err = parsePackedRefs(s.packed, func(ref, id, peeled string) {
		if ref == name {
			seen++
			hit, peel = id, peeled
		}
	})
	if err != nil || seen > 1 {
		return "", false, false
	}
	if seen == 0 {
		return "", false, true
	}
	if peel != "" {
		return peel, true, true
	}
	return hit, true, true
}

// parsePackedRefs calls fn for each ref of a packed-refs file, with the id it
// names and, when the file records it (an annotated tag), the id it peels to,
// else "". It rejects what git rejects (a header not "# pack-refs with:", an
// unterminated line, a peeled line that follows no ref) and what jit does not
// read (uppercase ids, SHA-256 ids, ref names git would flag as bad), so that
// the caller asks git instead.
func parsePackedRefs(data []byte, fn func(name, oid, peeled string)) error {
	if len(data) > 0 && data[0] == '#' {
		eol := bytes.IndexByte(data, '\n')
		if eol < 0 {
			return errors.New("packed-refs: unterminated header")
		}
		if !bytes.HasPrefix(data, []byte("# pack-refs with:")) {
			return errors.New("packed-refs: unknown header")
		}
		data = data[eol+1:]
	}
	var pendName, pendID string
	pending := false
	for len(data) > 0 {
		eol := bytes.IndexByte(data, '\n')
		if eol < 0 {
			return errors.New("packed-refs: unterminated line")
		}
		line := data[:eol]
		data = data[eol+1:]
		if len(line) > 0 && line[0] == '^' {
			id := string(line[1:])
			if !pending || len(id) != 40 || !isLowerHex(id) {
				return fmt.Errorf("packed-refs: unexpected line %q", truncate(string(line), 80))
			}
			fn(pendName, pendID, id)
			pending = false
			continue
		}
		if pending {
			fn(pendName, pendID, "")
			pending = false
		}
		if len(line) < 42 || line[40] != ' ' {
			return fmt.Errorf("packed-refs: unexpected line %q", truncate(string(line), 80))
		}
		id, name := string(line[:40]), string(line[41:])
		if !isLowerHex(id) || !strings.HasPrefix(name, "refs/") || !validRefName(name) {
			return fmt.Errorf("packed-refs: unexpected line %q", truncate(string(line), 80))
		}
		pendName, pendID, pending = name, id, true
	}
	if pending {
		fn(pendName, pendID, "")
	}
	return nil
}

// validRefName is git's check_refname_format for a full ref name, narrowed
// to printable ASCII so that a name maps to one file on every filesystem.
func validRefName(name string) bool {
	if name == "" || name == "@" || strings.HasSuffix(name, ".") || strings.Contains(name, "@{") {
		return false
	}
	for _, comp := range strings.Split(name, "/") {
		if comp == "" || comp[0] == '.' || strings.HasSuffix(comp, ".lock") {
			return false
		}
	}
	if strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("~^:?*[\\", c) >= 0 {
			return false
		}
	}
	return true
}
