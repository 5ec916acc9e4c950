// Package elevationtest holds fakes for tests of the elevation use case and
// of the commands built on it: a provider that records what it is asked,
// its registry and spec, an in-memory policy source and a sample policy.
// Nothing here touches a network.
package elevationtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jitaccess/jit/internal/audit"
	"github.com/jitaccess/jit/internal/elevation"
	"github.com/jitaccess/jit/internal/policysource"
	"github.com/jitaccess/jit/providers"
)

// Name is the fake provider's name, the value of a target's `provider:`.
const Name = "fake"

// Values the fake provider delivers. SecretValue must never appear in a
// journal, an error or non-credential output.
const (
	KeyID       = "FAKEKEYID0000001"
	SecretValue = "fake-secret-value-must-not-leak-7f3a"
)

// Commit is the commit of Snapshot.
const Commit = "0123456789abcdef0123456789abcdef01234567"

// Policy is a sample policy for the fake provider: alice (group sre) may
// use prod for up to 2h with a reason and a CHG ticket; everyone may use
// staging; no rule grants vault.
const Policy = `version: 1
groups:
  sre: [alice@example.com]
targets:
  prod:
    description: Production
    provider: fake
    fake: {role: admin}
    max_duration: 4h
    default_duration: 30m
  staging:
    description: Staging
    provider: fake
    fake: {role: dev}
  vault:
    provider: fake
    fake: {role: vault}
rules:
  - name: sre-prod
    subjects: ["group:sre"]
    targets: [prod]
    max_duration: 2h
    require:
      reason: true
      ticket: '^CHG-[0-9]+$'
  - name: anyone-staging
    subjects: ["*"]
    targets: [staging]
`

// Tests are policy test cases for Policy, all passing.
const Tests = `- name: alice may use prod with a ticket
  principal: alice@example.com
  target: prod
  duration: 1h
  reason: deploy
  ticket: CHG-1
  expect: allow
  rule: sre-prod
- name: bob may not use prod
  principal: bob@example.com
  target: prod
  reason: x
  ticket: CHG-1
  expect: deny
`

// TargetSpec is the fake provider's target settings.
type TargetSpec struct {
	Role string `yaml:"role"`
}

// Validate requires a role.
func (s *TargetSpec) Validate() error {
	if s.Role == "" {
		return errors.New("role is required")
	}
	return nil
}

// Spec is the fake provider's spec.
func Spec() providers.Spec { return SpecNamed(Name) }

// SpecNamed is the fake provider's spec under another name.
func SpecNamed(name string) providers.Spec {
	return providers.Spec{
		Name:          name,
		NewTargetSpec: func() providers.TargetSpec { return &TargetSpec{} },
		RevokeNote:    "fake grants end at expiry",
	}
}

// Provider is a fake provider: WhoAmIer, Limiter and Revoker. Set its
// fields before use; it records every Grant and Revoke.
type Provider struct {
	// ProviderName is the provider's name; "" is Name.
	ProviderName string
	// Env replaces the variables a grant delivers when not nil.
	Env []providers.EnvVar

	Principal   providers.Principal
	WhoAmIErr   error
	GrantErr    error
	Limit       time.Duration
	LimitReason string
	// Now is the grant's NotBefore; time.Now when nil.
	Now func() time.Time
	// OnGrant, if set, runs inside Grant before it returns.
	OnGrant func(providers.Request)

	mu      sync.Mutex
	grants  []providers.Request
	revoked []*providers.Grant
}

// Name implements providers.Provider.
func (p *Provider) Name() string {
	if p.ProviderName != "" {
		return p.ProviderName
	}
	return Name
}

// WhoAmI implements providers.WhoAmIer.
func (p *Provider) WhoAmI(context.Context) (providers.Principal, error) {
	if p.WhoAmIErr != nil {
		return providers.Principal{}, p.WhoAmIErr
	}
	pr := p.Principal
	pr.Aliases = slices.Clone(pr.Aliases)
	pr.Groups = slices.Clone(pr.Groups)
	return pr, nil
}

// MaxDuration implements elevation.Limiter.
func (p *Provider) MaxDuration(context.Context, providers.Target, providers.Principal) (time.Duration, string) {
	return p.Limit, p.LimitReason
}

// Grant implements providers.Provider.
func (p *Provider) Grant(ctx context.Context, req providers.Request) (*providers.Grant, error) {
	p.mu.Lock()
	p.grants = append(p.grants, req)
	p.mu.Unlock()
	if p.OnGrant != nil {
		p.OnGrant(req)
	}
	if p.GrantErr != nil {
		return nil, p.GrantErr
	}
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	role := ""
	if s, ok := req.Target.Spec.(*TargetSpec); ok {
		role = s.Role
	}
	env := []providers.EnvVar{
		{Name: "FAKE_KEY_ID", Value: KeyID},
		{Name: "FAKE_SECRET", Value: SecretValue, Secret: true},
	}
	if p.Env != nil {
		env = slices.Clone(p.Env)
	}
	return &providers.Grant{
		RequestID: req.ID, Target: req.Target.Name, Provider: p.Name(), Principal: req.Principal.ID,
		NotBefore: now, NotAfter: now.Add(req.Duration),
		Refs:       map[string]string{"role": role, "key_id": KeyID},
		Env:        env,
		Unset:      []string{"FAKE_PROFILE"},
		Revocable:  true,
		RevokeNote: "fake grants end at expiry",
	}, nil
}

// Revoke implements providers.Revoker.
func (p *Provider) Revoke(_ context.Context, g *providers.Grant) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = append(p.revoked, g)
	return nil
}

// Grants returns the requests Grant was called with.
func (p *Provider) Grants() []providers.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.grants)
}

// Revoked returns the grants Revoke was called with.
func (p *Provider) Revoked() []*providers.Grant {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.revoked)
}

// Registry returns a registry holding only the fake provider p.
func Registry(p *Provider) *providers.Registry {
	r := providers.NewRegistry()
	r.Register(SpecNamed(p.Name()), func() (providers.Provider, error) { return p, nil })
	return r
}

// Source is an in-memory policy source.
type Source struct {
	Snapshot policysource.Snapshot
	Err      error
	// Files are further files at the snapshot's commit, by path.
	Files map[string]string

	mu    sync.Mutex
	loads int
}

// NewSource returns a source whose snapshot holds data at Commit.
func NewSource(data string) *Source {
	return &Source{Snapshot: policysource.Snapshot{
		Repo: "git@example.com:acme/access.git", Ref: "main", Commit: Commit, File: "jit.yaml", Data: []byte(data),
	}}
}

// Load implements policysource.Source.
func (s *Source) Load(ctx context.Context) (*policysource.Snapshot, error) {
	s.mu.Lock()
	s.loads++
	s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	snap := s.Snapshot
	snap.Data = slices.Clone(snap.Data)
	return &snap, nil
}

// Loads reports how often Load was called.
func (s *Source) Loads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// Service returns an elevation service over p and src that journals to the
// file journal (created on first use).
func Service(p *Provider, src *Source, journal string) *elevation.Service {
	return &elevation.Service{
		Source: src, Providers: Registry(p), Journal: audit.OpenJournal(journal),
		Host: "testhost", Version: "v0.0.0-test",
	}
}

// ReadAt implements policysource.Reader over Files, for files kept beside
// the policy at the snapshot's commit.
func (s *Source) ReadAt(ctx context.Context, commit, path string) ([]byte, error) {
	if commit != s.Snapshot.Commit {
		return nil, fmt.Errorf("read %s at commit %s: unknown commit", path, commit)
	}
	data, ok := s.Files[path]
	if !ok {
		return nil, fmt.Errorf("%s does not exist at commit %s", path, commit)
	}
	return []byte(data), nil
}
