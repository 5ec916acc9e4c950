package gcp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth"

	fakegcp "github.com/jitaccess/jit/internal/fakecloud/gcp"
	"github.com/jitaccess/jit/providers"
)

const (
	alice      = "alice@example.com"
	aliceTok   = "ya29.alice-base-token"
	aliceRefr  = "1//alice-refresh-token"
	bob        = "bob@example.com"
	bobTok     = "ya29.bob-base-token"
	carol      = "carol@example.com" // approver
	carolTok   = "ya29.carol-base-token"
	admin      = "admin@example.com"
	adminTok   = "ya29.admin-base-token"
	ciSA       = "ci-runner@jit-proj.iam.gserviceaccount.com"
	ciTok      = "ya29.ci-base-token"
	deployer   = "deployer@jit-proj.iam.gserviceaccount.com"
	longSA     = "batch@jit-proj.iam.gserviceaccount.com" // lifetime extension
	lockedSA   = "locked@jit-proj.iam.gserviceaccount.com"
	proj       = "projects/jit-proj"
	lockedProj = "projects/locked-proj"
	folder     = "folders/123456789012"
	org        = "organizations/987654321098"
	entOpen    = "projects/jit-proj/locations/global/entitlements/prod-admin"
	entApprove = "projects/jit-proj/locations/global/entitlements/break-glass"
	entClosed  = "projects/jit-proj/locations/global/entitlements/closed"
	entSlow    = "projects/jit-proj/locations/global/entitlements/slow"
)

// clock is a settable clock shared by the fake and the provider.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// isolate keeps Google's credential detection away from the developer's
// own setup and from any network: an empty HOME, no credentials file, and
// a metadata server address on a closed loopback port.
func isolate(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("CLOUDSDK_CONFIG", filepath.Join(home, "gcloud"))
	t.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	t.Setenv("GCE_METADATA_IP", "127.0.0.1:9")
	t.Setenv("NO_GCE_CHECK", "true")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:9")
	t.Setenv("NO_PROXY", "127.0.0.1,localhost,::1")
	for _, k := range []string{"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_UNIVERSE_DOMAIN",
		"GOOGLE_API_USE_CLIENT_CERTIFICATE", "GOOGLE_API_USE_MTLS_ENDPOINT", "GOOGLE_SDK_GO_LOGGING_LEVEL", "GOOGLE_SDK_GO_EXPERIMENTAL_TRACING"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// fakeConfig is the world most tests run in.
func fakeConfig(c *clock) fakegcp.Config {
	cfg := fakegcp.Config{
		Identities: []fakegcp.Identity{
			{Email: alice, Token: aliceTok, RefreshToken: aliceRefr},
			{Email: bob, Token: bobTok},
			{Email: carol, Token: carolTok},
			{Email: admin, Token: adminTok},
			{Email: ciSA, Token: ciTok},
		},
		ServiceAccounts: []fakegcp.ServiceAccount{
			{Email: deployer, TokenCreators: []string{alice, "serviceAccount:" + ciSA}},
			{Email: longSA, TokenCreators: []string{"user:" + alice}, ExtendedLifetime: true},
			{Email: lockedSA, TokenCreators: []string{admin}},
		},
		Policies: []fakegcp.Policy{
			{Resource: proj, Bindings: []fakegcp.Binding{
				{Role: "roles/resourcemanager.projectIamAdmin", Members: []string{"user:" + alice, "user:" + admin, "serviceAccount:" + ciSA}},
				{Role: "roles/viewer", Members: []string{"user:" + bob}},
				{Role: "roles/iam.securityReviewer", Members: []string{"serviceAccount:" + deployer}},
			}},
			{Resource: lockedProj, Bindings: []fakegcp.Binding{{Role: "roles/owner", Members: []string{"user:" + admin}}}},
			{Resource: folder, Bindings: []fakegcp.Binding{{Role: "roles/resourcemanager.folderIamAdmin", Members: []string{"user:" + alice}}}},
			{Resource: org, Bindings: []fakegcp.Binding{{Role: "roles/resourcemanager.organizationAdmin", Members: []string{"user:" + alice}}}},
		},
		Entitlements: []fakegcp.Entitlement{
			{Name: entOpen, Eligible: []string{alice}, Admins: []string{alice, admin}, Role: "roles/compute.admin", MaxRequestDuration: 2 * time.Hour},
			{Name: entApprove, Eligible: []string{alice}, Approvers: []string{carol}, Admins: []string{admin}, Role: "roles/compute.admin", MaxRequestDuration: 4 * time.Hour, RequireJustification: true},
			{Name: entClosed, Eligible: []string{bob}},
			{Name: entSlow, Eligible: []string{alice}, Admins: []string{alice}, Role: "roles/compute.viewer", ActivationDelay: 5 * time.Minute},
		},
	}
	if c != nil {
		cfg.Now = c.Now
	}
	return cfg
}

func startFake(t *testing.T, cfg fakegcp.Config) *fakegcp.Server {
	t.Helper()
	s, err := fakegcp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// providerFor builds a provider that signs in with tok against the fake.
func providerFor(t *testing.T, s *fakegcp.Server, tok string, c *clock, tweak ...func(*Options)) *Provider {
	t.Helper()
	o := Options{
		ResourceManagerEndpoint: s.GRPCEndpoint(),
		IAMCredentialsEndpoint:  s.GRPCEndpoint(),
		PAMEndpoint:             s.GRPCEndpoint(),
		TokenInfoURL:            s.TokenInfoURL(),
		TokenProvider:           StaticToken(tok),
		PolicyBackoff:           time.Millisecond,
	}
	if c != nil {
		o.Now = c.Now
	}
	for _, f := range tweak {
		f(&o)
	}
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// world is a fake, a clock and alice's provider.
type world struct {
	clock *clock
	fake  *fakegcp.Server
	p     *Provider
	who   providers.Principal
}

func newWorld(t *testing.T) *world {
	t.Helper()
	isolate(t)
	c := newClock()
	s := startFake(t, fakeConfig(c))
	p := providerFor(t, s, aliceTok, c)
	who, err := p.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &world{clock: c, fake: s, p: p, who: who}
}

func (w *world) request(id string, spec *TargetSpec, d time.Duration) providers.Request {
	return providers.Request{
		ID: id, Target: providers.Target{Name: "t-" + id, Provider: ProviderName, Spec: spec},
		Principal: w.who, Duration: d, Reason: "fix the thing", Ticket: "CHG-42",
	}
}

func staticCreds(tok string) *auth.Credentials {
	return auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: StaticToken(tok)})
}

func kindOf(t *testing.T, err error) (*providers.Error, providers.Kind) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	return pe, pe.Kind
}
