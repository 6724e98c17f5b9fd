//! How fast hostile input is refused: one function per input of `tests/it/bounds.rs`, parsed
//! with the `generic` profile and default limits (8 KiB, 256 parameters, 512-byte values).
//!
//! `cargo bench --bench bounds`
//!
//! A megabyte, 100k parameters and a 10k-character click id are all refused by the input's
//! length before a byte is read; the others are read (one pass) and refused at the byte that
//! is wrong. `repeated_click_id` is the case that once allocated a copy per repeat.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use postback::parse::Parser;

/// Every hostile input, by bench name.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut query_1mb = b"/postback?click_id=123&pad=".to_vec();
    query_1mb.resize(1 << 20, b'a');
    let mut params_100k = b"click_id=123".to_vec();
    for _ in 0..100_000 {
        params_100k.extend_from_slice(b"&p=1");
    }
    let mut click_id_10k = b"click_id=".to_vec();
    click_id_10k.resize(click_id_10k.len() + 10_000, b'1');
    // Within 8 KiB: read whole, decoded once, refused at the value bound.
    let nested_encoding = [&b"click_id=123%25"[..], &b"25".repeat(3000), b"41"].concat();
    let mut repeated_click_id = b"click_id=+".to_vec();
    repeated_click_id.resize(4010, b'1');
    for _ in 0..250 {
        repeated_click_id.extend_from_slice(b"&click_id=2");
    }
    vec![
        ("query_1mb", query_1mb),
        ("params_100k", params_100k),
        ("click_id_10k", click_id_10k),
        ("nested_encoding", nested_encoding),
        ("nul_byte", b"click_id=12%003&status=approved".to_vec()),
        (
            "invalid_utf8",
            b"click_id=12%C3%28&status=approved".to_vec(),
        ),
        (
            "overlong_utf8",
            b"click_id=12%E0%80%AF&status=approved".to_vec(),
        ),
        (
            "truncated_escape",
            b"click_id=12%4&status=approved".to_vec(),
        ),
        ("repeated_click_id", repeated_click_id),
    ]
}

fn bounds(c: &mut Criterion) {
    let parser = Parser::generic();
    let mut group = c.benchmark_group("bounds");
    for (name, input) in inputs() {
        // Each must be refused: a bench of an accepted input would measure something else.
        let Err(err) = parser.parse_bytes(&input) else {
            panic!("{name} was accepted");
        };
        assert!(
            matches!(err.code(), "too_long" | "malformed"),
            "{name}: {err}"
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(parser.parse_bytes(black_box(&input)).is_err()));
        });
    }
    group.finish();
}

criterion_group!(benches, bounds);
criterion_main!(benches);
