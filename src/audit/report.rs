//! `pwgate audit report`: the figures of an audit trail, and one
//! self-contained HTML page that shows them (no network, no external
//! assets, charts as inline SVG).
//!
//! The trail is read line by line, every file in the order given (oldest
//! rotated file first). Its hash chain is checked over every record,
//! whatever `--since` and `--until` say; a record that cannot be read or
//! whose hash does not match its contents is reported with its file and
//! line and left out of the figures, and the rest is still counted. Only
//! aggregate labels reach the report (verdicts, rule ids, scope names,
//! doors, sync targets, result codes): no account, no client address, and
//! no password, since the trail holds none.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::trail::{record_hash, GENESIS};

/// Longest line read as a record; a longer one is reported and skipped
/// (records are a few hundred bytes).
const MAX_LINE: usize = 64 * 1024;

/// Problems listed one by one; more are counted only.
const MAX_PROBLEMS: usize = 1000;

/// Accepted, refused, would_refuse.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub accepted: u64,
    pub refused: u64,
    pub would_refuse: u64,
}

impl Counts {
    fn add(&mut self, verdict: &str) {
        match verdict {
            "accepted" => self.accepted += 1,
            "refused" => self.refused += 1,
            "would_refuse" => self.would_refuse += 1,
            _ => {}
        }
    }

    pub fn total(&self) -> u64 {
        self.accepted + self.refused + self.would_refuse
    }
}

/// Something wrong in the trail, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `file:line`.
    pub at: String,
    pub what: String,
}

/// The hash chain over the files read.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    /// Records that carry a hash (`[audit] chain = true`).
    pub chained_records: u64,
    /// Records without one.
    pub unchained_records: u64,
    /// No problem in any record: every one read, and with the chain on,
    /// hashed and linked. With the chain off (no record has a hash) this
    /// says only that every record was read.
    pub intact: bool,
    /// `prev` of the first record: 64 zeros when the chain starts in
    /// these files, else the hash of a record in an earlier file.
    pub starts_from: Option<String>,
}

/// The directory's answers to the operations pwgate forwarded.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryAnswers {
    pub success: u64,
    /// LDAP result code (as a number) -> count, other than success.
    pub refused_by_code: BTreeMap<String, u64>,
    /// No answer came (the connection ended first).
    pub unknown: u64,
}

/// The figures of a report (`--json` prints them as they are).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Figures {
    pub files: Vec<String>,
    /// `--since` and `--until` as given (UTC; since included, until not).
    pub since: Option<String>,
    pub until: Option<String>,
    /// Records read and counted (in the time range).
    pub records: u64,
    /// Records read but outside the time range.
    pub records_outside_range: u64,
    pub first_record: Option<String>,
    pub last_record: Option<String>,
    pub chain: Chain,
    /// At most [`MAX_PROBLEMS`] of them; `problems_total` counts all.
    pub problems: Vec<Problem>,
    pub problems_total: u64,
    /// Password decisions (`password_decision`), every door.
    pub decisions: Counts,
    /// Per UTC day (`YYYY-MM-DD`).
    pub by_day: BTreeMap<String, Counts>,
    /// Refusals by rule (a refusal that failed two rules counts under both).
    pub refused_by_rule: BTreeMap<String, u64>,
    /// What audit mode would have refused, by rule.
    pub would_refuse_by_rule: BTreeMap<String, u64>,
    pub by_scope: BTreeMap<String, Counts>,
    /// `ldap` (the proxy), `samba_hook`, `api`, `windows_filter`.
    pub by_door: BTreeMap<String, Counts>,
    /// Of the changes forwarded (accepted or would_refuse), the share that
    /// enforce mode would have refused. None without any.
    pub would_refuse_share: Option<f64>,
    /// Requests refused before any policy decision (`request_refused`:
    /// malformed, undecodable...), by reason id.
    pub requests_refused: BTreeMap<String, u64>,
    pub directory_answers: DirectoryAnswers,
    /// Decisions that named a protected account's rule: attempts to reset
    /// a protected account's password by someone not allowed to.
    pub protected_account_attempts: u64,
    /// Checks of the decision service (`password_check`: nothing set).
    pub checks: Counts,
    /// Changes an enforcement point reported as made (`password_changed`).
    pub changes_reported: u64,
    /// Sync target -> outcome -> count.
    pub sync: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A `--since` or `--until` bound: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`
/// (UTC, an optional `Z`), as the comparable prefix of a record's `ts`.
pub fn parse_bound(text: &str) -> Result<String, String> {
    let t = text.strip_suffix('Z').unwrap_or(text);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let date_ok = |d: &str| {
        let p: Vec<&str> = d.split('-').collect();
        p.len() == 3
            && p[0].len() == 4
            && p[1].len() == 2
            && p[2].len() == 2
            && p.iter().all(|x| digits(x))
            && (1..=12).contains(&p[1].parse::<u32>().unwrap_or(0))
            && (1..=31).contains(&p[2].parse::<u32>().unwrap_or(0))
    };
    let time_ok = |t: &str| {
        let p: Vec<&str> = t.split(':').collect();
        p.len() == 3
            && p.iter().all(|x| x.len() == 2 && digits(x))
            && p[0].parse::<u32>().unwrap_or(99) < 24
            && p[1].parse::<u32>().unwrap_or(99) < 60
            && p[2].parse::<u32>().unwrap_or(99) < 61
    };
    match t.split_once('T') {
        None if date_ok(t) => Ok(format!("{t}T00:00:00")),
        Some((d, tm)) if date_ok(d) && time_ok(tm) => Ok(format!("{d}T{tm}")),
        _ => Err(format!(
            "`{text}` is not a UTC date or time: give YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
        )),
    }
}

/// Reads the trail in `paths` and counts, for records whose `ts` is in
/// `[since, until)` (bounds from [`parse_bound`]). Err only when a file
/// cannot be opened or read; what is wrong inside is in `problems`.
pub fn read(
    paths: &[PathBuf],
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Figures, String> {
    let mut r = Reader {
        f: Figures {
            files: paths.iter().map(|p| p.display().to_string()).collect(),
            since: since.map(str::to_owned),
            until: until.map(str::to_owned),
            ..Figures::default()
        },
        prev: None,
        since: since.map(str::to_owned),
        until: until.map(str::to_owned),
        chained_trail: false,
    };
    // First pass: does any record carry a hash? Then every record must,
    // wherever it is (records put in front of the chain, or the hashes
    // stripped from some), and one without is left out of the figures.
    r.chained_trail = any_chained(paths)?;
    for path in paths {
        r.file(path)?;
    }
    let f = &mut r.f;
    f.chain.intact = f.problems_total == 0;
    let forwarded = f.decisions.accepted + f.decisions.would_refuse;
    f.would_refuse_share =
        (forwarded > 0).then(|| f.decisions.would_refuse as f64 / forwarded as f64);
    Ok(r.f)
}

/// One line of a trail file, as [`each_line`] reads it.
enum Line<'a> {
    /// The line's bytes; `ended`: it ends with a newline (else it is the
    /// file's last, perhaps cut off).
    Read { bytes: &'a [u8], ended: bool },
    /// Longer than [`MAX_LINE`]: skipped to its end, not kept.
    TooLong,
}

/// Calls `each` with every line of `path` and its number (from 1), reading
/// at most [`MAX_LINE`] bytes of a line into memory, until `each` says
/// false.
fn each_line(path: &Path, mut each: impl FnMut(usize, Line<'_>) -> bool) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut input = BufReader::new(File::open(path).map_err(failed)?);
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(failed)?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        let ended = line.last() == Some(&b'\n');
        let go_on = if !ended && line.len() > MAX_LINE {
            // Skip the rest of this line.
            loop {
                line.clear();
                let more = (&mut input)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut line)
                    .map_err(failed)?;
                if more == 0 || line.last() == Some(&b'\n') {
                    break;
                }
            }
            each(n, Line::TooLong)
        } else {
            each(
                n,
                Line::Read {
                    bytes: &line,
                    ended,
                },
            )
        };
        if !go_on {
            return Ok(());
        }
    }
}

/// Whether any line of the files is a record with a `hash`.
fn any_chained(paths: &[PathBuf]) -> Result<bool, String> {
    let mut found = false;
    for path in paths {
        each_line(path, |_, line| {
            if let Line::Read { bytes, .. } = line {
                found = serde_json::from_slice::<Map<String, Value>>(bytes)
                    .is_ok_and(|r| r.get("hash").and_then(Value::as_str).is_some());
            }
            !found
        })?;
        if found {
            break;
        }
    }
    Ok(found)
}

struct Reader {
    /// Some record of the trail has a hash (`[audit] chain = true`).
    chained_trail: bool,
    f: Figures,
    /// The hash of the last chained record read.
    prev: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl Reader {
    fn problem(&mut self, at: String, what: impl Into<String>) {
        self.f.problems_total += 1;
        if self.f.problems.len() < MAX_PROBLEMS {
            self.f.problems.push(Problem {
                at,
                what: what.into(),
            });
        }
    }

    fn file(&mut self, path: &Path) -> Result<(), String> {
        each_line(path, |n, line| {
            let at = format!("{}:{n}", path.display());
            let (bytes, ended) = match line {
                Line::TooLong => {
                    self.problem(at, format!("a line of over {MAX_LINE} bytes: not a record"));
                    return true;
                }
                Line::Read { bytes, ended } => (bytes, ended),
            };
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            if text.is_empty() {
                return true;
            }
            match serde_json::from_str::<Map<String, Value>>(text) {
                Ok(record) => self.record(at, &record),
                Err(_) if !ended => {
                    self.problem(at, "truncated: the last record of the file is cut off")
                }
                Err(e) => self.problem(at, format!("not a JSON record: {e}")),
            }
            true
        })
    }

    fn record(&mut self, at: String, record: &Map<String, Value>) {
        let s = |k: &str| record.get(k).and_then(Value::as_str);
        match (s("hash"), s("prev")) {
            (Some(hash), Some(prev)) => {
                self.f.chain.chained_records += 1;
                if self.f.chain.starts_from.is_none() {
                    self.f.chain.starts_from = Some(prev.to_owned());
                }
                let changed = record_hash(record) != hash;
                if let Some(expected) = &self.prev {
                    if expected != prev {
                        self.problem(
                            at.clone(),
                            "the chain is broken before this record (a record was removed, \
                             reordered or changed)",
                        );
                    }
                }
                self.prev = Some(hash.to_owned());
                if changed {
                    self.problem(
                        at,
                        "changed: the record's hash does not match its contents (not counted)",
                    );
                    return;
                }
            }
            _ => {
                self.f.chain.unchained_records += 1;
                if self.chained_trail {
                    self.problem(
                        at,
                        "no hash in a chained trail: a record inserted, or its hash removed \
                         (not counted)",
                    );
                    return;
                }
            }
        }
        let ts = s("ts").unwrap_or("");
        let key = ts.get(..19).unwrap_or(ts);
        let inside = self.since.as_deref().is_none_or(|b| key >= b)
            && self.until.as_deref().is_none_or(|b| key < b);
        if !inside {
            self.f.records_outside_range += 1;
            return;
        }
        self.f.records += 1;
        if !ts.is_empty() {
            if self.f.first_record.as_deref().is_none_or(|f| ts < f) {
                self.f.first_record = Some(ts.to_owned());
            }
            if self.f.last_record.as_deref().is_none_or(|l| ts > l) {
                self.f.last_record = Some(ts.to_owned());
            }
        }
        let verdict = s("verdict").unwrap_or("");
        let rules = || {
            s("rules")
                .unwrap_or("")
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let f = &mut self.f;
        match s("event").unwrap_or("") {
            "password_decision" => {
                f.decisions.add(verdict);
                f.by_day
                    .entry(ts.get(..10).unwrap_or("unknown").to_owned())
                    .or_default()
                    .add(verdict);
                f.by_scope
                    .entry(s("scope").unwrap_or("unknown").to_owned())
                    .or_default()
                    .add(verdict);
                f.by_door
                    .entry(s("door").unwrap_or("unknown").to_owned())
                    .or_default()
                    .add(verdict);
                let rules = rules();
                if rules.iter().any(|r| r == "protected_account") {
                    f.protected_account_attempts += 1;
                }
                let by_rule = match verdict {
                    "refused" => Some(&mut f.refused_by_rule),
                    "would_refuse" => Some(&mut f.would_refuse_by_rule),
                    _ => None,
                };
                if let Some(by_rule) = by_rule {
                    for rule in rules {
                        *by_rule.entry(rule).or_default() += 1;
                    }
                }
            }
            "request_refused" => {
                for rule in rules() {
                    *f.requests_refused.entry(rule).or_default() += 1;
                }
            }
            "password_result" => match s("result_code").unwrap_or("unknown") {
                "0" => f.directory_answers.success += 1,
                "unknown" => f.directory_answers.unknown += 1,
                code => {
                    *f.directory_answers
                        .refused_by_code
                        .entry(code.to_owned())
                        .or_default() += 1
                }
            },
            "password_check" => f.checks.add(verdict),
            "password_changed" => f.changes_reported += 1,
            "password_sync" => {
                *f.sync
                    .entry(s("sync_target").unwrap_or("unknown").to_owned())
                    .or_default()
                    .entry(s("outcome").unwrap_or("unknown").to_owned())
                    .or_default() += 1;
            }
            _ => {}
        }
    }
}

/// The name of an LDAP result code, for the directory's answers.
fn result_name(code: &str) -> &'static str {
    match code {
        "1" => "operationsError",
        "16" => "noSuchAttribute",
        "19" => "constraintViolation",
        "21" => "invalidAttributeSyntax",
        "32" => "noSuchObject",
        "49" => "invalidCredentials",
        "50" => "insufficientAccessRights",
        "53" => "unwillingToPerform",
        "80" => "other",
        _ => "",
    }
}

/// `&`, `<`, `>`, `"` and `'` escaped, for text and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

const ACCEPTED: &str = "#2e7d32";
const REFUSED: &str = "#c62828";
const WOULD: &str = "#ef8f00";

/// The top of the axis: four grid steps, each 1, 2, 2.5, 3, 4 or 5 times
/// a power of ten (whole numbers), the smallest at or above `n`.
fn nice_ceiling(n: u64) -> f64 {
    let n = n.max(1) as f64;
    let mut power = 1.0_f64;
    loop {
        for f in [1.0, 2.0, 2.5, 3.0, 4.0, 5.0] {
            let step = f * power;
            if step.fract() == 0.0 && step * 4.0 >= n {
                return step * 4.0;
            }
        }
        power *= 10.0;
    }
}

/// Decisions per day as stacked bars (accepted, would_refuse, refused).
fn day_chart(days: &BTreeMap<String, Counts>) -> String {
    if days.is_empty() {
        return "<p class=\"none\">No decisions in this period.</p>".to_owned();
    }
    let (w, h, left, bottom) = (880.0_f64, 260.0_f64, 48.0_f64, 40.0_f64);
    let max = nice_ceiling(days.values().map(Counts::total).max().unwrap_or(1));
    let slot = (w - left) / days.len() as f64;
    let bar = (slot * 0.7).max(1.0);
    let plot = h - bottom - 10.0;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"Decisions per day\">"
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = 10.0 + plot - plot * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 4.0,
            v.round()
        );
    }
    let label_every = (days.len() / 12).max(1);
    for (i, (day, c)) in days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = 10.0 + plot;
        for (n, color, name) in [
            (c.accepted, ACCEPTED, "accepted"),
            (c.would_refuse, WOULD, "would refuse"),
            (c.refused, REFUSED, "refused"),
        ] {
            if n == 0 {
                continue;
            }
            let bh = plot * n as f64 / max;
            y -= bh;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{color}\">\
                 <title>{} {name}: {n}</title></rect>",
                esc(day)
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                h - bottom + 16.0,
                esc(day.get(5..).unwrap_or(day))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, largest first.
fn bar_chart(items: &BTreeMap<String, u64>, color: &str, what: &str) -> String {
    if items.is_empty() {
        return format!("<p class=\"none\">No {what}.</p>");
    }
    let mut rows: Vec<(&String, &u64)> = items.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let max = *rows[0].1.max(&1) as f64;
    let (w, row, label) = (880.0_f64, 26.0_f64, 200.0_f64);
    let h = row * rows.len() as f64 + 6.0;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(what)
    );
    for (i, (name, n)) in rows.iter().enumerate() {
        let y = row * i as f64 + 4.0;
        let bw = ((w - label - 70.0) * **n as f64 / max).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{n}</text>",
            label - 8.0,
            y + 15.0,
            esc(name),
            row - 8.0,
            label + bw + 6.0,
            y + 15.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn counts_table(first: &str, rows: &BTreeMap<String, Counts>) -> String {
    if rows.is_empty() {
        return "<p class=\"none\">None.</p>".to_owned();
    }
    let mut t = format!(
        "<table><tr><th>{}</th><th>decisions</th><th>accepted</th><th>refused</th>\
         <th>would refuse</th><th>share refused</th><th>would refuse, of forwarded</th></tr>",
        esc(first)
    );
    for (name, c) in rows {
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            c.total(),
            c.accepted,
            c.refused,
            c.would_refuse,
            percent(c.refused, c.total()),
            percent(c.would_refuse, c.accepted + c.would_refuse)
        );
    }
    t.push_str("</table>");
    t
}

/// The whole report as one HTML page.
pub fn html(f: &Figures) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>pwgate audit report</title><style>\
         body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:960px;color:#1b1b1b;padding:0 16px}\
         h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.15em;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}\
         .sub{color:#555;margin-top:0}.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}\
         .tile{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}\
         .tile b{display:block;font-size:1.5em}.tile span{color:#555;font-size:.85em}\
         .ok{background:#e8f5e9;border:1px solid #a5d6a7;padding:10px 14px;border-radius:6px}\
         .bad{background:#ffebee;border:1px solid #ef9a9a;padding:10px 14px;border-radius:6px}\
         table{border-collapse:collapse;margin:8px 0;font-size:.92em}th,td{border:1px solid #ddd;padding:4px 10px;text-align:right}\
         th:first-child,td:first-child{text-align:left}th{background:#f5f5f5}\
         .grid{stroke:#e5e5e5}.axis{font-size:11px;fill:#555}.label{font-size:13px;fill:#1b1b1b}.value{font-size:12px;fill:#333}\
         .legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}\
         .none{color:#777;font-style:italic}code{font-size:.95em}\
         </style></head><body>\n",
    );
    let period = match (&f.first_record, &f.last_record) {
        (Some(a), Some(b)) => format!("records from {} to {}", esc(a), esc(b)),
        _ => "no records".to_owned(),
    };
    let range = match (&f.since, &f.until) {
        (None, None) => String::new(),
        (s, u) => format!(
            "; selected: since {} until {}",
            esc(s.as_deref().unwrap_or("the start")),
            esc(u.as_deref().unwrap_or("the end"))
        ),
    };
    let _ = write!(
        h,
        "<h1>pwgate audit report</h1><p class=\"sub\">{} file(s): {}<br>{period}{range}; {} records counted, {} outside the range</p>",
        f.files.len(),
        f.files.iter().map(|x| format!("<code>{}</code>", esc(x))).collect::<Vec<_>>().join(", "),
        f.records,
        f.records_outside_range
    );
    // The chain first: whether the figures can be trusted.
    if f.chain.intact && f.chain.chained_records == 0 {
        h.push_str("<p class=\"bad\"><b>Not verified</b>: no record carries a hash (<code>[audit] chain = false</code>, or the hashes were removed), so changes to the records cannot be detected.</p>");
    } else if f.chain.intact {
        let _ = write!(
            h,
            "<p class=\"ok\"><b>Hash chain intact</b>: {} records, each hash matching its contents and linked to the one before{}.</p>",
            f.chain.chained_records,
            match f.chain.starts_from.as_deref() {
                Some(GENESIS) | None => ", from the start of the chain".to_owned(),
                Some(p) => format!(", continuing from <code>{}</code> (an earlier file)", esc(p.get(..16).unwrap_or(p))),
            }
        );
    } else {
        let _ = write!(
            h,
            "<p class=\"bad\"><b>Hash chain NOT intact</b>: {} problem(s){}. The records with a problem are listed at the end; changed records are not counted, the rest are.</p>",
            f.problems_total,
            if f.chain.unchained_records > 0 {
                format!(", {} record(s) without a hash (was <code>[audit] chain</code> off?)", f.chain.unchained_records)
            } else {
                String::new()
            }
        );
    }
    let d = &f.decisions;
    let refused_after: u64 = f.directory_answers.refused_by_code.values().sum();
    let answered = f.directory_answers.success + refused_after;
    h.push_str("<div class=\"tiles\">");
    for (value, label) in [
        (d.total().to_string(), "password decisions".to_owned()),
        (
            d.accepted.to_string(),
            format!("accepted ({})", percent(d.accepted, d.total())),
        ),
        (
            d.refused.to_string(),
            format!("refused ({})", percent(d.refused, d.total())),
        ),
        (
            d.would_refuse.to_string(),
            format!(
                "audit mode would refuse ({} of forwarded)",
                f.would_refuse_share
                    .map_or("–".to_owned(), |s| format!("{:.1}%", s * 100.0))
            ),
        ),
        (
            refused_after.to_string(),
            format!(
                "directory refused after acceptance ({})",
                percent(refused_after, answered)
            ),
        ),
        (
            f.protected_account_attempts.to_string(),
            "protected-account attempts".to_owned(),
        ),
        (
            f.checks.total().to_string(),
            "checks (nothing set)".to_owned(),
        ),
    ] {
        let _ = write!(
            h,
            "<div class=\"tile\"><b>{}</b><span>{}</span></div>",
            esc(&value),
            esc(&label)
        );
    }
    h.push_str("</div>");
    let _ = write!(
        h,
        "<h2>Decisions per day (UTC)</h2><p class=\"legend\"><span style=\"background:{ACCEPTED}\"></span>accepted<span style=\"background:{WOULD}\"></span>would refuse (audit mode)<span style=\"background:{REFUSED}\"></span>refused</p>{}",
        day_chart(&f.by_day)
    );
    let _ = write!(
        h,
        "<h2>Refusals by rule</h2>{}",
        bar_chart(&f.refused_by_rule, REFUSED, "refusals")
    );
    let _ = write!(
        h,
        "<h2>What audit mode would have refused, by rule</h2><p class=\"sub\">Read this before switching a scope from audit to enforce.</p>{}",
        bar_chart(&f.would_refuse_by_rule, WOULD, "audit-mode refusals")
    );
    let _ = write!(h, "<h2>By scope</h2>{}", counts_table("scope", &f.by_scope));
    let _ = write!(
        h,
        "<h2>By door</h2><p class=\"sub\"><code>ldap</code>: the proxy; <code>samba_hook</code>: Samba's check password script; <code>api</code>: the decision service; <code>windows_filter</code>: the DC filter.</p>{}",
        counts_table("door", &f.by_door)
    );
    h.push_str("<h2>The directory's answers to what pwgate forwarded</h2>");
    if answered + f.directory_answers.unknown == 0 {
        h.push_str("<p class=\"none\">No answers recorded.</p>");
    } else {
        let _ = write!(
            h,
            "<table><tr><th>answer</th><th>count</th></tr><tr><td>success (0)</td><td>{}</td></tr>",
            f.directory_answers.success
        );
        for (code, n) in &f.directory_answers.refused_by_code {
            let _ = write!(
                h,
                "<tr><td>{} ({})</td><td>{n}</td></tr>",
                esc(result_name(code)),
                esc(code)
            );
        }
        let _ = write!(
            h,
            "<tr><td>no answer (connection ended)</td><td>{}</td></tr></table>",
            f.directory_answers.unknown
        );
    }
    if !f.requests_refused.is_empty() {
        h.push_str("<h2>Requests refused before a decision</h2><table><tr><th>reason</th><th>count</th></tr>");
        for (reason, n) in &f.requests_refused {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(reason));
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Password sync</h2>");
    if f.sync.is_empty() {
        h.push_str("<p class=\"none\">No sync records.</p>");
    } else {
        let outcomes: std::collections::BTreeSet<&String> =
            f.sync.values().flat_map(|m| m.keys()).collect();
        h.push_str("<table><tr><th>target</th>");
        for o in &outcomes {
            let _ = write!(h, "<th>{}</th>", esc(o));
        }
        h.push_str("</tr>");
        for (target, m) in &f.sync {
            let _ = write!(h, "<tr><td>{}</td>", esc(target));
            for o in &outcomes {
                let _ = write!(h, "<td>{}</td>", m.get(*o).copied().unwrap_or(0));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }
    if f.changes_reported > 0 {
        let _ = write!(
            h,
            "<p>Changes reported as made by an enforcement point: {}.</p>",
            f.changes_reported
        );
    }
    if f.problems_total > 0 {
        let _ = write!(
            h,
            "<h2>Problems in the trail</h2><table><tr><th>where</th><th>what</th></tr>"
        );
        for p in &f.problems {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td style=\"text-align:left\">{}</td></tr>",
                esc(&p.at),
                esc(&p.what)
            );
        }
        h.push_str("</table>");
        if f.problems_total > f.problems.len() as u64 {
            let _ = write!(
                h,
                "<p>… and {} more.</p>",
                f.problems_total - f.problems.len() as u64
            );
        }
    }
    h.push_str("<p class=\"sub\" style=\"margin-top:32px\">Made by <code>pwgate audit report</code>. The trail holds no password; this page shows counts and labels only.</p></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_ends_on_a_round_number() {
        for (n, top) in [
            (1, 4.0),
            (3, 4.0),
            (5, 8.0),
            (110, 120.0),
            (70, 80.0),
            (1000, 1000.0),
            (1001, 1200.0),
            (90, 100.0),
        ] {
            assert_eq!(nice_ceiling(n), top, "{n}");
        }
    }

    #[test]
    fn bounds_are_dates_or_times_in_utc() {
        assert_eq!(
            parse_bound("2026-12-01").as_deref(),
            Ok("2026-12-01T00:00:00")
        );
        assert_eq!(
            parse_bound("2026-12-01T13:05:00Z").as_deref(),
            Ok("2026-12-01T13:05:00")
        );
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-12-1",
            "2026-12-01T25:00:00",
            "",
        ] {
            assert!(parse_bound(bad).is_err(), "{bad}");
        }
    }

    /// A chained trail of `records` (each a JSON object without seq, prev
    /// and hash), as pwgate writes it.
    fn chained(records: &[Value]) -> Vec<String> {
        let mut prev = GENESIS.to_owned();
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut m = r.as_object().expect("an object").clone();
                m.insert("seq".into(), Value::from(i as u64 + 1));
                m.insert("prev".into(), Value::from(prev.clone()));
                let hash = record_hash(&m);
                m.insert("hash".into(), Value::from(hash.clone()));
                prev = hash;
                Value::Object(m).to_string()
            })
            .collect()
    }

    fn decision(ts: &str, door: &str, scope: &str, verdict: &str, rules: &str) -> Value {
        serde_json::json!({"event": "password_decision", "ts": ts, "door": door,
            "scope": scope, "verdict": verdict, "rules": rules, "kind": "change",
            "target_dn": "uid=alice,ou=people,dc=example,dc=com", "client": "127.0.0.1:4000"})
    }

    fn sample() -> Vec<Value> {
        use serde_json::json;
        vec![
            decision(
                "2026-11-30T08:00:00.000001Z",
                "ldap",
                "default",
                "refused",
                "banned_word,length",
            ),
            decision(
                "2026-11-30T09:00:00.000001Z",
                "ldap",
                "default",
                "accepted",
                "",
            ),
            json!({"event": "password_result", "ts": "2026-11-30T09:00:00.100000Z", "result_code": "0"}),
            decision(
                "2026-12-01T10:00:00.000001Z",
                "samba_hook",
                "staff",
                "would_refuse",
                "banned_word",
            ),
            decision(
                "2026-12-01T10:05:00.000001Z",
                "api",
                "staff",
                "accepted",
                "",
            ),
            json!({"event": "password_result", "ts": "2026-12-01T10:05:00.100000Z", "result_code": "19"}),
            decision(
                "2026-12-01T11:00:00.000001Z",
                "ldap",
                "admins",
                "refused",
                "protected_account",
            ),
            json!({"event": "password_check", "ts": "2026-12-01T12:00:00.000001Z", "verdict": "refused", "rules": "length"}),
            json!({"event": "request_refused", "ts": "2026-12-02T07:00:00.000001Z", "verdict": "refused", "rules": "malformed"}),
            json!({"event": "password_sync", "ts": "2026-12-02T08:00:00.000001Z", "sync_target": "openldap", "outcome": "synced"}),
            json!({"event": "password_sync", "ts": "2026-12-02T08:00:01.000001Z", "sync_target": "openldap", "outcome": "failed"}),
            json!({"event": "password_result", "ts": "2026-12-02T09:00:00.000001Z", "result_code": "unknown"}),
            decision(
                "2026-12-02T10:00:00.000001Z",
                "windows_filter",
                "default",
                "accepted",
                "",
            ),
        ]
    }

    fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        path
    }

    #[test]
    fn the_figures_of_a_trail_it_wrote_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines = chained(&sample());
        // Rotated: the first five records in an older file.
        let old = write(dir.path(), "audit.jsonl.1", &lines[..5]);
        let new = write(dir.path(), "audit.jsonl", &lines[5..]);
        let f = read(&[old.clone(), new.clone()], None, None).expect("read");
        assert!(f.chain.intact, "{:?}", f.problems);
        assert_eq!(f.chain.chained_records, 13);
        assert_eq!(f.chain.starts_from.as_deref(), Some(GENESIS));
        assert_eq!(f.records, 13);
        assert_eq!(
            f.decisions,
            Counts {
                accepted: 3,
                refused: 2,
                would_refuse: 1
            }
        );
        assert_eq!(f.by_day.len(), 3);
        assert_eq!(
            f.by_day["2026-12-01"],
            Counts {
                accepted: 1,
                refused: 1,
                would_refuse: 1
            }
        );
        assert_eq!(f.refused_by_rule["banned_word"], 1);
        assert_eq!(f.refused_by_rule["length"], 1);
        assert_eq!(f.refused_by_rule["protected_account"], 1);
        assert_eq!(f.would_refuse_by_rule["banned_word"], 1);
        assert_eq!(
            f.by_scope["staff"],
            Counts {
                accepted: 1,
                refused: 0,
                would_refuse: 1
            }
        );
        assert_eq!(f.by_door.len(), 4);
        assert_eq!(f.would_refuse_share, Some(0.25));
        assert_eq!(f.protected_account_attempts, 1);
        assert_eq!(f.directory_answers.success, 1);
        assert_eq!(f.directory_answers.refused_by_code["19"], 1);
        assert_eq!(f.directory_answers.unknown, 1);
        assert_eq!(f.checks.refused, 1);
        assert_eq!(f.requests_refused["malformed"], 1);
        assert_eq!(f.sync["openldap"]["failed"], 1);
        assert_eq!(
            f.first_record.as_deref(),
            Some("2026-11-30T08:00:00.000001Z")
        );
        // The page carries the figures and no account.
        let page = html(&f);
        assert!(page.contains("Hash chain intact"));
        assert!(page.contains("constraintViolation (19)"));
        assert!(
            !page.contains("alice") && !page.contains("127.0.0.1"),
            "{page}"
        );

        // A time range counts inside it only; the chain is still checked
        // over everything.
        let since = parse_bound("2026-12-01").expect("bound");
        let until = parse_bound("2026-12-02").expect("bound");
        let f = read(&[old, new], Some(&since), Some(&until)).expect("read");
        assert_eq!(f.records, 5);
        assert_eq!(f.records_outside_range, 8);
        assert_eq!(
            f.decisions,
            Counts {
                accepted: 1,
                refused: 1,
                would_refuse: 1
            }
        );
        assert!(f.chain.intact);
    }

    #[test]
    fn a_tampered_trail_is_reported_where_and_the_rest_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines = chained(&sample());
        // Line 2 deleted (an acceptance), line 4 changed (would_refuse made
        // accepted), a line without hash inserted, and garbage.
        let mut tampered: Vec<String> = vec![lines[0].clone()];
        tampered.extend_from_slice(&lines[2..3]);
        tampered.push(lines[3].replace("would_refuse", "accepted"));
        tampered
            .push(decision("2026-12-01T10:01:00Z", "ldap", "default", "accepted", "").to_string());
        tampered.push("{not json".to_owned());
        tampered.extend_from_slice(&lines[4..]);
        let path = write(dir.path(), "audit.jsonl", &tampered);
        let f = read(&[path], None, None).expect("read");
        assert!(!f.chain.intact);
        let at = |n: usize| format!("{}:{n}", dir.path().join("audit.jsonl").display());
        let found = |n: usize, start: &str| {
            f.problems
                .iter()
                .any(|p| p.at == at(n) && p.what.starts_with(start))
        };
        assert!(found(2, "the chain is broken"), "{:?}", f.problems);
        assert!(found(3, "changed"), "{:?}", f.problems);
        assert!(found(4, "no hash in a chained trail"), "{:?}", f.problems);
        assert!(found(5, "not a JSON record"), "{:?}", f.problems);
        // The changed record and the inserted one are left out (and
        // reported); the rest are counted.
        assert_eq!(f.decisions.would_refuse, 0);
        assert_eq!(f.decisions.refused, 2);
        assert_eq!(f.decisions.accepted, 2);
        let page = html(&f);
        assert!(page.contains("Hash chain NOT intact"));
        assert!(page.contains("not a JSON record"));
    }

    #[test]
    fn a_trail_without_the_chain_is_read_and_said_to_be_unverified() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines: Vec<String> = sample().iter().map(Value::to_string).collect();
        let path = write(dir.path(), "audit.jsonl", &lines);
        let f = read(&[path], None, None).expect("read");
        assert!(f.chain.intact && f.chain.chained_records == 0);
        assert_eq!(f.decisions.total(), 6);
        assert!(html(&f).contains("Not verified"));
    }

    #[test]
    fn records_without_hash_are_not_counted_wherever_they_are_in_a_chained_trail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines = chained(&sample());
        // Forged records in front of a chained trail.
        let mut forged: Vec<String> = (0..5)
            .map(|_| {
                decision("2026-11-29T08:00:00Z", "ldap", "default", "accepted", "").to_string()
            })
            .collect();
        forged.extend_from_slice(&lines);
        let path = write(dir.path(), "audit.jsonl", &forged);
        let f = read(&[path], None, None).expect("read");
        assert!(!f.chain.intact);
        assert_eq!(f.problems_total, 5, "{:?}", f.problems);
        assert_eq!(
            f.decisions,
            Counts {
                accepted: 3,
                refused: 2,
                would_refuse: 1
            }
        );
    }

    #[test]
    fn a_missing_file_is_an_error_and_a_huge_line_a_problem() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(read(&[dir.path().join("nope")], None, None).is_err());
        let path = dir.path().join("audit.jsonl");
        let mut text = "x".repeat(MAX_LINE * 3);
        text.push('\n');
        text.push_str(&chained(&sample()[..1])[0]);
        text.push('\n');
        std::fs::write(&path, text).expect("write");
        let f = read(&[path], None, None).expect("read");
        assert_eq!(f.problems_total, 1, "{:?}", f.problems);
        assert!(f.problems[0].what.contains("over"), "{:?}", f.problems);
        assert_eq!(f.decisions.refused, 1, "the record after it is read");
    }

    #[test]
    fn labels_are_escaped_in_the_page() {
        let mut f = Figures::default();
        f.by_scope.insert(
            "<script>alert(1)</script>".to_owned(),
            Counts {
                refused: 1,
                ..Counts::default()
            },
        );
        f.refused_by_rule.insert("x\"><img src=x>".to_owned(), 1);
        let page = html(&f);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x>"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
        // Self-contained: nothing fetched from anywhere.
        let plain = html(&Figures::default());
        assert!(
            !plain.contains("http://") && !plain.contains("https://") && !plain.contains(" src=")
        );
    }
}
