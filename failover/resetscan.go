package failover

import (
	"bytes"
	"encoding/json"
)

// resetFields are the raw reset values found in a JSON error body; an empty
// field was not found.
type resetFields struct {
	resetsIn   string // resets_in_seconds
	resetsAt   string // resets_at
	retryDelay string // Google RetryInfo retryDelay
}

func (f *resetFields) complete() bool {
	return f.resetsIn != "" && f.resetsAt != "" && f.retryDelay != ""
}

// mayHoldResetFields reports whether body names any reset field at all, so
// that the comparatively slow JSON scan is skipped for the many rate-limit
// bodies that carry none.
func mayHoldResetFields(body []byte) bool {
	return bytes.Contains(body, []byte("resets_")) || bytes.Contains(body, []byte("retryDelay"))
}

// jsonContainer is one open object or array during the scan.
type jsonContainer struct {
	object  bool
	wantKey bool // in an object: the next token is a key
}

// scanResetFields finds the first resets_in_seconds, resets_at and
// retryDelay at any depth of a JSON body, in document order. Codex nests
// them under "error" and again inside a WebSocket frame, and Google puts
// retryDelay in error.details[], so the keys are looked for everywhere.
//
// The scan streams tokens rather than decoding into maps, so "first" is
// well defined (map order is random) and a body cut off at MaxBody still
// yields the fields before the cut.
func scanResetFields(body []byte) resetFields {
	var found resetFields
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return found
	}

	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var stack []jsonContainer
	var key string
	for !found.complete() {
		tok, err := dec.Token()
		if err != nil {
			return found
		}

		if delim, ok := tok.(json.Delim); ok && (delim == '}' || delim == ']') {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}

		var top *jsonContainer
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			key, _ = tok.(string)
			top.wantKey = false
			continue
		}

		// tok is a value. Inside an object the token after it (once any
		// nested container has closed) is the next key.
		inObject := top != nil && top.object
		if inObject {
			top.wantKey = true
		}
		switch v := tok.(type) {
		case json.Delim:
			stack = append(stack, jsonContainer{object: v == '{', wantKey: v == '{'})
		case json.Number:
			if inObject {
				found.record(key, v.String())
			}
		case string:
			if inObject {
				found.record(key, v)
			}
		}
	}
	return found
}

// record keeps value for key when key is one of the reset fields and that
// field has not been seen yet.
func (f *resetFields) record(key, value string) {
	var dst *string
	switch key {
	case "resets_in_seconds":
		dst = &f.resetsIn
	case "resets_at":
		dst = &f.resetsAt
	case "retryDelay":
		dst = &f.retryDelay
	default:
		return
	}
	if *dst == "" {
		*dst = value
	}
}
