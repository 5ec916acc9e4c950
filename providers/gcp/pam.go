package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pampb "cloud.google.com/go/privilegedaccessmanager/apiv1/privilegedaccessmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jitaccess/jit/providers"
)

func pamHints(e Entitlement, verb string) hints {
	h := hints{
		invalid:  fmt.Sprintf("PAM refused the request; check --for against the entitlement's maximum duration, and that you have no open grant of %s", e),
		notFound: fmt.Sprintf("the entitlement %s does not exist (or PAM is not enabled there)", e),
	}
	switch verb {
	case "revoke":
		h.denied = fmt.Sprintf("revoking needs privilegedaccessmanager.grants.revoke on %s (e.g. roles/privilegedaccessmanager.admin); ask an administrator to run gcloud pam grants revoke", e.Parent)
	case "get":
		h.denied = "you may not read this grant (privilegedaccessmanager.grants.get)"
	default:
		h.denied = fmt.Sprintf("you are not an eligible requester of %s (privilegedaccessmanager.grants.create); ask its administrator to add you", e)
	}
	return h
}

// justification is the unstructured justification PAM shows approvers:
// reason, ticket and jit's request id (the cloud-side stamp of the
// request).
func justification(req providers.Request) string {
	var parts []string
	if r := oneLineString(req.Reason); r != "" {
		parts = append(parts, r)
	}
	if t := oneLineString(req.Ticket); t != "" {
		parts = append(parts, "ticket "+t)
	}
	parts = append(parts, "jit request "+req.ID)
	return strings.ToValidUTF8(strings.Join(parts, "; "), "\uFFFD")
}

func (p *Provider) grantPAM(ctx context.Context, req providers.Request, spec *TargetSpec) (*providers.Grant, error) {
	ent, _ := ParseEntitlement(spec.Entitlement) // validated
	op := "request a grant of " + ent.String()
	c, err := p.pamClient(ctx, op)
	if err != nil {
		return nil, err
	}
	if _, _, err := p.token(ctx, op); err != nil {
		return nil, err
	}
	d := req.Duration.Truncate(time.Second)
	start := p.now().UTC()
	g, err := c.CreateGrant(ctx, &pampb.CreateGrantRequest{
		Parent: ent.String(),
		Grant: &pampb.Grant{
			RequestedDuration: durationpb.New(d),
			Justification:     &pampb.Justification{Justification: &pampb.Justification_UnstructuredJustification{UnstructuredJustification: justification(req)}},
		},
		// The same jit request always sends the same request id, so PAM
		// answers a retried call with the grant the first one created.
		RequestId: RequestUUID(req.ID),
	})
	if err != nil {
		return nil, p.classify(ctx, op, err, pamHints(ent, "create"))
	}
	return p.pamGrant(req, spec, ent, g, start.Add(d))
}

// Resume follows a grant that was pending (the grant ref of a KindPending
// error): it returns the grant once PAM has activated it, or the same
// pending or failure errors as Grant.
func (p *Provider) Resume(ctx context.Context, req providers.Request, grantName string) (*providers.Grant, error) {
	spec, err := targetSpec(req.Target)
	if err != nil {
		return nil, err
	}
	ent, err := ParseEntitlement(spec.Entitlement)
	if err != nil || spec.EffectiveMode() != ModePAM {
		return nil, invalid("resume "+req.Target.Name, errors.New("the target is not a pam target"), "")
	}
	if !strings.HasPrefix(grantName, ent.String()+"/grants/") {
		return nil, invalid("resume "+req.Target.Name, fmt.Errorf("%s is not a grant of %s", grantName, ent), "")
	}
	op := "follow " + grantName
	c, err := p.pamClient(ctx, op)
	if err != nil {
		return nil, err
	}
	g, err := c.GetGrant(ctx, &pampb.GetGrantRequest{Name: grantName})
	if err != nil {
		return nil, p.classify(ctx, op, err, pamHints(ent, "get"))
	}
	return p.pamGrant(req, spec, ent, g, p.now().UTC().Add(req.Duration.Truncate(time.Second)))
}

// activation is when PAM activated the grant (its last Activated event).
func activation(g *pampb.Grant) (time.Time, bool) {
	var at time.Time
	ok := false
	for _, e := range g.GetTimeline().GetEvents() {
		if e.GetActivated() != nil && e.GetEventTime() != nil {
			at, ok = e.GetEventTime().AsTime(), true
		}
	}
	return at, ok
}

func followHint(grant string) string {
	return "follow it with: gcloud pam grants describe " + grant
}

// pamGrant turns PAM's answer into a grant, or into the error its state
// means. window is the latest end the policy allowed.
func (p *Provider) pamGrant(req providers.Request, spec *TargetSpec, ent Entitlement, g *pampb.Grant, window time.Time) (*providers.Grant, error) {
	op := "request a grant of " + ent.String()
	refs := map[string]string{"grant": g.GetName(), "entitlement": ent.String()}
	state := g.GetState()
	switch state {
	case pampb.Grant_ACTIVE:
	case pampb.Grant_APPROVAL_AWAITED, pampb.Grant_SCHEDULED, pampb.Grant_ACTIVATING:
		what := map[pampb.Grant_State]string{
			pampb.Grant_APPROVAL_AWAITED: "approval awaited",
			pampb.Grant_SCHEDULED:        "scheduled",
			pampb.Grant_ACTIVATING:       "activating",
		}[state]
		return nil, &providers.Error{Kind: providers.KindPending, Op: op, Code: state.String(), Refs: refs,
			Err:  fmt.Errorf("PAM grant %s: %s", g.GetName(), what),
			Hint: what + "; " + followHint(g.GetName()) + "; jit will not wait"}
	case pampb.Grant_DENIED:
		return nil, &providers.Error{Kind: providers.KindDenied, Op: op, Code: state.String(), Refs: refs,
			Err: fmt.Errorf("an approver denied PAM grant %s", g.GetName()), Hint: followHint(g.GetName()) + " (the denial says why)"}
	case pampb.Grant_EXPIRED:
		return nil, &providers.Error{Kind: providers.KindDenied, Op: op, Code: state.String(), Refs: refs,
			Err: fmt.Errorf("PAM grant %s expired: nobody approved it within 24h", g.GetName()), Hint: "request it again"}
	case pampb.Grant_ACTIVATION_FAILED:
		return nil, &providers.Error{Kind: providers.KindUnknown, Op: op, Code: state.String(), Refs: refs,
			Err: fmt.Errorf("PAM could not activate grant %s", g.GetName()), Hint: followHint(g.GetName()) + " (the timeline says why)"}
	default:
		return nil, &providers.Error{Kind: providers.KindInvalid, Op: op, Code: state.String(), Refs: refs,
			Err: fmt.Errorf("PAM grant %s is already %s", g.GetName(), state), Hint: "request it again"}
	}
	now := p.now().UTC()
	act, ok := activation(g)
	if !ok {
		act = now
	}
	d := g.GetRequestedDuration().AsDuration()
	if d <= 0 {
		d = req.Duration.Truncate(time.Second)
	}
	end := act.Add(d)
	// PAM's clock and ours differ a little; never report beyond what the
	// policy allowed.
	if end.After(window) {
		end = window
	}
	var env []providers.EnvVar
	if proj := spec.EffectiveProject(); proj != "" {
		env = append(env, providers.EnvVar{Name: "CLOUDSDK_CORE_PROJECT", Value: proj}, providers.EnvVar{Name: "GOOGLE_CLOUD_PROJECT", Value: proj})
	}
	return &providers.Grant{
		RequestID: req.ID,
		Target:    req.Target.Name,
		Provider:  ProviderName,
		Principal: req.Principal.ID,
		NotBefore: act.UTC(),
		NotAfter:  end.UTC(),
		Refs:      refs,
		Env:       env,
		Revocable: true,
		RevokeNote: fmt.Sprintf("PAM grant %s gives the entitlement's roles to your own Google account until %s (gcloud and the SDKs need no new login; IAM takes a few minutes to propagate). "+
			"jit revoke revokes the grant, which needs privilegedaccessmanager.grants.revoke.", g.GetName(), end.UTC().Format(time.RFC3339)),
	}, nil
}

// ended reports states in which a grant no longer gives access.
func ended(s pampb.Grant_State) bool {
	switch s {
	case pampb.Grant_ENDED, pampb.Grant_REVOKED, pampb.Grant_REVOKING, pampb.Grant_EXPIRED, pampb.Grant_DENIED,
		pampb.Grant_WITHDRAWN, pampb.Grant_WITHDRAWING, pampb.Grant_ACTIVATION_FAILED:
		return true
	}
	return false
}

func (p *Provider) revokePAM(ctx context.Context, rec *providers.Grant) error {
	name := rec.Refs["grant"]
	ent, err := ParseEntitlement(rec.Refs["entitlement"])
	if err != nil || !strings.HasPrefix(name, ent.String()+"/grants/") {
		return invalid("revoke "+rec.Target, fmt.Errorf("the grant record names no valid PAM grant (%q)", name), "")
	}
	op := "revoke PAM grant " + name
	c, err := p.pamClient(ctx, op)
	if err != nil {
		return err
	}
	if _, _, err := p.token(ctx, op); err != nil {
		return err
	}
	g, err := c.GetGrant(ctx, &pampb.GetGrantRequest{Name: name})
	if err != nil {
		if status.Code(err) == codes.NotFound && ctx.Err() == nil {
			return nil
		}
		return p.classify(ctx, op, err, pamHints(ent, "get"))
	}
	switch s := g.GetState(); {
	case ended(s):
		return nil
	case s == pampb.Grant_APPROVAL_AWAITED || s == pampb.Grant_SCHEDULED:
		return &providers.Error{Kind: providers.KindInvalid, Op: op, Code: s.String(),
			Err:  fmt.Errorf("the grant is %s, not active: PAM revokes active grants only", s),
			Hint: "ask an approver to deny it (gcloud pam grants deny " + name + " --reason=...) or withdraw it in the Cloud console"}
	}
	lro, err := c.RevokeGrant(ctx, &pampb.RevokeGrantRequest{Name: name, Reason: "jit revoke " + rec.RequestID})
	if err == nil {
		_, err = lro.Wait(ctx)
	}
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.FailedPrecondition && ctx.Err() == nil {
		// It ended between our look and the revoke.
		if g2, gerr := c.GetGrant(ctx, &pampb.GetGrantRequest{Name: name}); gerr == nil && ended(g2.GetState()) {
			return nil
		}
	}
	return p.classify(ctx, op, err, pamHints(ent, "revoke"))
}
