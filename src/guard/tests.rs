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
}

#[test]
fn constant_time_eq_is_plain_equality() {
    assert!(constant_time_eq(b"", b""));
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"\x00", b"\x80"));
}
