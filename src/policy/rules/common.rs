//! The built-in list of common leaked passwords (rule `common_password`).
//!
//! Some passwords that attackers try first have no word or pattern in them:
//! `7uGd5HIp2J`-like strings that spam bots and password generators
//! reused across many accounts, and which therefore top the public
//! leaked-password lists. Only a list can refuse those. pwgate carries one
//! in the binary: the entries of public leaked-password lists that are 8
//! characters or longer and that the other rules would accept (with
//! `min_length = 8`, no composition rule and the built-in banned words).
//! Entries the rules already refuse are left out, which keeps the list
//! small: see `scripts/gen-common-passwords.py` for the sources, their
//! licenses and how the file is made.
//!
//! The list is a breached-password store (`src/breached/`, the same file
//! format as `pwgate store build` writes) of the SHA-1 hashes of the
//! entries after [`fold_case`] (NFKC, then lower case), so
//! `7UGD5HIP2J` is refused as well as `7uGd5HIp2J`. A lookup hashes
//! the folded candidate once and probes three 16-bit fingerprints: well
//! under a microsecond, no I/O. Like every binary fuse filter with 16-bit
//! fingerprints it refuses about 1 in 65,536 passwords that are not on the
//! list (a false positive: the user picks another password).
//!
//! This list is not a substitute for the Have I Been Pwned corpus
//! (`breached_store`, rule `breached`): it holds a few hundred thousand
//! entries, HIBP about a billion.

use std::sync::OnceLock;

use crate::breached::BreachedStore;
use crate::policy::normalize::fold_case;
use crate::policy::{Rule, Violation};
use crate::secret::Password;

/// The compiled-in store, made by `scripts/gen-common-passwords.py`.
const STORE_BYTES: &[u8] = include_bytes!("../common_passwords.store");

/// What [`builtin`] names the store in errors and `info`.
const LABEL: &str = "<built-in common passwords>";

/// The built-in store, opened and verified on first use: the header, the
/// index and the checksum of every byte. Reading it all (680 KB, well
/// under a millisecond) also brings its pages into memory, so that no
/// later lookup waits for a page fault. `Err` only for a broken build;
/// the rule then fails closed. `serve` calls this before it accepts
/// connections.
pub fn builtin() -> Result<&'static BreachedStore, &'static str> {
    static STORE: OnceLock<Result<BreachedStore, String>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let store =
                BreachedStore::from_static(LABEL, STORE_BYTES).map_err(|e| e.to_string())?;
            store.verify().map_err(|e| e.to_string())?;
            Ok(store)
        })
        .as_ref()
        .map_err(String::as_str)
}

/// Whether the folded form of `password` is on the built-in list.
pub fn contains(password: &Password) -> Result<bool, &'static str> {
    let store = builtin()?;
    // The folded buffer moves into the Password (no copy); both wipe it.
    let folded = Password::new(std::mem::take(&mut *fold_case(password.expose())));
    Ok(store.contains_password(&folded))
}

/// The rule: refuses a password on the list, and fails closed if the list
/// cannot be read (a broken build).
pub fn check(password: &Password) -> Option<Violation> {
    match contains(password) {
        Ok(false) => None,
        Ok(true) => Some(Violation::new(
            Rule::CommonPassword,
            "is on public lists of leaked passwords".to_owned(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "built-in common-password list unreadable; refusing the change");
            Some(Violation::new(
                Rule::CommonPassword,
                "cannot be checked against the common-password list right now".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_list(p: &str) -> bool {
        contains(&Password::new(p.to_owned())).unwrap()
    }

    #[test]
    fn the_compiled_in_store_opens_and_verifies() {
        let store = builtin().unwrap();
        assert!(!store.is_marked_bad());
        let info = store.info();
        assert!(info.keys > 100_000, "{} entries", info.keys);
    }

    #[test]
    fn entries_are_found_in_any_case_and_width() {
        // Entries of the public xato-net top-10,000 list (one of the tuning
        // lists) that the word and pattern rules accept.
        for p in [
            "7uGd5HIp2J",
            "7UGD5HIP2J",
            "７ｕＧｄ５ＨＩｐ２Ｊ",
            "kcj9wx5n",
            "45M2DO5BS",
        ] {
            assert!(on_list(p), "{p} is on the list");
        }
    }

    #[test]
    fn random_strings_are_not_on_the_list() {
        let mut rng = crate::policy::test_support::XorShift(0x5eed_cafe);
        let alphabet: Vec<char> =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%&*-_"
                .chars()
                .collect();
        let mut found = 0;
        for _ in 0..20_000 {
            let p: String = (0..16)
                .map(|_| alphabet[rng.next() as usize % alphabet.len()])
                .collect();
            found += usize::from(on_list(&p));
        }
        // 2^-16 false positives expected: 0.3 in 20,000.
        assert!(found <= 3, "{found} of 20,000 random passwords on the list");
    }
}
