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

/// The digit-at-a-time reading the fast parser must agree with, error for error.
fn parse_reference(text: &[u8]) -> Result<ClickId, ParseClickIdError> {
    if text.len() != ClickId::LENGTH {
        return Err(ParseClickIdError::InvalidLength { len: text.len() });
    }
    let mut value: u128 = 0;
    for (at, &byte) in text.iter().enumerate() {
        let digit = DECODE[usize::from(byte)];
        if digit == INVALID {
            return Err(ParseClickIdError::InvalidChar { at, byte });
        }
        if at == 0 && digit > 7 {
            return Err(ParseClickIdError::Overflow { byte });
        }
        value = value << 5 | u128::from(digit);
    }
    Ok(ClickId(value))
}

proptest::proptest! {
    #[test]
    fn parse_agrees_with_the_digit_at_a_time_reading(
        text in proptest::collection::vec(
            proptest::prop_oneof![
                20 => proptest::sample::select(ALPHABET.to_vec()),
                2 => proptest::sample::select(b"ABZ89ilou-_\0\xff".to_vec()),
            ],
            25..28,
        ),
    ) {
        proptest::prop_assert_eq!(ClickId::parse_bytes(&text), parse_reference(&text));
    }
}
