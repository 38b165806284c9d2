//go:build clients

package clients

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// claudeClientID is the OAuth client of Claude Code.
const claudeClientID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"

// claudeScopes are the scopes a refreshed Claude Code login holds.
const claudeScopes = "user:profile user:inference user:sessions:claude_code user:mcp_servers " +
	"user:file_upload user:plugins"

// serveAnthropic answers api.anthropic.com: /v1/messages as SSE or JSON,
// 429 with the unified rate-limit headers for an account at its limit, and
// 404 for everything else.
func (f *fake) serveAnthropic(w http.ResponseWriter, r *http.Request, rec *record) {
	if r.URL.Path == "/api/oauth/profile" && r.Method == http.MethodGet {
		f.serveClaudeProfile(w, r, rec)
		return
	}
	if r.URL.Path != "/v1/messages" || r.Method != http.MethodPost {
		f.bearer(r, rec)
		notFound(w)
		return
	}
	a, ok := f.bearer(r, rec)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"type": "error",
			"error": map[string]any{
				"type":    "authentication_error",
				"message": "OAuth token has expired.",
			},
		})
		return
	}
	status, limit := f.next(a)
	switch {
	case status != 0 && status != http.StatusOK:
		writeFailure(w, a, status)
		return
	case limit != limitNone:
		writeRejected(w)
		return
	}
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	json.Unmarshal(rec.Body, &req)
	if req.Model == "" {
		req.Model = "claude-sonnet-4-5"
	}
	w.Header().Set("anthropic-ratelimit-unified-status", "allowed")
	id := "msg_" + strings.ToLower(a.name) + "_" + randomHex(6)
	usage := map[string]any{
		"input_tokens": 10, "output_tokens": 5,
		"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "type": "message",
			"role": "assistant", "model": req.Model,
			"content":     []map[string]any{{"type": "text", "text": a.answer}},
			"stop_reason": "end_turn", "stop_sequence": nil, "usage": usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	events := []map[string]any{
		{"type": "message_start", "message": map[string]any{
			"id": id, "type": "message",
			"role": "assistant", "model": req.Model, "content": []any{},
			"stop_reason": nil, "stop_sequence": nil, "usage": usage,
		}},
		{
			"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "text", "text": ""},
		},
		{
			"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": a.answer},
		},
		{"type": "content_block_stop", "index": 0},
		{"type": "message_delta", "delta": map[string]any{
			"stop_reason":   "end_turn",
			"stop_sequence": nil,
		}, "usage": map[string]any{"output_tokens": 5}},
		{"type": "message_stop"},
	}
	for _, ev := range events {
		raw, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], raw)
	}
}

// serveClaudeAuth answers platform.claude.com's token endpoint: a JSON
// refresh grant rotates both tokens and, like the real one, names the
// account.
func (f *fake) serveClaudeAuth(w http.ResponseWriter, r *http.Request, rec *record) {
	if r.URL.Path != "/v1/oauth/token" || r.Method != http.MethodPost {
		notFound(w)
		return
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		RefreshToken string `json:"refresh_token"`
		ClientID     string `json:"client_id"`
	}
	if json.Unmarshal(rec.Body, &req) != nil || req.GrantType != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	a, ok := f.byRefresh(req.RefreshToken, rec)
	if !ok || req.ClientID != claudeClientID {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":             "invalid_grant",
			"error_description": "Invalid refresh token",
		})
		return
	}
	f.mu.Lock()
	f.rotate(a)
	out := map[string]any{
		"token_type": "Bearer", "access_token": a.access,
		"refresh_token": a.refresh, "expires_in": 28800, "scope": claudeScopes,
		"account": map[string]any{"uuid": a.accountID, "email_address": a.email},
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// serveClaudeProfile answers the OAuth profile Claude Code fetches after a
// login or refresh. It names the account by its real id, which latchkey
// must map to the pool's phantom id on the way back.
func (f *fake) serveClaudeProfile(w http.ResponseWriter, r *http.Request, rec *record) {
	a, ok := f.bearer(r, rec)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"type": "error",
			"error": map[string]any{
				"type":    "authentication_error",
				"message": "OAuth token has expired.",
			},
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"account": map[string]any{
			"uuid": a.accountID, "email": a.email,
			"full_name": "Test " + a.name, "display_name": a.name, "has_claude_max": true,
			"has_claude_pro": false,
		},
		"organization": map[string]any{
			"uuid": "org-shared-test-organization",
			"name": "Test organization", "organization_type": "claude_max",
			"rate_limit_tier": "default_claude_max_20x", "has_extra_usage_enabled": false,
		},
	})
}

// writeRejected is Anthropic's answer to a subscription at its usage
// limit: 429 with the unified rate-limit status "rejected", which Claude
// Code treats as final.
func writeRejected(w http.ResponseWriter) {
	reset := time.Now().Add(3 * time.Hour).Unix()
	w.Header().Set("anthropic-ratelimit-unified-status", "rejected")
	w.Header().Set("anthropic-ratelimit-unified-reset", fmt.Sprint(reset))
	w.Header().Set("anthropic-ratelimit-unified-representative-claim", "five_hour")
	w.Header().Set("anthropic-ratelimit-unified-5h-status", "rejected")
	w.Header().Set("anthropic-ratelimit-unified-5h-reset", fmt.Sprint(reset))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": "rate_limit_error", "message": "Rate limited"},
		"request_id": "req_" + randomHex(8),
	})
}
