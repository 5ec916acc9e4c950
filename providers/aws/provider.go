// Package aws is jit's AWS provider: it signs in with the caller's base
// identity (the SDK's default chain or a named profile) and grants access by
// STS AssumeRole, delivering the temporary credentials as environment
// variables. STS credentials cannot be revoked; see RevokeNote.
package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/jitaccess/jit/providers"
)

// PrincipalSource is the Principal.Source of identities WhoAmI returns.
const PrincipalSource = "aws:sts:GetCallerIdentity"

// defaultSigningRegion signs STS calls when no region is configured at all:
// STS is reachable from every region and us-east-1 is its global home.
const defaultSigningRegion = "us-east-1"

// Options configure the provider.
type Options struct {
	// Profile is the shared-config profile of the base identity
	// (config providers.aws.profile); empty uses the SDK's default chain.
	Profile string
	// Region is the default region (providers.aws.region).
	Region string
	// Endpoint overrides the STS endpoint (providers.aws.endpoint). It wins
	// over AWS_ENDPOINT_URL_STS, which keeps working when this is empty.
	Endpoint string
	// HTTPClient is the client for every call; the SDK's default otherwise.
	// The SDK cannot apply AWS_CA_BUNDLE to a plain *http.Client, so New
	// fails when both are set: such a client must carry its own TLS roots.
	HTTPClient *http.Client
	// RetryMaxAttempts caps attempts per call (SDK default 3).
	RetryMaxAttempts int
	// RetryMaxBackoff caps the wait between attempts (SDK default 20s).
	RetryMaxBackoff time.Duration
	// Credentials replace the default credential chain (tests, `jit dev`).
	Credentials awssdk.CredentialsProvider
	// Now is the clock for NotBefore; time.Now when nil.
	Now func() time.Time
	// IdentityCacheDir, when set, remembers who each base access key
	// belongs to (see identity_cache.go), saving a GetCallerIdentity round
	// trip per elevation.
	IdentityCacheDir string
}

// Provider grants AWS access by AssumeRole. It is safe for concurrent use.
type Provider struct {
	cfg         awssdk.Config
	client      *sts.Client
	regionKnown bool
	profile     string
	now         func() time.Time
	cacheDir    string

	mu  sync.Mutex
	who *providers.Principal
}

var (
	_ providers.Provider = (*Provider)(nil)
	_ providers.WhoAmIer = (*Provider)(nil)
)

// New loads the SDK configuration once (profile, region, credentials chain,
// endpoint overrides) without making any call: credentials are resolved on
// first use.
func New(ctx context.Context, o Options) (*Provider, error) {
	var lo []func(*config.LoadOptions) error
	if o.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Region != "" {
		lo = append(lo, config.WithRegion(o.Region))
	}
	if o.HTTPClient != nil {
		lo = append(lo, config.WithHTTPClient(o.HTTPClient))
	}
	if o.Credentials != nil {
		lo = append(lo, config.WithCredentialsProvider(o.Credentials))
	}
	if o.RetryMaxAttempts > 0 || o.RetryMaxBackoff > 0 {
		lo = append(lo, config.WithRetryer(func() awssdk.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				if o.RetryMaxAttempts > 0 {
					so.MaxAttempts = o.RetryMaxAttempts
				}
				if o.RetryMaxBackoff > 0 {
					so.MaxBackoff = o.RetryMaxBackoff
				}
			})
		}))
	}
	p := &Provider{now: o.Now, profile: o.Profile, cacheDir: o.IdentityCacheDir}
	if p.now == nil {
		p.now = time.Now
	}
	if p.profile == "" {
		p.profile = os.Getenv("AWS_PROFILE")
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, p.configError(ctx, err)
	}
	p.regionKnown = cfg.Region != ""
	if !p.regionKnown {
		cfg.Region = defaultSigningRegion
	}
	p.cfg = cfg
	p.client = sts.NewFromConfig(cfg, func(so *sts.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = awssdk.String(o.Endpoint)
		}
	})
	return p, nil
}

func (p *Provider) configError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("load aws configuration: %w", ctx.Err())
	}
	var notExist config.SharedConfigProfileNotExistError
	if errors.As(err, &notExist) {
		return &providers.Error{Kind: providers.KindAuth, Op: "load aws configuration", Code: "ProfileNotFound", Err: err,
			Hint: fmt.Sprintf("the profile %q is not in your AWS config; create it (aws configure sso --profile %s) or fix providers.aws.profile", notExist.Profile, notExist.Profile)}
	}
	return &providers.Error{Kind: providers.KindInvalid, Op: "load aws configuration", Err: err,
		Hint: "check ~/.aws/config and the AWS_* variables"}
}

// Name is "aws".
func (p *Provider) Name() string { return ProviderName }

// Region is the provider's default region, or "" when none is configured
// (STS calls are then signed for us-east-1).
func (p *Provider) Region() string {
	if !p.regionKnown {
		return ""
	}
	return p.cfg.Region
}

// Endpoint is the STS endpoint override in effect (Options.Endpoint,
// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or the profile's endpoint_url), or
// "" for AWS's own endpoint. The CLI warns when it is set.
func (p *Provider) Endpoint() string {
	return awssdk.ToString(p.client.Options().BaseEndpoint)
}

// baseCredentials resolves the base credentials through the SDK's cache
// (the same cache the STS client signs with, so this adds no call) to tell
// "cannot sign in" apart from what AWS answers.
func (p *Provider) baseCredentials(ctx context.Context, op string) (awssdk.Credentials, error) {
	if p.cfg.Credentials == nil {
		return awssdk.Credentials{}, &providers.Error{Kind: providers.KindAuth, Op: op, Code: "NoCredentials",
			Err: errors.New("no AWS credentials found"), Hint: p.authHint("")}
	}
	c, err := p.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return c, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		if strings.Contains(err.Error(), "no EC2 IMDS role found") {
			// The chain fell through to instance metadata: nothing is
			// configured anywhere. Say that instead of the IMDS detail.
			err = errors.New("no AWS credentials found (looked at the AWS_* variables, ~/.aws/config and ~/.aws/credentials, SSO, web identity, the container endpoint and EC2 instance metadata)")
		} else {
			err = fmt.Errorf("load base credentials: %w", err)
		}
		return c, &providers.Error{Kind: providers.KindAuth, Op: op, Code: "NoCredentials", Err: err, Hint: p.authHint("")}
	}
	return c, nil
}

// WhoAmI asks STS GetCallerIdentity who the base credentials belong to. The
// answer is memoised: one call per Provider.
func (p *Provider) WhoAmI(ctx context.Context) (providers.Principal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.who != nil {
		return clonePrincipal(*p.who), nil
	}
	const op = "get caller identity"
	creds, err := p.baseCredentials(ctx, op)
	if err != nil {
		return providers.Principal{}, err
	}
	if e, ok := p.cachedIdentity(ctx, creds.AccessKeyID); ok {
		pr, err := principalFromIdentity(e.ARN, e.UserID, e.Account, e.Temporary)
		if err == nil {
			pr.Claims["cached"] = true
			p.who = &pr
			return clonePrincipal(pr), nil
		}
	}
	out, err := p.client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return providers.Principal{}, p.classify(ctx, op, err, nil, "")
	}
	pr, err := principalFromIdentity(awssdk.ToString(out.Arn), awssdk.ToString(out.UserId), awssdk.ToString(out.Account), creds.SessionToken != "")
	if err != nil {
		return providers.Principal{}, fmt.Errorf("%s: %w", op, err)
	}
	exp := p.now().Add(identityCacheMaxAge)
	if creds.CanExpire && creds.Expires.Before(exp) {
		exp = creds.Expires
	}
	p.storeIdentity(creds.AccessKeyID, identityEntry{ARN: awssdk.ToString(out.Arn), UserID: awssdk.ToString(out.UserId),
		Account: awssdk.ToString(out.Account), Temporary: creds.SessionToken != "", Expires: exp})
	p.who = &pr
	return clonePrincipal(pr), nil
}

func principalFromIdentity(arnStr, userID, account string, temporary bool) (providers.Principal, error) {
	c, err := ParseCallerARN(arnStr)
	if err != nil {
		return providers.Principal{}, fmt.Errorf("unexpected caller ARN %q: %w", arnStr, err)
	}
	if account == "" {
		account = c.Account
	}
	pr := providers.Principal{
		ID:      arnStr,
		Source:  PrincipalSource,
		Account: account,
		Claims: map[string]any{
			"account": account, "user_id": userID, "arn": arnStr, "type": c.Type,
			// Temporary base credentials (a role session, or a
			// GetSessionToken session of a user) make AssumeRole role
			// chaining, capped at 1h.
			"temporary": temporary,
		},
	}
	if c.Type == TypeAssumedRole {
		pr.Aliases = []string{c.Name, c.RoleARN()}
		pr.Claims["role"] = c.Role
		pr.Claims["session"] = c.Name
	}
	return pr, nil
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

// chainReason says why AssumeRole from this base identity is role chaining
// (capped at 1h), or "" when it is not.
func chainReason(base providers.Principal) string {
	c, err := ParseCallerARN(base.ID)
	if err != nil {
		return ""
	}
	if c.Type == TypeAssumedRole {
		return fmt.Sprintf("role chaining: your base identity %s is an assumed role, and AWS limits chained sessions to 1h", base.ID)
	}
	if temp, _ := base.Claims["temporary"].(bool); temp && c.Type == TypeUser {
		return fmt.Sprintf("role chaining: your base credentials for %s are a GetSessionToken session, and AWS limits roles assumed from them to 1h", base.ID)
	}
	return ""
}

// MaxDuration is the provider's own cap on a grant for this principal: 1h
// when AssumeRole would be role chaining, else AWS's 12h maximum (the
// role's MaxSessionDuration, unknown without IAM read access, may be
// lower). A principal that did not come from AWS (a CI token) is judged by
// the provider's base identity, found with one memoised call.
func (p *Provider) MaxDuration(ctx context.Context, t providers.Target, pr providers.Principal) (time.Duration, string) {
	base := pr
	if pr.Source != PrincipalSource {
		who, err := p.WhoAmI(ctx)
		if err != nil {
			return MaxSessionDuration, "AWS maximum session duration (base identity unknown: " + errCode(err) + ")"
		}
		base = who
	}
	if r := chainReason(base); r != "" {
		return ChainedSessionDuration, r
	}
	return MaxSessionDuration, "AWS maximum session duration (the role's MaxSessionDuration may be lower)"
}

func errCode(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) && pe.Code != "" {
		return pe.Code
	}
	return "lookup failed"
}

// Grant assumes the target's role for the request.
func (p *Provider) Grant(ctx context.Context, req providers.Request) (*providers.Grant, error) {
	spec, ok := req.Target.Spec.(*TargetSpec)
	if !ok || spec == nil {
		return nil, &providers.Error{Kind: providers.KindInvalid, Op: "grant " + req.Target.Name,
			Err: fmt.Errorf("target %s has no aws settings", req.Target.Name), Hint: "add an aws: section with role_arn to the target"}
	}
	op := "assume role " + spec.RoleARN
	invalid := func(err error, hint string) error {
		return &providers.Error{Kind: providers.KindInvalid, Op: op, Err: err, Hint: hint}
	}
	if err := spec.Validate(); err != nil {
		return nil, invalid(err, "fix the target's aws: section in the policy")
	}
	if req.ID == "" {
		return nil, invalid(errors.New("the request has no id"), "")
	}
	if req.Duration <= 0 {
		return nil, invalid(fmt.Errorf("duration %s is not positive", req.Duration), "ask for --for 15m or more")
	}
	// Round up: AWS takes whole seconds and must not end the session early.
	seconds := int64((req.Duration + time.Second - 1) / time.Second)
	if seconds < int64(MinSessionDuration/time.Second) {
		// Asking AWS for its 15m minimum would hand out credentials that
		// outlive the window the policy allowed; refuse instead.
		return nil, invalid(fmt.Errorf("duration %s is shorter than AWS's 15m minimum session", req.Duration), "ask for --for 15m or more")
	}
	if seconds > int64(MaxSessionDuration/time.Second) {
		return nil, invalid(fmt.Errorf("duration %s exceeds AWS's 12h maximum", req.Duration), "ask for --for 12h or less")
	}

	// The base identity decides role chaining. The elevation service has
	// usually resolved it already through WhoAmI.
	base := req.Principal
	if base.Source != PrincipalSource {
		who, err := p.WhoAmI(ctx)
		if err != nil {
			return nil, err
		}
		base = who
	}
	if r := chainReason(base); r != "" && seconds > int64(ChainedSessionDuration/time.Second) {
		return nil, invalid(fmt.Errorf("%s is longer than 1h: %s", req.Duration, r), "ask for --for 1h or less")
	}

	in := &sts.AssumeRoleInput{
		RoleArn:         awssdk.String(spec.RoleARN),
		RoleSessionName: awssdk.String(RoleSessionName(req.ID)),
		DurationSeconds: awssdk.Int32(int32(seconds)),
	}
	if spec.SessionPolicy != "" {
		in.Policy = awssdk.String(spec.SessionPolicy)
	}
	for _, a := range spec.PolicyARNs {
		in.PolicyArns = append(in.PolicyArns, ststypes.PolicyDescriptorType{Arn: awssdk.String(a)})
	}
	if spec.ExternalID != "" {
		in.ExternalId = awssdk.String(spec.ExternalID)
	}
	if spec.SourceIdentity {
		si, err := SourceIdentityFor(humanName(req.Principal))
		if err != nil {
			return nil, invalid(fmt.Errorf("source identity for %s: %w", req.Principal.ID, err), "turn off source_identity for this target")
		}
		in.SourceIdentity = awssdk.String(si)
	}
	if spec.SessionTags {
		in.Tags = append(in.Tags, ststypes.Tag{Key: awssdk.String("jit-request-id"), Value: awssdk.String(sanitizeTagValue(req.ID))})
		if t := sanitizeTagValue(req.Ticket); t != "" {
			in.Tags = append(in.Tags, ststypes.Tag{Key: awssdk.String("ticket"), Value: awssdk.String(t)})
		}
	}

	if _, err := p.baseCredentials(ctx, op); err != nil {
		return nil, err
	}
	notBefore := p.now().UTC()
	out, err := p.client.AssumeRole(ctx, in)
	if err != nil {
		return nil, p.classify(ctx, op, err, spec, trustName(base))
	}
	if out.Credentials == nil || out.Credentials.Expiration == nil || out.AssumedRoleUser == nil {
		return nil, &providers.Error{Kind: providers.KindUnknown, Op: op, Err: errors.New("STS answered without credentials")}
	}
	return p.grant(req, spec, out, notBefore), nil
}

// humanName is the person behind a principal: the session name of an
// assumed role (the SSO e-mail), the user name, or the id itself (an e-mail
// from an OIDC token).
func humanName(pr providers.Principal) string {
	if c, err := ParseCallerARN(pr.ID); err == nil {
		if c.Type == TypeRoot {
			return "root"
		}
		return c.Name
	}
	return pr.ID
}

// trustName is how a trust policy names the base identity: the role, not
// the session, for an assumed role.
func trustName(base providers.Principal) string {
	if c, err := ParseCallerARN(base.ID); err == nil && c.Type == TypeAssumedRole {
		return c.RoleARN()
	}
	return base.ID
}

func (p *Provider) grant(req providers.Request, spec *TargetSpec, out *sts.AssumeRoleOutput, notBefore time.Time) *providers.Grant {
	c := out.Credentials
	expires := c.Expiration.UTC()
	region := spec.Region
	if region == "" {
		region = p.Region()
	}
	env := []providers.EnvVar{
		{Name: "AWS_ACCESS_KEY_ID", Value: awssdk.ToString(c.AccessKeyId)},
		{Name: "AWS_SECRET_ACCESS_KEY", Value: awssdk.ToString(c.SecretAccessKey), Secret: true},
		{Name: "AWS_SESSION_TOKEN", Value: awssdk.ToString(c.SessionToken), Secret: true},
		{Name: "AWS_CREDENTIAL_EXPIRATION", Value: expires.Format(time.RFC3339)},
	}
	if region != "" {
		env = append(env, providers.EnvVar{Name: "AWS_REGION", Value: region}, providers.EnvVar{Name: "AWS_DEFAULT_REGION", Value: region})
	}
	refs := map[string]string{
		"access_key_id":     awssdk.ToString(c.AccessKeyId),
		"assumed_role_arn":  awssdk.ToString(out.AssumedRoleUser.Arn),
		"assumed_role_id":   awssdk.ToString(out.AssumedRoleUser.AssumedRoleId),
		"role_session_name": RoleSessionName(req.ID),
	}
	if si := awssdk.ToString(out.SourceIdentity); si != "" {
		refs["source_identity"] = si
	}
	return &providers.Grant{
		RequestID: req.ID,
		Target:    req.Target.Name,
		Provider:  ProviderName,
		Principal: req.Principal.ID,
		NotBefore: notBefore,
		NotAfter:  expires,
		Refs:      refs,
		Env:       env,
		Unset:     shadowingVars(),
		Revocable: false,
		RevokeNote: fmt.Sprintf("AWS cannot revoke these credentials: they stay valid until %s (leaving the jit session drops them from your shell, not copies); "+
			"to cut them off earlier, an IAM administrator must deny aws:userid %s on %s.",
			expires.Format(time.RFC3339), refs["assumed_role_id"], spec.RoleARN),
	}
}

// shadowingVars would make tools in the session use other credentials
// than the grant's. AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE stay:
// every SDK and the CLI read the environment keys before any file, and only
// a selected profile (AWS_PROFILE, removed here) outranks them.
func shadowingVars() []string {
	return []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_SECURITY_TOKEN", "AWS_SESSION_EXPIRATION",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	}
}
