//! `acl` lines and `if`/`unless` conditions, in HAProxy's syntax.

use super::words::split;
use crate::proxy::acl::{AclDef, AclRef, Condition, Criterion, Fetch, MatchKind, Predefined, Term};
use std::net::IpAddr;

/// A problem and how to fix it.
pub type Problem = (String, String);

/// `NAME CRITERION`: the name and the parsed criterion.
pub fn acl_line(line: &str) -> Result<(String, Criterion), Problem> {
    let words = split(line).map_err(|e| (e, "quote words as haproxy.cfg does".into()))?;
    let Some((name, rest)) = words.split_first() else {
        return Err((
            "an empty acl".into(),
            "write \"NAME FETCH [-i] PATTERN...\", e.g. \"is_api path_beg /api\"".into(),
        ));
    };
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
    {
        return Err((
            format!("acl name {name:?} has characters HAProxy does not allow"),
            "use letters, digits, '_', '-', '.' and ':'".into(),
        ));
    }
    if Predefined::from_name(name).is_some() {
        return Err((
            format!("{name} is one of HAProxy's predefined ACLs"),
            "choose another name".into(),
        ));
    }
    Ok((name.clone(), criterion(rest)?))
}

/// `FETCH [-i] [-m METHOD] [--] PATTERN...`.
pub fn criterion(words: &[String]) -> Result<Criterion, Problem> {
    let Some((fetch_word, rest)) = words.split_first() else {
        return Err((
            "no fetch: an acl needs something to test".into(),
            "e.g. path_beg /api, hdr(host) -i example.com, src 10.0.0.0/8, method POST".into(),
        ));
    };
    let (fetch, mut kind) = fetch(fetch_word)?;
    let mut ignore_case = false;
    let mut i = 0;
    while i < rest.len() {
        match rest[i].as_str() {
            "-i" => ignore_case = true,
            "-m" => {
                let Some(m) = rest.get(i + 1) else {
                    return Err(("-m needs a match method".into(), METHODS.into()));
                };
                kind = match_kind(m)?;
                i += 1;
            }
            "--" => {
                i += 1;
                break;
            }
            "-f" => {
                return Err((
                    "patterns from a file (-f) are not supported".into(),
                    "write the patterns in the acl line".into(),
                ))
            }
            "-n" | "-u" => {}
            w if w.starts_with('-') && w.len() > 1 && kind != MatchKind::Int => {
                return Err((
                    format!("unknown acl flag {w}"),
                    "flags are -i (ignore case), -m METHOD; write -- before a pattern that begins with '-'".into(),
                ))
            }
            _ => break,
        }
        i += 1;
    }
    let patterns: Vec<String> = rest[i..].to_vec();
    let needs_pattern = !matches!(kind, MatchKind::Found | MatchKind::Bool);
    if needs_pattern && patterns.is_empty() {
        return Err((
            format!("{fetch_word} has no pattern to match"),
            "add one or more patterns after the fetch (any one matching makes the acl true)".into(),
        ));
    }
    let mut networks = Vec::new();
    if kind == MatchKind::Ip {
        for p in &patterns {
            networks.push(network(p)?);
        }
    }
    if kind == MatchKind::Int {
        for p in &patterns {
            int_range(p)?;
        }
    }
    Ok(Criterion {
        fetch,
        kind,
        ignore_case,
        patterns,
        networks,
    })
}

const METHODS: &str = "match methods: str, beg, end, sub, dir, dom, ip, int, found";

fn match_kind(m: &str) -> Result<MatchKind, Problem> {
    Ok(match m {
        "str" => MatchKind::Str,
        "beg" => MatchKind::Beg,
        "end" => MatchKind::End,
        "sub" => MatchKind::Sub,
        "dir" => MatchKind::Dir,
        "dom" => MatchKind::Dom,
        "ip" => MatchKind::Ip,
        "int" => MatchKind::Int,
        "found" => MatchKind::Found,
        "bool" => MatchKind::Bool,
        "reg" | "regex" => {
            return Err((
                "regular expressions (-m reg, *_reg) are not supported yet".into(),
                "use beg, end, sub, dir or dom, which cover most uses".into(),
            ))
        }
        other => return Err((format!("unknown match method {other:?}"), METHODS.into())),
    })
}

/// The fetch and its implied match method: `path_beg` is `path -m beg`.
fn fetch(word: &str) -> Result<(Fetch, MatchKind), Problem> {
    let (base, arg) = match word.split_once('(') {
        Some((b, a)) => {
            let Some(a) = a.strip_suffix(')') else {
                return Err((
                    format!("{word}: the parenthesis is not closed"),
                    "e.g. hdr(host)".into(),
                ));
            };
            (b, Some(a))
        }
        None => (word, None),
    };
    let base = base.strip_prefix("req.").unwrap_or(base);
    let (stem, suffix) = match base.rsplit_once('_') {
        Some((s, x)) if ["beg", "end", "sub", "dir", "dom", "reg", "len"].contains(&x) => {
            (s, Some(x))
        }
        _ => (base, None),
    };
    let header = |a: Option<&str>| -> Result<Fetch, Problem> {
        match a {
            Some(n) if !n.is_empty() => Ok(Fetch::Header(n.to_ascii_lowercase())),
            _ => Err((
                format!("{word} needs a header name"),
                "e.g. hdr(host), hdr_dom(host)".into(),
            )),
        }
    };
    let fetch = match (stem, arg) {
        ("path", None) => Fetch::Path,
        ("url", None) => Fetch::Url,
        ("query", None) => Fetch::Query,
        ("hdr", a) => header(a)?,
        ("method", None) => Fetch::Method,
        ("src", None) => Fetch::Src,
        ("dst_port", None) => Fetch::DstPort,
        ("ssl_fc", None) => Fetch::SslFc,
        _ => {
            return Err((
                format!("unknown or unsupported fetch {word:?}"),
                "supported: path, url, query, hdr(NAME), method, src, dst_port, ssl_fc, \
                 with _beg, _end, _sub, _dir, _dom where HAProxy has them"
                    .into(),
            ))
        }
    };
    let default = match &fetch {
        Fetch::Src => MatchKind::Ip,
        Fetch::DstPort => MatchKind::Int,
        Fetch::SslFc => MatchKind::Bool,
        _ => MatchKind::Str,
    };
    let kind = match suffix {
        None => default,
        Some("len") => {
            return Err((
                format!("{word}: length matches are not supported yet"),
                "match the value itself".into(),
            ))
        }
        Some(s) if matches!(fetch, Fetch::Src | Fetch::DstPort | Fetch::SslFc) => {
            return Err((
                format!("{word}: {stem} has no _{s} form"),
                format!("write {stem} with its own match"),
            ))
        }
        Some(s) => match_kind(s)?,
    };
    Ok((fetch, kind))
}

/// "10.0.0.0/8", "192.0.2.7", "2001:db8::/32".
fn network(p: &str) -> Result<(IpAddr, u8), Problem> {
    let (a, len) = p.split_once('/').unwrap_or((p, ""));
    let bad = || {
        (
            format!("{p:?} is not an address or network"),
            "write ADDRESS or ADDRESS/PREFIX, e.g. 10.0.0.0/8".into(),
        )
    };
    let addr: IpAddr = a.parse().map_err(|_| bad())?;
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let len = if len.is_empty() {
        full
    } else if let Ok(l) = len.parse::<u8>() {
        l
    } else if let Ok(std::net::IpAddr::V4(m)) = len.parse::<IpAddr>() {
        // HAProxy also takes a dotted netmask.
        let bits = u32::from(m);
        if bits.leading_ones() + bits.trailing_zeros() != 32 {
            return Err(bad());
        }
        bits.leading_ones() as u8
    } else {
        return Err(bad());
    };
    if len > full {
        return Err(bad());
    }
    Ok((addr, len))
}

/// "80" or "8000:8080" (HAProxy's integer range).
pub fn int_range(p: &str) -> Result<(u64, u64), Problem> {
    let bad = || {
        (
            format!("{p:?} is not an integer or range"),
            "write N or LOW:HIGH, e.g. 443 or 8000:8080".into(),
        )
    };
    match p.split_once(':') {
        Some((a, b)) => Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?)),
        None => {
            let n = p.parse().map_err(|_| bad())?;
            Ok((n, n))
        }
    }
}

/// `if|unless TERMS`, terms naming the frontend's ACLs (`acls`), inline
/// `{ criterion }` ones, or predefined ones; `!` negates, `or`/`||`
/// separates alternatives.
pub fn condition(words: &[String], acls: &[AclDef]) -> Result<Condition, Problem> {
    let (unless, terms) = match words.split_first() {
        Some((w, rest)) if w == "if" => (false, rest),
        Some((w, rest)) if w == "unless" => (true, rest),
        _ => {
            return Err((
                "a condition begins with `if` or `unless`".into(),
                "e.g. \"api if is_api\", \"static unless is_dynamic\"".into(),
            ))
        }
    };
    let mut any_of = vec![Vec::new()];
    let mut negate = false;
    let mut i = 0;
    while i < terms.len() {
        let w = terms[i].as_str();
        match w {
            "or" | "||" => {
                if negate || any_of.last().is_some_and(Vec::is_empty) {
                    return Err(misplaced(w));
                }
                any_of.push(Vec::new());
            }
            "!" => negate = !negate,
            "{" => {
                let Some(end) = terms[i..].iter().position(|t| t == "}") else {
                    return Err((
                        "an anonymous acl's { is not closed".into(),
                        "close it with } (spaces around both braces)".into(),
                    ));
                };
                let c = criterion(&terms[i + 1..i + end])?;
                push(&mut any_of, &mut negate, AclRef::Inline(Box::new(c)));
                i += end;
            }
            _ => {
                let (neg, name) = match w.strip_prefix('!') {
                    Some(n) if !n.is_empty() => (true, n),
                    _ => (false, w),
                };
                if neg {
                    negate = !negate;
                }
                let r = match acls.iter().position(|a| a.name == name) {
                    Some(ix) => AclRef::Named(ix),
                    None => match Predefined::from_name(name) {
                        Some(p) => AclRef::Predefined(p),
                        None => {
                            let known: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
                            return Err((
                                format!("no acl named {name:?}"),
                                if known.is_empty() {
                                    "define it with acl = [\"NAME FETCH PATTERN\"] in this frontend"
                                        .into()
                                } else {
                                    format!(
                                        "this frontend's acls: {}; or define it in `acl`",
                                        known.join(", ")
                                    )
                                },
                            ));
                        }
                    },
                };
                push(&mut any_of, &mut negate, r);
            }
        }
        i += 1;
    }
    if negate || any_of.last().is_some_and(Vec::is_empty) {
        return Err((
            "the condition ends without an acl".into(),
            "name an acl after `if`, `unless`, `!` and `or`".into(),
        ));
    }
    Ok(Condition { unless, any_of })
}

fn push(any_of: &mut [Vec<Term>], negate: &mut bool, acl: AclRef) {
    if let Some(last) = any_of.last_mut() {
        last.push(Term {
            negate: *negate,
            acl,
        });
    }
    *negate = false;
}

fn misplaced(w: &str) -> Problem {
    (
        format!("`{w}` with no acl before it"),
        "write ACL1 or ACL2; `or` joins two acls".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s).unwrap()
    }

    #[test]
    fn acl_lines_take_haproxy_fetches_and_flags() {
        let (name, c) = acl_line("is_api path_beg /api /v2").unwrap();
        assert_eq!(name, "is_api");
        assert_eq!((c.fetch, c.kind), (Fetch::Path, MatchKind::Beg));
        assert_eq!(c.patterns, ["/api", "/v2"]);
        let (_, c) = acl_line("host hdr_dom(Host) -i Example.COM").unwrap();
        assert_eq!(c.fetch, Fetch::Header("host".into()));
        assert_eq!(c.kind, MatchKind::Dom);
        assert!(c.ignore_case);
        let (_, c) = acl_line("img path -m end .png .jpg").unwrap();
        assert_eq!(c.kind, MatchKind::End);
        let (_, c) =
            acl_line("inside src 10.0.0.0/8 192.0.2.7 2001:db8::/32 172.16.0.0/255.240.0.0")
                .unwrap();
        assert_eq!(c.kind, MatchKind::Ip);
        assert_eq!(c.networks[0], ("10.0.0.0".parse().unwrap(), 8));
        assert_eq!(c.networks[1].1, 32);
        assert_eq!(c.networks[2].1, 32);
        assert_eq!(c.networks[3].1, 12);
        let (_, c) = acl_line("post method POST").unwrap();
        assert_eq!(c.fetch, Fetch::Method);
        let (_, c) = acl_line("tls ssl_fc").unwrap();
        assert_eq!(c.kind, MatchKind::Bool);
        let (_, c) = acl_line("has_ua req.hdr(user-agent) -m found").unwrap();
        assert_eq!(c.kind, MatchKind::Found);
        let (_, c) = acl_line("dash path -- -x").unwrap();
        assert_eq!(c.patterns, ["-x"]);
    }

    #[test]
    fn bad_acls_say_what_and_how() {
        for (line, what) in [
            ("is_api", "no fetch"),
            ("is_api path_beg", "no pattern"),
            ("is_api path_reg ^/api", "regular expressions"),
            ("x hdr_dom", "needs a header name"),
            ("x hdr(host -i a", "not closed"),
            ("x body_sub secret", "unknown or unsupported fetch"),
            ("x src 10.0.0.0/33", "not an address or network"),
            ("x src 10.0.0.0/255.0.255.0", "not an address or network"),
            ("x path -z /a", "unknown acl flag"),
            ("x path -m regex a", "regular expressions"),
            ("TRUE path /", "predefined"),
            ("x src_beg 10.", "has no _beg form"),
            ("x dst_port 80:http", "not an integer or range"),
        ] {
            let e = acl_line(line).unwrap_err();
            assert!(e.0.contains(what), "{line}: {e:?}");
            assert!(!e.1.is_empty());
        }
    }

    #[test]
    fn conditions_and_or_negate_and_inline() {
        let acls = vec![
            AclDef {
                name: "a".into(),
                criteria: vec![],
            },
            AclDef {
                name: "b".into(),
                criteria: vec![],
            },
        ];
        let c = condition(&words("if a !b or METH_POST || { path_beg /x }"), &acls).unwrap();
        assert!(!c.unless);
        assert_eq!(c.any_of.len(), 3);
        assert_eq!(c.any_of[0].len(), 2);
        assert!(!c.any_of[0][0].negate && c.any_of[0][1].negate);
        assert_eq!(c.any_of[0][1].acl, AclRef::Named(1));
        assert_eq!(c.any_of[1][0].acl, AclRef::Predefined(Predefined::MethPost));
        assert!(matches!(c.any_of[2][0].acl, AclRef::Inline(_)));
        let c = condition(&words("unless ! a"), &acls).unwrap();
        assert!(c.unless && c.any_of[0][0].negate);

        for (text, what) in [
            ("a", "begins with `if`"),
            ("if", "ends without an acl"),
            ("if a or", "ends without an acl"),
            ("if or a", "no acl before it"),
            ("if nope", "no acl named \"nope\""),
            ("if { path_beg /x", "not closed"),
            ("if a !", "ends without an acl"),
        ] {
            let e = condition(&words(text), &acls).unwrap_err();
            assert!(e.0.contains(what), "{text}: {e:?}");
        }
    }
}
