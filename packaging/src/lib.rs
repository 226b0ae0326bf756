//! xlb's man pages and shell completions: xlbd(8), xlbctl(8) and a page
//! per xlbctl subcommand from the clap definitions the binaries parse with
//! (clap_mangen), xlb.toml(5) from docs/config.md and xlb-ipvsadm(8) from
//! docs/ipvsadm.md (`roff`; its command line is ipvsadm's, not clap's), and bash and zsh
//! completions (clap_complete). Generated, so they cannot drift from the
//! code; `xlb-docgen DIR` writes them for the package.

pub mod roff;

use clap::{Command, CommandFactory};
use std::io;
use std::path::{Path, PathBuf};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The configuration reference the xlb.toml(5) page is made from.
pub const CONFIG_MD: &str = include_str!("../../docs/config.md");
/// ipvsadm's options and what each does in xlb: the xlb-ipvsadm(8) page.
pub const IPVSADM_MD: &str = include_str!("../../docs/ipvsadm.md");

pub fn xlbd_command() -> Command {
    xlb_control::cli::xlbd::Args::command()
}

pub fn xlbctl_command() -> Command {
    xlb_control::cli::xlbctl::Args::command()
}

/// A generated file: its path under the output directory and its bytes.
pub struct Generated {
    pub path: PathBuf,
    pub text: Vec<u8>,
}

fn man(cmd: Command, see_also: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let page = clap_mangen::Man::new(cmd)
        .section("8")
        .source(format!("xlb {VERSION}"))
        .manual("System Administration");
    // Writing to a Vec cannot fail.
    page.render(&mut out).expect("render to memory");
    out.extend_from_slice(format!(".SH \"SEE ALSO\"\n{see_also}\n").as_bytes());
    out
}

/// Every man page: xlbd.8, xlbctl.8, xlbctl-SUBCOMMAND.8, xlb-ipvsadm.8,
/// xlb.toml.5.
pub fn man_pages() -> Vec<Generated> {
    let page = |name: String, text| Generated {
        path: Path::new("man").join(name),
        text,
    };
    let mut pages = vec![
        page(
            "xlbd.8".into(),
            man(
                xlbd_command(),
                "\\fBxlbctl\\fR(8), \\fBxlb.toml\\fR(5), /usr/share/doc/xlb/",
            ),
        ),
        page(
            "xlbctl.8".into(),
            man(
                xlbctl_command(),
                "\\fBxlbctl\\-\\fIcommand\\fR(8) for each command's options, \\fBxlbd\\fR(8), \
                 \\fBxlb.toml\\fR(5), /usr/share/doc/xlb/",
            ),
        ),
    ];
    let top = xlbctl_command();
    for sub in top.get_subcommands() {
        let name = format!("xlbctl-{}", sub.get_name());
        let cmd = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("xlbctl {}", sub.get_name()))
            .version(VERSION);
        pages.push(page(
            format!("{name}.8"),
            man(
                cmd,
                "\\fBxlbctl\\fR(8), \\fBxlbd\\fR(8), \\fBxlb.toml\\fR(5)",
            ),
        ));
    }
    pages.push(page(
        "xlb-ipvsadm.8".into(),
        roff::markdown_page(
            IPVSADM_MD,
            VERSION,
            &roff::PageFrame {
                title: "XLB\\-IPVSADM",
                section: "8",
                manual: "System Administration",
                name: "xlb\\-ipvsadm \\- ipvsadm's command line for xlbd, the xlb load\\-balancing director",
                synopsis: &[
                    "\\fBxlb\\-ipvsadm\\fR \\fIipvsadm\\-arguments\\fR...",
                    "\\fBxlbctl ipvsadm\\fR \\fIipvsadm\\-arguments\\fR...",
                ],
                tail: &[
                    ".SH ENVIRONMENT",
                    ".TP",
                    "XLB_SOCKET",
                    "xlbd's API socket (default /run/xlb/xlbd.sock)",
                    ".SH \"SEE ALSO\"",
                    "\\fBipvsadm\\fR(8), \\fBxlbctl\\-ipvsadm\\fR(8), \\fBxlbctl\\-save\\fR(8), \\fBxlb.toml\\fR(5)",
                ],
            },
        )
        .into_bytes(),
    ));
    pages.push(page(
        "xlb.toml.5".into(),
        roff::config_page(CONFIG_MD, VERSION).into_bytes(),
    ));
    pages
}

/// bash and zsh completions for xlbd and xlbctl, where Debian's
/// bash-completion and zsh look for them (by name).
pub fn completions() -> Vec<Generated> {
    use clap_complete::{generate, Shell};
    let mut v = Vec::new();
    for (name, make) in [
        ("xlbd", xlbd_command as fn() -> Command),
        ("xlbctl", xlbctl_command),
    ] {
        for (shell, file) in [
            (Shell::Bash, name.to_string()),
            (Shell::Zsh, format!("_{name}")),
        ] {
            let mut text = Vec::new();
            generate(shell, &mut make(), name, &mut text);
            v.push(Generated {
                path: Path::new("completions").join(shell.to_string()).join(file),
                text,
            });
        }
    }
    v
}

/// Write every page and completion under `dir`; the paths written.
pub fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for g in man_pages().into_iter().chain(completions()) {
        let path = dir.join(&g.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &g.text)?;
        written.push(path);
    }
    Ok(written)
}
