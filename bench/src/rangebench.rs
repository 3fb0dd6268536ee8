//! rangebench: how many Pwned Passwords ranges per second `pwgate store
//! update` handles on loopback, against a baseline measured in the same
//! run.
//!
//! A small range API (HTTPS/1.1 keep-alive on 127.0.0.1, the test
//! certificates, answers of about 800 `SUFFIX:COUNT` lines like the real
//! ranges, padding included) runs in this process. Then, for the same
//! ranges, with the same number of connections:
//!
//! 1. the baseline: a bare client that sends each GET and reads the answer
//!    by its Content-Length, and does nothing with it (TLS, HTTP and the
//!    server: the cost of the network side alone);
//! 2. `pwgate::breached::update::update` into a fresh state directory:
//!    the same requests through hyper, each answer parsed and checked line
//!    by line and written to its range file, ETags and progress kept, and
//!    then the store built and verified.
//!
//! It prints ranges per second for both, the ratio, and how long the build
//! took. Traffic stays on 127.0.0.1; the run is bounded by `--prefix`.
//!
//!     cd bench && cargo build --release && ./target/release/rangebench --prefix A --parallel 32

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use pwgate::breached::update::{self, ApiUrl, Ranges, UpdateOptions};

/// Entries per range (the real corpus has about 800 per range).
const ENTRIES: usize = 800;

fn body(prefix: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENTRIES * 40);
    let mut x = u64::from(prefix).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..ENTRIES + 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let y = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // 35 hex digits, sorted-looking enough; the count 0 for padding.
        let suffix = format!("{:016X}{:016X}{:03X}", x, y, i & 0xFFF);
        let count = if i >= ENTRIES { 0 } else { 1 + (y % 5000) };
        out.extend_from_slice(suffix[..35].as_bytes());
        out.extend_from_slice(format!(":{count}\r\n").as_bytes());
    }
    out
}

/// Bodies made once, so that the server's own work is small: range `p`
/// gets body `p % 64` (the keys still differ, by the range's prefix).
fn bodies() -> Arc<Vec<Vec<u8>>> {
    Arc::new((0..64).map(body).collect())
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    let bodies = bodies();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let (r, mut w) = tokio::io::split(tls);
            let mut r = BufReader::new(r);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if h == "\r\n" {
                        break;
                    }
                }
                let prefix = path
                    .strip_prefix("/range/")
                    .and_then(|p| u32::from_str_radix(&p[..5.min(p.len())], 16).ok())
                    .unwrap_or(0);
                let b = &bodies[(prefix % 64) as usize];
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\netag: \"{prefix:05X}\"\r\ncontent-length: {}\r\n\r\n",
                    b.len()
                );
                let mut msg = head.into_bytes();
                msg.extend_from_slice(b);
                if w.write_all(&msg).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The baseline: GET every range over `parallel` keep-alive connections,
/// reading each answer by its length.
async fn bare(
    addr: std::net::SocketAddr,
    ca: &Path,
    prefixes: Arc<Vec<u32>>,
    parallel: usize,
) -> Duration {
    let config = pwgate::tls::client_config(ca).expect("the CA");
    let connector = tokio_rustls::TlsConnector::from(config);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let (connector, next, prefixes) = (connector.clone(), next.clone(), prefixes.clone());
        tasks.spawn(async move {
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let _ = tcp.set_nodelay(true);
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
            let tls = connector.connect(name, tcp).await.expect("TLS");
            let (r, mut w) = tokio::io::split(tls);
            let mut r = BufReader::new(r);
            let mut buf = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = prefixes.get(i) else { return };
                let req = format!(
                    "GET /range/{p:05X} HTTP/1.1\r\nhost: 127.0.0.1\r\nadd-padding: true\r\n\r\n"
                );
                w.write_all(req.as_bytes()).await.expect("write");
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).await.expect("read");
                    if h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().expect("length");
                    }
                }
                buf.resize(len, 0);
                r.read_exact(&mut buf).await.expect("body");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    started.elapsed()
}

fn main() {
    let mut prefix = "A".to_owned();
    let mut parallel = 32usize;
    let mut certs = PathBuf::from("../target/release/bench-certs");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--prefix" => prefix = v,
            "--parallel" => parallel = v.parse().expect("--parallel N"),
            "--certs" => certs = PathBuf::from(v),
            _ => {
                eprintln!("usage: rangebench [--prefix HEX (1-4 digits, default A: 65,536 ranges)] [--parallel N] [--certs DIR]");
                std::process::exit(2);
            }
        }
    }
    let ranges = Ranges::under(&prefix).unwrap_or_else(|e| {
        eprintln!("rangebench: {e}");
        std::process::exit(2)
    });
    if !certs.join("server.crt").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs/generate.sh");
        let ok = Command::new(script)
            .arg(&certs)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "certs/generate.sh failed");
    }
    let certs = certs.canonicalize().expect("the certs directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server =
        pwgate::tls::server_config(&certs.join("server.crt"), &certs.join("server.key"), 0)
            .expect("server certificate");
    runtime.spawn(serve(listener, tokio_rustls::TlsAcceptor::from(server)));
    let first = u32::from_str_radix(&format!("{prefix:0<5}"), 16).expect("hex");
    let prefixes: Arc<Vec<u32>> = Arc::new((first..first + ranges.len()).collect());
    let n = prefixes.len() as f64;
    println!(
        "rangebench: {} ranges of {ENTRIES} entries (+4 padding), {parallel} connections, on 127.0.0.1",
        prefixes.len()
    );
    let base = runtime.block_on(bare(
        addr,
        &certs.join("ca.crt"),
        prefixes.clone(),
        parallel,
    ));
    let state = tempdir();
    let mut o = UpdateOptions::new(state.join("state"), state.join("bench.store"));
    o.url = ApiUrl::parse(&format!("https://127.0.0.1:{}", addr.port())).expect("url");
    o.ca = certs.join("ca.crt");
    o.ranges = ranges;
    o.parallel = parallel;
    let started = Instant::now();
    let summary = update::update(o).expect("the update");
    let total = started.elapsed();
    let build = summary.build.as_ref().map_or(0.0, |b| b.seconds);
    let download = total.as_secs_f64() - build;
    println!(
        "baseline: bare GETs                 {:>8.0} ranges/s ({:.2} s)",
        n / base.as_secs_f64(),
        base.as_secs_f64()
    );
    println!(
        "pwgate store update, download part  {:>8.0} ranges/s ({download:.2} s)",
        n / download
    );
    println!(
        "ratio update / baseline: {:.2}; then the build of {} hashes took {build:.2} s; whole run {:.0} ranges/s",
        (n / download) / (n / base.as_secs_f64()),
        summary.build.as_ref().map_or(0, |b| b.hashes_kept),
        n / total.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&state);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rangebench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
