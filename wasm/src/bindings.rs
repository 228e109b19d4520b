//! Bindings generated from `wit/sandbox.wit`.
//!
//! One set, with the options the library needs: `host.call` is async (a host function
//! may await a database), every import may trap (the host ends an instance from inside an
//! import: the host-call limit, a deadline reached while a host function runs), and the
//! exports are async (the guest runs on a fiber that yields to the executor). The Wizer
//! tool and the benchmarks implement the same traits with stubs.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "sandbox",
    path: "../wit",
    imports: {
        "jsruntime:sandbox/host.call": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});
