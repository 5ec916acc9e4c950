package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/jitaccess/jit/providers"
)

// The identity cache remembers who a base access key belongs to, so that an
// elevation needs one round trip to STS (AssumeRole) instead of two. An
// access key id names one principal for its whole life, so the answer does
// not go stale; an entry lasts as long as the credentials (12h at most for
// keys that do not expire). It holds no secret: the file name is a hash of
// the access key id (itself not secret) and the content is the caller ARN.
//
// What it trusts: a local user who edits the cache changes whom the policy
// check sees — which the same user could equally do by calling STS without
// jit. AWS still decides with the real identity (the role's trust policy),
// and the session name and CloudTrail carry the truth.

const identityCacheMaxAge = 12 * time.Hour

type identityEntry struct {
	ARN       string    `json:"arn"`
	UserID    string    `json:"user_id"`
	Account   string    `json:"account"`
	Temporary bool      `json:"temporary"`
	Expires   time.Time `json:"expires"`
}

func (p *Provider) identityPath(accessKeyID string) string {
	if p.cacheDir == "" || accessKeyID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("jit identity v1\x00" + accessKeyID))
	return filepath.Join(p.cacheDir, hex.EncodeToString(sum[:16])+".json")
}

func (p *Provider) cachedIdentity(ctx context.Context, accessKeyID string) (identityEntry, bool) {
	path := p.identityPath(accessKeyID)
	if path == "" || providers.FreshIdentity(ctx) {
		return identityEntry{}, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return identityEntry{}, false
	}
	var e identityEntry
	if json.Unmarshal(data, &e) != nil || e.ARN == "" || !p.now().Before(e.Expires) {
		return identityEntry{}, false
	}
	return e, true
}

// storeIdentity writes the entry; the cache is an optimisation, so a
// failure is ignored.
func (p *Provider) storeIdentity(accessKeyID string, e identityEntry) {
	path := p.identityPath(accessKeyID)
	if path == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return
	}
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".identity-*")
	if err != nil {
		return
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return
	}
	if tmp.Close() == nil {
		_ = os.Rename(tmp.Name(), path)
	}
}
