package gcp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/jitaccess/jit/providers"
)

// iamPolicyClient is the IAM half of the Resource Manager clients
// (projects, folders and organizations alike).
type iamPolicyClient interface {
	GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest, opts ...gax.CallOption) (*iampb.Policy, error)
	SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest, opts ...gax.CallOption) (*iampb.Policy, error)
}

func policyHints(r Resource) hints {
	kind := r.Kind // permissions are resourcemanager.<kind>.setIamPolicy
	role := map[string]string{
		KindProject: "roles/resourcemanager.projectIamAdmin", KindFolder: "roles/resourcemanager.folderIamAdmin",
		KindOrganization: "roles/resourcemanager.organizationAdmin",
	}[r.Kind]
	return hints{
		denied: fmt.Sprintf("jit edits the IAM policy of %s with your own credentials: you need resourcemanager.%s.getIamPolicy and resourcemanager.%s.setIamPolicy there (e.g. %s)",
			r, kind, kind, role),
		invalid:  "IAM refused the binding; check the target's role and resource in the policy",
		notFound: fmt.Sprintf("%s does not exist (or you cannot see it)", r),
	}
}

// withcond reports a role name from IAM's lossy version 1 view of a
// conditional binding.
func withcond(p *iampb.Policy) string {
	for _, b := range p.GetBindings() {
		if strings.Contains(b.GetRole(), "_withcond_") {
			return b.GetRole()
		}
	}
	return ""
}

// modifyPolicy runs a read-modify-write of r's IAM policy: read at
// version 3, let mutate change it, write it back with the etag it was read
// with. When someone else changed the policy in between (codes.Aborted) the
// whole cycle runs again, with backoff: a retry on the stale copy would
// lose their change or ours.
func (p *Provider) modifyPolicy(ctx context.Context, op string, r Resource, mutate func(*iampb.Policy) (bool, error)) error {
	h := policyHints(r)
	c, err := p.policyClient(ctx, op, r)
	if err != nil {
		return err
	}
	if _, _, err := p.token(ctx, op); err != nil {
		return err
	}
	wait := p.opts.PolicyBackoff
	for attempt := 1; ; attempt++ {
		pol, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{
			Resource: r.String(), Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3},
		})
		if err != nil {
			return p.classify(ctx, op, err, h)
		}
		if role := withcond(pol); role != "" {
			// Writing this view back would make conditional bindings
			// permanent (or be refused); something between jit and IAM
			// dropped the requested version.
			return &providers.Error{Kind: providers.KindUnknown, Op: op, Code: "LossyPolicyView",
				Err:  fmt.Errorf("the policy of %s came back as IAM's version 1 view (role %s); jit will not write it back", r, role),
				Hint: "the endpoint did not honour requestedPolicyVersion 3; check providers.gcp.endpoints"}
		}
		changed, err := mutate(pol)
		if err != nil || !changed {
			return err
		}
		pol.Version = 3
		_, err = c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: r.String(), Policy: pol})
		if err == nil {
			return nil
		}
		if status.Code(err) != codes.Aborted || attempt >= p.opts.PolicyAttempts || ctx.Err() != nil {
			e := p.classify(ctx, op, err, h)
			var pe *providers.Error
			if errors.As(e, &pe) && pe.Kind == providers.KindConflict {
				pe.Hint = fmt.Sprintf("the IAM policy of %s changed %d times while jit was editing it; retry in a moment", r, attempt)
			}
			return e
		}
		// Full jitter: concurrent writers that collided must not collide
		// again in lockstep.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", op, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// dropExpired removes the bindings jit created (title jit-…, expression
// request.time < timestamp(T)) whose T is not after now. Bindings anyone
// else wrote are left alone, whatever their condition.
func dropExpired(pol *iampb.Policy, now time.Time) int {
	kept := pol.Bindings[:0]
	n := 0
	for _, b := range pol.Bindings {
		if c := b.GetCondition(); c != nil && IsJITTitle(c.GetTitle()) {
			if t, ok := ParseExpiry(c.GetExpression()); ok && !now.Before(t) {
				n++
				continue
			}
		}
		kept = append(kept, b)
	}
	pol.Bindings = kept
	return n
}

// removeTitle removes the bindings whose condition has the title (and
// role, when given).
func removeTitle(pol *iampb.Policy, title, role string) int {
	kept := pol.Bindings[:0]
	n := 0
	for _, b := range pol.Bindings {
		if b.GetCondition().GetTitle() == title && (role == "" || b.GetRole() == role) {
			n++
			continue
		}
		kept = append(kept, b)
	}
	pol.Bindings = kept
	return n
}

func (p *Provider) grantBinding(ctx context.Context, req providers.Request, spec *TargetSpec) (*providers.Grant, error) {
	r, _ := ParseResource(spec.Resource) // validated
	op := fmt.Sprintf("bind %s on %s", spec.Role, r)
	email, typ, err := p.googleAccount(ctx, req.Principal)
	if err != nil {
		return nil, err
	}
	member := memberFor(email, typ)
	now := p.now().UTC()
	// Whole seconds, rounded down: the binding must not outlive the window
	// the policy allowed.
	expiry := now.Add(req.Duration).Truncate(time.Second)
	if !expiry.After(now) {
		return nil, invalid(op, fmt.Errorf("duration %s ends within the current second", req.Duration), "ask for a longer --for")
	}
	cond := &expr.Expr{
		Title:       BindingTitle(req.ID),
		Description: bindingDescription(email, req.Reason, req.Ticket),
		Expression:  ExpiryExpression(expiry),
	}
	binding := &iampb.Binding{Role: spec.Role, Members: []string{member}, Condition: cond}
	err = p.modifyPolicy(ctx, op, r, func(pol *iampb.Policy) (bool, error) {
		dropExpired(pol, p.now())
		// A cycle whose write succeeded but whose answer was lost leaves
		// our binding behind: replace it rather than add a twin.
		removeTitle(pol, cond.Title, "")
		pol.Bindings = append(pol.Bindings, proto.Clone(binding).(*iampb.Binding))
		return true, nil
	})
	if err != nil {
		return nil, err
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
		NotBefore: now,
		NotAfter:  expiry,
		Refs: map[string]string{
			"resource": r.String(), "role": spec.Role, "member": member,
			"binding_title": cond.Title, "expression": cond.Expression,
		},
		Env:       env,
		Revocable: true,
		RevokeNote: fmt.Sprintf("%s holds %s on %s through your own Google credentials (gcloud and the SDKs need no new login; IAM takes a few minutes to propagate) until %s. "+
			"jit revoke removes the binding %s; IAM takes a few minutes to propagate that too.",
			member, spec.Role, r, expiry.Format(time.RFC3339), cond.Title),
	}, nil
}

func (p *Provider) revokeBinding(ctx context.Context, g *providers.Grant) error {
	r, err := ParseResource(g.Refs["resource"])
	if err != nil {
		return invalid("revoke "+g.Target, fmt.Errorf("the grant record names no valid resource: %w", err), "")
	}
	title, role := g.Refs["binding_title"], g.Refs["role"]
	op := fmt.Sprintf("remove binding %s from %s", title, r)
	return p.modifyPolicy(ctx, op, r, func(pol *iampb.Policy) (bool, error) {
		// A missing binding (expired and collected, or removed by hand) is
		// already revoked.
		return removeTitle(pol, title, role) > 0, nil
	})
}

// Collect removes the expired bindings jit created on the resources of the
// given binding targets (IAM never deletes them, and policies have size
// limits), and says how many it removed.
func (p *Provider) Collect(ctx context.Context, targets []providers.Target) (int, error) {
	seen := map[string]bool{}
	total := 0
	var errs []error
	for _, t := range targets {
		spec, ok := t.Spec.(*TargetSpec)
		if !ok || spec == nil || t.Provider != ProviderName && t.Provider != "" || spec.EffectiveMode() != ModeBinding {
			continue
		}
		r, err := ParseResource(spec.Resource)
		if err != nil || seen[r.String()] {
			continue
		}
		seen[r.String()] = true
		n := 0
		err = p.modifyPolicy(ctx, "collect expired jit bindings on "+r.String(), r, func(pol *iampb.Policy) (bool, error) {
			n = dropExpired(pol, p.now())
			return n > 0, nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return total, err
			}
			errs = append(errs, err)
			continue
		}
		total += n
	}
	return total, errors.Join(errs...)
}
