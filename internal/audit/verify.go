package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// Kind names what is wrong with a line of a journal.
type Kind string

// The kinds of problem Verify reports.
const (
	// KindMalformed: not a JSON object with a valid seq, prev and hash, an
	// empty line, or a line too long to be an event.
	KindMalformed Kind = "malformed"
	// KindNotCanonical: the line parses, but its bytes are not the canonical
	// serialisation of what it parses to (whitespace, key order, escaping,
	// a repeated key), so it was not written by jit as it is.
	KindNotCanonical Kind = "not canonical"
	// KindEdited: the hash does not match the line's content.
	KindEdited Kind = "edited"
	// KindDropped: seq skips numbers; the events between are missing.
	KindDropped Kind = "dropped"
	// KindReordered: an event appears after one with a higher seq.
	KindReordered Kind = "reordered"
	// KindDuplicated: the line repeats an earlier one.
	KindDuplicated Kind = "duplicated"
	// KindBrokenLink: prev is not the hash of the event before, or the seq
	// of a line that links correctly was changed: a line was inserted or
	// replaced with a recomputed hash.
	KindBrokenLink Kind = "broken link"
	// KindTorn: the last line has no newline.
	KindTorn Kind = "torn"
	// KindTruncated: the head records more events than the journal holds.
	KindTruncated Kind = "truncated"
	// KindHead: the head file is missing, unreadable or names another event.
	KindHead Kind = "head"
	// KindUnsigned: a line lacks a signature although it should have one:
	// it has a `key` but no `sig` (the signature was removed), or, when
	// keys are given, it follows a signed line or no line is signed.
	KindUnsigned Kind = "unsigned"
	// KindBadSignature: `sig` is malformed, has no `key`, or does not
	// verify against the hash with the key it names.
	KindBadSignature Kind = "bad signature"
	// KindUnknownKey: the line is signed by a key that is not among those
	// given.
	KindUnknownKey Kind = "unknown key"
)

// MaxProblems caps Report.Problems; further problems are only counted.
const MaxProblems = 100

// Problem is one break found by Verify.
type Problem struct {
	// Line is the 1-based line of the journal, or 0 for the journal as a
	// whole (its head).
	Line int `json:"line"`
	// Seq is the seq the line claims, when it has one.
	Seq  uint64 `json:"seq,omitempty"`
	Kind Kind   `json:"kind"`
	Msg  string `json:"message"`
}

// String renders p as one line, e.g.
// "line 7: dropped: seq 9 follows seq 7: 1 event missing before it".
func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("journal: %s: %s", p.Kind, p.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Kind, p.Msg)
}

// Report is the result of verifying a journal.
type Report struct {
	// Lines is the number of lines read, Events those that parsed as events.
	Lines  int `json:"lines"`
	Events int `json:"events"`
	// First is the seq of the first event, Last the seq the chain reached.
	First uint64 `json:"first_seq"`
	Last  uint64 `json:"last_seq"`
	// Problems in the order found, at most MaxProblems.
	Problems []Problem `json:"problems"`
	// Omitted counts problems found beyond MaxProblems.
	Omitted int `json:"omitted,omitempty"`

	// Partial is set when a copy (VerifyOptions.Copy) does not begin at
	// seq 1: it was verified from its first line, whose link to the events
	// before it is taken on trust.
	Partial bool `json:"partial,omitempty"`
	// Repeats counts lines of a copy that repeat an earlier line exactly
	// (a batch delivered again); they are not problems.
	Repeats int `json:"repeats,omitempty"`

	// Signed counts the events that carry a signature; FirstSigned is the
	// line of the first (0 when none). SignaturesChecked is set when keys
	// were given and each signature was checked against them; otherwise
	// only their form was.
	Signed            int  `json:"signed"`
	FirstSigned       int  `json:"first_signed_line,omitempty"`
	SignaturesChecked bool `json:"signatures_checked"`
	// UnsignedBefore counts the events before the first signed one when
	// signatures were checked: written before signing was turned on, and
	// vouched for by the first signature, which covers them through the
	// chain.
	UnsignedBefore int `json:"unsigned_before,omitempty"`
}

// OK reports whether the journal has no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 && r.Omitted == 0 }

// Verify checks every line of the journal read from r: that it is canonical,
// that its hash matches its content, that prev links it to the event before
// and that seq continues from it (the format is described at [Journal]).
// It reads to the end whatever it finds, naming each problem by line and
// [Kind], and reports a run of damage once rather than on every line after
// it. It does not panic on any input, and holds at most one line (of at most
// 16 MiB; longer ones are reported, not kept) in memory besides about 100
// bytes per event. The error is for failures to read r only.
//
// A reader cannot show that events were cut off its end: [VerifyFile] can.
func Verify(r io.Reader) (*Report, error) {
	return VerifyReader(r, VerifyOptions{})
}

// VerifyOptions select what [VerifyReader] and [VerifyFileWith] check
// beyond the chain.
type VerifyOptions struct {
	// Keys, when not nil, are the public keys whose signatures are
	// accepted. Every signed line's signature is then checked; a line
	// signed by another key, a line without a signature after a signed
	// one, and an input with no signed line at all are problems. Without
	// keys, signatures are checked for form only.
	Keys *KeyRing
	// Copy verifies a sink's copy rather than a journal: it may begin at
	// any seq (its first line's prev is taken on trust, and the report
	// says so), an exact repeat of an earlier line (a batch a sink
	// received twice, as at-least-once delivery allows) is counted in
	// Report.Repeats instead of reported, and there is no head file.
	Copy bool
}

// VerifyReader verifies the lines read from r like [Verify], with the
// checks o selects. r may be the concatenation of several pieces, such as
// the objects an s3 sink wrote, in order; each piece must end with a
// newline.
func VerifyReader(r io.Reader, o VerifyOptions) (*Report, error) {
	v := newVerifier(nil, o)
	if err := v.read(r); err != nil {
		return nil, err
	}
	return v.finish(), nil
}

// VerifyFile verifies the journal at path like [Verify] and compares its end
// with the head file `<path>.head` that Append keeps, reporting events cut
// off the end ([KindTruncated]) and a missing or contradicting head
// ([KindHead]). It creates nothing, and waits for a running Append to finish.
func VerifyFile(path string) (*Report, error) {
	return VerifyFileWith(path, VerifyOptions{})
}

// VerifyFileWith is [VerifyFile] with the checks o selects. With o.Copy the
// file is a sink's copy, which has no head: it is verified like
// [VerifyReader] does.
func VerifyFileWith(path string, o VerifyOptions) (*Report, error) {
	if o.Copy {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("verify audit copy: %w", err)
		}
		defer f.Close()
		rep, err := VerifyReader(f, o)
		if err != nil {
			return nil, fmt.Errorf("verify audit copy %s: %w", path, err)
		}
		return rep, nil
	}
	if lf, err := os.Open(path + lockSuffix); err == nil {
		defer lf.Close()
		// Best effort: without the lock the worst case is a torn last line
		// reported while an append is in progress.
		_ = lockFile(lf, false)
	}
	// The head is read first: Append updates it only after the journal, so
	// every event it names is already in the file read next.
	headPath := path + headSuffix
	head, haveHead, headErr := readHead(headPath)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify audit journal: %w", err)
	}
	defer f.Close()
	var want *tip
	if haveHead {
		want = &head
	}
	v := newVerifier(want, o)
	if err := v.read(f); err != nil {
		return nil, fmt.Errorf("verify audit journal %s: %w", path, err)
	}
	switch {
	case headErr != nil:
		v.add(0, 0, KindHead, headErr.Error())
	case !haveHead:
		if v.rep.Lines > 0 {
			v.add(0, 0, KindHead, fmt.Sprintf("no head file %s: events cut off the end cannot be detected; jit creates it before the journal, so it was deleted or the journal copied without it", headPath))
		}
	case head.Seq > v.last.seq:
		v.add(0, head.Seq, KindTruncated, fmt.Sprintf("the journal ends at seq %d but its head records seq %d: %s cut off the end",
			v.last.seq, head.Seq, events(head.Seq-v.last.seq)))
	case v.headLine > 0 && v.headHash != head.Hash:
		v.add(0, head.Seq, KindHead, fmt.Sprintf("line %d (seq %d) is not the event the head records: the end of the journal was rewritten",
			v.headLine, head.Seq))
	}
	return v.finish(), nil
}

// link is an event the next line may chain to. An edited line is known by
// two hashes: the one it records (which its successor still names) and the
// one its content now has.
type link struct {
	seq      uint64
	line     int
	hash     string
	computed string
}

func (l *link) matches(prev string) bool {
	return l != nil && (prev == l.hash || prev == l.computed)
}

// gap is a dropped-problem that later lines may turn out to fill, making it
// a reordering.
type gap struct {
	problem         int
	after, seq      uint64
	missing, filled uint64
}

type verifier struct {
	rep Report
	// last is the event the chain has reached; alt the latest line that did
	// not link to it. A line linking to alt adopts it, so that one inserted,
	// replaced or edited line is reported once, not on every line after.
	last link
	alt  *link
	// unplaced counts lines since the last event that stand where an event
	// should but could not be linked (unparsable, or with a wrong prev):
	// that many missing seqs are not reported again as dropped.
	unplaced uint64
	byHash   map[[32]byte]int
	bySeq    map[uint64]int
	gaps     []gap
	// head, if known, is the head file; headLine and headHash the event of
	// the journal with its seq.
	head     *tip
	headLine int
	headHash string
	scratch  []byte
	opts     VerifyOptions
	// canonical is whether the line being linked is in canonical form.
	canonical bool
}

func newVerifier(head *tip, o VerifyOptions) *verifier {
	return &verifier{
		rep:    Report{Problems: []Problem{}, SignaturesChecked: o.Keys != nil},
		byHash: map[[32]byte]int{},
		bySeq:  map[uint64]int{},
		head:   head,
		opts:   o,
	}
}

func (v *verifier) finish() *Report {
	v.rep.Last = v.last.seq
	if v.opts.Keys != nil && v.rep.Events > 0 && v.rep.Signed == 0 {
		v.add(0, 0, KindUnsigned, fmt.Sprintf("no event is signed, but signatures by %s were expected", keysDesc(v.opts.Keys)))
	}
	return &v.rep
}

func keysDesc(k *KeyRing) string {
	fps := k.Fingerprints()
	switch len(fps) {
	case 0:
		return "the given keys (none could be read)"
	case 1:
		return fps[0]
	}
	return fmt.Sprintf("one of %d keys", len(fps))
}

// add records a problem and returns its index in Problems, or -1 when the
// cap was reached.
func (v *verifier) add(line int, seq uint64, kind Kind, msg string) int {
	if len(v.rep.Problems) >= MaxProblems {
		v.rep.Omitted++
		return -1
	}
	v.rep.Problems = append(v.rep.Problems, Problem{Line: line, Seq: seq, Kind: kind, Msg: msg})
	return len(v.rep.Problems) - 1
}

func (v *verifier) read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for n := 1; ; n++ {
		line, long, err := readLine(br, buf[:0])
		buf = line
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		torn := err != nil
		if torn && len(line) == 0 && !long {
			return nil // the file ended with a newline
		}
		v.rep.Lines = n
		if torn {
			v.add(n, 0, KindTorn, "no newline at the end: an append was interrupted, or the line was cut")
		}
		if long {
			v.add(n, 0, KindMalformed, fmt.Sprintf("longer than %d bytes: not an event", maxLineBytes))
			v.unplaced++
		} else {
			v.check(line, n, torn)
		}
		if torn {
			return nil
		}
	}
}

// readLine reads one line into buf, without its newline. long reports a
// line over maxLineBytes, which is skipped rather than kept. err is io.EOF
// when the input ended before a newline.
func readLine(br *bufio.Reader, buf []byte) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(buf)+len(chunk) > maxLineBytes+1 {
				long, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return buf, long, err
		case long:
			return buf, true, nil
		default:
			return buf[:len(buf)-1], false, nil
		}
	}
}

func (v *verifier) check(line []byte, n int, torn bool) {
	if len(line) == 0 {
		v.add(n, 0, KindMalformed, "empty line")
		v.unplaced++
		return
	}
	tree, err := parseJSON(line)
	obj, isObj := tree.(map[string]any)
	if err != nil || !isObj {
		if !torn { // a torn line is expected not to parse
			v.add(n, 0, KindMalformed, "not a JSON object")
		}
		v.unplaced++
		return
	}
	seq, prev, hash, err := chainFields(obj)
	if err != nil {
		v.add(n, 0, KindMalformed, err.Error())
		v.unplaced++
		return
	}
	v.rep.Events++
	if v.rep.Events == 1 {
		v.rep.First = seq
	}
	v.scratch = appendCanonical(v.scratch[:0], obj, false)
	canonical := true
	if i := firstDiff(v.scratch, line); i >= 0 {
		canonical = false
		v.add(n, seq, KindNotCanonical, fmt.Sprintf("byte %d differs from the canonical form of the line's content: the line was changed", i+1))
	}
	v.scratch = appendCanonical(v.scratch[:0], obj, true)
	computed := chainHash(prev, v.scratch)
	edited := computed != hash
	if edited {
		v.add(n, seq, KindEdited, "the hash does not match the content: the line was changed after it was written")
	}
	v.checkSignature(obj, n, seq, hash)
	v.canonical = canonical
	v.link(n, seq, prev, hash, computed, edited)
}

// checkSignature checks a line's `key` and `sig`: their form always, the
// signature itself when keys were given.
func (v *verifier) checkSignature(obj map[string]any, n int, seq uint64, hash string) {
	rawKey, hasKey := obj["key"]
	rawSig, hasSig := obj["sig"]
	key, keyOK := rawKey.(string)
	sig, sigOK := rawSig.(string)
	switch {
	case !hasKey && !hasSig:
		if v.opts.Keys == nil {
			return
		}
		if v.rep.FirstSigned > 0 {
			v.add(n, seq, KindUnsigned, fmt.Sprintf("not signed, although line %d was: signing was turned off, or the line was inserted", v.rep.FirstSigned))
		} else {
			v.rep.UnsignedBefore++
		}
		return
	case hasKey && !hasSig:
		v.add(n, seq, KindUnsigned, "has a key but no signature: the signature was removed")
		return
	}
	v.rep.Signed++
	if v.rep.FirstSigned == 0 {
		v.rep.FirstSigned = n
	}
	switch {
	case !hasKey || !keyOK || !validFingerprint(key):
		v.add(n, seq, KindBadSignature, `the signature has no valid "key" (an SSH SHA256 fingerprint) naming its key`)
		return
	case !sigOK:
		v.add(n, seq, KindBadSignature, "sig is not a string")
		return
	}
	raw, ok := decodeSig(sig)
	if !ok {
		v.add(n, seq, KindBadSignature, "sig is not the base64 of a 64-byte Ed25519 signature")
		return
	}
	if v.opts.Keys == nil {
		return
	}
	pub, known := v.opts.Keys.get(key)
	if !known {
		v.add(n, seq, KindUnknownKey, fmt.Sprintf("signed by %s, which is not among the keys given", key))
		return
	}
	if !ed25519.Verify(pub, []byte(hash), raw) {
		v.add(n, seq, KindBadSignature, fmt.Sprintf("the signature is not %s's signature of the hash: the hash or the signature was changed", key))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// chainFields extracts and checks the members that make the chain.
func chainFields(obj map[string]any) (seq uint64, prev, hash string, err error) {
	num, _ := obj["seq"].(json.Number)
	seq, perr := strconv.ParseUint(string(num), 10, 64)
	if perr != nil || seq == 0 {
		return 0, "", "", errors.New("seq is missing or not a positive integer")
	}
	prev, ok := obj["prev"].(string)
	if !ok || (prev != "" && !isHash(prev)) {
		return 0, "", "", errors.New("prev is missing or not empty or 64 lowercase hex digits")
	}
	hash, ok = obj["hash"].(string)
	if !ok || !isHash(hash) {
		return 0, "", "", errors.New("hash is missing or not 64 lowercase hex digits")
	}
	return seq, prev, hash, nil
}

func hashKey(h string) (k [32]byte, ok bool) {
	if !isHash(h) {
		return k, false
	}
	_, _ = hex.Decode(k[:], []byte(h))
	return k, true
}

// link places a line in the chain, classifying how it fails to follow.
func (v *verifier) link(n int, seq uint64, prev, hash, computed string, edited bool) {
	key, _ := hashKey(hash)
	if k, dup := v.byHash[key]; dup {
		if v.opts.Copy && !edited && v.canonical {
			// A batch delivered again: its lines are in the chain already.
			v.rep.Repeats++
			v.unplaced = 0
			return
		}
		v.add(n, seq, KindDuplicated, fmt.Sprintf("repeats line %d (seq %d)", k, seq))
		return
	}
	v.byHash[key] = n
	firstLine, seqSeen := v.bySeq[seq]
	if !seqSeen {
		v.bySeq[seq] = n
	}
	if v.head != nil && seq == v.head.Seq && v.headLine == 0 {
		v.headLine, v.headHash = n, hash
	}
	unplaced := v.unplaced
	v.unplaced = 0
	cur := link{seq: seq, line: n, hash: hash, computed: computed}

	switch {
	case v.opts.Copy && v.last.line == 0 && v.alt == nil && unplaced == 0:
		// The first event of a copy: it may begin anywhere in the
		// journal, and what it links to is not in the input.
		v.rep.Partial = seq != 1 || prev != ""
		v.last = cur

	case v.last.matches(prev) || v.alt.matches(prev):
		base := v.last
		if !v.last.matches(prev) {
			base = *v.alt
		}
		if seq != base.seq+1 {
			if edited {
				// The seq was among the edited bytes: trust the link.
				cur.seq = base.seq + 1
			} else if base.line == 0 {
				v.add(n, seq, KindBrokenLink, fmt.Sprintf("seq %d has the empty prev only seq 1 may have: its seq was rewritten", seq))
			} else {
				v.add(n, seq, KindBrokenLink, fmt.Sprintf("seq %d links directly to seq %d (line %d): its seq was rewritten", seq, base.seq, base.line))
			}
		}
		v.last, v.alt = cur, nil

	case v.last.seq == math.MaxUint64:
		// Nothing can follow; without this case last.seq+1 would wrap.
		v.add(n, seq, KindReordered, fmt.Sprintf("seq %d comes after seq %d (line %d): lines are out of order", seq, v.last.seq, v.last.line))
		v.alt, v.unplaced = &cur, unplaced

	case seq > v.last.seq+1:
		if missing := seq - v.last.seq - 1; missing > unplaced {
			missing -= unplaced
			var msg string
			if v.last.line == 0 {
				msg = fmt.Sprintf("seq %d is the first event: %s missing before it", seq, events(missing))
			} else {
				msg = fmt.Sprintf("seq %d follows seq %d: %s missing before it", seq, v.last.seq, events(missing))
			}
			if i := v.add(n, seq, KindDropped, msg); i >= 0 {
				v.gaps = append(v.gaps, gap{problem: i, after: v.last.seq, seq: seq, missing: missing})
			}
		}
		v.last, v.alt = cur, nil

	case seq == v.last.seq+1:
		if !edited {
			var msg string
			k, known := hashKey(prev)
			earlier, linksEarlier := v.byHash[k]
			switch {
			case v.last.line == 0:
				msg = "the first event has a prev: events before it are missing, or it was inserted"
			case known && linksEarlier:
				msg = fmt.Sprintf("prev names line %d, not seq %d (line %d) before it: the chain forks here", earlier, v.last.seq, v.last.line)
			default:
				msg = fmt.Sprintf("prev is not the hash of seq %d (line %d): this line was inserted, or that one replaced", v.last.seq, v.last.line)
			}
			v.add(n, seq, KindBrokenLink, msg)
		}
		v.alt, v.unplaced = &cur, unplaced+1

	default: // seq ≤ last.seq
		switch {
		case seqSeen:
			v.add(n, seq, KindBrokenLink, fmt.Sprintf("seq %d again, first at line %d, with other content: the chain forks here", seq, firstLine))
		default:
			v.fill(seq, n)
			v.add(n, seq, KindReordered, fmt.Sprintf("seq %d comes after seq %d (line %d): lines are out of order", seq, v.last.seq, v.last.line))
		}
		v.alt, v.unplaced = &cur, unplaced
	}
}

// fill notes that seq turned up late; a dropped-problem whose missing events
// all turn up so becomes a reordering.
func (v *verifier) fill(seq uint64, line int) {
	for i := range v.gaps {
		g := &v.gaps[i]
		if seq <= g.after || seq >= g.seq {
			continue
		}
		g.filled++
		if g.filled == g.missing {
			p := &v.rep.Problems[g.problem]
			p.Kind = KindReordered
			if g.missing == 1 {
				p.Msg = fmt.Sprintf("seq %d comes before seq %d (line %d): lines are out of order", g.seq, seq, line)
			} else {
				p.Msg = fmt.Sprintf("seq %d comes before seqs %d to %d, found later: lines are out of order", g.seq, g.after+1, g.seq-1)
			}
			v.gaps = append(v.gaps[:i], v.gaps[i+1:]...)
		}
		return
	}
}

func events(n uint64) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}
