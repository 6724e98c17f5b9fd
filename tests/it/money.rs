//! Exact amounts and currency codes.

use postback::money::{Amount, AmountErrorKind, Currency};

#[test]
fn amounts_parse_exactly_and_compare_by_value() {
    for (text, units, scale, shown) in [
        ("12.50", 1250, 2, "12.50"),
        ("12,34", 1234, 2, "12.34"),
        ("0.1", 1, 1, "0.1"),
        ("-5.50", -550, 2, "-5.50"),
        ("+3", 3, 0, "3"),
        ("007", 7, 0, "7"),
        ("-0.05", -5, 2, "-0.05"),
        (
            "123456789012345678",
            123_456_789_012_345_678,
            0,
            "123456789012345678",
        ),
    ] {
        let amount: Amount = text.parse().unwrap();
        assert_eq!((amount.units(), amount.scale()), (units, scale), "{text}");
        assert_eq!(amount.to_string(), shown, "{text}");
    }
    let a: Amount = "12.50".parse().unwrap();
    let b: Amount = "12.5".parse().unwrap();
    assert_eq!(a, b);
    assert!(a > "12.49".parse().unwrap());
    assert!("-1".parse::<Amount>().unwrap().is_negative());
    assert!("0.00".parse::<Amount>().unwrap().is_zero());
}

#[test]
fn amount_errors_are_never_zero() {
    for (text, kind) in [
        ("", AmountErrorKind::Empty),
        ("-", AmountErrorKind::Empty),
        ("1.234,56", AmountErrorKind::SeveralSeparators),
        ("1,234,567", AmountErrorKind::SeveralSeparators),
        ("$12", AmountErrorKind::InvalidCharacter),
        ("12 EUR", AmountErrorKind::InvalidCharacter),
        ("12.50 13.00", AmountErrorKind::InvalidCharacter),
        ("1e3", AmountErrorKind::InvalidCharacter),
        ("auto", AmountErrorKind::InvalidCharacter),
        ("12.", AmountErrorKind::MisplacedSeparator),
        (".5", AmountErrorKind::MisplacedSeparator),
        ("9223372036854775808", AmountErrorKind::TooManyDigits),
        ("123456789012345678901", AmountErrorKind::TooManyDigits),
        ("0.0000000000000000001", AmountErrorKind::TooManyDigits),
    ] {
        let err = text.parse::<Amount>().unwrap_err();
        assert_eq!(err.kind(), kind, "{text}");
    }
}

#[test]
fn currencies_are_three_upper_case_letters() {
    assert_eq!("usd".parse::<Currency>().unwrap().as_str(), "USD");
    assert_eq!("Eur".parse::<Currency>().unwrap().to_string(), "EUR");
    for bad in ["", "US", "USDT", "U$D", "12A", "dollars"] {
        assert!(bad.parse::<Currency>().is_err(), "{bad}");
    }
    assert_eq!(
        "US".parse::<Currency>().unwrap_err().to_string(),
        "not a currency code `US`: expected three letters such as USD"
    );
}

#[cfg(feature = "serde")]
#[test]
fn money_serializes_as_text() {
    let amount: Amount = "12.50".parse().unwrap();
    let json = serde_json::to_string(&amount).unwrap();
    assert_eq!(json, "\"12.50\"");
    assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), amount);
    let usd: Currency = serde_json::from_str("\"usd\"").unwrap();
    assert_eq!(serde_json::to_string(&usd).unwrap(), "\"USD\"");
}
