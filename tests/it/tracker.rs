//! Scenario tests from the field: what a tracker must do with each postback a network sends.

use std::net::IpAddr;
use std::time::Duration;

use postback::guard::{Cidr, TokenSource};
use postback::store::ConversionKey;
use postback::{
    Click, ClickId, ClickStore, ConversionState, Guard, MemoryStore, Outcome, Parser, Request,
    Tracker,
};
use time::OffsetDateTime;

use ConversionState::{Approved, Pending, Rejected, Reversed};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_500_000).unwrap()
}

/// A tracker on `profile` with one stored click made an hour before `now()`.
fn setup(profile: &str) -> (Tracker<MemoryStore>, String) {
    let tracker = Tracker::new(MemoryStore::new(), Parser::builtin(profile).unwrap());
    let id = ClickId::from_parts(
        u64::try_from((now() - time::Duration::HOUR).unix_timestamp()).unwrap() * 1000,
        0x1234_5678_9abc_def0_1234,
    );
    assert_eq!(
        tracker.record_click(Click::from_id(id)).unwrap(),
        postback::store::Inserted::New
    );
    (tracker, id.to_string())
}

#[track_caller]
fn fire(tracker: &Tracker<MemoryStore>, target: &str) -> Outcome {
    tracker.handle(&Request::get(target), now())
}

fn states(tracker: &Tracker<MemoryStore>, id: &str) -> Vec<ConversionState> {
    let conversions = tracker.store().conversions(id).unwrap();
    conversions.iter().map(|c| c.standing.state).collect()
}

#[test]
fn keitaro_lead_then_sale_updates_one_conversion() {
    let (t, id) = setup("keitaro");
    assert_eq!(
        fire(&t, &format!("/pb?subid={id}&status=lead&payout=0")),
        Outcome::Recorded
    );
    let outcome = fire(&t, &format!("/pb?subid={id}&status=sale&payout=25.00"));
    assert_eq!(
        outcome,
        Outcome::Updated {
            from: Pending,
            to: Approved
        }
    );
    assert_eq!(outcome.http_status(), 200);
    let conversions = t.store().conversions(&id).unwrap();
    assert_eq!(conversions.len(), 1, "one conversion, moved forward");
    assert_eq!(conversions[0].standing.payout, Some("25".parse().unwrap()));
    let history: Vec<_> = conversions[0]
        .history
        .iter()
        .map(|h| h.status.as_deref())
        .collect();
    assert_eq!(
        history,
        [Some("lead"), Some("sale")],
        "raw status words are kept"
    );
}

#[test]
fn sale_then_rejected_and_no_way_back() {
    let (t, id) = setup("generic");
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=approved")),
        Outcome::Recorded
    );
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=rejected")),
        Outcome::Updated {
            from: Approved,
            to: Rejected
        }
    );
    let late = fire(&t, &format!("/pb?click_id={id}&status=approved"));
    assert_eq!(
        late,
        Outcome::IllegalTransition {
            from: Rejected,
            to: Approved
        }
    );
    assert_eq!(late.http_status(), 422);
    assert_eq!(states(&t, &id), [Rejected]);
}

#[test]
fn retried_postback_is_a_duplicate_answered_200() {
    let (t, id) = setup("generic");
    let url = format!("/pb?click_id={id}&status=approved&payout=12.50&currency=USD");
    assert_eq!(fire(&t, &url), Outcome::Recorded);
    for _ in 0..3 {
        let outcome = fire(&t, &url);
        assert_eq!(outcome, Outcome::Duplicate);
        assert_eq!(outcome.http_status(), 200, "so the network stops retrying");
    }
    // The same amount written differently is the same amount.
    assert_eq!(
        fire(
            &t,
            &format!("/pb?click_id={id}&status=approved&payout=12.5&currency=usd")
        ),
        Outcome::Duplicate
    );
    assert_eq!(t.store().conversions(&id).unwrap()[0].history.len(), 1);
}

#[test]
fn rebill_with_a_new_transaction_id_is_a_new_conversion() {
    let (t, id) = setup("keitaro");
    assert_eq!(
        fire(&t, &format!("/pb?subid={id}&status=sale&tid=T1")),
        Outcome::Recorded
    );
    assert_eq!(
        fire(&t, &format!("/pb?subid={id}&status=rebill&tid=T2")),
        Outcome::Recorded
    );
    assert_eq!(
        fire(&t, &format!("/pb?subid={id}&status=sale&tid=T1")),
        Outcome::Duplicate
    );
    assert_eq!(states(&t, &id), [Approved, Approved]);
    let keys: Vec<_> = t
        .store()
        .conversions(&id)
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(
        keys,
        [
            ConversionKey::for_postback(Some("T1"), None).into_owned(),
            ConversionKey::for_postback(Some("T2"), None).into_owned()
        ]
    );
}

#[test]
fn late_pending_after_approved_is_illegal_and_logged() {
    let (t, id) = setup("generic");
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=approved")),
        Outcome::Recorded
    );
    let outcome = fire(&t, &format!("/pb?click_id={id}&status=pending"));
    assert_eq!(
        outcome,
        Outcome::IllegalTransition {
            from: Approved,
            to: Pending
        }
    );
    assert_eq!(outcome.code(), "illegal_transition");
    let entry = t.log().last(1).pop().unwrap();
    assert_eq!(entry.code(), "illegal_transition");
    assert!(
        entry.hint().unwrap().contains("cannot move it back"),
        "{:?}",
        entry.hint()
    );
    assert_eq!(states(&t, &id), [Approved]);
}

#[test]
fn chargeback_reverses_an_approved_conversion() {
    let (t, id) = setup("generic");
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=sale")),
        Outcome::Recorded
    );
    assert_eq!(
        fire(
            &t,
            &format!("/pb?click_id={id}&status=chargeback&payout=-10")
        ),
        Outcome::Updated {
            from: Approved,
            to: Reversed
        }
    );
}

#[test]
fn payout_change_in_the_same_state_updates_and_keeps_history() {
    let (t, id) = setup("generic");
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=pending&payout=5")),
        Outcome::Recorded
    );
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=pending&payout=7")),
        Outcome::Updated {
            from: Pending,
            to: Pending
        }
    );
    // Omitting the payout keeps the stored one: not a change.
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=pending")),
        Outcome::Duplicate
    );
    let conversion = &t.store().conversions(&id).unwrap()[0];
    assert_eq!(conversion.standing.payout, Some("7".parse().unwrap()));
    assert_eq!(conversion.history.len(), 2);
}

#[test]
fn unknown_click_is_404_stores_nothing_and_explains() {
    let (t, _) = setup("generic");
    let outcome = fire(&t, "/pb?click_id=12345&status=approved");
    assert_eq!(outcome, Outcome::ClickNotFound);
    assert_eq!(outcome.http_status(), 404);
    assert!(t.store().conversions("12345").unwrap().is_empty());
    assert!(t.store().click("12345").unwrap().is_none());
    let entry = t.log().last(1).pop().unwrap();
    assert_eq!(entry.code(), "click_not_found");
    let hint = entry.hint().unwrap();
    assert!(hint.contains("click id `12345` not found"), "{hint}");
    assert!(hint.contains("{sub2}"), "{hint}");
}

#[test]
fn expired_click_is_not_counted() {
    let (t, id) = setup("generic");
    let t = t.with_attribution_window(Duration::from_secs(30 * 60));
    // with_* keeps the store; the click made an hour ago is past a 30-minute window.
    let outcome = fire(&t, &format!("/pb?click_id={id}&status=approved"));
    assert_eq!(outcome, Outcome::Expired);
    assert_eq!(outcome.http_status(), 410);
    assert!(t.store().conversions(&id).unwrap().is_empty());
}

#[test]
fn status_change_after_the_window_is_still_applied() {
    let (t, id) = setup("generic");
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=pending")),
        Outcome::Recorded
    );
    let t = t.with_attribution_window(Duration::from_secs(60));
    assert_eq!(
        fire(&t, &format!("/pb?click_id={id}&status=approved")),
        Outcome::Updated {
            from: Pending,
            to: Approved
        }
    );
}

#[test]
fn forged_or_missing_token_is_refused_before_anything_is_read() {
    let (t, id) = setup("generic");
    let t = t
        .with_guard(
            Guard::new()
                .with_token("s3cr3t")
                .with_token_source(TokenSource::param("token")),
        )
        .unwrap();
    let forged = fire(
        &t,
        &format!("/pb?click_id={id}&status=approved&token=guess"),
    );
    assert!(matches!(forged, Outcome::Unauthorized(_)), "{forged:?}");
    assert_eq!(forged.http_status(), 401);
    let missing = fire(&t, &format!("/pb?click_id={id}&status=approved"));
    assert_eq!(missing.code(), "unauthorized");
    assert!(t.store().conversions(&id).unwrap().is_empty());
    assert_eq!(
        fire(
            &t,
            &format!("/pb?click_id={id}&status=approved&token=s3cr3t")
        ),
        Outcome::Recorded
    );
    let log = t.log().entries();
    assert!(
        log[0].hint().unwrap().contains("does not match"),
        "{:?}",
        log[0].hint()
    );
    assert!(
        !log[0].hint().unwrap().contains("s3cr3t"),
        "never echo the secret"
    );
}

#[test]
fn spoofed_forwarded_for_from_an_untrusted_peer_is_refused() {
    let (t, id) = setup("generic");
    let t = t
        .with_guard(
            Guard::new()
                .with_allowed_nets(Cidr::parse_list("203.0.113.0/24").unwrap())
                .with_trusted_proxy("10.0.0.0/8".parse().unwrap()),
        )
        .unwrap();
    let url = format!("/pb?click_id={id}&status=approved");
    let spoof = [("X-Forwarded-For", "203.0.113.9")];
    let attacker: IpAddr = "198.51.100.66".parse().unwrap();
    let req = Request::get(&url).with_peer(attacker).with_headers(&spoof);
    let outcome = t.handle(&req, now());
    assert_eq!(outcome.http_status(), 403);
    let proxy: IpAddr = "10.1.2.3".parse().unwrap();
    let req = Request::get(&url).with_peer(proxy).with_headers(&spoof);
    assert_eq!(t.handle(&req, now()), Outcome::Recorded);
}

#[test]
fn literal_macro_and_unknown_words_are_explained() {
    let (t, id) = setup("generic");
    let outcome = fire(&t, &format!("/pb?click_id={id}&status={{status}}"));
    let Outcome::Invalid(err) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(err.code(), "unexpanded_macro");
    assert_eq!(outcome.http_status(), 400);
    let unmapped = fire(&t, &format!("/pb?click_id={id}&status=weird"));
    assert_eq!(unmapped, Outcome::UnmappedStatus);
    let entry = t.log().last(1).pop().unwrap();
    assert_eq!(
        entry.postback().unwrap().status(),
        Some("weird"),
        "raw word kept"
    );
    assert!(
        entry.hint().unwrap().contains("`weird`"),
        "{:?}",
        entry.hint()
    );
    assert!(t.store().conversions(&id).unwrap().is_empty());
}

#[test]
fn form_body_is_read_when_present() {
    let (t, id) = setup("generic");
    let body = format!("click_id={id}&status=approved&payout=3");
    let outcome = t.handle(&Request::post("/pb", body.as_bytes()), now());
    assert_eq!(outcome, Outcome::Recorded);
}

#[test]
fn log_is_bounded_and_counts_what_it_evicted() {
    let (t, id) = setup("generic");
    let t = t.with_log_capacity(2);
    for n in 0..5 {
        let _ = fire(&t, &format!("/pb?click_id={id}&status=approved&payout={n}"));
    }
    let entries = t.log().entries();
    assert_eq!(entries.len(), 2);
    assert_eq!(t.log().evicted(), 3);
    assert_eq!(t.log().seen(), 5);
    assert_eq!(
        entries
            .iter()
            .map(postback::log::LogEntry::seq)
            .collect::<Vec<_>>(),
        [4, 5]
    );
}

#[cfg(feature = "serde")]
#[test]
fn log_writes_json_lines() {
    let (t, id) = setup("generic");
    let _ = fire(
        &t,
        &format!("/pb?click_id={id}&status=approved&payout=12.50&currency=usd"),
    );
    let _ = fire(&t, "/pb?click_id=nope&status=approved");
    let mut out = Vec::new();
    t.log().write_json_lines(&mut out).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["code"], "recorded");
    assert_eq!(lines[0]["payout"], "12.50");
    assert_eq!(lines[0]["currency"], "USD");
    assert_eq!(lines[0]["state"], "approved");
    assert_eq!(lines[1]["code"], "click_not_found");
    assert_eq!(lines[1]["http_status"], 404);
    assert!(lines[1]["hint"].as_str().unwrap().contains("nope"));
}

/// 8 threads fire the same 10k postbacks, each in its own order: every conversion is counted
/// exactly once, and the totals equal a sequential run.
#[test]
fn concurrent_duplicates_are_counted_once() {
    const CLICKS: usize = 500;
    const THREADS: usize = 8;
    let tracker = Tracker::new(MemoryStore::new(), Parser::generic()).with_log_capacity(0);
    let ids: Vec<String> = (0..CLICKS)
        .map(|_| {
            let id = ClickId::generate();
            let _ = tracker.record_click(Click::from_id(id)).unwrap();
            id.to_string()
        })
        .collect();
    // Per click: a pending and an approved on the default conversion, and two rebills, each
    // fired 5 times: 20 postbacks a click, 10k in all.
    let mut postbacks = Vec::new();
    for id in &ids {
        for _ in 0..5 {
            postbacks.push(format!("/pb?click_id={id}&status=pending&payout=1"));
            postbacks.push(format!("/pb?click_id={id}&status=approved&payout=1"));
            postbacks.push(format!(
                "/pb?click_id={id}&status=approved&txid=r1&payout=2"
            ));
            postbacks.push(format!(
                "/pb?click_id={id}&status=approved&txid=r2&payout=3"
            ));
        }
    }
    assert_eq!(postbacks.len(), 10_000);
    let recorded = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (postbacks, tracker, recorded) = (&postbacks, &tracker, &recorded);
            s.spawn(move || {
                // A different deterministic order per thread.
                let stride = [7919, 104_729, 1_299_709, 15_485_863, 3, 31, 127, 8191][t];
                for i in 0..postbacks.len() {
                    let url = &postbacks[(i * stride + t) % postbacks.len()];
                    if tracker.handle(&Request::get(url), now()) == Outcome::Recorded {
                        recorded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(
        recorded.into_inner(),
        CLICKS * 3,
        "3 conversions a click, each recorded once"
    );
    for id in &ids {
        let conversions = tracker.store().conversions(id).unwrap();
        assert_eq!(conversions.len(), 3);
        assert!(
            conversions.iter().all(|c| c.standing.state == Approved),
            "{conversions:?}"
        );
        let total: i64 = conversions
            .iter()
            .map(|c| c.standing.payout.unwrap().units())
            .sum();
        assert_eq!(total, 6, "the sequential total: 1 + 2 + 3");
    }
}

/// Trackers whose postbacks carry no status (or only a reversal), or only an optional one,
/// count every postback: a Voluum-style postback must be recorded, not refused as an unmapped
/// status.
#[test]
fn trackers_without_status_count_every_postback() {
    for (profile, target) in [
        ("voluum", "/postback?cid={id}&payout=1.20&txid=T1"),
        ("binom", "/click.php?cnv_id={id}&payout=1.20"),
        ("bemob", "/postback?cid={id}&payout=1.20&txid=T1"),
        ("peerclick", "/postback?cid={id}&payout=1.20"),
        ("clickflare", "/cf/cv?click_id={id}&payout=1.20"),
        ("funnelflux", "/pb/?hit={id}&rev=1.20"),
        (
            "prosper202",
            "/tracking202/static/gpb.php?subid=42&amount=1.20",
        ),
    ] {
        let tracker = Tracker::new(MemoryStore::new(), Parser::builtin(profile).unwrap());
        let id = if profile == "prosper202" {
            "42".to_owned()
        } else {
            ClickId::generate().to_string()
        };
        assert_eq!(
            tracker
                .record_click(Click::new(&id, now()).unwrap())
                .unwrap(),
            postback::store::Inserted::New
        );
        let target = target.replace("{id}", &id);
        assert_eq!(fire(&tracker, &target), Outcome::Recorded, "{profile}");
        assert_eq!(states(&tracker, &id), [Approved], "{profile}");
    }
    // RedTrack records a postback without a status as "other", which is no state: refused.
    let (redtrack, id) = setup("redtrack");
    assert_eq!(
        fire(&redtrack, &format!("/postback?clickid={id}&sum=1.20")),
        Outcome::UnmappedStatus
    );
}

/// A long target is kept up to the log's bound, cut before a character the bound would split.
#[test]
fn the_log_cuts_a_long_target_at_a_character_boundary() {
    let max = postback::log::MAX_LOGGED_REQUEST;
    let tracker = Tracker::new(MemoryStore::new(), Parser::generic());
    // `é` is two bytes: the first starts at `max - 1`, so the cut falls inside it.
    let prefix = "/pb?click_id=x&note=";
    let target = format!(
        "{prefix}{}é{}",
        "a".repeat(max - 1 - prefix.len()),
        "b".repeat(10)
    );
    let _ = tracker.handle(&Request::get(&target), now());
    let entries = tracker.log().entries();
    let entry = entries.last().unwrap();
    assert!(entry.truncated());
    assert_eq!(entry.target().len(), max - 1);
    assert!(target.starts_with(entry.target()));

    let short = "/pb?click_id=x&note=é";
    let _ = tracker.handle(&Request::get(short), now());
    let entries = tracker.log().entries();
    let entry = entries.last().unwrap();
    assert!(!entry.truncated());
    assert_eq!(entry.target(), short);
}

/// A store that notes, in order, every id it is asked to prefetch or load, and keeps its
/// clicks in a `MemoryStore`.
#[derive(Default)]
struct Noting {
    inner: MemoryStore,
    asked: std::sync::Mutex<Vec<String>>,
}

impl ClickStore for Noting {
    type Error = <MemoryStore as ClickStore>::Error;

    fn insert(&self, click: Click) -> Result<postback::store::Inserted, Self::Error> {
        self.inner.insert(click)
    }

    fn load(
        &self,
        click_id: &str,
        key: &ConversionKey<'_>,
    ) -> Result<Option<postback::store::StoredClick>, Self::Error> {
        self.asked.lock().unwrap().push(format!("load {click_id}"));
        self.inner.load(click_id, key)
    }

    fn commit(
        &self,
        click_id: &str,
        expected: postback::store::Version,
        change: &postback::store::Change<'_>,
    ) -> Result<postback::store::Commit, Self::Error> {
        self.inner.commit(click_id, expected, change)
    }

    fn click(&self, click_id: &str) -> Result<Option<Click>, Self::Error> {
        self.inner.click(click_id)
    }

    fn conversions(&self, click_id: &str) -> Result<Vec<postback::store::Conversion>, Self::Error> {
        self.inner.conversions(click_id)
    }

    fn prefetch(&self, click_id: &str) {
        self.asked
            .lock()
            .unwrap()
            .push(format!("prefetch {click_id}"));
    }
}

#[test]
fn the_store_is_asked_to_prefetch_the_click_before_the_load() {
    let tracker = Tracker::new(Noting::default(), Parser::generic());
    let id = ClickId::generate().to_string();
    let inserted = tracker.record_click(Click::from_id(id.parse().unwrap()));
    assert_eq!(inserted.unwrap(), postback::store::Inserted::New);
    let target = format!("/pb?click_id={id}&status=approved&txid=1");
    let outcome = tracker.handle(&Request::get(&target), OffsetDateTime::now_utc());
    assert_eq!(outcome.code(), "recorded");
    // Any of these is a postback the tracker still judges in full: an unknown click, an
    // encoded id (decoded, so not announced) and one with a literal macro.
    for other in [
        "/pb?click_id=nope&status=approved",
        "/pb?click_id=%61b&status=approved",
        "/pb?click_id={subid}",
    ] {
        let _ = tracker.handle(&Request::get(other), OffsetDateTime::now_utc());
    }
    assert_eq!(
        *tracker.store().asked.lock().unwrap(),
        [
            format!("prefetch {id}"),
            format!("load {id}"),
            "prefetch nope".into(),
            "load nope".into(),
            "load ab".into(),
        ],
    );
}

/// A signed postback older than one already applied to its conversion is `stale`: a replay
/// inside the signature's window (or a late retry) never rolls a conversion back, whatever the
/// state rules would say.
#[cfg(feature = "signature")]
mod stale {
    use super::*;
    use postback::guard::Signature;
    use postback::parse::Postback;
    use postback::store::{Standing, StoredClick, Version};
    use postback::tracker::decide;
    use proptest::prelude::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    /// Two timestamps inside the default 300 s window of `now()`, the first older.
    const T1: i64 = 1_795_500_000 - 120;
    const T2: i64 = 1_795_500_000 - 60;

    /// A `generic` tracker that requires signatures, with one stored click.
    fn signed_setup() -> (Tracker<MemoryStore>, String) {
        let (tracker, id) = setup("generic");
        let guard = Guard::new().with_signature(Signature::new(KEY));
        (tracker.with_guard(guard).unwrap(), id)
    }

    /// The target a network sends for `params` (without `?`), signed at `ts`.
    fn signed(params: &str, ts: i64) -> String {
        let params = format!("{params}&ts={ts}");
        format!("/pb?{params}&sig={}", Signature::new(KEY).sign(&params))
    }

    /// The click's one conversion: state, payout, newest signed timestamp, history length.
    fn only(
        t: &Tracker<MemoryStore>,
        id: &str,
    ) -> (ConversionState, Option<String>, Option<i64>, usize) {
        let conversions = t.store().conversions(id).unwrap();
        assert_eq!(conversions.len(), 1, "one conversion");
        let c = &conversions[0];
        let payout = c.standing.payout.map(|p| p.to_string());
        (c.standing.state, payout, c.signed_at, c.history.len())
    }

    #[test]
    fn a_replayed_pending_after_approved_is_stale_and_changes_nothing() {
        let (t, id) = signed_setup();
        let pending = signed(&format!("click_id={id}&status=pending&payout=5"), T1);
        let approved = signed(&format!("click_id={id}&status=approved&payout=5"), T2);
        assert_eq!(fire(&t, &pending), Outcome::Recorded);
        assert_eq!(fire(&t, &approved).code(), "updated");

        let replay = fire(&t, &pending);
        assert_eq!(replay, Outcome::Stale);
        assert_eq!(
            (replay.code(), replay.http_status(), replay.is_counted()),
            ("stale", 200, false)
        );
        assert_eq!(
            only(&t, &id),
            (Approved, Some("5".into()), Some(T2), 2),
            "still approved, at the newest timestamp, nothing added to the history"
        );
        let entry = t.log().last(1).pop().unwrap();
        assert_eq!(entry.code(), "stale");
        assert_eq!(
            entry.hint(),
            Some(
                "signed earlier than a postback already applied to this conversion: a replay or \
                 a late retry of an older postback; nothing was changed"
            )
        );
    }

    #[test]
    fn a_replayed_pending_after_rejected_is_stale() {
        let (t, id) = signed_setup();
        let pending = signed(&format!("click_id={id}&status=pending"), T1);
        assert_eq!(fire(&t, &pending), Outcome::Recorded);
        let rejected = signed(&format!("click_id={id}&status=rejected"), T2);
        assert_eq!(
            fire(&t, &rejected),
            Outcome::Updated {
                from: Pending,
                to: Rejected
            }
        );
        assert_eq!(fire(&t, &pending), Outcome::Stale);
        assert_eq!(only(&t, &id), (Rejected, None, Some(T2), 2));
    }

    #[test]
    fn a_late_retry_of_an_older_postback_is_stale_and_answered_200() {
        // The network's first delivery of the pending postback failed; its retry comes after
        // the approval. Without the timestamp it would be an illegal transition (422), which
        // some networks retry for days.
        let (t, id) = signed_setup();
        let approved = signed(&format!("click_id={id}&status=approved"), T2);
        assert_eq!(fire(&t, &approved), Outcome::Recorded);
        let late = fire(&t, &signed(&format!("click_id={id}&status=pending"), T1));
        assert_eq!((late.code(), late.http_status()), ("stale", 200));
        assert_eq!(only(&t, &id), (Approved, None, Some(T2), 1));
    }

    #[test]
    fn an_older_payout_cannot_be_replayed_over_a_newer_one() {
        let (t, id) = signed_setup();
        let first = signed(&format!("click_id={id}&status=pending&payout=10"), T1);
        let second = signed(&format!("click_id={id}&status=pending&payout=12"), T2);
        assert_eq!(fire(&t, &first), Outcome::Recorded);
        assert_eq!(fire(&t, &second).code(), "updated");
        assert_eq!(fire(&t, &first), Outcome::Stale);
        assert_eq!(only(&t, &id), (Pending, Some("12".into()), Some(T2), 2));
    }

    #[test]
    fn a_replay_with_the_newest_timestamp_is_a_duplicate() {
        let (t, id) = signed_setup();
        let pending = signed(&format!("click_id={id}&status=pending"), T1);
        let approved = signed(&format!("click_id={id}&status=approved"), T2);
        assert_eq!(fire(&t, &pending), Outcome::Recorded);
        assert_eq!(fire(&t, &approved).code(), "updated");
        assert_eq!(fire(&t, &approved), Outcome::Duplicate);
        // The same second is not older: the state rules decide, as without a signature.
        let same_second = signed(&format!("click_id={id}&status=pending&payout=1"), T2);
        assert_eq!(
            fire(&t, &same_second),
            Outcome::IllegalTransition {
                from: Approved,
                to: Pending
            }
        );
        let reversed = signed(&format!("click_id={id}&status=reversed"), T2);
        assert_eq!(fire(&t, &reversed).code(), "updated");
        assert_eq!(only(&t, &id), (Reversed, None, Some(T2), 3));
    }

    #[test]
    fn a_postback_that_changes_nothing_stores_no_timestamp() {
        let (t, id) = signed_setup();
        let approved = signed(&format!("click_id={id}&status=approved"), T1);
        assert_eq!(fire(&t, &approved), Outcome::Recorded);
        // A newer duplicate and a newer illegal move are not applied: the newest applied is
        // still T1, so a postback signed between them is judged by the state rules.
        let again = signed(&format!("click_id={id}&status=approved"), T2);
        assert_eq!(fire(&t, &again), Outcome::Duplicate);
        let back = signed(&format!("click_id={id}&status=pending"), T2);
        assert_eq!(fire(&t, &back).code(), "illegal_transition");
        assert_eq!(only(&t, &id), (Approved, None, Some(T1), 1));
        let between = signed(&format!("click_id={id}&status=rejected"), T1 + 30);
        assert_eq!(fire(&t, &between).code(), "updated");
        assert_eq!(only(&t, &id), (Rejected, None, Some(T1 + 30), 2));
    }

    #[test]
    fn each_conversion_keeps_its_own_newest_timestamp() {
        let (t, id) = signed_setup();
        let newer = signed(&format!("click_id={id}&txid=A&status=approved"), T2);
        assert_eq!(fire(&t, &newer), Outcome::Recorded);
        // Another transaction's older postback is news to its own conversion.
        let older = signed(&format!("click_id={id}&txid=B&status=pending"), T1);
        assert_eq!(fire(&t, &older), Outcome::Recorded);
        let other = signed(&format!("click_id={id}&txid=B&status=approved"), T1 + 1);
        assert_eq!(fire(&t, &other).code(), "updated");
        let signed_at: Vec<_> = t
            .store()
            .conversions(&id)
            .unwrap()
            .iter()
            .map(|c| (c.key.to_string(), c.signed_at))
            .collect();
        assert_eq!(
            signed_at,
            [("txid:A".into(), Some(T2)), ("txid:B".into(), Some(T1 + 1))]
        );
    }

    #[test]
    fn unsigned_postbacks_are_judged_as_before() {
        // No signature, no timestamp: the forward-only rule alone refuses a late pending, and
        // a payout replay in the same state still applies (SECURITY.md, "Replay").
        let (t, id) = setup("generic");
        let pending = format!("/pb?click_id={id}&status=pending&payout=10");
        assert_eq!(fire(&t, &pending), Outcome::Recorded);
        let raised = format!("/pb?click_id={id}&status=pending&payout=12");
        assert_eq!(fire(&t, &raised).code(), "updated");
        assert_eq!(
            fire(&t, &pending).code(),
            "updated",
            "no timestamp to compare"
        );
        let approved = format!("/pb?click_id={id}&status=approved&payout=10");
        assert_eq!(fire(&t, &approved).code(), "updated");
        assert_eq!(fire(&t, &approved), Outcome::Duplicate);
        assert_eq!(fire(&t, &pending).code(), "illegal_transition");
        assert_eq!(only(&t, &id), (Approved, Some("10".into()), None, 4));
        // A `ts` parameter without a signature guard is just a parameter: nobody vouches for it.
        let claimed = format!("/pb?click_id={id}&status=rejected&ts=1");
        assert_eq!(fire(&t, &claimed).code(), "updated");
        assert_eq!(only(&t, &id).2, None);
    }

    #[test]
    fn decide_keeps_the_later_timestamp_and_ignores_a_missing_one() {
        let now = now();
        let standing = |state| Standing {
            state,
            payout: None,
            currency: None,
        };
        let stored = |signed_at| StoredClick {
            version: Version::new(3),
            clicked_at: now,
            conversion: Some(standing(Pending)),
            signed_at,
        };
        let approved = Postback::new("abc").with_state(Some(Approved));
        let stored_at = |d: postback::tracker::Decision<'_>| d.change.map(|c| c.data().signed_at);
        // Signed over unsigned, unsigned over signed, newer over older, the same second.
        assert_eq!(
            stored_at(decide(&approved, Some(T1), &stored(None), now, None)),
            Some(Some(T1))
        );
        assert_eq!(
            stored_at(decide(&approved, None, &stored(Some(T1)), now, None)),
            Some(Some(T1))
        );
        assert_eq!(
            stored_at(decide(&approved, Some(T2), &stored(Some(T1)), now, None)),
            Some(Some(T2))
        );
        assert_eq!(
            stored_at(decide(&approved, Some(T1), &stored(Some(T1)), now, None)),
            Some(Some(T1))
        );
        let stale = decide(&approved, Some(T1), &stored(Some(T2)), now, None);
        assert_eq!((stale.outcome, stale.change), (Outcome::Stale, None));
        // A new conversion records the postback's own timestamp.
        let fresh = StoredClick {
            conversion: None,
            ..stored(None)
        };
        assert_eq!(
            stored_at(decide(&approved, Some(T2), &fresh, now, None)),
            Some(Some(T2))
        );
    }

    /// A postback of the network's real history: its state, payout, and when it was signed.
    type Step = (ConversionState, u16, i64);

    /// A history the network could really send, every later step a legal move from every
    /// earlier one and a change from the one before: payout rises while pending, then maybe
    /// approved (with its own payout changes), then maybe rejected. Timestamps strictly
    /// increase.
    fn history() -> impl Strategy<Value = Vec<Step>> {
        (
            prop::collection::vec(1u16..20, 1..4),
            prop::collection::vec(1u16..20, 0..3),
            any::<bool>(),
            prop::collection::vec(1i64..30, 6),
        )
            .prop_map(|(pending, approved, rejected, gaps)| {
                let states = pending
                    .iter()
                    .map(|rise| (Pending, *rise))
                    .chain(approved.iter().map(|rise| (Approved, *rise)))
                    .chain(rejected.then_some((Rejected, 1)));
                let (mut payout, mut ts) = (0, T1 - 180);
                states
                    .zip(gaps)
                    .map(|((state, rise), gap)| {
                        payout += rise;
                        ts += gap;
                        (state, payout, ts)
                    })
                    .collect()
            })
    }

    /// A history, and its delivery: every step at least once, some again, in any order.
    fn delivered() -> impl Strategy<Value = (Vec<Step>, Vec<Step>)> {
        history()
            .prop_flat_map(|steps| {
                let replays = prop::collection::vec(0..steps.len(), 0..12);
                (Just(steps), replays)
            })
            .prop_flat_map(|(steps, replays)| {
                let mut all = steps.clone();
                all.extend(replays.iter().map(|&i| steps[i]));
                (Just(steps), Just(all).prop_shuffle())
            })
    }

    fn target(id: &str, (state, payout, ts): Step) -> String {
        signed(&format!("click_id={id}&status={state}&payout={payout}"), ts)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Any order of delivery, with any replays, ends where the network's newest postback
        /// put the conversion, and after it is applied every older postback is stale.
        #[test]
        fn any_delivery_order_ends_at_the_newest_postback((steps, deliveries) in delivered()) {
            let (t, id) = signed_setup();
            let newest = *steps.last().unwrap();
            let mut newest_seen = false;
            for step in &deliveries {
                let outcome = fire(&t, &target(&id, *step));
                if newest_seen && step.2 < newest.2 {
                    prop_assert_eq!(&outcome, &Outcome::Stale, "{:?} after the newest", step);
                }
                newest_seen |= *step == newest;
            }
            let (state, payout, signed_at, _) = only(&t, &id);
            prop_assert_eq!(state, newest.0);
            prop_assert_eq!(payout, Some(newest.1.to_string()));
            prop_assert_eq!(signed_at, Some(newest.2));
        }

        /// Any signed postbacks at all, legal or not: a postback is stale exactly when it is
        /// older than the newest one applied before it, applied timestamps never go back, and
        /// the conversion keeps the newest applied one.
        #[test]
        fn stale_exactly_when_older_than_the_newest_applied(
            fires in prop::collection::vec(
                (prop::sample::select(ConversionState::ALL.to_vec()), 1u16..4, 0i64..6),
                1..24,
            ),
        ) {
            let (t, id) = signed_setup();
            let mut newest: Option<i64> = None;
            let mut last_applied = None;
            for (state, payout, offset) in fires {
                let ts = T1 + offset;
                let outcome = fire(&t, &target(&id, (state, payout, ts)));
                prop_assert_eq!(
                    outcome == Outcome::Stale,
                    newest.is_some_and(|n| ts < n),
                    "{:?} at {} with the newest applied at {:?}", outcome, ts, newest
                );
                if outcome.is_counted() {
                    prop_assert!(newest.is_none_or(|n| ts >= n), "applied an older postback");
                    newest = Some(ts);
                    last_applied = Some(state);
                }
            }
            let (state, _, signed_at, _) = only(&t, &id);
            prop_assert_eq!(Some(state), last_applied);
            prop_assert_eq!(signed_at, newest);
        }
    }
}
