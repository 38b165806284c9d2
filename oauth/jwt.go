package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// jwtHeader is the encoded header of every phantom JWT. It is a constant
// so that a phantom depends only on its claims and key.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

var (
	errJWTShape   = errors.New("token is not a jwt of three dot-separated parts")
	errJWTBase64  = errors.New("jwt part is not base64url")
	errJWTPayload = errors.New("jwt payload is not a json object")
)

// SignJWT returns the compact JWT header.payload.signature for claims,
// a JSON object given as bytes, signed with HMAC-SHA256 under key. The
// claims bytes are encoded as they are, so equal inputs give byte-equal
// tokens: a pool's phantom must not change across restarts.
func SignJWT(key []byte, claims []byte) string {
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// DecodeJWTClaims returns the raw JSON payload of a compact JWT without
// checking its signature, the way clients such as Codex read id_token
// claims. It is an error if the token is not three non-empty
// dot-separated base64url parts (trailing '=' padding is tolerated) or if
// the payload is not a JSON object.
func DecodeJWTClaims(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errJWTShape
	}
	var payload []byte
	for i, p := range parts {
		if p == "" {
			return nil, errJWTShape
		}
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
		if err != nil {
			return nil, errJWTBase64
		}
		if i == 1 {
			payload = b
		}
	}
	if i := skipSpace(payload, 0); !json.Valid(payload) || i >= len(payload) ||
		payload[i] != '{' {
		return nil, errJWTPayload
	}
	return payload, nil
}

// PhantomIDToken builds the id token an agent sees from the real one: the
// real claims, with every string value (at any depth, object keys
// excepted) equal to a key of replace swapped for the mapped value, signed
// with key. Only whole values are swapped, so the claims keep their shape,
// key order, spacing and every other value byte for byte; Codex, for
// instance, still finds chatgpt_plan_type inside the
// "https://api.openai.com/auth" object. Empty keys of replace are
// ignored. It is an error if real is not a JWT or a mapped value is not
// valid UTF-8.
func PhantomIDToken(key []byte, real string, replace map[string]string) (string, error) {
	claims, err := DecodeJWTClaims(real)
	if err != nil {
		return "", fmt.Errorf("real id token: %w", err)
	}
	out, err := replaceStringValues(claims, replace)
	if err != nil {
		return "", err
	}
	return SignJWT(key, out), nil
}

// replaceStringValues swaps whole JSON string values found in replace.
func replaceStringValues(doc []byte, replace map[string]string) ([]byte, error) {
	out := make([]byte, 0, len(doc))
	last := 0
	err := walkStrings(doc, func(start, end int, isKey bool) error {
		if isKey {
			return nil
		}
		s, err := decodeString(doc[start:end])
		if err != nil {
			return err
		}
		to, ok := replace[s]
		if !ok || s == "" {
			return nil
		}
		enc, err := encodeString(to)
		if err != nil {
			return fmt.Errorf("replacement claim: %w", err)
		}
		out = append(out, doc[last:start]...)
		out = append(out, enc...)
		last = end
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, doc[last:]...), nil
}
