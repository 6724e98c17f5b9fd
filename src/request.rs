//! What an HTTP handler hands the crate: a borrowed view of one incoming request.
//!
//! The crate owns no HTTP server, so the tracker and the [`Guard`](crate::Guard) need a small,
//! framework-neutral description of the request: its target (`/postback?…` or a full URL), an
//! optional form body, the socket peer address and the headers. [`Request`] borrows all of it from
//! the caller's buffers and copies nothing, so building one per postback costs a few words on the
//! stack.
//!
//! # Example
//!
//! ```
//! use postback::Request;
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! // Borrow the headers your server already parsed; no copy is made.
//! let headers = [("Host", "track.example"), ("X-Forwarded-For", "203.0.113.9")];
//! let req = Request::get("/postback?subid=abc&status=approved&token=s3cret")
//!     .with_peer(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
//!     .with_headers(&headers);
//!
//! assert_eq!(req.path(), "/postback");
//! assert_eq!(req.query(), Some("subid=abc&status=approved&token=s3cret"));
//! assert_eq!(req.header("x-forwarded-for"), Some("203.0.113.9"));
//! ```

use std::net::IpAddr;

use crate::query::{self, Located};

/// A borrowed view of one incoming postback request.
///
/// Build it with [`Request::get`] or [`Request::post`] and the `with_*` methods; every accessor
/// returns a slice of what you passed in. Header names are matched ASCII case-insensitively, as
/// HTTP requires.
///
/// The headers given to [`with_headers`](Request::with_headers) are borrowed as a slice and cost
/// nothing; each [`with_header`](Request::with_header) call appends to a small owned list, which
/// allocates once. Prefer `with_headers` on a hot path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request<'a> {
    target: &'a str,
    body: Option<&'a [u8]>,
    peer: Option<IpAddr>,
    headers: &'a [(&'a str, &'a str)],
    extra_headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    /// A request without a body: the request target as the server received it
    /// (`/postback?subid=abc`) or a full URL (`https://track.example/postback?subid=abc`).
    ///
    /// ```
    /// let req = postback::Request::get("https://track.example/pb?subid=abc#frag");
    /// assert_eq!(req.path(), "/pb");
    /// assert_eq!(req.query(), Some("subid=abc"));
    /// assert_eq!(req.body(), None);
    /// ```
    #[must_use]
    pub fn get(target: &'a str) -> Self {
        Request {
            target,
            ..Request::default()
        }
    }

    /// A request with an `application/x-www-form-urlencoded` body, as ClickBank and some
    /// networks send (form POST). Parameters may come in the body, the query, or both.
    ///
    /// ```
    /// let req = postback::Request::post("/postback", b"subid=abc&status=sale");
    /// assert_eq!(req.query(), None);
    /// assert_eq!(req.body(), Some(&b"subid=abc&status=sale"[..]));
    /// ```
    #[must_use]
    pub fn post(target: &'a str, body: &'a [u8]) -> Self {
        Request {
            target,
            body: Some(body),
            ..Request::default()
        }
    }

    /// Sets the address of the socket peer: the client, or the last proxy in front of you.
    #[must_use]
    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// Borrows the request's headers as `(name, value)` pairs, in the order received.
    ///
    /// Replaces headers set by an earlier `with_headers`; headers added one by one with
    /// [`with_header`](Request::with_header) are kept and come after these.
    #[must_use]
    pub fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Adds one header after those already set. Allocates on first use; see the type docs.
    ///
    /// ```
    /// let req = postback::Request::get("/pb").with_header("Forwarded", "for=192.0.2.60");
    /// assert_eq!(req.header("FORWARDED"), Some("for=192.0.2.60"));
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: &'a str, value: &'a str) -> Self {
        self.extra_headers.push((name, value));
        self
    }

    /// The request target or URL exactly as given.
    #[must_use]
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path of the target, without query or fragment: `/postback` for
    /// `/postback?subid=abc` and for `https://track.example/postback?subid=abc`; empty for a
    /// bare query (`subid=abc&status=sale`). The target is read as the parser reads it: see
    /// [`Parser::parse`](crate::Parser::parse) for the rules.
    ///
    /// A URL with an empty path (`https://track.example?subid=abc`) has the path `/`.
    #[must_use]
    pub fn path(&self) -> &'a str {
        let Some(located) = self.located() else {
            return "";
        };
        let is_url = located.path.start > 0;
        match self.target.get(located.path) {
            Some("") if is_url => "/",
            Some(path) => path,
            None => "",
        }
    }

    /// The query of the target, without the `?` and without any fragment: what follows the
    /// path's `?`, or the whole target when it is a bare query (`subid=abc&status=sale`);
    /// `None` when the target has no query. The parser, the guard and the log read this same
    /// query.
    ///
    /// ```
    /// let bare = postback::Request::get("subid=abc&status=sale");
    /// assert_eq!(bare.query(), Some("subid=abc&status=sale"));
    /// // A `?` after a `=` is data in a bare query, not the start of another one.
    /// let odd = postback::Request::get("subid=A&?subid=B");
    /// assert_eq!(odd.query(), Some("subid=A&?subid=B"));
    /// ```
    #[must_use]
    pub fn query(&self) -> Option<&'a str> {
        self.target.get(self.located()?.query?)
    }

    /// Where the path, query and fragment are; `None` for a target that starts like a URL but
    /// has no host, which the parser refuses.
    pub(crate) fn located(&self) -> Option<Located> {
        query::locate(self.target.as_bytes()).ok()
    }

    /// The form body, if the request was built with [`Request::post`].
    #[must_use]
    pub fn body(&self) -> Option<&'a [u8]> {
        self.body
    }

    /// The socket peer address, if known.
    #[must_use]
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// The value of the first header with this name (ASCII case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_values(name).next()
    }

    /// Every value of the headers with this name, in the order received.
    ///
    /// HTTP allows a list header such as `X-Forwarded-For` to arrive as several lines; read
    /// together, in order, they form one comma-separated list.
    ///
    /// ```
    /// let headers = [("X-Forwarded-For", "198.51.100.7"), ("x-forwarded-for", "10.0.0.1")];
    /// let req = postback::Request::get("/pb").with_headers(&headers);
    /// let values: Vec<&str> = req.header_values("X-Forwarded-For").collect();
    /// assert_eq!(values, ["198.51.100.7", "10.0.0.1"]);
    /// ```
    #[must_use = "the iterator does nothing unless consumed"]
    pub fn header_values<'s>(
        &'s self,
        name: &'s str,
    ) -> impl DoubleEndedIterator<Item = &'a str> + 's {
        let extra: &'s [(&'a str, &'a str)] = &self.extra_headers;
        self.headers
            .iter()
            .chain(extra)
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}
