package gcp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	credentialspb "cloud.google.com/go/iam/credentials/apiv1/credentialspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const maxBodyBytes = 1 << 20

// ServeHTTP answers the HTTP listener:
//
//	GET|POST /tokeninfo                 OAuth2 tokeninfo (access_token=…)
//	POST     /token                     OAuth2 token endpoint, grant_type=refresh_token
//	POST     /v1/projects/ID:getIamPolicy, :setIamPolicy          cloudresourcemanager v1 (gcloud)
//	POST     /v3/{projects|folders|organizations}/ID:getIamPolicy, :setIamPolicy
//	POST     /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken   iamcredentials v1
//	         /_fake/…                   admin endpoints (see serveAdmin)
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_fake/"):
		s.serveAdmin(w, r)
	case p == "/tokeninfo" || p == "/oauth2/v3/tokeninfo":
		s.serveTokenInfo(w, r)
	case p == "/token":
		s.serveToken(w, r)
	case r.Method == http.MethodPost && (strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v3/")):
		s.serveREST(w, r)
	default:
		writeGoogleError(w, status.Errorf(codes.NotFound, "fake gcp: no route for %s %s", r.Method, p))
	}
}

func (s *Server) serveTokenInfo(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "could not parse the request"})
		return
	}
	tok := r.Form.Get("access_token")
	s.mu.Lock()
	now := s.nowLocked()
	t, ok := s.tokens[tok]
	valid := ok && tok != "" && t.validAt(now)
	call := Call{Time: now, Method: "REST tokeninfo", Service: "oauth2", TokenHash: TokenHash(tok), Code: codes.OK.String()}
	if valid {
		call.Caller = t.email
	} else {
		call.Code = codes.InvalidArgument.String()
	}
	s.calls = append(s.calls, call)
	var email string
	var expires time.Time
	var scopes []string
	if valid {
		email, expires, scopes = t.email, t.expires, t.scopes
	}
	s.mu.Unlock()
	if !valid {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_token", "error_description": "Invalid Value"})
		return
	}
	in := int64(3600)
	if !expires.IsZero() {
		in = int64(expires.Sub(now) / time.Second)
	}
	if len(scopes) == 0 {
		scopes = []string{"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email", "openid"}
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"azp": "fake-client.apps.googleusercontent.com", "aud": "fake-client.apps.googleusercontent.com",
		"sub": subjectOf(email), "scope": strings.Join(scopes, " "),
		"exp": strconv.FormatInt(now.Unix()+in, 10), "expires_in": strconv.FormatInt(in, 10),
		"email": email, "email_verified": "true", "access_type": "offline",
	})
}

// subjectOf is a stable numeric account id for an e-mail.
func subjectOf(email string) string {
	h := TokenHash("sub:" + email)
	n, _ := strconv.ParseUint(h[:15], 16, 64)
	return "1" + strconv.FormatUint(n, 10)
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "could not parse the request"})
		return
	}
	s.mu.Lock()
	now := s.nowLocked()
	call := Call{Time: now, Method: "REST token", Service: "oauth2", Code: codes.OK.String()}
	email, ok := s.refresh[r.PostForm.Get("refresh_token")]
	if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") == "" || !ok {
		call.Code = codes.InvalidArgument.String()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Bad Request"})
		return
	}
	tok := s.issueLocked(email, time.Hour, nil, "refresh")
	call.Caller = email
	call.TokenHash = TokenHash(tok)
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": 3599, "token_type": "Bearer",
		"scope": "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email openid",
	})
}

var jsonIn = protojson.UnmarshalOptions{DiscardUnknown: true}

// serveREST answers the REST methods gcloud uses, through the same code
// (and call log, faults, hold and authentication) as the gRPC services.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		writeGoogleError(w, status.Error(codes.InvalidArgument, "could not read the request body"))
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	version, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	resource, verb, ok := strings.Cut(rest, ":")
	if !ok {
		writeGoogleError(w, status.Errorf(codes.NotFound, "fake gcp: no route for POST %s", r.URL.Path))
		return
	}
	call := Call{Method: "REST " + verb, Service: "rest " + version, Resource: resource}
	authz := func() string { return r.Header.Get("Authorization") }
	var handle func(ctx context.Context) (any, error)
	switch {
	case verb == "getIamPolicy" && (version == "v3" || strings.HasPrefix(resource, "projects/")):
		req := &iampb.GetIamPolicyRequest{}
		if err := jsonIn.Unmarshal(body, req); err != nil {
			writeGoogleError(w, status.Errorf(codes.InvalidArgument, "Invalid JSON payload received. %v", err))
			return
		}
		req.Resource = resource
		handle = func(ctx context.Context) (any, error) { return s.getIamPolicy(ctx, req) }
	case verb == "setIamPolicy" && (version == "v3" || strings.HasPrefix(resource, "projects/")):
		req := &iampb.SetIamPolicyRequest{}
		if err := jsonIn.Unmarshal(body, req); err != nil {
			writeGoogleError(w, status.Errorf(codes.InvalidArgument, "Invalid JSON payload received. %v", err))
			return
		}
		req.Resource = resource
		handle = func(ctx context.Context) (any, error) { return s.setIamPolicy(ctx, req) }
	case verb == "generateAccessToken" && version == "v1" && strings.HasPrefix(resource, "projects/-/serviceAccounts/"):
		req := &credentialspb.GenerateAccessTokenRequest{}
		if err := jsonIn.Unmarshal(body, req); err != nil {
			writeGoogleError(w, status.Errorf(codes.InvalidArgument, "Invalid JSON payload received. %v", err))
			return
		}
		handle = func(ctx context.Context) (any, error) {
			tok, exp, err := s.generateAccessToken(callerFrom(ctx), resource, req.GetDelegates(), req.GetScope(), req.GetLifetime().AsDuration(), req.GetLifetime() != nil)
			if err != nil {
				return nil, err
			}
			return &credentialspb.GenerateAccessTokenResponse{AccessToken: tok, ExpireTime: timestamppb.New(exp)}, nil
		}
	default:
		writeGoogleError(w, status.Errorf(codes.NotFound, "fake gcp: no route for POST %s", r.URL.Path))
		return
	}
	resp, err := s.run(r.Context(), &call, handle, authz)
	if err != nil {
		writeGoogleError(w, err)
		return
	}
	out, err := protojson.Marshal(resp.(proto.Message))
	if err != nil {
		writeGoogleError(w, status.Errorf(codes.Internal, "encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(out)
}

// writeGoogleError writes Google's JSON error format with the HTTP status
// gRPC's code maps to.
func writeGoogleError(w http.ResponseWriter, err error) {
	st, _ := status.FromError(err)
	writeJSON(w, httpStatus(st.Code()), map[string]any{"error": map[string]any{
		"code": httpStatus(st.Code()), "message": st.Message(), "status": codeName(st.Code()),
	}})
}

func codeName(c codes.Code) string {
	// gRPC's String() is CamelCase ("PermissionDenied"); Google's JSON
	// errors use the proto enum names.
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
		codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
		codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
	}
	return names[c]
}

func httpStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.Aborted, codes.AlreadyExists:
		return http.StatusConflict
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Canceled:
		return 499
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// serveAdmin answers the test and sandbox endpoints:
//
//	GET    /_fake/calls[?method=M]            the request log as JSON
//	DELETE /_fake/calls                       empty the log
//	POST   /_fake/fail  method=&code=&count=&message=   code is a gRPC code name or number
//	POST   /_fake/advance  by=<Go duration>   move the clock
//	GET    /_fake/policy?resource=R           the current policy (v3 view)
//	GET    /_fake/pam/grants                  PAM grants and their states
//	POST   /_fake/pam/approve  grant=&approver=
//	POST   /_fake/pam/deny     grant=&approver=
//	POST   /_fake/token  email=&ttl=<Go duration>   mint an access token (JSON {"access_token"})
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	bad := func(msg string) { writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg}) }
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			bad(err.Error())
			return
		}
	}
	switch p := r.URL.Path; {
	case p == "/_fake/calls" && r.Method == http.MethodGet:
		calls := s.Calls()
		if m := r.URL.Query().Get("method"); m != "" {
			calls = s.CallsFor(m)
		}
		if calls == nil {
			calls = []Call{}
		}
		writeJSON(w, http.StatusOK, calls)
	case p == "/_fake/calls" && r.Method == http.MethodDelete:
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	case p == "/_fake/fail" && r.Method == http.MethodPost:
		f := Fault{Method: r.Form.Get("method"), Message: r.Form.Get("message")}
		if err := f.Code.UnmarshalJSON([]byte(strconv.Quote(strings.ToUpper(r.Form.Get("code"))))); err != nil {
			if n, nerr := strconv.Atoi(r.Form.Get("code")); nerr == nil {
				f.Code = codes.Code(n)
			} else {
				bad("code must be a gRPC code such as UNAVAILABLE or ABORTED")
				return
			}
		}
		if v := r.Form.Get("count"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				bad("count must be a number")
				return
			}
			f.Count = n
		}
		s.Fail(f)
		w.WriteHeader(http.StatusNoContent)
	case p == "/_fake/advance" && r.Method == http.MethodPost:
		d, err := time.ParseDuration(r.Form.Get("by"))
		if err != nil {
			bad("by must be a Go duration such as 2h")
			return
		}
		s.Advance(d)
		writeJSON(w, http.StatusOK, map[string]time.Time{"now": s.Now()})
	case p == "/_fake/policy" && r.Method == http.MethodGet:
		pol := s.Policy(r.URL.Query().Get("resource"))
		if pol == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such resource"})
			return
		}
		out, _ := protojson.Marshal(pol)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	case p == "/_fake/pam/grants" && r.Method == http.MethodGet:
		gs := s.Grants()
		if gs == nil {
			gs = []GrantInfo{}
		}
		writeJSON(w, http.StatusOK, gs)
	case (p == "/_fake/pam/approve" || p == "/_fake/pam/deny") && r.Method == http.MethodPost:
		var err error
		if p == "/_fake/pam/approve" {
			err = s.Approve(r.Form.Get("grant"), r.Form.Get("approver"))
		} else {
			err = s.Deny(r.Form.Get("grant"), r.Form.Get("approver"))
		}
		if err != nil {
			writeGoogleError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"state": s.GrantState(r.Form.Get("grant"))})
	case p == "/_fake/token" && r.Method == http.MethodPost:
		email := r.Form.Get("email")
		if !strings.Contains(email, "@") {
			bad("email is required")
			return
		}
		var ttl time.Duration
		if v := r.Form.Get("ttl"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				bad("ttl must be a Go duration")
				return
			}
			ttl = d
		}
		writeJSON(w, http.StatusOK, map[string]string{"access_token": s.IssueToken(email, ttl)})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown admin endpoint " + r.Method + " " + r.URL.Path})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
