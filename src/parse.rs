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
//! use postback::parse::Parser;
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
//! # Ok::<(), postback::parse::ParsePostbackError>(())
//! ```
//!
//! # Performance
//!
//! A postback whose values need no percent-decoding parses without allocating: every field
//! of the [`Postback`] borrows from the input. Each profile builds a small index of its
//! parameter names on first use (one allocation per profile, shared by all threads).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::money::{Amount, Currency, ParseAmountError};
pub use crate::profile::Field;
use crate::profile::{ClickIdShape, Profile};
use crate::query;
use crate::status::{ConversionState, Vocabulary};
use crate::template;

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
/// use postback::parse::Postback;
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

    /// A postback built in one go from its texts (in [`Text`] order), as the parser has them:
    /// nothing is boxed unless a text is owned or there are warnings.
    fn from_parts(
        texts: [Option<Cow<'a, str>>; 5],
        state: Option<ConversionState>,
        payout: Option<Amount>,
        currency: Option<Currency>,
        warnings: Vec<Warning>,
    ) -> Self {
        let mut postback = Self {
            state,
            payout,
            currency,
            ..Self::empty()
        };
        for (i, text) in texts.into_iter().enumerate() {
            match text {
                None => {}
                Some(Cow::Borrowed(text)) => postback.borrowed[i] = Some(text),
                Some(Cow::Owned(text)) => {
                    postback.owned.get_or_insert_with(Box::default).texts[i] =
                        Some(text.into_boxed_str());
                }
            }
        }
        postback.with_warnings(warnings)
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
    pub fn with_status(self, status: impl Into<Cow<'a, str>>) -> Self {
        self.with_text(Text::Status, Some(status.into()))
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
    pub fn with_txid(self, txid: impl Into<Cow<'a, str>>) -> Self {
        self.with_text(Text::Txid, Some(txid.into()))
    }

    /// This postback with an event or goal.
    #[must_use]
    pub fn with_event(self, event: impl Into<Cow<'a, str>>) -> Self {
        self.with_text(Text::Event, Some(event.into()))
    }

    /// This postback with a token.
    #[must_use]
    pub fn with_token(self, token: impl Into<Cow<'a, str>>) -> Self {
        self.with_text(Text::Token, Some(token.into()))
    }

    /// This postback without its token, as the postback log keeps it: the token is a secret.
    ///
    /// ```
    /// use postback::Postback;
    ///
    /// let pb = Postback::new("abc").with_token("s3cret");
    /// assert_eq!(pb.token(), Some("s3cret"));
    /// assert_eq!(pb.without_token().token(), None);
    /// ```
    #[must_use]
    pub fn without_token(self) -> Self {
        self.with_text(Text::Token, None)
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
/// use postback::parse::Parser;
///
/// let parser = Parser::generic();
/// let url = "https://tracker.example/postback?click_id=abc&status=approved&payout=12.50&currency=USD&txid=TX-1#ignored";
/// let pb = parser.parse(url)?;
/// assert_eq!((pb.click_id(), pb.txid()), ("abc", Some("TX-1")));
///
/// let body = b"click_id=abc&status=Hold&payout=3";
/// assert_eq!(parser.parse_form(body)?.status(), Some("Hold"));
/// # Ok::<(), postback::parse::ParsePostbackError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    profile: SharedProfile,
    /// Whether [`Parser::finish_plain`] may take the common postback; off only in the tests
    /// that hold it to [`finish`].
    plain_finish: bool,
    /// The profile's names, compiled by [`Parser::new`]; shared by the parser's clones.
    names: Arc<Names>,
    /// The profile's status words, compiled likewise.
    words: Arc<Words>,
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
        self.parse_input(input.as_bytes(), Some(input), Shape::Detect, |_| {})
    }

    /// [`Parser::parse`], calling `on_click_id` with the click id's text as soon as the scan
    /// meets it, before it reads the rest of the input (and before the id is judged: the parse
    /// may still refuse it). The tracker asks its store to start fetching the click then, so
    /// that the fetch and the rest of the parse overlap. Only a click id that needs no
    /// decoding is announced.
    pub(crate) fn parse_announcing<'a>(
        &self,
        input: &'a str,
        on_click_id: impl FnMut(&str),
    ) -> Result<Postback<'a>, ParsePostbackError> {
        self.parse_input(input.as_bytes(), Some(input), Shape::Detect, on_click_id)
    }

    /// Parses a URL, request target or bare query given as bytes, as read from an access log
    /// or a raw request line. Exactly [`Parser::parse`], except that bytes that are not UTF-8
    /// are an error on the parameter that holds them (only if the profile reads it), as in
    /// [`Parser::parse_form`], instead of making the whole input unreadable.
    ///
    /// ```
    /// use postback::parse::Parser;
    ///
    /// let parser = Parser::generic();
    /// // A Latin-1 `é` in a parameter the profile does not read does not matter…
    /// let pb = parser.parse_bytes(b"/pb?click_id=abc&note=caf\xe9&status=approved")?;
    /// assert_eq!(pb.click_id(), "abc");
    /// // …in the click id it does.
    /// let err = parser.parse_bytes(b"/pb?click_id=caf\xe9").unwrap_err();
    /// assert_eq!(err.code(), "malformed");
    /// assert_eq!(err.at(), Some(16));
    /// # Ok::<(), postback::parse::ParsePostbackError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Parser::parse`]; for example `click_id=caf\xe9` is `malformed` (invalid UTF-8) at
    /// the byte that is not UTF-8.
    pub fn parse_bytes<'a>(&self, input: &'a [u8]) -> Result<Postback<'a>, ParsePostbackError> {
        self.parse_input(input, None, Shape::Detect, |_| {})
    }

    /// Parses an `application/x-www-form-urlencoded` body. Bytes, so that invalid UTF-8 is an
    /// error on the parameter that holds it (only if the profile reads it), not a lossy
    /// replacement. `#` has no special meaning in a body.
    ///
    /// # Errors
    ///
    /// As [`Parser::parse`]; for example `click_id=%FF` is `malformed` (invalid UTF-8).
    pub fn parse_form<'a>(&self, body: &'a [u8]) -> Result<Postback<'a>, ParsePostbackError> {
        self.parse_input(body, None, Shape::Form, |_| {})
    }
}

impl From<&'static Profile> for Parser {
    fn from(profile: &'static Profile) -> Self {
        Self {
            names: Arc::new(Names::new(profile)),
            words: Arc::new(Words::new(profile.status_map())),
            plain_finish: true,
            profile: SharedProfile::Static(profile),
            limits: Limits::default(),
        }
    }
}

impl From<Arc<Profile>> for Parser {
    fn from(profile: Arc<Profile>) -> Self {
        Self {
            names: Arc::new(Names::new(&profile)),
            words: Arc::new(Words::new(profile.status_map())),
            plain_finish: true,
            profile: SharedProfile::Shared(profile),
            limits: Limits::default(),
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
    // One allocation of the kept length, not a string grown a character at a time.
    let end = text
        .char_indices()
        .nth(QUOTE_MAX)
        .map_or(text.len(), |(at, _)| at);
    text.get(..end).unwrap_or(text).into()
}

/// What a parameter name means to the parser's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// One of a field's parameters.
    Field(Field),
    /// A per-request status mapping parameter: its index in the profile's list.
    Mapping(usize),
    /// The JSON parameter.
    Json,
}

/// The profile's parameter names, compiled once by [`Parser::new`]: a small hash table, and
/// the leads that settle most segments from their first bytes.
///
/// Worth it on the corpus bench: a linear look through a profile's dozen names (first byte,
/// then `memcmp`) and finding each key's `=` before looking it up cost about 640 instructions
/// of the 3,570 a parse of the 10-parameter bench URL took (callgrind), as every key of a
/// postback, read or not, is looked up. [`Names::find`] and
/// [`Names::match_segment`] are checked against that linear look (`names_agree_with_a_linear_look`).
#[derive(Debug)]
struct Names {
    /// Every name the profile reads, fields first in [`Field::ALL`] order, then mapping
    /// parameters, then the JSON parameter; for a name listed twice the first wins.
    entries: Box<[(Box<str>, Slot)]>,
    /// Open addressing over `entries` by [`name_hash`]: an index into `entries`, or `u32::MAX`
    /// for an empty slot. A power of two, at most half full, so a probe ends at an empty slot.
    slots: Box<[u32]>,
    /// Per pair of first bytes (hashed by [`lead_slot`]), the first field name that begins with
    /// them, as `name=` to compare sixteen bytes with at once; `None` when some name cannot be
    /// found that way (empty, or holding `=`, `&` or `#`), and every segment is looked up.
    leads: Option<Box<[Lead; 256]>>,
}

/// What [`Names::match_segment`] compares a segment's first sixteen bytes with.
#[derive(Debug, Clone, Copy, Default)]
struct Lead {
    /// `name=` as a little-endian word, zero past it; zero when no field name leads here.
    word: u128,
    /// The bytes of the segment's first sixteen that `word` is compared with.
    mask: u128,
    /// The name's index in [`Names::entries`].
    entry: u32,
    /// The name's length.
    len: u8,
    /// Whether any name (this one, a longer one, a mapping or JSON one) begins with a pair of
    /// bytes of this slot: when none does, a plain segment here names nothing.
    any: bool,
}

/// Where [`Names::leads`] keeps names that begin with bytes `first` and `second` (a one-byte
/// name's second byte is the `=` after it): distinct for the pairs that begin common names,
/// and cheap. Pairs that share a slot only send their segments to the full look.
#[inline]
const fn lead_slot(first: u8, second: u8) -> usize {
    (first.rotate_left(3) ^ second) as usize
}

/// What a segment is to the profile, from its first bytes.
enum Matched<'n> {
    /// A field's `name=`: the field, the name, and where the value starts.
    Field(Field, &'n str, usize),
    /// A plain segment whose first bytes begin no name.
    Nothing,
    /// Anything else: split the pair and look its name up.
    Look,
}

/// The first sixteen bytes of `text[start..end]` as a little-endian word, zero past `end`.
#[inline]
fn window(text: &[u8], start: usize, end: usize) -> u128 {
    let len = end.saturating_sub(start);
    let word = if let Some(bytes) = text.get(start..).and_then(<[u8]>::first_chunk::<16>) {
        u128::from_le_bytes(*bytes)
    } else {
        let mut bytes = [0u8; 16];
        let rest = text.get(start..end).unwrap_or_default();
        for (to, from) in bytes.iter_mut().zip(rest) {
            *to = *from;
        }
        u128::from_le_bytes(bytes)
    };
    if len < 16 {
        word & ((1u128 << (8 * len)) - 1)
    } else {
        word
    }
}

/// A cheap hash of a name: its length and its first and last bytes.
#[inline]
fn name_hash(name: &[u8]) -> usize {
    let first = name.first().copied().unwrap_or_default();
    let last = name.last().copied().unwrap_or_default();
    (name.len() ^ usize::from(first).wrapping_mul(31) ^ usize::from(last).wrapping_mul(131))
        .wrapping_mul(0x9e37_79b9)
        >> 8
}

impl Names {
    fn new(profile: &Profile) -> Self {
        let fields = Field::ALL.into_iter().flat_map(|field| {
            profile
                .params(field)
                .iter()
                .map(move |name| (name.clone(), Slot::Field(field)))
        });
        let mappings = profile
            .status_mapping_params()
            .iter()
            .enumerate()
            .map(|(i, mapping)| (mapping.param.clone(), Slot::Mapping(i)));
        let json = profile.json_param().map(|name| (name.into(), Slot::Json));
        let mut entries: Vec<(Box<str>, Slot)> = Vec::new();
        for (name, slot) in fields.chain(mappings).chain(json) {
            // The first listing of a name wins.
            if !entries.iter().any(|(n, _)| *n == name) {
                entries.push((name, slot));
            }
        }
        let mut slots = vec![u32::MAX; (2 * entries.len()).next_power_of_two().max(8)];
        let mask = slots.len() - 1;
        for (index, (name, _)) in (0u32..).zip(&entries) {
            let mut at = name_hash(name.as_bytes()) & mask;
            while slots[at] != u32::MAX {
                at = (at + 1) & mask;
            }
            slots[at] = index;
        }
        let leads = Self::leads(&entries);
        Self {
            entries: entries.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            leads,
        }
    }

    fn leads(entries: &[(Box<str>, Slot)]) -> Option<Box<[Lead; 256]>> {
        let findable = |name: &str| !name.is_empty() && !name.bytes().any(|b| b"=&#".contains(&b));
        if !entries.iter().all(|(name, _)| findable(name)) {
            return None;
        }
        let mut leads = Box::new([Lead::default(); 256]);
        // In the entries' order, so that a lead is the name the full look finds first.
        for (entry, (name, slot)) in (0u32..).zip(entries) {
            let bytes = name.as_bytes();
            let first = bytes.first().copied().unwrap_or_default();
            let second = bytes.get(1).copied().unwrap_or(b'=');
            if bytes.len() == 1 {
                // `x` alone (no `=`) is a segment whose second byte is read as 0.
                leads[lead_slot(first, 0)].any = true;
            }
            let lead = &mut leads[lead_slot(first, second)];
            if lead.any {
                continue;
            }
            lead.any = true;
            if let (Slot::Field(_), Ok(len @ 1..16)) = (slot, u8::try_from(bytes.len())) {
                let mut pattern = [0u8; 16];
                let mut mask = [0u8; 16];
                for (i, &byte) in bytes.iter().chain(b"=").enumerate() {
                    pattern[i] = byte;
                    mask[i] = 0xff;
                }
                lead.word = u128::from_le_bytes(pattern);
                lead.mask = u128::from_le_bytes(mask);
                lead.entry = entry;
                lead.len = len;
            }
        }
        Some(leads)
    }

    /// What the segment `text[segment]` is, from its first sixteen bytes: a field's `name=`
    /// (one compare), nothing (a plain segment whose first two bytes begin no name), or a
    /// question for the full look ([`Names::find_pair`]).
    #[inline]
    fn match_segment(&self, text: &[u8], segment: query::Segment) -> Matched<'_> {
        let Some(leads) = &self.leads else {
            return Matched::Look;
        };
        let (start, end) = (segment.start, segment.end);
        let Some(&first) = text.get(start).filter(|_| start < end) else {
            return if segment.plain {
                Matched::Nothing
            } else {
                Matched::Look
            };
        };
        let second = if start + 1 < end {
            text.get(start + 1).copied().unwrap_or_default()
        } else {
            0
        };
        let lead = &leads[lead_slot(first, second)];
        if !lead.any {
            return if segment.plain {
                Matched::Nothing
            } else {
                Matched::Look
            };
        }
        if lead.word != 0
            && window(text, start, end) & lead.mask == lead.word
            && let Some((name, Slot::Field(field))) = usize::try_from(lead.entry)
                .ok()
                .and_then(|entry| self.entries.get(entry))
        {
            return Matched::Field(*field, name, start + usize::from(lead.len) + 1);
        }
        Matched::Look
    }

    /// What `name` means, and the profile's spelling of it.
    #[inline]
    fn find(&self, name: &[u8]) -> Option<(Slot, &str)> {
        let mask = self.slots.len() - 1;
        let mut at = name_hash(name) & mask;
        loop {
            let index = *self.slots.get(at)?;
            let (known, slot) = self.entries.get(usize::try_from(index).ok()?)?;
            // Byte by byte, not `==`: names are short, and a `bcmp` call in the parse loop
            // sent the loop's state through memory.
            let known_bytes = known.as_bytes();
            if known_bytes.len() == name.len() && known_bytes.iter().zip(name).all(|(a, b)| a == b)
            {
                return Some((*slot, known));
            }
            at = (at + 1) & mask;
        }
    }

    /// What `pair`'s name means: as sent, or decoded (see [`query::Pair::decoded_name`]).
    #[inline]
    fn find_pair(&self, pair: &query::Pair<'_>) -> Option<(Slot, &str)> {
        let found = self.find(pair.name);
        if found.is_some() || pair.plain {
            return found;
        }
        self.find_decoded(pair)
    }

    /// [`Names::find_pair`] of a name that may be encoded: the rare case, out of the loop.
    #[cold]
    fn find_decoded(&self, pair: &query::Pair<'_>) -> Option<(Slot, &str)> {
        self.find(&pair.decoded_name()?)
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

/// The byte classes ([`class`]) present in `bytes`.
fn flags_of(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0, |flags, &b| flags | class::TABLE[usize::from(b)])
}

/// The profile's status words, compiled once by [`Parser::new`] into a small hash table on
/// their ASCII-lower-case bytes: a word's state as [`StatusMap::get`](crate::StatusMap::get)
/// gives it (trimmed; its own case first, then any case), in a probe or two rather than a look
/// through every word, twice. Checked against `get` by `words_agree_with_the_status_map`.
#[derive(Debug)]
struct Words {
    entries: Box<[(Box<str>, ConversionState)]>,
    /// Open addressing as in [`Names`]: an index into `entries`, or `u32::MAX` for none.
    slots: Box<[u32]>,
}

/// [`name_hash`] of a word's lower-case form, computed without lower-casing a copy.
#[inline]
fn word_hash(word: &[u8]) -> usize {
    let first = word.first().map_or(0, u8::to_ascii_lowercase);
    let last = word.last().map_or(0, u8::to_ascii_lowercase);
    (word.len() ^ usize::from(first).wrapping_mul(31) ^ usize::from(last).wrapping_mul(131))
        .wrapping_mul(0x9e37_79b9)
        >> 8
}

impl Words {
    fn new(map: &crate::StatusMap) -> Self {
        let entries: Box<[(Box<str>, ConversionState)]> = map
            .iter()
            .map(|(word, state)| (word.into(), state))
            .collect();
        let mut slots = vec![u32::MAX; (2 * entries.len()).next_power_of_two().max(8)];
        let mask = slots.len() - 1;
        for (index, (word, _)) in (0u32..).zip(&entries) {
            let mut at = word_hash(word.as_bytes()) & mask;
            while slots[at] != u32::MAX {
                at = (at + 1) & mask;
            }
            slots[at] = index;
        }
        Self {
            entries,
            slots: slots.into_boxed_slice(),
        }
    }

    /// The state of `word`, trimmed: the entry written in the same case if there is one, else
    /// the first in any case (the words that differ only in case share a probe chain).
    #[inline]
    fn get(&self, word: &str) -> Option<ConversionState> {
        let word = word.trim_ascii().as_bytes();
        let mask = self.slots.len() - 1;
        let mut at = word_hash(word) & mask;
        let mut any_case = None;
        loop {
            let index = *self.slots.get(at)?;
            let Some((known, state)) = usize::try_from(index)
                .ok()
                .and_then(|index| self.entries.get(index))
            else {
                return any_case;
            };
            if known.as_bytes() == word {
                return Some(*state);
            }
            if any_case.is_none() && known.as_bytes().eq_ignore_ascii_case(word) {
                any_case = Some(*state);
            }
            at = (at + 1) & mask;
        }
    }
}

/// Why a value could not be decoded: the kind and its byte offset within the raw value.
struct DecodeError {
    kind: MalformedKind,
    at: usize,
}

/// One round of form decoding (`+` is a space), strict about escapes and UTF-8, then trimmed.
/// A value whose byte classes ([`flags_of`]) show nothing to decode or trim is a slice of the
/// input text when there is one, with no UTF-8 check; otherwise it borrows unless it holds `%`
/// or `+`.
fn decode_text<'a>(
    raw: &'a [u8],
    flags: u8,
    src: Option<&'a str>,
    at: usize,
) -> Result<Cow<'a, str>, DecodeError> {
    if flags & (class::ENC | class::WIDE | class::SPACE) == 0
        && let Some(text) = src.and_then(|src| src.get(at..at + raw.len()))
    {
        return Ok(Cow::Borrowed(text));
    }
    if let Some(at) = query::bad_escape(raw) {
        return Err(DecodeError {
            kind: MalformedKind::BadEscape,
            at,
        });
    }
    match query::decode(raw, query::Plus::Space) {
        Cow::Borrowed(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Cow::Borrowed(text.trim())),
            Err(e) => Err(DecodeError {
                kind: MalformedKind::InvalidUtf8,
                at: e.valid_up_to(),
            }),
        },
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) if text.trim().len() == text.len() => Ok(Cow::Owned(text)),
            Ok(text) => Ok(Cow::Owned(text.trim().to_owned())),
            Err(e) => Err(DecodeError {
                kind: MalformedKind::InvalidUtf8,
                at: query::raw_offset(raw, e.utf8_error().valid_up_to()),
            }),
        },
    }
}

/// [`decode_text`] of a value that is not a slice of the input.
fn decode(raw: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    decode_text(raw, flags_of(raw), None, 0)
}

/// Whether decoded text still holds a valid `%XX` escape.
fn still_encoded(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .windows(3)
        .any(|w| matches!(w, [b'%', h, l] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit()))
}

/// The first placeholder in a value: a macro of any dialect ([`template::find_macro`], the
/// crate's one macro grammar), or one of the whole-value words `REPLACE` and `OPTIONAL` that
/// some networks put where a value should be.
fn find_macro(text: &str) -> Option<(usize, usize)> {
    if is_placeholder_word(text) {
        return Some((0, text.len()));
    }
    template::find_macro(text).map(|span| (span.start, span.end))
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
    /// The mapping parameters sent: index in the profile's list, raw value, its offset.
    mappings: Vec<(usize, &'a [u8], usize)>,
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
        match decode_text(raw, flags, self.src, at) {
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

impl Parser {
    /// `input`'s pairs: the whole of a form body, the query of anything else.
    fn pairs<'a>(
        &self,
        input: &'a [u8],
        shape: Shape,
    ) -> Result<query::Pairs<'a>, ParsePostbackError> {
        if input.len() > self.limits.input_bytes {
            return Err(ParsePostbackError::TooLong {
                param: None,
                limit: Limit::InputLength,
                len: input.len(),
                max: self.limits.input_bytes,
            });
        }
        match shape {
            Shape::Form => Ok(query::pairs(input, 0..input.len())),
            Shape::Detect => match query::query_start(input) {
                Ok(start) => Ok(query::query_pairs(
                    input,
                    start.query.unwrap_or(input.len()),
                )),
                Err(query::NoHost { at }) => Err(ParsePostbackError::Malformed {
                    param: "url".into(),
                    at,
                    kind: MalformedKind::BadUrl,
                }),
            },
        }
    }

    /// The one parse: a single pass over the pairs that keeps, per field, the first value and
    /// any different repeats (rare); then decoding, the rare second looks (repeats, JSON,
    /// mapping parameters) and the checks in error-rank order ([`finish`]).
    fn parse_input<'a>(
        &self,
        input: &'a [u8],
        src: Option<&'a str>,
        shape: Shape,
        mut on_click_id: impl FnMut(&str),
    ) -> Result<Postback<'a>, ParsePostbackError> {
        let pairs = self.pairs(input, shape)?;
        let profile = self.profile();
        let mut raws: [Option<Raw<'a, '_>>; 7] = [None; 7];
        let mut repeats = false;
        let mut plain = true;
        let mut mappings = Vec::new();
        let mut json = None;
        let mut count = 0;
        let mut segments = pairs.clone();
        while let Some(segment) = segments.next_segment() {
            if count >= self.limits.params {
                return Err(ParsePostbackError::TooLong {
                    param: None,
                    limit: Limit::ParamCount,
                    len: count + 1,
                    max: self.limits.params,
                });
            }
            count += 1;
            let (slot, param, value_at) = match self.names.match_segment(input, segment) {
                Matched::Field(field, param, value_at) => (Slot::Field(field), param, value_at),
                Matched::Nothing => continue,
                Matched::Look => {
                    let pair = segments.pair(segment);
                    match self.names.find_pair(&pair) {
                        Some((slot, param)) => (slot, param, pair.value_at),
                        None => continue,
                    }
                }
            };
            let value = input.get(value_at..segment.end).unwrap_or_default();
            match slot {
                Slot::Field(field) => {
                    let raw = Raw {
                        param,
                        value,
                        at: value_at,
                        // A plain segment has none of the classes: no byte to look at.
                        flags: if segment.plain { 0 } else { flags_of(value) },
                    };
                    plain &= raw.flags == 0;
                    match &mut raws[field.index()] {
                        slot @ None => {
                            if field == Field::ClickId
                                && raw.flags == 0
                                && let Some(id) =
                                    src.and_then(|s| s.get(raw.at..raw.at + raw.value.len()))
                            {
                                on_click_id(id);
                            }
                            *slot = Some(raw);
                        }
                        // The same bytes again cannot conflict; different bytes may still
                        // decode to the same text, which a look after decoding settles.
                        Some(first) => repeats |= first.value != raw.value,
                    }
                }
                Slot::Mapping(index) => mappings.push((index, value, value_at)),
                Slot::Json => {
                    json = json.or(Some((param, value, value_at)));
                }
            }
        }
        // The common postback: every value read is plain, sent once, and nothing else needs a
        // look. Its texts are slices of the input, and only ranks 1 to 6 that can apply do.
        if plain
            && self.plain_finish
            && !repeats
            && mappings.is_empty()
            && json.is_none()
            && let Some(src) = src
            && let Some(postback) = self.finish_plain(src, &raws)
        {
            return postback;
        }
        let mut st = State {
            src,
            got: Default::default(),
            malformed: None,
            escape_macro: None,
            mappings,
            json,
            warnings: Vec::new(),
        };
        decode_fields(&mut st, &raws);
        if repeats {
            self.check_repeats(&mut st, pairs);
        }
        if let Some((param, raw, at)) = st.json {
            read_json(profile, &mut st, param, raw, at);
        }
        let mapped_state = mapped_state(profile, &mut st);
        finish(profile, &self.words, self.limits, &mut st, mapped_state)
    }

    /// [`finish`] for a postback whose read values are all plain (no byte of any class), each
    /// sent once, with no mapping or JSON parameter: its texts are the values' slices of
    /// `src` as they are, so ranks 1 to 3 reduce to the click id's shape, a missing click id
    /// and the placeholder words, and nothing is decoded, checked as UTF-8 or copied. What
    /// [`finish`] says of the same input is its oracle (`plain_finish_agrees_with_finish`);
    /// `None` (a slice that is not one, which a plain value never is) leaves it to `finish`.
    fn finish_plain<'a>(
        &self,
        src: &'a str,
        raws: &[Option<Raw<'a, '_>>; 7],
    ) -> Option<Result<Postback<'a>, ParsePostbackError>> {
        let mut texts: [Option<&'a str>; 7] = [None; 7];
        for (text, raw) in texts.iter_mut().zip(raws) {
            if let Some(raw) = raw {
                *text = Some(src.get(raw.at..raw.at + raw.value.len())?);
            }
        }
        Some(self.check_plain(raws, &texts))
    }

    fn check_plain<'a>(
        &self,
        raws: &[Option<Raw<'a, '_>>; 7],
        texts: &[Option<&'a str>; 7],
    ) -> Result<Postback<'a>, ParsePostbackError> {
        let profile = self.profile();
        // A field's text when sent and not empty; and the same with its parameter and offset,
        // which only the checks that may fail need.
        let sent = |field: Field| texts[field.index()].filter(|text| !text.is_empty());
        let read = |field: Field| {
            let raw = raws[field.index()].as_ref()?;
            Some(Read {
                param: raw.param,
                at: raw.at,
                text: sent(field)?,
            })
        };
        let Some(click) = sent(Field::ClickId) else {
            // Rank 2: nothing of rank 1 can apply to a missing click id.
            return Err(ParsePostbackError::MissingClickId {
                param: profile.click_id_params().join(",").into(),
            });
        };
        // Rank 1: the click id's shape, unless it is a placeholder word (rank 3 says so).
        let shape = profile.click_id_shape();
        if !is_placeholder_word(click) && !shape.matches(click) {
            let raw = raws[Field::ClickId.index()].as_ref();
            return Err(ParsePostbackError::Malformed {
                param: raw.map_or("", |raw| raw.param).into(),
                at: raw.map_or(0, |raw| raw.at),
                kind: MalformedKind::ClickIdShape(shape),
            });
        }
        // Rank 3, in field order; the token is the guard's to judge.
        if let Some(field) = Field::ALL
            .into_iter()
            .take(Field::ALL.len() - 1)
            .find(|&field| texts[field.index()].is_some_and(is_placeholder_word))
            && let Some(read) = read(field)
        {
            placeholder_word(read)?;
        }
        let status = sent(Field::Status);
        let state = match status {
            None => profile.default_state(),
            Some(word) => match self.words.get(word) {
                Some(state) => Some(state),
                None => resolve_state(profile, &self.words, read(Field::Status), None)?,
            },
        };
        let payout = match sent(Field::Payout) {
            None => None,
            Some(text) => match text.parse::<Amount>() {
                Ok(amount) => Some(amount),
                // The error, as `read_money` words it.
                Err(_) => read_money(read(Field::Payout), None)?.0,
            },
        };
        let currency = match sent(Field::Currency) {
            None => None,
            Some(text) => match text.parse::<Currency>() {
                Ok(currency) => Some(currency),
                Err(_) => read_money(None, read(Field::Currency))?.1,
            },
        };
        let (txid, event, token) = (sent(Field::Txid), sent(Field::Event), sent(Field::Token));
        let longest = [
            click,
            status.unwrap_or(""),
            txid.unwrap_or(""),
            event.unwrap_or(""),
            token.unwrap_or(""),
        ]
        .iter()
        .fold(0, |longest, text| longest.max(text.len()));
        if longest > self.limits.value_bytes {
            check_lengths(
                self.limits,
                [
                    Field::ClickId,
                    Field::Status,
                    Field::Txid,
                    Field::Event,
                    Field::Token,
                ]
                .map(read),
            )?;
        }
        let mut postback = Postback {
            state,
            payout,
            currency,
            ..Postback::empty()
        };
        postback.borrowed = [Some(click), status, txid, event, token];
        Ok(postback)
    }

    /// The rare second look: a field sent again with different bytes is `malformed` unless
    /// both decode to the same text. A second pass rather than a list of repeats kept in the
    /// first: nothing to allocate however many there are.
    fn check_repeats<'a>(&self, st: &mut State<'a, '_>, pairs: query::Pairs<'a>) {
        for pair in pairs {
            let Some((Slot::Field(field), param)) = self.names.find_pair(&pair) else {
                continue;
            };
            let Some(first) = st.got[field.index()].as_ref() else {
                continue;
            };
            if first.at == pair.value_at {
                continue;
            }
            // Compared in place: cloning an owned first value for every repeat would cost
            // (its length × the repeats), quadratic in the input.
            let flags = flags_of(pair.value);
            match decode_text(pair.value, flags, st.src, pair.value_at) {
                Ok(value) if value == first.value => {}
                Ok(_) => st.malformed(param, pair.value_at, MalformedKind::ConflictingDuplicate),
                Err(e) => st.decode_failed(param, pair.value, pair.value_at, e),
            }
        }
    }
}

/// Decodes every field the pass found, recording decode failures in `st`.
fn decode_fields<'a, 'p>(st: &mut State<'a, 'p>, raws: &[Option<Raw<'a, 'p>>; 7]) {
    for (field, raw) in Field::ALL.iter().zip(raws) {
        let Some(raw) = *raw else { continue };
        match decode_text(raw.value, raw.flags, st.src, raw.at) {
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

/// The state the request's own mapping parameters give its status word, if any.
fn mapped_state(profile: &Profile, st: &mut State<'_, '_>) -> Option<ConversionState> {
    if st.mappings.is_empty() {
        return None;
    }
    let word = st.got[Field::Status.index()]
        .as_ref()
        .map(|got| got.value.clone())
        .filter(|word| !word.is_empty())?;
    let mut found = None;
    for (index, raw, at) in std::mem::take(&mut st.mappings) {
        let Some(mapping) = profile.status_mapping_params().get(index) else {
            continue;
        };
        let Some(list) = st.decode(&mapping.param, raw, flags_of(raw), at) else {
            continue;
        };
        if found.is_none()
            && list
                .split([',', ';'])
                .any(|listed| listed.trim().eq_ignore_ascii_case(&word))
        {
            found = Some(mapping.state);
        }
    }
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
        for name in profile.params(field) {
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
    let placeholder_word = is_placeholder_word(&got.value);
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

/// A read value as the checks of ranks 3 to 6 see it: its parameter, where, and its text.
#[derive(Clone, Copy)]
struct Read<'p, 't> {
    param: &'p str,
    at: usize,
    text: &'t str,
}

impl Got<'_, '_> {
    fn read(&self) -> Read<'_, '_> {
        Read {
            param: self.param,
            at: self.at,
            text: &self.value,
        }
    }
}

/// Whether a whole value is a placeholder word some networks put where a value should be.
#[inline]
fn is_placeholder_word(text: &str) -> bool {
    matches!(text.len(), 7 | 8) && (text == "REPLACE" || text == "OPTIONAL")
}

/// Rank 3 for a value with no macro bytes: the whole-value placeholder words.
#[inline]
fn placeholder_word(read: Read<'_, '_>) -> Result<(), ParsePostbackError> {
    if is_placeholder_word(read.text) {
        return Err(ParsePostbackError::UnexpandedMacro {
            param: read.param.into(),
            text: read.text.into(),
            at: read.at,
        });
    }
    Ok(())
}

/// Rank 4: the state, or `bad_status` for a word outside a closed vocabulary.
fn resolve_state(
    profile: &Profile,
    words: &Words,
    status: Option<Read<'_, '_>>,
    mapped_state: Option<ConversionState>,
) -> Result<Option<ConversionState>, ParsePostbackError> {
    let Some(read) = status else {
        return Ok(profile.default_state());
    };
    let state = mapped_state.or_else(|| words.get(read.text));
    if state.is_none() && profile.status_map().vocabulary() == Vocabulary::Closed {
        let expected: Vec<&str> = profile.status_map().iter().map(|(w, _)| w).collect();
        return Err(ParsePostbackError::BadStatus {
            param: read.param.into(),
            value: quote(read.text),
            at: read.at,
            expected: expected.join(", ").into(),
        });
    }
    Ok(state)
}

/// Rank 5: payout and currency, or `bad_payout`.
fn read_money(
    payout: Option<Read<'_, '_>>,
    currency: Option<Read<'_, '_>>,
) -> Result<(Option<Amount>, Option<Currency>), ParsePostbackError> {
    let payout =
        match payout.filter(|read| !read.text.is_empty()) {
            None => None,
            Some(read) => Some(read.text.parse::<Amount>().map_err(|source| {
                ParsePostbackError::BadPayout {
                    param: read.param.into(),
                    value: quote(read.text),
                    at: read.at,
                    source,
                }
            })?),
        };
    let currency =
        match currency.filter(|read| !read.text.is_empty()) {
            None => None,
            Some(read) => Some(read.text.parse::<Currency>().map_err(|_| {
                ParsePostbackError::BadCurrency {
                    param: read.param.into(),
                    value: quote(read.text),
                    at: read.at,
                }
            })?),
        };
    Ok((payout, currency))
}

/// Rank 6: the first text value (click id, status, txid, event, token) past the length limit.
fn check_lengths<'p, 't>(
    limits: Limits,
    texts: impl IntoIterator<Item = Option<Read<'p, 't>>>,
) -> Result<(), ParsePostbackError> {
    match texts
        .into_iter()
        .flatten()
        .find(|read| read.text.len() > limits.value_bytes)
    {
        Some(read) => Err(ParsePostbackError::TooLong {
            param: Some(read.param.into()),
            limit: Limit::ValueLength,
            len: read.text.len(),
            max: limits.value_bytes,
        }),
        None => Ok(()),
    }
}

fn finish<'a>(
    profile: &Profile,
    words: &Words,
    limits: Limits,
    st: &mut State<'a, '_>,
    mapped_state: Option<ConversionState>,
) -> Result<Postback<'a>, ParsePostbackError> {
    let mut macros: [Option<Box<str>>; 7] = Default::default();
    for (slot, got) in macros.iter_mut().zip(&st.got) {
        if let Some(got) = got {
            *slot = macro_in(got, &mut st.warnings);
        }
    }
    // Rank 1: malformed, including a click id of the wrong shape (unless it is a macro).
    if let Some(err) = st.malformed.take() {
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
    if let Some(err) = st.escape_macro.take() {
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
    let [click, status, payout, currency, txid, event, token] = std::mem::take(&mut st.got);
    let Some(click) = click else {
        return Err(ParsePostbackError::MissingClickId {
            param: profile.click_id_params().join(",").into(),
        });
    };
    let status = match status {
        Some(got) if !got.value.is_empty() => Some(got),
        _ => None,
    };
    let state = resolve_state(profile, words, status.as_ref().map(Got::read), mapped_state)?;
    let (payout, currency) = read_money(
        payout.as_ref().map(Got::read),
        currency.as_ref().map(Got::read),
    )?;
    check_lengths(
        limits,
        [
            Some(&click),
            status.as_ref(),
            txid.as_ref(),
            event.as_ref(),
            token.as_ref(),
        ]
        .map(|got| got.map(Got::read)),
    )?;
    let text = |got: Option<Got<'a, '_>>| match got {
        Some(got) if !got.value.is_empty() => Some(got.value),
        _ => None,
    };
    let texts = [
        Some(click.value),
        status.map(|got| got.value),
        text(txid),
        text(event),
        text(token),
    ];
    Ok(Postback::from_parts(
        texts,
        state,
        payout,
        currency,
        std::mem::take(&mut st.warnings),
    ))
}

#[cfg(test)]
mod tests;
