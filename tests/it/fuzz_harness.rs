//! The fuzz targets' input formats and invariant checks, in one place.
//!
//! `fuzz/fuzz_targets/*.rs` include this file and `oracle.rs` (`#[path]`, so that the checks
//! reach the oracle as `crate::oracle` there as here) and hand libFuzzer's bytes to one of
//! the four checks; `fuzz_regressions` replays the saved inputs under `tests/data/fuzz/` through
//! the same checks in plain `cargo test`. Each check decodes raw bytes itself (no `arbitrary`),
//! so a saved input means the same thing to both, and uses the public API only. A broken
//! invariant is a panic, which libFuzzer reports as a crash.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use postback::guard::TokenSource;
use postback::lint::{LintContext, lint};
use postback::parse::{Limits, ParsePostbackError, Postback};
use postback::store::{Conversion, ConversionKey, Inserted};
use postback::template::{Dialect, Encoding, ExpandError, OnMissing, Value};
use postback::{
    Catalog, Click, ClickId, ClickStore, ConversionState, Guard, MemoryConfig, MemoryStore,
    Outcome, Parser, Profile, Request, Template, Tracker,
};
use time::OffsetDateTime;

use crate::oracle;

// ---------------------------------------------------------------------------------------------
// parse_postback
// ---------------------------------------------------------------------------------------------

/// Limits small enough that fuzzed inputs cross each of them.
fn small_limits() -> Limits {
    Limits::default()
        .with_max_input_len(256)
        .with_max_params(8)
        .with_max_value_len(16)
}

/// `data` as a URL or query (`parse_bytes`, and `parse` when it is UTF-8) and as a form body,
/// with every built-in profile, under the default and under small limits.
///
/// Invariants: no panic; `parse` and `parse_bytes` agree on UTF-8 input; an accepted postback
/// is consistent with its profile and limits ([`check_postback`]); an error points inside the
/// input; and wherever the naive oracle (`oracle.rs`) covers the input, the parse is its
/// answer: the same fields, or the same error code and parameter.
pub(crate) fn parse_postback(data: &[u8]) {
    for name in Profile::BUILTIN_NAMES {
        let profile = Profile::builtin(name).expect("a listed built-in");
        for limits in [Limits::default(), small_limits()] {
            let parser = Parser::from(profile).with_limits(limits);
            let from_bytes = parser.parse_bytes(data);
            check_parsed(profile, limits, data, &from_bytes);
            oracle::check(profile, limits, data, false, &from_bytes);
            if let Ok(text) = std::str::from_utf8(data) {
                let from_str = parser.parse(text);
                assert_eq!(
                    from_str, from_bytes,
                    "{name}: parse and parse_bytes disagree"
                );
            }
            let form = parser.parse_form(data);
            check_parsed(profile, limits, data, &form);
            oracle::check(profile, limits, data, true, &form);
        }
    }
}

fn check_parsed(
    profile: &Profile,
    limits: Limits,
    input: &[u8],
    parsed: &Result<Postback<'_>, ParsePostbackError>,
) {
    let name = profile.name();
    if input.len() > limits.max_input_len() {
        let code = parsed.as_ref().err().map(ParsePostbackError::code);
        assert_eq!(
            code,
            Some("too_long"),
            "{name}: an input past the limit is refused"
        );
    }
    match parsed {
        Ok(pb) => check_postback(profile, limits, pb),
        Err(err) => {
            let codes = [
                "malformed",
                "missing_click_id",
                "unexpanded_macro",
                "bad_status",
                "bad_payout",
                "too_long",
            ];
            assert!(codes.contains(&err.code()), "{name}: code {}", err.code());
            assert!(!err.to_string().is_empty());
            if let Some(at) = err.at() {
                assert!(
                    at <= input.len(),
                    "{name}: error at {at} past the input: {err}"
                );
            }
        }
    }
}

/// What every accepted postback promises: a non-empty click id of the profile's shape, no
/// empty or over-long text field, values decoded and trimmed, the state the profile's words
/// (or its default) give, and an owned copy equal to it.
fn check_postback(profile: &Profile, limits: Limits, pb: &Postback<'_>) {
    let name = profile.name();
    let max = limits.max_value_len();
    let click = pb.click_id();
    assert!(
        profile.click_id_shape().matches(click),
        "{name}: click id {click:?}"
    );
    let texts = [
        ("click_id", Some(click)),
        ("status", pb.status()),
        ("txid", pb.txid()),
        ("event", pb.event()),
        ("token", pb.token()),
    ];
    for (field, text) in texts {
        let Some(text) = text else { continue };
        assert!(!text.is_empty(), "{name}: empty {field}");
        assert!(text.len() <= max, "{name}: {field} of {} bytes", text.len());
        assert_eq!(text, text.trim(), "{name}: {field} not trimmed");
    }
    match pb.status() {
        None => assert_eq!(pb.state(), profile.default_state(), "{name}: default state"),
        Some(word) => {
            let own = profile.status_map().get(word);
            if profile.status_mapping_params().is_empty() {
                assert_eq!(pb.state(), own, "{name}: state of {word:?}");
            } else if own.is_some() {
                assert!(pb.state().is_some(), "{name}: state of {word:?}");
            }
            if profile.status_map().vocabulary() == postback::status::Vocabulary::Closed {
                assert!(
                    pb.state().is_some(),
                    "{name}: closed vocabulary let {word:?} in"
                );
            }
        }
    }
    for warning in pb.warnings() {
        assert!(!warning.code().is_empty() && !warning.to_string().is_empty());
    }
    assert_eq!(&pb.clone().into_owned(), pb, "{name}: into_owned");
}

// ---------------------------------------------------------------------------------------------
// template
// ---------------------------------------------------------------------------------------------

/// Input: one byte choosing the dialect (`Dialect::ALL`, or detection), one choosing the lint
/// context (a catalogued network and tracker, or none), then UTF-8 (lossily) text split at NUL:
/// the template source, then macro values handed out to the macros in order.
///
/// Invariants: no panic in lint, parse or expand; findings' spans lie in the text; a parsed
/// template gives its source back (`Display`, `parse_with` its own dialect gives an equal
/// template), its macros are ordered, disjoint slices of the source; expanding with
/// `OnMissing::Keep` and no values gives the source back, with `Empty` the source without its
/// macros, with `Error` the first macro as missing; and with values, each slot holds its value
/// percent-encoded once (raw in Keitaro's `{_name}`, as is for `Value::Encoded`), everything
/// else is the source.
pub(crate) fn template(data: &[u8]) {
    let [dialect, context, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut pieces = text.split('\0');
    let src = pieces.next().unwrap_or_default();
    let values: Vec<&str> = pieces.collect();

    check_lint(src, *context);
    let dialect = Dialect::ALL.get(usize::from(*dialect) % (Dialect::ALL.len() + 1));
    let parsed = match dialect {
        Some(&dialect) => Template::parse_with(src, dialect),
        None => Template::parse(src),
    };
    let tpl = match parsed {
        Ok(tpl) => tpl,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            return;
        }
    };
    if dialect.is_none() {
        assert_eq!(tpl.dialect(), Dialect::detect(src), "parse uses detect");
    }
    check_template_shape(&tpl, src);
    check_expand_without_values(&tpl, src);
    if !values.is_empty() {
        check_expand_with_values(&tpl, src, &values);
    }
}

fn check_lint(src: &str, context: u8) {
    let catalog = Catalog::builtin();
    let networks: Vec<_> = catalog.networks().collect();
    let trackers: Vec<_> = catalog.trackers().collect();
    let mut ctx = LintContext::new();
    if let Some(network) = networks.get(usize::from(context % 32)) {
        ctx = ctx.with_network(network);
    }
    if let Some(tracker) = trackers.get(usize::from(context / 32)) {
        ctx = ctx.with_tracker(tracker);
    }
    for finding in lint(src, &ctx) {
        let span = finding.span();
        assert!(
            span.start <= span.end && src.get(span.clone()).is_some(),
            "finding {} span {span:?} outside the {} bytes of {src:?}",
            finding.code(),
            src.len()
        );
        assert!(!finding.hint().is_empty() && !finding.to_string().is_empty());
    }
}

fn check_template_shape(tpl: &Template, src: &str) {
    assert_eq!(tpl.to_string(), src, "Display gives the source back");
    assert_eq!(tpl.as_str(), src);
    let again = Template::parse_with(src, tpl.dialect()).expect("a template parses again");
    assert_eq!(&again, tpl, "parse_with its own dialect");
    let mut end = 0;
    let mut count = 0;
    for m in tpl.macros() {
        let span = m.span();
        assert!(
            end <= span.start && span.start < span.end,
            "macro spans {span:?} after {end}"
        );
        assert_eq!(
            src.get(span.clone()),
            Some(m.as_str()),
            "macro text at {span:?}"
        );
        assert!(
            !m.name().is_empty() && m.as_str().contains(m.name()),
            "{}",
            m.as_str()
        );
        end = span.end;
        count += 1;
    }
    assert!(end <= src.len());
    assert!(count <= postback::template::MAX_MACROS);
}

/// The source with each macro replaced by `slot(index, macro)`.
fn splice(tpl: &Template, src: &str, mut slot: impl FnMut(usize, &str, &str) -> String) -> String {
    let mut out = String::new();
    let mut end = 0;
    for (i, m) in tpl.macros().enumerate() {
        let span = m.span();
        out += src
            .get(end..span.start)
            .expect("a macro span on char boundaries");
        out += &slot(i, m.name(), m.as_str());
        end = span.end;
    }
    out += src.get(end..).unwrap_or_default();
    out
}

fn check_expand_without_values(tpl: &Template, src: &str) {
    let none = |_: &str| None::<&'static str>;
    let kept = tpl.clone().with_on_missing(OnMissing::Keep);
    let mut out = String::from("prefix:");
    let unresolved = kept.expand_into(&mut out, &none).expect("Keep never fails");
    assert_eq!(
        out.strip_prefix("prefix:"),
        Some(src),
        "Keep without values"
    );
    let names: Vec<_> = unresolved.map(|m| m.name()).collect();
    let all: Vec<_> = tpl.macros().map(|m| m.name()).collect();
    assert_eq!(names, all, "every macro is unresolved");

    let emptied = tpl.clone().with_on_missing(OnMissing::Empty).expand(&none);
    let expected = splice(tpl, src, |_, _, _| String::new());
    assert_eq!(
        emptied.as_deref(),
        Ok(expected.as_str()),
        "Empty without values"
    );

    let strict = tpl.clone().with_on_missing(OnMissing::Error).expand(&none);
    match tpl.macros().next() {
        None => assert_eq!(strict.as_deref(), Ok(src)),
        Some(first) => match strict {
            Err(ExpandError::Missing { name, at, .. }) => {
                assert_eq!((&*name, at), (first.name(), first.span().start));
            }
            other => panic!("Error without values gave {other:?}"),
        },
    }
}

/// The crate's state words (its own names and Keitaro's), which a value-map slot translates.
fn is_state_word(text: &str) -> bool {
    [
        "pending", "approved", "rejected", "reversed", "lead", "sale", "rebill",
    ]
    .iter()
    .any(|w| w.eq_ignore_ascii_case(text))
}

/// RFC 3986 unreserved characters stay, every other byte becomes `%XX` (upper-case hex).
fn encode_once(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn check_expand_with_values(tpl: &Template, src: &str, values: &[&str]) {
    // The value of a name: the one handed to its first macro.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for m in tpl.macros() {
        if pairs.iter().all(|(name, _)| name != m.name()) {
            let value = values
                .get(pairs.len() % values.len())
                .copied()
                .unwrap_or("");
            pairs.push((m.name().to_owned(), value.to_owned()));
        }
    }
    let value_of = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    // A value-map slot writes the template author's word for a state: not checked here.
    let predictable = tpl
        .macros()
        .all(|m| !(m.has_value_map() && is_state_word(value_of(m.name()))));
    let raw_slots: Vec<bool> = tpl
        .macros()
        .map(|m| m.encoding() == Encoding::Raw)
        .collect();

    let text = tpl
        .expand(pairs.as_slice())
        .expect("every macro has a value");
    if predictable {
        let expected = splice(tpl, src, |i, name, _| {
            let value = value_of(name);
            if raw_slots.get(i) == Some(&true) {
                value.to_owned()
            } else {
                encode_once(value)
            }
        });
        assert_eq!(text, expected, "values encoded once into their slots");
    }

    let owned = pairs.clone();
    let encoded = move |name: &str| {
        owned
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Value::Encoded(Cow::Owned(v.clone())))
    };
    let text = tpl.expand(&encoded).expect("every macro has a value");
    if predictable {
        let expected = splice(tpl, src, |_, name, _| value_of(name).to_owned());
        assert_eq!(text, expected, "encoded values go in as they are");
    }

    // Safe values (unreserved, not a state word) round-trip whatever the slot.
    let safe = |name: &str| {
        let v: String = value_of(name)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-._~".contains(*c))
            .collect();
        Some(format!("v{v}"))
    };
    let text = tpl.expand(&safe).expect("every macro has a value");
    let expected = splice(tpl, src, |_, name, _| safe(name).unwrap_or_default());
    assert_eq!(text, expected, "safe values are inserted unchanged");
}

// ---------------------------------------------------------------------------------------------
// click_id
// ---------------------------------------------------------------------------------------------

/// Input: any bytes, parsed as a click id; the first 32 bytes also make two ids from numbers.
///
/// Invariants: `parse` and `parse_bytes` agree; a parsed id encodes back to the input in lower
/// case, parses from the encoding and from any case to the same id; an error names a byte that
/// is really there; every `u128` encodes to 26 lower-case characters that parse back, and ids
/// sort as their encodings do.
pub(crate) fn click_id(data: &[u8]) {
    let parsed = ClickId::parse_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(ClickId::parse(text), parsed);
        assert_eq!(text.parse::<ClickId>(), parsed);
    }
    let lower = ClickId::parse_bytes(&data.to_ascii_lowercase());
    let upper = ClickId::parse_bytes(&data.to_ascii_uppercase());
    assert_eq!(lower.is_ok(), parsed.is_ok(), "case decides nothing");
    assert_eq!(upper.is_ok(), parsed.is_ok(), "case decides nothing");
    match parsed {
        Ok(id) => {
            assert_eq!(lower, Ok(id));
            assert_eq!(upper, Ok(id));
            let encoded = id.encode();
            assert_eq!(encoded.as_str().as_bytes(), data.to_ascii_lowercase());
            assert_eq!(id.to_string(), encoded.as_str());
            check_id_round_trip(id);
        }
        Err(err) => {
            use postback::ParseClickIdError as E;
            match err {
                E::InvalidLength { len, .. } => {
                    assert_eq!(len, data.len());
                    assert_ne!(len, ClickId::LENGTH);
                }
                E::InvalidChar { at, byte, .. } => {
                    assert_eq!(data.get(at), Some(&byte), "{err}");
                    let crockford = |b: &u8| {
                        b.is_ascii_digit() || b.is_ascii_alphabetic() && !b"iIlLoOuU".contains(b)
                    };
                    let ok_before = data.get(..at).unwrap_or_default().iter().all(crockford);
                    assert!(ok_before, "the first bad byte is reported: {err}");
                }
                E::Overflow { byte, .. } => assert_eq!(data.first(), Some(&byte)),
                _ => {}
            }
            assert!(!err.to_string().is_empty());
        }
    }
    let mut words = [0u8; 32];
    for (w, b) in words.iter_mut().zip(data) {
        *w = *b;
    }
    let (a, b) = words.split_at(16);
    let a = ClickId::from_u128(u128::from_le_bytes(a.try_into().expect("16 bytes")));
    let b = ClickId::from_u128(u128::from_le_bytes(b.try_into().expect("16 bytes")));
    check_id_round_trip(a);
    check_id_round_trip(b);
    assert_eq!(
        a.cmp(&b),
        a.encode().as_str().cmp(b.encode().as_str()),
        "{a} vs {b}"
    );
}

fn check_id_round_trip(id: ClickId) {
    let encoded = id.encode();
    let text = encoded.as_str();
    assert_eq!(text.len(), ClickId::LENGTH);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
        "{text}"
    );
    assert!(
        matches!(text.as_bytes().first(), Some(b'0'..=b'7')),
        "{text}"
    );
    assert_eq!(ClickId::parse(text), Ok(id));
    assert_eq!(ClickId::parse(&text.to_ascii_uppercase()), Ok(id));
    assert_eq!(ClickId::from_u128(id.as_u128()), id);
    assert_eq!(id.timestamp_ms(), (id.as_u128() >> 80) as u64);
}

// ---------------------------------------------------------------------------------------------
// tracker
// ---------------------------------------------------------------------------------------------

/// The clicks an op names: three texts and one id of `ClickId`'s shape. The fifth choice is the
/// last one upper-cased (the store matches those in either case), the sixth a click never stored.
const CLICKS: [&str; 4] = ["101", "202", "303", "01jdejyj00000000000000001a"];
const UNKNOWN_CLICK: &str = "404";
const TOKEN: &str = "s3cr3t";
const WINDOW: Duration = Duration::from_secs(3600);
/// Time never moves this far, so the store's 90-day retention never drops a click.
const MAX_ELAPSED: i64 = 30 * 24 * 3600;

/// How an op's request carries the guard's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Good,
    Bad,
    Missing,
}

/// One step of the tracker op language.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// Store click `CLICKS[i]` at the current time.
    Insert(usize),
    /// A postback; see [`decode_postback`].
    Postback(Fire),
    /// Send the `i`-th earlier postback again, unchanged (a network retry).
    Replay(usize),
    /// Move the clock forward this many minutes.
    Tick(u8),
}

/// One postback request, as the op built it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fire {
    /// The click it names: an index into [`CLICKS`], or `None` for [`UNKNOWN_CLICK`].
    click: Option<usize>,
    /// The click id as sent (`CLICKS[3]` may come upper-cased).
    click_text: String,
    /// The query or form body.
    query: String,
    /// Sent as a form body instead of in the query.
    post: bool,
    token: Token,
}

/// Reads op bytes; past the end every byte is 0.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        let (first, rest) = self.data.split_first().unwrap_or((&0, &[]));
        self.data = rest;
        *first
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> Option<T> {
        let len = choices.len().max(1);
        choices.get(usize::from(self.next()) % len).copied()
    }
}

/// The profile's words for the status parameter: its map, plus words it does not know.
fn status_words(profile: &Profile) -> Vec<String> {
    let mut words: Vec<String> = profile
        .status_map()
        .iter()
        .map(|(w, _)| w.to_owned())
        .collect();
    words.extend(["bogus".to_owned(), "Approved".to_owned(), "lead".to_owned()]);
    words
}

/// Decodes one postback op: click, txid, event, status, payout, currency, mapping, token, method.
fn decode_postback(bytes: &mut Bytes<'_>, profile: &Profile, words: &[String]) -> Fire {
    let first = |params: &[Box<str>]| params.first().map(ToString::to_string);
    let choice = usize::from(bytes.next() % 6);
    let (click, click_text) = match choice {
        0..=3 => (Some(choice), CLICKS[choice].to_owned()),
        4 => (Some(3), CLICKS[3].to_ascii_uppercase()),
        _ => (None, UNKNOWN_CLICK.to_owned()),
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let click_param = first(profile.click_id_params()).unwrap_or_default();
    params.push((click_param, click_text.clone()));
    let fields = [
        (first(profile.txid_params()), ["", "T1", "T2"]),
        (first(profile.event_params()), ["", "E1", "E2"]),
        (first(profile.payout_params()), ["", "1", "2.50"]),
        (first(profile.currency_params()), ["", "USD", "eur"]),
    ];
    for (param, values) in fields {
        let value = bytes.pick(&values).unwrap_or_default();
        if let Some(param) = param
            && !value.is_empty()
        {
            params.push((param, value.to_owned()));
        }
    }
    let word = usize::from(bytes.next()) % (words.len() + 1);
    if let (Some(param), Some(word)) = (first(profile.status_params()), words.get(word)) {
        params.push((param, word.clone()));
        let mappings = profile.status_mapping_params();
        let mapping = usize::from(bytes.next()) % (mappings.len() + 1);
        if let Some(mapping) = mappings.get(mapping) {
            params.push((mapping.param.to_string(), format!("x,{word}")));
        }
    }
    let token = bytes
        .pick(&[Token::Good, Token::Bad, Token::Missing])
        .unwrap_or(Token::Good);
    let token_param = first(profile.token_params()).unwrap_or_else(|| "token".to_owned());
    match token {
        Token::Good => params.push((token_param, TOKEN.to_owned())),
        Token::Bad => params.push((token_param, "wrong".to_owned())),
        Token::Missing => {}
    }
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Fire {
        click,
        click_text,
        query,
        post: bytes.next() % 2 == 1,
        token,
    }
}

/// Decodes the tracker op language: the profile (one byte, `Profile::BUILTIN_NAMES`), whether
/// an attribution window applies (one byte), then up to 64 ops of a kind byte and its operands.
fn decode_ops(data: &[u8]) -> (&'static Profile, bool, Vec<Op>) {
    let mut bytes = Bytes { data };
    let name = bytes.pick(&Profile::BUILTIN_NAMES).unwrap_or("generic");
    let profile = Profile::builtin(name).expect("a listed built-in");
    let window = bytes.next() % 2 == 1;
    let words = status_words(profile);
    let mut ops = Vec::new();
    while !bytes.data.is_empty() && ops.len() < 64 {
        // Postbacks get half the kinds, inserts two (0 and 7).
        let op = match bytes.next() % 8 {
            1..=4 => Op::Postback(decode_postback(&mut bytes, profile, &words)),
            5 => Op::Replay(usize::from(bytes.next())),
            6 => Op::Tick(bytes.next()),
            _ => Op::Insert(usize::from(bytes.next()) % CLICKS.len()),
        };
        ops.push(op);
    }
    (profile, window, ops)
}

/// Each known click's existence and conversions (sorted by key).
type Snapshot = Vec<Option<Vec<Conversion>>>;

fn snapshot(store: &MemoryStore) -> Snapshot {
    CLICKS
        .iter()
        .map(|id| {
            store.click(id).expect("memory store").map(|_| {
                let mut conversions = store.conversions(id).expect("memory store");
                conversions.sort_by(|a, b| a.key.cmp(&b.key));
                conversions
            })
        })
        .collect()
}

/// A tracker over `MemoryStore` (one shard, room for three of the four clicks) with a token
/// guard, fed the decoded ops.
///
/// Invariants, after every op: only a `Recorded` outcome adds a conversion (exactly one, to
/// the click the postback named) and only an `Updated` one changes one (a forward move, or a
/// payout change in a non-final state, appended to its history); every other outcome leaves
/// the store as it was; `ClickNotFound` means the click is not stored, and the outcomes that
/// need a click mean it is; the guard refuses exactly the requests without the right token; no
/// click has two conversions with one key; the number of `Recorded` outcomes is the number of
/// conversions; every history moves only forward and ends in the conversion's current values.
pub(crate) fn tracker(data: &[u8]) {
    let (profile, window, ops) = decode_ops(data);
    let store = MemoryStore::with_config(MemoryConfig::new().with_shards(1).with_capacity(3));
    let guard = Guard::new()
        .with_token(TOKEN)
        .with_token_source(TokenSource::param(
            profile.token_params().first().map_or("token", |p| &**p),
        ));
    let mut tracker = Tracker::new(store, Parser::from(profile))
        .with_guard(guard)
        .expect("the guard reads the profile's own token parameter")
        .with_log_capacity(8);
    if window {
        tracker = tracker.with_attribution_window(WINDOW);
    }
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time");
    let mut now = start;
    let mut sent: Vec<Fire> = Vec::new();
    let mut recorded = 0usize;
    for op in &ops {
        let before = snapshot(tracker.store());
        match op {
            Op::Insert(i) => {
                let click = Click::new(CLICKS[*i], now).expect("a valid click id");
                let inserted = tracker.record_click(click);
                let after = snapshot(tracker.store());
                check_insert(&before, &after, *i, &inserted, op);
            }
            Op::Tick(minutes) => {
                let later = now + Duration::from_secs(u64::from(*minutes) * 60);
                if (later - start).whole_seconds() <= MAX_ELAPSED {
                    now = later;
                }
                assert_eq!(
                    snapshot(tracker.store()),
                    before,
                    "time alone changes nothing"
                );
            }
            Op::Postback(fire) => {
                recorded += fire_once(&tracker, fire, now, &before, window);
                sent.push(fire.clone());
            }
            Op::Replay(k) => {
                if let Some(fire) = sent.get(k % sent.len().max(1)).cloned() {
                    recorded += fire_once(&tracker, &fire, now, &before, window);
                }
            }
        }
        check_store(&snapshot(tracker.store()), recorded, op);
    }
}

fn check_insert(
    before: &Snapshot,
    after: &Snapshot,
    i: usize,
    inserted: &Result<Inserted, postback::MemoryStoreError>,
    op: &Op,
) {
    match inserted {
        Ok(Inserted::New) => {
            assert!(before[i].is_none(), "{op:?}: New for a stored click");
            assert_eq!(
                after[i],
                Some(Vec::new()),
                "{op:?}: a new click has no conversion"
            );
        }
        Ok(Inserted::AlreadyExists) => {
            assert!(before[i].is_some(), "{op:?}: AlreadyExists for a new click");
        }
        Err(_) => assert!(before[i].is_none(), "{op:?}: an existing click refused"),
    }
    for (j, (b, a)) in before.iter().zip(after).enumerate() {
        if j != i || !matches!(inserted, Ok(Inserted::New)) {
            assert_eq!(a, b, "{op:?}: insert changed click {j}");
        }
    }
}

/// Sends one postback and checks its outcome against the store; 1 if it recorded.
fn fire_once(
    tracker: &Tracker<MemoryStore>,
    fire: &Fire,
    now: OffsetDateTime,
    before: &Snapshot,
    window: bool,
) -> usize {
    let target = format!("/pb?{}", fire.query);
    let request = if fire.post {
        Request::post("/pb", fire.query.as_bytes())
    } else {
        Request::get(&target)
    };
    let outcome = tracker.handle(&request, now);
    let after = snapshot(tracker.store());
    let ctx = || {
        format!(
            "{} {} -> {outcome:?}",
            if fire.post { "POST" } else { "GET" },
            fire.query
        )
    };

    assert_eq!(
        matches!(outcome, Outcome::Unauthorized(_)),
        fire.token != Token::Good,
        "{}: the guard refuses exactly the wrong tokens",
        ctx()
    );
    assert!(!matches!(outcome, Outcome::StoreError(_)), "{}", ctx());
    let stored = fire.click.and_then(|i| before[i].as_ref());
    let needs_click = matches!(
        outcome,
        Outcome::Recorded
            | Outcome::Updated { .. }
            | Outcome::Duplicate
            | Outcome::IllegalTransition { .. }
            | Outcome::Expired
    );
    if needs_click {
        assert!(stored.is_some(), "{}: no such click", ctx());
    }
    if outcome == Outcome::ClickNotFound {
        assert!(stored.is_none(), "{}: the click is stored", ctx());
    }
    if outcome == Outcome::Expired {
        assert!(window, "{}: expired without a window", ctx());
        let click = tracker
            .store()
            .click(&fire.click_text)
            .expect("memory store");
        assert!(
            now - click.expect("stored").at() > WINDOW,
            "{}: expired too early",
            ctx()
        );
    }
    if let Outcome::IllegalTransition { from, to } = outcome {
        assert!(from != to && !from.can_become(to), "{}", ctx());
    }
    let changed: Vec<usize> = (0..CLICKS.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    match outcome {
        Outcome::Recorded => {
            let i = fire.click.expect("a stored click");
            assert_eq!(changed, [i], "{}: only the named click changes", ctx());
            let (old, new) = (
                before[i].as_deref().unwrap_or_default(),
                after[i].as_deref().unwrap_or_default(),
            );
            assert_eq!(new.len(), old.len() + 1, "{}: one conversion added", ctx());
            let added: Vec<_> = new.iter().filter(|c| !old.contains(c)).collect();
            assert!(
                matches!(added.as_slice(), [c] if c.history.len() == 1),
                "{}",
                ctx()
            );
            if window {
                let click = tracker
                    .store()
                    .click(&fire.click_text)
                    .expect("memory store");
                let age = now - click.expect("stored").at();
                assert!(age <= WINDOW, "{}: recorded after the window", ctx());
            }
            1
        }
        Outcome::Updated { from, to } => {
            let i = fire.click.expect("a stored click");
            assert_eq!(changed, [i], "{}: only the named click changes", ctx());
            check_update(
                before[i].as_deref().unwrap_or_default(),
                after[i].as_deref().unwrap_or_default(),
                from,
                to,
                &ctx(),
            );
            0
        }
        _ => {
            assert!(changed.is_empty(), "{}: the store changed", ctx());
            0
        }
    }
}

/// Exactly one conversion moved from `from` to `to`, one history entry longer.
fn check_update(
    old: &[Conversion],
    new: &[Conversion],
    from: ConversionState,
    to: ConversionState,
    ctx: &str,
) {
    assert_eq!(old.len(), new.len(), "{ctx}: an update adds no conversion");
    let moved: Vec<_> = old.iter().zip(new).filter(|(o, n)| o != n).collect();
    let [(o, n)] = moved.as_slice() else {
        panic!("{ctx}: {} conversions changed", moved.len());
    };
    assert_eq!(o.key, n.key, "{ctx}");
    assert_eq!((o.standing.state, n.standing.state), (from, to), "{ctx}");
    assert!(
        from.can_become(to) || from == to && !from.is_final(),
        "{ctx}: {from} -> {to}"
    );
    if from == to {
        assert!(o.standing != n.standing, "{ctx}: nothing changed");
    }
    assert_eq!(
        n.history.len(),
        o.history.len() + 1,
        "{ctx}: one history entry"
    );
    assert_eq!(
        n.history.get(..o.history.len()),
        Some(o.history.as_slice()),
        "{ctx}"
    );
}

/// Keys unique per click, one conversion per `Recorded`, histories forward and current.
fn check_store(snap: &Snapshot, recorded: usize, op: &Op) {
    let mut total = 0;
    for conversions in snap.iter().flatten() {
        total += conversions.len();
        let mut keys: Vec<&ConversionKey<'_>> = conversions.iter().map(|c| &c.key).collect();
        keys.dedup();
        assert_eq!(
            keys.len(),
            conversions.len(),
            "{op:?}: a key twice on one click"
        );
        for c in conversions {
            let last = c.history.last().expect("a conversion has history");
            assert_eq!(
                last.standing, c.standing,
                "{op:?}: the history ends in the current values"
            );
            for pair in c.history.windows(2) {
                let (a, b) = (pair[0].standing.state, pair[1].standing.state);
                assert!(
                    a.can_become(b) || a == b && !a.is_final(),
                    "{op:?}: {a} -> {b}"
                );
            }
        }
    }
    assert_eq!(total, recorded, "{op:?}: conversions counted once each");
}
