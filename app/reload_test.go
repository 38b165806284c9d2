package app

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	_ "github.com/caddyserver/caddy/v2/modules/caddytls"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"

	"github.com/latchkeyproxy/latchkey/engine"
	"github.com/latchkeyproxy/latchkey/failover"
)

func init() {
	caddy.RegisterModule(eventRecorder{})
}

// recorded receives the events that eventRecorder handles.
var recorded = make(chan caddy.Event, 10)

// eventRecorder is an events handler module, for tests, that hands every
// event to recorded.
type eventRecorder struct{}

func (eventRecorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.latchkey_test_recorder",
		New: func() caddy.Module { return eventRecorder{} }}
}

func (eventRecorder) Handle(_ context.Context, e caddy.Event) error {
	recorded <- e
	return nil
}

var _ caddyevents.Handler = eventRecorder{}

// eventsConfig subscribes the recorder to failover events.
var eventsConfig = map[string]any{"subscriptions": []any{map[string]any{
	"events":   []string{engine.EventFailover},
	"handlers": []any{map[string]any{"handler": "latchkey_test_recorder"}},
}}}

func loadConfig(t *testing.T, dataDir string, apps map[string]any) error {
	t.Helper()
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"storage": map[string]any{"module": "file_system", "root": t.TempDir()},
		"apps":    apps,
	}
	raw, _ := json.Marshal(cfg)
	return caddy.Load(raw, true)
}

// TestFailedReloadKeepsEventsFlowing loads a config, then one that fails
// after provisioning the latchkey app, and checks that a failover still
// reaches the running config's events app.
func TestFailedReloadKeepsEventsFlowing(t *testing.T) {
	dir := t.TempDir()
	good := map[string]any{"latchkey": map[string]any{"data_dir": dir}, "events": eventsConfig}
	if err := loadConfig(t, dir, good); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })

	ctx := caddy.ActiveContext()
	appModule, err := ctx.AppIfConfigured(ModuleID)
	if err != nil {
		t.Fatal(err)
	}
	eng := appModule.(*App).Engine()

	// A config whose latchkey app provisions and whose next app fails.
	bad := map[string]any{"latchkey": map[string]any{"data_dir": dir}, "events": eventsConfig,
		"tls": map[string]any{"automation": map[string]any{"policies": []any{
			map[string]any{"issuers": []any{map[string]any{"module": "no_such_issuer"}}}}}}}
	if err := loadConfig(t, dir, bad); err == nil {
		t.Fatal("the bad config loaded")
	}

	for _, m := range []string{"a", "b"} {
		if _, err := eng.AddOAuthCredential(engine.OAuthSpec{Name: m, AccessToken: "at-" + m,
			TokenURL: "https://auth.test/token"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.CreatePool(engine.PoolSpec{Name: "p", Members: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	v := failover.Verdict{Kind: failover.RateLimited, Tag: "429", Cooldown: time.Minute}
	if _, err := eng.ReportFailure("p", "a", v, "api.test"); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-recorded:
		if e.Data["reason"] != "p:a->b:429" {
			t.Errorf("event data %v, want reason p:a->b:429", e.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no cred_failover event reached the running config after a failed reload")
	}
}
