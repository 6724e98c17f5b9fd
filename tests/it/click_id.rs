use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use postback::click_id::ParseClickIdError;
use postback::{ClickId, ClickIdGenerator};
use proptest::prelude::*;

#[track_caller]
fn check_err(input: &str, want: &ParseClickIdError, message: &str) {
    let err = ClickId::parse(input).unwrap_err();
    assert_eq!(&err, want, "{input:?}");
    assert_eq!(err.to_string(), message, "{input:?}");
}

#[test]
fn bad_inputs_name_the_offending_byte() {
    use ParseClickIdError as E;
    // A private constructor keeps the variants non-exhaustive; compare through messages and
    // matches instead of building values.
    let cases: &[(&str, &str)] = &[
        ("", "click id must be 26 characters long, got 0"),
        ("01jd", "click id must be 26 characters long, got 4"),
        (
            "01jdehcg0000000000000000016",
            "click id must be 26 characters long, got 27",
        ),
        (
            "01jdehcg00000000000000001i",
            "invalid character `i` at byte 25 of click id: expected 0-9 or a letter other than i, l, o, u",
        ),
        (
            "01jdehcg0000L0000000000016",
            "invalid character `L` at byte 12 of click id: expected 0-9 or a letter other than i, l, o, u",
        ),
        (
            "01jdehcg00000000000000-016",
            "invalid character `-` at byte 22 of click id: expected 0-9 or a letter other than i, l, o, u",
        ),
        (
            "01jdehcg00000 00000000016x",
            "invalid character 0x20 at byte 13 of click id: expected 0-9 or a letter other than i, l, o, u",
        ),
        (
            "8zzzzzzzzzzzzzzzzzzzzzzzzz",
            "click id overflows 128 bits: its first character is `8`, but must be 0-7 (at byte 0)",
        ),
        (
            "Zzzzzzzzzzzzzzzzzzzzzzzzzz",
            "click id overflows 128 bits: its first character is `Z`, but must be 0-7 (at byte 0)",
        ),
    ];
    for &(input, message) in cases {
        let err = ClickId::parse(input).unwrap_err();
        assert_eq!(err.to_string(), message, "{input:?}");
    }
    match ClickId::parse("01jdehcg00000000000000001u") {
        Err(E::InvalidChar {
            at: 25, byte: b'u', ..
        }) => {}
        other => panic!("unexpected {other:?}"),
    }
    // Non-ASCII: the byte offset points into the UTF-8 encoding, and its length counts bytes.
    let err = ClickId::parse("01jdehcg0000000000000000é").unwrap_err();
    assert!(
        matches!(
            err,
            E::InvalidChar {
                at: 24,
                byte: 0xc3,
                ..
            }
        ),
        "{err:?}"
    );
    check_err(
        "01jdehcg0000000000000000é",
        &err,
        "invalid character 0xc3 at byte 24 of click id: expected 0-9 or a letter other than i, l, o, u",
    );
}

#[test]
fn known_value_has_known_text() {
    let id = ClickId::from_parts(1_732_435_200_000, 42);
    assert_eq!(id.to_string(), "01jdejyj00000000000000001a");
    assert_eq!(id.timestamp_ms(), 1_732_435_200_000);
    assert_eq!(
        id.timestamp(),
        time::Date::from_calendar_date(2024, time::Month::November, 24)
            .unwrap()
            .with_hms(8, 0, 0)
            .unwrap()
            .assume_utc()
    );
    assert_eq!(
        ClickId::from_u128(u128::MAX).to_string(),
        "7zzzzzzzzzzzzzzzzzzzzzzzzz"
    );
    assert_eq!(
        ClickId::from_u128(0).to_string(),
        "00000000000000000000000000"
    );
    assert_eq!(format!("{id:?}"), "ClickId(01jdejyj00000000000000001a)");
    assert_eq!(format!("{id:>28}"), "  01jdejyj00000000000000001a");
}

#[test]
fn fixed_clock_still_gives_increasing_unique_ids() {
    let ids = ClickIdGenerator::with_sources(|| 1_000, || 7u128);
    let mut previous = ids.generate();
    for _ in 0..1000 {
        let next = ids.generate();
        assert!(next > previous);
        assert!(
            next.to_string() > previous.to_string(),
            "text sorts like the id"
        );
        previous = next;
    }
}

#[test]
fn clock_going_backwards_never_repeats_or_reorders() {
    let time = AtomicU64::new(5_000);
    let ids = ClickIdGenerator::with_sources(
        || time.load(Ordering::Relaxed),
        || 0xdead_beef_u128 << 64 | 0x1234,
    );
    let a = ids.generate();
    time.store(1_000, Ordering::Relaxed);
    let b = ids.generate();
    assert!(b > a);
    assert_eq!(b.timestamp_ms(), 5_000, "the id keeps the later time");
}

#[test]
fn sequence_overflow_carries_into_the_timestamp_without_panicking() {
    // Entropy that starts every millisecond's sequence at its maximum.
    let ids = ClickIdGenerator::with_sources(|| 42, || u128::MAX);
    let first = ids.generate();
    assert_eq!(first.timestamp_ms(), 42);
    let second = ids.generate();
    assert!(second > first);
    assert_eq!(
        second.timestamp_ms(),
        43,
        "overflow borrows the next millisecond"
    );
    // Clock far in the future and at the field's edge: clamped, never a panic.
    let far = ClickIdGenerator::with_sources(|| u64::MAX, || u128::MAX);
    let (x, y) = (far.generate(), far.generate());
    assert!(y > x);
    assert_eq!(x.timestamp().year(), 9999);
}

#[test]
fn new_millisecond_uses_entropy_for_low_bits() {
    let ids = ClickIdGenerator::with_sources(|| 1, || 0xabcd_u128 << 64 | 0x0123_4567_89ab_cdef);
    let id = ids.generate();
    assert_eq!(
        id.as_u128(),
        (1u128 << 80) | (0xabcd_u128 << 64) | 0x0123_4567_89ab_cdef
    );
}

#[test]
fn default_generators_are_random() {
    let a = ClickIdGenerator::new().generate();
    let b = ClickIdGenerator::new().generate();
    // Two independent generators share no state: only randomness keeps them apart.
    assert_ne!(a.as_u128() as u64, b.as_u128() as u64);
}

#[test]
fn no_two_ids_equal_across_threads() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 200_000;
    let ids = ClickIdGenerator::new();
    let batches: Vec<Vec<ClickId>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let batch: Vec<ClickId> = (0..PER_THREAD).map(|_| ids.generate()).collect();
                    assert!(
                        batch.windows(2).all(|w| w[0] < w[1]),
                        "each thread sees order"
                    );
                    batch
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u128> = batches
        .into_iter()
        .flatten()
        .map(ClickId::as_u128)
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), THREADS * PER_THREAD);
}

#[test]
fn global_generator_is_monotonic() {
    let ids: Vec<ClickId> = (0..10_000).map(|_| ClickId::generate()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}

#[cfg(feature = "serde")]
#[test]
fn serde_uses_the_text_form() {
    let id = ClickId::from_parts(1_732_435_200_000, 42);
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, "\"01jdejyj00000000000000001a\"");
    assert_eq!(
        serde_json::from_str::<ClickId>("\"01JDEJYJ00000000000000001A\"").unwrap(),
        id
    );
    let err = serde_json::from_str::<ClickId>("\"01jd\"").unwrap_err();
    assert!(err.to_string().contains("26 characters"), "{err}");
}

proptest! {
    #[test]
    fn text_round_trips(value in any::<u128>()) {
        let id = ClickId::from_u128(value);
        let text = id.encode();
        prop_assert_eq!(text.len(), ClickId::LENGTH);
        prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        prop_assert_eq!(ClickId::parse(&text), Ok(id));
        prop_assert_eq!(id.to_string(), text.as_str());
    }

    #[test]
    fn parse_ignores_case(value in any::<u128>(), flips in any::<u32>()) {
        let id = ClickId::from_u128(value);
        let mixed: String = id
            .encode()
            .chars()
            .enumerate()
            .map(|(i, c)| if flips >> (i % 32) & 1 == 1 { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(mixed.parse::<ClickId>(), Ok(id));
    }

    #[test]
    fn order_is_time_order(t1 in 0u64..1 << 48, t2 in 0u64..1 << 48, r1 in any::<u128>(), r2 in any::<u128>()) {
        prop_assume!(t1 != t2);
        let (a, b) = (ClickId::from_parts(t1, r1), ClickId::from_parts(t2, r2));
        prop_assert_eq!(a.cmp(&b), t1.cmp(&t2));
        prop_assert_eq!(a.encode().as_str().cmp(b.encode().as_str()), t1.cmp(&t2));
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = ClickId::parse_bytes(&bytes);
    }
}
