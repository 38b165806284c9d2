package telegram

import (
	"go.uber.org/zap"
	"gopkg.in/telebot.v3"
)

// maxForeignChats bounds how many foreign chats are remembered so that
// each is logged once. Anyone can write to a bot, so the memory must not
// grow with them; past the bound, new foreign chats are not logged.
const maxForeignChats = 1000

// ignoreForeign logs, once per chat, that a chat outside chat_ids wrote to
// the bot, with the chat's id so that an operator can add their own. The
// message itself is neither read nor answered.
func (s *sharedBot) ignoreForeign(cfg *config, msg *telebot.Message) {
	id := msg.Chat.ID
	s.mu.Lock()
	seen, muted := s.foreign[id], s.muted
	if !seen && !muted {
		if len(s.foreign) < maxForeignChats {
			s.foreign[id] = true
		} else {
			s.muted = true
		}
	}
	s.mu.Unlock()

	switch {
	case seen || muted:
	case s.muted:
		cfg.logger.Warn("too many telegram chats outside chat_ids; no longer logging new ones",
			zap.Int("chats", maxForeignChats))
	default:
		fields := []zap.Field{zap.Int64("chat_id", id),
			zap.String("chat_type", string(msg.Chat.Type))}
		if msg.Sender != nil && msg.Sender.Username != "" {
			fields = append(fields, zap.String("username", msg.Sender.Username))
		}
		cfg.logger.Warn("ignoring telegram chat not in chat_ids (add its chat_id to "+
			"allow it)", fields...)
	}
}
