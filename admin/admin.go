// Package admin serves latchkey's REST API on Caddy's admin endpoint.
//
// The routes live under /api/ and manage credentials, bindings, pools and
// phantoms of the running latchkey app, and serve their OpenAPI document
// (admin/openapi.yaml). Every route needs the app's bearer token, speaks
// JSON, and reports failures as {"error": "...", "code": "..."} so that
// the CLI and scripts can tell one failure from another.
//
// Caddy creates a fresh instance of this module on every config load, so it
// keeps no state of its own: each request looks the latchkey app up in the
// active config and works on that app's engine.
package admin

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/latchkeyproxy/latchkey/app"
	"github.com/latchkeyproxy/latchkey/engine"
)

func init() {
	caddy.RegisterModule(API{})
}

// API is the admin.api.latchkey module: latchkey's REST routes on Caddy's
// admin endpoint. It has no configuration; compiling it in turns it on.
type API struct {
	// lookup finds the app the current request works on; nil means
	// activeApp. Tests set it to run the handlers without a running Caddy.
	lookup func() (backend, error)

	// newPools returns the pool operations over an engine; nil means
	// poolops.New. Tests replace it to inject failures.
	newPools func(*engine.Engine) poolService

	logger *zap.Logger
}

// backend is what the handlers need from the latchkey app. *app.App
// implements it.
type backend interface {
	// Engine returns the live engine.
	Engine() *engine.Engine

	// APIToken returns the bearer token every route requires.
	APIToken() string
}

// errUnavailable reports that no latchkey app is running in the active
// config, so there is nothing to manage.
var errUnavailable = errors.New("the latchkey app is not running in the active Caddy config")

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.latchkey",
		New: func() caddy.Module { return new(API) },
	}
}

// Provision sets up logging. It deliberately does not look the app up:
// Caddy provisions admin modules before the config's apps, and an app found
// now could belong to a config that then fails to start.
func (a *API) Provision(ctx caddy.Context) error {
	// Passing the module names the logger after it; the admin context has
	// no module ancestry of its own.
	a.logger = ctx.Logger(a)
	return nil
}

// activeApp returns the latchkey app of the config Caddy is running now.
// AppIfConfigured, unlike ctx.App, never instantiates a missing app.
func activeApp() (backend, error) {
	val, err := caddy.ActiveContext().AppIfConfigured(app.ModuleID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	lk, ok := val.(*app.App)
	if !ok || lk == nil {
		return nil, fmt.Errorf("%w: app %q has type %T", errUnavailable, app.ModuleID, val)
	}
	return lk, nil
}

// Interface guards.
var (
	_ caddy.Module      = (*API)(nil)
	_ caddy.Provisioner = (*API)(nil)
	_ caddy.AdminRouter = (*API)(nil)
	_ backend           = (*app.App)(nil)
)
