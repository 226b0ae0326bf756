//! Whether a shared cache could store a response, as HAProxy 2.6 judges it
//! (http_ana.c: http_check_request/response_for_cacheability). `cookie ...
//! nocache` consults it: a response that sets the persistence cookie gets
//! `Cache-control: private` only when a cache could have kept it (and its
//! cookie) for other clients. A response without freshness information or
//! a validator is one no cache stores, so it is left alone.

use http::header::{AUTHORIZATION, CACHE_CONTROL, ETAG, EXPIRES, LAST_MODIFIED, PRAGMA};
use http::{HeaderMap, Method, StatusCode};

/// The request side: a safe method, no credentials, and no request
/// directive that makes a cache bypass its store.
pub fn request_cacheable(method: &Method, h: &HeaderMap) -> bool {
    if !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return false;
    }
    if h.contains_key(AUTHORIZATION) {
        return false;
    }
    let mut cc_found = false;
    for v in values(h, CACHE_CONTROL.as_str()) {
        cc_found = true;
        if ["max-age", "no-cache", "max-stale", "min-fresh", "no-store"]
            .iter()
            .any(|p| starts_with_ci(v, p))
        {
            return false;
        }
    }
    // RFC 7234 5.4: Pragma counts only without Cache-Control.
    let pragma_no_cache = h
        .get(PRAGMA)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"));
    cc_found || !pragma_no_cache
}

/// The response side: a status cacheable by default (RFC 7231 6.1), no
/// directive against storing, and freshness information or a validator.
pub fn response_cacheable(status: StatusCode, h: &HeaderMap) -> bool {
    if !matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
    ) {
        return false;
    }
    if h.get(PRAGMA)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"))
    {
        return false;
    }
    // Directives apply in order: a later "public" undoes an earlier
    // "private", as in HAProxy.
    let mut cacheable = true;
    let mut fresh = false;
    for v in values(h, CACHE_CONTROL.as_str()) {
        let lower = v.to_ascii_lowercase();
        match lower.as_str() {
            "public" => cacheable = true,
            "private" | "no-cache" | "no-store" | "max-age=0" | "s-maxage=0" => cacheable = false,
            _ if lower.starts_with("s-maxage") || lower.starts_with("max-age") => fresh = true,
            _ => {}
        }
    }
    let fresh = fresh || h.contains_key(EXPIRES);
    let validator = h.contains_key(ETAG) || h.contains_key(LAST_MODIFIED);
    cacheable && (fresh || validator)
}

/// The comma-separated values of every `name` header, trimmed.
fn values<'a>(h: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn starts_with_ci(v: &str, prefix: &str) -> bool {
    v.len() >= prefix.len() && v.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    // What Debian's HAProxy 2.6.12 did with `cookie SRV insert nocache`
    // (private added or not) for these responses to a plain GET.
    #[test]
    fn responses_as_haproxy_judged_them() {
        let ok = StatusCode::OK;
        assert!(
            !response_cacheable(ok, &map(&[])),
            "no freshness, no validator"
        );
        assert!(!response_cacheable(
            ok,
            &map(&[("cache-control", "public")])
        ));
        assert!(response_cacheable(
            ok,
            &map(&[("expires", "Thu, 01 Dec 2030 16:00:00 GMT")])
        ));
        assert!(response_cacheable(
            ok,
            &map(&[("last-modified", "Thu, 01 Dec 2020 16:00:00 GMT")])
        ));
        assert!(response_cacheable(
            ok,
            &map(&[("cache-control", "max-age=60")])
        ));
        assert!(!response_cacheable(
            ok,
            &map(&[("cache-control", "max-age=0")])
        ));
        assert!(!response_cacheable(
            ok,
            &map(&[("cache-control", "private, max-age=60")])
        ));
        assert!(response_cacheable(
            ok,
            &map(&[
                ("cache-control", "private"),
                ("cache-control", "public, max-age=9")
            ])
        ));
        assert!(!response_cacheable(
            ok,
            &map(&[("pragma", "no-cache"), ("etag", "\"x\"")])
        ));
        assert!(!response_cacheable(
            StatusCode::FOUND,
            &map(&[("etag", "\"x\"")])
        ));
    }

    #[test]
    fn requests_as_haproxy_judged_them() {
        let none = map(&[]);
        assert!(request_cacheable(&Method::GET, &none));
        assert!(!request_cacheable(&Method::POST, &none));
        assert!(!request_cacheable(
            &Method::GET,
            &map(&[("authorization", "x")])
        ));
        assert!(!request_cacheable(
            &Method::GET,
            &map(&[("cache-control", "no-store")])
        ));
        assert!(!request_cacheable(
            &Method::GET,
            &map(&[("cache-control", "no-cache")])
        ));
        assert!(!request_cacheable(
            &Method::GET,
            &map(&[("pragma", "no-cache")])
        ));
        assert!(
            request_cacheable(
                &Method::GET,
                &map(&[("pragma", "no-cache"), ("cache-control", "foo")])
            ),
            "Pragma counts only without Cache-Control"
        );
    }
}
