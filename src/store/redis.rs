//! A [`ClickStore`] in Redis, so that many tracker nodes share their clicks and count each
//! conversion once across all of them (feature `redis`).
//!
//! Redis already is the distributed part: one server (or a replicated, persisted one, or
//! Valkey) holds the clicks, and a short Lua script makes the compare-and-set atomic on the
//! server. The tracker's rules stay in Rust ([`decide`](crate::tracker::decide)); this module
//! only stores and swaps.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use ::redis::{Client, Connection, ErrorKind, RedisError, RetryMethod, Script};
use time::OffsetDateTime;

use super::{
    Change, Click, ClickStore, Commit, Conversion, ConversionKey, HistoryEntry, Inserted, Standing,
    StoredClick, Version,
};
use crate::click_id::ClickId;
use crate::money::Currency;
use crate::status::ConversionState;

/// Inserts a click unless its key exists. KEYS[1]: the key. ARGV: click time, TTL in ms,
/// and the encoded attributes when there are any.
const INSERT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[3] then
  redis.call('HSET', KEYS[1], 'v', '0', 'at', ARGV[1], 'a', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'v', '0', 'at', ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// The compare-and-set. KEYS[1]: the key. ARGV: expected version, `r` (record) or `u`
/// (update), state field, history field, new state field value, history to append, for an
/// update the state letter the conversion must still have (else empty), the signed-timestamp
/// field, and its new value (empty: none, so the field is removed). Answers 1 if applied, 0 if
/// not. The state, the history and the timestamp are written together or not at all.
const COMMIT_SCRIPT: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if v ~= ARGV[1] then return 0 end
local head = redis.call('HGET', KEYS[1], ARGV[3])
local history = ''
if ARGV[2] == 'r' then
  if head then return 0 end
else
  if not head or string.sub(head, 1, 1) ~= ARGV[7] then return 0 end
  history = redis.call('HGET', KEYS[1], ARGV[4]) or ''
end
if ARGV[9] == '' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[5], ARGV[4], history .. ARGV[6])
  redis.call('HDEL', KEYS[1], ARGV[8])
else
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[5], ARGV[4], history .. ARGV[6], ARGV[8], ARGV[9])
end
redis.call('HINCRBY', KEYS[1], 'v', 1)
return 1
";

/// A [`ClickStore`] in Redis: one hash per click, compare-and-set by a server-side script, a
/// fixed pool of connections (feature `redis`).
///
/// # Settings
///
/// - **Concurrency**: [`with_pool_size`](Self::with_pool_size) connections (8 by default),
///   each used by one call at a time; a call takes a free one, and waits only when all are busy.
///   Connections open on first use and reopen after a failure.
/// - **Retention**: each click expires [`with_retention`](Self::with_retention) after its
///   insert (90 days by default), with its conversions.
/// - **Failures**: every call has a timeout ([`with_timeout`](Self::with_timeout), 1 s by
///   default, on connect, each read and each write) and is retried on a fresh connection
///   [`with_retries`](Self::with_retries) times (2 by default) before it fails.
///
/// # Layout
///
/// A click is one hash, at `<prefix>:{<id>}`, that expires after the retention window:
///
/// | field | value |
/// |---|---|
/// | `v` | the click's version, an integer the commit script increments |
/// | `at` | the click time, Unix nanoseconds |
/// | `a` | campaign, source, offer and sub values, length-prefixed (only if any) |
/// | `s<kind><name>` | one per conversion: its state letter, payout and currency (`a12.50\|USD`) |
/// | `h<kind><name>` | its history: the version it was recorded at, then one entry per postback |
/// | `t<kind><name>` | the newest signed timestamp applied to it, Unix seconds (only once a signed postback set one) |
///
/// `<kind>` is `t` for a conversion named by a transaction id and `e` for one named by an
/// event (the empty event is the default conversion). Values are length-prefixed
/// (`5:hello`) rather than JSON: no extra dependency, any byte in a status word or sub value
/// survives, and the script only ever reads the first byte of a state field.
///
/// The signed timestamp has a field of its own, so a node that predates it reads the other
/// fields as before.
///
/// So a postback costs **two round trips** when it records or updates a conversion (`HMGET`
/// of four fields, then `EVALSHA` of the commit script) and **one** when it is a duplicate or
/// is refused (only the `HMGET`); a click costs one (`EVALSHA` of the insert script).
///
/// Ids of [`ClickId`]'s shape are stored in their canonical lowercase text, so they match in
/// either case as in [`MemoryStore`](super::MemoryStore); other ids are used byte for byte.
///
/// # Atomicity, retries and replays
///
/// `commit` runs one script that reads `v`, compares it with the version the tracker loaded,
/// checks the conversion (absent for a record, in the expected state for an update), writes
/// its state, history and signed timestamp, and increments `v`. Redis runs a script to the end before any other command, so two nodes
/// racing on one click cannot both apply: the second sees a new version and gets
/// [`Commit::Conflict`]. `insert` is a script too: it writes nothing when the key exists.
///
/// Broken connections are dropped and the command is retried on a fresh one, a bounded number
/// of times ([`RedisStore::with_retries`]), with a short backoff; then the call fails with a
/// [`RedisStoreError`], which the tracker answers with 503 so the network retries later.
///
/// A retried command can reach the server twice: the reply to the first may be what was lost.
/// That is safe by construction. A replayed `commit` carries the version the first one
/// expected; if the first applied, the version has moved on and the replay is a
/// [`Commit::Conflict`], so the tracker reloads, finds the conversion already recorded and
/// answers `duplicate` (counted once, reported as a duplicate). A replayed `insert` finds the
/// key and writes nothing. Reads have no effect to repeat.
///
/// # Durability: what to configure
///
/// The store counts a conversion once *as long as Redis keeps what it acknowledged*. A
/// restarted Redis that lost the last second of writes forgets conversions it confirmed (a
/// later retry of the same postback is then recorded again; a postback the network will not
/// resend is lost) and clicks (their conversions become `click_not_found`). Redis' defaults
/// do not persist every write, so choose:
///
/// - `appendonly yes` with `appendfsync always`: every write is in the append-only file before
///   it is acknowledged. Nothing acknowledged is lost on a crash or power cut; each write waits
///   for an fsync (on an SSD, well under a millisecond: fine for postback rates). **Recommended
///   when the conversions are billed.**
/// - `appendonly yes` with `appendfsync everysec` (Redis' AOF default): a crash of the process
///   loses nothing (the data is in the OS), but a power cut or kernel crash loses up to about a
///   second of writes. A fair trade when a second of clicks and conversions may be lost.
/// - RDB snapshots only (`save …`, `appendonly no`): a crash loses everything since the last
///   snapshot, minutes of conversions. Not suitable as the only copy.
///
/// Also set `maxmemory-policy noeviction` (or `volatile-ttl`, which evicts the oldest clicks
/// first): with an `allkeys-*` or `volatile-lru` policy, a full Redis silently drops live
/// clicks, and their conversions become "click not found". With `noeviction` a full Redis
/// refuses the insert, an error the caller sees at click time. Replicas (and Sentinel
/// failover) copy asynchronously: a failover can lose the writes the old primary had not yet
/// sent; `WAIT` is not used here.
///
/// # Redis Cluster
///
/// Every command touches one key, and the id part of a key is a hash tag (`{…}`), so a click
/// and anything stored next to it later share one slot. This store's connections talk to one
/// server (or a proxy that routes by key); a cluster-aware connection is not built in yet.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use postback::{Click, ClickId, Parser, RedisStore, Tracker};
///
/// let store = RedisStore::open("redis://127.0.0.1:6379/")?
///     .with_key_prefix("tracker-eu")?
///     .with_retention(Duration::from_secs(60 * 24 * 60 * 60))
///     .with_pool_size(16)
///     .with_timeout(Duration::from_millis(500));
/// store.ping()?; // fail at startup, not at the first postback
/// let tracker = Tracker::new(store, Parser::generic());
/// tracker.record_click(Click::from_id(ClickId::generate()))?;
/// # Ok::<(), postback::RedisStoreError>(())
/// ```
#[allow(
    clippy::struct_field_names,
    reason = "`retention`, `retries` and `timeout` read better than shortened names"
)]
pub struct RedisStore {
    client: Client,
    pool: Box<[Mutex<Option<Connection>>]>,
    next: AtomicUsize,
    prefix: Box<str>,
    retention: Duration,
    timeout: Duration,
    retries: u32,
    insert_script: Script,
    commit_script: Script,
}

/// What goes wrong in a [`RedisStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The connection URL could not be used.
    #[error("invalid redis url: {source}")]
    #[non_exhaustive]
    Url {
        /// Why the client refused it.
        source: RedisError,
    },
    /// The key prefix cannot be used.
    #[error("invalid redis key prefix {prefix:?}: {reason}")]
    #[non_exhaustive]
    Prefix {
        /// The prefix given.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A command failed, after its retries if the failure was worth retrying.
    #[error("redis {command} failed after {attempts} attempt(s): {source}")]
    #[non_exhaustive]
    Command {
        /// The store operation: `insert`, `load`, `commit`, `click`, `conversions` or `ping`.
        command: &'static str,
        /// How many times it was sent.
        attempts: u32,
        /// The last error.
        source: RedisError,
    },
    /// A key holds a value this store cannot read: written by something else, or a bug.
    #[error("redis key {key:?} has an unreadable {field}")]
    #[non_exhaustive]
    Corrupt {
        /// The key.
        key: String,
        /// Which part: `version`, `click time`, `attributes`, `conversion`, `history` or
        /// `signed timestamp`.
        field: &'static str,
    },
}

impl RedisStore {
    /// Default key prefix.
    pub const DEFAULT_PREFIX: &'static str = "postback";
    /// Default retention: 90 days, as [`MemoryStore`](super::MemoryStore).
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 60 * 60);
    /// Default number of connections.
    pub const DEFAULT_POOL_SIZE: usize = 8;
    /// Default timeout for connecting, and for each read and write.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default number of retries after a failed attempt.
    pub const DEFAULT_RETRIES: u32 = 2;
    /// The longest key prefix, in bytes.
    pub const MAX_PREFIX_LEN: usize = 64;

    /// A store on the Redis server at `url` (`redis://[user:password@]host:port/db`, or
    /// `redis+unix:///path`), with the default settings. Does not connect: the first call does
    /// (or [`RedisStore::ping`]).
    ///
    /// # Errors
    ///
    /// [`RedisStoreError::Url`] for a URL the client cannot use: `http://host/`, a `rediss://`
    /// URL (TLS is not built in), a port out of range.
    pub fn open(url: &str) -> Result<Self, RedisStoreError> {
        let client = Client::open(url).map_err(|source| RedisStoreError::Url { source })?;
        Ok(Self {
            client,
            pool: pool(Self::DEFAULT_POOL_SIZE),
            next: AtomicUsize::new(0),
            prefix: Self::DEFAULT_PREFIX.into(),
            retention: Self::DEFAULT_RETENTION,
            timeout: Self::DEFAULT_TIMEOUT,
            retries: Self::DEFAULT_RETRIES,
            insert_script: Script::new(INSERT_SCRIPT),
            commit_script: Script::new(COMMIT_SCRIPT),
        })
    }

    /// Sets the prefix of every key (`<prefix>:{<id>}`), so that several trackers, or a
    /// tracker and other data, share one Redis.
    ///
    /// # Errors
    ///
    /// [`RedisStoreError::Prefix`] when the prefix is longer than [`Self::MAX_PREFIX_LEN`]
    /// bytes, has a control character, or has a `{` or `}` (which would move the hash tag off
    /// the click id: `clicks{eu}`).
    pub fn with_key_prefix(mut self, prefix: &str) -> Result<Self, RedisStoreError> {
        let reason = if prefix.len() > Self::MAX_PREFIX_LEN {
            Some("longer than 64 bytes")
        } else if prefix.contains(['{', '}']) {
            Some("a brace would change the cluster hash tag")
        } else if prefix.bytes().any(|b| b.is_ascii_control()) {
            Some("control character")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(RedisStoreError::Prefix {
                prefix: prefix.to_owned(),
                reason,
            });
        }
        self.prefix = prefix.into();
        Ok(self)
    }

    /// Sets how long a click is kept after its insert (at least a millisecond). Clicks already
    /// stored keep their expiry.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention.max(Duration::from_millis(1));
        self
    }

    /// Sets the number of connections (1 to 1024): about the number of threads that call the
    /// store at once. Closes the open ones.
    #[must_use]
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool = pool(size);
        self
    }

    /// Sets the timeout for connecting and for each read and write (at least a millisecond).
    /// Applies to connections opened from now on.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Sets how many times a failed command is sent again on a fresh connection before the
    /// call fails (0: never). The worst-case time of a call is about
    /// `(retries + 1) × 2 × timeout` plus a backoff of 20 ms, 40 ms, 80 ms… between attempts.
    #[must_use]
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The key prefix.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// How long a click is kept after its insert.
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// The number of connections.
    #[must_use]
    pub fn pool_size(&self) -> usize {
        self.pool.len()
    }

    /// The timeout for connecting, and for each read and write.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many times a failed command is retried.
    #[must_use]
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The Redis key of a click, for operators: `<prefix>:{<id>}`, the id in canonical
    /// lowercase if it has [`ClickId`]'s shape.
    ///
    /// ```
    /// # fn main() -> Result<(), postback::RedisStoreError> {
    /// let store = postback::RedisStore::open("redis://127.0.0.1/")?.with_key_prefix("pb")?;
    /// assert_eq!(store.key("abc-42"), "pb:{abc-42}");
    /// assert_eq!(store.key("01JDEJYJ00000000000000001A"), "pb:{01jdejyj00000000000000001a}");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn key(&self, click_id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + click_id.len() + 3);
        key.push_str(&self.prefix);
        key.push_str(":{");
        match canonical_click_id(click_id) {
            Some(id) => key.push_str(id.encode().as_str()),
            None => key.push_str(click_id),
        }
        key.push('}');
        key
    }

    /// Checks that the server answers, opening a connection if none is open.
    ///
    /// # Errors
    ///
    /// [`RedisStoreError::Command`] when the server is down, unreachable, refuses the
    /// password, or does not answer within the timeout (after the retries).
    pub fn ping(&self) -> Result<(), RedisStoreError> {
        self.run("ping", |con| ::redis::cmd("PING").query::<String>(con))
            .map(drop)
    }

    /// Runs `f` on a pooled connection, reconnecting and retrying as configured.
    fn run<T>(
        &self,
        command: &'static str,
        mut f: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, RedisStoreError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut slot = self.slot();
            let result = match self.connection(&mut slot) {
                Ok(con) => f(con),
                Err(err) => Err(err),
            };
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            // A server's error reply leaves the connection in step; anything else (a reset,
            // a timeout with the reply still on its way) may not.
            if !matches!(err.kind(), ErrorKind::Server(_)) {
                *slot = None;
            }
            drop(slot);
            let retry = matches!(
                err.retry_method(),
                RetryMethod::Reconnect
                    | RetryMethod::ReconnectFromInitialConnections
                    | RetryMethod::RetryImmediately
                    | RetryMethod::WaitAndRetry
                    | RetryMethod::RefreshSlotsAndRetry
            );
            if !retry || attempts > self.retries {
                return Err(RedisStoreError::Command {
                    command,
                    attempts,
                    source: err,
                });
            }
            std::thread::sleep(Duration::from_millis(10 << attempts.min(6)));
        }
    }

    /// A free connection slot, or the next one in turn if all are busy.
    fn slot(&self) -> MutexGuard<'_, Option<Connection>> {
        let len = self.pool.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..len {
            if let Some(slot) = self.pool.get((start.wrapping_add(offset)) % len) {
                match slot.try_lock() {
                    Ok(guard) => return guard,
                    Err(TryLockError::Poisoned(poisoned)) => return unpoison(poisoned),
                    Err(TryLockError::WouldBlock) => {}
                }
            }
        }
        // In bounds: `pool` never makes an empty pool, and the index is reduced modulo its length.
        self.pool[start % len].lock().unwrap_or_else(unpoison)
    }

    fn connection<'s>(
        &self,
        slot: &'s mut Option<Connection>,
    ) -> Result<&'s mut Connection, RedisError> {
        if let Some(con) = slot {
            return Ok(con);
        }
        let con = self.client.get_connection_with_timeout(self.timeout)?;
        con.set_read_timeout(Some(self.timeout))?;
        con.set_write_timeout(Some(self.timeout))?;
        Ok(slot.insert(con))
    }

    fn retention_ms(&self) -> u64 {
        u64::try_from(self.retention.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, i64::MAX as u64)
    }
}

/// A poisoned slot: a call panicked mid-command, so its connection may be out of step.
fn unpoison(
    poisoned: PoisonError<MutexGuard<'_, Option<Connection>>>,
) -> MutexGuard<'_, Option<Connection>> {
    let mut guard = poisoned.into_inner();
    *guard = None;
    guard
}

fn pool(size: usize) -> Box<[Mutex<Option<Connection>>]> {
    (0..size.clamp(1, 1024)).map(|_| Mutex::new(None)).collect()
}

fn canonical_click_id(id: &str) -> Option<ClickId> {
    if id.len() == ClickId::LENGTH {
        ClickId::parse(id).ok()
    } else {
        None
    }
}

impl fmt::Debug for RedisStore {
    /// Leaves out the URL: it may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("retention", &self.retention)
            .field("pool_size", &self.pool.len())
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl ClickStore for RedisStore {
    type Error = RedisStoreError;

    fn insert(&self, click: Click) -> Result<Inserted, Self::Error> {
        let key = self.key(click.id());
        let at = click.at().unix_timestamp_nanos().to_string();
        let attrs = encode_attrs(&click);
        let ttl = self.retention_ms();
        let created: i64 = self.run("insert", |con| {
            let mut call = self.insert_script.key(&key);
            call.arg(&at).arg(ttl);
            if let Some(attrs) = &attrs {
                call.arg(attrs);
            }
            call.invoke(con)
        })?;
        Ok(if created == 1 {
            Inserted::New
        } else {
            Inserted::AlreadyExists
        })
    }

    fn load(
        &self,
        click_id: &str,
        key: &ConversionKey<'_>,
    ) -> Result<Option<StoredClick>, Self::Error> {
        let redis_key = self.key(click_id);
        let head_field = field('s', key);
        let signed_field = field('t', key);
        let (version, at, head, signed_at): Fields4 = self.run("load", |con| {
            ::redis::cmd("HMGET")
                .arg(&redis_key)
                .arg("v")
                .arg("at")
                .arg(&head_field)
                .arg(&signed_field)
                .query(con)
        })?;
        let Some(version) = version else {
            return Ok(None);
        };
        let corrupt = |field| RedisStoreError::Corrupt {
            key: redis_key.clone(),
            field,
        };
        let version = version.parse::<u64>().map_err(|_| corrupt("version"))?;
        let clicked_at = at
            .as_deref()
            .and_then(decode_time)
            .ok_or_else(|| corrupt("click time"))?;
        let conversion = match head {
            Some(head) => Some(decode_head(&head).ok_or_else(|| corrupt("conversion"))?),
            None => None,
        };
        let signed_at = decode_signed_at(signed_at.as_deref())
            .map_err(|Unreadable| corrupt("signed timestamp"))?;
        Ok(Some(StoredClick {
            version: Version::new(version),
            clicked_at,
            conversion,
            signed_at,
        }))
    }

    fn commit(
        &self,
        click_id: &str,
        expected: Version,
        change: &Change<'_>,
    ) -> Result<Commit, Self::Error> {
        let redis_key = self.key(click_id);
        let data = change.data();
        let state_field = field('s', change.key());
        let history_field = field('h', change.key());
        let signed_field = field('t', change.key());
        let signed_at = data.signed_at.map(|at| at.to_string()).unwrap_or_default();
        let head = encode_head(&data.standing);
        let mut history = String::new();
        let (mode, from) = match change {
            Change::Record { .. } => {
                // The version a conversion was recorded at orders conversions: it is unique
                // per click and grows with every commit.
                put(&mut history, &expected.get().to_string());
                ("r", "")
            }
            Change::Update { from, .. } => ("u", state_letter(*from)),
        };
        encode_entry(&mut history, &HistoryEntry::from(data));
        let expected = expected.get().to_string();
        let applied: i64 = self.run("commit", |con| {
            self.commit_script
                .key(&redis_key)
                .arg(&expected)
                .arg(mode)
                .arg(&state_field)
                .arg(&history_field)
                .arg(&head)
                .arg(&history)
                .arg(from)
                .arg(&signed_field)
                .arg(&signed_at)
                .invoke(con)
        })?;
        Ok(if applied == 1 {
            Commit::Applied
        } else {
            Commit::Conflict
        })
    }

    fn click(&self, click_id: &str) -> Result<Option<Click>, Self::Error> {
        let redis_key = self.key(click_id);
        let (at, attrs): (Option<String>, Option<String>) = self.run("click", |con| {
            ::redis::cmd("HMGET")
                .arg(&redis_key)
                .arg("at")
                .arg("a")
                .query(con)
        })?;
        let Some(at) = at else {
            return Ok(None);
        };
        let corrupt = |field| RedisStoreError::Corrupt {
            key: redis_key.clone(),
            field,
        };
        let at = decode_time(&at).ok_or_else(|| corrupt("click time"))?;
        let id = match canonical_click_id(click_id) {
            Some(id) => Click::new(id.encode().as_str(), at),
            None => Click::new(click_id, at),
        };
        let mut click = id.map_err(|_| corrupt("click id"))?;
        if let Some(attrs) = attrs {
            click = decode_attrs(click, &attrs).ok_or_else(|| corrupt("attributes"))?;
        }
        Ok(Some(click))
    }

    fn conversions(&self, click_id: &str) -> Result<Vec<Conversion>, Self::Error> {
        let redis_key = self.key(click_id);
        let fields: Vec<(String, String)> = self.run("conversions", |con| {
            ::redis::cmd("HGETALL").arg(&redis_key).query(con)
        })?;
        let corrupt = |field| RedisStoreError::Corrupt {
            key: redis_key.clone(),
            field,
        };
        let mut found = Vec::new();
        for (name, head) in &fields {
            let Some(rest) = name.strip_prefix('s') else {
                continue;
            };
            let key = decode_key(rest).ok_or_else(|| corrupt("conversion"))?;
            let standing = decode_head(head).ok_or_else(|| corrupt("conversion"))?;
            let history_name = format!("h{rest}");
            let history = fields
                .iter()
                .find(|(n, _)| *n == history_name)
                .map(|(_, h)| h.as_str())
                .ok_or_else(|| corrupt("history"))?;
            let (order, history) = decode_history(history).ok_or_else(|| corrupt("history"))?;
            let signed_name = format!("t{rest}");
            let signed_at = fields
                .iter()
                .find(|(n, _)| *n == signed_name)
                .map(|(_, at)| at.as_str());
            let signed_at =
                decode_signed_at(signed_at).map_err(|Unreadable| corrupt("signed timestamp"))?;
            found.push((
                order,
                Conversion {
                    key,
                    standing,
                    signed_at,
                    history,
                },
            ));
        }
        found.sort_by_key(|(order, _)| *order);
        Ok(found.into_iter().map(|(_, c)| c).collect())
    }
}

/// The four fields a load reads: version, click time, conversion, signed timestamp.
type Fields4 = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// `s`, `h` or `t`, the kind letter, the name.
fn field(prefix: char, key: &ConversionKey<'_>) -> String {
    let (kind, name) = match key {
        ConversionKey::Transaction(name) => ('t', name),
        ConversionKey::Event(name) => ('e', name),
    };
    let mut field = String::with_capacity(name.len() + 2);
    field.push(prefix);
    field.push(kind);
    field.push_str(name);
    field
}

fn decode_key(kind_and_name: &str) -> Option<ConversionKey<'static>> {
    if let Some(name) = kind_and_name.strip_prefix('t') {
        Some(ConversionKey::Transaction(name.to_owned().into()))
    } else {
        kind_and_name
            .strip_prefix('e')
            .map(|name| ConversionKey::Event(name.to_owned().into()))
    }
}

fn state_letter(state: ConversionState) -> &'static str {
    match state {
        ConversionState::Pending => "p",
        ConversionState::Approved => "a",
        ConversionState::Rejected => "r",
        ConversionState::Reversed => "v",
    }
}

fn state_of_letter(letter: &str) -> Option<ConversionState> {
    ConversionState::ALL
        .into_iter()
        .find(|s| state_letter(*s) == letter)
}

/// `<state letter><payout>|<currency>`, either side of the bar empty when absent.
fn encode_head(standing: &Standing) -> String {
    let mut head = String::from(state_letter(standing.state));
    if let Some(payout) = standing.payout {
        let _ = write!(head, "{payout}");
    }
    head.push('|');
    if let Some(currency) = standing.currency {
        head.push_str(currency.as_str());
    }
    head
}

fn decode_head(head: &str) -> Option<Standing> {
    let state = state_of_letter(head.get(..1)?)?;
    let (payout, currency) = head.get(1..)?.split_once('|')?;
    Some(Standing {
        state,
        payout: optional(payout).ok()?,
        currency: optional(currency).ok()?,
    })
}

/// A stored value that does not decode; the caller names the key and field.
struct Unreadable;

/// Empty is `None`; anything else must parse.
fn optional<T: std::str::FromStr>(text: &str) -> Result<Option<T>, Unreadable> {
    if text.is_empty() {
        Ok(None)
    } else {
        text.parse().map(Some).map_err(|_| Unreadable)
    }
}

/// A signed-timestamp field: absent is none, else decimal Unix seconds.
fn decode_signed_at(field: Option<&str>) -> Result<Option<i64>, Unreadable> {
    match field {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| Unreadable),
    }
}

fn decode_time(nanos: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()
}

/// Appends one length-prefixed item: `<byte length>:<text>`.
fn put(out: &mut String, item: &str) {
    let _ = write!(out, "{}:{item}", item.len());
}

/// Appends an optional item: `-` for none, `+` and the text for some.
fn put_optional(out: &mut String, item: Option<&str>) {
    match item {
        Some(text) => {
            let _ = write!(out, "{}:+{text}", text.len() + 1);
        }
        None => out.push_str("1:-"),
    }
}

/// Reads length-prefixed items.
struct Items<'a>(&'a str);

impl<'a> Items<'a> {
    fn next_item(&mut self) -> Option<&'a str> {
        let (len, rest) = self.0.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let item = rest.get(..len)?;
        self.0 = rest.get(len..)?;
        Some(item)
    }

    fn next_optional(&mut self) -> Result<Option<&'a str>, Unreadable> {
        let item = self.next_item().ok_or(Unreadable)?;
        if item == "-" {
            Ok(None)
        } else {
            item.strip_prefix('+').map(Some).ok_or(Unreadable)
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn encode_attrs(click: &Click) -> Option<String> {
    if click.campaign().is_none()
        && click.source().is_none()
        && click.offer().is_none()
        && click.subs().len() == 0
    {
        return None;
    }
    let mut out = String::new();
    put_optional(&mut out, click.campaign());
    put_optional(&mut out, click.source());
    put_optional(&mut out, click.offer());
    for (name, value) in click.subs() {
        put(&mut out, name);
        put(&mut out, value);
    }
    Some(out)
}

fn decode_attrs(mut click: Click, attrs: &str) -> Option<Click> {
    let mut items = Items(attrs);
    if let Some(campaign) = items.next_optional().ok()? {
        click = click.with_campaign(campaign).ok()?;
    }
    if let Some(source) = items.next_optional().ok()? {
        click = click.with_source(source).ok()?;
    }
    if let Some(offer) = items.next_optional().ok()? {
        click = click.with_offer(offer).ok()?;
    }
    while !items.is_empty() {
        let name = items.next_item()?;
        let value = items.next_item()?;
        click = click.with_sub(name, value).ok()?;
    }
    Some(click)
}

/// State letter, payout, currency, status, time: five items.
fn encode_entry(out: &mut String, entry: &HistoryEntry) {
    let Standing {
        state,
        payout,
        currency,
    } = entry.standing;
    put(out, state_letter(state));
    put(out, &payout.map(|p| p.to_string()).unwrap_or_default());
    put(out, currency.as_ref().map_or("", Currency::as_str));
    put_optional(out, entry.status.as_deref());
    put(out, &entry.at.unix_timestamp_nanos().to_string());
}

/// The recording version, then the entries.
fn decode_history(history: &str) -> Option<(u64, Vec<HistoryEntry>)> {
    let mut items = Items(history);
    let order = items.next_item()?.parse().ok()?;
    let mut entries = Vec::new();
    while !items.is_empty() {
        entries.push(HistoryEntry {
            standing: Standing {
                state: state_of_letter(items.next_item()?)?,
                payout: optional(items.next_item()?).ok()?,
                currency: optional(items.next_item()?).ok()?,
            },
            status: items.next_optional().ok()?.map(Into::into),
            at: decode_time(items.next_item()?)?,
        });
    }
    Some((order, entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Amount;

    #[test]
    fn history_round_trips_awkward_text() {
        let entry = HistoryEntry {
            standing: Standing {
                state: ConversionState::Reversed,
                payout: Some("-12.50".parse().unwrap_or(Amount::ZERO)),
                currency: None,
            },
            status: Some("chargeback: 3:x|y ü".into()),
            at: OffsetDateTime::UNIX_EPOCH,
        };
        let mut text = String::new();
        put(&mut text, "7");
        encode_entry(&mut text, &entry);
        let none = HistoryEntry {
            status: None,
            ..entry.clone()
        };
        encode_entry(&mut text, &none);
        assert_eq!(decode_history(&text), Some((7, vec![entry, none])));
        assert_eq!(decode_history("7:1"), None, "a length past the end");
        assert_eq!(decode_history("1:7x"), None, "junk after an item");
    }

    #[test]
    fn head_round_trips() {
        let standing = Standing {
            state: ConversionState::Approved,
            payout: "12.50".parse().ok(),
            currency: "EUR".parse().ok(),
        };
        let head = encode_head(&standing);
        assert_eq!(head, "a12.50|EUR");
        assert_eq!(decode_head(&head), Some(standing));
        assert_eq!(decode_head("p|").map(|s| s.payout), Some(None));
        assert_eq!(decode_head("x1|USD"), None);
    }
}
