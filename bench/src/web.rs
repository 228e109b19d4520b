//! Issue 13's figures (`jsruntime-bench web`): `Promise.all` over 10 Promise host calls
//! of 20 ms each, against 20 ms; and web APIs against the native Rust doing the same in
//! the host: `TextEncoder.encode` of 1 MiB against `encoding_rs` transcoding the same
//! text from UTF-16 (a JS string holding non-Latin-1 text is UTF-16 inside QuickJS, so
//! transcoding is the work `encode` does; `encoding_rs` is the converter Firefox's
//! `TextEncoder` uses), with a plain copy of the UTF-8 bytes for reference; and
//! `crypto.subtle.digest("SHA-256")` of 1 MiB against the `sha2` crate.
//!
//! The web APIs are timed inside the guest (`performance.now()` around `ROUNDS` calls,
//! 100 µs resolution), so the figure is the API's, not the execution's set-up.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use jsruntime::{Config, ExecRequest, Runtime};
use sha2::Digest;

/// Executions of the `Promise.all` script measured (after 3 to warm up).
const SAMPLES: usize = 20;
/// Calls of a web API per execution.
const ROUNDS: usize = 20;
/// Fuel for a web API measurement: the default budget is for one request, and these run
/// tens of MiB through an API.
const FUEL: u64 = 1_000_000_000_000;
/// The host call's duration.
const CALL: Duration = Duration::from_millis(20);

/// What `web` measured.
#[derive(Debug, Clone)]
pub struct Web {
    /// p50 of the `Promise.all` execution.
    pub promise_all_p50: Duration,
    /// Mean time of one `TextEncoder.encode` of 1 MiB, in the guest.
    pub text_encoder: Duration,
    /// The same text transcoded natively from UTF-16 (`encoding_rs`), into a new buffer.
    pub text_encoder_native: Duration,
    /// The UTF-8 bytes copied natively (`String::as_bytes().to_vec()`), for reference.
    pub text_copy_native: Duration,
    /// Mean time of one SHA-256 digest of 1 MiB, in the guest.
    pub sha256: Duration,
    /// The same digest with the `sha2` crate.
    pub sha256_native: Duration,
}

fn in_guest_ms(
    runtime: &Runtime,
    tokio: &tokio::runtime::Runtime,
    source: &str,
) -> Result<Duration> {
    let outcome = tokio.block_on(
        runtime.execute(
            &ExecRequest::source(source)
                .timeout(Duration::from_secs(60))
                .fuel(FUEL),
        ),
    )?;
    let ms = outcome
        .value
        .as_f64()
        .ok_or_else(|| anyhow!("not a number: {}", outcome.value))?;
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// Runs the measurements.
pub fn measure() -> Result<Web> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let runtime = {
        let _guard = tokio.enter();
        Runtime::builder()
            .config(Config::default())
            .host_fn_promise("sleep", |_call| async {
                tokio::time::sleep(CALL).await;
                Ok(serde_json::Value::Null)
            })
            .build()?
    };
    let all = ExecRequest::source("Promise.all(Array.from({ length: 10 }, () => host.sleep()))");
    let mut samples = Vec::new();
    for i in 0..SAMPLES + 3 {
        let started = Instant::now();
        tokio.block_on(runtime.execute(&all))?;
        if i >= 3 {
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    let promise_all_p50 = samples[samples.len() / 2];

    // 1 MiB of text, mostly ASCII with some multi-byte characters, like a JSON body.
    let unit = "price: 12.50 € – qty 3; ";
    let repeat = (1 << 20) / unit.len();
    let text = unit.repeat(repeat);
    let text_encoder = in_guest_ms(
        &runtime,
        &tokio,
        &format!(
            r#"const s = {unit:?}.repeat({repeat}); const e = new TextEncoder(); e.encode(s);
               const t = performance.now(); for (let i = 0; i < {ROUNDS}; i++) e.encode(s);
               (performance.now() - t) / {ROUNDS}"#
        ),
    )?;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        std::hint::black_box(std::hint::black_box(&text).as_bytes().to_vec());
    }
    let text_copy_native = started.elapsed() / ROUNDS as u32;
    let utf16: Vec<u16> = text.encode_utf16().collect();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let source = std::hint::black_box(&utf16);
        // encoding_rs wants room for the worst case (3 bytes per unit).
        let mut out = vec![0u8; source.len() * 3];
        let written = encoding_rs::mem::convert_utf16_to_utf8(source, &mut out);
        out.truncate(written);
        std::hint::black_box(out);
    }
    let text_encoder_native = started.elapsed() / ROUNDS as u32;

    let sha256 = in_guest_ms(
        &runtime,
        &tokio,
        &format!(
            r#"(async () => {{ const data = new Uint8Array(1 << 20).map((_, i) => i);
               await crypto.subtle.digest("SHA-256", data);
               const t = performance.now();
               for (let i = 0; i < {ROUNDS}; i++) await crypto.subtle.digest("SHA-256", data);
               return (performance.now() - t) / {ROUNDS}; }})()"#
        ),
    )?;
    let data: Vec<u8> = (0..1u32 << 20).map(|i| i as u8).collect();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(&data)));
    }
    let sha256_native = started.elapsed() / ROUNDS as u32;
    Ok(Web {
        promise_all_p50,
        text_encoder,
        text_encoder_native,
        text_copy_native,
        sha256,
        sha256_native,
    })
}

/// `a / b`.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

/// Issue 13's three targets: what, this run's figure, met.
pub fn targets(web: &Web) -> Vec<(&'static str, String, bool)> {
    let all = ratio(web.promise_all_p50, CALL);
    let encode = ratio(web.text_encoder, web.text_encoder_native);
    let digest = ratio(web.sha256, web.sha256_native);
    vec![
        (
            "Promise.all of 10 host calls of 20 ms < 1.3x of 20 ms (p50)",
            format!("{all:.2}x"),
            all < 1.3,
        ),
        (
            "TextEncoder.encode of 1 MiB <= 3x native (encoding_rs from UTF-16)",
            format!("{encode:.2}x"),
            encode <= 3.0,
        ),
        (
            "crypto.subtle.digest SHA-256 of 1 MiB <= 3x native (sha2)",
            format!("{digest:.2}x"),
            digest <= 3.0,
        ),
    ]
}

/// Section 10 of the report.
pub fn markdown(web: &Web) -> String {
    format!(
        "\n## 10. Promise host calls and web APIs\n\n\
         `jsruntime-bench web`. A script awaits `Promise.all` over 10 calls of a Promise host \
         function that sleeps 20 ms (p50 of {SAMPLES} executions after 3 to warm up). The web \
         APIs are timed inside the guest, with `performance.now()` around {ROUNDS} calls (100 µs \
         resolution), and compared with the native Rust doing the same work in the host, \
         timed the same way. The text is 1 MiB of `\"price: 12.50 € – qty 3; \"`: mostly ASCII \
         with two- and three-byte characters, so QuickJS holds it as UTF-16 and `encode` \
         transcodes it.\n\n\
         | | guest | native | ratio |\n|---|---|---|---|\n\
         | `Promise.all` of 10 calls of 20 ms | {:.2} ms | 20 ms (one call) | {:.2}x |\n\
         | `TextEncoder.encode`, 1 MiB | {:.2} ms | {:.2} ms (`encoding_rs` from UTF-16; a copy of the UTF-8: {:.3} ms) | {:.2}x |\n\
         | `crypto.subtle.digest(\"SHA-256\")`, 1 MiB | {:.2} ms | {:.2} ms (`sha2`) | {:.2}x |\n",
        ms(web.promise_all_p50),
        ratio(web.promise_all_p50, CALL),
        ms(web.text_encoder),
        ms(web.text_encoder_native),
        ms(web.text_copy_native),
        ratio(web.text_encoder, web.text_encoder_native),
        ms(web.sha256),
        ms(web.sha256_native),
        ratio(web.sha256, web.sha256_native),
    )
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The figures and their targets, as lines of text.
pub fn report(web: &Web) -> String {
    format!(
        "Promise.all of 10 calls of 20 ms: p50 {:?}, {:.2}x of 20 ms (target < 1.3)\n\
         TextEncoder.encode of 1 MiB: {:?} in the guest, {:?} encoding_rs from UTF-16: {:.2}x (target <= 3); a copy of the UTF-8: {:?}\n\
         SHA-256 of 1 MiB: {:?} in the guest, {:?} with sha2: {:.2}x (target <= 3)",
        web.promise_all_p50,
        ratio(web.promise_all_p50, CALL),
        web.text_encoder,
        web.text_encoder_native,
        ratio(web.text_encoder, web.text_encoder_native),
        web.text_copy_native,
        web.sha256,
        web.sha256_native,
        ratio(web.sha256, web.sha256_native),
    )
}
