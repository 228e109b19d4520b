//! End-to-end tests of the caller's context, tenant isolation, `console` and host
//! functions (a port of the original Go tests, plus the host-function contract).

use std::time::{Duration, Instant};

use crate::common::{
    assert_still_works, assert_type_error, expect_exception, expect_kind, run, run_ok, run_request,
    runtime, HUGE_FUEL, PROMPT,
};
use jsruntime::{
    CancellationToken, ErrorKind, ExecContext, ExecError, ExecRequest, HostFnError, LogLevel,
    Runtime, Tenant, TenantError, User,
};
use serde_json::{json, Value};

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        name: None,
    }
}

fn tenant_context(id: &str) -> ExecContext {
    ExecContext::default().with_tenant(tenant(id))
}

/// A runtime with the host functions the tests call.
fn runtime_with_host_fns() -> Runtime {
    Runtime::builder()
        .host_fn("echo", |call| async move { Ok(call.args) })
        .host_fn("sleepy.echo", |call| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(call.args)
        })
        .host_fn("fail", |_call| async move { Err(HostFnError::new("boom")) })
        .host_fn("tenant.only", |call| async move {
            call.context.ensure_tenant("t1")?;
            Ok(json!("t1 data"))
        })
        .build()
        .expect("a runtime with host functions starts")
}

// ---------------------------------------------------------------------------------------
// The Go tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_propagation() {
    let rt = runtime();
    let context = ExecContext::default()
        .with_tenant(Tenant {
            id: "t1".into(),
            name: Some("Test Tenant".into()),
        })
        .with_user(User {
            id: "u1".into(),
            email: Some("test@example.com".into()),
            ..User::default()
        });
    let request =
        ExecRequest::source(r#"context.tenant.name + " - " + context.user.email"#).context(context);
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!("Test Tenant - test@example.com"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_isolation() {
    let rt = runtime();
    let first = ExecRequest::source(r#"globalThis.tenantData = "tenant1"; globalThis.tenantData"#)
        .context(tenant_context("tenant-1"));
    assert_eq!(run_request(&rt, first).await, Ok(json!("tenant1")));
    let second = ExecRequest::source("globalThis.tenantData").context(tenant_context("tenant-2"));
    assert_eq!(
        run_request(&rt, second).await,
        Ok(Value::Null),
        "a global set by tenant 1 leaked into tenant 2's execution"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_cancellation() {
    let rt = runtime();
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let request = ExecRequest::source("while(true){}")
        .context(tenant_context("t1").with_request_id("req-cancel"))
        .fuel(HUGE_FUEL)
        .timeout(Duration::from_secs(10))
        .cancel_token(token);
    let started = Instant::now();
    let error = expect_kind(run_request(&rt, request).await, ErrorKind::Cancelled);
    let elapsed = started.elapsed();
    assert_eq!(error, ExecError::Cancelled);
    assert!(
        elapsed < PROMPT,
        "cancelled after 100 ms, returned after {elapsed:?}"
    );
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_immutability() {
    let rt = runtime();
    let context = ExecContext::default()
        .with_tenant(Tenant {
            id: "t1".into(),
            name: Some("Acme".into()),
        })
        .with_user(User {
            id: "u1".into(),
            permissions: vec!["scripts.execute".into()],
            ..User::default()
        });
    let attempts = [
        r#"context.tenantID = "modified"; throw new Error("should not reach here")"#,
        r#"context.user.permissions.push("admin"); throw new Error("should not reach here")"#,
        r#"context.tenant.name = 'x'; throw new Error("should not reach here")"#,
    ];
    for source in attempts {
        let request = ExecRequest::source(source).context(context.clone());
        let error = assert_type_error(run_request(&rt, request).await, source);
        assert_ne!(error.message, "should not reach here", "{source}");
    }

    let caught = r#"
        const writes = [
            () => { context.tenantID = "modified" },
            () => { context.user.permissions.push("admin") },
            () => { context.tenant.name = "x" },
            () => { context.user = null },
            () => { delete context.tenant },
        ];
        const errors = writes.map((write) => { try { write(); return "no error" } catch (e) { return e.name } });
        [errors, context.tenantID, context.tenant.name, context.user.permissions]
    "#;
    let request = ExecRequest::source(caught).context(context);
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!([
            [
                "TypeError",
                "TypeError",
                "TypeError",
                "TypeError",
                "TypeError"
            ],
            "t1",
            "Acme",
            ["scripts.execute"]
        ]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_context_integration() {
    let rt = runtime();
    let context = ExecContext::default()
        .with_tenant(tenant("tenant-full"))
        .with_user(User {
            id: "u1".into(),
            email: Some("user@example.com".into()),
            permissions: vec!["scripts.execute".into()],
            ..User::default()
        })
        .with_request_id("req-123")
        .with_locale("en-US");
    let source = r#"
        JSON.stringify({
            tenantID: context.tenantID,
            userEmail: context.user.email,
            hasPermission: context.user.permissions.includes("scripts.execute"),
            requestID: context.requestID,
            locale: context.locale,
        })
    "#;
    let value = run_request(&rt, ExecRequest::source(source).context(context))
        .await
        .expect("the script runs");
    let text = value.as_str().expect("the script returns JSON text");
    let result: Value = serde_json::from_str(text).expect("the script returns valid JSON");
    let tenant_id = result["tenantID"].as_str().expect("tenantID is a string");
    assert!(!tenant_id.is_empty());
    assert_eq!(tenant_id, "tenant-full");
    assert_eq!(result["userEmail"], json!("user@example.com"));
    assert_eq!(result["hasPermission"], json!(true));
    assert_eq!(result["requestID"], json!("req-123"));
    assert_eq!(result["locale"], json!("en-US"));
}

// ---------------------------------------------------------------------------------------
// Context details
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_object_has_every_field_in_order_read_only() {
    let rt = runtime();
    let context = ExecContext::default()
        .with_tenant(Tenant {
            id: "t-ü".into(),
            name: Some("Acme \"quoted\" 😀".into()),
        })
        .with_user(User {
            id: "u1".into(),
            email: Some("ada@example.com".into()),
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            permissions: vec!["read".into(), "write".into()],
        })
        .with_request_id("req-9")
        .with_locale("fr-CH")
        .with_deadline(Instant::now() + Duration::from_secs(30));
    let source = r#"
        const describe = (object) => Object.keys(object).map((key) => {
            const d = Object.getOwnPropertyDescriptor(object, key);
            return [key, d.enumerable, d.configurable, "value" in d ? d.writable : typeof d.get, d.set === undefined];
        });
        const { deadlineMs, ...rest } = context;
        [rest, typeof deadlineMs, describe(context), describe(context.user), describe(context.user.permissions),
         Object.getPrototypeOf(context) === Object.prototype, Array.isArray(context.user.permissions)]
    "#;
    let value = run_request(&rt, ExecRequest::source(source).context(context))
        .await
        .expect("the script runs");
    let read_only = |key: &str| json!([key, true, false, false, true]);
    assert_eq!(
        value,
        json!([
            {
                "tenantID": "t-ü",
                "tenant": {"id": "t-ü", "name": "Acme \"quoted\" 😀"},
                "user": {
                    "id": "u1",
                    "email": "ada@example.com",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "permissions": ["read", "write"],
                },
                "requestID": "req-9",
                "locale": "fr-CH",
            },
            "number",
            [
                read_only("tenantID"),
                read_only("tenant"),
                read_only("user"),
                read_only("requestID"),
                read_only("locale"),
                ["deadlineMs", true, false, "function", true],
            ],
            [
                read_only("id"),
                read_only("email"),
                read_only("firstName"),
                read_only("lastName"),
                read_only("permissions"),
            ],
            [read_only("0"), read_only("1")],
            true,
            true,
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_context_fields_are_undefined() {
    let rt = runtime();
    let source = r#"[typeof context.tenant, context.user === undefined, typeof context.tenantID,
                     typeof context.requestID, typeof context.locale]"#;
    let request = ExecRequest::source(source).context(ExecContext::default());
    let value = run_request(&rt, request).await.expect("the script runs");
    assert_eq!(
        value[0],
        json!("undefined"),
        "typeof context.tenant: {value}"
    );
    assert_eq!(value[1], json!(true), "context.user === undefined: {value}");
    assert_eq!(
        value[2],
        json!("undefined"),
        "typeof context.tenantID: {value}"
    );
    assert_eq!(
        value[3],
        json!("undefined"),
        "typeof context.requestID: {value}"
    );
    assert_eq!(
        value[4],
        json!("undefined"),
        "typeof context.locale: {value}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_ms_counts_down_to_the_callers_deadline() {
    let rt = runtime();
    let context = ExecContext::default().with_deadline(Instant::now() + Duration::from_secs(5));
    let source = r#"
        const first = context.deadlineMs;
        let sum = 0;
        for (let i = 0; i < 200000; i++) sum += i;
        const second = context.deadlineMs;
        [typeof first, first, second]
    "#;
    let request = ExecRequest::source(source)
        .context(context)
        .timeout(Duration::from_secs(10));
    let value = run_request(&rt, request).await.expect("the script runs");
    assert_eq!(value[0], json!("number"), "{value}");
    let first = value[1].as_f64().expect("deadlineMs is a number");
    let second = value[2].as_f64().expect("deadlineMs is a number");
    assert!(first > 0.0 && first <= 5000.0, "first read {first}");
    assert!(
        second > 0.0 && second <= first,
        "second read {second} after {first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polluted_object_prototype_gives_deadline_ms_no_setter() {
    // `Object.defineProperty` reads `set` through the descriptor's prototype chain: the
    // guest's descriptor for `deadlineMs` must not pick up one a script added.
    let rt = runtime();
    let context = ExecContext::default().with_deadline(Instant::now() + Duration::from_secs(5));
    let source = r#"
        let calls = 0;
        Object.prototype.set = function () { calls++; };
        Object.prototype.writable = true;
        let outcome;
        try { context.deadlineMs = 1; outcome = "assigned"; } catch (e) { outcome = e.name; }
        const setter = Object.getOwnPropertyDescriptor(context, "deadlineMs").set;
        delete Object.prototype.set;
        delete Object.prototype.writable;
        [outcome, calls, setter === undefined, typeof context.deadlineMs]
    "#;
    let request = ExecRequest::source(source).context(context);
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!(["TypeError", 0, true, "number"]))
    );
}

// ---------------------------------------------------------------------------------------
// Console
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_records_come_back_in_order_with_levels() {
    let rt = runtime();
    let source = r#"
        console.log('a', 1, {b: 2}, [1,2]);
        console.info('info');
        console.warn('warn');
        console.error('error');
        console.debug('debug');
        'done'
    "#;
    let outcome = run_ok(&rt, ExecRequest::source(source)).await;
    assert_eq!(outcome.value, json!("done"));
    let records: Vec<(LogLevel, &str)> = outcome
        .logs
        .iter()
        .map(|record| (record.level, record.message.as_str()))
        .collect();
    assert_eq!(
        records,
        vec![
            (LogLevel::Info, r#"a 1 {"b":2} [1,2]"#),
            (LogLevel::Info, "info"),
            (LogLevel::Warn, "warn"),
            (LogLevel::Error, "error"),
            (LogLevel::Debug, "debug"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_output_is_capped_with_a_note_about_what_was_dropped() {
    let rt = runtime();
    let source = "for (let i = 0; i < 50; i++) console.log(String(i).padStart(10, '0')); 'done'";
    let outcome = run_ok(&rt, ExecRequest::source(source).log_bytes(100)).await;
    let (note, kept) = outcome.logs.split_last().expect("there are log records");
    assert!(
        note.message.contains("dropped"),
        "the last record should say records were dropped: {note:?}"
    );
    let kept_bytes: usize = kept.iter().map(|record| record.message.len()).sum();
    assert!(kept_bytes <= 100, "{kept_bytes} bytes of log records kept");
    assert!(!kept.is_empty(), "some records fit in 100 bytes");
    for (i, record) in kept.iter().enumerate() {
        assert_eq!(
            record.message,
            format!("{i:010}"),
            "the kept records are a prefix of the output"
        );
        assert_eq!(record.level, LogLevel::Info);
    }
    assert_eq!(
        outcome
            .logs
            .iter()
            .filter(|record| record.message.contains("dropped"))
            .count(),
        1,
        "exactly one note about dropped records"
    );
}

// ---------------------------------------------------------------------------------------
// Host functions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_function_round_trips_nested_unicode_and_large_numbers() {
    let rt = runtime_with_host_fns();
    let source = r#"
        const payload = {
            nested: {list: [1, [2, [3, {deep: true}]]], nothing: null},
            text: "héllo 🌍",
            maxSafe: 2 ** 53 - 1,
            huge: 1e300,
            negative: -0.5,
        };
        [JSON.stringify(payload), JSON.stringify(host.call('echo', payload))]
    "#;
    let value = run_ok(&rt, ExecRequest::source(source)).await.value;
    let sent = value[0].as_str().expect("the payload as JSON text");
    let received = value[1].as_str().expect("the echo as JSON text");
    assert_eq!(received, sent, "the echo differs from what was sent");
    let parsed: Value = serde_json::from_str(received).expect("valid JSON");
    assert_eq!(parsed["text"], json!("héllo 🌍"));
    assert_eq!(parsed["maxSafe"], json!(9_007_199_254_740_991_u64));
    assert_eq!(parsed["huge"], json!(1e300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_host_function_works() {
    let rt = runtime_with_host_fns();
    let outcome = run_ok(
        &rt,
        ExecRequest::source("host.call('sleepy.echo', {x: 1}).x + 1"),
    )
    .await;
    assert_eq!(outcome.value, json!(2));
    assert_eq!(outcome.stats.host_calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_function_is_a_catchable_error() {
    let rt = runtime_with_host_fns();
    let source =
        "try { host.call('nope'); 'no error' } catch (e) { [e instanceof Error, e.message] }";
    let value = run_ok(&rt, ExecRequest::source(source)).await.value;
    assert_eq!(value[0], json!(true), "{value}");
    let message = value[1].as_str().expect("a message");
    assert!(
        message.contains("nope"),
        "the message should name the function: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_function_error_becomes_a_js_exception() {
    let rt = runtime_with_host_fns();
    let source =
        "try { host.call('fail'); 'no error' } catch (e) { [e instanceof Error, e.message] }";
    let value = run_ok(&rt, ExecRequest::source(source)).await.value;
    assert_eq!(value, json!([true, "boom"]));

    let error = expect_exception(run_request(&rt, ExecRequest::source("host.call('fail')")).await);
    assert_eq!(error.message, "boom");
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_limit_trips_at_the_call_past_the_limit() {
    let rt = runtime_with_host_fns();
    let five = "for (let i = 0; i < 5; i++) host.call('echo', i); 'ok'";
    let outcome = run_ok(&rt, ExecRequest::source(five).host_calls(5)).await;
    assert_eq!(outcome.value, json!("ok"));
    assert_eq!(outcome.stats.host_calls, 5);

    let six = "for (let i = 0; i < 6; i++) host.call('echo', i); 'ok'";
    let error = expect_kind(
        run_request(&rt, ExecRequest::source(six).host_calls(5)).await,
        ErrorKind::HostCallLimit,
    );
    assert_eq!(error, ExecError::HostCallLimit { limit: 5 });
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catching_does_not_escape_the_host_call_limit() {
    let rt = runtime_with_host_fns();
    let source = "for(;;){ try { host.call('echo', 1) } catch(e) {} }";
    let result = run_request(&rt, ExecRequest::source(source).host_calls(5)).await;
    expect_kind(result, ErrorKind::HostCallLimit);
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_context_carries_the_callers_tenant() {
    let rt = runtime_with_host_fns();
    let source = "try { host.call('tenant.only') } catch (e) { [e instanceof Error, e.message] }";

    let own = ExecRequest::source(source).context(tenant_context("t1"));
    assert_eq!(run_request(&rt, own).await, Ok(json!("t1 data")));

    let other = ExecRequest::source(source).context(tenant_context("t2"));
    let value = run_request(&rt, other)
        .await
        .expect("the error is catchable");
    assert_eq!(value[0], json!(true), "{value}");
    let message = value[1].as_str().expect("a message");
    assert!(message.contains("tenant isolation"), "{message}");
}

// ---------------------------------------------------------------------------------------
// Tenant-isolation helpers (unit level)
// ---------------------------------------------------------------------------------------

#[test]
fn ensure_tenant_refuses_another_tenants_resource() {
    let context = tenant_context("t1");
    assert_eq!(context.ensure_tenant("t1"), Ok(()));
    assert_eq!(
        context.ensure_tenant("t2"),
        Err(TenantError::Violation {
            current: "t1".into(),
            resource: "t2".into()
        })
    );
    assert_eq!(
        ExecContext::default().ensure_tenant("t1"),
        Err(TenantError::NoTenant)
    );
}

#[test]
fn tenant_query_binds_the_tenant_id_first() {
    let context = tenant_context("t1");
    let sql = "SELECT * FROM orders WHERE tenant_id = $1 AND id = $2";
    let query = context
        .tenant_query(sql, vec![json!(42)])
        .expect("a query filtering on $1 is accepted");
    assert_eq!(query.sql, sql);
    assert_eq!(query.params, vec![json!("t1"), json!(42)]);

    let unbound = "SELECT * FROM orders";
    assert_eq!(
        context.tenant_query(unbound, vec![]),
        Err(TenantError::UnboundQuery(unbound.into()))
    );
    assert_eq!(
        ExecContext::default().tenant_query(sql, vec![json!(42)]),
        Err(TenantError::NoTenant)
    );
}

// ---------------------------------------------------------------------------------------
// Many tenants
// ---------------------------------------------------------------------------------------

const MARKER_SCRIPT: &str =
    "const seen = globalThis.marker; globalThis.marker = context.tenantID; \
                             [seen === undefined ? null : seen, context.tenantID]";

fn alternating_tenant(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "t-even"
    } else {
        "t-odd"
    }
}

async fn run_marker(rt: &Runtime, tenant_id: &str) -> Result<Value, ExecError> {
    run_request(
        rt,
        ExecRequest::source(MARKER_SCRIPT).context(tenant_context(tenant_id)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternating_tenants_never_see_each_others_globals() {
    let rt = runtime();
    for i in 0..100 {
        let tenant_id = alternating_tenant(i);
        assert_eq!(
            run_marker(&rt, tenant_id).await,
            Ok(json!([null, tenant_id])),
            "execution {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_alternating_tenants_never_see_each_others_globals() {
    let rt = runtime();
    for batch in 0..10 {
        let tasks: Vec<_> = (0..10)
            .map(|j| {
                let rt = rt.clone();
                let i = batch * 10 + j;
                tokio::spawn(async move { (i, run_marker(&rt, alternating_tenant(i)).await) })
            })
            .collect();
        for task in tasks {
            let (i, result) = task.await.expect("the execution task does not panic");
            assert_eq!(
                result,
                Ok(json!([null, alternating_tenant(i)])),
                "execution {i}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// host.orders.get(...): one function per registered name, nested by its dots
// ---------------------------------------------------------------------------------------

fn runtime_with_namespaced_fns() -> Runtime {
    Runtime::builder()
        .host_fn("orders.get", |call| async move {
            Ok(json!({ "id": call.args["id"], "via": call.name }))
        })
        .host_fn("orders.list", |_| async move { Ok(json!([1, 2])) })
        .host_fn("ping", |_| async move { Ok(json!("pong")) })
        // Collides with the `orders` namespace: reachable through host.call only.
        .host_fn("orders", |_| async move { Ok(json!("bare")) })
        .host_fn(
            "__proto__.polluted",
            |_| async move { Ok(json!("name only")) },
        )
        .build()
        .expect("runtime starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_names_become_nested_functions_on_host() {
    let rt = runtime_with_namespaced_fns();
    let value = run(
        &rt,
        "[host.orders.get({id: 7}), host.orders.list(), host.ping(), host.call('orders'), \
          typeof host.nope, typeof host.orders.nope, host.call('orders.get', {id: 8}).id, ({}).polluted === undefined]",
    )
    .await
    .expect("runs");
    assert_eq!(
        value,
        json!([{ "id": 7, "via": "orders.get" }, [1, 2], "pong", "bare", "undefined", "undefined", 8, true])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_object_is_frozen() {
    let rt = runtime_with_namespaced_fns();
    let value = run(
        &rt,
        "[Object.isFrozen(host), Object.isFrozen(host.orders), Object.keys(host.orders).sort()]",
    )
    .await
    .expect("runs");
    assert_eq!(value, json!([true, true, ["get", "list"]]));
    assert_type_error(
        run(&rt, "host.orders.get = () => 'mine'; 1").await,
        "assigning to a host function",
    );
    assert_type_error(run(&rt, "host.extra = {}; 1").await, "adding to host");
    assert_type_error(run(&rt, "host = {}; 1").await, "replacing host");
    assert_still_works(&rt).await;
}
