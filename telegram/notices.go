package telegram

import (
	"context"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"
	"gopkg.in/telebot.v3"

	"github.com/latchkeyproxy/latchkey/engine"
)

// Failover and exhaustion notices reach the bot through Caddy's events
// app. The engine emits them synchronously on the path of a proxied
// request, so the handler only puts the notice in a bounded queue: a slow
// or unreachable Telegram delays nothing, and a full queue drops notices
// (logged) rather than blocking.

// noticeQueue is how many notices wait for Telegram at most.
const noticeQueue = 100

// noticeEvents are the events that become notices.
var noticeEvents = []string{engine.EventFailover, engine.EventExhausted}

// notice is one event to announce.
type notice struct {
	event, pool, text string
}

// noticeHandler receives the events for one App. Its only field is
// unexported on purpose: the events app logs handlers at debug level by
// marshalling them, and the App holds the bot token.
type noticeHandler struct {
	app *App
}

// subscribe registers the App's handler with the events app. Caddy
// accepts subscriptions only before the events app starts, which is why
// this runs in Provision.
func (a *App) subscribe(events *caddyevents.App) error {
	for _, name := range noticeEvents {
		if err := events.On(name, noticeHandler{app: a}); err != nil {
			return err
		}
	}
	return nil
}

// Handle queues the event's notice, the plain one-line text the engine
// built (data "notice").
func (h noticeHandler) Handle(_ context.Context, e caddy.Event) error {
	text, _ := e.Data["notice"].(string)
	if text == "" {
		return nil
	}
	pool, _ := e.Data["pool"].(string)
	h.app.deliver(notice{event: e.Name(), pool: pool, text: text})
	return nil
}

// deliver hands a notice to the running bot. Between a reload's Provision
// and its Start, the events already come here while the bot is still the
// old config's, so the bot is looked up by key when this App has not
// started it.
func (a *App) deliver(n notice) {
	s := a.shared.Load()
	if s == nil {
		s = lookupBot(a.key)
	}
	if s == nil {
		a.logger.Warn("telegram notice dropped: the bot is not running",
			zap.String("event", n.event), zap.String("pool", n.pool))
		return
	}
	s.enqueue(n)
}

// enqueue queues a notice without ever blocking.
func (s *sharedBot) enqueue(n notice) {
	select {
	case s.notices <- n:
	default:
		s.log().Warn("telegram notice dropped: queue full", zap.String("event", n.event),
			zap.String("pool", n.pool), zap.Int("queue", noticeQueue))
	}
}

// sendNotices sends queued notices to every allowed chat of the serving
// config, as plain text, until the bot stops. A failed send is logged and
// not retried: a notice is best effort, and the audit log has every event.
func (s *sharedBot) sendNotices() {
	defer s.loops.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case n := <-s.notices:
			cfg := s.current.Load()
			if cfg == nil {
				continue
			}
			text := truncate(n.text, maxMessage)
			for _, chat := range cfg.chatIDs {
				_, err := s.api.Send(telebot.ChatID(chat), text,
					&telebot.SendOptions{DisableWebPagePreview: true})
				if err != nil && s.ctx.Err() == nil {
					cfg.logger.Warn("sending a telegram notice failed",
						zap.Int64("chat_id", chat), zap.String("event", n.event),
						zap.String("pool", n.pool), zap.String("error", s.redact(err)))
				}
			}
		}
	}
}

// truncate cuts plain text to at most limit UTF-16 code units, ending it
// with cutMarker when it had to cut.
func truncate(text string, limit int) string {
	if utf16Len(text) <= limit {
		return text
	}
	n := 0
	for i, r := range text {
		if n+utf16Width(r) > limit-utf16Len(cutMarker) {
			return text[:i] + cutMarker
		}
		n += utf16Width(r)
	}
	return text
}

// Interface guard.
var _ caddyevents.Handler = noticeHandler{}
