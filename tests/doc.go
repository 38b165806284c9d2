// Package tests holds latchkey's end-to-end tests. They build the latchkey
// binary, run it as a separate process with a Caddyfile, and drive it the
// way an operator and an agent would: the CLI and the REST API on the admin
// socket for management, an HTTP client configured with the proxy for
// traffic, and a fake TLS upstream that records what arrived.
//
// Run them with `go test ./tests/`. Set LATCHKEY_BIN to test a binary built
// elsewhere instead of building ./xcaddy.
package tests
