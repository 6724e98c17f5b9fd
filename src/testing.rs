//! A conformance suite for [`ClickStore`] implementations (feature `testing`).
//!
//! Run it from a test of your own store; it panics with a message naming the broken rule:
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use postback::MemoryStore;
//!
//! postback::testing::check_store(MemoryStore::new);
//! # }
//! ```
//!
//! `make` must return an empty store each time it is called (or one whose other contents do
//! not use the ids below, which carry a random suffix so that a shared database works too).

use std::sync::Barrier;

use time::OffsetDateTime;

use crate::click_id::ClickId;
use crate::money::{Amount, Currency};
use crate::status::ConversionState;
use crate::store::{
    Change, Click, ClickStore, Commit, ConversionData, ConversionKey, Inserted, Standing,
    StoredClick,
};

/// Runs every check against stores made by `make`. Panics on the first broken rule.
///
/// # Panics
///
/// When the store breaks the [`ClickStore`] contract, or returns an error.
pub fn check_store<S: ClickStore>(make: impl Fn() -> S) {
    unknown_ids_are_absent(&make());
    insert_then_read_back(&make());
    commit_is_compare_and_set(&make());
    updates_keep_history(&make());
    signed_timestamp_commits_with_its_change(&make());
    keys_are_independent(&make());
    racing_commits_apply_once(&make());
    concurrent_new_conversions_are_all_kept(&make());
    prefetch_changes_nothing(&make());
}

/// A click id no other run uses, so checks can share a database.
fn fresh_text_id(tag: &str) -> String {
    format!("conformance-{tag}-{}", ClickId::generate())
}

/// A click time with whole milliseconds, which every backend can store exactly.
fn click_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_732_435_200_123 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn data(state: ConversionState, payout: &str) -> ConversionData<'static> {
    ConversionData {
        standing: Standing {
            state,
            payout: Some(payout.parse::<Amount>().expect("test amount parses")),
            currency: Some("USD".parse::<Currency>().expect("test currency parses")),
        },
        status: Some(state.as_str()),
        at: click_time() + time::Duration::hours(1),
        signed_at: None,
    }
}

fn signed(state: ConversionState, payout: &str, signed_at: i64) -> ConversionData<'static> {
    ConversionData {
        signed_at: Some(signed_at),
        ..data(state, payout)
    }
}

#[track_caller]
fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("store returned an error: {err}"),
    }
}

#[track_caller]
fn insert_new<S: ClickStore>(store: &S, id: &str) {
    let click = ok(Click::new(id, click_time()));
    assert_eq!(
        ok(store.insert(click)),
        Inserted::New,
        "{id} is a new click"
    );
}

#[track_caller]
fn load<S: ClickStore>(store: &S, id: &str, key: &ConversionKey<'_>) -> StoredClick {
    ok(store.load(id, key)).unwrap_or_else(|| panic!("click {id} should be stored"))
}

fn unknown_ids_are_absent<S: ClickStore>(store: &S) {
    let id = fresh_text_id("unknown");
    assert!(
        ok(store.load(&id, &ConversionKey::DEFAULT)).is_none(),
        "load of an unknown id must be Ok(None)"
    );
    assert!(ok(store.click(&id)).is_none(), "click() of an unknown id");
    assert!(
        ok(store.conversions(&id)).is_empty(),
        "conversions() of an unknown id"
    );
    let change = Change::Record {
        key: ConversionKey::DEFAULT,
        data: data(ConversionState::Approved, "1"),
    };
    assert_eq!(
        ok(store.commit(&id, crate::store::Version::default(), &change)),
        Commit::Conflict,
        "commit on an unknown click must be a conflict"
    );
}

/// `prefetch` is a hint: for any id, stored or not, valid or not, what every other method
/// sees afterwards is what it saw before.
fn prefetch_changes_nothing<S: ClickStore>(store: &S) {
    let text = fresh_text_id("prefetch");
    let generated = ClickId::generate().to_string();
    let unknown = ClickId::generate().to_string();
    insert_new(store, &text);
    insert_new(store, &generated);
    let key = ConversionKey::for_postback(Some("tx-1"), None);
    let record = Change::Record {
        key: key.clone(),
        data: data(ConversionState::Approved, "3.10"),
    };
    let version = load(store, &generated, &key).version;
    assert_eq!(
        ok(store.commit(&generated, version, &record)),
        Commit::Applied
    );
    let seen = |id: &str| {
        (
            ok(store.load(id, &key)),
            ok(store.click(id)),
            ok(store.conversions(id)),
        )
    };
    let ids = [
        text.as_str(),
        generated.as_str(),
        unknown.as_str(),
        "",
        "not a click id",
        &"x".repeat(10_000),
    ];
    let before: Vec<_> = ids.iter().map(|id| seen(id)).collect();
    for id in ids {
        store.prefetch(id);
        store.prefetch(&id.to_ascii_uppercase());
    }
    let after: Vec<_> = ids.iter().map(|id| seen(id)).collect();
    assert_eq!(
        after, before,
        "prefetch must change nothing a load, click() or conversions() sees"
    );
}

fn insert_then_read_back<S: ClickStore>(store: &S) {
    let id = fresh_text_id("insert");
    let click = ok(Click::new(&id, click_time())
        .and_then(|c| c.with_campaign("camp-1"))
        .and_then(|c| c.with_source("facebook"))
        .and_then(|c| c.with_offer("offer-9"))
        .and_then(|c| c.with_sub("sub1", "adset 7"))
        .and_then(|c| c.with_sub("sub2", "ünïcode")));
    assert_eq!(ok(store.insert(click.clone())), Inserted::New);
    let other = ok(Click::new(&id, click_time() + time::Duration::DAY));
    assert_eq!(
        ok(store.insert(other)),
        Inserted::AlreadyExists,
        "a second insert of the same id must not replace the first"
    );
    assert_eq!(
        ok(store.click(&id)),
        Some(click),
        "click() gives back what was stored"
    );
    let loaded = load(store, &id, &ConversionKey::DEFAULT);
    assert_eq!(
        loaded.clicked_at,
        click_time(),
        "load() keeps the click time"
    );
    assert!(loaded.conversion.is_none(), "a new click has no conversion");

    let generated = ClickId::generate();
    assert_eq!(ok(store.insert(Click::from_id(generated))), Inserted::New);
    assert!(
        ok(store.load(&generated.to_string(), &ConversionKey::DEFAULT)).is_some(),
        "a generated id is found by its text form"
    );
}

fn commit_is_compare_and_set<S: ClickStore>(store: &S) {
    let id = fresh_text_id("cas");
    insert_new(store, &id);
    let key = ConversionKey::for_postback(Some("tx-1"), None);
    let before = load(store, &id, &key);
    let record = Change::Record {
        key: key.clone(),
        data: data(ConversionState::Pending, "12.50"),
    };
    assert_eq!(
        ok(store.commit(&id, before.version, &record)),
        Commit::Applied
    );
    let after = load(store, &id, &key);
    assert_ne!(
        after.version, before.version,
        "a commit must change the version"
    );
    let standing = after.conversion.expect("the recorded conversion is loaded");
    assert_eq!(standing.state, ConversionState::Pending);
    assert_eq!(standing.payout, Some("12.5".parse().expect("amount")));

    let stale = Change::Update {
        key: key.clone(),
        from: ConversionState::Pending,
        data: data(ConversionState::Approved, "12.50"),
    };
    assert_eq!(
        ok(store.commit(&id, before.version, &stale)),
        Commit::Conflict,
        "a commit with a stale version must be refused"
    );
    assert_eq!(
        load(store, &id, &key).conversion.map(|c| c.state),
        Some(ConversionState::Pending),
        "a refused commit must write nothing"
    );
    assert_eq!(ok(store.conversions(&id)).len(), 1);
}

fn updates_keep_history<S: ClickStore>(store: &S) {
    let id = fresh_text_id("history");
    insert_new(store, &id);
    let key = ConversionKey::DEFAULT;
    let v0 = load(store, &id, &key).version;
    let record = Change::Record {
        key: key.clone(),
        data: data(ConversionState::Pending, "10"),
    };
    assert_eq!(ok(store.commit(&id, v0, &record)), Commit::Applied);
    let v1 = load(store, &id, &key).version;
    let update = Change::Update {
        key: key.clone(),
        from: ConversionState::Pending,
        data: data(ConversionState::Approved, "12.00"),
    };
    assert_eq!(ok(store.commit(&id, v1, &update)), Commit::Applied);
    let conversions = ok(store.conversions(&id));
    assert_eq!(conversions.len(), 1, "an update must not add a conversion");
    let conversion = &conversions[0];
    assert_eq!(conversion.key, ConversionKey::DEFAULT);
    assert_eq!(conversion.standing.state, ConversionState::Approved);
    assert_eq!(
        conversion.standing.payout,
        Some("12".parse().expect("amount"))
    );
    let states: Vec<_> = conversion
        .history
        .iter()
        .map(|h| h.standing.state)
        .collect();
    assert_eq!(
        states,
        [ConversionState::Pending, ConversionState::Approved],
        "history keeps every accepted postback, oldest first"
    );
    assert_eq!(conversion.history[0].status.as_deref(), Some("pending"));
}

/// The newest signed timestamp is part of the conversion: `load` and `conversions()` give back
/// what the last applied commit stored, a refused commit stores none of it, and each
/// conversion of a click has its own.
fn signed_timestamp_commits_with_its_change<S: ClickStore>(store: &S) {
    let id = fresh_text_id("signed");
    insert_new(store, &id);
    let key = ConversionKey::DEFAULT;
    let v0 = load(store, &id, &key).version;
    let record = Change::Record {
        key: key.clone(),
        data: signed(ConversionState::Pending, "10", 1_732_435_200),
    };
    assert_eq!(ok(store.commit(&id, v0, &record)), Commit::Applied);
    let loaded = load(store, &id, &key);
    assert_eq!(
        loaded.signed_at,
        Some(1_732_435_200),
        "load() gives back the signed timestamp a record stored"
    );

    // A commit on a stale version writes neither the state nor the timestamp.
    let stale = Change::Update {
        key: key.clone(),
        from: ConversionState::Pending,
        data: signed(ConversionState::Approved, "12", 1_732_435_260),
    };
    assert_eq!(
        ok(store.commit(&id, v0, &stale)),
        Commit::Conflict,
        "a commit with a stale version must be refused"
    );
    let after_conflict = load(store, &id, &key);
    assert_eq!(
        (
            after_conflict.conversion.map(|c| c.state),
            after_conflict.signed_at
        ),
        (Some(ConversionState::Pending), Some(1_732_435_200)),
        "a refused commit must not store its signed timestamp"
    );

    // An applied one writes both, seen together by the next load.
    assert_eq!(
        ok(store.commit(&id, loaded.version, &stale)),
        Commit::Applied
    );
    let updated = load(store, &id, &key);
    assert_eq!(
        (updated.conversion.map(|c| c.state), updated.signed_at),
        (Some(ConversionState::Approved), Some(1_732_435_260)),
        "an applied commit stores its state and signed timestamp together"
    );

    // The timestamp the change carries is stored as it is, `None` included: the tracker
    // decides which is newest, the store only keeps it.
    let unsigned = Change::Update {
        key: key.clone(),
        from: ConversionState::Approved,
        data: data(ConversionState::Rejected, "12"),
    };
    assert_eq!(
        ok(store.commit(&id, updated.version, &unsigned)),
        Commit::Applied
    );
    assert_eq!(
        load(store, &id, &key).signed_at,
        None,
        "a commit without a signed timestamp stores none"
    );

    // Each conversion has its own; the most negative value a guard reads (18 digits) survives.
    let other = ConversionKey::for_postback(Some("tx-signed"), None);
    let loaded = load(store, &id, &other);
    assert_eq!(
        loaded.signed_at, None,
        "a conversion not yet recorded has no signed timestamp"
    );
    let record = Change::Record {
        key: other.clone(),
        data: signed(ConversionState::Approved, "1", -999_999_999_999_999_999),
    };
    assert_eq!(
        ok(store.commit(&id, loaded.version, &record)),
        Commit::Applied
    );
    assert_eq!(
        load(store, &id, &other).signed_at,
        Some(-999_999_999_999_999_999)
    );
    assert_eq!(
        load(store, &id, &key).signed_at,
        None,
        "one conversion's signed timestamp is not another's"
    );
    let listed: Vec<_> = ok(store.conversions(&id))
        .into_iter()
        .map(|c| (c.key, c.signed_at))
        .collect();
    assert_eq!(
        listed,
        [
            (ConversionKey::DEFAULT, None),
            (other.into_owned(), Some(-999_999_999_999_999_999)),
        ],
        "conversions() reports each conversion's signed timestamp"
    );
}

fn keys_are_independent<S: ClickStore>(store: &S) {
    let id = fresh_text_id("keys");
    insert_new(store, &id);
    let keys = [
        ConversionKey::DEFAULT,
        ConversionKey::for_postback(None, Some("deposit")),
        ConversionKey::for_postback(Some("A"), None),
        ConversionKey::for_postback(Some("a"), None),
        ConversionKey::for_postback(Some("deposit"), None),
    ];
    for key in &keys {
        let loaded = load(store, &id, key);
        assert!(
            loaded.conversion.is_none(),
            "{key} must not see another key's conversion"
        );
        let change = Change::Record {
            key: key.clone(),
            data: data(ConversionState::Approved, "1"),
        };
        assert_eq!(
            ok(store.commit(&id, loaded.version, &change)),
            Commit::Applied
        );
    }
    let stored = ok(store.conversions(&id));
    let stored_keys: Vec<_> = stored.iter().map(|c| c.key.clone()).collect();
    let expected: Vec<_> = keys
        .iter()
        .cloned()
        .map(ConversionKey::into_owned)
        .collect();
    assert_eq!(
        stored_keys, expected,
        "conversions() lists every key, in order"
    );
}

fn racing_commits_apply_once<S: ClickStore>(store: &S) {
    const THREADS: usize = 8;
    for round in 0..20 {
        let id = fresh_text_id(&format!("race{round}"));
        insert_new(store, &id);
        let barrier = Barrier::new(THREADS);
        let applied: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        let loaded = load(store, &id, &ConversionKey::DEFAULT);
                        barrier.wait();
                        let change = Change::Record {
                            key: ConversionKey::DEFAULT,
                            data: data(ConversionState::Approved, "5"),
                        };
                        usize::from(
                            ok(store.commit(&id, loaded.version, &change)) == Commit::Applied,
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        assert_eq!(
            applied, 1,
            "exactly one of racing commits on one version may apply"
        );
        assert_eq!(ok(store.conversions(&id)).len(), 1);
    }
}

fn concurrent_new_conversions_are_all_kept<S: ClickStore>(store: &S) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50;
    let id = fresh_text_id("concurrent");
    insert_new(store, &id);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let id = &id;
            s.spawn(move || {
                for n in 0..PER_THREAD {
                    let txid = format!("t{t}-n{n}");
                    let key = ConversionKey::for_postback(Some(&txid), None);
                    // The tracker's loop: load, decide, commit, retry on conflict.
                    loop {
                        let loaded = load(store, id, &key);
                        assert!(
                            loaded.conversion.is_none(),
                            "{key} recorded by someone else"
                        );
                        let change = Change::Record {
                            key: key.clone(),
                            data: data(ConversionState::Approved, "1"),
                        };
                        if ok(store.commit(id, loaded.version, &change)) == Commit::Applied {
                            break;
                        }
                    }
                }
            });
        }
    });
    assert_eq!(
        ok(store.conversions(&id)).len(),
        THREADS * PER_THREAD,
        "no commit may be lost under contention"
    );
}
