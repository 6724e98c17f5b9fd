//! The "Received postbacks" screen: a bounded log of what came in and what became of it.
//!
//! The field's first debugging step is "check the postback log": an empty log means the network
//! sends nothing; "click id not found" means it sends back a different id. [`PostbackLog`] keeps
//! the last postbacks a [`Tracker`](crate::Tracker) handled with the raw request, the outcome and
//! its code, the parsed fields and a hint a person can act on. When it is full the oldest entry
//! goes, and [`PostbackLog::evicted`] says how many went: nothing disappears unannounced.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use time::OffsetDateTime;

use crate::outcome::Outcome;
use crate::parse::Postback;

/// The most bytes of a request's target and body an entry keeps; longer ones are cut and
/// marked [`LogEntry::truncated`].
pub const MAX_LOGGED_REQUEST: usize = 4096;

/// One handled postback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    seq: u64,
    received_at: OffsetDateTime,
    peer: Option<IpAddr>,
    target: Box<str>,
    body: Option<Box<str>>,
    truncated: bool,
    outcome: Outcome,
    postback: Option<Postback<'static>>,
    hint: Option<Box<str>>,
}

impl LogEntry {
    /// An entry for a request received at `received_at` from `peer` (the client behind your
    /// proxies, when known). Pass the target and body with secrets redacted
    /// ([`Guard::redact`](crate::Guard::redact)): the log shows them to people. The postback's
    /// [`token`](Postback::token) is dropped here, so no entry holds it. Its sequence number is
    /// set when it is pushed.
    ///
    /// Crate-private: only a [`Tracker`](crate::Tracker) writes the log, so every entry's
    /// outcome is one the tracker decided and its text is redacted.
    #[must_use]
    pub(crate) fn new(
        received_at: OffsetDateTime,
        peer: Option<IpAddr>,
        target: &str,
        body: Option<&[u8]>,
        outcome: Outcome,
        postback: Option<Postback<'static>>,
        hint: Option<String>,
    ) -> Self {
        let (target, cut_target) = bounded_text(target);
        let (body, cut_body) = match body {
            Some(body) => {
                let (text, cut) = bounded(body);
                (Some(text), cut)
            }
            None => (None, false),
        };
        Self {
            seq: 0,
            received_at,
            peer,
            target,
            body,
            truncated: cut_target || cut_body,
            outcome,
            // The token is a secret: not in `Debug` output, not for a log screen's readers.
            postback: postback.map(Postback::without_token),
            hint: hint.map(String::into_boxed_str),
        }
    }

    /// Its position in the log's whole history, from 1: gaps at the front are evicted entries.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When the request arrived.
    #[must_use]
    pub fn received_at(&self) -> OffsetDateTime {
        self.received_at
    }

    /// The peer address, if the server gave one.
    #[must_use]
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// The request target as received (cut at [`MAX_LOGGED_REQUEST`] bytes).
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The form body, if there was one (invalid UTF-8 shown as U+FFFD; cut like the target).
    #[must_use]
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// Whether the target or body was cut.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// What became of the postback.
    #[must_use]
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// The outcome's stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.outcome.code()
    }

    /// The parsed postback, when it parsed.
    #[must_use]
    pub fn postback(&self) -> Option<&Postback<'static>> {
        self.postback.as_ref()
    }

    /// Why it failed, in a sentence a person can act on; `None` for a counted postback.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

/// The part of a request's target or body an entry can keep, and a few bytes more so that the
/// entry still sees it was cut: what the tracker redacts, so that a large body costs no more
/// to redact than a small one. A cut can split a token's value but not reveal it (the value
/// is hidden up to the cut).
pub(crate) fn head(text: &[u8]) -> &[u8] {
    text.get(..MAX_LOGGED_REQUEST + 4).unwrap_or(text)
}

/// [`head`] of a text, at a character boundary.
pub(crate) fn head_text(text: &str) -> &str {
    (MAX_LOGGED_REQUEST + 1..=MAX_LOGGED_REQUEST + 4)
        .find_map(|end| text.get(..end))
        .unwrap_or(text)
}

/// Keeps at most [`MAX_LOGGED_REQUEST`] bytes of text, cut at a character boundary: already
/// UTF-8, so no second check (it was a tenth of a logged postback's cost).
fn bounded_text(text: &str) -> (Box<str>, bool) {
    if text.len() <= MAX_LOGGED_REQUEST {
        return (text.into(), false);
    }
    // A boundary is at most three bytes back from any offset.
    let end = (MAX_LOGGED_REQUEST.saturating_sub(3)..=MAX_LOGGED_REQUEST)
        .rev()
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(0);
    (text.get(..end).unwrap_or_default().into(), true)
}

/// Keeps at most [`MAX_LOGGED_REQUEST`] bytes, cut at a character boundary.
fn bounded(bytes: &[u8]) -> (Box<str>, bool) {
    let cut = bytes.len() > MAX_LOGGED_REQUEST;
    let kept = bytes.get(..MAX_LOGGED_REQUEST).unwrap_or(bytes);
    let mut text = String::from_utf8_lossy(kept).into_owned();
    if cut && text.ends_with(char::REPLACEMENT_CHARACTER) {
        // The cut may have split a character; drop the partial one rather than show U+FFFD.
        text.pop();
    }
    (text.into_boxed_str(), cut)
}

/// A bounded, thread-safe log of handled postbacks, oldest first.
///
/// ```
/// use postback::log::PostbackLog;
///
/// let log = PostbackLog::new(2);
/// assert!(log.is_empty());
/// assert_eq!(log.capacity(), 2);
/// ```
#[derive(Debug)]
pub struct PostbackLog {
    capacity: usize,
    entries: Mutex<VecDeque<LogEntry>>,
    // Counters live outside the lock so that a tracker keeping no entries takes no lock.
    seen: AtomicU64,
    evicted: AtomicU64,
    /// Postbacks a tracker handled without building an entry (capacity 0), counted per thread
    /// stripe: one shared counter would bounce its cache line between cores on every postback.
    unkept: Stripes,
}

/// A counter split over cache-line-sized stripes, each thread adding to its own.
#[derive(Debug, Default)]
struct Stripes([Stripe; Stripes::COUNT]);

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

impl Stripes {
    const COUNT: usize = 8;

    fn add_one(&self) {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % Stripes::COUNT;
        }
        let stripe = MINE.with(|mine| *mine);
        if let Some(Stripe(count)) = self.0.get(stripe) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn sum(&self) -> u64 {
        self.0
            .iter()
            .map(|Stripe(count)| count.load(Ordering::Relaxed))
            .sum()
    }
}

impl PostbackLog {
    /// The capacity of a [`Tracker`](crate::Tracker)'s log unless set otherwise.
    pub const DEFAULT_CAPACITY: usize = 1000;

    /// A log that keeps the last `capacity` entries. Capacity 0 keeps none and only counts.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::new()),
            seen: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            unkept: Stripes::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<LogEntry>> {
        // Entries are pushed and popped whole; a panic elsewhere cannot leave one half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most entries it keeps.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds an entry, evicting the oldest when full, and returns its sequence number.
    pub(crate) fn push(&self, mut entry: LogEntry) -> u64 {
        if self.capacity == 0 {
            self.evicted.fetch_add(1, Ordering::Relaxed);
            return self.seen.fetch_add(1, Ordering::Relaxed) + 1 + self.unkept.sum();
        }
        let mut entries = self.lock();
        // Numbered under the lock, so entries are in sequence order.
        entry.seq = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let seq = entry.seq;
        while entries.len() >= self.capacity {
            entries.pop_front();
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        entries.push_back(entry);
        seq
    }

    /// Counts a postback that was handled without building an entry (capacity 0).
    pub(crate) fn count_unkept(&self) {
        self.unkept.add_one();
    }

    /// A copy of the entries kept now, oldest first.
    #[must_use]
    pub fn entries(&self) -> Vec<LogEntry> {
        self.lock().iter().cloned().collect()
    }

    /// The newest `n` entries, oldest first.
    #[must_use]
    pub fn last(&self, n: usize) -> Vec<LogEntry> {
        let entries = self.lock();
        let skip = entries.len().saturating_sub(n);
        entries.iter().skip(skip).cloned().collect()
    }

    /// How many entries it keeps now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it keeps no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many postbacks it has seen in all.
    #[must_use]
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed) + self.unkept.sum()
    }

    /// How many entries were evicted (or never kept) because of the bound.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed) + self.unkept.sum()
    }

    /// Writes the kept entries as JSON lines, oldest first (feature `serde`).
    ///
    /// # Errors
    ///
    /// The writer's error.
    #[cfg(feature = "serde")]
    pub fn write_json_lines<W: std::io::Write>(&self, mut writer: W) -> std::io::Result<()> {
        for entry in self.entries() {
            serde_json::to_writer(&mut writer, &entry)?;
            writer.write_all(b"\n")?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for LogEntry {
    /// One flat object: `seq`, `received_at` (RFC 3339), `peer`, `target`, `body`,
    /// `truncated`, `code`, `http_status`, `from`, `to`, `click_id`, `state`, `status`,
    /// `payout` (decimal string), `currency`, `txid`, `event`, `warnings`, `error` and `hint`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};

        let pb = self.postback.as_ref();
        let (from, to) = match &self.outcome {
            Outcome::Updated { from, to } | Outcome::IllegalTransition { from, to } => {
                (Some(from.as_str()), Some(to.as_str()))
            }
            _ => (None, None),
        };
        let error = match &self.outcome {
            Outcome::Invalid(err) => Some((err.code(), err.to_string())),
            Outcome::Unauthorized(err) => Some((err.code(), err.to_string())),
            Outcome::StoreError(err) => Some(("store_error", err.to_string())),
            _ => None,
        };
        let received_at = self
            .received_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(S::Error::custom)?;
        let warnings: Vec<String> = pb
            .map(|p| p.warnings().iter().map(ToString::to_string).collect())
            .unwrap_or_default();

        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("seq", &self.seq)?;
        map.serialize_entry("received_at", &received_at)?;
        map.serialize_entry("peer", &self.peer.map(|ip| ip.to_string()))?;
        map.serialize_entry("target", &*self.target)?;
        map.serialize_entry("body", &self.body.as_deref())?;
        map.serialize_entry("truncated", &self.truncated)?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("http_status", &self.outcome.http_status())?;
        map.serialize_entry("from", &from)?;
        map.serialize_entry("to", &to)?;
        map.serialize_entry("click_id", &pb.map(Postback::click_id))?;
        map.serialize_entry(
            "state",
            &pb.and_then(Postback::state)
                .map(crate::ConversionState::as_str),
        )?;
        map.serialize_entry("status", &pb.and_then(Postback::status))?;
        map.serialize_entry(
            "payout",
            &pb.and_then(Postback::payout).map(|a| a.to_string()),
        )?;
        map.serialize_entry(
            "currency",
            &pb.and_then(Postback::currency).map(|c| c.to_string()),
        )?;
        map.serialize_entry("txid", &pb.and_then(Postback::txid))?;
        map.serialize_entry("event", &pb.and_then(Postback::event))?;
        map.serialize_entry("warnings", &warnings)?;
        map.serialize_entry(
            "error",
            &error.map(|(code, message)| serde_json::json!({ "code": code, "message": message })),
        )?;
        map.serialize_entry("hint", &self.hint.as_deref())?;
        map.end()
    }
}
