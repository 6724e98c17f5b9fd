use super::*;

fn tokens(src: &str, dialect: Dialect) -> Vec<Token> {
    Scanner::new(src, dialect).collect()
}

#[test]
fn scanner_resumes_after_an_unclosed_opener() {
    assert_eq!(
        tokens("a={x&b={y}", Dialect::Brace),
        [
            Token::Lit(0..2),
            Token::Unclosed(2),
            Token::Lit(3..7),
            Token::Macro(ScannedMacro {
                span: 7..10,
                name: 8..9,
                args: None,
                raw: false
            }),
        ]
    );
}

#[test]
fn percent_escapes_are_literal() {
    assert_eq!(tokens("%2F%3a%AB%", Dialect::Percent)[0], Token::Lit(0..9));
}

#[test]
fn value_map_prefers_crate_names_and_reports_reversal_as_rejection() {
    let src = "sale=S approved=A lead=L rejected=R";
    let map = parse_value_map(src, 0..src.len()).unwrap();
    let word = |i: usize| map[i].map(|s| &src[s.range()]);
    assert_eq!(word(0), Some("L"));
    assert_eq!(word(1), Some("A"));
    assert_eq!(word(2), Some("R"));
    assert_eq!(word(3), Some("R"));
    assert_eq!(parse_value_map("Y-m-d H:i:s,Europe/Kyiv", 0..23), None);
}

#[test]
fn component_encoding_escapes_everything_but_unreserved() {
    let mut out = String::new();
    encode_component(&mut out, "aZ9-._~ +&=#%/é");
    assert_eq!(out, "aZ9-._~%20%2B%26%3D%23%25%2F%C3%A9");
}

/// Every dialect's opening byte has a bit in `find_macro`'s one-pass filter, so no dialect is
/// skipped for want of one.
#[test]
fn every_dialect_opener_has_a_filter_bit() {
    for dialect in Dialect::ALL {
        let opener = dialect.delimiters().0.as_bytes()[0];
        assert_ne!(super::opener_bit(opener), 0, "{dialect}");
    }
}
