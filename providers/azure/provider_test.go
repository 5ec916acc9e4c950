package azure

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	fakeazure "github.com/jitaccess/jit/internal/fakecloud/azure"
	"github.com/jitaccess/jit/providers"
)

func contributorTarget() providers.Target {
	return target("sub-contrib", &TargetSpec{Scope: subScope, Role: "Contributor", TicketSystem: "jira"})
}

func kindOf(t *testing.T, err error) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	if strings.ContainsAny(err.Error(), "\r\n") || strings.ContainsAny(pe.Hint, "\r\n") {
		t.Errorf("message is not one line: %q / hint %q", err.Error(), pe.Hint)
	}
	return pe
}

func TestGrantActivatesWithTheWireBodyPIMWants(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	before := time.Now()
	g, err := p.Grant(context.Background(), request("01REQ-ACTIVATE", contributorTarget(), 90*time.Minute))
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	creates := f.CallsFor(fakeazure.OpCreateRequest)
	if len(creates) != 1 {
		t.Fatalf("%d create calls, want 1", len(creates))
	}
	c := creates[0]
	wantPath := subScope + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/" + ActivationName("01REQ-ACTIVATE")
	if c.Path != wantPath {
		t.Errorf("PUT %s, want %s", c.Path, wantPath)
	}
	var body struct {
		Properties struct {
			RequestType                     string `json:"requestType"`
			PrincipalID                     string `json:"principalId"`
			RoleDefinitionID                string `json:"roleDefinitionId"`
			LinkedRoleEligibilityScheduleID string `json:"linkedRoleEligibilityScheduleId"`
			Justification                   string `json:"justification"`
			TicketInfo                      struct {
				TicketNumber string `json:"ticketNumber"`
				TicketSystem string `json:"ticketSystem"`
			} `json:"ticketInfo"`
			ScheduleInfo struct {
				StartDateTime string `json:"startDateTime"`
				Expiration    struct {
					Type     string `json:"type"`
					Duration string `json:"duration"`
				} `json:"expiration"`
			} `json:"scheduleInfo"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(c.Body, &body); err != nil {
		t.Fatalf("request body %s: %v", c.Body, err)
	}
	pr := body.Properties
	wantRole := subScope + "/providers/Microsoft.Authorization/roleDefinitions/" + contributor
	if pr.RequestType != "SelfActivate" || pr.PrincipalID != aliceOID || pr.RoleDefinitionID != wantRole {
		t.Errorf("requestType %q principalId %q roleDefinitionId %q", pr.RequestType, pr.PrincipalID, pr.RoleDefinitionID)
	}
	if !strings.Contains(pr.LinkedRoleEligibilityScheduleID, subScope+"/providers/Microsoft.Authorization/roleEligibilitySchedules/") {
		t.Errorf("linkedRoleEligibilityScheduleId = %q", pr.LinkedRoleEligibilityScheduleID)
	}
	if pr.Justification != "deploy hotfix (ticket CHG-42) [jit 01REQ-ACTIVATE]" {
		t.Errorf("justification = %q", pr.Justification)
	}
	if pr.TicketInfo.TicketNumber != "CHG-42" || pr.TicketInfo.TicketSystem != "jira" {
		t.Errorf("ticketInfo = %+v", pr.TicketInfo)
	}
	if pr.ScheduleInfo.Expiration.Type != "AfterDuration" || pr.ScheduleInfo.Expiration.Duration != "PT1H30M" {
		t.Errorf("expiration = %+v", pr.ScheduleInfo.Expiration)
	}
	start, err := time.Parse(time.RFC3339Nano, pr.ScheduleInfo.StartDateTime)
	if err != nil || start.Before(before.Add(-time.Second)) || start.After(time.Now()) {
		t.Errorf("startDateTime = %q (%v)", pr.ScheduleInfo.StartDateTime, err)
	}

	if !g.NotAfter.Equal(start.Add(90*time.Minute)) || !g.NotBefore.Equal(start) {
		t.Errorf("grant window %s – %s, want %s – %s", g.NotBefore, g.NotAfter, start, start.Add(90*time.Minute))
	}
	if !g.Revocable || g.Provider != "azure" || g.Target != "sub-contrib" || g.RequestID != "01REQ-ACTIVATE" {
		t.Errorf("grant = %+v", g)
	}
	wantRefs := map[string]string{RefScope: subScope, RefRoleDefinitionID: wantRole, RefPrincipalID: aliceOID,
		RefRequestName: ActivationName("01REQ-ACTIVATE"), RefEligibilityScheduleID: pr.LinkedRoleEligibilityScheduleID,
		RefRole: "Contributor", RefStatus: "Provisioned"}
	for k, v := range wantRefs {
		if g.Refs[k] != v {
			t.Errorf("ref %s = %q, want %q", k, g.Refs[k], v)
		}
	}
	env := map[string]providers.EnvVar{}
	for _, e := range g.Env {
		env[e.Name] = e
	}
	for _, k := range []string{"AZURE_SUBSCRIPTION_ID", "ARM_SUBSCRIPTION_ID"} {
		if env[k].Value != subID || env[k].Secret {
			t.Errorf("%s = %+v", k, env[k])
		}
	}
	if len(g.Secrets()) != 0 {
		t.Errorf("an Azure grant carries no secret, got %d", len(g.Secrets()))
	}
	// The fake holds the activation for exactly that window.
	act := f.Active()
	if len(act) != 1 || act[0].PrincipalID != aliceOID || !act[0].End.Equal(start.Add(90*time.Minute)) {
		t.Errorf("fake activations = %+v", act)
	}
}

func TestGrantRetriedWithTheSameRequestIDIsIdempotent(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	req := request("01REQ-RETRY", contributorTarget(), time.Hour)
	// The first PUT gets through but its answer is lost (a 503 after the
	// fact is what a retrying client sees); azcore retries the same name.
	g1, err := p.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	f.Fail(fakeazure.Fault{Op: fakeazure.OpCreateRequest, Code: "ServiceUnavailable", Status: 503})
	p2 := newProvider(t, f, aliceClient, aliceSecret, nil)
	g2, err := p2.Grant(context.Background(), req)
	if err != nil {
		t.Fatalf("retried Grant: %v", err)
	}
	if g1.Refs[RefRequestName] != g2.Refs[RefRequestName] {
		t.Errorf("request names differ: %s vs %s", g1.Refs[RefRequestName], g2.Refs[RefRequestName])
	}
	if n := len(f.Active()); n != 1 {
		t.Errorf("%d activations, want 1", n)
	}
	if n := len(f.CallsFor(fakeazure.OpCreateRequest)); n != 3 {
		t.Errorf("%d PUTs, want 3 (one, then a 503 retried by azcore)", n)
	}
}

func TestActivationNameIsStableAndAGUID(t *testing.T) {
	a, b := ActivationName("01ABC"), ActivationName("01ABC")
	if a != b || !IsGUID(a) || a == ActivationName("01ABD") {
		t.Fatalf("ActivationName: %q %q %q", a, b, ActivationName("01ABD"))
	}
	if a[14] != '5' {
		t.Errorf("%s is not a version-5 UUID", a)
	}
	// Pinned (computed independently with Python's uuid.uuid5): a changed
	// namespace would give a retried elevation a new PIM request.
	if got := ActivationName("01J0000000000000000000000A"); got != "4080d6c3-9760-5a94-9789-3b1b1a41acb2" {
		t.Errorf("ActivationName = %s; the name derivation changed", got)
	}
	if n := newRequestName(); !IsGUID(n) || n == newRequestName() || n[14] != '4' {
		t.Errorf("newRequestName = %s", n)
	}
}

func TestGrantByRoleDefinitionIDAtAResourceGroup(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	tg := target("rg-read", &TargetSpec{Scope: rgScope, RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/" + readerGUID})
	g, err := p.Grant(context.Background(), request("01REQ-RG", tg, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if g.Refs[RefRole] != "Reader" || g.Refs[RefScope] != rgScope {
		t.Errorf("refs = %v", g.Refs)
	}
	if !f.IsActive(aliceOID, rgScope, readerGUID) {
		t.Error("Reader is not active at the resource group")
	}
}

func TestGrantWithoutEligibilityIsDeniedWithAHint(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	tests := []struct {
		name string
		spec *TargetSpec
		hint string
	}{
		{"role never eligible", &TargetSpec{Scope: subScope, Role: "Owner"},
			"you are not eligible for Owner at " + subScope + "; ask for a PIM eligible assignment"},
		{"eligible at the subscription, not the group", &TargetSpec{Scope: rgScope, Role: "Contributor"},
			"you are eligible for Contributor at " + subScope + ", not at " + rgScope},
		{"other subscription", &TargetSpec{Scope: "/subscriptions/" + otherSub, Role: "Contributor"}, "you are not eligible"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Grant(context.Background(), request("01REQ-DENIED", target("x", tt.spec), time.Hour))
			pe := kindOf(t, err)
			if pe.Kind != providers.KindDenied || pe.Code != "NotEligible" || !strings.Contains(pe.Hint, tt.hint) {
				t.Errorf("error %v kind %s code %s hint %q; want denied with %q", err, pe.Kind, pe.Code, pe.Hint, tt.hint)
			}
		})
	}
	if n := len(f.CallsFor(fakeazure.OpCreateRequest)); n != 0 {
		t.Errorf("%d activation requests sent for targets without eligibility", n)
	}
}

func TestPIMRefusalsAreClassified(t *testing.T) {
	tests := []struct {
		name     string
		client   [2]string
		spec     *TargetSpec
		req      func(*providers.Request)
		kind     providers.Kind
		code     string
		hint     string
		noCreate bool
	}{
		{name: "duration above the role's maximum", client: [2]string{aliceClient, aliceSecret},
			spec: &TargetSpec{Scope: subScope, Role: "Contributor"}, req: func(r *providers.Request) { r.Duration = 5 * time.Hour },
			kind: providers.KindInvalid, code: "RoleAssignmentRequestPolicyValidationFailed",
			hint: "PIM allows at most 4h for Contributor at " + subScope + "; ask for --for 4h or less"},
		{name: "ticket required", client: [2]string{aliceClient, aliceSecret},
			spec: &TargetSpec{Scope: rgScope, Role: "Reader"}, req: func(r *providers.Request) { r.Ticket = "" },
			kind: providers.KindInvalid, code: "RoleAssignmentRequestPolicyValidationFailed", hint: "pass --ticket"},
		{name: "several rules at once", client: [2]string{aliceClient, aliceSecret},
			spec: &TargetSpec{Scope: rgScope, Role: "Reader"}, req: func(r *providers.Request) { r.Ticket = ""; r.Duration = 3 * time.Hour },
			kind: providers.KindInvalid, code: "RoleAssignmentRequestPolicyValidationFailed",
			hint: "PIM allows at most 2h for Reader at " + rgScope + "; ask for --for 2h or less; PIM requires ticket information for this role: pass --ticket"},
		{name: "mfa required", client: [2]string{aliceClient, aliceSecret},
			spec: &TargetSpec{Scope: mgScope, Role: "Owner"},
			kind: providers.KindAuth, code: "RoleAssignmentRequestPolicyValidationFailed", hint: "sign in again with MFA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := startFake(t, nil)
			p := newProvider(t, f, tt.client[0], tt.client[1], nil)
			req := request("01REQ-POLICY", target("x", tt.spec), time.Hour)
			if tt.req != nil {
				tt.req(&req)
			}
			g, err := p.Grant(context.Background(), req)
			if err == nil {
				t.Fatalf("Grant succeeded: %+v", g)
			}
			pe := kindOf(t, err)
			if pe.Kind != tt.kind || pe.Code != tt.code || !strings.Contains(pe.Hint, tt.hint) {
				t.Errorf("kind %s code %s hint %q; want %s %s %q (error %v)", pe.Kind, pe.Code, pe.Hint, tt.kind, tt.code, tt.hint, err)
			}
			if len(f.Active()) != 0 {
				t.Error("an activation exists after a refusal")
			}
		})
	}
}

func TestMFASignInPassesTheMFARule(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, bobClient, bobSecret, nil)
	if _, err := p.Grant(context.Background(), request("01REQ-MFA", target("mg", &TargetSpec{Scope: mgScope, Role: "Owner"}), time.Hour)); err != nil {
		t.Fatalf("Grant with an MFA token: %v", err)
	}
}

func TestManagementGroupGrantSetsNoSubscription(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, bobClient, bobSecret, nil)
	g, err := p.Grant(context.Background(), request("01REQ-MG", target("mg", &TargetSpec{Scope: mgScope, Role: "Owner"}), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Env) != 0 {
		t.Errorf("env %v; a management group scope names no subscription", g.Env)
	}
	// Asked again for less than is left: PIM says the role is active,
	// and jit cannot honestly report a shorter window.
	_, err = p.Grant(context.Background(), request("01REQ-MG2", target("mg", &TargetSpec{Scope: mgScope, Role: "Owner"}), 30*time.Minute))
	if pe := kindOf(t, err); pe.Kind != providers.KindConflict || !strings.Contains(pe.Hint, "is already active at "+mgScope+" until") {
		t.Fatalf("second activation of an active role ending later: %v (%q)", err, pe.Hint)
	}
	// Asked for more: the existing activation is reported, with the
	// configured subscription.
	g2, err := p.Grant(context.Background(), request("01REQ-MG3", target("mg", &TargetSpec{Scope: mgScope, Role: "Owner", Subscription: otherSub}), 2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !g2.NotAfter.Equal(g.NotAfter) || g2.Refs[RefReused] != "true" || len(g2.Env) != 2 || g2.Env[0].Value != otherSub {
		t.Errorf("reused grant %+v, first %+v", g2, g)
	}
}

func TestPendingApprovalThenApproved(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	tg := target("kv", &TargetSpec{Scope: subScope, Role: approvalRole})
	req := request("01REQ-PENDING", tg, time.Hour)
	g, err := p.Grant(context.Background(), req)
	if err == nil {
		t.Fatalf("Grant = %+v, want pending", g)
	}
	pe := kindOf(t, err)
	if pe.Kind != providers.KindPending || pe.Code != "PendingApproval" {
		t.Fatalf("kind %s code %s: %v", pe.Kind, pe.Code, err)
	}
	name := ActivationName(req.ID)
	if pe.Refs[RefRequestName] != name || pe.Refs[RefScope] != subScope || !strings.Contains(pe.Refs[RefApprovalID], "/roleAssignmentApprovals/") {
		t.Errorf("refs = %v", pe.Refs)
	}
	if !strings.Contains(pe.Hint, PortalActivationsURL) || !strings.Contains(pe.Hint, "jit does not wait") {
		t.Errorf("hint = %q", pe.Hint)
	}
	if len(f.Active()) != 0 {
		t.Fatal("active before approval")
	}
	st, err := p.RequestStatus(context.Background(), pe.Refs)
	if err != nil || st != "PendingApproval" {
		t.Fatalf("RequestStatus = %q, %v", st, err)
	}
	// The same elevation again while pending: PIM refuses a second request.
	_, err = p.Grant(context.Background(), request("01REQ-PENDING-2", tg, time.Hour))
	if pe := kindOf(t, err); pe.Kind != providers.KindConflict || !strings.Contains(pe.Hint, "already awaits approval") {
		t.Errorf("second request while pending: %v", err)
	}

	if err := f.Approve(name); err != nil {
		t.Fatal(err)
	}
	st, err = p.RequestStatus(context.Background(), pe.Refs)
	if err != nil || st != "Provisioned" {
		t.Fatalf("after approval RequestStatus = %q, %v", st, err)
	}
	if !f.IsActive(aliceOID, subScope, pe.Refs[RefRoleDefinitionID]) {
		t.Error("not active after approval")
	}
	// Asking again now that it is active and ends within the new window
	// reports that activation honestly.
	again, err := p.Grant(context.Background(), request("01REQ-AFTER", tg, 2*time.Hour))
	if err != nil {
		t.Fatalf("Grant after approval: %v", err)
	}
	act := f.Active()[0]
	if !again.NotAfter.Equal(act.End) || again.Refs[RefReused] != "true" || again.Refs[RefRequestName] != "" {
		t.Errorf("reused grant %+v; fake activation ends %s", again, act.End)
	}
}

func TestRevokeCancelsAPendingRequest(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	req := request("01REQ-CANCEL", target("kv", &TargetSpec{Scope: subScope, Role: approvalRole}), time.Hour)
	_, err := p.Grant(context.Background(), req)
	pe := kindOf(t, err)
	if pe.Kind != providers.KindPending {
		t.Fatalf("want pending: %v", err)
	}
	// The elevation service records a pending grant with the error's refs.
	rec := &providers.Grant{RequestID: req.ID, Target: "kv", Provider: ProviderName, Refs: pe.Refs, Revocable: true}
	if err := p.Revoke(context.Background(), rec); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if n := len(f.CallsFor(fakeazure.OpCancelRequest)); n != 1 {
		t.Errorf("%d cancel calls, want 1", n)
	}
	if st, _ := p.RequestStatus(context.Background(), pe.Refs); st != "Canceled" {
		t.Errorf("status after revoke = %q", st)
	}
	if err := f.Approve(ActivationName(req.ID)); err == nil {
		t.Error("a cancelled request could still be approved")
	}
	// Revoking again: nothing left to do.
	if err := p.Revoke(context.Background(), rec); err != nil {
		t.Errorf("second Revoke: %v", err)
	}
	if n := len(f.CallsFor(fakeazure.OpCreateRequest)); n != 1 {
		t.Errorf("%d PUTs; revoking a cancelled request must not deactivate anything", n)
	}
}

func TestRevokeWithinFiveMinutesIsRefusedThenWorks(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	g, err := p.Grant(context.Background(), request("01REQ-REVOKE", contributorTarget(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rec := &providers.Grant{RequestID: g.RequestID, Target: g.Target, Provider: g.Provider, Principal: g.Principal,
		NotBefore: g.NotBefore, NotAfter: g.NotAfter, Refs: g.Refs, Revocable: true}
	err = p.Revoke(context.Background(), rec)
	pe := kindOf(t, err)
	retry := g.NotBefore.Add(5 * time.Minute).UTC().Format(time.RFC3339)
	want := "Azure does not allow deactivating in the first 5 minutes after activation; try again after " + retry +
		", or it ends at " + g.NotAfter.UTC().Format(time.RFC3339)
	if pe.Kind != providers.KindInvalid || pe.Code != "ActiveDurationTooShort" || pe.Hint != want {
		t.Errorf("kind %s code %s hint %q\nwant hint %q", pe.Kind, pe.Code, pe.Hint, want)
	}
	if !f.IsActive(aliceOID, subScope, contributor) {
		t.Fatal("refused deactivation ended the activation")
	}
	f.Advance(6 * time.Minute)
	if err := p.Revoke(context.Background(), rec); err != nil {
		t.Fatalf("Revoke after 6 minutes: %v", err)
	}
	if f.IsActive(aliceOID, subScope, contributor) {
		t.Error("still active after Revoke")
	}
	// The deactivation request, as sent.
	creates := f.CallsFor(fakeazure.OpCreateRequest)
	var body struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(creates[len(creates)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Properties["requestType"] != "SelfDeactivate" || body.Properties["principalId"] != aliceOID ||
		body.Properties["roleDefinitionId"] != g.Refs[RefRoleDefinitionID] || body.Properties["scheduleInfo"] != nil {
		t.Errorf("deactivation body = %v", body.Properties)
	}
	if strings.HasSuffix(creates[len(creates)-1].Path, g.Refs[RefRequestName]) {
		t.Error("the deactivation reused the activation's request name")
	}
	// Already ended: not an error, and no call beyond the status check.
	if err := p.Revoke(context.Background(), rec); err != nil {
		t.Errorf("Revoke of an ended grant: %v", err)
	}
}

func TestRevokeAfterExpiryCallsNothing(t *testing.T) {
	f, c := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, func(o *Options) { o.Now = c.Now })
	g, err := p.Grant(context.Background(), request("01REQ-EXPIRE", contributorTarget(), 30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	f.Advance(31 * time.Minute)
	if f.IsActive(aliceOID, subScope, contributor) {
		t.Fatal("the fake did not expire the activation")
	}
	c.mu.Lock()
	c.t = c.t.Add(31 * time.Minute)
	c.mu.Unlock()
	f.ResetCalls()
	if err := p.Revoke(context.Background(), g); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("Revoke of an expired grant called %v", calls)
	}
}

func TestRevokeOfARoleNoLongerActiveIsNotAnError(t *testing.T) {
	f, _ := startFake(t, func(c *fakeazure.Config) { c.AllowImmediateDeactivation = true })
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	g, err := p.Grant(context.Background(), request("01REQ-GONE", contributorTarget(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Someone deactivated it in the portal meanwhile: PIM answers
	// RoleAssignmentDoesNotExist to jit's deactivation.
	other := newProvider(t, f, aliceClient, aliceSecret, nil)
	rec := *g
	delete(rec.Refs, RefRequestName)
	if err := other.Revoke(context.Background(), &rec); err != nil {
		t.Fatal(err)
	}
	if err := p.Revoke(context.Background(), &rec); err != nil {
		t.Fatalf("Revoke after the role ended: %v", err)
	}
	last := f.CallsFor(fakeazure.OpCreateRequest)
	if got := last[len(last)-1].ErrorCode; got != "RoleAssignmentDoesNotExist" {
		t.Errorf("last PUT answered %q, want RoleAssignmentDoesNotExist", got)
	}
}

func TestRevokeNeedsItsReferences(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	err := p.Revoke(context.Background(), &providers.Grant{RequestID: "x", Refs: map[string]string{RefScope: subScope}})
	if pe := kindOf(t, err); pe.Kind != providers.KindInvalid {
		t.Errorf("kind = %s", pe.Kind)
	}
}

func TestProvisioningIsPolled(t *testing.T) {
	f, _ := startFake(t, func(c *fakeazure.Config) { c.ProvisioningPolls = 3 })
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	g, err := p.Grant(context.Background(), request("01REQ-POLL", contributorTarget(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if g.Refs[RefStatus] != "Provisioned" {
		t.Errorf("status = %s", g.Refs[RefStatus])
	}
	if n := len(f.CallsFor(fakeazure.OpGetRequest)); n != 3 {
		t.Errorf("%d polls, want 3", n)
	}
}

func TestProvisioningPollGivesUp(t *testing.T) {
	f, _ := startFake(t, func(c *fakeazure.Config) { c.ProvisioningPolls = 1000 })
	p := newProvider(t, f, aliceClient, aliceSecret, func(o *Options) { o.PollTimeout = 30 * time.Millisecond })
	_, err := p.Grant(context.Background(), request("01REQ-SLOW", contributorTarget(), time.Hour))
	if pe := kindOf(t, err); pe.Kind != providers.KindTransient || pe.Code != "PendingProvisioning" {
		t.Errorf("kind %s code %s", pe.Kind, pe.Code)
	}
}

func TestDeniedByApproverIsDenied(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	req := request("01REQ-DENY", target("kv", &TargetSpec{Scope: subScope, Role: approvalRole}), time.Hour)
	_, err := p.Grant(context.Background(), req)
	pe := kindOf(t, err)
	if err := f.Deny(ActivationName(req.ID)); err != nil {
		t.Fatal(err)
	}
	if st, err := p.RequestStatus(context.Background(), pe.Refs); st != "Denied" || err != nil {
		t.Errorf("status %q, %v", st, err)
	}
	// Revoking a denied request does nothing and succeeds.
	if err := p.Revoke(context.Background(), &providers.Grant{RequestID: req.ID, Refs: pe.Refs}); err != nil {
		t.Errorf("Revoke: %v", err)
	}
	if n := len(f.CallsFor(fakeazure.OpCancelRequest)) + len(f.CallsFor(fakeazure.OpCreateRequest)); n != 1 {
		t.Errorf("%d cancel/create calls, want only the activation", n)
	}
}

func TestEligibleListsTenantWide(t *testing.T) {
	f, _ := startFake(t, func(c *fakeazure.Config) {
		c.PageSize = 2
		c.Eligibilities = append(c.Eligibilities, fakeazure.Eligibility{PrincipalID: aliceOID, Scope: rgScope, Role: "Old", EndsAt: c.Now().Add(-time.Hour)})
	})
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	got, err := p.Eligible(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Scope+" "+r.Role)
		if !strings.Contains(r.RoleID, "/providers/Microsoft.Authorization/roleDefinitions/") {
			t.Errorf("role id %q", r.RoleID)
		}
	}
	want := []string{mgScope + " Owner", subScope + " Contributor", subScope + " " + approvalRole, rgScope + " Reader"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("eligible = %q\nwant %q", names, want)
	}
	if got[0].Description != "platform, via group" {
		t.Errorf("description = %q", got[0].Description)
	}
	lists := f.CallsFor(fakeazure.OpListEligibility)
	if len(lists) != 2 || lists[0].Path != "/providers/Microsoft.Authorization/roleEligibilityScheduleInstances" ||
		!strings.Contains(lists[0].Query, "asTarget") {
		t.Errorf("list calls = %+v", lists)
	}
}

func TestMaxDurationReadsThePIMSetting(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	d, why := p.MaxDuration(context.Background(), contributorTarget(), providers.Principal{})
	if d != 4*time.Hour || !strings.Contains(why, "Contributor at "+subScope) {
		t.Errorf("MaxDuration = %s, %q", d, why)
	}
	// Memoised, and the Grant after it reuses the eligibility listing.
	if _, _ = p.MaxDuration(context.Background(), contributorTarget(), providers.Principal{}); len(f.CallsFor(fakeazure.OpListPolicies)) != 1 {
		t.Error("policy read twice")
	}
	if _, err := p.Grant(context.Background(), request("01REQ-MAX", contributorTarget(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.CallsFor(fakeazure.OpListEligibility)); n != 1 {
		t.Errorf("%d eligibility listings, want 1", n)
	}
	if d, _ := p.MaxDuration(context.Background(), target("x", &TargetSpec{Scope: subScope, Role: "Owner"}), providers.Principal{}); d != 0 {
		t.Errorf("MaxDuration for a role without eligibility = %s", d)
	}
}

func TestArmErrorsAreClassified(t *testing.T) {
	tests := []struct {
		fault fakeazure.Fault
		kind  providers.Kind
		hint  string
	}{
		{fakeazure.Fault{Op: fakeazure.OpListEligibility, Code: "AuthorizationFailed", Count: 5}, providers.KindDenied, "Azure refused"},
		{fakeazure.Fault{Op: fakeazure.OpListEligibility, Code: "TooManyRequests", Count: 5, RetryAfter: 0}, providers.KindThrottled, "rate limiting"},
		{fakeazure.Fault{Op: fakeazure.OpListEligibility, Code: "InternalServerError", Count: 5}, providers.KindTransient, "failing at https://127.0.0.1"},
		{fakeazure.Fault{Op: fakeazure.OpListEligibility, Code: "ExpiredAuthenticationToken", Count: 5}, providers.KindAuth, "az login"},
		{fakeazure.Fault{Op: fakeazure.OpCreateRequest, Code: "RoleAssignmentRequestAcrsValidationFailed", Count: 1}, providers.KindAuth, "Conditional Access"},
		{fakeazure.Fault{Op: fakeazure.OpCreateRequest, Code: "SubscriptionNotFound", Status: 404}, providers.KindNotFound, "check the target's scope"},
		{fakeazure.Fault{Op: fakeazure.OpCreateRequest, Code: "Conflict", Status: 409}, providers.KindConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Code, func(t *testing.T) {
			f, _ := startFake(t, nil)
			p := newProvider(t, f, aliceClient, aliceSecret, nil)
			f.Fail(tt.fault)
			_, err := p.Grant(context.Background(), request("01REQ-ERR", contributorTarget(), time.Hour))
			pe := kindOf(t, err)
			if pe.Kind != tt.kind || pe.Code != tt.fault.Code || !strings.Contains(pe.Hint, tt.hint) || pe.Op == "" {
				t.Errorf("kind %s code %q hint %q op %q; want %s %s %q", pe.Kind, pe.Code, pe.Hint, pe.Op, tt.kind, tt.fault.Code, tt.hint)
			}
			var re *azcore.ResponseError
			if !errors.As(err, &re) {
				t.Error("the SDK's ResponseError is not reachable through Unwrap")
			}
			if !strings.Contains(err.Error(), "correlation id") {
				t.Errorf("error %q names no correlation id", err)
			}
		})
	}
}

func TestThrottlingIsRetriedHonouringRetryAfter(t *testing.T) {
	f, _ := startFake(t, nil)
	// azcore gives up on a Retry-After beyond MaxRetryDelay.
	p := newProvider(t, f, aliceClient, aliceSecret, func(o *Options) { o.Retry.MaxRetryDelay = 2 * time.Second })
	f.Fail(fakeazure.Fault{Op: fakeazure.OpCreateRequest, Code: "TooManyRequests", RetryAfter: 1})
	start := time.Now()
	if _, err := p.Grant(context.Background(), request("01REQ-429", contributorTarget(), time.Hour)); err != nil {
		t.Fatalf("Grant after one 429: %v", err)
	}
	if time.Since(start) < time.Second {
		t.Error("the retry did not wait for Retry-After")
	}
}

func TestExpiredTokenIsAuth(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	if _, err := p.WhoAmI(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.ExpireTokens()
	_, err := p.Grant(context.Background(), request("01REQ-EXP", contributorTarget(), time.Hour))
	if pe := kindOf(t, err); pe.Kind != providers.KindAuth || pe.Code != "ExpiredAuthenticationToken" {
		t.Errorf("kind %s code %s", pe.Kind, pe.Code)
	}
}

func TestSignInFailuresAreAuthWithoutSecrets(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, "wrong-secret", nil)
	_, err := p.WhoAmI(context.Background())
	pe := kindOf(t, err)
	if pe.Kind != providers.KindAuth || pe.Code != "AuthenticationFailed" || !strings.Contains(pe.Hint, "az login") {
		t.Errorf("kind %s code %s hint %q", pe.Kind, pe.Code, pe.Hint)
	}
	if !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error = %q", err)
	}
	_, err = p.Grant(context.Background(), request("01REQ-AUTH", contributorTarget(), time.Hour))
	if providers.KindOf(err) != providers.KindAuth {
		t.Errorf("Grant: %v", err)
	}
}

func TestNoCredentialIsAuth(t *testing.T) {
	isolate(t)
	f, _ := startFake(t, nil)
	// The default chain narrowed to the environment credential, with no
	// AZURE_* variables: nothing to sign in with.
	p, err := New(Options{Endpoint: f.URL(), CACertPEM: f.CertPEM(), AuthorityHost: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.WhoAmI(context.Background())
	if pe := kindOf(t, err); pe.Kind != providers.KindAuth || pe.Code != "NoCredentials" {
		t.Errorf("kind %s code %s: %v", pe.Kind, pe.Code, err)
	}
	if len(f.Calls()) != 0 {
		t.Errorf("calls without credentials: %v", f.Calls())
	}
}

func TestWhoAmIFromTheToken(t *testing.T) {
	tests := []struct {
		client, secret string
		want           providers.Principal
	}{
		{aliceClient, aliceSecret, providers.Principal{ID: aliceUPN, Source: PrincipalSource, Account: tenantID,
			Aliases: []string{aliceOID, aliceMail},
			Claims:  map[string]any{"oid": aliceOID, "tid": tenantID, "upn": aliceUPN, "appid": aliceClient, "idtyp": "user"}}},
		{ciClient, ciSecret, providers.Principal{ID: ciOID, Source: PrincipalSource, Account: tenantID,
			Aliases: []string{ciClient},
			Claims:  map[string]any{"oid": ciOID, "tid": tenantID, "upn": "", "appid": ciClient, "idtyp": "app"}}},
	}
	for _, tt := range tests {
		t.Run(tt.want.ID, func(t *testing.T) {
			f, _ := startFake(t, nil)
			p := newProvider(t, f, tt.client, tt.secret, nil)
			got, err := p.WhoAmI(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Errorf("WhoAmI = %s\nwant      %s", gj, wj)
			}
			// One token serves WhoAmI and the ARM calls after it.
			if _, err := p.Eligible(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(f.CallsFor(fakeazure.OpToken)); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}
}

// TestDefaultCredentialAgainstTheFakeEntraID drives azidentity's own
// default chain (its environment credential, AZURE_* variables) through
// the provider's Options, as `jit dev` would.
func TestDefaultCredentialAgainstTheFakeEntraID(t *testing.T) {
	isolate(t)
	f, _ := startFake(t, nil)
	t.Setenv("AZURE_TENANT_ID", f.TenantID())
	t.Setenv("AZURE_CLIENT_ID", aliceClient)
	t.Setenv("AZURE_CLIENT_SECRET", aliceSecret)
	t.Setenv("AZURE_AUTHORITY_HOST", f.URL())
	p, err := New(Options{Endpoint: f.URL(), CACertPEM: f.CertPEM()})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Calls()) != 0 {
		t.Fatalf("New made calls: %v", f.Calls())
	}
	who, err := p.WhoAmI(context.Background())
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	if who.ID != aliceUPN {
		t.Errorf("WhoAmI = %+v", who)
	}
	if _, err := p.Grant(context.Background(), request("01REQ-DEFAULT", contributorTarget(), time.Hour)); err != nil {
		t.Fatalf("Grant: %v", err)
	}
}

// TestSSLCertFileIsHonoured checks, in a child process (Go reads the
// system roots once per process), that SSL_CERT_FILE makes azcore's and
// azidentity's default transport trust the fake: the way `jit dev` can
// hand the fake's certificate to child jit processes without any option.
func TestSSLCertFileIsHonoured(t *testing.T) {
	if os.Getenv("JIT_AZURE_SSL_HELPER") == "1" {
		sslCertFileHelper(t)
		return
	}
	isolate(t)
	f, _ := startFake(t, nil)
	pemFile := filepath.Join(t.TempDir(), "fake-ca.pem")
	if err := os.WriteFile(pemFile, f.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSSLCertFileIsHonoured$", "-test.v")
	cmd.Env = append(os.Environ(), "JIT_AZURE_SSL_HELPER=1", "SSL_CERT_FILE="+pemFile, "SSL_CERT_DIR=/nonexistent",
		"JIT_AZURE_FAKE_URL="+f.URL(), "AZURE_TENANT_ID="+f.TenantID(), "AZURE_CLIENT_ID="+aliceClient,
		"AZURE_CLIENT_SECRET="+aliceSecret, "AZURE_AUTHORITY_HOST="+f.URL())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "helper: alice@example.com eligible 4") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	// And without SSL_CERT_FILE the same child refuses the fake's
	// certificate.
	cmd = exec.Command(os.Args[0], "-test.run=^TestSSLCertFileIsHonoured$", "-test.v")
	cmd.Env = append(os.Environ(), "JIT_AZURE_SSL_HELPER=1", "SSL_CERT_FILE=/nonexistent", "SSL_CERT_DIR=/nonexistent",
		"JIT_AZURE_FAKE_URL="+f.URL(), "AZURE_TENANT_ID="+f.TenantID(), "AZURE_CLIENT_ID="+aliceClient,
		"AZURE_CLIENT_SECRET="+aliceSecret, "AZURE_AUTHORITY_HOST="+f.URL())
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate") {
		t.Fatalf("helper trusted the fake without SSL_CERT_FILE: %v\n%s", err, out)
	}
}

func sslCertFileHelper(t *testing.T) {
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
	p, err := New(Options{Endpoint: os.Getenv("JIT_AZURE_FAKE_URL"), Retry: policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	who, err := p.WhoAmI(context.Background())
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	roles, err := p.Eligible(context.Background())
	if err != nil {
		t.Fatalf("Eligible: %v", err)
	}
	t.Logf("helper: %s eligible %d", who.ID, len(roles))
}

func TestNewRefusesPlainHTTPAndBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Endpoint: "http://127.0.0.1:1234"},
		{AuthorityHost: "http://127.0.0.1:1234"},
		{Endpoint: "not a url"},
		{Cloud: "Mars"},
		{CACertPEM: []byte("junk")},
		{CACertPEM: []byte("junk"), HTTPClient: http.DefaultClient},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	p, err := New(Options{Cloud: "AzureChina"})
	if err != nil || p.endpoint != "https://management.chinacloudapi.cn" || p.Endpoint() != "" {
		t.Errorf("AzureChina: %v %+v", err, p)
	}
}

func TestGrantChecksItsInput(t *testing.T) {
	f, _ := startFake(t, nil)
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	for _, req := range []providers.Request{
		{ID: "x", Target: providers.Target{Name: "t"}, Duration: time.Hour},
		{ID: "x", Target: target("t", &TargetSpec{Scope: "/subscriptions/nope", Role: "Reader"}), Duration: time.Hour},
		{ID: "", Target: contributorTarget(), Duration: time.Hour},
		{ID: "x", Target: contributorTarget(), Duration: 500 * time.Millisecond},
	} {
		_, err := p.Grant(context.Background(), req)
		if pe := kindOf(t, err); pe.Kind != providers.KindInvalid {
			t.Errorf("Grant(%+v): kind %s", req, pe.Kind)
		}
	}
	if len(f.Calls()) != 0 {
		t.Errorf("invalid requests made calls: %v", f.Calls())
	}
}

func TestJustification(t *testing.T) {
	long := strings.Repeat("é", 600)
	tests := []struct {
		req  providers.Request
		want string
	}{
		{providers.Request{ID: "R1", Reason: "fix  prod\n now"}, "fix prod now [jit R1]"},
		{providers.Request{ID: "R1", Reason: "x", Ticket: "INC-1"}, "x (ticket INC-1) [jit R1]"},
		{providers.Request{ID: "R1"}, "[jit R1]"},
	}
	for _, tt := range tests {
		if got := justification(tt.req); got != tt.want {
			t.Errorf("justification(%+v) = %q, want %q", tt.req, got, tt.want)
		}
	}
	got := justification(providers.Request{ID: "R2", Reason: long})
	if n := len([]rune(got)); n != maxJustification || !strings.HasSuffix(got, "[jit R2]") {
		t.Errorf("long justification: %d runes, %q…", n, got[len(got)-20:])
	}
}

func TestRevokeWithARequestPIMDoesNotKnowDeactivates(t *testing.T) {
	f, _ := startFake(t, func(c *fakeazure.Config) { c.AllowImmediateDeactivation = true })
	p := newProvider(t, f, aliceClient, aliceSecret, nil)
	g, err := p.Grant(context.Background(), request("01REQ-UNKNOWN", contributorTarget(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rec := *g
	rec.Refs = map[string]string{}
	for k, v := range g.Refs {
		rec.Refs[k] = v
	}
	rec.Refs[RefRequestName] = "00000000-0000-4000-8000-00000000dead"
	if err := p.Revoke(context.Background(), &rec); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if f.IsActive(aliceOID, subScope, contributor) {
		t.Error("still active")
	}
	if gets := f.CallsFor(fakeazure.OpGetRequest); len(gets) != 1 || gets[0].ErrorCode != "RoleAssignmentScheduleRequestNotFound" {
		t.Errorf("status check = %+v", gets)
	}
}

func TestFailedStatuses(t *testing.T) {
	for s, k := range map[string]providers.Kind{"Denied": providers.KindDenied, "AdminDenied": providers.KindDenied, "TimedOut": providers.KindTransient,
		"Invalid": providers.KindInvalid, "FailedAsResourceIsLocked": providers.KindConflict, "Failed": providers.KindUnknown} {
		if got := kindOfFailedStatus(s); got != k {
			t.Errorf("kindOfFailedStatus(%s) = %s, want %s", s, got, k)
		}
		if failedStatusHint(s) == "" {
			t.Errorf("no hint for %s", s)
		}
	}
	for _, s := range []string{"Provisioned", "Granted", "ScheduleCreated", "Accepted"} {
		if !isGranted(s) || isAwaitingApproval(s) || isProvisioning(s) {
			t.Errorf("%s misread", s)
		}
	}
	for _, s := range []string{"PendingApproval", "PendingApprovalProvisioning", "PendingAdminDecision"} {
		if !isAwaitingApproval(s) || isGranted(s) || isProvisioning(s) {
			t.Errorf("%s misread", s)
		}
	}
}
