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
    // Without scopes there is nothing to compare the DN with.
    if config.scopes.is_empty() {
        return global;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    #[test]
    fn the_longest_matching_scope_decides() {
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmode = \"audit\"\n\
             [[policy.scope]]\nname = \"staff\"\ndn_suffix = [\"ou=people,dc=example,dc=com\"]\nmin_length = 14\n\
             [[policy.scope]]\nname = \"admins\"\ndn_suffix = [\"OU=Admins, OU=People, DC=example, DC=com\"]\nmin_length = 20\nmode = \"enforce\"\n",
        )
        .unwrap();
        let pick = |dn: &str| {
            let (name, policy, mode) = {
                let s = choose(&c, Some(dn), None);
                (s.name, s.policy, s.mode)
            };
            (name.to_owned(), policy.min_length, mode)
        };
        assert_eq!(
            pick("uid=a,ou=people,dc=example,dc=com"),
            ("staff".into(), 14, Mode::Audit)
        );
        assert_eq!(
            pick("uid=b,ou=admins,ou=people,dc=example,dc=com"),
            ("admins".into(), 20, Mode::Enforce)
        );
        assert_eq!(
            pick("uid=c,ou=apeople,dc=example,dc=com"),
            ("default".into(), 12, Mode::Audit)
        );
        assert_eq!(choose(&c, None, None).name, "default");
    }

    #[test]
    fn a_group_scope_wins_over_a_suffix_scope_and_needs_membership() {
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[directory]\nallow_cleartext = true\n\
             [[policy.scope]]\nname = \"people\"\ndn_suffix = [\"ou=people,dc=x\"]\nmin_length = 14\n\
             [[policy.scope]]\nname = \"admins\"\nmember_of = [\"CN=Admins,DC=x\"]\nmin_length = 20\n",
        )
        .unwrap();
        let dn = Some("uid=a,ou=people,dc=x");
        assert_eq!(choose(&c, dn, None).name, "people");
        let mut member = Account::default();
        member.groups.insert(normalize_dn("cn=admins,dc=x"), true);
        assert_eq!(choose(&c, dn, Some(&member)).name, "admins");
        let mut not_member = Account::default();
        not_member
            .groups
            .insert(normalize_dn("cn=admins,dc=x"), false);
        assert_eq!(choose(&c, dn, Some(&not_member)).name, "people");
        assert_eq!(target_groups(&c).len(), 1);
        assert!(
            c.describe().contains("members of: CN=Admins,DC=x"),
            "{}",
            c.describe()
        );
    }

    #[test]
    fn a_domain_scope_is_the_dn_suffix_of_its_dc_components() {
        let c = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[directory]\nallow_cleartext = true\n\
             [[policy.scope]]\nname = \"forest\"\ndomain = [\"contoso.com\"]\nmin_length = 13\n\
             [[policy.scope]]\nname = \"corp\"\ndomain = [\"Corp.Contoso.com.\", \"emea.contoso.com\"]\nmin_length = 14\n\
             [[policy.scope]]\nname = \"corp-admins-ou\"\ndn_suffix = [\"OU=Admins,DC=corp,DC=contoso,DC=com\"]\nmin_length = 16\n\
             [[policy.scope]]\nname = \"corp-admins\"\ndomain = [\"corp.contoso.com\"]\nmember_of = [\"CN=Domain Admins,CN=Users,DC=corp,DC=contoso,DC=com\"]\nmin_length = 20\n\
             [[policy.scope]]\nname = \"same-as-corp\"\ndn_suffix = [\"dc=corp,dc=contoso,dc=com\"]\nmin_length = 30\n",
        )
        .unwrap();
        let scope =
            |dn: &str, account: Option<&Account>| choose(&c, Some(dn), account).name.to_owned();
        // The longest suffix wins: a child domain's scope beats its parent's...
        assert_eq!(
            scope("CN=Ann,CN=Users,DC=corp,DC=contoso,DC=com", None),
            "corp"
        );
        assert_eq!(scope("cn=bo,ou=x,dc=EMEA,dc=contoso,dc=com", None), "corp");
        // ...and the parent's covers every other account under its DN,
        // child domains without a scope of their own included.
        assert_eq!(scope("CN=Cy,CN=Users,DC=contoso,DC=com", None), "forest");
        assert_eq!(scope("CN=Di,DC=apac,DC=contoso,DC=com", None), "forest");
        // An OU inside the domain is a longer suffix still.
        assert_eq!(
            scope("CN=Ed,OU=Admins,DC=corp,DC=contoso,DC=com", None),
            "corp-admins-ou"
        );
        // A group scope beats every suffix; its domain limits it.
        let mut admin = Account::default();
        admin.groups.insert(
            normalize_dn("CN=Domain Admins,CN=Users,DC=corp,DC=contoso,DC=com"),
            true,
        );
        assert_eq!(
            scope("CN=Ed,OU=Admins,DC=corp,DC=contoso,DC=com", Some(&admin)),
            "corp-admins"
        );
        assert_eq!(scope("CN=Fay,DC=contoso,DC=com", Some(&admin)), "forest");
        // A domain and the same dn_suffix tie: the first in the file wins.
        assert_eq!(scope("CN=Gus,DC=corp,DC=contoso,DC=com", None), "corp");
        // Outside every domain: the global policy.
        assert_eq!(scope("CN=Hal,DC=fabrikam,DC=com", None), "default");
        assert_eq!(scope("CN=Ivy,DC=contoso,DC=org", None), "default");
        let described = c.describe();
        assert!(
            described.contains("DNs under: dc=corp,dc=contoso,dc=com (domain corp.contoso.com) | dc=emea,dc=contoso,dc=com (domain emea.contoso.com)"),
            "{described}"
        );
    }
}
