package audit

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// ErrDamaged marks a refusal to append to a journal whose end does not match
// what jit last wrote there. Appending would bury the evidence, so the
// journal must be checked (`jit audit verify`) and moved aside by a person.
var ErrDamaged = errors.New("audit journal is damaged")

const (
	lockSuffix = ".lock"
	headSuffix = ".head"
	// headSlotSize and headSlots shape the head file (see Journal).
	headSlotSize = 128
	headSlots    = 2
	// maxLineBytes bounds the memory one line may take. jit's own events are
	// a few hundred bytes; a longer line is damage, not data.
	maxLineBytes = 16 << 20
)

// Journal is the local audit journal: a file of JSON Lines, one [Event] per
// line, each line chained to the one before it by a SHA-256 hash, so that
// editing, dropping, reordering or inserting lines can be detected by
// [Verify]. jit appends to it, and syncs it to disk, before it hands out
// credentials.
//
// # Format
//
// The file is UTF-8 text. Every line is one event followed by "\n" (0x0A);
// there is no header, no blank line and no "\r". A line is the canonical JSON
// of the event, and only that byte sequence is valid:
//
//   - one JSON object with no insignificant whitespace anywhere;
//   - object members sorted by key, comparing the keys' UTF-8 bytes, at
//     every level of nesting; no key twice;
//   - strings quoted as Go's encoding/json does with HTML escaping off:
//     `"` and `\` as \" and \\; the bytes 0x08, 0x0C, 0x0A, 0x0D, 0x09 as
//     \b, \f, \n, \r, \t; the other bytes below 0x20 as \u00XX with
//     lowercase hex; U+2028 and U+2029 as \u2028 and \u2029; every other
//     character, including <, >, & and non-ASCII, literally;
//   - numbers exactly as written (jit writes integers only);
//   - the members are those encoding/json writes for [Event]: optional
//     ones are absent when empty, `prev` is always present.
//
// Times (`time`, `expires_at`) are RFC 3339 strings in UTC with a "Z" suffix
// and up to nine fractional digits, trailing zeros dropped, as Go's
// time.RFC3339Nano. Verifiers need not re-format them: a time is hashed as
// the string it is.
//
// # Chain
//
// `seq` is 1 on the first line and one more on each following line. `prev` is
// the `hash` of the line before, and "" on the first line. `hash` is
//
//	lowercase hex( SHA-256( prev || canonical JSON of the event without its "hash" and "sig" members ) )
//
// where prev is the bytes of the `prev` string (64 ASCII hex digits, or
// nothing on the first line) and the JSON is the line with the `"hash":"…"`
// member (and `"sig":"…"`, if any) and their separating commas removed (it
// still contains `prev`, and `key` if any). To
// verify a journal independently: for each line, check that it is the
// canonical serialisation of what it parses to, recompute the hash this way
// and compare it with `hash`, and check that `prev` equals the previous
// line's `hash` and `seq` the previous `seq` plus one.
//
// # Signatures
//
// A journal with a [Signer] adds two members to every event: `key`, the
// signer's SSH SHA256 fingerprint ("SHA256:" and 43 base64 characters),
// which is hashed like any other member, and `sig`, the standard base64
// (with padding) Ed25519 signature of the 64 ASCII hex digits of `hash`,
// which is not. Since each hash covers every event before it, a valid
// signature on a line vouches for the whole journal up to that line.
//
// # Head
//
// Beside the journal, `<path>.head` records the seq and hash of the last
// event jit appended, so that [VerifyFile] can tell when events were cut off
// the end (the chain alone cannot). It is created before the journal, so a
// journal with events and no head was not left that way by jit.
//
// The head is 256 bytes: two slots of 128 bytes, each one line
//
//	{"hash":"<hex>","seq":<n>,"crc":"<8 hex>"}<spaces>\n
//
// where crc is the CRC-32C (Castagnoli) of the bytes before `,"crc"`. Each
// append overwrites, in place, the slot that does not hold the newest record,
// with one 128-byte write and an fdatasync; readers take the valid slot with
// the highest seq. A write torn by a crash spoils at most the slot being
// written, which its checksum exposes; the other slot then still holds an
// earlier head, which is what a crash between syncing the journal and
// writing the head leaves too, and is accepted. The next append overwrites
// the torn slot. Overwriting in place, instead of replacing the file through
// a temporary file and a rename, saves creating a file and a metadata
// journal commit on every append. A head in the earlier one-object form
// `{"hash":"…","seq":N}` is read too, and replaced atomically by the first
// append.
//
// The head guards against accidents and careless tampering only: whoever
// can rewrite the journal can rewrite the head. Copies shipped to sinks are
// what an attacker with local write access cannot reach.
//
// `<path>.lock` is the lock file that serialises appends; it stays in place.
type Journal struct {
	// Path is the journal file.
	Path string
	// Warn, if not nil, receives a one-line message each time Append repairs
	// the journal before appending: a torn last line cut off, or a missing
	// head recreated. Append then carries on.
	Warn func(msg string)
	// Now, if not nil, replaces time.Now as the time of events that have none.
	Now func() time.Time
	// Signer, if not nil, signs every event appended (its `key` and `sig`).
	Signer *Signer

	mu sync.Mutex
	// noSync skips fsync; benchmarks use it to measure everything else.
	noSync bool
}

// OpenJournal returns the journal at path. It does no I/O: the file and its
// directories are created, with modes 0600 and 0700, by the first Append.
// The file is opened anew by every Append, because a jit process appends a
// handful of events and holding it open would only go stale when the
// journal is moved aside.
func OpenJournal(path string) *Journal {
	return &Journal{Path: path}
}

// Append completes each event and appends them to the journal, in order, as
// one write, then syncs the file to disk. It fills in Schema, ID (see
// [NewID]) and Time (now) when they are empty, converts Time and ExpiresAt to
// UTC, and always sets Seq, Prev, Hash, Key and Sig (the last two empty
// unless the journal has a Signer). Nothing else is added.
//
// Appends from goroutines and from other processes are serialised by an
// exclusive lock on `<path>.lock`, so the chain never forks or interleaves.
// The previous event is found by reading the file backwards from its end.
//
// A last line without its newline is what a crash in the middle of a write
// leaves; its append never returned, so no credentials depended on it. Append
// cuts it off (and says so through Warn) rather than refusing, which would
// block every later elevation for a fault that loses nothing — unless the head
// shows that line was a completed append, in which case the end of the
// journal was tampered with and Append refuses with [ErrDamaged]. It refuses
// likewise when the head records more events than the journal holds, and it
// refuses a journal that group or others may write.
//
// When Append returns an error nothing may be relied on as recorded: the
// caller must not issue credentials. The events' fields may have been set.
func (j *Journal) Append(events ...*Event) error {
	if len(events) == 0 {
		return nil
	}
	for i, e := range events {
		if e == nil || e.Event == "" {
			return fmt.Errorf("append to audit journal: event %d has no type", i+1)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()

	dir := filepath.Dir(j.Path)
	if err := mkdirAllSync(dir, !j.noSync); err != nil {
		return fmt.Errorf("create audit journal directory: %w", err)
	}
	lock, err := os.OpenFile(j.Path+lockSuffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open audit journal lock: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := lockFile(lock, true); err != nil {
		return fmt.Errorf("lock audit journal %s: %w", j.Path, err)
	}
	return j.appendLocked(dir, events)
}

func (j *Journal) appendLocked(dir string, events []*Event) error {
	headPath := j.Path + headSuffix
	hf, err := openHead(headPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	defer hf.close()
	head, haveHead := hf.tip, hf.ok

	f, err := os.OpenFile(j.Path, os.O_RDWR|os.O_APPEND, 0)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		if haveHead && head.Seq > 0 {
			return fmt.Errorf("%w: %s is missing but %s records %d events: restore it, or move %s aside to start a new journal",
				ErrDamaged, j.Path, headPath, head.Seq, headPath)
		}
		// Head first: then a journal with events but no head cannot be
		// the result of a crash.
		if err := j.replaceHead(tip{}); err != nil {
			return err
		}
		haveHead, head = true, tip{}
		hf.close() // replaced: the next write replaces it again
		f, err = os.OpenFile(j.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		created = true
	}
	if err != nil {
		return fmt.Errorf("open audit journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	if err := checkPrivate(j.Path, fi); err != nil {
		return fmt.Errorf("refusing audit journal: %w", err)
	}

	size := fi.Size()
	lines, end, err := lastLines(f, size, 1)
	if err != nil {
		return fmt.Errorf("%w: read end of %s: %v", ErrDamaged, j.Path, err)
	}
	last := tip{}
	if len(lines) == 1 {
		if last, err = parseTip(lines[0]); err != nil {
			return fmt.Errorf("%w: last complete line of %s is not a journal event (%v): check it with `jit audit verify`",
				ErrDamaged, j.Path, err)
		}
	}
	switch {
	case !haveHead:
		if end > 0 {
			j.warn(fmt.Sprintf("audit journal head %s was missing; recreated it from the last event (seq %d)", headPath, last.Seq))
		}
	case head.Seq > last.Seq:
		return fmt.Errorf("%w: %s ends at seq %d but %s records seq %d: events were removed from its end; check it with `jit audit verify` and move both aside to start a new journal",
			ErrDamaged, j.Path, last.Seq, headPath, head.Seq)
	case head.Seq == last.Seq && head.Hash != last.Hash:
		return fmt.Errorf("%w: the last event of %s (seq %d) is not the one %s records: its end was rewritten; check it with `jit audit verify`",
			ErrDamaged, j.Path, last.Seq, headPath)
	}
	// Encoding first: an event that cannot be encoded changes nothing.
	buf, next, err := j.encode(events, last)
	if err != nil {
		return err
	}
	if end < size {
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("cut torn last line of %s: %w", j.Path, err)
		}
		j.warn(fmt.Sprintf("audit journal %s ended in an incomplete line (%d bytes) left by an interrupted write; removed it", j.Path, size-end))
	}
	if _, err := f.Write(buf); err != nil {
		// Leave no partial line for the next append to repair.
		_ = f.Truncate(end)
		return fmt.Errorf("write audit journal %s: %w", j.Path, err)
	}
	if !j.noSync {
		// fdatasync: the new size is flushed with the data; the mtime is
		// not worth a wait.
		if err := syncData(f); err != nil {
			return fmt.Errorf("sync audit journal %s: %w", j.Path, err)
		}
		if created {
			if err := syncDir(dir); err != nil {
				return err
			}
		}
	}
	return j.writeHead(hf, next)
}

// encode completes events as Append documents and returns their lines and
// the tip of the chain after them.
func (j *Journal) encode(events []*Event, last tip) ([]byte, tip, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	buf := make([]byte, 0, 512*len(events))
	for _, e := range events {
		if e.Schema == "" {
			e.Schema = Schema
		}
		if e.Time.IsZero() {
			e.Time = now()
		}
		e.Time = e.Time.UTC()
		if e.ExpiresAt != nil {
			t := e.ExpiresAt.UTC() // a copy: the caller's time stays as it was
			e.ExpiresAt = &t
		}
		if e.ID == "" {
			e.ID = NewID(e.Time)
		}
		e.Seq, e.Prev, e.Hash, e.Key, e.Sig = last.Seq+1, last.Hash, "", "", ""
		if j.Signer != nil {
			e.Key = j.Signer.Fingerprint()
		}
		tree, err := eventTree(e)
		if err != nil {
			return nil, tip{}, err
		}
		e.Hash = chainHash(e.Prev, appendCanonical(nil, tree, true))
		tree["hash"] = e.Hash
		if j.Signer != nil {
			e.Sig = j.Signer.sign(e.Hash)
			tree["sig"] = e.Sig
		}
		buf = append(appendCanonical(buf, tree, false), '\n')
		last = tip{Seq: e.Seq, Hash: e.Hash}
	}
	return buf, last, nil
}

func (j *Journal) warn(msg string) {
	if j.Warn != nil {
		j.Warn(msg)
	}
}

// mkdirAllSync creates dir and its missing parents with mode 0700 and, if
// sync, syncs each parent, so that a new directory survives a crash along
// with the file created in it.
func mkdirAllSync(dir string, sync bool) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSync(parent, sync); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if sync {
		return syncDir(parent)
	}
	return nil
}

// tip identifies the last event of a chain; the zero tip is an empty journal.
type tip struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func (t tip) valid() bool {
	if t.Seq == 0 {
		return t.Hash == ""
	}
	return isHash(t.Hash)
}

// parseTip reads the seq and hash of a journal line.
func parseTip(line []byte) (tip, error) {
	var t tip
	if err := json.Unmarshal(line, &t); err != nil {
		return tip{}, err
	}
	if t.Seq == 0 || !t.valid() {
		return tip{}, errors.New("no valid seq and hash")
	}
	return t, nil
}

// headFile is an open head file and the head it holds.
type headFile struct {
	// f is open for reading and writing; nil when the head does not exist
	// or cannot be written in place.
	f *os.File
	// tip is the head; ok is false when there is no head file.
	tip tip
	ok  bool
	// slot holds tip; -1 when the file is not in the two-slot form.
	slot int
}

func (h *headFile) close() {
	if h.f != nil {
		_ = h.f.Close()
		h.f = nil
	}
}

// openHead opens and reads `<journal>.head`, keeping it open for writing.
func openHead(path string) (*headFile, error) {
	h := &headFile{slot: -1}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	writable := err == nil
	if errors.Is(err, fs.ErrPermission) {
		// Readable but not writable: read it now, replace it on write.
		f, err = os.Open(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal head: %w", err)
	}
	if h.tip, h.slot, err = readHeadFrom(f, path); err != nil {
		f.Close()
		return nil, err
	}
	h.ok = true
	if writable {
		// Written in place, a head others may write would stay so;
		// replaced, it gets mode 0600 like a new one.
		fi, err := f.Stat()
		writable = err == nil && checkPrivate(path, fi) == nil
	}
	if writable {
		h.f = f
	} else {
		f.Close()
	}
	return h, nil
}

// readHead reads `<journal>.head`; ok is false when there is none.
func readHead(path string) (h tip, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tip{}, false, nil
	}
	if err != nil {
		return tip{}, false, fmt.Errorf("read journal head: %w", err)
	}
	defer f.Close()
	h, _, err = readHeadFrom(f, path)
	return h, err == nil, err
}

func readHeadFrom(f *os.File, path string) (tip, int, error) {
	// ReadAt: the file is read twice when Append falls back to replacing it.
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return tip{}, -1, fmt.Errorf("read journal head: %w", err)
	}
	h, slot, err := parseHead(buf[:n])
	if err != nil {
		return tip{}, -1, fmt.Errorf("journal head %s %v", path, err)
	}
	return h, slot, nil
}

// parseHead reads a head file's content: two slots, or the earlier
// one-object form. slot is the slot the head came from, -1 for the earlier
// form. Errors complete the sentence "journal head <path> …".
func parseHead(data []byte) (h tip, slot int, err error) {
	if len(data) == headSlotSize*headSlots {
		slot = -1
		for i := range headSlots {
			t, ok := parseSlot(data[i*headSlotSize : (i+1)*headSlotSize])
			if ok && (slot < 0 || t.Seq > h.Seq) {
				h, slot = t, i
			}
		}
		if slot < 0 {
			return tip{}, -1, errors.New("has no slot with a valid checksum")
		}
		return h, slot, nil
	}
	var raw struct {
		Seq  *uint64 `json:"seq"`
		Hash *string `json:"hash"`
	}
	if err := json.Unmarshal(data, &raw); err != nil || raw.Seq == nil || raw.Hash == nil {
		return tip{}, -1, errors.New("is not {\"hash\":…,\"seq\":…}")
	}
	h = tip{Seq: *raw.Seq, Hash: *raw.Hash}
	if !h.valid() {
		return tip{}, -1, errors.New("holds no valid seq and hash")
	}
	return h, -1, nil
}

// appendSlot appends the head slot recording t: exactly headSlotSize bytes.
func appendSlot(b []byte, t tip) []byte {
	start := len(b)
	b = append(b, `{"hash":"`...)
	b = append(b, t.Hash...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, t.Seq, 10)
	sum := crc32.Checksum(b[start:], crc32.MakeTable(crc32.Castagnoli))
	b = append(b, `,"crc":"`...)
	b = fmt.Appendf(b, "%08x", sum)
	b = append(b, `"}`...)
	for len(b)-start < headSlotSize-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// parseSlot reads one slot. Only the exact bytes appendSlot writes are
// valid, so any torn mixture of two records fails the checksum.
func parseSlot(b []byte) (tip, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"hash":"`))
	if !ok {
		return tip{}, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return tip{}, false
	}
	t := tip{Hash: string(rest[:i])}
	rest, ok = bytes.CutPrefix(rest[i:], []byte(`","seq":`))
	if !ok {
		return tip{}, false
	}
	i = bytes.IndexByte(rest, ',')
	if i < 0 {
		return tip{}, false
	}
	seq, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return tip{}, false
	}
	t.Seq = seq
	if !t.valid() || !bytes.Equal(appendSlot(nil, t), b) {
		return tip{}, false
	}
	return t, true
}

// writeHead records h as the new head: in place, in the slot that does not
// hold the current head, when the head file is in the two-slot form and
// open; otherwise by replacing the file.
func (j *Journal) writeHead(hf *headFile, h tip) error {
	if hf.f == nil || hf.slot < 0 {
		return j.replaceHead(h)
	}
	path := j.Path + headSuffix
	slot := 1 - hf.slot
	if _, err := hf.f.WriteAt(appendSlot(nil, h), int64(slot*headSlotSize)); err != nil {
		return fmt.Errorf("write journal head %s: %w", path, err)
	}
	if !j.noSync {
		if err := syncData(hf.f); err != nil {
			return fmt.Errorf("sync journal head %s: %w", path, err)
		}
	}
	return nil
}

// replaceHead replaces the head file atomically with one holding h in both
// slots, so a crash leaves the old or the new file and never a torn one.
// Append uses it to create the head and to convert a head of the earlier
// form.
func (j *Journal) replaceHead(h tip) error {
	path := j.Path + headSuffix
	tmp := path + ".tmp"
	// A stale temporary file could carry a wider mode that O_TRUNC would keep.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write journal head: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write journal head: %w", err)
	}
	data := appendSlot(appendSlot(make([]byte, 0, headSlotSize*headSlots), h), h)
	_, err = f.Write(data)
	if err == nil && !j.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write journal head %s: %w", path, err)
	}
	return nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lastLines returns the last n complete lines (oldest first, without their
// newlines) among the first size bytes of r, reading backwards from the end
// in growing chunks, and end: the offset just past the last complete line,
// which is less than size when a torn line (no newline) follows it.
func lastLines(r io.ReaderAt, size int64, n int) (lines [][]byte, end int64, err error) {
	var buf []byte // bytes [off, size) of r
	off := size
	newlines := 0
	partial := 0 // bytes at the start of buf before its first newline
	chunk := int64(4096)
	// n complete lines need n+1 newlines (the one before the first), or the
	// start of the file.
	for off > 0 && newlines <= n {
		c := min(chunk, off)
		off -= c
		b := make([]byte, c, c+int64(len(buf)))
		if _, err := r.ReadAt(b, off); err != nil {
			return nil, 0, err
		}
		newlines += bytes.Count(b, []byte{'\n'})
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			partial = i
		} else {
			partial += len(b)
		}
		if partial > maxLineBytes {
			return nil, 0, fmt.Errorf("a line ending before offset %d is longer than %d bytes", size, maxLineBytes)
		}
		buf = append(b, buf...)
		chunk = min(chunk*2, 1<<20)
	}
	body := buf[:bytes.LastIndexByte(buf, '\n')+1]
	end = off + int64(len(body))
	for len(lines) < n && len(body) > 0 {
		body = body[:len(body)-1]
		i := bytes.LastIndexByte(body, '\n')
		if i < 0 && off > 0 {
			break // cannot happen: the loop above read the newline before it
		}
		lines = append(lines, body[i+1:])
		body = body[:i+1]
	}
	slices.Reverse(lines)
	return lines, end, nil
}

// Tail returns the last n events of the journal at path, oldest first, or all
// of them when n ≤ 0. It reads backwards from the end, so a small n costs the
// same on any journal. A torn last line (an append in progress or
// interrupted) is skipped; a journal that does not exist has no events. Tail
// does not verify the chain: use [VerifyFile] for that.
func Tail(path string, n int) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read audit journal: %w", err)
	}
	if n <= 0 {
		n = math.MaxInt
	}
	lines, _, err := lastLines(f, fi.Size(), n)
	if err != nil {
		return nil, fmt.Errorf("read audit journal %s: %w", path, err)
	}
	events := make([]Event, len(lines))
	for i, line := range lines {
		if err := json.Unmarshal(line, &events[i]); err != nil {
			return nil, fmt.Errorf("read audit journal %s: line %d from the end is not an event: %v (check it with `jit audit verify`)",
				path, len(lines)-i, err)
		}
	}
	return events, nil
}

// NewID returns a fresh identifier for an event or a request: 26 characters
// of Crockford base32, like a ULID, holding the millisecond of t and 80 random
// bits from crypto/rand. Ids of different milliseconds sort by time.
func NewID(t time.Time) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [16]byte
	ms := uint64(max(t.UnixMilli(), 0))
	binary.BigEndian.PutUint64(b[:8], ms<<16) // 48 bits of time in b[0:6]
	_, _ = rand.Read(b[6:])                   // never fails (Go ≥ 1.24)
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// JournalID names a journal: the first 16 hex digits of the hash of its
// first event. Copies of one journal shipped from many machines to one place
// (an S3 prefix) are kept apart by it; it never changes for a journal.
func JournalID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, maxLineBytes)).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return "", fmt.Errorf("journal %s has no events", path)
	}
	var first struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(line), &first); err != nil || first.Seq != 1 || len(first.Hash) < 16 {
		return "", fmt.Errorf("journal %s does not start with its first event", path)
	}
	return first.Hash[:16], nil
}
