//! Unit tests of the private helpers: macro finding, decoding, query location.

use super::{Segments, Shape, decode, find_macro, query_start, still_encoded};

#[test]
fn finds_every_dialect() {
    for (text, want) in [
        ("{subid}", "{subid}"),
        ("x{{clickid}}y", "{{clickid}}"),
        (
            "{_date:Y-m-d H:i:s,Europe/Kyiv}",
            "{_date:Y-m-d H:i:s,Europe/Kyiv}",
        ),
        ("a${SUBID}", "${SUBID}"),
        ("#s2#", "#s2#"),
        ("[subid]", "[subid]"),
        ("[[subid]]", "[[subid]]"),
        ("[[[payment_sum]]]", "[[[payment_sum]]]"),
        ("!!!clickRef!!!", "!!!clickRef!!!"),
        ("%TRANSACTION_ID%", "%TRANSACTION_ID%"),
        ("<orderid>", "<orderid>"),
        ("REPLACE", "REPLACE"),
        ("OPTIONAL", "OPTIONAL"),
        ("{sub-5}", "{sub-5}"),
    ] {
        let (s, e) = find_macro(text).unwrap_or_else(|| panic!("no macro in {text}"));
        assert_eq!(&text[s..e], want, "{text}");
    }
}

#[test]
fn plain_values_are_not_macros() {
    for text in [
        "abc", "TX-99812", "50%off%", "a{", "{}", "{1}", "#123#", "[]", "!!x!!", "replace", "<>",
        "a<b",
    ] {
        assert_eq!(find_macro(text), None, "{text}");
    }
}

#[test]
fn decode_borrows_plain_values_and_trims() {
    assert!(matches!(
        decode(b" abc "),
        Ok(std::borrow::Cow::Borrowed("abc"))
    ));
    assert_eq!(decode(b"a+b%20c").ok().as_deref(), Some("a b c"));
    assert_eq!(decode(b"abc%2520def").ok().as_deref(), Some("abc%20def"));
    assert!(still_encoded("abc%20def"));
    assert_eq!(decode(b"ab%zz").err().map(|e| e.at), Some(2));
    assert_eq!(decode(b"ab%F").err().map(|e| e.at), Some(2));
    assert_eq!(decode(b"a%20%FF").err().map(|e| e.at), Some(4));
}

#[test]
fn query_is_found_in_each_shape() {
    fn query(s: &str) -> Result<String, crate::ParsePostbackError> {
        let start = query_start(s.as_bytes(), Shape::Detect)?;
        let segs: Vec<String> = Segments::new(s.as_bytes(), start, Shape::Detect)
            .map(|seg| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(seg.key),
                    String::from_utf8_lossy(seg.value)
                )
            })
            .collect();
        Ok(segs.join("&"))
    }
    assert_eq!(
        query("https://h.example/p?a=1#f").ok().as_deref(),
        Some("a=1")
    );
    assert_eq!(query("https://h.example?a=1").ok().as_deref(), Some("a=1"));
    assert_eq!(query("/postback?a=1&b=2").ok().as_deref(), Some("a=1&b=2"));
    assert_eq!(query("/postback#x?a=1").ok().as_deref(), Some(""));
    assert_eq!(query("?a=1").ok().as_deref(), Some("a=1"));
    assert_eq!(
        query("a=1&u=https://x/?y=z").ok().as_deref(),
        Some("a=1&u=https://x/?y=z")
    );
    assert_eq!(query("a&=b&c=d=e").ok().as_deref(), Some("a=&=b&c=d=e"));
    assert_eq!(query("gpb.php?subid=1").ok().as_deref(), Some("subid=1"));
    assert_eq!(query("a=1?&b").ok().as_deref(), Some("a=1?&b="));
    assert!(query("https:///p?a=1").is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Bytes that are UTF-8 parse exactly as the same text does.
    #[test]
    fn parse_bytes_agrees_with_parse_on_text(
        input in "(https://t\\.example/pb\\?|/pb\\?|\\?)?((click_id|status|payout|currency|txid|x)=[a-zA-Z0-9%{}#.é ]{0,8}&?){0,5}",
    ) {
        let parser = super::Parser::generic();
        proptest::prop_assert_eq!(parser.parse_bytes(input.as_bytes()), parser.parse(&input));
    }
}

#[test]
fn parse_bytes_reports_invalid_utf8_where_it_is_read() {
    let parser = super::Parser::generic();
    let ok = parser.parse_bytes(b"https://t.example/pb?x=\xff\xfe&click_id=abc&status=approved");
    assert_eq!(ok.map(|pb| pb.click_id().to_owned()), Ok("abc".to_owned()));

    let err = parser
        .parse_bytes(b"/pb?status=approved&click_id=ab\xffc")
        .unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert_eq!(err.param(), Some("click_id"));
    assert_eq!(err.at(), Some(31));
    assert_eq!(
        err.to_string(),
        "malformed `click_id` at byte 31: the decoded value is not UTF-8: check the sender's character encoding"
    );
}
