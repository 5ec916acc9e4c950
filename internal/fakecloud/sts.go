package fakecloud

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	stsAPIVersion = "2011-06-15"
	stsNamespace  = "https://sts.amazonaws.com/doc/2011-06-15/"
	maxBodyBytes  = 1 << 20
	redacted      = "REDACTED"
)

// Call is one request the fake STS answered, for tests and for
// `GET /_fake/calls`. Params never hold secrets: the web identity token and
// MFA code are replaced by "REDACTED".
type Call struct {
	Time        time.Time  `json:"time"`
	Action      string     `json:"action"`
	AccessKeyID string     `json:"access_key_id,omitempty"`
	Params      url.Values `json:"params"`
	Status      int        `json:"status"`
	ErrorCode   string     `json:"error_code,omitempty"`
	RequestID   string     `json:"request_id"`
}

// Fault is an error the fake answers instead of handling a request.
type Fault struct {
	// Action is the STS action to fail ("AssumeRole"); "" or "*" fails any.
	Action string `json:"action"`
	// Code is the AWS error code, e.g. "Throttling", "AccessDenied".
	Code string `json:"code"`
	// Message defaults to AWS's usual text for well-known codes.
	Message string `json:"message,omitempty"`
	// Status is the HTTP status; default 400 (500 for InternalFailure).
	Status int `json:"status,omitempty"`
	// Count is how many matching requests fail; default 1.
	Count int `json:"count,omitempty"`
}

// CredentialInfo describes credentials the fake issued, without their
// secrets, for tests and `GET /_fake/credentials`.
type CredentialInfo struct {
	AccessKeyID    string            `json:"access_key_id"`
	Known          bool              `json:"known"`
	Valid          bool              `json:"valid"`
	Expired        bool              `json:"expired"`
	IssuedBy       string            `json:"issued_by,omitempty"`
	ARN            string            `json:"arn,omitempty"`
	Role           string            `json:"role,omitempty"`
	SessionName    string            `json:"session_name,omitempty"`
	SourceIdentity string            `json:"source_identity,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	SessionPolicy  string            `json:"session_policy,omitempty"`
	PolicyARNs     []string          `json:"policy_arns,omitempty"`
	Expiration     *time.Time        `json:"expiration,omitempty"`
}

// STS is a running fake AWS Security Token Service on a loopback port.
type STS struct {
	cfg  STSConfig
	ln   net.Listener
	srv  *http.Server
	url  string
	done chan struct{}

	mu     sync.Mutex
	keys   map[string]*stsPrincipal
	roles  map[string]*stsRole
	calls  []Call
	faults []Fault
	offset time.Duration
}

// stsPrincipal is a key pair the fake accepts: a configured base identity or
// credentials it issued.
type stsPrincipal struct {
	accessKeyID, secret, token string
	arn                        arn
	kind                       string
	userID                     string
	expires                    time.Time // zero: never
	// sessionCreds marks GetSessionToken credentials: AWS treats roles
	// assumed from them like role chaining (1h cap).
	sessionCreds bool

	issuedBy       string
	roleARN        string
	sessionName    string
	sourceIdentity string
	tags           []stsTag
	sessionPolicy  string
	policyARNs     []string
}

type stsTag struct{ Key, Value string }

type stsRole struct {
	STSRole
	arn arn
	id  string // AROA…, stable for the fake's lifetime like a real role id
}

// NewSTS validates cfg, binds the loopback address and starts serving.
// Close stops it.
func NewSTS(cfg STSConfig) (*STS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fake sts: %w", err)
	}
	s := newSTSState(cfg)
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake sts: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

func newSTSState(cfg STSConfig) *STS {
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WallClock == nil {
		cfg.WallClock = time.Now
	}
	s := &STS{cfg: cfg, keys: map[string]*stsPrincipal{}, roles: map[string]*stsRole{}}
	for _, r := range cfg.Roles {
		a, _ := parseARN(r.ARN)
		if r.MaxSessionDuration == 0 {
			r.MaxSessionDuration = time.Hour
		}
		s.roles[r.ARN] = &stsRole{STSRole: r, arn: a, id: "AROA" + randomID(17)}
	}
	for _, id := range cfg.Identities {
		a, _ := parseARN(id.ARN)
		p := &stsPrincipal{
			accessKeyID: id.AccessKeyID, secret: id.SecretAccessKey, token: id.SessionToken,
			arn: a, kind: principalKind(a), expires: id.Expires, sourceIdentity: id.SourceIdentity,
		}
		switch p.kind {
		case kindRoot:
			p.userID = a.account
		case kindUser:
			p.userID = "AIDA" + randomID(17)
		case kindAssumedRole:
			_, rest, _ := strings.Cut(a.resource, "/")
			roleName, session, _ := strings.Cut(rest, "/")
			p.sessionName = session
			roleID := "AROA" + randomID(17)
			for _, r := range s.roles {
				if r.arn.account == a.account && roleNameOf(r.arn.resource) == roleName {
					roleID = r.id
					p.roleARN = r.ARN
				}
			}
			p.userID = roleID + ":" + session
		}
		s.keys[p.accessKeyID] = p
	}
	return s
}

// URL is the fake's base URL, e.g. http://127.0.0.1:41234; use it as the SDK
// endpoint (sts.Options.BaseEndpoint or AWS_ENDPOINT_URL_STS).
func (s *STS) URL() string { return s.url }

// Close stops the server and waits for it to exit.
func (s *STS) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Now is the fake's clock: cfg.Now plus every Advance.
func (s *STS) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *STS) nowLocked() time.Time { return s.cfg.Now().Add(s.offset) }

// Advance moves the fake's credential clock forward (or back), so tests and
// sandbox scripts can expire credentials without waiting.
func (s *STS) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// Calls returns a copy of the request log, oldest first.
func (s *STS) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Params = cloneValues(c.Params)
		out[i] = c
	}
	return out
}

// CallsFor returns the logged calls of one action.
func (s *STS) CallsFor(action string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls empties the request log.
func (s *STS) ResetCalls() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// FailNext makes the next n requests of action (or of any action when
// action is "" or "*") fail with code and HTTP status.
func (s *STS) FailNext(action, code string, status, n int) {
	s.Fail(Fault{Action: action, Code: code, Status: status, Count: n})
}

// Fail queues a fault; faults are consumed in the order they were queued.
func (s *STS) Fail(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	if f.Status == 0 {
		f.Status = defaultStatus(f.Code)
	}
	if f.Message == "" {
		f.Message = defaultMessage(f.Code)
	}
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.mu.Unlock()
}

// Credential describes credentials by access key id: whether the fake
// issued or knows them, whether they are still valid, and what they carry.
func (s *STS) Credential(accessKeyID string) CredentialInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := CredentialInfo{AccessKeyID: accessKeyID}
	p, ok := s.keys[accessKeyID]
	if !ok {
		return info
	}
	now := s.nowLocked()
	info.Known = true
	info.Expired = !p.expires.IsZero() && !now.Before(p.expires)
	info.Valid = !info.Expired
	info.IssuedBy = p.issuedBy
	info.ARN = p.arn.String()
	info.Role = p.roleARN
	info.SessionName = p.sessionName
	info.SourceIdentity = p.sourceIdentity
	info.SessionPolicy = p.sessionPolicy
	info.PolicyARNs = append([]string(nil), p.policyARNs...)
	if len(p.tags) > 0 {
		info.Tags = map[string]string{}
		for _, t := range p.tags {
			info.Tags[t.Key] = t.Value
		}
	}
	if !p.expires.IsZero() {
		e := p.expires
		info.Expiration = &e
	}
	return info
}

// ServeHTTP answers STS requests on "/" and the admin endpoints under
// "/_fake/".
func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		s.serveAdmin(w, r)
		return
	}
	reqID := newRequestID()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		s.writeError(w, reqID, &apiError{status: 400, code: "MalformedInput", message: "could not read the request body"})
		return
	}
	if len(body) > maxBodyBytes {
		s.writeError(w, reqID, &apiError{status: 413, code: "RequestEntityTooLarge", message: "Request body too large"})
		return
	}
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			s.writeError(w, reqID, &apiError{status: 400, code: "MalformedQueryString", message: "the request body is not a valid form"})
			return
		}
		for k, v := range form {
			params[k] = append(params[k], v...)
		}
	} else if r.Method != http.MethodGet {
		s.writeError(w, reqID, &apiError{status: 405, code: "InvalidAction", message: "STS accepts GET and POST only"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	call := Call{Time: now, Action: params.Get("Action"), Params: redactParams(params), RequestID: reqID}
	if a, perr := parseSigV4Header(r.Header.Get("Authorization")); perr == nil {
		call.AccessKeyID = a.AccessKeyID
	}
	resp, aerr := s.handle(r, body, params, now)
	if aerr != nil {
		call.Status, call.ErrorCode = aerr.status, aerr.code
		s.calls = append(s.calls, call)
		s.writeError(w, reqID, aerr)
		return
	}
	call.Status = http.StatusOK
	s.calls = append(s.calls, call)
	s.writeXML(w, http.StatusOK, reqID, resp.withRequestID(reqID))
}

// handle runs one request; the caller holds s.mu.
func (s *STS) handle(r *http.Request, body []byte, params url.Values, now time.Time) (stsResponse, *apiError) {
	action := params.Get("Action")
	if action == "" {
		return nil, &apiError{status: 400, code: "MissingAction", message: "Missing Action"}
	}
	version := params.Get("Version")
	if version == "" {
		return nil, &apiError{status: 400, code: "MissingParameter", message: "The request must contain the parameter Version"}
	}
	if version != stsAPIVersion {
		return nil, &apiError{status: 400, code: "InvalidAction", message: fmt.Sprintf("Could not find operation %s for version %s", action, version)}
	}
	switch action {
	case "GetCallerIdentity", "AssumeRole", "GetSessionToken", "AssumeRoleWithWebIdentity":
	default:
		return nil, &apiError{status: 400, code: "InvalidAction", message: fmt.Sprintf("Could not find operation %s for version %s", action, version)}
	}
	if f := s.takeFault(action); f != nil {
		return nil, &apiError{status: f.Status, code: f.Code, message: f.Message}
	}
	if action == "AssumeRoleWithWebIdentity" {
		// Unsigned by design: the token is the credential.
		return s.assumeRoleWithWebIdentity(params, now)
	}
	caller, aerr := s.authenticate(r, body, now)
	if aerr != nil {
		return nil, aerr
	}
	switch action {
	case "GetCallerIdentity":
		return &getCallerIdentityResponse{Result: callerIdentityResult{Arn: caller.arn.String(), UserID: caller.userID, Account: caller.arn.account}}, nil
	case "AssumeRole":
		return s.assumeRole(caller, params, now)
	default:
		return s.getSessionToken(caller, params, now)
	}
}

func (s *STS) takeFault(action string) *Fault {
	for i := range s.faults {
		f := &s.faults[i]
		if f.Action != "" && f.Action != "*" && f.Action != action {
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

// authenticate verifies the request's SigV4 signature and returns the
// principal that signed it.
func (s *STS) authenticate(r *http.Request, body []byte, now time.Time) (*stsPrincipal, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &apiError{status: 403, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
	}
	auth, aerr := parseSigV4Header(h)
	if aerr != nil {
		return nil, aerr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, incompleteSignature("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", amzDate)
	}
	if !contains(auth.SignedHeaders, "host") {
		return nil, signatureMismatch("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !contains(auth.SignedHeaders, "x-amz-date") {
		return nil, signatureMismatch("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if aerr := checkScope(auth, amzDate, "sts"); aerr != nil {
		return nil, aerr
	}
	p, ok := s.keys[auth.AccessKeyID]
	if !ok {
		return nil, invalidClientTokenID()
	}
	// Temporary keys are only valid with their own session token; a token
	// sent with long-term keys is just as wrong.
	if tok := r.Header.Get("X-Amz-Security-Token"); !hmac.Equal([]byte(tok), []byte(p.token)) {
		return nil, invalidClientTokenID()
	}
	if aerr := checkSkew(signedAt, s.cfg.WallClock(), s.cfg.MaxSkew); aerr != nil {
		return nil, aerr
	}
	want := sigV4Signature(p.secret, amzDate, auth.Date, auth.Region, auth.Service, canonicalRequest(r, auth.SignedHeaders, body))
	got, err := hex.DecodeString(auth.Signature)
	wantRaw, _ := hex.DecodeString(want)
	if err != nil || !hmac.Equal(got, wantRaw) {
		return nil, signatureMismatch("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	if !p.expires.IsZero() && !now.Before(p.expires) {
		return nil, &apiError{status: 400, code: "ExpiredToken", message: "The security token included in the request is expired"}
	}
	return p, nil
}

func invalidClientTokenID() *apiError {
	return &apiError{status: 403, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
}

// apiError is an STS error response.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func (s *STS) writeError(w http.ResponseWriter, reqID string, e *apiError) {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	resp := xmlErrorResponse{Xmlns: stsNamespace, RequestID: reqID}
	resp.Error.Type, resp.Error.Code, resp.Error.Message = typ, e.code, e.message
	s.writeXML(w, e.status, reqID, &resp)
}

func (s *STS) writeXML(w http.ResponseWriter, status int, reqID string, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// serveAdmin answers the test and sandbox endpoints:
//
//	GET    /_fake/calls[?action=A]                 the request log as JSON
//	DELETE /_fake/calls                            empty the log
//	GET    /_fake/credentials?access_key_id=K      CredentialInfo as JSON
//	POST   /_fake/fail  action=&code=&status=&count=&message=
//	POST   /_fake/advance  by=<Go duration>         move the credential clock
func (s *STS) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_fake/calls" && r.Method == http.MethodGet:
		calls := s.Calls()
		if a := r.URL.Query().Get("action"); a != "" {
			calls = s.CallsFor(a)
		}
		if calls == nil {
			calls = []Call{}
		}
		writeJSON(w, http.StatusOK, calls)
	case r.URL.Path == "/_fake/calls" && r.Method == http.MethodDelete:
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_fake/credentials" && r.Method == http.MethodGet:
		k := r.URL.Query().Get("access_key_id")
		if k == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "access_key_id is required"})
			return
		}
		info := s.Credential(k)
		status := http.StatusOK
		if !info.Known {
			status = http.StatusNotFound
		}
		writeJSON(w, status, info)
	case r.URL.Path == "/_fake/fail" && r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		f := Fault{Action: r.Form.Get("action"), Code: r.Form.Get("code"), Message: r.Form.Get("message")}
		var err1, err2 error
		if v := r.Form.Get("status"); v != "" {
			f.Status, err1 = strconv.Atoi(v)
		}
		if v := r.Form.Get("count"); v != "" {
			f.Count, err2 = strconv.Atoi(v)
		}
		if f.Code == "" || errors.Join(err1, err2) != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "need code, and numeric status/count"})
			return
		}
		s.Fail(f)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_fake/advance" && r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		d, err := time.ParseDuration(r.Form.Get("by"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "by must be a Go duration such as 2h"})
			return
		}
		s.Advance(d)
		writeJSON(w, http.StatusOK, map[string]time.Time{"now": s.Now()})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown admin endpoint " + r.Method + " " + r.URL.Path})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// redactParams copies params without secret values.
func redactParams(p url.Values) url.Values {
	out := cloneValues(p)
	for _, k := range []string{"WebIdentityToken", "TokenCode", "X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-Credential"} {
		if _, ok := out[k]; ok {
			out[k] = []string{redacted}
		}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func defaultStatus(code string) int {
	switch code {
	case "InternalFailure", "InternalError":
		return 500
	case "ServiceUnavailable":
		return 503
	case "AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch", "RegionDisabledException":
		return 403
	}
	return 400
}

func defaultMessage(code string) string {
	switch code {
	case "Throttling":
		return "Rate exceeded"
	case "InternalFailure", "InternalError":
		return "An internal error occurred"
	case "ServiceUnavailable":
		return "Service is unavailable"
	case "AccessDenied":
		return "Access denied"
	case "ExpiredToken":
		return "The security token included in the request is expired"
	case "InvalidClientTokenId":
		return "The security token included in the request is invalid."
	}
	return code + " (injected by the fake)"
}

// randomID returns n characters of A–Z and 2–7, the alphabet of AWS's
// unique ids.
func randomID(n int) string {
	var out strings.Builder
	for out.Len() < n {
		out.WriteString(rand.Text())
	}
	return out.String()[:n]
}

func randomSecret(nBytes int) string {
	b := make([]byte, nBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b)
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
