//! Embeds the pre-initialized guest component built by `make guest`, and records its
//! sha256 as the guest's build identity (it keys the bytecode and component caches).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn main() {
    println!("cargo:rerun-if-env-changed=JSRUNTIME_GUEST_WASM");
    let path = std::env::var_os("JSRUNTIME_GUEST_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/jsruntime-guest.wasm")
        });
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!(
                "error: the guest component {} is missing ({error}).\n\
                 Build it first with `make guest` (or run `make test` / `make run`), \
                 or point JSRUNTIME_GUEST_WASM at a pre-initialized guest.",
                path.display()
            );
            std::process::exit(1);
        }
    };
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let path = path.canonicalize().unwrap_or(path);
    println!("cargo:rustc-env=JSRUNTIME_GUEST_PATH={}", path.display());
    println!("cargo:rustc-env=JSRUNTIME_GUEST_SHA256={hex}");
}
