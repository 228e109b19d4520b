//! `crypto.digest`: the hashes `crypto.subtle.digest` asks the host for, and what each
//! costs the execution in fuel.
//!
//! The host hashes with the CPU's SHA instructions where it has them (the `sha1` and
//! `sha2` crates detect them at run time); wasm has none, and the same hash compiled
//! into the guest ran at about a seventh of the host's speed. An execution is charged
//! [`fuel_per_byte`] for each byte, what the guest's own hash used (measured on the
//! guest of 2026-12-03: SHA-1 37.5, SHA-256 75.6, SHA-384 and SHA-512 51.6 fuel a byte),
//! so a fuel budget bounds a script that hashes as much as it did before.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::bindings::jsruntime::sandbox::crypto::HashAlgorithm;

/// The digest of `data` by `algorithm`.
///
/// ```
/// use jsruntime_wasm::bindings::jsruntime::sandbox::crypto::HashAlgorithm;
/// let hash = jsruntime_wasm::digest::digest(HashAlgorithm::Sha256, b"abc");
/// assert_eq!(hash[..4], [0xba, 0x78, 0x16, 0xbf]);
/// ```
pub fn digest(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// The fuel an execution is charged per byte it hashes with `algorithm`: what hashing
/// it inside the guest used (rounded up; see the module documentation).
pub fn fuel_per_byte(algorithm: HashAlgorithm) -> u64 {
    match algorithm {
        HashAlgorithm::Sha1 => 38,
        HashAlgorithm::Sha256 => 76,
        HashAlgorithm::Sha384 | HashAlgorithm::Sha512 => 52,
    }
}

/// The fuel an execution is charged for hashing `len` bytes with `algorithm`, plus
/// [`DIGEST_CALL_FUEL`] for the call.
pub fn fuel(algorithm: HashAlgorithm, len: usize) -> u64 {
    (len as u64)
        .saturating_mul(fuel_per_byte(algorithm))
        .saturating_add(DIGEST_CALL_FUEL)
}

/// What a call costs beyond its bytes: the guest's hash also padded and finished the
/// last block (a few thousand instructions), so an empty digest is not free.
pub const DIGEST_CALL_FUEL: u64 = 5_000;
