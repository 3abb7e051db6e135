//! Benchmark of failed logins against a running `easd serve`: the latency a good user's
//! requests see while attackers send wrong passwords, and how the server answers the
//! attackers.
//!
//! Run: `cargo run --release --example bench_logins -- [--attackers N] [--seconds D]
//! [--easd PATH]`. It starts its own server on loopback (default settings, so it also runs
//! against an easd from before login throttling) and measures three phases of D seconds each:
//!
//! 1. the good user alone: authenticated OPTIONS over one TLS keep-alive connection, one
//!    request after another (the login cache answers them without hashing);
//! 2. the same while N attacker threads send wrong passwords for the other accounts of the
//!    server (8 of them, in turn), each from one loopback address of its own (127.0.0.10, .11,
//!    ...) over keep-alive TLS;
//! 3. the same with a new source address (127.1.x.y) and TLS connection for every attempt:
//!    guesses spread the way a botnet spreads them;
//! 4. as 3, with a new login name that does not exist for every attempt.
//!
//! The throttle's state carries over from one phase to the next, as it would on a server
//! under a long attack. It prints one figure per line and stops the server with SIGTERM at
//! the end.

mod bench_util;

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_util::{millis, percentile, stats, ProcessStats};
use common::{basic_auth, read_response, tls_client_config, HttpClient, TestServer, PASSWORD};

const ACCOUNT: &str = "good@example.com";
/// The accounts the attackers guess passwords for.
const VICTIMS: usize = 8;
const EAS_PATH: &str = "/Microsoft-Server-ActiveSync";

struct Options {
    attackers: usize,
    seconds: u64,
    easd: Option<PathBuf>,
}

const USAGE: &str = "usage: bench_logins [--attackers N] [--seconds D] [--easd PATH]
  --attackers N  concurrent attacker connections sending wrong passwords (default 4)
  --seconds D    length of each phase in seconds (default 10)
  --easd PATH    the easd binary (default: target/PROFILE/easd, rebuilt under cargo run)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        attackers: 4,
        seconds: 10,
        easd: None,
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--help" || word == "-h" {
            return Err(String::new());
        }
        let value = words
            .next()
            .ok_or_else(|| format!("{word} needs a value"))?;
        let positive = || -> Result<u64, String> {
            value
                .parse::<u64>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{word} needs a positive whole number, not {value:?}"))
        };
        match word.as_str() {
            "--attackers" => options.attackers = positive()? as usize,
            "--seconds" => options.seconds = positive()?,
            "--easd" => options.easd = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {word}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    bench_util::bench_main("bench_logins", USAGE, parse_options, run)
}

/// How the attackers choose their source address, connection and login name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attack {
    /// One loopback address per attacker, one keep-alive connection; existing accounts.
    FixedAddress,
    /// A new address and a new connection for every attempt; existing accounts.
    NewAddressEachTime,
    /// A new address, connection and (unknown) login name for every attempt.
    NewAddressAndName,
}

impl Attack {
    fn describe(self) -> &'static str {
        match self {
            Attack::FixedAddress => {
                "for existing accounts, each attacker from one address of its own (keep-alive)"
            }
            Attack::NewAddressEachTime => {
                "for existing accounts, each attempt from a new address (new connection)"
            }
            Attack::NewAddressAndName => {
                "for unknown login names, each attempt from a new address (new connection)"
            }
        }
    }

    /// The login name of attacker `index`'s attempt number `attempt`.
    fn login(self, index: usize, attempt: u32) -> String {
        match self {
            Attack::NewAddressAndName => format!("guess{index}-{attempt}@example.com"),
            _ => victim(attempt as usize + index),
        }
    }
}

fn victim(n: usize) -> String {
    format!("victim{}@example.com", n % VICTIMS)
}

/// What the attackers got back.
#[derive(Default)]
struct AttackCounts {
    unauthorized: AtomicU64,
    throttled: AtomicU64,
    other: AtomicU64,
}

fn run(args: &[String], options: &Options) -> Result<(), String> {
    let binary = bench_util::easd_under_test(options.easd.as_deref(), true)?;

    bench_util::print_header(
        "failed-login",
        args,
        &format!(
            "attackers={} seconds={} easd={}",
            options.attackers,
            options.seconds,
            binary.display()
        ),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} CPU cores shared by the server and the benchmark clients");

    let server = TestServer::start_with("log-level = warn");
    let pid = server.pid();
    start_watchdog(pid, server.dir.clone(), 120 + 4 * options.seconds);
    server.add_user(ACCOUNT);
    for n in 0..VICTIMS {
        server.add_user(&victim(n));
    }
    let phase = Duration::from_secs(options.seconds);

    let mut good = server.tls_client();
    let auth = basic_auth(ACCOUNT, PASSWORD);
    // Warm up: the first login hashes, later ones come from the login cache.
    good_request(&mut good, &auth)?;

    println!();
    println!("[1] the good user alone");
    let before = stats(pid)?;
    let alone = good_user(&mut good, &auth, phase)?;
    report_good("alone", &alone, &before, &stats(pid)?);

    let attacks = [
        (2, Attack::FixedAddress),
        (3, Attack::NewAddressEachTime),
        (4, Attack::NewAddressAndName),
    ];
    for (number, attack) in attacks {
        println!();
        println!(
            "[{number}] the good user while {} attackers send wrong passwords {}",
            options.attackers,
            attack.describe()
        );
        let counts = Arc::new(AttackCounts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..options.attackers)
            .map(|index| {
                let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
                let addr = server.https;
                std::thread::spawn(move || attacker(addr, index, attack, &counts, &stop))
            })
            .collect();
        // Let the attack start before measuring.
        std::thread::sleep(Duration::from_millis(300));
        let before = stats(pid)?;
        let attacked_since = Instant::now();
        let baseline = (
            counts.unauthorized.load(Ordering::Relaxed),
            counts.throttled.load(Ordering::Relaxed),
        );
        let under_attack = good_user(&mut good, &auth, phase);
        let elapsed = attacked_since.elapsed().as_secs_f64();
        let after = stats(pid)?;
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            let _ = thread.join();
        }
        let under_attack = under_attack?;
        report_good("under attack", &under_attack, &before, &after);
        let unauthorized = counts.unauthorized.load(Ordering::Relaxed) - baseline.0;
        let throttled = counts.throttled.load(Ordering::Relaxed) - baseline.1;
        println!(
            "attempts answered 401 (password checked): {unauthorized} ({:.1}/s)",
            unauthorized as f64 / elapsed
        );
        println!(
            "attempts answered 503 + Retry-After (refused unchecked): {throttled} ({:.1}/s)",
            throttled as f64 / elapsed
        );
        println!(
            "attempts answered otherwise: {}",
            counts.other.load(Ordering::Relaxed)
        );
    }

    let mut server = server;
    let status = server.stop();
    println!();
    println!("server exit after SIGTERM: {status}");
    Ok(())
}

fn good_request(client: &mut HttpClient, auth: &str) -> Result<(), String> {
    let response = client.request("OPTIONS", EAS_PATH, &[("Authorization", auth)], b"");
    if response.status != 200 {
        return Err(format!(
            "the good user's OPTIONS answered {}",
            response.status
        ));
    }
    Ok(())
}

/// The good user's requests for `length`, one after another; their latencies, ascending.
fn good_user(
    client: &mut HttpClient,
    auth: &str,
    length: Duration,
) -> Result<Vec<Duration>, String> {
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < length {
        let sent = Instant::now();
        good_request(client, auth)?;
        latencies.push(sent.elapsed());
    }
    latencies.sort_unstable();
    Ok(latencies)
}

fn report_good(label: &str, latencies: &[Duration], before: &ProcessStats, after: &ProcessStats) {
    println!("good user's requests {label}: {}", latencies.len());
    println!(
        "good user's latency {label}: median {} p90 {} p99 {} max {}",
        millis(percentile(latencies, 50.0)),
        millis(percentile(latencies, 90.0)),
        millis(percentile(latencies, 99.0)),
        millis(latencies.last().copied().unwrap_or_default())
    );
    let ticks = bench_util::clock_ticks_per_second() as f64;
    println!(
        "server CPU time {label}: {:.2} s",
        after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks
    );
}

/// Sends wrong passwords until `stop`, counting the answers.
fn attacker(
    server: SocketAddr,
    index: usize,
    attack: Attack,
    counts: &AttackCounts,
    stop: &AtomicBool,
) {
    let fixed = Ipv4Addr::new(127, 0, 0, 10 + index as u8);
    let mut keep_alive: Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> = None;
    let mut attempt: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        attempt += 1;
        let source = match attack {
            Attack::FixedAddress => fixed,
            Attack::NewAddressEachTime | Attack::NewAddressAndName => {
                // 127.1.0.0 upwards, a block of addresses per attacker and phase.
                let block = index as u32
                    + if attack == Attack::FixedAddress {
                        0
                    } else {
                        64
                    };
                let block = if attack == Attack::NewAddressAndName {
                    block + 64
                } else {
                    block
                };
                let n = block << 16 | (attempt & 0xffff);
                Ipv4Addr::from(0x7f01_0000 | (n & 0x00ff_ffff))
            }
        };
        if attack != Attack::FixedAddress || keep_alive.is_none() {
            keep_alive = tls_connect_from(source, server);
        }
        let Some(stream) = keep_alive.as_mut() else {
            counts.other.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let request = format!(
            "OPTIONS {EAS_PATH} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\
             Content-Length: 0\r\n\r\n",
            basic_auth(&attack.login(index, attempt), "wrong")
        );
        let answer = stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.flush())
            .and_then(|()| read_response(stream));
        match answer {
            Ok(Some(response)) => {
                let counter = match response.status {
                    401 => &counts.unauthorized,
                    503 => &counts.throttled,
                    _ => &counts.other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if response
                    .header("Connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                {
                    keep_alive = None;
                }
            }
            _ => {
                counts.other.fetch_add(1, Ordering::Relaxed);
                keep_alive = None;
            }
        }
    }
}

/// A TLS connection to `server` from the loopback address `source`.
fn tls_connect_from(
    source: Ipv4Addr,
    server: SocketAddr,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let SocketAddr::V4(server) = server else {
        return None;
    };
    let to_sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; it is closed on failure
    // and otherwise handed to exactly one TcpStream.
    let tcp = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let local = to_sockaddr(source, 0);
        let remote = to_sockaddr(*server.ip(), server.port());
        if libc::bind(fd, std::ptr::addr_of!(local).cast(), len) != 0
            || libc::connect(fd, std::ptr::addr_of!(remote).cast(), len) != 0
        {
            libc::close(fd);
            return None;
        }
        TcpStream::from_raw_fd(fd)
    };
    tcp.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    let conn = rustls::ClientConnection::new(tls_client_config(), name).ok()?;
    Some(rustls::StreamOwned::new(conn, tcp))
}

/// Kills the server and removes its directory should the benchmark hang, so it always ends.
fn start_watchdog(pid: u32, dir: PathBuf, limit_seconds: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(limit_seconds));
        eprintln!("bench_logins: still running after {limit_seconds} s; killing the server");
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let _ = std::fs::remove_dir_all(&dir);
        std::process::exit(3);
    });
}
