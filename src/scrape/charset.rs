//! Bytes → text: which encoding a fetched page is in, and decoding it.
//!
//! Order: the source's `encoding` setting > the `Content-Type` header's charset > a byte-order
//! mark > `<meta charset>` / `<meta http-equiv content="…charset=…">` in the page head >
//! UTF-8 (and, for bytes that are not UTF-8, EUC-KR when they decode cleanly as it: this is a
//! Korean cafeteria bot, and such pages often declare nothing). reqwest's `charset` feature
//! only reads the header, which is why pages are fetched as bytes and decoded here.
//!
//! Pure: no I/O. Labels follow WHATWG through encoding_rs, so `euc-kr` decodes as windows-949.

use encoding_rs::{
    EUC_KR, Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED,
};

/// The meta prescan always looks this far, and further up to `</head>`: some pages (DGU) put
/// ~80 KB of script in the head, and a meta after it still counts.
const PRESCAN_MIN: usize = 4096;

/// Decode a page. `content_type` is the HTTP header (None for `file://`), `forced` the
/// source's `encoding` setting. Never fails: undecodable bytes become U+FFFD.
pub fn decode(
    bytes: &[u8],
    content_type: Option<&str>,
    forced: Option<&'static Encoding>,
) -> (String, &'static Encoding) {
    if let Some(encoding) = forced {
        let (text, _) = encoding.decode_with_bom_removal(bytes);
        return (text.into_owned(), encoding);
    }
    if let Some(text) = lying_legacy_declaration(bytes, content_type) {
        return (text, UTF_8);
    }
    if let Some(encoding) = content_type.and_then(header_charset) {
        let (text, _) = encoding.decode_with_bom_removal(bytes);
        return (text.into_owned(), encoding);
    }
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return (text.into_owned(), encoding);
    }
    if let Some(encoding) = prescan(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        return (text.into_owned(), encoding);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (text.to_string(), UTF_8);
    }
    if let Some(text) = EUC_KR.decode_without_bom_handling_and_without_replacement(bytes) {
        return (text.into_owned(), EUC_KR);
    }
    let (text, _) = UTF_8.decode_without_bom_handling(bytes);
    (text.into_owned(), UTF_8)
}

/// The page's text when its header or `<meta>` declares a legacy (non-UTF-8) charset but the
/// bytes are valid UTF-8 holding non-ASCII text: a page saved from a browser often keeps its
/// old `<meta charset=euc-kr>`, and real EUC-KR text is almost never valid UTF-8.
fn lying_legacy_declaration(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    let declared = content_type
        .and_then(header_charset)
        .or_else(|| prescan(bytes))?;
    if declared == UTF_8 || Encoding::for_bom(bytes).is_some() || bytes.is_ascii() {
        return None;
    }
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

/// What [`decode`] will say about a page's declared charset, for `--explain`: `Some` when a
/// legacy declaration was overruled because the bytes are UTF-8.
pub fn overruled_declaration(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    let declared = content_type
        .and_then(header_charset)
        .or_else(|| prescan(bytes))?;
    lying_legacy_declaration(bytes, content_type).map(|_| {
        format!(
            "the page declares {} but its bytes are valid UTF-8 with non-ASCII text: read as UTF-8",
            declared.name()
        )
    })
}

/// The encoding named by a `Content-Type` header's `charset` parameter, if it names one.
pub(super) fn header_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        Encoding::for_label(value.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

/// The encoding a `<meta>` in the page head declares: the first one found in the first
/// [`PRESCAN_MIN`] bytes or before `</head>`, skipping comments.
pub(super) fn prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    let head_end = find_ci(bytes, b"</head").unwrap_or(0);
    let end = head_end.max(PRESCAN_MIN).min(bytes.len());
    let mut i = 0;
    while i < end {
        let Some(lt) = bytes[i..end].iter().position(|&b| b == b'<') else {
            break;
        };
        i += lt;
        let rest = &bytes[i..];
        if rest.starts_with(b"<!--") {
            i += find_ci(rest, b"-->").map_or(rest.len(), |p| p + 3);
            continue;
        }
        let is_meta = rest.len() > 5
            && rest[..5].eq_ignore_ascii_case(b"<meta")
            && (rest[5].is_ascii_whitespace() || rest[5] == b'/');
        if is_meta {
            let tag_end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
            if let Some(encoding) = meta_charset(&rest[..tag_end]) {
                return Some(encoding);
            }
            i += tag_end;
            continue;
        }
        i += 1;
    }
    None
}

/// The charset in one `<meta …>` tag: `charset=x` as an attribute or inside `content`.
fn meta_charset(tag: &[u8]) -> Option<&'static Encoding> {
    let mut from = 0;
    while let Some(at) = find_ci(&tag[from..], b"charset") {
        let mut j = from + at + b"charset".len();
        from = j;
        while tag.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if tag.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while tag
            .get(j)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
        {
            j += 1;
        }
        let len = tag[j..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
            .count();
        let Some(encoding) = Encoding::for_label(&tag[j..j + len]) else {
            continue;
        };
        // WHATWG: a meta cannot switch a page to UTF-16 (it would not have been readable as
        // ASCII to begin with), and x-user-defined means windows-1252 there.
        return match encoding {
            e if e == UTF_16BE || e == UTF_16LE => Some(UTF_8),
            e if e == X_USER_DEFINED => Some(WINDOWS_1252),
            e if e == REPLACEMENT => None,
            e => Some(e),
        };
    }
    None
}

/// Position of `needle` in `haystack`, ASCII case-insensitive.
fn find_ci(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KOREAN: &str = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=euc-kr\"></head><body>중식 김치찌개</body></html>";

    fn euc_kr(text: &str) -> Vec<u8> {
        EUC_KR.encode(text).0.into_owned()
    }

    #[test]
    fn an_euc_kr_page_with_no_header_charset_is_decoded_by_its_http_equiv_meta() {
        let (text, encoding) = decode(&euc_kr(KOREAN), Some("text/html"), None);
        assert_eq!(encoding, EUC_KR);
        assert_eq!(text, KOREAN);
    }

    #[test]
    fn meta_charset_attribute_is_found_and_quotes_and_case_do_not_matter() {
        assert_eq!(
            prescan(b"<!doctype html><META CHARSET='UTF-8'>"),
            Some(UTF_8)
        );
        assert_eq!(prescan(b"<meta charset=euc-kr/>"), Some(EUC_KR));
        assert_eq!(
            prescan(b"<meta name=\"viewport\" content=\"width=device-width\"><p>"),
            None
        );
    }

    #[test]
    fn a_meta_after_a_long_script_in_the_head_is_still_found() {
        let mut page = b"<html><head><script>".to_vec();
        page.extend(std::iter::repeat_n(b'x', 80_000));
        page.extend(b"</script><meta charset=\"euc-kr\"></head><body>");
        assert_eq!(prescan(&page), Some(EUC_KR));
    }

    #[test]
    fn a_meta_in_the_body_of_a_long_page_is_not_read() {
        let mut page = b"<html><head></head><body>".to_vec();
        page.extend(std::iter::repeat_n(b'x', 10_000));
        page.extend(b"<meta charset=\"euc-kr\">");
        assert_eq!(prescan(&page), None);
    }

    #[test]
    fn a_commented_out_meta_is_ignored() {
        assert_eq!(
            prescan(b"<!-- <meta charset=euc-kr> --><meta charset=utf-8>"),
            Some(UTF_8)
        );
    }

    #[test]
    fn a_meta_naming_utf_16_means_utf_8() {
        assert_eq!(prescan(b"<meta charset=utf-16le>"), Some(UTF_8));
    }

    #[test]
    fn the_setting_beats_the_header_and_the_header_beats_the_meta() {
        let bytes = euc_kr(KOREAN);
        let (_, by_setting) = decode(&bytes, Some("text/html; charset=utf-8"), Some(EUC_KR));
        assert_eq!(by_setting, EUC_KR);
        let (_, by_header) = decode(
            b"<meta charset=euc-kr>",
            Some("text/html; charset=\"UTF-8\""),
            None,
        );
        assert_eq!(by_header, UTF_8);
    }

    #[test]
    fn a_byte_order_mark_beats_the_meta_and_is_not_part_of_the_text() {
        let (text, encoding) = decode(b"\xEF\xBB\xBF<meta charset=euc-kr>ok", None, None);
        assert_eq!(encoding, UTF_8);
        assert_eq!(text, "<meta charset=euc-kr>ok");
    }

    #[test]
    fn undeclared_pages_are_utf_8_or_else_clean_euc_kr() {
        assert_eq!(
            decode("<p>김치</p>".as_bytes(), None, None),
            ("<p>김치</p>".to_string(), UTF_8)
        );
        let (text, encoding) = decode(&euc_kr("<p>김치찌개</p>"), None, None);
        assert_eq!((text.as_str(), encoding), ("<p>김치찌개</p>", EUC_KR));
    }

    #[test]
    fn header_charset_reads_only_the_charset_parameter() {
        assert_eq!(header_charset("text/html; charset=EUC-KR"), Some(EUC_KR));
        assert_eq!(header_charset("text/html"), None);
        assert_eq!(
            header_charset("text/html; boundary=x; charset='utf-8'"),
            Some(UTF_8)
        );
        assert_eq!(header_charset("text/html; charset=klingon"), None);
    }
}
