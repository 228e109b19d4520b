# jsruntime: `make run` runs the CLI on a sample script, `make test` runs every test.
# Both install what a fresh Debian machine of this kind is missing, and say so.

SHELL := /bin/bash
.DEFAULT_GOAL := run

BUILD         := $(CURDIR)/target/build
WASI_SDK_DIR  := $(BUILD)/wasi-sdk
GUEST_TARGET  := $(CURDIR)/target/guest
GUEST_RAW     := $(GUEST_TARGET)/wasm32-wasip2/release/jsruntime_guest.wasm
GUEST_WASM    := $(CURDIR)/target/jsruntime-guest.wasm
# The pre-initialized guest the host crate embeds by default: committed, so a service can
# depend on jsruntime with cargo alone. `make check-guest` (run by `make test`) proves it
# is what these sources build; `make update-guest` refreshes it.
GUEST_COMMITTED := $(CURDIR)/host/guest/jsruntime-guest.wasm
GUEST_TOOLCHAIN := $(CURDIR)/host/guest/TOOLCHAIN
DEBIAN_PKGS   := clang-19 lld-19 llvm-19 libclang-rt-19-dev-wasm32 wasi-libc
# What the host's tests need besides the build: a Redis for the Redis budget store's.
TEST_DEBIAN_PKGS := redis-server
GUEST_SOURCES := $(shell find guest/src guest/vendor guest/asm wit -type f 2>/dev/null) \
                 guest/Cargo.toml guest/Cargo.lock guest/build.rs guest/.cargo/config.toml
WIZEN_SOURCES := $(shell find tools/wizen -type f 2>/dev/null)
CARGO         ?= cargo
SUDO          := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
# A guest build that is the same bytes in any directory, on any machine with the same
# toolchain: the checkout and CARGO_HOME are renamed in every path the build records
# (Rust panic locations; C __FILE__s). rquickjs-sys's build script overwrites CFLAGS, so
# the C flags go in the target-specific variable, which the cc crate adds to CFLAGS.
# --config joins these rustflags to guest/.cargo/config.toml's (RUSTFLAGS would replace them).
GUEST_RUSTFLAGS := target.wasm32-wasip2.rustflags=["--remap-path-prefix=$(CURDIR)=/jsruntime","--remap-path-prefix=$(CARGO_HOME_DIR)=/cargo"]
GUEST_CFLAGS    := -ffile-prefix-map=$(CURDIR)=/jsruntime -ffile-prefix-map=$(CARGO_HOME_DIR)=/cargo
GUEST_CARGO     := CFLAGS_wasm32_wasip2='$(GUEST_CFLAGS)' $(CARGO)
GUEST_CARGO_ARGS := --release --locked --target wasm32-wasip2 --target-dir $(GUEST_TARGET) --config '$(GUEST_RUSTFLAGS)'

export WASI_SDK := $(WASI_SDK_DIR)
export JSRUNTIME_GUEST_WASM := $(GUEST_WASM)

.PHONY: run test deps guest guest-test host-test e2e-test lint fmt clean

## deps: Debian packages for building QuickJS to wasm, and the wasm32-wasip2 Rust target.
deps: $(BUILD)/.deps
$(BUILD)/.deps:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; } || { \
	    echo "error: building the guest needs the Debian packages$$missing, and installing them failed."; \
	    echo "       Install them with: sudo apt-get install$$missing"; exit 1; }; \
	fi
	@if ! rustup target list --installed | grep -qx wasm32-wasip2; then \
	  echo "==> adding the Rust target wasm32-wasip2"; rustup target add wasm32-wasip2 || { \
	    echo "error: building the guest needs the Rust target wasm32-wasip2: rustup target add wasm32-wasip2"; exit 1; }; fi
	@mkdir -p $(BUILD) && touch $@

## test-deps: Debian packages the host's tests run against (redis-server, started by
## tools/with-redis for the Redis budget store's tests).
.PHONY: test-deps
test-deps:
	@missing=""; for p in $(TEST_DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages for the tests:$$missing"; \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; } || { \
	    echo "error: the host's tests need the Debian packages$$missing, and installing them failed."; \
	    echo "       Install them with: sudo apt-get install$$missing"; exit 1; }; \
	fi

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
	cd guest && $(GUEST_CARGO) build $(GUEST_CARGO_ARGS)
$(GUEST_WASM): $(GUEST_RAW) $(WIZEN_SOURCES)
	@echo "==> pre-initializing the guest with Wizer"
	$(CARGO) run --release -q -p jsruntime-wizen -- $(GUEST_RAW) $@

## check-guest: the committed guest (host/guest/jsruntime-guest.wasm, what a service that
## depends on jsruntime embeds) must be byte for byte what these sources build.
.PHONY: check-guest update-guest
check-guest: $(GUEST_WASM)
	@if cmp -s $(GUEST_WASM) $(GUEST_COMMITTED); then \
	  echo "==> host/guest/jsruntime-guest.wasm is what the sources build ($$(sha256sum < $(GUEST_COMMITTED) | cut -c1-16)...)"; \
	else \
	  echo "error: host/guest/jsruntime-guest.wasm is not what the sources build."; \
	  echo "       committed:  $$(sha256sum < $(GUEST_COMMITTED) 2>/dev/null | cut -d' ' -f1)"; \
	  echo "       from source: $$(sha256sum < $(GUEST_WASM) | cut -d' ' -f1)"; \
	  echo "       If guest/, wit/ or the guest's Cargo.lock changed, run \`make update-guest\` and commit host/guest/."; \
	  $(MAKE) -s --no-print-directory guest-toolchain > $(BUILD)/TOOLCHAIN.now; \
	  if ! cmp -s $(BUILD)/TOOLCHAIN.now $(GUEST_TOOLCHAIN); then \
	    echo "       The toolchain differs from the one that built the committed guest (host/guest/TOOLCHAIN):"; \
	    diff $(GUEST_TOOLCHAIN) $(BUILD)/TOOLCHAIN.now | sed 's/^/         /'; \
	  fi; \
	  exit 1; \
	fi

## update-guest: rebuild the guest from source and commit-ready copy it to host/guest/.
update-guest: $(GUEST_WASM)
	@mkdir -p $(dir $(GUEST_COMMITTED))
	cp $(GUEST_WASM) $(GUEST_COMMITTED)
	@$(MAKE) -s --no-print-directory guest-toolchain > $(GUEST_TOOLCHAIN)
	@echo "==> host/guest/ updated ($$(sha256sum < $(GUEST_COMMITTED) | cut -d' ' -f1)); commit it"

# The versions that determine the guest's bytes, recorded next to it.
.PHONY: guest-toolchain
guest-toolchain:
	@echo "$$(rustc -V)"
	@echo "$$(clang-19 --version | head -1)"
	@echo "wasi-libc $$(dpkg-query -W -f='$${Version}' wasi-libc 2>/dev/null)"

## embed-test: examples/embed, a standalone crate that depends on host/ by path the way a
## service does, built with its committed Cargo.lock (the workspace's versions) into the
## workspace's target directory, so it reuses the wasmtime `host-test` compiled. It uses
## the committed guest, as a service would (JSRUNTIME_GUEST_WASM unset).
EMBED_LOG := $(BUILD)/embed-build.log
WORKSPACE_TARGET := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
.PHONY: embed-test
LOCK_VERSIONS = awk '/^name = /{n=$$3} /^version = /{print n, $$3}' $(1) | grep -v '"jsruntime-embed-example"' | sort
embed-test:
	@echo "==> examples/embed: a service's own crate depending on jsruntime"
	@stray=$$(comm -23 <($(call LOCK_VERSIONS,examples/embed/Cargo.lock)) <($(call LOCK_VERSIONS,Cargo.lock))); \
	if [ -n "$$stray" ]; then \
	  echo "error: examples/embed/Cargo.lock has versions the workspace's Cargo.lock does not:"; \
	  echo "$$stray" | sed 's/^/         /'; echo "       Run \`make embed-lock\` and commit it."; exit 1; fi
	@mkdir -p $(BUILD); set -o pipefail; \
	built=$$(ls $(WORKSPACE_TARGET)/release/.fingerprint 2>/dev/null | grep -c '^wasmtime-[0-9a-f]*$$'); \
	( cd examples/embed && env -u JSRUNTIME_GUEST_WASM $(CARGO) build --release --locked \
	  --target-dir $(WORKSPACE_TARGET) ) 2>&1 | tee $(EMBED_LOG) || { \
	  echo "error: examples/embed did not build. If its Cargo.lock is behind the workspace's, run \`make embed-lock\`."; exit 1; }; \
	if [ "$$built" -gt 0 ] && grep -q 'Compiling wasmtime v' $(EMBED_LOG); then \
	  echo "error: examples/embed compiled wasmtime a second time: its dependency versions"; \
	  echo "       or features differ from the workspace's test build (see jsruntime-wasm's"; \
	  echo "       Cargo.toml for the features it pins; \`make embed-lock\` for versions)."; exit 1; fi
	$(WORKSPACE_TARGET)/release/jsruntime-embed-example

## embed-lock: examples/embed/Cargo.lock from the workspace's (same versions everywhere).
.PHONY: embed-lock
embed-lock:
	cp Cargo.lock examples/embed/Cargo.lock
	cd examples/embed && $(CARGO) update --workspace
	@echo "==> examples/embed/Cargo.lock: the workspace's versions, pruned to its dependencies"

## run: the CLI on the sample script, with a sample tenant context.
run: guest
	@echo "==> building the CLI"
	$(CARGO) build --release -p jsruntime --bin jsruntime
	@echo "==> jsruntime run --module examples/hello.js (a pricing handler, called with examples/cart.json)"
	./target/release/jsruntime run --json --module --input-file examples/cart.json --context "$$(cat examples/context.json)" examples/hello.js

## test: guest unit tests (natively), host unit tests, end-to-end tests.
test: guest check-guest check-embed-lock guest-test host-test embed-test

## check-embed-lock: fails in a second, not after the whole test run, when
## examples/embed/Cargo.lock is behind the workspace's (a dependency added to jsruntime).
.PHONY: check-embed-lock
# Not --offline: resolving needs every locked package's manifest, including the
# Windows-only ones no Linux build downloads, so on a fresh machine offline fails
# whether or not the lock is current. cargo's own message is kept: a lock that is
# behind and a registry that cannot be reached are told apart.
check-embed-lock:
	@cd examples/embed && out=$$($(CARGO) metadata --locked --format-version 1 2>&1 >/dev/null) || { \
	  echo "$$out" | sed 's/^/       /'; \
	  if echo "$$out" | grep -q -- '--locked'; then \
	    echo "error: examples/embed/Cargo.lock is behind the workspace's: run \`make embed-lock\` and commit it."; \
	  else \
	    echo "error: could not check examples/embed/Cargo.lock (cargo's message above)."; \
	  fi; exit 1; }

guest-test: $(BUILD)/.deps
	@echo "==> guest unit tests (QuickJS engine, natively)"
	cd guest && $(CARGO) test --release --target-dir ../target/guest-native

# With the `redis` feature, against a throwaway redis-server (tools/with-redis).
host-test: guest test-deps
	@echo "==> host unit tests and end-to-end tests (tests/), with a Redis for the Redis budget store"
	tools/with-redis $(CARGO) test --release -p jsruntime -p jsruntime-wasm -p jsruntime-wizen --features jsruntime/redis

lint: guest
	cargo fmt --all --check
	cd guest && cargo fmt --check
	$(CARGO) clippy --release --workspace --all-targets --features jsruntime/redis -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release -p jsruntime --no-deps --features redis
	cd guest && $(GUEST_CARGO) clippy $(GUEST_CARGO_ARGS) -- -D warnings

fmt:
	cargo fmt --all
	cd guest && cargo fmt

clean:
	rm -rf target

## bench: benchmarks (sandbox vs native QuickJS and Boa, latency, memory, start-up,
## timeouts); writes BENCHMARKS.md. The bench crate's `boa` feature adds the Boa peer:
## only here, so `make lint` (which builds the bench crate) and `make test` never compile
## Boa. Takes a few minutes; the first run also compiles the guest
## once per benchmarked engine configuration (cached in target/bench-cache).
.PHONY: bench
bench: guest test-deps
	@echo "==> building the CLI (its start-up time is measured)"
	$(CARGO) build --release -p jsruntime --bin jsruntime
	@echo "==> running the benchmarks (with a throwaway redis-server for section 8)"
	$(CARGO) build --release -p jsruntime-bench --features boa
	tools/with-redis $(WORKSPACE_TARGET)/release/jsruntime-bench

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
