//! Changes the proxy forwarded a moment ago, so that the DC's own check
//! of the same change (Samba's check password script asking through
//! `pwgate hook samba`) is recorded as confirming it, not as a second,
//! unrelated change.
//!
//! Keyed by each name the proxy knows the account by (its normalized DN,
//! and from its entry its `sAMAccountName` and `userPrincipalName`, case
//! folded): the hook knows the account by name, not always by DN. An
//! entry lives [`WINDOW`] and is taken by the first hook decision that
//! names it. Bounded: when full, expired entries go first, then the
//! oldest.
//!
//! The Windows filter's decisions wait here too, under [`notice_key`]s,
//! for the DC's notice that the change was made (`POST /v1/notify`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after the proxy forwards a change the DC's check of it may come.
pub const WINDOW: Duration = Duration::from_secs(30);
/// The most changes remembered.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct RecentChanges {
    by_dn: Mutex<HashMap<String, (Instant, String)>>,
}

impl RecentChanges {
    /// The proxy forwards an accepted change of the account with these
    /// keys (see [`key`]), known as `label`.
    pub fn forwarded(&self, keys: &[String], label: &str) {
        let now = Instant::now();
        for k in keys {
            self.forwarded_at(k, label.to_owned(), now);
        }
    }

    fn forwarded_at(&self, key: &str, label: String, now: Instant) {
        let mut map = self.by_dn.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.retain(|_, (at, _)| now.duration_since(*at) < WINDOW);
            if map.len() >= CAPACITY {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(key.to_owned(), (now, label));
    }

    /// The change the proxy forwarded within the window for an account
    /// with one of these keys, if any; taken, so it confirms one check.
    pub fn take(&self, keys: &[String]) -> Option<String> {
        self.take_at(keys, Instant::now())
    }

    fn take_at(&self, keys: &[String], now: Instant) -> Option<String> {
        let mut map = self.by_dn.lock().unwrap_or_else(|p| p.into_inner());
        let (at, label) = keys.iter().find_map(|k| map.get(k).cloned())?;
        // The change is confirmed once: every key of it goes.
        map.retain(|_, (t, l)| !(*t == at && *l == label));
        (now.duration_since(at) < WINDOW).then_some(label)
    }
}

/// A key for an account: `dn:` and its normalized DN, or `name:` and a
/// case-folded account name or UPN.
pub fn key(kind: &str, value: &str) -> String {
    match kind {
        "dn" => format!("dn:{}", crate::dn::normalize_dn(value)),
        _ => format!(
            "name:{}",
            crate::policy::normalize::fold_case(value.trim()).as_str()
        ),
    }
}

/// The key under which a door's own decision waits for the DC's notice
/// that the change was made (the Windows filter's `PasswordChangeNotify`),
/// apart from the proxy's changes that wait for the DC's check.
pub fn notice_key(key: &str) -> String {
    format!("notice:{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_confirmed_once_within_the_window() {
        let r = RecentChanges::default();
        let alice = [key("dn", "CN=Alice,DC=x"), key("name", "Alice")];
        r.forwarded(&alice, "ldap 127.0.0.1:5 msgid 2");
        assert_eq!(
            r.take(&[key("name", "nobody"), key("name", "ALICE")]),
            Some("ldap 127.0.0.1:5 msgid 2".into())
        );
        // Confirmed once, by whichever key.
        assert_eq!(r.take(&[key("name", "alice")]), None);
        assert_eq!(r.take(&[key("dn", "cn=alice,dc=x")]), None);
        let t0 = Instant::now();
        r.forwarded_at("dn:cn=bob,dc=x", "b".into(), t0);
        assert_eq!(r.take_at(&["dn:cn=bob,dc=x".into()], t0 + WINDOW), None);
    }

    #[test]
    fn it_stays_bounded() {
        let r = RecentChanges::default();
        let t0 = Instant::now();
        for i in 0..CAPACITY + 10 {
            r.forwarded_at(
                &format!("dn:cn=u{i},dc=x"),
                format!("change {i}"),
                t0 + Duration::from_micros(i as u64),
            );
        }
        assert!(r.by_dn.lock().unwrap().len() <= CAPACITY);
        let last = format!("dn:cn=u{},dc=x", CAPACITY + 9);
        assert!(
            r.take_at(&["dn:cn=u0,dc=x".into()], t0).is_none(),
            "the oldest went first"
        );
        assert!(r.take_at(&[last], t0).is_some());
    }
}
