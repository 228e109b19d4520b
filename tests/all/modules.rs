//! ES modules from a tenant's registry: static and dynamic imports, JSON modules, cycles,
//! relative names, tenant separation, every error, the limits, the cache's security
//! invariant and the no-deadlock guarantee.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsruntime::{
    Config, ErrorKind, ExecContext, ExecError, ExecRequest, LoadFuture, MemoryModuleLoader,
    ModuleLoader, ModuleRequest, Runtime,
};
use serde_json::json;

use crate::common::{
    assert_still_works, expect_exception, expect_kind, expect_syntax, run_ok, run_request, tenant,
};

fn with_loader(loader: Arc<dyn ModuleLoader>) -> Runtime {
    Runtime::builder()
        .config(Config::default())
        .module_loader(loader)
        .build()
        .expect("a runtime starts")
}

/// A loader over a map that counts what it is asked, and can fail or stall on a name.
#[derive(Debug, Default)]
struct Scripted {
    modules: HashMap<String, String>,
    asked: Mutex<Vec<String>>,
    fail_on: Option<String>,
    panic_on: Option<String>,
    stall_on: Option<String>,
}

impl Scripted {
    fn new(modules: &[(&str, &str)]) -> Self {
        Scripted {
            modules: modules
                .iter()
                .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
                .collect(),
            ..Scripted::default()
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("not poisoned").clone()
    }
}

impl ModuleLoader for Scripted {
    fn load<'a>(&'a self, _context: &'a ExecContext, request: &'a ModuleRequest) -> LoadFuture<'a> {
        Box::pin(async move {
            self.asked
                .lock()
                .expect("not poisoned")
                .push(request.name.clone());
            if self.fail_on.as_deref() == Some(request.name.as_str()) {
                return Err("the registry is unreachable".into());
            }
            if self.panic_on.as_deref() == Some(request.name.as_str()) {
                panic!("loader bug");
            }
            if self.stall_on.as_deref() == Some(request.name.as_str()) {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(self
                .modules
                .get(&request.name)
                .map(|source| Arc::from(source.as_str())))
        })
    }
}

#[tokio::test]
async fn static_imports_relative_names_json_modules_and_cycles() {
    let loader = Scripted::new(&[
        ("rules/tax.js", "import { round } from '../lib/round.js'; export const tax = (x, r) => round(x * (1 + r));"),
        ("lib/round.js", "export const round = (x) => Math.round(x * 100) / 100;"),
        ("data/rates.json", r#"{ "vat": 0.2 }"#),
        ("rules/even.js", "import { odd } from './odd.js'; export const even = (n) => n === 0 || odd(n - 1);"),
        ("rules/odd.js", "import { even } from './even.js'; export const odd = (n) => n !== 0 && even(n - 1);"),
    ]);
    let loader = Arc::new(loader);
    let rt = with_loader(loader.clone());
    let source = r#"
        import { tax } from "./tax.js";
        import rates from "../data/rates.json" with { type: "json" };
        import { even } from "./even.js";
        import * as again from "./tax.js";
        export default (cart) => [tax(cart.net, rates.vat), even(10), even(7), again.tax === tax];
    "#;
    let request = ExecRequest::module(source)
        .name("rules/price.js")
        .input(json!({ "net": 10.555 }));
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!([12.67, true, false, true]))
    );
    let mut asked = loader.asked();
    asked.sort();
    assert_eq!(
        asked,
        [
            "data/rates.json",
            "lib/round.js",
            "rules/even.js",
            "rules/odd.js",
            "rules/tax.js"
        ],
        "each module is asked for once, by its resolved name"
    );
}

#[tokio::test]
async fn each_tenant_imports_from_its_own_registry() {
    let loader = MemoryModuleLoader::new()
        .with_tenant("t1", "lib/tax", "export const rate = 0.1;")
        .with_tenant("t2", "lib/tax", "export const rate = 0.2;")
        .with_shared("lib/round", "export const round = Math.round;");
    let rt = with_loader(Arc::new(loader));
    let source = "import { rate } from 'lib/tax'; import { round } from 'lib/round'; export default () => round(rate * 100);";
    for (id, expected) in [("t1", 10), ("t2", 20)] {
        let request = ExecRequest::module(source).context(tenant(id));
        assert_eq!(
            run_request(&rt, request).await,
            Ok(json!(expected)),
            "tenant {id}"
        );
    }
    let request = ExecRequest::module(source).context(tenant("t3"));
    let error = expect_kind(run_request(&rt, request).await, ErrorKind::ModuleNotFound);
    assert!(
        matches!(&error, ExecError::ModuleNotFound { specifier, importer, .. } if specifier == "lib/tax" && importer == "main.mjs"),
        "{error:?}"
    );
    let request = ExecRequest::module(source);
    expect_kind(run_request(&rt, request).await, ErrorKind::ModuleNotFound);
}

#[tokio::test]
async fn each_execution_imports_what_the_loader_holds_now() {
    // The runtime keeps compiled modules by name and source, but the loader decides what
    // each execution imports: tenants alternating on one name, and a module replaced
    // between executions, each get their own version every time.
    let loader = Arc::new(
        MemoryModuleLoader::new()
            .with_tenant("t1", "lib/tax", "export const rate = 1;")
            .with_tenant("t2", "lib/tax", "export const rate = 2;"),
    );
    let rt = with_loader(loader.clone());
    let source = "import { rate } from 'lib/tax'; export default () => rate;";
    for round in 0..3 {
        for (id, expected) in [("t1", 1), ("t2", 2)] {
            let request = ExecRequest::module(source).context(tenant(id));
            assert_eq!(
                run_request(&rt, request).await,
                Ok(json!(expected)),
                "tenant {id}, round {round}"
            );
        }
    }
    loader.insert_for_tenant("t1", "lib/tax", "export const rate = 10;");
    let request = ExecRequest::module(source).context(tenant("t1"));
    assert_eq!(run_request(&rt, request).await, Ok(json!(10)));
    loader.insert_for_tenant("t1", "lib/tax", "export const rate = 1;");
    let request = ExecRequest::module(source).context(tenant("t1"));
    assert_eq!(run_request(&rt, request).await, Ok(json!(1)));
}

#[tokio::test]
async fn dynamic_import_loads_modules_and_json_and_rejects_what_is_missing() {
    let loader = Scripted::new(&[
        (
            "plugins/a.js",
            "import { base } from './base.js'; export const value = () => base + 1;",
        ),
        ("plugins/base.js", "export const base = 41;"),
        ("plugins/data.json", "[1, 2]"),
    ]);
    let rt = with_loader(Arc::new(loader));
    let source = r#"
        export default async (name) => {
            const plugin = await import(`./plugins/${name}.js`);
            const data = await import("./plugins/data.json", { with: { type: "json" } });
            let missing;
            try { await import("./plugins/none.js"); } catch (e) { missing = e.name; }
            return [plugin.value(), data.default, missing];
        };
    "#;
    let request = ExecRequest::module(source).input(json!("a"));
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!([42, [1, 2], "TypeError"]))
    );
    // Scripts can import dynamically too.
    let request = ExecRequest::source("import('plugins/base.js').then((m) => m.base)");
    assert_eq!(run_request(&rt, request).await, Ok(json!(41)));
}

#[tokio::test]
async fn a_dynamic_import_of_a_statically_imported_module_is_that_module() {
    // The static graph reaches the guest linked by position; a later `import()` of one
    // of its modules, under any specifier that resolves to it, is the same module,
    // evaluated once, and the loader is still asked for each name once.
    let loader = Arc::new(Scripted::new(&[
        ("lib/counter.js", "export let runs = 0; runs += 1;"),
        ("lib/data.json", r#"{ "k": 1 }"#),
        (
            "lib/user.js",
            "import * as c from './counter.js'; export const same = async () => c === await import('./counter.js');",
        ),
    ]));
    let rt = with_loader(loader.clone());
    let source = r#"
        import * as counter from "./lib/counter.js";
        import data from "./lib/data.json" with { type: "json" };
        import { same } from "./lib/user.js";
        export default async () => {
            const again = await import("lib/counter.js");
            const json = await import("./lib/data.json", { with: { type: "json" } });
            return [again === counter, json.default === data, await same(), again.runs];
        };
    "#;
    let request = ExecRequest::module(source).name("main.js");
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!([true, true, true, 1]))
    );
    let mut asked = loader.asked();
    asked.sort();
    assert_eq!(asked, ["lib/counter.js", "lib/data.json", "lib/user.js"]);
}

#[tokio::test]
async fn a_missing_import_fails_before_any_code_runs_naming_specifier_and_importer() {
    let loader = Scripted::new(&[("lib/a.js", "import './gone.js'; export const a = 1;")]);
    let rt = with_loader(Arc::new(loader));
    let request = ExecRequest::module(
        "console.log('ran'); import { a } from './lib/a.js'; export default () => a;",
    )
    .name("main.js");
    let execution = rt.execute_detailed(&request).await;
    let error = execution.result.expect_err("an import is missing");
    match &error {
        ExecError::ModuleNotFound {
            specifier,
            importer,
            ..
        } => assert_eq!(
            (specifier.as_str(), importer.as_str()),
            ("./gone.js", "lib/a.js")
        ),
        other => panic!("module_not_found expected, got {other:?}"),
    }
    assert!(
        execution.logs.is_empty(),
        "no code ran: {:?}",
        execution.logs
    );
    let climbing = ExecRequest::module("import '../../x.js';").name("a/main.js");
    let error = expect_kind(run_request(&rt, climbing).await, ErrorKind::ModuleNotFound);
    assert!(error.to_string().contains("climbs above"), "{error}");
    // Without a loader every import is missing.
    let rt = crate::common::runtime();
    let request = ExecRequest::module("import x from 'x'; export default x;");
    expect_kind(run_request(&rt, request).await, ErrorKind::ModuleNotFound);
}

#[tokio::test]
async fn a_syntax_error_in_an_imported_module_names_it_with_its_position() {
    let loader = Scripted::new(&[
        ("lib/bad.js", "export const ok = 1;\nexport const = 2;"),
        ("lib/bad.json", "{ \"a\": }"),
    ]);
    let rt = with_loader(Arc::new(loader));
    let request = ExecRequest::module("import { ok } from 'lib/bad.js'; export default () => ok;");
    let error = expect_syntax(run_request(&rt, request).await);
    assert!(error.message.contains("lib/bad.js"), "{error:?}");
    assert_eq!(error.line, Some(2), "{error:?}");
    let request = ExecRequest::module(
        "import d from 'lib/bad.json' with { type: 'json' }; export default () => d;",
    );
    let error = expect_syntax(run_request(&rt, request).await);
    assert!(error.message.contains("lib/bad.json"), "{error:?}");
    let request =
        ExecRequest::module("import { nope } from 'lib/ok.js'; export default () => nope;");
    let rt = with_loader(Arc::new(Scripted::new(&[(
        "lib/ok.js",
        "export const yes = 1;",
    )])));
    expect_syntax(run_request(&rt, request).await);
}

#[tokio::test]
async fn a_failing_panicking_or_slow_loader_fails_only_that_execution() {
    let mut loader = Scripted::new(&[("ok.js", "export default 1;")]);
    loader.fail_on = Some("down.js".into());
    loader.panic_on = Some("buggy.js".into());
    loader.stall_on = Some("slow.js".into());
    let rt = with_loader(Arc::new(loader));
    let run = |import: &str| {
        ExecRequest::module(format!("import x from '{import}'; export default () => x;"))
    };
    let error = expect_kind(
        run_request(&rt, run("down.js")).await,
        ErrorKind::ModuleLoadFailed,
    );
    assert!(error.to_string().contains("unreachable"), "{error}");
    let error = expect_kind(
        run_request(&rt, run("buggy.js")).await,
        ErrorKind::ModuleLoadFailed,
    );
    assert!(error.to_string().contains("loader bug"), "{error}");
    let started = std::time::Instant::now();
    let slow = run("slow.js").timeout(Duration::from_millis(200));
    expect_kind(run_request(&rt, slow).await, ErrorKind::Timeout);
    assert!(
        started.elapsed() < crate::common::PROMPT,
        "the loader's time counts against the deadline"
    );
    assert_eq!(run_request(&rt, run("ok.js")).await, Ok(json!(1)));
    // A dynamic import whose loader fails rejects with an Error the script can catch.
    let request = ExecRequest::source("import('down.js').catch((e) => e.message)");
    let message = run_request(&rt, request).await.expect("caught");
    assert!(
        message.as_str().is_some_and(|m| m.contains("unreachable")),
        "{message}"
    );
    assert_still_works(&rt).await;
}

#[tokio::test]
async fn module_count_and_source_bytes_are_bounded() {
    let loader = Scripted::new(&[
        ("a.js", "import './b.js'; export default 1;"),
        ("b.js", "import './c.js';"),
        (
            "c.js",
            "export const c = 'ccccccccccccccccccccccccccccccccc';",
        ),
    ]);
    let rt = with_loader(Arc::new(loader));
    let entry = "import a from './a.js'; export default () => a;";
    assert_eq!(
        run_request(&rt, ExecRequest::module(entry)).await,
        Ok(json!(1))
    );
    let error = expect_kind(
        run_request(&rt, ExecRequest::module(entry).modules(3)).await,
        ErrorKind::ModuleLimit,
    );
    assert!(error.to_string().contains("3 modules"), "{error}");
    expect_kind(
        run_request(&rt, ExecRequest::module(entry).module_bytes(100)).await,
        ErrorKind::ModuleLimit,
    );
    // A dynamic import past the limit rejects.
    let request = ExecRequest::module(
        "export default async () => { try { await import('./c.js'); return 'loaded'; } catch (e) { return e.message; } }",
    )
    .modules(1);
    let message = run_request(&rt, request).await.expect("caught");
    assert!(
        message.as_str().is_some_and(|m| m.contains("module limit")),
        "{message}"
    );
}

#[tokio::test]
async fn only_instances_that_ran_no_tenant_code_fill_the_cache() {
    let loader = Scripted::new(&[("lib/x.js", "export const x = 7;")]);
    let rt = with_loader(Arc::new(loader));
    let before = rt.cache_stats().await;
    // A dynamic import the cache lacks is compiled inside the running guest: nothing of
    // it reaches the cache.
    let dynamic = ExecRequest::source("import('lib/x.js').then((m) => m.x)");
    assert_eq!(run_request(&rt, dynamic.clone()).await, Ok(json!(7)));
    rt.cache_stats().await;
    let after_dynamic = rt.cache_stats().await;
    assert_eq!(
        after_dynamic.entries,
        before.entries + 1,
        "only the script itself was cached"
    );
    // A static import compiles it before the instance runs tenant code, and caches it;
    // a later dynamic import then gets that bytecode.
    let static_import =
        ExecRequest::module("import { x } from 'lib/x.js'; export default () => x;");
    assert_eq!(run_request(&rt, static_import).await, Ok(json!(7)));
    let after_static = rt.cache_stats().await;
    assert_eq!(
        after_static.entries,
        after_dynamic.entries + 2,
        "the module and lib/x.js"
    );
    assert_eq!(run_request(&rt, dynamic).await, Ok(json!(7)));
    // The key includes the resolved name: the same source under another name compiles anew.
    let renamed = ExecRequest::module("import { x } from 'lib/x.js'; export default () => x;")
        .name("other.mjs");
    assert_eq!(run_request(&rt, renamed).await, Ok(json!(7)));
    assert_eq!(rt.cache_stats().await.entries, after_static.entries + 1);
}

/// Every slot busy with executions whose imports are not cached: they compile in their
/// own instances, so none waits for a slot another holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_filling_every_slot_with_uncached_imports_all_complete() {
    const SLOTS: u32 = 4;
    let loader = Arc::new(MemoryModuleLoader::new());
    for i in 0..(SLOTS * 2) {
        loader.insert_shared(
            format!("lib/m{i}.js"),
            format!("import {{ k }} from './k{i}.js'; export const v = k + {i};"),
        );
        loader.insert_shared(
            format!("lib/k{i}.js"),
            format!("export const k = {};", i * 100),
        );
    }
    let mut config = Config::default();
    config.max_concurrency = SLOTS;
    config.max_concurrency_per_tenant = Some(SLOTS);
    config.prewarm = 0;
    let rt = Runtime::builder()
        .config(config)
        .module_loader(loader)
        .build()
        .expect("a runtime starts");
    let calls = AtomicU32::new(0);
    let runs = (0..(SLOTS * 2)).map(|i| {
        let rt = rt.clone();
        let calls = &calls;
        async move {
            let request = ExecRequest::module(format!(
                "import {{ v }} from 'lib/m{i}.js'; export default () => v;"
            ))
            .name(format!("entry{i}.mjs"))
            .timeout(Duration::from_secs(30));
            let value = run_ok(&rt, request).await.value;
            calls.fetch_add(1, Ordering::Relaxed);
            value
        }
    });
    let values = futures_util::future::join_all(runs).await;
    let expected: Vec<_> = (0..(SLOTS * 2)).map(|i| json!(i * 100 + i)).collect();
    assert_eq!(values, expected);
    assert_eq!(calls.load(Ordering::Relaxed), SLOTS * 2);
}

#[tokio::test]
async fn an_uncaught_error_in_an_imported_module_is_an_exception() {
    let rt = with_loader(Arc::new(Scripted::new(&[(
        "lib/throws.js",
        "export const a = 1;\nthrow new RangeError('at import');",
    )])));
    let request = ExecRequest::module("import { a } from 'lib/throws.js'; export default () => a;");
    let error = expect_exception(run_request(&rt, request).await);
    assert_eq!(error.name.as_deref(), Some("RangeError"));
}

/// Imported modules without top-level await run straight through (patch 12 of the
/// vendored QuickJS): in import order, after any module they import that awaits, and a
/// loop in one's top level ends in a timeout (uncatchable) without harming the runtime.
#[tokio::test]
async fn imported_modules_run_in_order_and_a_loop_in_one_times_out() {
    let rt = with_loader(Arc::new(Scripted::new(&[
        ("order.js", "export const order = [];"),
        (
            "a.js",
            "import { order } from './order.js'; order.push('a');",
        ),
        (
            "waits.js",
            "import { order } from './order.js'; await null; order.push('waits');",
        ),
        (
            "after.js",
            "import { order } from './order.js'; import './waits.js'; order.push('after');",
        ),
        ("spins.js", "for (;;) {}"),
        ("catches.js", "try { for (;;) {} } catch (e) { }"),
    ])));
    let request = ExecRequest::module(
        "import { order } from './order.js'; import './a.js'; import './after.js';\n\
         order.push('main'); export default () => order;",
    );
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!(["a", "waits", "after", "main"]))
    );
    for spinning in ["spins.js", "catches.js"] {
        let request = ExecRequest::module(format!(
            "import './{spinning}'; export default () => 'unreachable';"
        ))
        .timeout(Duration::from_millis(100));
        expect_kind(run_request(&rt, request).await, ErrorKind::Timeout);
    }
    assert_still_works(&rt).await;
}

/// The README's handler example, as written there.
#[tokio::test]
async fn the_readme_pricing_handler_works_as_documented() {
    let modules = Arc::new(
        MemoryModuleLoader::new()
            .with_shared("lib/tax.js", "export const withTax = (x, rate) => Math.round(x * (1 + rate) * 100) / 100;")
            .with_tenant("t1", "rules/price.js", r#"
                import { withTax } from "../lib/tax.js";
                import rates from "./rates.json" with { type: "json" };
                export default (cart) => withTax(cart.items.reduce((s, i) => s + i.price * i.qty, 0), rates.vat);
            "#)
            .with_tenant("t1", "rules/rates.json", r#"{ "vat": 0.2 }"#),
    );
    let rt = with_loader(modules);
    let cart = json!({ "items": [{ "price": 12.5, "qty": 2 }, { "price": 3.25, "qty": 10 }] });
    let request = ExecRequest::module("export { default } from 'rules/price.js';")
        .context(tenant("t1"))
        .input(cart);
    assert_eq!(run_ok(&rt, request).await.value, json!(69));
}
