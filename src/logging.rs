//! Log output: human-readable or JSON lines on stderr.
//!
//! Whatever level is asked for, events from the `ldap3_proto` and
//! `ldap3_lber` crates are dropped: at trace level they print decoded
//! messages, which for a password operation would include the password.
//! pwgate's own events never contain one. rustls's debug and trace output
//! (handshake details, ticket nonces) is dropped too; its warnings remain.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Writer};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogFormat;

/// Targets whose events may contain message contents, hence secrets.
const SILENCED_TARGETS: &[&str] = &["ldap3_proto", "ldap3_lber"];

/// Targets whose events below WARN are dropped.
const QUIETED_TARGETS: &[&str] = &["rustls", "tokio_rustls"];

fn under(target: &str, root: &str) -> bool {
    target == root
        || target
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// True for events pwgate may write.
pub fn target_allowed(target: &str) -> bool {
    !SILENCED_TARGETS.iter().any(|t| under(target, t))
}

/// True for events pwgate may write, given their level.
pub fn event_allowed(target: &str, level: &tracing::Level) -> bool {
    target_allowed(target)
        && (*level <= tracing::Level::WARN || !QUIETED_TARGETS.iter().any(|t| under(target, t)))
}

/// Installs the global subscriber. `level` (from flag or config) wins over
/// `RUST_LOG`; without either the level is `info`.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<(), String> {
    init_with_audit(format, level, None)
}

/// Like [`init`], also sending every audit event to `audit` whatever the
/// log level.
pub fn init_with_audit(
    format: LogFormat,
    level: Option<&str>,
    audit: Option<std::sync::Arc<crate::audit::trail::AuditTrail>>,
) -> Result<(), String> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| format!("invalid log level `{l}`: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let secret_safe = filter_fn(|meta| event_allowed(meta.target(), meta.level()));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_timer(Clock)
        .with_ansi(ansi);
    let fmt = match format {
        LogFormat::Text => fmt.fmt_fields(PlainFields).boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(secret_safe).with_filter(filter))
        .with(audit.map(crate::audit::trail::AuditLayer))
        .try_init()
        .map_err(|e| e.to_string())
}

/// Each line's time as `tracing-subscriber`'s `SystemTime` writes it
/// (`2026-12-07T21:30:00.123456Z`, UTC), with the date and time to the
/// second kept per thread: converting seconds to a calendar date and the
/// seven `{:02}` of its formatting were 1.5% of pwgate's CPU on a password
/// change, which writes two audit lines.
struct Clock;

/// 10000-01-01T00:00:00Z: from then on `SystemTime` writes the year with
/// a sign, so [`Clock`] lets it.
const YEAR_10000: u64 = 253_402_300_800;

thread_local! {
    /// The second last written by this thread, and its text.
    static SECOND: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

impl tracing_subscriber::fmt::time::FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        use tracing_subscriber::fmt::time::SystemTime;
        let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
            return SystemTime.format_time(w);
        };
        let secs = since.as_secs();
        if secs >= YEAR_10000 {
            return SystemTime.format_time(w);
        }
        let mut fraction = *b".000000Z";
        let mut micros = since.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        let fraction = std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?;
        let written = SECOND.try_with(|kept| {
            let mut kept = kept.try_borrow_mut().ok()?;
            if kept.0 != secs {
                kept.1.clear();
                crate::audit::trail::write_second(secs, &mut kept.1);
                kept.0 = secs;
            }
            Some(w.write_str(&kept.1).and_then(|()| w.write_str(fraction)))
        });
        match written {
            Ok(Some(result)) => result,
            // While the thread ends.
            _ => SystemTime.format_time(w),
        }
    }
}

/// The text format's fields as `tracing-subscriber`'s `DefaultFields`
/// writes them without colours (`name=value` apart by spaces, values as
/// `{:?}`, the message with terminal escapes shown escaped), in fewer
/// formatting calls: an audit event has a dozen fields, and
/// `DefaultFields` writes each name and `=` through an ANSI style, empty
/// or not. With colours on (a terminal), `DefaultFields` itself. The test
/// `plain_fields_write_what_default_fields_write` holds the two together.
struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"))
        } else if value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            // What `{:?}` writes for printable ASCII without quotes or
            // backslashes, without its escaping pass (the audit events'
            // door, kind, attribute and verdict).
            self.record_debug(field, &Quoted(value))
        } else {
            self.record_debug(field, &value)
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Rare: as DefaultFields writes it (with the error's sources).
        if self.result.is_err() {
            return;
        }
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.first);
        default.record_error(field, value);
        self.first = false;
        self.result = default.finish();
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let first = std::mem::take(&mut self.first);
        self.result = write_field(&mut self.writer, first, name, value);
    }
}

/// A string that `{:?}` writes as it is, between double quotes.
struct Quoted<'a>(&'a str);

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        f.write_str(self.0)?;
        f.write_char('"')
    }
}

/// One field as `DefaultVisitor` writes it without colours: a space before
/// all but the first, then `name=value`, or the message alone.
fn write_field(w: &mut Writer<'_>, first: bool, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
    if !first {
        w.write_char(' ')?;
    }
    if name == "message" {
        return if w.sanitizes_ansi_escapes() {
            write!(Escaping(w), "{value:?}")
        } else {
            write!(w, "{value:?}")
        };
    }
    w.write_str(name.strip_prefix("r#").unwrap_or(name))?;
    w.write_char('=')?;
    write!(w, "{value:?}")
}

/// Writes terminal control characters of a message as escapes, as
/// `tracing-subscriber` does: ESC, BEL, BS, FF and DEL as `\x..`, C1
/// controls as `\u{..}`; the rest in runs.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let terminal = |c: char| matches!(c, '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f');
        crate::audit::write_escaping(
            &mut *self.0,
            s,
            |c| terminal(c) || ('\u{80}'..='\u{9f}').contains(&c),
            |w, c| {
                if terminal(c) {
                    write!(w, "\\x{:02x}", c as u32)
                } else {
                    write!(w, "\\u{{{:x}}}", c as u32)
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a text-format layer with `fields` writes for a fixed set of
    /// events (no time, no colours).
    fn text_lines<N>(fields: N) -> String
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        use std::sync::{Arc, Mutex};
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_max_level(tracing::Level::TRACE)
            .fmt_fields(fields)
            .with_writer(move || SharedBuf(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let err = std::io::Error::other("disk \"full\"");
            let span = tracing::info_span!("session", client = "127.0.0.1:9", n = 3);
            let _in = span.enter();
            tracing::info!(
                target: "pwgate::audit",
                event = "password_decision",
                door = "ldap",
                client = %"127.0.0.1:4000",
                actor = %"uid=a \"b\",dc=x",
                msgid = 7_i64,
                big = u64::MAX,
                yes = true,
                ratio = 0.5_f64,
                quoted = "tab\there \\ \"q\" nl\n \u{1b}[31m",
                r#type = "raw",
                printable = " !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~",
                quote = "a\"b",
                backslash = "a\\b",
                del = "a\u{7f}",
                unit_separator = "a\u{1f}",
                latin = "caf\u{e9}",
                "password {} {}",
                "change",
                "accepted"
            );
            tracing::warn!(
                error = %err,
                "message with \u{1b}[2J, \u{7}, \u{8}, \u{c}, \u{7f}, \u{80}, \u{85}, \u{9f} and \u{a0}"
            );
            tracing::error!(
                error = &err as &(dyn std::error::Error + 'static),
                "an error value"
            );
            tracing::debug!(only = 1);
            tracing::info!("");
        });
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_clock_writes_what_system_time_writes() {
        use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
        let now = |timer: &dyn FormatTime| {
            let mut s = String::new();
            timer.format_time(&mut Writer::new(&mut s)).unwrap();
            s
        };
        // Twice, so the second call takes the kept second. Both clocks
        // agree to the second unless one ran just across a second.
        for _ in 0..2 {
            let (ours, theirs) = (0..5)
                .map(|_| (now(&Clock), now(&SystemTime)))
                .find(|(a, b)| a[..19] == b[..19])
                .expect("the same second within five tries");
            assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
            assert_eq!(ours.as_bytes()[19], b'.', "{ours}");
            assert!(ours[20..26].bytes().all(|b| b.is_ascii_digit()), "{ours}");
            assert!(ours.ends_with('Z'), "{ours}");
        }
    }

    #[test]
    fn plain_fields_write_what_default_fields_write() {
        let default = text_lines(DefaultFields::new());
        let plain = text_lines(PlainFields);
        assert_eq!(plain, default);
        // The cases are there to be compared.
        assert_eq!(default.lines().count(), 5, "{default}");
        assert!(default.contains("\\x1b[2J"), "{default}");
        assert!(default.contains("\\u{85}"), "{default}");
        assert!(default.contains("type=\"raw\""), "{default}");
        assert!(
            default.contains("session{client=\"127.0.0.1:9\" n=3}"),
            "{default}"
        );
    }

    #[test]
    fn decoder_crates_are_silenced() {
        assert!(!target_allowed("ldap3_proto"));
        assert!(!target_allowed("ldap3_proto::proto"));
        assert!(!target_allowed("ldap3_lber::parse"));
        assert!(target_allowed("pwgate::audit"));
        assert!(target_allowed("ldap3_protocol_other"));
    }

    #[test]
    fn rustls_keeps_only_warnings_and_errors() {
        use tracing::Level;
        assert!(!event_allowed("rustls::server::hs", &Level::TRACE));
        assert!(!event_allowed("rustls", &Level::DEBUG));
        assert!(event_allowed("rustls::conn", &Level::WARN));
        assert!(event_allowed("pwgate::proxy::session", &Level::TRACE));
    }
}
