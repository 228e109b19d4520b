//! The global `input`, made from the host's tape of it.
//!
//! Why a tape: reading JSON text here cost about four times the native instructions it
//! costs in the host, and it was most of what a handler with a small input paid over a
//! trivial script (bench/FINDINGS.md, "Handlers and modules"). The host now reads the
//! input's text once, natively, where the request is built, and hands over a tape:
//! every string and key already decoded, every number already the double (or the int)
//! `JSON.parse` gives, and every object's list of keys named once, as a shape. This
//! module only makes the values: each object of a shape after the first is made from
//! the first one's QuickJS shape in one step (`JSRUNTIME-PATCH.md`, 11), without its
//! keys' atoms.
//!
//! The format is the host's (`jsruntime-wasm`'s `input` module documents it; the two
//! are one contract). Values are made as `JSON.parse` makes them: members defined in
//! order as own, writable, enumerable, configurable data properties (a repeated key
//! keeps its first position and its last value; `"__proto__"` is an ordinary own
//! property), elements at 0, 1, ...
//!
//! The tape comes from the host, which this guest trusts for it; still, a tape that does
//! not read (cut short, an unknown tag, a shape that does not exist, nested deeper than
//! [`MAX_DEPTH`]) is [`Stop::Malformed`], never a crash or a wrong value read from past
//! its end.

use rquickjs::{qjs, Ctx, Value};

use crate::json::{define, jsruntime_new_object_like, jsruntime_object_template_size};
use crate::json::{MAX_DEPTH, MAX_PENDING};

/// The tape's value tags (`jsruntime-wasm`'s `input` module).
mod tag {
    pub const NULL: u8 = 0x00;
    pub const FALSE: u8 = 0x01;
    pub const TRUE: u8 = 0x02;
    /// An `i32`: a number `JSON.parse` gives as an int.
    pub const INT: u8 = 0x03;
    /// An `f64`: every other number.
    pub const FLOAT: u8 = 0x04;
    /// Length and UTF-8 bytes.
    pub const STRING: u8 = 0x05;
    /// Count and elements.
    pub const ARRAY: u8 = 0x06;
    /// A shape's index and one value per key of it.
    pub const SHAPED: u8 = 0x07;
    /// Count and (key, value) pairs, in the text's order.
    pub const MEMBERS: u8 = 0x08;
}

/// Why the input was not made.
///
/// A byte wide, like [`Malformed`], so that every step of the decoding returns its
/// result in a register rather than through memory (a `&'static str` here made each
/// `Result` 12 bytes, written and read back at every value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// QuickJS threw while making a value (out of memory); the exception is pending.
    Threw,
    /// The tape does not read as the format says (what was wrong).
    Malformed(Malformed),
}

/// What was wrong with a tape that does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Malformed {
    /// The tape ends inside a value, a length or a count.
    CutShort,
    /// A value's tag is none of the format's.
    UnknownTag,
    /// An object names a shape the tape did not list.
    NoShape,
    /// Arrays and objects nested past [`MAX_DEPTH`].
    TooDeep,
    /// A value the tape promised is not there.
    NoValue,
    /// Bytes follow the value.
    TrailingBytes,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Malformed::CutShort => "cut short",
            Malformed::UnknownTag => "an unknown tag",
            Malformed::NoShape => "a shape that does not exist",
            Malformed::TooDeep => "nested too deep",
            Malformed::NoValue => "no value",
            Malformed::TrailingBytes => "bytes after the value",
        })
    }
}

/// Makes the value `tape` describes.
pub fn from_tape<'js>(ctx: &Ctx<'js>, tape: &[u8]) -> Result<Value<'js>, Stop> {
    let raw = ctx.as_raw().as_ptr();
    let mut decoder = Decoder {
        ctx: raw,
        tape,
        at: 0,
        depth: 0,
        shapes: Vec::new(),
        // Room for the pending values of a typical input, so the vector seldom grows.
        values: Vec::with_capacity(64),
    };
    let made = decoder.shapes().and_then(|()| decoder.value());
    let made = made.and_then(|()| {
        if decoder.at == tape.len() {
            decoder
                .values
                .pop()
                .ok_or(Stop::Malformed(Malformed::NoValue))
        } else {
            Err(Stop::Malformed(Malformed::TrailingBytes))
        }
    });
    decoder.free();
    // SAFETY: the value was made in this context and popped from the decoder's values:
    // it hands over the one reference the decoder owned.
    made.map(|value| unsafe { Value::from_raw(ctx.clone(), value) })
}

/// A list of keys objects of the tape share.
struct Shape<'t> {
    keys: Vec<&'t [u8]>,
    /// The first object made with these keys, once made, whose QuickJS shape the later
    /// ones take (a reference the decoder owns; the object belongs to the value made).
    template: Option<qjs::JSValue>,
}

struct Decoder<'t> {
    ctx: *mut qjs::JSContext,
    tape: &'t [u8],
    /// The next byte to read.
    at: usize,
    /// Arrays and objects open.
    depth: usize,
    shapes: Vec<Shape<'t>>,
    /// Values made and not yet placed (members or elements of the open containers,
    /// innermost last; at the end the result), each owned here until placed.
    values: Vec<qjs::JSValue>,
}

impl<'t> Decoder<'t> {
    /// Frees what the decoder still owns: the templates' references, and the values of
    /// a decoding that stopped.
    fn free(self) {
        for value in self.values {
            // SAFETY: each value left is a live value of `ctx` owned here.
            unsafe { qjs::JS_FreeValue(self.ctx, value) }
        }
        for template in self.shapes.into_iter().filter_map(|shape| shape.template) {
            // SAFETY: the decoder owns one reference to each template.
            unsafe { qjs::JS_FreeValue(self.ctx, template) }
        }
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, Stop> {
        let byte = *self
            .tape
            .get(self.at)
            .ok_or(Stop::Malformed(Malformed::CutShort))?;
        self.at += 1;
        Ok(byte)
    }

    #[inline(always)]
    fn array_of<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let bytes = self
            .tape
            .get(self.at..self.at + N)
            .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
            .ok_or(Stop::Malformed(Malformed::CutShort))?;
        self.at += N;
        Ok(bytes)
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<usize, Stop> {
        Ok(u32::from_le_bytes(self.array_of()?) as usize)
    }

    /// A length and that many bytes.
    #[inline(always)]
    fn bytes(&mut self) -> Result<&'t [u8], Stop> {
        let len = self.u32()?;
        let tape = self.tape;
        let bytes = tape
            .get(self.at..self.at.saturating_add(len))
            .ok_or(Stop::Malformed(Malformed::CutShort))?;
        self.at += len;
        Ok(bytes)
    }

    /// Reads the shapes that precede the value.
    fn shapes(&mut self) -> Result<(), Stop> {
        let count = self.u32()?;
        for _ in 0..count {
            let keys = self.u32()?;
            // Each key takes at least its 4-byte length: a count past what is left is
            // not believed (and not allocated for).
            if keys > (self.tape.len() - self.at) / 4 {
                return Err(Stop::Malformed(Malformed::CutShort));
            }
            let keys = (0..keys)
                .map(|_| self.bytes())
                .collect::<Result<Vec<_>, _>>()?;
            self.shapes.push(Shape {
                keys,
                template: None,
            });
        }
        Ok(())
    }

    /// Takes a value QuickJS made, or notes the exception it threw instead.
    #[inline(always)]
    fn push(&mut self, value: qjs::JSValue) -> Result<(), Stop> {
        // SAFETY: reading a value's tag has no preconditions.
        if unsafe { qjs::JS_IsException(value) } {
            return Err(Stop::Threw);
        }
        self.values.push(value);
        Ok(())
    }

    /// Makes one value and pushes it. Inlined into the loops that read members and
    /// elements, so that a scalar, most of what a tape holds, costs no call of its own;
    /// arrays and objects are made out of line ([`Decoder::container`]).
    #[inline(always)]
    fn value(&mut self) -> Result<(), Stop> {
        let value = match self.byte()? {
            tag::NULL => qjs::JS_NULL,
            tag::FALSE => qjs::JS_FALSE,
            tag::TRUE => qjs::JS_TRUE,
            tag::INT => qjs::JS_MKVAL(qjs::JS_TAG_INT, i32::from_le_bytes(self.array_of()?)),
            tag::FLOAT => qjs::JS_NewFloat64(f64::from_le_bytes(self.array_of()?)),
            tag::STRING => {
                let bytes = self.bytes()?;
                // SAFETY: `ctx` is live; QuickJS copies the `len` bytes (it decodes them
                // as UTF-8, which the host wrote, and would replace what is not).
                unsafe { qjs::JS_NewStringLen(self.ctx, bytes.as_ptr().cast(), bytes.len() as _) }
            }
            tag => return self.container(tag),
        };
        self.push(value)
    }

    /// Makes an array or an object, whose tag was read, and pushes it.
    #[inline(never)]
    fn container(&mut self, tag: u8) -> Result<(), Stop> {
        match tag {
            tag::ARRAY => self.nested(Self::array),
            tag::SHAPED => self.nested(Self::shaped),
            tag::MEMBERS => self.nested(Self::members),
            _ => Err(Stop::Malformed(Malformed::UnknownTag)),
        }
    }

    /// Makes an array or an object (`make`) one level deeper.
    #[inline(always)]
    fn nested(&mut self, make: impl FnOnce(&mut Self) -> Result<(), Stop>) -> Result<(), Stop> {
        if self.depth == MAX_DEPTH {
            return Err(Stop::Malformed(Malformed::TooDeep));
        }
        self.depth += 1;
        let made = make(self);
        self.depth -= 1;
        made
    }

    /// An array: its count read here, then its elements.
    fn array(&mut self) -> Result<(), Stop> {
        let count = self.u32()?;
        if count <= MAX_PENDING {
            let base = self.values.len();
            for _ in 0..count {
                self.value()?;
            }
            let elements = &self.values[base..];
            // SAFETY: `ctx` is live and the elements are live values of it, whose
            // references `JS_NewArrayFrom` takes (it frees them if it fails). At most
            // MAX_PENDING of them.
            let array = unsafe { qjs::JS_NewArrayFrom(self.ctx, count as _, elements.as_ptr()) };
            self.values.truncate(base);
            return self.push(array);
        }
        // A long array is made first and filled as its elements are made, so the
        // pending values stay few (they are the guest's memory, outside QuickJS's limit).
        // SAFETY: `ctx` is live.
        let array = unsafe { qjs::JS_NewArray(self.ctx) };
        self.push(array)?;
        let at = self.values.len() - 1;
        for index in 0..count {
            self.value()?;
            let element = self
                .values
                .pop()
                .ok_or(Stop::Malformed(Malformed::NoValue))?;
            // SAFETY: both are live values of `ctx`; the element's reference is handed
            // over (QuickJS frees it if the definition fails).
            let defined = unsafe {
                qjs::JS_DefinePropertyValueUint32(
                    self.ctx,
                    self.values[at],
                    index as u32,
                    element,
                    qjs::JS_PROP_C_W_E as _,
                )
            };
            if defined < 0 {
                return Err(Stop::Threw);
            }
        }
        Ok(())
    }

    /// An object whose keys are a shape's: the shape's index read here, then one value
    /// per key.
    fn shaped(&mut self) -> Result<(), Stop> {
        let index = self.u32()?;
        let keys = self
            .shapes
            .get(index)
            .map(|shape| shape.keys.len())
            .ok_or(Stop::Malformed(Malformed::NoShape))?;
        if keys > MAX_PENDING {
            // SAFETY: `ctx` is live.
            let object = unsafe { qjs::JS_NewObject(self.ctx) };
            self.push(object)?;
            let at = self.values.len() - 1;
            for key in 0..keys {
                self.value()?;
                let value = self
                    .values
                    .pop()
                    .ok_or(Stop::Malformed(Malformed::NoValue))?;
                if !define(
                    self.ctx,
                    self.values[at],
                    self.shapes[index].keys[key],
                    value,
                ) {
                    return Err(Stop::Threw);
                }
            }
            return Ok(());
        }
        let base = self.values.len();
        for _ in 0..keys {
            self.value()?;
        }
        if let Some(template) = self.shapes[index].template {
            let values = &mut self.values[base..];
            // SAFETY: the template was made by this decoding with these keys and its
            // shape holds exactly `keys` members (checked when it became the template);
            // the values are live values of `ctx`, whose references are handed over.
            let object =
                unsafe { jsruntime_new_object_like(self.ctx, template, values.as_mut_ptr()) };
            self.values.truncate(base);
            return self.push(object);
        }
        // The shape's first object: made member by member, and then its template.
        // SAFETY: `ctx` is live.
        let object = unsafe { qjs::JS_NewObject(self.ctx) };
        // SAFETY: reading a value's tag has no preconditions.
        if unsafe { qjs::JS_IsException(object) } {
            return Err(Stop::Threw);
        }
        for key in 0..keys {
            // The value's reference goes to the object; what is left in its place needs
            // no freeing if the decoding stops after this.
            let value = std::mem::replace(&mut self.values[base + key], qjs::JS_UNDEFINED);
            if !define(self.ctx, object, self.shapes[index].keys[key], value) {
                // SAFETY: the object is live and owned here.
                unsafe { qjs::JS_FreeValue(self.ctx, object) };
                return Err(Stop::Threw);
            }
        }
        self.values.truncate(base);
        self.values.push(object);
        // SAFETY: the object is a live value of `ctx`.
        let members = unsafe { jsruntime_object_template_size(object) };
        if usize::try_from(members) == Ok(keys) {
            // SAFETY: the object is live; the shape keeps its own reference.
            self.shapes[index].template = Some(unsafe { qjs::JS_DupValue(self.ctx, object) });
        }
        Ok(())
    }

    /// Any other object: its count read here, then (key, value) pairs in the text's
    /// order, defined in order.
    fn members(&mut self) -> Result<(), Stop> {
        let count = self.u32()?;
        // SAFETY: `ctx` is live.
        let object = unsafe { qjs::JS_NewObject(self.ctx) };
        self.push(object)?;
        let at = self.values.len() - 1;
        for _ in 0..count {
            let key = self.bytes()?;
            self.value()?;
            let value = self
                .values
                .pop()
                .ok_or(Stop::Malformed(Malformed::NoValue))?;
            if !define(self.ctx, self.values[at], key, value) {
                return Err(Stop::Threw);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::json::tests::same;

    /// A value to write a tape of: the tests' stand-in for the host's encoder, which
    /// reads JSON text (`jsruntime-wasm`'s `input` module, tested there).
    #[derive(Debug, Clone)]
    pub(crate) enum T {
        Null,
        Bool(bool),
        Int(i32),
        Float(f64),
        Str(String),
        Arr(Vec<T>),
        Obj(Vec<(String, T)>),
    }

    pub(crate) fn obj<const N: usize>(members: [(&str, T); N]) -> T {
        T::Obj(
            members
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }

    pub(crate) fn arr<const N: usize>(elements: [T; N]) -> T {
        T::Arr(elements.into())
    }

    pub(crate) fn s(text: &str) -> T {
        T::Str(text.to_owned())
    }

    /// The tape of `value`, as the host writes it: every object with keys, none
    /// repeated, is of a shape (numbered in order of first use); any other by members.
    pub(crate) fn tape(value: &T) -> Vec<u8> {
        let mut shapes: Vec<Vec<String>> = Vec::new();
        let mut numbers: HashMap<Vec<String>, u32> = HashMap::new();
        let mut body = Vec::new();
        write(value, &mut shapes, &mut numbers, &mut body);
        let mut tape = Vec::new();
        put_u32(&mut tape, shapes.len());
        for keys in &shapes {
            put_u32(&mut tape, keys.len());
            for key in keys {
                put_bytes(&mut tape, key.as_bytes());
            }
        }
        tape.extend_from_slice(&body);
        tape
    }

    fn put_u32(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&u32::try_from(n).expect("fits").to_le_bytes());
    }

    fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
        put_u32(out, bytes.len());
        out.extend_from_slice(bytes);
    }

    fn write(
        value: &T,
        shapes: &mut Vec<Vec<String>>,
        numbers: &mut HashMap<Vec<String>, u32>,
        out: &mut Vec<u8>,
    ) {
        match value {
            T::Null => out.push(tag::NULL),
            T::Bool(false) => out.push(tag::FALSE),
            T::Bool(true) => out.push(tag::TRUE),
            T::Int(int) => {
                out.push(tag::INT);
                out.extend_from_slice(&int.to_le_bytes());
            }
            T::Float(float) => {
                out.push(tag::FLOAT);
                out.extend_from_slice(&float.to_le_bytes());
            }
            T::Str(text) => {
                out.push(tag::STRING);
                put_bytes(out, text.as_bytes());
            }
            T::Arr(elements) => {
                out.push(tag::ARRAY);
                put_u32(out, elements.len());
                for element in elements {
                    write(element, shapes, numbers, out);
                }
            }
            T::Obj(members) => {
                let keys: Vec<String> = members.iter().map(|(key, _)| key.clone()).collect();
                let mut distinct = keys.clone();
                distinct.sort();
                distinct.dedup();
                if keys.is_empty() || distinct.len() < keys.len() {
                    out.push(tag::MEMBERS);
                    put_u32(out, members.len());
                    for (key, value) in members {
                        put_bytes(out, key.as_bytes());
                        write(value, shapes, numbers, out);
                    }
                } else {
                    let number = *numbers.entry(keys.clone()).or_insert_with(|| {
                        shapes.push(keys);
                        u32::try_from(shapes.len() - 1).expect("fits")
                    });
                    out.push(tag::SHAPED);
                    out.extend_from_slice(&number.to_le_bytes());
                    for (_, value) in members {
                        write(value, shapes, numbers, out);
                    }
                }
            }
        }
    }

    /// `value` as JSON text (what the host would have read).
    fn json(value: &T) -> String {
        let quote = |text: &str| {
            let mut quoted = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => quoted.push_str("\\\""),
                    '\\' => quoted.push_str("\\\\"),
                    c if (c as u32) < 0x20 => quoted.push_str(&format!("\\u{:04x}", c as u32)),
                    c => quoted.push(c),
                }
            }
            quoted.push('"');
            quoted
        };
        match value {
            T::Null => "null".to_owned(),
            T::Bool(b) => b.to_string(),
            T::Int(int) => int.to_string(),
            T::Float(float) if float.is_infinite() => {
                if *float > 0.0 { "1e400" } else { "-1e400" }.to_owned()
            }
            // Rust prints the shortest text that reads back as the same double.
            T::Float(float) => format!("{float:?}"),
            T::Str(text) => quote(text),
            T::Arr(elements) => {
                let elements: Vec<String> = elements.iter().map(json).collect();
                format!("[{}]", elements.join(","))
            }
            T::Obj(members) => {
                let members: Vec<String> = members
                    .iter()
                    .map(|(key, value)| format!("{}:{}", quote(key), json(value)))
                    .collect();
                format!("{{{}}}", members.join(","))
            }
        }
    }

    fn with_context(f: impl for<'js> FnOnce(Ctx<'js>)) {
        let runtime = rquickjs::Runtime::new().expect("runtime");
        let context = rquickjs::Context::full(&runtime).expect("context");
        context.with(f);
    }

    /// The value made from `value`'s tape is the one `JSON.parse` makes of its text.
    fn assert_as_json_parse(value: &T) {
        let text = json(value);
        with_context(|ctx| {
            let ours = from_tape(&ctx, &tape(value)).expect("made");
            let theirs = ctx.json_parse(text.as_bytes()).expect("JSON.parse");
            assert!(same(&ctx, ours, theirs), "{text}");
        });
    }

    fn cart(items: usize) -> T {
        T::Obj(vec![
            ("region".to_owned(), s("EU")),
            (
                "items".to_owned(),
                T::Arr(
                    (0..items)
                        .map(|i| {
                            obj([
                                ("sku", T::Str(format!("SKU-{i:06}"))),
                                ("price", T::Float(i as f64 + 0.25)),
                                ("qty", T::Int(i as i32 % 7 + 1)),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    }

    #[test]
    fn values_are_the_ones_json_parse_gives() {
        for value in [
            T::Null,
            T::Bool(true),
            T::Bool(false),
            T::Int(0),
            T::Int(-7),
            T::Int(i32::MIN),
            T::Float(-0.0),
            T::Float(0.1),
            T::Float(2147483648.0),
            T::Float(1e300),
            T::Float(f64::INFINITY),
            T::Float(f64::NEG_INFINITY),
            s(""),
            s("plain"),
            s("é – 😀 \u{0} \"q\" \\"),
            arr([]),
            obj([]),
            arr([
                T::Null,
                s("a"),
                arr([arr([T::Int(1)])]),
                obj([("k", T::Bool(true))]),
            ]),
            obj([
                ("a", T::Int(1)),
                ("b", obj([("a", T::Int(2))])),
                ("é", s("x")),
            ]),
            obj([("__proto__", T::Int(1)), ("constructor", T::Null)]),
            obj([("1", T::Int(1)), ("0", T::Int(0)), ("x", T::Int(2))]),
            cart(30),
        ] {
            assert_as_json_parse(&value);
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let value = T::Obj(vec![
            ("a".to_owned(), T::Int(1)),
            ("b".to_owned(), T::Int(2)),
            ("a".to_owned(), T::Int(3)),
        ]);
        assert_as_json_parse(&value);
        with_context(|ctx| {
            let made = from_tape(&ctx, &tape(&value)).expect("made");
            let keys: rquickjs::Function = ctx
                .eval("(o) => Object.keys(o).join() + '=' + o.a")
                .expect("function");
            let keys: String = keys.call((made,)).expect("keys");
            assert_eq!(keys, "a,b=3");
        });
    }

    #[test]
    fn objects_of_one_shape_are_made_from_the_first_and_change_apart() {
        let value = arr([
            obj([("a", T::Int(1)), ("b", T::Int(2))]),
            obj([("b", T::Int(3)), ("a", T::Int(4))]),
            obj([("a", T::Int(5)), ("b", T::Int(6))]),
            obj([("a", T::Int(7)), ("b", T::Int(8))]),
        ]);
        assert_as_json_parse(&value);
        with_context(|ctx| {
            let made = from_tape(&ctx, &tape(&value)).expect("made");
            let check: rquickjs::Function = ctx
                .eval(
                    "(v) => { v[2].c = 1; delete v[3].a; v[0].a = 9; \
                     return JSON.stringify(v); }",
                )
                .expect("function");
            let text: String = check.call((made,)).expect("check");
            assert_eq!(
                text,
                r#"[{"a":9,"b":2},{"b":3,"a":4},{"a":5,"b":6,"c":1},{"b":8}]"#
            );
        });
    }

    #[test]
    fn long_arrays_and_objects_with_many_keys_are_whole() {
        let long = T::Arr((0..(MAX_PENDING as i32 * 3 + 7)).map(T::Int).collect());
        assert_as_json_parse(&long);
        let wide = T::Obj(
            (0..(MAX_PENDING + 5))
                .map(|i| (format!("k{i}"), T::Int(i as i32)))
                .collect(),
        );
        assert_as_json_parse(&arr([wide.clone(), wide.clone()]));
        let wide_members = T::Obj(
            (0..(MAX_PENDING + 5))
                .map(|i| (format!("k{}", i % 300), T::Int(i as i32)))
                .chain([("k0".to_owned(), T::Null)])
                .collect(),
        );
        assert_as_json_parse(&wide_members);
    }

    #[test]
    fn a_tape_that_does_not_read_is_malformed_never_a_crash() {
        let whole = tape(&cart(3));
        with_context(|ctx| {
            for len in 0..whole.len() {
                assert!(
                    matches!(from_tape(&ctx, &whole[..len]), Err(Stop::Malformed(_))),
                    "{len} bytes"
                );
            }
            let mut trailing = whole.clone();
            trailing.push(tag::NULL);
            assert!(matches!(
                from_tape(&ctx, &trailing),
                Err(Stop::Malformed(_))
            ));
            let unknown = [0, 0, 0, 0, 0x42];
            assert!(matches!(from_tape(&ctx, &unknown), Err(Stop::Malformed(_))));
            let no_shape = [0, 0, 0, 0, tag::SHAPED, 0, 0, 0, 0];
            assert!(matches!(
                from_tape(&ctx, &no_shape),
                Err(Stop::Malformed(_))
            ));
            // Counts far past the tape: refused when the bytes run out, not allocated.
            let huge_shape = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
            assert!(matches!(
                from_tape(&ctx, &huge_shape),
                Err(Stop::Malformed(_))
            ));
            let huge_array = [0, 0, 0, 0, tag::ARRAY, 0xff, 0xff, 0xff, 0xff];
            assert!(matches!(
                from_tape(&ctx, &huge_array),
                Err(Stop::Malformed(_))
            ));
            let huge_string = [0, 0, 0, 0, tag::STRING, 0xff, 0xff, 0xff, 0xff];
            assert!(matches!(
                from_tape(&ctx, &huge_string),
                Err(Stop::Malformed(_))
            ));
            let mut deep = vec![0, 0, 0, 0];
            for _ in 0..=MAX_DEPTH {
                deep.extend_from_slice(&[tag::ARRAY, 1, 0, 0, 0]);
            }
            deep.push(tag::NULL);
            assert_eq!(
                from_tape(&ctx, &deep).err(),
                Some(Stop::Malformed(Malformed::TooDeep))
            );
        });
    }

    #[test]
    fn running_out_of_memory_is_quickjs_s_exception_and_frees_what_was_made() {
        let big = tape(&cart(20_000));
        let runtime = rquickjs::Runtime::new().expect("runtime");
        let context = rquickjs::Context::full(&runtime).expect("context");
        runtime.run_gc();
        let before = runtime.memory_usage().malloc_size;
        runtime.set_memory_limit(usize::try_from(before).expect("size") + 512 * 1024);
        context.with(|ctx| {
            let ooms = crate::engine::out_of_memory_count();
            assert_eq!(from_tape(&ctx, &big).err(), Some(Stop::Threw));
            let _ = ctx.catch();
            assert!(
                crate::engine::out_of_memory_count() > ooms,
                "not QuickJS's out of memory"
            );
        });
        runtime.run_gc();
        let after = runtime.memory_usage().malloc_size;
        // What was made before the exception is freed (a few atoms may stay interned).
        assert!(after < before + 64 * 1024, "{before} -> {after}");
        runtime.set_memory_limit(1 << 30);
        context.with(|ctx| {
            let value = from_tape(&ctx, &big).expect("made once the limit is lifted");
            let items: rquickjs::Function = ctx.eval("(c) => c.items.length").expect("function");
            let count: usize = items.call((value,)).expect("count");
            assert_eq!(count, 20_000);
        });
    }
}
