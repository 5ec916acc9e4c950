package s3sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// The S3-compatible server the tests run: versitygw (Apache-2.0) with its
// posix backend, installed by
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
const (
	serverBin     = "versitygw"
	serverInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
	testAccess    = "jitaudit"
	testSecret    = "jitaudit-secret-Zq81vX"
	testBucket    = "audit"
)

// findServer returns the versitygw binary, from PATH or $GOPATH/bin. When
// it is absent the test is skipped, or fails under JIT_REQUIRE_SERVERS=1.
func findServer(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath(serverBin); err == nil {
		return p
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", serverBin)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found in PATH or $GOPATH/bin: install it with `%s`", serverBin, serverInstall)
	if os.Getenv("JIT_REQUIRE_SERVERS") == "1" {
		t.Fatal(msg + " (JIT_REQUIRE_SERVERS=1)")
	}
	t.Skip(msg)
	return ""
}

// isolateAWS keeps the SDK away from the machine's AWS configuration and
// from every address but loopback.
func isolateAWS(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "credentials"),
		"AWS_PROFILE":                            "",
		"AWS_DEFAULT_PROFILE":                    "",
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_REGION":                             "",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_ENDPOINT_URL_S3":                    "",
		"AWS_CA_BUNDLE":                          "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"HTTP_PROXY":                             "http://127.0.0.1:9",
		"HTTPS_PROXY":                            "http://127.0.0.1:9",
		"NO_PROXY":                               "127.0.0.1,localhost,::1",
	} {
		t.Setenv(k, v)
	}
}

// server is a versitygw process on 127.0.0.1 over a directory that
// survives restarts.
type server struct {
	t    testing.TB
	bin  string
	dir  string
	addr string
	log  *os.File

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{}
	starts int
}

func startServer(t testing.TB) *server {
	t.Helper()
	isolateAWS(t)
	s := &server{t: t, bin: findServer(t), dir: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	s.log, err = os.OpenFile(filepath.Join(t.TempDir(), "versitygw.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			if b, err := os.ReadFile(s.log.Name()); err == nil && len(b) > 0 {
				t.Logf("versitygw log:\n%s", tail(b, 4000))
			}
		}
		s.log.Close()
	})
	s.start()
	s.createBucket(testBucket)
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// start runs the server (again, on the same address and directory) and
// waits until its health check answers.
func (s *server) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// tryStart is start for goroutines other than the test's.
func (s *server) tryStart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, "--port", s.addr, "--access", testAccess, "--secret", testSecret,
		"--health", "/healthz", "--quiet", "posix", s.dir)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.proc, s.exited = cmd.Process, exited
	s.starts++
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			s.proc = nil
			return fmt.Errorf("versitygw exited while starting (see its log)")
		default:
		}
		resp, err := client.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw on %s not healthy after 20s: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill SIGKILLs the server and waits until it is gone.
func (s *server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("versitygw (pid %d) not gone 10s after SIGKILL", s.proc.Pid)
	}
	s.proc = nil
}

func (s *server) endpoint() string { return "http://" + s.addr }

// client is a plain SDK client with the root credentials, for setting up
// and inspecting the bucket independently of the sink.
func (s *server) client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{Proxy: nil}},
	})
}

func (s *server) createBucket(name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		s.t.Fatalf("create bucket %s: %v", name, err)
	}
}

// sinkConfig is an s3 sink on the server's bucket.
func (s *server) sinkConfig(prefix string) policy.SinkConfig {
	return policy.SinkConfig{Type: "s3", Bucket: testBucket, Prefix: prefix, Endpoint: s.endpoint(), Timeout: 5 * time.Second}
}

func rootCreds() Options {
	return Options{Credentials: credentials.NewStaticCredentialsProvider(testAccess, testSecret, "")}
}

// stored is one object as the store holds it.
type stored struct {
	key         string
	body        []byte
	contentType string
	meta        map[string]string
}

// listObjects returns every object under prefix, in key order.
func (s *server) listObjects(prefix string) []stored {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.client()
	var out []stored
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			s.t.Fatalf("list: %v", err)
		}
		for _, o := range page.Contents {
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: o.Key})
			if err != nil {
				s.t.Fatalf("get %s: %v", aws.ToString(o.Key), err)
			}
			body, err := io.ReadAll(g.Body)
			g.Body.Close()
			if err != nil {
				s.t.Fatalf("read %s: %v", aws.ToString(o.Key), err)
			}
			out = append(out, stored{key: aws.ToString(o.Key), body: body, contentType: aws.ToString(g.ContentType), meta: g.Metadata})
		}
	}
	return out
}

// journal is a real audit journal and its records.
type journal struct {
	path    string
	data    []byte
	records []audit.Record
}

// makeJournal appends n events to a new journal, a few at a time as
// elevations do, their times a step apart from start, and reads it back.
func makeJournal(t testing.TB, n int, start time.Time, step time.Duration) *journal {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	j := audit.OpenJournal(path)
	types := []string{audit.EventRequest, audit.EventGrant, audit.EventSessionStart, audit.EventSessionEnd}
	for i := 0; i < n; {
		var evs []*audit.Event
		// Big journals are written faster, in larger appends.
		per := 4
		if n > 1000 {
			per = 400
		}
		for k := 0; k < per && i < n; k, i = k+1, i+1 {
			evs = append(evs, &audit.Event{
				Time:      start.Add(time.Duration(i) * step),
				Event:     types[k%4],
				RequestID: fmt.Sprintf("req-%05d", i/4),
				Principal: &audit.Principal{ID: "alice@example.com", Source: "test"},
				Target:    "prod",
				Provider:  "aws",
				Reason:    fmt.Sprintf("CHG-%d \"quoted\" ünïcode", i),
			})
		}
		if err := j.Append(evs...); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	return readJournal(t, path)
}

func readJournal(t testing.TB, path string) *journal {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	jr := &journal{path: path, data: data}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		var e audit.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		jr.records = append(jr.records, audit.Record{Seq: e.Seq, Line: line, Event: &e})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return jr
}

// batches cuts records into batches of at most size.
func batches(records []audit.Record, size int) [][]audit.Record {
	var out [][]audit.Record
	for len(records) > 0 {
		n := min(size, len(records))
		out = append(out, records[:n])
		records = records[n:]
	}
	return out
}

// concat joins the bodies of objects.
func concat(objs []stored) []byte {
	var b []byte
	for _, o := range objs {
		b = append(b, o.body...)
	}
	return b
}

// readAll reads back what the sink wrote through ReadAll.
func readAll(t testing.TB, cfg policy.SinkConfig, opts Options) ([]byte, *Reader) {
	t.Helper()
	r, err := ReadAll(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("ReadAll read: %v", err)
	}
	return b, r
}

// mustVerify checks that data is a valid chain of want events.
func mustVerify(t testing.TB, data []byte, want int) {
	t.Helper()
	rep, err := audit.Verify(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() || rep.Events != want {
		var ps []string
		for _, p := range rep.Problems {
			ps = append(ps, p.String())
		}
		t.Fatalf("verify: %d events (want %d), problems: %s", rep.Events, want, strings.Join(ps, "; "))
	}
}

// hangListener accepts connections and never answers, for timeouts.
func hangListener(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + l.Addr().String()
}

// dropProxy forwards TCP to a server and, when armed, swallows the next
// answer the server sends and cuts the connection: the request was
// processed but its response lost, as when a network fails at the worst
// moment.
type dropProxy struct {
	l       net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Int32
	// onRequest, when set, runs once, right after request bytes have
	// been passed to the server.
	onRequest atomic.Pointer[func()]
}

func newDropProxy(t testing.TB, target string) *dropProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{l: l, target: target}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return p
}

func (p *dropProxy) endpoint() string { return "http://" + p.l.Addr().String() }

func (p *dropProxy) serve(c net.Conn) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	go func() {
		defer u.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := u.Write(buf[:n]); werr != nil {
					return
				}
				if f := p.onRequest.Swap(nil); f != nil {
					(*f)()
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		if n > 0 {
			if p.armed.CompareAndSwap(true, false) {
				p.dropped.Add(1)
				return
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
