// Command latchkey is the Caddy binary with latchkey's modules compiled in.
//
// It is what `xcaddy build --with github.com/latchkeyproxy/latchkey` would
// generate: Caddy's standard modules plus every latchkey module, so that
// `make build` produces a working binary without xcaddy installed.
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/latchkeyproxy/latchkey"
)

func main() {
	// Usage lines and help then say "latchkey", the name of this binary.
	caddy.CustomBinaryName = "latchkey"
	caddycmd.Main()
}
