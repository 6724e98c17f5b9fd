//! `Request`: the borrowed view of one HTTP request.

use postback::Request;

#[test]
fn path_and_query_of_origin_form_and_full_urls() {
    let cases = [
        (
            "/postback?subid=abc&status=sale",
            "/postback",
            Some("subid=abc&status=sale"),
        ),
        ("/postback", "/postback", None),
        ("/postback?", "/postback", Some("")),
        ("/a/b?x=1#frag", "/a/b", Some("x=1")),
        ("/a#frag?not=query", "/a", None),
        (
            "https://track.example/pb?subid=abc",
            "/pb",
            Some("subid=abc"),
        ),
        ("https://track.example:8443/k/pb?x=1", "/k/pb", Some("x=1")),
        ("https://track.example?x=1", "/", Some("x=1")),
        ("https://track.example", "/", None),
        ("http://[2001:db8::1]:8080/pb?x=1", "/pb", Some("x=1")),
        ("?x=1", "", Some("x=1")),
        ("", "", None),
        ("pb?x=1", "pb", Some("x=1")),
    ];
    for (target, path, query) in cases {
        let req = Request::get(target);
        assert_eq!(req.target(), target);
        assert_eq!(req.path(), path, "path of {target}");
        assert_eq!(req.query(), query, "query of {target}");
    }
}

#[test]
fn headers_are_case_insensitive_and_keep_order() {
    let headers = [
        ("X-Forwarded-For", "1.1.1.1"),
        ("Host", "h"),
        ("x-forwarded-for", "2.2.2.2"),
    ];
    let req = Request::get("/")
        .with_headers(&headers)
        .with_header("X-FORWARDED-FOR", "3.3.3.3");
    assert_eq!(req.header("x-forwarded-for"), Some("1.1.1.1"));
    assert_eq!(req.header("HOST"), Some("h"));
    assert_eq!(req.header("Forwarded"), None);
    let all: Vec<&str> = req.header_values("X-Forwarded-For").collect();
    assert_eq!(all, ["1.1.1.1", "2.2.2.2", "3.3.3.3"]);
    let reversed: Vec<&str> = req.header_values("X-Forwarded-For").rev().collect();
    assert_eq!(reversed, ["3.3.3.3", "2.2.2.2", "1.1.1.1"]);
}

#[test]
fn post_keeps_body_and_peer() {
    let peer = "192.0.2.1".parse().unwrap();
    let req = Request::post("/pb?x=1", b"a=1").with_peer(peer);
    assert_eq!(req.body(), Some(&b"a=1"[..]));
    assert_eq!(req.peer(), Some(peer));
    assert_eq!(Request::get("/").peer(), None);
}
