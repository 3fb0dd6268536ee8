//! The breached-password rule: the hook a breached-password store plugs
//! into.
//!
//! A [`BreachedCorpus`] answers whether a password is known from breaches.
//! The rule refuses a password found in it. When the corpus cannot answer
//! (a store missing, truncated or failing its checksum), the change is
//! refused too (fail closed), unless the policy says to let it through.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// A set of breached passwords that can be asked about one password.
pub trait BreachedCorpus: Send + Sync + fmt::Debug {
    /// `Ok(true)` when the password is known from breaches. The error text
    /// must not contain the password.
    fn contains(&self, password: &Password) -> Result<bool, String>;

    /// Whether the corpus can answer now: false for a store that could not
    /// be opened or failed its checksum. For monitoring only: the rule
    /// itself goes by what [`contains`](Self::contains) answers.
    fn available(&self) -> bool {
        true
    }
}

/// Questions the corpus could not answer since the process started
/// (`pwgate_breached_lookup_errors_total`), whatever the fail mode.
static LOOKUP_ERRORS: AtomicU64 = AtomicU64::new(0);

/// How many lookups failed since the process started.
pub fn lookup_errors() -> u64 {
    LOOKUP_ERRORS.load(Ordering::Relaxed)
}

pub fn check(
    password: &Password,
    corpus: &dyn BreachedCorpus,
    fail_open: bool,
) -> Option<Violation> {
    match corpus.contains(password) {
        Ok(false) => None,
        Ok(true) => Some(Violation::new(
            Rule::Breached,
            "appears in a list of breached passwords".to_owned(),
        )),
        Err(e) if fail_open => {
            LOOKUP_ERRORS.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "breached-password list unavailable; allowed by configuration");
            None
        }
        Err(e) => {
            LOOKUP_ERRORS.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "breached-password list unavailable; refusing the change");
            Some(Violation::new(
                Rule::Breached,
                "cannot be checked against the breached-password list right now".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[derive(Debug)]
    struct InMemory(Result<HashSet<&'static str>, String>);

    impl BreachedCorpus for InMemory {
        fn contains(&self, password: &Password) -> Result<bool, String> {
            self.0
                .as_ref()
                .map(|set| set.contains(password.expose()))
                .map_err(Clone::clone)
        }
    }

    #[test]
    fn found_passwords_are_refused_and_errors_fail_closed() {
        let corpus = InMemory(Ok(HashSet::from(["Tr0ub4dor&3-breached"])));
        let found = Password::new("Tr0ub4dor&3-breached".into());
        let fresh = Password::new("tangerine-Otter-42-lamp".into());
        assert_eq!(
            check(&found, &corpus, false).map(|v| v.rule),
            Some(Rule::Breached)
        );
        assert_eq!(check(&fresh, &corpus, false), None);
        let broken = InMemory(Err("store checksum mismatch".into()));
        assert_eq!(
            check(&fresh, &broken, false).map(|v| v.rule),
            Some(Rule::Breached)
        );
        let errors = lookup_errors();
        assert_eq!(check(&fresh, &broken, true), None);
        assert!(lookup_errors() > errors, "a failed lookup is counted");
    }
}
