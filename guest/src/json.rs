//! JSON text read into JavaScript values (host-call results, JSON modules; the input
//! comes as the host's tape instead, see [`crate::input`]): exactly what
//! `JSON.parse(text)` gives, in a quarter to a fifth of its time (natively).
//!
//! Why: QuickJS's `JSON.parse` reads one character at a time through a growing string
//! buffer, making a string for each key before it makes the key's atom; in wasm that was
//! ~45 µs per KiB of a typical cart, more than a whole trivial execution
//! (bench/FINDINGS.md, "Handlers and modules"). This reader
//! walks the bytes once, makes each value directly through QuickJS's C API, makes each
//! object with the keys of an earlier one from that one's shape, in one step (see
//! [`State`]), and each array from its elements at once.
//!
//! The result is the one `JSON.parse` gives, for every text:
//! - for a text this reader accepts (strict JSON, RFC 8259, nested at most
//!   [`MAX_DEPTH`] levels, without a `\u` escape of a lone surrogate), each value is
//!   made as `JSON.parse` makes it: members are defined in order as own, writable,
//!   enumerable, configurable data properties (so a repeated key keeps its first
//!   position and its last value, and `"__proto__"` is an ordinary own property), array
//!   elements likewise at 0, 1, ...; strings from their UTF-8 and escapes; numbers as
//!   the nearest double (exactly, by Clinger's fast path, when the digits and the
//!   exponent allow; otherwise by Rust's correctly rounded parser, like `strtod`; past
//!   the doubles, `Infinity`), tagged as an int when integral and within 32 bits, as
//!   QuickJS does, `-0` kept a double;
//! - any other text is handed to QuickJS's own `JSON.parse`, so its value or its
//!   `SyntaxError` is what the caller gets. That covers what JSON allows and this reader
//!   leaves (a lone surrogate escape such as `"\ud800"`, which a UTF-8 string cannot
//!   hold; nesting deeper than [`MAX_DEPTH`]) as well as every malformed text (a JSON
//!   module's, say), whose `SyntaxError` is then QuickJS's own, with its position.
//!
//! An exception QuickJS throws while a value is made (out of memory) ends the read at
//! once with [`rquickjs::Error::Exception`], the exception pending in the context, as
//! `JSON.parse` would.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::c_int;
use std::hash::Hasher;

use rquickjs::{qjs, Ctx, Value};

use crate::fnv::{BuildFnv, Fnv};

// JSRUNTIME-PATCH.md, 11: an object made from another's shape in one step.
extern "C" {
    pub(crate) fn jsruntime_object_template_size(object: qjs::JSValue) -> c_int;
    pub(crate) fn jsruntime_new_object_like(
        ctx: *mut qjs::JSContext,
        template: qjs::JSValue,
        values: *mut qjs::JSValue,
    ) -> qjs::JSValue;
}

/// At most this many distinct key lists are remembered per read. A text of many
/// differently keyed objects then makes the rest the ordinary way, and the table stays
/// small; the common texts (arrays of records) have a handful.
const MAX_TEMPLATES: usize = 256;

/// At most this many members (or elements) of one array or object wait on the read's
/// stack to be made in one step; past that, the container is made from them and the
/// rest are defined in it as they are read. The stack is the guest's own memory, which
/// QuickJS's heap limit does not count, so it stays small: at most this many values a
/// level, [`MAX_DEPTH`] levels deep: 32,768 keys and values, ~1.3 MB.
pub(crate) const MAX_PENDING: usize = 256;

/// The deepest nesting of arrays and objects this reader follows (one call frame of the
/// guest's stack a level); a deeper text is `JSON.parse`'s, which has its own stack
/// check. Far above what the host lets through (`MAX_JSON_DEPTH`, 100).
pub const MAX_DEPTH: usize = 128;

/// The powers of ten a double holds exactly: 10^22 is the last (5^22 < 2^53).
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `JSON.parse(text)`, by this reader when it accepts the text (see the module docs for
/// why the result is the same either way).
pub fn parse<'js>(ctx: &Ctx<'js>, text: &str) -> rquickjs::Result<Value<'js>> {
    let raw = ctx.as_raw().as_ptr();
    let mut reader = Reader {
        ctx: raw,
        text,
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
        state: State::default(),
    };
    let read = reader.read();
    let Reader { mut state, .. } = reader;
    let value = read.and_then(|()| state.values.pop().ok_or(Stop::Refused));
    state.free(raw);
    match value {
        // SAFETY: the value was made in this context, and popped from the read's values,
        // it hands over the one reference the read owned.
        Ok(value) => Ok(unsafe { Value::from_raw(ctx.clone(), value) }),
        Err(Stop::Threw) => Err(rquickjs::Error::Exception),
        Err(Stop::Refused) => {
            #[cfg(test)]
            tests::HANDED_OVER.with(|count| count.set(count.get() + 1));
            ctx.json_parse(text.as_bytes())
        }
    }
}

/// Why a read stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The text is not one this reader takes: `JSON.parse` reads it instead.
    Refused,
    /// QuickJS threw while making a value (out of memory); the exception is pending.
    Threw,
}

/// What one read keeps while it makes values.
///
/// Why templates: defining a fresh object's members one at a time takes its shape
/// through each prefix of its keys, and those shapes die with it, so every later object
/// with the same keys rebuilds them all (`JSRUNTIME-PATCH.md`, 11). The read remembers
/// the first object made with each list of keys (its template) and makes every later one
/// from the template's shape, in one step and without the keys' atoms. An object is read
/// following the template last used at the same depth (the next record of an array has
/// its predecessor's keys), its keys matched in the text; only an object that leaves it
/// has its keys looked up by their hash.
struct State<'t> {
    /// The values made and not yet placed: the members (or elements) read so far of
    /// every array and object still open, innermost last, and at the end the result.
    /// Each is owned here until its container (or the caller) takes it.
    values: Vec<qjs::JSValue>,
    /// The keys of the open objects' pending members, in the same order.
    keys: Vec<Cow<'t, str>>,
    /// Templates by the hash of their keys (see [`keys_hash`]).
    by_hash: HashMap<u64, usize, BuildFnv>,
    templates: Vec<Template<'t>>,
    /// The template last used at each depth (`usize::MAX`: none yet).
    hints: [usize; MAX_DEPTH + 1],
    /// A string with escapes, decoded (reused).
    scratch: String,
}

impl Default for State<'_> {
    fn default() -> Self {
        State {
            values: Vec::new(),
            keys: Vec::new(),
            by_hash: HashMap::default(),
            templates: Vec::new(),
            hints: [usize::MAX; MAX_DEPTH + 1],
            scratch: String::new(),
        }
    }
}

/// An object this read made, whose shape later objects with the same keys share.
struct Template<'t> {
    keys: Vec<Cow<'t, str>>,
    /// No key has a byte a JSON string must escape (a quote, a backslash, a control
    /// character): each is then its own text, and a later object's keys can be matched
    /// against them in the text itself.
    plain: bool,
    /// A reference owned by the read (the object itself belongs to the value made).
    object: qjs::JSValue,
}

impl State<'_> {
    /// Frees the references the read still owns: the templates', and the values of a
    /// read that stopped.
    fn free(self, ctx: *mut qjs::JSContext) {
        for value in self.values {
            // SAFETY: each value left is a live value of `ctx` owned here.
            unsafe { qjs::JS_FreeValue(ctx, value) }
        }
        for template in self.templates {
            // SAFETY: the read owns one reference to each template.
            unsafe { qjs::JS_FreeValue(ctx, template.object) }
        }
    }
}

/// The hash of a list of keys: each key's bytes and then 0xff (a byte UTF-8 never
/// has, so the lists `["ab"]` and `["a", "b"]` differ).
fn keys_hash(keys: &[Cow<'_, str>]) -> u64 {
    let mut hasher = Fnv::default();
    for key in keys {
        hasher.write(key.as_bytes());
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

/// A value made in `ctx` and owned here: freed if the read stops before it is placed.
struct Owned {
    ctx: *mut qjs::JSContext,
    value: qjs::JSValue,
}

impl Owned {
    /// Gives up ownership (to a container, or to the caller).
    fn into_raw(self) -> qjs::JSValue {
        let value = self.value;
        std::mem::forget(self);
        value
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: `value` is a live value of `ctx` whose reference this guard owns.
        unsafe { qjs::JS_FreeValue(self.ctx, self.value) }
    }
}

/// How each byte is read inside a string: 0 goes on, 1 ends the run of plain bytes
/// (`"`, `\`, or a control character, which JSON does not allow unescaped). Bytes of
/// UTF-8 past ASCII go on: the text is a `str`, so they are valid.
static STRING_STOPS: [u8; 256] = {
    let mut stops = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        stops[byte] = 1;
        byte += 1;
    }
    stops[b'"' as usize] = 1;
    stops[b'\\' as usize] = 1;
    stops
};

/// The reader of one text: a recursive descent over its bytes, each value made as
/// soon as it is read and pushed on [`State::values`].
struct Reader<'t> {
    ctx: *mut qjs::JSContext,
    text: &'t str,
    bytes: &'t [u8],
    /// The next byte to read.
    at: usize,
    /// Arrays and objects open.
    depth: usize,
    state: State<'t>,
}

impl<'t> Reader<'t> {
    /// Reads the whole text: one value, with nothing but whitespace around it.
    fn read(&mut self) -> Result<(), Stop> {
        self.skip_whitespace();
        self.value()?;
        self.skip_whitespace();
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(Stop::Refused)
        }
    }

    /// The byte at `at`, or 0 past the end (0 is never valid where a byte is peeked:
    /// outside strings JSON has no control characters, inside them they are refused).
    #[inline(always)]
    fn peek(&self) -> u8 {
        self.bytes.get(self.at).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), b' ' | b'\n' | b'\r' | b'\t') {
            self.at += 1;
        }
    }

    /// Reads `byte`, which must be next.
    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        if self.peek() != byte {
            return Err(Stop::Refused);
        }
        self.at += 1;
        Ok(())
    }

    /// Reads what follows a member or an element: a comma (true: another follows) or the
    /// container's `close` (false), whitespace around either.
    #[inline(always)]
    fn separator(&mut self, close: u8) -> Result<bool, Stop> {
        self.skip_whitespace();
        let byte = self.peek();
        if byte == b',' {
            self.at += 1;
            self.skip_whitespace();
            Ok(true)
        } else if byte == close {
            self.at += 1;
            Ok(false)
        } else {
            Err(Stop::Refused)
        }
    }

    /// Takes a value QuickJS made, or notes the exception it threw instead.
    #[inline(always)]
    fn push(&mut self, value: qjs::JSValue) -> Result<(), Stop> {
        // SAFETY: reading a value's tag has no preconditions.
        if unsafe { qjs::JS_IsException(value) } {
            return Err(Stop::Threw);
        }
        self.state.values.push(value);
        Ok(())
    }

    /// Reads one value and pushes it.
    fn value(&mut self) -> Result<(), Stop> {
        match self.peek() {
            b'"' => {
                self.at += 1;
                let string = self.string()?;
                // SAFETY: `ctx` is live; QuickJS copies the `len` bytes of valid UTF-8.
                let value = unsafe {
                    qjs::JS_NewStringLen(self.ctx, string.as_ptr().cast(), string.len() as _)
                };
                if let Cow::Owned(decoded) = string {
                    self.state.scratch = decoded;
                }
                self.push(value)
            }
            b'{' => {
                self.at += 1;
                self.nested(Self::object)
            }
            b'[' => {
                self.at += 1;
                self.nested(Self::array)
            }
            b'-' | b'0'..=b'9' => {
                let number = self.number()?;
                self.state.values.push(number);
                Ok(())
            }
            b't' => self.literal(b"true", qjs::JS_TRUE),
            b'f' => self.literal(b"false", qjs::JS_FALSE),
            b'n' => self.literal(b"null", qjs::JS_NULL),
            _ => Err(Stop::Refused),
        }
    }

    fn literal(&mut self, word: &[u8], value: qjs::JSValue) -> Result<(), Stop> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            self.state.values.push(value);
            Ok(())
        } else {
            Err(Stop::Refused)
        }
    }

    /// Reads an array or an object (`read`) one level deeper. Not inlined, so that the
    /// scalars' path through [`Reader::value`] stays a small function.
    #[inline(never)]
    fn nested(&mut self, read: fn(&mut Self) -> Result<(), Stop>) -> Result<(), Stop> {
        if self.depth == MAX_DEPTH {
            return Err(Stop::Refused);
        }
        self.depth += 1;
        let read = read(self);
        self.depth -= 1;
        read
    }

    /// Reads a string's contents, its opening quote read: borrowed from the text when it
    /// has no escapes, else decoded into [`State::scratch`] (and then valid until the
    /// next string).
    fn string(&mut self) -> Result<Cow<'t, str>, Stop> {
        let start = self.at;
        let bytes = self.bytes;
        let text = self.text;
        let mut at = start;
        while let Some(&byte) = bytes.get(at) {
            if STRING_STOPS[usize::from(byte)] != 0 {
                break;
            }
            at += 1;
        }
        self.at = at;
        match self.peek() {
            b'"' => {
                self.at += 1;
                // Both ends are ASCII, so on character boundaries.
                Ok(Cow::Borrowed(&text[start..at]))
            }
            b'\\' => self.escaped_string(start).map(Cow::Owned),
            _ => Err(Stop::Refused),
        }
    }

    /// The rest of a string with escapes, from `start` (its first byte) with `at` on
    /// its first backslash.
    fn escaped_string(&mut self, start: usize) -> Result<String, Stop> {
        let mut decoded = std::mem::take(&mut self.state.scratch);
        decoded.clear();
        let mut run = start;
        loop {
            let byte = self.peek();
            if STRING_STOPS[usize::from(byte)] == 0 {
                self.at += 1;
                continue;
            }
            decoded.push_str(&self.text[run..self.at]);
            match byte {
                b'"' => {
                    self.at += 1;
                    return Ok(decoded);
                }
                b'\\' => {
                    let escape = self.bytes.get(self.at + 1).copied().unwrap_or(0);
                    self.at += 2;
                    let plain = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(Stop::Refused),
                    };
                    decoded.push(plain);
                    run = self.at;
                }
                _ => return Err(Stop::Refused),
            }
        }
    }

    /// The character of a `\u` escape (its `\u` read), a surrogate pair's two escapes
    /// together; a lone surrogate is refused (a UTF-8 string cannot hold it).
    fn unicode_escape(&mut self) -> Result<char, Stop> {
        let unit = self.hex4()?;
        let code = match unit {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(Stop::Refused);
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Stop::Refused);
                }
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Stop::Refused),
            _ => unit,
        };
        char::from_u32(code).ok_or(Stop::Refused)
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Result<u32, Stop> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or(Stop::Refused)?;
        let mut unit = 0;
        for &digit in digits {
            let value = char::from(digit).to_digit(16).ok_or(Stop::Refused)?;
            unit = unit * 16 + value;
        }
        self.at += 4;
        Ok(unit)
    }

    /// Reads a number (JSON's grammar, nothing more) and makes it.
    fn number(&mut self) -> Result<qjs::JSValue, Stop> {
        let start = self.at;
        let negative = self.peek() == b'-';
        if negative {
            self.at += 1;
        }
        // The digits, up to 19 of them (10^19 < 2^64), as one integer.
        let mut mantissa: u64 = 0;
        let mut digits = 0u32;
        match self.peek() {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let digit @ b'0'..=b'9' = self.peek() {
                    mantissa = mantissa
                        .wrapping_mul(10)
                        .wrapping_add(u64::from(digit - b'0'));
                    digits += 1;
                    self.at += 1;
                }
            }
            _ => return Err(Stop::Refused),
        }
        if digits <= 9 && !matches!(self.peek(), b'.' | b'e' | b'E') {
            // Most numbers: an int (up to 9 digits fit in 32 bits), or -0.
            let int = mantissa as i32;
            return Ok(match (negative, int) {
                (true, 0) => qjs::JS_NewFloat64(-0.0),
                (true, _) => qjs::JS_MKVAL(qjs::JS_TAG_INT, -int),
                (false, _) => qjs::JS_MKVAL(qjs::JS_TAG_INT, int),
            });
        }
        let mut exponent: i32 = 0;
        let mut integer = true;
        if self.peek() == b'.' {
            integer = false;
            self.at += 1;
            if !self.peek().is_ascii_digit() {
                return Err(Stop::Refused);
            }
            while let digit @ b'0'..=b'9' = self.peek() {
                mantissa = mantissa
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(digit - b'0'));
                digits += 1;
                exponent -= 1;
                self.at += 1;
            }
        }
        if matches!(self.peek(), b'e' | b'E') {
            integer = false;
            self.at += 1;
            let negative_exponent = match self.peek() {
                b'-' => {
                    self.at += 1;
                    true
                }
                b'+' => {
                    self.at += 1;
                    false
                }
                _ => false,
            };
            if !self.peek().is_ascii_digit() {
                return Err(Stop::Refused);
            }
            let mut written: i32 = 0;
            while let digit @ b'0'..=b'9' = self.peek() {
                // Past a million the exact value no longer matters (the slow path
                // below reads the digits again); saturate rather than overflow.
                written = written
                    .saturating_mul(10)
                    .saturating_add(i32::from(digit - b'0'))
                    .min(1_000_000);
                self.at += 1;
            }
            exponent = exponent.saturating_add(if negative_exponent { -written } else { written });
        }
        let value = if digits > 19 {
            // More digits than one integer holds exactly: correctly rounded by Rust's
            // parser (the digits are ASCII, so the slice is on character boundaries).
            self.text[start..self.at]
                .parse::<f64>()
                .map_err(|_| Stop::Refused)?
        } else if integer || mantissa == 0 {
            // Exact, or one correctly rounded conversion of an exact integer.
            let magnitude = mantissa as f64;
            if negative {
                -magnitude
            } else {
                magnitude
            }
        } else if mantissa <= 1 << 53 && (-22..=22).contains(&exponent) {
            // Clinger's fast path: both operands exact, so the one rounding is correct.
            let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
            let magnitude = mantissa as f64;
            let magnitude = if exponent < 0 {
                magnitude / power
            } else {
                magnitude * power
            };
            if negative {
                -magnitude
            } else {
                magnitude
            }
        } else {
            self.text[start..self.at]
                .parse::<f64>()
                .map_err(|_| Stop::Refused)?
        };
        Ok(number(value))
    }

    /// Reads an array's elements, its `[` read, and pushes the array.
    fn array(&mut self) -> Result<(), Stop> {
        let base = self.state.values.len();
        self.skip_whitespace();
        if self.peek() == b']' {
            self.at += 1;
            // SAFETY: `ctx` is live.
            let array = unsafe { qjs::JS_NewArray(self.ctx) };
            return self.push(array);
        }
        // Once the array has MAX_PENDING elements it is made (at `base`), and the next
        // index to define in it is kept here.
        let mut made: Option<u32> = None;
        loop {
            self.value()?;
            if let Some(index) = &mut made {
                let Some(element) = self.state.values.pop() else {
                    return Err(Stop::Refused);
                };
                // SAFETY: both values are live values of `ctx`; the element's reference
                // is handed over (QuickJS frees it if the definition fails).
                let defined = unsafe {
                    qjs::JS_DefinePropertyValueUint32(
                        self.ctx,
                        self.state.values[base],
                        *index,
                        element,
                        qjs::JS_PROP_C_W_E as _,
                    )
                };
                if defined < 0 {
                    return Err(Stop::Threw);
                }
                // An array of 2^32 - 1 elements is past any memory cap; refuse rather
                // than wrap, and let `JSON.parse` say what it says of it.
                *index = index.checked_add(1).ok_or(Stop::Refused)?;
            } else if self.state.values.len() - base == MAX_PENDING {
                self.array_from_pending(base)?;
                made = Some(MAX_PENDING as u32);
            }
            if !self.separator(b']')? {
                break;
            }
        }
        if made.is_none() {
            self.array_from_pending(base)?;
        }
        Ok(())
    }

    /// Replaces the elements pending above `base` with the array of them.
    fn array_from_pending(&mut self, base: usize) -> Result<(), Stop> {
        let elements = &self.state.values[base..];
        // At most MAX_PENDING.
        let count = elements.len() as c_int;
        // SAFETY: `ctx` is live and the `count` elements are live values of it, whose
        // references `JS_NewArrayFrom` takes (it frees them if it fails).
        let array = unsafe { qjs::JS_NewArrayFrom(self.ctx, count, elements.as_ptr()) };
        self.state.values.truncate(base);
        self.push(array)
    }

    /// Reads an object's members, its `{` read, and pushes the object.
    fn object(&mut self) -> Result<(), Stop> {
        let base = self.state.values.len();
        let keys_base = self.state.keys.len();
        self.skip_whitespace();
        if self.peek() == b'}' {
            self.at += 1;
            // SAFETY: `ctx` is live.
            let object = unsafe { qjs::JS_NewObject(self.ctx) };
            return self.push(object);
        }
        // The template last used at this depth, while this object's keys are its keys so
        // far, each matched straight off the text ([`Template::plain`]); its keys are
        // not pushed until one differs.
        let hint = self.state.hints[self.depth];
        let mut guide = self
            .state
            .templates
            .get(hint)
            .is_some_and(|template| template.plain)
            .then_some(hint);
        let mut members = 0;
        // Once the object has MAX_PENDING members it is made (at `base`), and the rest
        // are defined in it as they are read.
        let mut made = false;
        loop {
            self.expect(b'"')?;
            let key = match guide {
                Some(template) if self.guided_key(template, members) => None,
                _ => {
                    if let Some(template) = guide.take() {
                        self.leave_guide(template, members);
                    }
                    // A decoded key keeps the scratch buffer it was decoded into.
                    Some(self.string()?)
                }
            };
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            self.value()?;
            members += 1;
            if let Some(key) = key {
                if made {
                    let Some(value) = self.state.values.pop() else {
                        return Err(Stop::Refused);
                    };
                    let object = self.state.values[base];
                    if !define(self.ctx, object, key.as_bytes(), value) {
                        return Err(Stop::Threw);
                    }
                } else {
                    self.state.keys.push(key);
                    if self.state.values.len() - base == MAX_PENDING {
                        self.object_from_pending(base, keys_base)?;
                        self.state.keys.truncate(keys_base);
                        made = true;
                    }
                }
            }
            if !self.separator(b'}')? {
                break;
            }
        }
        if made {
            return Ok(());
        }
        if let Some(template) = guide {
            if members == self.state.templates[template].keys.len() {
                return self.object_from_template(template, base, keys_base);
            }
            // A prefix of the template's keys.
            self.leave_guide(template, members);
        }
        self.object_from_keys(base, keys_base)
    }

    /// Whether the key at `at` (its opening quote read) is the `index`th of `template`
    /// (a plain one), read past its closing quote if so.
    #[inline(always)]
    fn guided_key(&mut self, template: usize, index: usize) -> bool {
        let Some(key) = self.state.templates[template].keys.get(index) else {
            return false;
        };
        let key = key.as_bytes();
        let end = self.at + key.len();
        // A plain key has no quote or backslash, so bytes equal to it, then a quote, are
        // a string with no escapes that reads as it.
        if self.bytes.get(end) == Some(&b'"') && self.bytes.get(self.at..end) == Some(key) {
            self.at = end + 1;
            true
        } else {
            false
        }
    }

    /// Pushes the first `members` keys of `template`, those this object has matched
    /// without pushing them, once it stops following the template.
    fn leave_guide(&mut self, template: usize, members: usize) {
        let state = &mut self.state;
        let matched = &state.templates[template].keys[..members];
        state.keys.extend(matched.iter().cloned());
    }

    /// Replaces the members pending above `base` (their keys above `keys_base`) with
    /// the object of them: made from a template's shape when one has these keys (found
    /// by their hash: the template last used at this depth was followed while they were
    /// read), else member by member (and then a template itself, when it can be one).
    fn object_from_keys(&mut self, base: usize, keys_base: usize) -> Result<(), Stop> {
        let state = &mut self.state;
        let keys = &state.keys[keys_base..];
        let hash = keys_hash(keys);
        let template = state
            .by_hash
            .get(&hash)
            .copied()
            .filter(|&index| state.templates[index].keys == keys);
        if let Some(index) = template {
            return self.object_from_template(index, base, keys_base);
        }
        let count = self.object_from_pending(base, keys_base)?;
        let state = &mut self.state;
        let object = state.values[base];
        // A repeated key leaves fewer members than keys: no template of that.
        // SAFETY: the object is a live value of `ctx`.
        let members = unsafe { jsruntime_object_template_size(object) };
        if count > 0
            && usize::try_from(members) == Ok(count)
            && state.templates.len() < MAX_TEMPLATES
            && !state.by_hash.contains_key(&hash)
        {
            let keys: Vec<Cow<'t, str>> = state.keys.drain(keys_base..).collect();
            let plain = keys
                .iter()
                .all(|key| key.bytes().all(|byte| STRING_STOPS[usize::from(byte)] == 0));
            let index = state.templates.len();
            state.by_hash.insert(hash, index);
            state.hints[self.depth] = index;
            state.templates.push(Template {
                keys,
                plain,
                // SAFETY: the object is live; the template keeps its own reference.
                object: unsafe { qjs::JS_DupValue(self.ctx, object) },
            });
        }
        state.keys.truncate(keys_base);
        Ok(())
    }

    /// Replaces the members pending above `base` (as many as `template` has keys, and
    /// its keys: above `keys_base` if pushed) with the object of them, made from the
    /// template's shape.
    fn object_from_template(
        &mut self,
        template: usize,
        base: usize,
        keys_base: usize,
    ) -> Result<(), Stop> {
        let state = &mut self.state;
        state.hints[self.depth] = template;
        let values = &mut state.values[base..];
        // SAFETY: the template was made by this read with these keys, so its shape
        // holds `values.len()` members (checked when it became a template); the values
        // are live values of `ctx`, whose references are handed over.
        let object = unsafe {
            jsruntime_new_object_like(
                self.ctx,
                state.templates[template].object,
                values.as_mut_ptr(),
            )
        };
        state.values.truncate(base);
        state.keys.truncate(keys_base);
        self.push(object)
    }

    /// Replaces the members pending above `base` with a new object that has them,
    /// defined in order under their keys (above `keys_base`, which stay); how many
    /// there were.
    fn object_from_pending(&mut self, base: usize, keys_base: usize) -> Result<usize, Stop> {
        // SAFETY: `ctx` is live.
        let object = unsafe { qjs::JS_NewObject(self.ctx) };
        // SAFETY: reading a value's tag has no preconditions.
        if unsafe { qjs::JS_IsException(object) } {
            return Err(Stop::Threw);
        }
        let object = Owned {
            ctx: self.ctx,
            value: object,
        };
        let state = &mut self.state;
        let keys = &state.keys[keys_base..];
        let values = &mut state.values[base..];
        for (key, value) in keys.iter().zip(values.iter_mut()) {
            // The value's reference goes to the object; what is left in its place needs
            // no freeing if the read stops after this.
            let value = std::mem::replace(value, qjs::JS_UNDEFINED);
            if !define(self.ctx, object.value, key.as_bytes(), value) {
                return Err(Stop::Threw);
            }
        }
        let count = values.len();
        state.values.truncate(base);
        state.values.push(object.into_raw());
        Ok(count)
    }
}

/// Defines the member `key` of `object` as `value`, whose reference it takes (QuickJS
/// frees it if the definition fails); false if QuickJS threw.
pub(crate) fn define(
    ctx: *mut qjs::JSContext,
    object: qjs::JSValue,
    key: &[u8],
    value: qjs::JSValue,
) -> bool {
    // SAFETY: `ctx` is live; QuickJS copies the `len` bytes, UTF-8 (patch 13 makes sure
    // a non-ASCII key is read as UTF-8).
    let atom = unsafe { qjs::JS_NewAtomLen(ctx, key.as_ptr().cast(), key.len() as _) };
    if atom == qjs::JS_ATOM_NULL {
        // SAFETY: the value is live and owned here.
        unsafe { qjs::JS_FreeValue(ctx, value) };
        return false;
    }
    // SAFETY: the object, the atom and the value are live in `ctx`.
    unsafe {
        let defined =
            qjs::JS_DefinePropertyValue(ctx, object, atom, value, qjs::JS_PROP_C_W_E as _);
        qjs::JS_FreeAtom(ctx, atom);
        defined >= 0
    }
}

/// A number as QuickJS's `JS_NewNumber` tags it: an int when integral and within 32
/// bits (but `-0`, which only a double holds), else a double.
fn number(value: f64) -> qjs::JSValue {
    let int = value as i32;
    if f64::from(int) == value && !(int == 0 && value.is_sign_negative()) {
        qjs::JS_MKVAL(qjs::JS_TAG_INT, int)
    } else {
        qjs::JS_NewFloat64(value)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs `f` in a fresh native QuickJS context (under `memory_limit` bytes if given).
    fn with_run_context(f: impl for<'js> FnOnce(Ctx<'js>)) {
        with_limited_context(0, f);
    }

    fn with_limited_context(memory_limit: usize, f: impl for<'js> FnOnce(Ctx<'js>)) {
        let runtime = rquickjs::Runtime::new().expect("runtime");
        let context = rquickjs::Context::full(&runtime).expect("context");
        if memory_limit > 0 {
            runtime.set_memory_limit(memory_limit);
        }
        context.with(f);
    }

    /// Whether two values are the same in JavaScript: shape, key order, values (`-0`
    /// too), prototypes, and the attributes of every own data property.
    pub(crate) fn same<'js>(ctx: &Ctx<'js>, a: Value<'js>, b: Value<'js>) -> bool {
        let same: rquickjs::Function = ctx
            .eval(
                r#"(function same(a, b) {
                    if (typeof a !== typeof b) return false;
                    if (a === null || typeof a !== "object") return Object.is(a, b);
                    if (Array.isArray(a) !== Array.isArray(b)) return false;
                    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
                    const ka = Reflect.ownKeys(a), kb = Reflect.ownKeys(b);
                    if (ka.length !== kb.length) return false;
                    for (let i = 0; i < ka.length; i++) {
                        if (ka[i] !== kb[i]) return false;
                        const da = Object.getOwnPropertyDescriptor(a, ka[i]);
                        const db = Object.getOwnPropertyDescriptor(b, kb[i]);
                        if (da.writable !== db.writable || da.enumerable !== db.enumerable
                            || da.configurable !== db.configurable || !("value" in da)) return false;
                        if (!same(da.value, db.value)) return false;
                    }
                    return true;
                })"#,
            )
            .expect("compare function");
        same.call((a, b)).expect("compare")
    }

    thread_local! {
        /// How many texts this thread's reads handed to `JSON.parse`.
        pub(super) static HANDED_OVER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn handed_over() -> usize {
        HANDED_OVER.with(|count| count.get())
    }

    /// [`assert_same`], and the reader read `text` itself (did not hand it over).
    fn assert_read_here(text: &str) {
        let before = handed_over();
        assert_same(text);
        assert_eq!(handed_over(), before, "{text:?} was handed to JSON.parse");
    }

    /// Our reading of `text` is `JSON.parse`'s.
    fn assert_same(text: &str) {
        with_run_context(|ctx| {
            let ours = parse(&ctx, text).expect("parse");
            let theirs = ctx.json_parse(text.as_bytes()).expect("JSON.parse");
            assert!(
                same(&ctx, ours, theirs),
                "our reading of {text:?} differs from JSON.parse's"
            );
        });
    }

    #[test]
    fn the_comparison_sees_what_json_parse_would_give_differently() {
        with_run_context(|ctx| {
            let json = |text: &str| ctx.json_parse(text.as_bytes()).expect("JSON.parse");
            for (a, b) in [
                ("0", "-0"),
                ("1", "\"1\""),
                (r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#),
                ("[1,[2]]", "[1,[3]]"),
                ("[]", "{}"),
            ] {
                assert!(!same(&ctx, json(a), json(b)), "{a} and {b}");
            }
            let frozen: Value = ctx.eval(r#"Object.freeze({a: 1})"#).expect("frozen");
            assert!(!same(&ctx, frozen, json(r#"{"a":1}"#)));
        });
    }

    #[test]
    fn values_are_the_ones_json_parse_gives() {
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "-0.0",
            "1.0",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "123456789012345678901234567890",
            "-1e-400",
            "1e-400",
            "5e-324",
            "1.7976931348623157e308",
            "0.1",
            "2.2250738585072011e-308",
            "3.14159265358979323846264338327950288",
            r#""""#,
            r#""plain""#,
            r#""esc\"aped\\\/\b\f\n\r\t\u0000\u00e9\u20ac\ud83d\ude00""#,
            r#""é€😀 raw""#,
            "[]",
            "{}",
            " [ 1 , [ 2 , [ ] ] , { } ] ",
            r#"{"b":1,"a":2,"b":3}"#,
            r#"{"__proto__":{"polluted":true},"x":1}"#,
            r#"{"2":"two","1":"one","x":0,"4294967295":"not an index","4294967294":"index"}"#,
            r#"{"":"empty","\u0000":"nul","k\u00e9y":"é","😀":1}"#,
            r#"{"region":"EU","items":[{"sku":"SKU-000001","price":12.34,"qty":3}]}"#,
        ] {
            assert_read_here(text);
        }
    }

    #[test]
    fn objects_with_the_same_keys_read_the_same() {
        // Later objects with a list of keys an earlier one had are made from its shape:
        // the same keys in another order, a repeated key, an escaped key, a prefix or
        // an extension of a list, and the same list at other depths are each their own.
        let mut items = Vec::new();
        for i in 0..40 {
            items.push(format!(r#"{{"sku":"S{i}","price":{i}.5,"qty":{i}}}"#));
            items.push(format!(r#"{{"qty":{i},"sku":"S{i}","price":-0}}"#));
            items.push(format!(r#"{{"sku":"S{i}","sku":"again","qty":{i}}}"#));
            items.push(format!(r#"{{"s\u006bu":"S{i}","price":{i},"qty":[{i}]}}"#));
            items.push(format!(r#"{{"sku":"S{i}","price":{i}}}"#));
            items.push(format!(
                r#"{{"sku":"S{i}","price":{i},"qty":1,"more":{{"sku":"in","price":1,"qty":2}}}}"#
            ));
            items.push(format!(r#"{{"1":"one","0":{i},"sku":null}}"#));
            items.push(format!(r#"{{"__proto__":{{"qty":{i}}}}}"#));
            items.push("{}".to_owned());
        }
        assert_same(&format!(
            r#"{{"region":"EU","items":[{}]}}"#,
            items.join(",")
        ));
        // Containers with more members than wait to be made in one step.
        let wide: Vec<String> = (0..3 * MAX_PENDING + 7)
            .map(|i| format!(r#""k{}":[{i},{{"a":{i}}}]"#, i % (2 * MAX_PENDING)))
            .collect();
        let long: Vec<String> = (0..3 * MAX_PENDING + 7).map(|i| i.to_string()).collect();
        assert_same(&format!(
            r#"[{{{}}},[{}],[{{{}}}]]"#,
            wide.join(","),
            long.join(","),
            wide[..MAX_PENDING].join(",")
        ));
        // More distinct key lists than the read remembers.
        let many: Vec<String> = (0..2 * MAX_TEMPLATES)
            .map(|i| format!(r#"{{"k{i}":{i},"v":[{{"k{i}":1}},{{"k{i}":2}}]}}"#))
            .collect();
        assert_same(&format!("[{}]", many.join(",")));
    }

    #[test]
    fn numbers_are_the_nearest_double_by_every_path() {
        // The int path (up to 9 digits), Clinger's exact path (up to 2^53 and 10^22),
        // and the correctly rounded parser past either, at their edges.
        for text in [
            "999999999",
            "-999999999",
            "1000000000",
            "-1000000000",
            "0e5",
            "-0e5",
            "-0.0e-5",
            "0.000",
            "1e22",
            "1e23",
            "-1e22",
            "1.5e-22",
            "1.5e-23",
            "9007199254740992",
            "9007199254740993",
            "9007199254740993e-22",
            "900719925474099.3",
            "9999999999999999999",
            "99999999999999999999",
            "0.1e1",
            "12.34",
            "-12.340",
            "1E+2",
            "1e-0",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "1e1000000000000",
            "1e-1000000000000",
            "0.00000000000000000000000000001e29",
        ] {
            assert_read_here(text);
            assert_read_here(&format!("[{text}, {{\"n\": {text}}}]"));
        }
        // Short decimals with exponents around the exact path's bounds.
        let mut rng = fastrand::Rng::with_seed(0x0dd5);
        for _ in 0..3000 {
            let digits: String = (0..rng.usize(1..18))
                .map(|_| char::from(b'0' + rng.u8(0..10)))
                .collect();
            let digits = digits.trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            let split = rng.usize(0..=digits.len());
            let (whole, fraction) = digits.split_at(split);
            let whole = if whole.is_empty() { "0" } else { whole };
            let mut text = String::from(if rng.bool() { "-" } else { "" });
            text.push_str(whole);
            if !fraction.is_empty() {
                text.push('.');
                text.push_str(fraction);
            }
            if rng.bool() {
                text.push_str(&format!("e{}", rng.i32(-40..40)));
            }
            assert_read_here(&text);
        }
    }

    #[test]
    fn keys_matched_against_an_earlier_object_s_read_as_themselves() {
        // Each object is first read against the keys of the last one made at its
        // depth: a key that only looks like that object's in the text (escaped, a
        // prefix of it, or it with more), fewer or more keys, the same keys in another
        // order, and keys no plain text spells must still read as themselves.
        assert_read_here(
            r#"[{"a":1,"b":2},{"a":1,"b":2},{"a":1},{"a":1,"b":2,"c":3},{"b":1,"a":2},
               {"\u0061":1,"b":2},{"ab":1,"b":2},{"a":1,"bb":2},{"a":1,"b":2,"a":3},
               {"a\\":1,"b":2},{"a\\":1,"b":2},{"a\"":1},{"a\"":2},{"a":1,"b":2}]"#,
        );
        assert_read_here(r#"[{"a\\":1},{"a\\":1,"b":2},{"a\\":1},{"a\\b":1}]"#);
        assert_read_here(r#"{"x":[{"k":1},{"k":{"k":{"k":2}}},{"k":3}],"y":{"k":4}}"#);
        // Whitespace JSON allows anywhere between tokens.
        assert_read_here(" \t\r\n[ {\"a\" :\t1 ,\n\"b\"\r: [ ] } , { \"a\":2,\"b\":[3] } ] \n");
        with_run_context(|ctx| {
            // And what it does not (form feed, no-break space): JSON.parse's error.
            for text in ["[1,\u{c}2]", "\u{a0}[1]", "{\"a\":1,}"] {
                assert!(parse(&ctx, text).is_err(), "{text:?} was read");
                let _ = ctx.catch();
            }
        });
    }

    #[test]
    fn a_non_ascii_key_is_its_own_even_when_its_utf_8_bytes_name_an_atom() {
        // QuickJS's JS_NewAtomLen looked a name's UTF-8 bytes up among its Latin-1
        // atoms, so with an atom "Ã©" alive (the two characters whose codes are the
        // bytes of "é" in UTF-8), it read the key "é" as "Ã©" (patch 13).
        with_run_context(|ctx| {
            let _kept: Value = ctx
                .eval(r#"globalThis.kept = { "\u00c3\u00a9": 1 }; kept"#)
                .expect("an object with that key");
            for text in [r#"{"é":2}"#, r#"[{"é":1},{"é":2}]"#, r#"{"Ã©":1,"é":2}"#] {
                let ours = parse(&ctx, text).expect("parse");
                let theirs = ctx.json_parse(text.as_bytes()).expect("JSON.parse");
                assert!(same(&ctx, ours, theirs), "{text}");
            }
        });
    }

    #[test]
    fn objects_made_from_one_shape_change_independently() {
        with_run_context(|ctx| {
            let text = r#"[{"a":1,"b":2},{"a":3,"b":4},{"a":5,"b":6}]"#;
            let value = parse(&ctx, text).expect("parse");
            ctx.globals().set("v", value).expect("set");
            let seen: String = ctx
                .eval(
                    r#"
                    delete v[0].a;
                    v[1].c = 7;
                    Object.defineProperty(v[2], "b", { enumerable: false });
                    v.map((o) => Object.keys(o).join("") + ":" + Object.values(o).join(","))
                     .join(" ")"#,
                )
                .expect("change them");
            assert_eq!(seen, "b:2 abc:3,4,7 a:5");
        });
        // The shapes QuickJS shares between objects are still right for the next read.
        assert_same(r#"[{"a":1,"b":2},{"a":3,"b":4,"c":5},{"b":1}]"#);
    }

    #[test]
    fn what_the_reader_leaves_is_json_parse_s_to_read() {
        // JSON allows these and the reader leaves them: JSON.parse reads them.
        for text in [r#""\ud800""#, r#"["\udc00x", 1]"#, r#""\ud800\u0041""#] {
            let before = handed_over();
            assert_same(text);
            assert_eq!(handed_over(), before + 1, "{text:?} was not handed over");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_same(&deep);
        let deepest_read = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_read_here(&deepest_read);
        // And what is not JSON throws JSON.parse's SyntaxError.
        with_run_context(|ctx| {
            for text in ["", "{", "[1,]", "{'a':1}", "01", "1 2", "NaN", "\u{feff}1"] {
                assert!(
                    matches!(parse(&ctx, text), Err(rquickjs::Error::Exception)),
                    "{text:?} was read"
                );
                let thrown = ctx.catch();
                let name: String = thrown
                    .as_object()
                    .and_then(|error| error.get("name").ok())
                    .unwrap_or_default();
                assert_eq!(name, "SyntaxError", "{text:?}");
            }
        });
    }

    #[test]
    fn running_out_of_memory_is_quickjs_s_exception_and_frees_what_was_made() {
        let items: Vec<String> = (0..20_000)
            .map(|i| format!(r#"{{"name":"item {i}","n":{i}}}"#))
            .collect();
        let text = format!("[{}]", items.join(","));
        let runtime = rquickjs::Runtime::new().expect("runtime");
        let context = rquickjs::Context::full(&runtime).expect("context");
        runtime.run_gc();
        let before = runtime.memory_usage().malloc_size;
        runtime.set_memory_limit(usize::try_from(before).expect("size") + 512 * 1024);
        context.with(|ctx| {
            let before = crate::engine::out_of_memory_count();
            assert!(matches!(
                parse(&ctx, &text),
                Err(rquickjs::Error::Exception)
            ));
            let ours = ctx.catch();
            assert!(
                crate::engine::out_of_memory_count() > before,
                "not QuickJS's out of memory"
            );
            // What `JSON.parse` throws in the same place (QuickJS has no memory left
            // for an error object: `null`).
            assert!(ctx.json_parse(text.as_bytes()).is_err());
            let theirs = ctx.catch();
            assert_eq!(ours.type_of(), theirs.type_of(), "{ours:?} / {theirs:?}");
        });
        runtime.run_gc();
        let after = runtime.memory_usage().malloc_size;
        // What was made before the exception is freed (a few atoms may stay interned).
        assert!(after < before + 64 * 1024, "{before} -> {after}");
        runtime.set_memory_limit(1 << 30);
        context.with(|ctx| {
            let value = parse(&ctx, &text).expect("parse once the limit is lifted");
            let length: usize = value
                .as_array()
                .map(|array| array.len())
                .unwrap_or_default();
            assert_eq!(length, 20_000);
        });
    }

    /// Random JSON text (seeded): the numbers, strings and keys where a second reader
    /// could differ from `JSON.parse`.
    fn random_json(rng: &mut fastrand::Rng, depth: u32, out: &mut String) {
        const KEYS: [&str; 10] = [
            "a",
            "b",
            "__proto__",
            "0",
            "10",
            "4294967295",
            "4294967294",
            "k\\u00e9y",
            "😀",
            "",
        ];
        const STRINGS: [&str; 8] = [
            "",
            "plain",
            "\\n\\t\\\"",
            "é€",
            "\\u00e9\\u20ac",
            "\\ud83d\\ude00",
            "😀",
            "\\u0000",
        ];
        match rng.u32(0..if depth == 0 { 4 } else { 6 }) {
            0 => out.push_str(["null", "true", "false"][rng.usize(0..3)]),
            1 => {
                if rng.bool() {
                    out.push('-');
                }
                let digits = rng.usize(1..25);
                out.push(char::from(b'1' + rng.u8(0..9)));
                for _ in 1..digits {
                    out.push(char::from(b'0' + rng.u8(0..10)));
                }
                if rng.bool() {
                    out.push('.');
                    for _ in 0..rng.usize(1..20) {
                        out.push(char::from(b'0' + rng.u8(0..10)));
                    }
                }
                if rng.bool() {
                    out.push_str(&format!("e{}", rng.i32(-340..320)));
                }
            }
            2 => out.push_str(&format!(
                "{}",
                [0.0, -0.0, 0.1, 1e-7, 2.5e-308][rng.usize(0..5)]
            )),
            3 => {
                out.push('"');
                for _ in 0..rng.usize(0..4) {
                    out.push_str(STRINGS[rng.usize(0..STRINGS.len())]);
                }
                out.push('"');
            }
            4 => {
                out.push('[');
                for n in 0..rng.usize(0..5) {
                    if n > 0 {
                        out.push(',');
                    }
                    random_json(rng, depth - 1, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for n in 0..rng.usize(0..6) {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!("\"{}\":", KEYS[rng.usize(0..KEYS.len())]));
                    random_json(rng, depth - 1, out);
                }
                out.push('}');
            }
        }
    }

    #[test]
    fn random_texts_read_the_same() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..3000 {
            let mut text = String::new();
            random_json(&mut rng, 4, &mut text);
            assert_read_here(&text);
        }
    }

    #[test]
    fn a_large_text_reads_the_same() {
        let items: Vec<String> = (0..5000)
            .map(|i| {
                format!(
                    r#"{{"sku":"SKU-{i:06}","price":{}.{:02},"qty":{}}}"#,
                    i % 97,
                    i % 100,
                    i % 7
                )
            })
            .collect();
        assert_read_here(&format!(r#"{{"items":[{}]}}"#, items.join(",")));
    }
}
