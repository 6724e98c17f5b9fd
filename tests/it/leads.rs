//! The field guide's test lead through every network -> tracker pair of the built-in catalog:
//! the URL `build_postback_url` writes, fired as the network expands it, must be recorded by the
//! tracker's built-in profile with the state the network meant (`tests/data/leads.txt`).

use std::collections::BTreeSet;

use postback::build_postback_url;
use postback::catalog::{Catalog, NetworkMacros};
use postback::profile::{ClickIdShape, Profile};
use postback::template::{Template, Value};
use postback::{
    Click, ClickId, ClickStore, ConversionState, LintContext, MemoryStore, Parser, Request,
    Tracker, lint,
};

const BASE: &str = "https://tracker.example/k3y";

/// One line of the data file.
struct Case<'a> {
    line: usize,
    network: &'a str,
    tracker: &'a str,
    /// What the network puts in its status macro; `None` for a network without one.
    value: Option<&'a str>,
    outcome: &'a str,
    state: Option<ConversionState>,
}

fn cases() -> Vec<Case<'static>> {
    include_str!("../data/leads.txt")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            let [network, tracker, value, outcome, state] = f[..] else {
                panic!("line {}: expected 5 fields: {l}", i + 1);
            };
            let optional = |s: &'static str| (s != "-").then_some(s);
            Case {
                line: i + 1,
                network,
                tracker,
                value: optional(value),
                outcome,
                state: optional(state).map(|s| s.parse().unwrap()),
            }
        })
        .collect()
}

#[test]
fn every_pair_records_the_test_lead_as_the_network_meant_it() {
    let cases = cases();
    let catalog = Catalog::builtin();
    let approved: BTreeSet<(&str, &str)> = cases
        .iter()
        .filter(|c| c.state == Some(ConversionState::Approved))
        .map(|c| (c.network, c.tracker))
        .collect();
    for net in catalog.networks() {
        for trk in catalog.trackers() {
            assert!(
                approved.contains(&(net.name(), trk.name())),
                "no approved test lead for {} -> {} in tests/data/leads.txt",
                net.name(),
                trk.name()
            );
        }
    }
    for case in &cases {
        check(case);
    }
}

fn check(case: &Case<'_>) {
    let catalog = Catalog::builtin();
    let at = format!("line {}: {} -> {}", case.line, case.network, case.tracker);
    let net = catalog.network(case.network).unwrap();
    let trk = catalog.tracker(case.tracker).unwrap();
    let url = build_postback_url(net.name(), trk.name(), BASE).unwrap();
    let ctx = LintContext::new().with_network(net).with_tracker(trk);
    assert_eq!(lint(&url, &ctx), [], "{at}: {url}");
    let template = Template::parse_with(&url, net.dialect()).unwrap();

    // The value the line names must be one the network sends; a URL without the status macro
    // goes out for approved conversions only (every conversion, or the network's filter).
    let meaning = case.value.map(|value| {
        net.status_values()
            .iter()
            .find_map(|(v, state)| (v == value).then_some(*state))
            .unwrap_or_else(|| panic!("{at}: `{value}` is not a status value of the network"))
    });
    assert_eq!(
        meaning.is_some(),
        net.status().is_some(),
        "{at}: give the network's status value exactly when it has a status macro"
    );
    let sends_status = net
        .status()
        .is_some_and(|s| template.macros().any(|m| m.name() == s));
    if !sends_status {
        assert!(
            meaning.is_none_or(|m| m == ConversionState::Approved),
            "{at}: {url} carries no status, so only an approved lead goes through it"
        );
    }

    let profile = Profile::builtin(trk.name()).unwrap();
    let tracker = Tracker::new(MemoryStore::new(), Parser::from(profile));
    let id = match profile.click_id_shape() {
        ClickIdShape::PositiveInteger => "4242".to_owned(),
        _ => ClickId::generate().to_string(),
    };
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        tracker.record_click(Click::new(&id, now).unwrap()).unwrap(),
        postback::store::Inserted::New
    );

    let fired = template.expand(&fill(net, &id, case.value)).unwrap();
    let outcome = tracker.handle(&Request::get(&fired), now);
    assert_eq!(outcome.code(), case.outcome, "{at}: {fired}");
    let conversions = tracker.store().conversions(&id).unwrap();
    let states: Vec<ConversionState> = conversions.iter().map(|c| c.standing.state).collect();
    assert_eq!(states, Vec::from_iter(case.state), "{at}: {fired}");
    if case.state.is_some() {
        assert_eq!(
            tracker.handle(&Request::get(&fired), now).code(),
            "duplicate",
            "{at}: the network's retry must not count again: {fired}"
        );
        if net.payout().is_some() && !trk.payout().is_empty() {
            let payout = conversions[0].standing.payout.map(|p| p.to_string());
            assert_eq!(payout.as_deref(), Some("12.50"), "{at}: {fired}");
        }
    }
}

/// The network's expansion of its macros for this lead: the click id in the macro it went out
/// in, the lead's payout, currency, transaction id and status; nothing in other macros.
fn fill<'a>(
    net: &'a NetworkMacros,
    id: &'a str,
    status: Option<&'a str>,
) -> impl Fn(&str) -> Option<Value<'static>> + 'a {
    move |name: &str| {
        let text = |s: &str| Some(Value::from(s.to_owned()));
        if Some(name) == net.click().first().map(String::as_str) {
            text(id)
        } else if Some(name) == net.payout() {
            text("12.50")
        } else if Some(name) == net.currency() {
            text("USD")
        } else if Some(name) == net.txid() {
            text("LEAD-1")
        } else if Some(name) == net.status() {
            status.and_then(text)
        } else {
            text("")
        }
    }
}
