//! xlbd's log lines: plain text for a terminal or journald (the default),
//! or one JSON object per line for log shippers (`--log-format json`).
//!
//! Under systemd, stderr is a stream to journald (`JOURNAL_STREAM` names
//! it): journald stamps every line itself, so plain lines leave the time
//! out and start with the syslog priority (`<3>` for an error, sd-daemon(3)),
//! which journald turns into the entry's priority.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// `xlbd --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; journald-friendly when stderr goes to the journal.
    Plain,
    /// One JSON object per line: timestamp, level, message, target and the event's fields.
    Json,
}

/// Where the lines go, as far as their form is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSink {
    /// A terminal: colours are welcome.
    pub terminal: bool,
    /// journald (systemd's `JOURNAL_STREAM` is this stderr).
    pub journal: bool,
}

impl LogSink {
    /// What stderr is.
    pub fn stderr() -> LogSink {
        use std::io::IsTerminal;
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let id = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata())
            .map(|m| (m.dev(), m.ino()))
            .ok();
        let var = std::env::var("JOURNAL_STREAM").ok();
        LogSink {
            terminal: std::io::stderr().is_terminal(),
            journal: id.is_some_and(|id| is_journal_stream(var.as_deref(), id)),
        }
    }
}

/// Whether `JOURNAL_STREAM` ("DEVICE:INODE", systemd.exec(5)) names the
/// stream with this device and inode. A child that inherited the variable
/// but had its stderr redirected must not take its file for the journal.
pub fn is_journal_stream(var: Option<&str>, (dev, ino): (u64, u64)) -> bool {
    let Some((d, i)) = var.and_then(|v| v.split_once(':')) else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

/// The syslog priority journald reads from a line's `<N>` prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7, // DEBUG, TRACE
    }
}

/// Plain lines for journald: the priority first, no timestamp.
struct Journald<F>(F);

impl<S, N, F> FormatEvent<S, N> for Journald<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// The subscriber xlbd logs through, writing to `out`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    sink: LogSink,
    out: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(out);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
        LogFormat::Plain if sink.journal => {
            let inner = tracing_subscriber::fmt::format()
                .without_time()
                .with_ansi(false);
            Box::new(builder.event_format(Journald(inner)).finish())
        }
        LogFormat::Plain => Box::new(builder.with_ansi(sink.terminal).finish()),
    }
}

/// The log's form, for what xlbd prints beside it (`stopping`).
static FORM: std::sync::OnceLock<(LogFormat, LogSink)> = std::sync::OnceLock::new();

/// Log to stderr for the rest of the process.
pub fn init(format: LogFormat, filter: &str) {
    let sink = LogSink::stderr();
    let _ = FORM.set((format, sink));
    let sub = subscriber(format, filter, sink, std::io::stderr);
    // Only fails when a subscriber is already set, which xlbd never does.
    let _ = tracing::subscriber::set_global_default(sub);
}

/// Why xlbd stops (a configuration with errors, a missing capability, a
/// port it cannot take): a diagnostic of several lines, written as the
/// log is. To journald every line is an error (`<3>`): unmarked, journald
/// would file them as information and `journalctl -p err` would not say
/// why the service failed. In a JSON log, one error event.
pub fn stopping(text: &str) {
    match FORM.get() {
        Some((LogFormat::Json, _)) => tracing::error!("{text}"),
        form => eprint!("{}", plain_error(text, form.is_some_and(|f| f.1.journal))),
    }
}

/// `text` as stderr takes it: each line marked as an error for journald.
fn plain_error(text: &str, journal: bool) -> String {
    let mark = if journal { "<3>" } else { "" };
    text.lines().map(|l| format!("{mark}{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Lines written by a subscriber, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_with(format: LogFormat, sink: LogSink, f: impl FnOnce()) -> String {
        let out = Captured::default();
        let keep = out.clone();
        let sub = subscriber(format, "debug", sink, move || keep.clone());
        tracing::subscriber::with_default(sub, f);
        let text = out.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    const PIPE: LogSink = LogSink {
        terminal: false,
        journal: false,
    };

    #[test]
    fn json_lines_parse_and_carry_level_message_target_and_fields() {
        let text = log_with(LogFormat::Json, PIPE, || {
            tracing::warn!(service = "10.0.0.1:80", weight = 3, "real server DOWN");
            tracing::info!("xlbd ready");
        });
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["message"], "real server DOWN");
        assert_eq!(lines[0]["target"], module_path!());
        assert_eq!(lines[0]["service"], "10.0.0.1:80");
        assert_eq!(lines[0]["weight"], 3);
        assert!(lines[0]["timestamp"].is_string());
        assert_eq!(lines[1]["level"], "INFO");
        assert_eq!(lines[1]["message"], "xlbd ready");
    }

    #[test]
    fn plain_lines_for_journald_start_with_the_priority_and_have_no_time() {
        let sink = LogSink {
            terminal: false,
            journal: true,
        };
        let text = log_with(LogFormat::Plain, sink, || {
            tracing::error!("cannot start");
            tracing::info!(socket = "/run/xlb/xlbd.sock", "xlbd ready");
            tracing::debug!("detail");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("<3>"), "{}", lines[0]);
        assert!(lines[1].starts_with("<6>"), "{}", lines[1]);
        assert!(lines[2].starts_with("<7>"), "{}", lines[2]);
        assert!(
            lines[1].contains("xlbd ready") && lines[1].contains("socket=\"/run/xlb/xlbd.sock\""),
            "{}",
            lines[1]
        );
        // No timestamp: the level follows the priority.
        assert!(
            lines[1][3..].trim_start().starts_with("INFO"),
            "{}",
            lines[1]
        );
        assert!(
            !text.contains('\x1b'),
            "no colours in the journal: {text:?}"
        );
    }

    #[test]
    fn plain_lines_to_a_pipe_have_a_time_and_no_colours() {
        let text = log_with(LogFormat::Plain, PIPE, || tracing::info!("xlbd ready"));
        let line = text.lines().next().unwrap();
        assert!(!line.starts_with('<'), "{line}");
        // RFC 3339 time first: "2026-11-29T10:00:00.000000Z  INFO ...".
        assert!(line.as_bytes()[4] == b'-' && line.contains('T'), "{line}");
        assert!(!text.contains('\x1b'), "{text:?}");
    }

    #[test]
    fn a_diagnostic_xlbd_stops_on_is_an_error_line_by_line_for_journald() {
        let text = "error: t.toml:3:9: unknown scheduler \"rrr\"\n  help: one of rr, wrr\n";
        assert_eq!(
            plain_error(text, true),
            "<3>error: t.toml:3:9: unknown scheduler \"rrr\"\n<3>  help: one of rr, wrr\n"
        );
        assert_eq!(plain_error(text, false), text);
        assert_eq!(plain_error("no newline", false), "no newline\n");
    }

    #[test]
    fn journal_stream_must_name_this_very_stream() {
        assert!(is_journal_stream(Some("8:12345"), (8, 12345)));
        assert!(!is_journal_stream(Some("8:12345"), (8, 12346)));
        assert!(!is_journal_stream(Some("9:12345"), (8, 12345)));
        assert!(!is_journal_stream(Some("garbage"), (8, 12345)));
        assert!(!is_journal_stream(None, (8, 12345)));
    }
}
