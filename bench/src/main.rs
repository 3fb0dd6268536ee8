//! ldapbench: a closed-loop LDAP load generator for pwgate's benchmarks.
//!
//! N connections, each a task with exactly one request outstanding. Every
//! answer is checked (message ID, result code, entry count), latencies go
//! into an HDR histogram, and the CPU time of this process and of the PIDs
//! given with `--pid` is read from /proc at the edges of the measurement
//! window, so the output includes CPU seconds per 10,000 operations of the
//! directory, the proxy and the load generator itself.
//!
//! Bounded by design: `--duration` (at most 600 s), `--max-ops`,
//! `--max-errors`, a per-operation timeout, and 127.0.0.0/8 targets only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use pwgate::ber::{tag, write_integer, write_tlv};
use pwgate::proxy::frame::{self, op};
use pwgate::proxy::upstream::result_code;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

const USAGE: &str = "\
ldapbench --target 127.0.0.1:PORT [options]
  --op OP          base | sub | bind | passwd | connbind (default base)
                     base     search scope=base on uid=userK,ou=people,dc=example,dc=com
                     sub      search scope=sub under ou=people for (uid=userK)
                     bind     simple bind as uid=userK / passK on the open connection
                     passwd   RFC 3062 Password Modify: connection k owns uid=pwuserk and
                              alternates its password between two strong values
                     connbind new TCP connection + bind + unbind per operation
                     mixed    per operation at random: base 45%, sub 40%, bind 15%
                     idle     open the connections and hold them, no operations
                              (for memory per idle connection)
  --conns N        connections, one request outstanding each (default 16, max 10000)
  --duration S     measurement window in seconds (default 5, max 600)
  --warmup S       load before the window opens (default 1)
  --users N        K is uniform in 0..N (default 1000)
  --max-ops N      stop the window after N operations (default 50000000)
  --max-errors N   abort after N errors (default 100)
  --threads N      runtime worker threads, 1 = current-thread (default 1)
  --pid NAME=PID   report CPU of PID over the window; repeatable
  --label TEXT     label for the result line
  --json FILE      append the result as one JSON line to FILE
  --tls-ca FILE    connect with LDAPS (TLS from the first byte), verifying the
                   target's certificate for 127.0.0.1 against this PEM CA
";

const PEOPLE: &str = "ou=people,dc=example,dc=com";
/// The two passwords `passwd` alternates between (strong for any policy).
const PW_A: &str = "Kv7#qLp2-Tz9!mWd";
const PW_B: &str = "Rx4$nHs8_Yb3%cJf";
const OID_PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Base,
    Sub,
    Bind,
    Passwd,
    ConnBind,
    Mixed,
    Idle,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "base" => Op::Base,
            "sub" => Op::Sub,
            "bind" => Op::Bind,
            "passwd" => Op::Passwd,
            "connbind" => Op::ConnBind,
            "mixed" => Op::Mixed,
            "idle" => Op::Idle,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Base => "base",
            Op::Sub => "sub",
            Op::Bind => "bind",
            Op::Passwd => "passwd",
            Op::ConnBind => "connbind",
            Op::Mixed => "mixed",
            Op::Idle => "idle",
        }
    }
}

struct Args {
    target: SocketAddr,
    op: Op,
    conns: usize,
    duration: Duration,
    warmup: Duration,
    users: u64,
    max_ops: u64,
    max_errors: u64,
    threads: usize,
    pids: Vec<(String, u32)>,
    label: String,
    json: Option<String>,
    /// LDAPS: the TLS client configuration (from --tls-ca).
    tls: Option<tokio_rustls::TlsConnector>,
}

/// A TLS client that trusts the PEM CA file at `path` only.
fn tls_connector(path: &str) -> Result<tokio_rustls::TlsConnector, String> {
    let pem = std::fs::read(path).map_err(|e| format!("--tls-ca {path}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| format!("--tls-ca {path}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("--tls-ca {path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("--tls-ca {path}: no certificate found"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        target: "127.0.0.1:389".parse().expect("literal address"),
        op: Op::Base,
        conns: 16,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        users: 1000,
        max_ops: 50_000_000,
        max_errors: 100,
        threads: 1,
        pids: Vec::new(),
        label: String::new(),
        json: None,
        tls: None,
    };
    let mut target = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: `{v}` is not a number"))
        };
        match flag.as_str() {
            "--target" => {
                target = Some(
                    value
                        .parse::<SocketAddr>()
                        .map_err(|_| format!("--target: `{value}` is not ADDR:PORT"))?,
                )
            }
            "--op" => a.op = Op::parse(&value).ok_or_else(|| format!("unknown --op `{value}`"))?,
            "--conns" => a.conns = num(&value)? as usize,
            "--duration" => a.duration = Duration::from_secs_f64(num(&value)?),
            "--warmup" => a.warmup = Duration::from_secs_f64(num(&value)?),
            "--users" => a.users = num(&value)? as u64,
            "--max-ops" => a.max_ops = num(&value)? as u64,
            "--max-errors" => a.max_errors = num(&value)? as u64,
            "--threads" => a.threads = num(&value)? as usize,
            "--label" => a.label = value,
            "--json" => a.json = Some(value),
            "--tls-ca" => a.tls = Some(tls_connector(&value)?),
            "--pid" => {
                let (name, pid) = value.split_once('=').ok_or("--pid takes NAME=PID")?;
                let pid = pid.parse().map_err(|_| format!("--pid: bad PID `{pid}`"))?;
                a.pids.push((name.to_owned(), pid));
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    a.target = target.ok_or("--target is required")?;
    let loopback = match a.target.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6.is_loopback(),
    };
    if !loopback {
        return Err("only loopback targets (127.0.0.0/8, ::1) are allowed".into());
    }
    if !(1..=10_000).contains(&a.conns) {
        return Err("--conns must be 1..=10000".into());
    }
    if a.duration.is_zero() || a.duration > Duration::from_secs(600) {
        return Err("--duration must be in (0, 600] seconds".into());
    }
    if a.users == 0 || a.threads == 0 {
        return Err("--users and --threads must be at least 1".into());
    }
    Ok(a)
}

// ---- requests -------------------------------------------------------------

fn message(msgid: i32, op_tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + 16);
    write_integer(&mut m, tag::INTEGER, i64::from(msgid));
    write_tlv(&mut m, op_tag, body);
    let mut out = Vec::with_capacity(m.len() + 4);
    write_tlv(&mut out, tag::SEQUENCE, &m);
    out
}

fn bind_request(msgid: i32, dn: &str, password: &str) -> Vec<u8> {
    let mut b = Vec::new();
    write_integer(&mut b, tag::INTEGER, 3);
    write_tlv(&mut b, tag::OCTET_STRING, dn.as_bytes());
    write_tlv(&mut b, 0x80, password.as_bytes());
    message(msgid, op::BIND_REQUEST, &b)
}

fn search_request(msgid: i32, base: &str, scope: i64, filter: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    write_tlv(&mut b, tag::OCTET_STRING, base.as_bytes());
    write_integer(&mut b, tag::ENUMERATED, scope);
    write_integer(&mut b, tag::ENUMERATED, 0); // neverDerefAliases
    write_integer(&mut b, tag::INTEGER, 0); // sizeLimit
    write_integer(&mut b, tag::INTEGER, 0); // timeLimit
    write_tlv(&mut b, tag::BOOLEAN, &[0]);
    b.extend_from_slice(filter);
    write_tlv(&mut b, tag::SEQUENCE, &[]); // all user attributes
    message(msgid, op::SEARCH_REQUEST, &b)
}

fn present(attr: &str) -> Vec<u8> {
    let mut f = Vec::new();
    write_tlv(&mut f, 0x87, attr.as_bytes());
    f
}

fn equality(attr: &str, value: &str) -> Vec<u8> {
    let mut inner = Vec::new();
    write_tlv(&mut inner, tag::OCTET_STRING, attr.as_bytes());
    write_tlv(&mut inner, tag::OCTET_STRING, value.as_bytes());
    let mut f = Vec::new();
    write_tlv(&mut f, 0xa3, &inner);
    f
}

fn password_modify(msgid: i32, user: &str, old: &str, new: &str) -> Vec<u8> {
    let mut v = Vec::new();
    write_tlv(&mut v, 0x80, user.as_bytes());
    write_tlv(&mut v, 0x81, old.as_bytes());
    write_tlv(&mut v, 0x82, new.as_bytes());
    let mut value = Vec::new();
    write_tlv(&mut value, tag::SEQUENCE, &v);
    let mut b = Vec::new();
    write_tlv(&mut b, 0x80, OID_PASSWORD_MODIFY.as_bytes());
    write_tlv(&mut b, 0x81, &value);
    message(msgid, op::EXTENDED_REQUEST, &b)
}

fn unbind_request(msgid: i32) -> Vec<u8> {
    let mut m = Vec::new();
    write_integer(&mut m, tag::INTEGER, i64::from(msgid));
    write_tlv(&mut m, op::UNBIND_REQUEST, &[]);
    let mut out = Vec::new();
    write_tlv(&mut out, tag::SEQUENCE, &m);
    out
}

// ---- one connection ---------------------------------------------------------

/// A plain or TLS connection.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An LDAP connection with one request outstanding at a time.
struct Conn {
    tcp: Box<dyn Io>,
    buf: BytesMut,
    msgid: i32,
}

/// The outcome of one request: its result code and how many entries came.
struct Answer {
    code: i64,
    entries: usize,
}

impl Conn {
    async fn open(
        target: SocketAddr,
        tls: Option<&tokio_rustls::TlsConnector>,
    ) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(target).await?;
        tcp.set_nodelay(true)?;
        let tcp: Box<dyn Io> = match tls {
            Some(connector) => {
                let name = rustls::pki_types::ServerName::IpAddress(target.ip().into());
                Box::new(connector.connect(name, tcp).await?)
            }
            None => Box::new(tcp),
        };
        Ok(Conn {
            tcp,
            buf: BytesMut::with_capacity(16 * 1024),
            msgid: 0,
        })
    }

    fn next_id(&mut self) -> i32 {
        self.msgid = if self.msgid == i32::MAX {
            1
        } else {
            self.msgid + 1
        };
        self.msgid
    }

    /// Sends a request and reads up to the message that ends it, checking
    /// that every answer carries the request's message ID.
    async fn call(&mut self, request: &[u8], msgid: i32) -> Result<Answer, String> {
        self.tcp
            .write_all(request)
            .await
            .map_err(|e| e.to_string())?;
        let mut entries = 0;
        loop {
            while let Some(len) = frame::frame_len(&self.buf, 1 << 24).map_err(|e| e.to_string())? {
                let message = self.buf.split_to(len);
                let peek = frame::peek(&message).map_err(|e| e.to_string())?;
                if peek.msgid != msgid {
                    return Err(format!(
                        "answer for msgid {} while waiting for {msgid}",
                        peek.msgid
                    ));
                }
                if peek.op == 0x64 {
                    entries += 1;
                } else if op::ends_operation(peek.op) {
                    let code = result_code(&message).ok_or("answer without a result code")?;
                    return Ok(Answer { code, entries });
                }
            }
            let n = self
                .tcp
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
        }
    }

    async fn bind(&mut self, dn: &str, password: &str) -> Result<Answer, String> {
        let id = self.next_id();
        self.call(&bind_request(id, dn, password), id).await
    }
}

// ---- the load -----------------------------------------------------------

struct Shared {
    args: Args,
    measuring: AtomicBool,
    stop: AtomicBool,
    ops: AtomicU64,
    errors: AtomicU64,
    /// Connections open (idle workload).
    connected: AtomicU64,
    first_error: Mutex<Option<String>>,
    histogram: Mutex<Histogram<u64>>,
}

impl Shared {
    fn error(&self, e: String) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let mut first = self.first_error.lock().expect("error lock");
        if first.is_none() {
            *first = Some(e);
        }
        if n >= self.args.max_errors {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Small deterministic generator (xorshift) for picking users.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn worker(shared: Arc<Shared>, k: usize) {
    let args = &shared.args;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1));
    let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut conn = match Conn::open(args.target, args.tls.as_ref()).await {
        Ok(c) => Some(c),
        Err(e) => {
            shared.error(format!("connect: {e}"));
            None
        }
    };
    // passwd: this connection's account and its current password.
    let pw_dn = format!("uid=pwuser{k},{PEOPLE}");
    let mut current = PW_A;
    if args.op == Op::Passwd {
        if let Some(c) = conn.as_mut() {
            let mut bound = false;
            for pw in [PW_A, PW_B] {
                if matches!(c.bind(&pw_dn, pw).await, Ok(Answer { code: 0, .. })) {
                    current = pw;
                    bound = true;
                    break;
                }
            }
            if !bound {
                shared.error(format!(
                    "cannot bind as {pw_dn} with either benchmark password"
                ));
                conn = None;
            }
        }
    }
    if args.op == Op::Idle {
        // Hold the connection open, doing nothing, until the run ends.
        if conn.is_some() {
            shared.connected.fetch_add(1, Ordering::Relaxed);
        }
        while !shared.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return;
    }
    while !shared.stop.load(Ordering::Relaxed) {
        let user = rng.below(args.users);
        let op = match args.op {
            Op::Mixed => match rng.below(100) {
                0..=44 => Op::Base,
                45..=84 => Op::Sub,
                _ => Op::Bind,
            },
            other => other,
        };
        let started = Instant::now();
        let outcome = match op {
            Op::ConnBind => {
                async {
                    let mut c = Conn::open(args.target, args.tls.as_ref())
                        .await
                        .map_err(|e| e.to_string())?;
                    let a = c
                        .bind(&format!("uid=user{user},{PEOPLE}"), &format!("pass{user}"))
                        .await?;
                    let id = c.next_id();
                    c.tcp
                        .write_all(&unbind_request(id))
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(a)
                }
                .await
            }
            _ => {
                let Some(c) = conn.as_mut() else { break };
                let id = c.next_id();
                let request = match op {
                    Op::Base => search_request(
                        id,
                        &format!("uid=user{user},{PEOPLE}"),
                        0,
                        &present("objectClass"),
                    ),
                    Op::Sub => {
                        search_request(id, PEOPLE, 2, &equality("uid", &format!("user{user}")))
                    }
                    Op::Bind => bind_request(
                        id,
                        &format!("uid=user{user},{PEOPLE}"),
                        &format!("pass{user}"),
                    ),
                    Op::Passwd => {
                        let next = if current == PW_A { PW_B } else { PW_A };
                        password_modify(id, &pw_dn, current, next)
                    }
                    Op::ConnBind | Op::Mixed | Op::Idle => unreachable!("handled above"),
                };
                c.call(&request, id).await
            }
        };
        let elapsed = started.elapsed();
        match outcome {
            Ok(Answer { code: 0, entries }) => {
                if matches!(op, Op::Base | Op::Sub) && entries != 1 {
                    shared.error(format!("{} search returned {entries} entries", op.name()));
                    continue;
                }
                if args.op == Op::Passwd {
                    current = if current == PW_A { PW_B } else { PW_A };
                }
                if shared.measuring.load(Ordering::Relaxed) {
                    let _ = local.record(elapsed.as_micros().max(1) as u64);
                    let n = shared.ops.fetch_add(1, Ordering::Relaxed) + 1;
                    if n >= args.max_ops {
                        shared.stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            Ok(Answer { code, .. }) => shared.error(format!("{}: result code {code}", op.name())),
            Err(e) => {
                shared.error(format!("{}: {e}", op.name()));
                if op != Op::ConnBind {
                    break;
                }
            }
        }
        if !shared.measuring.load(Ordering::Relaxed) && shared.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    shared
        .histogram
        .lock()
        .expect("histogram lock")
        .add(&local)
        .expect("same histogram bounds");
}

/// utime + stime of a process, in clock ticks, from /proc/PID/stat.
/// Context switches (voluntary + involuntary) of every thread of `pid`:
/// each is a wake-up the kernel had to schedule, the cost a proxy's thread
/// design decides, and a count that other load on the machine barely moves.
fn context_switches(pid: &str) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().ok()?;
            }
        }
    }
    Some(total)
}

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Busy ticks of the whole machine, from /proc/stat.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
}

fn ticks_per_second() -> f64 {
    100.0 // USER_HZ on Linux
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ldapbench: {e}");
            std::process::exit(2);
        }
    };
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let shared = Arc::new(Shared {
        histogram: Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
        ),
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        connected: AtomicU64::new(0),
        first_error: Mutex::new(None),
        args,
    });
    let conns = shared.args.conns;
    let mut tasks = Vec::with_capacity(conns);
    for k in 0..conns {
        tasks.push(tokio::spawn(worker(shared.clone(), k)));
    }
    tokio::time::sleep(shared.args.warmup).await;
    let errors_in_warmup = shared.errors.load(Ordering::Relaxed);
    let watched: Vec<(String, String)> = shared
        .args
        .pids
        .iter()
        .map(|(n, p)| (n.clone(), p.to_string()))
        .chain(std::iter::once(("ldapbench".to_owned(), "self".to_owned())))
        .collect();
    let before: Vec<Option<u64>> = watched.iter().map(|(_, p)| cpu_ticks(p)).collect();
    let switches_before: Vec<Option<u64>> =
        watched.iter().map(|(_, p)| context_switches(p)).collect();
    let machine_before = machine_busy_ticks();
    let started = Instant::now();
    shared.measuring.store(true, Ordering::Relaxed);
    let deadline = started + shared.args.duration;
    while Instant::now() < deadline && !shared.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shared.measuring.store(false, Ordering::Relaxed);
    let window = started.elapsed().as_secs_f64();
    let after: Vec<Option<u64>> = watched.iter().map(|(_, p)| cpu_ticks(p)).collect();
    let switches_after: Vec<Option<u64>> =
        watched.iter().map(|(_, p)| context_switches(p)).collect();
    let machine_after = machine_busy_ticks();
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
    }

    let ops = shared.ops.load(Ordering::Relaxed);
    let errors = shared.errors.load(Ordering::Relaxed);
    let h = shared.histogram.lock().expect("histogram lock");
    let per_10k = |ticks: u64| {
        if ops == 0 {
            f64::NAN
        } else {
            ticks as f64 / ticks_per_second() / ops as f64 * 10_000.0
        }
    };
    let mut cpu_json = Vec::new();
    let mut cpu_text = Vec::new();
    for (i, (name, _)) in watched.iter().enumerate() {
        if let (Some(b), Some(a)) = (before[i], after[i]) {
            let v = per_10k(a - b);
            cpu_json.push(format!("\"{name}\":{v:.4}"));
            cpu_text.push(format!("{name} {v:.3}"));
        }
    }
    // Context switches per operation, by process.
    let mut switches_json = Vec::new();
    let mut switches_text = Vec::new();
    for (i, (name, _)) in watched.iter().enumerate() {
        if let (Some(b), Some(a), true) = (switches_before[i], switches_after[i], ops > 0) {
            let v = a.saturating_sub(b) as f64 / ops as f64;
            switches_json.push(format!("\"{name}\":{v:.4}"));
            switches_text.push(format!("{name} {v:.2}"));
        }
    }
    let machine = match (machine_before, machine_after) {
        (Some(b), Some(a)) => per_10k(a - b),
        _ => f64::NAN,
    };
    let a = &shared.args;
    let first_error = shared.first_error.lock().expect("error lock").clone();
    let ops_per_s = ops as f64 / window;
    println!(
        "{label} op={op} conns={conns} ops/s={ops_per_s:.0} p50={p50}us p99={p99}us p99.9={p999}us errors={errors} cpu-s/10k: {cpu} machine {machine:.3}; switches/op: {switches}",
        label = a.label,
        op = a.op.name(),
        p50 = h.value_at_quantile(0.5),
        p99 = h.value_at_quantile(0.99),
        p999 = h.value_at_quantile(0.999),
        cpu = cpu_text.join(", "),
        switches = switches_text.join(", "),
    );
    if let Some(e) = &first_error {
        println!("first error: {e}");
    }
    if let Some(path) = &a.json {
        let line = format!(
            "{{\"label\":\"{label}\",\"op\":\"{op}\",\"conns\":{conns},\"seconds\":{window:.3},\"ops\":{ops},\"ops_per_s\":{ops_per_s:.1},\"p50_us\":{p50},\"p99_us\":{p99},\"p999_us\":{p999},\"errors\":{errors},\"errors_in_warmup\":{errors_in_warmup},\"cpu_per_10k\":{{{cpu}}},\"switches_per_op\":{{{switches}}},\"machine_per_10k\":{machine:.4}}}\n",
            label = a.label.replace('"', "'"),
            op = a.op.name(),
            conns = a.conns,
            p50 = h.value_at_quantile(0.5),
            p99 = h.value_at_quantile(0.99),
            p999 = h.value_at_quantile(0.999),
            cpu = cpu_json.join(","),
            switches = switches_json.join(","),
            machine = if machine.is_nan() { 0.0 } else { machine },
        );
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("ldapbench: cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
    if a.op == Op::Idle {
        let connected = shared.connected.load(Ordering::Relaxed);
        println!("idle connections held: {connected} of {}", a.conns);
        if connected as usize != a.conns || errors > 0 {
            std::process::exit(1);
        }
        return;
    }
    if ops == 0 || errors > 0 {
        std::process::exit(1);
    }
}
