//! keepalived.conf syntax: tokens (`#`/`!` comments, quoted strings, braces
//! as their own tokens) and a tree of statements. keepalived reads one
//! keyword per line; condensed configs (several `key value` pairs on one
//! line, as in many guides) are split with the keyword arities below.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub line: usize,
    /// First token of its line.
    pub line_start: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub key: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Node>>,
    pub line: usize,
}

impl Node {
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
    /// The keyword and its arguments as written, one space apart.
    pub fn words(&self) -> String {
        std::iter::once(&self.key)
            .chain(&self.args)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

pub fn tokenize(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let mut chars = raw.chars().peekable();
        let mut first = true;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else if c == '#' || c == '!' {
                break;
            } else if c == '{' || c == '}' {
                chars.next();
                out.push(Token {
                    text: c.to_string(),
                    line,
                    line_start: first,
                });
                first = false;
            } else if c == '"' {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(ch) => s.push(ch),
                        None => {
                            return Err(SyntaxError {
                                line,
                                message: "unterminated quoted string".into(),
                            })
                        }
                    }
                }
                out.push(Token {
                    text: s,
                    line,
                    line_start: first,
                });
                first = false;
            } else {
                let mut s = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || ch == '{' || ch == '}' || ch == '#' || ch == '!' {
                        break;
                    }
                    s.push(ch);
                    chars.next();
                }
                out.push(Token {
                    text: s,
                    line,
                    line_start: first,
                });
                first = false;
            }
        }
    }
    Ok(out)
}

/// How many arguments a keyword takes when it is not the last on its line
/// (`None`: all the rest of the line).
fn arity(key: &str) -> Option<usize> {
    Some(match key {
        "nopreempt"
        | "preempt"
        | "misc_dynamic"
        | "inhibit_on_failure"
        | "sorry_server_inhibit"
        | "ha_suspend"
        | "alpha"
        | "omega"
        | "smtp_alert"
        | "dont_track_primary"
        | "enable_script_security"
        | "require_reply" => 0,
        "sorry_server" | "smtp_server" => 2,
        "state"
        | "interface"
        | "virtual_router_id"
        | "priority"
        | "advert_int"
        | "auth_type"
        | "auth_pass"
        | "delay_loop"
        | "lb_algo"
        | "lb_kind"
        | "protocol"
        | "weight"
        | "connect_timeout"
        | "connect_port"
        | "connect_ip"
        | "bindto"
        | "bind_port"
        | "retry"
        | "nb_get_retry"
        | "delay_before_retry"
        | "path"
        | "digest"
        | "status_code"
        | "misc_path"
        | "misc_timeout"
        | "persistence_timeout"
        | "persistence_granularity"
        | "quorum"
        | "hysteresis"
        | "quorum_up"
        | "quorum_down"
        | "notify_up"
        | "notify_down"
        | "notify_master"
        | "notify_backup"
        | "notify_fault"
        | "notify"
        | "router_id"
        | "notification_email_from"
        | "smtp_connect_timeout"
        | "vrrp_version"
        | "version"
        | "preempt_delay"
        | "garp_master_delay"
        | "garp_master_repeat"
        | "lvs_id"
        | "virtualhost"
        | "payload"
        | "warmup"
        | "fwmark"
        | "mcast_src_ip"
        | "unicast_src_ip"
        | "lvs_sched"
        | "lvs_method"
        | "lvs_sync_daemon_interface" => 1,
        _ => return None,
    })
}

pub fn parse(tokens: &[Token]) -> Result<Vec<Node>, SyntaxError> {
    let mut pos = 0;
    let nodes = parse_block(tokens, &mut pos, None)?;
    Ok(nodes)
}

fn parse_block(
    t: &[Token],
    pos: &mut usize,
    open_line: Option<usize>,
) -> Result<Vec<Node>, SyntaxError> {
    let mut nodes = Vec::new();
    while *pos < t.len() {
        let tok = &t[*pos];
        match tok.text.as_str() {
            "}" => {
                if open_line.is_none() {
                    return Err(SyntaxError {
                        line: tok.line,
                        message: "`}` without a matching `{`".into(),
                    });
                }
                *pos += 1;
                return Ok(nodes);
            }
            "{" => {
                // A bare block: keepalived lists (virtual_ipaddress entries
                // never start with `{`), so this is a stray brace.
                return Err(SyntaxError {
                    line: tok.line,
                    message: "`{` without a keyword before it".into(),
                });
            }
            _ => {}
        }
        let key = tok.text.clone();
        let line = tok.line;
        *pos += 1;
        let limit = arity(&key);
        let mut args = Vec::new();
        while *pos < t.len() {
            let n = &t[*pos];
            if n.text == "{" || n.text == "}" || n.line != line {
                break;
            }
            if limit.is_some_and(|l| args.len() >= l) {
                break;
            }
            args.push(n.text.clone());
            *pos += 1;
        }
        let block = if *pos < t.len() && t[*pos].text == "{" {
            *pos += 1;
            Some(parse_block(t, pos, Some(line))?)
        } else {
            None
        };
        nodes.push(Node {
            key,
            args,
            block,
            line,
        });
    }
    match open_line {
        Some(l) => Err(SyntaxError {
            line: l,
            message: "block opened here is never closed (missing `}`)".into(),
        }),
        None => Ok(nodes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(s: &str) -> Vec<Node> {
        parse(&tokenize(s).unwrap()).unwrap()
    }

    #[test]
    fn one_keyword_per_line_and_condensed_lines_agree() {
        let a = tree("vrrp_instance X {\n state MASTER\n interface eth1\n priority 100\n}\n");
        let b = tree("vrrp_instance X { state MASTER  interface eth1  priority 100 }");
        let strip = |n: &[Node]| -> Vec<(String, Vec<String>)> {
            n[0].children()
                .iter()
                .map(|c| (c.key.clone(), c.args.clone()))
                .collect()
        };
        assert_eq!(strip(&a), strip(&b));
        assert_eq!(
            strip(&a)[1],
            ("interface".to_string(), vec!["eth1".to_string()])
        );
    }

    #[test]
    fn comments_quotes_and_lists() {
        let t = tree("# c\nvirtual_ipaddress {\n 10.0.0.1/24 dev eth0 ! c\n 10.0.0.2\n}\nmisc_path \"/bin/x -a\"\n");
        assert_eq!(t[0].children()[0].key, "10.0.0.1/24");
        assert_eq!(t[0].children()[0].args, vec!["dev", "eth0"]);
        assert_eq!(t[1].args, vec!["/bin/x -a"]);
    }

    #[test]
    fn unbalanced_braces_name_the_line() {
        let e = parse(&tokenize("a {\n b 1\n").unwrap()).unwrap_err();
        assert_eq!(
            e,
            SyntaxError {
                line: 1,
                message: "block opened here is never closed (missing `}`)".into()
            }
        );
        let e = parse(&tokenize("a 1\n}\n").unwrap()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(tokenize("x \"open\n").is_err());
    }
}
