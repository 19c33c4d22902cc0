# kv: the two services and everything that checks them. `make start` and `make test` install
# whatever is missing first.
SHELL := /bin/bash
NPM ?= npm
STAMP := node_modules/.install-stamp
PACKAGES := shared client kv_store test_client
# What the build reads, and what it writes: each package's tsc build info, kept in its dist/ so
# that removing dist/ rebuilds it. tsc -b then recompiles only the packages whose sources changed.
BUILD_INPUTS := $(shell find $(PACKAGES:%=src/%/src) -name '*.ts') $(PACKAGES:%=src/%/tsconfig.json) tsconfig.base.json tsconfig.build.json
BUILD_INFO := $(PACKAGES:%=src/%/dist/tsconfig.tsbuildinfo)
# The web UI (src/ui) is bundled by Vite into src/ui/dist, which kv_store serves at /ui/.
UI_INPUTS := $(shell find src/ui/src src/ui/public -type f) src/ui/index.html src/ui/vite.config.ts src/ui/tsconfig.json src/ui/package.json
UI_BUILT := src/ui/dist/index.html
# kv_store as one file, which its launchers run (src/kv_store/rolldown.config.mjs says why).
KV_BUNDLE := src/kv_store/dist/kv_store.js

.PHONY: install build start start-cluster bench-etcd test check format lint typecheck e2e-docker bench soak crash-soak clean

install: $(STAMP)

# npm ci reproduces the committed lockfile; rerun only when it changes.
$(STAMP): package-lock.json package.json src/shared/package.json src/client/package.json src/kv_store/package.json src/test_client/package.json src/ui/package.json
	@command -v node >/dev/null || { echo "make: Node.js (24 or 22; 20.11+ still works) is required (https://nodejs.org)"; exit 1; }
	$(NPM) ci --no-audit --no-fund
	@touch $@

## build: compile what changed since the last build (nothing at all on a warm tree), bundle kv_store and the web UI
build: $(BUILD_INFO) $(KV_BUNDLE) $(UI_BUILT)

$(BUILD_INFO) &: $(BUILD_INPUTS) $(STAMP)
	npx tsc -b tsconfig.build.json
	@touch $(BUILD_INFO)

$(KV_BUNDLE): $(BUILD_INFO) src/kv_store/rolldown.config.mjs
	$(NPM) run -s bundle -w src/kv_store
	@touch $@

$(UI_BUILT): $(UI_INPUTS) $(STAMP)
	$(NPM) run -s build -w src/ui
	@touch $@

## start: build, then run kv_store (127.0.0.1:8080) and test_client (127.0.0.1:8081) until Ctrl-C
start: build
	@bash scripts/start.sh

## start-cluster: build, then run a three-member etcd cluster (127.0.0.1:2379/2381/2383) and two kv_store
## nodes on it (KV_BACKEND=etcd, 127.0.0.1:8080 and :8082) until Ctrl-C, which stops them all (docs/etcd-backend.md)
start-cluster: build
	@bash scripts/start-cluster.sh

## test: every test: unit, contract (in-process and real sockets), property, end-to-end processes
test: build
	npx vitest run $(VITEST_ARGS)

## check: what CI checks, in CI's order
check: install
	$(NPM) run format:check
	$(NPM) run lint
	$(NPM) run -s openapi:lint
	$(NPM) run typecheck
	$(NPM) run build
	npx vitest run $(VITEST_ARGS)

format: install
	$(NPM) run format

lint: install
	$(NPM) run lint

typecheck: install
	$(NPM) run typecheck

## e2e-docker: the seed README's whole Docker sequence, checked and cleaned up
e2e-docker:
	bash scripts/docker-e2e.sh

## bench: throughput, latency and memory beside a bare node:http reference and webdis + redis-server (docs/performance.md)
bench: build
	bash bench/run.sh

## bench-etcd: GET and PUT through one and two kv_store nodes on a three-member etcd cluster, beside etcd's
## JSON gateway and the in-memory kv_store, three rounds (bench/etcd-nodes.mjs; docs/etcd-backend.md, "Numbers")
bench-etcd: build
	node bench/etcd-nodes.mjs --rounds 3

## soak: concurrent writers checked against a model for SOAK_DURATION_S seconds (default 300; CI runs 30 s inside make test)
soak: build
	node scripts/soak.mjs --duration $${SOAK_DURATION_S:-300}

## crash-soak: kill -9 kv_store at CRASH_KILLS random moments (default 1000) under each KV_FSYNC setting and check nothing acknowledged is lost (CI kills 50 times under always and no inside make test)
crash-soak: build
	@for fsync in always everysec no; do node scripts/crash-harness.mjs --kills $${CRASH_KILLS:-1000} --fsync $$fsync || exit 1; done

clean:
	rm -rf node_modules src/*/dist src/*/node_modules src/*/*.tsbuildinfo .test-results.json
