package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// maxBodyBytes bounds a request body. Every body this API takes is a small
// object; the bound keeps a runaway client from filling memory.
const maxBodyBytes = 1 << 20

// errTooLarge answers a body over maxBodyBytes.
var errTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
	message: fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes)}

// decodeJSON reads the request body into dst, which must be a pointer to a
// struct. It accepts exactly one JSON object of known fields, in UTF-8,
// and nothing else: a request that is not understood completely changes
// nothing.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalidJSON("request body is empty; send a JSON object")
	}
	return unmarshalObject(body, dst)
}

// decodeOptionalJSON is decodeJSON for routes whose body may be left out,
// such as a rotate: an empty body leaves dst as it is, anything else must
// be the route's JSON object.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	return unmarshalObject(body, dst)
}

// readBody reads the request body, at most maxBodyBytes of it, after
// checking that its headers announce plain JSON.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkContentHeaders(r); err != nil {
		return nil, err
	}
	if r.ContentLength > maxBodyBytes {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge
		}
		return nil, invalidJSON("reading request body: %v", err)
	}
	return body, nil
}

// unmarshalObject decodes a non-empty body into dst: one JSON object of
// known fields, in UTF-8, with nothing after it.
func unmarshalObject(body []byte, dst any) error {
	switch trimmed := bytes.TrimSpace(body); {
	case !utf8.Valid(body):
		// encoding/json would quietly replace invalid bytes, changing a
		// secret or a name without telling anyone.
		return invalidJSON("request body is not valid UTF-8")
	case trimmed[0] != '{':
		return invalidJSON("request body must be a JSON object")
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return invalidJSON("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidJSON("request body has data after the JSON object")
	}
	return nil
}

// checkContentHeaders refuses bodies that say they are not plain JSON. A
// missing Content-Type is accepted for the sake of simple clients.
func checkContentHeaders(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return invalidJSON("request body must be JSON (Content-Type: application/json)")
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return invalidJSON("request body must be UTF-8 JSON")
		}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return invalidJSON("request body must not be compressed (Content-Encoding %s)",
			quoteShort(ce))
	}
	return nil
}

// invalidJSON returns a 400 for a body that cannot be read as the route's
// JSON object.
func invalidJSON(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidJSON,
		message: fmt.Sprintf(format, args...)}
}

// describeJSONError turns a decoding error into a message for the operator.
// Messages quote at most a field name, never a value, because the value may
// be a secret.
func describeJSONError(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// The decoder's own message quotes the offending character, which
		// could be part of a secret; the offset is enough to find it.
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return "request body must be a JSON object"
		}
		// Every body is a flat object, so the field's JSON name is the
		// last element of the path; the ones before it name embedded Go
		// structs, which mean nothing to the client.
		field := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
		return fmt.Sprintf("field %s must be %s, not %s", quoteShort(field),
			jsonKind(te.Type), firstWord(te.Value))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "malformed JSON: the body ends in the middle of the object"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if field, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return "unknown field " + quoteShort(strings.Trim(field, `"`))
	}
	return "malformed JSON: " + msg
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// firstWord keeps the kind from encoding/json's description of a value
// ("number 1e99" becomes "number") so the value itself is not echoed.
func firstWord(s string) string {
	kind, _, _ := strings.Cut(s, " ")
	return kind
}
