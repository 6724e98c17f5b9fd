//! Finding bytes in a query many at a time, for both parse paths.
//!
//! The fast path asks two questions of every byte it passes: does it end a value (`&`, `#`),
//! and is it plain (nothing to decode, trim, check as UTF-8 or suspect as a macro)? [`Chunks`]
//! answers both for sixty-four bytes at once, as two bit masks, so that the segments of a
//! query follow one another through a few mask operations rather than through a search that
//! starts again where the last one ended. With SSE2 (every x86-64) a mask costs a few
//! instructions per sixteen bytes; elsewhere plain integer arithmetic does eight at a time.
//! The general path's word-at-a-time helpers live here too.

pub(super) const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Bit 7 set in every byte of `word` that is zero, and possibly in a byte just above a zero
/// byte (the borrow of the subtraction runs on): the scans re-read each byte they visit, so
/// such a false alarm costs a little time and nothing else.
#[inline]
pub(super) const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS
}

/// Where `hay` first holds one of `set`, or `hay.len()`: sixteen bytes a step ([`matches`]),
/// then eight, in each word the lowest byte [`zero_bytes`] flags after the XOR with a target
/// is exact, which is all a "first match" needs.
#[inline]
pub(super) fn find_any<const N: usize>(hay: &[u8], set: [u8; N]) -> usize {
    let (blocks, rest) = hay.as_chunks::<16>();
    for (base, block) in (0..).step_by(16).zip(blocks) {
        let found = matches(block, set);
        if found != 0 {
            return base + found.trailing_zeros() as usize;
        }
    }
    let targets = set.map(|byte| u64::from(byte) * LOW_BITS);
    let hits = |word: u64| {
        targets
            .iter()
            .fold(0, |hits, &t| hits | zero_bytes(word ^ t))
    };
    let (words, tail) = rest.as_chunks::<8>();
    let mut base = hay.len() - rest.len();
    for word in words {
        let found = hits(u64::from_le_bytes(*word));
        if found != 0 {
            return base + (found.trailing_zeros() / 8) as usize;
        }
        base += 8;
    }
    tail.iter()
        .position(|b| set.contains(b))
        .map_or(hay.len(), |at| base + at)
}

/// The eight bytes at `at` as one little-endian word, NUL past the end of `input`.
#[inline]
fn word_at(input: &[u8], at: usize) -> u64 {
    // One bounds check (a range of known length), where `get(at..)` and `first_chunk` make two.
    if let Some(bytes) = at
        .checked_add(8)
        .and_then(|end| input.get(at..end))
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
    {
        return u64::from_le_bytes(bytes);
    }
    // Fewer than eight bytes left: shifts rather than a copy into a buffer, which would cost
    // a `memcpy` call.
    let rest = input.get(at..).unwrap_or_default();
    rest.iter()
        .rev()
        .fold(0, |word, &byte| (word << 8) | u64::from(byte))
}

/// For the general path: the `&`, `#` and `=` in the eight bytes at `at` (NUL past the end is
/// no delimiter), flagged as [`zero_bytes`] does. Or-ing `0x05` into `&` or `#` makes `0x27`
/// (as it does for `"` and `'`, which the caller then skips): one test finds both.
#[inline]
pub(super) fn delimiters(input: &[u8], at: usize) -> u64 {
    const FIVES: u64 = 0x0505_0505_0505_0505;
    let word = word_at(input, at);
    zero_bytes((word | FIVES) ^ (0x27 * LOW_BITS)) | zero_bytes(word ^ (u64::from(b'=') * LOW_BITS))
}

/// The sixteen bytes at `at` as two little-endian words, NUL past the end of `input`; `None`
/// at or past the end. The fast path compares a key's start with a name through them.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "the fast path's inner loop reads every key through it"
)]
pub(super) fn key_words(input: &[u8], at: usize) -> Option<[u64; 2]> {
    let bytes: [u8; 16] = if let Some(bytes) = input.get(at..).and_then(<[u8]>::first_chunk) {
        *bytes
    } else {
        let rest = input.get(at..).filter(|rest| !rest.is_empty())?;
        if let Some(last) = input.len().checked_sub(16) {
            // Near the end of a long enough input: its last sixteen bytes, shifted down.
            let tail: [u8; 16] = input.get(last..)?.try_into().ok()?;
            let whole = u128::from_le_bytes(tail) >> (8 * (16 - rest.len()));
            return Some([whole as u64, (whole >> 64) as u64]);
        }
        let mut bytes = [0; 16];
        bytes.get_mut(..rest.len())?.copy_from_slice(rest);
        bytes
    };
    let (low, high) = bytes.split_at(8);
    Some([
        u64::from_le_bytes(low.try_into().ok()?),
        u64::from_le_bytes(high.try_into().ok()?),
    ])
}

/// Up to sixteen bytes as two little-endian words, zero past them, and the masks of the bytes
/// they fill: the pattern a name or a status word is compared with, sixteen input bytes at a
/// time ([`key_words`]). Bytes past the sixteenth are ignored.
pub(crate) fn pattern<'b>(bytes: impl IntoIterator<Item = &'b u8>) -> ([u64; 2], [u64; 2]) {
    let mut words = [0u8; 16];
    let mut masks = [0u8; 16];
    for ((to, mask), &byte) in words.iter_mut().zip(&mut masks).zip(bytes) {
        *to = byte;
        *mask = 0xff;
    }
    let little_endian = |array: [u8; 16]| {
        let (low, high) = array.split_at(8);
        [low, high].map(|half| u64::from_le_bytes(half.try_into().unwrap_or_default()))
    };
    (little_endian(words), little_endian(masks))
}

/// Whether `byte` ends a value for the fast path: `&`, or `#` (the fragment).
#[cfg(test)]
pub(super) const fn is_end(byte: u8) -> bool {
    matches!(byte, b'&' | b'#')
}

/// Whether a value holding `byte` is not plain, so that the fast path leaves it to the
/// general path: bytes below `&` (control bytes, space, `! " # $ %`: escapes, whitespace and
/// the first bytes of macros), `+`, `<`, `[`, `{`, DEL and every byte past ASCII.
#[cfg(test)]
pub(super) const fn is_unplain(byte: u8) -> bool {
    byte < b'&' || byte >= 0x7f || matches!(byte, b'+' | b'<' | b'[' | b'{')
}

/// The masks of sixteen bytes: bit `i` of the first set when byte `i` ends a value, of the
/// second when byte `i` is not plain (as `is_end` and `is_unplain` say, which the tests hold
/// every implementation to).
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
#[inline(always)]
pub(super) fn classes(block: &[u8; 16]) -> (u32, u32) {
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
    let ends = cmp_eq_mask_i8_m128i(bytes, splat(b'&')) | cmp_eq_mask_i8_m128i(bytes, splat(b'#'));
    // Below `&` as signed bytes: every byte past ASCII is negative, so below too. Or-ing
    // `0x20` folds `[` into `{` (and only bytes below `&` into `+` and `<`).
    let folded = bytes | splat(0x20);
    let unplain = cmp_lt_mask_i8_m128i(bytes, splat(b'&'))
        | cmp_eq_mask_i8_m128i(bytes, splat(0x7f))
        | cmp_eq_mask_i8_m128i(folded, splat(b'+'))
        | cmp_eq_mask_i8_m128i(folded, splat(b'<'))
        | cmp_eq_mask_i8_m128i(folded, splat(b'{'));
    #[expect(clippy::cast_sign_loss, reason = "sixteen mask bits, never negative")]
    (
        move_mask_i8_m128i(ends) as u32,
        move_mask_i8_m128i(unplain) as u32,
    )
}

/// Bit `i` set when byte `i` of `block` is one of `set`.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
#[inline(always)]
pub(super) fn matches<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
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

/// [`classes`] without SSE2.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
)))]
#[inline]
pub(super) fn classes(block: &[u8; 16]) -> (u32, u32) {
    swar::classes(block)
}

/// [`matches`] without SSE2.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
)))]
#[inline]
pub(super) fn matches<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
    swar::matches(block, set)
}

/// The masks of the sixty-four bytes at `base`: bytes past the input's end are in neither.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "the fast path's inner loop: one call per sixty-four bytes of query"
)]
fn chunk_masks(input: &[u8], base: usize) -> (u64, u64) {
    match base.checked_add(64).and_then(|end| input.get(base..end)) {
        Some(chunk) => masks_of(chunk),
        None => last_chunk_masks(input, base),
    }
}

/// [`chunk_masks`] of the query's last, short chunk: the masks of the input's last few blocks
/// (as few as hold the chunk), shifted down so that they start at `base` (which brings in
/// zeros past the end), or in an input shorter than that, of its bytes copied into a block of
/// NULs, their bits cleared.
#[inline(never)]
fn last_chunk_masks(input: &[u8], base: usize) -> (u64, u64) {
    let rest = input.len().saturating_sub(base);
    // The fewest blocks that hold the rest, read back from the input's end.
    let span = rest.div_ceil(16) * 16;
    if let Some(last) = input.len().checked_sub(span) {
        let shift = base - last;
        let (ends, unplain) = masks_of(input.get(last..).unwrap_or_default());
        return (
            ends.checked_shr(shift as u32).unwrap_or(0),
            unplain.checked_shr(shift as u32).unwrap_or(0),
        );
    }
    let rest = input.get(base..).unwrap_or_default();
    let mut chunk = [0; 64];
    if let Some(to) = chunk.get_mut(..rest.len()) {
        to.copy_from_slice(rest);
    }
    let (ends, unplain) = masks_of(&chunk);
    let kept = u64::MAX.checked_shr(64 - rest.len() as u32).unwrap_or(0);
    (ends, unplain & kept)
}

#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "four blocks unrolled, their masks kept in registers"
)]
fn masks_of(chunk: &[u8]) -> (u64, u64) {
    let (blocks, _) = chunk.as_chunks::<16>();
    blocks
        .iter()
        .enumerate()
        .fold((0, 0), |(ends, unplain), (k, block)| {
            let (e, u) = classes(block);
            (
                ends | u64::from(e) << (16 * k),
                unplain | u64::from(u) << (16 * k),
            )
        })
}

/// The fast path's view of a query: where each value ends and whether it is plain, from masks
/// of sixty-four bytes at a time.
pub(super) struct Chunks<'a> {
    input: &'a [u8],
    /// Offset of the chunk's first byte.
    base: usize,
    /// The chunk's `&` and `#` not yet passed.
    ends: u64,
    /// The chunk's bytes that are not plain.
    unplain: u64,
}

impl<'a> Chunks<'a> {
    /// The chunks of the query that starts at `start`.
    #[inline]
    pub(super) fn new(input: &'a [u8], start: usize) -> Self {
        let (ends, unplain) = chunk_masks(input, start);
        Self {
            input,
            base: start,
            ends,
            unplain,
        }
    }

    /// Where the next segment ends (the first `&` or `#` not yet passed, or the input's end),
    /// and whether all its bytes are plain. Called once per segment, in order: each call
    /// passes one end, and forgets the bytes up to it.
    #[inline(always)]
    #[expect(
        clippy::inline_always,
        reason = "the fast path's inner loop, once per segment"
    )]
    pub(super) fn next_end(&mut self) -> (usize, bool) {
        let mut plain = true;
        loop {
            if self.ends != 0 {
                let end = self.ends.trailing_zeros();
                self.ends &= self.ends - 1;
                // Bits up to and including the end, and those before it.
                let through = u64::MAX >> (63 - end);
                plain &= self.unplain & (through >> 1) == 0;
                self.unplain &= !through;
                return (self.base + end as usize, plain);
            }
            plain &= self.unplain == 0;
            self.base += 64;
            if self.base >= self.input.len() {
                return (self.input.len(), plain);
            }
            (self.ends, self.unplain) = chunk_masks(self.input, self.base);
        }
    }
}

/// [`classes`] and [`matches`] in plain integer arithmetic, eight bytes at a time: what
/// targets without SSE2 use, and what the tests hold to the same rules on every target.
#[cfg(any(
    test,
    not(all(
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2"
    ))
))]
pub(super) mod swar {
    use super::{HIGH_BITS, LOW_BITS};

    /// [`super::classes`] eight bytes at a time.
    pub(in crate::postback) fn classes(block: &[u8; 16]) -> (u32, u32) {
        let splat = |byte: u8| u64::from(byte) * LOW_BITS;
        let (words, _) = block.as_chunks::<8>();
        words
            .iter()
            .enumerate()
            .fold((0, 0), |(ends, unplain), (half, word)| {
                let word = u64::from_le_bytes(*word);
                let folded = word | splat(0x20);
                // With bit 7 set first, subtracting `&` borrows from no other byte, and
                // clears bit 7 exactly when the low seven bits are below `&`.
                let below = !((word | HIGH_BITS) - splat(b'&')) | word;
                let e = exact_zero_bytes(word ^ splat(b'&')) | exact_zero_bytes(word ^ splat(b'#'));
                let u = (below & HIGH_BITS)
                    | exact_zero_bytes(word ^ splat(0x7f))
                    | exact_zero_bytes(folded ^ splat(b'+'))
                    | exact_zero_bytes(folded ^ splat(b'<'))
                    | exact_zero_bytes(folded ^ splat(b'{'));
                (
                    ends | pack(e) << (8 * half),
                    unplain | pack(u) << (8 * half),
                )
            })
    }

    /// [`super::matches`] eight bytes at a time.
    pub(in crate::postback) fn matches<const N: usize>(block: &[u8; 16], set: [u8; N]) -> u32 {
        let (words, _) = block.as_chunks::<8>();
        (0..).zip(words).fold(0, |bits, (half, word)| {
            let word = u64::from_le_bytes(*word);
            let hits = set.iter().fold(0, |hits, &byte| {
                hits | exact_zero_bytes(word ^ (u64::from(byte) * LOW_BITS))
            });
            bits | pack(hits) << (8 * half)
        })
    }

    /// Bit 7 set in exactly the bytes of `word` that are zero: no borrow runs between bytes,
    /// unlike [`super::zero_bytes`], as a mask must be exact.
    const fn exact_zero_bytes(word: u64) -> u64 {
        !(((word & !HIGH_BITS) + !HIGH_BITS) | word) & HIGH_BITS
    }

    /// Bit 7 of byte `i` as bit `i`: each product bit comes from one byte, so none carries.
    const fn pack(flags: u64) -> u32 {
        ((flags >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    }
}
