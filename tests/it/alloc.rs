//! Allocation bounds of the hot path, counted (per thread) by `allocation-counter`.

use postback::{Click, ClickId, ClickStore, MemoryStore, Parser, Request, Tracker};

/// The parse bench's postback: nothing in it needs percent-decoding.
const URL: &str = "https://tracker.example/postback?click_id=01JD3X5V7QK2M8N4P6R9S1T3W5&status=approved&payout=12.50&currency=USD&txid=TX-99812&offer_id=417&goal=deposit&ts=1732435200&token=s3cr3t&sub2=fb_ads";

#[test]
fn parsing_an_unencoded_postback_allocates_nothing() {
    let parser = Parser::generic();
    // The profile's parameter index is built once, on first use: not part of a parse.
    parser.parse(URL).unwrap();
    let info = allocation_counter::measure(|| {
        let pb = parser.parse(URL).unwrap();
        assert_eq!(pb.click_id(), "01JD3X5V7QK2M8N4P6R9S1T3W5");
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn handling_a_duplicate_allocates_nothing() {
    let tracker = Tracker::new(MemoryStore::new(), Parser::generic()).with_log_capacity(0);
    let id: ClickId = "01JD3X5V7QK2M8N4P6R9S1T3W5".parse().unwrap();
    let _ = tracker.record_click(Click::from_id(id)).unwrap();
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        tracker.handle(&Request::get(URL), now),
        postback::Outcome::Recorded
    );
    let info = allocation_counter::measure(|| {
        let outcome = tracker.handle(&Request::get(URL), now);
        assert_eq!(outcome, postback::Outcome::Duplicate);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

/// The heap a bare click costs in a `MemoryStore`, at a fill level where the tables have just
/// doubled (the worst case) and where they are nearly full (the best).
#[test]
fn a_stored_click_costs_at_most_128_bytes() {
    for clicks in [150_000usize, 220_000] {
        let store = MemoryStore::new();
        let info = allocation_counter::measure(|| {
            for n in 0..clicks {
                let id = ClickId::from_parts(1_732_435_200_000, n as u128 * 0x9e37_79b9_7f4a_7c15);
                let _ = store.insert(Click::from_id(id)).unwrap();
            }
        });
        let per_click = info.bytes_current / i64::try_from(clicks).unwrap();
        println!("{clicks} clicks: {per_click} bytes of heap per click");
        assert!(
            per_click <= 128,
            "{clicks} clicks cost {per_click} bytes each"
        );
        assert_eq!(store.len(), clicks);
    }
}

#[test]
fn expanding_into_a_reused_buffer_allocates_nothing() {
    let template = postback::Template::parse(
        "https://tr.example/postback?subid={sub1}&payout={sum}&currency={currency}\
         &tid={transactionid}&status={status}&goal={goal}",
    )
    .unwrap();
    let values = [
        ("sub1", "01jdehcg000000000000000016"),
        ("sum", "12.50"),
        ("currency", "USD"),
        ("transactionid", "9f1c2a7e 3b4d/4e5f"), // needs encoding
        ("status", "1"),
        ("goal", "deposit"),
    ];
    let mut buf = String::with_capacity(512);
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            buf.clear();
            let unresolved = template.expand_into(&mut buf, &values).unwrap();
            assert!(unresolved.is_empty());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    assert!(buf.contains("tid=9f1c2a7e%203b4d%2F4e5f"), "{buf}");
}

/// The heap a click's first conversion adds in a `MemoryStore`: its 112-byte slot in the
/// conversions table (which is kept between 2/5 and 4/5 full, so 140 to 280 bytes a
/// conversion) and one history entry (about 80 with malloc's header). Most clicks convert
/// once: the conversion list must not reserve room for four.
#[test]
fn a_recorded_conversion_costs_at_most_368_bytes() {
    let now = time::OffsetDateTime::now_utc();
    let clicks: usize = 20_000;
    let tracker = Tracker::new(MemoryStore::new(), Parser::generic()).with_log_capacity(0);
    let urls: Vec<String> = (0..clicks)
        .map(|n| {
            let id = ClickId::from_parts(1_732_435_200_000, n as u128 * 0x9e37_79b9_7f4a_7c15);
            let _ = tracker.record_click(Click::from_id(id)).unwrap();
            format!("/pb?click_id={id}&status=approved&payout=1.50&currency=USD")
        })
        .collect();
    let info = allocation_counter::measure(|| {
        for url in &urls {
            assert_eq!(
                tracker.handle(&Request::get(url), now),
                postback::Outcome::Recorded
            );
        }
    });
    let per_conversion = info.bytes_current / i64::try_from(clicks).unwrap();
    println!("a first conversion: {per_conversion} bytes of heap");
    assert!(
        per_conversion <= 368,
        "a conversion costs {per_conversion} bytes"
    );
}
