//! End-to-end tests of the `jsruntime` command-line tool: they run the built binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_jsruntime");

/// A fuel budget so large that the wall-clock timeout trips first.
const HUGE_FUEL: &str = "1000000000000000";

/// A directory of script files, removed when dropped.
struct ScriptDir {
    path: PathBuf,
}

impl ScriptDir {
    fn new(test: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "jsruntime-cli-{}-{}-{test}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("the temporary directory can be created");
        ScriptDir { path }
    }

    /// Writes a script and returns its path as an argument.
    fn script(&self, name: &str, source: &str) -> String {
        let path = self.path.join(name);
        std::fs::write(&path, source).expect("the script file can be written");
        path.to_str().expect("temporary paths are UTF-8").to_owned()
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What one run of the CLI printed and its exit status.
struct CliRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl CliRun {
    /// The JSON objects printed one per line (for `--json`).
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
            })
            .collect()
    }

    /// The single JSON object printed for a single file.
    fn single(&self) -> Value {
        let mut lines = self.json_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected one line of output: {}",
            self.stdout
        );
        lines.remove(0)
    }
}

impl std::fmt::Debug for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn cli_with_stdin(args: &[&str], stdin: &str) -> CliRun {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the jsruntime binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("the script can be written to stdin");
    let Output {
        status,
        stdout,
        stderr,
    } = child
        .wait_with_output()
        .expect("the jsruntime binary exits");
    CliRun {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

fn cli(args: &[&str]) -> CliRun {
    cli_with_stdin(args, "")
}

/// `run --json [extra...] FILE` on one script; returns its one JSON line.
fn run_json(dir: &ScriptDir, source: &str, extra: &[&str]) -> (CliRun, Value) {
    let file = dir.script("script.js", source);
    let mut args = vec!["run", "--json"];
    args.extend_from_slice(extra);
    args.push(&file);
    let run = cli(&args);
    let line = run.single();
    (run, line)
}

fn sample_context() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/context.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn assert_stats(line: &Value) {
    let stats = &line["stats"];
    for field in ["fuel_used", "wall_us", "memory_bytes"] {
        assert!(
            stats[field].is_u64(),
            "stats.{field} should be a number: {line}"
        );
    }
}

#[test]
fn json_output_has_one_line_per_file_in_order() {
    let dir = ScriptDir::new("order");
    let good = dir.script("good.js", "console.log('hi'); ({answer: 6 * 7})");
    let bad = dir.script("bad.js", "throw new TypeError('bad input')");
    let run = cli(&["run", "--json", &good, &bad]);
    assert_eq!(
        run.code,
        Some(1),
        "a failed script makes the exit status 1: {run:?}"
    );
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{run:?}");

    let ok = &lines[0];
    assert_eq!(ok["file"], json!(good));
    assert_eq!(ok["ok"], json!(true));
    assert_eq!(ok["value"], json!({"answer": 42}));
    assert_eq!(ok["logs"], json!([{"level": "info", "message": "hi"}]));
    assert_stats(ok);

    let failed = &lines[1];
    assert_eq!(failed["file"], json!(bad));
    assert_eq!(failed["ok"], json!(false));
    assert!(
        failed.get("value").is_none(),
        "a failure has no value: {failed}"
    );
    assert_eq!(failed["logs"], json!([]));
    assert_stats(failed);
    let error = &failed["error"];
    assert_eq!(error["kind"], json!("exception"));
    assert_eq!(error["name"], json!("TypeError"));
    let message = error["message"]
        .as_str()
        .expect("error.message is a string");
    assert!(message.contains("bad input"), "{message}");
    assert_eq!(error["line"], json!(1));
    assert!(error["column"].is_u64(), "{error}");
    assert!(error["stack"].is_string(), "{error}");
}

#[test]
fn all_scripts_succeeding_exits_zero() {
    let dir = ScriptDir::new("success");
    let a = dir.script("a.js", "1 + 1");
    let b = dir.script("b.js", "'two'");
    let run = cli(&["run", "--json", &a, &b]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let values: Vec<Value> = run
        .json_lines()
        .iter()
        .map(|line| line["value"].clone())
        .collect();
    assert_eq!(values, vec![json!(2), json!("two")]);
}

#[test]
fn missing_file_is_a_usage_error() {
    let dir = ScriptDir::new("missing");
    let good = dir.script("good.js", "1");
    let missing = dir.path.join("does-not-exist.js");
    let missing = missing.to_str().expect("UTF-8 path");
    let run = cli(&["run", "--json", &good, missing]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(
        run.stdout, "",
        "nothing runs when a file is missing: {run:?}"
    );
    assert!(
        run.stderr.contains("does-not-exist.js"),
        "stderr should name the file: {run:?}"
    );
}

#[test]
fn invalid_context_json_is_a_usage_error() {
    let dir = ScriptDir::new("bad-context");
    let file = dir.script("a.js", "1");
    let run = cli(&["run", "--json", "--context", "{not json", &file]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(run.stderr.contains("--context"), "{run:?}");
}

#[test]
fn unknown_option_is_a_usage_error() {
    let dir = ScriptDir::new("unknown-option");
    let file = dir.script("a.js", "1");
    let run = cli(&["run", "--no-such-option", &file]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
}

#[test]
fn dash_reads_the_script_from_stdin() {
    let run = cli_with_stdin(&["run", "--json", "-"], "[1, 2, 3].map(x => x * 10)");
    assert_eq!(run.code, Some(0), "{run:?}");
    let line = run.single();
    assert_eq!(line["file"], json!("-"));
    assert_eq!(line["value"], json!([10, 20, 30]));
}

#[test]
fn timeout_option_stops_an_infinite_loop() {
    let dir = ScriptDir::new("timeout");
    let (run, line) = run_json(
        &dir,
        "while(true){}",
        &["--timeout-ms", "100", "--fuel", HUGE_FUEL],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(line["error"]["kind"], json!("timeout"), "{line}");
}

#[test]
fn fuel_option_stops_an_infinite_loop() {
    let dir = ScriptDir::new("fuel");
    let (run, line) = run_json(&dir, "while(true){}", &["--fuel", "1000"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(line["error"]["kind"], json!("out_of_fuel"), "{line}");
}

#[test]
fn memory_option_stops_unbounded_allocation() {
    let dir = ScriptDir::new("memory");
    let source = "const a = []; while (true) a.push(new Array(10000).fill(1))";
    let (run, line) = run_json(&dir, source, &["--memory-mb", "16"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(line["error"]["kind"], json!("memory_limit"), "{line}");
}

#[test]
fn syntax_error_has_a_position() {
    let dir = ScriptDir::new("syntax");
    let (run, line) = run_json(&dir, "const a = 1;\nconst b = ;\n", &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let error = &line["error"];
    assert_eq!(error["kind"], json!("syntax"), "{line}");
    assert_eq!(error["line"], json!(2), "{line}");
    let column = error["column"].as_u64().expect("error.column is a number");
    assert!(column >= 1, "columns are 1-based: {line}");
}

#[test]
fn sample_context_reaches_the_script_and_host_functions() {
    let dir = ScriptDir::new("context");
    let context = sample_context();
    let source = r#"
        console.log('tenant', context.tenant.id);
        [context.tenant.name, host.call('demo.tenant'), host.call('demo.echo', {a: [1, 2]})]
    "#;
    let (run, line) = run_json(&dir, source, &["--context", &context]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        line["value"],
        json!(["Acme", "t1", {"a": [1, 2]}]),
        "{line}"
    );
    assert_eq!(
        line["logs"],
        json!([{"level": "info", "message": "tenant t1"}]),
        "{line}"
    );
    assert_eq!(line["stats"]["host_calls"], json!(2), "{line}");
}

#[test]
fn plain_output_prints_the_value_and_errors_in_words() {
    let dir = ScriptDir::new("plain");
    let good = dir.script("good.js", "({a: [1, 'x']})");
    let run = cli(&["run", &good]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let value: Value =
        serde_json::from_str(run.stdout.trim()).expect("stdout is the value as JSON");
    assert_eq!(value, json!({"a": [1, "x"]}));

    let bad = dir.script("bad.js", "throw new Error('went wrong')");
    let run = cli(&["run", &bad]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(run.stderr.contains("went wrong"), "{run:?}");
    assert!(
        run.stderr.contains("bad.js"),
        "stderr names the file: {run:?}"
    );
}

#[test]
fn repeat_runs_a_file_several_times_from_the_cache() {
    let dir = ScriptDir::new("repeat");
    let file = dir.script("a.js", "21 * 2");
    let run = cli(&["run", "--json", "--repeat", "3", &file]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{run:?}");
    for line in &lines {
        assert_eq!(line["value"], json!(42), "{line}");
    }
    assert_eq!(
        lines[0]["stats"]["cache_hit"],
        json!(false),
        "the first run compiles: {}",
        lines[0]
    );
    for line in &lines[1..] {
        assert_eq!(line["stats"]["cache_hit"], json!(true), "{line}");
    }
    // Every field of the library's `Stats`, the graph's image and the instance too.
    for line in &lines {
        assert_eq!(line["stats"]["graph_prepared"], json!(false), "{line}");
        assert!(line["stats"]["instance_id"].as_u64() > Some(0), "{line}");
        assert_eq!(line["stats"]["host_calls"], json!(0), "{line}");
    }
}

#[test]
fn a_module_handler_gets_its_input_and_imports_files_beside_it() {
    let dir = ScriptDir::new("module");
    std::fs::create_dir_all(dir.path.join("lib")).expect("lib dir");
    dir.script("lib/tax.js", "export const tax = (x) => x * 2;");
    dir.script("rates.json", r#"{"k": 3}"#);
    let entry = dir.script(
        "rule.mjs",
        "import { tax } from './lib/tax.js'; import r from './rates.json' with { type: 'json' };\n\
         export default (cart) => tax(cart.n) + r.k;\nexport const named = (cart) => cart.n;",
    );
    let run = cli(&["run", "--json", "--input", r#"{"n": 5}"#, &entry]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json_lines()[0]["value"], json!(13));
    let input = dir.script("input.json", r#"{"n": 8}"#);
    let run = cli(&[
        "run",
        "--json",
        "--input-file",
        &input,
        "--entry",
        "named",
        &entry,
    ]);
    assert_eq!(run.json_lines()[0]["value"], json!(8), "{}", run.stderr);
    // --module makes a .js file a module too; input from standard input.
    let plain = dir.script("rule.js", "export default (x) => x.n + 1;");
    let run = cli_with_stdin(
        &["run", "--json", "--module", "--input-file", "-", &plain],
        r#"{"n": 1}"#,
    );
    assert_eq!(run.json_lines()[0]["value"], json!(2), "{}", run.stderr);
}

#[test]
fn an_import_outside_the_entry_files_directory_is_a_clear_error() {
    let dir = ScriptDir::new("escape");
    std::fs::create_dir_all(dir.path.join("rules")).expect("rules dir");
    dir.script("secret.js", "export default 'secret';");
    let entry = dir.script(
        "rules/main.mjs",
        "import s from '../secret.js'; export default () => s;",
    );
    let run = cli(&["run", "--json", &entry]);
    assert_eq!(run.code, Some(1));
    let line = &run.json_lines()[0];
    assert_eq!(line["error"]["kind"], json!("module_not_found"), "{line}");
    assert!(
        line["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("../secret.js")),
        "{line}"
    );
    let absolute = dir.script(
        "rules/abs.mjs",
        "import s from '/etc/hostname'; export default () => s;",
    );
    let run = cli(&["run", "--json", &absolute]);
    assert_eq!(
        run.json_lines()[0]["error"]["kind"],
        json!("module_load_failed")
    );
    let script = dir.script("rules/plain.js", "1");
    let run = cli(&["run", "--entry", "x", &script]);
    assert_eq!(run.code, Some(2), "--entry with a script is a usage error");
    let run = cli(&["run", "--input", "{ nope", &script]);
    assert_eq!(run.code, Some(2), "invalid --input is a usage error");
}

#[test]
fn demo_sleep_is_a_promise_and_deterministic_runs_repeat() {
    let dir = ScriptDir::new("deterministic");
    let file = dir.script(
        "d.js",
        r#"(async () => {
            const slept = await Promise.all([host.demo.sleep({ ms: 20, value: "a" }), host.demo.sleep({ ms: 1, value: "b" })]);
            await new Promise((done) => setTimeout(done, 5000));
            console.log("random", Math.random());
            return [slept, Date.now(), Math.random()];
        })()"#,
    );
    let run = cli(&[
        "run",
        "--json",
        "--deterministic",
        "42",
        "--repeat",
        "2",
        &file,
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert_eq!(lines[0]["value"], lines[1]["value"], "{run:?}");
    assert_eq!(lines[0]["logs"], lines[1]["logs"], "{run:?}");
    assert_eq!(lines[0]["value"][0], json!(["a", "b"]));
    // The 5 s timer took no real time: the CLI's own timeout is 1 s.
    assert_eq!(
        lines[0]["value"][1],
        json!(jsruntime::DETERMINISTIC_EPOCH_MS + 5000)
    );
    let (_, bad) = run_json(&dir, "host.demo.sleep({ ms: -1 })", &[]);
    assert_eq!(bad["error"]["kind"], json!("exception"), "{bad}");
}
