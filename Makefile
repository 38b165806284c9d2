# latchkey build, run and test targets. See README.md.

GO           ?= go
BIN          := bin/latchkey
CADDY_VERSION := v2.11.9
XCADDY       := github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
STATICCHECK  := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOFUMPT      := mvdan.cc/gofumpt@v0.12.0
GOVULNCHECK  := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB       := golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018

# Where `make run` keeps its data: the database, the generated keys, the API
# token and the admin socket. The CLI finds the same directory through the
# same variable.
LATCHKEY_DATA_DIR ?= $(HOME)/.local/share/latchkey
export LATCHKEY_DATA_DIR

.PHONY: build run test test-clients bench xcaddy lint fuzz demo clean

## build: compile bin/latchkey (Caddy with the standard modules and latchkey's).
build:
	$(GO) build -o $(BIN) ./xcaddy

## run: run the proxy on Caddyfile.example (proxy on 127.0.0.1:8080).
run: build
	mkdir -p -m 0700 "$(LATCHKEY_DATA_DIR)"
	$(BIN) run --config Caddyfile.example --adapter caddyfile

## test: vet, then every test with the race detector (end-to-end tests reuse bin/latchkey).
test: build
	$(GO) vet ./...
	LATCHKEY_BIN="$(CURDIR)/$(BIN)" $(GO) test -race -count=1 -timeout 20m ./...

## test-clients: the real Codex CLI and Claude Code through bin/latchkey against fake
## upstreams (tests/clients). The pinned clients are installed once with npm into
## CLIENTS_DIR, one directory per version; a changed pin installs anew.
CLIENTS_DIR ?= $(HOME)/.cache/latchkey-clients
CODEX_VERSION  := 0.171.0
CLAUDE_VERSION := 2.1.332
CODEX_DIR  := $(CLIENTS_DIR)/codex-$(CODEX_VERSION)
CLAUDE_DIR := $(CLIENTS_DIR)/claude-code-$(CLAUDE_VERSION)
NPM_INSTALL := npm install --no-audit --no-fund --loglevel=error --prefix

$(CODEX_DIR)/.installed:
	rm -rf "$(CODEX_DIR)"
	$(NPM_INSTALL) "$(CODEX_DIR)" @openai/codex@$(CODEX_VERSION)
	touch "$@"

$(CLAUDE_DIR)/.installed:
	rm -rf "$(CLAUDE_DIR)"
	$(NPM_INSTALL) "$(CLAUDE_DIR)" @anthropic-ai/claude-code@$(CLAUDE_VERSION)
	touch "$@"

test-clients: build $(CODEX_DIR)/.installed $(CLAUDE_DIR)/.installed
	@codex="$$(find "$(CODEX_DIR)/node_modules/@openai" -path '*/vendor/*/bin/codex' -type f | head -n 1)"; \
	claude="$(CLAUDE_DIR)/node_modules/@anthropic-ai/claude-code/bin/claude.exe"; \
	test -n "$$codex" || { echo "no native codex binary under $(CODEX_DIR)"; exit 1; }; \
	echo "LATCHKEY_BIN=$(BIN) CODEX_BIN=$$codex CLAUDE_BIN=$$claude"; \
	LATCHKEY_BIN="$(CURDIR)/$(BIN)" CODEX_BIN="$$codex" CLAUDE_BIN="$$claude" \
	CODEX_VERSION=$(CODEX_VERSION) CLAUDE_VERSION=$(CLAUDE_VERSION) \
		$(GO) test -race -tags clients -count=1 -timeout 10m ./tests/clients/

## demo: a narrated failover and refresh against fake upstreams; cleans up after itself.
demo: build
	$(GO) run ./demo -bin $(BIN)

## bench: the Go micro-benchmarks of the hot paths.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./swap/ ./mitm/ ./engine/

## fuzz: run each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzReaderMatchesReplace -fuzztime $(FUZZTIME) ./swap/

## xcaddy: build bin/caddy-xcaddy the way users build their own Caddy with xcaddy.
xcaddy:
	$(GO) run $(XCADDY) build $(CADDY_VERSION) --output bin/caddy-xcaddy \
		--with github.com/latchkeyproxy/latchkey@v0.0.0-00010101000000-000000000000=.

## lint: gofmt, gofumpt, go vet, staticcheck and govulncheck (offline database).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) run $(GOFUMPT) -l -d $$(git ls-files '*.go')
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	./.ci/vulncheck

clean:
	rm -rf bin
