package azure

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// tokenRefreshMargin is how long before expiry a cached token is renewed.
const tokenRefreshMargin = 5 * time.Minute

// tokenSource builds the credential on first use and caches its tokens,
// so that WhoAmI and the ARM calls of one command share one token (the
// Azure CLI credential runs `az` for every token otherwise).
type tokenSource struct {
	build func() (azcore.TokenCredential, error)

	mu    sync.Mutex
	cred  azcore.TokenCredential
	err   error
	built bool
	cache map[string]azcore.AccessToken
}

// credentialError marks a failure to get a token (as opposed to an ARM
// answer), so that it is classified as an authentication problem.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// GetToken returns a cached token that is not about to expire, or a new
// one. Claims challenges always go to the credential.
func (t *tokenSource) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.built {
		t.cred, t.err = t.build()
		t.built = true
	}
	if t.err != nil {
		return azcore.AccessToken{}, &credentialError{t.err}
	}
	if t.cred == nil {
		return azcore.AccessToken{}, &credentialError{errors.New("no Azure credential")}
	}
	scopes := append([]string(nil), o.Scopes...)
	sort.Strings(scopes)
	key := strings.Join(scopes, " ") + "|" + o.TenantID
	if o.EnableCAE {
		key += "|cae"
	}
	now := time.Now()
	if o.Claims == "" {
		if tok, ok := t.cache[key]; ok && now.Add(tokenRefreshMargin).Before(tok.ExpiresOn) &&
			(tok.RefreshOn.IsZero() || now.Before(tok.RefreshOn)) {
			return tok, nil
		}
	}
	tok, err := t.cred.GetToken(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return azcore.AccessToken{}, ctx.Err()
		}
		return azcore.AccessToken{}, &credentialError{err}
	}
	t.cache[key] = tok
	return tok, nil
}
