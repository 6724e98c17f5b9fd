//! What became of one postback: [`Outcome`], its stable codes, HTTP statuses and hints.
//!
//! The [`Tracker`](crate::Tracker) answers every postback with an [`Outcome`], and the
//! [postback log](crate::log) keeps it; both read it from here, so this module depends on
//! neither.

use std::fmt;
use std::sync::Arc;

use crate::click_id::ClickId;
use crate::guard::GuardError;
use crate::parse::{ParsePostbackError, Postback};
use crate::status::ConversionState;

/// What became of one postback.
///
/// Every outcome has a stable [`code`](Outcome::code) for logs and scripts and the
/// [HTTP status](Outcome::http_status) a sender expects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A new conversion was counted.
    Recorded,
    /// An existing conversion moved to a new state or payout.
    Updated {
        /// Its state before.
        from: ConversionState,
        /// Its state now (equal to `from` for a payout change).
        to: ConversionState,
    },
    /// The conversion is already in that state: nothing changed.
    Duplicate,
    /// The postback is signed, and older than a signed postback already applied to its
    /// conversion (a replay inside the signature's window, or a sender's late retry): nothing
    /// changed, whatever it says. Answered 200, so the sender stops retrying.
    Stale,
    /// No click has that id.
    ClickNotFound,
    /// The click is older than the attribution window.
    Expired,
    /// The conversion cannot move from `from` to `to`.
    IllegalTransition {
        /// Its state now.
        from: ConversionState,
        /// The state the postback asked for.
        to: ConversionState,
    },
    /// The postback's status is not in the profile's vocabulary (or it sent none and the
    /// profile has no default).
    UnmappedStatus,
    /// The guard refused the request.
    Unauthorized(GuardError),
    /// The request is not a usable postback.
    Invalid(ParsePostbackError),
    /// The store failed; the network should retry.
    StoreError(StoreFailure),
}

impl Outcome {
    /// The stable code: `recorded`, `updated`, `duplicate`, `stale`, `click_not_found`,
    /// `expired`, `illegal_transition`, `unmapped_status`, `unauthorized`, `invalid` or
    /// `store_error`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Updated { .. } => "updated",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::ClickNotFound => "click_not_found",
            Self::Expired => "expired",
            Self::IllegalTransition { .. } => "illegal_transition",
            Self::UnmappedStatus => "unmapped_status",
            Self::Unauthorized(_) => "unauthorized",
            Self::Invalid(_) => "invalid",
            Self::StoreError(_) => "store_error",
        }
    }

    /// The HTTP status to answer the sender with.
    ///
    /// 200 for recorded, updated, duplicate and stale, so the network stops retrying; 404 for an
    /// unknown click; 410 for an expired one; 422 for an illegal transition or an unmapped
    /// status; 400 for an invalid request; 401 or 403 from the guard; 503 for a store failure,
    /// the only outcome a sender should retry.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Recorded | Self::Updated { .. } | Self::Duplicate | Self::Stale => 200,
            Self::ClickNotFound => 404,
            Self::Expired => 410,
            Self::IllegalTransition { .. } | Self::UnmappedStatus => 422,
            Self::Unauthorized(err) => err.http_status(),
            Self::Invalid(_) => 400,
            Self::StoreError(_) => 503,
        }
    }

    /// Whether the postback changed what is counted.
    #[must_use]
    pub const fn is_counted(&self) -> bool {
        matches!(self, Self::Recorded | Self::Updated { .. })
    }

    /// A one-line explanation a person can act on, or `None` for a success.
    ///
    /// `postback` is the postback as parsed, when it parsed that far: the hint names the click
    /// id and status word it carried. The [postback log](crate::log::LogEntry::hint) keeps the
    /// hint of every postback a [`Tracker`](crate::Tracker) handled.
    ///
    /// ```
    /// use postback::Outcome;
    ///
    /// assert_eq!(Outcome::Recorded.hint(None), None);
    /// let hint = Outcome::UnmappedStatus.hint(None).unwrap();
    /// assert!(hint.starts_with("no status was sent"));
    /// ```
    #[must_use]
    pub fn hint(&self, postback: Option<&Postback<'_>>) -> Option<String> {
        let click_id = postback.map_or("", Postback::click_id);
        Some(match self {
            Self::Recorded | Self::Updated { .. } => return None,
            Self::Duplicate => "already recorded in this state: the network retried or fired \
                                the same postback twice; nothing was counted again"
                .to_owned(),
            Self::Stale => "signed earlier than a postback already applied to this conversion: \
                            a replay or a late retry of an older postback; nothing was changed"
                .to_owned(),
            Self::ClickNotFound => match ClickId::parse(click_id) {
                Ok(id) => format!(
                    "click id `{click_id}` not found: it has this tracker's format and dates from \
                     {}; the click may be past the store's retention or stored on another node",
                    id.timestamp()
                ),
                Err(_) => format!(
                    "click id `{click_id}` not found: the network returned a value the tracker \
                     never issued; check that the postback returns the macro of the parameter the \
                     offer link passes the click id in (e.g. the click went out in `sub1`, but \
                     the postback returns `{{sub2}}`)"
                ),
            },
            Self::Expired => {
                "the click is older than the attribution window: the conversion was not counted"
                    .to_owned()
            }
            Self::IllegalTransition { from, to } => format!(
                "the conversion is {from}; a {to} postback cannot move it back (allowed: \
                 pending -> approved|rejected, approved -> rejected|reversed)"
            ),
            Self::UnmappedStatus => match postback.and_then(Postback::status) {
                Some(status) => format!(
                    "status `{status}` is not in the profile's vocabulary: map it (e.g. \
                     `{status}=approved`) or have the network send a mapped word"
                ),
                None => "no status was sent and the profile has no default state: add the \
                         network's status macro to the postback url"
                    .to_owned(),
            },
            Self::Unauthorized(err) => err.to_string(),
            Self::Invalid(err) => err.to_string(),
            Self::StoreError(err) => {
                format!("store failed ({err}): answered 503 so that the network retries")
            }
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Updated { from, to } | Self::IllegalTransition { from, to } => {
                write!(f, "{} ({from} -> {to})", self.code())
            }
            Self::Unauthorized(err) => write!(f, "unauthorized ({})", err.code()),
            Self::Invalid(err) => write!(f, "invalid ({})", err.code()),
            _ => f.write_str(self.code()),
        }
    }
}

/// A store failure, kept with its message so outcomes stay cloneable and comparable.
///
/// The store's own error, when there was one, is its [`source`](std::error::Error::source)
/// (a conflict retried too often has none). Two failures are equal when their messages are.
#[derive(Clone)]
pub struct StoreFailure {
    message: Box<str>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreFailure {
    pub(crate) fn from_error<E: std::error::Error + Send + Sync + 'static>(err: E) -> Self {
        Self {
            message: err.to_string().into(),
            source: Some(Arc::new(err)),
        }
    }

    pub(crate) fn conflicts(attempts: u32) -> Self {
        Self {
            message: format!("click changed under {attempts} attempts in a row: retry later")
                .into(),
            source: None,
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreFailure").field(&self.message).finish()
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl PartialEq for StoreFailure {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for StoreFailure {}

impl std::error::Error for StoreFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|err| err as &(dyn std::error::Error + 'static))
    }
}
