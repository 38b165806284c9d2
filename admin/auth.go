package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authorize checks the request's bearer token against the app's. Both are
// hashed before the constant-time comparison so that not even the token's
// length shows in the timing.
func authorize(r *http.Request, want string) error {
	got, ok := bearerToken(r)
	if !ok {
		return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized,
			message: "missing bearer token: send Authorization: Bearer <token>, " +
				"with the token from latchkey's api_token file"}
	}
	// An empty configured token must never match an empty presented one.
	if want == "" || !equalTokens(got, want) {
		return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized,
			message: "invalid bearer token"}
	}
	return nil
}

// bearerToken returns the token of the request's one Authorization header,
// which must use the Bearer scheme (in any case, as RFC 9110 allows).
func bearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// equalTokens compares two tokens in constant time.
func equalTokens(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
