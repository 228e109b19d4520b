//! The run's event loop: timers and Promise host calls.
//!
//! A run evaluates the script, then runs QuickJS's job queue (promise reactions). When
//! the queue is empty and the result has not settled, the loop takes one step
//! ([`turn`]): it fires the earliest timer that is due, or, when none is, asks the host
//! to wait ([`Services::wait`]) for the first of the run's Promise host calls to end or
//! for the next timer to come due, whichever is first. The guest runs nothing while it
//! waits: the wait is an async import, so the host spends no fuel and pins no thread on
//! it. Then the job queue again, and so on until the result settles or nothing is left
//! to wait for (the result then never settles, which is an error of the script).
//!
//! What is still pending when the result has settled (timers, calls in flight) is
//! dropped with the run: a request/response handler's work ends with its response.
//!
//! Timers follow the HTML Standard's timer initialization steps (§8.6): a timeout is
//! converted as a WebIDL `long` (by `timers.js`), clamped to at least 0, and to at
//! least 4 ms once timers nest more than five deep; timers due at the same time fire in
//! the order they were set; an interval is set again after its callback returns, unless
//! the callback cleared it. Time is the monotonic clock (`wasi:clocks`), so in a
//! deterministic execution, whose clocks the host makes virtual, timers fire at once, in
//! order, and the clock advances to each one's due time.
//!
//! One deliberate difference from a browser: an exception a timer callback throws and
//! does not catch ends the run with that exception (as in Node and Deno), instead of
//! being reported and ignored: a handler whose timer failed has no result to give.
//!
//! The loop's state lives here, one per run ([`begin_run`], [`end_run`]); it holds
//! persistent references to the callbacks and to the resolving functions of the calls'
//! promises, which [`end_run`] releases.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rquickjs::{Ctx, Exception, Function, Persistent, Promise, Value};

use crate::services::{self, CallError, Completion};
use crate::value::json_string;

/// Timers nested deeper than this have their timeout raised to [`NESTED_MIN_TIMEOUT`]
/// (HTML §8.6, step 5 of the timer initialization steps).
const MAX_UNCLAMPED_NESTING: u32 = 5;

/// The least timeout of a deeply nested timer (HTML §8.6).
const NESTED_MIN_TIMEOUT: Duration = Duration::from_millis(4);

thread_local! {
    static LOOP: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
}

/// A timer's place in the order they fire: its due time (since the run began), then the
/// order it was set in.
type DueKey = (Duration, u64);

struct Timer {
    callback: Persistent<Function<'static>>,
    /// `Some(timeout)` for an interval.
    repeat: Option<Duration>,
    /// Its timer nesting level (HTML §8.6).
    nesting: u32,
    due: DueKey,
}

/// The resolving functions of a Promise host call's promise.
struct Settle {
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
}

struct EventLoop {
    /// When the run began, on the monotonic clock: time zero of the run's timers.
    origin: Instant,
    /// When the run began, on the wall clock: time since the Unix epoch.
    time_origin: Duration,
    timers: HashMap<u32, Timer>,
    due: BTreeMap<DueKey, u32>,
    next_timer_id: u32,
    next_order: u64,
    /// The nesting level of the timer whose callback is running (0 outside one).
    nesting: u32,
    calls: HashMap<u32, Settle>,
}

/// Starts the loop of a run that is about to begin; the run's time starts now.
pub fn begin_run() {
    LOOP.with(|cell| {
        *cell.borrow_mut() = Some(EventLoop {
            origin: Instant::now(),
            time_origin: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            timers: HashMap::new(),
            due: BTreeMap::new(),
            next_timer_id: 0,
            next_order: 0,
            nesting: 0,
            calls: HashMap::new(),
        })
    });
}

/// Ends the run's loop: its pending timers and calls are dropped.
pub fn end_run() {
    let ended = LOOP.with(|cell| cell.borrow_mut().take());
    // Dropped outside the borrow: releasing a callback can run a finalizer.
    drop(ended);
}

/// Time since the run began (zero outside a run).
pub fn elapsed() -> Duration {
    LOOP.with(|cell| {
        cell.borrow()
            .as_ref()
            .map_or(Duration::ZERO, |event_loop| event_loop.origin.elapsed())
    })
}

/// The wall-clock time the run began at, since the Unix epoch (now, outside a run).
pub fn time_origin() -> Duration {
    LOOP.with(|cell| {
        cell.borrow().as_ref().map_or_else(
            || {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
            },
            |event_loop| event_loop.time_origin,
        )
    })
}

fn with_loop<R>(f: impl FnOnce(&mut EventLoop) -> R) -> Option<R> {
    LOOP.with(|cell| cell.borrow_mut().as_mut().map(f))
}

/// Sets a timer that calls `callback` (with no arguments) after `timeout_ms`
/// milliseconds (already converted and not negative), again every `timeout_ms` if
/// `repeat`; returns its id (positive, unique within the run). Outside a run the timer
/// never fires.
pub fn set_timer<'js>(
    ctx: &Ctx<'js>,
    callback: Function<'js>,
    timeout_ms: u32,
    repeat: bool,
) -> u32 {
    let callback = Persistent::save(ctx, callback);
    with_loop(|event_loop| {
        event_loop.next_timer_id = event_loop.next_timer_id.wrapping_add(1).max(1);
        let id = event_loop.next_timer_id;
        let nesting = event_loop.nesting;
        let mut timeout = Duration::from_millis(u64::from(timeout_ms));
        if nesting > MAX_UNCLAMPED_NESTING {
            timeout = timeout.max(NESTED_MIN_TIMEOUT);
        }
        let due = event_loop.schedule(id, timeout);
        event_loop.timers.insert(
            id,
            Timer {
                callback,
                repeat: repeat.then_some(timeout),
                nesting: nesting + 1,
                due,
            },
        );
        id
    })
    .unwrap_or(0)
}

/// Clears the timer `id`, if it is set (a timer that already fired, or an id that was
/// never given, is ignored, as the standard says).
pub fn clear_timer(id: u32) {
    let cleared = with_loop(|event_loop| {
        let timer = event_loop.timers.remove(&id)?;
        event_loop.due.remove(&timer.due);
        Some(timer)
    })
    .flatten();
    drop(cleared);
}

impl EventLoop {
    fn schedule(&mut self, id: u32, timeout: Duration) -> DueKey {
        let due = (
            self.origin.elapsed().saturating_add(timeout),
            self.next_order,
        );
        self.next_order += 1;
        self.due.insert(due, id);
        due
    }
}

/// Starts a Promise host call of `name` with `args_json`; returns its promise, which
/// resolves to the parsed result or rejects with an `Error` carrying the host's message.
pub fn start_call<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    args_json: &str,
) -> rquickjs::Result<Promise<'js>> {
    let (promise, resolve, reject) = ctx.promise()?;
    let Some(services) = services::current() else {
        return Err(Exception::throw_internal(
            ctx,
            "host services are not available",
        ));
    };
    match services.start_call(name, args_json) {
        Ok(id) => {
            let settle = Settle {
                resolve: Persistent::save(ctx, resolve),
                reject: Persistent::save(ctx, reject),
            };
            with_loop(|event_loop| event_loop.calls.insert(id, settle));
        }
        Err(error) => {
            let error = call_error(ctx, name, error)?;
            reject.call::<_, ()>((error,))?;
        }
    }
    Ok(promise)
}

/// The `Error` a failed host call gives the script.
fn call_error<'js>(ctx: &Ctx<'js>, name: &str, error: CallError) -> rquickjs::Result<Value<'js>> {
    let message = match error {
        CallError::UnknownFunction => format!("unknown host function {}", json_string(name)),
        CallError::Failed(message) => message,
    };
    Exception::from_message(ctx.clone(), &message).map(|error| error.into_value())
}

/// A timer callback (or a promise's resolving function) threw: the exception is the
/// context's pending one, for `ctx.catch()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thrown;

/// What one [`turn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// It fired a timer or settled a call: jobs may be queued.
    Progressed,
    /// Nothing is pending: there is nothing left to wait for.
    Idle,
}

/// Takes one step once the job queue is empty: fires the earliest due timer, or waits
/// for a call to end or the next timer to come due. `Err` when a timer callback threw
/// (the thrown value is the context's pending exception, for `ctx.catch()`).
pub fn turn(ctx: &Ctx<'_>) -> Result<Turn, Thrown> {
    enum Next {
        Fire(u32),
        Wait(Option<Duration>),
        Idle,
    }
    let next = with_loop(|event_loop| {
        let now = event_loop.origin.elapsed();
        match event_loop.due.first_key_value() {
            Some((&(due, _), &id)) if due <= now => Next::Fire(id),
            Some((&(due, _), _)) => Next::Wait(Some(due - now)),
            None if !event_loop.calls.is_empty() => Next::Wait(None),
            None => Next::Idle,
        }
    })
    .unwrap_or(Next::Idle);
    match next {
        Next::Idle => Ok(Turn::Idle),
        Next::Fire(id) => fire(ctx, id).map(|()| Turn::Progressed),
        Next::Wait(timeout) => {
            let Some(services) = services::current() else {
                return Ok(Turn::Idle);
            };
            match services.wait(timeout) {
                Some(completion) => settle_call(ctx, completion).map(|()| Turn::Progressed),
                // The wait ran out: the next timer is due.
                None if timeout.is_some() => Ok(Turn::Progressed),
                // The host reports no call in flight though the loop has one: nothing
                // will ever settle it.
                None => {
                    let abandoned = with_loop(|event_loop| std::mem::take(&mut event_loop.calls));
                    drop(abandoned);
                    Ok(Turn::Idle)
                }
            }
        }
    }
}

/// Runs the callback of the due timer `id` and, for an interval not cleared meanwhile,
/// sets it again.
fn fire(ctx: &Ctx<'_>, id: u32) -> Result<(), Thrown> {
    let taken = with_loop(|event_loop| {
        let timer = event_loop.timers.get(&id)?;
        let (due, callback, nesting) = (timer.due, timer.callback.clone(), timer.nesting);
        event_loop.due.remove(&due);
        if timer.repeat.is_none() {
            event_loop.timers.remove(&id);
        }
        let outer = std::mem::replace(&mut event_loop.nesting, nesting);
        Some((callback, outer, nesting))
    })
    .flatten();
    let Some((callback, outer, nesting)) = taken else {
        return Ok(());
    };
    let called = callback
        .restore(ctx)
        .and_then(|callback| callback.call::<_, ()>(()));
    with_loop(|event_loop| {
        event_loop.nesting = outer;
        let again = event_loop.timers.get(&id).and_then(|timer| timer.repeat);
        if let Some(timeout) = again {
            let timeout = if nesting > MAX_UNCLAMPED_NESTING {
                timeout.max(NESTED_MIN_TIMEOUT)
            } else {
                timeout
            };
            let due = event_loop.schedule(id, timeout);
            if let Some(timer) = event_loop.timers.get_mut(&id) {
                timer.due = due;
                timer.nesting = nesting + 1;
            }
        }
    });
    called.map_err(|_| Thrown)
}

/// Settles the promise of the call that ended.
fn settle_call(ctx: &Ctx<'_>, completion: Completion) -> Result<(), Thrown> {
    let Some(settle) = with_loop(|event_loop| event_loop.calls.remove(&completion.id)).flatten()
    else {
        return Ok(());
    };
    let settled = (|| -> rquickjs::Result<()> {
        let resolve = settle.resolve.restore(ctx)?;
        let reject = settle.reject.restore(ctx)?;
        match completion.outcome {
            Ok(json) => match crate::json::parse(ctx, &json) {
                Ok(value) => resolve.call::<_, ()>((value,)),
                Err(_) => {
                    // The host sends JSON it produced itself; if it ever did not, the
                    // promise rejects with the parser's error.
                    let thrown = ctx.catch();
                    reject.call::<_, ()>((thrown,))
                }
            },
            Err(error) => {
                let error = call_error(ctx, "", error)?;
                reject.call::<_, ()>((error,))
            }
        }
    })();
    // Calling resolving functions only queues jobs: it fails only for lack of memory,
    // which the run's classification sees.
    settled.map_err(|_| Thrown)
}
