//! `[[sync]]`: other directories that receive a password once the primary
//! directory has accepted it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::accounts::{array_table_line, endpoint};
use super::error::ConfigError;
use crate::directory::Group;
use crate::dn::{dn_is_under, normalize_dn};
use crate::ldapclient::{Endpoint, UpstreamUrl};

/// `[[sync]]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    pub name: Option<String>,
    pub urls: Option<Vec<String>>,
    pub ca: Option<PathBuf>,
    pub starttls: Option<bool>,
    pub allow_cleartext: Option<bool>,
    pub bind_dn: Option<String>,
    pub bind_password_file: Option<PathBuf>,
    pub bind_password_env: Option<String>,
    pub timeout_secs: Option<u64>,
    /// `uid={uid},ou=people,dc=example,dc=org`
    pub dn_template: Option<String>,
    pub search_base: Option<String>,
    /// `(uid={uid})`
    pub search_filter: Option<String>,
    pub method: Option<SyncMethod>,
    /// Source accounts under these DNs (none: any DN).
    pub dn_suffix: Option<Vec<String>>,
    /// Source accounts in these groups (none: no membership needed).
    pub member_of: Option<Vec<String>>,
    pub retry_for_secs: Option<u64>,
    pub queue_size: Option<usize>,
    pub drain_secs: Option<u64>,
}

/// How the password is written on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMethod {
    /// RFC 3062 Password Modify (OpenLDAP hashes it with its own scheme).
    PasswordModify,
    /// Modify/replace of `userPassword`.
    UserPassword,
    /// Modify/replace of `unicodePwd` (Active Directory, over TLS).
    UnicodePwd,
}

impl SyncMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMethod::PasswordModify => "password_modify",
            SyncMethod::UserPassword => "user_password",
            SyncMethod::UnicodePwd => "unicode_pwd",
        }
    }
}

/// How the account is found on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locate {
    /// A DN with `{attribute}` placeholders.
    Template(String),
    /// A subtree search; the filter has `{attribute}` placeholders.
    Search { base: String, filter: String },
}

impl Locate {
    /// The attribute names its placeholders use.
    pub fn placeholders(&self) -> Vec<String> {
        let text = match self {
            Locate::Template(t) => t.as_str(),
            Locate::Search { filter, .. } => filter.as_str(),
        };
        placeholders(text).unwrap_or_default()
    }
}

/// One validated sync target.
#[derive(Debug, Clone)]
pub struct SyncTarget {
    pub name: String,
    pub endpoint: Endpoint,
    pub locate: Locate,
    pub method: SyncMethod,
    /// Normalized DN suffixes of the source accounts (empty: any).
    pub dn_suffixes: Vec<String>,
    pub member_of: Vec<Group>,
    pub retry_for: Duration,
    pub queue_size: usize,
    pub drain: Duration,
}

impl SyncTarget {
    /// Whether the source account `dn` (normalized) is under this target's
    /// DN suffixes; group membership is checked separately.
    pub fn covers_dn(&self, dn: &str) -> bool {
        self.dn_suffixes.is_empty()
            || self
                .dn_suffixes
                .iter()
                .any(|suffix| dn_is_under(dn, suffix))
    }

    /// One line for `pwgate config check`.
    pub fn describe(&self) -> String {
        let locate = match &self.locate {
            Locate::Template(t) => format!("DN {t}"),
            Locate::Search { base, filter } => format!("search {filter} under {base}"),
        };
        let mut scope = Vec::new();
        if !self.dn_suffixes.is_empty() {
            scope.push(format!("accounts under {}", self.dn_suffixes.join(" | ")));
        }
        if !self.member_of.is_empty() {
            let groups: Vec<&str> = self.member_of.iter().map(|g| g.dn.as_str()).collect();
            scope.push(format!("members of {}", groups.join(" | ")));
        }
        if scope.is_empty() {
            scope.push("every account".into());
        }
        format!(
            "sync {:?}: {} to {} as {} via {}, {}; retry for {} s, queue {}, drain {} s",
            self.name,
            scope.join(" and "),
            self.endpoint.describe_urls(),
            self.endpoint.bind_dn.as_deref().unwrap_or("anonymous"),
            self.method.as_str(),
            locate,
            self.retry_for.as_secs(),
            self.queue_size,
            self.drain.as_secs()
        )
    }
}

/// The `{name}` placeholders of a template, or why it is malformed.
pub fn placeholders(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(['{', '}']) {
        if rest.as_bytes()[start] == b'}' {
            return Err("a `}` without its `{`".into());
        }
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| "a `{` without its `}`".to_owned())?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("`{{{name}}}` is not an attribute name"));
        }
        if !out.iter().any(|n: &String| n.eq_ignore_ascii_case(name)) {
            out.push(name.to_owned());
        }
        rest = &after[end + 1..];
    }
    Ok(out)
}

pub(super) fn targets(
    sections: Vec<SyncSection>,
    source: &str,
    path: Option<&Path>,
    from_file_path: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Vec<SyncTarget>, ConfigError> {
    let mut out: Vec<SyncTarget> = Vec::new();
    for (i, s) in sections.into_iter().enumerate() {
        let name = s.name.clone().unwrap_or_default();
        let e = |key: &str, message: String| ConfigError {
            file: path.map(Path::to_owned),
            line: array_table_line(source, "sync", i),
            message: format!("sync \"{name}\": {key}: {message}"),
        };
        if name.trim().is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(e(
                "name",
                "every sync target needs a name of letters, digits, - and _".into(),
            ));
        }
        if out.iter().any(|t| t.name == name) {
            return Err(e("name", "two sync targets have this name".into()));
        }
        let urls = s
            .urls
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|u| UpstreamUrl::parse(u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| e("urls", m))?;
        let allow_cleartext = s.allow_cleartext.unwrap_or(false);
        let endpoint = endpoint(
            urls,
            s.ca.clone().map(from_file_path),
            s.starttls.unwrap_or(false),
            allow_cleartext,
            s.bind_dn.clone(),
            s.bind_password_file.clone().map(from_file_path),
            s.bind_password_env.as_deref(),
            s.timeout_secs,
            &e,
        )?;
        if endpoint.bind_dn.is_none() {
            return Err(e(
                "bind_dn",
                "a sync target needs a service account that may set passwords".into(),
            ));
        }
        if allow_cleartext {
            tracing::warn!(target_name = %name, "sync target allows plain LDAP: new passwords would cross the network in clear");
        }
        let locate = match (&s.dn_template, &s.search_base, &s.search_filter) {
            (Some(t), None, None) => {
                let names = placeholders(t).map_err(|m| e("dn_template", m))?;
                if names.is_empty() {
                    return Err(e(
                        "dn_template",
                        "needs at least one {attribute} placeholder".into(),
                    ));
                }
                if crate::dn::parse(&t.replace(['{', '}'], "")).is_none() {
                    return Err(e("dn_template", format!("`{t}` is not a DN template")));
                }
                Locate::Template(t.clone())
            }
            (None, Some(base), Some(filter)) => {
                let names = placeholders(filter).map_err(|m| e("search_filter", m))?;
                if names.is_empty() {
                    return Err(e(
                        "search_filter",
                        "needs at least one {attribute} placeholder".into(),
                    ));
                }
                if !(filter.starts_with('(') && filter.ends_with(')')) {
                    return Err(e(
                        "search_filter",
                        "a filter is written in parentheses, e.g. (uid={uid})".into(),
                    ));
                }
                if crate::dn::parse(base).is_none() {
                    return Err(e("search_base", format!("`{base}` is not a DN")));
                }
                Locate::Search {
                    base: base.clone(),
                    filter: filter.clone(),
                }
            }
            _ => {
                return Err(e(
                    "dn_template",
                    "give either dn_template, or search_base and search_filter".into(),
                ))
            }
        };
        let method = s.method.ok_or_else(|| {
            e(
                "method",
                "give password_modify, user_password or unicode_pwd".into(),
            )
        })?;
        if method == SyncMethod::UnicodePwd
            && !allow_cleartext
            && !endpoint.urls.iter().all(|u| endpoint.encrypted(u))
        {
            return Err(e("method", "unicode_pwd needs TLS".into()));
        }
        let mut dn_suffixes = Vec::new();
        for d in s.dn_suffix.clone().unwrap_or_default() {
            match crate::dn::normalize(&d) {
                Some(n) if !n.is_empty() => dn_suffixes.push(normalize_dn(&n)),
                _ => {
                    return Err(e(
                        "dn_suffix",
                        format!("`{d}` is not a DN pwgate can compare"),
                    ))
                }
            }
        }
        let member_of = s
            .member_of
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|g| Group::parse(g).map_err(|m| e("member_of", m)))
            .collect::<Result<Vec<_>, _>>()?;
        let retry_for = s.retry_for_secs.unwrap_or(900);
        if !(1..=86_400).contains(&retry_for) {
            return Err(e(
                "retry_for_secs",
                "must be between 1 and 86400 seconds".into(),
            ));
        }
        let queue_size = s.queue_size.unwrap_or(10_000);
        if !(1..=1_000_000).contains(&queue_size) {
            return Err(e("queue_size", "must be between 1 and 1000000".into()));
        }
        let drain = s.drain_secs.unwrap_or(10);
        if drain > 3600 {
            return Err(e("drain_secs", "must be between 0 and 3600 seconds".into()));
        }
        out.push(SyncTarget {
            name,
            endpoint,
            locate,
            method,
            dn_suffixes,
            member_of,
            retry_for: Duration::from_secs(retry_for),
            queue_size,
            drain: Duration::from_secs(drain),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::placeholders;
    use crate::config::load_str;

    #[test]
    fn placeholders_are_found_and_checked() {
        assert_eq!(
            placeholders("uid={uid},ou=people,dc=x").unwrap(),
            vec!["uid".to_owned()]
        );
        assert_eq!(
            placeholders("(&(uid={uid})(mail={mail})(cn={UID}))").unwrap(),
            vec!["uid".to_owned(), "mail".to_owned()]
        );
        assert!(placeholders("uid={uid").is_err());
        assert!(placeholders("uid=uid}").is_err());
        assert!(placeholders("uid={u id}").is_err());
    }

    #[test]
    fn sync_targets_are_validated_and_described() {
        let base = "[upstream]\nurls = [\"ldap://h\"]\n\n[[sync]]\nname = \"linux\"\n";
        let ok = "urls = [\"ldap://t\"]\nstarttls = true\nca = \"/ca.pem\"\nbind_dn = \"cn=svc,dc=t\"\n\
                  bind_password_env = \"PATH\"\ndn_template = \"uid={uid},ou=people,dc=t\"\nmethod = \"password_modify\"\n";
        let c = load_str(&format!("{base}{ok}dn_suffix = [\"ou=people,dc=x\"]\n")).unwrap();
        let text = c.describe();
        assert!(
            text.contains("sync \"linux\": accounts under ou=people,dc=x to ldap://t:389 as cn=svc,dc=t via password_modify, DN uid={uid},ou=people,dc=t; retry for 900 s"),
            "{text}"
        );
        assert!(
            !text.contains(&std::env::var("PATH").unwrap_or_default()),
            "the secret is shown"
        );
        let err = load_str(&format!("{base}{ok}search_base = \"dc=t\"\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("give either dn_template, or search_base and search_filter"),
            "{err}"
        );
        assert_eq!(err.line, Some(4), "{err}");
        let err = load_str(&format!("{base}{}", ok.replace("{uid}", "{uid"))).unwrap_err();
        assert!(
            err.to_string()
                .contains("dn_template: a `{` without its `}`"),
            "{err}"
        );
        let err = load_str(&format!("{base}{}", ok.replace("starttls = true\n", ""))).unwrap_err();
        assert!(
            err.to_string().contains("use ldaps:// or starttls = true"),
            "{err}"
        );
        let err = load_str(&format!("{base}{ok}member_of = [\"cn=g,dc=x\"]\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("member_of needs a [directory] section"),
            "{err}"
        );
    }
}
