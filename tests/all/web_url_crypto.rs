//! The web APIs of the `web-url-crypto` work through the public API, on the built guest:
//! `URL` and `URLSearchParams`, `crypto` (random values, digests, HMAC), `structuredClone`
//! and `Atomics` (which the guest has only through a QuickJS patch on WASI, so only a
//! test on the real guest shows it).

use jsruntime::{ErrorKind, ExecRequest};
use serde_json::json;

use crate::common::{expect_exception, expect_kind, run, run_request, runtime};

#[tokio::test]
async fn a_webhook_handler_checks_an_hmac_sha256_signature() {
    let rt = runtime();
    // The payload and its signature under the key "Jefe": RFC 4231's test case 2.
    let handler = r#"
        const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
        const bytes = (text) => Uint8Array.from(text, (c) => c.charCodeAt(0));
        export default async function (request) {
          const key = await crypto.subtle.importKey("raw", bytes(request.secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify", "sign"]);
          const given = Uint8Array.from(request.signature.match(/../g), (h) => parseInt(h, 16));
          const valid = await crypto.subtle.verify("HMAC", key, given, bytes(request.body));
          const forged = await crypto.subtle.verify("HMAC", key, given, bytes(request.body + " "));
          return { valid, forged, expected: hex(await crypto.subtle.sign("HMAC", key, bytes(request.body))) };
        }"#;
    let input = json!({
        "secret": "Jefe",
        "body": "what do ya want for nothing?",
        "signature": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    });
    let result = run_request(&rt, ExecRequest::module(handler).input(input)).await;
    assert_eq!(
        result,
        Ok(json!({
            "valid": true,
            "forged": false,
            "expected": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        }))
    );
}

#[tokio::test]
async fn urls_round_trip_with_their_search_params() {
    let rt = runtime();
    let result = run(
        &rt,
        r#"const u = new URL("../orders?status=open&page=2#top", "https://Shop.Example:443/api/v1/");
           u.searchParams.set("page", "3");
           u.searchParams.append("tag", "a b&c");
           u.hostname = "münchen.example";
           const again = new URL(u.href);
           [u.href, again.searchParams.get("tag"), again.origin, URL.canParse("not a url"), [...again.searchParams.keys()]]"#,
    )
    .await;
    assert_eq!(
        result,
        Ok(json!([
            "https://xn--mnchen-3ya.example/api/orders?status=open&page=3&tag=a+b%26c#top",
            "a b&c",
            "https://xn--mnchen-3ya.example",
            false,
            ["status", "page", "tag"],
        ]))
    );
    let error = expect_exception(run(&rt, "new URL('/relative')").await);
    assert_eq!(error.name.as_deref(), Some("TypeError"));
}

#[tokio::test]
async fn structured_clone_keeps_a_cyclic_map_and_refuses_functions() {
    let rt = runtime();
    let result = run(
        &rt,
        r#"const order = { id: 7, lines: [] };
           const index = new Map([["o7", order]]);
           order.index = index;
           order.lines.push({ order, sku: "x", when: new Date(0) });
           const copy = structuredClone(index);
           const o = copy.get("o7");
           let refused;
           try { structuredClone({ f() {} }); } catch (e) { refused = [e.name, e instanceof DOMException]; }
           [o !== order, o.index === copy, o.lines[0].order === o, o.lines[0].when instanceof Date, refused]"#,
    )
    .await;
    assert_eq!(
        result,
        Ok(json!([true, true, true, true, ["DataCloneError", true]]))
    );
}

#[tokio::test]
async fn random_values_are_fresh_in_every_instance() {
    let rt = runtime();
    let source = r#"const a = crypto.getRandomValues(new Uint32Array(4));
        [Array.from(a).join(":"), crypto.randomUUID()]"#;
    let first = run(&rt, source).await.expect("the first run succeeds");
    let second = run(&rt, source).await.expect("the second run succeeds");
    // Every instance starts from the same snapshot: equal values would mean randomness
    // drawn at pre-initialization.
    assert_ne!(first[0], second[0]);
    assert_ne!(first[1], second[1]);
    let digest = run(
        &rt,
        r#"crypto.subtle.digest("SHA-256", new Uint8Array([97, 98, 99]))
             .then((d) => Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join(""))"#,
    )
    .await;
    assert_eq!(
        digest,
        Ok(json!(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        ))
    );
    let error = expect_exception(run(&rt, "crypto.getRandomValues(new Uint8Array(65537))").await);
    assert_eq!(error.name.as_deref(), Some("QuotaExceededError"));
}

// The guest's unit test runs QuickJS natively; this one is the wasm guest, built with
// the defines rquickjs-sys uses on WASI (the first version of patch 8 passed the former
// and not this).
#[tokio::test]
async fn atomics_is_there_and_cannot_block() {
    let rt = runtime();
    let result = run(
        &rt,
        r#"const shared = new Int32Array(new SharedArrayBuffer(8));
           Atomics.store(shared, 0, 41);
           let wait;
           try { Atomics.wait(shared, 0, 41); } catch (e) { wait = e.name; }
           [typeof Atomics, Atomics.add(shared, 0, 1), Atomics.load(shared, 0), wait]"#,
    )
    .await;
    assert_eq!(result, Ok(json!(["object", 41, 42, "TypeError"])));
    // A wait with a timeout cannot block either, and neither can a loop on
    // Atomics.load: it is an ordinary busy loop that the limits stop.
    let request = ExecRequest::source(
        "const a = new Int32Array(new SharedArrayBuffer(4)); while (Atomics.load(a, 0) === 0) {}",
    )
    .fuel(10_000_000);
    expect_kind(run_request(&rt, request).await, ErrorKind::OutOfFuel);
}

// `crypto.subtle.digest` is computed on the host (`host.digest`), which charges the
// execution the fuel the guest's own hash would have used: a fuel budget still bounds
// a script that hashes, whether it hashes once or in a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_on_the_host_is_charged_to_the_fuel_budget() {
    let rt = runtime();
    let hash_once = |mib: usize| {
        format!(
            r#"crypto.subtle.digest("SHA-256", new Uint8Array({mib} << 20)).then((d) => d.byteLength)"#
        )
    };
    let small = rt
        .execute(&ExecRequest::source(hash_once(0)))
        .await
        .expect("an empty digest runs");
    let big = rt
        .execute(&ExecRequest::source(hash_once(4)))
        .await
        .expect("a 4 MiB digest runs");
    assert_eq!(big.value, json!(32));
    // 76 fuel a byte for SHA-256 (jsruntime_wasm::digest): 4 MiB is about 319 million.
    let charged = big.stats.fuel_used - small.stats.fuel_used;
    assert!(
        (300_000_000..400_000_000).contains(&charged),
        "a 4 MiB digest was charged {charged} fuel"
    );
    // A budget that cannot pay for it: out of fuel, whether the digest is the last
    // thing the script does or one of a loop.
    let request = ExecRequest::source(hash_once(4)).fuel(100_000_000);
    expect_kind(run_request(&rt, request).await, ErrorKind::OutOfFuel);
    let request = ExecRequest::source(
        r#"(async () => { const data = new Uint8Array(1 << 20);
             for (;;) await crypto.subtle.digest("SHA-512", data); })()"#,
    )
    .fuel(1_000_000_000)
    .timeout(std::time::Duration::from_secs(20));
    expect_kind(run_request(&rt, request).await, ErrorKind::OutOfFuel);
}
