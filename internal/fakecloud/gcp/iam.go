package gcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// IAM limits the fake enforces ([docs]; the exact numbers of the real
// service may differ slightly).
const (
	maxTitleLen       = 100
	maxDescriptionLen = 256
	maxExpressionLen  = 12800
	maxMembers        = 1500
)

// policyState is a resource's policy and its revision.
type policyState struct {
	version  int32
	bindings []*iampb.Binding
	audit    []*iampb.AuditConfig
	etag     []byte
}

func newPolicyState(p *iampb.Policy) *policyState {
	st := &policyState{version: p.GetVersion(), bindings: p.GetBindings(), audit: p.GetAuditConfigs(), etag: newEtag()}
	if st.version == 0 {
		st.version = 1
	}
	if hasConditions(st.bindings) {
		st.version = 3
	}
	return st
}

func newEtag() []byte {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

func policyFromConfig(p Policy) *iampb.Policy {
	out := &iampb.Policy{Version: 1}
	for _, b := range p.Bindings {
		pb := &iampb.Binding{Role: b.Role, Members: append([]string(nil), b.Members...)}
		if b.Condition != nil {
			pb.Condition = &expr.Expr{Title: b.Condition.Title, Description: b.Condition.Description, Expression: b.Condition.Expression}
			out.Version = 3
		}
		out.Bindings = append(out.Bindings, pb)
	}
	return out
}

func hasConditions(bs []*iampb.Binding) bool {
	for _, b := range bs {
		if b.GetCondition() != nil {
			return true
		}
	}
	return false
}

// view is the policy as GetIamPolicy returns it for a requested version.
// A version 1 (or unspecified) read of a policy with conditions gets IAM's
// lossy view: conditions dropped and each conditional role renamed
// ROLE_withcond_HASH, so that writing it back is refused instead of
// silently making the bindings permanent.
func (st *policyState) view(requested int32) *iampb.Policy {
	p := &iampb.Policy{Version: st.version, Etag: append([]byte(nil), st.etag...)}
	for _, a := range st.audit {
		p.AuditConfigs = append(p.AuditConfigs, proto.Clone(a).(*iampb.AuditConfig))
	}
	lossy := requested < 3 && st.version >= 3
	if lossy {
		p.Version = 1
	}
	for _, b := range st.bindings {
		c := proto.Clone(b).(*iampb.Binding)
		if lossy && c.Condition != nil {
			h := sha256.Sum256([]byte(c.Condition.GetTitle() + "\x00" + c.Condition.GetExpression()))
			c.Role = c.Role + "_withcond_" + hex.EncodeToString(h[:10])
			c.Condition = nil
		}
		p.Bindings = append(p.Bindings, c)
	}
	return p
}

// Roles that carry resourcemanager.*.getIamPolicy / setIamPolicy in the
// fake.
func roleCanSet(role string) bool {
	switch role {
	case "roles/owner", "roles/iam.securityAdmin", "roles/resourcemanager.projectIamAdmin",
		"roles/resourcemanager.folderIamAdmin", "roles/resourcemanager.folderAdmin", "roles/resourcemanager.organizationAdmin":
		return true
	}
	return false
}

func roleCanGet(role string) bool {
	if roleCanSet(role) {
		return true
	}
	switch role {
	case "roles/editor", "roles/viewer", "roles/browser", "roles/iam.securityReviewer":
		return true
	}
	return false
}

// permits reports whether the policy gives the caller a role for which ok
// holds, in a binding whose condition is true now.
func (st *policyState) permits(c caller, now time.Time, ok func(role string) bool) bool {
	for _, b := range st.bindings {
		if !ok(b.GetRole()) {
			continue
		}
		member := false
		for _, m := range b.GetMembers() {
			if m == c.member() {
				member = true
				break
			}
		}
		if member && (b.GetCondition() == nil || evalCondition(b.GetCondition().GetExpression(), now)) {
			return true
		}
	}
	return false
}

// HasAccess reports whether member (user:E or serviceAccount:E) holds role
// on resource now: in an unconditional binding or one whose condition is
// true on the fake's clock.
func (s *Server) HasAccess(resource, role, member string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.policies[resource]
	if !ok {
		return false
	}
	now := s.nowLocked()
	for _, b := range st.bindings {
		if b.GetRole() != role {
			continue
		}
		for _, m := range b.GetMembers() {
			if m == member && (b.GetCondition() == nil || evalCondition(b.GetCondition().GetExpression(), now)) {
				return true
			}
		}
	}
	return false
}

// Policy returns the current policy of a resource (the full version 3
// view), or nil when the resource does not exist.
func (s *Server) Policy(resource string) *iampb.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.policies[resource]
	if !ok {
		return nil
	}
	return st.view(3)
}

// evalCondition evaluates the time conditions the fake understands:
// clauses request.time < timestamp("T") and request.time >= timestamp("T")
// (also <=, >) joined by &&. Anything else is false: the fake fails closed.
func evalCondition(e string, now time.Time) bool {
	clauses := strings.Split(e, "&&")
	for _, c := range clauses {
		c = strings.TrimSpace(c)
		if strings.HasPrefix(c, "(") && strings.HasSuffix(c, ")") {
			c = c[1 : len(c)-1]
		}
		rest, ok := strings.CutPrefix(strings.TrimSpace(c), "request.time")
		if !ok {
			return false
		}
		rest = strings.TrimSpace(rest)
		var op string
		for _, o := range []string{"<=", ">=", "<", ">"} {
			if strings.HasPrefix(rest, o) {
				op = o
				break
			}
		}
		if op == "" {
			return false
		}
		rest = strings.TrimSpace(rest[len(op):])
		ts, ok := strings.CutPrefix(rest, `timestamp("`)
		if !ok {
			return false
		}
		ts, ok = strings.CutSuffix(ts, `")`)
		if !ok {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return false
		}
		var holds bool
		switch op {
		case "<":
			holds = now.Before(t)
		case "<=":
			holds = !now.After(t)
		case ">":
			holds = now.After(t)
		case ">=":
			holds = !now.Before(t)
		}
		if !holds {
			return false
		}
	}
	return len(clauses) > 0
}

var validMemberPrefixes = []string{"user:", "serviceAccount:", "group:", "domain:", "principal://", "principalSet://", "deleted:", "projectOwner:", "projectEditor:", "projectViewer:"}

// validateBindings applies IAM's write-time rules.
func validateBindings(bs []*iampb.Binding, version int32) error {
	members := 0
	for _, b := range bs {
		role := b.GetRole()
		if role == "" {
			return status.Error(codes.InvalidArgument, "Binding has no role.")
		}
		if strings.Contains(role, "_withcond_") {
			return status.Errorf(codes.InvalidArgument, "Role %s is not supported: it is the version 1 view of a conditional binding; read the policy with requestedPolicyVersion 3.", role)
		}
		if len(b.GetMembers()) == 0 {
			return status.Errorf(codes.InvalidArgument, "Binding for role %s has no members.", role)
		}
		public := false
		for _, m := range b.GetMembers() {
			members++
			if m == "allUsers" || m == "allAuthenticatedUsers" {
				public = true
				continue
			}
			ok := false
			for _, p := range validMemberPrefixes {
				if strings.HasPrefix(m, p) && len(m) > len(p) {
					ok = true
				}
			}
			if !ok {
				return status.Errorf(codes.InvalidArgument, "Invalid member: %s. Members must be of the form user:EMAIL, serviceAccount:EMAIL, group:EMAIL or domain:DOMAIN.", m)
			}
		}
		c := b.GetCondition()
		if c == nil {
			continue
		}
		if version < 3 {
			return status.Error(codes.InvalidArgument, "Conditional role bindings require policy version 3; set policy.version = 3.")
		}
		switch role {
		case "roles/owner", "roles/editor", "roles/viewer":
			return status.Errorf(codes.InvalidArgument, "Conditions are not supported for basic role %s.", role)
		}
		if public {
			return status.Error(codes.InvalidArgument, "Conditions are not supported with allUsers or allAuthenticatedUsers.")
		}
		switch {
		case c.GetTitle() == "":
			return status.Error(codes.InvalidArgument, "Condition title is required.")
		case len(c.GetTitle()) > maxTitleLen:
			return status.Errorf(codes.InvalidArgument, "Condition title is longer than %d characters.", maxTitleLen)
		case len(c.GetDescription()) > maxDescriptionLen:
			return status.Errorf(codes.InvalidArgument, "Condition description is longer than %d characters.", maxDescriptionLen)
		case strings.TrimSpace(c.GetExpression()) == "":
			return status.Error(codes.InvalidArgument, "Condition expression is required.")
		case len(c.GetExpression()) > maxExpressionLen:
			return status.Errorf(codes.InvalidArgument, "Condition expression is longer than %d characters.", maxExpressionLen)
		}
	}
	if members > maxMembers {
		return status.Errorf(codes.InvalidArgument, "The policy has %d members; the limit is %d.", members, maxMembers)
	}
	return nil
}

// normalize merges bindings with the same role and condition, as IAM does,
// and drops duplicate members.
func normalize(bs []*iampb.Binding) []*iampb.Binding {
	var out []*iampb.Binding
	for _, b := range bs {
		var into *iampb.Binding
		for _, o := range out {
			if o.Role == b.GetRole() && proto.Equal(o.GetCondition(), b.GetCondition()) {
				into = o
				break
			}
		}
		if into == nil {
			into = &iampb.Binding{Role: b.GetRole(), Condition: b.GetCondition()}
			out = append(out, into)
		}
		for _, m := range b.GetMembers() {
			dup := false
			for _, x := range into.Members {
				if x == m {
					dup = true
					break
				}
			}
			if !dup {
				into.Members = append(into.Members, m)
			}
		}
	}
	return out
}

func permissionName(resource, verb string) string {
	kind, _, _ := parseResource(resource)
	svc := map[string]string{"projects": "projects", "folders": "folders", "organizations": "organizations"}[kind]
	if svc == "" {
		svc = "projects"
	}
	return "resourcemanager." + svc + "." + verb
}

func deniedOn(resource, perm string) error {
	return status.Errorf(codes.PermissionDenied, "Permission '%s' denied on resource '//cloudresourcemanager.googleapis.com/%s' (or it may not exist).", perm, resource)
}

// getIamPolicy serves every resource kind.
func (s *Server) getIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	c := callerFrom(ctx)
	requested := req.GetOptions().GetRequestedPolicyVersion()
	switch requested {
	case 0, 1, 3:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "Invalid requested policy version %d: use 1 or 3.", requested)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.policies[req.GetResource()]
	if !ok || !st.permits(c, s.nowLocked(), roleCanGet) {
		return nil, deniedOn(req.GetResource(), permissionName(req.GetResource(), "getIamPolicy"))
	}
	if s.lossy {
		requested = 1
	}
	return st.view(requested), nil
}

// ServeLossyViews makes every GetIamPolicy answer with the version 1 view,
// whatever version was requested: a proxy or an old client library that
// drops requestedPolicyVersion. Clients must notice the _withcond_ roles
// and refuse to write such a policy back.
func (s *Server) ServeLossyViews(on bool) {
	s.mu.Lock()
	s.lossy = on
	s.mu.Unlock()
}

// setIamPolicy serves every resource kind.
func (s *Server) setIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	c := callerFrom(ctx)
	p := req.GetPolicy()
	if p == nil {
		return nil, status.Error(codes.InvalidArgument, "Request contains an invalid argument: policy is required.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.policies[req.GetResource()]
	if !ok || !st.permits(c, s.nowLocked(), roleCanSet) {
		return nil, deniedOn(req.GetResource(), permissionName(req.GetResource(), "setIamPolicy"))
	}
	if len(p.GetEtag()) > 0 && !bytes.Equal(p.GetEtag(), st.etag) {
		return nil, status.Error(codes.Aborted, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
	}
	version := p.GetVersion()
	switch version {
	case 0, 1, 3:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "Invalid policy version %d: use 1 or 3.", version)
	}
	if err := validateBindings(p.GetBindings(), version); err != nil {
		return nil, err
	}
	s.storePolicyLocked(req.GetResource(), p.GetBindings(), p.GetAuditConfigs(), version)
	return s.policies[req.GetResource()].view(3), nil
}

// storePolicyLocked replaces a policy and bumps its etag.
func (s *Server) storePolicyLocked(resource string, bs []*iampb.Binding, audit []*iampb.AuditConfig, version int32) {
	nb := make([]*iampb.Binding, 0, len(bs))
	for _, b := range bs {
		nb = append(nb, proto.Clone(b).(*iampb.Binding))
	}
	nb = normalize(nb)
	if version == 0 {
		version = 1
	}
	if hasConditions(nb) {
		version = 3
	}
	na := make([]*iampb.AuditConfig, 0, len(audit))
	for _, a := range audit {
		na = append(na, proto.Clone(a).(*iampb.AuditConfig))
	}
	s.policies[resource] = &policyState{version: version, bindings: nb, audit: na, etag: newEtag()}
}

// SetPolicy replaces a resource's policy as an administrator outside any
// API would (creating the resource if need be), for tests.
func (s *Server) SetPolicy(resource string, bindings []Binding) error {
	if _, _, err := parseResource(resource); err != nil {
		return err
	}
	p := policyFromConfig(Policy{Resource: resource, Bindings: bindings})
	if err := validateBindings(p.Bindings, 3); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.storePolicyLocked(resource, p.Bindings, nil, p.Version)
	return nil
}

type projectsServer struct {
	resourcemanagerpb.UnimplementedProjectsServer
	s *Server
}

func (p *projectsServer) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	if err := checkKind(req.GetResource(), "projects"); err != nil {
		return nil, err
	}
	return p.s.getIamPolicy(ctx, req)
}

func (p *projectsServer) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	if err := checkKind(req.GetResource(), "projects"); err != nil {
		return nil, err
	}
	return p.s.setIamPolicy(ctx, req)
}

type foldersServer struct {
	resourcemanagerpb.UnimplementedFoldersServer
	s *Server
}

func (f *foldersServer) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	if err := checkKind(req.GetResource(), "folders"); err != nil {
		return nil, err
	}
	return f.s.getIamPolicy(ctx, req)
}

func (f *foldersServer) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	if err := checkKind(req.GetResource(), "folders"); err != nil {
		return nil, err
	}
	return f.s.setIamPolicy(ctx, req)
}

type organizationsServer struct {
	resourcemanagerpb.UnimplementedOrganizationsServer
	s *Server
}

func (o *organizationsServer) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	if err := checkKind(req.GetResource(), "organizations"); err != nil {
		return nil, err
	}
	return o.s.getIamPolicy(ctx, req)
}

func (o *organizationsServer) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	if err := checkKind(req.GetResource(), "organizations"); err != nil {
		return nil, err
	}
	return o.s.setIamPolicy(ctx, req)
}

// checkKind refuses a resource name of another service (a folder sent to
// Projects), as the real routing would.
func checkKind(resource, want string) error {
	kind, _, err := parseResource(resource)
	if err != nil || kind != want {
		return status.Errorf(codes.InvalidArgument, "Invalid resource name %q: want %s/…", resource, want)
	}
	return nil
}
