//! `pwgate check`: candidate passwords, one per line, through the policy.
//!
//! The same [`Policy::evaluate`] as the proxy, so a security team can test
//! a policy against its own lists. Each line gets a verdict with the failed
//! rule ids, never the password itself; a summary and the scope that
//! decided close the output. Lines are read one at a time into wiped
//! buffers.
//!
//! With a `[directory]` section the account is looked up first
//! ([`look_up`]), through the proxy's own [`Directory`]: its names and its
//! groups then count, and the scope is chosen by the proxy's own
//! [`crate::decision::scope::choose`].

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use zeroize::Zeroizing;

use crate::audit::Clean;
use crate::config::{Config, Mode};
use crate::decision::{find_by_name, scope, ByName, NewPassword, Subject};
use crate::directory::{bind_name, Account, Directory, LookupError};
use crate::policy::rules::banned::{Part, PartKind, Reading};
use crate::policy::{ChangeKind, Verdict};
use crate::secret::Password;

/// Longest line read as a password; longer lines are refused unread.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Totals over all lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub checked: usize,
    pub accepted: usize,
    pub refused: usize,
    /// How often each rule refused a line.
    pub rules: BTreeMap<String, usize>,
}

/// Whether the account was read from the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupState {
    /// Not looked up: no `[directory]`, `--no-lookup`, or no account given.
    None,
    /// Read from the directory: its names and groups counted.
    Done,
    /// The lookup failed and `on_error = "allow"` said to decide without it.
    Failed,
}

impl LookupState {
    fn id(self) -> &'static str {
        match self {
            LookupState::None => "none",
            LookupState::Done => "done",
            LookupState::Failed => "failed",
        }
    }
}

/// What the candidates were checked as: the scope that decided, its mode,
/// and the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub scope: String,
    pub mode: Mode,
    /// The account's DN, when one was given or found.
    pub account: Option<String>,
    pub lookup: LookupState,
}

impl Default for Decided {
    fn default() -> Self {
        Decided {
            scope: "default".into(),
            mode: Mode::Enforce,
            account: None,
            lookup: LookupState::None,
        }
    }
}

fn mode_id(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Audit => "audit",
    }
}

/// An account found by [`look_up`].
#[derive(Debug, Clone)]
pub struct Found {
    /// Its DN: as given, or found for a bind name.
    pub dn: String,
    /// True when `dn` was found for a bind name (not given).
    pub resolved: bool,
    pub account: Account,
}

/// Why [`look_up`] found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotLookedUp {
    /// The directory could not be asked (see [`LookupError::Failed`]).
    Failed(String),
    /// No entry at that DN, or not visible to the lookup account.
    NoSuchEntry,
    /// A bind name that names no entry, or more than one, under the bases.
    NoSingleEntry { bases: Vec<String> },
}

/// Looks `user` (a DN, or a bind name: `user@realm`, `DOMAIN\user`,
/// `user`) up the way the proxy looks a password's target up: its entry,
/// with its membership of every group the configuration asks about. A
/// bind name is first found under `bases` (default: the directory's naming
/// contexts), as the proxy finds a resetting account.
pub async fn look_up(
    directory: &Directory,
    config: &Config,
    user: &str,
    bases: &[String],
) -> Result<Found, NotLookedUp> {
    let failed = |e: LookupError| match e {
        LookupError::Failed(e) => NotLookedUp::Failed(e),
        LookupError::NotFound => NotLookedUp::NoSuchEntry,
    };
    let (dn, resolved) = match bind_name(user) {
        None => (user.trim().to_owned(), false),
        Some(name) => match find_by_name(directory, name, bases).await.map_err(failed)? {
            ByName::Dn(dn) => (dn, true),
            ByName::NoSingleEntry { bases } => return Err(NotLookedUp::NoSingleEntry { bases }),
        },
    };
    let account = directory
        .account(&dn, &scope::target_groups(config))
        .await
        .map_err(failed)?;
    Ok(Found {
        dn,
        resolved,
        account,
    })
}

impl std::fmt::Display for NotLookedUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotLookedUp::Failed(e) => write!(f, "cannot look the account up: {e}"),
            NotLookedUp::NoSuchEntry => f.write_str(
                "no such account in the directory (or the lookup account cannot read it)",
            ),
            NotLookedUp::NoSingleEntry { bases } => write!(
                f,
                "no single account has this name under {}",
                if bases.is_empty() {
                    "the directory's naming contexts (none found; give --search-base)".to_owned()
                } else {
                    Clean(&bases.join(" | ")).to_string()
                }
            ),
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

enum LineVerdict {
    Verdict(Verdict),
    /// Not UTF-8, or longer than MAX_LINE_BYTES: the reason.
    Unreadable(&'static str),
}

/// One verdict line; in JSON, `explain` is the value of an `explain`
/// member (with `--explain`).
fn report(
    out: &mut impl Write,
    line: usize,
    verdict: &LineVerdict,
    json: bool,
    explain: Option<&str>,
) -> io::Result<()> {
    let (accepted, rules, message): (bool, Vec<&str>, String) = match verdict {
        LineVerdict::Verdict(v) => (
            v.is_accept(),
            v.violations().iter().map(|v| v.rule.id()).collect(),
            v.explanation().unwrap_or_default(),
        ),
        LineVerdict::Unreadable(why) => (false, vec!["unreadable"], (*why).to_owned()),
    };
    if json {
        let rules: Vec<String> = rules.iter().map(|r| json_string(r)).collect();
        writeln!(
            out,
            "{{\"line\":{line},\"verdict\":\"{}\",\"rules\":[{}],\"message\":{}{}}}",
            if accepted { "accepted" } else { "refused" },
            rules.join(","),
            json_string(&message),
            explain.map_or(String::new(), |e| format!(",\"explain\":{e}"))
        )
    } else if accepted {
        writeln!(out, "line {line}: accepted")
    } else {
        writeln!(out, "line {line}: refused [{}] {message}", rules.join(","))
    }
}

/// How `pwgate check` writes its verdicts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Format {
    /// One JSON object per line, and a JSON summary.
    pub json: bool,
    /// After each verdict, how the banned-word and pattern rule read the
    /// password ([`crate::policy::Policy::explain_words`]): pieces of the password, for a
    /// person at a terminal.
    pub explain: bool,
}

/// `1 point`, `4 points`.
fn points(n: usize) -> String {
    if n == 1 {
        "1 point".to_owned()
    } else {
        format!("{n} points")
    }
}

/// `"abroad" word 1 point`: one part, the text quoted and escaped.
fn part_text(part: &Part) -> String {
    let read_as = part
        .read_as
        .as_ref()
        .map_or(String::new(), |r| format!(" (read {:?})", r.as_str()));
    format!(
        "{:?}{read_as} {} {}",
        part.text.as_str(),
        part.kind.describe(),
        points(part.points)
    )
}

fn part_json(part: &Part) -> String {
    format!(
        "{{\"text\":{},\"read_as\":{},\"kind\":{},\"points\":{}}}",
        json_string(&part.text),
        part.read_as
            .as_ref()
            .map_or("null".to_owned(), |r| json_string(r)),
        json_string(part.kind.describe()),
        part.points
    )
}

/// The reading's name in the `--explain` output.
fn reading_name(r: &Reading) -> &'static str {
    if r.without_joiners {
        "without joiners"
    } else {
        "as typed"
    }
}

/// The value of the JSON `explain` member for one password: its readings,
/// or null when the password was not read (longer than the maximum).
fn explain_json(readings: Option<&[Reading]>, threshold: usize) -> String {
    let Some(readings) = readings else {
        return "null".to_owned();
    };
    let items: Vec<String> = readings
        .iter()
        .map(|r| {
            let parts: Vec<String> = r.parts.iter().map(part_json).collect();
            format!(
                "{{\"reading\":\"{}\",\"points\":{},\"threshold\":{threshold},\
                 \"refuses\":{},\"decoration_paid\":{},\"parts\":[{}]}}",
                reading_name(r),
                r.points,
                r.refuses,
                r.decoration_paid,
                parts.join(",")
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The `--explain` lines under one verdict.
fn explain_text(
    out: &mut impl Write,
    readings: Option<&[Reading]>,
    threshold: usize,
) -> io::Result<()> {
    let Some(readings) = readings else {
        return writeln!(
            out,
            "  not read for words and patterns: longer than the maximum"
        );
    };
    for r in readings {
        let verdict = if r.refuses {
            "refuses"
        } else if r
            .parts
            .iter()
            .any(|p| !matches!(p.kind, PartKind::Characters | PartKind::Decoration))
        {
            "passes"
        } else {
            "passes (no word or pattern)"
        };
        writeln!(
            out,
            "  {}: {}, {threshold} needed: {verdict}{}",
            reading_name(r),
            points(r.points),
            if r.decoration_paid {
                ", decoration paid for"
            } else {
                ""
            }
        )?;
        let parts: Vec<String> = r.parts.iter().map(part_text).collect();
        if !parts.is_empty() {
            writeln!(out, "    {}", parts.join(" + "))?;
        }
    }
    Ok(())
}

/// Checks every non-empty line of `input` and writes a verdict per line and
/// a summary to `out`, each line judged by the decision core for
/// `subject` as a reset (the old password and the actor are not known).
pub fn run(
    subject: &Subject<'_>,
    decided: &Decided,
    input: &mut impl BufRead,
    out: &mut impl Write,
    format: Format,
) -> io::Result<Summary> {
    let json = format.json;
    let mut summary = Summary::default();
    let mut line_no = 0;
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    loop {
        buf.clear();
        let n =
            io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let too_long = !buf.ends_with(b"\n") && buf.len() > MAX_LINE_BYTES;
        if too_long {
            // Skip the rest of the line without keeping it.
            let mut rest = Zeroizing::new(Vec::new());
            input.read_until(b'\n', &mut rest)?;
        }
        let mut text: &[u8] = &buf;
        text = text.strip_suffix(b"\n").unwrap_or(text);
        text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            continue;
        }
        let mut readings = None;
        let verdict = if too_long {
            LineVerdict::Unreadable("line too long")
        } else {
            match Password::from_utf8(text) {
                None => LineVerdict::Unreadable("not valid UTF-8"),
                Some(password) => LineVerdict::Verdict({
                    if format.explain {
                        readings = Some(subject.scope.policy.explain_words(&password));
                    }
                    subject.evaluate(
                        ChangeKind::Reset,
                        &NewPassword::Clear(password),
                        None,
                        false,
                        false,
                    )
                }),
            }
        };
        summary.checked += 1;
        match &verdict {
            LineVerdict::Verdict(v) if v.is_accept() => summary.accepted += 1,
            LineVerdict::Verdict(v) => {
                summary.refused += 1;
                for violation in v.violations() {
                    *summary
                        .rules
                        .entry(violation.rule.id().to_owned())
                        .or_default() += 1;
                }
            }
            LineVerdict::Unreadable(_) => {
                summary.refused += 1;
                *summary.rules.entry("unreadable".to_owned()).or_default() += 1;
            }
        }
        let threshold = subject.scope.policy.min_score;
        let explained = match (&readings, json) {
            (Some(r), true) => Some(explain_json(r.as_deref(), threshold)),
            _ => None,
        };
        report(out, line_no, &verdict, json, explained.as_deref())?;
        if let (Some(r), false) = (&readings, json) {
            explain_text(out, r.as_deref(), threshold)?;
        }
    }
    let mut top: Vec<(&String, &usize)> = summary.rules.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if json {
        let rules: Vec<String> = top
            .iter()
            .map(|(r, n)| format!("{}:{n}", json_string(r)))
            .collect();
        writeln!(
            out,
            "{{\"summary\":{{\"checked\":{},\"accepted\":{},\"refused\":{},\"rules\":{{{}}},\
             \"scope\":{},\"mode\":\"{}\",\"account\":{},\"lookup\":\"{}\"}}}}",
            summary.checked,
            summary.accepted,
            summary.refused,
            rules.join(","),
            json_string(&decided.scope),
            mode_id(decided.mode),
            decided
                .account
                .as_deref()
                .map_or("null".to_owned(), json_string),
            decided.lookup.id()
        )?;
    } else {
        let rules: Vec<String> = top.iter().map(|(r, n)| format!("{r} {n}")).collect();
        writeln!(
            out,
            "checked {}: {} accepted, {} refused{}",
            summary.checked,
            summary.accepted,
            summary.refused,
            if rules.is_empty() {
                String::new()
            } else {
                format!(" ({})", rules.join(", "))
            }
        )?;
        let account = match (&decided.account, decided.lookup) {
            (None, _) => "no account given".to_owned(),
            (Some(dn), LookupState::None) => format!("account {}, not looked up", Clean(dn)),
            (Some(dn), LookupState::Done) => {
                format!("account {}, looked up in the directory", Clean(dn))
            }
            (Some(dn), LookupState::Failed) => format!(
                "account {}, lookup failed: decided without it (directory.on_error = \"allow\")",
                Clean(dn)
            ),
        };
        writeln!(
            out,
            "scope {} (mode {}); {account}",
            Clean(&decided.scope),
            mode_id(decided.mode)
        )?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::scope::Scoped;
    use crate::decision::target::TargetNames;
    use crate::policy::Policy;

    /// An account known by `names` only, judged by `policy`.
    fn subject<'p>(policy: &'p Policy, names: &[&str]) -> Subject<'p> {
        Subject {
            dn: None,
            names: TargetNames {
                names: names.iter().map(|n| (*n).to_owned()).collect(),
                organisation: Vec::new(),
            },
            account: None,
            scope: Scoped {
                name: "default",
                policy,
                mode: Mode::Enforce,
            },
        }
    }

    fn check(input: &str, json: bool) -> (Summary, String) {
        check_with(
            input,
            Format {
                json,
                explain: false,
            },
        )
    }

    fn check_with(input: &str, format: Format) -> (Summary, String) {
        let mut out = Vec::new();
        let summary = run(
            &subject(&Policy::default(), &["alice"]),
            &Decided::default(),
            &mut input.as_bytes(),
            &mut out,
            format,
        )
        .expect("in-memory I/O");
        (summary, String::from_utf8(out).expect("UTF-8 output"))
    }

    #[test]
    fn one_verdict_per_line_and_a_summary() {
        let (summary, out) = check(
            "Summer2025!!\ntangerine-Otter-42-lamp\r\n\nalice-in-the-long-garden-7",
            false,
        );
        assert_eq!(
            (summary.checked, summary.accepted, summary.refused),
            (3, 1, 2)
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(
            lines[0].starts_with("line 1: refused [banned_word]"),
            "{out}"
        );
        assert_eq!(lines[1], "line 2: accepted");
        assert!(
            lines[2].starts_with("line 4: refused [account_name]"),
            "{out}"
        );
        assert_eq!(
            lines[3],
            "checked 3: 1 accepted, 2 refused (account_name 1, banned_word 1)"
        );
        assert_eq!(lines[4], "scope default (mode enforce); no account given");
        for secret in ["Summer2025", "tangerine", "garden"] {
            assert!(!out.contains(secret), "{out}");
        }
    }

    #[test]
    fn json_lines_for_machines() {
        let (_, out) = check("Summer2025!!\n", true);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "{\"line\":1,\"verdict\":\"refused\",\"rules\":[\"banned_word\"],\
             \"message\":\"password rejected by policy: too close to a common password or a banned word [banned_word]\"}"
        );
        assert_eq!(
            lines[1],
            "{\"summary\":{\"checked\":1,\"accepted\":0,\"refused\":1,\"rules\":{\"banned_word\":1},\
             \"scope\":\"default\",\"mode\":\"enforce\",\"account\":null,\"lookup\":\"none\"}}"
        );
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn unreadable_lines_are_refused_not_echoed() {
        let mut input = b"\xff\xfe-not-utf8\n".to_vec();
        input.extend(vec![b'x'; MAX_LINE_BYTES + 10]);
        input.extend(b"\ntangerine-Otter-42-lamp\n");
        let mut out = Vec::new();
        let summary = run(
            &subject(&Policy::default(), &[]),
            &Decided::default(),
            &mut input.as_slice(),
            &mut out,
            Format {
                json: false,
                explain: true,
            },
        )
        .expect("I/O");
        let out = String::from_utf8(out).expect("UTF-8");
        assert_eq!((summary.checked, summary.refused), (3, 2), "{out}");
        assert!(
            out.contains("line 1: refused [unreadable] not valid UTF-8"),
            "{out}"
        );
        assert!(
            out.contains("line 2: refused [unreadable] line too long"),
            "{out}"
        );
        assert!(out.contains("line 3: accepted"), "{out}");
        assert!(!out.contains("xxxx"));
        // --explain reads only what was checked: the accepted line.
        assert_eq!(out.matches("  as typed: ").count(), 1, "{out}");
    }

    #[test]
    fn explain_shows_the_parts_after_each_verdict_and_in_json() {
        let format = |json| Format {
            json,
            explain: true,
        };
        let (_, out) = check_with("Abroad-Origin-Improved$763\n", format(false));
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("line 1: refused [banned_word]"),
            "{out}"
        );
        assert_eq!(lines[1], "  as typed: 6 points, 5 needed: passes", "{out}");
        assert_eq!(
            lines[4],
            "    \"abroad\" word 1 point + \"origin\" word 1 point + \"improved\" word 2 points + \
             \"$763\" decoration 0 points",
            "{out}"
        );
        assert_eq!(
            lines[3], "  without joiners: 4 points, 5 needed: refuses",
            "{out}"
        );
        let (_, out) = check_with("P@ssw0rd2024!\n", format(true));
        let first = out.lines().next().expect("a line");
        assert!(
            first.ends_with(
                ",\"explain\":[{\"reading\":\"as typed\",\"points\":1,\"threshold\":5,\
                 \"refuses\":true,\"decoration_paid\":false,\"parts\":[{\"text\":\"p@ssw0rd\",\
                 \"read_as\":\"password\",\"kind\":\"word\",\"points\":1},{\"text\":\"2024!\",\
                 \"read_as\":null,\"kind\":\"decoration\",\"points\":0}]}]}"
            ),
            "{out}"
        );
        // Without --explain, no piece of a password is shown.
        let (_, out) = check("Abroad-Origin-Improved$763\n", false);
        assert!(!out.to_lowercase().contains("abroad"), "{out}");
    }

    #[test]
    fn the_scope_and_account_close_the_output() {
        let decided = |account: Option<&str>, lookup| Decided {
            scope: "admins".into(),
            mode: Mode::Audit,
            account: account.map(str::to_owned),
            lookup,
        };
        let text = |d: &Decided, json: bool| {
            let mut out = Vec::new();
            run(
                &subject(&Policy::default(), &[]),
                d,
                &mut "tangerine-Otter-42-lamp\n".as_bytes(),
                &mut out,
                Format {
                    json,
                    explain: false,
                },
            )
            .expect("I/O");
            String::from_utf8(out).expect("UTF-8")
        };
        let dn = "uid=carol,ou=people,dc=example,dc=com";
        for (lookup, human, id) in [
            (LookupState::Done, "looked up in the directory", "done"),
            (LookupState::None, "not looked up", "none"),
            (
                LookupState::Failed,
                "lookup failed: decided without it (directory.on_error = \"allow\")",
                "failed",
            ),
        ] {
            let out = text(&decided(Some(dn), lookup), false);
            assert_eq!(
                out.lines().last(),
                Some(format!("scope admins (mode audit); account {dn}, {human}").as_str()),
                "{out}"
            );
            let out = text(&decided(Some(dn), lookup), true);
            assert!(
                out.trim_end().ends_with(&format!(
                    "\"scope\":\"admins\",\"mode\":\"audit\",\"account\":\"{dn}\",\"lookup\":\"{id}\"}}}}"
                )),
                "{out}"
            );
        }
        // Control characters in a DN given on the command line stay escaped.
        let out = text(
            &decided(Some("uid=a\nline 2: accepted,dc=x"), LookupState::None),
            false,
        );
        assert_eq!(out.lines().count(), 3, "{out}");
        let out = text(&decided(Some("uid=a\nb,dc=x"), LookupState::None), true);
        assert!(out.contains("\"account\":\"uid=a\\u000ab,dc=x\""), "{out}");
    }
}
