//! Refuses a password that contains the account's own names.

use zeroize::Zeroizing;

use crate::policy::normalize::fold_case;
use crate::policy::{Rule, Violation};

/// Names shorter than this are not checked (AD uses the same bound).
pub const MIN_NAME_CHARS: usize = 3;

/// Attributes whose values name an account.
const NAME_ATTRIBUTES: &[&str] = &[
    "uid",
    "samaccountname",
    "cn",
    "givenname",
    "sn",
    "displayname",
];
/// Attributes whose local part (before `@`) names an account.
const ADDRESS_ATTRIBUTES: &[&str] = &["userprincipalname", "mail"];

/// The name an attribute value gives the account, if the attribute is one
/// that names it (`mail` and `userPrincipalName` give their local part).
/// `attribute` is compared without regard to case.
pub fn name_from_attribute(attribute: &str, value: &str) -> Option<String> {
    let attribute = attribute.to_ascii_lowercase();
    if NAME_ATTRIBUTES.contains(&attribute.as_str()) {
        Some(value.to_owned())
    } else if ADDRESS_ATTRIBUTES.contains(&attribute.as_str()) {
        Some(value.split('@').next().unwrap_or(value).to_owned())
    } else {
        None
    }
}

/// The comparable pieces of one name value: the whole value and each of its
/// parts split at spaces and punctuation (`Alice Smith` gives `alicesmith`,
/// `alice`, `smith`), case-folded, each at least [`MIN_NAME_CHARS`] long.
pub fn name_tokens(value: &str) -> Vec<String> {
    let folded = fold_case(value);
    let mut tokens: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| t.chars().count() >= MIN_NAME_CHARS)
        .map(str::to_owned)
        .collect();
    let joined: String = folded.chars().filter(|c| c.is_alphanumeric()).collect();
    if joined.chars().count() >= MIN_NAME_CHARS && !tokens.contains(&joined) {
        tokens.push(joined);
    }
    tokens
}

/// Whether a normalized form of the password (`forms`: its
/// [`crate::policy::normalize::password_forms`]) contains one of `tokens`.
fn contains_any(forms: &[Zeroizing<String>], tokens: &[String]) -> bool {
    forms
        .iter()
        .any(|form| tokens.iter().any(|t| form.contains(t.as_str())))
}

/// The rule on the password's forms (its
/// [`crate::policy::normalize::password_forms`]).
pub fn check(forms: &[Zeroizing<String>], names: &[String]) -> Option<Violation> {
    let tokens: Vec<String> = names.iter().flat_map(|n| name_tokens(n)).collect();
    contains_any(forms, &tokens)
        .then(|| Violation::new(Rule::AccountName, "contains the account name".to_owned()))
}

/// Organisation names (from the directory's base DN) match from 4
/// characters on.
pub fn check_organisation(forms: &[Zeroizing<String>], names: &[String]) -> Option<Violation> {
    let tokens: Vec<String> = names
        .iter()
        .flat_map(|n| name_tokens(n))
        .filter(|t| t.chars().count() >= 4)
        .collect();
    contains_any(forms, &tokens).then(|| {
        Violation::new(
            Rule::OrganisationName,
            "contains the organisation's name".to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::normalize::password_forms;

    fn refused(password: &str, names: &[&str]) -> bool {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        check(&password_forms(password), &names).is_some()
    }

    #[test]
    fn organisation_names_are_found_like_account_names() {
        let org = vec!["Contoso".to_owned()];
        assert!(check_organisation(&password_forms("we-love-C0nt0so-here"), &org).is_some());
        assert!(check_organisation(&password_forms("nothing-to-see-here"), &org).is_none());
    }

    #[test]
    fn splits_display_names() {
        assert_eq!(name_tokens("Alice Smith"), ["alice", "smith", "alicesmith"]);
        assert_eq!(name_tokens("Al"), Vec::<String>::new());
    }

    #[test]
    fn finds_names_in_any_case_and_leetspeak() {
        assert!(refused("my-ALICE-is-long-enough", &["alice"]));
        assert!(refused("Sm1th-and-more-chars", &["Alice Smith"]));
        assert!(refused("xx4l1c3xx-longer", &["alice"]));
        assert!(!refused("nothing-related-here", &["alice", "Alice Smith"]));
        assert!(!refused("anything", &[]));
    }
}
