//! Unit tests of the one query reader: locating, splitting, decoding.

use std::borrow::Cow;

use super::{
    Plus, bad_escape, block_masks, block_masks_naive, decode, is_unplain, locate, pairs,
    query_pairs, query_start, request_pairs,
};

/// The pairs of `target`'s query as `name=value` text, or the offset of a missing host.
fn query(target: &str) -> Result<String, usize> {
    let located = locate(target.as_bytes()).map_err(|e| e.at)?;
    let text: Vec<String> = request_pairs(target.as_bytes(), &located, None)
        .map(|pair| {
            format!(
                "{}={}",
                String::from_utf8_lossy(pair.name),
                String::from_utf8_lossy(pair.value)
            )
        })
        .collect();
    Ok(text.join("&"))
}

#[test]
fn the_query_is_found_in_each_shape() {
    for (target, want) in [
        ("https://h.example/p?a=1#f", "a=1"),
        ("https://h.example?a=1", "a=1"),
        ("HTTP+x.y-z://h/p?a=1", "a=1"),
        ("/postback?a=1&b=2", "a=1&b=2"),
        ("/postback#x?a=1", ""),
        ("/postback", ""),
        ("?a=1", "a=1"),
        ("gpb.php?subid=1", "subid=1"),
        ("a=1&u=https://x/?y=z", "a=1&u=https://x/?y=z"),
        ("a&=b&c=d=e", "a=&=b&c=d=e"),
        ("a=1?&b", "a=1?&b="),
        // The bypass shape: a bare target with `=` before its `?` is one bare query, so a
        // prefix before the `?` is read by everyone or by no one.
        (
            "click_id=A&txid=F&?click_id=A&sig=x",
            "click_id=A&txid=F&?click_id=A&sig=x",
        ),
        ("subid=B&?subid=A", "subid=B&?subid=A"),
        ("a=1#b=2", "a=1"),
    ] {
        assert_eq!(query(target).as_deref(), Ok(want), "{target}");
    }
    assert_eq!(query("https:///p?a=1"), Err(8));
    assert_eq!(query("https://?a=1"), Err(8));
    assert_eq!(query("https://#a=1"), Err(8));
}

#[test]
fn path_and_fragment_are_found_too() {
    let located = locate(b"https://h.example/a/b?x=1#y=2").unwrap();
    assert_eq!(
        (located.path, located.query, located.fragment),
        (17..21, Some(22..25), Some(26..29))
    );
    let bare = locate(b"x=1#y").unwrap();
    assert_eq!(
        (bare.path, bare.query, bare.fragment),
        (0..0, Some(0..3), Some(4..5))
    );
    assert_eq!(locate(b"").unwrap().query, None);
}

#[test]
fn decode_leaves_broken_escapes_alone_and_bad_escape_finds_them() {
    type Case = (&'static [u8], Plus, &'static [u8], Option<usize>);
    let cases: [Case; 9] = [
        (b"abc", Plus::Space, b"abc", None),
        (b"a+b", Plus::Space, b"a b", None),
        (b"a+b", Plus::Literal, b"a+b", None),
        (b"%41%2b%2B", Plus::Space, b"A++", None),
        (b"%", Plus::Space, b"%", Some(0)),
        (b"%4", Plus::Space, b"%4", Some(0)),
        (b"%zz%41", Plus::Space, b"%zzA", Some(0)),
        (b"%%41", Plus::Space, b"%A", Some(0)),
        (b"a%2541%g", Plus::Space, b"a%41%g", Some(6)),
    ];
    for (raw, plus, want, bad) in cases {
        let text = String::from_utf8_lossy(raw);
        assert_eq!(&*decode(raw, plus), want, "{text}");
        assert_eq!(bad_escape(raw), bad, "{text}");
    }
    assert!(matches!(decode(b"plain", Plus::Space), Cow::Borrowed(_)));
}

#[test]
fn pairs_walk_query_then_body_with_offsets() {
    let target = b"/p?a=1&&b&=x&c==2";
    let located = locate(target).unwrap();
    let got: Vec<(&[u8], &[u8], usize)> = request_pairs(target, &located, Some(b"d=4&"))
        .map(|pair| (pair.name, pair.value, pair.value_at))
        .collect();
    let want: [(&[u8], &[u8], usize); 7] = [
        (b"a", b"1", 5),
        (b"", b"", 7),
        (b"b", b"", 9),
        (b"", b"x", 11),
        (b"c", b"=2", 15),
        (b"d", b"4", 2),
        (b"", b"", 4),
    ];
    assert_eq!(got, want);
}

#[test]
fn encoded_names_are_decoded_and_trimmed() {
    let named = |text: &'static [u8]| pairs(text, 0..text.len()).next().unwrap();
    assert_eq!(
        named(b"%74oken=x").decoded_name().as_deref(),
        Some(&b"token"[..])
    );
    assert_eq!(
        named(b"+token+=x").decoded_name().as_deref(),
        Some(&b"token"[..])
    );
    assert_eq!(named(b"token=x").decoded_name(), None);
    assert_eq!(named(b"%zzoken=x").decoded_name(), None);
    assert!(named(b"t%6Fken=x").name_is(b"token"));
    assert!(!named(b"Token=x").name_is(b"token"));
}

proptest::proptest! {
    /// The split is the obvious byte-by-byte split at `&` and each piece's first `=`, with
    /// offsets into the text, for any range.
    #[test]
    fn pairs_split_as_the_obvious_split_does(
        input in proptest::collection::vec(proptest::sample::select(b"ab=&#%\0\xff+{ ".to_vec()), 0..200),
        start in 0usize..202,
        end in 0usize..202,
    ) {
        let got: Vec<(&[u8], &[u8], usize, bool)> = pairs(&input, start..end)
            .map(|pair| (pair.name, pair.value, pair.value_at, pair.plain))
            .collect();
        let mut want = Vec::new();
        if let Some(rest) = input.get(start..end.min(input.len())).filter(|rest| !rest.is_empty()) {
            let mut offset = start;
            for piece in rest.split(|&b| b == b'&') {
                let plain = !piece.iter().any(|&b| is_unplain(b));
                want.push(match piece.iter().position(|&b| b == b'=') {
                    Some(eq) => (&piece[..eq], &piece[eq + 1..], offset + eq + 1, plain),
                    None => (piece, &piece[piece.len()..], offset + piece.len(), plain),
                });
                offset += piece.len() + 1;
            }
        }
        proptest::prop_assert_eq!(got, want);
    }
}

proptest::proptest! {
    /// The block masks say, bit for bit, what the byte-by-byte classification says.
    #[test]
    fn block_masks_are_the_naive_masks(block in proptest::array::uniform16(proptest::num::u8::ANY)) {
        proptest::prop_assert_eq!(block_masks(&block), block_masks_naive(&block));
    }
}

/// Every byte value in every lane.
#[test]
fn every_byte_in_every_lane_is_classed() {
    for byte in 0..=u8::MAX {
        for lane in 0..16 {
            let mut block = [b'a'; 16];
            block[lane] = byte;
            let want = super::Masks {
                ampersands: u64::from(byte == b'&') << lane,
                unplain: u64::from(is_unplain(byte)) << lane,
                hashes: u64::from(byte == b'#') << lane,
            };
            assert_eq!(block_masks(&block), want, "{byte:#04x} in lane {lane}");
            assert_eq!(
                block_masks_naive(&block),
                want,
                "{byte:#04x} in lane {lane}"
            );
        }
    }
}

proptest::proptest! {
    /// A target's pairs found in one pass ([`query_pairs`], which stops at the first `#`) are
    /// the pairs of the query [`locate`] finds: the parser and the guard read the same.
    #[test]
    fn query_pairs_are_the_pairs_of_the_located_query(
        target in "(https://h\\.example|/p|p|)(\\?|#|)[a-z=&#%?]{0,150}",
    ) {
        let bytes = target.as_bytes();
        let located = locate(bytes);
        let start = query_start(bytes);
        proptest::prop_assert_eq!(located.is_err(), start.is_err());
        if let (Ok(located), Ok(start)) = (located, start) {
            let one_pass: Vec<_> = query_pairs(bytes, start.query.unwrap_or(bytes.len())).collect();
            let located: Vec<_> = pairs(bytes, located.query.unwrap_or(0..0)).collect();
            proptest::prop_assert_eq!(one_pass, located, "{}", target);
        }
    }
}
