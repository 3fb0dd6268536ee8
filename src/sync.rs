//! Password synchronization: a change the primary directory accepted
//! through pwgate is written to other directories too.
//!
//! Each `[[sync]]` target has one worker task and a bounded in-memory queue
//! keyed by account. A newer change of an account replaces an older one
//! still waiting (the last one wins, and the older password is wiped); the
//! worker handles one change at a time, so two changes of one account reach
//! the target in order. Transient failures (connection, timeout, busy or
//! unavailable) are retried with exponential backoff until the target's
//! `retry_for` has passed; a refusal by the target (its own policy, access
//! rights, no such account) is final. Passwords live only in memory, in
//! [`Password`]s that are wiped when dropped; nothing is written to disk,
//! so a change still queued when the process stops is lost and audited as
//! `abandoned`.
//!
//! The client's answer never waits for a target: jobs are queued after the
//! primary directory answered.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::{Ldap, Mod, Scope, SearchEntry};
use rustls::ClientConfig;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::audit::Clean;
use crate::config::{Locate, SyncMethod, SyncTarget};
use crate::ldapclient;
use crate::metrics::Metrics;
use crate::secret::Password;

/// The first retry waits this long; each next one twice as long, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One accepted change on its way to one target.
pub struct Job {
    /// The source account's DN (as sent by the client).
    pub source_dn: String,
    /// Attribute values of the source account for the target's
    /// placeholders, by lower-case attribute name.
    pub attributes: BTreeMap<String, Vec<String>>,
    pub password: Arc<Password>,
    /// When the primary directory accepted it.
    pub accepted_at: Instant,
}

struct Pending {
    job: Job,
    attempts: u32,
    next_try: Instant,
}

#[derive(Default)]
struct Queue {
    order: VecDeque<String>,
    pending: HashMap<String, Pending>,
    /// The account whose change the worker is sending now (taken out of
    /// `pending` for the attempt): a drain waits for it, and audits it if
    /// the drain time ends first.
    in_flight: Option<String>,
}

impl Queue {
    /// Nothing waits and nothing is being sent.
    fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_none()
    }
}

struct Target {
    config: SyncTarget,
    tls: Option<Arc<ClientConfig>>,
    queue: Mutex<Queue>,
    wake: Notify,
    stopping: AtomicBool,
    /// Set by the worker when its queue is empty and nothing is in flight.
    idle: Notify,
    metrics: Arc<Metrics>,
}

impl Target {
    /// A change of `account` this target will not get, because pwgate is
    /// stopping: audited and counted as abandoned.
    fn abandon(&self, account: &str, detail: &str) {
        audit(&self.config.name, account, "abandoned", None, detail);
        self.metrics
            .sync_outcome(&self.config.name, "abandoned", None);
    }
}

/// The sync workers of one process. Built once at start; a reload keeps
/// them (changes to `[[sync]]` need a restart).
pub struct SyncService {
    targets: Vec<Arc<Target>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What one attempt gave.
enum Attempt {
    Synced,
    /// Final: the target refused (its result code and text).
    Refused(u32, String),
    /// Final: no account to write on the target.
    NotFound(String),
    /// Worth retrying.
    Transient(String),
}

impl SyncService {
    /// Starts one worker per target. Must run inside a Tokio runtime.
    pub fn start(targets: &[SyncTarget], metrics: Arc<Metrics>) -> Result<Self, String> {
        let mut built = Vec::new();
        for t in targets {
            let tls = ldapclient::tls_config(&t.endpoint)
                .map_err(|e| format!("sync \"{}\": {e}", t.name))?;
            built.push(Arc::new(Target {
                config: t.clone(),
                tls,
                queue: Mutex::new(Queue::default()),
                wake: Notify::new(),
                stopping: AtomicBool::new(false),
                idle: Notify::new(),
                metrics: metrics.clone(),
            }));
        }
        let tasks = built
            .iter()
            .map(|t| tokio::spawn(worker(t.clone())))
            .collect();
        Ok(SyncService {
            targets: built,
            tasks: Mutex::new(tasks),
        })
    }

    /// The configured targets, in file order.
    pub fn targets(&self) -> impl Iterator<Item = &SyncTarget> {
        self.targets.iter().map(|t| &t.config)
    }

    /// Queues `job` for the target at `index` (of [`Self::targets`]).
    pub fn enqueue(&self, index: usize, job: Job) {
        let Some(target) = self.targets.get(index) else {
            return;
        };
        let name = &target.config.name;
        let key = crate::dn::normalize_dn(&job.source_dn);
        let mut q = target.queue.lock().unwrap_or_else(|p| p.into_inner());
        if target.stopping.load(Ordering::SeqCst) {
            drop(q);
            target.abandon(&job.source_dn, "pwgate is stopping");
            return;
        }
        if let Some(old) = q.pending.remove(&key) {
            // The last change wins; the older password is wiped here.
            audit(
                name,
                &old.job.source_dn,
                "superseded",
                None,
                "a newer change of this account replaced it",
            );
            q.order.retain(|k| k != &key);
        } else if q.pending.len() >= target.config.queue_size {
            drop(q);
            warn!(target_name = %name, "sync queue full; change not synced");
            audit(
                name,
                &job.source_dn,
                "failed",
                None,
                "the sync queue is full",
            );
            target.metrics.sync_outcome(name, "failed", None);
            return;
        }
        q.order.push_back(key.clone());
        q.pending.insert(
            key,
            Pending {
                job,
                attempts: 0,
                next_try: Instant::now(),
            },
        );
        target.metrics.sync_queued(name, q.pending.len());
        drop(q);
        target.wake.notify_one();
    }

    /// Stops taking work and gives each target up to its `drain` time to
    /// deliver what is queued; what is left is audited as abandoned.
    pub async fn drain(&self) {
        for t in &self.targets {
            t.stopping.store(true, Ordering::SeqCst);
            t.wake.notify_one();
        }
        let waits = self.targets.iter().map(|t| async move {
            let deadline = t.config.drain;
            let _ = tokio::time::timeout(deadline, async {
                loop {
                    let idle = t.idle.notified();
                    if t.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                        break;
                    }
                    idle.await;
                }
            })
            .await;
        });
        futures::future::join_all(waits).await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.abort();
            // Until it has stopped: a worker between an attempt and its
            // audit record finishes both (no await between them), so a
            // change is audited once, as what happened or as abandoned.
            let _ = task.await;
        }
        for t in &self.targets {
            let left = std::mem::take(&mut *t.queue.lock().unwrap_or_else(|p| p.into_inner()));
            if let Some(account) = left.in_flight {
                t.abandon(
                    &account,
                    "pwgate stopped during an attempt; the target may or may not have applied it",
                );
            }
            for (_, p) in left.pending {
                t.abandon(&p.job.source_dn, "pwgate stopped before the target took it");
            }
            t.metrics.sync_depth(&t.config.name, 0);
        }
    }
}

/// One audit record per target outcome: never the password.
fn audit(target: &str, account: &str, outcome: &str, code: Option<u32>, detail: &str) {
    let code = code.map_or_else(|| "-".to_owned(), |c| c.to_string());
    info!(
        target: "pwgate::audit",
        event = "password_sync",
        sync_target = %target,
        target_dn = %Clean(account),
        outcome = outcome,
        result_code = %code,
        detail = %Clean(detail),
        "password sync to {target}: {outcome}"
    );
}

fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << attempts.min(10))
        .min(MAX_BACKOFF)
}

async fn worker(target: Arc<Target>) {
    let name = target.config.name.clone();
    let mut conn: Option<Ldap> = None;
    loop {
        // The first account whose time has come, or how long to wait.
        let next = {
            let mut q = target.queue.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let due = q
                .order
                .iter()
                .position(|k| q.pending.get(k).is_some_and(|p| p.next_try <= now));
            match due {
                Some(i) => {
                    let key = q.order.remove(i).unwrap_or_default();
                    let taken = q.pending.remove(&key).map(|p| (key, p));
                    q.in_flight = taken.as_ref().map(|(_, p)| p.job.source_dn.clone());
                    taken
                }
                None => None,
            }
        };
        let Some((key, mut pending)) = next else {
            let wait = {
                let q = target.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.is_empty() {
                    target.idle.notify_waiters();
                }
                q.pending.values().map(|p| p.next_try).min()
            };
            let notified = target.wake.notified();
            match wait {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at.into(), notified).await;
                }
                None => notified.await,
            }
            continue;
        };
        let started = Instant::now();
        let result = attempt(&target, &mut conn, &pending.job).await;
        let account = pending.job.source_dn.clone();
        match result {
            Attempt::Synced => {
                audit(&name, &account, "synced", Some(0), "");
                target.metrics.sync_outcome(
                    &name,
                    "synced",
                    Some(pending.job.accepted_at.elapsed()),
                );
            }
            Attempt::Refused(code, text) => {
                audit(&name, &account, "failed", Some(code), &text);
                target.metrics.sync_outcome(&name, "failed", None);
            }
            Attempt::NotFound(text) => {
                audit(&name, &account, "not_found", None, &text);
                target.metrics.sync_outcome(&name, "not_found", None);
            }
            Attempt::Transient(text) => {
                conn = None;
                let stopping = target.stopping.load(Ordering::SeqCst);
                if pending.job.accepted_at.elapsed() + backoff(pending.attempts)
                    > target.config.retry_for
                {
                    audit(
                        &name,
                        &account,
                        "failed",
                        None,
                        &format!("gave up after {} attempts: {text}", pending.attempts + 1),
                    );
                    target.metrics.sync_outcome(&name, "failed", None);
                } else {
                    let mut q = target.queue.lock().unwrap_or_else(|p| p.into_inner());
                    if q.pending.contains_key(&key) {
                        // A newer change of this account is waiting: it wins.
                        drop(q);
                        audit(
                            &name,
                            &account,
                            "superseded",
                            None,
                            "a newer change of this account replaced it",
                        );
                    } else {
                        audit(&name, &account, "retried", None, &text);
                        target.metrics.sync_outcome(&name, "retried", None);
                        pending.attempts += 1;
                        pending.next_try = Instant::now()
                            + if stopping {
                                FIRST_BACKOFF
                            } else {
                                backoff(pending.attempts)
                            };
                        q.pending.insert(key.clone(), pending);
                        q.order.push_front(key);
                    }
                }
            }
        }
        // The attempt's outcome is audited (or the change is queued again):
        // it is no longer in flight. No await since the attempt returned.
        let depth = {
            let mut q = target.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.in_flight = None;
            q.pending.len()
        };
        target.metrics.sync_depth(&name, depth);
        tracing::debug!(sync_target = %name, ms = started.elapsed().as_millis() as u64, "sync attempt done");
    }
}

/// Fills `{attribute}` placeholders with the source account's values,
/// escaped by `escape`. Names the first attribute that has no value.
fn fill(
    text: &str,
    attributes: &BTreeMap<String, Vec<String>>,
    escape: &dyn Fn(&str) -> String,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or("unclosed placeholder")?;
        let name = &after[..end];
        let value = attributes
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.first())
            .ok_or_else(|| format!("the source account has no {name} value"))?;
        out.push_str(&escape(value));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Result codes worth another try: busy, unavailable, unwilling (AD when
/// a DC is not ready), other, and timeouts.
fn transient(rc: u32) -> bool {
    matches!(rc, 51 | 52 | 80 | 85)
}

async fn attempt(target: &Target, conn: &mut Option<Ldap>, job: &Job) -> Attempt {
    let timeout = target.config.endpoint.timeout;
    if conn.as_mut().is_none_or(|l| l.is_closed()) {
        match ldapclient::connect(&target.config.endpoint, target.tls.as_ref()).await {
            Ok(l) => *conn = Some(l),
            Err(e) => return Attempt::Transient(e),
        }
    }
    let Some(ldap) = conn.as_mut() else {
        return Attempt::Transient("no connection".into());
    };
    let dn = match &target.config.locate {
        Locate::Template(t) => {
            match fill(t, &job.attributes, &|v| ldap3::dn_escape(v).into_owned()) {
                Ok(dn) => dn,
                Err(e) => return Attempt::NotFound(e),
            }
        }
        Locate::Search { base, filter } => {
            let filter = match fill(filter, &job.attributes, &|v| {
                ldap3::ldap_escape(v).into_owned()
            }) {
                Ok(f) => f,
                Err(e) => return Attempt::NotFound(e),
            };
            let found = ldap
                .with_timeout(timeout)
                .search(base, Scope::Subtree, &filter, vec!["1.1"])
                .await;
            let ldap3::SearchResult(entries, result) = match found {
                Ok(r) => r,
                Err(e) => return Attempt::Transient(ldapclient::describe_error(&e)),
            };
            if result.rc != 0 {
                return if transient(result.rc) {
                    Attempt::Transient(format!("search: result {} {}", result.rc, result.text))
                } else {
                    Attempt::Refused(result.rc, format!("search: {}", result.text))
                };
            }
            match entries.len() {
                0 => return Attempt::NotFound(format!("no entry matches {filter} under {base}")),
                1 => SearchEntry::construct(entries.into_iter().next().expect("one entry")).dn,
                n => {
                    return Attempt::NotFound(format!(
                        "{n} entries match {filter} under {base}; refusing to guess"
                    ))
                }
            }
        }
    };
    let password = job.password.expose();
    let written = match target.config.method {
        SyncMethod::PasswordModify => ldap
            .with_timeout(timeout)
            .extended(ldap3::exop::PasswordModify {
                user_id: Some(&dn),
                old_pass: None,
                new_pass: Some(password),
            })
            .await
            .map(|r| r.1),
        SyncMethod::UserPassword => {
            let value = zeroize::Zeroizing::new(password.as_bytes().to_vec());
            ldap.with_timeout(timeout)
                .modify(
                    &dn,
                    vec![Mod::Replace(
                        &b"userPassword"[..],
                        [&value[..]].into_iter().collect(),
                    )],
                )
                .await
        }
        SyncMethod::UnicodePwd => {
            let quoted = zeroize::Zeroizing::new(format!("\"{password}\""));
            let value: zeroize::Zeroizing<Vec<u8>> =
                zeroize::Zeroizing::new(quoted.encode_utf16().flat_map(u16::to_le_bytes).collect());
            ldap.with_timeout(timeout)
                .modify(
                    &dn,
                    vec![Mod::Replace(
                        &b"unicodePwd"[..],
                        [&value[..]].into_iter().collect(),
                    )],
                )
                .await
        }
    };
    match written {
        Err(e) => Attempt::Transient(ldapclient::describe_error(&e)),
        Ok(r) if r.rc == 0 => Attempt::Synced,
        Ok(r) if r.rc == 32 => Attempt::NotFound(format!("{dn}: {}", r.text)),
        Ok(r) if transient(r.rc) => Attempt::Transient(format!("result {} {}", r.rc, r.text)),
        Ok(r) => Attempt::Refused(r.rc, r.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_escaped() {
        let mut a = BTreeMap::new();
        a.insert("uid".to_owned(), vec!["o,neil".to_owned()]);
        let dn = fill("uid={uid},ou=people,dc=x", &a, &|v| {
            ldap3::dn_escape(v).into_owned()
        })
        .unwrap();
        assert_eq!(dn, "uid=o\\2cneil,ou=people,dc=x");
        let f = fill("(uid={UID})", &a, &|v| ldap3::ldap_escape(v).into_owned()).unwrap();
        assert_eq!(f, "(uid=o,neil)");
        assert_eq!(
            fill("cn={cn}", &a, &|v| v.to_owned()).unwrap_err(),
            "the source account has no cn value"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
