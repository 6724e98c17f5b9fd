//! HMAC-SHA256 signatures over a postback's parameters, with a timestamp window against replay.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use super::GuardError;
use crate::Request;
use crate::query::{self, Plus};

/// One decoded `name=value` pair.
type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// The non-empty pairs (`a=1&&b=2` has two) of these `(text, pair)`s, decoded once as form
/// data.
fn decoded<'a>(pairs: impl Iterator<Item = query::Pair<'a>>) -> impl Iterator<Item = Pair<'a>> {
    pairs
        .filter(|pair| pair.value_at > pair.name_at || !pair.name.is_empty())
        .map(|pair| {
            (
                query::decode(pair.name, Plus::Space),
                query::decode(pair.value, Plus::Space),
            )
        })
}

/// The pairs of form-encoded `params` (a query without `?`), decoded.
fn decoded_params(params: &str) -> impl Iterator<Item = Pair<'_>> {
    decoded(query::pairs(params.as_bytes(), 0..params.len()))
}

/// How a sender signs its postbacks, and how long a signed postback stays valid.
///
/// # The canonical form
///
/// The signature is the lower-case hex HMAC-SHA256, keyed with the shared secret, of the
/// request's *canonical parameters*:
///
/// 1. take every `name=value` pair of the query and of the form body (a pair without `=` has an
///    empty value; empty pairs such as the one in `a=1&&b=2` are skipped);
/// 2. decode each name and value once, as `application/x-www-form-urlencoded` (`+` is a space,
///    `%XX` a byte);
/// 3. leave out the signature parameter itself; the timestamp parameter stays in, so it is signed;
/// 4. sort the pairs by name, then by value, comparing bytes;
/// 5. encode each name and value again as `application/x-www-form-urlencoded` (letters, digits
///    and `*-._` kept, space as `+`, every other byte as upper-case `%XX`), and join them as
///    `name=value` pairs with `&`.
///
/// So `?ts=1700000000&b=x y&a=1&sig=…` is signed as `a=1&b=x+y&ts=1700000000`, however the
/// sender ordered or encoded it. The path and the host are not signed: give each endpoint its
/// own key if that matters to you. A Python sender gets the same bytes from
/// `urlencode(sorted(pairs), safe="*").replace("~", "%7E")` (Python keeps `~`, form encoding
/// does not); the crate's tests check Python-made signatures.
///
/// # Replay
///
/// A postback with a form body is read from the body alone, so its parameters must all be in
/// the body: its query may hold only the signature and the timestamp
/// ([`GuardError::SplitParams`] otherwise).
///
/// The timestamp parameter holds Unix seconds. A postback whose timestamp is further than the
/// window from `now` — in the past (a replay, or a sender that retried for too long) or in the
/// future (a wrong clock) — is refused. Within the window a replayed postback passes the guard,
/// and [`Guard::check`](super::Guard::check) returns its timestamp
/// ([`Verified::signed_at`](super::Verified::signed_at)). The tracker keeps the newest signed
/// timestamp applied to each conversion: a replay of the newest postback is a `duplicate`, and a
/// replay (or a late retry) of an older one is `stale`; neither changes anything.
///
/// ```
/// use postback::guard::{Guard, Signature};
/// use postback::Request;
/// use std::time::Duration;
/// use time::OffsetDateTime;
///
/// let signature = Signature::new("shared-secret").with_window(Duration::from_secs(300));
/// let sig = signature.sign("subid=abc&status=approved&ts=1700000000");
/// let target = format!("/pb?subid=abc&status=approved&ts=1700000000&sig={sig}");
///
/// let guard = Guard::new().with_signature(signature);
/// let now = OffsetDateTime::from_unix_timestamp(1_700_000_060)?;
/// assert_eq!(guard.check(&Request::get(&target), now)?.signed_at(), Some(1_700_000_000));
///
/// let tampered = target.replace("approved", "rejected");
/// let err = guard.check(&Request::get(&tampered), now).unwrap_err();
/// assert_eq!(err.code(), "bad_signature");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Signature {
    /// The keyed HMAC state, cloned per request so the key is hashed once. `None` for an empty
    /// key, or if the `hmac` crate refused the key (it documents it never does); every check
    /// then fails.
    keyed: Option<Hmac<Sha256>>,
    param: Box<str>,
    timestamp_param: Box<str>,
    window: Duration,
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret: Debug output ends up in logs.
        f.debug_struct("Signature")
            .field("keyed", &"<redacted>")
            .field("param", &self.param)
            .field("timestamp_param", &self.timestamp_param)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Signature {
    /// A check keyed with the shared secret: signature in `sig`, timestamp in `ts`, a window of
    /// five minutes either side of `now`.
    ///
    /// An empty key verifies nothing: every check fails with [`GuardError::BadSignature`] and
    /// [`sign`](Signature::sign) returns an empty string, as an empty token matches nothing.
    /// Use at least 32 random bytes: anyone holding one signed postback can test guesses of a
    /// short key offline.
    #[must_use]
    pub fn new(key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref();
        Signature {
            // An empty key (a secret read from an unset variable) would let anyone sign.
            keyed: (!key.is_empty())
                .then(|| <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok())
                .flatten(),
            param: "sig".into(),
            timestamp_param: "ts".into(),
            window: Duration::from_secs(300),
        }
    }

    /// Sets the name of the parameter that carries the signature.
    #[must_use]
    pub fn with_param(mut self, name: impl Into<Box<str>>) -> Self {
        self.param = name.into();
        self
    }

    /// Sets the name of the parameter that carries the Unix timestamp.
    #[must_use]
    pub fn with_timestamp_param(mut self, name: impl Into<Box<str>>) -> Self {
        self.timestamp_param = name.into();
        self
    }

    /// Sets how far a timestamp may lie from `now`, either way.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The signature a sender puts in the signature parameter for these form-encoded
    /// parameters (a query without `?`). A signature parameter already in `params` is ignored,
    /// so re-signing a signed query gives the same value.
    #[must_use]
    pub fn sign(&self, params: &str) -> String {
        let mut pairs = decoded_params(params).collect::<Vec<_>>();
        pairs.retain(|(name, _)| name.as_ref() != self.param.as_bytes());
        sort(&mut pairs);
        let mut hex = String::with_capacity(64);
        let Some(mac) = self.mac(&pairs) else {
            return hex;
        };
        let tag = mac.finalize().into_bytes();
        for byte in tag {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        hex
    }

    /// The canonical form of these form-encoded parameters: the bytes that are signed.
    /// Show it next to the sender's own to find why signatures differ.
    ///
    /// ```
    /// let signature = postback::guard::Signature::new("k");
    /// assert_eq!(signature.canonical("ts=1&b=x%20y&a=1&sig=00"), "a=1&b=x+y&ts=1");
    /// ```
    #[must_use]
    pub fn canonical(&self, params: &str) -> String {
        let mut pairs = decoded_params(params).collect::<Vec<_>>();
        pairs.retain(|(name, _)| name.as_ref() != self.param.as_bytes());
        sort(&mut pairs);
        let mut out = String::new();
        write_canonical(&pairs, |chunk| out.push_str(chunk));
        out
    }

    fn mac(&self, pairs: &[Pair<'_>]) -> Option<Hmac<Sha256>> {
        let mut mac = self.keyed.clone()?;
        write_canonical(pairs, |chunk| mac.update(chunk.as_bytes()));
        Some(mac)
    }

    /// Checks the request's signature and timestamp, and returns the timestamp (Unix seconds).
    pub(super) fn verify(
        &self,
        request: &Request<'_>,
        now: OffsetDateTime,
    ) -> Result<i64, GuardError> {
        // The signature covers the query and the body together, but a postback with a body is
        // read from its body alone. Signed pairs moved from the body into the query would stay
        // signed yet unread: a captured `status=lead` could be dropped so that a profile's
        // default state (Keitaro: a sale) applies. With a body, the query may carry only the
        // signature and the timestamp.
        let target = request.target().as_bytes();
        let located = request.located().unwrap_or_default();
        if request.body().is_some_and(|body| !body.is_empty()) {
            let in_query = query::pairs(target, located.query.clone().unwrap_or(0..0));
            let stray = decoded(in_query).any(|(name, _)| {
                name.as_ref() != self.param.as_bytes()
                    && name.as_ref() != self.timestamp_param.as_bytes()
            });
            if stray {
                return Err(GuardError::SplitParams {
                    param: self.param.clone(),
                });
            }
        }
        let params = decoded(query::request_pairs(target, &located, request.body()));
        let mut pairs = Vec::new();
        let mut presented: Option<Cow<'_, [u8]>> = None;
        let mut signatures = 0usize;
        let mut timestamp: Option<Cow<'_, [u8]>> = None;
        let mut timestamps = 0usize;
        for (name, value) in params {
            if name.as_ref() == self.param.as_bytes() {
                signatures += 1;
                presented = Some(value);
                continue;
            }
            if name.as_ref() == self.timestamp_param.as_bytes() {
                timestamps += 1;
                timestamp = Some(value.clone());
            }
            pairs.push((name, value));
        }
        let presented = match presented {
            Some(sig) if signatures == 1 && !sig.is_empty() => sig,
            Some(_) if signatures > 1 => return Err(self.malformed()),
            _ => {
                return Err(GuardError::MissingSignature {
                    param: self.param.clone(),
                });
            }
        };
        let tag = parse_hex_tag(&presented).ok_or_else(|| self.malformed())?;
        sort(&mut pairs);
        let valid = self
            .mac(&pairs)
            .is_some_and(|mac| mac.verify_slice(&tag).is_ok());
        if !valid {
            return Err(GuardError::BadSignature {
                param: self.param.clone(),
            });
        }
        let stamp = match timestamp {
            Some(ts) if timestamps == 1 => {
                parse_unix_seconds(&ts).ok_or_else(|| GuardError::BadTimestamp {
                    param: self.timestamp_param.clone(),
                })?
            }
            Some(_) => {
                return Err(GuardError::BadTimestamp {
                    param: self.timestamp_param.clone(),
                });
            }
            None => {
                return Err(GuardError::MissingTimestamp {
                    param: self.timestamp_param.clone(),
                });
            }
        };
        let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        let age = now.unix_timestamp().saturating_sub(stamp);
        if age > window {
            return Err(GuardError::Expired {
                age_secs: age.unsigned_abs(),
                window_secs: window.unsigned_abs(),
            });
        }
        if age < -window {
            return Err(GuardError::FromFuture {
                ahead_secs: age.unsigned_abs(),
                window_secs: window.unsigned_abs(),
            });
        }
        Ok(stamp)
    }

    fn malformed(&self) -> GuardError {
        GuardError::MalformedSignature {
            param: self.param.clone(),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn sort(pairs: &mut [Pair<'_>]) {
    pairs.sort_unstable();
}

fn write_canonical(pairs: &[Pair<'_>], mut sink: impl FnMut(&str)) {
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            sink("&");
        }
        url::form_urlencoded::byte_serialize(name).for_each(&mut sink);
        sink("=");
        url::form_urlencoded::byte_serialize(value).for_each(&mut sink);
    }
}

/// 64 hex digits, either case, into the 32-byte tag; `None` for anything else.
fn parse_hex_tag(text: &[u8]) -> Option<[u8; 32]> {
    let mut tag = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (out, pair) in tag.iter_mut().zip(text.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        let hex = |digit: u8| {
            char::from(digit)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        *out = (hex(*hi)? << 4) | hex(*lo)?;
    }
    Some(tag)
}

/// Unix seconds: ASCII digits with an optional leading `-`, at most 18 digits.
fn parse_unix_seconds(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}
