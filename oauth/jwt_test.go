package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// hdr is a real-looking encoded header, {"alg":"RS256"}, and its dot.
const hdr = "eyJhbGciOiJSUzI1NiJ9."

const codexClaims = `{"email":"a@example.com","https://api.openai.com/auth":` +
	`{"chatgpt_account_id":"acct-real-1","chatgpt_plan_type":"plus",` +
	`"chatgpt_user_id":"user-real-1"},"exp":1999999999}`

// verifyHS256 recomputes the signature of a compact JWT under key.
func verifyHS256(t *testing.T, key []byte, token string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || string(header) != `{"alg":"HS256","typ":"JWT"}` {
		t.Fatalf("header %q, %v", header, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); parts[2] != want {
		t.Fatalf("signature %q, want %q", parts[2], want)
	}
	if strings.ContainsAny(token, "=+/") {
		t.Fatalf("token %q is not unpadded base64url", token)
	}
}

func TestSignJWTIsDeterministicAndVerifiable(t *testing.T) {
	key := []byte("install-key-1")
	claims := []byte(`{"iss":"latchkey","sub":"pool-a","exp":4102444800}`)
	a, b := SignJWT(key, claims), SignJWT(key, claims)
	if a != b {
		t.Fatalf("not deterministic: %q vs %q", a, b)
	}
	verifyHS256(t, key, a)
	got, err := DecodeJWTClaims(a)
	if err != nil || string(got) != string(claims) {
		t.Fatalf("claims %q, %v", got, err)
	}
	if SignJWT([]byte("install-key-2"), claims) == a {
		t.Fatal("a different key gave the same token")
	}
	if SignJWT(key, []byte(`{"sub":"pool-b"}`)) == a {
		t.Fatal("different claims gave the same token")
	}
}

func TestDecodeJWTClaims(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	payload := enc([]byte(`{"a":1}`))
	tests := []struct {
		name    string
		token   string
		want    string
		wantErr error
	}{
		{"unsigned real shape", hdr + payload + ".c2ln", `{"a":1}`, nil},
		{"padded parts are tolerated", hdr +
			base64.URLEncoding.EncodeToString([]byte(`{"a":1}`)) + ".c2ln", `{"a":1}`, nil},
		{"two parts", hdr + payload, "", errJWTShape},
		{"four parts", hdr + payload + ".c2ln.eA", "", errJWTShape},
		{"empty signature", hdr + payload + ".", "", errJWTShape},
		{"opaque token", "lk-at-opaque", "", errJWTShape},
		{"not base64url", hdr + payload + ".c2*n", "", errJWTBase64},
		{"standard base64 alphabet", hdr + payload + ".a+b/", "", errJWTBase64},
		{"payload is an array", hdr + enc([]byte(`[1]`)) + ".c2ln", "", errJWTPayload},
		{"payload is not json", hdr + enc([]byte(`{a}`)) + ".c2ln", "", errJWTPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeJWTClaims(tt.token)
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPhantomIDTokenReplacesNestedAccountID(t *testing.T) {
	key := []byte("jwt-key")
	real := "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." +
		base64.RawURLEncoding.EncodeToString([]byte(codexClaims)) + ".cmVhbHNpZw"
	replace := map[string]string{
		"acct-real-1": "0f3a9c1e-5b2d-8e47-9a6c-1d2e3f4a5b6c",
		"user-real-1": "user-phantom-1",
	}
	tok, err := PhantomIDToken(key, real, replace)
	if err != nil {
		t.Fatal(err)
	}
	verifyHS256(t, key, tok)
	claims, err := DecodeJWTClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"email":"a@example.com","https://api.openai.com/auth":` +
		`{"chatgpt_account_id":"0f3a9c1e-5b2d-8e47-9a6c-1d2e3f4a5b6c",` +
		`"chatgpt_plan_type":"plus","chatgpt_user_id":"user-phantom-1"},"exp":1999999999}`
	if string(claims) != want {
		t.Fatalf("claims\n%s\nwant\n%s", claims, want)
	}
	// What Codex reads must still be where Codex looks for it.
	var c struct {
		Email string `json:"email"`
		Auth  struct {
			Account string `json:"chatgpt_account_id"`
			Plan    string `json:"chatgpt_plan_type"`
		} `json:"https://api.openai.com/auth"`
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(claims, &c); err != nil {
		t.Fatal(err)
	}
	if c.Email != "a@example.com" || c.Auth.Plan != "plus" || c.Exp != 1999999999 ||
		c.Auth.Account != replace["acct-real-1"] {
		t.Fatalf("decoded claims %+v", c)
	}
	if again, _ := PhantomIDToken(key, real, replace); again != tok {
		t.Fatal("not deterministic")
	}
}

func TestPhantomIDTokenReplacement(t *testing.T) {
	enc := func(s string) string {
		return hdr + base64.RawURLEncoding.EncodeToString([]byte(s)) + ".c2ln"
	}
	tests := []struct {
		name    string
		claims  string
		replace map[string]string
		want    string
	}{
		{"keys are never replaced", `{"acct":"acct"}`, map[string]string{"acct": "p"},
			`{"acct":"p"}`},
		{"substrings are not replaced", `{"sub":"auth0|acct"}`, map[string]string{"acct": "p"},
			`{"sub":"auth0|acct"}`},
		{"values in arrays are replaced", `{"orgs":["acct", "x"]}`,
			map[string]string{"acct": "p"}, `{"orgs":["p", "x"]}`},
		{"escaped values are matched", `{"a":"ac\u0063t"}`, map[string]string{"acct": "p"},
			`{"a":"p"}`},
		{"replacement is escaped", `{"a":"acct"}`, map[string]string{"acct": `q"`},
			`{"a":"q\""}`},
		{"empty key is ignored", `{"a":""}`, map[string]string{"": "p"}, `{"a":""}`},
		{"spacing and numbers survive", "{ \"a\" : \"acct\" ,\n \"n\": 1.50 }",
			map[string]string{"acct": "p"}, "{ \"a\" : \"p\" ,\n \"n\": 1.50 }"},
		{"nil map copies the claims", `{"a":"acct"}`, nil, `{"a":"acct"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := PhantomIDToken([]byte("k"), enc(tt.claims), tt.replace)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeJWTClaims(tok)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestPhantomIDTokenErrors(t *testing.T) {
	tests := []struct {
		name    string
		real    string
		replace map[string]string
	}{
		{"real is not a jwt", "opaque-id-token", nil},
		{"real payload is not an object", hdr + base64.RawURLEncoding.EncodeToString([]byte(`1`)) +
			".c2ln", nil},
		{"replacement not utf-8", hdr +
			base64.RawURLEncoding.EncodeToString([]byte(`{"a":"acct"}`)) + ".c2ln",
			map[string]string{"acct": "\xff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := PhantomIDToken([]byte("k"), tt.real, tt.replace); err == nil {
				t.Fatalf("no error, got %q", tok)
			}
		})
	}
}
