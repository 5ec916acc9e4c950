package httpsink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

const secretToken = "s3cr3t-T0KEN-value"

// recorder is an HTTP server that keeps every request and answers with
// respond (204 when nil).
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []*http.Request
	bodies  [][]byte
	respond func(w http.ResponseWriter, r *http.Request, n int)
}

func newRecorder(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	rec := &recorder{respond: respond}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.bodies = append(rec.bodies, body)
		n := len(rec.reqs)
		rec.mu.Unlock()
		if rec.respond == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rec.respond(w, r, n)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func newSink(t *testing.T, cfg policy.SinkConfig, opts Options) *Sink {
	t.Helper()
	cfg.Type = "http"
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewRefuses(t *testing.T) {
	env := map[string]string{"TOKEN": secretToken, "CTRL": "a\x01b", "SHORT": "0123456789", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	tokenFile := writeFile(t, secretToken+"\n")
	emptyFile := writeFile(t, "\n")
	notPEM := writeFile(t, "not a certificate")
	tests := []struct {
		name string
		cfg  policy.SinkConfig
		want string
	}{
		{"scheme", policy.SinkConfig{URL: "ftp://127.0.0.1/x"}, "must be an absolute http:// or https:// URL"},
		{"no host", policy.SinkConfig{URL: "http:///x"}, "must be an absolute"},
		{"credentials in url", policy.SinkConfig{URL: "https://user:" + secretToken + "@siem.example.com/x"}, "must not carry credentials"},
		{"format", policy.SinkConfig{URL: "http://127.0.0.1/x", Format: "gelf"}, `unknown format "gelf"`},
		{"token env unset", policy.SinkConfig{URL: "https://siem.example.com/", TokenEnv: "NOPE"}, "environment variable NOPE (token_env) is empty or not set"},
		{"token env empty", policy.SinkConfig{URL: "https://siem.example.com/", TokenEnv: "EMPTY"}, "is empty or not set"},
		{"token file missing", policy.SinkConfig{URL: "https://siem.example.com/", TokenFile: "/nonexistent/token"}, "read token_file"},
		{"token file empty", policy.SinkConfig{URL: "https://siem.example.com/", TokenFile: emptyFile}, "(token_file) is empty"},
		{"both token sources", policy.SinkConfig{URL: "https://siem.example.com/", TokenEnv: "TOKEN", TokenFile: tokenFile}, "exclusive"},
		{"token control chars", policy.SinkConfig{URL: "https://siem.example.com/", TokenEnv: "CTRL"}, "contains control characters"},
		{"token over http", policy.SinkConfig{URL: "http://siem.example.com/", TokenEnv: "TOKEN"}, "refusing to send the token over plain http to siem.example.com"},
		{"authorization header", policy.SinkConfig{URL: "https://siem.example.com/", Headers: map[string]string{"authorization": "Bearer " + secretToken}}, "must not set authorization: a credential in the policy"},
		{"content-type header", policy.SinkConfig{URL: "https://siem.example.com/", Headers: map[string]string{"Content-Type": "text/plain"}}, "must not set Content-Type: the sink sets it"},
		{"signature header", policy.SinkConfig{URL: "https://siem.example.com/", Headers: map[string]string{"X-Jit-Signature": "x"}}, "must not set X-Jit-Signature"},
		{"header name", policy.SinkConfig{URL: "https://siem.example.com/", Headers: map[string]string{"X Team": "sec"}}, "not a valid HTTP header name"},
		{"header value", policy.SinkConfig{URL: "https://siem.example.com/", Headers: map[string]string{"X-Team": "sec\r\nX-Evil: 1"}}, "control characters"},
		{"hmac short", policy.SinkConfig{URL: "https://siem.example.com/", HMACKeyEnv: "SHORT"}, "is 10 bytes: use at least 16"},
		{"ca_file on http", policy.SinkConfig{URL: "http://127.0.0.1/", CAFile: notPEM}, "the url is not https://"},
		{"ca_file not pem", policy.SinkConfig{URL: "https://127.0.0.1/", CAFile: notPEM}, "holds no PEM certificate"},
		{"es index", policy.SinkConfig{URL: "https://es.example.com/", Format: FormatElasticsearch, Index: "Audit Log"}, "not a valid Elasticsearch index name"},
		{"loki label name", policy.SinkConfig{URL: "https://loki.example.com/", Format: FormatLoki, Labels: map[string]string{"my-app": "x"}}, "not a valid Loki label name"},
		{"loki event label", policy.SinkConfig{URL: "https://loki.example.com/", Format: FormatLoki, Labels: map[string]string{"event": "x"}}, `label "event" is set by the sink`},
		{"index on loki", policy.SinkConfig{URL: "https://loki.example.com/", Format: FormatLoki, Index: "x"}, "index applies to the elasticsearch and splunk-hec formats only"},
		{"labels on otlp", policy.SinkConfig{URL: "https://otel.example.com/", Format: FormatOTLP, Labels: map[string]string{"app": "x"}}, "labels apply to the loki format only"},
		{"wrong type", policy.SinkConfig{Type: "syslog", URL: "https://x.example.com/"}, "config is for a syslog sink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, Options{Getenv: getenv})
			if err == nil {
				t.Fatalf("New accepted %+v", tt.cfg)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if strings.Contains(msg, secretToken) || strings.Contains(msg, "\n") {
				t.Errorf("error %q holds the token or several lines", msg)
			}
			if tt.cfg.Type == "" && !strings.HasPrefix(msg, "http sink") {
				t.Errorf("error %q does not name the sink", msg)
			}
		})
	}
}

func TestURLAndName(t *testing.T) {
	tests := []struct {
		format, url, name, want string
	}{
		{FormatJSON, "https://siem.example.com/ingest?token=abc#frag", "", "https://siem.example.com/ingest?token=abc"},
		{FormatSplunkHEC, "https://splunk.example.com:8088/services/collector", "", "https://splunk.example.com:8088/services/collector/event"},
		{FormatSplunkHEC, "https://splunk.example.com:8088/services/collector/", "", "https://splunk.example.com:8088/services/collector/event"},
		{FormatSplunkHEC, "https://splunk.example.com:8088", "", "https://splunk.example.com:8088/services/collector/event"},
		{FormatSplunkHEC, "https://h.example.com/insert/splunk/services/collector/event", "", "https://h.example.com/insert/splunk/services/collector/event"},
		{FormatElasticsearch, "https://es.example.com:9200", "", "https://es.example.com:9200/_bulk"},
		{FormatElasticsearch, "https://es.example.com:9200/insert/elasticsearch/", "", "https://es.example.com:9200/insert/elasticsearch/_bulk"},
		{FormatElasticsearch, "https://es.example.com/_bulk?_time_field=time", "", "https://es.example.com/_bulk?_time_field=time"},
		{FormatLoki, "https://loki.example.com", "", "https://loki.example.com/loki/api/v1/push"},
		{FormatLoki, "https://h.example.com/insert/loki/api/v1/push", "", "https://h.example.com/insert/loki/api/v1/push"},
		{FormatOTLP, "https://otel.example.com:4318", "", "https://otel.example.com:4318/v1/logs"},
		{FormatOTLP, "https://otel.example.com:4318/v1/logs", "", "https://otel.example.com:4318/v1/logs"},
		{FormatOTLP, "http://127.0.0.1:9428/insert/opentelemetry", "vlogs", "http://127.0.0.1:9428/insert/opentelemetry/v1/logs"},
	}
	for _, tt := range tests {
		s, err := New(policy.SinkConfig{Type: "http", URL: tt.url, Format: tt.format, Name: tt.name}, Options{})
		if err != nil {
			t.Fatalf("%s %s: %v", tt.format, tt.url, err)
		}
		if s.URL() != tt.want {
			t.Errorf("%s %s: URL %s, want %s", tt.format, tt.url, s.URL(), tt.want)
		}
		wantName := tt.name
		if wantName == "" {
			wantName = "http:" + strings.TrimPrefix(strings.SplitN(tt.want, "?", 2)[0], "https://")
		}
		if s.Name() != wantName {
			t.Errorf("%s %s: Name %s, want %s", tt.format, tt.url, s.Name(), wantName)
		}
		if strings.Contains(s.Name(), "token=") {
			t.Errorf("the name %s shows the query", s.Name())
		}
	}
}

// verifySignature is a receiver's check, written from the documented
// construction without the package's Sign.
func verifySignature(key []byte, r *http.Request, body []byte, now time.Time) error {
	ts := r.Header.Get("X-Jit-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %s away", ts, d)
	}
	sig, ok := strings.CutPrefix(r.Header.Get("X-Jit-Signature"), "sha256=")
	if !ok {
		return errors.New("no sha256= signature")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "." + string(body)))
	if !hmac.Equal(got, m.Sum(nil)) {
		return errors.New("signature mismatch")
	}
	return nil
}

func TestJSONFormatHeadersAndHMAC(t *testing.T) {
	recs, _ := journalRecords(t, 5)
	rec := newRecorder(t, nil)
	key := "0123456789abcdef0123456789abcdef"
	s := newSink(t, policy.SinkConfig{
		URL:         rec.URL + "/ingest",
		TokenFile:   writeFile(t, secretToken+"\r\n"),
		HMACKeyFile: writeFile(t, key+"\n"),
		Headers:     map[string]string{"X-Team": "sec", "X-Scope-OrgID": "tenant-1"},
	}, Options{Version: "1.4.0"})
	if err := s.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if rec.count() != 1 {
		t.Fatalf("%d requests, want 1", rec.count())
	}
	r, body := rec.reqs[0], rec.bodies[0]
	var want bytes.Buffer
	want.WriteByte('[')
	for i, rc := range recs {
		if i > 0 {
			want.WriteByte(',')
		}
		want.Write(rc.Line)
	}
	want.WriteByte(']')
	if !bytes.Equal(body, want.Bytes()) {
		t.Errorf("body\n%s\nwant\n%s", body, want.Bytes())
	}
	for k, v := range map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "Bearer " + secretToken,
		"X-Team":        "sec",
		"X-Scope-Orgid": "tenant-1",
		"User-Agent":    "jit/1.4.0",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/ingest" {
		t.Errorf("%s %s", r.Method, r.URL.Path)
	}
	if err := verifySignature([]byte(key), r, body, time.Now()); err != nil {
		t.Errorf("the signature does not verify: %v", err)
	}
	// The verifier can fail: another body, key or timestamp does not pass.
	if verifySignature([]byte(key), r, append(body[:len(body):len(body)], ' '), time.Now()) == nil {
		t.Error("a changed body verifies")
	}
	if verifySignature([]byte(key+"x"), r, body, time.Now()) == nil {
		t.Error("another key verifies")
	}
	if verifySignature([]byte(key), r, body, time.Now().Add(time.Hour)) == nil {
		t.Error("a stale timestamp verifies")
	}
	r2 := r.Clone(context.Background())
	ts, _ := strconv.ParseInt(r.Header.Get("X-Jit-Timestamp"), 10, 64)
	r2.Header.Set("X-Jit-Timestamp", strconv.FormatInt(ts+1, 10))
	if verifySignature([]byte(key), r2, body, time.Now()) == nil {
		t.Error("the signature does not cover the timestamp")
	}
	if got := Sign([]byte(key), r.Header.Get("X-Jit-Timestamp"), body); got != r.Header.Get("X-Jit-Signature") {
		t.Errorf("Sign = %s, header %s", got, r.Header.Get("X-Jit-Signature"))
	}
}

func TestAuthorization(t *testing.T) {
	tests := []struct {
		format, token, want string
	}{
		{FormatJSON, secretToken, "Bearer " + secretToken},
		{FormatSplunkHEC, secretToken, "Splunk " + secretToken},
		{FormatElasticsearch, secretToken, "Bearer " + secretToken},
		{FormatElasticsearch, "ApiKey " + secretToken, "ApiKey " + secretToken},
		{FormatLoki, "Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"},
		{FormatOTLP, secretToken, "Bearer " + secretToken},
		{FormatJSON, "", ""},
	}
	recs, _ := journalRecords(t, 1)
	for _, tt := range tests {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			switch tt.format {
			case FormatSplunkHEC:
				w.Write([]byte(`{"text":"Success","code":0}`))
			case FormatElasticsearch:
				w.Write([]byte(`{"errors":false,"items":[]}`))
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		})
		cfg := policy.SinkConfig{URL: rec.URL, Format: tt.format}
		if tt.token != "" {
			cfg.TokenEnv = "SINK_TOKEN"
		}
		s := newSink(t, cfg, Options{Getenv: func(k string) string {
			if k == "SINK_TOKEN" {
				return tt.token + "\n"
			}
			return ""
		}})
		if err := s.Send(context.Background(), recs); err != nil {
			t.Fatalf("%s: %v", tt.format, err)
		}
		if got := rec.reqs[0].Header.Get("Authorization"); got != tt.want {
			t.Errorf("%s: Authorization %q, want %q", tt.format, got, tt.want)
		}
		if got, want := rec.reqs[0].Header.Get("Content-Type"), s.enc.contentType(); got != want {
			t.Errorf("%s: Content-Type %q, want %q", tt.format, got, want)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select { // hang until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	recs, _ := journalRecords(t, 2)
	s := newSink(t, policy.SinkConfig{URL: rec.URL, Timeout: 200 * time.Millisecond}, Options{})
	start := time.Now()
	err := s.Send(context.Background(), recs)
	took := time.Since(start)
	if err == nil {
		t.Fatal("a hanging server accepted the batch")
	}
	if took > 3*time.Second {
		t.Errorf("Send took %s with a 200ms timeout", took)
	}
	if !IsRetryable(err) || !strings.Contains(err.Error(), "timeout") || !strings.HasPrefix(err.Error(), s.Name()+": ") {
		t.Errorf("error %q: want a retryable timeout naming the sink", err)
	}
	if strings.Contains(err.Error(), rec.URL) {
		t.Errorf("error %q quotes the URL", err)
	}

	// The caller's context is honoured too.
	s2 := newSink(t, policy.SinkConfig{URL: rec.URL}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = s2.Send(ctx, recs)
	if !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) {
		t.Errorf("cancelled send: %v", err)
	}
}

func TestStatusAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		retryable  bool
		retryAfter time.Duration
		want       string
	}{
		{"429", 429, map[string]string{"Retry-After": "7"}, "slow down\n", true, 7 * time.Second, "server answered 429 Too Many Requests: slow down"},
		{"503", 503, nil, "", true, 0, "server answered 503 Service Unavailable"},
		{"408", 408, nil, "", true, 0, "408 Request Timeout"},
		{"400 first line", 400, nil, "\n  bad field \"x\"\nstack trace line 2\n", false, 0, `server answered 400 Bad Request: bad field "x"`},
		{"401 echoes token", 401, nil, "invalid token " + secretToken, false, 0, "server answered 401 Unauthorized: invalid token [redacted]"},
		{"413", 413, nil, "too big", false, 0, "413 Request Entity Too Large: too big (the body was"},
		{"long answer", 400, nil, strings.Repeat("é", 500), false, 0, strings.Repeat("é", 100) + "…"},
	}
	recs, _ := journalRecords(t, 3)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			s := newSink(t, policy.SinkConfig{URL: rec.URL, TokenEnv: "T"}, Options{Getenv: func(string) string { return secretToken }})
			err := s.Send(context.Background(), recs)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if se.Retryable != tt.retryable || IsRetryable(err) != tt.retryable || se.StatusCode != tt.status || se.RetryAfter != tt.retryAfter {
				t.Errorf("%+v: want retryable %v, status %d, retry after %s", se, tt.retryable, tt.status, tt.retryAfter)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, s.Name()+": ") {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, secretToken) {
				t.Errorf("error %q holds several lines or the token", msg)
			}
		})
	}
}

func TestRetryAfter429ThenSuccess(t *testing.T) {
	recs, _ := journalRecords(t, 4)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := newSink(t, policy.SinkConfig{URL: rec.URL}, Options{})
	err := s.Send(context.Background(), recs)
	if !IsRetryable(err) {
		t.Fatalf("first send: %v, want a retryable error", err)
	}
	// The shipper retries the same batch.
	if err := s.Send(context.Background(), recs); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if rec.count() != 2 || !bytes.Equal(rec.bodies[0], rec.bodies[1]) {
		t.Errorf("%d requests; the retry must send the same body", rec.count())
	}
}

func TestRedirectRefused(t *testing.T) {
	elsewhere := newRecorder(t, nil)
	for _, code := range []int{301, 302, 307, 308} {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Redirect(w, r, elsewhere.URL+"/steal?token=leak", code)
		})
		s := newSink(t, policy.SinkConfig{URL: rec.URL + "/in", TokenEnv: "T"}, Options{Getenv: func(string) string { return secretToken }})
		recs, _ := journalRecords(t, 1)
		err := s.Send(context.Background(), recs)
		if err == nil || IsRetryable(err) {
			t.Fatalf("%d: error %v, want a permanent refusal", code, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "redirects are not followed") || !strings.Contains(msg, elsewhere.URL+"/steal") || strings.Contains(msg, "leak") {
			t.Errorf("%d: error %q", code, msg)
		}
	}
	if elsewhere.count() != 0 {
		t.Errorf("the redirect target received %d requests", elsewhere.count())
	}
}

func TestOversizedAnswer(t *testing.T) {
	// An endless answer: the sink must stop reading at the cap.
	var written atomic.Int64
	endless := func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte(`{"text":"Success","code":0}`), 1024)
		for i := 0; i < 4096; i++ { // at most ~110 MB
			if _, err := w.Write(chunk); err != nil {
				return
			}
			written.Add(int64(len(chunk)))
		}
	}
	recs, _ := journalRecords(t, 2)
	for _, format := range []string{FormatSplunkHEC, FormatJSON} {
		written.Store(0)
		rec := newRecorder(t, endless)
		s := newSink(t, policy.SinkConfig{URL: rec.URL + "/services/collector/event", Format: format}, Options{})
		start := time.Now()
		err := s.Send(context.Background(), recs)
		switch format {
		case FormatSplunkHEC:
			// The answer must be read to be checked: too large to confirm.
			if err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("hec: %v, want an error about the answer's size", err)
			}
		case FormatJSON:
			// 2xx is all json needs; the body is not read beyond the cap.
			if err != nil {
				t.Errorf("json: %v", err)
			}
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("%s: Send took %s", format, time.Since(start))
		}
		rec.CloseClientConnections()
		if w := written.Load(); w > 64<<20 {
			t.Errorf("%s: the server wrote %d bytes before the sink stopped reading", format, w)
		}
	}
}

func TestHECAnswers(t *testing.T) {
	tests := []struct {
		answer string
		want   string // "" when accepted
	}{
		{`{"text":"Success","code":0}`, ""},
		{`{"text":"Success","code":0,"ackId":7}`, ""},
		{`{"text":"Invalid data format","code":6,"invalid-event-number":0}`, "HEC answered code 6: Invalid data format"},
		{`{"text":"Incorrect index","code":7}`, "code 7"},
		{`<html>ok</html>`, "not a Splunk HEC answer"},
		{``, "not a Splunk HEC answer"},
	}
	recs, _ := journalRecords(t, 2)
	for _, tt := range tests {
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { io.WriteString(w, tt.answer) })
		s := newSink(t, policy.SinkConfig{URL: rec.URL, Format: FormatSplunkHEC}, Options{})
		err := s.Send(context.Background(), recs)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.answer, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || IsRetryable(err) {
			t.Errorf("%s: error %v, want a permanent %q", tt.answer, err, tt.want)
		}
	}
}

func TestElasticsearchAnswers(t *testing.T) {
	const created = `{"create":{"_index":"jit-audit","_id":"x","status":201,"result":"created"}}`
	tests := []struct {
		name, answer string
		want         string
		retryable    bool
	}{
		{"ok", `{"took":3,"errors":false,"items":[` + created + `,` + created + `]}`, "", false},
		{"duplicates", `{"took":3,"errors":true,"items":[` + created + `,{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}]}`, "", false},
		{"mapping error", `{"took":3,"errors":true,"items":[` + created + `,{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [time]"}}}]}`,
			"Elasticsearch refused 1 of the batch's documents; first: document 2: status 400: mapper_parsing_exception: failed to parse field [time]", false},
		{"rejected", `{"errors":true,"items":[{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},` + created + `]}`, "status 429", true},
		{"items first", `{"items":[{"index":{"status":500,"error":{"type":"x","reason":"y"}}}],"errors":true}`, "status 500", true},
		{"items first ok", `{"items":[` + created + `],"errors":false}`, "", false},
		{"no errors field", `{"items":[]}`, "not an Elasticsearch _bulk answer", false},
		{"not json", `ok`, "not an Elasticsearch _bulk answer", false},
		{"cut off", `{"took":3,"items":[` + created, "cut off", false},
	}
	recs, _ := journalRecords(t, 2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) { io.WriteString(w, tt.answer) })
			s := newSink(t, policy.SinkConfig{URL: rec.URL, Format: FormatElasticsearch}, Options{})
			err := s.Send(context.Background(), recs)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || IsRetryable(err) != tt.retryable {
				t.Errorf("error %v, want %q (retryable %v)", err, tt.want, tt.retryable)
			}
		})
	}
}

// TestElasticsearchLargeAnswer: a real Elasticsearch answers about 200
// bytes per document; for a large batch that exceeds MaxResponseBytes, and
// errors:false must still be enough.
func TestElasticsearchLargeAnswer(t *testing.T) {
	item := `{"create":{"_index":"jit-audit","_id":"` + strings.Repeat("a", 64) + `","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}`
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		io.WriteString(w, `{"took":30,"errors":false,"items":[`)
		for i := 0; i < 2*MaxResponseBytes/len(item); i++ {
			if i > 0 {
				io.WriteString(w, ",")
			}
			io.WriteString(w, item)
		}
		io.WriteString(w, `]}`)
	})
	recs, _ := journalRecords(t, 3)
	s := newSink(t, policy.SinkConfig{URL: rec.URL, Format: FormatElasticsearch}, Options{})
	if err := s.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func TestOTLPAnswers(t *testing.T) {
	partial := func(rejected int64, msg string) []byte {
		var ps []byte
		ps = protowire.AppendTag(ps, 1, protowire.VarintType)
		ps = protowire.AppendVarint(ps, uint64(rejected))
		ps = protowire.AppendTag(ps, 2, protowire.BytesType)
		ps = protowire.AppendString(ps, msg)
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		return protowire.AppendBytes(b, ps)
	}
	tests := []struct {
		name, ct string
		body     []byte
		want     string
	}{
		{"empty", "application/x-protobuf", nil, ""},
		{"no rejection", "application/x-protobuf", partial(0, ""), ""},
		{"rejected", "application/x-protobuf", partial(2, "timestamp too old"), "the receiver rejected 2 of the batch's log records: timestamp too old"},
		{"json rejected", "application/json", []byte(`{"partialSuccess":{"rejectedLogRecords":"1","errorMessage":"bad"}}`), "rejected 1"},
		{"json ok", "application/json", []byte(`{"partialSuccess":{}}`), ""},
		{"garbage protobuf", "application/x-protobuf", []byte{0xff, 0xff, 0xff}, "not an OTLP protobuf answer"},
		{"text", "text/plain", []byte("ok"), ""},
	}
	recs, _ := journalRecords(t, 3)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", tt.ct)
				w.Write(tt.body)
			})
			s := newSink(t, policy.SinkConfig{URL: rec.URL, Format: FormatOTLP}, Options{})
			err := s.Send(context.Background(), recs)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if got := rec.reqs[0].URL.Path; got != "/v1/logs" {
				t.Errorf("path %s", got)
			}
		})
	}
}

// TestSplit: a batch larger than MaxBodyBytes goes in several requests,
// each within the limit, together carrying the batch in order.
func TestSplit(t *testing.T) {
	recs, _ := journalRecords(t, 60)
	for _, format := range allFormats {
		t.Run(format, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
				switch format {
				case FormatSplunkHEC:
					io.WriteString(w, `{"text":"Success","code":0}`)
				case FormatElasticsearch:
					io.WriteString(w, `{"errors":false}`)
				default:
					w.WriteHeader(204)
				}
			})
			const max = 4000
			s := newSink(t, policy.SinkConfig{URL: rec.URL, Format: format}, Options{MaxBodyBytes: max})
			if err := s.Send(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			if rec.count() < 60*500/max {
				t.Fatalf("%d requests for about %d bytes", rec.count(), 60*500)
			}
			var seqs []uint64
			for i, body := range rec.bodies {
				if len(body) > max {
					t.Errorf("request %d: %d bytes > %d", i, len(body), max)
				}
				evs, err := decodeBody(format, body)
				if err != nil {
					t.Fatal(err)
				}
				var batchSeqs []uint64
				for _, ev := range evs {
					var e audit.Event
					if err := json.Unmarshal(ev.line, &e); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(ev.line, recs[e.Seq-1].Line) {
						t.Fatalf("seq %d differs", e.Seq)
					}
					batchSeqs = append(batchSeqs, e.Seq)
				}
				if format == FormatLoki {
					slices.Sort(batchSeqs) // streams group by event type
				}
				seqs = append(seqs, batchSeqs...)
			}
			for i, seq := range seqs {
				if seq != uint64(i+1) {
					t.Fatalf("requests carry seqs %v, want 1..60 in order", seqs)
				}
			}
			if len(seqs) != len(recs) {
				t.Fatalf("%d events shipped, want %d", len(seqs), len(recs))
			}
		})
	}
}

func TestSplitPartialFailure(t *testing.T) {
	recs, _ := journalRecords(t, 20)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(204)
	})
	s := newSink(t, policy.SinkConfig{URL: rec.URL}, Options{MaxBodyBytes: 2000})
	err := s.Send(context.Background(), recs)
	if !IsRetryable(err) || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "of 20 events were accepted") {
		t.Fatalf("%v", err)
	}
	if rec.count() != 3 {
		t.Errorf("%d requests: Send must stop at the first failure", rec.count())
	}
}

func TestBadRecordNotSent(t *testing.T) {
	recs, _ := journalRecords(t, 3)
	bad := []audit.Record{recs[0], {Seq: 2, Line: []byte(`{"event":"grant"`)}, recs[2]}
	for _, format := range allFormats {
		rec := newRecorder(t, nil)
		s := newSink(t, policy.SinkConfig{URL: rec.URL, Format: format}, Options{})
		err := s.Send(context.Background(), bad)
		if !errors.Is(err, ErrBadRecord) || IsRetryable(err) || !strings.Contains(err.Error(), "seq 2: not a JSON object") {
			t.Errorf("%s: %v", format, err)
		}
		if rec.count() != 0 {
			t.Errorf("%s: %d requests sent for a batch with a bad record", format, rec.count())
		}
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(srv.Close)
	recs, _ := journalRecords(t, 1)
	// Unknown CA.
	s := newSink(t, policy.SinkConfig{URL: srv.URL, TokenEnv: "T"}, Options{Getenv: func(string) string { return secretToken }})
	err := s.Send(context.Background(), recs)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unknown CA was accepted: %v", err)
	}
	// Trusted through ca_file.
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	s = newSink(t, policy.SinkConfig{URL: srv.URL, CAFile: writeFile(t, string(ca)), TokenEnv: "T"},
		Options{Getenv: func(string) string { return secretToken }})
	if err := s.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func TestClosedAndEmpty(t *testing.T) {
	rec := newRecorder(t, nil)
	s := newSink(t, policy.SinkConfig{URL: rec.URL}, Options{})
	if err := s.Send(context.Background(), nil); err != nil || rec.count() != 0 {
		t.Fatalf("empty batch: %v, %d requests", err, rec.count())
	}
	s.Close()
	recs, _ := journalRecords(t, 1)
	if err := s.Send(context.Background(), recs); err == nil || !strings.Contains(err.Error(), "after close") {
		t.Fatalf("send after close: %v", err)
	}
}

// TestWireExamples pins the exact bytes of each format for one event.
func TestWireExamples(t *testing.T) {
	tm := time.Date(2026, 12, 3, 10, 0, 0, 120000000, time.UTC)
	line := []byte(`{"event":"grant","hash":"` + strings.Repeat("ab", 32) + `","host":"ws-1","request_id":"r1","seq":7,"time":"2026-12-03T10:00:00.12Z"}`)
	ev := &audit.Event{Event: "grant", Hash: strings.Repeat("ab", 32), Host: "ws-1", RequestID: "r1", Seq: 7, Time: tm}
	r := audit.Record{Seq: 7, Line: line, Event: ev}
	tests := []struct {
		format string
		cfg    func(*policy.SinkConfig)
		want   string
	}{
		{FormatJSON, nil, "[" + string(line) + "]"},
		{FormatSplunkHEC, func(c *policy.SinkConfig) { c.Index = "sec" },
			`{"time":1796292000.120000000,"host":"ws-1","source":"jit","sourcetype":"jit:audit","index":"sec","event":` + string(line) + `}`},
		{FormatElasticsearch, nil,
			`{"create":{"_index":"jit-audit","_id":"` + strings.Repeat("ab", 32) + `"}}` + "\n" + string(line) + "\n"},
		{FormatLoki, func(c *policy.SinkConfig) { c.Labels = map[string]string{"env": "prod", "app": "jit"} },
			`{"streams":[{"stream":{"app":"jit","env":"prod","event":"grant"},"values":[["1796292000120000000",` + strconv.Quote(string(line)) + `]]}]}`},
	}
	for _, tt := range tests {
		s := testSink(t, tt.format, tt.cfg)
		bs, err := bodies(s, []audit.Record{r}, DefaultMaxBodyBytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(bs[0].data); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.format, got, tt.want)
		}
	}
}

// BenchmarkShipJSON measures the json format to a loopback server that
// discards the bodies (VictoriaLogs has no endpoint for a JSON array).
func BenchmarkShipJSON(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	recs, _ := journalRecords(b, 500)
	s, err := New(policy.SinkConfig{Type: "http", URL: srv.URL}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if err := s.Send(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
}
