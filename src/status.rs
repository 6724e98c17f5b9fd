//! Conversion states and the rules for moving between them.
//!
//! Networks speak many status vocabularies (`sale`, `1`, `APPROVED`, `confirm`…); the crate
//! speaks one. Each network's words are mapped onto [`ConversionState`] per profile, never
//! globally: the digit `2` means "pending" to Affise, "chargeback" to an offerwall and
//! "approved" in BeMob's example.

use std::fmt;
use std::str::FromStr;

/// The state of one conversion, as the tracker counts it.
///
/// States move only forward ([`ConversionState::can_become`]): a conversion starts pending or
/// approved (or straight away rejected), a pending one is approved or rejected, an approved one
/// can still be rejected or reversed (a chargeback). Rejected and reversed are final.
///
/// ```
/// use postback::ConversionState;
///
/// let state: ConversionState = "approved".parse()?;
/// assert_eq!(state.as_str(), "approved");
/// assert!(ConversionState::Pending.can_become(state));
/// assert!(!state.can_become(ConversionState::Pending), "no going back");
/// # Ok::<(), postback::status::ParseStateError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ConversionState {
    /// Reported but not yet confirmed: a lead, a hold, a registration.
    Pending,
    /// Confirmed and payable: a sale, a deposit, a rebill.
    Approved,
    /// Declined by the advertiser or network: trash, fraud, cancelled.
    Rejected,
    /// Paid out, then taken back: a chargeback, a refund.
    Reversed,
}

impl ConversionState {
    /// Every state, in the order they are declared.
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Reversed,
    ];

    /// The stable lower-case name: `pending`, `approved`, `rejected` or `reversed`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Reversed => "reversed",
        }
    }

    /// Whether a conversion in this state may move to `next`.
    ///
    /// The forward moves are pending → approved | rejected and approved → rejected | reversed.
    /// Staying in the same state is not a move (the tracker reports it as a duplicate).
    #[must_use]
    pub const fn can_become(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Pending, Self::Approved | Self::Rejected)
                | (Self::Approved, Self::Rejected | Self::Reversed)
        )
    }

    /// Whether no further move is possible from this state.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Reversed)
    }
}

impl fmt::Display for ConversionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for ConversionState {
    type Err = ParseStateError;

    /// Parses the stable name ([`ConversionState::as_str`]), ignoring ASCII case. This is the
    /// crate's own vocabulary, not a network's: use a profile's status map for those.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseStateError {
                input: s.chars().take(64).collect(),
            })
    }
}

/// A text that is not one of the four state names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown conversion state `{input}`: expected pending, approved, rejected or reversed")]
pub struct ParseStateError {
    input: Box<str>,
}

#[cfg(feature = "serde")]
impl serde::Serialize for ConversionState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ConversionState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether words outside a [`StatusMap`] are accepted.
///
/// Most networks send free text (`signup`, `Hold`, `checkout`): an unknown word parses fine with
/// no state and its raw text kept, so the tracker can report it. A few send a fixed set of codes
/// (Affise's `1`/`2`/`3`/`5`), where anything else means a broken template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Vocabulary {
    /// Unknown words have no state; the raw word is kept.
    #[default]
    Open,
    /// Unknown words are an error (`bad_status`).
    Closed,
}

/// A network's status words and codes, mapped onto [`ConversionState`].
///
/// Lookups trim surrounding ASCII whitespace and ignore ASCII case (`Approved`, ` SALE `). Codes are
/// words too: `"2"` is whatever this map says, which is why there is one map per profile.
///
/// ```
/// use postback::ConversionState;
/// use postback::status::{StatusMap, Vocabulary};
///
/// let affise = StatusMap::new()
///     .with("1", ConversionState::Approved)
///     .with("2", ConversionState::Pending)
///     .with_vocabulary(Vocabulary::Closed);
/// assert_eq!(affise.get("2"), Some(ConversionState::Pending));
/// assert_eq!(affise.get("4"), None);
///
/// let generic = StatusMap::generic();
/// assert_eq!(generic.get("Chargeback"), Some(ConversionState::Reversed));
/// assert_eq!(generic.get("lead"), Some(ConversionState::Pending));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StatusMap {
    entries: Vec<(Box<str>, ConversionState)>,
    vocabulary: Vocabulary,
}

impl StatusMap {
    /// An empty, open map: every word parses with no state.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
            vocabulary: Vocabulary::Open,
        }
    }

    /// The broad case-insensitive dictionary of the `generic` profile.
    ///
    /// approved ← sale, approved, approve, confirmed, confirm, credited, paid, rebill, deposit;
    /// pending ← pending, hold, new, wait, lead, signup, registration; rejected ← rejected,
    /// reject, declined, decline, cancelled, canceled, cancel, trash, fake; reversed ←
    /// chargeback, charge, reversed, refunded.
    #[must_use]
    pub fn generic() -> Self {
        use ConversionState::{Approved, Pending, Rejected, Reversed};
        Self::from_words(&[
            (
                Approved,
                &[
                    "approved",
                    "sale",
                    "approve",
                    "confirmed",
                    "confirm",
                    "credited",
                    "paid",
                    "rebill",
                    "deposit",
                ],
            ),
            (
                Pending,
                &[
                    "pending",
                    "hold",
                    "new",
                    "wait",
                    "lead",
                    "signup",
                    "registration",
                ],
            ),
            (
                Rejected,
                &[
                    "rejected",
                    "reject",
                    "declined",
                    "decline",
                    "cancelled",
                    "canceled",
                    "cancel",
                    "trash",
                    "fake",
                ],
            ),
            (Reversed, &["chargeback", "charge", "reversed", "refunded"]),
        ])
    }

    /// A map from groups of words, each group mapped to one state.
    #[must_use]
    pub fn from_words(groups: &[(ConversionState, &[&str])]) -> Self {
        groups
            .iter()
            .flat_map(|(state, words)| words.iter().map(move |word| (*word, *state)))
            .fold(Self::new(), |map, (word, state)| map.with(word, state))
    }

    /// This map with `word` (trimmed) meaning `state`; a word already present is remapped.
    #[must_use]
    pub fn with(mut self, word: &str, state: ConversionState) -> Self {
        let word = word.trim_ascii();
        match self
            .entries
            .iter_mut()
            .find(|(known, _)| known.eq_ignore_ascii_case(word))
        {
            Some(entry) => entry.1 = state,
            None => self.entries.push((word.into(), state)),
        }
        self
    }

    /// This map with the given [`Vocabulary`].
    #[must_use]
    pub const fn with_vocabulary(mut self, vocabulary: Vocabulary) -> Self {
        self.vocabulary = vocabulary;
        self
    }

    /// Whether unknown words are accepted.
    #[must_use]
    pub const fn vocabulary(&self) -> Vocabulary {
        self.vocabulary
    }

    /// The state `word` means, ignoring surrounding ASCII whitespace and ASCII case.
    #[must_use]
    pub fn get(&self, word: &str) -> Option<ConversionState> {
        let word = word.trim_ascii();
        // Senders mostly use the documented case: an exact pass first is much cheaper than
        // folding case byte by byte, and gives the same answer, since no two words differ
        // only by case (`with` folds them into one).
        self.entries
            .iter()
            .find(|(known, _)| known.as_bytes() == word.as_bytes())
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|(known, _)| known.eq_ignore_ascii_case(word))
            })
            .map(|(_, state)| *state)
    }

    /// Every word and its state, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ConversionState)> + '_ {
        self.entries.iter().map(|(word, state)| (&**word, *state))
    }

    /// Every word and its state, in insertion order, as stored (for views that hand out a
    /// slice, such as [`TrackerParams::status_words`](crate::catalog::TrackerParams::status_words)).
    pub(crate) fn entries(&self) -> &[(Box<str>, ConversionState)] {
        &self.entries
    }

    /// How many words the map knows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map knows no word.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Two maps are equal when they give every word the same state, whatever the insertion order.
impl PartialEq for StatusMap {
    fn eq(&self, other: &Self) -> bool {
        self.vocabulary == other.vocabulary
            && self.len() == other.len()
            && self
                .iter()
                .all(|(word, state)| other.get(word) == Some(state))
    }
}

impl Eq for StatusMap {}

/// In config files a status map is a table of word → state plus an optional vocabulary:
/// `{ words = { "1" = "approved", "2" = "pending" }, vocabulary = "closed" }`.
///
/// The words keep the order they are written in, both ways: a tracker's first word for a state
/// is the one the URL builder writes (`TrackerParams::postback_url`), so a catalog loaded from
/// config builds the URLs it was saved with.
#[cfg(feature = "serde")]
mod status_map_serde {
    use std::fmt;

    use serde::de::{MapAccess, Visitor};

    use super::{ConversionState, StatusMap, Vocabulary};

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Repr {
        #[serde(default)]
        words: Words,
        #[serde(default)]
        vocabulary: Vocabulary,
    }

    /// A table of words in document order (a `BTreeMap` would sort them).
    #[derive(Default)]
    struct Words(Vec<(String, ConversionState)>);

    impl serde::Serialize for Words {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().map(|(word, state)| (word, state)))
        }
    }

    impl<'de> serde::Deserialize<'de> for Words {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct WordsVisitor;

            impl<'de> Visitor<'de> for WordsVisitor {
                type Value = Words;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a table of status words and their states")
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Words, A::Error> {
                    let mut words = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                    while let Some(entry) = map.next_entry()? {
                        words.push(entry);
                    }
                    Ok(Words(words))
                }
            }

            deserializer.deserialize_map(WordsVisitor)
        }
    }

    impl serde::Serialize for StatusMap {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            Repr {
                words: Words(
                    self.iter()
                        .map(|(word, state)| (word.to_owned(), state))
                        .collect(),
                ),
                vocabulary: self.vocabulary,
            }
            .serialize(serializer)
        }
    }

    impl<'de> serde::Deserialize<'de> for StatusMap {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let repr = Repr::deserialize(deserializer)?;
            Ok(repr
                .words
                .0
                .iter()
                .fold(StatusMap::new(), |map, (word, state)| {
                    map.with(word, *state)
                })
                .with_vocabulary(repr.vocabulary))
        }
    }
}
