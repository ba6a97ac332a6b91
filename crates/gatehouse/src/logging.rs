//! Logging set-up: text for people, JSON for collectors; `RUST_LOG` filters.
//!
//! Log fields carry text from outside: certificate subjects, back ends' certificates, error
//! messages quoting requests. In the text format one event is one line, so every field is
//! written through [`SafeFields`], which escapes whatever could end the line or disguise it;
//! a subject holding `\n2026-01-01T00:00:00Z  INFO ...` cannot forge a line. The JSON format
//! needs nothing more: its serializer escapes control characters inside strings.

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::{FormatFields, MakeWriter, SubscriberBuilder};

/// Log line format.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Format {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber, writing to stderr.
pub(crate) fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match format {
        Format::Text => text(filter, std::io::stderr, std::io::stderr().is_terminal()).init(),
        Format::Json => json(filter, std::io::stderr).init(),
    }
}

/// The text format: tracing's usual line, with [`SafeFields`] writing the fields.
fn text<W>(
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> SubscriberBuilder<SafeFields, format::Format, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .fmt_fields(SafeFields)
}

/// The JSON format: one object per line.
fn json<W>(
    filter: EnvFilter,
    writer: W,
) -> SubscriberBuilder<format::JsonFields, format::Format<format::Json>, EnvFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .json()
}

/// Writes event and span fields as tracing's default text format does (the message, then
/// `name=value` pairs), but with every value escaped by [`escape`]: tracing writes `%value`
/// fields and messages as they are, newlines included.
struct SafeFields;

impl<'w> FormatFields<'w> for SafeFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = SafeVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct SafeVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visit for SafeVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // As tracing's default: a message as it is, other strings quoted.
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `log.*` fields are the `log` crate's metadata of a bridged record; the line shows
        // them already, as tracing's default does.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = self.write(field.name(), value);
    }
}

impl SafeVisitor<'_> {
    fn write(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !std::mem::replace(&mut self.first, false) {
            self.writer.write_char(' ')?;
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            if self.writer.has_ansi_escapes() {
                write!(self.writer, "\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m")?;
            } else {
                write!(self.writer, "{name}=")?;
            }
        }
        write!(Escaping(&mut self.writer), "{value:?}")
    }
}

/// A writer that passes text through [`escape`] on its way.
struct Escaping<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(s, self.0)
    }
}

/// Writes `text` with each character that could end a log line or disguise it written as
/// its Rust escape (`\n`, `\r`, `\t`, `\u{1b}`, `\u{2028}`), everything else as it is.
fn escape(text: &str, out: &mut impl fmt::Write) -> fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(is_unsafe) {
        let (clean, tail) = rest.split_at(at);
        out.write_str(clean)?;
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            write!(out, "{}", c.escape_default())?;
        }
        rest = chars.as_str();
    }
    out.write_str(rest)
}

/// Control characters (C0 with line breaks and the terminal escape, DEL, C1), Unicode's line
/// and paragraph separators, and the bidirectional controls that reorder what a reader sees.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    const FORGED: &str = "\n2026-01-01T00:00:00Z  INFO forged";

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn events() {
        let subject = format!("CN=evil{FORGED}");
        let span = tracing::info_span!("request", path = %"/a\r\nb");
        let _entered = span.enter();
        tracing::info!(subject = %subject, quoted = subject.as_str(), "uploaded {subject}");
        tracing::warn!(detail = ?subject, "bidi \u{202e}txet and \u{1b}[31m colour");
    }

    #[test]
    fn text_lines_cannot_be_forged() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = text(EnvFilter::new("info"), move || writer.clone(), false).finish();
        tracing::subscriber::with_default(subscriber, events);
        let out = capture.text();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines.iter().all(|l| !l.starts_with("2026-01-01T00:00:00Z")),
            "{out}"
        );
        let escaped = r"CN=evil\n2026-01-01T00:00:00Z  INFO forged";
        assert!(
            lines[0].contains(&format!("uploaded {escaped}")),
            "message: {out}"
        );
        assert!(
            lines[0].contains(&format!("subject={escaped}")),
            "display: {out}"
        );
        // Debug-formatted values were escaped by Debug already; nothing is escaped twice.
        assert!(
            lines[0].contains(&format!("quoted=\"{escaped}\"")),
            "str: {out}"
        );
        assert!(lines[0].contains(r"path=/a\r\nb"), "span: {out}");
        assert!(
            lines[1].contains(r"bidi \u{202e}txet and \u{1b}[31m colour"),
            "{out}"
        );
        assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
    }

    #[test]
    fn json_lines_are_escaped_by_the_serializer() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = json(EnvFilter::new("info"), move || writer.clone()).finish();
        tracing::subscriber::with_default(subscriber, events);
        let out = capture.text();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(
            first["fields"]["subject"],
            serde_json::json!(format!("CN=evil{FORGED}"))
        );
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert!(
            second["fields"]["message"]
                .as_str()
                .unwrap()
                .contains('\u{1b}')
        );
        assert!(!out.contains('\u{1b}'), "{out}");
    }

    #[test]
    fn escape_keeps_ordinary_text() {
        let mut out = String::new();
        escape("Zürich, CN=a \\ \"b\" 日本\t\u{85}", &mut out).unwrap();
        assert_eq!(out, "Zürich, CN=a \\ \"b\" 日本\\t\\u{85}");
    }
}
