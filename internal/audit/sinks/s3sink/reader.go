package s3sink

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jitaccess/jit/internal/policy"
)

// Skip is an object under the sink's prefix that ReadAll did not stream.
type Skip struct {
	Key    string
	Reason string
}

// Reader streams what a sink wrote: the objects under its prefix in seq
// order, concatenated. It is what `jit audit verify` reads to check an s3
// sink's copy of the journal.
type Reader struct {
	s   *Sink
	ctx context.Context

	objs    []object
	next    int
	cur     io.ReadCloser
	curKey  string
	cancel  context.CancelFunc
	hashes  map[uint64]string // seq → hash of the lines of the current group's first object
	keys    []string
	skipped []Skip
	err     error
	closed  bool
}

type object struct {
	key  string
	info KeyInfo
	// lead: later objects start at the same seq; follows: this one does.
	lead, follows bool
}

// ReadAll lists the objects under cfg's prefix and returns a reader of
// their concatenation in seq order (first seq, then the larger range first).
// An object whose key is not one the sink writes is skipped, and so is an
// object that a larger one with the same first seq covers (a retry that
// took more events), once the larger one's line at the smaller one's last
// seq is seen to have the hash its key names; otherwise both are streamed,
// and verification reports the repeated events. Skipped tells what was
// left out.
//
// The listing happens here, so a missing bucket or refused credentials
// fail at once; objects are fetched as the reader reaches them, each within
// the sink's timeout, and ctx bounds the whole read. The keys of the prefix
// are held in memory (about 100 bytes an object).
func ReadAll(ctx context.Context, cfg policy.SinkConfig, opts Options) (*Reader, error) {
	s, err := newSink(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	r := &Reader{s: s, ctx: ctx}
	if err := r.list(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) list() error {
	s := r.s
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix),
	})
	for p.HasMorePages() {
		lctx, cancel := context.WithTimeout(r.ctx, s.timeout)
		page, err := p.NextPage(lctx)
		cancel()
		if err != nil {
			return s.wrap(r.ctx, "list", s.prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			info, err := ParseKey(s.prefix, key)
			if err != nil {
				r.skipped = append(r.skipped, Skip{Key: key, Reason: "not an object of this sink: " + err.Error()})
				continue
			}
			r.objs = append(r.objs, object{key: key, info: info})
		}
	}
	slices.SortFunc(r.objs, func(a, b object) int {
		return cmp.Or(cmp.Compare(a.info.First, b.info.First), cmp.Compare(b.info.Last, a.info.Last), cmp.Compare(a.key, b.key))
	})
	for i := 1; i < len(r.objs); i++ {
		if r.objs[i].info.First == r.objs[i-1].info.First {
			r.objs[i].follows = true
			j := i - 1
			for r.objs[j].follows {
				j--
			}
			r.objs[j].lead = true
		}
	}
	return nil
}

// Keys returns the keys streamed so far, in order.
func (r *Reader) Keys() []string { return slices.Clone(r.keys) }

// Skipped returns the objects left out so far: those with foreign keys
// from the start, covered ones as the reader reaches them.
func (r *Reader) Skipped() []Skip { return slices.Clone(r.skipped) }

// Read reads the concatenated objects. An error names the sink, bucket and
// key of the object that failed.
func (r *Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("read after close")
	}
	for r.err == nil {
		if r.cur == nil {
			if r.next >= len(r.objs) {
				return 0, io.EOF
			}
			if err := r.open(); err != nil {
				r.err = err
				break
			}
			continue
		}
		n, err := r.cur.Read(p)
		if errors.Is(err, io.EOF) {
			r.closeCur()
			err = nil
		} else if err != nil {
			r.err = r.s.wrap(r.ctx, "get", r.curKey, err)
			r.closeCur()
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, r.err
}

// open starts the next object to stream, skipping covered ones.
func (r *Reader) open() error {
	o := r.objs[r.next]
	r.next++
	if o.follows {
		if h, ok := r.hashes[o.info.Last]; ok && h[:KeyHashLen] == o.info.Hash {
			r.skipped = append(r.skipped, Skip{Key: o.key, Reason: fmt.Sprintf(
				"covered by a larger object starting at seq %d that has the same event at seq %d", o.info.First, o.info.Last)})
			return nil
		}
	} else {
		r.hashes = nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.s.timeout)
	out, err := r.s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.s.bucket), Key: aws.String(o.key)})
	if err != nil {
		cancel()
		return r.s.wrap(r.ctx, "get", o.key, err)
	}
	r.keys = append(r.keys, o.key)
	r.curKey, r.cancel = o.key, cancel
	if !o.lead {
		r.cur = out.Body
		return nil
	}
	// The objects that follow are checked against this one's lines, so it
	// is read whole (it is one batch).
	data, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		r.closeCur()
		return r.s.wrap(r.ctx, "get", o.key, err)
	}
	r.hashes = map[uint64]string{}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if seq, hash, ok := lineSeqHash(line); ok {
			r.hashes[seq] = hash
		}
	}
	r.cur = io.NopCloser(bytes.NewReader(data))
	return nil
}

func (r *Reader) closeCur() {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
}

// Close ends the read.
func (r *Reader) Close() error {
	r.closeCur()
	r.closed = true
	return nil
}
