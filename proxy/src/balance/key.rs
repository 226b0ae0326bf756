//! What each hash algorithm reads from a request, cut exactly where HAProxy
//! cuts it (backend.c: get_server_sh/uh/ph/hh/rch; http.c: the URI parser
//! and http_find_hdr_value_end; payload.c: fetch_rdp_cookie_name).
//! Everything works on borrowed slices: no allocation per request.

use std::net::IpAddr;

/// get_server_sh: the address XORed as big-endian 32-bit words (one word
/// for IPv4, four for IPv6), whatever the hash function.
pub(crate) fn source(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => a
            .octets()
            .chunks_exact(4)
            .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    }
}

/// The path of a request target as http_parse_path finds it (with the
/// query): the target itself in origin form; after the scheme and
/// authority in absolute form; empty for `*`, authority form, or an
/// absolute form without a path.
pub(crate) fn path(uri: &[u8]) -> &[u8] {
    match uri.first() {
        None | Some(b'*') => return &[],
        Some(b'/') => return uri,
        Some(c) if !c.is_ascii_alphabetic() => return &[],
        Some(_) => {}
    }
    // http_parse_scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) "://"
    let mut p = 1;
    while p < uri.len() && (uri[p].is_ascii_alphanumeric() || matches!(uri[p], b'+' | b'-' | b'.'))
    {
        p += 1;
    }
    if uri.get(p..p + 3) != Some(b"://".as_slice()) {
        return &[];
    }
    p += 3;
    // http_parse_authority: up to the first '/'.
    match uri[p..].iter().position(|&c| c == b'/') {
        Some(at) => &uri[p + at..],
        None => &[],
    }
}

/// get_server_uh's key: at most `len` bytes (0: no limit) of the target (or
/// of its path with `path_only`), ending before the (`depth`+1)-th slash
/// (depth 0: no limit) and before the `?` unless `whole`.
pub(crate) fn uri(target: &[u8], len: u32, depth: u32, whole: bool, path_only: bool) -> &[u8] {
    let mut uri = if path_only { path(target) } else { target };
    if len > 0 && (len as usize) < uri.len() {
        uri = &uri[..len as usize];
    }
    // HAProxy stores depth + 1 and stops on that slash.
    let stop = if depth > 0 { u64::from(depth) + 1 } else { 0 };
    let mut slashes = 0u64;
    let mut end = 0;
    for &c in uri {
        if c == b'/' {
            slashes += 1;
            if slashes == stop {
                break;
            }
        } else if c == b'?' && !whole {
            break;
        }
        end += 1;
    }
    &uri[..end]
}

/// get_server_ph: the raw value of the first `name=` parameter of the query
/// (names compared case-sensitively, only at the start of a parameter); an
/// empty value counts as found.
pub(crate) fn url_param<'a>(target: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let q = target.iter().position(|&c| c == b'?')?;
    let mut params = &target[q + 1..];
    let plen = name.len();
    while params.len() > plen {
        if params[plen] == b'=' && &params[..plen] == name {
            let value = &params[plen + 1..];
            let end = value.iter().position(|&c| c == b'&').unwrap_or(value.len());
            return Some(&value[..end]);
        }
        let amp = params.iter().position(|&c| c == b'&')?;
        params = &params[amp + 1..];
    }
    None
}

/// HTTP_IS_LWS: space, tab, CR, LF.
fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// What http_find_header (without the "full" flag) yields for a header
/// value: its first comma-separated element (commas inside double quotes
/// do not count), without surrounding whitespace.
pub(crate) fn first_element(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&c| !is_lws(c))
        .unwrap_or(value.len());
    let v = &value[start..];
    let (mut quoted, mut qdpair) = (false, false);
    let mut end = v.len();
    for (i, &c) in v.iter().enumerate() {
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
            end = i;
            break;
        }
    }
    let mut v = &v[..end];
    while let [rest @ .., last] = v {
        if !is_lws(*last) {
            break;
        }
        v = rest;
    }
    v
}

/// get_server_hh's `use_domain_only`: scanning back from the end, the label
/// before the last dot (so "www.example.com" gives "example"; no dot: the
/// whole value).
///
/// HAProxy's scan for that last dot starts one byte *past* the value and
/// never looks at its first byte; the byte past the value is whatever
/// follows it in HAProxy's buffer (a comma, a space, or the next header's
/// name), taken here as not a dot.
pub(crate) fn domain_only(value: &[u8]) -> &[u8] {
    let mut p = value.len();
    let mut end = value.len();
    let mut dohash = false;
    while p > 0 {
        if dohash {
            if value[p - 1] == b'.' {
                break;
            }
        } else if p < value.len() && value[p] == b'.' {
            end = p;
            dohash = true;
        }
        p -= 1;
    }
    &value[p..end]
}

/// fetch_rdp_cookie_name: the value of `Cookie: <name>=<value>\r\n` found
/// 11 bytes into the stream (after the TPKT and X.224 headers). The name
/// is compared case-insensitively; an empty name takes any cookie. None
/// when absent, malformed or not complete yet (HAProxy falls back then).
pub(crate) fn rdp_cookie<'a>(payload: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    if payload.len() <= 11 {
        return None;
    }
    let mut d = &payload[11..];
    if d.len() <= 7 || !d[..7].eq_ignore_ascii_case(b"Cookie:") {
        return None;
    }
    d = &d[7..];
    let spaces = d.iter().take_while(|&&c| c == b' ').count();
    d = &d[spaces..];
    if !name.is_empty() {
        if d.len() <= name.len() || d[name.len()] != b'=' || !strncasecmp_eq(name, &d[..name.len()])
        {
            return None;
        }
        d = &d[name.len() + 1..];
    } else {
        let eq = d
            .iter()
            .position(|&c| c == b'=' || c == b'\r' || c == b'\n')?;
        if d[eq] != b'=' {
            return None;
        }
        d = &d[eq + 1..];
    }
    let cr = d.iter().position(|&c| c == b'\r')?;
    if d.len() - cr < 2 || d[cr + 1] != b'\n' {
        return None;
    }
    Some(&d[..cr])
}

/// strncasecmp(a, b, n) == 0 for two n-byte strings: equal ignoring ASCII
/// case, or equal up to a NUL present at the same place in both.
fn strncasecmp_eq(a: &[u8], b: &[u8]) -> bool {
    for (&x, &y) in a.iter().zip(b) {
        if !x.eq_ignore_ascii_case(&y) {
            return false;
        }
        if x == 0 {
            return true;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn source_words() {
        assert_eq!(
            source(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1))),
            0xC0A8_0001
        );
        let v6: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
        assert_eq!(source(IpAddr::V6(v6)), 0x2001_0db8 ^ 0x0001_0002);
    }

    #[test]
    fn paths() {
        assert_eq!(path(b"/a/b?x"), b"/a/b?x");
        assert_eq!(path(b"http://h.example/a?b"), b"/a?b");
        assert_eq!(path(b"http://h.example"), b"");
        assert_eq!(path(b"h.example:443"), b"");
        assert_eq!(path(b"*"), b"");
        assert_eq!(path(b""), b"");
        assert_eq!(path(b"1http://x/y"), b"");
        assert_eq!(path(b"web+x://u@h/p"), b"/p");
    }

    #[test]
    fn uri_options() {
        let u = b"/a/bb/ccc/d?x=1";
        assert_eq!(uri(u, 0, 0, false, false), b"/a/bb/ccc/d");
        assert_eq!(uri(u, 0, 0, true, false), u);
        assert_eq!(uri(u, 4, 0, false, false), b"/a/b");
        assert_eq!(uri(u, 0, 2, false, false), b"/a/bb");
        assert_eq!(uri(u, 0, 1, false, false), b"/a");
        assert_eq!(uri(b"?q", 0, 0, false, false), b"");
        // The scheme's slashes count too.
        assert_eq!(uri(b"http://h/a/b", 0, 2, false, false), b"http://h");
        assert_eq!(uri(b"http://h/a/b?z", 0, 0, false, true), b"/a/b");
        assert_eq!(uri(b"http://h/a/b?z", 0, 0, true, true), b"/a/b?z");
    }

    #[test]
    fn url_params() {
        assert_eq!(
            url_param(b"/p?userid=alice", b"userid"),
            Some(&b"alice"[..])
        );
        assert_eq!(
            url_param(b"/p?a=1&userid=bob&c=3", b"userid"),
            Some(&b"bob"[..])
        );
        assert_eq!(url_param(b"/p?userid=", b"userid"), Some(&b""[..]));
        assert_eq!(url_param(b"/p?userid", b"userid"), None);
        assert_eq!(url_param(b"/p?userid=&x", b"userid"), Some(&b""[..]));
        assert_eq!(url_param(b"/p?xuserid=1", b"userid"), None);
        assert_eq!(url_param(b"/p?UserId=1", b"userid"), None);
        assert_eq!(url_param(b"/p?userid&userid=2", b"userid"), Some(&b"2"[..]));
        assert_eq!(url_param(b"/p/userid=1", b"userid"), None);
    }

    #[test]
    fn header_elements() {
        assert_eq!(first_element(b"  beta  "), b"beta");
        assert_eq!(first_element(b"gamma, delta"), b"gamma");
        assert_eq!(first_element(b"\"a,b\", c"), b"\"a,b\"");
        assert_eq!(first_element(b"\"a\\\",b\",c"), b"\"a\\\",b\"");
        assert_eq!(first_element(b", x"), b"");
        assert_eq!(first_element(b""), b"");
    }

    #[test]
    fn domains() {
        assert_eq!(domain_only(b"www.example.com"), b"example");
        assert_eq!(domain_only(b"example.com"), b"example");
        assert_eq!(domain_only(b"localhost"), b"localhost");
        assert_eq!(domain_only(b"a.b.mysite.co.uk"), b"co");
        assert_eq!(domain_only(b"www.example.com:8080"), b"example");
        // The first byte is never taken for the last dot.
        assert_eq!(domain_only(b".com"), b".com");
        assert_eq!(domain_only(b"www.example.com."), b"com");
    }

    #[test]
    fn rdp_cookies() {
        let mut p = vec![3u8, 0, 0, 0x2c, 0x27, 0xe0, 0, 0, 0, 0, 0];
        p.extend_from_slice(b"Cookie: mstshash=alice\r\n\x01\x00");
        assert_eq!(rdp_cookie(&p, b"mstshash"), Some(&b"alice"[..]));
        assert_eq!(rdp_cookie(&p, b"MSTSHASH"), Some(&b"alice"[..]));
        assert_eq!(rdp_cookie(&p, b""), Some(&b"alice"[..]));
        assert_eq!(rdp_cookie(&p, b"other"), None);
        // Not complete yet.
        assert_eq!(rdp_cookie(&p[..30], b"mstshash"), None);
        assert_eq!(rdp_cookie(&p[..11], b"mstshash"), None);
        let mut q = p.clone();
        q[11] = b'X';
        assert_eq!(rdp_cookie(&q, b"mstshash"), None);
    }
}
