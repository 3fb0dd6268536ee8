//! Similarity of the new password to the old one.
//!
//! This rule family owns the comparison of a new password with the password
//! it replaces, which is only possible when the change carries the old
//! password (a user's own change, not an administrator's reset). It refuses
//! the usual ways of "changing" a password without changing it: the same
//! password, the same with other upper/lower case, the old one reversed, the
//! old one with a bumped counter or year (`Spring2025!` to `Spring2026!`)
//! and, optionally, anything within a small edit distance of the old one.
//!
//! Passwords are compared after NFKC normalization (so full-width and
//! decomposed characters equal their plain forms); every check but
//! [`Similarity::Same`] also folds case. Every normalized copy is held in a
//! [`Zeroizing`] buffer allocated once at its final size, so it is wiped on
//! drop and no reallocation leaves a copy behind. No message ever contains
//! either password.

use zeroize::Zeroizing;

use crate::policy::normalize::nfkc_chars;

/// How the new password resembles the old one, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Similarity {
    /// Identical after NFKC.
    Same,
    /// Identical after NFKC and lower-casing.
    OnlyCaseDiffers,
    /// The case-folded old password backwards (at least 4 characters).
    Reversed,
    /// Equal once every digit is removed, but with other digits.
    OnlyDigitsDiffer,
    /// Within the configured Levenshtein distance of the old password.
    TooClose { distance: usize },
}

impl Similarity {
    /// A short message in plain words; never contains either password.
    pub fn message(&self) -> String {
        match *self {
            Similarity::Same => "is the same as the old password".to_owned(),
            Similarity::OnlyCaseDiffers => {
                "differs from the old password only in upper/lower case".to_owned()
            }
            Similarity::Reversed => "is the old password reversed".to_owned(),
            Similarity::OnlyDigitsDiffer => {
                "differs from the old password only in its digits (a bumped counter or year)"
                    .to_owned()
            }
            Similarity::TooClose { distance } => {
                let what = if distance == 1 {
                    "character"
                } else {
                    "characters"
                };
                format!("is too close to the old password (only {distance} {what} changed)")
            }
        }
    }
}

/// NFKC, then lower case, as characters, in a wiped buffer.
fn folded_chars(s: &str) -> Zeroizing<Vec<char>> {
    let fold = || nfkc_chars(s).flat_map(char::to_lowercase);
    let mut chars = Zeroizing::new(Vec::with_capacity(fold().count()));
    chars.extend(fold());
    chars
}

/// Compares `new` with `old`. `max_distance`: refuse when the Levenshtein
/// distance between the case-folded (NFKC + lower case) forms is at most
/// `max_distance` (0 = only identical, which the earlier checks already
/// catch). Returns the first finding in the order `Same`,
/// `OnlyCaseDiffers`, `Reversed`, `OnlyDigitsDiffer`, `TooClose`.
///
/// Cost: linear in the lengths for the first four checks, and
/// O(length × min(max_distance, length)) for the distance.
pub fn compare(new: &str, old: &str, max_distance: usize) -> Option<Similarity> {
    // Streams both NFKC forms without copying them.
    if nfkc_chars(new).eq(nfkc_chars(old)) {
        return Some(Similarity::Same);
    }
    let new = folded_chars(new);
    let old = folded_chars(old);
    if new[..] == old[..] {
        return Some(Similarity::OnlyCaseDiffers);
    }
    if new.len() >= 4 && new.iter().eq(old.iter().rev()) {
        return Some(Similarity::Reversed);
    }
    let digit = |c: &&char| c.is_numeric();
    let not_digit = |c: &&char| !c.is_numeric();
    if new.iter().any(|c| !c.is_numeric())
        && new
            .iter()
            .filter(not_digit)
            .eq(old.iter().filter(not_digit))
        && new.iter().filter(digit).ne(old.iter().filter(digit))
    {
        return Some(Similarity::OnlyDigitsDiffer);
    }
    let distance = levenshtein(&new, &old, max_distance);
    (distance <= max_distance).then_some(Similarity::TooClose { distance })
}

/// Levenshtein distance (insertions, deletions, substitutions of one
/// character each), bounded: the exact distance when it is at most `cap`,
/// otherwise `cap + 1` (saturating).
///
/// Only the diagonal band of width `2 × cap + 1` is computed, row by row,
/// and the computation stops as soon as a whole row exceeds `cap`: time
/// O(len × min(cap, len)), memory two rows of the shorter input's length
/// (after the common prefix and suffix are skipped).
pub fn levenshtein(a: &[char], b: &[char], cap: usize) -> usize {
    let over = cap.saturating_add(1);
    // Rows run over the longer input, columns over the shorter one.
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > cap {
        return over;
    }
    // A common prefix and suffix do not change the distance.
    let prefix = long.iter().zip(short).take_while(|(x, y)| x == y).count();
    let (long, short) = (&long[prefix..], &short[prefix..]);
    let suffix = long
        .iter()
        .rev()
        .zip(short.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (long, short) = (&long[..long.len() - suffix], &short[..short.len() - suffix]);
    if short.is_empty() {
        // Checked above: long.len() <= cap.
        return long.len();
    }
    // The distance is at most long.len(): a larger cap changes nothing.
    let cap = cap.min(long.len());
    let big = cap + 1;
    let width = short.len();
    // prev[j]: distance between long[..i-1] and short[..j], or `big` when
    // more than `cap` (cells outside the band are always more than `cap`).
    let mut prev: Vec<usize> = (0..=width).map(|j| j.min(big)).collect();
    let mut cur: Vec<usize> = vec![big; width + 1];
    for i in 1..=long.len() {
        let lo = i.saturating_sub(cap).max(1);
        let hi = (i + cap).min(width);
        cur[0] = i.min(big);
        if lo > 1 {
            cur[lo - 1] = big;
        }
        let mut row_min = if lo == 1 { cur[0] } else { big };
        let c = long[i - 1];
        for j in lo..=hi {
            let substitute = prev[j - 1] + usize::from(c != short[j - 1]);
            let value = substitute.min(prev[j] + 1).min(cur[j - 1] + 1).min(big);
            cur[j] = value;
            row_min = row_min.min(value);
        }
        if hi < width {
            cur[hi + 1] = big;
        }
        if row_min > cap {
            return over;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    if prev[width] > cap {
        over
    } else {
        prev[width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::XorShift;
    use unicode_normalization::UnicodeNormalization;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    /// The textbook full-matrix Levenshtein distance, as a reference.
    fn reference(a: &[char], b: &[char]) -> usize {
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = (d[i - 1][j - 1] + cost)
                    .min(d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1);
            }
        }
        d[a.len()][b.len()]
    }

    #[test]
    fn levenshtein_examples() {
        let cases: &[(&str, &str, usize, usize)] = &[
            ("", "", 0, 0),
            ("abc", "", 5, 3),
            ("abc", "", 2, 3),
            ("kitten", "sitting", 10, 3),
            ("kitten", "sitting", 3, 3),
            ("kitten", "sitting", 2, 3),
            ("kitten", "sitting", 0, 1),
            ("flaw", "lawn", 2, 2),
            ("abcdef", "abcdef", 0, 0),
            ("abcdef", "badcfe", 10, 4),
            ("abcdef", "badcfe", 1, 2),
            ("abc", "xyz", usize::MAX, 3),
            ("密码123", "密码124", 1, 1),
            ("🔑a", "a🔑", 5, 2),
        ];
        for (a, b, cap, expected) in cases {
            assert_eq!(
                levenshtein(&chars(a), &chars(b), *cap),
                *expected,
                "{a:?} {b:?} {cap}"
            );
            assert_eq!(levenshtein(&chars(b), &chars(a), *cap), *expected);
        }
        assert_eq!(levenshtein(&chars("a"), &chars("b"), usize::MAX), 1);
        assert_eq!(levenshtein(&chars("ab"), &[], usize::MAX - 1), 2);
    }

    #[test]
    fn levenshtein_is_fast_on_long_inputs() {
        let a: Vec<char> = (0..4096)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let mut b = a.clone();
        b.reverse();
        // Far apart: the band stops after a few rows.
        assert_eq!(levenshtein(&a, &b, 3), 4);
        let mut c = a.clone();
        c[2000] = '!';
        c.remove(10);
        assert_eq!(levenshtein(&a, &c, 3), 2);
        // Even with no useful cap it finishes (4096 × 4096 cells).
        assert!(levenshtein(&a, &b, usize::MAX) > 3);
    }

    #[test]
    fn compare_examples() {
        use Similarity::*;
        let cases: &[(&str, &str, usize, Option<Similarity>)] = &[
            ("Kv7#qLp2-Tz9!", "Kv7#qLp2-Tz9!", 0, Some(Same)),
            ("", "", 0, Some(Same)),
            // Composed é, e + U+0301 and full-width letters are the same.
            ("Caf\u{E9}-2024", "Cafe\u{301}-2024", 0, Some(Same)),
            ("\u{FF30}ass-1", "Pass-1", 0, Some(Same)),
            ("kv7#qlp2-tz9!", "Kv7#qLp2-Tz9!", 0, Some(OnlyCaseDiffers)),
            ("CAFE\u{301}", "caf\u{E9}", 0, Some(OnlyCaseDiffers)),
            ("!9zt-2plq#7vk", "Kv7#qLp2-Tz9!", 0, Some(Reversed)),
            ("码密🔑x", "x🔑密码", 0, Some(Reversed)),
            // Too short to call reversed.
            ("cba", "abc", 0, None),
            ("Spring2026!", "Spring2025!", 0, Some(OnlyDigitsDiffer)),
            ("Summer2!", "Summer1!", 0, Some(OnlyDigitsDiffer)),
            ("summer2!", "Summer1!", 0, Some(OnlyDigitsDiffer)),
            ("1Summer", "Summer", 0, Some(OnlyDigitsDiffer)),
            // Full-width digits are digits; the letters are the same.
            (
                "Spring\u{FF12}\u{FF10}\u{FF12}\u{FF16}",
                "Spring2025",
                0,
                Some(OnlyDigitsDiffer),
            ),
            ("密码2025", "密码2024", 0, Some(OnlyDigitsDiffer)),
            // Only digits: nothing left to compare.
            ("12345679", "12345678", 0, None),
            ("12345679", "12345678", 1, Some(TooClose { distance: 1 })),
            ("Spring2025?", "Spring2025!", 0, None),
            (
                "Spring2025?",
                "Spring2025!",
                1,
                Some(TooClose { distance: 1 }),
            ),
            (
                "spring2025?!",
                "Spring2025!",
                1,
                Some(TooClose { distance: 1 }),
            ),
            ("Sprung2025?", "Spring2025!", 1, None),
            (
                "Sprung2025?",
                "Spring2025!",
                2,
                Some(TooClose { distance: 2 }),
            ),
            (
                "🦀Spring2025!",
                "🔑Spring2025!",
                1,
                Some(TooClose { distance: 1 }),
            ),
            ("Kv7#qLp2-Tz9!", "correct horse battery", 3, None),
            ("new-password", "", 3, None),
            (
                "密码很长很长",
                "密码很短很长",
                1,
                Some(TooClose { distance: 1 }),
            ),
        ];
        for (new, old, max, expected) in cases {
            assert_eq!(compare(new, old, *max), *expected, "{new:?} {old:?} {max}");
        }
    }

    #[test]
    fn messages_are_plain() {
        use Similarity::*;
        let cases: &[(Similarity, &str)] = &[
            (Same, "is the same as the old password"),
            (
                OnlyCaseDiffers,
                "differs from the old password only in upper/lower case",
            ),
            (Reversed, "is the old password reversed"),
            (
                OnlyDigitsDiffer,
                "differs from the old password only in its digits (a bumped counter or year)",
            ),
            (
                TooClose { distance: 1 },
                "is too close to the old password (only 1 character changed)",
            ),
            (
                TooClose { distance: 2 },
                "is too close to the old password (only 2 characters changed)",
            ),
        ];
        for (similarity, message) in cases {
            assert_eq!(similarity.message(), *message);
        }
    }

    /// Characters to build random passwords from: ASCII, accented and
    /// full-width letters and digits, CJK, emoji, combining marks.
    const ALPHABET: &[char] = &[
        'a', 'b', 'A', 'B', '1', '2', '!', ' ', 'é', 'É', 'ß', 'Я', 'я', '\u{301}', '\u{308}',
        '\u{FF11}', '\u{FF21}', '\u{FF41}', '密', '码', '🔑', '🦀', '\u{200D}', 'ﬁ',
    ];

    fn random_password(rng: &mut XorShift, max_len: usize) -> String {
        rng.string(ALPHABET, max_len)
    }

    /// A random edit of a password: bump a digit, change case, swap, insert.
    fn mutate(rng: &mut XorShift, password: &str) -> String {
        let mut chars: Vec<char> = password.chars().collect();
        for _ in 0..rng.below(3) {
            let pos = rng.below(chars.len() + 1);
            let c = ALPHABET[rng.below(ALPHABET.len())];
            match rng.below(3) {
                0 if pos < chars.len() => chars[pos] = c,
                1 if pos < chars.len() => {
                    chars.remove(pos);
                }
                _ => chars.insert(pos, c),
            }
        }
        chars.into_iter().collect()
    }

    #[test]
    fn random_strings_behave() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for round in 0..4000 {
            let x = random_password(&mut rng, 16);
            let y = if round % 2 == 0 {
                mutate(&mut rng, &x)
            } else {
                random_password(&mut rng, 16)
            };
            let (cx, cy) = (chars(&x), chars(&y));
            let exact = reference(&cx, &cy);
            assert_eq!(levenshtein(&cx, &cx, 0), 0);
            for cap in [0, 1, 2, 3, 5, 8, 40, usize::MAX] {
                let d = levenshtein(&cx, &cy, cap);
                assert_eq!(d, levenshtein(&cy, &cx, cap), "{x:?} {y:?} {cap}");
                assert_eq!(d, exact.min(cap.saturating_add(1)), "{x:?} {y:?} {cap}");
            }
            for max in [0, 2, usize::MAX] {
                assert_eq!(compare(&x, &x, max), Some(Similarity::Same));
                let found = compare(&x, &y, max);
                let same = x.nfkc().eq(y.nfkc());
                assert_eq!(found == Some(Similarity::Same), same, "{x:?} {y:?}");
                if let Some(Similarity::TooClose { distance }) = found {
                    assert!(distance <= max && distance > 0);
                }
                if let Some(similarity) = found {
                    let message = similarity.message();
                    for password in [&x, &y] {
                        if password.chars().count() >= 4 {
                            assert!(!message.contains(password.as_str()), "{message}");
                        }
                    }
                }
            }
            // Unbounded distance refuses everything.
            assert!(compare(&x, &y, usize::MAX).is_some());
        }
    }
}
