package gcp

import (
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/gcp/gcpspec"
	"github.com/jitaccess/jit/providers/gcp/remote"
	"github.com/jitaccess/jit/providers/providertest"
)

// jitGCP builds the jit-gcp executable once for the remote tests.
var jitGCP = sync.OnceValues(func() (string, error) {
	dir, err := osMkdirTemp()
	if err != nil {
		return "", err
	}
	exe := filepath.Join(dir, remote.Executable)
	cmd := exec.Command("go", "build", "-o", exe, "github.com/jitaccess/jit/cmd/jit-gcp")
	// The environment of when the tests started: isolate points HOME (and
	// so the module cache) and the proxies elsewhere.
	cmd.Env = startEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", &buildError{string(out), err}
	}
	return exe, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "build jit-gcp: " + e.err.Error() + ": " + e.out }

// remoteFor is alice's GCP provider running in jit-gcp, signed in the way a
// user is: an authorized_user credentials file refreshed at the fake's token
// endpoint.
func remoteFor(t *testing.T, s interface {
	GRPCEndpoint() string
	TokenInfoURL() string
	TokenURL() string
}) *remote.Provider {
	t.Helper()
	if testing.Short() {
		t.Skip("builds jit-gcp")
	}
	exe, err := jitGCP()
	if err != nil {
		t.Fatal(err)
	}
	creds := writeJSON(t, map[string]any{"type": "authorized_user", "client_id": "fake-client.apps.googleusercontent.com",
		"client_secret": "fake-secret", "refresh_token": aliceRefr})
	return &remote.Provider{Exe: exe, Options: remote.Options{
		ResourceManagerEndpoint: s.GRPCEndpoint(), IAMCredentialsEndpoint: s.GRPCEndpoint(), PAMEndpoint: s.GRPCEndpoint(),
		TokenInfoURL: s.TokenInfoURL(), TokenURL: s.TokenURL(), CredentialsFile: creds,
	}}
}

// The provider passes the same conformance suite through jit-gcp as in
// process: the pipe loses nothing (errors keep their kind and hint,
// cancellation stays context.Canceled, grants their refs and secrets).
func TestRemoteConformance(t *testing.T) {
	for _, tc := range []struct {
		name           string
		target, denied *TargetSpec
		active         func(s fakeServer, g *providers.Grant) bool
	}{
		{"binding", bindingSpec(), &TargetSpec{Resource: lockedProj, Role: "roles/compute.admin"}, func(s fakeServer, g *providers.Grant) bool {
			return s.HasAccess(g.Refs["resource"], g.Refs["role"], g.Refs["member"])
		}},
		{"impersonate", &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}, &TargetSpec{Mode: ModeImpersonate, ServiceAccount: lockedSA}, nil},
		{"pam", pamSpec(entOpen), pamSpec(entClosed), func(s fakeServer, g *providers.Grant) bool { return s.GrantState(g.Refs["grant"]) == "ACTIVE" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			providertest.Suite{New: func(t *testing.T) providertest.Env {
				isolate(t)
				s := startFake(t, fakeConfig(nil))
				p := remoteFor(t, s)
				who, err := p.WhoAmI(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				env := providertest.Env{Provider: p, Principal: who, Block: s.Hold,
					Target: providers.Target{Name: "ok", Provider: ProviderName, Spec: tc.target},
					Denied: providers.Target{Name: "locked", Provider: ProviderName, Spec: tc.denied}}
				if tc.active != nil {
					env.Active = func(g *providers.Grant) bool { return tc.active(s, g) }
				}
				return env
			}}.Run(t)
		})
	}
}

func TestRemotePendingAndCollect(t *testing.T) {
	isolate(t)
	s := startFake(t, fakeConfig(nil))
	p := remoteFor(t, s)
	who, err := p.WhoAmI(context.Background())
	if err != nil || who.ID != alice {
		t.Fatalf("WhoAmI = %+v, %v", who, err)
	}
	_, err = p.Grant(context.Background(), providers.Request{ID: "01REMOTEPENDING0000000000", Principal: who, Duration: 3600e9,
		Reason: "needs an approver", Target: providers.Target{Name: "bg", Provider: ProviderName, Spec: pamSpec(entApprove)}})
	var pe *providers.Error
	if !asProviderError(err, &pe) || pe.Kind != providers.KindPending || pe.Refs["grant"] == "" || pe.Hint == "" {
		t.Fatalf("pending grant through jit-gcp = %v (%+v)", err, pe)
	}
	n, err := p.Collect(context.Background(), []providers.Target{{Name: "b", Provider: ProviderName, Spec: bindingSpec()}})
	if err != nil || n != 0 {
		t.Errorf("Collect = %d, %v", n, err)
	}
	if d, why := p.MaxDuration(context.Background(), providers.Target{Spec: &gcpspec.TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}}, who); d != MaxTokenLifetime || why == "" {
		t.Errorf("MaxDuration = %s, %q", d, why)
	}
}

func TestRemoteMissingExecutable(t *testing.T) {
	p := &remote.Provider{Exe: filepath.Join(t.TempDir(), "no-jit-gcp")}
	_, err := p.WhoAmI(context.Background())
	if err == nil {
		t.Fatal("WhoAmI without jit-gcp succeeded")
	}
	q := &remote.Provider{}
	t.Setenv("PATH", t.TempDir())
	_, err = q.WhoAmI(context.Background())
	var pe *providers.Error
	if !asProviderError(err, &pe) || pe.Hint == "" {
		t.Errorf("error without jit-gcp in PATH = %v", err)
	}
}

func asProviderError(err error, pe **providers.Error) bool { return errorsAs(err, pe) }
