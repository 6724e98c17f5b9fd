//! Properties of the postback parser: it never panics, and whatever a sender encodes comes
//! back out for every built-in profile.

use postback::money::Amount;
use postback::profile::ClickIdShape;
use postback::{Parser, Profile};
use proptest::prelude::*;
use url::form_urlencoded::Serializer;

fn profile(index: usize) -> &'static Profile {
    let name = Profile::BUILTIN_NAMES[index % Profile::BUILTIN_NAMES.len()];
    Profile::builtin(name).expect("a listed built-in")
}

/// Text a sender might put in a value: no macro delimiters, `%` or surrounding spaces, but
/// spaces, `&`, `=`, `+`, `/` and non-ASCII inside, which all need encoding.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9 _.~&=+/é-]{0,20}[A-Za-z0-9])?"
        .prop_filter("placeholder words", |t| t != "REPLACE" && t != "OPTIONAL")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics(index in 0usize..64, input in any::<String>()) {
        let _ = Parser::from(profile(index)).parse(&input);
    }

    #[test]
    fn parse_never_panics_on_postback_like_text(
        index in 0usize..64,
        input in "[a-z_=&%#?+{}\\[\\]!<>$0-9A-F/: .,é-]{0,80}",
    ) {
        let _ = Parser::from(profile(index)).parse(&input);
        let _ = Parser::from(profile(index)).parse(&format!("https://t.example/p?{input}"));
    }

    #[test]
    fn parse_form_never_panics(index in 0usize..64, body in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = Parser::from(profile(index)).parse_form(&body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn encoded_values_come_back_for_every_profile(
        index in 0usize..64,
        click in text(),
        numeric_click in 1u64..u64::MAX,
        status_pick in any::<prop::sample::Index>(),
        units in -1_000_000_000i64..1_000_000_000,
        scale in 0u8..5,
        currency in "[a-zA-Z]{3}",
        txid in text(),
        event in text(),
        token in text(),
        noise in text(),
    ) {
        let profile = profile(index);
        let click = match profile.click_id_shape() {
            ClickIdShape::PositiveInteger => numeric_click.to_string(),
            _ => click,
        };
        let words: Vec<&str> = profile.status_map().iter().map(|(w, _)| w).collect();
        let status = (!words.is_empty()).then(|| words[status_pick.index(words.len())]);
        let payout = Amount::new(units, scale).unwrap();

        let mut query = Serializer::new(String::new());
        query.append_pair("noise", &noise);
        query.append_pair(&profile.click_id_params()[0], &click);
        // Everything but the click id may live in the profile's JSON parameter instead.
        let mut json = Vec::new();
        let mut put = |names: &[Box<str>], value: &str| {
            if let Some(name) = names.first() {
                if profile.json_param().is_some() && name.len() <= 2 {
                    json.push((name.to_string(), value.to_owned()));
                } else {
                    query.append_pair(name, value);
                }
            }
        };
        if let Some(status) = status {
            put(profile.status_params(), status);
        }
        put(profile.payout_params(), &payout.to_string());
        put(profile.currency_params(), &currency);
        put(profile.txid_params(), &txid);
        put(profile.event_params(), &event);
        put(profile.token_params(), &token);
        let json_read = cfg!(feature = "serde") && !json.is_empty();
        if json_read {
            let object: String = json
                .iter()
                .map(|(k, v)| format!("\"{k}\":\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect::<Vec<_>>()
                .join(",");
            query.append_pair(profile.json_param().unwrap_or_default(), &format!("[{{{object}}}]"));
        }
        let query = query.finish();
        let url = format!("https://tracker.example/postback?{query}#frag");
        let pb = Parser::from(profile).parse(&url).map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;

        prop_assert_eq!(pb.click_id(), click.as_str());
        let in_json = |names: &[Box<str>]| profile.json_param().is_some() && names.first().is_some_and(|n| n.len() <= 2);
        let expect = |names: &[Box<str>]| !names.is_empty() && (json_read || !in_json(names));
        if expect(profile.status_params()) && status.is_some() {
            prop_assert_eq!(pb.status(), status);
            prop_assert_eq!(pb.state(), status.and_then(|s| profile.status_map().get(s)));
        }
        if expect(profile.payout_params()) {
            prop_assert_eq!(pb.payout(), Some(payout));
            prop_assert_eq!(pb.payout().map(|p| p.to_string()), Some(payout.to_string()));
        }
        if expect(profile.currency_params()) {
            prop_assert_eq!(pb.currency().map(|c| c.as_str().to_owned()), Some(currency.to_uppercase()));
        }
        if expect(profile.txid_params()) {
            prop_assert_eq!(pb.txid(), Some(txid.as_str()));
        }
        if expect(profile.event_params()) {
            prop_assert_eq!(pb.event(), Some(event.as_str()));
        }
        if expect(profile.token_params()) {
            prop_assert_eq!(pb.token(), Some(token.as_str()));
        }
        prop_assert!(pb.warnings().iter().all(|w| w.code() != "still_encoded"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn amounts_round_trip_through_text(units in any::<i64>(), scale in 0u8..=18) {
        let amount = Amount::new(units, scale).unwrap();
        let text = amount.to_string();
        let back: Amount = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, amount);
        prop_assert_eq!(back.to_string(), text);
        prop_assert_eq!(back.scale(), scale);
    }

    #[test]
    fn amount_order_matches_exact_rational_order(
        a in prop_oneof![-1_000_000i64..1_000_000, any::<i64>()],
        sa in 0u8..=Amount::MAX_SCALE,
        b in prop_oneof![-1_000_000i64..1_000_000, any::<i64>()],
        sb in 0u8..=Amount::MAX_SCALE,
        same_scale in any::<bool>(),
    ) {
        // Half the pairs share a scale, the common case that compares without widening.
        let sb = if same_scale { sa } else { sb };
        let x = Amount::new(a, sa).unwrap();
        let y = Amount::new(b, sb).unwrap();
        // a / 10^sa vs b / 10^sb, cross-multiplied in i128
        let lhs = i128::from(a) * 10i128.pow(u32::from(sb));
        let rhs = i128::from(b) * 10i128.pow(u32::from(sa));
        prop_assert_eq!(x.cmp(&y), lhs.cmp(&rhs));
        prop_assert_eq!(x == y, lhs == rhs);
    }
}

/// A query of `key=value` pairs whose keys are mostly ones the profile reads.
fn query_for(profile: &'static Profile) -> impl Strategy<Value = String> {
    let mut names: Vec<String> = Profile::builtins()
        .filter(|p| p.name() == profile.name())
        .flat_map(|p| {
            [
                p.click_id_params(),
                p.status_params(),
                p.payout_params(),
                p.currency_params(),
                p.txid_params(),
                p.event_params(),
                p.token_params(),
            ]
            .into_iter()
            .flatten()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
        })
        .collect();
    names.extend(
        profile
            .status_mapping_params()
            .iter()
            .map(|p| p.param.to_string()),
    );
    names.push("other".to_owned());
    // Mostly plain values (the plain finish), sometimes anything decoding must handle.
    let value = prop_oneof![
        3 => "[a-zA-Z0-9_.-]{0,10}",
        1 => "[a-zA-Z0-9%+{}\\[\\]<>!$,;. é=_-]{0,12}",
    ];
    let pair = (prop::sample::select(names), value);
    prop::collection::vec(pair, 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A bare query and the same bytes as a form body are one query: without `#`, `?` or a
    /// scheme, `parse` and `parse_form` must agree on every input.
    #[test]
    fn a_bare_query_reads_as_a_form_body_does(
        (index, query) in (0usize..21).prop_flat_map(|i| (Just(i), query_for(profile(i))))
    ) {
        let profile = profile(index);
        let parser = Parser::from(profile);
        prop_assert_eq!(parser.parse(&query), parser.parse_form(query.as_bytes()), "{}", query);
    }
}
