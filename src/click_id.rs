//! Click ids: what a tracker hands out at click time and expects back in the postback.
//!
//! # Representation
//!
//! A [`ClickId`] is 128 bits: a 48-bit Unix timestamp in milliseconds followed by
//! 80 random bits. Its text form is 26 characters of
//! [Crockford base32](https://www.crockford.com/base32.html): digits and lower-case letters
//! without `i`, `l`, `o` and `u`. That form is
//!
//! - **URL-safe**: no character needs percent-encoding in any URL component, so the id survives
//!   every macro, redirect and network unchanged;
//! - **lower-case on output**: some networks lower-case whole postback URLs. An id that is already
//!   lower-case comes back byte-for-byte identical, so even a store that keys on the raw string
//!   matches it. Parsing accepts either case;
//! - **sortable**: the timestamp comes first, so ids sort by creation time both as numbers and as
//!   text, which keeps a database index on them append-friendly.
//!
//! # Ids the crate did not make
//!
//! Postbacks carry whatever id the user's tracker issued: UUIDs, integers, another tracker's
//! format. Matching in this crate works on any bounded string the network sends back; `ClickId`
//! is the recommended generator, never a requirement.
//!
//! # Unguessability
//!
//! The random bits come from a cryptographically secure generator ([`rand::rng`], a ChaCha-based
//! generator seeded from the operating system and reseeded periodically), never from the clock or
//! std's hashing. The first id of a millisecond has 80 random bits; an id made in the same
//! millisecond as the previous one takes the next sequence number and 64 fresh random bits (see
//! [`ClickIdGenerator`]), so it still carries 64 bits an attacker cannot predict.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use time::OffsetDateTime;

/// The Crockford base32 alphabet, lower-case (see the module docs for why lower-case).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Marks bytes outside the alphabet in [`DECODE`].
const INVALID: u8 = 0xff;

/// Byte → 5-bit value, case-insensitive; `INVALID` elsewhere. Built at compile time from
/// [`ALPHABET`] so the two can never disagree.
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        let c = ALPHABET[i];
        table[c as usize] = i as u8;
        table[c.to_ascii_uppercase() as usize] = i as u8;
        i += 1;
    }
    table
};

const RANDOM_BITS: u32 = 80;
const RANDOM_MASK: u128 = (1 << RANDOM_BITS) - 1;

/// The latest timestamp a generated id carries: 9999-12-31T23:59:59.999Z, the last instant
/// [`time::OffsetDateTime`] represents without its `large-dates` feature. A clock past it is
/// clamped, which leaves 2^46 ms of headroom in the 48-bit field so carries never overflow.
const MAX_TIMESTAMP_MS: u64 = 253_402_300_799_999;

/// A 128-bit, time-ordered, URL-safe click id.
///
/// Made by [`ClickIdGenerator::generate`] or [`ClickId::generate`]; read back with
/// [`ClickId::parse`] or [`str::parse`]. Its `Ord` is time order.
///
/// # Example
///
/// ```
/// use postback::ClickId;
///
/// let id = ClickId::generate();
/// let text = id.encode();
/// assert_eq!(text.len(), ClickId::LENGTH);
/// assert_eq!(text.as_str().parse::<ClickId>()?, id);
/// // Parsing is case-insensitive: a network that upper-cases the URL still matches.
/// assert_eq!(ClickId::parse(&text.to_ascii_uppercase())?, id);
/// # Ok::<(), postback::ParseClickIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClickId(u128);

impl ClickId {
    /// Length of the text form, in bytes.
    pub const LENGTH: usize = 26;

    /// Makes an id from the process-wide generator (system clock, thread-local CSPRNG).
    ///
    /// Ids from this function never repeat within the process and sort in the order they were
    /// made. Use a [`ClickIdGenerator`] of your own to inject a clock or entropy in tests.
    #[must_use]
    pub fn generate() -> Self {
        static GLOBAL: ClickIdGenerator = ClickIdGenerator::new();
        GLOBAL.generate()
    }

    /// Makes an id from a millisecond timestamp and random bits.
    ///
    /// Bits of `timestamp_ms` above 48 and of `random` above 80 are discarded.
    #[must_use]
    pub const fn from_parts(timestamp_ms: u64, random: u128) -> Self {
        let ts = (timestamp_ms as u128) & ((1 << 48) - 1);
        Self(ts << RANDOM_BITS | (random & RANDOM_MASK))
    }

    /// The id as a 128-bit number (timestamp in the top 48 bits).
    #[must_use]
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The id as a 128-bit number (timestamp in the top 48 bits).
    #[must_use]
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The creation time in milliseconds since the Unix epoch.
    #[must_use]
    pub const fn timestamp_ms(self) -> u64 {
        (self.0 >> RANDOM_BITS) as u64
    }

    /// The creation time.
    ///
    /// Ids this crate generates never carry a time past 9999-12-31; an id parsed from text can
    /// (its 48-bit field reaches the year 10889), and its time is clamped to
    /// 9999-12-31T23:59:59.999Z rather than failing.
    #[must_use]
    pub fn timestamp(self) -> OffsetDateTime {
        let ms = self.timestamp_ms().min(MAX_TIMESTAMP_MS);
        // In range by the clamp above, so the fallback is never taken; it avoids a panic path.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The text form, on the stack: no allocation.
    ///
    /// ```
    /// let id = postback::ClickId::from_parts(1_732_435_200_000, 42);
    /// assert_eq!(id.encode().as_str(), "01jdejyj00000000000000001a");
    /// ```
    #[must_use]
    pub fn encode(self) -> EncodedClickId {
        // 26 characters hold 130 bits: the first takes the top 3 bits, the second the next 5,
        // and the remaining 120 bits go out as three 40-bit chunks of 8 characters each. Working
        // on `u64` chunks instead of shifting the whole `u128` 26 times halves the cost.
        let mut buf = [0u8; Self::LENGTH];
        buf[0] = ALPHABET[(self.0 >> 125) as usize & 31];
        buf[1] = ALPHABET[(self.0 >> 120) as usize & 31];
        for (chunk, out) in buf[2..].chunks_exact_mut(8).enumerate() {
            let bits = (self.0 >> (80 - 40 * chunk as u32)) as u64;
            for (i, c) in out.iter_mut().enumerate() {
                *c = ALPHABET[(bits >> (35 - 5 * i as u32)) as usize & 31];
            }
        }
        EncodedClickId(buf)
    }

    /// Parses the 26-character text form, in either case.
    ///
    /// # Errors
    ///
    /// Fails, naming the offending byte where there is one, when
    /// - the text is not 26 bytes long (`"01jd"`);
    /// - a byte is outside the Crockford alphabet (`i`, `l`, `o`, `u`, `-`, a space, non-ASCII);
    /// - the value overflows 128 bits: the first character must be `0`–`7`.
    pub fn parse(text: &str) -> Result<Self, ParseClickIdError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Parses the text form from bytes; see [`ClickId::parse`].
    ///
    /// # Errors
    ///
    /// As [`ClickId::parse`].
    pub fn parse_bytes(text: &[u8]) -> Result<Self, ParseClickIdError> {
        if text.len() != Self::LENGTH {
            return Err(ParseClickIdError::InvalidLength { len: text.len() });
        }
        // The hot path of every postback lookup: three 64-bit accumulators (6, 10 and 10
        // digits) instead of one 128-bit one, and one validity test at the end (an invalid
        // byte decodes to 0xff, whose top bits no digit has).
        // Fixed-size arrays: the loops unroll with no bounds checks.
        let (high, mid, low) = match text.split_first_chunk::<6>() {
            Some((high, rest)) => match rest.split_first_chunk::<10>() {
                Some((mid, low)) => (
                    decode_digits(high),
                    decode_digits(mid),
                    low.first_chunk::<10>().map_or((0, INVALID), decode_digits),
                ),
                None => ((0, INVALID), (0, 0), (0, 0)),
            },
            None => ((0, INVALID), (0, 0), (0, 0)),
        };
        if let Some(&byte) = text.first()
            && (8..32).contains(&DECODE[usize::from(byte)])
        {
            return Err(ParseClickIdError::Overflow { byte });
        }
        if (high.1 | mid.1 | low.1) & !31 != 0 {
            let (at, &byte) = text
                .iter()
                .enumerate()
                .find(|(_, byte)| DECODE[usize::from(**byte)] == INVALID)
                .unwrap_or((0, &0));
            return Err(ParseClickIdError::InvalidChar { at, byte });
        }
        Ok(Self(
            u128::from(high.0) << 100 | u128::from(mid.0) << 50 | u128::from(low.0),
        ))
    }
}

/// `N` base32 digits as one number, and the or of their decoded bytes (bits above 31 set when
/// one was not a digit).
#[inline]
fn decode_digits<const N: usize>(digits: &[u8; N]) -> (u64, u8) {
    digits.iter().fold((0u64, 0u8), |(value, seen), &byte| {
        let digit = DECODE[usize::from(byte)];
        // An invalid byte's 0xff spills into the value, which is then never used.
        (value << 5 | u64::from(digit), seen | digit)
    })
}

impl fmt::Display for ClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.encode().as_str())
    }
}

impl fmt::Debug for ClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClickId({})", self.encode().as_str())
    }
}

impl FromStr for ClickId {
    type Err = ParseClickIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for ClickId {
    type Error = ParseClickIdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl From<ClickId> for u128 {
    fn from(id: ClickId) -> Self {
        id.0
    }
}

/// The text form of a [`ClickId`], held on the stack. Derefs to `str`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncodedClickId([u8; ClickId::LENGTH]);

impl EncodedClickId {
    /// The text, borrowed.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Every byte comes from ALPHABET, which is ASCII, so this never fails; the fallback keeps
        // the function free of a panic path without `unsafe`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for EncodedClickId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EncodedClickId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for EncodedClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for EncodedClickId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Why a text is not a [`ClickId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseClickIdError {
    /// The text is not [`ClickId::LENGTH`] bytes long.
    #[error("click id must be 26 characters long, got {len}")]
    #[non_exhaustive]
    InvalidLength {
        /// The length that was given, in bytes.
        len: usize,
    },
    /// A byte is not in the Crockford base32 alphabet.
    #[error(
        "invalid character {} at byte {at} of click id: expected 0-9 or a letter other than i, l, o, u",
        ByteLiteral(*byte)
    )]
    #[non_exhaustive]
    InvalidChar {
        /// Offset of the byte in the text.
        at: usize,
        /// The byte itself.
        byte: u8,
    },
    /// The first character is above `7`, so the value needs more than 128 bits.
    #[error(
        "click id overflows 128 bits: its first character is {}, but must be 0-7 (at byte 0)",
        ByteLiteral(*byte)
    )]
    #[non_exhaustive]
    Overflow {
        /// The first byte of the text.
        byte: u8,
    },
}

/// Shows a byte from untrusted input: printable ASCII quoted, anything else in hex.
struct ByteLiteral(u8);

impl fmt::Display for ByteLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "`{}`", char::from(self.0))
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

/// A source of the current time for a [`ClickIdGenerator`].
///
/// Implemented by [`SystemClock`] and by any `Fn() -> u64 + Send + Sync` closure returning
/// Unix milliseconds, so tests can drive time by hand.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_unix_ms(&self) -> u64;
}

/// The system clock. A clock before 1970 reads as 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl<F: Fn() -> u64 + Send + Sync> Clock for F {
    fn now_unix_ms(&self) -> u64 {
        self()
    }
}

/// A source of random bits for a [`ClickIdGenerator`].
///
/// The default, [`ThreadEntropy`], is a cryptographically secure generator. Implement this
/// (or pass an `Fn() -> u128 + Send + Sync` closure) only to make ids deterministic in tests:
/// ids from a predictable source are guessable.
pub trait Entropy: Send + Sync {
    /// 128 random bits. The generator uses the low 64 for every id and 16 of the high ones to
    /// start a millisecond's sequence.
    fn next_u128(&self) -> u128;
}

/// The thread-local CSPRNG of the `rand` crate ([`rand::rng`]): ChaCha12, seeded from the
/// operating system, reseeded periodically. One per thread, so generating takes no lock for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadEntropy;

impl Entropy for ThreadEntropy {
    fn next_u128(&self) -> u128 {
        // Two word draws from the block buffer are cheaper than a 16-byte `fill_bytes`.
        let mut rng = rand::rng();
        u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())
    }
}

impl<F: Fn() -> u128 + Send + Sync> Entropy for F {
    fn next_u128(&self) -> u128 {
        self()
    }
}

/// Makes [`ClickId`]s: unique within the generator, unguessable, sorted by time.
///
/// Share one generator between threads (`&self` is enough). Its ids
///
/// - **never repeat** and **always increase**, even when the clock stands still or goes
///   backwards. Below the 48-bit timestamp sit 16 bits of sequence and 64 random bits. The first
///   id of a millisecond starts the sequence at a random value; each further id in the same
///   millisecond (or while the clock is behind) takes the next value. When the sequence
///   overflows it carries into the timestamp, so ids run up to a millisecond ahead of the clock
///   under extreme load; nothing panics and nothing repeats;
/// - **carry at least 64 unpredictable bits** each (80 for the first id of a millisecond).
///
/// The only shared state is one atomic word updated with compare-and-swap: no lock.
///
/// # Example
///
/// ```
/// use postback::ClickIdGenerator;
///
/// // A fixed clock and a counter for entropy: deterministic ids for a test.
/// let counter = std::sync::atomic::AtomicU64::new(0);
/// let ids = ClickIdGenerator::with_sources(
///     || 1_732_435_200_000,
///     move || u128::from(counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
/// );
/// let (a, b) = (ids.generate(), ids.generate());
/// assert!(a < b);
/// assert_eq!(a.timestamp_ms(), 1_732_435_200_000);
/// assert_eq!(b.timestamp_ms(), 1_732_435_200_000);
/// ```
pub struct ClickIdGenerator<C = SystemClock, E = ThreadEntropy> {
    clock: C,
    entropy: E,
    last_high: AtomicU64,
}

impl ClickIdGenerator {
    /// A generator on the system clock and the thread-local CSPRNG.
    #[must_use]
    pub const fn new() -> Self {
        Self::with_sources(SystemClock, ThreadEntropy)
    }
}

impl Default for ClickIdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock, E: Entropy> ClickIdGenerator<C, E> {
    /// A generator with the given clock and entropy, for deterministic tests.
    #[must_use]
    pub const fn with_sources(clock: C, entropy: E) -> Self {
        Self {
            clock,
            entropy,
            last_high: AtomicU64::new(0),
        }
    }

    /// Makes the next id.
    #[must_use]
    pub fn generate(&self) -> ClickId {
        let random = self.entropy.next_u128();
        let now = self.clock.now_unix_ms().min(MAX_TIMESTAMP_MS);
        // `last_high` is the top 64 bits of the last id: its 48-bit timestamp and 16 bits of
        // sequence. Every id swaps in a strictly greater value, so ids never repeat and always
        // increase, whatever the clock does. A new millisecond starts the sequence at a random
        // point; within a millisecond (or when the clock went back) the sequence counts up, and
        // its overflow carries into the timestamp. The low 64 bits are always fresh randomness.
        let mut current = self.last_high.load(Ordering::Relaxed);
        let high = loop {
            let next = if now > current >> 16 {
                now << 16 | (random >> 64) as u64 & 0xffff
            } else {
                // Cannot overflow: timestamps are clamped to year 9999, 2^46 ms below the top.
                current.saturating_add(1)
            };
            // One location, so its modification order alone makes the ids unique; no other
            // memory is published through it, hence `Relaxed`.
            match self.last_high.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break next,
                Err(actual) => current = actual,
            }
        };
        ClickId(u128::from(high) << 64 | u128::from(random as u64))
    }
}

impl<C, E> fmt::Debug for ClickIdGenerator<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickIdGenerator").finish_non_exhaustive()
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::ClickId;
    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;
    use std::fmt;

    impl serde::Serialize for ClickId {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(self.encode().as_str())
        }
    }

    impl<'de> serde::Deserialize<'de> for ClickId {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct IdVisitor;
            impl Visitor<'_> for IdVisitor {
                type Value = ClickId;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a 26-character Crockford base32 click id")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<ClickId, E> {
                    ClickId::parse(v).map_err(E::custom)
                }
            }
            deserializer.deserialize_str(IdVisitor)
        }
    }
}

#[cfg(test)]
mod tests;
