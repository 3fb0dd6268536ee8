//! Which policy decides for an account: a `[[policy.scope]]` chosen by the
//! account's DN and groups, else the global policy.

use crate::config::{Config, Mode};
use crate::directory::{Account, Group};
use crate::dn::{dn_is_under, normalize_dn};
use crate::policy::Policy;

/// The policy that decides, its mode and the scope's name (`default` for
/// the global policy).
#[derive(Clone, Copy)]
pub struct Scoped<'c> {
    pub name: &'c str,
    pub policy: &'c Policy,
    pub mode: Mode,
}

/// The scope that applies to an account, else the global policy (scope
/// name `default`). Among the scopes that apply (the DN under one of its
/// suffixes, `dn_suffix` or `domain`, if it has any; the account in one of
/// its groups, if it has any), one with groups wins over one without, then
/// the longest matching suffix, then the first in the file.
pub fn choose<'c>(
    config: &'c Config,
    target_dn: Option<&str>,
    account: Option<&Account>,
) -> Scoped<'c> {
    let global = Scoped {
        name: "default",
        policy: &config.policy,
        mode: config.mode,
    };
    let Some(dn) = target_dn.map(normalize_dn) else {
        return global;
    };
    // (has a group condition, longest matching suffix); the first scope
    // in file order wins a tie.
    let mut best: Option<((bool, usize), &crate::config::Scope)> = None;
    for scope in &config.scopes {
        let suffix_len = if scope.suffixes().next().is_none() {
            Some(0)
        } else {
            scope
                .suffixes()
                .filter(|suffix| dn_is_under(&dn, suffix))
                .map(str::len)
                .max()
        };
        let Some(suffix_len) = suffix_len else {
            continue;
        };
        let in_group = scope.member_of.is_empty()
            || account.is_some_and(|a| scope.member_of.iter().any(|g| a.member_of(g)));
        if !in_group {
            continue;
        }
        let rank = (!scope.member_of.is_empty(), suffix_len);
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, scope));
        }
    }
    match best {
        Some((_, scope)) => Scoped {
            name: &scope.name,
            policy: &scope.policy,
            mode: scope.mode,
        },
        None => global,
    }
}

/// Whether pwgate can tell which scope a DN is in. With scopes, a DN with
/// attribute types pwgate does not know how the directory compares could
/// be a spelling that escapes its scope.
pub fn comparable(config: &Config, dn: &str) -> bool {
    config.scopes.is_empty() || crate::dn::uses_known_types(dn)
}

/// The groups a decision needs to know the target's membership of: those
/// of scopes, protected accounts and sync targets, each once.
pub fn target_groups(config: &Config) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let all = config
        .scopes
        .iter()
        .flat_map(|s| s.member_of.iter())
        .chain(config.protected.iter().map(|p| &p.group))
        .chain(config.sync.iter().flat_map(|t| t.member_of.iter()));
    for g in all {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    groups
}
