//! The conversion-time flow: guard → parse → load → [`decide`] → commit → log.
//!
//! [`Tracker`] glues the pieces together for one postback endpoint; [`decide`] is the pure
//! function where the counting rules live, public so that a custom flow (an async store, a
//! batch import) applies exactly the same rules.
//!
//! # Rules
//!
//! - **Identity.** A conversion is identified by `(click id, transaction id)` when the network
//!   sends a transaction id, else by `(click id, event)`, where the event is the profile's
//!   goal/type parameter, and a postback without either refers to the click's one default
//!   conversion ([`ConversionKey::DEFAULT`]). Most networks send no transaction id, so a
//!   `pending` then `approved` pair updates one conversion, and a repeated `approved` is a
//!   duplicate. A new transaction id on the same click is a new conversion (a rebill, an upsell).
//! - **Duplicates.** The same state again (with the same payout) is [`Outcome::Duplicate`]:
//!   answered 200 so the network stops retrying, counted nowhere.
//! - **Forward only.** pending → approved | rejected, approved → rejected | reversed. Anything
//!   else (a late `pending` after `approved`) is [`Outcome::IllegalTransition`]: logged, not
//!   applied.
//! - **Payout changes.** A postback in the same, non-final state with a different payout or
//!   currency updates the conversion ([`Outcome::Updated`] with `from == to`). A postback that
//!   omits the payout keeps the stored one.
//! - **Attribution window.** A *new* conversion more than the window after its click is
//!   [`Outcome::Expired`]. The window is the profile's when it sets one, else the tracker's.
//!   Status changes of a conversion already recorded are still accepted after the window:
//!   approvals routinely come weeks later.
//! - **History.** Every accepted postback is appended to its conversion's history, so a
//!   changed payout or state can always be traced.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::click_id::ClickId;
use crate::guard::{Guard, GuardError};
use crate::log::{self, LogEntry, PostbackLog};
use crate::postback::{Limit, ParsePostbackError, Parser, Postback};
use crate::request::Request;
use crate::status::ConversionState;
use crate::store::{
    Change, Click, ClickStore, Commit, ConversionData, ConversionKey, Inserted, StoredClick,
};

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
    /// The stable code: `recorded`, `updated`, `duplicate`, `click_not_found`, `expired`,
    /// `illegal_transition`, `unmapped_status`, `unauthorized`, `invalid` or `store_error`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Updated { .. } => "updated",
            Self::Duplicate => "duplicate",
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
    /// 200 for recorded, updated and duplicate, so the network stops retrying; 404 for an
    /// unknown click; 410 for an expired one; 422 for an illegal transition or an unmapped
    /// status; 400 for an invalid request; 401 or 403 from the guard; 503 for a store failure,
    /// the only outcome a sender should retry.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Recorded | Self::Updated { .. } | Self::Duplicate => 200,
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
#[derive(Clone)]
pub struct StoreFailure {
    message: Box<str>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreFailure {
    fn from_error<E: std::error::Error + Send + Sync + 'static>(err: E) -> Self {
        Self {
            message: err.to_string().into(),
            source: Some(Arc::new(err)),
        }
    }

    fn conflicts(attempts: u32) -> Self {
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

    /// The store's own error, when there was one.
    #[must_use]
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
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

/// What [`decide`] concluded: the outcome, and the change to commit if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The outcome, if the change (when there is one) commits.
    pub outcome: Outcome,
    /// The change to commit, for [`Outcome::Recorded`] and [`Outcome::Updated`].
    pub change: Option<Change<'a>>,
}

impl Decision<'_> {
    fn without_change(outcome: Outcome) -> Self {
        Self {
            outcome,
            change: None,
        }
    }
}

/// Decides what one postback does to a stored click: the one place the counting rules live
/// (see the [module docs](self)).
///
/// `stored` must have been loaded with the postback's key,
/// `ConversionKey::for_postback(postback.txid(), postback.event())`. `window` is the
/// attribution window (`None`: no limit): the profile's if it sets one, else the tracker's, as
/// [`Tracker::attribution_window`] gives it. Pure: no I/O, no clock.
///
/// ```
/// use postback::postback::Postback;
/// use postback::store::{StoredClick, Version};
/// use postback::tracker::{decide, Outcome};
/// use postback::ConversionState;
/// use time::OffsetDateTime;
///
/// let now = OffsetDateTime::now_utc();
/// let click = StoredClick { version: Version::new(0), clicked_at: now, conversion: None };
/// let pb = Postback::new("abc").with_state(Some(ConversionState::Approved));
/// let decision = decide(&pb, &click, now, None);
/// assert_eq!(decision.outcome, Outcome::Recorded);
/// assert!(decision.change.is_some());
/// ```
#[must_use]
pub fn decide<'a>(
    postback: &'a Postback<'_>,
    stored: &StoredClick,
    now: OffsetDateTime,
    window: Option<Duration>,
) -> Decision<'a> {
    let Some(state) = postback.state() else {
        return Decision::without_change(Outcome::UnmappedStatus);
    };
    let key = ConversionKey::for_postback(postback.txid(), postback.event());
    let Some(existing) = stored.conversion else {
        if let Some(window) = window
            && now - stored.clicked_at > window
        {
            return Decision::without_change(Outcome::Expired);
        }
        let data = ConversionData {
            state,
            payout: postback.payout(),
            currency: postback.currency(),
            status: postback.status(),
            at: now,
        };
        return Decision {
            outcome: Outcome::Recorded,
            change: Some(Change::Record { key, data }),
        };
    };
    // A postback that omits payout or currency keeps what is stored.
    let payout = postback.payout().or(existing.payout);
    let currency = postback.currency().or(existing.currency);
    let from = existing.state;
    let money_changed = payout != existing.payout || currency != existing.currency;
    let moves = if state == from {
        money_changed && !from.is_final()
    } else if from.can_become(state) {
        true
    } else {
        return Decision::without_change(Outcome::IllegalTransition { from, to: state });
    };
    if !moves {
        return Decision::without_change(Outcome::Duplicate);
    }
    let data = ConversionData {
        state,
        payout,
        currency,
        status: postback.status(),
        at: now,
    };
    Decision {
        outcome: Outcome::Updated { from, to: state },
        change: Some(Change::Update { key, from, data }),
    }
}

/// One postback endpoint: a store, a parser (one network profile), a guard and a log.
///
/// ```
/// use postback::{Click, ClickId, MemoryStore, Request, Tracker};
/// use postback::postback::Parser;
/// use postback::tracker::Outcome;
///
/// let tracker = Tracker::new(MemoryStore::new(), Parser::generic());
/// let id = ClickId::generate();
/// tracker.record_click(Click::from_id(id))?;
///
/// let url = format!("/postback?click_id={id}&status=approved&payout=12.50");
/// let now = time::OffsetDateTime::now_utc();
/// assert_eq!(tracker.handle(&Request::get(&url), now), Outcome::Recorded);
/// assert_eq!(tracker.handle(&Request::get(&url), now), Outcome::Duplicate);
/// assert_eq!(tracker.log().entries().len(), 2);
/// # Ok::<(), postback::MemoryStoreError>(())
/// ```
pub struct Tracker<S> {
    store: S,
    parser: Parser,
    guard: Guard,
    window: Option<Duration>,
    max_attempts: u32,
    log: PostbackLog,
}

impl<S: ClickStore> Tracker<S> {
    /// How often a postback is retried on a compare-and-set conflict before the tracker gives
    /// up with a store error (which makes the network retry later).
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

    /// A tracker over `store` that reads postbacks with `parser`, lets every request through
    /// (no guard), has no attribution window and logs the last
    /// [`PostbackLog::DEFAULT_CAPACITY`] postbacks.
    #[must_use]
    pub fn new(store: S, parser: Parser) -> Self {
        Self {
            guard: Guard::new().with_profile(parser.profile()),
            store,
            parser,
            window: None,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            log: PostbackLog::new(PostbackLog::DEFAULT_CAPACITY),
        }
    }

    /// Sets the guard every request must pass first.
    ///
    /// The guard is given the parser's profile ([`Guard::with_profile`]), so the token
    /// parameter is named in one place: a guard without its own token source reads the
    /// profile's token parameter, and one told to read a parameter the profile does not name
    /// refuses every postback with [`GuardError::TokenParamConflict`] (HTTP 500) rather than
    /// check a token the network sends elsewhere.
    ///
    /// ```
    /// use postback::{Guard, MemoryStore, Request, Tracker};
    /// use postback::guard::TokenSource;
    /// use postback::postback::Parser;
    /// use postback::profile::Profile;
    ///
    /// let affise = Parser::from(Profile::builtin("affise").unwrap());
    /// let tracker = Tracker::new(MemoryStore::new(), affise)
    ///     .with_guard(Guard::new().with_token("s3cret"));
    /// assert_eq!(tracker.guard().token_source(), &TokenSource::param("secure"));
    /// ```
    #[must_use]
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = guard.with_profile(self.parser.profile());
        self
    }

    /// Sets the tracker's attribution window: a new conversion later than this after its click
    /// is [`Outcome::Expired`]. A profile's own window
    /// ([`Profile::with_attribution_window`](crate::profile::Profile::with_attribution_window))
    /// wins over it.
    #[must_use]
    pub fn with_attribution_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// The attribution window postbacks are judged by: the profile's if it sets one, else the
    /// tracker's, else `None` (no limit).
    #[must_use]
    pub fn attribution_window(&self) -> Option<Duration> {
        self.parser.profile().attribution_window().or(self.window)
    }

    /// Sets how many postbacks the log keeps; 0 keeps none (and builds no entries, which
    /// saves the copy of each postback on the hot path).
    #[must_use]
    pub fn with_log_capacity(mut self, capacity: usize) -> Self {
        self.log = PostbackLog::new(capacity);
        self
    }

    /// Sets how many compare-and-set attempts a postback gets (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The parser.
    #[must_use]
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The guard, as configured for the parser's profile (see [`Tracker::with_guard`]).
    #[must_use]
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The postback log: what came in, what was decided, and why.
    #[must_use]
    pub fn log(&self) -> &PostbackLog {
        &self.log
    }

    /// Stores a click at click time.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub fn record_click(&self, click: Click) -> Result<Inserted, S::Error> {
        self.store.insert(click)
    }

    /// Handles one postback request received at `now`, logs it, and says what became of it.
    ///
    /// A request with a non-empty body is read from its form body, otherwise from its target.
    /// A target or body longer than the parser's input limit
    /// ([`Limits::max_input_len`](crate::postback::Limits::max_input_len)) is
    /// [`Outcome::Invalid`] before the guard reads it, so an unauthenticated request costs at
    /// most that much work.
    pub fn handle(&self, request: &Request<'_>, now: OffsetDateTime) -> Outcome {
        let keep = self.log.capacity() > 0;
        let (outcome, postback) = self.evaluate(request, now, keep);
        if keep {
            let hint = hint(&outcome, postback.as_ref());
            // The log is shown to people: keep the token out of it, and name the client
            // behind trusted proxies rather than the proxy.
            let peer = self.guard.client_ip(request).ok().or(request.peer());
            // Redacted after the cut: a 1 MiB body costs what its logged head costs.
            let body = request.body().map(|b| self.guard.redact_body(log::head(b)));
            self.log.push(LogEntry::new(
                now,
                peer,
                &self.guard.redact(log::head_text(request.target())),
                body.as_deref(),
                outcome.clone(),
                // Dropped before the copy, not after: one allocation fewer per entry.
                postback.map(|pb| pb.with_token(None::<&str>).into_owned()),
                hint,
            ));
        } else {
            self.log.count_unkept();
        }
        outcome
    }

    /// [`Tracker::handle`] at the current system time.
    pub fn handle_now(&self, request: &Request<'_>) -> Outcome {
        self.handle(request, OffsetDateTime::now_utc())
    }

    /// The outcome, and the parsed postback too when `keep` (for the log): a postback is a
    /// couple of hundred bytes, and moving it around costs a `memcpy` call each time.
    fn evaluate<'r>(
        &self,
        request: &Request<'r>,
        now: OffsetDateTime,
        keep: bool,
    ) -> (Outcome, Option<Postback<'r>>) {
        // The parser refuses an input over its length limit before reading it, but the guard
        // runs first and reads the whole query and body (the signature check decodes and sorts
        // every pair): refuse what the parser would refuse before the guard spends work on it.
        let max = self.parser.limits().max_input_len();
        let len = request
            .target()
            .len()
            .max(request.body().map_or(0, <[u8]>::len));
        if len > max {
            let err = ParsePostbackError::TooLong {
                param: None,
                limit: Limit::InputLength,
                len,
                max,
            };
            return (Outcome::Invalid(err), None);
        }
        if let Err(err) = self.guard.check(request, now) {
            return (Outcome::Unauthorized(err), None);
        }
        let parsed = match request.body() {
            Some(body) if !body.is_empty() => self.parser.parse_form(body),
            // The store starts fetching the click while the parser reads on.
            _ => self
                .parser
                .parse_announcing(request.target(), |id| self.store.prefetch(id)),
        };
        match parsed {
            Ok(ref postback) => {
                let outcome = self.count(postback, now);
                (outcome, if keep { parsed.ok() } else { None })
            }
            Err(err) => (Outcome::Invalid(err), None),
        }
    }

    /// Load, decide, commit; again on a conflict.
    fn count(&self, postback: &Postback<'_>, now: OffsetDateTime) -> Outcome {
        if postback.state().is_none() {
            return Outcome::UnmappedStatus;
        }
        let key = ConversionKey::for_postback(postback.txid(), postback.event());
        let window = self.attribution_window();
        for _ in 0..self.max_attempts {
            let stored = match self.store.load(postback.click_id(), &key) {
                Ok(Some(stored)) => stored,
                Ok(None) => return Outcome::ClickNotFound,
                Err(err) => return Outcome::StoreError(StoreFailure::from_error(err)),
            };
            let decision = decide(postback, &stored, now, window);
            let Some(change) = decision.change else {
                return decision.outcome;
            };
            match self
                .store
                .commit(postback.click_id(), stored.version, &change)
            {
                Ok(Commit::Applied) => return decision.outcome,
                Ok(Commit::Conflict) => {}
                Err(err) => return Outcome::StoreError(StoreFailure::from_error(err)),
            }
        }
        Outcome::StoreError(StoreFailure::conflicts(self.max_attempts))
    }
}

impl<S> fmt::Debug for Tracker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("profile", &self.parser.profile().name())
            .field("window", &self.window)
            .field(
                "profile_window",
                &self.parser.profile().attribution_window(),
            )
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// A one-line explanation of an outcome a person can act on, or `None` for a success.
///
/// `click_id` is the id the postback carried, when it parsed that far.
#[must_use]
pub fn hint(outcome: &Outcome, postback: Option<&Postback<'_>>) -> Option<String> {
    let click_id = postback.map_or("", Postback::click_id);
    Some(match outcome {
        Outcome::Recorded | Outcome::Updated { .. } => return None,
        Outcome::Duplicate => "already recorded in this state: the network retried or fired the \
                               same postback twice; nothing was counted again"
            .to_owned(),
        Outcome::ClickNotFound => match ClickId::parse(click_id) {
            Ok(id) => format!(
                "click id `{click_id}` not found: it has this tracker's format and dates from \
                 {}; the click may be past the store's retention or stored on another node",
                id.timestamp()
            ),
            Err(_) => format!(
                "click id `{click_id}` not found: the network returned a value the tracker never \
                 issued; check that the postback returns the macro of the parameter the offer \
                 link passes the click id in (e.g. the click went out in `sub1`, but the \
                 postback returns `{{sub2}}`)"
            ),
        },
        Outcome::Expired => {
            "the click is older than the attribution window: the conversion was not counted"
                .to_owned()
        }
        Outcome::IllegalTransition { from, to } => format!(
            "the conversion is {from}; a {to} postback cannot move it back (allowed: pending -> \
             approved|rejected, approved -> rejected|reversed)"
        ),
        Outcome::UnmappedStatus => match postback.and_then(Postback::status) {
            Some(status) => format!(
                "status `{status}` is not in the profile's vocabulary: map it (e.g. \
                 `{status}=approved`) or have the network send a mapped word"
            ),
            None => "no status was sent and the profile has no default state: add the \
                     network's status macro to the postback url"
                .to_owned(),
        },
        Outcome::Unauthorized(err) => err.to_string(),
        Outcome::Invalid(err) => err.to_string(),
        Outcome::StoreError(err) => {
            format!("store failed ({err}): answered 503 so that the network retries")
        }
    })
}
