package azure

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// APIVersion is the only ARM api-version the fake serves (PIM's GA one).
const APIVersion = "2020-10-01"

// ARMAudience is the token audience ARM's SDKs ask for.
const ARMAudience = "https://management.core.windows.net/"

// Call is one request the fake answered, for tests and `GET /_fake/calls`.
// Body is the ARM request body (PIM requests carry no secret); token
// requests log the client id only.
type Call struct {
	Time      time.Time       `json:"time"`
	Op        string          `json:"op"`
	Method    string          `json:"method"`
	Path      string          `json:"path"`
	Query     string          `json:"query,omitempty"`
	Principal string          `json:"principal,omitempty"`
	Body      json.RawMessage `json:"body,omitempty"`
	Status    int             `json:"status"`
	ErrorCode string          `json:"error_code,omitempty"`
	RequestID string          `json:"request_id"`
}

// Operations, as Call.Op and Fault.Op name them.
const (
	OpToken           = "token"
	OpListEligibility = "eligibility.list"
	OpCreateRequest   = "requests.create"
	OpGetRequest      = "requests.get"
	OpCancelRequest   = "requests.cancel"
	OpListInstances   = "instances.list"
	OpListPolicies    = "policies.list"
)

// Fault is an error the fake answers instead of handling a request.
type Fault struct {
	// Op is the operation to fail (OpCreateRequest, …); "" or "*" any ARM
	// operation (not the token endpoint).
	Op string `json:"op"`
	// Code is the ARM error code, e.g. "TooManyRequests".
	Code string `json:"code"`
	// Message defaults to a fixed text per code.
	Message string `json:"message,omitempty"`
	// Status is the HTTP status; default by code (429, 500, 401, 403, 400).
	Status int `json:"status,omitempty"`
	// RetryAfter, when set, is sent as Retry-After (seconds).
	RetryAfter int `json:"retry_after,omitempty"`
	// Count is how many matching requests fail; default 1.
	Count int `json:"count,omitempty"`
}

// Server is a running fake on a loopback port.
type Server struct {
	cfg     Config
	ln      net.Listener
	srv     *http.Server
	url     string
	done    chan struct{}
	certPEM []byte
	pool    *x509.CertPool

	mu       sync.Mutex
	offset   time.Duration
	byOID    map[string]*Principal
	byClient map[string]*Principal
	elig     []*eligibility
	requests map[string]*request // by lower-case name
	active   []*activation
	tokens   map[string]*issuedToken
	calls    []Call
	faults   []Fault
	hold     chan struct{}
}

type eligibility struct {
	Eligibility
	roleDefID  string // full id
	scheduleID string
	instanceID string
	name       string
}

type issuedToken struct {
	principal *Principal
	audience  string
	expires   time.Time
	mfa       bool
}

// New validates cfg, creates a self-signed certificate for 127.0.0.1, ::1
// and localhost, binds the loopback address and starts serving HTTPS.
// Close stops it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fake azure: %w", err)
	}
	s := newState(cfg)
	cert, certPEM, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("fake azure: certificate: %w", err)
	}
	s.certPEM = certPEM
	s.pool = x509.NewCertPool()
	s.pool.AppendCertsFromPEM(certPEM)
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake azure: listen on %s: %w", addr, err)
	}
	s.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	s.url = "https://" + ln.Addr().String()
	// Clients that do not trust the certificate (a test showing that
	// they must) would otherwise log handshake errors to stderr.
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(s.ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

func newState(cfg Config) *Server {
	if cfg.TenantID == "" {
		cfg.TenantID = DefaultTenantID
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WallClock == nil {
		cfg.WallClock = time.Now
	}
	s := &Server{cfg: cfg, byOID: map[string]*Principal{}, byClient: map[string]*Principal{},
		requests: map[string]*request{}, tokens: map[string]*issuedToken{}}
	for i := range cfg.Principals {
		p := &cfg.Principals[i]
		s.byOID[strings.ToLower(p.ObjectID)] = p
		if p.ClientID != "" {
			s.byClient[p.ClientID] = p
		}
	}
	for _, e := range cfg.Eligibilities {
		if e.MaxDuration == 0 {
			e.MaxDuration = DefaultMaxDuration
		}
		if e.MemberType == "" {
			e.MemberType = "Direct"
		}
		el := &eligibility{Eligibility: e, roleDefID: roleDefinitionID(e)}
		el.name = nameGUID("eligibility:" + e.PrincipalID + e.Scope + el.roleDefID)
		el.scheduleID = e.Scope + "/providers/Microsoft.Authorization/roleEligibilitySchedules/" + el.name
		el.instanceID = e.Scope + "/providers/Microsoft.Authorization/roleEligibilityScheduleInstances/" + el.name
		s.elig = append(s.elig, el)
	}
	return s
}

// roleDefinitionID is the full role definition id of an eligibility, as
// ARM writes it under the scope's subscription (or tenant-wide for a
// management group).
func roleDefinitionID(e Eligibility) string {
	g := roleGUID(e.RoleDefinitionID)
	if g == "" {
		if g = builtinRoleGUID(e.Role); g == "" {
			g = nameGUID("role:" + strings.ToLower(e.Role))
		}
	}
	prefix := ""
	if seg := strings.Split(e.Scope, "/"); len(seg) > 2 && strings.EqualFold(seg[1], "subscriptions") {
		prefix = "/subscriptions/" + seg[2]
	}
	return prefix + "/providers/Microsoft.Authorization/roleDefinitions/" + g
}

// nameGUID is a stable GUID for a name (UUIDv5-shaped).
func nameGUID(name string) string {
	sum := sha1.Sum([]byte("jit-fake-azure:" + name))
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatGUID(u)
}

func randomGUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read does not fail on supported platforms
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatGUID(u)
}

func formatGUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// selfSigned makes a certificate that is its own CA, for the loopback
// names, valid for a year.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "jit fake Azure (loopback)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	return cert, certPEM, err
}

// URL is the fake's base URL, e.g. https://127.0.0.1:41234: the ARM
// endpoint, and (with a trailing slash) the Entra ID authority host.
func (s *Server) URL() string { return s.url }

// TenantID is the fake tenant's id.
func (s *Server) TenantID() string { return s.cfg.TenantID }

// CertPEM is the fake's self-signed certificate, to trust (CA bundle).
func (s *Server) CertPEM() []byte { return append([]byte(nil), s.certPEM...) }

// CertPool is a pool holding only the fake's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Client returns an HTTP client that trusts the fake's certificate.
func (s *Server) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
	tr.Proxy = nil
	return &http.Client{Transport: tr}
}

// Close stops the server and waits for it to exit.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	s.mu.Lock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Now is the fake's schedule clock: cfg.Now plus every Advance.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return s.cfg.Now().Add(s.offset) }

// Advance moves the schedule clock, so tests and sandbox scripts can pass
// PIM's 5-minute rule or end activations without waiting.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// Hold makes every request (ARM and token) wait until release is called or
// the client gives up, to test cancellation during a call.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
	h := s.hold
	s.mu.Unlock()
	return sync.OnceFunc(func() {
		s.mu.Lock()
		if s.hold == h {
			close(h)
			s.hold = nil
		}
		s.mu.Unlock()
	})
}

// Calls returns a copy of the call log, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsFor returns the logged calls of one operation.
func (s *Server) CallsFor(op string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls empties the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// Fail queues a fault; faults are consumed in the order they were queued.
func (s *Server) Fail(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	if f.Status == 0 {
		f.Status = defaultStatus(f.Code)
	}
	if f.Message == "" {
		f.Message = f.Code + " (injected by the fake)"
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

func (s *Server) takeFault(op string) *Fault {
	for i := range s.faults {
		f := &s.faults[i]
		if f.Op != op && !((f.Op == "" || f.Op == "*") && op != OpToken) {
			continue
		}
		out := *f
		f.Count--
		if f.Count <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return &out
	}
	return nil
}

func defaultStatus(code string) int {
	switch code {
	case "TooManyRequests", "RequestThrottled":
		return 429
	case "InternalServerError":
		return 500
	case "ServiceUnavailable":
		return 503
	case "ExpiredAuthenticationToken", "InvalidAuthenticationToken", "AuthenticationFailed":
		return 401
	case "AuthorizationFailed":
		return 403
	}
	return 400
}

// ExpireTokens makes every token issued so far answer
// ExpiredAuthenticationToken.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	past := s.cfg.WallClock().Add(-time.Minute)
	for _, t := range s.tokens {
		t.expires = past
	}
	s.mu.Unlock()
}

// ServeHTTP routes to the admin endpoints (/_fake/), Entra ID
// (/{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/oauth2/v2.0/token) and ARM.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		s.serveAdmin(w, r)
		return
	}
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	if h != nil {
		select {
		case <-h:
		case <-r.Context().Done():
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case len(seg) == 4 && seg[1] == "v2.0" && seg[2] == ".well-known" && seg[3] == "openid-configuration":
		s.serveDiscovery(w, r, seg[0])
	case len(seg) == 4 && seg[1] == "oauth2" && seg[2] == "v2.0" && seg[3] == "token":
		s.serveToken(w, r, seg[0])
	default:
		s.serveARM(w, r)
	}
}

// armError is an ARM error answer.
type armError struct {
	status        int
	code, message string
	retryAfter    int
}

func (e *armError) Error() string { return e.code + ": " + e.message }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeARMError(w http.ResponseWriter, reqID string, e *armError) {
	w.Header().Set("x-ms-request-id", reqID)
	w.Header().Set("x-ms-correlation-request-id", reqID)
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}
