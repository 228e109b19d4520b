//! Every execution runs in a `tracing` span, and console output becomes `tracing`
//! events. Runs alone (see `tests/serial/main.rs`): `tracing` caches per call site
//! whether anyone listens, so a test running at the same time without a subscriber could
//! hide the span.

use jsruntime::{Config, ExecContext, ExecRequest, Runtime, Tenant};

fn runtime() -> Runtime {
    Runtime::new(Config::default()).expect("runtime starts")
}

/// A `tracing` writer that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn every_execution_runs_in_a_span_and_console_output_is_traced() {
    let _alone = crate::one_at_a_time();
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        tokio.block_on(async {
            let runtime = runtime();
            let context = ExecContext::default()
                .with_tenant(Tenant {
                    id: "tenant-42".into(),
                    name: None,
                })
                .with_request_id("req-7");
            let request = ExecRequest::source("console.log('hello from the script'); 1")
                .context(context.clone());
            runtime.execute(&request).await.expect("runs");
            // Busy past its first slice, so it finishes on a guest thread: its console
            // output still reaches this thread's subscriber.
            let moved = "const until = Date.now() + 5; while (Date.now() < until) {} \
                         console.log('hello from a guest thread'); 2";
            let request = ExecRequest::source(moved).context(context);
            runtime.execute(&request).await.expect("runs");
        });
    });
    let output = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    let span_close = output
        .lines()
        .find(|line| line.contains("jsruntime.execute") && line.contains("close"))
        .unwrap_or_else(|| panic!("no span close line in:\n{output}"));
    for field in [
        "tenant_id=\"tenant-42\"",
        "request_id=\"req-7\"",
        "script_hash=",
        "outcome=\"ok\"",
        "fuel_used=",
        "wall_us=",
    ] {
        assert!(
            span_close.contains(field),
            "{field} missing in {span_close}"
        );
    }
    let log_line = output
        .lines()
        .find(|line| line.contains("hello from the script"))
        .unwrap_or_else(|| panic!("no script log line in:\n{output}"));
    assert!(log_line.contains("jsruntime::script"), "{log_line}");
    assert!(log_line.contains("tenant_id=\"tenant-42\""), "{log_line}");
    let moved_line = output
        .lines()
        .find(|line| line.contains("hello from a guest thread"))
        .unwrap_or_else(|| panic!("no log line from the moved script in:\n{output}"));
    assert!(moved_line.contains("jsruntime::script"), "{moved_line}");
    assert!(
        moved_line.contains("tenant_id=\"tenant-42\""),
        "{moved_line}"
    );
}

#[test]
fn console_text_cannot_forge_log_lines() {
    let _alone = crate::one_at_a_time();
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        tokio.block_on(async {
            let runtime = runtime();
            let context = ExecContext::default().with_tenant(Tenant {
                id: "tenant-42".into(),
                name: None,
            });
            let forged = "console.log('first\\n2026-12-02T00:00:00Z  INFO jsruntime::script: \
                          forged tenant_id=\"other\"\\r\\nmore'); 1";
            let outcome = runtime
                .execute(&ExecRequest::source(forged).context(context))
                .await
                .expect("runs");
            // The outcome keeps the text as the script wrote it.
            assert!(outcome.logs[0].message.contains('\n'));
        });
    });
    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("forged"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "the script's text stays on one line: {text}"
    );
    assert!(lines[0].contains("tenant-42"), "{}", lines[0]);
    assert!(lines[0].contains("first\\n2026"), "{}", lines[0]);
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("2026-12-02T00:00:00Z")),
        "{text}"
    );
}
