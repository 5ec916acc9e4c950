package azure

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// serveDiscovery answers MSAL's tenant discovery.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	if !s.knownTenant(tenant) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_tenant",
			"error_description": fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", tenant)})
		return
	}
	base := s.url + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "EU",
	})
}

func (s *Server) knownTenant(t string) bool {
	return strings.EqualFold(t, s.cfg.TenantID) || t == "organizations" || t == "common"
}

// serveToken is the client-credentials grant: client_id + client_secret
// of a configured principal, for one scope.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	reqID := randomGUID()
	call := Call{Op: OpToken, Method: r.Method, Path: r.URL.Path, RequestID: reqID}
	fail := func(status int, code, desc string) {
		call.Status, call.ErrorCode = status, code
		s.logCall(call)
		w.Header().Set("x-ms-request-id", reqID)
		writeJSON(w, status, map[string]any{"error": code, "error_description": desc + " Trace ID: " + reqID,
			"error_codes": []int{}, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z")})
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		fail(http.StatusBadRequest, "invalid_request", "AADSTS900144: could not read the request body.")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		fail(http.StatusBadRequest, "invalid_request", "AADSTS900144: the request body is not a form.")
		return
	}
	clientID := form.Get("client_id")
	call.Principal = clientID
	s.mu.Lock()
	f := s.takeFault(OpToken)
	s.mu.Unlock()
	if f != nil {
		fail(f.Status, f.Code, f.Message)
		return
	}
	if !strings.EqualFold(tenant, s.cfg.TenantID) {
		fail(http.StatusBadRequest, "invalid_request", fmt.Sprintf("AADSTS90002: Tenant '%s' not found.", tenant))
		return
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("AADSTS70003: The app requested an unsupported grant type '%s'.", gt))
		return
	}
	s.mu.Lock()
	p := s.byClient[clientID]
	s.mu.Unlock()
	if p == nil {
		fail(http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", clientID))
		return
	}
	if !hmac.Equal([]byte(form.Get("client_secret")), []byte(p.ClientSecret)) {
		fail(http.StatusUnauthorized, "invalid_client", fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
		return
	}
	var resource string
	for _, sc := range strings.Fields(form.Get("scope")) {
		if strings.HasSuffix(sc, "/.default") {
			resource = strings.TrimSuffix(sc, "/.default")
		}
	}
	if resource == "" {
		fail(http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
		return
	}
	tok, exp := s.issue(p, resource)
	call.Status = http.StatusOK
	s.logCall(call)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(time.Until(exp).Seconds()), "ext_expires_in": int(time.Until(exp).Seconds()),
		"access_token": tok,
	})
}

// IssueToken returns an ARM access token for a configured principal, as
// the token endpoint would, for tests that bring a static credential.
func (s *Server) IssueToken(objectID string) (string, time.Time, error) {
	s.mu.Lock()
	p := s.byOID[strings.ToLower(objectID)]
	s.mu.Unlock()
	if p == nil {
		return "", time.Time{}, fmt.Errorf("fake azure: no principal with object id %s", objectID)
	}
	tok, exp := s.issue(p, ARMAudience)
	return tok, exp, nil
}

// issue mints an unsigned JWT (alg none) with the claims of an Entra ID
// access token, and remembers it so that ARM accepts it.
func (s *Server) issue(p *Principal, audience string) (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.WallClock()
	exp := now.Add(s.cfg.TokenLifetime)
	claims := map[string]any{
		"aud": audience, "iss": "https://sts.windows.net/" + s.cfg.TenantID + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"oid": p.ObjectID, "sub": p.ObjectID, "tid": s.cfg.TenantID, "ver": "1.0",
		"appid": p.ClientID, "uti": randomGUID(), "xms_cc": []string{"CP1"},
	}
	amr := []string{"pwd"}
	if p.MFA {
		amr = append(amr, "mfa")
	}
	if p.IsUser() {
		claims["idtyp"] = "user"
		claims["upn"] = p.UPN
		claims["unique_name"] = p.UPN
		claims["amr"] = amr
	} else {
		claims["idtyp"] = "app"
	}
	if p.Email != "" {
		claims["email"] = p.Email
	}
	if p.Name != "" {
		claims["name"] = p.Name
	}
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	payload, _ := json.Marshal(claims)
	// A random third part keeps every token unique, like a signature.
	var sig [16]byte
	_, _ = rand.Read(sig[:])
	tok := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(sig[:])
	s.tokens[tok] = &issuedToken{principal: p, audience: audience, expires: exp, mfa: p.MFA}
	return tok, exp
}

// armAudiences are the audiences ARM accepts.
func armAudience(aud string) bool {
	a := strings.TrimSuffix(strings.ToLower(aud), "/")
	return a == "https://management.core.windows.net" || a == "https://management.azure.com"
}

// authenticate checks the bearer token of an ARM request; the caller
// holds s.mu.
func (s *Server) authenticate(r *http.Request) (*issuedToken, *armError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &armError{status: 401, code: "AuthenticationFailed", message: "Authentication failed. The 'Authorization' header is missing."}
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, &armError{status: 401, code: "AuthenticationFailedInvalidHeader", message: "Authentication failed. The 'Authorization' header is provided in an invalid format."}
	}
	t := s.tokens[tok]
	if t == nil {
		return nil, &armError{status: 401, code: "InvalidAuthenticationToken", message: "The access token is invalid."}
	}
	if now := s.cfg.WallClock(); !now.Before(t.expires) {
		return nil, &armError{status: 401, code: "ExpiredAuthenticationToken", message: fmt.Sprintf(
			"The access token expiry UTC time '%s' is earlier than current UTC time '%s'.",
			t.expires.UTC().Format("1/2/2006 3:04:05 PM"), now.UTC().Format("1/2/2006 3:04:05 PM"))}
	}
	if !armAudience(t.audience) {
		return nil, &armError{status: 401, code: "InvalidAuthenticationTokenAudience", message: fmt.Sprintf(
			"The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.", t.audience)}
	}
	return t, nil
}
