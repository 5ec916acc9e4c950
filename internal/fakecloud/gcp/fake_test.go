package gcp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	credentialspb "cloud.google.com/go/iam/credentials/apiv1/credentialspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	pampb "cloud.google.com/go/privilegedaccessmanager/apiv1/privilegedaccessmanagerpb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	alice    = "alice@example.com"
	aliceTok = "alice-token"
	bob      = "bob@example.com"
	bobTok   = "bob-token"
	carol    = "carol@example.com"
	carolTok = "carol-token"
	sa       = "deployer@p1-proj.iam.gserviceaccount.com"
	proj     = "projects/p1-proj"
	ent      = "projects/p1-proj/locations/global/entitlements/admin"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func testConfig(c *clock) Config {
	return Config{
		Identities: []Identity{{Email: alice, Token: aliceTok, RefreshToken: "alice-refresh"}, {Email: bob, Token: bobTok}, {Email: carol, Token: carolTok}},
		ServiceAccounts: []ServiceAccount{
			{Email: sa, TokenCreators: []string{alice}},
		},
		Policies: []Policy{{Resource: proj, Bindings: []Binding{
			{Role: "roles/resourcemanager.projectIamAdmin", Members: []string{"user:" + alice}},
			{Role: "roles/viewer", Members: []string{"user:" + bob, "serviceAccount:" + sa}},
		}}},
		Entitlements: []Entitlement{{Name: ent, Eligible: []string{alice}, Approvers: []string{carol}, Admins: []string{carol}, Role: "roles/compute.admin", MaxRequestDuration: 2 * time.Hour}},
		Now:          c.Now,
	}
}

func start(t *testing.T) (*Server, *clock, *grpc.ClientConn) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	s, err := New(testConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, c, conn
}

func as(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func wantCode(t *testing.T, err error, c codes.Code) {
	t.Helper()
	if status.Code(err) != c {
		t.Fatalf("error %v, want code %s", err, c)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"ok", "identities: [{email: a@example.com, token: t}]\npolicies: [{resource: projects/p1-proj}]\n", ""},
		{"non-loopback", "grpc_addr: 0.0.0.0:80\nidentities: []\n", "not a loopback"},
		{"unknown key", "identities: []\nfoo: 1\n", "foo"},
		{"no token", "identities: [{email: a@example.com}]\n", "needs a token"},
		{"shared token", "identities: [{email: a@example.com, token: t}, {email: b@example.com, token: t}]\n", "listed twice"},
		{"bad resource", "identities: []\npolicies: [{resource: buckets/x}]\n", "not a resource name"},
		{"basic role condition", "identities: []\npolicies: [{resource: projects/p1-proj, bindings: [{role: roles/owner, members: [user:a@example.com], condition: {title: t, expression: x}}]}]\n", "basic role"},
		{"bad entitlement", "identities: []\nentitlements: [{name: projects/p/entitlements/e, eligible: [a@example.com]}]\n", "not an entitlement"},
		{"bad sa", "identities: []\nservice_accounts: [{email: someone@example.com}]\n", "not a service account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("ParseConfig = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{HTTPAddr: "192.0.2.1:80"}); err == nil {
		t.Error("New listened on a non-loopback address")
	}
}

func TestAuthentication(t *testing.T) {
	s, c, conn := start(t)
	pc := resourcemanagerpb.NewProjectsClient(conn)
	req := &iampb.GetIamPolicyRequest{Resource: proj}
	_, err := pc.GetIamPolicy(context.Background(), req)
	wantCode(t, err, codes.Unauthenticated)
	_, err = pc.GetIamPolicy(as("forged"), req)
	wantCode(t, err, codes.Unauthenticated)
	if _, err := pc.GetIamPolicy(as(aliceTok), req); err != nil {
		t.Fatal(err)
	}
	tok := s.IssueToken(bob, time.Minute)
	if _, err := pc.GetIamPolicy(as(tok), req); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.t = c.t.Add(time.Minute)
	c.mu.Unlock()
	_, err = pc.GetIamPolicy(as(tok), req)
	wantCode(t, err, codes.Unauthenticated)
	calls := s.CallsFor("GetIamPolicy")
	if len(calls) != 5 || calls[2].Caller != alice || calls[2].TokenHash != TokenHash(aliceTok) || calls[0].Code != "Unauthenticated" {
		t.Errorf("calls %+v", calls)
	}
	for _, call := range s.Calls() {
		if strings.Contains(call.TokenHash, aliceTok) || strings.Contains(call.Message, aliceTok) {
			t.Error("the call log holds a token")
		}
	}
}

func TestIAMSemantics(t *testing.T) {
	s, c, conn := start(t)
	pc := resourcemanagerpb.NewProjectsClient(conn)
	ctx := as(aliceTok)
	get := func(v int32) *iampb.Policy {
		t.Helper()
		p, err := pc.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: proj, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: v}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	end := c.Now().Add(time.Hour).Format(time.RFC3339)
	cond := &expr.Expr{Title: "jit-1", Expression: `request.time < timestamp("` + end + `")`}

	// Conditions need version 3 on write.
	p := get(3)
	p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: cond})
	p.Version = 1
	_, err := pc.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: proj, Policy: p})
	wantCode(t, err, codes.InvalidArgument)
	// No conditions on basic roles.
	p = get(3)
	p.Version = 3
	p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/editor", Members: []string{"user:" + bob}, Condition: cond})
	_, err = pc.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: proj, Policy: p})
	wantCode(t, err, codes.InvalidArgument)
	// A proper write; the etag changes.
	p = get(3)
	old := p.Etag
	p.Version = 3
	p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: cond})
	np, err := pc.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: proj, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(np.Etag, old) || np.Version != 3 {
		t.Errorf("after write: etag %x (was %x), version %d", np.Etag, old, np.Version)
	}
	// A write with the old etag is a concurrent change.
	_, err = pc.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: proj, Policy: p})
	wantCode(t, err, codes.Aborted)
	// A version 1 read gets the lossy view; writing it back is refused.
	v1 := get(1)
	lossy := ""
	for _, b := range v1.Bindings {
		if b.Condition != nil {
			t.Errorf("v1 view has a condition: %v", b)
		}
		if strings.HasPrefix(b.Role, "roles/compute.admin_withcond_") {
			lossy = b.Role
		}
	}
	if lossy == "" || v1.Version != 1 {
		t.Fatalf("v1 view %v", v1)
	}
	_, err = pc.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: proj, Policy: v1})
	wantCode(t, err, codes.InvalidArgument)
	// Bob holds the conditional role until it expires.
	if !s.HasAccess(proj, "roles/compute.admin", "user:"+bob) {
		t.Error("bob lacks the conditional role")
	}
	c.mu.Lock()
	c.t = c.t.Add(time.Hour)
	c.mu.Unlock()
	if s.HasAccess(proj, "roles/compute.admin", "user:"+bob) {
		t.Error("the condition did not end the role")
	}
	// Bob (viewer) may read but not write.
	bp, err := pc.GetIamPolicy(as(bobTok), &iampb.GetIamPolicyRequest{Resource: proj, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pc.SetIamPolicy(as(bobTok), &iampb.SetIamPolicyRequest{Resource: proj, Policy: bp})
	wantCode(t, err, codes.PermissionDenied)
	if !strings.Contains(status.Convert(err).Message(), "resourcemanager.projects.setIamPolicy") {
		t.Errorf("denial %q", status.Convert(err).Message())
	}
	// Unknown resources look like missing permission, as in GCP.
	_, err = pc.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: "projects/nope-proj"})
	wantCode(t, err, codes.PermissionDenied)
	// A folder name sent to Projects is refused.
	_, err = pc.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: "folders/1"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestMergesIdenticalBindings(t *testing.T) {
	s, _, conn := start(t)
	pc := resourcemanagerpb.NewProjectsClient(conn)
	p, err := pc.GetIamPolicy(as(aliceTok), &iampb.GetIamPolicyRequest{Resource: proj})
	if err != nil {
		t.Fatal(err)
	}
	p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/viewer", Members: []string{"user:carol@example.com", "user:" + bob}})
	if _, err := pc.SetIamPolicy(as(aliceTok), &iampb.SetIamPolicyRequest{Resource: proj, Policy: p}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range s.Policy(proj).Bindings {
		if b.Role == "roles/viewer" {
			n++
			if len(b.Members) != 3 {
				t.Errorf("merged members %v", b.Members)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d roles/viewer bindings, want 1 (merged)", n)
	}
}

func TestGenerateAccessToken(t *testing.T) {
	s, _, conn := start(t)
	cc := credentialspb.NewIAMCredentialsClient(conn)
	name := "projects/-/serviceAccounts/" + sa
	scope := []string{"https://www.googleapis.com/auth/cloud-platform"}
	for _, tc := range []struct {
		name     string
		tok      string
		req      *credentialspb.GenerateAccessTokenRequest
		wantCode codes.Code
	}{
		{"not a creator", bobTok, &credentialspb.GenerateAccessTokenRequest{Name: name, Scope: scope}, codes.PermissionDenied},
		{"unknown sa", aliceTok, &credentialspb.GenerateAccessTokenRequest{Name: "projects/-/serviceAccounts/x@p1-proj.iam.gserviceaccount.com", Scope: scope}, codes.PermissionDenied},
		{"no scope", aliceTok, &credentialspb.GenerateAccessTokenRequest{Name: name}, codes.InvalidArgument},
		{"too long", aliceTok, &credentialspb.GenerateAccessTokenRequest{Name: name, Scope: scope, Lifetime: durationpb.New(2 * time.Hour)}, codes.InvalidArgument},
		{"bad name", aliceTok, &credentialspb.GenerateAccessTokenRequest{Name: sa, Scope: scope}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cc.GenerateAccessToken(as(tc.tok), tc.req)
			wantCode(t, err, tc.wantCode)
		})
	}
	resp, err := cc.GenerateAccessToken(as(aliceTok), &credentialspb.GenerateAccessTokenRequest{Name: name, Scope: scope, Lifetime: durationpb.New(20 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.ExpireTime.AsTime().Sub(s.Now()); got != 20*time.Minute {
		t.Errorf("token lives %s", got)
	}
	// The token authenticates as the service account (a viewer).
	pc := resourcemanagerpb.NewProjectsClient(conn)
	if _, err := pc.GetIamPolicy(as(resp.AccessToken), &iampb.GetIamPolicyRequest{Resource: proj}); err != nil {
		t.Fatal(err)
	}
	if c := s.CallsFor("GetIamPolicy"); c[len(c)-1].Caller != sa {
		t.Errorf("caller %q", c[len(c)-1].Caller)
	}
}

func TestPAMStateMachine(t *testing.T) {
	s, c, conn := start(t)
	pc := pampb.NewPrivilegedAccessManagerClient(conn)
	create := func(id string) (*pampb.Grant, error) {
		return pc.CreateGrant(as(aliceTok), &pampb.CreateGrantRequest{Parent: ent, RequestId: id, Grant: &pampb.Grant{RequestedDuration: durationpb.New(time.Hour)}})
	}
	_, err := create("not-a-uuid")
	wantCode(t, err, codes.InvalidArgument)
	_, err = pc.CreateGrant(as(bobTok), &pampb.CreateGrantRequest{Parent: ent, Grant: &pampb.Grant{RequestedDuration: durationpb.New(time.Hour)}})
	wantCode(t, err, codes.PermissionDenied)
	_, err = pc.CreateGrant(as(aliceTok), &pampb.CreateGrantRequest{Parent: ent, Grant: &pampb.Grant{RequestedDuration: durationpb.New(3 * time.Hour)}})
	wantCode(t, err, codes.InvalidArgument)
	id := "6b1f3e52-9c4d-4a81-8e27-5d0bc37194a6"
	g, err := create(id)
	if err != nil {
		t.Fatal(err)
	}
	if g.State != pampb.Grant_APPROVAL_AWAITED || g.Requester != alice {
		t.Fatalf("grant %v", g)
	}
	again, err := create(id)
	if err != nil || again.Name != g.Name {
		t.Errorf("same request id: %v, %v", again, err)
	}
	_, err = create("6b1f3e52-9c4d-4a81-8e27-5d0bc37194a7")
	wantCode(t, err, codes.FailedPrecondition) // one open grant per requester
	// Not active: cannot be revoked.
	_, err = pc.RevokeGrant(as(carolTok), &pampb.RevokeGrantRequest{Name: g.Name})
	wantCode(t, err, codes.FailedPrecondition)
	// The requester cannot approve; the approver can, over gRPC too.
	_, err = pc.ApproveGrant(as(aliceTok), &pampb.ApproveGrantRequest{Name: g.Name})
	wantCode(t, err, codes.PermissionDenied)
	ag, err := pc.ApproveGrant(as(carolTok), &pampb.ApproveGrantRequest{Name: g.Name, Reason: "ok"})
	if err != nil || ag.State != pampb.Grant_ACTIVE {
		t.Fatalf("approve: %v, %v", ag, err)
	}
	if !s.HasAccess(proj, "roles/compute.admin", "user:"+alice) {
		t.Error("no role binding while active")
	}
	// Revoke is a done long-running operation holding the grant.
	op, err := pc.RevokeGrant(as(carolTok), &pampb.RevokeGrantRequest{Name: g.Name, Reason: "done"})
	if err != nil || !op.Done {
		t.Fatalf("revoke: %v, %v", op, err)
	}
	var rg pampb.Grant
	if err := op.GetResponse().UnmarshalTo(&rg); err != nil || rg.State != pampb.Grant_REVOKED {
		t.Errorf("revoked grant %v, %v", &rg, err)
	}
	got, err := longrunningpb.NewOperationsClient(conn).GetOperation(as(carolTok), &longrunningpb.GetOperationRequest{Name: op.Name})
	if err != nil || !got.Done {
		t.Errorf("GetOperation: %v, %v", got, err)
	}
	if s.HasAccess(proj, "roles/compute.admin", "user:"+alice) {
		t.Error("role binding outlived the revoke")
	}
	// A new request, approved, ends on the clock.
	g2, err := create("6b1f3e52-9c4d-4a81-8e27-5d0bc37194a8")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Approve(g2.Name, carol); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.t = c.t.Add(time.Hour)
	c.mu.Unlock()
	gg, err := pc.GetGrant(as(aliceTok), &pampb.GetGrantRequest{Name: g2.Name})
	if err != nil || gg.State != pampb.Grant_ENDED {
		t.Errorf("after the duration: %v, %v", gg, err)
	}
	_, err = pc.GetGrant(as(bobTok), &pampb.GetGrantRequest{Name: g2.Name})
	wantCode(t, err, codes.PermissionDenied)
}

func post(t *testing.T, u string, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

func TestHTTPSurface(t *testing.T) {
	t.Setenv("NO_PROXY", "127.0.0.1")
	s, _, _ := start(t)
	// tokeninfo, by GET and by POST.
	code, m := do(t, must(http.NewRequest(http.MethodGet, s.TokenInfoURL()+"?access_token="+aliceTok, nil)))
	if code != 200 || m["email"] != alice {
		t.Errorf("tokeninfo GET: %d %v", code, m)
	}
	code, m = post(t, s.TokenInfoURL(), url.Values{"access_token": {"nope"}}, nil)
	if code != 400 || m["error"] != "invalid_token" {
		t.Errorf("tokeninfo of a bad token: %d %v", code, m)
	}
	// The token endpoint turns a refresh token into an access token.
	code, m = post(t, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"alice-refresh"}}, nil)
	tok, _ := m["access_token"].(string)
	if code != 200 || tok == "" {
		t.Fatalf("token: %d %v", code, m)
	}
	if info, ok := s.Token(tok); !ok || info.Email != alice || !info.Valid {
		t.Errorf("refreshed token %+v", info)
	}
	code, _ = post(t, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"stolen"}}, nil)
	if code != 400 {
		t.Errorf("bad refresh token: %d", code)
	}
	// REST getIamPolicy, as gcloud calls it: bearer required.
	body := `{"options":{"requestedPolicyVersion":3}}`
	for _, tc := range []struct {
		path, authz string
		want        int
	}{
		{"/v1/projects/p1-proj:getIamPolicy", "Bearer " + tok, 200},
		{"/v3/projects/p1-proj:getIamPolicy", "Bearer " + bobTok, 200},
		{"/v1/projects/p1-proj:getIamPolicy", "", 401},
		{"/v1/projects/p1-proj:getIamPolicy", "Bearer wrong", 401},
		{"/v1/projects/nope-proj:getIamPolicy", "Bearer " + tok, 403},
		{"/v1/projects/p1-proj:frobnicate", "Bearer " + tok, 404},
	} {
		req := must(http.NewRequest(http.MethodPost, s.HTTPURL()+tc.path, strings.NewReader(body)))
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		code, m := do(t, req)
		if code != tc.want {
			t.Errorf("%s with %q: %d %v, want %d", tc.path, tc.authz, code, m, tc.want)
		}
		if code == 200 && (m["etag"] == nil || m["bindings"] == nil) {
			t.Errorf("%s: policy %v", tc.path, m)
		}
		if code == 401 {
			e, _ := m["error"].(map[string]any)
			if e["status"] != "UNAUTHENTICATED" {
				t.Errorf("401 body %v", m)
			}
		}
	}
	// REST generateAccessToken (gcloud --impersonate-service-account).
	req := must(http.NewRequest(http.MethodPost, s.HTTPURL()+"/v1/projects/-/serviceAccounts/"+sa+":generateAccessToken",
		strings.NewReader(`{"scope":["https://www.googleapis.com/auth/cloud-platform"],"lifetime":"600s"}`)))
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	code, m = do(t, req)
	if at, _ := m["accessToken"].(string); code != 200 || at == "" || m["expireTime"] == nil {
		t.Errorf("generateAccessToken: %d %v", code, m)
	}
	// Admin endpoints.
	code, _ = post(t, s.HTTPURL()+"/_fake/fail", url.Values{"method": {"REST getIamPolicy"}, "code": {"UNAVAILABLE"}}, nil)
	if code != 204 {
		t.Errorf("fail: %d", code)
	}
	req = must(http.NewRequest(http.MethodPost, s.HTTPURL()+"/v1/projects/p1-proj:getIamPolicy", strings.NewReader(body)))
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	if code, _ := do(t, req); code != 503 {
		t.Errorf("injected fault answered %d", code)
	}
	before := s.Now()
	code, _ = post(t, s.HTTPURL()+"/_fake/advance", url.Values{"by": {"2h"}}, nil)
	if code != 200 || s.Now().Sub(before) != 2*time.Hour {
		t.Errorf("advance: %d, moved %s", code, s.Now().Sub(before))
	}
	resp, err := http.Get(s.HTTPURL() + "/_fake/calls?method=REST%20getIamPolicy")
	if err != nil {
		t.Fatal(err)
	}
	var calls []Call
	_ = json.NewDecoder(resp.Body).Decode(&calls)
	resp.Body.Close()
	// Five routed calls and the faulted one; the unknown verb is not a call.
	if len(calls) != 6 {
		t.Errorf("%d logged REST getIamPolicy calls, want 6", len(calls))
	}
	raw, _ := json.Marshal(s.Calls())
	for _, secret := range []string{aliceTok, bobTok, tok, "alice-refresh"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the call log holds a token")
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestHold(t *testing.T) {
	s, _, conn := start(t)
	pc := resourcemanagerpb.NewProjectsClient(conn)
	release := s.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := pc.GetIamPolicy(as(aliceTok), &iampb.GetIamPolicyRequest{Resource: proj})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a held request returned: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(as(aliceTok))
	s.Hold()
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := pc.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: proj})
	wantCode(t, err, codes.Canceled)
	s.Release()
}

func FuzzEvalCondition(f *testing.F) {
	for _, s := range []string{
		`request.time < timestamp("2026-12-03T11:00:00Z")`,
		`request.time >= timestamp("2026-12-03T09:00:00Z") && request.time < timestamp("2026-12-03T11:00:00Z")`,
		`(request.time < timestamp("2026-12-03T11:00:00Z"))`,
		`resource.name == "x"`, `&&`, `request.time`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, e string) {
		if !evalCondition(e, now) {
			return
		}
		// Only time comparisons grant anything.
		for _, clause := range strings.Split(e, "&&") {
			if !strings.Contains(clause, "request.time") || !strings.Contains(clause, "timestamp(") {
				t.Fatalf("evalCondition(%q) = true", e)
			}
		}
	})
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/fake.yaml"
	if err := os.WriteFile(cfg, []byte("identities: [{email: a@example.com, token: tok-a}]\npolicies: [{resource: projects/p1-proj, bindings: [{role: roles/viewer, members: [user:a@example.com]}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"-config", cfg, "-env", dir + "/env"}, pw); pw.Close() }()
	buf := make([]byte, 4096)
	n, err := pr.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	file, err := os.ReadFile(dir + "/env")
	if err != nil || string(file) != string(buf[:n]) {
		t.Errorf("env file %q, %v", file, err)
	}
	if fi, _ := os.Stat(dir + "/env"); fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode %v", fi.Mode())
	}
	code, m := post(t, env["FAKE_GCP_TOKENINFO"], url.Values{"access_token": {"tok-a"}}, nil)
	if code != 200 || m["email"] != "a@example.com" {
		t.Errorf("tokeninfo through Run: %d %v", code, m)
	}
	if env["CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER"] != env["FAKE_GCP_HTTP"]+"/" || !strings.HasPrefix(env["FAKE_GCP_GRPC"], "http://127.0.0.1:") {
		t.Errorf("env %v", env)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), []string{"-config", dir + "/missing.yaml"}, io.Discard); err == nil {
		t.Error("Run with a missing config succeeded")
	}
	if err := Run(context.Background(), nil, io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("Run without arguments: %v", err)
	}
}
