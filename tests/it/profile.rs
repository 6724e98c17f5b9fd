//! Built-in profiles and profiles loaded from config.

use postback::status::{StatusMap, Vocabulary};
use postback::{ConversionState, Profile};

#[test]
fn builtins_are_listed_by_their_exact_names() {
    let names: Vec<&str> = Profile::builtins().map(Profile::name).collect();
    assert_eq!(names, Profile::BUILTIN_NAMES);
    assert_eq!(names.len(), 21);
    assert!(Profile::builtin("Keitaro").is_none(), "names are exact");
}

#[test]
fn numeric_codes_mean_what_each_profile_says() {
    let state =
        |profile: &str, code: &str| Profile::builtin(profile).unwrap().status_map().get(code);
    assert_eq!(state("affise", "2"), Some(ConversionState::Pending));
    assert_eq!(state("bemob", "2"), Some(ConversionState::Approved));
    assert_eq!(state("affise_reach", "4"), Some(ConversionState::Pending));
    assert_eq!(state("affise", "4"), None);
    assert_eq!(
        state("generic", "2"),
        None,
        "no code means anything globally"
    );
    let affise = Profile::builtin("affise").unwrap();
    assert_eq!(affise.status_map().vocabulary(), Vocabulary::Closed);
}

#[test]
fn generic_dictionary_matches_the_documented_words() {
    let map = StatusMap::generic();
    for (state, words) in [
        (
            ConversionState::Approved,
            "sale approved approve confirmed confirm credited paid rebill deposit",
        ),
        (
            ConversionState::Pending,
            "pending hold new wait lead signup registration",
        ),
        (
            ConversionState::Rejected,
            "rejected reject declined decline cancelled canceled cancel trash fake",
        ),
        (
            ConversionState::Reversed,
            "chargeback charge reversed refunded",
        ),
    ] {
        for word in words.split(' ') {
            assert_eq!(map.get(word), Some(state), "{word}");
            assert_eq!(
                map.get(&word.to_uppercase()),
                Some(state),
                "{word} in upper case"
            );
        }
    }
    assert_eq!(map.get("checkout"), None);
    assert_eq!(map.len(), 29);
}

#[test]
fn keitaro_knows_only_its_native_words() {
    let keitaro = Profile::builtin("keitaro").unwrap();
    assert_eq!(
        keitaro.status_map().get("lead"),
        Some(ConversionState::Pending)
    );
    assert_eq!(keitaro.status_map().get("hold"), None);
    let params: Vec<&str> = keitaro
        .status_mapping_params()
        .iter()
        .map(|p| &*p.param)
        .collect();
    assert_eq!(params, ["lead_status", "sale_status", "rejected_status"]);
}

#[cfg(feature = "serde")]
#[test]
fn profiles_load_from_config() {
    let config = r#"{
        "name": "my_network",
        "click_id": ["clickid", "click_id"],
        "status": ["state"],
        "payout": ["amount"],
        "statuses": { "words": { "ok": "approved", "2": "pending" }, "vocabulary": "closed" },
        "status_params": [{ "param": "sale_status", "state": "approved" }],
        "default_state": "pending"
    }"#;
    let profile: Profile = serde_json::from_str(config).unwrap();
    assert_eq!(profile.name(), "my_network");
    let profile = postback::Parser::new(profile);
    let pb = profile.parse("click_id=a&state=2&amount=1.5").unwrap();
    assert_eq!(pb.state(), Some(ConversionState::Pending));
    let pb = profile
        .parse("clickid=a&state=done&sale_status=done")
        .unwrap();
    assert_eq!(pb.state(), Some(ConversionState::Approved));
    assert_eq!(
        profile.parse("clickid=a&state=x").unwrap_err().code(),
        "bad_status"
    );
    assert_eq!(
        profile.parse("clickid=a").unwrap().state(),
        Some(ConversionState::Pending)
    );

    let err = serde_json::from_str::<Profile>(r#"{"name": "x", "click_id": []}"#).unwrap_err();
    assert!(err.to_string().contains("at least one parameter"), "{err}");
    assert!(serde_json::from_str::<Profile>(r#"{"name": "x"}"#).is_err());
    assert!(
        serde_json::from_str::<Profile>(r#"{"name": "x", "click_id": ["c"], "typo": 1}"#).is_err()
    );
}

#[cfg(feature = "serde")]
#[test]
fn builtins_round_trip_through_config() {
    for profile in Profile::builtins() {
        let json = serde_json::to_string(profile).unwrap();
        let back: Profile = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, profile, "{json}");
    }
}

#[test]
fn params_are_keyed_by_field() {
    use postback::Field;
    let mut mine = Profile::new("mine", "c");
    for field in Field::ALL {
        mine = mine.with_param(field, &format!("{field}_alias"));
    }
    for field in Field::ALL {
        let names: Vec<&str> = mine.params(field).iter().map(|n| &**n).collect();
        let alias = format!("{field}_alias");
        match field {
            Field::ClickId => assert_eq!(names, ["c", &alias]),
            _ => assert_eq!(names, [&alias]),
        }
    }
    assert_eq!(mine.payout_params(), mine.params(Field::Payout));
    assert_eq!(mine.token_params(), mine.params(Field::Token));
    assert_eq!(Field::COUNT, Field::ALL.len());
}

/// Each field's config key is its `Field::as_str`, and errors still name the field.
#[cfg(feature = "serde")]
#[test]
fn config_keys_are_the_field_names() {
    use postback::Field;
    let mut mine = Profile::new("mine", "c");
    for field in Field::ALL {
        mine = mine.with_param(field, field.as_str());
    }
    let json = serde_json::to_value(&mine).unwrap();
    for field in Field::ALL {
        let names = json[field.as_str()].as_array().unwrap();
        assert_eq!(
            names.last().and_then(|n| n.as_str()),
            Some(field.as_str()),
            "{json}"
        );
    }
    assert_eq!(serde_json::from_value::<Profile>(json).unwrap(), mine);

    let err = serde_json::from_str::<Profile>(r#"{"name": "x", "click_id": ["c"], "payot": []}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `payot`"), "{err}");
    assert!(err.contains("`payout`"), "{err}");
    let err = serde_json::from_str::<Profile>(r#"{"name": "x", "click_id": ["c"], "txid": 1}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid type: integer `1`"), "{err}");
    let err = serde_json::from_str::<Profile>("[]")
        .unwrap_err()
        .to_string();
    assert!(err.contains("struct Profile"), "{err}");
}
