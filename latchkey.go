// Package latchkey brings every latchkey Caddy module into a binary.
//
// Import it for its side effects, or build Caddy with
// `xcaddy build --with github.com/latchkeyproxy/latchkey`, to get the
// latchkey app, the proxy handler, the admin API routes and the CLI
// subcommands.
package latchkey

import (
	_ "github.com/latchkeyproxy/latchkey/admin"
	_ "github.com/latchkeyproxy/latchkey/app"
	_ "github.com/latchkeyproxy/latchkey/cli"
	_ "github.com/latchkeyproxy/latchkey/proxy"
	_ "github.com/latchkeyproxy/latchkey/telegram"
)
