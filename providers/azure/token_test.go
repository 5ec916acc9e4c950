package azure

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func jwt(t testing.TB, claims map[string]any) string {
	t.Helper()
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(p) + ".c2lnbmF0dXJl"
}

func TestParseTokenClaimsPrincipals(t *testing.T) {
	tests := []struct {
		name    string
		claims  map[string]any
		id      string
		aliases []string
		idtyp   string
	}{
		{"member user", map[string]any{"oid": aliceOID, "tid": tenantID, "upn": aliceUPN, "email": aliceMail, "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "idtyp": "user"},
			aliceUPN, []string{aliceOID, aliceMail}, "user"},
		{"email equal to upn", map[string]any{"oid": aliceOID, "upn": aliceUPN, "email": strings.ToUpper(aliceUPN)},
			aliceUPN, []string{aliceOID}, "user"},
		{"v2 token", map[string]any{"oid": aliceOID, "preferred_username": aliceUPN}, aliceUPN, []string{aliceOID}, "user"},
		{"guest without upn", map[string]any{"oid": aliceOID, "unique_name": "live.com#alice@outlook.com", "email": "alice@outlook.com", "idtyp": "user"},
			aliceOID, []string{"alice@outlook.com"}, "user"},
		{"service principal", map[string]any{"oid": ciOID, "appid": ciClient, "idtyp": "app"}, ciOID, []string{ciClient}, "app"},
		{"managed identity, no idtyp", map[string]any{"oid": ciOID, "appid": ciClient}, ciOID, []string{ciClient}, "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseTokenClaims(jwt(t, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			pr := c.Principal()
			if pr.ID != tt.id || strings.Join(pr.Aliases, ",") != strings.Join(tt.aliases, ",") || pr.Claims["idtyp"] != tt.idtyp ||
				pr.Source != PrincipalSource {
				t.Errorf("Principal = %+v; want id %s aliases %v idtyp %s", pr, tt.id, tt.aliases, tt.idtyp)
			}
		})
	}
}

func TestUserTokensNeverAliasTheClientApp(t *testing.T) {
	// Everyone signed in through the Azure CLI carries its app id; it must
	// not become a name a policy subject could match.
	c, err := ParseTokenClaims(jwt(t, map[string]any{"oid": aliceOID, "upn": aliceUPN, "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Principal().Names() {
		if n == "04b07795-8ddb-461a-bbee-02f9e1bf7b46" {
			t.Fatal("the Azure CLI's app id is a name of the user")
		}
	}
}

func TestParseTokenClaimsRejectsAndNeverEchoes(t *testing.T) {
	secretish := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXRva2Vu"
	for _, tok := range []string{"", "abc", "a.b", "a.b.c.d", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c",
		secretish, jwt(t, map[string]any{"oid": "not-a-guid"}), strings.Repeat("a", maxTokenLen+1)} {
		_, err := ParseTokenClaims(tok)
		if err == nil {
			t.Errorf("ParseTokenClaims(%.20q) succeeded", tok)
			continue
		}
		if tok != "" && len(tok) > 3 && strings.Contains(err.Error(), tok) {
			t.Errorf("error %q contains the token", err)
		}
	}
}

func FuzzParseTokenClaims(f *testing.F) {
	f.Add(jwt(f, map[string]any{"oid": aliceOID, "upn": aliceUPN}))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ParseTokenClaims(tok)
		if err != nil {
			if len(tok) > 8 && strings.Contains(err.Error(), tok) {
				t.Fatalf("error echoes the token")
			}
			return
		}
		if !IsGUID(c.OID) {
			t.Fatalf("accepted oid %q", c.OID)
		}
		if pr := c.Principal(); pr.ID == "" {
			t.Fatalf("principal without id from %q", tok)
		}
	})
}
