//! Macro templates: compile a postback or offer URL once, expand it many times.
//!
//! Every network writes its placeholders differently (`{sub1}`, `#s2#`, `[[[subid]]]`,
//! `!!!clickRef!!!`…), and the costly mistakes hide in those differences. A [`Template`] is parsed
//! once in one [`Dialect`] into literal and macro parts, validated at parse time, and then
//! expanded without re-parsing: [`Template::expand_into`] writes into a caller's buffer and
//! allocates nothing once the buffer has grown.
//!
//! # Representation
//!
//! Like `url::Url`, a template keeps its source text (`Box<str>`) and `u32` offsets into it: a
//! literal part is a byte range, a macro part indexes a small table of macro slots. `Display`
//! gives the source back unchanged, so a template round-trips through text.
//!
//! # Encoding
//!
//! A value goes into a slot percent-encoded once with the RFC 3986 unreserved set (everything but
//! `A-Z a-z 0-9 - . _ ~` is escaped), which is safe in a query component and in a path segment.
//! Keitaro's `{_name}` slots insert the value raw, and a [`Value::Encoded`] value is trusted to be
//! encoded already, so it is never encoded twice.
//!
//! ```
//! use postback::template::Template;
//!
//! let tpl = Template::parse("https://tr.example/postback?subid={sub1}&payout={sum}")?;
//! let url = tpl.expand(&[("sub1", "a b&c"), ("sum", "1.50")])?;
//! assert_eq!(url, "https://tr.example/postback?subid=a%20b%26c&payout=1.50");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::{Borrow, Cow};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::Range;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::status::ConversionState;

/// The longest template source accepted, in bytes. Offsets are stored as `u32`; real postback
/// URLs stay far below this (browsers and servers cap URLs at a few KiB).
pub const MAX_TEMPLATE_LEN: usize = 64 * 1024;

/// The most macros one template may hold: unresolved macros are reported as a 128-bit set, so
/// expansion never allocates for bookkeeping.
pub const MAX_MACROS: usize = 128;

/// How macros are written in a template.
///
/// Names are case-sensitive in every dialect: `{SubId1}` and `{subid1}` are different macros
/// (Impact and Awin treat them so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// `{name}`: Affise, Everflow, TUNE, Scaleo, Impact, Binom, Voluum tokens.
    Brace,
    /// `{name}`, `{name:args}` and `{_name}` (insert raw): Keitaro's S2S placeholders.
    /// Spaces, `:`, `=` and `,` are legal inside the braces.
    Keitaro,
    /// `{{name}}`: FunnelFlux examples, Monlix.
    DoubleBrace,
    /// `[name]`: network tokens in Voluum docs, RedTrack.
    Bracket,
    /// `[[name]]`: Prosper202.
    DoubleBracket,
    /// `[[[name]]]`: Admitad.
    TripleBracket,
    /// `#name#`, also adjacent (`#s2##s3#`): CAKE.
    Hash,
    /// `%NAME%`, upper case (letters, digits, `_`). A `%` followed by two hex digits is a
    /// percent-escape, and a name made of hex digits only (`%AB%`) is read as an escape too, so
    /// `%2F` is never a macro.
    Percent,
    /// `${NAME}`: `PropellerAds` click tokens.
    DollarBrace,
    /// `!!!name!!!`: Awin.
    Bang,
    /// `<name>`: some advertiser postbacks.
    Angle,
}

impl Dialect {
    /// Every dialect, in the order [`Dialect::detect`] tries them.
    pub const ALL: [Self; 11] = [
        Self::Bang,
        Self::TripleBracket,
        Self::DoubleBracket,
        Self::DoubleBrace,
        Self::DollarBrace,
        Self::Keitaro,
        Self::Brace,
        Self::Hash,
        Self::Percent,
        Self::Bracket,
        Self::Angle,
    ];

    /// The stable lower-case name (`brace`, `keitaro`, `double_brace`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Brace => "brace",
            Self::Keitaro => "keitaro",
            Self::DoubleBrace => "double_brace",
            Self::Bracket => "bracket",
            Self::DoubleBracket => "double_bracket",
            Self::TripleBracket => "triple_bracket",
            Self::Hash => "hash",
            Self::Percent => "percent",
            Self::DollarBrace => "dollar_brace",
            Self::Bang => "bang",
            Self::Angle => "angle",
        }
    }

    /// Guesses the dialect of `src`: the first dialect in [`Dialect::ALL`] order that finds a
    /// well-formed macro. Without any, a template that opens a brace or bracket macro without
    /// closing it gets that dialect (so parsing reports the unclosed macro); anything else is
    /// [`Dialect::Brace`].
    ///
    /// ```
    /// use postback::template::Dialect;
    ///
    /// assert_eq!(Dialect::detect("?c=#s2#&p=#price#"), Dialect::Hash);
    /// assert_eq!(Dialect::detect("?c=[[[subid]]]"), Dialect::TripleBracket);
    /// assert_eq!(Dialect::detect("?s={status:lead=0 sale=1}"), Dialect::Keitaro);
    /// assert_eq!(Dialect::detect("?a=%2F%3A"), Dialect::Brace, "escapes are not macros");
    /// ```
    #[must_use]
    pub fn detect(src: &str) -> Self {
        for dialect in Self::ALL {
            let found = Scanner::new(src, dialect).any(|token| match token {
                Token::Macro(m) => dialect != Self::Keitaro || m.args.is_some() || m.raw,
                _ => false,
            });
            if found {
                return dialect;
            }
        }
        for (opener, dialect) in [
            ("!!!", Self::Bang),
            ("[[[", Self::TripleBracket),
            ("[[", Self::DoubleBracket),
            ("{{", Self::DoubleBrace),
            ("${", Self::DollarBrace),
        ] {
            if src.contains(opener) {
                return dialect;
            }
        }
        Self::Brace
    }

    /// The opening and closing delimiters.
    pub(crate) const fn delimiters(self) -> (&'static str, &'static str) {
        match self {
            Self::Brace | Self::Keitaro => ("{", "}"),
            Self::DoubleBrace => ("{{", "}}"),
            Self::Bracket => ("[", "]"),
            Self::DoubleBracket => ("[[", "]]"),
            Self::TripleBracket => ("[[[", "]]]"),
            Self::Hash => ("#", "#"),
            Self::Percent => ("%", "%"),
            Self::DollarBrace => ("${", "}"),
            Self::Bang => ("!!!", "!!!"),
            Self::Angle => ("<", ">"),
        }
    }

    /// Writes `name` as a macro of this dialect (`#s2#`, `[[[subid]]]`).
    pub(crate) fn write_macro(self, out: &mut String, name: &str) {
        let (open, close) = self.delimiters();
        out.push_str(open);
        out.push_str(name);
        out.push_str(close);
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = ParseDialectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| ParseDialectError {
                input: s.chars().take(64).collect(),
            })
    }
}

/// A text that names no [`Dialect`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown template dialect `{input}`")]
pub struct ParseDialectError {
    input: Box<str>,
}

#[cfg(feature = "serde")]
impl serde::Serialize for Dialect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Dialect {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What expansion does with a macro whose value is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnMissing {
    /// Fail with [`ExpandError::Missing`]: the safe default for postbacks, where a missing
    /// click id means a lost conversion.
    #[default]
    Error,
    /// Insert nothing (`subid=`).
    Empty,
    /// Keep the macro text as written (`subid={sub1}`), for templates expanded in stages.
    Keep,
}

/// How a slot's value is written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// Percent-encoded once with the RFC 3986 unreserved set: safe in a query component or a
    /// path segment. [`Value::Encoded`] values are inserted as they are.
    Component,
    /// Inserted as is (Keitaro `{_name}`).
    Raw,
}

/// One macro value, as a [`Values`] source hands it to expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// Plain text: percent-encoded in [`Encoding::Component`] slots.
    Text(Cow<'a, str>),
    /// Text that is already percent-encoded: never encoded again.
    Encoded(Cow<'a, str>),
    /// A conversion state. A slot with a value map (`{status:lead=0 sale=1}`) writes the mapped
    /// word; any other slot writes [`ConversionState::as_str`].
    State(ConversionState),
}

impl Value<'_> {
    fn text(&self) -> &str {
        match self {
            Value::Text(text) | Value::Encoded(text) => text,
            Value::State(state) => state.as_str(),
        }
    }

    fn state(&self) -> Option<ConversionState> {
        match self {
            Value::State(state) => Some(*state),
            Value::Text(text) | Value::Encoded(text) => state_from_word(text),
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Value::Text(Cow::Borrowed(text))
    }
}

impl From<String> for Value<'_> {
    fn from(text: String) -> Self {
        Value::Text(Cow::Owned(text))
    }
}

impl From<ConversionState> for Value<'_> {
    fn from(state: ConversionState) -> Self {
        Value::State(state)
    }
}

/// A state named by the crate's own name or by one of Keitaro's status words.
fn state_from_word(word: &str) -> Option<ConversionState> {
    // Not `str::parse`: its error allocates, and expansion must not.
    let own = ConversionState::ALL.map(|state| (state.as_str(), state));
    let keitaro = [
        ("lead", ConversionState::Pending),
        ("sale", ConversionState::Approved),
        ("rebill", ConversionState::Approved),
    ];
    own.into_iter()
        .chain(keitaro)
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|(_, state)| state)
}

/// A source of macro values: maps, slices of pairs, and closures.
///
/// Maps and slices lend their values, so expansion copies them straight into the output.
/// Closures return owned or `'static` values (`String`, `&'static str`, [`ConversionState`],
/// `Value<'static>`); to lend borrowed data from a struct of your own, implement the trait.
///
/// ```
/// use postback::template::{Template, Value};
/// use postback::ConversionState;
///
/// let tpl = Template::parse("?c={external_id}&s={status:lead=0 sale=1 rejected=2}")?;
/// let values = |name: &str| match name {
///     "external_id" => Some(Value::from("abc")),
///     "status" => Some(Value::State(ConversionState::Approved)),
///     _ => None,
/// };
/// assert_eq!(tpl.expand(&values)?, "?c=abc&s=1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Values {
    /// The value of the macro called `name` (without delimiters or Keitaro's `_`), if any.
    fn value(&self, name: &str) -> Option<Value<'_>>;
}

impl<K, V, S> Values for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn value(&self, name: &str) -> Option<Value<'_>> {
        self.get(name).map(|v| Value::from(v.as_ref()))
    }
}

impl<K, V> Values for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn value(&self, name: &str) -> Option<Value<'_>> {
        self.get(name).map(|v| Value::from(v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Values for [(K, V)] {
    fn value(&self, name: &str) -> Option<Value<'_>> {
        self.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| Value::from(v.as_ref()))
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Values for [(K, V); N] {
    fn value(&self, name: &str) -> Option<Value<'_>> {
        self.as_slice().value(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Values for Vec<(K, V)> {
    fn value(&self, name: &str) -> Option<Value<'_>> {
        self.as_slice().value(name)
    }
}

impl<F, T> Values for F
where
    F: Fn(&str) -> Option<T>,
    T: Into<Value<'static>>,
{
    fn value(&self, name: &str) -> Option<Value<'_>> {
        self(name).map(Into::into)
    }
}

/// A template that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseTemplateError {
    /// A macro delimiter opens a macro that is never closed, or the name runs into a character
    /// a name cannot hold (`{click id}`).
    #[error("macro opened at byte {at} is not closed")]
    #[non_exhaustive]
    Unclosed {
        /// Byte offset of the opening delimiter.
        at: usize,
    },
    /// The delimiters hold no name (`{}`, `##`).
    #[error("empty macro name at byte {at}")]
    #[non_exhaustive]
    EmptyName {
        /// Byte offset of the opening delimiter.
        at: usize,
    },
    /// The source is longer than [`MAX_TEMPLATE_LEN`].
    #[error("template is {len} bytes long, more than the limit of {limit}")]
    #[non_exhaustive]
    TooLong {
        /// Length of the source in bytes.
        len: usize,
        /// The limit, [`MAX_TEMPLATE_LEN`].
        limit: usize,
    },
    /// The source holds more than [`MAX_MACROS`] macros.
    #[error("template has more than {limit} macros (the next one starts at byte {at})")]
    #[non_exhaustive]
    TooManyMacros {
        /// Byte offset of the first macro past the limit.
        at: usize,
        /// The limit, [`MAX_MACROS`].
        limit: usize,
    },
}

/// Expansion that could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// No value for a macro, under [`OnMissing::Error`].
    #[error("no value for macro `{name}` at byte {at}")]
    #[non_exhaustive]
    Missing {
        /// The macro's name.
        name: Box<str>,
        /// Byte offset of the macro in the template source.
        at: usize,
    },
}

/// Bytes escaped in an [`Encoding::Component`] slot: all but the unreserved characters of
/// RFC 3986 §2.3, `ALPHA / DIGIT / "-" / "." / "_" / "~"`
/// (<https://www.rfc-editor.org/rfc/rfc3986#section-2.3>). So `+` (a space to form decoders),
/// `&`, `=`, `#` and `%` are escaped too, and every non-ASCII byte is.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `value`'s UTF-8 bytes onto `out`; runs that need no escaping are copied in
/// one go.
pub(crate) fn encode_component(out: &mut String, value: &str) {
    out.extend(utf8_percent_encode(value, COMPONENT));
}

/// A `u32` byte range into the template source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    // Sources are at most MAX_TEMPLATE_LEN bytes, checked before any span is made.
    fn new(range: Range<usize>) -> Self {
        Self {
            start: range.start as u32,
            end: range.end as u32,
        }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Lit(Span),
    Slot(u32),
}

/// Words a value map writes per state, indexed by [`state_index`].
type ValueMap = [Option<Span>; 4];

const fn state_index(state: ConversionState) -> usize {
    match state {
        ConversionState::Pending => 0,
        ConversionState::Approved => 1,
        ConversionState::Rejected => 2,
        ConversionState::Reversed => 3,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slot {
    span: Span,
    name: Span,
    args: Option<Span>,
    encoding: Encoding,
    map: Option<Box<ValueMap>>,
}

/// A compiled macro template. Parse once, expand many times.
///
/// Two templates are equal when their source, dialect and missing-value policy are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    src: Box<str>,
    parts: Box<[Part]>,
    slots: Box<[Slot]>,
    dialect: Dialect,
    on_missing: OnMissing,
}

impl Template {
    /// Parses `src`, guessing its dialect with [`Dialect::detect`]. Missing values are errors
    /// ([`OnMissing::Error`]) until [`Template::with_on_missing`] says otherwise.
    ///
    /// # Errors
    ///
    /// Fails if the template is malformed, for example:
    /// - `https://n.example/?c={click_id` has a `{` that is never closed;
    /// - `https://n.example/?c={}` has an empty macro name;
    /// - `?c=#s2#&p=#price` opens a CAKE macro at byte 14 that is never closed.
    ///
    /// ```
    /// use postback::template::{ParseTemplateError, Template};
    ///
    /// let err = Template::parse("https://n.example/?c={click_id").unwrap_err();
    /// assert_eq!(err.to_string(), "macro opened at byte 21 is not closed");
    /// ```
    pub fn parse(src: &str) -> Result<Self, ParseTemplateError> {
        Self::parse_with(src, Dialect::detect(src))
    }

    /// Parses `src` in the given dialect; characters of other dialects are literal text.
    ///
    /// # Errors
    ///
    /// As [`Template::parse`], for the delimiters of `dialect`.
    pub fn parse_with(src: &str, dialect: Dialect) -> Result<Self, ParseTemplateError> {
        if src.len() > MAX_TEMPLATE_LEN {
            return Err(ParseTemplateError::TooLong {
                len: src.len(),
                limit: MAX_TEMPLATE_LEN,
            });
        }
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        for token in Scanner::new(src, dialect) {
            match token {
                Token::Lit(range) => parts.push(Part::Lit(Span::new(range))),
                Token::Unclosed(at) => return Err(ParseTemplateError::Unclosed { at }),
                Token::EmptyName(at) => return Err(ParseTemplateError::EmptyName { at }),
                Token::Macro(m) => {
                    if slots.len() >= MAX_MACROS {
                        return Err(ParseTemplateError::TooManyMacros {
                            at: m.span.start,
                            limit: MAX_MACROS,
                        });
                    }
                    parts.push(Part::Slot(slots.len() as u32));
                    let map = m
                        .args
                        .clone()
                        .and_then(|args| parse_value_map(src, args))
                        .map(Box::new);
                    slots.push(Slot {
                        span: Span::new(m.span),
                        name: Span::new(m.name),
                        args: m.args.map(Span::new),
                        encoding: if m.raw {
                            Encoding::Raw
                        } else {
                            Encoding::Component
                        },
                        map,
                    });
                }
            }
        }
        Ok(Self {
            src: src.into(),
            parts: parts.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            dialect,
            on_missing: OnMissing::default(),
        })
    }

    /// The same template with another missing-value policy.
    #[must_use]
    pub fn with_on_missing(mut self, on_missing: OnMissing) -> Self {
        self.on_missing = on_missing;
        self
    }

    /// The missing-value policy.
    #[must_use]
    pub fn on_missing(&self) -> OnMissing {
        self.on_missing
    }

    /// The dialect the template was parsed in.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The source text, exactly as parsed.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// The macros in source order.
    ///
    /// ```
    /// use postback::template::Template;
    ///
    /// let tpl = Template::parse("?c=#s2##s3#&p=#price#")?;
    /// let names: Vec<_> = tpl.macros().map(|m| (m.name(), m.span())).collect();
    /// assert_eq!(names, [("s2", 3..7), ("s3", 7..11), ("price", 14..21)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn macros(&self) -> Macros<'_> {
        Macros {
            template: self,
            next: 0,
        }
    }

    /// Expands the template into a new string.
    ///
    /// # Errors
    ///
    /// [`ExpandError::Missing`] when a macro has no value under [`OnMissing::Error`], for
    /// example `?c={sub1}` expanded with no `sub1`.
    pub fn expand<V: Values + ?Sized>(&self, values: &V) -> Result<String, ExpandError> {
        let mut out = String::with_capacity(self.src.len() + 32);
        self.expand_into(&mut out, values)?;
        Ok(out)
    }

    /// Appends the expansion to `out` and reports the macros that had no value (under
    /// [`OnMissing::Empty`] and [`OnMissing::Keep`]). With a buffer that has grown large
    /// enough, this allocates nothing for borrowed values.
    ///
    /// ```
    /// use postback::template::{OnMissing, Template};
    ///
    /// let tpl = Template::parse("?c={sub1}&t={transactionid}")?.with_on_missing(OnMissing::Keep);
    /// let mut out = String::new();
    /// let unresolved = tpl.expand_into(&mut out, &[("sub1", "x")])?;
    /// assert_eq!(out, "?c=x&t={transactionid}");
    /// assert_eq!(unresolved.map(|m| m.name()).collect::<Vec<_>>(), ["transactionid"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Template::expand`]; `out` then holds the expansion up to the failing macro.
    pub fn expand_into<V: Values + ?Sized>(
        &self,
        out: &mut String,
        values: &V,
    ) -> Result<Unresolved<'_>, ExpandError> {
        let mut missing = 0u128;
        for part in &self.parts {
            match *part {
                Part::Lit(span) => out.push_str(self.text(span)),
                Part::Slot(index) => {
                    let Some(slot) = self.slots.get(index as usize) else {
                        continue;
                    };
                    let name = self.text(slot.name);
                    match values.value(name) {
                        Some(value) => self.write_value(out, slot, &value),
                        None => match self.on_missing {
                            OnMissing::Error => {
                                return Err(ExpandError::Missing {
                                    name: name.into(),
                                    at: slot.span.start as usize,
                                });
                            }
                            OnMissing::Empty => missing |= 1 << index,
                            OnMissing::Keep => {
                                missing |= 1 << index;
                                out.push_str(self.text(slot.span));
                            }
                        },
                    }
                }
            }
        }
        Ok(Unresolved {
            template: self,
            bits: missing,
        })
    }

    fn write_value(&self, out: &mut String, slot: &Slot, value: &Value<'_>) {
        if let Some(map) = &slot.map {
            let mapped = value
                .state()
                .and_then(|state| map.get(state_index(state)).copied().flatten());
            if let Some(word) = mapped {
                // The word comes from the template author, who wrote it for the receiver.
                out.push_str(self.text(word));
                return;
            }
        }
        match (slot.encoding, value) {
            (Encoding::Raw, _) | (_, Value::Encoded(_)) => out.push_str(value.text()),
            (Encoding::Component, _) => encode_component(out, value.text()),
        }
    }

    fn text(&self, span: Span) -> &str {
        self.src.get(span.range()).unwrap_or_default()
    }

    fn macro_at(&self, index: usize) -> Option<Macro<'_>> {
        self.slots.get(index).map(|slot| Macro {
            template: self,
            slot,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.src)
    }
}

impl FromStr for Template {
    type Err = ParseTemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for Template {
    type Error = ParseTemplateError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.src)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One macro of a [`Template`], from [`Template::macros`].
#[derive(Debug, Clone, Copy)]
pub struct Macro<'t> {
    template: &'t Template,
    slot: &'t Slot,
}

impl<'t> Macro<'t> {
    /// The name, without delimiters and without Keitaro's raw `_` prefix: `sub1` for `{sub1}`,
    /// `date` for `{_date:Y-m-d}`.
    #[must_use]
    pub fn name(&self) -> &'t str {
        self.template.text(self.slot.name)
    }

    /// The arguments after `:` in Keitaro's `{name:args}`, if any.
    #[must_use]
    pub fn args(&self) -> Option<&'t str> {
        self.slot.args.map(|span| self.template.text(span))
    }

    /// Byte range of the whole macro, delimiters included, in the template source.
    #[must_use]
    pub fn span(&self) -> Range<usize> {
        self.slot.span.range()
    }

    /// The macro as written (`{sub1}`, `#s2#`).
    #[must_use]
    pub fn as_str(&self) -> &'t str {
        self.template.text(self.slot.span)
    }

    /// How the slot's value is written.
    #[must_use]
    pub fn encoding(&self) -> Encoding {
        self.slot.encoding
    }

    /// Whether the arguments are a Keitaro value map (`lead=0 sale=1 rejected=2`) that turns a
    /// conversion state into the receiver's word.
    #[must_use]
    pub fn has_value_map(&self) -> bool {
        self.slot.map.is_some()
    }
}

/// The macros of a template, from [`Template::macros`].
#[derive(Debug, Clone)]
pub struct Macros<'t> {
    template: &'t Template,
    next: usize,
}

impl<'t> Iterator for Macros<'t> {
    type Item = Macro<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.template.macro_at(self.next)?;
        self.next += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.template.slots.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Macros<'_> {}

/// The macros an expansion left without a value, from [`Template::expand_into`].
#[derive(Debug, Clone)]
pub struct Unresolved<'t> {
    template: &'t Template,
    bits: u128,
}

impl Unresolved<'_> {
    /// Whether every macro had a value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }
}

impl<'t> Iterator for Unresolved<'t> {
    type Item = Macro<'t>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bits == 0 {
            return None;
        }
        let index = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        self.template.macro_at(index)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.bits.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Unresolved<'_> {}

/// Reads Keitaro's `lead=0 sale=1 rejected=2` (space- or comma-separated). Keys are Keitaro's
/// words or the crate's state names; the crate's names win where both are given. Returns `None`
/// when the arguments are not such a map (`Y-m-d H:i:s,Europe/Kyiv`).
fn parse_value_map(src: &str, args: Range<usize>) -> Option<ValueMap> {
    let text = src.get(args.clone())?;
    let base = args.start;
    // Priority per state: lower wins. Index 0..4 by state.
    let mut map: ValueMap = [None; 4];
    let mut rank = [u8::MAX; 4];
    let mut any = false;
    let mut offset = 0;
    for token in text.split([' ', ',']) {
        let token_start = base + offset;
        offset += token.len() + 1;
        if token.is_empty() {
            continue;
        }
        let (key, _) = token.split_once('=')?;
        let value_start = token_start + key.len() + 1;
        let value_end = token_start + token.len();
        let (state, key_rank) = match key.to_ascii_lowercase().as_str() {
            "pending" => (ConversionState::Pending, 0),
            "lead" => (ConversionState::Pending, 1),
            "approved" => (ConversionState::Approved, 0),
            "sale" => (ConversionState::Approved, 1),
            "rebill" => (ConversionState::Approved, 2),
            "rejected" => (ConversionState::Rejected, 0),
            "reversed" => (ConversionState::Reversed, 0),
            _ => continue,
        };
        any = true;
        let i = state_index(state);
        if let (Some(r), Some(m)) = (rank.get_mut(i), map.get_mut(i))
            && key_rank < *r
        {
            *r = key_rank;
            *m = Some(Span::new(value_start..value_end));
        }
    }
    // Keitaro has no reversal: a reversed conversion is reported as rejected there.
    if map[3].is_none() {
        map[3] = map[2];
    }
    any.then_some(map)
}

/// A macro found by the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScannedMacro {
    /// The whole macro, delimiters included.
    pub(crate) span: Range<usize>,
    /// The name, without the raw `_` prefix.
    pub(crate) name: Range<usize>,
    /// Keitaro arguments after `:`.
    pub(crate) args: Option<Range<usize>>,
    /// Keitaro `{_name}`.
    pub(crate) raw: bool,
}

/// What the scanner sees, in source order. Shared with the linter, which keeps going where
/// parsing stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Lit(Range<usize>),
    Macro(ScannedMacro),
    /// An opening delimiter at this byte that is never closed; scanning resumes after it.
    Unclosed(usize),
    /// Delimiters with nothing between them at this byte.
    EmptyName(usize),
}

/// The first macro of any dialect in `text`, by the one grammar of [`Scanner`]: its byte range
/// (the earliest; of two at one byte, the longer, so `{{name}}` wins over `{name}`). The parser
/// asks this of a value it received, to say the network sent a macro unexpanded.
pub(crate) fn find_macro(text: &str) -> Option<Range<usize>> {
    // The bytes that open a macro of some dialect, found in one pass: most values hold none,
    // and a dialect whose opener is absent is not scanned (with a search per dialect, this
    // function was a quarter of an error's instructions on the corpus, by callgrind).
    let openers = text
        .bytes()
        .fold(0u8, |found, byte| found | opener_bit(byte));
    if openers == 0 {
        return None;
    }
    Dialect::ALL
        .iter()
        .filter(|dialect| {
            let opener = dialect.delimiters().0.as_bytes().first().copied();
            opener.is_some_and(|opener| openers & opener_bit(opener) != 0)
        })
        .filter_map(|&dialect| {
            Scanner::new(text, dialect).find_map(|token| match token {
                Token::Macro(found) => Some(found.span),
                _ => None,
            })
        })
        .min_by_key(|span| (span.start, std::cmp::Reverse(span.end)))
}

/// A bit for each byte that opens a macro of some dialect (`{ [ # % $ ! <`), 0 for the rest.
const fn opener_bit(byte: u8) -> u8 {
    match byte {
        b'{' => 1,
        b'[' => 2,
        b'#' => 4,
        b'%' => 8,
        b'$' => 16,
        b'!' => 32,
        b'<' => 64,
        _ => 0,
    }
}

pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Splits a source into [`Token`]s for one dialect.
#[derive(Debug)]
pub(crate) struct Scanner<'s> {
    src: &'s str,
    dialect: Dialect,
    pos: usize,
    /// Start of the literal run not yet emitted.
    lit_start: usize,
    pending: Option<Token>,
}

impl<'s> Scanner<'s> {
    pub(crate) fn new(src: &'s str, dialect: Dialect) -> Self {
        Self {
            src,
            dialect,
            pos: 0,
            lit_start: 0,
            pending: None,
        }
    }

    /// Tries to read a token that starts at `at`. `None`: the byte there is literal.
    fn token_at(&self, at: usize) -> Option<(Token, usize)> {
        let bytes = self.src.as_bytes();
        let rest = self.src.get(at..)?;
        let (open, close) = self.dialect.delimiters();
        if !rest.starts_with(open) {
            return None;
        }
        if self.dialect == Dialect::Percent {
            return self.percent_at(at);
        }
        let mut i = at + open.len();
        let raw = self.dialect == Dialect::Keitaro && bytes.get(i) == Some(&b'_');
        if raw {
            i += 1;
        }
        // A name starts with a letter or `_`: `{1}`, `[0]` and `#123#` are data (a JSON or
        // regex brace, an array index, a numbered anchor), not macros.
        if bytes.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let name_start = i;
        while bytes.get(i).is_some_and(|&b| is_name_byte(b)) {
            i += 1;
        }
        let name = name_start..i;
        let mut args = None;
        if self.dialect == Dialect::Keitaro && bytes.get(i) == Some(&b':') && !name.is_empty() {
            let args_start = i + 1;
            let len = self.src.get(args_start..)?.find(['}', '{']);
            match len {
                Some(len) if bytes.get(args_start + len) == Some(&b'}') => {
                    args = Some(args_start..args_start + len);
                    i = args_start + len;
                }
                _ => return Some((Token::Unclosed(at), at + open.len())),
            }
        }
        if !self.src.get(i..).is_some_and(|r| r.starts_with(close)) {
            return Some((Token::Unclosed(at), at + open.len()));
        }
        let end = i + close.len();
        if name.is_empty() {
            return Some((Token::EmptyName(at), end));
        }
        Some((
            Token::Macro(ScannedMacro {
                span: at..end,
                name,
                args,
                raw,
            }),
            end,
        ))
    }

    fn percent_at(&self, at: usize) -> Option<(Token, usize)> {
        let bytes = self.src.as_bytes();
        let mut i = at + 1;
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        {
            i += 1;
        }
        let name = at + 1..i;
        let name_bytes = bytes.get(name.clone()).unwrap_or_default();
        // Upper case only, as the field writes them (`%TRANSACTION_ID%`): `50%off%` is text.
        let is_macro = bytes.get(i) == Some(&b'%')
            && name_bytes.len() >= 2
            && name_bytes
                .first()
                .is_some_and(|b| b.is_ascii_uppercase() || *b == b'_')
            && !name_bytes.iter().all(u8::is_ascii_hexdigit);
        if is_macro {
            return Some((
                Token::Macro(ScannedMacro {
                    span: at..i + 1,
                    name,
                    args: None,
                    raw: false,
                }),
                i + 1,
            ));
        }
        let escape = bytes.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(at + 2).is_some_and(u8::is_ascii_hexdigit);
        if escape {
            None
        } else {
            Some((Token::Unclosed(at), at + 1))
        }
    }
}

impl Iterator for Scanner<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if let Some(token) = self.pending.take() {
            return Some(token);
        }
        let bytes = self.src.as_bytes();
        let first = self.dialect.delimiters().0.as_bytes().first().copied()?;
        while self.pos < bytes.len() {
            let at = self.pos;
            if bytes.get(at) == Some(&first)
                && let Some((token, next)) = self.token_at(at)
            {
                self.pos = next;
                let lit = self.lit_start..at;
                self.lit_start = next;
                if lit.is_empty() {
                    return Some(token);
                }
                self.pending = Some(token);
                return Some(Token::Lit(lit));
            }
            // Delimiters are ASCII, so stepping by byte never splits a macro; literal ranges
            // end at ASCII delimiters and so always fall on char boundaries.
            self.pos += 1;
        }
        if self.lit_start < bytes.len() {
            let lit = self.lit_start..bytes.len();
            self.lit_start = bytes.len();
            return Some(Token::Lit(lit));
        }
        None
    }
}

#[cfg(test)]
mod tests;
