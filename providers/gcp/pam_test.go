package gcp

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

func pamSpec(ent string) *TargetSpec { return &TargetSpec{Mode: ModePAM, Entitlement: ent} }

func TestPAMGrantAndRevoke(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d := 90 * time.Minute
	g, err := w.p.Grant(ctx, w.request("01PAM", pamSpec(entOpen), d))
	if err != nil {
		t.Fatal(err)
	}
	name := g.Refs["grant"]
	if !strings.HasPrefix(name, entOpen+"/grants/") || g.Refs["entitlement"] != entOpen {
		t.Fatalf("refs %v", g.Refs)
	}
	if st := w.fake.GrantState(name); st != "ACTIVE" {
		t.Fatalf("grant state %s", st)
	}
	now := w.clock.Now()
	if !g.NotBefore.Equal(now) || !g.NotAfter.Equal(now.Add(d)) || !g.Revocable {
		t.Errorf("window %s–%s revocable %v", g.NotBefore, g.NotAfter, g.Revocable)
	}
	env := map[string]string{}
	for _, e := range g.Env {
		env[e.Name] = e.Value
	}
	if env["CLOUDSDK_CORE_PROJECT"] != "jit-proj" || len(env) != 2 {
		t.Errorf("env %v", env)
	}
	// PAM bound the entitlement's role to alice, and jit's request is
	// stamped in the justification.
	if !w.fake.HasAccess(proj, "roles/compute.admin", "user:"+alice) {
		t.Error("no access while the grant is active")
	}
	rec := &providers.Grant{RequestID: g.RequestID, Target: g.Target, Provider: g.Provider, Principal: g.Principal,
		NotBefore: g.NotBefore, NotAfter: g.NotAfter, Refs: g.Refs, Revocable: true}
	if err := w.p.Revoke(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if st := w.fake.GrantState(name); st != "REVOKED" {
		t.Errorf("after revoke: %s", st)
	}
	if w.fake.HasAccess(proj, "roles/compute.admin", "user:"+alice) {
		t.Error("access outlived the revoke")
	}
	if err := w.p.Revoke(ctx, rec); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	if n := len(w.fake.CallsFor("RevokeGrant")); n != 1 {
		t.Errorf("%d RevokeGrant calls, want 1", n)
	}
}

func TestPAMJustificationAndIdempotency(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	req := w.request("01IDEM", pamSpec(entOpen), time.Hour)
	g1, err := w.p.Grant(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the same jit request (a lost answer, say) is the same
	// PAM request: same grant, no duplicate.
	g2, err := w.p.Grant(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if g1.Refs["grant"] != g2.Refs["grant"] || len(w.fake.Grants()) != 1 {
		t.Errorf("retry created another grant: %s vs %s", g1.Refs["grant"], g2.Refs["grant"])
	}
	// Another request while one is open is refused by PAM.
	_, err = w.p.Grant(ctx, w.request("01OTHER", pamSpec(entOpen), time.Hour))
	if _, kind := kindOf(t, err); kind != providers.KindInvalid {
		t.Errorf("second open grant: %v", err)
	}
}

func TestPAMApproval(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	req := w.request("01APPR", pamSpec(entApprove), 2*time.Hour)
	_, err := w.p.Grant(ctx, req)
	pe, kind := kindOf(t, err)
	if kind != providers.KindPending || pe.Code != "APPROVAL_AWAITED" {
		t.Fatalf("kind %s code %s: %v", kind, pe.Code, err)
	}
	name := pe.Refs["grant"]
	if !strings.HasPrefix(name, entApprove+"/grants/") || pe.Refs["entitlement"] != entApprove {
		t.Fatalf("pending refs %v", pe.Refs)
	}
	if !strings.Contains(pe.Hint, "gcloud pam grants describe "+name) || !strings.Contains(pe.Hint, "will not wait") {
		t.Errorf("hint %q", pe.Hint)
	}
	if w.fake.HasAccess(proj, "roles/compute.admin", "user:"+alice) {
		t.Fatal("access before approval")
	}
	// Still pending when followed; alice cannot approve her own grant.
	if _, err := w.p.Resume(ctx, req, name); providers.KindOf(err) != providers.KindPending {
		t.Errorf("Resume before approval: %v", err)
	}
	if err := w.fake.Approve(name, alice); err == nil {
		t.Error("the requester approved her own grant")
	}
	w.clock.Add(10 * time.Minute)
	if err := w.fake.Approve(name, carol); err != nil {
		t.Fatal(err)
	}
	approvedAt := w.clock.Now()
	g, err := w.p.Resume(ctx, req, name)
	if err != nil {
		t.Fatal(err)
	}
	if !g.NotBefore.Equal(approvedAt) || !g.NotAfter.Equal(approvedAt.Add(2*time.Hour)) || g.Refs["grant"] != name {
		t.Errorf("resumed grant %s–%s %v", g.NotBefore, g.NotAfter, g.Refs)
	}
	// The justification carries reason, ticket and the request id.
	if gs := w.fake.Grants(); len(gs) != 1 || gs[0].Justification != "fix the thing; ticket CHG-42; jit request 01APPR" || gs[0].Requester != alice {
		t.Errorf("grants on the fake: %+v", gs)
	}
	// Retrying the original request after approval returns the active
	// grant (PAM recognises the request id).
	g2, err := w.p.Grant(ctx, req)
	if err != nil || g2.Refs["grant"] != name {
		t.Errorf("Grant after approval = %v, %v", g2, err)
	}
	// The grant ends on its own after the requested duration.
	w.clock.Add(2*time.Hour + time.Second)
	if st := w.fake.GrantState(name); st != "ENDED" {
		t.Errorf("state after the duration: %s", st)
	}
	if w.fake.HasAccess(proj, "roles/compute.admin", "user:"+alice) {
		t.Error("access outlived the grant")
	}
	if err := w.p.Revoke(ctx, &providers.Grant{Target: g.Target, Refs: g.Refs}); err != nil {
		t.Errorf("revoking an ended grant: %v", err)
	}
}

func TestPAMDeniedAndExpired(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(w *world, grant string)
	}{
		{"denied", func(w *world, g string) {
			if err := w.fake.Deny(g, carol); err != nil {
				t.Fatal(err)
			}
		}},
		{"expired", func(w *world, g string) { w.clock.Add(24*time.Hour + time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			req := w.request("01DE", pamSpec(entApprove), time.Hour)
			_, err := w.p.Grant(context.Background(), req)
			pe, _ := kindOf(t, err)
			tc.after(w, pe.Refs["grant"])
			_, err = w.p.Resume(context.Background(), req, pe.Refs["grant"])
			pe2, kind := kindOf(t, err)
			if kind != providers.KindDenied || pe2.Refs["grant"] != pe.Refs["grant"] {
				t.Errorf("Resume = %v (kind %s)", err, kind)
			}
			// Revoking a denied or expired grant is a no-op.
			if err := w.p.Revoke(context.Background(), &providers.Grant{Target: "x", Refs: pe.Refs}); err != nil {
				t.Errorf("revoke: %v", err)
			}
		})
	}
}

func TestPAMActivating(t *testing.T) {
	w := newWorld(t)
	req := w.request("01SLOW", pamSpec(entSlow), time.Hour)
	_, err := w.p.Grant(context.Background(), req)
	pe, kind := kindOf(t, err)
	if kind != providers.KindPending || pe.Code != "ACTIVATING" {
		t.Fatalf("%v (kind %s code %s)", err, kind, pe.Code)
	}
	w.clock.Add(5 * time.Minute)
	g, err := w.p.Resume(context.Background(), req, pe.Refs["grant"])
	if err != nil {
		t.Fatal(err)
	}
	if !g.NotAfter.Equal(w.clock.Now().Add(time.Hour)) {
		t.Errorf("NotAfter %s, want activation + 1h", g.NotAfter)
	}
	// A revoke of a pending grant says it cannot.
	w2 := newWorld(t)
	_, err = w2.p.Grant(context.Background(), w2.request("01PEND", pamSpec(entApprove), time.Hour))
	pe, _ = kindOf(t, err)
	err = w2.p.Revoke(context.Background(), &providers.Grant{Target: "x", Refs: pe.Refs})
	if pe, kind := kindOf(t, err); kind != providers.KindInvalid || !strings.Contains(pe.Hint, "gcloud pam grants deny") {
		t.Errorf("revoke of a pending grant: %v (%q)", err, pe.Hint)
	}
}

func TestPAMErrors(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		ent  string
		d    time.Duration
		want providers.Kind
		hint string
	}{
		{"not eligible", entClosed, time.Hour, providers.KindDenied, "privilegedaccessmanager.grants.create"},
		{"over the entitlement's maximum", entOpen, 3 * time.Hour, providers.KindInvalid, "maximum duration"},
		{"no such entitlement", "projects/jit-proj/locations/global/entitlements/nope", time.Hour, providers.KindNotFound, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.p.Grant(context.Background(), w.request("01ERR", pamSpec(tc.ent), tc.d))
			pe, kind := kindOf(t, err)
			if kind != tc.want || !strings.Contains(pe.Hint, tc.hint) {
				t.Errorf("kind %s hint %q, want %s and %q: %v", kind, pe.Hint, tc.want, tc.hint, err)
			}
		})
	}
	// Revoking needs privilegedaccessmanager.grants.revoke, which the
	// requester of entApprove does not have.
	req := w.request("01NOREV", pamSpec(entApprove), time.Hour)
	_, err := w.p.Grant(context.Background(), req)
	pe, _ := kindOf(t, err)
	if err := w.fake.Approve(pe.Refs["grant"], carol); err != nil {
		t.Fatal(err)
	}
	err = w.p.Revoke(context.Background(), &providers.Grant{Target: "x", RequestID: "01NOREV", Refs: pe.Refs})
	if pe, kind := kindOf(t, err); kind != providers.KindDenied || !strings.Contains(pe.Hint, "privilegedaccessmanager.grants.revoke") {
		t.Errorf("revoke without the permission: %v (%q)", err, pe.Hint)
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestUUID(t *testing.T) {
	a, b := RequestUUID("01JREQ"), RequestUUID("01JREQ")
	if a != b || !uuidRe.MatchString(a) {
		t.Errorf("RequestUUID = %q, %q", a, b)
	}
	if RequestUUID("01JREQ2") == a {
		t.Error("different requests share a UUID")
	}
}
