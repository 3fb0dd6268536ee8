//! `[directory]` (the lookup account) and `[[protected]]` (who may reset
//! the passwords of privileged accounts).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::overrides::Flavor;
use super::policy::OnStoreError;
use super::upstream::UpstreamConfig;
use crate::directory::{DirectoryConfig, Group, Membership, Nesting, DEFAULT_ATTRIBUTES};
use crate::ldapclient::{read_secret, Endpoint, UpstreamUrl};

/// `[directory]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySection {
    /// Default: the upstream URLs (with the upstream's CA and StartTLS).
    pub urls: Option<Vec<String>>,
    pub ca: Option<PathBuf>,
    pub starttls: Option<bool>,
    /// Allow a plain (unencrypted) lookup connection.
    pub allow_cleartext: Option<bool>,
    pub bind_dn: Option<String>,
    pub bind_password_file: Option<PathBuf>,
    pub bind_password_env: Option<String>,
    pub timeout_secs: Option<u64>,
    pub cache_secs: Option<u64>,
    pub attributes: Option<Vec<String>>,
    pub membership: Option<Membership>,
    /// `membership = "nested"`: levels of groups followed (1: direct only).
    pub max_nesting_depth: Option<usize>,
    /// `membership = "nested"`: groups one account may be in.
    pub max_groups: Option<usize>,
    /// `membership = "nested"`: where groups are searched (default: the
    /// `dc=` components of the account's DN).
    pub group_search_base: Option<String>,
    pub on_error: Option<OnStoreError>,
}

/// `[[protected]]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedSection {
    /// Members of this group (nested too, in AD) are protected.
    pub group: Option<String>,
    /// Only members of these groups (or these accounts) may reset their
    /// passwords. Empty: nobody may (users still change their own).
    pub reset_by: Option<Vec<String>>,
}

/// Privileged accounts: resets of their passwords are limited to some actors.
#[derive(Debug, Clone)]
pub struct Protected {
    pub group: Group,
    pub reset_by: Vec<Group>,
}

/// The line of the `i`th `[[name]]` header, for errors in arrays of tables.
pub(super) fn array_table_line(source: &str, name: &str, i: usize) -> Option<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            t.starts_with("[[") && t.trim_start_matches("[[").trim_end_matches("]]").trim() == name
        })
        .nth(i)
        .map(|(n, _)| n + 1)
}

fn parse_urls(texts: &[String]) -> Result<Vec<UpstreamUrl>, String> {
    texts.iter().map(|u| UpstreamUrl::parse(u)).collect()
}

/// Builds the service-account endpoint shared by `[directory]` and `[[sync]]`.
#[allow(clippy::too_many_arguments)]
pub(super) fn endpoint(
    urls: Vec<UpstreamUrl>,
    ca: Option<PathBuf>,
    starttls: bool,
    allow_cleartext: bool,
    bind_dn: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<&str>,
    timeout_secs: Option<u64>,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Endpoint, ConfigError> {
    if urls.is_empty() {
        return Err(err("urls", "give at least one URL".into()));
    }
    if starttls && urls.iter().any(|u| u.tls) {
        return Err(err(
            "starttls",
            "applies to ldap:// URLs; an ldaps:// URL already uses TLS".into(),
        ));
    }
    let encrypted = |u: &UpstreamUrl| u.tls || starttls;
    if !allow_cleartext && !urls.iter().all(encrypted) {
        return Err(err(
            "urls",
            "this connection carries a service account's password: use ldaps:// or \
             starttls = true (or set allow_cleartext = true for a lab)"
                .into(),
        ));
    }
    if urls.iter().any(encrypted) && ca.is_none() {
        return Err(err(
            "ca",
            "TLS needs a CA file to verify the server: pwgate never accepts an unverified certificate"
                .into(),
        ));
    }
    let password = read_secret(password_file.as_deref(), password_env)
        .map_err(|m| err("bind_password_file", m))?;
    match (&bind_dn, &password) {
        (Some(dn), None) if !dn.is_empty() => {
            return Err(err(
                "bind_dn",
                "needs bind_password_file or bind_password_env".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(err(
                "bind_password_file",
                "a password without bind_dn".into(),
            ))
        }
        _ => {}
    }
    if let Some(dn) = &bind_dn {
        if crate::dn::parse(dn).is_none() {
            return Err(err("bind_dn", format!("`{dn}` is not a DN")));
        }
    }
    let timeout = timeout_secs.unwrap_or(5);
    if !(1..=300).contains(&timeout) {
        return Err(err(
            "timeout_secs",
            "must be between 1 and 300 seconds".into(),
        ));
    }
    Ok(Endpoint {
        urls,
        ca,
        starttls,
        allow_plain: allow_cleartext,
        bind_dn,
        bind_password: password.map(Arc::new),
        timeout: Duration::from_secs(timeout),
    })
}

/// Validates `[directory]`. Without URLs of its own it uses the upstream's,
/// with the upstream's CA and StartTLS setting.
pub(super) fn directory(
    d: DirectorySection,
    upstream: &UpstreamConfig,
    extra_attributes: &[String],
    err: &dyn Fn(&str, String) -> ConfigError,
    from_file_path: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<DirectoryConfig, ConfigError> {
    let (urls, ca, starttls) = match &d.urls {
        Some(texts) => (
            parse_urls(texts).map_err(|m| err("urls", m))?,
            d.ca.clone().map(from_file_path).or(upstream.ca.clone()),
            d.starttls.unwrap_or(false),
        ),
        None => (
            upstream.urls.clone(),
            d.ca.clone().map(from_file_path).or(upstream.ca.clone()),
            d.starttls.unwrap_or(upstream.starttls),
        ),
    };
    let endpoint = endpoint(
        urls,
        ca,
        starttls,
        d.allow_cleartext.unwrap_or(false),
        d.bind_dn.clone(),
        d.bind_password_file.clone().map(from_file_path),
        d.bind_password_env.as_deref(),
        d.timeout_secs,
        err,
    )?;
    let cache = d.cache_secs.unwrap_or(60);
    if cache > 3600 {
        return Err(err(
            "cache_secs",
            "must be between 0 and 3600 seconds".into(),
        ));
    }
    let mut attributes: Vec<String> = match &d.attributes {
        Some(a) => a.clone(),
        None => DEFAULT_ATTRIBUTES.iter().map(|s| (*s).to_owned()).collect(),
    };
    for a in &attributes {
        if a.is_empty()
            || !a
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(err("attributes", format!("`{a}` is not an attribute name")));
        }
    }
    for extra in extra_attributes {
        if !attributes.iter().any(|a| a.eq_ignore_ascii_case(extra)) {
            attributes.push(extra.clone());
        }
    }
    let membership = d.membership.unwrap_or(match upstream.flavor {
        Flavor::ActiveDirectory => Membership::InChain,
        Flavor::Openldap => Membership::Member,
    });
    let mut nesting = Nesting::default();
    let nested_only = |key: &str| {
        err(
            key,
            "applies to membership = \"nested\" only (pwgate walking up groups of groups)".into(),
        )
    };
    if let Some(depth) = d.max_nesting_depth {
        if membership != Membership::Nested {
            return Err(nested_only("max_nesting_depth"));
        }
        if !(1..=64).contains(&depth) {
            return Err(err("max_nesting_depth", "must be between 1 and 64".into()));
        }
        nesting.max_depth = depth;
    }
    if let Some(max) = d.max_groups {
        if membership != Membership::Nested {
            return Err(nested_only("max_groups"));
        }
        if !(1..=100_000).contains(&max) {
            return Err(err("max_groups", "must be between 1 and 100000".into()));
        }
        nesting.max_groups = max;
    }
    if let Some(base) = &d.group_search_base {
        if membership != Membership::Nested {
            return Err(nested_only("group_search_base"));
        }
        match crate::dn::normalize(base) {
            Some(n) if !n.is_empty() => nesting.search_base = Some(base.trim().to_owned()),
            _ => {
                return Err(err(
                    "group_search_base",
                    format!("`{base}` is not a DN pwgate can compare"),
                ))
            }
        }
    }
    Ok(DirectoryConfig {
        endpoint,
        cache_ttl: Duration::from_secs(cache),
        attributes,
        membership,
        nesting,
        fail_open: d.on_error == Some(OnStoreError::Allow),
    })
}

pub(super) fn protected(
    sections: Vec<ProtectedSection>,
    source: &str,
    path: Option<&std::path::Path>,
) -> Result<Vec<Protected>, ConfigError> {
    let mut out = Vec::new();
    for (i, p) in sections.into_iter().enumerate() {
        let e = |key: &str, message: String| ConfigError {
            file: path.map(std::path::Path::to_owned),
            line: array_table_line(source, "protected", i),
            message: format!("protected #{}: {key}: {message}", i + 1),
        };
        let Some(g) = p.group.as_deref() else {
            return Err(e(
                "group",
                "give the group whose members are protected".into(),
            ));
        };
        let group = Group::parse(g).map_err(|m| e("group", m))?;
        let reset_by = p
            .reset_by
            .unwrap_or_default()
            .iter()
            .map(|r| Group::parse(r).map_err(|m| e("reset_by", m)))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Protected { group, reset_by });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    #[test]
    fn the_lookup_connection_must_be_encrypted_and_complete() {
        let base = "[upstream]\nurls = [\"ldap://h\"]\n[directory]\n";
        let err = load_str(&format!("{base}bind_dn = \"cn=svc,dc=x\"\n")).unwrap_err();
        assert!(
            err.to_string().contains("use ldaps:// or starttls = true"),
            "{err}"
        );
        let err = load_str(&format!(
            "{base}allow_cleartext = true\nbind_dn = \"cn=svc,dc=x\"\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("directory.bind_dn: needs bind_password_file"),
            "{err}"
        );
        let err = load_str(&format!(
            "{base}allow_cleartext = true\nbind_dn = \"cn=svc,dc=x\"\nbind_password_env = \"PWGATE_TEST_UNSET_VARIABLE\"\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("PWGATE_TEST_UNSET_VARIABLE is not set"),
            "{err}"
        );
        let err = load_str(&format!("{base}urls = [\"ldaps://dc\"]\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("directory.ca: TLS needs a CA file"),
            "{err}"
        );
        // Anonymous lookups over plain LDAP, when asked for explicitly.
        let c = load_str(&format!("{base}allow_cleartext = true\n")).unwrap();
        assert!(c
            .describe()
            .contains("directory lookups: ldap://h:389 as anonymous"));
    }

    #[test]
    fn nested_membership_is_bounded_and_its_keys_checked() {
        use crate::directory::{Membership, DEFAULT_NESTING_DEPTH, DEFAULT_NESTING_GROUPS};
        let base = "[upstream]\nurls = [\"ldap://h\"]\n[directory]\nallow_cleartext = true\n";
        let c = load_str(&format!("{base}membership = \"nested\"\n")).unwrap();
        let d = c.directory.as_ref().unwrap();
        assert_eq!(d.membership, Membership::Nested);
        assert_eq!(
            (
                d.nesting.max_depth,
                d.nesting.max_groups,
                d.nesting.search_base.as_deref()
            ),
            (DEFAULT_NESTING_DEPTH, DEFAULT_NESTING_GROUPS, None)
        );
        assert!(
            c.describe().contains("membership nested (by pwgate: up to 8 levels and 1000 groups, searched under the account's dc= components)"),
            "{}",
            c.describe()
        );
        let c = load_str(&format!(
            "{base}membership = \"nested\"\nmax_nesting_depth = 3\nmax_groups = 50\ngroup_search_base = \"ou=groups,o=Example\"\n"
        ))
        .unwrap();
        let n = &c.directory.as_ref().unwrap().nesting;
        assert_eq!(
            (n.max_depth, n.max_groups, n.search_base.as_deref()),
            (3, 50, Some("ou=groups,o=Example"))
        );
        for (extra, line, what) in [
            (
                "membership = \"nested\"\nmax_nesting_depth = 0\n",
                6,
                "max_nesting_depth: must be between 1 and 64",
            ),
            (
                "membership = \"nested\"\nmax_nesting_depth = 65\n",
                6,
                "max_nesting_depth: must be between 1 and 64",
            ),
            (
                "membership = \"nested\"\nmax_groups = 0\n",
                6,
                "max_groups: must be between 1 and 100000",
            ),
            (
                "membership = \"nested\"\ngroup_search_base = \"<SID=1>\"\n",
                6,
                "group_search_base: `<SID=1>` is not a DN",
            ),
            (
                "membership = \"member\"\nmax_nesting_depth = 3\n",
                6,
                "max_nesting_depth: applies to membership = \"nested\" only",
            ),
            (
                "max_groups = 3\n",
                5,
                "max_groups: applies to membership = \"nested\" only",
            ),
            ("membership = \"deep\"\n", 5, "unknown variant `deep`"),
        ] {
            let err = load_str(&format!("{base}{extra}")).unwrap_err();
            assert_eq!(err.line, Some(line), "{extra}: {err}");
            assert!(err.message.contains(what), "{extra}: {err}");
        }
    }
}
