//! `postback`: the field guide's debugging steps, one command each.
//!
//! A lost conversion is usually found by the same few moves: lint the postback template, rebuild
//! the URL the network should have, parse what actually arrived, and fire a test lead. This tool
//! does each with the library's own code, so what it says is what a tracker built on the crate
//! would do. Exit status: 0 when all is well, 1 when there are findings or a step failed, 2 for a
//! usage error.

mod parse;
mod test_lead;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, CommandFactory, Parser as _, Subcommand};
use postback::build::BuildError;
use postback::catalog::{NetworkMacros, TrackerParams};
use postback::template::Template;
use postback::{Catalog, ClickIdGenerator, ConversionState, LintContext, Profile, lint};
use serde::Serialize;

/// Lint, build, parse and test S2S postback URLs.
#[derive(Debug, clap::Parser)]
#[command(
    name = "postback",
    version,
    propagate_version = true,
    after_help = "Exit status: 0 when all is well, 1 on findings or a failed step, 2 on a usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print JSON (one object a line) instead of text for people
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check postback templates for the field's classic mistakes; exit status 1 on findings
    Lint(LintArgs),
    /// Print the postback URL to paste into a network for a tracker
    Build(BuildArgs),
    /// Parse postback URLs with a profile and print their fields or the error; exit status 1
    /// when one does not parse
    Parse(parse::ParseArgs),
    /// Simulate the field guide's test lead end to end; exit status 1 when a step fails
    TestLead(test_lead::TestLeadArgs),
    /// Print new click ids, one a line
    ClickId(ClickIdArgs),
    /// List the built-in parser profiles (names for `--profile`)
    Profiles,
    /// List the networks in the built-in catalog (names for `--network`) and its trackers
    Networks,
}

#[derive(Debug, Args)]
struct LintArgs {
    /// The network that expands the templates: its macros are the known ones
    #[arg(long, value_name = "N", value_parser = network_names(), ignore_case = true)]
    network: Option<String>,
    /// The tracker that receives the postbacks: which parameters carry click id and status
    #[arg(long, value_name = "T", value_parser = tracker_names(), ignore_case = true)]
    tracker: Option<String>,
    /// Templates or pasted postback URLs (quote them: `&` and `#` mean something to the shell)
    #[arg(required = true, value_name = "TEMPLATE")]
    templates: Vec<String>,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// The network the URL is pasted into
    #[arg(long, value_name = "N", value_parser = network_names(), ignore_case = true)]
    network: String,
    /// The tracker that receives the postbacks
    #[arg(long, value_name = "T", value_parser = tracker_names(), ignore_case = true)]
    tracker: String,
    /// The tracker's https address (Keitaro: including the postback key path)
    #[arg(long, value_name = "URL", default_value = "https://tracker.example")]
    base: String,
}

#[derive(Debug, Args)]
struct ClickIdArgs {
    /// How many ids
    #[arg(value_name = "N", default_value_t = 1)]
    count: u64,
}

/// Whether the output is for people or for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

/// How a command went, before it becomes an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Clean,
    Findings,
}

impl Verdict {
    fn from_clean(clean: bool) -> Self {
        if clean { Self::Clean } else { Self::Findings }
    }
}

/// The catalog's network names and aliases, for clap to check and list in `--help`.
fn network_names() -> PossibleValuesParser {
    PossibleValuesParser::new(Catalog::builtin().networks().map(|network| {
        PossibleValue::new(network.name()).aliases(network.aliases().iter().map(String::as_str))
    }))
}

/// The catalog's tracker names.
fn tracker_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        Catalog::builtin()
            .trackers()
            .map(|tracker| PossibleValue::new(tracker.name())),
    )
}

/// The built-in profile names.
fn profile_names() -> PossibleValuesParser {
    PossibleValuesParser::new(Profile::BUILTIN_NAMES)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = if cli.json {
        Format::Json
    } else {
        Format::Human
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let result = run(cli.command, format, &mut out).and_then(|verdict| {
        out.flush()?;
        Ok(verdict)
    });
    match result {
        Ok(Verdict::Clean) => ExitCode::SUCCESS,
        Ok(Verdict::Findings) => ExitCode::from(1),
        // `postback click-id 1000000 | head` is a normal way to stop reading.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command, format: Format, out: &mut impl Write) -> io::Result<Verdict> {
    match command {
        Command::Lint(args) => run_lint(&args, format, out),
        Command::Build(args) => run_build(&args, format, out),
        Command::Parse(args) => parse::run(&args, format, out),
        Command::TestLead(args) => test_lead::run(&args, format, out),
        Command::ClickId(args) => run_click_id(&args, format, out),
        Command::Profiles => run_profiles(format, out),
        Command::Networks => run_networks(format, out),
    }
}

fn run_lint(args: &LintArgs, format: Format, out: &mut impl Write) -> io::Result<Verdict> {
    #[derive(Serialize)]
    struct Report<'a> {
        input: &'a str,
        findings: Vec<FindingJson<'a>>,
    }
    #[derive(Serialize)]
    struct FindingJson<'a> {
        code: &'static str,
        start: usize,
        end: usize,
        message: &'a str,
    }

    let catalog = Catalog::builtin();
    let mut context = LintContext::new();
    if let Some(network) = args.network.as_deref().and_then(|n| catalog.network(n)) {
        context = context.with_network(network);
    }
    if let Some(tracker) = args.tracker.as_deref().and_then(|t| catalog.tracker(t)) {
        context = context.with_tracker(tracker);
    }
    let mut clean = true;
    for template in &args.templates {
        let findings = lint(template, &context);
        clean &= findings.is_empty();
        match format {
            Format::Json => {
                let report = Report {
                    input: template,
                    findings: findings
                        .iter()
                        .map(|f| FindingJson {
                            code: f.code(),
                            start: f.span().start,
                            end: f.span().end,
                            message: f.hint(),
                        })
                        .collect(),
                };
                write_json(out, &report)?;
            }
            Format::Human => {
                writeln!(out, "{template}")?;
                if findings.is_empty() {
                    writeln!(out, "  no findings")?;
                }
                for finding in &findings {
                    writeln!(out, "  {finding}")?;
                }
            }
        }
    }
    Ok(Verdict::from_clean(clean))
}

fn run_build(args: &BuildArgs, format: Format, out: &mut impl Write) -> io::Result<Verdict> {
    #[derive(Serialize)]
    struct Report<'a> {
        network: &'a str,
        tracker: &'a str,
        url: &'a str,
    }

    let catalog = Catalog::builtin();
    let url = match catalog.build_postback_url(&args.network, &args.tracker, &args.base) {
        Ok(url) => url,
        // A base that cannot work is a bad argument: say so the way clap does, exit status 2.
        Err(err @ BuildError::InvalidBase { .. }) => Cli::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!("--base `{}`: {err}", args.base),
            )
            .exit(),
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(Verdict::Findings);
        }
    };
    match format {
        Format::Json => write_json(
            out,
            &Report {
                network: canonical_network(&args.network),
                tracker: canonical_tracker(&args.tracker),
                url: &url,
            },
        )?,
        Format::Human => {
            writeln!(out, "{url}")?;
            // On stderr: stdout stays the bare URL for scripts.
            if let (Some(net), Some(trk)) = (
                catalog.network(&args.network),
                catalog.tracker(&args.tracker),
            ) && let Some(note) = filter_note(net, trk, &url)
            {
                eprintln!("note: {note}");
            }
        }
    }
    Ok(Verdict::Clean)
}

/// What the user must set on the network's side when the URL does not carry the network's
/// status: the tracker cannot read the network's codes (it has no status, or carries its own
/// word for approved instead), so the network must fire it for approved conversions only.
fn filter_note(network: &NetworkMacros, tracker: &TrackerParams, url: &str) -> Option<String> {
    let status = network.status()?;
    let template = Template::parse_with(url, network.dialect()).ok()?;
    let filtered = network.status_filter().contains(&ConversionState::Approved)
        && !template.macros().any(|m| m.name() == status);
    filtered.then(|| {
        format!(
            "{} does not read {}'s status codes: this URL must fire for approved conversions \
             only (set the postback's status filter to approved in {})",
            tracker.name(),
            network.name(),
            network.name()
        )
    })
}

fn run_click_id(args: &ClickIdArgs, format: Format, out: &mut impl Write) -> io::Result<Verdict> {
    #[derive(Serialize)]
    struct Report<'a> {
        click_id: &'a str,
        timestamp_ms: u64,
    }

    let ids = ClickIdGenerator::new();
    for _ in 0..args.count {
        let id = ids.generate();
        let text = id.encode();
        match format {
            Format::Json => write_json(
                out,
                &Report {
                    click_id: text.as_str(),
                    timestamp_ms: id.timestamp_ms(),
                },
            )?,
            Format::Human => writeln!(out, "{text}")?,
        }
    }
    Ok(Verdict::Clean)
}

fn run_profiles(format: Format, out: &mut impl Write) -> io::Result<Verdict> {
    let catalog = Catalog::builtin();
    for profile in Profile::builtins() {
        if format == Format::Json {
            write_json(out, profile)?;
            continue;
        }
        write!(out, "{:<19}", profile.name())?;
        let fields: [(&str, &[Box<str>]); 6] = [
            ("click id", profile.click_id_params()),
            ("status", profile.status_params()),
            ("payout", profile.payout_params()),
            ("currency", profile.currency_params()),
            ("txid", profile.txid_params()),
            ("event", profile.event_params()),
        ];
        for (what, params) in fields {
            if !params.is_empty() {
                write!(out, "  {what}: {}", params.join("|"))?;
            }
        }
        match profile.default_state() {
            Some(state) => write!(out, "  no status means: {state}")?,
            None if profile.status_params().is_empty() => write!(out, "  (sends no status)")?,
            None => {}
        }
        if catalog.tracker(profile.name()).is_some() {
            write!(out, "  [--tracker]")?;
        }
        writeln!(out)?;
    }
    Ok(Verdict::Clean)
}

fn run_networks(format: Format, out: &mut impl Write) -> io::Result<Verdict> {
    let catalog = Catalog::builtin();
    for network in catalog.networks() {
        if format == Format::Json {
            write_json(out, network)?;
            continue;
        }
        write!(
            out,
            "{:<10} {:<8}",
            network.name(),
            network.dialect().as_str()
        )?;
        match network.click() {
            [] => {}
            [one] => write!(out, "  click: {one}")?,
            [first, rest @ ..] => write!(out, "  click: {first} (or {} more)", rest.len())?,
        }
        let single = [
            ("payout", network.payout()),
            ("currency", network.currency()),
            ("txid", network.txid()),
            ("status", network.status()),
        ];
        for (what, name) in single {
            if let Some(name) = name {
                write!(out, "  {what}: {name}")?;
            }
        }
        if !network.status_values().is_empty() {
            let values: Vec<String> = network
                .status_values()
                .iter()
                .map(|(value, state)| format!("{value}={state}"))
                .collect();
            write!(out, " ({})", values.join(" "))?;
        }
        if !network.aliases().is_empty() {
            write!(out, "  alias: {}", network.aliases().join(", "))?;
        }
        writeln!(out)?;
    }
    if format == Format::Human {
        let trackers: Vec<&str> = catalog.trackers().map(TrackerParams::name).collect();
        writeln!(out, "\ntrackers (for --tracker): {}", trackers.join(" "))?;
    }
    Ok(Verdict::Clean)
}

/// The catalog's spelling of a network name clap accepted (any case, or an alias).
fn canonical_network(name: &str) -> &str {
    Catalog::builtin()
        .network(name)
        .map_or(name, |network| network.name())
}

/// The catalog's spelling of a tracker name clap accepted (any case).
fn canonical_tracker(name: &str) -> &str {
    Catalog::builtin()
        .tracker(name)
        .map_or(name, |tracker| tracker.name())
}

/// Writes `value` as one line of JSON.
fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// `RAW=STATE` for `parse --map`, such as `hold=pending` or `7=approved`.
fn status_mapping(arg: &str) -> Result<(String, ConversionState), String> {
    let (raw, state) = arg
        .rsplit_once('=')
        .ok_or_else(|| format!("`{arg}` is not RAW=STATE, such as `hold=pending`"))?;
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!("`{arg}` has no status word before `=`"));
    }
    let state = state.trim().parse().map_err(|_| {
        format!("`{state}` is not a state: use pending, approved, rejected or reversed")
    })?;
    Ok((raw.to_owned(), state))
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn status_mapping_reads_raw_and_state() {
        use postback::ConversionState::{Approved, Pending};
        assert_eq!(
            super::status_mapping("hold=pending"),
            Ok(("hold".to_owned(), Pending))
        );
        assert_eq!(
            super::status_mapping(" 7 = Approved"),
            Ok(("7".to_owned(), Approved))
        );
        assert!(super::status_mapping("hold").is_err());
        assert!(super::status_mapping("=pending").is_err());
        assert_eq!(
            super::status_mapping("hold=maybe"),
            Err("`maybe` is not a state: use pending, approved, rejected or reversed".to_owned())
        );
    }
}
