package aws

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ARN is a parsed Amazon Resource Name.
type ARN struct {
	Partition, Service, Region, Account, Resource string
}

// String reassembles the ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// ParseARN splits arn:partition:service:region:account:resource; the
// resource may hold further colons.
func ParseARN(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, errors.New("not an ARN: want arn:partition:service:region:account:resource")
	}
	a := ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if a.Partition == "" || a.Service == "" || a.Resource == "" {
		return ARN{}, errors.New("not an ARN: empty partition, service or resource")
	}
	return a, nil
}

// Principal types, as Claims["type"] reports them.
const (
	TypeUser          = "user"
	TypeAssumedRole   = "assumed-role"
	TypeRoot          = "root"
	TypeFederatedUser = "federated-user"
)

// CallerARN is a classified caller ARN, as GetCallerIdentity returns it.
type CallerARN struct {
	ARN
	// Type is TypeUser, TypeAssumedRole, TypeRoot or TypeFederatedUser.
	Type string
	// Name is the user name, federated user name or, for an assumed role,
	// the session name (often the person's e-mail with SSO).
	Name string
	// Role is the role name of an assumed role.
	Role string
}

// RoleARN is the IAM role behind an assumed-role caller, as trust policies
// name it. GetCallerIdentity drops the role's path, so this one has none.
func (c CallerARN) RoleARN() string {
	if c.Type != TypeAssumedRole {
		return ""
	}
	return ARN{Partition: c.Partition, Service: "iam", Account: c.Account, Resource: "role/" + c.Role}.String()
}

// ParseCallerARN classifies a caller ARN: an IAM user (with or without a
// path), the account root, an assumed-role session or a federated user.
func ParseCallerARN(s string) (CallerARN, error) {
	a, err := ParseARN(s)
	if err != nil {
		return CallerARN{}, err
	}
	c := CallerARN{ARN: a}
	switch {
	case a.Service == "iam" && a.Resource == "root":
		c.Type = TypeRoot
	case a.Service == "iam" && strings.HasPrefix(a.Resource, "user/"):
		c.Type = TypeUser
		c.Name = a.Resource[strings.LastIndexByte(a.Resource, '/')+1:]
	case a.Service == "sts" && strings.HasPrefix(a.Resource, "assumed-role/"):
		parts := strings.Split(a.Resource, "/")
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return CallerARN{}, errors.New("assumed-role ARN must end in assumed-role/<role>/<session>")
		}
		c.Type, c.Role, c.Name = TypeAssumedRole, parts[1], parts[2]
	case a.Service == "sts" && strings.HasPrefix(a.Resource, "federated-user/"):
		c.Type = TypeFederatedUser
		c.Name = strings.TrimPrefix(a.Resource, "federated-user/")
	default:
		return CallerARN{}, errors.New("not a caller ARN (user, root, assumed-role or federated-user)")
	}
	if c.Name == "" && c.Type != TypeRoot {
		return CallerARN{}, errors.New("caller ARN has an empty name")
	}
	if !isDigits(a.Account) || len(a.Account) != 12 {
		return CallerARN{}, errors.New("caller ARN must hold a 12-digit account id")
	}
	return c, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isSessionNameChar reports whether r is in AWS's [\w+=,.@-], the charset
// of role session names and source identities.
func isSessionNameChar(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("_+=,.@-", r))
}

// sanitizeSessionName maps s into [\w+=,.@-] (other characters become '-')
// and cuts it to max characters.
func sanitizeSessionName(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if isSessionNameChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// RoleSessionName is the session name jit uses for a request: "jit-" and
// the request id, sanitised to AWS's charset, at most 64 characters. It
// ties CloudTrail entries (aws:userid = <role id>:<session>) to the audit
// journal.
func RoleSessionName(requestID string) string {
	return sanitizeSessionName("jit-"+requestID, 64)
}

// SourceIdentityFor derives a source identity from a person's name (an
// assumed-role session name such as an SSO e-mail, a user name): AWS's
// charset, 2–64 characters, never starting with "aws:".
func SourceIdentityFor(name string) (string, error) {
	s := sanitizeSessionName(name, 64)
	// ':' is outside the charset, so "aws:" cannot survive sanitising; the
	// check guards that invariant.
	if strings.HasPrefix(strings.ToLower(s), "aws:") {
		return "", errors.New("a source identity may not start with aws:")
	}
	if len(s) < 2 {
		return "", errors.New("a source identity needs at least 2 characters")
	}
	return s, nil
}

// isTagChar reports whether r is in AWS's tag charset
// [\p{L}\p{Z}\p{N}_.:/=+\-@].
func isTagChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.Is(unicode.Z, r) || unicode.IsNumber(r) || strings.ContainsRune("_.:/=+-@", r)
}

// sanitizeTagValue maps s into the tag charset (other characters become
// '_') and cuts it to 256 characters.
func sanitizeTagValue(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 256 {
			break
		}
		if r == utf8.RuneError || !isTagChar(r) {
			r = '_'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
