//! Who may reset whose password: `[[protected]]` accounts (members of a
//! group) whose passwords only members of the allowed groups may reset.

use tracing::warn;

use super::accounts::Accounts;
use super::Actor;
use crate::audit::Peer;
use crate::config::Config;
use crate::directory::{bind_name, Account, Group};
use crate::dn::normalize_dn;
use crate::policy::{Rule, Violation};

/// For a reset of someone else's password: the violation when the account
/// is protected and the actor is not allowed to reset it. `accounts` is
/// None without a `[directory]`.
pub async fn check<A: Accounts>(
    config: &Config,
    accounts: Option<&A>,
    client: &Peer,
    actor: &Actor,
    target_dn: &str,
    target: Option<&Account>,
) -> Option<Violation> {
    let protecting: Vec<_> = config
        .protected
        .iter()
        .filter(|p| target.is_some_and(|a| a.member_of(&p.group)))
        .collect();
    if protecting.is_empty() {
        // Without a lookup (on_error = "allow") the account counts as
        // unprotected; that is what the setting asks for.
        return None;
    }
    let refused = |why: &str| {
        Some(Violation::new(
            Rule::ProtectedAccount,
            format!("this account is protected: {why}"),
        ))
    };
    let Actor::Named(actor_name) = actor else {
        return refused("only named members of the allowed groups may reset its password");
    };
    // A bind by UPN or DOMAIN\user: find the actor's entry first.
    let resolved;
    let actor_dn = match (bind_name(actor_name), accounts) {
        (None, _) => actor_name,
        (Some(_), Some(accounts)) => {
            // Searched in the target's domain.
            let base = crate::dn::domain_suffix(target_dn);
            match accounts.find_bind_name(actor_name, &base).await {
                Ok(Some(dn)) => {
                    resolved = dn;
                    &resolved
                }
                Ok(None) => return refused("pwgate could not find the resetting account"),
                Err(e) => {
                    warn!(client = %client, error = %e, "lookup of the resetting account failed; reset of a protected account refused");
                    return refused("pwgate could not check who may reset its password");
                }
            }
        }
        (Some(_), None) => return refused("pwgate could not check who may reset its password"),
    };
    let actor_key = normalize_dn(actor_dn);
    let needed: Vec<Group> = protecting
        .iter()
        .flat_map(|p| p.reset_by.iter().cloned())
        .collect();
    let actor_account = match (accounts, needed.is_empty()) {
        (Some(accounts), false) => match accounts.account(actor_dn, &needed).await {
            Ok(a) => Some(a),
            Err(e) => {
                warn!(client = %client, error = %e, "lookup of the resetting account failed; reset of a protected account refused");
                return refused("pwgate could not check who may reset its password");
            }
        },
        _ => None,
    };
    for p in protecting {
        let allowed = p
            .reset_by
            .iter()
            .any(|g| g.key == actor_key || actor_account.as_ref().is_some_and(|a| a.member_of(g)));
        if !allowed {
            return refused("your account may not reset its password");
        }
    }
    None
}
