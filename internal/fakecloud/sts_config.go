package fakecloud

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/jitaccess/jit/internal/loopback"
)

// STSIdentity is a base identity the fake STS knows: long-term keys of an
// IAM user (or the account root), or the temporary keys of an assumed-role
// session that exists before the fake starts (an SSO login, say).
type STSIdentity struct {
	// AccessKeyID is the key id the caller signs with (AKIA… for long-term
	// keys, ASIA… for temporary ones).
	AccessKeyID string `yaml:"access_key_id" json:"access_key_id"`
	// SecretAccessKey signs the requests; the fake verifies SigV4 with it.
	SecretAccessKey string `yaml:"secret_access_key" json:"secret_access_key"`
	// SessionToken is required exactly when ARN is an assumed role; requests
	// must then carry it in X-Amz-Security-Token.
	SessionToken string `yaml:"session_token,omitempty" json:"session_token,omitempty"`
	// ARN is arn:aws:iam::<acct>:user/<name>, arn:aws:iam::<acct>:root or
	// arn:aws:sts::<acct>:assumed-role/<role>/<session>.
	ARN string `yaml:"arn" json:"arn"`
	// Expires, when set, makes the identity answer ExpiredToken afterwards.
	Expires time.Time `yaml:"expires,omitempty" json:"expires,omitempty"`
	// SourceIdentity is the source identity an assumed-role base session
	// already carries; AWS keeps it through role chaining.
	SourceIdentity string `yaml:"source_identity,omitempty" json:"source_identity,omitempty"`
}

// STSRole is an IAM role the fake lets callers assume.
type STSRole struct {
	// ARN is arn:aws:iam::<acct>:role/<path/><name>.
	ARN string `yaml:"arn" json:"arn"`
	// MaxSessionDuration is the role's own cap, 1h–12h; zero means 1h (the
	// AWS default).
	MaxSessionDuration time.Duration `yaml:"max_session_duration,omitempty" json:"max_session_duration,omitempty"`
	// TrustedPrincipals are the principal ARNs, or globs of them ('*' spans
	// any characters), the trust policy allows. For the web identity flow an
	// entry arn:aws:iam::<acct>:oidc-provider/<issuer host/path> trusts an
	// OIDC issuer. An entry arn:aws:iam::<acct>:root trusts the whole
	// account. Empty trusts every configured identity (and any issuer).
	TrustedPrincipals []string `yaml:"trusted_principals,omitempty" json:"trusted_principals,omitempty"`
	// AllowTagSession grants sts:TagSession (session tags in AssumeRole).
	AllowTagSession bool `yaml:"allow_tag_session,omitempty" json:"allow_tag_session,omitempty"`
	// AllowSetSourceIdentity grants sts:SetSourceIdentity.
	AllowSetSourceIdentity bool `yaml:"allow_set_source_identity,omitempty" json:"allow_set_source_identity,omitempty"`
	// ExternalID, when set, must be sent as ExternalId (the trust policy's
	// sts:ExternalId condition).
	ExternalID string `yaml:"external_id,omitempty" json:"external_id,omitempty"`
}

// STSConfig configures a fake STS.
type STSConfig struct {
	// Addr is the listen address; it must be a loopback address. Default
	// 127.0.0.1:0 (an ephemeral port).
	Addr string `yaml:"addr,omitempty" json:"addr,omitempty"`
	// Identities are the base identities whose keys the fake accepts.
	Identities []STSIdentity `yaml:"identities" json:"identities"`
	// Roles are the roles that exist.
	Roles []STSRole `yaml:"roles" json:"roles"`
	// MaxSkew is how far a request's X-Amz-Date may be from the wall clock;
	// default 15m, as AWS.
	MaxSkew time.Duration `yaml:"max_skew,omitempty" json:"max_skew,omitempty"`
	// Now is the clock that issues and expires credentials (default
	// time.Now). Tests inject a fake clock; STS.Advance shifts it too.
	Now func() time.Time `yaml:"-" json:"-"`
	// WallClock is what signature freshness is checked against (default
	// time.Now). It is separate from Now because the SDK signs with the real
	// clock: moving Now forward to expire credentials must not turn every
	// request into a clock-skew error.
	WallClock func() time.Time `yaml:"-" json:"-"`
}

// ParseSTSConfig decodes a YAML (or JSON) STS configuration strictly:
// unknown keys are errors. Durations are Go durations ("1h", "90m").
func ParseSTSConfig(data []byte) (STSConfig, error) {
	var c STSConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return STSConfig{}, fmt.Errorf("parse fake sts config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return STSConfig{}, err
	}
	return c, nil
}

// Validate checks the configuration without starting anything.
func (c *STSConfig) Validate() error {
	var errs []error
	if c.Addr != "" {
		if err := loopback.CheckAddr(c.Addr); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxSkew < 0 {
		errs = append(errs, errors.New("max_skew must not be negative"))
	}
	seenKeys := map[string]bool{}
	for i, id := range c.Identities {
		where := fmt.Sprintf("identities[%d]", i)
		if id.AccessKeyID == "" {
			errs = append(errs, fmt.Errorf("%s: access_key_id is empty", where))
		} else if seenKeys[id.AccessKeyID] {
			errs = append(errs, fmt.Errorf("%s: access_key_id %s is listed twice", where, id.AccessKeyID))
		}
		seenKeys[id.AccessKeyID] = true
		if id.SecretAccessKey == "" {
			errs = append(errs, fmt.Errorf("%s: secret_access_key is empty", where))
		}
		a, ok := parseARN(id.ARN)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: arn %q is not an ARN", where, id.ARN))
			continue
		}
		switch kind := principalKind(a); kind {
		case kindUser, kindRoot:
			if id.SessionToken != "" {
				errs = append(errs, fmt.Errorf("%s: a session_token only belongs to an assumed-role identity", where))
			}
		case kindAssumedRole:
			if id.SessionToken == "" {
				errs = append(errs, fmt.Errorf("%s: an assumed-role identity needs a session_token", where))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: arn %q is neither an IAM user, the account root nor an assumed role", where, id.ARN))
		}
	}
	seenRoles := map[string]bool{}
	for i, r := range c.Roles {
		where := fmt.Sprintf("roles[%d]", i)
		a, ok := parseARN(r.ARN)
		if !ok || a.service != "iam" || !strings.HasPrefix(a.resource, "role/") || roleNameOf(a.resource) == "" {
			errs = append(errs, fmt.Errorf("%s: arn %q is not an IAM role ARN", where, r.ARN))
		}
		if seenRoles[r.ARN] {
			errs = append(errs, fmt.Errorf("%s: role %s is listed twice", where, r.ARN))
		}
		seenRoles[r.ARN] = true
		if r.MaxSessionDuration != 0 && (r.MaxSessionDuration < time.Hour || r.MaxSessionDuration > 12*time.Hour) {
			errs = append(errs, fmt.Errorf("%s: max_session_duration %s is outside AWS's 1h–12h", where, r.MaxSessionDuration))
		}
		for _, p := range r.TrustedPrincipals {
			if p == "" {
				errs = append(errs, fmt.Errorf("%s: empty trusted principal", where))
			}
		}
	}
	return errors.Join(errs...)
}
