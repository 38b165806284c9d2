package telegram

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkeyproxy/latchkey/telegram/telegramtest"
)

func TestCredAddReadsTheNextMessageAndDeletesIt(t *testing.T) {
	h := newHarness(t, operator)
	const secret = "sk-live-0123456789abcdef"

	if got, want := h.reply("/cred add openai"), "Send the secret of <b>openai</b> as your "+
		"next message. I will delete that message once I have read it. Send any command to "+
		"cancel."; got != want {
		t.Fatalf("/cred add: expected %q, saw %q", want, got)
	}
	if prompt := h.tg.Sent()[len(h.tg.Sent())-1]; !prompt.ForceReply {
		t.Errorf("prompt for the secret: expected force_reply, so that a group with privacy " +
			"mode delivers the answer")
	}
	before := len(h.tg.Sent())
	id, msgID := h.tg.Message(operator, secret)
	h.tg.WaitHandled(t, id)

	want := "Credential <b>openai</b> added (static).\nI deleted your message with the secret."
	if got := h.tg.Sent()[before:]; len(got) != 1 || got[0].Text != want {
		t.Errorf("reply to the secret: expected %q, saw %+v", want, got)
	}
	deleted := h.tg.Deleted()
	if len(deleted) != 1 || deleted[0] != (telegramtest.Deleted{ChatID: operator,
		MessageID: msgID}) {
		t.Errorf("deleted: expected message %d of chat %d, saw %+v", msgID, operator, deleted)
	}
	infos := h.eng.Credentials()
	found := false
	for _, c := range infos {
		found = found || c.Name == "openai" && c.Type == "static"
	}
	if !found {
		t.Errorf("credentials: expected a static openai, saw %+v", infos)
	}
	assertNeverShown(t, h, secret)

	// The next message is an ordinary one again.
	if got := h.reply("sk-second"); got != "Send /help for the list of commands." {
		t.Errorf("message after the secret: expected the help hint, saw %q", got)
	}
	if len(h.tg.Deleted()) != 1 {
		t.Errorf("deleted after an ordinary message: expected still 1, saw %+v", h.tg.Deleted())
	}
	for _, m := range h.tg.Sent()[before:] {
		if m.ForceReply {
			t.Errorf("reply %q: expected no force_reply once the secret was read", m.Text)
		}
	}
}

func TestCredAddOAuthReadsTokensOnePerLine(t *testing.T) {
	h := newHarness(t, operator)
	// The id token must be a JWT; its payload is {"sub":"id-live-3333"}.
	tokens := []string{"at-live-1111", "rt-live-2222",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpZC1saXZlLTMzMzMifQ.c2ln"}

	want := "Send the tokens of <b>acct</b> as your next message, one per line: the access " +
		"token, then the refresh token and the id token if there are any. I will delete that " +
		"message once I have read it. Send any command to cancel."
	if got := h.reply("/cred add acct oauth https://auth.test/oauth/token"); got != want {
		t.Fatalf("/cred add oauth: expected %q, saw %q", want, got)
	}
	got := h.reply(" " + strings.Join(tokens, "\n") + "\n")
	if want := "Credential <b>acct</b> added (oauth, with a refresh token).\nI deleted your " +
		"message with the secret."; got != want {
		t.Errorf("reply to the tokens: expected %q, saw %q", want, got)
	}
	for _, c := range h.eng.Credentials() {
		if c.Name == "acct" && (c.Type != "oauth" || !c.HasRefreshToken ||
			c.TokenURL != "https://auth.test/oauth/token") {
			t.Errorf("acct: expected oauth with a refresh token at the token URL, saw %+v", c)
		}
	}
	for _, tok := range tokens {
		assertNeverShown(t, h, tok)
	}

	// A tokens message the engine refuses is still deleted, and the error
	// names the field, not the value.
	h.reply("/cred add bad oauth notaurl")
	got = h.reply("at-x\nrt-y")
	if want := `<b>Error</b> (invalid): token_url "notaurl" must be an http or https URL ` +
		"with a host\nI deleted your message with the secret."; got != want {
		t.Errorf("refused tokens: expected %q, saw %q", want, got)
	}
	h.reply("/cred add four oauth https://auth.test/t")
	got = h.reply("1\n2\n3\n4")
	want = "<b>Error</b> (invalid): expected 1 to 3 lines (access token, refresh token, " +
		"id token), saw 4; nothing was stored\nI deleted your message with the secret."
	if got != want {
		t.Errorf("four lines: expected %q, saw %q", want, got)
	}
	if n := len(h.tg.Deleted()); n != 3 {
		t.Errorf("deleted messages: expected 3, saw %d", n)
	}
}

func TestCredAddIsCancelledByACommand(t *testing.T) {
	h := newHarness(t, operator)
	h.reply("/cred add later")
	got := h.say("/pool list")
	want := []string{"Adding credential <b>later</b> cancelled; nothing was stored.",
		"No pools. Create one with /pool create &lt;name&gt; &lt;a,b&gt;."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("command instead of the secret: expected %q, saw %q", want, got)
	}
	if len(h.tg.Deleted()) != 0 {
		t.Errorf("deleted: expected nothing, saw %+v", h.tg.Deleted())
	}
}

func TestCredAddTimesOutButStillDeletes(t *testing.T) {
	h := newHarness(t, operator)
	h.reply("/cred add slow")
	s := h.app.shared.Load()
	s.mu.Lock()
	p := s.pending[operator]
	p.since = time.Now().Add(-pendingTTL - time.Second)
	s.pending[operator] = p
	s.mu.Unlock()

	got := h.reply("sk-late-secret")
	want := "The /cred add for <b>slow</b> timed out after 5 minutes; nothing was stored. " +
		"Send /cred add again.\nI deleted your message with the secret."
	if got != want {
		t.Errorf("late secret: expected %q, saw %q", want, got)
	}
	if len(h.tg.Deleted()) != 1 {
		t.Errorf("deleted: expected the late message, saw %+v", h.tg.Deleted())
	}
	for _, c := range h.eng.Credentials() {
		if c.Name == "slow" {
			t.Errorf("credentials: expected no slow, saw %+v", c)
		}
	}
}

func TestCredAddInAGroupWaitsForTheSameSender(t *testing.T) {
	const group int64 = -500
	h := newHarness(t, group)
	h.sayIn(group, "/cred add grp")
	s := h.app.shared.Load()

	// Someone else in the group talks: that is not the secret.
	s.mu.Lock()
	p := s.pending[group]
	p.sender = 8 // not the fake's group user
	s.pending[group] = p
	s.mu.Unlock()
	if got := h.sayIn(group, "chatter"); len(got) != 0 {
		t.Errorf("group chatter: expected no reply, saw %q", got)
	}
	if len(h.tg.Deleted()) != 0 {
		t.Errorf("deleted: expected nothing, saw %+v", h.tg.Deleted())
	}
}

// assertNeverShown fails when a secret appears in any message the bot
// sent or in any log entry.
func assertNeverShown(t *testing.T, h *harness, secret string) {
	t.Helper()
	for _, m := range h.tg.Sent() {
		if strings.Contains(m.Text, secret) {
			t.Errorf("sent message %q holds the secret", m.Text)
		}
	}
	assertNotLogged(t, h.logs, secret)
}

func TestCredAddWithTheSecretInlineDeletesTheCommand(t *testing.T) {
	h := newHarness(t, operator)
	before := len(h.tg.Sent())
	id, msgID := h.tg.Message(operator, "/cred add openai sk-inline-secret")
	h.tg.WaitHandled(t, id)

	deleted := h.tg.Deleted()
	if len(deleted) != 1 || deleted[0].MessageID != msgID {
		t.Errorf("deleted: expected the command %d, saw %+v", msgID, deleted)
	}
	if sent := h.tg.Sent()[before:]; len(sent) != 1 ||
		!strings.HasPrefix(sent[0].Text, "A secret never goes in the command.") {
		t.Errorf("reply: expected the warning and usage, saw %+v", sent)
	}
	if h.app.shared.Load().hasPending(operator) {
		t.Errorf("pending: expected no /cred add armed by a malformed command")
	}
	assertNeverShown(t, h, "sk-inline-secret")
}
