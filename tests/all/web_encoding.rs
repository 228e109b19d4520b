//! End-to-end tests of the guest's web APIs through the public [`jsruntime::Runtime`]:
//! `DOMException`, `Event`/`EventTarget`, `AbortController`/`AbortSignal`,
//! `TextEncoder`/`TextDecoder` and `atob`/`btoa` each work in a real execution. Their
//! details are the guest's unit tests (`guest/src/apis/*.rs`).

use crate::common::{expect_exception, run, run_ok, runtime};
use jsruntime::{ExecRequest, LogLevel};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dom_exception_thrown_out_of_a_script_keeps_its_name_and_message() {
    let rt = runtime();
    let error = expect_exception(
        run(
            &rt,
            "throw new DOMException('the operation was aborted', 'AbortError')",
        )
        .await,
    );
    assert_eq!(error.name.as_deref(), Some("AbortError"));
    assert_eq!(error.message, "the operation was aborted");
    assert_eq!(
        run(
            &rt,
            "const e = new DOMException('m', 'DataCloneError'); [e.code, e instanceof Error, DOMException.DATA_CLONE_ERR]"
        )
        .await,
        Ok(json!([25, true, 25]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_dispatched_and_a_throwing_listener_is_logged() {
    let rt = runtime();
    let request = ExecRequest::source(
        r#"const target = new EventTarget();
           const seen = [];
           target.addEventListener("ping", (e) => seen.push(e.type), { once: true });
           target.addEventListener("ping", () => { throw new Error("listener failed"); });
           const event = new Event("ping", { cancelable: true });
           target.addEventListener("ping", (e) => e.preventDefault());
           [target.dispatchEvent(event), target.dispatchEvent(new Event("ping")), seen]"#,
    );
    let outcome = run_ok(&rt, request).await;
    assert_eq!(outcome.value, json!([false, true, ["ping"]]));
    assert_eq!(outcome.logs.len(), 2, "{:?}", outcome.logs);
    for record in &outcome.logs {
        assert_eq!(record.level, LogLevel::Error);
        assert!(
            record
                .message
                .starts_with("Uncaught Error: listener failed"),
            "{record:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_signals_abort_and_follow_each_other() {
    let rt = runtime();
    assert_eq!(
        run(
            &rt,
            r#"const controller = new AbortController();
               const any = AbortSignal.any([controller.signal, new AbortController().signal]);
               let fired = 0;
               any.onabort = () => fired++;
               controller.abort();
               let thrown;
               try { any.throwIfAborted(); } catch (e) { thrown = e.name; }
               [any.aborted, fired, thrown, AbortSignal.abort("why").reason, typeof AbortSignal.timeout]"#
        )
        .await,
        Ok(json!([true, 1, "AbortError", "why", "function"]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_encoder_and_decoder_round_trip_and_handle_bad_input() {
    let rt = runtime();
    assert_eq!(
        run(
            &rt,
            r#"const bytes = new TextEncoder().encode("héllo \ud800 😀");
               const d = new TextDecoder();
               let fatal;
               try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { fatal = e.name; }
               let label;
               try { new TextDecoder("latin1"); } catch (e) { label = e.name; }
               [Array.from(bytes.subarray(6, 11)), d.decode(bytes), d.decode(new Uint8Array([0x61, 0xe2, 0x82])),
                new TextEncoder().encodeInto("😀", new Uint8Array(3)), fatal, label]"#
        )
        .await,
        Ok(json!([
            [0x20, 0xef, 0xbf, 0xbd, 0x20],
            "héllo \u{fffd} 😀",
            "a\u{fffd}",
            {"read": 0, "written": 0},
            "TypeError",
            "RangeError"
        ]))
    );
}

// The guest encodes with wasm SIMD, which its unit tests (run natively) do not reach:
// this runs the wasm encoder over strings built to cross its eight-unit steps in every
// way, against a plain encoder written here from the standard (UTF-8 of the string's
// code points, each lone surrogate as U+FFFD), and checks that `encodeInto` writes whole
// characters only and leaves every byte after what it wrote alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_encoder_matches_a_reference_encoder_on_every_kind_of_string() {
    let rt = runtime();
    let result = run(
        &rt,
        r#"function reference(s) {
             const out = [];
             for (let i = 0; i < s.length; i++) {
               let c = s.charCodeAt(i);
               if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
                 const d = s.charCodeAt(i + 1);
                 if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
               }
               if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
               if (c < 0x80) out.push(c);
               else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
               else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
               else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
             }
             return out;
           }
           const pieces = ["a", "\u00e9", "\u00ff", "\u20ac", "\u07ff", "\u0800", "\uffff", "\ud83d\ude00",
                           "\ud800", "\udc00", "\udbff\udfff", "\u007f"];
           const e = new TextEncoder();
           let checked = 0;
           const failures = [];
           let seed = 7;
           const next = (n) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
           for (let round = 0; round < 400; round++) {
             let s = "x".repeat(next(20));
             const count = next(12);
             for (let k = 0; k < count; k++) s += pieces[next(pieces.length)] + "y".repeat(next(10));
             const want = reference(s);
             const got = Array.from(e.encode(s));
             if (got.join() !== want.join()) failures.push(["encode", s]);
             for (const room of [want.length, want.length + 9, Math.max(0, want.length - 1 - next(8))]) {
               const dest = new Uint8Array(room).fill(0xaa);
               const { read, written } = e.encodeInto(s, dest);
               const prefix = reference(s.slice(0, read));
               const ok = written === prefix.length
                 && Array.from(dest.subarray(0, written)).join() === prefix.join()
                 && dest.subarray(written).every((b) => b === 0xaa)
                 && (read === s.length || written + 4 > room);
               if (!ok) failures.push(["encodeInto", room, s]);
               checked++;
             }
           }
           [checked, failures.slice(0, 3)]"#,
    )
    .await;
    assert_eq!(result, Ok(json!([1200, []])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atob_and_btoa_follow_forgiving_base64() {
    let rt = runtime();
    assert_eq!(
        run(
            &rt,
            r#"let bad;
               try { btoa("€"); } catch (e) { bad = [e instanceof DOMException, e.name]; }
               [btoa("hello"), atob(" aGVs bG8 "), atob("aGk"), bad]"#
        )
        .await,
        Ok(json!([
            "aGVsbG8=",
            "hello",
            "hi",
            [true, "InvalidCharacterError"]
        ]))
    );
    let error = expect_exception(run(&rt, "atob('a')").await);
    assert_eq!(error.name.as_deref(), Some("InvalidCharacterError"));
}
