package azure

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
)

const (
	aliceOID    = "a11ce000-0000-4000-8000-000000000001"
	aliceClient = "a11ce000-c11e-4000-8000-000000000001"
	aliceSecret = "alice-secret"
	eveOID      = "e0e00000-0000-4000-8000-000000000005"
	eveClient   = "e0e00000-c11e-4000-8000-000000000005"
	eveSecret   = "eve-secret"
	sub         = "5ab5c71b-0000-4000-8000-00000000000a"
	subScope    = "/subscriptions/" + sub
	rgScope     = subScope + "/resourceGroups/rg1"
	contributor = "b24988ac-6180-42a0-ab88-20f7382dd24c"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func start(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	cfg := Config{
		Principals: []Principal{
			{ObjectID: aliceOID, UPN: "alice@example.com", ClientID: aliceClient, ClientSecret: aliceSecret},
			{ObjectID: eveOID, UPN: "eve@example.com", ClientID: eveClient, ClientSecret: eveSecret},
		},
		Eligibilities: []Eligibility{
			{PrincipalID: aliceOID, Scope: subScope, Role: "Contributor", MaxDuration: 2 * time.Hour, RequireJustification: true},
			{PrincipalID: aliceOID, Scope: rgScope, Role: "Reader"},
			{PrincipalID: eveOID, Scope: rgScope, Role: "Reader"},
		},
		Now: c.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func credential(t *testing.T, s *Server, id, secret string) azcore.TokenCredential {
	t.Helper()
	c, err := azidentity.NewClientSecretCredential(s.TenantID(), id, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL() + "/"},
			Transport: s.Client(), Retry: policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func armOptions(s *Server) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: s.URL(), Audience: ARMAudience}}},
		Transport: s.Client(), Retry: policy.RetryOptions{MaxRetries: -1},
	}}
}

type clients struct {
	reqs  *armauthorization.RoleAssignmentScheduleRequestsClient
	elig  *armauthorization.RoleEligibilityScheduleInstancesClient
	insts *armauthorization.RoleAssignmentScheduleInstancesClient
	pols  *armauthorization.RoleManagementPoliciesClient
}

func sdk(t *testing.T, s *Server, cred azcore.TokenCredential) clients {
	t.Helper()
	o := armOptions(s)
	r, err1 := armauthorization.NewRoleAssignmentScheduleRequestsClient(cred, o)
	e, err2 := armauthorization.NewRoleEligibilityScheduleInstancesClient(cred, o)
	i, err3 := armauthorization.NewRoleAssignmentScheduleInstancesClient(cred, o)
	p, err4 := armauthorization.NewRoleManagementPoliciesClient(cred, o)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	return clients{r, e, i, p}
}

func respErr(t *testing.T, err error) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a ResponseError", err)
	}
	return re
}

func selfActivate(principal, roleID, dur, justification string) armauthorization.RoleAssignmentScheduleRequest {
	return armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		RequestType: to.Ptr(armauthorization.RequestTypeSelfActivate), PrincipalID: to.Ptr(principal),
		RoleDefinitionID: to.Ptr(roleID), Justification: to.Ptr(justification),
		ScheduleInfo: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfo{
			Expiration: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration{
				Type: to.Ptr(armauthorization.TypeAfterDuration), Duration: to.Ptr(dur)}},
	}}
}

func eligible(t *testing.T, c clients, scope string) []*armauthorization.RoleEligibilityScheduleInstance {
	t.Helper()
	var out []*armauthorization.RoleEligibilityScheduleInstance
	pager := c.elig.NewListForScopePager(scope, &armauthorization.RoleEligibilityScheduleInstancesClientListForScopeOptions{Filter: to.Ptr("asTarget()")})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Value...)
	}
	return out
}

func TestSDKActivationLifecycle(t *testing.T) {
	s := start(t, nil)
	c := sdk(t, s, credential(t, s, aliceClient, aliceSecret))
	ctx := context.Background()

	list := eligible(t, c, "subscriptions/"+sub)
	if len(list) != 2 {
		t.Fatalf("%d eligibilities at the subscription (and below), want 2", len(list))
	}
	var elig *armauthorization.RoleEligibilityScheduleInstance
	for _, e := range list {
		if *e.Properties.ExpandedProperties.RoleDefinition.DisplayName == "Contributor" {
			elig = e
		}
	}
	if elig == nil || *elig.Properties.RoleDefinitionID != subScope+"/providers/Microsoft.Authorization/roleDefinitions/"+contributor ||
		*elig.Properties.PrincipalID != aliceOID || *elig.Properties.Status != armauthorization.StatusProvisioned {
		t.Fatalf("eligibility = %+v", elig)
	}

	body := selfActivate(aliceOID, *elig.Properties.RoleDefinitionID, "PT1H", "deploy")
	body.Properties.LinkedRoleEligibilityScheduleID = elig.Properties.RoleEligibilityScheduleID
	name := "11111111-2222-4333-8444-555555555555"
	resp, err := c.reqs.Create(ctx, "subscriptions/"+sub, name, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *resp.Properties.Status != armauthorization.StatusProvisioned || *resp.Name != name ||
		*resp.Properties.ExpandedProperties.Principal.ID != aliceOID {
		t.Errorf("create = %+v", resp.Properties)
	}
	// A retry of the same PUT answers the same request.
	if again, err := c.reqs.Create(ctx, "subscriptions/"+sub, name, body, nil); err != nil || *again.Properties.Status != armauthorization.StatusProvisioned {
		t.Errorf("repeated PUT: %v", err)
	}
	got, err := c.reqs.Get(ctx, "subscriptions/"+sub, name, nil)
	if err != nil || *got.Properties.Status != armauthorization.StatusProvisioned {
		t.Fatalf("get: %v", err)
	}

	// Active, with its end on the fake clock.
	pager := c.insts.NewListForScopePager("subscriptions/"+sub, &armauthorization.RoleAssignmentScheduleInstancesClientListForScopeOptions{Filter: to.Ptr("asTarget()")})
	page, err := pager.NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("instances: %v %d", err, len(page.Value))
	}
	inst := page.Value[0].Properties
	if *inst.AssignmentType != armauthorization.AssignmentTypeActivated || !inst.EndDateTime.Equal(s.Now().Add(time.Hour)) {
		t.Errorf("instance = %+v (now %s)", inst, s.Now())
	}

	// A second activation of the same role.
	_, err = c.reqs.Create(ctx, "subscriptions/"+sub, "11111111-2222-4333-8444-555555555556", body, nil)
	if re := respErr(t, err); re.ErrorCode != "RoleAssignmentExists" {
		t.Errorf("second activation: %s", re.ErrorCode)
	}

	deact := armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		RequestType: to.Ptr(armauthorization.RequestTypeSelfDeactivate), PrincipalID: to.Ptr(aliceOID),
		RoleDefinitionID: elig.Properties.RoleDefinitionID}}
	_, err = c.reqs.Create(ctx, "subscriptions/"+sub, "21111111-2222-4333-8444-555555555555", deact, nil)
	if re := respErr(t, err); re.ErrorCode != "ActiveDurationTooShort" || re.StatusCode != 400 {
		t.Errorf("early deactivation: %s %d", re.ErrorCode, re.StatusCode)
	}
	s.Advance(5 * time.Minute)
	d, err := c.reqs.Create(ctx, "subscriptions/"+sub, "31111111-2222-4333-8444-555555555555", deact, nil)
	if err != nil || *d.Properties.Status != armauthorization.StatusRevoked {
		t.Fatalf("deactivation after 5 minutes: %v", err)
	}
	if len(s.Active()) != 0 {
		t.Error("still active")
	}
	_, err = c.reqs.Create(ctx, "subscriptions/"+sub, "41111111-2222-4333-8444-555555555555", deact, nil)
	if re := respErr(t, err); re.ErrorCode != "RoleAssignmentDoesNotExist" {
		t.Errorf("deactivating again: %s", re.ErrorCode)
	}
}

func TestSDKPolicyRules(t *testing.T) {
	s := start(t, func(c *Config) {
		c.Principals[0].MFA = false
		c.Eligibilities = append(c.Eligibilities, Eligibility{PrincipalID: aliceOID, Scope: "/providers/Microsoft.Management/managementGroups/mg1",
			Role: "Owner", RequireMFA: true, RequireTicket: true})
	})
	c := sdk(t, s, credential(t, s, aliceClient, aliceSecret))
	ctx := context.Background()
	roleID := subScope + "/providers/Microsoft.Authorization/roleDefinitions/" + contributor
	tests := []struct {
		name, scope string
		body        armauthorization.RoleAssignmentScheduleRequest
		code, msg   string
		status      int
	}{
		{"too long", "subscriptions/" + sub, selfActivate(aliceOID, roleID, "PT3H", "x"), "RoleAssignmentRequestPolicyValidationFailed", `["ExpirationRule"]`, 400},
		{"no justification, too long", "subscriptions/" + sub, selfActivate(aliceOID, roleID, "P1D", ""), "RoleAssignmentRequestPolicyValidationFailed", `["ExpirationRule","JustificationRule"]`, 400},
		{"not eligible", "subscriptions/" + sub, selfActivate(aliceOID, subScope+"/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "PT1H", "x"),
			"RoleAssignmentRequestPolicyValidationFailed", `["EligibilityRule"]`, 400},
		{"mfa and ticket", "providers/Microsoft.Management/managementGroups/mg1", selfActivate(aliceOID, "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "PT1H", "x"),
			"RoleAssignmentRequestPolicyValidationFailed", `["TicketingRule","MfaRule"]`, 400},
		{"someone else's principal", "subscriptions/" + sub, selfActivate(eveOID, roleID, "PT1H", "x"), "AuthorizationFailed", "does not have authorization", 403},
		{"bad duration", "subscriptions/" + sub, selfActivate(aliceOID, roleID, "1 hour", "x"), "InvalidDuration", "ISO-8601", 400},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.reqs.Create(ctx, tt.scope, "a1111111-2222-4333-8444-55555555555"+string(rune('0'+i)), tt.body, nil)
			re := respErr(t, err)
			if re.ErrorCode != tt.code || re.StatusCode != tt.status {
				t.Errorf("code %s status %d, want %s %d", re.ErrorCode, re.StatusCode, tt.code, tt.status)
			}
			body, _ := runtime.Payload(re.RawResponse)
			if !strings.Contains(string(body), strings.ReplaceAll(tt.msg, `"`, `\"`)) {
				t.Errorf("answer %s lacks %q", body, tt.msg)
			}
		})
	}
	if len(s.Active()) != 0 {
		t.Error("a refused request activated something")
	}

	// The policy behind those rules, as the SDK decodes it.
	pager := c.pols.NewListForScopePager("subscriptions/"+sub, nil)
	_, err := pager.NextPage(ctx)
	if re := respErr(t, err); re.ErrorCode != "InvalidFilter" {
		t.Errorf("policy list without filter: %s", re.ErrorCode)
	}
}

func TestApprovalFlowAndCancel(t *testing.T) {
	s := start(t, func(c *Config) { c.Eligibilities[0].RequireApproval = true })
	c := sdk(t, s, credential(t, s, aliceClient, aliceSecret))
	ctx := context.Background()
	roleID := subScope + "/providers/Microsoft.Authorization/roleDefinitions/" + contributor
	resp, err := c.reqs.Create(ctx, "subscriptions/"+sub, "b1111111-2222-4333-8444-555555555555", selfActivate(aliceOID, roleID, "PT1H", "x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *resp.Properties.Status != armauthorization.StatusPendingApproval || resp.Properties.ApprovalID == nil || !strings.Contains(*resp.Properties.ApprovalID, "/roleAssignmentApprovals/") {
		t.Fatalf("status %s approval %v", *resp.Properties.Status, resp.Properties.ApprovalID)
	}
	if len(s.Active()) != 0 {
		t.Fatal("active while pending")
	}
	// Approve through the admin endpoint, as a testscript would.
	post := func(path string, form url.Values) int {
		r, err := s.Client().PostForm(s.URL()+path, form)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	s.Advance(10 * time.Minute)
	if code := post("/_fake/approve", url.Values{"request": {"b1111111-2222-4333-8444-555555555555"}}); code != http.StatusNoContent {
		t.Fatalf("approve: %d", code)
	}
	got, err := c.reqs.Get(ctx, "subscriptions/"+sub, "b1111111-2222-4333-8444-555555555555", nil)
	if err != nil || *got.Properties.Status != armauthorization.StatusProvisioned {
		t.Fatalf("after approval: %v", err)
	}
	act := s.Active()
	if len(act) != 1 || !act[0].Start.Equal(s.Now()) || !act[0].End.Equal(s.Now().Add(time.Hour)) {
		t.Errorf("activation %+v; it runs from the approval (%s)", act, s.Now())
	}
	if code := post("/_fake/approve", url.Values{"request": {"b1111111-2222-4333-8444-555555555555"}}); code != http.StatusConflict {
		t.Errorf("second approve: %d", code)
	}
	if _, err := c.reqs.Cancel(ctx, "subscriptions/"+sub, "b1111111-2222-4333-8444-555555555555", nil); respErr(t, err).ErrorCode != "RoleAssignmentRequestNotPending" {
		t.Errorf("cancel of a provisioned request: %v", err)
	}

	// A second pending request can be cancelled.
	rg := subScope + "/resourceGroups/rg1"
	s2 := start(t, func(c *Config) { c.Eligibilities[1].RequireApproval = true })
	c2 := sdk(t, s2, credential(t, s2, aliceClient, aliceSecret))
	readerID := subScope + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	if _, err := c2.reqs.Create(ctx, strings.TrimPrefix(rg, "/"), "c1111111-2222-4333-8444-555555555555", selfActivate(aliceOID, readerID, "PT1H", "x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.reqs.Cancel(ctx, strings.TrimPrefix(rg, "/"), "c1111111-2222-4333-8444-555555555555", nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if got, _ := c2.reqs.Get(ctx, strings.TrimPrefix(rg, "/"), "c1111111-2222-4333-8444-555555555555", nil); *got.Properties.Status != armauthorization.StatusCanceled {
		t.Errorf("status after cancel %s", *got.Properties.Status)
	}
	if err := s2.Approve("c1111111-2222-4333-8444-555555555555"); err == nil {
		t.Error("approved a cancelled request")
	}
}

func TestActivationsExpireOnTheFakeClock(t *testing.T) {
	s := start(t, nil)
	c := sdk(t, s, credential(t, s, aliceClient, aliceSecret))
	roleID := subScope + "/providers/Microsoft.Authorization/roleDefinitions/" + contributor
	if _, err := c.reqs.Create(context.Background(), "subscriptions/"+sub, "d1111111-2222-4333-8444-555555555555", selfActivate(aliceOID, roleID, "PT30M", "x"), nil); err != nil {
		t.Fatal(err)
	}
	if !s.IsActive(aliceOID, subScope, contributor) {
		t.Fatal("not active")
	}
	s.Advance(29 * time.Minute)
	if !s.IsActive(aliceOID, subScope, contributor) {
		t.Fatal("ended early")
	}
	s.Advance(time.Minute)
	if s.IsActive(aliceOID, subScope, contributor) {
		t.Fatal("still active after 30 minutes")
	}
	// And the role can be activated again.
	if _, err := c.reqs.Create(context.Background(), "subscriptions/"+sub, "d1111111-2222-4333-8444-555555555556", selfActivate(aliceOID, roleID, "PT30M", "x"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestTokensAndBearerChecks(t *testing.T) {
	s := start(t, func(c *Config) { c.TokenLifetime = time.Minute })
	ctx := context.Background()
	// A token from the real credential carries the claims jit reads.
	tok, err := credential(t, s, aliceClient, aliceSecret).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ARMAudience + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.Token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["oid"] != aliceOID || claims["upn"] != "alice@example.com" || claims["tid"] != DefaultTenantID || claims["aud"] != ARMAudience || claims["idtyp"] != "user" {
		t.Errorf("claims = %v", claims)
	}
	if d := time.Until(tok.ExpiresOn); d > time.Minute || d < 30*time.Second {
		t.Errorf("token lives %s, want ~1m", d)
	}

	// Wrong secret, unknown client, wrong tenant.
	for _, tc := range []struct{ id, secret, want string }{
		{aliceClient, "nope", "invalid_client"},
		{"00000000-0000-4000-8000-000000000000", "x", "unauthorized_client"},
	} {
		_, err := credential(t, s, tc.id, tc.secret).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ARMAudience + "/.default"}})
		var afe *azidentity.AuthenticationFailedError
		if !errors.As(err, &afe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("GetToken(%s): %v", tc.id, err)
		}
		if strings.Contains(err.Error(), "nope") {
			t.Error("the secret is in the error")
		}
	}

	bare := func(header string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+subScope+"/providers/Microsoft.Authorization/roleEligibilityScheduleInstances?api-version="+APIVersion, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		r, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	code := func(r *http.Response) string {
		defer r.Body.Close()
		var v struct{ Error struct{ Code string } }
		_ = json.NewDecoder(r.Body).Decode(&v)
		return v.Error.Code
	}
	if r := bare(""); r.StatusCode != 401 || code(r) != "AuthenticationFailed" {
		t.Error("no header accepted")
	}
	if r := bare("Bearer forged." + parts[1] + ".x"); r.StatusCode != 401 || code(r) != "InvalidAuthenticationToken" {
		t.Error("a forged token with valid claims was accepted")
	}
	if r := bare("Bearer " + tok.Token); r.StatusCode != 200 {
		t.Errorf("own token: %d", r.StatusCode)
	}
	graphTok, err := credential(t, s, aliceClient, aliceSecret).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := bare("Bearer " + graphTok.Token); r.StatusCode != 401 || code(r) != "InvalidAuthenticationTokenAudience" {
		t.Error("a Graph token was accepted by ARM")
	}
	s.ExpireTokens()
	if r := bare("Bearer " + tok.Token); r.StatusCode != 401 || code(r) != "ExpiredAuthenticationToken" {
		t.Error("expired token accepted")
	}
	// A token straight from IssueToken works as a static credential.
	issued, _, err := s.IssueToken(eveOID)
	if err != nil {
		t.Fatal(err)
	}
	if r := bare("Bearer " + issued); r.StatusCode != 200 {
		t.Errorf("issued token: %d", r.StatusCode)
	}
	if _, _, err := s.IssueToken("00000000-0000-4000-8000-000000000000"); err == nil {
		t.Error("IssueToken for an unknown principal")
	}
}

func TestPagingAndTenantWideListing(t *testing.T) {
	s := start(t, func(c *Config) {
		c.PageSize = 1
		c.Eligibilities = append(c.Eligibilities,
			Eligibility{PrincipalID: aliceOID, Scope: "/providers/Microsoft.Management/managementGroups/mg1", Role: "Owner"},
			Eligibility{PrincipalID: aliceOID, Scope: "/subscriptions/5ab5c71b-0000-4000-8000-00000000000b", Role: "Reader", EndsAt: c.Now().Add(time.Hour)})
	})
	c := sdk(t, s, credential(t, s, aliceClient, aliceSecret))
	all := eligible(t, c, "")
	if len(all) != 4 {
		t.Fatalf("%d eligibilities tenant-wide, want alice's 4", len(all))
	}
	if n := len(s.CallsFor(OpListEligibility)); n != 4 {
		t.Errorf("%d list calls for 4 items of page size 1", n)
	}
	for _, e := range all {
		if *e.Properties.PrincipalID != aliceOID {
			t.Errorf("someone else's eligibility listed: %s", *e.Properties.PrincipalID)
		}
	}
	s.Advance(time.Hour)
	if n := len(eligible(t, c, "")); n != 3 {
		t.Errorf("%d after one eligibility ended, want 3", n)
	}
}

func TestFaultsHoldAndCallLog(t *testing.T) {
	s := start(t, nil)
	c := sdk(t, s, credential(t, s, aliceClient, aliceSecret))
	ctx := context.Background()
	s.Fail(Fault{Op: OpListEligibility, Code: "TooManyRequests", RetryAfter: 7})
	_, err := c.elig.NewListForScopePager("subscriptions/"+sub, nil).NextPage(ctx)
	re := respErr(t, err)
	if re.StatusCode != 429 || re.RawResponse.Header.Get("Retry-After") != "7" {
		t.Errorf("fault answered %d, Retry-After %q", re.StatusCode, re.RawResponse.Header.Get("Retry-After"))
	}
	if _, err := c.elig.NewListForScopePager("subscriptions/"+sub, nil).NextPage(ctx); err != nil {
		t.Errorf("the fault outlived its count: %v", err)
	}

	release := s.Hold()
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.elig.NewListForScopePager("subscriptions/"+sub, nil).NextPage(cctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held request: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // let the server see the client go
	release()
	if _, err := c.elig.NewListForScopePager("subscriptions/"+sub, nil).NextPage(ctx); err != nil {
		t.Errorf("after release: %v", err)
	}

	calls := s.CallsFor(OpListEligibility)
	if len(calls) != 3 || calls[0].ErrorCode != "TooManyRequests" || calls[0].Principal != aliceOID || calls[1].Status != 200 {
		t.Errorf("calls = %+v", calls)
	}
	for _, call := range s.CallsFor(OpToken) {
		if strings.Contains(string(call.Body), aliceSecret) || strings.Contains(call.Query, aliceSecret) {
			t.Error("the call log holds a client secret")
		}
	}

	// The admin endpoints.
	get := func(path string, v any) {
		r, err := s.Client().Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if err := json.NewDecoder(r.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var logged []Call
	get("/_fake/calls?op="+OpListEligibility, &logged)
	if len(logged) != 3 {
		t.Errorf("GET /_fake/calls: %d", len(logged))
	}
	form := url.Values{"op": {OpCreateRequest}, "code": {"InternalServerError"}, "count": {"1"}}
	r, err := s.Client().PostForm(s.URL()+"/_fake/fail", form)
	if err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /_fake/fail: %v %v", err, r)
	}
	_, err = c.reqs.Create(ctx, "subscriptions/"+sub, "e1111111-2222-4333-8444-555555555555",
		selfActivate(aliceOID, subScope+"/providers/Microsoft.Authorization/roleDefinitions/"+contributor, "PT1H", "x"), nil)
	if re := respErr(t, err); re.StatusCode != 500 {
		t.Errorf("injected fault: %d", re.StatusCode)
	}
	r, _ = s.Client().PostForm(s.URL()+"/_fake/advance", url.Values{"by": {"2h"}})
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(body), "2026-12-03T12:00:00Z") {
		t.Errorf("advance answered %s", body)
	}
	var active []ActiveAssignment
	get("/_fake/active", &active)
	if len(active) != 0 {
		t.Errorf("active = %v", active)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/_fake/calls", nil)
	if r, err := s.Client().Do(req); err != nil || r.StatusCode != http.StatusNoContent || len(s.Calls()) != 0 {
		t.Errorf("DELETE /_fake/calls: %v", err)
	}
}

func TestARMRoutingErrors(t *testing.T) {
	s := start(t, nil)
	tok, _, err := s.IssueToken(aliceOID)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(`{"properties":{}}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var v struct{ Error struct{ Code string } }
		_ = json.NewDecoder(r.Body).Decode(&v)
		return r.StatusCode, v.Error.Code
	}
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", subScope + "/providers/Microsoft.Authorization/roleEligibilityScheduleInstances?api-version=2022-04-01", 400, "InvalidApiVersionParameter"},
		{"GET", subScope + "/providers/Microsoft.Compute/virtualMachines?api-version=" + APIVersion, 404, "InvalidResourceType"},
		{"DELETE", subScope + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/x?api-version=" + APIVersion, 404, "InvalidResourceType"},
		{"PUT", subScope + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/not-a-guid?api-version=" + APIVersion, 400, "InvalidRoleAssignmentScheduleRequestName"},
		{"PUT", "/subscriptions/x/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/f1111111-2222-4333-8444-555555555555?api-version=" + APIVersion, 400, "InvalidScope"},
		{"GET", subScope + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/f1111111-2222-4333-8444-555555555555?api-version=" + APIVersion, 404, "RoleAssignmentScheduleRequestNotFound"},
		{"GET", subScope + "/providers/Microsoft.Authorization/roleEligibilityScheduleInstances?api-version=" + APIVersion + "&$filter=principalId%20eq%20'x'", 400, "InvalidFilter"},
	}
	for _, tt := range tests {
		if st, code := do(tt.method, tt.path); st != tt.status || code != tt.code {
			t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, st, code, tt.status, tt.code)
		}
	}
	// Unknown fields in a request body are refused: the fake checks the
	// client's encoding.
	req, _ := http.NewRequest(http.MethodPut, s.URL()+subScope+"/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/f1111111-2222-4333-8444-555555555556?api-version="+APIVersion,
		strings.NewReader(`{"properties":{"requestType":"SelfActivate","principalId":"`+aliceOID+`","roleDefinitionId":"`+contributor+`","durationISO":"PT1H"}}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	r, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 {
		t.Errorf("unknown field: %d", r.StatusCode)
	}
}

func TestConfigValidationAndParsing(t *testing.T) {
	good := `
tenant_id: 72f988bf-0000-4000-8000-00000000000a
principals:
  - {object_id: a11ce000-0000-4000-8000-000000000001, upn: alice@example.com, client_id: app1, client_secret: s1, mfa: true}
eligibilities:
  - {principal_id: a11ce000-0000-4000-8000-000000000001, scope: /subscriptions/5ab5c71b-0000-4000-8000-00000000000a, role: Contributor, max_duration: 4h, require_approval: true}
allow_immediate_deactivation: true
page_size: 10
`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Eligibilities[0].MaxDuration != 4*time.Hour || !c.Principals[0].MFA || !c.AllowImmediateDeactivation {
		t.Errorf("parsed %+v", c)
	}
	bad := []struct{ doc, want string }{
		{"addr: 0.0.0.0:1\n", "not a loopback"},
		{"tenant_id: acme\n", "not a GUID"},
		{"principals: [{object_id: x}]\n", "not a GUID"},
		{"principals: [{object_id: a11ce000-0000-4000-8000-000000000001, client_id: a}]\n", "go together"},
		{"eligibilities: [{principal_id: a11ce000-0000-4000-8000-000000000001, scope: /subscriptions/x, role: R}]\n", "not a configured principal"},
		{"principals: [{object_id: a11ce000-0000-4000-8000-000000000001}]\neligibilities: [{principal_id: a11ce000-0000-4000-8000-000000000001, scope: /x, role: R}]\n", "is not a subscription"},
		{"principals: [{object_id: a11ce000-0000-4000-8000-000000000001}]\neligibilities: [{principal_id: a11ce000-0000-4000-8000-000000000001, scope: /subscriptions/5ab5c71b-0000-4000-8000-00000000000a}]\n", "role is required"},
		{"unknown_key: 1\n", "unknown_key"},
	}
	for _, b := range bad {
		if _, err := ParseConfig([]byte(b.doc)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseConfig(%q) = %v, want %q", b.doc, err, b.want)
		}
	}
	if _, err := New(Config{Addr: "192.0.2.1:0"}); err == nil {
		t.Error("New listened on a non-loopback address")
	}
}

func TestDurationParsing(t *testing.T) {
	for s, want := range map[string]time.Duration{"PT1H": time.Hour, "PT1H30M": 90 * time.Minute, "P1DT1S": 24*time.Hour + time.Second, "P1W": 168 * time.Hour} {
		if got, err := parseDuration(s); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %s, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "P", "PT", "PT0S", "1H", "PT1.5H", "P1Y", "PT1H1H", "PTH", "P1DT"} {
		if _, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) accepted", s)
		}
	}
	for d, want := range map[time.Duration]string{8 * time.Hour: "PT8H", 90 * time.Minute: "PT1H30M", 0: "PT0S"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q", d, got)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT1H", "P1DT2H3M4S", "P2W", "PT999999999H", "P999999999W", "PT", "P1Y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		if d <= 0 {
			t.Fatalf("parseDuration(%q) = %s", s, d)
		}
		if back, err := parseDuration(formatDuration(d)); err != nil || back != d {
			t.Fatalf("%q → %s → %q → %s, %v", s, d, formatDuration(d), back, err)
		}
	})
}
