package aws

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/jitaccess/jit/internal/fakecloud"
	"github.com/jitaccess/jit/providers"
)

const (
	acct        = "111111111111"
	aliceKey    = "AKIAALICE00000000001"
	aliceSecret = "alice-secret-0123456789abcdefghijklmnop"
	aliceARN    = "arn:aws:iam::111111111111:user/alice"
	bobKey      = "ASIABOB0000000000001"
	bobSecret   = "bob-secret-0123456789abcdefghijklmnopqrs"
	bobToken    = "bob-session-token-value-0123456789"
	bobARN      = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_abc/bob@example.com"
	staleKey    = "ASIASTALE00000000001"
	staleSecret = "stale-secret-0123456789abcdefghijklmnop"
	staleToken  = "stale-token"
	prodRole    = "arn:aws:iam::111111111111:role/prod-admin"
	plainRole   = "arn:aws:iam::111111111111:role/plain"
	closedRole  = "arn:aws:iam::111111111111:role/closed"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// isolate keeps the SDK away from the developer's AWS setup and from any
// network: empty config files, no IMDS, no inherited AWS_* variables.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func startFake(t *testing.T) (*fakecloud.STS, *clock) {
	t.Helper()
	isolate(t)
	c := &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	s, err := fakecloud.NewSTS(fakecloud.STSConfig{
		Identities: []fakecloud.STSIdentity{
			{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret, ARN: aliceARN},
			{AccessKeyID: bobKey, SecretAccessKey: bobSecret, SessionToken: bobToken, ARN: bobARN},
			{AccessKeyID: staleKey, SecretAccessKey: staleSecret, SessionToken: staleToken, ARN: "arn:aws:sts::111111111111:assumed-role/r/stale",
				Expires: c.Now().Add(-time.Minute)},
		},
		Roles: []fakecloud.STSRole{
			{ARN: prodRole, MaxSessionDuration: 4 * time.Hour, AllowTagSession: true, AllowSetSourceIdentity: true, ExternalID: "ext-42",
				TrustedPrincipals: []string{aliceARN, "arn:aws:iam::111111111111:role/AWSReservedSSO_*"}},
			{ARN: plainRole, MaxSessionDuration: 2 * time.Hour},
			{ARN: closedRole, TrustedPrincipals: []string{"arn:aws:iam::111111111111:user/nobody"}},
		},
		Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, c
}

// useKeys puts base credentials where the SDK's default chain finds them.
func useKeys(t *testing.T, key, secret, token string) {
	t.Setenv("AWS_ACCESS_KEY_ID", key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	if token != "" {
		t.Setenv("AWS_SESSION_TOKEN", token)
	}
}

func newProvider(t *testing.T, s *fakecloud.STS, c *clock, mod func(*Options)) *Provider {
	t.Helper()
	o := Options{Region: "eu-west-1", Endpoint: s.URL(), RetryMaxAttempts: 1, RetryMaxBackoff: time.Millisecond}
	if c != nil {
		o.Now = c.Now
	}
	if mod != nil {
		mod(&o)
	}
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func prodTarget(mod func(*TargetSpec)) providers.Target {
	spec := &TargetSpec{
		RoleARN: prodRole, Region: "eu-central-1", ExternalID: "ext-42",
		SessionPolicy:  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`,
		PolicyARNs:     []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
		SourceIdentity: true, SessionTags: true,
	}
	if mod != nil {
		mod(spec)
	}
	return providers.Target{Name: "prod", Provider: "aws", Spec: spec}
}

func request(p *Provider, t *testing.T, target providers.Target, d time.Duration) providers.Request {
	t.Helper()
	who, err := p.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return providers.Request{ID: "01JREQ7Z", Target: target, Principal: who, Duration: d, Reason: "CHG-42 deploy", Ticket: "CHG-42"}
}

func envMap(g *providers.Grant) map[string]providers.EnvVar {
	m := map[string]providers.EnvVar{}
	for _, e := range g.Env {
		m[e.Name] = e
	}
	return m
}

func TestWhoAmI(t *testing.T) {
	tests := []struct {
		name, key, secret, token string
		want                     providers.Principal
	}{
		{"iam user", aliceKey, aliceSecret, "", providers.Principal{ID: aliceARN, Source: PrincipalSource, Account: acct,
			Claims: map[string]any{"type": "user", "account": acct, "arn": aliceARN, "temporary": false}}},
		{"sso assumed role", bobKey, bobSecret, bobToken, providers.Principal{ID: bobARN, Source: PrincipalSource, Account: acct,
			Aliases: []string{"bob@example.com", "arn:aws:iam::111111111111:role/AWSReservedSSO_Admin_abc"},
			Claims:  map[string]any{"type": "assumed-role", "account": acct, "arn": bobARN, "temporary": true, "role": "AWSReservedSSO_Admin_abc", "session": "bob@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := startFake(t)
			useKeys(t, tt.key, tt.secret, tt.token)
			p := newProvider(t, s, nil, nil)
			got, err := p.WhoAmI(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.want.ID || got.Source != tt.want.Source || got.Account != tt.want.Account || strings.Join(got.Aliases, ",") != strings.Join(tt.want.Aliases, ",") {
				t.Fatalf("got %+v", got)
			}
			for k, v := range tt.want.Claims {
				if got.Claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, got.Claims[k], v)
				}
			}
			if uid, _ := got.Claims["user_id"].(string); uid == "" {
				t.Error("no user_id claim")
			}
			// Memoised, and the copy handed out cannot corrupt the memo.
			got.Aliases = append(got.Aliases[:0], "tampered")
			again, err := p.WhoAmI(context.Background())
			if err != nil || strings.Join(again.Aliases, ",") != strings.Join(tt.want.Aliases, ",") {
				t.Fatalf("second WhoAmI: %+v %v", again, err)
			}
			if n := len(s.CallsFor("GetCallerIdentity")); n != 1 {
				t.Fatalf("%d GetCallerIdentity calls, want 1", n)
			}
		})
	}
}

func TestMaxDuration(t *testing.T) {
	s, _ := startFake(t)
	ctx := context.Background()
	useKeys(t, aliceKey, aliceSecret, "")
	p := newProvider(t, s, nil, nil)
	target := prodTarget(nil)
	alice, _ := p.WhoAmI(ctx)
	if d, why := p.MaxDuration(ctx, target, alice); d != 12*time.Hour || !strings.Contains(why, "AWS maximum") {
		t.Errorf("user: %s %q", d, why)
	}
	bob := providers.Principal{ID: bobARN, Source: PrincipalSource}
	if d, why := p.MaxDuration(ctx, target, bob); d != time.Hour || why != "role chaining: your base identity "+bobARN+" is an assumed role, and AWS limits chained sessions to 1h" {
		t.Errorf("assumed role: %s %q", d, why)
	}
	gst := providers.Principal{ID: aliceARN, Source: PrincipalSource, Claims: map[string]any{"temporary": true}}
	if d, why := p.MaxDuration(ctx, target, gst); d != time.Hour || !strings.Contains(why, "GetSessionToken") {
		t.Errorf("session credentials: %s %q", d, why)
	}
	// A CI principal: the base identity decides.
	ci := providers.Principal{ID: "repo:acme/app:ref:refs/heads/main", Source: "oidc:github"}
	if d, _ := p.MaxDuration(ctx, target, ci); d != 12*time.Hour {
		t.Errorf("ci principal with user base: %s", d)
	}
}

func TestGrant(t *testing.T) {
	s, c := startFake(t)
	ctx := context.Background()
	useKeys(t, bobKey, bobSecret, bobToken)
	p := newProvider(t, s, c, nil)
	req := request(p, t, prodTarget(nil), 45*time.Minute+200*time.Millisecond)
	g, err := p.Grant(ctx, req)
	if err != nil {
		t.Fatal(err)
	}

	calls := s.CallsFor("AssumeRole")
	if len(calls) != 1 || calls[0].AccessKeyID != bobKey {
		t.Fatalf("calls %+v", calls)
	}
	for k, want := range map[string]string{
		"RoleArn": prodRole, "RoleSessionName": "jit-01JREQ7Z", "DurationSeconds": "2701", "SourceIdentity": "bob@example.com",
		"ExternalId": "ext-42", "Tags.member.1.Key": "jit-request-id", "Tags.member.1.Value": "01JREQ7Z",
		"Tags.member.2.Key": "ticket", "Tags.member.2.Value": "CHG-42", "PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
		"Policy": prodTarget(nil).Spec.(*TargetSpec).SessionPolicy,
	} {
		if got := calls[0].Params.Get(k); got != want {
			t.Errorf("wire %s = %q, want %q", k, got, want)
		}
	}

	env := envMap(g)
	akid := env["AWS_ACCESS_KEY_ID"].Value
	info := s.Credential(akid)
	if !info.Valid || info.Role != prodRole || info.SourceIdentity != "bob@example.com" || info.Tags["ticket"] != "CHG-42" {
		t.Fatalf("fake does not know the delivered credentials as expected: %+v", info)
	}
	wantExp := c.Now().Add(2701 * time.Second)
	if !g.NotAfter.Equal(wantExp) || !g.NotBefore.Equal(c.Now()) || !info.Expiration.Equal(g.NotAfter) {
		t.Errorf("window %s – %s, want until %s", g.NotBefore, g.NotAfter, wantExp)
	}
	if g.RequestID != req.ID || g.Target != "prod" || g.Provider != "aws" || g.Principal != bobARN || g.Revocable || !strings.Contains(g.RevokeNote, "cannot revoke") {
		t.Errorf("grant %+v", g)
	}
	for name, want := range map[string]struct {
		secret bool
		value  string
	}{
		"AWS_ACCESS_KEY_ID": {false, akid}, "AWS_REGION": {false, "eu-central-1"}, "AWS_DEFAULT_REGION": {false, "eu-central-1"},
		"AWS_CREDENTIAL_EXPIRATION": {false, wantExp.Format(time.RFC3339)}, "AWS_SECRET_ACCESS_KEY": {true, ""}, "AWS_SESSION_TOKEN": {true, ""},
	} {
		e, ok := env[name]
		if !ok || e.Secret != want.secret || (want.value != "" && e.Value != want.value) || e.Value == "" {
			t.Errorf("env %s = %+v", name, e)
		}
	}
	if !strings.HasSuffix(env["AWS_CREDENTIAL_EXPIRATION"].Value, "Z") {
		t.Error("expiration not UTC")
	}
	for _, u := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		if !contains(g.Unset, u) {
			t.Errorf("Unset lacks %s", u)
		}
	}
	for k, want := range map[string]string{"access_key_id": akid, "assumed_role_arn": "arn:aws:sts::111111111111:assumed-role/prod-admin/jit-01JREQ7Z",
		"role_session_name": "jit-01JREQ7Z", "source_identity": "bob@example.com"} {
		if g.Refs[k] != want {
			t.Errorf("ref %s = %q, want %q", k, g.Refs[k], want)
		}
	}
	if !strings.HasPrefix(g.Refs["assumed_role_id"], "AROA") || !strings.HasSuffix(g.Refs["assumed_role_id"], ":jit-01JREQ7Z") {
		t.Errorf("assumed_role_id %q", g.Refs["assumed_role_id"])
	}

	// The delivered credentials are real: a child process's SDK can use them.
	child := sts.New(sts.Options{Region: env["AWS_REGION"].Value, BaseEndpoint: awssdk.String(s.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(akid, env["AWS_SECRET_ACCESS_KEY"].Value, env["AWS_SESSION_TOKEN"].Value)})
	out, err := child.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || awssdk.ToString(out.Arn) != g.Refs["assumed_role_arn"] {
		t.Fatalf("child identity: %v %v", out, err)
	}

	// Redacted and Secrets.
	secret, token := env["AWS_SECRET_ACCESS_KEY"].Value, env["AWS_SESSION_TOKEN"].Value
	red, _ := json.Marshal(g.Redacted())
	if strings.Contains(string(red), secret) || strings.Contains(string(red), token) || !strings.Contains(string(red), akid) {
		t.Errorf("redacted grant: %s", red)
	}
	if sec := g.Secrets(); len(sec) != 2 || !contains(sec, secret) || !contains(sec, token) {
		t.Errorf("Secrets() = %d values", len(sec))
	}

	// Expiry is honoured on the fake clock.
	c.Add(2701*time.Second - time.Second)
	if !s.Credential(akid).Valid {
		t.Fatal("expired early")
	}
	c.Add(time.Second)
	if s.Credential(akid).Valid {
		t.Fatal("still valid at NotAfter")
	}
	_, err = child.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err == nil || !strings.Contains(err.Error(), "ExpiredToken") {
		t.Fatalf("expired credentials: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestGrantDurations(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		d        time.Duration
		wantSecs string
		kind     providers.Kind
		hint     string
	}{
		{"below AWS minimum refused before AWS", aliceKey, 5 * time.Minute, "", providers.KindInvalid, "15m or more"},
		{"exactly the AWS minimum", aliceKey, 15 * time.Minute, "900", 0, ""},
		{"fraction rounds up", aliceKey, time.Hour + time.Nanosecond, "3601", 0, ""},
		{"user may exceed 1h", aliceKey, 3 * time.Hour, "10800", 0, ""},
		{"above 12h refused locally", aliceKey, 13 * time.Hour, "", providers.KindInvalid, "12h or less"},
		{"zero refused", aliceKey, 0, "", providers.KindInvalid, ""},
		{"chained exactly 1h", bobKey, time.Hour, "3600", 0, ""},
		{"chained above 1h refused before AWS", bobKey, time.Hour + time.Second, "", providers.KindInvalid, "ask for --for 1h or less"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := startFake(t)
			if tt.key == bobKey {
				useKeys(t, bobKey, bobSecret, bobToken)
			} else {
				useKeys(t, aliceKey, aliceSecret, "")
			}
			p := newProvider(t, s, c, nil)
			g, err := p.Grant(context.Background(), request(p, t, prodTarget(nil), tt.d))
			calls := s.CallsFor("AssumeRole")
			if tt.kind != 0 {
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Kind != tt.kind || !strings.Contains(pe.Hint, tt.hint) {
					t.Fatalf("want %s error with hint %q, got %v (%+v)", tt.kind, tt.hint, err, pe)
				}
				if len(calls) != 0 {
					t.Fatalf("AWS was called: %+v", calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 1 || calls[0].Params.Get("DurationSeconds") != tt.wantSecs {
				t.Fatalf("calls %+v", calls)
			}
			if want := c.Now().Add(mustAtoiSeconds(t, tt.wantSecs)); !g.NotAfter.Equal(want) {
				t.Errorf("NotAfter %s, want %s (the credentials' real expiry)", g.NotAfter, want)
			}
		})
	}
}

func mustAtoiSeconds(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s + "s")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGrantMinimalTarget(t *testing.T) {
	s, c := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	p := newProvider(t, s, c, func(o *Options) { o.Region = "" })
	target := providers.Target{Name: "plain", Provider: "aws", Spec: &TargetSpec{RoleARN: plainRole, SessionTags: true}}
	req := request(p, t, target, 30*time.Minute)
	req.Ticket = ""
	req.ID = "id with spaces/and:colons"
	g, err := p.Grant(context.Background(), req)
	var pe *providers.Error
	// plain does not allow sts:TagSession: the hint must say so.
	if !errors.As(err, &pe) || pe.Kind != providers.KindDenied || !strings.Contains(pe.Hint, "sts:AssumeRole, sts:TagSession for "+aliceARN) {
		t.Fatalf("want denied with TagSession hint, got %v %+v", err, pe)
	}
	target.Spec.(*TargetSpec).SessionTags = false
	g, err = p.Grant(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	params := s.CallsFor("AssumeRole")[1].Params
	for _, k := range []string{"Policy", "PolicyArns.member.1.arn", "ExternalId", "SourceIdentity", "Tags.member.1.Key"} {
		if _, ok := params[k]; ok {
			t.Errorf("unexpected wire parameter %s", k)
		}
	}
	if got := params.Get("RoleSessionName"); got != "jit-id-with-spaces-and-colons" {
		t.Errorf("session name %q", got)
	}
	env := envMap(g)
	if _, ok := env["AWS_REGION"]; ok {
		t.Error("AWS_REGION delivered although no region is known")
	}
	first := s.CallsFor("AssumeRole")[0].Params
	if first.Get("Tags.member.1.Value") != "id with spaces/and:colons" || first.Get("Tags.member.2.Key") != "" {
		t.Errorf("tags %v (an empty ticket must be omitted)", first)
	}
}

func TestGrantErrors(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		setup  func(*fakecloud.STS)
		mod    func(*Options)
		target providers.Target
		d      time.Duration // 3h unless set
		kind   providers.Kind
		code   string
		hint   string
	}{
		{name: "role does not trust the caller", key: aliceKey, target: providers.Target{Name: "c", Spec: &TargetSpec{RoleARN: closedRole}},
			kind: providers.KindDenied, code: "AccessDenied", hint: "the trust policy of " + closedRole + " must allow sts:AssumeRole for " + aliceARN},
		{name: "denied hint names tagging, source identity and the role of an SSO caller", key: bobKey,
			target: providers.Target{Name: "c", Spec: &TargetSpec{RoleARN: closedRole, SessionTags: true, SourceIdentity: true}},
			d:      time.Hour, kind: providers.KindDenied, code: "AccessDenied",
			hint: "must allow sts:AssumeRole, sts:TagSession, sts:SetSourceIdentity for arn:aws:iam::111111111111:role/AWSReservedSSO_Admin_abc"},
		{name: "duration above the role's max", key: aliceKey, target: providers.Target{Name: "p", Spec: &TargetSpec{RoleARN: plainRole}},
			kind: providers.KindInvalid, code: "ValidationError", hint: "raise the role's MaxSessionDuration"},
		{name: "expired base session", key: staleKey, target: prodTarget(nil), kind: providers.KindAuth, code: "ExpiredToken", hint: "refresh the base credentials"},
		{name: "unknown base key", key: "AKIAUNKNOWN000000000", target: prodTarget(nil), kind: providers.KindAuth, code: "InvalidClientTokenId", hint: "AWS_ACCESS_KEY_ID"},
		{name: "wrong base secret", key: "wrong-secret", target: prodTarget(nil), kind: providers.KindAuth, code: "SignatureDoesNotMatch", hint: "aws sso login"},
		{name: "throttled beyond retries", key: aliceKey, target: prodTarget(nil), setup: func(s *fakecloud.STS) { s.FailNext("AssumeRole", "Throttling", 400, 5) },
			mod: func(o *Options) { o.RetryMaxAttempts = 2 }, kind: providers.KindThrottled, code: "Throttling", hint: "rate limiting"},
		{name: "service unavailable", key: aliceKey, target: prodTarget(nil), setup: func(s *fakecloud.STS) { s.FailNext("AssumeRole", "ServiceUnavailable", 503, 5) },
			kind: providers.KindTransient, code: "ServiceUnavailable", hint: "retry"},
		{name: "region disabled", key: aliceKey, target: prodTarget(nil), setup: func(s *fakecloud.STS) { s.FailNext("AssumeRole", "RegionDisabledException", 403, 1) },
			kind: providers.KindDenied, code: "RegionDisabledException", hint: "eu-west-1"},
		{name: "profile in the auth hint", key: aliceKey, target: prodTarget(nil), setup: func(s *fakecloud.STS) { s.FailNext("AssumeRole", "ExpiredToken", 400, 1) },
			mod: func(o *Options) { o.Profile = "dev" }, kind: providers.KindAuth, code: "ExpiredToken", hint: "aws sso login --profile dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := startFake(t)
			switch tt.key {
			case aliceKey:
				useKeys(t, aliceKey, aliceSecret, "")
			case bobKey:
				useKeys(t, bobKey, bobSecret, bobToken)
			case staleKey:
				useKeys(t, staleKey, staleSecret, staleToken)
			case "wrong-secret":
				useKeys(t, aliceKey, "not-alices-secret", "")
			default:
				useKeys(t, tt.key, "whatever", "")
			}
			mod := tt.mod
			if tt.name == "profile in the auth hint" {
				writeProfile(t, "dev", aliceKey, aliceSecret)
			}
			p := newProvider(t, s, c, mod)
			if tt.setup != nil {
				tt.setup(s)
			}
			// A principal from elsewhere makes Grant consult WhoAmI only when
			// needed; give it the AWS view directly where WhoAmI would fail.
			pr := providers.Principal{ID: aliceARN, Source: PrincipalSource}
			if tt.key == bobKey {
				pr = providers.Principal{ID: bobARN, Source: PrincipalSource}
			}
			d := tt.d
			if d == 0 {
				d = 3 * time.Hour
			}
			_, err := p.Grant(context.Background(), providers.Request{ID: "r1", Target: tt.target, Principal: pr, Duration: d})
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("want *providers.Error, got %T %v", err, err)
			}
			if pe.Kind != tt.kind || pe.Code != tt.code || !strings.Contains(pe.Hint, tt.hint) {
				t.Fatalf("got kind=%s code=%s hint=%q (%v); want %s %s %q", pe.Kind, pe.Code, pe.Hint, err, tt.kind, tt.code, tt.hint)
			}
			if strings.Contains(pe.Hint, "\n") || strings.Contains(err.Error(), "\n") {
				t.Error("hint or message is not one line")
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Errorf("the SDK's API error is not reachable: %v", err)
			}
			if !strings.Contains(err.Error(), tt.code+": ") || !strings.Contains(err.Error(), "(request id ") || strings.Contains(err.Error(), "operation error") {
				t.Errorf("message %q", err)
			}
			role := tt.target.Spec.(*TargetSpec).RoleARN
			if pe.Op != "assume role "+role || !strings.HasPrefix(err.Error(), "assume role "+role+": ") {
				t.Errorf("op %q, error %q", pe.Op, err)
			}
			for _, secret := range []string{aliceSecret, bobSecret, bobToken, staleSecret, staleToken, "not-alices-secret"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(pe.Hint, secret) {
					t.Fatalf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

// writeProfile adds a named profile with static keys to the isolated
// shared files and drops the environment keys, so only the profile signs.
func writeProfile(t *testing.T, name, key, secret string) {
	t.Helper()
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	cfg := "[profile " + name + "]\nregion = eu-west-1\n"
	creds := "[" + name + "]\naws_access_key_id = " + key + "\naws_secret_access_key = " + secret + "\n"
	if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestThrottlingRetriedThenSuccess(t *testing.T) {
	s, c := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	p := newProvider(t, s, c, func(o *Options) { o.RetryMaxAttempts = 3 })
	s.FailNext("AssumeRole", "Throttling", 400, 2)
	if _, err := p.Grant(context.Background(), request(p, t, prodTarget(nil), time.Hour)); err != nil {
		t.Fatal(err)
	}
	calls := s.CallsFor("AssumeRole")
	if len(calls) != 3 || calls[0].ErrorCode != "Throttling" || calls[1].ErrorCode != "Throttling" || calls[2].Status != 200 {
		t.Fatalf("calls %+v", calls)
	}
}

func TestNoCredentials(t *testing.T) {
	s, _ := startFake(t)
	p := newProvider(t, s, nil, nil)
	_, err := p.WhoAmI(context.Background())
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindAuth || pe.Code != "NoCredentials" || !strings.Contains(pe.Hint, "aws configure") ||
		!strings.Contains(err.Error(), "no AWS credentials found") {
		t.Fatalf("got %v %+v", err, pe)
	}
	if len(s.Calls()) != 0 {
		t.Fatalf("an unsigned call went out: %+v", s.Calls())
	}
}

func TestExpiredSSOLogin(t *testing.T) {
	s, _ := startFake(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	const startURL = "https://example.awsapps.com/start"
	cfg := "[profile sso]\nsso_start_url = " + startURL + "\nsso_region = eu-west-1\nsso_account_id = 111111111111\nsso_role_name = Admin\nregion = eu-west-1\n"
	if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(startURL))
	cache := filepath.Join(home, ".aws", "sso", "cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	tok := `{"accessToken":"sso-access-token-secret","expiresAt":"2020-01-01T00:00:00Z"}`
	if err := os.WriteFile(filepath.Join(cache, hex.EncodeToString(sum[:])+".json"), []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, s, nil, func(o *Options) { o.Profile = "sso" })
	_, err := p.WhoAmI(context.Background())
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindAuth || pe.Hint != "sign in again: aws sso login --profile sso (or refresh that profile's credentials)" ||
		!strings.Contains(err.Error(), "SSO session has expired") || strings.Contains(err.Error(), "sso-access-token-secret") {
		t.Fatalf("got %v (%+v)", err, pe)
	}
	if len(s.Calls()) != 0 {
		t.Fatal("a call went out with expired SSO credentials")
	}
}

func TestProfileNotFound(t *testing.T) {
	isolate(t)
	_, err := New(context.Background(), Options{Profile: "nope"})
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindAuth || !strings.Contains(pe.Hint, `profile "nope"`) {
		t.Fatalf("got %v", err)
	}
}

func TestProfileSignsCalls(t *testing.T) {
	s, _ := startFake(t)
	writeProfile(t, "dev", aliceKey, aliceSecret)
	p := newProvider(t, s, nil, func(o *Options) { o.Profile = "dev"; o.Region = "" })
	who, err := p.WhoAmI(context.Background())
	if err != nil || who.ID != aliceARN || p.Region() != "eu-west-1" {
		t.Fatalf("%+v %v region=%q", who, err, p.Region())
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	s, _ := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	t.Setenv("AWS_ENDPOINT_URL_STS", s.URL())
	p := newProvider(t, s, nil, func(o *Options) { o.Endpoint = "" })
	if p.Endpoint() != s.URL() {
		t.Fatalf("Endpoint() = %q", p.Endpoint())
	}
	if _, err := p.WhoAmI(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The explicit option wins over the variable.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", deadURL)
	p = newProvider(t, s, nil, nil)
	if p.Endpoint() != s.URL() {
		t.Fatalf("Endpoint() = %q, want the option", p.Endpoint())
	}
	if _, err := p.WhoAmI(context.Background()); err != nil {
		t.Fatal(err)
	}

	// An unreachable endpoint is transient and names the endpoint.
	p = newProvider(t, s, nil, func(o *Options) { o.Endpoint = deadURL })
	_, err := p.WhoAmI(context.Background())
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.KindTransient || !strings.Contains(pe.Hint, deadURL) {
		t.Fatalf("unreachable: %v %+v", err, pe)
	}
}

func TestContextCancellation(t *testing.T) {
	s, c := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	p := newProvider(t, s, c, nil)
	req := request(p, t, prodTarget(nil), time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Grant(ctx, req); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: %v", err)
	}

	// Cancelled in flight: the transport blocks until the request's context
	// ends.
	started := make(chan struct{})
	blocking := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		close(started)
		<-r.Context().Done()
		return nil, r.Context().Err()
	})}
	p2 := newProvider(t, s, c, func(o *Options) { o.HTTPClient = blocking })
	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := p2.Grant(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled in flight: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestConnectionsAreReused(t *testing.T) {
	const grants = 10
	for _, tt := range []struct {
		name      string
		keepAlive bool
	}{{"keep-alive", true}, {"control without keep-alive", false}} {
		t.Run(tt.name, func(t *testing.T) {
			s, c := startFake(t)
			useKeys(t, aliceKey, aliceSecret, "")
			var dials atomic.Int32
			// MaxConnsPerHost 1 makes a request wait for the previous
			// connection rather than race its return to the idle pool.
			tr := &http.Transport{MaxConnsPerHost: 1, DisableKeepAlives: !tt.keepAlive,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}
			defer tr.CloseIdleConnections()
			p := newProvider(t, s, c, func(o *Options) { o.HTTPClient = &http.Client{Transport: tr} })
			req := request(p, t, prodTarget(nil), time.Hour)
			for i := 0; i < grants; i++ {
				if _, err := p.Grant(context.Background(), req); err != nil {
					t.Fatal(err)
				}
			}
			n := dials.Load()
			t.Logf("%d connections for %d requests", n, grants+1)
			// Now and then the write of an SDK request on a reused
			// connection fails with EOF and Go's transport silently retries
			// it on a new connection (seen with the SDK's request bodies,
			// never with plain net/http requests to the same fake). So
			// "reused" means most requests share a connection, not all.
			if tt.keepAlive && n > (grants+1)/2 {
				t.Fatalf("%d connections for %d requests: connections are not reused", n, grants+1)
			}
			if !tt.keepAlive && n != grants+1 {
				t.Fatalf("control: %d connections for %d requests", n, grants+1)
			}
		})
	}
}

func TestGrantWithoutAWSPrincipalUsesWhoAmI(t *testing.T) {
	s, c := startFake(t)
	useKeys(t, bobKey, bobSecret, bobToken)
	p := newProvider(t, s, c, nil)
	req := providers.Request{ID: "r2", Target: prodTarget(nil), Duration: 2 * time.Hour,
		Principal: providers.Principal{ID: "carol@example.com", Source: "oidc:github"}}
	_, err := p.Grant(context.Background(), req)
	if providers.KindOf(err) != providers.KindInvalid || len(s.CallsFor("AssumeRole")) != 0 || len(s.CallsFor("GetCallerIdentity")) != 1 {
		t.Fatalf("chained base through a non-AWS principal: %v", err)
	}
	req.Duration = time.Hour
	if _, err := p.Grant(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// The source identity is the requester, not the base session.
	if got := s.CallsFor("AssumeRole")[0].Params.Get("SourceIdentity"); got != "carol@example.com" {
		t.Fatalf("source identity %q", got)
	}
}

func TestGrantRejectsForeignSpec(t *testing.T) {
	s, c := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	p := newProvider(t, s, c, nil)
	_, err := p.Grant(context.Background(), providers.Request{ID: "x", Target: providers.Target{Name: "t"}, Duration: time.Hour})
	if providers.KindOf(err) != providers.KindInvalid {
		t.Fatalf("got %v", err)
	}
}

func TestNewMakesNoCalls(t *testing.T) {
	s, _ := startFake(t)
	useKeys(t, aliceKey, aliceSecret, "")
	_ = newProvider(t, s, nil, nil)
	if n := len(s.Calls()); n != 0 {
		t.Fatalf("New made %d calls", n)
	}
}

func benchFake(b *testing.B) *fakecloud.STS {
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := b.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	b.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "empty"))
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "empty"))
	// A CA bundle (this machine sets one) costs New ~4ms of PEM parsing;
	// measure the common case without it.
	b.Setenv("AWS_CA_BUNDLE", "")
	os.Unsetenv("AWS_CA_BUNDLE")
	b.Setenv("AWS_ACCESS_KEY_ID", aliceKey)
	b.Setenv("AWS_SECRET_ACCESS_KEY", aliceSecret)
	s, err := fakecloud.NewSTS(fakecloud.STSConfig{
		Identities: []fakecloud.STSIdentity{{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret, ARN: aliceARN}},
		Roles:      []fakecloud.STSRole{{ARN: prodRole, MaxSessionDuration: 4 * time.Hour, AllowTagSession: true, AllowSetSourceIdentity: true, ExternalID: "ext-42"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkGrant is what one `jit elevate` pays in the provider: New, WhoAmI
// and AssumeRole, against the loopback fake.
func BenchmarkGrant(b *testing.B) {
	s := benchFake(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p, err := New(ctx, Options{Region: "eu-west-1", Endpoint: s.URL()})
		if err != nil {
			b.Fatal(err)
		}
		who, err := p.WhoAmI(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Grant(ctx, providers.Request{ID: "bench", Target: prodTarget(nil), Principal: who, Duration: time.Hour, Ticket: "CHG-1"}); err != nil {
			b.Fatal(err)
		}
		s.ResetCalls()
	}
}

// BenchmarkNew is the start-up cost: loading the SDK configuration.
func BenchmarkNew(b *testing.B) {
	s := benchFake(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(context.Background(), Options{Region: "eu-west-1", Endpoint: s.URL()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrantWarm is one more AssumeRole on a provider that already knows
// who the caller is.
func BenchmarkGrantWarm(b *testing.B) {
	s := benchFake(b)
	ctx := context.Background()
	p, err := New(ctx, Options{Region: "eu-west-1", Endpoint: s.URL()})
	if err != nil {
		b.Fatal(err)
	}
	who, err := p.WhoAmI(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Grant(ctx, providers.Request{ID: "bench", Target: prodTarget(nil), Principal: who, Duration: time.Hour}); err != nil {
			b.Fatal(err)
		}
		s.ResetCalls()
	}
}
