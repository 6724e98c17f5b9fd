use postback::catalog::Catalog;
use postback::lint::{LintCode, LintContext, lint};
use proptest::prelude::*;

use crate::template::cases;

fn context<'a>(catalog: &'a Catalog, network: &str, tracker: &'a str) -> LintContext<'a> {
    let mut ctx = LintContext::new();
    if network != "-" {
        ctx = ctx.with_network(catalog.network(network).expect(network));
    }
    if tracker != "-" {
        // `keitaro@sub2`: the click id went out in the network's `sub2`
        let (tracker, click) = tracker
            .split_once('@')
            .map_or((tracker, None), |(t, c)| (t, Some(c)));
        ctx = ctx.with_tracker(catalog.tracker(tracker).expect(tracker));
        if let Some(click) = click {
            ctx = ctx.with_click_macro(click);
        }
    }
    ctx
}

#[test]
fn lint_vectors() {
    let catalog = Catalog::builtin();
    let mut seen = std::collections::HashSet::new();
    for (line, f) in cases("lint", 4) {
        let ctx = context(catalog, &f[0], &f[1]);
        let findings = lint(&f[3], &ctx);
        let codes: Vec<_> = findings.iter().map(postback::Finding::code).collect();
        let want: Vec<&str> = if f[2] == "-" {
            vec![]
        } else {
            f[2].split(',').collect()
        };
        assert_eq!(codes, want, "line {line}: {findings:#?}");
        for finding in &findings {
            assert!(
                f[3].get(finding.span()).is_some(),
                "line {line}: span off a char boundary"
            );
            assert!(!finding.hint().is_empty() && !finding.hint().contains('\n'));
            seen.insert(finding.kind());
        }
    }
    for code in LintCode::ALL {
        assert!(seen.contains(&code), "no vector for {code}");
    }
    // every catalogued network has a clean vector
    let clean: Vec<_> = cases("lint", 4)
        .into_iter()
        .filter(|(_, f)| f[2] == "-")
        .map(|(_, f)| f[0].clone())
        .collect();
    for net in catalog.networks() {
        assert!(
            clean.contains(&net.name().to_owned()),
            "no clean vector for {}",
            net.name()
        );
    }
}

#[test]
fn findings_point_at_the_mistake() {
    let catalog = Catalog::builtin();
    let ctx = context(catalog, "impact", "-");
    let src = "https://tr.example/p?cid={subid1}&status={Status}";
    let findings = lint(src, &ctx);
    assert_eq!(findings.len(), 1);
    assert_eq!(&src[findings[0].span()], "{subid1}");
    assert_eq!(
        findings[0].to_string(),
        "unknown_macro at bytes 25..33: impact has no `subid1` (names are case-sensitive): did you mean `{SubId1}`?"
    );
    let findings = lint("https://tr.example/p?c=%7Bsubacc4%7D", &LintContext::new());
    assert_eq!(
        findings[0].hint(),
        "macro `subacc4` is percent-encoded and will not be expanded: paste it unencoded"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn lint_never_panics(src in any::<String>(), urlish in "[{}\\[\\]#%!$<>?&=a-fA-F0-9 :_é7BD]{0,40}") {
        let catalog = Catalog::builtin();
        for s in [&src, &urlish] {
            for (net, trk) in [("-", "-"), ("affise", "keitaro"), ("cake", "voluum"), ("keitaro", "-")] {
                for f in lint(s, &context(catalog, net, trk)) {
                    prop_assert!(s.get(f.span()).is_some());
                }
            }
        }
    }
}
