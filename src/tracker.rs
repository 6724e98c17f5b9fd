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
//! - **Newest signed wins.** A conversion keeps the newest signed timestamp applied to it
//!   ([`Verified::signed_at`](crate::guard::Verified::signed_at)). A signed postback older than
//!   that is [`Outcome::Stale`] whatever it says, before the state rules: a replay inside the
//!   signature's window, or a sender's late retry, never rolls a state or a payout back. One
//!   with the same timestamp or a newer one follows the other rules (the same postback again
//!   is a duplicate), and a change it commits stores the later of the two timestamps. A
//!   postback that changes nothing stores none. Unsigned postbacks carry no timestamp and
//!   neither meet nor move this rule.
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
use std::time::Duration;

use time::OffsetDateTime;

use crate::guard::{Guard, GuardError};
use crate::log::{self, LogEntry, PostbackLog};
use crate::parse::{Limit, ParsePostbackError, Parser, Postback};
use crate::request::Request;
use crate::store::{
    Change, Click, ClickStore, Commit, ConversionData, ConversionKey, Inserted, Standing,
    StoredClick,
};

// `Outcome` lives below both this module and the log; the old paths keep working.
pub use crate::outcome::{Outcome, StoreFailure};

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
/// `signed_at` is the postback's signed timestamp in Unix seconds, as the guard verified it
/// ([`Verified::signed_at`](crate::guard::Verified::signed_at)), or `None` for a postback that
/// is not signed. `stored` must have been loaded with the postback's key,
/// `ConversionKey::for_postback(postback.txid(), postback.event())`. `window` is the
/// attribution window (`None`: no limit): the profile's if it sets one, else the tracker's, as
/// [`Tracker::attribution_window`] gives it. Pure: no I/O, no clock.
///
/// ```
/// use postback::parse::Postback;
/// use postback::store::{Standing, StoredClick, Version};
/// use postback::tracker::{decide, Outcome};
/// use postback::ConversionState;
/// use time::OffsetDateTime;
///
/// let now = OffsetDateTime::now_utc();
/// let click = StoredClick {
///     version: Version::new(0),
///     clicked_at: now,
///     conversion: None,
///     signed_at: None,
/// };
/// let pb = Postback::new("abc").with_state(Some(ConversionState::Approved));
/// let decision = decide(&pb, None, &click, now, None);
/// assert_eq!(decision.outcome, Outcome::Recorded);
/// assert!(decision.change.is_some());
///
/// // The conversion now holds a postback signed at 1_700_000_200: one signed earlier is stale.
/// let pending = Postback::new("abc").with_state(Some(ConversionState::Pending));
/// let approved = Standing { state: ConversionState::Approved, payout: None, currency: None };
/// let stored = StoredClick { conversion: Some(approved), signed_at: Some(1_700_000_200), ..click };
/// assert_eq!(decide(&pending, Some(1_700_000_100), &stored, now, None).outcome, Outcome::Stale);
/// ```
#[must_use]
pub fn decide<'a>(
    postback: &'a Postback<'_>,
    signed_at: Option<i64>,
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
            standing: Standing {
                state,
                payout: postback.payout(),
                currency: postback.currency(),
            },
            status: postback.status(),
            at: now,
            signed_at,
        };
        return Decision {
            outcome: Outcome::Recorded,
            change: Some(Change::Record { key, data }),
        };
    };
    // Older news than what the conversion already shows, whatever it says: a replay or a late
    // retry. Checked before the state rules, so it never depends on them.
    if let (Some(incoming), Some(newest)) = (signed_at, stored.signed_at)
        && incoming < newest
    {
        return Decision::without_change(Outcome::Stale);
    }
    // A postback that omits payout or currency keeps what is stored.
    let standing = Standing {
        state,
        payout: postback.payout().or(existing.payout),
        currency: postback.currency().or(existing.currency),
    };
    let from = existing.state;
    let moves = if state == from {
        // Same state: only a changed payout or currency moves it.
        standing != existing && !from.is_final()
    } else if from.can_become(state) {
        true
    } else {
        return Decision::without_change(Outcome::IllegalTransition { from, to: state });
    };
    if !moves {
        return Decision::without_change(Outcome::Duplicate);
    }
    let data = ConversionData {
        standing,
        status: postback.status(),
        at: now,
        // `None` is older than any timestamp: an unsigned postback keeps the stored one.
        signed_at: stored.signed_at.max(signed_at),
    };
    Decision {
        outcome: Outcome::Updated { from, to: state },
        change: Some(Change::Update { key, from, data }),
    }
}

/// Why a [`Tracker`] refused a part of its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The guard cannot work with the parser's profile: for now the one case is
    /// [`GuardError::TokenParamConflict`] (the guard reads the token from a parameter the
    /// profile does not name as a token parameter, so every postback would be refused).
    #[error(transparent)]
    Guard(GuardError),
}

/// One postback endpoint: a store, a parser (one network profile), a guard and a log.
///
/// ```
/// use postback::{Click, ClickId, MemoryStore, Request, Tracker};
/// use postback::parse::Parser;
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
    /// profile's token parameter.
    ///
    /// ```
    /// use postback::{Guard, MemoryStore, Tracker};
    /// use postback::guard::TokenSource;
    /// use postback::parse::Parser;
    /// use postback::guard::GuardError;
    /// use postback::tracker::ConfigError;
    ///
    /// let affise = || Parser::builtin("affise").unwrap(); // its token parameter is `secure`
    /// let tracker = Tracker::new(MemoryStore::new(), affise())
    ///     .with_guard(Guard::new().with_token("s3cret"))?;
    /// assert_eq!(tracker.guard().token_source(), &TokenSource::param("secure"));
    ///
    /// // Told to read the token elsewhere, the guard would refuse every postback.
    /// let confused = Guard::new().with_token("s3cret").with_token_source(TokenSource::param("token"));
    /// let err = Tracker::new(MemoryStore::new(), affise()).with_guard(confused).unwrap_err();
    /// assert!(matches!(err, ConfigError::Guard(GuardError::TokenParamConflict { ref param, .. }) if &**param == "token"));
    /// # Ok::<(), ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Guard`] with [`GuardError::TokenParamConflict`] when the guard checks tokens
    /// ([`Guard::with_token`]) and was told to read them from a parameter
    /// ([`Guard::with_token_source`]) that the profile does not name as a token parameter: it
    /// would refuse every postback, so the tracker is not built with it.
    pub fn with_guard(mut self, guard: Guard) -> Result<Self, ConfigError> {
        let guard = guard.with_profile(self.parser.profile());
        if let Some(conflict) = guard.token_param_conflict() {
            return Err(ConfigError::Guard(conflict.clone()));
        }
        self.guard = guard;
        Ok(self)
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
    /// ([`Limits::max_input_len`](crate::parse::Limits::max_input_len)) is
    /// [`Outcome::Invalid`] before the guard reads it, so an unauthenticated request costs at
    /// most that much work.
    #[must_use = "the outcome is what to answer the sender (`Outcome::http_status`)"]
    pub fn handle(&self, request: &Request<'_>, now: OffsetDateTime) -> Outcome {
        let keep = self.log.capacity() > 0;
        let (outcome, postback) = self.evaluate(request, now, keep);
        if keep {
            let hint = outcome.hint(postback.as_ref());
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
                postback.map(|pb| pb.without_token().into_owned()),
                hint,
            ));
        } else {
            self.log.count_unkept();
        }
        outcome
    }

    /// [`Tracker::handle`] at the current system time.
    #[must_use = "the outcome is what to answer the sender (`Outcome::http_status`)"]
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
        let verified = match self.guard.check(request, now) {
            Ok(verified) => verified,
            Err(err) => return (Outcome::Unauthorized(err), None),
        };
        let parsed = match request.body() {
            Some(body) if !body.is_empty() => self.parser.parse_form(body),
            // The store starts fetching the click while the parser reads on.
            _ => self
                .parser
                .parse_announcing(request.target(), |id| self.store.prefetch(id)),
        };
        match parsed {
            Ok(ref postback) => {
                let outcome = self.count(postback, verified.signed_at(), now);
                (outcome, if keep { parsed.ok() } else { None })
            }
            Err(err) => (Outcome::Invalid(err), None),
        }
    }

    /// Load, decide, commit; again on a conflict.
    fn count(
        &self,
        postback: &Postback<'_>,
        signed_at: Option<i64>,
        now: OffsetDateTime,
    ) -> Outcome {
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
            let decision = decide(postback, signed_at, &stored, now, window);
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
