//! `jsruntime`: run JavaScript files in the sandbox from the command line.
//!
//! ```text
//! jsruntime run [OPTIONS] FILE...      (`-` reads standard input)
//! ```
//!
//! Each file runs in its own fresh instance. A file ending in `.mjs` (or every file, with
//! `--module`) is an ES module run as a handler: its entry export (`default`, or
//! `--entry NAME`) is called with the input. Imports resolve to files relative to the
//! importing file, confined to the entry file's directory. `--input JSON` or
//! `--input-file PATH` gives every execution its input (`--input-file -` reads standard
//! input, unless a script is read from there). `--deterministic SEED` makes every run
//! repeatable. Scripts can call `host.demo.echo(x)`, `host.demo.tenant()` and the Promise
//! function `host.demo.sleep({ms, value})`. Exit status: 0 when every script
//! succeeded, 1 when any failed, 2 for usage or I/O errors.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use jsruntime::{
    Config, ExecContext, ExecRequest, Execution, FileModuleLoader, HostFnError, Runtime, MIB,
};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "jsruntime",
    version,
    about = "Run untrusted JavaScript in a WebAssembly sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run each FILE in a fresh sandbox and print its result.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Wall-clock timeout per execution, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_ms: u64,
    /// CPU budget per execution, in fuel units (about one per wasm instruction).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    fuel: Option<u64>,
    /// Memory limit per execution, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(8..=4096))]
    memory_mb: u64,
    /// The caller's context as JSON, e.g.
    /// '{"tenant":{"id":"t1","name":"Acme"},"user":{"id":"u1","permissions":["scripts.execute"]},"requestId":"req-123","locale":"en-US"}'.
    #[arg(long, value_name = "JSON")]
    context: Option<String>,
    /// Print one JSON object per execution on stdout.
    #[arg(long)]
    json: bool,
    /// The input every execution gets (the global `input`; a handler's argument), as JSON.
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the input from a file (`-`: standard input, when no script is read from it).
    #[arg(long, value_name = "PATH")]
    input_file: Option<String>,
    /// Run every file as an ES module (files ending in `.mjs` always are).
    #[arg(long)]
    module: bool,
    /// The export a module's execution calls (default: `default`).
    #[arg(long, value_name = "NAME")]
    entry: Option<String>,
    /// Run deterministically from SEED: seeded randomness, virtual time (timers fire at
    /// once, in order); the same run gives the same result and logs every time.
    #[arg(long, value_name = "SEED")]
    deterministic: Option<u64>,
    /// Run each file N times, each time in a fresh instance.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Script files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Run(args) = cli.command;
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("jsruntime: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs every file; `Ok(true)` when all succeeded. Errors are usage or I/O errors.
fn run(args: RunArgs) -> Result<bool> {
    let context = match &args.context {
        Some(text) => serde_json::from_str::<ExecContext>(text)
            .context("--context is not a valid context object")?,
        None => ExecContext::default(),
    };
    // Read every file first: a missing file is a usage error, reported before anything runs.
    let mut scripts = Vec::with_capacity(args.files.len());
    for file in &args.files {
        scripts.push((file.clone(), read_script(file)?));
    }
    let input = match (&args.input, &args.input_file) {
        (Some(json), _) => Some(json.clone()),
        (None, Some(path)) if path == "-" => {
            if args.files.iter().any(|file| file == "-") {
                bail!("--input-file - and a script from standard input (-) cannot both read it");
            }
            let mut json = String::new();
            std::io::stdin()
                .read_to_string(&mut json)
                .context("cannot read the input from standard input")?;
            Some(json)
        }
        (None, Some(path)) => {
            Some(std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?)
        }
        (None, None) => None,
    };
    if let Some(json) = &input {
        serde_json::from_str::<serde::de::IgnoredAny>(json)
            .context("the input is not valid JSON")?;
    }
    let is_module = |file: &str| args.module || file.ends_with(".mjs");
    if args.entry.is_some() {
        if let Some(file) = args.files.iter().find(|file| !is_module(file)) {
            bail!("--entry names a module's export, but {file} is a script (use --module or .mjs)");
        }
    }

    // One runtime per directory of entry files: each confines its imports to its own.
    let mut runtimes: HashMap<PathBuf, Runtime> = HashMap::new();
    let mut runtime_for = |file: &str| -> Result<Runtime> {
        let dir = module_dir(file);
        if let Some(runtime) = runtimes.get(&dir) {
            return Ok(runtime.clone());
        }
        let loader = FileModuleLoader::new(&dir)
            .with_context(|| format!("cannot use {} as a module directory", dir.display()))?;
        let runtime = start_runtime(loader)?;
        runtimes.insert(dir, runtime.clone());
        Ok(runtime)
    };

    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting the async runtime")?;
    let mut all_ok = true;
    let stdout = std::io::stdout();
    for (file, source) in scripts {
        let runtime = runtime_for(&file)?;
        let code = if is_module(&file) {
            ExecRequest::module(source)
        } else {
            ExecRequest::source(source)
        };
        let mut request = code
            .name(display_name(&file))
            .context(context.clone())
            .timeout(Duration::from_millis(args.timeout_ms))
            .memory_bytes(args.memory_mb * MIB);
        if let Some(fuel) = args.fuel {
            request = request.fuel(fuel);
        }
        if let Some(json) = &input {
            request = request.input_json(json.as_str());
        }
        if let Some(entry) = &args.entry {
            request = request.entry(entry.as_str());
        }
        if let Some(seed) = args.deterministic {
            request = request.deterministic(seed);
        }
        for _ in 0..args.repeat {
            let execution = tokio.block_on(runtime.execute_detailed(&request));
            all_ok &= execution.result.is_ok();
            let mut out = stdout.lock();
            if args.json {
                writeln!(out, "{}", json_line(&file, &execution)).context("writing to stdout")?;
            } else {
                print_plain(&mut out, &file, &execution).context("writing to stdout")?;
            }
        }
    }
    Ok(all_ok)
}

/// Longest `demo.sleep`: a demo, not a way to hold the CLI for a day.
const DEMO_SLEEP_MAX_MS: u64 = 60_000;

/// The runtime of the CLI: demo host functions (`demo.echo`, `demo.tenant`, and the
/// Promise function `demo.sleep({ms, value})`), modules from `loader`.
fn start_runtime(loader: FileModuleLoader) -> Result<Runtime> {
    Runtime::builder()
        .config(Config::default())
        .host_fn("demo.echo", |call| async move { Ok(call.args) })
        .host_fn_promise("demo.sleep", |call| async move {
            let ms = call.args["ms"].as_u64().ok_or_else(|| {
                HostFnError::new("demo.sleep: ms must be a whole number of milliseconds")
            })?;
            if ms > DEMO_SLEEP_MAX_MS {
                return Err(HostFnError::new(format!(
                    "demo.sleep: ms must be at most {DEMO_SLEEP_MAX_MS}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(call
                .args
                .get("value")
                .cloned()
                .unwrap_or(serde_json::Value::Null))
        })
        .host_fn("demo.tenant", |call| async move {
            call.context
                .tenant_id()
                .map(|id| json!(id))
                .ok_or_else(|| HostFnError::new("the execution has no tenant"))
        })
        .module_loader(Arc::new(loader))
        .build()
        .context("starting the runtime")
}

/// The directory a file's imports are confined to: its own (the current one for `-`).
fn module_dir(file: &str) -> PathBuf {
    if file == "-" {
        return PathBuf::from(".");
    }
    match Path::new(file).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn read_script(file: &str) -> Result<String> {
    if file == "-" {
        let mut source = String::new();
        std::io::stdin()
            .read_to_string(&mut source)
            .context("cannot read the script from standard input")?;
        return Ok(source);
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {file}"))?;
    match String::from_utf8(bytes) {
        Ok(source) => Ok(source),
        Err(_) => bail!("{file} is not UTF-8 text"),
    }
}

/// The script name stack traces show: the file's base name (`<stdin>` for `-`).
fn display_name(file: &str) -> String {
    if file == "-" {
        return "<stdin>".to_owned();
    }
    std::path::Path::new(file).file_name().map_or_else(
        || file.to_owned(),
        |name| name.to_string_lossy().into_owned(),
    )
}

fn json_line(file: &str, execution: &Execution) -> serde_json::Value {
    // Every field of the library's `Stats`, as it serializes them: a field added there
    // is printed here too.
    let stats = serde_json::to_value(execution.stats).unwrap_or(serde_json::Value::Null);
    match &execution.result {
        Ok(value) => json!({
            "file": file,
            "ok": true,
            "value": value,
            "logs": execution.logs,
            "stats": stats,
        }),
        Err(error) => {
            let script = error.script_error();
            json!({
                "file": file,
                "ok": false,
                "error": {
                    "kind": error.kind(),
                    // The script's own message for script errors; the error in words otherwise.
                    "message": script.map_or_else(|| error.to_string(), |s| s.message.clone()),
                    "name": script.and_then(|s| s.name.clone()),
                    "line": script.and_then(|s| s.line),
                    "column": script.and_then(|s| s.column),
                    "stack": script.and_then(|s| s.stack.clone()),
                },
                "logs": execution.logs,
                "stats": stats,
            })
        }
    }
}

fn print_plain(out: &mut impl Write, file: &str, execution: &Execution) -> std::io::Result<()> {
    for record in &execution.logs {
        let level = serde_json::to_value(record.level).unwrap_or_default();
        eprintln!(
            "{file}: [{}] {}",
            level.as_str().unwrap_or("info"),
            record.message
        );
    }
    match &execution.result {
        Ok(value) => writeln!(out, "{value}"),
        Err(error) => {
            eprintln!("{file}: {error}");
            Ok(())
        }
    }
}
