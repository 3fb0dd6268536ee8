//! An in-process pwgate for integration tests.
//!
//! [`Pwgate::start`] runs the real server (the library's `Server`) on its own
//! thread and runtime, listening on free 127.0.0.1 ports for LDAP (with
//! StartTLS) and LDAPS, with the test certificates, in front of the given
//! upstream URL. Extra configuration is given as TOML text, exactly as a
//! user would write it in `pwgate.toml`. Dropping the handle shuts it down
//! (as SIGTERM does, with a 2 s grace period); [`Pwgate::stop`] does it
//! with a bounded wait.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pwgate::config::{Config, FileConfig, Overrides};
use pwgate::proxy::listener::Server;
use pwgate::proxy::{Gate, GateCell};
use tokio::sync::oneshot;

use super::slapd::test_certs;

pub struct Pwgate {
    pub ldap_addr: SocketAddr,
    pub ldaps_addr: SocketAddr,
    /// The running server's gate and counters.
    pub cell: Arc<GateCell>,
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
        Pwgate::start_config(Pwgate::config(upstream, toml))
    }

    /// The configuration [`Pwgate::start_with`] runs with.
    pub fn config(upstream: &str, toml: &str) -> Config {
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
        Config::from_parts(file, toml, Some(path), &overrides)
            .unwrap_or_else(|e| panic!("test config: {e}"))
    }

    /// pwgate with a fully built configuration (listen addresses should use port 0).
    pub fn start_config(config: Config) -> Pwgate {
        Pwgate::start_config_with_grace(config, Duration::from_secs(2))
    }

    /// Like [`Pwgate::start_config`], with `grace` as the time sessions
    /// get to finish once shut down.
    pub fn start_config_with_grace(config: Config, grace: Duration) -> Pwgate {
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
                    .send((server.ldap_addr(), server.ldaps_addr(), server.gate_cell()))
                    .expect("test thread waits for the addresses");
                server
                    .run(
                        async {
                            let _ = stop_rx.await;
                        },
                        Some(grace),
                    )
                    .await
                    .expect("pwgate serves");
            });
        });
        let (ldap, ldaps, cell) = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("pwgate started within 10 s");
        Pwgate {
            ldap_addr: ldap.expect("plain listener"),
            ldaps_addr: ldaps.expect("LDAPS listener"),
            cell,
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

    /// Starts the shutdown (what SIGTERM does in the binary) without
    /// waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits at most `timeout` for the server to return;
    /// whether it did.
    pub fn stop(&mut self, timeout: Duration) -> bool {
        self.begin_shutdown();
        let deadline = Instant::now() + timeout;
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        true
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
