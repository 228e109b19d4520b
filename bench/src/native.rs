//! The native baseline: the QuickJS the guest embeds (rquickjs 0.12.2, quickjs-ng),
//! built for the host and run without any sandbox.
//!
//! Scripts are evaluated as strict-mode global code and their completion value is
//! serialized with `JSON.stringify`, as the guest does. Like the guest, the runtime
//! collects garbage cycles every 2 MiB of growth (`gc_threshold`); unlike the guest
//! there is no heap, stack-size or output limit, and no bytecode round trip: the
//! source is parsed and run in one `JS_Eval` (parsing is part of every native figure).

use anyhow::{anyhow, Result};
use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, Context, Runtime, Value};

/// The guest's `GC_THRESHOLD_BYTES` (guest/src/engine.rs).
const GC_THRESHOLD_BYTES: usize = 2 * 1024 * 1024;

/// Runs `source` in a fresh QuickJS runtime and context, and returns its completion
/// value as JSON. Creating and freeing the runtime and context is part of the cost.
pub fn run_fresh(source: &str) -> Result<String> {
    NativeContext::new()?.run(source)
}

/// A QuickJS runtime and context that run script after script.
pub struct NativeContext {
    // Field order: the context must be freed before its runtime.
    context: Context,
    _runtime: Runtime,
}

impl NativeContext {
    /// Creates a runtime and a context with all the standard intrinsics.
    pub fn new() -> Result<Self> {
        let runtime = Runtime::new().map_err(|e| anyhow!("creating a QuickJS runtime: {e}"))?;
        runtime.set_gc_threshold(GC_THRESHOLD_BYTES);
        let context =
            Context::full(&runtime).map_err(|e| anyhow!("creating a QuickJS context: {e}"))?;
        Ok(NativeContext {
            context,
            _runtime: runtime,
        })
    }

    /// Calls `f` in the context (for measurements of one operation).
    pub fn with_ctx<R>(&self, f: impl for<'js> FnOnce(rquickjs::Ctx<'js>) -> R) -> R {
        self.context.with(f)
    }

    /// Evaluates `source` (strict, global) and returns its completion value as JSON
    /// (`null` for `undefined`).
    pub fn run(&self, source: &str) -> Result<String> {
        self.context.with(|ctx| {
            let mut options = EvalOptions::default();
            options.global = true;
            options.strict = true;
            let value: Value = ctx
                .eval_with_options(source, options)
                .catch(&ctx)
                .map_err(|e| anyhow!("the script failed natively: {e}"))?;
            let json = ctx
                .json_stringify(value)
                .catch(&ctx)
                .map_err(|e| anyhow!("JSON.stringify failed natively: {e}"))?;
            match json {
                Some(text) => text
                    .to_string()
                    .map_err(|e| anyhow!("reading the JSON text: {e}")),
                None => Ok("null".to_owned()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_strict_global_code_and_returns_json() {
        assert_eq!(run_fresh("1+1").unwrap(), "2");
        assert_eq!(run_fresh("undefined").unwrap(), "null");
        // Strict mode: assigning to an undeclared name throws.
        assert!(run_fresh("undeclared = 1").is_err());
        let context = NativeContext::new().unwrap();
        assert_eq!(context.run("[1, 2].map((x) => x * 2)").unwrap(), "[2,4]");
        assert_eq!(context.run("({a: 1})").unwrap(), r#"{"a":1}"#);
    }
}
