//! [`RedisBudgetStore`]: quota windows counted in Redis, so every replica of a service
//! that points at the same Redis shares one budget per tenant (feature `redis`).

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};

use crate::tenancy::budget::{
    Admission, Budget, BudgetLimits, BudgetStore, StoreError, StoreFuture, WindowKey,
};

/// The default [`RedisBudgetStore::key_prefix`].
const DEFAULT_KEY_PREFIX: &str = "jsruntime:quota:";
/// The default [`RedisBudgetStore::connect_timeout`].
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The default [`RedisBudgetStore::response_timeout`].
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// Redis's integers are signed 64-bit: counters saturate here.
const COUNTER_MAX: u64 = i64::MAX as u64;

/// One admission, atomically: checks fuel, then executions, and counts one execution
/// only when both are below their budgets.
///
/// KEYS[1]: the window's executions counter; KEYS[2]: its fuel counter.
/// ARGV[1]: the executions budget, ARGV[2]: the fuel budget (decimal; "" means none).
/// ARGV[3]: how long a new counter is kept, in milliseconds.
/// Returns 0 (admitted), 1 (executions used up) or 2 (fuel used up).
const ADMIT_LUA: &str = r"
local function reached(counter, limit)
  if limit == '' then return false end
  local used = redis.call('GET', counter)
  if not used then used = '0' end
  -- Both are decimal integers without leading zeros: compared as text, exactly (Lua's
  -- numbers are doubles, exact only up to 2^53).
  if #used ~= #limit then return #used > #limit end
  return used >= limit
end
if reached(KEYS[2], ARGV[2]) then return 2 end
if reached(KEYS[1], ARGV[1]) then return 1 end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
";

/// Adds fuel to a window, atomically with its expiry; saturates at Redis's largest
/// integer instead of failing.
///
/// KEYS[1]: the window's fuel counter. ARGV[1]: the fuel (decimal, at most 2^63-1).
/// ARGV[2]: how long the counter is kept, in milliseconds.
const CHARGE_FUEL_LUA: &str = r"
local added = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(added) == 'table' and added.err then
  if not string.find(added.err, 'overflow') then return added end
  redis.call('SET', KEYS[1], '9223372036854775807')
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
";

/// A [`BudgetStore`] in Redis: runtimes on any number of machines that use stores
/// pointed at the same Redis (and the same [`key_prefix`](RedisBudgetStore::key_prefix))
/// share each tenant's budgets. Needs the cargo feature `redis`.
///
/// # Guarantees
///
/// - Each [`admit`](BudgetStore::admit) and [`charge_fuel`](BudgetStore::charge_fuel) is
///   one Lua script run by Redis (`EVALSHA`), so it is atomic with respect to every
///   replica: a window never admits more executions than its budget, however many
///   replicas admit at once. Its semantics are [`MemoryBudgetStore`](crate::MemoryBudgetStore)'s:
///   fuel is checked first, then executions, and a refused admission counts nothing.
/// - Every counter expires on its own ([`WindowKey::keep_for`]: the window's end plus
///   one window's length for clock skew), so Redis holds only current windows.
/// - Counters are Redis integers and saturate at `i64::MAX`; a budget above that is
///   never used up.
/// - The two counters of a window share a Redis Cluster hash tag (one slot), so the
///   layout also suits a cluster behind a proxy. The store itself talks to one server.
///
/// # When Redis is down or slow
///
/// [`new`](RedisBudgetStore::new) only parses the URL; the store connects on its first
/// operation, inside that operation's future (no thread ever blocks). An operation
/// that cannot connect within [`connect_timeout`](RedisBudgetStore::connect_timeout),
/// or whose answer takes longer than
/// [`response_timeout`](RedisBudgetStore::response_timeout), fails with a
/// [`StoreError`] that names the server: a server that accepts connections but never
/// answers costs an operation at most about `connect_timeout + response_timeout`. The
/// runtime then applies the quota's [`StoreFailure`](crate::StoreFailure). After a
/// failure the connection is dropped and the next operation connects again; operations
/// that were waiting for a connection attempt that failed share its error rather than
/// each trying again, so an outage does not turn into a storm of connects. An
/// operation that timed out waiting for its answer may still have been applied by
/// Redis: such an admission can count against the window although the store reported
/// an error (never the other way round).
///
/// # Keys
///
/// A window's counters are `{prefix}{t<length>:<tenant id>:<window ms>:<index>}:executions`
/// and `...:fuel` (`{u:<window ms>:<index>}` for requests without a tenant), so no
/// tenant id, not even the empty one or one containing `:` or braces, shares counters
/// with another tenant or with the untenanted.
///
/// # Examples
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use jsruntime::{Config, Quota, RedisBudgetStore, Runtime, StaticPolicy, TenantLimits};
///
/// // Every replica of the service runs this: their tenants' quotas are counted once.
/// let store = RedisBudgetStore::new("redis://:secret@redis.internal:6379/0")?
///     .key_prefix("billing:quota:")
///     .response_timeout(Duration::from_millis(200));
/// let policy = StaticPolicy::new(
///     TenantLimits::default().quota(Quota::per(Duration::from_secs(60)).executions(100)),
/// );
/// let runtime = Runtime::builder()
///     .config(Config::default())
///     .tenant_policy(Arc::new(policy))
///     .budget_store(Arc::new(store))
///     .build()?;
/// # drop(runtime); Ok(()) }
/// ```
pub struct RedisBudgetStore {
    client: Client,
    /// Where the server is, without credentials: for errors and `Debug`.
    server: String,
    key_prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    admit_script: Script,
    charge_fuel_script: Script,
    slot: Mutex<Slot>,
    /// Held while connecting, so one operation connects and the others wait for it.
    connecting: tokio::sync::Mutex<()>,
}

/// The shared connection and the outcome of the last attempt to make one.
#[derive(Default)]
struct Slot {
    /// The connection, and the attempt that made it (its generation).
    connection: Option<(u64, MultiplexedConnection)>,
    /// Connection attempts finished, successful or not.
    attempts: u64,
    /// Why the last attempt failed, if it did.
    last_failure: Option<StoreError>,
}

impl RedisBudgetStore {
    /// A store for the Redis at `url` (`redis://[[user]:password@]host[:port][/db]`, or
    /// `redis+unix:///path`), with the default settings. It only parses the URL: nothing
    /// connects until the first operation, so this works while Redis is down.
    ///
    /// # Errors
    ///
    /// A URL that does not parse, or that asks for something this build cannot do (such
    /// as `rediss://`, TLS, which it is not built with), is a [`StoreError`] that quotes
    /// the URL with its password hidden.
    ///
    /// # Examples
    ///
    /// ```
    /// use jsruntime::RedisBudgetStore;
    ///
    /// let store = RedisBudgetStore::new("redis://127.0.0.1:6379/").expect("a valid URL");
    /// assert!(RedisBudgetStore::new("http://:hunter2@example.com/").is_err());
    /// # drop(store);
    /// ```
    pub fn new(url: &str) -> Result<RedisBudgetStore, StoreError> {
        let client = Client::open(url).map_err(|error| {
            StoreError::new(format!("redis: invalid URL {:?}: {error}", redact_url(url)))
        })?;
        let info = client.get_connection_info();
        let server = format!("{}/{}", info.addr(), info.redis_settings().db());
        Ok(RedisBudgetStore {
            client,
            server,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            admit_script: Script::new(ADMIT_LUA),
            charge_fuel_script: Script::new(CHARGE_FUEL_LUA),
            slot: Mutex::new(Slot::default()),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// Sets the text every key starts with. Default `"jsruntime:quota:"`. Stores that
    /// share budgets must use the same prefix; give unrelated services (or tests)
    /// different ones. It should not contain `{` or `}` (they would change the keys'
    /// Redis Cluster hash tag).
    ///
    /// ```
    /// let store = jsruntime::RedisBudgetStore::new("redis://127.0.0.1/")?.key_prefix("svc-a:quota:");
    /// # drop(store); Ok::<(), jsruntime::StoreError>(())
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets how long an operation may wait to connect (TCP and Redis's handshake,
    /// including waiting for another operation's attempt). Default 1 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = jsruntime::RedisBudgetStore::new("redis://127.0.0.1/")?
    ///     .connect_timeout(Duration::from_millis(250));
    /// # drop(store); Ok::<(), jsruntime::StoreError>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self.reset();
        self
    }

    /// Sets how long an operation waits for Redis's answer once connected. Default
    /// 500 ms. The runtime also bounds each operation by the execution's deadline.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let store = jsruntime::RedisBudgetStore::new("redis://127.0.0.1/")?
    ///     .response_timeout(Duration::from_millis(100));
    /// # drop(store); Ok::<(), jsruntime::StoreError>(())
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self.reset();
        self
    }

    /// The Redis key of one of a window's counters (for tests and operators).
    #[doc(hidden)]
    pub fn key_for(&self, key: &WindowKey, which: Budget) -> String {
        counter_key(&self.key_prefix, key, which)
    }

    /// Forgets the connection (settings that apply to connections changed).
    fn reset(&mut self) {
        *self.slot.get_mut().unwrap_or_else(PoisonError::into_inner) = Slot::default();
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // Every update is a few assignments: a panic cannot leave the slot inconsistent.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn error(&self, what: &str, detail: impl fmt::Display) -> StoreError {
        StoreError::new(format!("redis at {}: {what}: {detail}", self.server))
    }

    /// The shared connection, connecting if there is none.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), StoreError> {
        let seen = {
            let slot = self.lock();
            if let Some((generation, connection)) = &slot.connection {
                return Ok((*generation, connection.clone()));
            }
            slot.attempts
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(self.error("connect", "must be polled inside a tokio runtime"));
        }
        let connect = async {
            let _one_at_a_time = self.connecting.lock().await;
            {
                let slot = self.lock();
                if let Some((generation, connection)) = &slot.connection {
                    return Ok((*generation, connection.clone()));
                }
                if slot.attempts != seen {
                    // An attempt finished while this operation waited, and failed: share
                    // its error instead of trying again at once.
                    if let Some(failure) = &slot.last_failure {
                        return Err(failure.clone());
                    }
                }
            }
            // Answers are timed by `run`, over the whole script call (which may take
            // three round trips: EVALSHA, SCRIPT LOAD, EVALSHA).
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_response_timeout(None);
            let attempt = tokio::time::timeout(
                self.connect_timeout,
                self.client
                    .get_multiplexed_async_connection_with_config(&config),
            )
            .await;
            let mut slot = self.lock();
            slot.attempts += 1;
            let generation = slot.attempts;
            match attempt {
                Ok(Ok(connection)) => {
                    slot.connection = Some((generation, connection.clone()));
                    slot.last_failure = None;
                    Ok((generation, connection))
                }
                Ok(Err(error)) => {
                    let failure = self.error("connect", error);
                    slot.last_failure = Some(failure.clone());
                    Err(failure)
                }
                Err(_elapsed) => {
                    let failure = self.error(
                        "connect",
                        format_args!("no connection within {:?}", self.connect_timeout),
                    );
                    slot.last_failure = Some(failure.clone());
                    Err(failure)
                }
            }
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_elapsed) => Err(self.error(
                "connect",
                format_args!("no connection within {:?}", self.connect_timeout),
            )),
        }
    }

    /// Drops the connection of `generation` if it is still the current one.
    fn forget(&self, generation: u64) {
        let mut slot = self.lock();
        if slot
            .connection
            .as_ref()
            .is_some_and(|(current, _)| *current == generation)
        {
            slot.connection = None;
        }
    }

    /// Runs one script and reads its integer answer, within the response timeout.
    async fn run(
        &self,
        what: &str,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<i64, StoreError> {
        let (generation, mut connection) = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let answer = tokio::time::timeout(
            self.response_timeout,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                // A server's error reply leaves the connection sound; anything else
                // (I/O, a dropped connection, a timeout) means a new one.
                if !matches!(error.kind(), redis::ErrorKind::Server(_)) {
                    self.forget(generation);
                }
                Err(self.error(what, error))
            }
            Err(_elapsed) => {
                self.forget(generation);
                Err(self.error(
                    what,
                    format_args!("no answer within {:?}", self.response_timeout),
                ))
            }
        }
    }
}

impl BudgetStore for RedisBudgetStore {
    fn admit<'a>(&'a self, key: &'a WindowKey, limits: BudgetLimits) -> StoreFuture<'a, Admission> {
        Box::pin(async move {
            let executions = self.key_for(key, Budget::Executions);
            let fuel = self.key_for(key, Budget::Fuel);
            let limit = |budget: Option<u64>| budget.map(|n| n.to_string()).unwrap_or_default();
            let keep_ms = keep_ms(key);
            let answer = self
                .run(
                    "admit",
                    &self.admit_script,
                    &[&executions, &fuel],
                    &[&limit(limits.executions), &limit(limits.fuel), &keep_ms],
                )
                .await?;
            match answer {
                0 => Ok(Admission::Admitted),
                1 => Ok(Admission::Exhausted(Budget::Executions)),
                2 => Ok(Admission::Exhausted(Budget::Fuel)),
                other => Err(self.error("admit", format_args!("unexpected answer {other}"))),
            }
        })
    }

    fn charge_fuel<'a>(&'a self, key: &'a WindowKey, fuel: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let counter = self.key_for(key, Budget::Fuel);
            let fuel = fuel.min(COUNTER_MAX).to_string();
            self.run(
                "charge fuel",
                &self.charge_fuel_script,
                &[&counter],
                &[&fuel, &keep_ms(key)],
            )
            .await
            .map(drop)
        })
    }
}

impl fmt::Debug for RedisBudgetStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redis = self.client.get_connection_info().redis_settings();
        f.debug_struct("RedisBudgetStore")
            .field("server", &self.server)
            .field("username", &redis.username())
            .field(
                "password",
                &redis.password().map(|_| format_args!("<hidden>")),
            )
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("connected", &self.lock().connection.is_some())
            .finish()
    }
}

/// How long a window's counter is kept from now, in milliseconds (at least 1: 0 would
/// delete it).
fn keep_ms(key: &WindowKey) -> String {
    let keep = key.keep_for(SystemTime::now()).as_millis().max(1);
    u64::try_from(keep).unwrap_or(u64::MAX).to_string()
}

/// `prefix{<tenant>:<window ms>:<index>}:<budget>`, where `<tenant>` is `u` for none and
/// `t<byte length>:<id>` for an id: the length makes the encoding injective whatever the
/// id holds, and `u` never starts an encoded id.
fn counter_key(prefix: &str, key: &WindowKey, which: Budget) -> String {
    let tenant = match &key.tenant {
        None => "u".to_owned(),
        Some(id) => format!("t{}:{id}", id.len()),
    };
    format!(
        "{prefix}{{{tenant}:{}:{}}}:{}",
        key.window_ms,
        key.index,
        which.as_str()
    )
}

/// `url` with the password of its user info and any query (`?password=...`) hidden.
fn redact_url(url: &str) -> String {
    let (url, had_query) = match url.split_once('?') {
        Some((before, _)) => (before, true),
        None => (url, false),
    };
    let mut redacted = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = user_info
                        .split_once(':')
                        .map_or(user_info, |(user, _)| user);
                    let hidden = if user_info.contains(':') { ":***" } else { "" };
                    format!("{scheme}://{user}{hidden}@{host}{path}")
                }
                None => format!("{scheme}://{rest}"),
            }
        }
        // Not a URL at all: it might be anything, a password included.
        None => "<not a URL>".to_owned(),
    };
    if had_query {
        redacted.push_str("?***");
    }
    redacted
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;

    fn window(tenant: Option<&str>, window_ms: u64, index: u64) -> WindowKey {
        WindowKey {
            tenant: tenant.map(Arc::from),
            window_ms,
            index,
        }
    }

    /// The hash tag Redis Cluster places a key by: between the first `{` and the first
    /// `}` after it, if not empty.
    fn hash_tag(key: &str) -> &str {
        if let Some(open) = key.find('{') {
            if let Some(len) = key[open + 1..].find('}') {
                if len > 0 {
                    return &key[open + 1..open + 1 + len];
                }
            }
        }
        key
    }

    #[test]
    fn keys_name_the_tenant_the_window_and_the_budget() {
        let key = window(Some("acme"), 60_000, 29_000_000);
        assert_eq!(
            counter_key("jsruntime:quota:", &key, Budget::Executions),
            "jsruntime:quota:{t4:acme:60000:29000000}:executions"
        );
        assert_eq!(
            counter_key("p:", &window(None, 1000, 7), Budget::Fuel),
            "p:{u:1000:7}:fuel"
        );
    }

    #[test]
    fn no_tenant_id_shares_keys_with_another_or_with_the_untenanted() {
        let tenants = [
            None,
            Some(""),
            Some("u"),
            Some("t"),
            Some("t0:"),
            Some(":"),
            Some("a:1"),
            Some("a"),
            Some("a:1:2"),
            Some("1:a"),
            Some("u:1000:7"),
            Some("}"),
            Some("{x}"),
            Some("é"),
        ];
        let mut seen = HashSet::new();
        for tenant in tenants {
            for (window_ms, index) in [(1000, 7), (1, 7), (10, 0), (100, 17), (1000, 1), (1, 1000)]
            {
                let key = window(tenant, window_ms, index);
                for which in [Budget::Executions, Budget::Fuel] {
                    let encoded = counter_key("p:", &key, which);
                    assert!(
                        seen.insert(encoded.clone()),
                        "{encoded} encodes two windows"
                    );
                }
            }
        }
    }

    #[test]
    fn both_counters_of_a_window_share_a_hash_tag() {
        for tenant in [None, Some(""), Some("acme"), Some("a}b"), Some("{")] {
            let key = window(tenant, 60_000, 5);
            let executions = counter_key("jsruntime:quota:", &key, Budget::Executions);
            let fuel = counter_key("jsruntime:quota:", &key, Budget::Fuel);
            assert_eq!(hash_tag(&executions), hash_tag(&fuel), "{executions}");
            assert_ne!(hash_tag(&executions), executions, "{executions} has a tag");
        }
        // Different windows of one tenant spread over slots.
        let a = counter_key("p:", &window(Some("x"), 1000, 1), Budget::Fuel);
        let b = counter_key("p:", &window(Some("x"), 1000, 2), Budget::Fuel);
        assert_ne!(hash_tag(&a), hash_tag(&b));
    }

    #[test]
    fn bad_urls_are_refused_with_the_password_hidden() {
        let error = RedisBudgetStore::new("http://user:hunter2@example.com:6379/?x=1")
            .expect_err("not a redis URL");
        assert!(error.message().contains("invalid URL"), "{error}");
        assert!(error.message().contains("example.com"), "{error}");
        assert!(!error.message().contains("hunter2"), "{error}");
        let error = RedisBudgetStore::new("hunter2").expect_err("not a URL");
        assert!(!error.message().contains("hunter2"), "{error}");
        let error = RedisBudgetStore::new("redis://127.0.0.1:6379/0?password=hunter2&db=x")
            .map(drop)
            .err();
        if let Some(error) = error {
            assert!(!error.message().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn redacted_urls_keep_everything_but_secrets() {
        assert_eq!(redact_url("redis://:pw@host:1/2"), "redis://:***@host:1/2");
        assert_eq!(redact_url("redis://me:p@w:d@host/"), "redis://me:***@host/");
        assert_eq!(redact_url("redis://me@host"), "redis://me@host");
        assert_eq!(redact_url("redis://host/0?pass=x"), "redis://host/0?***");
    }

    #[test]
    fn debug_shows_the_server_but_not_the_password() {
        let store = RedisBudgetStore::new("redis://alice:hunter2@127.0.0.1:6399/3")
            .expect("valid")
            .key_prefix("svc:");
        let debug = format!("{store:?}");
        assert!(debug.contains("127.0.0.1:6399/3"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(debug.contains("svc:"), "{debug}");
        assert!(debug.contains("<hidden>"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn the_defaults_are_documented_ones() {
        let store = RedisBudgetStore::new("redis://127.0.0.1/").expect("valid");
        assert_eq!(store.key_prefix, "jsruntime:quota:");
        assert_eq!(store.connect_timeout, Duration::from_secs(1));
        assert_eq!(store.response_timeout, Duration::from_millis(500));
    }

    #[test]
    fn counters_are_kept_for_the_rest_of_the_window_and_one_more() {
        let quota = crate::Quota::per(Duration::from_secs(10));
        let key = WindowKey::at(None, &quota, SystemTime::now());
        let keep: u64 = keep_ms(&key).parse().expect("a number");
        assert!((10_000..=20_000).contains(&keep), "{keep}");
    }
}
