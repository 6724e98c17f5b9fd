use std::time::Duration;

use postback::store::{
    Change, ClickError, ConversionData, ConversionKey, Inserted, MAX_CLICK_ID_LEN, Standing,
    Version,
};
use postback::{
    Click, ClickId, ClickStore, ConversionState, MemoryConfig, MemoryStore, MemoryStoreError,
};
use time::OffsetDateTime;

fn at(unix_secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_secs).unwrap()
}

#[cfg(feature = "testing")]
#[test]
fn memory_store_passes_the_conformance_suite() {
    postback::testing::check_store(MemoryStore::new);
    postback::testing::check_store(|| MemoryStore::with_config(MemoryConfig::new().with_shards(1)));
}

#[test]
fn store_is_object_safe_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MemoryStore>();
    let store: Box<dyn ClickStore<Error = MemoryStoreError>> = Box::new(MemoryStore::new());
    let id = ClickId::generate();
    assert_eq!(store.insert(Click::from_id(id)).unwrap(), Inserted::New);
    let shared = std::sync::Arc::new(MemoryStore::new());
    assert_eq!(shared.insert(Click::from_id(id)).unwrap(), Inserted::New);
}

#[test]
fn generated_ids_match_in_either_case_other_ids_exactly() {
    let store = MemoryStore::new();
    let id = ClickId::generate();
    assert_eq!(store.insert(Click::from_id(id)).unwrap(), Inserted::New);
    let upper = id.to_string().to_ascii_uppercase();
    assert!(
        store
            .load(&upper, &ConversionKey::DEFAULT)
            .unwrap()
            .is_some()
    );
    assert_eq!(store.click(&upper).unwrap().unwrap().id(), id.to_string());

    assert_eq!(
        store
            .insert(Click::new("Keitaro-1dad2cg1br22spja1", at(0)).unwrap())
            .unwrap(),
        Inserted::New
    );
    assert!(
        store
            .load("Keitaro-1dad2cg1br22spja1", &ConversionKey::DEFAULT)
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .load("keitaro-1dad2cg1br22spja1", &ConversionKey::DEFAULT)
            .unwrap()
            .is_none()
    );
}

#[test]
fn full_store_refuses_rather_than_forgets() {
    let store = MemoryStore::with_config(
        MemoryConfig::new()
            .with_shards(1)
            .with_capacity(3)
            .with_retention(Duration::from_secs(3600)),
    );
    for n in 0..3 {
        assert_eq!(
            store
                .insert(Click::new(&format!("c{n}"), at(1_000 + n)).unwrap())
                .unwrap(),
            Inserted::New
        );
    }
    let err = store
        .insert(Click::new("c3", at(1_010)).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, MemoryStoreError::Full { capacity: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "click store is full (3 clicks): raise its capacity or shorten its retention"
    );
    assert!(
        store.load("c0", &ConversionKey::DEFAULT).unwrap().is_some(),
        "old click kept"
    );
    // Once the oldest clicks are past retention, a full shard makes room from them.
    assert_eq!(
        store
            .insert(Click::new("c4", at(1_000 + 3_601)).unwrap())
            .unwrap(),
        Inserted::New
    );
    assert!(store.load("c0", &ConversionKey::DEFAULT).unwrap().is_none());
    assert_eq!(store.len(), 3);
}

#[test]
fn purge_drops_only_expired_clicks() {
    let store =
        MemoryStore::with_config(MemoryConfig::new().with_retention(Duration::from_secs(60)));
    assert_eq!(
        store.insert(Click::new("old", at(0)).unwrap()).unwrap(),
        Inserted::New
    );
    assert_eq!(
        store.insert(Click::new("new", at(100)).unwrap()).unwrap(),
        Inserted::New
    );
    assert_eq!(store.purge_expired(at(120)), 1);
    assert!(store.click("old").unwrap().is_none());
    assert!(store.click("new").unwrap().is_some());
    assert_eq!(store.purge_expired(at(120)), 0);
}

#[test]
fn click_bounds_are_typed_errors() {
    let cases: &[(&str, &str)] = &[
        ("", "click id is empty"),
        ("a\nb", "click id has a control character at byte 1"),
        ("a\0", "click id has a control character at byte 1"),
    ];
    for (id, message) in cases {
        assert_eq!(
            Click::new(id, at(0)).unwrap_err().to_string(),
            *message,
            "{id:?}"
        );
    }
    let long = "x".repeat(MAX_CLICK_ID_LEN + 1);
    assert_eq!(
        Click::new(&long, at(0)).unwrap_err().to_string(),
        "click id is 129 bytes long; the limit is 128"
    );
    assert!(Click::new(&long[1..], at(0)).is_ok());
    let err = Click::new("a", at(0))
        .unwrap()
        .with_campaign(&"c".repeat(256))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "click campaign is 256 bytes long; the limit is 255"
    );
    let mut click = Click::new("a", at(0)).unwrap();
    for n in 0..16 {
        click = click.with_sub(&format!("sub{n}"), "v").unwrap();
    }
    assert_eq!(
        click
            .clone()
            .with_sub("sub3", "replaced")
            .unwrap()
            .sub("sub3"),
        Some("replaced")
    );
    assert!(matches!(
        click.with_sub("sub16", "v"),
        Err(ClickError::TooManySubs)
    ));
}

#[test]
fn commit_on_a_record_that_exists_is_a_conflict() {
    let store = MemoryStore::new();
    assert_eq!(
        store.insert(Click::new("x", at(0)).unwrap()).unwrap(),
        Inserted::New
    );
    let data = ConversionData {
        standing: Standing {
            state: ConversionState::Approved,
            payout: None,
            currency: None,
        },
        status: None,
        at: at(10),
        signed_at: None,
    };
    let record = Change::Record {
        key: ConversionKey::DEFAULT,
        data,
    };
    let v = store
        .load("x", &ConversionKey::DEFAULT)
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(
        store.commit("x", v, &record).unwrap(),
        postback::store::Commit::Applied
    );
    let v2 = store
        .load("x", &ConversionKey::DEFAULT)
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(v2, v.next());
    // A buggy caller that records the same key again with a fresh version writes nothing.
    assert_eq!(
        store.commit("x", v2, &record).unwrap(),
        postback::store::Commit::Conflict
    );
    // An update whose `from` is not the stored state writes nothing either.
    let update = Change::Update {
        key: ConversionKey::DEFAULT,
        from: ConversionState::Pending,
        data,
    };
    assert_eq!(
        store.commit("x", v2, &update).unwrap(),
        postback::store::Commit::Conflict
    );
    assert_eq!(store.conversions("x").unwrap().len(), 1);
    assert_eq!(Version::new(7).get(), 7);
}

/// Thousands of generated ids (so every shard's tables grow several times), half of them with
/// a conversion; a purge of the older half takes their conversions with them: a click stored
/// again under a purged id starts with none, so its conversion is counted, not called a
/// duplicate of one the store forgot.
#[test]
fn many_generated_ids_keep_their_conversions_through_growth_and_purges() {
    let store =
        MemoryStore::with_config(MemoryConfig::new().with_retention(Duration::from_secs(60)));
    let ids: Vec<(ClickId, OffsetDateTime)> = (0..4000u64)
        .map(|n| {
            let clicked = at(if n % 2 == 0 { 0 } else { 100 });
            let ms = u64::try_from(clicked.unix_timestamp()).unwrap() * 1000;
            (
                ClickId::from_parts(ms, u128::from(n) * 0x9e37_79b9_7f4a_7c15),
                clicked,
            )
        })
        .collect();
    let record = |clicked: OffsetDateTime| Change::Record {
        key: ConversionKey::Transaction("tx-1".into()),
        data: ConversionData {
            standing: Standing {
                state: ConversionState::Approved,
                payout: None,
                currency: None,
            },
            status: None,
            at: clicked,
            signed_at: None,
        },
    };
    let key = ConversionKey::Transaction("tx-1".into());
    for (n, (id, clicked)) in ids.iter().enumerate() {
        assert_eq!(store.insert(Click::from_id(*id)).unwrap(), Inserted::New);
        if n % 4 < 2 {
            let text = id.to_string();
            let v = store.load(&text, &key).unwrap().unwrap().version;
            let applied = store.commit(&text, v, &record(*clicked)).unwrap();
            assert_eq!(applied, postback::store::Commit::Applied);
        }
    }
    let converted = |n: usize, id: &ClickId| {
        store
            .load(&id.to_string(), &key)
            .unwrap()
            .map(|loaded| loaded.conversion.is_some())
            .ok_or(n)
    };
    for (n, (id, _)) in ids.iter().enumerate() {
        assert_eq!(converted(n, id), Ok(n % 4 < 2), "click {n}");
    }
    assert_eq!(store.purge_expired(at(120)), 2000);
    for (n, (id, _)) in ids.iter().enumerate() {
        if n % 2 == 0 {
            assert_eq!(converted(n, id), Err(n), "click {n} was purged");
            assert_eq!(store.insert(Click::from_id(*id)).unwrap(), Inserted::New);
            assert_eq!(converted(n, id), Ok(false), "click {n} is new again");
            assert!(store.conversions(&id.to_string()).unwrap().is_empty());
        } else {
            assert_eq!(converted(n, id), Ok(n % 4 < 2), "click {n} was kept");
        }
    }
    assert_eq!(store.len(), 4000);
}

/// Keys of every kind come back exactly from `conversions`: short and long transaction ids
/// (the store keeps up to 22 bytes inline and boxes longer ones), events, the default, and
/// text that is not ASCII.
#[test]
fn conversion_keys_round_trip_whatever_their_length() {
    let store = MemoryStore::new();
    let id = ClickId::from_parts(1_732_435_200_000, 7);
    let text = id.to_string();
    assert_eq!(store.insert(Click::from_id(id)).unwrap(), Inserted::New);
    let keys = [
        ConversionKey::Transaction("TX-1".into()),
        ConversionKey::Transaction("exactly-22-bytes-long!".into()),
        ConversionKey::Transaction("a-transaction-id-of-forty-bytes-or-so-ok".into()),
        ConversionKey::Event("café-ü".into()),
        ConversionKey::Event("ünïcödé-event-name-longer-than-22".into()),
        ConversionKey::DEFAULT,
    ];
    for (n, key) in keys.iter().enumerate() {
        let v = store.load(&text, key).unwrap().unwrap().version;
        let change = Change::Record {
            key: key.clone(),
            data: ConversionData {
                standing: Standing {
                    state: ConversionState::Pending,
                    payout: None,
                    currency: None,
                },
                status: Some("new"),
                at: at(i64::try_from(n).unwrap()),
                signed_at: None,
            },
        };
        assert_eq!(
            store.commit(&text, v, &change).unwrap(),
            postback::store::Commit::Applied
        );
    }
    let stored: Vec<ConversionKey<'static>> = store
        .conversions(&text)
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(stored, keys);
    for key in &keys {
        let loaded = store.load(&text, key).unwrap().unwrap();
        assert_eq!(
            loaded.conversion.map(|c| c.state),
            Some(ConversionState::Pending),
            "{key}"
        );
    }
    // A key that differs only in kind or length is another conversion.
    for other in [
        ConversionKey::Event("TX-1".into()),
        ConversionKey::Transaction("TX-".into()),
        ConversionKey::Transaction("a-transaction-id-of-forty-bytes-or-so-ok!".into()),
    ] {
        assert!(
            store
                .load(&text, &other)
                .unwrap()
                .unwrap()
                .conversion
                .is_none(),
            "{other}"
        );
    }
}
