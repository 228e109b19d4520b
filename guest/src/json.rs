//! JSON text read into JavaScript values (the input, host-call results, JSON modules):
//! exactly what `JSON.parse(text)` gives, in about a third of its time.
//!
//! Why: every handler's input is JSON, and QuickJS's `JSON.parse` reads it one character
//! at a time through a growing string buffer, making a string for each key before it
//! makes the key's atom; in wasm that is ~45 µs per KiB of a typical cart, more than a
//! whole trivial execution (bench/FINDINGS.md, "Handlers and modules"). serde_json's
//! tokenizer, with each value made directly through QuickJS's C API, reads the same
//! text in about half the time; making each object with the keys of an earlier one from
//! that one's shape, in one step (see [`State`]), and each array from its elements at
//! once, takes off about half of what is left.
//!
//! The result is the one `JSON.parse` gives, for every text:
//! - for a text serde_json accepts, each value is made as `JSON.parse` makes it:
//!   members are defined in order as own, writable, enumerable, configurable data
//!   properties (so a repeated key keeps its first position and its last value, and
//!   `"__proto__"` is an ordinary own property), array elements likewise at 0, 1, ...;
//!   strings from their UTF-8; numbers as the nearest double (serde_json's
//!   `float_roundtrip` parser is correctly rounded, like `strtod`), tagged as an int
//!   when integral and within 32 bits, as QuickJS does, `-0` kept a double;
//! - a text serde_json refuses is handed to QuickJS's own `JSON.parse`, so its value or
//!   its `SyntaxError` is what the caller gets. That covers what JSON allows and
//!   serde_json does not (a lone surrogate escape such as `"\ud800"`, a number beyond
//!   the doubles such as `1e400`, which is `Infinity`, nesting deeper than 128) as well
//!   as every malformed text (a JSON module's, say), whose `SyntaxError` is then
//!   QuickJS's own, with its position.
//!
//! An exception QuickJS throws while a value is made (out of memory) ends the read at
//! once with [`rquickjs::Error::Exception`], the exception pending in the context, as
//! `JSON.parse` would.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_int;
use std::fmt;
use std::hash::Hasher;

use rquickjs::{qjs, Ctx, Value};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::fnv::{BuildFnv, Fnv};

// JSRUNTIME-PATCH.md, 11: an object made from another's shape in one step.
extern "C" {
    fn jsruntime_object_template_size(object: qjs::JSValue) -> c_int;
    fn jsruntime_new_object_like(
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
/// level, 128 levels deep (serde_json's limit): 32,768 keys and values, ~1.3 MB.
const MAX_PENDING: usize = 256;

/// `JSON.parse(text)`, through serde_json when it accepts the text (see the module
/// docs for why the result is the same either way).
pub fn parse<'js>(ctx: &Ctx<'js>, text: &str) -> rquickjs::Result<Value<'js>> {
    let raw = ctx.as_raw().as_ptr();
    let threw = Cell::new(false);
    let state = RefCell::new(State::default());
    let built = {
        let mut reader = serde_json::Deserializer::from_str(text);
        Build {
            ctx: raw,
            threw: &threw,
            state: &state,
        }
        .deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value))
    };
    state.into_inner().free(raw);
    match built {
        // SAFETY: the value was made in this context and `into_raw` hands over the one
        // reference this function owns.
        Ok(value) => Ok(unsafe { Value::from_raw(ctx.clone(), value.into_raw()) }),
        Err(_) if threw.get() => Err(rquickjs::Error::Exception),
        Err(_) => ctx.json_parse(text.as_bytes()),
    }
}

/// What one read keeps while it makes values.
///
/// Why: defining a fresh object's members one at a time takes its shape through each
/// prefix of its keys, and those shapes die with it, so every later object with the
/// same keys rebuilds them all (`JSRUNTIME-PATCH.md`, 11). The read remembers the first
/// object made with each list of keys (its template) and makes every later one from the
/// template's shape, in one step and without the keys' atoms.
#[derive(Default)]
struct State<'de> {
    /// The members (or elements) read so far of every array and object still open,
    /// innermost last. Each is owned here until its container takes it.
    values: Vec<qjs::JSValue>,
    /// The keys of those members, in the same order.
    keys: Vec<Cow<'de, str>>,
    /// Templates by the hash of their keys (see [`keys_hash`]).
    by_hash: HashMap<u64, usize, BuildFnv>,
    templates: Vec<Template<'de>>,
}

/// An object this read made, whose shape later objects with the same keys share.
struct Template<'de> {
    keys: Vec<Cow<'de, str>>,
    /// A reference owned by the read (the object itself belongs to the value made).
    object: qjs::JSValue,
}

impl State<'_> {
    /// Frees the references the read still owns: the templates', and the pending
    /// values of a read that failed.
    fn free(self, ctx: *mut qjs::JSContext) {
        for value in self.values {
            // SAFETY: each pending value is a live value of `ctx` owned here.
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

/// A value made in `ctx` and owned here: freed if the read fails before it is placed.
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

/// The members an open array or object has pushed onto [`State::values`] (and
/// [`State::keys`]) above `values` (`keys`): freed and popped if the read fails before
/// the container takes them.
struct Pending<'a, 'de> {
    ctx: *mut qjs::JSContext,
    state: &'a RefCell<State<'de>>,
    values: usize,
    keys: usize,
}

impl<'a, 'de> Pending<'a, 'de> {
    fn open(build: &Build<'a, 'de>) -> Self {
        let state = build.state.borrow();
        Pending {
            ctx: build.ctx,
            state: build.state,
            values: state.values.len(),
            keys: state.keys.len(),
        }
    }
}

impl Drop for Pending<'_, '_> {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        state.keys.truncate(self.keys);
        let at = self.values.min(state.values.len());
        for value in state.values.drain(at..) {
            // SAFETY: each pending value is a live value of `ctx` owned here.
            unsafe { qjs::JS_FreeValue(self.ctx, value) }
        }
    }
}

/// Makes one JSON value (and, recursively, its members) in `ctx`.
#[derive(Clone, Copy)]
struct Build<'a, 'de> {
    ctx: *mut qjs::JSContext,
    /// Set when QuickJS threw (the error is not serde_json's refusal of the text).
    threw: &'a Cell<bool>,
    state: &'a RefCell<State<'de>>,
}

impl Build<'_, '_> {
    /// Takes a value QuickJS made, or notes the exception it threw instead.
    fn own<E: de::Error>(&self, value: qjs::JSValue) -> Result<Owned, E> {
        // SAFETY: reading a value's tag has no preconditions.
        if unsafe { qjs::JS_IsException(value) } {
            return Err(self.thrown());
        }
        Ok(Owned {
            ctx: self.ctx,
            value,
        })
    }

    fn thrown<E: de::Error>(&self) -> E {
        self.threw.set(true);
        E::custom("QuickJS threw while making a value")
    }

    /// An immediate (not reference-counted) value.
    fn immediate(&self, value: qjs::JSValue) -> Owned {
        Owned {
            ctx: self.ctx,
            value,
        }
    }

    /// A number as QuickJS's `JS_NewNumber` tags it: an int when integral and within
    /// 32 bits (but `-0`, which only a double holds), else a double.
    fn number(&self, value: f64) -> Owned {
        let int = value as i32;
        let integral = f64::from(int) == value && !(int == 0 && value.is_sign_negative());
        self.immediate(if integral {
            qjs::JS_MKVAL(qjs::JS_TAG_INT, int)
        } else {
            qjs::JS_NewFloat64(value)
        })
    }
}

impl<'de> DeserializeSeed<'de> for Build<'_, 'de> {
    type Value = Owned;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Owned, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_, 'de> {
    type Value = Owned;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Owned, E> {
        Ok(self.immediate(qjs::JS_NULL))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Owned, E> {
        Ok(self.immediate(if value { qjs::JS_TRUE } else { qjs::JS_FALSE }))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Owned, E> {
        Ok(match i32::try_from(value) {
            Ok(int) => self.immediate(qjs::JS_MKVAL(qjs::JS_TAG_INT, int)),
            // The nearest double, as `strtod` gives for the same digits.
            Err(_) => self.number(value as f64),
        })
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Owned, E> {
        Ok(match i32::try_from(value) {
            Ok(int) => self.immediate(qjs::JS_MKVAL(qjs::JS_TAG_INT, int)),
            Err(_) => self.number(value as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Owned, E> {
        Ok(self.number(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Owned, E> {
        // SAFETY: `ctx` is live; QuickJS copies the `len` bytes of valid UTF-8 at `ptr`.
        let string =
            unsafe { qjs::JS_NewStringLen(self.ctx, value.as_ptr().cast(), value.len() as _) };
        self.own(string)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut elements: A) -> Result<Owned, A::Error> {
        let pending = Pending::open(&self);
        // Made once the array has MAX_PENDING elements; the rest are defined in it.
        let mut made: Option<(Owned, u32)> = None;
        while let Some(element) = elements.next_element_seed(self)? {
            if let Some((array, index)) = &mut made {
                // SAFETY: both values are live values of `ctx`; the element's reference
                // is handed over (QuickJS frees it if the definition fails).
                let defined = unsafe {
                    qjs::JS_DefinePropertyValueUint32(
                        self.ctx,
                        array.value,
                        *index,
                        element.into_raw(),
                        qjs::JS_PROP_C_W_E as _,
                    )
                };
                if defined < 0 {
                    return Err(self.thrown());
                }
                // An array of 2^32 - 1 elements is past any memory cap; refuse rather
                // than wrap, and let `JSON.parse` say what it says of it.
                *index = index
                    .checked_add(1)
                    .ok_or_else(|| de::Error::custom("too many elements"))?;
                continue;
            }
            let full = {
                let mut state = self.state.borrow_mut();
                state.values.push(element.into_raw());
                state.values.len() - pending.values == MAX_PENDING
            };
            if full {
                made = Some((self.array_from_pending(&pending)?, MAX_PENDING as u32));
            }
        }
        match made {
            Some((array, _)) => Ok(array),
            None => self.array_from_pending(&pending),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Owned, A::Error> {
        let pending = Pending::open(&self);
        // Made once the object has MAX_PENDING members; the rest are defined in it.
        let mut made: Option<Owned> = None;
        while let Some(key) = members.next_key_seed(Key)? {
            let value = members.next_value_seed(self)?;
            if let Some(object) = &made {
                self.define(object, &key, value)?;
                continue;
            }
            let full = {
                let mut state = self.state.borrow_mut();
                state.keys.push(key);
                state.values.push(value.into_raw());
                state.values.len() - pending.values == MAX_PENDING
            };
            if full {
                // SAFETY: `ctx` is live.
                let object = self.own(unsafe { qjs::JS_NewObject(self.ctx) })?;
                self.define_pending(&object, &pending)?;
                self.state.borrow_mut().keys.truncate(pending.keys);
                made = Some(object);
            }
        }
        if let Some(object) = made {
            return Ok(object);
        }
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let keys = &state.keys[pending.keys..];
        let values = &mut state.values[pending.values..];
        let hash = keys_hash(keys);
        let template = state
            .by_hash
            .get(&hash)
            .map(|&index| &state.templates[index])
            .filter(|template| template.keys == keys);
        if let Some(template) = template {
            // SAFETY: the template was made by this read with these keys, so its shape
            // holds `values.len()` members (checked when it became a template); the
            // values are live values of `ctx`, whose references are handed over.
            let object = unsafe {
                jsruntime_new_object_like(self.ctx, template.object, values.as_mut_ptr())
            };
            state.values.truncate(pending.values);
            state.keys.truncate(pending.keys);
            drop(guard);
            return self.own(object);
        }
        drop(guard);
        // SAFETY: `ctx` is live.
        let object = self.own(unsafe { qjs::JS_NewObject(self.ctx) })?;
        let count = self.define_pending(&object, &pending)?;
        let mut state = self.state.borrow_mut();
        // A repeated key leaves fewer members than keys: no template of that.
        // SAFETY: the object is a live value of `ctx`.
        let members = unsafe { jsruntime_object_template_size(object.value) };
        if count > 0
            && usize::try_from(members) == Ok(count)
            && state.templates.len() < MAX_TEMPLATES
            && !state.by_hash.contains_key(&hash)
        {
            let keys = state.keys.drain(pending.keys..).collect();
            let index = state.templates.len();
            state.by_hash.insert(hash, index);
            state.templates.push(Template {
                keys,
                // SAFETY: the object is live; the template keeps its own reference.
                object: unsafe { qjs::JS_DupValue(self.ctx, object.value) },
            });
        }
        state.keys.truncate(pending.keys);
        Ok(object)
    }
}

impl<'de> Build<'_, 'de> {
    /// The array of the elements pending above `pending`, which it takes.
    fn array_from_pending<E: de::Error>(&self, pending: &Pending<'_, 'de>) -> Result<Owned, E> {
        let mut state = self.state.borrow_mut();
        let elements = &state.values[pending.values..];
        // At most MAX_PENDING.
        let count = elements.len() as c_int;
        // SAFETY: `ctx` is live and the `count` elements are live values of it, whose
        // references `JS_NewArrayFrom` takes (it frees them if it fails).
        let array = unsafe { qjs::JS_NewArrayFrom(self.ctx, count, elements.as_ptr()) };
        state.values.truncate(pending.values);
        drop(state);
        self.own(array)
    }

    /// Defines the members pending above `pending` on `object`, in order, and pops their
    /// values (not their keys); how many there were.
    fn define_pending<E: de::Error>(
        &self,
        object: &Owned,
        pending: &Pending<'_, 'de>,
    ) -> Result<usize, E> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let keys = &state.keys[pending.keys..];
        let values = &mut state.values[pending.values..];
        for (key, value) in keys.iter().zip(values.iter_mut()) {
            // The value's reference goes to the object; what is left in its place needs
            // no freeing if the read fails after this.
            let value = std::mem::replace(value, qjs::JS_UNDEFINED);
            if !self.define_raw(object, key, value) {
                return Err(self.thrown());
            }
        }
        let count = values.len();
        state.values.truncate(pending.values);
        Ok(count)
    }

    /// Defines the member `key` of `object` as `value`.
    fn define<E: de::Error>(&self, object: &Owned, key: &str, value: Owned) -> Result<(), E> {
        if self.define_raw(object, key, value.into_raw()) {
            Ok(())
        } else {
            Err(self.thrown())
        }
    }

    /// Defines the member `key` of `object` as `value`, whose reference it takes (QuickJS
    /// frees it if the definition fails); false if QuickJS threw.
    fn define_raw(&self, object: &Owned, key: &str, value: qjs::JSValue) -> bool {
        // SAFETY: `ctx` is live; QuickJS copies the `len` bytes of valid UTF-8 (patch 13
        // makes sure a non-ASCII key is read as UTF-8).
        let atom = unsafe { qjs::JS_NewAtomLen(self.ctx, key.as_ptr().cast(), key.len() as _) };
        if atom == qjs::JS_ATOM_NULL {
            // SAFETY: the value is live and owned here.
            unsafe { qjs::JS_FreeValue(self.ctx, value) };
            return false;
        }
        // SAFETY: the object, the atom and the value are live in `ctx`.
        unsafe {
            let defined = qjs::JS_DefinePropertyValue(
                self.ctx,
                object.value,
                atom,
                value,
                qjs::JS_PROP_C_W_E as _,
            );
            qjs::JS_FreeAtom(self.ctx, atom);
            defined >= 0
        }
    }
}

/// Reads a member's key, borrowed from the text when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a member's name")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
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
    fn same<'js>(ctx: &Ctx<'js>, a: Value<'js>, b: Value<'js>) -> bool {
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

    /// Our reading of `text` is `JSON.parse`'s.
    fn assert_same(text: &str) {
        with_run_context(|ctx| {
            let ours = parse(&ctx, text).expect("parse");
            let theirs = ctx.json_parse(text.as_bytes()).expect("JSON.parse");
            assert!(
                same(&ctx, ours, theirs),
                "serde_json's reading of {text:?} differs from JSON.parse's"
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
            assert_same(text);
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
    fn what_serde_json_refuses_is_json_parse_s_to_read() {
        // JSON allows these and serde_json does not: JSON.parse reads them.
        for text in [r#""\ud800""#, r#"["\udc00x", 1]"#, "1e400", "-1e400"] {
            assert_same(text);
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_same(&deep);
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
            assert_same(&text);
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
        assert_same(&format!(r#"{{"items":[{}]}}"#, items.join(",")));
    }
}
