# Weft. `make demo` runs a real mesh on this machine; `make test` installs, builds and tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_MODULES := node_modules/.package-lock.json

.PHONY: help install install-cli deps build typecheck proto proto-check test test-unit test-integration demo demo-ha bench profile clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES) deps ## install npm packages and system tools the tests use

deps: ## system packages used by tests, the demo and make bench (curl, openssl, wrk, h2load, Redis and its tools, PostgreSQL, HAProxy, Chromium, the Prometheus Python parser, gRPC C-core); apt only when missing
	@missing=""; for b in curl openssl python3 wrk; do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v etcd >/dev/null || missing="$$missing etcd-server"; \
	command -v etcdctl >/dev/null || missing="$$missing etcd-client"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v redis-benchmark >/dev/null || missing="$$missing redis-tools"; \
	{ command -v psql >/dev/null && { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; } || missing="$$missing postgresql"; \
	{ command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ]; } || missing="$$missing haproxy"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null || missing="$$missing python3-prometheus-client"; \
	/usr/bin/python3 -c 'import grpc' 2>/dev/null || missing="$$missing python3-grpcio"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing"; exit 1; fi; fi

proto: $(NODE_MODULES) ## regenerate proto/gen from the pinned Envoy protos and proto/weft
	node scripts/gen-proto.mjs

proto-check: proto ## fail if regenerating proto/gen changes anything
	@git diff --exit-code --stat -- proto/gen && test -z "$$(git status --porcelain -- proto/gen)" \
	  || { echo "proto/gen is stale: run make proto and commit"; exit 1; }

build: $(NODE_MODULES) ## compile TypeScript into dist/, bundle the data plane into dist/sidecar-bundle/ and the dashboard into dist/dashboard/
	npx tsc -p tsconfig.json
	node scripts/bundle-sidecar.mjs
	node scripts/build-dashboard.mjs

typecheck: $(NODE_MODULES) ## type-check sources, tests, benchmarks and the dashboard (vitest itself does not)
	npx tsc -p tsconfig.test.json
	npx tsc -p control-plane/dashboard/tsconfig.json --noEmit

test: install build typecheck ## install everything, build, run all tests
	@mkdir -p build
	npx vitest run --reporter=default --reporter=json --outputFile.json=build/test-results.json; rc=$$?; \
	node -e 'const r=require("./build/test-results.json"); console.log(`tests: $${r.numPassedTests} passed, $${r.numFailedTests} failed, $${r.numPendingTests} skipped`)' || true; \
	exit $$rc

test-unit: build
	npx vitest run test/unit

test-integration: build
	npx vitest run test/integration test/e2e

demo: install build ## run a real mesh on loopback, print a summary, stop everything
	node deploy/demo/run.mjs

demo-ha: install build ## as root: 3 hosts (network namespaces) with etcd + a replica each, and services; kill -9, partition, quorum loss; summary; stops everything
	npx vite-node deploy/demo-ha/run.ts

bench: install build ## benchmarks (docs/benchmarks.md); results, summary.json and latency.svg in bench/results/
	bash scripts/bench.sh

BINDIR ?= $(HOME)/.local/bin
install-cli: build ## put a `weft` command on PATH without root: a symlink BINDIR/weft -> bin/weft.js (BINDIR default ~/.local/bin)
	@mkdir -p "$(BINDIR)" && ln -sfn "$(CURDIR)/bin/weft.js" "$(BINDIR)/weft" && echo "weft -> $(CURDIR)/bin/weft.js in $(BINDIR)"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "$(BINDIR) is not on PATH: add it, e.g. export PATH=\"$(BINDIR):\$$PATH\" (in ~/.bashrc to keep it)";; esac

profile: install build ## CPU profile of one sidecar hop under load: hottest functions, and a .cpuprofile (flame graph)
	bash bench/proxy/setup.sh
	bash bench/profile-hop.sh

clean:
	rm -rf dist build
