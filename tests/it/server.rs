//! `examples/tracker_server.rs` as a real process, driven over loopback HTTP/1.1.
//!
//! The client is a few lines over `TcpStream` with `Connection: close`: it reads the whole
//! answer and needs no dependency. Every wait is bounded by [`TIMEOUT`], and the server is
//! killed when its guard drops, also when an assertion panics.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use postback::ClickId;

const TIMEOUT: Duration = Duration::from_secs(20);
const OFFER: &str = "https://offer.example/?aff_sub={subid}&src={source}";
const TOKEN: &str = "s3cret";

/// The example binary that `cargo test` builds before it runs the integration tests.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash> → target/<profile>/examples/tracker_server
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let name = format!("tracker_server{}", std::env::consts::EXE_SUFFIX);
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.is_file(),
        "{} is missing: run the whole `cargo test` (it builds the examples), or `cargo build \
         --example tracker_server` before `cargo test --test it`",
        binary.display()
    );
    binary
}

/// Kills the child when dropped, so that no test leaves a server behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // It may have exited already; either way it must be reaped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Server {
    addr: SocketAddr,
    _child: KillOnDrop,
}

impl Server {
    /// Starts the example on a free loopback port and waits for its `listening on` line.
    fn start(args: &[&str]) -> Self {
        let child = Command::new(example_binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let line = rx
            .recv_timeout(TIMEOUT)
            .expect("the server printed no line in time")
            .unwrap();
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Server {
            addr,
            _child: child,
        }
    }

    fn get(&self, target: &str) -> Response {
        self.send("GET", target, "")
    }

    fn post(&self, target: &str, form: &str) -> Response {
        self.send("POST", target, form)
    }

    fn send(&self, method: &str, target: &str, form: &str) -> Response {
        self.send_with_headers(method, target, &[], form)
    }

    /// Sends a request with these extra header lines, raw bytes without their CRLF, so that a
    /// line may hold bytes that are not UTF-8.
    fn send_with_headers(
        &self,
        method: &str,
        target: &str,
        lines: &[&[u8]],
        form: &str,
    ) -> Response {
        let mut stream = TcpStream::connect_timeout(&self.addr, TIMEOUT).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        let form_headers = if method == "POST" {
            let length = form.len();
            format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n"
            )
        } else {
            String::new()
        };
        let addr = self.addr;
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{form_headers}"
        )
        .into_bytes();
        for line in lines {
            request.extend_from_slice(line);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(form.as_bytes());
        stream.write_all(&request).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        Response::parse(&raw)
    }

    /// `GET /postbacks`, parsed.
    fn log(&self) -> Vec<serde_json::Value> {
        let response = self.get("/postbacks");
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{response:?}"
        );
        serde_json::from_str(&response.body).unwrap()
    }

    /// `GET /click`, and the click id the offer link carries.
    fn click(&self, query: &str) -> (Response, String) {
        let response = self.get(&format!("/click?{query}"));
        assert_eq!(response.status, 302, "{}", response.body);
        let location = response.header("location").unwrap();
        let rest = location
            .strip_prefix("https://offer.example/?aff_sub=")
            .unwrap_or_else(|| panic!("unexpected offer link {location}"));
        let id = rest.split('&').next().unwrap().to_owned();
        (response, id)
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn parse(raw: &str) -> Self {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let response = Response {
            status,
            headers,
            body: body.to_owned(),
        };
        // Bodies of known size come with a length; a chunked one would need decoding here.
        assert_eq!(response.header("transfer-encoding"), None, "{response:?}");
        response
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn keitaro_server() -> Server {
    Server::start(&["--profile", "keitaro", "--offer", OFFER, "--token", TOKEN])
}

fn codes(log: &[serde_json::Value]) -> Vec<&str> {
    log.iter()
        .map(|entry| entry["code"].as_str().unwrap())
        .collect()
}

#[test]
fn click_redirects_to_the_offer_and_its_postback_is_recorded_once() {
    let server = keitaro_server();
    let (response, id) = server.click("campaign=summer&source=fb&sub1=adset-7");
    // The click macro got a fresh ClickId; the offer's other macro got the click's `source`.
    assert!(ClickId::parse(&id).is_ok(), "{id}");
    assert!(response.header("location").unwrap().ends_with("&src=fb"));
    let (_, other) = server.click("campaign=summer");
    assert_ne!(id, other);

    let target = format!("/postback?subid={id}&status=lead&payout=1.50&token={TOKEN}");
    let first = server.get(&target);
    assert_eq!((first.status, first.body.as_str()), (200, "recorded\n"));
    let retry = server.get(&target);
    assert_eq!(retry.status, 200);
    assert!(retry.body.starts_with("duplicate: "), "{}", retry.body);
    let sale = server.get(&format!(
        "/postback?subid={id}&status=sale&payout=1.50&token={TOKEN}"
    ));
    assert_eq!(
        (sale.status, sale.body.as_str()),
        (200, "updated (pending -> approved)\n")
    );

    let log = server.log();
    assert_eq!(codes(&log), ["recorded", "duplicate", "updated"]);
    let entry = &log[0];
    assert_eq!(entry["click_id"], id.as_str());
    assert_eq!(entry["state"], "pending");
    assert_eq!(entry["status"], "lead");
    assert_eq!(entry["http_status"], 200);
    assert_eq!(entry["peer"], "127.0.0.1");
    // The log is shown to people: the token is redacted.
    assert_eq!(
        entry["target"],
        target.replace("token=s3cret", "token=***").as_str()
    );
    assert_eq!(entry["hint"], serde_json::Value::Null);
    assert_eq!(log[2]["state"], "approved");
}

#[test]
fn unknown_click_is_404_with_the_hint() {
    let server = keitaro_server();
    let response = server.get(&format!(
        "/postback?subid=MYTEST123&status=sale&token={TOKEN}"
    ));
    assert_eq!(response.status, 404);
    assert!(
        response
            .body
            .starts_with("click_not_found: click id `MYTEST123` not found: "),
        "{}",
        response.body
    );
    let log = server.log();
    assert_eq!(codes(&log), ["click_not_found"]);
    assert_eq!(log[0]["click_id"], "MYTEST123");
    assert!(log[0]["hint"].as_str().unwrap().contains("MYTEST123"));
}

#[test]
fn bad_or_missing_token_is_401_and_counts_nothing() {
    let server = keitaro_server();
    let (_, id) = server.click("");
    let base = format!("/postback?subid={id}&status=sale");
    let wrong = server.get(&format!("{base}&token=guess"));
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.starts_with("unauthorized"), "{}", wrong.body);
    assert!(!wrong.body.contains(TOKEN), "the answer leaks the token");
    let missing = server.get(&base);
    assert_eq!(missing.status, 401);
    assert!(missing.body.contains("missing token"), "{}", missing.body);
    // Refused postbacks did not touch the click: the real one is the first conversion.
    let real = server.get(&format!("{base}&token={TOKEN}"));
    assert_eq!((real.status, real.body.as_str()), (200, "recorded\n"));
    assert_eq!(
        codes(&server.log()),
        ["unauthorized", "unauthorized", "recorded"]
    );
}

#[test]
fn keitaro_key_in_the_path_and_a_form_post() {
    let server = Server::start(&[
        "--profile",
        "keitaro",
        "--offer",
        "https://offer.example/?aff_sub={clickid}",
        "--token",
        TOKEN,
        "--token-in-path",
    ]);
    let (_, id) = server.click("");
    let form = format!("subid={id}&status=sale&payout=3.00");
    let posted = server.post(&format!("/{TOKEN}/postback"), &form);
    assert_eq!((posted.status, posted.body.as_str()), (200, "recorded\n"));
    let wrong_key = server.post("/guess/postback", &form);
    assert_eq!(wrong_key.status, 401);
    // A query token means nothing once the token is read from the path.
    let in_query = server.get(&format!("/postback?subid={id}&status=sale&token={TOKEN}"));
    assert_eq!(in_query.status, 401);
    let log = server.log();
    assert_eq!(codes(&log), ["recorded", "unauthorized", "unauthorized"]);
    assert_eq!(log[0]["body"], form.as_str());
    assert_eq!(log[0]["payout"], "3.00");
}

#[test]
fn anything_else_is_404_and_postbacks_need_get_or_post() {
    let server = keitaro_server();
    assert_eq!(server.get("/").status, 404);
    assert_eq!(server.get("/clicks").status, 404);
    assert_eq!(server.send("PUT", "/postback?subid=x", "").status, 405);
    assert!(server.log().is_empty());
}

#[test]
fn a_header_line_that_is_not_ascii_still_counts_for_the_client_address() {
    // The test is the trusted proxy (loopback); only 203.0.113.0/24 may send postbacks.
    let server = Server::start(&[
        "--profile",
        "keitaro",
        "--offer",
        OFFER,
        "--token",
        TOKEN,
        "--allow",
        "203.0.113.0/24",
        "--trusted-proxy",
        "127.0.0.0/8",
    ]);
    let (_, id) = server.click("");
    let target = format!("/postback?subid={id}&status=sale&token={TOKEN}");
    // A client at 198.51.100.66 sends a spoofed line, then a line with a byte that is not
    // ASCII; its proxy appends the address it saw to that last line. Dropping the line would
    // leave the spoofed one to decide.
    let spoofed = server.send_with_headers(
        "GET",
        &target,
        &[
            b"X-Forwarded-For: 203.0.113.9",
            b"X-Forwarded-For: \xff, 198.51.100.66",
        ],
        "",
    );
    assert_eq!(spoofed.status, 403, "{}", spoofed.body);
    assert!(
        spoofed
            .body
            .contains("client ip 198.51.100.66 is not in the allow-list"),
        "{}",
        spoofed.body
    );
    // The same line from an allowed sender is read, not refused: the odd byte only makes the
    // hop it is in unreadable, and that hop lies left of the one believed. Neither does a
    // Latin-1 byte in a header the guard never reads refuse anything.
    let real = server.send_with_headers(
        "GET",
        &target,
        &[
            b"User-Agent: caf\xe9",
            b"X-Forwarded-For: \xff, 203.0.113.7",
        ],
        "",
    );
    assert_eq!((real.status, real.body.as_str()), (200, "recorded\n"));
    assert_eq!(codes(&server.log()), ["unauthorized", "recorded"]);
}

/// Runs the example to completion within [`TIMEOUT`]; returns its status and stderr.
fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let child = Command::new(example_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit on {args:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[test]
fn bad_arguments_exit_2_with_the_reason() {
    let cases: [(&[&str], &str); 5] = [
        (&["--profile", "keitaro"], "--offer TEMPLATE is required"),
        (
            &["--offer", "https://o.example/?a={sub1}&b={sub2}"],
            "has no click macro",
        ),
        (
            &[
                "--offer",
                "https://o.example/?a={subid}",
                "--profile",
                "nope",
            ],
            "--profile `nope` is not a built-in profile",
        ),
        (&["--listen", "localhost"], "--listen `localhost`"),
        (
            &[
                "--offer",
                "https://o.example/?a={subid}",
                "--allow",
                "10.0.0.1/8",
            ],
            "--allow `10.0.0.1/8`: ",
        ),
    ];
    for (args, message) in cases {
        let (status, stderr) = run_to_exit(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
