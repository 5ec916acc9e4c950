package azure

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	fakeazure "github.com/jitaccess/jit/internal/fakecloud/azure"
	"github.com/jitaccess/jit/providers"
)

const (
	tenantID     = fakeazure.DefaultTenantID
	aliceOID     = "a11ce000-0000-4000-8000-000000000001"
	aliceUPN     = "alice@example.com"
	aliceMail    = "alice.smith@example.com"
	aliceClient  = "a11ce000-c11e-4000-8000-000000000001"
	aliceSecret  = "alice-client-secret-0123456789"
	bobOID       = "b0b00000-0000-4000-8000-000000000002"
	bobUPN       = "bob@example.com"
	bobClient    = "b0b00000-c11e-4000-8000-000000000002"
	bobSecret    = "bob-client-secret-0123456789"
	ciOID        = "c1c10000-0000-4000-8000-000000000003"
	ciClient     = "c1c10000-c11e-4000-8000-000000000003"
	ciSecret     = "ci-client-secret-0123456789"
	subID        = "5ab5c71b-0000-4000-8000-00000000000a"
	subScope     = "/subscriptions/" + subID
	rgScope      = subScope + "/resourceGroups/app-rg"
	otherSub     = "5ab5c71b-0000-4000-8000-00000000000b"
	mgScope      = "/providers/Microsoft.Management/managementGroups/platform"
	contributor  = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	readerGUID   = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	approvalRole = "Key Vault Administrator"
)

// clock is a settable clock for the fake's schedules.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// isolate keeps azidentity away from the developer's Azure setup and from
// any network: no inherited AZURE_* variables, and the default chain (if
// a test builds one) narrowed to the environment credential.
func isolate(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE",
		"AZURE_ADDITIONALLY_ALLOWED_TENANTS", "AZURE_REGIONAL_AUTHORITY_NAME", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
		"MSI_SECRET", "IMDS_ENDPOINT", "AZURE_SUBSCRIPTION_ID", "ARM_SUBSCRIPTION_ID", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	// Never the managed identity probe (169.254.169.254) nor `az`.
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	t.Setenv("NO_PROXY", "127.0.0.1,localhost,::1")
}

func fakeConfig(c *clock) fakeazure.Config {
	return fakeazure.Config{
		Principals: []fakeazure.Principal{
			{ObjectID: aliceOID, UPN: aliceUPN, Email: aliceMail, Name: "Alice Smith", ClientID: aliceClient, ClientSecret: aliceSecret},
			{ObjectID: bobOID, UPN: bobUPN, ClientID: bobClient, ClientSecret: bobSecret, MFA: true},
			{ObjectID: ciOID, Name: "deployer", ClientID: ciClient, ClientSecret: ciSecret},
		},
		Eligibilities: []fakeazure.Eligibility{
			{PrincipalID: aliceOID, Scope: subScope, Role: "Contributor", MaxDuration: 4 * time.Hour},
			{PrincipalID: aliceOID, Scope: rgScope, Role: "Reader", MaxDuration: 2 * time.Hour, RequireTicket: true, RequireJustification: true},
			{PrincipalID: aliceOID, Scope: subScope, Role: approvalRole, RequireApproval: true},
			{PrincipalID: aliceOID, Scope: mgScope, Role: "Owner", RequireMFA: true, MemberType: "Group"},
			{PrincipalID: bobOID, Scope: mgScope, Role: "Owner", RequireMFA: true},
			{PrincipalID: ciOID, Scope: "/subscriptions/" + otherSub, Role: "Contributor"},
		},
		Now: c.Now,
	}
}

func startFake(t *testing.T, mod func(*fakeazure.Config)) (*fakeazure.Server, *clock) {
	t.Helper()
	c := &clock{t: time.Now().UTC()}
	cfg := fakeConfig(c)
	if mod != nil {
		mod(&cfg)
	}
	f, err := fakeazure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, c
}

// secretCredential signs in through the fake Entra ID with azidentity's
// real client-secret credential.
func secretCredential(t *testing.T, f *fakeazure.Server, clientID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(f.TenantID(), clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.URL() + "/"},
			Transport: f.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func newProvider(t *testing.T, f *fakeazure.Server, clientID, secret string, mod func(*Options)) *Provider {
	t.Helper()
	isolate(t)
	o := Options{
		Credential:   secretCredential(t, f, clientID, secret),
		Endpoint:     f.URL(),
		HTTPClient:   f.Client(),
		Retry:        policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond},
		PollInterval: 5 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func target(name string, spec *TargetSpec) providers.Target {
	return providers.Target{Name: name, Provider: ProviderName, Spec: spec}
}

func request(id string, t providers.Target, d time.Duration) providers.Request {
	return providers.Request{ID: id, Target: t, Principal: providers.Principal{ID: aliceUPN, Source: PrincipalSource},
		Duration: d, Reason: "deploy hotfix", Ticket: "CHG-42"}
}
