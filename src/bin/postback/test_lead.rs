//! `postback test-lead`: the field guide's test lead, simulated end to end without a network.
//!
//! Firing a real test lead needs a live offer, a live tracker and someone on the network's side.
//! Most of what goes wrong can be seen before that: the postback template is played through the
//! same steps a real lead takes (click id, offer link, the network's expansion of its macros, the
//! tracker's parser, the match against the stored click), each reported as passed or failed with
//! the reason.

use std::borrow::Cow;
use std::io::{self, Write};

use clap::Args;
use postback::catalog::{NetworkMacros, TrackerParams};
use postback::profile::ClickIdShape;
use postback::template::{OnMissing, Template, Value};
use postback::{
    Catalog, Click, ClickId, ConversionState, LintContext, MemoryStore, Outcome, Parser, Request,
    Tracker, build_postback_url, lint,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::parse::{fields, parser_with_map};
use crate::{
    Format, Verdict, canonical_network, canonical_tracker, network_names, status_mapping,
    tracker_names,
};

/// Where the simulated tracker lives; `build` would take the user's real address.
const BASE: &str = "https://tracker.example";
/// What the simulated conversion pays, and how it is identified.
const PAYOUT: &str = "12.50";
const CURRENCY: &str = "USD";
const TXID: &str = "TEST-LEAD-1";
/// Every step, in order.
const STEPS: [&str; 8] = [
    "click",
    "offer link",
    "template",
    "lint",
    "network",
    "parse",
    "match",
    "retry",
];

#[derive(Debug, Args)]
pub(crate) struct TestLeadArgs {
    /// The network that fires the postback
    #[arg(long, value_name = "N", value_parser = network_names(), ignore_case = true)]
    network: String,
    /// The tracker that receives it
    #[arg(long, value_name = "T", value_parser = tracker_names(), ignore_case = true)]
    tracker: String,
    /// The postback template pasted into the network (default: what `postback build` writes)
    #[arg(long, value_name = "URL")]
    template: Option<String>,
    /// Also map the status word or code RAW to STATE in the tracker's profile, as `parse
    /// --map` does; repeat for more
    #[arg(long = "map", value_name = "RAW=STATE", value_parser = status_mapping)]
    map: Vec<(String, ConversionState)>,
}

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Serialize)]
struct Step {
    #[serde(rename = "step")]
    name: &'static str,
    status: Status,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    network: &'a str,
    tracker: &'a str,
    ok: bool,
    steps: Vec<Step>,
}

/// The steps in order; each pushes its result, and a step that later steps need stops the run.
struct Run<'c> {
    network: &'c NetworkMacros,
    tracker: &'c TrackerParams,
    parser: Parser,
    steps: Vec<Step>,
}

impl<'c> Run<'c> {
    fn passed(&mut self, step: &'static str, detail: impl Into<String>) {
        self.push(step, Status::Passed, detail.into());
    }

    fn failed(&mut self, step: &'static str, detail: impl Into<String>) {
        self.push(step, Status::Failed, detail.into());
    }

    fn push(&mut self, step: &'static str, status: Status, detail: String) {
        self.steps.push(Step {
            name: step,
            status,
            detail,
        });
    }

    /// Marks every step after the last one run as skipped.
    fn skip_rest(&mut self) {
        for step in STEPS.iter().skip(self.steps.len()) {
            self.push(step, Status::Skipped, "an earlier step failed".to_owned());
        }
    }

    fn simulate(&mut self, given: Option<&str>) {
        let tracker = Tracker::new(MemoryStore::new(), self.parser.clone());
        let now = time::OffsetDateTime::now_utc();
        let Some(id) = self.click(&tracker, now) else {
            return self.skip_rest();
        };
        let Some(click_macro) = self.offer_link(&id) else {
            return self.skip_rest();
        };
        let Some((source, template)) = self.template(given) else {
            return self.skip_rest();
        };
        self.lint(&source, click_macro);
        let url = self.expand(&template, click_macro, &id);
        self.network_step(&template, click_macro, &url);
        self.parse(&url, &id);
        if self.match_click(&tracker, &url, now) {
            self.retry(&tracker, &url, now);
        }
        self.skip_rest();
    }

    /// The tracker gives the click an id and remembers it. Prosper202 issues integers.
    fn click(&mut self, tracker: &Tracker<MemoryStore>, now: OffsetDateTime) -> Option<String> {
        let id = ClickId::generate();
        let text = match self.parser.profile().click_id_shape() {
            ClickIdShape::PositiveInteger => (id.timestamp_ms() % 1_000_000_000 + 1).to_string(),
            _ => id.to_string(),
        };
        let click = Click::new(&text, now).unwrap_or_else(|_| Click::from_id(id));
        match tracker.record_click(click) {
            Ok(_) => {
                self.passed("click", format!("{text} recorded in a fresh MemoryStore"));
                Some(text)
            }
            Err(err) => {
                self.failed("click", format!("the store refused the click: {err}"));
                None
            }
        }
    }

    /// The offer link passes the id in the network's preferred click macro; returns that macro.
    fn offer_link(&mut self, id: &str) -> Option<&'c str> {
        let network: &'c NetworkMacros = self.network;
        let Some(click_macro) = network.click().first() else {
            let name = network.name();
            self.failed(
                "offer link",
                format!("network `{name}` lists no click macro"),
            );
            return None;
        };
        self.passed(
            "offer link",
            format!(
                "https://offer.example/click?offer_id=1&{click_macro}={id} (the network keeps \
                 the id as `{click_macro}`)"
            ),
        );
        Some(click_macro)
    }

    /// The postback template pasted into the network, compiled in the network's dialect.
    fn template(&mut self, given: Option<&str>) -> Option<(String, Template)> {
        let source = match given {
            Some(template) => template.to_owned(),
            None => match build_postback_url(self.network.name(), self.tracker.name(), BASE) {
                Ok(url) => url,
                Err(err) => {
                    self.failed("template", format!("cannot build one: {err}"));
                    return None;
                }
            },
        };
        match Template::parse_with(&source, self.network.dialect()) {
            Ok(template) => {
                let origin = if given.is_some() {
                    "as given"
                } else {
                    "as `postback build` writes it"
                };
                let note = crate::filter_note(self.network, self.tracker, &source)
                    .map(|note| format!("; {note}"))
                    .unwrap_or_default();
                self.passed("template", format!("{source} ({origin}{note})"));
                Some((source, template.with_on_missing(OnMissing::Keep)))
            }
            Err(err) => {
                self.failed("template", format!("{source}: {err}"));
                None
            }
        }
    }

    /// The linter, knowing both ends and the macro the click went out in.
    fn lint(&mut self, source: &str, click_macro: &str) {
        let context = LintContext::new()
            .with_network(self.network)
            .with_tracker(self.tracker)
            .with_click_macro(click_macro);
        let findings = lint(source, &context);
        if findings.is_empty() {
            self.passed("lint", "no findings");
        } else {
            let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
            self.failed("lint", list.join("; "));
        }
    }

    /// The tracker's parser must read back the id that went out, as an approved conversion.
    fn parse(&mut self, url: &str, id: &str) {
        let expected = ConversionState::Approved;
        let profile = self.parser.profile().name();
        let verdict = match self.parser.parse(url) {
            Ok(pb) if !pb.click_id().eq_ignore_ascii_case(id) => Err(format!(
                "{}: the click id is not the one that went out ({id})",
                fields(&pb)
            )),
            Ok(pb) if pb.state() != Some(expected) => {
                let why = match (pb.state(), pb.status()) {
                    (Some(state), status) => format!(
                        "the approved conversion arrives as {state} (the {profile} profile's \
                         meaning of `{}`)",
                        status.unwrap_or_default()
                    ),
                    (None, Some(status)) => format!(
                        "status `{status}` means nothing to the {profile} profile (try --map \
                         {status}=approved)"
                    ),
                    (None, None) => {
                        format!("no status was sent and the {profile} profile has no default state")
                    }
                };
                Err(format!("{}: {why}", fields(&pb)))
            }
            Ok(pb) => Ok(fields(&pb)),
            Err(err) => Err(format!("{}: {err}", err.code())),
        };
        match verdict {
            Ok(detail) => self.passed("parse", detail),
            Err(detail) => self.failed("parse", detail),
        }
    }

    /// The match against the stored click; returns whether the conversion was recorded.
    fn match_click(
        &mut self,
        tracker: &Tracker<MemoryStore>,
        url: &str,
        now: OffsetDateTime,
    ) -> bool {
        let outcome = tracker.handle(&Request::get(url), now);
        let status = outcome.http_status();
        if outcome == Outcome::Recorded {
            self.passed("match", format!("{outcome} -> HTTP {status}"));
            return true;
        }
        let why = tracker
            .log()
            .last(1)
            .pop()
            .and_then(|entry| entry.hint().map(str::to_owned))
            .or_else(|| outcome.hint(None))
            .unwrap_or_default();
        self.failed("match", format!("{outcome} -> HTTP {status}: {why}"));
        false
    }

    /// The network retries: the conversion must not count twice.
    fn retry(&mut self, tracker: &Tracker<MemoryStore>, url: &str, now: OffsetDateTime) {
        let again = tracker.handle(&Request::get(url), now);
        let status = again.http_status();
        if again == Outcome::Duplicate {
            self.passed("retry", format!("{again} -> HTTP {status}: counted once"));
        } else {
            self.failed(
                "retry",
                format!("{again} -> HTTP {status}: a retry must not count again"),
            );
        }
    }

    /// The URL the network calls: its macros filled in for an approved conversion of `id`.
    fn expand(&self, template: &Template, click_macro: &str, id: &str) -> String {
        let network = self.network;
        let approved = network
            .status_values()
            .iter()
            .find(|(_, state)| *state == ConversionState::Approved)
            .map(|(value, _)| value.clone());
        let values = |name: &str| -> Option<Value<'static>> {
            let text = |s: &str| Some(Value::Text(Cow::Owned(s.to_owned())));
            if name == click_macro {
                text(id)
            } else if Some(name) == network.payout() {
                text(PAYOUT)
            } else if Some(name) == network.currency() {
                text(CURRENCY)
            } else if Some(name) == network.txid() {
                text(TXID)
            } else if Some(name) == network.status() {
                match &approved {
                    Some(value) => text(value),
                    None => Some(Value::State(ConversionState::Approved)),
                }
            } else if network.knows(name) {
                // A macro the network has, with nothing in it for this lead (`{sub2}` of a
                // click that went out in `sub1`).
                text("")
            } else {
                None
            }
        };
        let mut url = String::new();
        // Missing values are kept as written (`OnMissing::Keep`), so expansion cannot fail.
        let _ = template.expand_into(&mut url, &values);
        url
    }

    fn network_step(&mut self, template: &Template, click_macro: &str, url: &str) {
        let network = self.network;
        let unknown: Vec<&str> = template
            .macros()
            .filter(|m| !network.knows(m.name()))
            .map(|m| m.as_str())
            .collect();
        if template.macros().next().is_none() {
            self.failed(
                "network",
                format!(
                    "{url}: the template has no {} macro, so every postback is the same",
                    network.dialect().as_str()
                ),
            );
        } else if unknown.is_empty() {
            // Macros the network has but that hold nothing for this lead: worth a look when the
            // click parameter is one of them.
            let empty: Vec<&str> = template
                .macros()
                .filter(|m| !fills(network, click_macro, m.name()))
                .map(|m| m.as_str())
                .collect();
            if empty.is_empty() {
                self.passed("network", url.to_owned());
            } else {
                self.passed(
                    "network",
                    format!("{url} ({} empty for this lead)", empty.join(", ")),
                );
            }
        } else {
            self.failed(
                "network",
                format!(
                    "{url}: {} does not know {}, so it sends it literally",
                    network.name(),
                    unknown.join(", ")
                ),
            );
        }
    }
}

/// Whether the simulated lead gives the network's macro `name` a value.
fn fills(network: &NetworkMacros, click_macro: &str, name: &str) -> bool {
    name == click_macro
        || [
            network.payout(),
            network.currency(),
            network.txid(),
            network.status(),
        ]
        .contains(&Some(name))
}

pub(crate) fn run(
    args: &TestLeadArgs,
    format: Format,
    out: &mut impl Write,
) -> io::Result<Verdict> {
    let catalog = Catalog::builtin();
    let (Some(network), Some(tracker)) = (
        catalog.network(&args.network),
        catalog.tracker(&args.tracker),
    ) else {
        // clap accepted only catalog names, so this is unreachable in practice.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unknown network or tracker",
        ));
    };
    let profile = tracker.profile();
    let mut run = Run {
        network,
        tracker,
        parser: parser_with_map(profile, &args.map),
        steps: Vec::new(),
    };
    run.simulate(args.template.as_deref());
    let ok = run.steps.iter().all(|s| s.status == Status::Passed);
    let report = Report {
        network: canonical_network(&args.network),
        tracker: canonical_tracker(&args.tracker),
        ok,
        steps: run.steps,
    };
    match format {
        Format::Json => crate::write_json(out, &report)?,
        Format::Human => {
            writeln!(out, "test lead: {} -> {}", report.network, report.tracker)?;
            for step in &report.steps {
                let status = match step.status {
                    Status::Passed => "passed ",
                    Status::Failed => "FAILED ",
                    Status::Skipped => "skipped",
                };
                writeln!(out, "  {status}  {:<10}  {}", step.name, step.detail)?;
            }
            let verdict = if ok {
                "passed: the tracker counts this network's conversions once"
            } else {
                "FAILED: fix the first failed step and run again"
            };
            writeln!(out, "{verdict}")?;
        }
    }
    Ok(Verdict::from_clean(ok))
}
