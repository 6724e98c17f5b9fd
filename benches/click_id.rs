//! Click-id generation: ours against `uuid` v7 and `ulid`, each generating and formatting one
//! id into a stack buffer, in the same run.
//!
//! `cargo bench --bench click_id`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use postback::ClickIdGenerator;

fn click_id(c: &mut Criterion) {
    let mut group = c.benchmark_group("click_id");

    let ids = ClickIdGenerator::new();
    group.bench_function("generate", |b| {
        b.iter(|| {
            let text = ids.generate().encode();
            black_box(text);
        });
    });

    group.bench_function("uuid_v7", |b| {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        b.iter(|| {
            let id = uuid::Uuid::now_v7();
            black_box(id.hyphenated().encode_lower(&mut buf).len());
        });
    });

    group.bench_function("ulid", |b| {
        let mut buf = [0u8; ulid::ULID_LEN];
        b.iter(|| {
            let id = ulid::Ulid::generate();
            black_box(id.array_to_str(&mut buf).len());
        });
    });

    group.finish();
}

criterion_group!(benches, click_id);
criterion_main!(benches);
