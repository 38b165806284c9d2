package telegram

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"gopkg.in/telebot.v3"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/poolops"
)

// bots holds one running bot per token and API server. Caddy starts a new
// config before it stops the old one, and Telegram answers 409 to a second
// getUpdates on the same token, so a reload must not start another poller:
// the new App takes a reference to the running bot, and the bot stops when
// the last App using it stops.
var bots = caddy.NewUsagePool()

// stopTimeout bounds how long stopping a bot waits for its loops. The
// loops' requests are cancelled at once, so this is only a safety net.
const stopTimeout = 5 * time.Second

// config is what one provisioned App gives the bot: who may use it and
// what it manages. The bot serves the newest config that is started.
type config struct {
	chatIDs []int64
	chats   map[int64]bool
	eng     *engine.Engine
	pools   *poolops.Ops
	logger  *zap.Logger
}

// newConfig is the config of an App that serves chatIDs and manages eng.
func newConfig(chatIDs []int64, eng *engine.Engine, logger *zap.Logger) *config {
	chats := make(map[int64]bool, len(chatIDs))
	for _, id := range chatIDs {
		chats[id] = true
	}
	return &config{chatIDs: chatIDs, chats: chats, eng: eng, pools: poolops.New(eng),
		logger: logger}
}

// allows reports whether chat may use the bot.
func (c *config) allows(chat int64) bool { return c.chats[chat] }

// sharedBot is a running bot: the long-polling loop, the notice sender,
// and the state that must survive config reloads (secrets being entered,
// chats already reported as foreign).
type sharedBot struct {
	api   *telebot.Bot
	token string

	// ctx ends when the bot is destructed; it cancels every request in
	// flight, so stopping never waits for a long poll.
	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup

	// username is the bot's, from getMe; only the poll loop uses it.
	username string

	notices chan notice

	// current is the config that serves messages, the newest of configs.
	current atomic.Pointer[config]

	mu      sync.Mutex
	configs []*config
	pending map[int64]pendingSecret
	foreign map[int64]bool
	muted   bool // too many foreign chats to remember more
}

// botKey identifies a bot in the pool. The token is hashed so that it does
// not sit in the pool's keys in clear.
func botKey(token, apiURL string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:]) + " " + apiURL
}

// acquireBot returns the running bot for key, starting it with cfg when
// there is none, and makes cfg the config it serves.
func acquireBot(key, token, apiURL string, cfg *config) (*sharedBot, error) {
	val, loaded, err := bots.LoadOrNew(key, func() (caddy.Destructor, error) {
		return startBot(token, apiURL, cfg)
	})
	if err != nil {
		return nil, err
	}
	s := val.(*sharedBot)
	if loaded {
		s.register(cfg)
	}
	return s, nil
}

// lookupBot returns the running bot for key without taking a reference,
// or nil.
func lookupBot(key string) *sharedBot {
	var found *sharedBot
	bots.Range(func(k, v any) bool {
		if k == key {
			found, _ = v.(*sharedBot)
			return false
		}
		return true
	})
	return found
}

// startBot creates the bot and starts its loops. It makes no network call
// itself: the poll loop introduces the bot to Telegram (getMe,
// setMyCommands) and retries that, so a Telegram outage at start never
// fails the config.
func startBot(token, apiURL string, cfg *config) (*sharedBot, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sharedBot{
		token:   token,
		ctx:     ctx,
		cancel:  cancel,
		notices: make(chan notice, noticeQueue),
		pending: map[int64]pendingSecret{},
		foreign: map[int64]bool{},
	}
	api, err := telebot.NewBot(telebot.Settings{
		URL:   apiURL,
		Token: token,
		// Offline skips NewBot's getMe; the poll loop does it with retries.
		Offline: true,
		Client: &http.Client{Transport: &apiTransport{base: http.DefaultTransport,
			stop: ctx}},
		OnError: func(err error, _ telebot.Context) {
			s.log().Warn("telegram bot error", zap.String("error", s.redact(err)))
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating the telegram bot: %s", redactToken(err.Error(), token))
	}
	s.api = api
	s.register(cfg)

	s.loops.Add(2)
	go s.poll()
	go s.sendNotices()
	return s, nil
}

// register makes cfg the config the bot serves.
func (s *sharedBot) register(cfg *config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs = append(s.configs, cfg)
	s.current.Store(cfg)
}

// unregister forgets cfg. When cfg was serving, the newest config still
// registered takes over, which after a failed reload is the old one.
func (s *sharedBot) unregister(cfg *config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs = slices.DeleteFunc(s.configs, func(c *config) bool { return c == cfg })
	if len(s.configs) == 0 {
		s.current.Store(nil)
		return
	}
	s.current.Store(s.configs[len(s.configs)-1])
}

// log returns the serving config's logger.
func (s *sharedBot) log() *zap.Logger {
	if cfg := s.current.Load(); cfg != nil {
		return cfg.logger
	}
	return zap.NewNop()
}

// Destruct stops the bot when the last App using it stops: it cancels the
// requests in flight and waits for the loops to end.
func (s *sharedBot) Destruct() error {
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.loops.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		return fmt.Errorf("telegram bot did not stop within %v", stopTimeout)
	}
	if n := len(s.notices); n > 0 {
		s.log().Warn("telegram notices dropped at stop", zap.Int("count", n))
	}
	return nil
}

// redact removes the bot token from an error text. Request errors quote
// the URL, and the token is part of every Bot API URL.
func (s *sharedBot) redact(err error) string {
	return redactToken(err.Error(), s.token)
}

func redactToken(text, token string) string {
	if token == "" {
		return text
	}
	return strings.ReplaceAll(text, token, "<bot_token>")
}

// apiTransport gives every Bot API request a deadline and ends it when the
// bot stops. telebot's own client has one timeout for every method, which
// cannot fit both a long poll and a quick send.
type apiTransport struct {
	base http.RoundTripper
	stop context.Context
}

// RoundTrip sends req with a deadline: the poll timeout plus callTimeout
// for getUpdates, callTimeout for anything else.
func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	timeout := callTimeout
	if strings.HasSuffix(req.URL.Path, "/getUpdates") {
		timeout += pollTimeout
	}
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	unwatch := context.AfterFunc(t.stop, cancel)
	release := func() {
		unwatch()
		cancel()
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases a request's context when its body is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

// Close closes the body and releases the request's context.
func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// Interface guards.
var (
	_ caddy.Destructor  = (*sharedBot)(nil)
	_ http.RoundTripper = (*apiTransport)(nil)
)
