//! Normalization of passwords and words before they are compared.
//!
//! Every comparison in the policy happens on a normalized form: Unicode NFKC
//! (so full-width and compatibility characters count as their plain
//! equivalents), then lower case. Leetspeak folding maps digits and symbols
//! that stand for letters back to those letters; a character that stands for
//! several letters (`1` for `i` or `l`) yields one form per reading.

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// The characters of `s` in NFKC. Most passwords are ASCII, and an ASCII
/// string is its own NFKC form (every ASCII character is stable under NFKC
/// and none composes with another), so it is read as it is, without the
/// normalizer's lookups.
pub fn nfkc_chars(s: &str) -> NfkcChars<'_> {
    if s.is_ascii() {
        NfkcChars::Ascii(s.chars())
    } else {
        NfkcChars::Other(s.nfkc())
    }
}

/// The iterator of [`nfkc_chars`].
pub enum NfkcChars<'a> {
    Ascii(std::str::Chars<'a>),
    Other(unicode_normalization::Recompositions<std::str::Chars<'a>>),
}

impl Iterator for NfkcChars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        match self {
            NfkcChars::Ascii(chars) => chars.next(),
            NfkcChars::Other(chars) => chars.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            NfkcChars::Ascii(chars) => chars.size_hint(),
            NfkcChars::Other(chars) => chars.size_hint(),
        }
    }
}

/// `chars` collected in a buffer grown by hand, so that no outgrown copy
/// of a password is left unwiped (`collect` would reallocate and free the
/// old buffer as it is).
pub fn wiped_string(chars: impl Iterator<Item = char>, capacity: usize) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    for c in chars {
        if out.len() + c.len_utf8() > out.capacity() {
            let mut bigger = Zeroizing::new(String::with_capacity(2 * out.capacity() + 4));
            bigger.push_str(&out);
            out = bigger;
        }
        out.push(c);
    }
    out
}

/// The characters of `s` in a wiped vector allocated once at its size.
pub fn wiped_chars(s: &str) -> Zeroizing<Vec<char>> {
    let mut chars = Zeroizing::new(Vec::with_capacity(s.chars().count()));
    chars.extend(s.chars());
    chars
}

/// NFKC, then lower case. Used for words, names and passwords alike.
pub fn fold_case(s: &str) -> Zeroizing<String> {
    if s.is_ascii() {
        let mut out = Zeroizing::new(String::with_capacity(s.len()));
        out.push_str(s);
        out.make_ascii_lowercase();
        return out;
    }
    wiped_string(s.nfkc().flat_map(char::to_lowercase), s.len() + 16)
}

/// Characters that stand for one letter in leetspeak.
fn leet_single(c: char) -> Option<char> {
    Some(match c {
        '@' | '4' => 'a',
        '8' => 'b',
        '(' | '<' => 'c',
        '3' => 'e',
        '6' | '9' => 'g',
        '#' => 'h',
        '!' => 'i',
        '0' => 'o',
        '$' | '5' => 's',
        '7' | '+' => 't',
        '2' => 'z',
        _ => return None,
    })
}

/// Characters that stand for two letters; the first and second readings.
fn leet_ambiguous(c: char) -> Option<(char, char)> {
    match c {
        '1' | '|' => Some(('i', 'l')),
        _ => None,
    }
}

/// The leetspeak readings of an already case-folded string: one with every
/// ambiguous character read the first way, one read the second way (the same
/// string twice is avoided).
pub fn leet_forms(folded: &str) -> Vec<Zeroizing<String>> {
    // Leetspeak reads ASCII as ASCII, so no reading is longer in bytes.
    let read = |second: bool| -> Zeroizing<String> {
        let chars = folded
            .chars()
            .map(|c| match (leet_single(c), leet_ambiguous(c)) {
                (Some(l), _) => l,
                (None, Some((a, b))) => {
                    if second {
                        b
                    } else {
                        a
                    }
                }
                (None, None) => c,
            });
        wiped_string(chars, folded.len())
    };
    let first = read(false);
    let mut forms = vec![];
    if folded.chars().any(|c| leet_ambiguous(c).is_some()) {
        forms.push(read(true));
    }
    forms.insert(0, first);
    forms
}

/// The core of a case-folded password, as a range of character indices:
/// everything between the first and the last letter. What lies outside
/// (leading and trailing digits and symbols) is decoration people add to a
/// word to satisfy complexity rules. A password without letters is all core.
pub fn core_range(folded: &str) -> std::ops::Range<usize> {
    let (mut first, mut last, mut count) = (None, 0, 0);
    for (i, c) in folded.chars().enumerate() {
        if c.is_alphabetic() {
            first.get_or_insert(i);
            last = i;
        }
        count = i + 1;
    }
    match first {
        Some(f) => f..last + 1,
        None => 0..count,
    }
}

/// Whether `c` (case-folded) is a joiner: a character people put between
/// words, or between every character, without it standing for a letter
/// (`-`, `.`, `_`, a space...). Cracking rules add and remove these for
/// almost nothing, so the policy also reads a password without them.
/// Symbols that leetspeak reads as letters (`@`, `$`, `!`, `+`, `|`, `(`)
/// are not joiners.
pub fn is_joiner(c: char) -> bool {
    matches!(
        c,
        '-' | '_' | '.' | ',' | '/' | '\\' | ':' | ';' | '~' | '*' | '=' | '\'' | '"' | '`'
    ) || c.is_whitespace()
}

/// The case-folded password followed by its leetspeak readings. Leetspeak
/// maps one character to one character, so character positions line up
/// across all forms.
pub fn password_forms(password: &str) -> Vec<Zeroizing<String>> {
    let folded = fold_case(password);
    let mut forms: Vec<Zeroizing<String>> = leet_forms(&folded)
        .into_iter()
        .filter(|f| f.as_str() != folded.as_str())
        .collect();
    forms.insert(0, folded);
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[Zeroizing<String>]) -> Vec<&str> {
        v.iter().map(|s| s.as_str()).collect()
    }

    #[test]
    fn joiners_are_the_characters_between_words_not_leetspeak() {
        for c in ['-', '_', '.', ' ', '/', '\u{3000}'] {
            assert!(is_joiner(c), "{c:?}");
        }
        for c in ['@', '$', '!', '+', '|', '(', 'a', '1'] {
            assert!(!is_joiner(c), "{c:?}");
        }
        // A full-width hyphen is an ASCII one once folded.
        assert_eq!(fold_case("\u{ff0d}").as_str(), "-");
    }

    #[test]
    fn ascii_is_read_as_it_is_and_the_rest_normalized() {
        // The fast path and the normalizer agree on every ASCII character,
        // and on every pair of them (composition is between neighbours).
        let ascii: String = (0u8..128).map(char::from).collect();
        assert!(nfkc_chars(&ascii).eq(ascii.nfkc()));
        for a in 0u8..128 {
            for b in 0u8..128 {
                let pair: String = [char::from(a), char::from(b)].into_iter().collect();
                assert!(nfkc_chars(&pair).eq(pair.nfkc()), "{pair:?}");
            }
        }
        assert_eq!(
            fold_case(&ascii).as_str(),
            ascii
                .nfkc()
                .flat_map(char::to_lowercase)
                .collect::<String>()
        );
        assert_eq!(nfkc_chars("ＰａＳＳ①").collect::<String>(), "PaSS1");
        assert!(matches!(nfkc_chars("abc"), NfkcChars::Ascii(_)));
        assert!(matches!(nfkc_chars("ab\u{300}"), NfkcChars::Other(_)));
        // Grown by hand: the result is whole however often it grew.
        let long = "ﷺ".repeat(20);
        assert_eq!(
            wiped_string(long.nfkc(), 1).as_str(),
            long.nfkc().collect::<String>()
        );
    }

    #[test]
    fn nfkc_and_lower_case() {
        assert_eq!(fold_case("ＰａＳＳ").as_str(), "pass");
        assert_eq!(fold_case("ÉTÉ").as_str(), "été");
    }

    #[test]
    fn leet_reads_ambiguous_characters_both_ways() {
        assert_eq!(strs(&leet_forms("p@ssw0rd")), ["password"]);
        assert_eq!(strs(&leet_forms("1ce")), ["ice", "lce"]);
    }

    #[test]
    fn core_is_between_the_first_and_last_letter() {
        assert_eq!(core_range("p@ssw0rd2024!"), 0..8);
        assert_eq!(core_range("!!summer!!"), 2..8);
        assert_eq!(core_range("12345678"), 0..8);
        assert_eq!(core_range(""), 0..0);
        assert_eq!(core_range("a"), 0..1);
        assert_eq!(core_range("1é2"), 1..2);
    }

    #[test]
    fn forms_are_the_folded_password_then_its_leet_readings() {
        let forms = password_forms("P@ssw0rd1");
        assert_eq!(strs(&forms), ["p@ssw0rd1", "passwordi", "passwordl"]);
    }
}
