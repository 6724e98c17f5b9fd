//! Parsing one postback: the crate's single-pass parser against `url` + a `HashMap`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postback::postback::Parser;

/// The 10-parameter postback the issue pins.
const URL: &str = "https://tracker.example/postback?click_id=01JD3X5V7QK2M8N4P6R9S1T3W5&status=approved&payout=12.50&currency=USD&txid=TX-99812&offer_id=417&goal=deposit&ts=1732435200&token=s3cr3t&sub2=fb_ads";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(URL.len() as u64));
    let parser = Parser::generic();
    group.bench_function("postback", |b| {
        b.iter(|| {
            let pb = parser.parse(black_box(URL)).ok();
            black_box(
                pb.as_ref()
                    .map(|pb| (pb.click_id().len(), pb.state(), pb.payout())),
            );
        });
    });
    group.bench_function("baseline_url_hashmap", |b| {
        b.iter(|| {
            let url = url::Url::parse(black_box(URL)).ok();
            let params: HashMap<_, _> = url.iter().flat_map(url::Url::query_pairs).collect();
            black_box(params.get("click_id").map(|v| v.len()));
        });
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
