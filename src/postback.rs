//! Turning what a network's server sent into a typed [`Postback`], or an error that explains it.
//!
//! A postback arrives as a full URL, a request target (`/postback?…`), a bare query or a form
//! body, written by someone else's template engine: macros left unexpanded (`{sub2}`,
//! `%7Bsubid%7D`, `REPLACE`), values encoded twice, duplicate keys that disagree, `1.234,56` as a
//! payout. [`Parser`] reads only the parameters its [`Profile`] names, in one pass over the query
//! bytes, decodes each value exactly once (`+` is a space) and trims it, and borrows from the
//! input unless a value needs decoding. Every problem is a [`ParsePostbackError`] with a stable
//! [`code`](ParsePostbackError::code) that names the parameter and says what to check.
//!
//! ```
//! use postback::ConversionState;
//! use postback::postback::Parser;
//!
//! let parser = Parser::builtin("keitaro").unwrap();
//! let pb = parser.parse("/postback?subid=1dad2cg1br22spja1&status=lead&payout=12,50&currency=usd")?;
//! assert_eq!(pb.click_id(), "1dad2cg1br22spja1");
//! assert_eq!(pb.state(), Some(ConversionState::Pending));
//! assert_eq!(pb.payout().unwrap().to_string(), "12.50");
//! assert_eq!(pb.currency().unwrap().as_str(), "USD");
//!
//! let err = parser.parse("/postback?subid=%7Bsubacc4%7D&status=sale").unwrap_err();
//! assert_eq!(err.code(), "unexpanded_macro");
//! # Ok::<(), postback::postback::ParsePostbackError>(())
//! ```
//!
//! # Performance
//!
//! A postback whose values need no percent-decoding parses without allocating: every field
//! of the [`Postback`] borrows from the input. Each profile builds a small index of its
//! parameter names on first use (one allocation per profile, shared by all threads).

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::money::{Amount, Currency, ParseAmountError};
use crate::profile::{ClickIdShape, Names, Profile, Slot, lead_slot};
use crate::status::{ConversionState, Vocabulary};

pub(crate) mod scan;
use scan::{Chunks, LOW_BITS, delimiters, find_any, key_words, zero_bytes};

/// A fact a postback carries; each [`Profile`] names the parameters for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Field {
    /// The click id the tracker issued.
    ClickId,
    /// The status word or code.
    Status,
    /// The payout amount.
    Payout,
    /// The payout's currency code.
    Currency,
    /// The transaction (order, conversion) id.
    Txid,
    /// The event or goal.
    Event,
    /// The shared-secret token.
    Token,
}

impl Field {
    /// Every field, in precedence order for error reports.
    pub const ALL: [Self; 7] = [
        Self::ClickId,
        Self::Status,
        Self::Payout,
        Self::Currency,
        Self::Txid,
        Self::Event,
        Self::Token,
    ];

    /// The stable lower-case name: `click_id`, `status`, `payout`, `currency`, `txid`, `event`,
    /// `token`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClickId => "click_id",
            Self::Status => "status",
            Self::Payout => "payout",
            Self::Currency => "currency",
            Self::Txid => "txid",
            Self::Event => "event",
            Self::Token => "token",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Something odd about a postback that did not stop it from parsing; a log can show it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// The value still looks percent-encoded after the one decoding round (`abc%2520def` became
    /// `abc%20def`); it is kept as decoded once.
    #[error(
        "`{param}` at byte {at} still looks percent-encoded after one decoding: the sender may encode it twice"
    )]
    #[non_exhaustive]
    StillEncoded {
        /// The parameter name.
        param: Box<str>,
        /// Byte offset of the value in the input.
        at: usize,
    },
    /// The JSON parameter held several items; only the first was read.
    #[error("`{param}` holds {items} items: only the first was read")]
    #[non_exhaustive]
    ExtraJsonItems {
        /// The parameter name.
        param: Box<str>,
        /// How many items it held.
        items: usize,
    },
    /// The profile reads a JSON parameter, but the crate was built without the `serde` feature.
    #[error("`{param}` holds JSON, which is read only with the `serde` feature")]
    #[non_exhaustive]
    JsonNotRead {
        /// The parameter name.
        param: Box<str>,
    },
}

impl Warning {
    /// A stable short name: `still_encoded`, `extra_json_items` or `json_not_read`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::StillEncoded { .. } => "still_encoded",
            Self::ExtraJsonItems { .. } => "extra_json_items",
            Self::JsonNotRead { .. } => "json_not_read",
        }
    }
}

/// One parsed postback. Borrows from the input; [`Postback::into_owned`] detaches it.
///
/// ```
/// use postback::postback::Postback;
/// use postback::ConversionState;
///
/// let pb = Postback::new("abc").with_state(Some(ConversionState::Approved));
/// assert_eq!(pb.click_id(), "abc");
/// assert_eq!(pb.status(), None, "the raw word is what the network sent: nothing here");
/// ```
#[derive(Clone)]
pub struct Postback<'a> {
    /// The texts that are slices of the input, by [`Text`]; `None` for a text not sent, or
    /// one in `owned`.
    borrowed: [Option<&'a str>; 5],
    state: Option<ConversionState>,
    payout: Option<Amount>,
    currency: Option<Currency>,
    /// Decoded or detached texts and the warnings: `None` for the common postback, which
    /// then is small to move (120 bytes on 64-bit targets), allocates nothing and has nothing
    /// to drop.
    owned: Option<Box<Owned>>,
}

/// The texts of a [`Postback`], as indexes of its arrays.
#[derive(Clone, Copy)]
enum Text {
    ClickId,
    Status,
    Txid,
    Event,
    Token,
}

/// What a [`Postback`] owns, when it owns anything.
#[derive(Clone, Default)]
struct Owned {
    texts: [Option<Box<str>>; 5],
    warnings: Vec<Warning>,
}

impl<'a> Postback<'a> {
    /// A postback with only a click id, for building one by hand (tests, replays).
    #[must_use]
    pub fn new(click_id: impl Into<Cow<'a, str>>) -> Self {
        Self::empty().with_text(Text::ClickId, Some(click_id.into()))
    }

    const fn empty() -> Self {
        Self {
            borrowed: [None; 5],
            state: None,
            payout: None,
            currency: None,
            owned: None,
        }
    }

    /// This postback with `text` set (or cleared), borrowed or owned as given.
    fn with_text(mut self, text: Text, value: Option<Cow<'a, str>>) -> Self {
        let i = text as usize;
        if let Some(owned) = &mut self.owned
            && let Some(slot) = owned.texts.get_mut(i)
        {
            *slot = None;
        }
        let borrowed = match value {
            None => None,
            Some(Cow::Borrowed(value)) => Some(value),
            Some(Cow::Owned(value)) => {
                let owned = self.owned.get_or_insert_with(Box::default);
                if let Some(slot) = owned.texts.get_mut(i) {
                    *slot = Some(value.into_boxed_str());
                }
                None
            }
        };
        if let Some(slot) = self.borrowed.get_mut(i) {
            *slot = borrowed;
        }
        self
    }

    /// The text at `text`, borrowed or owned.
    fn text(&self, text: Text) -> Option<&str> {
        let i = text as usize;
        match self.borrowed.get(i).copied().flatten() {
            Some(value) => Some(value),
            None => self.owned.as_ref()?.texts.get(i)?.as_deref(),
        }
    }

    /// This postback with the raw status word.
    #[must_use]
    pub fn with_status(self, status: Option<impl Into<Cow<'a, str>>>) -> Self {
        self.with_text(Text::Status, status.map(Into::into))
    }

    /// This postback with a state.
    #[must_use]
    pub fn with_state(mut self, state: Option<ConversionState>) -> Self {
        self.state = state;
        self
    }

    /// This postback with a payout.
    #[must_use]
    pub fn with_payout(mut self, payout: Option<Amount>) -> Self {
        self.payout = payout;
        self
    }

    /// This postback with a currency.
    #[must_use]
    pub fn with_currency(mut self, currency: Option<Currency>) -> Self {
        self.currency = currency;
        self
    }

    /// This postback with a transaction id.
    #[must_use]
    pub fn with_txid(self, txid: Option<impl Into<Cow<'a, str>>>) -> Self {
        self.with_text(Text::Txid, txid.map(Into::into))
    }

    /// This postback with an event or goal.
    #[must_use]
    pub fn with_event(self, event: Option<impl Into<Cow<'a, str>>>) -> Self {
        self.with_text(Text::Event, event.map(Into::into))
    }

    /// This postback with a token.
    #[must_use]
    pub fn with_token(self, token: Option<impl Into<Cow<'a, str>>>) -> Self {
        self.with_text(Text::Token, token.map(Into::into))
    }

    /// This postback with `warnings` added.
    fn with_warnings(mut self, warnings: Vec<Warning>) -> Self {
        if !warnings.is_empty() {
            self.owned
                .get_or_insert_with(Box::default)
                .warnings
                .extend(warnings);
        }
        self
    }

    /// The click id, decoded and trimmed; never empty in a parsed postback.
    #[must_use]
    pub fn click_id(&self) -> &str {
        self.text(Text::ClickId).unwrap_or_default()
    }

    /// The conversion state: the mapped status, the profile's default when no status was sent,
    /// or `None` for a word the profile does not know.
    #[must_use]
    pub const fn state(&self) -> Option<ConversionState> {
        self.state
    }

    /// The status exactly as sent (decoded and trimmed), kept even when it maps to no state.
    #[must_use]
    pub fn status(&self) -> Option<&str> {
        self.text(Text::Status)
    }

    /// The payout, exact.
    #[must_use]
    pub const fn payout(&self) -> Option<Amount> {
        self.payout
    }

    /// The currency, upper case.
    #[must_use]
    pub const fn currency(&self) -> Option<Currency> {
        self.currency
    }

    /// The transaction id.
    #[must_use]
    pub fn txid(&self) -> Option<&str> {
        self.text(Text::Txid)
    }

    /// The event or goal.
    #[must_use]
    pub fn event(&self) -> Option<&str> {
        self.text(Text::Event)
    }

    /// The value of the profile's token parameter, for a guard to check.
    #[must_use]
    pub fn token(&self) -> Option<&str> {
        self.text(Text::Token)
    }

    /// What was odd but not fatal, such as a value that still looks encoded.
    #[must_use]
    pub fn warnings(&self) -> &[Warning] {
        self.owned
            .as_ref()
            .map_or(&[], |owned| owned.warnings.as_slice())
    }

    /// The same postback, owning its text, so it can outlive the request.
    #[must_use]
    pub fn into_owned(self) -> Postback<'static> {
        let mut owned = self.owned.unwrap_or_default();
        for (slot, borrowed) in owned.texts.iter_mut().zip(self.borrowed) {
            if let Some(text) = borrowed {
                *slot = Some(text.into());
            }
        }
        let any = owned.texts.iter().any(Option::is_some) || !owned.warnings.is_empty();
        Postback {
            borrowed: [None; 5],
            state: self.state,
            payout: self.payout,
            currency: self.currency,
            owned: any.then_some(owned),
        }
    }
}

/// Two postbacks are equal when every accessor gives the same, whether a text is borrowed or
/// owned.
impl PartialEq for Postback<'_> {
    fn eq(&self, other: &Self) -> bool {
        let texts = [
            Text::ClickId,
            Text::Status,
            Text::Txid,
            Text::Event,
            Text::Token,
        ];
        texts.iter().all(|&t| self.text(t) == other.text(t))
            && self.state == other.state
            && self.payout == other.payout
            && self.currency == other.currency
            && self.warnings() == other.warnings()
    }
}

impl Eq for Postback<'_> {}

impl fmt::Debug for Postback<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postback")
            .field("click_id", &self.click_id())
            .field("status", &self.status())
            .field("state", &self.state)
            .field("payout", &self.payout)
            .field("currency", &self.currency)
            .field("txid", &self.txid())
            .field("event", &self.event())
            .field("token", &self.token())
            .field("warnings", &self.warnings())
            .finish()
    }
}

/// What is wrong with a `malformed` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MalformedKind {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    InvalidUtf8,
    /// The parameter (or an alias) appears twice with different values.
    ConflictingDuplicate,
    /// The click id does not have the profile's shape.
    ClickIdShape(ClickIdShape),
    /// The input looks like a URL but is not one.
    BadUrl,
    /// The JSON parameter is not a JSON object (or an array of them).
    BadJson,
    /// The click id holds an ASCII control character (a NUL byte, an inner line break), raw
    /// or percent-encoded.
    ControlCharacter,
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadEscape => f.write_str(
                "a `%` not followed by two hex digits: check that the sender URL-encodes the value",
            ),
            Self::InvalidUtf8 => {
                f.write_str("the decoded value is not UTF-8: check the sender's character encoding")
            }
            Self::ConflictingDuplicate => f.write_str(
                "sent twice with different values: check the template for a repeated parameter",
            ),
            Self::ClickIdShape(shape) => write!(
                f,
                "the click id must be {}: check that the network returns the tracker's id",
                shape.as_str()
            ),
            Self::BadUrl => f.write_str("not a URL: check the scheme and host"),
            Self::BadJson => f.write_str("not a JSON object: check the sender's JSON encoding"),
            Self::ControlCharacter => f.write_str(
                "the click id holds a control character (such as NUL or a line break): check that the network returns the tracker's id",
            ),
        }
    }
}

/// Which bound a [`ParsePostbackError::TooLong`] input crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// The whole input, in bytes ([`Limits::with_max_input_len`]).
    InputLength,
    /// The number of `&`-separated parameters ([`Limits::with_max_params`]).
    ParamCount,
    /// One read value after decoding, in bytes ([`Limits::with_max_value_len`]).
    ValueLength,
}

/// Why a postback could not be parsed. [`code`](Self::code) is stable; messages may improve.
///
/// When several problems apply, the first in this order is reported: `malformed`,
/// `missing_click_id`, `unexpanded_macro`, `bad_status`, `bad_payout`, `too_long` (an input
/// longer than the input or parameter-count limit is refused before anything else is read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParsePostbackError {
    /// A value could not be decoded, disagrees with a duplicate, or has the wrong shape.
    #[error("malformed `{param}` at byte {at}: {kind}")]
    #[non_exhaustive]
    Malformed {
        /// The parameter name (or `url` for the input itself).
        param: Box<str>,
        /// Byte offset in the input.
        at: usize,
        /// What is wrong.
        kind: MalformedKind,
    },
    /// No non-empty click id in any of the profile's click id parameters.
    #[error(
        "missing click id: the request has no non-empty `{param}`: check that the network's postback template sends the click macro"
    )]
    #[non_exhaustive]
    MissingClickId {
        /// The profile's click id parameters, comma separated.
        param: Box<str>,
    },
    /// A placeholder the sender never replaced.
    #[error(
        "unexpanded macro `{text}` in `{param}` at byte {at}: the network sent the macro literally: check that it is one the network knows, in its exact case"
    )]
    #[non_exhaustive]
    UnexpandedMacro {
        /// The parameter name.
        param: Box<str>,
        /// The macro as found (after up to two decodings), at most 64 characters.
        text: Box<str>,
        /// Byte offset of the parameter's value in the input.
        at: usize,
    },
    /// A status outside the profile's closed vocabulary.
    #[error("bad status `{value}` in `{param}` at byte {at}: the profile accepts only {expected}")]
    #[non_exhaustive]
    BadStatus {
        /// The parameter name.
        param: Box<str>,
        /// The value sent, at most 64 characters.
        value: Box<str>,
        /// Byte offset of the value in the input.
        at: usize,
        /// The accepted words, comma separated.
        expected: Box<str>,
    },
    /// A payout that is not one plain number.
    #[error(
        "bad payout `{value}` in `{param}` at byte {at}: {source}: send one plain number such as 12.50"
    )]
    #[non_exhaustive]
    BadPayout {
        /// The parameter name.
        param: Box<str>,
        /// The value sent, at most 64 characters.
        value: Box<str>,
        /// Byte offset of the value in the input.
        at: usize,
        /// Why it is not an amount.
        source: ParseAmountError,
    },
    /// A currency that is not a three-letter code (reported with code `bad_payout`).
    #[error(
        "bad currency `{value}` in `{param}` at byte {at}: send a three-letter code such as USD"
    )]
    #[non_exhaustive]
    BadCurrency {
        /// The parameter name.
        param: Box<str>,
        /// The value sent, at most 64 characters.
        value: Box<str>,
        /// Byte offset of the value in the input.
        at: usize,
    },
    /// An input, parameter count or value past the parser's [`Limits`].
    #[error("too long: {} is {len}, over the limit of {max}: check that the request is a postback", subject(*.limit, .param.as_deref()))]
    #[non_exhaustive]
    TooLong {
        /// The parameter whose value was too long (`None` for the input or parameter count).
        param: Option<Box<str>>,
        /// Which bound was crossed.
        limit: Limit,
        /// The measured size (for the parameter count, the count at which reading stopped).
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// What a `too_long` message measured.
fn subject(limit: Limit, param: Option<&str>) -> String {
    match (limit, param) {
        (Limit::InputLength, _) => "the input (bytes)".to_owned(),
        (Limit::ParamCount, _) => "the parameter count".to_owned(),
        (_, Some(param)) => format!("`{param}` (bytes)"),
        (_, None) => "a value (bytes)".to_owned(),
    }
}

impl ParsePostbackError {
    /// The stable code: `malformed`, `missing_click_id`, `unexpanded_macro`, `bad_status`,
    /// `bad_payout` or `too_long`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::MissingClickId { .. } => "missing_click_id",
            Self::UnexpandedMacro { .. } => "unexpanded_macro",
            Self::BadStatus { .. } => "bad_status",
            Self::BadPayout { .. } | Self::BadCurrency { .. } => "bad_payout",
            Self::TooLong { .. } => "too_long",
        }
    }

    /// The parameter the error is about, when there is one.
    #[must_use]
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::Malformed { param, .. }
            | Self::MissingClickId { param }
            | Self::UnexpandedMacro { param, .. }
            | Self::BadStatus { param, .. }
            | Self::BadPayout { param, .. }
            | Self::BadCurrency { param, .. } => Some(param),
            Self::TooLong { param, .. } => param.as_deref(),
        }
    }

    /// The byte offset in the input the error points at, when there is one.
    #[must_use]
    pub const fn at(&self) -> Option<usize> {
        match self {
            Self::Malformed { at, .. }
            | Self::UnexpandedMacro { at, .. }
            | Self::BadStatus { at, .. }
            | Self::BadPayout { at, .. }
            | Self::BadCurrency { at, .. } => Some(*at),
            Self::MissingClickId { .. } | Self::TooLong { .. } => None,
        }
    }
}

/// Bounds on what one parse reads. Past a bound is `too_long`, never a large allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    input_bytes: usize,
    params: usize,
    value_bytes: usize,
}

impl Default for Limits {
    /// 8 KiB of input (common web-server URL limit), 256 parameters, 512-byte values (Taboola's
    /// ~120-character click ids and 255-character sub ids fit).
    fn default() -> Self {
        Self {
            input_bytes: 8 * 1024,
            params: 256,
            value_bytes: 512,
        }
    }
}

impl Limits {
    /// These limits with a different maximum input length in bytes.
    #[must_use]
    pub const fn with_max_input_len(mut self, bytes: usize) -> Self {
        self.input_bytes = bytes;
        self
    }

    /// These limits with a different maximum number of parameters.
    #[must_use]
    pub const fn with_max_params(mut self, count: usize) -> Self {
        self.params = count;
        self
    }

    /// These limits with a different maximum length of one read value, in bytes after decoding.
    #[must_use]
    pub const fn with_max_value_len(mut self, bytes: usize) -> Self {
        self.value_bytes = bytes;
        self
    }

    /// The maximum input length in bytes.
    #[must_use]
    pub const fn max_input_len(self) -> usize {
        self.input_bytes
    }

    /// The maximum number of parameters.
    #[must_use]
    pub const fn max_params(self) -> usize {
        self.params
    }

    /// The maximum length of one read value in bytes.
    #[must_use]
    pub const fn max_value_len(self) -> usize {
        self.value_bytes
    }
}

#[derive(Debug, Clone)]
enum SharedProfile {
    Static(&'static Profile),
    Shared(Arc<Profile>),
}

/// A [`Profile`] plus [`Limits`]: the thing a request handler keeps and calls per request.
///
/// Cheap to clone and `Send + Sync`.
///
/// ```
/// use postback::postback::Parser;
///
/// let parser = Parser::generic();
/// let url = "https://tracker.example/postback?click_id=abc&status=approved&payout=12.50&currency=USD&txid=TX-1#ignored";
/// let pb = parser.parse(url)?;
/// assert_eq!((pb.click_id(), pb.txid()), ("abc", Some("TX-1")));
///
/// let body = b"click_id=abc&status=Hold&payout=3";
/// assert_eq!(parser.parse_form(body)?.status(), Some("Hold"));
/// # Ok::<(), postback::postback::ParsePostbackError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    profile: SharedProfile,
    limits: Limits,
}

impl Parser {
    /// A parser for `profile` with default [`Limits`].
    #[must_use]
    pub fn new(profile: Profile) -> Self {
        Self::from(Arc::new(profile))
    }

    /// A parser for the built-in profile called `name` (see [`Profile::BUILTIN_NAMES`]).
    #[must_use]
    pub fn builtin(name: &str) -> Option<Self> {
        Profile::builtin(name).map(Self::from)
    }

    /// A parser for the `generic` profile.
    #[must_use]
    pub fn generic() -> Self {
        Self::from(Profile::generic())
    }

    /// This parser with other limits.
    #[must_use]
    pub const fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The profile this parser reads with.
    #[must_use]
    pub fn profile(&self) -> &Profile {
        match &self.profile {
            SharedProfile::Static(profile) => profile,
            SharedProfile::Shared(profile) => profile,
        }
    }

    /// The limits this parser enforces.
    #[must_use]
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// Parses a full URL (`https://host/path?query`), a request target (`/path?query`) or a bare
    /// query (`a=1&b=2`, with or without a leading `?`). A fragment (`#…`) is ignored.
    ///
    /// # Errors
    ///
    /// One [`ParsePostbackError`], the first of: `malformed` (`click_id=%zz`, `https:///x?…`,
    /// `click_id=a&click_id=b`, `click_id=a%00b`), `missing_click_id` (`status=sale`,
    /// `click_id=`), `unexpanded_macro` (`click_id={subid}`, `click_id=%7Bsubid%7D`,
    /// `click_id=REPLACE`), `bad_status` (`status=4` for Affise), `bad_payout`
    /// (`payout=1.234,56`, `currency=usdt`), `too_long` (input or a value past the [`Limits`]).
    pub fn parse<'a>(&self, input: &'a str) -> Result<Postback<'a>, ParsePostbackError> {
        parse_with(
            self.profile(),
            self.limits,
            input.as_bytes(),
            Some(input),
            Shape::Detect,
        )
    }

    /// [`Parser::parse`], calling `on_click_id` with the click id's text as soon as the scan
    /// meets it, before it reads the rest of the input (and before the id is judged: the parse
    /// may still refuse it). The tracker asks its store to start fetching the click then, so
    /// that the fetch and the rest of the parse overlap. Only the fast path calls it: the
    /// general one is the rare case, and finds the click id as late as everything else.
    pub(crate) fn parse_announcing<'a>(
        &self,
        input: &'a str,
        on_click_id: impl FnMut(&str),
    ) -> Result<Postback<'a>, ParsePostbackError> {
        parse_announcing(
            self.profile(),
            self.limits,
            input.as_bytes(),
            Some(input),
            Shape::Detect,
            on_click_id,
        )
    }

    /// Parses a URL, request target or bare query given as bytes, as read from an access log
    /// or a raw request line. Exactly [`Parser::parse`], except that bytes that are not UTF-8
    /// are an error on the parameter that holds them (only if the profile reads it), as in
    /// [`Parser::parse_form`], instead of making the whole input unreadable.
    ///
    /// ```
    /// use postback::postback::Parser;
    ///
    /// let parser = Parser::generic();
    /// // A Latin-1 `é` in a parameter the profile does not read does not matter…
    /// let pb = parser.parse_bytes(b"/pb?click_id=abc&note=caf\xe9&status=approved")?;
    /// assert_eq!(pb.click_id(), "abc");
    /// // …in the click id it does.
    /// let err = parser.parse_bytes(b"/pb?click_id=caf\xe9").unwrap_err();
    /// assert_eq!(err.code(), "malformed");
    /// assert_eq!(err.at(), Some(16));
    /// # Ok::<(), postback::postback::ParsePostbackError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Parser::parse`]; for example `click_id=caf\xe9` is `malformed` (invalid UTF-8) at
    /// the byte that is not UTF-8.
    pub fn parse_bytes<'a>(&self, input: &'a [u8]) -> Result<Postback<'a>, ParsePostbackError> {
        parse_with(self.profile(), self.limits, input, None, Shape::Detect)
    }

    /// Parses an `application/x-www-form-urlencoded` body. Bytes, so that invalid UTF-8 is an
    /// error on the parameter that holds it (only if the profile reads it), not a lossy
    /// replacement. `#` has no special meaning in a body.
    ///
    /// # Errors
    ///
    /// As [`Parser::parse`]; for example `click_id=%FF` is `malformed` (invalid UTF-8).
    pub fn parse_form<'a>(&self, body: &'a [u8]) -> Result<Postback<'a>, ParsePostbackError> {
        parse_with(self.profile(), self.limits, body, None, Shape::Form)
    }
}

impl From<&'static Profile> for Parser {
    fn from(profile: &'static Profile) -> Self {
        Self {
            profile: SharedProfile::Static(profile),
            limits: Limits::default(),
        }
    }
}

impl From<Arc<Profile>> for Parser {
    fn from(profile: Arc<Profile>) -> Self {
        Self {
            profile: SharedProfile::Shared(profile),
            limits: Limits::default(),
        }
    }
}

impl Profile {
    /// Parses `input` with this profile and default [`Limits`]: see [`Parser::parse`].
    ///
    /// # Errors
    ///
    /// As [`Parser::parse`].
    pub fn parse<'a>(&self, input: &'a str) -> Result<Postback<'a>, ParsePostbackError> {
        parse_with(
            self,
            Limits::default(),
            input.as_bytes(),
            Some(input),
            Shape::Detect,
        )
    }

    /// Parses a form body with this profile and default [`Limits`]: see [`Parser::parse_form`].
    ///
    /// # Errors
    ///
    /// As [`Parser::parse_form`].
    pub fn parse_form<'a>(&self, body: &'a [u8]) -> Result<Postback<'a>, ParsePostbackError> {
        parse_with(self, Limits::default(), body, None, Shape::Form)
    }

    fn field_params(&self, field: Field) -> &[Box<str>] {
        match field {
            Field::ClickId => self.click_id_params(),
            Field::Status => self.status_params(),
            Field::Payout => self.payout_params(),
            Field::Currency => self.currency_params(),
            Field::Txid => self.txid_params(),
            Field::Event => self.event_params(),
            Field::Token => self.token_params(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Detect,
    Form,
}

/// Longest text copied from the input into an error.
const QUOTE_MAX: usize = 64;

fn quote(text: &str) -> Box<str> {
    text.chars().take(QUOTE_MAX).collect()
}

/// Where the query starts inside `input` (`input.len()` when there is none). Its end is found
/// by the scan ([`Segments`]): the first `#`, or the end of the input.
#[inline]
fn query_start(input: &[u8], shape: Shape) -> Result<usize, ParsePostbackError> {
    if shape == Shape::Form {
        return Ok(0);
    }
    let find_from = |from: usize, at: usize| (from + at < input.len()).then_some(from + at);
    let question_or_hash = |from: usize| {
        let rest = input.get(from..).unwrap_or_default();
        find_from(from, find_any(rest, [b'?', b'#']))
    };
    let start = if input.first() == Some(&b'/') {
        question_or_hash(0)
    } else if let Some(after_scheme) = scheme_end(input) {
        // No host: `https:///x`, `https://?a=1`. A host holds no `?` or `#`, so the first
        // one after the scheme ends the path as well.
        if matches!(input.get(after_scheme), None | Some(b'/' | b'?' | b'#')) {
            return Err(ParsePostbackError::Malformed {
                param: "url".into(),
                at: after_scheme,
                kind: MalformedKind::BadUrl,
            });
        }
        question_or_hash(after_scheme)
    } else {
        // A bare query, or a relative target without the leading slash (`gpb.php?subid=1`):
        // a `?` before any `=`, `&` or `#` ends a path.
        match find_any(input, [b'?', b'=', b'&', b'#']) {
            at if input.get(at) == Some(&b'?') => Some(at),
            _ => Some(0),
        }
    };
    // A `#` before any `?` means the query is empty: everything after it is fragment.
    Ok(match start.map(|at| (at, input.get(at))) {
        None | Some((_, Some(b'#'))) => input.len(),
        Some((at, Some(b'?'))) => at + 1,
        Some((at, _)) => at,
    })
}

/// The offset just after `scheme://`, if `input` starts with a URL scheme.
fn scheme_end(input: &[u8]) -> Option<usize> {
    // The schemes postbacks come with, without a byte-by-byte look.
    if input.starts_with(b"https://") {
        return Some(8);
    }
    if input.starts_with(b"http://") {
        return Some(7);
    }
    let first = *input.first()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let colon = input
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))?;
    input.get(colon..)?.starts_with(b"://").then_some(colon + 3)
}

/// What a query key means to the profile.
#[derive(Debug, Clone, Copy)]
enum Target<'p> {
    Field(Field, &'p str),
    Mapping,
    Json,
    Ignored,
}

fn target<'p>(profile: &'p Profile, key: &[u8]) -> Target<'p> {
    match profile.lookup().find(key) {
        Some(Slot::Field(f, i)) => {
            let field = Field::ALL
                .get(usize::from(f))
                .copied()
                .unwrap_or(Field::Token);
            let name = profile.field_params(field).get(usize::from(i));
            name.map_or(Target::Ignored, |name| Target::Field(field, name))
        }
        Some(Slot::Mapping) => Target::Mapping,
        Some(Slot::Json) => Target::Json,
        None => Target::Ignored,
    }
}

/// Byte classes for the single scan over the query.
mod class {
    pub(super) const AMP: u8 = 1;
    pub(super) const EQ: u8 = 2;
    pub(super) const HASH: u8 = 4;
    /// `%` or `+`: the value needs decoding.
    pub(super) const ENC: u8 = 8;
    /// A byte that can start a macro: `{ [ # ! % < $`.
    pub(super) const MACRO: u8 = 16;
    /// Not ASCII: UTF-8 must be checked.
    pub(super) const WIDE: u8 = 32;
    /// ASCII whitespace: the value needs trimming.
    pub(super) const SPACE: u8 = 64;
    /// An ASCII control character (which no store accepts in a click id).
    pub(super) const CTRL: u8 = 128;

    pub(super) const TABLE: [u8; 256] = {
        let mut table = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            let b = i as u8;
            let mut c = 0;
            match b {
                b'&' => c |= AMP,
                b'=' => c |= EQ,
                b'#' => c |= HASH | MACRO,
                b'%' => c |= ENC | MACRO,
                b'+' => c |= ENC,
                b'{' | b'[' | b'!' | b'<' | b'$' => c |= MACRO,
                b' ' => c |= SPACE,
                b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => c |= SPACE | CTRL,
                0x00..=0x1f | 0x7f => c |= CTRL,
                0x80..=0xff => c |= WIDE,
                _ => {}
            }
            table[i] = c;
            i += 1;
        }
        table
    };
}

/// One `key=value` segment of the query.
#[derive(Debug, Clone, Copy)]
struct Segment<'a> {
    key: &'a [u8],
    value: &'a [u8],
    /// Offset of the value in the input.
    at: usize,
}

/// The byte classes ([`class`]) present in `bytes`.
fn flags_of(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0, |flags, &b| flags | class::TABLE[usize::from(b)])
}

/// The segment from `start` to `end` (exclusive) whose first `=` is at `eq` (`usize::MAX`:
/// none).
#[inline]
fn segment(input: &[u8], start: usize, eq: usize, end: usize) -> Segment<'_> {
    let (key_end, at) = if eq == usize::MAX {
        (end, end)
    } else {
        (eq, eq + 1)
    };
    Segment {
        key: input.get(start..key_end).unwrap_or_default(),
        value: input.get(at..end).unwrap_or_default(),
        at,
    }
}

/// The single pass: calls `visit` with each segment of the query that starts at `start`,
/// split at `&` and at each segment's first `=`, stopping at `#` (except in a form body, where
/// `#` is data), until `visit` breaks. It reads the query eight bytes at a time and visits
/// only the delimiters: a few instructions per word plus a few per delimiter. A closure rather
/// than an iterator, so that the scan's state stays in registers inside the caller's loop.
#[inline]
fn for_each_segment<'a, B>(
    input: &'a [u8],
    start: usize,
    shape: Shape,
    mut visit: impl FnMut(Segment<'a>) -> ControlFlow<B>,
) -> ControlFlow<B> {
    if start >= input.len() {
        return ControlFlow::Continue(());
    }
    let form = shape == Shape::Form;
    let mut seg_start = start;
    let mut eq = usize::MAX;
    let mut base = start;
    loop {
        let mut mask = delimiters(input, base);
        while mask != 0 {
            let pos = base + (mask.trailing_zeros() / 8) as usize;
            mask &= mask - 1;
            match input.get(pos) {
                Some(b'&') => {
                    visit(segment(input, seg_start, eq, pos))?;
                    seg_start = pos + 1;
                    eq = usize::MAX;
                }
                Some(b'=') if eq == usize::MAX => eq = pos,
                Some(b'#') if !form => return visit(segment(input, seg_start, eq, pos)),
                _ => {}
            }
        }
        base += 8;
        if base >= input.len() {
            return visit(segment(input, seg_start, eq, input.len()));
        }
    }
}

/// Why a value could not be decoded: the kind and its byte offset within the raw value.
struct DecodeError {
    kind: MalformedKind,
    at: usize,
}

fn needs_decoding(raw: &[u8]) -> bool {
    raw.iter().any(|&b| b == b'%' || b == b'+')
}

/// [`decode`], skipping the work the scan's byte classes show is not needed: a plain value
/// is a slice of the input text (when the input was a `&str`, no UTF-8 check at all).
fn decode_flagged<'a>(
    raw: &'a [u8],
    flags: u8,
    src: Option<&'a str>,
    at: usize,
) -> Result<Cow<'a, str>, DecodeError> {
    if flags & (class::ENC | class::WIDE | class::SPACE) == 0 {
        if let Some(text) = src.and_then(|src| src.get(at..at + raw.len())) {
            return Ok(Cow::Borrowed(text));
        }
        if let Ok(text) = std::str::from_utf8(raw) {
            return Ok(Cow::Borrowed(text));
        }
    }
    decode(raw)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One round of form-urlencoded decoding (`+` is a space), strict about escapes and UTF-8,
/// then trimmed. Borrows unless the value contains `%` or `+`.
fn decode(raw: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    if !needs_decoding(raw) {
        return match std::str::from_utf8(raw) {
            Ok(text) => Ok(Cow::Borrowed(text.trim())),
            Err(e) => Err(DecodeError {
                kind: MalformedKind::InvalidUtf8,
                at: e.valid_up_to(),
            }),
        };
    }
    let mut out = Vec::with_capacity(raw.len());
    // For each decoded byte, where its source starts in `raw`, to point UTF-8 errors at input.
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let byte = raw
                    .get(i + 1)
                    .and_then(|&h| hex(h))
                    .zip(raw.get(i + 2).and_then(|&l| hex(l)));
                let Some((high, low)) = byte else {
                    return Err(DecodeError {
                        kind: MalformedKind::BadEscape,
                        at: i,
                    });
                };
                out.push(high << 4 | low);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(text) => {
            let trimmed = text.trim();
            Ok(Cow::Owned(if trimmed.len() == text.len() {
                text
            } else {
                trimmed.to_owned()
            }))
        }
        Err(e) => Err(DecodeError {
            kind: MalformedKind::InvalidUtf8,
            at: raw_offset(raw, e.utf8_error().valid_up_to()),
        }),
    }
}

/// The offset in `raw` of the `decoded`-th decoded byte.
fn raw_offset(raw: &[u8], decoded: usize) -> usize {
    let mut i = 0;
    for _ in 0..decoded {
        i += if raw.get(i) == Some(&b'%') { 3 } else { 1 };
    }
    i.min(raw.len())
}

/// Whether decoded text still holds a valid `%XX` escape.
fn still_encoded(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .windows(3)
        .any(|w| matches!(w, [b'%', h, l] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()))
}

/// Length of a macro name starting at `bytes[from]`: a letter or `_`, then letters, digits,
/// `_`, `-` or `.`.
fn name_len(bytes: &[u8], from: usize) -> usize {
    match bytes.get(from) {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {}
        _ => return 0,
    }
    bytes
        .iter()
        .skip(from)
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count()
}

/// How many times `byte` repeats from `bytes[from]`, up to `max`.
fn run(bytes: &[u8], from: usize, byte: u8, max: usize) -> usize {
    bytes
        .iter()
        .skip(from)
        .take(max)
        .take_while(|&&b| b == byte)
        .count()
}

/// The first placeholder of any dialect in `text`: its byte range.
///
/// Dialects: `{name}`, `{{name}}`, `{name:args}`, `${NAME}`, `#name#`, `[name]`, `[[name]]`,
/// `[[[name]]]`, `!!!name!!!`, `%NAME%`, `<name>`, and the whole-value words `REPLACE` and
/// `OPTIONAL`.
fn find_macro(text: &str) -> Option<(usize, usize)> {
    if text == "REPLACE" || text == "OPTIONAL" {
        return Some((0, text.len()));
    }
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let found = match b {
            b'{' => {
                let open = run(bytes, i, b'{', 2);
                let name = name_len(bytes, i + open);
                let mut j = i + open + name;
                if name > 0 && bytes.get(j) == Some(&b':') {
                    // Keitaro's `{name:args}`: anything but braces up to the close.
                    j += bytes
                        .iter()
                        .skip(j)
                        .take_while(|&&c| c != b'}' && c != b'{')
                        .count();
                }
                (name > 0 && bytes.get(j) == Some(&b'}')).then(|| j + run(bytes, j, b'}', open))
            }
            b'[' => {
                let open = run(bytes, i, b'[', 3);
                let name = name_len(bytes, i + open);
                let j = i + open + name;
                (name > 0 && run(bytes, j, b']', open) == open).then_some(j + open)
            }
            b'#' | b'<' => {
                let close = if b == b'#' { b'#' } else { b'>' };
                let name = name_len(bytes, i + 1);
                let j = i + 1 + name;
                (name > 0 && bytes.get(j) == Some(&close)).then_some(j + 1)
            }
            b'!' if run(bytes, i, b'!', 3) == 3 => {
                let name = name_len(bytes, i + 3);
                let j = i + 3 + name;
                (name > 0 && run(bytes, j, b'!', 3) == 3).then_some(j + 3)
            }
            b'%' => {
                // Only upper-case names: `%TRANSACTION_ID%`, not a stray `50%off%`.
                let name = bytes
                    .iter()
                    .skip(i + 1)
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
                    .count();
                let starts_upper = bytes.get(i + 1).is_some_and(u8::is_ascii_uppercase);
                let j = i + 1 + name;
                (starts_upper && name >= 2 && bytes.get(j) == Some(&b'%')).then_some(j + 1)
            }
            _ => None,
        };
        if let Some(end) = found {
            let start = if i > 0 && bytes.get(i - 1) == Some(&b'$') && b == b'{' {
                i - 1
            } else {
                i
            };
            return Some((start, end));
        }
    }
    None
}

/// A read value: which parameter, where, and its decoded text (or why it has none).
#[derive(Debug)]
struct Got<'a, 'p> {
    param: &'p str,
    at: usize,
    /// The scan's byte classes of the raw value ([`class`]).
    flags: u8,
    value: Cow<'a, str>,
}

/// A value as the scan found it, before decoding.
#[derive(Debug, Clone, Copy)]
struct Raw<'a, 'p> {
    param: &'p str,
    value: &'a [u8],
    at: usize,
    flags: u8,
}

/// Everything one parse collects before deciding which error, if any, to report.
struct State<'a, 'p> {
    /// The input as text, when it came as `&str`: plain values are sliced from it.
    src: Option<&'a str>,
    got: [Option<Got<'a, 'p>>; 7],
    malformed: Option<ParsePostbackError>,
    /// An escape error that is really a `%NAME%` macro; reported at `unexpanded_macro` rank.
    escape_macro: Option<ParsePostbackError>,
    saw_mapping: bool,
    json: Option<(&'p str, &'a [u8], usize)>,
    warnings: Vec<Warning>,
}

impl<'a> State<'a, '_> {
    fn malformed(&mut self, param: &str, at: usize, kind: MalformedKind) {
        if self.malformed.as_ref().and_then(ParsePostbackError::at) > Some(at)
            || self.malformed.is_none()
        {
            self.malformed = Some(ParsePostbackError::Malformed {
                param: param.into(),
                at,
                kind,
            });
        }
    }

    /// Decodes `raw` for `param`, recording a decode failure.
    fn decode(&mut self, param: &str, raw: &'a [u8], flags: u8, at: usize) -> Option<Cow<'a, str>> {
        match decode_flagged(raw, flags, self.src, at) {
            Ok(value) => Some(value),
            Err(e) => {
                self.decode_failed(param, raw, at, e);
                None
            }
        }
    }

    /// Records why `raw` could not be decoded: usually `malformed`, but a bad escape that is
    /// really a `%NAME%` macro is an unexpanded macro.
    fn decode_failed(&mut self, param: &str, raw: &[u8], at: usize, e: DecodeError) {
        if e.kind == MalformedKind::BadEscape
            && let Some(text) = std::str::from_utf8(raw.get(e.at..).unwrap_or_default())
                .ok()
                .and_then(|rest| {
                    find_macro(rest)
                        .filter(|(s, _)| *s == 0)
                        .map(|(_, end)| rest.get(..end))
                })
                .flatten()
        {
            self.escape_macro
                .get_or_insert(ParsePostbackError::UnexpandedMacro {
                    param: param.into(),
                    text: quote(text),
                    at,
                });
        } else {
            self.malformed(param, at + e.at, e.kind);
        }
    }
}

#[cfg(feature = "serde")]
impl<'a, 'p> State<'a, 'p> {
    /// Records `value` for `field`, checking it against an earlier one.
    fn offer(&mut self, field: Field, param: &'p str, at: usize, flags: u8, value: Cow<'a, str>) {
        let slot = &mut self.got[field.index()];
        match slot {
            None => {
                *slot = Some(Got {
                    param,
                    at,
                    flags,
                    value,
                });
            }
            Some(first) if first.value == value => {}
            Some(_) => self.malformed(param, at, MalformedKind::ConflictingDuplicate),
        }
    }
}

fn parse_with<'a>(
    profile: &Profile,
    limits: Limits,
    input: &'a [u8],
    src: Option<&'a str>,
    shape: Shape,
) -> Result<Postback<'a>, ParsePostbackError> {
    parse_announcing(profile, limits, input, src, shape, |_| {})
}

/// [`parse_with`], telling `on_click_id` the click id as soon as the fast path meets it. Only
/// this and the fast path are generic over the callback: the general path is compiled once.
#[inline]
fn parse_announcing<'a>(
    profile: &Profile,
    limits: Limits,
    input: &'a [u8],
    src: Option<&'a str>,
    shape: Shape,
    on_click_id: impl FnMut(&str),
) -> Result<Postback<'a>, ParsePostbackError> {
    let start = check_and_locate(limits, input, shape)?;
    if let Some(src) = src
        && let Some(postback) = parse_plain(profile, limits, src, start, on_click_id)
    {
        return Ok(postback);
    }
    parse_general(profile, limits, input, src, shape, start)
}

/// The input's length checked against the limit, and where its query starts.
#[inline]
fn check_and_locate(
    limits: Limits,
    input: &[u8],
    shape: Shape,
) -> Result<usize, ParsePostbackError> {
    if input.len() > limits.input_bytes {
        return Err(ParsePostbackError::TooLong {
            param: None,
            limit: Limit::InputLength,
            len: input.len(),
            max: limits.input_bytes,
        });
    }
    query_start(input, shape)
}

/// The general path: every input, every error. The reference for behaviour, which the fast
/// path ([`parse_plain`]) only ever agrees with.
fn parse_general<'a>(
    profile: &Profile,
    limits: Limits,
    input: &'a [u8],
    src: Option<&'a str>,
    shape: Shape,
    start: usize,
) -> Result<Postback<'a>, ParsePostbackError> {
    let lengths = profile.lookup().lengths;
    let mut st = State {
        src,
        got: Default::default(),
        malformed: None,
        escape_macro: None,
        saw_mapping: false,
        json: None,
        warnings: Vec::new(),
    };
    let mut raws: [Option<Raw<'a, '_>>; 7] = [None; 7];
    let mut duplicates = false;
    let mut count = 0;
    let scan = for_each_segment(input, start, shape, |seg| {
        if count >= limits.params {
            return ControlFlow::Break(ParsePostbackError::TooLong {
                param: None,
                limit: Limit::ParamCount,
                len: count + 1,
                max: limits.params,
            });
        }
        count += 1;
        // Most keys: rule out every name of another length with one bit test.
        let len_bit = if seg.key.len() < 64 {
            1 << seg.key.len()
        } else {
            1
        };
        let mut found = if lengths & len_bit == 0 {
            Target::Ignored
        } else {
            target(profile, seg.key)
        };
        let decoded_key;
        if matches!(found, Target::Ignored) && needs_decoding(seg.key) {
            // Rare: a sender that encodes parameter names. Undecodable names match nothing.
            decoded_key = decode(seg.key).ok();
            if let Some(key) = decoded_key.as_deref() {
                found = target(profile, key.as_bytes());
            }
        }
        match found {
            Target::Field(field, param) => match &mut raws[field.index()] {
                slot @ None => {
                    *slot = Some(Raw {
                        param,
                        value: seg.value,
                        at: seg.at,
                        flags: flags_of(seg.value),
                    });
                }
                // The same bytes again cannot conflict; different bytes may still decode
                // to the same text, which a second look after decoding settles.
                Some(first) => duplicates |= first.value != seg.value,
            },
            Target::Mapping => st.saw_mapping = true,
            Target::Json => {
                let param = profile.json_param().unwrap_or_default();
                if st.json.is_none() {
                    st.json = Some((param, seg.value, seg.at));
                }
            }
            Target::Ignored => {}
        }
        ControlFlow::Continue(())
    });
    if let ControlFlow::Break(err) = scan {
        return Err(err);
    }
    decode_fields(&mut st, &raws);
    if duplicates {
        check_duplicates(profile, &mut st, input, start, shape);
    }
    if let Some((param, raw, at)) = st.json {
        read_json(profile, &mut st, param, raw, at);
    }
    let mapped_state = if st.saw_mapping {
        mapped_state(profile, &mut st, input, start, shape)
    } else {
        None
    };
    finish(profile, limits, st, mapped_state)
}

/// The fast path for the common postback: every read value is plain ASCII text (nothing to
/// decode, trim or suspect as a macro), each field is sent once, and the profile needs no
/// mapping or JSON parameter. It builds the [`Postback`] straight from slices of the input.
/// Anything else, including every error, returns `None` and the general path (which is the
/// reference for behaviour) parses the input again from the start.
///
/// It is faster than the general path's scan because it does not split every segment: masks
/// of `&`, `#` and the bytes that are not plain, sixty-four bytes at a time ([`Chunks`]),
/// give each segment's end, so segments follow one another through a few bit operations; at
/// each segment's start one compare of sixteen bytes with the name that begins with the same
/// two bytes finds the common key, and most other keys begin with two bytes no name does.
///
/// When it finds the click id it tells `on_click_id` (see [`Parser::parse_announcing`]).
fn parse_plain<'a>(
    profile: &Profile,
    limits: Limits,
    src: &'a str,
    start: usize,
    mut on_click_id: impl FnMut(&str),
) -> Option<Postback<'a>> {
    let index = profile.lookup();
    if !index.raw_names {
        return None;
    }
    let names = index.names();
    let input = src.as_bytes();
    if start >= input.len() || limits.params == 0 {
        return None;
    }
    // Segment by segment: match the key, then find the segment's end from the value's start
    // (or the key's, for a key the profile does not read). Each field read keeps where its
    // value starts and ends; only the texts the `Postback` holds become `str` slices.
    // A query too short to hold more parameters than the limit is not counted; a longer one
    // is, by its `&`s (and those in a fragment too, which only sends a few more postbacks
    // to the general path).
    let query = input.get(start..)?;
    #[expect(
        clippy::naive_bytecount,
        reason = "a rare case (a query longer than the limit), not worth a dependency"
    )]
    if query.len() >= limits.params && query.iter().filter(|&&b| b == b'&').count() >= limits.params
    {
        return None;
    }
    let mut spans = [(0usize, 0usize); 7];
    let mut at = start;
    let mut chunks = Chunks::new(input, start);
    loop {
        let end = match field_at(names, input, at).ok()? {
            Some((field, from)) => {
                // A field sent twice (its span is set: a value ends past the query's start):
                // the general path settles whether the values conflict.
                let span = spans.get_mut(field)?;
                if span.1 != 0 {
                    return None;
                }
                // Plain: nothing to decode, trim, check as UTF-8 or suspect as a macro (the
                // whole segment: a name that is not plain sends its keys to the general path).
                let (end, plain) = chunks.next_end();
                if !plain {
                    return None;
                }
                if field == Field::ClickId.index() {
                    on_click_id(src.get(from..)?.get(..end.checked_sub(from)?)?);
                }
                *span = (from, end);
                end
            }
            None => chunks.next_end().0,
        };
        if input.get(end) != Some(&b'&') {
            break;
        }
        at = end + 1;
    }
    let [click, status, payout, currency, txid, event, token] = spans;
    let text = |span| plain_text(src, span, limits.value_bytes).ok();
    let (status_at, status) = (status.0, text(status)?);
    let (click, txid, event, token) = (text(click)??, text(txid)?, text(event)?, text(token)?);
    if !profile.click_id_shape().matches(click) {
        return None;
    }
    let state = match status {
        None => profile.default_state(),
        // The word as the map writes it, hashed; else trimmed and compared word by word,
        // ignoring case (a plain value has no whitespace to trim, but may be in any case).
        Some(word) => match key_words(input, status_at)
            .and_then(|words| index.status_words.get(word.as_bytes(), words))
            .or_else(|| profile.status_map().get(word))
        {
            None if profile.status_map().vocabulary() == Vocabulary::Closed => return None,
            state => state,
        },
    };
    // Payout and currency are read from the input's bytes, never kept as text. A placeholder
    // word is neither an amount nor a code, so the general path gets it.
    let bytes = |(from, end): (usize, usize)| input.get(from..end).filter(|b| !b.is_empty());
    let payout = match bytes(payout) {
        None => None,
        // The common payout; anything else the general path reads (or refuses) in full.
        Some(amount) => Some(Amount::parse_short(amount)?),
    };
    let currency = match bytes(currency) {
        None => None,
        Some(code) => Some(Currency::from_code(code)?),
    };
    Some(Postback {
        borrowed: [Some(click), status, txid, event, token],
        state,
        payout,
        currency,
        owned: None,
    })
}

/// For the fast path: the plain value at `from..end` as text, `None` when empty (as if not
/// sent); or the general path for a placeholder word (an unexpanded macro) or a value over
/// `max_len`.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "five calls per postback: measured 30 instructions a call when not inlined"
)]
fn plain_text(
    src: &str,
    (from, end): (usize, usize),
    max_len: usize,
) -> Result<Option<&str>, GeneralPath> {
    if from == end {
        return Ok(None);
    }
    let value = src
        .get(from..)
        .and_then(|rest| rest.get(..end.checked_sub(from)?))
        .ok_or(GeneralPath)?;
    let bytes = value.as_bytes();
    // Fixed-size compares, where slices of a length known only at run time call memcmp.
    if bytes.len() > max_len
        || (bytes.len() == 7 && bytes.first_chunk::<7>() == Some(b"REPLACE"))
        || (bytes.len() == 8 && bytes.first_chunk::<8>() == Some(b"OPTIONAL"))
    {
        return Err(GeneralPath);
    }
    Ok(Some(value))
}

/// The fast path gives up: the general path must judge the input.
struct GeneralPath;

/// For the fast path: the field (and where its value starts) whose parameter the segment at
/// `at` names, `Ok(None)` when it names none, or [`GeneralPath`] for an encoded key that
/// might decode to a name, a name with no `=`, a mapping or JSON key.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "the fast path's inner loop: measured 7% fewer instructions inlined"
)]
fn field_at(
    names: Names<'_>,
    input: &[u8],
    at: usize,
) -> Result<Option<(usize, usize)>, GeneralPath> {
    let Some([word, high]) = key_words(input, at) else {
        return Ok(None);
    };
    let [first, second] = [word as u8, (word >> 8) as u8];
    let lead = names.leads[lead_slot(first, second)];
    // The common key: the first name with its first two bytes (`name=` in one compare)…
    if word & lead.masks[0] == lead.words[0]
        && high & lead.masks[1] == lead.words[1]
        && lead.words[0] != 0
    {
        return Ok(Some((
            usize::from(lead.field),
            at + usize::from(lead.len) + 1,
        )));
    }
    // …or one that begins with two bytes no name does.
    if !lead.any {
        // Decoding and trimming could only turn the key into a name through those bytes.
        let escapes = class::ENC | class::SPACE | class::WIDE;
        let classes = class::TABLE[usize::from(first)] | class::TABLE[usize::from(second)];
        return if classes & escapes == 0 {
            Ok(None)
        } else {
            Err(GeneralPath)
        };
    }
    for name in names.starting_with(first) {
        let len = name.bytes.len();
        if word & name.mask == name.word
            && (len < 8
                || (input.get(at + 8..at + len) == name.bytes.get(8..)
                    && input.get(at + len) == Some(&b'=')))
        {
            return match name.slot {
                Slot::Field(field, _) => Ok(Some((usize::from(field), at + len + 1))),
                Slot::Mapping | Slot::Json => Err(GeneralPath),
            };
        }
    }
    // No `name=` here. When the key ends within the word, it is one of these names only if
    // it has no value (`name&`, rare enough for the general path) or if it is encoded: equal
    // to the name up to its first `%` or `+`, which must then come before its end. (The
    // lowest byte `zero_bytes` flags is exact.)
    let escapes = zero_bytes(word ^ (u64::from(b'%') * LOW_BITS))
        | zero_bytes(word ^ (u64::from(b'+') * LOW_BITS));
    let eq = zero_bytes(word ^ (u64::from(b'=') * LOW_BITS));
    let ends = eq
        | zero_bytes(word ^ (u64::from(b'&') * LOW_BITS))
        | zero_bytes(word ^ (u64::from(b'#') * LOW_BITS));
    if ends != 0 && class::TABLE[usize::from(first)] & class::SPACE == 0 {
        let end = ends.trailing_zeros();
        return if eq.trailing_zeros() == end && escapes.trailing_zeros() > end {
            Ok(None)
        } else {
            Err(GeneralPath)
        };
    }
    // A key of eight bytes or more, or one at the input's end.
    let rest = input.get(at..).unwrap_or_default();
    let key_len = find_any(rest, [b'=', b'&', b'#']);
    let key = rest.get(..key_len).unwrap_or_default();
    if rest.get(key_len) != Some(&b'=')
        || needs_decoding(key)
        || key.first().is_some_and(u8::is_ascii_whitespace)
    {
        Err(GeneralPath)
    } else {
        Ok(None)
    }
}

/// Decodes every field the scan found, recording decode failures in `st`.
fn decode_fields<'a, 'p>(st: &mut State<'a, 'p>, raws: &[Option<Raw<'a, 'p>>; 7]) {
    for (field, raw) in Field::ALL.iter().zip(raws) {
        let Some(raw) = *raw else { continue };
        // The common case, built in place: a plain value sliced from the input text.
        if raw.flags & (class::ENC | class::WIDE | class::SPACE) == 0
            && let Some(text) = st
                .src
                .and_then(|src| src.get(raw.at..raw.at + raw.value.len()))
        {
            st.got[field.index()] = Some(Got {
                param: raw.param,
                at: raw.at,
                flags: raw.flags,
                value: Cow::Borrowed(text),
            });
            continue;
        }
        match decode_flagged(raw.value, raw.flags, st.src, raw.at) {
            Ok(value) => {
                st.got[field.index()] = Some(Got {
                    param: raw.param,
                    at: raw.at,
                    flags: raw.flags,
                    value,
                });
            }
            Err(e) => st.decode_failed(raw.param, raw.value, raw.at, e),
        }
    }
}

/// The rare second look: a field sent twice with different bytes is `malformed` unless both
/// decode to the same text.
fn check_duplicates<'a>(
    profile: &Profile,
    st: &mut State<'a, '_>,
    input: &'a [u8],
    start: usize,
    shape: Shape,
) {
    let _ = for_each_segment(input, start, shape, |seg| {
        let Target::Field(field, param) = target(profile, seg.key) else {
            return ControlFlow::<()>::Continue(());
        };
        let Some(first) = st.got[field.index()].as_ref() else {
            return ControlFlow::Continue(());
        };
        if first.at == seg.at {
            return ControlFlow::Continue(());
        }
        // Compared in place: cloning an owned first value for every repeat would cost
        // (its length × the repeats), quadratic in the input.
        match decode_flagged(seg.value, flags_of(seg.value), st.src, seg.at) {
            Ok(value) if value == first.value => {}
            Ok(_) => st.malformed(param, seg.at, MalformedKind::ConflictingDuplicate),
            Err(e) => st.decode_failed(param, seg.value, seg.at, e),
        }
        ControlFlow::Continue(())
    });
}

/// The state the request's own mapping parameters give its status word, if any.
fn mapped_state<'a>(
    profile: &Profile,
    st: &mut State<'a, '_>,
    input: &'a [u8],
    start: usize,
    shape: Shape,
) -> Option<ConversionState> {
    let word = st.got[Field::Status.index()]
        .as_ref()
        .map(|got| got.value.clone())
        .filter(|word| !word.is_empty())?;
    let mut found = None;
    let _ = for_each_segment(input, start, shape, |seg| {
        let Some(mapping) = profile
            .status_mapping_params()
            .iter()
            .find(|p| p.param.as_bytes() == seg.key)
        else {
            return ControlFlow::<()>::Continue(());
        };
        let Some(list) = st.decode(&mapping.param, seg.value, flags_of(seg.value), seg.at) else {
            return ControlFlow::Continue(());
        };
        if found.is_none()
            && list
                .split([',', ';'])
                .any(|listed| listed.trim().eq_ignore_ascii_case(&word))
        {
            found = Some(mapping.state);
        }
        ControlFlow::Continue(())
    });
    found
}

#[cfg(feature = "serde")]
fn read_json<'a, 'p>(
    profile: &'p Profile,
    st: &mut State<'a, 'p>,
    param: &'p str,
    raw: &'a [u8],
    at: usize,
) {
    use serde_json::Value;
    let Some(text) = st.decode(param, raw, class::ENC, at) else {
        return;
    };
    if text.is_empty() {
        return;
    }
    let object = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => object,
        Ok(Value::Array(items)) => {
            if items.len() > 1 {
                st.warnings.push(Warning::ExtraJsonItems {
                    param: param.into(),
                    items: items.len(),
                });
            }
            match items.into_iter().next() {
                Some(Value::Object(object)) => object,
                None => return,
                Some(_) => {
                    st.malformed(param, at, MalformedKind::BadJson);
                    return;
                }
            }
        }
        _ => {
            st.malformed(param, at, MalformedKind::BadJson);
            return;
        }
    };
    for field in Field::ALL {
        for name in profile.field_params(field) {
            let text = match object.get(&**name) {
                None | Some(Value::Null) => continue,
                Some(Value::String(text)) => text.trim().to_owned(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Array(_) | Value::Object(_)) => {
                    st.malformed(param, at, MalformedKind::BadJson);
                    continue;
                }
            };
            if !text.is_empty() {
                st.offer(field, name, at, class::MACRO, Cow::Owned(text));
            }
        }
    }
}

#[cfg(not(feature = "serde"))]
fn read_json<'a, 'p>(
    _profile: &'p Profile,
    st: &mut State<'a, 'p>,
    param: &'p str,
    _raw: &'a [u8],
    _at: usize,
) {
    st.warnings.push(Warning::JsonNotRead {
        param: param.into(),
    });
}

/// The macro in a value, looking through one more decoding when it still looks encoded.
fn macro_in(got: &Got<'_, '_>, warnings: &mut Vec<Warning>) -> Option<Box<str>> {
    let placeholder_word = got.value == "REPLACE" || got.value == "OPTIONAL";
    if (got.flags & class::MACRO != 0 || placeholder_word)
        && let Some((s, e)) = find_macro(&got.value)
    {
        return Some(quote(got.value.get(s..e).unwrap_or_default()));
    }
    if got.flags & class::ENC != 0 && still_encoded(&got.value) {
        if let Ok(twice) = decode(got.value.as_bytes())
            && let Some((s, e)) = find_macro(&twice)
        {
            return Some(quote(twice.get(s..e).unwrap_or_default()));
        }
        warnings.push(Warning::StillEncoded {
            param: got.param.into(),
            at: got.at,
        });
    }
    None
}

/// Rank 4: the state, or `bad_status` for a word outside a closed vocabulary.
fn resolve_state(
    profile: &Profile,
    status: Option<&Got<'_, '_>>,
    mapped_state: Option<ConversionState>,
) -> Result<Option<ConversionState>, ParsePostbackError> {
    let Some(got) = status else {
        return Ok(profile.default_state());
    };
    let state = mapped_state.or_else(|| profile.status_map().get(&got.value));
    if state.is_none() && profile.status_map().vocabulary() == Vocabulary::Closed {
        let expected: Vec<&str> = profile.status_map().iter().map(|(w, _)| w).collect();
        return Err(ParsePostbackError::BadStatus {
            param: got.param.into(),
            value: quote(&got.value),
            at: got.at,
            expected: expected.join(", ").into(),
        });
    }
    Ok(state)
}

/// Rank 5: payout and currency, or `bad_payout`.
fn read_money(
    payout: Option<&Got<'_, '_>>,
    currency: Option<&Got<'_, '_>>,
) -> Result<(Option<Amount>, Option<Currency>), ParsePostbackError> {
    let payout =
        match payout.filter(|got| !got.value.is_empty()) {
            None => None,
            Some(got) => Some(got.value.parse::<Amount>().map_err(|source| {
                ParsePostbackError::BadPayout {
                    param: got.param.into(),
                    value: quote(&got.value),
                    at: got.at,
                    source,
                }
            })?),
        };
    let currency =
        match currency.filter(|got| !got.value.is_empty()) {
            None => None,
            Some(got) => Some(got.value.parse::<Currency>().map_err(|_| {
                ParsePostbackError::BadCurrency {
                    param: got.param.into(),
                    value: quote(&got.value),
                    at: got.at,
                }
            })?),
        };
    Ok((payout, currency))
}

fn finish<'a>(
    profile: &Profile,
    limits: Limits,
    mut st: State<'a, '_>,
    mapped_state: Option<ConversionState>,
) -> Result<Postback<'a>, ParsePostbackError> {
    let mut macros: [Option<Box<str>>; 7] = Default::default();
    for (slot, got) in macros.iter_mut().zip(&st.got) {
        if let Some(got) = got {
            *slot = macro_in(got, &mut st.warnings);
        }
    }
    // Rank 1: malformed, including a click id of the wrong shape (unless it is a macro).
    if let Some(err) = st.malformed {
        return Err(err);
    }
    // A control character (`%00`, a raw NUL, an inner line break) is in no stored id, and
    // would reach logs and the person reading them.
    if let Some(got) = &st.got[Field::ClickId.index()]
        && got.flags & (class::CTRL | class::ENC | class::MACRO) != 0
        && got.value.bytes().any(|b| b.is_ascii_control())
    {
        return Err(ParsePostbackError::Malformed {
            param: got.param.into(),
            at: got.at,
            kind: MalformedKind::ControlCharacter,
        });
    }
    let shape = profile.click_id_shape();
    if let Some(got) = &st.got[Field::ClickId.index()]
        && macros[Field::ClickId.index()].is_none()
        && !got.value.is_empty()
        && !shape.matches(&got.value)
    {
        return Err(ParsePostbackError::Malformed {
            param: got.param.into(),
            at: got.at,
            kind: MalformedKind::ClickIdShape(shape),
        });
    }
    // Rank 2: missing click id.
    let click_missing = st.got[Field::ClickId.index()]
        .as_ref()
        .is_none_or(|got| got.value.is_empty());
    let click_escape_macro = matches!(&st.escape_macro,
        Some(ParsePostbackError::UnexpandedMacro { param, .. })
            if profile.click_id_params().iter().any(|p| p == param));
    if click_missing && !click_escape_macro {
        return Err(ParsePostbackError::MissingClickId {
            param: profile.click_id_params().join(",").into(),
        });
    }
    // Rank 3: unexpanded macros, in field order.
    if let Some(err) = st.escape_macro {
        return Err(err);
    }
    // The token is a secret for the guard to judge, not a value the tracker reads.
    for (got, text) in st.got.iter().zip(macros).take(Field::ALL.len() - 1) {
        if let (Some(got), Some(text)) = (got, text) {
            return Err(ParsePostbackError::UnexpandedMacro {
                param: got.param.into(),
                text,
                at: got.at,
            });
        }
    }
    let [click, status, payout, currency, txid, event, token] = st.got;
    let Some(click) = click else {
        return Err(ParsePostbackError::MissingClickId {
            param: profile.click_id_params().join(",").into(),
        });
    };
    let status = match status {
        Some(got) if !got.value.is_empty() => Some(got),
        _ => None,
    };
    let state = resolve_state(profile, status.as_ref(), mapped_state)?;
    let (payout, currency) = read_money(payout.as_ref(), currency.as_ref())?;
    // Rank 6: values past the length limit.
    let text_fields = [
        Some(&click),
        status.as_ref(),
        txid.as_ref(),
        event.as_ref(),
        token.as_ref(),
    ];
    if let Some(got) = text_fields
        .into_iter()
        .flatten()
        .find(|got| got.value.len() > limits.value_bytes)
    {
        return Err(ParsePostbackError::TooLong {
            param: Some(got.param.into()),
            limit: Limit::ValueLength,
            len: got.value.len(),
            max: limits.value_bytes,
        });
    }
    let text = |got: Option<Got<'a, '_>>| match got {
        Some(got) if !got.value.is_empty() => Some(got.value),
        _ => None,
    };
    Ok(Postback::new(click.value)
        .with_status(status.map(|g| g.value))
        .with_state(state)
        .with_payout(payout)
        .with_currency(currency)
        .with_txid(text(txid))
        .with_event(text(event))
        .with_token(text(token))
        .with_warnings(st.warnings))
}

#[cfg(test)]
mod tests;
