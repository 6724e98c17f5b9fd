//! Refusing postbacks that did not come from the network: token, source address, signature.
//!
//! A postback moves money, and its URL is easy to guess once one has leaked (in a browser
//! history, a log, a support ticket). Networks protect it in three ways, and [`Guard`] checks each
//! one you configure before the tracker looks at the postback (domain facts: Keitaro keeps a
//! secret key in the path, Scaleo/Affise/TUNE send a query token, TUNE/BeMob/FuseClick
//! allow-list sender IPs, offerwalls sign the parameters):
//!
//! 1. **Source address**: the client IP must lie in an allow-list of [`Cidr`] networks. The client
//!    is the socket peer, unless the peer is one of your trusted proxies; only then is the
//!    [`ForwardedHeader`] it writes believed, read from the right and skipping trusted hops.
//!    A client that sends its own `X-Forwarded-For` straight to you is judged by its socket
//!    address.
//! 2. **Shared-secret token** in a query (or form body) parameter or in a path segment, compared
//!    in constant time. Several tokens may be accepted at once, so a token can be rotated without
//!    losing postbacks. The parameter is named once, by the sender's profile
//!    ([`Guard::with_profile`], which a [`Tracker`](crate::Tracker) applies); a guard told to read
//!    another parameter refuses everything rather than disagree with it.
//! 3. **Signature** (feature `signature`): HMAC-SHA256 over the canonical parameters with a
//!    timestamp window against replay; see `Signature`.
//!
//! The checks run in that order; the first that fails is returned. A [`Guard`] with nothing
//! configured lets everything through ([`Guard::default`]), and each check fails closed once
//! configured: a configured token with no token in the request is refused, an allow-list with
//! no known peer address is refused.
//!
//! The guard does no I/O, never reads the clock (time comes in as `now`), and on a request
//! without percent-escapes in its token allocates nothing.
//!
//! ```
//! use postback::guard::{Cidr, Guard, TokenSource};
//! use postback::Request;
//! use std::net::IpAddr;
//! use time::OffsetDateTime;
//!
//! let guard = Guard::new()
//!     .with_token("n3w-t0ken")
//!     .with_token("old-token") // still accepted while the network switches over
//!     .with_token_source(TokenSource::param("secure"))
//!     .with_allowed_nets(Cidr::parse_list("203.0.113.0/24, 2001:db8::/32")?)
//!     .with_trusted_proxy("10.0.0.0/8".parse()?);
//!
//! // The network's server, seen through your load balancer at 10.0.0.2:
//! let headers = [("X-Forwarded-For", "203.0.113.9")];
//! let req = Request::get("/postback?subid=abc&status=approved&secure=old-token")
//!     .with_peer("10.0.0.2".parse::<IpAddr>()?)
//!     .with_headers(&headers);
//! let now = OffsetDateTime::now_utc();
//! assert!(guard.check(&req, now).is_ok());
//!
//! // The same request from anywhere else is refused, whatever headers it sends:
//! let spoofed = req.clone().with_peer("198.51.100.66".parse::<IpAddr>()?);
//! let err = guard.check(&spoofed, now).unwrap_err();
//! assert_eq!(err.http_status(), 403);
//! assert_eq!(err.to_string(), "client ip 198.51.100.66 is not in the allow-list: \
//!     add the network's sender addresses, or the proxy in front of you as a trusted proxy");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cidr;
mod forwarded;
#[cfg(feature = "signature")]
mod signature;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use subtle::{Choice, ConstantTimeEq};
use time::OffsetDateTime;

pub use cidr::{Cidr, ParseCidrError};
pub use forwarded::ForwardedHeader;
#[cfg(feature = "signature")]
#[cfg_attr(docsrs, doc(cfg(feature = "signature")))]
pub use signature::Signature;

use crate::Request;
use crate::profile::Profile;
use crate::query::{self, Plus};
use forwarded::SplitUnquoted;

/// Where a request carries its shared-secret token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// A parameter with this name in the query or the form body (`token`, `secure`,
    /// `security_token`, …); it must appear once in all. The name is matched as sent,
    /// case-sensitively and without decoding; the value is decoded once as form data (`+` is a
    /// space, `%XX` a byte; a `%` without two hex digits stays as it is) and compared as bytes,
    /// so `%2541` is the three characters `%41`, never `A`.
    Param(Box<str>),
    /// The path segment at this index, counting from 0 after the leading `/`: Keitaro's
    /// `/<key>/postback` is segment 0. The segment is percent-decoded once; `+` is itself.
    PathSegment(usize),
}

impl TokenSource {
    /// [`TokenSource::Param`] with this name.
    #[must_use]
    pub fn param(name: impl Into<Box<str>>) -> Self {
        TokenSource::Param(name.into())
    }
}

impl Default for TokenSource {
    /// The query parameter `token`.
    fn default() -> Self {
        TokenSource::param("token")
    }
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Param(name) => write!(f, "parameter `{name}`"),
            TokenSource::PathSegment(index) => write!(f, "path segment {index}"),
        }
    }
}

/// The checks a postback must pass before the tracker believes it; see the [module docs](self).
///
/// Build it once at start-up with the `with_*` methods and share it (`&Guard` is all
/// [`check`](Guard::check) needs; the type is `Send + Sync`).
///
/// `Debug` output shows how many tokens are configured, never the tokens.
#[derive(Clone, Default)]
pub struct Guard {
    tokens: Vec<Box<[u8]>>,
    /// Where the token is read: the explicit source, else the profile's first token parameter,
    /// else `token`. Kept resolved so a request pays nothing for the rule.
    token_source: TokenSource,
    /// The source set with [`Guard::with_token_source`], if any.
    explicit_source: Option<TokenSource>,
    /// The profile given to [`Guard::with_profile`]: its name and token parameters.
    profile: Option<(Box<str>, ParamNames)>,
    /// Set when the explicit source names a parameter the profile does not: every check fails.
    conflict: Option<GuardError>,
    allowed: Vec<Cidr>,
    trusted_proxies: Vec<Cidr>,
    forwarded_header: ForwardedHeader,
    #[cfg(feature = "signature")]
    signature: Option<Signature>,
}

/// A profile's token parameter names.
type ParamNames = Box<[Box<str>]>;

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Guard");
        s.field("tokens", &format_args!("<{} redacted>", self.tokens.len()))
            .field("token_source", &self.token_source)
            .field("profile", &self.profile.as_ref().map(|(name, _)| name))
            .field("explicit_source", &self.explicit_source)
            .field("conflict", &self.conflict)
            .field("allowed", &self.allowed)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("forwarded_header", &self.forwarded_header);
        #[cfg(feature = "signature")]
        s.field("signature", &self.signature);
        s.finish()
    }
}

impl Guard {
    /// A guard that lets everything through, to be configured with the `with_*` methods.
    #[must_use]
    pub fn new() -> Self {
        Guard::default()
    }

    /// Accepts this shared-secret token. Call it again to accept several at once while you
    /// rotate: add the new token, switch the network over, then drop the old one.
    ///
    /// Once any token is configured, a request without a matching one is refused. An empty
    /// token matches nothing: a request with an empty token counts as having none.
    ///
    /// Comparison takes time that depends on the lengths of the two tokens but not on their
    /// contents, so a timing attacker can learn a token's length at most; use long random
    /// tokens.
    #[must_use]
    pub fn with_token(mut self, token: impl AsRef<[u8]>) -> Self {
        self.tokens.push(token.as_ref().into());
        self
    }

    /// Sets where the token is read from. Unset, the guard reads the first token parameter of
    /// the profile given to [`with_profile`](Guard::with_profile) (which a
    /// [`Tracker`](crate::Tracker) does with its own profile), or the query parameter `token`.
    ///
    /// A parameter here must be one of that profile's token parameters when the profile names
    /// any: otherwise the guard and the profile would disagree about where the secret is, and
    /// every check fails with [`GuardError::TokenParamConflict`]. A path segment never
    /// conflicts (a profile names parameters only).
    ///
    /// ```
    /// use postback::guard::{Guard, TokenSource};
    /// use postback::Request;
    /// use time::OffsetDateTime;
    ///
    /// // Keitaro-style: https://track.example/<key>/postback?subid=…
    /// let guard = Guard::new()
    ///     .with_token("8f1c0f7e2b")
    ///     .with_token_source(TokenSource::PathSegment(0));
    /// let now = OffsetDateTime::UNIX_EPOCH;
    /// assert!(guard.check(&Request::get("/8f1c0f7e2b/postback?subid=abc"), now).is_ok());
    /// assert!(guard.check(&Request::get("/postback?subid=abc"), now).is_err());
    /// ```
    #[must_use]
    pub fn with_token_source(mut self, source: TokenSource) -> Self {
        self.explicit_source = Some(source);
        self.resolve();
        self
    }

    /// Takes the token parameter from `profile`, so that the parameter is named in one place:
    /// the guard reads the token from the profile's first token parameter
    /// ([`Profile::token_params`]) unless [`with_token_source`](Guard::with_token_source) says
    /// otherwise, and an explicit parameter the profile does not name is refused (see there).
    /// A profile without token parameters changes nothing.
    ///
    /// [`Tracker::new`](crate::Tracker::new) and [`Tracker::with_guard`](crate::Tracker::with_guard)
    /// call this with the tracker's profile. A profile's token parameter checks nothing by
    /// itself: only a guard with [`with_token`](Guard::with_token) refuses postbacks.
    ///
    /// ```
    /// use postback::guard::{Guard, TokenSource};
    /// use postback::profile::Profile;
    /// use postback::Request;
    /// use time::OffsetDateTime;
    ///
    /// let affise = Profile::builtin("affise").unwrap(); // its token parameter is `secure`
    /// let guard = Guard::new().with_token("s3cret").with_profile(affise);
    /// assert_eq!(guard.token_source(), &TokenSource::param("secure"));
    /// let now = OffsetDateTime::UNIX_EPOCH;
    /// assert!(guard.check(&Request::get("/pb?clickid=abc&secure=s3cret"), now).is_ok());
    ///
    /// // Reading it from another parameter would disagree with the profile: refused, loudly.
    /// let confused = guard.with_token_source(TokenSource::param("token"));
    /// let err = confused.check(&Request::get("/pb?clickid=abc&token=s3cret"), now).unwrap_err();
    /// assert_eq!(err.code(), "token_param_conflict");
    /// ```
    #[must_use]
    pub fn with_profile(mut self, profile: &Profile) -> Self {
        self.profile = Some((profile.name().into(), profile.token_params().into()));
        self.resolve();
        self
    }

    /// Where the token is read from, after the rules of
    /// [`with_token_source`](Guard::with_token_source) and [`with_profile`](Guard::with_profile).
    #[must_use]
    pub fn token_source(&self) -> &TokenSource {
        &self.token_source
    }

    /// The [`GuardError::TokenParamConflict`] every check fails with, when the guard checks
    /// tokens and reads them from a parameter its profile does not name; a
    /// [`Tracker`](crate::Tracker) refuses such a guard when it is given one.
    pub(crate) fn token_param_conflict(&self) -> Option<&GuardError> {
        self.conflict.as_ref().filter(|_| !self.tokens.is_empty())
    }

    /// Recomputes the token source and the conflict from the explicit source and the profile.
    fn resolve(&mut self) {
        let profile_params = self.profile.as_ref().map_or(&[][..], |(_, params)| params);
        self.conflict = None;
        self.token_source = match (&self.explicit_source, profile_params.first()) {
            (Some(explicit), _) => explicit.clone(),
            (None, Some(first)) => TokenSource::Param(first.clone()),
            (None, None) => TokenSource::default(),
        };
        if let (TokenSource::Param(name), Some((profile, params))) =
            (&self.token_source, &self.profile)
            && !params.is_empty()
            && !params.contains(name)
        {
            self.conflict = Some(GuardError::TokenParamConflict {
                param: name.clone(),
                profile: profile.clone(),
                profile_params: params.join(",").into(),
            });
        }
    }

    /// Accepts requests from this network. Once any network is allowed, a client outside all
    /// of them is refused, and so is a request without a peer address.
    #[must_use]
    pub fn with_allowed_net(mut self, net: Cidr) -> Self {
        self.allowed.push(net);
        self
    }

    /// Accepts requests from each of these networks; see [`with_allowed_net`](Guard::with_allowed_net).
    #[must_use]
    pub fn with_allowed_nets(mut self, nets: impl IntoIterator<Item = Cidr>) -> Self {
        self.allowed.extend(nets);
        self
    }

    /// Believes the forwarded header from peers in this network (your load balancer, reverse
    /// proxy or CDN), and skips its addresses when reading the header from the right.
    #[must_use]
    pub fn with_trusted_proxy(mut self, net: Cidr) -> Self {
        self.trusted_proxies.push(net);
        self
    }

    /// Trusts each of these networks; see [`with_trusted_proxy`](Guard::with_trusted_proxy).
    #[must_use]
    pub fn with_trusted_proxies(mut self, nets: impl IntoIterator<Item = Cidr>) -> Self {
        self.trusted_proxies.extend(nets);
        self
    }

    /// Sets the header your trusted proxies write the client address into; the default is
    /// `X-Forwarded-For`. The other header is ignored, since a client can send it unchanged
    /// through your proxy.
    #[must_use]
    pub fn with_forwarded_header(mut self, header: ForwardedHeader) -> Self {
        self.forwarded_header = header;
        self
    }

    /// Requires a valid HMAC-SHA256 signature with a fresh timestamp; see [`Signature`].
    #[cfg(feature = "signature")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signature")))]
    #[must_use]
    pub fn with_signature(mut self, signature: Signature) -> Self {
        self.signature = Some(signature);
        self
    }

    /// Runs every configured check on `request`, in the order source address, token,
    /// signature, and returns the first failure. A guard with tokens whose token parameter
    /// conflicts with its profile's refuses every request first
    /// ([`GuardError::TokenParamConflict`]). `now` is only read by the signature's
    /// timestamp window.
    ///
    /// A request that passes comes back as [`Verified`]: what the guard vouches for, such as
    /// the signed timestamp that the tracker orders a conversion's postbacks by.
    ///
    /// # Errors
    ///
    /// A [`GuardError`] saying which check failed and what to look at, for example:
    /// - a token is configured and `/pb?subid=abc` has none: [`GuardError::MissingToken`];
    /// - `/pb?token=guess`: [`GuardError::BadToken`]; `/pb?token=a&token=b`:
    ///   [`GuardError::AmbiguousToken`];
    /// - the client address is outside the allow-list: [`GuardError::IpNotAllowed`]; there is no
    ///   peer address: [`GuardError::NoClientIp`]; a trusted proxy passed on a hop such as
    ///   `for=unknown`: [`GuardError::BadForwardedHop`];
    /// - signature problems: [`GuardError::MissingSignature`], [`GuardError::MalformedSignature`],
    ///   [`GuardError::BadSignature`], [`GuardError::SplitParams`], [`GuardError::MissingTimestamp`],
    ///   [`GuardError::BadTimestamp`], [`GuardError::Expired`], [`GuardError::FromFuture`].
    pub fn check(
        &self,
        request: &Request<'_>,
        now: OffsetDateTime,
    ) -> Result<Verified, GuardError> {
        if let Some(conflict) = self.token_param_conflict() {
            return Err(conflict.clone());
        }
        if !self.allowed.is_empty() {
            let ip = self.client_ip(request)?;
            if !self.allowed.iter().any(|net| net.contains(ip)) {
                return Err(GuardError::IpNotAllowed { ip });
            }
        }
        if !self.tokens.is_empty() {
            self.check_token(request)?;
        }
        #[cfg(feature = "signature")]
        let signed_at = match &self.signature {
            Some(signature) => Some(signature.verify(request, now)?),
            None => None,
        };
        #[cfg(not(feature = "signature"))]
        let signed_at = {
            let _ = now;
            None
        };
        Ok(Verified { signed_at })
    }

    /// The address the request came from: the socket peer, or, when the peer is a trusted
    /// proxy, the rightmost address in the forwarded header that is not a trusted proxy
    /// (the leftmost one if all are). IPv4-mapped IPv6 addresses come back as IPv4.
    ///
    /// Useful for logs even when no allow-list is configured.
    ///
    /// The header is read from the lines given to [`Request::with_headers`], in order: give it
    /// every line your server received, including any that are not visible ASCII (convert
    /// them lossily). A line left out lets an earlier one, maybe the client's own, decide.
    ///
    /// ```
    /// use postback::guard::Guard;
    /// use postback::Request;
    /// use std::net::IpAddr;
    ///
    /// let guard = Guard::new().with_trusted_proxy("10.0.0.0/8".parse()?);
    /// let headers = [("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.7")];
    /// let via_proxy = Request::get("/pb").with_peer("10.0.0.2".parse::<IpAddr>()?).with_headers(&headers);
    /// assert_eq!(guard.client_ip(&via_proxy)?, "203.0.113.9".parse::<IpAddr>()?);
    ///
    /// let direct = via_proxy.clone().with_peer("198.51.100.66".parse::<IpAddr>()?);
    /// assert_eq!(guard.client_ip(&direct)?, "198.51.100.66".parse::<IpAddr>()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`GuardError::NoClientIp`] without a peer address; [`GuardError::BadForwardedHop`] when
    /// the hop to believe is not an address (`X-Forwarded-For: unknown`, `Forwarded:
    /// for=_hidden`, a `Forwarded` element without `for=` or with it twice, or a `Forwarded`
    /// line that ends inside a quoted string; see [`ForwardedHeader::Forwarded`]).
    pub fn client_ip(&self, request: &Request<'_>) -> Result<IpAddr, GuardError> {
        let peer = request.peer().ok_or(GuardError::NoClientIp)?.to_canonical();
        if !self.is_trusted(peer) {
            return Ok(peer);
        }
        let header = self.forwarded_header;
        // One pass left to right: the answer is the rightmost hop that is not a trusted proxy,
        // which is the last such hop seen. No allocation; cost linear in the header's length.
        // A hop is `None` when it is not an address; an unreadable hop is never skipped.
        let mut first: Option<IpAddr> = None;
        let mut untrusted: Option<Option<IpAddr>> = None;
        let mut visit = |hop: Option<IpAddr>| {
            let hop = hop.map(|ip| ip.to_canonical());
            first = first.or(hop);
            match hop {
                Some(ip) if self.is_trusted(ip) => {}
                other => untrusted = Some(other),
            }
        };
        let present = |element: &&str| !element.trim_matches([' ', '\t']).is_empty();
        for value in request.header_values(header.as_str()) {
            match header {
                // Quotes mean nothing in X-Forwarded-For: a client's stray `"` must not glue
                // the hops its proxies append into one element.
                ForwardedHeader::XForwardedFor => {
                    for element in value.split(',').filter(present) {
                        visit(forwarded::parse_node(element));
                    }
                }
                // Quoted strings may hold commas in Forwarded, so a line splits at the commas
                // outside them. A line that ends inside a quote was split wrongly: a quote the
                // client left open swallowed what a proxy appended to the line. Re-splitting
                // at every comma would guess that the proxy's own text holds no quoted comma
                // (some proxies quote client text, such as `host=`, into their element), so
                // the line counts as one unreadable hop at its end instead: nothing in it is
                // believed. Lines after it are separate and read as usual. See
                // `ForwardedHeader::Forwarded`.
                ForwardedHeader::Forwarded => {
                    let mut elements = SplitUnquoted::new(value, b',');
                    for element in elements.by_ref().filter(present) {
                        visit(forwarded::forwarded_for(element));
                    }
                    if elements.ended_open() {
                        visit(None);
                    }
                }
            }
        }
        match untrusted {
            Some(Some(ip)) => Ok(ip),
            Some(None) => Err(GuardError::BadForwardedHop {
                header,
                proxy: peer,
            }),
            None => Ok(first.unwrap_or(peer)),
        }
    }

    /// The request target with the token's value replaced by `***`, for logs and "received
    /// postbacks" screens: keeping the raw URL would keep the secret. Borrows when there is
    /// nothing to hide (no token configured, or none in the target).
    ///
    /// ```
    /// use postback::guard::{Guard, TokenSource};
    ///
    /// let guard = Guard::new().with_token("s3cret").with_token_source(TokenSource::param("secure"));
    /// assert_eq!(guard.redact("/pb?subid=abc&secure=s3cret&x=1"), "/pb?subid=abc&secure=***&x=1");
    ///
    /// let keitaro = Guard::new().with_token("s3cret").with_token_source(TokenSource::PathSegment(0));
    /// assert_eq!(keitaro.redact("https://t.example/s3cret/postback?subid=abc"),
    ///            "https://t.example/***/postback?subid=abc");
    /// ```
    #[must_use]
    pub fn redact<'t>(&self, target: &'t str) -> Cow<'t, str> {
        if self.tokens.is_empty() && self.profile_token_params().is_empty() {
            return Cow::Borrowed(target);
        }
        let bytes = target.as_bytes();
        let mut hide = Vec::new();
        if let Ok(located) = query::locate(bytes) {
            if let (false, TokenSource::PathSegment(index)) =
                (self.tokens.is_empty(), &self.token_source)
            {
                hide.extend(segment_range(bytes, located.path.clone(), *index));
            }
            // The fragment too: a token sent there is refused, but must not reach the log.
            for range in [located.query, located.fragment].into_iter().flatten() {
                self.secret_values(bytes, range, &mut hide);
            }
        }
        if hide.is_empty() {
            return Cow::Borrowed(target);
        }
        // Every hidden range starts after `=` or `/` and ends before `&`, `#`, `/`, `?` or the
        // end, so cutting there keeps UTF-8 intact; the lossy path only guards that reasoning.
        match String::from_utf8(mask(bytes, &hide)) {
            Ok(text) => Cow::Owned(text),
            Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
        }
    }

    /// A form body with the token parameters' values replaced by `***`; see
    /// [`redact`](Guard::redact). A path-segment token is never in the body.
    #[must_use]
    pub fn redact_body<'b>(&self, body: &'b [u8]) -> Cow<'b, [u8]> {
        if self.tokens.is_empty() && self.profile_token_params().is_empty() {
            return Cow::Borrowed(body);
        }
        let mut hide = Vec::new();
        self.secret_values(body, 0..body.len(), &mut hide);
        if hide.is_empty() {
            Cow::Borrowed(body)
        } else {
            Cow::Owned(mask(body, &hide))
        }
    }

    /// The ranges of the non-empty values in `text[range]` whose names, as sent or decoded,
    /// are a secret's name in any ASCII case (`token`, `Token`, `%74oken`): redaction hides
    /// more than the checks read, never less. In order, never overlapping.
    fn secret_values(&self, text: &[u8], range: Range<usize>, out: &mut Vec<Range<usize>>) {
        let is_secret = |name: &[u8]| {
            self.param_names_to_hide()
                .any(|secret| name.eq_ignore_ascii_case(secret.as_bytes()))
        };
        for pair in query::pairs(text, range) {
            if !pair.value.is_empty()
                && (is_secret(pair.name) || pair.decoded_name().is_some_and(|n| is_secret(&n)))
            {
                out.push(pair.value_at..pair.value_at + pair.value.len());
            }
        }
    }

    fn profile_token_params(&self) -> &[Box<str>] {
        self.profile.as_ref().map_or(&[][..], |(_, params)| params)
    }

    /// The parameter names whose values [`redact`](Guard::redact) hides: the guard's token
    /// parameter (when it checks a token) and every token parameter of its profile, which may
    /// carry a secret even when the guard reads elsewhere or checks none.
    fn param_names_to_hide(&self) -> impl Iterator<Item = &str> {
        let own = match (&self.token_source, self.tokens.is_empty()) {
            (TokenSource::Param(name), false) => Some(&**name),
            _ => None,
        };
        let profile = self.profile_token_params().iter().map(|name| &**name);
        own.into_iter()
            .chain(profile.filter(move |name| Some(*name) != own))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    fn check_token(&self, request: &Request<'_>) -> Result<(), GuardError> {
        let raw: Option<&[u8]> = match &self.token_source {
            TokenSource::Param(name) => {
                let target = request.target().as_bytes();
                let located = request.located().unwrap_or_default();
                let mut found = None;
                for pair in query::request_pairs(target, &located, request.body()) {
                    if !pair.name_is(name.as_bytes()) {
                        continue;
                    }
                    if found.is_some() {
                        return Err(GuardError::AmbiguousToken {
                            location: self.token_source.clone(),
                        });
                    }
                    found = Some(pair.value);
                }
                found
            }
            TokenSource::PathSegment(index) => request
                .path()
                .split('/')
                .skip(1)
                .nth(*index)
                .map(str::as_bytes),
        };
        let plus = match self.token_source {
            TokenSource::Param(_) => Plus::Space,
            TokenSource::PathSegment(_) => Plus::Literal,
        };
        let presented = query::decode(raw.unwrap_or_default(), plus);
        if presented.is_empty() {
            return Err(GuardError::MissingToken {
                location: self.token_source.clone(),
            });
        }
        if matches_any(&presented, &self.tokens) {
            Ok(())
        } else {
            Err(GuardError::BadToken {
                location: self.token_source.clone(),
            })
        }
    }
}

const MASK: &[u8] = b"***";

/// The range of the path segment that [`Guard::check`] reads as the token, if not empty.
fn segment_range(bytes: &[u8], path: Range<usize>, index: usize) -> Option<Range<usize>> {
    let mut offset = path.start;
    for (k, segment) in bytes.get(path)?.split(|&b| b == b'/').enumerate() {
        if k == index + 1 {
            return (!segment.is_empty()).then(|| offset..offset + segment.len());
        }
        offset += segment.len() + 1;
    }
    None
}

/// `bytes` with each of the sorted, disjoint `ranges` replaced by [`MASK`].
fn mask(bytes: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut kept = 0;
    for range in ranges {
        out.extend_from_slice(bytes.get(kept..range.start).unwrap_or_default());
        out.extend_from_slice(MASK);
        kept = range.end;
    }
    out.extend_from_slice(bytes.get(kept..).unwrap_or_default());
    out
}

/// Whether `presented` equals any of `tokens`, in time that depends on the lengths only.
///
/// Each compare is `subtle`'s `ConstantTimeEq` on byte slices: it returns at once when the
/// lengths differ and otherwise visits every byte pair without branching on their values,
/// each result passed through `subtle`'s optimisation barrier (a volatile read; best effort, as
/// any such barrier is) into a `Choice`. The results are OR-ed as `Choice`s and turned into a
/// `bool` once, after the last token: no early exit across tokens either, so timing does not
/// tell which one matched.
fn matches_any(presented: &[u8], tokens: &[Box<[u8]>]) -> bool {
    let mut matched = Choice::from(0);
    for token in tokens {
        matched |= presented.ct_eq(token);
    }
    bool::from(matched)
}

/// What [`Guard::check`] vouches for about a request it let through.
///
/// A guard that checks a signature (feature `signature`) returns the request's signed
/// timestamp: the sender's own clock, covered by the signature and inside the window. The
/// [`Tracker`](crate::Tracker) hands it to [`decide`](crate::tracker::decide), so a signed
/// postback older than one already applied to its conversion is
/// [`Outcome::Stale`](crate::Outcome::Stale) and changes nothing.
///
/// ```
/// use postback::guard::Guard;
/// use postback::Request;
///
/// // Nothing configured: everything passes, and nothing about the request is vouched for.
/// let verified = Guard::new().check(&Request::get("/pb?subid=abc"), time::OffsetDateTime::UNIX_EPOCH)?;
/// assert_eq!(verified.signed_at(), None);
/// # Ok::<(), postback::guard::GuardError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verified {
    signed_at: Option<i64>,
}

impl Verified {
    /// The signed timestamp, in Unix seconds, when the guard checks a signature; `None` when
    /// it checks none (tokens and addresses carry no time).
    ///
    /// It is the sender's clock, not the tracker's: order postbacks of one sender by it, and
    /// compare it with the tracker's `now` only through the signature's window.
    #[must_use]
    pub const fn signed_at(&self) -> Option<i64> {
        self.signed_at
    }
}

/// Why [`Guard::check`] refused a request. Messages say what to check and never contain a
/// token, a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// A token is configured and the request has none (or an empty one).
    #[error("missing token: expected it in {location} of the postback url")]
    #[non_exhaustive]
    MissingToken {
        /// Where the token was looked for.
        location: TokenSource,
    },
    /// The request's token matches none of the configured tokens.
    #[error("token in {location} does not match: check the postback url saved at the network")]
    #[non_exhaustive]
    BadToken {
        /// Where the token was read.
        location: TokenSource,
    },
    /// The token parameter appears more than once, so it is unclear which one the sender meant.
    #[error("{location} appears more than once: send the token once")]
    #[non_exhaustive]
    AmbiguousToken {
        /// The repeated parameter.
        location: TokenSource,
    },
    /// The guard checks tokens and reads them from a parameter its profile does not name as a
    /// token parameter, so the two disagree about where the secret is: a configuration error,
    /// refused on every request until fixed (see [`Guard::with_token_source`]). A
    /// [`Tracker`](crate::Tracker) is never built with such a guard
    /// ([`Tracker::with_guard`](crate::Tracker::with_guard) fails instead).
    #[error(
        "the guard reads the token from parameter `{param}`, but profile `{profile}` sends it in \
         `{profile_params}`: leave the guard's token source unset or name the profile's parameter"
    )]
    #[non_exhaustive]
    TokenParamConflict {
        /// The parameter the guard was told to read.
        param: Box<str>,
        /// The profile's name.
        profile: Box<str>,
        /// The profile's token parameters, comma-separated.
        profile_params: Box<str>,
    },
    /// The client address lies outside every allowed network.
    #[error(
        "client ip {ip} is not in the allow-list: add the network's sender addresses, \
         or the proxy in front of you as a trusted proxy"
    )]
    #[non_exhaustive]
    IpNotAllowed {
        /// The client address that was refused.
        ip: IpAddr,
    },
    /// An allow-list is configured and the request has no peer address.
    #[error("client ip unknown: the request has no peer address to check against the allow-list")]
    NoClientIp,
    /// A trusted proxy forwarded a hop that is not an IP address (`unknown`, an obfuscated id,
    /// a `Forwarded` element without `for=` or with it twice, a `Forwarded` line that ends
    /// inside a quoted string), so the client address is unknown.
    #[error(
        "`{header}` from trusted proxy {proxy} names a client that is not an ip address: \
         check that the proxy writes this header"
    )]
    #[non_exhaustive]
    BadForwardedHop {
        /// The header that was read.
        header: ForwardedHeader,
        /// The peer address of the trusted proxy that sent it.
        proxy: IpAddr,
    },
    /// A signature is required and the request has none.
    #[error("missing signature: expected parameter `{param}`")]
    #[non_exhaustive]
    MissingSignature {
        /// The signature parameter's name.
        param: Box<str>,
    },
    /// The signature is not 64 hex digits, or appears more than once.
    #[error("signature in parameter `{param}` is not one value of 64 hex digits")]
    #[non_exhaustive]
    MalformedSignature {
        /// The signature parameter's name.
        param: Box<str>,
    },
    /// The signature does not match the parameters: forged, tampered with, or signed with another
    /// key or canonical form.
    #[error(
        "signature in parameter `{param}` does not match: check the shared key and that the \
         sender signs the sorted, form-encoded parameters without `{param}`"
    )]
    #[non_exhaustive]
    BadSignature {
        /// The signature parameter's name.
        param: Box<str>,
    },
    /// A signed postback with a form body also has parameters in its query, other than the
    /// signature and the timestamp: the signature covers them, but the postback is read from
    /// the body alone, so a signed value could be moved out of sight.
    #[error(
        "signed postback has parameters in both the query and the form body: send them all in \
         the body (only `{param}` and the timestamp may be in the query)"
    )]
    #[non_exhaustive]
    SplitParams {
        /// The signature parameter's name.
        param: Box<str>,
    },
    /// A signature is required and the request has no timestamp.
    #[error("missing timestamp: expected unix seconds in parameter `{param}`")]
    #[non_exhaustive]
    MissingTimestamp {
        /// The timestamp parameter's name.
        param: Box<str>,
    },
    /// The timestamp is not a whole number of Unix seconds, or appears more than once.
    #[error("timestamp in parameter `{param}` is not one value of unix seconds")]
    #[non_exhaustive]
    BadTimestamp {
        /// The timestamp parameter's name.
        param: Box<str>,
    },
    /// The signed timestamp is older than the window: a replay, or a sender that retried too long.
    #[error("signed timestamp is {age_secs} s old, outside the {window_secs} s window")]
    #[non_exhaustive]
    Expired {
        /// How old the timestamp is, in seconds.
        age_secs: u64,
        /// The configured window, in seconds.
        window_secs: u64,
    },
    /// The signed timestamp is further in the future than the window: a wrong clock.
    #[error(
        "signed timestamp is {ahead_secs} s in the future, outside the {window_secs} s window: \
         check the sender's clock"
    )]
    #[non_exhaustive]
    FromFuture {
        /// How far ahead of `now` the timestamp is, in seconds.
        ahead_secs: u64,
        /// The configured window, in seconds.
        window_secs: u64,
    },
}

impl GuardError {
    /// A stable code for logs and metrics, e.g. `bad_token` or `ip_not_allowed`.
    ///
    /// ```
    /// use postback::guard::Guard;
    /// use postback::Request;
    ///
    /// let guard = Guard::new().with_token("s3cret");
    /// let err = guard.check(&Request::get("/pb?subid=abc"), time::OffsetDateTime::UNIX_EPOCH).unwrap_err();
    /// assert_eq!((err.code(), err.http_status()), ("missing_token", 401));
    /// assert_eq!(err.to_string(), "missing token: expected it in parameter `token` of the postback url");
    /// ```
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            GuardError::MissingToken { .. } => "missing_token",
            GuardError::BadToken { .. } => "bad_token",
            GuardError::AmbiguousToken { .. } => "ambiguous_token",
            GuardError::TokenParamConflict { .. } => "token_param_conflict",
            GuardError::IpNotAllowed { .. } => "ip_not_allowed",
            GuardError::NoClientIp => "no_client_ip",
            GuardError::BadForwardedHop { .. } => "bad_forwarded_hop",
            GuardError::MissingSignature { .. } => "missing_signature",
            GuardError::MalformedSignature { .. } => "malformed_signature",
            GuardError::BadSignature { .. } => "bad_signature",
            GuardError::SplitParams { .. } => "split_params",
            GuardError::MissingTimestamp { .. } => "missing_timestamp",
            GuardError::BadTimestamp { .. } => "bad_timestamp",
            GuardError::Expired { .. } => "expired",
            GuardError::FromFuture { .. } => "from_future",
        }
    }

    /// The HTTP status to answer with: 401 when the credentials (token, signature, timestamp)
    /// are missing or wrong, 403 when the source address is not allowed or unknown, 500 for
    /// [`GuardError::TokenParamConflict`]: the receiver is misconfigured, and a sender that
    /// retries server errors delivers the postback once that is fixed.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            GuardError::TokenParamConflict { .. } => 500,
            GuardError::IpNotAllowed { .. }
            | GuardError::NoClientIp
            | GuardError::BadForwardedHop { .. } => 403,
            _ => 401,
        }
    }
}

#[cfg(test)]
mod tests;
