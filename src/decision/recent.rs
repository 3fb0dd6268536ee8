//! Changes the proxy forwarded a moment ago, so that the DC's own check
//! of the same change (Samba's check password script asking through
//! `pwgate hook samba`) is recorded as confirming it, not as a second,
//! unrelated change.
//!
//! Keyed by the account's normalized DN; an entry lives [`WINDOW`] and is
//! taken by the first hook decision for that account. Bounded: when full,
//! expired entries go first, then the oldest.

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
    /// The proxy forwards an accepted change of `dn`, known as `label`.
    pub fn forwarded(&self, dn: &str, label: String) {
        self.forwarded_at(dn, label, Instant::now());
    }

    fn forwarded_at(&self, dn: &str, label: String, now: Instant) {
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
        map.insert(crate::dn::normalize_dn(dn), (now, label));
    }

    /// The change the proxy forwarded for `dn` within the window, if any;
    /// taken, so it confirms one check only.
    pub fn take(&self, dn: &str) -> Option<String> {
        self.take_at(dn, Instant::now())
    }

    fn take_at(&self, dn: &str, now: Instant) -> Option<String> {
        let mut map = self.by_dn.lock().unwrap_or_else(|p| p.into_inner());
        let (at, label) = map.remove(&crate::dn::normalize_dn(dn))?;
        (now.duration_since(at) < WINDOW).then_some(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_confirmed_once_within_the_window() {
        let r = RecentChanges::default();
        let t0 = Instant::now();
        r.forwarded_at("CN=Alice,DC=x", "ldap 127.0.0.1:5 msgid 2".into(), t0);
        assert_eq!(
            r.take_at("cn=alice,dc=x", t0),
            Some("ldap 127.0.0.1:5 msgid 2".into())
        );
        assert_eq!(r.take_at("cn=alice,dc=x", t0), None);
        r.forwarded_at("CN=Bob,DC=x", "b".into(), t0);
        assert_eq!(r.take_at("CN=Bob,DC=x", t0 + WINDOW), None);
    }

    #[test]
    fn it_stays_bounded() {
        let r = RecentChanges::default();
        let t0 = Instant::now();
        for i in 0..CAPACITY + 10 {
            r.forwarded_at(
                &format!("cn=u{i},dc=x"),
                String::new(),
                t0 + Duration::from_micros(i as u64),
            );
        }
        assert!(r.by_dn.lock().unwrap().len() <= CAPACITY);
        assert!(
            r.take_at("cn=u0,dc=x", t0).is_none(),
            "the oldest went first"
        );
        assert!(r
            .take_at(&format!("cn=u{},dc=x", CAPACITY + 9), t0)
            .is_some());
    }
}
