package failover

// quotaMarkers are the words, matched case-insensitively anywhere in a 403
// body, that make it a quota answer rather than a permission one. They cover
// the OpenAI platform and ChatGPT error types, Google RPC statuses and
// ErrorInfo reasons, and Gemini's prose.
var quotaMarkers = []string{
	"insufficient_quota",
	"quota_exceeded",
	"usage_limit_reached",
	"rate_limit_exceeded",
	"quota_exhausted",
	"resource_exhausted",
	"quota exhausted",
	"exhausted your capacity",
}

// invalidGrantMarkers name a refresh token that will never work again: the
// RFC 6749 error code, and the nested codes ChatGPT sends in its place.
var invalidGrantMarkers = []string{
	"invalid_grant",
	"refresh_token_expired",
	"refresh_token_reused",
	"refresh_token_invalidated",
}

// saysQuota reports whether a body carries one of the quota markers.
func saysQuota(body []byte) bool {
	for _, m := range quotaMarkers {
		if containsFold(body, m) {
			return true
		}
	}
	return false
}

// grantErrorTag returns "invalid_grant" or "invalid_token" when a token
// endpoint body names that error, else "". Substring matching accepts the
// JSON error object, a form-encoded error and the nested ChatGPT shape alike.
func grantErrorTag(body []byte) string {
	for _, m := range invalidGrantMarkers {
		if containsFold(body, m) {
			return "invalid_grant"
		}
	}
	if containsFold(body, "invalid_token") {
		return "invalid_token"
	}
	return ""
}

// containsFold reports whether s contains needle, ignoring ASCII case.
// needle must be lower-case ASCII. It does not allocate, since it runs on
// every 403 the proxy sees.
func containsFold(s []byte, needle string) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != needle[0] {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
