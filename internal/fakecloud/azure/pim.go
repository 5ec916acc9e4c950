package azure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

const authzProviders = "/providers/microsoft.authorization/"

// request is a role assignment schedule request the fake holds.
type request struct {
	name, scope  string
	props        requestProps
	principal    *Principal
	elig         *eligibility
	duration     time.Duration
	pollsLeft    int
	activationID string // of the activation it created, if any
}

// activation is an active role assignment created by a SelfActivate.
type activation struct {
	id          string // role assignment schedule (instance) name
	principalID string
	scope       string
	roleDefID   string
	elig        *eligibility
	start, end  time.Time
	requestName string
}

// Wire types of api-version 2020-10-01, written from the REST reference
// rather than the SDK's models so the fake checks the SDK's encoding.
type requestBody struct {
	ID         string       `json:"id,omitempty"`
	Name       string       `json:"name,omitempty"`
	Type       string       `json:"type,omitempty"`
	Properties requestProps `json:"properties"`
}

type requestProps struct {
	Scope                                  string        `json:"scope,omitempty"`
	RoleDefinitionID                       string        `json:"roleDefinitionId"`
	PrincipalID                            string        `json:"principalId"`
	PrincipalType                          string        `json:"principalType,omitempty"`
	RequestType                            string        `json:"requestType"`
	Status                                 string        `json:"status,omitempty"`
	ApprovalID                             string        `json:"approvalId,omitempty"`
	ScheduleInfo                           *scheduleInfo `json:"scheduleInfo,omitempty"`
	TargetRoleAssignmentScheduleID         string        `json:"targetRoleAssignmentScheduleId,omitempty"`
	TargetRoleAssignmentScheduleInstanceID string        `json:"targetRoleAssignmentScheduleInstanceId,omitempty"`
	LinkedRoleEligibilityScheduleID        string        `json:"linkedRoleEligibilityScheduleId,omitempty"`
	Justification                          string        `json:"justification,omitempty"`
	TicketInfo                             *ticketInfo   `json:"ticketInfo,omitempty"`
	Condition                              string        `json:"condition,omitempty"`
	ConditionVersion                       string        `json:"conditionVersion,omitempty"`
	CreatedOn                              string        `json:"createdOn,omitempty"`
	RequestorID                            string        `json:"requestorId,omitempty"`
	ExpandedProperties                     *expanded     `json:"expandedProperties,omitempty"`
}

type scheduleInfo struct {
	StartDateTime string      `json:"startDateTime,omitempty"`
	Expiration    *expiration `json:"expiration,omitempty"`
}

type expiration struct {
	Type        string `json:"type,omitempty"`
	EndDateTime string `json:"endDateTime,omitempty"`
	Duration    string `json:"duration,omitempty"`
}

type ticketInfo struct {
	TicketNumber string `json:"ticketNumber,omitempty"`
	TicketSystem string `json:"ticketSystem,omitempty"`
}

type expanded struct {
	Principal      *expandedItem `json:"principal,omitempty"`
	RoleDefinition *expandedItem `json:"roleDefinition,omitempty"`
	Scope          *expandedItem `json:"scope,omitempty"`
}

type expandedItem struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Type        string `json:"type,omitempty"`
	Email       string `json:"email,omitempty"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// serveARM answers the PIM endpoints under
// {scope}/providers/Microsoft.Authorization/.
func (s *Server) serveARM(w http.ResponseWriter, r *http.Request) {
	reqID := randomGUID()
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeARMError(w, reqID, &armError{status: 400, code: "InvalidRequestContent", message: "could not read the request body"})
			return
		}
		body = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Time: s.nowLocked(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, RequestID: reqID}
	if len(body) > 0 && json.Valid(body) {
		call.Body = json.RawMessage(body)
	}
	status, resp, aerr := s.handleARM(r, body, &call)
	if aerr != nil {
		call.Status, call.ErrorCode = aerr.status, aerr.code
		s.calls = append(s.calls, call)
		writeARMError(w, reqID, aerr)
		return
	}
	call.Status = status
	s.calls = append(s.calls, call)
	w.Header().Set("x-ms-request-id", reqID)
	w.Header().Set("x-ms-correlation-request-id", reqID)
	if resp == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, resp)
}

func (s *Server) logCall(c Call) {
	s.mu.Lock()
	c.Time = s.nowLocked()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// handleARM routes one ARM request; the caller holds s.mu.
func (s *Server) handleARM(r *http.Request, body []byte, call *Call) (int, any, *armError) {
	path := r.URL.Path
	i := strings.LastIndex(strings.ToLower(path), authzProviders)
	if i < 0 {
		return 0, nil, &armError{status: 404, code: "InvalidResourceType", message: "The fake serves Microsoft.Authorization PIM endpoints only."}
	}
	scope := path[:i]
	rest := strings.Split(path[i+len(authzProviders):], "/")
	collection := strings.ToLower(rest[0])
	switch {
	case collection == "roleeligibilityscheduleinstances" && len(rest) == 1 && r.Method == http.MethodGet:
		call.Op = OpListEligibility
	case collection == "roleassignmentscheduleinstances" && len(rest) == 1 && r.Method == http.MethodGet:
		call.Op = OpListInstances
	case collection == "rolemanagementpolicies" && len(rest) == 1 && r.Method == http.MethodGet:
		call.Op = OpListPolicies
	case collection == "roleassignmentschedulerequests" && len(rest) == 2 && r.Method == http.MethodPut:
		call.Op = OpCreateRequest
	case collection == "roleassignmentschedulerequests" && len(rest) == 2 && r.Method == http.MethodGet:
		call.Op = OpGetRequest
	case collection == "roleassignmentschedulerequests" && len(rest) == 3 && strings.EqualFold(rest[2], "cancel") && r.Method == http.MethodPost:
		call.Op = OpCancelRequest
	default:
		return 0, nil, &armError{status: 404, code: "InvalidResourceType",
			message: fmt.Sprintf("The resource type '%s' could not be found for method %s in the namespace 'Microsoft.Authorization'.", rest[0], r.Method)}
	}
	if v := r.URL.Query().Get("api-version"); v != APIVersion {
		return 0, nil, &armError{status: 400, code: "InvalidApiVersionParameter",
			message: fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '%s'.", v, APIVersion)}
	}
	tok, aerr := s.authenticate(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	call.Principal = tok.principal.ObjectID
	if f := s.takeFault(call.Op); f != nil {
		return 0, nil, &armError{status: f.Status, code: f.Code, message: f.Message, retryAfter: f.RetryAfter}
	}
	tenantWide := scope == "" && (call.Op == OpListEligibility || call.Op == OpListInstances)
	if !tenantWide && !validScope(scope) {
		return 0, nil, &armError{status: 400, code: "InvalidScope", message: fmt.Sprintf("The scope '%s' is not valid.", scope)}
	}
	now := s.nowLocked()
	switch call.Op {
	case OpListEligibility:
		return s.listEligibility(r, scope, tok, now)
	case OpListInstances:
		return s.listInstances(r, scope, tok, now)
	case OpListPolicies:
		return s.listPolicies(r, scope)
	case OpCreateRequest:
		return s.createRequest(scope, rest[1], body, tok, now)
	case OpGetRequest:
		return s.getRequest(scope, rest[1], now)
	default:
		return s.cancelRequest(scope, rest[1])
	}
}

// filterAsTarget checks $filter: none, or asTarget() (the caller's own).
func filterAsTarget(r *http.Request) (bool, *armError) {
	switch f := strings.TrimSpace(r.URL.Query().Get("$filter")); f {
	case "":
		return false, nil
	case "asTarget()":
		return true, nil
	default:
		return false, &armError{status: 400, code: "InvalidFilter", message: fmt.Sprintf("The filter '%s' is not supported by the fake (asTarget() is).", f)}
	}
}

// related reports whether an item at itemScope shows up in a list at
// scope: at it, above it or below it ("" is the whole tenant).
func related(scope, itemScope string) bool {
	if scope == "" {
		return true
	}
	a, b := strings.ToLower(scope), strings.ToLower(itemScope)
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

func (s *Server) expandedFor(p *Principal, e *eligibility) *expanded {
	x := &expanded{
		RoleDefinition: &expandedItem{ID: e.roleDefID, DisplayName: e.Role, Type: "BuiltInRole"},
		Scope:          &expandedItem{ID: e.Scope, DisplayName: scopeDisplayName(e.Scope), Type: scopeType(e.Scope)},
	}
	if builtinRoleGUID(e.Role) == "" {
		x.RoleDefinition.Type = "CustomRole"
	}
	if p != nil {
		typ := "User"
		if !p.IsUser() {
			typ = "ServicePrincipal"
		}
		name := p.Name
		if name == "" {
			name = p.UPN
		}
		x.Principal = &expandedItem{ID: p.ObjectID, DisplayName: name, Email: p.Email, Type: typ}
	}
	return x
}

func scopeType(scope string) string {
	seg := strings.Split(strings.TrimPrefix(scope, "/"), "/")
	switch {
	case len(seg) == 4 && strings.EqualFold(seg[0], "providers"):
		return "managementgroup"
	case len(seg) == 2:
		return "subscription"
	case len(seg) == 4:
		return "resourcegroup"
	}
	return "resource"
}

func scopeDisplayName(scope string) string {
	seg := strings.Split(scope, "/")
	return seg[len(seg)-1]
}

func principalType(p *Principal) string {
	if p.IsUser() {
		return "User"
	}
	return "ServicePrincipal"
}

func (s *Server) listEligibility(r *http.Request, scope string, tok *issuedToken, now time.Time) (int, any, *armError) {
	mine, aerr := filterAsTarget(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	var items []any
	for _, e := range s.elig {
		if mine && !strings.EqualFold(e.PrincipalID, tok.principal.ObjectID) || !related(scope, e.Scope) {
			continue
		}
		if !e.EndsAt.IsZero() && !now.Before(e.EndsAt) {
			continue
		}
		p := s.byOID[strings.ToLower(e.PrincipalID)]
		props := map[string]any{
			"scope": e.Scope, "roleDefinitionId": e.roleDefID, "principalId": p.ObjectID, "principalType": principalType(p),
			"roleEligibilityScheduleId": e.scheduleID, "status": "Provisioned", "memberType": e.MemberType,
			"startDateTime": stamp(s.cfg.Now().Add(-30 * 24 * time.Hour)), "createdOn": stamp(s.cfg.Now().Add(-30 * 24 * time.Hour)),
			"expandedProperties": s.expandedFor(p, e),
		}
		if !e.EndsAt.IsZero() {
			props["endDateTime"] = stamp(e.EndsAt)
		} else {
			props["endDateTime"] = nil
		}
		items = append(items, map[string]any{"id": e.instanceID, "name": e.name,
			"type": "Microsoft.Authorization/roleEligibilityScheduleInstances", "properties": props})
	}
	return s.page(r, items)
}

// page answers a list, split by PageSize with a $skiptoken nextLink.
func (s *Server) page(r *http.Request, items []any) (int, any, *armError) {
	if items == nil {
		items = []any{}
	}
	skip := 0
	if t := r.URL.Query().Get("$skiptoken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(items) {
			return 0, nil, &armError{status: 400, code: "InvalidSkipToken", message: "The skip token is not valid."}
		}
		skip = n
	}
	items = items[skip:]
	out := map[string]any{}
	if s.cfg.PageSize > 0 && len(items) > s.cfg.PageSize {
		q := r.URL.Query()
		q.Set("$skiptoken", strconv.Itoa(skip+s.cfg.PageSize))
		out["nextLink"] = s.url + r.URL.Path + "?" + q.Encode()
		items = items[:s.cfg.PageSize]
	}
	out["value"] = items
	return http.StatusOK, out, nil
}

// expireLocked drops activations that have ended on the fake clock.
func (s *Server) expireLocked(now time.Time) {
	kept := s.active[:0]
	for _, a := range s.active {
		if now.Before(a.end) {
			kept = append(kept, a)
		}
	}
	s.active = kept
}

func (s *Server) listInstances(r *http.Request, scope string, tok *issuedToken, now time.Time) (int, any, *armError) {
	mine, aerr := filterAsTarget(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	s.expireLocked(now)
	var items []any
	for _, a := range s.active {
		if mine && !strings.EqualFold(a.principalID, tok.principal.ObjectID) || !related(scope, a.scope) {
			continue
		}
		if a.start.After(now) {
			continue
		}
		p := s.byOID[strings.ToLower(a.principalID)]
		items = append(items, map[string]any{
			"id":   a.scope + "/providers/Microsoft.Authorization/roleAssignmentScheduleInstances/" + a.id,
			"name": a.id, "type": "Microsoft.Authorization/roleAssignmentScheduleInstances",
			"properties": map[string]any{
				"scope": a.scope, "roleDefinitionId": a.roleDefID, "principalId": a.principalID, "principalType": principalType(p),
				"roleAssignmentScheduleId":                a.scope + "/providers/Microsoft.Authorization/roleAssignmentSchedules/" + a.id,
				"originRoleAssignmentId":                  a.scope + "/providers/Microsoft.Authorization/roleAssignments/" + a.id,
				"linkedRoleEligibilityScheduleId":         a.elig.scheduleID,
				"linkedRoleEligibilityScheduleInstanceId": a.elig.instanceID,
				"startDateTime":                           stamp(a.start), "endDateTime": stamp(a.end),
				"assignmentType": "Activated", "memberType": "Direct", "status": "Provisioned",
				"createdOn": stamp(a.start), "expandedProperties": s.expandedFor(p, a.elig),
			},
		})
	}
	return s.page(r, items)
}

// listPolicies answers roleManagementPolicies?$filter=roleDefinitionId eq
// '<id>' with the activation rules of that role at the scope.
func (s *Server) listPolicies(r *http.Request, scope string) (int, any, *armError) {
	f := r.URL.Query().Get("$filter")
	const prefix = "roleDefinitionId eq '"
	if !strings.HasPrefix(f, prefix) || !strings.HasSuffix(f, "'") {
		return 0, nil, &armError{status: 400, code: "InvalidFilter", message: "The fake answers roleManagementPolicies only for $filter=roleDefinitionId eq '<id>'."}
	}
	want := roleGUID(strings.TrimSuffix(strings.TrimPrefix(f, prefix), "'"))
	settings := Eligibility{Scope: scope, MaxDuration: DefaultMaxDuration}
	for _, e := range s.elig {
		if roleGUID(e.roleDefID) == want && strings.EqualFold(e.Scope, scope) {
			settings = e.Eligibility
			break
		}
	}
	target := map[string]any{"caller": "EndUser", "operations": []string{"All"}, "level": "Assignment"}
	var enabled []string
	if settings.RequireJustification {
		enabled = append(enabled, "Justification")
	}
	if settings.RequireMFA {
		enabled = append(enabled, "MultiFactorAuthentication")
	}
	if settings.RequireTicket {
		enabled = append(enabled, "Ticketing")
	}
	if enabled == nil {
		enabled = []string{}
	}
	rules := []any{
		map[string]any{"id": "Expiration_EndUser_Assignment", "ruleType": "RoleManagementPolicyExpirationRule",
			"isExpirationRequired": true, "maximumDuration": formatDuration(settings.MaxDuration), "target": target},
		map[string]any{"id": "Enablement_EndUser_Assignment", "ruleType": "RoleManagementPolicyEnablementRule",
			"enabledRules": enabled, "target": target},
		map[string]any{"id": "Approval_EndUser_Assignment", "ruleType": "RoleManagementPolicyApprovalRule",
			"setting": map[string]any{"isApprovalRequired": settings.RequireApproval, "approvalMode": "SingleStage"}, "target": target},
	}
	name := nameGUID("policy:" + strings.ToLower(scope) + want)
	return http.StatusOK, map[string]any{"value": []any{map[string]any{
		"id":   scope + "/providers/Microsoft.Authorization/roleManagementPolicies/" + name,
		"name": name, "type": "Microsoft.Authorization/RoleManagementPolicies",
		"properties": map[string]any{"scope": scope, "isOrganizationDefault": false, "rules": rules, "effectiveRules": rules},
	}}}, nil
}

func (s *Server) requestObject(rq *request) requestBody {
	return requestBody{
		ID:         rq.scope + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/" + rq.name,
		Name:       rq.name,
		Type:       "Microsoft.Authorization/RoleAssignmentScheduleRequests",
		Properties: rq.props,
	}
}

func policyFailure(rules ...string) *armError {
	q := make([]string, len(rules))
	for i, r := range rules {
		q[i] = strconv.Quote(r)
	}
	return &armError{status: 400, code: "RoleAssignmentRequestPolicyValidationFailed",
		message: "The following policy rules failed: [" + strings.Join(q, ",") + "]"}
}

func authorizationFailed(oid, scope string) *armError {
	return &armError{status: 403, code: "AuthorizationFailed", message: fmt.Sprintf(
		"The client '%s' with object id '%s' does not have authorization to perform action 'Microsoft.Authorization/roleAssignmentScheduleRequests/write' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		oid, oid, scope)}
}

func (s *Server) createRequest(scope, name string, body []byte, tok *issuedToken, now time.Time) (int, any, *armError) {
	if !isGUID(name) {
		return 0, nil, &armError{status: 400, code: "InvalidRoleAssignmentScheduleRequestName",
			message: fmt.Sprintf("The role assignment schedule request name '%s' is not valid; it must be a GUID.", name)}
	}
	var in requestBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return 0, nil, &armError{status: 400, code: "InvalidRequestContent", message: "The request content was invalid and could not be deserialized: " + err.Error()}
	}
	p := in.Properties
	caller := tok.principal
	if !strings.EqualFold(p.PrincipalID, caller.ObjectID) {
		return 0, nil, authorizationFailed(caller.ObjectID, scope)
	}
	roleID := roleGUID(p.RoleDefinitionID)
	if roleID == "" {
		return 0, nil, &armError{status: 400, code: "InvalidRoleDefinitionId", message: fmt.Sprintf("The role definition ID '%s' is not valid.", p.RoleDefinitionID)}
	}
	s.expireLocked(now)
	if old := s.requests[strings.ToLower(name)]; old != nil {
		// A PUT of an existing name: the same request again (a retry)
		// answers as before; anything else is a conflict.
		if strings.EqualFold(old.scope, scope) && old.props.RequestType == p.RequestType &&
			strings.EqualFold(old.props.PrincipalID, p.PrincipalID) && roleGUID(old.props.RoleDefinitionID) == roleID {
			return http.StatusCreated, s.requestObject(old), nil
		}
		return 0, nil, &armError{status: 409, code: "RoleAssignmentScheduleRequestExists",
			message: fmt.Sprintf("A role assignment schedule request named '%s' already exists with other properties.", name)}
	}
	var el *eligibility
	for _, e := range s.elig {
		if strings.EqualFold(e.PrincipalID, caller.ObjectID) && strings.EqualFold(e.Scope, scope) && roleGUID(e.roleDefID) == roleID &&
			(e.EndsAt.IsZero() || now.Before(e.EndsAt)) {
			el = e
			break
		}
	}
	switch p.RequestType {
	case "SelfActivate":
		return s.selfActivate(scope, name, in, el, caller, tok, now)
	case "SelfDeactivate":
		return s.selfDeactivate(scope, name, in, caller, roleID, now)
	case "":
		return 0, nil, &armError{status: 400, code: "InvalidRequestContent", message: "The request type is required."}
	}
	return 0, nil, &armError{status: 400, code: "UnsupportedRequestType", message: fmt.Sprintf("The fake does not support request type '%s'.", p.RequestType)}
}

func (s *Server) selfActivate(scope, name string, in requestBody, el *eligibility, caller *Principal, tok *issuedToken, now time.Time) (int, any, *armError) {
	p := in.Properties
	if el == nil || p.LinkedRoleEligibilityScheduleID != "" && !strings.EqualFold(p.LinkedRoleEligibilityScheduleID, el.scheduleID) {
		return 0, nil, policyFailure("EligibilityRule")
	}
	start := now
	if p.ScheduleInfo != nil && p.ScheduleInfo.StartDateTime != "" {
		t, err := time.Parse(time.RFC3339Nano, p.ScheduleInfo.StartDateTime)
		if err != nil {
			return 0, nil, &armError{status: 400, code: "InvalidRequestContent", message: "scheduleInfo.startDateTime is not a date-time: " + p.ScheduleInfo.StartDateTime}
		}
		// The client's clock: honoured unless it lies in the future or
		// more than 5 minutes back (then the fake's own now).
		if !t.After(now) && now.Sub(t) <= 5*time.Minute {
			start = t
		}
	}
	var failed []string
	var dur time.Duration
	switch {
	case p.ScheduleInfo == nil || p.ScheduleInfo.Expiration == nil || p.ScheduleInfo.Expiration.Type == "NoExpiration" || p.ScheduleInfo.Expiration.Type == "":
		failed = append(failed, "ExpirationRule")
	case p.ScheduleInfo.Expiration.Type == "AfterDuration":
		d, err := parseDuration(p.ScheduleInfo.Expiration.Duration)
		if err != nil {
			return 0, nil, &armError{status: 400, code: "InvalidDuration", message: fmt.Sprintf("The duration '%s' is not an ISO-8601 duration.", p.ScheduleInfo.Expiration.Duration)}
		}
		dur = d
	case p.ScheduleInfo.Expiration.Type == "AfterDateTime":
		end, err := time.Parse(time.RFC3339Nano, p.ScheduleInfo.Expiration.EndDateTime)
		if err != nil || !end.After(start) {
			return 0, nil, &armError{status: 400, code: "InvalidRequestContent", message: "scheduleInfo.expiration.endDateTime must be a date-time after the start"}
		}
		dur = end.Sub(start)
	default:
		return 0, nil, &armError{status: 400, code: "InvalidRequestContent", message: "scheduleInfo.expiration.type must be AfterDuration, AfterDateTime or NoExpiration"}
	}
	if dur > el.MaxDuration {
		failed = append(failed, "ExpirationRule")
	}
	if el.RequireJustification && strings.TrimSpace(p.Justification) == "" {
		failed = append(failed, "JustificationRule")
	}
	if el.RequireTicket && (p.TicketInfo == nil || strings.TrimSpace(p.TicketInfo.TicketNumber) == "") {
		failed = append(failed, "TicketingRule")
	}
	if el.RequireMFA && !tok.mfa {
		failed = append(failed, "MfaRule")
	}
	if len(failed) > 0 {
		return 0, nil, policyFailure(failed...)
	}
	for _, a := range s.active {
		if strings.EqualFold(a.principalID, caller.ObjectID) && strings.EqualFold(a.scope, scope) && roleGUID(a.roleDefID) == roleGUID(el.roleDefID) {
			return 0, nil, &armError{status: 400, code: "RoleAssignmentExists", message: "The Role assignment already exists."}
		}
	}
	for _, rq := range s.requests {
		if strings.HasPrefix(rq.props.Status, "Pending") && rq.props.RequestType == "SelfActivate" && rq.elig == el {
			return 0, nil, &armError{status: 400, code: "PendingRoleAssignmentRequest", message: "There is already an existing pending Role assignment request."}
		}
	}
	rq := &request{name: name, scope: scope, principal: caller, elig: el, duration: dur}
	rq.props = p
	rq.props.Scope = scope
	rq.props.RoleDefinitionID = el.roleDefID
	rq.props.PrincipalType = principalType(caller)
	rq.props.CreatedOn = stamp(now)
	rq.props.RequestorID = caller.ObjectID
	rq.props.ExpandedProperties = s.expandedFor(caller, el)
	if rq.props.ScheduleInfo.StartDateTime == "" {
		rq.props.ScheduleInfo.StartDateTime = stamp(start)
	}
	switch {
	case el.RequireApproval:
		rq.props.Status = "PendingApproval"
		rq.props.ApprovalID = scope + "/providers/Microsoft.Authorization/roleAssignmentApprovals/" + randomGUID()
	default:
		s.activate(rq, start)
		rq.props.Status = "Provisioned"
		if s.cfg.ProvisioningPolls > 0 {
			rq.props.Status = "PendingProvisioning"
			rq.pollsLeft = s.cfg.ProvisioningPolls
		}
	}
	s.requests[strings.ToLower(name)] = rq
	return http.StatusCreated, s.requestObject(rq), nil
}

// activate records the activation a request creates, from start for the
// request's duration.
func (s *Server) activate(rq *request, start time.Time) {
	a := &activation{id: nameGUID("activation:" + rq.name), principalID: rq.principal.ObjectID, scope: rq.scope,
		roleDefID: rq.elig.roleDefID, elig: rq.elig, start: start, end: start.Add(rq.duration), requestName: rq.name}
	s.active = append(s.active, a)
	rq.activationID = a.id
	rq.props.TargetRoleAssignmentScheduleID = rq.scope + "/providers/Microsoft.Authorization/roleAssignmentSchedules/" + a.id
	rq.props.TargetRoleAssignmentScheduleInstanceID = rq.scope + "/providers/Microsoft.Authorization/roleAssignmentScheduleInstances/" + a.id
}

func (s *Server) selfDeactivate(scope, name string, in requestBody, caller *Principal, roleID string, now time.Time) (int, any, *armError) {
	idx := -1
	for i, a := range s.active {
		if strings.EqualFold(a.principalID, caller.ObjectID) && strings.EqualFold(a.scope, scope) && roleGUID(a.roleDefID) == roleID && !a.start.After(now) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return 0, nil, &armError{status: 400, code: "RoleAssignmentDoesNotExist", message: "The Role assignment does not exist."}
	}
	a := s.active[idx]
	if !s.cfg.AllowImmediateDeactivation && now.Sub(a.start) < MinActiveDuration {
		// Azure's own spelling.
		return 0, nil, &armError{status: 400, code: "ActiveDurationTooShort", message: "The Active duration is too short. Miniumum Required is 5 minutes."}
	}
	s.active = append(s.active[:idx], s.active[idx+1:]...)
	rq := &request{name: name, scope: scope, principal: caller, elig: a.elig}
	rq.props = in.Properties
	rq.props.Scope = scope
	rq.props.RoleDefinitionID = a.roleDefID
	rq.props.PrincipalType = principalType(caller)
	rq.props.Status = "Revoked"
	rq.props.CreatedOn = stamp(now)
	rq.props.RequestorID = caller.ObjectID
	rq.props.ExpandedProperties = s.expandedFor(caller, a.elig)
	rq.props.TargetRoleAssignmentScheduleID = scope + "/providers/Microsoft.Authorization/roleAssignmentSchedules/" + a.id
	s.requests[strings.ToLower(name)] = rq
	return http.StatusCreated, s.requestObject(rq), nil
}

func (s *Server) findRequest(scope, name string) *request {
	rq := s.requests[strings.ToLower(name)]
	if rq == nil || !strings.EqualFold(rq.scope, scope) {
		return nil
	}
	return rq
}

func (s *Server) getRequest(scope, name string, now time.Time) (int, any, *armError) {
	rq := s.findRequest(scope, name)
	if rq == nil {
		return 0, nil, &armError{status: 404, code: "RoleAssignmentScheduleRequestNotFound",
			message: fmt.Sprintf("The role assignment schedule request '%s' is not found.", name)}
	}
	if rq.props.Status == "PendingProvisioning" {
		if rq.pollsLeft--; rq.pollsLeft <= 0 {
			rq.props.Status = "Provisioned"
		}
	}
	return http.StatusOK, s.requestObject(rq), nil
}

func (s *Server) cancelRequest(scope, name string) (int, any, *armError) {
	rq := s.findRequest(scope, name)
	if rq == nil {
		return 0, nil, &armError{status: 404, code: "RoleAssignmentScheduleRequestNotFound",
			message: fmt.Sprintf("The role assignment schedule request '%s' is not found.", name)}
	}
	if !strings.HasPrefix(rq.props.Status, "Pending") {
		return 0, nil, &armError{status: 400, code: "RoleAssignmentRequestNotPending",
			message: fmt.Sprintf("Only pending requests can be cancelled; the request is %s.", rq.props.Status)}
	}
	rq.props.Status = "Canceled"
	s.dropActivation(rq)
	return http.StatusOK, nil, nil
}

func (s *Server) dropActivation(rq *request) {
	for i, a := range s.active {
		if a.id == rq.activationID && rq.activationID != "" {
			s.active = append(s.active[:i], s.active[i+1:]...)
			return
		}
	}
}

// ActiveAssignment describes an activation, for tests and `GET /_fake/active`.
type ActiveAssignment struct {
	PrincipalID      string    `json:"principal_id"`
	Scope            string    `json:"scope"`
	RoleDefinitionID string    `json:"role_definition_id"`
	Role             string    `json:"role"`
	Start            time.Time `json:"start"`
	End              time.Time `json:"end"`
	RequestName      string    `json:"request_name"`
}

// Active lists the activations in force on the fake clock.
func (s *Server) Active() []ActiveAssignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	s.expireLocked(now)
	var out []ActiveAssignment
	for _, a := range s.active {
		if a.start.After(now) {
			continue
		}
		out = append(out, ActiveAssignment{PrincipalID: a.principalID, Scope: a.scope, RoleDefinitionID: a.roleDefID,
			Role: a.elig.Role, Start: a.start, End: a.end, RequestName: a.requestName})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// IsActive reports whether the principal's role (by definition id or GUID)
// is active at scope on the fake clock.
func (s *Server) IsActive(principalID, scope, roleDefinitionID string) bool {
	want := roleGUID(roleDefinitionID)
	for _, a := range s.Active() {
		if strings.EqualFold(a.PrincipalID, principalID) && strings.EqualFold(a.Scope, scope) && roleGUID(a.RoleDefinitionID) == want {
			return true
		}
	}
	return false
}

// RequestInfo describes a request, for tests and `GET /_fake/requests`.
type RequestInfo struct {
	Name          string `json:"name"`
	Scope         string `json:"scope"`
	RequestType   string `json:"request_type"`
	Status        string `json:"status"`
	PrincipalID   string `json:"principal_id"`
	Role          string `json:"role"`
	Justification string `json:"justification,omitempty"`
	ApprovalID    string `json:"approval_id,omitempty"`
}

// Requests lists the requests the fake holds, by name.
func (s *Server) Requests() []RequestInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RequestInfo
	for _, rq := range s.requests {
		ri := RequestInfo{Name: rq.name, Scope: rq.scope, RequestType: rq.props.RequestType, Status: rq.props.Status,
			PrincipalID: rq.props.PrincipalID, Justification: rq.props.Justification, ApprovalID: rq.props.ApprovalID}
		if rq.elig != nil {
			ri.Role = rq.elig.Role
		}
		out = append(out, ri)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Approve decides a pending request (by name) for the approver: it becomes
// Provisioned and its activation starts now on the fake clock.
func (s *Server) Approve(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rq := s.requests[strings.ToLower(name)]
	if rq == nil {
		return fmt.Errorf("no request named %s", name)
	}
	if rq.props.Status != "PendingApproval" {
		return fmt.Errorf("request %s is %s, not PendingApproval", name, rq.props.Status)
	}
	s.activate(rq, s.nowLocked())
	rq.props.Status = "Provisioned"
	return nil
}

// Deny refuses a pending request (by name).
func (s *Server) Deny(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rq := s.requests[strings.ToLower(name)]
	if rq == nil {
		return fmt.Errorf("no request named %s", name)
	}
	if rq.props.Status != "PendingApproval" {
		return fmt.Errorf("request %s is %s, not PendingApproval", name, rq.props.Status)
	}
	rq.props.Status = "Denied"
	return nil
}
