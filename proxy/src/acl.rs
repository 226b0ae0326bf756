//! Evaluating a frontend's `use_backend` conditions against a connection
//! or request, with HAProxy's matching rules.

use std::net::IpAddr;
use xlb_model::proxy::acl::{AclRef, Predefined};
use xlb_model::proxy::{AclDef, Condition, Criterion, Fetch, MatchKind};

/// What ACLs can look at. A tcp connection has no request: its HTTP
/// fetches find nothing (and so do not match), as in HAProxy.
pub trait Sample {
    fn src(&self) -> IpAddr;
    fn dst_port(&self) -> u16;
    fn tls(&self) -> bool;
    fn method(&self) -> Option<&str> {
        None
    }
    /// The request target as received.
    fn url(&self) -> Option<&str> {
        None
    }
    /// Every value of header `name` (lowercase), each occurrence in order.
    fn header_values(&self, _name: &str) -> Vec<&[u8]> {
        Vec::new()
    }
    /// "HTTP/1.0", "HTTP/1.1", "HTTP/2.0".
    fn version(&self) -> Option<&str> {
        None
    }
    /// A body is announced (Content-Length > 0 or chunked).
    fn has_body(&self) -> bool {
        false
    }
}

pub fn holds(cond: &Condition, acls: &[AclDef], s: &dyn Sample) -> bool {
    let any = cond.any_of.iter().any(|all| {
        all.iter().all(|t| {
            let v = match &t.acl {
                AclRef::Named(i) => acls
                    .get(*i)
                    .is_some_and(|a| a.criteria.iter().any(|c| matches(c, s))),
                AclRef::Inline(c) => matches(c, s),
                AclRef::Predefined(p) => predefined(*p, s),
            };
            v != t.negate
        })
    });
    any != cond.unless
}

fn predefined(p: Predefined, s: &dyn Sample) -> bool {
    let m = s.method();
    match p {
        Predefined::True => true,
        Predefined::False => false,
        Predefined::MethGet => matches!(m, Some("GET" | "HEAD")),
        Predefined::MethPost => m == Some("POST"),
        Predefined::MethPut => m == Some("PUT"),
        Predefined::MethDelete => m == Some("DELETE"),
        Predefined::MethHead => m == Some("HEAD"),
        Predefined::MethOptions => m == Some("OPTIONS"),
        Predefined::MethConnect => m == Some("CONNECT"),
        Predefined::Http10 => s.version() == Some("HTTP/1.0"),
        Predefined::Http11 => s.version() == Some("HTTP/1.1"),
        Predefined::Localhost => s.src().is_loopback(),
        Predefined::ReqContent => s.has_body(),
    }
}

/// The path: the target without query, and for an absolute-form target
/// without scheme and authority (HAProxy's `path`).
pub fn path_of(url: &str) -> &str {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    match no_query.find("://") {
        Some(i) => {
            let rest = &no_query[i + 3..];
            rest.find('/').map_or("/", |p| &rest[p..])
        }
        None => no_query,
    }
}

fn matches(c: &Criterion, s: &dyn Sample) -> bool {
    let owned;
    let samples: Vec<&[u8]> = match &c.fetch {
        Fetch::Src => {
            let a = s.src();
            return c.networks.iter().any(|&(net, len)| in_net(a, net, len));
        }
        Fetch::DstPort => {
            let p = u64::from(s.dst_port());
            return c.patterns.iter().any(|x| {
                xlb_model::config::proxy::acl::int_range(x).is_ok_and(|(a, b)| (a..=b).contains(&p))
            });
        }
        Fetch::SslFc => return s.tls(),
        Fetch::Method => s.method().map(str::as_bytes).into_iter().collect(),
        Fetch::Url => s.url().map(str::as_bytes).into_iter().collect(),
        Fetch::Path => s.url().map(|u| path_of(u).as_bytes()).into_iter().collect(),
        Fetch::Query => s
            .url()
            .and_then(|u| u.split_once('?'))
            .map(|(_, q)| q.as_bytes())
            .into_iter()
            .collect(),
        Fetch::Header(name) => {
            // HAProxy's hdr(): every comma-separated value of every line.
            owned = s.header_values(name);
            owned
                .iter()
                .flat_map(|v| v.split(|&b| b == b','))
                .map(trim)
                .collect()
        }
    };
    match c.kind {
        MatchKind::Found => !samples.is_empty(),
        MatchKind::Bool => samples.iter().any(|v| !v.is_empty()),
        _ => samples
            .iter()
            .any(|v| c.patterns.iter().any(|p| one(c, v, p.as_bytes()))),
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn one(c: &Criterion, v: &[u8], p: &[u8]) -> bool {
    let eq = |a: &[u8], b: &[u8]| {
        if c.ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match c.kind {
        MatchKind::Str => eq(v, p),
        MatchKind::Beg => v.len() >= p.len() && eq(&v[..p.len()], p),
        MatchKind::End => v.len() >= p.len() && eq(&v[v.len() - p.len()..], p),
        MatchKind::Sub => p.is_empty() || v.windows(p.len()).any(|w| eq(w, p)),
        // HAProxy's match_word delimiters (pattern.c): dir splits on '/'
        // and '?', dom on '/', '?', '.' and ':'.
        MatchKind::Dir => delimited(v, p, b"/?", &eq),
        MatchKind::Dom => delimited(v, p, b"/?.:", &eq),
        MatchKind::Int => std::str::from_utf8(v)
            .ok()
            .and_then(|x| x.trim().parse::<u64>().ok())
            .is_some_and(|n| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|x| xlb_model::config::proxy::acl::int_range(x).ok())
                    .is_some_and(|(a, b)| (a..=b).contains(&n))
            }),
        MatchKind::Ip | MatchKind::Found | MatchKind::Bool => false,
    }
}

/// HAProxy's `-m dir` / `-m dom`: the pattern is a run of whole
/// delimiter-separated parts of the sample (it may itself hold the
/// delimiter, "example.com" in "www.example.com").
fn delimited(v: &[u8], p: &[u8], d: &[u8], eq: &dyn Fn(&[u8], &[u8]) -> bool) -> bool {
    let p = trim_delims(p, d);
    if p.is_empty() {
        return false;
    }
    (0..=v.len().saturating_sub(p.len())).any(|i| {
        let before_ok = i == 0 || d.contains(&v[i - 1]);
        let after = i + p.len();
        let after_ok = after == v.len() || d.contains(&v[after]);
        before_ok && after_ok && eq(&v[i..after], p)
    })
}

fn trim_delims<'a>(p: &'a [u8], d: &[u8]) -> &'a [u8] {
    let start = p.iter().position(|b| !d.contains(b)).unwrap_or(p.len());
    let end = p
        .iter()
        .rposition(|b| !d.contains(b))
        .map_or(start, |e| e + 1);
    &p[start..end]
}

fn in_net(a: IpAddr, net: IpAddr, len: u8) -> bool {
    // An IPv4 client on an IPv6 socket arrives v4-mapped: match it as IPv4.
    let a = match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    };
    match (a, net) {
        (IpAddr::V4(x), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(x) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(x), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(x) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_model::config::proxy::acl::{acl_line, condition};
    use xlb_model::config::proxy::words::split;

    struct Req {
        src: IpAddr,
        method: &'static str,
        url: &'static str,
        headers: Vec<(&'static str, &'static str)>,
    }

    impl Sample for Req {
        fn src(&self) -> IpAddr {
            self.src
        }
        fn dst_port(&self) -> u16 {
            8080
        }
        fn tls(&self) -> bool {
            false
        }
        fn method(&self) -> Option<&str> {
            Some(self.method)
        }
        fn url(&self) -> Option<&str> {
            Some(self.url)
        }
        fn header_values(&self, name: &str) -> Vec<&[u8]> {
            self.headers
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_bytes())
                .collect()
        }
        fn version(&self) -> Option<&str> {
            Some("HTTP/1.1")
        }
    }

    fn acls(lines: &[&str]) -> Vec<AclDef> {
        let mut out: Vec<AclDef> = Vec::new();
        for l in lines {
            let (n, c) = acl_line(l).unwrap();
            match out.iter_mut().find(|a| a.name == n) {
                Some(a) => a.criteria.push(c),
                None => out.push(AclDef {
                    name: n,
                    criteria: vec![c],
                }),
            }
        }
        out
    }

    fn check(acl_lines: &[&str], cond: &str, r: &Req) -> bool {
        let a = acls(acl_lines);
        let c = condition(&split(cond).unwrap(), &a).unwrap();
        holds(&c, &a, r)
    }

    fn req(url: &'static str) -> Req {
        Req {
            src: "10.1.2.3".parse().unwrap(),
            method: "GET",
            url,
            headers: vec![("host", "WWW.Example.com:8080"), ("accept", "a, text/html")],
        }
    }

    #[test]
    fn fetches_and_matches_follow_haproxy() {
        let r = req("/api/v1/users?id=7");
        assert!(check(&["a path_beg /api"], "if a", &r));
        assert!(!check(&["a path_beg /API"], "if a", &r));
        assert!(check(&["a path_beg -i /API"], "if a", &r));
        assert!(
            check(&["a path_end users"], "if a", &r),
            "path has no query"
        );
        assert!(!check(&["a url_end users"], "if a", &r));
        assert!(check(&["a path_dir v1"], "if a", &r));
        assert!(!check(&["a path_dir v"], "if a", &r));
        assert!(check(&["a path_sub /v1/"], "if a", &r));
        assert!(check(&["a query -m sub id=7"], "if a", &r));
        assert!(check(&["a hdr_dom(host) -i example.com"], "if a", &r));
        assert!(!check(&["a hdr_dom(host) -i ample.com"], "if a", &r));
        assert!(
            check(&["a hdr(accept) text/html"], "if a", &r),
            "comma values"
        );
        assert!(check(&["a hdr(accept) -m found"], "if a", &r));
        assert!(!check(&["a hdr(cookie) -m found"], "if a", &r));
        assert!(check(&["a src 10.0.0.0/8"], "if a", &r));
        assert!(!check(&["a src 192.168.0.0/16"], "if a", &r));
        assert!(check(&["a method GET"], "if a", &r));
        assert!(check(&["a dst_port 8000:8100"], "if a", &r));
        assert!(check(&[], "if METH_GET", &r));
        assert!(!check(&[], "if METH_POST", &r));
        assert!(check(&[], "if { path_beg /api }", &r));
        // Absolute-form targets: the path is after the authority.
        assert!(check(&["a path /x"], "if a", &req("http://h:80/x?q")));
    }

    #[test]
    fn conditions_combine_as_haproxy() {
        let r = req("/static/a.png");
        let lines = [
            "st path_beg /static",
            "img path_end .png .jpg",
            "api path_beg /api",
        ];
        assert!(check(&lines, "if st img", &r));
        assert!(!check(&lines, "if st !img", &r));
        assert!(check(&lines, "if api or img", &r));
        assert!(!check(&lines, "unless st", &r));
        assert!(check(&lines, "unless api", &r));
        // Two lines of one name are ORed.
        assert!(check(&["x path_beg /nope", "x path_end .png"], "if x", &r));
    }
}
