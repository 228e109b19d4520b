//! Embeds the guest component the benchmarks drive directly (the same file the
//! `jsruntime` crate embeds), and records the versions the report names.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    // The guest: same lookup as host/build.rs, so both crates embed the same bytes.
    println!("cargo:rerun-if-env-changed=JSRUNTIME_GUEST_WASM");
    let guest = std::env::var_os("JSRUNTIME_GUEST_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../target/jsruntime-guest.wasm"));
    println!("cargo:rerun-if-changed={}", guest.display());
    let bytes = std::fs::read(&guest).unwrap_or_else(|error| {
        eprintln!(
            "error: the guest component {} is missing ({error}); build it with `make guest`.",
            guest.display()
        );
        std::process::exit(1);
    });
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let guest = guest.canonicalize().unwrap_or(guest);
    println!("cargo:rustc-env=BENCH_GUEST_PATH={}", guest.display());
    println!("cargo:rustc-env=BENCH_GUEST_SHA256={hex}");

    // Versions, as resolved in the lock files.
    let root_lock = manifest_dir.join("../Cargo.lock");
    let guest_lock = manifest_dir.join("../guest/Cargo.lock");
    for (env, lock, package) in [
        ("BENCH_WASMTIME_VERSION", &root_lock, "wasmtime"),
        ("BENCH_RQUICKJS_VERSION", &root_lock, "rquickjs"),
        ("BENCH_JAVY_VERSION", &guest_lock, "javy"),
        ("BENCH_GUEST_RQUICKJS_VERSION", &guest_lock, "rquickjs"),
    ] {
        println!("cargo:rerun-if-changed={}", lock.display());
        let version = locked_version(lock, package).unwrap_or_else(|| "unknown".to_owned());
        println!("cargo:rustc-env={env}={version}");
    }

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BENCH_RUSTC_VERSION={version}");
}

/// The version of `package` in a Cargo.lock (the first entry of that name).
fn locked_version(lock: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(lock).ok()?;
    let needle = format!("name = \"{package}\"\n");
    let at = text.find(&needle)? + needle.len();
    let line = text[at..].lines().next()?;
    Some(
        line.strip_prefix("version = \"")?
            .strip_suffix('"')?
            .to_owned(),
    )
}
