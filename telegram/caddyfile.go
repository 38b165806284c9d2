package telegram

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption(ModuleID, parseGlobalOption)
}

// parseGlobalOption sets up the telegram app from the global option:
//
//	telegram {
//		bot_token <token>
//		chat_ids  <id>...
//		api_url   <url>
//	}
//
// bot_token is required (usually {env.TELEGRAM_BOT_TOKEN}); chat_ids may
// be repeated and its ids add up; api_url defaults to
// https://api.telegram.org.
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
		switch d.Val() {
		case "bot_token":
			if !d.AllArgs(&a.BotToken) {
				return d.ArgErr()
			}
		case "api_url":
			if !d.AllArgs(&a.APIURL) {
				return d.ArgErr()
			}
		case "chat_ids":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, arg := range args {
				id, err := strconv.ParseInt(arg, 10, 64)
				if err != nil || id == 0 {
					return d.Errf("chat id %q is not a Telegram chat id (a non-zero integer)",
						arg)
				}
				a.ChatIDs = append(a.ChatIDs, id)
			}
		default:
			return d.Errf("unknown telegram option %q (expected bot_token, chat_ids or "+
				"api_url)", d.Val())
		}
	}
	if a.BotToken == "" {
		return d.Err("telegram needs bot_token, usually {env.TELEGRAM_BOT_TOKEN}")
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*App)(nil)
