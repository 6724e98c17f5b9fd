//! Parsing postbacks: the crate's single-pass parser against `url` + a `HashMap`.
//!
//! `parse` times the one 10-parameter postback the issue pins.
//!
//! `parse_corpus` times the table of real-world postbacks in `tests/data/postbacks.txt` (the
//! same file the integration test checks line by line): full URLs, request targets and bare
//! queries from every built-in profile, shaped after the networks' own documentation, with
//! percent-encoded and UTF-8 values, unread extras, long Taboola and gclid-shaped click ids,
//! mapping parameters, duplicates and form bodies, plus the error lines (every error code).
//! `serde:` lines are left out unless the bench is built with `--features serde`. One iteration
//! is the whole corpus; each line's `Parser` is built once, outside the timed loop.
//!
//! - `ok`: our parser over every OK line (form lines through `parse_form`).
//! - `errors`: our parser over every error line.
//! - `baseline_url_hashmap`: `url::Url::parse` (a relative target or bare query joined onto
//!   `http://base.invalid/`), `query_pairs()` into a `HashMap`, then the same fields our parser
//!   reads, each by the profile's names in order (first present wins), the payout as an `f64`.
//!   A form body has no URL to parse: it goes straight to `form_urlencoded::parse`.
//! - `baseline_form_urlencoded`: the query split off by hand (`#`, then `?`), then
//!   `form_urlencoded::parse` into a `HashMap` and the same lookups.
//!
//! The baselines get the input's shape decided outside the timed loop (our parser detects it
//! inside), and do no status mapping, macro detection, duplicate check or validation.
//!
//! `cargo bench --bench postback -- parse_corpus` (add `--warm-up-time 2 --measurement-time 5`
//! on a shared machine).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postback::Profile;
use postback::parse::{ParsePostbackError, Parser, Postback};

/// The 10-parameter postback the issue pins.
const URL: &str = "https://tracker.example/postback?click_id=01JD3X5V7QK2M8N4P6R9S1T3W5&status=approved&payout=12.50&currency=USD&txid=TX-99812&offer_id=417&goal=deposit&ts=1732435200&token=s3cr3t&sub2=fb_ads";

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(URL.len() as u64));
    let parser = Parser::generic();
    group.bench_function("postback", |b| {
        b.iter(|| {
            let pb = parser.parse(black_box(URL)).ok();
            black_box(
                pb.as_ref()
                    .map(|pb| (pb.click_id().len(), pb.state(), pb.payout())),
            );
        });
    });
    group.bench_function("baseline_url_hashmap", |b| {
        b.iter(|| {
            let url = url::Url::parse(black_box(URL)).ok();
            let params: HashMap<_, _> = url.iter().flat_map(url::Url::query_pairs).collect();
            black_box(params.get("click_id").map(|v| v.len()));
        });
    });
    group.finish();
}

/// The corpus: one case a line, `profile | input | ok|err | expected…` (see the file's header).
const CORPUS: &str = include_str!("../tests/data/postbacks.txt");

/// Where the baseline finds the query: the input's shape, decided once, outside the timed loop.
#[derive(Debug)]
enum Input {
    /// A full URL, parsed as it is.
    Absolute(&'static str),
    /// A request target or a bare query, joined onto the base URL (a bare query as `?query`).
    Relative(Cow<'static, str>),
    /// A form body: parsed with `parse_form`, and by both baselines as form bytes.
    Form(Vec<u8>),
}

/// One corpus line, ready to parse.
#[derive(Debug)]
struct Case {
    line: usize,
    parser: Parser,
    text: &'static str,
    input: Input,
    ok: bool,
}

impl Case {
    /// Our parser on this line's input.
    fn parse(&self) -> Result<Postback<'_>, ParsePostbackError> {
        match &self.input {
            Input::Form(body) => self.parser.parse_form(black_box(body)),
            Input::Absolute(_) | Input::Relative(_) => self.parser.parse(black_box(self.text)),
        }
    }
}

/// `\xHH` in a form input stands for one raw byte, as in the integration test.
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
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

/// How `url` should read `text`: as a URL, or joined onto a base (a bare query as `?query`).
/// The same rule as the parser's: a `?` before any `=`, `&` or `#` ends a relative path.
fn url_input(text: &'static str) -> Input {
    if text.contains("://") {
        Input::Absolute(text)
    } else if text.starts_with(['/', '?'])
        || text
            .find(['?', '=', '&', '#'])
            .is_some_and(|at| text.as_bytes()[at] == b'?')
    {
        Input::Relative(Cow::Borrowed(text))
    } else {
        Input::Relative(Cow::Owned(format!("?{text}")))
    }
}

/// Every corpus line this build can run (`serde:` lines only with the serde feature).
fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, line) in CORPUS.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&'static str> = line.split(" | ").collect();
        let profile = match cols[0].strip_prefix("serde:") {
            Some(_) if !cfg!(feature = "serde") => continue,
            Some(name) => name,
            None => cols[0],
        };
        let parser = Parser::builtin(profile).expect("a built-in profile");
        let text = cols[1];
        let input = match text.strip_prefix("form:") {
            Some(form) => Input::Form(unescape(form)),
            None => url_input(text),
        };
        let case = Case {
            line: i + 1,
            parser,
            text,
            input,
            ok: cols[2] == "ok",
        };
        // The table test checks each result; here only that the split into ok/errors holds.
        assert_eq!(case.parse().is_ok(), case.ok, "line {}", case.line);
        cases.push(case);
    }
    cases
}

/// A query's pairs, the last of a repeated name winning, as `HashMap`'s `collect` leaves them.
type Pairs<'a> = HashMap<Cow<'a, str>, Cow<'a, str>>;

/// The value of the first of `names` that `pairs` holds.
fn lookup<'a>(pairs: &'a Pairs<'_>, names: &[Box<str>]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| pairs.get(&**name))
        .map(|v| &**v)
}

/// The baselines' share of the work: the fields our parser reads, by the same names, and the
/// payout as a number.
fn read_fields(pairs: &Pairs<'_>, profile: &Profile) {
    let payout = lookup(pairs, profile.payout_params()).map(str::parse::<f64>);
    black_box((
        lookup(pairs, profile.click_id_params()),
        lookup(pairs, profile.status_params()),
        payout,
        lookup(pairs, profile.currency_params()),
        lookup(pairs, profile.txid_params()),
        lookup(pairs, profile.event_params()),
        lookup(pairs, profile.token_params()),
    ));
}

/// The query of a URL, request target or bare query: before any `#`, after the first `?`.
fn query_of(text: &str) -> &str {
    let text = text.find('#').map_or(text, |end| &text[..end]);
    text.find('?').map_or(text, |start| &text[start + 1..])
}

/// `baseline_url_hashmap` on one line: `url` parses it (or joins it onto `base`), its query
/// pairs go into a `HashMap`, and `read` gets them (`None` if `url` refuses the input).
fn url_hashmap<R>(case: &Case, base: &url::Url, read: impl FnOnce(&Pairs<'_>) -> R) -> Option<R> {
    let url = match &case.input {
        Input::Absolute(text) => url::Url::parse(black_box(text)),
        Input::Relative(text) => base.join(black_box(text)),
        Input::Form(body) => {
            return Some(read(
                &url::form_urlencoded::parse(black_box(body)).collect(),
            ));
        }
    };
    let url = url.ok()?;
    let pairs: Pairs<'_> = url.query_pairs().collect();
    Some(read(&pairs))
}

/// `baseline_form_urlencoded` on one line: the query split off by hand, its pairs into a
/// `HashMap`, and `read` gets them.
fn form_urlencoded<R>(case: &Case, read: impl FnOnce(&Pairs<'_>) -> R) -> R {
    let query = match &case.input {
        Input::Form(body) => body.as_slice(),
        Input::Absolute(_) | Input::Relative(_) => query_of(black_box(case.text)).as_bytes(),
    };
    read(&url::form_urlencoded::parse(black_box(query)).collect())
}

fn parse_corpus(c: &mut Criterion) {
    let cases = corpus();
    let (ok, errors): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|case| case.ok);
    let base = url::Url::parse("http://base.invalid/").expect("a base URL");
    // Both baselines find a click id in every OK line, so they do the work ours does.
    for case in &ok {
        let click_id =
            |pairs: &Pairs<'_>| lookup(pairs, case.parser.profile().click_id_params()).is_some();
        assert_eq!(
            url_hashmap(case, &base, click_id),
            Some(true),
            "line {}",
            case.line
        );
        assert!(form_urlencoded(case, click_id), "line {}", case.line);
    }

    let mut group = c.benchmark_group("parse_corpus");
    group.throughput(Throughput::Elements(ok.len() as u64));
    group.bench_function("ok", |b| {
        b.iter(|| {
            for case in &ok {
                if let Ok(pb) = case.parse() {
                    black_box((pb.click_id(), pb.state(), pb.payout()));
                }
            }
        });
    });
    group.throughput(Throughput::Elements(errors.len() as u64));
    group.bench_function("errors", |b| {
        b.iter(|| {
            for case in &errors {
                black_box(case.parse().err().map(|err| err.code()));
            }
        });
    });
    group.throughput(Throughput::Elements(ok.len() as u64));
    group.bench_function("baseline_url_hashmap", |b| {
        b.iter(|| {
            for case in &ok {
                let profile = case.parser.profile();
                url_hashmap(case, &base, |pairs| read_fields(pairs, profile));
            }
        });
    });
    group.bench_function("baseline_form_urlencoded", |b| {
        b.iter(|| {
            for case in &ok {
                let profile = case.parser.profile();
                form_urlencoded(case, |pairs| read_fields(pairs, profile));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, parse, parse_corpus);
criterion_main!(benches);
