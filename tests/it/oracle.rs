//! A naive oracle of `Parser::parse` (and `parse_form`): what a postback means, written from
//! the docs (`src/query.rs`'s module docs for where the query is, `Parser::parse`'s and
//! `ParsePostbackError`'s for the error ranks) with the profile's public getters and plain std,
//! one obvious step after another, as memchr's `naive.rs` stands beside its fast paths.
//!
//! It covers every input except three kinds, for which it answers `None` ("not covered"):
//! a parameter the profile reads as JSON; a read value (other than the token) whose decoded
//! text holds a byte a macro can start with (`{ [ # % $ ! <`: the macro grammar is the
//! template scanner's, not re-derived here); and a bad escape followed by `A`-`Z` or `_`,
//! which may be a `%NAME%` macro. For the rest it gives the whole answer: the fields, or the
//! error's code and parameter. `fuzz_harness` includes this file too (`#[path]` from the fuzz
//! targets), so `cargo fuzz` holds the parser to it.

use postback::money::{Amount, Currency};
use postback::parse::{Limits, ParsePostbackError, Postback};
use postback::status::Vocabulary;
use postback::{ConversionState, Profile};

/// What a parsed postback says: the oracle's `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) click_id: String,
    pub(crate) status: Option<String>,
    pub(crate) state: Option<ConversionState>,
    pub(crate) payout: Option<Amount>,
    pub(crate) currency: Option<Currency>,
    pub(crate) txid: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) token: Option<String>,
}

impl Fields {
    pub(crate) fn of(pb: &Postback<'_>) -> Self {
        Self {
            click_id: pb.click_id().to_owned(),
            status: pb.status().map(str::to_owned),
            state: pb.state(),
            payout: pb.payout(),
            currency: pb.currency(),
            txid: pb.txid().map(str::to_owned),
            event: pb.event().map(str::to_owned),
            token: pb.token().map(str::to_owned),
        }
    }
}

/// The oracle's `Err`: the error's code and parameter.
pub(crate) type Refusal = (&'static str, Option<String>);

/// The oracle's answer: `None` when the input is outside what it covers.
pub(crate) type Answer = Option<Result<Fields, Refusal>>;

#[allow(
    clippy::unnecessary_wraps,
    reason = "an answer, as `parse` returns it (`allow`: the fuzz crate lints no pedantic)"
)]
fn refuse(code: &'static str, param: Option<&str>) -> Answer {
    Some(Err((code, param.map(str::to_owned))))
}

/// What a parameter name means to a profile.
#[derive(Clone, Copy)]
enum Slot {
    /// A field, by its index in `[click id, status, payout, currency, txid, event, token]`.
    Field(usize),
    Mapping(ConversionState),
    Json,
}

/// The profile's meaning of `name` and its spelling: fields first, in field order, then the
/// mapping parameters, then the JSON parameter.
fn lookup<'p>(profile: &'p Profile, name: &[u8]) -> Option<(Slot, &'p str)> {
    let fields = postback::Field::ALL.map(|field| profile.params(field));
    let field = (0..7).find_map(|f| {
        let known = fields[f].iter().find(|p| p.as_bytes() == name)?;
        Some((Slot::Field(f), &**known))
    });
    let mapping = || {
        let m = profile.status_mapping_params().iter();
        let m = m.clone().find(|m| m.param.as_bytes() == name)?;
        Some((Slot::Mapping(m.state), &*m.param))
    };
    let json = || {
        Some((
            Slot::Json,
            profile.json_param().filter(|j| j.as_bytes() == name)?,
        ))
    };
    field.or_else(mapping).or_else(json)
}

/// `%XX` decoded and `+` as a space; `Err` with the offset of the first `%` not followed by
/// two hex digits.
fn decode(raw: &[u8]) -> Result<Vec<u8>, usize> {
    let hex = |at: usize| raw.get(at).and_then(|&d| char::from(d).to_digit(16));
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%' {
            let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                return Err(i);
            };
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(if b == b'+' { b' ' } else { b });
            i += 1;
        }
    }
    Ok(out)
}

/// A value decoded once and trimmed; `Some(Err)` when it cannot be (`malformed`), `None` for a
/// bad escape that may start a `%NAME%` macro.
fn text(raw: &[u8]) -> Option<Result<String, ()>> {
    match decode(raw) {
        Err(at)
            if raw
                .get(at + 1)
                .is_some_and(|&b| b.is_ascii_uppercase() || b == b'_') =>
        {
            None
        }
        Err(_) => Some(Err(())),
        Ok(bytes) => Some(
            String::from_utf8(bytes)
                .map(|t| t.trim().to_owned())
                .map_err(drop),
        ),
    }
}

/// The query of a target, by the rules in `src/query.rs`'s module docs; `None` for a URL
/// with an empty host.
fn query_of(target: &[u8]) -> Option<&[u8]> {
    let target = target.split(|&b| b == b'#').next().unwrap_or_default();
    let after_mark = |from: usize| {
        let q = target[from..].iter().position(|&b| b == b'?');
        q.map_or(&[][..], |q| &target[from + q + 1..])
    };
    let scheme = target
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b"+-.".contains(&b)));
    if let Some(s) = scheme.filter(|&s| s > 0 && target[0].is_ascii_alphabetic())
        && target[s..].starts_with(b"://")
    {
        let host = target[s + 3..]
            .iter()
            .take_while(|&&b| b != b'/' && b != b'?');
        return (host.count() > 0).then(|| after_mark(s + 3));
    }
    if target.first() == Some(&b'/') {
        return Some(after_mark(0));
    }
    match target.iter().find(|&&b| b"?=&".contains(&b)) {
        Some(b'?') => Some(after_mark(0)),
        _ => Some(target),
    }
}

/// What a query says to a profile, before any check of ranks 1 to 6.
struct Read<'p> {
    /// Per field its first value: the profile's name for it, and its text (`Err`: it does not
    /// decode).
    first: [Option<(&'p str, Result<String, ()>)>; 7],
    /// The first pair, if any, that does not decode or disagrees with its field's first.
    malformed: Option<&'p str>,
    /// The state the request's mapping lists give the status word.
    mapped: Option<ConversionState>,
}

/// `pairs` as `profile` reads them; `None` when they are beyond the oracle.
fn read<'p>(profile: &'p Profile, pairs: &[&[u8]]) -> Option<Read<'p>> {
    let mut first: [Option<(&str, Result<String, ()>)>; 7] = Default::default();
    // The earliest malformed pair, by index.
    let mut malformed: Option<(usize, &str)> = None;
    let mut mappings = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (*pair, &[][..]),
        };
        // The name as sent, or (if it holds `%` or `+`) decoded once and trimmed.
        let decoded = || match decode(name) {
            Ok(decoded) if name.iter().any(|&b| b == b'%' || b == b'+') => {
                lookup(profile, decoded.trim_ascii())
            }
            _ => None,
        };
        match lookup(profile, name).or_else(decoded) {
            None => {}
            Some((Slot::Json, _)) => return None,
            Some((Slot::Mapping(state), param)) => mappings.push((i, param, state, value)),
            Some((Slot::Field(f), param)) => match (&first[f], text(value)?) {
                (None, value) => {
                    if value.is_err() {
                        malformed = malformed.or(Some((i, param)));
                    }
                    first[f] = Some((param, value));
                }
                (Some((_, Ok(seen))), Ok(value)) if *seen == value => {}
                (Some((_, Ok(_))), _) => malformed = malformed.or(Some((i, param))),
                (Some((_, Err(()))), _) => {}
            },
        }
    }
    // The lists of status words, read (and so decoded) only when a word is sent.
    let mut mapped = None;
    if let Some((_, Ok(word))) = &first[1]
        && !word.is_empty()
    {
        for (i, param, state, list) in mappings {
            match text(list)? {
                Err(()) => malformed = Some(malformed.map_or((i, param), |m| m.min((i, param)))),
                Ok(list) => {
                    let mut words = list.split([',', ';']);
                    if mapped.is_none() && words.any(|w| w.trim().eq_ignore_ascii_case(word)) {
                        mapped = Some(state);
                    }
                }
            }
        }
    }
    let malformed = malformed.map(|(_, param)| param);
    Some(Read {
        first,
        malformed,
        mapped,
    })
}

/// What `Parser::parse` (`form`: `parse_form`) with `profile` and `limits` makes of `input`.
pub(crate) fn parse(profile: &Profile, limits: Limits, input: &[u8], form: bool) -> Answer {
    if input.len() > limits.max_input_len() {
        return refuse("too_long", None);
    }
    let Some(query) = (if form { Some(input) } else { query_of(input) }) else {
        return refuse("malformed", Some("url"));
    };
    let pairs: Vec<&[u8]> = query
        .split(|&b| b == b'&')
        .filter(|_| !query.is_empty())
        .collect();
    if pairs.len() > limits.max_params() {
        return refuse("too_long", None);
    }
    let Read {
        first,
        malformed,
        mapped,
    } = read(profile, &pairs)?;
    // A field's value: sent, decoded and not empty.
    let sent = |f: usize| match &first[f] {
        Some((param, Ok(value))) if !value.is_empty() => Some((*param, value.as_str())),
        _ => None,
    };
    // Rank 1: a value that does not decode, or disagrees with its field's first; then a click
    // id with a control character, or (not a placeholder) of the wrong shape.
    if malformed.is_some() {
        return refuse("malformed", malformed);
    }
    let placeholder = |(_, v): &(&str, &str)| *v == "REPLACE" || *v == "OPTIONAL";
    let macro_bytes = |(_, v): &(&str, &str)| v.bytes().any(|b| b"{[#%$!<".contains(&b));
    if let Some((param, id)) = sent(0) {
        if id.bytes().any(|b| b.is_ascii_control()) {
            return refuse("malformed", Some(param));
        }
        if macro_bytes(&(param, id)) {
            return None;
        }
        if !placeholder(&(param, id)) && !profile.click_id_shape().matches(id) {
            return refuse("malformed", Some(param));
        }
    } else {
        return refuse(
            "missing_click_id",
            Some(&profile.click_id_params().join(",")),
        );
    }
    // Rank 3, in field order; the token is the guard's to judge.
    if (1..6).filter_map(sent).any(|read| macro_bytes(&read)) {
        return None;
    }
    if let Some((param, _)) = (0..6).filter_map(sent).find(placeholder) {
        return refuse("unexpanded_macro", Some(param));
    }
    let state = match sent(1) {
        None => profile.default_state(),
        Some((param, word)) => match mapped.or_else(|| profile.status_map().get(word)) {
            None if profile.status_map().vocabulary() == Vocabulary::Closed => {
                return refuse("bad_status", Some(param));
            }
            state => state,
        },
    };
    let payout = match sent(2).map(|(param, v)| (param, v.parse::<Amount>())) {
        Some((param, Err(_))) => return refuse("bad_payout", Some(param)),
        payout => payout.and_then(|(_, v)| v.ok()),
    };
    let currency = match sent(3).map(|(param, v)| (param, v.parse::<Currency>())) {
        Some((param, Err(_))) => return refuse("bad_payout", Some(param)),
        currency => currency.and_then(|(_, v)| v.ok()),
    };
    let max = limits.max_value_len();
    if let Some((param, _)) = [0, 1, 4, 5, 6]
        .into_iter()
        .filter_map(sent)
        .find(|(_, v)| v.len() > max)
    {
        return refuse("too_long", Some(param));
    }
    let own = |f: usize| sent(f).map(|(_, v)| v.to_owned());
    Some(Ok(Fields {
        click_id: own(0).unwrap_or_default(),
        status: own(1),
        state,
        payout,
        currency,
        txid: own(4),
        event: own(5),
        token: own(6),
    }))
}

/// Panics unless `parsed` (what the parser made of `input`) is what the oracle says; returns
/// whether the oracle covers the input.
pub(crate) fn check(
    profile: &Profile,
    limits: Limits,
    input: &[u8],
    form: bool,
    parsed: &Result<Postback<'_>, ParsePostbackError>,
) -> bool {
    let Some(expected) = parse(profile, limits, input, form) else {
        return false;
    };
    let got = match parsed {
        Ok(pb) => Ok(Fields::of(pb)),
        Err(err) => Err((err.code(), err.param().map(str::to_owned))),
    };
    assert_eq!(
        got,
        expected,
        "{} ({limits:?}, {}): {:?}",
        profile.name(),
        if form { "form" } else { "target" },
        String::from_utf8_lossy(input),
    );
    true
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    use postback::parse::{Limits, ParsePostbackError, Parser};
    use postback::{Amount, ConversionState, Profile};
    use proptest::prelude::*;
    use proptest::sample::Index;
    use proptest::test_runner::{Config, TestRunner};

    use super::{Fields, check, parse};
    use crate::postback::unescape;

    /// `fields` as the data table writes them (`tests/data/postbacks.txt`).
    fn render(fields: &Fields) -> Vec<String> {
        let mut out = vec![format!("click_id={}", fields.click_id)];
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push(format!("{name}={value}"));
            }
        };
        add("state", fields.state.map(|s| s.as_str().to_owned()));
        add("status", fields.status.clone());
        add("payout", fields.payout.map(|p| p.to_string()));
        add("currency", fields.currency.map(|c| c.as_str().to_owned()));
        add("txid", fields.txid.clone());
        add("event", fields.event.clone());
        add("token", fields.token.clone());
        out
    }

    /// Every line of the data table the oracle covers gets the table's answer from it: the
    /// table checks the oracle, as the oracle checks the parser.
    #[test]
    fn oracle_agrees_with_the_data_table() {
        let (mut lines, mut covered) = (0, 0);
        for (no, line) in include_str!("../data/postbacks.txt").lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split(" | ").collect();
            let profile = Profile::builtin(cols[0].trim_start_matches("serde:")).unwrap();
            let (input, form) = match cols[1].strip_prefix("form:") {
                Some(body) => (unescape(body), true),
                None => (cols[1].as_bytes().to_vec(), false),
            };
            lines += 1;
            let Some(answer) = parse(profile, Limits::default(), &input, form) else {
                continue;
            };
            covered += 1;
            // The oracle does not report warnings.
            let expected: Vec<&str> = cols[3..]
                .iter()
                .copied()
                .filter(|c| !c.starts_with("warn="))
                .collect();
            let ctx = format!("line {}: {}", no + 1, cols[1]);
            match (cols[2], answer) {
                ("ok", Ok(fields)) => assert_eq!(render(&fields), expected, "{ctx}"),
                ("err", Err((code, param))) => {
                    assert_eq!(code, expected[0], "{ctx}");
                    let want = expected.get(1).and_then(|p| p.strip_prefix("param="));
                    assert_eq!(param.as_deref(), want, "{ctx}");
                }
                (_, answer) => panic!("{ctx}: the oracle says {answer:?}, the table {expected:?}"),
            }
        }
        // What it leaves out (macros, JSON) is a minority of the table.
        assert!(
            covered * 3 >= lines * 2,
            "the oracle covers {covered} of {lines} lines"
        );
        eprintln!("the oracle covers {covered} of {lines} lines");
    }

    /// What the oracle leaves out, it says so; what it covers, it answers.
    #[test]
    fn oracle_leaves_out_only_what_it_says() {
        let generic = Profile::generic();
        let answer = |input: &str| parse(generic, Limits::default(), input.as_bytes(), false);
        for input in [
            "click_id={sub2}",
            "click_id=%7Bsub%7D",
            "click_id=%TRANSACTION_ID%",
            "click_id=abc&txid=a!!!b",
            "click_id=abc&status=%25",
        ] {
            assert_eq!(answer(input), None, "{input}");
        }
        let pap = Profile::builtin("post_affiliate_pro").unwrap();
        assert_eq!(
            parse(pap, Limits::default(), b"visitorId=v&sale=%7B%7D", false),
            None
        );
        for (input, code) in [
            ("click_id=%zz", "malformed"),
            ("click_id=abc&token={secret}", "ok"),
            ("click_id=a%FF", "malformed"),
            ("https://?click_id=a", "malformed"),
            ("status=x", "missing_click_id"),
        ] {
            let got = answer(input).unwrap_or_else(|| panic!("{input} not covered"));
            assert_eq!(got.err().map_or("ok", |(code, _)| code), code, "{input}");
        }
    }

    /// Raw values that are already encoded, odd or broken, as senders send them.
    const ODD: &[&str] = &[
        "%zz",
        "ab%4",
        "%g0x",
        "%FF",
        "caf%C3%A9",
        "%C3",
        "ab%00cd",
        "12%0A34",
        "1234%0D%0A",
        "%09abc%20",
        "%C2%A0abc",
        "%E2%80%AFx",
        "a%2Bb",
        "a+b",
        "+",
        "%20%20",
        "a#b",
        "%23",
        "a%26b%3Dc",
        "%7Bsub%7D",
        "{sub2}",
        "%TX_ID%",
        "%257Bx%257D",
        "abc%2520def",
        "[x]",
        "REPLACE",
        "%52EPLACE",
        "+OPTIONAL+",
        "Sale",
        "%31",
        "1%2C234",
        "12%2C5",
    ];

    /// Plain texts for each kind of parameter: click id, status (the profile's words come on
    /// top), payout, currency, txid, event, token, mapping lists, and anything.
    const TEXTS: [&[&str]; 9] = [
        &[
            "4217",
            "abc",
            "1dad2cg1br22spja1",
            "a b",
            "café",
            "0",
            "007",
        ],
        &["sale", "lead", "Hold", "weird", "1", "4"],
        &[
            "12.50", "12,34", "-5", "0", "3", "1.234,56", "1e3", "abc", "OPTIONAL",
        ],
        &["usd", "EUR", "gbp", "usdt", "US"],
        &[
            "TX-1",
            "ORD/7",
            "a b",
            "café",
            "0123456789abcdefXYZ",
            "OPTIONAL",
        ],
        &["deposit", "reg", "1", "a;b"],
        &["s3cr3t", "tok en", "0123456789abcdef"],
        &["lead,approved", "hold; pending", "Sale;trash", "1,2", ""],
        &["REPLACE", "OPTIONAL", "x", "a,b", "é"],
    ];

    /// What a name is to a profile: an index into [`TEXTS`].
    fn kinds(profile: &Profile) -> Vec<(String, usize)> {
        let fields = postback::Field::ALL.map(|field| profile.params(field));
        let mut names: Vec<(String, usize)> = (0..7)
            .flat_map(|f| fields[f].iter().map(move |n| (n.to_string(), f)))
            .collect();
        let mappings = profile.status_mapping_params().iter();
        names.extend(mappings.map(|m| (m.param.to_string(), 7)));
        names.extend(["sub1", "offer_id", "note", "Status", ""].map(|n| (n.to_owned(), 8)));
        names
    }

    #[derive(Debug, Clone)]
    enum Value {
        /// A text of the name's kind (a status word of the profile's, in a random case).
        Fitting(Index, bool),
        /// A text of any kind.
        Any(Index, Index),
        Odd(Index),
        Random(String),
        /// A pair without `=`.
        Bare,
    }

    #[derive(Debug, Clone)]
    struct PairSpec {
        name: Index,
        name_enc: u8,
        value: Value,
        enc: u8,
        /// Repeat an earlier pair's name: with its value (as sent or re-encoded) or this one.
        repeat: Option<(Index, bool)>,
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            8 => (any::<Index>(), any::<bool>()).prop_map(|(i, up)| Value::Fitting(i, up)),
            2 => (any::<Index>(), any::<Index>()).prop_map(|(k, i)| Value::Any(k, i)),
            2 => any::<Index>().prop_map(Value::Odd),
            1 => "[a-zA-Z0-9 ,;.é-]{0,6}".prop_map(Value::Random),
            1 => Just(Value::Bare),
        ]
    }

    fn pair() -> impl Strategy<Value = PairSpec> {
        let repeat = prop::option::weighted(0.2, (any::<Index>(), any::<bool>()));
        (any::<Index>(), any::<u8>(), value(), any::<u8>(), repeat).prop_map(
            |(name, name_enc, value, enc, repeat)| PairSpec {
                name,
                name_enc,
                value,
                enc,
                repeat,
            },
        )
    }

    fn percent(text: &str, all: bool, lower: bool) -> String {
        text.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' if !all => {
                    char::from(b).to_string()
                }
                _ if lower => format!("%{b:02x}"),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// `text` as a sender might write it: mostly as is, else encoded one of several ways.
    fn encode(text: &str, enc: u8) -> String {
        match enc % 10 {
            0..=4 => text.to_owned(),
            5 => percent(text, false, false),
            6 => percent(text, true, enc > 128),
            7 => format!("+{}+", percent(text, false, true).replace("%20", "+")),
            8 => format!("%20{text}%0A"),
            _ => text.replace(' ', "+"),
        }
    }

    fn encode_name(name: &str, enc: u8) -> String {
        match enc % 12 {
            0..=6 => name.to_owned(),
            7 => format!(" {name}"),
            8 => percent(name, true, false),
            9 => format!("+{name}"),
            10 => format!("{name}%20"),
            _ => name.to_uppercase(),
        }
    }

    /// A postback for `profile`: its click id first (unless `click` is `None`), then `specs`,
    /// as a target of the chosen shape and as a form body (`#` and all).
    fn build(
        profile: &Profile,
        click: Option<&str>,
        specs: &[PairSpec],
        shape: u8,
        fragment: u8,
    ) -> (String, String) {
        let kinds = kinds(profile);
        let words: Vec<&str> = profile.status_map().iter().map(|(w, _)| w).collect();
        let mut pairs: Vec<String> = Vec::new();
        if let Some(id) = click {
            pairs.push(format!("{}={id}", profile.click_id_params()[0]));
        }
        // Each pair's name as sent, its value's text and its value as sent.
        let mut built: Vec<(String, String, String)> = Vec::new();
        for spec in specs {
            let (name, kind) = &kinds[spec.name.index(kinds.len())];
            let text = match &spec.value {
                // A status word: one of the first few in their case, or any in upper case.
                Value::Fitting(i, up) if *kind == 1 && !words.is_empty() => {
                    if *up {
                        words[i.index(words.len())].to_uppercase()
                    } else {
                        words[i.index(words.len().min(3))].to_owned()
                    }
                }
                // A list of two of the profile's words, so that lists overlap.
                Value::Fitting(i, up) if *kind == 7 && !words.is_empty() => {
                    let at = i.index(words.len().min(3));
                    let next = words[(at + 1) % words.len()];
                    format!("{}{}{next}", words[at], if *up { ";" } else { ", " })
                }
                Value::Fitting(i, _) => TEXTS[*kind][i.index(TEXTS[*kind].len())].to_owned(),
                Value::Any(k, i) => {
                    let texts = TEXTS[k.index(TEXTS.len())];
                    texts[i.index(texts.len())].to_owned()
                }
                Value::Odd(i) => ODD[i.index(ODD.len())].to_owned(),
                Value::Random(text) => text.clone(),
                Value::Bare => String::new(),
            };
            let mut name = encode_name(name, spec.name_enc);
            let mut raw = match spec.value {
                Value::Odd(_) => text.clone(),
                _ => encode(&text, spec.enc),
            };
            if let Some((i, same)) = spec.repeat.filter(|_| !built.is_empty()) {
                let (earlier_name, earlier_text, earlier_raw) = &built[i.index(built.len())];
                name = earlier_name.clone();
                if same && earlier_raw == earlier_text {
                    raw = encode(earlier_text, spec.enc.wrapping_add(5));
                } else if same {
                    raw = earlier_raw.clone();
                }
            }
            pairs.push(match spec.value {
                Value::Bare => name.clone(),
                _ => format!("{name}={raw}"),
            });
            built.push((name, text, raw));
        }
        let query = pairs.join("&");
        let fragment =
            ["", "", "", "#frag", "#click_id=zz&status=x", "#"][usize::from(fragment) % 6];
        let prefix = [
            "https://t.example/pb?",
            "/pb?",
            "",
            "?",
            "gpb.php?",
            "https://t.example?",
            "https:///x?",
            "x://h/p?",
        ];
        let prefix = prefix[usize::from(shape) % prefix.len()];
        (
            format!("{prefix}{query}{fragment}"),
            format!("{query}{fragment}"),
        )
    }

    /// Postbacks of every shape for every built-in profile: the parser says what the oracle
    /// says wherever the oracle covers the input, as a target and as a form body.
    #[test]
    fn parser_agrees_with_the_oracle() {
        let small = Limits::default()
            .with_max_input_len(160)
            .with_max_params(8)
            .with_max_value_len(12);
        let strategy = (
            any::<Index>(),
            // Mostly a good id; else one to trim, decode, refuse or call a placeholder.
            prop::option::weighted(
                0.85,
                prop_oneof![
                    4 => prop::sample::select(&["4217", "1dad2cg1br22spja1"][..]),
                    1 => prop::sample::select(&[
                        "ab%00cd", "12%0A34", "1234%0D%0A", "+42+", "%34%32", "REPLACE", "",
                        "a%7F",
                    ][..]),
                ],
            ),
            prop::collection::vec(pair(), 0..8),
            any::<u8>(),
            any::<u8>(),
            prop::bool::weighted(0.25),
        );
        let (cases, covered) = (Cell::new(0u32), Cell::new(0u32));
        let outcomes = RefCell::new(BTreeMap::<&str, u32>::new());
        let count = |code: Option<&'static str>| {
            covered.set(covered.get() + 1);
            let code = code.unwrap_or("ok");
            *outcomes.borrow_mut().entry(code).or_default() += 1;
        };
        let mut runner = TestRunner::new(Config {
            cases: 4096,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(
            &strategy,
            |(profile, click, specs, shape, fragment, small_limits)| {
                let name = Profile::BUILTIN_NAMES[profile.index(Profile::BUILTIN_NAMES.len())];
                let profile = Profile::builtin(name).unwrap();
                let limits = if small_limits {
                    small
                } else {
                    Limits::default()
                };
                let parser = Parser::from(profile).with_limits(limits);
                let (input, body) = build(profile, click, &specs, shape, fragment);
                cases.set(cases.get() + 2);
                let parsed = parser.parse(&input);
                if check(profile, limits, input.as_bytes(), false, &parsed) {
                    count(parsed.as_ref().err().map(ParsePostbackError::code));
                }
                let form = parser.parse_form(body.as_bytes());
                if check(profile, limits, body.as_bytes(), true, &form) {
                    count(form.as_ref().err().map(ParsePostbackError::code));
                }
                Ok(())
            },
        );
        if let Err(err) = result {
            panic!("{err}");
        }
        let (cases, covered, outcomes) = (cases.get(), covered.get(), outcomes.take());
        assert!(
            covered * 4 >= cases * 3,
            "the oracle covered {covered} of {cases} parses"
        );
        // Every outcome is met, acceptance often.
        let codes = [
            "malformed",
            "missing_click_id",
            "unexpanded_macro",
            "bad_status",
            "bad_payout",
            "too_long",
        ];
        let ok = outcomes.get("ok").copied().unwrap_or_default();
        assert!(ok * 4 >= covered, "{outcomes:?}");
        for code in codes {
            assert!(
                outcomes.get(code).is_some_and(|&n| n >= 20),
                "{code}: {outcomes:?}"
            );
        }
        eprintln!("{covered} of {cases} parses covered: {outcomes:?}");
    }

    /// The oracle's state for a status word is the profile's, and a mapping list wins.
    #[test]
    fn mapping_lists_win_over_the_profiles_words() {
        let keitaro = Profile::builtin("keitaro").unwrap();
        let answer = parse(
            keitaro,
            Limits::default(),
            b"subid=a&status=lead&sale_status=x;LEAD",
            false,
        );
        let fields = answer.unwrap().unwrap();
        assert_eq!(fields.state, Some(ConversionState::Approved));
        let answer = parse(
            Profile::generic(),
            Limits::default(),
            b"click_id=a&payout=12,50",
            false,
        );
        assert_eq!(answer.unwrap().unwrap().payout, Amount::new(1250, 2));
    }
}
