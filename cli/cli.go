// Package cli adds latchkey's subcommands to the caddy command: cred, bind,
// pool and phantom. They manage the running latchkey instance through the
// REST API on its admin endpoint and never open its database, which the
// server holds locked.
//
// Because the commands are registered with caddycmd, they exist both in
// latchkey's own binary and in any Caddy built with
// `xcaddy build --with github.com/latchkeyproxy/latchkey`.
//
// Every command prints human output by default and the REST API's JSON
// with --json (an error answer too, on stdout). A failure exits with
// status 1 after one line on stderr, "latchkey: <message>".
package cli

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// errPrefix starts every error line. Cobra prints it in front of the
// message of any error a command returns, including usage errors.
const errPrefix = "latchkey:"

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "cred",
		Usage: "add|list|update|remove",
		Short: "Manages latchkey credentials (the real secrets)",
		Long: `
Manages the credentials of the running latchkey instance: the real secrets
that latchkey injects in place of phantoms. A credential is static (one
secret, such as an API key) or oauth (an account's access token, optional
refresh and id tokens, and the token URL where it refreshes).

A secret is never taken from a flag, where it would land in the shell's
history and the process list. "cred add" and "cred update" read it from a
hidden prompt when stdin is a terminal, or else from the first line of
stdin; an OAuth credential's tokens come the same way, one per line
(access token, then the optional refresh and id tokens):

	$ latchkey cred add openai
	$ op read op://vault/openai/key | latchkey cred add openai
	$ latchkey cred add acct_a --type oauth \
		--token-url https://auth.openai.com/oauth/token --expires-in 3600`,
		CobraFunc: setupCred,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "bind",
		Usage: "add|list|remove",
		Short: "Manages where latchkey injects each credential",
		Long: `
Manages bindings: which destination hosts (and ports) a credential is
injected for, and in which header. A phantom is swapped for its secret
only on the destinations it is bound to.

	$ latchkey bind add openai --host api.openai.com --port 443
	$ latchkey bind add github --host api.github.com --header Authorization \
		--template 'token {value}'`,
		CobraFunc: setupBind,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "pool",
		Usage: "create|list|status|rotate|remove|reset",
		Short: "Manages latchkey pools (several OAuth accounts behind one phantom)",
		Long: `
Manages pools: named, ordered lists of OAuth credentials that an agent sees
as one identity. latchkey serves a pool's requests with its active member
and fails over to the next one when the upstream rejects it; "status"
shows what the proxy is doing now.

	$ latchkey pool create codex --members acct_a,acct_b
	$ latchkey bind add codex --host chatgpt.com
	$ latchkey pool status codex
	$ latchkey pool rotate codex      # park the active member for 300 s
	$ latchkey pool reset codex       # clear cooldowns after a quota reset`,
		CobraFunc: setupPool,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "status",
		Short: "Shows what the running latchkey is doing: pools, health and counts",
		Long: `
Prints the running instance's version and uptime, what it holds, each pool
with the member serving now and how many of its members are healthy, and
the event counts since start (injections, strips, failovers, retries,
refreshes, token rewrites, fail-closed answers). GET /api/status and the
bot's /status report the same summary.

	$ latchkey status
	$ latchkey status --json`,
		CobraFunc: setupStatus,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "phantom",
		Usage: "<name>",
		Short: "Prints the phantom token to give an agent for a credential or pool",
		Long: `
Prints the phantom of a credential: the stand-in value an agent holds
instead of the real secret. For a static credential only the value is
printed, so it can be used in a shell:

	$ export OPENAI_API_KEY=$(latchkey phantom openai)

For an OAuth credential or a pool it prints the tokens to write into the
agent's auth file, one "field: value" line each (access_token,
refresh_token, and id_token and account_id when the account has them);
--json prints them as an object for scripts.`,
		CobraFunc: setupPhantom,
	})
}
