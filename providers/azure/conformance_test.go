package azure

import (
	"context"
	"testing"
	"time"

	fakeazure "github.com/jitaccess/jit/internal/fakecloud/azure"
	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/providertest"
)

// TestConformance runs the providers contract against the fake. PIM
// refuses a deactivation in the first 5 minutes after activation and the
// suite revokes right after granting, so its fake lifts that rule
// (AllowImmediateDeactivation); TestRevokeWithinFiveMinutesIsRefusedThenWorks
// covers the rule itself.
func TestConformance(t *testing.T) {
	providertest.Suite{New: func(t *testing.T) providertest.Env {
		f, _ := startFake(t, func(c *fakeazure.Config) { c.AllowImmediateDeactivation = true })
		p := newProvider(t, f, aliceClient, aliceSecret, nil)
		who, err := p.WhoAmI(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return providertest.Env{
			Provider:  p,
			Principal: who,
			Target:    target("sub-contrib", &TargetSpec{Scope: subScope, Role: "Contributor"}),
			Denied:    target("sub-owner", &TargetSpec{Scope: subScope, Role: "Owner"}),
			Duration:  time.Hour,
			Block:     f.Hold,
			Active: func(g *providers.Grant) bool {
				return f.IsActive(g.Refs[RefPrincipalID], g.Refs[RefScope], g.Refs[RefRoleDefinitionID])
			},
		}
	}}.Run(t)
}
