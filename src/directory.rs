//! Account lookups: what the directory knows about the account whose
//! password changes (its names, its groups) and about the actor (its
//! groups), read over pwgate's own service-account connection.
//!
//! One lookup of the target entry fetches the configured attributes. Group
//! membership is tested in one of three ways ([`Membership`]):
//! - Active Directory: the in-chain matching rule
//!   (`memberOf:1.2.840.113556.1.4.1941:=<group>`), which follows nested
//!   groups on the DC; one base-scope search per group asked about;
//! - direct: the group entry is asked whether it lists the account in
//!   `member` or `uniqueMember`; one base-scope search per group;
//! - nested, for servers without the in-chain rule (OpenLDAP): pwgate
//!   walks up the nesting itself, breadth first, one subtree search per
//!   level (the groups listing the account, then the groups listing those,
//!   ...), until every group asked about is found or no level is left,
//!   within a depth and a group-count bound, each group visited once.
//!
//! Answers are cached for a short time per account. The cache is bounded;
//! when full, expired answers are dropped first, then all of them.
//! Errors are never cached: the next decision asks again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{Ldap, Scope, SearchEntry};
use rustls::ClientConfig;

use crate::dn::normalize_dn;
use crate::ldapclient::{self, Endpoint};

/// The most accounts kept in the cache.
const CACHE_CAPACITY: usize = 10_000;

/// How group membership is tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Membership {
    /// AD: `(memberOf:1.2.840.113556.1.4.1941:=<group>)` on the account,
    /// which includes nested groups.
    InChain,
    /// The group entry lists the account in `member` or `uniqueMember`.
    Member,
    /// `member`/`uniqueMember`, followed upwards through groups of groups by
    /// pwgate (for directories without the in-chain rule).
    Nested,
}

/// The bounds of the walk up the nesting (`membership = "nested"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nesting {
    /// Levels of groups followed: 1 is direct membership only.
    pub max_depth: usize,
    /// Groups one account may be in, directly or not.
    pub max_groups: usize,
    /// Where groups are searched; None: the account's domain (the `dc=`
    /// components its DN ends with).
    pub search_base: Option<String>,
}

pub const DEFAULT_NESTING_DEPTH: usize = 8;
pub const DEFAULT_NESTING_GROUPS: usize = 1000;

impl Default for Nesting {
    fn default() -> Self {
        Nesting {
            max_depth: DEFAULT_NESTING_DEPTH,
            max_groups: DEFAULT_NESTING_GROUPS,
            search_base: None,
        }
    }
}

/// How many member DNs one search of the nesting walk asks about.
const NESTING_FILTER_CHUNK: usize = 64;

/// The `[directory]` settings, validated.
#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub endpoint: Endpoint,
    pub cache_ttl: Duration,
    /// Attributes read from the target entry (names for the policy, and
    /// whatever sync DN templates use).
    pub attributes: Vec<String>,
    pub membership: Membership,
    /// Bounds of `Membership::Nested`.
    pub nesting: Nesting,
    /// When a lookup fails, decide without it instead of refusing.
    pub fail_open: bool,
}

/// The attributes read by default: the ones that name an account.
pub const DEFAULT_ATTRIBUTES: &[&str] = &[
    "uid",
    "sAMAccountName",
    "cn",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "userPrincipalName",
];

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The entry does not exist, or the service account cannot see it.
    NotFound,
    /// The directory could not be asked (text for logs, no secret).
    Failed(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound => {
                f.write_str("no such entry (or not visible to the lookup account)")
            }
            LookupError::Failed(e) => f.write_str(e),
        }
    }
}

/// What the directory says about one account.
#[derive(Debug, Clone, Default)]
pub struct Account {
    /// Attribute values by lower-case attribute name.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Membership by normalized group DN ([`Group::key`]), for the groups
    /// asked about.
    pub groups: BTreeMap<String, bool>,
}

impl Account {
    /// The values that name the account, for the account-name rule.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (attr, values) in &self.attributes {
            for v in values {
                if let Some(n) = crate::policy::rules::account_name::name_from_attribute(attr, v) {
                    names.push(n);
                }
            }
        }
        names
    }

    /// Whether the account is in `group` (one that was asked about).
    pub fn member_of(&self, group: &Group) -> bool {
        self.groups.get(&group.key).copied().unwrap_or(false)
    }

    /// The first value of an attribute (any case).
    pub fn first(&self, attr: &str) -> Option<&str> {
        self.attributes
            .get(&attr.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

/// A group named in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// As written (sent to the directory).
    pub dn: String,
    /// Normalized, for comparisons.
    pub key: String,
}

impl Group {
    pub fn new(dn: &str) -> Self {
        Group {
            dn: dn.trim().to_owned(),
            key: normalize_dn(dn),
        }
    }

    /// A group DN as the configuration writes it, checked: pwgate must be
    /// able to compare it with the groups the directory names.
    pub fn parse(dn: &str) -> Result<Self, String> {
        match crate::dn::normalize(dn) {
            Some(n) if !n.is_empty() => Ok(Group::new(dn)),
            _ => Err(format!("`{dn}` is not a DN pwgate can compare")),
        }
    }
}

/// The account name of a simple bind that is not a DN: `user@realm` (a
/// UPN, or AD's implicit `sAMAccountName@dns-domain`), `DOMAIN\\user`, or a
/// bare name. None for a DN.
pub fn bind_name(name: &str) -> Option<&str> {
    let name = name.trim();
    if name.is_empty() || (name.contains('=') && crate::dn::parse(name).is_some()) {
        return None;
    }
    Some(name)
}

/// The user part of a bind name: `user` of `DOMAIN\\user`, of `user@realm`,
/// or the name itself.
pub fn bind_name_user(name: &str) -> &str {
    match (name.rsplit_once('\\'), name.split_once('@')) {
        (Some((_, user)), _) => user,
        (None, Some((user, _))) => user,
        (None, None) => name,
    }
}

struct Cached {
    at: Instant,
    account: Account,
}

/// The lookup service of one gate.
pub struct Directory {
    config: DirectoryConfig,
    tls: Option<Arc<ClientConfig>>,
    /// The open connection, shared by all lookups (ldap3 multiplexes).
    conn: tokio::sync::Mutex<Option<Ldap>>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Directory {
    pub fn new(config: DirectoryConfig) -> Result<Self, String> {
        let tls = ldapclient::tls_config(&config.endpoint)?;
        Ok(Directory {
            config,
            tls,
            conn: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &DirectoryConfig {
        &self.config
    }

    /// The account at `dn` with its membership of each of `groups`
    /// (normalized DNs). Bounded by the configured timeout overall.
    pub async fn account(&self, dn: &str, groups: &[Group]) -> Result<Account, LookupError> {
        let key = normalize_dn(dn);
        if let Some(hit) = self.cached(&key, groups) {
            return Ok(hit);
        }
        // Budget for connecting plus all searches of this lookup.
        let budget = self.config.endpoint.timeout * 2;
        let result = tokio::time::timeout(budget, self.fetch(dn, groups)).await;
        let account = match result {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                if matches!(e, LookupError::Failed(_)) {
                    self.drop_connection().await;
                }
                return Err(e);
            }
            Err(_) => {
                self.drop_connection().await;
                return Err(LookupError::Failed(format!(
                    "the directory did not answer within {} s",
                    budget.as_secs()
                )));
            }
        };
        self.remember(key, &account);
        Ok(account)
    }

    fn cached(&self, key: &str, groups: &[Group]) -> Option<Account> {
        if self.config.cache_ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache.get(key)?;
        if hit.at.elapsed() > self.config.cache_ttl
            || !groups
                .iter()
                .all(|g| hit.account.groups.contains_key(&g.key))
        {
            return None;
        }
        Some(hit.account.clone())
    }

    fn remember(&self, key: String, account: &Account) {
        if self.config.cache_ttl.is_zero() {
            return;
        }
        let ttl = self.config.cache_ttl;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.at.elapsed() <= ttl);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                at: Instant::now(),
                account: account.clone(),
            },
        );
    }

    /// Closes the shared connection (the next lookup opens a new one).
    pub async fn close(&self) {
        self.drop_connection().await;
    }

    async fn drop_connection(&self) {
        if let Some(mut ldap) = self.conn.lock().await.take() {
            let _ = ldap.unbind().await;
        }
    }

    /// The shared connection, opened (and bound) when needed.
    async fn ldap(&self) -> Result<Ldap, LookupError> {
        let mut guard = self.conn.lock().await;
        if let Some(ldap) = guard.as_mut() {
            if !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        let ldap = ldapclient::connect(&self.config.endpoint, self.tls.as_ref())
            .await
            .map_err(LookupError::Failed)?;
        *guard = Some(ldap.clone());
        Ok(ldap)
    }

    async fn fetch(&self, dn: &str, groups: &[Group]) -> Result<Account, LookupError> {
        let mut ldap = self.ldap().await?;
        let timeout = self.config.endpoint.timeout;
        let attrs: Vec<&str> = self.config.attributes.iter().map(String::as_str).collect();
        let ldap3::SearchResult(entries, result) = ldap
            .with_timeout(timeout)
            .search(dn, Scope::Base, "(objectClass=*)", attrs)
            .await
            .map_err(|e| LookupError::Failed(ldapclient::describe_error(&e)))?;
        match result.rc {
            0 => {}
            32 => return Err(LookupError::NotFound),
            rc => {
                return Err(LookupError::Failed(format!(
                    "reading the account: result {rc} {}",
                    crate::audit::Clean(&result.text)
                )))
            }
        }
        let Some(entry) = entries.into_iter().next() else {
            return Err(LookupError::NotFound);
        };
        let entry = SearchEntry::construct(entry);
        let mut account = Account::default();
        for (name, values) in entry.attrs {
            account
                .attributes
                .entry(name.to_ascii_lowercase())
                .or_default()
                .extend(values);
        }
        if self.config.membership == Membership::Nested {
            let mut wanted: Vec<&Group> = Vec::new();
            for g in groups {
                if !wanted.iter().any(|w| w.key == g.key) {
                    wanted.push(g);
                }
            }
            if !wanted.is_empty() {
                let found = self.nested_groups(&mut ldap, dn, &wanted).await?;
                for g in wanted {
                    account.groups.insert(g.key.clone(), found.contains(&g.key));
                }
            }
            return Ok(account);
        }
        for group in groups {
            if account.groups.contains_key(&group.key) {
                continue;
            }
            let member = self.is_member(&mut ldap, dn, &group.dn).await?;
            account.groups.insert(group.key.clone(), member);
        }
        Ok(account)
    }

    /// Which of `wanted` hold the account at `dn`, directly or through
    /// groups of groups: a breadth-first walk up from the account, one
    /// level per round (the groups whose `member` or `uniqueMember` is one
    /// of the DNs of the level below). Each group is visited once, so a
    /// cycle ends the walk. It stops as soon as every wanted group is
    /// found. Fails (so the decision fails closed) when the account is in
    /// more than `max_groups` groups, or when groups nest deeper than
    /// `max_depth` while a wanted group is still unfound: pwgate cannot
    /// tell then, and does not guess.
    async fn nested_groups(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        wanted: &[&Group],
    ) -> Result<HashSet<String>, LookupError> {
        let nesting = &self.config.nesting;
        let base = match &nesting.search_base {
            Some(b) => b.clone(),
            None => crate::dn::domain_suffix(dn),
        };
        if base.is_empty() {
            return Err(LookupError::Failed(
                "the account's DN does not end in dc= components to search its groups under; \
                 set directory.group_search_base"
                    .into(),
            ));
        }
        let mut left: HashSet<&str> = wanted.iter().map(|g| g.key.as_str()).collect();
        let mut found = HashSet::new();
        // Normalized DNs already seen (the account, then every group).
        let mut seen: HashSet<String> = HashSet::from([normalize_dn(dn)]);
        let mut level: Vec<String> = vec![dn.to_owned()];
        let mut depth = 0;
        while !level.is_empty() && !left.is_empty() {
            let parents = self
                .groups_listing(ldap, &base, &level, nesting.max_groups)
                .await?;
            let mut next = Vec::new();
            for parent in parents {
                if left.is_empty() {
                    break;
                }
                let key = normalize_dn(&parent);
                if seen.contains(&key) {
                    continue;
                }
                if depth == nesting.max_depth {
                    return Err(LookupError::Failed(format!(
                        "groups above the account nest deeper than \
                         directory.max_nesting_depth = {}",
                        nesting.max_depth
                    )));
                }
                // The account is in `seen` too.
                if seen.len() > nesting.max_groups {
                    return Err(LookupError::Failed(format!(
                        "the account is in more groups than directory.max_groups = {}",
                        nesting.max_groups
                    )));
                }
                if left.remove(key.as_str()) {
                    found.insert(key.clone());
                }
                seen.insert(key);
                next.push(parent);
            }
            level = next;
            depth += 1;
        }
        Ok(found)
    }

    /// The DNs of the groups under `base` whose `member` or `uniqueMember`
    /// is one of `members`, at most `limit` per search (more is an error).
    async fn groups_listing(
        &self,
        ldap: &mut Ldap,
        base: &str,
        members: &[String],
        limit: usize,
    ) -> Result<Vec<String>, LookupError> {
        let timeout = self.config.endpoint.timeout;
        let mut groups = Vec::new();
        for chunk in members.chunks(NESTING_FILTER_CHUNK) {
            let mut filter = String::from("(|");
            for m in chunk {
                let m = ldap3::ldap_escape(m.as_str());
                filter.push_str(&format!("(member={m})(uniqueMember={m})"));
            }
            filter.push(')');
            let size = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
            let ldap3::SearchResult(entries, result) = ldap
                .with_timeout(timeout)
                .with_search_options(ldap3::SearchOptions::new().sizelimit(size))
                .search(base, Scope::Subtree, &filter, vec!["1.1"])
                .await
                .map_err(|e| LookupError::Failed(ldapclient::describe_error(&e)))?;
            match result.rc {
                0 => {}
                4 => {
                    return Err(LookupError::Failed(format!(
                        "the account is in more groups than directory.max_groups = {limit}"
                    )))
                }
                rc => {
                    return Err(LookupError::Failed(format!(
                        "searching groups under {}: result {rc} {}",
                        crate::audit::Clean(base),
                        crate::audit::Clean(&result.text)
                    )))
                }
            }
            groups.extend(entry_dns(entries));
        }
        Ok(groups)
    }

    /// The DN of the account a bind name (`user@realm`, `DOMAIN\\user`,
    /// `user`) names, searched under `base`: by `userPrincipalName`, else
    /// by `sAMAccountName` or `uid`. None when no single entry matches.
    pub async fn find_bind_name(
        &self,
        name: &str,
        base: &str,
    ) -> Result<Option<String>, LookupError> {
        let short = bind_name_user(name);
        let filter = format!(
            "(|(userPrincipalName={})(sAMAccountName={s})(uid={s}))",
            ldap3::ldap_escape(name),
            s = ldap3::ldap_escape(short)
        );
        let ldap3::SearchResult(entries, result) = self
            .search_once(base, Scope::Subtree, &filter, vec!["1.1"])
            .await?;
        if result.rc != 0 && !(result.rc == 32 && entries.is_empty()) {
            return Err(LookupError::Failed(format!(
                "finding the bind name: result {} {}",
                result.rc,
                crate::audit::Clean(&result.text)
            )));
        }
        let dns: Vec<String> = entry_dns(entries).collect();
        Ok(match dns.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        })
    }

    /// The naming contexts the directory serves, from its root DSE: the
    /// `defaultNamingContext` (AD) when there is one, else every value of
    /// `namingContexts`.
    pub async fn naming_contexts(&self) -> Result<Vec<String>, LookupError> {
        let ldap3::SearchResult(entries, result) = self
            .search_once(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["defaultNamingContext", "namingContexts"],
            )
            .await?;
        if result.rc != 0 {
            return Err(LookupError::Failed(format!(
                "reading the root DSE: result {} {}",
                result.rc,
                crate::audit::Clean(&result.text)
            )));
        }
        let attrs: BTreeMap<String, Vec<String>> = entries
            .into_iter()
            .next()
            .map(SearchEntry::construct)
            .map(|e| {
                e.attrs
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect()
            })
            .unwrap_or_default();
        let contexts = attrs
            .get("defaultnamingcontext")
            .filter(|v| !v.is_empty())
            .or_else(|| attrs.get("namingcontexts"))
            .cloned()
            .unwrap_or_default();
        Ok(contexts.into_iter().filter(|c| !c.is_empty()).collect())
    }

    /// One search on the shared connection, connecting first when needed;
    /// the search and the connection together get twice the timeout.
    async fn search_once(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: Vec<&str>,
    ) -> Result<ldap3::SearchResult, LookupError> {
        let search = async {
            let mut ldap = self.ldap().await?;
            ldap.with_timeout(self.config.endpoint.timeout)
                .search(base, scope, filter, attrs)
                .await
                .map_err(|e| LookupError::Failed(ldapclient::describe_error(&e)))
        };
        tokio::time::timeout(self.config.endpoint.timeout * 2, search)
            .await
            .map_err(|_| LookupError::Failed("the directory did not answer in time".into()))?
    }

    async fn is_member(&self, ldap: &mut Ldap, dn: &str, group: &str) -> Result<bool, LookupError> {
        let timeout = self.config.endpoint.timeout;
        let (base, filter) = match self.config.membership {
            Membership::InChain => (
                dn.to_owned(),
                format!(
                    "(memberOf:1.2.840.113556.1.4.1941:={})",
                    ldap3::ldap_escape(group)
                ),
            ),
            // Nested membership is answered by `nested_groups`.
            Membership::Member | Membership::Nested => {
                let escaped = ldap3::ldap_escape(dn);
                (
                    group.to_owned(),
                    format!("(|(member={escaped})(uniqueMember={escaped}))"),
                )
            }
        };
        let ldap3::SearchResult(entries, result) = ldap
            .with_timeout(timeout)
            .search(&base, Scope::Base, &filter, vec!["1.1"])
            .await
            .map_err(|e| LookupError::Failed(ldapclient::describe_error(&e)))?;
        match result.rc {
            0 => Ok(!entries.is_empty()),
            // A group that does not exist has no members.
            32 if self.config.membership == Membership::Member => Ok(false),
            rc => Err(LookupError::Failed(format!(
                "testing group membership: result {rc} {}",
                crate::audit::Clean(&result.text)
            ))),
        }
    }
}

/// The DNs of the entries of a search answer. Search result references
/// (AD's other partitions) and intermediate messages are not entries.
fn entry_dns(entries: Vec<ldap3::ResultEntry>) -> impl Iterator<Item = String> {
    entries
        .into_iter()
        .filter(|e| !e.is_ref() && !e.is_intermediate())
        .map(SearchEntry::construct)
        .map(|e| e.dn)
        .filter(|dn| !dn.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_name_attributes_only() {
        let mut a = Account::default();
        a.attributes
            .insert("samaccountname".into(), vec!["jdoe".into()]);
        a.attributes
            .insert("mail".into(), vec!["john.doe@example.org".into()]);
        a.attributes
            .insert("description".into(), vec!["Finance".into()]);
        let names = a.names();
        assert!(names.contains(&"jdoe".to_owned()));
        assert!(names.contains(&"john.doe".to_owned()));
        assert!(!names.iter().any(|n| n.contains("Finance")));
        assert_eq!(a.first("sAMAccountName"), Some("jdoe"));
    }
}
