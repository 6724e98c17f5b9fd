//! Load: 10 million postbacks through one `Tracker` on 2 threads, with throughput, peak
//! memory and exact counts.
//!
//! `cargo bench --bench load` (about a minute on a quiet 2-core machine, two under load).
//!
//! # What it feeds
//!
//! The run is at least 10 simulated days of 1 million postbacks each, through one tracker:
//! the `generic` profile, a token guard, a `MemoryStore` with a capacity of 1.5 million clicks
//! (2.5 days' worth) and a retention of 36 hours, and a postback log bounded at 10,000 entries
//! (`POSTBACK_LOAD_LOG=0` keeps none, to show what the log costs). Every day, before the clock
//! starts, the store drops the clicks past its retention (`purge_expired`, which a server calls
//! every minute), the day's 600,000 clicks are recorded, and the day's postbacks are formatted
//! and shuffled:
//!
//! | share | postback | expected outcome |
//! |---|---|---|
//! | 60 % | a new conversion: one per click of the day | `recorded` |
//! | 20 % | a retry: the same request again, of a conversion from today or yesterday | `duplicate` |
//! | 10 % | a click id the tracker never issued | `click_not_found` |
//! | 10 % | a wrong token | `unauthorized` |
//!
//! Two threads then handle one half each, and only that is timed. A retry can reach one thread
//! before its original reaches the other: that is the race exactly-once counting must win.
//! Whichever copy comes first is recorded and the other is a duplicate, so each day's counts
//! are exact all the same, and the run checks them.
//!
//! # What it prints and checks
//!
//! Per day and in all: postbacks per second, nanoseconds per postback (wall time, and CPU time
//! of all threads, which other load on the machine disturbs less), the store's size and the
//! process's resident and peak memory (`VmRSS`, `VmHWM` from `/proc/self/status`; Linux only).
//! Memory must stay bounded by the store's capacity and the log's bound: the store never holds
//! more than its capacity, the log never more than its bound, the peak after the last day is
//! at most 25 % over the peak after day 3 (by then the store holds two days, as it will
//! from then on), and the growth of the peak over the whole run is at most what a full store,
//! a full log and one day's requests may cost (see [`memory_bound`]).
//!
//! The days are criterion's samples: group `load`, function `postbacks_1m`, one day per
//! sample, 10 samples after a day of warm-up, for a median and a confidence interval. Days are
//! added after them until there are 10 (`POSTBACK_LOAD_DAYS` sets another minimum); the figures
//! of the whole run come last.
//!
//! Without `--bench` (`cargo test --benches`) it runs 2 days of 10,000 postbacks, as a check.

#![allow(
    clippy::cast_precision_loss,
    reason = "figures for people: a count past 2^52 printed a little rounded is fine"
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use postback::guard::Guard;
use postback::log::MAX_LOGGED_REQUEST;
use postback::store::Inserted;
use postback::{
    Click, ClickId, ClickStore, MemoryConfig, MemoryStore, Outcome, Parser, Request, Tracker,
};
use time::OffsetDateTime;

const THREADS: usize = 2;
const TOKEN: &str = "8f1c0f7e2b9d";
const RETENTION: Duration = Duration::from_secs(36 * 3600);
const DAY_MS: u64 = 86_400_000;
const START_MS: u64 = 1_732_406_400_000;
/// Spreads click numbers over the 80 random bits of an id (odd, so distinct numbers give
/// distinct ids).
const SPREAD: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
/// Heap per stored click with one conversion, at most: 128 for the click (the worst fill level
/// of its table) and 352 for the conversion (its 104-byte slot at the conversions table's
/// lowest fill, and its history entry), both asserted by `tests/it/alloc.rs`.
const BYTES_PER_CONVERTED_CLICK: usize = 128 + 352;

/// One day's numbers of postbacks, by kind.
#[derive(Debug, Clone, Copy)]
struct Mix {
    new: usize,
    retries: usize,
    unknown: usize,
    bad_token: usize,
}

impl Mix {
    /// 60/20/10/10 of `total`.
    fn of(total: usize) -> Self {
        Self {
            new: total / 10 * 6,
            retries: total / 10 * 2,
            unknown: total / 10,
            bad_token: total / 10,
        }
    }

    fn total(self) -> usize {
        self.new + self.retries + self.unknown + self.bad_token
    }
}

/// Outcomes counted by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    recorded: u64,
    duplicate: u64,
    click_not_found: u64,
    unauthorized: u64,
    other: u64,
}

impl Counts {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Recorded => self.recorded += 1,
            Outcome::Duplicate => self.duplicate += 1,
            Outcome::ClickNotFound => self.click_not_found += 1,
            Outcome::Unauthorized(_) => self.unauthorized += 1,
            _ => self.other += 1,
        }
    }

    fn sum(self, other: Self) -> Self {
        Self {
            recorded: self.recorded + other.recorded,
            duplicate: self.duplicate + other.duplicate,
            click_not_found: self.click_not_found + other.click_not_found,
            unauthorized: self.unauthorized + other.unauthorized,
            other: self.other + other.other,
        }
    }

    /// What a day of `mix` must give.
    fn expected(mix: Mix) -> Self {
        Self {
            recorded: mix.new as u64,
            duplicate: mix.retries as u64,
            click_not_found: mix.unknown as u64,
            unauthorized: mix.bad_token as u64,
            other: 0,
        }
    }
}

/// A small xorshift: a fixed, repeatable order without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Click `n` of day `day`.
fn click_id(day: u64, n: usize) -> ClickId {
    ClickId::from_parts(START_MS + day * DAY_MS, (n as u128).wrapping_mul(SPREAD))
}

/// An id the tracker never issued: one millisecond after the day's clicks.
fn unknown_id(day: u64, n: usize) -> ClickId {
    ClickId::from_parts(
        START_MS + day * DAY_MS + 1,
        (n as u128).wrapping_mul(SPREAD),
    )
}

/// One postback of a day, before formatting.
#[derive(Clone, Copy)]
enum Kind {
    New(u64, usize),
    Unknown(usize),
    BadToken(usize),
}

/// A day's requests, formatted into one buffer before the clock starts.
struct Batch {
    text: String,
    ends: Vec<usize>,
}

impl Batch {
    fn new(day: u64, mix: Mix) -> Self {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (day + 1).wrapping_mul(0x9e37_79b9));
        let mut kinds = Vec::with_capacity(mix.total());
        kinds.extend((0..mix.new).map(|n| Kind::New(day, n)));
        for _ in 0..mix.retries {
            // A retry is the very request sent before: today's or, after day 0, yesterday's.
            let from = if day > 0 && rng.below(2) == 0 {
                day - 1
            } else {
                day
            };
            kinds.push(Kind::New(from, rng.below(mix.new)));
        }
        kinds.extend((0..mix.unknown).map(Kind::Unknown));
        kinds.extend((0..mix.bad_token).map(|_| Kind::BadToken(rng.below(mix.new))));
        for i in (1..kinds.len()).rev() {
            kinds.swap(i, rng.below(i + 1));
        }
        let mut text = String::with_capacity(kinds.len() * 112);
        let mut ends = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let (id, token) = match kind {
                Kind::New(day, n) => (click_id(day, n), TOKEN),
                Kind::Unknown(n) => (unknown_id(day, n), TOKEN),
                Kind::BadToken(n) => (click_id(day, n), "wrong-token"),
            };
            let _ = write!(
                text,
                "/postback?click_id={id}&status=approved&payout=1.50&currency=USD&token={token}"
            );
            ends.push(text.len());
        }
        Self { text, ends }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |j| self.ends[j]);
        &self.text[start..self.ends[i]]
    }

    fn bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * size_of::<usize>()
    }
}

/// The tracker and the simulated clock.
struct Sim {
    tracker: Tracker<MemoryStore>,
    mix: Mix,
    day: u64,
}

/// What one day did.
struct Day {
    elapsed: Duration,
    /// CPU time of the process (all threads) while timed, when known.
    cpu: Option<Duration>,
    counts: Counts,
    stored: usize,
    purged: usize,
    batch_bytes: usize,
}

impl Sim {
    fn new(postbacks_per_day: usize, capacity: usize) -> Self {
        let store = MemoryStore::with_config(
            MemoryConfig::new()
                .with_capacity(capacity)
                .with_retention(RETENTION),
        );
        let tracker = Tracker::new(store, Parser::generic())
            .with_guard(Guard::new().with_token(TOKEN))
            .expect("the generic profile reads the token where the guard does")
            .with_log_capacity(log_capacity());
        Self {
            tracker,
            mix: Mix::of(postbacks_per_day),
            day: 0,
        }
    }

    /// Runs one day: purge, record the day's clicks and format its postbacks (untimed), then
    /// handle them on [`THREADS`] threads (timed), and check the day's counts.
    fn day(&mut self) -> Day {
        let day = self.day;
        self.day += 1;
        let millis = i128::from(START_MS + day * DAY_MS + DAY_MS / 2);
        let now =
            OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).expect("a day in 2024");
        let store = self.tracker.store();
        let purged = store.purge_expired(now);
        for n in 0..self.mix.new {
            let inserted = self.tracker.record_click(Click::from_id(click_id(day, n)));
            assert_eq!(inserted, Ok(Inserted::New), "day {day}: click {n}");
        }
        let stored = store.len();
        assert!(stored <= store.capacity(), "{stored} clicks stored");
        let batch = Batch::new(day, self.mix);
        let tracker = &self.tracker;
        let cpu_start = cpu_time();
        let start = Instant::now();
        let counts = std::thread::scope(|s| {
            let half = batch.len().div_ceil(THREADS);
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let batch = &batch;
                    s.spawn(move || {
                        let mut counts = Counts::default();
                        for i in t * half..((t + 1) * half).min(batch.len()) {
                            counts.add(&tracker.handle(&Request::get(batch.get(i)), now));
                        }
                        counts
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a worker thread panicked"))
                .fold(Counts::default(), Counts::sum)
        });
        let elapsed = start.elapsed();
        let cpu = cpu_time()
            .zip(cpu_start)
            .and_then(|(end, start)| end.checked_sub(start));
        assert_eq!(counts, Counts::expected(self.mix), "day {day}");
        Day {
            elapsed,
            cpu,
            counts,
            stored,
            purged,
            batch_bytes: batch.bytes(),
        }
    }
}

/// User and system CPU time of this process, all threads (Linux, at its 10 ms resolution):
/// per postback it is what a postback costs whatever else the machine runs.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // Clock ticks: 100 a second on Linux (USER_HZ).
    Some(Duration::from_millis((utime + stime) * 10))
}

/// `VmRSS` and `VmHWM` of this process in bytes (Linux), or `None`.
fn memory() -> Option<(usize, usize)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<usize> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: usize = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn per_postback(time: Option<Duration>, postbacks: usize) -> String {
    time.map_or_else(
        || "n/a".to_owned(),
        |t| format!("{:.0}", t.as_nanos() as f64 / postbacks as f64),
    )
}

fn mib(bytes: usize) -> String {
    format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
}

fn show(memory: Option<(usize, usize)>) -> String {
    memory.map_or_else(
        || "rss n/a, peak n/a".to_owned(),
        |(rss, hwm)| format!("rss {}, peak {}", mib(rss), mib(hwm)),
    )
}

/// The store's capacity: room for 2.5 days of clicks, of which it holds two (the retention
/// drops the day before yesterday's); at least 100,000 so that small runs do not fill a shard.
fn capacity(postbacks_per_day: usize) -> usize {
    (Mix::of(postbacks_per_day).new / 2 * 5).max(100_000)
}

/// The most the peak may grow over a run: a full store of converted clicks, a full log, one
/// day's requests (the day's text, which is freed before the next is made), and 64 MiB for
/// thread stacks and allocator arenas.
fn memory_bound(capacity: usize, batch_bytes: usize) -> usize {
    capacity * BYTES_PER_CONVERTED_CLICK
        + log_capacity() * (MAX_LOGGED_REQUEST + 1024)
        + 2 * batch_bytes
        + (64 << 20)
}

/// The whole run in one process: the simulation, and what it measured so far.
struct Run {
    sim: Sim,
    before: Option<(usize, usize)>,
    days: u64,
    total: Duration,
    /// CPU time while timed, all threads, when known.
    cpu: Option<Duration>,
    counts: Counts,
    max_batch: usize,
    peak_day_3: Option<usize>,
}

impl Run {
    fn new(postbacks_per_day: usize) -> Self {
        let before = memory();
        let capacity = capacity(postbacks_per_day);
        println!(
            "load: one tracker, {postbacks_per_day} postbacks a day (60% new, 20% retries, 10% \
             unknown click, 10% bad token) on {THREADS} threads; store capacity {capacity} clicks, \
             retention {}h; log bound {}",
            RETENTION.as_secs() / 3600,
            log_capacity()
        );
        println!("load: before: {}", show(before));
        Self {
            sim: Sim::new(postbacks_per_day, capacity),
            before,
            days: 0,
            total: Duration::ZERO,
            cpu: Some(Duration::ZERO),
            counts: Counts::default(),
            max_batch: 0,
            peak_day_3: None,
        }
    }

    /// Runs one more day, prints its figures and returns its timed part.
    fn day(&mut self) -> Duration {
        let d = self.sim.day();
        self.days += 1;
        self.total += d.elapsed;
        self.cpu = self.cpu.zip(d.cpu).map(|(a, b)| a + b);
        self.counts = self.counts.sum(d.counts);
        self.max_batch = self.max_batch.max(d.batch_bytes);
        let after = memory();
        if self.days == 3 {
            self.peak_day_3 = after.map(|(_, hwm)| hwm);
        }
        let postbacks = self.sim.mix.total();
        println!(
            "load: day {:>2}: {:>6.0} ms, {:>9.0} postbacks/s, {:>5.0} ns/postback, {} CPU \
             ns/postback; store {} clicks ({} purged); {}",
            self.days,
            d.elapsed.as_secs_f64() * 1e3,
            postbacks as f64 / d.elapsed.as_secs_f64(),
            d.elapsed.as_nanos() as f64 / postbacks as f64,
            per_postback(d.cpu, postbacks),
            d.stored,
            d.purged,
            show(after)
        );
        d.elapsed
    }

    /// Prints the run's figures and checks its counts and memory.
    fn finish(self) {
        let fed = usize::try_from(self.days).expect("days fit") * self.sim.mix.total();
        let after = memory();
        let store = self.sim.tracker.store();
        let log = self.sim.tracker.log();
        let counts = self.counts;
        println!(
            "load: total: {fed} postbacks in {:.2} s: {:.0} postbacks/s, {:.0} ns/postback \
             (wall time of {THREADS} threads, per postback), {} CPU ns/postback (all threads)",
            self.total.as_secs_f64(),
            fed as f64 / self.total.as_secs_f64(),
            self.total.as_nanos() as f64 / fed as f64,
            per_postback(self.cpu, fed)
        );
        println!(
            "load: counts: {} recorded, {} duplicate, {} click_not_found, {} unauthorized, {} \
             other",
            counts.recorded,
            counts.duplicate,
            counts.click_not_found,
            counts.unauthorized,
            counts.other
        );
        println!(
            "load: store {} of {} clicks; log {} of {} entries, {} seen, {} evicted",
            store.len(),
            store.capacity(),
            log.len(),
            log.capacity(),
            log.seen(),
            log.evicted()
        );
        println!("load: after: {}", show(after));
        self.check(fed, after);
    }

    /// Exact counts, and memory bounded by the store's capacity and the log's bound.
    fn check(&self, fed: usize, after: Option<(usize, usize)>) {
        let (store, log, mix) = (
            self.sim.tracker.store(),
            self.sim.tracker.log(),
            self.sim.mix,
        );
        let days = usize::try_from(self.days).expect("days fit");
        // Exact counts: each distinct conversion once, every retry a duplicate.
        let expected = Counts::expected(Mix {
            new: mix.new * days,
            retries: mix.retries * days,
            unknown: mix.unknown * days,
            bad_token: mix.bad_token * days,
        });
        assert_eq!(self.counts, expected, "counts over the run");
        for n in (0..mix.new).step_by(mix.new / 100 + 1) {
            let id = click_id(self.days - 1, n).to_string();
            let conversions = store
                .conversions(&id)
                .expect("a memory store does not fail");
            assert_eq!(conversions.len(), 1, "{id}");
            assert_eq!(conversions[0].history.len(), 1, "{id}");
        }
        // Bounded by the store's capacity and the log's bound.
        assert!(store.len() <= store.capacity());
        assert_eq!(store.len(), mix.new * days.min(2), "two days of clicks");
        assert_eq!(log.len(), log_capacity().min(fed));
        assert_eq!(log.seen(), fed as u64);
        if let (Some((_, start)), Some((_, end))) = (self.before, after) {
            let bound = memory_bound(store.capacity(), self.max_batch);
            println!(
                "load: peak grew by {} over the run (bound {})",
                mib(end - start),
                mib(bound)
            );
            assert!(end - start <= bound, "peak grew by {}", mib(end - start));
            if let Some(day_3) = self.peak_day_3 {
                assert!(
                    end <= day_3 + day_3 / 4,
                    "peak {} at the end, {} after day 3: memory kept growing",
                    mib(end),
                    mib(day_3)
                );
            }
        }
    }
}

/// The criterion view: the median of 10 samples of one day each. Its days are days of the
/// run: one `Tracker` sees all of them.
fn load(c: &mut Criterion, run: &mut Run) {
    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        // Short on purpose: one day per sample (criterion warns that it needs longer).
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(run.sim.mix.total() as u64));
    group.bench_function("postbacks_1m", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run.day()).sum());
    });
    group.finish();
}

/// The postback log's bound: 10,000 entries, or `POSTBACK_LOAD_LOG` (0: no log, which
/// shows what keeping one costs).
fn log_capacity() -> usize {
    std::env::var("POSTBACK_LOAD_LOG")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

/// Days at least, and postbacks per day: 10 × 1,000,000 under `--bench`
/// (`POSTBACK_LOAD_DAYS` changes the days), 2 × 10,000 otherwise.
fn scale() -> (u64, usize) {
    if std::env::args().any(|a| a == "--bench") {
        let days = std::env::var("POSTBACK_LOAD_DAYS")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(10);
        (days, 1_000_000)
    } else {
        (2, 10_000)
    }
}

/// Whether the command line's filter, if any, selects this bench (`cargo bench -- parse` runs
/// every bench binary with the filter `parse`: this one then does nothing), and it is not
/// `--list`.
fn selected() -> bool {
    const WITH_VALUE: [&str; 12] = [
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--output-format",
        "--color",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
    ];
    let mut args = std::env::args().skip(1);
    let mut filters = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--list" {
            return false;
        }
        if WITH_VALUE.contains(&arg.as_str()) {
            let _ = args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    filters.is_empty()
        || filters
            .iter()
            .any(|f| "load/postbacks_1m".contains(f.as_str()))
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    if selected() {
        let (days, postbacks_per_day) = scale();
        let mut run = Run::new(postbacks_per_day);
        load(&mut criterion, &mut run);
        while run.days < days {
            let _ = run.day();
        }
        run.finish();
    }
    criterion.final_summary();
}
