package fakecloud

import "strings"

type arn struct {
	partition, service, region, account, resource string
}

func (a arn) String() string {
	return "arn:" + a.partition + ":" + a.service + ":" + a.region + ":" + a.account + ":" + a.resource
}

// parseARN splits arn:partition:service:region:account:resource. The
// resource may itself hold colons.
func parseARN(s string) (arn, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return arn{}, false
	}
	return arn{partition: parts[1], service: parts[2], region: parts[3], account: parts[4], resource: parts[5]}, true
}

const (
	kindUser          = "user"
	kindRoot          = "root"
	kindAssumedRole   = "assumed-role"
	kindFederatedUser = "federated-user"
)

func principalKind(a arn) string {
	switch {
	case a.service == "iam" && a.resource == "root":
		return kindRoot
	case a.service == "iam" && strings.HasPrefix(a.resource, "user/") && len(a.resource) > len("user/"):
		return kindUser
	case a.service == "sts" && strings.HasPrefix(a.resource, "assumed-role/") && strings.Count(a.resource, "/") == 2 &&
		!strings.HasSuffix(a.resource, "/") && !strings.HasPrefix(a.resource, "assumed-role//"):
		return kindAssumedRole
	case a.service == "sts" && strings.HasPrefix(a.resource, "federated-user/"):
		return kindFederatedUser
	}
	return ""
}

// roleNameOf returns the name of role/<path/>name (the last segment).
func roleNameOf(resource string) string {
	rest, ok := strings.CutPrefix(resource, "role/")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

// globMatch matches s against a pattern where '*' spans any run of
// characters (slashes included, unlike path.Match: ARNs are full of them)
// and '?' one character.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			px = starP + 1
			starS++
			sx = starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
