use super::forwarded::{SplitUnquoted, forwarded_for, parse_node};
use super::*;

#[test]
fn split_unquoted_respects_quotes_and_escapes() {
    let parts: Vec<&str> = SplitUnquoted::new(r#"a,"b,c",d="e\",f",g"#, b',').collect();
    assert_eq!(parts, ["a", r#""b,c""#, r#"d="e\",f""#, "g"]);
    let parts: Vec<&str> = SplitUnquoted::new("", b',').collect();
    assert_eq!(parts, [""]);
    let parts: Vec<&str> = SplitUnquoted::new(r#"x,"unterminated,y"#, b',').collect();
    assert_eq!(parts, ["x", r#""unterminated,y"#]);
}

#[test]
fn split_unquoted_says_when_the_text_ended_inside_a_quote() {
    let ended_open = |text: &str| {
        let mut split = SplitUnquoted::new(text, b',');
        assert!(!split.ended_open(), "known only at the end: {text}");
        split.by_ref().for_each(drop);
        split.ended_open()
    };
    for closed in [
        "",
        "a,b",
        r#"for=1.2.3.4;x="a,b""#,
        r#"x="\"","y""#,
        r"a\",
        r#""""#,
    ] {
        assert!(!ended_open(closed), "{closed}");
    }
    for open in [
        r#"for=203.0.113.9;x=", for=198.51.100.66"#,
        r#"""#,
        r#"x="\"#,
        r#"x="\""#,
        r#"a,"b","c"#,
    ] {
        assert!(ended_open(open), "{open}");
    }
}

#[test]
fn node_forms() {
    let ok = [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1\t", "192.0.2.1"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:65535", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
    ];
    for (text, want) in ok {
        assert_eq!(parse_node(text), want.parse().ok(), "{text}");
    }
    for bad in [
        "",
        "unknown",
        "_hidden",
        "192.0.2.1:",
        "192.0.2.1:123456",
        "[2001:db8::1",
        "[192.0.2.1]",
        "[::1]x",
        "2001:db8::1:80:",
    ] {
        assert_eq!(parse_node(bad), None, "{bad}");
    }
    assert_eq!(
        forwarded_for(r#"by=x;for="[::1]:80";proto=https"#),
        "::1".parse().ok()
    );
    assert_eq!(
        forwarded_for(r#"for="192.0.2.1"#),
        None,
        "unterminated quote"
    );
    assert_eq!(
        forwarded_for(r#"for="192.0.2\.1""#),
        None,
        "escape in an address"
    );
    assert_eq!(forwarded_for("for"), None);
    // RFC 7239 §4: `for` at most once per element, in any case; other parameters are not read.
    for twice in [
        "for=203.0.113.9;for=198.51.100.66",
        "for=203.0.113.9;proto=https;FOR=203.0.113.9",
        "for=unknown; For=198.51.100.66",
        "for=;for=198.51.100.66",
        r#"for="[2001:db8::1]";for=198.51.100.66"#,
    ] {
        assert_eq!(forwarded_for(twice), None, "{twice}");
    }
    assert_eq!(
        forwarded_for("proto=http;proto=https;for=192.0.2.1;by=x;by=y"),
        "192.0.2.1".parse().ok()
    );
    assert_eq!(
        forwarded_for(r#"for=192.0.2.1;x="for=6.6.6.6;for=7.7.7.7""#),
        "192.0.2.1".parse().ok(),
        "a quoted `;for=` is a value, not a parameter"
    );
}

#[test]
fn matches_any_is_plain_equality_with_any_token() {
    let tokens: Vec<Box<[u8]>> = vec![b"abc".as_slice().into(), b"\x80".as_slice().into()];
    assert!(matches_any(b"abc", &tokens));
    assert!(matches_any(b"\x80", &tokens), "a later token matches too");
    assert!(!matches_any(b"abd", &tokens));
    assert!(!matches_any(b"ab", &tokens));
    assert!(!matches_any(b"abcd", &tokens));
    assert!(!matches_any(b"\x00", &tokens));
    assert!(!matches_any(b"", &tokens));
    assert!(!matches_any(b"abc", &[]));
    assert!(matches_any(b"", &[b"".as_slice().into()]));
}
