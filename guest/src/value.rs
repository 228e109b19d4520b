//! Conversions between QuickJS values and what crosses the component boundary:
//! strings (lossy for invalid UTF-16), JSON text, and error descriptions.

use rquickjs::{qjs, Ctx, Object, Value};

/// Converts any JS value to a Rust string the way `String(value)` would, replacing
/// lone surrogates with U+FFFD instead of failing. Never throws: a value whose
/// conversion throws (a `toString` that throws, a Symbol) gives `fallback`.
pub fn to_text_lossy(ctx: &Ctx<'_>, value: &Value<'_>, fallback: &str) -> String {
    // SAFETY: `value` belongs to `ctx`; the C string is freed before returning and
    // the slice is copied out first.
    unsafe {
        let mut len: qjs::size_t = 0;
        let ptr = qjs::JS_ToCStringLen2(ctx.as_raw().as_ptr(), &mut len, value.as_raw(), false);
        if ptr.is_null() {
            // The conversion threw; drop that exception, it is not the script's result.
            let _ = ctx.catch();
            return fallback.to_owned();
        }
        let bytes = std::slice::from_raw_parts(ptr as *const u8, len as usize);
        let text = wtf8_lossy(bytes);
        qjs::JS_FreeCString(ctx.as_raw().as_ptr(), ptr);
        text
    }
}

/// Longest error text (message, stack, a thrown value's text) passed to the host, in
/// UTF-16 units: a script that throws a 50 MB message gets it cut, not copied.
pub const MAX_ERROR_TEXT: usize = 16 * 1024;

/// Like [`to_text_lossy`], but cut to `max_units` UTF-16 units *before* anything is
/// copied, with a note saying how long the text was.
pub fn to_text_truncated<'js>(
    ctx: &Ctx<'js>,
    value: &Value<'js>,
    max_units: usize,
    fallback: &str,
) -> String {
    let raw_ctx = ctx.as_raw().as_ptr();
    // SAFETY: every value created here is owned by a `Value` (freed on drop) or freed
    // explicitly; `value` belongs to `ctx`.
    unsafe {
        let text = qjs::JS_ToString(raw_ctx, value.as_raw());
        if qjs::JS_IsException(text) {
            let _ = ctx.catch();
            return fallback.to_owned();
        }
        let text = Value::from_raw(ctx.clone(), text);
        let length = text.as_string().map_or(0, |s| string_length(ctx, s));
        if length <= max_units {
            return to_text_lossy(ctx, &text, fallback);
        }
        let Some(cut) = text.as_string().and_then(|s| substring(ctx, s, max_units)) else {
            return fallback.to_owned();
        };
        let mut out = to_text_lossy(ctx, &cut, fallback);
        out.push_str(&format!("… [cut: {length} characters in all]"));
        out
    }
}

/// Length of a JS string in UTF-16 units.
fn string_length(ctx: &Ctx<'_>, string: &rquickjs::String<'_>) -> usize {
    // SAFETY: reads the `length` of a live string value; the result is an integer.
    unsafe {
        let length =
            qjs::JS_GetPropertyStr(ctx.as_raw().as_ptr(), string.as_raw(), c"length".as_ptr());
        let length = Value::from_raw(ctx.clone(), length);
        length
            .as_int()
            .map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }
}

/// The first `units` UTF-16 units of a string, with the built-in `String.prototype.slice`
/// of the context (a script that replaced it only affects its own error text).
fn substring<'js>(
    ctx: &Ctx<'js>,
    string: &rquickjs::String<'js>,
    units: usize,
) -> Option<Value<'js>> {
    let prototype: Object = ctx
        .globals()
        .get::<_, Object>("String")
        .ok()?
        .get("prototype")
        .ok()?;
    let slice: rquickjs::Function = prototype.get("slice").ok()?;
    let cut = slice.call::<_, Value>((rquickjs::function::This(string.clone()), 0, units as f64));
    match cut {
        Ok(cut) => Some(cut),
        Err(_) => {
            let _ = ctx.catch();
            None
        }
    }
}

/// Decodes QuickJS's string bytes: UTF-8, except that a lone surrogate comes out as its
/// three-byte encoding (WTF-8). Each lone surrogate becomes one U+FFFD.
pub fn wtf8_lossy(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                break;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{fffd}');
                // An encoded surrogate (ED A0..BF 80..BF) is skipped whole; any other
                // invalid sequence by what the decoder says is invalid.
                let skip = match after {
                    [0xED, 0xA0..=0xBF, 0x80..=0xBF, ..] => 3,
                    _ => error.error_len().unwrap_or(after.len()),
                };
                rest = &after[skip.min(after.len())..];
            }
        }
    }
    out
}

/// Why a completion value could not become JSON.
#[derive(Debug)]
pub enum JsonError {
    /// `JSON.stringify` threw (a cycle, a BigInt, a throwing getter or `toJSON`).
    Threw,
    /// The JSON text is longer than the limit; holds its length in bytes.
    TooLarge(u64),
}

/// Serializes `value` with the context's `JSON.stringify`, as UTF-8 text no longer than
/// `limit` bytes. `undefined`, functions and symbols become `null`. Lone surrogates
/// come out escaped (`"\ud800"`), as `JSON.stringify` specifies.
pub fn to_json<'js>(ctx: &Ctx<'js>, value: Value<'js>, limit: usize) -> Result<String, JsonError> {
    let text = match ctx.json_stringify(value) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok("null".to_owned()),
        Err(_) => return Err(JsonError::Threw),
    };
    // SAFETY: as in `to_text_lossy`; the length is checked before anything is copied,
    // so an oversized result never doubles its footprint in linear memory.
    unsafe {
        let mut len: qjs::size_t = 0;
        let raw = text.as_raw();
        let ptr = qjs::JS_ToCStringLen2(ctx.as_raw().as_ptr(), &mut len, raw, false);
        if ptr.is_null() {
            let _ = ctx.catch();
            return Err(JsonError::Threw);
        }
        if len as usize > limit {
            qjs::JS_FreeCString(ctx.as_raw().as_ptr(), ptr);
            return Err(JsonError::TooLarge(len as u64));
        }
        let bytes = std::slice::from_raw_parts(ptr as *const u8, len as usize);
        let json = wtf8_lossy(bytes);
        qjs::JS_FreeCString(ctx.as_raw().as_ptr(), ptr);
        Ok(json)
    }
}

/// A thrown value, described for the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The error's `name` for Error objects.
    pub name: Option<String>,
    /// The message, or the thrown value's text for non-Error values.
    pub message: String,
    /// The `stack` property.
    pub stack: Option<String>,
    /// 1-based line in the script.
    pub line: Option<u32>,
    /// 1-based column in the script.
    pub column: Option<u32>,
}

impl ErrorInfo {
    /// Describes a thrown value. `script_name` picks the stack frame that gives line and
    /// column: the first one in the script itself.
    pub fn from_thrown<'js>(ctx: &Ctx<'js>, thrown: &Value<'js>, script_name: &str) -> Self {
        let Some(object) = thrown.as_object().filter(|_| is_error(thrown)) else {
            return ErrorInfo {
                name: None,
                message: describe_non_error(ctx, thrown),
                ..ErrorInfo::default()
            };
        };
        let name = string_property(ctx, object, "name");
        let message = string_property(ctx, object, "message").unwrap_or_default();
        let stack = string_property(ctx, object, "stack");
        let (line, column) = stack
            .as_deref()
            .and_then(|stack| position_in_stack(stack, script_name))
            .map_or((None, None), |(line, column)| (Some(line), Some(column)));
        ErrorInfo {
            name,
            message,
            stack,
            line,
            column,
        }
    }
}

fn is_error(value: &Value<'_>) -> bool {
    // SAFETY: a plain type query on a live value.
    unsafe { qjs::JS_IsError(value.as_raw()) }
}

/// Reads an own or inherited property as text without running user getters twice;
/// a getter that throws gives `None`.
fn string_property<'js>(ctx: &Ctx<'js>, object: &Object<'js>, key: &str) -> Option<String> {
    match object.get::<_, Value>(key) {
        Ok(value) if value.is_undefined() || value.is_null() => None,
        Ok(value) => Some(to_text_truncated(ctx, &value, MAX_ERROR_TEXT, "")),
        Err(_) => {
            let _ = ctx.catch();
            None
        }
    }
}

/// `throw 1` gives "1", `throw null` gives "null", `throw {a: 1}` gives `{"a":1}`.
fn describe_non_error<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    if value.is_object() {
        if let Ok(json) = to_json(ctx, value.clone(), 4096) {
            return json;
        }
    }
    to_text_truncated(ctx, value, MAX_ERROR_TEXT, "[unprintable thrown value]")
}

/// Finds `script_name:LINE:COLUMN` in a QuickJS stack trace ("    at f (name:3:7)").
pub fn position_in_stack(stack: &str, script_name: &str) -> Option<(u32, u32)> {
    let needle = format!("{script_name}:");
    for line in stack.lines() {
        let Some(start) = line.find(&needle) else {
            continue;
        };
        let rest = &line[start + needle.len()..];
        let mut parts = rest.split(|c: char| !c.is_ascii_digit());
        let line_number = parts.next()?.parse().ok()?;
        let column = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
        return Some((line_number, column));
    }
    None
}

/// Escapes `text` as a JSON string literal (with quotes).
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_position_of_the_script_frame() {
        let stack =
            "    at inner (lib.js:1:1)\n    at f (script.js:3:7)\n    at <eval> (script.js:5:1)\n";
        assert_eq!(position_in_stack(stack, "script.js"), Some((3, 7)));
        assert_eq!(position_in_stack(stack, "other.js"), None);
    }

    #[test]
    fn each_lone_surrogate_becomes_one_replacement_character() {
        // "a", U+D800 (WTF-8), "b", U+DC00, then a valid U+1F600.
        let bytes = [
            b'a', 0xED, 0xA0, 0x80, b'b', 0xED, 0xB0, 0x80, 0xF0, 0x9F, 0x98, 0x80,
        ];
        assert_eq!(wtf8_lossy(&bytes), "a\u{fffd}b\u{fffd}\u{1f600}");
        assert_eq!(wtf8_lossy(b"plain"), "plain");
        assert_eq!(wtf8_lossy(&[0xFF, b'x']), "\u{fffd}x");
    }

    #[test]
    fn escapes_json_strings() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
