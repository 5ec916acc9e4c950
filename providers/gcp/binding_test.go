package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	fakegcp "github.com/jitaccess/jit/internal/fakecloud/gcp"
	"github.com/jitaccess/jit/providers"
)

func bindingSpec() *TargetSpec { return &TargetSpec{Resource: proj, Role: "roles/compute.admin"} }

// jitBindings returns the bindings with a jit title, by title.
func jitBindings(p *iampb.Policy) map[string]*iampb.Binding {
	out := map[string]*iampb.Binding{}
	for _, b := range p.GetBindings() {
		if IsJITTitle(b.GetCondition().GetTitle()) {
			out[b.GetCondition().GetTitle()] = b
		}
	}
	return out
}

func TestBindingGrant(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	member := "user:" + alice
	if w.fake.HasAccess(proj, "roles/compute.admin", member) {
		t.Fatal("alice has the role before the grant")
	}
	d := 90*time.Minute + 500*time.Millisecond
	g, err := w.p.Grant(ctx, w.request("01BIND", bindingSpec(), d))
	if err != nil {
		t.Fatal(err)
	}
	wantEnd := w.clock.Now().Add(d).Truncate(time.Second)
	if !g.NotAfter.Equal(wantEnd) || !g.NotBefore.Equal(w.clock.Now()) {
		t.Errorf("window %s–%s, want %s–%s", g.NotBefore, g.NotAfter, w.clock.Now(), wantEnd)
	}
	wantRefs := map[string]string{
		"resource": proj, "role": "roles/compute.admin", "member": member, "binding_title": "jit-01BIND",
		"expression": `request.time < timestamp("` + wantEnd.Format(time.RFC3339) + `")`,
	}
	for k, v := range wantRefs {
		if g.Refs[k] != v {
			t.Errorf("ref %s = %q, want %q", k, g.Refs[k], v)
		}
	}
	if !g.Revocable || g.Provider != ProviderName || g.RequestID != "01BIND" {
		t.Errorf("grant %+v", g)
	}
	env := map[string]string{}
	for _, e := range g.Env {
		env[e.Name] = e.Value
		if e.Secret {
			t.Errorf("binding grants deliver no secret, but %s is marked secret", e.Name)
		}
	}
	if env["CLOUDSDK_CORE_PROJECT"] != "jit-proj" || env["GOOGLE_CLOUD_PROJECT"] != "jit-proj" || len(env) != 2 {
		t.Errorf("env = %v, want the two project variables only", env)
	}
	if !strings.Contains(g.RevokeNote, "your own Google credentials") {
		t.Errorf("RevokeNote does not say the user's own credentials carry the role: %q", g.RevokeNote)
	}

	pol := w.fake.Policy(proj)
	b := jitBindings(pol)["jit-01BIND"]
	if b == nil {
		t.Fatalf("no jit binding in %v", pol)
	}
	if b.Role != "roles/compute.admin" || len(b.Members) != 1 || b.Members[0] != member {
		t.Errorf("binding %v", b)
	}
	if c := b.Condition; c.Expression != wantRefs["expression"] || c.Description != "jit: alice@example.com reason=fix the thing ticket=CHG-42" {
		t.Errorf("condition %v", c)
	}
	if pol.Version != 3 {
		t.Errorf("policy version %d, want 3", pol.Version)
	}
	// The other bindings survive untouched.
	if !w.fake.HasAccess(proj, "roles/viewer", "user:"+bob) || !w.fake.HasAccess(proj, "roles/resourcemanager.projectIamAdmin", "user:"+admin) {
		t.Error("a pre-existing binding was lost")
	}
	// The binding grants the role until the expiry, on the fake's clock.
	if !w.fake.HasAccess(proj, "roles/compute.admin", member) {
		t.Error("alice does not hold the role after the grant")
	}
	w.clock.Add(d - time.Second)
	if !w.fake.HasAccess(proj, "roles/compute.admin", member) {
		t.Error("the role ended early")
	}
	w.clock.Add(2 * time.Second)
	if w.fake.HasAccess(proj, "roles/compute.admin", member) {
		t.Error("the role outlived the grant")
	}
	// The whole exchange used version 3 and the etag (one Get, one Set).
	if n, m := len(w.fake.CallsFor("GetIamPolicy")), len(w.fake.CallsFor("SetIamPolicy")); n != 1 || m != 1 {
		t.Errorf("%d Get and %d Set calls, want 1 and 1", n, m)
	}
}

func TestBindingKindsOfResource(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct{ resource, service string }{
		{folder, "google.cloud.resourcemanager.v3.Folders"},
		{org, "google.cloud.resourcemanager.v3.Organizations"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			w.fake.ResetCalls()
			g, err := w.p.Grant(context.Background(), w.request("01KIND"+strings.ToUpper(tc.resource[:3]), &TargetSpec{Resource: tc.resource, Role: "roles/compute.viewer"}, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !w.fake.HasAccess(tc.resource, "roles/compute.viewer", "user:"+alice) {
				t.Error("no access after the grant")
			}
			for _, c := range w.fake.CallsFor("SetIamPolicy") {
				if c.Service != tc.service {
					t.Errorf("SetIamPolicy went to %s, want %s", c.Service, tc.service)
				}
			}
			for _, e := range g.Env {
				if strings.Contains(e.Name, "PROJECT") {
					t.Errorf("a %s grant sets %s", tc.resource, e.Name)
				}
			}
		})
	}
}

func TestBindingNeverJoinsUnconditionalBinding(t *testing.T) {
	w := newWorld(t)
	// Someone holds the role permanently already; jit must add its own
	// conditional binding, not a member to that one (which would make the
	// grant permanent).
	if err := w.fake.SetPolicy(proj, []fakegcp.Binding{
		{Role: "roles/resourcemanager.projectIamAdmin", Members: []string{"user:" + alice}},
		{Role: "roles/compute.admin", Members: []string{"user:" + bob}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.Grant(context.Background(), w.request("01JOIN", bindingSpec(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, b := range w.fake.Policy(proj).GetBindings() {
		if b.Role == "roles/compute.admin" && b.Condition == nil {
			if len(b.Members) != 1 || b.Members[0] != "user:"+bob {
				t.Errorf("the unconditional binding changed: %v", b.Members)
			}
		}
	}
	w.clock.Add(2 * time.Hour)
	if w.fake.HasAccess(proj, "roles/compute.admin", "user:"+alice) {
		t.Error("alice kept the role after expiry")
	}
}

func TestBindingRemovesExpiredJITBindingsFirst(t *testing.T) {
	w := newWorld(t)
	now := w.clock.Now()
	past := ExpiryExpression(now.Add(-time.Minute))
	future := ExpiryExpression(now.Add(time.Hour))
	if err := w.fake.SetPolicy(proj, []fakegcp.Binding{
		{Role: "roles/resourcemanager.projectIamAdmin", Members: []string{"user:" + alice}},
		{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "jit-OLD", Expression: past}},
		{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "jit-LIVE", Expression: future}},
		{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "someone-elses", Expression: past}},
		{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "jit-ODD", Expression: past + " && true"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.Grant(context.Background(), w.request("01NEW", bindingSpec(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	for _, b := range w.fake.Policy(proj).GetBindings() {
		titles[b.GetCondition().GetTitle()] = true
	}
	for title, want := range map[string]bool{"jit-OLD": false, "jit-LIVE": true, "someone-elses": true, "jit-ODD": true, "jit-01NEW": true} {
		if titles[title] != want {
			t.Errorf("binding %s present = %v, want %v", title, titles[title], want)
		}
	}
}

func TestBindingRevoke(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	g1, err := w.p.Grant(ctx, w.request("01REV1", bindingSpec(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.Grant(ctx, w.request("01REV2", bindingSpec(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec := &providers.Grant{RequestID: g1.RequestID, Target: g1.Target, Provider: g1.Provider, Principal: g1.Principal,
		NotBefore: g1.NotBefore, NotAfter: g1.NotAfter, Refs: g1.Refs, Revocable: true}
	if err := w.p.Revoke(ctx, rec); err != nil {
		t.Fatal(err)
	}
	jb := jitBindings(w.fake.Policy(proj))
	if jb["jit-01REV1"] != nil || jb["jit-01REV2"] == nil {
		t.Errorf("after revoking 01REV1: %v", jb)
	}
	sets := len(w.fake.CallsFor("SetIamPolicy"))
	if err := w.p.Revoke(ctx, rec); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	if n := len(w.fake.CallsFor("SetIamPolicy")); n != sets {
		t.Errorf("revoking a missing binding wrote the policy (%d → %d Set calls)", sets, n)
	}
}

func TestBindingDenied(t *testing.T) {
	w := newWorld(t)
	_, err := w.p.Grant(context.Background(), w.request("01DENY", &TargetSpec{Resource: lockedProj, Role: "roles/compute.admin"}, time.Hour))
	pe, kind := kindOf(t, err)
	if kind != providers.KindDenied {
		t.Fatalf("kind %s, want denied: %v", kind, err)
	}
	if !strings.Contains(pe.Hint, "resourcemanager.projects.setIamPolicy") {
		t.Errorf("hint does not name the permission: %q", pe.Hint)
	}
	if len(w.fake.CallsFor("SetIamPolicy")) != 0 {
		t.Error("a denied read went on to write")
	}
}

func TestBindingRetriesWholeCycleOnAborted(t *testing.T) {
	w := newWorld(t)
	w.fake.Fail(fakegcp.Fault{Method: "SetIamPolicy", Code: codes.Aborted, Count: 3})
	if _, err := w.p.Grant(context.Background(), w.request("01ABRT", bindingSpec(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, m := len(w.fake.CallsFor("GetIamPolicy")), len(w.fake.CallsFor("SetIamPolicy")); n != 4 || m != 4 {
		t.Errorf("%d Get and %d Set calls, want 4 and 4 (each retry re-reads)", n, m)
	}
	if jitBindings(w.fake.Policy(proj))["jit-01ABRT"] == nil {
		t.Error("no binding after the retries")
	}
}

func TestBindingConflictAfterRetries(t *testing.T) {
	isolate(t)
	c := newClock()
	s := startFake(t, fakeConfig(c))
	p := providerFor(t, s, aliceTok, c, func(o *Options) { o.PolicyAttempts = 3 })
	who, err := p.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Fail(fakegcp.Fault{Method: "SetIamPolicy", Code: codes.Aborted, Count: 10})
	w := &world{clock: c, fake: s, p: p, who: who}
	_, err = p.Grant(context.Background(), w.request("01CONF", bindingSpec(), time.Hour))
	pe, kind := kindOf(t, err)
	if kind != providers.KindConflict || pe.Code != "ABORTED" {
		t.Fatalf("kind %s code %s, want conflict ABORTED: %v", kind, pe.Code, err)
	}
	if n := len(s.CallsFor("SetIamPolicy")); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

func TestBindingRefusesLossyView(t *testing.T) {
	w := newWorld(t)
	if _, err := w.p.Grant(context.Background(), w.request("01FIRST", bindingSpec(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.fake.ServeLossyViews(true)
	before := w.fake.Policy(proj)
	_, err := w.p.Grant(context.Background(), w.request("01LOSSY", bindingSpec(), time.Hour))
	pe, _ := kindOf(t, err)
	if pe.Code != "LossyPolicyView" || !strings.Contains(err.Error(), "_withcond_") {
		t.Fatalf("error %v (code %s), want a refusal of the _withcond_ view", err, pe.Code)
	}
	if n := len(w.fake.CallsFor("SetIamPolicy")); n != 1 {
		t.Errorf("%d Set calls, want only the first grant's", n)
	}
	if after := w.fake.Policy(proj); len(after.Bindings) != len(before.Bindings) {
		t.Error("the policy changed")
	}
}

// adminClient is another IAM administrator's Resource Manager client (the
// real SDK), for racing jit.
func adminClient(t *testing.T, s *fakegcp.Server) *resourcemanager.ProjectsClient {
	t.Helper()
	c, err := resourcemanager.NewProjectsClient(context.Background(),
		option.WithEndpoint(s.GRPCAddr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearer{creds: staticCreds(adminTok)})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// addUnrelated is the other administrator's change: its own correct
// read-modify-write loop adding one member to an unconditional binding.
// between runs after the read and before the write.
func addUnrelated(ctx context.Context, c *resourcemanager.ProjectsClient, member string, between func()) (aborted int, err error) {
	for {
		pol, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: proj, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
		if err != nil {
			return aborted, err
		}
		pol.Bindings = append(pol.Bindings, &iampb.Binding{Role: "roles/logging.viewer", Members: []string{member}})
		if between != nil {
			between()
			between = nil
		}
		_, err = c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: proj, Policy: pol})
		if status.Code(err) == codes.Aborted {
			aborted++
			continue
		}
		return aborted, err
	}
}

// TestBindingRaceLosesNothing races jit's grant against another client's
// SetIamPolicy on the same policy, many rounds, and checks after every
// round that no change was lost: the loser of each race gets Aborted and
// redoes its whole read-modify-write.
func TestBindingRaceLosesNothing(t *testing.T) {
	w := newWorld(t)
	other := adminClient(t, w.fake)
	ctx := context.Background()
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	var wantTitles, wantMembers []string
	jitLost, otherLost := 0, 0
	for i := 0; i < rounds; i++ {
		id := fmt.Sprintf("01RACE%03d", i)
		member := fmt.Sprintf("user:other-%03d@example.com", i)
		jitAborts, otherAborts := abortsBy(w.fake, alice), abortsBy(w.fake, admin)
		var jitErr, otherErr error
		var wg sync.WaitGroup
		wg.Add(2)
		forced := i%2 == 1
		if !forced {
			// Free race: both start together.
			start := make(chan struct{})
			go func() { defer wg.Done(); <-start; _, jitErr = w.p.Grant(ctx, w.request(id, bindingSpec(), time.Hour)) }()
			go func() { defer wg.Done(); <-start; _, otherErr = addUnrelated(ctx, other, member, nil) }()
			close(start)
		} else {
			// Forced interleaving: the other administrator reads, then jit
			// reads the same revision; both write with that etag, so
			// whichever writes second must be refused and redo its whole
			// read-modify-write.
			jitGets := len(callsBy(w.fake, "GetIamPolicy", alice))
			go func() {
				defer wg.Done()
				_, otherErr = addUnrelated(ctx, other, member, func() {
					go func() { defer wg.Done(); _, jitErr = w.p.Grant(ctx, w.request(id, bindingSpec(), time.Hour)) }()
					for len(callsBy(w.fake, "GetIamPolicy", alice)) == jitGets {
						time.Sleep(100 * time.Microsecond)
					}
				})
			}()
		}
		wg.Wait()
		if jitErr != nil || otherErr != nil {
			t.Fatalf("round %d: jit %v, other %v", i, jitErr, otherErr)
		}
		dj, do := abortsBy(w.fake, alice)-jitAborts, abortsBy(w.fake, admin)-otherAborts
		jitLost += dj
		otherLost += do
		if forced && dj+do == 0 {
			t.Fatalf("round %d: both wrote with the same etag and neither was refused", i)
		}
		wantTitles = append(wantTitles, "jit-"+id)
		wantMembers = append(wantMembers, member)
		pol := w.fake.Policy(proj)
		have := map[string]bool{}
		for _, b := range pol.GetBindings() {
			if t := b.GetCondition().GetTitle(); t != "" {
				have[t] = true
			}
			if b.GetRole() == "roles/logging.viewer" && b.GetCondition() == nil {
				for _, m := range b.GetMembers() {
					have[m] = true
				}
			}
		}
		for _, x := range append(append([]string(nil), wantTitles...), wantMembers...) {
			if !have[x] {
				t.Fatalf("round %d: %s was lost", i, x)
			}
		}
	}
	if jitLost == 0 {
		t.Error("jit never lost a race, so its retry was not exercised")
	}
	t.Logf("%d rounds: jit redid its cycle %d times, the other writer %d times", rounds, jitLost, otherLost)
}

func abortsBy(s *fakegcp.Server, caller string) int {
	n := 0
	for _, c := range callsBy(s, "SetIamPolicy", caller) {
		if c.Code == codes.Aborted.String() {
			n++
		}
	}
	return n
}

func callsBy(s *fakegcp.Server, method, caller string) []fakegcp.Call {
	var out []fakegcp.Call
	for _, c := range s.CallsFor(method) {
		if c.Caller == caller {
			out = append(out, c)
		}
	}
	return out
}

func TestCollect(t *testing.T) {
	w := newWorld(t)
	now := w.clock.Now()
	past := ExpiryExpression(now.Add(-time.Minute))
	future := ExpiryExpression(now.Add(time.Hour))
	seed := func(resource, admin string) {
		if err := w.fake.SetPolicy(resource, []fakegcp.Binding{
			{Role: admin, Members: []string{"user:" + alice}},
			{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "jit-A", Expression: past}},
			{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "jit-B", Expression: past}},
			{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "jit-C", Expression: future}},
			{Role: "roles/compute.admin", Members: []string{"user:" + bob}, Condition: &fakegcp.Condition{Title: "manual", Expression: past}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	seed(proj, "roles/resourcemanager.projectIamAdmin")
	seed(folder, "roles/resourcemanager.folderIamAdmin")
	targets := []providers.Target{
		{Name: "a", Provider: ProviderName, Spec: &TargetSpec{Resource: proj, Role: "roles/compute.admin"}},
		{Name: "a2", Provider: ProviderName, Spec: &TargetSpec{Resource: proj, Role: "roles/compute.viewer"}}, // same resource: once
		{Name: "f", Provider: ProviderName, Spec: &TargetSpec{Resource: folder, Role: "roles/compute.admin"}},
		{Name: "imp", Provider: ProviderName, Spec: &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}},
		{Name: "aws", Provider: "aws", Spec: nil},
	}
	n, err := w.p.Collect(context.Background(), targets)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("collected %d, want 4", n)
	}
	for _, r := range []string{proj, folder} {
		titles := map[string]bool{}
		for _, b := range w.fake.Policy(r).GetBindings() {
			titles[b.GetCondition().GetTitle()] = true
		}
		if titles["jit-A"] || titles["jit-B"] || !titles["jit-C"] || !titles["manual"] {
			t.Errorf("%s after collect: %v", r, titles)
		}
	}
	if got := len(w.fake.CallsFor("GetIamPolicy")); got != 2 {
		t.Errorf("%d policy reads, want 2 (one per resource)", got)
	}
	// Nothing left to collect: no write.
	sets := len(w.fake.CallsFor("SetIamPolicy"))
	if n, err := w.p.Collect(context.Background(), targets); err != nil || n != 0 {
		t.Errorf("second collect = %d, %v", n, err)
	}
	if len(w.fake.CallsFor("SetIamPolicy")) != sets {
		t.Error("a collect with nothing to remove wrote a policy")
	}
	// A resource jit may not edit: the error is reported, others proceed.
	seed(proj, "roles/resourcemanager.projectIamAdmin")
	n, err = w.p.Collect(context.Background(), []providers.Target{
		{Name: "locked", Provider: ProviderName, Spec: &TargetSpec{Resource: lockedProj, Role: "roles/compute.admin"}},
		targets[0],
	})
	if n != 2 || providers.KindOf(err) != providers.KindDenied {
		t.Errorf("collect with a locked resource = %d, %v; want 2 and a denied error", n, err)
	}
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Errorf("error %T is not classified", err)
	}
}
