//! The guest's imports: the tenant context and the host services (`console.*` records,
//! host functions), as the WIT contract (`wit/sandbox.wit`) defines them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsruntime_wasm::bindings::jsruntime::sandbox::{
    context as wit_context, host as wit_host, modules as wit_modules,
};

use super::state::ExecState;
use crate::failure::Interrupt;
use crate::host_calls::HostReply;
use crate::host_fn::{CallStyle, HostCall, HostFn};
use crate::json::{self, JsonError, MAX_JSON_DEPTH};
use crate::module_graph::{Asker, Fetch, FetchError};
use crate::modules::ModuleKind;
use crate::outcome::LogLevel;

impl wit_context::Host for ExecState {
    fn tenant(&mut self) -> wasmtime::Result<Option<wit_context::TenantInfo>> {
        Ok(self
            .context
            .tenant
            .as_ref()
            .map(|tenant| wit_context::TenantInfo {
                id: tenant.id.clone(),
                name: tenant.name.clone(),
            }))
    }

    fn user(&mut self) -> wasmtime::Result<Option<wit_context::UserInfo>> {
        Ok(self
            .context
            .user
            .as_ref()
            .map(|user| wit_context::UserInfo {
                id: user.id.clone(),
                email: user.email.clone(),
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                permissions: user.permissions.clone(),
            }))
    }

    fn request_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.context.request_id.clone())
    }

    fn locale(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.context.locale.clone())
    }

    fn deadline_ms(&mut self) -> wasmtime::Result<Option<i64>> {
        let remaining = match &self.virtual_clock {
            // Deterministic: what is left of the timeout in virtual time.
            Some(clock) => self.limits.timeout.saturating_sub(clock.elapsed()),
            None => self.deadline.saturating_duration_since(Instant::now()),
        };
        Ok(Some(
            i64::try_from(remaining.as_millis()).unwrap_or(i64::MAX),
        ))
    }
}

/// A script's log text as one line of the host's log: `\` becomes `\\`, newlines,
/// carriage returns and other control characters become escapes (`\n`, `\r`,
/// `\u{1b}`). A script's text thus always stays inside its own record: it cannot start
/// a line that poses as another record (with another tenant's id, say). The records
/// returned with the outcome keep the text as the script wrote it.
pub(crate) fn one_line(message: &str) -> std::borrow::Cow<'_, str> {
    // U+2028 and U+2029 are not control characters, but some log viewers break lines there.
    let breaks = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !message.chars().any(|c| c == '\\' || breaks(c)) {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut line = String::with_capacity(message.len() + 8);
    for c in message.chars() {
        match c {
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if breaks(c) => line.push_str(&c.escape_unicode().to_string()),
            c => line.push(c),
        }
    }
    std::borrow::Cow::Owned(line)
}

impl wit_host::Host for ExecState {
    fn log(&mut self, level: wit_host::LogLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit_host::LogLevel::Debug => LogLevel::Debug,
            wit_host::LogLevel::Info => LogLevel::Info,
            wit_host::LogLevel::Warn => LogLevel::Warn,
            wit_host::LogLevel::Error => LogLevel::Error,
        };
        let tenant_id = self.context.tenant_id().unwrap_or("");
        let request_id = self.context.request_id.as_deref().unwrap_or("");
        let line = one_line(&message);
        match level {
            LogLevel::Debug => {
                tracing::debug!(target: "jsruntime::script", tenant_id, request_id, "{line}")
            }
            LogLevel::Info => {
                tracing::info!(target: "jsruntime::script", tenant_id, request_id, "{line}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "jsruntime::script", tenant_id, request_id, "{line}")
            }
            LogLevel::Error => {
                tracing::error!(target: "jsruntime::script", tenant_id, request_id, "{line}")
            }
        }
        self.logs.push(level, message);
        Ok(())
    }

    fn functions(&mut self) -> wasmtime::Result<Vec<wit_host::FunctionInfo>> {
        Ok(self
            .host_fns
            .functions()
            .into_iter()
            .map(|(name, style)| wit_host::FunctionInfo {
                name,
                style: match style {
                    CallStyle::Blocking => wit_host::CallStyle::Blocking,
                    CallStyle::Promise => wit_host::CallStyle::Promise,
                },
            })
            .collect())
    }

    fn start_call(
        &mut self,
        name: String,
        args_json: String,
    ) -> wasmtime::Result<Result<u32, wit_host::CallError>> {
        let (function, call) = match self.host_call(name, &args_json)? {
            Ok(made) => made,
            Err(error) => return Ok(Err(error)),
        };
        Ok(Ok(self.promise_calls.start(
            &self.host_caller,
            function,
            call,
        )))
    }

    async fn wait(
        &mut self,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<Option<wit_host::Completion>> {
        if let Some(interrupt) = self.interrupt() {
            return Err(wasmtime::Error::new(interrupt));
        }
        let timeout = timeout_ns.map(Duration::from_nanos);
        let stopped = self.stopped();
        if self.promise_calls.is_empty() {
            let Some(timeout) = timeout else {
                // Nothing to wait for, and no timer: the guest goes on at once.
                return Ok(None);
            };
            if let Some(clock) = &self.virtual_clock {
                // Virtual time: the next timer is due now.
                clock.advance(timeout);
                return Ok(None);
            }
            return tokio::select! {
                biased;
                interrupt = stopped => Err(wasmtime::Error::new(interrupt)),
                () = tokio::time::sleep(timeout) => Ok(None),
            };
        }
        // Deterministic executions take calls in the order they were started, with no
        // virtual time passing: timers wait until no call is in flight.
        let timeout = if self.virtual_clock.is_some() {
            None
        } else {
            timeout
        };
        let sleep = async {
            match timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        };
        let ended = tokio::select! {
            biased;
            interrupt = stopped => return Err(wasmtime::Error::new(interrupt)),
            ended = self.promise_calls.next(&self.host_caller) => ended,
            () = sleep => return Ok(None),
        };
        let Some(ended) = ended else {
            return Ok(None);
        };
        let outcome = match ended.outcome {
            Ok(HostReply::Value(value)) => Ok(value.to_string()),
            Ok(HostReply::Failed(error)) => Err(wit_host::CallError::Failed(error.message)),
            Ok(HostReply::Panicked(message)) => {
                return Err(wasmtime::Error::new(Interrupt::HostFnPanicked {
                    name: ended.name,
                    message,
                }))
            }
            // The caller's side is gone: its future was dropped, the execution with it.
            Err(_) => return Err(wasmtime::Error::new(Interrupt::Cancelled)),
        };
        Ok(Some(wit_host::Completion {
            id: ended.id,
            outcome,
        }))
    }

    async fn call(
        &mut self,
        name: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, wit_host::CallError>> {
        let (function, call) = match self.host_call(name, &args_json)? {
            Ok(made) => made,
            Err(error) => return Ok(Err(error)),
        };
        let name = call.name.clone();
        let reply = self.host_caller.start(function(call));
        // No fuel yield stops the guest while it waits here (no guest code runs): this
        // wait ends at the deadline, on cancellation or at shutdown too, through the
        // normal path, so the execution keeps its logs and stats.
        let stopped = self.stopped();
        let reply = tokio::select! {
            biased;
            reply = reply => reply,
            interrupt = stopped => return Err(wasmtime::Error::new(interrupt)),
        };
        match reply {
            Ok(HostReply::Value(value)) => Ok(Ok(value.to_string())),
            Ok(HostReply::Failed(error)) => Ok(Err(wit_host::CallError::Failed(error.message))),
            Ok(HostReply::Panicked(message)) => {
                Err(wasmtime::Error::new(Interrupt::HostFnPanicked {
                    name,
                    message,
                }))
            }
            // The caller's side is gone: its future was dropped, the execution with it.
            Err(_) => Err(wasmtime::Error::new(Interrupt::Cancelled)),
        }
    }
}

impl ExecState {
    /// Checks and counts one host call, blocking or Promise, and makes its [`HostCall`].
    /// `Err` ends the instance (a trap); `Ok(Err)` is an error the script sees.
    fn host_call(
        &mut self,
        name: String,
        args_json: &str,
    ) -> wasmtime::Result<Result<(HostFn, HostCall), wit_host::CallError>> {
        // An execution that must stop starts no host function: its side effects would be
        // for a caller that gets an error anyway. The guest ends here (a trap).
        if let Some(interrupt) = self.interrupt() {
            return Err(wasmtime::Error::new(interrupt));
        }
        if self.host_calls >= self.limits.host_calls {
            // Ends the instance: a script cannot catch this and carry on.
            return Err(wasmtime::Error::new(Interrupt::HostCallLimit));
        }
        self.host_calls += 1;
        let Some(function) = self.host_fns.get(&name).cloned() else {
            return Ok(Err(wit_host::CallError::UnknownFunction));
        };
        let args = match json::parse(args_json) {
            Ok(args) => args,
            Err(JsonError::TooDeep) => {
                return Ok(Err(wit_host::CallError::Failed(format!(
                    "host.call({name}): the arguments nest arrays and objects deeper than \
                     {MAX_JSON_DEPTH} levels"
                ))))
            }
            Err(JsonError::Invalid(error)) => {
                return Ok(Err(wit_host::CallError::Failed(format!(
                    "host.call({name}): the arguments are not valid JSON: {error}"
                ))))
            }
        };
        let call = HostCall {
            name,
            args,
            context: Arc::clone(&self.context),
        };
        Ok(Ok((function, call)))
    }
}

impl wit_modules::Host for ExecState {
    /// A dynamic `import()` nothing linked before the run: fetched like a static import
    /// (same limits, same loader, once per name), handed over as the cache's bytecode if
    /// it has it, else as source the guest compiles for this run only. A module's own
    /// imports are not linked here: the guest asks for each.
    async fn load(
        &mut self,
        importer: String,
        specifier: String,
        kind: wit_modules::ModuleKind,
    ) -> wasmtime::Result<Result<wit_modules::Module, wit_modules::LoadError>> {
        if let Some(interrupt) = self.interrupt() {
            return Err(wasmtime::Error::new(interrupt));
        }
        let Some(mut session) = self.modules.take() else {
            return Ok(Err(wit_modules::LoadError::NotFound(format!(
                "cannot import {specifier:?} from {importer:?}: modules are not available here"
            ))));
        };
        // Made here: a closure borrowing `self` would hold it across the await.
        let stopped = self.stopped();
        let kind = super::module_kind(kind);
        let fetched = session
            .fetch(
                Asker::Import,
                &self.host_caller,
                move || stopped,
                &importer,
                &specifier,
                kind,
            )
            .await;
        let reply = match fetched {
            Ok(Fetch::Known { name, .. }) => Ok(wit_modules::Module {
                name,
                kind: wit_kind(kind),
                body: None,
                links: Vec::new(),
            }),
            Ok(Fetch::New(module)) => {
                let body = match module.kind {
                    ModuleKind::Json => wit_modules::ModuleBody::Json(module.source.to_string()),
                    ModuleKind::JavaScript => match session.cached(&module).await {
                        Some(compiled) => {
                            wit_modules::ModuleBody::Bytecode(compiled.bytecode.to_vec())
                        }
                        None => wit_modules::ModuleBody::Source(module.source.to_string()),
                    },
                };
                Ok(wit_modules::Module {
                    name: module.name,
                    kind: wit_kind(module.kind),
                    body: Some(body),
                    links: Vec::new(),
                })
            }
            Err(FetchError::Interrupted(interrupt)) => {
                self.modules = Some(session);
                return Err(wasmtime::Error::new(interrupt));
            }
            Err(error @ FetchError::NotFound { .. }) => {
                Err(wit_modules::LoadError::NotFound(error.message()))
            }
            Err(error) => Err(wit_modules::LoadError::Failed(error.message())),
        };
        self.modules = Some(session);
        Ok(reply)
    }
}

fn wit_kind(kind: ModuleKind) -> wit_modules::ModuleKind {
    match kind {
        ModuleKind::JavaScript => wit_modules::ModuleKind::Javascript,
        ModuleKind::Json => wit_modules::ModuleKind::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn log_text_stays_on_one_line() {
        assert_eq!(one_line("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(
            one_line("a\nINFO forged tenant_id=other\r\n"),
            "a\\nINFO forged tenant_id=other\\r\\n"
        );
        assert_eq!(one_line("back\\slash\ttab"), "back\\\\slash\\ttab");
        assert_eq!(one_line("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(one_line("x\u{2028}y\u{85}z"), "x\\u{2028}y\\u{85}z");
    }
}
