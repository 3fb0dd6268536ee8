//! The names and organisation that count for a password's account, from
//! wherever they are known: the target DN, the request itself (an Add's
//! attributes, a `u:` authzId), the command line, the directory's entry.
//!
//! The account-name rule compares a candidate with [`TargetNames::names`],
//! the organisation rule with [`TargetNames::organisation`]. Every door
//! collects them through this one type, so the proxy and `pwgate check`
//! cannot drift apart.

use crate::directory::Account;

/// What counts as the account's names and its organisation's names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetNames {
    pub names: Vec<String>,
    pub organisation: Vec<String>,
}

impl TargetNames {
    /// From a DN: the values of its first RDN (`alice` of `uid=alice,...`,
    /// `Alice` and `Smith` of `CN=Alice Smith,...`) and the organisation
    /// names of its other RDNs (`example` of `dc=example,dc=com`).
    /// Returns whether `dn` could be parsed (nothing is added if not).
    pub fn add_dn(&mut self, dn: &str) -> bool {
        let Some((names, organisation)) = crate::dn::names_of(dn) else {
            return false;
        };
        self.names.extend(names);
        self.organisation.extend(organisation);
        true
    }

    /// Names known another way (the request, `--name`, a bind name).
    pub fn add_names(&mut self, names: impl IntoIterator<Item = String>) {
        self.names.extend(names);
    }

    /// The names the directory's entry holds (uid, cn, sAMAccountName, the
    /// local part of mail and userPrincipalName...).
    pub fn add_account(&mut self, account: &Account) {
        self.names.extend(account.names());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dn_gives_names_and_organisation() {
        let mut t = TargetNames::default();
        assert!(t.add_dn("CN=Alice Smith,OU=Staff,DC=contoso,DC=com"));
        assert!(!t.add_dn("CN=Alice\\"));
        t.add_names(["asmith".to_owned()]);
        assert!(
            t.names.iter().any(|n| n == "Alice Smith" || n == "Alice"),
            "{t:?}"
        );
        assert!(t.names.contains(&"asmith".to_owned()));
        assert!(t.organisation.iter().any(|o| o == "contoso"), "{t:?}");
    }
}
