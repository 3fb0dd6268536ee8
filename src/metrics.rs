//! Counters for operators, rendered in the Prometheus text format (the
//! proxy's status endpoint serves them, with `/healthz` and `/readyz`).
//!
//! The counters live as long as the process (a reload does not reset them).
//! Labels carry only rule ids, verdicts, operation names, upstream URLs and
//! configured scope names: never a DN, a user name or anything derived from
//! a password, so their number stays small and nothing leaks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ldap_op as op;
use crate::policy::rules::breached::{self, BreachedCorpus};
use crate::policy::RuleIds;

/// LDAP request types counted separately; everything else is `other`.
const OPS: [(&str, u8); 10] = [
    ("bind", op::BIND_REQUEST),
    ("unbind", op::UNBIND_REQUEST),
    ("search", op::SEARCH_REQUEST),
    ("modify", op::MODIFY_REQUEST),
    ("add", op::ADD_REQUEST),
    ("delete", 0x4a),
    ("modrdn", 0x6c),
    ("compare", 0x6e),
    ("abandon", op::ABANDON_REQUEST),
    ("extended", op::EXTENDED_REQUEST),
];

/// Upper bounds (seconds) of the upstream connect latency histogram.
const CONNECT_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

/// LDAP result codes named in `pwgate_directory_answers_total`; any other
/// code counts as `other`, no answer as `none`.
const RESULT_CODES: [(i64, &str); 10] = [
    (0, "success"),
    (1, "operationsError"),
    (16, "noSuchAttribute"),
    (19, "constraintViolation"),
    (21, "invalidAttributeSyntax"),
    (32, "noSuchObject"),
    (49, "invalidCredentials"),
    (50, "insufficientAccessRights"),
    (53, "unwillingToPerform"),
    (80, "other"),
];

/// The outcomes counted per sync target.
const SYNC_OUTCOMES: [&str; 5] = ["synced", "retried", "failed", "not_found", "abandoned"];

/// Counts by scope: a decision adds to an entry there without allocating
/// (looked up by the scope's name), except for a scope's first.
type ByScope = BTreeMap<String, u64>;

/// Adds one to `scope`'s count.
fn count_scope(counts: &mut ByScope, scope: &str) {
    match counts.get_mut(scope) {
        Some(n) => *n += 1,
        None => {
            counts.insert(scope.to_owned(), 1);
        }
    }
}

/// The forwarded-requests counters are written at every request by every
/// worker thread: each thread counts in a slot of its own (slots are
/// shared only beyond this many threads), on cache lines of its own, so
/// that two workers never write the same line. A reading adds the slots.
const FORWARDED_SLOTS: usize = 8;

#[derive(Debug, Default)]
#[repr(align(64))]
struct ForwardedSlot([AtomicU64; OPS.len() + 1]);

/// The slot the calling thread counts in.
fn forwarded_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % FORWARDED_SLOTS;
    }
    SLOT.try_with(|s| *s).unwrap_or(0)
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    forwarded: [ForwardedSlot; FORWARDED_SLOTS],
    /// (door, verdict, rule, scope) -> count.
    decisions: Mutex<BTreeMap<(&'static str, &'static str, &'static str), ByScope>>,
    /// Checks (`/v1/check`: nothing is set): (verdict, rule, scope) -> count.
    checks: Mutex<BTreeMap<(String, String, String), u64>>,
    /// One per decision: (door, verdict, scope) -> count.
    verdicts: Mutex<BTreeMap<(&'static str, &'static str), ByScope>>,
    /// One per check: (verdict, scope) -> count.
    check_verdicts: Mutex<BTreeMap<(String, String), u64>>,
    /// upstream URL -> (connect errors, latency bucket counts, sum, count).
    upstream: Mutex<BTreeMap<String, UpstreamStats>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// The last reload was refused (the running configuration is older
    /// than the file).
    last_reload_failed: AtomicBool,
    /// sync target name -> counters.
    sync: Mutex<BTreeMap<String, SyncStats>>,
    /// The directory's answers to password operations pwgate forwarded:
    /// (kind, result) -> count.
    directory_answers: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// The breached-password store of the configuration in force, if any.
    breached_store: Mutex<Option<Arc<dyn BreachedCorpus>>>,
}

#[derive(Debug, Default, Clone)]
struct SyncStats {
    queued: u64,
    /// outcome (synced, retried, failed, not_found, abandoned) -> count.
    outcomes: BTreeMap<&'static str, u64>,
    depth: u64,
    /// From the primary's acceptance to the target's, for synced changes.
    latency_sum_seconds: f64,
    latency_count: u64,
}

#[derive(Debug, Default, Clone)]
struct UpstreamStats {
    /// Whether the last attempt to connect succeeded.
    up: bool,
    errors: u64,
    buckets: [u64; CONNECT_BUCKETS.len()],
    sum_seconds: f64,
    count: u64,
}

/// One client connection counted in `pwgate_connections_open` for as long
/// as this lives. It is dropped with the session's task however the task
/// ends, finished or aborted at the end of the shutdown grace period, so
/// the gauge cannot keep counting a connection that is gone.
#[derive(Debug)]
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a client connection as open until the guard is dropped.
    pub fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    /// One request forwarded to the directory.
    pub fn forwarded(&self, op_tag: u8) {
        let i = OPS
            .iter()
            .position(|(_, t)| *t == op_tag)
            .unwrap_or(OPS.len());
        self.forwarded[forwarded_slot()].0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// One password decision at a door (`ldap`, `samba_hook`, `api`):
    /// `rules` are the failed rule ids (or a reason id); an accepted change
    /// counts under rule `none`.
    pub fn decision(
        &self,
        door: &'static str,
        verdict: &'static str,
        rules: &RuleIds,
        scope: &str,
    ) {
        let mut d = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let none = rules.is_empty().then_some("none");
        for rule in rules.iter().chain(none) {
            count_scope(d.entry((door, verdict, rule)).or_default(), scope);
        }
        drop(d);
        let mut v = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        count_scope(v.entry((door, verdict)).or_default(), scope);
    }

    /// One check (would this password pass? nothing is set), counted apart
    /// from decisions so that a portal's checks do not look like changes.
    pub fn check(&self, verdict: &str, rules: &RuleIds, scope: &str) {
        let mut c = self.checks.lock().unwrap_or_else(|p| p.into_inner());
        for rule in rule_labels(rules) {
            *c.entry((verdict.to_owned(), rule.to_owned(), scope.to_owned()))
                .or_default() += 1;
        }
        drop(c);
        *self
            .check_verdicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((verdict.to_owned(), scope.to_owned()))
            .or_default() += 1;
    }

    /// One attempt to connect to an upstream URL.
    pub fn upstream_connect(&self, url: &str, outcome: Result<Duration, ()>) {
        let mut u = self.upstream.lock().unwrap_or_else(|p| p.into_inner());
        // Known after the first connect: no key to build.
        let stats = match u.get_mut(url) {
            Some(stats) => stats,
            None => u.entry(url.to_owned()).or_default(),
        };
        stats.up = outcome.is_ok();
        match outcome {
            Err(()) => stats.errors += 1,
            Ok(latency) => {
                let s = latency.as_secs_f64();
                for (i, bound) in CONNECT_BUCKETS.iter().enumerate() {
                    if s <= *bound {
                        stats.buckets[i] += 1;
                    }
                }
                stats.sum_seconds += s;
                stats.count += 1;
            }
        }
    }

    /// One reload of the configuration (SIGHUP): taken, or refused.
    pub fn reloaded(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.last_reload_failed.store(!ok, Ordering::Relaxed);
    }

    /// The directory's answer to a password operation pwgate forwarded
    /// (`kind`: change, reset, create); `None` when none came (the
    /// connection ended first).
    pub fn directory_answer(&self, kind: &'static str, code: Option<i64>) {
        let result = match code {
            None => "none",
            Some(c) => RESULT_CODES
                .iter()
                .find(|(n, _)| *n == c)
                .map_or("other", |(_, name)| name),
        };
        let mut m = self
            .directory_answers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *m.entry((kind, result)).or_default() += 1;
    }

    /// The breached-password store in force (set at start and on reload),
    /// whose state `pwgate_breached_store_up` shows.
    pub fn set_breached_store(&self, store: Option<Arc<dyn BreachedCorpus>>) {
        *self
            .breached_store
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = store;
    }

    /// A configured sync target: its counters start at 0, so that the
    /// first failure is an increase a rule can see (a series that appears
    /// with its first event has no earlier value to compare with).
    pub fn sync_register(&self, target: &str) {
        let mut m = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry(target.to_owned()).or_default();
        for outcome in SYNC_OUTCOMES {
            s.outcomes.entry(outcome).or_default();
        }
    }

    /// Keeps the upstream series of these URLs only (the configuration in
    /// force after a reload): a URL no longer configured does not stay
    /// down on the dashboard, or in an alert, forever.
    pub fn retain_upstreams(&self, urls: &[String]) {
        self.upstream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|url, _| urls.contains(url));
    }

    /// A change queued for a sync target; `depth` is its queue length now.
    pub fn sync_queued(&self, target: &str, depth: usize) {
        let mut m = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry(target.to_owned()).or_default();
        s.queued += 1;
        s.depth = depth as u64;
    }

    /// The outcome of one sync attempt (or of a queued change).
    pub fn sync_outcome(&self, target: &str, outcome: &'static str, latency: Option<Duration>) {
        let mut m = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry(target.to_owned()).or_default();
        *s.outcomes.entry(outcome).or_default() += 1;
        if let Some(l) = latency {
            s.latency_sum_seconds += l.as_secs_f64();
            s.latency_count += 1;
        }
    }

    pub fn sync_depth(&self, target: &str, depth: usize) {
        let mut m = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(target.to_owned()).or_default().depth = depth as u64;
    }

    fn render_sync(&self, out: &mut String) {
        // The headers are there without sync targets too, so a dashboard
        // or an alert that names these metrics always finds them.
        let m = self.sync.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = writeln!(out, "# HELP pwgate_sync_queued_total Accepted changes queued for a sync target.\n# TYPE pwgate_sync_queued_total counter");
        for (t, s) in &m {
            let _ = writeln!(
                out,
                "pwgate_sync_queued_total{{target=\"{t}\"}} {}",
                s.queued
            );
        }
        let _ = writeln!(out, "# HELP pwgate_sync_outcomes_total Sync attempts by outcome (synced, retried, failed, not_found, abandoned).\n# TYPE pwgate_sync_outcomes_total counter");
        for (t, s) in &m {
            for (o, n) in &s.outcomes {
                let _ = writeln!(
                    out,
                    "pwgate_sync_outcomes_total{{target=\"{t}\",outcome=\"{o}\"}} {n}"
                );
            }
        }
        let _ = writeln!(out, "# HELP pwgate_sync_queue_depth Changes waiting for a sync target.\n# TYPE pwgate_sync_queue_depth gauge");
        for (t, s) in &m {
            let _ = writeln!(out, "pwgate_sync_queue_depth{{target=\"{t}\"}} {}", s.depth);
        }
        let _ = writeln!(out, "# HELP pwgate_sync_latency_seconds From the primary's acceptance to the target's, for synced changes.\n# TYPE pwgate_sync_latency_seconds summary");
        for (t, s) in &m {
            let _ = writeln!(
                out,
                "pwgate_sync_latency_seconds_sum{{target=\"{t}\"}} {}",
                s.latency_sum_seconds
            );
            let _ = writeln!(
                out,
                "pwgate_sync_latency_seconds_count{{target=\"{t}\"}} {}",
                s.latency_count
            );
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "pwgate_connections_open",
            "Client connections open now.",
            "gauge",
            self.connections_open.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "pwgate_connections_total",
            "Client connections accepted.",
            "counter",
            self.connections_total.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "pwgate_connections_refused_total",
            "Client connections refused by the connection limit.",
            "counter",
            self.connections_refused.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "# HELP pwgate_forwarded_requests_total Requests forwarded to the directory, by operation.\n# TYPE pwgate_forwarded_requests_total counter");
        for (i, (name, _)) in OPS.iter().chain(std::iter::once(&("other", 0))).enumerate() {
            let _ = writeln!(
                out,
                "pwgate_forwarded_requests_total{{op=\"{name}\"}} {}",
                self.forwarded
                    .iter()
                    .map(|slot| slot.0[i].load(Ordering::Relaxed))
                    .sum::<u64>()
            );
        }
        let _ = writeln!(out, "# HELP pwgate_password_verdicts_total Password decisions, one per decision, by door, verdict and scope.\n# TYPE pwgate_password_verdicts_total counter");
        for ((door, verdict), by_scope) in self
            .verdicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (scope, n) in by_scope {
                let _ = writeln!(out, "pwgate_password_verdicts_total{{door=\"{door}\",verdict=\"{verdict}\",scope=\"{}\"}} {n}", escape(scope));
            }
        }
        let _ = writeln!(out, "# HELP pwgate_password_check_verdicts_total Password checks (nothing set), one per check, by verdict and scope.\n# TYPE pwgate_password_check_verdicts_total counter");
        for ((verdict, scope), n) in self
            .check_verdicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "pwgate_password_check_verdicts_total{{verdict=\"{verdict}\",scope=\"{}\"}} {n}",
                escape(scope)
            );
        }
        let _ = writeln!(out, "# HELP pwgate_password_decisions_total Password decisions by door, verdict, rule and scope: one sample per failed rule (a refusal on two rules counts under both; pwgate_password_verdicts_total counts decisions).\n# TYPE pwgate_password_decisions_total counter");
        for ((door, verdict, rule), by_scope) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (scope, n) in by_scope {
                let _ = writeln!(out, "pwgate_password_decisions_total{{door=\"{door}\",verdict=\"{verdict}\",rule=\"{rule}\",scope=\"{}\"}} {n}", escape(scope));
            }
        }
        let _ = writeln!(out, "# HELP pwgate_password_checks_total Password checks (would it pass? nothing set), by verdict, rule and scope.\n# TYPE pwgate_password_checks_total counter");
        for ((verdict, rule, scope), n) in
            self.checks.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let _ = writeln!(out, "pwgate_password_checks_total{{verdict=\"{verdict}\",rule=\"{rule}\",scope=\"{}\"}} {n}", escape(scope));
        }
        let upstream = self
            .upstream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = writeln!(out, "# HELP pwgate_upstream_connect_errors_total Failed connections to a directory.\n# TYPE pwgate_upstream_connect_errors_total counter");
        for (url, s) in &upstream {
            let _ = writeln!(
                out,
                "pwgate_upstream_connect_errors_total{{upstream=\"{}\"}} {}",
                escape(url),
                s.errors
            );
        }
        let _ = writeln!(out, "# HELP pwgate_upstream_connect_seconds Time to connect to a directory (TLS included).\n# TYPE pwgate_upstream_connect_seconds histogram");
        for (url, s) in &upstream {
            let url = escape(url);
            for (i, bound) in CONNECT_BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "pwgate_upstream_connect_seconds_bucket{{upstream=\"{url}\",le=\"{bound}\"}} {}", s.buckets[i]);
            }
            let _ = writeln!(
                out,
                "pwgate_upstream_connect_seconds_bucket{{upstream=\"{url}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "pwgate_upstream_connect_seconds_sum{{upstream=\"{url}\"}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "pwgate_upstream_connect_seconds_count{{upstream=\"{url}\"}} {}",
                s.count
            );
        }
        let _ = writeln!(out, "# HELP pwgate_config_reloads_total Configuration reloads, by result.\n# TYPE pwgate_config_reloads_total counter");
        let _ = writeln!(
            out,
            "pwgate_config_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "pwgate_config_reloads_total{{result=\"error\"}} {}",
            self.reloads_failed.load(Ordering::Relaxed)
        );
        gauge(
            &mut out,
            "pwgate_config_last_reload_successful",
            "Whether the last configuration reload was taken (1; also before any reload) or refused (0).",
            "gauge",
            u64::from(!self.last_reload_failed.load(Ordering::Relaxed)),
        );
        let _ = writeln!(out, "# HELP pwgate_upstream_up Whether the last connection attempt to a directory succeeded (1) or failed (0).\n# TYPE pwgate_upstream_up gauge");
        for (url, s) in &upstream {
            let _ = writeln!(
                out,
                "pwgate_upstream_up{{upstream=\"{}\"}} {}",
                escape(url),
                u8::from(s.up)
            );
        }
        let _ = writeln!(out, "# HELP pwgate_directory_answers_total The directory's answers to password operations pwgate forwarded, by kind and result.\n# TYPE pwgate_directory_answers_total counter");
        for ((kind, result), n) in self
            .directory_answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "pwgate_directory_answers_total{{kind=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
        let store = self
            .breached_store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        gauge(
            &mut out,
            "pwgate_breached_store_configured",
            "Whether a breached-password store is configured (1) or not (0).",
            "gauge",
            u64::from(store.is_some()),
        );
        gauge(
            &mut out,
            "pwgate_breached_store_up",
            "Whether the configured breached-password store can answer (1) or not (0: missing, unreadable or failed its checksum; 0 also when none is configured).",
            "gauge",
            u64::from(store.is_some_and(|s| s.available())),
        );
        gauge(
            &mut out,
            "pwgate_breached_lookup_errors_total",
            "Password checks the breached-password store could not answer.",
            "counter",
            breached::lookup_errors(),
        );
        gauge(
            &mut out,
            "pwgate_audit_write_errors_total",
            "Audit records that could not be written (file, standard output or syslog).",
            "counter",
            crate::audit::trail::write_errors(),
        );
        self.render_sync(&mut out);
        out
    }
}

/// The rule labels of one decision: its rule ids, or `none` when it
/// failed none.
fn rule_labels(rules: &RuleIds) -> Vec<&'static str> {
    if rules.is_empty() {
        vec!["none"]
    } else {
        rules.iter().collect()
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_aborted_session_leaves_the_open_connections_gauge() {
        let metrics = Arc::new(Metrics::default());
        let open = || metrics.connections_open.load(Ordering::Relaxed);
        let finished = metrics.open_connection();
        let stuck = metrics.open_connection();
        assert_eq!(open(), 2);
        // A session that ends on its own...
        tokio::spawn(async move {
            let _open = finished;
        })
        .await
        .expect("no panic");
        assert_eq!(open(), 1);
        // ...and one aborted while it waits forever, as the listener aborts
        // sessions still running after the grace period.
        let task = tokio::spawn(async move {
            let _open = stuck;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        task.abort();
        let ended = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the aborted task ends");
        assert!(ended.is_err_and(|e| e.is_cancelled()));
        assert_eq!(open(), 0);
        assert!(metrics.render().contains("\npwgate_connections_open 0\n"));
    }

    #[test]
    fn counters_render_as_prometheus_text_with_small_labels() {
        let m = Metrics::default();
        m.forwarded(op::SEARCH_REQUEST);
        m.forwarded(op::SEARCH_REQUEST);
        m.forwarded(0x4a);
        m.forwarded(0x99);
        m.decision(
            "ldap",
            "refused",
            &crate::policy::Verdict::Reject(vec![
                crate::policy::Violation::new(crate::policy::Rule::Length, String::new()),
                crate::policy::Violation::new(crate::policy::Rule::BannedWord, String::new()),
            ])
            .rule_ids(),
            "default",
        );
        m.decision("samba_hook", "accepted", &RuleIds::default(), "admins");
        m.check("refused", &RuleIds::one("length"), "default");
        m.upstream_connect("ldap://127.0.0.1:389", Ok(Duration::from_micros(700)));
        m.upstream_connect("ldap://127.0.0.1:389", Err(()));
        m.upstream_connect("ldap://127.0.0.2:389", Ok(Duration::from_micros(300)));
        m.reloaded(false);
        m.reloaded(true);
        m.reloaded(false);
        m.directory_answer("change", Some(0));
        m.directory_answer("change", Some(19));
        m.directory_answer("reset", Some(4711));
        m.directory_answer("reset", None);
        let text = m.render();
        for line in [
            "pwgate_forwarded_requests_total{op=\"search\"} 2",
            "pwgate_forwarded_requests_total{op=\"delete\"} 1",
            "pwgate_forwarded_requests_total{op=\"other\"} 1",
            "pwgate_password_decisions_total{door=\"ldap\",verdict=\"refused\",rule=\"length\",scope=\"default\"} 1",
            "pwgate_password_decisions_total{door=\"ldap\",verdict=\"refused\",rule=\"banned_word\",scope=\"default\"} 1",
            "pwgate_password_decisions_total{door=\"samba_hook\",verdict=\"accepted\",rule=\"none\",scope=\"admins\"} 1",
            "pwgate_password_checks_total{verdict=\"refused\",rule=\"length\",scope=\"default\"} 1",
            // Two rules, one decision.
            "pwgate_password_verdicts_total{door=\"ldap\",verdict=\"refused\",scope=\"default\"} 1",
            "pwgate_password_verdicts_total{door=\"samba_hook\",verdict=\"accepted\",scope=\"admins\"} 1",
            "pwgate_password_check_verdicts_total{verdict=\"refused\",scope=\"default\"} 1",
            "pwgate_upstream_connect_errors_total{upstream=\"ldap://127.0.0.1:389\"} 1",
            "pwgate_upstream_connect_seconds_bucket{upstream=\"ldap://127.0.0.1:389\",le=\"0.001\"} 1",
            "pwgate_upstream_connect_seconds_bucket{upstream=\"ldap://127.0.0.1:389\",le=\"0.0005\"} 0",
            "pwgate_upstream_up{upstream=\"ldap://127.0.0.1:389\"} 0",
            "pwgate_upstream_up{upstream=\"ldap://127.0.0.2:389\"} 1",
            "pwgate_directory_answers_total{kind=\"change\",result=\"success\"} 1",
            "pwgate_directory_answers_total{kind=\"change\",result=\"constraintViolation\"} 1",
            "pwgate_directory_answers_total{kind=\"reset\",result=\"other\"} 1",
            "pwgate_directory_answers_total{kind=\"reset\",result=\"none\"} 1",
            "pwgate_breached_store_configured 0",
            "pwgate_breached_store_up 0",
            "pwgate_config_reloads_total{result=\"ok\"} 1",
            "pwgate_config_reloads_total{result=\"error\"} 2",
            "pwgate_config_last_reload_successful 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
        }
    }

    #[derive(Debug)]
    struct Store(bool);

    impl BreachedCorpus for Store {
        fn contains(&self, _: &crate::secret::Password) -> Result<bool, String> {
            Ok(false)
        }

        fn available(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn sync_targets_start_at_zero_and_removed_upstreams_go() {
        let m = Metrics::default();
        m.sync_register("ad2");
        m.upstream_connect("ldap://a:389", Err(()));
        m.upstream_connect("ldap://b:389", Ok(Duration::from_millis(1)));
        m.retain_upstreams(&["ldap://b:389".to_owned()]);
        let text = m.render();
        for outcome in SYNC_OUTCOMES {
            let line =
                format!("pwgate_sync_outcomes_total{{target=\"ad2\",outcome=\"{outcome}\"}} 0");
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(!text.contains("ldap://a:389"), "{text}");
        assert!(
            text.contains("pwgate_upstream_up{upstream=\"ldap://b:389\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn the_breached_store_state_follows_the_store_in_force() {
        let m = Metrics::default();
        let has = |text: &str, line: &str| text.lines().any(|l| l == line);
        m.set_breached_store(Some(Arc::new(Store(true))));
        let text = m.render();
        assert!(has(&text, "pwgate_breached_store_configured 1"), "{text}");
        assert!(has(&text, "pwgate_breached_store_up 1"), "{text}");
        m.set_breached_store(Some(Arc::new(Store(false))));
        let text = m.render();
        assert!(has(&text, "pwgate_breached_store_configured 1"), "{text}");
        assert!(has(&text, "pwgate_breached_store_up 0"), "{text}");
    }

    #[test]
    fn every_metric_is_declared_before_anything_happened() {
        // Dashboards and alerts name these: each has its TYPE line from
        // the start, so a query finds the metric (empty) rather than a
        // name that does not exist.
        let text = Metrics::default().render();
        for name in [
            "pwgate_connections_open",
            "pwgate_password_decisions_total",
            "pwgate_password_checks_total",
            "pwgate_upstream_up",
            "pwgate_upstream_connect_errors_total",
            "pwgate_directory_answers_total",
            "pwgate_breached_store_up",
            "pwgate_breached_lookup_errors_total",
            "pwgate_audit_write_errors_total",
            "pwgate_config_reloads_total",
            "pwgate_sync_queue_depth",
            "pwgate_sync_outcomes_total",
        ] {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("# TYPE {name} "))),
                "no TYPE for {name}:\n{text}"
            );
        }
    }
}
