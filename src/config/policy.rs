//! `[policy]` and its `[[policy.scope]]`s: the rules a new password must
//! pass, globally and for the accounts under some DNs or in some groups.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, Source};
use super::overrides::{Mode, Overrides};
use crate::directory::Group;
use crate::dn::normalize_dn;
use crate::policy::rules::banned::BannedWords;
use crate::policy::rules::classes::{ClassRequirements, LengthComplexity};
use crate::policy::rules::patterns::PatternOptions;
use crate::policy::rules::regex::RegexRule;
use crate::policy::Policy;

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

/// `[policy]` and its scopes, validated (the fields of the same names in
/// [`super::Config`]).
pub(super) struct Policies {
    pub policy: Policy,
    pub mode: Mode,
    pub scopes: Vec<Scope>,
    pub breached_store: Option<PathBuf>,
    pub allow_prehashed: bool,
}

/// Validates `[policy]`, then each `[[policy.scope]]` on top of it: a scope
/// starts from the global policy (or its own preset) and adds its banned
/// words to the inherited ones.
pub(super) fn policy(
    mut p: PolicySection,
    o: &Overrides,
    src: &Source,
) -> Result<Policies, ConfigError> {
    if p.name.is_some() || p.dn_suffix.is_some() || p.domain.is_some() || p.member_of.is_some() {
        return Err(src.at(
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
    let breached_store = p.breached_store.take().map(|p| src.resolve(p));
    let global_base = match p.preset.unwrap_or_default() {
        Preset::Default => Policy::default(),
        Preset::Nist80063b => Policy::nist_800_63b(),
    };
    let from_file_path = |p: PathBuf| src.resolve(p);
    let policy_error = |key: &str, message: String| src.at("policy", key, true, message);
    let mut policy = build_policy(&p, global_base, &policy_error, &from_file_path)?;
    policy.breached_fail_open = p.on_store_error == Some(OnStoreError::Allow);
    let mode = o.mode.or(p.mode).unwrap_or_default();
    let mut scopes = Vec::new();
    for (i, section) in scope_sections.into_iter().enumerate() {
        let name = section.name.clone().unwrap_or_default();
        let scope_error = |key: &str, message: String| ConfigError {
            file: src.path.map(Path::to_owned),
            line: scope_line(src.text, i),
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
    Ok(Policies {
        policy,
        mode,
        scopes,
        breached_store,
        allow_prehashed: p.allow_prehashed.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

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
