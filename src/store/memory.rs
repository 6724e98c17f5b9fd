//! The embedded default store: sharded hash maps in this process's memory.
//!
//! # Layout, and why
//!
//! Clicks are spread over a power-of-two number of shards, each a mutex around its tables:
//! for ids of [`ClickId`]'s shape, keyed by the id's 128-bit value, one table of clicks and one
//! of the conversions of those that converted; for every other id, one map keyed by its text.
//! A postback locks one shard for a hash lookup, so handlers on other shards never wait (no
//! global lock) and lookups stay O(1).
//!
//! The 128-bit key is the common case and the hot path: it is 16 bytes, compares in two
//! instructions, and a seeded folded multiply hashes it well. Its two tables are open
//! addressing with the key in the slot ([`table`]), and a load looks in both before it reads
//! either: at a million clicks each table lookup is a cache miss (about 170 ns on the machine
//! the benches ran on), and these two overlap, where `std`'s map (control bytes, then the
//! bucket, then a boxed conversion) made three in a row. Text keys use std's keyed `SipHash`
//! map instead, because their distribution is whatever the user's tracker makes. Keying ids of
//! `ClickId` shape by value also makes them match in either case, which helps with networks
//! that upper-case URLs.
//!
//! A bare click costs one 40-byte slot (key, time, version, boxed attributes); tables are kept
//! between 2/5 and 4/5 full, so 50 to 100 bytes per click. A click's first conversion costs a
//! 112-byte slot in the conversions table (140 to 280 bytes with the fill) and its history
//! entry. `cargo test --release --all-features --test it alloc -- --nocapture` measures both
//! (README quotes them).

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::num::NonZeroU64;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use super::{
    Change, Click, ClickStore, Commit, Conversion, ConversionData, ConversionKey, HistoryEntry,
    Inserted, Standing, StoredClick, Version,
};
use crate::click_id::ClickId;

mod table;

use table::IdTable;

/// The embedded default [`ClickStore`]: sharded, bounded, in memory.
///
/// Sized once, when it is made: [`MemoryStore::new`] for the defaults, or
/// [`MemoryStore::with_config`] with a [`MemoryConfig`].
///
/// - **Concurrency**: 64 shards by default, each behind its own mutex; no global lock.
/// - **Retention**: clicks older than the retention (90 days by default) are dropped by
///   [`MemoryStore::purge_expired`], and by an insert that finds its shard full.
/// - **Capacity**: at most [`MemoryStore::capacity`] clicks (10 million by default). A full shard
///   first drops its expired clicks; if it is still full, the insert is refused with
///   [`MemoryStoreError::Full`]. The store never forgets a live click to make room: a forgotten
///   click would turn its later conversion into "click not found", a lost conversion, while a
///   refused insert is an error the caller sees at click time.
/// - **Per click**: at most [`MemoryStore::MAX_CONVERSIONS_PER_CLICK`] conversions, each with at
///   most [`MemoryStore::MAX_HISTORY_PER_CONVERSION`] history entries; past them a commit is
///   refused with an error (the tracker answers 503), never trimmed. So a sender that floods one
///   click with made-up transaction ids or payout changes cannot grow it without bound.
/// - **Ids**: ids of [`ClickId`]'s shape are matched in either case; all others exactly.
/// - **Memory**: see the module docs; 50–100 bytes of heap per bare click, and about 220–360
///   more for its first conversion (record and history entry).
///
/// The store reads no clock: retention is measured against the time given to
/// [`MemoryStore::purge_expired`], or against the time of the click being inserted.
///
/// ```
/// use postback::{Click, ClickId, ClickStore, MemoryStore};
/// use postback::store::{ConversionKey, Inserted};
///
/// let store = MemoryStore::new();
/// let id = ClickId::generate();
/// assert_eq!(store.insert(Click::from_id(id))?, Inserted::New);
/// let loaded = store.load(&id.to_string(), &ConversionKey::DEFAULT)?.expect("stored");
/// assert_eq!(loaded.clicked_at, id.timestamp());
/// assert!(loaded.conversion.is_none());
/// # Ok::<(), postback::MemoryStoreError>(())
/// ```
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    shard_capacity: usize,
    capacity: usize,
    retention: Duration,
    text_hasher: RandomState,
    /// Mixed into the shard choice of [`ClickId`]-shaped keys, so that which ids share a shard
    /// differs from store to store and cannot be computed from the ids alone.
    shard_seed: u64,
}

/// One shard: the maps and nothing else. Clicks with [`ClickId`]-shaped ids live in two
/// tables under the same key, the clicks in one and the conversions of those that converted
/// in the other, so that a load's two cache misses overlap (see [`table`]); a conversion
/// reached through a pointer in the click's slot would be a third miss, after the other two.
#[derive(Default)]
struct Shard {
    ids: IdTable<Head>,
    id_conversions: IdTable<Conversions>,
    texts: HashMap<Box<str>, Entry, RandomState>,
}

/// A stored click as a load reads it.
struct View<'s> {
    head: &'s Head,
    conversions: Option<&'s Conversions>,
}

/// Where a click's conversions are kept, for a commit to change.
enum Place<'s> {
    Boxed(&'s mut Option<Box<Conversions>>),
    Table(&'s mut IdTable<Conversions>, IdKey),
}

impl Place<'_> {
    fn get_mut(&mut self) -> Option<&mut Conversions> {
        match self {
            Place::Boxed(conversions) => conversions.as_deref_mut(),
            Place::Table(table, key) => table.get_mut(key),
        }
    }

    /// Keeps a click's first conversion; only called when it has none.
    fn create(&mut self, first: Kept) {
        let conversions = Conversions { first, more: None };
        match self {
            Place::Boxed(slot) => **slot = Some(Box::new(conversions)),
            Place::Table(table, key) => table.insert_new(*key, conversions),
        }
    }
}

impl Shard {
    fn len(&self) -> usize {
        self.ids.len() + self.texts.len()
    }

    #[inline]
    fn get(&self, key: &Key<'_>) -> Option<View<'_>> {
        match key {
            Key::Id(id) => {
                // Both lookups before either result is used: neither load waits for the other.
                let head = self.ids.get(id);
                let conversions = self.id_conversions.get(id);
                head.map(|head| View { head, conversions })
            }
            Key::Text(text) => self.texts.get(*text).map(|entry| View {
                head: &entry.head,
                conversions: entry.conversions.as_deref(),
            }),
        }
    }

    /// Whether the click is stored (its conversions need not be looked at).
    fn contains(&self, key: &Key<'_>) -> bool {
        match key {
            Key::Id(id) => self.ids.get(id).is_some(),
            Key::Text(text) => self.texts.contains_key(*text),
        }
    }

    fn get_mut(&mut self, key: &Key<'_>) -> Option<(&mut Head, Place<'_>)> {
        match key {
            Key::Id(id) => {
                let head = self.ids.get_mut(id)?;
                Some((head, Place::Table(&mut self.id_conversions, *id)))
            }
            Key::Text(text) => {
                let entry = self.texts.get_mut(*text)?;
                Some((&mut entry.head, Place::Boxed(&mut entry.conversions)))
            }
        }
    }

    fn purge(&mut self, cutoff_ms: i64) -> usize {
        let before = self.len();
        self.ids.retain(|_, head| head.at_ms >= cutoff_ms);
        if self.id_conversions.len() > 0 {
            let ids = &self.ids;
            self.id_conversions.retain(|id, _| ids.get(id).is_some());
        }
        self.texts.retain(|_, e| e.head.at_ms >= cutoff_ms);
        before - self.len()
    }
}

/// What every stored click has: 24 bytes, so a [`ClickId`]-keyed slot is 40.
struct Head {
    at_ms: i64,
    /// The click's version plus one: zero is the slot's "empty" in an `Option`.
    stamp: NonZeroU64,
    attrs: Option<Box<Attrs>>,
}

impl Head {
    fn version(&self) -> Version {
        Version::new(self.stamp.get() - 1)
    }

    fn bump(&mut self) {
        // A click is committed to at most (conversions x history) times, far below 2^64.
        self.stamp = self.stamp.saturating_add(1);
    }
}

/// A click with a text id: the head, and its conversions boxed so that a click that never
/// converts costs 8 bytes for them.
struct Entry {
    head: Head,
    conversions: Option<Box<Conversions>>,
}

struct Attrs {
    campaign: Option<Box<str>>,
    source: Option<Box<str>>,
    offer: Option<Box<str>>,
    subs: Vec<(Box<str>, Box<str>)>,
}

/// A click's conversions. The first sits in the box itself, and each keeps a short key inline,
/// so that the hot path (a retried postback for a click's only conversion) finds it in one
/// allocation: at a million clicks every pointer followed is a cache miss, about 100 ns.
///
/// `repr(C)` keeps what a load reads (the first conversion's key, standing and signed
/// timestamp) in the record's first 64 bytes; `more` is read only when the first conversion is not the
/// one wanted, and is boxed to keep the record small. (Aligning the record to a cache line
/// was tried: glibc's aligned allocations cost more throughput and memory under load than
/// the saved line fetch gained.)
#[repr(C)]
struct Conversions {
    first: Kept,
    #[allow(
        clippy::box_collection,
        reason = "8 bytes instead of 24: most clicks convert once"
    )]
    more: Option<Box<Vec<Kept>>>,
}

// 96 bytes: one 112-byte allocation with malloc's header, for a text-keyed click.
const _: () = assert!(std::mem::size_of::<Conversions>() == 96);
// The tables' slots: the `Option`s take no room of their own (`Head::stamp` is never zero,
// `Kept::key` has spare tags).
const _: () = assert!(std::mem::size_of::<Option<(IdKey, Head)>>() == 40);
const _: () = assert!(std::mem::size_of::<Option<(IdKey, Conversions)>>() == 112);

impl Conversions {
    fn iter(&self) -> impl Iterator<Item = &Kept> {
        std::iter::once(&self.first).chain(self.more.iter().flat_map(|more| more.iter()))
    }

    fn len(&self) -> usize {
        1 + self.more.as_ref().map_or(0, |more| more.len())
    }

    fn find(&self, key: &ConversionKey<'_>) -> Option<&Kept> {
        if self.first.is(key) {
            return Some(&self.first);
        }
        self.more.as_ref()?.iter().find(|kept| kept.is(key))
    }

    fn find_mut(&mut self, key: &ConversionKey<'_>) -> Option<&mut Kept> {
        if self.first.is(key) {
            return Some(&mut self.first);
        }
        self.more.as_mut()?.iter_mut().find(|kept| kept.is(key))
    }

    fn push(&mut self, kept: Kept) {
        let more = self.more.get_or_insert_with(Box::default);
        // A first push into an empty `Vec` would reserve room for four; later ones grow it
        // by doubling, as usual.
        if more.is_empty() {
            more.reserve_exact(1);
        }
        more.push(kept);
    }
}

/// A conversion as the store keeps it: its key inline when short, so that finding it reads
/// nothing else, then what a load reports (bytes 24 to 64), then its history. The public
/// [`Conversion`] (which keeps the key as a `ConversionKey`, 32 bytes) is built from it only
/// when asked for.
#[repr(C)]
struct Kept {
    key: InlineKey,
    standing: Standing,
    signed_at: SignedAt,
    history: Vec<HistoryEntry>,
}

impl Kept {
    /// A conversion recorded by `data`, with it as its first history entry.
    fn recorded(key: &ConversionKey<'_>, data: &ConversionData<'_>) -> Self {
        Self {
            key: InlineKey::of(key),
            standing: data.standing,
            signed_at: SignedAt::of(data.signed_at),
            history: vec![HistoryEntry::from(data)],
        }
    }

    /// Applies an update: the new state, payout, currency and signed timestamp, appended to
    /// the history.
    fn apply(&mut self, data: &ConversionData<'_>) {
        self.standing = data.standing;
        self.signed_at = SignedAt::of(data.signed_at);
        self.history.push(HistoryEntry::from(data));
    }

    fn is(&self, key: &ConversionKey<'_>) -> bool {
        match &self.key {
            InlineKey::Short { event, len, bytes } => {
                let (is_event, text) = key_parts(key);
                is_event == *event
                    && usize::from(*len) == text.len()
                    && bytes.get(..text.len()) == Some(text.as_bytes())
            }
            InlineKey::Long(own) => **own == *key,
        }
    }

    /// The public view, for [`ClickStore::conversions`].
    fn to_conversion(&self) -> Conversion {
        let key = match &self.key {
            InlineKey::Short { event, len, bytes } => {
                let bytes = bytes.get(..usize::from(*len)).unwrap_or_default();
                // Lossless: the bytes are a whole key text, copied from a `str`.
                let text = Cow::Owned(String::from_utf8_lossy(bytes).into_owned());
                if *event {
                    ConversionKey::Event(text)
                } else {
                    ConversionKey::Transaction(text)
                }
            }
            InlineKey::Long(own) => (**own).clone(),
        };
        Conversion {
            key,
            standing: self.standing,
            signed_at: self.signed_at.get(),
            history: self.history.clone(),
        }
    }
}

/// A conversion's newest signed timestamp in 8 bytes, where an `Option<i64>` takes 16 (and
/// would grow every conversions-table slot by 8 more): `i64::MIN` stands for none.
///
/// No timestamp a guard vouches for is `i64::MIN`: it reads at most 18 digits. One given
/// anyway is kept as `i64::MIN + 1`, which orders the same against every real timestamp.
#[derive(Clone, Copy)]
struct SignedAt(i64);

impl SignedAt {
    const NONE: i64 = i64::MIN;

    fn of(at: Option<i64>) -> Self {
        Self(at.map_or(Self::NONE, |at| at.max(Self::NONE + 1)))
    }

    fn get(self) -> Option<i64> {
        (self.0 != Self::NONE).then_some(self.0)
    }
}

/// Keys up to this many bytes are kept inline: transaction ids and event names are short.
const INLINE_KEY: usize = 22;

/// A conversion key's kind and text, inline when short.
enum InlineKey {
    Short {
        event: bool,
        len: u8,
        bytes: [u8; INLINE_KEY],
    },
    /// Longer: boxed.
    Long(Box<ConversionKey<'static>>),
}

impl InlineKey {
    fn of(key: &ConversionKey<'_>) -> Self {
        let (event, text) = key_parts(key);
        let mut bytes = [0; INLINE_KEY];
        match (bytes.get_mut(..text.len()), u8::try_from(text.len())) {
            (Some(slot), Ok(len)) => {
                slot.copy_from_slice(text.as_bytes());
                Self::Short { event, len, bytes }
            }
            _ => Self::Long(Box::new(key.clone().into_owned())),
        }
    }
}

/// Whether the key names an event (rather than a transaction), and its text.
fn key_parts<'k>(key: &'k ConversionKey<'_>) -> (bool, &'k str) {
    match key {
        ConversionKey::Transaction(text) => (false, text),
        ConversionKey::Event(text) => (true, text),
    }
}

impl View<'_> {
    /// The current state and signed timestamp of the conversion with `key`, read from the first
    /// bytes of its record.
    fn conversion(&self, key: &ConversionKey<'_>) -> Option<(Standing, Option<i64>)> {
        self.conversions?
            .find(key)
            .map(|kept| (kept.standing, kept.signed_at.get()))
    }
}

/// A [`ClickId`] as two words: 8-byte alignment keeps a map bucket at 48 bytes, where a `u128`
/// would pad it to 64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct IdKey {
    high: u64,
    low: u64,
}

enum Key<'a> {
    Id(IdKey),
    Text(&'a str),
}

impl<'a> Key<'a> {
    fn of(id: &'a str) -> Self {
        if id.len() == ClickId::LENGTH
            && let Ok(parsed) = ClickId::parse(id)
        {
            let value = parsed.as_u128();
            return Self::Id(IdKey {
                high: (value >> 64) as u64,
                low: value as u64,
            });
        }
        Self::Text(id)
    }
}

/// The multiplier of the folded multiply: the 64-bit golden ratio, odd, with well-spread bits.
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Multiplies in 128 bits and folds the halves together: one instruction pair that mixes every
/// input bit into every output bit well enough for a hash table.
const fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = (a as u128) * (b as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

impl MemoryStore {
    /// Default number of shards: enough that two cores (or sixteen) rarely meet on one lock.
    pub const DEFAULT_SHARDS: usize = 64;
    /// Default capacity, in clicks.
    pub const DEFAULT_CAPACITY: usize = 10_000_000;
    /// Default retention: 90 days, the longest common attribution window (Everflow's).
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 60 * 60);
    /// The most conversions one click keeps: a daily rebill for the whole default retention
    /// is 90. A commit past it is refused with [`MemoryStoreError::TooManyConversions`].
    pub const MAX_CONVERSIONS_PER_CLICK: usize = 1024;
    /// The most history entries one conversion keeps (its recording and every change after):
    /// a state moves at most twice, so the rest are payout changes. A commit past it is refused
    /// with [`MemoryStoreError::TooManyChanges`].
    pub const MAX_HISTORY_PER_CONVERSION: usize = 128;

    /// A store with the default shards, capacity and retention ([`MemoryConfig::new`]).
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(MemoryConfig::new())
    }

    /// An empty store with the shards, capacity and retention of `config`.
    ///
    /// Configuration comes before the store exists, so no setting can drop clicks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use postback::{MemoryConfig, MemoryStore};
    ///
    /// let store = MemoryStore::with_config(
    ///     MemoryConfig::new()
    ///         .with_shards(16)
    ///         .with_capacity(1_000_000)
    ///         .with_retention(Duration::from_secs(30 * 24 * 60 * 60)),
    /// );
    /// assert_eq!(store.capacity(), 1_000_000);
    /// assert!(store.is_empty());
    /// ```
    #[must_use]
    pub fn with_config(config: MemoryConfig) -> Self {
        let MemoryConfig {
            shards,
            capacity,
            retention,
        } = config;
        let shards = shards.clamp(1, 1 << 16).next_power_of_two();
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            shard_capacity: capacity.div_ceil(shards).max(1),
            capacity,
            retention,
            text_hasher: RandomState::new(),
            shard_seed: rand::random(),
        }
    }

    /// The most clicks the store holds.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long clicks are kept.
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// How many clicks are stored now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no click is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every click older than the retention at `now`, and says how many went.
    ///
    /// Call it now and then (every minute, say); it locks one shard at a time.
    #[must_use = "the count says whether anything was purged"]
    pub fn purge_expired(&self, now: OffsetDateTime) -> usize {
        let cutoff = self.cutoff_ms(now);
        self.shards.iter().map(|s| lock(s).purge(cutoff)).sum()
    }

    fn cutoff_ms(&self, now: OffsetDateTime) -> i64 {
        let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        unix_ms(now).saturating_sub(retention)
    }

    fn shard(&self, key: &Key<'_>) -> MutexGuard<'_, Shard> {
        // Pick the shard from other bits (and another mix) than the tables use for the slot
        // (the low bits of their own seeded hash), so keys in one shard still spread in its
        // tables. The seed keeps a sender of chosen ids from aiming them all at one shard, which would fill
        // it (and refuse its clicks) at 1/shards of the capacity.
        let hash = match key {
            Key::Id(id) => folded_multiply(
                id.low ^ id.high.rotate_left(32) ^ self.shard_seed,
                MIX ^ 0xff51,
            ),
            Key::Text(text) => self.text_hasher.hash_one(text),
        };
        let index = (hash >> 32) as usize & (self.shards.len() - 1);
        // In bounds: masked by the length, a power of two.
        lock(&self.shards[index])
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// How a [`MemoryStore`] is sized: shards, capacity and retention, set before the store is
/// made ([`MemoryStore::with_config`]).
///
/// Starts from the defaults ([`MemoryStore::DEFAULT_SHARDS`], [`MemoryStore::DEFAULT_CAPACITY`],
/// [`MemoryStore::DEFAULT_RETENTION`]); each `with_*` method changes one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryConfig {
    shards: usize,
    capacity: usize,
    retention: Duration,
}

impl MemoryConfig {
    /// The default shards, capacity and retention.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            shards: MemoryStore::DEFAULT_SHARDS,
            capacity: MemoryStore::DEFAULT_CAPACITY,
            retention: MemoryStore::DEFAULT_RETENTION,
        }
    }

    /// Sets the number of shards; the store rounds it up to a power of two (1 to 65536).
    #[must_use]
    pub const fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// Sets the most clicks the store holds.
    ///
    /// The bound is enforced per shard (`capacity / shards`, rounded up), so a store may refuse
    /// an insert slightly before it holds `capacity` clicks in all.
    #[must_use]
    pub const fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets how long clicks are kept.
    #[must_use]
    pub const fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The number of shards asked for (before rounding).
    #[must_use]
    pub const fn shards(&self) -> usize {
        self.shards
    }

    /// The most clicks the store holds.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long clicks are kept.
    #[must_use]
    pub const fn retention(&self) -> Duration {
        self.retention
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("capacity", &self.capacity)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// A panic while a shard was locked cannot leave a shard half-updated in a way that breaks the
/// counting rules: nothing in a write can panic once it starts (a commit's record is built
/// before it is put in a table, and the version bump after it cannot fail), so a poisoned
/// lock is still used.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_unix_ms(ms: i64) -> OffsetDateTime {
    // Whole seconds and then the milliseconds: 64-bit arithmetic, where going through
    // nanoseconds would divide a 128-bit number on every load.
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .and_then(|at| at.replace_millisecond(ms.rem_euclid(1000) as u16))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// What goes wrong in a [`MemoryStore`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryStoreError {
    /// The click's shard is full of unexpired clicks.
    #[error("click store is full ({capacity} clicks): raise its capacity or shorten its retention")]
    #[non_exhaustive]
    Full {
        /// The store's capacity.
        capacity: usize,
    },
    /// The click already has [`MemoryStore::MAX_CONVERSIONS_PER_CLICK`] conversions, so a new
    /// one is refused: far more rebills than a click makes, most likely a flood of made-up
    /// transaction ids.
    #[error(
        "click `{click_id}` already has {limit} conversions, the most a memory store keeps per \
         click: the new one is refused"
    )]
    #[non_exhaustive]
    TooManyConversions {
        /// The click's id.
        click_id: Box<str>,
        /// The limit, [`MemoryStore::MAX_CONVERSIONS_PER_CLICK`].
        limit: usize,
    },
    /// The conversion's history already has [`MemoryStore::MAX_HISTORY_PER_CONVERSION`]
    /// entries, so a further change is refused: far more payout changes than a network sends.
    #[error(
        "a conversion of click `{click_id}` already changed {limit} times, the most a memory \
         store keeps: the change is refused"
    )]
    #[non_exhaustive]
    TooManyChanges {
        /// The click's id.
        click_id: Box<str>,
        /// The limit, [`MemoryStore::MAX_HISTORY_PER_CONVERSION`].
        limit: usize,
    },
}

impl ClickStore for MemoryStore {
    type Error = MemoryStoreError;

    fn insert(&self, click: Click) -> Result<Inserted, Self::Error> {
        let Click {
            id,
            at,
            campaign,
            source,
            offer,
            subs,
        } = click;
        let key = Key::of(&id);
        let mut shard = self.shard(&key);
        if shard.contains(&key) {
            return Ok(Inserted::AlreadyExists);
        }
        if shard.len() >= self.shard_capacity {
            shard.purge(self.cutoff_ms(at));
            if shard.len() >= self.shard_capacity {
                return Err(MemoryStoreError::Full {
                    capacity: self.capacity,
                });
            }
        }
        let has_attrs =
            campaign.is_some() || source.is_some() || offer.is_some() || !subs.is_empty();
        let head = Head {
            at_ms: unix_ms(at),
            stamp: NonZeroU64::MIN,
            attrs: has_attrs.then(|| {
                Box::new(Attrs {
                    campaign,
                    source,
                    offer,
                    subs,
                })
            }),
        };
        match key {
            Key::Id(id_key) => shard.ids.insert_new(id_key, head),
            Key::Text(_) => {
                let conversions = None;
                shard.texts.insert(id, Entry { head, conversions });
            }
        }
        Ok(Inserted::New)
    }

    fn load(
        &self,
        click_id: &str,
        key: &ConversionKey<'_>,
    ) -> Result<Option<StoredClick>, Self::Error> {
        let id = Key::of(click_id);
        let shard = self.shard(&id);
        Ok(shard.get(&id).map(|view| {
            let conversion = view.conversion(key);
            StoredClick {
                version: view.head.version(),
                clicked_at: from_unix_ms(view.head.at_ms),
                conversion: conversion.map(|(standing, _)| standing),
                signed_at: conversion.and_then(|(_, signed_at)| signed_at),
            }
        }))
    }

    fn commit(
        &self,
        click_id: &str,
        expected: Version,
        change: &Change<'_>,
    ) -> Result<Commit, Self::Error> {
        let id = Key::of(click_id);
        let mut shard = self.shard(&id);
        let Some((head, mut place)) = shard.get_mut(&id) else {
            return Ok(Commit::Conflict);
        };
        if head.version() != expected {
            return Ok(Commit::Conflict);
        }
        let conversions = place.get_mut();
        let count = conversions.as_deref().map_or(0, Conversions::len);
        let existing = conversions.and_then(|all| all.find_mut(change.key()));
        // Bounded so that one click cannot take memory (and load time: conversions are scanned)
        // without limit; refused rather than trimmed, as a full store refuses clicks.
        match (change, existing) {
            (Change::Record { .. }, None) if count >= Self::MAX_CONVERSIONS_PER_CLICK => {
                return Err(MemoryStoreError::TooManyConversions {
                    click_id: click_id.into(),
                    limit: Self::MAX_CONVERSIONS_PER_CLICK,
                });
            }
            (Change::Record { key, data }, None) => {
                let kept = Kept::recorded(key, data);
                match place.get_mut() {
                    Some(all) => all.push(kept),
                    None => place.create(kept),
                }
            }
            (Change::Update { from, .. }, Some(kept))
                if kept.standing.state == *from
                    && kept.history.len() >= Self::MAX_HISTORY_PER_CONVERSION =>
            {
                return Err(MemoryStoreError::TooManyChanges {
                    click_id: click_id.into(),
                    limit: Self::MAX_HISTORY_PER_CONVERSION,
                });
            }
            (Change::Update { from, data, .. }, Some(kept)) if kept.standing.state == *from => {
                kept.apply(data);
            }
            // The caller's view is stale (or it broke the contract): write nothing.
            _ => return Ok(Commit::Conflict),
        }
        head.bump();
        Ok(Commit::Applied)
    }

    /// Starts fetching the click's slots in both tables. At a million clicks a load waits
    /// ~200 ns for memory otherwise, about as long as the rest of the parse that now runs
    /// meanwhile. Ids that are not [`ClickId`]s (kept in a std map) are left alone.
    fn prefetch(&self, click_id: &str) {
        if let id @ Key::Id(key) = Key::of(click_id) {
            let shard = self.shard(&id);
            shard.ids.prefetch(&key);
            shard.id_conversions.prefetch(&key);
        }
    }

    fn click(&self, click_id: &str) -> Result<Option<Click>, Self::Error> {
        let id = Key::of(click_id);
        let shard = self.shard(&id);
        let Some(View { head, .. }) = shard.get(&id) else {
            return Ok(None);
        };
        let id_text: Box<str> = match id {
            Key::Id(id) => ClickId::from_u128(u128::from(id.high) << 64 | u128::from(id.low))
                .encode()
                .as_str()
                .into(),
            Key::Text(text) => text.into(),
        };
        let mut click = Click {
            id: id_text,
            at: from_unix_ms(head.at_ms),
            campaign: None,
            source: None,
            offer: None,
            subs: Vec::new(),
        };
        if let Some(attrs) = &head.attrs {
            click.campaign.clone_from(&attrs.campaign);
            click.source.clone_from(&attrs.source);
            click.offer.clone_from(&attrs.offer);
            click.subs.clone_from(&attrs.subs);
        }
        Ok(Some(click))
    }

    fn conversions(&self, click_id: &str) -> Result<Vec<Conversion>, Self::Error> {
        let id = Key::of(click_id);
        let shard = self.shard(&id);
        Ok(shard
            .get(&id)
            .and_then(|view| view.conversions)
            .map(|all| all.iter().map(Kept::to_conversion).collect())
            .unwrap_or_default())
    }
}
