package telegram

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// event builds a Caddy event the way the latchkey app emits one.
func event(t *testing.T, name, pool, notice string) caddy.Event {
	t.Helper()
	e, err := caddy.NewEvent(caddy.Context{Context: context.Background()}, name,
		map[string]any{"notice": notice, "pool": pool, "reason": pool + ":x->y:429"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNoticeGoesToEveryAllowedChatAsPlainText(t *testing.T) {
	h := newHarness(t, operator, -100)
	notice := `Pool "p<b>&" failed over from "a" to "b" after rate limit (429).`
	if err := (noticeHandler{app: h.app}).Handle(context.Background(),
		event(t, "cred_failover", "p", notice)); err != nil {
		t.Fatal(err)
	}

	sent := h.tg.WaitSent(t, 2)
	chats := map[int64]bool{}
	for _, m := range sent {
		if m.Text != notice || m.ParseMode != "" {
			t.Errorf("notice to %d: expected %q as plain text, saw %q in mode %q", m.ChatID,
				notice, m.Text, m.ParseMode)
		}
		chats[m.ChatID] = true
	}
	if len(sent) != 2 || !chats[operator] || !chats[-100] {
		t.Errorf("notices: expected one to each of %d and -100, saw %+v", operator, sent)
	}
}

func TestSlowTelegramNeverSlowsTheEmitter(t *testing.T) {
	h := newHarness(t, operator)
	h.tg.SetSendDelay(300 * time.Millisecond)
	handler := noticeHandler{app: h.app}

	// Far more events than the queue holds, as in an outage during a storm
	// of failovers: each Handle must return at once.
	const events = noticeQueue + 50
	start := time.Now()
	for i := range events {
		handler.Handle(context.Background(), event(t, "pool_exhausted", "p",
			fmt.Sprintf("Pool \"p%d\" exhausted.", i)))
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("%d events took %v to hand over; expected well under a second", events, took)
	}
	drops := h.logged("telegram notice dropped: queue full")
	// One notice may already be on its way when the queue fills.
	if len(drops) < events-noticeQueue-1 {
		t.Errorf("drop log lines: expected at least %d, saw %d", events-noticeQueue-1,
			len(drops))
	}
	if len(drops) > 0 && drops[0].ContextMap()["event"] != "pool_exhausted" {
		t.Errorf("drop log: expected the event name, saw %v", drops[0].ContextMap())
	}
}

func TestTruncateKeepsNoticesUnderTheLimit(t *testing.T) {
	long := strings.Repeat("é", maxMessage+10)
	got := truncate(long, maxMessage)
	if utf16Len(got) > maxMessage || !strings.HasSuffix(got, cutMarker) {
		t.Errorf("truncate: expected at most %d units ending in %q, saw %d units",
			maxMessage, cutMarker, utf16Len(got))
	}
	if truncate("short", maxMessage) != "short" {
		t.Errorf("truncate changed a short notice")
	}
}
