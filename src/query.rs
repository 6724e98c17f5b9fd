//! The one reader of what a request says: where its query is, its `name=value` pairs, and
//! their decoding.
//!
//! The parser, every guard check (token, signature), redaction and [`Request`](crate::Request)
//! read parameters through this module and nothing else, so they cannot disagree about what a
//! request says. A check that reads one set of parameters while the parser reads another is
//! how a forged postback gets past a signature: `click_id=A&txid=FORGED&?<signed query>` must
//! mean one thing to everyone.
//!
//! # Where the query is
//!
//! A target is read by the first rule that fits:
//!
//! 1. `scheme://authority…` (a full URL): the query follows the first `?` after the authority;
//!    an empty authority (`https:///x`, `https://?a=1`) is not a URL.
//! 2. `/…` (an origin-form target): the query follows the first `?`.
//! 3. Anything else is relative: when a `?` comes before any `=`, `&` or `#` it ends a path
//!    (`gpb.php?subid=1`, `?subid=1`) and the query follows it; otherwise the whole target is
//!    a bare query (`subid=1&status=sale`), and a later `?` is data inside it.
//!
//! In every case a `#` ends the query (the rest is the fragment), except in a form body,
//! where `#` is data. Pairs are split at `&` only (not `;`); a pair's name ends at its first
//! `=`; a pair without `=` has an empty value; empty pairs (`a=1&&b=2`) are kept as such, so
//! every reader counts the same pairs.

use std::borrow::Cow;
use std::ops::Range;

use percent_encoding::percent_decode;

/// Where the parts of a request target are, as byte ranges into it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Located {
    /// The path: empty for a bare query, never including `scheme://authority`.
    pub(crate) path: Range<usize>,
    /// The query, without its `?` and without the fragment; `None` when there is no query.
    pub(crate) query: Option<Range<usize>>,
    /// The fragment, without its `#`.
    pub(crate) fragment: Option<Range<usize>>,
}

/// A target that starts like a URL but has no host (`https:///x`): the byte offset just after
/// `scheme://`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoHost {
    pub(crate) at: usize,
}

/// Finds the path, query and fragment of `target` by the rules in the module docs.
pub(crate) fn locate(target: &[u8]) -> Result<Located, NoHost> {
    let hash = memchr::memchr(b'#', target);
    let before_fragment = target.get(..hash.unwrap_or(target.len())).unwrap_or(target);
    let fragment = hash.map(|at| at + 1..target.len());
    let path_start = if target.first() == Some(&b'/') {
        0
    } else if let Some(after) = scheme_end(target) {
        // A host holds no `/`, `?` or `#`; an empty one is no URL.
        let rest = before_fragment.get(after..).unwrap_or_default();
        let host_len = memchr::memchr2(b'/', b'?', rest).unwrap_or(rest.len());
        if host_len == 0 {
            return Err(NoHost { at: after });
        }
        after + host_len
    } else {
        // Relative: a `?` before any `=` or `&` ends a path; otherwise it is a bare query.
        let first = memchr::memchr3(b'?', b'=', b'&', before_fragment);
        if first.is_none_or(|at| before_fragment.get(at) != Some(&b'?')) {
            return Ok(Located {
                path: 0..0,
                query: (!before_fragment.is_empty()).then_some(0..before_fragment.len()),
                fragment,
            });
        }
        0
    };
    let rest = before_fragment.get(path_start..).unwrap_or_default();
    Ok(match memchr::memchr(b'?', rest) {
        Some(q) => Located {
            path: path_start..path_start + q,
            query: Some(path_start + q + 1..before_fragment.len()),
            fragment,
        },
        None => Located {
            path: path_start..before_fragment.len(),
            query: None,
            fragment,
        },
    })
}

/// The offset just after `scheme://`, if `input` starts with a URL scheme.
fn scheme_end(input: &[u8]) -> Option<usize> {
    if input.starts_with(b"https://") {
        return Some(8);
    }
    if input.starts_with(b"http://") {
        return Some(7);
    }
    if !input.first()?.is_ascii_alphabetic() {
        return None;
    }
    let colon = input
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))?;
    input.get(colon..)?.starts_with(b"://").then_some(colon + 3)
}

/// One `name=value` pair, borrowed from the text it was split from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair<'a> {
    /// The name as sent (not decoded).
    pub(crate) name: &'a [u8],
    /// The value as sent (not decoded); empty for a pair without `=`.
    pub(crate) value: &'a [u8],
    /// Offset of the name in the text the pair was split from.
    pub(crate) name_at: usize,
    /// Offset of the value in that text (just past the name when there is no `=`).
    pub(crate) value_at: usize,
}

impl<'a> Pair<'a> {
    /// The name a sender that encodes names meant: when it holds `%` or `+`, decoded once and
    /// trimmed of ASCII whitespace; `None` when it holds neither (the name is as sent) or holds
    /// a bad escape (it names nothing). Every reader matches a name as sent first, then this.
    pub(crate) fn decoded_name(&self) -> Option<Cow<'a, [u8]>> {
        if !needs_decoding(self.name) || bad_escape(self.name).is_some() {
            return None;
        }
        Some(match decode(self.name, Plus::Space) {
            Cow::Borrowed(name) => Cow::Borrowed(name.trim_ascii()),
            Cow::Owned(name) => Cow::Owned(name.trim_ascii().to_vec()),
        })
    }

    /// Whether the pair's name is `name`, as sent or decoded ([`Pair::decoded_name`]).
    pub(crate) fn name_is(&self, name: &[u8]) -> bool {
        self.name == name || self.decoded_name().is_some_and(|decoded| *decoded == *name)
    }
}

/// The pairs of `text[range]` split at `&` (see the module docs), with offsets into `text`.
pub(crate) fn pairs(text: &[u8], range: Range<usize>) -> Pairs<'_> {
    let start = range.start.min(text.len());
    let end = range.end.clamp(start, text.len());
    Pairs {
        text,
        at: start,
        end,
        done: start == end,
    }
}

/// Iterator over the pairs of a query or body: see [`pairs`].
#[derive(Debug, Clone)]
pub(crate) struct Pairs<'a> {
    text: &'a [u8],
    at: usize,
    end: usize,
    done: bool,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Pair<'a>;

    #[inline]
    fn next(&mut self) -> Option<Pair<'a>> {
        if self.done {
            return None;
        }
        let rest = self.text.get(self.at..self.end)?;
        let len = memchr::memchr(b'&', rest).unwrap_or_else(|| {
            self.done = true;
            rest.len()
        });
        let piece = rest.get(..len).unwrap_or_default();
        let name_at = self.at;
        self.at += len + 1;
        Some(match memchr::memchr(b'=', piece) {
            Some(eq) => Pair {
                name: piece.get(..eq).unwrap_or_default(),
                value: piece.get(eq + 1..).unwrap_or_default(),
                name_at,
                value_at: name_at + eq + 1,
            },
            None => Pair {
                name: piece,
                value: &[],
                name_at,
                value_at: name_at + len,
            },
        })
    }
}

/// The pairs a request's parameters come in: its target's query, then its form body.
pub(crate) fn request_pairs<'a>(
    target: &'a [u8],
    located: &Located,
    body: Option<&'a [u8]>,
) -> impl Iterator<Item = Pair<'a>> + Clone + 'a {
    let body = body.unwrap_or_default();
    pairs(target, located.query.clone().unwrap_or(0..0)).chain(pairs(body, 0..body.len()))
}

/// How `+` is read: a space in form data and queries, itself in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plus {
    Space,
    Literal,
}

/// Whether `raw` holds anything form decoding changes (`%` or `+`).
#[inline]
pub(crate) fn needs_decoding(raw: &[u8]) -> bool {
    memchr::memchr2(b'%', b'+', raw).is_some()
}

/// Decodes `%XX` escapes once, and `+` as told. A `%` not followed by two hex digits stays as it
/// is (as WHATWG form decoding does); callers that must refuse it ask [`bad_escape`] first.
/// Exact bytes, never lossy UTF-8: a token or a signed value compares as what was sent. Borrows
/// when there is nothing to decode.
pub(crate) fn decode(raw: &[u8], plus: Plus) -> Cow<'_, [u8]> {
    if plus == Plus::Space && memchr::memchr(b'+', raw).is_some() {
        let spaced: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        return Cow::Owned(percent_decode(&spaced).collect());
    }
    percent_decode(raw).into()
}

/// The offset of the first `%` in `raw` not followed by two hex digits.
pub(crate) fn bad_escape(raw: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'%', raw).find(|&at| {
        !(raw.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
            && raw.get(at + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// The offset in `raw` of the `decoded`-th byte of its decoding (escapes are three bytes).
pub(crate) fn raw_offset(raw: &[u8], decoded: usize) -> usize {
    let mut i = 0;
    for _ in 0..decoded {
        i += if raw.get(i) == Some(&b'%') { 3 } else { 1 };
    }
    i.min(raw.len())
}

#[cfg(test)]
mod tests;
