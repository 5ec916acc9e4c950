package fakecloud

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// stsResponse is a success body; the request id is filled in last.
type stsResponse interface {
	withRequestID(id string) any
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type xmlErrorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type xmlAssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type callerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type getCallerIdentityResponse struct {
	XMLName  xml.Name             `xml:"GetCallerIdentityResponse"`
	Xmlns    string               `xml:"xmlns,attr"`
	Result   callerIdentityResult `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata     `xml:"ResponseMetadata"`
}

func (r *getCallerIdentityResponse) withRequestID(id string) any {
	r.Xmlns, r.Metadata.RequestID = stsNamespace, id
	return r
}

type assumeRoleResult struct {
	SourceIdentity   string             `xml:"SourceIdentity,omitempty"`
	AssumedRoleUser  xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	Credentials      xmlCredentials     `xml:"Credentials"`
	PackedPolicySize int                `xml:"PackedPolicySize,omitempty"`
}

type assumeRoleResponse struct {
	XMLName  xml.Name         `xml:"AssumeRoleResponse"`
	Xmlns    string           `xml:"xmlns,attr"`
	Result   assumeRoleResult `xml:"AssumeRoleResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

func (r *assumeRoleResponse) withRequestID(id string) any {
	r.Xmlns, r.Metadata.RequestID = stsNamespace, id
	return r
}

type getSessionTokenResponse struct {
	XMLName xml.Name `xml:"GetSessionTokenResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		Credentials xmlCredentials `xml:"Credentials"`
	} `xml:"GetSessionTokenResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

func (r *getSessionTokenResponse) withRequestID(id string) any {
	r.Xmlns, r.Metadata.RequestID = stsNamespace, id
	return r
}

type webIdentityResponse struct {
	XMLName xml.Name `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SubjectFromWebIdentityToken string             `xml:"SubjectFromWebIdentityToken"`
		Audience                    string             `xml:"Audience"`
		AssumedRoleUser             xmlAssumedRoleUser `xml:"AssumedRoleUser"`
		Credentials                 xmlCredentials     `xml:"Credentials"`
		Provider                    string             `xml:"Provider"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

func (r *webIdentityResponse) withRequestID(id string) any {
	r.Xmlns, r.Metadata.RequestID = stsNamespace, id
	return r
}

// AWS's parameter patterns, compiled on first use.
var stsPatterns = sync.OnceValue(func() map[string]*regexp.Regexp {
	return map[string]*regexp.Regexp{
		"roleSessionName": regexp.MustCompile(`^[\w+=,.@-]*$`),
		"sourceIdentity":  regexp.MustCompile(`^[\w+=,.@-]*$`),
		"externalId":      regexp.MustCompile(`^[\w+=,.@:/-]*$`),
		"tag":             regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`),
	}
})

func validationError(format string, args ...any) *apiError {
	return &apiError{status: 400, code: "ValidationError", message: fmt.Sprintf(format, args...)}
}

// constraint answers AWS's "1 validation error detected" wording.
func constraint(value, member, rule string) *apiError {
	return validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, rule)
}

func requireString(p url.Values, key, member string, min, max int) (string, *apiError) {
	if _, ok := p[key]; !ok {
		return "", validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	return checkLength(p.Get(key), member, min, max)
}

func checkLength(v, member string, min, max int) (string, *apiError) {
	n := utf8.RuneCountInString(v)
	if n < min {
		return "", constraint(v, member, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	}
	if n > max {
		return "", constraint(v, member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
	return v, nil
}

func checkPattern(v, member, pattern string) *apiError {
	if !stsPatterns()[member].MatchString(v) {
		return constraint(v, member, "Member must satisfy regular expression pattern: "+pattern)
	}
	return nil
}

// durationParam reads DurationSeconds: def when absent, else within
// [min, max].
func durationParam(p url.Values, def, min, max int) (int, *apiError) {
	raw, ok := p["DurationSeconds"]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(raw[0])
	if err != nil {
		return 0, constraint(raw[0], "durationSeconds", "Member must be a number")
	}
	if n < min {
		return 0, constraint(raw[0], "durationSeconds", fmt.Sprintf("Member must have value greater than or equal to %d", min))
	}
	if n > max {
		return 0, constraint(raw[0], "durationSeconds", fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
	return n, nil
}

// memberList reads Prefix.member.N[suffix] for N = 1, 2, … until a gap.
func memberList(p url.Values, prefix, suffix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := p[prefix+".member."+strconv.Itoa(i)+suffix]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// sessionPolicyParams checks Policy and PolicyArns, common to AssumeRole and
// AssumeRoleWithWebIdentity.
func sessionPolicyParams(p url.Values) (policy string, arns []string, aerr *apiError) {
	if _, ok := p["Policy"]; ok {
		policy = p.Get("Policy")
		if n := utf8.RuneCountInString(policy); n < 1 || n > 2048 {
			return "", nil, validationError("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048")
		}
		for _, r := range policy {
			if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xFF) {
				return "", nil, validationError("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")
			}
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(policy), &doc); err != nil {
			return "", nil, &apiError{status: 400, code: "MalformedPolicyDocument", message: "Syntax errors in policy."}
		}
		if _, ok := doc["Statement"]; !ok {
			return "", nil, &apiError{status: 400, code: "MalformedPolicyDocument", message: "Policy document must contain a Statement."}
		}
	}
	arns = memberList(p, "PolicyArns", ".arn")
	if len(arns) > 10 {
		return "", nil, validationError("1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, a := range arns {
		pa, ok := parseARN(a)
		if !ok || pa.service != "iam" || !strings.HasPrefix(pa.resource, "policy/") {
			return "", nil, validationError("%s is not a valid policy ARN", a)
		}
	}
	return policy, arns, nil
}

func (s *STS) issue(now time.Time, seconds int, p *stsPrincipal) xmlCredentials {
	p.accessKeyID = "ASIA" + randomID(16)
	p.secret = randomSecret(30)
	p.token = "FQoGZXIvYXdzE" + randomSecret(180)
	p.expires = now.Add(time.Duration(seconds) * time.Second).Truncate(time.Second)
	s.keys[p.accessKeyID] = p
	return xmlCredentials{AccessKeyID: p.accessKeyID, SecretAccessKey: p.secret, SessionToken: p.token, Expiration: p.expires.UTC().Format(time.RFC3339)}
}

func notAuthorized(who, action, resource string) *apiError {
	return &apiError{status: 403, code: "AccessDenied", message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", who, action, resource)}
}

// trusts reports whether the role's trust policy names the caller.
func (r *stsRole) trusts(caller *stsPrincipal) bool {
	if len(r.TrustedPrincipals) == 0 {
		return true
	}
	names := []string{caller.arn.String()}
	if caller.kind == kindAssumedRole {
		// A trust policy names the role, not the session.
		roleName, _, _ := strings.Cut(strings.TrimPrefix(caller.arn.resource, "assumed-role/"), "/")
		names = append(names, arn{partition: caller.arn.partition, service: "iam", account: caller.arn.account, resource: "role/" + roleName}.String())
		if caller.roleARN != "" {
			names = append(names, caller.roleARN)
		}
	}
	root := arn{partition: caller.arn.partition, service: "iam", account: caller.arn.account, resource: "root"}.String()
	for _, pat := range r.TrustedPrincipals {
		if pat == root {
			return true
		}
		for _, n := range names {
			if globMatch(pat, n) {
				return true
			}
		}
	}
	return false
}

func (s *STS) assumeRole(caller *stsPrincipal, p url.Values, now time.Time) (stsResponse, *apiError) {
	roleARN, aerr := requireString(p, "RoleArn", "roleArn", 20, 2048)
	if aerr != nil {
		return nil, aerr
	}
	session, aerr := requireString(p, "RoleSessionName", "roleSessionName", 2, 64)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkPattern(session, "roleSessionName", `[\w+=,.@-]*`); aerr != nil {
		return nil, aerr
	}
	seconds, aerr := durationParam(p, 3600, 900, 43200)
	if aerr != nil {
		return nil, aerr
	}
	sourceIdentity := ""
	if _, ok := p["SourceIdentity"]; ok {
		if sourceIdentity, aerr = checkLength(p.Get("SourceIdentity"), "sourceIdentity", 2, 64); aerr != nil {
			return nil, aerr
		}
		if aerr := checkPattern(sourceIdentity, "sourceIdentity", `[\w+=,.@-]*`); aerr != nil {
			return nil, aerr
		}
		if strings.HasPrefix(strings.ToLower(sourceIdentity), "aws:") {
			return nil, validationError("SourceIdentity must not start with 'aws:'")
		}
	}
	externalID := ""
	if _, ok := p["ExternalId"]; ok {
		if externalID, aerr = checkLength(p.Get("ExternalId"), "externalId", 2, 1224); aerr != nil {
			return nil, aerr
		}
		if aerr := checkPattern(externalID, "externalId", `[\w+=,.@:\/-]*`); aerr != nil {
			return nil, aerr
		}
	}
	tags, aerr := tagParams(p)
	if aerr != nil {
		return nil, aerr
	}
	policy, policyARNs, aerr := sessionPolicyParams(p)
	if aerr != nil {
		return nil, aerr
	}

	role, ok := s.roles[roleARN]
	who := caller.arn.String()
	// AWS answers a missing role exactly like an untrusted one, so that
	// role names cannot be probed.
	if !ok || !role.trusts(caller) || (role.ExternalID != "" && role.ExternalID != externalID) {
		return nil, notAuthorized(who, "sts:AssumeRole", roleARN)
	}
	if len(tags) > 0 && !role.AllowTagSession {
		return nil, notAuthorized(who, "sts:TagSession", roleARN)
	}
	if sourceIdentity != "" && !role.AllowSetSourceIdentity {
		return nil, notAuthorized(who, "sts:SetSourceIdentity", roleARN)
	}
	// A source identity is immutable once set; chained sessions keep it.
	if caller.sourceIdentity != "" {
		if sourceIdentity != "" && sourceIdentity != caller.sourceIdentity {
			return nil, &apiError{status: 403, code: "AccessDenied", message: fmt.Sprintf("User: %s is not authorized to change the source identity %q of its session", who, caller.sourceIdentity)}
		}
		sourceIdentity = caller.sourceIdentity
	}
	chained := caller.kind == kindAssumedRole || caller.sessionCreds
	if chained && seconds > 3600 {
		return nil, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if time.Duration(seconds)*time.Second > role.MaxSessionDuration {
		return nil, validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	roleName := roleNameOf(role.arn.resource)
	issued := &stsPrincipal{
		arn:      arn{partition: role.arn.partition, service: "sts", account: role.arn.account, resource: "assumed-role/" + roleName + "/" + session},
		kind:     kindAssumedRole,
		userID:   role.id + ":" + session,
		issuedBy: "AssumeRole", roleARN: roleARN, sessionName: session, sourceIdentity: sourceIdentity,
		tags: tags, sessionPolicy: policy, policyARNs: policyARNs,
	}
	resp := &assumeRoleResponse{}
	resp.Result.Credentials = s.issue(now, seconds, issued)
	resp.Result.AssumedRoleUser = xmlAssumedRoleUser{AssumedRoleID: issued.userID, Arn: issued.arn.String()}
	resp.Result.SourceIdentity = sourceIdentity
	if len(tags) > 0 || policy != "" || len(policyARNs) > 0 {
		resp.Result.PackedPolicySize = min(100, 1+len(policy)/30+len(tags)*2+len(policyARNs)*3)
	}
	return resp, nil
}

func tagParams(p url.Values) ([]stsTag, *apiError) {
	var tags []stsTag
	seen := map[string]bool{}
	for i := 1; ; i++ {
		prefix := "Tags.member." + strconv.Itoa(i)
		key, ok := p[prefix+".Key"]
		if !ok {
			break
		}
		t := stsTag{Key: key[0], Value: p.Get(prefix + ".Value")}
		if _, aerr := checkLength(t.Key, "tags.member."+strconv.Itoa(i)+".member.key", 1, 128); aerr != nil {
			return nil, aerr
		}
		if _, aerr := checkLength(t.Value, "tags.member."+strconv.Itoa(i)+".member.value", 0, 256); aerr != nil {
			return nil, aerr
		}
		if !stsPatterns()["tag"].MatchString(t.Key) || !stsPatterns()["tag"].MatchString(t.Value) {
			return nil, constraint(t.Key, "tags.member."+strconv.Itoa(i), `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
		}
		if seen[strings.ToLower(t.Key)] {
			return nil, validationError("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[strings.ToLower(t.Key)] = true
		tags = append(tags, t)
	}
	if len(tags) > 50 {
		return nil, validationError("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	return tags, nil
}

func (s *STS) getSessionToken(caller *stsPrincipal, p url.Values, now time.Time) (stsResponse, *apiError) {
	if caller.kind == kindAssumedRole || caller.sessionCreds {
		return nil, &apiError{status: 403, code: "AccessDenied", message: "Cannot call GetSessionToken with session credentials"}
	}
	maxSecs := 129600
	if caller.kind == kindRoot {
		maxSecs = 3600
	}
	seconds, aerr := durationParam(p, min(43200, maxSecs), 900, maxSecs)
	if aerr != nil {
		return nil, aerr
	}
	issued := &stsPrincipal{arn: caller.arn, kind: caller.kind, userID: caller.userID, sessionCreds: true, issuedBy: "GetSessionToken"}
	resp := &getSessionTokenResponse{}
	resp.Result.Credentials = s.issue(now, seconds, issued)
	return resp, nil
}

// webIdentityClaims are the JWT claims the fake reads. It does not verify
// the token's signature: it stands in for STS, not for the OIDC issuer.
type webIdentityClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp float64         `json:"exp"`
}

func (s *STS) assumeRoleWithWebIdentity(p url.Values, now time.Time) (stsResponse, *apiError) {
	roleARN, aerr := requireString(p, "RoleArn", "roleArn", 20, 2048)
	if aerr != nil {
		return nil, aerr
	}
	session, aerr := requireString(p, "RoleSessionName", "roleSessionName", 2, 64)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkPattern(session, "roleSessionName", `[\w+=,.@-]*`); aerr != nil {
		return nil, aerr
	}
	token, aerr := requireString(p, "WebIdentityToken", "webIdentityToken", 4, 20000)
	if aerr != nil {
		// Never echo the token back.
		return nil, validationError("1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000")
	}
	seconds, aerr := durationParam(p, 3600, 900, 43200)
	if aerr != nil {
		return nil, aerr
	}
	policy, policyARNs, aerr := sessionPolicyParams(p)
	if aerr != nil {
		return nil, aerr
	}
	claims, ok := parseJWTClaims(token)
	if !ok || claims.Iss == "" || claims.Sub == "" {
		return nil, &apiError{status: 400, code: "InvalidIdentityToken", message: "Couldn't parse the token or it lacks the iss and sub claims"}
	}
	if exp := time.Unix(int64(claims.Exp), 0); claims.Exp == 0 || !now.Before(exp) {
		return nil, &apiError{status: 400, code: "ExpiredTokenException", message: fmt.Sprintf("Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), int64(claims.Exp))}
	}
	provider := strings.TrimPrefix(claims.Iss, "https://")
	role, ok := s.roles[roleARN]
	if ok && len(role.TrustedPrincipals) > 0 {
		want := arn{partition: role.arn.partition, service: "iam", account: role.arn.account, resource: "oidc-provider/" + provider}.String()
		ok = false
		for _, pat := range role.TrustedPrincipals {
			if globMatch(pat, want) {
				ok = true
			}
		}
	}
	if !ok {
		return nil, &apiError{status: 403, code: "AccessDenied", message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	}
	if time.Duration(seconds)*time.Second > role.MaxSessionDuration {
		return nil, validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	roleName := roleNameOf(role.arn.resource)
	issued := &stsPrincipal{
		arn:      arn{partition: role.arn.partition, service: "sts", account: role.arn.account, resource: "assumed-role/" + roleName + "/" + session},
		kind:     kindAssumedRole,
		userID:   role.id + ":" + session,
		issuedBy: "AssumeRoleWithWebIdentity", roleARN: roleARN, sessionName: session,
		sessionPolicy: policy, policyARNs: policyARNs,
	}
	resp := &webIdentityResponse{}
	resp.Result.Credentials = s.issue(now, seconds, issued)
	resp.Result.AssumedRoleUser = xmlAssumedRoleUser{AssumedRoleID: issued.userID, Arn: issued.arn.String()}
	resp.Result.SubjectFromWebIdentityToken = claims.Sub
	resp.Result.Provider = provider
	resp.Result.Audience = firstAudience(claims.Aud)
	return resp, nil
}

func parseJWTClaims(token string) (webIdentityClaims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return webIdentityClaims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return webIdentityClaims{}, false
	}
	var c webIdentityClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return webIdentityClaims{}, false
	}
	return c, true
}

func firstAudience(raw json.RawMessage) string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return many[0]
	}
	return ""
}
