package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/jitaccess/jit/internal/fakecloud"
	fakeazure "github.com/jitaccess/jit/internal/fakecloud/azure"
	fakegcp "github.com/jitaccess/jit/internal/fakecloud/gcp"
	"github.com/jitaccess/jit/internal/jitcmd"
	gcpplugin "github.com/jitaccess/jit/providers/gcp/plugin"
)

// The end-to-end suite runs the real jit (this test binary, re-executed as
// "jit") in testscript scripts under testdata/script. Each script gets its
// own fake STS on loopback, its own HOME and XDG directories, and git with no
// user configuration.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"jit":     func() { os.Exit(jitcmd.Main()) },
		"jit-gcp": func() { os.Exit(gcpplugin.Main()) },
	})
}

// Identities of the scripts' fake STS.
const (
	aliceKey  = "AKIAALICE00000000001"
	aliceARN  = "arn:aws:iam::111111111111:user/alice"
	bobKey    = "ASIABOB0000000000001"
	bobARN    = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Dev_abc/bob@example.com"
	strangerK = "AKIASTRANGER0000001"
)

var (
	fakes      = map[string]*fakecloud.STS{}
	azureFakes = map[string]*fakeazure.Server{}
	gcpFakes   = map[string]*fakegcp.Server{}
)

// GCP identities and names of the scripts' fake Google Cloud.
const (
	gcpAliceToken   = "ya29.alice-base-token"
	gcpAliceRefresh = "1//alice-refresh-token"
	gcpProject      = "projects/jit-proj"
	gcpDeployer     = "deployer@jit-proj.iam.gserviceaccount.com"
	gcpEntOpen      = "projects/jit-proj/locations/global/entitlements/prod-admin"
	gcpEntApproval  = "projects/jit-proj/locations/global/entitlements/break-glass"
)

// Azure identities of the scripts' fake Entra ID.
const (
	aliceOID     = "a11ce000-0000-4000-8000-000000000001"
	azureSub     = "00000000-0000-4000-8000-0000000000aa"
	azureClient  = "c11e0000-0000-4000-8000-000000000001"
	azureSecretV = "azure-client-secret-for-alice"
)

func TestScripts(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setup,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fakecalls":     cmdFakeCalls,
			"fakecred":      cmdFakeCred,
			"nosecret":      cmdNoSecret,
			"fakefail":      cmdFakeFail,
			"tamper":        cmdTamper,
			"agegrants":     cmdAgeGrants,
			"azapprove":     cmdAzApprove,
			"azadvance":     cmdAzAdvance,
			"azactive":      cmdAzActive,
			"gcpapprove":    cmdGCPApprove,
			"gcphas":        cmdGCPHas,
			"gcpadvance":    cmdGCPAdvance,
			"gcpaddexpired": cmdGCPAddExpired,
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "unshare":
				return exec.Command("unshare", "-n", "true").Run() == nil, nil
			}
			if bin, ok := strings.CutPrefix(cond, "has:"); ok {
				_, err := exec.LookPath(bin)
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

func setup(env *testscript.Env) error {
	work := env.WorkDir
	aliceSecret, bobSecret, bobToken := "alice-secret-"+strconv.FormatInt(time.Now().UnixNano(), 36), "bob-secret-x", "bob-session-token-x"
	sts, err := fakecloud.NewSTS(fakecloud.STSConfig{
		Identities: []fakecloud.STSIdentity{
			{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret, ARN: aliceARN},
			{AccessKeyID: bobKey, SecretAccessKey: bobSecret, SessionToken: bobToken, ARN: bobARN},
			{AccessKeyID: strangerK, SecretAccessKey: "stranger-secret", ARN: "arn:aws:iam::999999999999:user/mallory"},
		},
		Roles: []fakecloud.STSRole{
			{ARN: "arn:aws:iam::111111111111:role/prod-admin", MaxSessionDuration: 4 * time.Hour, AllowTagSession: true, AllowSetSourceIdentity: true},
			{ARN: "arn:aws:iam::111111111111:role/staging", MaxSessionDuration: 12 * time.Hour},
			{ARN: "arn:aws:iam::111111111111:role/locked", TrustedPrincipals: []string{"arn:aws:iam::111111111111:user/nobody"}},
		},
	})
	if err != nil {
		return err
	}
	fakes[work] = sts
	env.Defer(func() { sts.Close(); delete(fakes, work) })

	az, err := fakeazure.New(fakeazure.Config{
		Principals: []fakeazure.Principal{{ObjectID: aliceOID, UPN: "alice@example.com", ClientID: azureClient, ClientSecret: azureSecretV, MFA: true}},
		Eligibilities: []fakeazure.Eligibility{
			{PrincipalID: aliceOID, Scope: "/subscriptions/" + azureSub, Role: "Contributor", MaxDuration: 8 * time.Hour},
			{PrincipalID: aliceOID, Scope: "/subscriptions/" + azureSub, Role: "Owner", MaxDuration: 2 * time.Hour, RequireApproval: true},
			{PrincipalID: aliceOID, Scope: "/subscriptions/" + azureSub, Role: "Reader", MaxDuration: time.Hour},
		},
	})
	if err != nil {
		return err
	}
	azureFakes[work] = az
	env.Defer(func() { az.Close(); delete(azureFakes, work) })
	caFile := filepath.Join(work, ".azure-ca.pem")
	if err := os.WriteFile(caFile, az.CertPEM(), 0o600); err != nil {
		return err
	}

	gf, err := fakegcp.New(fakegcp.Config{
		Identities: []fakegcp.Identity{
			{Email: "alice@example.com", Token: gcpAliceToken, RefreshToken: gcpAliceRefresh},
			{Email: "carol@example.com", Token: "ya29.carol-approver"},
		},
		ServiceAccounts: []fakegcp.ServiceAccount{{Email: gcpDeployer, TokenCreators: []string{"user:alice@example.com"}}},
		Policies: []fakegcp.Policy{{Resource: gcpProject, Bindings: []fakegcp.Binding{
			{Role: "roles/resourcemanager.projectIamAdmin", Members: []string{"user:alice@example.com"}},
			{Role: "roles/iam.securityReviewer", Members: []string{"serviceAccount:" + gcpDeployer}},
		}}, {Resource: "projects/locked-proj", Bindings: []fakegcp.Binding{
			{Role: "roles/owner", Members: []string{"user:carol@example.com"}},
		}}},
		Entitlements: []fakegcp.Entitlement{
			{Name: gcpEntOpen, Eligible: []string{"alice@example.com"}, Admins: []string{"alice@example.com"}, Role: "roles/compute.admin", MaxRequestDuration: 2 * time.Hour},
			{Name: gcpEntApproval, Eligible: []string{"alice@example.com"}, Approvers: []string{"carol@example.com"}, Admins: []string{"alice@example.com"}, Role: "roles/iam.securityAdmin", MaxRequestDuration: 4 * time.Hour},
		},
	})
	if err != nil {
		return err
	}
	gcpFakes[work] = gf
	env.Defer(func() { gf.Close(); delete(gcpFakes, work) })
	gcpCreds := filepath.Join(work, ".gcp-adc.json")
	adc := fmt.Sprintf(`{"type":"authorized_user","client_id":"jit-test.apps.googleusercontent.com","client_secret":"test","refresh_token":%q}`, gcpAliceRefresh)
	if err := os.WriteFile(gcpCreds, []byte(adc), 0o600); err != nil {
		return err
	}
	for _, kv := range gf.GcloudEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env.Setenv(k, v)
	}

	home := filepath.Join(work, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	gitcfg := filepath.Join(work, ".gitconfig")
	if err := os.WriteFile(gitcfg, []byte("[user]\n\tname = Policy Author\n\temail = author@example.com\n[init]\n\tdefaultBranch = main\n"), 0o600); err != nil {
		return err
	}
	empty := filepath.Join(work, ".aws-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return err
	}
	for k, v := range map[string]string{
		"HOME":                               home,
		"XDG_CONFIG_HOME":                    filepath.Join(home, ".config"),
		"XDG_STATE_HOME":                     filepath.Join(home, ".local/state"),
		"XDG_CACHE_HOME":                     filepath.Join(home, ".cache"),
		"JOURNAL":                            filepath.Join(home, ".local/state/jit/audit.jsonl"),
		"GIT_CONFIG_GLOBAL":                  gitcfg,
		"GIT_CONFIG_NOSYSTEM":                "1",
		"AWS_ACCESS_KEY_ID":                  aliceKey,
		"AWS_SECRET_ACCESS_KEY":              aliceSecret,
		"ALICE_SECRET":                       aliceSecret,
		"BOB_KEY":                            bobKey,
		"BOB_SECRET":                         bobSecret,
		"BOB_TOKEN":                          bobToken,
		"STRANGER_KEY":                       strangerK,
		"AWS_REGION":                         "us-east-1",
		"AWS_ENDPOINT_URL_STS":               sts.URL(),
		"FAKE_STS":                           sts.URL(),
		"AWS_EC2_METADATA_DISABLED":          "true",
		"AWS_CONFIG_FILE":                    empty,
		"AWS_SHARED_CREDENTIALS_FILE":        empty,
		"HTTP_PROXY":                         "http://127.0.0.1:9",
		"HTTPS_PROXY":                        "http://127.0.0.1:9",
		"NO_PROXY":                           "127.0.0.1,localhost,::1",
		"SHELL":                              "/bin/sh",
		"AZURE_TENANT_ID":                    az.TenantID(),
		"AZURE_CLIENT_ID":                    azureClient,
		"AZURE_CLIENT_SECRET":                azureSecretV,
		"AZURE_AUTHORITY_HOST":               az.URL(),
		"AZURE_TOKEN_CREDENTIALS":            "EnvironmentCredential",
		"JIT_PROVIDERS_AZURE_ENDPOINT":       az.URL(),
		"JIT_PROVIDERS_AZURE_AUTHORITY_HOST": az.URL(),
		"JIT_PROVIDERS_AZURE_CA_FILE":        caFile,
		"AZURE_SUB":                          azureSub,
		"GOOGLE_APPLICATION_CREDENTIALS":     gcpCreds,
		"JIT_PROVIDERS_GCP_ENDPOINTS_RESOURCEMANAGER":         gf.GRPCEndpoint(),
		"JIT_PROVIDERS_GCP_ENDPOINTS_IAMCREDENTIALS":          gf.GRPCEndpoint(),
		"JIT_PROVIDERS_GCP_ENDPOINTS_PRIVILEGEDACCESSMANAGER": gf.GRPCEndpoint(),
		"JIT_PROVIDERS_GCP_ENDPOINTS_TOKENINFO":               gf.TokenInfoURL(),
		"JIT_PROVIDERS_GCP_ENDPOINTS_TOKEN":                   gf.TokenURL(),
		"GCE_METADATA_HOST":                                   "127.0.0.1:9",
		"GCE_METADATA_IP":                                     "127.0.0.1:9",
		"NO_GCE_CHECK":                                        "true",
		"CLOUDSDK_CONFIG":                                     filepath.Join(work, ".gcloud"),
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING":               "true",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK":     "true",
	} {
		env.Setenv(k, v)
	}
	return nil
}

// fakecalls ACTION N: the fake STS received exactly N calls of ACTION.
func cmdFakeCalls(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fakecalls ACTION N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	got := len(fakes[ts.Getenv("WORK")].CallsFor(args[0]))
	if (got == want) == neg {
		ts.Fatalf("fake STS got %d %s calls, want %s%d", got, args[0], map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// fakefail ACTION CODE STATUS N: the next N calls of ACTION fail.
func cmdFakeFail(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: fakefail ACTION CODE STATUS N")
	}
	status, err := strconv.Atoi(args[2])
	ts.Check(err)
	n, err := strconv.Atoi(args[3])
	ts.Check(err)
	fakes[ts.Getenv("WORK")].FailNext(args[0], args[1], status, n)
}

// fakecred FILE ROLE-ARN: FILE (NAME=value lines, as `env` prints) holds
// AWS credentials that the fake STS issued for ROLE-ARN and that are valid
// now.
func cmdFakeCred(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fakecred FILE ROLE-ARN")
	}
	vars := readEnvFile(ts, args[0])
	id := vars["AWS_ACCESS_KEY_ID"]
	info := fakes[ts.Getenv("WORK")].Credential(id)
	ok := info.Valid && info.Role == args[1]
	if ok == neg {
		ts.Fatalf("credential %s: valid=%v expired=%v role=%q, want role %q", id, info.Valid, info.Expired, info.Role, args[1])
	}
}

// nosecret ENVFILE PATH...: no secret value in ENVFILE (the secret access
// key and session token jit delivered) occurs in any file under the PATHs.
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: nosecret ENVFILE PATH...")
	}
	vars := readEnvFile(ts, args[0])
	var secrets []string
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if v := vars[k]; v != "" {
			secrets = append(secrets, v)
		}
	}
	if len(secrets) == 0 {
		ts.Fatalf("%s holds no secrets to look for", args[0])
	}
	envFile := ts.MkAbs(args[0])
	found := ""
	for _, p := range args[1:] {
		root := ts.MkAbs(p)
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path == envFile {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, s := range secrets {
				if bytes.Contains(data, []byte(s)) {
					found = path
				}
			}
			return nil
		})
	}
	if (found != "") != neg {
		if neg {
			ts.Fatalf("no secret found under %v", args[1:])
		}
		ts.Fatalf("a secret jit delivered is in %s", found)
	}
}

// tamper FILE LINE OLD NEW: replace the first OLD with NEW on line LINE.
func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: tamper FILE LINE OLD NEW")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	lines := strings.SplitAfter(string(data), "\n")
	if n < 1 || n > len(lines) || !strings.Contains(lines[n-1], args[2]) {
		ts.Fatalf("line %d of %s does not contain %q", n, args[0], args[2])
	}
	lines[n-1] = strings.Replace(lines[n-1], args[2], args[3], 1)
	ts.Check(os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600))
}

func readEnvFile(ts *testscript.TestScript, name string) map[string]string {
	data, err := os.ReadFile(ts.MkAbs(name))
	ts.Check(err)
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// agegrants DURATION: move every grant on record DURATION into the past, as
// if that much time had passed since jit made them.
func cmdAgeGrants(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: agegrants DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	dir := filepath.Join(ts.Getenv("XDG_STATE_HOME"), "jit", "grants")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		ts.Fatalf("no grants on record in %s", dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		ts.Check(err)
		var rec map[string]any
		ts.Check(json.Unmarshal(data, &rec))
		for _, k := range []string{"created", "not_before", "not_after"} {
			if v, ok := rec[k].(string); ok {
				t, err := time.Parse(time.RFC3339Nano, v)
				ts.Check(err)
				rec[k] = t.Add(-d).Format(time.RFC3339Nano)
			}
		}
		out, err := json.Marshal(rec)
		ts.Check(err)
		ts.Check(os.WriteFile(f, out, 0o600))
	}
}

// azapprove: an approver approves every request awaiting approval on the
// fake PIM.
func cmdAzApprove(ts *testscript.TestScript, neg bool, args []string) {
	az := azureFakes[ts.Getenv("WORK")]
	n := 0
	for _, r := range az.Requests() {
		if strings.HasPrefix(r.Status, "PendingApproval") {
			ts.Check(az.Approve(r.Name))
			n++
		}
	}
	if n == 0 {
		ts.Fatalf("no request awaits approval")
	}
}

// azadvance DURATION: move the fake PIM's clock forward.
func cmdAzAdvance(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: azadvance DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	azureFakes[ts.Getenv("WORK")].Advance(d)
}

// azactive N: the fake PIM has N active role assignments.
func cmdAzActive(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: azactive N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	if got := len(azureFakes[ts.Getenv("WORK")].Active()); (got == want) == neg {
		ts.Fatalf("%d active assignments, want %d", got, want)
	}
}

// gcpapprove: carol, an approver, approves every PAM grant awaiting approval.
func cmdGCPApprove(ts *testscript.TestScript, neg bool, args []string) {
	gf := gcpFakes[ts.Getenv("WORK")]
	n := 0
	for _, g := range gf.Grants() {
		if g.State == "APPROVAL_AWAITED" {
			ts.Check(gf.Approve(g.Name, "carol@example.com"))
			n++
		}
	}
	if n == 0 {
		ts.Fatalf("no PAM grant awaits approval")
	}
}

// gcphas RESOURCE ROLE MEMBER: the member holds the role on the resource
// now (a binding whose condition holds).
func cmdGCPHas(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: gcphas RESOURCE ROLE MEMBER")
	}
	if got := gcpFakes[ts.Getenv("WORK")].HasAccess(args[0], args[1], args[2]); got == neg {
		ts.Fatalf("%s has %s on %s: %v", args[2], args[1], args[0], got)
	}
}

// gcpadvance DURATION: move the fake Google Cloud's clock forward.
func cmdGCPAdvance(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: gcpadvance DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	gcpFakes[ts.Getenv("WORK")].Advance(d)
}

// gcpaddexpired RESOURCE ROLE MEMBER: a binding jit made an hour ago, and
// whose condition has ended, is still in the resource's policy (IAM never
// deletes bindings).
func cmdGCPAddExpired(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: gcpaddexpired RESOURCE ROLE MEMBER")
	}
	gf := gcpFakes[ts.Getenv("WORK")]
	var bindings []fakegcp.Binding
	for _, b := range gf.Policy(args[0]).GetBindings() {
		fb := fakegcp.Binding{Role: b.GetRole(), Members: b.GetMembers()}
		if c := b.GetCondition(); c != nil {
			fb.Condition = &fakegcp.Condition{Title: c.GetTitle(), Description: c.GetDescription(), Expression: c.GetExpression()}
		}
		bindings = append(bindings, fb)
	}
	ended := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	bindings = append(bindings, fakegcp.Binding{Role: args[1], Members: []string{args[2]}, Condition: &fakegcp.Condition{
		Title: "jit-01M8EXPIRED000000000000000", Description: "jit: an earlier grant", Expression: `request.time < timestamp("` + ended + `")`}})
	ts.Check(gf.SetPolicy(args[0], bindings))
}
