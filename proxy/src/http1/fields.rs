//! The header fields HAProxy interprets while it parses a head
//! (h1_parse_cont_len_header, h1_parse_xfer_enc_header,
//! h1_parse_connection_header, h1_parse_upgrade_header in src/h1.c of
//! Debian's 2.6.12, which carries the CVE-2023-40225 fix for empty
//! Content-Length values). Request heads and trailer blocks share them.

use super::chars::is_lws;

/// The subset of HAProxy's `h1m->flags` that the head and trailer parsers
/// set (H1_MF_*).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MsgFlags {
    /// H1_MF_CLEN: a Content-Length was indexed.
    pub clen: bool,
    /// H1_MF_XFER_ENC: some Transfer-Encoding header was seen.
    pub xfer_enc: bool,
    /// H1_MF_TE_CHUNKED: "chunked" appeared in Transfer-Encoding.
    pub te_chunked: bool,
    /// H1_MF_CHNK: "chunked" is the last coding seen so far.
    pub chnk: bool,
    /// H1_MF_TE_OTHER: a coding other than "chunked" was seen (422 later).
    pub te_other: bool,
    /// H1_MF_CONN_KAL / H1_MF_CONN_CLO / H1_MF_CONN_UPG.
    pub conn_kal: bool,
    pub conn_clo: bool,
    pub conn_upg: bool,
    /// `conn_clo` set by Transfer-Encoding (beside Content-Length, or in
    /// HTTP/1.0), not by the Connection header.
    pub te_forced_clo: bool,
    /// H1_MF_UPG_WEBSOCKET: the last Upgrade header named websocket.
    pub upg_websocket: bool,
    /// H1_MF_VER_11.
    pub ver_11: bool,
    /// The Content-Length value (h1m->body_len).
    pub body_len: u64,
}

/// http_find_hdr_value_end: the next comma outside a quoted string, or the
/// end. Quoting matters: `"a,b"` is one element for HAProxy.
pub(crate) fn find_value_end(v: &[u8], mut i: usize) -> usize {
    let mut quoted = false;
    let mut qdpair = false;
    while i < v.len() {
        let c = v[i];
        if qdpair {
            qdpair = false;
        } else if quoted {
            if c == b'\\' {
                qdpair = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' {
            return i;
        }
        i += 1;
    }
    v.len()
}

/// Iterate the comma-separated elements of a list header the way HAProxy's
/// Transfer-Encoding, Connection and Upgrade parsers do: skip LWS before an
/// element, cut at the next unquoted comma, trim trailing LWS. Yields the
/// trimmed element and the index of the comma (or the end) after it.
/// An element may be empty (", x"): HAProxy sees one then too.
fn list_words(v: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
    // HAProxy's loop starts with a pre-increment from one before the value
    // and, after an element, resumes on the comma itself, then increments
    // past it. `pos` is that "next byte to look at".
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        while pos < v.len() {
            if is_lws(v[pos]) {
                pos += 1;
                continue;
            }
            let n = find_value_end(v, pos);
            let mut word = &v[pos..n];
            while let [rest @ .., last] = word {
                if !is_lws(*last) {
                    break;
                }
                word = rest;
            }
            // Resume after the comma (HAProxy's `word.ptr = n` then `++`).
            pos = n + 1;
            return Some((word, n));
        }
        None
    })
}

/// What to do with a header occurrence after its value was interpreted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Index it (possibly with a rewritten value).
    Yes,
    /// Drop it silently: a repeated Content-Length, a Connection header left
    /// empty by cleaning, a repeated identical Host.
    No,
}

/// Content-Length (2.6.12 h1_parse_cont_len_header). Every element of every
/// occurrence must be digits and all must be equal; an empty value or an
/// empty element ("2,", ",2", "2,,2") fails, as does anything else.
///
/// HAProxy computes the number in a `long long` and is built with -fwrapv;
/// its overflow checks catch `cl > ULLONG_MAX/10` before a multiplication
/// and a signed wrap on the addition, but not a signed wrap in the
/// multiplication. So 9223372036854775808 (2^63) is refused while
/// 9223372036854775813 or even 18446744073709551616 (taken as 0) are
/// accepted. Reproduced on purpose: verified live against Debian's 2.6.12
/// (see tests), and the lab compares answers byte for byte.
///
/// On success returns the cleaned value to index (the digits of the last
/// element, as HAProxy rewrites "2, 2" to "2" but keeps "002") and whether
/// this occurrence is kept.
pub(crate) fn parse_content_length<'a>(
    flags: &mut MsgFlags,
    value: &'a [u8],
) -> Result<(&'a [u8], Keep), ()> {
    let not_first = flags.clen;
    let e = value.len();
    let mut w = 0usize;
    let mut kept: &[u8];
    loop {
        if w >= e {
            return Err(()); // empty header or empty element
        }
        if is_lws(value[w]) {
            w += 1;
            continue;
        }
        let mut cl: i64 = 0;
        let mut n = w;
        while n < e {
            let c = value[n].wrapping_sub(b'0');
            if c > 9 {
                if n == w {
                    return Err(()); // not a digit where a number starts
                }
                break;
            }
            if (cl as u64) > u64::MAX / 10 {
                return Err(()); // multiply overflow, as HAProxy checks it
            }
            cl = cl.wrapping_mul(10);
            if cl.wrapping_add(i64::from(c)) < cl {
                return Err(()); // addition overflow (signed, -fwrapv)
            }
            cl = cl.wrapping_add(i64::from(c));
            n += 1;
        }
        let word = &value[w..n];
        while n < e {
            if !is_lws(value[n]) {
                if value[n] != b',' {
                    return Err(());
                }
                break;
            }
            n += 1;
        }
        let cl = cl as u64;
        if flags.clen && cl != flags.body_len {
            return Err(()); // differing lengths
        }
        flags.clen = true;
        flags.body_len = cl;
        kept = word;
        if n == e {
            break;
        }
        w = n + 1;
    }
    Ok((kept, if not_first { Keep::No } else { Keep::Yes }))
}

/// Transfer-Encoding (h1_parse_xfer_enc_header of 2.6.12). Errors for a
/// request: "chunked" twice, or any coding after "chunked". Other codings
/// only set `te_other` (answered 422 once the head is complete).
pub(crate) fn parse_transfer_encoding(
    flags: &mut MsgFlags,
    value: &[u8],
    is_response: bool,
) -> Result<(), ()> {
    flags.xfer_enc = true;
    for (word, _) in list_words(value) {
        flags.chnk = false;
        if word.eq_ignore_ascii_case(b"chunked") {
            if flags.te_chunked {
                return Err(()); // RFC 7230 3.3.1: never chunk twice
            }
            flags.te_chunked = true;
            flags.chnk = true;
        } else {
            if !is_response && flags.te_chunked {
                // RFC 7230 3.3.1: in a request chunked must be last.
                return Err(());
            }
            flags.te_other = true;
        }
    }
    Ok(())
}

/// Connection (h1_parse_connection_header). Sets the close/keep-alive/
/// upgrade flags. With `clean` (H1_MF_CLEAN_CONN_HDR, set by mux_h1 for
/// request heads but not for trailers) "close" and "keep-alive" are removed
/// from the value the way HAProxy rewrites it in place: untouched text while
/// nothing was removed yet, then ","-joined trimmed elements. Returns the
/// value to index, empty meaning "drop the header".
pub(crate) fn parse_connection(flags: &mut MsgFlags, value: &[u8], clean: bool) -> Vec<u8> {
    // `out` mirrors HAProxy's value->len growing over the original bytes;
    // `rewritten` tells whether it still is a prefix of the original.
    let mut out: Vec<u8> = Vec::new();
    let mut out_is_prefix = true;
    // p: where HAProxy's `p` points, the end of the previous element.
    let mut p = 0usize;
    for (word, n) in list_words(value) {
        let mut skip = false;
        if word.eq_ignore_ascii_case(b"keep-alive") {
            flags.conn_kal = true;
            skip = clean;
        } else if word.eq_ignore_ascii_case(b"close") {
            flags.conn_clo = true;
            skip = clean;
        } else if word.eq_ignore_ascii_case(b"upgrade") {
            flags.conn_upg = true;
        }
        if clean && !skip {
            if out_is_prefix && out.len() == p {
                // No rewrite done so far: extend over the original text.
                out.clear();
                out.extend_from_slice(&value[..n.min(value.len())]);
            } else {
                out_is_prefix = false;
                if !out.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(word);
            }
        }
        p = n;
    }
    if clean {
        out
    } else {
        value.to_vec()
    }
}

/// The flags of a Connection value only, without the cleaned copy
/// [`parse_connection`] makes (a response head's, read per request).
pub(crate) fn connection_flags(flags: &mut MsgFlags, value: &[u8]) {
    for (word, _) in list_words(value) {
        if word.eq_ignore_ascii_case(b"keep-alive") {
            flags.conn_kal = true;
        } else if word.eq_ignore_ascii_case(b"close") {
            flags.conn_clo = true;
        } else if word.eq_ignore_ascii_case(b"upgrade") {
            flags.conn_upg = true;
        }
    }
}

/// Upgrade (h1_parse_upgrade_header): only "websocket" matters, and each
/// Upgrade header resets the flag, so the last one decides.
pub(crate) fn parse_upgrade(flags: &mut MsgFlags, value: &[u8]) {
    flags.upg_websocket = false;
    for (word, _) in list_words(value) {
        if word.eq_ignore_ascii_case(b"websocket") {
            flags.upg_websocket = true;
        }
    }
}
