//! A fake [`Services`] and a way to run a script natively against it, for the unit
//! tests of the engine and of each API.

use std::cell::RefCell;
use std::rc::Rc;

use crate::engine::{Engine, Failure, RunLimits};
use crate::modules::{GraphBody, GraphModule, LoadError, ModuleBody, ModuleDef, ModuleKind};
use crate::services::{
    self, CallError, CallStyle, Completion, Function, HashAlgorithm, LogLevel, Services, Tenant,
    User,
};

/// What a run sees of the host: fixed answers, and a record of what the script sent
/// (shared by the clones, so the test reads what the run's clone recorded).
#[derive(Clone)]
pub struct Fake {
    /// The names `host` offers as blocking calls.
    pub functions: Vec<String>,
    /// The names `host` offers as Promise calls.
    pub promise_functions: Vec<String>,
    /// Whether started calls end in the reverse order of their start (else in order).
    pub reverse_completions: bool,
    /// Answers a call to one of `functions` with the result's JSON; a call to any other
    /// name fails as unknown, as on the host.
    pub reply: fn(&str, &str) -> Result<String, CallError>,
    /// The caller's tenant.
    pub tenant: Option<Tenant>,
    /// The caller's user.
    pub user: Option<User>,
    /// The request id.
    pub request_id: Option<String>,
    /// The locale.
    pub locale: Option<String>,
    /// Milliseconds left.
    pub deadline_ms: Option<i64>,
    /// The seed `Math.random` gets.
    pub seed: u64,
    /// The module registry a dynamic `import()` reads: resolved name and source (a name
    /// ending in `.json` is JSON).
    pub modules: Vec<(String, String)>,
    /// What the script sent, shared by the clones.
    pub records: Rc<Records>,
}

/// What the script sent to the host.
#[derive(Default)]
pub struct Records {
    logs: RefCell<Vec<(LogLevel, String)>>,
    calls: RefCell<Vec<(String, String)>>,
    /// Started calls that have not been reported by `wait` yet.
    started: RefCell<std::collections::VecDeque<Completion>>,
    next_call: std::cell::Cell<u32>,
    /// The digests asked of the host.
    digests: std::cell::Cell<u32>,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            functions: Vec::new(),
            promise_functions: Vec::new(),
            reverse_completions: false,
            reply: |_, _| Ok("null".to_owned()),
            tenant: None,
            user: None,
            request_id: None,
            locale: None,
            deadline_ms: None,
            seed: 0,
            modules: Vec::new(),
            records: Rc::default(),
        }
    }
}

impl Fake {
    /// The `console` records so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.records.logs.borrow().clone()
    }

    /// The host calls so far, blocking or started: name and arguments' JSON.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.records.calls.borrow().clone()
    }

    /// How many digests the run asked the host for.
    pub fn digests(&self) -> u32 {
        self.records.digests.get()
    }
}

impl Services for Fake {
    fn log(&self, level: LogLevel, message: &str) {
        self.records
            .logs
            .borrow_mut()
            .push((level, message.to_owned()));
    }

    fn call(&self, name: &str, args_json: &str) -> Result<String, CallError> {
        self.records
            .calls
            .borrow_mut()
            .push((name.to_owned(), args_json.to_owned()));
        if !self.functions.iter().any(|function| function == name) {
            return Err(CallError::UnknownFunction);
        }
        (self.reply)(name, args_json)
    }

    /// Answers at once (with `reply`), but reports the answer only when the engine waits.
    fn start_call(&self, name: &str, args_json: &str) -> Result<u32, CallError> {
        self.records
            .calls
            .borrow_mut()
            .push((name.to_owned(), args_json.to_owned()));
        let known = |names: &[String]| names.iter().any(|function| function == name);
        if !known(&self.functions) && !known(&self.promise_functions) {
            return Err(CallError::UnknownFunction);
        }
        let id = self.records.next_call.get() + 1;
        self.records.next_call.set(id);
        let outcome = (self.reply)(name, args_json);
        self.records
            .started
            .borrow_mut()
            .push_back(Completion { id, outcome });
        Ok(id)
    }

    /// The next started call's completion; with none, sleeps out the timeout.
    fn wait(&self, timeout: Option<std::time::Duration>) -> Option<Completion> {
        let mut started = self.records.started.borrow_mut();
        let next = if self.reverse_completions {
            started.pop_back()
        } else {
            started.pop_front()
        };
        if next.is_none() {
            if let Some(timeout) = timeout {
                std::thread::sleep(timeout);
            }
        }
        next
    }

    fn functions(&self) -> Vec<Function> {
        let style = |names: &[String], style| {
            names
                .iter()
                .map(move |name| Function {
                    name: name.clone(),
                    style,
                })
                .collect::<Vec<_>>()
        };
        let mut functions = style(&self.functions, CallStyle::Blocking);
        functions.extend(style(&self.promise_functions, CallStyle::Promise));
        functions
    }

    fn tenant(&self) -> Option<Tenant> {
        self.tenant.clone()
    }

    fn user(&self) -> Option<User> {
        self.user.clone()
    }

    fn request_id(&self) -> Option<String> {
        self.request_id.clone()
    }

    fn locale(&self) -> Option<String> {
        self.locale.clone()
    }

    fn deadline_ms(&self) -> Option<i64> {
        self.deadline_ms
    }

    fn random_seed(&self) -> u64 {
        self.seed
    }

    fn digest(&self, algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
        // What the host computes, computed here (natively) with the guest's own crates.
        self.records.digests.set(self.records.digests.get() + 1);
        crate::apis::crypto::digest_locally(algorithm, data)
    }

    fn load_module(
        &self,
        importer: &str,
        specifier: &str,
        kind: ModuleKind,
    ) -> Result<ModuleDef, LoadError> {
        let name = resolve(importer, specifier);
        let Some((_, source)) = self.modules.iter().find(|(n, _)| *n == name) else {
            return Err(LoadError::NotFound(format!(
                "cannot find module {specifier:?} imported from {importer:?}"
            )));
        };
        let body = match kind {
            ModuleKind::Json => ModuleBody::Json(source.clone()),
            ModuleKind::JavaScript => ModuleBody::Source(source.clone()),
        };
        Ok(ModuleDef {
            name,
            kind,
            body: Some(body),
            links: Vec::new(),
        })
    }
}

/// The tests' resolution: `./` and `../` against the importer's directory, anything else
/// as written (the host's own resolution has its tests on the host).
pub fn resolve(importer: &str, specifier: &str) -> String {
    if !(specifier.starts_with("./") || specifier.starts_with("../")) {
        return specifier.to_owned();
    }
    let mut parts: Vec<&str> = importer.split('/').collect();
    parts.pop();
    for part in specifier.split('/') {
        match part {
            "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// Limits roomy enough for any test script, below the test thread's own stack.
pub const LIMITS: RunLimits = RunLimits {
    heap_bytes: 64 * 1024 * 1024,
    stack_bytes: 512 * 1024,
    output_bytes: 1024 * 1024,
};

/// Compiles and runs `source` (as `test.js`) in a fresh engine, as one execution of a
/// fresh instance would, with a clone of `fake` as its services.
pub fn run(fake: &Fake, source: &str) -> Result<String, Failure> {
    run_with(fake, source, LIMITS)
}

/// [`run`] under other limits.
pub fn run_with(fake: &Fake, source: &str, limits: RunLimits) -> Result<String, Failure> {
    let engine = Engine::new().map_err(Failure::Internal)?;
    let bytecode = engine.compile("test.js", source)?;
    services::install(Rc::new(fake.clone()));
    engine.run(&bytecode, "test.js", None, limits)
}

/// Runs the module `entry` of `fake.modules` as the host would: compiles it and its
/// static imports (transitively), links them, and calls `export` with `input`.
///
/// It runs twice, each time in a fresh engine: through `run-module`, and through
/// `prepare-graph` then `run-prepared` (with a clone of `fake` that records apart), and
/// asserts that both gave the same result and sent the host the same logs and calls. So
/// every module test checks the prepared path too.
pub fn run_module(
    fake: &Fake,
    entry: &str,
    export: Option<&str>,
    input: Option<&[u8]>,
) -> Result<String, Failure> {
    let direct = run_module_once(fake, entry, export, input, false);
    let twin = Fake {
        records: Rc::default(),
        ..fake.clone()
    };
    let prepared = run_module_once(&twin, entry, export, input, true);
    assert_eq!(
        direct, prepared,
        "the prepared graph of {entry} ran otherwise"
    );
    assert_eq!(
        fake.logs(),
        twin.logs(),
        "the prepared graph of {entry} logged otherwise"
    );
    assert_eq!(
        fake.calls(),
        twin.calls(),
        "the prepared graph of {entry} called otherwise"
    );
    direct
}

/// The static graph of `entry` in `fake.modules`, compiled in `engine`, linked by
/// position as the host links it (breadth first).
pub fn graph_of(engine: &Engine, fake: &Fake, entry: &str) -> Result<Vec<GraphModule>, Failure> {
    // Each module gets its index when it is first imported; its slot is filled when it
    // is compiled (breadth first, as the host does).
    let mut names = vec![entry.to_owned()];
    let mut kinds = vec![ModuleKind::JavaScript];
    let mut graph: Vec<GraphModule> = Vec::new();
    while graph.len() < names.len() {
        let index = graph.len();
        let name = names[index].clone();
        let Some((_, source)) = fake.modules.iter().find(|(n, _)| *n == name) else {
            return Err(Failure::Internal(format!("test registry lacks {name}")));
        };
        if kinds[index] == ModuleKind::Json {
            graph.push(GraphModule {
                body: GraphBody::Json {
                    name,
                    text: source.clone(),
                },
                links: Vec::new(),
            });
            continue;
        }
        let compiled = engine.compile_module(&name, source)?;
        let mut links = Vec::new();
        for import in compiled.imports {
            let resolved = resolve(&name, &import.specifier);
            let target = match names.iter().position(|known| *known == resolved) {
                Some(target) => target,
                None => {
                    names.push(resolved);
                    kinds.push(import.kind);
                    names.len() - 1
                }
            };
            links.push(target as u32);
        }
        graph.push(GraphModule {
            body: GraphBody::Bytecode(compiled.bytecode),
            links,
        });
    }
    Ok(graph)
}

/// One run of [`run_module`]: directly, or `prepared` first.
fn run_module_once(
    fake: &Fake,
    entry: &str,
    export: Option<&str>,
    input: Option<&[u8]>,
    prepared: bool,
) -> Result<String, Failure> {
    let engine = Engine::new().map_err(Failure::Internal)?;
    let graph = graph_of(&engine, fake, entry)?;
    services::install(Rc::new(fake.clone()));
    if prepared {
        engine.prepare_graph(entry, &graph)?;
        engine.run_prepared(entry, export, input, LIMITS)
    } else {
        engine.run_module(entry, &graph, export, input, LIMITS)
    }
}

/// [`run`], for a script that must succeed: its completion value's JSON.
pub fn run_ok(fake: &Fake, source: &str) -> String {
    match run(fake, source) {
        Ok(json) => json,
        Err(failure) => panic!("the script failed: {failure:?}\n{source}"),
    }
}
