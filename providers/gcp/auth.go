package gcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jit/providers"

	"github.com/jitaccess/jit/internal/loopback"
)

// Default endpoints of Google's OAuth2 service.
const (
	DefaultTokenInfoURL = "https://oauth2.googleapis.com/tokeninfo"
	emailScope          = "https://www.googleapis.com/auth/userinfo.email"
)

// Principal sources, as Principal.Source reports them.
const (
	// SourceCredentials: the account is named in the credentials file
	// (a service account key, impersonated or federated credentials).
	SourceCredentials = "gcp:credentials"
	// SourceTokenInfo: Google's tokeninfo endpoint named the owner of the
	// access token (user credentials, the metadata server).
	SourceTokenInfo = "gcp:tokeninfo"
)

// StaticToken is a token provider that always returns tok, for tests and
// the `jit dev` sandbox, whose fake maps the token to an account.
func StaticToken(tok string) auth.TokenProvider {
	return staticToken(tok)
}

type staticToken string

func (s staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer"}, nil
}

// endpoint is a parsed endpoint setting.
type endpoint struct {
	addr      string // host:port for gRPC
	plaintext bool   // http:// on loopback
	set       bool
}

// parseEndpoint accepts host:port or https://host[:port] (TLS) and
// http://host:port (plaintext, loopback only: jit never sends a token in
// the clear over a network).
func parseEndpoint(name, s string) (endpoint, error) {
	if s == "" {
		return endpoint{}, nil
	}
	e := endpoint{set: true}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return endpoint{}, fmt.Errorf("%s endpoint %q is not host:port, https://host[:port] or http://127.0.0.1:port", name, s)
		}
		switch u.Scheme {
		case "https":
			e.addr = u.Host
			if u.Port() == "" {
				e.addr = net.JoinHostPort(u.Hostname(), "443")
			}
		case "http":
			if !loopback.Host(u.Hostname()) {
				return endpoint{}, fmt.Errorf("%s endpoint %q: plaintext (http://) is allowed for loopback addresses only; use https://", name, s)
			}
			if u.Port() == "" {
				return endpoint{}, fmt.Errorf("%s endpoint %q needs a port", name, s)
			}
			e.addr, e.plaintext = u.Host, true
		default:
			return endpoint{}, fmt.Errorf("%s endpoint %q: scheme must be https or (loopback only) http", name, s)
		}
		return e, nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return endpoint{}, fmt.Errorf("%s endpoint %q is not host:port, https://host[:port] or http://127.0.0.1:port", name, s)
	}
	e.addr = s
	return e, nil
}

// checkHTTPURL checks a URL jit sends a token to: https, or http on
// loopback.
func checkHTTPURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s %q is not a URL", name, s)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%s %q: use https:// (plaintext http:// is allowed for loopback addresses only)", name, s)
}

// credentials returns the base credentials, detecting them on first use
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server).
// The caller holds p.mu.
func (p *Provider) credentialsLocked(ctx context.Context, op string) (*auth.Credentials, error) {
	if p.creds != nil {
		return p.creds, nil
	}
	if p.opts.TokenProvider != nil {
		p.creds = auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: p.opts.TokenProvider})
		return p.creds, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	creds, err := credentials.DetectDefault(&credentials.DetectOptions{
		// userinfo.email lets tokeninfo name the account of service
		// account credentials too.
		Scopes:          []string{DefaultScope, emailScope},
		CredentialsFile: p.opts.CredentialsFile,
		TokenURL:        p.opts.TokenURL,
		Client:          p.opts.HTTPClient,
	})
	if err != nil {
		return nil, &providers.Error{Kind: providers.KindAuth, Op: op, Code: "NoCredentials", Err: oneLine(err), Hint: authHint}
	}
	p.creds = creds
	return creds, nil
}

const authHint = "sign in with gcloud auth application-default login (or point GOOGLE_APPLICATION_CREDENTIALS at a credentials file)"

// token fetches (or reuses) an access token of the base credentials, so
// that "cannot sign in" is told apart from what the API answers.
func (p *Provider) token(ctx context.Context, op string) (*auth.Credentials, *auth.Token, error) {
	p.mu.Lock()
	creds, err := p.credentialsLocked(ctx, op)
	p.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	tok, err := creds.Token(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return nil, nil, &providers.Error{Kind: providers.KindAuth, Op: op, Code: "NoToken", Err: oneLine(fmt.Errorf("get an access token: %w", err)), Hint: authHint}
	}
	return creds, tok, nil
}

// bearer sends the base credentials' token as gRPC metadata on plaintext
// loopback connections, where the SDK's own per-RPC credentials refuse to
// (they require transport security).
type bearer struct{ creds *auth.Credentials }

func (b bearer) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	t, err := b.creds.Token(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, oneLine(err).Error())
	}
	return map[string]string{"authorization": "Bearer " + t.Value}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// accountFromJSON names the account of credentials whose file says it:
// a service account key, impersonated service account credentials, or
// federated credentials that impersonate a service account.
func accountFromJSON(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var f struct {
		Type                           string `json:"type"`
		ClientEmail                    string `json:"client_email"`
		ServiceAccountImpersonationURL string `json:"service_account_impersonation_url"`
	}
	if json.Unmarshal(b, &f) != nil {
		return ""
	}
	switch f.Type {
	case "service_account":
		return f.ClientEmail
	case "impersonated_service_account", "external_account":
		return accountFromImpersonationURL(f.ServiceAccountImpersonationURL)
	}
	return ""
}

// accountFromImpersonationURL extracts EMAIL from
// https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken.
func accountFromImpersonationURL(u string) string {
	_, rest, ok := strings.Cut(u, "/serviceAccounts/")
	if !ok {
		return ""
	}
	email, _, _ := strings.Cut(rest, ":")
	if e, err := url.PathUnescape(email); err == nil {
		email = e
	}
	if !isEmail(email) {
		return ""
	}
	return email
}

// tokenInfo asks Google's tokeninfo endpoint who owns an access token. The
// token travels in a POST body, never in a URL that an error could echo.
func (p *Provider) tokenInfo(ctx context.Context, op, tok string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenInfoURL, strings.NewReader(url.Values{"access_token": {tok}}.Encode()))
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := p.opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s: %w", op, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", &providers.Error{Kind: providers.KindTransient, Op: op, Err: fmt.Errorf("ask %s who owns the token: %w", p.tokenInfoURL, err),
			Hint: "could not reach Google's tokeninfo endpoint; check the network and try again"}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", &providers.Error{Kind: providers.KindTransient, Op: op, Err: fmt.Errorf("read the tokeninfo answer: %w", err)}
	}
	var info struct {
		Email            string `json:"email"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &info)
	switch {
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized:
		msg := info.Error
		if info.ErrorDescription != "" {
			msg += ": " + info.ErrorDescription
		}
		return "", &providers.Error{Kind: providers.KindAuth, Op: op, Code: "invalid_token",
			Err: fmt.Errorf("tokeninfo refused the access token (%s)", oneLineString(msg)), Hint: authHint}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", &providers.Error{Kind: providers.KindTransient, Op: op, Err: fmt.Errorf("tokeninfo answered HTTP %d", resp.StatusCode), Hint: "retry in a moment"}
	case resp.StatusCode != http.StatusOK:
		return "", &providers.Error{Kind: providers.KindUnknown, Op: op, Err: fmt.Errorf("tokeninfo answered HTTP %d", resp.StatusCode)}
	case info.Email == "":
		return "", &providers.Error{Kind: providers.KindAuth, Op: op, Code: "NoEmail",
			Err:  errors.New("the access token does not carry the account's e-mail (no userinfo.email scope)"),
			Hint: "sign in again with gcloud auth application-default login, which grants the e-mail scope"}
	}
	return info.Email, nil
}

// oneLine flattens an error's message (the auth library puts HTTP bodies
// on a second line) while keeping it unwrappable.
func oneLine(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if !strings.ContainsAny(s, "\r\n") {
		return err
	}
	return &flatError{msg: oneLineString(s), err: err}
}

func oneLineString(s string) string { return strings.Join(strings.Fields(s), " ") }

type flatError struct {
	msg string
	err error
}

func (e *flatError) Error() string { return e.msg }
func (e *flatError) Unwrap() error { return e.err }
