package httpsink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"

	"github.com/jitaccess/jit/internal/loopback"
)

// Defaults and limits.
const (
	// DefaultTimeout bounds one request when the config sets no timeout.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodyBytes is the request body size Send splits batches at.
	DefaultMaxBodyBytes = 5 << 20
	// MaxResponseBytes is how much of an answer is read.
	MaxResponseBytes = 1 << 20
	// DefaultIndex is the elasticsearch index when the config names none.
	DefaultIndex = "jit-audit"
	// MinHMACKeyBytes is the shortest HMAC key accepted.
	MinHMACKeyBytes = 16
	// SignatureHeader and TimestampHeader carry the HMAC (see the package
	// documentation for the construction).
	SignatureHeader = "X-Jit-Signature"
	TimestampHeader = "X-Jit-Timestamp"
)

// Formats are the values of SinkConfig.Format this sink speaks.
const (
	FormatJSON          = "json"
	FormatSplunkHEC     = "splunk-hec"
	FormatElasticsearch = "elasticsearch"
	FormatLoki          = "loki"
	FormatOTLP          = "otlp"
)

// Options are the sink's dependencies on its environment; the zero value
// uses the process's.
type Options struct {
	// Getenv reads token_env and hmac_key_env; os.Getenv when nil.
	Getenv func(string) string
	// Now stamps X-Jit-Timestamp; time.Now when nil.
	Now func() time.Time
	// MaxBodyBytes is the body size at which Send splits a batch into
	// several requests; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int
	// Version is jit's version, sent in User-Agent and as the OTLP scope
	// version.
	Version string
}

// Sink is an audit.BatchSink that POSTs batches to one URL. It is safe for
// concurrent use; batches sent concurrently may arrive in either order.
type Sink struct {
	name    string
	format  string
	target  string // the URL requests go to
	auth    string // the Authorization header value, or ""
	hmacKey []byte
	headers http.Header
	client  *http.Client
	maxBody int
	now     func() time.Time
	enc     encoder
	// secrets are scrubbed from server answers quoted in errors, in case a
	// server echoes the request.
	secrets []string

	mu     sync.Mutex
	closed bool
}

var _ audit.BatchSink = (*Sink)(nil)

// reservedHeaders are set by the sink; a configured value would either be
// overwritten or break the request.
var reservedHeaders = []string{
	"Authorization", "Proxy-Authorization", "Content-Type", "Content-Length", "Content-Encoding",
	"Transfer-Encoding", "Host", "Connection", "Te", "Trailer", "Upgrade", "Cookie",
	SignatureHeader, TimestampHeader,
}

// New returns the sink for an http SinkConfig. It reads the token and the
// HMAC key, and the CA file, now, so that a missing secret is reported when
// the configuration is loaded rather than at the first event; it makes no
// request.
func New(cfg policy.SinkConfig, opts Options) (*Sink, error) {
	if cfg.Type != "" && cfg.Type != "http" {
		return nil, fmt.Errorf("http sink: config is for a %s sink", cfg.Type)
	}
	format := cfg.Format
	if format == "" {
		format = FormatJSON
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http sink: url %q must be an absolute http:// or https:// URL", redactURLString(cfg.URL))
	}
	if u.User != nil {
		return nil, fmt.Errorf("http sink %s: url must not carry credentials: put the token in token_env or token_file", redactURL(u))
	}
	u.Fragment, u.RawFragment = "", ""
	switch format {
	case FormatSplunkHEC:
		u.Path = normalisePath(u.Path, "/services/collector/event", "/services/collector", "/event")
	case FormatElasticsearch:
		if !strings.HasSuffix(u.Path, "/_bulk") {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/_bulk"
		}
	case FormatLoki:
		if u.Path == "" || u.Path == "/" {
			u.Path = "/loki/api/v1/push"
		}
	case FormatOTLP:
		if !strings.HasSuffix(u.Path, "/v1/logs") {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/logs"
		}
	}
	u.RawPath = ""
	name := cfg.Name
	if name == "" {
		name = "http:" + u.Host + u.EscapedPath()
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("http sink %s: "+format, append([]any{name}, args...)...)
	}

	s := &Sink{name: name, format: format, target: u.String(), now: opts.Now, maxBody: opts.MaxBodyBytes}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if cfg.Index != "" && format != FormatElasticsearch && format != FormatSplunkHEC {
		return nil, fail("index applies to the elasticsearch and splunk-hec formats only, not %s", format)
	}
	if len(cfg.Labels) > 0 && format != FormatLoki {
		return nil, fail("labels apply to the loki format only, not %s", format)
	}
	switch format {
	case FormatJSON:
		s.enc = jsonEncoder{}
	case FormatSplunkHEC:
		if !validHeaderValue(cfg.Index) || !utf8.ValidString(cfg.Index) {
			return nil, fail("index %q holds control characters or is not UTF-8", cfg.Index)
		}
		s.enc = hecEncoder{index: cfg.Index}
	case FormatElasticsearch:
		index := cfg.Index
		if index == "" {
			index = DefaultIndex
		}
		if err := checkIndex(index); err != nil {
			return nil, fail("%v", err)
		}
		s.enc = esEncoder{index: index}
	case FormatLoki:
		enc, err := newLokiEncoder(cfg.Labels)
		if err != nil {
			return nil, fail("%v", err)
		}
		s.enc = enc
	case FormatOTLP:
		s.enc = otlpEncoder{version: opts.Version}
	default:
		return nil, fail("unknown format %q (known: json, splunk-hec, elasticsearch, loki, otlp)", format)
	}

	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	token, err := loadSecret("token", cfg.TokenEnv, cfg.TokenFile, getenv)
	if err != nil {
		return nil, fail("%v", err)
	}
	if token != nil {
		if bytes.ContainsFunc(token, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fail("the token (%s) contains control characters: it cannot be sent in a header", secretSource("token", cfg.TokenEnv, cfg.TokenFile))
		}
		if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
			return nil, fail("refusing to send the token over plain http to %s: use an https:// url", u.Hostname())
		}
		scheme := "Bearer "
		if format == FormatSplunkHEC {
			scheme = "Splunk "
		}
		if bytes.ContainsRune(token, ' ') {
			scheme = ""
		}
		s.auth = scheme + string(token)
		s.secrets = append(s.secrets, string(token))
	}
	key, err := loadSecret("hmac_key", cfg.HMACKeyEnv, cfg.HMACKeyFile, getenv)
	if err != nil {
		return nil, fail("%v", err)
	}
	if key != nil {
		if len(key) < MinHMACKeyBytes {
			return nil, fail("the HMAC key (%s) is %d bytes: use at least %d (e.g. 32 random bytes, hex-encoded)",
				secretSource("hmac_key", cfg.HMACKeyEnv, cfg.HMACKeyFile), len(key), MinHMACKeyBytes)
		}
		s.hmacKey = key
		s.secrets = append(s.secrets, string(key))
	}

	ua := "jit"
	if opts.Version != "" {
		ua += "/" + opts.Version
	}
	s.headers = http.Header{"User-Agent": {ua}}
	for k, v := range cfg.Headers {
		if !validHeaderName(k) {
			return nil, fail("header name %q is not a valid HTTP header name", k)
		}
		if slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, k) }) {
			if strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "Proxy-Authorization") {
				return nil, fail("headers must not set %s: a credential in the policy is readable by everyone who can read the repository; put it in token_env or token_file", k)
			}
			return nil, fail("headers must not set %s: the sink sets it", k)
		}
		if !validHeaderValue(v) {
			return nil, fail("header %s: the value contains control characters", k)
		}
		s.headers.Set(k, v)
	}

	tr, err := newTransport(u.Scheme, cfg.CAFile)
	if err != nil {
		return nil, fail("%v", err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// A followed redirect would replay the body, and perhaps the token,
		// to wherever the server points; for a POST, 301–303 would even turn
		// it into a GET whose 200 looks like acceptance.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// normalisePath turns the bare forms of a well-known endpoint into the full
// path: an empty path becomes full, a path ending in short gets add.
func normalisePath(p, full, short, add string) string {
	switch {
	case p == "" || p == "/":
		return full
	case strings.HasSuffix(p, short):
		return p + add
	case strings.HasSuffix(p, short+"/"):
		return strings.TrimSuffix(p, "/") + add
	}
	return p
}

func newTransport(scheme, caFile string) (*http.Transport, error) {
	base, ok := http.DefaultTransport.(*http.Transport)
	var tr *http.Transport
	if ok {
		tr = base.Clone()
	} else {
		tr = &http.Transport{}
	}
	// Loopback is never proxied by ProxyFromEnvironment.
	tr.Proxy = http.ProxyFromEnvironment
	tr.MaxIdleConnsPerHost = 4
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tr, nil
	}
	if scheme != "https" {
		return nil, fmt.Errorf("ca_file %s is set but the url is not https://", caFile)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
	}
	tr.TLSClientConfig.RootCAs = pool
	return tr, nil
}

// loadSecret reads a secret named by an environment variable or a file;
// nil, nil when neither is configured. The value never appears in errors.
func loadSecret(what, env, file string, getenv func(string) string) ([]byte, error) {
	if env != "" && file != "" {
		return nil, fmt.Errorf("%s_env and %s_file are exclusive: keep one", what, what)
	}
	var v []byte
	switch {
	case env != "":
		v = []byte(getenv(env))
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read %s_file: %w", what, err)
		}
		v = b
	default:
		return nil, nil
	}
	v = bytes.TrimRight(v, "\r\n")
	if len(v) == 0 {
		return nil, fmt.Errorf("%s is empty or not set", secretSource(what, env, file))
	}
	return v, nil
}

func secretSource(what, env, file string) string {
	if env != "" {
		return "environment variable " + env + " (" + what + "_env)"
	}
	return "file " + file + " (" + what + "_file)"
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// checkIndex applies Elasticsearch's index name rules, so that a bad name
// fails at load time instead of on every batch.
func checkIndex(index string) error {
	bad := index == "." || index == ".." || len(index) > 255 ||
		strings.ContainsAny(index, "\\/*?\"<>| ,#:") || strings.ToLower(index) != index ||
		strings.IndexAny(index[:1], "-_+") == 0 || !validHeaderValue(index)
	if bad {
		return fmt.Errorf("index %q is not a valid Elasticsearch index name (lowercase, no spaces or \\/*?\"<>|,#:, not starting with -, _ or +)", index)
	}
	return nil
}

// Name returns the configured name, or "http:" and the URL's host and path
// (never its query, which may hold a secret).
func (s *Sink) Name() string { return s.name }

// URL returns the URL requests are sent to, after the format's path was
// completed (see the package documentation).
func (s *Sink) URL() string { return s.target }

// Format returns the body format.
func (s *Sink) Format() string { return s.format }

// Close releases idle connections; Send fails after it.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.client.CloseIdleConnections()
	return nil
}

// Send delivers batch in order, in one request or, past MaxBodyBytes, in
// several. It returns nil only when all were accepted. On error some of the
// first requests may have been accepted: the batch is to be sent again
// whole, and those events arrive twice.
func (s *Sink) Send(ctx context.Context, batch []audit.Record) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return &Error{Sink: s.name, Msg: "send after close"}
	}
	if len(batch) == 0 {
		return nil
	}
	pieces, err := encodePieces(s.enc, batch)
	if err != nil {
		return &Error{Sink: s.name, Msg: err.Error(), Err: err}
	}
	for start := 0; start < len(pieces); {
		if err := ctx.Err(); err != nil {
			return &Error{Sink: s.name, Msg: err.Error(), Err: err, Retryable: true}
		}
		body, n := assemble(s.enc, pieces[start:], s.maxBody)
		if err := s.post(ctx, body); err != nil {
			var e *Error
			if start > 0 && errors.As(err, &e) {
				e.Msg += fmt.Sprintf(" (the batch went in several requests: its first %d of %d events were accepted)", start, len(batch))
			}
			return err
		}
		start += n
	}
	return nil
}

// Sign returns the X-Jit-Signature value for body sent with timestamp ts
// (the X-Jit-Timestamp value): "sha256=" and the lowercase hex
// HMAC-SHA256 of key over ts + "." + body.
func Sign(key []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Sink) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, bytes.NewReader(body))
	if err != nil {
		return &Error{Sink: s.name, Msg: "build request: " + err.Error(), Err: err}
	}
	for k, v := range s.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", s.enc.contentType())
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	if s.hmacKey != nil {
		ts := strconv.FormatInt(s.now().Unix(), 10)
		req.Header.Set(TimestampHeader, ts)
		req.Header.Set(SignatureHeader, Sign(s.hmacKey, ts, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportError(ctx, err)
	}
	defer resp.Body.Close()
	// Reading one byte past the cap tells an oversized answer from one
	// that fits.
	answer := io.LimitReader(resp.Body, MaxResponseBytes+1)
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		if !s.enc.checksAnswer() {
			// Drained (within the cap) so the connection can be reused.
			_, _ = io.Copy(io.Discard, answer)
			return nil
		}
		err := s.enc.checkAnswer(resp.Header.Get("Content-Type"), answer)
		if err == nil {
			return nil
		}
		var ae *answerError
		if errors.As(err, &ae) {
			return &Error{Sink: s.name, StatusCode: code, Retryable: ae.retryable, Msg: s.scrub(ae.msg)}
		}
		return &Error{Sink: s.name, StatusCode: code, Msg: s.scrub(err.Error()), Err: err}
	case code >= 300 && code < 400:
		loc := resp.Header.Get("Location")
		where := "elsewhere"
		if loc != "" {
			if lu, err := resp.Request.URL.Parse(loc); err == nil {
				where = redactURL(lu)
			}
		}
		return &Error{Sink: s.name, StatusCode: code,
			Msg: fmt.Sprintf("server answered %s, redirecting to %s: redirects are not followed; set url to the final address", resp.Status, where)}
	}
	data, _ := io.ReadAll(answer)
	e := &Error{Sink: s.name, StatusCode: code,
		Retryable: code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500,
		Msg:       "server answered " + resp.Status + answerSuffix(s.scrub(firstLine(data)))}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), s.now())
	if code == http.StatusRequestEntityTooLarge {
		e.Msg += fmt.Sprintf(" (the body was %d bytes)", len(body))
	}
	return e
}

func (s *Sink) transportError(ctx context.Context, err error) error {
	// url.Error quotes the whole URL, query included; keep only its cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	switch {
	case ctx.Err() != nil:
		err, msg = ctx.Err(), "request abandoned: "+ctx.Err().Error()
	case isTimeout(err):
		msg = fmt.Sprintf("no answer within %s (timeout): %s", s.client.Timeout, msg)
	}
	return &Error{Sink: s.name, Retryable: true, Err: err, Msg: s.scrub(msg)}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
}

func (s *Sink) scrub(msg string) string {
	for _, sec := range s.secrets {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, "[redacted]")
		}
	}
	return msg
}

func answerSuffix(line string) string {
	if line == "" {
		return ""
	}
	return ": " + line
}

// firstLine returns the first non-empty line of an answer, printable and at
// most 200 bytes.
func firstLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redactURL renders u without credentials, query or fragment.
func redactURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

func redactURLString(s string) string {
	if u, err := url.Parse(s); err == nil {
		return redactURL(u)
	}
	// Unparsable: it may still hold a secret after "@" or "?".
	if i := strings.IndexAny(s, "@?"); i >= 0 {
		s = s[:i] + "…"
	}
	return s
}

// Error is the error Send returns: one line naming the sink, never holding
// the token.
type Error struct {
	// Sink is the sink's name.
	Sink string
	// StatusCode is the HTTP status of the answer, 0 when there was none.
	StatusCode int
	// Retryable is true when sending the same batch again later may succeed
	// (network failure, timeout, 408, 429, 5xx, a cancelled context); false
	// when the configuration or the data must change first.
	Retryable bool
	// RetryAfter is the wait the server asked for, if it did.
	RetryAfter time.Duration
	// Msg is the message after the sink's name.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string { return e.Sink + ": " + e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether a later retry may succeed (Retryable).
func (e *Error) Temporary() bool { return e.Retryable }

// IsRetryable reports whether err, from Send, says that sending the batch
// again later may succeed.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}
