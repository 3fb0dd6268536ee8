//! Configuration: a TOML file, command-line overrides, and validation.
//!
//! The file is parsed into [`FileConfig`] (every key optional, unknown keys
//! refused), command-line flags ([`Overrides`]) win over it, and
//! [`Config::load`] checks the result as a whole. Errors name the file and,
//! where the problem sits on a line, the line: `pwgate.toml:7: ...`.

mod accounts;
mod service;
mod sync;
pub use accounts::{DirectorySection, Protected, ProtectedSection};
pub use service::{HttpsConfig, ServiceConfig, ServiceSection, Token, DEFAULT_SOCKET};
pub use sync::{Locate, SyncMethod, SyncSection, SyncTarget};

use crate::directory::{DirectoryConfig, Group};

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::policy::rules::banned::BannedWords;
use crate::policy::rules::classes::{ClassRequirements, LengthComplexity};
use crate::policy::rules::patterns::PatternOptions;
use crate::policy::rules::regex::RegexRule;
use crate::policy::Policy;

/// A configuration problem, printed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{}: {}", file.display(), line, self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The TOML file as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub listen: ListenSection,
    #[serde(default)]
    pub upstream: UpstreamSection,
    #[serde(default)]
    pub policy: PolicySection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    /// The lookup account (names and groups of the target).
    pub directory: Option<DirectorySection>,
    /// `[[protected]]`: privileged accounts whose resets are limited.
    pub protected: Option<Vec<ProtectedSection>>,
    /// `[[sync]]`: directories that receive accepted passwords too.
    pub sync: Option<Vec<SyncSection>>,
    #[serde(default)]
    pub audit: AuditSection,
    /// `[service]`: the decision service for other enforcement points.
    #[serde(default)]
    pub service: ServiceSection,
}

/// `[audit]`: where audit records go besides the log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// A file path, or `-` for stdout.
    pub file: Option<String>,
    /// Hash-chain the records (`pwgate audit verify`).
    pub chain: Option<bool>,
    /// How often a summary of the decisions is written (0: never).
    pub summary_interval_secs: Option<u64>,
    /// Also send each record to syslog at this datagram socket ("/dev/log").
    pub syslog: Option<PathBuf>,
}

/// `[audit]`, validated.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub sink: Option<crate::audit::trail::Sink>,
    pub syslog: Option<PathBuf>,
    pub chain: bool,
    pub summary_interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Address for `/metrics`, `/healthz` and `/readyz` (off when unset).
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    pub ldap: Option<String>,
    pub ldaps: Option<String>,
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    pub allow_cleartext_password_changes: Option<bool>,
    pub allow_cleartext_binds: Option<bool>,
    pub allow_sasl_security_layers: Option<bool>,
    pub workers: Option<usize>,
    /// TLS 1.3 session tickets sent after each handshake (LDAPS, StartTLS).
    pub tls13_session_tickets: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    pub urls: Option<Vec<String>>,
    pub flavor: Option<Flavor>,
    pub ca: Option<PathBuf>,
    pub starttls: Option<bool>,
    pub connect_timeout_secs: Option<u64>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub mode: Option<Mode>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub builtin_banned_words: Option<bool>,
    pub common_passwords: Option<bool>,
    pub banned_words: Option<Vec<String>>,
    pub banned_words_file: Option<PathBuf>,
    pub min_score: Option<usize>,
    pub keyboard_walks: Option<bool>,
    pub sequences: Option<bool>,
    pub repetitions: Option<bool>,
    pub dates: Option<bool>,
    pub check_account_name: Option<bool>,
    pub check_organisation_name: Option<bool>,
    pub allow_prehashed: Option<bool>,
    pub preset: Option<Preset>,
    /// Length-based complexity: classes needed below `complexity_until_length`
    /// characters (0 turns it off).
    pub complexity_classes: Option<usize>,
    pub complexity_until_length: Option<usize>,
    /// Minimum counts per character class (`[policy.require]`).
    pub require: Option<ClassRequirements>,
    pub max_repeat: Option<usize>,
    /// Deny/require patterns (`[[policy.regex]]`).
    pub regex: Option<Vec<RegexSection>>,
    /// Replacement texts for rule messages, by rule id (`[policy.messages]`).
    pub messages: Option<std::collections::BTreeMap<String, String>>,
    pub check_old_password: Option<bool>,
    /// Refuse below this strength score (0 to 4; 0: off).
    pub min_strength_score: Option<u8>,
    /// Which estimator gives the score: "pwgate" (default) or "zxcvbn".
    pub strength_estimator: Option<crate::policy::rules::strength::Estimator>,
    /// pwgate: characters estimated in full; zxcvbn: longest password
    /// estimated.
    pub strength_max_chars: Option<usize>,
    pub old_password_max_distance: Option<usize>,
    /// Refuse a reset (no old password) of the actor's own password.
    pub refuse_self_reset: Option<bool>,
    /// The breached-password store (`pwgate store build`), `[policy]` only.
    pub breached_store: Option<PathBuf>,
    /// What to do when the store cannot answer: refuse the change (default)
    /// or allow it.
    pub on_store_error: Option<OnStoreError>,
    /// `[[policy.scope]]`: stricter or different policies by DN suffix.
    pub scope: Option<Vec<PolicySection>>,
    /// A scope's name (scopes only).
    pub name: Option<String>,
    /// The groups whose members a scope applies to (scopes only).
    pub member_of: Option<Vec<String>>,
    /// The DN suffixes a scope applies to (scopes only).
    pub dn_suffix: Option<Vec<String>>,
    /// DNS domains whose accounts a scope applies to (scopes only): each is
    /// the DN suffix of its `DC=` components.
    pub domain: Option<Vec<String>>,
}

/// One `[[policy.regex]]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexSection {
    pub name: String,
    /// Refuse a password that matches.
    pub deny: Option<String>,
    /// Refuse a password that does not match.
    pub require: Option<String>,
    /// The refusal text (the rule's name is appended).
    pub message: Option<String>,
}

/// What a password change gets when the breached-password store cannot
/// answer (missing, truncated, failing its checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnStoreError {
    #[default]
    Refuse,
    Allow,
}

/// Starting points for a policy; keys in the file override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Preset {
    /// pwgate's built-in policy.
    #[default]
    #[serde(rename = "default")]
    Default,
    /// NIST SP 800-63B-4 for single-factor passwords: 15+ characters, no
    /// composition rules, blocklist of expected values.
    #[serde(rename = "nist-800-63b")]
    Nist80063b,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_message_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_outstanding_per_connection: Option<usize>,
    pub tls_handshake_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub message_timeout_secs: Option<u64>,
    pub write_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<LogFormat>,
    pub level: Option<String>,
}

/// Which directory is behind pwgate; decides the shape of refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    #[default]
    Openldap,
    ActiveDirectory,
}

/// Enforce refuses weak passwords; audit only logs what it would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Values given on the command line; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub upstream: Vec<String>,
    pub listen: Option<String>,
    pub listen_ldaps: Option<String>,
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    pub upstream_ca: Option<PathBuf>,
    pub upstream_starttls: bool,
    pub flavor: Option<Flavor>,
    pub mode: Option<Mode>,
    pub allow_cleartext_password_changes: bool,
    pub allow_cleartext_binds: bool,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub metrics_listen: Option<String>,
    pub workers: Option<usize>,
}

pub use crate::ldapclient::UpstreamUrl;

/// Certificate and key of pwgate's own TLS endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub urls: Vec<UpstreamUrl>,
    pub flavor: Flavor,
    pub ca: Option<PathBuf>,
    pub starttls: bool,
    pub connect_timeout: Duration,
    /// A URL that failed is skipped for this long (unless all have failed).
    pub retry_after: Duration,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_connections: usize,
    /// Requests awaiting an answer on one connection; beyond it pwgate stops
    /// reading from that client until answers arrive.
    pub max_outstanding_per_connection: usize,
    pub tls_handshake_timeout: Duration,
    /// A connection with nothing to do for this long is closed (None: never).
    pub idle_timeout: Option<Duration>,
    /// A message must arrive whole within this time of its first byte.
    pub message_timeout: Duration,
    /// A client that does not take its answers for this long is disconnected.
    pub write_timeout: Duration,
}

/// Defaults of the limits.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_MAX_OUTSTANDING: usize = 256;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 900;
pub const DEFAULT_MESSAGE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1389";

/// Most connection-serving threads (`[listen] workers`).
pub const MAX_WORKERS: usize = 256;

/// TLS 1.3 session tickets pwgate sends after a handshake by default: none.
/// Samba 4.17's client TLS (tstream_tls over GnuTLS, as in samba-tool)
/// stops reading after tickets that arrive ahead of the first answer and
/// waits forever (issue 24); a Samba DC's own LDAPS sends none either.
/// TLS 1.2 resumption by session ID is not affected.
pub const DEFAULT_TLS13_SESSION_TICKETS: usize = 0;
/// Most TLS 1.3 session tickets per handshake (`[listen] tls13_session_tickets`).
pub const MAX_TLS13_SESSION_TICKETS: usize = 8;

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen_ldap: Option<SocketAddr>,
    pub listen_ldaps: Option<SocketAddr>,
    pub tls: Option<TlsFiles>,
    /// TLS 1.3 session tickets sent to a client after each handshake.
    pub tls13_session_tickets: usize,
    pub allow_cleartext_password_changes: bool,
    /// Simple binds with a password on the plain listener before StartTLS
    /// (refused with confidentialityRequired, 13, unless true).
    pub allow_cleartext_binds: bool,
    pub allow_sasl_security_layers: bool,
    /// Threads that serve client connections, each with its own event loop
    /// (0: one per CPU). A connection stays on the thread it started on.
    pub workers: usize,
    pub upstream: UpstreamConfig,
    pub mode: Mode,
    pub policy: Policy,
    /// Policies for accounts under given DNs; the longest suffix wins.
    pub scopes: Vec<Scope>,
    /// The breached-password store file, opened by [`crate::proxy::Gate`].
    pub breached_store: Option<PathBuf>,
    pub allow_prehashed: bool,
    pub limits: Limits,
    pub log_format: LogFormat,
    pub log_level: Option<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (None: off).
    pub metrics_listen: Option<SocketAddr>,
    /// The lookup account, when configured.
    pub directory: Option<DirectoryConfig>,
    pub protected: Vec<Protected>,
    pub sync: Vec<SyncTarget>,
    pub audit: AuditConfig,
    /// The decision service (off when None).
    pub service: Option<ServiceConfig>,
}

/// The line where `section.key` is written in the file, for errors about
/// values that parse but are wrong. Works for `[section]` tables (with
/// comments), dotted keys (`section.key = ...`) and quoted keys alike.
fn line_of(source: &str, section: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(source).ok()?;
    let table = doc.get(section)?;
    let span = table
        .get(key)
        .and_then(|item| item.span())
        .or_else(|| table.span())?;
    // An item's span covers its value; the key sits on the same line for
    // every layout the parser accepts except multi-line arrays, where the
    // value starts on the key's line too.
    Some(source[..span.start.min(source.len())].matches('\n').count() + 1)
}

/// Turns a toml error into `line: message`.
fn syntax_error(source: &str, path: &Path, err: toml::de::Error) -> ConfigError {
    let line = err
        .span()
        .map(|span| source[..span.start.min(source.len())].matches('\n').count() + 1);
    ConfigError {
        file: Some(path.to_owned()),
        line,
        message: err.message().trim().replace('\n', " "),
    }
}

/// Applies the keys of a `[policy]` (or `[[policy.scope]]`) section to
/// `base`. `err(key, message)` builds the error for a key of this section.
fn build_policy(
    p: &PolicySection,
    base: Policy,
    err: &dyn Fn(&str, String) -> ConfigError,
    from_file_path: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Policy, ConfigError> {
    let complexity = match (p.complexity_classes, p.complexity_until_length) {
        (None, None) => base.complexity,
        (Some(0), _) => None,
        (classes, until) => {
            let b = base.complexity.unwrap_or(crate::policy::DEFAULT_COMPLEXITY);
            Some(LengthComplexity {
                classes: classes.unwrap_or(b.classes),
                until_length: until.unwrap_or(b.until_length),
            })
        }
    };
    let old_password_max_distance = match p.check_old_password {
        Some(false) => None,
        _ => p
            .old_password_max_distance
            .or(base.old_password_max_distance)
            .or(Some(crate::policy::DEFAULT_OLD_PASSWORD_DISTANCE)),
    };
    let mut policy = Policy {
        min_length: p.min_length.unwrap_or(base.min_length),
        max_length: p.max_length.unwrap_or(base.max_length),
        builtin_banned_words: p.builtin_banned_words.unwrap_or(base.builtin_banned_words),
        banned_words: BannedWords::default(),
        common_passwords: p.common_passwords.unwrap_or(base.common_passwords),
        min_score: p.min_score.unwrap_or(base.min_score),
        patterns: PatternOptions {
            keyboard_walks: p.keyboard_walks.unwrap_or(base.patterns.keyboard_walks),
            sequences: p.sequences.unwrap_or(base.patterns.sequences),
            repetitions: p.repetitions.unwrap_or(base.patterns.repetitions),
            dates: p.dates.unwrap_or(base.patterns.dates),
            ..base.patterns
        },
        check_account_name: p.check_account_name.unwrap_or(base.check_account_name),
        check_organisation_name: p
            .check_organisation_name
            .unwrap_or(base.check_organisation_name),
        complexity,
        required_classes: p.require.clone().unwrap_or(base.required_classes),
        max_repeat: p.max_repeat.unwrap_or(base.max_repeat),
        old_password_max_distance,
        refuse_self_reset: p.refuse_self_reset.unwrap_or(base.refuse_self_reset),
        breached: base.breached.clone(),
        breached_fail_open: base.breached_fail_open,
        messages: base.messages.clone(),
        regexes: base.regexes.clone(),
        strength: match (p.min_strength_score, base.strength) {
            (Some(0), _) => None,
            (Some(score), Some(base)) => Some(crate::policy::rules::strength::Strength {
                min_score: score,
                ..base
            }),
            (Some(score), None) => Some(crate::policy::rules::strength::Strength::new(
                crate::policy::rules::strength::Estimator::default(),
                score,
            )),
            (None, base) => base,
        },
    };
    if let Some(score) = p.min_strength_score {
        if score > 4 {
            return Err(err(
                "min_strength_score",
                "must be between 0 (off) and 4".into(),
            ));
        }
    }
    if let Some(estimator) = p.strength_estimator {
        // Another estimator brings its own default length bound.
        match policy.strength.as_mut() {
            Some(s) if s.estimator != estimator => {
                *s = crate::policy::rules::strength::Strength::new(estimator, s.min_score)
            }
            Some(_) => {}
            None => return Err(err("strength_estimator", "needs min_strength_score".into())),
        }
    }
    if let Some(s) = policy.strength {
        if s.estimator == crate::policy::rules::strength::Estimator::Pwgate {
            // Build the word lists now rather than on the first password.
            crate::policy::estimator::preload();
        }
    }
    if let Some(max) = p.strength_max_chars {
        if !(8..=128).contains(&max) {
            return Err(err(
                "strength_max_chars",
                "must be between 8 and 128".into(),
            ));
        }
        match policy.strength.as_mut() {
            Some(s) => s.max_chars = max,
            None => return Err(err("strength_max_chars", "needs min_strength_score".into())),
        }
    }
    for (i, r) in p.regex.iter().flatten().enumerate() {
        let problem = |m: String| err("regex", format!("rule {} ({:?}): {m}", i + 1, r.name));
        let (pattern, deny) = match (&r.deny, &r.require) {
            (Some(p), None) => (p, true),
            (None, Some(p)) => (p, false),
            _ => return Err(problem("give exactly one of `deny` or `require`".into())),
        };
        if r.name.trim().is_empty() {
            return Err(problem("every regex rule needs a name".into()));
        }
        let rule = RegexRule::new(&r.name, pattern, deny, r.message.as_deref()).map_err(problem)?;
        policy.regexes.push(rule);
    }
    for (id, text) in p.messages.iter().flatten() {
        let known = crate::policy::Rule::ALL.iter().any(|r| r.id() == id);
        let problem = if !known {
            let ids: Vec<&str> = crate::policy::Rule::ALL.iter().map(|r| r.id()).collect();
            Some(format!(
                "unknown rule id `{id}` (one of: {})",
                ids.join(", ")
            ))
        } else if text.trim().is_empty() || text.len() > 300 || text.contains('\n') {
            Some(format!(
                "message for `{id}` must be one line of 1 to 300 bytes"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(err("messages", problem));
        }
        policy.messages.insert(id.clone(), text.clone());
    }
    if policy.min_length == 0 {
        return Err(err("min_length", "must be at least 1".into()));
    }
    if p.max_length.is_none() && policy.min_length > policy.max_length {
        return Err(err(
            "min_length",
            format!("must be at most max_length ({})", policy.max_length),
        ));
    }
    if policy.max_length < policy.min_length || policy.max_length > 4096 {
        return Err(err(
            "max_length",
            format!(
                "must be between min_length ({}) and 4096",
                policy.min_length
            ),
        ));
    }
    if let Some(words) = &p.banned_words {
        policy.banned_words.extend(words.iter().map(String::as_str));
    }
    if let Some(list) = p.banned_words_file.clone().map(from_file_path) {
        let text = std::fs::read_to_string(&list).map_err(|e| {
            err(
                "banned_words_file",
                format!("cannot read {}: {e}", list.display()),
            )
        })?;
        policy.banned_words.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
    }

    Ok(policy)
}

/// The line of the `i`th `[[policy.scope]]` header, for error messages.
fn scope_line(source: &str, i: usize) -> Option<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.trim_start()
                .trim_start_matches("[[")
                .trim_end()
                .starts_with("policy.scope")
                && l.trim_start().starts_with("[[")
        })
        .nth(i)
        .map(|(n, _)| n + 1)
}

pub use crate::dn::{dn_is_under, normalize_dn};

/// A stricter (or different) policy for the accounts under some DNs.
#[derive(Debug, Clone)]
pub struct Scope {
    pub name: String,
    /// Normalized DN suffixes (see [`normalize_dn`]) from `dn_suffix`.
    pub dn_suffixes: Vec<String>,
    /// Domains from `domain`, each a DN suffix too. With `dn_suffixes`
    /// empty as well: any DN.
    pub domains: Vec<ScopeDomain>,
    /// Groups; empty: no membership needed.
    pub member_of: Vec<Group>,
    pub mode: Mode,
    pub policy: Policy,
}

/// A DNS domain of a scope (`corp.contoso.com`) and the DN suffix it
/// stands for (`dc=corp,dc=contoso,dc=com`, normalized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDomain {
    pub name: String,
    pub suffix: String,
}

impl Scope {
    /// Every normalized DN suffix of the scope: its `dn_suffix` values and
    /// the suffixes of its domains. Empty: the scope is not limited by DN.
    pub fn suffixes(&self) -> impl Iterator<Item = &str> {
        self.dn_suffixes
            .iter()
            .map(String::as_str)
            .chain(self.domains.iter().map(|d| d.suffix.as_str()))
    }
}

/// The file's contents, parsed, and its text (for line numbers); an empty
/// configuration without a file.
fn read_file(path: Option<&Path>) -> Result<(FileConfig, String), ConfigError> {
    match path {
        Some(p) => {
            let source = std::fs::read_to_string(p).map_err(|e| ConfigError {
                file: Some(p.to_owned()),
                line: None,
                message: format!("cannot read the config file: {e}"),
            })?;
            Ok((FileConfig::parse(&source, p)?, source))
        }
        None => Ok((FileConfig::default(), String::new())),
    }
}

impl FileConfig {
    pub fn parse(source: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(source).map_err(|e| syntax_error(source, path, e))
    }
}

impl Config {
    /// Reads the file (if any), applies the overrides and validates.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let (file, source) = read_file(path)?;
        Config::from_parts(file, &source, path, overrides)
    }

    /// The configuration for `pwgate check`, which serves nothing: the
    /// upstream URLs are a placeholder, except when account lookups are
    /// wanted (`lookups`) and `[directory]` has no URLs of its own, since
    /// it then uses the upstream's.
    ///
    /// Without lookups, the `[directory]` service account is dropped before
    /// validation, so that its password file or variable is not read: a
    /// policy can be checked by someone who may not read that secret.
    pub fn load_for_check(path: Option<&Path>, lookups: bool) -> Result<Config, ConfigError> {
        let (mut file, source) = read_file(path)?;
        if let (false, Some(d)) = (lookups, file.directory.as_mut()) {
            d.bind_dn = None;
            d.bind_password_file = None;
            d.bind_password_env = None;
        }
        let directory_uses_upstream =
            lookups && file.directory.as_ref().is_some_and(|d| d.urls.is_none());
        if directory_uses_upstream && file.upstream.urls.is_none() {
            return Err(ConfigError {
                file: path.map(Path::to_owned),
                line: line_of(&source, "directory", "urls"),
                message: "directory.urls: account lookups need a directory: give directory.urls \
                          or upstream.urls (or check without lookups: --no-lookup)"
                    .into(),
            });
        }
        let overrides = Overrides {
            upstream: if directory_uses_upstream {
                Vec::new()
            } else {
                vec!["ldap://127.0.0.1:389".into()]
            },
            ..Overrides::default()
        };
        Config::from_parts(file, &source, path, &overrides)
    }

    /// Validates a parsed file plus overrides. `source` is the file's text
    /// (for line numbers), empty when there is no file.
    pub fn from_parts(
        file: FileConfig,
        source: &str,
        path: Option<&Path>,
        o: &Overrides,
    ) -> Result<Config, ConfigError> {
        // An error about `section.key`: with the line when it came from the file.
        let at = |section: &str, key: &str, from_file: bool, message: String| ConfigError {
            file: path.filter(|_| from_file).map(Path::to_owned),
            line: if from_file {
                line_of(source, section, key)
            } else {
                None
            },
            message: if from_file {
                format!("{section}.{key}: {message}")
            } else {
                message
            },
        };
        // Relative paths in the file are relative to the file's directory.
        let base = path.and_then(Path::parent).unwrap_or(Path::new(""));
        let from_file_path = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };

        let addr = |section: &str, key: &str, flag: Option<&String>, file: Option<String>| {
            let from_file = flag.is_none();
            match flag.cloned().or(file) {
                None => Ok(None),
                Some(text) => text.parse::<SocketAddr>().map(Some).map_err(|_| {
                    at(
                        section,
                        key,
                        from_file,
                        format!("`{text}` is not an address:port such as 127.0.0.1:1389"),
                    )
                }),
            }
        };
        let mut listen_ldap = addr("listen", "ldap", o.listen.as_ref(), file.listen.ldap)?;
        let listen_ldaps = addr(
            "listen",
            "ldaps",
            o.listen_ldaps.as_ref(),
            file.listen.ldaps,
        )?;
        if listen_ldap.is_none() && listen_ldaps.is_none() {
            listen_ldap = Some(DEFAULT_LISTEN.parse().expect("valid default address"));
        }
        let workers = o.workers.or(file.listen.workers).unwrap_or(0);
        if workers > MAX_WORKERS {
            return Err(at(
                "listen",
                "workers",
                o.workers.is_none(),
                format!("must be between 0 (one per CPU) and {MAX_WORKERS}"),
            ));
        }

        let certificate = o
            .certificate
            .clone()
            .or(file.listen.certificate.map(from_file_path));
        let private_key = o
            .private_key
            .clone()
            .or(file.listen.private_key.map(from_file_path));
        let tls = match (certificate, private_key) {
            (Some(certificate), Some(private_key)) => Some(TlsFiles {
                certificate,
                private_key,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(at(
                    "listen",
                    "certificate",
                    o.certificate.is_none(),
                    "is set but listen.private_key is not (--private-key)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(at(
                    "listen",
                    "private_key",
                    o.private_key.is_none(),
                    "is set but listen.certificate is not (--certificate)".into(),
                ))
            }
        };
        let tls13_session_tickets = match file.listen.tls13_session_tickets {
            None => DEFAULT_TLS13_SESSION_TICKETS,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_TLS13_SESSION_TICKETS)
                .ok_or_else(|| {
                    at(
                        "listen",
                        "tls13_session_tickets",
                        true,
                        format!(
                            "`{n}` is not a number of tickets from 0 (none, the default) \
                             to {MAX_TLS13_SESSION_TICKETS}"
                        ),
                    )
                })?,
        };
        if listen_ldaps.is_some() && tls.is_none() {
            return Err(at(
                "listen",
                "ldaps",
                o.listen_ldaps.is_none(),
                "an LDAPS listener needs listen.certificate and listen.private_key \
                 (--certificate and --private-key)"
                    .into(),
            ));
        }

        let url_texts = if o.upstream.is_empty() {
            file.upstream.urls.clone().unwrap_or_default()
        } else {
            o.upstream.clone()
        };
        let urls_from_file = o.upstream.is_empty();
        if url_texts.is_empty() {
            return Err(ConfigError::new(
                "no upstream directory: give --upstream ldap://host:port or upstream.urls in the config file",
            ));
        }
        let urls = url_texts
            .iter()
            .map(|u| UpstreamUrl::parse(u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| at("upstream", "urls", urls_from_file, m))?;
        let starttls = o.upstream_starttls || file.upstream.starttls.unwrap_or(false);
        if starttls && urls.iter().any(|u| u.tls) {
            return Err(at(
                "upstream",
                "starttls",
                !o.upstream_starttls,
                "applies to ldap:// URLs; an ldaps:// URL already uses TLS".into(),
            ));
        }
        let ca = o
            .upstream_ca
            .clone()
            .or(file.upstream.ca.map(from_file_path));
        if (starttls || urls.iter().any(|u| u.tls)) && ca.is_none() {
            return Err(at(
                "upstream",
                "urls",
                urls_from_file,
                "TLS to the upstream needs upstream.ca (--upstream-ca): pwgate never accepts an unverified certificate".into(),
            ));
        }
        let connect_timeout = file.upstream.connect_timeout_secs.unwrap_or(5);
        if !(1..=3600).contains(&connect_timeout) {
            return Err(at(
                "upstream",
                "connect_timeout_secs",
                true,
                "must be between 1 and 3600 seconds".into(),
            ));
        }
        let connect_timeout = Duration::from_secs(connect_timeout);
        let retry_after = file.upstream.retry_after_secs.unwrap_or(30);
        if retry_after > 86_400 {
            return Err(at(
                "upstream",
                "retry_after_secs",
                true,
                "must be between 0 and 86400 seconds".into(),
            ));
        }
        let retry_after = Duration::from_secs(retry_after);

        let mut p = file.policy;
        if p.name.is_some() || p.dn_suffix.is_some() || p.domain.is_some() || p.member_of.is_some()
        {
            return Err(at(
                "policy",
                if p.name.is_some() {
                    "name"
                } else if p.dn_suffix.is_some() {
                    "dn_suffix"
                } else if p.domain.is_some() {
                    "domain"
                } else {
                    "member_of"
                },
                true,
                "only a [[policy.scope]] has a name, dn_suffix, domain and member_of".into(),
            ));
        }
        let scope_sections = p.scope.take().unwrap_or_default();
        let breached_store = p.breached_store.take().map(&from_file_path);
        let global_base = match p.preset.unwrap_or_default() {
            Preset::Default => Policy::default(),
            Preset::Nist80063b => Policy::nist_800_63b(),
        };
        let policy_error = |key: &str, message: String| at("policy", key, true, message);
        let mut policy = build_policy(&p, global_base, &policy_error, &from_file_path)?;
        policy.breached_fail_open = p.on_store_error == Some(OnStoreError::Allow);
        let mode = o.mode.or(p.mode).unwrap_or_default();
        let mut scopes = Vec::new();
        for (i, section) in scope_sections.into_iter().enumerate() {
            let name = section.name.clone().unwrap_or_default();
            let scope_error = |key: &str, message: String| ConfigError {
                file: path.map(Path::to_owned),
                line: scope_line(source, i),
                message: format!("policy.scope \"{name}\": {key}: {message}"),
            };
            if name.trim().is_empty() {
                return Err(scope_error("name", "every scope needs a name".into()));
            }
            if section.scope.is_some() {
                return Err(scope_error("scope", "scopes do not nest".into()));
            }
            if section.breached_store.is_some() || section.on_store_error.is_some() {
                return Err(scope_error(
                    "breached_store",
                    "the breached-password store is set once, in [policy]".into(),
                ));
            }
            let mut suffixes = Vec::new();
            for d in section.dn_suffix.clone().unwrap_or_default() {
                match crate::dn::normalize(&d) {
                    Some(n) if !n.is_empty() => suffixes.push(n),
                    _ => {
                        return Err(scope_error(
                            "dn_suffix",
                            format!("`{d}` is not a DN pwgate can compare"),
                        ))
                    }
                }
            }
            let mut domains = Vec::new();
            for d in section.domain.clone().unwrap_or_default() {
                match crate::dn::domain_dn(&d) {
                    Ok(dn) => domains.push(ScopeDomain {
                        name: d.strip_suffix('.').unwrap_or(&d).to_ascii_lowercase(),
                        suffix: normalize_dn(&dn),
                    }),
                    Err(why) => {
                        return Err(scope_error(
                            "domain",
                            format!("`{}` is not a DNS domain name: {why}", d.escape_default()),
                        ))
                    }
                }
            }
            let mut member_of = Vec::new();
            for g in section.member_of.clone().unwrap_or_default() {
                member_of.push(Group::parse(&g).map_err(|m| scope_error("member_of", m))?);
            }
            if suffixes.is_empty() && domains.is_empty() && member_of.is_empty() {
                return Err(scope_error(
                    "dn_suffix",
                    "give at least one dn_suffix, domain or member_of group".into(),
                ));
            }
            if scopes.iter().any(|s: &Scope| s.name == name) {
                return Err(scope_error("name", "two scopes have this name".into()));
            }
            let base = match section.preset {
                None => policy.clone(),
                Some(Preset::Default) => Policy::default(),
                Some(Preset::Nist80063b) => Policy::nist_800_63b(),
            };
            let mut scoped = build_policy(&section, base, &scope_error, &from_file_path)?;
            if section.banned_words.is_some() || section.banned_words_file.is_some() {
                // A scope adds its words to the ones it inherits.
                let mut words = policy.banned_words.clone();
                words.merge(&scoped.banned_words);
                scoped.banned_words = words;
            }
            scopes.push(Scope {
                name,
                dn_suffixes: suffixes,
                domains,
                member_of,
                mode: section.mode.unwrap_or(mode),
                policy: scoped,
            });
        }
        let max_message_bytes = file
            .limits
            .max_message_bytes
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if !(1024..=1 << 30).contains(&max_message_bytes) {
            return Err(at(
                "limits",
                "max_message_bytes",
                true,
                "must be between 1024 and 1073741824".into(),
            ));
        }
        let max_connections = file
            .limits
            .max_connections
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 || max_connections > 1_000_000 {
            return Err(at(
                "limits",
                "max_connections",
                true,
                "must be between 1 and 1000000".into(),
            ));
        }

        let metrics_listen = addr(
            "metrics",
            "listen",
            o.metrics_listen.as_ref(),
            file.metrics.listen,
        )?;
        let log_level = o.log_level.clone().or(file.log.level);
        if let Some(level) = &log_level {
            if let Err(e) = tracing_subscriber::EnvFilter::try_new(level) {
                return Err(at(
                    "log",
                    "level",
                    o.log_level.is_none(),
                    format!("invalid log level `{level}`: {e}"),
                ));
            }
        }

        let l = &file.limits;
        let max_outstanding = l
            .max_outstanding_per_connection
            .unwrap_or(DEFAULT_MAX_OUTSTANDING);
        if !(1..=65536).contains(&max_outstanding) {
            return Err(at(
                "limits",
                "max_outstanding_per_connection",
                true,
                "must be between 1 and 65536".into(),
            ));
        }
        let seconds = |key: &str, value: Option<u64>, default: u64, zero_ok: bool| {
            let v = value.unwrap_or(default);
            if (v == 0 && !zero_ok) || v > 86_400 {
                let range = if zero_ok { "0 (never)" } else { "1" };
                return Err(at(
                    "limits",
                    key,
                    true,
                    format!("must be between {range} and 86400 seconds"),
                ));
            }
            Ok(Duration::from_secs(v))
        };
        let idle = seconds(
            "idle_timeout_secs",
            l.idle_timeout_secs,
            DEFAULT_IDLE_TIMEOUT_SECS,
            true,
        )?;
        let message_timeout = seconds(
            "message_timeout_secs",
            l.message_timeout_secs,
            DEFAULT_MESSAGE_TIMEOUT_SECS,
            false,
        )?;
        let write_timeout = seconds(
            "write_timeout_secs",
            l.write_timeout_secs,
            DEFAULT_WRITE_TIMEOUT_SECS,
            false,
        )?;
        let tls_handshake_timeout = seconds(
            "tls_handshake_timeout_secs",
            l.tls_handshake_timeout_secs,
            10,
            false,
        )?;

        let upstream = UpstreamConfig {
            urls,
            flavor: o.flavor.or(file.upstream.flavor).unwrap_or_default(),
            ca,
            starttls,
            connect_timeout,
            retry_after,
        };
        let protected = accounts::protected(file.protected.unwrap_or_default(), source, path)?;
        let sync = sync::targets(file.sync.unwrap_or_default(), source, path, &from_file_path)?;
        let sync_attributes: Vec<String> =
            sync.iter().flat_map(|t| t.locate.placeholders()).collect();
        let directory = match file.directory {
            Some(d) => {
                let err = |key: &str, message: String| at("directory", key, true, message);
                Some(accounts::directory(
                    d,
                    &upstream,
                    &sync_attributes,
                    &err,
                    &from_file_path,
                )?)
            }
            None => None,
        };
        if directory.is_none() {
            if let Some(scope) = scopes.iter().find(|s| !s.member_of.is_empty()) {
                return Err(ConfigError {
                    file: path.map(Path::to_owned),
                    line: None,
                    message: format!(
                        "policy.scope \"{}\": member_of needs a [directory] section \
                         (the lookup account that resolves group membership)",
                        scope.name
                    ),
                });
            }
            if let Some(t) = sync.iter().find(|t| !t.member_of.is_empty()) {
                return Err(ConfigError {
                    file: path.map(Path::to_owned),
                    line: None,
                    message: format!(
                        "sync \"{}\": member_of needs a [directory] section \
                         (the lookup account that resolves group membership)",
                        t.name
                    ),
                });
            }
            if !protected.is_empty() {
                return Err(ConfigError {
                    file: path.map(Path::to_owned),
                    line: accounts::array_table_line(source, "protected", 0),
                    message: "[[protected]] needs a [directory] section \
                              (the lookup account that resolves group membership)"
                        .into(),
                });
            }
        }

        let audit = {
            let a = &file.audit;
            let sink = match a.file.as_deref() {
                None => None,
                Some("-") => Some(crate::audit::trail::Sink::Stdout),
                Some("") => {
                    return Err(at(
                        "audit",
                        "file",
                        true,
                        "give a path, or - for stdout".into(),
                    ))
                }
                Some(p) => Some(crate::audit::trail::Sink::File(from_file_path(
                    PathBuf::from(p),
                ))),
            };
            let chain = a.chain.unwrap_or(false);
            if chain && sink.is_none() {
                return Err(at("audit", "chain", true, "needs audit.file".into()));
            }
            let every = a.summary_interval_secs.unwrap_or(86_400);
            if every != 0 && !(60..=7 * 86_400).contains(&every) {
                return Err(at(
                    "audit",
                    "summary_interval_secs",
                    true,
                    "must be 0 (off) or between 60 and 604800 seconds".into(),
                ));
            }
            AuditConfig {
                sink,
                syslog: a.syslog.clone(),
                chain,
                summary_interval: (every != 0).then(|| Duration::from_secs(every)),
            }
        };

        let service = service::service(
            file.service,
            tls.as_ref(),
            &|key: &str, message: String| at("service", key, true, message),
            &from_file_path,
        )?;

        Ok(Config {
            listen_ldap,
            listen_ldaps,
            tls,
            tls13_session_tickets,
            allow_cleartext_password_changes: o.allow_cleartext_password_changes
                || file
                    .listen
                    .allow_cleartext_password_changes
                    .unwrap_or(false),
            allow_cleartext_binds: o.allow_cleartext_binds
                || file.listen.allow_cleartext_binds.unwrap_or(false),
            allow_sasl_security_layers: file.listen.allow_sasl_security_layers.unwrap_or(false),
            workers,
            upstream,
            mode,
            policy,
            scopes,
            breached_store,
            allow_prehashed: p.allow_prehashed.unwrap_or(false),
            limits: Limits {
                max_message_bytes,
                max_connections,
                max_outstanding_per_connection: max_outstanding,
                tls_handshake_timeout,
                idle_timeout: (!idle.is_zero()).then_some(idle),
                message_timeout,
                write_timeout,
            },
            log_format: o.log_format.or(file.log.format).unwrap_or_default(),
            log_level,
            metrics_listen,
            directory,
            protected,
            sync,
            audit,
            service,
        })
    }
}

impl Config {
    /// The effective settings in plain words, one per line, for
    /// `pwgate config check`. Contains no secret.
    pub fn describe(&self) -> String {
        let on_off = |b: bool| if b { "on" } else { "off" };
        let addr = |a: Option<SocketAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
        let p = &self.policy;
        let urls: Vec<String> = self.upstream.urls.iter().map(|u| u.to_string()).collect();
        let mut lines = vec![
            format!(
                "listen ldap: {} (StartTLS {})",
                addr(self.listen_ldap),
                on_off(self.tls.is_some())
            ),
            format!("listen ldaps: {}", addr(self.listen_ldaps)),
            match (&self.tls, self.tls13_session_tickets) {
                (None, _) => "client TLS: off (no certificate)".to_owned(),
                (Some(_), 0) => {
                    "client TLS: TLS 1.2 and 1.3, no TLS 1.3 session tickets".to_owned()
                }
                (Some(_), n) => {
                    format!(
                        "client TLS: TLS 1.2 and 1.3, {n} TLS 1.3 session tickets per handshake"
                    )
                }
            },
            if self.workers == 0 {
                "workers: one per CPU".to_owned()
            } else {
                format!("workers: {}", self.workers)
            },
            format!(
                "upstream: {} ({:?}, StartTLS {}, CA {})",
                urls.join(", "),
                self.upstream.flavor,
                on_off(self.upstream.starttls),
                self.upstream
                    .ca
                    .as_ref()
                    .map_or("-".to_owned(), |c| c.display().to_string())
            ),
            format!("mode: {:?}", self.mode),
            format!(
                "cleartext password changes: {}",
                if self.allow_cleartext_password_changes {
                    "allowed"
                } else {
                    "refused (13)"
                }
            ),
            format!(
                "cleartext simple binds: {}",
                if self.allow_cleartext_binds {
                    "allowed"
                } else {
                    "refused (13)"
                }
            ),
            "policy:".to_owned(),
            format!("  [length] {} to {} characters", p.min_length, p.max_length),
        ];
        lines.push(match p.complexity {
            Some(c) => format!(
                "  [complexity] {} of 4 classes under {} characters",
                c.classes, c.until_length
            ),
            None => "  [complexity] off".to_owned(),
        });
        let r = &p.required_classes;
        lines.push(format!(
            "  [character_classes] at least: lower {}, upper {}, digit {}, symbol {}, other {}",
            r.lower, r.upper, r.digit, r.symbol, r.other
        ));
        lines.push(match p.max_repeat {
            0 => "  [max_repeat] off".to_owned(),
            n => format!("  [max_repeat] at most {n} of one character in a row"),
        });
        lines.push(format!(
            "  [banned_word] built-in list {}, {} configured terms; refused under {} points",
            on_off(p.builtin_banned_words),
            p.banned_words.len(),
            p.min_score
        ));
        let pt = &p.patterns;
        lines.push(format!(
            "  [keyboard_walk] {}, [sequence] {}, [repetition] {}, [date] {}",
            on_off(pt.keyboard_walks),
            on_off(pt.sequences),
            on_off(pt.repetitions),
            on_off(pt.dates)
        ));
        lines.push(format!(
            "  [common_password] built-in list {}",
            on_off(p.common_passwords)
        ));
        lines.push(format!("  [account_name] {}", on_off(p.check_account_name)));
        lines.push(format!(
            "  [organisation_name] {}",
            on_off(p.check_organisation_name)
        ));
        lines.push(match p.old_password_max_distance {
            Some(d) => format!("  [similar_to_old] on, within {d} edits"),
            None => "  [similar_to_old] off".to_owned(),
        });
        lines.push(format!("  [self_reset] {}", on_off(p.refuse_self_reset)));
        lines.push(format!(
            "  [strength] {}",
            p.strength.map_or("off".to_owned(), |s| match s.estimator {
                crate::policy::rules::strength::Estimator::Pwgate => format!(
                    "pwgate estimator, score at least {} (first {} characters estimated, \
                     each further one counted as 10 guesses)",
                    s.min_score, s.max_chars
                ),
                crate::policy::rules::strength::Estimator::Zxcvbn => format!(
                    "zxcvbn estimator, score at least {} (passwords up to {} characters; \
                     longer ones not estimated)",
                    s.min_score, s.max_chars
                ),
            })
        ));
        lines.push(format!(
            "  [breached] {}",
            match &self.breached_store {
                Some(path) => format!(
                    "store {} (on error: {})",
                    path.display(),
                    if p.breached_fail_open {
                        "allow"
                    } else {
                        "refuse"
                    }
                ),
                None => "no store configured".to_owned(),
            }
        ));
        lines.push(format!(
            "  [prehashed] {}",
            if self.allow_prehashed {
                "allowed"
            } else {
                "refused"
            }
        ));
        for scope in &self.scopes {
            let p = &scope.policy;
            let mut applies = Vec::new();
            // dn_suffix and domain values are alternatives (any one of them).
            let mut under: Vec<String> = scope.dn_suffixes.clone();
            under.extend(
                scope
                    .domains
                    .iter()
                    .map(|d| format!("{} (domain {})", d.suffix, d.name)),
            );
            if !under.is_empty() {
                applies.push(format!("DNs under: {}", under.join(" | ")));
            }
            if !scope.member_of.is_empty() {
                let groups: Vec<&str> = scope.member_of.iter().map(|g| g.dn.as_str()).collect();
                applies.push(format!("members of: {}", groups.join(" | ")));
            }
            lines.push(format!(
                "scope {:?} (mode {:?}) for {}",
                scope.name,
                scope.mode,
                applies.join(" and ")
            ));
            lines.push(format!(
                "  [length] {} to {}, [complexity] {}, [banned_word] {} configured terms, min score {}, [self_reset] {}",
                p.min_length,
                p.max_length,
                p.complexity
                    .map_or("off".to_owned(), |c| format!("{} classes under {}", c.classes, c.until_length)),
                p.banned_words.len(),
                p.min_score,
                on_off(p.refuse_self_reset)
            ));
        }
        match &self.directory {
            Some(d) => lines.push(format!(
                "directory lookups: {} as {} (timeout {} s, cache {} s, membership {}, on error {}), attributes: {}",
                d.endpoint.describe_urls(),
                d.endpoint.bind_dn.as_deref().unwrap_or("anonymous"),
                d.endpoint.timeout.as_secs(),
                d.cache_ttl.as_secs(),
                match d.membership {
                    crate::directory::Membership::InChain => "in_chain (nested, by the DC)".to_owned(),
                    crate::directory::Membership::Member => "member (direct only)".to_owned(),
                    crate::directory::Membership::Nested => format!(
                        "nested (by pwgate: up to {} levels and {} groups, searched under {})",
                        d.nesting.max_depth,
                        d.nesting.max_groups,
                        d.nesting
                            .search_base
                            .as_deref()
                            .unwrap_or("the account's dc= components")
                    ),
                },
                if d.fail_open { "allow" } else { "refuse" },
                d.attributes.join(" ")
            )),
            None => lines.push("directory lookups: off (names from the DN and the request only)".into()),
        }
        for p in &self.protected {
            let by: Vec<&str> = p.reset_by.iter().map(|g| g.dn.as_str()).collect();
            lines.push(format!(
                "protected: members of {} may be reset only by {}",
                p.group.dn,
                if by.is_empty() {
                    "nobody".to_owned()
                } else {
                    format!("members of {}", by.join(" | "))
                }
            ));
        }
        for t in &self.sync {
            lines.push(t.describe());
        }
        lines.push(format!(
            "audit: {}{}, summary {}",
            match &self.audit.sink {
                None => "log only".to_owned(),
                Some(crate::audit::trail::Sink::Stdout) => "log and stdout".to_owned(),
                Some(crate::audit::trail::Sink::File(p)) => format!("log and {}", p.display()),
            },
            match (&self.audit.syslog, self.audit.chain) {
                (Some(p), true) => format!(" (hash chain) and syslog {}", p.display()),
                (Some(p), false) => format!(" and syslog {}", p.display()),
                (None, true) => " (hash chain)".to_owned(),
                (None, false) => String::new(),
            },
            self.audit
                .summary_interval
                .map_or("off".to_owned(), |d| format!("every {} s", d.as_secs()))
        ));
        lines.push(match &self.service {
            Some(service) => service.describe(),
            None => "decision service: off".to_owned(),
        });
        let l = &self.limits;
        lines.push(format!(
            "limits: message {} bytes, {} connections, {} outstanding per connection, idle {}, message {} s, write {} s, TLS handshake {} s",
            l.max_message_bytes,
            l.max_connections,
            l.max_outstanding_per_connection,
            l.idle_timeout.map_or("never".to_owned(), |d| format!("{} s", d.as_secs())),
            l.message_timeout.as_secs(),
            l.write_timeout.as_secs(),
            l.tls_handshake_timeout.as_secs()
        ));
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }
}

/// A configuration from `text`, as if read from `pwgate.toml` with no
/// flags: how the tests of the configuration (and of scope choice) load one.
#[cfg(test)]
pub(crate) fn load_str(text: &str) -> Result<Config, ConfigError> {
    let path = Path::new("pwgate.toml");
    let file = FileConfig::parse(text, path)?;
    Config::from_parts(file, text, Some(path), &Overrides::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict of `policy` on `password` as a reset with no names.
    fn evaluate(policy: &Policy, password: &str) -> crate::policy::Verdict {
        let pw = crate::secret::Password::new(password.to_owned());
        policy.evaluate(&crate::policy::PasswordChange {
            kind: crate::policy::ChangeKind::Reset,
            new_password: &pw,
            old_password: None,
            account_names: &[],
            organisation_names: &[],
            actor_is_target: false,
        })
    }

    #[test]
    fn tls13_session_tickets_default_to_none_and_are_bounded() {
        let up = "[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n";
        let c = load_str(up).unwrap();
        assert_eq!(c.tls13_session_tickets, 0);
        assert!(c.describe().contains("client TLS: off"), "{}", c.describe());
        let c = load_str(&format!(
            "[listen]\ncertificate = \"c.crt\"\nprivate_key = \"c.key\"\n{up}"
        ))
        .unwrap();
        assert!(
            c.describe()
                .contains("client TLS: TLS 1.2 and 1.3, no TLS 1.3 session tickets"),
            "{}",
            c.describe()
        );
        let c = load_str(&format!(
            "[listen]\ncertificate = \"c.crt\"\nprivate_key = \"c.key\"\ntls13_session_tickets = 2\n{up}"
        ))
        .unwrap();
        assert_eq!(c.tls13_session_tickets, 2);
        assert!(
            c.describe()
                .contains("2 TLS 1.3 session tickets per handshake"),
            "{}",
            c.describe()
        );
        for bad in ["-1", "9", "100000"] {
            let e = load_str(&format!("[listen]\n\ntls13_session_tickets = {bad}\n{up}"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(":3:")
                    && e.contains("listen.tls13_session_tickets")
                    && e.contains(&format!(
                        "`{bad}` is not a number of tickets from 0 (none, the default) to 8"
                    )),
                "{e}"
            );
        }
        let e = load_str(&format!("[listen]\ntls13_session_tickets = \"none\"\n{up}"))
            .unwrap_err()
            .to_string();
        // A type error, like any other key's: the serde message and the line.
        assert!(e.contains(":2:") && e.contains("invalid type"), "{e}");
    }

    #[test]
    fn workers_default_to_one_per_cpu_and_are_bounded() {
        let c = load_str("[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n").unwrap();
        assert_eq!(c.workers, 0);
        assert!(c.describe().contains("workers: one per CPU"));
        let c = load_str("[listen]\nworkers = 3\n[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n")
            .unwrap();
        assert_eq!(c.workers, 3);
        let e = load_str(
            "[listen]\nworkers = 100000\n[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":2:") && e.contains("listen.workers"), "{e}");
    }

    #[test]
    fn unknown_key_is_reported_with_its_line() {
        let err =
            load_str("[upstream]\nurls = [\"ldap://127.0.0.1:389\"]\n\n[policy]\nminlength = 3\n")
                .unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert!(
            err.to_string()
                .starts_with("pwgate.toml:5: unknown field `minlength`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_is_reported_with_its_line() {
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_length = \"twelve\"\n")
                .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn semantic_errors_name_the_key_and_line() {
        let err = load_str("[upstream]\nurls = [\"ftp://h\"]\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("ldap:// or ldaps://"), "{err}");
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_length = 0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "pwgate.toml:4: policy.min_length: must be at least 1"
        );
    }

    #[test]
    fn errors_blame_the_key_the_user_wrote() {
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_length = 300\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pwgate.toml:4: policy.min_length: must be at most max_length (256)"
        );
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[log]\nlevel = \"loud=[\"\n").unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(
            err.message.starts_with("log.level: invalid log level"),
            "{err}"
        );
    }

    #[test]
    fn nist_preset_and_class_settings() {
        let c =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\npreset = \"nist-800-63b\"\n")
                .unwrap();
        assert_eq!(c.policy.min_length, 15);
        assert_eq!(c.policy.complexity, None);
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[policy]\npreset = \"nist-800-63b\"\nmin_length = 16\n\
             complexity_classes = 4\nmax_repeat = 3\ncheck_old_password = false\n[policy.require]\ndigit = 2\n",
        )
        .unwrap();
        assert_eq!(c.policy.min_length, 16);
        assert_eq!(
            c.policy.complexity,
            Some(LengthComplexity {
                classes: 4,
                until_length: 15
            })
        );
        assert_eq!(c.policy.required_classes.digit, 2);
        assert_eq!(c.policy.max_repeat, 3);
        assert_eq!(c.policy.old_password_max_distance, None);
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\npreset = \"strict\"\n")
            .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy.require]\ndigits = 1\n")
            .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn rule_messages_can_be_replaced_by_rule_id() {
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[policy.messages]\nlength = \"Use 12 or more characters: a sentence works well.\"\n",
        )
        .unwrap();
        let v = evaluate(&c.policy, "Kq7-1xZ");
        assert_eq!(
            v.explanation().unwrap(),
            "password rejected by policy: Use 12 or more characters: a sentence works well. [length]"
        );
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy.messages]\nlenght = \"x\"\n")
                .unwrap_err();
        assert!(err.message.contains("unknown rule id `lenght`"), "{err}");
        assert_eq!(err.line, Some(3), "{err}");
    }

    #[test]
    fn a_scope_needs_a_condition_and_a_valid_policy() {
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[[policy.scope]]\nname = \"x\"\n")
            .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("dn_suffix"), "{err}");
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[[policy.scope]]\nname = \"x\"\ndn_suffix = [\"dc=x\"]\nmin_length = 0\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("policy.scope \"x\": min_length: must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn regex_rules_from_the_config() {
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[[policy.regex]]\nname = \"ticker\"\ndeny = \"(?i)acme\"\nmessage = \"must not name the company\"\n",
        )
        .unwrap();
        let v = evaluate(&c.policy, "We-love-Acme-forever-9");
        assert_eq!(v.rule_ids(), "regex");
        assert!(v
            .explanation()
            .unwrap()
            .contains("must not name the company (ticker) [regex]"));
        let err = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[[policy.regex]]\nname = \"x\"\ndeny = \"(\"\n",
        )
        .unwrap_err();
        assert!(err.message.contains("invalid pattern"), "{err}");
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[[policy.regex]]\nname = \"x\"\n")
            .unwrap_err();
        assert!(err.message.contains("exactly one of"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let text = "[upstream]\nurls = [\"ldap://file:389\"]\nflavor = \"openldap\"\n";
        let file = FileConfig::parse(text, Path::new("x.toml")).unwrap();
        let o = Overrides {
            upstream: vec!["ldap://flag:3389".into()],
            flavor: Some(Flavor::ActiveDirectory),
            ..Overrides::default()
        };
        let c = Config::from_parts(file, text, Some(Path::new("x.toml")), &o).unwrap();
        assert_eq!(c.upstream.urls[0].host, "flag");
        assert_eq!(c.upstream.flavor, Flavor::ActiveDirectory);
    }

    #[test]
    fn tls_and_timeout_errors_name_their_line() {
        let err = load_str("[upstream]\nurls = [\"ldaps://dc1:636\"]\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err = load_str(
            "[upstream]\nurls = [\"ldaps://dc1:636\"]\nca = \"ca.crt\"\nstarttls = true\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        let err =
            load_str("[listen]\ncertificate = \"c.crt\"\n[upstream]\nurls = [\"ldap://h\"]\n")
                .unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\nconnect_timeout_secs = 0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "pwgate.toml:3: upstream.connect_timeout_secs: must be between 1 and 3600 seconds"
        );
    }

    #[test]
    fn tls_upstream_requires_a_ca() {
        let err = load_str("[upstream]\nurls = [\"ldaps://dc1:636\"]\n").unwrap_err();
        assert!(err.message.contains("upstream.ca"), "{err}");
    }

    #[test]
    fn no_config_means_default_policy_and_listener() {
        let o = Overrides {
            upstream: vec!["ldap://127.0.0.1:3389".into()],
            ..Overrides::default()
        };
        let c = Config::from_parts(FileConfig::default(), "", None, &o).unwrap();
        assert_eq!(c.listen_ldap, Some(DEFAULT_LISTEN.parse().unwrap()));
        assert_eq!(c.policy.min_length, 12);
        assert_eq!(c.mode, Mode::Enforce);
        assert!(!c.allow_cleartext_password_changes);
    }

    #[test]
    fn group_scopes_and_protected_accounts_need_a_directory() {
        let err = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[[policy.scope]]\nname = \"admins\"\n\
             member_of = [\"cn=admins,dc=x\"]\nmin_length = 20\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("member_of needs a [directory] section"),
            "{err}"
        );
        let err = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n\n[[protected]]\ngroup = \"cn=admins,dc=x\"\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(
            err.to_string()
                .contains("[[protected]] needs a [directory]"),
            "{err}"
        );
    }

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
    fn bad_domains_are_reported_with_the_line_of_their_scope() {
        for (domain, why) in [
            ("corp..contoso.com", "empty label"),
            ("corp_x.contoso.com", "letters, digits and hyphens"),
            ("DC=contoso,DC=com", "letters, digits and hyphens"),
            ("-corp.contoso.com", "hyphen"),
            ("192.168.0.1", "not a DNS domain name"),
            ("", "the name is empty"),
        ] {
            let err = load_str(&format!(
                "[upstream]\nurls = [\"ldap://h\"]\n\n[[policy.scope]]\nname = \"d\"\ndomain = [\"{domain}\"]\n"
            ))
            .unwrap_err();
            assert_eq!(err.line, Some(4), "{domain}: {err}");
            let text = err.to_string();
            assert!(
                text.starts_with("pwgate.toml:4: policy.scope \"d\": domain: `")
                    && text.contains("is not a DNS domain name")
                    && text.contains(why),
                "{domain}: {text}"
            );
        }
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\ndomain = [\"contoso.com\"]\n")
                .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.message.contains("only a [[policy.scope]]"), "{err}");
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

    #[test]
    fn the_strength_estimate_is_configured_and_bounded() {
        use crate::policy::rules::strength::{Estimator, Strength};
        let c = load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_strength_score = 3\n")
            .unwrap();
        assert_eq!(
            c.policy.strength,
            Some(Strength {
                estimator: Estimator::Pwgate,
                min_score: 3,
                max_chars: 64
            })
        );
        assert!(c.describe().contains(
            "[strength] pwgate estimator, score at least 3 (first 64 characters estimated"
        ));
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_strength_score = 3\n\
             strength_estimator = \"zxcvbn\"\n",
        )
        .unwrap();
        assert_eq!(c.policy.strength, Some(Strength::new(Estimator::Zxcvbn, 3)));
        assert_eq!(c.policy.strength.map(|s| s.max_chars), Some(32));
        assert!(c.describe().contains(
            "[strength] zxcvbn estimator, score at least 3 (passwords up to 32 characters"
        ));
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_strength_score = 4\n\
             strength_estimator = \"zxcvbn\"\nstrength_max_chars = 40\n\
             [[policy.scope]]\nname = \"a\"\ndn_suffix = [\"dc=a\"]\n\
             strength_estimator = \"pwgate\"\n",
        )
        .unwrap();
        assert_eq!(c.policy.strength.map(|s| s.max_chars), Some(40));
        let scope = &c.scopes[0].policy;
        assert_eq!(scope.strength, Some(Strength::new(Estimator::Pwgate, 4)));
        for (text, want) in [
            (
                "strength_estimator = \"zxcvbn\"\n",
                "needs min_strength_score",
            ),
            (
                "min_strength_score = 3\nstrength_estimator = \"other\"\n",
                "unknown variant",
            ),
        ] {
            let err = load_str(&format!(
                "[upstream]\nurls = [\"ldap://h\"]\n[policy]\n{text}"
            ))
            .unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        let err = load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_strength_score = 5\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("min_strength_score: must be between 0 (off) and 4"),
            "{err}"
        );
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nstrength_max_chars = 40\n")
                .unwrap_err();
        assert!(
            err.to_string().contains("needs min_strength_score"),
            "{err}"
        );
        let c = load_str("[upstream]\nurls = [\"ldap://h\"]\n").unwrap();
        assert_eq!(c.policy.strength, None, "off by default");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    #[test]
    fn the_documented_example_config_is_valid() {
        let text = include_str!("../examples/pwgate.toml");
        let path = Path::new("examples/pwgate.toml");
        let file = FileConfig::parse(text, path).expect("example parses");
        let c = Config::from_parts(file, text, Some(path), &Overrides::default())
            .expect("example validates");
        assert_eq!(c.policy.min_length, 12);
        assert!(c.tls.is_some());
        assert_eq!(c.upstream.urls.len(), 1);
    }

    /// The deployment examples, with their /etc paths moved into a temp
    /// dir holding the files the configuration reads (secrets, word lists).
    #[test]
    fn the_deployment_examples_are_valid() {
        for (name, text) in [
            (
                "active-directory.toml",
                include_str!("../examples/active-directory.toml"),
            ),
            ("openldap.toml", include_str!("../examples/openldap.toml")),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let root = format!("{}/", dir.path().display());
            for f in ["lookup.secret", "sync-linux.secret", "banned-words.txt"] {
                std::fs::write(dir.path().join(f), "not-a-real-secret\n").unwrap();
            }
            let text = text.replace("/etc/pwgate/", &root);
            let path = Path::new(name);
            let file = FileConfig::parse(&text, path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let c = Config::from_parts(file, &text, Some(path), &Overrides::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(c.directory.is_some(), "{name}");
            assert!(!c.describe().contains("not-a-real-secret"), "{name}");
        }
    }
}
