package gcp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

func TestImpersonateGrant(t *testing.T) {
	w := newWorld(t)
	spec := &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer, Scopes: []string{DefaultScope, "https://www.googleapis.com/auth/userinfo.email"}}
	d := 45*time.Minute + 700*time.Millisecond
	g, err := w.p.Grant(context.Background(), w.request("01IMP", spec, d))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]providers.EnvVar{}
	for _, e := range g.Env {
		env[e.Name] = e
	}
	tok := env["CLOUDSDK_AUTH_ACCESS_TOKEN"]
	if !tok.Secret || env["GOOGLE_OAUTH_ACCESS_TOKEN"].Value != tok.Value || !env["GOOGLE_OAUTH_ACCESS_TOKEN"].Secret {
		t.Errorf("token variables %+v", env)
	}
	if env["CLOUDSDK_CORE_PROJECT"].Value != "jit-proj" || env["GOOGLE_CLOUD_PROJECT"].Value != "jit-proj" {
		t.Errorf("project variables %+v (want the service account's project)", env)
	}
	info, ok := w.fake.Token(tok.Value)
	if !ok || !info.Valid || info.Email != deployer || info.Issued != "impersonation" {
		t.Fatalf("the delivered token is %+v on the fake", info)
	}
	if strings.Join(info.Scopes, " ") != strings.Join(spec.Scopes, " ") {
		t.Errorf("scopes %v, want %v", info.Scopes, spec.Scopes)
	}
	want := w.clock.Now().Add(d.Truncate(time.Second))
	if !g.NotAfter.Equal(want) || !info.Expires.Equal(want) {
		t.Errorf("NotAfter %s, token expires %s, want %s", g.NotAfter, info.Expires, want)
	}
	if g.Refs["service_account"] != deployer || g.Refs["expire_time"] != want.Format(time.RFC3339) {
		t.Errorf("refs %v", g.Refs)
	}
	for _, v := range g.Refs {
		if strings.Contains(v, tok.Value) {
			t.Error("a ref holds the token")
		}
	}
	if g.Revocable {
		t.Error("an impersonated token is marked revocable")
	}
	if !strings.Contains(g.RevokeNote, "cannot revoke") || !strings.Contains(g.RevokeNote, "serviceAccountTokenCreator") {
		t.Errorf("RevokeNote %q", g.RevokeNote)
	}
	unset := strings.Join(g.Unset, " ")
	for _, v := range []string{"CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT", "GOOGLE_CREDENTIALS"} {
		if !strings.Contains(unset, v) {
			t.Errorf("Unset lacks %s", v)
		}
	}
	if strings.Contains(unset, "GOOGLE_APPLICATION_CREDENTIALS") {
		t.Error("Unset removes GOOGLE_APPLICATION_CREDENTIALS")
	}
	// The token works, as the service account, until it expires.
	w.clock.Add(d - time.Second)
	if info, _ := w.fake.Token(tok.Value); !info.Valid {
		t.Error("the token expired early")
	}
	w.clock.Add(time.Second)
	if info, _ := w.fake.Token(tok.Value); info.Valid {
		t.Error("the token outlived the grant")
	}
	// Revoke says it cannot.
	err = w.p.Revoke(context.Background(), &providers.Grant{Target: g.Target, Refs: g.Refs})
	if _, kind := kindOf(t, err); kind != providers.KindInvalid {
		t.Errorf("Revoke of a token = %v", err)
	}
}

func TestImpersonateLifetimeLimits(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name      string
		spec      *TargetSpec
		d         time.Duration
		wantKind  providers.Kind // 0: granted
		wantCalls int            // GenerateAccessToken calls made
	}{
		{"1h is the default cap", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}, time.Hour, 0, 1},
		{"over 1h refused before calling", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}, time.Hour + time.Second, providers.KindInvalid, 0},
		{"allow_12h allows 12h", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: longSA, Allow12h: true}, 12 * time.Hour, 0, 1},
		{"over 12h refused before calling", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: longSA, Allow12h: true}, 12*time.Hour + time.Second, providers.KindInvalid, 0},
		{"allow_12h without the org policy: Google refuses", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer, Allow12h: true}, 2 * time.Hour, providers.KindInvalid, 1},
		{"not a token creator", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: lockedSA}, time.Hour, providers.KindDenied, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.fake.ResetCalls()
			g, err := w.p.Grant(context.Background(), w.request("01LIFE", tc.spec, tc.d))
			if n := len(w.fake.CallsFor("GenerateAccessToken")); n != tc.wantCalls {
				t.Errorf("%d GenerateAccessToken calls, want %d", n, tc.wantCalls)
			}
			if tc.wantKind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got := g.NotAfter.Sub(w.clock.Now()); got != tc.d {
					t.Errorf("lifetime %s, want %s", got, tc.d)
				}
				return
			}
			pe, kind := kindOf(t, err)
			if kind != tc.wantKind {
				t.Fatalf("kind %s, want %s: %v", kind, tc.wantKind, err)
			}
			if pe.Hint == "" {
				t.Error("no hint")
			}
			if kind == providers.KindDenied && !strings.Contains(pe.Hint, "iam.serviceAccounts.getAccessToken") {
				t.Errorf("hint does not name the permission: %q", pe.Hint)
			}
		})
	}
}

func TestMaxDuration(t *testing.T) {
	p, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec *TargetSpec
		want time.Duration
	}{
		{&TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}, time.Hour},
		{&TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer, Allow12h: true}, 12 * time.Hour},
		{&TargetSpec{Resource: proj, Role: "roles/compute.admin"}, 0},
		{&TargetSpec{Mode: ModePAM, Entitlement: entOpen}, 0},
	} {
		got, why := p.MaxDuration(context.Background(), providers.Target{Name: "x", Provider: ProviderName, Spec: tc.spec}, providers.Principal{})
		if got != tc.want || (got != 0 && why == "") {
			t.Errorf("MaxDuration(%+v) = %s %q, want %s with a reason", tc.spec, got, why, tc.want)
		}
	}
}
