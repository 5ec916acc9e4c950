package gcp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	pampb "cloud.google.com/go/privilegedaccessmanager/apiv1/privilegedaccessmanagerpb"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// approvalWindow is how long a grant may await approval before PAM marks
// it EXPIRED.
const approvalWindow = 24 * time.Hour

type entitlementState struct {
	cfg    Entitlement
	parent string
}

func newEntitlementState(e Entitlement) *entitlementState {
	if e.MaxRequestDuration == 0 {
		e.MaxRequestDuration = time.Hour
	}
	parent, _ := parseEntitlementName(e.Name)
	if e.Resource == "" {
		e.Resource = parent
	}
	return &entitlementState{cfg: e, parent: parent}
}

type grantState struct {
	name          string
	ent           *entitlementState
	requester     string
	requested     time.Duration
	justification string
	state         pampb.Grant_State
	created       time.Time
	updated       time.Time
	activateAt    time.Time
	end           time.Time
	events        []*pampb.Grant_Timeline_Event
}

func (g *grantState) event(at time.Time, e any) {
	ev := &pampb.Grant_Timeline_Event{EventTime: timestamppb.New(at)}
	switch x := e.(type) {
	case *pampb.Grant_Timeline_Event_Requested_:
		ev.Event = x
	case *pampb.Grant_Timeline_Event_Approved_:
		ev.Event = x
	case *pampb.Grant_Timeline_Event_Denied_:
		ev.Event = x
	case *pampb.Grant_Timeline_Event_Revoked_:
		ev.Event = x
	case *pampb.Grant_Timeline_Event_Activated_:
		ev.Event = x
	case *pampb.Grant_Timeline_Event_Expired_:
		ev.Event = x
	case *pampb.Grant_Timeline_Event_Ended_:
		ev.Event = x
	}
	g.events = append(g.events, ev)
	g.updated = at
}

func (g *grantState) open() bool {
	switch g.state {
	case pampb.Grant_APPROVAL_AWAITED, pampb.Grant_SCHEDULED, pampb.Grant_ACTIVATING, pampb.Grant_ACTIVE:
		return true
	}
	return false
}

func (g *grantState) bindingTitle() string {
	return "pam-grant-" + g.name[strings.LastIndexByte(g.name, '/')+1:]
}

// refreshLocked moves a grant along the fake clock: approval times out,
// activation completes, the duration runs out.
func (s *Server) refreshLocked(g *grantState) {
	now := s.nowLocked()
	for {
		switch {
		case g.state == pampb.Grant_APPROVAL_AWAITED && !now.Before(g.created.Add(approvalWindow)):
			g.state = pampb.Grant_EXPIRED
			g.event(g.created.Add(approvalWindow), &pampb.Grant_Timeline_Event_Expired_{Expired: &pampb.Grant_Timeline_Event_Expired{}})
		case g.state == pampb.Grant_ACTIVATING && !now.Before(g.activateAt):
			g.state = pampb.Grant_ACTIVE
			g.end = g.activateAt.Add(g.requested)
			g.event(g.activateAt, &pampb.Grant_Timeline_Event_Activated_{Activated: &pampb.Grant_Timeline_Event_Activated{}})
			s.bindGrantLocked(g)
		case g.state == pampb.Grant_ACTIVE && !now.Before(g.end):
			g.state = pampb.Grant_ENDED
			g.event(g.end, &pampb.Grant_Timeline_Event_Ended_{Ended: &pampb.Grant_Timeline_Event_Ended{}})
			s.unbindGrantLocked(g)
		default:
			return
		}
	}
}

// bindGrantLocked gives the requester the entitlement's role while the
// grant is active, with an expiry condition, as PAM does.
func (s *Server) bindGrantLocked(g *grantState) {
	e := g.ent.cfg
	st, ok := s.policies[e.Resource]
	if e.Role == "" || !ok {
		return
	}
	member := caller{email: g.requester}.member()
	bs := append([]*iampb.Binding(nil), st.bindings...)
	bs = append(bs, &iampb.Binding{Role: e.Role, Members: []string{member}, Condition: &expr.Expr{
		Title:      g.bindingTitle(),
		Expression: `request.time < timestamp("` + g.end.UTC().Format(time.RFC3339) + `")`,
	}})
	s.storePolicyLocked(e.Resource, bs, st.audit, 3)
}

func (s *Server) unbindGrantLocked(g *grantState) {
	st, ok := s.policies[g.ent.cfg.Resource]
	if !ok {
		return
	}
	var bs []*iampb.Binding
	changed := false
	for _, b := range st.bindings {
		if b.GetCondition().GetTitle() == g.bindingTitle() {
			changed = true
			continue
		}
		bs = append(bs, b)
	}
	if changed {
		s.storePolicyLocked(g.ent.cfg.Resource, bs, st.audit, st.version)
	}
}

func (s *Server) activateLocked(g *grantState, now time.Time) {
	g.activateAt = now.Add(g.ent.cfg.ActivationDelay)
	g.state = pampb.Grant_ACTIVATING
	g.updated = now
	s.refreshLocked(g)
}

func (g *grantState) proto() *pampb.Grant {
	out := &pampb.Grant{
		Name:              g.name,
		CreateTime:        timestamppb.New(g.created),
		UpdateTime:        timestamppb.New(g.updated),
		Requester:         g.requester,
		RequestedDuration: durationpb.New(g.requested),
		State:             g.state,
		Timeline:          &pampb.Grant_Timeline{},
		PrivilegedAccess: &pampb.PrivilegedAccess{AccessType: &pampb.PrivilegedAccess_GcpIamAccess_{GcpIamAccess: &pampb.PrivilegedAccess_GcpIamAccess{
			ResourceType: "cloudresourcemanager.googleapis.com/" + strings.TrimSuffix(strings.SplitN(g.ent.cfg.Resource, "/", 2)[0], "s"),
			Resource:     "//cloudresourcemanager.googleapis.com/" + g.ent.cfg.Resource,
		}}},
	}
	if g.ent.cfg.Role != "" {
		out.GetPrivilegedAccess().GetGcpIamAccess().RoleBindings = []*pampb.PrivilegedAccess_GcpIamAccess_RoleBinding{{Role: g.ent.cfg.Role}}
	}
	if g.justification != "" {
		out.Justification = &pampb.Justification{Justification: &pampb.Justification_UnstructuredJustification{UnstructuredJustification: g.justification}}
	}
	for _, e := range g.events {
		out.Timeline.Events = append(out.Timeline.Events, proto.Clone(e).(*pampb.Grant_Timeline_Event))
	}
	return out
}

// GrantInfo describes a PAM grant for tests and `GET /_fake/pam/grants`.
type GrantInfo struct {
	Name      string        `json:"name"`
	State     string        `json:"state"`
	Requester string        `json:"requester"`
	Requested time.Duration `json:"requested"`
	End       time.Time     `json:"end,omitempty"`
	// Justification is the requester's unstructured justification.
	Justification string `json:"justification,omitempty"`
}

// Grants lists the PAM grants, oldest first, with their state on the fake
// clock.
func (s *Server) Grants() []GrantInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []GrantInfo
	for _, g := range s.grants {
		s.refreshLocked(g)
		out = append(out, GrantInfo{Name: g.name, State: g.state.String(), Requester: g.requester, Requested: g.requested, End: g.end, Justification: g.justification})
	}
	sortGrants(out)
	return out
}

func sortGrants(gs []GrantInfo) {
	for i := 1; i < len(gs); i++ {
		for j := i; j > 0 && gs[j].Name < gs[j-1].Name; j-- {
			gs[j], gs[j-1] = gs[j-1], gs[j]
		}
	}
}

// GrantState is a grant's state on the fake clock, or "" when it does not
// exist.
func (s *Server) GrantState(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[name]
	if !ok {
		return ""
	}
	s.refreshLocked(g)
	return g.state.String()
}

// Approve approves a grant that awaits approval, as approver would.
func (s *Server) Approve(name, approver string) error {
	_, err := s.approve(caller{email: approver}, name, true)
	return err
}

// Deny denies a grant that awaits approval, as approver would.
func (s *Server) Deny(name, approver string) error {
	_, err := s.approve(caller{email: approver}, name, false)
	return err
}

func (s *Server) approve(c caller, name string, ok bool) (*pampb.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, found := s.grants[name]
	if !found {
		return nil, status.Errorf(codes.NotFound, "Grant %s not found.", name)
	}
	s.refreshLocked(g)
	if !anyMatches(g.ent.cfg.Approvers, c) {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'privilegedaccessmanager.grants.approve' denied on resource '%s'.", name)
	}
	if c.email == g.requester {
		return nil, status.Error(codes.PermissionDenied, "You cannot approve or deny your own grant.")
	}
	if g.state != pampb.Grant_APPROVAL_AWAITED {
		return nil, status.Errorf(codes.FailedPrecondition, "Grant is in state %s, not APPROVAL_AWAITED.", g.state)
	}
	now := s.nowLocked()
	if ok {
		g.event(now, &pampb.Grant_Timeline_Event_Approved_{Approved: &pampb.Grant_Timeline_Event_Approved{Actor: c.email}})
		s.activateLocked(g, now)
	} else {
		g.state = pampb.Grant_DENIED
		g.event(now, &pampb.Grant_Timeline_Event_Denied_{Denied: &pampb.Grant_Timeline_Event_Denied{Actor: c.email}})
	}
	return g.proto(), nil
}

func isUUID(s string) bool {
	if len(s) != 36 || s == "00000000-0000-0000-0000-000000000000" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

type pamServer struct {
	pampb.UnimplementedPrivilegedAccessManagerServer
	s *Server
}

func (p *pamServer) GetEntitlement(ctx context.Context, req *pampb.GetEntitlementRequest) (*pampb.Entitlement, error) {
	c := callerFrom(ctx)
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.ents[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Entitlement %s not found.", req.GetName())
	}
	if !anyMatches(e.cfg.Eligible, c) && !anyMatches(e.cfg.Approvers, c) && !anyMatches(e.cfg.Admins, c) {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'privilegedaccessmanager.entitlements.get' denied on resource '%s'.", req.GetName())
	}
	out := &pampb.Entitlement{Name: e.cfg.Name, MaxRequestDuration: durationpb.New(e.cfg.MaxRequestDuration), State: pampb.Entitlement_AVAILABLE}
	out.EligibleUsers = []*pampb.AccessControlEntry{{Principals: e.cfg.Eligible}}
	if len(e.cfg.Approvers) > 0 {
		out.ApprovalWorkflow = &pampb.ApprovalWorkflow{ApprovalWorkflow: &pampb.ApprovalWorkflow_ManualApprovals{ManualApprovals: &pampb.ManualApprovals{
			Steps: []*pampb.ManualApprovals_Step{{Approvers: []*pampb.AccessControlEntry{{Principals: e.cfg.Approvers}}, ApprovalsNeeded: 1}},
		}}}
	}
	return out, nil
}

func (p *pamServer) CreateGrant(ctx context.Context, req *pampb.CreateGrantRequest) (*pampb.Grant, error) {
	c := callerFrom(ctx)
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.ents[req.GetParent()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Entitlement %s not found.", req.GetParent())
	}
	if !anyMatches(e.cfg.Eligible, c) {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'privilegedaccessmanager.grants.create' denied on resource '%s' (or it may not exist).", req.GetParent())
	}
	if id := req.GetRequestId(); id != "" {
		if !isUUID(id) {
			return nil, status.Error(codes.InvalidArgument, "request_id must be a valid UUID other than the zero UUID.")
		}
		if name, dup := s.requests[c.email+"|"+id]; dup {
			g := s.grants[name]
			s.refreshLocked(g)
			return g.proto(), nil
		}
	}
	gr := req.GetGrant()
	d := gr.GetRequestedDuration()
	if d == nil || d.AsDuration() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "grant.requested_duration is required and must be positive.")
	}
	if d.AsDuration() > e.cfg.MaxRequestDuration {
		return nil, status.Errorf(codes.InvalidArgument, "The requested duration %s exceeds the entitlement's maximum request duration %s.", d.AsDuration(), e.cfg.MaxRequestDuration)
	}
	just := gr.GetJustification().GetUnstructuredJustification()
	if e.cfg.RequireJustification && strings.TrimSpace(just) == "" {
		return nil, status.Error(codes.InvalidArgument, "The entitlement requires a justification.")
	}
	for _, g := range s.grants {
		s.refreshLocked(g)
		if g.ent == e && g.requester == c.email && g.open() {
			return nil, status.Errorf(codes.FailedPrecondition, "You already have an open grant %s (%s) for this entitlement.", g.name, g.state)
		}
	}
	now := s.nowLocked()
	g := &grantState{
		name: fmt.Sprintf("%s/grants/%s", e.cfg.Name, randomString(20)), ent: e, requester: c.email,
		requested: d.AsDuration(), justification: just, created: now,
	}
	g.event(now, &pampb.Grant_Timeline_Event_Requested_{Requested: &pampb.Grant_Timeline_Event_Requested{ExpireTime: timestamppb.New(now.Add(approvalWindow))}})
	if len(e.cfg.Approvers) > 0 {
		g.state = pampb.Grant_APPROVAL_AWAITED
	} else {
		s.activateLocked(g, now)
	}
	s.grants[g.name] = g
	if id := req.GetRequestId(); id != "" {
		s.requests[c.email+"|"+id] = g.name
	}
	return g.proto(), nil
}

// grantFor finds a grant the caller may see; the caller holds s.mu.
func (s *Server) grantForLocked(c caller, name string) (*grantState, error) {
	g, ok := s.grants[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Grant %s not found.", name)
	}
	cfg := g.ent.cfg
	if c.email != g.requester && !anyMatches(cfg.Approvers, c) && !anyMatches(cfg.Admins, c) {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'privilegedaccessmanager.grants.get' denied on resource '%s' (or it may not exist).", name)
	}
	s.refreshLocked(g)
	return g, nil
}

func (p *pamServer) GetGrant(ctx context.Context, req *pampb.GetGrantRequest) (*pampb.Grant, error) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.grantForLocked(callerFrom(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return g.proto(), nil
}

func (p *pamServer) ApproveGrant(ctx context.Context, req *pampb.ApproveGrantRequest) (*pampb.Grant, error) {
	return p.s.approve(callerFrom(ctx), req.GetName(), true)
}

func (p *pamServer) DenyGrant(ctx context.Context, req *pampb.DenyGrantRequest) (*pampb.Grant, error) {
	return p.s.approve(callerFrom(ctx), req.GetName(), false)
}

func (p *pamServer) RevokeGrant(ctx context.Context, req *pampb.RevokeGrantRequest) (*longrunningpb.Operation, error) {
	c := callerFrom(ctx)
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Grant %s not found.", req.GetName())
	}
	if !anyMatches(g.ent.cfg.Admins, c) {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'privilegedaccessmanager.grants.revoke' denied on resource '%s' (or it may not exist).", req.GetName())
	}
	s.refreshLocked(g)
	if g.state != pampb.Grant_ACTIVE {
		return nil, status.Errorf(codes.FailedPrecondition, "Grant is in state %s; only ACTIVE grants can be revoked.", g.state)
	}
	now := s.nowLocked()
	g.state = pampb.Grant_REVOKED
	g.event(now, &pampb.Grant_Timeline_Event_Revoked_{Revoked: &pampb.Grant_Timeline_Event_Revoked{Actor: c.email, Reason: req.GetReason()}})
	s.unbindGrantLocked(g)
	resp, err := anypb.New(g.proto())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode grant: %v", err)
	}
	loc := strings.Join(strings.Split(g.name, "/")[:4], "/")
	op := &longrunningpb.Operation{Name: loc + "/operations/" + randomString(16), Done: true, Result: &longrunningpb.Operation_Response{Response: resp}}
	s.ops[op.Name] = op
	return proto.Clone(op).(*longrunningpb.Operation), nil
}

type operationsServer struct {
	longrunningpb.UnimplementedOperationsServer
	s *Server
}

func (o *operationsServer) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	op, ok := o.s.ops[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Operation %s not found.", req.GetName())
	}
	return proto.Clone(op).(*longrunningpb.Operation), nil
}
