//! The audit file: every `pwgate::audit` event as one JSON line, optionally
//! chained so that a removed, reordered or edited record is detected.
//!
//! A record is a JSON object with sorted keys: `ts` (RFC 3339, UTC), `seq`
//! (1, 2, ... in this file's chain), `event`, the event's fields, and with
//! the chain on, `prev` (the previous record's `hash`, 64 zeros for the
//! first) and `hash`: the SHA-256, in hex, of the record's compact JSON
//! without `hash`. `pwgate audit verify FILE...` recomputes every hash and
//! link. The chain continues across restarts (the last record is read at
//! start) and across files reopened after rotation (SIGHUP), so verifying
//! rotated files together checks their links too.
//!
//! Writes go straight to the kernel (one `write` per record, no buffer in
//! pwgate), so a crash loses nothing already decided; they are not fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Audit records that could not be written (to the file, standard output
/// or syslog) since the process started: `pwgate_audit_write_errors_total`.
static WRITE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// How many audit records could not be written since the process started.
pub fn write_errors() -> u64 {
    WRITE_ERRORS.load(Ordering::Relaxed)
}

/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    File(PathBuf),
    Stdout,
}

struct State {
    out: Option<File>,
    seq: u64,
    prev: String,
    /// When the file at the path was last compared with the open one.
    checked: std::time::Instant,
}

/// How often a write looks whether the file at the path is still the one
/// open (rotated or deleted without a SIGHUP).
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `open` is still the file at `path` (same device and inode).
#[cfg(unix)]
fn still_there(path: &Path, open: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(path), open.metadata()) {
        (Ok(at_path), Ok(held)) => at_path.dev() == held.dev() && at_path.ino() == held.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_there(_: &Path, _: &File) -> bool {
    true
}

/// The writer behind the tracing layer.
pub struct AuditTrail {
    /// None: syslog only.
    sink: Option<Sink>,
    chain: bool,
    state: Mutex<State>,
    syslog: Option<Syslog>,
}

/// RFC 5424 messages over a local datagram socket (`/dev/log`), facility
/// authpriv, severity info, app name `pwgate`, msgid `audit`; the message
/// is the record's JSON.
struct Syslog {
    path: PathBuf,
    socket: Mutex<Option<std::os::unix::net::UnixDatagram>>,
    hostname: String,
}

impl Syslog {
    fn open(path: &Path) -> Result<Self, String> {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(' '))
            .unwrap_or_else(|| "-".to_owned());
        let syslog = Syslog {
            path: path.to_owned(),
            socket: Mutex::new(None),
            hostname,
        };
        syslog
            .connect()
            .map_err(|e| format!("cannot reach syslog at {}: {e}", path.display()))?;
        Ok(syslog)
    }

    fn connect(&self) -> std::io::Result<()> {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        socket.connect(&self.path)?;
        *self.socket.lock().unwrap_or_else(|p| p.into_inner()) = Some(socket);
        Ok(())
    }

    fn send(&self, ts: &str, json: &str) {
        // authpriv (10) * 8 + info (6)
        let message = format!(
            "<86>1 {ts} {} pwgate {} audit - {json}",
            self.hostname,
            std::process::id()
        );
        let sent = {
            let guard = self.socket.lock().unwrap_or_else(|p| p.into_inner());
            guard.as_ref().map(|s| s.send(message.as_bytes()))
        };
        if !matches!(sent, Some(Ok(_))) {
            // The syslog daemon restarted: reconnect once and retry.
            let retried = self.connect().and_then(|()| {
                let guard = self.socket.lock().unwrap_or_else(|p| p.into_inner());
                match guard.as_ref() {
                    Some(s) => s.send(message.as_bytes()).map(|_| ()),
                    None => Ok(()),
                }
            });
            if let Err(e) = retried {
                WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
                eprintln!("pwgate: cannot write the audit record to syslog: {e}");
            }
        }
    }
}

impl AuditTrail {
    /// Opens (creating with mode 0600, appending) the file and, with the
    /// chain on, reads its last record to continue the chain.
    pub fn open(sink: Sink, chain: bool) -> Result<Self, String> {
        AuditTrail::open_with(Some(sink), chain, None)
    }

    /// A file or stdout (`sink`) and/or syslog at the socket `syslog`.
    pub fn open_with(
        sink: Option<Sink>,
        chain: bool,
        syslog: Option<&Path>,
    ) -> Result<Self, String> {
        let (out, seq, prev) = match &sink {
            None | Some(Sink::Stdout) => (None, 0, GENESIS.to_owned()),
            Some(Sink::File(path)) => {
                let (seq, prev) = if chain {
                    last_link(path)?
                } else {
                    (0, GENESIS.to_owned())
                };
                (Some(open_append(path)?), seq, prev)
            }
        };
        let syslog = syslog.map(Syslog::open).transpose()?;
        Ok(AuditTrail {
            sink,
            chain,
            state: Mutex::new(State {
                out,
                seq,
                prev,
                checked: std::time::Instant::now(),
            }),
            syslog,
        })
    }

    /// Reopens the file (after rotation); the chain goes on.
    pub fn reopen(&self) -> Result<(), String> {
        if let Some(Sink::File(path)) = &self.sink {
            let file = open_append(path)?;
            self.state.lock().unwrap_or_else(|p| p.into_inner()).out = Some(file);
        }
        Ok(())
    }

    /// Writes one record made of `fields`.
    pub fn write(&self, mut fields: Map<String, Value>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.seq += 1;
        fields.insert("seq".into(), Value::from(state.seq));
        fields.insert("ts".into(), Value::from(now_rfc3339()));
        if self.chain {
            fields.insert("prev".into(), Value::from(state.prev.clone()));
            let hash = record_hash(&fields);
            fields.insert("hash".into(), Value::from(hash.clone()));
            state.prev = hash;
        }
        let ts = fields
            .get("ts")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut line = Value::Object(fields).to_string();
        if let Some(syslog) = &self.syslog {
            syslog.send(&ts, &line);
        }
        line.push('\n');
        // A file removed or renamed without a SIGHUP would take the records
        // into a file nobody reads: reopen the path (the chain goes on).
        if let (Some(Sink::File(path)), true) = (&self.sink, state.checked.elapsed() >= RECHECK) {
            state.checked = std::time::Instant::now();
            if state.out.as_ref().is_some_and(|f| !still_there(path, f)) {
                match open_append(path) {
                    Ok(f) => {
                        eprintln!(
                            "pwgate: the audit file {} was removed or replaced without a reload; writing to a new one there",
                            path.display()
                        );
                        state.out = Some(f);
                    }
                    Err(e) => {
                        WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
                        eprintln!("pwgate: {e}");
                    }
                }
            }
        }
        let written = match (state.out.as_mut(), &self.sink) {
            (Some(f), _) => f.write_all(line.as_bytes()),
            (None, Some(Sink::Stdout)) => std::io::stdout().lock().write_all(line.as_bytes()),
            (None, _) => Ok(()),
        };
        if let Err(e) = written {
            WRITE_ERRORS.fetch_add(1, Ordering::Relaxed);
            // Not through tracing: this runs inside the subscriber.
            eprintln!("pwgate: cannot write the audit trail: {e}");
        }
    }
}

fn open_append(path: &Path) -> Result<File, String> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(|e| format!("cannot open the audit file {}: {e}", path.display()))
}

/// `seq` and `hash` of the last record of the audit file; when the file is
/// missing or empty (just rotated, and pwgate restarted before writing to
/// the new one), of the rotated file beside it (`FILE.1`, as logrotate
/// names it with `delaycompress`), so the chain goes on across the
/// rotation. Genesis when neither has a record.
fn last_link(path: &Path) -> Result<(u64, String), String> {
    let found = last_link_of(path)?;
    if found.1 != GENESIS {
        return Ok(found);
    }
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    last_link_of(Path::new(&rotated))
}

/// `seq` and `hash` of the last record of one file.
fn last_link_of(path: &Path) -> Result<(u64, String), String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, GENESIS.to_owned())),
        Err(e) => {
            return Err(format!(
                "cannot read the audit file {}: {e}",
                path.display()
            ))
        }
    };
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line =
            line.map_err(|e| format!("cannot read the audit file {}: {e}", path.display()))?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    let Some(line) = last else {
        return Ok((0, GENESIS.to_owned()));
    };
    let record: Map<String, Value> = serde_json::from_str(&line).map_err(|e| {
        format!(
            "the last line of the audit file {} is not a record: {e}",
            path.display()
        )
    })?;
    let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let hash = record.get("hash").and_then(Value::as_str).ok_or_else(|| {
        format!(
            "the last record of {} has no hash: was the chain off?",
            path.display()
        )
    })?;
    Ok((seq, hash.to_owned()))
}

/// SHA-256 (hex) of the record's compact, key-sorted JSON without `hash`.
pub fn record_hash(fields: &Map<String, Value>) -> String {
    let mut without = fields.clone();
    without.remove("hash");
    let text = Value::Object(without).to_string();
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_rfc3339() -> String {
    use std::fmt::Write as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = String::with_capacity(27);
    write_second(now.as_secs(), &mut out);
    let _ = write!(out, ".{:06}Z", now.subsec_micros());
    out
}

/// Writes the time down to the second (`2026-12-07T21:30:00`, UTC) of
/// `secs` after the Unix epoch. The audit trail's records and log lines
/// (`logging`'s clock) share it.
pub(crate) fn write_second(secs: u64, out: &mut String) {
    use std::fmt::Write as _;
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Days to a civil date (the Gregorian calendar proleptic), counted
    // from 0000-03-01 so that the leap day ends each 4-, 100- and
    // 400-year cycle (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let (hour, minute, second) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
    );
}

/// The tracing layer that sends `pwgate::audit` events to an [`AuditTrail`],
/// whatever the log level.
pub struct AuditLayer(pub std::sync::Arc<AuditTrail>);

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S: tracing::Subscriber> Layer<S> for AuditLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "pwgate::audit" {
            return;
        }
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        self.0.write(fields.0);
    }
}

/// What `pwgate audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    /// `prev` of the first record: [`GENESIS`] for a chain that starts in
    /// these files, else the hash it continues from (a rotated file).
    pub starts_from: String,
    pub last_hash: String,
}

/// Checks every record's hash and link, across `paths` in order.
pub fn verify(paths: &[PathBuf]) -> Result<Verified, String> {
    let mut records = 0;
    let mut prev: Option<String> = None;
    let mut starts_from = None;
    for path in paths {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let at = format!("{}:{}", path.display(), n + 1);
            let line = line.map_err(|e| format!("{at}: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Map<String, Value> =
                serde_json::from_str(&line).map_err(|e| format!("{at}: not a JSON record: {e}"))?;
            let hash = record
                .get("hash")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{at}: no hash (was the chain on?)"))?;
            let link = record
                .get("prev")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{at}: no prev"))?;
            if record_hash(&record) != hash {
                return Err(format!(
                    "{at}: the record was changed (its hash does not match its contents)"
                ));
            }
            match &prev {
                Some(p) if p != link => {
                    return Err(format!(
                        "{at}: the chain is broken here (a record before it was removed, reordered or changed)"
                    ))
                }
                None => starts_from = Some(link.to_owned()),
                _ => {}
            }
            prev = Some(hash.to_owned());
            records += 1;
        }
    }
    Ok(Verified {
        records,
        starts_from: starts_from.unwrap_or_else(|| GENESIS.to_owned()),
        last_hash: prev.unwrap_or_else(|| GENESIS.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("event".into(), Value::from(event));
        m.insert("target_dn".into(), Value::from("uid=a,dc=x"));
        m
    }

    #[test]
    fn a_chain_verifies_and_any_change_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let trail = AuditTrail::open(Sink::File(path.clone()), true).unwrap();
        for e in ["a", "b", "c"] {
            trail.write(record(e));
        }
        drop(trail);
        // A restart continues the chain.
        let trail = AuditTrail::open(Sink::File(path.clone()), true).unwrap();
        trail.write(record("d"));
        let v = verify(std::slice::from_ref(&path)).unwrap();
        assert_eq!(v.records, 4);
        assert_eq!(v.starts_from, GENESIS);

        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[3].contains("\"seq\":4"), "{}", lines[3]);
        // Edited record.
        let edited = text.replace("\"event\":\"b\"", "\"event\":\"x\"");
        std::fs::write(&path, &edited).unwrap();
        assert!(verify(std::slice::from_ref(&path))
            .unwrap_err()
            .contains("audit.jsonl:2: the record was changed"));
        // Removed record.
        let removed = [lines[0], lines[2], lines[3]].join("\n");
        std::fs::write(&path, removed).unwrap();
        assert!(verify(std::slice::from_ref(&path))
            .unwrap_err()
            .contains("audit.jsonl:2: the chain is broken"));
    }

    #[test]
    fn rotated_files_link_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let old = dir.path().join("audit.jsonl.1");
        let trail = AuditTrail::open(Sink::File(path.clone()), true).unwrap();
        trail.write(record("a"));
        std::fs::rename(&path, &old).unwrap();
        trail.reopen().unwrap();
        trail.write(record("b"));
        let alone = verify(std::slice::from_ref(&path)).unwrap();
        assert_ne!(
            alone.starts_from, GENESIS,
            "the new file continues the old chain"
        );
        let both = verify(&[old.clone(), path.clone()]).unwrap();
        assert_eq!(both.records, 2);
        assert!(verify(&[path, old]).is_err(), "wrong order must not verify");
    }

    #[test]
    fn a_file_removed_without_a_reload_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let trail = AuditTrail::open(Sink::File(path.clone()), true).unwrap();
        trail.write(record("a"));
        std::fs::remove_file(&path).unwrap();
        // The next write after the recheck interval notices.
        trail.state.lock().unwrap().checked -= RECHECK;
        trail.write(record("b"));
        let text = std::fs::read_to_string(&path).expect("the file is back");
        assert_eq!(text.lines().count(), 1, "{text}");
        let v = verify(&[path]).unwrap();
        assert_ne!(
            v.starts_from, GENESIS,
            "the chain goes on from the lost file"
        );
    }

    #[test]
    fn a_restart_right_after_rotation_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let old = dir.path().join("audit.jsonl.1");
        let trail = AuditTrail::open(Sink::File(path.clone()), true).unwrap();
        trail.write(record("a"));
        drop(trail);
        // logrotate: renamed, a new empty file created; then pwgate restarts.
        std::fs::rename(&path, &old).unwrap();
        std::fs::write(&path, b"").unwrap();
        let trail = AuditTrail::open(Sink::File(path.clone()), true).unwrap();
        trail.write(record("b"));
        let both = verify(&[old, path]).unwrap();
        assert_eq!(both.records, 2);
        assert_eq!(both.starts_from, GENESIS);
    }

    #[test]
    fn records_go_to_syslog_as_rfc5424() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("log");
        let server = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let trail = AuditTrail::open_with(None, false, Some(&socket)).unwrap();
        trail.write(record("password_decision"));
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("<86>1 20"), "{text}");
        assert!(
            text.contains(" pwgate ") && text.contains(" audit - {"),
            "{text}"
        );
        assert!(text.contains("\"event\":\"password_decision\""), "{text}");
        assert!(AuditTrail::open_with(None, false, Some(&dir.path().join("none"))).is_err());
    }

    #[test]
    fn seconds_are_written_as_calendar_dates() {
        // From Python's datetime.fromtimestamp(t, UTC).
        for (secs, text) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (951_868_799, "2000-02-29T23:59:59"),
            (1_234_567_890, "2009-02-13T23:31:30"),
            (1_796_679_000, "2026-12-07T21:30:00"),
            (2_147_483_647, "2038-01-19T03:14:07"),
            (4_102_444_799, "2099-12-31T23:59:59"),
            (4_107_542_400, "2100-03-01T00:00:00"),
            (253_402_300_799, "9999-12-31T23:59:59"),
        ] {
            let mut out = String::new();
            write_second(secs, &mut out);
            assert_eq!(out, text, "{secs}");
        }
        let mut out = String::new();
        write_second(253_402_300_800, &mut out);
        assert_eq!(out, "10000-01-01T00:00:00");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let ts = now_rfc3339();
        assert_eq!(ts.len(), "2026-11-24T00:00:00.000000Z".len(), "{ts}");
        assert!(ts.starts_with("20") && ts.ends_with('Z'), "{ts}");
    }
}
