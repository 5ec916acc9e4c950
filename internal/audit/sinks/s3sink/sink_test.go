package s3sink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// The journal's events straddle midnight UTC, so the objects land under two
// dates.
var journalStart = time.Date(2026, 12, 3, 23, 58, 0, 0, time.UTC)

func mkSink(t testing.TB, cfg policy.SinkConfig, opts Options) *Sink {
	t.Helper()
	s, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestShipJournal(t *testing.T) {
	srv := startServer(t)
	j := makeJournal(t, 43, journalStart, 7*time.Second)
	cfg := srv.sinkConfig("jit/")
	s := mkSink(t, cfg, rootCreds())

	var wantKeys []string
	for _, b := range batches(j.records, 8) {
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatalf("Send seq %d-%d: %v", b[0].Seq, b[len(b)-1].Seq, err)
		}
		k, err := s.Key(b)
		if err != nil {
			t.Fatal(err)
		}
		wantKeys = append(wantKeys, k)
	}
	if err := s.Send(context.Background(), nil); err != nil {
		t.Fatalf("Send of an empty batch: %v", err)
	}

	objs := srv.listObjects("jit/")
	if len(objs) != len(wantKeys) {
		t.Fatalf("%d objects in the bucket, want %d (one per batch)", len(objs), len(wantKeys))
	}
	days := map[string]bool{}
	for i, o := range objs {
		if o.key != wantKeys[i] {
			t.Errorf("object %d key %s, want %s", i, o.key, wantKeys[i])
		}
		days[o.key[:len("jit/2026/12/03")]] = true
		if o.contentType != ContentType {
			t.Errorf("%s: Content-Type %q, want %q", o.key, o.contentType, ContentType)
		}
		k, err := ParseKey("jit/", o.key)
		if err != nil {
			t.Fatal(err)
		}
		if o.meta[MetaFirstSeq] != strconv.FormatUint(k.First, 10) || o.meta[MetaLastSeq] != strconv.FormatUint(k.Last, 10) {
			t.Errorf("%s: metadata %v, want first %d last %d", o.key, o.meta, k.First, k.Last)
		}
		if n := bytes.Count(o.body, []byte("\n")); uint64(n) != k.Last-k.First+1 || !bytes.HasSuffix(o.body, []byte("\n")) {
			t.Errorf("%s: %d lines, want %d each ending in a newline", o.key, n, k.Last-k.First+1)
		}
	}
	if len(days) != 2 {
		t.Errorf("objects under %d dates, want 2 (the journal straddles midnight): %v", len(days), days)
	}
	got := concat(objs)
	if !bytes.Equal(got, j.data) {
		t.Fatalf("the objects concatenated (%d bytes) are not the journal (%d bytes)", len(got), len(j.data))
	}
	mustVerify(t, got, 43)

	read, r := readAll(t, cfg, rootCreds())
	if !bytes.Equal(read, j.data) {
		t.Fatalf("ReadAll returned %d bytes, not the journal's %d", len(read), len(j.data))
	}
	if keys := r.Keys(); strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("ReadAll keys %v, want %v", keys, wantKeys)
	}
	if sk := r.Skipped(); len(sk) != 0 {
		t.Errorf("ReadAll skipped %v", sk)
	}
}

func TestResendIsIdempotent(t *testing.T) {
	srv := startServer(t)
	j := makeJournal(t, 30, journalStart, time.Second)
	cfg := srv.sinkConfig("idem/")
	s := mkSink(t, cfg, rootCreds())
	ctx := context.Background()
	send := func(b []audit.Record) {
		t.Helper()
		if err := s.Send(ctx, b); err != nil {
			t.Fatalf("Send %d-%d: %v", b[0].Seq, b[len(b)-1].Seq, err)
		}
	}

	// The same batch twice, as after a lost answer: one object.
	send(j.records[:10])
	send(j.records[:10])
	if objs := srv.listObjects("idem/"); len(objs) != 1 || !bytes.Equal(objs[0].body, j.data[:lenLines(j.records[:10])]) {
		t.Fatalf("after sending a batch twice the bucket holds %d objects, want 1 with the batch", len(objs))
	}

	// A retry that took more events: seq 11-15 failed (say), then 11-30
	// went through. Both objects stay; ReadAll streams the larger.
	send(j.records[10:15])
	send(j.records[10:30])
	if objs := srv.listObjects("idem/"); len(objs) != 3 {
		t.Fatalf("the bucket holds %d objects, want 3", len(objs))
	}
	read, r := readAll(t, cfg, rootCreds())
	if !bytes.Equal(read, j.data) {
		t.Fatalf("ReadAll over a covered object returned %d bytes, not the journal's %d", len(read), len(j.data))
	}
	mustVerify(t, read, 30)
	sk := r.Skipped()
	small, _ := s.Key(j.records[10:15])
	if len(sk) != 1 || sk[0].Key != small || !strings.Contains(sk[0].Reason, "covered") {
		t.Fatalf("Skipped = %v, want the covered object %s", sk, small)
	}

	// An object with the same first seq from another journal is not
	// covered: it is streamed, and verification finds it.
	other := makeJournal(t, 12, journalStart, time.Second)
	send(other.records[10:12])
	read, r = readAll(t, cfg, rootCreds())
	if len(r.Skipped()) != 1 {
		t.Fatalf("Skipped = %v, want only the covered object", r.Skipped())
	}
	rep, err := audit.Verify(bytes.NewReader(read))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatalf("verify passed over two journals' events mixed")
	}
}

func putInput(key, body string) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: strings.NewReader(body)}
}

func lenLines(rs []audit.Record) int {
	n := 0
	for _, r := range rs {
		n += len(r.Line) + 1
	}
	return n
}

func TestReadAllSkipsForeignObjects(t *testing.T) {
	srv := startServer(t)
	j := makeJournal(t, 5, journalStart, time.Second)
	cfg := srv.sinkConfig("f/")
	s := mkSink(t, cfg, rootCreds())
	if err := s.Send(context.Background(), j.records); err != nil {
		t.Fatal(err)
	}
	// Someone else's object under the prefix.
	if _, err := srv.client().PutObject(context.Background(), putInput("f/README.txt", "not an audit batch\n")); err != nil {
		t.Fatal(err)
	}
	read, r := readAll(t, cfg, rootCreds())
	if !bytes.Equal(read, j.data) {
		t.Fatalf("ReadAll returned %q, want the journal", read)
	}
	if sk := r.Skipped(); len(sk) != 1 || sk[0].Key != "f/README.txt" {
		t.Fatalf("Skipped = %v, want f/README.txt", sk)
	}
}

func TestProfile(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[audit]\naws_access_key_id = "+testAccess+"\naws_secret_access_key = "+testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	j := makeJournal(t, 3, journalStart, time.Second)

	cfg := srv.sinkConfig("prof/")
	cfg.Profile = "audit"
	s := mkSink(t, cfg, Options{})
	if err := s.Send(context.Background(), j.records); err != nil {
		t.Fatalf("Send with profile audit: %v", err)
	}
	if objs := srv.listObjects("prof/"); len(objs) != 1 || !bytes.Equal(objs[0].body, j.data) {
		t.Fatalf("the bucket holds %d objects, want the batch", len(objs))
	}

	cfg.Profile = "nosuch"
	if _, err := New(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), `profile "nosuch"`) {
		t.Fatalf("New with a missing profile: %v", err)
	}

	// No profile and nothing in the default chain: the error says so.
	cfg.Profile = ""
	s = mkSink(t, cfg, Options{RetryMaxAttempts: 1})
	err := s.Send(context.Background(), j.records)
	var se *Error
	if !errors.As(err, &se) || se.Kind != KindAuth || !strings.Contains(err.Error(), "no usable AWS credentials") {
		t.Fatalf("Send without credentials: %v", err)
	}
}

func TestErrors(t *testing.T) {
	srv := startServer(t)
	j := makeJournal(t, 4, journalStart, time.Second)
	tests := []struct {
		name     string
		mutate   func(*policy.SinkConfig)
		opts     Options
		kind     Kind
		code     string
		contains string
	}{
		{"wrong secret", nil,
			Options{Credentials: credentials.NewStaticCredentialsProvider(testAccess, "wrong-secret-Kx99", "")},
			KindAuth, "SignatureDoesNotMatch", "check the credentials (the credentials given) and that they may s3:PutObject on audit/e/*"},
		{"unknown access key", nil,
			Options{Credentials: credentials.NewStaticCredentialsProvider("NOBODY", "wrong-secret-Kx99", "")},
			// AWS says InvalidAccessKeyId, versitygw XAdminUserNotFound.
			KindAuth, "*", "the store refused the request"},
		{"missing bucket", func(c *policy.SinkConfig) { c.Bucket = "nosuch" }, rootCreds(),
			KindNoBucket, "NoSuchBucket", `bucket "nosuch" does not exist`},
		{"nothing listening", func(c *policy.SinkConfig) { c.Endpoint = "http://127.0.0.1:9" }, rootCreds(),
			KindUnreachable, "", "cannot connect to the store: dial tcp 127.0.0.1:9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.sinkConfig("e/")
			cfg.Name = "audit-archive"
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			tc.opts.RetryMaxAttempts = 1
			s := mkSink(t, cfg, tc.opts)
			key, _ := s.Key(j.records)
			err := s.Send(context.Background(), j.records)
			checkErr(t, err, tc.kind, tc.code, tc.contains, "audit sink audit-archive: put s3://"+cfg.Bucket+"/"+key+": ")

			// ReadAll fails alike, naming the listing.
			_, err = ReadAll(context.Background(), cfg, tc.opts)
			checkErr(t, err, tc.kind, tc.code, "", "audit sink audit-archive: list s3://"+cfg.Bucket+"/e/: ")
		})
	}
}

func checkErr(t *testing.T, err error, kind Kind, code, contains, start string) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want an *Error", err, err)
	}
	msg := err.Error()
	t.Logf("%s", msg)
	if se.Kind != kind || (code == "*" && se.Code == "") || (code != "*" && se.Code != code) {
		t.Errorf("kind %q code %q, want %q %q: %s", se.Kind, se.Code, kind, code, msg)
	}
	if !strings.HasPrefix(msg, start) || !strings.Contains(msg, contains) {
		t.Errorf("message %q\n want it to start with %q and contain %q", msg, start, contains)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message on several lines: %q", msg)
	}
	for _, secret := range []string{testSecret, "wrong-secret-Kx99"} {
		if strings.Contains(msg, secret) {
			t.Errorf("message holds a secret: %q", msg)
		}
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	isolateAWS(t)
	endpoint := hangListener(t)
	j := makeJournal(t, 2, journalStart, time.Second)
	cfg := policy.SinkConfig{Type: "s3", Bucket: "audit", Endpoint: endpoint, Timeout: 300 * time.Millisecond}

	s := mkSink(t, cfg, rootCreds())
	start := time.Now()
	err := s.Send(context.Background(), j.records)
	if el := time.Since(start); el < 250*time.Millisecond || el > 3*time.Second {
		t.Errorf("Send returned after %s, want about the 300ms timeout", el)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	checkErr(t, err, KindTimeout, "", "no answer within the sink's timeout of 300ms", "audit sink s3 audit/: put s3://audit/2026/12/03/")

	cfg.Timeout = time.Minute
	s = mkSink(t, cfg, rootCreds())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	err = s.Send(ctx, j.records)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Send returned %s after the cancellation", el)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	checkErr(t, err, KindCanceled, "", "canceled", "audit sink s3 audit/: put s3://audit/")

	// Already canceled: no request at all.
	if err := s.Send(ctx, j.records); !errors.Is(err, context.Canceled) {
		t.Errorf("Send on a canceled context: %v", err)
	}
	if _, err := ReadAll(ctx, cfg, rootCreds()); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAll on a canceled context: %v", err)
	}
}

func TestSendRejectsBadBatches(t *testing.T) {
	isolateAWS(t)
	// Nothing listens here: every case must fail before a request.
	cfg := policy.SinkConfig{Type: "s3", Bucket: "audit", Endpoint: "http://127.0.0.1:9"}
	s := mkSink(t, cfg, rootCreds())
	day := journalStart
	tests := []struct {
		name  string
		batch []audit.Record
		want  string
	}{
		{"gap", []audit.Record{rec(1, day, hashA), rec(3, day, hashA)}, "seq 3 follows seq 1"},
		{"backwards", []audit.Record{rec(2, day, hashA), rec(1, day, hashA)}, "seq 1 follows seq 2"},
		{"event of another seq", []audit.Record{{Seq: 1, Line: []byte(`{}`), Event: &audit.Event{Seq: 2, Hash: hashA}}}, "holds the event of seq 2"},
		{"empty line", []audit.Record{{Seq: 1, Event: &audit.Event{Seq: 1, Hash: hashA}}}, "not a journal line"},
		{"newline in line", []audit.Record{{Seq: 1, Line: []byte("{}\n{}"), Event: &audit.Event{Seq: 1, Hash: hashA}}}, "not a journal line"},
		{"no hash", []audit.Record{rec(1, day, "")}, "it was not journaled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Send(context.Background(), tc.batch)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "audit sink s3 audit/: ") {
				t.Fatalf("Send = %v, want an error containing %q", err, tc.want)
			}
			var se *Error
			if errors.As(err, &se) {
				t.Fatalf("Send made a request (%v)", err)
			}
		})
	}
	s.Close()
	if err := s.Send(context.Background(), []audit.Record{rec(1, day, hashA)}); err == nil || !strings.Contains(err.Error(), "after close") {
		t.Fatalf("Send after Close = %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	isolateAWS(t)
	tests := []struct {
		name string
		cfg  policy.SinkConfig
		want string
	}{
		{"no bucket", policy.SinkConfig{Type: "s3", Endpoint: "http://127.0.0.1:9"}, "bucket is required"},
		{"other type", policy.SinkConfig{Type: "http", Bucket: "b"}, `type "http" is not s3`},
		{"bad endpoint", policy.SinkConfig{Type: "s3", Bucket: "b", Endpoint: "127.0.0.1:9000"}, "is not an http:// or https:// URL"},
		{"no region", policy.SinkConfig{Type: "s3", Bucket: "b"}, "no region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(context.Background(), tc.cfg, rootCreds()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAddressing(t *testing.T) {
	isolateAWS(t)
	f := false
	tests := []struct {
		name      string
		cfg       policy.SinkConfig
		pathStyle bool
		region    string
	}{
		{"endpoint: path style, us-east-1", policy.SinkConfig{Type: "s3", Bucket: "b", Endpoint: "http://127.0.0.1:9"}, true, "us-east-1"},
		{"endpoint, path_style false", policy.SinkConfig{Type: "s3", Bucket: "b", Endpoint: "http://127.0.0.1:9", PathStyle: &f, Region: "eu-west-1"}, false, "eu-west-1"},
		{"AWS: virtual hosts", policy.SinkConfig{Type: "s3", Bucket: "b", Region: "eu-west-1"}, false, "eu-west-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mkSink(t, tc.cfg, rootCreds())
			o := s.client.Options()
			if o.UsePathStyle != tc.pathStyle || o.Region != tc.region {
				t.Fatalf("path style %v region %q, want %v %q", o.UsePathStyle, o.Region, tc.pathStyle, tc.region)
			}
		})
	}
}

// countingClient fails every request with err and counts them.
type countingClient struct {
	calls atomic.Int32
	err   error
}

func (c *countingClient) Do(*http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return nil, c.err
}

// TestRetries: the SDK tries a dropped connection once more, but not a
// store that refuses connections (that only delays the jit run; the
// shipper retries later).
func TestRetries(t *testing.T) {
	isolateAWS(t)
	j := makeJournal(t, 2, journalStart, time.Second)
	cfg := policy.SinkConfig{Type: "s3", Bucket: "audit", Endpoint: "http://127.0.0.1:9"}
	tests := []struct {
		name  string
		err   error
		opts  Options
		calls int32
		kind  Kind
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, Options{}, 1, KindUnreachable},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, Options{}, 2, KindUnreachable},
		{"reset, no retries", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, Options{RetryMaxAttempts: 1}, 1, KindUnreachable},
		{"reset, 4 attempts", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, Options{RetryMaxAttempts: 4}, 4, KindUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &countingClient{err: tc.err}
			tc.opts.HTTPClient = c
			tc.opts.Credentials = rootCreds().Credentials
			s := mkSink(t, cfg, tc.opts)
			err := s.Send(context.Background(), j.records)
			var se *Error
			if !errors.As(err, &se) || se.Kind != tc.kind {
				t.Fatalf("Send = %v, want a %s error", err, tc.kind)
			}
			if got := c.calls.Load(); got != tc.calls {
				t.Fatalf("%d requests, want %d", got, tc.calls)
			}
		})
	}
}

// TestReadAllOrdersBySeq: a clock stepped back over midnight puts a later
// batch under an earlier date; ReadAll still returns the journal's order.
func TestReadAllOrdersBySeq(t *testing.T) {
	srv := startServer(t)
	// Events a second apart from midnight, the clock set back 20 minutes
	// after the fifth: events 1-5 are dated the 4th, 6-10 the 3rd.
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	jr := audit.OpenJournal(path)
	for i := range 10 {
		tm := time.Date(2026, 12, 4, 0, 0, i, 0, time.UTC)
		if i >= 5 {
			tm = tm.Add(-20 * time.Minute)
		}
		if err := jr.Append(&audit.Event{Time: tm, Event: audit.EventRequest, Target: "prod"}); err != nil {
			t.Fatal(err)
		}
	}
	j := readJournal(t, path)
	cfg := srv.sinkConfig("clock/")
	s := mkSink(t, cfg, rootCreds())
	for _, b := range batches(j.records, 5) {
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	objs := srv.listObjects("clock/")
	if len(objs) != 2 || !strings.HasPrefix(objs[0].key, "clock/2026/12/03/00000000000000000006-") {
		t.Fatalf("listing %v: want the batch of seq 6-10 first, under the 3rd", []string{objs[0].key, objs[1].key})
	}
	read, r := readAll(t, cfg, rootCreds())
	if !bytes.Equal(read, j.data) {
		t.Fatalf("ReadAll did not return the journal in seq order; keys %v", r.Keys())
	}
	mustVerify(t, read, 10)
}

// TestReadAllObjectGone: an object deleted between the listing and its
// fetch fails the read with an error naming it.
func TestReadAllObjectGone(t *testing.T) {
	srv := startServer(t)
	j := makeJournal(t, 6, journalStart, time.Second)
	cfg := srv.sinkConfig("gone/")
	s := mkSink(t, cfg, rootCreds())
	for _, b := range batches(j.records, 3) {
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	r, err := ReadAll(context.Background(), cfg, rootCreds())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	second, _ := s.Key(j.records[3:])
	if _, err := srv.client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String(second)}); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if !bytes.Equal(got, j.data[:lenLines(j.records[:3])]) {
		t.Errorf("read %q before the error, want the first object", got)
	}
	checkErr(t, err, KindStore, "NoSuchKey", "the object does not exist (NoSuchKey): it was deleted after the listing", "audit sink s3 audit/gone/: get s3://audit/"+second+": ")
	if _, err2 := r.Read(make([]byte, 10)); err2 != err {
		t.Errorf("Read after the error = %v, want the same error", err2)
	}
}
