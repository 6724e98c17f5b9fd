//! `RedisStore` against a real server.
//!
//! The tests find the server through `POSTBACK_REDIS_URL` (`.ci/run` starts one and sets it);
//! without it they print why and pass without checking anything. The restart test starts a
//! server of its own (`redis-server` from `PATH`, or `POSTBACK_REDIS_SERVER`) on a free port,
//! with the append-only file on, so that it can kill and restart it.
#![cfg(feature = "redis")]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postback::store::{ConversionKey, Inserted};
use postback::{
    Click, ClickId, ClickStore, ConversionState, MemoryStore, Outcome, Parser, RedisStore,
    RedisStoreError, Request, Tracker,
};
use time::OffsetDateTime;

fn redis_url() -> Option<String> {
    let url = std::env::var("POSTBACK_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: POSTBACK_REDIS_URL is not set (.ci/run starts a redis-server)");
    }
    url
}

/// A prefix no other run uses, so runs against one server do not see each other's clicks.
fn fresh_prefix(test: &str) -> String {
    format!("pbtest-{test}-{}", ClickId::generate())
}

fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::open(url)
        .unwrap()
        .with_key_prefix(prefix)
        .unwrap()
        .with_retention(Duration::from_secs(600))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_500_000).unwrap()
}

/// A small xorshift: a repeatable order per seed without a dependency.
fn shuffled<T>(mut items: Vec<T>, seed: u64) -> Vec<T> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
    items
}

/// Handles a postback as a network delivers it: again after each 503, until a final answer.
fn deliver<S: ClickStore>(
    tracker: &Tracker<S>,
    target: &str,
    store_errors: &AtomicUsize,
) -> Outcome {
    loop {
        let outcome = tracker.handle(&Request::get(target), now());
        if outcome.http_status() != 503 {
            return outcome;
        }
        store_errors.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(feature = "testing")]
#[test]
fn conformance_suite() {
    let Some(url) = redis_url() else { return };
    let prefix = fresh_prefix("conformance");
    postback::testing::check_store(|| store(&url, &prefix));
}

#[test]
fn clicks_expire_after_the_retention_and_generated_ids_match_in_either_case() {
    let Some(url) = redis_url() else { return };
    let store = store(&url, &fresh_prefix("ttl")).with_retention(Duration::from_secs(3600));
    let id = ClickId::generate();
    let upper = id.to_string().to_ascii_uppercase();
    let click = Click::new(&upper, now())
        .unwrap()
        .with_sub("sub3", "")
        .unwrap();
    assert_eq!(store.insert(click).unwrap(), Inserted::New);
    assert_eq!(
        store.insert(Click::from_id(id)).unwrap(),
        Inserted::AlreadyExists,
        "the lowercase form names the same click"
    );
    let loaded = store
        .load(&id.to_string(), &ConversionKey::DEFAULT)
        .unwrap();
    assert_eq!(loaded.map(|c| c.clicked_at), Some(now()));
    let back = store.click(&upper).unwrap().unwrap();
    assert_eq!(back.id(), id.to_string(), "click() names the canonical id");
    assert_eq!(back.sub("sub3"), Some(""), "an empty sub value survives");

    let key = store.key(&upper);
    assert_eq!(key, format!("{}:{{{id}}}", store.key_prefix()));
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut con).unwrap();
    assert!(
        (3_590_000..=3_600_000).contains(&ttl),
        "ttl {ttl} ms should be the retention"
    );
}

#[test]
fn bad_settings_are_refused_with_the_reason() {
    let err = RedisStore::open("http://127.0.0.1/").unwrap_err();
    assert!(matches!(err, RedisStoreError::Url { .. }), "{err}");
    assert!(err.to_string().starts_with("invalid redis url: "), "{err}");
    let store = RedisStore::open("redis://127.0.0.1/").unwrap();
    let err = store.with_key_prefix("clicks{eu}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid redis key prefix \"clicks{eu}\": a brace would change the cluster hash tag"
    );
    let err = RedisStore::open("redis://127.0.0.1/")
        .unwrap()
        .with_key_prefix(&"p".repeat(65))
        .unwrap_err();
    assert!(err.to_string().ends_with(": longer than 64 bytes"), "{err}");
}

#[test]
fn a_server_that_is_down_is_a_store_error_after_the_retries() {
    // A port nobody listens on: bound, then released.
    let port = free_port();
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .with_timeout(Duration::from_millis(200))
        .with_retries(1);
    let err = store.ping().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("redis ping failed after 2 attempt(s): "),
        "{err}"
    );
    let tracker = Tracker::new(store, Parser::generic());
    let outcome = tracker.handle(&Request::get("/pb?click_id=abc&status=approved"), now());
    assert_eq!(outcome.code(), "store_error");
    assert_eq!(outcome.http_status(), 503);
}

/// Per click: the default conversion twice (a retry), and a transaction that goes pending
/// then approved. 1250 clicks, 5000 postbacks.
fn postbacks(ids: &[String]) -> Vec<String> {
    ids.iter()
        .enumerate()
        .flat_map(|(n, id)| {
            let payout = format!("{}.25", n % 50 + 1);
            [
                format!("/pb?click_id={id}&status=approved&payout={payout}&currency=USD"),
                format!("/pb?click_id={id}&status=approved&payout={payout}&currency=USD"),
                format!("/pb?click_id={id}&txid=T{n}&status=pending&payout=3"),
                format!("/pb?click_id={id}&txid=T{n}&status=approved&payout=3"),
            ]
        })
        .collect()
}

/// Half the ids in this crate's format (sent upper-case), half free text.
fn click_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            if n % 2 == 0 {
                ClickId::from_parts(1_795_400_000_000, n as u128 * 0x1_0000_0001)
                    .to_string()
                    .to_ascii_uppercase()
            } else {
                format!("ext-{n}")
            }
        })
        .collect()
}

/// Each click's conversions as (key, state, payout), sorted: what a run ends with, whatever
/// the order the postbacks came in.
fn final_state<S: ClickStore>(
    store: &S,
    ids: &[String],
) -> Vec<Vec<(String, ConversionState, String)>>
where
    S::Error: std::fmt::Debug,
{
    ids.iter()
        .map(|id| {
            let mut rows: Vec<_> = store
                .conversions(id)
                .unwrap()
                .into_iter()
                .map(|c| {
                    let payout = c.standing.payout.map(|p| p.to_string()).unwrap_or_default();
                    (c.key.to_string(), c.standing.state, payout)
                })
                .collect();
            rows.sort();
            rows
        })
        .collect()
}

#[test]
fn two_trackers_racing_on_one_redis_count_each_conversion_once() {
    const CLICKS: usize = 1250;
    const THREADS: usize = 4;
    let Some(url) = redis_url() else { return };
    let prefix = fresh_prefix("race");
    let ids = click_ids(CLICKS);
    let targets = postbacks(&ids);
    assert_eq!(targets.len(), 5000);
    let clicked = now() - time::Duration::HOUR;

    // The reference: one tracker, one thread, every postback twice (as both nodes get them).
    let reference = Tracker::new(MemoryStore::new(), Parser::generic()).with_log_capacity(0);
    for id in &ids {
        let _ = reference
            .record_click(Click::new(id, clicked).unwrap())
            .unwrap();
    }
    let none = AtomicUsize::new(0);
    let reference_recorded = targets
        .iter()
        .chain(&targets)
        .filter(|t| deliver(&reference, t, &none) == Outcome::Recorded)
        .count();
    assert_eq!(reference_recorded, 2 * CLICKS);

    let nodes = [store(&url, &prefix), store(&url, &prefix)]
        .map(|s| Tracker::new(s, Parser::generic()).with_log_capacity(0));
    for id in &ids {
        assert_eq!(
            nodes[0]
                .record_click(Click::new(id, clicked).unwrap())
                .unwrap(),
            Inserted::New
        );
    }
    let recorded = AtomicUsize::new(0);
    let store_errors = AtomicUsize::new(0);
    let unexpected = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (node, tracker) in nodes.iter().enumerate() {
            let order = shuffled(targets.clone(), node as u64 + 1);
            for thread in 0..THREADS {
                let mine: Vec<String> = order
                    .iter()
                    .skip(thread)
                    .step_by(THREADS)
                    .cloned()
                    .collect();
                let (recorded, store_errors, unexpected) = (&recorded, &store_errors, &unexpected);
                s.spawn(move || {
                    for target in &mine {
                        match deliver(tracker, target, store_errors) {
                            Outcome::Recorded => {
                                recorded.fetch_add(1, Ordering::Relaxed);
                            }
                            Outcome::Updated { .. }
                            | Outcome::Duplicate
                            | Outcome::IllegalTransition { .. } => {}
                            other => unexpected.lock().unwrap().push(other),
                        }
                    }
                });
            }
        }
    });
    assert_eq!(unexpected.into_inner().unwrap(), []);
    assert_eq!(
        recorded.into_inner(),
        reference_recorded,
        "each conversion recorded exactly once across both nodes"
    );
    assert_eq!(
        final_state(nodes[1].store(), &ids),
        final_state(reference.store(), &ids),
        "every click ends as in a sequential run"
    );
    let total = |state: &[Vec<(String, ConversionState, String)>]| -> f64 {
        state
            .iter()
            .flatten()
            .filter(|(_, s, _)| *s == ConversionState::Approved)
            .map(|(_, _, p)| p.parse::<f64>().unwrap())
            .sum()
    };
    let redis_total = total(&final_state(nodes[0].store(), &ids));
    assert!((redis_total - total(&final_state(reference.store(), &ids))).abs() < 1e-6);
    eprintln!(
        "two nodes: {} retried store errors, approved total {redis_total}",
        store_errors.into_inner()
    );
}

/// Two nodes on one Redis, a signature guard on each: a signed postback older than one
/// already applied through the other node is `stale`, because the newest signed timestamp is
/// stored with the conversion (its own hash field, written by the commit script).
#[cfg(feature = "signature")]
#[test]
fn a_replay_older_than_a_newer_signed_postback_is_stale_on_every_node() {
    use postback::Guard;
    use postback::guard::Signature;

    let Some(url) = redis_url() else { return };
    let prefix = fresh_prefix("stale");
    let key = "0123456789abcdef0123456789abcdef";
    let node = || {
        Tracker::new(store(&url, &prefix), Parser::generic())
            .with_guard(Guard::new().with_signature(Signature::new(key)))
            .unwrap()
    };
    let (a, b) = (node(), node());
    let id = format!("ext-{}", ClickId::generate());
    let _ = a.record_click(Click::new(&id, now()).unwrap()).unwrap();
    let signed = |params: String, ts: i64| {
        let params = format!("{params}&ts={ts}");
        format!("/pb?{params}&sig={}", Signature::new(key).sign(&params))
    };
    let (t1, t2) = (now().unix_timestamp() - 120, now().unix_timestamp() - 60);
    let pending = signed(format!("click_id={id}&status=pending&payout=5"), t1);
    let approved = signed(format!("click_id={id}&status=approved&payout=5"), t2);
    let fire = |t: &Tracker<RedisStore>, target: &str| t.handle(&Request::get(target), now());

    assert_eq!(fire(&a, &pending), Outcome::Recorded);
    assert_eq!(fire(&b, &approved).code(), "updated");
    assert_eq!(
        fire(&a, &pending),
        Outcome::Stale,
        "replayed through node a"
    );
    assert_eq!(
        fire(&b, &pending),
        Outcome::Stale,
        "replayed through node b"
    );
    assert_eq!(fire(&a, &approved), Outcome::Duplicate);

    let conversions = b.store().conversions(&id).unwrap();
    assert_eq!(conversions.len(), 1);
    assert_eq!(conversions[0].standing.state, ConversionState::Approved);
    assert_eq!(conversions[0].signed_at, Some(t2));
    assert_eq!(conversions[0].history.len(), 2, "the replays added nothing");
    let loaded = a
        .store()
        .load(&id, &ConversionKey::DEFAULT)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.signed_at, Some(t2));

    // The layout the docs give: `t<kind><name>`, decimal Unix seconds, next to `s` and `h`.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let field: Option<String> = redis::cmd("HGET")
        .arg(a.store().key(&id))
        .arg("te")
        .query(&mut con)
        .unwrap();
    assert_eq!(field, Some(t2.to_string()));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server of the test's own, killed when dropped.
struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start() -> Option<Self> {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("postback-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.spawn().then_some(server)
    }

    /// Every acknowledged write is in the append-only file before the reply goes out, so a
    /// killed server restarts with everything it confirmed.
    fn spawn(&mut self) -> bool {
        let binary =
            std::env::var("POSTBACK_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(child) => {
                self.child = Some(child);
                true
            }
            Err(err) => {
                eprintln!("skipped: cannot start {binary}: {err}");
                false
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_until_up(&self) {
        let store = RedisStore::open(&self.url()).unwrap().with_retries(0);
        let start = Instant::now();
        while store.ping().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_server_killed_and_restarted_mid_run_loses_and_doubles_nothing() {
    const CLICKS: usize = 600;
    const THREADS: usize = 4;
    if redis_url().is_none() {
        return;
    }
    let Some(mut server) = Server::start() else {
        return;
    };
    server.wait_until_up();
    let store = RedisStore::open(&server.url())
        .unwrap()
        .with_timeout(Duration::from_millis(250))
        .with_retries(1);
    let tracker = Tracker::new(store, Parser::generic()).with_log_capacity(0);
    let ids: Vec<String> = (0..CLICKS).map(|n| format!("restart-{n}")).collect();
    for id in &ids {
        let click = Click::new(id, now() - time::Duration::HOUR).unwrap();
        assert_eq!(tracker.record_click(click).unwrap(), Inserted::New);
    }

    let done = AtomicUsize::new(0);
    let store_errors = AtomicUsize::new(0);
    let finals = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (tracker, ids, done, store_errors, finals) =
                (&tracker, &ids, &done, &store_errors, &finals);
            s.spawn(move || {
                for id in ids.iter().skip(thread).step_by(THREADS) {
                    let target = format!("/pb?click_id={id}&status=approved&payout=7");
                    let outcome = deliver(tracker, &target, store_errors);
                    finals.lock().unwrap().push(outcome);
                    done.fetch_add(1, Ordering::Relaxed);
                    // Paced so that the outage falls in the middle of the run.
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
        }
        while done.load(Ordering::Relaxed) < CLICKS / 4 {
            std::thread::sleep(Duration::from_millis(1));
        }
        server.kill();
        let probe = tracker.handle(
            &Request::get("/pb?click_id=restart-0&txid=P&status=approved"),
            now(),
        );
        assert_eq!(probe.code(), "store_error", "a postback during the outage");
        assert_eq!(probe.http_status(), 503);
        std::thread::sleep(Duration::from_millis(300));
        assert!(server.spawn());
        assert!(
            done.load(Ordering::Relaxed) < CLICKS,
            "the run should still be going when the server comes back"
        );
    });

    let finals = finals.into_inner().unwrap();
    assert_eq!(finals.len(), CLICKS);
    assert!(
        finals
            .iter()
            .all(|o| matches!(o, Outcome::Recorded | Outcome::Duplicate)),
        "final outcomes: {finals:?}"
    );
    for id in &ids {
        let conversions = tracker.store().conversions(id).unwrap();
        assert_eq!(conversions.len(), 1, "{id}: one conversion");
        assert_eq!(conversions[0].history.len(), 1, "{id}: recorded once");
        assert_eq!(conversions[0].standing.state, ConversionState::Approved);
    }
    let errors = store_errors.into_inner();
    assert!(errors > 0, "postbacks during the outage get store_error");
    let duplicates = finals.iter().filter(|o| **o == Outcome::Duplicate).count();
    eprintln!(
        "restart: {errors} store errors retried; {duplicates} recorded by an attempt whose reply was lost"
    );
}
