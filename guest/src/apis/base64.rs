//! `atob` and `btoa` (HTML Standard §8.3 "Base64 utility methods", with Infra's
//! "forgiving-base64 encode" and "forgiving-base64 decode"), native.
//!
//! `btoa(data)` treats each code unit of `data` as a byte and encodes the bytes as
//! base64 with padding; a code unit above U+00FF is an "InvalidCharacterError"
//! `DOMException`. `atob(data)` removes ASCII whitespace (TAB, LF, FF, CR, SPACE),
//! accepts the input without its padding, ignores the unused bits of the last
//! character, and gives each decoded byte as one code unit; anything the forgiving
//! decoder rejects (a length of 4n + 1, a character outside the alphabet, `=` other
//! than as one or two final characters of a length 4n) is an "InvalidCharacterError".
//! Both convert their argument with ToString, as WebIDL's `DOMString` does
//! (`atob(undefined)` decodes the text "undefined", and so fails); `base64.js` does that
//! and defines them as operations of the global: enumerable, writable, configurable,
//! not constructors, `length` 1.
//!
//! The work happens on QuickJS's UTF-8 form of the string (see [`super::encoding`]):
//! a code unit up to U+00FF is one byte (ASCII) or two (C2/C3 and a continuation byte),
//! anything else starts with a larger lead byte, which is how `btoa` spots it. The
//! output is built in QuickJS's heap, so a huge input under a heap limit runs out of
//! memory cleanly.

use rquickjs::{function::Func, Ctx, IntoJs, Object, Result, Value};

use super::dom_exception;
use super::encoding::{new_string, JsBytes, Wtf8};
use super::Api;

/// `atob` and `btoa`.
pub const API: Api = Api {
    name: "base64",
    native: natives,
    js: Some(include_str!("base64.js")),
};

/// `{ atob, btoa }` for `base64.js`, each taking a string.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("atob", Func::from(atob))?;
    natives.set("btoa", Func::from(btoa))?;
    natives.into_js(ctx)
}

/// The base64 alphabet (RFC 4648 §4), as Infra's forgiving-base64 uses it.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A byte's place in the alphabet, [`WHITESPACE`] for ASCII whitespace, or [`INVALID`].
const DECODE: [u8; 256] = decode_table();
/// [`DECODE`]'s mark of ASCII whitespace (Infra: TAB, LF, FF, CR, SPACE), which `atob`
/// skips.
const WHITESPACE: u8 = 0xFE;
/// [`DECODE`]'s mark of a byte that is neither in the alphabet nor whitespace.
const INVALID: u8 = 0xFF;

const fn decode_table() -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table[b'\t' as usize] = WHITESPACE;
    table[b'\n' as usize] = WHITESPACE;
    table[0x0C] = WHITESPACE;
    table[b'\r' as usize] = WHITESPACE;
    table[b' ' as usize] = WHITESPACE;
    table
}

/// What `btoa` throws for a code unit above U+00FF.
const BTOA_INVALID: &str =
    "Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range.";
/// What `atob` throws for input the forgiving decoder rejects.
const ATOB_INVALID: &str =
    "Failed to execute 'atob': The string to be decoded is not correctly encoded.";

/// Forgiving-base64 encode of `bytes`, appended to `out`.
fn encode_base64(bytes: &[u8], out: &mut JsBytes<'_>) -> Result<()> {
    let mut chunk = [0u8; 4 * 1024];
    let mut used = 0;
    for group in bytes.chunks(3) {
        let b0 = group[0];
        let b1 = group.get(1).copied().unwrap_or(0);
        let b2 = group.get(2).copied().unwrap_or(0);
        let quad = [
            ALPHABET[usize::from(b0 >> 2)],
            ALPHABET[usize::from(((b0 & 0x03) << 4) | (b1 >> 4))],
            if group.len() > 1 {
                ALPHABET[usize::from(((b1 & 0x0F) << 2) | (b2 >> 6))]
            } else {
                b'='
            },
            if group.len() > 2 {
                ALPHABET[usize::from(b2 & 0x3F)]
            } else {
                b'='
            },
        ];
        chunk[used..used + 4].copy_from_slice(&quad);
        used += 4;
        if used == chunk.len() {
            out.extend(&chunk)?;
            used = 0;
        }
    }
    out.extend(&chunk[..used])
}

/// `btoa(data)`.
fn btoa<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<Value<'js>> {
    let text = Wtf8::of(&ctx, &data)?;
    let utf8 = text.bytes();
    // At most one byte per byte of UTF-8.
    let mut out = JsBytes::with_capacity(&ctx, utf8.len().div_ceil(3).saturating_mul(4))?;
    if utf8.is_ascii() {
        encode_base64(utf8, &mut out)?;
        return new_string(&ctx, out.as_slice());
    }
    // The code units, a chunk at a time (a multiple of 3, so no padding until the end):
    // below 0x80 a byte as it is, up to U+00FF a C2 or C3 and a continuation byte.
    let mut chunk = [0u8; 3 * 1024];
    let mut used = 0;
    let mut i = 0;
    while i < utf8.len() {
        let byte = utf8[i];
        chunk[used] = match byte {
            0x00..=0x7F => {
                i += 1;
                byte
            }
            0xC2 | 0xC3 if i + 1 < utf8.len() => {
                i += 2;
                ((byte & 0x1F) << 6) | (utf8[i - 1] & 0x3F)
            }
            _ => {
                return Err(dom_exception::throw(
                    &ctx,
                    "InvalidCharacterError",
                    BTOA_INVALID,
                ))
            }
        };
        used += 1;
        if used == chunk.len() {
            encode_base64(&chunk, &mut out)?;
            used = 0;
        }
    }
    encode_base64(&chunk[..used], &mut out)?;
    new_string(&ctx, out.as_slice())
}

/// Why forgiving-base64 decode failed.
#[derive(Debug, PartialEq, Eq)]
enum AtobError {
    /// The input is not forgiving base64.
    Invalid,
    /// Out of memory (the exception is pending).
    Js,
}

/// Forgiving-base64 decode of `input` (bytes of the string's UTF-8; any non-ASCII byte is
/// outside the alphabet), calling `emit` with the decoded bytes in order.
fn decode_base64(
    input: &[u8],
    mut emit: impl FnMut(&[u8]) -> Result<()>,
) -> std::result::Result<(), AtobError> {
    // Infra: remove ASCII whitespace; if the length is a multiple of 4, drop one or two
    // final `=`; a length of 4n + 1 left is invalid.
    let length = input
        .iter()
        .filter(|&&b| DECODE[usize::from(b)] != WHITESPACE)
        .count();
    let mut padding = 0;
    if length % 4 == 0 {
        for &byte in input.iter().rev() {
            match byte {
                b'=' if padding < 2 => padding += 1,
                _ if DECODE[usize::from(byte)] == WHITESPACE => {}
                _ => break,
            }
        }
    }
    let data_length = length - padding;
    if data_length % 4 == 1 {
        return Err(AtobError::Invalid);
    }
    let mut buffer: u32 = 0;
    let mut bits = 0;
    let mut seen = 0;
    let mut chunk = [0u8; 3 * 1024];
    let mut used = 0;
    for &byte in input {
        if seen == data_length {
            break;
        }
        let value = DECODE[usize::from(byte)];
        if value == WHITESPACE {
            continue;
        }
        if value == INVALID {
            return Err(AtobError::Invalid);
        }
        seen += 1;
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits == 24 {
            chunk[used..used + 3].copy_from_slice(&[
                (buffer >> 16) as u8,
                (buffer >> 8) as u8,
                buffer as u8,
            ]);
            used += 3;
            buffer = 0;
            bits = 0;
            if used == chunk.len() {
                emit(&chunk).map_err(|_| AtobError::Js)?;
                used = 0;
            }
        }
    }
    // 12 bits left are one byte (the last 4 bits dropped), 18 are two (2 dropped).
    match bits {
        12 => {
            chunk[used] = (buffer >> 4) as u8;
            used += 1;
        }
        18 => {
            chunk[used..used + 2].copy_from_slice(&[(buffer >> 10) as u8, (buffer >> 2) as u8]);
            used += 2;
        }
        _ => {}
    }
    emit(&chunk[..used]).map_err(|_| AtobError::Js)
}

/// `atob(data)`.
fn atob<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<Value<'js>> {
    let text = Wtf8::of(&ctx, &data)?;
    let input = text.bytes();
    // Each decoded byte is one code unit; in UTF-8, one byte below 0x80, two above.
    let mut out = JsBytes::with_capacity(&ctx, input.len() / 4 * 3 + 3)?;
    let mut utf8 = [0u8; 2 * 3 * 1024];
    let decoded = decode_base64(input, |bytes| {
        if bytes.is_ascii() {
            return out.extend(bytes);
        }
        let mut used = 0;
        for &byte in bytes {
            if byte < 0x80 {
                utf8[used] = byte;
                used += 1;
            } else {
                utf8[used] = 0xC0 | (byte >> 6);
                utf8[used + 1] = 0x80 | (byte & 0x3F);
                used += 2;
            }
        }
        out.extend(&utf8[..used])
    });
    match decoded {
        Ok(()) => new_string(&ctx, out.as_slice()),
        Err(AtobError::Js) => Err(rquickjs::Error::Exception),
        Err(AtobError::Invalid) => Err(dom_exception::throw(
            &ctx,
            "InvalidCharacterError",
            ATOB_INVALID,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_base64, AtobError};
    use crate::engine::{Failure, RunLimits};
    use crate::testing::{run_ok, run_with, Fake, LIMITS};

    fn js(source: &str) -> String {
        run_ok(&Fake::default(), source)
    }

    #[test]
    fn btoa_encodes_each_code_unit_as_a_byte() {
        let result = js(
            r#"[btoa(""), btoa("f"), btoa("fo"), btoa("foo"), btoa("foob"), btoa("fooba"), btoa("foobar"),
                btoa("\u00ff\u00fe\u0000\u0080"), btoa("é"), btoa(undefined), btoa(null), btoa(123),
                btoa({ toString() { return "obj"; } }), btoa("\u00ff".repeat(4000)).length]"#,
        );
        assert_eq!(
            result,
            r#"["","Zg==","Zm8=","Zm9v","Zm9vYg==","Zm9vYmE=","Zm9vYmFy","//4AgA==","6Q==","dW5kZWZpbmVk","bnVsbA==","MTIz","b2Jq",5336]"#
        );
    }

    #[test]
    fn btoa_rejects_code_units_above_latin1() {
        let result = js(
            r#"const caught = (f) => { try { return f(); } catch (e) { return [e instanceof DOMException, e.name, e.code]; } };
               [caught(() => btoa("\u0100")), caught(() => btoa("a€")), caught(() => btoa("\ud800")), caught(() => btoa("😀")),
                caught(() => btoa("é".repeat(5000) + "\u0100"))]"#,
        );
        assert_eq!(
            result,
            r#"[[true,"InvalidCharacterError",5],[true,"InvalidCharacterError",5],[true,"InvalidCharacterError",5],[true,"InvalidCharacterError",5],[true,"InvalidCharacterError",5]]"#
        );
    }

    #[test]
    fn atob_follows_forgiving_base64() {
        let result = js(
            r#"const ok = (s) => { try { return Array.from(atob(s), (c) => c.charCodeAt(0)); } catch (e) { return e.name; } };
               [ok(""), ok("Zg=="), ok("Zg"), ok("Zg="), ok("Zm8="), ok("Zm8"), ok("Zm9v"), ok(" Z\tm\n9\fv\r "),
                ok("Zh=="), ok("Zm9=v"), ok("Z"), ok("Zm9vY"), ok("Zg==="), ok("===="), ok("Zg==Zg=="), ok("Z g = ="),
                ok("//4AgA=="), ok("ab-_"), ok("é"), ok("Zg\u00a0"), ok("\u0100"), ok(undefined), ok(null), ok(12)]"#,
        );
        assert_eq!(
            result,
            r#"[[],[102],[102],"InvalidCharacterError",[102,111],[102,111],[102,111,111],[102,111,111],[102],"InvalidCharacterError","InvalidCharacterError","InvalidCharacterError","InvalidCharacterError","InvalidCharacterError","InvalidCharacterError",[102],[255,254,0,128],"InvalidCharacterError","InvalidCharacterError","InvalidCharacterError","InvalidCharacterError","InvalidCharacterError",[158,233,101],[215]]"#
        );
    }

    #[test]
    fn round_trips_every_byte_and_large_inputs() {
        let result = js(r#"let all = "";
               for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
               const big = all.repeat(2000);
               const encoded = btoa(big);
               [atob(btoa(all)) === all, atob(encoded) === big, encoded.length, atob(encoded.replace(/=+$/, "")) === big]"#);
        assert_eq!(result, "[true,true,682668,true]");
    }

    #[test]
    fn the_operations_have_webidl_shapes() {
        let result = js(
            r#"const d = Object.getOwnPropertyDescriptor(globalThis, "atob");
               const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               [d.writable, d.enumerable, d.configurable, atob.length, btoa.length, atob.name, btoa.name,
                caught(() => new atob("")), caught(() => atob()), caught(() => btoa()), caught(() => btoa(Symbol())),
                Object.keys(globalThis).filter((k) => k === "atob" || k === "btoa")]"#,
        );
        assert_eq!(
            result,
            r#"[true,true,true,1,1,"atob","btoa","TypeError","TypeError","TypeError","TypeError",["atob","btoa"]]"#
        );
    }

    #[test]
    fn a_huge_input_under_a_heap_limit_runs_out_of_memory_cleanly() {
        let limits = RunLimits {
            heap_bytes: 24 * 1024 * 1024,
            ..LIMITS
        };
        let result = run_with(
            &Fake::default(),
            "const s = btoa('\\u00ff'.repeat(6 * 1024 * 1024)); atob(s).length",
            limits,
        );
        assert_eq!(result, Err(Failure::OutOfMemory));
    }

    #[test]
    fn decoding_natively() {
        let decode = |input: &str| {
            let mut out = Vec::new();
            decode_base64(input.as_bytes(), |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            })
            .map(|()| out)
        };
        assert_eq!(decode("YQ"), Ok(b"a".to_vec()));
        assert_eq!(decode("YWI"), Ok(b"ab".to_vec()));
        assert_eq!(decode("YWJj"), Ok(b"abc".to_vec()));
        assert_eq!(decode("YWJj="), Err(AtobError::Invalid));
        assert_eq!(decode("=YWJj"), Err(AtobError::Invalid));
        let long = "QUJD".repeat(5000);
        assert_eq!(decode(&long).map(|v| v.len()), Ok(15000));
    }
}
