//! HAProxy's HTTP character classes (`http_char_classes` in src/http.c).
//!
//! The parser decides everything byte by byte from these classes, so they
//! are copied as sets, not approximated: a byte HAProxy calls a token must be
//! a token here, or a request it accepts would be refused.

/// tchar (RFC 7230): what a method or a header name is made of
/// (HTTP_FLG_TOK).
pub(crate) fn is_token(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~'
        | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z')
}

/// What HAProxy lets through while it scans a version ("HTTP/1.1"):
/// digits, upper-case letters, '.' and '/' (HTTP_FLG_VER). Lower case is not
/// in it, which is why "http/1.1" fails at the first byte.
pub(crate) fn is_ver_token(b: u8) -> bool {
    matches!(b, b'.' | b'/' | b'0'..=b'9' | b'A'..=b'Z')
}

/// Space or horizontal tab (HTTP_FLG_SPHT).
pub(crate) fn is_spht(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// CR or LF (HTTP_FLG_CRLF).
pub(crate) fn is_crlf(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// Linear white space as HAProxy trims it: SP, HT, CR, LF (HTTP_FLG_LWS).
pub(crate) fn is_lws(b: u8) -> bool {
    is_spht(b) || is_crlf(b)
}

/// hex2i / h1_htx.c's hextable: the value of a hex digit of either case.
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strip LWS on both ends, as h1_headers_to_hdr_list does with a value.
pub(crate) fn trim_lws(mut v: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = v {
        if !is_lws(*first) {
            break;
        }
        v = rest;
    }
    while let [rest @ .., last] = v {
        if !is_lws(*last) {
            break;
        }
        v = rest;
    }
    v
}
