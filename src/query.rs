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

/// Where a target's path is and where its query starts (its end is the first `#` after it,
/// or the end): the rules in the module docs, read up to the first byte that decides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Start {
    pub(crate) path: Range<usize>,
    /// Just past the query's `?` (0 for a bare query); `None` when there is no query.
    pub(crate) query: Option<usize>,
}

/// Finds where `target`'s path is and its query starts, by the rules in the module docs.
pub(crate) fn query_start(target: &[u8]) -> Result<Start, NoHost> {
    let path_start = if target.first() == Some(&b'/') {
        0
    } else if let Some(after) = scheme_end(target) {
        // A host holds no `/`, `?` or `#`; an empty one is no URL.
        let rest = target.get(after..).unwrap_or_default();
        let host_len = find(rest, [b'/', b'?', b'#']).unwrap_or(rest.len());
        if host_len == 0 {
            return Err(NoHost { at: after });
        }
        after + host_len
    } else {
        // Relative: a `?` before any `=`, `&` or `#` ends a path; otherwise it is a bare query.
        let first = find(target, [b'?', b'=', b'&', b'#']);
        let query = match first.map(|at| (at, target.get(at))) {
            Some((at, Some(b'?'))) => {
                return Ok(Start {
                    path: 0..at,
                    query: Some(at + 1),
                });
            }
            // Nothing before the fragment: no query.
            Some((0, Some(b'#'))) => None,
            None if target.is_empty() => None,
            _ => Some(0),
        };
        return Ok(Start { path: 0..0, query });
    };
    let rest = target.get(path_start..).unwrap_or_default();
    let end = find(rest, [b'?', b'#']).map_or(target.len(), |at| path_start + at);
    Ok(Start {
        path: path_start..end,
        query: (target.get(end) == Some(&b'?')).then_some(end + 1),
    })
}

/// Finds the path, query and fragment of `target` by the rules in the module docs.
pub(crate) fn locate(target: &[u8]) -> Result<Located, NoHost> {
    let start = query_start(target)?;
    let from = start.query.unwrap_or(start.path.end);
    let hash = target
        .get(from..)
        .and_then(|rest| find(rest, [b'#']))
        .map(|at| from + at);
    let end = hash.unwrap_or(target.len());
    Ok(Located {
        path: start.path,
        query: start.query.map(|query| query..end),
        fragment: hash.map(|at| at + 1..target.len()),
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
    /// Whether every byte of the pair, name and value, is plain: nothing to decode, trim,
    /// check as UTF-8 or look at as a macro ([`is_unplain`] says which bytes are not).
    pub(crate) plain: bool,
}

impl<'a> Pair<'a> {
    /// The name a sender that encodes names meant: when it holds `%` or `+`, decoded once and
    /// trimmed of ASCII whitespace; `None` when it holds neither (the name is as sent) or holds
    /// a bad escape (it names nothing). Every reader matches a name as sent first, then this.
    #[inline]
    pub(crate) fn decoded_name(&self) -> Option<Cow<'a, [u8]>> {
        if self.plain || !needs_decoding(self.name) {
            return None;
        }
        self.decode_name()
    }

    /// [`Pair::decoded_name`] of a name that holds `%` or `+`: the rare case.
    #[cold]
    fn decode_name(&self) -> Option<Cow<'a, [u8]>> {
        if bad_escape(self.name).is_some() {
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

/// The pairs of `text[range]` split at `&` (see the module docs), with offsets into `text`:
/// a form body, or a query [`locate`] found.
pub(crate) fn pairs(text: &[u8], range: Range<usize>) -> Pairs<'_> {
    let end = range.end.min(text.len());
    Pairs::new(text, range.start.min(end), end, false)
}

/// The pairs of the query that starts at `start` in a target and ends at its first `#` (or
/// the target's end): [`pairs`] of [`locate`]'s query, found in the same pass as the pairs
/// rather than by a search of its own.
pub(crate) fn query_pairs(target: &[u8], start: usize) -> Pairs<'_> {
    Pairs::new(target, start.min(target.len()), target.len(), true)
}

/// Iterator over the pairs of a query or body: see [`pairs`].
///
/// It reads the text sixty-four bytes at a time through [`block_masks`]: masks of the `&`s,
/// the `#`s and the bytes that are not plain, consumed a few bits per segment, so a segment
/// costs a few bit operations rather than a search that starts again at every one, and learns
/// whether it is plain without a second look at its bytes. A pair's `=` is then found by
/// [`find`] in its segment; the parser does without it, matching `name=` at the segment's
/// start. The obvious byte-by-byte split is its oracle (`pairs_split_as_the_obvious_split_does`
/// in the tests).
#[derive(Debug, Clone)]
pub(crate) struct Pairs<'a> {
    text: &'a [u8],
    /// Where the next pair starts.
    at: usize,
    end: usize,
    /// The offset of the block the masks describe.
    base: usize,
    /// Bit `i` set for each `&` at `base + i` not yet visited.
    ampersands: u64,
    /// Bit `i` set for each byte at `base + i` (not before `at`) that is not plain.
    unplain: u64,
    /// Whether a `#` ends the text (a target's query) or is data (a form body).
    to_fragment: bool,
    done: bool,
}

impl<'a> Pairs<'a> {
    fn new(text: &'a [u8], start: usize, end: usize, to_fragment: bool) -> Self {
        let mut pairs = Pairs {
            text,
            at: start,
            end,
            base: start,
            ampersands: 0,
            unplain: 0,
            to_fragment,
            done: start == end,
        };
        if !pairs.done {
            pairs.load();
            pairs.done = pairs.at == pairs.end;
        }
        pairs
    }

    /// Reads the masks of the chunk at `base`; in a target, a `#` there ends the text.
    #[inline]
    fn load(&mut self) {
        let masks = chunk_masks(self.text, self.base, self.end);
        let mut kept = u64::MAX;
        if self.to_fragment && masks.hashes != 0 {
            let hash = masks.hashes.trailing_zeros();
            self.end = self.base + hash as usize;
            kept = (1u64 << hash) - 1;
        }
        self.ampersands = masks.ampersands & kept;
        self.unplain = masks.unplain & kept;
    }

    /// The next `&`-separated piece: where it is and whether it is plain. The parser reads
    /// segments and matches names at their start; [`Pairs::next`] is this and a `=`.
    // Inlined into the caller's loop so that the masks stay in registers: out of line, every
    // pair loaded and stored them, a third of a parse.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "measured: out of line it was a third of a parse"
    )]
    pub(crate) fn next_segment(&mut self) -> Option<Segment> {
        if self.done {
            return None;
        }
        let mut unplain = false;
        let end = loop {
            if self.ampersands != 0 {
                let bit = self.ampersands.trailing_zeros();
                self.ampersands &= self.ampersands - 1;
                // This segment's bytes in this chunk are the bits below its `&`; those from
                // the `&` on belong to the segments after it.
                let below = (1u64 << bit) - 1;
                unplain |= self.unplain & below != 0;
                self.unplain &= !below & !(1 << bit);
                break self.base + bit as usize;
            }
            unplain |= self.unplain != 0;
            self.base += 64;
            if self.base >= self.end {
                self.done = true;
                break self.end;
            }
            self.load();
        };
        let start = self.at;
        self.at = end + 1;
        Some(Segment {
            start,
            end,
            plain: !unplain,
        })
    }

    /// `segment` as a pair: split at its first `=`.
    pub(crate) fn pair(&self, segment: Segment) -> Pair<'a> {
        let piece = self
            .text
            .get(segment.start..segment.end)
            .unwrap_or_default();
        let (name_end, value_at) = match find(piece, [b'=']) {
            Some(eq) => (segment.start + eq, segment.start + eq + 1),
            None => (segment.end, segment.end),
        };
        Pair {
            name: self.text.get(segment.start..name_end).unwrap_or_default(),
            value: self.text.get(value_at..segment.end).unwrap_or_default(),
            name_at: segment.start,
            value_at,
            plain: segment.plain,
        }
    }
}

/// One `&`-separated piece of a query or body: `text[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Whether every byte of it is plain (see [`Pair::plain`]).
    pub(crate) plain: bool,
}

/// Whether a pair holding `byte` is not plain, so that a reader must look closer: bytes below
/// `&` (control bytes, space, and `! " # $ %`: escapes, whitespace and the first bytes of
/// macros), `+`, `<`, `[`, `{`, DEL and every byte past ASCII. [`block_masks`]'s oracle.
#[cfg(any(
    test,
    not(all(
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2"
    ))
))]
pub(crate) const fn is_unplain(byte: u8) -> bool {
    byte < b'&' || byte >= 0x7f || matches!(byte, b'+' | b'<' | b'[' | b'{')
}

/// The masks of sixteen bytes, byte by byte: [`block_masks`] without SSE2, and its oracle.
#[cfg(any(
    test,
    not(all(
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2"
    ))
))]
pub(crate) fn block_masks_naive(block: &[u8; 16]) -> Masks {
    let bits = |test: &dyn Fn(u8) -> bool| {
        (0..)
            .zip(block)
            .fold(0, |bits, (i, &byte)| bits | u64::from(test(byte)) << i)
    };
    Masks {
        ampersands: bits(&|byte| byte == b'&'),
        unplain: bits(&is_unplain),
        hashes: bits(&|byte| byte == b'#'),
    }
}

/// Three bit masks of up to sixty-four bytes: bit `i` says what byte `i` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Masks {
    /// `&`.
    pub(crate) ampersands: u64,
    /// Not plain ([`is_unplain`]).
    pub(crate) unplain: u64,
    /// `#`.
    pub(crate) hashes: u64,
}

impl Masks {
    const fn shifted(self, shift: u32) -> Self {
        Self {
            ampersands: self.ampersands >> shift,
            unplain: self.unplain >> shift,
            hashes: self.hashes >> shift,
        }
    }

    const fn kept(self, kept: u64) -> Self {
        Self {
            ampersands: self.ampersands & kept,
            unplain: self.unplain & kept,
            hashes: self.hashes & kept,
        }
    }
}

/// The masks of sixteen bytes: where the `&`s, the `#`s and the bytes that are not plain
/// ([`is_unplain`]) are. With SSE2 (every x86-64) a few instructions for all
/// sixteen: on the corpus bench this is what makes splitting cheap on a machine where a byte
/// loop costs most of a parse.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
#[inline]
pub(crate) fn block_masks(block: &[u8; 16]) -> Masks {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    #[expect(
        clippy::cast_possible_wrap,
        reason = "bytes as the signed lanes SSE2 compares"
    )]
    let splat = |byte: u8| set_splat_i8_m128i(byte as i8);
    let bytes = load_unaligned_m128i(block);
    let amp = cmp_eq_mask_i8_m128i(bytes, splat(b'&'));
    let hash = cmp_eq_mask_i8_m128i(bytes, splat(b'#'));
    // Below `&` as signed bytes: every byte past ASCII is negative, so below too. Or-ing
    // `0x20` folds `[` into `{` (and only bytes below `&` into `+` and `<`).
    let folded = bytes | splat(0x20);
    let unplain = cmp_lt_mask_i8_m128i(bytes, splat(b'&'))
        | cmp_eq_mask_i8_m128i(bytes, splat(0x7f))
        | cmp_eq_mask_i8_m128i(folded, splat(b'+'))
        | cmp_eq_mask_i8_m128i(folded, splat(b'<'))
        | cmp_eq_mask_i8_m128i(folded, splat(b'{'));
    #[expect(clippy::cast_sign_loss, reason = "sixteen mask bits, never negative")]
    let bits = |mask| u64::from(move_mask_i8_m128i(mask) as u16);
    Masks {
        ampersands: bits(amp),
        unplain: bits(unplain),
        hashes: bits(hash),
    }
}

/// [`block_masks`] without SSE2.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
)))]
#[inline]
pub(crate) fn block_masks(block: &[u8; 16]) -> Masks {
    block_masks_naive(block)
}

/// The masks of the sixty-four bytes of `text` at `base`, none at or past `end`: four blocks,
/// so that a query of a few hundred bytes crosses a few chunk boundaries, not a dozen.
#[inline]
fn chunk_masks(text: &[u8], base: usize, end: usize) -> Masks {
    let mut masks = Masks {
        ampersands: 0,
        unplain: 0,
        hashes: 0,
    };
    // A whole chunk: four blocks at fixed offsets, no bounds to look at again.
    if let Some(chunk) = text.get(base..end).and_then(<[u8]>::first_chunk::<64>) {
        let (blocks, _) = chunk.as_chunks::<16>();
        for (k, block) in blocks.iter().enumerate() {
            let block = block_masks(block);
            masks.ampersands |= block.ampersands << (16 * k);
            masks.unplain |= block.unplain << (16 * k);
            masks.hashes |= block.hashes << (16 * k);
        }
        return masks;
    }
    for (k, at) in (base..end).step_by(16).take(4).enumerate() {
        let block = masks_at(text, at, end);
        masks.ampersands |= block.ampersands << (16 * k);
        masks.unplain |= block.unplain << (16 * k);
        masks.hashes |= block.hashes << (16 * k);
    }
    masks
}

/// The masks of the sixteen bytes of `text` at `base`, none at or past `end`.
#[inline]
fn masks_at(text: &[u8], base: usize, end: usize) -> Masks {
    if let Some(block) = text.get(base..end).and_then(<[u8]>::first_chunk::<16>) {
        return block_masks(block);
    }
    last_masks(text, base, end)
}

/// [`masks_at`] of a range's last, short block: the masks of the sixteen bytes that end where
/// the range ends, shifted down to start at `base` (which clears the bits past the end), or,
/// in a text shorter than that, of the bytes copied into a block of NULs, their bits cleared.
#[inline(never)]
fn last_masks(text: &[u8], base: usize, end: usize) -> Masks {
    let len = end.saturating_sub(base).min(16);
    if let Some(block) = end
        .checked_sub(16)
        .and_then(|start| text.get(start..end))
        .and_then(<[u8]>::first_chunk::<16>)
    {
        return block_masks(block).shifted(16 - len as u32);
    }
    let rest = text.get(base..end).unwrap_or_default();
    let mut block = [0u8; 16];
    for (to, from) in block.iter_mut().zip(rest) {
        *to = *from;
    }
    block_masks(&block).kept((1u64 << len) - 1)
}

/// Where `hay` first holds one of `set`: sixteen bytes a step through SSE2 where there is
/// SSE2, byte by byte elsewhere. The crate's one byte search: on the short texts of a request
/// (a host, a path, a query of a few hundred bytes) a `memchr` call costs more in its setup
/// than the search: three of them were about a sixth of a one-parameter parse (callgrind).
pub(crate) fn find<const N: usize>(hay: &[u8], set: [u8; N]) -> Option<usize> {
    let mut base = 0;
    while let Some(block) = hay.get(base..).and_then(<[u8]>::first_chunk::<16>) {
        let found = block_matches(block, set);
        if found != 0 {
            return Some(base + found.trailing_zeros() as usize);
        }
        base += 16;
    }
    let rest = hay.get(base..).unwrap_or_default();
    rest.iter()
        .position(|byte| set.contains(byte))
        .map(|at| base + at)
}

/// Bit `i` set when byte `i` of `block` is one of `set`.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
#[inline]
fn block_matches<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
        zeroed_m128i,
    };
    let bytes = load_unaligned_m128i(block);
    #[expect(
        clippy::cast_possible_wrap,
        reason = "bytes as the signed lanes SSE2 compares"
    )]
    let hits = set.iter().fold(zeroed_m128i(), |hits, &byte| {
        hits | cmp_eq_mask_i8_m128i(bytes, set_splat_i8_m128i(byte as i8))
    });
    #[expect(clippy::cast_sign_loss, reason = "sixteen mask bits, never negative")]
    let bits = move_mask_i8_m128i(hits) as u32;
    bits
}

/// [`block_matches`] without SSE2.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
)))]
#[inline]
fn block_matches<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
    block.iter().enumerate().fold(0, |bits, (i, byte)| {
        bits | u32::from(set.contains(byte)) << i
    })
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Pair<'a>;

    #[inline]
    fn next(&mut self) -> Option<Pair<'a>> {
        let segment = self.next_segment()?;
        Some(self.pair(segment))
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

/// Whether `raw` holds anything form decoding changes (`%` or `+`). A plain loop: it is asked
/// of names, a few bytes each, where a `memchr` call costs more than the search.
#[inline]
pub(crate) fn needs_decoding(raw: &[u8]) -> bool {
    raw.iter().any(|&b| b == b'%' || b == b'+')
}

/// Decodes `%XX` escapes once, and `+` as told. A `%` not followed by two hex digits stays as it
/// is (as WHATWG form decoding does); callers that must refuse it ask [`bad_escape`] first.
/// Exact bytes, never lossy UTF-8: a token or a signed value compares as what was sent. Borrows
/// when there is nothing to decode.
pub(crate) fn decode(raw: &[u8], plus: Plus) -> Cow<'_, [u8]> {
    if plus == Plus::Space && find(raw, [b'+']).is_some() {
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
    let mut from = 0;
    while let Some(at) = raw.get(from..).and_then(|rest| find(rest, [b'%'])) {
        let at = from + at;
        if !(raw.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
            && raw.get(at + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
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
