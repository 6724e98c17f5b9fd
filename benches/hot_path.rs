//! The conversion-time hot path: parse + load + decide + commit on a `MemoryStore`, against
//! `url::Url::parse` + a `HashMap<String, _>` lookup and insert on the same inputs.
//!
//! `cargo bench --bench hot_path` (and `--features redis` with `POSTBACK_REDIS_URL` set for the
//! Redis group)
//!
//! Inputs are the parse bench's postback URL with its click id replaced by stored ids, visited
//! in a random order from a pool of 2^20 URLs, so lookups miss the cache as they would in
//! production. The first visit of an id records its conversion (a commit); later visits are
//! duplicates (load + decide, no commit), as retries are in production.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use postback::{Click, ClickId, ClickStore, MemoryConfig, MemoryStore, Parser, Request, Tracker};
use time::OffsetDateTime;

const POOL: usize = 1 << 20;
const TEMPLATE: &str = "https://tracker.example/postback?click_id={ID}&status=approved&payout=12.50&currency=USD&txid=TX-99812&offer_id=417&goal=deposit&ts=1732435200&token=s3cr3t&sub2=fb_ads";

/// A deterministic id for click number `n` (distinct for every `n`).
fn id(n: usize) -> ClickId {
    ClickId::from_parts(
        1_732_435_200_000 + n as u64 / 1000,
        (n as u128) * 0x9e37_79b9_7f4a_7c15,
    )
}

/// A small xorshift: a fixed, repeatable random order without a dependency.
fn shuffled_indices(count: usize, len: usize) -> Vec<usize> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % len as u64) as usize
        })
        .collect()
}

fn urls(clicks: usize) -> Vec<String> {
    shuffled_indices(POOL, clicks)
        .into_iter()
        .map(|n| TEMPLATE.replace("{ID}", &id(n).encode().to_ascii_uppercase()))
        .collect()
}

fn tracker(clicks: usize) -> Tracker<MemoryStore> {
    let store = MemoryStore::with_config(MemoryConfig::new().with_capacity(clicks * 2));
    for n in 0..clicks {
        let _ = store.insert(Click::from_id(id(n)));
    }
    Tracker::new(store, Parser::generic()).with_log_capacity(0)
}

/// The naive tracker: parse with `url`, look the id up in a `HashMap<String, _>`, and insert
/// the conversion keyed by (click id, txid) unless it is there.
struct Naive {
    clicks: HashMap<String, i64>,
    conversions: HashMap<(String, String), String>,
}

impl Naive {
    fn new(clicks: usize) -> Self {
        Self {
            clicks: (0..clicks)
                .map(|n| (id(n).encode().to_ascii_uppercase(), 0))
                .collect(),
            conversions: HashMap::new(),
        }
    }

    fn handle(&mut self, url: &str) -> bool {
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let (Some(id), Some(txid)) = (params.get("click_id"), params.get("txid")) else {
            return false;
        };
        if !self.clicks.contains_key(id) {
            return false;
        }
        let status = params.get("status").cloned().unwrap_or_default();
        self.conversions
            .insert((id.clone(), txid.clone()), status)
            .is_none()
    }
}

fn hot_path(c: &mut Criterion) {
    let clicks = 1_000_000;
    let inputs = urls(clicks);
    let now = OffsetDateTime::now_utc();
    let mut group = c.benchmark_group("hot_path");

    let tracker = tracker(clicks);
    group.bench_function("postback", |b| {
        let mut next = inputs.iter().cycle();
        b.iter(|| {
            let url = next.next().map_or("", String::as_str);
            black_box(tracker.handle(&Request::get(black_box(url)), now))
        });
    });
    drop(tracker);

    let mut naive = Naive::new(clicks);
    group.bench_function("baseline_url_hashmap", |b| {
        let mut next = inputs.iter().cycle();
        b.iter(|| {
            let url = next.next().map_or("", String::as_str);
            black_box(naive.handle(black_box(url)))
        });
    });
    group.finish();
}

/// Lookup cost as the store grows: the same postback loop at 1e5, 1e6 and 1e7 clicks.
fn scale(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let mut group = c.benchmark_group("hot_path_scale");
    for clicks in [100_000, 1_000_000, 10_000_000] {
        let tracker = tracker(clicks);
        let inputs = urls(clicks);
        // Warm every id once so the loop measures the steady state (duplicates).
        for url in &inputs {
            let _ = tracker.handle(&Request::get(url), now);
        }
        group.bench_with_input(
            BenchmarkId::new("postback", clicks),
            &inputs,
            |b, inputs| {
                let mut next = inputs.iter().cycle();
                b.iter(|| {
                    let url = next.next().map_or("", String::as_str);
                    black_box(tracker.handle(&Request::get(black_box(url)), now))
                });
            },
        );
    }
    group.finish();
}

/// Throughput of one tracker shared by 2 threads (the machine's cores), at 1e6 clicks.
fn threads(c: &mut Criterion) {
    const THREADS: usize = 2;
    let now = OffsetDateTime::now_utc();
    let clicks = 1_000_000;
    let tracker = tracker(clicks);
    let inputs = urls(clicks);
    let mut group = c.benchmark_group("hot_path_threads");
    group.bench_function("postback_2_threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = usize::try_from(iters).unwrap_or(usize::MAX) / THREADS + 1;
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let (tracker, inputs) = (&tracker, &inputs);
                    s.spawn(move || {
                        for url in inputs.iter().cycle().skip(t * 4099).take(per_thread) {
                            black_box(tracker.handle(&Request::get(url), now));
                        }
                    });
                }
            });
            // Time per postback across both threads: its inverse is the throughput.
            start.elapsed()
        });
    });
    group.finish();
}

/// The same flow over a `RedisStore` on loopback, when `POSTBACK_REDIS_URL` names a server
/// (`.ci/run` starts one): each postback records a new conversion (a fresh transaction id), so
/// it costs two round trips, an `HMGET` and an `EVALSHA`; a duplicate costs one.
#[cfg(feature = "redis")]
fn redis(c: &mut Criterion) {
    use std::sync::atomic::{AtomicU64, Ordering};

    use criterion::Throughput;
    use postback::RedisStore;

    const CLICKS: usize = 10_000;
    const THREADS: usize = 4;
    let Ok(url) = std::env::var("POSTBACK_REDIS_URL") else {
        println!("hot_path_redis: skipped, POSTBACK_REDIS_URL is not set");
        return;
    };
    let store = RedisStore::open(&url)
        .and_then(|s| s.with_key_prefix(&format!("pbbench-{}", ClickId::generate())))
        .map(|s| s.with_retention(Duration::from_secs(600)))
        .expect("POSTBACK_REDIS_URL is a redis:// URL");
    if let Err(err) = store.ping() {
        println!("hot_path_redis: skipped, {err}");
        return;
    }
    for n in 0..CLICKS {
        let _ = store.insert(Click::from_id(id(n))).expect("insert a click");
    }
    let tracker = Tracker::new(store, Parser::generic()).with_log_capacity(0);
    let now = OffsetDateTime::now_utc();
    let next = AtomicU64::new(0);
    // A click from the pool and a transaction id never used before: a new conversion.
    let fresh = || {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let click = id(n as usize % CLICKS).encode();
        format!(
            "/postback?click_id={}&status=approved&payout=12.50&currency=USD&txid=B{n}",
            click.as_str()
        )
    };

    let mut group = c.benchmark_group("hot_path_redis");
    group.throughput(Throughput::Elements(1));
    group.bench_function("postback_1_thread", |b| {
        b.iter(|| black_box(tracker.handle(&Request::get(&fresh()), now)));
    });
    group.bench_function("postback_4_threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = usize::try_from(iters).unwrap_or(usize::MAX) / THREADS + 1;
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..THREADS {
                    s.spawn(|| {
                        for _ in 0..per_thread {
                            black_box(tracker.handle(&Request::get(&fresh()), now));
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    let duplicate = format!(
        "/postback?click_id={}&status=approved&payout=12.50&currency=USD&txid=B0",
        id(0).encode().as_str()
    );
    group.bench_function("duplicate_1_thread", |b| {
        b.iter(|| black_box(tracker.handle(&Request::get(&duplicate), now)));
    });
    group.finish();
}

#[cfg(not(feature = "redis"))]
fn redis(_: &mut Criterion) {
    println!("hot_path_redis: skipped, build with --features redis");
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = hot_path, scale, threads, redis
}
criterion_main!(benches);
