//! `postback parse`: what a profile makes of the URLs that arrived, one result per input line.
//!
//! Input often comes from access logs, where a line may be in any encoding or absurdly long, so
//! standard input is read as bytes with a bounded buffer: every line gets its own result and no
//! line can exhaust memory.

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};

use clap::Args;
use postback::parse::{ParsePostbackError, Postback};
use postback::{ConversionState, Parser, Profile};
use serde::Serialize;

use crate::{Format, Verdict, profile_names, status_mapping, write_json};

#[derive(Debug, Args)]
pub(crate) struct ParseArgs {
    /// The profile to parse with (see `postback profiles`)
    #[arg(long, value_name = "P", value_parser = profile_names())]
    profile: String,
    /// Also map the status word or code RAW to STATE (pending, approved, rejected, reversed);
    /// repeat for more
    #[arg(long = "map", value_name = "RAW=STATE", value_parser = status_mapping)]
    map: Vec<(String, ConversionState)>,
    /// URLs, request targets or queries; `-` reads one per line from standard input
    #[arg(required = true, value_name = "URL")]
    inputs: Vec<String>,
}

/// One input's result, the `--json` contract.
#[derive(Serialize)]
struct Report<'a> {
    input: &'a str,
    ok: bool,
    click_id: Option<&'a str>,
    state: Option<&'static str>,
    status: Option<&'a str>,
    payout: Option<String>,
    currency: Option<String>,
    txid: Option<&'a str>,
    event: Option<&'a str>,
    error: Option<ErrorReport>,
}

#[derive(Serialize)]
struct ErrorReport {
    code: &'static str,
    message: String,
}

impl From<&ParsePostbackError> for ErrorReport {
    fn from(err: &ParsePostbackError) -> Self {
        Self {
            code: err.code(),
            message: err.to_string(),
        }
    }
}

pub(crate) fn run(args: &ParseArgs, format: Format, out: &mut impl Write) -> io::Result<Verdict> {
    let parser = parser_for(args)?;
    let mut clean = true;
    let mut stdin_read = false;
    for input in &args.inputs {
        if input != "-" {
            let result = parser.parse(input).map_err(|err| ErrorReport::from(&err));
            clean &= result.is_ok();
            print_result(out, format, input, &result)?;
            continue;
        }
        // A second `-` finds standard input at its end, as `cat - -` does.
        if std::mem::replace(&mut stdin_read, true) {
            continue;
        }
        clean &= parse_lines(&parser, &mut io::stdin().lock(), format, out)?;
    }
    Ok(Verdict::from_clean(clean))
}

/// The profile's parser, with `--map` words added to its status map.
fn parser_for(args: &ParseArgs) -> io::Result<Parser> {
    let profile = Profile::builtin(&args.profile).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no profile `{}`", args.profile),
        )
    })?;
    Ok(parser_with_map(profile, &args.map))
}

/// A parser for `profile` whose status map also knows the `--map` words.
pub(crate) fn parser_with_map(
    profile: &'static Profile,
    map: &[(String, ConversionState)],
) -> Parser {
    if map.is_empty() {
        return Parser::from(profile);
    }
    if profile.status_params().is_empty() && profile.status_mapping_params().is_empty() {
        eprintln!(
            "note: profile `{}` reads no status parameter, so --map changes nothing",
            profile.name()
        );
    }
    let statuses = map
        .iter()
        .fold(profile.status_map().clone(), |words, (raw, state)| {
            words.with(raw, *state)
        });
    Parser::new(profile.clone().with_status_map(statuses))
}

/// Parses each line of `input`; returns whether every line parsed.
fn parse_lines(
    parser: &Parser,
    input: &mut impl BufRead,
    format: Format,
    out: &mut impl Write,
) -> io::Result<bool> {
    let max = parser.limits().max_input_len();
    let mut line = Vec::new();
    let mut clean = true;
    while let Some(len) = read_line_capped(input, &mut line, max.saturating_add(1))? {
        let text = String::from_utf8_lossy(&line);
        let result = if len > max {
            // Only the first `max + 1` bytes were kept: the parser would see a shorter input
            // than the line, so the error says the line's real length itself.
            Err(ErrorReport {
                code: "too_long",
                message: format!(
                    "too long: the input is {len} bytes, over the limit of {max}: check that \
                     the request is a postback"
                ),
            })
        } else {
            parser
                .parse_bytes(&line)
                .map_err(|err| ErrorReport::from(&err))
        };
        clean &= result.is_ok();
        let shown = if len > max {
            format!("{text}…")
        } else {
            text.into_owned()
        };
        print_result(out, format, &shown, &result)?;
    }
    Ok(clean)
}

/// Reads one line (without its `\n` or `\r\n`) into `line`, keeping at most `keep` bytes of it
/// and skipping the rest. Returns the line's full length, or `None` at the end of input.
fn read_line_capped(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    keep: usize,
) -> io::Result<Option<usize>> {
    line.clear();
    let mut len = 0usize;
    let mut seen_any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buf.is_empty() {
            return Ok(seen_any.then(|| trim_cr(line, len)));
        }
        seen_any = true;
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = newline.map_or(buf, |at| buf.get(..at).unwrap_or(buf));
        let room = keep.saturating_sub(line.len()).min(chunk.len());
        line.extend_from_slice(chunk.get(..room).unwrap_or(chunk));
        len = len.saturating_add(chunk.len());
        let used = newline.map_or(buf.len(), |at| at + 1);
        input.consume(used);
        if newline.is_some() {
            return Ok(Some(trim_cr(line, len)));
        }
    }
}

/// Drops a `\r` that ended the line (when it was kept), returning the new full length.
fn trim_cr(line: &mut Vec<u8>, len: usize) -> usize {
    if line.len() == len && line.last() == Some(&b'\r') {
        line.pop();
        return len - 1;
    }
    len
}

fn print_result(
    out: &mut impl Write,
    format: Format,
    input: &str,
    result: &Result<Postback<'_>, ErrorReport>,
) -> io::Result<()> {
    match format {
        Format::Json => {
            let report = match result {
                Ok(pb) => Report {
                    input,
                    ok: true,
                    click_id: Some(pb.click_id()),
                    state: pb.state().map(ConversionState::as_str),
                    status: pb.status(),
                    payout: pb.payout().map(|amount| amount.to_string()),
                    currency: pb.currency().map(|currency| currency.to_string()),
                    txid: pb.txid(),
                    event: pb.event(),
                    error: None,
                },
                Err(err) => Report {
                    input,
                    ok: false,
                    click_id: None,
                    state: None,
                    status: None,
                    payout: None,
                    currency: None,
                    txid: None,
                    event: None,
                    error: Some(ErrorReport {
                        code: err.code,
                        message: err.message.clone(),
                    }),
                },
            };
            write_json(out, &report)
        }
        Format::Human => {
            writeln!(out, "{input}")?;
            match result {
                Ok(pb) => {
                    writeln!(out, "  ok: {}", fields(pb))?;
                    for warning in pb.warnings() {
                        writeln!(out, "  warning: {warning}")?;
                    }
                    Ok(())
                }
                Err(err) => writeln!(out, "  error {}: {}", err.code, err.message),
            }
        }
    }
}

/// `click_id=… state=… …`, the fields a postback carried, for people.
pub(crate) fn fields(pb: &Postback<'_>) -> String {
    let mut text = format!(
        "click_id={} state={}",
        pb.click_id(),
        pb.state().map_or("-", ConversionState::as_str)
    );
    let optional = [
        ("status", pb.status().map(str::to_owned)),
        ("payout", pb.payout().map(|amount| amount.to_string())),
        (
            "currency",
            pb.currency().map(|currency| currency.to_string()),
        ),
        ("txid", pb.txid().map(str::to_owned)),
        ("event", pb.event().map(str::to_owned)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            // Writing to a `String` cannot fail.
            let _ = write!(text, " {name}={value}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::read_line_capped;

    fn lines(input: &[u8], keep: usize) -> Vec<(Vec<u8>, usize)> {
        // A tiny buffer so lines straddle refills.
        let mut reader = std::io::BufReader::with_capacity(3, input);
        let mut line = Vec::new();
        let mut got = Vec::new();
        while let Some(len) = read_line_capped(&mut reader, &mut line, keep).unwrap() {
            got.push((line.clone(), len));
        }
        got
    }

    #[test]
    fn reads_lines_with_their_full_length_and_a_bounded_prefix() {
        assert_eq!(
            lines(b"ab\r\n\ncdefgh\nij", 4),
            [
                (b"ab".to_vec(), 2),
                (Vec::new(), 0),
                (b"cdef".to_vec(), 6),
                (b"ij".to_vec(), 2),
            ]
        );
        assert_eq!(lines(b"", 4), []);
        assert_eq!(lines(b"\xff\xfe\n", 4), [(b"\xff\xfe".to_vec(), 2)]);
    }
}
