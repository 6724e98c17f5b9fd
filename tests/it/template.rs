use std::collections::{BTreeMap, HashMap};

use postback::ConversionState;
use postback::template::{
    Dialect, Encoding, ExpandError, OnMissing, ParseTemplateError, Template, Value,
};
use proptest::prelude::*;

/// The cases of one kind from `tests/data/templates.txt`, split into `fields` fields (the last
/// one, the template, keeps any `|` and trailing space it has).
pub(crate) fn cases(kind: &str, fields: usize) -> Vec<(usize, Vec<String>)> {
    let data = include_str!("../data/templates.txt");
    let cases: Vec<_> = data
        .lines()
        .enumerate()
        .filter(|(_, line)| line.starts_with(&format!("{kind} | ")))
        .map(|(i, line)| {
            let parts: Vec<String> = line
                .splitn(fields + 1, " | ")
                .skip(1)
                .map(str::to_owned)
                .collect();
            assert_eq!(parts.len(), fields, "line {}: wrong field count", i + 1);
            (i + 1, parts)
        })
        .collect();
    assert!(!cases.is_empty(), "no `{kind}` cases");
    cases
}

#[test]
fn expansion_vectors() {
    for (line, f) in cases("expand", 3) {
        let values: Vec<(&str, &str)> = f[0]
            .split(';')
            .map(|pair| pair.split_once('=').unwrap())
            .collect();
        let tpl = Template::parse(&f[2]).unwrap_or_else(|e| panic!("line {line}: {e}"));
        assert_eq!(tpl.expand(&values).unwrap(), f[1], "line {line}");
    }
}

#[test]
fn macro_vectors_detect_the_dialect_and_list_macros() {
    for (line, f) in cases("macros", 3) {
        let tpl = Template::parse(&f[2]).unwrap_or_else(|e| panic!("line {line}: {e}"));
        assert_eq!(tpl.dialect().as_str(), f[0], "line {line}");
        let names: Vec<_> = tpl.macros().map(|m| m.name()).collect();
        let want: Vec<&str> = if f[1] == "-" {
            vec![]
        } else {
            f[1].split(',').collect()
        };
        assert_eq!(names, want, "line {line}");
        for m in tpl.macros() {
            assert_eq!(&f[2][m.span()], m.as_str(), "line {line}");
        }
    }
}

#[test]
fn parse_errors_say_what_and_where() {
    let cases = [
        (
            "https://n.example/?c={click_id",
            "macro opened at byte 21 is not closed",
        ),
        ("https://n.example/?c={}", "empty macro name at byte 21"),
        ("?c=#s2#&p=#price", "macro opened at byte 10 is not closed"),
        ("?c={click id}", "macro opened at byte 3 is not closed"),
    ];
    for (src, msg) in cases {
        assert_eq!(Template::parse(src).unwrap_err().to_string(), msg, "{src}");
    }
    let long = "a".repeat(postback::template::MAX_TEMPLATE_LEN + 1);
    assert!(matches!(
        Template::parse(&long),
        Err(ParseTemplateError::TooLong { .. })
    ));
    let many = "{a}".repeat(postback::template::MAX_MACROS + 1);
    assert_eq!(
        Template::parse(&many).unwrap_err().to_string(),
        "template has more than 128 macros (the next one starts at byte 384)"
    );
}

#[test]
fn explicit_dialect_reads_other_delimiters_as_text() {
    let tpl = Template::parse_with("?c=#s2#&d={sub1}", Dialect::Brace).unwrap();
    assert_eq!(tpl.expand(&[("sub1", "x")]).unwrap(), "?c=#s2#&d=x");
    let tpl = Template::parse_with("?c=#s2#&d={sub1}", Dialect::Hash).unwrap();
    assert_eq!(tpl.expand(&[("s2", "x")]).unwrap(), "?c=x&d={sub1}");
}

#[test]
fn missing_values_follow_the_policy() {
    let src = "?c={sub1}&t={transactionid}";
    let err = Template::parse(src)
        .unwrap()
        .expand(&[("sub1", "x")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no value for macro `transactionid` at byte 12"
    );
    assert!(matches!(err, ExpandError::Missing { at: 12, .. }));

    let empty = Template::parse(src)
        .unwrap()
        .with_on_missing(OnMissing::Empty);
    let mut out = String::new();
    let unresolved = empty.expand_into(&mut out, &[("sub1", "x")]).unwrap();
    assert_eq!(out, "?c=x&t=");
    assert_eq!(unresolved.len(), 1);
    let spans: Vec<_> = unresolved.map(|m| m.span()).collect();
    assert_eq!(spans, vec![12..27]);

    let keep = Template::parse(src)
        .unwrap()
        .with_on_missing(OnMissing::Keep);
    let mut out = String::new();
    let unresolved = keep
        .expand_into(&mut out, &[("transactionid", "t")])
        .unwrap();
    assert_eq!(out, "?c={sub1}&t=t");
    assert_eq!(unresolved.map(|m| m.name()).collect::<Vec<_>>(), ["sub1"]);

    let mut out = String::new();
    let all = keep
        .expand_into(&mut out, &[("sub1", "a"), ("transactionid", "b")])
        .unwrap();
    assert!(all.is_empty());
}

#[test]
fn every_values_source_works() {
    let tpl = Template::parse("?c={sub1}&p={sum}").unwrap();
    let want = "?c=k&p=2";
    let hash: HashMap<String, String> =
        [("sub1".into(), "k".into()), ("sum".into(), "2".into())].into();
    let btree: BTreeMap<&str, &str> = [("sub1", "k"), ("sum", "2")].into();
    let vec = vec![("sub1".to_owned(), "k"), ("sum".to_owned(), "2")];
    let closure = |name: &str| match name {
        "sub1" => Some("k"),
        "sum" => Some("2"),
        _ => None,
    };
    assert_eq!(tpl.expand(&hash).unwrap(), want);
    assert_eq!(tpl.expand(&btree).unwrap(), want);
    assert_eq!(tpl.expand(&vec).unwrap(), want);
    assert_eq!(tpl.expand(&vec[..]).unwrap(), want);
    assert_eq!(tpl.expand(&closure).unwrap(), want);
}

#[test]
fn states_go_through_value_maps_and_encoded_values_stay_as_they_are() {
    let tpl =
        Template::parse("?s={status:lead=hold sale=ok rejected=no}&r={status}&u={url}").unwrap();
    assert!(tpl.macros().next().unwrap().has_value_map());
    let values = |name: &str| match name {
        "status" => Some(Value::State(ConversionState::Pending)),
        "url" => Some(Value::Encoded("https%3A%2F%2Fx".into())),
        _ => None,
    };
    assert_eq!(
        tpl.expand(&values).unwrap(),
        "?s=hold&r=pending&u=https%3A%2F%2Fx"
    );
    let raw = Template::parse("?d={_date:U}").unwrap();
    assert_eq!(raw.macros().next().unwrap().encoding(), Encoding::Raw);
    assert_eq!(raw.macros().next().unwrap().args(), Some("U"));
}

#[test]
fn expand_into_appends_to_a_reused_buffer() {
    let tpl = Template::parse("?c={sub1}").unwrap();
    let mut out = String::from("GET ");
    tpl.expand_into(&mut out, &[("sub1", "a")]).unwrap();
    assert_eq!(out, "GET ?c=a");
    assert_eq!(tpl.to_string(), "?c={sub1}");
    assert_eq!("?c={sub1}".parse::<Template>().unwrap(), tpl);
}

/// Delimiters per dialect, so the props can write macros without the crate's help.
const DIALECTS: [(&str, &str, Dialect); 9] = [
    ("{", "}", Dialect::Brace),
    ("{{", "}}", Dialect::DoubleBrace),
    ("[", "]", Dialect::Bracket),
    ("[[", "]]", Dialect::DoubleBracket),
    ("[[[", "]]]", Dialect::TripleBracket),
    ("#", "#", Dialect::Hash),
    ("${", "}", Dialect::DollarBrace),
    ("!!!", "!!!", Dialect::Bang),
    ("<", ">", Dialect::Angle),
];

/// Literal text with none of the dialects' delimiter characters.
fn literal() -> impl Strategy<Value = String> {
    "[a-z0-9/?&=.:_ é-]{0,12}"
}

fn name() -> impl Strategy<Value = String> {
    "[g-z][a-z0-9_]{1,8}"
}

/// A template of one dialect: alternating literals and macros, with the macro names.
fn template() -> impl Strategy<Value = (String, Vec<String>, Dialect)> {
    (
        0..DIALECTS.len(),
        prop::collection::vec((literal(), name()), 1..6),
        literal(),
    )
        .prop_map(|(d, pieces, tail)| {
            let (open, close, dialect) = DIALECTS[d];
            let mut src = String::new();
            let mut names = Vec::new();
            for (lit, name) in pieces {
                src.push_str(&lit);
                src.push_str(open);
                src.push_str(&name);
                src.push_str(close);
                names.push(name);
            }
            src.push_str(&tail);
            (src, names, dialect)
        })
}

fn encode(value: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(value, SET).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn display_round_trips((src, names, dialect) in template()) {
        let tpl = Template::parse(&src).unwrap();
        prop_assert_eq!(tpl.dialect(), dialect);
        prop_assert_eq!(tpl.to_string(), src.clone());
        prop_assert_eq!(Template::parse(&tpl.to_string()).unwrap(), tpl.clone());
        let got: Vec<_> = tpl.macros().map(|m| m.name().to_owned()).collect();
        prop_assert_eq!(got, names);
    }

    #[test]
    fn expansion_matches_chained_replace(
        (src, names, dialect) in template(),
        values in prop::collection::vec(any::<String>(), 6),
    ) {
        let (open, close, _) = DIALECTS.iter().find(|d| d.2 == dialect).unwrap();
        let pairs: Vec<(String, String)> = names.iter().cloned().zip(values.iter().cloned().cycle()).collect();
        let mut oracle = src.clone();
        for (name, value) in &pairs {
            oracle = oracle.replace(&format!("{open}{name}{close}"), &encode(value));
        }
        let tpl = Template::parse(&src).unwrap();
        prop_assert_eq!(tpl.expand(&pairs).unwrap(), oracle);
    }

    #[test]
    fn values_survive_expansion_and_query_decoding(a in any::<String>(), b in "\\PC*") {
        let tpl = Template::parse("https://tr.example/postback?a={a}&b=#b#&c=x").unwrap();
        let tpl = Template::parse_with(tpl.as_str(), Dialect::Brace).unwrap();
        let url = tpl.expand(&[("a", a.as_str())]).unwrap();
        let url = Template::parse_with(&url, Dialect::Hash).unwrap().expand(&[("b", b.as_str())]).unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        prop_assert_eq!(pairs, vec![("a".into(), a), ("b".into(), b), ("c".into(), "x".into())]);
    }

    #[test]
    fn parse_never_panics(src in any::<String>(), urlish in "[{}\\[\\]#%!$<>?&=a-fA-F0-9 :_é]{0,40}") {
        for s in [&src, &urlish] {
            if let Ok(tpl) = Template::parse(s) {
                prop_assert_eq!(tpl.to_string(), s.clone());
                let _ = tpl.with_on_missing(OnMissing::Keep).expand(&[("a", "b")]);
            }
            for (_, _, dialect) in DIALECTS {
                let _ = Template::parse_with(s, dialect);
            }
            let _ = Template::parse_with(s, Dialect::Percent);
            let _ = Template::parse_with(s, Dialect::Keitaro);
        }
    }
}
