package telegram

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"gopkg.in/telebot.v3"
)

// The bot runs its own long-polling loop instead of telebot's Start:
// telebot's poller retries a failed getUpdates at once, forever (a
// Telegram outage would spin a core), and its Stop blocks when Start has
// not run yet. This loop backs off, and stops at once because the bot's
// context cancels the poll in flight.

// Timing of the Bot API calls.
const (
	// pollTimeout is how long Telegram may hold a getUpdates open when
	// there is nothing to deliver.
	pollTimeout = 10 * time.Second

	// callTimeout bounds every other call (and the network part of a
	// poll), so a hanging Bot API cannot stall replies or notices.
	callTimeout = 10 * time.Second

	// minRetry and maxRetry bound the pause after a failed call.
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// errConflict is Telegram's 409: another getUpdates on the same token.
var errConflict = errors.New("another process is polling this bot token (409 Conflict)")

// poll introduces the bot to Telegram and then delivers every update to
// handleUpdate, one at a time and in order, until the bot stops. In-order
// handling is what lets "/cred add" treat the next message as its secret.
func (s *sharedBot) poll() {
	defer s.loops.Done()

	var wait backoff
	for !s.introduce() {
		if !s.sleep(wait.next()) {
			return
		}
	}
	wait.reset()

	offset := 0
	for s.ctx.Err() == nil {
		updates, err := s.getUpdates(offset)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			pause := wait.next()
			s.log().Warn("telegram getUpdates failed; retrying",
				zap.String("error", s.redact(err)), zap.Duration("retry_in", pause))
			if !s.sleep(pause) {
				return
			}
			continue
		}
		wait.reset()
		for _, u := range updates {
			// The next poll's offset confirms the update, and Telegram
			// does not deliver it again, to this process or the next.
			offset = u.ID + 1
			s.handleUpdate(u)
		}
	}
}

// introduce learns the bot's username (commands in groups are addressed
// "/pool@name") and sets its command menu. It reports whether getMe
// worked; a failed menu is logged and not retried, since commands work
// without it.
func (s *sharedBot) introduce() bool {
	data, err := s.api.Raw("getMe", nil)
	if err != nil {
		s.log().Warn("telegram getMe failed; retrying", zap.String("error",
			s.redact(describe(data, err))))
		return false
	}
	var me struct {
		Result telebot.User `json:"result"`
	}
	if err := json.Unmarshal(data, &me); err != nil {
		s.log().Warn("telegram getMe answer unreadable; retrying", zap.Error(err))
		return false
	}
	s.username = me.Result.Username

	if err := s.api.SetCommands(menu()); err != nil {
		s.log().Warn("setting the telegram command menu failed",
			zap.String("error", s.redact(err)))
	}
	s.log().Info("telegram bot polling", zap.String("bot", s.username))
	return true
}

// getUpdates fetches the updates after offset, waiting up to pollTimeout
// for one. Only messages are asked for: the bot answers nothing else.
func (s *sharedBot) getUpdates(offset int) ([]telebot.Update, error) {
	data, err := s.api.Raw("getUpdates", map[string]any{
		"offset":          offset,
		"timeout":         int(pollTimeout / time.Second),
		"allowed_updates": []string{"message"},
	})
	if err != nil {
		return nil, describe(data, err)
	}
	var resp struct {
		Result []telebot.Update `json:"result"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("reading getUpdates: %v", err)
	}
	return resp.Result, nil
}

// describe turns a failed call's answer into an error, recognising the
// 409 that a second poller causes.
func describe(data []byte, err error) error {
	var answer struct {
		Code        int    `json:"error_code"`
		Description string `json:"description"`
	}
	if json.Unmarshal(data, &answer) == nil && answer.Code == 409 {
		return errConflict
	}
	return err
}

// sleep pauses for d, or returns false at once when the bot stops.
func (s *sharedBot) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// backoff doubles a pause from minRetry up to maxRetry.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	b.d = min(max(2*b.d, minRetry), maxRetry)
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// handleUpdate answers one update. Messages from chats outside chat_ids
// are dropped here, before anything reads them.
func (s *sharedBot) handleUpdate(u telebot.Update) {
	// A bug in a command must not take the proxy down with it; the
	// update is dropped and logged (by id, never by text).
	defer func() {
		if v := recover(); v != nil {
			s.log().Error("telegram update handling panicked", zap.Int("update_id", u.ID),
				zap.Any("panic", v))
		}
	}()
	msg := u.Message
	if msg == nil || msg.Chat == nil {
		return
	}
	cfg := s.current.Load()
	if cfg == nil {
		return // stopping: no config serves any more
	}
	if !cfg.allows(msg.Chat.ID) {
		s.ignoreForeign(cfg, msg)
		return
	}
	for _, r := range s.answer(cfg, msg) {
		s.send(cfg, msg.Chat, r)
	}
}

// reply is one answer to a message.
type reply struct {
	html string

	// forceReply asks the chat to answer this message: a prompt for a
	// secret. In a group whose bot has privacy mode on (the default), a
	// reply to the bot is the only plain message the bot receives.
	forceReply bool
}

// answer works out the replies to a message from an allowed chat.
func (s *sharedBot) answer(cfg *config, msg *telebot.Message) []reply {
	var replies []reply
	isCommand := strings.HasPrefix(strings.TrimSpace(msg.Text), "/")
	if p, ok := s.takePending(msg.Chat.ID, msg.Sender); ok {
		if !isCommand {
			return []reply{{html: s.completeSecret(cfg, msg, p)}}
		}
		replies = append(replies, reply{html: cancelPending(p)})
	}

	if !isCommand {
		// In a group, people talk to each other; only a private chat
		// is talking to the bot.
		if msg.Private() && msg.Text != "" {
			replies = append(replies, reply{html: "Send /help for the list of commands."})
		}
		return replies
	}
	cl, ours, err := parseCommand(msg.Text, s.username)
	switch {
	case !ours:
	case err != nil:
		replies = append(replies,
			reply{html: "Could not read the command: " + esc(err.Error()) + "."})
	default:
		html := s.dispatch(cfg, msg, cl)
		replies = append(replies, reply{html: html, forceReply: s.hasPending(msg.Chat.ID)})
	}
	return replies
}

// send delivers an HTML reply, split into several messages when it is
// too long for one.
func (s *sharedBot) send(cfg *config, chat *telebot.Chat, r reply) {
	opts := &telebot.SendOptions{ParseMode: telebot.ModeHTML, DisableWebPagePreview: true}
	if r.forceReply {
		opts.ReplyMarkup = &telebot.ReplyMarkup{ForceReply: true}
	}
	for _, part := range splitMessage(r.html, maxMessage) {
		if _, err := s.api.Send(chat, part, opts); err != nil {
			cfg.logger.Warn("sending a telegram reply failed", zap.Int64("chat_id", chat.ID),
				zap.String("error", s.redact(err)))
			return
		}
	}
}
