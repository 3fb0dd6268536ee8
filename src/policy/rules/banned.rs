//! Banned words and predictable patterns, scored together.
//!
//! Scoring follows the idea of Microsoft Entra Password Protection: a
//! normalized form of the password is cut into tokens, where a banned term
//! (exact, or the whole core within one edit of a term of 5+ characters) or
//! a pattern (keyboard walk, sequence, repetition, date; see
//! [`super::patterns`]) is a token, every other character of the core costs
//! one point, and the decoration around the core (leading and trailing
//! digits and symbols) nothing; a second reading pays for the decoration
//! too, so a pattern there counts. The cheapest cut wins. A form that uses
//! at least one token and scores below the threshold (5) in either reading
//! is refused, and the refusal names the token kinds it was built from.
//!
//! The dictionary is large: the hand-picked `common_words.txt` plus some
//! 80,000 base words generated from the zxcvbn crate's frequency lists
//! (common passwords, English words, first names, surnames, film and TV
//! words; `base_words.txt`, made by `scripts/gen-base-words.py`). With
//! Entra's flat one point a token, every passphrase would be a handful of
//! banned words and score under 5. So the cost of a token depends on how
//! many the cut has used before it:
//!
//! - the first [`CHEAP_TOKENS`] (2) tokens cost 1 point each, every further
//!   one [`LATER_TOKEN_POINTS`] (2). A base word with decoration
//!   (`Manchester1!`: 1 point), two words glued together
//!   (`ManchesterUnited1!`: 2) or three (`SummerWinterSpring`: 4) are
//!   refused, while four words are a passphrase (`CorrectHorseBatteryStaple`:
//!   1 + 1 + 2 + 2 = 6), with or without separators. A person who picks four
//!   words from even a few thousand has made four independent choices; a
//!   person who decorates one word has made one.
//! - two digits or symbols in a row inside the core cost 1 point together:
//!   a number or a symbol run between words (`Blink182Rocks`: 1 + 1 + 1 +
//!   1 = 4, `Dillon!@#Razz4`) is worth about one random character, not
//!   three.
//!
//! Random passwords stay far above the threshold (a 16-character one scores
//! around 15), and so do passphrases with separators, since each separator
//! costs a point. The refusals still name the kinds: `P@ssw0rd2024!`
//! (`password`) is a banned word, `Qwerty123456` a walk and a sequence.
//!
//! The word sets hold 64-bit hashes (FNV-1a) of the terms and of all their
//! prefixes, so the dictionary costs a few megabytes and a scan of the
//! password stops at the first prefix no term starts with. The built-in
//! dictionary is built once, on first use (about 40 ms in a release
//! build).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::policy::normalize::{core_range, fold_case, is_joiner, leet_forms, password_forms};
use crate::policy::rules::patterns::{find, Pattern, PatternOptions};
use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// Terms shorter than this are ignored: they match too much by chance.
pub const MIN_TERM_CHARS: usize = 3;

/// Terms at least this long also match within one edit (as a whole core).
pub const FUZZY_MIN_CHARS: usize = 5;

/// Hand-picked common passwords and base words.
const BUILTIN: &str = include_str!("../common_words.txt");

/// Base words generated from the zxcvbn crate's frequency lists
/// (scripts/gen-base-words.py), most frequent first.
const BASE_WORDS: &str = include_str!("../base_words.txt");

/// The generated base words this far down the list (the most frequent
/// ones) also match within one edit; the rest match exactly.
pub const BASE_WORDS_FUZZY: usize = 20_000;

/// In a cut of the password, this many tokens (words or patterns) cost one
/// point each; every further token costs [`LATER_TOKEN_POINTS`]. A base
/// word with decoration, or two words glued together
/// (`ManchesterUnited1!`), stays cheap, while four words in a row are a
/// passphrase: 1 + 1 + 2 + 2 = 6 points.
pub const CHEAP_TOKENS: usize = 2;
/// The cost of each token after the first [`CHEAP_TOKENS`] of a cut.
pub const LATER_TOKEN_POINTS: usize = 2;

/// FNV-1a over UTF-8 bytes: the word sets store 64-bit hashes of terms, so
/// a large dictionary costs a few bytes a term, and a substring's hash grows
/// one character at a time while a password is scanned.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const START: Fnv = Fnv(0xcbf2_9ce4_8422_2325);

    fn push(self, c: char) -> Fnv {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf).bytes().fold(self, |Fnv(h), b| {
            Fnv((h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        })
    }

    fn of(s: &str) -> u64 {
        s.chars().fold(Fnv::START, Fnv::push).0
    }
}

/// Passes an already computed hash through to the hash table.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<PassThrough>>;

/// A set of normalized banned terms, stored as hashes.
#[derive(Clone, Default)]
pub struct BannedWords {
    /// Every term.
    terms: HashSet64,
    /// Every prefix of every term: a scan stops as soon as the characters
    /// read so far start no term.
    prefixes: HashSet64,
    /// Every term that also matches within one edit ([`FUZZY_MIN_CHARS`]
    /// or more characters).
    fuzzy: HashSet64,
    /// Every fuzzy-matching term with one character deleted.
    deletes: HashSet64,
    longest: usize,
    /// The longest fuzzy-matching term, in characters.
    longest_fuzzy: usize,
}

impl std::fmt::Debug for BannedWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BannedWords")
            .field("terms", &self.terms.len())
            .finish_non_exhaustive()
    }
}

/// The strings made by deleting one character of `s`.
fn one_deleted(s: &str) -> impl Iterator<Item = String> + '_ {
    s.char_indices()
        .map(move |(i, c)| format!("{}{}", &s[..i], &s[i + c.len_utf8()..]))
}

/// The terms of a word list file: one a line, `#` starts a comment line.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

impl BannedWords {
    /// The built-in dictionary shipped with pwgate: the hand-picked list,
    /// then the generated base words. Built once, on first use.
    pub fn builtin() -> &'static BannedWords {
        static LIST: OnceLock<BannedWords> = OnceLock::new();
        LIST.get_or_init(|| {
            let mut list = BannedWords::default();
            list.extend(lines(BUILTIN));
            for (rank, word) in lines(BASE_WORDS).enumerate() {
                list.insert(word, rank < BASE_WORDS_FUZZY);
            }
            list
        })
    }

    /// Adds terms, normalized the same way as passwords (their leetspeak
    /// reading too, so a configured `P@ss` matches `pass`). Terms of
    /// [`FUZZY_MIN_CHARS`] or more also match within one edit.
    pub fn extend<'a>(&mut self, words: impl IntoIterator<Item = &'a str>) {
        for word in words {
            self.insert(word, true);
        }
    }

    fn insert(&mut self, word: &str, fuzzy: bool) {
        let folded = fold_case(word.trim());
        let mut forms: Vec<String> = leet_forms(&folded)
            .into_iter()
            .map(|f| f.to_string())
            .collect();
        if !forms.iter().any(|f| f.as_str() == folded.as_str()) {
            forms.push(folded.to_string());
        }
        for form in forms {
            let chars = form.chars().count();
            if chars < MIN_TERM_CHARS {
                continue;
            }
            if fuzzy && chars >= FUZZY_MIN_CHARS {
                self.longest_fuzzy = self.longest_fuzzy.max(chars);
                self.fuzzy.insert(Fnv::of(&form));
                self.deletes.extend(one_deleted(&form).map(|d| Fnv::of(&d)));
            }
            self.longest = self.longest.max(chars);
            let mut h = Fnv::START;
            for c in form.chars() {
                h = h.push(c);
                self.prefixes.insert(h.0);
            }
            self.terms.insert(h.0);
        }
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Adds every term of `other`.
    pub fn merge(&mut self, other: &BannedWords) {
        self.terms.extend(other.terms.iter().copied());
        self.fuzzy.extend(other.fuzzy.iter().copied());
        self.deletes.extend(other.deletes.iter().copied());
        self.prefixes.extend(other.prefixes.iter().copied());
        self.longest = self.longest.max(other.longest);
        self.longest_fuzzy = self.longest_fuzzy.max(other.longest_fuzzy);
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether `s` (a whole core) is within one edit of a fuzzy-matching
    /// term of [`FUZZY_MIN_CHARS`] or more: one character left out, added,
    /// or changed (`passwrd`, `summmer`, `contozo`).
    fn fuzzy_contains(&self, s: &str) -> bool {
        let n = s.chars().count();
        if n + 1 < FUZZY_MIN_CHARS || n > self.longest_fuzzy + 1 {
            return false;
        }
        if self.deletes.contains(&Fnv::of(s)) {
            return true;
        }
        // `s` is a term with one character added, or with one changed.
        one_deleted(s).any(|d| {
            let h = Fnv::of(&d);
            self.fuzzy.contains(&h) || self.deletes.contains(&h)
        })
    }

    /// Spans of banned terms in `form`, as character index ranges.
    fn spans(&self, chars: &[(usize, char)], out: &mut Vec<(Range<usize>, Token)>) {
        for i in 0..chars.len() {
            let mut h = Fnv::START;
            for (j, (_, c)) in chars.iter().enumerate().skip(i).take(self.longest) {
                h = h.push(*c);
                if !self.prefixes.contains(&h.0) {
                    break;
                }
                if j + 1 - i >= MIN_TERM_CHARS && self.terms.contains(&h.0) {
                    out.push((i..j + 1, Token::Banned));
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
/// `(points, kinds of the tokens used)`. `paid` is the part of the form
/// whose characters cost a point; `other` marks the positions that hold a
/// digit or a symbol (not a letter) in the password as typed.
///
/// A token (word or pattern) costs 1 point while the cut has used fewer
/// than [`CHEAP_TOKENS`] tokens, then [`LATER_TOKEN_POINTS`] (the state of
/// the shortest path is the position and the number of tokens used so far,
/// capped at [`CHEAP_TOKENS`]). Two digits or symbols in a row cost 1 point
/// together: a number or a symbol run typed between words (`Blink182Rocks`,
/// `Dillon!@#Razz4`) is worth about as much as one random character.
///
/// `joints` (empty for a password read as typed) marks, in a reading
/// without joiners, the positions where joiners were taken out before the
/// character. A joint between tokens or characters, or inside a pattern,
/// is free: `Blue-Sky` is read as `BlueSky`. A joint inside a word costs a
/// point unless
/// `uniform` (a joiner between every character of the core:
/// `P-a-s-s-w-o-r-d`), since a joiner in an odd place inside a word is a
/// choice an attacker has to guess, and one between every character is not.
fn cheapest(
    n: usize,
    paid: &Range<usize>,
    spans: &[(Range<usize>, Token)],
    other: &[bool],
    joints: &[bool],
    uniform: bool,
) -> (usize, Kinds) {
    const STATES: usize = CHEAP_TOKENS + 1;
    let mut best: Vec<[(usize, Kinds); STATES]> =
        vec![[(usize::MAX, Kinds::default()); STATES]; n + 1];
    best[0][0] = (0, Kinds::default());
    let relax = |best: &mut Vec<[(usize, Kinds); STATES]>,
                 at: usize,
                 used: usize,
                 candidate: (usize, Kinds)| {
        if candidate.0 < best[at][used].0 {
            best[at][used] = candidate;
        }
    };
    let mut by_start: Vec<Vec<(usize, Token)>> = vec![Vec::new(); n];
    for (r, t) in spans {
        by_start[r.start].push((r.end, *t));
    }
    for i in 0..n {
        for used in 0..STATES {
            let (points, kinds) = best[i][used];
            if points == usize::MAX {
                continue;
            }
            let cost = usize::from(paid.contains(&i));
            relax(&mut best, i + 1, used, (points + cost, kinds));
            if i + 1 < n && other[i] && other[i + 1] {
                let cost = usize::from(paid.contains(&i) || paid.contains(&(i + 1)));
                relax(&mut best, i + 2, used, (points + cost, kinds));
            }
            for (end, token) in &by_start[i] {
                let (cost, after) = if used < CHEAP_TOKENS {
                    (1, used + 1)
                } else {
                    (LATER_TOKEN_POINTS, used)
                };
                // Joiners inside patterns are what their generators try
                // (`1-2-3-4`, `12.05.1990`, `ab-ab-ab`).
                let inside = if uniform || *token != Token::Banned {
                    0
                } else {
                    joints
                        .get(i + 1..*end)
                        .map_or(0, |j| j.iter().filter(|j| **j).count())
                };
                let cost = cost + inside;
                relax(&mut best, *end, after, (points + cost, kinds.with(*token)));
            }
        }
    }
    best[n]
        .iter()
        .copied()
        .min_by_key(|(points, _)| *points)
        .unwrap_or_default()
}

/// What the predictability rule found: the token kinds of the cheapest
/// refused form, or nothing.
///
/// The password is read twice: as typed, and without its joiners
/// ([`is_joiner`]: `-`, `.`, `_`, spaces...), the way cracking rules strip
/// and insert them, so `Abroad-Origin-Improved$763`, `abroad origin
/// improved $763` and `AbroadOriginImproved$763` score alike and
/// `P-a-s-s-w-o-r-d-1` is `Password1`. Either reading refuses.
pub fn predictable(
    password: &Password,
    lists: &[&BannedWords],
    patterns: &PatternOptions,
    min_score: usize,
) -> Option<Kinds> {
    let forms = password_forms(password.expose());
    let mut refused = cheapest_reading(&forms, &[], lists, patterns, min_score);
    let joiner: Vec<bool> = forms[0].chars().map(is_joiner).collect();
    if joiner.iter().any(|j| *j) && !joiner.iter().all(|j| *j) {
        // Leetspeak maps one character to one, and no joiner to anything:
        // the joiners sit at the same places in every form.
        let squeezed: Vec<Zeroizing<String>> = forms
            .iter()
            .map(|f| {
                Zeroizing::new(
                    f.chars()
                        .zip(&joiner)
                        .filter(|(_, j)| !**j)
                        .map(|(c, _)| c)
                        .collect(),
                )
            })
            .collect();
        let mut joints = Vec::with_capacity(joiner.len());
        let mut pending = false;
        for j in &joiner {
            if *j {
                pending = true;
            } else {
                joints.push(pending && !joints.is_empty());
                pending = false;
            }
        }
        let without = cheapest_reading(&squeezed, &joints, lists, patterns, min_score);
        if let Some((points, _)) = without {
            if refused.is_none_or(|(p, _)| points < p) {
                refused = without;
            }
        }
    }
    refused.map(|(_, kinds)| kinds)
}

/// The cheapest refused cut of one reading (the case-folded password and
/// its leetspeak forms, character for character), with its joints (see
/// [`cheapest`]): `(points, kinds)`, or None when every cut scores
/// `min_score` or more.
fn cheapest_reading(
    forms: &[Zeroizing<String>],
    joints: &[bool],
    lists: &[&BannedWords],
    patterns: &PatternOptions,
    min_score: usize,
) -> Option<(usize, Kinds)> {
    let raw: Vec<char> = forms[0].chars().collect();
    let core = core_range(&forms[0]);
    let other: Vec<bool> = raw.iter().map(|c| !c.is_alphabetic()).collect();
    // A joiner between every character of the core, as in `p-a-s-s`.
    let uniform = core.len() > 2
        && joints
            .get(core.start + 1..core.end)
            .is_some_and(|j| j.iter().all(|j| *j));
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
            list.spans(&chars, &mut spans);
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
            let (points, kinds) = cheapest(chars.len(), &paid, &spans, &other, joints, uniform);
            if !kinds.is_empty() && points < min_score && refused.is_none_or(|(p, _)| points < p) {
                refused = Some((points, kinds));
            }
        }
    }
    refused
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
            "Manchester1!",
            "Liverpool123!",
            "Jesus4ever!!",
            "Blink182Rocks",
            "Mustang1969!",
            "ManchesterUnited1!",
            "SummerWinterSpring",
            "Dillon!@#Razz4",
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
    fn three_words_and_a_year_score_alike_whatever_joins_them() {
        // 1 + 1 + 2 points for the words; the year is decoration. Refused
        // with every joiner, as it is written without one.
        for p in [
            "PurpleElephantDances1984",
            "purple elephant dances 1984",
            "Purple-Elephant-Dances-1984",
            "purple.elephant.dances.1984",
            "Purple_Elephant_Dances_1984",
            "purple--elephant..dances 1984",
            "  purple elephant dances 1984  ",
        ] {
            assert_eq!(refusal(p), "banned_word", "{p}");
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
            "purple elephant dances quietly",
            "J8r#qW2m!xK5pL9z",
            "correcthorsebatterystaple",
            "CorrectHorseBatteryStaple",
            "SummerWinterSpringAutumn",
        ] {
            assert_eq!(refusal(p), "", "{p} should be accepted");
        }
    }

    #[test]
    fn tokens_after_the_second_cost_two_points() {
        let words = |v: &[&str]| {
            let mut list = BannedWords::default();
            list.extend(v.iter().copied());
            list
        };
        let list = words(&["alpha", "bravo", "charlie", "delta"]);
        let opts = PatternOptions::default();
        let refused = |p: &str| !check(&Password::new(p.to_owned()), &[&list], &opts, 5).is_empty();
        assert!(refused("Alpha1!"), "1 point");
        assert!(refused("AlphaBravo1!"), "2 points");
        assert!(refused("AlphaBravoCharlie"), "1 + 1 + 2 = 4 points");
        assert!(
            !refused("AlphaBravoCharlieDelta"),
            "1 + 1 + 2 + 2 = 6 points"
        );
        assert!(
            refused("Alpha-Bravo-Charlie"),
            "joiners between words are free: 4 points, as AlphaBravoCharlie"
        );
        assert!(refused("alpha bravo charlie"), "spaces too");
        assert!(
            refused("A-l-p-h-a-B-r-a-v-o-1"),
            "a joiner between every character is free"
        );
        assert!(
            refused("Al-pha1!"),
            "a joiner inside a word costs a point: 2 points"
        );
        assert!(
            !refused("Al-ph-aB-ra-vo1!"),
            "four joiners inside words: 2 + 4 points"
        );
        assert!(
            !refused("Alpha-Bravo-Charlie-Delta"),
            "6 points with or without joiners"
        );
        assert!(refused("Alpha82Bravo"), "two digits in a row: 1 point");
        assert!(!refused("Alpha8x2Bravo"), "three characters: 3 points");
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
