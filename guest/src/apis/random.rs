//! `Math.random`, replaced by one that draws from a generator the engine reseeds at the
//! start of every run with [`Services::random_seed`].
//!
//! QuickJS's own `Math.random` keeps its state in the runtime, and the runtime is in the
//! Wizer snapshot: every instance would start from the same state and give every
//! execution, of every tenant, the same sequence. The replacement's state (fastrand's
//! thread-local generator) is reseeded from the host's randomness when a run starts,
//! which is after the snapshot was taken. It is not cryptographic, and it does not
//! claim to be: neither is `Math.random`.

use rquickjs::{function::Func, Ctx, Object, Result, Value};

use super::Api;
use crate::services::Services;

/// `Math.random`; native only.
pub const API: Api = Api {
    name: "random",
    native: install,
    js: None,
};

fn install<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let math: Object = ctx.globals().get("Math")?;
    math.set("random", Func::from(fastrand::f64))?;
    Ok(Value::new_undefined(ctx.clone()))
}

/// Reseeds `Math.random` for the run that is about to start.
pub fn reseed(services: &dyn Services) {
    fastrand::seed(services.random_seed());
}

#[cfg(test)]
mod tests {
    use crate::testing::{run_ok, Fake};

    const DRAW: &str = "const a = [Math.random(), Math.random(), Math.random()];
        if (!a.every((x) => typeof x === 'number' && x >= 0 && x < 1)) throw new Error(String(a));
        a";

    fn draws(seed: u64) -> String {
        let fake = Fake {
            seed,
            ..Fake::default()
        };
        run_ok(&fake, DRAW)
    }

    #[test]
    fn the_sequence_follows_the_seed_of_the_run() {
        assert_eq!(draws(1), draws(1));
        assert_ne!(draws(1), draws(2));
    }
}
