//! HAProxy's ACLs as parsed: `acl NAME FETCH [-i] [-m METHOD] PATTERN...`
//! and the `if`/`unless` conditions that use them.

use std::net::IpAddr;

/// All the criteria a frontend gave one ACL name: HAProxy ORs repeated
/// `acl` lines of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclDef {
    pub name: String,
    pub criteria: Vec<Criterion>,
}

/// One `acl` line: a sample fetched from the request, matched against
/// patterns (any pattern matching makes it true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    pub fetch: Fetch,
    pub kind: MatchKind,
    /// `-i`: patterns match without regard to case.
    pub ignore_case: bool,
    pub patterns: Vec<String>,
    /// For `src`: the patterns as networks.
    pub networks: Vec<(IpAddr, u8)>,
}

/// What the criterion looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The path: the target without query (`path`).
    Path,
    /// The target as received (`url`).
    Url,
    /// The query string after `?` (`query`).
    Query,
    /// A header's values (`hdr(NAME)`); every occurrence and every
    /// comma-separated value is tried, as HAProxy's `hdr`.
    Header(String),
    /// The request method.
    Method,
    /// The client's address.
    Src,
    /// The destination port of the connection (`dst_port`).
    DstPort,
    /// Whether the connection came over TLS (`ssl_fc`, no pattern).
    SslFc,
}

/// How the fetched sample is compared with a pattern (HAProxy's `-m`,
/// or the suffix of `path_beg`, `hdr_dom`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// Equal.
    Str,
    /// The sample begins with the pattern.
    Beg,
    /// Ends with it.
    End,
    /// Contains it.
    Sub,
    /// The pattern is one of the `/`-delimited parts.
    Dir,
    /// The pattern is one of the `.`-delimited parts (host names).
    Dom,
    /// The sample is an address in one of the networks.
    Ip,
    /// Integer equality (ports).
    Int,
    /// The sample exists (`-m found`).
    Found,
    /// A boolean fetch is true.
    Bool,
}

/// `if`/`unless` followed by ACL names: terms side by side must all hold,
/// `or` (or `||`) separates alternatives, `!` negates one term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `unless`: the whole condition negated.
    pub unless: bool,
    /// Alternatives, each a conjunction of terms.
    pub any_of: Vec<Vec<Term>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub negate: bool,
    /// Index into the frontend's ACLs, or a predefined one.
    pub acl: AclRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRef {
    Named(usize),
    /// An anonymous ACL written in braces: `if { path_beg /api }`.
    Inline(Box<Criterion>),
    /// HAProxy's predefined ACLs (TRUE, FALSE, METH_GET...).
    Predefined(Predefined),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predefined {
    True,
    False,
    /// GET or HEAD, as HAProxy's METH_GET.
    MethGet,
    MethPost,
    MethPut,
    MethDelete,
    MethHead,
    MethOptions,
    MethConnect,
    /// HTTP/1.0 and 1.1.
    Http10,
    Http11,
    /// The client is 127.0.0.1 or ::1.
    Localhost,
    /// A `Content-Length` or `Transfer-Encoding` announces a body.
    ReqContent,
}

impl Predefined {
    pub fn from_name(name: &str) -> Option<Predefined> {
        Some(match name {
            "TRUE" => Predefined::True,
            "FALSE" => Predefined::False,
            "METH_GET" => Predefined::MethGet,
            "METH_POST" => Predefined::MethPost,
            "METH_PUT" => Predefined::MethPut,
            "METH_DELETE" => Predefined::MethDelete,
            "METH_HEAD" => Predefined::MethHead,
            "METH_OPTIONS" => Predefined::MethOptions,
            "METH_CONNECT" => Predefined::MethConnect,
            "HTTP_1.0" => Predefined::Http10,
            "HTTP_1.1" => Predefined::Http11,
            "LOCALHOST" => Predefined::Localhost,
            "REQ_CONTENT" => Predefined::ReqContent,
            _ => return None,
        })
    }
}
