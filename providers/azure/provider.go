// Package azure is jit's Azure provider: Privileged Identity Management
// (PIM) for Azure resource roles through Azure Resource Manager. A grant
// self-activates the caller's eligible role assignment for the requested
// time (a RoleAssignmentScheduleRequest of type SelfActivate); revoking
// deactivates it, or cancels a request still awaiting approval. PIM changes
// the user's own role assignment, so nothing secret is handed out: az,
// terraform and the SDKs keep using the user's own sign-in.
//
// jit signs in with azidentity's default chain (environment, workload
// identity, managed identity, Azure CLI, …) unless a credential is given,
// and reads who the caller is from the ARM access token itself.
package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/jitaccess/jit/providers"

	"github.com/jitaccess/jit/internal/loopback"
)

// PortalActivationsURL is where PIM shows the caller's requests and
// activations for Azure resources.
const PortalActivationsURL = "https://portal.azure.com/#view/Microsoft_Azure_PIMCommon/ActivationMenuBlade/~/azurerbac"

// Refs keys of grants and pending requests.
const (
	RefScope                 = "scope"
	RefRoleDefinitionID      = "role_definition_id"
	RefRole                  = "role"
	RefPrincipalID           = "principal_id"
	RefRequestName           = "request_name"
	RefEligibilityScheduleID = "eligibility_schedule_id"
	RefApprovalID            = "approval_id"
	RefStatus                = "status"
	// RefReused is "true" when the role was already active and jit
	// reported that activation instead of creating one.
	RefReused = "reused_activation"
)

// Options configure the provider.
type Options struct {
	// Credential signs jit in; azidentity's DefaultAzureCredential (built
	// on first use) when nil. Tests inject one so that nothing reaches for
	// the Azure CLI or the instance metadata service.
	Credential azcore.TokenCredential
	// Cloud picks a national cloud: "" or "AzurePublic", "AzureChina",
	// "AzureGovernment".
	Cloud string
	// Endpoint overrides the Azure Resource Manager URL (https only).
	Endpoint string
	// Audience is the ARM token audience; the cloud's when empty.
	Audience string
	// AuthorityHost overrides the Entra ID authority (https only) of the
	// default credential; AZURE_AUTHORITY_HOST works too. Instance
	// discovery, which would call login.microsoftonline.com, is turned off
	// for a loopback authority.
	AuthorityHost string
	// TenantID is the tenant of the default credential (Azure CLI and
	// workload identity); their own default when empty.
	TenantID string
	// HTTPClient carries every call (ARM and, for the default credential,
	// Entra ID); http.DefaultClient's transport otherwise.
	HTTPClient *http.Client
	// CACertPEM adds certificate authorities to the system's for ARM and
	// Entra ID (the `jit dev` fake's). New fails when HTTPClient is set
	// too: such a client must carry its own roots.
	CACertPEM []byte
	// Retry tunes azcore's retries (3 retries, 800ms base by default;
	// Retry-After is honoured). MaxRetries -1 disables them.
	Retry policy.RetryOptions
	// PollTimeout bounds how long Grant waits for a request PIM is still
	// provisioning (not one awaiting approval); default 20s.
	PollTimeout time.Duration
	// PollInterval is the wait between those polls; default 1s.
	PollInterval time.Duration
	// Now is the clock for schedules and NotBefore; time.Now when nil.
	Now func() time.Time
}

// Provider grants Azure roles through PIM. It is safe for concurrent use.
type Provider struct {
	tokens      *tokenSource
	arm         *arm.Client
	requests    *armauthorization.RoleAssignmentScheduleRequestsClient
	eligibility *armauthorization.RoleEligibilityScheduleInstancesClient
	instances   *armauthorization.RoleAssignmentScheduleInstancesClient
	endpoint    string
	custom      bool
	audience    string
	now         func() time.Time
	pollTimeout time.Duration
	pollEvery   time.Duration

	mu        sync.Mutex
	claims    *TokenClaims
	eligible  map[string][]*armauthorization.RoleEligibilityScheduleInstance
	policyMax map[string]time.Duration
}

var (
	_ providers.Provider          = (*Provider)(nil)
	_ providers.WhoAmIer          = (*Provider)(nil)
	_ providers.Revoker           = (*Provider)(nil)
	_ providers.EligibilityLister = (*Provider)(nil)
)

// New builds the clients without any network I/O: the credential is
// created and asked for a token on first use.
func New(o Options) (*Provider, error) {
	cfg, err := cloudConfig(o.Cloud)
	if err != nil {
		return nil, err
	}
	rm := cfg.Services[cloud.ResourceManager]
	p := &Provider{endpoint: rm.Endpoint, audience: rm.Audience, now: o.Now,
		pollTimeout: o.PollTimeout, pollEvery: o.PollInterval}
	if o.Endpoint != "" {
		if err := checkHTTPS("endpoint", o.Endpoint); err != nil {
			return nil, err
		}
		p.endpoint, p.custom = strings.TrimSuffix(o.Endpoint, "/"), true
	}
	if o.Audience != "" {
		p.audience = o.Audience
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.pollTimeout <= 0 {
		p.pollTimeout = 20 * time.Second
	}
	if p.pollEvery <= 0 {
		p.pollEvery = time.Second
	}
	authority := o.AuthorityHost
	if authority != "" {
		if err := checkHTTPS("authority host", authority); err != nil {
			return nil, err
		}
	}
	var transport policy.Transporter
	switch {
	case o.HTTPClient != nil && len(o.CACertPEM) > 0:
		return nil, errors.New("azure: set either an HTTP client or extra CA certificates, not both")
	case o.HTTPClient != nil:
		transport = o.HTTPClient
	case len(o.CACertPEM) > 0:
		c, err := clientWithCAs(o.CACertPEM)
		if err != nil {
			return nil, err
		}
		transport = c
	}

	cred := o.Credential
	build := func() (azcore.TokenCredential, error) { return cred, nil }
	if cred == nil {
		build = func() (azcore.TokenCredential, error) {
			return defaultCredential(cfg, authority, o.TenantID, transport, o.Retry)
		}
	}
	p.tokens = &tokenSource{build: build, cache: map[string]azcore.AccessToken{}}

	armCloud := cloud.Configuration{
		ActiveDirectoryAuthorityHost: cfg.ActiveDirectoryAuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: p.endpoint, Audience: p.audience},
		},
	}
	co := &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{Cloud: armCloud, Retry: o.Retry, Transport: transport},
		// jit never creates resources: registering resource providers on
		// a subscription is not its business.
		DisableRPRegistration: true,
	}
	if p.requests, err = armauthorization.NewRoleAssignmentScheduleRequestsClient(p.tokens, co); err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	if p.eligibility, err = armauthorization.NewRoleEligibilityScheduleInstancesClient(p.tokens, co); err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	if p.instances, err = armauthorization.NewRoleAssignmentScheduleInstancesClient(p.tokens, co); err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	if p.arm, err = arm.NewClient("jit.azure", "v1.0.0", p.tokens, co); err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return p, nil
}

func cloudConfig(name string) (cloud.Configuration, error) {
	switch strings.ToLower(name) {
	case "", "azurepublic", "azurecloud", "public":
		return cloud.AzurePublic, nil
	case "azurechina", "azurechinacloud", "china":
		return cloud.AzureChina, nil
	case "azuregovernment", "azureusgovernment", "usgovernment":
		return cloud.AzureGovernment, nil
	}
	return cloud.Configuration{}, fmt.Errorf("azure: unknown cloud %q (want AzurePublic, AzureChina or AzureGovernment)", name)
}

// checkHTTPS refuses plain http: azcore will not send a bearer token over
// it, and neither should jit.
func checkHTTPS(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("azure: %s %q is not a URL", what, s)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("azure: %s %q must be https (bearer tokens are never sent in the clear)", what, s)
	}
	return nil
}

func clientWithCAs(pemData []byte) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errors.New("azure: the extra CA certificates hold no PEM certificate")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// defaultCredential builds azidentity's default chain with jit's cloud,
// authority and transport.
func defaultCredential(cfg cloud.Configuration, authority, tenant string, transport policy.Transporter, retry policy.RetryOptions) (azcore.TokenCredential, error) {
	if authority == "" {
		authority = os.Getenv("AZURE_AUTHORITY_HOST")
	}
	co := azcore.ClientOptions{Transport: transport, Retry: retry}
	if authority != "" {
		co.Cloud.ActiveDirectoryAuthorityHost = authority
	} else if cfg.ActiveDirectoryAuthorityHost != cloud.AzurePublic.ActiveDirectoryAuthorityHost {
		co.Cloud.ActiveDirectoryAuthorityHost = cfg.ActiveDirectoryAuthorityHost
	}
	c, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: co,
		TenantID:      tenant,
		// Instance discovery asks login.microsoftonline.com about the
		// authority; a loopback authority (jit dev's fake Entra ID) is
		// nothing it knows, and the call would leave the machine.
		DisableInstanceDiscovery: loopback.URL(authority),
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Name is "azure".
func (p *Provider) Name() string { return ProviderName }

// Endpoint is the ARM endpoint override in effect, or "" for the cloud's
// own. The CLI warns when it is set.
func (p *Provider) Endpoint() string {
	if p.custom {
		return p.endpoint
	}
	return ""
}

func (p *Provider) tokenScopes() []string { return []string{p.audience + "/.default"} }

// WhoAmI reads the caller from the claims of an ARM access token (oid,
// upn, tid), without a Microsoft Graph call. The answer is memoised.
func (p *Provider) WhoAmI(ctx context.Context) (providers.Principal, error) {
	c, err := p.caller(ctx, "get caller identity")
	if err != nil {
		return providers.Principal{}, err
	}
	return c.Principal(), nil
}

func (p *Provider) caller(ctx context.Context, op string) (TokenClaims, error) {
	if err := ctx.Err(); err != nil {
		return TokenClaims{}, fmt.Errorf("%s: %w", op, err)
	}
	p.mu.Lock()
	if p.claims != nil {
		c := *p.claims
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	// The same options as the ARM pipeline's, so that both share one
	// token from the cache.
	tok, err := p.tokens.GetToken(ctx, policy.TokenRequestOptions{Scopes: p.tokenScopes(), EnableCAE: true})
	if err != nil {
		return TokenClaims{}, p.classify(ctx, op, err)
	}
	c, err := ParseTokenClaims(tok.Token)
	if err != nil {
		return TokenClaims{}, &providers.Error{Kind: providers.KindAuth, Op: op, Code: "UnreadableToken", Err: err,
			Hint: "the credential did not return an Entra ID access token; sign in with az login"}
	}
	p.mu.Lock()
	p.claims = &c
	p.mu.Unlock()
	return c, nil
}

// listEligible lists the caller's eligibility instances at scope ("" for
// the whole tenant), memoised per scope for the provider's lifetime (one
// jit command).
func (p *Provider) listEligible(ctx context.Context, scope string) ([]*armauthorization.RoleEligibilityScheduleInstance, error) {
	key := strings.ToLower(scope)
	p.mu.Lock()
	if l, ok := p.eligible[key]; ok {
		p.mu.Unlock()
		return l, nil
	}
	p.mu.Unlock()
	var out []*armauthorization.RoleEligibilityScheduleInstance
	pager := p.eligibility.NewListForScopePager(strings.TrimPrefix(scope, "/"),
		&armauthorization.RoleEligibilityScheduleInstancesClientListForScopeOptions{Filter: to.Ptr("asTarget()")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range page.Value {
			if v != nil && v.Properties != nil {
				out = append(out, v)
			}
		}
	}
	p.mu.Lock()
	if p.eligible == nil {
		p.eligible = map[string][]*armauthorization.RoleEligibilityScheduleInstance{}
	}
	p.eligible[key] = out
	p.mu.Unlock()
	return out, nil
}

// eligibility is the caller's eligibility a target names.
type eligibility struct {
	roleDefinitionID string
	roleName         string
	scheduleID       string
}

// findEligibility finds the caller's eligibility for the target's role at
// its scope. Not finding one is KindDenied, with what the caller is
// eligible for elsewhere when that explains it.
func (p *Provider) findEligibility(ctx context.Context, op string, spec *TargetSpec) (eligibility, error) {
	list, err := p.listEligible(ctx, spec.Scope)
	if err != nil {
		return eligibility{}, p.classify(ctx, op, err)
	}
	var wantGUID string
	if spec.RoleDefinitionID != "" {
		wantGUID, _ = RoleDefinitionGUID(spec.RoleDefinitionID)
	}
	var elsewhere []string
	for _, it := range list {
		pr := it.Properties
		name := roleDisplayName(pr.ExpandedProperties)
		guid, _ := RoleDefinitionGUID(str(pr.RoleDefinitionID))
		if wantGUID != "" && guid != wantGUID || wantGUID == "" && !strings.EqualFold(name, spec.Role) {
			continue
		}
		if pr.Status != nil && *pr.Status != armauthorization.StatusProvisioned {
			continue
		}
		if !sameScope(str(pr.Scope), spec.Scope) {
			elsewhere = append(elsewhere, str(pr.Scope))
			continue
		}
		e := eligibility{roleDefinitionID: str(pr.RoleDefinitionID), roleName: name, scheduleID: str(pr.RoleEligibilityScheduleID)}
		if e.roleName == "" {
			e.roleName = spec.roleLabel()
		}
		return e, nil
	}
	hint := fmt.Sprintf("you are not eligible for %s at %s; ask for a PIM eligible assignment of that role at that scope", spec.roleLabel(), spec.Scope)
	if len(elsewhere) > 0 {
		sort.Strings(elsewhere)
		hint = fmt.Sprintf("you are eligible for %s at %s, not at %s; set the target's scope to that, or ask for an eligible assignment at %s",
			spec.roleLabel(), elsewhere[0], spec.Scope, spec.Scope)
	}
	return eligibility{}, &providers.Error{Kind: providers.KindDenied, Op: op, Code: "NotEligible", Hint: hint,
		Err: fmt.Errorf("no PIM eligibility for %s at %s", spec.roleLabel(), spec.Scope)}
}

func roleDisplayName(x *armauthorization.ExpandedProperties) string {
	if x == nil || x.RoleDefinition == nil {
		return ""
	}
	return str(x.RoleDefinition.DisplayName)
}

func targetSpec(t providers.Target) (*TargetSpec, error) {
	spec, ok := t.Spec.(*TargetSpec)
	if !ok || spec == nil {
		return nil, &providers.Error{Kind: providers.KindInvalid, Op: "grant " + t.Name,
			Err: fmt.Errorf("target %s has no azure settings", t.Name), Hint: "add an azure: section with scope and role to the target"}
	}
	return spec, nil
}

// maxJustification bounds the justification jit sends (PIM's portal
// takes 500 characters; the API's limit is not documented).
const maxJustification = 500

// justification is the reason, the ticket and the jit request id, which
// ties PIM's audit history to jit's journal.
func justification(req providers.Request) string {
	suffix := " [jit " + req.ID + "]"
	if req.Ticket != "" {
		suffix = " (ticket " + req.Ticket + ")" + suffix
	}
	reason := strings.Join(strings.Fields(req.Reason), " ")
	if room := maxJustification - len([]rune(suffix)); len([]rune(reason)) > room {
		if room < 0 {
			room = 0
		}
		reason = string([]rune(reason)[:room])
	}
	return strings.TrimSpace(reason + suffix)
}

// Grant self-activates the caller's eligible role at the target's scope
// for the request's duration.
func (p *Provider) Grant(ctx context.Context, req providers.Request) (*providers.Grant, error) {
	spec, err := targetSpec(req.Target)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("activate %s at %s", spec.roleLabel(), spec.Scope)
	invalid := func(err error, hint string) error {
		return &providers.Error{Kind: providers.KindInvalid, Op: op, Err: err, Hint: hint}
	}
	if err := spec.Validate(); err != nil {
		return nil, invalid(err, "fix the target's azure: section in the policy")
	}
	if req.ID == "" {
		return nil, invalid(errors.New("the request has no id"), "")
	}
	dur, err := FormatISODuration(req.Duration)
	if err != nil {
		return nil, invalid(err, "ask for a longer --for")
	}
	who, err := p.caller(ctx, op)
	if err != nil {
		return nil, err
	}
	elig, err := p.findEligibility(ctx, op, spec)
	if err != nil {
		return nil, err
	}
	start := p.now().UTC().Truncate(time.Second)
	// NotAfter follows from what was sent: the duration as formatted
	// (whole seconds, never more than asked) from the start jit chose.
	length, _ := ParseISODuration(dur)
	notAfter := start.Add(length)
	name := ActivationName(req.ID)
	props := &armauthorization.RoleAssignmentScheduleRequestProperties{
		RequestType:                     to.Ptr(armauthorization.RequestTypeSelfActivate),
		PrincipalID:                     to.Ptr(who.OID),
		RoleDefinitionID:                to.Ptr(elig.roleDefinitionID),
		Justification:                   to.Ptr(justification(req)),
		LinkedRoleEligibilityScheduleID: nilIfEmpty(elig.scheduleID),
		ScheduleInfo: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfo{
			StartDateTime: to.Ptr(start),
			Expiration: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration{
				Type: to.Ptr(armauthorization.TypeAfterDuration), Duration: to.Ptr(dur),
			},
		},
	}
	if req.Ticket != "" {
		props.TicketInfo = &armauthorization.RoleAssignmentScheduleRequestPropertiesTicketInfo{
			TicketNumber: to.Ptr(req.Ticket), TicketSystem: nilIfEmpty(spec.TicketSystem),
		}
	}
	refs := map[string]string{
		RefScope: spec.Scope, RefRoleDefinitionID: elig.roleDefinitionID, RefRole: elig.roleName,
		RefPrincipalID: who.OID, RefRequestName: name,
	}
	if elig.scheduleID != "" {
		refs[RefEligibilityScheduleID] = elig.scheduleID
	}
	resp, err := p.requests.Create(ctx, strings.TrimPrefix(spec.Scope, "/"), name,
		armauthorization.RoleAssignmentScheduleRequest{Properties: props}, nil)
	if err != nil {
		return p.grantFailed(ctx, op, err, req, spec, elig, who, refs, notAfter)
	}
	out := resp.RoleAssignmentScheduleRequest
	status := requestStatus(out.Properties)
	if isProvisioning(status) {
		if status, err = p.awaitProvisioning(ctx, op, spec.Scope, name); err != nil {
			return nil, err
		}
	}
	refs[RefStatus] = status
	switch {
	case isGranted(status):
		return p.grant(req, spec, refs, start, notAfter), nil
	case isAwaitingApproval(status):
		if out.Properties != nil && out.Properties.ApprovalID != nil {
			refs[RefApprovalID] = *out.Properties.ApprovalID
		}
		return nil, pendingError(op, spec, refs)
	}
	return nil, &providers.Error{Kind: kindOfFailedStatus(status), Op: op, Code: status, Refs: refs,
		Err:  fmt.Errorf("PIM answered the activation request %s with status %s", name, status),
		Hint: failedStatusHint(status)}
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func pendingError(op string, spec *TargetSpec, refs map[string]string) error {
	return &providers.Error{Kind: providers.KindPending, Op: op, Code: refs[RefStatus], Refs: refs,
		Err: fmt.Errorf("PIM request %s awaits approval", refs[RefRequestName]),
		Hint: fmt.Sprintf("an approver must approve %s at %s; follow the request at %s — jit does not wait: run the same jit command again once it is approved, or jit revoke to withdraw it",
			spec.roleLabel(), spec.Scope, PortalActivationsURL)}
}

func (p *Provider) grant(req providers.Request, spec *TargetSpec, refs map[string]string, start, notAfter time.Time) *providers.Grant {
	var env []providers.EnvVar
	if sub := spec.SubscriptionID(); sub != "" {
		// Not secret: PIM changed the user's own role assignment, and
		// these only select the subscription tools work in.
		env = []providers.EnvVar{{Name: "AZURE_SUBSCRIPTION_ID", Value: sub}, {Name: "ARM_SUBSCRIPTION_ID", Value: sub}}
	}
	return &providers.Grant{
		RequestID: req.ID,
		Target:    req.Target.Name,
		Provider:  ProviderName,
		Principal: req.Principal.ID,
		NotBefore: start,
		NotAfter:  notAfter,
		Refs:      refs,
		Env:       env,
		Revocable: true,
		RevokeNote: fmt.Sprintf("jit revoke deactivates %s at %s (not before %s: Azure refuses deactivation in the first 5 minutes); "+
			"otherwise PIM ends it at %s. Your own sign-in stays valid; only the role goes, once Azure RBAC catches up (minutes).",
			refs[RefRole], spec.Scope, start.Add(MinActiveDuration).Format(time.RFC3339), notAfter.Format(time.RFC3339)),
	}
}

// grantFailed turns a failed activation into the error the user needs,
// or into a grant when the role is already active within the window.
func (p *Provider) grantFailed(ctx context.Context, op string, err error, req providers.Request, spec *TargetSpec,
	elig eligibility, who TokenClaims, refs map[string]string, windowEnd time.Time) (*providers.Grant, error) {
	e := p.classify(ctx, op, err)
	var pe *providers.Error
	if !errors.As(e, &pe) {
		return nil, e
	}
	switch pe.Code {
	case "RoleAssignmentExists":
		return p.alreadyActive(ctx, op, pe, req, spec, elig, who, refs, windowEnd)
	case "RoleAssignmentRequestPolicyValidationFailed":
		p.explainPolicyFailure(ctx, pe, spec, elig)
	}
	return nil, pe
}

// alreadyActive handles RoleAssignmentExists. Either jit's own request
// (the same name, retried) or an earlier activation holds the role: the
// grant is reported when it ends inside the requested window, since jit
// can then say honestly when it ends.
func (p *Provider) alreadyActive(ctx context.Context, op string, cause *providers.Error, req providers.Request, spec *TargetSpec,
	elig eligibility, who TokenClaims, refs map[string]string, windowEnd time.Time) (*providers.Grant, error) {
	act, err := p.activeAssignment(ctx, spec.Scope, elig.roleDefinitionID, who.OID)
	if err != nil {
		return nil, p.classify(ctx, op, err)
	}
	if act == nil {
		return nil, cause
	}
	if act.permanent {
		return nil, &providers.Error{Kind: providers.KindConflict, Op: op, Code: "RoleAssignmentExists", Err: cause.Err,
			Hint: fmt.Sprintf("you already hold %s at %s permanently (an active assignment, not a PIM activation); there is nothing to elevate", elig.roleName, spec.Scope)}
	}
	if act.end.After(windowEnd.Add(time.Second)) {
		return nil, &providers.Error{Kind: providers.KindConflict, Op: op, Code: "RoleAssignmentExists", Err: cause.Err,
			Hint: fmt.Sprintf("%s is already active at %s until %s, longer than the %s asked for; jit cannot shorten it — use it as it is, or deactivate it first (jit revoke, or the portal: %s)",
				elig.roleName, spec.Scope, act.end.UTC().Format(time.RFC3339), humanDuration(req.Duration), PortalActivationsURL)}
	}
	refs[RefReused] = "true"
	delete(refs, RefRequestName) // PIM refused that request; the activation is an earlier one
	refs[RefStatus] = string(armauthorization.StatusProvisioned)
	start := act.start
	if start.IsZero() {
		start = p.now().UTC()
	}
	g := p.grant(req, spec, refs, start, act.end.UTC())
	return g, nil
}

type activeAssignment struct {
	start, end time.Time
	permanent  bool
}

// activeAssignment finds the caller's active assignment of a role at a
// scope: a PIM activation with its end, or a permanent assignment.
func (p *Provider) activeAssignment(ctx context.Context, scope, roleDefinitionID, oid string) (*activeAssignment, error) {
	want, _ := RoleDefinitionGUID(roleDefinitionID)
	pager := p.instances.NewListForScopePager(strings.TrimPrefix(scope, "/"),
		&armauthorization.RoleAssignmentScheduleInstancesClientListForScopeOptions{Filter: to.Ptr("asTarget()")})
	var found *activeAssignment
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Value {
			if it == nil || it.Properties == nil {
				continue
			}
			pr := it.Properties
			if g, _ := RoleDefinitionGUID(str(pr.RoleDefinitionID)); g != want || !sameScope(str(pr.Scope), scope) {
				continue
			}
			if id := str(pr.PrincipalID); id != "" && !strings.EqualFold(id, oid) && (pr.MemberType == nil || *pr.MemberType == armauthorization.MemberTypeDirect) {
				continue
			}
			a := &activeAssignment{}
			if pr.StartDateTime != nil {
				a.start = *pr.StartDateTime
			}
			if pr.AssignmentType != nil && *pr.AssignmentType == armauthorization.AssignmentTypeActivated && pr.EndDateTime != nil {
				a.end = *pr.EndDateTime
			} else {
				a.permanent = pr.EndDateTime == nil
				if !a.permanent {
					a.end = *pr.EndDateTime
				}
			}
			// Prefer the activation (it is what jit can report) over a
			// permanent assignment, and the one ending last otherwise.
			if found == nil || found.permanent && !a.permanent || !a.permanent && a.end.After(found.end) {
				found = a
			}
		}
	}
	return found, nil
}

// awaitProvisioning polls a request PIM is still working on (not one
// that waits for a person) until it settles or the poll timeout passes.
func (p *Provider) awaitProvisioning(ctx context.Context, op, scope, name string) (string, error) {
	deadline := time.Now().Add(p.pollTimeout)
	for {
		t := time.NewTimer(p.pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("%s: %w", op, ctx.Err())
		case <-t.C:
		}
		resp, err := p.requests.Get(ctx, strings.TrimPrefix(scope, "/"), name, nil)
		if err != nil {
			return "", p.classify(ctx, op, err)
		}
		status := requestStatus(resp.Properties)
		if !isProvisioning(status) {
			return status, nil
		}
		if time.Now().After(deadline) {
			return "", &providers.Error{Kind: providers.KindTransient, Op: op, Code: status,
				Err:  fmt.Errorf("PIM request %s is still %s after %s", name, status, p.pollTimeout),
				Hint: "PIM is slow to provision; see " + PortalActivationsURL + " and retry the same command in a minute"}
		}
	}
}

func requestStatus(pr *armauthorization.RoleAssignmentScheduleRequestProperties) string {
	if pr == nil || pr.Status == nil {
		return ""
	}
	return string(*pr.Status)
}

func isGranted(s string) bool {
	switch armauthorization.Status(s) {
	case armauthorization.StatusProvisioned, armauthorization.StatusGranted, armauthorization.StatusScheduleCreated, armauthorization.StatusAccepted:
		return true
	}
	return false
}

// isAwaitingApproval: a person has to decide.
func isAwaitingApproval(s string) bool {
	switch armauthorization.Status(s) {
	case armauthorization.StatusPendingApproval, armauthorization.StatusPendingApprovalProvisioning, armauthorization.StatusPendingAdminDecision:
		return true
	}
	return false
}

// isProvisioning: PIM itself is still working; it settles in seconds.
func isProvisioning(s string) bool {
	switch armauthorization.Status(s) {
	case armauthorization.StatusPendingProvisioning, armauthorization.StatusPendingEvaluation,
		armauthorization.StatusPendingScheduleCreation, armauthorization.StatusPendingExternalProvisioning:
		return true
	}
	return false
}

func kindOfFailedStatus(s string) providers.Kind {
	switch armauthorization.Status(s) {
	case armauthorization.StatusDenied, armauthorization.StatusAdminDenied:
		return providers.KindDenied
	case armauthorization.StatusTimedOut:
		return providers.KindTransient
	case armauthorization.StatusInvalid:
		return providers.KindInvalid
	case armauthorization.StatusFailedAsResourceIsLocked:
		return providers.KindConflict
	}
	return providers.KindUnknown
}

func failedStatusHint(s string) string {
	switch armauthorization.Status(s) {
	case armauthorization.StatusDenied, armauthorization.StatusAdminDenied:
		return "the activation was denied; see the request in PIM: " + PortalActivationsURL
	case armauthorization.StatusFailedAsResourceIsLocked:
		return "the scope has a resource lock that blocks role assignments; ask its owner"
	case armauthorization.StatusTimedOut:
		return "PIM timed out; retry"
	}
	return "see the request in PIM: " + PortalActivationsURL
}

// RequestStatus is PIM's status of the request a grant or pending error
// refers to (Refs request_name and scope): PendingApproval, Provisioned,
// Denied, Canceled, …, for following a pending request.
func (p *Provider) RequestStatus(ctx context.Context, refs map[string]string) (string, error) {
	name, scope := refs[RefRequestName], refs[RefScope]
	op := "get PIM request " + name
	if name == "" || scope == "" {
		return "", &providers.Error{Kind: providers.KindInvalid, Op: op, Err: errors.New("the record names no PIM request (request_name and scope)")}
	}
	resp, err := p.requests.Get(ctx, strings.TrimPrefix(scope, "/"), name, nil)
	if err != nil {
		return "", p.classify(ctx, op, err)
	}
	return requestStatus(resp.Properties), nil
}

// Revoke ends a grant early: it cancels the PIM request while it awaits
// approval, and otherwise deactivates the role (SelfDeactivate). A grant
// that has already ended is not an error.
func (p *Provider) Revoke(ctx context.Context, g *providers.Grant) error {
	scope, roleID, oid := g.Refs[RefScope], g.Refs[RefRoleDefinitionID], g.Refs[RefPrincipalID]
	role := g.Refs[RefRole]
	if role == "" {
		role = roleID
	}
	op := fmt.Sprintf("deactivate %s at %s", role, scope)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if scope == "" || roleID == "" || oid == "" {
		return &providers.Error{Kind: providers.KindInvalid, Op: op,
			Err:  errors.New("the grant's record lacks scope, role_definition_id or principal_id"),
			Hint: "deactivate it in the portal: " + PortalActivationsURL}
	}
	now := p.now()
	if !g.NotAfter.IsZero() && !now.Before(g.NotAfter) {
		// PIM has ended it; a deactivation now could only hit a later
		// activation that is not this grant's.
		return nil
	}
	if name := g.Refs[RefRequestName]; name != "" {
		resp, err := p.requests.Get(ctx, strings.TrimPrefix(scope, "/"), name, nil)
		switch {
		case err == nil:
			status := requestStatus(resp.Properties)
			switch {
			case isAwaitingApproval(status) || isProvisioning(status):
				if _, err := p.requests.Cancel(ctx, strings.TrimPrefix(scope, "/"), name, nil); err != nil {
					return p.classify(ctx, "cancel PIM request "+name, err)
				}
				return nil
			case !isGranted(status):
				// Denied, canceled, failed: nothing was activated.
				return nil
			}
		case responseCode(err) == "RoleAssignmentScheduleRequestNotFound" || statusCode(err) == http.StatusNotFound:
			// Unknown to PIM: deactivate whatever is active, as below.
		default:
			return p.classify(ctx, op, err)
		}
	}
	_, err := p.requests.Create(ctx, strings.TrimPrefix(scope, "/"), newRequestName(), armauthorization.RoleAssignmentScheduleRequest{
		Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
			RequestType:      to.Ptr(armauthorization.RequestTypeSelfDeactivate),
			PrincipalID:      to.Ptr(oid),
			RoleDefinitionID: to.Ptr(roleID),
			Justification:    to.Ptr("jit revoke [jit " + g.RequestID + "]"),
		},
	}, nil)
	if err == nil {
		return nil
	}
	e := p.classify(ctx, op, err)
	var pe *providers.Error
	if !errors.As(e, &pe) {
		return e
	}
	switch pe.Code {
	case "RoleAssignmentDoesNotExist":
		return nil
	case "ActiveDurationTooShort":
		pe.Kind = providers.KindInvalid
		retry := "in a few minutes"
		if !g.NotBefore.IsZero() {
			retry = "after " + g.NotBefore.Add(MinActiveDuration).UTC().Format(time.RFC3339)
		}
		ends := ""
		if !g.NotAfter.IsZero() {
			ends = ", or it ends at " + g.NotAfter.UTC().Format(time.RFC3339)
		}
		pe.Hint = "Azure does not allow deactivating in the first 5 minutes after activation; try again " + retry + ends
	}
	return pe
}

// Eligible lists the roles the caller may activate anywhere in the tenant
// (PIM eligibility instances, asTarget()).
func (p *Provider) Eligible(ctx context.Context) ([]providers.EligibleRole, error) {
	const op = "list eligible roles"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	list, err := p.listEligible(ctx, "")
	if err != nil {
		return nil, p.classify(ctx, op, err)
	}
	seen := map[string]bool{}
	var out []providers.EligibleRole
	for _, it := range list {
		pr := it.Properties
		r := providers.EligibleRole{Scope: str(pr.Scope), Role: roleDisplayName(pr.ExpandedProperties), RoleID: str(pr.RoleDefinitionID)}
		if pr.Status != nil && *pr.Status != armauthorization.StatusProvisioned {
			continue
		}
		key := strings.ToLower(r.Scope + "|" + r.RoleID)
		if seen[key] {
			continue
		}
		seen[key] = true
		if r.Role == "" {
			r.Role = r.RoleID
		}
		var desc []string
		if x := pr.ExpandedProperties; x != nil && x.Scope != nil && str(x.Scope.DisplayName) != "" {
			desc = append(desc, str(x.Scope.DisplayName))
		}
		if pr.MemberType != nil && *pr.MemberType != armauthorization.MemberTypeDirect {
			desc = append(desc, "via "+strings.ToLower(string(*pr.MemberType)))
		}
		r.Description = strings.Join(desc, ", ")
		if pr.EndDateTime != nil {
			r.EndsAt = pr.EndDateTime.UTC()
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope < out[j].Scope
		}
		return out[i].Role < out[j].Role
	})
	return out, nil
}

// MaxDuration is PIM's activation maximum for the target's role at its
// scope (the role setting "Activation maximum duration"), read once per
// provider from the role management policy; 0 when it cannot be read (the
// activation then meets PIM's own check).
func (p *Provider) MaxDuration(ctx context.Context, t providers.Target, _ providers.Principal) (time.Duration, string) {
	spec, ok := t.Spec.(*TargetSpec)
	if !ok || spec == nil || spec.Validate() != nil {
		return 0, ""
	}
	elig, err := p.findEligibility(ctx, "read PIM settings", spec)
	if err != nil {
		return 0, ""
	}
	max, err := p.activationMax(ctx, spec.Scope, elig.roleDefinitionID)
	if err != nil || max <= 0 {
		return 0, ""
	}
	return max, fmt.Sprintf("PIM's activation maximum for %s at %s", elig.roleName, spec.Scope)
}

// activationMax reads the Expiration_EndUser_Assignment rule of the role
// management policy for a role at a scope.
func (p *Provider) activationMax(ctx context.Context, scope, roleDefinitionID string) (time.Duration, error) {
	key := strings.ToLower(scope + "|" + roleDefinitionID)
	p.mu.Lock()
	if d, ok := p.policyMax[key]; ok {
		p.mu.Unlock()
		return d, nil
	}
	p.mu.Unlock()
	path := strings.TrimSuffix(scope, "/") + "/providers/Microsoft.Authorization/roleManagementPolicies"
	req, err := runtime.NewRequest(ctx, http.MethodGet, runtime.JoinPaths(p.arm.Endpoint(), path))
	if err != nil {
		return 0, err
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", "2020-10-01")
	q.Set("$filter", "roleDefinitionId eq '"+roleDefinitionID+"'")
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	resp, err := p.arm.Pipeline().Do(req)
	if err != nil {
		return 0, err
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return 0, runtime.NewResponseError(resp)
	}
	var list armauthorization.RoleManagementPolicyListResult
	if err := runtime.UnmarshalAsJSON(resp, &list); err != nil {
		return 0, err
	}
	var max time.Duration
	for _, pol := range list.Value {
		if pol == nil || pol.Properties == nil {
			continue
		}
		for _, rules := range [][]armauthorization.RoleManagementPolicyRuleClassification{pol.Properties.EffectiveRules, pol.Properties.Rules} {
			for _, r := range rules {
				er, ok := r.(*armauthorization.RoleManagementPolicyExpirationRule)
				if !ok || str(er.ID) != "Expiration_EndUser_Assignment" || er.MaximumDuration == nil {
					continue
				}
				if d, err := ParseISODuration(*er.MaximumDuration); err == nil && (max == 0 || d < max) {
					max = d
				}
			}
		}
	}
	p.mu.Lock()
	if p.policyMax == nil {
		p.policyMax = map[string]time.Duration{}
	}
	p.policyMax[key] = max
	p.mu.Unlock()
	return max, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
