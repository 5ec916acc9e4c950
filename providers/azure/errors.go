package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/jitaccess/jit/providers"
)

const signInHint = "sign in again: az login (or refresh AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET or the workload identity token)"

// classify turns an SDK error into a *providers.Error, or a context error
// when ctx is done. Messages are one line and never hold a token.
func (p *Provider) classify(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return err
	}
	e := &providers.Error{Kind: providers.KindUnknown, Op: op, Err: &shortError{msg: oneLine(err.Error()), err: err}}
	var re *azcore.ResponseError
	var afe *azidentity.AuthenticationFailedError
	var ce *credentialError
	switch {
	case errors.As(err, &re):
		return p.classifyResponse(op, re)
	case errors.As(err, &afe):
		e.Kind, e.Code, e.Hint = providers.KindAuth, "AuthenticationFailed", signInHint
		e.Err = &shortError{msg: authFailedSummary(afe), err: err}
	case errors.As(err, &ce):
		// azidentity's "credential unavailable" (nothing configured, az
		// not installed or not signed in) has no exported type; every
		// failure to get a token is a sign-in problem.
		e.Kind, e.Code, e.Hint = providers.KindAuth, "NoCredentials", signInHint
	default:
		var ne net.Error
		if errors.As(err, &ne) {
			e.Kind = providers.KindTransient
			e.Hint = "could not reach Azure Resource Manager" + p.endpointNote() + "; check the network and try again"
		}
	}
	return e
}

func (p *Provider) endpointNote() string {
	if p.custom {
		return " at " + p.endpoint
	}
	return ""
}

// classifyResponse maps an ARM error answer.
func (p *Provider) classifyResponse(op string, re *azcore.ResponseError) *providers.Error {
	code, msg := re.ErrorCode, ""
	if re.RawResponse != nil {
		if body, err := runtime.Payload(re.RawResponse); err == nil {
			var v struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(body, &v) == nil {
				msg = v.Error.Message
				if code == "" {
					code = v.Error.Code
				}
			}
		}
	}
	e := &providers.Error{Op: op, Code: code, Err: &shortError{msg: armMessage(re, code, msg), err: re}}
	switch code {
	case "RoleAssignmentRequestPolicyValidationFailed":
		e.Kind, e.Hint = policyRulesHint(msg)
	case "RoleAssignmentRequestAcrsValidationFailed":
		e.Kind = providers.KindAuth
		e.Hint = "this role needs a Conditional Access step-up (authentication context); activate it once in the portal (" + PortalActivationsURL + ") or sign in again satisfying it (az logout; az login)"
	case "AuthorizationFailed", "LinkedAuthorizationFailed", "RoleAssignmentRequestAccessDenied":
		e.Kind = providers.KindDenied
		e.Hint = "Azure refused: your account may not do this at that scope; check the target's scope and your PIM eligibility"
	case "ExpiredAuthenticationToken", "InvalidAuthenticationToken", "InvalidAuthenticationTokenAudience",
		"InvalidAuthenticationTokenTenant", "AuthenticationFailed", "AuthenticationFailedMissingToken":
		e.Kind, e.Hint = providers.KindAuth, signInHint
		if code == "InvalidAuthenticationTokenTenant" {
			e.Hint = "the token is for another tenant than the scope's; sign in to the right one: az login --tenant <tenant id>"
		}
	case "TooManyRequests", "RequestThrottled":
		e.Kind, e.Hint = providers.KindThrottled, "Azure is rate limiting these calls; wait a minute and retry"
	case "SubscriptionNotFound", "ResourceGroupNotFound", "ResourceNotFound", "InvalidResourceNamespace",
		"RoleDefinitionDoesNotExist", "RoleAssignmentScheduleRequestNotFound", "InvalidScope", "MissingSubscription":
		e.Kind, e.Hint = providers.KindNotFound, "check the target's scope and role against Azure"
	case "PendingRoleAssignmentRequest":
		e.Kind = providers.KindConflict
		e.Hint = "a request for this role already awaits approval; follow it at " + PortalActivationsURL + " or withdraw it there (or with jit revoke on the pending request)"
	case "ActiveDurationTooShort", "RoleAssignmentDoesNotExist", "RoleAssignmentExists":
		// The callers decide what these mean.
		e.Kind = providers.KindConflict
	default:
		switch s := re.StatusCode; {
		case s == 401:
			e.Kind, e.Hint = providers.KindAuth, signInHint
		case s == 403:
			e.Kind = providers.KindDenied
			e.Hint = "Azure refused: your account may not do this at that scope"
		case s == 404:
			e.Kind, e.Hint = providers.KindNotFound, "check the target's scope and role against Azure"
		case s == 409:
			e.Kind = providers.KindConflict
		case s == 429:
			e.Kind, e.Hint = providers.KindThrottled, "Azure is rate limiting these calls; wait a minute and retry"
		case s >= 500:
			e.Kind, e.Hint = providers.KindTransient, "Azure Resource Manager is failing"+p.endpointNote()+"; retry in a moment"
		case s == 400:
			e.Kind = providers.KindInvalid
		}
	}
	return e
}

var rulePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[A-Za-z]+Rule\b`) })

// failedRules lists the rule names a RoleAssignmentRequestPolicyValidationFailed
// message holds ("The following policy rules failed: ["ExpirationRule"]").
func failedRules(msg string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rulePattern().FindAllString(msg, -1) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func policyRulesHint(msg string) (providers.Kind, string) {
	failed := failedRules(msg)
	has := func(r string) bool {
		for _, f := range failed {
			if f == r {
				return true
			}
		}
		return false
	}
	kind := providers.KindInvalid
	var hints []string
	// In the order the hints name them.
	for _, r := range []string{"EligibilityRule", "MfaRule", "ExpirationRule", "JustificationRule", "TicketingRule", "ApprovalRule", "AuthenticationContextRule"} {
		if !has(r) {
			continue
		}
		switch r {
		case "EligibilityRule":
			kind = providers.KindDenied
			hints = append(hints, "PIM found no eligibility of yours for this role at this scope; ask for a PIM eligible assignment")
		case "MfaRule":
			if kind != providers.KindDenied {
				kind = providers.KindAuth
			}
			hints = append(hints, "PIM requires multi-factor authentication for this role: sign in again with MFA (az logout; az login) and retry")
		case "ExpirationRule":
			hints = append(hints, "PIM limits how long this role may be active; ask for a shorter --for")
		case "JustificationRule":
			hints = append(hints, "PIM requires a justification for this role: pass --reason")
		case "TicketingRule":
			hints = append(hints, "PIM requires ticket information for this role: pass --ticket (and set ticket_system in the target)")
		case "ApprovalRule":
			hints = append(hints, "PIM's approval settings refused the request; see the role's settings in PIM")
		case "AuthenticationContextRule":
			kind = providers.KindAuth
			hints = append(hints, "this role needs a Conditional Access step-up; activate it once in the portal: "+PortalActivationsURL)
		}
	}
	if len(hints) == 0 {
		hints = append(hints, "PIM's role settings refused the request; see the role's settings in PIM")
	}
	return kind, strings.Join(hints, "; ")
}

// explainPolicyFailure names PIM's maximum in the hint of an ExpirationRule
// failure, reading it from the role management policy (best effort: the
// caller may not be allowed to read it).
func (p *Provider) explainPolicyFailure(ctx context.Context, pe *providers.Error, spec *TargetSpec, elig eligibility) {
	msg := pe.Error()
	found := false
	for _, r := range failedRules(msg) {
		found = found || r == "ExpirationRule"
	}
	if !found {
		return
	}
	max, err := p.activationMax(ctx, spec.Scope, elig.roleDefinitionID)
	if err != nil || max <= 0 {
		return
	}
	pe.Hint = strings.Replace(pe.Hint, "PIM limits how long this role may be active; ask for a shorter --for",
		fmt.Sprintf("PIM allows at most %s for %s at %s; ask for --for %s or less", humanDuration(max), elig.roleName, spec.Scope, humanDuration(max)), 1)
}

// shortError is what Azure answered, in one line; the SDK's multi-line
// error stays reachable through Unwrap.
type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }

func armMessage(re *azcore.ResponseError, code, msg string) string {
	s := code
	if s == "" {
		s = fmt.Sprintf("HTTP %d", re.StatusCode)
	}
	if msg != "" {
		s += ": " + oneLine(msg)
	}
	if re.RawResponse != nil {
		if id := re.RawResponse.Header.Get("x-ms-correlation-request-id"); id != "" {
			s += " (correlation id " + id + ")"
		} else if id := re.RawResponse.Header.Get("x-ms-request-id"); id != "" {
			s += " (request id " + id + ")"
		}
	}
	return s
}

// authFailedSummary shortens azidentity's multi-line report (request,
// response dump, troubleshooting link) to its first line and Entra ID's
// error code and description.
func authFailedSummary(e *azidentity.AuthenticationFailedError) string {
	if e.RawResponse == nil {
		// A credential chain lists every credential's failure here.
		return oneLine(e.Error())
	}
	first := oneLine(strings.SplitN(e.Error(), "\n", 2)[0])
	body, err := runtime.Payload(e.RawResponse)
	if err != nil {
		return first
	}
	var v struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) == nil && v.Error != "" {
		d := oneLine(v.Description)
		if len(d) > 300 {
			d = d[:300] + "…"
		}
		return fmt.Sprintf("%s (HTTP %d %s: %s)", first, e.RawResponse.StatusCode, v.Error, d)
	}
	return fmt.Sprintf("%s (HTTP %d)", first, e.RawResponse.StatusCode)
}

// oneLine joins the lines of s and drops the separator lines azidentity
// draws.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Trim(l, "-") == "" {
			continue
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "; ")
}

func responseCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func statusCode(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}
