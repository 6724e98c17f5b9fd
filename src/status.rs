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
