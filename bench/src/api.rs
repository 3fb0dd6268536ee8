//! apibench: the decision service's speed, against a baseline measured in
//! the same run.
//!
//! Starts the given pwgate binary with its HTTPS API (a bearer token) and
//! its Unix socket, the built-in policy, no directory (accounts named by
//! DN), on 127.0.0.1 only. Then:
//!
//! 1. HTTPS: `--conns` keep-alive connections in a closed loop (one request
//!    outstanding each) post `/v1/check` for `--seconds`; decisions/s and
//!    latency percentiles. Baseline: the same requests decided in this
//!    process by the decision core (`pwgate::decision::decide`), one
//!    thread, no network: what the API adds is the difference.
//! 2. The Samba hook: `--hook-runs` runs of `pwgate hook samba` (a process
//!    per password, as Samba runs it), wall time each. Baseline: the same
//!    number of runs of `pwgate --version` (process start and exit only).
//!
//! Bounded: every loop stops at its count or its time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

const TOKEN: &str = "0123456789abcdef0123456789abcdef-bench";
const PASSWORDS: &[&str] = &[
    "Summer2025!",
    "tangerine-Otter-42-lamp",
    "P@ssw0rd2024!",
    "Kv7#qLp2-Tz9!mWd",
    "correct horse battery staple",
    "Qwerty123456",
];

struct Args {
    pwgate: PathBuf,
    certs: PathBuf,
    conns: usize,
    seconds: u64,
    hook_runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        pwgate: PathBuf::from("../target/release/pwgate"),
        certs: PathBuf::from("../target/release/bench-certs"),
        conns: 8,
        seconds: 5,
        hook_runs: 300,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--pwgate" => a.pwgate = PathBuf::from(value()),
            "--certs" => a.certs = PathBuf::from(value()),
            "--conns" => a.conns = value().parse().unwrap_or_else(|_| usage("--conns N")),
            "--seconds" => a.seconds = value().parse().unwrap_or_else(|_| usage("--seconds N")),
            "--hook-runs" => {
                a.hook_runs = value().parse().unwrap_or_else(|_| usage("--hook-runs N"))
            }
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if !(1..=256).contains(&a.conns) || !(1..=120).contains(&a.seconds) || a.hook_runs > 100_000 {
        usage("--conns 1..=256, --seconds 1..=120, --hook-runs at most 100000");
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!(
        "apibench: {why}\nusage: apibench [--pwgate PATH] [--certs DIR] [--conns N] [--seconds N] [--hook-runs N]\n\
         --certs: a directory made by certs/generate.sh (made there if missing)"
    );
    std::process::exit(2)
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

struct Gate {
    child: Child,
    dir: PathBuf,
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(a: &Args, api: SocketAddr) -> (Gate, PathBuf) {
    let dir = std::env::temp_dir().join(format!("apibench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, format!("bench:{TOKEN}\n")).unwrap();
    let socket = dir.join("decide.sock");
    let config = dir.join("pwgate.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurls = [\"ldap://127.0.0.1:9\"]\n[listen]\nldap = \"{ldap}\"\n\
             certificate = \"{c}/server.crt\"\nprivate_key = \"{c}/server.key\"\n\
             [service]\nsocket = \"{s}\"\nhttps_listen = \"{api}\"\ntoken_file = \"{t}\"\n\
             rate_limit_per_client = 100000\nmax_concurrent = 256\n[log]\nlevel = \"warn\"\n",
            ldap = free_addr(),
            c = a.certs.display(),
            s = socket.display(),
            t = tokens.display(),
        ),
    )
    .unwrap();
    let child = Command::new(&a.pwgate)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| usage(&format!("cannot run {}: {e}", a.pwgate.display())));
    let mut gate = Gate { child, dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(api).is_err() || !socket.exists() {
        if let Ok(Some(status)) = gate.child.try_wait() {
            usage(&format!("pwgate exited: {status}"));
        }
        assert!(Instant::now() < deadline, "pwgate did not start in 15 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    (gate, socket)
}

fn tls_config(certs: &Path) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(certs.join("ca.crt")).expect("ca.crt");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.expect("PEM")).expect("CA");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn body(i: usize) -> String {
    format!(
        r#"{{"v":1,"account":{{"dn":"uid=user{},ou=people,dc=example,dc=com"}},"password":"{}"}}"#,
        i % 100,
        PASSWORDS[i % PASSWORDS.len()]
    )
}

/// One closed-loop connection until `until`: the latency of each request.
fn client(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    until: Instant,
    seed: usize,
) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(tls, name).unwrap();
    let mut s = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let mut i = seed;
    while Instant::now() < until {
        let b = body(i);
        i += 1;
        let req = format!(
            "POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        );
        let t0 = Instant::now();
        s.get_mut().write_all(req.as_bytes()).expect("send");
        let mut line = String::new();
        s.read_line(&mut line).expect("status");
        assert!(line.starts_with("HTTP/1.1 200"), "answer: {line}");
        let mut len = 0;
        loop {
            line.clear();
            s.read_line(&mut line).expect("header");
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; len];
        s.read_exact(&mut buf).expect("body");
        h.record(t0.elapsed().as_micros().max(1) as u64).unwrap();
    }
    h
}

fn report(name: &str, h: &Histogram<u64>, seconds: f64) -> f64 {
    let rate = h.len() as f64 / seconds;
    let shown = if seconds > 0.0 {
        format!("{rate:>9.0}/s")
    } else {
        " ".repeat(11)
    };
    println!(
        "{name:<34} {shown}  p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs  max {:>8.1} µs  (n={})",
        h.value_at_quantile(0.5) as f64,
        h.value_at_quantile(0.99) as f64,
        h.value_at_quantile(0.999) as f64,
        h.max() as f64,
        h.len()
    );
    rate
}

/// The same requests decided in this process by the decision core.
fn in_process(seconds: u64) -> (Histogram<u64>, f64) {
    use pwgate::decision::{self, accounts::NoDirectory, Actor, Binds, Context, NewPassword};
    use pwgate::decision::{Door, Peer, Purpose, Request, TargetRef};
    let config = pwgate::config::Config::load(
        None,
        &pwgate::config::Overrides {
            upstream: vec!["ldap://127.0.0.1:9".into()],
            ..Default::default()
        },
    )
    .expect("the default config");
    pwgate::policy::rules::banned::BannedWords::builtin();
    let metrics = pwgate::metrics::Metrics::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(seconds);
    let mut i = 0;
    while Instant::now() < until {
        let request = Request {
            door: Door::Api,
            purpose: Purpose::Check,
            client: Peer::Local { uid: 0, pid: None },
            actor: Actor::Unknown,
            binds: Binds::None,
            target: TargetRef::Dn(format!("uid=user{},ou=people,dc=example,dc=com", i % 100)),
            request_names: Vec::new(),
            search_bases: Vec::new(),
            account_keys: Vec::new(),
            kind: pwgate::policy::ChangeKind::Set,
            attribute: pwgate::policy::PasswordAttribute::Service,
            msgid: 0,
            new_passwords: vec![NewPassword::Clear(pwgate::secret::Password::new(
                PASSWORDS[i % PASSWORDS.len()].to_owned(),
            ))],
            old_password: None,
            encrypted: true,
        };
        i += 1;
        let ctx = Context::<NoDirectory> {
            config: &config,
            accounts: None,
            sync: None,
            metrics: &metrics,
            recent: None,
        };
        let t = Instant::now();
        let o = rt.block_on(decision::decide(&ctx, request));
        h.record(t.elapsed().as_micros().max(1) as u64).unwrap();
        std::hint::black_box(o);
    }
    (h, t0.elapsed().as_secs_f64())
}

/// `runs` runs of a command, wall time each.
/// A command to time: its name, how to make run `i`, its standard input.
type Timed<'a> = (&'a str, Box<dyn FnMut(usize) -> Command + 'a>, &'a [u8]);

/// Runs each of `commands` `runs` times, interleaved (one run of each in
/// turn, so that all see the same machine), each with its input on
/// standard input, for at most 120 s: per command, the histogram of whole
/// runs (spawn to exit) and how many exited with a status other than 0.
fn interleaved(runs: usize, commands: &mut [Timed<'_>]) -> Vec<(Histogram<u64>, usize)> {
    let mut out: Vec<(Histogram<u64>, usize)> = commands
        .iter()
        .map(|_| (Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(), 0))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..runs {
        if Instant::now() > deadline {
            eprintln!("apibench: stopped after {i} rounds (120 s)");
            break;
        }
        for ((_, make, input), (h, failed)) in commands.iter_mut().zip(out.iter_mut()) {
            let t0 = Instant::now();
            let mut child = make(i)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            child.stdin.take().unwrap().write_all(input).ok();
            let status = child.wait().expect("wait");
            h.record(t0.elapsed().as_micros().max(1) as u64).unwrap();
            *failed += usize::from(!status.success());
        }
    }
    out
}

fn main() {
    let a = args();
    if !a.certs.join("server.crt").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs/generate.sh");
        let ok = Command::new(script)
            .arg(&a.certs)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "certs/generate.sh failed");
    }
    let mut a = a;
    a.certs = a.certs.canonicalize().expect("the certs directory");
    a.pwgate = a
        .pwgate
        .canonicalize()
        .unwrap_or_else(|e| usage(&format!("{}: {e}", a.pwgate.display())));
    let api = free_addr();
    let (gate, socket) = start(&a, api);
    println!(
        "apibench: pwgate {} with the built-in policy; {} connections, {} s; {} hook runs",
        a.pwgate.display(),
        a.conns,
        a.seconds,
        a.hook_runs
    );

    let (base, base_secs) = in_process(a.seconds);
    let base_rate = report("baseline: decide() in-process", &base, base_secs);

    let tls = tls_config(&a.certs);
    // Warm up (connections, TLS, the policy's pages).
    client(
        api,
        tls.clone(),
        Instant::now() + Duration::from_millis(500),
        0,
    );
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(a.seconds);
    let threads: Vec<_> = (0..a.conns)
        .map(|c| {
            let tls = tls.clone();
            std::thread::spawn(move || client(api, tls, until, c * 1000))
        })
        .collect();
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for t in threads {
        all.add(t.join().expect("a client thread")).unwrap();
    }
    let rate = report(
        "HTTPS /v1/check, keep-alive",
        &all,
        t0.elapsed().as_secs_f64(),
    );
    println!("ratio HTTPS / in-process: {:.2}", rate / base_rate);

    if a.hook_runs > 0 {
        let lean = a.pwgate.with_file_name("pwgate-samba-hook");
        assert!(
            lean.exists(),
            "{} is missing (cargo build --release)",
            lean.display()
        );
        let sam = |i: usize, mut c: Command| {
            c.env("SAMBA_CPS_ACCOUNT_NAME", format!("user{}", i % 100))
                .env(
                    "SAMBA_CPS_USER_PRINCIPAL_NAME",
                    format!("user{}@example.test", i % 100),
                );
            c
        };
        let sh = |line: String| {
            move |i: usize| {
                let mut c = Command::new("/bin/sh");
                c.args(["-c", &line]);
                sam(i, c)
            }
        };
        let strong = PASSWORDS[1].as_bytes();
        // Samba runs the script's line with /bin/sh -c: the shell is part
        // of what a password change on the DC pays for the hook.
        let mut commands: Vec<Timed> = vec![
            (
                "baseline: /bin/sh -c true",
                Box::new(|_| {
                    let mut c = Command::new("/bin/sh");
                    c.args(["-c", "true"]);
                    c
                }),
                b"",
            ),
            (
                "baseline: pwgate --version",
                Box::new(|_| {
                    let mut c = Command::new(&a.pwgate);
                    c.arg("--version");
                    c
                }),
                b"",
            ),
            (
                "pwgate-samba-hook (alone)",
                Box::new(|i| {
                    let mut c = Command::new(&lean);
                    c.arg("--socket").arg(&socket);
                    sam(i, c)
                }),
                strong,
            ),
            (
                "sh -c 'pwgate-samba-hook' (as Samba runs it)",
                Box::new(sh(format!(
                    "{} --socket {}",
                    lean.display(),
                    socket.display()
                ))),
                strong,
            ),
            (
                "sh -c 'pwgate hook samba' (as Samba runs it)",
                Box::new(sh(format!(
                    "{} hook samba --socket {}",
                    a.pwgate.display(),
                    socket.display()
                ))),
                strong,
            ),
        ];
        let results = interleaved(a.hook_runs, &mut commands);
        for ((name, ..), (h, failed)) in commands.iter().zip(&results) {
            assert_eq!(
                *failed, 0,
                "{name}: a run failed (a strong password refused?)"
            );
            report(name, h, 0.0);
        }
        let p99 = |k: usize| results[k].0.value_at_quantile(0.99) as f64 / 1000.0;
        println!(
            "the hook adds to a change on the DC (p99, target under 5 ms): {:.2} ms lean, {:.2} ms `pwgate hook samba`; the shell alone {:.2} ms",
            p99(3),
            p99(4),
            p99(0)
        );
    }
    drop(gate);
}
