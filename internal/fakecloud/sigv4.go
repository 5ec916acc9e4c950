package fakecloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	scopeTerminator = "aws4_request"
)

// sigV4Auth is a parsed SigV4 Authorization header.
type sigV4Auth struct {
	AccessKeyID   string
	Date          string // yyyymmdd from the credential scope
	Region        string
	Service       string
	Terminator    string
	SignedHeaders []string
	Signature     string
}

// parseSigV4Header parses
// "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex"; a malformed header is AWS's
// IncompleteSignature.
func parseSigV4Header(h string) (sigV4Auth, *apiError) {
	var a sigV4Auth
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != sigV4Algorithm {
		return a, incompleteSignature("Unsupported AWS 'algorithm': '%s'", alg)
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return a, incompleteSignature("Authorization header requires each component to be of the form key=value; got '%s'", strings.TrimSpace(kv))
		}
		if _, dup := fields[k]; dup {
			return a, incompleteSignature("Authorization header has a duplicate '%s' component", k)
		}
		fields[k] = v
	}
	for _, need := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[need] == "" {
			return a, incompleteSignature("Authorization header requires '%s' parameter", need)
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" {
		return a, incompleteSignature("Credential should have 5 slash-separated parts: access key id, date, region, service, terminator")
	}
	a.AccessKeyID, a.Date, a.Region, a.Service, a.Terminator = scope[0], scope[1], scope[2], scope[3], scope[4]
	a.SignedHeaders = strings.Split(fields["SignedHeaders"], ";")
	for _, sh := range a.SignedHeaders {
		if sh == "" || sh != strings.ToLower(sh) {
			return a, incompleteSignature("SignedHeaders must be a semicolon-separated list of lower-case header names")
		}
	}
	a.Signature = fields["Signature"]
	return a, nil
}

// canonicalRequest builds the SigV4 canonical request of r over exactly the
// headers the client says it signed, so a client that signs extra headers
// (amz-sdk-invocation-id, …) verifies as long as it told the truth.
func canonicalRequest(r *http.Request, signedHeaders []string, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(escapePath(path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	sorted := append([]string(nil), signedHeaders...)
	sort.Strings(sorted)
	for _, h := range sorted {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(sorted, ";"))
	b.WriteByte('\n')
	sum := sha256.Sum256(body)
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

func canonicalHeaderValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		// net/http moves Host out of the header map.
		values = []string{r.Host}
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			values = v
		} else {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		values = r.Header.Values(name)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// escapePath percent-encodes everything but unreserved characters and '/',
// applied to the already-escaped path: AWS double-encodes for every service
// but S3.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if isUnreserved(c) || c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// canonicalQuery encodes each name and value (RFC 3986, space as %20) and
// sorts after encoding, as the SigV4 specification requires.
func canonicalQuery(raw string) string {
	q, _ := url.ParseQuery(raw)
	type kv struct{ k, v string }
	var params []kv
	for k, vs := range q {
		for _, v := range vs {
			params = append(params, kv{sigV4Escape(k), sigV4Escape(v)})
		}
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

func sigV4Escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// sigV4Signature computes the hex signature of a canonical request.
func sigV4Signature(secret, amzDate, date, region, service, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	stringToSign := sigV4Algorithm + "\n" + amzDate + "\n" + date + "/" + region + "/" + service + "/" + scopeTerminator + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, scopeTerminator)
	return hex.EncodeToString(hmacSHA256(k, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// checkScope compares the credential scope with the request date and the
// service, answering with AWS's SignatureDoesNotMatch wording.
func checkScope(a sigV4Auth, amzDate, service string) *apiError {
	if a.Date != amzDate[:8] {
		return signatureMismatch("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.Date, amzDate[:8], amzDate)
	}
	if a.Service != service {
		return signatureMismatch("Credential should be scoped to correct service: '%s'.", service)
	}
	if a.Terminator != scopeTerminator {
		return signatureMismatch("Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, a.Terminator)
	}
	if a.Region == "" {
		return signatureMismatch("Credential should be scoped to a valid region.")
	}
	return nil
}

// checkSkew returns AWS's "Signature expired" / "not yet current" wording
// when the signing time is more than maxSkew away from now.
func checkSkew(signed, now time.Time, maxSkew time.Duration) *apiError {
	f := func(t time.Time) string { return t.UTC().Format(amzDateFormat) }
	if signed.Before(now.Add(-maxSkew)) {
		return signatureMismatch("Signature expired: %s is now earlier than %s (%s - %s.)", f(signed), f(now.Add(-maxSkew)), f(now), fmtSkew(maxSkew))
	}
	if signed.After(now.Add(maxSkew)) {
		return signatureMismatch("Signature not yet current: %s is still later than %s (%s + %s.)", f(signed), f(now.Add(maxSkew)), f(now), fmtSkew(maxSkew))
	}
	return nil
}

func fmtSkew(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return d.String()
}

func incompleteSignature(format string, args ...any) *apiError {
	return &apiError{status: 400, code: "IncompleteSignature", message: fmt.Sprintf(format, args...)}
}

func signatureMismatch(format string, args ...any) *apiError {
	return &apiError{status: 403, code: "SignatureDoesNotMatch", message: fmt.Sprintf(format, args...)}
}
