//! Captures real requests of the `ldap3` crate as fuzz seeds
//! (`fuzz/seeds/intercept/ldap3-*`, `fuzz/seeds/frame/ldap3-*`), the
//! counterpart of `fuzz/capture-seeds.py` for ldap-utils. Ignored by
//! default because it writes into the source tree; run it with
//! `cargo test --test capture_ldap3_seeds -- --ignored` and commit the seeds.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::raw::split_frames;
use common::slapd::{user_dn, Slapd};
use ldap3::exop::PasswordModify;
use ldap3::{LdapConnAsync, Mod, Scope};

/// A relay on 127.0.0.1 that records what clients send to `target`.
fn recording_relay(target: String) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let addr = listener.local_addr().expect("relay address");
    let streams = Arc::new(Mutex::new(Vec::new()));
    let recorded = streams.clone();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else {
                break;
            };
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut s_read, mut c_write) = (server, client);
            let store = recorded.clone();
            thread::spawn(move || {
                let mut sent = Vec::new();
                let mut buf = [0u8; 16384];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent.extend_from_slice(&buf[..n]);
                }
                let _ = s_write.shutdown(Shutdown::Write);
                store.lock().expect("store").push(sent);
            });
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = s_read.read(&mut buf) {
                    if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(Shutdown::Write);
            });
        }
    });
    (format!("ldap://{addr}"), streams)
}

fn utf16_quoted(pw: &str) -> Vec<u8> {
    format!("\"{pw}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes seeds into fuzz/seeds; run on purpose"]
async fn capture_ldap3_requests_as_fuzz_seeds() {
    let slapd = Slapd::start();
    let target = slapd.ldap_url().trim_start_matches("ldap://").to_owned();
    let (url, streams) = recording_relay(target);
    let alice = user_dn("alice");
    {
        let (conn, mut ldap) = LdapConnAsync::new(&url)
            .await
            .expect("connect through relay");
        ldap3::drive!(conn);
        ldap.simple_bind(common::slapd::ADMIN_DN, common::slapd::ADMIN_PW)
            .await
            .expect("bind");
        let _ = ldap
            .search(
                common::slapd::PEOPLE_DN,
                Scope::Subtree,
                "(uid=alice)",
                vec!["cn", "mail"],
            )
            .await;
        let _ = ldap
            .modify(
                &alice,
                vec![Mod::Replace(
                    "userPassword",
                    HashSet::from(["Seed-Ldap3-Passw0rd-1"]),
                )],
            )
            .await;
        let _ = ldap
            .modify(
                &alice,
                vec![
                    Mod::Delete("userPassword", HashSet::from(["Seed-Ldap3-Passw0rd-1"])),
                    Mod::Add("userPassword", HashSet::from(["Seed-Ldap3-Passw0rd-2"])),
                ],
            )
            .await;
        let value = utf16_quoted("Seed-Ldap3-Passw0rd-3");
        let _ = ldap
            .modify(
                &alice,
                vec![Mod::Replace(
                    "unicodePwd".as_bytes(),
                    HashSet::from([value.as_slice()]),
                )],
            )
            .await;
        let _ = ldap
            .extended(PasswordModify {
                user_id: Some(&alice),
                old_pass: Some("Seed-Ldap3-Passw0rd-2"),
                new_pass: Some("Seed-Ldap3-Passw0rd-4"),
            })
            .await;
        let _ = ldap
            .add(
                &user_dn("seed"),
                vec![
                    ("objectClass", HashSet::from(["inetOrgPerson"])),
                    ("uid", HashSet::from(["seed"])),
                    ("cn", HashSet::from(["Seed Ldap3"])),
                    ("sn", HashSet::from(["Ldap3"])),
                    ("userPassword", HashSet::from(["Seed-Ldap3-Passw0rd-5"])),
                ],
            )
            .await;
        let _ = ldap.unbind().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let streams = streams.lock().expect("streams").clone();
    assert!(!streams.is_empty(), "nothing recorded");
    let mut messages = 0;
    for (i, stream) in streams.iter().enumerate() {
        std::fs::write(seeds.join(format!("frame/ldap3-stream-{i}")), stream).expect("write seed");
        let (frames, _) = split_frames(stream);
        for (j, frame) in frames.iter().enumerate() {
            std::fs::write(seeds.join(format!("intercept/ldap3-{i}-{j}")), frame)
                .expect("write seed");
            messages += 1;
        }
    }
    assert!(messages >= 8, "only {messages} messages captured");
}
