//! The input tape: a handler's JSON input as the guest reads it.
//!
//! A handler's input is JSON text given by the embedding service. Scanning that text
//! inside the wasm guest cost about four times the native instructions it costs here, so
//! the host reads the text once, natively, where the request is built, and hands the
//! guest a compact binary tape of it; the guest (`guest/src/input.rs`) only walks the
//! tape and makes the JavaScript values. Every string and key on the tape is already
//! decoded (escapes resolved, UTF-8), every number is already the value `JSON.parse`
//! gives (the nearest double to the decimal text, tagged as an integer where QuickJS
//! would make an int), and every object's list of keys is written once, as a *shape*: the
//! guest makes each object of a shape after the first from the first one's QuickJS
//! shape, in one step.
//!
//! [`encode`] accepts exactly JSON (RFC 8259, as `serde_json` does) and refuses the rest
//! with an [`InputError`] saying what and where: text that is not JSON, arrays and
//! objects nested deeper than the caller's limit, and strings with a lone surrogate
//! escape (`"\ud800"`, which a Rust string cannot hold). The library reports each
//! refusal as `invalid_request`. What it accepts, the guest makes into exactly what
//! `JSON.parse(text)` would give.
//!
//! # Format
//!
//! This is the contract with the guest's decoder. All integers are little-endian.
//!
//! ```text
//! tape   := shape-count:u32  shape*  value
//! shape  := key-count:u32  key*            -- shapes are numbered 0, 1, 2.. in the order written
//! key    := len:u32  utf8-bytes            -- decoded (escapes resolved)
//! value  := 0x00                           null
//!         | 0x01                           false
//!         | 0x02                           true
//!         | 0x03  i32                      a number JSON.parse gives as an integer
//!         | 0x04  f64                      every other number (the 8 bytes of its bits)
//!         | 0x05  len:u32  utf8-bytes      a string (decoded)
//!         | 0x06  count:u32  value*        an array of count elements
//!         | 0x07  shape:u32  value*        an object whose keys are exactly that shape's
//!                                          keys, values in the same order
//!         | 0x08  count:u32  (key value)*  any other object: its members in text order
//! ```
//!
//! - **Numbers.** A number's value is the nearest double to its decimal text (correctly
//!   rounded; too large gives ±infinity, as `JSON.parse("1e400")` does, too small ±0).
//!   It is tagged `0x03` with the `i32` when it is integral, within the `i32` range and
//!   not -0 (so `1.0`, `1e2` and `-2147483648` are `0x03`), and `0x04` otherwise
//!   (`-0`, `0.5`, `2147483648`, `1e400`); `1e-400` is +0, so `0x03` 0, and `-1e-400`
//!   is -0, so `0x04`.
//! - **Shapes.** Each distinct ordered list of keys of an object with at least one key
//!   and no key repeated is one shape, written once; every such object is a `0x07` with
//!   its shape's number and one value per key, in the shape's order. Shapes are numbered
//!   by first appearance in the value: the first `0x07` naming shape *n* comes after the
//!   first naming shape *n - 1* (an object's shape before those of the objects inside
//!   it), and every shape written is named.
//! - **Other objects** are `0x08`: the empty object (count 0) and any object with a
//!   repeated key, whose members are all there in text order, repeats included. Defining
//!   them in order gives what `JSON.parse` gives: a repeated key keeps its first
//!   position and its last value.
//! - A key is any string, `"__proto__"` included (an ordinary own property, as
//!   `JSON.parse` makes it). Strings and keys hold any Unicode scalar value, U+0000
//!   included.
//! - The tape is nested at most as deep as the text (the `max_depth` given to
//!   [`encode`]), and nothing follows the value.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// The value tags of the tape (see the module documentation).
const NULL: u8 = 0x00;
const FALSE: u8 = 0x01;
const TRUE: u8 = 0x02;
const INT: u8 = 0x03;
const FLOAT: u8 = 0x04;
const STRING: u8 = 0x05;
const ARRAY: u8 = 0x06;
const SHAPED: u8 = 0x07;
const MEMBERS: u8 = 0x08;

/// Objects with at most this many members are checked for a repeated key pair by pair;
/// larger ones with a hash set.
const PAIRWISE_KEYS: usize = 16;

/// Why a text was refused: what was wrong and where (line and column, both from 1;
/// columns count characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// The tape of `json` (see the module docs), or why the text is refused.
///
/// `max_depth` bounds how deep arrays and objects nest (a top-level `[1]` is 1 level,
/// `[[1]]` 2); deeper is refused before it is read, so the reader's recursion (and the
/// guest's) stays within it.
///
/// ```
/// let tape = jsruntime_wasm::input::encode(r#"{"a": [1, "x"]}"#, 100).unwrap();
/// assert_eq!(
///     tape,
///     [
///         1, 0, 0, 0, // one shape:
///         1, 0, 0, 0, 1, 0, 0, 0, b'a', // ["a"]
///         0x07, 0, 0, 0, 0, // an object of shape 0:
///         0x06, 2, 0, 0, 0, // an array of 2:
///         0x03, 1, 0, 0, 0, // 1
///         0x05, 1, 0, 0, 0, b'x', // "x"
///     ]
/// );
/// assert!(jsruntime_wasm::input::encode("[1,]", 100).is_err());
/// ```
pub fn encode(json: &str, max_depth: usize) -> Result<Vec<u8>, InputError> {
    let mut reader = Reader {
        text: json,
        bytes: json.as_bytes(),
        at: 0,
        max_depth,
        value: Vec::with_capacity(json.len()),
        shapes: Vec::new(),
        shape_starts: Vec::new(),
        shape_ids: HashMap::default(),
        last_shape: None,
        keys: Vec::new(),
        members: Vec::new(),
        heads: Vec::new(),
    };
    reader.skip_whitespace();
    reader.value(0)?;
    reader.skip_whitespace();
    if reader.at < reader.bytes.len() {
        return Err(reader.fail("unexpected characters after the JSON value"));
    }
    reader.finish()
}

/// The state of one [`encode`].
struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
    max_depth: usize,
    /// The value as written so far.
    value: Vec<u8>,
    /// The shapes, each as on the tape, in the order they were found (objects end).
    shapes: Vec<u8>,
    /// Where each shape starts in `shapes`.
    shape_starts: Vec<usize>,
    /// The number of each shape, by its keys as on the tape (without the count).
    /// (std's SipHash, keyed per process: the keys are the caller's, possibly its own
    /// users', so no hash an attacker can collide on purpose.)
    shape_ids: HashMap<Vec<u8>, u32>,
    /// The shape last given to an object, and its keys' bytes in `shapes`.
    last_shape: Option<(u32, std::ops::Range<usize>)>,
    /// The keys of the objects open, innermost last, each as on the tape.
    keys: Vec<u8>,
    /// Where the value of each member of the objects open starts in `value`.
    members: Vec<usize>,
    /// Where each object's tag is in `value`, in the order the objects begin.
    heads: Vec<usize>,
}

impl Reader<'_> {
    /// An error saying `what` is wrong at the current position.
    fn fail(&self, what: impl fmt::Display) -> InputError {
        fail_at(self.bytes, self.at, what)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Reads one value at `depth` arrays and objects deep and writes it.
    fn value(&mut self, depth: usize) -> Result<(), InputError> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                self.value.push(STRING);
                read_string(self.bytes, &mut self.at, &mut self.value)
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'n') => self.literal("null", NULL),
            Some(b't') => self.literal("true", TRUE),
            Some(b'f') => self.literal("false", FALSE),
            Some(_) => Err(self.fail("expected a value")),
            None => Err(self.fail("expected a value, found the end of the input")),
        }
    }

    fn literal(&mut self, word: &str, tag: u8) -> Result<(), InputError> {
        let end = self.at.saturating_add(word.len());
        if self.bytes.get(self.at..end) == Some(word.as_bytes()) {
            self.at = end;
            self.value.push(tag);
            Ok(())
        } else {
            Err(self.fail(format_args!("expected `{word}`")))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<(), InputError> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.fail("a number cannot have a leading zero"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.fail("expected a digit")),
        }
        let int_end = self.at;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.fail("expected a digit after the decimal point"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail("expected a digit in the exponent"));
            }
        }

        // Short integers: exact in an i32 without parsing a double.
        if integer && int_end - int_start <= 9 {
            let digits = self.bytes.get(int_start..int_end).unwrap_or_default();
            let magnitude = digits
                .iter()
                .fold(0i32, |n, &d| n * 10 + i32::from(d - b'0'));
            if negative && magnitude == 0 {
                self.value.push(FLOAT);
                self.value
                    .extend_from_slice(&(-0.0f64).to_bits().to_le_bytes());
            } else {
                let n = if negative { -magnitude } else { magnitude };
                self.value.push(INT);
                self.value.extend_from_slice(&n.to_le_bytes());
            }
            return Ok(());
        }

        let number = match self.exact_decimal(int_start) {
            Some(magnitude) if negative => -magnitude,
            Some(magnitude) => magnitude,
            None => {
                let text = self.text.get(start..self.at).unwrap_or_default();
                text.parse()
                    .map_err(|_| fail_at(self.bytes, start, "not a number"))?
            }
        };
        if number.fract() == 0.0
            && number >= f64::from(i32::MIN)
            && number <= f64::from(i32::MAX)
            && !(number == 0.0 && number.is_sign_negative())
        {
            self.value.push(INT);
            // Integral and within range: the conversion is exact.
            self.value.extend_from_slice(&(number as i32).to_le_bytes());
        } else {
            self.value.push(FLOAT);
            self.value
                .extend_from_slice(&number.to_bits().to_le_bytes());
        }
        Ok(())
    }

    /// The magnitude of the number read from `int_start` (after its sign) to here, when
    /// Clinger's fast path gives it exactly: its digits make an integer of at most 2^53
    /// and its power of ten is within 10^22 (both exact doubles, so the one rounding of
    /// the product or quotient is the correct one). `None` otherwise (Rust's parser then
    /// rounds it correctly). Most decimals of an input (prices, rates) take this path.
    fn exact_decimal(&self, int_start: usize) -> Option<f64> {
        let text = self.bytes.get(int_start..self.at)?;
        let mut mantissa: u64 = 0;
        let mut digits = 0u32;
        let mut exponent: i32 = 0;
        let mut rest = text.iter();
        for &byte in rest.by_ref() {
            match byte {
                b'0'..=b'9' => {
                    mantissa = mantissa * 10 + u64::from(byte - b'0');
                    digits += 1;
                    if digits > 15 {
                        return None;
                    }
                }
                b'.' => {
                    for &byte in rest.by_ref() {
                        match byte {
                            b'0'..=b'9' => {
                                mantissa = mantissa * 10 + u64::from(byte - b'0');
                                digits += 1;
                                exponent -= 1;
                                if digits > 15 {
                                    return None;
                                }
                            }
                            _ => return None,
                        }
                    }
                    break;
                }
                _ => return None,
            }
        }
        // 15 digits stay below 2^53; an exponent part (`e`) is left to the parser.
        const EXACT_POWERS_OF_TEN: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let power = *EXACT_POWERS_OF_TEN.get(exponent.unsigned_abs() as usize)?;
        // The conversion of an integer below 2^53 is exact.
        Some(mantissa as f64 / power)
    }

    /// Refuses an array or object that would be nested deeper than allowed.
    fn enter(&self, depth: usize) -> Result<(), InputError> {
        if depth >= self.max_depth {
            return Err(self.fail(format_args!(
                "the input nests arrays and objects deeper than {} levels",
                self.max_depth
            )));
        }
        Ok(())
    }

    /// Reads what follows an element or a member: a comma (true: another follows) or
    /// the container's `close` (false), whitespace around either; else `what` is wrong.
    fn separator(&mut self, close: u8, what: &str) -> Result<bool, InputError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.skip_whitespace();
                Ok(true)
            }
            Some(byte) if byte == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(self.fail(what)),
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), InputError> {
        self.enter(depth)?;
        let start = self.at;
        self.at += 1;
        let head = self.value.len();
        self.value.extend_from_slice(&[ARRAY, 0, 0, 0, 0]);
        self.skip_whitespace();
        let mut count: usize = 0;
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            loop {
                self.value(depth + 1)?;
                count += 1;
                if !self.separator(b']', "expected `,` or `]` in an array")? {
                    break;
                }
            }
        }
        let count = to_u32(count, || fail_at(self.bytes, start, "an array too long"))?;
        put_u32(&mut self.value, head + 1, count);
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), InputError> {
        self.enter(depth)?;
        let start = self.at;
        self.at += 1;
        let head = self.value.len();
        // The tag and number or count, set once the keys are known.
        self.value.extend_from_slice(&[SHAPED, 0, 0, 0, 0]);
        let head_index = self.heads.len();
        self.heads.push(head);
        let keys_start = self.keys.len();
        let members_start = self.members.len();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.fail("expected a string key"));
                }
                read_string(self.bytes, &mut self.at, &mut self.keys)?;
                self.skip_whitespace();
                if self.peek() != Some(b':') {
                    return Err(self.fail("expected `:` after an object key"));
                }
                self.at += 1;
                self.skip_whitespace();
                self.members.push(self.value.len());
                self.value(depth + 1)?;
                if !self.separator(b'}', "expected `,` or `}` in an object")? {
                    break;
                }
            }
        }
        self.end_object(start, head, head_index, keys_start, members_start)?;
        self.keys.truncate(keys_start);
        self.members.truncate(members_start);
        Ok(())
    }

    /// Sets the tag of the object whose tag is at `head` (`heads[head_index]`), and
    /// for a `0x08` moves its keys in between its values.
    fn end_object(
        &mut self,
        start: usize,
        head: usize,
        head_index: usize,
        keys_start: usize,
        members_start: usize,
    ) -> Result<(), InputError> {
        let keys = self.keys.get(keys_start..).unwrap_or_default();
        let members = self.members.get(members_start..).unwrap_or_default();
        let count = to_u32(members.len(), || {
            fail_at(self.bytes, start, "an object with too many members")
        })?;
        if count > 0 {
            // The shape the last object had first (the next record of an array has its
            // predecessor's keys): a comparison of bytes, no hashing.
            if let Some((id, range)) = self.last_shape.clone() {
                if self.shapes.get(range) == Some(keys) {
                    put_u32(&mut self.value, head + 1, id);
                    return Ok(());
                }
            }
            if let Some(&id) = self.shape_ids.get(keys) {
                if let Some(start) = self.shape_starts.get(id as usize) {
                    self.last_shape = Some((id, start + 4..start + 4 + keys.len()));
                }
                put_u32(&mut self.value, head + 1, id);
                return Ok(());
            }
            if !has_repeat(keys, members.len()) {
                let id = to_u32(self.shape_starts.len(), || {
                    fail_at(self.bytes, start, "too many shapes of objects")
                })?;
                let shape_start = self.shapes.len();
                self.shape_starts.push(shape_start);
                self.shapes.extend_from_slice(&count.to_le_bytes());
                self.shapes.extend_from_slice(keys);
                self.last_shape = Some((id, shape_start + 4..self.shapes.len()));
                self.shape_ids.insert(keys.to_vec(), id);
                put_u32(&mut self.value, head + 1, id);
                return Ok(());
            }
        }

        // The empty object, or one with a repeated key: its members, keys included.
        let body_start = head + 5;
        if self.value.len() < body_start {
            return Err(fail_at(
                self.bytes,
                start,
                "internal error: object not written",
            ));
        }
        let body = self.value.split_off(body_start);
        if let Some(tag) = self.value.get_mut(head) {
            *tag = MEMBERS;
        }
        put_u32(&mut self.value, head + 1, count);
        // The objects inside this one move by the keys written before them.
        let mut inner = self
            .heads
            .get_mut(head_index + 1..)
            .unwrap_or_default()
            .iter_mut()
            .peekable();
        let mut rest = keys;
        for (i, &value_start) in members.iter().enumerate() {
            let value_end = members
                .get(i + 1)
                .copied()
                .unwrap_or(body_start + body.len());
            let Some((key, tail)) = split_key(rest) else {
                return Err(fail_at(
                    self.bytes,
                    start,
                    "internal error: keys not written",
                ));
            };
            rest = tail;
            self.value.extend_from_slice(key);
            let moved_to = self.value.len();
            let (Some(from), Some(to)) = (
                value_start.checked_sub(body_start),
                value_end.checked_sub(body_start),
            ) else {
                return Err(fail_at(
                    self.bytes,
                    start,
                    "internal error: members not written",
                ));
            };
            self.value
                .extend_from_slice(body.get(from..to).unwrap_or_default());
            while let Some(inner_head) = inner.next_if(|h| **h < value_end) {
                *inner_head = inner_head.saturating_add(moved_to.saturating_sub(value_start));
            }
        }
        Ok(())
    }

    /// Renumbers the shapes by first appearance in the value and puts the tape
    /// together.
    fn finish(mut self) -> Result<Vec<u8>, InputError> {
        let shape_count = self.shape_starts.len();
        let count = to_u32(shape_count, || {
            fail_at(self.bytes, 0, "too many shapes of objects")
        })?;
        let mut tape = Vec::with_capacity(4 + self.shapes.len() + self.value.len());
        tape.extend_from_slice(&count.to_le_bytes());
        if shape_count < 2 {
            tape.extend_from_slice(&self.shapes);
        } else {
            // Shapes were numbered as objects ended; the tape numbers them as objects
            // begin (an outer object's shape before its inner ones').
            let mut new_ids = vec![u32::MAX; shape_count];
            let mut order: Vec<usize> = Vec::with_capacity(shape_count);
            for &head in &self.heads {
                if self.value.get(head) != Some(&SHAPED) {
                    continue;
                }
                let Some(old) =
                    read_u32(&self.value, head + 1).and_then(|id| usize::try_from(id).ok())
                else {
                    continue;
                };
                let Some(new_id) = new_ids.get_mut(old) else {
                    continue;
                };
                if *new_id == u32::MAX {
                    *new_id = to_u32(order.len(), || {
                        fail_at(self.bytes, 0, "too many shapes of objects")
                    })?;
                    order.push(old);
                }
                let id = *new_id;
                put_u32(&mut self.value, head + 1, id);
            }
            if order.len() != shape_count {
                return Err(fail_at(self.bytes, 0, "internal error: a shape not used"));
            }
            for old in order {
                let start = self.shape_starts.get(old).copied().unwrap_or_default();
                let end = self
                    .shape_starts
                    .get(old + 1)
                    .copied()
                    .unwrap_or(self.shapes.len());
                tape.extend_from_slice(self.shapes.get(start..end).unwrap_or_default());
            }
        }
        tape.extend_from_slice(&self.value);
        Ok(tape)
    }
}

/// Reads the string starting (at its `"`) at `*at` and appends it to `out` as on the
/// tape: its length and its UTF-8 bytes, decoded.
fn read_string(bytes: &[u8], at: &mut usize, out: &mut Vec<u8>) -> Result<(), InputError> {
    let start = *at;
    let head = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    *at += 1;
    loop {
        let run = *at;
        while let Some(&b) = bytes.get(*at) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                break;
            }
            *at += 1;
        }
        out.extend_from_slice(bytes.get(run..*at).unwrap_or_default());
        match bytes.get(*at) {
            Some(b'"') => {
                *at += 1;
                break;
            }
            Some(b'\\') => read_escape(bytes, at, out)?,
            Some(_) => {
                return Err(fail_at(
                    bytes,
                    *at,
                    "a control character must be escaped in a string",
                ))
            }
            None => return Err(fail_at(bytes, start, "a string is not closed")),
        }
    }
    let len = to_u32(out.len() - head - 4, || {
        fail_at(bytes, start, "a string too long")
    })?;
    put_u32(out, head, len);
    Ok(())
}

/// Reads the escape starting (at its `\`) at `*at` and appends what it stands for.
fn read_escape(bytes: &[u8], at: &mut usize, out: &mut Vec<u8>) -> Result<(), InputError> {
    let start = *at;
    let byte = match bytes.get(start + 1) {
        Some(b'"') => b'"',
        Some(b'\\') => b'\\',
        Some(b'/') => b'/',
        Some(b'b') => 0x08,
        Some(b'f') => 0x0c,
        Some(b'n') => b'\n',
        Some(b'r') => b'\r',
        Some(b't') => b'\t',
        Some(b'u') => {
            let unit = read_hex4(bytes, start)?;
            *at = start + 6;
            let code = match unit {
                0xd800..=0xdbff => {
                    let low = if bytes.get(*at..*at + 2) == Some(b"\\u") {
                        Some(read_hex4(bytes, *at)?)
                    } else {
                        None
                    };
                    match low {
                        Some(low @ 0xdc00..=0xdfff) => {
                            *at += 6;
                            0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                        }
                        _ => return Err(lone_surrogate(bytes, start, unit)),
                    }
                }
                0xdc00..=0xdfff => return Err(lone_surrogate(bytes, start, unit)),
                _ => unit,
            };
            let Some(c) = char::from_u32(code) else {
                return Err(lone_surrogate(bytes, start, unit));
            };
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            return Ok(());
        }
        Some(_) => return Err(fail_at(bytes, start, "an invalid escape in a string")),
        None => return Err(fail_at(bytes, start, "a string is not closed")),
    };
    out.push(byte);
    *at = start + 2;
    Ok(())
}

/// The four hex digits of the `\u` escape at `at`.
fn read_hex4(bytes: &[u8], at: usize) -> Result<u32, InputError> {
    let digits = bytes.get(at + 2..at + 6).unwrap_or_default();
    let mut unit = 0;
    for &d in digits {
        let Some(value) = char::from(d).to_digit(16) else {
            break;
        };
        unit = unit * 16 + value;
    }
    if digits.len() == 4 && digits.iter().all(u8::is_ascii_hexdigit) {
        Ok(unit)
    } else {
        Err(fail_at(
            bytes,
            at,
            "an invalid \\u escape in a string (expected 4 hex digits)",
        ))
    }
}

fn lone_surrogate(bytes: &[u8], at: usize, unit: u32) -> InputError {
    fail_at(
        bytes,
        at,
        format_args!("a lone surrogate \\u{unit:04X} in a string (not a Unicode character)"),
    )
}

/// An error saying `what` is wrong at byte `at` of `bytes`.
fn fail_at(bytes: &[u8], at: usize, what: impl fmt::Display) -> InputError {
    let before = bytes.get(..at).unwrap_or(bytes);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    let column = 1 + before
        .get(line_start..)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b & 0xc0 != 0x80)
        .count();
    InputError {
        message: format!("{what} at line {line}, column {column}"),
    }
}

fn to_u32(n: usize, error: impl FnOnce() -> InputError) -> Result<u32, InputError> {
    u32::try_from(n).map_err(|_| error())
}

/// Sets the u32 at `at` in `buf` (written before as a placeholder).
fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

/// The first key of `keys` (as on the tape: length and bytes) and the keys after it.
fn split_key(keys: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = usize::try_from(read_u32(keys, 0)?).ok()?;
    let end = len.checked_add(4)?;
    Some((keys.get(..end)?, keys.get(end..)?))
}

/// Whether a key appears twice in `keys` (`count` keys as on the tape).
fn has_repeat(keys: &[u8], count: usize) -> bool {
    let mut rest = keys;
    if count <= PAIRWISE_KEYS {
        while let Some((key, tail)) = split_key(rest) {
            let mut others = tail;
            while let Some((other, after)) = split_key(others) {
                if other == key {
                    return true;
                }
                others = after;
            }
            rest = tail;
        }
        false
    } else {
        let mut seen = HashSet::with_capacity(count);
        while let Some((key, tail)) = split_key(rest) {
            if !seen.insert(key) {
                return true;
            }
            rest = tail;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    /// A JSON value as `JSON.parse` makes it: members in order, repeats kept.
    #[derive(Clone, Debug)]
    enum V {
        Null,
        Bool(bool),
        Int(i32),
        Num(f64),
        Str(String),
        Arr(Vec<V>),
        Obj(Vec<(String, V)>),
    }

    impl PartialEq for V {
        fn eq(&self, other: &V) -> bool {
            match (self, other) {
                (V::Null, V::Null) => true,
                (V::Bool(a), V::Bool(b)) => a == b,
                (V::Int(a), V::Int(b)) => a == b,
                (V::Num(a), V::Num(b)) => a.to_bits() == b.to_bits(),
                (V::Str(a), V::Str(b)) => a == b,
                (V::Arr(a), V::Arr(b)) => a == b,
                (V::Obj(a), V::Obj(b)) => a == b,
                _ => false,
            }
        }
    }

    /// Reads a tape back, checking every rule of the format on the way.
    struct Decoder<'t> {
        tape: &'t [u8],
        at: usize,
        shapes: Vec<Vec<String>>,
        /// Shapes named so far (they must be named in order).
        named: usize,
    }

    impl<'t> Decoder<'t> {
        fn bytes(&mut self, n: usize) -> Result<&'t [u8], String> {
            let bytes = self
                .tape
                .get(self.at..self.at + n)
                .ok_or_else(|| format!("cut short at {}", self.at))?;
            self.at += n;
            Ok(bytes)
        }

        fn u32(&mut self) -> Result<u32, String> {
            let b = self.bytes(4)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }

        fn string(&mut self) -> Result<String, String> {
            let len = self.u32()? as usize;
            let bytes = self.bytes(len)?;
            String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
        }

        fn value(&mut self) -> Result<V, String> {
            let tag = self.bytes(1)?[0];
            Ok(match tag {
                0 => V::Null,
                1 => V::Bool(false),
                2 => V::Bool(true),
                3 => {
                    let b = self.bytes(4)?;
                    V::Int(i32::from_le_bytes(b.try_into().unwrap()))
                }
                4 => {
                    let b = self.bytes(8)?;
                    let n = f64::from_bits(u64::from_le_bytes(b.try_into().unwrap()));
                    let integral = n.fract() == 0.0
                        && n >= f64::from(i32::MIN)
                        && n <= f64::from(i32::MAX)
                        && !(n == 0.0 && n.is_sign_negative());
                    if integral {
                        return Err(format!("{n} tagged as a double"));
                    }
                    V::Num(n)
                }
                5 => V::Str(self.string()?),
                6 => {
                    let count = self.u32()?;
                    V::Arr((0..count).map(|_| self.value()).collect::<Result<_, _>>()?)
                }
                7 => {
                    let id = self.u32()? as usize;
                    if id > self.named {
                        return Err(format!("shape {id} named before shape {}", self.named));
                    }
                    if id == self.named {
                        self.named += 1;
                    }
                    let keys = self.shapes.get(id).ok_or("no such shape")?.clone();
                    let mut members = Vec::new();
                    for key in keys {
                        members.push((key, self.value()?));
                    }
                    V::Obj(members)
                }
                8 => {
                    let count = self.u32()?;
                    let mut members = Vec::new();
                    for _ in 0..count {
                        let key = self.string()?;
                        members.push((key, self.value()?));
                    }
                    let repeat = members
                        .iter()
                        .enumerate()
                        .any(|(i, (k, _))| members[..i].iter().any(|(j, _)| j == k));
                    if count > 0 && !repeat {
                        return Err("an object of a shape written as 0x08".into());
                    }
                    V::Obj(members)
                }
                t => return Err(format!("unknown tag {t}")),
            })
        }
    }

    fn decode(tape: &[u8]) -> Result<(V, Vec<Vec<String>>), String> {
        let mut d = Decoder {
            tape,
            at: 0,
            shapes: Vec::new(),
            named: 0,
        };
        let count = d.u32()?;
        for _ in 0..count {
            let n = d.u32()?;
            let keys = (0..n).map(|_| d.string()).collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err("an empty shape".into());
            }
            for (i, k) in keys.iter().enumerate() {
                if keys[..i].contains(k) {
                    return Err(format!("shape with key {k:?} twice"));
                }
            }
            if d.shapes.contains(&keys) {
                return Err(format!("shape {keys:?} twice"));
            }
            d.shapes.push(keys);
        }
        let value = d.value()?;
        if d.at != tape.len() {
            return Err("bytes after the value".into());
        }
        if d.named != d.shapes.len() {
            return Err("a shape never named".into());
        }
        Ok((value, d.shapes))
    }

    fn tree(json: &str) -> V {
        let tape = encode(json, 100).unwrap_or_else(|e| panic!("{json:?} refused: {e}"));
        decode(&tape)
            .unwrap_or_else(|e| panic!("{json:?}: bad tape: {e}"))
            .0
    }

    fn s(text: &str) -> V {
        V::Str(text.into())
    }

    fn obj(members: &[(&str, V)]) -> V {
        V::Obj(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// What `JSON.parse` gives for a number's text.
    fn number(text: &str) -> V {
        let n: f64 = text.parse().unwrap();
        if n.fract() == 0.0
            && n >= f64::from(i32::MIN)
            && n <= f64::from(i32::MAX)
            && !(n == 0.0 && n.is_sign_negative())
        {
            V::Int(n as i32)
        } else {
            V::Num(n)
        }
    }

    #[test]
    fn valid_texts_round_trip() {
        let cases: Vec<(&str, V)> = vec![
            ("null", V::Null),
            ("true", V::Bool(true)),
            ("false", V::Bool(false)),
            ("42", V::Int(42)),
            ("\"\"", s("")),
            ("\"abc\"", s("abc")),
            ("[]", V::Arr(vec![])),
            ("{}", V::Obj(vec![])),
            ("[[]]", V::Arr(vec![V::Arr(vec![])])),
            ("[{}, {}]", V::Arr(vec![V::Obj(vec![]), V::Obj(vec![])])),
            (
                " \t\n\r[ \t\n\r1 \t\n\r, \t\n\r{ \r\n\t\"a\" \n\t:\r\n null \t} \n] \r\n\t",
                V::Arr(vec![V::Int(1), obj(&[("a", V::Null)])]),
            ),
            (
                r#""\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u00E9 \u4E2d \u0000 \u001F \uFFFF""#,
                s("\" \\ / \u{8} \u{c} \n \r \t A é é 中 \u{0} \u{1f} \u{ffff}"),
            ),
            (r#""\ud83d\ude00""#, s("😀")),
            (r#""\uD83D\uDE00x\udbff\udfff""#, s("😀x\u{10ffff}")),
            (
                "\"héllo 中文 😀 \u{2028}\u{7f}\"",
                s("héllo 中文 😀 \u{2028}\u{7f}"),
            ),
            (
                r#"{"a\nb": 1, "\u00e9": 2, "é": 3, "__proto__": {"x": []}}"#,
                obj(&[
                    ("a\nb", V::Int(1)),
                    ("é", V::Int(2)),
                    ("é", V::Int(3)),
                    ("__proto__", obj(&[("x", V::Arr(vec![]))])),
                ]),
            ),
            (
                r#"{"a":{"b":{"c":[1,[2,[3,{"d":"e"}]]]}}}"#,
                obj(&[(
                    "a",
                    obj(&[(
                        "b",
                        obj(&[(
                            "c",
                            V::Arr(vec![
                                V::Int(1),
                                V::Arr(vec![
                                    V::Int(2),
                                    V::Arr(vec![V::Int(3), obj(&[("d", s("e"))])]),
                                ]),
                            ]),
                        )]),
                    )]),
                )]),
            ),
            (r#"{"":""}"#, obj(&[("", s(""))])),
        ];
        for (json, expected) in cases {
            assert_eq!(tree(json), expected, "{json:?}");
        }
    }

    #[test]
    fn numbers_are_what_json_parse_gives() {
        let int = |n: i32| {
            let mut t = vec![0, 0, 0, 0, 0x03];
            t.extend_from_slice(&n.to_le_bytes());
            t
        };
        let float = |n: f64| {
            let mut t = vec![0, 0, 0, 0, 0x04];
            t.extend_from_slice(&n.to_bits().to_le_bytes());
            t
        };
        let cases = [
            ("0", int(0)),
            ("-0", float(-0.0)),
            ("-0.0", float(-0.0)),
            ("1", int(1)),
            ("-1", int(-1)),
            ("1.0", int(1)),
            ("1e2", int(100)),
            ("1E+2", int(100)),
            ("100e-2", int(1)),
            ("999999999", int(999_999_999)),
            ("-999999999", int(-999_999_999)),
            ("1000000000", int(1_000_000_000)),
            ("2147483647", int(i32::MAX)),
            ("2147483648", float(2147483648.0)),
            ("-2147483648", int(i32::MIN)),
            ("-2147483649", float(-2147483649.0)),
            ("0.1", float(0.1)),
            ("1e-400", int(0)), // +0, integral: the rule makes it an int (-0 stays a double)
            ("-1e-400", float(-0.0)),
            ("1e400", float(f64::INFINITY)),
            ("-1e400", float(f64::NEG_INFINITY)),
            (
                "123456789012345678901234567890",
                float(123456789012345678901234567890.0),
            ),
            ("9007199254740993", float(9007199254740992.0)),
            ("1.7976931348623157e308", float(f64::MAX)),
            ("5e-324", float(f64::from_bits(1))),
            ("0000", Vec::new()),
        ];
        for (json, expected) in cases {
            if expected.is_empty() {
                assert!(encode(json, 100).is_err());
                continue;
            }
            assert_eq!(encode(json, 100).unwrap(), expected, "{json}");
            assert_eq!(tree(json), number(json), "{json}");
        }
        assert_eq!(tree("0.1"), V::Num(0.1));
        assert_eq!(tree("1e400"), V::Num(f64::INFINITY));
    }

    #[test]
    fn objects_share_shapes_by_first_appearance() {
        let json = r#"[{"a":1,"b":2},{"b":3,"a":4},{"a":5,"b":6},{"a":7,"a":8},{}]"#;
        let tape = encode(json, 100).unwrap();
        let mut expected: Vec<u8> = vec![2, 0, 0, 0];
        expected.extend([2, 0, 0, 0, 1, 0, 0, 0, b'a', 1, 0, 0, 0, b'b']);
        expected.extend([2, 0, 0, 0, 1, 0, 0, 0, b'b', 1, 0, 0, 0, b'a']);
        expected.extend([0x06, 5, 0, 0, 0]);
        expected.extend([0x07, 0, 0, 0, 0, 0x03, 1, 0, 0, 0, 0x03, 2, 0, 0, 0]);
        expected.extend([0x07, 1, 0, 0, 0, 0x03, 3, 0, 0, 0, 0x03, 4, 0, 0, 0]);
        expected.extend([0x07, 0, 0, 0, 0, 0x03, 5, 0, 0, 0, 0x03, 6, 0, 0, 0]);
        expected.extend([0x08, 2, 0, 0, 0]);
        expected.extend([1, 0, 0, 0, b'a', 0x03, 7, 0, 0, 0]);
        expected.extend([1, 0, 0, 0, b'a', 0x03, 8, 0, 0, 0]);
        expected.extend([0x08, 0, 0, 0, 0]);
        assert_eq!(tape, expected);

        assert_eq!(encode("{}", 100).unwrap(), [0, 0, 0, 0, 0x08, 0, 0, 0, 0]);

        // An outer object's shape is numbered before the shapes inside it.
        let (value, shapes) = decode(&encode(r#"{"x":{"y":1}}"#, 100).unwrap()).unwrap();
        assert_eq!(shapes, [vec!["x".to_string()], vec!["y".to_string()]]);
        assert_eq!(value, obj(&[("x", obj(&[("y", V::Int(1))]))]));
        // ... also where an inner object of the same shape ends first.
        let json = r#"{"k":{"z":1},"j":{"k":1,"j":2}}"#;
        let (_, shapes) = decode(&encode(json, 100).unwrap()).unwrap();
        assert_eq!(
            shapes,
            [
                vec!["k".to_string(), "j".to_string()],
                vec!["z".to_string()]
            ]
        );
        // Objects inside a 0x08 (moved when its keys go in) are renumbered too.
        let json = r#"[{"r":{"p":1},"r":[{"q":{"p":2}}]},{"q":{"p":3},"z":{}}]"#;
        let (value, shapes) = decode(&encode(json, 100).unwrap()).unwrap();
        assert_eq!(shapes.len(), 3);
        assert_eq!(
            value,
            V::Arr(vec![
                obj(&[
                    ("r", obj(&[("p", V::Int(1))])),
                    ("r", V::Arr(vec![obj(&[("q", obj(&[("p", V::Int(2))]))])])),
                ]),
                obj(&[("q", obj(&[("p", V::Int(3))])), ("z", V::Obj(vec![]))]),
            ])
        );
        // Repeated keys past the pairwise check.
        let mut members: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let distinct = format!("{{{}}}", members.join(","));
        members.push("\"k7\":null".into());
        let repeated = format!("{{{}}}", members.join(","));
        let tape = encode(&distinct, 100).unwrap();
        assert_eq!(tape[..4], [1, 0, 0, 0]);
        let tape = encode(&repeated, 100).unwrap();
        assert_eq!(tape[..4], [0, 0, 0, 0]);
        let V::Obj(members) = decode(&tape).unwrap().0 else {
            panic!()
        };
        assert_eq!(members.len(), 41);
        assert_eq!(members[40], ("k7".to_string(), V::Null));
    }

    #[test]
    fn refuses_what_is_not_json() {
        let cases = [
            "",
            " ",
            "{",
            "[",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{1:1}",
            "01",
            "-01",
            "+1",
            ".5",
            "1.",
            "1.e3",
            "1e",
            "1e+",
            "-",
            "--1",
            "0x10",
            "NaN",
            "Infinity",
            "-Infinity",
            "tru",
            "nul",
            "True",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"\\U0041\"",
            "\"a\nb\"",
            "\"a\tb\"",
            "\"\u{0}\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\ud800\\ud800\"",
            "\"\\udc00\\ud800\"",
            "\"\\ud800x\"",
            "\"\\ud800\\n\"",
            "\"abc",
            "\"abc\\",
            "1 2",
            "[1]x",
            "[1]]",
            "{}}",
            "'a'",
            "['a']",
            "null garbage",
            "\u{feff}1",
            "\u{a0}1",
            "/* */1",
        ];
        for json in cases {
            let error = encode(json, 100).expect_err(json);
            let message = error.to_string();
            assert!(message.contains(" at line "), "{json:?}: {message}");
        }
        assert_eq!(
            encode("", 100).unwrap_err().to_string(),
            "expected a value, found the end of the input at line 1, column 1"
        );
        assert_eq!(
            encode("[1,\n  ]", 100).unwrap_err().to_string(),
            "expected a value at line 2, column 3"
        );
        assert_eq!(
            encode("[\"é\", x]", 100).unwrap_err().to_string(),
            "expected a value at line 1, column 7"
        );
        for json in ["\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\""] {
            let message = encode(json, 100).unwrap_err().to_string();
            assert!(message.contains("lone surrogate"), "{message}");
        }
    }

    #[test]
    fn refuses_what_nests_too_deep() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(encode(&nested(100), 100).is_ok());
        let message = encode(&nested(101), 100).unwrap_err().to_string();
        assert!(
            message.contains("nests arrays and objects deeper than 100 levels"),
            "{message}"
        );
        assert!(encode("[1]", 1).is_ok());
        assert!(encode("[[1]]", 1).is_err());
        assert!(encode("1", 0).is_ok());
        assert!(encode("{}", 0).is_err());
        let objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        assert!(encode(&objects(100), 100).is_ok());
        assert!(encode(&objects(101), 100).is_err());
        let message = encode(&"[".repeat(1_000_000), 100).unwrap_err().to_string();
        assert!(message.contains("deeper than 100 levels"), "{message}");
        assert!(encode(&"{\"a\":".repeat(1_000_000), 100).is_err());
    }

    /// xorshift64*: deterministic and good enough to pick test cases.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len() as u64) as usize]
        }
    }

    fn whitespace(rng: &mut Rng, out: &mut String) {
        if rng.below(3) == 0 {
            for _ in 0..rng.below(4) {
                out.push(*rng.pick(&[' ', '\t', '\n', '\r']));
            }
        }
    }

    fn random_string(rng: &mut Rng) -> String {
        const CHARS: &[char] = &[
            'a',
            'Z',
            '0',
            ' ',
            '"',
            '\\',
            '/',
            '\u{0}',
            '\u{8}',
            '\u{1f}',
            '\n',
            '\t',
            '\r',
            '\u{7f}',
            'é',
            '中',
            '😀',
            '\u{2028}',
            '\u{ffff}',
            '\u{10ffff}',
            '\u{e000}',
        ];
        (0..rng.below(8))
            .map(|_| {
                if rng.below(8) == 0 {
                    loop {
                        if let Some(c) = char::from_u32(rng.below(0x11_0000) as u32) {
                            break c;
                        }
                    }
                } else {
                    *rng.pick(CHARS)
                }
            })
            .collect()
    }

    fn hex_escape(rng: &mut Rng, unit: u32, out: &mut String) {
        if rng.below(2) == 0 {
            out.push_str(&format!("\\u{unit:04x}"));
        } else {
            out.push_str(&format!("\\u{unit:04X}"));
        }
    }

    fn write_string(rng: &mut Rng, text: &str, out: &mut String) {
        out.push('"');
        for c in text.chars() {
            let escape = rng.below(4) == 0;
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if escape => out.push_str("\\/"),
                '\u{8}' if escape => out.push_str("\\b"),
                '\u{c}' if escape => out.push_str("\\f"),
                '\n' if escape => out.push_str("\\n"),
                '\r' if escape => out.push_str("\\r"),
                '\t' if escape => out.push_str("\\t"),
                c if (c as u32) < 0x20 || escape => {
                    let mut units = [0; 2];
                    for unit in c.encode_utf16(&mut units) {
                        hex_escape(rng, u32::from(*unit), out);
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn random_number(rng: &mut Rng) -> String {
        const SPECIAL: &[&str] = &[
            "0",
            "-0",
            "0.0",
            "-0.0",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "999999999",
            "-999999999",
            "1000000000",
            "4294967296",
            "9007199254740993",
            "1e400",
            "-1e400",
            "1e-400",
            "5e-324",
            "1.7976931348623157e308",
            "0.1",
            "1E+2",
        ];
        if rng.below(4) == 0 {
            return rng.pick(SPECIAL).to_string();
        }
        let mut text = String::new();
        if rng.below(3) == 0 {
            text.push('-');
        }
        if rng.below(5) == 0 {
            text.push('0');
        } else {
            text.push(char::from(b'1' + rng.below(9) as u8));
            let more = if rng.below(2) == 0 {
                rng.below(4)
            } else {
                rng.below(25)
            };
            for _ in 0..more {
                text.push(char::from(b'0' + rng.below(10) as u8));
            }
        }
        if rng.below(3) == 0 {
            text.push('.');
            for _ in 0..1 + rng.below(20) {
                text.push(char::from(b'0' + rng.below(10) as u8));
            }
        }
        if rng.below(4) == 0 {
            text.push(*rng.pick(&['e', 'E']));
            let sign = *rng.pick::<&str>(&["", "+", "-"]);
            text.push_str(sign);
            for _ in 0..1 + rng.below(3) {
                text.push(char::from(b'0' + rng.below(10) as u8));
            }
        }
        text
    }

    fn random_value(rng: &mut Rng, depth: usize, out: &mut String) -> V {
        let kinds = if depth >= 6 { 5 } else { 8 };
        match rng.below(kinds) {
            0 => {
                let (word, value) = rng.pick(&[
                    ("null", V::Null),
                    ("true", V::Bool(true)),
                    ("false", V::Bool(false)),
                ]);
                out.push_str(word);
                value.clone()
            }
            1 | 2 => {
                let text = random_number(rng);
                out.push_str(&text);
                number(&text)
            }
            3 | 4 => {
                let text = random_string(rng);
                write_string(rng, &text, out);
                V::Str(text)
            }
            5 => {
                out.push('[');
                let mut elements = Vec::new();
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    whitespace(rng, out);
                    elements.push(random_value(rng, depth + 1, out));
                    whitespace(rng, out);
                }
                out.push(']');
                V::Arr(elements)
            }
            _ => {
                out.push('{');
                let mut members = Vec::new();
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    whitespace(rng, out);
                    let key = if rng.below(5) == 0 {
                        random_string(rng)
                    } else {
                        rng.pick(&["a", "b", "c", "__proto__", "é"]).to_string()
                    };
                    write_string(rng, &key, out);
                    whitespace(rng, out);
                    out.push(':');
                    whitespace(rng, out);
                    members.push((key, random_value(rng, depth + 1, out)));
                    whitespace(rng, out);
                }
                out.push('}');
                V::Obj(members)
            }
        }
    }

    #[test]
    fn random_values_round_trip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..2000 {
            let mut text = String::new();
            whitespace(&mut rng, &mut text);
            let expected = random_value(&mut rng, 0, &mut text);
            whitespace(&mut rng, &mut text);
            let tape = encode(&text, 100).unwrap_or_else(|e| panic!("case {case}: {text:?}: {e}"));
            let (value, _) = decode(&tape).unwrap_or_else(|e| panic!("case {case}: {text:?}: {e}"));
            assert_eq!(value, expected, "case {case}: {text:?}");
        }
    }
}
