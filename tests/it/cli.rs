//! The `postback` binary, run as a user runs it: arguments in, stdout and exit status out.
//!
//! What the CLI prints must be what the library decides, so most expectations here come from
//! the library's own answers or from the data files, not from copies of the output.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use postback::catalog::NetworkMacros;
use postback::{
    Catalog, ClickId, ConversionState, LintContext, Parser, Profile, build_postback_url, lint,
};
use serde_json::Value;

fn postback(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postback"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs with `stdin` on standard input.
fn postback_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postback"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // Written from another thread so a child that answers while reading cannot deadlock us.
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_subcommand_has_help() {
    for (command, flags) in [
        ("lint", &["--network", "--tracker", "--json"][..]),
        ("build", &["--network", "--tracker", "--base"]),
        ("parse", &["--profile", "--map", "--json"]),
        ("test-lead", &["--network", "--tracker", "--template"]),
        ("click-id", &["[N]"]),
        ("profiles", &["--json"]),
        ("networks", &["--json"]),
    ] {
        let out = postback(&[command, "--help"]);
        assert_exit(&out, 0);
        for flag in flags {
            assert!(stdout(&out).contains(flag), "{command} --help lacks {flag}");
        }
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["lint"],
        &["build", "--network", "nosuchnet", "--tracker", "keitaro"],
        &[
            "build",
            "--network",
            "affise",
            "--tracker",
            "keitaro",
            "--base",
            "http://tr.example",
        ],
        &["parse", "--profile", "nosuchprofile", "x"],
        &["parse", "--profile", "keitaro", "--map", "hold", "x"],
        &["parse", "--profile", "keitaro", "--map", "hold=maybe", "x"],
        &["click-id", "many"],
    ] {
        let out = postback(args);
        assert_exit(&out, 2);
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn lint_agrees_with_the_template_vectors() {
    for (line, f) in crate::template::cases("lint", 4) {
        if f[1].contains('@') {
            continue; // a click macro context, which the CLI does not take
        }
        let mut args = vec!["lint", "--json"];
        if f[0] != "-" {
            args.extend(["--network", &f[0]]);
        }
        if f[1] != "-" {
            args.extend(["--tracker", &f[1]]);
        }
        args.push(&f[3]);
        let out = postback(&args);
        let reports = json_lines(&out);
        assert_eq!(reports.len(), 1, "line {line}");
        let report = &reports[0];
        assert_eq!(keys(report), BTreeSet::from(["input", "findings"]));
        assert_eq!(report["input"], f[3].as_str(), "line {line}");
        let codes: Vec<&str> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|finding| finding["code"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = if f[2] == "-" {
            Vec::new()
        } else {
            f[2].split(',').collect()
        };
        assert_eq!(codes, want, "line {line}");
        assert_exit(&out, i32::from(!want.is_empty()));
    }
}

#[test]
fn lint_reports_spans_and_messages_of_each_template() {
    let clean = build_postback_url("affise", "keitaro", "https://tr.example/k").unwrap();
    let bad = "http://tr.example/k/postback?subid={subid1}&&payout={sum}";
    let args = ["lint", "--network", "affise", "--tracker", "keitaro"];
    let out = postback(&[&args[..], &["--json", &clean, bad]].concat());
    assert_exit(&out, 1);
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["findings"], Value::Array(Vec::new()));

    let catalog = Catalog::builtin();
    let context = LintContext::new()
        .with_network(catalog.network("affise").unwrap())
        .with_tracker(catalog.tracker("keitaro").unwrap());
    let want = lint(bad, &context);
    let got = reports[1]["findings"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(
            keys(got),
            BTreeSet::from(["code", "start", "end", "message"])
        );
        assert_eq!(got["code"], want.code());
        assert_eq!(got["start"], want.span().start);
        assert_eq!(got["end"], want.span().end);
        assert_eq!(got["message"], want.hint());
    }

    let human = postback(&[&args[..], &[bad]].concat());
    assert_exit(&human, 1);
    for finding in &want {
        assert!(stdout(&human).contains(&finding.to_string()), "{finding}");
    }
    let out = postback(&[&args[..], &[&clean]].concat());
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), format!("{clean}\n  no findings\n"));
}

#[test]
fn build_prints_the_library_url() {
    for (network, tracker) in [
        ("affise", "keitaro"),
        ("everflow", "voluum"),
        ("cake", "binom"),
    ] {
        let base = "https://tr.example/a1b2c3";
        let url = build_postback_url(network, tracker, base).unwrap();
        let args = [
            "build",
            "--network",
            network,
            "--tracker",
            tracker,
            "--base",
            base,
        ];
        let out = postback(&args);
        assert_exit(&out, 0);
        assert_eq!(stdout(&out), format!("{url}\n"));

        let out = postback(&[&args[..], &["--json"]].concat());
        assert_exit(&out, 0);
        let report = &json_lines(&out)[0];
        assert_eq!(report["url"], url.as_str());
        assert_eq!(report["network"], network);
        assert_eq!(report["tracker"], tracker);
    }
    // Aliases and any case, as the catalog takes them.
    let out = postback(&[
        "build",
        "--network",
        "HasOffers",
        "--tracker",
        "Keitaro",
        "--json",
    ]);
    assert_exit(&out, 0);
    assert_eq!(json_lines(&out)[0]["network"], "tune");
}

/// The `--json` contract of `parse`, field by field, against the library's parse of `input`.
#[track_caller]
fn assert_parse_report(report: &Value, parser: &Parser, input: &[u8]) {
    assert_eq!(
        keys(report),
        BTreeSet::from([
            "input", "ok", "click_id", "state", "status", "payout", "currency", "txid", "event",
            "error"
        ])
    );
    match parser.parse_bytes(input) {
        Ok(pb) => {
            assert_eq!(report["ok"], true);
            assert_eq!(report["click_id"], pb.click_id());
            assert_eq!(
                report["state"],
                serde_json::json!(pb.state().map(ConversionState::as_str))
            );
            assert_eq!(report["status"], serde_json::json!(pb.status()));
            let payout = pb.payout().map(|p| p.to_string());
            assert_eq!(report["payout"], serde_json::json!(payout));
            let currency = pb.currency().map(|c| c.to_string());
            assert_eq!(report["currency"], serde_json::json!(currency));
            assert_eq!(report["txid"], serde_json::json!(pb.txid()));
            assert_eq!(report["event"], serde_json::json!(pb.event()));
            assert_eq!(report["error"], Value::Null);
        }
        Err(err) => {
            assert_eq!(report["ok"], false);
            for field in [
                "click_id", "state", "status", "payout", "currency", "txid", "event",
            ] {
                assert_eq!(report[field], Value::Null, "{field}");
            }
            assert_eq!(keys(&report["error"]), BTreeSet::from(["code", "message"]));
            assert_eq!(report["error"]["code"], err.code());
            assert_eq!(report["error"]["message"], err.to_string());
        }
    }
}

#[test]
fn parse_stdin_agrees_with_the_vectors_and_the_library() {
    let data = include_str!("../data/cli_parse.txt");
    let mut by_profile: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    for line in data
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut f = line.splitn(3, " | ");
        let (profile, want, input) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        match by_profile.iter_mut().find(|(p, _)| *p == profile) {
            Some((_, cases)) => cases.push((want, input)),
            None => by_profile.push((profile, vec![(want, input)])),
        }
    }
    assert!(by_profile.len() >= 5);
    for (profile, cases) in by_profile {
        let stdin: String = cases.iter().flat_map(|(_, input)| [*input, "\n"]).collect();
        let out = postback_with_stdin(
            &["parse", "--profile", profile, "--json", "-"],
            stdin.as_bytes(),
        );
        let reports = json_lines(&out);
        assert_eq!(reports.len(), cases.len(), "{profile}");
        let parser = Parser::builtin(profile).unwrap();
        let mut all_ok = true;
        for ((want, input), report) in cases.iter().zip(&reports) {
            assert_eq!(report["input"], *input);
            assert_parse_report(report, &parser, input.as_bytes());
            let got = if report["ok"] == true {
                format!("ok:{}", report["state"].as_str().unwrap_or("-"))
            } else {
                report["error"]["code"].as_str().unwrap().to_owned()
            };
            assert_eq!(got, *want, "{profile}: {input}");
            all_ok &= report["ok"] == true;
        }
        assert_exit(&out, i32::from(!all_ok));
    }
}

#[test]
fn parse_stdin_survives_bytes_that_are_not_utf8_and_huge_lines() {
    let huge = format!("/pb?click_id=abc&x={}", "y".repeat(1 << 20));
    let mut stdin = Vec::new();
    stdin.extend_from_slice(b"/pb?click_id=abc&status=approved&payout=1.50\r\n");
    stdin.extend_from_slice(b"/pb?click_id=caf\xe9&status=approved\n");
    stdin.extend_from_slice(b"/pb?note=\xff\xfe&click_id=abc&status=sale\n");
    stdin.extend_from_slice(huge.as_bytes());
    stdin.push(b'\n');
    stdin.extend_from_slice(b"\n");
    stdin.extend_from_slice(b"/pb?click_id=last"); // no final newline
    let out = postback_with_stdin(&["parse", "--profile", "generic", "--json", "-"], &stdin);
    assert_exit(&out, 1);
    let reports = json_lines(&out);
    assert_eq!(reports.len(), 6, "one object per input line");

    let parser = Parser::generic();
    assert_parse_report(
        &reports[0],
        &parser,
        b"/pb?click_id=abc&status=approved&payout=1.50",
    );
    assert_eq!(reports[0]["payout"], "1.50");
    assert_parse_report(
        &reports[1],
        &parser,
        b"/pb?click_id=caf\xe9&status=approved",
    );
    assert_eq!(reports[1]["error"]["code"], "malformed");
    assert_eq!(
        reports[1]["input"],
        "/pb?click_id=caf\u{fffd}&status=approved"
    );
    assert_parse_report(
        &reports[2],
        &parser,
        b"/pb?note=\xff\xfe&click_id=abc&status=sale",
    );
    assert_eq!(reports[2]["state"], "approved");
    assert_eq!(reports[3]["ok"], false);
    assert_eq!(reports[3]["error"]["code"], "too_long");
    let message = reports[3]["error"]["message"].as_str().unwrap();
    assert!(message.contains(&huge.len().to_string()), "{message}");
    assert!(
        reports[3]["input"].as_str().unwrap().len() < 10_000,
        "the echo is bounded"
    );
    assert_eq!(reports[4]["error"]["code"], "missing_click_id");
    assert_eq!(reports[5]["click_id"], "last");
}

#[test]
fn parse_arguments_and_map() {
    let sale = "/a1b2c3/postback?subid=abc&status=hold&payout=2";
    let out = postback(&["parse", "--profile", "keitaro", "--json", sale]);
    assert_exit(&out, 0);
    assert_eq!(json_lines(&out)[0]["state"], Value::Null);

    let args = [
        "parse",
        "--profile",
        "keitaro",
        "--map",
        "hold=pending",
        "--map",
        "paid=approved",
    ];
    let paid = "/a1b2c3/postback?subid=abc&status=PAID";
    let out = postback(&[&args[..], &["--json", sale, paid]].concat());
    assert_exit(&out, 0);
    let reports = json_lines(&out);
    assert_eq!(reports[0]["state"], "pending");
    assert_eq!(reports[0]["status"], "hold");
    assert_eq!(reports[1]["state"], "approved");

    // Human output: the fields, or the error with its code; exit 1 when one fails.
    let out = postback(&[
        "parse",
        "--profile",
        "affise",
        sale,
        "/pb?clickid=x&status=4",
    ]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("error missing_click_id: missing click id"),
        "{text}"
    );
    assert!(text.contains("error bad_status: bad status `4`"), "{text}");
    let out = postback(&[
        "parse",
        "--profile",
        "affise",
        "/pb?clickid=x&status=1&sum=3",
    ]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("ok: click_id=x state=approved status=1 payout=3"));
}

#[test]
fn test_lead_passes_for_working_pairs() {
    for (network, tracker) in [
        ("affise", "keitaro"),
        ("everflow", "voluum"),
        ("cake", "prosper202"),
    ] {
        let out = postback(&[
            "test-lead",
            "--network",
            network,
            "--tracker",
            tracker,
            "--json",
        ]);
        assert_exit(&out, 0);
        let report = &json_lines(&out)[0];
        assert_eq!(report["ok"], true);
        assert_eq!(report["network"], network);
        let steps = report["steps"].as_array().unwrap();
        let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "click",
                "offer link",
                "template",
                "lint",
                "network",
                "parse",
                "match",
                "retry"
            ]
        );
        assert!(steps.iter().all(|s| s["status"] == "passed"), "{report}");

        let out = postback(&["test-lead", "--network", network, "--tracker", tracker]);
        assert_exit(&out, 0);
        let text = stdout(&out);
        assert!(text.contains("recorded -> HTTP 200"), "{text}");
        assert!(text.contains("duplicate -> HTTP 200"), "{text}");
        assert!(!text.contains("FAILED"), "{text}");
    }
}

#[test]
fn build_says_when_the_network_must_filter_by_status() {
    // RedTrack cannot read Affise's codes: the URL is Affise's postback for approved
    // conversions, and the user must set its filter. stdout stays the bare URL.
    let args = ["build", "--network", "affise", "--tracker", "redtrack"];
    let out = postback(&args);
    assert_exit(&out, 0);
    assert!(stdout(&out).trim_end().ends_with("&status=approved"));
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("set the postback's status filter to approved in affise"),
        "{note}"
    );
    let out = postback(&["test-lead", "--network", "affise", "--tracker", "redtrack"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("redtrack does not read affise's status codes"));
    // Keitaro maps the codes: no note.
    let out = postback(&["build", "--network", "affise", "--tracker", "keitaro"]);
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn test_lead_fails_on_a_wrong_click_macro() {
    // Affise has no `{clickid}` macro: it sends it literally, and nothing can match.
    let template =
        "https://tr.example/postback?subid={clickid}&payout={sum}&status={status}&sale_status=1";
    let args = [
        "test-lead",
        "--network",
        "affise",
        "--tracker",
        "keitaro",
        "--template",
        template,
    ];
    let out = postback(&[&args[..], &["--json"]].concat());
    assert_exit(&out, 1);
    let report = &json_lines(&out)[0];
    assert_eq!(report["ok"], false);
    let failed: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "failed")
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["lint", "network", "parse", "match"]);

    let out = postback(&args);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(text.contains("unknown_macro"), "{text}");
    assert!(text.contains("unexpanded_macro"), "{text}");
    assert!(
        text.contains("invalid (unexpanded_macro) -> HTTP 400"),
        "{text}"
    );

    // The click went out in sub1, the template returns sub2: empty, so no click id arrives.
    let sub2 = template.replace("{clickid}", "{sub2}");
    let out = postback(&[
        "test-lead",
        "--network",
        "affise",
        "--tracker",
        "keitaro",
        "--template",
        &sub2,
    ]);
    assert_exit(&out, 1);
    assert!(stdout(&out).contains("missing_click_id"));
    assert!(stdout(&out).contains("the click id went out in `sub1`, but `subid` holds `sub2`"));
}

#[test]
fn click_ids_are_new_valid_and_one_a_line() {
    let out = postback(&["click-id", "50"]);
    assert_exit(&out, 0);
    let ids: Vec<&str> = stdout(&out).lines().collect();
    assert_eq!(ids.len(), 50);
    for id in &ids {
        assert_eq!(ClickId::parse(id).unwrap().to_string(), *id);
    }
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        50,
        "all distinct"
    );

    assert_eq!(stdout(&postback(&["click-id"])).lines().count(), 1);
    let out = postback(&["click-id", "2", "--json"]);
    for report in json_lines(&out) {
        let id = ClickId::parse(report["click_id"].as_str().unwrap()).unwrap();
        assert_eq!(report["timestamp_ms"], id.timestamp_ms());
    }
}

#[test]
fn profiles_and_networks_list_the_library_data() {
    let out = postback(&["profiles"]);
    assert_exit(&out, 0);
    let names: Vec<&str> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, Profile::BUILTIN_NAMES);
    let out = postback(&["profiles", "--json"]);
    let profiles = json_lines(&out);
    assert_eq!(profiles.len(), Profile::BUILTIN_NAMES.len());
    for (json, profile) in profiles.iter().zip(Profile::builtins()) {
        assert_eq!(*json, serde_json::to_value(profile).unwrap());
        let parsed: Profile = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(
            parsed.name(),
            profile.name(),
            "loadable as a config profile"
        );
    }

    let catalog = Catalog::builtin();
    let out = postback(&["networks"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    for network in catalog.networks() {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{} ", network.name()))),
            "{}",
            network.name()
        );
    }
    for tracker in catalog.trackers() {
        assert!(text.contains(tracker.name()));
    }
    let out = postback(&["networks", "--json"]);
    let names: Vec<String> = json_lines(&out)
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<&str> = catalog.networks().map(NetworkMacros::name).collect();
    assert_eq!(names, want);
}
