package oauth

import "strings"

// formType is the media type of HTML form bodies, which Gemini CLI uses
// for refresh requests and GitHub uses for token responses.
const formType = "application/x-www-form-urlencoded"

// mediaType returns the lower-case media type of a Content-Type value,
// without parameters. It does not reject malformed parameters: only the
// type matters here, and a charset we do not read must not turn a body we
// understand into one we skip.
func mediaType(contentType string) string {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.ToLower(strings.TrimSpace(contentType))
}

// isJSONType reports whether a media type is JSON: application/json or
// any structured-syntax type with the +json suffix (RFC 6839).
func isJSONType(mt string) bool {
	if mt == "application/json" {
		return true
	}
	slash := strings.IndexByte(mt, '/')
	return slash > 0 && strings.HasSuffix(mt[slash+1:], "+json") && len(mt[slash+1:]) > 5
}
