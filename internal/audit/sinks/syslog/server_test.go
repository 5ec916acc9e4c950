package syslog

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// rsyslogd is a real rsyslog daemon started by a test, listening on
// loopback: UDP, plain TCP and TLS (gtls driver) on ports of its own. Each
// input has a ruleset writing two files: <name>.5424 with the RFC 5424
// fields of every message, and <name>.msg with just MSG, one per line.
type rsyslogd struct {
	t                testing.TB
	bin              string
	dir              string
	conf             string
	caFile           string
	udp, tcp, tlsp   int
	cmd              *exec.Cmd
	exited           chan struct{}
	stderr           *syncBuffer
	directMainQueue  bool
	maxMessageSize   int
	internalMessages string
}

// rsyslogOptions change the generated configuration.
type rsyslogOptions struct {
	// directMainQueue makes the main queue Direct: an input hands each
	// message to the actions itself before it reads on, so rsyslog closes a
	// connection only after writing what came through it.
	directMainQueue bool
	maxMessageSize  int
}

// needRsyslog returns the rsyslogd binary, or skips the test when there is
// none, unless JIT_REQUIRE_SERVERS=1, when it fails.
func needRsyslog(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/rsyslogd"); serr == nil {
			bin, err = "/usr/sbin/rsyslogd", nil
		}
	}
	if err != nil {
		missing(t, "rsyslogd is not installed (Debian: apt-get install -y rsyslog rsyslog-gnutls)")
	}
	return bin
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("JIT_REQUIRE_SERVERS") == "1" {
		t.Fatalf("%s, and JIT_REQUIRE_SERVERS=1", msg)
	}
	t.Skip(msg)
}

// startRsyslog writes a configuration into a temporary directory, checks it
// with rsyslogd -N1, starts rsyslogd in the foreground and waits for its
// three ports.
func startRsyslog(t testing.TB, o rsyslogOptions) *rsyslogd {
	t.Helper()
	r := &rsyslogd{t: t, bin: needRsyslog(t), dir: t.TempDir(), directMainQueue: o.directMainQueue, maxMessageSize: o.maxMessageSize}
	r.udp = freePort(t, "udp")
	r.tcp = freePort(t, "tcp")
	r.tlsp = freePort(t, "tcp")
	r.writeCert()
	r.writeConf()
	out, err := exec.Command(r.bin, "-N1", "-f", r.conf).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("gtls")) {
			missing(t, "rsyslog's TLS driver is missing (Debian: apt-get install -y rsyslog-gnutls): "+firstLine(out))
		}
		t.Fatalf("rsyslogd -N1 rejects the test configuration: %v\n%s", err, out)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCert makes a self-signed ECDSA certificate for 127.0.0.1, which is
// both rsyslog's server certificate and the CA the sink trusts.
func (r *rsyslogd) writeCert() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		r.t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		r.t.Fatal(err)
	}
	r.caFile = filepath.Join(r.dir, "cert.pem")
	writeFile(r.t, r.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(r.t, filepath.Join(r.dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r *rsyslogd) writeConf() {
	d := r.dir
	var b strings.Builder
	fmt.Fprintf(&b, "global(workDirectory=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q defaultNetstreamDriverCAFile=%q", d, d+"/cert.pem", d+"/key.pem", d+"/cert.pem")
	if r.maxMessageSize > 0 {
		fmt.Fprintf(&b, " maxMessageSize=\"%d\"", r.maxMessageSize)
	}
	b.WriteString(")\n")
	if r.directMainQueue {
		b.WriteString("main_queue(queue.type=\"Direct\")\n")
	}
	b.WriteString(`module(load="imudp")
module(load="imtcp")
template(name="r5424" type="string" string="<%PRI%>%PROTOCOL-VERSION% %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%\n")
template(name="msgonly" type="string" string="%msg%\n")
`)
	for _, name := range []string{"udp", "tcp", "tls"} {
		fmt.Fprintf(&b, "ruleset(name=%q) {\n  action(type=\"omfile\" file=%q template=\"r5424\" fileCreateMode=\"0600\")\n  action(type=\"omfile\" file=%q template=\"msgonly\" fileCreateMode=\"0600\")\n}\n",
			name, filepath.Join(d, name+".5424"), filepath.Join(d, name+".msg"))
	}
	fmt.Fprintf(&b, "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"udp\")\n", r.udp)
	fmt.Fprintf(&b, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"tcp\")\n", r.tcp)
	fmt.Fprintf(&b, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"tls\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")\n", r.tlsp)
	// rsyslog's own messages (errors, truncation notices) for diagnosis.
	r.internalMessages = filepath.Join(d, "internal.log")
	fmt.Fprintf(&b, "*.* action(type=\"omfile\" file=%q)\n", r.internalMessages)
	r.conf = filepath.Join(d, "rsyslog.conf")
	writeFile(r.t, r.conf, []byte(b.String()))
}

// start runs rsyslogd on the configured ports and waits until it listens.
func (r *rsyslogd) start() {
	r.t.Helper()
	if r.stderr == nil {
		r.stderr = &syncBuffer{}
	}
	r.cmd = exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout = r.stderr
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start rsyslogd: %v", err)
	}
	r.exited = make(chan struct{})
	cmd, exited := r.cmd, r.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if listening("tcp", r.tcp) && listening("tcp", r.tlsp) && listening("udp", r.udp) {
			return
		}
		select {
		case <-exited:
			r.t.Fatalf("rsyslogd exited at start-up: %s\n%s", cmd.ProcessState, r.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rsyslogd did not listen on its ports within 10s\n%s", r.stderr)
		}
	}
}

// listening reads /proc/net/{tcp,udp} for a socket bound to 127.0.0.1:port
// (listening, for TCP), so that waiting makes no connection rsyslog would
// see.
func listening(network string, port int) bool {
	data, err := os.ReadFile("/proc/net/" + network)
	if err != nil {
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != want {
			continue
		}
		if network == "udp" || f[3] == "0A" {
			return true
		}
	}
	return false
}

// kill ends rsyslogd with SIGKILL, as a crash would, and waits for it.
func (r *rsyslogd) kill() {
	r.t.Helper()
	if r.cmd == nil {
		return
	}
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Errorf("kill rsyslogd: %v", err)
		return
	}
	<-r.exited
	r.cmd = nil
}

// stop ends rsyslogd with SIGTERM (it flushes its files) and waits.
func (r *rsyslogd) stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// config returns the sink configuration for one of the inputs: "udp",
// "tcp" or "tls".
func (r *rsyslogd) config(input string) policy.SinkConfig {
	switch input {
	case "udp":
		return policy.SinkConfig{Type: "syslog", Address: fmt.Sprintf("udp://127.0.0.1:%d", r.udp)}
	case "tcp":
		return policy.SinkConfig{Type: "syslog", Address: fmt.Sprintf("tcp://127.0.0.1:%d", r.tcp)}
	case "tls":
		return policy.SinkConfig{Type: "syslog", Address: fmt.Sprintf("tcp://127.0.0.1:%d", r.tlsp), TLS: true, CAFile: r.caFile}
	}
	r.t.Fatalf("no input %q", input)
	return policy.SinkConfig{}
}

// completeLines returns the complete lines of the named output file (rsyslog
// may be part-way through writing the last one), without their newlines.
func (r *rsyslogd) completeLines(file string) [][]byte {
	data, err := os.ReadFile(filepath.Join(r.dir, file))
	if err != nil {
		return nil
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	} else {
		return nil
	}
	return bytes.Split(data, []byte("\n"))
}

// waitLines waits until the file has n complete lines, or until rsyslog has
// written nothing new for quiet, and returns what it holds.
func (r *rsyslogd) waitLines(file string, n int, quiet time.Duration) [][]byte {
	r.t.Helper()
	last, since := -1, time.Now()
	for {
		lines := r.completeLines(file)
		if len(lines) >= n {
			return lines
		}
		if len(lines) != last {
			last, since = len(lines), time.Now()
		} else if time.Since(since) > quiet {
			return lines
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// internal returns rsyslog's own messages, for failure reports: those it
// wrote to its standard error (all of them, in the foreground) and those
// that reached the catch-all rule.
func (r *rsyslogd) internal() string {
	data, _ := os.ReadFile(r.internalMessages)
	return r.stderr.String() + string(data)
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEvents returns n events as an elevation run journals them, with
// awkward characters in the fields the structured data carries.
func testEvents(n int) []*audit.Event {
	types := []string{audit.EventRequest, audit.EventGrant, audit.EventSessionStart, audit.EventSessionEnd,
		audit.EventRequest, audit.EventDeny, audit.EventRequest, audit.EventError, audit.EventExpire, audit.EventRevoke}
	base := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	out := make([]*audit.Event, n)
	for i := range out {
		req := fmt.Sprintf("req-%04d", i/4)
		out[i] = &audit.Event{
			Event:     types[i%len(types)],
			Time:      base.Add(time.Duration(i) * 1001 * time.Microsecond),
			RequestID: req,
			Principal: &audit.Principal{ID: fmt.Sprintf(`alice"]\%d@example.com`, i%7), Source: "aws", Groups: []string{"ops", "sre"}},
			Target:    "prod-ångström ]\"x\\",
			Provider:  "aws",
			DurationS: 3600,
			Reason:    fmt.Sprintf("CHG-%d: fix \"db\" [urgent] \\ ünïcode ✓ \u2028 tab\t", i),
			Host:      "build-01.example.com",
		}
	}
	return out
}

// journalRecords appends n events to a fresh journal and returns its lines
// as the shipper hands them to a sink, and the journal's path.
func journalRecords(t testing.TB, n int) ([]audit.Record, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	j := audit.OpenJournal(path)
	events := testEvents(n)
	for len(events) > 0 {
		k := min(len(events), 500)
		if err := j.Append(events[:k]...); err != nil {
			t.Fatal(err)
		}
		events = events[k:]
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	recs := make([]audit.Record, len(lines))
	for i, line := range lines {
		e := new(audit.Event)
		if err := json.Unmarshal(line, e); err != nil {
			t.Fatal(err)
		}
		recs[i] = audit.Record{Seq: e.Seq, Line: line, Event: e}
	}
	if len(recs) != n {
		t.Fatalf("journal holds %d lines, want %d", len(recs), n)
	}
	return recs, path
}

// seqOf returns the seq of a journal line, or 0.
func seqOf(line []byte) uint64 {
	var e struct {
		Seq uint64 `json:"seq"`
	}
	if json.Unmarshal(line, &e) != nil {
		return 0
	}
	return e.Seq
}
