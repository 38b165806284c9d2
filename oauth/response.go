package oauth

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/latchkeyproxy/latchkey/bodycodec"
)

// Tokens are the tokens in a token response. Empty strings mean absent.
type Tokens struct {
	// AccessToken is the access_token; a successful response always has one.
	AccessToken string
	// RefreshToken is the refresh_token, absent when the server keeps the
	// old one (Google) or issues none.
	RefreshToken string
	// IDToken is the OpenID Connect id_token.
	IDToken string
	// ExpiresIn is the access token's lifetime; see HasExpiresIn.
	ExpiresIn time.Duration
	// HasExpiresIn reports whether the response carried a usable
	// expires_in, so that a zero ExpiresIn can mean "expires now".
	HasExpiresIn bool
}

// Errors of the token-response functions. Their text never includes body
// bytes, so they can be logged.
var (
	// ErrNoAccessToken means the body has no access_token. OAuth error
	// bodies sent with status 200 (GitHub does this) end up here.
	ErrNoAccessToken = errors.New("token response has no access_token")
	// ErrBodyTooLarge means a body, once decoded, exceeded its limit.
	ErrBodyTooLarge = errors.New("body exceeds size limit")
	// ErrTokenElsewhere means a real token value also appears outside its
	// own field, so the rewrite could not remove every copy.
	ErrTokenElsewhere = errors.New("token value appears outside its own field")

	errContentType = errors.New("unsupported token response content type")
)

// field returns a pointer to the token field called key, or nil.
func (t *Tokens) field(key string) *string {
	switch key {
	case "access_token":
		return &t.AccessToken
	case "refresh_token":
		return &t.RefreshToken
	case "id_token":
		return &t.IDToken
	}
	return nil
}

// ParseTokenResponse decodes a successful token response body, already
// decoded from any Content-Encoding. The body is JSON when the type is
// application/json or +json, or when its first non-space byte is '{'
// whatever the type says (servers label JSON text/plain or text/html).
// Otherwise it is form-encoded, GitHub style, when the type is the form
// type, text/plain or missing; any other type is an error.
//
// expires_in may be a number or a numeric string; one that is missing,
// null, negative, not a number or absurdly large leaves HasExpiresIn
// false rather than failing, so an odd lifetime never costs the caller a
// rotated refresh token. A body without access_token, with invalid
// syntax, not an object, with a token field twice, or with a token field
// that is neither a string nor null is an error.
//
// Callers should store what this returns before calling
// RewriteTokenResponse: a refresh token the server rotated must not be
// lost if the rewrite then fails closed.
func ParseTokenResponse(contentType string, body []byte) (Tokens, error) {
	f, err := responseFormat(contentType, body)
	if err != nil {
		return Tokens{}, err
	}
	if f == FormatJSON {
		t, _, err := parseJSONTokens(body)
		return t, err
	}
	t, _, err := parseFormTokens(body)
	return t, err
}

// responseFormat decides how a token response body is parsed.
func responseFormat(contentType string, body []byte) (Format, error) {
	mt := mediaType(contentType)
	if isJSONType(mt) {
		return FormatJSON, nil
	}
	if i := skipSpace(body, 0); i < len(body) && body[i] == '{' {
		return FormatJSON, nil
	}
	switch mt {
	case formType, "text/plain", "":
		return FormatForm, nil
	}
	return 0, errContentType
}

func parseJSONTokens(body []byte) (Tokens, []member, error) {
	ms, err := objectMembers(body)
	if err != nil {
		return Tokens{}, nil, fmt.Errorf("token response: %w", err)
	}
	var t Tokens
	seen := map[string]bool{}
	for _, m := range ms {
		raw := body[m.valStart:m.valEnd]
		if m.key == "expires_in" {
			t.ExpiresIn, t.HasExpiresIn = jsonExpiresIn(raw)
			continue
		}
		dst := t.field(m.key)
		if dst == nil {
			continue
		}
		if seen[m.key] {
			return Tokens{}, nil, fmt.Errorf("token response has %s twice", m.key)
		}
		seen[m.key] = true
		if string(raw) == "null" {
			continue
		}
		if *dst, err = decodeString(raw); err != nil {
			return Tokens{}, nil, fmt.Errorf("token response %s: %w", m.key, err)
		}
	}
	if t.AccessToken == "" {
		return Tokens{}, nil, ErrNoAccessToken
	}
	return t, ms, nil
}

// jsonExpiresIn reads an expires_in given as a JSON number or string.
func jsonExpiresIn(raw []byte) (time.Duration, bool) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := decodeString(raw)
		if err != nil {
			return 0, false
		}
		return parseExpiresIn(s)
	}
	return parseExpiresIn(string(raw))
}

// parseExpiresIn reads a lifetime in seconds, allowing a fraction.
func parseExpiresIn(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(math.MaxInt64/time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > float64(math.MaxInt64/time.Second) {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// parseFormTokens parses a form token response. Trailing whitespace is
// not part of the last value: some servers end the body with a newline,
// and a token with a newline in it would never match again.
func parseFormTokens(body []byte) (Tokens, []formSegment, error) {
	segs, err := splitForm(trimRightSpace(body))
	if err != nil {
		return Tokens{}, nil, fmt.Errorf("token response: %w", err)
	}
	var t Tokens
	seen := map[string]bool{}
	for _, s := range segs {
		if len(s.raw) == 0 {
			continue
		}
		if s.key == "expires_in" {
			t.ExpiresIn, t.HasExpiresIn = parseExpiresIn(s.value)
			continue
		}
		dst := t.field(s.key)
		if dst == nil {
			continue
		}
		if seen[s.key] {
			return Tokens{}, nil, fmt.Errorf("token response has %s twice", s.key)
		}
		seen[s.key] = true
		*dst = s.value
	}
	if t.AccessToken == "" {
		return Tokens{}, nil, ErrNoAccessToken
	}
	return t, segs, nil
}

func trimRightSpace(b []byte) []byte {
	return b[:len(strings.TrimRight(string(b), " \t\r\n"))]
}

// RewriteTokenResponse returns body with the values of access_token,
// refresh_token and id_token replaced by the matching fields of subst. A
// field that is present but whose substitute is empty is removed; a field
// that is absent is not added; an empty value or a JSON null is left
// alone, having no secret to hide. subst's ExpiresIn is not used.
// Everything else stays byte for byte: other JSON members keep their
// order, spacing and values, other form pairs their spelling. Content type
// detection is the same as ParseTokenResponse's.
//
// The result must not hold any real token, so after the rewrite every
// original token value of 8 bytes or more is looked for anywhere in the
// output: in the raw bytes, and in every JSON string (keys included, after
// unescaping) or form key and value (after percent-decoding). If one is
// found the rewrite fails with ErrTokenElsewhere rather than guessing how
// to edit a field whose meaning latchkey does not know; the caller then
// fails closed. Shorter values are not searched for, since they would
// match ordinary text and cannot be real secrets anyway.
func RewriteTokenResponse(contentType string, body []byte, subst Tokens) ([]byte, error) {
	f, err := responseFormat(contentType, body)
	if err != nil {
		return nil, err
	}
	var orig Tokens
	var out []byte
	if f == FormatJSON {
		var ms []member
		if orig, ms, err = parseJSONTokens(body); err != nil {
			return nil, err
		}
		if out, err = rewriteJSON(body, ms, subst); err != nil {
			return nil, err
		}
	} else {
		var segs []formSegment
		if orig, segs, err = parseFormTokens(body); err != nil {
			return nil, err
		}
		out = rewriteForm(body, segs, subst)
	}
	if err := checkNoLeak(f, out, orig); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeBody reads body, undoing its Content-Encoding (gzip, deflate, br,
// zstd, or a list of them), and closes it. A body longer than limit bytes
// once decoded is ErrBodyTooLarge: token responses are small, and the
// caller must fail closed rather than pass on a body it could not read
// whole. The limit applies to decoded bytes, so a compression bomb stops
// at the limit too. A nil body reads as empty.
func DecodeBody(contentEncoding string, body io.ReadCloser, limit int64) ([]byte, error) {
	if body == nil {
		return nil, nil
	}
	if limit < 0 {
		body.Close()
		return nil, errors.New("negative body limit")
	}
	var r io.ReadCloser = body
	if !bodycodec.Identity(contentEncoding) {
		if !bodycodec.Supported(contentEncoding) {
			body.Close()
			return nil, errors.New("unsupported content encoding")
		}
		dr, err := bodycodec.NewReader(contentEncoding, body)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("decoding body: %w", err)
		}
		r = dr // closing it closes body
	}
	defer r.Close()
	max := limit
	if max < math.MaxInt64 {
		max++ // one more byte tells "exactly limit" from "too large"
	}
	b, err := io.ReadAll(io.LimitReader(r, max))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}
