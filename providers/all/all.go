// Package all builds the registry of every provider jit ships, explicitly
// and in one place (no init() registration).
package all

import (
	"context"
	"fmt"
	"os"

	"github.com/jitaccess/jit/providers"
	"github.com/jitaccess/jit/providers/aws"
	"github.com/jitaccess/jit/providers/azure"
	"github.com/jitaccess/jit/providers/gcp/gcpspec"
	"github.com/jitaccess/jit/providers/gcp/remote"

	"github.com/jitaccess/jit/internal/loopback"
)

// Options configure the providers' base identities.
type Options struct {
	AWS   aws.Options
	Azure azure.Options
	GCP   remote.Options
	// AzureCAFile is a PEM file of extra CA certificates for Azure; read
	// when the Azure provider is built, not by every command.
	AzureCAFile string
	// Getenv reads the environment (for endpoint overrides); nil: no check.
	Getenv func(string) string
	// Warn reports a non-default endpoint, once, when the provider is built.
	Warn func(string)
}

// New returns the registry. Providers are constructed on first use, so a
// command pays only for the clouds it talks to.
func New(o Options) *providers.Registry {
	r := providers.NewRegistry()
	r.Register(aws.Spec(), func() (providers.Provider, error) {
		ep := o.AWS.Endpoint
		if ep == "" && o.Getenv != nil {
			if ep = o.Getenv("AWS_ENDPOINT_URL_STS"); ep == "" {
				ep = o.Getenv("AWS_ENDPOINT_URL")
			}
		}
		o.warnEndpoint("aws: using the STS endpoint %s, not AWS's own", ep)
		return aws.New(context.Background(), o.AWS)
	})
	r.Register(azure.Spec(), func() (providers.Provider, error) {
		o.warnEndpoint("azure: using the Resource Manager endpoint %s, not Azure's own", o.Azure.Endpoint)
		o.warnEndpoint("azure: using the Entra ID authority %s, not Azure's own", o.Azure.AuthorityHost)
		if o.AzureCAFile != "" {
			pem, err := os.ReadFile(o.AzureCAFile)
			if err != nil {
				return nil, fmt.Errorf("providers.azure.ca_file: %w", err)
			}
			o.Azure.CACertPEM = pem
		}
		return azure.New(o.Azure)
	})
	// GCP runs in its own executable, jit-gcp: see providers/gcp/remote.
	r.Register(gcpspec.Spec(), func() (providers.Provider, error) {
		eps := o.GCP.Endpoints()
		for _, k := range []string{"resourcemanager", "iamcredentials", "privilegedaccessmanager", "tokeninfo", "token"} {
			if ep, ok := eps[k]; ok {
				o.warnEndpoint("gcp: using the "+k+" endpoint %s, not Google's own", ep)
			}
		}
		return &remote.Provider{Options: o.GCP}, nil
	})
	return r
}

// warnEndpoint reports an endpoint override: a security tool talking to an
// unexpected cloud endpoint is worth a line on stderr. Inside the jit dev
// sandbox the endpoints are the sandbox's own fakes on loopback, announced
// when the sandbox started.
func (o Options) warnEndpoint(format, ep string) {
	if ep == "" || o.Warn == nil {
		return
	}
	if o.Getenv != nil && o.Getenv("JIT_DEV") != "" && loopback.URL(ep) {
		return
	}
	o.Warn(fmt.Sprintf(format, ep))
}
