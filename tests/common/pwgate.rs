//! An in-process pwgate for integration tests.
//!
//! [`Pwgate::start`] runs the real server (the library's `Server`) on its own
//! thread and runtime, listening on free 127.0.0.1 ports for LDAP (with
//! StartTLS) and LDAPS, with the test certificates, in front of the given
//! upstream URL. Extra configuration is given as TOML text, exactly as a
//! user would write it in `pwgate.toml`. Dropping the handle shuts it down.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use pwgate::config::{Config, FileConfig, Overrides};
use pwgate::proxy::listener::Server;
use pwgate::proxy::Gate;
use tokio::sync::oneshot;

use super::slapd::test_certs;

pub struct Pwgate {
    pub ldap_addr: SocketAddr,
    pub ldaps_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Pwgate {
    /// pwgate in front of `upstream` with the built-in policy.
    pub fn start(upstream: &str) -> Pwgate {
        Pwgate::start_with(upstream, "")
    }

    /// pwgate in front of `upstream`, with `toml` as its config file. An
    /// empty `upstream` leaves the URLs to the file's `[upstream] urls`.
    pub fn start_with(upstream: &str, toml: &str) -> Pwgate {
        let certs = test_certs();
        let upstream: Vec<String> = [upstream]
            .into_iter()
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        let overrides = Overrides {
            upstream,
            listen: Some("127.0.0.1:0".into()),
            listen_ldaps: Some("127.0.0.1:0".into()),
            certificate: Some(certs.server_cert.clone()),
            private_key: Some(certs.server_key.clone()),
            ..Overrides::default()
        };
        let path = Path::new("test-pwgate.toml");
        let file = FileConfig::parse(toml, path).unwrap_or_else(|e| panic!("test config: {e}"));
        let config = Config::from_parts(file, toml, Some(path), &overrides)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        Pwgate::start_config(config)
    }

    /// pwgate with a fully built configuration (listen addresses should use port 0).
    pub fn start_config(config: Config) -> Pwgate {
        let gate = Gate::new(config).unwrap_or_else(|e| panic!("pwgate TLS setup: {e}"));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async move {
                let server = Server::bind(gate).await.expect("pwgate binds 127.0.0.1:0");
                addr_tx
                    .send((server.ldap_addr(), server.ldaps_addr()))
                    .expect("test thread waits for the addresses");
                server
                    .run(
                        async {
                            let _ = stop_rx.await;
                        },
                        Duration::from_secs(2),
                    )
                    .await;
            });
        });
        let (ldap, ldaps) = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("pwgate started within 10 s");
        Pwgate {
            ldap_addr: ldap.expect("plain listener"),
            ldaps_addr: ldaps.expect("LDAPS listener"),
            shutdown: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn ldap_url(&self) -> String {
        format!("ldap://{}", self.ldap_addr)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{}", self.ldaps_addr)
    }
}

impl Drop for Pwgate {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
