# credit-pools: every command a developer or CI needs.
#   make demo       build, start the example Worker under workerd, play the seed story over HTTP, stop
#   make serve      the same Worker, kept running (prints an admin token and a preview URL)
#   make demo-node  the seed story through the npm package in plain Node
#   make test       cargo test, the Node, workerd and headless-Chromium tests of the built package, and the simulator
#   make sim        the deterministic fault-injecting simulator alone (SEEDS=200 OPS=2000 by default)
#   make fuzz       the cargo-fuzz targets in fuzz/, FUZZ_SECONDS each (default 60)
#   make bench      the package against its native core, RateLimiterMemory and RateLimiterRedis: one table, bench/results.json
#   make bench-check  the benchmark's deterministic budgets (wasm gzip size, store calls and bytes per op); part of make test
#   make bench-deps   redis-server for make bench (Debian package, installed when missing)
#   make bench-opt-levels  the .wasm built at opt-level "z" (shipped), "s" and 3: size against wasm speed
#   make profile    where a reportUsage's time goes (callgrind of the native core, node --cpu-prof of the package) and what the .wasm's bytes are (twiggy)
# They install what they need (rust target, wasm-bindgen CLI, npm packages, Chromium) first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

WASM_BINDGEN_VERSION := 0.2.130
WASM_TARGET := wasm32-unknown-unknown
WASM_RAW := target/$(WASM_TARGET)/release/credit_pools.wasm
CARGO_BIN := $(HOME)/.cargo/bin
export PATH := $(CARGO_BIN):$(PATH)

RUST_SOURCES := $(shell find src -type f) Cargo.toml $(wildcard Cargo.lock)
PKG_SOURCES := $(wildcard pkg-template/*) scripts/build-pkg.mjs scripts/wasm-opt-features.mjs

.PHONY: deps rust-deps npm-deps browser-deps fuzz-deps bench-deps build test cargo-test js-test sim fuzz bench bench-check bench-opt-levels profile demo demo-node serve clean

# The deterministic simulator's run: seeds × operations (`make sim SEEDS=1000` runs more).
SEEDS ?= 200
OPS ?= 2000
# Seconds per cargo-fuzz target (`make fuzz FUZZ_SECONDS=600`).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := operations json_inputs stored_values

## Prerequisites (idempotent) -------------------------------------------------

rust-deps:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	@if ! wasm-bindgen --version 2>/dev/null | grep -q ' $(WASM_BINDGEN_VERSION)$$'; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi

# `npm ci` only when the lock file changed since the last install.
node_modules/.installed: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

npm-deps: node_modules/.installed

# Debian's Chromium for the preview-page test (apt-get, as root, only when missing).
browser-deps:
	@bash scripts/ensure-apt.sh /usr/bin/chromium chromium "the browser test (js-tests/browser.test.mjs)"

# cargo-fuzz for `make fuzz` (not needed by `make test`, which runs the harnesses as tests).
fuzz-deps:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2

# Debian's redis-server for the RateLimiterRedis contestant of `make bench` (the bench starts and stops its own).
bench-deps:
	@bash scripts/ensure-apt.sh /usr/bin/redis-server redis-server "the Redis contestant of make bench"

deps: rust-deps npm-deps

## Build ------------------------------------------------------------------------

pkg/package.json: $(RUST_SOURCES) $(PKG_SOURCES) | deps
	cargo build --release --target $(WASM_TARGET) --lib
	rm -rf pkg
	wasm-bindgen --target web --out-dir pkg $(WASM_RAW)
	node scripts/build-pkg.mjs
	@# The tests import the package by name, as a user would.
	ln -sfn ../pkg node_modules/credit-pools

build: pkg/package.json
	@ln -sfn ../pkg node_modules/credit-pools

## Tests ------------------------------------------------------------------------

cargo-test:
	cargo test --all-targets
	cargo test --doc

js-test: build browser-deps
	node --test js-tests/*.test.mjs js-tests/*.test.cjs

# Random operations through the storage protocol over a fault-injecting store,
# with the invariants checked after every step; a failing seed prints its replay.
sim:
	cargo run --profile native --bin sim -- --seeds $(SEEDS) --ops $(OPS)

# libFuzzer with AddressSanitizer on the stable toolchain: cargo-fuzz passes
# nightly-only flags, which RUSTC_BOOTSTRAP=1 allows.
fuzz: fuzz-deps
	cd fuzz && for target in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

test: cargo-test js-test sim bench-check

## Benchmark ----------------------------------------------------------------------

# Op counts: BENCH_OPS (per stream), BENCH_GROWTH_SAMPLE_OPS, BENCH_MEMORY_OPS,
# BENCH_COLD_START_RUNS, BENCH_WORKERD_RUNS (see bench/bench.mjs).
bench: build bench-deps
	node bench/bench.mjs

# Sizes and counts only, never wall-clock time: BENCH_GZIP_BUDGET_BYTES overrides the .wasm gzip budget.
bench-check: build
	node bench/check.mjs

# What opt-level "z" costs in speed and saves in size (builds under target/opt-level-*/).
bench-opt-levels: build
	node bench/opt-levels.mjs

# The profile BENCHMARKS.md quotes (valgrind from Debian, installed when missing).
profile: build
	@bash scripts/ensure-apt.sh /usr/bin/valgrind valgrind "the native profile of make profile"
	@command -v twiggy >/dev/null || cargo install twiggy --version 0.8.0
	cargo build --profile native --bin bench
	node bench/profile.mjs

## Demo -------------------------------------------------------------------------

demo: build
	node worker-example/dev.mjs demo

serve: build
	node worker-example/dev.mjs serve

demo-node: build
	node examples/demo.mjs

clean:
	rm -rf pkg target node_modules
