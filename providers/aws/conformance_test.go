package aws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jitaccess/jit/internal/fakecloud"
	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Suite{New: func(t *testing.T) providertest.Env {
		isolate(t)
		useKeys(t, aliceKey, aliceSecret, "")
		s, err := fakecloud.NewSTS(fakecloud.STSConfig{
			Identities: []fakecloud.STSIdentity{{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret, ARN: aliceARN}},
			Roles: []fakecloud.STSRole{
				{ARN: prodRole, MaxSessionDuration: 4 * time.Hour, AllowTagSession: true, AllowSetSourceIdentity: true},
				{ARN: plainRole, TrustedPrincipals: []string{"arn:aws:iam::111111111111:user/someone-else"}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })

		// A gate in front of the fake, closed by Block, to cancel a call
		// while it is in flight.
		target, _ := url.Parse(s.URL())
		proxy := httputil.NewSingleHostReverseProxy(target)
		var mu sync.Mutex
		gate := make(chan struct{})
		close(gate)
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			g := gate
			mu.Unlock()
			select {
			case <-g:
			case <-r.Context().Done():
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)

		p, err := New(context.Background(), Options{Region: "eu-west-1", Endpoint: front.URL, RetryMaxAttempts: 1, RetryMaxBackoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		who, err := p.WhoAmI(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return providertest.Env{
			Provider:  p,
			Principal: who,
			Target:    providers.Target{Name: "prod", Provider: "aws", Spec: &TargetSpec{RoleARN: prodRole, SourceIdentity: true, SessionTags: true}},
			Denied:    providers.Target{Name: "locked", Provider: "aws", Spec: &TargetSpec{RoleARN: plainRole}},
			Block: func() func() {
				mu.Lock()
				gate = make(chan struct{})
				g := gate
				mu.Unlock()
				return sync.OnceFunc(func() { close(g) })
			},
		}
	}}.Run(t)
}
