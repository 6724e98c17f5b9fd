//! Cost of `Guard::check` per postback, for the tracker's hot-path budget.
//!
//! `cargo bench --bench guard` (add `--features signature` for the HMAC case).

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use postback::Request;
use postback::guard::{Cidr, Guard};
use time::OffsetDateTime;

const TARGET: &str = "/postback?subid=01jdejyj00000000000000001a&status=approved&payout=12.50&currency=USD&txid=T-88213&token=9f2c7a51d0e84b6f";

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard");
    let now = OffsetDateTime::UNIX_EPOCH;

    let token_only = Guard::new().with_token("9f2c7a51d0e84b6f");
    let req = Request::get(TARGET);
    group.bench_function("token", |b| {
        b.iter(|| token_only.check(black_box(&req), now));
    });

    let full = Guard::new()
        .with_token("9f2c7a51d0e84b6f")
        .with_allowed_nets(Cidr::parse_list("203.0.113.0/24, 2001:db8::/32").expect("nets"))
        .with_trusted_proxy("10.0.0.0/8".parse().expect("proxy"));
    let headers = [
        ("Host", "track.example"),
        ("User-Agent", "network-postback/1.0"),
        ("X-Forwarded-For", "198.51.100.1, 203.0.113.9"),
    ];
    let peer: IpAddr = "10.0.0.2".parse().expect("peer");
    let req = Request::get(TARGET).with_peer(peer).with_headers(&headers);
    group.bench_function("token_allow_list_proxy", |b| {
        b.iter(|| full.check(black_box(&req), now));
    });

    #[cfg(feature = "signature")]
    {
        use postback::guard::Signature;
        let signature = Signature::new("k3y-shared-with-the-network");
        let params = "subid=01jdejyj00000000000000001a&status=approved&payout=12.50&ts=0";
        let target = format!("/postback?{params}&sig={}", signature.sign(params));
        let signed = Guard::new().with_signature(signature);
        let req = Request::get(&target);
        group.bench_function("signature", |b| {
            b.iter(|| signed.check(black_box(&req), now));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
