//! Cookie persistence (`cookie NAME insert|rewrite|prefix|passive ...`):
//! reading which server a request's cookie names, stripping it (`indirect`),
//! and setting it on the response, as HAProxy does.

use http::header::{HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE};
use http::HeaderMap;
use xlb_model::proxy::{CookieDef, CookieMode, ServerDef};

/// The value of cookie `name` in the request's Cookie headers (the first
/// one found), as received.
pub fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The server whose `cookie` value the request carries. In `prefix` mode
/// the value is `SERVER~ORIGINAL`.
pub fn server_of(def: &CookieDef, headers: &HeaderMap, servers: &[ServerDef]) -> Option<usize> {
    let v = find(headers, &def.name)?;
    let v = match def.mode {
        CookieMode::Prefix => v.split_once('~').map_or(v, |(s, _)| s),
        _ => v,
    };
    servers.iter().position(|s| s.cookie.as_deref() == Some(v))
}

/// `indirect` (insert mode): the request goes to the server without our
/// cookie, as HAProxy removes it. Prefix mode gives the server its own
/// value back.
pub fn strip(def: &CookieDef, headers: &mut HeaderMap) {
    let rewrite_prefix = def.mode == CookieMode::Prefix;
    let strip_ours = def.indirect && def.mode == CookieMode::Insert;
    if !(strip_ours || rewrite_prefix) {
        return;
    }
    let old: Vec<HeaderValue> = headers.get_all(COOKIE).iter().cloned().collect();
    if old.is_empty() {
        return;
    }
    headers.remove(COOKIE);
    for v in old {
        let Ok(text) = v.to_str() else {
            headers.append(COOKIE, v);
            continue;
        };
        let kept: Vec<String> = text
            .split(';')
            .map(str::trim)
            .filter(|kv| !kv.is_empty())
            .filter_map(|kv| match kv.split_once('=') {
                Some((k, val)) if k == def.name => {
                    if rewrite_prefix {
                        val.split_once('~').map(|(_, orig)| format!("{k}={orig}"))
                    } else {
                        None
                    }
                }
                _ => Some(kv.to_string()),
            })
            .collect();
        if !kept.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
                headers.append(COOKIE, v);
            }
        }
    }
}

/// Set the persistence cookie on a response from `server` when the
/// request did not already carry it (insert), or rewrite the server's own
/// (rewrite, prefix).
pub fn on_response(
    def: &CookieDef,
    server: &ServerDef,
    request_had_it: bool,
    cacheable: bool,
    resp: &mut HeaderMap,
) {
    let Some(value) = server.cookie.as_deref() else {
        return;
    };
    let attrs = |mut s: String| {
        s.push_str("; path=/");
        if let Some(d) = &def.domain {
            s.push_str("; domain=");
            s.push_str(d);
        }
        if def.httponly {
            s.push_str("; HttpOnly");
        }
        if def.secure {
            s.push_str("; Secure");
        }
        s
    };
    match def.mode {
        CookieMode::Passive => {}
        CookieMode::Insert => {
            // A request the cookie directed (HAProxy's SF_DIRECT) is not
            // told again.
            if request_had_it {
                return;
            }
            if def.preserve && has_set_cookie(resp, &def.name) {
                return;
            }
            if let Ok(v) = HeaderValue::from_str(&attrs(format!("{}={value}", def.name))) {
                resp.append(SET_COOKIE, v);
                if def.nocache && cacheable {
                    nocache(resp);
                }
            }
        }
        CookieMode::Rewrite | CookieMode::Prefix => {
            let old: Vec<HeaderValue> = resp.get_all(SET_COOKIE).iter().cloned().collect();
            if !old.iter().any(|v| names(v, &def.name)) {
                return;
            }
            resp.remove(SET_COOKIE);
            for v in old {
                if !names(&v, &def.name) {
                    resp.append(SET_COOKIE, v);
                    continue;
                }
                let text = v.to_str().unwrap_or_default();
                let (first, rest) = text.split_once(';').unwrap_or((text, ""));
                let orig = first.split_once('=').map_or("", |(_, x)| x.trim());
                let new_value = match def.mode {
                    CookieMode::Prefix => format!("{value}~{orig}"),
                    _ => value.to_string(),
                };
                let line = if rest.is_empty() {
                    format!("{}={new_value}", def.name)
                } else {
                    format!("{}={new_value};{rest}", def.name)
                };
                if let Ok(v) = HeaderValue::from_str(&line) {
                    resp.append(SET_COOKIE, v);
                }
            }
            if def.nocache && cacheable {
                nocache(resp);
            }
        }
    }
}

fn names(v: &HeaderValue, name: &str) -> bool {
    v.to_str()
        .ok()
        .and_then(|t| t.split_once('='))
        .is_some_and(|(k, _)| k.trim() == name)
}

fn has_set_cookie(resp: &HeaderMap, name: &str) -> bool {
    resp.get_all(SET_COOKIE).iter().any(|v| names(v, name))
}

/// `nocache`: a cacheable response that sets the persistence cookie must
/// not be stored by a shared cache (see `cache`), so HAProxy adds
/// `Cache-control: private`.
fn nocache(resp: &mut HeaderMap) {
    resp.append(CACHE_CONTROL, HeaderValue::from_static("private"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(mode: CookieMode, indirect: bool, nocache: bool) -> CookieDef {
        CookieDef {
            name: "SRV".into(),
            mode,
            indirect,
            nocache,
            postonly: false,
            httponly: false,
            secure: false,
            preserve: false,
            domain: None,
        }
    }

    fn servers() -> Vec<ServerDef> {
        ["a1", "a2"]
            .iter()
            .enumerate()
            .map(|(i, c)| ServerDef {
                name: format!("s{i}"),
                addr: "127.0.0.1:1".parse().unwrap(),
                id: i as u32 + 1,
                weight: 1,
                backup: false,
                maxconn: 0,
                disabled: false,
                cookie: Some((*c).into()),
                check: None,
            })
            .collect()
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn the_cookie_names_a_server_and_indirect_strips_it() {
        let d = def(CookieMode::Insert, true, true);
        let mut h = headers("lang=fr; SRV=a2; theme=dark");
        assert_eq!(server_of(&d, &h, &servers()), Some(1));
        strip(&d, &mut h);
        assert_eq!(h.get(COOKIE).unwrap(), "lang=fr; theme=dark");
        let mut only = headers("SRV=a1");
        strip(&d, &mut only);
        assert!(only.get(COOKIE).is_none(), "an emptied Cookie header goes");
        assert_eq!(server_of(&d, &headers("SRV=zz"), &servers()), None);
    }

    #[test]
    fn insert_sets_the_cookie_once_and_nocache_marks_it_private() {
        let d = def(CookieMode::Insert, true, true);
        let s = &servers()[0];
        let mut r = HeaderMap::new();
        on_response(&d, s, false, true, &mut r);
        assert_eq!(r.get(SET_COOKIE).unwrap(), "SRV=a1; path=/");
        assert_eq!(r.get(CACHE_CONTROL).unwrap(), "private");
        let mut again = HeaderMap::new();
        on_response(&d, s, true, true, &mut again);
        assert!(again.get(SET_COOKIE).is_none(), "not told twice");
        let mut uncacheable = HeaderMap::new();
        on_response(&d, s, false, false, &mut uncacheable);
        assert!(uncacheable.get(SET_COOKIE).is_some());
        assert!(
            uncacheable.get(CACHE_CONTROL).is_none(),
            "no cache would store it"
        );
    }

    #[test]
    fn rewrite_and_prefix_change_the_servers_own_cookie() {
        let s = &servers()[1];
        let mut r = HeaderMap::new();
        r.append(SET_COOKIE, HeaderValue::from_static("SRV=xyz; Path=/app"));
        r.append(SET_COOKIE, HeaderValue::from_static("other=1"));
        on_response(
            &def(CookieMode::Rewrite, false, false),
            s,
            false,
            true,
            &mut r,
        );
        let all: Vec<&str> = r
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, ["SRV=a2; Path=/app", "other=1"]);

        let d = def(CookieMode::Prefix, false, false);
        let mut r = HeaderMap::new();
        r.append(SET_COOKIE, HeaderValue::from_static("SRV=sess42"));
        on_response(&d, s, false, true, &mut r);
        assert_eq!(r.get(SET_COOKIE).unwrap(), "SRV=a2~sess42");
        let mut h = headers("SRV=a2~sess42");
        assert_eq!(server_of(&d, &h, &servers()), Some(1));
        strip(&d, &mut h);
        assert_eq!(
            h.get(COOKIE).unwrap(),
            "SRV=sess42",
            "the server gets its own value back"
        );
    }
}
