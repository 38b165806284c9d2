// Package app is the latchkey Caddy app: it owns the encrypted database, the
// live engine and the install's secrets (encryption key, phantom key, admin
// API token).
//
// One engine per database survives config reloads: the app opens it through
// a caddy.UsagePool keyed by the database directory, so a reload provisions
// a new App that shares the open database and the live state of the old one.
package app

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/engine"
)

func init() {
	caddy.RegisterModule(App{})
}

// ModuleID is the app's module ID and its key under "apps" in the JSON
// config.
const ModuleID = "latchkey"

// App is the latchkey app.
type App struct {
	// DataDir is where latchkey keeps its database and generated secrets.
	// Default: "latchkey" under Caddy's data directory.
	DataDir string `json:"data_dir,omitempty"`

	// EncryptionKeyFile is a file holding the 32-byte key that encrypts
	// the database, as 64 hexadecimal characters. When it is set the file
	// must exist. Default: "<data_dir>/encryption.key", generated on first
	// start with mode 0600.
	EncryptionKeyFile string `json:"encryption_key_file,omitempty"`

	// APITokenFile is the file holding the bearer token that the REST API
	// on Caddy's admin endpoint requires. Default: "<data_dir>/api_token",
	// generated on first start with mode 0600; the CLI reads it from there.
	APITokenFile string `json:"api_token_file,omitempty"`

	// MaxCooldown caps how long a pool member that failed may be parked,
	// whatever Retry-After or reset time the upstream asks for. Default:
	// 24h.
	MaxCooldown caddy.Duration `json:"max_cooldown,omitempty"`

	inst     *instance
	sink     func(engine.Event)
	metrics  *metricsCollector
	poolKey  string
	apiToken string
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  ModuleID,
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves the data directory and opens (or shares) the database
// and the engine.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()

	if a.DataDir == "" {
		a.DataDir = filepath.Join(caddy.AppDataDir(), "latchkey")
	}
	dir, err := filepath.Abs(a.DataDir)
	if err != nil {
		return fmt.Errorf("resolving data_dir: %v", err)
	}
	a.DataDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data_dir: %v", err)
	}

	if a.APITokenFile == "" {
		a.APITokenFile = filepath.Join(dir, "api_token")
	}
	if a.apiToken, err = loadOrCreateToken(a.APITokenFile); err != nil {
		return err
	}

	inst, err := openShared(a.DataDir, a.EncryptionKeyFile, a.logger)
	if err != nil {
		return err
	}
	a.inst, a.poolKey = inst, a.DataDir

	// Failover events reach other apps (the Telegram bot) through Caddy's
	// events app; the engine writes the audit log itself.
	eventsApp, err := ctx.App("events")
	if err != nil {
		return fmt.Errorf("loading events app: %v", err)
	}
	a.sink = eventSink(ctx, eventsApp.(*caddyevents.App))

	// Each config load has its own registry, so registering once per
	// provisioning never collides.
	a.metrics = &metricsCollector{eng: a.inst.engine}
	if err := ctx.GetMetricsRegistry().Register(a.metrics); err != nil {
		return fmt.Errorf("registering metrics: %v", err)
	}
	return nil
}

// Start points the shared engine at this config's logger, limits and event
// sink. That happens here rather than in Provision because a config that
// fails after provisioning (or is only validated) never starts, and its
// cancelled context would otherwise silence the running config's events.
func (a *App) Start() error {
	a.inst.engine.SetLogger(a.logger)
	a.inst.engine.SetMaxCooldown(time.Duration(a.MaxCooldown))
	a.inst.engine.SetEventSink(a.sink)
	return nil
}

// eventSink forwards engine events to Caddy's events app.
func eventSink(ctx caddy.Context, events *caddyevents.App) func(engine.Event) {
	return func(ev engine.Event) {
		if !events.ShouldEmit(ev.Name) {
			return
		}
		events.Emit(ctx, ev.Name, map[string]any{
			"reason":         ev.Reason,
			"notice":         ev.Notice,
			"pool":           ev.Pool,
			"from":           ev.From,
			"to":             ev.To,
			"tag":            ev.Tag,
			"cooldown_until": ev.CooldownUntil,
			"host":           ev.Host,
		})
	}
}

// Stop does nothing; the database is released in Cleanup, after the next
// config (if any) has taken its own reference.
func (a *App) Stop() error { return nil }

// Cleanup releases this app's reference to the shared database.
func (a *App) Cleanup() error {
	if a.poolKey == "" {
		return nil
	}
	_, err := instances.Delete(a.poolKey)
	a.poolKey = ""
	return err
}

// Engine returns the live engine.
func (a *App) Engine() *engine.Engine { return a.inst.engine }

// APIToken returns the bearer token the REST API requires.
func (a *App) APIToken() string { return a.apiToken }

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
