// Package telegramtest is a fake Telegram Bot API server for tests of the
// telegram app. It implements the methods the bot calls (getMe,
// getUpdates with offsets, sendMessage, deleteMessage, setMyCommands),
// records what the bot sent, and lets a test play users by queueing
// messages.
//
// Like Telegram, it answers 409 Conflict to a getUpdates that overlaps
// another one on the same token, and counts those conflicts, so a test can
// prove that only one poller ever ran.
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BotUsername is the username getMe reports.
const BotUsername = "latchkey_test_bot"

// Sent is a message the bot sent with sendMessage.
type Sent struct {
	// Token is the bot token the request used.
	Token string

	// ChatID is the chat the message went to.
	ChatID int64

	// MessageID is the id the server gave the message.
	MessageID int

	// Text is the message text as sent (HTML source in HTML mode).
	Text string

	// ParseMode is the parse_mode parameter, "" for plain text.
	ParseMode string

	// ForceReply is set when the message asks the chat to reply to it.
	ForceReply bool
}

// Deleted is a message the bot deleted.
type Deleted struct {
	// ChatID and MessageID identify the message.
	ChatID    int64
	MessageID int
}

// Command is an entry of a command menu set with setMyCommands.
type Command struct {
	// Command is the command without its slash.
	Command string `json:"command"`

	// Description is what the menu shows.
	Description string `json:"description"`
}

// Server is the fake Bot API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to configure as api_url.
	URL string

	srv *httptest.Server

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever state changes
	updates   []update      // not yet confirmed by an offset
	nextID    int           // update ids
	nextMsg   int           // message ids
	confirmed int           // highest update id confirmed by an offset
	polling   map[string]int
	polls     int
	conflicts int
	getMes    int
	sent      []Sent
	deleted   []Deleted
	menus     [][]Command
	sendDelay time.Duration
}

// update is a queued update in Bot API JSON shape.
type update struct {
	ID      int            `json:"update_id"`
	Message map[string]any `json:"message"`
}

// NewServer starts a fake Bot API; it is closed when t ends.
func NewServer(t testing.TB) *Server {
	s := &Server{changed: make(chan struct{}), polling: map[string]int{}, nextID: 1000,
		nextMsg: 1}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// notify wakes every waiter; the caller holds s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serve routes /bot<token>/<method>.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		http.NotFound(w, r)
		return
	}
	params, err := readParams(r)
	if err != nil {
		answerError(w, 400, "Bad Request: "+err.Error())
		return
	}
	switch method {
	case "getMe":
		s.mu.Lock()
		s.getMes++
		s.mu.Unlock()
		answer(w, map[string]any{"id": 4242, "is_bot": true, "first_name": "latchkey",
			"username": BotUsername})
	case "getUpdates":
		s.getUpdates(w, r, token, params)
	case "sendMessage":
		s.sendMessage(w, token, params)
	case "deleteMessage":
		s.mu.Lock()
		s.deleted = append(s.deleted, Deleted{ChatID: int64Param(params, "chat_id"),
			MessageID: int(int64Param(params, "message_id"))})
		s.notify()
		s.mu.Unlock()
		answer(w, true)
	case "setMyCommands":
		var menu []Command
		if err := decodeParam(params["commands"], &menu); err != nil {
			answerError(w, 400, "Bad Request: commands: "+err.Error())
			return
		}
		s.mu.Lock()
		s.menus = append(s.menus, menu)
		s.notify()
		s.mu.Unlock()
		answer(w, true)
	default:
		answerError(w, 404, "Not Found: method "+method)
	}
}

// getUpdates confirms the updates before offset, then returns the rest,
// waiting up to timeout seconds for one. A second call on the same token
// while one is open gets 409, as from Telegram.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, token string,
	params map[string]json.RawMessage) {
	offset := int(int64Param(params, "offset"))
	timeout := time.Duration(int64Param(params, "timeout")) * time.Second

	s.mu.Lock()
	s.polls++
	if s.polling[token] > 0 {
		s.conflicts++
		s.notify()
		s.mu.Unlock()
		answerError(w, 409, "Conflict: terminated by other getUpdates request; make sure "+
			"that only one bot instance is running")
		return
	}
	s.polling[token]++
	if offset > 0 {
		kept := s.updates[:0]
		for _, u := range s.updates {
			if u.ID >= offset {
				kept = append(kept, u)
			}
		}
		s.updates = kept
		s.confirmed = max(s.confirmed, offset-1)
	}
	s.notify()
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		s.polling[token]--
		s.notify()
		s.mu.Unlock()
	}()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		pending := append([]update(nil), s.updates...)
		changed := s.changed
		s.mu.Unlock()
		if len(pending) > 0 || timeout == 0 {
			answer(w, pending)
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			answer(w, []update{})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// sendMessage records a message and answers it like Telegram.
func (s *Server) sendMessage(w http.ResponseWriter, token string,
	params map[string]json.RawMessage) {
	s.mu.Lock()
	delay := s.sendDelay
	s.mu.Unlock()
	time.Sleep(delay)

	var text, mode string
	var markup struct {
		ForceReply bool `json:"force_reply"`
	}
	decodeParam(params["text"], &text)
	decodeParam(params["parse_mode"], &mode)
	decodeParam(params["reply_markup"], &markup)
	chat := int64Param(params, "chat_id")

	s.mu.Lock()
	id := s.nextMsg
	s.nextMsg++
	s.sent = append(s.sent, Sent{Token: token, ChatID: chat, MessageID: id, Text: text,
		ParseMode: mode, ForceReply: markup.ForceReply})
	s.notify()
	s.mu.Unlock()
	answer(w, map[string]any{"message_id": id, "date": time.Now().Unix(), "text": text,
		"chat": map[string]any{"id": chat, "type": "private"}})
}

// SetSendDelay makes every sendMessage wait d before answering, to play a
// slow Telegram.
func (s *Server) SetSendDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendDelay = d
}

// Message queues a text message from a user in a chat (a private chat
// when chatID is positive, a group otherwise) and returns its update id
// and message id.
func (s *Server) Message(chatID int64, text string) (updateID, messageID int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	chatType := "private"
	if chatID < 0 {
		chatType = "group"
	}
	updateID, messageID = s.nextID, s.nextMsg
	s.nextID++
	s.nextMsg++
	s.updates = append(s.updates, update{ID: updateID, Message: map[string]any{
		"message_id": messageID,
		"date":       time.Now().Unix(),
		"text":       text,
		"chat":       map[string]any{"id": chatID, "type": chatType},
		"from": map[string]any{"id": userOf(chatID), "is_bot": false,
			"first_name": "Operator", "username": "user" + strconv.FormatInt(userOf(chatID), 10)},
	}})
	s.notify()
	return updateID, messageID
}

// userOf is the user who writes in a chat: the chat itself when private.
func userOf(chatID int64) int64 {
	if chatID > 0 {
		return chatID
	}
	return 7
}

// Converse sends a message from chatID and waits until the bot has
// handled it (its next poll confirms the update), then returns what the
// bot sent to that chat meanwhile.
func (s *Server) Converse(t testing.TB, chatID int64, text string) []Sent {
	t.Helper()
	before := len(s.Sent())
	id, _ := s.Message(chatID, text)
	s.WaitHandled(t, id)
	var out []Sent
	for _, m := range s.Sent()[before:] {
		if m.ChatID == chatID {
			out = append(out, m)
		}
	}
	return out
}

// WaitHandled waits until the bot confirmed update id, which it does with
// the poll after handling it.
func (s *Server) WaitHandled(t testing.TB, id int) {
	t.Helper()
	s.waitFor(t, fmt.Sprintf("update %d to be handled", id), func() bool {
		return s.confirmed >= id
	})
}

// WaitPolling waits until the bot has a getUpdates open, which it does only
// after getMe and setMyCommands.
func (s *Server) WaitPolling(t testing.TB) {
	t.Helper()
	s.waitFor(t, "the bot to poll", func() bool {
		for _, n := range s.polling {
			if n > 0 {
				return true
			}
		}
		return false
	})
}

// WaitSent waits until the bot has sent at least n messages in all and
// returns them.
func (s *Server) WaitSent(t testing.TB, n int) []Sent {
	t.Helper()
	s.waitFor(t, fmt.Sprintf("%d sent messages", n), func() bool { return len(s.sent) >= n })
	return s.Sent()
}

// waitFor polls cond, under s.mu, until it holds, failing t after ten
// seconds.
func (s *Server) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("telegramtest: timed out waiting for %s", what)
		}
	}
}

// Sent returns every message sent so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Deleted returns every message deleted so far.
func (s *Server) Deleted() []Deleted {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Deleted(nil), s.deleted...)
}

// Menus returns every command menu set so far, in order.
func (s *Server) Menus() [][]Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]Command(nil), s.menus...)
}

// Conflicts is how many getUpdates calls overlapped another on their
// token and were answered 409.
func (s *Server) Conflicts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conflicts
}

// Polls is how many getUpdates calls arrived.
func (s *Server) Polls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// GetMes is how many getMe calls arrived.
func (s *Server) GetMes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getMes
}

// readParams reads a call's parameters from a JSON body (what telebot
// sends) or a form.
func readParams(r *http.Request) (map[string]json.RawMessage, error) {
	params := map[string]json.RawMessage{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, err
		}
		if len(strings.TrimSpace(string(body))) == 0 || string(body) == "null\n" {
			return params, nil
		}
		if err := json.Unmarshal(body, &params); err != nil {
			return nil, err
		}
		return params, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k := range r.Form {
		raw, _ := json.Marshal(r.Form.Get(k))
		params[k] = raw
	}
	return params, nil
}

// decodeParam decodes a parameter that may be sent as a JSON value or as a
// string holding JSON (telebot sends every parameter as a string).
func decodeParam(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err == nil {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), v)
}

// int64Param reads an integer parameter sent as a number or a string.
func int64Param(params map[string]json.RawMessage, name string) int64 {
	var n int64
	if decodeParam(params[name], &n) == nil {
		return n
	}
	var s string
	json.Unmarshal(params[name], &s)
	n, _ = strconv.ParseInt(s, 10, 64)
	return n
}

// answer writes a successful Bot API answer.
func answer(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// answerError writes a failed Bot API answer.
func answerError(w http.ResponseWriter, code int, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": code,
		"description": description})
}
