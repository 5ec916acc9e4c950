package gcp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitaccess/jit/providers"
)

func TestWhoAmIFromTokenInfo(t *testing.T) {
	isolate(t)
	s := startFake(t, fakeConfig(nil))
	for _, tc := range []struct {
		tok, email, typ, alias, account string
	}{
		{aliceTok, alice, TypeUser, "user:" + alice, ""},
		{ciTok, ciSA, TypeServiceAccount, "serviceAccount:" + ciSA, "jit-proj"},
	} {
		t.Run(tc.email, func(t *testing.T) {
			s.ResetCalls()
			p := providerFor(t, s, tc.tok, nil)
			for i := 0; i < 2; i++ {
				pr, err := p.WhoAmI(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if pr.ID != tc.email || pr.Source != SourceTokenInfo || pr.Claims["type"] != tc.typ ||
					len(pr.Aliases) != 1 || pr.Aliases[0] != tc.alias || pr.Account != tc.account {
					t.Errorf("WhoAmI = %+v", pr)
				}
				pr.Aliases[0] = "mutated"
				pr.Claims["type"] = "mutated"
			}
			if n := len(s.CallsFor("REST tokeninfo")); n != 1 {
				t.Errorf("%d tokeninfo calls, want 1 (memoised)", n)
			}
			if got := s.CallsFor("REST tokeninfo")[0].Caller; got != tc.email {
				t.Errorf("tokeninfo saw %q", got)
			}
		})
	}
}

func TestWhoAmIRefusedToken(t *testing.T) {
	isolate(t)
	s := startFake(t, fakeConfig(nil))
	const bogus = "ya29.not-a-token-the-fake-knows"
	p := providerFor(t, s, bogus, nil)
	_, err := p.WhoAmI(context.Background())
	pe, kind := kindOf(t, err)
	if kind != providers.KindAuth || !strings.Contains(pe.Hint, "gcloud auth application-default login") {
		t.Errorf("kind %s hint %q", kind, pe.Hint)
	}
	if strings.Contains(err.Error(), bogus) || strings.Contains(pe.Hint, bogus) {
		t.Error("the error holds the token")
	}
	// The token is also refused by the APIs, and classified the same way.
	_, err = p.Grant(context.Background(), providers.Request{ID: "01X", Duration: time.Hour,
		Principal: providers.Principal{ID: alice, Source: SourceTokenInfo},
		Target:    providers.Target{Name: "t", Provider: ProviderName, Spec: bindingSpec()}})
	if pe, kind := kindOf(t, err); kind != providers.KindAuth || pe.Code != "UNAUTHENTICATED" || strings.Contains(err.Error(), bogus) {
		t.Errorf("grant with a refused token: %v (kind %s code %s)", err, kind, pe.Code)
	}
}

func TestWhoAmITokenInfoWithoutEmail(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.RawQuery != "" {
			t.Errorf("tokeninfo asked with %s ?%s; the token must travel in a POST body", r.Method, r.URL.RawQuery)
		}
		_ = r.ParseForm()
		if r.PostForm.Get("access_token") != aliceTok {
			t.Errorf("tokeninfo got token %q", r.PostForm.Get("access_token"))
		}
		_, _ = w.Write([]byte(`{"azp":"x","scope":"https://www.googleapis.com/auth/cloud-platform","expires_in":"3000"}`))
	}))
	t.Cleanup(srv.Close)
	p, err := New(context.Background(), Options{TokenInfoURL: srv.URL, TokenProvider: StaticToken(aliceTok)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.WhoAmI(context.Background())
	if pe, kind := kindOf(t, err); kind != providers.KindAuth || pe.Code != "NoEmail" {
		t.Errorf("%v (kind %s)", err, kind)
	}
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWhoAmIFromADCFiles(t *testing.T) {
	isolate(t)
	s := startFake(t, fakeConfig(nil))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))}))
	for _, tc := range []struct {
		name, email, source string
		file                map[string]any
		viaEnv              bool
	}{
		{"authorized user (gcloud auth application-default login)", alice, SourceTokenInfo, map[string]any{
			"type": "authorized_user", "client_id": "fake-client.apps.googleusercontent.com", "client_secret": "fake-secret", "refresh_token": aliceRefr,
		}, true},
		{"service account key", deployer, SourceCredentials, map[string]any{
			"type": "service_account", "project_id": "jit-proj", "private_key_id": "k1", "private_key": pemKey,
			"client_email": deployer, "client_id": "1", "token_uri": s.TokenURL(),
		}, false},
		{"impersonated service account", deployer, SourceCredentials, map[string]any{
			"type":                              "impersonated_service_account",
			"service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + deployer + ":generateAccessToken",
			"source_credentials":                map[string]any{"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": aliceRefr},
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetCalls()
			file := writeJSON(t, tc.file)
			o := Options{ResourceManagerEndpoint: s.GRPCEndpoint(), TokenInfoURL: s.TokenInfoURL(), TokenURL: s.TokenURL()}
			if tc.viaEnv {
				t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", file)
			} else {
				o.CredentialsFile = file
			}
			p, err := New(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pr, err := p.WhoAmI(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if pr.ID != tc.email || pr.Source != tc.source {
				t.Errorf("WhoAmI = %+v", pr)
			}
			if tc.source == SourceCredentials && len(s.Calls()) != 0 {
				t.Errorf("the file names the account, yet WhoAmI called %+v", s.Calls())
			}
			if !tc.viaEnv {
				return
			}
			// The refreshed user token works against the APIs too.
			if len(s.CallsFor("REST token")) != 1 {
				t.Errorf("token endpoint calls: %+v", s.CallsFor("REST token"))
			}
			g, err := p.Grant(context.Background(), providers.Request{ID: "01ADC", Duration: time.Hour, Principal: pr,
				Target: providers.Target{Name: "t", Provider: ProviderName, Spec: bindingSpec()}})
			if err != nil {
				t.Fatal(err)
			}
			if g.Refs["member"] != "user:"+alice {
				t.Errorf("member %s", g.Refs["member"])
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestNoCredentials(t *testing.T) {
	isolate(t)
	p, err := New(context.Background(), Options{TokenInfoURL: "http://127.0.0.1:9/tokeninfo"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.WhoAmI(context.Background())
	if _, kind := kindOf(t, err); kind != providers.KindAuth {
		t.Errorf("WhoAmI without credentials: %v (kind %s)", err, kind)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("multi-line error %q", err)
	}
}

// A principal that did not come from Google (a CI job's OIDC token) gets
// the binding on the base identity, which the session's tools use.
func TestBindingForNonGooglePrincipal(t *testing.T) {
	isolate(t)
	s := startFake(t, fakeConfig(nil))
	p := providerFor(t, s, ciTok, nil)
	g, err := p.Grant(context.Background(), providers.Request{ID: "01CI", Duration: time.Hour,
		Principal: providers.Principal{ID: "repo:acme/app:ref:refs/heads/main", Source: "oidc:github"},
		Target:    providers.Target{Name: "t", Provider: ProviderName, Spec: bindingSpec()}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Refs["member"] != "serviceAccount:"+ciSA || !s.HasAccess(proj, "roles/compute.admin", "serviceAccount:"+ciSA) {
		t.Errorf("member %s", g.Refs["member"])
	}
}

func TestPrincipalFromID(t *testing.T) {
	for _, tc := range []struct {
		id, wantID, wantType string
		ok                   bool
	}{
		{alice, alice, TypeUser, true},
		{"user:" + alice, alice, TypeUser, true},
		{deployer, deployer, TypeServiceAccount, true},
		{"serviceAccount:" + deployer, deployer, TypeServiceAccount, true},
		{"arn:aws:iam::111111111111:user/alice", "", "", false},
		{"alice", "", "", false},
		{"group:sre@example.com", "", "", false},
	} {
		pr, ok := Spec().Principal(tc.id)
		if ok != tc.ok {
			t.Errorf("Principal(%q) ok = %v", tc.id, ok)
			continue
		}
		if !ok {
			continue
		}
		if pr.ID != tc.wantID || pr.Claims["type"] != tc.wantType || pr.Aliases[0] != memberFor(tc.wantID, tc.wantType) {
			t.Errorf("Principal(%q) = %+v", tc.id, pr)
		}
	}
}
