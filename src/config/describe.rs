//! `pwgate config check`: the effective settings in plain words, every
//! section's, with no secret.

use std::net::SocketAddr;

use super::Config;
use crate::audit::trail::Sink;
use crate::directory::Membership;
use crate::policy::rules::strength::Estimator;

/// Whether `host` is a reserved name that never resolves (RFC 2606 and
/// RFC 6761: the `.invalid` and `.example` top-level domains), as the
/// packaged configuration's placeholder directory is.
fn is_placeholder(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ["invalid", "example"]
        .iter()
        .any(|tld| host == *tld || host.ends_with(&format!(".{tld}")))
}

impl Config {
    /// What is valid but cannot work as written: directory addresses that
    /// are placeholders. `pwgate config check` prints these as notes.
    pub fn notes(&self) -> Vec<String> {
        self.upstream
            .urls
            .iter()
            .filter(|u| is_placeholder(&u.host))
            .map(|u| {
                format!(
                    "note: [upstream] urls: {u} is a placeholder (a reserved name that never \
                     resolves): set the address of your directory (a domain controller or \
                     slapd) before starting pwgate"
                )
            })
            .collect()
    }

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
                Estimator::Pwgate => format!(
                    "pwgate estimator, score at least {} (first {} characters estimated, \
                     each further one counted as 10 guesses)",
                    s.min_score, s.max_chars
                ),
                Estimator::Zxcvbn => format!(
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
                    Membership::InChain => "in_chain (nested, by the DC)".to_owned(),
                    Membership::Member => "member (direct only)".to_owned(),
                    Membership::Nested => format!(
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
                Some(Sink::Stdout) => "log and stdout".to_owned(),
                Some(Sink::File(p)) => format!("log and {}", p.display()),
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
            "limits: message {} bytes, {} connections, {} outstanding per connection, idle {}, message {} s, write {} s, TLS handshake {} s, shutdown grace {} s",
            l.max_message_bytes,
            l.max_connections,
            l.max_outstanding_per_connection,
            l.idle_timeout.map_or("never".to_owned(), |d| format!("{} s", d.as_secs())),
            l.message_timeout.as_secs(),
            l.write_timeout.as_secs(),
            l.tls_handshake_timeout.as_secs(),
            l.shutdown_grace.as_secs()
        ));
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod placeholder_tests {
    #[test]
    fn reserved_names_are_placeholders_and_real_ones_are_not() {
        for host in [
            "dc1.example.invalid",
            "DC.EXAMPLE",
            "invalid",
            "ldap.corp.example.",
        ] {
            assert!(super::is_placeholder(host), "{host}");
        }
        for host in [
            "dc1.corp.example.com",
            "127.0.0.1",
            "invalidator.net",
            "example",
        ] {
            assert_eq!(super::is_placeholder(host), host == "example", "{host}");
        }
    }
}
