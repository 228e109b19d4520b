//! `TextEncoder` and `TextDecoder` (WHATWG Encoding Standard §7 "API", for UTF-8 only:
//! §4 "Encodings" and §8.1 "UTF-8"), with the bulk work native: encoding, measuring and
//! copying strings, validating and decoding bytes never loop over characters in
//! JavaScript. `encoding.js` does the WebIDL side: the classes, their arguments and
//! options, and turning a `DataView` into its buffer and range.
//!
//! What it supports:
//! - `new TextEncoder()`, `encoding` (`"utf-8"`), `encode(input = "")` (a new
//!   `Uint8Array`) and `encodeInto(source, destination)` (`{ read, written }`: only
//!   whole characters are written, `read` counts UTF-16 code units); the input is a
//!   `USVString`, so a lone surrogate is encoded as U+FFFD (EF BF BD).
//! - `new TextDecoder(label = "utf-8", { fatal, ignoreBOM })`, `encoding`, `fatal`,
//!   `ignoreBOM`, and `decode(input, { stream })` for any `AllowSharedBufferSource`
//!   (an `ArrayBuffer`, a `SharedArrayBuffer`, a typed array or a `DataView`, over just
//!   its range; a detached buffer has no bytes). An invalid sequence becomes one U+FFFD
//!   per maximal subpart, as the standard's UTF-8 decoder says (which is also what Rust's
//!   `Utf8Error::error_len` reports), or, when `fatal`, a `TypeError`. With `stream`, an
//!   incomplete sequence at the end waits for the next call; a leading BOM is removed
//!   once per stream unless `ignoreBOM`.
//!
//! Deliberately unlike the standard: only UTF-8 is supported. A label of UTF-8 (the
//! standard's six, ASCII-case-insensitive, trimmed of ASCII whitespace) is accepted;
//! any other label, including those of the standard's other encodings (`"latin1"`,
//! `"utf-16le"`, ...), throws the `RangeError` the standard throws for an unknown label.
//! Scripts here handle UTF-8 data, and the other decoders would add tables to every
//! instance's snapshot. After a fatal error the bytes of that call are dropped, and a
//! streaming decoder starts afresh.
//!
//! Encoding reads the string's characters where QuickJS keeps them (Latin-1 bytes or
//! UTF-16 code units; a QuickJS patch hands them out, see `JSRUNTIME-PATCH.md`, 10),
//! measures the UTF-8 length, and converts straight into the new `Uint8Array` with
//! `encoding_rs` (the converter Firefox's `TextEncoder` uses; it replaces a lone
//! surrogate by U+FFFD, which is the WebIDL `USVString` conversion, and its partial
//! form is `encodeInto`'s semantics). Large buffers are allocated from QuickJS's heap,
//! so that they count against the run's heap limit and running out is QuickJS's
//! out-of-memory error, not a trap.

use std::ffi::{c_char, c_int, c_void};

use rquickjs::object::Property;
use rquickjs::{function::Func, qjs, Ctx, Error, Exception, IntoJs, Object, Result, Value};

use super::Api;

/// `TextEncoder` and `TextDecoder`.
pub const API: Api = Api {
    name: "encoding",
    native: natives,
    js: Some(include_str!("encoding.js")),
};

extern "C" {
    // Defined in the vendored quickjs.c (see vendor/rquickjs-sys/JSRUNTIME-PATCH.md, 10).
    fn jsruntime_string_chars(
        ctx: *mut qjs::JSContext,
        value: qjs::JSValue,
        chars: *mut *const c_void,
        len: *mut u32,
        wide: *mut c_int,
    ) -> qjs::JSValue;
}

/// A string's characters as QuickJS stores them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Chars<'a> {
    /// One byte per character, U+0000 to U+00FF.
    Latin1(&'a [u8]),
    /// UTF-16 code units, possibly with lone surrogates.
    Utf16(&'a [u16]),
}

/// The characters of `ToString(value)`, borrowed from the string, which this holds.
pub(crate) struct JsChars<'js> {
    // Keeps the characters alive.
    _string: Value<'js>,
    chars: *const c_void,
    len: usize,
    wide: bool,
}

impl<'js> JsChars<'js> {
    /// The characters of `value` (converted with ToString if it is not a string). A
    /// conversion that throws, or running out of memory, is the pending exception.
    pub(crate) fn of(ctx: &Ctx<'js>, value: &Value<'js>) -> Result<Self> {
        let mut chars: *const c_void = std::ptr::null();
        let mut len: u32 = 0;
        let mut wide: c_int = 0;
        // SAFETY: `value` belongs to `ctx`; on failure QuickJS leaves the exception
        // pending and returns JS_EXCEPTION; otherwise a new reference, owned by `Value`.
        let string = unsafe {
            let raw = jsruntime_string_chars(
                ctx.as_raw().as_ptr(),
                value.as_raw(),
                &mut chars,
                &mut len,
                &mut wide,
            );
            if qjs::JS_IsException(raw) {
                return Err(Error::Exception);
            }
            Value::from_raw(ctx.clone(), raw)
        };
        // QuickJS keeps 16-bit characters 2-byte aligned (after its string header, or in
        // a slice of such a string at an even byte offset); anything else would be a
        // QuickJS change this code has not seen, so it is refused rather than misread.
        let wide = wide != 0;
        if chars.is_null() || (wide && !(chars as usize).is_multiple_of(2)) {
            return Err(Exception::throw_internal(
                ctx,
                "TextEncoder: unexpected string layout",
            ));
        }
        Ok(JsChars {
            _string: string,
            chars,
            len: len as usize,
            wide,
        })
    }

    /// The characters.
    pub(crate) fn chars(&self) -> Chars<'_> {
        // SAFETY: QuickJS returned `len` characters at `chars` (checked non-null and,
        // when wide, aligned), alive while `_string` is; strings are immutable.
        unsafe {
            if self.wide {
                Chars::Utf16(std::slice::from_raw_parts(
                    self.chars as *const u16,
                    self.len,
                ))
            } else {
                Chars::Latin1(std::slice::from_raw_parts(
                    self.chars as *const u8,
                    self.len,
                ))
            }
        }
    }
}

// Encoding works on a word of characters at a time, SWAR style (SIMD within a register):
// four UTF-16 code units or eight Latin-1 bytes in a `u64`, tested and packed with
// plain integer arithmetic. A loop step per character costs, in the sandbox, the fuel
// and interruption checks wasmtime adds to every loop iteration; a step per word
// amortizes them, and it needs no SIMD instructions, so it is the same code natively
// (where the unit tests run it) and in the guest.

/// Bit 15 of each 16-bit lane.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
const LANE_TOPS: u64 = 0x8000_8000_8000_8000;
/// One in each 16-bit lane.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
const LANE_ONES: u64 = 0x0001_0001_0001_0001;
/// Bit 7 of each byte.
const BYTE_TOPS: u64 = 0x8080_8080_8080_8080;

/// Four code units as one word, the first in the low lane.
#[inline(always)]
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn load_units(units: &[u16; 4]) -> u64 {
    u64::from(units[0])
        | (u64::from(units[1]) << 16)
        | (u64::from(units[2]) << 32)
        | (u64::from(units[3]) << 48)
}

/// Bit 15 of each lane of `word` whose value is at least `limit` (1 to 0x8000). The
/// sum cannot carry into the next lane: at most 0x7FFF + 0x7FFF.
#[inline(always)]
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn lanes_at_least(word: u64, limit: u16) -> u64 {
    let add = u64::from(0x8000 - limit) * LANE_ONES;
    (((word & !LANE_TOPS) + add) | word) & LANE_TOPS
}

/// Characters per step of a length count: few enough that a 16-bit count of the bytes
/// they add (at most two each) cannot overflow, so the loop over one block compiles to
/// vector operations on 16-bit lanes (the guest is built with wasm SIMD).
const COUNT_BLOCK: usize = 4096;

/// The length in UTF-8 of Latin-1 text: one byte per character, two from U+0080 up.
fn latin1_utf8_len(src: &[u8]) -> usize {
    let mut len = src.len();
    for block in src.chunks(COUNT_BLOCK) {
        let mut high: u16 = 0;
        for &b in block {
            high += u16::from(b >> 7);
        }
        len += usize::from(high);
    }
    len
}

/// The length in UTF-8 of UTF-16 text, each lone surrogate counted as U+FFFD (three
/// bytes), each valid pair as one four-byte character.
fn utf16_utf8_len(src: &[u16]) -> usize {
    // Per code unit: 1, +1 from U+0080, +1 from U+0800. A surrogate counts 3 that way;
    // a lone one is U+FFFD (3 bytes) and a pair is 4 bytes, so each pair counts 2 less.
    let mut len = src.len();
    let mut surrogates = false;
    for block in src.chunks(COUNT_BLOCK) {
        let mut extra: u16 = 0;
        let mut surrogate: u16 = 0;
        for &c in block {
            extra += u16::from(c >= 0x80) + u16::from(c >= 0x800);
            surrogate |= u16::from(c & 0xF800 == 0xD800);
        }
        len += usize::from(extra);
        surrogates |= surrogate != 0;
    }
    if surrogates {
        let mut i = 0;
        while i + 1 < src.len() {
            if (0xD800..0xDC00).contains(&src[i]) && (0xDC00..0xE000).contains(&src[i + 1]) {
                len -= 2;
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    len
}

/// Encodes the character at `src[i]` into `dst[o..]` if it fits: the code units read
/// and the bytes written. A lone surrogate is U+FFFD.
#[inline(always)]
fn encode_one(src: &[u16], i: usize, dst: &mut [u8], o: usize) -> Option<(usize, usize)> {
    let c = u32::from(src[i]);
    let (units, code) = match c {
        0xD800..=0xDBFF => match src.get(i + 1).map(|&d| u32::from(d)) {
            Some(d @ 0xDC00..=0xDFFF) => (2, 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00)),
            _ => (1, 0xFFFD),
        },
        0xDC00..=0xDFFF => (1, 0xFFFD),
        _ => (1, c),
    };
    let room = dst.len() - o;
    let written = if code < 0x80 {
        *dst.get_mut(o)? = code as u8;
        1
    } else if code < 0x800 {
        if room < 2 {
            return None;
        }
        dst[o] = 0xC0 | (code >> 6) as u8;
        dst[o + 1] = 0x80 | (code & 0x3F) as u8;
        2
    } else if code < 0x10000 {
        if room < 3 {
            return None;
        }
        dst[o] = 0xE0 | (code >> 12) as u8;
        dst[o + 1] = 0x80 | ((code >> 6) & 0x3F) as u8;
        dst[o + 2] = 0x80 | (code & 0x3F) as u8;
        3
    } else {
        if room < 4 {
            return None;
        }
        dst[o] = 0xF0 | (code >> 18) as u8;
        dst[o + 1] = 0x80 | ((code >> 12) & 0x3F) as u8;
        dst[o + 2] = 0x80 | ((code >> 6) & 0x3F) as u8;
        dst[o + 3] = 0x80 | (code & 0x3F) as u8;
        4
    };
    Some((units, written))
}

/// Writes as much of UTF-16 `src` as fits in `dst` as UTF-8, whole characters only,
/// lone surrogates as U+FFFD; returns the code units read and the bytes written.
fn encode_utf16(src: &[u16], dst: &mut [u8]) -> (usize, usize) {
    let (mut i, mut o) = (0, 0);
    while i < src.len() {
        // Eight units at a time while ten follow and there is room for all of them at
        // their widest (3 bytes each, 4 for a pair that starts last): the ASCII run at
        // `i`, then the character after it if it is neither ASCII nor a surrogate.
        if i + 10 <= src.len() && o + 32 <= dst.len() {
            let non_ascii = ascii_run(src, i, dst, o);
            // All eight first, on their own: the next step then does not wait for a
            // count of this one's leading ASCII units (its loads depend only on `i`).
            if non_ascii == 0 {
                i += 8;
                o += 8;
                continue;
            }
            let ascii = non_ascii.trailing_zeros() as usize;
            i += ascii;
            o += ascii;
            let unit = src[i];
            if !(0xD800..0xE000).contains(&unit) {
                // Four bytes stored, one to two of them garbage: the two units after it
                // (in the ten, with room) overwrite them.
                o += encode_bmp(unit, &mut dst[o..o + 4]);
                i += 1;
                continue;
            }
        }
        match encode_one(src, i, dst, o) {
            Some((units, written)) => {
                i += units;
                o += written;
            }
            None => break,
        }
    }
    (i, o)
}

/// Encodes `c`, which is neither ASCII nor a surrogate, into the first two or three
/// bytes of `out` without a branch, storing all four; returns its width.
#[inline(always)]
fn encode_bmp(c: u16, out: &mut [u8]) -> usize {
    let c = u32::from(c);
    let two = 0x80C0 | (c >> 6) | ((c & 0x3F) << 8);
    let three = 0x80_80E0 | (c >> 12) | (((c >> 6) & 0x3F) << 8) | ((c & 0x3F) << 16);
    let (bytes, width) = if c < 0x800 { (two, 2) } else { (three, 3) };
    out[..4].copy_from_slice(&bytes.to_le_bytes());
    width
}

/// Stores the eight units at `src[i..]` narrowed to bytes at `dst[o..]` (the caller
/// checks there are eight of each) and returns a mask of those that are not ASCII, bit
/// `k` for unit `k`: the bytes before its lowest set bit are their units' UTF-8. The bytes stored after them are garbage that
/// the encoding of the units they stand for overwrites (each needs at least a byte, and
/// the caller keeps room for all eight), so nothing past what is finally written
/// changes (`encodeInto` says so). In the guest: wasm SIMD, one vector of eight units.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn ascii_run(src: &[u16], i: usize, dst: &mut [u8], o: usize) -> u32 {
    use core::arch::wasm32::{
        i16x8_bitmask, i8x16_shuffle, u16x8_ge, u16x8_splat, v128, v128_load, v128_store64_lane,
    };
    let units = &src[i..i + 8];
    let out = &mut dst[o..o + 8];
    // SAFETY: `units` is 16 readable bytes and `out` 8 writable ones (both sliced just
    // above); wasm loads and stores need no alignment.
    unsafe {
        let vector = v128_load(units.as_ptr() as *const v128);
        let high = i16x8_bitmask(u16x8_ge(vector, u16x8_splat(0x80)));
        // The low byte of each unit, one shuffle (a saturating narrow needs a clamp
        // first): a non-ASCII unit's is garbage, overwritten later.
        let low =
            i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14>(vector, vector);
        v128_store64_lane::<0>(low, out.as_mut_ptr() as *mut u64);
        high as u32
    }
}

/// [`ascii_run`] without SIMD (natively, where the unit tests run): two words of four
/// units.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn ascii_run(src: &[u16], i: usize, dst: &mut [u8], o: usize) -> u32 {
    let mut mask = 0;
    for half in 0..2 {
        let mut units = [0; 4];
        units.copy_from_slice(&src[i + 4 * half..i + 4 * half + 4]);
        let word = load_units(&units);
        let packed = ((word & 0xFF)
            | ((word >> 8) & 0xFF00)
            | ((word >> 16) & 0xFF_0000)
            | ((word >> 24) & 0xFF00_0000)) as u32;
        dst[o + 4 * half..o + 4 * half + 4].copy_from_slice(&packed.to_le_bytes());
        let non_ascii = lanes_at_least(word, 0x80);
        for lane in 0..4 {
            if non_ascii & (0x8000 << (16 * lane)) != 0 {
                mask |= 1 << (4 * half + lane);
            }
        }
    }
    mask
}

/// Writes as much of Latin-1 `src` as fits in `dst` as UTF-8, whole characters only;
/// returns the characters read and the bytes written.
fn encode_latin1(src: &[u8], dst: &mut [u8]) -> (usize, usize) {
    let (mut i, mut o) = (0, 0);
    while i < src.len() {
        // Eight characters need at most 16 bytes.
        if i + 8 <= src.len() && o + 16 <= dst.len() {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&src[i..i + 8]);
            let high = u64::from_le_bytes(bytes) & BYTE_TOPS;
            let ascii = if high == 0 {
                8
            } else {
                (high.trailing_zeros() / 8) as usize
            };
            // As for UTF-16: the bytes past the ASCII ones are overwritten next.
            dst[o..o + 8].copy_from_slice(&bytes);
            i += ascii;
            o += ascii;
            if ascii == 8 {
                continue;
            }
        }
        let c = src[i];
        if c < 0x80 {
            let Some(slot) = dst.get_mut(o) else { break };
            *slot = c;
            o += 1;
        } else {
            if dst.len() - o < 2 {
                break;
            }
            dst[o] = 0xC0 | (c >> 6);
            dst[o + 1] = 0x80 | (c & 0x3F);
            o += 2;
        }
        i += 1;
    }
    (i, o)
}

/// Writes as much of `chars` as fits in `dst` as UTF-8, whole characters only, lone
/// surrogates as U+FFFD; returns the UTF-16 code units read and the bytes written.
fn encode_chars(chars: Chars<'_>, dst: &mut [u8]) -> (usize, usize) {
    match chars {
        Chars::Latin1(src) => encode_latin1(src, dst),
        Chars::Utf16(src) => encode_utf16(src, dst),
    }
}

/// The UTF-8 length of `chars` (lone surrogates as U+FFFD).
fn utf8_len(chars: Chars<'_>) -> usize {
    match chars {
        Chars::Latin1(src) => latin1_utf8_len(src),
        Chars::Utf16(src) => utf16_utf8_len(src),
    }
}

/// `{ encode, encodeInto, decode, isBuffer }` for `encoding.js`.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("encode", Func::from(encode))?;
    natives.set("encodeInto", Func::from(encode_into))?;
    natives.set("decode", Func::from(decode))?;
    natives.set("isBuffer", Func::from(is_buffer))?;
    natives.into_js(ctx)
}

/// QuickJS's UTF-8 form of a JS string (WTF-8: a lone surrogate comes out as its own
/// three-byte encoding), owned by QuickJS and freed on drop.
pub(crate) struct Wtf8<'js> {
    ctx: Ctx<'js>,
    ptr: *const c_char,
    len: usize,
}

impl<'js> Wtf8<'js> {
    /// The UTF-8 form of `value` (converted with ToString if it is not a string). A
    /// conversion that throws, or running out of memory, is the pending exception.
    pub(crate) fn of(ctx: &Ctx<'js>, value: &Value<'js>) -> Result<Self> {
        let mut len: qjs::size_t = 0;
        // SAFETY: `value` belongs to `ctx`; on failure QuickJS leaves the exception
        // pending and returns null.
        let ptr = unsafe {
            qjs::JS_ToCStringLen2(ctx.as_raw().as_ptr(), &mut len, value.as_raw(), false)
        };
        if ptr.is_null() {
            return Err(Error::Exception);
        }
        Ok(Wtf8 {
            ctx: ctx.clone(),
            ptr,
            len: len as usize,
        })
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: QuickJS returned `len` bytes at `ptr`, alive until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Wtf8<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from JS_ToCStringLen2 of this context and is freed once.
        unsafe { qjs::JS_FreeCString(self.ctx.as_raw().as_ptr(), self.ptr) }
    }
}

/// A growable byte buffer in QuickJS's heap: it counts against the run's heap limit, and
/// running out throws QuickJS's out-of-memory error.
pub(crate) struct JsBytes<'js> {
    ctx: Ctx<'js>,
    ptr: *mut u8,
    len: usize,
    capacity: usize,
}

impl<'js> JsBytes<'js> {
    /// An empty buffer with room for `capacity` bytes.
    pub(crate) fn with_capacity(ctx: &Ctx<'js>, capacity: usize) -> Result<Self> {
        let mut bytes = JsBytes {
            ctx: ctx.clone(),
            ptr: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        };
        bytes.grow_to(capacity.max(16))?;
        Ok(bytes)
    }

    fn grow_to(&mut self, capacity: usize) -> Result<()> {
        // SAFETY: `ptr` is null or a block of this context's allocator; js_realloc keeps
        // it valid (and unchanged) when it fails, having thrown the out-of-memory error.
        let grown = unsafe {
            qjs::js_realloc(
                self.ctx.as_raw().as_ptr(),
                self.ptr as *mut _,
                capacity as qjs::size_t,
            )
        };
        if grown.is_null() {
            return Err(Error::Exception);
        }
        self.ptr = grown as *mut u8;
        self.capacity = capacity;
        Ok(())
    }

    /// Appends `bytes`, growing the buffer by doubling.
    pub(crate) fn extend(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(needed) = self.len.checked_add(bytes.len()) else {
            return Err(out_of_memory(&self.ctx));
        };
        if needed > self.capacity {
            self.grow_to(needed.max(self.capacity.saturating_mul(2)))?;
        }
        // SAFETY: there is room for `bytes` after `len`; `bytes` is not in this buffer
        // (it cannot be borrowed while `self` is borrowed mutably).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), bytes.len());
        }
        self.len = needed;
        Ok(())
    }

    /// The bytes so far.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes at `ptr` (never null after `with_capacity`) are
        // initialized.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for JsBytes<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptr` is null or a block of this context's allocator, freed once.
        unsafe { qjs::js_free(self.ctx.as_raw().as_ptr(), self.ptr as *mut _) }
    }
}

/// QuickJS's own out-of-memory error, thrown (it counts as the run running out).
pub(crate) fn out_of_memory(ctx: &Ctx<'_>) -> Error {
    // SAFETY: throwing in a live context.
    unsafe { qjs::JS_ThrowOutOfMemory(ctx.as_raw().as_ptr()) };
    Error::Exception
}

/// A JS string of UTF-8 text (`utf8` must be valid UTF-8).
pub(crate) fn new_string<'js>(ctx: &Ctx<'js>, utf8: &[u8]) -> Result<Value<'js>> {
    // SAFETY: QuickJS copies the bytes; the returned value is owned by `Value`.
    unsafe {
        let raw = qjs::JS_NewStringLen(
            ctx.as_raw().as_ptr(),
            utf8.as_ptr() as *const c_char,
            utf8.len() as _,
        );
        if qjs::JS_IsException(raw) {
            return Err(Error::Exception);
        }
        Ok(Value::from_raw(ctx.clone(), raw))
    }
}

/// `encode(string)`: a new `Uint8Array` of the string's UTF-8, lone surrogates replaced.
fn encode<'js>(ctx: Ctx<'js>, input: Value<'js>) -> Result<Value<'js>> {
    let text = JsChars::of(&ctx, &input)?;
    let chars = text.chars();
    let len = utf8_len(chars);
    let raw_ctx = ctx.as_raw().as_ptr();
    // SAFETY: QuickJS allocates a zeroed Uint8Array of `len` bytes (a null source is
    // not read), owned by `Value`; its bytes are then borrowed while no JavaScript runs.
    unsafe {
        if let Chars::Latin1(src) = chars {
            if len == src.len() {
                // ASCII: the characters are the UTF-8.
                let array = qjs::JS_NewUint8ArrayCopy(raw_ctx, src.as_ptr(), len as _);
                if qjs::JS_IsException(array) {
                    return Err(Error::Exception);
                }
                return Ok(Value::from_raw(ctx.clone(), array));
            }
        }
        let array = qjs::JS_NewUint8ArrayCopy(raw_ctx, std::ptr::null(), len as _);
        if qjs::JS_IsException(array) {
            return Err(Error::Exception);
        }
        let array = Value::from_raw(ctx.clone(), array);
        let mut size: qjs::size_t = 0;
        let data = qjs::JS_GetUint8Array(raw_ctx, &mut size, array.as_raw());
        if data.is_null() {
            return Err(Error::Exception);
        }
        let dst = std::slice::from_raw_parts_mut(data, size as usize);
        let (_, written) = encode_chars(chars, dst);
        if written != len {
            return Err(Exception::throw_internal(
                &ctx,
                "TextEncoder: the UTF-8 length was miscounted",
            ));
        }
        Ok(array)
    }
}

/// `encodeInto(string, destination)`: writes as many whole characters as fit into the
/// destination `Uint8Array`; returns `{ read, written }`.
fn encode_into<'js>(
    ctx: Ctx<'js>,
    source: Value<'js>,
    destination: Value<'js>,
) -> Result<Object<'js>> {
    let text = JsChars::of(&ctx, &source)?;
    let raw_ctx = ctx.as_raw().as_ptr();
    // SAFETY: a type query on a live value.
    let kind = unsafe { qjs::JS_GetTypedArrayType(destination.as_raw()) };
    if kind != qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_UINT8 as i32 {
        return Err(Exception::throw_type(
            &ctx,
            "Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.",
        ));
    }
    let mut len: qjs::size_t = 0;
    // SAFETY: `destination` is a Uint8Array; its bytes are borrowed while no JavaScript
    // runs. A detached or out-of-bounds one gives null and an exception, which is taken
    // back: it has no room, so nothing is written.
    let read_and_written = unsafe {
        let data = qjs::JS_GetUint8Array(raw_ctx, &mut len, destination.as_raw());
        if data.is_null() {
            let _ = ctx.catch();
            (0, 0)
        } else {
            let destination = std::slice::from_raw_parts_mut(data, len as usize);
            encode_chars(text.chars(), destination)
        }
    };
    let (read, written) = read_and_written;
    let result = Object::new(ctx.clone())?;
    // Data properties defined, not set: a setter on Object.prototype is not called.
    result.prop(
        "read",
        Property::from(read as f64)
            .writable()
            .enumerable()
            .configurable(),
    )?;
    result.prop(
        "written",
        Property::from(written as f64)
            .writable()
            .enumerable()
            .configurable(),
    )?;
    Ok(result)
}

/// Whether `value` is an `ArrayBuffer` or a `SharedArrayBuffer` (detached or not).
fn is_buffer(value: Value<'_>) -> bool {
    let mut len: qjs::size_t = 0;
    let ctx = value.ctx().clone();
    // SAFETY: type queries on a live value; JS_GetArrayBuffer's exception for a
    // detached buffer is taken back at once.
    unsafe {
        if qjs::JS_IsArrayBuffer(value.as_raw()) {
            return true;
        }
        let data = qjs::JS_GetArrayBuffer(ctx.as_raw().as_ptr(), &mut len, value.as_raw());
        if data.is_null() && qjs::JS_HasException(ctx.as_raw().as_ptr()) {
            let _ = ctx.catch();
            return false;
        }
        // Not an ArrayBuffer but accepted: a SharedArrayBuffer.
        true
    }
}

/// The bytes of an `ArrayBuffer` or `SharedArrayBuffer` (none if detached), or `None`
/// if `buffer` is neither.
///
/// # Safety
/// The slice borrows the buffer's memory: it is valid only while `buffer` is alive and
/// no JavaScript runs (which could detach or resize it).
unsafe fn buffer_bytes<'a>(ctx: &Ctx<'_>, buffer: &Value<'_>) -> Option<&'a [u8]> {
    let mut len: qjs::size_t = 0;
    let data = qjs::JS_GetArrayBuffer(ctx.as_raw().as_ptr(), &mut len, buffer.as_raw());
    if data.is_null() {
        let threw = qjs::JS_HasException(ctx.as_raw().as_ptr());
        if threw {
            let _ = ctx.catch();
        }
        // A detached ArrayBuffer throws too, but is a buffer source with no bytes.
        return (!threw || qjs::JS_IsArrayBuffer(buffer.as_raw())).then_some(&[]);
    }
    Some(std::slice::from_raw_parts(data, len as usize))
}

/// The bytes a typed array views (none if its buffer is detached or it is out of
/// bounds), or `None` if `value` is not a typed array.
///
/// # Safety
/// As for [`buffer_bytes`].
unsafe fn typed_array_bytes<'a>(ctx: &Ctx<'_>, value: &Value<'_>) -> Option<&'a [u8]> {
    if qjs::JS_GetTypedArrayType(value.as_raw()) < 0 {
        return None;
    }
    let raw_ctx = ctx.as_raw().as_ptr();
    let (mut offset, mut length): (qjs::size_t, qjs::size_t) = (0, 0);
    let buffer = qjs::JS_GetTypedArrayBuffer(
        raw_ctx,
        value.as_raw(),
        &mut offset,
        &mut length,
        std::ptr::null_mut(),
    );
    if qjs::JS_IsException(buffer) {
        let _ = ctx.catch();
        return Some(&[]);
    }
    let buffer = Value::from_raw(ctx.clone(), buffer);
    let bytes = buffer_bytes(ctx, &buffer).unwrap_or(&[]);
    Some(range(bytes, offset as usize, length as usize))
}

/// `bytes[offset..offset + length]`, cut to what there is.
fn range(bytes: &[u8], offset: usize, length: usize) -> &[u8] {
    let start = offset.min(bytes.len());
    let end = start.saturating_add(length).min(bytes.len());
    &bytes[start..end]
}

/// The decoder's state between calls, kept in a `Uint8Array` of [`STATE_LEN`] bytes that
/// each `TextDecoder` holds privately: the count of bytes of an incomplete sequence,
/// those bytes (at most three), and whether the stream's first character was seen (for
/// the BOM).
const STATE_LEN: usize = 5;

/// `decode`'s flags, as `encoding.js` passes them.
const FATAL: i32 = 1;
/// Keep a leading BOM.
const IGNORE_BOM: i32 = 2;
/// More input follows: keep an incomplete sequence at the end for the next call.
const STREAM: i32 = 4;
/// The previous call ended its stream: start a new one (no pending bytes, no BOM seen).
const RESET: i32 = 8;

/// The state of [`STATE_LEN`], unpacked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DecoderState {
    pending: [u8; 3],
    pending_len: usize,
    bom_seen: bool,
}

impl DecoderState {
    fn load(bytes: &[u8]) -> Self {
        let mut state = DecoderState::default();
        if bytes.len() >= STATE_LEN {
            state.pending_len = usize::from(bytes[0]).min(3);
            state.pending.copy_from_slice(&bytes[1..4]);
            state.bom_seen = bytes[4] != 0;
        }
        state
    }

    fn store(&self, bytes: &mut [u8]) {
        if bytes.len() >= STATE_LEN {
            bytes[0] = self.pending_len as u8;
            bytes[1..4].copy_from_slice(&self.pending);
            bytes[4] = u8::from(self.bom_seen);
        }
    }
}

/// The UTF-8 of U+FFFD REPLACEMENT CHARACTER.
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// The byte length of the character a valid UTF-8 lead byte starts.
fn width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// What decoding found: UTF-8 text, borrowed from the input when it is the input's
/// own bytes.
enum Decoded<'a, 'js> {
    Borrowed(&'a [u8]),
    Owned(JsBytes<'js>),
}

impl Decoded<'_, '_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Decoded::Borrowed(bytes) => bytes,
            Decoded::Owned(bytes) => bytes.as_slice(),
        }
    }
}

/// Why decoding stopped.
enum DecodeError {
    /// The decoder is fatal and the input is not valid UTF-8.
    Invalid,
    /// A JavaScript exception is pending (out of memory).
    Js(Error),
}

impl From<Error> for DecodeError {
    fn from(error: Error) -> Self {
        DecodeError::Js(error)
    }
}

/// The standard's UTF-8 decoder over `input`, continuing from `state`: valid UTF-8 as
/// it is, each maximal subpart of an invalid sequence as one U+FFFD (or
/// [`DecodeError::Invalid`] when `fatal`), and an incomplete sequence at the end kept in
/// `state` unless `flush`, when it is one more U+FFFD.
fn decode_utf8<'a, 'js>(
    ctx: &Ctx<'js>,
    state: &mut DecoderState,
    input: &'a [u8],
    fatal: bool,
    flush: bool,
) -> std::result::Result<Decoded<'a, 'js>, DecodeError> {
    let mut rest = input;
    let mut valid_prefix: &[u8] = &[];
    // The common case: nothing pending, and the input valid (up to an incomplete tail,
    // when more input follows): the text is the input's own bytes.
    if state.pending_len == 0 {
        match std::str::from_utf8(input) {
            Ok(_) => return Ok(Decoded::Borrowed(input)),
            Err(error) if error.error_len().is_none() && !flush => {
                let (valid, tail) = input.split_at(error.valid_up_to());
                state.pending[..tail.len()].copy_from_slice(tail);
                state.pending_len = tail.len();
                return Ok(Decoded::Borrowed(valid));
            }
            // Not validated again below.
            Err(error) => (valid_prefix, rest) = input.split_at(error.valid_up_to()),
        }
    }
    let mut out = JsBytes::with_capacity(ctx, input.len().saturating_add(input.len() / 2))?;
    out.extend(valid_prefix)?;
    // First the character the pending bytes began.
    if state.pending_len > 0 {
        let pending = state.pending_len;
        let mut combined = [0u8; 4];
        combined[..pending].copy_from_slice(&state.pending[..pending]);
        let taken = (4 - pending).min(rest.len());
        combined[pending..pending + taken].copy_from_slice(&rest[..taken]);
        let combined = &combined[..pending + taken];
        match std::str::from_utf8(combined) {
            Err(error) if error.valid_up_to() == 0 => match error.error_len() {
                Some(invalid) => {
                    if fatal {
                        return Err(DecodeError::Invalid);
                    }
                    out.extend(REPLACEMENT)?;
                    rest = &rest[invalid.saturating_sub(pending).min(rest.len())..];
                    state.pending_len = 0;
                }
                None => {
                    // Still incomplete: all of the input belongs to it.
                    state.pending[..combined.len()].copy_from_slice(combined);
                    state.pending_len = combined.len();
                    rest = &[];
                }
            },
            // Complete: the first character is valid (and wider than what was pending).
            _ => {
                let character = width(combined[0]);
                out.extend(&combined[..character])?;
                rest = &rest[(character - pending).min(rest.len())..];
                state.pending_len = 0;
            }
        }
    }
    loop {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                out.extend(rest)?;
                break;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                out.extend(valid)?;
                match error.error_len() {
                    Some(invalid) => {
                        if fatal {
                            return Err(DecodeError::Invalid);
                        }
                        out.extend(REPLACEMENT)?;
                        rest = &after[invalid..];
                    }
                    None => {
                        state.pending[..after.len()].copy_from_slice(after);
                        state.pending_len = after.len();
                        break;
                    }
                }
            }
        }
    }
    if flush && state.pending_len > 0 {
        state.pending_len = 0;
        if fatal {
            return Err(DecodeError::Invalid);
        }
        out.extend(REPLACEMENT)?;
    }
    Ok(Decoded::Owned(out))
}

/// `decode(input, offset, length, state, flags)`: decodes the bytes of `input` (an
/// `ArrayBuffer`, `SharedArrayBuffer` or typed array; with `offset` a number, the range
/// `offset..offset + length` of the buffer `input`, which is how `encoding.js` passes a
/// `DataView`; `undefined` for no bytes), continuing from and updating `state`.
fn decode<'js>(
    ctx: Ctx<'js>,
    input: Value<'js>,
    offset: Value<'js>,
    length: Value<'js>,
    state: Value<'js>,
    flags: i32,
) -> Result<Value<'js>> {
    let raw_ctx = ctx.as_raw().as_ptr();
    let mut state_len: qjs::size_t = 0;
    // SAFETY: `state` is the decoder's own Uint8Array, which no script can reach; the
    // input's bytes are a different buffer. Both are borrowed while no JavaScript runs:
    // allocating (in `decode_utf8`, `new_string`) may collect garbage but not run
    // scripts, and cannot free what these values hold.
    unsafe {
        let state_data = qjs::JS_GetUint8Array(raw_ctx, &mut state_len, state.as_raw());
        if state_data.is_null() || (state_len as usize) < STATE_LEN {
            let _ = ctx.catch();
            return Err(Exception::throw_internal(
                &ctx,
                "TextDecoder: the decoder's state is missing",
            ));
        }
        let state_bytes = std::slice::from_raw_parts_mut(state_data, STATE_LEN);
        let mut decoder = DecoderState::load(state_bytes);
        if flags & RESET != 0 {
            decoder = DecoderState::default();
        }
        let bytes: &[u8] = if input.is_undefined() {
            &[]
        } else if let Some(offset) = offset.as_number() {
            let length = length.as_number().unwrap_or(0.0);
            let bytes = buffer_bytes(&ctx, &input).unwrap_or(&[]);
            range(bytes, offset as usize, length as usize)
        } else if let Some(bytes) = typed_array_bytes(&ctx, &input) {
            bytes
        } else if let Some(bytes) = buffer_bytes(&ctx, &input) {
            bytes
        } else {
            return Err(Exception::throw_type(
                &ctx,
                "Failed to execute 'decode' on 'TextDecoder': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'.",
            ));
        };
        let fatal = flags & FATAL != 0;
        let flush = flags & STREAM == 0;
        let decoded = match decode_utf8(&ctx, &mut decoder, bytes, fatal, flush) {
            Ok(decoded) => decoded,
            Err(DecodeError::Js(error)) => return Err(error),
            Err(DecodeError::Invalid) => {
                DecoderState::default().store(state_bytes);
                return Err(Exception::throw_type(
                    &ctx,
                    "Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid for encoding utf-8",
                ));
            }
        };
        let mut text = decoded.as_slice();
        // The BOM is dropped only as the first character of a stream, and the first
        // character, whatever it is, ends the chance.
        if flags & IGNORE_BOM == 0 && !decoder.bom_seen && !text.is_empty() {
            decoder.bom_seen = true;
            if let Some(after) = text.strip_prefix("\u{feff}".as_bytes()) {
                text = after;
            }
        }
        decoder.store(state_bytes);
        new_string(&ctx, text)
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_utf8, encode_chars, latin1_utf8_len, utf16_utf8_len, Chars, DecoderState};
    use crate::engine::Failure;
    use crate::testing::{run, run_ok, run_with, Fake, LIMITS};

    fn js(source: &str) -> String {
        run_ok(&Fake::default(), source)
    }

    #[test]
    fn encode_gives_utf8_with_lone_surrogates_replaced() {
        let result = js(r#"const e = new TextEncoder();
               const hex = (a) => Array.from(a, (b) => b.toString(16).padStart(2, "0")).join(" ");
               [hex(e.encode("aé€😀")), hex(e.encode("\ud800")), hex(e.encode("x\udc00y")),
                hex(e.encode("\udc00\ud800")), hex(e.encode("\ud83d\ude00\ud83d")), hex(e.encode()),
                hex(e.encode(undefined)), hex(e.encode(12)), hex(e.encode({ toString() { return "o"; } })),
                e.encode("abc") instanceof Uint8Array, e.encode("abc").buffer.byteLength, e.encoding]"#);
        assert_eq!(
            result,
            r#"["61 c3 a9 e2 82 ac f0 9f 98 80","ef bf bd","78 ef bf bd 79","ef bf bd ef bf bd","f0 9f 98 80 ef bf bd","","","31 32","6f",true,3,"utf-8"]"#
        );
    }

    #[test]
    fn encode_into_writes_whole_characters_only() {
        let result = js(r#"const e = new TextEncoder();
               const run = (text, size, offset = 0) => {
                 const buffer = new Uint8Array(size + offset + 2).fill(0xaa);
                 const view = buffer.subarray(offset, offset + size);
                 const { read, written } = e.encodeInto(text, view);
                 return [read, written, Array.from(buffer).join(",")];
               };
               [run("abc", 2), run("aé", 2), run("a€", 3), run("😀", 3), run("😀b", 5), run("\ud800z", 4, 1),
                run("", 2), Object.keys(e.encodeInto("a", new Uint8Array(1)))]"#);
        assert_eq!(
            result,
            r#"[[2,2,"97,98,170,170"],[1,1,"97,170,170,170"],[1,1,"97,170,170,170,170"],[0,0,"170,170,170,170,170"],[3,5,"240,159,152,128,98,170,170"],[2,4,"170,239,191,189,122,170,170"],[0,0,"170,170,170,170"],["read","written"]]"#
        );
    }

    #[test]
    fn encode_into_wants_a_uint8_array() {
        let result = js(r#"const e = new TextEncoder();
               const caught = (f) => { try { return f(); } catch (error) { return error.constructor.name; } };
               const detached = new Uint8Array(4);
               detached.buffer.transfer();
               [caught(() => e.encodeInto("a", new Uint16Array(2))), caught(() => e.encodeInto("a", [0])),
                caught(() => e.encodeInto("a", new DataView(new ArrayBuffer(2)))), caught(() => e.encodeInto("a")),
                caught(() => e.encodeInto("a", detached)), caught(() => e.encodeInto("a", new Uint8ClampedArray(2)))]"#);
        assert_eq!(
            result,
            r#"["TypeError","TypeError","TypeError","TypeError",{"read":0,"written":0},"TypeError"]"#
        );
    }

    #[test]
    fn decode_replaces_each_maximal_subpart_of_invalid_input() {
        let result = js(r#"const d = new TextDecoder();
               const dec = (bytes) => Array.from(d.decode(new Uint8Array(bytes)), (c) => c.codePointAt(0).toString(16)).join(" ");
               [dec([0x61, 0xc3, 0xa9]), dec([0xf0, 0x80, 0x80]), dec([0xe2, 0x82]), dec([0xed, 0xa0, 0x80]),
                dec([0xc0, 0x80]), dec([0xf4, 0x90, 0x80, 0x80]), dec([0xe2, 0x82, 0x41]), dec([0xff, 0x41, 0xfe]),
                dec([0xf0, 0x9f, 0x98]), dec([0xe0, 0x80]), dec([0x80, 0x80]), dec([0xf0, 0x9f, 0x98, 0x80])]"#);
        assert_eq!(
            result,
            r#"["61 e9","fffd fffd fffd","fffd","fffd fffd fffd","fffd fffd","fffd fffd fffd fffd","fffd 41","fffd 41 fffd","fffd","fffd fffd","fffd fffd","1f600"]"#
        );
    }

    #[test]
    fn fatal_decoding_throws_a_type_error() {
        let result = js(r#"const d = new TextDecoder("utf-8", { fatal: true });
               const caught = (f) => { try { return f(); } catch (error) { return [error.constructor.name, error.message]; } };
               [d.fatal, caught(() => d.decode(new Uint8Array([0x61, 0xff]))), caught(() => d.decode(new Uint8Array([0xe2, 0x82]))),
                d.decode(new Uint8Array([0xe2, 0x82]), { stream: true }), caught(() => d.decode()),
                d.decode(new Uint8Array([0x6f, 0x6b]))]"#);
        assert_eq!(
            result,
            r#"[true,["TypeError","Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid for encoding utf-8"],["TypeError","Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid for encoding utf-8"],"",["TypeError","Failed to execute 'decode' on 'TextDecoder': The encoded data was not valid for encoding utf-8"],"ok"]"#
        );
    }

    #[test]
    fn streaming_carries_incomplete_sequences_across_calls() {
        let result = js(r#"const bytes = new TextEncoder().encode("aé€😀z");
               const d = new TextDecoder();
               let one = "";
               for (const b of bytes) one += d.decode(new Uint8Array([b]), { stream: true });
               one += d.decode();
               let pairs = "";
               for (let i = 0; i < bytes.length; i += 2) pairs += d.decode(bytes.subarray(i, i + 2), { stream: true });
               pairs += d.decode();
               const cut = [d.decode(new Uint8Array([0xf0, 0x9f]), { stream: true }), d.decode(new Uint8Array([0x98]))];
               const after = d.decode(new Uint8Array([0x41]));
               const broken = [d.decode(new Uint8Array([0xe2]), { stream: true }), d.decode(new Uint8Array([0x41]), { stream: true }), d.decode()];
               [one, pairs, cut, after, broken]"#);
        assert_eq!(result, r#"["aé€😀z","aé€😀z",["","�"],"A",["","�A",""]]"#);
    }

    #[test]
    fn a_bom_is_dropped_once_per_stream_unless_ignored() {
        let result = js(r#"const bom = [0xef, 0xbb, 0xbf];
               const d = new TextDecoder();
               const keep = new TextDecoder("utf-8", { ignoreBOM: true });
               const u = (a) => new Uint8Array(a);
               const codes = (s) => Array.from(s, (c) => c.codePointAt(0).toString(16)).join(" ");
               [codes(d.decode(u([...bom, 0x61]))), codes(d.decode(u([...bom, ...bom, 0x61]))), codes(keep.decode(u([...bom, 0x61]))),
                codes(d.decode(u([0x61, ...bom]))),
                // streamed: the BOM split over calls, and the second call of a stream keeps one
                codes(d.decode(u([0xef, 0xbb]), { stream: true }) + d.decode(u([0xbf, 0x62]), { stream: true }) + d.decode(u(bom))),
                // a new stream drops its BOM again
                codes(d.decode(u([...bom, 0x63]))), keep.ignoreBOM, d.ignoreBOM]"#);
        assert_eq!(
            result,
            r#"["61","feff 61","feff 61","61 feff","62 feff","63",true,false]"#
        );
    }

    #[test]
    fn decode_reads_any_buffer_source_over_its_range() {
        let result = js(r#"const d = new TextDecoder();
               const bytes = new TextEncoder().encode("xxhello€xx");
               const buffer = bytes.buffer;
               const shared = new SharedArrayBuffer(3);
               new Uint8Array(shared).set([0x61, 0x62, 0x63]);
               const detached = new ArrayBuffer(4);
               const view = new Uint8Array(detached);
               detached.transfer();
               const detachedView = new DataView(new ArrayBuffer(4), 1);
               detachedView.buffer.transfer();
               const caught = (f) => { try { return f(); } catch (error) { return error.constructor.name; } };
               [d.decode(buffer), d.decode(new Uint8Array(buffer, 2, 8)), d.decode(new DataView(buffer, 2, 5)),
                d.decode(new Uint16Array(buffer, 2, 4)), d.decode(shared), d.decode(new Uint8Array(shared, 1)),
                d.decode(detached), d.decode(view), d.decode(detachedView), d.decode(), d.decode(undefined),
                caught(() => d.decode("abc")), caught(() => d.decode([0x61])), caught(() => d.decode({})), caught(() => d.decode(null))]"#);
        assert_eq!(
            result,
            r#"["xxhello€xx","hello€","hello","hello€","abc","bc","","","","","","TypeError","TypeError","TypeError","TypeError"]"#
        );
    }

    #[test]
    fn only_the_labels_of_utf8_are_accepted() {
        let result = js(
            r#"const ok = (label) => { try { return new TextDecoder(label).encoding; } catch (e) { return e.constructor.name; } };
               [ok(), ok(undefined), ok("utf-8"), ok(" UTF8\n"), ok("\t\f\rUnicode-1-1-UTF-8 "), ok("unicode11utf8"),
                ok("unicode20utf8"), ok("x-unicode20utf8"), ok("utf-16le"), ok("latin1"), ok(""), ok("utf-8\u00a0"),
                ok("\u212atf-8"), ok(null), ok("utf 8"), ok("replacement")]"#,
        );
        assert_eq!(
            result,
            r#"["utf-8","utf-8","utf-8","utf-8","utf-8","utf-8","utf-8","utf-8","RangeError","RangeError","RangeError","RangeError","RangeError","RangeError","RangeError","RangeError"]"#
        );
    }

    #[test]
    fn the_interfaces_have_webidl_shapes_and_brand_checks() {
        let result = js(
            r#"const d = (o, k) => Object.getOwnPropertyDescriptor(o, k);
               const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               const g = d(globalThis, "TextDecoder");
               [TextEncoder.length, TextDecoder.length, TextEncoder.prototype.encode.length,
                TextEncoder.prototype.encodeInto.length, TextDecoder.prototype.decode.length,
                Object.prototype.toString.call(new TextEncoder()), Object.prototype.toString.call(new TextDecoder()),
                Object.keys(TextEncoder.prototype), Object.keys(TextDecoder.prototype), g.writable, g.enumerable, g.configurable,
                caught(() => TextEncoder.prototype.encode.call({}, "a")), caught(() => TextEncoder.prototype.encodeInto.call({}, "a", new Uint8Array(1))),
                caught(() => d(TextEncoder.prototype, "encoding").get.call({})), caught(() => TextDecoder.prototype.decode.call(new TextEncoder())),
                caught(() => d(TextDecoder.prototype, "fatal").get.call({})), caught(() => TextDecoder()), caught(() => new TextDecoder("utf-8", 1))]"#,
        );
        assert_eq!(
            result,
            r#"[0,0,0,2,0,"[object TextEncoder]","[object TextDecoder]",["encoding","encode","encodeInto"],["encoding","fatal","ignoreBOM","decode"],true,false,true,"TypeError","TypeError","TypeError","TypeError","TypeError","TypeError","TypeError"]"#
        );
    }

    #[test]
    fn a_round_trip_of_every_kind_of_character_and_big_inputs() {
        let result = js(r#"let text = "";
               for (let c = 0; c < 0x11000; c += 7) if (c < 0xd800 || c > 0xdfff) text += String.fromCodePoint(c);
               const big = "€".repeat(300000) + "x";
               const e = new TextEncoder(), d = new TextDecoder("utf-8", { fatal: true });
               [d.decode(e.encode(text)) === text, d.decode(e.encode(big)) === big, e.encode(big).length]"#);
        assert_eq!(result, "[true,true,900001]");
    }

    #[test]
    fn what_a_script_replaced_is_not_used() {
        let result = js(
            r#"Object.defineProperty(Object.prototype, "read", { set() { throw new Error("setter"); }, configurable: true });
               Object.defineProperty(Uint8Array.prototype, "byteOffset", { get() { return 3; } });
               Object.defineProperty(DataView.prototype, "byteLength", { get() { return 1; } });
               ArrayBuffer.isView = () => false;
               String.prototype.charCodeAt = () => 0x20;
               const d = new TextDecoder(" utf-8 ");
               const r = new TextEncoder().encodeInto("ab", new Uint8Array(4));
               [d.decode(new DataView(new TextEncoder().encode("hello").buffer, 1)), r.read, r.written]"#,
        );
        assert_eq!(result, r#"["ello",2,2]"#);
    }

    #[test]
    fn a_huge_invalid_input_under_a_heap_limit_runs_out_of_memory_cleanly() {
        let limits = crate::engine::RunLimits {
            heap_bytes: 16 * 1024 * 1024,
            ..LIMITS
        };
        let result = run_with(
            &Fake::default(),
            "new TextDecoder().decode(new Uint8Array(8 * 1024 * 1024).fill(0xff)).length",
            limits,
        );
        assert_eq!(result, Err(Failure::OutOfMemory));
        // A fatal decoder stops at the first invalid byte, whatever the size.
        let fatal = run(
            &Fake::default(),
            "try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(8 * 1024 * 1024).fill(0xff)) } catch (e) { e.name }",
        );
        assert_eq!(fatal, Ok(r#""TypeError""#.to_owned()));
    }

    #[test]
    fn the_decoder_handles_every_split_of_a_mixed_input() {
        // Natively, against the standard library's lossy decoding, which follows the same
        // maximal-subpart rule: every way of cutting the input in two gives the same text.
        let input: &[u8] =
            b"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\xe2\x82A\xf0\x9f\x98\xed\xa0\x80z\xf0";
        let expected = String::from_utf8_lossy(input).into_owned();
        crate::engine::Engine::new()
            .expect("an engine")
            .with_run_context(|ctx| {
                for cut in 0..=input.len() {
                    let mut state = DecoderState::default();
                    let mut text = Vec::new();
                    for (part, flush) in [(&input[..cut], false), (&input[cut..], true)] {
                        let Ok(decoded) = decode_utf8(ctx, &mut state, part, false, flush) else {
                            panic!("decoding failed at cut {cut}");
                        };
                        text.extend_from_slice(decoded.as_slice());
                    }
                    assert_eq!(
                        String::from_utf8(text).as_deref(),
                        Ok(expected.as_str()),
                        "cut at {cut}"
                    );
                    assert_eq!(state.pending_len, 0);
                }
                Ok(())
            })
            .expect("runs");
    }

    #[test]
    fn utf8_lengths_and_partial_encoding_natively() {
        // Around every word boundary: ASCII, two- and three-byte characters, pairs,
        // pairs cut by a block edge, lone surrogates of both kinds and at both ends.
        let pieces: [&[u16]; 8] = [
            &[0x61],
            &[0xE9],
            &[0x20AC],
            &[0xD83D, 0xDE00],
            &[0xD800],
            &[0xDC00],
            &[0x7F, 0x80, 0x7FF, 0x800, 0xFFFF],
            &[0xDBFF, 0xDFFF],
        ];
        for (n, first) in pieces.iter().enumerate() {
            for second in pieces.iter() {
                for pad in 0..40 {
                    let mut units: Vec<u16> = vec![0x62; pad];
                    units.extend_from_slice(first);
                    units.extend_from_slice(second);
                    units.extend(std::iter::repeat_n(0x63, n));
                    let expected = String::from_utf16_lossy(&units);
                    assert_eq!(utf16_utf8_len(&units), expected.len(), "{units:x?}");
                    let mut out = vec![0; expected.len()];
                    let written = encode_chars(Chars::Utf16(&units), &mut out);
                    assert_eq!(written, (units.len(), expected.len()));
                    assert_eq!(out, expected.as_bytes());
                    // With less room, whole characters only, and what was read encodes
                    // exactly what was written.
                    // Nothing past what was written changes.
                    for cut in [1, 2, 3, 5, 17] {
                        let mut short = vec![0xAA; expected.len().saturating_sub(cut)];
                        let (read, written) = encode_chars(Chars::Utf16(&units), &mut short);
                        let prefix = String::from_utf16_lossy(&units[..read]);
                        assert_eq!(&short[..written], prefix.as_bytes(), "{units:x?}");
                        assert!(short[written..].iter().all(|&b| b == 0xAA), "{units:x?}");
                        assert!(expected.len() - written < 4 + cut, "{units:x?}");
                    }
                }
            }
        }
        let latin1: Vec<u8> = (0..=255u8).cycle().take(3 * 256 + 5).collect();
        let expected: String = latin1.iter().map(|&b| char::from(b)).collect();
        assert_eq!(latin1_utf8_len(&latin1), expected.len());
        let mut out = vec![0; expected.len()];
        assert_eq!(
            encode_chars(Chars::Latin1(&latin1), &mut out),
            (latin1.len(), expected.len())
        );
        assert_eq!(out, expected.as_bytes());
        for cut in 1..20 {
            let mut short = vec![0xAA; expected.len() - cut];
            let (read, written) = encode_chars(Chars::Latin1(&latin1), &mut short);
            let prefix: String = latin1[..read].iter().map(|&b| char::from(b)).collect();
            assert_eq!(&short[..written], prefix.as_bytes());
            assert!(short[written..].iter().all(|&b| b == 0xAA));
        }
        assert_eq!(utf16_utf8_len(&[]), 0);
        assert_eq!(latin1_utf8_len(&[]), 0);
    }

    #[test]
    fn encode_reads_ropes_slices_and_latin1_strings() {
        let result = js(r#"const e = new TextEncoder();
               const hex = (a) => Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
               let rope = "";
               for (let i = 0; i < 2000; i++) rope += i % 7 ? "a" : "é€";
               const slice = ("x".repeat(100) + "é😀y".repeat(100)).slice(101, 110);
               const latin = "é".repeat(40);
               const d = new TextDecoder();
               [d.decode(e.encode(rope)) === rope, e.encode(rope).length, hex(e.encode(slice)),
                e.encode(latin).length, d.decode(e.encode(latin)) === latin,
                e.encodeInto(rope, new Uint8Array(10)).read, e.encodeInto(latin, new Uint8Array(5)).written]"#);
        // 286 of the 2000 pieces are "é€" (5 bytes), the rest "a"; the slice ends in the
        // first half of a pair, a lone surrogate; ten bytes of the rope are "é€aaaaa".
        assert_eq!(
            result,
            r#"[true,3144,"f09f988079c3a9f09f988079c3a9efbfbd",80,true,7,4]"#
        );
    }

    /// `cargo test --release ... encoding::tests::speed -- --ignored --nocapture`:
    /// encoding and decoding 1 MiB in the guest (natively), against Rust doing the same
    /// work: for a JS string that holds non-Latin-1 text (UTF-16 inside QuickJS),
    /// encoding is transcoding UTF-16 to UTF-8, so `String::from_utf16_lossy` is the
    /// native equivalent; for ASCII it is a copy, `as_bytes().to_vec()`. Decoding is
    /// validating and building a string, `String::from_utf8_lossy(..).into_owned()`.
    #[test]
    #[ignore = "a measurement, not a check: run it by hand"]
    fn speed() {
        const ROUNDS: u32 = 200;
        fn per_round(f: impl Fn()) -> f64 {
            let start = std::time::Instant::now();
            for _ in 0..ROUNDS {
                f();
            }
            start.elapsed().as_secs_f64() * 1000.0 / f64::from(ROUNDS)
        }
        for (name, unit) in [
            ("mixed", "abcdefghijklmnopq€"),
            ("ascii", "abcdefghijklmnopqr"),
        ] {
            let source = format!(
                r#"const text = "{unit}".repeat(1024 * 1024 / 20);
                const e = new TextEncoder(), d = new TextDecoder();
                const bytes = e.encode(text);
                let t = Date.now();
                for (let i = 0; i < {ROUNDS}; i++) e.encode(text);
                const encode = (Date.now() - t) / {ROUNDS};
                t = Date.now();
                for (let i = 0; i < {ROUNDS}; i++) d.decode(bytes);
                const decode = (Date.now() - t) / {ROUNDS};
                [bytes.length, encode, decode]"#
            );
            let guest = js(&source);
            let text = unit.repeat(1024 * 1024 / 20);
            let utf16: Vec<u16> = text.encode_utf16().collect();
            let bytes = text.as_bytes().to_vec();
            let copy = per_round(|| {
                std::hint::black_box(std::hint::black_box(text.as_str()).as_bytes().to_vec());
            });
            let transcode = per_round(|| {
                std::hint::black_box(String::from_utf16_lossy(std::hint::black_box(&utf16)));
            });
            let decode = per_round(|| {
                std::hint::black_box(
                    String::from_utf8_lossy(std::hint::black_box(&bytes)).into_owned(),
                );
            });
            println!(
                "{name}: guest [bytes, encode ms, decode ms] {guest}; native: copy {copy:.3} ms, \
                 from_utf16_lossy {transcode:.3} ms, from_utf8_lossy {decode:.3} ms"
            );
        }
    }
}
