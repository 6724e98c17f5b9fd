//! Unit tests of the private helpers: macro finding, decoding, query location.

use super::{
    Segment, Shape, class, decode, find_macro, for_each_segment, query_start, scan, still_encoded,
};

/// The fast path's "not plain" is the general path's "needs a closer look": a byte to decode
/// (`%`, `+`), trim, check as UTF-8 or suspect as a macro, a control byte, or `"`.
#[test]
fn unplain_bytes_are_the_ones_the_general_path_looks_at() {
    let slow = class::ENC | class::WIDE | class::SPACE | class::MACRO | class::CTRL;
    for byte in 0..=u8::MAX {
        let general = class::TABLE[usize::from(byte)] & slow != 0 || byte == b'"';
        assert_eq!(scan::is_unplain(byte), general, "{byte:#04x}");
    }
}

/// The fast path judges a field's whole segment, name included: every built-in profile's
/// names are plain, so none of them sends its postbacks to the general path for that.
#[test]
fn built_in_names_are_plain() {
    for name in crate::Profile::BUILTIN_NAMES {
        let profile = crate::Profile::builtin(name).unwrap();
        for field in super::Field::ALL {
            for param in profile.field_params(field) {
                assert!(
                    !param.bytes().any(scan::is_unplain),
                    "{name}: {param} is not plain"
                );
            }
        }
    }
}

/// Every byte value in every lane of a block, through both mask implementations.
#[test]
fn every_byte_in_every_lane_is_classed() {
    for byte in 0..=u8::MAX {
        for lane in 0..16 {
            let mut block = [b'a'; 16];
            block[lane] = byte;
            let want = (
                u32::from(scan::is_end(byte)) << lane,
                u32::from(scan::is_unplain(byte)) << lane,
            );
            assert_eq!(scan::classes(&block), want, "{byte:#04x} in lane {lane}");
            assert_eq!(
                scan::swar::classes(&block),
                want,
                "{byte:#04x} in lane {lane}"
            );
        }
    }
}

#[test]
fn finds_every_dialect() {
    for (text, want) in [
        ("{subid}", "{subid}"),
        ("x{{clickid}}y", "{{clickid}}"),
        (
            "{_date:Y-m-d H:i:s,Europe/Kyiv}",
            "{_date:Y-m-d H:i:s,Europe/Kyiv}",
        ),
        ("a${SUBID}", "${SUBID}"),
        ("#s2#", "#s2#"),
        ("[subid]", "[subid]"),
        ("[[subid]]", "[[subid]]"),
        ("[[[payment_sum]]]", "[[[payment_sum]]]"),
        ("!!!clickRef!!!", "!!!clickRef!!!"),
        ("%TRANSACTION_ID%", "%TRANSACTION_ID%"),
        ("<orderid>", "<orderid>"),
        ("REPLACE", "REPLACE"),
        ("OPTIONAL", "OPTIONAL"),
        ("{sub-5}", "{sub-5}"),
    ] {
        let (s, e) = find_macro(text).unwrap_or_else(|| panic!("no macro in {text}"));
        assert_eq!(&text[s..e], want, "{text}");
    }
}

#[test]
fn plain_values_are_not_macros() {
    for text in [
        "abc", "TX-99812", "50%off%", "a{", "{}", "{1}", "#123#", "[]", "!!x!!", "replace", "<>",
        "a<b",
    ] {
        assert_eq!(find_macro(text), None, "{text}");
    }
}

#[test]
fn decode_borrows_plain_values_and_trims() {
    assert!(matches!(
        decode(b" abc "),
        Ok(std::borrow::Cow::Borrowed("abc"))
    ));
    assert_eq!(decode(b"a+b%20c").ok().as_deref(), Some("a b c"));
    assert_eq!(decode(b"abc%2520def").ok().as_deref(), Some("abc%20def"));
    assert!(still_encoded("abc%20def"));
    assert_eq!(decode(b"ab%zz").err().map(|e| e.at), Some(2));
    assert_eq!(decode(b"ab%F").err().map(|e| e.at), Some(2));
    assert_eq!(decode(b"a%20%FF").err().map(|e| e.at), Some(4));
}

/// Every segment the scan visits, in order.
fn segments(input: &[u8], start: usize, shape: Shape) -> Vec<Segment<'_>> {
    let mut all = Vec::new();
    let _ = for_each_segment(input, start, shape, |seg| {
        all.push(seg);
        std::ops::ControlFlow::<()>::Continue(())
    });
    all
}

#[test]
fn query_is_found_in_each_shape() {
    fn query(s: &str) -> Result<String, crate::ParsePostbackError> {
        let start = query_start(s.as_bytes(), Shape::Detect)?;
        let segs: Vec<String> = segments(s.as_bytes(), start, Shape::Detect)
            .iter()
            .map(|seg| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(seg.key),
                    String::from_utf8_lossy(seg.value)
                )
            })
            .collect();
        Ok(segs.join("&"))
    }
    assert_eq!(
        query("https://h.example/p?a=1#f").ok().as_deref(),
        Some("a=1")
    );
    assert_eq!(query("https://h.example?a=1").ok().as_deref(), Some("a=1"));
    assert_eq!(query("/postback?a=1&b=2").ok().as_deref(), Some("a=1&b=2"));
    assert_eq!(query("/postback#x?a=1").ok().as_deref(), Some(""));
    assert_eq!(query("?a=1").ok().as_deref(), Some("a=1"));
    assert_eq!(
        query("a=1&u=https://x/?y=z").ok().as_deref(),
        Some("a=1&u=https://x/?y=z")
    );
    assert_eq!(query("a&=b&c=d=e").ok().as_deref(), Some("a=&=b&c=d=e"));
    assert_eq!(query("gpb.php?subid=1").ok().as_deref(), Some("subid=1"));
    assert_eq!(query("a=1?&b").ok().as_deref(), Some("a=1?&b="));
    assert!(query("https:///p?a=1").is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Bytes that are UTF-8 parse exactly as the same text does.
    #[test]
    fn parse_bytes_agrees_with_parse_on_text(
        input in "(https://t\\.example/pb\\?|/pb\\?|\\?)?((click_id|click_idx|clic|cl%69ck_id|status|st|s%74atus|st\\+|t%78id|go%61l|payout|currency|txid|t|txidx| txid|goal|approved_status|approved_stat|x)(=[a-zA-Z0-9%{}#.é +]{0,8})?&?){0,6}",
    ) {
        let parser = super::Parser::generic();
        proptest::prop_assert_eq!(parser.parse_bytes(input.as_bytes()), parser.parse(&input));
    }

    /// Announcing the click id changes no result; the announcement comes at most once, and on
    /// every input the fast path takes it names the click id the parse returns.
    #[test]
    fn announcing_the_click_id_changes_nothing(
        input in "(/pb\\?)?((click_id|status|payout|txid|x)(=[a-zA-Z0-9%{}#.+]{0,8})?&?){0,5}",
    ) {
        let parser = super::Parser::generic();
        let mut heard = Vec::new();
        let announced = parser.parse_announcing(&input, |id| heard.push(id.to_owned()));
        proptest::prop_assert_eq!(&announced, &parser.parse(&input));
        proptest::prop_assert!(heard.len() <= 1, "{heard:?}");
        let fast = super::parse_plain(parser.profile(), parser.limits(), &input, super::query_start(input.as_bytes(), Shape::Detect).unwrap_or(0), |_| {});
        if let Some(postback) = fast {
            proptest::prop_assert_eq!(heard, vec![postback.click_id().to_owned()]);
        }
    }

    /// The fast path takes plain values; the keys around them decide whether it may: keys that
    /// begin or end like a name, encoded names, names without a value.
    #[test]
    fn keys_next_to_plain_values_parse_as_the_general_path_does(
        keys in proptest::collection::vec("click_id|click_idx|clic|cl%69ck_id|status|st|st\\+|t%78id|tx%69d|go%61l|txid|t|txidx|txid |goal|goals|approved_status|approved_stat|currency|x|%74xid", 0..6),
        values in proptest::collection::vec("(=[a-zA-Z0-9.]{0,8})?", 6),
    ) {
        let mut input = String::from("/pb?click_id=abc");
        for (key, value) in keys.iter().zip(&values) {
            input.push('&');
            input.push_str(key);
            input.push_str(value);
        }
        let parser = super::Parser::generic();
        proptest::prop_assert_eq!(parser.parse_bytes(input.as_bytes()), parser.parse(&input));
    }

    /// Cake's one-byte names (`r`, `p`, `t`, `e`): a key of one byte is followed by `=`, or
    /// by `&`, `#` or the end when it has no value, and the fast path must see all four.
    #[test]
    fn one_byte_names_parse_as_the_general_path_does(
        keys in proptest::collection::vec("r|p|t|e|rr|re|pe|tx|e%20|%72|x", 1..6),
        values in proptest::collection::vec("(=[a-z0-9.]{0,6})?", 6),
        end in "|#|#x",
    ) {
        let mut input = String::from("/postback?");
        for (i, (key, value)) in keys.iter().zip(&values).enumerate() {
            if i > 0 {
                input.push('&');
            }
            input.push_str(key);
            input.push_str(value);
        }
        input.push_str(&end);
        let parser = super::Parser::builtin("cake").unwrap();
        proptest::prop_assert_eq!(parser.parse_bytes(input.as_bytes()), parser.parse(&input));
    }

    /// The chunked scan ends each segment where a byte-by-byte search does, across chunk
    /// boundaries and the query's last short chunk, and calls a segment plain exactly when no
    /// byte of it is unplain.
    #[test]
    fn chunks_end_segments_as_a_byte_scan_does(
        input in proptest::collection::vec(proptest::prop_oneof![6 => 0x27u8..0x7f, 1 => proptest::num::u8::ANY, 3 => proptest::sample::select(b"&&#\"%+{[<!$ ".to_vec())], 0..200),
        start in 0usize..200,
    ) {
        let start = start.min(input.len());
        let mut chunks = scan::Chunks::new(&input, start);
        let mut at = start;
        loop {
            let want = input[at..].iter().position(|&b| scan::is_end(b)).map_or(input.len(), |len| at + len);
            let plain = !input[at..want].iter().any(|&b| scan::is_unplain(b));
            proptest::prop_assert_eq!(chunks.next_end(), (want, plain), "segment at {}", at);
            if want == input.len() {
                break;
            }
            at = want + 1;
        }
    }

    /// Sixteen bytes from any offset, NUL past the end.
    #[test]
    fn key_words_read_sixteen_bytes_padded_with_nul(
        input in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        at in 0usize..42,
    ) {
        let mut want = [0u8; 16];
        for (to, from) in want.iter_mut().zip(input.iter().skip(at)) {
            *to = *from;
        }
        let want = (at < input.len()).then(|| [
            u64::from_le_bytes(want[..8].try_into().unwrap()),
            u64::from_le_bytes(want[8..].try_into().unwrap()),
        ]);
        proptest::prop_assert_eq!(scan::key_words(&input, at), want);
    }

    /// Both implementations of a block's matches of a set find exactly its bytes.
    #[test]
    fn block_matches_are_exact(
        block in proptest::array::uniform16(proptest::sample::select(b"?#=&a\0\x80\xff\x3e\x40".to_vec())),
    ) {
        let set = [b'?', b'#', b'='];
        let want = block.iter().enumerate().fold(0u32, |bits, (i, b)| bits | u32::from(set.contains(b)) << i);
        proptest::prop_assert_eq!(scan::matches(&block, set), want);
        proptest::prop_assert_eq!(scan::swar::matches(&block, set), want);
    }

    /// Both mask implementations hold to the byte rules on any block.
    #[test]
    fn block_masks_hold_to_the_byte_rules(block in proptest::array::uniform16(proptest::num::u8::ANY)) {
        let bits = |rule: fn(u8) -> bool| {
            block.iter().enumerate().fold(0u32, |bits, (i, &b)| bits | u32::from(rule(b)) << i)
        };
        let want = (bits(scan::is_end), bits(scan::is_unplain));
        proptest::prop_assert_eq!(scan::classes(&block), want);
        proptest::prop_assert_eq!(scan::swar::classes(&block), want);
    }

    /// The word-at-a-time search finds the first byte of the set, as a plain search does.
    #[test]
    fn find_any_finds_the_first_of_the_set(
        hay in proptest::collection::vec(proptest::sample::select(b"ab?#/\0\x01\x3e\x40\xff".to_vec()), 0..40),
    ) {
        let want = hay.iter().position(|b| b"?#/".contains(b)).unwrap_or(hay.len());
        proptest::prop_assert_eq!(super::find_any(&hay, [b'?', b'#', b'/']), want);
    }

    /// The word-at-a-time scan splits exactly as the obvious byte-by-byte split does, at any
    /// start offset and wherever the delimiters fall relative to the eight-byte words.
    #[test]
    fn segments_split_as_the_obvious_split_does(
        input in proptest::collection::vec(proptest::sample::select(b"ab=&#%\0\xff".to_vec()), 0..40),
        start in 0usize..42,
        form in proptest::bool::ANY,
    ) {
        let shape = if form { Shape::Form } else { Shape::Detect };
        let got: Vec<(&[u8], &[u8], usize)> = segments(&input, start, shape)
            .into_iter()
            .map(|seg| (seg.key, seg.value, seg.at))
            .collect();
        let mut want = Vec::new();
        if let Some(rest) = input.get(start..).filter(|rest| !rest.is_empty()) {
            let end = if form { rest.len() } else { rest.iter().position(|&b| b == b'#').unwrap_or(rest.len()) };
            let mut offset = start;
            for piece in rest[..end].split(|&b| b == b'&') {
                let (key, value, at) = match piece.iter().position(|&b| b == b'=') {
                    Some(eq) => (&piece[..eq], &piece[eq + 1..], offset + eq + 1),
                    None => (piece, &piece[piece.len()..], offset + piece.len()),
                };
                want.push((key, value, at));
                offset += piece.len() + 1;
            }
        }
        proptest::prop_assert_eq!(got, want);
    }
}

#[test]
fn parse_bytes_reports_invalid_utf8_where_it_is_read() {
    let parser = super::Parser::generic();
    let ok = parser.parse_bytes(b"https://t.example/pb?x=\xff\xfe&click_id=abc&status=approved");
    assert_eq!(ok.map(|pb| pb.click_id().to_owned()), Ok("abc".to_owned()));

    let err = parser
        .parse_bytes(b"/pb?status=approved&click_id=ab\xffc")
        .unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert_eq!(err.param(), Some("click_id"));
    assert_eq!(err.at(), Some(31));
    assert_eq!(
        err.to_string(),
        "malformed `click_id` at byte 31: the decoded value is not UTF-8: check the sender's character encoding"
    );
}
