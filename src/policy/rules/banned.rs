//! Banned words and predictable patterns, scored together.
//!
//! Scoring follows the idea of Microsoft Entra Password Protection: a
//! normalized form of the password is cut into tokens, where a banned term
//! (exact, or the whole core within one edit of a term of 5+ characters) or
//! a pattern (keyboard walk, sequence, repetition, date; see
//! [`super::patterns`]) counts one point, every other character of the core
//! one point, and the decoration around the core (leading and trailing
//! digits and symbols) nothing; a second reading pays for the decoration
//! too, so a pattern there counts. The cheapest cut wins. A form that uses
//! at least one token and scores below the threshold in either reading is
//! refused, and the refusal names the token kinds it was built from. So `P@ssw0rd2024!`
//! (`password`: 1 point) and `Qwerty123456` (a walk and a sequence: 2) are
//! refused, while a long passphrase that happens to contain a banned word is
//! not.

use std::collections::HashSet;
use std::sync::OnceLock;

use std::ops::Range;

use crate::policy::normalize::{core_range, fold_case, password_forms};
use crate::policy::rules::patterns::{find, Pattern, PatternOptions};
use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// Terms shorter than this are ignored: they match too much by chance.
pub const MIN_TERM_CHARS: usize = 3;

const BUILTIN: &str = include_str!("../common_words.txt");

/// A set of normalized banned terms.
#[derive(Debug, Clone, Default)]
pub struct BannedWords {
    terms: HashSet<String>,
    /// Every term of FUZZY_MIN_CHARS or more with one character deleted.
    deletes: HashSet<String>,
    /// The first MIN_TERM_CHARS characters of every term: a position whose
    /// next characters are not among them starts no term (most positions).
    prefixes: HashSet<String>,
    longest: usize,
}

/// Terms at least this long also match within one edit (as a whole core).
pub const FUZZY_MIN_CHARS: usize = 5;

/// The strings made by deleting one character of `s`.
fn one_deleted(s: &str) -> impl Iterator<Item = String> + '_ {
    s.char_indices()
        .map(move |(i, c)| format!("{}{}", &s[..i], &s[i + c.len_utf8()..]))
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
                if chars >= FUZZY_MIN_CHARS {
                    self.deletes.extend(one_deleted(&form));
                }
                if chars >= MIN_TERM_CHARS {
                    self.longest = self.longest.max(chars);
                    let prefix: String = form.chars().take(MIN_TERM_CHARS).collect();
                    self.prefixes.insert(prefix);
                    self.terms.insert(form);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Adds every term of `other`.
    pub fn merge(&mut self, other: &BannedWords) {
        self.terms.extend(other.terms.iter().cloned());
        self.deletes.extend(other.deletes.iter().cloned());
        self.prefixes.extend(other.prefixes.iter().cloned());
        self.longest = self.longest.max(other.longest);
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether `s` (a whole core) is within one edit of a term of
    /// [`FUZZY_MIN_CHARS`] or more: one character left out, added, or
    /// changed (`passwrd`, `summmer`, `contozo`).
    fn fuzzy_contains(&self, s: &str) -> bool {
        let n = s.chars().count();
        if n + 1 < FUZZY_MIN_CHARS {
            return false;
        }
        if self.deletes.contains(s) {
            return true;
        }
        one_deleted(s)
            .any(|d| (n > FUZZY_MIN_CHARS && self.terms.contains(&d)) || self.deletes.contains(&d))
    }

    /// Spans of banned terms in `form`, as character index ranges.
    fn spans(&self, chars: &[(usize, char)], form: &str, out: &mut Vec<(Range<usize>, Token)>) {
        for i in 0..chars.len() {
            let start = chars[i].0;
            let longest = self.longest.min(chars.len() - i);
            if longest < MIN_TERM_CHARS {
                break;
            }
            let prefix_end = chars
                .get(i + MIN_TERM_CHARS)
                .map_or(form.len(), |(b, _)| *b);
            if !self.prefixes.contains(&form[start..prefix_end]) {
                continue;
            }
            for n in MIN_TERM_CHARS..=longest {
                let end = chars.get(i + n).map_or(form.len(), |(b, _)| *b);
                if self.terms.contains(&form[start..end]) {
                    out.push((i..i + n, Token::Banned));
                }
            }
        }
    }
}

/// What a scoring token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Banned,
    Pattern(Pattern),
}

/// The token kinds a refused password was built from, in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kinds(u8);

impl Kinds {
    fn bit(token: Token) -> u8 {
        match token {
            Token::Banned => 1,
            Token::Pattern(Pattern::KeyboardWalk) => 2,
            Token::Pattern(Pattern::Sequence) => 4,
            Token::Pattern(Pattern::Repetition) => 8,
            Token::Pattern(Pattern::Date) => 16,
        }
    }

    fn with(self, token: Token) -> Kinds {
        Kinds(self.0 | Kinds::bit(token))
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds present, banned words first, then patterns in enum order.
    pub fn tokens(self) -> Vec<Token> {
        [
            Token::Banned,
            Token::Pattern(Pattern::KeyboardWalk),
            Token::Pattern(Pattern::Sequence),
            Token::Pattern(Pattern::Repetition),
            Token::Pattern(Pattern::Date),
        ]
        .into_iter()
        .filter(|t| self.0 & Kinds::bit(*t) != 0)
        .collect()
    }
}

/// The cheapest cut of one form into tokens and characters:
/// `(points, kinds of the tokens used)`.
fn cheapest(n: usize, core: &Range<usize>, spans: &[(Range<usize>, Token)]) -> (usize, Kinds) {
    let mut best: Vec<(usize, Kinds)> = vec![(usize::MAX, Kinds::default()); n + 1];
    best[0] = (0, Kinds::default());
    let relax = |best: &mut Vec<(usize, Kinds)>, at: usize, candidate: (usize, Kinds)| {
        if candidate.0 < best[at].0 {
            best[at] = candidate;
        }
    };
    let mut by_start: Vec<Vec<(usize, Token)>> = vec![Vec::new(); n];
    for (r, t) in spans {
        by_start[r.start].push((r.end, *t));
    }
    for i in 0..n {
        let (points, kinds) = best[i];
        if points == usize::MAX {
            continue;
        }
        let cost = usize::from(core.contains(&i));
        relax(&mut best, i + 1, (points + cost, kinds));
        for (end, token) in &by_start[i] {
            relax(&mut best, *end, (points + 1, kinds.with(*token)));
        }
    }
    best[n]
}

/// What the predictability rule found: the token kinds of the cheapest
/// refused form, or nothing.
pub fn predictable(
    password: &Password,
    lists: &[&BannedWords],
    patterns: &PatternOptions,
    min_score: usize,
) -> Option<Kinds> {
    let forms = password_forms(password.expose());
    let raw: Vec<char> = forms[0].chars().collect();
    let core = core_range(&forms[0]);
    let pattern_spans: Vec<(Range<usize>, Token)> = find(&raw, patterns)
        .into_iter()
        .map(|(r, p)| (r, Token::Pattern(p)))
        .collect();
    let mut refused: Option<(usize, Kinds)> = None;
    for (n, form) in forms.iter().enumerate() {
        let leet = n > 0;
        let chars: Vec<(usize, char)> = form.char_indices().collect();
        let mut spans = pattern_spans.clone();
        for list in lists {
            list.spans(&chars, form, &mut spans);
        }
        if leet {
            // `2024` read as `zoza` is a year, not a word.
            spans
                .retain(|(r, t)| *t != Token::Banned || (r.start < core.end && r.end > core.start));
        }
        if !core.is_empty() {
            let (start, end) = (
                chars.get(core.start).map_or(form.len(), |(b, _)| *b),
                chars.get(core.end).map_or(form.len(), |(b, _)| *b),
            );
            if lists.iter().any(|l| l.fuzzy_contains(&form[start..end])) {
                spans.push((core.clone(), Token::Banned));
            }
        }
        // Two readings: decoration free (`Password2024!#$` is `password`),
        // and every character paid for (`Tq12/05/1990!` is two letters and
        // a date). Either one refuses.
        for paid in [core.clone(), 0..chars.len()] {
            let (points, kinds) = cheapest(chars.len(), &paid, &spans);
            if !kinds.is_empty() && points < min_score && refused.is_none_or(|(p, _)| points < p) {
                refused = Some((points, kinds));
            }
        }
    }
    refused.map(|(_, kinds)| kinds)
}

/// The violations for a predictable password, one per token kind.
pub fn check(
    password: &Password,
    lists: &[&BannedWords],
    patterns: &PatternOptions,
    min_score: usize,
) -> Vec<Violation> {
    let Some(kinds) = predictable(password, lists, patterns, min_score) else {
        return Vec::new();
    };
    kinds
        .tokens()
        .into_iter()
        .map(|t| match t {
            Token::Banned => Violation::new(
                Rule::BannedWord,
                "too close to a common password or a banned word".to_owned(),
            ),
            Token::Pattern(Pattern::KeyboardWalk) => {
                Violation::new(Rule::KeyboardWalk, "built on a keyboard pattern".to_owned())
            }
            Token::Pattern(Pattern::Sequence) => Violation::new(
                Rule::Sequence,
                "built on a sequence such as abcd or 1234".to_owned(),
            ),
            Token::Pattern(Pattern::Repetition) => Violation::new(
                Rule::Repetition,
                "built on repeated characters or blocks".to_owned(),
            ),
            Token::Pattern(Pattern::Date) => {
                Violation::new(Rule::Date, "built on a date or a year".to_owned())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule ids the default scoring refuses `password` with ("" = accepted).
    fn refusal(password: &str) -> String {
        let v = check(
            &Password::new(password.to_owned()),
            &[BannedWords::builtin()],
            &PatternOptions::default(),
            5,
        );
        let ids: Vec<&str> = v.iter().map(|v| v.rule.id()).collect();
        ids.join(",")
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
            "iloveyou2024",
            "!!W1nter2024",
            "SummerWinter",
            "Passwrd2024!!",
            "Summmer2025!",
            "Pa55w0rd!Pa55w0rd2",
            "P@ssw0rd2024!#$",
            "Contoso!1",
        ] {
            assert!(refusal(p).contains("banned_word"), "{p}: {}", refusal(p));
        }
    }

    #[test]
    fn refuses_patterns_and_names_them() {
        for (p, ids) in [
            ("Qwerty123456", "keyboard_walk"),
            ("Pa55w0rd!Pa55w0rd!", "repetition"),
            ("1qaz2wsx3edc", "banned_word,keyboard_walk"),
            ("Zxcvbnm,./!2", "keyboard_walk"),
            ("Abcdefgh1234!", "sequence"),
            ("Aa123456789!", "keyboard_walk"),
            ("xyzxyzxyzxyz", "repetition"),
            ("Tq12/05/1990!", "date"),
            ("1990-05-12x19", "date"),
            ("aaaaaaaaaaaa", "repetition"),
            ("9876543210ab", "sequence"),
            ("!@#$%^&*()_+", "keyboard_walk"),
        ] {
            assert_eq!(refusal(p), ids, "{p}");
        }
    }

    #[test]
    fn accepts_passphrases_and_random_passwords() {
        for p in [
            "correct horse battery staple",
            "my summer in the mountains",
            "Ab1!7364#2935",
            "Kv7#qLp2-Tz9!mWd",
            "Rx4$nHs8_Yb3%cJf",
            "tangerine-Otter-42-lamp",
            "purple elephant dances 1984",
            "J8r#qW2m!xK5pL9z",
        ] {
            assert_eq!(refusal(p), "", "{p} should be accepted");
        }
    }

    #[test]
    fn configured_words_are_normalized_too() {
        let mut org = BannedWords::default();
        org.extend(["Contoso", "Ex@mple"]);
        let opts = PatternOptions::default();
        let refused = |p: &str| !check(&Password::new(p.to_owned()), &[&org], &opts, 5).is_empty();
        assert!(refused("C0nt0s0!2024#"));
        assert!(refused("example-9A"));
        assert!(refused("Contozo2024!"), "one substitution");
        assert!(!refused("contoso is where I worked for years"));
    }

    #[test]
    fn fuzzy_matching_needs_five_characters_and_one_edit() {
        let mut org = BannedWords::default();
        org.extend(["acme", "fabrikam"]);
        assert!(org.fuzzy_contains("fabrikan"));
        assert!(org.fuzzy_contains("fabrkam"));
        assert!(org.fuzzy_contains("fabrikaam"));
        assert!(!org.fuzzy_contains("fabrikxyz"));
        assert!(
            !org.fuzzy_contains("acne"),
            "terms under 5 characters match exactly only"
        );
    }

    #[test]
    fn patterns_can_be_turned_off() {
        let none = PatternOptions {
            keyboard_walks: false,
            sequences: false,
            repetitions: false,
            dates: false,
            ..PatternOptions::default()
        };
        let pw = Password::new("1qaz2wsx3edc".to_owned());
        assert!(check(&pw, &[BannedWords::builtin()], &none, 5).is_empty());
    }

    #[test]
    fn short_terms_are_ignored() {
        let mut org = BannedWords::default();
        org.extend(["ab"]);
        assert!(org.is_empty());
    }

    #[test]
    fn scoring_takes_arbitrary_unicode() {
        let mut rng = crate::policy::test_support::XorShift(0x9E37_79B9_7F4A_7C15);
        let alphabet: Vec<char> = "pas0@1!wörd字😀e\u{301}２ -qwe".chars().collect();
        for _ in 0..2000 {
            let s = rng.string(&alphabet, 29);
            let _ = refusal(&s);
        }
    }
}
