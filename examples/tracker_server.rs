//! A small real tracker over HTTP: clicks out, postbacks in, and the postback log, on axum and
//! the embedded `MemoryStore`.
//!
//! ```text
//! cargo run --release --example tracker_server -- \
//!     --listen 127.0.0.1:8080 --profile keitaro \
//!     --offer 'https://offer.example/?aff_sub={subid}' --token s3cret
//! ```
//!
//! - `GET /click?campaign=…&source=…&sub1=…` makes a click id, stores the click (`campaign`,
//!   `source`, and every other parameter as a sub value) and answers 302 to the offer link.
//!   The offer template's *click macro* receives the new id: the template's only macro, or,
//!   when it has several, the first of `{subid}`, `{sub_id}`, `{click_id}`, `{clickid}`,
//!   `{cid}` it contains. Its other macros take the click's parameters of the same name, or
//!   nothing.
//! - `GET|POST /postback?…`, `/postback/…` and Keitaro-style `/KEY/postback?…` run the
//!   `Tracker` with the peer address and headers and answer with the outcome's HTTP status and
//!   a body of one line: the outcome code (`updated (pending -> approved)`), then the hint
//!   when there is one.
//! - `GET /postbacks` returns the postback log as a JSON array, oldest first; each entry carries
//!   the outcome's `code`.
//!
//! Options: `--listen ADDR` (default `127.0.0.1:8080`; port 0 picks a free one), `--profile P`
//! (a built-in profile name, default `generic`), `--offer TEMPLATE` (required), `--token T`
//! (repeatable: require this shared secret, in the profile's token parameter, such as Affise's
//! `secure`, or else in `token`),
//! `--token-in-path` (read it from the first path segment instead: `/T/postback`),
//! `--allow NET` (repeatable: accept postbacks only from these networks, `203.0.113.0/24`) and
//! `--trusted-proxy NET` (repeatable: believe the `X-Forwarded-For` of peers in this network).
//!
//! When ready it prints `listening on http://ADDR` on stdout.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use postback::guard::{Cidr, TokenSource};
use postback::store::Inserted;
use postback::{
    Click, ClickIdGenerator, Guard, MemoryStore, OnMissing, Outcome, Parser, Request, Template,
    Tracker,
};

/// Macro names that carry the click id, in order of preference, when the offer has several.
const CLICK_MACROS: [&str; 5] = ["subid", "sub_id", "click_id", "clickid", "cid"];

const USAGE: &str = "usage: tracker_server [--listen ADDR] [--profile P] --offer TEMPLATE \
                     [--token T]... [--token-in-path] [--allow NET]... [--trusted-proxy NET]...";

/// What every handler shares.
struct App {
    tracker: Tracker<MemoryStore>,
    ids: ClickIdGenerator,
    offer: Template,
    click_macro: String,
}

/// The command line, parsed by hand to keep the example free of a CLI dependency.
struct Args {
    listen: SocketAddr,
    profile: String,
    offer: String,
    tokens: Vec<String>,
    token_in_path: bool,
    allowed: Vec<Cidr>,
    trusted_proxies: Vec<Cidr>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        profile: "generic".to_owned(),
        offer: String::new(),
        tokens: Vec::new(),
        token_in_path: false,
        allowed: Vec::new(),
        trusted_proxies: Vec::new(),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let addr = value()?;
                parsed.listen = addr
                    .parse()
                    .map_err(|err| format!("--listen `{addr}`: {err}"))?;
            }
            "--profile" => parsed.profile = value()?,
            "--offer" => parsed.offer = value()?,
            "--token" => parsed.tokens.push(value()?),
            "--token-in-path" => parsed.token_in_path = true,
            "--allow" | "--trusted-proxy" => {
                let net = value()?;
                let net = net
                    .parse()
                    .map_err(|err| format!("{flag} `{net}`: {err}"))?;
                if flag == "--allow" {
                    parsed.allowed.push(net);
                } else {
                    parsed.trusted_proxies.push(net);
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if parsed.offer.is_empty() {
        return Err("--offer TEMPLATE is required".to_owned());
    }
    Ok(parsed)
}

/// The offer's click macro: its only macro, else the first of [`CLICK_MACROS`] it has.
fn click_macro(offer: &Template) -> Result<String, String> {
    let mut names: Vec<&str> = offer.macros().map(|m| m.name()).collect();
    names.dedup();
    if let [only] = names.as_slice() {
        return Ok((*only).to_owned());
    }
    CLICK_MACROS
        .iter()
        .find(|name| names.contains(name))
        .map(|name| (*name).to_owned())
        .ok_or_else(|| {
            format!(
                "--offer `{}` has no click macro: give it a single macro, or one of {{{}}}",
                offer.as_str(),
                CLICK_MACROS.join("}, {")
            )
        })
}

fn app(args: &Args) -> Result<App, String> {
    let parser = Parser::builtin(&args.profile).ok_or_else(|| {
        format!(
            "--profile `{}` is not a built-in profile: use one of {}",
            args.profile,
            postback::Profile::BUILTIN_NAMES.join(", ")
        )
    })?;
    let mut guard = Guard::new();
    for token in &args.tokens {
        guard = guard.with_token(token);
    }
    if args.token_in_path {
        guard = guard.with_token_source(TokenSource::PathSegment(0));
    }
    guard = guard
        .with_allowed_nets(args.allowed.iter().copied())
        .with_trusted_proxies(args.trusted_proxies.iter().copied());
    let offer = Template::parse(&args.offer)
        .map_err(|err| format!("--offer: {err}"))?
        .with_on_missing(OnMissing::Empty);
    let click_macro = click_macro(&offer)?;
    let tracker = Tracker::new(MemoryStore::new(), parser)
        .with_guard(guard)
        .map_err(|err| format!("--token: {err}"))?;
    Ok(App {
        tracker,
        ids: ClickIdGenerator::new(),
        offer,
        click_macro,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let app = match app(&args) {
        Ok(app) => Arc::new(app),
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    if let Err(err) = serve(args.listen, app).await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn serve(listen: SocketAddr, app: Arc<App>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    // The test (and any script) waits for this line and reads the port from it.
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{}", listener.local_addr()?)?;
        stdout.flush()?;
    }
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).await
}

// [readme-snippet begin]
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/click", get(click))
        .route("/postbacks", get(postback_log))
        .route("/postback", get(postback).post(postback))
        .route("/postback/{*rest}", get(postback).post(postback))
        .route("/{key}/postback", get(postback).post(postback))
        .with_state(app)
}

async fn postback(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let target = uri.path_and_query().map_or("/", PathAndQuery::as_str);
    // Keep every header line: dropping one (`to_str` fails on a byte such as 0xFF) would let
    // an earlier line decide the client address, such as the client's own `X-Forwarded-For`
    // before the line its proxy appended to. Lossy UTF-8 keeps the line: such bytes become
    // U+FFFD, which no address contains, and commas, quotes and all ASCII stay as sent, so the
    // hops split as the proxy wrote them. Refusing the request instead would also refuse
    // senders with a Latin-1 byte in a header the guard never reads.
    let lines: Vec<(&str, Cow<'_, str>)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes())))
        .collect();
    let headers: Vec<(&str, &str)> = lines
        .iter()
        .map(|(name, value)| (*name, &**value))
        .collect();
    let request = if method == Method::POST {
        Request::post(target, &body)
    } else {
        Request::get(target)
    };
    let request = request.with_peer(peer.ip()).with_headers(&headers);
    // The tracker is sync. MemoryStore answers in microseconds, so it runs right here; over a
    // store that blocks on I/O (a database client), wrap it in tokio::task::spawn_blocking.
    let outcome = app.tracker.handle_now(&request);
    let status = StatusCode::from_u16(outcome.http_status());
    (
        status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply(&app, &request, &outcome),
    )
}
// [readme-snippet end]

/// The outcome (its code first, then any detail), then the hint a person can act on, when there is one.
fn reply(app: &App, request: &Request<'_>, outcome: &Outcome) -> String {
    // `handle` returns only the outcome; the hint names the click id, so parse again (cheap)
    // rather than read the log's newest entry, which may be another request's by now.
    let parser = app.tracker.parser();
    let parsed = match request.body() {
        Some(body) if !body.is_empty() => parser.parse_form(body),
        _ => parser.parse(request.target()),
    };
    match outcome.hint(parsed.ok().as_ref()) {
        Some(hint) => format!("{outcome}: {hint}\n"),
        None => format!("{outcome}\n"),
    }
}

async fn click(State(app): State<Arc<App>>, uri: Uri) -> Response {
    match record_and_link(&app, uri.query().unwrap_or("")) {
        Ok(link) => (StatusCode::FOUND, [(LOCATION, link)]).into_response(),
        Err((status, message)) => (status, format!("{message}\n")).into_response(),
    }
}

/// Stores a click with the query's values and returns the offer link for it.
fn record_and_link(app: &App, query: &str) -> Result<HeaderValue, (StatusCode, String)> {
    let bad = |err: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, err.to_string());
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let id = app.ids.generate();
    let mut click = Click::from_id(id);
    for (name, value) in &params {
        click = match name.as_str() {
            "campaign" => click.with_campaign(value),
            "source" => click.with_source(value),
            _ => click.with_sub(name, value),
        }
        .map_err(|err| bad(&err))?;
    }
    let inserted = app
        .tracker
        .record_click(click)
        .map_err(|err| (StatusCode::SERVICE_UNAVAILABLE, err.to_string()))?;
    if inserted == Inserted::AlreadyExists {
        // A fresh id never collides; if one did, its postbacks would credit the older click.
        let message = format!("click id {id} was already stored");
        return Err((StatusCode::INTERNAL_SERVER_ERROR, message));
    }
    // The click macro first: `Values` for a list takes the first pair of a name.
    let id = id.to_string();
    let values: Vec<(&str, &str)> = std::iter::once((app.click_macro.as_str(), id.as_str()))
        .chain(params.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .collect();
    let link = app.offer.expand(&values).map_err(|err| bad(&err))?;
    // Expanded values are percent-encoded; only a non-ASCII literal in the template fails here.
    HeaderValue::try_from(link).map_err(|err| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("offer link: {err}"),
        )
    })
}

/// `GET /postbacks`: the log as a JSON array, oldest first.
///
/// Built from the entries' accessors so that the example runs without the crate's `serde`
/// feature; with it, `PostbackLog::write_json_lines` writes the complete record.
async fn postback_log(State(app): State<Arc<App>>) -> Response {
    let entries: Vec<serde_json::Value> = app
        .tracker
        .log()
        .entries()
        .iter()
        .map(|entry| {
            let pb = entry.postback();
            serde_json::json!({
                "seq": entry.seq(),
                "received_at": entry.received_at().unix_timestamp(),
                "peer": entry.peer().map(|ip| ip.to_string()),
                "target": entry.target(),
                "body": entry.body(),
                "code": entry.code(),
                "http_status": entry.outcome().http_status(),
                "outcome": entry.outcome().to_string(),
                "click_id": pb.map(postback::Postback::click_id),
                "state": pb.and_then(postback::Postback::state)
                    .map(postback::ConversionState::as_str),
                "status": pb.and_then(postback::Postback::status),
                "payout": pb.and_then(postback::Postback::payout).map(|a| a.to_string()),
                "currency": pb.and_then(postback::Postback::currency).map(|c| c.to_string()),
                "txid": pb.and_then(postback::Postback::txid),
                "hint": entry.hint(),
            })
        })
        .collect();
    let json = serde_json::Value::Array(entries).to_string();
    ([(CONTENT_TYPE, "application/json")], json).into_response()
}
