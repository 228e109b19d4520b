//! Records the versions the report names. (The guest component the raw engine drives is
//! the one the `jsruntime` crate embeds: `jsruntime::guest_component()`.)

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

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
