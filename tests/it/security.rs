//! The claims SECURITY.md makes, checked: where the token is read and never kept, which
//! attribution window applies, how much work a request gets before it is refused, what a click
//! id gives away, and that a store's shard layout is not predictable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use postback::guard::{GuardError, TokenSource};
use postback::profile::Profile;
use postback::tracker::ConfigError;
use postback::{
    Click, ClickId, ClickIdGenerator, ClickStore, Guard, MemoryConfig, MemoryStore,
    MemoryStoreError, Outcome, Parser, Request, Tracker,
};
use time::OffsetDateTime;

const SECRET: &str = "k7Qe2xv9LmP4";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_500_000).unwrap()
}

/// A click made `age` before `now()`, stored in `tracker`; returns its id.
fn click_aged(tracker: &Tracker<MemoryStore>, age: time::Duration) -> String {
    let ms = u64::try_from((now() - age).unix_timestamp()).unwrap() * 1000;
    let id = ClickId::from_parts(ms, 0x00ab_cdef_0123_4567_89ab);
    assert_eq!(
        tracker.record_click(Click::from_id(id)).unwrap(),
        postback::store::Inserted::New
    );
    id.to_string()
}

fn tracker_for(profile: Profile) -> Tracker<MemoryStore> {
    Tracker::new(MemoryStore::new(), Parser::from(Arc::new(profile)))
}

// --- The token parameter has one source of truth: the profile --------------------------------

#[test]
fn guard_reads_the_token_where_the_profile_says() {
    let affise = Parser::builtin("affise").unwrap();
    let t = Tracker::new(MemoryStore::new(), affise)
        .with_guard(Guard::new().with_token(SECRET))
        .unwrap();
    assert_eq!(t.guard().token_source(), &TokenSource::param("secure"));
    let id = click_aged(&t, time::Duration::HOUR);
    let in_token = format!("/pb?clickid={id}&status=1&token={SECRET}");
    let outcome = t.handle(&Request::get(&in_token), now());
    let Outcome::Unauthorized(GuardError::MissingToken { location, .. }) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(location, &TokenSource::param("secure"));
    let in_secure = format!("/pb?clickid={id}&status=1&secure={SECRET}");
    assert_eq!(
        t.handle(&Request::get(&in_secure), now()),
        Outcome::Recorded
    );
}

#[test]
fn a_tracker_refuses_a_guard_parameter_the_profile_does_not_name() {
    let confused = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::param("token"));
    let affise = || Tracker::new(MemoryStore::new(), Parser::builtin("affise").unwrap());
    // Refused when the tracker is built, not with a 500 on every postback after it starts.
    let err = affise().with_guard(confused.clone()).unwrap_err();
    let ConfigError::Guard(GuardError::TokenParamConflict {
        param,
        profile,
        profile_params,
        ..
    }) = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (&**param, &**profile, &**profile_params),
        ("token", "affise", "secure")
    );
    assert_eq!(
        err.to_string(),
        "the guard reads the token from parameter `token`, but profile `affise` sends it in \
         `secure`: leave the guard's token source unset or name the profile's parameter"
    );
    // A guard that checks no token reads no parameter: nothing to disagree about.
    let no_token = Guard::new().with_token_source(TokenSource::param("token"));
    assert!(affise().with_guard(no_token).is_ok());

    // The guard on its own still refuses every request, even one with the right token in both
    // places: the setup is wrong, and a 500 is retried once it is fixed.
    let guard = confused.with_profile(Profile::builtin("affise").unwrap());
    let target = format!("/pb?clickid=abc&status=1&token={SECRET}&secure={SECRET}");
    let err = guard.check(&Request::get(&target), now()).unwrap_err();
    assert_eq!(
        (err.code(), err.http_status()),
        ("token_param_conflict", 500)
    );
}

#[test]
fn explicit_sources_that_agree_with_the_profile_are_kept() {
    let profile = Profile::new("mine", "clickid")
        .with_status_param("status")
        .with_token_param("key")
        .with_token_param("auth");
    let now = now();
    let cases = [
        (TokenSource::param("auth"), format!("/pb?auth={SECRET}")),
        (TokenSource::PathSegment(0), format!("/{SECRET}/pb?x=1")),
    ];
    for (source, target) in cases {
        let guard = Guard::new()
            .with_token(SECRET)
            .with_token_source(source.clone())
            .with_profile(&profile);
        assert_eq!(guard.token_source(), &source);
        assert_eq!(
            guard
                .check(&Request::get(&target), now)
                .map(|v| v.signed_at()),
            Ok(None),
            "{source}"
        );
    }
    // A profile without token parameters leaves the guard's choice alone, default included.
    let plain = Profile::new("plain", "clickid");
    let guard = Guard::new().with_token(SECRET).with_profile(&plain);
    assert_eq!(guard.token_source(), &TokenSource::param("token"));
    let guard = guard.with_token_source(TokenSource::param("sig"));
    let target = format!("/pb?sig={SECRET}");
    assert_eq!(
        guard
            .check(&Request::get(&target), now)
            .map(|v| v.signed_at()),
        Ok(None)
    );
}

#[test]
fn a_conflict_without_tokens_checks_nothing_and_refuses_nothing() {
    // No token configured: there is nothing to read, so nothing to disagree about.
    let guard = Guard::new()
        .with_token_source(TokenSource::param("token"))
        .with_profile(Profile::builtin("tune").unwrap());
    assert_eq!(
        guard
            .check(&Request::get("/pb?x=1"), now())
            .map(|v| v.signed_at()),
        Ok(None)
    );
}

// --- Nothing keeps the token ------------------------------------------------------------------

#[test]
fn the_log_keeps_no_token_anywhere() {
    let t = Tracker::new(MemoryStore::new(), Parser::generic())
        .with_guard(Guard::new().with_token(SECRET))
        .unwrap();
    let id = click_aged(&t, time::Duration::HOUR);
    let target = format!("/pb?click_id={id}&status=approved&token={SECRET}");
    assert_eq!(t.handle(&Request::get(&target), now()), Outcome::Recorded);
    let body = format!("click_id={id}&status=rejected&token={SECRET}");
    let post = Request::post("/pb", body.as_bytes());
    assert_eq!(t.handle(&post, now()).code(), "updated");
    let entries = t.log().entries();
    assert_eq!(entries.len(), 2);
    for entry in &entries {
        let pb = entry.postback().expect("parsed");
        assert_eq!(pb.token(), None);
        let debug = format!("{entry:?}");
        assert!(!debug.contains(SECRET), "{debug}");
    }
    assert_eq!(
        entries[0].target(),
        format!("/pb?click_id={id}&status=approved&token=***")
    );
    assert_eq!(
        entries[1].body(),
        Some(format!("click_id={id}&status=rejected&token=***").as_str())
    );
}

#[test]
fn a_profile_token_is_hidden_even_when_no_guard_checks_it() {
    // TUNE sends `security_token`; this tracker does not check it, but it is still a secret.
    let t = Tracker::new(MemoryStore::new(), Parser::builtin("tune").unwrap());
    let id = click_aged(&t, time::Duration::HOUR);
    let target = format!("/pb?transaction_id={id}&security_token={SECRET}&amount=2");
    assert_eq!(
        t.handle(&Request::get(&target), now()),
        Outcome::UnmappedStatus
    );
    let entry = &t.log().entries()[0];
    assert_eq!(
        entry.target(),
        format!("/pb?transaction_id={id}&security_token=***&amount=2")
    );
}

#[cfg(feature = "serde")]
#[test]
fn json_lines_hold_no_token() {
    let t = Tracker::new(MemoryStore::new(), Parser::generic())
        .with_guard(Guard::new().with_token(SECRET))
        .unwrap();
    let id = click_aged(&t, time::Duration::HOUR);
    for token in [SECRET, "wrong-guess"] {
        let target = format!("/pb?click_id={id}&status=approved&token={token}");
        let _ = t.handle(&Request::get(&target), now());
    }
    let mut out = Vec::new();
    t.log().write_json_lines(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        !text.contains("wrong-guess"),
        "a near miss may be a typo of the secret"
    );
}

// --- Attribution window: the profile's, else the tracker's -----------------------------------

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn the_profile_window_wins_over_the_tracker_window() {
    let base = || {
        Profile::new("mine", "click_id")
            .with_status_param("status")
            .with_status_map(postback::StatusMap::generic())
    };
    // (profile window, tracker window, click age in minutes, expected code)
    let cases = [
        (Some(30), None, 60, "expired"),
        (Some(30), Some(120), 60, "expired"),
        (Some(120), Some(30), 60, "recorded"),
        (None, Some(30), 60, "expired"),
        (None, Some(120), 60, "recorded"),
        (None, None, 60 * 24 * 365, "recorded"),
        (Some(60), None, 59, "recorded"),
    ];
    for (profile_window, tracker_window, age, want) in cases {
        let mut profile = base();
        if let Some(minutes) = profile_window {
            profile = profile.with_attribution_window(MINUTE * minutes);
        }
        let mut t = tracker_for(profile);
        if let Some(minutes) = tracker_window {
            t = t.with_attribution_window(MINUTE * minutes);
        }
        let expected_window = profile_window.or(tracker_window).map(|m| MINUTE * m);
        assert_eq!(t.attribution_window(), expected_window);
        let id = click_aged(&t, time::Duration::minutes(age));
        let target = format!("/pb?click_id={id}&status=approved");
        let outcome = t.handle(&Request::get(&target), now());
        assert_eq!(
            outcome.code(),
            want,
            "profile {profile_window:?} tracker {tracker_window:?} age {age}"
        );
    }
}

#[test]
fn status_changes_pass_the_profile_window_like_the_tracker_window() {
    let profile = Profile::new("mine", "click_id")
        .with_status_param("status")
        .with_status_map(postback::StatusMap::generic());
    let early = tracker_for(profile.clone());
    let id = click_aged(&early, time::Duration::HOUR);
    let pending = format!("/pb?click_id={id}&status=pending");
    assert_eq!(
        early.handle(&Request::get(&pending), now()),
        Outcome::Recorded
    );
    // The same store, now behind a profile with a 10-minute window: the conversion exists.
    let store = early.store();
    let late = Tracker::new(
        store,
        Parser::from(Arc::new(profile.with_attribution_window(MINUTE * 10))),
    );
    let approved = format!("/pb?click_id={id}&status=approved");
    assert_eq!(
        late.handle(&Request::get(&approved), now()).code(),
        "updated"
    );
}

#[cfg(feature = "serde")]
#[test]
fn profile_window_in_config_is_whole_seconds() {
    let json = r#"{"name": "mine", "click_id": ["cid"], "attribution_window_secs": 2592000}"#;
    let profile: Profile = serde_json::from_str(json).unwrap();
    assert_eq!(
        profile.attribution_window(),
        Some(Duration::from_secs(30 * 24 * 3600))
    );
    let back = serde_json::to_string(&profile).unwrap();
    assert!(
        back.contains(r#""attribution_window_secs":2592000"#),
        "{back}"
    );
    assert_eq!(serde_json::from_str::<Profile>(&back).unwrap(), profile);
    let without = serde_json::to_string(Profile::generic()).unwrap();
    assert!(!without.contains("attribution_window"), "{without}");
    let bad = r#"{"name": "mine", "click_id": ["cid"], "attribution_window_secs": "30d"}"#;
    assert!(serde_json::from_str::<Profile>(bad).is_err());
}

// --- Work before refusal is bounded by the parser's input limit ------------------------------

#[test]
fn oversized_requests_are_refused_before_the_guard_reads_them() {
    let t = Tracker::new(MemoryStore::new(), Parser::generic())
        .with_guard(Guard::new().with_token(SECRET))
        .unwrap();
    let max = t.parser().limits().max_input_len();
    // No token: before the bound, the guard read all of it and answered `unauthorized`.
    let padding = "a=1&".repeat(max / 4 + 1);
    let target = format!("/pb?{padding}");
    let outcome = t.handle(&Request::get(&target), now());
    assert_eq!(outcome.code(), "invalid");
    assert_eq!(outcome.http_status(), 400);
    let Outcome::Invalid(err) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        err.to_string(),
        format!(
            "too long: the input (bytes) is {}, over the limit of {max}: check that the request \
             is a postback",
            target.len()
        )
    );
    let post = Request::post("/pb", padding.as_bytes());
    assert_eq!(t.handle(&post, now()).code(), "invalid");
    // At the limit the guard judges it as usual.
    let at_limit = format!("/pb?{}", "b".repeat(max - 4));
    assert_eq!(at_limit.len(), max);
    assert_eq!(
        t.handle(&Request::get(&at_limit), now()).code(),
        "unauthorized"
    );
}

// --- What one click id says about the next ---------------------------------------------------

#[test]
fn ids_in_one_millisecond_share_the_top_64_bits_plus_one_and_nothing_else() {
    let draws = AtomicU64::new(0);
    // Each draw is distinct in both halves, so a reused half would show.
    let ids = ClickIdGenerator::with_sources(
        || 1_795_500_000_123,
        move || {
            let n = u128::from(draws.fetch_add(1, Ordering::Relaxed));
            (n + 0x5a5a) << 64 | (n * 0x9e37_79b9 + 7)
        },
    );
    let (a, b, c) = (ids.generate(), ids.generate(), ids.generate());
    let high = |id: ClickId| (id.as_u128() >> 64) as u64;
    let low = |id: ClickId| id.as_u128() as u64;
    assert_eq!(a.timestamp_ms(), 1_795_500_000_123);
    // First id of the millisecond: its 16-bit sequence is 16 random bits (draw 0's bits 64..80).
    assert_eq!(high(a) & 0xffff, 0x5a5a);
    // Later ids: sequence + 1 (predictable), low 64 bits fresh from each draw.
    assert_eq!(high(b), high(a) + 1);
    assert_eq!(high(c), high(a) + 2);
    assert_eq!(
        [low(a), low(b), low(c)],
        [7, 0x9e37_79b9 + 7, 2 * 0x9e37_79b9 + 7]
    );
}

// --- Shard layout is per store, not a function of the ids ------------------------------------

#[test]
fn which_ids_share_a_shard_differs_between_stores() {
    let at = now();
    let ms = u64::try_from(at.unix_timestamp()).unwrap() * 1000;
    let a = Click::from_id(ClickId::from_parts(ms, 1));
    let b = Click::from_id(ClickId::from_parts(ms, 2));
    // Two shards holding one click each: the second insert fails exactly when both ids land in
    // one shard. With a per-store seed that is a coin flip per store; unseeded it never varies.
    let mut shared = 0;
    let stores = 64;
    for _ in 0..stores {
        let store = MemoryStore::with_config(MemoryConfig::new().with_shards(2).with_capacity(2));
        assert_eq!(
            store.insert(a.clone()).unwrap(),
            postback::store::Inserted::New
        );
        match store.insert(b.clone()) {
            Ok(_) => {}
            Err(MemoryStoreError::Full { capacity, .. }) => {
                assert_eq!(capacity, 2);
                shared += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    // All 64 the same has probability 2^-63 with a seed.
    assert!(0 < shared && shared < stores, "{shared} of {stores}");
}

// --- One click cannot grow without bound ------------------------------------------------------

#[test]
fn a_flood_of_transaction_ids_on_one_click_is_refused_past_the_bound() {
    let t = Tracker::new(MemoryStore::new(), Parser::generic()).with_log_capacity(0);
    let id = click_aged(&t, time::Duration::HOUR);
    let limit = MemoryStore::MAX_CONVERSIONS_PER_CLICK;
    for n in 0..limit {
        let target = format!("/pb?click_id={id}&status=approved&txid=t{n}");
        assert_eq!(t.handle(&Request::get(&target), now()), Outcome::Recorded);
    }
    let target = format!("/pb?click_id={id}&status=approved&txid=one-more");
    let outcome = t.handle(&Request::get(&target), now());
    let Outcome::StoreError(failure) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(outcome.http_status(), 503);
    assert_eq!(
        failure.message(),
        format!(
            "click `{id}` already has {limit} conversions, the most a memory store \
             keeps per click: the new one is refused"
        )
    );
    // The store's own error is the failure's source, for a caller that wants the detail.
    let source = std::error::Error::source(failure)
        .and_then(|err| err.downcast_ref::<postback::MemoryStoreError>());
    assert!(
        matches!(source, Some(postback::MemoryStoreError::TooManyConversions { limit: l, .. }) if *l == limit),
        "{source:?}"
    );
    assert_eq!(t.store().conversions(&id).unwrap().len(), limit);
    // Existing conversions still move: the bound refuses growth, not updates.
    let target = format!("/pb?click_id={id}&status=rejected&txid=t7");
    assert_eq!(t.handle(&Request::get(&target), now()).code(), "updated");
}

#[test]
fn endless_payout_changes_are_refused_past_the_history_bound() {
    let t = Tracker::new(MemoryStore::new(), Parser::generic()).with_log_capacity(0);
    let id = click_aged(&t, time::Duration::HOUR);
    let limit = MemoryStore::MAX_HISTORY_PER_CONVERSION;
    // A replayed pair of pending postbacks with different payouts flips the payout each time.
    let fire = |n: usize| {
        let payout = if n.is_multiple_of(2) { "1.00" } else { "2.00" };
        let target = format!("/pb?click_id={id}&status=pending&payout={payout}");
        t.handle(&Request::get(&target), now())
    };
    assert_eq!(fire(0), Outcome::Recorded);
    for n in 1..limit {
        assert_eq!(fire(n).code(), "updated", "change {n}");
    }
    let outcome = fire(limit);
    let Outcome::StoreError(failure) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        failure.message(),
        format!(
            "a conversion of click `{id}` already changed {limit} times, the most a memory store \
             keeps: the change is refused"
        )
    );
    let conversions = t.store().conversions(&id).unwrap();
    assert_eq!(conversions[0].history.len(), limit);
}

// --- Signatures ----------------------------------------------------------------------------

#[cfg(feature = "signature")]
#[test]
fn signed_pairs_cannot_be_moved_out_of_the_body_the_parser_reads() {
    use postback::guard::Signature;

    let key = "0123456789abcdef0123456789abcdef";
    let t = Tracker::new(MemoryStore::new(), Parser::builtin("keitaro").unwrap())
        .with_guard(Guard::new().with_signature(Signature::new(key)))
        .unwrap();
    let id = click_aged(&t, time::Duration::HOUR);
    let ts = now().unix_timestamp();
    // The network signed a lead (pending); Keitaro's profile reads a postback without a
    // status as a sale.
    let signed = format!("subid={id}&status=lead&ts={ts}");
    let sig = Signature::new(key).sign(&signed);
    // Captured and re-sent with the status moved into the query: still the same signed pairs,
    // but the body alone would say "a sale".
    let target = format!("/pb?status=lead&ts={ts}&sig={sig}");
    let body = format!("subid={id}");
    let outcome = t.handle(&Request::post(&target, body.as_bytes()), now());
    let Outcome::Unauthorized(err) = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(err.code(), "split_params");
    assert_eq!(outcome.http_status(), 401);
    assert_eq!(
        err.to_string(),
        "signed postback has parameters in both the query and the form body: send them all in \
         the body (only `sig` and the timestamp may be in the query)"
    );
    assert!(t.store().conversions(&id).unwrap().is_empty());
    // The honest forms pass: everything in the body (signature in the query or the body)…
    let target = format!("/pb?sig={sig}");
    let body = format!("subid={id}&status=lead&ts={ts}");
    let outcome = t.handle(&Request::post(&target, body.as_bytes()), now());
    assert_eq!(outcome, Outcome::Recorded);
    // …or everything in the query.
    let target = format!("/pb?{signed}&sig={sig}");
    assert_eq!(t.handle(&Request::get(&target), now()), Outcome::Duplicate);
}

#[cfg(feature = "signature")]
#[test]
fn an_empty_signature_key_verifies_nothing() {
    use postback::guard::Signature;

    let empty = Signature::new("");
    assert_eq!(empty.sign("a=1&ts=0"), "");
    // HMAC pads keys with zeros, so the key of one zero byte signs as the empty key would.
    let forged = Signature::new([0u8]).sign("a=1&ts=0");
    let guard = Guard::new().with_signature(empty);
    let target = format!("/pb?a=1&ts=0&sig={forged}");
    let err = guard
        .check(&Request::get(&target), OffsetDateTime::UNIX_EPOCH)
        .unwrap_err();
    assert_eq!(err.code(), "bad_signature");
}

#[test]
fn redaction_hides_every_token_place_at_once() {
    let profile = Profile::new("mine", "clickid")
        .with_token_param("key")
        .with_token_param("auth");
    // The guard reads `auth` (the profile's alias); a `key` sent too is still a secret.
    let guard = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::param("auth"))
        .with_profile(&profile);
    assert_eq!(
        guard.redact("/pb?key=first&clickid=c1&auth=second&keys=not-a-token"),
        "/pb?key=***&clickid=c1&auth=***&keys=not-a-token"
    );
    assert_eq!(
        &*guard.redact_body(b"auth=a&key=b&x=1"),
        b"auth=***&key=***&x=1"
    );
    // A path-segment guard still hides the profile's parameters.
    let path = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::PathSegment(0))
        .with_profile(&profile);
    assert_eq!(
        path.redact("https://t.example/s3cret/pb?clickid=c1&key=k"),
        "https://t.example/***/pb?clickid=c1&key=***"
    );
    // Nothing to hide: the target comes back borrowed, unchanged.
    let plain = Guard::new().with_profile(&Profile::new("plain", "clickid"));
    assert!(matches!(
        plain.redact("/pb?clickid=c1&token=x"),
        std::borrow::Cow::Borrowed("/pb?clickid=c1&token=x")
    ));
}

// --- One query reader: a parameter the signature does not cover is never read -----------------

/// The reproducers of the signature bypass: a signed query `Q` (no txid) for click `A`,
/// captured and re-sent behind a prefix that ends in `?`. The prefix is part of one bare query
/// for the guard as for the parser, so the signature no longer holds.
#[cfg(feature = "signature")]
#[test]
fn a_prefix_before_the_question_mark_of_a_bare_target_is_signed_or_refused() {
    use postback::guard::Signature;

    let key = "0123456789abcdef0123456789abcdef";
    let t = Tracker::new(MemoryStore::new(), Parser::builtin("keitaro").unwrap())
        .with_guard(Guard::new().with_signature(Signature::new(key)))
        .unwrap();
    let a = click_aged(&t, time::Duration::HOUR);
    let b = ClickId::from_parts(1_795_400_000_000, 7).to_string();
    assert_eq!(
        t.record_click(Click::from_id(b.parse().unwrap())).unwrap(),
        postback::store::Inserted::New
    );
    let ts = now().unix_timestamp();
    let signed = format!("subid={a}&status=sale&payout=5&ts={ts}");
    let q = format!("{signed}&sig={}", Signature::new(key).sign(&signed));
    for forged in [
        format!("subid={a}&tid=FORGED1&?{q}"),
        format!("subid={a}&tid=FORGED2&?{q}"),
        format!("subid={a}&?status=lead&{q}"),
        format!("subid={b}&?{q}"),
        format!("tid=X&?{q}"),
    ] {
        let outcome = t.handle(&Request::get(&forged), now());
        let Outcome::Unauthorized(err) = &outcome else {
            panic!("{forged}: {outcome:?}");
        };
        assert_eq!(err.code(), "bad_signature", "{forged}");
    }
    assert!(t.store().conversions(&a).unwrap().is_empty());
    assert!(t.store().conversions(&b).unwrap().is_empty());
    // The honest postback, as a bare query or a target, is still counted once.
    assert_eq!(t.handle(&Request::get(&q), now()), Outcome::Recorded);
    let target = format!("/pb?{q}");
    assert_eq!(t.handle(&Request::get(&target), now()), Outcome::Duplicate);
    // Nothing of the forgeries reached the log in clear: the signature is no secret, but the
    // log shows what the tracker read.
    assert_eq!(t.store().conversions(&a).unwrap().len(), 1);
}

#[cfg(feature = "signature")]
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Whatever a forger puts around a captured signed query (before it with or without a
    /// path, a second `?`, `#`, `;`, `%26`, encoded or cased names, duplicates, params in a
    /// form body), a request the guard lets through parses to exactly what was signed.
    #[test]
    fn what_the_guard_lets_through_parses_to_what_was_signed(
        prefix in "(subid=B&|tid=F[0-9]&|status=lead&|%73ubid=B&|SUBID=B&|subid=B;|subid=B%26|payout=9&|&|)*",
        separator in proptest::sample::select(vec!["", "?", "&?", "?&", "/pb?", "pb?", "https://t.example/pb?", "#", "/pb#", ";", "%3F"]),
        suffix in proptest::sample::select(vec!["", "#subid=B", "&subid=B", "&tid=F", "#", "&&", "&%73ubid=B"]),
        body in proptest::sample::select(vec![None, Some(""), Some("subid=B"), Some("tid=F")]),
    ) {
        use postback::guard::Signature;

        let key = "0123456789abcdef0123456789abcdef";
        let guard = Guard::new().with_signature(Signature::new(key));
        let parser = Parser::builtin("keitaro").unwrap();
        let ts = now().unix_timestamp();
        let signed = format!("subid=A&status=lead&payout=5&ts={ts}");
        let q = format!("{signed}&sig={}", Signature::new(key).sign(&signed));
        let target = format!("{prefix}{separator}{q}{suffix}");
        let request = match body {
            None => Request::get(&target),
            Some(body) => Request::post(&target, body.as_bytes()),
        };
        if guard.check(&request, now()).is_ok() {
            let read = match request.body() {
                Some(body) if !body.is_empty() => parser.parse_form(body),
                _ => parser.parse(&target),
            };
            let honest = parser.parse(&signed).unwrap();
            let read = read.map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{target}: {e}")))?;
            proptest::prop_assert_eq!(
                (read.click_id(), read.status(), read.payout(), read.txid()),
                (honest.click_id(), honest.status(), honest.payout(), honest.txid()),
                "{}", target
            );
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The parser reads exactly the query [`Request::query`] says a target has, which is what
    /// the guard reads: the same pairs, whatever the target's shape.
    #[test]
    fn the_parser_reads_the_query_the_request_and_guard_read(
        path in proptest::sample::select(vec!["", "?", "/pb?", "pb?", "https://t.example/pb?", "https://t.example?", "/pb#", "a=1?", "/p;x=1?"]),
        query in "((click_id|status|payout|txid|token|Token|%74oken|x)(=[a-zA-Z0-9%?;#&.+]{0,6})?&?){0,6}",
    ) {
        let target = format!("{path}{query}");
        let request = Request::get(&target);
        let parser = Parser::generic();
        let from_target = parser.parse(&target);
        let from_query = parser.parse_form(request.query().unwrap_or("").as_bytes());
        match (&from_target, &from_query) {
            (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b, "{}", target),
            (Err(a), Err(b)) => proptest::prop_assert_eq!((a.code(), a.param()), (b.code(), b.param()), "{}", target),
            _ => proptest::prop_assert!(false, "{target}: {from_target:?} vs {from_query:?}"),
        }
        // A token guard accepts a request only when the parser read that token too.
        let guard = Guard::new().with_token(SECRET).with_profile(Parser::generic().profile());
        let with_token = format!("{target}&token={SECRET}");
        let request = Request::get(&with_token);
        if guard.check(&request, now()).is_ok()
            && let Ok(pb) = parser.parse(&with_token)
        {
            proptest::prop_assert_eq!(pb.token(), Some(SECRET), "{}", with_token);
        }
    }
}
