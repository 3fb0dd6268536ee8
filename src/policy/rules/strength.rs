//! The strength rule: a guess estimate in zxcvbn's style (dictionaries of
//! common passwords, words and names, keyboard walks, sequences, repeats,
//! dates, l33t and the account's own names as extra dictionary words),
//! turned into its 0-4 score. Two estimators give it:
//!
//! - `pwgate` (the default): pwgate's own, [`crate::policy::estimator`],
//!   tens of microseconds. It estimates the first `max_chars` characters in
//!   full and counts each further character as 10 guesses.
//! - `zxcvbn`: the `zxcvbn` crate, whose work grows quickly with the length
//!   (milliseconds for 40+ characters on keyboard-like input). It runs only
//!   up to `max_chars` characters; longer passwords are not estimated (they
//!   pass this rule) and are left to the length, banned-word, pattern and
//!   repetition rules. zxcvbn copies parts of the password into its own
//!   strings, which pwgate cannot wipe; they are freed when it returns.
//!
//! Either way the rule runs only for a password every other rule accepted.

use serde::Deserialize;

use crate::policy::estimator;
use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// Passwords longer than this are not estimated by the zxcvbn crate by
/// default.
pub const DEFAULT_MAX_CHARS: usize = 32;

/// Characters pwgate's estimator estimates in full by default.
pub const PWGATE_DEFAULT_MAX_CHARS: usize = 64;

/// Which estimator gives the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Estimator {
    /// pwgate's own ([`crate::policy::estimator`]).
    #[default]
    Pwgate,
    /// The `zxcvbn` crate.
    Zxcvbn,
}

impl Estimator {
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Pwgate => "pwgate",
            Estimator::Zxcvbn => "zxcvbn",
        }
    }

    /// `strength_max_chars` when the configuration does not set it.
    pub fn default_max_chars(self) -> usize {
        match self {
            Estimator::Pwgate => PWGATE_DEFAULT_MAX_CHARS,
            Estimator::Zxcvbn => DEFAULT_MAX_CHARS,
        }
    }
}

/// The estimate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strength {
    pub estimator: Estimator,
    /// Refuse below this score (1 to 4).
    pub min_score: u8,
    /// pwgate: characters estimated in full (the rest count as 10 guesses
    /// each). zxcvbn: longer passwords are not estimated.
    pub max_chars: usize,
}

impl Strength {
    /// The estimate with `estimator`'s default length bound.
    pub fn new(estimator: Estimator, min_score: u8) -> Strength {
        Strength {
            estimator,
            min_score,
            max_chars: estimator.default_max_chars(),
        }
    }
}

/// The score (0 to 4) of `password`, with `inputs` (the account's and
/// organisation's names) as extra dictionary words. None when the password
/// is empty, or (zxcvbn) longer than `max_chars` and so not estimated.
pub fn score(password: &Password, inputs: &[&str], strength: Strength) -> Option<u8> {
    let text = password.expose();
    if text.is_empty() {
        return None;
    }
    match strength.estimator {
        Estimator::Pwgate => Some(estimator::estimate(text, inputs, strength.max_chars).score),
        Estimator::Zxcvbn => {
            if text.chars().count() > strength.max_chars {
                return None;
            }
            Some(u8::from(zxcvbn::zxcvbn(text, inputs).score()))
        }
    }
}

pub fn check(password: &Password, inputs: &[&str], strength: Strength) -> Option<Violation> {
    let got = score(password, inputs, strength)?;
    (got < strength.min_score).then(|| {
        Violation::new(
            Rule::Strength,
            format!(
                "too easy to guess (strength {got} of 4, at least {} needed): make it longer, \
                 with fewer common words, names, dates and keyboard patterns",
                strength.min_score
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_by(estimator: Estimator, pw: &str, inputs: &[&str]) -> bool {
        check(
            &Password::new(pw.into()),
            inputs,
            Strength::new(estimator, 3),
        )
        .is_some()
    }

    #[test]
    fn guessable_passwords_score_low_and_random_ones_high() {
        for e in [Estimator::Pwgate, Estimator::Zxcvbn] {
            assert!(refused_by(e, "Password1!", &[]), "{e:?}");
            assert!(refused_by(e, "1q2w3e4r5t6y", &[]), "{e:?}");
            assert!(!refused_by(e, "Kv7#qLp2-Tz9!mWd", &[]), "{e:?}");
            assert!(!refused_by(e, "tangerine-Otter-42-lamp", &[]), "{e:?}");
        }
        for e in [Estimator::Pwgate, Estimator::Zxcvbn] {
            assert!(refused_by(e, "Summer2025!", &[]), "{e:?}");
        }
    }

    #[test]
    fn the_account_names_count_as_dictionary_words() {
        for e in [Estimator::Pwgate, Estimator::Zxcvbn] {
            // zxcvbn: 2667400000 guesses (score 3) without the input, 11100
            // (score 1) with it.
            assert!(!refused_by(e, "Zqxwliddell7", &[]), "{e:?}");
            assert!(refused_by(e, "Zqxwliddell7", &["zqxwliddell"]), "{e:?}");
        }
    }

    #[test]
    fn the_message_says_how_to_fix_it_and_not_the_password() {
        let v = check(
            &Password::new("qwertyuiop".into()),
            &[],
            Strength::new(Estimator::Pwgate, 3),
        )
        .unwrap();
        assert!(v.message.contains("strength 0 of 4, at least 3 needed"));
        assert!(v.message.contains("make it longer"));
        assert!(!v.message.contains("qwerty"));
    }

    #[test]
    fn long_passwords_zxcvbn_skips_and_pwgate_estimates() {
        let long = "a".repeat(DEFAULT_MAX_CHARS + 1);
        let zx = Strength::new(Estimator::Zxcvbn, 3);
        assert_eq!(score(&Password::new(long.clone()), &[], zx), None);
        let pw = Strength::new(Estimator::Pwgate, 3);
        assert_eq!(score(&Password::new(long), &[], pw), Some(0));
    }
}
