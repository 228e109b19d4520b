//! The guest component this crate embeds: QuickJS as a pre-initialized wasm32-wasip2
//! component (see `host/build.rs` for where it comes from).

/// The pre-initialized guest component.
pub(crate) const GUEST_WASM: &[u8] = include_bytes!(env!("JSRUNTIME_GUEST_PATH"));

/// sha256 of the embedded guest component: the guest's build identity. It keys the
/// bytecode cache and the on-disk cache of the compiled component, so a different guest
/// never sees another's bytecode or machine code.
pub const GUEST_SHA256: &str = env!("JSRUNTIME_GUEST_SHA256");

/// The embedded guest component's bytes, for tools that drive it directly (the
/// benchmarks' raw engine). Not part of the supported API.
#[doc(hidden)]
pub fn guest_component() -> &'static [u8] {
    GUEST_WASM
}
