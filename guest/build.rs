//! Assembles the stack switch (`asm/call_on_stack.s`) for the wasm build; the native
//! build (unit tests) runs everything on its own stack and needs none.

fn main() {
    println!("cargo:rerun-if-changed=asm/call_on_stack.s");
    println!("cargo:rerun-if-env-changed=WASI_SDK");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        return;
    }
    let mut build = cc::Build::new();
    // The same clang that builds QuickJS (the Makefile's wasi-sdk layout).
    if let Ok(sdk) = std::env::var("WASI_SDK") {
        build.compiler(format!("{sdk}/bin/clang"));
        build.archiver(format!("{sdk}/bin/ar"));
    }
    // cc passes its C flags (-O3, sections) to the assembler too; clang notes each.
    build.flag("-Wno-unused-command-line-argument");
    build
        .file("asm/call_on_stack.s")
        .compile("jsruntime_call_on_stack");
}
