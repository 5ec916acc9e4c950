package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/jitaccess/jit/providers"
)

// throttleCodes are the codes AWS uses for rate limiting (the SDK's own
// list, which it has already retried by the time we see one).
func isThrottleCode(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
		"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
		"SlowDown", "PriorRequestNotComplete", "EC2ThrottledException":
		return true
	}
	return false
}

// classify turns an SDK error into a *providers.Error. spec and trustee
// (how the role's trust policy names the caller) shape the AccessDenied
// hint; both may be empty.
func (p *Provider) classify(ctx context.Context, op string, err error, spec *TargetSpec, trustee string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	e := &providers.Error{Kind: providers.KindUnknown, Op: op, Err: err}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		var ne net.Error
		if errors.As(err, &ne) {
			e.Kind = providers.KindTransient
			e.Hint = "could not reach AWS STS" + p.endpointNote() + "; check the network and try again"
		}
		return e
	}
	e.Code = ae.ErrorCode()
	msg := ae.ErrorMessage()
	e.Err = &apiError{code: e.Code, message: msg, requestID: requestID(err), err: err}
	switch code := e.Code; {
	case code == "ExpiredToken" || code == "ExpiredTokenException" || code == "InvalidClientTokenId" ||
		code == "UnrecognizedClientException" || code == "MissingAuthenticationToken" || code == "IncompleteSignature":
		e.Kind, e.Hint = providers.KindAuth, p.authHint(code)
	case code == "SignatureDoesNotMatch":
		e.Kind = providers.KindAuth
		if strings.Contains(msg, "Signature expired") || strings.Contains(msg, "not yet current") {
			e.Hint = "your computer's clock is off by more than 15 minutes; sync it (timedatectl set-ntp true) and retry"
		} else {
			e.Hint = p.authHint(code)
		}
	case code == "AccessDenied" || code == "AccessDeniedException":
		e.Kind, e.Hint = providers.KindDenied, deniedHint(spec, trustee)
	case code == "RegionDisabledException":
		e.Kind = providers.KindDenied
		e.Hint = fmt.Sprintf("STS is not activated in %s for this account; activate it in IAM account settings or set providers.aws.region", p.cfg.Region)
	case code == "ValidationError" || code == "InvalidParameterValue" || code == "MissingParameter" ||
		code == "MalformedPolicyDocument" || code == "PackedPolicyTooLarge":
		e.Kind, e.Hint = providers.KindInvalid, invalidHint(code, msg)
	case isThrottleCode(code):
		e.Kind, e.Hint = providers.KindThrottled, "AWS STS is rate limiting this account; wait a minute and retry"
	default:
		var he interface{ HTTPStatusCode() int }
		if errors.As(err, &he) {
			switch s := he.HTTPStatusCode(); {
			case s == 429:
				e.Kind, e.Hint = providers.KindThrottled, "AWS STS is rate limiting this account; wait a minute and retry"
			case s >= 500:
				e.Kind, e.Hint = providers.KindTransient, "AWS STS is failing"+p.endpointNote()+"; retry in a moment"
			}
		}
	}
	return e
}

func (p *Provider) endpointNote() string {
	if ep := p.Endpoint(); ep != "" {
		return " at " + ep
	}
	return ""
}

// authHint tells the user how to sign in again.
func (p *Provider) authHint(code string) string {
	if code == "IncompleteSignature" || code == "MissingAuthenticationToken" {
		return "the request was not signed with AWS credentials; configure base credentials (aws configure or aws sso login)"
	}
	if p.profile != "" {
		return fmt.Sprintf("sign in again: aws sso login --profile %s (or refresh that profile's credentials)", p.profile)
	}
	return "refresh the base credentials (aws sso login, aws configure, or the variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN)"
}

// deniedHint says what the role's trust policy must allow.
func deniedHint(spec *TargetSpec, trustee string) string {
	if spec == nil {
		return "the base identity is not allowed to call STS; ask your AWS administrator"
	}
	actions := []string{"sts:AssumeRole"}
	if spec.SessionTags {
		actions = append(actions, "sts:TagSession")
	}
	if spec.SourceIdentity {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	who := trustee
	if who == "" {
		who = "your base identity"
	}
	h := fmt.Sprintf("the trust policy of %s must allow %s for %s", spec.RoleARN, strings.Join(actions, ", "), who)
	if spec.ExternalID != "" {
		h += " with the configured sts:ExternalId"
	}
	return h
}

func invalidHint(code, msg string) string {
	switch {
	case strings.Contains(msg, "role chaining"):
		return "ask for --for 1h or less"
	case strings.Contains(msg, "MaxSessionDuration"):
		return "ask for a shorter --for, or raise the role's MaxSessionDuration in IAM"
	case code == "MalformedPolicyDocument":
		return "fix the target's session_policy in the policy file"
	case code == "PackedPolicyTooLarge":
		return "shorten the target's session_policy or drop policy_arns/session tags"
	}
	return "check the target's aws: settings against the role"
}

// apiError is what AWS answered, shortened from the SDK's "operation error
// STS: AssumeRole, https response error StatusCode: 403, RequestID: …, api
// error Code: message" to "Code: message (request id …)". The SDK error
// stays reachable through Unwrap.
type apiError struct {
	code, message, requestID string
	err                      error
}

func (e *apiError) Error() string {
	s := e.code
	if e.message != "" {
		s += ": " + e.message
	}
	if e.requestID != "" {
		s += " (request id " + e.requestID + ")"
	}
	return s
}

func (e *apiError) Unwrap() error { return e.err }

func requestID(err error) string {
	var r interface{ ServiceRequestID() string }
	if errors.As(err, &r) {
		return r.ServiceRequestID()
	}
	return ""
}
