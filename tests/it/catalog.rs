use postback::ConversionState;
use postback::build::BuildError;
use postback::build_postback_url;
use postback::catalog::{Catalog, NetworkMacros, TrackerParams};
use postback::lint::{LintContext, lint};
use postback::template::{Dialect, Template};

#[test]
fn catalog_names_are_the_documented_ones() {
    let catalog = Catalog::builtin();
    let networks: Vec<_> = catalog.networks().map(NetworkMacros::name).collect();
    assert_eq!(
        networks,
        [
            "affise", "cake", "everflow", "tune", "impact", "admitad", "awin", "scaleo", "keitaro"
        ]
    );
    let trackers: Vec<_> = catalog.trackers().map(TrackerParams::name).collect();
    assert_eq!(
        trackers,
        [
            "keitaro",
            "binom",
            "voluum",
            "redtrack",
            "bemob",
            "clickflare",
            "peerclick",
            "funnelflux",
            "prosper202",
            "generic"
        ]
    );
    assert_eq!(
        catalog.network("hasoffers").map(NetworkMacros::name),
        Some("tune")
    );
}

#[test]
fn every_built_url_is_lint_clean_and_parses() {
    let catalog = Catalog::builtin();
    for net in catalog.networks() {
        for trk in catalog.trackers() {
            let url =
                build_postback_url(net.name(), trk.name(), "https://tr.example/abc/").unwrap();
            let ctx = LintContext::new().with_network(net).with_tracker(trk);
            assert_eq!(lint(&url, &ctx), [], "{url}");
            let tpl = Template::parse(&url).unwrap();
            assert!(
                tpl.dialect() == net.dialect() || net.dialect() == Dialect::Keitaro,
                "{url}"
            );
            let click = format!("?{}=", trk.click()[0]);
            assert!(
                url.starts_with(&format!("https://tr.example/abc{}{click}", trk.path())),
                "{url}"
            );
        }
    }
}

#[test]
fn builder_maps_status_codes_for_the_tracker() {
    let url = build_postback_url("affise", "keitaro", "https://tr.example/k").unwrap();
    assert!(
        url.ends_with("&status={status}&lead_status=2,5&sale_status=1&rejected_status=3"),
        "{url}"
    );
    let url = build_postback_url("keitaro", "redtrack", "https://tr.example").unwrap();
    assert!(
        url.ends_with(
            "&status={status:lead=pending sale=approved rejected=declined rebill=approved}"
        ),
        "{url}"
    );
    let tpl = Template::parse(&url).unwrap();
    let values = |name: &str| match name {
        "status" => Some(postback::Value::State(ConversionState::Rejected)),
        _ => Some("x".into()),
    };
    assert!(tpl.expand(&values).unwrap().ends_with("&status=declined"));
    let url = build_postback_url("keitaro", "keitaro", "https://tr.example").unwrap();
    assert!(
        url.ends_with("&status={status}"),
        "Keitaro speaks its own words: {url}"
    );
}

#[test]
fn builder_errors_say_what_is_wrong() {
    let cases = [
        (
            "affise",
            "keitaro",
            "http://tr.example",
            "invalid base url: it does not use https",
        ),
        (
            "affise",
            "keitaro",
            "https://tr.example/?a=1",
            "invalid base url: it has a query",
        ),
        (
            "affise",
            "keitaro",
            "tr.example",
            "invalid base url: it is not an absolute URL",
        ),
        (
            "maxbounty",
            "keitaro",
            "https://tr.example",
            "unknown network `maxbounty`",
        ),
        (
            "affise",
            "thrive",
            "https://tr.example",
            "unknown tracker `thrive`",
        ),
        (
            "affise",
            "keitaro",
            "https://tr.example/{x",
            "built url fails lint `unbalanced_delimiter` at byte 19",
        ),
    ];
    for (net, trk, base, msg) in cases {
        assert_eq!(
            build_postback_url(net, trk, base).unwrap_err().to_string(),
            msg
        );
    }
    let catalog = Catalog::new().with_network(NetworkMacros::new("bare", Dialect::Brace));
    let catalog = catalog.with_tracker(TrackerParams::new("t", "/pb", "cid"));
    assert!(matches!(
        catalog.build_postback_url("bare", "t", "https://x.example"),
        Err(BuildError::NoClickMacro { .. })
    ));
}

#[test]
fn catalog_is_extendable() {
    let net = NetworkMacros::new("mynet", Dialect::Hash)
        .with_click(["aff"])
        .with_payout("amt")
        .with_status(
            "st",
            [
                ("ok", ConversionState::Approved),
                ("wait", ConversionState::Pending),
            ],
        );
    let mut catalog = Catalog::builtin().clone();
    catalog.extend(Catalog::new().with_network(net));
    let url = catalog
        .build_postback_url("mynet", "keitaro", "https://tr.example")
        .unwrap();
    assert_eq!(
        url,
        "https://tr.example/postback?subid=#aff#&payout=#amt#&status=#st#&lead_status=wait&sale_status=ok"
    );
    assert_eq!(catalog.networks().len(), 10);
}

#[cfg(feature = "serde")]
#[test]
fn catalog_round_trips_through_serde() {
    let json = serde_json::to_string(Catalog::builtin()).unwrap();
    let back: Catalog = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, Catalog::builtin());
    let config = r#"{"networks":[{"name":"cfgnet","dialect":"bang","click":["c"],"status":"s","status_values":[["A","approved"]]}]}"#;
    let extra: Catalog = serde_json::from_str(config).unwrap();
    let net = extra.network("cfgnet").unwrap();
    assert_eq!(net.dialect(), Dialect::Bang);
    assert_eq!(
        net.status_values(),
        [("A".to_owned(), ConversionState::Approved)]
    );
}

#[test]
fn builder_writes_a_status_every_tracker_counts() {
    let base = "https://tr.example";
    let cases = [
        // The generic endpoint takes a network's codes through its mapping parameters.
        (
            "affise",
            "generic",
            "https://tr.example/postback?click_id={sub1}&payout={sum}&currency={currency}&txid={transactionid}&status={status}&pending_status=2,5&approved_status=1&rejected_status=3",
        ),
        // BeMob's own example reads `1` as new: Affise's URL is its approved postback instead.
        (
            "affise",
            "bemob",
            "https://tr.example/postback?cid={sub1}&payout={sum}&txid={transactionid}&status=approved",
        ),
        // Prosper202's status only reverses: a conversion is counted without one.
        (
            "affise",
            "prosper202",
            "https://tr.example/tracking202/static/gpb.php?subid={sub1}&amount={sum}&txid={transactionid}",
        ),
        // Impact's words are read as they are, REVERSED included.
        (
            "impact",
            "peerclick",
            "https://tr.example/postback?cid={SubId1}&payout={Payout}&currency={Currency}&txid={ActionId}&status={Status}",
        ),
        // A status-less network: the generic endpoint has no default state.
        (
            "everflow",
            "generic",
            "https://tr.example/postback?click_id={sub1}&payout={payout}&txid={transaction_id}&status=approved",
        ),
    ];
    for (net, trk, want) in cases {
        assert_eq!(build_postback_url(net, trk, base).unwrap(), want);
    }
}

#[test]
fn builtin_trackers_are_made_from_the_parser_profiles() {
    use postback::profile::Profile;
    for trk in Catalog::builtin().trackers() {
        let profile = Profile::builtin(trk.name()).unwrap();
        let from = TrackerParams::from_profile(profile, trk.path());
        assert_eq!(trk.click(), from.click(), "{}", trk.name());
        assert_eq!(trk.payout(), from.payout(), "{}", trk.name());
        assert_eq!(trk.txid(), from.txid(), "{}", trk.name());
        assert_eq!(trk.default_state(), profile.default_state());
        for (word, state) in trk.status_words() {
            assert_eq!(profile.status_map().get(word), Some(*state), "{word}");
        }
    }
    // Prosper202's status parameter only carries reversals, which no template sends.
    let prosper = Catalog::builtin().tracker("prosper202").unwrap();
    assert!(prosper.status().is_empty());
}

/// A tracker entry is its profile plus a path: every list it gives is the profile's, and a
/// builder edit lands in the profile the parser reads.
#[test]
fn tracker_params_are_views_of_their_profile() {
    use postback::profile::{Field, Profile};
    for trk in Catalog::builtin().trackers() {
        let profile = trk.profile();
        assert_eq!(
            Some(profile),
            Profile::builtin(trk.name()),
            "{}",
            trk.name()
        );
        assert_eq!(trk.click(), profile.params(Field::ClickId));
        assert_eq!(trk.currency(), profile.params(Field::Currency));
        assert_eq!(trk.status_mapping(), profile.status_mapping_params());
        let words: Vec<_> = trk.status_words().iter().map(|(w, s)| (&**w, *s)).collect();
        let map: Vec<_> = profile.status_map().iter().collect();
        assert_eq!(words, map, "{}", trk.name());
    }
    let trk = TrackerParams::new("t", "/pb", "cid")
        .with_payout("amt")
        .with_status("st", [("ok", ConversionState::Approved)])
        .with_status_mapping([("ok_status", ConversionState::Approved)]);
    let pb = postback::Parser::new(trk.profile().clone())
        .parse("/pb?cid=c1&amt=2&st=yes&ok_status=yes")
        .unwrap();
    assert_eq!(pb.state(), Some(ConversionState::Approved));
    assert_eq!(pb.payout().unwrap().to_string(), "2");
    assert!(trk.is_status_param("st") && trk.is_status_param("ok_status"));
}

/// Prosper202 reads `status` only for reversals, so a URL carries none: a network's approved
/// code there would be a word the profile does not know, and such a postback is not counted.
#[test]
fn a_status_the_tracker_cannot_count_is_not_sent() {
    let prosper = Catalog::builtin().tracker("prosper202").unwrap();
    let status: Vec<&str> = prosper
        .profile()
        .status_params()
        .iter()
        .map(|p| &**p)
        .collect();
    assert_eq!(status, ["status"], "the parser reads it");
    assert!(prosper.status().is_empty(), "a template sends none");
    let parser = postback::Parser::new(prosper.profile().clone());
    let counted = parser.parse("subid=42").unwrap();
    assert_eq!(counted.state(), Some(ConversionState::Approved));
    let unknown = parser.parse("subid=42&status=1").unwrap();
    assert_eq!(unknown.state(), None);
}

#[cfg(feature = "serde")]
#[test]
fn a_tracker_loads_from_config_as_a_path_and_a_profile() {
    let config = r#"{"trackers":[{"path":"/conv","profile":{"name":"mine","click_id":["clid"],"payout":["amount"]}}]}"#;
    let catalog: Catalog = serde_json::from_str(config).unwrap();
    let mine = catalog.tracker("mine").unwrap();
    assert_eq!(mine.path(), "/conv");
    assert_eq!(&*mine.payout()[0], "amount");
    // Saved and loaded, the built-in catalog builds the same URLs: a tracker's first word for
    // a state (BeMob's `approved`, not its code `2`) survives the trip.
    let json = serde_json::to_string(Catalog::builtin()).unwrap();
    let back: Catalog = serde_json::from_str(&json).unwrap();
    for net in Catalog::builtin().networks() {
        for trk in Catalog::builtin().trackers() {
            let (net, trk, base) = (net.name(), trk.name(), "https://tr.example");
            assert_eq!(
                back.build_postback_url(net, trk, base),
                build_postback_url(net, trk, base)
            );
        }
    }
    let typo = r#"{"trackers":[{"path":"/conv","click":["clid"]}]}"#;
    let err = serde_json::from_str::<Catalog>(typo)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `click`"), "{err}");
}
