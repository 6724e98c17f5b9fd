//! The parser against real-world postbacks (`tests/data/postbacks.txt`) and its invariants.

use std::borrow::Cow;

use postback::money::Amount;
use postback::parse::{ParsePostbackError, Parser, Postback};
use postback::{ConversionState, Profile};

const CASES: &str = include_str!("../data/postbacks.txt");

/// `\xHH` in a form input stands for one raw byte, so the data file can hold invalid UTF-8.
pub(crate) fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\x") && i + 4 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("ASCII hex digits");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Every field of a postback as `name=value` lines, in a fixed order, absent ones left out.
fn fields(pb: &Postback<'_>) -> Vec<String> {
    let mut out = vec![format!("click_id={}", pb.click_id())];
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push(format!("{name}={value}"));
        }
    };
    add("state", pb.state().map(|s| s.as_str().to_owned()));
    add("status", pb.status().map(str::to_owned));
    add("payout", pb.payout().map(|p| p.to_string()));
    add("currency", pb.currency().map(|c| c.as_str().to_owned()));
    add("txid", pb.txid().map(str::to_owned));
    add("event", pb.event().map(str::to_owned));
    add("token", pb.token().map(str::to_owned));
    for warning in pb.warnings() {
        add("warn", Some(warning.code().to_owned()));
    }
    out
}

#[track_caller]
fn run(line_no: usize, line: &str) {
    let cols: Vec<&str> = line.split(" | ").collect();
    let (profile, input, outcome, expected) = (cols[0], cols[1], cols[2], &cols[3..]);
    let profile = match profile.strip_prefix("serde:") {
        Some(_) if !cfg!(feature = "serde") => return,
        Some(name) => name,
        None => profile,
    };
    let parser =
        Parser::builtin(profile).unwrap_or_else(|| panic!("line {line_no}: no profile {profile}"));
    let body;
    let result = match input.strip_prefix("form:") {
        Some(form) => {
            body = unescape(form);
            parser.parse_form(&body)
        }
        None => parser.parse(input),
    };
    match (outcome, result) {
        ("ok", Ok(pb)) => assert_eq!(fields(&pb), expected, "line {line_no}: {input}"),
        ("err", Err(err)) => {
            assert_eq!(err.code(), expected[0], "line {line_no}: {input}: {err}");
            if let Some(param) = expected.get(1).and_then(|p| p.strip_prefix("param=")) {
                assert_eq!(err.param(), Some(param), "line {line_no}: {input}: {err}");
            }
            let message = err.to_string();
            assert!(!message.ends_with('.'), "line {line_no}: {message}");
            assert!(
                message.starts_with(|c: char| c.is_lowercase()),
                "line {line_no}: {message}"
            );
        }
        (_, Ok(pb)) => panic!(
            "line {line_no}: {input}: parsed as {:?}, expected {expected:?}",
            fields(&pb)
        ),
        (_, Err(err)) => panic!(
            "line {line_no}: {input}: {err} ({}), expected {expected:?}",
            err.code()
        ),
    }
}

#[test]
fn data_file_cases() {
    let mut ran = 0;
    for (i, line) in CASES.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        run(i + 1, line);
        ran += 1;
    }
    assert!(ran > 100, "only {ran} cases ran");
}

#[test]
fn every_builtin_profile_has_a_data_line() {
    for name in Profile::BUILTIN_NAMES {
        let prefix = format!("{name} | ");
        let serde_prefix = format!("serde:{name} | ");
        assert!(
            CASES
                .lines()
                .any(|l| l.starts_with(&prefix) || l.starts_with(&serde_prefix)),
            "no data line for {name}"
        );
        assert_eq!(Profile::builtin(name).map(Profile::name), Some(name));
    }
}

#[test]
fn plain_values_borrow_and_encoded_values_allocate() {
    let parser = Parser::generic();
    let input = String::from("click_id=abc&status=sale&txid=a%20b&payout=1");
    let pb = parser.parse(&input).unwrap();
    let range = input.as_bytes().as_ptr_range();
    assert!(
        range.contains(&pb.click_id().as_ptr()),
        "click id is borrowed"
    );
    assert!(
        range.contains(&pb.status().unwrap().as_ptr()),
        "status is borrowed"
    );
    assert!(
        !range.contains(&pb.txid().unwrap().as_ptr()),
        "decoded txid is owned"
    );
    let owned: Postback<'static> = pb.clone().into_owned();
    drop(input);
    assert_eq!(owned.txid(), Some("a b"));
    assert_eq!(owned.state(), Some(ConversionState::Approved));
}

/// A text is the same text whether the postback borrows it or owns it: equality, the
/// accessors and `into_owned` see no difference, and setting a text again replaces it.
#[test]
fn borrowed_and_owned_texts_are_the_same_postback() {
    let borrowed = Postback::new("abc")
        .with_status("sale")
        .with_txid("T1")
        .with_token("s3cret")
        .with_state(Some(ConversionState::Approved));
    let owned = Postback::new(String::from("abc"))
        .with_status(String::from("sale"))
        .with_txid(String::from("T1"))
        .with_token(String::from("s3cret"))
        .with_state(Some(ConversionState::Approved));
    assert_eq!(borrowed, owned);
    assert_eq!(format!("{borrowed:?}"), format!("{owned:?}"));
    assert_eq!(borrowed.clone().into_owned(), owned);

    let replaced = owned
        .with_status("lead")
        .with_txid("T2")
        .with_event(String::from("deposit"))
        .without_token();
    assert_eq!(replaced.status(), Some("lead"));
    assert_eq!(replaced.txid(), Some("T2"));
    assert_eq!(replaced.event(), Some("deposit"));
    assert_eq!(replaced.token(), None);
    assert_ne!(replaced, borrowed);

    // Warnings travel with the owned texts.
    let parser = Parser::generic();
    let pb = parser.parse("click_id=abc%2520def&status=sale").unwrap();
    assert_eq!(pb.warnings().len(), 1);
    let detached = pb.clone().into_owned();
    assert_eq!(detached.warnings(), pb.warnings());
    assert_eq!(detached.click_id(), "abc%20def");
}

#[test]
fn errors_say_where_and_what_to_check() {
    let parser = Parser::generic();
    let err = parser.parse("/pb?click_id={sub2}&status=sale").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpanded macro `{sub2}` in `click_id` at byte 13: the network sent the macro literally: \
         check that it is one the network knows, in its exact case"
    );
    assert_eq!(err.at(), Some(13));

    let err = parser.parse("click_id=ab%zz").unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed `click_id` at byte 11: a `%` not followed by two hex digits: \
         check that the sender URL-encodes the value"
    );

    let err = parser.parse("click_id=a&payout=1.234,56").unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad payout `1.234,56` in `payout` at byte 18: not an amount: more than one separator \
         (thousands separators are not accepted) at byte 5: send one plain number such as 12.50"
    );

    let affise = Parser::builtin("affise").unwrap();
    let err = affise.parse("clickid=a&status=4").unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad status `4` in `status` at byte 17: the profile accepts only 1, 2, 5, 3"
    );
}

#[test]
fn bounds_are_typed_errors() {
    let long_id = "a".repeat(600);
    let err = Parser::generic()
        .parse(&format!("click_id={long_id}"))
        .unwrap_err();
    assert_eq!((err.code(), err.param()), ("too_long", Some("click_id")));
    assert_eq!(
        err.to_string(),
        "too long: `click_id` (bytes) is 600, over the limit of 512: check that the request is a postback"
    );

    let huge = "x".repeat(9000);
    let err = Parser::generic().parse(&huge).unwrap_err();
    assert_eq!(err.code(), "too_long");

    let many = "a=1&".repeat(300) + "click_id=abc";
    let err = Parser::generic().parse(&many).unwrap_err();
    assert_eq!(err.code(), "too_long");

    let relaxed = postback::parse::Limits::default().with_max_params(1000);
    let pb = Parser::generic().with_limits(relaxed).parse(&many).unwrap();
    assert_eq!(pb.click_id(), "abc");
}

#[test]
fn a_custom_profile_reads_its_own_names() {
    let profile = Profile::new("mine", "cid")
        .with_click_id_param("clickid")
        .with_status_param("state")
        .with_payout_param("amount")
        .with_status_map(postback::StatusMap::new().with("ok", ConversionState::Approved))
        .with_default_state(Some(ConversionState::Pending));
    let parser = Parser::new(profile);
    let pb = parser.parse("clickid=7&state=OK&amount=2").unwrap();
    assert_eq!(
        (pb.click_id(), pb.state()),
        ("7", Some(ConversionState::Approved))
    );
    assert_eq!(pb.payout(), Amount::new(2, 0));
    let pb = parser.parse("cid=7").unwrap();
    assert_eq!(pb.state(), Some(ConversionState::Pending));
    // A name the profile does not read is ignored even when it is malformed.
    assert!(parser.parse("cid=7&click_id=%zz").is_ok());
}

#[test]
fn parsers_and_profiles_are_shareable() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    assert_traits::<Parser>();
    assert_traits::<Profile>();
    assert_traits::<Postback<'static>>();
    assert_traits::<ParsePostbackError>();
    let parser = Parser::builtin("keitaro").unwrap();
    std::thread::scope(|s| {
        for i in 0..2 {
            let parser = &parser;
            s.spawn(move || {
                let input = format!("subid=id{i}&status=lead");
                assert_eq!(parser.parse(&input).unwrap().click_id(), format!("id{i}"));
            });
        }
    });
}

#[test]
fn builder_postbacks_compare_with_parsed_ones() {
    let parsed = Parser::generic()
        .parse("click_id=abc&status=sale&payout=1.50")
        .unwrap();
    let built = Postback::new("abc")
        .with_status("sale")
        .with_state(Some(ConversionState::Approved))
        .with_payout("1.5".parse().ok());
    assert_eq!(parsed, built, "payouts compare by value");
    assert_eq!(Postback::new(Cow::Owned("x".to_owned())).click_id(), "x");
}
