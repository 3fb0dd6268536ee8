//! Custom regular-expression rules: `deny` refuses a password that matches,
//! `require` refuses one that does not. The `regex` crate matches in linear
//! time, so no pattern can make a decision slow, and compiled patterns are
//! size-limited at configuration time.

use ::regex::{Regex, RegexBuilder};

use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// Largest compiled size of one pattern.
const SIZE_LIMIT: usize = 1 << 20;

/// One configured rule.
#[derive(Debug, Clone)]
pub struct RegexRule {
    pub name: String,
    regex: Regex,
    /// `true`: refuse on a match; `false`: refuse without one.
    deny: bool,
    message: String,
}

impl RegexRule {
    /// Compiles a rule; the error names the problem, never a password.
    pub fn new(
        name: &str,
        pattern: &str,
        deny: bool,
        message: Option<&str>,
    ) -> Result<Self, String> {
        let regex = RegexBuilder::new(pattern)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| format!("invalid pattern: {}", e.to_string().replace('\n', " ")))?;
        let message = message.map(str::to_owned).unwrap_or_else(|| {
            if deny {
                "matches a pattern the organisation does not allow".to_owned()
            } else {
                "does not match a pattern the organisation requires".to_owned()
            }
        });
        Ok(RegexRule {
            name: name.to_owned(),
            regex,
            deny,
            message,
        })
    }

    pub fn check(&self, password: &Password) -> Option<Violation> {
        let matched = self.regex.is_match(password.expose());
        (matched == self.deny)
            .then(|| Violation::new(Rule::Regex, format!("{} ({})", self.message, self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::new(s.to_owned())
    }

    #[test]
    fn deny_and_require_rules() {
        let ticker = RegexRule::new(
            "ticker",
            "(?i)acme",
            true,
            Some("must not name the company"),
        )
        .unwrap();
        assert_eq!(
            ticker.check(&pw("we-love-ACME-2024")).map(|v| v.message),
            Some("must not name the company (ticker)".to_owned())
        );
        assert!(ticker.check(&pw("tangerine-Otter-42")).is_none());
        let digit = RegexRule::new("digit", "[0-9]", false, None).unwrap();
        assert!(digit.check(&pw("no-digits-here-at-all")).is_some());
        assert!(digit.check(&pw("one-digit-9")).is_none());
    }

    #[test]
    fn bad_patterns_are_configuration_errors() {
        assert!(RegexRule::new("broken", "(unclosed", true, None).is_err());
        assert!(RegexRule::new("huge", "\\w{1000}{1000}", true, None).is_err());
    }
}
