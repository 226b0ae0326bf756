//! The generated pages and completions cover every option, subcommand and
//! configuration key: a flag added to a binary or a key added to
//! docs/config.md that the output misses fails here.

use std::collections::BTreeSet;
use xlb_packaging::{completions, man_pages, xlbctl_command, xlbd_command, CONFIG_MD, IPVSADM_MD};

fn page(name: &str) -> String {
    let p = man_pages()
        .into_iter()
        .find(|g| g.path.file_name().unwrap() == name)
        .unwrap_or_else(|| panic!("no page {name}"));
    String::from_utf8(p.text).unwrap()
}

/// How a long option appears in roff: hyphens escaped.
fn roff_long(long: &str) -> String {
    format!("\\-\\-{}", long.replace('-', "\\-"))
}

fn longs(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .map(str::to_string)
        .collect()
}

#[test]
fn xlbd_page_has_every_option() {
    let text = page("xlbd.8");
    let options = longs(&xlbd_command());
    assert!(options.len() >= 4, "{options:?}");
    for o in options {
        assert!(text.contains(&roff_long(&o)), "xlbd.8 lacks --{o}");
    }
    assert!(text.contains(".TH xlbd 8"), "{text}");
}

#[test]
fn xlbctl_page_lists_every_command_and_each_has_a_page_with_its_options() {
    let top = xlbctl_command();
    let text = page("xlbctl.8");
    for o in longs(&top) {
        assert!(text.contains(&roff_long(&o)), "xlbctl.8 lacks --{o}");
    }
    let subs: Vec<_> = top.get_subcommands().collect();
    assert!(subs.len() >= 10, "{}", subs.len());
    for sub in subs {
        let name = sub.get_name();
        assert!(
            text.contains(&name.replace('-', "\\-")),
            "xlbctl.8 lacks {name}"
        );
        let own = page(&format!("xlbctl-{name}.8"));
        for o in longs(sub) {
            assert!(own.contains(&roff_long(&o)), "xlbctl-{name}.8 lacks --{o}");
        }
        // Positional arguments are named too (SERVICE, REAL, FILE...).
        for a in sub.get_positionals() {
            let v = a.get_id().as_str().to_uppercase();
            assert!(own.contains(&v), "xlbctl-{name}.8 lacks {v}");
        }
    }
}

/// Every key docs/config.md's tables name (the first column's code spans).
fn config_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for line in CONFIG_MD.lines().filter(|l| l.starts_with("| `")) {
        let first = line.trim_start_matches('|').split(" |").next().unwrap();
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                keys.insert(part.to_string());
            }
        }
    }
    keys
}

#[test]
fn xlb_toml_page_covers_every_section_and_key_of_the_reference() {
    let text = page("xlb.toml.5");
    let keys = config_keys();
    assert!(keys.len() > 40, "{keys:?}");
    for k in keys {
        let roff = format!("\\fB{}\\fR", k.replace('-', "\\-"));
        assert!(text.contains(&roff), "xlb.toml.5 lacks key {k}");
    }
    let headings: Vec<&str> = CONFIG_MD
        .lines()
        .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
        .collect();
    assert!(headings.len() >= 8);
    let (mut sh, mut ss) = (0, 0);
    for l in text.lines() {
        sh += l.starts_with(".SH \"") as usize;
        ss += l.starts_with(".SS \"") as usize;
    }
    // The page's own sections are unquoted, but for "SEE ALSO".
    assert_eq!(sh + ss - 1, headings.len(), "one section per heading");
    // The prose too: a sentence of each section's text is in the page.
    for s in [
        "keep IPVS's defaults",
        "There is no authentication",
        "A real server whose MAC",
    ] {
        assert!(
            CONFIG_MD.contains(s),
            "pick sentences that are in config.md: {s}"
        );
        assert!(text.contains(s), "xlb.toml.5 lacks: {s}");
    }
}

#[test]
fn xlb_ipvsadm_page_has_every_option_row_of_docs_ipvsadm() {
    let text = page("xlb-ipvsadm.8");
    assert!(text.starts_with(".TH XLB\\-IPVSADM 8 "), "{}", &text[..60]);
    assert!(text.contains("\\fBxlb\\-ipvsadm\\fR \\fIipvsadm\\-arguments"));
    // Every row of the options table but its head and rule.
    let rows: Vec<&str> = IPVSADM_MD
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ipvsadm |"))
        .map(|l| l.trim_start_matches("| ").split(" |").next().unwrap())
        .collect();
    assert!(rows.len() >= 20, "{rows:?}");
    for first in rows {
        // The row's first cell is its tag: code spans bold, hyphens
        // escaped, the table's escaped pipes plain pipes.
        let tag = xlb_packaging::roff::inline(&first.replace("\\|", "|"));
        assert!(
            text.contains(&format!(".TP\n{tag}\n")),
            "xlb-ipvsadm.8 lacks the row {first} ({tag})"
        );
    }
    // A row's empty cell says nothing (not "Notes: .").
    assert!(!text.contains("Notes: ."), "{text}");
    for s in [
        "Health checks live in the configuration",
        "Exit status, as ipvsadm's",
    ] {
        assert!(IPVSADM_MD.contains(s), "pick sentences of ipvsadm.md: {s}");
        assert!(text.contains(s), "xlb-ipvsadm.8 lacks: {s}");
    }
}

#[test]
fn completions_know_every_xlbctl_command() {
    let all = completions();
    assert_eq!(all.len(), 4);
    for g in &all {
        assert!(!g.text.is_empty(), "{}", g.path.display());
    }
    let bash = all
        .iter()
        .find(|g| g.path.ends_with("bash/xlbctl"))
        .map(|g| String::from_utf8_lossy(&g.text).into_owned())
        .unwrap();
    let zsh = all
        .iter()
        .find(|g| g.path.ends_with("zsh/_xlbctl"))
        .map(|g| String::from_utf8_lossy(&g.text).into_owned())
        .unwrap();
    for sub in xlbctl_command().get_subcommands() {
        assert!(
            bash.contains(sub.get_name()),
            "bash lacks {}",
            sub.get_name()
        );
        assert!(zsh.contains(sub.get_name()), "zsh lacks {}", sub.get_name());
    }
    assert!(zsh.starts_with("#compdef xlbctl"), "{}", &zsh[..40]);
}
