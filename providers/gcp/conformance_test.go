package gcp

import (
	"context"
	"testing"

	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/providertest"
)

// conformance runs the suite for one mode against a fresh fake on the
// wall clock (the suite compares expiries with time.Now).
func conformance(t *testing.T, target, denied *TargetSpec, active func(s fakeServer, g *providers.Grant) bool) {
	providertest.Suite{New: func(t *testing.T) providertest.Env {
		isolate(t)
		s := startFake(t, fakeConfig(nil))
		p := providerFor(t, s, aliceTok, nil)
		who, err := p.WhoAmI(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		env := providertest.Env{
			Provider:  p,
			Principal: who,
			Target:    providers.Target{Name: "ok", Provider: ProviderName, Spec: target},
			Denied:    providers.Target{Name: "locked", Provider: ProviderName, Spec: denied},
			Block:     s.Hold,
		}
		if active != nil {
			env.Active = func(g *providers.Grant) bool { return active(s, g) }
		}
		return env
	}}.Run(t)
}

type fakeServer interface {
	HasAccess(resource, role, member string) bool
	GrantState(name string) string
}

func TestConformanceBinding(t *testing.T) {
	conformance(t, bindingSpec(), &TargetSpec{Resource: lockedProj, Role: "roles/compute.admin"}, func(s fakeServer, g *providers.Grant) bool {
		return s.HasAccess(g.Refs["resource"], g.Refs["role"], g.Refs["member"])
	})
}

func TestConformanceImpersonate(t *testing.T) {
	conformance(t, &TargetSpec{Mode: ModeImpersonate, ServiceAccount: deployer}, &TargetSpec{Mode: ModeImpersonate, ServiceAccount: lockedSA}, nil)
}

func TestConformancePAM(t *testing.T) {
	conformance(t, pamSpec(entOpen), pamSpec(entClosed), func(s fakeServer, g *providers.Grant) bool {
		return s.GrantState(g.Refs["grant"]) == "ACTIVE"
	})
}
