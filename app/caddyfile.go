package app

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption(ModuleID, parseGlobalOption)
}

// parseGlobalOption sets up the latchkey app from the global option:
//
//	latchkey {
//		data_dir            <dir>
//		encryption_key_file <file>
//		api_token_file      <file>
//		max_cooldown        <duration>
//	}
//
// Every subdirective is optional, and so is the block.
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	a := new(App)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: ModuleID, Value: caddyconfig.JSON(a, nil)}, nil
}

// UnmarshalCaddyfile reads the global option block into the app.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var target *string
		switch d.Val() {
		case "data_dir":
			target = &a.DataDir
		case "encryption_key_file":
			target = &a.EncryptionKeyFile
		case "api_token_file":
			target = &a.APITokenFile
		case "max_cooldown":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("max_cooldown %q is not a positive duration", s)
			}
			a.MaxCooldown = caddy.Duration(dur)
			continue
		default:
			return d.Errf("unknown latchkey option %q (expected data_dir, "+
				"encryption_key_file, api_token_file or max_cooldown)", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*target = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*App)(nil)
