# ceems-lake — every target people and CI use. `make` alone lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# Build output lives outside the clone so clones and CI runs on the same machine share it.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ceems-lake/target
CARGO ?= cargo
BIN_DEBUG := $(CARGO_TARGET_DIR)/debug/ceems-lake
BIN := $(CARGO_TARGET_DIR)/release/ceems-lake
# Store served by `make run` (generated on first run).
DATA ?= ./lake
SAMPLE_UNITS ?= 20000
LISTEN ?= 127.0.0.1:9020
# Which checkout last built into CARGO_TARGET_DIR. Cargo decides freshness by file times, so
# outputs built from another checkout of the same commit can look newer than this one's sources
# and be reused with that checkout's paths compiled in; touching our sources forces a rebuild of
# this workspace's crates only (dependencies stay cached).
SOURCE_STAMP := $(CARGO_TARGET_DIR)/.ceems-lake-checkout

##@ Getting started
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: run
run: release ## Build, create sample data in ./lake if empty, and serve it on localhost:9020
	@if [ ! -d "$(DATA)/_manifest" ]; then \
	  echo "generating $(SAMPLE_UNITS) sample units into $(DATA) ..."; \
	  $(BIN) --data "$(DATA)" generate --units $(SAMPLE_UNITS) --clusters 3 --seed 42 --end now; \
	fi
	$(BIN) --data "$(DATA)" serve --config.file data/ceems-lake.yml --web.listen-address $(LISTEN)

##@ Development
.PHONY: own-cache
own-cache:
	@mkdir -p "$(CARGO_TARGET_DIR)"
	@if [ "$$(cat "$(SOURCE_STAMP)" 2>/dev/null)" != "$(CURDIR)" ]; then \
	  if [ -f "$(SOURCE_STAMP)" ]; then echo "build cache last used by another checkout: rebuilding this workspace's crates"; fi; \
	  find engine api tests benches -name '*.rs' -o -name Cargo.toml | xargs touch; \
	  echo "$(CURDIR)" > "$(SOURCE_STAMP)"; \
	fi

.PHONY: build
build: own-cache ## Debug build of the ceems-lake binary
	$(CARGO) build -p ceems-lake-api --bin ceems-lake

.PHONY: release
release: own-cache ## Release build (no LTO; about 20 min on 2 cores the first time, then minutes)
	$(CARGO) build --release -p ceems-lake-api --bin ceems-lake

.PHONY: dist
dist: own-cache ## Fully optimised binary (fat LTO, one codegen unit; slow to build)
	$(CARGO) build --profile dist -p ceems-lake-api --bin ceems-lake

.PHONY: deps
deps: ## Install what the tests need beyond Rust (Chromium for the Swagger UI browser test)
	@if command -v chromium >/dev/null 2>&1; then \
	  echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	else \
	  echo "WARNING: chromium is not installed and this is not root: the Swagger UI browser test will fail."; \
	  echo "         Install it with: sudo apt-get install -y --no-install-recommends chromium"; \
	fi

.PHONY: test
test: deps own-cache ## All tests (unit, property, end-to-end against the real binary)
	@# One build of every target with the same feature set `cargo test --workspace` uses, so
	@# DataFusion is compiled once (building the binary alone would unify features differently).
	$(CARGO) build --workspace --all-targets
	CEEMS_LAKE_BIN=$(BIN_DEBUG) $(CARGO) test --workspace --no-fail-fast

.PHONY: lint
lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: bench
bench: own-cache ## Criterion benches (results: BENCHMARKS.md)
	$(CARGO) bench -p ceems-lake-benches

.PHONY: bench-scale
bench-scale: release ## Import, crash-safety and backfill runs at scale into data/generated (BENCHMARKS.md)
	benches/scripts/import_scale.sh
	benches/scripts/crash_scale.sh
	benches/scripts/backfill_scale.sh

.PHONY: ci
ci: lint test ## What CI runs, and more: lint then test
