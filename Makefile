# jsruntime: `make run` runs the CLI on a sample script, `make test` runs every test.
# Both install what a fresh Debian machine of this kind is missing, and say so.

SHELL := /bin/bash
.DEFAULT_GOAL := run

BUILD         := $(CURDIR)/target/build
WASI_SDK_DIR  := $(BUILD)/wasi-sdk
GUEST_TARGET  := $(CURDIR)/target/guest
GUEST_RAW     := $(GUEST_TARGET)/wasm32-wasip2/release/jsruntime_guest.wasm
GUEST_WASM    := $(CURDIR)/target/jsruntime-guest.wasm
DEBIAN_PKGS   := clang-19 lld-19 llvm-19 libclang-rt-19-dev-wasm32 wasi-libc
GUEST_SOURCES := $(shell find guest/src guest/vendor wit -type f 2>/dev/null) guest/Cargo.toml
CARGO         ?= cargo
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export WASI_SDK := $(WASI_SDK_DIR)
export JSRUNTIME_GUEST_WASM := $(GUEST_WASM)

.PHONY: run test deps guest guest-test host-test e2e-test lint fmt clean

## deps: Debian packages for building QuickJS to wasm, and the wasm32-wasip2 Rust target.
deps: $(BUILD)/.deps
$(BUILD)/.deps:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if ! rustup target list --installed | grep -qx wasm32-wasip2; then \
	  echo "==> adding the Rust target wasm32-wasip2"; rustup target add wasm32-wasip2; fi
	@mkdir -p $(BUILD) && touch $@

## A directory laid out like wasi-sdk, made of symlinks to Debian's clang-19 and
## wasi-libc, so rquickjs-sys builds QuickJS without downloading wasi-sdk.
$(WASI_SDK_DIR)/.ready: $(BUILD)/.deps
	@echo "==> assembling a wasi-sdk layout from Debian packages in $(WASI_SDK_DIR)"
	@mkdir -p $(WASI_SDK_DIR)/bin $(WASI_SDK_DIR)/share/wasi-sysroot/include $(WASI_SDK_DIR)/share/wasi-sysroot/lib
	@ln -sfn /usr/bin/clang-19 $(WASI_SDK_DIR)/bin/clang
	@ln -sfn /usr/bin/llvm-ar-19 $(WASI_SDK_DIR)/bin/ar
	@ln -sfn /usr/bin/llvm-ranlib-19 $(WASI_SDK_DIR)/bin/ranlib
	@ln -sfn /usr/include/wasm32-wasi $(WASI_SDK_DIR)/share/wasi-sysroot/include/wasm32-wasip2
	@ln -sfn /usr/lib/wasm32-wasi $(WASI_SDK_DIR)/share/wasi-sysroot/lib/wasm32-wasip2
	@touch $@

## guest: the QuickJS component, compiled and pre-initialized (Wizer).
guest: $(GUEST_WASM)
$(GUEST_RAW): $(WASI_SDK_DIR)/.ready $(GUEST_SOURCES)
	@echo "==> building the guest component (QuickJS via javy, wasm32-wasip2)"
	cd guest && $(CARGO) build --release --target wasm32-wasip2 --target-dir $(GUEST_TARGET)
$(GUEST_WASM): $(GUEST_RAW)
	@echo "==> pre-initializing the guest with Wizer"
	$(CARGO) run --release -q -p jsruntime-wizen -- $(GUEST_RAW) $@

## run: the CLI on the sample script, with a sample tenant context.
run: guest
	@echo "==> building the CLI"
	$(CARGO) build --release -p jsruntime --bin jsruntime
	@echo "==> jsruntime run examples/hello.js"
	./target/release/jsruntime run --json --context "$$(cat examples/context.json)" examples/hello.js

## test: guest unit tests (natively), host unit tests, end-to-end tests.
test: guest guest-test host-test

guest-test: $(BUILD)/.deps
	@echo "==> guest unit tests (QuickJS engine, natively)"
	cd guest && $(CARGO) test --release --target-dir ../target/guest-native

host-test: guest
	@echo "==> host unit tests and end-to-end tests (tests/)"
	$(CARGO) test --release -p jsruntime -p jsruntime-wizen

lint: guest
	cargo fmt --all --check
	cd guest && cargo fmt --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	cd guest && WASI_SDK=$(WASI_SDK_DIR) $(CARGO) clippy --release --target wasm32-wasip2 --target-dir ../target/guest -- -D warnings

fmt:
	cargo fmt --all
	cd guest && cargo fmt

clean:
	rm -rf target

## bench: benchmarks (sandbox vs native QuickJS, latency, memory, start-up, timeouts);
## writes BENCHMARKS.md. Takes a few minutes; the first run also compiles the guest
## once per benchmarked engine configuration (cached in target/bench-cache).
.PHONY: bench
bench: guest
	@echo "==> building the CLI (its start-up time is measured)"
	$(CARGO) build --release -p jsruntime --bin jsruntime
	@echo "==> running the benchmarks"
	$(CARGO) run --release -p jsruntime-bench

## soak: the soak test at length: 200,000 mixed executions from 100 tenants, checking
## every result and that RSS stays flat (prints its RSS samples). Takes a few minutes.
## (It is one test of the `serial` binary, tests/serial/soak.rs.)
.PHONY: soak
soak: guest
	JSRUNTIME_SOAK_EXECUTIONS=200000 $(CARGO) test --release -p jsruntime --test serial -- \
	  --exact soak::soak_mixed_executions_from_a_hundred_tenants --nocapture

## fuzz: libFuzzer on Runtime::execute_detailed (fuzz/fuzz_targets/execute.rs) for
## FUZZ_SECONDS (default 300), with the JS dictionary, starting from the seeds in
## fuzz/corpus/execute; new inputs go to fuzz/corpus-raw/execute (not committed), a
## failing input to fuzz/artifacts/execute. Needs the nightly toolchain and cargo-fuzz
## (installed if missing). The first build instruments wasmtime: it takes a while.
FUZZ_SECONDS   ?= 300
FUZZ_TARGET    ?= execute
FUZZ_SANITIZER ?= address
FUZZ_ARGS      ?=
FUZZ_DIR       := $(CURDIR)/fuzz
.PHONY: fuzz
fuzz: guest
	@if ! rustup toolchain list | grep -q '^nightly'; then \
	  echo "==> installing the nightly Rust toolchain (cargo fuzz needs it)"; \
	  rustup toolchain install nightly --profile minimal; fi
	@if ! command -v cargo-fuzz >/dev/null; then \
	  echo "==> installing cargo-fuzz"; $(CARGO) install cargo-fuzz --locked; fi
	@mkdir -p $(FUZZ_DIR)/corpus-raw/$(FUZZ_TARGET)
	@echo "==> fuzzing $(FUZZ_TARGET) for $(FUZZ_SECONDS) s (sanitizer: $(FUZZ_SANITIZER))"
	cargo +nightly fuzz run --fuzz-dir $(FUZZ_DIR) -s $(FUZZ_SANITIZER) $(FUZZ_TARGET) \
	  $(FUZZ_DIR)/corpus-raw/$(FUZZ_TARGET) $(FUZZ_DIR)/corpus/$(FUZZ_TARGET) -- \
	  -dict=$(FUZZ_DIR)/dict/js.dict -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -timeout=30 -rss_limit_mb=4096 -malloc_limit_mb=4096 -detect_leaks=0 \
	  -print_final_stats=1 $(FUZZ_ARGS)

## coverage: line coverage of the host crate (host/src) under the host's tests (the
## ones `make test` runs for it; not the doc tests), with cargo-llvm-cov. Installs the
## llvm-tools-preview component and cargo-llvm-cov if missing. Prints the per-file
## summary, then the lines no test runs; the HTML report is in target/llvm-cov/html.
COV_IGNORE := /(tests|tools|bench|guest|fuzz)/|/\.cargo/|/rustc/
.PHONY: coverage
coverage: guest
	@if ! rustup component list --installed | grep -q '^llvm-tools'; then \
	  echo "==> adding the rustup component llvm-tools-preview"; \
	  rustup component add llvm-tools-preview; fi
	@if ! command -v cargo-llvm-cov >/dev/null; then \
	  echo "==> installing cargo-llvm-cov"; $(CARGO) install cargo-llvm-cov --locked; fi
	@echo "==> host tests under coverage instrumentation (target/llvm-cov-target)"
	@$(CARGO) llvm-cov clean --workspace
	@status=0; \
	$(CARGO) llvm-cov --release -p jsruntime --no-report --no-fail-fast || status=$$?; \
	$(CARGO) llvm-cov report --release --ignore-filename-regex '$(COV_IGNORE)' --text --output-dir target/llvm-cov && \
	$(CARGO) llvm-cov report --release --ignore-filename-regex '$(COV_IGNORE)' --html --output-dir target/llvm-cov && \
	echo "==> line coverage of host/src, per file (the Lines columns), with the lines no test runs" && \
	$(CARGO) llvm-cov report --release --ignore-filename-regex '$(COV_IGNORE)' --show-missing-lines || exit $$?; \
	echo "==> annotated sources: target/llvm-cov/html/index.html, target/llvm-cov/text/"; \
	if [ $$status != 0 ]; then echo "==> some tests FAILED (see above); the figures count what ran"; fi; \
	exit $$status
