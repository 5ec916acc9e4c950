package httpsink

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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests below run a real VictoriaLogs, which speaks Splunk HEC,
// Elasticsearch _bulk, Loki push and OTLP/HTTP. They look for the
// victoria-logs binary in PATH and then in $(go env GOPATH)/bin, and skip
// when it is absent unless JIT_REQUIRE_SERVERS=1. Install it with
//
//	cd /tmp && GOPROXY=https://proxy.golang.org GOFLAGS=-mod=mod \
//	  go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.2
const vlogsInstall = "cd /tmp && GOFLAGS=-mod=mod go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.2"

func vlogsBinary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("victoria-logs"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "victoria-logs")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	msg := "victoria-logs not found in PATH or $(go env GOPATH)/bin; install it with: " + vlogsInstall
	if os.Getenv("JIT_REQUIRE_SERVERS") == "1" {
		tb.Fatal(msg + " (JIT_REQUIRE_SERVERS=1)")
	}
	tb.Skip(msg)
	return ""
}

// vlogs is a VictoriaLogs process on 127.0.0.1 with its own storage.
type vlogs struct {
	tb   testing.TB
	bin  string
	dir  string
	addr string
	log  *bytes.Buffer
	cmd  *exec.Cmd
	done chan struct{}
}

func startVLogs(tb testing.TB) *vlogs {
	tb.Helper()
	v := &vlogs{tb: tb, bin: vlogsBinary(tb), dir: filepath.Join(tb.TempDir(), "vlogs"), log: &bytes.Buffer{}}
	var err error
	for try := 0; try < 5; try++ {
		// The port is free when chosen; another process could take it
		// before VictoriaLogs binds it, hence the retries.
		v.addr = freeAddr(tb)
		if err = v.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("start victoria-logs: %v\n%s", err, v.log)
	}
	tb.Cleanup(func() { v.stop(syscall.SIGTERM) })
	return v
}

func freeAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs VictoriaLogs on v.addr and v.dir and waits for /health.
func (v *vlogs) start() error {
	cmd := exec.Command(v.bin,
		"-httpListenAddr="+v.addr,
		"-storageDataPath="+v.dir,
		"-retentionPeriod=1d",
		"-loggerLevel=WARN",
	)
	cmd.Stdout, cmd.Stderr = v.log, v.log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	v.cmd, v.done = cmd, done
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("victoria-logs exited: %s", cmd.ProcessState)
		default:
		}
		resp, err := http.Get("http://" + v.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	v.stop(syscall.SIGKILL)
	return fmt.Errorf("victoria-logs on %s not healthy after 15 s", v.addr)
}

func (v *vlogs) stop(sig syscall.Signal) {
	if v.cmd == nil {
		return
	}
	_ = v.cmd.Process.Signal(sig)
	select {
	case <-v.done:
	case <-time.After(10 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.done
	}
	v.cmd = nil
}

// kill SIGKILLs VictoriaLogs: no chance to flush.
func (v *vlogs) kill() { v.stop(syscall.SIGKILL) }

// restart starts VictoriaLogs again on the same port and storage.
func (v *vlogs) restart() {
	v.tb.Helper()
	var err error
	for try := 0; try < 50; try++ {
		if err = v.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.tb.Fatalf("restart victoria-logs: %v\n%s", err, v.log)
}

func (v *vlogs) url(path string) string { return "http://" + v.addr + path }

// flush makes ingested rows visible to queries.
func (v *vlogs) flush() error {
	resp, err := http.Get(v.url("/internal/force_flush"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("force_flush: %s", resp.Status)
	}
	return nil
}

// persist writes every ingested row to disk, so that it survives a
// SIGKILL. VictoriaLogs acknowledges rows while they are still in memory
// (for up to -inmemoryDataFlushInterval, 5 s by default): its ack alone is
// not durable. A snapshot flushes in-memory parts to files.
func (v *vlogs) persist() error {
	if err := v.flush(); err != nil {
		return err
	}
	resp, err := http.Post(v.url("/internal/partition/snapshot/create"), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("snapshot: %s: %s", resp.Status, body)
	}
	var paths []string
	if err := json.Unmarshal(body, &paths); err != nil {
		return fmt.Errorf("snapshot answer %q: %v", body, err)
	}
	for _, p := range paths {
		r, err := http.Post(v.url("/internal/partition/snapshot/delete?path="+url.QueryEscape(p)), "", nil)
		if err == nil {
			r.Body.Close()
		}
	}
	return nil
}

// query runs a LogsQL query and returns the rows.
func (v *vlogs) query(q string) []map[string]string {
	v.tb.Helper()
	if err := v.flush(); err != nil {
		v.tb.Fatalf("flush: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, v.url("/select/logsql/query"),
		strings.NewReader(url.Values{"query": {q}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.tb.Fatalf("query %q: %v", q, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		v.tb.Fatalf("query %q: %s: %s", q, resp.Status, b)
	}
	var rows []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row map[string]string
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			v.tb.Fatalf("query %q: row %q: %v", q, sc.Bytes(), err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		v.tb.Fatalf("query %q: %v", q, err)
	}
	return rows
}

// count returns the number of rows q matches.
func (v *vlogs) count(q string) int {
	v.tb.Helper()
	rows := v.query(q + " | stats count() n")
	if len(rows) != 1 {
		v.tb.Fatalf("count %q: %d rows", q, len(rows))
	}
	n, err := strconv.Atoi(rows[0]["n"])
	if err != nil {
		v.tb.Fatalf("count %q: %v", q, err)
	}
	return n
}
