//! FNV-1a, the hasher of the guest's tables whose keys are short strings: module names
//! and JSON keys, hashed once per import or per object.
//!
//! Why not the standard library's SipHash: its setup and finalization cost more than
//! hashing a ten-byte name, and the module tables were 5% of a 20-module run's samples
//! in it (bench/FINDINGS.md). SipHash's resistance to chosen collisions buys nothing
//! here: the keys come from the execution's own modules and input, and the worst a
//! script could do by choosing them is slow itself down, within its fuel and deadline.

use std::hash::{BuildHasherDefault, Hasher};

/// A 64-bit FNV-1a hasher.
pub struct Fnv(u64);

/// Builds [`Fnv`] hashers, for `HashMap`s.
pub type BuildFnv = BuildHasherDefault<Fnv>;

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_fnv_1a() {
        // The published FNV-1a 64 test vectors.
        for (text, expected) in [
            ("", 0xcbf2_9ce4_8422_2325_u64),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut hasher = Fnv::default();
            hasher.write(text.as_bytes());
            assert_eq!(hasher.finish(), expected, "{text:?}");
        }
    }
}
