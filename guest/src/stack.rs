//! The stack scripts run on: a block allocated at pre-initialization, after everything
//! the QuickJS runtime allocated by then, instead of the linker's stack at the bottom of
//! linear memory.
//!
//! Why it matters is the host's memory reset. A pool slot is reset by copying back, in
//! address order, the pages the kernel reports as private copies, up to a budget; the
//! rest is decommitted and faults in again on next use. A page reset by copying stays a
//! private copy, so it is copied at every later reset of that slot. The linker puts the
//! C stack first in memory and it grows down: the stack pages a deep recursion used lie
//! below everything a short script touches, and once a slot had run one, they filled the
//! budget for good and every later short script in that slot faulted its whole working
//! set back in (a trivial script: ~90 µs instead of ~20 µs). Here, the data and the heap
//! a script touches come first in address order, and a deep recursion's stale pages only
//! ever compete with the few pages at the top of this stack.

use std::cell::Cell;

/// Size of the script stack. QuickJS's own stack limit (at most 1.5 MiB, set per run by
/// the host) trips first, leaving room for the native frames it does not count, so deep
/// recursion ends in a catchable `RangeError`.
pub const SCRIPT_STACK_BYTES: usize = 2 * 1024 * 1024;

thread_local! {
    /// The address just past the script stack (its top; it grows down), 0 before
    /// [`allocate`].
    static TOP: Cell<usize> = const { Cell::new(0) };
    /// Whether code is running on the script stack now: a nested switch would start
    /// again at the top, over the frames in use.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Allocates the script stack, once, and returns its top. Called at the end of
/// pre-initialization (`heap::lay_out`), so the block lies after the runtime's own
/// allocations and the run heap.
pub fn allocate() -> usize {
    TOP.with(|top| {
        if top.get() == 0 {
            let block: &'static mut [u8] =
                Box::leak(vec![0u8; SCRIPT_STACK_BYTES].into_boxed_slice());
            let end = block.as_mut_ptr() as usize + block.len();
            // The wasm C ABI keeps the stack pointer 16-byte aligned.
            top.set(end & !15);
        }
        top.get()
    })
}

/// Runs `f` on the script stack (on the current stack natively, before [`allocate`],
/// or when already on the script stack).
pub fn on_script_stack<R>(f: impl FnOnce() -> R) -> R {
    let top = TOP.with(Cell::get);
    if top == 0 || ACTIVE.with(Cell::get) {
        return f();
    }
    ACTIVE.with(|active| active.set(true));
    let result = switch(top, f);
    ACTIVE.with(|active| active.set(false));
    result
}

/// The call handed to the assembly: the closure, then its result.
struct Call<F, R> {
    f: Option<F>,
    result: Option<R>,
}

extern "C" fn run_call<F: FnOnce() -> R, R>(call: *mut u8) {
    // SAFETY: `call` is the `Call<F, R>` that `switch` passed along, alive and not
    // otherwise borrowed until `jsruntime_call_on_stack` returns.
    let call = unsafe { &mut *call.cast::<Call<F, R>>() };
    if let Some(f) = call.f.take() {
        call.result = Some(f());
    }
}

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// `asm/call_on_stack.s`: `callback(arg)` with the stack pointer at `top`.
    fn jsruntime_call_on_stack(top: usize, callback: extern "C" fn(*mut u8), arg: *mut u8);
}

/// Runs `f` with the stack pointer at `top` (natively, where there is no stack switch,
/// through the same callback, so the unit tests exercise it).
fn switch<F: FnOnce() -> R, R>(top: usize, f: F) -> R {
    let mut call = Call {
        f: Some(f),
        result: None,
    };
    let arg = (&mut call as *mut Call<F, R>).cast::<u8>();
    // SAFETY: `top` is the end of a live, otherwise unused 2 MiB block (ACTIVE rules out
    // a second user); `run_call` matches the callback's signature and `call` outlives
    // the call. Panics abort the guest, so nothing unwinds across the switch.
    #[cfg(target_arch = "wasm32")]
    unsafe {
        jsruntime_call_on_stack(top, run_call::<F, R>, arg)
    };
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = top;
        run_call::<F, R>(arg);
    }
    match (call.result, call.f) {
        (Some(result), _) => result,
        // Had the callback not run, the closure runs here instead.
        (None, Some(f)) => f(),
        // `run_call` either stored a result or still holds the closure.
        (None, None) => unreachable!("the script-stack call lost its closure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_closure_once_and_returns_its_result() {
        let mut calls = 0;
        assert_eq!(
            on_script_stack(|| {
                calls += 1;
                40 + 2
            }),
            42
        );
        assert_eq!(calls, 1);
    }

    #[test]
    fn nested_calls_stay_on_the_same_stack() {
        allocate();
        let value = on_script_stack(|| on_script_stack(|| ACTIVE.with(Cell::get)));
        assert!(value);
        assert!(!ACTIVE.with(Cell::get));
    }
}
