//go:build clients

package clients

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// codexClientID is the OAuth client of the Codex CLI.
const codexClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

// maxSocketMessages bounds the messages the fake reads on one WebSocket.
const maxSocketMessages = 1000

// serveChatGPT answers the ChatGPT backend: the workspace check, the Codex
// responses endpoint over WebSocket and SSE, and 404 for everything else.
func (f *fake) serveChatGPT(w http.ResponseWriter, r *http.Request, rec *record) {
	switch r.URL.Path {
	case "/backend-api/wham/accounts/check":
		a, ok := f.chatGPTAccount(w, r, rec)
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"accounts": []map[string]any{{
				"id": a.accountID, "name": nil, "plan_type": "plus", "structure": "personal",
				"profile_picture_url": nil, "workspace_backend_origin": "NO_CONSTRAINT",
				"account_routing_override": "NO_CONSTRAINT",
			}},
			"account_ordering":   []string{a.accountID},
			"default_account_id": a.accountID,
		})
	case "/backend-api/codex/responses":
		a, ok := f.chatGPTAccount(w, r, rec)
		if !ok {
			return
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			f.serveCodexSocket(w, r, rec, a)
			return
		}
		if r.Method != http.MethodPost {
			notFound(w)
			return
		}
		switch status, limit := f.next(a); {
		case status != 0 && status != http.StatusOK:
			writeFailure(w, a, status)
		case limit != limitNone:
			writeUsageLimit(w)
		default:
			f.serveCodexSSE(w, a)
		}
	default:
		f.bearer(r, rec) // attribution only
		notFound(w)
	}
}

// chatGPTAccount authenticates a ChatGPT backend request like the real one:
// a current access token, and a ChatGPT-Account-Id that is that account's.
func (f *fake) chatGPTAccount(w http.ResponseWriter, r *http.Request, rec *record) (*account, bool) {
	a, ok := f.bearer(r, rec)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"message": "Provided authentication token is expired. Please try signing in again.",
			"type":    nil, "code": "token_expired", "param": nil,
		}, "status": 401})
		return nil, false
	}
	if got := r.Header.Get("ChatGPT-Account-Id"); got != a.accountID {
		f.note(rec, "ChatGPT-Account-Id %q is not the account's", got)
		writeJSON(w, http.StatusForbidden, map[string]any{"detail": "account mismatch"})
		return nil, false
	}
	return a, true
}

// usageLimit is ChatGPT's usage-limit error object.
func usageLimit() map[string]any {
	return map[string]any{
		"type":      "usage_limit_reached",
		"message":   "The usage limit has been reached",
		"plan_type": "plus", "resets_at": time.Now().Add(time.Hour).Unix(),
		"resets_in_seconds": 3600,
	}
}

func writeUsageLimit(w http.ResponseWriter) {
	w.Header().Set("x-codex-primary-used-percent", "100.0")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": usageLimit()})
}

// codexResponseID names the response to an account's nth request on a
// connection. Ids repeat across connections; the connection check uses
// them only within one.
func codexResponseID(a *account, n int) string {
	return fmt.Sprintf("resp_%s_%d", strings.ToLower(a.name), n)
}

// codexEvents are the events that answer one response.create: created,
// the assistant's message unless the request only prewarms, completed.
func codexEvents(a *account, n int, generate bool) []map[string]any {
	id := codexResponseID(a, n)
	events := []map[string]any{{
		"type":     "response.created",
		"response": map[string]any{"id": id},
	}}
	if generate {
		events = append(events, map[string]any{
			"type":         "response.output_item.done",
			"output_index": 0, "item": map[string]any{
				"type": "message", "role": "assistant",
				"id": fmt.Sprintf("msg_%s_%d", strings.ToLower(a.name), n), "status": "completed",
				"content": []map[string]any{{
					"type": "output_text", "text": a.answer,
					"annotations": []any{},
				}},
			},
		})
	}
	events = append(events, map[string]any{
		"type": "response.completed",
		"response": map[string]any{"id": id, "usage": map[string]any{
			"input_tokens": 10, "input_tokens_details": nil, "output_tokens": 5,
			"output_tokens_details": nil, "total_tokens": 15,
		}},
	})
	return events
}

// serveCodexSocket is the responses WebSocket. An account at its usage
// limit answers the upgrade with 429 (limitHTTP), or accepts it and answers
// every response.create (limitInBand) or every one but the prewarm
// (limitInBandTurn) with the in-band error message. Like the real one it
// refuses to continue from a response another connection made.
func (f *fake) serveCodexSocket(w http.ResponseWriter, r *http.Request, rec *record, a *account) {
	f.mu.Lock()
	refused := f.noWebSocket
	f.mu.Unlock()
	if refused {
		notFound(w)
		return
	}
	status, limit := f.next(a)
	if status != 0 && status != http.StatusOK {
		writeFailure(w, a, status)
		return
	}
	if limit == limitHTTP {
		writeUsageLimit(w)
		return
	}
	if ext := r.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		f.note(rec, "extensions offered: %s", ext)
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		f.note(rec, "accept: %v", err)
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(maxRecordedBody)
	ctx := f.ctx
	var made []string // the responses this connection produced
	for n := 1; n <= maxSocketMessages; n++ {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		f.mu.Lock()
		rec.Frames = append(rec.Frames, string(data))
		f.mu.Unlock()
		if typ != websocket.MessageText {
			continue
		}
		var msg struct {
			Type     string `json:"type"`
			Generate *bool  `json:"generate"`
			Previous string `json:"previous_response_id"`
		}
		if json.Unmarshal(data, &msg) != nil || msg.Type != "response.create" {
			continue
		}
		generate := msg.Generate == nil || *msg.Generate
		// With store:false a response lives only in the memory of the
		// connection that made it: another connection, let alone another
		// account, cannot continue from it.
		if msg.Previous != "" && !slices.Contains(made, msg.Previous) {
			f.note(rec, "previous_response_id %s is not from this connection", msg.Previous)
			frame, _ := json.Marshal(map[string]any{
				"type": "error", "status_code": 400,
				"error": map[string]any{
					"type":    "invalid_request_error",
					"code":    "previous_response_not_found",
					"message": fmt.Sprintf("Previous response with id '%s' not found.", msg.Previous),
					"param":   "previous_response_id",
				},
			})
			if c.Write(ctx, websocket.MessageText, frame) != nil {
				return
			}
			continue
		}
		if limit == limitInBand || (limit == limitInBandTurn && generate) {
			frame, _ := json.Marshal(map[string]any{
				"type": "error", "status_code": 429,
				"error": usageLimit(), "headers": map[string]string{
					"x-codex-primary-used-percent":   "100.0",
					"x-codex-primary-window-minutes": "300",
				},
			})
			if c.Write(ctx, websocket.MessageText, frame) != nil {
				return
			}
			continue
		}
		made = append(made, codexResponseID(a, n))
		for _, ev := range codexEvents(a, n, generate) {
			raw, _ := json.Marshal(ev)
			if c.Write(ctx, websocket.MessageText, raw) != nil {
				return
			}
		}
	}
}

// refuseWebSockets makes every Codex WebSocket upgrade fail with 404.
func (f *fake) refuseWebSockets() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noWebSocket = true
}

// serveCodexSSE answers the POST fallback of the responses endpoint.
func (f *fake) serveCodexSSE(w http.ResponseWriter, a *account) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, ev := range codexEvents(a, 0, true) {
		raw, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], raw)
	}
}

// serveOpenAIAuth answers auth.openai.com: refresh grants (JSON), the
// device-code login and its authorization-code exchange (form).
func (f *fake) serveOpenAIAuth(w http.ResponseWriter, r *http.Request, rec *record) {
	if r.Method != http.MethodPost {
		notFound(w)
		return
	}
	switch r.URL.Path {
	case "/oauth/token":
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			f.openAIRefresh(w, rec)
			return
		}
		f.deviceExchange(w, rec)
	case "/api/accounts/deviceauth/usercode":
		f.deviceUserCode(w, rec)
	case "/api/accounts/deviceauth/token":
		f.devicePoll(w, rec)
	default:
		notFound(w)
	}
}

// openAIRefresh performs a JSON refresh grant, rotating both tokens and
// answering a new id token, as auth.openai.com does.
func (f *fake) openAIRefresh(w http.ResponseWriter, rec *record) {
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
	if !ok {
		code := "refresh_token_invalidated"
		if rec.Stale {
			code = "refresh_token_reused"
		}
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"code": code, "message": "Your refresh token could not be used.",
		}})
		return
	}
	f.mu.Lock()
	f.rotate(a)
	out := map[string]any{
		"id_token": a.idToken, "access_token": a.access,
		"refresh_token": a.refresh, "expires_in": 864000,
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// deviceLogin is the state of one `codex login --device-auth`.
type deviceLogin struct {
	deviceAuthID string
	userCode     string
	authCode     string
	verifier     string
	challenge    string

	// pending is how many polls answer "pending" before the code.
	pending int
	polls   int

	// account is who logs in. It is no pool member: its tokens are the
	// client's own and reach it as the upstream sent them.
	account *account
}

// startDeviceLogin prepares a device login for a new account.
func (f *fake) startDeviceLogin(name string, pending int) *deviceLogin {
	a := f.addAccount(name, providerOpenAI)
	d := &deviceLogin{
		deviceAuthID: "deviceauth_" + randomHex(8),
		userCode:     strings.ToUpper(randomHex(2) + "-" + randomHex(2)),
		authCode:     "ac_" + randomHex(16), verifier: randomHex(32), challenge: randomHex(16),
		pending: pending, account: a,
	}
	f.mu.Lock()
	f.device = d
	f.mu.Unlock()
	return d
}

// restartDeviceLogin lets the same login run again from the start.
func (f *fake) restartDeviceLogin() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.device.polls = 0
}

func (f *fake) deviceUserCode(w http.ResponseWriter, rec *record) {
	var req struct {
		ClientID string `json:"client_id"`
	}
	f.mu.Lock()
	d := f.device
	f.mu.Unlock()
	if d == nil || json.Unmarshal(rec.Body, &req) != nil || req.ClientID != codexClientID {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"device_auth_id": d.deviceAuthID,
		"user_code":      d.userCode, "interval": "1",
	})
}

func (f *fake) devicePoll(w http.ResponseWriter, rec *record) {
	var req struct {
		DeviceAuthID string `json:"device_auth_id"`
		UserCode     string `json:"user_code"`
	}
	f.mu.Lock()
	d := f.device
	f.mu.Unlock()
	if d == nil || json.Unmarshal(rec.Body, &req) != nil || req.DeviceAuthID != d.deviceAuthID ||
		req.UserCode != d.userCode {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	f.mu.Lock()
	d.polls++
	pending := d.polls <= d.pending
	f.mu.Unlock()
	if pending {
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
			"message": "Device authorization is pending", "code": "deviceauth_authorization_pending",
		}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"authorization_code": d.authCode,
		"code_challenge":     d.challenge, "code_verifier": d.verifier,
	})
}

// deviceExchange is the form authorization_code exchange that ends a
// device login.
func (f *fake) deviceExchange(w http.ResponseWriter, rec *record) {
	form, err := url.ParseQuery(string(rec.Body))
	f.mu.Lock()
	d := f.device
	f.mu.Unlock()
	if err != nil || d == nil || form.Get("grant_type") != "authorization_code" ||
		form.Get("code") != d.authCode || form.Get("code_verifier") != d.verifier ||
		form.Get("client_id") != codexClientID {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
		return
	}
	f.mu.Lock()
	a := d.account
	rec.Account = a.name
	out := map[string]any{
		"id_token": a.idToken, "access_token": a.access,
		"refresh_token": a.refresh, "expires_in": 864000,
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
