//! The guard over the public API: tokens, allow-lists behind proxies, signatures.

use std::net::IpAddr;

use postback::Request;
use postback::guard::{Cidr, ForwardedHeader, Guard, GuardError, ParseCidrError, TokenSource};
use proptest::prelude::*;
use time::OffsetDateTime;

const SECRET: &str = "9f2c7a51d0e84b6f";

fn now() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// The data lines of a `tests/data` file: comments and blank lines skipped, fields trimmed.
fn cases(file: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("test data file");
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| line.split('|').map(|f| f.trim().to_owned()).collect())
        .collect();
    assert!(rows.len() >= 10, "{file} has only {} cases", rows.len());
    rows
}

#[track_caller]
fn code(guard: &Guard, request: &Request<'_>) -> &'static str {
    match guard.check(request, now()) {
        Ok(_) => "ok",
        Err(err) => err.code(),
    }
}

// ---- tokens ----

#[test]
fn token_in_query_is_accepted_and_forged_ones_refused() {
    let guard = Guard::new().with_token(SECRET);
    let ok = format!("/postback?subid=abc&status=sale&token={SECRET}");
    assert_eq!(code(&guard, &Request::get(&ok)), "ok");

    let forged = [
        "/postback?subid=abc&token=guess".to_owned(),
        format!("/postback?subid=abc&token={}", &SECRET[..SECRET.len() - 1]),
        format!("/postback?subid=abc&token={SECRET}0"),
        format!("/postback?subid=abc&token={}", SECRET.to_uppercase()),
        format!("/postback?subid=abc&token=%20{SECRET}"),
    ];
    for target in &forged {
        let err = guard.check(&Request::get(target), now()).unwrap_err();
        assert_eq!(err.code(), "bad_token", "{target}");
        assert_eq!(err.http_status(), 401);
    }
}

#[test]
fn configured_token_fails_closed_when_missing_or_empty() {
    let guard = Guard::new().with_token(SECRET);
    for target in [
        "/postback?subid=abc",
        "/postback",
        "/postback?subid=abc&token=",
        "/postback?subid=abc&token",
        "/postback?subid=abc&tokens=x&xtoken=y&TOKEN=z",
        "",
    ] {
        let err = guard.check(&Request::get(target), now()).unwrap_err();
        assert_eq!(err.code(), "missing_token", "{target}");
        assert_eq!(err.http_status(), 401);
    }
}

#[test]
fn an_empty_configured_token_matches_nothing() {
    let guard = Guard::new().with_token("");
    assert_eq!(code(&guard, &Request::get("/pb?token=")), "missing_token");
    assert_eq!(code(&guard, &Request::get("/pb?token=x")), "bad_token");
}

#[test]
fn repeated_token_parameter_is_refused() {
    let guard = Guard::new().with_token(SECRET);
    let target = format!("/pb?token=guess&token={SECRET}");
    assert_eq!(code(&guard, &Request::get(&target)), "ambiguous_token");
    // Also across query and body.
    let body = format!("token={SECRET}");
    let target = format!("/pb?token={SECRET}");
    let req = Request::post(&target, body.as_bytes());
    assert_eq!(code(&guard, &req), "ambiguous_token");
}

#[test]
fn rotation_accepts_every_configured_token() {
    let old = "old-0a8e2f11";
    let new = "new-77c1d9b3";
    let both = Guard::new().with_token(old).with_token(new);
    let only_new = Guard::new().with_token(new);
    let with_old = format!("/pb?secure={old}");
    let with_new = format!("/pb?secure={new}");
    let source = TokenSource::param("secure");
    let both = both.with_token_source(source.clone());
    let only_new = only_new.with_token_source(source);
    assert_eq!(code(&both, &Request::get(&with_old)), "ok");
    assert_eq!(code(&both, &Request::get(&with_new)), "ok");
    assert_eq!(code(&only_new, &Request::get(&with_new)), "ok");
    assert_eq!(code(&only_new, &Request::get(&with_old)), "bad_token");
}

#[test]
fn token_parameter_name_is_configurable() {
    for name in [
        "token",
        "secure",
        "security_token",
        "verification_token",
        "key",
    ] {
        let guard = Guard::new()
            .with_token(SECRET)
            .with_token_source(TokenSource::param(name));
        let target = format!("/pb?subid=abc&{name}={SECRET}");
        assert_eq!(code(&guard, &Request::get(&target)), "ok", "{name}");
        let other = format!("/pb?subid=abc&token_{name}={SECRET}");
        assert_eq!(
            code(&guard, &Request::get(&other)),
            "missing_token",
            "{name}"
        );
    }
}

#[test]
fn token_value_is_form_decoded_exactly_once() {
    let guard = Guard::new().with_token("a b/c+d%");
    // `+` is a space, `%2B` a plus, `%25` a percent sign.
    assert_eq!(
        code(&guard, &Request::get("/pb?token=a+b%2Fc%2Bd%25")),
        "ok"
    );
    assert_eq!(
        code(&guard, &Request::get("/pb?token=a%20b/c%2bd%25")),
        "ok"
    );
    // Decoding twice would turn `%2520` into a space: it must stay `%20`.
    assert_eq!(
        code(&guard, &Request::get("/pb?token=a%2520b/c%2Bd%25")),
        "bad_token"
    );
    // A literal `+` is a space, not a plus.
    assert_eq!(
        code(&guard, &Request::get("/pb?token=a+b/c+d%25")),
        "bad_token"
    );

    let encoded_secret = Guard::new().with_token("abc%41");
    assert_eq!(
        code(&encoded_secret, &Request::get("/pb?token=abc%2541")),
        "ok"
    );
    assert_eq!(
        code(&encoded_secret, &Request::get("/pb?token=abcA")),
        "bad_token"
    );
}

#[test]
fn token_is_compared_as_bytes() {
    let guard = Guard::new().with_token([0xff, 0x00, b'k']);
    assert_eq!(code(&guard, &Request::get("/pb?token=%FF%00k")), "ok");
    // Lossy UTF-8 decoding would make this U+FFFD and could collide; bytes do not.
    assert_eq!(
        code(&guard, &Request::get("/pb?token=%EF%BF%BD%00k")),
        "bad_token"
    );
}

#[test]
fn token_in_form_body() {
    let guard = Guard::new().with_token(SECRET);
    let body = format!("subid=abc&status=sale&token={SECRET}");
    assert_eq!(code(&guard, &Request::post("/pb", body.as_bytes())), "ok");
    assert_eq!(
        code(&guard, &Request::post("/pb", b"subid=abc&token=nope")),
        "bad_token"
    );
    assert_eq!(code(&guard, &Request::post("/pb", b"")), "missing_token");
}

#[test]
fn token_in_path_segment_keitaro_style() {
    let guard = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::PathSegment(0));
    let ok = [
        format!("/{SECRET}/postback?subid=abc&status=sale"),
        format!("https://track.example/{SECRET}/postback?subid=abc"),
        format!("/{SECRET}"),
    ];
    for target in &ok {
        assert_eq!(code(&guard, &Request::get(target)), "ok", "{target}");
    }
    let forged = format!("/{}/postback", SECRET.replace('9', "8"));
    assert_eq!(code(&guard, &Request::get(&forged)), "bad_token");
    // The token in the query does not count when the path is configured.
    let in_query = format!("/postback?token={SECRET}");
    assert_eq!(code(&guard, &Request::get(&in_query)), "bad_token");
    for missing in [
        "/",
        "//postback",
        "https://track.example",
        "https://track.example?x=1",
    ] {
        assert_eq!(
            code(&guard, &Request::get(missing)),
            "missing_token",
            "{missing}"
        );
    }

    let mounted = Guard::new()
        .with_token("k+y")
        .with_token_source(TokenSource::PathSegment(1));
    // In a path `+` is itself and `%2B` is a plus.
    assert_eq!(code(&mounted, &Request::get("/tracker/k+y/postback")), "ok");
    assert_eq!(
        code(&mounted, &Request::get("/tracker/k%2By/postback")),
        "ok"
    );
    assert_eq!(
        code(&mounted, &Request::get("/tracker/k%20y/postback")),
        "bad_token"
    );
}

#[test]
fn token_errors_name_the_place_but_never_the_secret() {
    let guard = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::param("secure"));
    let cases = [
        (
            "/pb?subid=abc",
            "missing token: expected it in parameter `secure` of the postback url",
        ),
        (
            "/pb?secure=9f2c7a51d0e84b6e",
            "token in parameter `secure` does not match: check the postback url saved at the network",
        ),
        (
            "/pb?secure=a&secure=b",
            "parameter `secure` appears more than once: send the token once",
        ),
    ];
    for (target, message) in cases {
        let err = guard.check(&Request::get(target), now()).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert!(!format!("{err:?}").contains(SECRET));
    }
    let debug = format!("{guard:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("<1 redacted>"), "{debug}");

    let path = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::PathSegment(0));
    let err = path.check(&Request::get("/"), now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing token: expected it in path segment 0 of the postback url"
    );
}

#[test]
fn redact_hides_the_token_for_logs() {
    let guard = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::param("secure"));
    let cases = [
        (
            "/pb?subid=abc&secure=9f2c7a51d0e84b6f",
            "/pb?subid=abc&secure=***",
        ),
        (
            "/pb?secure=guess&subid=abc#secure=x",
            "/pb?secure=***&subid=abc#secure=***",
        ),
        // Spellings the checks refuse are hidden all the same: an encoded or cased name, a
        // token before the `?` of a bare target (one bare query), in a fragment.
        ("/pb?%73ecure=s3&subid=abc", "/pb?%73ecure=***&subid=abc"),
        ("/pb?Secure=s3&subid=abc", "/pb?Secure=***&subid=abc"),
        ("secure=s3&subid=a&?x=1", "secure=***&subid=a&?x=1"),
        ("/pb?subid=a#x=1&SECURE=s3", "/pb?subid=a#x=1&SECURE=***"),
        ("/pb?secure=a&secure=b", "/pb?secure=***&secure=***"),
        ("/pb?secure=J%C3%BCrgen+x&x=1", "/pb?secure=***&x=1"),
        (
            "https://t.example/pb?xsecure=1&secure_x=2&secure=&secure",
            "https://t.example/pb?xsecure=1&secure_x=2&secure=&secure",
        ),
        ("/secure=1?a=1", "/secure=1?a=1"),
        ("/pb?ü=1&secure=ü", "/pb?ü=1&secure=***"),
    ];
    for (target, want) in cases {
        assert_eq!(guard.redact(target), want, "{target}");
    }
    assert!(matches!(
        guard.redact("/pb?subid=abc"),
        std::borrow::Cow::Borrowed(_)
    ));
    let body = format!("subid=abc&secure={SECRET}");
    assert_eq!(
        &*guard.redact_body(body.as_bytes()),
        b"subid=abc&secure=***"
    );

    let path = Guard::new()
        .with_token(SECRET)
        .with_token_source(TokenSource::PathSegment(1));
    assert_eq!(
        path.redact("/t/9f2c/postback?secure=1"),
        "/t/***/postback?secure=1"
    );
    assert_eq!(
        path.redact("https://h.example/t/k?x"),
        "https://h.example/t/***?x"
    );
    assert_eq!(path.redact("/t"), "/t");
    assert_eq!(path.redact("/t//x"), "/t//x");
    assert_eq!(&*path.redact_body(b"token=1"), b"token=1");

    // Nothing is hidden when no token is configured: there is no secret to leak.
    assert_eq!(Guard::new().redact("/pb?token=1"), "/pb?token=1");
}

// ---- addresses ----

#[test]
fn cidr_table() {
    for row in cases("cidr.txt") {
        let [input, want] = row.as_slice() else {
            panic!("bad row {row:?}")
        };
        let got = match Cidr::parse(input) {
            Ok(net) => net.to_string(),
            Err(err) => err.to_string(),
        };
        assert_eq!(&got, want, "input `{input}`");
        if let Ok(net) = Cidr::parse(input) {
            assert_eq!(
                net.to_string().parse::<Cidr>(),
                Ok(net),
                "round trip of `{input}`"
            );
        }
    }
}

#[test]
fn cidr_errors_are_typed() {
    assert_eq!(Cidr::parse(""), Err(ParseCidrError::Empty));
    assert!(matches!(
        Cidr::parse("10.0.0.0/33"),
        Err(ParseCidrError::BadPrefix { max: 32, .. })
    ));
    match Cidr::parse("10.1.2.3/8") {
        Err(ParseCidrError::HostBits { network, .. }) => {
            assert_eq!(network, "10.0.0.0/8".parse().unwrap());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Cidr::parse("10.0.0.x"),
        Err(ParseCidrError::BadAddress { .. })
    ));
    assert!(matches!(
        Cidr::new(ip("10.1.0.0"), 8),
        Err(ParseCidrError::HostBits { .. })
    ));
    assert!(matches!(
        Cidr::new(ip("10.0.0.0"), 40),
        Err(ParseCidrError::BadPrefix { .. })
    ));
}

#[test]
fn cidr_list_parsing() {
    let nets = Cidr::parse_list(" 10.0.0.0/8,192.0.2.7\n2001:db8::/32 ,, ").unwrap();
    let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
    assert_eq!(Cidr::parse_list(""), Ok(vec![]));
    let err = Cidr::parse_list("10.0.0.0/8, 10.0.0.1/24, 2001:db8::/32").unwrap_err();
    assert_eq!(
        err.to_string(),
        "`10.0.0.1/24` has host bits set: the network is `10.0.0.0/24`"
    );
}

#[test]
fn cidr_contains_ipv6_and_mapped() {
    let v6: Cidr = "2001:db8::/32".parse().unwrap();
    assert!(v6.contains(ip("2001:db8:ffff::1")));
    assert!(!v6.contains(ip("2001:db9::1")));
    assert!(!v6.contains(ip("10.0.0.1")));
    let v4: Cidr = "10.0.0.0/8".parse().unwrap();
    assert!(v4.contains(ip("::ffff:10.1.2.3")));
    assert!(!v4.contains(ip("::ffff:11.1.2.3")));
    // An IPv4-compatible (not mapped) address is IPv6.
    assert!(!v4.contains(ip("::10.1.2.3")));
    let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
    assert_eq!(mapped, v4);
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains(ip("255.255.255.255")) && !all.contains(ip("::1")));
    assert_eq!(
        Cidr::from(ip("::ffff:192.0.2.1")).to_string(),
        "192.0.2.1/32"
    );
}

#[test]
fn client_ip_table() {
    for row in cases("guard_client_ip.txt") {
        let [comment, peer, proxies, header, lines, want] = row.as_slice() else {
            panic!("bad row {row:?}")
        };
        let proxies = if proxies == "-" {
            vec![]
        } else {
            Cidr::parse_list(proxies).unwrap()
        };
        let kind = if header.eq_ignore_ascii_case("forwarded") {
            ForwardedHeader::Forwarded
        } else {
            ForwardedHeader::XForwardedFor
        };
        // A client's own X-Forwarded-For rides along when Forwarded is read, and vice versa:
        // the header that is not configured must never be believed.
        let decoy_name = match kind {
            ForwardedHeader::Forwarded => "X-Forwarded-For",
            _ => "Forwarded",
        };
        let decoy_value = match kind {
            ForwardedHeader::Forwarded => "6.6.6.6",
            _ => "for=6.6.6.6",
        };
        let mut headers: Vec<(&str, &str)> = vec![(decoy_name, decoy_value)];
        if lines != "-" {
            headers.extend(lines.split(";;").map(|value| (header.as_str(), value)));
        }
        let guard = Guard::new()
            .with_trusted_proxies(proxies)
            .with_forwarded_header(kind);
        let req = Request::get("/pb")
            .with_peer(ip(peer))
            .with_headers(&headers);
        let got = match guard.client_ip(&req) {
            Ok(client) => client.to_string(),
            Err(err) => err.code().to_owned(),
        };
        assert_eq!(&got, want, "{comment}");
    }
}

#[test]
fn allow_list_refuses_spoofed_forwarded_for_from_untrusted_peer() {
    let guard = Guard::new()
        .with_allowed_net("203.0.113.0/24".parse().unwrap())
        .with_trusted_proxy("10.0.0.0/8".parse().unwrap());
    let headers = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
    ];
    let attacker = Request::get("/pb")
        .with_peer(ip("198.51.100.66"))
        .with_headers(&headers);
    let err = guard.check(&attacker, now()).unwrap_err();
    assert_eq!(err, guard_ip_error("198.51.100.66"));
    assert_eq!((err.code(), err.http_status()), ("ip_not_allowed", 403));

    let via_proxy = attacker.clone().with_peer(ip("10.0.0.2"));
    assert_eq!(
        guard.check(&via_proxy, now()).map(|v| v.signed_at()),
        Ok(None)
    );
    let direct = Request::get("/pb").with_peer(ip("203.0.113.77"));
    assert_eq!(guard.check(&direct, now()).map(|v| v.signed_at()), Ok(None));
}

fn guard_ip_error(client: &str) -> GuardError {
    // GuardError is non_exhaustive: build the expected value the way a caller would see it.
    Guard::new()
        .with_allowed_net("192.0.2.0/32".parse().expect("cidr"))
        .check(&Request::get("/").with_peer(ip(client)), now())
        .expect_err("outside the allow-list")
}

#[test]
fn allow_list_with_ipv6_and_mapped_peers() {
    let guard =
        Guard::new().with_allowed_nets(Cidr::parse_list("2001:db8::/32, 192.0.2.0/24").unwrap());
    let allowed = [
        "2001:db8::1",
        "2001:db8:abcd::9",
        "192.0.2.200",
        "::ffff:192.0.2.200",
    ];
    for peer in allowed {
        assert_eq!(
            code(&guard, &Request::get("/pb").with_peer(ip(peer))),
            "ok",
            "{peer}"
        );
    }
    for peer in [
        "2001:db9::1",
        "::1",
        "192.0.3.1",
        "::ffff:192.0.3.1",
        "::192.0.2.200",
    ] {
        assert_eq!(
            code(&guard, &Request::get("/pb").with_peer(ip(peer))),
            "ip_not_allowed",
            "{peer}"
        );
    }
    let err = guard.check(
        &Request::get("/pb").with_peer(ip("::ffff:192.0.3.1")),
        now(),
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "client ip 192.0.3.1 is not in the allow-list: add the network's sender addresses, \
         or the proxy in front of you as a trusted proxy"
    );
}

#[test]
fn allow_list_fails_closed_without_a_peer_or_with_an_unreadable_hop() {
    let guard = Guard::new()
        .with_allowed_net("0.0.0.0/0".parse().unwrap())
        .with_trusted_proxy("10.0.0.0/8".parse().unwrap());
    let err = guard.check(&Request::get("/pb"), now()).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("no_client_ip", 403));
    assert_eq!(
        err.to_string(),
        "client ip unknown: the request has no peer address to check against the allow-list"
    );

    let headers = [("X-Forwarded-For", "unknown")];
    let req = Request::get("/pb")
        .with_peer(ip("10.0.0.2"))
        .with_headers(&headers);
    let err = guard.check(&req, now()).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("bad_forwarded_hop", 403));
    assert_eq!(
        err.to_string(),
        "`X-Forwarded-For` from trusted proxy 10.0.0.2 names a client that is not an ip address: \
         check that the proxy writes this header"
    );
}

#[test]
fn address_is_checked_before_token() {
    let guard = Guard::new()
        .with_token(SECRET)
        .with_allowed_net("192.0.2.0/24".parse().unwrap());
    let outside = Request::get("/pb?token=wrong").with_peer(ip("198.51.100.1"));
    assert_eq!(code(&guard, &outside), "ip_not_allowed");
    let inside = Request::get("/pb?token=wrong").with_peer(ip("192.0.2.1"));
    assert_eq!(code(&guard, &inside), "bad_token");
}

#[test]
fn unconfigured_guard_allows_everything() {
    let guard = Guard::default();
    assert_eq!(code(&guard, &Request::get("/pb?token=anything")), "ok");
    assert_eq!(code(&guard, &Request::get("")), "ok");
    let headers = [("X-Forwarded-For", "unknown")];
    assert_eq!(
        code(&guard, &Request::get("/").with_headers(&headers)),
        "ok"
    );
}

#[test]
fn guard_is_send_sync_and_shareable() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
    assert_traits::<Guard>();
    assert_traits::<GuardError>();
    assert_traits::<Cidr>();
    assert_traits::<Request<'static>>();
    assert_error::<GuardError>();
    assert_error::<ParseCidrError>();
}

// ---- signatures ----

#[cfg(feature = "signature")]
mod signature {
    use super::*;
    use postback::guard::Signature;
    use std::time::Duration;

    const KEY: &str = "k3y-shared-with-the-network";

    fn guard() -> Guard {
        Guard::new().with_signature(Signature::new(KEY))
    }

    #[test]
    fn vectors_from_an_independent_implementation() {
        let guard = guard();
        for row in cases("guard_signature.txt") {
            let [comment, _sender_key, now, target, body, want] = row.as_slice() else {
                panic!("bad row {row:?}")
            };
            let now = OffsetDateTime::from_unix_timestamp(now.parse().unwrap()).unwrap();
            let req = if body == "-" {
                Request::get(target)
            } else {
                Request::post(target, body.as_bytes())
            };
            let got = match guard.check(&req, now) {
                Ok(_) => "ok",
                Err(err) => {
                    assert_eq!(err.http_status(), 401, "{comment}");
                    err.code()
                }
            };
            assert_eq!(got, want, "{comment}");
        }
    }

    #[test]
    fn sign_matches_the_vectors_canonical_form() {
        let signature = Signature::new(KEY);
        assert_eq!(
            signature.canonical("name=J%C3%BCrgen&note=a~b*c&ts=1&b=x%20y&a=1&sig=ff"),
            "a=1&b=x+y&name=J%C3%BCrgen&note=a%7Eb*c&ts=1"
        );
        // sign() ignores an existing signature parameter, so signing is idempotent.
        let once = signature.sign("a=1&ts=1700000000");
        let again = signature.sign(&format!("a=1&ts=1700000000&sig={once}"));
        assert_eq!(once, again);
        assert_eq!(once.len(), 64);
        // The first vector of the data file, signed by the crate, verifies.
        let target = format!("/pb?a=1&ts=1700000000&sig={once}");
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            guard()
                .check(&Request::get(&target), at)
                .map(|v| v.signed_at()),
            Ok(Some(1_700_000_000))
        );
    }

    #[test]
    fn window_and_parameter_names_are_configurable() {
        let signature = Signature::new(KEY)
            .with_param("signature")
            .with_timestamp_param("timestamp")
            .with_window(Duration::from_secs(30));
        let sig = signature.sign("subid=abc&timestamp=1000");
        let target = format!("/pb?subid=abc&timestamp=1000&signature={sig}");
        let guard = Guard::new().with_signature(signature);
        let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap();
        assert_eq!(
            guard
                .check(&Request::get(&target), at(1030))
                .map(|v| v.signed_at()),
            Ok(Some(1000))
        );
        let err = guard.check(&Request::get(&target), at(1031)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signed timestamp is 31 s old, outside the 30 s window"
        );
        let err = guard.check(&Request::get(&target), at(940)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signed timestamp is 60 s in the future, outside the 30 s window: check the sender's clock"
        );
    }

    #[test]
    fn signature_errors_say_what_to_check_without_echoing_secrets() {
        let guard = guard();
        let forged =
            "/pb?a=1&ts=0&sig=00000000000000000000000000000000000000000000000000000000000000ff";
        let err = guard.check(&Request::get(forged), now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signature in parameter `sig` does not match: check the shared key and that the \
             sender signs the sorted, form-encoded parameters without `sig`"
        );
        let err = guard
            .check(&Request::get("/pb?a=1&ts=0"), now())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing signature: expected parameter `sig`"
        );
        let debug = format!("{guard:?}");
        assert!(!debug.contains(KEY), "{debug}");
    }

    #[test]
    fn token_and_signature_together() {
        let guard = guard().with_token(SECRET);
        let signature = Signature::new(KEY);
        let params = format!("subid=abc&token={SECRET}&ts=0");
        let sig = signature.sign(&params);
        let target = format!("/pb?{params}&sig={sig}");
        assert_eq!(
            guard
                .check(&Request::get(&target), now())
                .map(|v| v.signed_at()),
            Ok(Some(0))
        );
        let no_token = format!(
            "/pb?subid=abc&ts=0&sig={}",
            signature.sign("subid=abc&ts=0")
        );
        assert_eq!(code(&guard, &Request::get(&no_token)), "missing_token");
    }
}

// ---- never panics ----

fn full_guard() -> Guard {
    let guard = Guard::new()
        .with_token(SECRET)
        .with_allowed_nets(Cidr::parse_list("0.0.0.0/1, 2001:db8::/32").expect("nets"))
        .with_trusted_proxies(Cidr::parse_list("10.0.0.0/8, fd00::/8").expect("nets"));
    #[cfg(feature = "signature")]
    let guard = guard.with_signature(postback::guard::Signature::new("k"));
    guard
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
        Just(ip("10.0.0.2")),
        Just(ip("::ffff:10.0.0.2")),
    ]
}

fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-f:\\[\\]., \"=;_unknowfr]{0,40}",
        "(for=\"?\\[?[0-9a-f:.]{0,20}\\]?(:[0-9]{1,6})?\"?[;,] ?){0,4}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn check_never_panics(
        target in prop_oneof![any::<String>(), "[/?&=%+a-z0-9#:]{0,60}"],
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        peer in proptest::option::of(any_ip()),
        xff in header_text(),
        fwd in header_text(),
        now in any::<i32>(),
        path_token in any::<bool>(),
        forwarded in any::<bool>(),
    ) {
        let headers = [("X-Forwarded-For", xff.as_str()), ("forwarded", fwd.as_str())];
        let mut req = match &body {
            Some(body) => Request::post(&target, body),
            None => Request::get(&target),
        }
        .with_headers(&headers);
        if let Some(peer) = peer {
            req = req.with_peer(peer);
        }
        let mut guard = full_guard();
        if path_token {
            guard = guard.with_token_source(TokenSource::PathSegment(1));
        }
        if forwarded {
            guard = guard.with_forwarded_header(ForwardedHeader::Forwarded);
        }
        let now = OffsetDateTime::from_unix_timestamp(i64::from(now)).unwrap();
        let result = guard.check(&req, now);
        if let Err(err) = result {
            prop_assert!([401, 403].contains(&err.http_status()));
            prop_assert!(!err.to_string().contains(SECRET));
        }
        let _ = guard.client_ip(&req);
        let _ = (guard.redact(&target), guard.redact_body(body.as_deref().unwrap_or_default()));
        let _ = (req.path(), req.query());
    }

    #[test]
    fn any_token_bytes_round_trip_through_form_encoding(
        token in proptest::collection::vec(any::<u8>(), 1..40),
        flip in any::<proptest::sample::Index>(),
    ) {
        let guard = Guard::new().with_token(&token);
        let encoded: String = url::form_urlencoded::byte_serialize(&token).collect();
        let target = format!("/pb?subid=x&token={encoded}");
        prop_assert_eq!(guard.check(&Request::get(&target), now()).map(|v| v.signed_at()), Ok(None));

        let mut forged = token.clone();
        let at = flip.index(forged.len());
        forged[at] ^= 0x01;
        let encoded: String = url::form_urlencoded::byte_serialize(&forged).collect();
        let target = format!("/pb?subid=x&token={encoded}");
        let err = guard.check(&Request::get(&target), now()).unwrap_err();
        prop_assert_eq!(err.code(), "bad_token");
    }

    #[test]
    fn redact_leaves_no_token_value(
        pieces in proptest::collection::vec(("(token|tokens|xtoken|a|)", "(=[a-z0-9%+ü]{0,6})?"), 0..8),
        fragment in "(#[a-z=&]{0,6})?",
    ) {
        let query: Vec<String> = pieces.iter().map(|(n, v)| format!("{n}{v}")).collect();
        let target = format!("/pb?{}{fragment}", query.join("&"));
        let redacted = Guard::new().with_token("k").redact(&target).into_owned();
        let query = redacted.split('#').next().unwrap().split_once('?').unwrap().1;
        for piece in query.split('&') {
            if let Some(value) = piece.strip_prefix("token=") {
                prop_assert!(value.is_empty() || value == "***", "{} -> {}", target, redacted);
            }
        }
        prop_assert_eq!(redacted.matches('&').count(), target.matches('&').count());
    }

    #[test]
    fn cidr_contains_agrees_with_a_prefix_oracle(addr in any::<u32>(), net in any::<u32>(), prefix in 0u8..=32) {
        let keep = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        let cidr = Cidr::new(IpAddr::from((net & keep).to_be_bytes()), prefix).unwrap();
        let expected = (addr & keep) == (net & keep);
        prop_assert_eq!(cidr.contains(IpAddr::from(addr.to_be_bytes())), expected);
        let mapped = std::net::Ipv4Addr::from(addr).to_ipv6_mapped();
        prop_assert_eq!(cidr.contains(IpAddr::V6(mapped)), expected);
        prop_assert_eq!(cidr.to_string().parse::<Cidr>(), Ok(cidr));
    }
}

// ---- what a client writes before its proxies' hops ----

/// Text a client may put in a forwarded header before the hops its proxies append: elements of
/// parameters whose values may be addresses (some trusted), quoted strings or a lone quote, and
/// noise of quotes, escapes, delimiters and printable ASCII before or after them.
fn client_prefix() -> impl Strategy<Value = String> {
    use proptest::collection::vec;
    use proptest::sample::select;
    const NAMES: &[&str] = &["for", "For ", "x", "proto", "by"];
    const VALUES: &[&str] = &[
        "203.0.113.9",
        "\"203.0.113.9:80\"",
        "\"[2001:db8::9]:1\"",
        "10.0.0.9",
        "unknown",
        "\"a,b\"",
        "\"a\\\"b\"",
        "\"",
        "\"a\\",
        "",
    ];
    const NOISE: &[&str] = &[
        "\"", "\\", ",", ", ", ";", "=", " ", "for=", "x=", "10.0.0.9",
    ];
    let param = (select(NAMES), select(VALUES)).prop_map(|(name, value)| format!("{name}={value}"));
    let element = vec(param, 1..4).prop_map(|params| params.join(";"));
    let elements = vec(element, 0..4).prop_map(|elements| elements.join(", "));
    let piece = prop_oneof![
        3 => select(NOISE).prop_map(str::to_owned),
        1 => "[ -~]{0,4}",
    ];
    let noise = vec(piece, 0..6).prop_map(|pieces| pieces.concat());
    (elements, noise, any::<bool>()).prop_map(|(elements, noise, noise_first)| {
        if noise_first {
            noise + &elements
        } else {
            elements + &noise
        }
    })
}

/// An address outside the trusted proxies of [`full_guard`] (`10.0.0.0/8`, `fd00::/8`).
fn untrusted_ip() -> impl Strategy<Value = IpAddr> {
    let trusted = Cidr::parse_list("10.0.0.0/8, fd00::/8").expect("nets");
    any_ip().prop_filter("an untrusted address", move |ip| {
        !trusted.iter().any(|net| net.contains(*ip))
    })
}

/// How a proxy writes `ip` as a `Forwarded` element, with or without port and parameters.
fn forwarded_element(ip: IpAddr, port: Option<u16>, params: bool) -> String {
    let node = match (ip.to_canonical(), port) {
        (IpAddr::V4(v4), None) => v4.to_string(),
        (IpAddr::V4(v4), Some(port)) => format!("\"{v4}:{port}\""),
        (IpAddr::V6(v6), None) => format!("\"[{v6}]\""),
        (IpAddr::V6(v6), Some(port)) => format!("\"[{v6}]:{port}\""),
    };
    let params = if params { ";proto=https;by=_edge" } else { "" };
    format!("for={node}{params}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever a client writes before the hop a trusted proxy appends (to the client's own line
    /// or on a line of its own), that hop decides or the request is refused: the client's text
    /// never names the client. A refusal needs a quote the client left open.
    #[test]
    fn what_a_client_prepends_never_decides_the_client_ip(
        prefix in client_prefix(),
        earlier in proptest::option::of(client_prefix()),
        client in untrusted_ip(),
        port in proptest::option::of(any::<u16>()),
        params in any::<bool>(),
        trusted_hops in proptest::collection::vec(any::<[u8; 3]>(), 0..3),
        own_line in any::<bool>(),
    ) {
        let guard = full_guard();
        let via_proxy = ip("10.0.0.2");
        let want = client.to_canonical();
        let trusted: Vec<String> = trusted_hops
            .iter()
            .map(|[a, b, c]| format!("10.{a}.{b}.{c}"))
            .collect();
        let trusted_elements: Vec<String> =
            trusted.iter().map(|hop| format!(", for={hop}")).collect();
        let appended = forwarded_element(client, port, params) + &trusted_elements.concat();
        let mut lines: Vec<String> = earlier.into_iter().collect();
        if own_line {
            lines.extend([prefix.clone(), appended]);
        } else if prefix.is_empty() {
            lines.push(appended);
        } else {
            lines.push(format!("{prefix}, {appended}"));
        }
        let headers: Vec<(&str, &str)> =
            lines.iter().map(|line| ("Forwarded", line.as_str())).collect();
        let req = Request::get("/pb").with_peer(via_proxy).with_headers(&headers);
        let got = guard
            .clone()
            .with_forwarded_header(ForwardedHeader::Forwarded)
            .client_ip(&req)
            .map_err(|err| err.code());
        if own_line || !prefix.contains('"') {
            prop_assert_eq!(got, Ok(want), "{:?}", lines);
        } else {
            let refused = got == Err("bad_forwarded_hop");
            prop_assert!(got == Ok(want) || refused, "{:?} -> {:?}", lines, got);
        }

        // X-Forwarded-For: quotes mean nothing, so the appended hop always decides.
        let hops: Vec<String> = [prefix, want.to_string()].into_iter().chain(trusted).collect();
        let line = hops.join(", ");
        let headers = [("X-Forwarded-For", line.as_str())];
        let req = Request::get("/pb").with_peer(via_proxy).with_headers(&headers);
        prop_assert_eq!(guard.client_ip(&req), Ok(want), "{}", line);
    }
}
