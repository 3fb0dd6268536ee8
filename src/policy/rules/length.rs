//! Minimum and maximum length, counted in characters after NFKC.

use crate::policy::normalize::nfkc_chars;
use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// Length in Unicode scalar values after NFKC normalization (not bytes, so
/// `Ünïcödé` counts 7, and a full-width letter counts as one), but never
/// more than the characters typed: NFKC expands some characters (U+FDFA
/// becomes 18), and one character must not pass for eighteen.
pub fn normalized_len(password: &Password) -> usize {
    let text = password.expose();
    nfkc_chars(text).count().min(text.chars().count())
}

pub fn check(password: &Password, min: usize, max: usize) -> Option<Violation> {
    let len = normalized_len(password);
    if len < min {
        Some(Violation::new(
            Rule::Length,
            format!("too short ({min} characters minimum)"),
        ))
    } else if len > max {
        Some(Violation::new(
            Rule::Length,
            format!("too long ({max} characters maximum)"),
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::new(s.to_owned())
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(normalized_len(&pw("Ünïcödé")), 7);
        assert!(check(&pw("ÜnïcödéÜnïcö"), 12, 256).is_none());
        assert!(check(&pw("ÜnïcödéÜnïc"), 12, 256).is_some());
    }

    #[test]
    fn an_expanding_character_counts_once() {
        // U+FDFA is 18 characters after NFKC.
        assert_eq!(normalized_len(&pw("\u{FDFA}")), 1);
        assert!(check(&pw("\u{FDFA}"), 12, 256).is_some());
        // Full-width letters count one each either way.
        assert_eq!(normalized_len(&pw("ＡＢＣ")), 3);
    }

    #[test]
    fn names_the_minimum_and_maximum() {
        let v = check(&pw("short"), 12, 256).expect("too short");
        assert_eq!(v.message, "too short (12 characters minimum)");
        let v = check(&pw(&"x".repeat(300)), 12, 256).expect("too long");
        assert_eq!(v.message, "too long (256 characters maximum)");
    }
}
