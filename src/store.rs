//! Where clicks live and conversions are counted: the [`ClickStore`] trait and its records.
//!
//! # The contract: compare-and-set
//!
//! Counting a conversion once, with many request handlers (or many tracker nodes) racing on
//! the same click, needs one primitive from a store and nothing more:
//!
//! 1. [`ClickStore::load`] returns a [`StoredClick`]: the click's time, the conversion the
//!    postback is about (if any) with the newest signed timestamp applied to it, and the
//!    click's [`Version`];
//! 2. the tracker decides what to do with a pure function ([`decide`](crate::tracker::decide));
//! 3. [`ClickStore::commit`] applies the resulting [`Change`] **only if the version is still the
//!    one loaded**, and bumps it; otherwise it reports [`Commit::Conflict`] and changes nothing.
//!    The tracker then loads and decides again.
//!
//! So the rules live in one place (Rust), and a backend only has to provide an atomic
//! compare-and-set: a shard lock in memory ([`MemoryStore`]), `WATCH`/`MULTI` or a script in
//! Redis, `UPDATE … WHERE version = $v` in SQL.
//!
//! # Implementing a store
//!
//! - `load(id, key)`: the click with that id, or `None`; its version; and the one conversion of
//!   that click whose [`ConversionKey`] equals `key`, if there is one, with the signed
//!   timestamp stored with it ([`StoredClick::signed_at`]).
//! - `commit(id, expected, change)`: atomically, if the click exists and its version equals
//!   `expected`: apply the change (record a new conversion under its key, or update the state,
//!   payout and currency of the existing one and append to its history), store the change's
//!   [`ConversionData::signed_at`] as the conversion's signed timestamp (`None` included),
//!   set the version to anything different from `expected` (typically `expected + 1`), and
//!   answer [`Commit::Applied`]. If the version differs or the click is gone, answer
//!   [`Commit::Conflict`] without writing anything. The timestamp is part of the change: a
//!   commit writes both or neither.
//! - Store errors (a lost connection, a timeout) are `Err(Self::Error)`: the tracker answers
//!   them with a 5xx status so the network retries, and never guesses.
//!
//! The `testing` feature exports [`testing::check_store`](crate::testing::check_store), a
//! conformance suite any implementation can run.
//!
//! # Ids
//!
//! A click id is any non-empty string of at most [`MAX_CLICK_ID_LEN`] bytes without control
//! characters: the crate's own [`ClickId`], a UUID, a number, another tracker's format. Stores
//! compare ids exactly, byte for byte, except where documented ([`MemoryStore`] matches ids of
//! [`ClickId`]'s shape in either case).

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::borrow::Cow;
use std::fmt;

use time::OffsetDateTime;

use crate::click_id::ClickId;
use crate::money::{Amount, Currency};
use crate::status::ConversionState;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisStore, RedisStoreError};
pub use memory::{MemoryConfig, MemoryStore, MemoryStoreError};

/// The longest click id, in bytes, a store accepts or looks up. Taboola's are about 120.
pub const MAX_CLICK_ID_LEN: usize = 128;

/// The longest campaign, source, offer, sub name or sub value a [`Click`] keeps, in bytes.
pub const MAX_ATTRIBUTE_LEN: usize = 255;

/// The most sub values a [`Click`] keeps (`sub1`…`sub10` and a few more).
pub const MAX_SUBS: usize = 16;

/// A click, as the tracker recorded it when it sent the visitor to the offer.
///
/// Bounded in size: an id of at most [`MAX_CLICK_ID_LEN`] bytes, attributes of at most
/// [`MAX_ATTRIBUTE_LEN`] bytes, at most [`MAX_SUBS`] sub values.
///
/// ```
/// use postback::{Click, ClickId};
///
/// let id = ClickId::generate();
/// let click = Click::from_id(id)
///     .with_campaign("summer-sale")?
///     .with_source("facebook")?
///     .with_sub("sub1", "adset-7")?;
/// assert_eq!(click.id(), id.encode().as_str());
/// assert_eq!(click.sub("sub1"), Some("adset-7"));
/// # Ok::<(), postback::store::ClickError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    id: Box<str>,
    at: OffsetDateTime,
    campaign: Option<Box<str>>,
    source: Option<Box<str>>,
    offer: Option<Box<str>>,
    subs: Vec<(Box<str>, Box<str>)>,
}

impl Click {
    /// A click with the given id, made at `at`.
    ///
    /// # Errors
    ///
    /// Fails when the id is empty, longer than [`MAX_CLICK_ID_LEN`] bytes, or contains a
    /// control character (a NUL byte, a newline).
    pub fn new(id: &str, at: OffsetDateTime) -> Result<Self, ClickError> {
        check_click_id(id)?;
        Ok(Self {
            id: id.into(),
            at,
            campaign: None,
            source: None,
            offer: None,
            subs: Vec::new(),
        })
    }

    /// A click for a generated [`ClickId`], made at the id's own timestamp.
    #[must_use]
    pub fn from_id(id: ClickId) -> Self {
        Self {
            id: id.encode().as_str().into(),
            at: id.timestamp(),
            campaign: None,
            source: None,
            offer: None,
            subs: Vec::new(),
        }
    }

    /// Sets the campaign.
    ///
    /// # Errors
    ///
    /// Fails when the value is longer than [`MAX_ATTRIBUTE_LEN`] bytes.
    pub fn with_campaign(mut self, campaign: &str) -> Result<Self, ClickError> {
        self.campaign = Some(attribute("campaign", campaign)?);
        Ok(self)
    }

    /// Sets the traffic source.
    ///
    /// # Errors
    ///
    /// Fails when the value is longer than [`MAX_ATTRIBUTE_LEN`] bytes.
    pub fn with_source(mut self, source: &str) -> Result<Self, ClickError> {
        self.source = Some(attribute("source", source)?);
        Ok(self)
    }

    /// Sets the offer.
    ///
    /// # Errors
    ///
    /// Fails when the value is longer than [`MAX_ATTRIBUTE_LEN`] bytes.
    pub fn with_offer(mut self, offer: &str) -> Result<Self, ClickError> {
        self.offer = Some(attribute("offer", offer)?);
        Ok(self)
    }

    /// Adds a sub value the tracker passed out (`sub1=adset-7`), replacing one of the same name.
    ///
    /// # Errors
    ///
    /// Fails when the name or value is longer than [`MAX_ATTRIBUTE_LEN`] bytes, or when the
    /// click already has [`MAX_SUBS`] other sub values.
    pub fn with_sub(mut self, name: &str, value: &str) -> Result<Self, ClickError> {
        let name = attribute("sub name", name)?;
        let value = attribute("sub value", value)?;
        if let Some(slot) = self.subs.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value;
        } else if self.subs.len() >= MAX_SUBS {
            return Err(ClickError::TooManySubs);
        } else {
            self.subs.push((name, value));
        }
        Ok(self)
    }

    /// The click id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the click happened.
    #[must_use]
    pub fn at(&self) -> OffsetDateTime {
        self.at
    }

    /// The campaign, if recorded.
    #[must_use]
    pub fn campaign(&self) -> Option<&str> {
        self.campaign.as_deref()
    }

    /// The traffic source, if recorded.
    #[must_use]
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The offer, if recorded.
    #[must_use]
    pub fn offer(&self) -> Option<&str> {
        self.offer.as_deref()
    }

    /// The sub value of that name, if recorded.
    #[must_use]
    pub fn sub(&self, name: &str) -> Option<&str> {
        self.subs
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| &**v)
    }

    /// All sub values, in the order they were added.
    #[must_use]
    pub fn subs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.subs.iter().map(|(n, v)| (&**n, &**v))
    }
}

/// Checks a click id against the bounds every store shares (as [`Click::new`] documents).
fn check_click_id(id: &str) -> Result<(), ClickError> {
    if id.is_empty() {
        return Err(ClickError::EmptyId);
    }
    if id.len() > MAX_CLICK_ID_LEN {
        return Err(ClickError::IdTooLong { len: id.len() });
    }
    if let Some(at) = id.bytes().position(|b| b.is_ascii_control()) {
        return Err(ClickError::ControlInId { at });
    }
    Ok(())
}

fn attribute(field: &'static str, value: &str) -> Result<Box<str>, ClickError> {
    if value.len() > MAX_ATTRIBUTE_LEN {
        return Err(ClickError::AttributeTooLong {
            field,
            len: value.len(),
        });
    }
    Ok(value.into())
}

/// Why a [`Click`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClickError {
    /// The id is empty.
    #[error("click id is empty")]
    EmptyId,
    /// The id is longer than [`MAX_CLICK_ID_LEN`].
    #[error("click id is {len} bytes long; the limit is 128")]
    #[non_exhaustive]
    IdTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The id contains a control character.
    #[error("click id has a control character at byte {at}")]
    #[non_exhaustive]
    ControlInId {
        /// Offset of the first control character.
        at: usize,
    },
    /// An attribute is longer than [`MAX_ATTRIBUTE_LEN`].
    #[error("click {field} is {len} bytes long; the limit is 255")]
    #[non_exhaustive]
    AttributeTooLong {
        /// Which attribute: `campaign`, `source`, `offer`, `sub name` or `sub value`.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The click already has [`MAX_SUBS`] sub values.
    #[error("click already has 16 sub values")]
    TooManySubs,
}

/// What identifies one conversion of a click.
///
/// A network that sends a transaction id names each conversion itself: a new transaction id on
/// the same click is a new conversion (a rebill, an upsell), the same one again is the same
/// conversion (a retry or a status change). Most networks send none; then the conversion is
/// identified by its event (goal, type) name, and a postback with no event either refers to the
/// click's one default conversion, [`ConversionKey::DEFAULT`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversionKey<'a> {
    /// Named by the network's transaction id.
    Transaction(Cow<'a, str>),
    /// Named by the event or goal; the empty name is the default conversion.
    Event(Cow<'a, str>),
}

impl<'a> ConversionKey<'a> {
    /// The click's default conversion: no transaction id, no event.
    pub const DEFAULT: ConversionKey<'static> = ConversionKey::Event(Cow::Borrowed(""));

    /// The key a postback with these fields refers to: its transaction id if it has a
    /// non-empty one, else its event (possibly the default).
    #[must_use]
    pub fn for_postback(txid: Option<&'a str>, event: Option<&'a str>) -> Self {
        match (txid, event) {
            (Some(t), _) if !t.is_empty() => Self::Transaction(Cow::Borrowed(t)),
            (_, Some(e)) => Self::Event(Cow::Borrowed(e)),
            _ => Self::Event(Cow::Borrowed("")),
        }
    }

    /// The name, without its kind.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Transaction(name) | Self::Event(name) => name,
        }
    }

    /// A copy that owns its text.
    #[must_use]
    pub fn into_owned(self) -> ConversionKey<'static> {
        match self {
            Self::Transaction(name) => ConversionKey::Transaction(Cow::Owned(name.into_owned())),
            Self::Event(name) => ConversionKey::Event(Cow::Owned(name.into_owned())),
        }
    }
}

impl fmt::Display for ConversionKey<'_> {
    /// `txid:<id>`, `event:<name>`, or `default`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transaction(t) => write!(f, "txid:{t}"),
            Self::Event(e) if e.is_empty() => f.write_str("default"),
            Self::Event(e) => write!(f, "event:{e}"),
        }
    }
}

/// A click's version, for compare-and-set. Opaque to the tracker: only equality matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Version(u64);

impl Version {
    /// A version from a store's own counter.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The counter.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next version, wrapping (only inequality matters).
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }
}

/// What [`ClickStore::load`] returns: enough of a click to decide on one postback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredClick {
    /// The click's version; pass it back to [`ClickStore::commit`].
    pub version: Version,
    /// When the click happened.
    pub clicked_at: OffsetDateTime,
    /// Where the conversion with the requested key stands, if the click has one.
    pub conversion: Option<Standing>,
    /// The newest signed timestamp (Unix seconds) applied to that conversion, as the last
    /// commit stored it ([`ConversionData::signed_at`]); `None` when no signed postback set
    /// it, or when there is no conversion. [`decide`](crate::tracker::decide) answers an
    /// older signed postback with [`Outcome::Stale`](crate::Outcome::Stale).
    pub signed_at: Option<i64>,
}

/// Where a conversion stands: its state, payout and currency.
///
/// The one value for that fact wherever it appears: what [`ClickStore::load`] reports
/// ([`StoredClick::conversion`]), what a postback sets ([`ConversionData::standing`]), a
/// conversion's current values ([`Conversion::standing`]) and each step of its history
/// ([`HistoryEntry::standing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The state.
    pub state: ConversionState,
    /// The payout, if the network sent one.
    pub payout: Option<Amount>,
    /// The currency, if the network sent one.
    pub currency: Option<Currency>,
}

/// The fields of a conversion that a postback sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversionData<'a> {
    /// The state, payout and currency it moves to (payout and currency as the tracker decided:
    /// the network's, or the stored ones when the postback omits them).
    pub standing: Standing,
    /// The raw status word the network sent, kept so a user sees what really came in.
    pub status: Option<&'a str>,
    /// When the tracker accepted it.
    pub at: OffsetDateTime,
    /// The conversion's newest signed timestamp (Unix seconds) once this change commits: the
    /// later of the stored one and the postback's own, `None` if neither was signed. The
    /// store keeps it with the conversion in the same commit, and [`ClickStore::load`]
    /// returns it as [`StoredClick::signed_at`].
    pub signed_at: Option<i64>,
}

/// A change [`decide`](crate::tracker::decide) asks the store to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// Record a conversion the click does not have yet.
    Record {
        /// Its key.
        key: ConversionKey<'a>,
        /// Its fields.
        data: ConversionData<'a>,
    },
    /// Move an existing conversion to a new state or payout, keeping its history.
    Update {
        /// Its key.
        key: ConversionKey<'a>,
        /// The state it was in when loaded.
        from: ConversionState,
        /// Its new fields.
        data: ConversionData<'a>,
    },
}

impl<'a> Change<'a> {
    /// The key of the conversion this change is about.
    #[must_use]
    pub fn key(&self) -> &ConversionKey<'a> {
        match self {
            Self::Record { key, .. } | Self::Update { key, .. } => key,
        }
    }

    /// The fields the change sets.
    #[must_use]
    pub fn data(&self) -> &ConversionData<'a> {
        match self {
            Self::Record { data, .. } | Self::Update { data, .. } => data,
        }
    }
}

/// The answer of [`ClickStore::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Commit {
    /// The change was applied and the version bumped.
    Applied,
    /// The click changed (or disappeared) since it was loaded: nothing was written.
    Conflict,
}

/// The answer of [`ClickStore::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Inserted {
    /// The click is new and was stored.
    New,
    /// A click with that id was already stored; it was left as it was.
    AlreadyExists,
}

/// One conversion of a click with its history, as [`ClickStore::conversions`] reports it.
// No `repr`: 104 bytes on 64-bit targets. `MemoryStore` keeps its own record and builds this
// only when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// What identifies it on its click.
    pub key: ConversionKey<'static>,
    /// Its state, payout and currency now.
    pub standing: Standing,
    /// The newest signed timestamp (Unix seconds) applied to it, if a signed postback set it.
    pub signed_at: Option<i64>,
    /// Every postback that set it, oldest first: the first entry recorded it.
    pub history: Vec<HistoryEntry>,
}

/// One accepted postback in a [`Conversion`]'s history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The state, payout and currency it set.
    pub standing: Standing,
    /// The raw status word the network sent.
    pub status: Option<Box<str>>,
    /// When it was accepted.
    pub at: OffsetDateTime,
}

impl From<&ConversionData<'_>> for HistoryEntry {
    fn from(data: &ConversionData<'_>) -> Self {
        Self {
            standing: data.standing,
            status: data.status.map(Into::into),
            at: data.at,
        }
    }
}

/// Storage for clicks and the conversions recorded against them.
///
/// Sync and object-safe: `Box<dyn ClickStore<Error = E>>` works, and an async server calls a
/// network-backed store through its runtime's blocking pool. See the [module docs](self) for
/// the compare-and-set contract an implementation must keep.
pub trait ClickStore: Send + Sync {
    /// What goes wrong in the backend (I/O, timeouts, a full store).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stores a click made at click time. A click whose id is already stored is left alone.
    ///
    /// # Errors
    ///
    /// A backend failure, or a bound of the store (see the implementation).
    fn insert(&self, click: Click) -> Result<Inserted, Self::Error>;

    /// The click with that id, its version and the conversion with that key.
    ///
    /// # Errors
    ///
    /// A backend failure. An unknown id is `Ok(None)`, not an error.
    fn load(
        &self,
        click_id: &str,
        key: &ConversionKey<'_>,
    ) -> Result<Option<StoredClick>, Self::Error>;

    /// Applies `change` if the click's version still equals `expected`.
    ///
    /// # Errors
    ///
    /// A backend failure; then the change may or may not have been applied, which is why the
    /// tracker answers with a status that makes the network retry, and a retry finds it as a
    /// duplicate if it was.
    fn commit(
        &self,
        click_id: &str,
        expected: Version,
        change: &Change<'_>,
    ) -> Result<Commit, Self::Error>;

    /// The stored click, to attribute a conversion or fire a postback onward.
    ///
    /// # Errors
    ///
    /// A backend failure. An unknown id is `Ok(None)`.
    fn click(&self, click_id: &str) -> Result<Option<Click>, Self::Error>;

    /// Every conversion of the click, with its history, in the order they were recorded.
    ///
    /// # Errors
    ///
    /// A backend failure. An unknown id gives an empty list.
    fn conversions(&self, click_id: &str) -> Result<Vec<Conversion>, Self::Error>;

    /// A hint that [`load`](Self::load) will soon be asked for `click_id`. A store that keeps
    /// clicks in memory can start moving the click's record into the CPU cache, so that the
    /// load does not wait for memory; [`Tracker`](crate::Tracker) calls it as soon as the
    /// parser meets the click id, and parses the rest of the postback meanwhile.
    ///
    /// It may be given an id that is not stored, or not valid at all. It must not change what
    /// any other method sees, must not fail and must return at once. The default does nothing,
    /// which is right for a store across a network.
    fn prefetch(&self, click_id: &str) {
        let _ = click_id;
    }
}

/// Forwards every method to the store behind a reference or a shared pointer, so a tracker can
/// own an `Arc<MemoryStore>` while the click handler holds another.
macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        impl<S: ClickStore + ?Sized> ClickStore for $ptr {
            type Error = S::Error;

            fn insert(&self, click: Click) -> Result<Inserted, Self::Error> {
                (**self).insert(click)
            }

            fn load(
                &self,
                click_id: &str,
                key: &ConversionKey<'_>,
            ) -> Result<Option<StoredClick>, Self::Error> {
                (**self).load(click_id, key)
            }

            fn commit(
                &self,
                click_id: &str,
                expected: Version,
                change: &Change<'_>,
            ) -> Result<Commit, Self::Error> {
                (**self).commit(click_id, expected, change)
            }

            fn click(&self, click_id: &str) -> Result<Option<Click>, Self::Error> {
                (**self).click(click_id)
            }

            fn conversions(&self, click_id: &str) -> Result<Vec<Conversion>, Self::Error> {
                (**self).conversions(click_id)
            }

            fn prefetch(&self, click_id: &str) {
                (**self).prefetch(click_id);
            }
        }
    )*};
}

forward_store!(&S, std::sync::Arc<S>, Box<S>);
