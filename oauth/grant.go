package oauth

import (
	"errors"
	"net/url"
)

// MaxProbe is the largest token request body, in bytes, that the grant
// probe reads (SPEC section 7). Real refresh bodies are a few hundred
// bytes; a larger body is passed on unchanged rather than buffered.
const MaxProbe = 64 << 10

// GrantRefreshToken is the grant_type of a refresh request, the only
// grant for which latchkey expands phantoms at a token host.
const GrantRefreshToken = "refresh_token"

// Format is the syntax of a token request or response body.
type Format int

// The body formats latchkey understands. The zero Format is none of them,
// so a Grant that did not come from ParseGrant cannot be spliced.
const (
	// FormatForm is application/x-www-form-urlencoded.
	FormatForm Format = iota + 1
	// FormatJSON is a JSON object.
	FormatJSON
)

// String returns the name of the format, for logs.
func (f Format) String() string {
	switch f {
	case FormatForm:
		return "form"
	case FormatJSON:
		return "json"
	}
	return "unknown"
}

// Grant is what the probe found in a token request body. Empty strings
// mean the field was absent.
type Grant struct {
	// Type is the grant_type, for example "refresh_token".
	Type string
	// RefreshToken is the refresh_token the client sent, unescaped.
	RefreshToken string
	// ClientID is the client_id the client sent, unescaped.
	ClientID string
	// Format is the syntax of the body the grant came from.
	Format Format
}

// IsRefresh reports whether the grant is a refresh grant that carries a
// refresh token, the only case in which the caller expands a phantom.
func (g Grant) IsRefresh() bool {
	return g.Type == GrantRefreshToken && g.RefreshToken != ""
}

// ParseGrant parses a token request body of the given Content-Type:
// application/x-www-form-urlencoded (any parameters), application/json
// or a +json type. A body of any other type, larger than MaxProbe, with
// invalid syntax, a JSON body that is not an object, a probed field
// (grant_type, refresh_token, client_id) that appears twice or, in JSON,
// is not a string, all give ok=false: the caller then passes the request
// on unchanged, which is safe because a phantom is worthless upstream.
//
// Duplicates are refused because servers disagree on whether the first or
// the last one wins, and latchkey must see the grant the server will see.
// A valid body without grant_type gives ok=true and an empty Type.
func ParseGrant(contentType string, body []byte) (g Grant, ok bool) {
	if len(body) > MaxProbe {
		return Grant{}, false
	}
	mt := mediaType(contentType)
	switch {
	case mt == formType:
		return parseFormGrant(body)
	case isJSONType(mt):
		return parseJSONGrant(body)
	}
	return Grant{}, false
}

// probe collects the grant fields and notices duplicates.
type probe struct {
	g    Grant
	seen [3]bool
}

// set records one field; it returns false on a duplicate probed field.
func (p *probe) set(key, value string) bool {
	var dst *string
	var idx int
	switch key {
	case "grant_type":
		dst, idx = &p.g.Type, 0
	case "refresh_token":
		dst, idx = &p.g.RefreshToken, 1
	case "client_id":
		dst, idx = &p.g.ClientID, 2
	default:
		return true
	}
	if p.seen[idx] {
		return false
	}
	p.seen[idx] = true
	*dst = value
	return true
}

func isProbed(key string) bool {
	return key == "grant_type" || key == "refresh_token" || key == "client_id"
}

func parseFormGrant(body []byte) (Grant, bool) {
	segs, err := splitForm(body)
	if err != nil {
		return Grant{}, false
	}
	p := probe{g: Grant{Format: FormatForm}}
	for _, s := range segs {
		if len(s.raw) > 0 && !p.set(s.key, s.value) {
			return Grant{}, false
		}
	}
	return p.g, true
}

func parseJSONGrant(body []byte) (Grant, bool) {
	ms, err := objectMembers(body)
	if err != nil {
		return Grant{}, false
	}
	p := probe{g: Grant{Format: FormatJSON}}
	for _, m := range ms {
		if !isProbed(m.key) {
			continue
		}
		v, err := decodeString(body[m.valStart:m.valEnd])
		if err != nil || !p.set(m.key, v) {
			return Grant{}, false
		}
	}
	return p.g, true
}

var (
	errNoFormat       = errors.New("grant has no body format")
	errRefreshMissing = errors.New("refresh_token not found in body")
	errRefreshTwice   = errors.New("refresh_token appears more than once in body")
	errRefreshChanged = errors.New("refresh_token in body does not match the grant")
)

// ReplaceRefreshToken returns body with the value of its refresh_token
// field replaced by real and every other byte unchanged, so that the
// upstream sees exactly what the client sent apart from the token (some
// servers sign or hash request bodies, and clients' field order is part of
// their fingerprint). In a form body only that one pair is rewritten, with
// real escaped by url.QueryEscape; in a JSON body only the string value of
// the top-level "refresh_token" member is, JSON-escaped.
//
// g must come from ParseGrant on the same body. It is an error if the
// field is not there exactly once, if its value is not g.RefreshToken, or,
// for JSON, if real is not valid UTF-8.
func ReplaceRefreshToken(g Grant, body []byte, real string) ([]byte, error) {
	switch g.Format {
	case FormatForm:
		return replaceFormRefresh(g, body, real)
	case FormatJSON:
		return replaceJSONRefresh(g, body, real)
	}
	return nil, errNoFormat
}

func replaceFormRefresh(g Grant, body []byte, real string) ([]byte, error) {
	segs, err := splitForm(body)
	if err != nil {
		return nil, err
	}
	at := -1
	for i, s := range segs {
		if len(s.raw) == 0 || s.key != "refresh_token" {
			continue
		}
		if at >= 0 {
			return nil, errRefreshTwice
		}
		at = i
	}
	if at < 0 {
		return nil, errRefreshMissing
	}
	if segs[at].value != g.RefreshToken {
		return nil, errRefreshChanged
	}
	raws := make([][]byte, len(segs))
	for i, s := range segs {
		raws[i] = s.raw
	}
	raws[at] = segs[at].withValue(url.QueryEscape(real))
	return joinForm(raws), nil
}

func replaceJSONRefresh(g Grant, body []byte, real string) ([]byte, error) {
	ms, err := objectMembers(body)
	if err != nil {
		return nil, err
	}
	at := -1
	for i, m := range ms {
		if m.key != "refresh_token" {
			continue
		}
		if at >= 0 {
			return nil, errRefreshTwice
		}
		at = i
	}
	if at < 0 {
		return nil, errRefreshMissing
	}
	m := ms[at]
	old, err := decodeString(body[m.valStart:m.valEnd])
	if err != nil {
		return nil, err
	}
	if old != g.RefreshToken {
		return nil, errRefreshChanged
	}
	enc, err := encodeString(real)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)-(m.valEnd-m.valStart)+len(enc))
	out = append(out, body[:m.valStart]...)
	out = append(out, enc...)
	return append(out, body[m.valEnd:]...), nil
}
