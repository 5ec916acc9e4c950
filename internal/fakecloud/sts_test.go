package fakecloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

const (
	acct        = "111111111111"
	aliceKey    = "AKIAALICE00000000001"
	aliceSecret = "alice-secret-0123456789abcdefghijklmnop"
	aliceARN    = "arn:aws:iam::111111111111:user/alice"
	bobKey      = "ASIABOB0000000000001"
	bobSecret   = "bob-secret-0123456789abcdefghijklmnopqrs"
	bobToken    = "bob-session-token-value"
	bobARN      = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_abc/bob@example.com"
	malloryKey  = "AKIAMALLORY000000001"
	adminRole   = "arn:aws:iam::111111111111:role/prod-admin"
	pathRole    = "arn:aws:iam::111111111111:role/team/ops/deployer"
	taggedRole  = "arn:aws:iam::111111111111:role/tagged"
	longRole    = "arn:aws:iam::111111111111:role/long"
	oidcRole    = "arn:aws:iam::111111111111:role/ci"
)

// fakeClock is a settable clock safe for the server goroutine.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testConfig(clock *fakeClock) STSConfig {
	return STSConfig{
		Identities: []STSIdentity{
			{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret, ARN: aliceARN},
			{AccessKeyID: bobKey, SecretAccessKey: bobSecret, SessionToken: bobToken, ARN: bobARN},
			{AccessKeyID: malloryKey, SecretAccessKey: "mallory-secret", ARN: "arn:aws:iam::222222222222:user/mallory"},
		},
		Roles: []STSRole{
			{ARN: adminRole, MaxSessionDuration: 4 * time.Hour, TrustedPrincipals: []string{aliceARN, "arn:aws:iam::111111111111:role/AWSReservedSSO_*"}},
			{ARN: pathRole},
			{ARN: taggedRole, AllowTagSession: true, AllowSetSourceIdentity: true, MaxSessionDuration: 2 * time.Hour, ExternalID: "ext-123"},
			{ARN: longRole, MaxSessionDuration: 12 * time.Hour},
			{ARN: oidcRole, TrustedPrincipals: []string{"arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"}},
		},
		Now: clock.Now,
	}
}

func startSTS(t *testing.T) (*STS, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	s, err := NewSTS(testConfig(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

func client(s *STS, key, secret, token string, attempts int) *sts.Client {
	return sts.New(sts.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, token),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = time.Millisecond
		}),
	})
}

func anonClient(s *STS) *sts.Client {
	return sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.URL()), Credentials: aws.AnonymousCredentials{},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var he interface{ HTTPStatusCode() int }
	if errors.As(err, &he) {
		return he.HTTPStatusCode()
	}
	return 0
}

func wantAPIError(t *testing.T, err error, code string, status int, msgPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := apiCode(err); got != code {
		t.Fatalf("want code %s, got %q (%v)", code, got, err)
	}
	if got := httpStatus(err); got != status {
		t.Fatalf("want HTTP %d, got %d (%v)", status, got, err)
	}
	if !strings.Contains(err.Error(), msgPart) {
		t.Fatalf("want message containing %q, got %v", msgPart, err)
	}
}

func TestGetCallerIdentity(t *testing.T) {
	s, _ := startSTS(t)
	ctx := context.Background()
	tests := []struct {
		name, key, secret, token, arn, userIDPrefix string
	}{
		{"iam user", aliceKey, aliceSecret, "", aliceARN, "AIDA"},
		{"assumed-role base", bobKey, bobSecret, bobToken, bobARN, "AROA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client(s, tt.key, tt.secret, tt.token, 1).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.Arn) != tt.arn || aws.ToString(out.Account) != acct || !strings.HasPrefix(aws.ToString(out.UserId), tt.userIDPrefix) {
				t.Fatalf("got arn=%s account=%s userid=%s", aws.ToString(out.Arn), aws.ToString(out.Account), aws.ToString(out.UserId))
			}
		})
	}
	calls := s.CallsFor("GetCallerIdentity")
	if len(calls) != 2 || calls[0].AccessKeyID != aliceKey || calls[1].AccessKeyID != bobKey || calls[0].Status != 200 {
		t.Fatalf("call log: %+v", calls)
	}
}

func TestRequestIDHeader(t *testing.T) {
	s, _ := startSTS(t)
	resp, err := http.Post(s.URL(), "application/x-www-form-urlencoded", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	id := resp.Header.Get("x-amzn-RequestId")
	if resp.StatusCode != 403 || id == "" {
		t.Fatalf("status %d, request id %q", resp.StatusCode, id)
	}
	for _, part := range []string{`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`, "<Type>Sender</Type>", "<Code>MissingAuthenticationToken</Code>", "<RequestId>" + id + "</RequestId>"} {
		if !bytes.Contains(body, []byte(part)) {
			t.Errorf("body lacks %s:\n%s", part, body)
		}
	}
}

func TestAuthenticationFailures(t *testing.T) {
	s, _ := startSTS(t)
	ctx := context.Background()
	tests := []struct {
		name                     string
		key, secret, token, code string
		status                   int
		msg                      string
	}{
		{"wrong secret", aliceKey, "not-the-secret", "", "SignatureDoesNotMatch", 403, "does not match"},
		{"unknown key", "AKIAUNKNOWN000000000", "x", "", "InvalidClientTokenId", 403, "is invalid"},
		{"temporary key without token", bobKey, bobSecret, "", "InvalidClientTokenId", 403, "is invalid"},
		{"temporary key with another token", bobKey, bobSecret, "other-token", "InvalidClientTokenId", 403, "is invalid"},
		{"long-term key with a token", aliceKey, aliceSecret, "tok", "InvalidClientTokenId", 403, "is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(s, tt.key, tt.secret, tt.token, 1).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			wantAPIError(t, err, tt.code, tt.status, tt.msg)
		})
	}
}

// signedRequest builds a request signed by the SDK's own signer, so the
// fake's verifier is checked against the reference implementation.
func signedRequest(t *testing.T, s *STS, body, key, secret, token string, at time.Time, mutate func(*http.Request)) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/?extra=a%20b&z=1&a=2", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Custom", "  spaced   value ")
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: token},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	return req
}

func doRaw(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignatureVerification(t *testing.T) {
	s, _ := startSTS(t)
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	now := time.Now()
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		want   string
	}{
		{"reference signer, query string and spaced header", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now, nil)
		}, 200, "<Arn>" + aliceARN + "</Arn>"},
		{"body changed after signing", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now, func(r *http.Request) {
				b := body + "&x=1"
				r.Body = io.NopCloser(strings.NewReader(b))
				r.ContentLength = int64(len(b))
			})
		}, 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"signed header changed", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now, func(r *http.Request) { r.Header.Set("X-Custom", "other") })
		}, 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"query changed", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now, func(r *http.Request) { r.URL.RawQuery = "extra=a%20b&z=2&a=2" })
		}, 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"signed 20 minutes ago", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now.Add(-20*time.Minute), nil)
		}, 403, "Signature expired"},
		{"signed 20 minutes ahead", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now.Add(20*time.Minute), nil)
		}, 403, "Signature not yet current"},
		{"scope for another service", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now, func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/sts/", "/iam/", 1))
			})
		}, 403, "scoped to correct service"},
		{"not sigv4", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now, func(r *http.Request) { r.Header.Set("Authorization", "AWS AKIA:abc") })
		}, 400, "<Code>IncompleteSignature</Code>"},
		{"date header unsigned", func() *http.Request {
			return signedRequest(t, s, body, aliceKey, aliceSecret, "", now, func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-date", "", 1))
			})
		}, 403, "X-Amz-Date"},
		{"assumed-role base with its token", func() *http.Request {
			return signedRequest(t, s, body, bobKey, bobSecret, bobToken, now, nil)
		}, 200, "<Arn>" + bobARN + "</Arn>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, got := doRaw(t, tt.req())
			if status != tt.status || !strings.Contains(got, tt.want) {
				t.Fatalf("got %d %s; want %d containing %q", status, got, tt.status, tt.want)
			}
		})
	}
}

func assumeRole(ctx context.Context, c *sts.Client, in sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
	return c.AssumeRole(ctx, &in)
}

func TestAssumeRoleSuccess(t *testing.T) {
	s, clock := startSTS(t)
	ctx := context.Background()
	alice := client(s, aliceKey, aliceSecret, "", 1)
	out, err := assumeRole(ctx, alice, sts.AssumeRoleInput{
		RoleArn:         aws.String(taggedRole),
		RoleSessionName: aws.String("jit-req-1"),
		DurationSeconds: aws.Int32(5400),
		SourceIdentity:  aws.String("alice"),
		ExternalId:      aws.String("ext-123"),
		Tags:            []ststypes.Tag{{Key: aws.String("jit-request-id"), Value: aws.String("req-1")}, {Key: aws.String("ticket"), Value: aws.String("CHG-42")}},
		Policy:          aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:List*","Resource":"*"}]}`),
		PolicyArns:      []ststypes.PolicyDescriptorType{{Arn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if k := aws.ToString(c.AccessKeyId); len(k) != 20 || !strings.HasPrefix(k, "ASIA") {
		t.Errorf("access key id %q", k)
	}
	if aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" {
		t.Error("empty secret or token")
	}
	if want := clock.Now().Add(5400 * time.Second); !c.Expiration.Equal(want) {
		t.Errorf("expiration %v, want %v", c.Expiration, want)
	}
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != "arn:aws:sts::111111111111:assumed-role/tagged/jit-req-1" {
		t.Errorf("assumed role arn %s", got)
	}
	if id := aws.ToString(out.AssumedRoleUser.AssumedRoleId); !strings.HasPrefix(id, "AROA") || !strings.HasSuffix(id, ":jit-req-1") || len(id) != 21+len(":jit-req-1") {
		t.Errorf("assumed role id %s", id)
	}
	if aws.ToString(out.SourceIdentity) != "alice" {
		t.Errorf("source identity %q", aws.ToString(out.SourceIdentity))
	}

	// The wire parameters, as the SDK serialised them.
	calls := s.CallsFor("AssumeRole")
	if len(calls) != 1 {
		t.Fatalf("calls: %+v", calls)
	}
	p := calls[0].Params
	for k, want := range map[string]string{
		"RoleSessionName": "jit-req-1", "DurationSeconds": "5400", "SourceIdentity": "alice", "ExternalId": "ext-123",
		"Tags.member.1.Key": "jit-request-id", "Tags.member.1.Value": "req-1", "Tags.member.2.Key": "ticket", "Tags.member.2.Value": "CHG-42",
		"PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "Version": "2011-06-15",
	} {
		if got := p.Get(k); got != want {
			t.Errorf("param %s = %q, want %q", k, got, want)
		}
	}

	// The issued credentials work, and carry what was asked.
	issued := client(s, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken), 1)
	who, err := issued.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(who.Arn) != aws.ToString(out.AssumedRoleUser.Arn) || aws.ToString(who.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("caller identity %s %s", aws.ToString(who.Arn), aws.ToString(who.UserId))
	}
	info := s.Credential(aws.ToString(c.AccessKeyId))
	if !info.Known || !info.Valid || info.Expired || info.Role != taggedRole || info.SourceIdentity != "alice" ||
		info.Tags["ticket"] != "CHG-42" || info.Tags["jit-request-id"] != "req-1" || info.IssuedBy != "AssumeRole" ||
		len(info.PolicyARNs) != 1 || !strings.Contains(info.SessionPolicy, "s3:List*") {
		t.Errorf("credential info %+v", info)
	}

	// They expire on the fake clock.
	clock.Add(5400*time.Second - time.Second)
	if _, err := issued.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	clock.Add(time.Second)
	_, err = issued.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", 400, "expired")
	if info := s.Credential(aws.ToString(c.AccessKeyId)); info.Valid || !info.Expired {
		t.Errorf("after expiry: %+v", info)
	}
}

func TestAssumeRoleRules(t *testing.T) {
	ctx := context.Background()
	okPolicy := `{"Version":"2012-10-17","Statement":[]}`
	tests := []struct {
		name   string
		key    string // alice unless set
		in     sts.AssumeRoleInput
		code   string
		status int
		msg    string
	}{
		{name: "role does not exist", in: sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111111111111:role/nope"), RoleSessionName: aws.String("s1")},
			code: "AccessDenied", status: 403, msg: "User: " + aliceARN + " is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/nope"},
		{name: "not trusted", key: malloryKey, in: sts.AssumeRoleInput{RoleArn: aws.String(adminRole), RoleSessionName: aws.String("s1")},
			code: "AccessDenied", status: 403, msg: "is not authorized to perform: sts:AssumeRole on resource: " + adminRole},
		{name: "tags without sts:TagSession", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"),
			Tags: []ststypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}},
			code: "AccessDenied", status: 403, msg: "sts:TagSession on resource: " + pathRole},
		{name: "source identity without sts:SetSourceIdentity", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String("alice")},
			code: "AccessDenied", status: 403, msg: "sts:SetSourceIdentity on resource: " + pathRole},
		{name: "wrong external id", in: sts.AssumeRoleInput{RoleArn: aws.String(taggedRole), RoleSessionName: aws.String("s1"), ExternalId: aws.String("ext-999")},
			code: "AccessDenied", status: 403, msg: "sts:AssumeRole"},
		{name: "duration below 900", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(899)},
			code: "ValidationError", status: 400, msg: "Member must have value greater than or equal to 900"},
		{name: "duration above the role's max", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3601)},
			code: "ValidationError", status: 400, msg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "duration above 12h", in: sts.AssumeRoleInput{RoleArn: aws.String(longRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(43201)},
			code: "ValidationError", status: 400, msg: "less than or equal to 43200"},
		{name: "role chaining above 1h", key: bobKey, in: sts.AssumeRoleInput{RoleArn: aws.String(adminRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3601)},
			code: "ValidationError", status: 400, msg: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."},
		{name: "session name too short", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s")},
			code: "ValidationError", status: 400, msg: "Member must have length greater than or equal to 2"},
		{name: "session name too long", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String(strings.Repeat("s", 65))},
			code: "ValidationError", status: 400, msg: "Member must have length less than or equal to 64"},
		{name: "session name bad characters", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("alice smith")},
			code: "ValidationError", status: 400, msg: "regular expression pattern"},
		{name: "policy too long", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"), Policy: aws.String(`{"Statement":[],"x":"` + strings.Repeat("a", 2048) + `"}`)},
			code: "ValidationError", status: 400, msg: "2048"},
		{name: "policy not JSON", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"), Policy: aws.String(`{"Statement":`)},
			code: "MalformedPolicyDocument", status: 400, msg: "Syntax errors in policy."},
		{name: "eleven policy arns", in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"), PolicyArns: policyARNs(11)},
			code: "ValidationError", status: 400, msg: "policyArns"},
		{name: "duplicate tag keys", in: sts.AssumeRoleInput{RoleArn: aws.String(taggedRole), RoleSessionName: aws.String("s1"), ExternalId: aws.String("ext-123"),
			Tags: []ststypes.Tag{{Key: aws.String("K"), Value: aws.String("1")}, {Key: aws.String("k"), Value: aws.String("2")}}},
			code: "ValidationError", status: 400, msg: "Duplicate tag keys"},
		{name: "source identity with aws: prefix", in: sts.AssumeRoleInput{RoleArn: aws.String(taggedRole), RoleSessionName: aws.String("s1"), ExternalId: aws.String("ext-123"), SourceIdentity: aws.String("aws:x")},
			code: "ValidationError", status: 400, msg: "sourceIdentity"},
		// Successes that exercise trust matching.
		{name: "trusted by glob of the SSO role", key: bobKey, in: sts.AssumeRoleInput{RoleArn: aws.String(adminRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3600)}},
		{name: "empty trust list trusts any identity", key: malloryKey, in: sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1"), Policy: aws.String(okPolicy)}},
		{name: "twelve hours on a long role", in: sts.AssumeRoleInput{RoleArn: aws.String(longRole), RoleSessionName: aws.String("a@b.c=d,e+f-g_h"), DurationSeconds: aws.Int32(43200)}},
	}
	s, _ := startSTS(t)
	clients := map[string]*sts.Client{
		aliceKey:   client(s, aliceKey, aliceSecret, "", 1),
		bobKey:     client(s, bobKey, bobSecret, bobToken, 1),
		malloryKey: client(s, malloryKey, "mallory-secret", "", 1),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == "" {
				key = aliceKey
			}
			out, err := assumeRole(ctx, clients[key], tt.in)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.Credentials == nil {
					t.Fatal("no credentials")
				}
				return
			}
			wantAPIError(t, err, tt.code, tt.status, tt.msg)
		})
	}
}

func policyARNs(n int) []ststypes.PolicyDescriptorType {
	out := make([]ststypes.PolicyDescriptorType, n)
	for i := range out {
		out[i].Arn = aws.String(fmt.Sprintf("arn:aws:iam::111111111111:policy/p%d", i))
	}
	return out
}

func TestRoleChainingFromIssuedAndSessionCredentials(t *testing.T) {
	s, _ := startSTS(t)
	ctx := context.Background()
	alice := client(s, aliceKey, aliceSecret, "", 1)
	first, err := assumeRole(ctx, alice, sts.AssumeRoleInput{RoleArn: aws.String(taggedRole), RoleSessionName: aws.String("first"),
		ExternalId: aws.String("ext-123"), SourceIdentity: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	c := first.Credentials
	chained := client(s, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken), 1)
	_, err = assumeRole(ctx, chained, sts.AssumeRoleInput{RoleArn: aws.String(longRole), RoleSessionName: aws.String("second"), DurationSeconds: aws.Int32(7200)})
	wantAPIError(t, err, "ValidationError", 400, "role chaining")
	second, err := assumeRole(ctx, chained, sts.AssumeRoleInput{RoleArn: aws.String(longRole), RoleSessionName: aws.String("second"), DurationSeconds: aws.Int32(3600)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(second.SourceIdentity); got != "alice" {
		t.Errorf("source identity not kept through chaining: %q", got)
	}

	gst, err := alice.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	gc := gst.Credentials
	sess := client(s, aws.ToString(gc.AccessKeyId), aws.ToString(gc.SecretAccessKey), aws.ToString(gc.SessionToken), 1)
	who, err := sess.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != aliceARN {
		t.Fatalf("GetSessionToken credentials: %v %v", who, err)
	}
	_, err = assumeRole(ctx, sess, sts.AssumeRoleInput{RoleArn: aws.String(longRole), RoleSessionName: aws.String("third"), DurationSeconds: aws.Int32(3601)})
	wantAPIError(t, err, "ValidationError", 400, "role chaining")
	_, err = sess.GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	wantAPIError(t, err, "AccessDenied", 403, "session credentials")
}

func TestFailNextThrottlingIsRetried(t *testing.T) {
	s, _ := startSTS(t)
	s.FailNext("AssumeRole", "Throttling", 400, 2)
	c := client(s, aliceKey, aliceSecret, "", 3)
	_, err := assumeRole(context.Background(), c, sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1")})
	if err != nil {
		t.Fatalf("third attempt should succeed: %v", err)
	}
	calls := s.CallsFor("AssumeRole")
	if len(calls) != 3 || calls[0].ErrorCode != "Throttling" || calls[1].ErrorCode != "Throttling" || calls[2].Status != 200 {
		t.Fatalf("calls: %+v", calls)
	}

	// Faults only hit their action, and a non-retryable one surfaces at once.
	s.FailNext("AssumeRole", "AccessDenied", 0, 1)
	if _, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("fault leaked to another action: %v", err)
	}
	_, err = assumeRole(context.Background(), c, sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", 403, "Access denied")
	if n := len(s.CallsFor("AssumeRole")); n != 4 {
		t.Fatalf("AccessDenied was retried: %d calls", n)
	}
}

func TestServerErrorType(t *testing.T) {
	s, _ := startSTS(t)
	s.FailNext("*", "ServiceUnavailable", 0, 1)
	req := signedRequest(t, s, "Action=GetCallerIdentity&Version=2011-06-15", aliceKey, aliceSecret, "", time.Now(), nil)
	status, body := doRaw(t, req)
	if status != 503 || !strings.Contains(body, "<Type>Receiver</Type>") || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") {
		t.Fatalf("%d %s", status, body)
	}
}

func TestProtocolErrors(t *testing.T) {
	s, _ := startSTS(t)
	tests := []struct{ body, code string }{
		{"Version=2011-06-15", "MissingAction"},
		{"Action=GetCallerIdentity", "MissingParameter"},
		{"Action=GetCallerIdentity&Version=2010-01-01", "InvalidAction"},
		{"Action=DecodeAuthorizationMessage&Version=2011-06-15", "InvalidAction"},
	}
	for _, tt := range tests {
		status, body := doRaw(t, signedRequest(t, s, tt.body, aliceKey, aliceSecret, "", time.Now(), nil))
		if status != 400 || !strings.Contains(body, "<Code>"+tt.code+"</Code>") {
			t.Errorf("%s: %d %s", tt.body, status, body)
		}
	}
}

func jwt(claims map[string]any) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	s, clock := startSTS(t)
	ctx := context.Background()
	c := anonClient(s)
	good := jwt(map[string]any{"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main", "aud": "sts.amazonaws.com", "exp": clock.Now().Add(time.Hour).Unix()})
	out, err := c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(oidcRole), RoleSessionName: aws.String("ci-1"), WebIdentityToken: aws.String(good)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.SubjectFromWebIdentityToken) != "repo:acme/app:ref:refs/heads/main" || aws.ToString(out.Audience) != "sts.amazonaws.com" ||
		aws.ToString(out.Provider) != "token.actions.githubusercontent.com" || aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::111111111111:assumed-role/ci/ci-1" {
		t.Fatalf("output %+v", out)
	}
	calls := s.CallsFor("AssumeRoleWithWebIdentity")
	if len(calls) != 1 || calls[0].Params.Get("WebIdentityToken") != redacted {
		t.Fatalf("token not redacted in the call log: %+v", calls)
	}

	other := jwt(map[string]any{"iss": "https://gitlab.example.com", "sub": "x", "aud": "sts.amazonaws.com", "exp": clock.Now().Add(time.Hour).Unix()})
	_, err = c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(oidcRole), RoleSessionName: aws.String("ci-1"), WebIdentityToken: aws.String(other)})
	wantAPIError(t, err, "AccessDenied", 403, "sts:AssumeRoleWithWebIdentity")

	expired := jwt(map[string]any{"iss": "https://token.actions.githubusercontent.com", "sub": "x", "exp": clock.Now().Add(-time.Minute).Unix()})
	_, err = c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(oidcRole), RoleSessionName: aws.String("ci-1"), WebIdentityToken: aws.String(expired)})
	var ete *ststypes.ExpiredTokenException
	if !errors.As(err, &ete) {
		t.Fatalf("want modeled ExpiredTokenException, got %v", err)
	}
	_, err = c.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(oidcRole), RoleSessionName: aws.String("ci-1"), WebIdentityToken: aws.String("not-a-jwt")})
	var iit *ststypes.InvalidIdentityTokenException
	if !errors.As(err, &iit) {
		t.Fatalf("want InvalidIdentityTokenException, got %v", err)
	}
	for _, call := range s.Calls() {
		for _, v := range call.Params["WebIdentityToken"] {
			if v != redacted {
				t.Fatalf("token leaked into the log: %+v", call)
			}
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	s, _ := startSTS(t)
	ctx := context.Background()
	c := client(s, aliceKey, aliceSecret, "", 1)
	out, err := assumeRole(ctx, c, sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String("s1")})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, []byte) {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := get("/_fake/calls?action=AssumeRole")
	var calls []Call
	if err := json.Unmarshal(body, &calls); err != nil || status != 200 || len(calls) != 1 || calls[0].Params.Get("RoleArn") != pathRole {
		t.Fatalf("calls: %d %s %v", status, body, err)
	}
	if status, body = get("/_fake/calls?action=GetSessionToken"); strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("empty filter should be [], got %d %s", status, body)
	}

	akid := aws.ToString(out.Credentials.AccessKeyId)
	status, body = get("/_fake/credentials?access_key_id=" + url.QueryEscape(akid))
	var info CredentialInfo
	if err := json.Unmarshal(body, &info); err != nil || status != 200 || !info.Valid || info.Role != pathRole {
		t.Fatalf("credentials: %d %s", status, body)
	}
	if bytes.Contains(body, []byte(aws.ToString(out.Credentials.SecretAccessKey))) || bytes.Contains(body, []byte(aws.ToString(out.Credentials.SessionToken))) {
		t.Fatal("admin endpoint leaks secrets")
	}
	if status, _ = get("/_fake/credentials?access_key_id=ASIANOPE"); status != 404 {
		t.Fatalf("unknown key: %d", status)
	}

	resp, err := http.PostForm(s.URL()+"/_fake/advance", url.Values{"by": {"2h"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("advance: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, body = get("/_fake/credentials?access_key_id=" + akid); !bytes.Contains(body, []byte(`"expired":true`)) {
		t.Fatalf("advance did not expire: %s", body)
	}

	resp, err = http.PostForm(s.URL()+"/_fake/fail", url.Values{"action": {"GetCallerIdentity"}, "code": {"Throttling"}, "count": {"1"}})
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("fail: %v %v", resp, err)
	}
	resp.Body.Close()
	_, err = client(s, aliceKey, aliceSecret, "", 1).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "Throttling", 400, "Rate exceeded")

	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/_fake/calls", nil)
	if status, _ := doRaw(t, req); status != 204 || len(s.Calls()) != 0 {
		t.Fatalf("reset: %d %d", status, len(s.Calls()))
	}
}

func TestParseSTSConfig(t *testing.T) {
	good := `
addr: 127.0.0.1:0
identities:
  - {access_key_id: AKIAX, secret_access_key: s, arn: "arn:aws:iam::111111111111:user/alice"}
  - {access_key_id: ASIAX, secret_access_key: s, session_token: t, arn: "arn:aws:sts::111111111111:assumed-role/r/alice"}
roles:
  - {arn: "arn:aws:iam::111111111111:role/prod-admin", max_session_duration: 4h, trusted_principals: ["arn:aws:iam::111111111111:user/*"], allow_tag_session: true}
`
	c, err := ParseSTSConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Roles[0].MaxSessionDuration != 4*time.Hour || len(c.Identities) != 2 || !c.Roles[0].AllowTagSession {
		t.Fatalf("%+v", c)
	}
	bad := []struct{ name, yaml, want string }{
		{"unknown key", "identities: []\nroles: []\nbogus: 1\n", "bogus"},
		{"not loopback", "addr: 0.0.0.0:80\n", "loopback"},
		{"assumed role without token", "identities: [{access_key_id: A, secret_access_key: s, arn: 'arn:aws:sts::1:assumed-role/r/s'}]\n", "session_token"},
		{"user with token", "identities: [{access_key_id: A, secret_access_key: s, session_token: t, arn: 'arn:aws:iam::1:user/u'}]\n", "session_token"},
		{"duplicate key", "identities: [{access_key_id: A, secret_access_key: s, arn: 'arn:aws:iam::1:user/u'}, {access_key_id: A, secret_access_key: s, arn: 'arn:aws:iam::1:user/v'}]\n", "twice"},
		{"not a role", "roles: [{arn: 'arn:aws:iam::1:user/u'}]\n", "not an IAM role"},
		{"session too long", "roles: [{arn: 'arn:aws:iam::1:role/r', max_session_duration: 13h}]\n", "1h–12h"},
		{"no secret", "identities: [{access_key_id: A, arn: 'arn:aws:iam::1:user/u'}]\n", "secret_access_key"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSTSConfig([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
	if _, err := NewSTS(STSConfig{Addr: "192.0.2.1:0"}); err == nil {
		t.Fatal("NewSTS accepted a non-loopback address")
	}
}

func TestConcurrentRequests(t *testing.T) {
	s, _ := startSTS(t)
	c := client(s, aliceKey, aliceSecret, "", 1)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := assumeRole(context.Background(), c, sts.AssumeRoleInput{RoleArn: aws.String(pathRole), RoleSessionName: aws.String(fmt.Sprintf("s%d", i))})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.CallsFor("AssumeRole")); n != 20 {
		t.Fatalf("%d calls logged", n)
	}
}
