//! `pwgate check`: candidate passwords, one per line, through the policy.
//!
//! The same [`Policy::evaluate`] as the proxy, run offline so a security
//! team can test a policy against its own lists. Each line gets a verdict
//! with the failed rule ids, never the password itself; a summary closes
//! the output. Lines are read one at a time into wiped buffers.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use zeroize::Zeroizing;

use crate::policy::{ChangeKind, PasswordChange, Policy, Verdict};
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

fn report(out: &mut impl Write, line: usize, verdict: &LineVerdict, json: bool) -> io::Result<()> {
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
            "{{\"line\":{line},\"verdict\":\"{}\",\"rules\":[{}],\"message\":{}}}",
            if accepted { "accepted" } else { "refused" },
            rules.join(","),
            json_string(&message)
        )
    } else if accepted {
        writeln!(out, "line {line}: accepted")
    } else {
        writeln!(out, "line {line}: refused [{}] {message}", rules.join(","))
    }
}

/// Checks every non-empty line of `input` and writes a verdict per line and
/// a summary to `out`. `names` are the account names for the account-name
/// rule, `organisation` the organisation's names.
pub fn run(
    policy: &Policy,
    names: &[String],
    organisation: &[String],
    input: &mut impl BufRead,
    out: &mut impl Write,
    json: bool,
) -> io::Result<Summary> {
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
        let verdict = if too_long {
            LineVerdict::Unreadable("line too long")
        } else {
            match Password::from_utf8(text) {
                None => LineVerdict::Unreadable("not valid UTF-8"),
                Some(password) => LineVerdict::Verdict(policy.evaluate(&PasswordChange {
                    kind: ChangeKind::Reset,
                    new_password: &password,
                    old_password: None,
                    account_names: names,
                    organisation_names: organisation,
                    actor_is_target: false,
                })),
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
        report(out, line_no, &verdict, json)?;
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
            "{{\"summary\":{{\"checked\":{},\"accepted\":{},\"refused\":{},\"rules\":{{{}}}}}}}",
            summary.checked,
            summary.accepted,
            summary.refused,
            rules.join(",")
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
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, json: bool) -> (Summary, String) {
        let mut out = Vec::new();
        let summary = run(
            &Policy::default(),
            &["alice".to_owned()],
            &[],
            &mut input.as_bytes(),
            &mut out,
            json,
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
        assert_eq!(lines.len(), 4, "{out}");
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
            "{\"summary\":{\"checked\":1,\"accepted\":0,\"refused\":1,\"rules\":{\"banned_word\":1}}}"
        );
    }

    #[test]
    fn unreadable_lines_are_refused_not_echoed() {
        let mut input = b"\xff\xfe-not-utf8\n".to_vec();
        input.extend(vec![b'x'; MAX_LINE_BYTES + 10]);
        input.extend(b"\ntangerine-Otter-42-lamp\n");
        let mut out = Vec::new();
        let summary = run(
            &Policy::default(),
            &[],
            &[],
            &mut input.as_slice(),
            &mut out,
            false,
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
    }
}
