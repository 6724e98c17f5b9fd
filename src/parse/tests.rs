//! Unit tests of the private helpers: macro finding, decoding, announcing the click id.

use super::{decode, find_macro, still_encoded};

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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

    /// The plain finish says what the general one says, on postbacks of plain values (the
    /// ones it takes) and any others (which it leaves alone), for profiles with open and
    /// closed vocabularies, default states and click id shapes. Each pair names one of the
    /// profile's fields (or an unread `x`).
    #[test]
    fn plain_finish_agrees_with_finish(
        profile in proptest::sample::select(vec!["generic", "affise", "prosper202", "keitaro", "voluum", "cake", "everflow"]),
        pairs in proptest::collection::vec(
            (
                0usize..8,
                "(|REPLACE|OPTIONAL|0|42|1|2|5|approved|sale|lead|declined|hold|12.50|1,5|USD|usd|eurx|abc|[a-z0-9.]{1,6}| x|%41|\\{subid\\})",
            ),
            0..6,
        ),
        path in proptest::sample::select(vec!["", "?", "/pb?", "https://t.example/pb?"]),
    ) {
        let parser = super::Parser::builtin(profile).unwrap();
        let query: Vec<String> = pairs
            .iter()
            .map(|(field, value)| {
                let name = super::Field::ALL
                    .get(*field)
                    .and_then(|&field| parser.profile().params(field).first())
                    .map_or("x", |name| &**name);
                format!("{name}={value}")
            })
            .collect();
        let input = format!("{path}{}", query.join("&"));
        let mut general = parser.clone();
        general.plain_finish = false;
        proptest::prop_assert_eq!(parser.parse(&input), general.parse(&input), "{}", input);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Bytes that are UTF-8 parse exactly as the same text does.
    #[test]
    fn parse_bytes_agrees_with_parse_on_text(
        input in "(https://t\\.example/pb\\?|/pb\\?|\\?)?((click_id|click_idx|clic|cl%69ck_id|status|st|s%74atus|st\\+|t%78id|go%61l|payout|currency|txid|t|txidx| txid|goal|approved_status|approved_stat|x)(=[a-zA-Z0-9%{}#.é +]{0,8})?&?){0,6}",
    ) {
        let parser = super::Parser::generic();
        proptest::prop_assert_eq!(parser.parse_bytes(input.as_bytes()), parser.parse(&input));
    }

    /// Announcing the click id changes no result; the announcement comes at most once, names
    /// the click id the parse returns, and comes whenever nothing needed decoding.
    #[test]
    fn announcing_the_click_id_changes_nothing(
        input in "(/pb\\?)?((click_id|status|payout|txid|x)(=[a-zA-Z0-9%{}#.+]{0,8})?&?){0,5}",
    ) {
        let parser = super::Parser::generic();
        let mut heard = Vec::new();
        let announced = parser.parse_announcing(&input, |id| heard.push(id.to_owned()));
        proptest::prop_assert_eq!(&announced, &parser.parse(&input));
        proptest::prop_assert!(heard.len() <= 1, "{heard:?}");
        if let Ok(postback) = &announced {
            if !input.contains(['%', '+', '{', '#']) {
                proptest::prop_assert_eq!(heard.len(), 1);
            }
            if let Some(id) = heard.first() {
                proptest::prop_assert_eq!(id, postback.click_id());
            }
        }
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

/// What a segment names, the slow obvious way: split at the first `=`, then the first entry
/// whose name is the pair's name as sent, or as decoded and trimmed.
fn linear_look(
    names: &super::Names,
    pair: &crate::query::Pair<'_>,
) -> Option<(super::Slot, String)> {
    let decoded = pair.decoded_name();
    names
        .entries
        .iter()
        .find(|(name, _)| name.as_bytes() == pair.name)
        .or_else(|| {
            let decoded = decoded.as_deref()?;
            names
                .entries
                .iter()
                .find(|(name, _)| name.as_bytes() == decoded)
        })
        .map(|(name, slot)| (*slot, name.to_string()))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

    /// The hash table and the leads find what a linear look through the names finds, for
    /// every segment: the profile's names as they are, cut short, run on, encoded, cased,
    /// alone or with values, and strangers.
    #[test]
    fn names_agree_with_a_linear_look(
        profile in proptest::sample::select(crate::Profile::BUILTIN_NAMES.to_vec()),
        picks in proptest::collection::vec((0usize..64, 0usize..8, "(=[a-z0-9%+]{0,6})?"), 1..8),
    ) {
        let parser = super::Parser::builtin(profile).unwrap();
        let names = &parser.names;
        let mut text = String::new();
        for (i, (pick, how, tail)) in picks.iter().enumerate() {
            let name = names.entries.get(pick % names.entries.len()).map_or("x", |(n, _)| &**n);
            let name = match how {
                0 => name.to_owned(),
                1 => name.get(..name.len().saturating_sub(1)).unwrap_or_default().to_owned(),
                2 => format!("{name}x"),
                3 => name.to_ascii_uppercase(),
                4 => name.replacen(|c: char| c.is_ascii_lowercase(), "%61", 1),
                5 => format!("+{name}"),
                6 => name.chars().take(1).collect(),
                _ => "zz".to_owned(),
            };
            if i > 0 {
                text.push('&');
            }
            text.push_str(&name);
            text.push_str(tail);
        }
        let bytes = text.as_bytes();
        let mut segments = crate::query::pairs(bytes, 0..bytes.len());
        while let Some(segment) = segments.next_segment() {
            let pair = segments.pair(segment);
            let want = linear_look(names, &pair);
            let got = match names.match_segment(bytes, segment) {
                super::Matched::Field(field, name, value_at) => {
                    proptest::prop_assert_eq!(value_at, pair.value_at, "{}", text);
                    Some((super::Slot::Field(field), name.to_owned()))
                }
                super::Matched::Nothing => None,
                super::Matched::Look => names.find_pair(&pair).map(|(slot, name)| (slot, name.to_owned())),
            };
            proptest::prop_assert_eq!(got, want, "{} in {}", String::from_utf8_lossy(pair.name), text);
        }
    }
}

proptest::proptest! {
    /// The parser's status table gives every word the state the profile's map gives it, in any
    /// case and with spaces around, and no state to words it does not know.
    #[test]
    fn words_agree_with_the_status_map(
        profile in proptest::sample::select(crate::Profile::BUILTIN_NAMES.to_vec()),
        pick in 0usize..64,
        how in 0usize..6,
        other in "[a-zA-Z0-9_ -]{0,12}",
    ) {
        let map = crate::Profile::builtin(profile).unwrap().status_map();
        let words = super::Words::new(map);
        let known: Vec<&str> = map.iter().map(|(word, _)| word).collect();
        let word = known.get(pick % known.len().max(1)).copied().unwrap_or("x");
        let word = match how {
            0 => word.to_owned(),
            1 => word.to_ascii_uppercase(),
            2 => format!(" {word}\t"),
            3 => format!("{word}x"),
            4 => word.get(1..).unwrap_or_default().to_owned(),
            _ => other,
        };
        proptest::prop_assert_eq!(words.get(&word), map.get(&word), "{:?} in {}", word, profile);
    }
}
