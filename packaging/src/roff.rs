//! docs/config.md as the man page xlb.toml(5): the subset of Markdown the
//! docs use (headings, paragraphs, pipe tables, fenced code, bullet lists,
//! inline code, emphasis, links) turned into man(7) macros.

/// Text safe for roff: backslashes escaped, inline Markdown rendered.
pub fn inline(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(c) = rest.chars().next() {
        let tail = &rest[c.len_utf8()..];
        match c {
            '`' => {
                if let Some(end) = tail.find('`') {
                    out.push_str(&format!("\\fB{}\\fR", escape(&tail[..end])));
                    rest = &tail[end + 1..];
                    continue;
                }
                out.push('`');
            }
            '*' if tail.starts_with('*') => {
                if let Some(end) = tail[1..].find("**") {
                    out.push_str(&format!("\\fB{}\\fR", inline(&tail[1..1 + end])));
                    rest = &tail[end + 3..];
                    continue;
                }
                out.push('*');
            }
            '*' => {
                if let Some(end) = tail.find('*').filter(|&e| e > 0) {
                    out.push_str(&format!("\\fI{}\\fR", inline(&tail[..end])));
                    rest = &tail[end + 1..];
                    continue;
                }
                out.push('*');
            }
            '[' => {
                // [text](target): the text; the target is a file of docs/.
                if let Some((text, after)) = tail.split_once("](") {
                    if let Some(close) = after.find(')') {
                        out.push_str(&inline(text));
                        rest = &after[close + 1..];
                        continue;
                    }
                }
                out.push('[');
            }
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            _ => out.push(c),
        }
        rest = tail;
    }
    out
}

/// Literal text for roff (code spans and blocks).
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// A line roff would take for a request if it began with '.' or '\''.
fn line(s: &str) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s.to_string()
    }
}

fn cells(row: &str) -> Vec<String> {
    let row = row.trim().trim_start_matches('|').trim_end_matches('|');
    // A '|' inside a code span is not a column break; `\|` is a '|' of
    // the text, in a code span too (GitHub's tables).
    let (mut cells, mut cur, mut code) = (Vec::new(), String::new(), false);
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => cur.push(chars.next().expect("peeked")),
            '`' => {
                code = !code;
                cur.push(c);
            }
            '|' if !code => cells.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    cells.push(cur.trim().to_string());
    cells
}

/// A pipe table: one tagged paragraph per row, the first column as tag.
fn table(rows: &[&str], out: &mut Vec<String>) {
    let header = cells(rows[0]);
    for row in rows.iter().skip(1) {
        let c = cells(row);
        if c.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
            continue; // the |---|---| line
        }
        out.push(".TP".into());
        out.push(line(&inline(&c[0])));
        let mut body = Vec::new();
        for (i, cell) in c.iter().enumerate().skip(1).filter(|(_, c)| !c.is_empty()) {
            let head = header.get(i).map(String::as_str).unwrap_or("");
            match head {
                "meaning" | "" => body.push(inline(cell)),
                h => body.push(format!("{}: {}.", capitalised(h), inline(cell))),
            }
        }
        out.push(line(&body.join(" ")));
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// What a page made from a Markdown document says around it: roff text.
pub struct PageFrame<'a> {
    /// `.TH` title, section and manual: `XLB.TOML`, `5`, `File Formats`.
    pub title: &'a str,
    pub section: &'a str,
    pub manual: &'a str,
    /// NAME's line, `name \- what it is`.
    pub name: &'a str,
    pub synopsis: &'a [&'a str],
    /// The requests after the document: FILES, SEE ALSO and the like.
    pub tail: &'a [&'a str],
}

/// The man page of `md`, a configuration reference whose first line is
/// its `# title`.
pub fn config_page(md: &str, version: &str) -> String {
    markdown_page(
        md,
        version,
        &PageFrame {
            title: "XLB.TOML",
            section: "5",
            manual: "File Formats",
            name: "xlb.toml \\- configuration file of xlbd, the xlb load\\-balancing director",
            synopsis: &["/etc/xlb/xlb.toml"],
            tail: &[
                ".SH FILES",
                ".TP",
                "/etc/xlb/xlb.toml",
                "the configuration the packaged service runs with",
                ".TP",
                "/usr/share/doc/xlb/",
                "the documents this page refers to (docs/\\fIname\\fR.md there)",
                ".SH \"SEE ALSO\"",
                "\\fBxlbd\\fR(8), \\fBxlbctl\\fR(8), \\fBxlbctl\\-check\\-config\\fR(8)",
            ],
        },
    )
}

/// The man page of `md` (a document of docs/ whose first line is its
/// `# title`) inside `frame`.
pub fn markdown_page(md: &str, version: &str, frame: &PageFrame) -> String {
    let mut out = vec![
        format!(
            ".TH {} {} \"\" \"xlb {version}\" \"{}\"",
            frame.title, frame.section, frame.manual
        ),
        ".SH NAME".into(),
        frame.name.into(),
        ".SH SYNOPSIS".into(),
    ];
    for (i, l) in frame.synopsis.iter().enumerate() {
        if i > 0 {
            out.push(".br".into());
        }
        out.push((*l).into());
    }
    out.push(".SH DESCRIPTION".into());
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    let mut para = Vec::new();
    let flush = |para: &mut Vec<String>, out: &mut Vec<String>| {
        if !para.is_empty() {
            out.push(".PP".into());
            out.append(para);
        }
    };
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim_start();
        if t.starts_with("# ") {
            i += 1; // the title: the page's NAME says it
        } else if let Some(h) = t.strip_prefix("### ") {
            flush(&mut para, &mut out);
            out.push(format!(".SS \"{}\"", inline(h).replace('"', "\\(dq")));
            i += 1;
        } else if let Some(h) = t.strip_prefix("## ") {
            flush(&mut para, &mut out);
            out.push(format!(".SH \"{}\"", inline(h).replace('"', "\\(dq")));
            i += 1;
        } else if t.starts_with("```") {
            flush(&mut para, &mut out);
            out.extend([".PP".into(), ".RS 4".into(), ".nf".into()]);
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                out.push(line(&escape(lines[i])));
                i += 1;
            }
            out.extend([".fi".into(), ".RE".into()]);
            i += 1;
        } else if t.starts_with('|') {
            flush(&mut para, &mut out);
            let start = i;
            while i < lines.len() && lines[i].trim_start().starts_with('|') {
                i += 1;
            }
            table(&lines[start..i], &mut out);
        } else if let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            flush(&mut para, &mut out);
            out.push(".IP \\(bu 2".into());
            out.push(line(&inline(item)));
            i += 1;
        } else if t.is_empty() {
            flush(&mut para, &mut out);
            i += 1;
        } else {
            para.push(line(&inline(t)));
            i += 1;
        }
    }
    flush(&mut para, &mut out);
    out.extend(frame.tail.iter().map(|l| (*l).to_string()));
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown_becomes_fonts_and_escapes() {
        assert_eq!(
            inline("`socket` is **bold**"),
            "\\fBsocket\\fR is \\fBbold\\fR"
        );
        assert_eq!(
            inline("worker *i* of [the docs](docs/x.md)"),
            "worker \\fIi\\fR of the docs"
        );
        assert_eq!(inline("a\\b `x-y`"), "a\\eb \\fBx\\-y\\fR");
        // Unbalanced marks stay as they are.
        assert_eq!(inline("2 * 3 and `open"), "2 * 3 and `open");
    }

    #[test]
    fn table_rows_become_tagged_paragraphs_with_their_default() {
        let md = "## `[timeouts]`\n\n| key | default | meaning |\n|---|---|---|\n| `tcp` | 900 | ESTABLISHED |\n";
        let page = config_page(md, "1.0");
        assert!(page.contains(".SH \"\\fB[timeouts]\\fR\""), "{page}");
        assert!(
            page.contains(".TP\n\\fBtcp\\fR\nDefault: 900. ESTABLISHED\n"),
            "{page}"
        );
    }

    #[test]
    fn code_blocks_are_kept_verbatim_and_cannot_start_requests() {
        let md = "text\n\n```toml\n[daemon]\n.hidden = 1\n```\n";
        let page = config_page(md, "1.0");
        assert!(
            page.contains(".nf\n[daemon]\n\\&.hidden = 1\n.fi"),
            "{page}"
        );
    }

    #[test]
    fn a_pipe_in_a_code_span_is_not_a_column() {
        assert_eq!(cells("| `a|b` | c |"), ["`a|b`", "c"]);
        assert_eq!(cells("| `-t\\|-u` x\\|y | c |"), ["`-t|-u` x|y", "c"]);
    }
}
