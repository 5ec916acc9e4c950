package azure

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jitaccess/jit/providers"
)

// PrincipalSource is the Principal.Source of identities WhoAmI returns.
const PrincipalSource = "azure:token"

// TokenClaims are the claims of an Entra ID access token that say who the
// caller is.
type TokenClaims struct {
	OID               string `json:"oid"`
	TID               string `json:"tid"`
	UPN               string `json:"upn"`
	PreferredUsername string `json:"preferred_username"`
	UniqueName        string `json:"unique_name"`
	Email             string `json:"email"`
	Name              string `json:"name"`
	AppID             string `json:"appid"`
	AZP               string `json:"azp"`
	IDType            string `json:"idtyp"`
	Audience          any    `json:"aud"`
}

// maxTokenLen bounds what ParseTokenClaims decodes; Entra ID tokens are a
// few kilobytes.
const maxTokenLen = 64 << 10

// ParseTokenClaims decodes the payload of a JWT access token.
//
// The signature is deliberately not verified: the token came to us from
// Entra ID (or the Azure CLI, which got it from Entra ID) over TLS, and we
// read our own identity out of it to name ourselves to jit's policy; ARM
// verifies the token on every call, so a forged token gains nothing there.
// Errors never include the token.
func ParseTokenClaims(token string) (TokenClaims, error) {
	if len(token) > maxTokenLen {
		return TokenClaims{}, fmt.Errorf("access token is %d bytes, more than a JWT of Entra ID", len(token))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return TokenClaims{}, errors.New("the access token is not a JWT (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return TokenClaims{}, errors.New("the access token's payload is not base64url")
	}
	var c TokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return TokenClaims{}, errors.New("the access token's payload is not a JSON object of claims")
	}
	if c.OID == "" {
		return TokenClaims{}, errors.New("the access token has no oid (object id) claim")
	}
	if !IsGUID(c.OID) {
		return TokenClaims{}, errors.New("the access token's oid claim is not a GUID")
	}
	return c, nil
}

// IsApp reports whether the token is an application's (a service
// principal or managed identity) rather than a user's.
func (c TokenClaims) IsApp() bool {
	if c.IDType != "" {
		return c.IDType == "app"
	}
	return c.UPN == "" && c.PreferredUsername == "" && c.UniqueName == ""
}

// Principal is the caller as the policy sees it: the user principal name
// (or, for an application, its object id) with the object id and e-mail
// as aliases.
func (c TokenClaims) Principal() providers.Principal {
	id := c.UPN
	if id == "" {
		id = c.PreferredUsername
	}
	if id == "" || c.IsApp() {
		id = c.OID
	}
	pr := providers.Principal{ID: id, Source: PrincipalSource, Account: c.TID}
	add := func(s string) {
		if s == "" || strings.EqualFold(s, pr.ID) {
			return
		}
		for _, a := range pr.Aliases {
			if strings.EqualFold(a, s) {
				return
			}
		}
		pr.Aliases = append(pr.Aliases, s)
	}
	add(c.OID)
	if !c.IsApp() {
		add(c.Email)
	} else {
		// Only an application's own token names it by its app id; a
		// user's token carries the app id of the client they signed in
		// with (the Azure CLI's, shared by everyone), which must never
		// become an alias.
		add(c.AppID)
	}
	idType := c.IDType
	if idType == "" {
		idType = "user"
		if c.IsApp() {
			idType = "app"
		}
	}
	pr.Claims = map[string]any{
		"oid": c.OID, "tid": c.TID, "upn": c.UPN, "appid": c.AppID, "idtyp": idType,
	}
	return pr
}
