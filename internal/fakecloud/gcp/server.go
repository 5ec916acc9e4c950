package gcp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	credentialspb "cloud.google.com/go/iam/credentials/apiv1/credentialspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	pampb "cloud.google.com/go/privilegedaccessmanager/apiv1/privilegedaccessmanagerpb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Call is one request the fake answered, for tests and `GET /_fake/calls`.
// It never holds a token: TokenHash identifies the bearer token by the
// first 16 hex digits of its SHA-256 (see TokenHash).
type Call struct {
	Time time.Time `json:"time"`
	// Method is the short RPC name ("SetIamPolicy") for gRPC calls, or
	// "REST <METHOD> <path>" for the HTTP surface.
	Method string `json:"method"`
	// Service is the gRPC service ("google.cloud.resourcemanager.v3.Projects")
	// or "rest".
	Service string `json:"service"`
	// Resource is the resource, service account, entitlement or grant the
	// call named.
	Resource  string `json:"resource,omitempty"`
	Caller    string `json:"caller,omitempty"`
	TokenHash string `json:"token_hash,omitempty"`
	Code      string `json:"code"`
	Message   string `json:"message,omitempty"`
}

// Fault is an error the fake answers instead of handling a request.
type Fault struct {
	// Method is the short RPC name to fail ("SetIamPolicy"); "" or "*"
	// fails any.
	Method string `json:"method"`
	// Code is the gRPC code, e.g. codes.Unavailable.
	Code codes.Code `json:"code"`
	// Message defaults to a description of the injected fault.
	Message string `json:"message,omitempty"`
	// Count is how many matching requests fail; default 1.
	Count int `json:"count,omitempty"`
}

// TokenHash is how the call log names a bearer token.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:8])
}

// token is an access token the fake accepts.
type token struct {
	email   string
	expires time.Time // zero: never
	scopes  []string
	// issued says where it came from: "config", "refresh" or
	// "impersonation".
	issued string
}

// Server is a running fake.
type Server struct {
	cfg      Config
	grpcLn   net.Listener
	httpLn   net.Listener
	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	grpcDone chan struct{}
	httpDone chan struct{}

	mu       sync.Mutex
	offset   time.Duration
	tokens   map[string]*token
	refresh  map[string]string // refresh token -> email
	sas      map[string]*ServiceAccount
	policies map[string]*policyState
	ents     map[string]*entitlementState
	grants   map[string]*grantState
	requests map[string]string // PAM request_id -> grant name
	ops      map[string]*longrunningpb.Operation
	calls    []Call
	faults   []Fault
	gate     chan struct{} // closed: requests flow; open: Hold in effect
	lossy    bool          // answer every read with the version 1 view
}

// New validates cfg, binds both loopback listeners and starts serving.
// Close stops it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fake gcp: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:      cfg,
		tokens:   map[string]*token{},
		refresh:  map[string]string{},
		sas:      map[string]*ServiceAccount{},
		policies: map[string]*policyState{},
		ents:     map[string]*entitlementState{},
		grants:   map[string]*grantState{},
		requests: map[string]string{},
		ops:      map[string]*longrunningpb.Operation{},
		gate:     make(chan struct{}),
	}
	close(s.gate)
	for _, id := range cfg.Identities {
		if id.Token != "" {
			s.tokens[id.Token] = &token{email: id.Email, expires: id.Expires, issued: "config"}
		}
		if id.RefreshToken != "" {
			s.refresh[id.RefreshToken] = id.Email
		}
	}
	for i := range cfg.ServiceAccounts {
		sa := cfg.ServiceAccounts[i]
		s.sas[sa.Email] = &sa
	}
	for _, p := range cfg.Policies {
		s.policies[p.Resource] = newPolicyState(policyFromConfig(p))
	}
	for _, e := range cfg.Entitlements {
		s.ents[e.Name] = newEntitlementState(e)
	}

	grpcAddr, httpAddr := cfg.GRPCAddr, cfg.HTTPAddr
	if grpcAddr == "" {
		grpcAddr = "127.0.0.1:0"
	}
	if httpAddr == "" {
		httpAddr = "127.0.0.1:0"
	}
	var err error
	if s.grpcLn, err = net.Listen("tcp", grpcAddr); err != nil {
		return nil, fmt.Errorf("fake gcp: listen on %s: %w", grpcAddr, err)
	}
	if s.httpLn, err = net.Listen("tcp", httpAddr); err != nil {
		s.grpcLn.Close()
		return nil, fmt.Errorf("fake gcp: listen on %s: %w", httpAddr, err)
	}
	s.grpcSrv = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	resourcemanagerpb.RegisterProjectsServer(s.grpcSrv, &projectsServer{s: s})
	resourcemanagerpb.RegisterFoldersServer(s.grpcSrv, &foldersServer{s: s})
	resourcemanagerpb.RegisterOrganizationsServer(s.grpcSrv, &organizationsServer{s: s})
	credentialspb.RegisterIAMCredentialsServer(s.grpcSrv, &credentialsServer{s: s})
	pampb.RegisterPrivilegedAccessManagerServer(s.grpcSrv, &pamServer{s: s})
	longrunningpb.RegisterOperationsServer(s.grpcSrv, &operationsServer{s: s})
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.grpcDone, s.httpDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.grpcDone)
		_ = s.grpcSrv.Serve(s.grpcLn) // returns on Stop
	}()
	go func() {
		defer close(s.httpDone)
		_ = s.httpSrv.Serve(s.httpLn) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// GRPCAddr is the gRPC listener's host:port: the endpoint of every gRPC
// service (plaintext; dial it with insecure transport credentials).
func (s *Server) GRPCAddr() string { return s.grpcLn.Addr().String() }

// GRPCEndpoint is GRPCAddr as a URL, http://host:port, the form jit's
// endpoint settings take for a plaintext loopback endpoint.
func (s *Server) GRPCEndpoint() string { return "http://" + s.GRPCAddr() }

// HTTPURL is the HTTP listener's base URL, http://host:port.
func (s *Server) HTTPURL() string { return "http://" + s.httpLn.Addr().String() }

// TokenInfoURL is the OAuth2 tokeninfo endpoint.
func (s *Server) TokenInfoURL() string { return s.HTTPURL() + "/tokeninfo" }

// TokenURL is the OAuth2 token endpoint (refresh_token grant).
func (s *Server) TokenURL() string { return s.HTTPURL() + "/token" }

// GcloudEnv is the environment that points gcloud's REST calls at the fake
// (each override ends in "/", as gcloud wants).
func (s *Server) GcloudEnv() []string {
	u := s.HTTPURL() + "/"
	return []string{
		"CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER=" + u,
		"CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS=" + u,
	}
}

// Close stops both listeners and waits for them to exit.
func (s *Server) Close() error {
	s.Release()
	s.grpcSrv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.httpSrv.Shutdown(ctx)
	<-s.grpcDone
	<-s.httpDone
	return err
}

// Now is the fake's clock: cfg.Now plus every Advance.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time { return s.cfg.Now().Add(s.offset) }

// Advance moves the fake's clock forward (or back): tokens expire,
// conditions stop granting and PAM grants end.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// Calls returns a copy of the request log, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsFor returns the logged calls of one method (short name or "REST …").
func (s *Server) CallsFor(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls empties the request log.
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
	if f.Message == "" {
		f.Message = fmt.Sprintf("%s (injected by the fake)", f.Code)
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// ClearFaults drops the faults not yet consumed.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// Hold makes every request wait, before it is handled, until the returned
// func (or Release) is called or the request is cancelled: for testing
// cancellation during a call.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	select {
	case <-s.gate:
		s.gate = make(chan struct{})
	default:
	}
	s.mu.Unlock()
	return s.Release
}

// Release lets held requests through.
func (s *Server) Release() {
	s.mu.Lock()
	select {
	case <-s.gate:
	default:
		close(s.gate)
	}
	s.mu.Unlock()
}

func (s *Server) wait(ctx context.Context) error {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// IssueToken mints an access token for email (a configured identity or not)
// valid for ttl, as if the account had signed in; for tests and scripts.
func (s *Server) IssueToken(email string, ttl time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(email, ttl, nil, "config")
}

func (s *Server) issueLocked(email string, ttl time.Duration, scopes []string, how string) string {
	tok := "ya29.fake-" + randomString(32)
	t := &token{email: email, scopes: scopes, issued: how}
	if ttl > 0 {
		t.expires = s.nowLocked().Add(ttl)
	}
	s.tokens[tok] = t
	return tok
}

// TokenInfo describes an access token: the account it authenticates, its
// expiry (zero: never) and whether it is valid now.
type TokenInfo struct {
	Email   string    `json:"email"`
	Expires time.Time `json:"expires,omitempty"`
	Valid   bool      `json:"valid"`
	Issued  string    `json:"issued"`
	Scopes  []string  `json:"scopes,omitempty"`
}

// Token looks an access token up.
func (s *Server) Token(tok string) (TokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tok]
	if !ok {
		return TokenInfo{}, false
	}
	return TokenInfo{Email: t.email, Expires: t.expires, Valid: t.validAt(s.nowLocked()), Issued: t.issued, Scopes: append([]string(nil), t.scopes...)}, true
}

func (t *token) validAt(now time.Time) bool { return t.expires.IsZero() || now.Before(t.expires) }

// caller is who a request authenticated as.
type caller struct {
	email string
	hash  string
}

func (c caller) member() string {
	if isServiceAccount(c.email) {
		return "serviceAccount:" + c.email
	}
	return "user:" + c.email
}

// authenticate checks a bearer token; the caller holds s.mu.
func (s *Server) authenticateLocked(authz string) (caller, error) {
	if authz == "" {
		return caller{}, status.Error(codes.Unauthenticated, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	}
	scheme, tok, ok := strings.Cut(authz, " ")
	c := caller{hash: TokenHash(tok)}
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return c, status.Error(codes.Unauthenticated, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	}
	t, known := s.tokens[tok]
	if !known || !t.validAt(s.nowLocked()) {
		return c, status.Error(codes.Unauthenticated, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	}
	c.email = t.email
	return c, nil
}

type callerKey struct{}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// resourceNamer is implemented by requests that name what they act on.
type resourceNamer interface{ GetResource() string }
type nameNamer interface{ GetName() string }
type parentNamer interface{ GetParent() string }

func requestResource(req any) string {
	switch r := req.(type) {
	case resourceNamer:
		return r.GetResource()
	case nameNamer:
		return r.GetName()
	case parentNamer:
		return r.GetParent()
	}
	return ""
}

// intercept runs every gRPC call: hold, fault injection, authentication,
// the handler, the call log.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	service, method := path.Split(info.FullMethod)
	service = strings.Trim(service, "/")
	call := Call{Method: method, Service: service, Resource: requestResource(req)}
	resp, err := s.run(ctx, &call, func(ctx context.Context) (any, error) { return handler(ctx, req) }, func() string {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get("authorization"); len(v) > 0 {
			return v[0]
		}
		return ""
	})
	return resp, err
}

// run is the shared request path of gRPC and REST calls.
func (s *Server) run(ctx context.Context, call *Call, handle func(context.Context) (any, error), authz func() string) (any, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	call.Time = s.nowLocked()
	f := s.takeFaultLocked(call.Method)
	var c caller
	var err error
	if f == nil {
		c, err = s.authenticateLocked(authz())
	}
	s.mu.Unlock()
	call.TokenHash = c.hash
	call.Caller = c.email
	var resp any
	switch {
	case f != nil:
		err = status.Error(f.Code, f.Message)
	case err == nil:
		resp, err = handle(context.WithValue(ctx, callerKey{}, c))
	}
	st, _ := status.FromError(err)
	call.Code = st.Code().String()
	if err != nil {
		call.Message = st.Message()
	}
	s.mu.Lock()
	s.calls = append(s.calls, *call)
	s.mu.Unlock()
	return resp, err
}

func (s *Server) takeFaultLocked(method string) *Fault {
	for i := range s.faults {
		f := &s.faults[i]
		if f.Method != "" && f.Method != "*" && f.Method != method {
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

// memberMatches reports whether an entry of a configured list (an e-mail
// or an IAM member) names the caller.
func memberMatches(entry string, c caller) bool {
	if entry == c.email || entry == c.member() {
		return true
	}
	return false
}

func anyMatches(list []string, c caller) bool {
	for _, e := range list {
		if memberMatches(e, c) {
			return true
		}
	}
	return false
}

func randomString(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(strings.ToLower(rand.Text()))
	}
	return b.String()[:n]
}
