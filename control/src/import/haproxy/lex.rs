//! haproxy.cfg lines as HAProxy 2.6 reads them (tools.c `parse_line` with
//! the options cfgparse.c passes): words separated by blanks, `#` starts a
//! comment outside quotes, "double" and 'single' quotes group, a backslash
//! escapes a blank, `\`, `#`, a quote, `\t` `\n` `\r`, `\xHH`, and `$` in
//! double quotes; `"$NAME"` / `"${NAME}"` are environment variables, which
//! HAProxy expands when it starts and the import keeps as written.

use super::super::SyntaxError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file.
    pub n: usize,
    pub words: Vec<String>,
    /// Names of the environment variables the line uses (not expanded).
    pub env: Vec<String>,
}

impl Line {
    pub fn word(&self, i: usize) -> &str {
        self.words.get(i).map_or("", String::as_str)
    }
}

/// Every line with at least one word.
pub fn lines(text: &str) -> Result<Vec<Line>, SyntaxError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = line(i + 1, raw)?;
        if !l.words.is_empty() {
            out.push(l);
        }
    }
    Ok(out)
}

fn err(n: usize, message: &str) -> SyntaxError {
    SyntaxError {
        line: n,
        message: message.to_string(),
    }
}

fn line(n: usize, raw: &str) -> Result<Line, SyntaxError> {
    let c: Vec<char> = raw.chars().collect();
    let mut words = Vec::new();
    let mut env = Vec::new();
    let mut cur = String::new();
    // A word has begun (a quoted empty string is a word).
    let mut started = false;
    let (mut squote, mut dquote) = (false, false);
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            '\r' | '\n' => break,
            '#' if !squote && !dquote => break,
            '"' if !squote => {
                dquote = !dquote;
                started = true;
                i += 1;
            }
            '\'' if !dquote => {
                squote = !squote;
                started = true;
                i += 1;
            }
            '\\' if !squote => {
                started = true;
                let next = c.get(i + 1).copied();
                match next {
                    Some(x @ (' ' | '\\' | '#' | '\'' | '"')) => {
                        cur.push(x);
                        i += 2;
                    }
                    Some('t') => {
                        cur.push('\t');
                        i += 2;
                    }
                    Some('n') => {
                        cur.push('\n');
                        i += 2;
                    }
                    Some('r') => {
                        cur.push('\r');
                        i += 2;
                    }
                    Some('$') if dquote => {
                        cur.push('$');
                        i += 2;
                    }
                    Some('x') => {
                        let hex: String = c.iter().skip(i + 2).take(2).collect();
                        match u8::from_str_radix(&hex, 16) {
                            Ok(b)
                                if hex.len() == 2 && hex.chars().all(|h| h.is_ascii_hexdigit()) =>
                            {
                                cur.push(char::from(b));
                                i += 4;
                            }
                            _ => {
                                return Err(err(
                                    n,
                                    "truncated or invalid hexadecimal sequence (\\xHH)",
                                ))
                            }
                        }
                    }
                    // Not an escape: the backslash stays.
                    _ => {
                        cur.push('\\');
                        i += 1;
                    }
                }
            }
            '$' if dquote => {
                // An environment variable: kept as written, reported.
                let start = i;
                i += 1;
                let brace = c.get(i) == Some(&'{');
                if brace {
                    i += 1;
                }
                let name_start = i;
                match c.get(i) {
                    Some(x) if x.is_ascii_alphabetic() || *x == '_' || *x == '.' => i += 1,
                    _ => {
                        return Err(err(
                            n,
                            "forbidden first character in an environment variable name",
                        ))
                    }
                }
                while c
                    .get(i)
                    .is_some_and(|x| x.is_ascii_alphanumeric() || *x == '_')
                {
                    i += 1;
                }
                let name: String = c[name_start..i].iter().collect();
                if brace {
                    match c[i..].iter().position(|x| *x == '}') {
                        Some(p) => i += p + 1,
                        None => {
                            return Err(err(n, "unmatched brace in an environment variable name"))
                        }
                    }
                }
                cur.extend(&c[start..i]);
                started = true;
                if !env.contains(&name) {
                    env.push(name);
                }
            }
            x if x.is_whitespace() && !squote && !dquote => {
                if started {
                    words.push(std::mem::take(&mut cur));
                    started = false;
                }
                i += 1;
            }
            x => {
                cur.push(x);
                started = true;
                i += 1;
            }
        }
    }
    if squote || dquote {
        return Err(err(n, "unmatched quote"));
    }
    if started {
        words.push(cur);
    }
    Ok(Line { n, words, env })
}

/// A word as xlb's HAProxy-syntax strings read it back (model's
/// `words::split`): bare when it can be, else in double quotes with `\\`,
/// `\"`, `\r`, `\n`, `\t`.
pub fn requote(w: &str) -> String {
    let plain = !w.is_empty()
        && !w
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if plain {
        return w.to_string();
    }
    let mut s = String::from("\"");
    for c in w.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\r' => s.push_str("\\r"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Words joined as HAProxy-syntax text (each requoted as needed).
pub fn join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| requote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        line(1, s).unwrap().words
    }

    #[test]
    fn words_quotes_escapes_and_comments_as_haproxy() {
        assert_eq!(words("  bind :80   # web"), ["bind", ":80"]);
        assert_eq!(
            words(r#"acl a hdr(x) "two words" 'it''s' a\ b c\#d e#f"#),
            ["acl", "a", "hdr(x)", "two words", "its", "a b", "c#d", "e"]
        );
        assert_eq!(words(r#"x "a#b" 'c#d'"#), ["x", "a#b", "c#d"]);
        assert_eq!(words(r"x \x41\t \1"), ["x", "A\t", "\\1"]);
        assert_eq!(words(r#"x 'a\b' "a\"b""#), ["x", "a\\b", "a\"b"]);
        assert_eq!(words(r#"x """#), ["x", ""]);
        let l = line(3, r#"bind "${ADDR}:$PORT" x$Y"#).unwrap();
        assert_eq!(l.words, ["bind", "${ADDR}:$PORT", "x$Y"]);
        assert_eq!(
            l.env,
            ["ADDR", "PORT"],
            "$ outside double quotes is a character"
        );
        assert_eq!(line(4, "x 'open").unwrap_err().line, 4);
        assert!(line(1, "x \"a").is_err());
        assert!(line(1, r"x \xZZ").is_err());
        assert!(line(1, r#"x "${A""#).is_err());
    }

    #[test]
    fn requoted_words_read_back_through_the_models_split() {
        use xlb_model::config::proxy::words::split;
        let w: Vec<String> = ["a", "two words", "q\"b", "b\\s", "cr\r\nlf", "", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(split(&join(&w)).unwrap(), w);
        assert_eq!(join(&w[..1]), "a");
    }
}
