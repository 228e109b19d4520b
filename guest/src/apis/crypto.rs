//! `crypto`: the W3C Web Cryptography API's `Crypto` (section 10: `getRandomValues`,
//! `randomUUID`) and, of `SubtleCrypto` (section 14), `digest` with SHA-1, SHA-256,
//! SHA-384 and SHA-512 (section 30) and HMAC (section 29: `importKey` and `exportKey`
//! in the "raw" format, `generateKey`, `sign`, `verify`), with `CryptoKey` (section 13).
//!
//! The objects, WebIDL's conversions, the algorithm normalization (section 18.4) and the
//! DOMException errors are JavaScript (`crypto.js`); the bytes are handled here, with
//! the RustCrypto `sha1`, `sha2` and `hmac` crates, except that during a run `digest`
//! asks the host (`host.digest`: the host has the CPU's SHA instructions, which made it
//! about seven times faster on 1 MiB; the run is charged the fuel hashing in the guest
//! would have used). HMAC stays in the guest: its messages (webhook bodies) are small,
//! and its key would otherwise cross to the host. Data crosses as `Uint8Array` views
//! the JavaScript part makes over the caller's buffer: reading one here is the
//! standard's "get a copy of the bytes held by the buffer source", since no script runs
//! while a native function does.
//!
//! Deliberate differences: keys are imported and exported in the "raw" format only ("jwk"
//! is a `NotSupportedError`; "spki" and "pkcs8" are not HMAC's anyway);
//! `QuotaExceededError` is a `DOMException` of that name (code 22), as WebIDL had it
//! before it became an interface of its own; `crypto` is an accessor of the global with a
//! getter only, enumerable and configurable, as WebIDL defines a readonly attribute of
//! the global (browsers differ in its setter). The promises settle at once, not after
//! the work is done "in parallel": nothing here is slow enough to need a thread, and
//! there is none.
//!
//! Randomness comes from [`crypto_random_fill`] alone: the WASI `random` interface in
//! the guest (the host's WASI context gives it the host's cryptographic generator), the
//! operating system's natively. It is drawn only when a script asks, never at
//! pre-initialization, so nothing random is in the Wizer snapshot. The other algorithms
//! of `SubtleCrypto` (encrypt, deriveBits, ...) are there and reject with
//! `NotSupportedError`, which is what the standard's normalization says for an
//! algorithm an implementation does not register.

use hmac::{Hmac, Mac};
use rquickjs::{
    function::Func, ArrayBuffer, Ctx, Exception, IntoJs, Object, Result, TypedArray, Value,
};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::Api;
use crate::services::{self, HashAlgorithm};

/// `crypto`, `Crypto`, `SubtleCrypto`, `CryptoKey`.
pub const API: Api = Api {
    name: "crypto",
    native: natives,
    js: Some(include_str!("crypto.js")),
};

/// The digest algorithms, numbered as `crypto.js` numbers them (the SHA-2 ones by their
/// output size in bits).
mod hash {
    pub const SHA_1: u32 = 1;
    pub const SHA_256: u32 = 256;
    pub const SHA_384: u32 = 384;
    pub const SHA_512: u32 = 512;
}

/// Fills `dest` with bytes from a cryptographic source. The one place this module gets
/// randomness from, so that a deterministic mode can replace it.
pub fn crypto_random_fill(dest: &mut [u8]) -> std::result::Result<(), getrandom::Error> {
    getrandom::fill(dest)
}

/// `{ getRandomValues, randomUUID, copy, digest, hmacSign, hmacVerify }` for
/// `crypto.js`.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("getRandomValues", Func::from(get_random_values))?;
    natives.set("randomUUID", Func::from(random_uuid))?;
    natives.set("copy", Func::from(copy))?;
    natives.set("digest", Func::from(digest))?;
    natives.set("hmacSign", Func::from(hmac_sign))?;
    natives.set("hmacVerify", Func::from(hmac_verify))?;
    natives.into_js(ctx)
}

/// The bytes a view covers (none when its buffer is detached or empty).
fn bytes_of<'a>(view: &'a TypedArray<'_, u8>) -> &'a [u8] {
    view.as_bytes().unwrap_or(&[])
}

/// [`crypto_random_fill`], as a JavaScript error when the source fails.
fn random_fill(ctx: &Ctx<'_>, dest: &mut [u8]) -> Result<()> {
    crypto_random_fill(dest).map_err(|error| {
        Exception::throw_internal(ctx, &format!("no cryptographic randomness: {error}"))
    })
}

/// Fills the bytes `view` covers with random ones, in place.
fn get_random_values<'js>(ctx: Ctx<'js>, view: TypedArray<'js, u8>) -> Result<()> {
    let Some(raw) = view.as_raw() else {
        return Ok(());
    };
    // SAFETY: `raw` is the live memory of the view (offset and length checked against
    // the buffer by rquickjs); nothing else refers to it while this runs (one thread,
    // and no script runs until this returns), and the view keeps the buffer alive.
    let dest = unsafe { std::slice::from_raw_parts_mut(raw.ptr.as_ptr(), raw.len) };
    random_fill(&ctx, dest)
}

/// A version 4 UUID in its lowercase string form (RFC 9562, section 5.4), as
/// `randomUUID` must return.
fn random_uuid(ctx: Ctx<'_>) -> Result<String> {
    let mut bytes = [0u8; 16];
    random_fill(&ctx, &mut bytes)?;
    Ok(format_uuid_v4(bytes))
}

/// Sets the version (4) and variant (10) bits of `bytes` and formats them.
fn format_uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// A new ArrayBuffer with the bytes `view` covers (a key's material, kept by the key).
fn copy<'js>(ctx: Ctx<'js>, view: TypedArray<'js, u8>) -> Result<ArrayBuffer<'js>> {
    ArrayBuffer::new_copy(ctx, bytes_of(&view))
}

/// An algorithm number `crypto.js` should never send.
fn unknown_hash(ctx: &Ctx<'_>, algorithm: u32) -> rquickjs::Error {
    Exception::throw_internal(ctx, &format!("unknown digest algorithm {algorithm}"))
}

/// The hash `crypto.js` numbers `algorithm`.
fn hash_algorithm(algorithm: u32) -> Option<HashAlgorithm> {
    Some(match algorithm {
        hash::SHA_1 => HashAlgorithm::Sha1,
        hash::SHA_256 => HashAlgorithm::Sha256,
        hash::SHA_384 => HashAlgorithm::Sha384,
        hash::SHA_512 => HashAlgorithm::Sha512,
        _ => return None,
    })
}

/// The digest of `data` with `algorithm`, computed in the guest: what a run does without
/// a host (natively, in the unit tests' fake).
pub(crate) fn digest_locally(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// The digest of `data` with `algorithm`: the host computes it during a run (with the
/// CPU's SHA instructions, several times faster than wasm; it charges the run the fuel
/// the guest would have used), the guest itself otherwise.
fn digest_bytes(algorithm: u32, data: &[u8]) -> Option<Vec<u8>> {
    let algorithm = hash_algorithm(algorithm)?;
    Some(match services::current() {
        Some(services) => services.digest(algorithm, data),
        None => digest_locally(algorithm, data),
    })
}

/// `digest`'s result: the digest of `data` with `algorithm`, as an ArrayBuffer.
fn digest<'js>(
    ctx: Ctx<'js>,
    algorithm: u32,
    data: TypedArray<'js, u8>,
) -> Result<ArrayBuffer<'js>> {
    let Some(out) = digest_bytes(algorithm, bytes_of(&data)) else {
        return Err(unknown_hash(&ctx, algorithm));
    };
    ArrayBuffer::new(ctx, out)
}

/// The HMAC (RFC 2104) of `data` under `key` with `algorithm`.
fn hmac_bytes(algorithm: u32, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    // `new_from_slice` takes a key of any length (a long one is hashed first).
    fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        let mut mac = <M as Mac>::new_from_slice(key).ok()?;
        mac.update(data);
        Some(mac.finalize().into_bytes().to_vec())
    }
    match algorithm {
        hash::SHA_1 => mac::<Hmac<Sha1>>(key, data),
        hash::SHA_256 => mac::<Hmac<Sha256>>(key, data),
        hash::SHA_384 => mac::<Hmac<Sha384>>(key, data),
        hash::SHA_512 => mac::<Hmac<Sha512>>(key, data),
        _ => None,
    }
}

/// `sign`'s result for HMAC.
fn hmac_sign<'js>(
    ctx: Ctx<'js>,
    algorithm: u32,
    key: TypedArray<'js, u8>,
    data: TypedArray<'js, u8>,
) -> Result<ArrayBuffer<'js>> {
    let Some(out) = hmac_bytes(algorithm, bytes_of(&key), bytes_of(&data)) else {
        return Err(unknown_hash(&ctx, algorithm));
    };
    ArrayBuffer::new(ctx, out)
}

/// `verify`'s result for HMAC: whether `signature` is the HMAC of `data`, compared in
/// constant time (the `hmac` crate's `verify_slice`, which uses `subtle`).
fn hmac_verify<'js>(
    ctx: Ctx<'js>,
    algorithm: u32,
    key: TypedArray<'js, u8>,
    signature: TypedArray<'js, u8>,
    data: TypedArray<'js, u8>,
) -> Result<bool> {
    fn verify<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8], signature: &[u8]) -> bool {
        let Ok(mut mac) = <M as Mac>::new_from_slice(key) else {
            return false;
        };
        mac.update(data);
        mac.verify_slice(signature).is_ok()
    }
    let (key, signature, data) = (bytes_of(&key), bytes_of(&signature), bytes_of(&data));
    Ok(match algorithm {
        hash::SHA_1 => verify::<Hmac<Sha1>>(key, data, signature),
        hash::SHA_256 => verify::<Hmac<Sha256>>(key, data, signature),
        hash::SHA_384 => verify::<Hmac<Sha384>>(key, data, signature),
        hash::SHA_512 => verify::<Hmac<Sha512>>(key, data, signature),
        _ => return Err(unknown_hash(&ctx, algorithm)),
    })
}

#[cfg(test)]
mod tests {
    use super::{digest_bytes, format_uuid_v4, hash, hmac_bytes};
    use crate::testing::{run, run_ok, Fake};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn eval(source: &str) -> String {
        run_ok(&Fake::default(), source)
    }

    /// Runs `source`, whose completion value is a promise, and returns what it settles to.
    fn settle(source: &str) -> String {
        eval(source)
    }

    #[test]
    fn sha_known_answers_from_fips_180_4_examples() {
        let abc = b"abc";
        let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            hex(&digest_bytes(hash::SHA_1, abc).unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&digest_bytes(hash::SHA_1, two_blocks).unwrap()),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&digest_bytes(hash::SHA_256, abc).unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&digest_bytes(hash::SHA_256, b"").unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&digest_bytes(hash::SHA_384, abc).unwrap()),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            hex(&digest_bytes(hash::SHA_512, abc).unwrap()),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(digest_bytes(7, abc), None);
    }

    #[test]
    fn hmac_known_answers_from_rfc_4231_and_rfc_2202() {
        // RFC 4231 test case 1: key 0x0b * 20, "Hi There".
        let key = [0x0bu8; 20];
        assert_eq!(
            hex(&hmac_bytes(hash::SHA_256, &key, b"Hi There").unwrap()),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_bytes(hash::SHA_384, &key, b"Hi There").unwrap()),
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"
        );
        assert_eq!(
            hex(&hmac_bytes(hash::SHA_512, &key, b"Hi There").unwrap()),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
        );
        // Test case 2: key "Jefe".
        assert_eq!(
            hex(&hmac_bytes(hash::SHA_256, b"Jefe", b"what do ya want for nothing?").unwrap()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a 131-byte key, longer than the block, is hashed first.
        assert_eq!(
            hex(&hmac_bytes(
                hash::SHA_256,
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )
            .unwrap()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // RFC 2202 test case 2, HMAC-SHA-1.
        assert_eq!(
            hex(&hmac_bytes(hash::SHA_1, b"Jefe", b"what do ya want for nothing?").unwrap()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn uuid_format_sets_version_and_variant() {
        assert_eq!(
            format_uuid_v4([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            format_uuid_v4([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
    }

    #[test]
    fn get_random_values_fills_integer_arrays_in_place() {
        assert_eq!(
            eval(
                r#"const a = new Uint8Array(64);
                   const same = crypto.getRandomValues(a) === a;
                   const big = new BigUint64Array(4); crypto.getRandomValues(big);
                   const buffer = new ArrayBuffer(16);
                   const middle = new Uint8Array(buffer, 4, 8); crypto.getRandomValues(middle);
                   const whole = new Uint8Array(buffer);
                   const kinds = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
                                  Uint32Array, BigInt64Array, BigUint64Array].map((T) => crypto.getRandomValues(new T(2)).length);
                   [same, a.some((x) => x !== 0), big.some((x) => x !== 0n),
                    whole.slice(0, 4).every((x) => x === 0) && whole.slice(12).every((x) => x === 0),
                    middle.some((x) => x !== 0), kinds, crypto.getRandomValues(new Uint8Array(0)).length,
                    crypto.getRandomValues(new Uint8Array(65536)).length]"#
            ),
            "[true,true,true,true,true,[2,2,2,2,2,2,2,2,2],0,65536]"
        );
    }

    #[test]
    fn get_random_values_rejects_what_the_standard_rejects() {
        assert_eq!(
            eval(
                r#"const threw = (f) => { try { f(); return "no"; } catch (e) { return [e.name, e instanceof DOMException, e.code]; } };
                   [threw(() => crypto.getRandomValues(new Float32Array(4))),
                    threw(() => crypto.getRandomValues(new Float64Array(4))),
                    threw(() => crypto.getRandomValues(new DataView(new ArrayBuffer(4)))),
                    threw(() => crypto.getRandomValues(new Uint8Array(65537))),
                    threw(() => crypto.getRandomValues(new Uint32Array(16385))),
                    threw(() => crypto.getRandomValues([1, 2])),
                    threw(() => crypto.getRandomValues(new ArrayBuffer(4))),
                    threw(() => crypto.getRandomValues()),
                    threw(() => crypto.getRandomValues(new Uint8Array(new SharedArrayBuffer(4))))]"#
            ),
            concat!(
                r#"[["TypeMismatchError",true,17],["TypeMismatchError",true,17],["TypeMismatchError",true,17],"#,
                r#"["QuotaExceededError",true,22],["QuotaExceededError",true,22],["TypeError",false,null],"#,
                r#"["TypeError",false,null],["TypeError",false,null],["TypeError",false,null]]"#
            )
        );
    }

    #[test]
    fn random_uuid_is_a_lowercase_v4_uuid_and_differs_each_time() {
        assert_eq!(
            eval(
                r#"const ids = Array.from({ length: 50 }, () => crypto.randomUUID());
                   [ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)),
                    new Set(ids).size, crypto.randomUUID.length]"#
            ),
            "[true,50,0]"
        );
    }

    #[test]
    fn digest_resolves_to_an_array_buffer_for_each_sha() {
        assert_eq!(
            settle(
                r#"const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
                   const abc = Uint8Array.from("abc", (c) => c.charCodeAt(0));
                   Promise.all([
                     crypto.subtle.digest("SHA-1", abc), crypto.subtle.digest("sha-256", abc),
                     crypto.subtle.digest({ name: "Sha-384" }, abc.buffer), crypto.subtle.digest({ name: "SHA-512" }, new DataView(abc.buffer)),
                     crypto.subtle.digest("SHA-256", new Uint8Array(0)),
                     crypto.subtle.digest("SHA-256", new Uint16Array([0x6261, 0x63]).subarray(0, 1)),
                   ]).then((all) => [all[0] instanceof ArrayBuffer, ...all.map(hex)])"#
            ),
            concat!(
                r#"[true,"a9993e364706816aba3e25717850c26c9cd0d89d","ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","#,
                r#""cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7","#,
                r#""ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f","#,
                r#""e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603"]"#
            )
        );
    }

    #[test]
    fn a_run_asks_the_host_for_each_digest() {
        let fake = crate::testing::Fake::default();
        let result = crate::testing::run_ok(
            &fake,
            r#"const data = new Uint8Array(100);
               Promise.all([crypto.subtle.digest("SHA-256", data), crypto.subtle.digest("SHA-1", data)])
                 .then((all) => all.map((b) => b.byteLength))"#,
        );
        assert_eq!(result, "[32,20]");
        assert_eq!(fake.digests(), 2);
    }

    #[test]
    fn digest_rejects_and_never_throws() {
        assert_eq!(
            settle(
                r#"const why = (p) => p.then(() => "resolved", (e) => [e.name, e instanceof DOMException]);
                   let sync = "none";
                   let ps;
                   try {
                     ps = [crypto.subtle.digest("MD5", new Uint8Array(1)), crypto.subtle.digest("SHA-256", "text"),
                           crypto.subtle.digest({}, new Uint8Array(1)), crypto.subtle.digest("SHA-256"),
                           crypto.subtle.digest("HMAC", new Uint8Array(1)), crypto.subtle.digest.call({}, "SHA-1", new Uint8Array(1))];
                   } catch (e) { sync = e.name; }
                   Promise.all(ps.map(why)).then((r) => [sync, r])"#
            ),
            r#"["none",[["NotSupportedError",true],["TypeError",false],["TypeError",false],["TypeError",false],["NotSupportedError",true],["TypeError",false]]]"#
        );
    }

    #[test]
    fn hmac_sign_and_verify_a_webhook_signature() {
        assert_eq!(
            settle(
                r#"const enc = { encode: (s) => Uint8Array.from(s, (c) => c.charCodeAt(0)) };
                   const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
                   (async () => {
                     const key = await crypto.subtle.importKey("raw", enc.encode("Jefe"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
                     const body = enc.encode("what do ya want for nothing?");
                     const sig = await crypto.subtle.sign("HMAC", key, body);
                     const ok = await crypto.subtle.verify({ name: "hmac" }, key, sig, body);
                     const tampered = new Uint8Array(sig).slice(); tampered[0] ^= 1;
                     const bad = await crypto.subtle.verify("HMAC", key, tampered, body);
                     const short = await crypto.subtle.verify("HMAC", key, new Uint8Array(sig).slice(0, 31), body);
                     return [hex(sig), ok, bad, short, key.type, key.extractable, key.algorithm, key.usages,
                             key.algorithm === key.algorithm, key.usages === key.usages, String(key)];
                   })()"#
            ),
            concat!(
                r#"["5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",true,false,false,"secret",false,"#,
                r#"{"name":"HMAC","hash":{"name":"SHA-256"},"length":32},["sign","verify"],true,true,"[object CryptoKey]"]"#
            )
        );
    }

    #[test]
    fn hmac_keys_of_every_hash_with_lengths_and_usages() {
        assert_eq!(
            settle(
                r#"const raw = new Uint8Array(20).fill(0x0b);
                   const data = Uint8Array.from("Hi There", (c) => c.charCodeAt(0));
                   const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
                   (async () => {
                     const out = [];
                     for (const hash of ["SHA-1", "SHA-384", { name: "sha-512" }]) {
                       const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash }, true, ["verify", "sign", "sign"]);
                       out.push(key.algorithm.hash.name, key.usages.join("+"), hex(await crypto.subtle.sign("HMAC", key, data)).slice(0, 16));
                     }
                     const short = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256", length: 153 }, true, ["sign"]);
                     out.push(short.algorithm.length, hex(await crypto.subtle.exportKey("raw", short)));
                     return out;
                   })()"#
            ),
            concat!(
                r#"["SHA-1","sign+verify","b617318655057264","SHA-384","sign+verify","afd03944d8489562","#,
                r#""SHA-512","sign+verify","87aa7cdea5ef619d",153,"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"]"#
            )
        );
    }

    #[test]
    fn hmac_errors_are_the_standards() {
        assert_eq!(
            settle(
                r#"const why = (p) => p.then(() => "resolved", (e) => e.name);
                   const raw = new Uint8Array(16);
                   const s = crypto.subtle;
                   (async () => {
                     const verifyOnly = await s.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
                     return Promise.all([
                       why(s.sign("HMAC", verifyOnly, raw)),
                       why(s.exportKey("raw", verifyOnly)),
                       why(s.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["encrypt"])),
                       why(s.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [])),
                       why(s.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["bogus"])),
                       why(s.importKey("raw", new Uint8Array(0), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])),
                       why(s.importKey("raw", raw, { name: "HMAC", hash: "SHA-256", length: 129 }, false, ["sign"])),
                       why(s.importKey("raw", raw, { name: "HMAC", hash: "SHA-256", length: 120 }, false, ["sign"])),
                       why(s.importKey("raw", raw, { name: "HMAC" }, false, ["sign"])),
                       why(s.importKey("raw", raw, { name: "HMAC", hash: "MD5" }, false, ["sign"])),
                       why(s.importKey("spki", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])),
                       why(s.importKey("nope", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])),
                       why(s.importKey("raw", raw, "AES-GCM", false, ["encrypt"])),
                       why(s.sign("HMAC", {}, raw)),
                       why(s.sign("SHA-256", verifyOnly, raw)),
                       why(s.encrypt({ name: "AES-GCM" }, verifyOnly, raw)),
                       why(s.verify("HMAC", verifyOnly, "sig", raw)),
                     ]);
                   })()"#
            ),
            concat!(
                r#"["InvalidAccessError","InvalidAccessError","SyntaxError","SyntaxError","TypeError","DataError","DataError","#,
                r#""DataError","TypeError","NotSupportedError","NotSupportedError","TypeError","NotSupportedError","TypeError","#,
                r#""NotSupportedError","NotSupportedError","TypeError"]"#
            )
        );
    }

    #[test]
    fn generate_key_makes_a_random_hmac_key_of_the_block_size() {
        assert_eq!(
            settle(
                r#"(async () => {
                     const a = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
                     const b = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256", length: 100 }, true, ["sign", "verify"]);
                     const ra = new Uint8Array(await crypto.subtle.exportKey("raw", a));
                     const rb = new Uint8Array(await crypto.subtle.exportKey("raw", b));
                     return [a.algorithm.length, ra.length, b.algorithm.length, rb.length, ra.some((x) => x !== 0)];
                   })()"#
            ),
            "[1024,128,100,13,true]"
        );
    }

    #[test]
    fn interfaces_have_webidl_shapes() {
        assert_eq!(
            eval(
                r#"const d = (o, k) => { const x = Object.getOwnPropertyDescriptor(o, k); return [x.enumerable, x.configurable, "value" in x ? x.writable : typeof x.get + typeof x.set]; };
                   const threw = (f) => { try { f(); return "no"; } catch (e) { return e.name; } };
                   const lengths = (proto) => Object.getOwnPropertyNames(proto).filter((k) => k !== "constructor" && typeof Object.getOwnPropertyDescriptor(proto, k).value === "function").map((k) => k + proto[k].length).join();
                   [d(globalThis, "crypto"), d(globalThis, "Crypto"), d(globalThis, "SubtleCrypto"), d(globalThis, "CryptoKey"),
                    crypto === globalThis.crypto, crypto.subtle === crypto.subtle, crypto instanceof Crypto,
                    crypto.subtle instanceof SubtleCrypto, String(crypto), String(crypto.subtle),
                    threw(() => new Crypto()), threw(() => new SubtleCrypto()), threw(() => new CryptoKey()), threw(() => Crypto()),
                    threw(() => { crypto = 1; }), threw(() => Crypto.prototype.getRandomValues.call({}, new Uint8Array(1))),
                    threw(() => Object.getOwnPropertyDescriptor(Crypto.prototype, "subtle").get.call({})),
                    lengths(Crypto.prototype), lengths(SubtleCrypto.prototype), d(Crypto.prototype, "subtle"),
                    Crypto.length, Crypto.name]"#
            ),
            concat!(
                r#"[[true,true,"functionundefined"],[false,true,true],[false,true,true],[false,true,true],true,true,true,true,"#,
                r#""[object Crypto]","[object SubtleCrypto]","TypeError","TypeError","TypeError","TypeError","TypeError","TypeError","TypeError","#,
                r#""getRandomValues1,randomUUID0","encrypt3,decrypt3,sign3,verify4,digest2,generateKey3,deriveKey5,deriveBits2,importKey5,exportKey2,wrapKey4,unwrapKey7","#,
                r#"[true,true,"functionundefined"],0,"Crypto"]"#
            )
        );
    }

    #[test]
    fn a_key_cannot_be_forged_or_its_material_reached() {
        assert_eq!(
            settle(
                r#"(async () => {
                     Object.defineProperty(Array.prototype, "0", { set() { throw new Error("tampered"); }, configurable: true });
                     Array.prototype.push = () => { throw new Error("tampered"); };
                     const key = await crypto.subtle.importKey("raw", new Uint8Array([1, 2, 3]), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
                     const fake = Object.create(CryptoKey.prototype);
                     const names = Reflect.ownKeys(key).length;
                     key.algorithm.name = "changed"; key.usages[1] = "verify";
                     const stillSigns = (await crypto.subtle.sign("HMAC", key, new Uint8Array(1))).byteLength;
                     const forged = await crypto.subtle.sign("HMAC", fake, new Uint8Array(1)).then(() => "signed", (e) => e.name);
                     const verify = await crypto.subtle.verify("HMAC", key, new Uint8Array(32), new Uint8Array(1)).then(() => "ran", (e) => e.name);
                     // (QuickJS's JSON.stringify of the result would run the setter.)
                     delete Array.prototype[0];
                     return [names, stillSigns, forged, verify];
                   })()"#
            ),
            r#"[0,32,"TypeError","InvalidAccessError"]"#
        );
    }

    #[test]
    fn nothing_random_is_drawn_before_a_script_asks() {
        // Two engines (two instances, each as if from the same snapshot) give different
        // values: the draws happen at run time.
        let draw = "crypto.randomUUID()";
        assert_ne!(run(&Fake::default(), draw), run(&Fake::default(), draw));
    }
}
