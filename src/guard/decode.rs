//! Byte-level form decoding for the guard: exact bytes, never lossy UTF-8.
//!
//! `url::form_urlencoded::parse` replaces invalid UTF-8 with U+FFFD, so two different byte
//! strings can decode to the same text; a token or a signed parameter must compare as the bytes
//! that were sent.

use std::borrow::Cow;

/// One decoded `name=value` pair.
#[cfg(feature = "signature")]
pub(super) type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// How `+` is read: a space in form data, itself in a path.
#[derive(Clone, Copy)]
pub(super) enum Plus {
    Space,
    Literal,
}

/// Decodes `%XX` escapes (and `+` as told) once. A `%` not followed by two hex digits stays as
/// it is, as WHATWG form decoding does. Borrows when there is nothing to decode.
pub(super) fn decode(raw: &[u8], plus: Plus) -> Cow<'_, [u8]> {
    let plus_is_space = matches!(plus, Plus::Space);
    if !raw
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let [first, tail @ ..] = rest {
        match first {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                if let [hi, lo, after @ ..] = tail
                    && let (Some(hi), Some(lo)) = (hex_value(*hi), hex_value(*lo))
                {
                    out.push((hi << 4) | lo);
                    rest = after;
                    continue;
                }
                out.push(b'%');
            }
            other => out.push(*other),
        }
        rest = tail;
    }
    Cow::Owned(out)
}

pub(super) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The raw (undecoded) `name=value` pairs of the query, then of the form body. Empty pairs
/// (`a=1&&b=2`) are skipped; a pair without `=` has an empty value.
#[cfg(feature = "signature")]
pub(super) struct RawParams<'a> {
    /// What is left of the query; `None` once it is used up.
    query: Option<&'a [u8]>,
    /// What is left of the body; `None` without a body or once it is used up.
    body: Option<&'a [u8]>,
}

#[cfg(feature = "signature")]
impl<'a> RawParams<'a> {
    pub(super) fn new(query: &'a [u8], body: Option<&'a [u8]>) -> Self {
        RawParams {
            query: Some(query),
            body,
        }
    }
}

/// Cuts the next `&`-separated piece off `rest`.
#[cfg(feature = "signature")]
fn next_piece<'a>(rest: &mut Option<&'a [u8]>) -> Option<&'a [u8]> {
    let text = (*rest)?;
    if let Some(amp) = text.iter().position(|&b| b == b'&') {
        *rest = text.get(amp + 1..);
        text.get(..amp)
    } else {
        *rest = None;
        Some(text)
    }
}

#[cfg(feature = "signature")]
impl<'a> Iterator for RawParams<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let piece = match next_piece(&mut self.query) {
                Some(piece) => piece,
                None => next_piece(&mut self.body)?,
            };
            if piece.is_empty() {
                continue;
            }
            return Some(match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    piece.get(..eq).unwrap_or_default(),
                    piece.get(eq + 1..).unwrap_or_default(),
                ),
                None => (piece, &[][..]),
            });
        }
    }
}

/// [`RawParams`] with names and values decoded once, as form data.
#[cfg(feature = "signature")]
pub(super) struct Params<'a>(RawParams<'a>);

#[cfg(feature = "signature")]
impl<'a> Params<'a> {
    pub(super) fn new(query: &'a [u8], body: Option<&'a [u8]>) -> Self {
        Params(RawParams::new(query, body))
    }
}

#[cfg(feature = "signature")]
impl<'a> Iterator for Params<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value) = self.0.next()?;
        Some((decode(name, Plus::Space), decode(value, Plus::Space)))
    }
}
