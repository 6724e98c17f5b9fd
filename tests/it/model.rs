//! The tracker against a reference model written plainly: any sequence of postbacks, in any
//! order and with duplicates, gives the same outcomes, counted conversions and final states.

use std::collections::BTreeMap;

use postback::store::ConversionKey;
use postback::{
    Click, ClickStore, ConversionState, MemoryStore, Outcome, Parser, Request, Tracker,
};
use proptest::prelude::*;
use time::OffsetDateTime;

/// Two ids of the user's own format and one of `ClickId`'s, which `MemoryStore` keys by value
/// rather than by text: both of its maps are held to the model.
const CLICKS: [&str; 3] = ["click-a", "click-b", "01jd3x5v7qk2m8n4p6r9s1t3w5"];

#[derive(Debug, Clone)]
struct Fire {
    click: usize, // CLICKS.len() means an unknown click
    txid: Option<&'static str>,
    state: ConversionState,
    payout: Option<u8>,
}

fn fire() -> impl Strategy<Value = Fire> {
    (
        0..=CLICKS.len(),
        prop::option::of(prop::sample::select(vec!["T1", "T2"])),
        prop::sample::select(ConversionState::ALL.to_vec()),
        prop::option::of(1u8..3),
    )
        .prop_map(|(click, txid, state, payout)| Fire {
            click,
            txid,
            state,
            payout,
        })
}

/// (click, txid) -> (state, payout, accepted postbacks)
type Conversions = BTreeMap<(usize, Option<&'static str>), (ConversionState, Option<u8>, usize)>;

/// The rules, written as plainly as possible.
#[derive(Default)]
struct Model {
    conversions: Conversions,
}

impl Model {
    fn fire(&mut self, f: &Fire) -> Outcome {
        if f.click == CLICKS.len() {
            return Outcome::ClickNotFound;
        }
        let Some((state, payout, accepted)) = self.conversions.get_mut(&(f.click, f.txid)) else {
            self.conversions
                .insert((f.click, f.txid), (f.state, f.payout, 1));
            return Outcome::Recorded;
        };
        let new_payout = f.payout.or(*payout);
        let allowed = matches!(
            (*state, f.state),
            (
                ConversionState::Pending,
                ConversionState::Approved | ConversionState::Rejected
            ) | (
                ConversionState::Approved,
                ConversionState::Rejected | ConversionState::Reversed
            )
        );
        let final_state = matches!(
            *state,
            ConversionState::Rejected | ConversionState::Reversed
        );
        if *state == f.state {
            if new_payout != *payout && !final_state {
                *payout = new_payout;
                *accepted += 1;
                return Outcome::Updated {
                    from: f.state,
                    to: f.state,
                };
            }
            return Outcome::Duplicate;
        }
        if !allowed {
            return Outcome::IllegalTransition {
                from: *state,
                to: f.state,
            };
        }
        let from = *state;
        *state = f.state;
        *payout = new_payout;
        *accepted += 1;
        Outcome::Updated { from, to: f.state }
    }
}

fn url(f: &Fire) -> String {
    let click = CLICKS.get(f.click).copied().unwrap_or("click-unknown");
    let mut url = format!("/pb?click_id={click}&status={}", f.state);
    if let Some(txid) = f.txid {
        url += "&txid=";
        url += txid;
    }
    if let Some(payout) = f.payout {
        url += "&payout=";
        url += &payout.to_string();
    }
    url
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tracker_agrees_with_the_model(fires in prop::collection::vec(fire(), 1..40)) {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let tracker = Tracker::new(MemoryStore::new(), Parser::generic()).with_log_capacity(0);
        for click in CLICKS {
            let _ = tracker.record_click(Click::new(click, now).unwrap()).unwrap();
        }
        let mut model = Model::default();
        for f in &fires {
            let got = tracker.handle(&Request::get(&url(f)), now);
            prop_assert_eq!(got, model.fire(f), "{}", url(f));
        }
        for (i, click) in CLICKS.iter().enumerate() {
            let stored = tracker.store().conversions(click).unwrap();
            let expected: Vec<_> = model.conversions.range((i, None)..=(i, Some("~"))).collect();
            prop_assert_eq!(stored.len(), expected.len(), "conversions of {}", click);
            for ((_, txid), (state, payout, accepted)) in expected {
                let key = ConversionKey::for_postback(*txid, None);
                let c = stored.iter().find(|c| c.key == key).unwrap();
                prop_assert_eq!(c.standing.state, *state);
                prop_assert_eq!(c.standing.payout.map(postback::Amount::units), payout.map(i64::from));
                prop_assert_eq!(c.history.len(), *accepted, "history of {}/{:?}", click, txid);
            }
        }
    }
}
