//! JSON that comes out of the guest: results and host-call arguments.
//!
//! The guest is untrusted, so its JSON is checked before it is parsed: nesting deeper than
//! [`MAX_JSON_DEPTH`] is refused by a linear scan that uses no recursion (serde_json
//! recurses once per level and stops at 128 with an error that would look like a runtime
//! failure), and `\uXXXX` escapes of lone UTF-16 surrogates, which `JSON.stringify`
//! produces and JSON allows but Rust strings cannot hold, become U+FFFD.

/// The deepest nesting of arrays and objects accepted in a result or in host-call
/// arguments. A result nested deeper fails with `output_depth`; host-call arguments
/// nested deeper make the call throw an `Error` the script can catch. Chosen below
/// serde_json's own recursion limit (128), so that limit is never what refuses a value.
pub const MAX_JSON_DEPTH: usize = 100;

/// Why guest JSON was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Nested deeper than [`MAX_JSON_DEPTH`].
    TooDeep,
    /// Not JSON (the guest broke its contract, or a script passed text it built itself).
    Invalid(String),
}

/// Parses JSON produced by the guest.
pub(crate) fn parse(json: &str) -> Result<serde_json::Value, JsonError> {
    if nesting_exceeds(json.as_bytes(), MAX_JSON_DEPTH) {
        return Err(JsonError::TooDeep);
    }
    serde_json::from_str(json)
        .or_else(|_| serde_json::from_str(&replace_lone_surrogates(json)))
        .map_err(|error| JsonError::Invalid(error.to_string()))
}

/// Whether `value` nests arrays and objects deeper than `limit`, without recursion (a
/// value built deeper than the stack allows is answered, not overflowed).
pub(crate) fn depth_exceeds(value: &serde_json::Value, limit: usize) -> bool {
    let mut pending: Vec<(&serde_json::Value, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > limit {
            return true;
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// Whether arrays and objects in `json` nest deeper than `limit`. Brackets inside strings
/// do not count. Invalid JSON may answer either way; the parser then refuses it.
fn nesting_exceeds(json: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Replaces `\uXXXX` escapes of unpaired UTF-16 surrogates with `\ufffd`.
fn replace_lone_surrogates(json: &str) -> String {
    fn surrogate_at(bytes: &[u8], at: usize) -> Option<u16> {
        let escape = bytes.get(at..at + 6)?;
        if escape[0] != b'\\' || escape[1] != b'u' {
            return None;
        }
        let hex = std::str::from_utf8(&escape[2..]).ok()?;
        let unit = u16::from_str_radix(hex, 16).ok()?;
        (0xD800..=0xDFFF).contains(&unit).then_some(unit)
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(unit) = surrogate_at(bytes, i) {
                let paired = (0xD800..=0xDBFF).contains(&unit)
                    && surrogate_at(bytes, i + 6)
                        .is_some_and(|low| (0xDC00..=0xDFFF).contains(&low));
                out.push_str(&json[last..i]);
                if paired {
                    out.push_str(&json[i..i + 12]);
                    i += 12;
                } else {
                    out.push_str("\\ufffd");
                    i += 6;
                }
                last = i;
                continue;
            }
            // Skip the escaped character, so `\\\\ud800` (an escaped backslash) is not read
            // as an escape.
            i += 2;
            continue;
        }
        i += 1;
    }
    out.push_str(&json[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(
            parse(r#""a\ud800b""#).ok(),
            Some(serde_json::json!("a\u{fffd}b"))
        );
        assert_eq!(
            parse(r#""\udc00""#).ok(),
            Some(serde_json::json!("\u{fffd}"))
        );
        // A valid pair is kept.
        assert_eq!(
            parse(r#""\ud83d\ude00""#).ok(),
            Some(serde_json::json!("😀"))
        );
        // An escaped backslash followed by text that looks like an escape is text.
        assert_eq!(
            parse(r#"["\\ud800", "\ud800"]"#).ok(),
            Some(serde_json::json!(["\\ud800", "\u{fffd}"]))
        );
    }

    #[test]
    fn nesting_is_limited_without_recursion() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&nested(MAX_JSON_DEPTH)).is_ok());
        assert_eq!(parse(&nested(MAX_JSON_DEPTH + 1)), Err(JsonError::TooDeep));
        // Far deeper than any stack could recurse: refused by the scan, not a crash.
        assert_eq!(parse(&nested(1_000_000)), Err(JsonError::TooDeep));
        let objects = format!("{}1{}", r#"{"a":"#.repeat(101), "}".repeat(101));
        assert_eq!(parse(&objects), Err(JsonError::TooDeep));
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let text = format!(r#"["{}", "\"[{}"]"#, "[".repeat(500), "{".repeat(500));
        assert!(parse(&text).is_ok());
    }
}
