//! The product's core: the one decision on a password about to be set,
//! shared by every door (the LDAP proxy, `pwgate check`, the decision
//! service and the hooks that ask it).
//!
//! A door describes what it knows in a [`Request`]: the kind of operation,
//! whose password and how it is named, who asks and how they are known,
//! the new (and old) password, whether the channel is encrypted, and which
//! door it is. [`decide`] returns an [`Outcome`]: the decision and its
//! rule ids, the audit record (already written to the audit trail and
//! counted in the metrics), the refusal to send if any, and the sync to
//! schedule if the directory accepts the change. A door only translates:
//! the LDAP session turns a [`Refusal`] into a result code and a message,
//! the service into JSON.
//!
//! Parts: whose password it is and the names that count for it
//! ([`target`]), which policy decides ([`scope`]), who may reset whose
//! password ([`protected`]), and the directory lookups they need
//! ([`accounts`], a trait so the decision is unit-tested from memory).

pub mod accounts;
pub mod protected;
pub mod recent;
pub mod scope;
pub mod target;

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::{info, warn};

pub use crate::audit::{ChangeRecord, Decision, Door, Peer, Purpose};
use crate::config::{Config, Mode};
use crate::directory::{bind_name, bind_name_user, Account, LookupError};
use crate::dn::normalize_dn;
use crate::metrics::Metrics;
use crate::policy::{
    ChangeKind, PasswordAttribute, PasswordChange, Rule, RuleIds, Verdict, Violation,
};
use crate::secret::Password;
use crate::sync::SyncService;
use accounts::Accounts;
use scope::Scoped;
use target::TargetNames;

/// One new password value.
#[derive(Debug)]
pub enum NewPassword {
    Clear(Password),
    /// A `userPassword` value that is already hashed (`{SCHEME}...`):
    /// it cannot be checked.
    PreHashed,
    /// Password Modify without newPasswd: the server generates one.
    ServerGenerated,
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Anonymous,
    /// A simple bind's name: a DN, or a bind name (`user@realm`,
    /// `DOMAIN\\user`).
    Named(String),
    /// A SASL bind, by mechanism.
    Sasl(String),
    /// The door does not say (Samba's check password script).
    Unknown,
}

impl Actor {
    /// As the audit trail shows it.
    pub fn describe(&self) -> String {
        match self {
            Actor::Anonymous => "anonymous".to_owned(),
            Actor::Named(name) => name.clone(),
            Actor::Sasl(mech) => format!("sasl:{mech}"),
            Actor::Unknown => "unknown".to_owned(),
        }
    }
}

/// How the binds sent before the request ended (LDAP; other doors: `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binds {
    /// None was in progress.
    None,
    /// The last one established the identity it asked for.
    Succeeded,
    /// It failed (or only began a SASL exchange): the actor is anonymous.
    Failed,
    /// Not answered in time.
    Unanswered,
}

/// Whose password, as the door names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRef {
    /// A DN.
    Dn(String),
    /// An account name (`sAMAccountName`, a UPN, `DOMAIN\\user`), found in
    /// the directory when there is one.
    Name(String),
    /// The door cannot tell; the text is what the audit trail shows
    /// (`u:alice` for an authzId the directory maps itself, `unknown`).
    Unreadable(String),
}

/// A password about to be set, as a door describes it.
#[derive(Debug)]
pub struct Request {
    pub door: Door,
    /// A check is audited as one, counted in no metric and never synced.
    pub purpose: Purpose,
    pub client: Peer,
    pub actor: Actor,
    pub binds: Binds,
    pub target: TargetRef,
    /// Names of the account the request itself carries (an Add's
    /// attributes, the Samba hook's variables).
    pub request_names: Vec<String>,
    /// Where a [`TargetRef::Name`] is searched; empty: the directory's
    /// naming contexts.
    pub search_bases: Vec<String>,
    /// Names that identify the account (sAMAccountName, UPN; not a display
    /// name), by which a hook's check is tied to the proxy's change.
    pub account_keys: Vec<String>,
    pub kind: ChangeKind,
    pub attribute: PasswordAttribute,
    /// The LDAP message ID (0 elsewhere), for the audit trail.
    pub msgid: i32,
    pub new_passwords: Vec<NewPassword>,
    pub old_password: Option<Password>,
    /// Whether the request came over an encrypted (or local) channel.
    pub encrypted: bool,
}

/// What the decision can use: the configuration in force, the
/// directory's lookups (None without `[directory]`), the sync service
/// (None without `[[sync]]` targets) and the metrics.
pub struct Context<'g, A> {
    pub config: &'g Config,
    pub accounts: Option<&'g A>,
    pub sync: Option<&'g SyncService>,
    pub metrics: &'g Metrics,
    /// Changes the proxy forwarded a moment ago (see [`recent`]).
    pub recent: Option<&'g recent::RecentChanges>,
}

/// Why a change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not over an encrypted channel.
    Cleartext,
    /// Whose password it is cannot be told.
    UnknownTarget,
    /// The bind sent before it failed.
    BindFailed,
    /// A bind sent before it was not answered in time.
    BindInProgress,
    /// The directory has no such account (or no single one by that name).
    NoSuchAccount,
    /// The directory could not be asked.
    LookupFailed,
    /// The policy refused the password (`about_actor`: only because of who
    /// asks, a protected account; `too_short`: the first rule that failed
    /// is the length rule).
    Policy { about_actor: bool, too_short: bool },
}

/// The refusal to give the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    /// For the user: which rule failed and why. Never quotes a password.
    pub message: String,
}

/// What a sync needs from an accepted change, kept until the directory's
/// answer.
#[derive(Debug)]
pub struct PendingSync {
    pub source_dn: String,
    pub attributes: BTreeMap<String, Vec<String>>,
    pub password: Arc<Password>,
    /// Indexes of the sync targets this account goes to.
    pub targets: Vec<usize>,
}

/// What [`decide`] decided.
#[derive(Debug)]
pub struct Outcome {
    pub decision: Decision,
    /// The rules (or the reason) behind a refusal or a would-refuse.
    pub rules: RuleIds,
    /// What the policy says of the password when it would refuse it, in
    /// audit mode too.
    pub explanation: Option<String>,
    /// As written to the audit trail.
    pub record: ChangeRecord,
    /// Present when the decision is [`Decision::Refused`].
    pub refusal: Option<Refusal>,
    /// The sync to schedule once the directory accepts the change.
    pub sync: Option<PendingSync>,
}

/// The account a password belongs to, as far as it is known, and the
/// scope whose policy decides for it.
pub struct Subject<'c> {
    /// Its DN, when known.
    pub dn: Option<String>,
    pub names: TargetNames,
    /// Its directory entry, when looked up.
    pub account: Option<Account>,
    pub scope: Scoped<'c>,
}

impl<'c> Subject<'c> {
    /// The scope is chosen by the DN and the entry's groups.
    pub fn new(
        config: &'c Config,
        dn: Option<String>,
        names: TargetNames,
        account: Option<Account>,
    ) -> Self {
        let scope = scope::choose(config, dn.as_deref(), account.as_ref());
        Subject {
            dn,
            names,
            account,
            scope,
        }
    }

    /// The policy's verdict on one new password. A pre-hashed value is
    /// refused unless `allow_prehashed`; a server-generated one passes.
    pub fn evaluate(
        &self,
        kind: ChangeKind,
        new: &NewPassword,
        old: Option<&Password>,
        actor_is_target: bool,
        allow_prehashed: bool,
    ) -> Verdict {
        match new {
            NewPassword::Clear(password) => self.scope.policy.evaluate(&PasswordChange {
                kind,
                new_password: password,
                old_password: old,
                account_names: &self.names.names,
                organisation_names: &self.names.organisation,
                actor_is_target,
            }),
            NewPassword::PreHashed if !allow_prehashed => Verdict::Reject(vec![Violation::new(
                Rule::PreHashed,
                "the value is already hashed and cannot be checked".to_owned(),
            )]),
            NewPassword::PreHashed | NewPassword::ServerGenerated => Verdict::Accept,
        }
    }
}

/// Whether a bind name (see [`bind_name`]) names the target account: its
/// `userPrincipalName`, or its `sAMAccountName` as `DOMAIN\\name`, `name@...`
/// or `name`. Without the entry, the name part is compared with the
/// target's RDN values (`CN=Administrator` for `EXAMPLE\\Administrator`).
fn bind_name_is_account(bind: &str, account: Option<&Account>, rdn_values: &[String]) -> bool {
    let bind = bind.trim();
    let short = bind_name_user(bind);
    let eq = |a: &str, b: &str| {
        crate::policy::normalize::fold_case(a).as_str()
            == crate::policy::normalize::fold_case(b).as_str()
    };
    match account {
        Some(a) => {
            let values = |attr: &str| a.attributes.get(attr).cloned().unwrap_or_default();
            values("userprincipalname").iter().any(|u| eq(u, bind))
                || values("samaccountname").iter().any(|n| eq(n, short))
                || values("uid").iter().any(|n| eq(n, short))
        }
        None => rdn_values.iter().any(|v| eq(v, short)),
    }
}

/// The refusal for a reason other than the policy, audited and counted.
fn refuse_early(
    metrics: &Metrics,
    record: ChangeRecord,
    reason: Reason,
    rule: &'static str,
    message: &str,
) -> Outcome {
    let rules = RuleIds::one(rule);
    report(metrics, &record, Decision::Refused, &rules);
    Outcome {
        decision: Decision::Refused,
        rules,
        explanation: None,
        record,
        refusal: Some(Refusal {
            reason,
            message: message.to_owned(),
        }),
        sync: None,
    }
}

/// Writes the audit event and counts it: a decision by its door, a check
/// apart.
fn report(metrics: &Metrics, record: &ChangeRecord, decision: Decision, rules: &RuleIds) {
    crate::audit::decision(record, decision, rules);
    match record.purpose {
        Purpose::Decide => metrics.decision(
            record.door.as_str(),
            decision.as_str(),
            rules,
            &record.scope,
        ),
        Purpose::Check => metrics.check(decision.as_str(), rules, &record.scope),
    }
}

const UNKNOWN_TARGET: &str = "pwgate: cannot tell whose password this is; bind with a simple bind \
                              or name the user by DN in the request";
const NO_SUCH_ACCOUNT: &str = "pwgate: no such account (or pwgate's lookup account cannot read it)";
const LOOKUP_FAILED: &str =
    "pwgate: cannot look the account up to check this password; try again later";

/// The decision on one password operation. The passwords in `request`
/// are wiped before this returns (a copy for a sync target stays in
/// [`Outcome::sync`], in wiped memory).
pub async fn decide<A: Accounts>(ctx: &Context<'_, A>, request: Request) -> Outcome {
    let config = ctx.config;
    let Request {
        door,
        purpose,
        client,
        actor,
        binds,
        target,
        request_names,
        search_bases,
        account_keys,
        kind,
        attribute,
        msgid,
        new_passwords,
        old_password,
        encrypted,
    } = request;
    let given_dn = match &target {
        TargetRef::Dn(dn) => Some(dn.clone()),
        _ => None,
    };
    let label = match &target {
        TargetRef::Dn(dn) => dn.clone(),
        TargetRef::Name(name) => format!("name:{name}"),
        TargetRef::Unreadable(label) => label.clone(),
    };
    let mut record = ChangeRecord {
        door,
        purpose,
        client: client.clone(),
        actor: actor.describe(),
        target: label,
        kind,
        attribute,
        msgid,
        scope: scope::choose(config, given_dn.as_deref(), None)
            .name
            .to_owned(),
        confirms: None,
    };

    if !encrypted && !config.allow_cleartext_password_changes {
        return refuse_early(
            ctx.metrics,
            record,
            Reason::Cleartext,
            "cleartext",
            "pwgate: password changes require an encrypted connection (LDAPS or StartTLS)",
        );
    }

    let mut who = TargetNames::default();
    let dn_parsed = given_dn.as_deref().is_some_and(|dn| who.add_dn(dn));
    who.add_names(request_names);
    // Scopes and the name and self-reset rules depend on whose password
    // this is: without a DN pwgate can read, it refuses, never guesses.
    let target_dn = match &target {
        TargetRef::Dn(dn) => {
            let readable = dn_parsed && scope::comparable(config, dn);
            if !readable || who.names.is_empty() {
                return refuse_early(
                    ctx.metrics,
                    record,
                    Reason::UnknownTarget,
                    "unknown_target",
                    UNKNOWN_TARGET,
                );
            }
            Some(dn.clone())
        }
        TargetRef::Unreadable(_) => {
            return refuse_early(
                ctx.metrics,
                record,
                Reason::UnknownTarget,
                "unknown_target",
                UNKNOWN_TARGET,
            )
        }
        // Found below, once the binds are known to be good.
        TargetRef::Name(_) => None,
    };
    match binds {
        Binds::None | Binds::Succeeded => {}
        Binds::Failed => {
            return refuse_early(
                ctx.metrics,
                record,
                Reason::BindFailed,
                "bind_failed",
                "pwgate: the bind sent before this password change did not succeed",
            )
        }
        Binds::Unanswered => {
            return refuse_early(
                ctx.metrics,
                record,
                Reason::BindInProgress,
                "bind_in_progress",
                "pwgate: a bind is in progress on this connection and was not answered in time",
            )
        }
    }

    // Whether anything but names depends on the account's entry.
    let needs_entry =
        !(config.scopes.is_empty() && config.protected.is_empty() && config.sync.is_empty());
    // An account named by name: its DN, from the directory. Not for
    // Samba's hook (or the Windows filter) when only names would come of
    // it: the DC gives the account's names, and it is busy with this very
    // change (a lookup sent to the Samba LDAP worker that runs the hook
    // waits until the hook gives up).
    let skip_lookup = matches!(door, Door::SambaHook | Door::WindowsFilter) && !needs_entry;
    let target_dn = match (&target, target_dn) {
        (TargetRef::Name(name), _) => {
            who.add_names([name.clone()]);
            let found = match ctx.accounts.filter(|_| !skip_lookup) {
                None => None,
                Some(accounts) => Some(
                    find_by_name(accounts, name, &search_bases)
                        .await
                        .map_err(|e| (e, accounts.fail_open())),
                ),
            };
            match found {
                Some(Ok(ByName::Dn(dn))) => {
                    who.add_dn(&dn);
                    record.target = dn.clone();
                    Some(dn)
                }
                Some(Err((e, false))) => {
                    warn!(client = %client, error = %e, "finding the account by name failed; password change refused");
                    return refuse_early(
                        ctx.metrics,
                        record,
                        Reason::LookupFailed,
                        "lookup_failed",
                        LOOKUP_FAILED,
                    );
                }
                // Not in the directory (an account Samba is creating, or
                // one the lookup account cannot see), or no directory:
                // only the global policy can decide, with the names the
                // request gives. With scopes, protected accounts or sync
                // targets, pwgate cannot tell which rules apply: refuse.
                None | Some(Ok(ByName::NoSingleEntry { .. })) | Some(Err(_)) if needs_entry => {
                    let (reason, rule, message) = if matches!(found, Some(Ok(_))) {
                        (Reason::NoSuchAccount, "no_such_account", NO_SUCH_ACCOUNT)
                    } else {
                        (Reason::UnknownTarget, "unknown_target", UNKNOWN_TARGET)
                    };
                    return refuse_early(ctx.metrics, record, reason, rule, message);
                }
                None | Some(Ok(ByName::NoSingleEntry { .. })) => None,
                Some(Err((e, true))) => {
                    warn!(client = %client, error = %e, "finding the account by name failed; deciding without it (directory.on_error = \"allow\")");
                    None
                }
            }
        }
        (_, dn) => dn,
    };

    // What the directory knows about the account (not for an Add: the
    // entry does not exist yet, the request carries its names).
    let lookup = match (ctx.accounts, target_dn.as_deref()) {
        (Some(accounts), Some(dn)) if kind != ChangeKind::Create => {
            match accounts.account(dn, &scope::target_groups(config)).await {
                Ok(account) => Some(account),
                Err(LookupError::NotFound) => {
                    return refuse_early(
                        ctx.metrics,
                        record,
                        Reason::NoSuchAccount,
                        "no_such_account",
                        NO_SUCH_ACCOUNT,
                    );
                }
                Err(LookupError::Failed(e)) if accounts.fail_open() => {
                    warn!(client = %client, error = %e, "account lookup failed; deciding without it (directory.on_error = \"allow\")");
                    None
                }
                Err(LookupError::Failed(e)) => {
                    warn!(client = %client, error = %e, "account lookup failed; password change refused");
                    return refuse_early(
                        ctx.metrics,
                        record,
                        Reason::LookupFailed,
                        "lookup_failed",
                        LOOKUP_FAILED,
                    );
                }
            }
        }
        _ => None,
    };
    if let Some(account) = &lookup {
        who.add_account(account);
    }
    // A bind by UPN or DOMAIN\user names the account without its DN.
    let mut actor_is_target = match (&actor, target_dn.as_deref()) {
        // The same text is the same DN (an RFC 3062 change of the bound
        // identity names it so); only other spellings need normalizing.
        (Actor::Named(actor), Some(target)) => {
            actor == target || normalize_dn(actor) == normalize_dn(target)
        }
        _ => false,
    };
    if let (Actor::Named(name), Some(target)) = (&actor, target_dn.as_deref()) {
        if !actor_is_target && bind_name(name).is_some() {
            actor_is_target =
                bind_name_is_account(name, lookup.as_ref(), &crate::dn::first_rdn_values(target));
        }
    }
    let subject = Subject::new(config, target_dn, who, lookup);
    record.scope = subject.scope.name.to_owned();

    let mut violations: Vec<Violation> = Vec::new();
    if let (ChangeKind::Reset, false, Some(dn)) = (kind, actor_is_target, subject.dn.as_deref()) {
        if let Some(v) = protected::check(
            config,
            ctx.accounts,
            &client,
            &actor,
            dn,
            subject.account.as_ref(),
        )
        .await
        {
            violations.push(v);
        }
    }
    for new in &new_passwords {
        let found = subject.evaluate(
            kind,
            new,
            old_password.as_ref(),
            actor_is_target,
            config.allow_prehashed,
        );
        for v in found.violations() {
            if !violations.contains(v) {
                violations.push(v.clone());
            }
        }
    }
    // A copy of the one new password for sync targets covering this
    // account, kept (in wiped memory) until the directory answers.
    let sync = match (ctx.sync, subject.dn.as_deref(), purpose) {
        (Some(service), Some(dn), Purpose::Decide) => sync_candidate(
            service,
            &client,
            dn,
            subject.account.as_ref(),
            &new_passwords,
        ),
        _ => None,
    };
    // The passwords are wiped here.
    drop(new_passwords);
    drop(old_password);

    let verdict = if violations.is_empty() {
        Verdict::Accept
    } else {
        Verdict::Reject(violations)
    };
    let decision = match (&verdict, subject.scope.mode) {
        (Verdict::Accept, _) => Decision::Accepted,
        (Verdict::Reject(_), Mode::Enforce) => Decision::Refused,
        (Verdict::Reject(_), Mode::Audit) => Decision::WouldRefuse,
    };
    // One change, one story: the DC's check of a change the proxy just
    // forwarded says which change it confirms.
    if let (Some(recent), Purpose::Decide) = (ctx.recent, purpose) {
        let mut keys: Vec<String> = subject.dn.iter().map(|dn| recent::key("dn", dn)).collect();
        match door {
            Door::Ldap if decision == Decision::Accepted => {
                if let Some(account) = &subject.account {
                    for attr in ["samaccountname", "userprincipalname"] {
                        if let Some(v) = account.first(attr) {
                            keys.push(recent::key("name", v));
                        }
                    }
                }
                recent.forwarded(
                    &keys,
                    &format!("ldap {} msgid {}", record.client, record.msgid),
                );
            }
            // The DC's own check of the change: Samba's hook, or the
            // filter on a Windows DC.
            Door::SambaHook | Door::WindowsFilter => {
                keys.extend(account_keys.iter().map(|n| recent::key("name", n)));
                record.confirms = recent.take(&keys);
                // The filter lets the change through: the DC's notice
                // that it was made (/v1/notify) confirms this decision.
                if door == Door::WindowsFilter && decision != Decision::Refused {
                    recent.forwarded(
                        &keys
                            .iter()
                            .map(|k| recent::notice_key(k))
                            .collect::<Vec<_>>(),
                        &format!("windows_filter {} {}", record.client, kind.as_str()),
                    );
                }
            }
            _ => {}
        }
    }
    let rules = verdict.rule_ids();
    report(ctx.metrics, &record, decision, &rules);
    let explanation = verdict.explanation();
    let refusal = (decision == Decision::Refused).then(|| Refusal {
        // A refusal only about who asks is an access refusal, not a
        // password-quality one.
        reason: Reason::Policy {
            about_actor: verdict
                .violations()
                .iter()
                .all(|v| v.rule == Rule::ProtectedAccount),
            too_short: verdict
                .violations()
                .first()
                .is_some_and(|v| v.rule == Rule::Length),
        },
        message: explanation.clone().unwrap_or_default(),
    });
    Outcome {
        decision,
        rules,
        explanation,
        record,
        refusal,
        sync: if decision == Decision::Accepted {
            sync
        } else {
            None
        },
    }
}

/// What [`find_by_name`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByName {
    Dn(String),
    /// No entry has the name under the bases, or more than one has.
    NoSingleEntry {
        bases: Vec<String>,
    },
}

/// The DN of the one account a bind name (`user@realm`, `DOMAIN\\user`,
/// `user`) names, searched under `bases` (else the directory's naming
/// contexts), by `userPrincipalName`, `sAMAccountName` or `uid`.
pub async fn find_by_name<A: Accounts>(
    accounts: &A,
    name: &str,
    bases: &[String],
) -> Result<ByName, LookupError> {
    let bases = if bases.is_empty() {
        accounts.naming_contexts().await?
    } else {
        bases.to_vec()
    };
    let mut found = Vec::new();
    for base in &bases {
        if let Some(dn) = accounts.find_bind_name(name, base).await? {
            found.push(dn);
        }
    }
    match <[String; 1]>::try_from(found) {
        Ok([dn]) => Ok(ByName::Dn(dn)),
        Err(_) => Ok(ByName::NoSingleEntry { bases }),
    }
}

/// The sync work for an accepted change: which targets cover the
/// account, its attribute values for their placeholders, and a copy of
/// the new password. None without targets, or when the operation does
/// not carry exactly one clear-text password.
fn sync_candidate(
    service: &SyncService,
    client: &Peer,
    target_dn: &str,
    lookup: Option<&Account>,
    passwords: &[NewPassword],
) -> Option<PendingSync> {
    let key = normalize_dn(target_dn);
    let targets: Vec<usize> = service
        .targets()
        .enumerate()
        .filter(|(_, t)| {
            t.covers_dn(&key)
                && (t.member_of.is_empty()
                    || lookup.is_some_and(|a| t.member_of.iter().any(|g| a.member_of(g))))
        })
        .map(|(i, _)| i)
        .collect();
    if targets.is_empty() {
        return None;
    }
    let [NewPassword::Clear(password)] = passwords else {
        info!(client = %client, "change not synchronized: it does not carry exactly one clear-text password");
        return None;
    };
    let mut attributes: BTreeMap<String, Vec<String>> =
        lookup.map(|a| a.attributes.clone()).unwrap_or_default();
    if let Some(rdn) = crate::dn::parse(target_dn).and_then(|rdns| rdns.into_iter().next()) {
        for (attr, value) in rdn {
            let values = attributes.entry(attr.to_ascii_lowercase()).or_default();
            if !values.contains(&value) {
                values.insert(0, value);
            }
        }
    }
    Some(PendingSync {
        source_dn: target_dn.to_owned(),
        attributes,
        password: Arc::new(Password::new(password.expose().to_owned())),
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::accounts::memory::Memory;
    use super::accounts::NoDirectory;
    use super::*;

    const UP: &str = "[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n";
    const ALICE: &str = "uid=alice,ou=people,dc=example,dc=com";
    const ADMINS: &str = "cn=admins,ou=groups,dc=example,dc=com";
    const HELPDESK: &str = "cn=helpdesk,ou=groups,dc=example,dc=com";
    const STRONG: &str = "tangerine-Otter-42-lamp";
    const DIRECTORY: &str =
        "[directory]\nurls = [\"ldap://127.0.0.1:3389\"]\nallow_cleartext = true\n";

    fn config(extra: &str) -> Config {
        crate::config::load_str(&format!("{UP}{extra}")).expect("valid")
    }

    fn request(actor: Actor, target: TargetRef, kind: ChangeKind, new: &str) -> Request {
        Request {
            door: Door::Ldap,
            purpose: Purpose::Decide,
            client: Peer::Local { uid: 0, pid: None },
            actor,
            binds: Binds::None,
            target,
            request_names: Vec::new(),
            search_bases: Vec::new(),
            account_keys: Vec::new(),
            kind,
            attribute: PasswordAttribute::UserPassword,
            msgid: 7,
            new_passwords: vec![NewPassword::Clear(Password::new(new.to_owned()))],
            old_password: None,
            encrypted: true,
        }
    }

    fn reset(target: &str, new: &str) -> Request {
        request(
            Actor::Named("cn=admin,dc=example,dc=com".into()),
            TargetRef::Dn(target.into()),
            ChangeKind::Reset,
            new,
        )
    }

    async fn decide_with<A: Accounts>(
        config: &Config,
        accounts: Option<&A>,
        r: Request,
    ) -> Outcome {
        let metrics = Metrics::default();
        let ctx = Context {
            config,
            accounts,
            sync: None,
            metrics: &metrics,
            recent: None,
        };
        decide(&ctx, r).await
    }

    fn directory() -> Memory {
        Memory {
            naming_contexts: vec!["dc=example,dc=com".into()],
            ..Memory::default()
        }
        .with(ALICE, &[("uid", "alice"), ("cn", "Alice Smith")], &[ADMINS])
        .with(
            "uid=hd,ou=people,dc=example,dc=com",
            &[("uid", "hd")],
            &[HELPDESK],
        )
    }

    fn reason(o: &Outcome) -> Option<Reason> {
        o.refusal.as_ref().map(|r| r.reason)
    }

    #[tokio::test]
    async fn a_strong_reset_is_accepted_and_a_weak_one_refused_with_its_rule() {
        let c = config("");
        let o = decide_with::<NoDirectory>(&c, None, reset(ALICE, STRONG)).await;
        assert_eq!(o.decision, Decision::Accepted);
        assert!(o.refusal.is_none() && o.rules.is_empty());
        assert_eq!(o.record.target, ALICE);
        assert_eq!(o.record.scope, "default");

        let o = decide_with::<NoDirectory>(&c, None, reset(ALICE, "Qz9!")).await;
        assert_eq!(o.decision, Decision::Refused);
        assert_eq!(
            reason(&o),
            Some(Reason::Policy {
                about_actor: false,
                too_short: true
            })
        );
        assert_eq!(o.rules.iter().next(), Some("length"));
        let message = &o.refusal.as_ref().unwrap().message;
        assert!(message.contains("[length]"), "{message}");
        assert!(!message.contains("Qz9!"), "{message}");
    }

    #[tokio::test]
    async fn the_account_s_names_from_the_directory_count() {
        let c = config("[directory]\nurls = [\"ldap://127.0.0.1:3389\"]\nallow_cleartext = true\n");
        let d = directory();
        let o = decide_with(&c, Some(&d), reset(ALICE, "Alice-Smith-tangerine-42")).await;
        assert_eq!(o.decision, Decision::Refused, "{:?}", o.rules);
        assert!(o.rules.iter().any(|r| r == "account_name"), "{}", o.rules);
    }

    #[tokio::test]
    async fn doors_that_cannot_decide_refuse_with_their_reason() {
        let c = config("");
        let mut r = reset(ALICE, STRONG);
        r.encrypted = false;
        let o = decide_with::<NoDirectory>(&c, None, r).await;
        assert_eq!(
            (reason(&o), o.rules.to_string().as_str()),
            (Some(Reason::Cleartext), "cleartext")
        );

        for target in [
            TargetRef::Unreadable("u:alice".into()),
            TargetRef::Dn("not a dn".into()),
        ] {
            let r = request(Actor::Anonymous, target, ChangeKind::Reset, STRONG);
            let o = decide_with::<NoDirectory>(&c, None, r).await;
            assert_eq!(reason(&o), Some(Reason::UnknownTarget));
        }
        // A DN that does not parse is unreadable even when the request
        // names the account another way.
        let mut r = request(
            Actor::Anonymous,
            TargetRef::Dn("uid=alice\\".into()),
            ChangeKind::Reset,
            STRONG,
        );
        r.request_names = vec!["alice".into()];
        let o = decide_with::<NoDirectory>(&c, None, r).await;
        assert_eq!(reason(&o), Some(Reason::UnknownTarget));
        for (binds, why) in [
            (Binds::Failed, Reason::BindFailed),
            (Binds::Unanswered, Reason::BindInProgress),
        ] {
            let mut r = reset(ALICE, STRONG);
            r.binds = binds;
            let o = decide_with::<NoDirectory>(&c, None, r).await;
            assert_eq!(reason(&o), Some(why));
        }
    }

    #[tokio::test]
    async fn a_windows_filter_decision_waits_for_the_dc_s_notice() {
        let c = config("");
        let metrics = Metrics::default();
        let recent = recent::RecentChanges::default();
        let ctx = Context::<NoDirectory> {
            config: &c,
            accounts: None,
            sync: None,
            metrics: &metrics,
            recent: Some(&recent),
        };
        // The proxy forwarded a change of alice a moment ago: the DC's
        // filter check of it confirms it.
        recent.forwarded(&[recent::key("name", "alice")], "ldap 10.0.0.5:1 msgid 3");
        let filter = |new: &str| {
            let mut r = request(
                Actor::Unknown,
                TargetRef::Name("alice".into()),
                ChangeKind::Change,
                new,
            );
            r.door = Door::WindowsFilter;
            r.account_keys = vec!["alice".into()];
            r
        };
        let notice = [recent::notice_key(&recent::key("name", "ALICE"))];
        let o = decide(&ctx, filter("Qz9!")).await;
        assert_eq!(o.decision, Decision::Refused);
        assert_eq!(
            o.record.confirms.as_deref(),
            Some("ldap 10.0.0.5:1 msgid 3")
        );
        assert_eq!(recent.take(&notice), None, "a refusal is not set by the DC");
        let o = decide(&ctx, filter(STRONG)).await;
        assert_eq!(o.decision, Decision::Accepted);
        assert_eq!(
            o.record.confirms, None,
            "the proxy's change was confirmed once"
        );
        assert_eq!(
            recent.take(&notice).as_deref(),
            Some("windows_filter local:uid=0 change")
        );
        assert_eq!(recent.take(&notice), None, "one notice confirms it");
    }

    #[tokio::test]
    async fn a_lookup_that_fails_refuses_unless_the_config_says_allow() {
        let c = config("");
        let mut d = directory();
        let o = decide_with(&c, Some(&d), reset("uid=nobody,dc=example,dc=com", STRONG)).await;
        assert_eq!(reason(&o), Some(Reason::NoSuchAccount));
        assert_eq!(o.rules.to_string(), "no_such_account");

        d.down = Some("connection refused".into());
        let o = decide_with(&c, Some(&d), reset(ALICE, STRONG)).await;
        assert_eq!(reason(&o), Some(Reason::LookupFailed));
        d.fail_open = true;
        let o = decide_with(&c, Some(&d), reset(ALICE, STRONG)).await;
        assert_eq!(o.decision, Decision::Accepted);
    }

    #[tokio::test]
    async fn an_account_named_by_name_is_found_in_the_directory() {
        let c = config("");
        let d = directory();
        let named = |name: &str, new: &str| {
            request(
                Actor::Unknown,
                TargetRef::Name(name.into()),
                ChangeKind::Set,
                new,
            )
        };
        let o = decide_with(&c, Some(&d), named("alice", STRONG)).await;
        assert_eq!(o.decision, Decision::Accepted);
        assert_eq!(o.record.target, ALICE);
        assert_eq!(o.record.actor, "unknown");
        // The name itself and the entry's names count.
        let o = decide_with(&c, Some(&d), named("alice", "Alice-Smith-tangerine-42")).await;
        assert!(o.rules.iter().any(|r| r == "account_name"), "{}", o.rules);
        // Not in the directory (an account being created): the global
        // policy decides, with the names given; with scopes, refused.
        let o = decide_with(&c, Some(&d), named("zed", STRONG)).await;
        assert_eq!(
            (o.decision, o.record.target.as_str()),
            (Decision::Accepted, "name:zed")
        );
        let o = decide_with(&c, Some(&d), named("zed", "zed-tangerine-Otter-42")).await;
        assert!(o.rules.iter().any(|r| r == "account_name"), "{}", o.rules);
        let scoped = config(
            "[[policy.scope]]\nname = \"people\"\ndn_suffix = [\"ou=people,dc=example,dc=com\"]\n",
        );
        let o = decide_with(&scoped, Some(&d), named("zed", STRONG)).await;
        assert_eq!(reason(&o), Some(Reason::NoSuchAccount));
    }

    #[tokio::test]
    async fn a_name_without_a_directory_is_decided_only_without_scopes() {
        let r = || {
            request(
                Actor::Unknown,
                TargetRef::Name("alice".into()),
                ChangeKind::Set,
                STRONG,
            )
        };
        let o = decide_with::<NoDirectory>(&config(""), None, r()).await;
        assert_eq!(o.decision, Decision::Accepted);
        let scoped = config(
            "[[policy.scope]]\nname = \"people\"\ndn_suffix = [\"ou=people,dc=example,dc=com\"]\n",
        );
        let o = decide_with::<NoDirectory>(&scoped, None, r()).await;
        assert_eq!(reason(&o), Some(Reason::UnknownTarget));
    }

    #[tokio::test]
    async fn scopes_are_chosen_by_groups_and_audit_mode_only_logs() {
        let c = config(&format!(
            "{DIRECTORY}[[policy.scope]]\nname = \"admins\"\nmember_of = [\"{ADMINS}\"]\nmode = \"audit\"\nmin_length = 30\n"
        ));
        let d = directory();
        let o = decide_with(&c, Some(&d), reset(ALICE, STRONG)).await;
        assert_eq!(o.record.scope, "admins");
        assert_eq!(o.decision, Decision::WouldRefuse);
        assert!(o.refusal.is_none());
        assert!(o.explanation.is_some_and(|e| e.contains("[length]")));
        let o = decide_with(
            &c,
            Some(&d),
            reset("uid=hd,ou=people,dc=example,dc=com", STRONG),
        )
        .await;
        assert_eq!(
            (o.record.scope.as_str(), o.decision),
            ("default", Decision::Accepted)
        );
    }

    #[tokio::test]
    async fn protected_accounts_are_reset_only_by_the_allowed_groups() {
        let c = config(&format!(
            "[directory]\nurls = [\"ldap://127.0.0.1:3389\"]\nallow_cleartext = true\n\
             [[protected]]\ngroup = \"{ADMINS}\"\nreset_by = [\"{HELPDESK}\"]\n"
        ));
        let d = directory();
        let o = decide_with(&c, Some(&d), reset(ALICE, STRONG)).await;
        assert_eq!(
            reason(&o),
            Some(Reason::Policy {
                about_actor: true,
                too_short: false
            })
        );
        let mut r = reset(ALICE, STRONG);
        r.actor = Actor::Named("uid=hd,ou=people,dc=example,dc=com".into());
        assert_eq!(
            decide_with(&c, Some(&d), r).await.decision,
            Decision::Accepted
        );
        // A bind name is found first; the user's own change is not a reset.
        let mut r = reset(ALICE, STRONG);
        r.actor = Actor::Named("hd".into());
        assert_eq!(
            decide_with(&c, Some(&d), r).await.decision,
            Decision::Accepted
        );
        let mut r = reset(ALICE, STRONG);
        r.actor = Actor::Sasl("EXTERNAL".into());
        assert!(decide_with(&c, Some(&d), r).await.refusal.is_some());
    }
}
