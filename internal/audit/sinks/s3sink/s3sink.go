// Package s3sink ships audit batches to an S3 bucket or any S3-compatible
// store (MinIO, versitygw, Ceph RGW, …): one object per batch, holding the
// batch's journal lines verbatim, each followed by "\n" (JSON Lines), so that
// the objects of a journal, concatenated in seq order, are a stretch of the
// journal itself and verify with audit.Verify.
//
// # Keys
//
//	<prefix>[<journal id>/]<YYYY>/<MM>/<DD>/<first seq, 20 digits>-<last seq, 20 digits>-<last hash, 16 hex>.jsonl
//
// A policy's sink is shared by every machine that elevates, so jit gives
// each journal its own directory (Options.JournalID: the first 16 hex digits
// of the hash of the journal's first event); the objects under one journal
// id verify as one chain.
//
// The date is the UTC date of the batch's first event, not of the upload, so
// the key depends on the batch's content alone. Within a day keys sort by
// seq; [ReadAll] sorts by seq across days too (a clock stepped back over
// midnight can put a later batch under an earlier date).
//
// # Guarantees
//
// Send returns nil only once the store has stored the object (a PutObject
// answered 200, with Content-MD5 checked by the store). Delivery is at least
// once: after a lost answer the shipper sends the batch again. Because the
// key is a function of the content, the same batch re-sent overwrites its
// own object with the same bytes, so a retried batch never appears twice in
// the bucket. A retry that is a different batch starting at the same seq
// (the shipper took more events the second time) leaves two objects whose
// ranges share a start; ReadAll streams the larger one only, once it has
// checked that the smaller one ends with the same event. Two journals (two
// machines) that ship to the same bucket and prefix get distinct keys (the
// hash differs) but their objects interleave: give each its own prefix to
// verify them.
//
// Writing needs s3:PutObject on <bucket>/<prefix>*; ReadAll needs
// s3:ListBucket and s3:GetObject. Nothing is ever deleted, so the bucket may
// use Object Lock.
package s3sink

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// ContentType is the Content-Type of every object the sink writes.
const ContentType = "application/x-ndjson"

// Metadata keys set on every object (sent as x-amz-meta-jit-first-seq and
// x-amz-meta-jit-last-seq).
const (
	MetaFirstSeq = "jit-first-seq"
	MetaLastSeq  = "jit-last-seq"
)

// DefaultTimeout bounds one request when the sink sets no timeout.
const DefaultTimeout = 10 * time.Second

// defaultEndpointRegion signs requests to an S3-compatible endpoint when no
// region is configured: such stores accept any region, and us-east-1 is the
// one they default to.
const defaultEndpointRegion = "us-east-1"

// Options are what the policy's sink configuration cannot say.
type Options struct {
	// Credentials replace the sink's profile and the SDK's default chain
	// (tests, `jit dev`). Never pass the credentials of an elevation.
	Credentials aws.CredentialsProvider
	// HTTPClient makes every request; the SDK's default otherwise (which
	// alone honours AWS_CA_BUNDLE).
	HTTPClient aws.HTTPClient
	// RetryMaxAttempts caps the SDK's attempts per request within one Send
	// (default 2: one quick retry, at most 250ms later, rides out a dropped
	// connection or a 503 before a required sink refuses an elevation;
	// the shipper retries the rest. 1 leaves every retry to the shipper).
	RetryMaxAttempts int
	// JournalID, when set, names the journal whose events the sink ships;
	// its objects go under <prefix><journal id>/. It is called at the first
	// Send (the journal exists by then) and its answer kept.
	JournalID func() (string, error)
}

// Sink writes batches to S3. It is safe for concurrent use.
type Sink struct {
	name   string
	bucket string
	prefix string
	// journalID and journal (its cached answer) add the journal's id to
	// every key.
	journalID func() (string, error)
	journal   string
	timeout   time.Duration
	client    *s3.Client
	// creds says where the credentials come from, for messages.
	creds string

	mu     sync.Mutex
	closed bool
}

var _ audit.BatchSink = (*Sink)(nil)

// New prepares a sink for cfg (of type s3). It loads the AWS configuration
// (profile, region, credential chain) but makes no request: credentials are
// resolved and the bucket reached on the first Send.
//
// The sink signs with its own identity: cfg.Profile, or the SDK's default
// chain in the jit process. That process's environment holds only the
// caller's base identity: jit hands an elevation's credentials to the
// subshell or prints them, never exports them to itself, so the default
// chain cannot pick them up — except in a nested elevation (`jit` run inside
// an elevated subshell with --nested), where the environment is the outer
// elevation's; set a profile for the sink if that matters.
func New(ctx context.Context, cfg policy.SinkConfig, opts Options) (*Sink, error) {
	return newSink(ctx, cfg, opts)
}

func newSink(ctx context.Context, cfg policy.SinkConfig, opts Options) (*Sink, error) {
	s := &Sink{name: cfg.Name, bucket: cfg.Bucket, prefix: cfg.Prefix, timeout: cfg.Timeout, journalID: opts.JournalID}
	if s.name == "" {
		// As ship.SinkName names it, so messages and status agree.
		s.name = "s3 " + cfg.Bucket + "/" + cfg.Prefix
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("audit sink %s: "+format, append([]any{s.name}, a...)...)
	}
	if cfg.Type != "" && cfg.Type != "s3" {
		return nil, fail("type %q is not s3", cfg.Type)
	}
	if cfg.Bucket == "" {
		return nil, fail("bucket is required")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fail("endpoint %q is not an http:// or https:// URL", cfg.Endpoint)
		}
	}
	pathStyle := cfg.Endpoint != ""
	if cfg.PathStyle != nil {
		pathStyle = *cfg.PathStyle
	}

	var lo []func(*config.LoadOptions) error
	switch {
	case opts.Credentials != nil:
		lo = append(lo, config.WithCredentialsProvider(opts.Credentials))
		s.creds = "the credentials given"
	case cfg.Profile != "":
		lo = append(lo, config.WithSharedConfigProfile(cfg.Profile))
		s.creds = "profile " + strconv.Quote(cfg.Profile)
	default:
		s.creds = "the AWS SDK's default credential chain"
	}
	if cfg.Region != "" {
		lo = append(lo, config.WithRegion(cfg.Region))
	}
	if opts.HTTPClient != nil {
		lo = append(lo, config.WithHTTPClient(opts.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		var notExist config.SharedConfigProfileNotExistError
		if errors.As(err, &notExist) {
			return nil, fail("profile %q is not in the AWS config: create it or fix the sink's profile", notExist.Profile)
		}
		return nil, fail("load AWS configuration: %v", oneLine(err.Error()))
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, fail("no region: set the sink's region to the bucket's (or AWS_REGION)")
		}
		awsCfg.Region = defaultEndpointRegion
	}
	attempts := opts.RetryMaxAttempts
	if attempts <= 0 {
		attempts = 2
	}
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = pathStyle
		// Content-MD5 is checked by every S3-compatible store; the SDK's
		// default CRC32 trailer (aws-chunked) is not accepted by all of them.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			// A store that is down must not hold up every jit run.
			so.MaxBackoff = 250 * time.Millisecond
			// A store that refuses connections is down: retrying it at
			// once only delays the jit run, so that is left to the shipper.
			so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(notDialError)}, so.Retryables...)
			// The shipper retries failed batches itself: a client-side
			// retry quota would only turn a recovered store into errors.
			so.RateLimiter = ratelimit.None
		})
	})
	return s, nil
}

// notDialError declines to retry a failure to connect.
func notDialError(err error) aws.Ternary {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// Name returns the sink's name: its configured name, or "s3 <bucket>/<prefix>".
func (s *Sink) Name() string { return s.name }

// Bucket returns the bucket the sink writes to.
func (s *Sink) Bucket() string { return s.bucket }

// Key returns the key Send writes batch to.
func (s *Sink) Key(batch []audit.Record) (string, error) {
	prefix, err := s.keyPrefix()
	if err != nil {
		return "", err
	}
	return ObjectKey(prefix, batch)
}

// keyPrefix is the configured prefix, plus the journal's id when the sink
// knows which journal it ships.
func (s *Sink) keyPrefix() (string, error) {
	if s.journalID == nil {
		return s.prefix, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal == "" {
		id, err := s.journalID()
		if err != nil {
			return "", fmt.Errorf("journal id: %w", err)
		}
		if id == "" || strings.ContainsAny(id, "/\\") {
			return "", fmt.Errorf("journal id %q is not a key element", id)
		}
		s.journal = id
	}
	return s.prefix + s.journal + "/", nil
}

// Send writes batch as one object and returns nil once the store has it.
// The batch must be consecutive journaled events (seq n, n+1, …); an empty
// batch is nothing to do. Each request is bounded by the sink's timeout.
func (s *Sink) Send(ctx context.Context, batch []audit.Record) error {
	if len(batch) == 0 {
		return nil
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("audit sink %s: send after close", s.name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit sink %s: %w", s.name, err)
	}
	body, err := encodeBatch(batch)
	if err != nil {
		return fmt.Errorf("audit sink %s: %w", s.name, err)
	}
	k, err := batchKey(batch)
	if err != nil {
		return fmt.Errorf("audit sink %s: %w", s.name, err)
	}
	prefix, err := s.keyPrefix()
	if err != nil {
		return fmt.Errorf("audit sink %s: %w", s.name, err)
	}
	key := FormatKey(prefix, k)
	sum := md5.Sum(body)
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err = s.client.PutObject(rctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(ContentType),
		ContentMD5:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		Metadata: map[string]string{
			MetaFirstSeq: strconv.FormatUint(k.First, 10),
			MetaLastSeq:  strconv.FormatUint(k.Last, 10),
		},
	})
	if err != nil {
		return s.wrap(ctx, "put", key, err)
	}
	return nil
}

// encodeBatch checks that batch is a run of consecutive events and returns
// its lines, each followed by "\n".
func encodeBatch(batch []audit.Record) ([]byte, error) {
	n := 0
	for i, r := range batch {
		if i > 0 && r.Seq != batch[i-1].Seq+1 {
			return nil, fmt.Errorf("the batch is not a run of consecutive events: seq %d follows seq %d", r.Seq, batch[i-1].Seq)
		}
		if r.Event != nil && r.Event.Seq != r.Seq {
			return nil, fmt.Errorf("record seq %d holds the event of seq %d", r.Seq, r.Event.Seq)
		}
		if len(r.Line) == 0 || bytes.IndexByte(r.Line, '\n') >= 0 {
			return nil, fmt.Errorf("seq %d: the line is empty or holds a newline: not a journal line", r.Seq)
		}
		n += len(r.Line) + 1
	}
	body := make([]byte, 0, n)
	for _, r := range batch {
		body = append(body, r.Line...)
		body = append(body, '\n')
	}
	return body, nil
}

// Close marks the sink closed; Send fails after it. It makes no request.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Kind classifies a failure, for `jit audit status` and the shipper.
type Kind string

// The kinds of Error.
const (
	// KindAuth: no credentials, or the store refused them or the request.
	KindAuth Kind = "auth"
	// KindNoBucket: the bucket does not exist.
	KindNoBucket Kind = "no bucket"
	// KindRegion: the bucket is in another region than the sink signs for.
	KindRegion Kind = "region"
	// KindTimeout: the sink's timeout passed.
	KindTimeout Kind = "timeout"
	// KindCanceled: the caller's context ended.
	KindCanceled Kind = "canceled"
	// KindUnreachable: the store could not be reached.
	KindUnreachable Kind = "unreachable"
	// KindStore: the store answered with another error.
	KindStore Kind = "store"
)

// Error is a failed request. Its message is one line naming the sink, the
// bucket and the key; it never holds a credential.
type Error struct {
	Sink   string
	Op     string // put, list or get
	Bucket string
	Key    string // the key, or for list the prefix
	Kind   Kind
	// Code is the store's error code (e.g. SignatureDoesNotMatch), if any.
	Code string
	// Msg says what went wrong and, where possible, what to do.
	Msg string
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("audit sink %s: %s s3://%s/%s: %s", e.Sink, e.Op, e.Bucket, e.Key, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// isAuthCode reports whether a store refused a request's identity or
// permission with code.
func isAuthCode(code string) bool {
	switch code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
		"ExpiredToken", "InvalidToken", "TokenRefreshRequired",
		"AllAccessDisabled", "AccountProblem", "InvalidClientTokenId",
		"Forbidden", "Unauthorized",
		// versitygw's InvalidAccessKeyId, answered with HTTP 400.
		"XAdminUserNotFound":
		return true
	}
	return false
}

// wrap turns an SDK error into an *Error. parent is the caller's context:
// its end is a cancellation, the sink's own deadline a timeout.
func (s *Sink) wrap(parent context.Context, op, key string, err error) error {
	e := &Error{Sink: s.name, Op: op, Bucket: s.bucket, Key: key, Err: err}
	var api smithy.APIError
	var netErr *net.OpError
	switch {
	case parent.Err() != nil:
		e.Kind, e.Err = KindCanceled, parent.Err()
		e.Msg = "canceled: " + parent.Err().Error()
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Err = KindTimeout, context.DeadlineExceeded
		e.Msg = fmt.Sprintf("no answer within the sink's timeout of %s: the store is slow or unreachable (raise timeout if it is slow)", s.timeout)
	case strings.Contains(err.Error(), "get identity:") || strings.Contains(err.Error(), "failed to retrieve credentials"):
		e.Kind = KindAuth
		e.Msg = fmt.Sprintf("no usable AWS credentials from %s: set the sink's profile, or configure the default chain (AWS_PROFILE, ~/.aws/config, SSO)", s.creds)
	case errors.As(err, &netErr):
		e.Kind = KindUnreachable
		if netErr.Op == "dial" {
			e.Msg = "cannot connect to the store: " + oneLine(netErr.Error())
		} else {
			e.Msg = "the connection to the store failed: " + oneLine(netErr.Error())
		}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e.Kind = KindUnreachable
		e.Msg = "the connection closed before the store answered"
	case errors.As(err, &api):
		e.Code = api.ErrorCode()
		detail := e.Code
		if m := oneLine(api.ErrorMessage()); m != "" {
			detail += ": " + m
		}
		switch {
		case e.Code == "NoSuchBucket":
			e.Kind = KindNoBucket
			e.Msg = fmt.Sprintf("bucket %q does not exist (NoSuchBucket): create it or fix the sink's bucket", s.bucket)
		case e.Code == "NoSuchKey":
			e.Kind = KindStore
			e.Msg = "the object does not exist (NoSuchKey): it was deleted after the listing"
		case e.Code == "PermanentRedirect" || e.Code == "AuthorizationHeaderMalformed" || e.Code == "IllegalLocationConstraintException":
			e.Kind = KindRegion
			e.Msg = fmt.Sprintf("the bucket is in another region (%s): set the sink's region to the bucket's", detail)
		case isAuthCode(e.Code) || status(err) == 401 || status(err) == 403:
			e.Kind = KindAuth
			e.Msg = fmt.Sprintf("the store refused the request (%s); check the credentials (%s) and that they may %s", detail, s.creds, permission(op, s.bucket, s.prefix))
		default:
			e.Kind = KindStore
			e.Msg = "the store refused the request (" + detail + ")"
		}
	case status(err) > 0:
		e.Kind = KindStore
		e.Msg = fmt.Sprintf("the store answered HTTP %d", status(err))
		if status(err) == 403 || status(err) == 401 {
			e.Kind = KindAuth
			e.Msg += fmt.Sprintf("; check the credentials (%s) and that they may %s", s.creds, permission(op, s.bucket, s.prefix))
		}
	default:
		e.Kind = KindUnreachable
		e.Msg = "request failed: " + oneLine(err.Error())
		var ue *url.Error
		if errors.As(err, &ue) {
			e.Msg = "request failed: " + oneLine(ue.Err.Error())
		}
	}
	return e
}

// status returns the HTTP status of the answer err came with, or 0.
func status(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func permission(op, bucket, prefix string) string {
	switch op {
	case "list":
		return "s3:ListBucket on " + bucket
	case "get":
		return "s3:GetObject on " + bucket + "/" + prefix + "*"
	}
	return "s3:PutObject on " + bucket + "/" + prefix + "*"
}

// oneLine keeps the first line of s, at most 300 bytes of it.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
