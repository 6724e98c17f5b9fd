//! Reading client addresses out of `X-Forwarded-For` and RFC 7239 `Forwarded` values.
//!
//! Everything here works on borrowed header text and allocates nothing; the walk over the hops
//! (which one to believe) lives in the guard, which knows the trusted proxies.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which header a trusted proxy in front of you writes the client address into.
///
/// Only one is read, because a proxy appends to one header and passes the other through as the
/// client sent it: reading a header that your proxy does not write would believe whatever the
/// client put there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, `HAProxy`, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`.
    ///
    /// Each line is split into elements at the commas outside quoted strings, and an element's
    /// address is its `for=` parameter. A client may write anything before the elements its
    /// proxies append, so two things make a hop unreadable (refused with
    /// [`GuardError::BadForwardedHop`](crate::guard::GuardError::BadForwardedHop) when it is the
    /// hop to believe) instead of being guessed at:
    ///
    /// - A line that ends inside a quoted string (an unterminated `"`, or a `\` escaping
    ///   nothing) cannot be split: a client's `for=203.0.113.9;x="` would swallow the
    ///   `, for=198.51.100.66` a proxy appends to the same line. The whole line counts as one hop
    ///   that is not an address. Lines after it are read as usual, since a line ends where
    ///   HTTP says so, not where a client's quotes do.
    /// - An element with `for` more than once (`for=198.51.100.66;for=203.0.113.9`), which
    ///   RFC 7239 §4 forbids: nothing says which one the proxy wrote.
    ///
    /// Hops to the left of the one believed are never read, so either problem there changes
    /// nothing.
    Forwarded,
}

impl ForwardedHeader {
    /// The header name as usually written: `X-Forwarded-For` or `Forwarded`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "X-Forwarded-For",
            ForwardedHeader::Forwarded => "Forwarded",
        }
    }
}

impl fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Splits on `delim` outside double-quoted strings (RFC 7230 quoted-string with `\` escapes).
///
/// A text that ends inside a quoted string cannot be split reliably: whatever followed the
/// opening quote, delimiters included, lands in the last piece. The split still yields that
/// piece, and [`ended_open`](SplitUnquoted::ended_open) says so afterwards.
pub(super) struct SplitUnquoted<'a> {
    rest: Option<&'a str>,
    delim: u8,
    open: bool,
}

impl<'a> SplitUnquoted<'a> {
    pub(super) fn new(text: &'a str, delim: u8) -> Self {
        SplitUnquoted {
            rest: Some(text),
            delim,
            open: false,
        }
    }

    /// Whether the text ended inside a quoted string (an unterminated `"`, or a `\` escaping
    /// nothing inside one). Known once the last piece has been returned; `false` before.
    pub(super) fn ended_open(&self) -> bool {
        self.open
    }
}

impl<'a> Iterator for SplitUnquoted<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, b) in text.bytes().enumerate() {
            if quoted {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    quoted = false;
                }
            } else if b == b'"' {
                quoted = true;
            } else if b == self.delim {
                // `delim` is ASCII, so `i` and `i + 1` are char boundaries.
                self.rest = text.get(i + 1..);
                return text.get(..i);
            }
        }
        self.rest = None;
        self.open = quoted;
        Some(text)
    }
}

/// The address of one `X-Forwarded-For` element: `192.0.2.1`, `2001:db8::1`, and the forms with
/// a port some proxies write (`192.0.2.1:4711`, `[2001:db8::1]:4711`). `None` for anything else
/// (`unknown`, obfuscated ids, garbage).
pub(super) fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim_matches([' ', '\t']);
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (host, port) = text.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.60;proto=http`,
/// `For="[2001:db8:cafe::17]:4711"`); `None` when the element has no `for`, has it more than
/// once, or it is not an address (`for=unknown`, `for=_hidden`).
///
/// An element from a line that [`SplitUnquoted`] split without ending open has balanced quotes,
/// so its `;` split is sound; the caller refuses a line that ended open, whatever this returns
/// for its last element.
pub(super) fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in SplitUnquoted::new(element, b';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if !name.trim_matches([' ', '\t']).eq_ignore_ascii_case("for") {
            continue;
        }
        // RFC 7239 §4: a parameter must not occur more than once per element. Reading either
        // copy would guess which one the proxy wrote; the other may be the client's.
        if found.is_some() {
            return None;
        }
        found = Some(value.trim_matches([' ', '\t']));
    }
    let value = found?;
    let value = match value.strip_prefix('"') {
        // An address never needs an escape; a value with one is not an address.
        Some(quoted) => quoted.strip_suffix('"').filter(|v| !v.contains('\\'))?,
        None => value,
    };
    parse_node(value)
}
