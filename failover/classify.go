package failover

import (
	"net/http"
	"time"
)

// MaxBody is the most of a response body, in decoded bytes, that
// classification looks at. Error bodies are a few hundred bytes; the bound
// keeps a hostile or streaming upstream from making the proxy buffer more.
const MaxBody = 64 << 10

// DefaultRateLimitCooldown is how long a rate-limited member is parked when
// the answer carries no usable reset time.
const DefaultRateLimitCooldown = 60 * time.Second

// AuthFailureCooldown is how long a member is parked after an auth failure.
// Credentials rarely heal on their own, but a fixed park lets an operator's
// re-login take effect without a restart.
const AuthFailureCooldown = 300 * time.Second

// Kind is what an upstream answer says about the account that served it.
type Kind int

const (
	// None means the answer says nothing about the account: it succeeded, or
	// it failed for a reason that another account would not fix.
	None Kind = iota
	// RateLimited means the account has run out of requests or quota for now
	// and should be parked until its limit resets.
	RateLimited
	// AuthFailure means the account's credentials were refused, so requests
	// must move to another member while the operator looks at this one.
	AuthFailure
)

// String returns the lower-case name of the kind, for logs.
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case RateLimited:
		return "rate_limited"
	case AuthFailure:
		return "auth_failure"
	}
	return "unknown"
}

// Verdict is the outcome of classifying one upstream answer.
type Verdict struct {
	// Kind is what the answer says about the account.
	Kind Kind
	// Tag is the short reason the notices are built from: "429", "403",
	// "401", "invalid_grant" or "invalid_token"; empty when Kind is None.
	Tag string
	// Cooldown is how long to park the member; 0 when Kind is None.
	Cooldown time.Duration
	// Until is now plus Cooldown; the zero time when Kind is None.
	Until time.Time
}

// Response is the part of an upstream answer that classification needs.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Header holds the response headers; nil is treated as empty.
	Header http.Header
	// Body is the decoded body, at most MaxBody bytes (see ReadBody); bytes
	// past MaxBody are ignored. It may be empty when NeedsBody said no.
	Body []byte
	// AtTokenURL reports whether the request went to the member's OAuth
	// token endpoint, where RFC 6749 grant errors mean the account is dead.
	AtTokenURL bool
}

// Classify decides what r means for the member that served it, following
// SPEC section 8. The cooldown of a rate limit comes from the answer when it
// names a reset time; every cooldown is capped at maxCooldown when
// maxCooldown is positive, and it is never negative.
//
// A 401 for an access token the caller already knows to be expired is a
// reason to refresh, not an account failure; the caller must not pass such
// an answer here.
func Classify(r Response, now time.Time, maxCooldown time.Duration) Verdict {
	if len(r.Body) > MaxBody {
		r.Body = r.Body[:MaxBody]
	}

	kind, tag := classifyKind(r)
	var cooldown time.Duration
	switch kind {
	case RateLimited:
		cooldown = rateLimitCooldown(r, now)
	case AuthFailure:
		cooldown = AuthFailureCooldown
	default:
		return Verdict{}
	}

	cooldown = capCooldown(cooldown, maxCooldown)
	return Verdict{Kind: kind, Tag: tag, Cooldown: cooldown, Until: now.Add(cooldown)}
}

// classifyKind finds the kind and tag of r from its status and body.
func classifyKind(r Response) (Kind, string) {
	// Only client errors speak about the account: a 5xx is the provider's
	// problem and would hit every member alike.
	if r.Status < 400 || r.Status > 499 {
		return None, ""
	}
	if r.Status == http.StatusTooManyRequests {
		return RateLimited, "429"
	}

	// At the token endpoint the grant error is the more precise reason, so
	// it wins over a bare 401.
	if r.AtTokenURL {
		if tag := grantErrorTag(r.Body); tag != "" {
			return AuthFailure, tag
		}
	}

	switch r.Status {
	case http.StatusUnauthorized:
		return AuthFailure, "401"
	case http.StatusForbidden:
		// A 403 is usually a permission problem every member shares; only
		// one that says quota is about this account.
		if saysQuota(r.Body) {
			return RateLimited, "403"
		}
	}
	return None, ""
}

// NeedsBody reports whether Classify needs the body of an answer with this
// status, so the proxy reads (and buffers) bodies only when it must: a 403
// is judged by its words, a 429 may carry its reset time in the body, and a
// client error at the token URL may name a grant error.
func NeedsBody(status int, atTokenURL bool) bool {
	switch {
	case status == http.StatusForbidden, status == http.StatusTooManyRequests:
		return true
	case atTokenURL && status >= 400 && status <= 499:
		return true
	}
	return false
}
