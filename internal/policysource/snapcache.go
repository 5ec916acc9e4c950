package policysource

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The snapshot cache keeps what a commit yields so that a Load whose ref
// still names the same object runs no git process. Objects never change, so
// an entry never goes stale; the ref, read from the repository on every Load,
// decides which object is wanted.
//
// An entry is not trusted: it holds the raw objects from the one the ref
// names to the policy file (annotated tags, the commit, the trees along the
// path), and a read checks the whole chain by hashing (target id → tag → … →
// commit → tree → … → blob id → bytes), then checks the commit's signature
// again when one is required. An entry that was edited, truncated or written
// for another key is ignored, and the git path rewrites it.
//
// Entries live in <CacheDir>/snapshots/<sha256(key)>.snap, keyed by the
// repository's git directory, the object the ref names, the file and the
// content hash of allowed_signers ("" when unsigned).
type snapshotCache struct {
	dir     string // <CacheDir>/snapshots
	repo    string // the git directory, which identifies the repository
	signers string // hex sha256 of the allowed_signers file, "" when unsigned
}

const (
	// maxSnapshots bounds the cache; past it the oldest entries go.
	maxSnapshots = 256
	// maxSnapshotFile bounds what is read of an entry: the policy and the
	// objects it takes to prove it.
	maxSnapshotFile = 2 * maxPolicySize
	// maxTagChain bounds the annotated tags (of tags) a target peels through.
	maxTagChain = 5
)

// snapshotEntry is one cached snapshot.
type snapshotEntry struct {
	Key string
	// Target is the object the ref named: the commit, or an annotated tag
	// whose raw object (and those of any tags it points to) is in Tags.
	Target string
	Tags   [][]byte
	Commit string
	File   string
	// CommitObject is the raw commit, Trees the raw trees from the root to
	// the directory holding File.
	CommitObject []byte
	Trees        [][]byte
	BlobID       string
	Data         []byte
}

// snapshotMagic starts every entry file; the digit is the format version.
const snapshotMagic = "jit policy snapshot 1\n"

// encode lays the entry out as snapshotMagic followed by length-prefixed
// fields (uvarint lengths): key, target, commit, file, commit object, blob
// id, data, then the tags and the trees, each list as a count and its items.
// A binary layout because decoding JSON was most of the cost of a cached Load.
func (e *snapshotEntry) encode() []byte {
	n := len(snapshotMagic) + 9*binary.MaxVarintLen64 + len(e.Key) + len(e.Target) + len(e.Commit) + len(e.File) + len(e.CommitObject) + len(e.BlobID) + len(e.Data)
	for _, t := range slices.Concat(e.Tags, e.Trees) {
		n += binary.MaxVarintLen64 + len(t)
	}
	out := make([]byte, 0, n)
	out = append(out, snapshotMagic...)
	field := func(b []byte) {
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	for _, f := range [][]byte{[]byte(e.Key), []byte(e.Target), []byte(e.Commit), []byte(e.File), e.CommitObject, []byte(e.BlobID), e.Data} {
		field(f)
	}
	for _, list := range [][][]byte{e.Tags, e.Trees} {
		out = binary.AppendUvarint(out, uint64(len(list)))
		for _, b := range list {
			field(b)
		}
	}
	return out
}

var errBadSnapshot = errors.New("malformed snapshot entry")

// decodeSnapshot reads what encode wrote; the byte slices alias data.
func decodeSnapshot(data []byte) (*snapshotEntry, error) {
	rest, ok := bytes.CutPrefix(data, []byte(snapshotMagic))
	if !ok {
		return nil, errBadSnapshot
	}
	// uvarint reads a length in its shortest form, so that an entry has one
	// encoding.
	uvarint := func() (uint64, int) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || k != len(binary.AppendUvarint(nil, n)) {
			return 0, 0
		}
		return n, k
	}
	field := func() ([]byte, error) {
		n, k := uvarint()
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errBadSnapshot
		}
		b := rest[k : k+int(n) : k+int(n)]
		rest = rest[k+int(n):]
		return b, nil
	}
	var f [7][]byte
	for i := range f {
		b, err := field()
		if err != nil {
			return nil, err
		}
		f[i] = b
	}
	e := &snapshotEntry{Key: string(f[0]), Target: string(f[1]), Commit: string(f[2]), File: string(f[3]),
		CommitObject: f[4], BlobID: string(f[5]), Data: f[6]}
	for _, list := range []*[][]byte{&e.Tags, &e.Trees} {
		n, k := uvarint()
		// Each item takes at least one byte, which bounds the count.
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errBadSnapshot
		}
		rest = rest[k:]
		*list = make([][]byte, n)
		for i := range *list {
			b, err := field()
			if err != nil {
				return nil, err
			}
			(*list)[i] = b
		}
	}
	if len(rest) != 0 {
		return nil, errBadSnapshot
	}
	return e, nil
}

// snapshotCache returns the cache for loc, or nil when there is no cache
// directory to use.
func (g *Git) snapshotCache(loc repoLocation, signers *trustRoot) *snapshotCache {
	dir := g.CacheDir
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil
		}
		dir = d
	}
	c := &snapshotCache{dir: filepath.Join(dir, "snapshots"), repo: loc.gitDir}
	if signers != nil {
		c.signers = signers.sum
	}
	return c
}

// key names the entry of target and file in this repository under this
// trust root.
func (c *snapshotCache) key(target, file string) string {
	h := sha256.New()
	for _, part := range []string{snapshotMagic, c.repo, target, file, c.signers} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *snapshotCache) path(key string) string { return filepath.Join(c.dir, key+".snap") }

// pendingStore is a snapshot cache miss whose ref was resolved in-process:
// what git reads next is worth keeping for the next Load.
type pendingStore struct {
	c      *snapshotCache
	target string
}

// fromCache serves a Load from the snapshot cache without running git. It
// returns nil when it cannot, and then, when the ref resolved in-process, what
// the git path should store.
func (g *Git) fromCache(c *snapshotCache, loc repoLocation, ref, file string, signers *trustRoot) (*Snapshot, *pendingStore) {
	if c == nil {
		return nil, nil
	}
	rs, ok := openRefStore(loc.gitDir)
	if !ok {
		return nil, nil
	}
	target, ok := rs.resolve(ref)
	if !ok {
		return nil, nil
	}
	snap, err := c.load(loc, ref, target, file, signers)
	if err != nil {
		return nil, &pendingStore{c: c, target: target}
	}
	return snap, nil
}

// load reads and checks the entry for target and file.
func (c *snapshotCache) load(loc repoLocation, ref, target, file string, signers *trustRoot) (*Snapshot, error) {
	key := c.key(target, file)
	raw, err := readSnapshotFile(c.path(key))
	if err != nil {
		return nil, err
	}
	e, err := decodeSnapshot(raw)
	if err != nil {
		return nil, err
	}
	if e.Key != key || e.Target != target || e.File != file {
		return nil, errors.New("snapshot entry is for another key")
	}
	info, err := checkSnapshot(e)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Repo: loc.display, Ref: ref, Commit: e.Commit, CommitTime: info.committerTime, File: file, Data: e.Data}
	if signers != nil {
		// Same check as on the git path, over the same proven bytes: an
		// entry cannot vouch for a signature by itself.
		snap.Signer, snap.SignerKey, err = verifyCommit(info, e.Commit, signers.lines, signers.path)
		if err != nil {
			return nil, err
		}
	}
	return snap, nil
}

func readSnapshotFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSnapshotFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSnapshotFile {
		return nil, errTooLarge
	}
	return data, nil
}

// checkSnapshot proves that e.Data is the file e.File of the commit e.Target
// names: the blob id is the hash of the bytes, each tag hashes to the id
// naming it and names the next object, the commit object hashes to the
// commit id, and each tree hashes to the id its parent (or the commit) names.
func checkSnapshot(e *snapshotEntry) (*commitInfo, error) {
	if len(e.Commit) != 40 || !isLowerHex(e.Commit) {
		return nil, errors.New("snapshot entry has no SHA-1 commit id")
	}
	if len(e.Data) > maxPolicySize {
		return nil, errTooLarge
	}
	if objectID("blob", e.Data, false) != e.BlobID {
		return nil, errors.New("snapshot entry's bytes do not hash to its blob id")
	}
	if err := peelTags(e.Target, e.Tags, e.Commit); err != nil {
		return nil, err
	}
	if objectID("commit", e.CommitObject, false) != e.Commit {
		return nil, errors.New("snapshot entry's commit object does not hash to its commit id")
	}
	info, err := parseCommit(e.CommitObject, false)
	if err != nil {
		return nil, err
	}
	blob, err := walkTrees(info.tree, e.Trees, strings.Split(e.File, "/"))
	if err != nil {
		return nil, err
	}
	if blob != e.BlobID {
		return nil, errors.New("snapshot entry's trees name another blob")
	}
	return info, nil
}

// peelTags checks that target reaches commit through tags, the raw annotated
// tag objects in order (none when target is the commit itself), as git's
// target^{commit} does.
func peelTags(target string, tags [][]byte, commit string) error {
	if len(tags) > maxTagChain {
		return errors.New("snapshot entry has too many tags")
	}
	want := target
	for i, tag := range tags {
		if objectID("tag", tag, false) != want {
			return errors.New("snapshot entry's tag does not hash to its id")
		}
		obj, typ, err := parseTagHeader(tag)
		if err != nil {
			return err
		}
		last := i == len(tags)-1
		if last && typ != "commit" || !last && typ != "tag" {
			return fmt.Errorf("snapshot entry's tag points to a %s", typ)
		}
		want = obj
	}
	if want != commit {
		return errors.New("snapshot entry's target does not lead to its commit")
	}
	return nil
}

// parseTagHeader reads the first two lines of a raw tag object, "object
// <id>" and "type <type>", as git's parse_tag_buffer does.
func parseTagHeader(raw []byte) (object, typ string, err error) {
	line1, rest, ok1 := bytes.Cut(raw, []byte("\n"))
	line2, _, ok2 := bytes.Cut(rest, []byte("\n"))
	obj, okObj := bytes.CutPrefix(line1, []byte("object "))
	t, okType := bytes.CutPrefix(line2, []byte("type "))
	if !ok1 || !ok2 || !okObj || !okType || len(obj) != 40 || !isLowerHex(string(obj)) {
		return "", "", errors.New("malformed tag object")
	}
	return string(obj), string(t), nil
}

// walkTrees follows path (split into its components) from the tree with id
// root through trees, which must be the raw trees from the root to the
// file's directory, each hashing to the id the previous one names. The file
// must be a regular file: anything else (symlink, submodule, directory) is
// left to git. It returns the blob id.
func walkTrees(root string, trees [][]byte, path []string) (string, error) {
	if len(trees) != len(path) {
		return "", errors.New("snapshot entry has the wrong number of trees")
	}
	want := root
	for i, name := range path {
		if objectID("tree", trees[i], false) != want {
			return "", errors.New("snapshot entry's tree does not hash to its id")
		}
		mode, id, err := findTreeEntry(trees[i], name)
		if err != nil {
			return "", err
		}
		if i < len(path)-1 {
			if mode != "40000" {
				return "", fmt.Errorf("%s is not a directory", name)
			}
			want = id
			continue
		}
		if mode != "100644" && mode != "100755" {
			return "", fmt.Errorf("%s is not a regular file", name)
		}
		return id, nil
	}
	return "", errors.New("empty path")
}

// findTreeEntry finds name in a raw SHA-1 tree object ("<mode> <name>\0<20
// bytes id>" entries) and returns its mode and hex id. The whole tree is
// checked, and a name occurring twice is refused rather than guessed at.
func findTreeEntry(tree []byte, name string) (mode, id string, err error) {
	found := false
	for len(tree) > 0 {
		sp := bytes.IndexByte(tree, ' ')
		if sp <= 0 {
			return "", "", errors.New("malformed tree")
		}
		m := tree[:sp]
		for _, c := range m {
			if c < '0' || c > '7' {
				return "", "", errors.New("malformed tree mode")
			}
		}
		nul := bytes.IndexByte(tree[sp+1:], 0)
		if nul <= 0 {
			return "", "", errors.New("malformed tree entry name")
		}
		n := tree[sp+1 : sp+1+nul]
		rest := tree[sp+1+nul+1:]
		if len(rest) < 20 {
			return "", "", errors.New("truncated tree")
		}
		if string(n) == name {
			if found {
				return "", "", fmt.Errorf("tree names %s twice", name)
			}
			found, mode, id = true, string(m), hex.EncodeToString(rest[:20])
		}
		tree = rest[20:]
	}
	if !found {
		return "", "", fmt.Errorf("%s not in tree", name)
	}
	return mode, id, nil
}

// store writes the entry for a snapshot the git path just read, reading the
// tags from the target and the trees along the file's path through cf. It
// writes nothing when what git answered cannot be proven the way a read
// proves it: the ref moved meanwhile, or the file is reached through an
// in-tree symlink, say. A failure only costs the next Load its speed, so it
// is not reported.
func (p *pendingStore) store(cf *catFile, commit string, raw []byte, info *commitInfo, file string, data []byte) {
	if len(commit) != 40 {
		return
	}
	e := snapshotEntry{Key: p.c.key(p.target, file), Target: p.target, Commit: commit, File: file,
		CommitObject: raw, BlobID: objectID("blob", data, false), Data: data}
	for next := p.target; next != commit; {
		if len(e.Tags) == maxTagChain {
			return
		}
		objs, err := cf.query(next)
		if err != nil || objs[0].typ != "tag" {
			return
		}
		e.Tags = append(e.Tags, objs[0].data)
		if next, _, err = parseTagHeader(objs[0].data); err != nil {
			return
		}
	}
	path := strings.Split(file, "/")
	names := make([]string, len(path))
	names[0] = info.tree
	for i := 1; i < len(path); i++ {
		names[i] = info.tree + ":" + strings.Join(path[:i], "/")
	}
	objs, err := cf.query(names...)
	if err != nil {
		return
	}
	for _, o := range objs {
		if o.typ != "tree" {
			return
		}
		e.Trees = append(e.Trees, o.data)
	}
	// The entry must prove what git just answered, or it is not written.
	if _, err := checkSnapshot(&e); err != nil {
		return
	}
	_ = p.c.write(&e)
}

func (c *snapshotCache) write(e *snapshotEntry) error {
	out := e.encode()
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, ".snapshot-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(out)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), c.path(e.Key))
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return werr
	}
	c.prune()
	return nil
}

// prune removes the oldest entries beyond maxSnapshots, down to three
// quarters of it so that it does not run on every write.
func (c *snapshotCache) prune() {
	entries, err := os.ReadDir(c.dir)
	if err != nil || len(entries) <= maxSnapshots {
		return
	}
	type aged struct {
		name string
		mod  int64
	}
	var files []aged
	for _, de := range entries {
		if !strings.HasSuffix(de.Name(), ".snap") {
			continue
		}
		if info, err := de.Info(); err == nil {
			files = append(files, aged{de.Name(), info.ModTime().UnixNano()})
		}
	}
	if len(files) <= maxSnapshots {
		return
	}
	slices.SortFunc(files, func(a, b aged) int { return cmp.Compare(a.mod, b.mod) })
	for _, f := range files[:len(files)-maxSnapshots*3/4] {
		_ = os.Remove(filepath.Join(c.dir, f.name))
	}
}
