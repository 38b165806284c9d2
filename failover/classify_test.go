package failover

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// testNow is the fixed clock of every table: no test reads the real time.
var testNow = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func epoch(d time.Duration) string {
	return strconv.FormatInt(testNow.Add(d).Unix(), 10)
}

func hdr(kv ...string) http.Header {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

const (
	codexUsageLimit = `{"error":{"type":"usage_limit_reached",` +
		`"message":"The usage limit has been reached","plan_type":"plus",` +
		`"resets_at":1796290000,"resets_in_seconds":3600}}`
	googleExhausted = `{"error":{"code":%d,"status":"RESOURCE_EXHAUSTED",` +
		`"message":"You have exhausted your capacity on this model.",` +
		`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",` +
		`"reason":"QUOTA_EXHAUSTED"},` +
		`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3.5s"}]}}`
	openAIQuota = `{"error":{"message":"You exceeded your current quota","type":` +
		`"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	anthropicRateLimit = `{"type":"error","error":{"type":"rate_limit_error",` +
		`"message":"Rate limited"},"request_id":"req_1"}`
)

// atToken is an answer from the member's token endpoint.
func atToken(status int, body string) Response {
	return Response{Status: status, AtTokenURL: true, Body: []byte(body)}
}

func httpDate(d time.Duration) string {
	return testNow.Add(d).Format(http.TimeFormat)
}

func google(status int) string {
	return fmt.Sprintf(googleExhausted, status)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name        string
		resp        Response
		maxCooldown time.Duration
		wantKind    Kind
		wantTag     string
		wantCool    time.Duration
	}{
		// Rate limits and their cooldown sources, in SPEC order.
		{
			name:     "plain 429 parks for the default minute",
			resp:     Response{Status: 429},
			wantKind: RateLimited, wantTag: "429", wantCool: 60 * time.Second,
		},
		{
			name:     "429 with Retry-After seconds parks that long",
			resp:     Response{Status: 429, Header: hdr("Retry-After", "1")},
			wantKind: RateLimited, wantTag: "429", wantCool: time.Second,
		},
		{
			name: "429 with Retry-After HTTP-date parks until that date",
			resp: Response{Status: 429, Header: hdr("Retry-After",
				httpDate(90*time.Second))},
			wantKind: RateLimited, wantTag: "429", wantCool: 90 * time.Second,
		},
		{
			name:     "429 Codex body prefers resets_in_seconds over resets_at",
			resp:     Response{Status: 429, Body: []byte(codexUsageLimit)},
			wantKind: RateLimited, wantTag: "429", wantCool: time.Hour,
		},
		{
			name: "429 Codex body with only resets_at parks until then",
			resp: Response{Status: 429, Body: []byte(
				`{"error":{"type":"usage_limit_reached","resets_at":` +
					epoch(30*time.Minute) + `}}`)},
			wantKind: RateLimited, wantTag: "429", wantCool: 30 * time.Minute,
		},
		{
			name: "429 reset fields given as strings are read",
			resp: Response{Status: 429, Body: []byte(
				`{"error":{"resets_in_seconds":"120","resets_at":"` + epoch(time.Hour) + `"}}`)},
			wantKind: RateLimited, wantTag: "429", wantCool: 2 * time.Minute,
		},
		{
			name: "429 Codex WebSocket error frame is searched at depth",
			resp: Response{Status: 429, Body: []byte(
				`{"type":"error","status_code":429,` +
					`"error":{"type":"usage_limit_reached","resets_in_seconds":900},` +
					`"headers":{"x-codex-primary-used-percent":"100.0"}}`)},
			wantKind: RateLimited, wantTag: "429", wantCool: 15 * time.Minute,
		},
		{
			name: "Retry-After wins over the body",
			resp: Response{
				Status: 429, Header: hdr("Retry-After", "5"),
				Body: []byte(codexUsageLimit),
			},
			wantKind: RateLimited, wantTag: "429", wantCool: 5 * time.Second,
		},
		{
			name: "malformed Retry-After falls through to the body",
			resp: Response{
				Status: 429, Header: hdr("Retry-After", "soon"),
				Body: []byte(codexUsageLimit),
			},
			wantKind: RateLimited, wantTag: "429", wantCool: time.Hour,
		},
		{
			name: "429 Claude unified reset header parks until the reset",
			resp: Response{
				Status: 429,
				Header: hdr("anthropic-ratelimit-unified-status", "rejected",
					"anthropic-ratelimit-unified-reset", epoch(5*time.Hour)),
				Body: []byte(anthropicRateLimit),
			},
			wantKind: RateLimited, wantTag: "429", wantCool: 5 * time.Hour,
		},
		{
			name:     "Google 429 RESOURCE_EXHAUSTED uses retryDelay",
			resp:     Response{Status: 429, Body: []byte(google(429))},
			wantKind: RateLimited, wantTag: "429", wantCool: 3500 * time.Millisecond,
		},
		{
			name:     "Google 403 RESOURCE_EXHAUSTED is a quota answer with retryDelay",
			resp:     Response{Status: 403, Body: []byte(google(403))},
			wantKind: RateLimited, wantTag: "403", wantCool: 3500 * time.Millisecond,
		},
		{
			name:     "403 insufficient_quota parks for the default minute",
			resp:     Response{Status: 403, Body: []byte(openAIQuota)},
			wantKind: RateLimited, wantTag: "403", wantCool: 60 * time.Second,
		},
		{
			name:     "403 without quota words is a permission problem, not the account's",
			resp:     Response{Status: 403, Body: []byte(`{"error":{"type":"permission_error"}}`)},
			wantKind: None,
		},
		{
			name:     "429 at the token URL is still a rate limit",
			resp:     atToken(429, `{"error":"slow_down"}`),
			wantKind: RateLimited, wantTag: "429", wantCool: 60 * time.Second,
		},

		// Auth failures.
		{
			name:     "401 not at the token URL is an auth failure",
			resp:     Response{Status: 401, Body: []byte(`{"error":{"code":"token_expired"}}`)},
			wantKind: AuthFailure, wantTag: "401", wantCool: 300 * time.Second,
		},
		{
			name:     "401 at the token URL without a grant error keeps the 401 tag",
			resp:     atToken(401, `{"error":"invalid_client"}`),
			wantKind: AuthFailure, wantTag: "401", wantCool: 300 * time.Second,
		},
		{
			name:     "400 invalid_grant at the token URL is an auth failure",
			resp:     atToken(400, `{"error":"invalid_grant"}`),
			wantKind: AuthFailure, wantTag: "invalid_grant", wantCool: 300 * time.Second,
		},
		{
			name: "401 at the token URL naming invalid_grant takes the precise tag",
			resp: Response{Status: 401, AtTokenURL: true,
				Body: []byte(`{"error":"invalid_grant","error_description":"revoked"}`)},
			wantKind: AuthFailure, wantTag: "invalid_grant", wantCool: 300 * time.Second,
		},
		{
			name: "ChatGPT nested refresh_token_reused counts as invalid_grant",
			resp: Response{Status: 401, AtTokenURL: true,
				Body: []byte(`{"error":{"code":"refresh_token_reused","message":"x"}}`)},
			wantKind: AuthFailure, wantTag: "invalid_grant", wantCool: 300 * time.Second,
		},
		{
			name: "form-encoded invalid_token at the token URL is an auth failure",
			resp: Response{Status: 400, AtTokenURL: true,
				Body: []byte(`error=invalid_token&error_description=gone`)},
			wantKind: AuthFailure, wantTag: "invalid_token", wantCool: 300 * time.Second,
		},
		{
			name:     "400 invalid_grant not at the token URL says nothing about the account",
			resp:     Response{Status: 400, Body: []byte(`{"error":"invalid_grant"}`)},
			wantKind: None,
		},
		{
			name:     "400 invalid_request at the token URL is not an account failure",
			resp:     atToken(400, `{"error":"invalid_request"}`),
			wantKind: None,
		},

		// Statuses that never classify.
		{
			name:     "500 with quota words is the provider's problem",
			resp:     Response{Status: 500, Body: []byte(openAIQuota)},
			wantKind: None,
		},
		{
			name:     "503 overloaded is the provider's problem",
			resp:     Response{Status: 503, Body: []byte(`{"error":{"code":"slow_down"}}`)},
			wantKind: None,
		},
		{
			name:     "529 Anthropic overloaded is the provider's problem",
			resp:     Response{Status: 529, Header: hdr("Retry-After", "3")},
			wantKind: None,
		},
		{
			name:     "200 with quota words is a success",
			resp:     Response{Status: 200, Body: []byte(openAIQuota + " quota exhausted")},
			wantKind: None,
		},
		{
			name:     "200 at the token URL with invalid_grant words is a success",
			resp:     atToken(200, `"invalid_grant"`),
			wantKind: None,
		},
		{
			name:     "302 is not classified",
			resp:     Response{Status: 302, Header: hdr("Retry-After", "10")},
			wantKind: None,
		},
		{
			name:     "404 is not classified",
			resp:     Response{Status: 404, Body: []byte(openAIQuota)},
			wantKind: None,
		},

		// Caps and stale resets.
		{
			name:        "a long reset is capped at maxCooldown",
			resp:        Response{Status: 429, Body: []byte(codexUsageLimit)},
			maxCooldown: 15 * time.Minute,
			wantKind:    RateLimited, wantTag: "429", wantCool: 15 * time.Minute,
		},
		{
			name:        "the auth cooldown is capped at maxCooldown",
			resp:        Response{Status: 401},
			maxCooldown: time.Minute,
			wantKind:    AuthFailure, wantTag: "401", wantCool: time.Minute,
		},
		{
			name:        "a reset shorter than maxCooldown is kept",
			resp:        Response{Status: 429, Header: hdr("Retry-After", "1")},
			maxCooldown: time.Minute,
			wantKind:    RateLimited, wantTag: "429", wantCool: time.Second,
		},
		{
			name:     "without maxCooldown a day-long reset is kept",
			resp:     Response{Status: 429, Body: []byte(`{"resets_in_seconds":86400}`)},
			wantKind: RateLimited, wantTag: "429", wantCool: 24 * time.Hour,
		},
		{
			name: "resets_at in the past falls back to the default",
			resp: Response{Status: 429, Body: []byte(
				`{"error":{"resets_at":` + epoch(-time.Hour) + `}}`)},
			wantKind: RateLimited, wantTag: "429", wantCool: 60 * time.Second,
		},
		{
			name: "Retry-After date in the past falls back to the default",
			resp: Response{Status: 429, Header: hdr("Retry-After",
				httpDate(-time.Minute))},
			wantKind: RateLimited, wantTag: "429", wantCool: 60 * time.Second,
		},
		{
			name:     "Retry-After zero falls back to the default",
			resp:     Response{Status: 429, Header: hdr("Retry-After", "0")},
			wantKind: RateLimited, wantTag: "429", wantCool: 60 * time.Second,
		},
		{
			name:     "negative resets_in_seconds falls back to the default",
			resp:     Response{Status: 429, Body: []byte(`{"resets_in_seconds":-5}`)},
			wantKind: RateLimited, wantTag: "429", wantCool: 60 * time.Second,
		},
		{
			name: "stale unified reset header falls back to the default",
			resp: Response{Status: 429, Header: hdr(
				"anthropic-ratelimit-unified-reset", epoch(-time.Second))},
			wantKind: RateLimited, wantTag: "429", wantCool: 60 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.resp, testNow, tt.maxCooldown)
			if got.Kind != tt.wantKind || got.Tag != tt.wantTag || got.Cooldown != tt.wantCool {
				t.Fatalf("Classify = {%v %q %v}, want {%v %q %v}",
					got.Kind, got.Tag, got.Cooldown, tt.wantKind, tt.wantTag, tt.wantCool)
			}
			wantUntil := time.Time{}
			if tt.wantKind != None {
				wantUntil = testNow.Add(tt.wantCool)
			}
			if !got.Until.Equal(wantUntil) {
				t.Fatalf("Until = %v, want %v", got.Until, wantUntil)
			}
		})
	}
}

func TestClassifyIgnoresBodyPastMaxBody(t *testing.T) {
	body := make([]byte, MaxBody+100)
	for i := range body {
		body[i] = ' '
	}
	copy(body[MaxBody:], "insufficient_quota")
	got := Classify(Response{Status: 403, Body: body}, testNow, 0)
	if got.Kind != None {
		t.Fatalf("quota word past MaxBody classified as %v, want None", got.Kind)
	}
}

func TestNeedsBody(t *testing.T) {
	tests := []struct {
		status     int
		atTokenURL bool
		want       bool
	}{
		{200, false, false},
		{200, true, false},
		{302, true, false},
		{400, false, false},
		{400, true, true},
		{401, false, false},
		{401, true, true},
		{403, false, true},
		{404, true, true},
		{429, false, true},
		{499, true, true},
		{500, true, false},
		{503, false, false},
	}
	for _, tt := range tests {
		if got := NeedsBody(tt.status, tt.atTokenURL); got != tt.want {
			t.Errorf("NeedsBody(%d, %v) = %v, want %v", tt.status, tt.atTokenURL, got, tt.want)
		}
	}
}

func TestNeedsBodyCoversEveryBodyDependentVerdict(t *testing.T) {
	// Whatever Classify decides with a body, it must decide the same without
	// one whenever NeedsBody says the body is not needed.
	bodies := []string{openAIQuota, google(403), `{"error":"invalid_grant"}`, codexUsageLimit}
	for status := 100; status < 600; status++ {
		for _, atToken := range []bool{false, true} {
			if NeedsBody(status, atToken) {
				continue
			}
			bare := Classify(Response{Status: status, AtTokenURL: atToken}, testNow, 0)
			for _, b := range bodies {
				r := Response{Status: status, AtTokenURL: atToken, Body: []byte(b)}
				if got := Classify(r, testNow, 0); got != bare {
					t.Fatalf("status %d token %v: body changed verdict %+v -> %+v",
						status, atToken, bare, got)
				}
			}
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		None: "none", RateLimited: "rate_limited", AuthFailure: "auth_failure", Kind(9): "unknown",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
