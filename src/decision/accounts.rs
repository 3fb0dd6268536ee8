//! What the decision asks the directory: an account's entry with its
//! membership of some groups, the DN a bind name names, the directory's
//! naming contexts. [`Directory`] answers over LDAP; the unit tests of the
//! decision answer from memory ([`memory`]).

use std::future::Future;

use crate::directory::{Account, Directory, Group, LookupError};

/// Account lookups, as the decision needs them.
pub trait Accounts: Sync {
    /// The entry at `dn`, with its membership of each of `groups`.
    fn account(
        &self,
        dn: &str,
        groups: &[Group],
    ) -> impl Future<Output = Result<Account, LookupError>> + Send;

    /// The DN of the one entry a bind name (`user@realm`, `DOMAIN\\user`,
    /// `user`) names under `base`; None when no single entry does.
    fn find_bind_name(
        &self,
        name: &str,
        base: &str,
    ) -> impl Future<Output = Result<Option<String>, LookupError>> + Send;

    /// Where bind names are searched when the door gives no base.
    fn naming_contexts(&self) -> impl Future<Output = Result<Vec<String>, LookupError>> + Send;

    /// `[directory] on_error = "allow"`: decide without the entry when the
    /// directory cannot be asked.
    fn fail_open(&self) -> bool;
}

impl Accounts for Directory {
    fn account(
        &self,
        dn: &str,
        groups: &[Group],
    ) -> impl Future<Output = Result<Account, LookupError>> + Send {
        Directory::account(self, dn, groups)
    }

    fn find_bind_name(
        &self,
        name: &str,
        base: &str,
    ) -> impl Future<Output = Result<Option<String>, LookupError>> + Send {
        Directory::find_bind_name(self, name, base)
    }

    fn naming_contexts(&self) -> impl Future<Output = Result<Vec<String>, LookupError>> + Send {
        Directory::naming_contexts(self)
    }

    fn fail_open(&self) -> bool {
        self.config().fail_open
    }
}

/// No directory configured: every lookup is a question nobody can answer.
/// The decision never asks it (it checks for a directory first); it only
/// gives `Option<&A>` a type when there is none.
pub struct NoDirectory;

impl Accounts for NoDirectory {
    async fn account(&self, _: &str, _: &[Group]) -> Result<Account, LookupError> {
        Err(LookupError::Failed("no [directory] is configured".into()))
    }

    async fn find_bind_name(&self, _: &str, _: &str) -> Result<Option<String>, LookupError> {
        Err(LookupError::Failed("no [directory] is configured".into()))
    }

    async fn naming_contexts(&self) -> Result<Vec<String>, LookupError> {
        Err(LookupError::Failed("no [directory] is configured".into()))
    }

    fn fail_open(&self) -> bool {
        false
    }
}

/// An in-memory directory for unit tests of the decision.
#[cfg(test)]
pub mod memory {
    use std::collections::BTreeMap;

    use super::*;
    use crate::dn::{dn_is_under, normalize_dn};

    /// One entry: its attributes by lower-case name, and the normalized
    /// DNs of the groups it is in.
    pub struct Entry {
        pub attributes: BTreeMap<String, Vec<String>>,
        pub groups: Vec<String>,
    }

    /// Entries by normalized DN.
    #[derive(Default)]
    pub struct Memory {
        pub entries: BTreeMap<String, Entry>,
        /// Every lookup fails with this, when set.
        pub down: Option<String>,
        pub fail_open: bool,
        pub naming_contexts: Vec<String>,
    }

    impl Memory {
        /// Adds an entry with `attrs` (name, value) in `groups`.
        pub fn with(mut self, dn: &str, attrs: &[(&str, &str)], groups: &[&str]) -> Self {
            let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (a, v) in attrs {
                attributes
                    .entry(a.to_ascii_lowercase())
                    .or_default()
                    .push((*v).to_owned());
            }
            let groups = groups.iter().map(|g| normalize_dn(g)).collect();
            self.entries
                .insert(normalize_dn(dn), Entry { attributes, groups });
            self
        }

        fn up(&self) -> Result<(), LookupError> {
            match &self.down {
                Some(why) => Err(LookupError::Failed(why.clone())),
                None => Ok(()),
            }
        }
    }

    impl Accounts for Memory {
        async fn account(&self, dn: &str, groups: &[Group]) -> Result<Account, LookupError> {
            self.up()?;
            let entry = self
                .entries
                .get(&normalize_dn(dn))
                .ok_or(LookupError::NotFound)?;
            Ok(Account {
                attributes: entry.attributes.clone(),
                groups: groups
                    .iter()
                    .map(|g| (g.key.clone(), entry.groups.contains(&g.key)))
                    .collect(),
            })
        }

        async fn find_bind_name(
            &self,
            name: &str,
            base: &str,
        ) -> Result<Option<String>, LookupError> {
            self.up()?;
            let short = crate::directory::bind_name_user(name).to_ascii_lowercase();
            let base = normalize_dn(base);
            let found: Vec<&String> = self
                .entries
                .iter()
                .filter(|(dn, _)| dn_is_under(dn, &base))
                .filter(|(_, entry)| {
                    let has = |attr: &str, want: &str| {
                        entry
                            .attributes
                            .get(attr)
                            .is_some_and(|v| v.iter().any(|v| v.eq_ignore_ascii_case(want)))
                    };
                    has("userprincipalname", name)
                        || has("samaccountname", &short)
                        || has("uid", &short)
                })
                .map(|(dn, _)| dn)
                .collect();
            Ok(match found.as_slice() {
                [one] => Some((*one).clone()),
                _ => None,
            })
        }

        async fn naming_contexts(&self) -> Result<Vec<String>, LookupError> {
            self.up()?;
            Ok(self.naming_contexts.clone())
        }

        fn fail_open(&self) -> bool {
            self.fail_open
        }
    }
}
