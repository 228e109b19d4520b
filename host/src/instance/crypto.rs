//! The guest's `crypto` import (`wit/sandbox.wit`): `crypto.subtle.digest`, hashed on
//! the host.
//!
//! Linked by hand rather than through the generated `Host` trait: the import charges the
//! execution's fuel, which only a function given the store can reach. The charge is what
//! the guest's own hash would have used (`jsruntime_wasm::digest::fuel`), taken before
//! the host hashes: an execution that cannot pay is out of fuel, as it would have been
//! hashing in the guest, and the host does no work for it.

use jsruntime_wasm::bindings::jsruntime::sandbox::crypto::HashAlgorithm;
use wasmtime::component::Linker;
use wasmtime::StoreContextMut;

use super::ExecState;

/// The interface's name in the component, with the contract's version.
const INTERFACE: &str = "jsruntime:sandbox/crypto@0.1.0";

/// Defines `crypto.digest` in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<ExecState>) -> wasmtime::Result<()> {
    linker.instance(INTERFACE)?.func_wrap(
        "digest",
        |mut store: StoreContextMut<'_, ExecState>, (algorithm, data): (HashAlgorithm, Vec<u8>)| {
            charge(
                &mut store,
                jsruntime_wasm::digest::fuel(algorithm, data.len()),
            )?;
            Ok((jsruntime_wasm::digest::digest(algorithm, &data),))
        },
    )
}

/// Takes `fuel` from the execution's budget, or ends it out of fuel if less is left.
fn charge(store: &mut StoreContextMut<'_, ExecState>, fuel: u64) -> wasmtime::Result<()> {
    let left = store.get_fuel()?;
    if left < fuel {
        store.set_fuel(0)?;
        return Err(wasmtime::Error::new(wasmtime::Trap::OutOfFuel));
    }
    store.set_fuel(left - fuel)
}
