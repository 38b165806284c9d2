package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// These helpers locate values inside a JSON text by byte offset, so that
// a value can be swapped without re-encoding the rest of the document:
// key order, spacing, number spelling and escapes all survive. They are
// only ever run on input that json.Valid accepted, which keeps them small;
// they still bounds-check, so a bug shows up as an error, not a panic.

var (
	errNotJSON    = errors.New("body is not valid json")
	errNotObject  = errors.New("body is not a json object")
	errMalformed  = errors.New("malformed json")
	errNotUTF8    = errors.New("value is not valid utf-8")
	errNotAString = errors.New("value is not a json string")
)

// member is one member of a top-level JSON object.
type member struct {
	keyStart int    // offset of the key's opening quote
	valStart int    // offset of the value's first byte
	valEnd   int    // offset just past the value
	key      string // the key, unescaped
}

// objectMembers returns, in order, the members of the JSON object that
// makes up b. Nested objects are skipped, not descended into.
func objectMembers(b []byte) ([]member, error) {
	if !json.Valid(b) {
		return nil, errNotJSON
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	i = skipSpace(b, i+1)
	ms := make([]member, 0, 8) // token bodies have a handful of members
	if i < len(b) && b[i] == '}' {
		return ms, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, errMalformed
		}
		keyEnd, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		key, err := decodeString(b[i:keyEnd])
		if err != nil {
			return nil, err
		}
		colon := skipSpace(b, keyEnd)
		if colon >= len(b) || b[colon] != ':' {
			return nil, errMalformed
		}
		vs := skipSpace(b, colon+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, err
		}
		ms = append(ms, member{keyStart: i, valStart: vs, valEnd: ve, key: key})
		i = skipSpace(b, ve)
		if i >= len(b) {
			return nil, errMalformed
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return ms, nil
		default:
			return nil, errMalformed
		}
	}
}

// skipSpace returns the offset of the first non-whitespace byte at or
// after i, using JSON's four whitespace bytes.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset just past the JSON string that starts
// with the quote at b[i].
func skipString(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errMalformed
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++ // the escaped byte cannot end the string
		case '"':
			return j + 1, nil
		}
	}
	return 0, errMalformed
}

// skipValue returns the offset just past the JSON value that starts at
// b[i]. It is iterative so that deep nesting cannot exhaust the stack.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errMalformed
	default: // number, true, false, null
		j := i
		for j < len(b) && !endsLiteral(b[j]) {
			j++
		}
		if j == i {
			return 0, errMalformed
		}
		return j, nil
	}
}

// endsLiteral reports whether c ends a number or a literal name.
func endsLiteral(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// decodeString unescapes the JSON string raw, quotes included, exactly as
// encoding/json would, so that what latchkey compares is what the
// upstream's own JSON parser will see.
func decodeString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errNotAString
	}
	inner := raw[1 : len(raw)-1]
	// Most values have no escapes; encoding/json would only copy them.
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errMalformed
	}
	return s, nil
}

// encodeString returns s as a JSON string. HTML characters stay as they
// are, because tokens are not embedded in HTML and escaping them would
// only make the output differ from what a client expects. Invalid UTF-8
// is an error: encoding/json would silently turn it into U+FFFD and the
// upstream would see a different token.
func encodeString(s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errNotUTF8
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		out := make([]byte, 0, len(s)+2)
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"'), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// walkStrings calls fn for every string in the JSON text b, at any depth,
// with its offsets and whether it is an object key. b must be valid JSON:
// outside strings, every quote then starts a string.
func walkStrings(b []byte, fn func(start, end int, isKey bool) error) error {
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		end, err := skipString(b, i)
		if err != nil {
			return err
		}
		next := skipSpace(b, end)
		if err := fn(i, end, next < len(b) && b[next] == ':'); err != nil {
			return err
		}
		i = end - 1
	}
	return nil
}
