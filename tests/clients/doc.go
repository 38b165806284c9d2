//go:build clients

// Package clients runs the shipped agents, the OpenAI Codex CLI and Claude
// Code, through a real latchkey process against fake upstreams, and checks
// that pools work for them end to end: failover they never notice, refreshes
// that land on the right member, a device login that passes untouched, and
// no real secret in anything they receive or write.
//
// The package builds only with the "clients" tag, so `go test ./...` does
// not run it. `make test-clients` installs the pinned clients with npm,
// builds bin/latchkey and runs it with the binaries in the environment:
//
//	LATCHKEY_BIN  the latchkey binary (default: build ./xcaddy)
//	CODEX_BIN     the native codex binary of @openai/codex
//	CLAUDE_BIN    the claude binary of @anthropic-ai/claude-code
//
// Every connection stays on 127.0.0.1: the clients use latchkey as their
// HTTPS proxy; latchkey intercepts the four hosts the scenarios need and
// dials them at the fake upstream (upstream_override), and answers every
// other CONNECT with 403 instead of tunnelling it.
package clients
