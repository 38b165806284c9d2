package failover

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// unifiedResetHeader is where Claude subscriptions announce, in epoch
// seconds, when the exhausted unified limit resets.
const unifiedResetHeader = "Anthropic-Ratelimit-Unified-Reset"

// rateLimitCooldown picks the park time of a rate-limited member from the
// first source in SPEC order that names a reset in the future. A source
// that is missing, malformed or already past is skipped rather than
// trusted, so a bad value can neither unpark a member at once nor go
// negative.
func rateLimitCooldown(r Response, now time.Time) time.Duration {
	if d, ok := retryAfter(r.Header, now); ok {
		return d
	}

	// The body is scanned only when the cheap header answer is missing.
	var fields resetFields
	if mayHoldResetFields(r.Body) {
		fields = scanResetFields(r.Body)
	}
	if d, ok := resetsIn(fields.resetsIn); ok {
		return d
	}
	if d, ok := resetsAt(fields.resetsAt, now); ok {
		return d
	}
	if d, ok := unifiedReset(r.Header, now); ok {
		return d
	}
	if d, ok := retryDelay(fields.retryDelay); ok {
		return d
	}
	return DefaultRateLimitCooldown
}

// retryAfter reads Retry-After as delta seconds or as an HTTP-date
// (RFC 9110 section 10.2.3).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, ok := parseSeconds(v); ok {
		return positive(secondsDuration(secs))
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return positive(t.Sub(now))
}

// resetsIn reads a relative reset such as ChatGPT's resets_in_seconds. It is
// preferred over an absolute one because it does not depend on the two
// clocks agreeing.
func resetsIn(v string) (time.Duration, bool) {
	secs, ok := parseSeconds(v)
	if !ok {
		return 0, false
	}
	return positive(secondsDuration(secs))
}

// resetsAt reads an absolute reset in epoch seconds, such as ChatGPT's
// resets_at.
func resetsAt(v string, now time.Time) (time.Duration, bool) {
	secs, ok := parseSeconds(v)
	if !ok {
		return 0, false
	}
	return positive(epochTime(secs).Sub(now))
}

// unifiedReset reads Claude's anthropic-ratelimit-unified-reset header,
// epoch seconds; RFC 3339 is accepted too because Anthropic's other reset
// headers use it.
func unifiedReset(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get(unifiedResetHeader))
	if v == "" {
		return 0, false
	}
	if secs, ok := parseSeconds(v); ok {
		return positive(epochTime(secs).Sub(now))
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, false
	}
	return positive(t.Sub(now))
}

// retryDelay reads a Google RetryInfo delay, a protobuf Duration in its
// JSON form: decimal seconds with an "s" suffix, such as "3.5s".
func retryDelay(v string) (time.Duration, bool) {
	num, ok := strings.CutSuffix(strings.TrimSpace(v), "s")
	if !ok {
		return 0, false
	}
	secs, ok := parseSeconds(num)
	if !ok {
		return 0, false
	}
	return positive(secondsDuration(secs))
}

// parseSeconds reads a finite, non-negative number of seconds, such as "30",
// "3.5" or a JSON number like "1.7e9".
func parseSeconds(v string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

// secondsDuration converts seconds to a Duration, saturating instead of
// overflowing so a huge value stays huge (and is then capped).
func secondsDuration(secs float64) time.Duration {
	ns := secs * float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// epochTime converts epoch seconds to a time, saturating at a date far
// beyond any real reset so the float-to-int conversion cannot overflow.
func epochTime(secs float64) time.Time {
	const farFuture = 1 << 40 // about 36,000 years from 1970
	if secs > farFuture {
		secs = farFuture
	}
	whole, frac := math.Modf(secs)
	return time.Unix(int64(whole), int64(frac*float64(time.Second)))
}

// positive accepts only a reset strictly in the future: zero or negative
// means the source is stale, and the next source (or the default) decides.
func positive(d time.Duration) (time.Duration, bool) {
	return d, d > 0
}

// capCooldown bounds d by maxCooldown when maxCooldown is positive, so one
// upstream's far-future reset cannot park a member for longer than the
// operator allows.
func capCooldown(d, maxCooldown time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	if maxCooldown > 0 && d > maxCooldown {
		return maxCooldown
	}
	return d
}
