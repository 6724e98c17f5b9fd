use super::*;

#[test]
fn decode_table_is_the_inverse_of_the_alphabet() {
    for (value, &c) in ALPHABET.iter().enumerate() {
        assert_eq!(usize::from(DECODE[usize::from(c)]), value);
        assert_eq!(
            usize::from(DECODE[usize::from(c.to_ascii_uppercase())]),
            value
        );
    }
    let valid = DECODE.iter().filter(|&&d| d != INVALID).count();
    assert_eq!(valid, 32 + 22, "digits once, 22 letters in two cases");
}

#[test]
fn max_timestamp_is_the_last_representable_millisecond() {
    let max = ClickId::from_parts(MAX_TIMESTAMP_MS, 0).timestamp();
    assert_eq!(max.year(), 9999);
    assert_eq!(
        ClickId::from_parts(MAX_TIMESTAMP_MS + 1, 0).timestamp(),
        max,
        "later times clamp"
    );
}
