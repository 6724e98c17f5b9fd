//! The whole S2S job on the embedded `MemoryStore`, printed step by step: a click goes out to an
//! Affise offer, Affise calls back a Keitaro-style postback URL, and the tracker counts it once.
//!
//! `cargo run --example quickstart`

use postback::{
    Catalog, Click, ClickIdGenerator, ClickStore, LintContext, MemoryStore, OnMissing, Outcome,
    Parser, Request, Template, Tracker, build_postback_url, lint,
};
use time::OffsetDateTime;

const NETWORK: &str = "affise";
const TRACKER: &str = "keitaro";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // --- Click time -----------------------------------------------------------------------
    let ids = ClickIdGenerator::new();
    let tracker = Tracker::new(
        MemoryStore::new(),
        Parser::builtin(TRACKER).ok_or("no profile")?,
    );

    let click = ids.generate();
    let stored = tracker.record_click(Click::from_id(click).with_campaign("summer-sale")?)?;
    println!("1. click id             {click} ({stored:?} in the store)");

    // The offer link passes the id in the network's sub1 (compiled once, expanded per click).
    let offer = Template::parse("https://offer.example/?offer_id=417&sub1={subid}")?;
    let id_text = click.to_string();
    println!(
        "2. offer link           {}",
        offer.expand(&[("subid", id_text.as_str())])?
    );

    // --- Setup: the postback URL to paste into the network ----------------------------------
    let postback_url = build_postback_url(NETWORK, TRACKER, "https://track.example")?;
    println!("3. paste into {NETWORK}    {postback_url}");
    let catalog = Catalog::builtin();
    let context = LintContext::new()
        .with_network(catalog.network(NETWORK).ok_or("no network")?)
        .with_tracker(catalog.tracker(TRACKER).ok_or("no tracker")?);
    let findings = lint(&postback_url, &context);
    println!("   lint                 {} finding(s)", findings.len());

    // --- Conversion time: the network expands its macros and calls us ------------------------
    let template = Template::parse(&postback_url)?;
    let fire = |label: &str, values: &[(&str, &str)]| -> Result<(), Box<dyn std::error::Error>> {
        let url = template.expand(values)?;
        let outcome = tracker.handle(&Request::get(&url), OffsetDateTime::now_utc());
        println!("{label:<22} {outcome} -> HTTP {}", outcome.http_status());
        println!("   {url}");
        if !outcome.is_counted() && outcome != Outcome::Duplicate {
            let entry = tracker.log().last(1).pop().ok_or("log is empty")?;
            println!("   why: {}", entry.hint().unwrap_or("-"));
        }
        Ok(())
    };
    let lead = [
        ("sub1", id_text.as_str()),
        ("sum", "12.50"),
        ("currency", "usd"),
        ("transactionid", "TX-1"),
        ("status", "2"), // Affise: 2 = pending
    ];
    fire("4. lead (status 2)", &lead)?;
    fire("5. same, retried", &lead)?;
    let mut sale = lead;
    sale[4] = ("status", "1"); // Affise: 1 = approved
    fire("6. approved (1)", &sale)?;
    let mut stranger = sale;
    stranger[0] = ("sub1", "MYTEST123");
    fire("7. unknown click id", &stranger)?;

    // A network that does not know a macro sends it literally.
    let careless = Template::parse(&postback_url)?.with_on_missing(OnMissing::Keep);
    let url = careless.expand(&lead[..4])?;
    let outcome = tracker.handle(&Request::get(&url), OffsetDateTime::now_utc());
    println!(
        "8. literal {{status}}     {outcome} -> HTTP {}",
        outcome.http_status()
    );
    println!("   {url}");
    if let Outcome::Invalid(err) = &outcome {
        println!("   why: {err}");
    }

    // --- The postback log: the first place to look when numbers disagree ----------------------
    println!("\nPostback log ({} entries):", tracker.log().len());
    for entry in tracker.log().entries() {
        let pb = entry.postback();
        println!(
            "  #{} {:<16} {:>3}  click={} state={} payout={}",
            entry.seq(),
            entry.code(),
            entry.outcome().http_status(),
            pb.map_or("-", |p| p.click_id()),
            pb.and_then(postback::Postback::state)
                .map_or("-", postback::ConversionState::as_str),
            pb.and_then(postback::Postback::payout)
                .map_or_else(|| "-".to_owned(), |a| a.to_string()),
        );
    }
    let conversions = tracker.store().conversions(&id_text)?;
    println!("\nCounted for {click}: {} conversion(s)", conversions.len());
    for c in &conversions {
        let states: Vec<_> = c
            .history
            .iter()
            .map(|h| h.standing.state.as_str())
            .collect();
        let payout = c
            .standing
            .payout
            .map_or_else(|| "-".to_owned(), |p| p.to_string());
        println!(
            "  {} {} payout={payout} history: {}",
            c.key,
            c.standing.state,
            states.join(" -> ")
        );
    }
    Ok(())
}
