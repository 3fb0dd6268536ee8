//! A strength estimate: zxcvbn's guess count (dictionaries of common
//! passwords, words and names, keyboard walks, sequences, repeats, dates,
//! l33t and the account's own names as extra dictionary words), turned into
//! its 0-4 score.
//!
//! The `zxcvbn` crate's work grows quickly with the length (milliseconds
//! for 40+ characters on keyboard-like input), so the estimate is bounded:
//! it runs only for a password every other rule accepted, and only up to
//! `max_chars` characters. Longer passwords are passphrases that the
//! length, banned-word, pattern and repetition rules have already judged.
//! zxcvbn copies parts of the password into its own strings, which pwgate
//! cannot wipe; they are freed when the estimate returns.

use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// Passwords longer than this are not estimated by default.
pub const DEFAULT_MAX_CHARS: usize = 32;

/// The estimate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strength {
    /// Refuse below this zxcvbn score (1 to 4).
    pub min_score: u8,
    /// Estimate only passwords of at most this many characters.
    pub max_chars: usize,
}

/// zxcvbn's score (0 to 4) for `password`, with `inputs` (the account's and
/// organisation's names) as extra dictionary words. None when the password
/// is longer than `max_chars` (not estimated) or empty.
pub fn score(password: &Password, inputs: &[String], max_chars: usize) -> Option<u8> {
    let text = password.expose();
    let chars = text.chars().count();
    if chars == 0 || chars > max_chars {
        return None;
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    Some(u8::from(zxcvbn::zxcvbn(text, &inputs).score()))
}

pub fn check(password: &Password, inputs: &[String], strength: Strength) -> Option<Violation> {
    let got = score(password, inputs, strength.max_chars)?;
    (got < strength.min_score).then(|| {
        Violation::new(
            Rule::Strength,
            format!(
                "too easy to guess (strength {got} of 4, at least {} needed)",
                strength.min_score
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(pw: &str, inputs: &[&str]) -> bool {
        let inputs: Vec<String> = inputs.iter().map(|s| (*s).to_owned()).collect();
        check(
            &Password::new(pw.into()),
            &inputs,
            Strength {
                min_score: 3,
                max_chars: DEFAULT_MAX_CHARS,
            },
        )
        .is_some()
    }

    #[test]
    fn guessable_passwords_score_low_and_random_ones_high() {
        assert!(refused("Password1!", &[]));
        assert!(refused("Summer2025!", &[]));
        assert!(refused("1q2w3e4r5t6y", &[]));
        assert!(!refused("Kv7#qLp2-Tz9!mWd", &[]));
        assert!(!refused("tangerine-Otter-42-lamp", &[]));
    }

    #[test]
    fn the_account_names_count_as_dictionary_words() {
        // zxcvbn: 2667400000 guesses (score 3) without the input, 11100
        // (score 1) with it.
        assert!(!refused("Zqxwliddell7", &[]));
        assert!(refused("Zqxwliddell7", &["zqxwliddell"]));
    }

    #[test]
    fn long_passwords_are_not_estimated() {
        let long = "a".repeat(DEFAULT_MAX_CHARS + 1);
        assert_eq!(score(&Password::new(long), &[], DEFAULT_MAX_CHARS), None);
    }
}
