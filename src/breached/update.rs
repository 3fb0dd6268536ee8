//! `pwgate store update`: download the Pwned Passwords corpus from its
//! range API and (re)build the store from it.
//!
//! The API serves the corpus as 1,048,576 ranges, one per five-hex-digit
//! prefix of the hash: `GET {base}/range/ABCDE` (SHA-1) or
//! `.../range/ABCDE?mode=ntlm` (NTLM), answered with `SUFFIX:COUNT` lines
//! separated by CRLF, the suffix being the remaining 35 (SHA-1) or 27 (NTLM)
//! hex digits. With `Add-Padding: true` the answer also holds made-up
//! entries with count 0, which are dropped here.
//!
//! # State directory
//!
//! - `ranges/ABCDE`: each range's entries as `SUFFIX:COUNT` lines, written
//!   beside and renamed, so a range file is always whole. The directory is
//!   a range-file directory `pwgate store build` reads, so a store built
//!   from it by hand answers exactly as the one this command builds.
//! - `etags`: `ABCDE ETAG` lines, the ETag each range was served with, for
//!   conditional requests (`If-None-Match`) on the next refresh: a range
//!   that did not change is answered 304 and not downloaded again. During
//!   a run it is a log: each checkpoint appends the lines of the ranges
//!   downloaded since (a later line for a range wins; `ABCDE` alone: no
//!   ETag), and a finished run rewrites it with one line per range, so a
//!   checkpoint writes kilobytes, not the 40 MB of a million ETags.
//! - `hash`: `sha1` or `ntlm`, fixed by the first run (another `--hash`
//!   needs another state directory).
//! - `progress`: which ranges this run has finished (a bitmap of 128 KiB),
//!   written every two seconds and at the end, with `etags` first. An
//!   interrupted run continues where it stopped; a finished run removes it,
//!   so the next run is a refresh.
//!
//! When every range is done, the store is built from `ranges/` beside the
//! output (`STORE.new`), opened and verified, and only then renamed over
//! the output: no partial or unverified store is ever in place. A running
//! pwgate picks the new file up on SIGHUP.
//!
//! # Failures
//!
//! Each request has a timeout. A dropped connection, a timeout, a body cut
//! short (hyper checks Content-Length and chunked framing), an answer whose
//! lines are not the range format, `429` and `5xx` are retried with
//! exponential backoff (or after `Retry-After`, capped), up to `retries`
//! times per range; then the run stops, keeps what it finished, and says
//! which range failed. Any other status stops the run at once.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::build::{build, BuildOptions, BuildSummary};
use super::error::StoreError;
use super::hash::HashKind;
use super::input::InputFormat;
use super::store::BreachedStore;

/// How many ranges the corpus has (five hex digits).
pub const RANGES: u32 = 1 << 20;
/// The public service.
pub const DEFAULT_URL: &str = "https://api.pwnedpasswords.com";
/// Debian's bundle of trusted CAs.
pub const DEFAULT_CA: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Largest answer accepted for one range (real ones are about 30 KiB).
const MAX_BODY: usize = 4 << 20;
/// Longest wait asked by `Retry-After` that is honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

/// Where the range API is: `https://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    pub host: String,
    pub port: u16,
    /// Without a trailing slash (`""` for the root).
    pub path: String,
}

impl ApiUrl {
    pub fn parse(url: &str) -> Result<ApiUrl, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("`{url}`: the range API is reached over https:// only"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority, 443)
            .ok_or_else(|| format!("`{url}`: not a host and port"))?;
        if path.contains(['?', '#', ' ']) {
            return Err(format!("`{url}`: no query or fragment, please"));
        }
        Ok(ApiUrl {
            host,
            port,
            path: path.to_owned(),
        })
    }
}

/// An HTTP proxy reached with CONNECT: `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub host: String,
    pub port: u16,
}

impl ProxyUrl {
    pub fn parse(url: &str) -> Result<ProxyUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}`: give the proxy as http://host:port (it is asked to CONNECT; TLS runs through it end to end)"))?
            .trim_end_matches('/');
        if rest.contains(['@', '/']) {
            return Err(format!(
                "`{url}`: proxy credentials and paths are not supported"
            ));
        }
        let (host, port) =
            split_host_port(rest, 8080).ok_or_else(|| format!("`{url}`: not a host and port"))?;
        Ok(ProxyUrl { host, port })
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6.split_once(']')?;
        match rest.strip_prefix(':') {
            Some(p) => (h, p.parse().ok()?),
            None if rest.is_empty() => (h, default_port),
            None => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, default_port),
        }
    };
    (!host.is_empty() && port != 0).then(|| (host.to_owned(), port))
}

/// Which ranges a run covers: all of them, or (for tests and benchmarks,
/// `--only-prefix`) those under a prefix of one to four hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranges {
    first: u32,
    count: u32,
}

impl Ranges {
    pub const ALL: Ranges = Ranges {
        first: 0,
        count: RANGES,
    };

    pub fn under(prefix: &str) -> Result<Ranges, String> {
        if prefix.is_empty() || prefix.len() > 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{prefix}`: give one to four hex digits of the range prefix"
            ));
        }
        let value = u32::from_str_radix(prefix, 16).map_err(|e| e.to_string())?;
        let shift = 4 * (5 - prefix.len() as u32);
        Ok(Ranges {
            first: value << shift,
            count: 1 << shift,
        })
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn iter(&self) -> impl Iterator<Item = u32> {
        self.first..self.first + self.count
    }
}

/// How to update.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    pub url: ApiUrl,
    pub kind: HashKind,
    /// The state directory (ranges, ETags, progress).
    pub state: PathBuf,
    /// The store to write.
    pub output: PathBuf,
    /// Requests in flight at once, each on its own keep-alive connection.
    pub parallel: usize,
    /// Further attempts per range after the first.
    pub retries: u32,
    /// The first backoff; it doubles up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Per request (connecting included) and per body.
    pub timeout: Duration,
    /// CAs trusted for the API (and nothing else).
    pub ca: PathBuf,
    pub proxy: Option<ProxyUrl>,
    /// Passed to the build: entries seen fewer times are left out.
    pub min_count: u64,
    pub ranges: Ranges,
    /// A progress line on standard error every second.
    pub progress: bool,
}

impl UpdateOptions {
    pub fn new(state: PathBuf, output: PathBuf) -> UpdateOptions {
        UpdateOptions {
            url: ApiUrl::parse(DEFAULT_URL).expect("the default URL parses"),
            kind: HashKind::Sha1,
            state,
            output,
            parallel: 32,
            retries: 8,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            ca: PathBuf::from(DEFAULT_CA),
            proxy: None,
            min_count: 1,
            ranges: Ranges::ALL,
            progress: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct UpdateSummary {
    /// Ranges of the run.
    pub ranges: u64,
    /// Done by an earlier, interrupted run (resumed).
    pub already_done: u64,
    /// Downloaded (200).
    pub downloaded: u64,
    /// Unchanged since the last run (304).
    pub not_modified: u64,
    /// Attempts that were retried.
    pub retries: u64,
    /// Body bytes received.
    pub bytes: u64,
    pub seconds: f64,
    /// The build of the store.
    pub build: Option<BuildSummary>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Options(String),
    #[error("{}: cannot {action}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    /// The run stopped; what it finished is kept for the next run.
    #[error("range {prefix}: {why}; {done} of {total} ranges done and kept: run the same command again to continue")]
    Range {
        prefix: String,
        why: String,
        done: u64,
        total: u64,
    },
    #[error("interrupted; {done} of {total} ranges done and kept: run the same command again to continue")]
    Interrupted { done: u64, total: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> UpdateError + 'a {
    move |source| UpdateError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

fn prefix_hex(p: u32) -> String {
    format!("{p:05X}")
}

/// The state directory's files.
struct State {
    ranges: PathBuf,
    etags_path: PathBuf,
    progress_path: PathBuf,
}

impl State {
    fn open(dir: &Path) -> Result<State, UpdateError> {
        let ranges = dir.join("ranges");
        fs::create_dir_all(&ranges).map_err(io(&ranges, "create the state directory"))?;
        // Range files half written when an earlier run was killed.
        for entry in fs::read_dir(&ranges)
            .map_err(io(&ranges, "read"))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(State {
            ranges,
            etags_path: dir.join("etags"),
            progress_path: dir.join("progress"),
        })
    }

    /// The hash a state directory holds is fixed by its first run: SHA-1
    /// and NTLM ranges mixed would make a store of neither.
    fn check_kind(&self, kind: HashKind) -> Result<(), UpdateError> {
        let path = self.ranges.with_file_name("hash");
        let name = match kind {
            HashKind::Sha1 => "sha1",
            HashKind::Ntlm => "ntlm",
        };
        match fs::read_to_string(&path) {
            Ok(text) if text.trim() == name => Ok(()),
            Ok(text) => Err(UpdateError::Options(format!(
                "{} holds {} ranges, not {name}: give another --state for --hash {name}",
                path.parent().unwrap_or(&path).display(),
                text.trim()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                replace(&path, format!("{name}\n").as_bytes())
            }
            Err(e) => Err(io(&path, "read")(e)),
        }
    }

    fn range_file(&self, prefix: u32) -> PathBuf {
        self.ranges.join(prefix_hex(prefix))
    }

    /// ETags of the last runs; a damaged line is skipped (that range is
    /// then downloaded again, which is always correct).
    fn read_etags(&self) -> Result<HashMap<u32, String>, UpdateError> {
        let mut etags = HashMap::new();
        let file = match File::open(&self.etags_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(etags),
            Err(e) => return Err(io(&self.etags_path, "read")(e)),
        };
        for line in BufReader::new(file).lines() {
            let line = line.map_err(io(&self.etags_path, "read"))?;
            match line.split_once(' ') {
                Some((hex, tag)) => {
                    if let (5, Ok(p), true) =
                        (hex.len(), u32::from_str_radix(hex, 16), valid_etag(tag))
                    {
                        etags.insert(p, tag.to_owned());
                    }
                }
                // `ABCDE` alone: the range came without an ETag.
                None => {
                    if let (5, Ok(p)) = (line.len(), u32::from_str_radix(&line, 16)) {
                        etags.remove(&p);
                    }
                }
            }
        }
        Ok(etags)
    }

    fn read_progress(&self) -> Result<Vec<u64>, UpdateError> {
        let words = (RANGES / 64) as usize;
        match fs::read(&self.progress_path) {
            Ok(bytes) if bytes.len() == words * 8 => Ok(bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()),
            // Damaged: start the run over (ranges are kept, ETags make it cheap).
            Ok(_) => Ok(vec![0; words]),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![0; words]),
            Err(e) => Err(io(&self.progress_path, "read")(e)),
        }
    }

    /// Appends the ETag lines of the ranges finished since the last
    /// checkpoint to `etags` (synced), then writes `progress` beside and
    /// renames it: a range counted done always has its ETag on disk. The
    /// log is small per checkpoint; [`compact_etags`](Self::compact_etags)
    /// rewrites it once a run is over.
    fn checkpoint(&self, etag_lines: &[u8], done: &[u64]) -> Result<(), UpdateError> {
        if !etag_lines.is_empty() {
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.etags_path)
                .map_err(io(&self.etags_path, "open"))?;
            f.write_all(etag_lines)
                .map_err(io(&self.etags_path, "write"))?;
            f.sync_all().map_err(io(&self.etags_path, "sync"))?;
        }
        let bytes: Vec<u8> = done.iter().flat_map(|w| w.to_le_bytes()).collect();
        replace(&self.progress_path, &bytes)
    }

    /// One line per range, in prefix order (the log's later lines for a
    /// range replace its earlier ones).
    fn compact_etags(&self, etags: &HashMap<u32, String>) -> Result<(), UpdateError> {
        replace(&self.etags_path, etags_text(etags).as_bytes())
    }
}

/// The `etags` file: `ABCDE ETAG` lines in prefix order.
fn etags_text(etags: &HashMap<u32, String>) -> String {
    let mut sorted: Vec<(&u32, &String)> = etags.iter().collect();
    sorted.sort_unstable();
    let mut text = String::with_capacity(sorted.len() * 32);
    for (p, tag) in sorted {
        text.push_str(&prefix_hex(*p));
        text.push(' ');
        text.push_str(tag);
        text.push('\n');
    }
    text
}

/// Writes `path` beside (`.tmp`), syncs and renames it.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), UpdateError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp, "create"))?;
    f.write_all(bytes).map_err(io(&tmp, "write"))?;
    f.sync_all().map_err(io(&tmp, "sync"))?;
    fs::rename(&tmp, path).map_err(io(path, "replace"))
}

/// An ETag worth keeping: visible ASCII, no space, not too long.
fn valid_etag(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= 256 && tag.bytes().all(|b| b.is_ascii_graphic())
}

/// The entries of one range's answer, padding (count 0) dropped, as
/// `SUFFIX:COUNT\n` lines. Err names what is wrong (without quoting it).
pub fn parse_range(body: &[u8], kind: HashKind) -> Result<(Vec<u8>, u64), String> {
    let suffix_len = kind.digest_len() * 2 - 5;
    let mut out = Vec::with_capacity(body.len());
    let mut entries = 0u64;
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let bad = |what: &str| format!("line {} of the answer {what}", n + 1);
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(|| bad("has no `:`"))?;
        let (suffix, count) = (&line[..colon], &line[colon + 1..]);
        if suffix.len() != suffix_len || !suffix.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad(&format!("is not {suffix_len} hex digits and a count")));
        }
        if count.is_empty() || count.len() > 19 || !count.iter().all(u8::is_ascii_digit) {
            return Err(bad("has no count"));
        }
        if count.iter().all(|b| *b == b'0') {
            continue; // padding
        }
        out.extend_from_slice(suffix);
        out.push(b':');
        out.extend_from_slice(count);
        out.push(b'\n');
        entries += 1;
    }
    Ok((out, entries))
}

/// What one attempt at a range gave.
enum Attempt {
    Done {
        downloaded: bool,
        bytes: u64,
        /// The range's line for the ETag log (a 200 only).
        etag_line: Option<String>,
    },
    /// Try again (after `Retry-After`, when the server said).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Stop the run.
    Fatal(String),
}

impl Attempt {
    /// Try again, after the backoff.
    fn retry(why: impl Into<String>) -> Attempt {
        Attempt::Retry {
            why: why.into(),
            after: None,
        }
    }
}

/// Finished ranges not yet checkpointed: their ETag lines, and the
/// progress bitmap.
struct Journal {
    lines: Vec<u8>,
    done: Vec<u64>,
}

struct Shared {
    options: UpdateOptions,
    state: State,
    tls: TlsConnector,
    todo: Vec<u32>,
    next: AtomicUsize,
    done_count: AtomicU64,
    etags: Mutex<HashMap<u32, String>>,
    /// What the next checkpoint writes.
    journal: Mutex<Journal>,
    stop: AtomicBool,
    failure: Mutex<Option<(u32, String)>>,
    downloaded: AtomicU64,
    not_modified: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
}

impl Shared {
    /// A range is done: its ETag line (for a 200) and its bit go into the
    /// journal together, so no checkpoint has one without the other.
    fn finish(&self, prefix: u32, etag_line: Option<String>) {
        let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(line) = etag_line {
            j.lines.extend_from_slice(line.as_bytes());
        }
        j.done[(prefix / 64) as usize] |= 1 << (prefix % 64);
        drop(j);
        self.done_count.fetch_add(1, Ordering::Relaxed);
    }

    /// The ETag lines since the last checkpoint go to the log, then the
    /// progress: a range counted done on disk has its ETag there.
    fn checkpoint(&self) -> Result<(), UpdateError> {
        let (lines, done) = {
            let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut j.lines), j.done.clone())
        };
        self.state.checkpoint(&lines, &done)
    }
}

/// Downloads what this run still needs, then builds and verifies the store
/// and puts it in place.
pub fn update(options: UpdateOptions) -> Result<UpdateSummary, UpdateError> {
    if !(1..=256).contains(&options.parallel) {
        return Err(UpdateError::Options("--parallel takes 1 to 256".into()));
    }
    let started = Instant::now();
    let tls = TlsConnector::from(
        crate::tls::client_config(&options.ca)
            .map_err(|e| UpdateError::Options(format!("the CA file for the range API: {e}")))?,
    );
    let state = State::open(&options.state)?;
    state.check_kind(options.kind)?;
    let etags = state.read_etags()?;
    let bits = state.read_progress()?;
    let mut todo = Vec::new();
    let mut already_done = 0u64;
    for p in options.ranges.iter() {
        let finished = bits[(p / 64) as usize] & (1 << (p % 64)) != 0;
        if finished && state.range_file(p).exists() {
            already_done += 1;
        } else {
            todo.push(p);
        }
    }
    let total = u64::from(options.ranges.len());
    let shared = Arc::new(Shared {
        state,
        tls,
        done_count: AtomicU64::new(already_done),
        etags: Mutex::new(etags),
        journal: Mutex::new(Journal {
            lines: Vec::new(),
            done: bits,
        }),
        todo,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        failure: Mutex::new(None),
        downloaded: AtomicU64::new(0),
        not_modified: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        options,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| UpdateError::Options(format!("cannot start the runtime: {e}")))?;
    let interrupted = runtime.block_on(download(shared.clone(), total))?;
    drop(runtime);
    shared.checkpoint()?;
    let done = shared.done_count.load(Ordering::Relaxed);
    if let Some((prefix, why)) = shared
        .failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Err(UpdateError::Range {
            prefix: prefix_hex(prefix),
            why,
            done,
            total,
        });
    }
    if interrupted {
        return Err(UpdateError::Interrupted { done, total });
    }
    let o = &shared.options;
    let build_summary = build_and_replace(&shared.state.ranges, &o.output, o)?;
    // One line per range in the log again, then: the next run is a
    // refresh of every range.
    shared
        .state
        .compact_etags(&shared.etags.lock().unwrap_or_else(|p| p.into_inner()))?;
    match fs::remove_file(&shared.state.progress_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&shared.state.progress_path, "remove")(e)),
    }
    Ok(UpdateSummary {
        ranges: total,
        already_done,
        downloaded: shared.downloaded.load(Ordering::Relaxed),
        not_modified: shared.not_modified.load(Ordering::Relaxed),
        retries: shared.retries.load(Ordering::Relaxed),
        bytes: shared.bytes.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        build: Some(build_summary),
    })
}

/// Builds `STORE.new` from the range files, verifies it, and renames it
/// over `output`. On any error `output` is left as it was.
fn build_and_replace(
    ranges: &Path,
    output: &Path,
    o: &UpdateOptions,
) -> Result<BuildSummary, UpdateError> {
    let mut staged = output.as_os_str().to_owned();
    staged.push(".new");
    let staged = PathBuf::from(staged);
    let summary = build(
        &[ranges.to_owned()],
        &staged,
        &BuildOptions {
            kind: o.kind,
            input_format: InputFormat::Hashes,
            min_count: o.min_count,
            // The ranges were checked line by line when they came in.
            max_bad_lines: Some(0),
            progress: o.progress,
            ..BuildOptions::default()
        },
    )?;
    let checked = BreachedStore::open(&staged).and_then(|s| s.verify());
    if let Err(e) = checked {
        let _ = fs::remove_file(&staged);
        return Err(e.into());
    }
    fs::rename(&staged, output).map_err(io(output, "replace"))?;
    Ok(summary)
}

/// Runs the workers, the checkpoints and the progress line until every
/// range is done, the run fails, or Ctrl-C. True when interrupted.
async fn download(shared: Arc<Shared>, total: u64) -> Result<bool, UpdateError> {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..shared.options.parallel.min(shared.todo.len().max(1)) {
        workers.spawn(worker(shared.clone()));
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_checkpoint = Instant::now();
    let started = Instant::now();
    let at_start = shared.done_count.load(Ordering::Relaxed);
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            joined = workers.join_next() => match joined {
                None => break,
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    let mut f = shared.failure.lock().unwrap_or_else(|p| p.into_inner());
                    f.get_or_insert((0, format!("a download task failed: {e}")));
                }
            },
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                shared.stop.store(true, Ordering::Relaxed);
            }
            _ = tick.tick() => {
                if shared.options.progress {
                    progress_line(&shared, total, at_start, started);
                }
                if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    shared.checkpoint()?;
                    last_checkpoint = Instant::now();
                }
            }
        }
    }
    if shared.options.progress {
        progress_line(&shared, total, at_start, started);
        eprintln!();
    }
    Ok(interrupted)
}

fn progress_line(shared: &Shared, total: u64, at_start: u64, started: Instant) {
    let done = shared.done_count.load(Ordering::Relaxed);
    let rate = (done - at_start) as f64 / started.elapsed().as_secs_f64().max(0.001);
    let left = total.saturating_sub(done);
    let eta = if rate > 0.0 {
        let s = (left as f64 / rate) as u64;
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else {
        "?".to_owned()
    };
    eprint!(
        "\rranges {done}/{total} ({:.1}%), {rate:.0}/s, ETA {eta}; {} downloaded, {} unchanged, {} retried   ",
        done as f64 * 100.0 / total.max(1) as f64,
        shared.downloaded.load(Ordering::Relaxed),
        shared.not_modified.load(Ordering::Relaxed),
        shared.retries.load(Ordering::Relaxed),
    );
}

type Sender = SendRequest<Empty<Bytes>>;

async fn worker(shared: Arc<Shared>) {
    let mut conn: Option<Sender> = None;
    let o = &shared.options;
    while !shared.stop.load(Ordering::Relaxed) {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(&prefix) = shared.todo.get(i) else {
            return;
        };
        let mut attempt = 0u32;
        let mut backoff = o.backoff;
        loop {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let outcome = fetch(&shared, &mut conn, prefix).await;
            match outcome {
                Attempt::Done {
                    downloaded,
                    bytes,
                    etag_line,
                } => {
                    let counter = if downloaded {
                        &shared.downloaded
                    } else {
                        &shared.not_modified
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    shared.bytes.fetch_add(bytes, Ordering::Relaxed);
                    shared.finish(prefix, etag_line);
                    break;
                }
                Attempt::Retry { why, after } => {
                    conn = None;
                    attempt += 1;
                    if attempt > o.retries {
                        fail(
                            &shared,
                            prefix,
                            format!("{why} (gave up after {attempt} attempts)"),
                        );
                        return;
                    }
                    shared.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = after.map_or(backoff, |a| a.min(MAX_RETRY_AFTER));
                    backoff = (backoff * 2).min(o.max_backoff);
                    tokio::time::sleep(wait).await;
                }
                Attempt::Fatal(why) => {
                    fail(&shared, prefix, why);
                    return;
                }
            }
        }
    }
}

fn fail(shared: &Shared, prefix: u32, why: String) {
    shared.stop.store(true, Ordering::Relaxed);
    let mut f = shared.failure.lock().unwrap_or_else(|p| p.into_inner());
    f.get_or_insert((prefix, why));
}

async fn connect(shared: &Shared) -> Result<Sender, String> {
    let o = &shared.options;
    let (host, port) = match &o.proxy {
        Some(p) => (p.host.as_str(), p.port),
        None => (o.url.host.as_str(), o.url.port),
    };
    let mut tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if o.proxy.is_some() {
        tunnel(&mut tcp, &o.url).await?;
    }
    let name = ServerName::try_from(o.url.host.clone())
        .map_err(|_| format!("`{}` is not a TLS server name", o.url.host))?;
    let tls = shared
        .tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", o.url.host))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP with {}: {e}", o.url.host))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Asks the proxy to CONNECT to the API's host, and reads its answer.
async fn tunnel(tcp: &mut TcpStream, url: &ApiUrl) -> Result<(), String> {
    let target = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("the proxy: {e}"))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return Err("the proxy's answer to CONNECT is too long".into());
        }
        let n = tcp
            .read(&mut byte)
            .await
            .map_err(|e| format!("the proxy: {e}"))?;
        if n == 0 {
            return Err("the proxy closed the connection after CONNECT".into());
        }
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head);
    let line = status.lines().next().unwrap_or("");
    if line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("the proxy refused CONNECT: {}", line.trim()));
    }
    Ok(())
}

async fn fetch(shared: &Shared, conn: &mut Option<Sender>, prefix: u32) -> Attempt {
    let o = &shared.options;
    let timeout = o.timeout;
    let sender = match conn {
        Some(s) if s.is_ready() => s,
        _ => match tokio::time::timeout(timeout, connect(shared)).await {
            Ok(Ok(s)) => conn.insert(s),
            Ok(Err(why)) => return Attempt::retry(why),
            Err(_) => return Attempt::retry(format!("connecting took over {timeout:?}")),
        },
    };
    let hex = prefix_hex(prefix);
    let file = shared.state.range_file(prefix);
    let etag = shared
        .etags
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&prefix)
        .cloned()
        .filter(|_| file.exists());
    let mode = match o.kind {
        HashKind::Sha1 => "",
        HashKind::Ntlm => "?mode=ntlm",
    };
    let authority = if o.url.port == 443 {
        o.url.host.clone()
    } else {
        format!("{}:{}", o.url.host, o.url.port)
    };
    let mut request = hyper::Request::get(format!("{}/range/{hex}{mode}", o.url.path))
        .header("host", authority)
        .header("user-agent", concat!("pwgate/", env!("CARGO_PKG_VERSION")))
        .header("add-padding", "true");
    if let Some(tag) = &etag {
        request = request.header("if-none-match", tag.as_str());
    }
    let request = match request.body(Empty::<Bytes>::new()) {
        Ok(r) => r,
        Err(e) => return Attempt::Fatal(format!("cannot make the request: {e}")),
    };
    if sender.ready().await.is_err() {
        return Attempt::retry("the connection closed");
    }
    let response = match tokio::time::timeout(timeout, sender.send_request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Attempt::retry(format!("no answer: {e}")),
        Err(_) => return Attempt::retry(format!("no answer within {timeout:?}")),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let new_etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .filter(|t| valid_etag(t))
        .map(str::to_owned);
    match status {
        200 => {}
        304 if etag.is_some() => {
            return Attempt::Done {
                downloaded: false,
                bytes: 0,
                etag_line: None,
            }
        }
        304 => {
            return Attempt::Fatal(
                "answered 304 Not Modified to a request that was not conditional".into(),
            )
        }
        429 | 500..=599 => {
            return Attempt::Retry {
                why: format!("answered {status}"),
                after: retry_after,
            }
        }
        other => return Attempt::Fatal(format!("answered {other}")),
    }
    let body = match tokio::time::timeout(
        timeout,
        Limited::new(response.into_body(), MAX_BODY).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => return Attempt::retry(format!("the answer was cut short or too large: {e}")),
        Err(_) => return Attempt::retry(format!("the answer took over {timeout:?}")),
    };
    let (lines, _) = match parse_range(&body, o.kind) {
        Ok(parsed) => parsed,
        Err(why) => return Attempt::retry(why),
    };
    // Not `ABCDE.tmp`: a range-file directory reads every name that
    // starts with five hex digits and a dot.
    let tmp = shared.state.ranges.join(format!(".tmp-{hex}"));
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(&lines))
        .and_then(|()| fs::rename(&tmp, &file));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Attempt::Fatal(format!("cannot write {}: {e}", file.display()));
    }
    let line = match &new_etag {
        Some(tag) => format!("{hex} {tag}\n"),
        None => format!("{hex}\n"),
    };
    let mut etags = shared.etags.lock().unwrap_or_else(|p| p.into_inner());
    match new_etag {
        Some(tag) => etags.insert(prefix, tag),
        None => etags.remove(&prefix),
    };
    Attempt::Done {
        downloaded: true,
        bytes: body.len() as u64,
        etag_line: Some(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_and_proxies_http() {
        assert_eq!(
            ApiUrl::parse("https://api.pwnedpasswords.com").unwrap(),
            ApiUrl {
                host: "api.pwnedpasswords.com".into(),
                port: 443,
                path: String::new()
            }
        );
        assert_eq!(
            ApiUrl::parse("https://127.0.0.1:8443/mirror/").unwrap(),
            ApiUrl {
                host: "127.0.0.1".into(),
                port: 8443,
                path: "/mirror".into()
            }
        );
        for bad in [
            "http://api.pwnedpasswords.com",
            "https://",
            "https://h:0",
            "https://u@h",
            "https://h/x?y",
        ] {
            assert!(ApiUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ProxyUrl::parse("http://proxy:3128").unwrap().port, 3128);
        for bad in [
            "https://proxy:3128",
            "http://user:pw@proxy:3128",
            "proxy:3128",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_select_ranges() {
        assert_eq!(Ranges::ALL.len(), 1 << 20);
        let r = Ranges::under("AB").unwrap();
        assert_eq!((r.first, r.count), (0xAB000, 4096));
        assert_eq!(Ranges::under("abcd").unwrap().len(), 16);
        for bad in ["", "ABCDE", "XY"] {
            assert!(Ranges::under(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_are_read_as_the_api_serves_them() {
        let body = b"0018A45C4D1DEF81644B54AB7F969B88D65:10\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0\r\n011053FD0102E94D6AE2F8B83D76FAF94F6:1\r\n";
        let (lines, n) = parse_range(body, HashKind::Sha1).unwrap();
        assert_eq!(n, 2, "the padding entry is dropped");
        assert_eq!(
            lines,
            b"0018A45C4D1DEF81644B54AB7F969B88D65:10\n011053FD0102E94D6AE2F8B83D76FAF94F6:1\n"
        );
        assert!(parse_range(b"0018A45C4D1DEF81644B54AB7F969B88D6:10\r\n", HashKind::Sha1).is_err());
        assert!(parse_range(b"0018A45C4D1DEF81644B54AB7F969B88D65\r\n", HashKind::Sha1).is_err());
        assert!(parse_range(b"<html>busy</html>", HashKind::Sha1).is_err());
        // NTLM suffixes are 27 digits.
        assert!(parse_range(b"0123456789ABCDEF0123456789A:3\r\n", HashKind::Ntlm).is_ok());
        assert!(parse_range(b"", HashKind::Sha1).is_ok());
    }
}
