//! Embeds the pre-initialized guest component, and records its sha256 as the guest's build
//! identity (it keys the bytecode and component caches).
//!
//! The guest is `host/guest/jsruntime-guest.wasm`, committed to the repository, so that a
//! service depending on this crate (by path or git) builds with cargo alone: no C
//! toolchain, no wasm target, no make step. `make check-guest` (part of `make test`)
//! rebuilds it from source and fails if the bytes differ; `make update-guest` refreshes it.
//! `JSRUNTIME_GUEST_WASM`, when set, names another pre-initialized guest instead (the
//! Makefile points it at the one it has just built from source).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn main() {
    println!("cargo:rerun-if-env-changed=JSRUNTIME_GUEST_WASM");
    let from_env = std::env::var_os("JSRUNTIME_GUEST_WASM").filter(|path| !path.is_empty());
    let path = match &from_env {
        Some(path) => PathBuf::from(path),
        // Read when the script runs, not `env!` when it is compiled: checkouts that share
        // a target directory share this script's binary (cargo's hash of a workspace
        // member leaves out its absolute path), and each must read its own guest.
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("guest/jsruntime-guest.wasm"),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            if from_env.is_some() {
                eprintln!(
                    "error: JSRUNTIME_GUEST_WASM names {}, which cannot be read ({error}).\n\
                     Unset it to use the guest committed in host/guest/, or build one with \
                     `make guest` in the jsruntime repository.",
                    path.display()
                );
            } else {
                eprintln!(
                    "error: the committed guest component {} is missing ({error}).\n\
                     It is part of the jsruntime repository; restore it with \
                     `git checkout -- host/guest/jsruntime-guest.wasm`, or rebuild it with \
                     `make update-guest` there (which needs the Debian packages clang-19 \
                     lld-19 llvm-19 libclang-rt-19-dev-wasm32 wasi-libc and \
                     `rustup target add wasm32-wasip2`; make installs what is missing).",
                    path.display()
                );
            }
            std::process::exit(1);
        }
    };
    if !bytes.starts_with(b"\0asm") {
        eprintln!(
            "error: {} is not a WebAssembly component ({} bytes, starting {:?}). If it is a \
             Git LFS pointer or was converted on checkout, fetch the real file; the \
             repository's .gitattributes marks it binary.",
            path.display(),
            bytes.len(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        );
        std::process::exit(1);
    }
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let path = path.canonicalize().unwrap_or(path);
    println!("cargo:rustc-env=JSRUNTIME_GUEST_PATH={}", path.display());
    println!("cargo:rustc-env=JSRUNTIME_GUEST_SHA256={hex}");
}
