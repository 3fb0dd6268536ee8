//! Banned words: common passwords and base words, built-in and configured.
//!
//! Scoring follows the idea of Microsoft Entra Password Protection: in a
//! normalized form of the password, every occurrence of a banned term counts
//! one point and every other character one point. A form that contains at
//! least one banned term and scores below the threshold is refused, so
//! `P@ssw0rd2024!` (stripped to `password`: 1 point) is refused while a long
//! passphrase that happens to contain a banned word is not.

use std::collections::HashSet;
use std::sync::OnceLock;

use std::ops::Range;

use crate::policy::normalize::{core_range, fold_case, password_forms};
use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// Terms shorter than this are ignored: they match too much by chance.
pub const MIN_TERM_CHARS: usize = 3;

const BUILTIN: &str = include_str!("../common_words.txt");

/// A set of normalized banned terms.
#[derive(Debug, Clone, Default)]
pub struct BannedWords {
    terms: HashSet<String>,
    longest: usize,
}

impl BannedWords {
    /// The built-in list shipped with pwgate.
    pub fn builtin() -> &'static BannedWords {
        static LIST: OnceLock<BannedWords> = OnceLock::new();
        LIST.get_or_init(|| {
            let mut list = BannedWords::default();
            list.extend(
                BUILTIN
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#')),
            );
            list
        })
    }

    /// Adds terms, normalized the same way as passwords (their leetspeak
    /// reading too, so a configured `P@ss` matches `pass`).
    pub fn extend<'a>(&mut self, words: impl IntoIterator<Item = &'a str>) {
        for word in words {
            let folded = fold_case(word.trim());
            for form in crate::policy::normalize::leet_forms(&folded)
                .into_iter()
                .map(|f| f.to_string())
                .chain(std::iter::once(folded.to_string()))
            {
                let chars = form.chars().count();
                if chars >= MIN_TERM_CHARS {
                    self.longest = self.longest.max(chars);
                    self.terms.insert(form);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Scores one normalized form: `(banned terms found, points)`.
    ///
    /// At each position the longest banned term wins and counts one point;
    /// any other character of the core counts one point; decoration (outside
    /// `core`, character indices) counts nothing. In a leetspeak reading, a
    /// term lying wholly in the decoration is ignored: `2024` read as `zoza`
    /// is a year, not a word.
    fn score(&self, form: &str, core: &Range<usize>, leet: bool) -> (usize, usize) {
        let chars: Vec<(usize, char)> = form.char_indices().collect();
        let (mut found, mut points, mut i) = (0, 0, 0);
        while i < chars.len() {
            let start = chars[i].0;
            let longest = self.longest.min(chars.len() - i);
            let matched = (MIN_TERM_CHARS..=longest).rev().find(|&n| {
                let end = chars.get(i + n).map_or(form.len(), |(b, _)| *b);
                self.terms.contains(&form[start..end])
            });
            match matched {
                Some(n) if !leet || (i < core.end && i + n > core.start) => {
                    found += 1;
                    points += 1;
                    i += n;
                }
                _ => {
                    if core.contains(&i) {
                        points += 1;
                    }
                    i += 1;
                }
            }
        }
        (found, points)
    }
}

/// Refuses the password when one of its normalized forms is made mostly of
/// banned terms (fewer than `min_score` points, at least one term found).
pub fn check(password: &Password, lists: &[&BannedWords], min_score: usize) -> Option<Violation> {
    let forms = password_forms(password.expose());
    let core = core_range(&forms[0]);
    let refused = forms.iter().enumerate().any(|(n, form)| {
        lists.iter().any(|list| {
            let (found, points) = list.score(form, &core, n > 0);
            found > 0 && points < min_score
        })
    });
    refused.then(|| {
        Violation::new(
            Rule::BannedWord,
            "too close to a common password or a banned word".to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(password: &str) -> bool {
        check(
            &Password::new(password.to_owned()),
            &[BannedWords::builtin()],
            5,
        )
        .is_some()
    }

    #[test]
    fn builtin_list_is_loaded() {
        assert!(BannedWords::builtin().len() > 100);
    }

    #[test]
    fn refuses_decorated_common_words() {
        for p in [
            "P@ssw0rd2024!",
            "Password1234",
            "Summer2025!!",
            "Welcome12345",
            "Qwerty123456",
            "iloveyou2024",
            "!!W1nter2024",
            "Aa123456789!",
            "SummerWinter",
        ] {
            assert!(refused(p), "{p} should be refused");
        }
    }

    #[test]
    fn accepts_passphrases_and_random_passwords() {
        for p in [
            "correct horse battery staple",
            "my summer in the mountains",
            "Ab1!7364#2935",
            "Kv7#qLp2-Tz9!mWd",
            "tangerine-Otter-42-lamp",
        ] {
            assert!(!refused(p), "{p} should be accepted");
        }
    }

    #[test]
    fn configured_words_are_normalized_too() {
        let mut org = BannedWords::default();
        org.extend(["Contoso", "Ex@mple"]);
        let pw = Password::new("C0nt0s0!2024#".to_owned());
        assert!(check(&pw, &[&org], 5).is_some());
        let pw = Password::new("example-9A".to_owned());
        assert!(check(&pw, &[&org], 5).is_some());
    }

    #[test]
    fn short_terms_are_ignored() {
        let mut org = BannedWords::default();
        org.extend(["ab"]);
        assert!(org.is_empty());
    }
}
