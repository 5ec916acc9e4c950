// Package all builds the registry of every provider jit ships, explicitly
// and in one place (no init() registration).
package all

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/aws"
)

// Options configure the providers' base identities.
type Options struct {
	AWS aws.Options
	// Getenv reads the environment (for endpoint overrides); nil: no check.
	Getenv func(string) string
	// Warn reports a non-default endpoint, once, when the provider is built.
	Warn func(string)
}

// New returns the registry. Providers are constructed on first use.
func New(o Options) *providers.Registry {
	r := providers.NewRegistry()
	r.Register(aws.Spec(), func() (providers.Provider, error) {
		if o.Warn != nil {
			ep := o.AWS.Endpoint
			if ep == "" && o.Getenv != nil {
				if ep = o.Getenv("AWS_ENDPOINT_URL_STS"); ep == "" {
					ep = o.Getenv("AWS_ENDPOINT_URL")
				}
			}
			// Inside the jit dev sandbox the endpoint is the sandbox's own
			// fake on loopback, announced when the sandbox started.
			sandbox := o.Getenv != nil && o.Getenv("JIT_DEV") != "" && isLoopbackURL(ep)
			if ep != "" && !sandbox {
				o.Warn(fmt.Sprintf("aws: using the STS endpoint %s, not AWS's own", ep))
			}
		}
		return aws.New(context.Background(), o.AWS)
	})
	return r
}

func isLoopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
