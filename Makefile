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
# token and the admin socket. The default is the latchkey app's own default
# (<caddy data dir>/latchkey), which is also where the CLI looks when the
# variable is not set.
LATCHKEY_DATA_DIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/caddy/latchkey
export LATCHKEY_DATA_DIR

.PHONY: build run test test-clients bench xcaddy lint fuzz load demo clean

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

## bench: the side-by-side load benchmark on loopback (writes bench/RESULTS.md;
## about 6 minutes on 2 cores), then the Go micro-benchmarks of the hot paths,
## appended to it. BENCH_FLAGS go to the driver (see bench/README.md).
BENCH_FLAGS ?=
BENCHTIME   ?= 1s
bench: build
	$(GO) build -o bin/latchkey-bench ./bench/cmd/latchkey-bench
	bin/latchkey-bench -bin $(BIN) -go $(GO) -out bench/RESULTS.md $(BENCH_FLAGS)
	mkdir -p bench/out
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) \
		./swap/ ./mitm/ ./engine/ ./proxy/ ./failover/ ./oauth/ > bench/out/micro.txt; \
		status=$$?; cat bench/out/micro.txt; exit $$status
	bin/latchkey-bench append-micro bench/out/micro.txt bench/RESULTS.md

## fuzz: run every fuzz target of the module for FUZZTIME each (default 30s);
## `go test` runs their seed corpora anyway.
FUZZTIME ?= 30s
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for target in $$($(GO) test -list '^Fuzz' $$dir/ | grep '^Fuzz'); do \
			echo "fuzz: $$dir $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$dir/; \
		done; \
	done

## load: the load test's long profile (100 agents, a pool of three, ~70 s);
## the short profile runs in `make test`.
load: build
	LATCHKEY_LOAD=1 LATCHKEY_BIN="$(CURDIR)/$(BIN)" $(GO) test -count=1 -v -timeout 30m \
		-run 'TestLoad' ./tests/

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
	GO="$(GO)" VULNDB="$(VULNDB)" GOVULNCHECK="$(GOVULNCHECK)" ./.ci/vulncheck

clean:
	rm -rf bin
