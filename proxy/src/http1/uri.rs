//! The parts of HAProxy's URI handling that decide whether a request head is
//! accepted and what is forwarded: scheme and authority extraction
//! (http_parse_scheme, http_parse_authority in src/http.c), the Host versus
//! authority checks Debian's 2.6.12 makes at the end of a request head
//! (h1_validate_connect_authority, h1_validate_mismatch_authority in
//! src/h1.c) and the default-port normalisation of absolute-form targets
//! (http_scheme_based_normalize in src/http_htx.c).
//!
//! Positions are byte ranges into the target so that nothing is copied
//! unless a rewrite happens.

use std::ops::Range;

/// http_uri_parser_init's format detection.
fn is_absuri_or_authority(uri: &[u8]) -> bool {
    !matches!(uri.first(), None | Some(b'/') | Some(b'*'))
}

/// The scheme including its "://" (as HAProxy returns it), or None.
/// Only for the absolute-URI-or-authority format.
pub(crate) fn scheme(uri: &[u8]) -> Option<Range<usize>> {
    if !is_absuri_or_authority(uri) || !uri[0].is_ascii_alphabetic() {
        return None;
    }
    let mut i = 1;
    while i < uri.len() && (uri[i].is_ascii_alphanumeric() || matches!(uri[i], b'+' | b'-' | b'.'))
    {
        i += 1;
    }
    for want in [b':', b'/', b'/'] {
        if i >= uri.len() || uri[i] != want {
            return None;
        }
        i += 1;
    }
    Some(0..i)
}

/// The authority (userinfo skipped, as with no_userinfo=1): from after the
/// scheme, or from the start when there is none, up to the first '/'. None
/// when the target is not in absolute-URI-or-authority form (HAProxy's
/// IST_NULL); Some(empty) is possible ("http:///x").
pub(crate) fn authority(uri: &[u8]) -> Option<Range<usize>> {
    if !is_absuri_or_authority(uri) {
        return None;
    }
    let from = scheme(uri).map_or(0, |s| s.end);
    let mut start = from;
    let mut i = from;
    while i < uri.len() && uri[i] != b'/' {
        i += 1;
        if uri[i - 1] == b'@' {
            start = i;
        }
    }
    Some(start..i)
}

/// http_get_host_port: the port after the last ':' if everything after it
/// is digits. None when there is no such ':' (IST_NULL); Some(empty) for a
/// trailing ':' ("a.com:").
pub(crate) fn host_port(host: &[u8]) -> Option<&[u8]> {
    let mut i = host.len();
    while i > 0 && host[i - 1].is_ascii_digit() {
        i -= 1;
    }
    // HAProxy's loop stops on the first non-digit scanning backwards; when
    // the whole value is digits it stops on the first byte, which is a
    // digit and so not ':'.
    if i == 0 || host[i - 1] != b':' {
        return None;
    }
    Some(&host[i..])
}

/// http_is_default_port: an empty port is default; without a scheme both 80
/// and 443 are; with one, 80 for http:// and 443 for https://.
pub(crate) fn is_default_port(scheme: Option<&[u8]>, port: &[u8]) -> bool {
    if port.is_empty() {
        return true;
    }
    match scheme {
        None => port == b"443" || port == b"80",
        Some(s) => {
            (port == b"443" && s.eq_ignore_ascii_case(b"https://"))
                || (port == b"80" && s.eq_ignore_ascii_case(b"http://"))
        }
    }
}

/// Strip ":port" (a port as host_port finds it) from a host value.
fn without_port(host: &[u8]) -> &[u8] {
    match host_port(host) {
        Some(p) => &host[..host.len() - p.len() - 1],
        None => host,
    }
}

/// CONNECT: the target must be an authority with a non-empty port; a Host
/// header must name the same host and port, or the same host without a
/// port when the target's port is 80 or 443. Ok(Some(host)) asks to rewrite
/// the Host value to `host` (a default port is dropped, as HAProxy does).
pub(crate) fn validate_connect(uri: &[u8], host_hdr: Option<&[u8]>) -> Result<Option<Vec<u8>>, ()> {
    let auth = authority(uri).ok_or(())?;
    let auth = &uri[auth];
    let uri_port = match host_port(auth) {
        Some(p) if !p.is_empty() => p,
        _ => return Err(()),
    };
    let uri_host = &auth[..auth.len() - uri_port.len() - 1];
    let Some(host) = host_hdr else {
        return Ok(None);
    };
    match host_port(host) {
        Some(hp) if !hp.is_empty() => {
            let h = &host[..host.len() - hp.len() - 1];
            if !h.eq_ignore_ascii_case(uri_host) || hp != uri_port {
                return Err(());
            }
            if is_default_port(None, uri_port) {
                return Ok(Some(h.to_vec()));
            }
            Ok(None)
        }
        hp => {
            // No port, or an empty one ("a.com:"): HAProxy compares the host
            // without its trailing ':' only if a port was found at all.
            let h = if hp.is_some() {
                &host[..host.len() - 1]
            } else {
                host
            };
            if !is_default_port(None, uri_port) || !h.eq_ignore_ascii_case(uri_host) {
                return Err(());
            }
            Ok(None)
        }
    }
}

/// Non-CONNECT with an authority in the target and a Host header that is
/// not byte-for-byte (case-insensitively) equal to it: still accepted when
/// they differ only by a default port of the target's scheme.
pub(crate) fn validate_mismatch(uri: &[u8], auth: &[u8], host: &[u8]) -> Result<(), ()> {
    let Some(sch) = scheme(uri) else {
        return Err(());
    };
    let sch = &uri[sch];
    let uri_port = host_port(auth);
    let host_p = host_port(host);
    let uri_host = without_port(auth);
    let h = without_port(host);
    match (uri_port, host_p) {
        (None, None) => Err(()),
        (Some(p), _) if !is_default_port(Some(sch), p) => Err(()),
        (_, Some(p)) if !is_default_port(Some(sch), p) => Err(()),
        _ if uri_host.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(()),
    }
}

/// http_scheme_based_normalize: an absolute-form target whose authority
/// carries its scheme's default port (or an empty one) loses it, and every
/// Host value becomes the bare host. Returns (new target, new host).
pub(crate) fn scheme_based_normalize(uri: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let sch = scheme(uri)?;
    let auth = authority(uri)?;
    let port = host_port(&uri[auth.clone()])?;
    if !is_default_port(Some(&uri[sch]), port) {
        return None;
    }
    let host_end = auth.end - port.len() - 1;
    let host = uri[auth.start..host_end].to_vec();
    let mut target = Vec::with_capacity(uri.len());
    target.extend_from_slice(&uri[..host_end]);
    target.extend_from_slice(&uri[auth.end..]);
    Some((target, host))
}
