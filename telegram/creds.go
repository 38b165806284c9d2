package telegram

import (
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"gopkg.in/telebot.v3"

	"github.com/latchkeyproxy/latchkey/engine"
)

// A secret never travels as a command operand: /cred add asks for it, and
// the next message from that chat is the secret. The bot deletes that
// message as soon as it has read it, whatever happens next, and never
// logs or repeats it.

// pendingTTL is how long /cred add waits for its secret. A message after
// that is still deleted (it may hold the secret) but stores nothing.
const pendingTTL = 5 * time.Minute

// Credential kinds /cred add understands.
const (
	kindStatic = "static"
	kindOAuth  = "oauth"
)

// pendingSecret is a /cred add waiting for the message with the secret.
// In a group, only the next message of the person who asked counts.
type pendingSecret struct {
	sender   int64
	name     string
	kind     string
	tokenURL string
	since    time.Time
}

// credList answers /cred list.
func credList(r *request) string {
	creds := r.cfg.eng.Credentials()
	if len(creds) == 0 {
		return "No credentials. Add one with /cred add &lt;name&gt;."
	}
	rows := make([][]string, len(creds))
	for i, c := range creds {
		expires := ""
		if c.ExpiresAt != nil {
			expires = formatTime(*c.ExpiresAt)
		}
		rows[i] = []string{c.Name, c.Type, c.Pool, expires}
	}
	return pre(table([]string{"NAME", "TYPE", "POOL", "EXPIRES"}, rows))
}

// credAdd answers /cred add <name> [oauth <token_url>] by asking for the
// secret. The name is checked now, so that nobody sends a secret only to
// learn that the name was wrong.
func credAdd(r *request) string {
	name := r.args[0]
	p := pendingSecret{sender: senderID(r.msg.Sender), name: name, kind: kindStatic,
		since: time.Now()}
	switch {
	case len(r.args) == 1:
	case len(r.args) == 3 && strings.EqualFold(r.args[1], kindOAuth):
		p.kind, p.tokenURL = kindOAuth, r.args[2]
	default:
		// Whatever follows the name may well be the secret, typed where
		// it does not belong: it must not stay in the chat.
		return "A secret never goes in the command. " + r.bot.deleteMessage(r.cfg, r.msg) +
			"\n" + usage("cred", "add")
	}
	if err := engine.ValidateName(name); err != nil {
		return r.fail(err)
	}

	r.bot.setPending(r.msg.Chat.ID, p)
	if p.kind == kindOAuth {
		return "Send the tokens of " + bold(name) + " as your next message, one per line: " +
			"the access token, then the refresh token and the id token if there are any. " +
			"I will delete that message once I have read it. Send any command to cancel."
	}
	return "Send the secret of " + bold(name) + " as your next message. " +
		"I will delete that message once I have read it. Send any command to cancel."
}

// completeSecret handles the message that answers a /cred add: it deletes
// the message first, then stores the credential, and reports both.
func (s *sharedBot) completeSecret(cfg *config, msg *telebot.Message, p pendingSecret) string {
	deleted := s.deleteMessage(cfg, msg)

	var reply string
	switch {
	case time.Since(p.since) > pendingTTL:
		reply = "The /cred add for " + bold(p.name) + " timed out after " +
			strconv.Itoa(int(pendingTTL/time.Minute)) + " minutes; nothing was stored. " +
			"Send /cred add again."
	case msg.Text == "":
		reply = "Expected the secret of " + bold(p.name) + " as a text message; nothing " +
			"was stored. Send /cred add again."
	default:
		reply = s.storeSecret(cfg, p, msg.Text)
	}
	return reply + "\n" + deleted
}

// storeSecret adds the credential a pending /cred add asked for.
func (s *sharedBot) storeSecret(cfg *config, p pendingSecret, text string) string {
	var info engine.CredentialInfo
	var err error
	if p.kind == kindOAuth {
		spec, perr := oauthSpec(p, text)
		if perr != "" {
			return renderError(codeInvalid, perr, nil)
		}
		info, err = cfg.eng.AddOAuthCredential(spec)
	} else {
		info, err = cfg.eng.AddStaticCredential(p.name, strings.TrimSpace(text))
	}
	if err != nil {
		code, msg, refs := classify(err)
		if code == codeInternal {
			cfg.logger.Error("telegram command failed", zap.String("command", "cred add"),
				zap.String("credential", p.name), zap.Error(err))
		}
		return renderError(code, msg, refs)
	}

	what := info.Type
	if info.HasRefreshToken {
		what += ", with a refresh token"
	}
	return "Credential " + bold(info.Name) + " added (" + esc(what) + ")."
}

// oauthSpec reads the tokens of an OAuth credential, one per line, or
// says what is wrong with the message (without quoting it).
func oauthSpec(p pendingSecret, text string) (engine.OAuthSpec, string) {
	var tokens []string
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			tokens = append(tokens, line)
		}
	}
	if len(tokens) == 0 || len(tokens) > 3 {
		return engine.OAuthSpec{}, "expected 1 to 3 lines (access token, refresh token, " +
			"id token), saw " + strconv.Itoa(len(tokens)) + "; nothing was stored"
	}
	tokens = append(tokens, "", "")
	return engine.OAuthSpec{Name: p.name, TokenURL: p.tokenURL, AccessToken: tokens[0],
		RefreshToken: tokens[1], IDToken: tokens[2]}, ""
}

// deleteMessage deletes the message that held a secret and says how that
// went, for the reply.
func (s *sharedBot) deleteMessage(cfg *config, msg *telebot.Message) string {
	if err := s.api.Delete(msg); err != nil {
		cfg.logger.Warn("could not delete the telegram message that held a secret",
			zap.Int64("chat_id", msg.Chat.ID), zap.Int("message_id", msg.ID),
			zap.String("error", s.redact(err)))
		return "<b>Warning</b>: I could not delete your message with the secret (" +
			esc(s.redact(err)) + "); delete it yourself."
	}
	return "I deleted your message with the secret."
}

// cancelPending is the note sent when a command arrives instead of the
// secret a /cred add waits for.
func cancelPending(p pendingSecret) string {
	return "Adding credential " + bold(p.name) + " cancelled; nothing was stored."
}

// credRemove answers /cred remove <name>.
func credRemove(r *request) string {
	name := r.args[0]
	if err := engine.ValidateName(name); err != nil {
		return r.fail(err)
	}
	if err := r.cfg.eng.RemoveCredential(name); err != nil {
		return r.fail(err)
	}
	return "Credential " + bold(name) + " removed."
}

// setPending records that chat's next message is a secret.
func (s *sharedBot) setPending(chat int64, p pendingSecret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[chat] = p
}

// hasPending reports whether a /cred add in chat waits for its secret.
func (s *sharedBot) hasPending(chat int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[chat]
	return ok
}

// takePending returns and forgets the /cred add that a message from
// sender in chat answers, if any.
func (s *sharedBot) takePending(chat int64, sender *telebot.User) (pendingSecret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[chat]
	if !ok || p.sender != senderID(sender) {
		return pendingSecret{}, false
	}
	delete(s.pending, chat)
	return p, true
}

// senderID is a message's sender, or 0 for a message without one (a
// channel post).
func senderID(u *telebot.User) int64 {
	if u == nil {
		return 0
	}
	return u.ID
}
