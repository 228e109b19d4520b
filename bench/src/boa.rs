//! The pure-Rust peer: Boa (`boa_engine`), what a Rust service could embed instead of a
//! sandbox, in process and with no isolation at all (issue 14).
//!
//! Run like native QuickJS's "fresh" column: a new `Context` per execution (realm,
//! intrinsics and all), the source parsed and evaluated as strict global code, the
//! completion value turned into JSON, the context dropped. Creating and dropping the
//! context is part of every figure, as the runtime and context are natively.
//!
//! Only built with the bench crate's `boa` feature (`make bench` turns it on): Boa is a
//! large crate, and `make lint` builds this crate without it.

use anyhow::Result;

/// Strict mode, as the guest and the native baseline evaluate every script. A directive
/// prologue leaves the script's completion value as it is.
#[cfg(feature = "boa")]
const STRICT_PROLOGUE: &str = "'use strict';\n";

/// Whether this build has Boa (the `boa` feature).
pub const ENABLED: bool = cfg!(feature = "boa");

/// The version of the crate this was built with, for the report's header.
pub const VERSION: &str = "0.22.0";

/// Runs `source` in a fresh Boa context and returns its completion value as JSON text
/// (`null` for `undefined`, as `JSON.stringify` of the guest gives); `None` in a build
/// without the `boa` feature.
pub fn run_fresh(source: &str) -> Option<Result<String>> {
    #[cfg(feature = "boa")]
    {
        Some(engine::run_fresh(source))
    }
    #[cfg(not(feature = "boa"))]
    {
        let _ = source;
        None
    }
}

#[cfg(feature = "boa")]
mod engine {
    use anyhow::{anyhow, Result};
    use boa_engine::{Context, Source};

    use super::STRICT_PROLOGUE;

    pub fn run_fresh(source: &str) -> Result<String> {
        let mut context = Context::default();
        let text = format!("{STRICT_PROLOGUE}{source}");
        let value = context
            .eval(Source::from_bytes(text.as_bytes()))
            .map_err(|e| anyhow!("the script failed in Boa: {e}"))?;
        let json = value
            .to_json(&mut context)
            .map_err(|e| anyhow!("converting Boa's result to JSON: {e}"))?;
        Ok(json.map_or_else(|| "null".to_owned(), |json| json.to_string()))
    }
}

#[cfg(all(test, feature = "boa"))]
mod tests {
    use super::*;

    #[test]
    fn runs_strict_global_code_and_returns_json() {
        let run = |source| run_fresh(source).unwrap();
        assert_eq!(run("1+1").unwrap(), "2");
        assert_eq!(run("undefined").unwrap(), "null");
        assert!(run("undeclared = 1").is_err());
        assert_eq!(run("[1, 2].map((x) => x * 2)").unwrap(), "[2,4]");
    }
}
