package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/iam/credentials/apiv1/credentialspb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jitaccess/jit/providers"
)

func (p *Provider) grantImpersonate(ctx context.Context, req providers.Request, spec *TargetSpec) (*providers.Grant, error) {
	sa := spec.ServiceAccount
	op := "impersonate " + sa
	// Whole seconds, rounded down: the token must not outlive the window.
	lifetime := req.Duration.Truncate(time.Second)
	if max := spec.MaxLifetime(); lifetime > max {
		hint := "ask for --for 1h or less"
		why := "Google caps service account tokens at 1h"
		if spec.Allow12h {
			hint, why = "ask for --for 12h or less", "Google caps service account tokens at 12h"
		} else {
			why += " unless the org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension lists the service account (then set allow_12h on the target)"
		}
		return nil, invalid(op, fmt.Errorf("duration %s is too long: %s", req.Duration, why), hint)
	}
	c, err := p.credentialsClient(ctx, op)
	if err != nil {
		return nil, err
	}
	if _, _, err := p.token(ctx, op); err != nil {
		return nil, err
	}
	notBefore := p.now().UTC()
	resp, err := c.GenerateAccessToken(ctx, &credentialspb.GenerateAccessTokenRequest{
		Name:     "projects/-/serviceAccounts/" + sa,
		Scope:    spec.EffectiveScopes(),
		Lifetime: durationpb.New(lifetime),
	})
	if err != nil {
		return nil, p.classify(ctx, op, err, hints{
			denied:   fmt.Sprintf("you need iam.serviceAccounts.getAccessToken on %s (roles/iam.serviceAccountTokenCreator on the service account)", sa),
			invalid:  "IAM refused the token request; check the target's scopes and allow_12h against the org policy",
			notFound: fmt.Sprintf("the service account %s does not exist", sa),
		})
	}
	if resp.GetAccessToken() == "" || resp.GetExpireTime() == nil {
		return nil, &providers.Error{Kind: providers.KindUnknown, Op: op, Err: errors.New("IAM answered without a token")}
	}
	expires := resp.GetExpireTime().AsTime().UTC()
	tok := resp.GetAccessToken()
	env := []providers.EnvVar{
		{Name: "CLOUDSDK_AUTH_ACCESS_TOKEN", Value: tok, Secret: true},
		{Name: "GOOGLE_OAUTH_ACCESS_TOKEN", Value: tok, Secret: true},
	}
	if proj := spec.EffectiveProject(); proj != "" {
		env = append(env, providers.EnvVar{Name: "CLOUDSDK_CORE_PROJECT", Value: proj}, providers.EnvVar{Name: "GOOGLE_CLOUD_PROJECT", Value: proj})
	}
	return &providers.Grant{
		RequestID: req.ID,
		Target:    req.Target.Name,
		Provider:  ProviderName,
		Principal: req.Principal.ID,
		NotBefore: notBefore,
		NotAfter:  expires,
		Refs: map[string]string{
			"service_account": sa,
			"expire_time":     expires.Format(time.RFC3339),
			"scopes":          strings.Join(spec.EffectiveScopes(), " "),
		},
		Env:       env,
		Unset:     shadowingVars(),
		Revocable: false,
		RevokeNote: fmt.Sprintf("Google cannot revoke this access token of %s: it stays valid until %s. jit revoke ends the local session; "+
			"to stop further tokens, remove roles/iam.serviceAccountTokenCreator on the service account from the caller, or disable the service account.",
			sa, expires.Format(time.RFC3339)),
	}, nil
}

// shadowingVars would make gcloud or terraform in the session act as
// someone other than the impersonated service account.
//
// GOOGLE_APPLICATION_CREDENTIALS stays: gcloud ignores it for its own
// calls and terraform prefers GOOGLE_OAUTH_ACCESS_TOKEN, while the client
// libraries (Application Default Credentials) have no variable for a raw
// token and would act as the base identity with or without it; removing it
// would only break tools in the session that rely on it (a CI job's
// workload identity file, say).
func shadowingVars() []string {
	return []string{
		// gcloud: a token file or its own impersonation wins over
		// CLOUDSDK_AUTH_ACCESS_TOKEN, and a credential file override
		// replaces the account.
		"CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
		// terraform's google provider: impersonation on top of the token,
		// or credentials that conflict with access_token.
		"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT", "GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON",
	}
}
