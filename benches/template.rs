//! Expanding a compiled postback template versus chained `str::replace`.
//!
//! Both sides build the same 6-macro Keitaro postback from the same values; the template side
//! writes into a reused buffer, which is how a tracker fires postbacks in a loop.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postback::template::Template;

const SRC: &str = "https://tr.example/a1b2c3/postback?subid={sub1}&payout={sum}&currency={currency}\
                   &tid={transactionid}&status={status}&goal={goal}";

const VALUES: [(&str, &str); 6] = [
    ("sub1", "01jdehcg000000000000000016"),
    ("sum", "12.50"),
    ("currency", "USD"),
    ("transactionid", "9f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"),
    ("status", "1"),
    ("goal", "deposit"),
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("template");
    group.throughput(Throughput::Bytes(SRC.len() as u64));
    let tpl = Template::parse(SRC).expect("the bench template parses");
    let mut buf = String::with_capacity(512);
    group.bench_function("expand_into", |b| {
        b.iter(|| {
            buf.clear();
            let unresolved = tpl
                .expand_into(&mut buf, black_box(&VALUES))
                .expect("all values given");
            black_box((&buf, unresolved.is_empty()));
        });
    });
    group.bench_function("baseline_str_replace", |b| {
        b.iter(|| {
            let mut out = black_box(SRC).to_owned();
            for (name, value) in black_box(&VALUES) {
                out = out.replace(&format!("{{{name}}}"), value);
            }
            black_box(out)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
