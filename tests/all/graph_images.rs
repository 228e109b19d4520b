//! Prepared module graphs (`Config::graph_image_bytes`): a graph run a second time keeps
//! the memory its preparation left, and later executions of exactly that graph start
//! from it. What must hold: every execution gives what an unprepared one gives (results,
//! logs, fuel), module state never carries over, each tenant runs its own graph, and the
//! limits apply as before.

use std::sync::Arc;

use jsruntime::{Config, ErrorKind, ExecRequest, MemoryModuleLoader, Outcome, Runtime};
use serde_json::json;

use crate::common::{expect_kind, run_ok, run_request, tenant};

/// Modules in [`graph`]: enough that reading them is worth an image.
const MODULES: usize = 20;

/// A loader with a graph of [`MODULES`] modules under `lib/`, each exporting a function
/// and a counter of its own evaluations; `lib/m0.js` logs when it is evaluated. Tenant
/// `t2` has its own `lib/m7.js`.
fn loader() -> MemoryModuleLoader {
    let mut loader = MemoryModuleLoader::new();
    for i in 0..MODULES {
        loader = loader.with_shared(format!("lib/m{i}.js"), module(i).as_str());
    }
    loader.with_tenant(
        "t2",
        "lib/m7.js",
        "export const runs7 = () => 1; export function f7(x) { return x + 700; }",
    )
}

/// The source of `lib/m{i}.js`.
fn module(i: usize) -> String {
    let log = if i == 0 {
        "console.log('m0 evaluated');"
    } else {
        ""
    };
    format!(
        "{log} let runs = 0; runs += 1; export const runs{i} = () => runs; \
         export function f{i}(x) {{ return x + {i}; }}"
    )
}

/// The entry: sums every module's function and checks each was evaluated once.
fn entry() -> String {
    let mut source = String::new();
    for i in 0..MODULES {
        source.push_str(&format!(
            "import {{ f{i}, runs{i} }} from './lib/m{i}.js';\n"
        ));
    }
    let sum: Vec<String> = (0..MODULES).map(|i| format!("f{i}(1)")).collect();
    let runs: Vec<String> = (0..MODULES).map(|i| format!("runs{i}()")).collect();
    source.push_str(&format!(
        "let calls = 0;\nexport default (input) => ({{ sum: {}, runs: [{}].every((n) => n === 1), \
         calls: ++calls, input }});",
        sum.join(" + "),
        runs.join(", ")
    ));
    source
}

fn runtime_with(config: Config, loader: MemoryModuleLoader) -> Runtime {
    Runtime::builder()
        .config(config)
        .module_loader(Arc::new(loader))
        .build()
        .expect("a runtime starts")
}

fn request(tenant_id: &str, n: u32) -> ExecRequest {
    ExecRequest::module(entry())
        .context(tenant(tenant_id))
        .input(json!({ "n": n }))
}

/// The sum [`entry`] computes for a tenant whose `lib/m7.js` adds `seven`.
fn sum(seven: u64) -> u64 {
    (0..MODULES as u64).map(|i| 1 + i).sum::<u64>() - 8 + 1 + seven
}

#[tokio::test]
async fn a_graph_run_again_starts_from_its_image_and_runs_as_it_did() {
    let rt = runtime_with(Config::default(), loader());
    let mut outcomes: Vec<Outcome> = Vec::new();
    for n in 0..5 {
        outcomes.push(run_ok(&rt, request("t1", n)).await);
    }
    for (n, outcome) in outcomes.iter().enumerate() {
        // Every module evaluated once, the entry's own state fresh, the input its own.
        assert_eq!(
            outcome.value,
            json!({ "sum": sum(7), "runs": true, "calls": 1, "input": { "n": n } }),
            "execution {n}"
        );
        let logs: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(logs, ["m0 evaluated"], "execution {n}");
    }
    let prepared: Vec<bool> = outcomes.iter().map(|o| o.stats.graph_prepared).collect();
    // The first compiles the modules and runs the graph as it is handed; the second
    // prepares it and keeps its image; the others start from the image.
    assert_eq!(prepared, [false, false, true, true, true]);
    // The image holds exactly the memory the preparation left: the executions that start
    // from it use the very fuel of the one that prepared it.
    let fuel: Vec<u64> = outcomes.iter().map(|o| o.stats.fuel_used).collect();
    assert!(fuel[2..].iter().all(|&f| f == fuel[1]), "{fuel:?}");

    // Unprepared (no images), the same graph costs about the same: the same work, in
    // one guest call instead of two.
    let mut config = Config::default();
    config.graph_image_bytes = 0;
    let plain = runtime_with(config, loader());
    run_ok(&plain, request("t1", 0)).await;
    let outcome = run_ok(&plain, request("t1", 1)).await;
    assert_eq!(outcome.value["sum"], json!(sum(7)));
    let (unprepared, prepared) = (outcome.stats.fuel_used as f64, fuel[1] as f64);
    assert!(
        (unprepared - prepared).abs() / unprepared < 0.05,
        "unprepared {unprepared}, prepared {prepared}"
    );
}

#[tokio::test]
async fn each_tenant_runs_its_own_graph_and_a_changed_module_is_seen_at_once() {
    let loader = Arc::new(loader());
    let rt = Runtime::builder()
        .module_loader(loader.clone())
        .build()
        .expect("a runtime starts");
    // Both tenants' graphs get images (t2's differs in one module), interleaved.
    for round in 0..4 {
        for (id, seven) in [("t1", 7), ("t2", 700)] {
            let outcome = run_ok(&rt, request(id, round)).await;
            assert_eq!(
                outcome.value["sum"],
                json!(sum(seven)),
                "{id}, round {round}"
            );
            assert_eq!(
                outcome.stats.graph_prepared,
                round > 1,
                "{id}, round {round}"
            );
        }
    }
    // A module replaced in the registry: the next execution's graph is another one, run
    // unprepared, whatever image the old one has.
    loader.insert_shared(
        "lib/m3.js",
        "export const runs3 = () => 1; export function f3(x) { return x + 300; }",
    );
    let outcome = run_ok(&rt, request("t1", 9)).await;
    assert_eq!(outcome.value["sum"], json!(sum(7) - 4 + 301));
    assert!(!outcome.stats.graph_prepared);
    // And back: the old graph's image is still there.
    loader.insert_shared("lib/m3.js", module(3).as_str());
    let outcome = run_ok(&rt, request("t1", 10)).await;
    assert_eq!(outcome.value["sum"], json!(sum(7)));
    assert!(outcome.stats.graph_prepared);
}

#[tokio::test]
async fn an_image_keeps_dynamic_imports_and_errors_as_they_were() {
    let loader = loader()
        .with_shared("late.js", "export const late = 'late';")
        .with_shared(
            "throws.js",
            "import { f1 } from './lib/m1.js'; throw new RangeError('top level ' + f1(1));",
        );
    let rt = runtime_with(Config::default(), loader);
    let dynamic = format!(
        "{}\nexport const later = async () => [(await import('./lib/m2.js')).f2(0), (await import('./late.js')).late];",
        entry()
    );
    let thrower = format!("import './throws.js';\n{}", entry());
    for round in 0..4 {
        let request = ExecRequest::module(dynamic.as_str()).entry("later");
        let outcome = run_ok(&rt, request).await;
        assert_eq!(outcome.value, json!([2, "late"]), "round {round}");
        assert_eq!(outcome.stats.graph_prepared, round > 1);
        let error = expect_kind(
            run_request(&rt, ExecRequest::module(thrower.as_str())).await,
            ErrorKind::Exception,
        );
        assert!(error.to_string().contains("top level 2"), "{error}");
        // A graph that cannot be linked fails the same way each time, prepared or not.
        let missing = format!("import {{ nothing }} from './lib/m1.js';\n{}", entry());
        let error = expect_kind(
            run_request(&rt, ExecRequest::module(missing.as_str())).await,
            ErrorKind::Syntax,
        );
        assert!(
            error.to_string().contains("nothing"),
            "round {round}: {error}"
        );
    }
}

#[tokio::test]
async fn limits_hold_and_images_can_be_turned_off() {
    // With no memory for images, no graph is prepared.
    let mut config = Config::default();
    config.graph_image_bytes = 0;
    let rt = runtime_with(config, loader());
    for n in 0..3 {
        assert!(!run_ok(&rt, request("t1", n)).await.stats.graph_prepared);
    }

    let rt = runtime_with(Config::default(), loader());
    let mut fuel = 0;
    for n in 0..3 {
        let outcome = run_ok(&rt, request("t1", n)).await;
        fuel = outcome.stats.fuel_used;
    }
    // A fuel budget the graph does not fit in fails as it would have without an image
    // (the preparation's fuel is the execution's).
    let short = request("t1", 3).fuel(fuel / 2);
    expect_kind(run_request(&rt, short).await, ErrorKind::OutOfFuel);
    // A deterministic execution runs it unprepared, and gives the same result.
    let outcome = run_ok(&rt, request("t1", 4).deterministic(7)).await;
    assert!(!outcome.stats.graph_prepared);
    assert_eq!(outcome.value["sum"], json!(sum(7)));
    // Still prepared for the others.
    assert!(run_ok(&rt, request("t1", 5)).await.stats.graph_prepared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_executions_of_two_tenants_each_run_their_own_graph() {
    // Executions in parallel, on both tenants' graphs (with a JSON module), while images
    // are being made and used: every one gets its own tenant's answer.
    let loader = loader()
        .with_tenant("t1", "rates.json", r#"{"vat": 1}"#)
        .with_tenant("t2", "rates.json", r#"{"vat": 2}"#);
    let rt = runtime_with(Config::default(), loader);
    let source = format!(
        "import rates from './rates.json' with {{ type: 'json' }};\n{}\nexport const vat = () => rates.vat;",
        entry()
    );
    let mut prepared = 0;
    for round in 0..4 {
        let mut running = tokio::task::JoinSet::new();
        for i in 0..16u32 {
            let (rt, source) = (rt.clone(), source.clone());
            running.spawn(async move {
                let id = if i % 2 == 0 { "t1" } else { "t2" };
                let request = ExecRequest::module(source.as_str())
                    .context(tenant(id))
                    .entry("vat");
                (id, run_ok(&rt, request).await)
            });
        }
        while let Some(done) = running.join_next().await {
            let (id, outcome) = done.expect("the task ran");
            let vat = if id == "t1" { 1 } else { 2 };
            assert_eq!(outcome.value, json!(vat), "{id}, round {round}");
            prepared += u32::from(outcome.stats.graph_prepared);
        }
    }
    // Once both graphs have images, executions start from them.
    assert!(prepared > 0, "no execution started from an image");
    let outcome = run_ok(
        &rt,
        ExecRequest::module(source.as_str())
            .context(tenant("t2"))
            .entry("vat"),
    )
    .await;
    assert!(outcome.stats.graph_prepared);
    assert_eq!(outcome.value, json!(2));
}
