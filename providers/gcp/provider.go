// Package gcp is jit's Google Cloud provider. It signs in with the caller's
// Google credentials (Application Default Credentials, or a token provider
// handed in) and grants access in one of three modes per target:
//
//   - binding: a new IAM binding of a role to the caller, with the condition
//     request.time < timestamp(expiry), written by a read-modify-write of
//     the resource's policy (version 3, etag, retried on concurrent change);
//     the caller's own credentials then carry the role until expiry.
//   - impersonate: a short-lived access token of a service account (IAM
//     Credentials GenerateAccessToken), delivered as environment variables;
//     it cannot be revoked.
//   - pam: a Privileged Access Manager grant of an entitlement, which may
//     await approval (a KindPending error).
//
// The official gRPC clients (cloud.google.com/go) are created lazily, per
// service, on first use; New does no I/O.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/auth"
	credentials "cloud.google.com/go/iam/credentials/apiv1"
	pam "cloud.google.com/go/privilegedaccessmanager/apiv1"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/gcp/gcpspec"
)

// Options configure the provider.
type Options struct {
	// Endpoint overrides per service (config providers.gcp.endpoints.*):
	// host:port or https://host[:port] for TLS, http://host:port for
	// plaintext gRPC, which New accepts for loopback addresses only. Empty
	// uses Google's endpoint.
	ResourceManagerEndpoint string
	IAMCredentialsEndpoint  string
	PAMEndpoint             string
	// TokenInfoURL is the OAuth2 tokeninfo endpoint WhoAmI asks about user
	// credentials; default DefaultTokenInfoURL. https, or http on loopback.
	TokenInfoURL string
	// TokenURL is the OAuth2 token endpoint that refreshes user (authorized
	// user) credentials; Google's when empty. https, or http on loopback.
	TokenURL string
	// CredentialsFile is a credentials JSON file to use instead of Google's
	// detection (GOOGLE_APPLICATION_CREDENTIALS, then gcloud's application
	// default credentials, then the metadata server).
	CredentialsFile string
	// TokenProvider, when set, replaces the credentials altogether: every
	// call carries its token and WhoAmI asks tokeninfo whose it is (tests,
	// `jit dev`). See StaticToken.
	TokenProvider auth.TokenProvider
	// HTTPClient makes the tokeninfo and token-endpoint calls; the default
	// client otherwise. gRPC calls do not use it.
	HTTPClient *http.Client
	// Now is the clock for expiries and for recognising expired bindings;
	// time.Now when nil.
	Now func() time.Time
	// PolicyAttempts caps the read-modify-write cycles of an IAM policy
	// when others change it concurrently (codes.Aborted); default 8.
	PolicyAttempts int
	// PolicyBackoff is the first wait between cycles, doubled (with
	// jitter) up to 5s; default 200ms.
	PolicyBackoff time.Duration
}

// Provider grants Google Cloud access. It is safe for concurrent use.
type Provider struct {
	opts          Options
	now           func() time.Time
	rmEndpoint    endpoint
	credsEndpoint endpoint
	pamEndpoint   endpoint
	tokenInfoURL  string

	mu       sync.Mutex
	creds    *auth.Credentials
	who      *providers.Principal
	projects *resourcemanager.ProjectsClient
	folders  *resourcemanager.FoldersClient
	orgs     *resourcemanager.OrganizationsClient
	iamcreds *credentials.IamCredentialsClient
	pam      *pam.Client
}

var (
	_ providers.Provider  = (*Provider)(nil)
	_ providers.WhoAmIer  = (*Provider)(nil)
	_ providers.Revoker   = (*Provider)(nil)
	_ providers.Collector = (*Provider)(nil)
)

// New checks the options and returns the provider. It does no I/O:
// credentials are detected and connections made on first use.
func New(_ context.Context, o Options) (*Provider, error) {
	p := &Provider{opts: o, now: o.Now, tokenInfoURL: o.TokenInfoURL}
	if p.now == nil {
		p.now = time.Now
	}
	if p.tokenInfoURL == "" {
		p.tokenInfoURL = DefaultTokenInfoURL
	}
	if p.opts.PolicyAttempts <= 0 {
		p.opts.PolicyAttempts = 8
	}
	if p.opts.PolicyBackoff <= 0 {
		p.opts.PolicyBackoff = 200 * time.Millisecond
	}
	var errs []error
	var err error
	if p.rmEndpoint, err = parseEndpoint("resource manager", o.ResourceManagerEndpoint); err != nil {
		errs = append(errs, err)
	}
	if p.credsEndpoint, err = parseEndpoint("IAM credentials", o.IAMCredentialsEndpoint); err != nil {
		errs = append(errs, err)
	}
	if p.pamEndpoint, err = parseEndpoint("privileged access manager", o.PAMEndpoint); err != nil {
		errs = append(errs, err)
	}
	if err := checkHTTPURL("tokeninfo URL", p.tokenInfoURL); err != nil {
		errs = append(errs, err)
	}
	if o.TokenURL != "" {
		if err := checkHTTPURL("token URL", o.TokenURL); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &providers.Error{Kind: providers.KindInvalid, Op: "configure gcp", Err: err, Hint: "fix providers.gcp.endpoints in the jit configuration"}
	}
	return p, nil
}

// Name is "gcp".
func (p *Provider) Name() string { return ProviderName }

// Endpoints lists the endpoint overrides in effect (service: address), so
// the CLI can warn about them; empty when every service is Google's own.
func (p *Provider) Endpoints() map[string]string {
	out := map[string]string{}
	for name, e := range map[string]endpoint{"resourcemanager": p.rmEndpoint, "iamcredentials": p.credsEndpoint, "privilegedaccessmanager": p.pamEndpoint} {
		if e.set {
			out[name] = e.addr
		}
	}
	if p.tokenInfoURL != DefaultTokenInfoURL {
		out["tokeninfo"] = p.tokenInfoURL
	}
	if p.opts.TokenURL != "" {
		out["token"] = p.opts.TokenURL
	}
	return out
}

// Close closes the connections the provider opened.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	if p.projects != nil {
		errs = append(errs, p.projects.Close())
	}
	if p.folders != nil {
		errs = append(errs, p.folders.Close())
	}
	if p.orgs != nil {
		errs = append(errs, p.orgs.Close())
	}
	if p.iamcreds != nil {
		errs = append(errs, p.iamcreds.Close())
	}
	if p.pam != nil {
		errs = append(errs, p.pam.Close())
	}
	p.projects, p.folders, p.orgs, p.iamcreds, p.pam = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

// clientOptions are the options of one service's client; the caller holds
// p.mu. Clients outlive the call that creates them, so they are created
// with a context that the call's cancellation does not reach.
func (p *Provider) clientOptionsLocked(ctx context.Context, op string, e endpoint) ([]option.ClientOption, error) {
	creds, err := p.credentialsLocked(ctx, op)
	if err != nil {
		return nil, err
	}
	if e.plaintext {
		return []option.ClientOption{
			option.WithEndpoint(e.addr),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{creds})),
		}, nil
	}
	opts := []option.ClientOption{option.WithAuthCredentials(creds)}
	if e.set {
		opts = append(opts, option.WithEndpoint(e.addr))
	}
	return opts, nil
}

func (p *Provider) clientError(op string, err error) error {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return err
	}
	return &providers.Error{Kind: providers.KindUnknown, Op: op, Err: fmt.Errorf("create the Google Cloud client: %w", oneLine(err))}
}

func (p *Provider) policyClient(ctx context.Context, op string, r Resource) (iamPolicyClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	opts, err := p.clientOptionsLocked(ctx, op, p.rmEndpoint)
	if err != nil {
		return nil, err
	}
	switch r.Kind {
	case KindFolder:
		if p.folders == nil {
			if p.folders, err = resourcemanager.NewFoldersClient(context.WithoutCancel(ctx), opts...); err != nil {
				return nil, p.clientError(op, err)
			}
		}
		return p.folders, nil
	case KindOrganization:
		if p.orgs == nil {
			if p.orgs, err = resourcemanager.NewOrganizationsClient(context.WithoutCancel(ctx), opts...); err != nil {
				return nil, p.clientError(op, err)
			}
		}
		return p.orgs, nil
	default:
		if p.projects == nil {
			if p.projects, err = resourcemanager.NewProjectsClient(context.WithoutCancel(ctx), opts...); err != nil {
				return nil, p.clientError(op, err)
			}
		}
		return p.projects, nil
	}
}

func (p *Provider) credentialsClient(ctx context.Context, op string) (*credentials.IamCredentialsClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.iamcreds != nil {
		return p.iamcreds, nil
	}
	opts, err := p.clientOptionsLocked(ctx, op, p.credsEndpoint)
	if err != nil {
		return nil, err
	}
	if p.iamcreds, err = credentials.NewIamCredentialsClient(context.WithoutCancel(ctx), opts...); err != nil {
		return nil, p.clientError(op, err)
	}
	return p.iamcreds, nil
}

func (p *Provider) pamClient(ctx context.Context, op string) (*pam.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pam != nil {
		return p.pam, nil
	}
	opts, err := p.clientOptionsLocked(ctx, op, p.pamEndpoint)
	if err != nil {
		return nil, err
	}
	if p.pam, err = pam.NewClient(context.WithoutCancel(ctx), opts...); err != nil {
		return nil, p.clientError(op, err)
	}
	return p.pam, nil
}

// WhoAmI names the account of the base credentials: from the credentials
// file when it says (a service account key, impersonated or federated
// credentials), else from Google's tokeninfo endpoint. The answer is
// memoised: at most one call per Provider.
func (p *Provider) WhoAmI(ctx context.Context) (providers.Principal, error) {
	const op = "find your Google account"
	p.mu.Lock()
	if p.who != nil {
		pr := clonePrincipal(*p.who)
		p.mu.Unlock()
		return pr, nil
	}
	p.mu.Unlock()
	p.mu.Lock()
	creds, err := p.credentialsLocked(ctx, op)
	p.mu.Unlock()
	if err != nil {
		return providers.Principal{}, err
	}
	var pr providers.Principal
	if email := accountFromJSON(creds.JSON()); email != "" {
		// The file names the account; no call needed (the first grant
		// will show whether the credentials work).
		pr = principal(email, TypeServiceAccount, SourceCredentials)
	} else {
		_, tok, err := p.token(ctx, op)
		if err != nil {
			return providers.Principal{}, err
		}
		email, err := p.tokenInfo(ctx, op, tok.Value)
		if err != nil {
			return providers.Principal{}, err
		}
		pr = principal(email, typeOfEmail(email), SourceTokenInfo)
	}
	p.mu.Lock()
	p.who = &pr
	p.mu.Unlock()
	return clonePrincipal(pr), nil
}

func clonePrincipal(p providers.Principal) providers.Principal {
	p.Aliases = append([]string(nil), p.Aliases...)
	p.Groups = append([]string(nil), p.Groups...)
	if p.Claims != nil {
		c := make(map[string]any, len(p.Claims))
		for k, v := range p.Claims {
			c[k] = v
		}
		p.Claims = c
	}
	return p
}

// googleAccount is the account a binding or grant is for: the request's
// principal when it came from Google credentials, else (a CI token, say)
// the base identity, which is what the session's tools will use.
func (p *Provider) googleAccount(ctx context.Context, pr providers.Principal) (email, typ string, err error) {
	if (pr.Source == SourceCredentials || pr.Source == SourceTokenInfo) && isEmail(pr.ID) {
		typ, _ := pr.Claims["type"].(string)
		if typ != TypeUser && typ != TypeServiceAccount {
			typ = typeOfEmail(pr.ID)
		}
		return pr.ID, typ, nil
	}
	who, err := p.WhoAmI(ctx)
	if err != nil {
		return "", "", err
	}
	typ, _ = who.Claims["type"].(string)
	return who.ID, typ, nil
}

// MaxDuration is the provider's own cap for a target (see
// gcpspec.MaxDuration).
func (p *Provider) MaxDuration(_ context.Context, t providers.Target, _ providers.Principal) (time.Duration, string) {
	spec, _ := t.Spec.(*TargetSpec)
	return gcpspec.MaxDuration(spec)
}

func targetSpec(t providers.Target) (*TargetSpec, error) {
	spec, ok := t.Spec.(*TargetSpec)
	if !ok || spec == nil {
		return nil, &providers.Error{Kind: providers.KindInvalid, Op: "grant " + t.Name,
			Err: fmt.Errorf("target %s has no gcp settings", t.Name), Hint: "add a gcp: section to the target"}
	}
	return spec, nil
}

// Grant creates the access the request describes, by the target's mode.
func (p *Provider) Grant(ctx context.Context, req providers.Request) (*providers.Grant, error) {
	spec, err := targetSpec(req.Target)
	if err != nil {
		return nil, err
	}
	op := "grant " + req.Target.Name
	if err := spec.Validate(); err != nil {
		return nil, invalid(op, err, "fix the target's gcp: section in the policy")
	}
	if req.ID == "" {
		return nil, invalid(op, errors.New("the request has no id"), "")
	}
	if req.Duration < time.Second {
		return nil, invalid(op, fmt.Errorf("duration %s is shorter than a second", req.Duration), "ask for a longer --for")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	switch spec.EffectiveMode() {
	case ModeImpersonate:
		return p.grantImpersonate(ctx, req, spec)
	case ModePAM:
		return p.grantPAM(ctx, req, spec)
	default:
		return p.grantBinding(ctx, req, spec)
	}
}

// Revoke ends a grant early, from jit's local record of it (its Refs): the
// binding is removed or the PAM grant revoked. Impersonated tokens cannot
// be revoked. Revoking what has already ended is not an error.
func (p *Provider) Revoke(ctx context.Context, g *providers.Grant) error {
	switch {
	case g.Refs["binding_title"] != "":
		return p.revokeBinding(ctx, g)
	case g.Refs["grant"] != "":
		return p.revokePAM(ctx, g)
	case g.Refs["service_account"] != "":
		return &providers.Error{Kind: providers.KindInvalid, Op: "revoke " + g.Target, Code: "NotRevocable",
			Err:  fmt.Errorf("Google cannot revoke an access token of %s; it stays valid until %s", g.Refs["service_account"], g.Refs["expire_time"]),
			Hint: "to stop further tokens, remove your roles/iam.serviceAccountTokenCreator on the service account or disable it"}
	}
	return &providers.Error{Kind: providers.KindInvalid, Op: "revoke " + g.Target, Err: errors.New("the grant record has no gcp references")}
}
