//! What the engine needs from its surroundings: logging, host functions (blocking, or
//! started and then waited for), the caller's context, randomness, modules for a dynamic
//! `import()`. In the component these are WIT imports; in unit tests, fakes.

use std::cell::RefCell;
use std::rc::Rc;

use crate::modules::{LoadError, ModuleDef, ModuleKind};

/// A hash function [`Services::digest`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Severity of a `console.*` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `console.debug`
    Debug,
    /// `console.log`, `console.info`
    Info,
    /// `console.warn`
    Warn,
    /// `console.error`
    Error,
}

/// Why a host function call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No host function has that name.
    UnknownFunction,
    /// The host function returned an error with this message.
    Failed(String),
}

/// How a script sees a host function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStyle {
    /// The call waits for the host and returns the result.
    Blocking,
    /// The call returns a Promise at once; the host runs it while the script goes on.
    Promise,
}

/// A host function: its name and how scripts see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The registered name (`orders.get`).
    pub name: String,
    /// How scripts see it.
    pub style: CallStyle,
}

/// A call begun with [`Services::start_call`] has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The id `start_call` returned.
    pub id: u32,
    /// The result's JSON, or why it failed.
    pub outcome: Result<String, CallError>,
}

/// The tenant an execution runs for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
}

/// The user an execution runs for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub id: String,
    /// E-mail address.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Permission names.
    pub permissions: Vec<String>,
}

/// The engine's view of the host.
pub trait Services {
    /// Records one formatted `console.*` line.
    fn log(&self, level: LogLevel, message: &str);
    /// Calls a named host function with JSON arguments and waits for it.
    fn call(&self, name: &str, args_json: &str) -> Result<String, CallError>;
    /// Starts a call of a named host function with JSON arguments; [`Services::wait`]
    /// reports how it ended.
    fn start_call(&self, name: &str, args_json: &str) -> Result<u32, CallError>;
    /// Waits (running nothing) until a started call ends, or until `timeout` has passed
    /// (`None`); without a timeout, until a call ends.
    fn wait(&self, timeout: Option<std::time::Duration>) -> Option<Completion>;
    /// The host functions.
    fn functions(&self) -> Vec<Function>;
    /// The caller's tenant.
    fn tenant(&self) -> Option<Tenant>;
    /// The caller's user.
    fn user(&self) -> Option<User>;
    /// The request id.
    fn request_id(&self) -> Option<String>;
    /// The request's locale.
    fn locale(&self) -> Option<String>;
    /// Milliseconds left before the deadline, now.
    fn deadline_ms(&self) -> Option<i64>;
    /// A fresh random seed for `Math.random`.
    fn random_seed(&self) -> u64;
    /// The digest of `data`, computed by the host (which has the CPU's SHA
    /// instructions); the host charges the run fuel for it.
    fn digest(&self, algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8>;
    /// The module `specifier` names, imported by `importer`, for a dynamic `import()` the
    /// host did not link before the run.
    fn load_module(
        &self,
        importer: &str,
        specifier: &str,
        kind: ModuleKind,
    ) -> Result<ModuleDef, LoadError>;
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<dyn Services>>> = const { RefCell::new(None) };
}

/// Installs the services for the run that is about to start.
///
/// JS functions created at pre-initialization time (console, host, context) look the
/// services up here when they are called, so nothing about a run is baked into the
/// snapshot.
pub fn install(services: Rc<dyn Services>) {
    CURRENT.with(|current| *current.borrow_mut() = Some(services));
}

/// The services of the current run, if a run is in progress.
pub fn current() -> Option<Rc<dyn Services>> {
    CURRENT.with(|current| current.borrow().clone())
}
