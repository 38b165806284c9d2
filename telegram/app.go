// Package telegram is latchkey's Telegram bot, a Caddy app: operators
// manage pools, credentials and bindings from a chat and are told when a
// pool fails over.
//
// The bot is a channel like the REST API: it finds the latchkey app
// through the Caddy context and calls poolops and the engine's credential
// and binding operations, so it reports what the proxy really does. It
// only parses commands and renders answers. Replies use Telegram's HTML
// parse mode with every supplied value escaped; notices are plain text.
//
// Provisioning makes no network call, so `caddy validate` works offline.
// One bot runs per token across config reloads (see bots), because
// Telegram refuses two pollers on one token.
package telegram

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/app"
)

func init() {
	caddy.RegisterModule(App{})
}

// ModuleID is the app's module ID and its key under "apps" in the JSON
// config.
const ModuleID = "telegram"

// DefaultAPIURL is the Bot API server bots talk to unless told otherwise.
const DefaultAPIURL = "https://api.telegram.org"

// App is the telegram app: a Telegram bot that manages the latchkey app of
// the same config and sends its failover notices.
type App struct {
	// BotToken is the token BotFather issued for the bot. Required.
	// Placeholders are replaced when the config loads, so the usual value
	// is "{env.TELEGRAM_BOT_TOKEN}", which keeps the token out of the
	// config file and out of Caddy's config API. The token is never
	// logged.
	BotToken string `json:"bot_token,omitempty"`

	// ChatIDs are the chats the bot serves and sends notices to: user ids
	// for private chats, negative ids for groups. Messages from any other
	// chat are ignored, and each such chat is logged once with its id, so
	// that an operator can find theirs by writing to the bot. Default:
	// none, which serves nobody.
	ChatIDs []int64 `json:"chat_ids,omitempty"`

	// APIURL is the base URL of the Bot API server, for a self-hosted
	// server (or a fake one in tests). Default: "https://api.telegram.org".
	APIURL string `json:"api_url,omitempty"`

	// Runtime state, set by Provision and Start.
	token  string
	apiURL string
	key    string
	cfg    *config
	logger *zap.Logger

	// shared holds the running bot once Start has taken it; the events
	// handler reads it from other goroutines. It is a pointer so that the
	// module value stays copyable.
	shared  *atomic.Pointer[sharedBot]
	started bool
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  ModuleID,
		New: func() caddy.Module { return new(App) },
	}
}

// Provision checks the settings, finds the latchkey app and subscribes to
// the failover events. It makes no network call.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.shared = new(atomic.Pointer[sharedBot])

	if err := a.resolve(); err != nil {
		return err
	}
	if len(a.ChatIDs) == 0 {
		a.logger.Warn("telegram chat_ids is empty: the bot serves nobody and logs the id " +
			"of each chat that writes to it")
	}

	lkApp, err := ctx.App(app.ModuleID)
	if err != nil {
		return fmt.Errorf("loading the latchkey app: %v", err)
	}
	lk, ok := lkApp.(*app.App)
	if !ok {
		return fmt.Errorf("app %q has type %T, not the latchkey app", app.ModuleID, lkApp)
	}
	eng := lk.Engine()

	eventsApp, err := ctx.App("events")
	if err != nil {
		return fmt.Errorf("loading the events app: %v", err)
	}
	if err := a.subscribe(eventsApp.(*caddyevents.App)); err != nil {
		return fmt.Errorf("subscribing to failover events: %v", err)
	}

	a.cfg = newConfig(a.ChatIDs, eng, a.logger)
	return nil
}

// resolve replaces placeholders in the token and checks the token and the
// API URL. Error messages name the setting, never the token.
func (a *App) resolve() error {
	a.token = strings.TrimSpace(caddy.NewReplacer().ReplaceKnown(a.BotToken, ""))
	if a.token == "" {
		if strings.Contains(a.BotToken, "{") {
			return fmt.Errorf("bot_token %q is empty once its placeholders are replaced "+
				"(is the environment variable set?)", a.BotToken)
		}
		return errors.New("bot_token is required")
	}
	// The token is part of every request path.
	if strings.ContainsAny(a.token, "/?#% \t") {
		return errors.New("bot_token holds characters no Telegram bot token has")
	}

	a.apiURL = strings.TrimRight(a.APIURL, "/")
	if a.apiURL == "" {
		a.apiURL = DefaultAPIURL
	}
	u, err := url.Parse(a.apiURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("api_url %q must be an http or https URL with a host", a.APIURL)
	}
	a.key = botKey(a.token, a.apiURL)
	return nil
}

// Start runs the bot, or, after a reload with the same token, takes over
// the one already running, which then serves this config.
func (a *App) Start() error {
	s, err := acquireBot(a.key, a.token, a.apiURL, a.cfg)
	if err != nil {
		return err
	}
	a.shared.Store(s)
	a.started = true
	a.logger.Debug("telegram bot started", zap.String("api_url", a.apiURL),
		zap.Int("chats", len(a.ChatIDs)))
	return nil
}

// Stop releases this config's hold on the bot. The bot itself stops only
// when no config uses it any more, so a reload keeps one poller.
func (a *App) Stop() error {
	if !a.started {
		return nil
	}
	a.started = false
	if s := a.shared.Swap(nil); s != nil {
		s.unregister(a.cfg)
	}
	_, err := bots.Delete(a.key)
	return err
}

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
