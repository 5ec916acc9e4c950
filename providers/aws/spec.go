package aws

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jitaccess/jit/providers"
)

// ProviderName is the value of a target's `provider:` key.
const ProviderName = "aws"

// MinSessionDuration is AWS's minimum AssumeRole session. Grant refuses a
// shorter request: AWS cannot mint credentials that expire sooner, and jit
// does not hand out credentials that outlive the allowed window.
const MinSessionDuration = 15 * time.Minute

// MaxSessionDuration is AWS's maximum AssumeRole session (a role's own
// MaxSessionDuration may be lower).
const MaxSessionDuration = 12 * time.Hour

// ChainedSessionDuration is AWS's cap on a session assumed from another
// role session (or from GetSessionToken credentials): role chaining.
const ChainedSessionDuration = time.Hour

// RevokeNote says what revoking an AWS grant can and cannot do.
const RevokeNote = "AWS cannot revoke STS credentials: they stay valid until they expire. " +
	"Leaving the jit session removes them from your shell, but copies stay valid; cutting them off " +
	"earlier takes an IAM administrator denying the session on the role (a Deny on aws:userid " +
	"= the assumed-role id that jit journaled, or the console's \"Revoke active sessions\")."

// TargetSpec is a target's `aws:` section in the policy.
type TargetSpec struct {
	// RoleARN is the role to assume: arn:aws:iam::<account>:role/<path/name>.
	RoleARN string `yaml:"role_arn"`
	// Region goes to AWS_REGION/AWS_DEFAULT_REGION of the session; the
	// provider's own region when empty.
	Region string `yaml:"region"`
	// SessionPolicy is an inline IAM policy (JSON) that scopes the session
	// down: the session may do what the role AND this policy allow.
	SessionPolicy string `yaml:"session_policy"`
	// PolicyARNs are managed policies that scope the session down (≤ 10).
	PolicyARNs []string `yaml:"policy_arns"`
	// ExternalID is passed as sts:ExternalId when the trust policy wants one.
	ExternalID string `yaml:"external_id"`
	// SourceIdentity stamps the requester's name as the session's source
	// identity (immutable, visible in CloudTrail, kept through chaining);
	// the trust policy must allow sts:SetSourceIdentity.
	SourceIdentity bool `yaml:"source_identity"`
	// SessionTags tags the session with jit-request-id and ticket; the
	// trust policy must allow sts:TagSession.
	SessionTags bool `yaml:"session_tags"`
}

// Field limits from the STS and IAM API references.
const (
	maxPolicyARNs       = 10
	maxSessionPolicyLen = 2048
	minExternalIDLen    = 2
	maxExternalIDLen    = 1224
)

type specPatterns struct {
	roleARN, policyARN, region, externalID *regexp.Regexp
}

var patterns = sync.OnceValue(func() specPatterns {
	return specPatterns{
		// IAM paths are "/" or /segments/ of printable ASCII; names are
		// [\w+=,.@-]{1,64}.
		roleARN:    regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/([\x21-\x2e\x30-\x7e]+/)*[\w+=,.@-]{1,64}$`),
		policyARN:  regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy/([\x21-\x2e\x30-\x7e]+/)*[\w+=,.@-]{1,128}$`),
		region:     regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`),
		externalID: regexp.MustCompile(`^[\w+=,.@:/-]+$`),
	}
})

// Validate checks the settings statically: no I/O, no SDK.
func (t *TargetSpec) Validate() error {
	p := patterns()
	var errs []error
	switch {
	case t.RoleARN == "":
		errs = append(errs, errors.New("role_arn is required (arn:aws:iam::<12-digit account>:role/<name>)"))
	case !p.roleARN.MatchString(t.RoleARN) || len(t.RoleARN) > 2048:
		errs = append(errs, fmt.Errorf("role_arn %q is not an IAM role ARN (want arn:aws:iam::<12-digit account>:role/<name>)", t.RoleARN))
	}
	if t.Region != "" && !p.region.MatchString(t.Region) {
		errs = append(errs, fmt.Errorf("region %q is not an AWS region name such as eu-west-1", t.Region))
	}
	if t.SessionPolicy != "" {
		if err := validateSessionPolicy(t.SessionPolicy); err != nil {
			errs = append(errs, err)
		}
	}
	if len(t.PolicyARNs) > maxPolicyARNs {
		errs = append(errs, fmt.Errorf("policy_arns has %d entries; AWS allows at most %d", len(t.PolicyARNs), maxPolicyARNs))
	}
	for _, a := range t.PolicyARNs {
		if !p.policyARN.MatchString(a) {
			errs = append(errs, fmt.Errorf("policy_arns: %q is not an IAM policy ARN (want arn:aws:iam::<account or aws>:policy/<name>)", a))
		}
	}
	if t.ExternalID != "" {
		n := utf8.RuneCountInString(t.ExternalID)
		if n < minExternalIDLen || n > maxExternalIDLen || !p.externalID.MatchString(t.ExternalID) {
			errs = append(errs, fmt.Errorf("external_id must be %d–%d characters of letters, digits and +=,.@:/-_", minExternalIDLen, maxExternalIDLen))
		}
	}
	return errors.Join(errs...)
}

func validateSessionPolicy(doc string) error {
	if n := utf8.RuneCountInString(doc); n > maxSessionPolicyLen {
		return fmt.Errorf("session_policy is %d characters; AWS allows at most %d (remove whitespace or use policy_arns)", n, maxSessionPolicyLen)
	}
	for _, r := range doc {
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xFF) {
			return fmt.Errorf("session_policy holds the character %q; AWS accepts tab, newline and U+0020–U+00FF only", r)
		}
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return fmt.Errorf("session_policy is not a JSON object: %w", err)
	}
	if _, ok := v["Statement"]; !ok {
		return errors.New(`session_policy has no "Statement"`)
	}
	return nil
}

// Spec describes the AWS provider to the policy loader.
func Spec() providers.Spec {
	return providers.Spec{
		Name:          ProviderName,
		NewTargetSpec: func() providers.TargetSpec { return &TargetSpec{} },
		RevokeNote:    RevokeNote,
		Principal:     principalFromARN,
	}
}

// principalFromARN is the principal GetCallerIdentity would report for a
// caller ARN, without calling it.
func principalFromARN(id string) (providers.Principal, bool) {
	c, err := ParseCallerARN(id)
	if err != nil {
		return providers.Principal{}, false
	}
	pr, err := principalFromIdentity(id, "", c.Account, c.Type == TypeAssumedRole)
	if err != nil {
		return providers.Principal{}, false
	}
	pr.Source = "derived from the ARN"
	return pr, true
}
