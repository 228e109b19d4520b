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
	$(CARGO) test --release --workspace

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
