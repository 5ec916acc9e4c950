// Package syslog is the audit sink that sends each journaled event to a
// syslog server as an RFC 5424 message, over UDP (RFC 5426), TCP with
// octet-counted framing (RFC 6587 §3.4.1) or TLS over TCP (RFC 5425).
//
// # Messages
//
// Each record becomes one message:
//
//	<PRI>1 TIMESTAMP HOSTNAME jit PROCID MSGID [jit@32473 seq="7" request_id="…" target="…" principal="…" hash="…"] LINE
//
// where:
//
//   - PRI: facility authpriv (10); severity from [Severity]: warning for
//     deny and error, notice for grant and extend, info for the rest.
//   - TIMESTAMP: the event's time in UTC with exactly six fractional digits
//     (RFC 5424 allows no more, and rsyslog garbles a seventh); the exact
//     time is in LINE.
//   - HOSTNAME: the event's `host` (where it happened, even when a later run
//     ships it), else Options.Hostname, else the local host name.
//   - PROCID: the pid of the shipping jit process (which may be a later run
//     than the one that journaled the event), or Options.ProcID.
//   - MSGID: the event type (request, grant, deny, …).
//   - STRUCTURED-DATA: one element [SDID] with seq always and request_id,
//     target, principal (its id) and hash when the event has them; values
//     escaped per RFC 5424 §6.3.3. It is an index for filtering; control
//     characters and invalid UTF-8 in it become U+FFFD.
//   - MSG: the journal line exactly, without its newline, so a receiver's
//     copy verifies with `jit audit verify` like the journal itself.
//
// MSG carries no UTF-8 byte order mark. RFC 5424 asks for one before a
// UTF-8 MSG, but the grammar also allows MSG-ANY (octets not starting with
// a BOM), which is what this is. rsyslog keeps a BOM as part of the message
// text (%msg% starts with EF BB BF), so with it every copy a receiver writes
// out would stop being the journal's line and stop being valid JSON for the
// SIEMs that parse it; JSON is UTF-8 by definition anyway (RFC 8259).
//
// # What "accepted" means
//
// Syslog has no application acknowledgement (RELP, which has, is out of
// scope). Send returns nil when:
//
//   - tcp:// (with or without TLS): the batch was written on a connection
//     of its own, the sink closed its sending side, the server closed the
//     connection in order (FIN, not RST) within the timeout, and a new
//     connection to the server then succeeded. The close shows that the
//     server process read every byte; but a server killed after reading
//     also closes in order (its kernel does it), and the new connection,
//     refused once the server is gone, is what tells the two apart. That
//     connection carries the next batch; Close closes it unused.
//     What the server does with what it read is up to it: rsyslog's default
//     main queue is in memory, and a crash loses messages it has read but
//     not yet written. With main_queue(queue.type="Direct") (or a
//     disk-assisted queue), rsyslog writes each message before it reads on,
//     so before it closes the connection, and a nil Send means the batch
//     was written. Behind a TCP proxy, all this is about the proxy.
//   - udp://: every datagram was handed to the local network stack and no
//     ICMP "port unreachable" came back by the end of Send. Nothing more:
//     datagrams may be dropped anywhere (a full receive buffer, a server
//     restarting) and Send cannot know. Datagrams are paced
//     (Options.UDPRate) so that a burst does not overflow the receiver.
//
// An error means some or all of the batch may be missing at the server, and
// some of it may have arrived: the shipper sends the whole batch again, so
// a receiver may see an event twice (the seq in the structured data and in
// LINE tells a duplicate), never a gap as long as Send reported every loss.
//
// Each Send over TCP costs a connection (and a TLS handshake); the batches
// of a backlog flush amortise it.
//
// # Size
//
// Each message, header included, must fit Options.MaxMessageSize (8096
// bytes by default, rsyslog's default maxMessageSize: rsyslog truncates
// longer messages, which would break the line's hash, and over TCP makes a
// second message of the rest). A batch with a longer message fails as a
// whole before anything is sent, naming the event; it is never truncated.
// Journal lines are a few hundred bytes; one this long has an unusually
// long reason, group list or command line.
package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/policy"
)

// DefaultTimeout bounds one Send when the sink's configuration sets no
// timeout.
const DefaultTimeout = 5 * time.Second

// DefaultMaxMessageSize is the largest message sent when Options sets no
// limit: rsyslog's default maxMessageSize, which is 8096 bytes (not 8 KiB).
// rsyslog truncates a longer message over UDP, and over TCP it also turns
// the rest of the frame into a second message.
const DefaultMaxMessageSize = 8096

// DefaultUDPRate is the default Options.UDPRate. A receiver's socket
// buffer holds a few hundred datagrams and drops what overflows it, unseen
// by the sender: unpaced, a backlog of 10,000 lost up to a third at a
// loopback rsyslog on a busy machine; at this rate it takes about a
// second and none or a handful were lost.
const DefaultUDPRate = 10000

// keepBuffer is the largest message buffer kept between Sends.
const keepBuffer = 1 << 20

// udpBurst is how many datagrams go out back to back before pacing.
const udpBurst = 32

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

// Options are the settings of a syslog sink that do not come from the
// policy.
type Options struct {
	// Hostname is the HOSTNAME of events that carry no usable host; the
	// local host name when empty.
	Hostname string
	// ProcID is the PROCID field; the current process id when empty. "-"
	// leaves it out.
	ProcID string
	// MaxMessageSize is the largest message, in bytes without the TCP
	// framing, the sink sends; DefaultMaxMessageSize when 0. Over UDP it
	// cannot exceed 65507.
	MaxMessageSize int
	// UDPRate is how many datagrams per second the sink sends at most over
	// UDP; DefaultUDPRate when 0, no limit when negative. A batch that
	// could not go out at this rate within the timeout goes faster.
	UDPRate float64
}

// Sink sends audit records to a syslog server. It implements
// audit.BatchSink; Sends are serialised.
type Sink struct {
	name    string
	label   string // name and address, for errors
	network string // "udp" or "tcp"
	addr    string // host:port
	host    string // for TLS server name
	tls     bool
	caFile  string
	timeout time.Duration
	maxSize int
	hdr     header
	udpRate float64 // datagrams per second; no limit when negative

	mu      sync.Mutex
	conn    net.Conn // UDP: the socket; TCP: the connection for the next batch
	tlsConf *tls.Config
	buf     []byte
	closed  bool
}

var _ audit.BatchSink = (*Sink)(nil)

// New returns a sink for cfg, whose Type must be "syslog" and Address
// "udp://host:port" or "tcp://host:port". TLS requires tcp://; CAFile, a
// PEM bundle trusted besides the system's roots, requires TLS. New checks
// the configuration and reads nothing but CAFile; it connects on the first
// Send.
func New(cfg policy.SinkConfig, opts Options) (*Sink, error) {
	s := &Sink{name: cfg.Name, tls: cfg.TLS, caFile: cfg.CAFile, timeout: cfg.Timeout}
	s.label = cfg.Address
	if s.name == "" {
		// As ship.SinkName derives it, so that messages and cursors agree.
		s.name = "syslog " + cfg.Address
	} else {
		s.label = strconv.Quote(s.name) + " (" + cfg.Address + ")"
	}
	fail := func(format string, args ...any) (*Sink, error) {
		return nil, fmt.Errorf("syslog sink %s: %s", s.label, fmt.Sprintf(format, args...))
	}
	if cfg.Type != "syslog" {
		return fail("type is %q, not syslog", cfg.Type)
	}
	scheme, hostport, ok := strings.Cut(cfg.Address, "://")
	if !ok || (scheme != "udp" && scheme != "tcp") {
		return fail("address %q must be udp://host:port or tcp://host:port", cfg.Address)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return fail("address %q must be udp://host:port or tcp://host:port", cfg.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fail("address %q: port %q is not a number from 1 to 65535", cfg.Address, port)
	}
	s.network, s.addr, s.host = scheme, hostport, host
	if s.tls && scheme != "tcp" {
		return fail("tls needs a tcp:// address (syslog over DTLS is not supported)")
	}
	if s.caFile != "" && !s.tls {
		return fail("ca_file is set but tls is not: set tls: true, or drop ca_file")
	}
	if s.caFile != "" {
		// Read now so that a wrong path shows at start-up, not at the first
		// event; the pool is built at the first TLS dial.
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return fail("ca_file: %v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fail("ca_file %s holds no PEM certificate", s.caFile)
		}
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	s.udpRate = opts.UDPRate
	if s.udpRate == 0 {
		s.udpRate = DefaultUDPRate
	}
	s.maxSize = opts.MaxMessageSize
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxMessageSize
	}
	if scheme == "udp" && s.maxSize > maxDatagram {
		return fail("max message size %d is above the largest UDP datagram (%d)", s.maxSize, maxDatagram)
	}

	hostname := opts.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	s.hdr.hostname = headerField(hostname, 255)
	procID := opts.ProcID
	if procID == "" {
		procID = strconv.Itoa(os.Getpid())
	}
	s.hdr.procID = headerField(procID, 128)
	return s, nil
}

// Name returns the configured name, or "syslog " and the address.
func (s *Sink) Name() string { return s.name }

// Send delivers batch in order, one message per record; see the package
// comment for what a nil error means. It gives up after the configured
// timeout, or when ctx ends.
func (s *Sink) Send(ctx context.Context, batch []audit.Record) error {
	if err := s.send(ctx, batch); err != nil {
		return fmt.Errorf("syslog sink %s: %w", s.label, err)
	}
	return nil
}

func (s *Sink) send(ctx context.Context, batch []audit.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("send after close")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	// Build everything first: a message that cannot be sent fails the batch
	// before any of it leaves.
	msgs, err := s.build(batch)
	defer func() {
		if cap(s.buf) > keepBuffer {
			s.buf = nil // a backlog flush is over; do not hold its size
		}
	}()
	if err != nil {
		return err
	}

	deadline := time.Now().Add(s.timeout)
	byCtx := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, byCtx = d, true
	}
	parent := ctx
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	if s.network == "udp" {
		err = s.sendUDP(ctx, deadline, msgs)
	} else {
		err = s.sendTCP(ctx, deadline, msgs)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The I/O deadline stands for the context's end or the timeout:
		// say which.
		switch {
		case parent.Err() != nil:
			return fmt.Errorf("%w: %w", err, parent.Err())
		case byCtx:
			return fmt.Errorf("%w: %w", err, context.DeadlineExceeded)
		default:
			return fmt.Errorf("%w (timeout %v)", err, s.timeout)
		}
	}
	return err
}

// build formats the batch into s.buf: for TCP the framed stream, for UDP
// the messages back to back. It returns the end offset of each message.
func (s *Sink) build(batch []audit.Record) ([]int, error) {
	buf := s.buf[:0]
	ends := make([]int, 0, len(batch))
	var scratch []byte
	for _, rec := range batch {
		scratch = appendMessage(scratch[:0], rec, s.hdr)
		if len(scratch) > s.maxSize {
			transport := s.network
			if s.tls {
				transport = "tls"
			}
			return nil, sizeError(rec, len(scratch), s.maxSize, transport)
		}
		if s.network == "tcp" {
			// RFC 6587 §3.4.1 octet counting: MSG-LEN SP SYSLOG-MSG.
			buf = strconv.AppendInt(buf, int64(len(scratch)), 10)
			buf = append(buf, ' ')
		}
		buf = append(buf, scratch...)
		ends = append(ends, len(buf))
	}
	s.buf = buf
	return ends, nil
}

func (s *Sink) sendUDP(ctx context.Context, deadline time.Time, ends []int) error {
	if s.conn == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", s.addr)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		s.conn = c
	}
	c := s.conn
	stop := interruptOnDone(ctx, c)
	defer stop()
	if err := c.SetDeadline(deadline); err != nil {
		return s.drop(err)
	}
	start := 0
	paceStart := time.Now()
	rate := s.udpRate
	if budget := time.Until(deadline).Seconds() * 0.8; rate > 0 && float64(len(ends)) > rate*budget {
		// Fit the batch in the time it has rather than fail it every time.
		rate = float64(len(ends)) / budget
	}
	for i, end := range ends {
		if rate > 0 && i > 0 && i%udpBurst == 0 {
			if ahead := time.Duration(float64(i)/rate*float64(time.Second)) - time.Since(paceStart); ahead > 0 {
				select {
				case <-time.After(ahead):
				case <-ctx.Done():
					return s.drop(fmt.Errorf("datagram %d of %d: %w", i+1, len(ends), ctx.Err()))
				}
			}
		}
		if _, err := c.Write(s.buf[start:end]); err != nil {
			return s.drop(fmt.Errorf("datagram %d of %d: %w", i+1, len(ends), err))
		}
		start = end
	}
	// An ICMP port unreachable for the last datagrams is queued on the
	// socket by now on loopback, and soon after on a LAN; probe collects it.
	if err := probe(c); err != nil {
		return s.drop(fmt.Errorf("after %s: %w", count(len(ends), "datagram"), err))
	}
	return nil
}

func (s *Sink) sendTCP(ctx context.Context, deadline time.Time, ends []int) error {
	c := s.conn
	s.conn = nil
	if c != nil && peek(c) != nil {
		// The server closed or reset the spare connection since the last
		// Send (an idle timeout, a restart).
		c.Close()
		c = nil
	}
	if c == nil {
		var err error
		if c, err = s.dial(ctx); err != nil {
			return err
		}
	}
	stop := interruptOnDone(ctx, c)
	defer stop()
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	what := count(len(ends), "message")
	if _, err := c.Write(s.buf[:ends[len(ends)-1]]); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := confirm(c); err != nil {
		return fmt.Errorf("after writing %s: %w", what, err)
	}
	// The server's FIN looks the same whether it closed the connection
	// after reading everything or was killed after reading. A dead server's
	// listening socket is gone too, so a new connection tells the two apart
	// (and carries the next batch). A TLS handshake needs the server
	// process itself. A plain TCP connection is accepted by the kernel, but
	// a dying process's listening socket, having the lower descriptor, is
	// closed before the connection whose FIN confirm saw, so the connect is
	// refused; peek also catches a reset already there.
	next, err := s.dial(ctx)
	if err == nil {
		if err = peek(next); err != nil {
			next.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("after writing %s and the server closing the connection, it no longer answers, so it may have died before storing them: %w", what, err)
	}
	s.conn = next
	return nil
}

func (s *Sink) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	if !s.tls {
		c, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
		return c, nil
	}
	if s.tlsConf == nil {
		conf, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		s.tlsConf = conf
	}
	td := tls.Dialer{NetDialer: &d, Config: s.tlsConf}
	c, err := td.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("tls dial: %w", err)
	}
	return c, nil
}

func (s *Sink) tlsConfig() (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if s.caFile != "" {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", s.caFile)
		}
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.host, RootCAs: roots}, nil
}

// confirm ends the sending side of c and waits, until c's deadline, for the
// server to close its side in order: then the server has read everything.
func confirm(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		// close_notify, then FIN underneath, so that a server which ignores
		// the alert still sees the end of the stream.
		if err := tc.CloseWrite(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		if raw, ok := tc.NetConn().(interface{ CloseWrite() error }); ok {
			if err := raw.CloseWrite(); err != nil {
				return fmt.Errorf("close: %w", err)
			}
		}
	} else if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
	}
	var b [512]byte
	for {
		_, err := c.Read(b[:])
		switch {
		case err == nil:
			// A syslog server sends nothing; ignore whatever it does.
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("the server did not close the connection, so the batch is unconfirmed: %w", err)
		default:
			return fmt.Errorf("waiting for the server to close: %w", err)
		}
	}
}

// probeWait is how long probe waits for news from the peer. The runtime's
// poller sleeps in whole milliseconds, so a shorter wait costs as much.
const probeWait = time.Millisecond

// probe reads from c, waiting at most probeWait (a deadline already past
// would not even try the read). A timeout means nothing is pending: the
// connection is as good as can be told. Anything else (EOF, a reset,
// ECONNREFUSED from an ICMP port unreachable on UDP) means what was last
// written may be lost. Data is not a failure (a syslog server has nothing
// to say, but TLS may), and is consumed: use it only where that is
// harmless.
func probe(c net.Conn) error {
	if err := c.SetReadDeadline(time.Now().Add(probeWait)); err != nil {
		return err
	}
	var b [1]byte
	_, err := c.Read(b[:])
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if errors.Is(err, io.EOF) {
		return errors.New("the server closed the connection")
	}
	return err
}

// drop closes the kept UDP socket after a failure so that the next Send
// starts clean.
func (s *Sink) drop(err error) error {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	return err
}

// interruptOnDone unblocks I/O on c when ctx ends. Deadlines cover the
// timeout; this covers cancellation.
func interruptOnDone(ctx context.Context, c net.Conn) func() bool {
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}

// Close closes a connection kept between Sends. Send after Close fails.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if err != nil {
		return fmt.Errorf("syslog sink %s: close: %w", s.label, err)
	}
	return nil
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
