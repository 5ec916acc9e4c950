package gcp

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fakegcp "github.com/jitaccess/jit/internal/fakecloud/gcp"
)

const gcloudHelperEnv = "JIT_GCP_GCLOUD_HELPER"

// TestRealGcloud runs the real gcloud CLI against the fake with the token
// of an impersonate grant. gcloud looks for the GCE metadata server and
// checks for updates, so it runs in a network namespace of its own (only
// loopback), together with the fake: this test re-executes the test binary
// there as TestGcloudHelper.
func TestRealGcloud(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gcloud CLI (seconds)")
	}
	if _, err := exec.LookPath("gcloud"); err != nil {
		t.Skip("gcloud is not installed")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is not installed")
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		t.Skipf("unshare -n is not permitted here: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" -test.run='^TestGcloudHelper$' -test.v -test.count=1`, self)
	cmd.Env = append(os.Environ(), gcloudHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("helper output:\n%s", out)
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestGcloudHelper")) {
		t.Fatal("the helper did not run")
	}
}

// TestGcloudHelper is TestRealGcloud's body, inside the namespace.
func TestGcloudHelper(t *testing.T) {
	if os.Getenv(gcloudHelperEnv) == "" {
		t.Skip("run by TestRealGcloud")
	}
	isolate(t)
	s := startFake(t, fakeConfig(nil))
	p := providerFor(t, s, aliceTok, nil)
	who, err := p.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{fake: s, p: p, who: who}
	g, err := p.Grant(context.Background(), w.request("01GCLOUD", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}, 30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, e := range g.Env {
		if e.Name == "CLOUDSDK_AUTH_ACCESS_TOKEN" {
			token = e.Value
		}
	}

	cfgDir := t.TempDir()
	// Tell gcloud it is not on GCE, so that it does not probe.
	if err := os.WriteFile(filepath.Join(cfgDir, "gce"), []byte("False"), 0o600); err != nil {
		t.Fatal(err)
	}
	gcloud := func(tok string, args ...string) (string, error) {
		env := []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + cfgDir, "CLOUDSDK_CONFIG=" + cfgDir,
			"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true",
			"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		}
		env = append(env, s.GcloudEnv()...)
		// The session's environment as jit would build it, with the token
		// under test.
		for _, e := range g.Env {
			v := e.Value
			if e.Name == "CLOUDSDK_AUTH_ACCESS_TOKEN" {
				v = tok
			}
			env = append(env, e.Name+"="+v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "gcloud", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := gcloud(token, "projects", "get-iam-policy", "jit-proj", "--format=json")
	if err != nil {
		t.Fatalf("gcloud with the granted token: %v\n%s", err, out)
	}
	var pol struct {
		Bindings []struct {
			Role    string   `json:"role"`
			Members []string `json:"members"`
		} `json:"bindings"`
		Etag string `json:"etag"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &pol); err != nil {
		t.Fatalf("gcloud output is not the policy: %v\n%s", err, out)
	}
	found := false
	for _, b := range pol.Bindings {
		found = found || b.Role == "roles/iam.securityReviewer"
	}
	if !found || pol.Etag == "" {
		t.Errorf("policy from gcloud: %+v", pol)
	}
	calls := s.CallsFor("REST getIamPolicy")
	if len(calls) != 1 || calls[0].TokenHash != fakegcp.TokenHash(token) || calls[0].Caller != deployer || calls[0].Code != "OK" || calls[0].Resource != proj {
		t.Fatalf("the fake saw %+v; want one call with the granted token, as %s", calls, deployer)
	}

	// A token the fake never issued is refused, and gcloud fails.
	s.ResetCalls()
	if out, err := gcloud("ya29.not-issued", "projects", "get-iam-policy", "jit-proj", "--format=json"); err == nil {
		t.Errorf("gcloud succeeded with a wrong token:\n%s", out)
	}
	if calls := s.CallsFor("REST getIamPolicy"); len(calls) == 0 || calls[0].Code != "Unauthenticated" {
		t.Errorf("wrong token: the fake saw %+v", calls)
	}

	// Once the grant's token has expired, gcloud is refused too.
	s.ResetCalls()
	s.Advance(31 * time.Minute)
	if out, err := gcloud(token, "projects", "get-iam-policy", "jit-proj", "--format=json"); err == nil {
		t.Errorf("gcloud succeeded with an expired token:\n%s", out)
	}
	if calls := s.CallsFor("REST getIamPolicy"); len(calls) == 0 || calls[0].Code != "Unauthenticated" || calls[0].TokenHash != fakegcp.TokenHash(token) {
		t.Errorf("expired token: the fake saw %+v", calls)
	}
}
