package syslog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

func policyConfig(addr string) policy.SinkConfig {
	return policy.SinkConfig{Type: "syslog", Address: addr}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, []byte("hello"))
	tests := []struct {
		name    string
		cfg     policy.SinkConfig
		opts    Options
		wantErr string // "" for success
	}{
		{"udp", policyConfig("udp://127.0.0.1:514"), Options{}, ""},
		{"tcp with a host name", policyConfig("tcp://localhost:6514"), Options{}, ""},
		{"ipv6", policyConfig("tcp://[::1]:6514"), Options{}, ""},
		{"wrong type", policy.SinkConfig{Type: "file", Address: "udp://127.0.0.1:514"}, Options{}, `type is "file", not syslog`},
		{"no scheme", policyConfig("127.0.0.1:514"), Options{}, "must be udp://host:port or tcp://host:port"},
		{"other scheme", policyConfig("http://127.0.0.1:514"), Options{}, "must be udp://host:port or tcp://host:port"},
		{"no port", policyConfig("tcp://127.0.0.1"), Options{}, "must be udp://host:port or tcp://host:port"},
		{"no host", policyConfig("tcp://:514"), Options{}, "must be udp://host:port or tcp://host:port"},
		{"port 0", policyConfig("tcp://127.0.0.1:0"), Options{}, "not a number from 1 to 65535"},
		{"port too big", policyConfig("tcp://127.0.0.1:65536"), Options{}, "not a number from 1 to 65535"},
		{"named port", policyConfig("tcp://127.0.0.1:syslog"), Options{}, "not a number from 1 to 65535"},
		{"tls over udp", policy.SinkConfig{Type: "syslog", Address: "udp://127.0.0.1:514", TLS: true}, Options{}, "tls needs a tcp:// address"},
		{"ca_file without tls", policy.SinkConfig{Type: "syslog", Address: "tcp://127.0.0.1:514", CAFile: notPEM}, Options{}, "ca_file is set but tls is not"},
		{"ca_file missing", policy.SinkConfig{Type: "syslog", Address: "tcp://127.0.0.1:514", TLS: true, CAFile: filepath.Join(dir, "nope.pem")}, Options{}, "ca_file: open"},
		{"ca_file not PEM", policy.SinkConfig{Type: "syslog", Address: "tcp://127.0.0.1:514", TLS: true, CAFile: notPEM}, Options{}, "holds no PEM certificate"},
		{"datagram limit", policyConfig("udp://127.0.0.1:514"), Options{MaxMessageSize: 65508}, "above the largest UDP datagram"},
		{"big messages over tcp", policyConfig("tcp://127.0.0.1:514"), Options{MaxMessageSize: 1 << 20}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Name() != "syslog "+tt.cfg.Address {
					t.Errorf("Name() = %q", s.Name())
				}
				if s.timeout != DefaultTimeout {
					t.Errorf("timeout %v, want the default %v", s.timeout, DefaultTimeout)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %+v", tt.cfg)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) || !strings.HasPrefix(msg, "syslog sink "+tt.cfg.Address+": ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line naming the sink and containing %q", msg, tt.wantErr)
			}
		})
	}
}

func TestNewNameAndHeader(t *testing.T) {
	cfg := policyConfig("tcp://127.0.0.1:1")
	cfg.Name, cfg.Timeout = "siem", 250*time.Millisecond
	s, err := New(cfg, Options{Hostname: "bad host", ProcID: "-"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "siem" || s.timeout != 250*time.Millisecond {
		t.Fatalf("name %q timeout %v", s.Name(), s.timeout)
	}
	if s.hdr.hostname != "-" || s.hdr.procID != "-" {
		t.Fatalf("header %+v: an invalid host name and - must give NILVALUE", s.hdr)
	}
	// A custom name does not hide the address.
	err = s.Send(context.Background(), []audit.Record{{Seq: 1, Line: []byte("{}"), Event: &audit.Event{Event: "grant"}}})
	if err == nil || !strings.HasPrefix(err.Error(), `syslog sink "siem" (tcp://127.0.0.1:1): dial: `) {
		t.Fatalf("error %v: want it to name the sink and its address", err)
	}

	s, err = New(policyConfig("udp://127.0.0.1:514"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if s.hdr.procID != strconv.Itoa(os.Getpid()) || s.hdr.hostname != headerField(host, 255) {
		t.Fatalf("header %+v: want this process's pid and host name", s.hdr)
	}
}

// TestDeliver ships a real journal to rsyslog over each transport and checks
// what rsyslog wrote: MSG byte for byte, the RFC 5424 fields, and that the
// copy verifies like the journal.
func TestDeliver(t *testing.T) {
	r := startRsyslog(t, rsyslogOptions{})
	recs, _ := journalRecords(t, 48)
	for _, input := range []string{"udp", "tcp", "tls"} {
		t.Run(input, func(t *testing.T) {
			s, err := New(r.config(input), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			// Uneven batches, one of a single event.
			for i := 0; i < len(recs); {
				n := min(1+i%11, len(recs)-i)
				if err := s.Send(ctx, recs[i:i+n]); err != nil {
					t.Fatal(err)
				}
				i += n
			}
			checkCopy(t, r, input, recs)
		})
	}
}

// checkCopy waits for rsyslog to have written len(recs) messages from input
// and compares them with recs.
func checkCopy(t *testing.T, r *rsyslogd, input string, recs []audit.Record) {
	t.Helper()
	msgs := r.waitLines(input+".msg", len(recs), 3*time.Second)
	if len(msgs) != len(recs) {
		t.Fatalf("rsyslog wrote %d messages, want %d\n%s", len(msgs), len(recs), r.internal())
	}
	var copied bytes.Buffer
	for i, m := range msgs {
		if !bytes.Equal(m, recs[i].Line) {
			t.Fatalf("message %d differs from the journal line:\n got %s\nwant %s", i+1, m, recs[i].Line)
		}
		copied.Write(m)
		copied.WriteByte('\n')
	}
	rep, err := audit.Verify(&copied)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Events != len(recs) {
		t.Fatalf("rsyslog's copy does not verify: %+v", rep)
	}

	full := r.waitLines(input+".5424", len(recs), 3*time.Second)
	if len(full) != len(recs) {
		t.Fatalf("rsyslog wrote %d RFC 5424 lines, want %d", len(full), len(recs))
	}
	pid := strconv.Itoa(os.Getpid())
	for i, line := range full {
		m, err := parse5424(line)
		if err != nil {
			t.Fatalf("line %d as rsyslog wrote it is not RFC 5424: %v\n%s", i+1, err, line)
		}
		e := recs[i].Event
		ts, err := time.Parse(time.RFC3339Nano, m.timestamp)
		if err != nil || !ts.Equal(e.Time.Truncate(time.Microsecond)) {
			t.Errorf("line %d: timestamp %s, want %s", i+1, m.timestamp, e.Time.Truncate(time.Microsecond))
		}
		if m.pri != Facility*8+Severity(e.Event) || m.version != 1 || m.appName != "jit" || m.msgID != e.Event ||
			m.hostname != e.Host || m.procID != pid {
			t.Errorf("line %d: header %+v for %s event", i+1, m, e.Event)
		}
		if len(m.sd) != 1 || m.sd[0].id != SDID {
			t.Fatalf("line %d: structured data %+v", i+1, m.sd)
		}
		want := []sdParam{{"seq", strconv.FormatUint(e.Seq, 10)}, {"request_id", e.RequestID}, {"target", e.Target}, {"principal", e.Principal.ID}, {"hash", e.Hash}}
		if fmt.Sprint(m.sd[0].params) != fmt.Sprint(want) {
			t.Errorf("line %d: structured data\n got %q\nwant %q", i+1, m.sd[0].params, want)
		}
		if !bytes.Equal(m.msg, recs[i].Line) {
			t.Errorf("line %d: MSG differs from the journal line", i+1)
		}
	}
	// The sink's way of closing connections (TLS close_notify, the spare
	// connection closed unused) must not read as errors at the server.
	if msg := r.internal(); strings.Contains(strings.ToLower(msg), "error") {
		t.Errorf("rsyslog reported errors:\n%s", msg)
	}
}

// TestMaxMessageSize sends messages at rsyslog's default limit, which must
// arrive whole, and one byte above, which the sink must refuse without
// sending anything of the batch.
func TestMaxMessageSize(t *testing.T) {
	r := startRsyslog(t, rsyslogOptions{})
	for _, input := range []string{"udp", "tcp", "tls"} {
		t.Run(input, func(t *testing.T) {
			s, err := New(r.config(input), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			atLimit := sizedRecord(t, s, 1, DefaultMaxMessageSize)
			over := sizedRecord(t, s, 2, DefaultMaxMessageSize+1)
			small := sizedRecord(t, s, 3, 300)

			err = s.Send(context.Background(), []audit.Record{small, over})
			if err == nil || !strings.Contains(err.Error(), "event seq 2 makes a 8097-byte syslog message, above the 8096-byte limit") {
				t.Fatalf("over the limit: error %v", err)
			}
			if err := s.Send(context.Background(), []audit.Record{atLimit, small}); err != nil {
				t.Fatal(err)
			}
			msgs := r.waitLines(input+".msg", 2, time.Second)
			if len(msgs) != 2 || !bytes.Equal(msgs[0], atLimit.Line) || !bytes.Equal(msgs[1], small.Line) {
				t.Fatalf("rsyslog wrote %d messages (the first %d bytes); want the %d-byte line whole, then the small one; nothing of the refused batch\n%s",
					len(msgs), len(first(msgs)), len(atLimit.Line), r.internal())
			}
		})
	}
}

func first(b [][]byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[0]
}

// sizedRecord returns a record whose message from s is exactly size bytes.
func sizedRecord(t *testing.T, s *Sink, seq uint64, size int) audit.Record {
	t.Helper()
	e := &audit.Event{Schema: audit.Schema, Seq: seq, Event: "grant", Time: time.Now().UTC(), Host: "h"}
	mk := func() audit.Record {
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return audit.Record{Seq: seq, Line: line, Event: e}
	}
	n := len(appendMessage(nil, mk(), s.hdr))
	if n > size {
		t.Fatalf("smallest message is %d bytes", n)
	}
	e.Reason = strings.Repeat("x", size-n-len(`,"reason":""`))
	rec := mk()
	if got := len(appendMessage(nil, rec, s.hdr)); got != size {
		t.Fatalf("sized message is %d bytes, want %d", got, size)
	}
	return rec
}

// fakeTCP is a TCP server on loopback that reads every connection to the
// end and then does what behave says with it.
type fakeTCP struct {
	l        net.Listener
	accepted atomic.Int32
}

func newFakeTCP(t *testing.T, behave func(c *net.TCPConn, n int32)) *fakeTCP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTCP{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := f.accepted.Add(1)
			go behave(c.(*net.TCPConn), n)
		}
	}()
	return f
}

// waitAccepted waits a little for the server to have accepted n
// connections (the client's connect completes before Accept returns) and
// returns how many it has.
func (f *fakeTCP) waitAccepted(n int32) int32 {
	for i := 0; i < 200 && f.accepted.Load() < n; i++ {
		time.Sleep(time.Millisecond)
	}
	return f.accepted.Load()
}

func (f *fakeTCP) addr() string { return "tcp://" + f.l.Addr().String() }

func oneRecord() []audit.Record {
	return []audit.Record{{Seq: 1, Line: []byte(`{"seq":1}`), Event: &audit.Event{Event: "grant", Seq: 1, Time: time.Now()}}}
}

func TestConfirmTimeout(t *testing.T) {
	// A server that reads but never closes: delivery stays unconfirmed.
	f := newFakeTCP(t, func(c *net.TCPConn, _ int32) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				time.Sleep(10 * time.Second)
				c.Close()
				return
			}
		}
	})
	cfg := policyConfig(f.addr())
	cfg.Timeout = 200 * time.Millisecond
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Send(context.Background(), oneRecord())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "did not close the connection, so the batch is unconfirmed") {
		t.Fatalf("error %v", err)
	}
	if took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("gave up after %v, want about the 200ms timeout", took)
	}

	// The context's deadline, when earlier, wins; cancellation is prompt.
	cfg.Timeout = time.Minute
	s, _ = New(cfg, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = s.Send(ctx, oneRecord())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("with a 100ms context: %v after %v", err, time.Since(start))
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	err = s.Send(ctx, oneRecord())
	if err == nil || !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled: %v after %v", err, time.Since(start))
	}
	if err := s.Send(ctx, oneRecord()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context: %v", err)
	}
}

func TestResetIsAnError(t *testing.T) {
	// A server that reads the batch and then resets instead of closing: the
	// batch is not confirmed.
	f := newFakeTCP(t, func(c *net.TCPConn, _ int32) {
		buf := make([]byte, 4096)
		c.Read(buf)
		c.SetLinger(0)
		c.Close()
	})
	s, err := New(policyConfig(f.addr()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), oneRecord())
	// Depending on when the RST arrives, shutdown or read reports it.
	if err == nil || !strings.Contains(err.Error(), "after writing 1 message: ") ||
		!strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("error %v, want a reset", err)
	}
}

// TestSpareConnection checks the connection a Send leaves for the next:
// the server's closing it in the meantime is noticed and a new one made, and
// a server that disappears right after closing the batch's connection (as
// a killed one does) fails the batch.
func TestSpareConnection(t *testing.T) {
	readAll := func(c *net.TCPConn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}
	var f *fakeTCP
	f = newFakeTCP(t, func(c *net.TCPConn, n int32) {
		switch n {
		case 2:
			// The spare left by the first Send: closed while idle, as
			// after a server restart.
			time.Sleep(20 * time.Millisecond)
			c.Close()
		case 3:
			// The second batch; then the server goes away.
			readAll(c)
			f.l.Close()
			c.Close()
		default:
			readAll(c)
			c.Close()
		}
	})
	s, err := New(policyConfig(f.addr()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(context.Background(), oneRecord()); err != nil {
		t.Fatal(err)
	}
	if s.conn == nil || f.waitAccepted(2) != 2 {
		t.Fatalf("%d connections and spare %v after a Send, want 2 and a spare", f.accepted.Load(), s.conn)
	}
	time.Sleep(100 * time.Millisecond) // the server closes the spare
	err = s.Send(context.Background(), oneRecord())
	if n := f.waitAccepted(3); n != 3 {
		t.Fatalf("%d connections, want a new one for the second batch", n)
	}
	if err == nil || !strings.Contains(err.Error(), "no longer answers") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %v, want the batch failed because the server went away after it", err)
	}
}

func TestUnreachable(t *testing.T) {
	// Nothing listens: a port that was free a moment ago.
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			addr := fmt.Sprintf("%s://127.0.0.1:%d", network, freePort(t, network))
			s, err := New(policyConfig(addr), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			recs, _ := journalRecords(t, 3)
			err = s.Send(context.Background(), recs)
			if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.HasPrefix(err.Error(), "syslog sink "+addr+": ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v: want one line naming the sink and the refusal", err)
			}
		})
	}
}

func TestTLSUntrusted(t *testing.T) {
	r := startRsyslog(t, rsyslogOptions{})
	cfg := r.config("tls")
	cfg.CAFile = "" // the self-signed certificate is not among the system roots
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), oneRecord())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("error %v, want a certificate error", err)
	}
	conf, err := s.tlsConfig()
	if err != nil || conf.MinVersion != 0x0303 || conf.ServerName != "127.0.0.1" {
		t.Fatalf("tls config %+v, %v: want TLS 1.2 at least and the address's host as server name", conf, err)
	}
}

func TestSendAfterCloseAndEmpty(t *testing.T) {
	s, err := New(policyConfig("tcp://127.0.0.1:1"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), nil); err != nil {
		t.Fatalf("an empty batch must not connect: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), oneRecord()); err == nil || !strings.Contains(err.Error(), "after close") {
		t.Fatalf("Send after Close: %v", err)
	}
}

// TestFraming reads what the sink writes over TCP: RFC 6587 octet-counted
// frames, each an RFC 5424 message whose MSG is the record's line.
func TestFraming(t *testing.T) {
	got := make(chan []byte, 4)
	f := newFakeTCP(t, func(c *net.TCPConn, _ int32) {
		var all bytes.Buffer
		all.ReadFrom(c)
		c.Close()
		if all.Len() > 0 {
			got <- all.Bytes()
		}
	})
	s, err := New(policyConfig(f.addr()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, _ := journalRecords(t, 25)
	if err := s.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	msgs, err := splitOctetCounted(<-got)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(recs) {
		t.Fatalf("%d frames, want %d", len(msgs), len(recs))
	}
	for i, m := range msgs {
		p, err := parse5424(m)
		if err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if !bytes.Equal(p.msg, recs[i].Line) || bytes.HasSuffix(m, []byte("\n")) {
			t.Fatalf("frame %d: MSG %q, want the line without a newline", i+1, p.msg)
		}
	}
}

// TestUDP reads the datagrams the sink sends: one message each, no framing,
// paced to Options.UDPRate unless the batch would then outlast the timeout.
func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.(*net.UDPConn).SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	addr := "udp://" + pc.LocalAddr().String()
	recs, _ := journalRecords(t, 200)
	read := func(n int) [][]byte {
		var out [][]byte
		buf := make([]byte, 65536)
		for range n {
			pc.SetReadDeadline(time.Now().Add(2 * time.Second))
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("after %d datagrams: %v", len(out), err)
			}
			out = append(out, bytes.Clone(buf[:k]))
		}
		return out
	}
	tests := []struct {
		name     string
		rate     float64
		timeout  time.Duration
		min, max time.Duration
	}{
		// 200 datagrams at 1,000/s: the last burst starts at 192/1000 s.
		{"paced", 1000, 0, 180 * time.Millisecond, 2 * time.Second},
		// At 100/s they would take 2 s; the 250ms timeout wins (80 % of it).
		{"paced to fit the timeout", 100, 250 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond},
		{"unpaced", -1, 0, 0, 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := policyConfig(addr)
			cfg.Timeout = tt.timeout
			s, err := New(cfg, Options{UDPRate: tt.rate})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := time.Now()
			if err := s.Send(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if took < tt.min || took > tt.max {
				t.Errorf("200 datagrams took %v, want %v to %v", took, tt.min, tt.max)
			}
			for i, d := range read(len(recs)) {
				p, err := parse5424(d)
				if err != nil || !bytes.Equal(p.msg, recs[i].Line) {
					t.Fatalf("datagram %d: %v, %.60q", i+1, err, d)
				}
			}
		})
	}
}
