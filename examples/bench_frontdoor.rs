//! Benchmark of easd's HTTP front door: the memory and threads a running `easd serve` needs at
//! idle and while holding many established TLS keep-alive connections, and the request rate
//! and latency of OPTIONS and steady-state FolderSync over TLS keep-alive.
//!
//! Run: `cargo run --release --example bench_frontdoor -- [--connections N] [--clients C]
//! [--seconds D] [--easd PATH]`. It starts its own server on loopback with a temporary
//! database, prints one figure per line and stops the server with SIGTERM at the end.

mod bench_util;

#[path = "../tests/common/mod.rs"]
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bench_util::{mib, millis, percentile, stats, verdict};
use common::{basic_auth, HttpClient, TestDevice, TestServer, PASSWORD};
use easd::wbxml::{tag::folder_hierarchy as fh, Element};

const ACCOUNT: &str = "bench@example.com";
const EAS_PATH: &str = "/Microsoft-Server-ActiveSync";
/// Target for the server's resident memory while holding the idle connections.
const RSS_TARGET_KIB: u64 = 32 * 1024;
/// A client thread gives up after this many failed requests (the run then fails).
const MAX_FAILURES_PER_CLIENT: u64 = 10;
/// Time the server gets to settle (accept, close, free) before its figures are read.
const SETTLE: Duration = Duration::from_millis(500);

struct Options {
    connections: usize,
    clients: usize,
    seconds: u64,
    easd: Option<PathBuf>,
}

const USAGE: &str = "usage: bench_frontdoor [--connections N] [--clients C] [--seconds D] \
[--easd PATH]
  --connections N  idle TLS keep-alive connections to hold open (default 1000)
  --clients C      concurrent client connections for the throughput runs (default 4)
  --seconds D      length of each throughput run in seconds (default 10)
  --easd PATH      the easd binary (default: target/PROFILE/easd, rebuilt under cargo run)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        connections: 1000,
        clients: 4,
        seconds: 10,
        easd: None,
    };
    bench_util::read_flags(args, |flag| {
        match flag.name {
            "--connections" => options.connections = flag.positive()?,
            "--clients" => options.clients = flag.positive()?,
            "--seconds" => options.seconds = flag.positive()?,
            "--easd" => options.easd = Some(flag.path()),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(options)
}

fn main() -> ExitCode {
    bench_util::bench_main("bench_frontdoor", USAGE, parse_options, run)
}

fn run(args: &[String], options: &Options) -> Result<(), String> {
    let binary = bench_util::easd_under_test(options.easd.as_deref(), true)?;

    bench_util::print_header(
        "front-door",
        args,
        &format!(
            "connections={} clients={} seconds={} easd={}",
            options.connections,
            options.clients,
            options.seconds,
            binary.display()
        ),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} CPU cores shared by the server and the benchmark clients");

    // --- 1. Idle server -----------------------------------------------------------------
    let started = Instant::now();
    let mut server = TestServer::start_with("log-level = warn");
    let startup = started.elapsed();
    let pid = server.pid();
    let watchdog_limit =
        Duration::from_secs(300 + 2 * options.seconds + options.connections as u64 / 10);
    start_watchdog(pid, server.dir.clone(), watchdog_limit);
    println!();
    println!("[1] idle server (pid {pid}, https://{})", server.https);
    println!("server start until listening: {}", millis(startup));
    std::thread::sleep(SETTLE);
    let idle = stats(pid)?;
    println!(
        "server RSS idle: {} ({} KiB)",
        mib(idle.rss_kib),
        idle.rss_kib
    );
    println!(
        "server peak RSS so far (VmHWM): {} ({} KiB)",
        mib(idle.peak_rss_kib),
        idle.peak_rss_kib
    );
    println!("server threads idle: {}", idle.threads);
    println!("server open file descriptors idle: {}", idle.open_fds);
    let server_limit = bench_util::open_files_limit(&pid.to_string()).map_err(|e| e.to_string())?;
    println!("server open-files limit: {server_limit}");
    server.add_user(ACCOUNT);

    // --- 2. Idle keep-alive connections -------------------------------------------------
    println!();
    println!(
        "[2] {} idle TLS keep-alive connections",
        options.connections
    );
    let (own_before, own_after) =
        bench_util::raise_own_open_files_limit().map_err(|e| format!("raising own limit: {e}"))?;
    println!("benchmark open-files limit: {own_before} -> {own_after}");
    let held = hold_idle_connections(&server, options.connections);
    let (clients, opening_time, open_failure) = held;
    std::thread::sleep(SETTLE);
    let holding = stats(pid)?;
    println!(
        "connections established (TLS handshake + authenticated OPTIONS 200): {}",
        clients.len()
    );
    println!(
        "time to establish them one after another: {} ({:.0} connections/s)",
        millis(opening_time),
        clients.len() as f64 / opening_time.as_secs_f64().max(1e-9)
    );
    println!(
        "server RSS holding {} connections: {} ({} KiB) (target: under {}: {})",
        clients.len(),
        mib(holding.rss_kib),
        holding.rss_kib,
        mib(RSS_TARGET_KIB),
        verdict(holding.rss_kib < RSS_TARGET_KIB)
    );
    println!(
        "server threads holding {} connections: {} (target: unchanged from idle {}: {})",
        clients.len(),
        holding.threads,
        idle.threads,
        verdict(holding.threads == idle.threads)
    );
    println!(
        "server peak RSS so far (VmHWM): {} ({} KiB)",
        mib(holding.peak_rss_kib),
        holding.peak_rss_kib
    );
    println!(
        "server open file descriptors holding them: {}",
        holding.open_fds
    );
    if !clients.is_empty() {
        let grown = holding.rss_kib.saturating_sub(idle.rss_kib);
        println!(
            "server RSS increase per connection: {:.2} KiB",
            grown as f64 / clients.len() as f64
        );
    }
    drop(clients);
    std::thread::sleep(SETTLE * 2);
    let released = stats(pid)?;
    println!(
        "server RSS after closing them: {} ({} KiB)",
        mib(released.rss_kib),
        released.rss_kib
    );
    println!(
        "server open file descriptors after closing them: {}",
        released.open_fds
    );
    if let Some(failure) = open_failure {
        return Err(failure);
    }

    // --- 3. Throughput over TLS keep-alive ----------------------------------------------
    println!();
    println!(
        "[3] throughput over TLS keep-alive: {} clients, {} s per request type",
        options.clients, options.seconds
    );
    let ticks_per_second = bench_util::clock_ticks_per_second();
    let mut failures = 0;
    for kind in [RequestKind::Options, RequestKind::FolderSync] {
        let before = stats(pid)?;
        let result = run_phase(&server, kind, options.clients, options.seconds)?;
        let after = stats(pid)?;
        let cpu_seconds =
            after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks_per_second as f64;
        report_phase(kind, &result, cpu_seconds);
        println!(
            "server peak RSS so far (VmHWM): {} ({} KiB)",
            mib(after.peak_rss_kib),
            after.peak_rss_kib
        );
        failures += result.failures;
    }
    let end = stats(pid)?;
    println!(
        "server RSS after the throughput runs: {} ({} KiB)",
        mib(end.rss_kib),
        end.rss_kib
    );
    println!(
        "server peak RSS over the whole run (VmHWM): {} ({} KiB)",
        mib(end.peak_rss_kib),
        end.peak_rss_kib
    );
    println!("server threads after the throughput runs: {}", end.threads);

    // --- 4. Shutdown ---------------------------------------------------------------------
    println!();
    println!("[4] shutdown");
    let stopping = Instant::now();
    let status = server.stop();
    println!(
        "server exit after SIGTERM: {status} in {} ({})",
        millis(stopping.elapsed()),
        if status.success() {
            "exited 0"
        } else {
            "NOT 0"
        }
    );
    drop(server);
    if failures > 0 {
        return Err(format!("{failures} requests failed"));
    }
    if !status.success() {
        return Err(format!("server exited with {status} after SIGTERM"));
    }
    Ok(())
}

/// Kills the server and removes its directory should the benchmark hang, so it always ends.
fn start_watchdog(pid: u32, dir: PathBuf, limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "bench_frontdoor: still running after {} s; killing the server",
            limit.as_secs()
        );
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let _ = std::fs::remove_dir_all(&dir);
        std::process::exit(3);
    });
}

/// Opens `count` TLS connections one after another, each with one authenticated OPTIONS, and
/// returns them still open, the time taken, and why opening stopped early (if it did).
fn hold_idle_connections(
    server: &TestServer,
    count: usize,
) -> (Vec<HttpClient>, Duration, Option<String>) {
    let auth = basic_auth(ACCOUNT, PASSWORD);
    let mut clients = Vec::with_capacity(count);
    let started = Instant::now();
    for index in 0..count {
        let mut client = server.tls_client();
        let answer = catch_unwind(AssertUnwindSafe(|| {
            client.request("OPTIONS", EAS_PATH, &[("Authorization", &auth)], b"")
        }));
        match answer {
            Ok(response) if response.status == 200 => clients.push(client),
            Ok(response) => {
                let failure = format!("connection {index}: OPTIONS answered {}", response.status);
                return (clients, started.elapsed(), Some(failure));
            }
            Err(_) => {
                let failure = format!("connection {index}: no answer to OPTIONS");
                return (clients, started.elapsed(), Some(failure));
            }
        }
    }
    (clients, started.elapsed(), None)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Options,
    FolderSync,
}

impl RequestKind {
    fn name(self) -> &'static str {
        match self {
            RequestKind::Options => "OPTIONS",
            RequestKind::FolderSync => "FolderSync",
        }
    }
}

struct PhaseResult {
    /// Latency of every successful request, ascending.
    latencies: Vec<Duration>,
    failures: u64,
    /// From the common start to the last client's end.
    wall: Duration,
}

/// One client connection of a throughput run: a device with its own keep-alive TLS
/// connection and, for FolderSync, its current hierarchy sync key.
struct Client {
    device: TestDevice,
    sync_key: String,
}

fn folder_sync(key: &str) -> Element {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key);
    doc
}

impl Client {
    /// Connects (TLS handshake) and, for FolderSync, performs the initial SyncKey 0 sync, so
    /// the timed requests are all steady-state ones on an established connection.
    fn prepare(server: &TestServer, kind: RequestKind, index: usize) -> Result<Client, String> {
        let device_id = format!("bench{}{index}", kind.name());
        let device = TestDevice::new(server.tls_client(), ACCOUNT, PASSWORD, &device_id);
        let mut client = Client {
            device,
            sync_key: "0".to_string(),
        };
        match kind {
            RequestKind::Options => client.options()?,
            RequestKind::FolderSync => {
                let response = client.device.command("FolderSync", Some(&folder_sync("0")));
                let doc = response
                    .doc
                    .filter(|_| response.http.status == 200)
                    .ok_or_else(|| {
                        format!("initial FolderSync answered {}", response.http.status)
                    })?;
                client.sync_key = doc
                    .child_text(fh::SYNC_KEY)
                    .filter(|key| key != "0")
                    .ok_or("initial FolderSync without a SyncKey")?;
            }
        }
        Ok(client)
    }

    fn options(&mut self) -> Result<(), String> {
        let response = self.device.options();
        if response.status != 200 {
            return Err(format!("OPTIONS answered {}", response.status));
        }
        if response.header("MS-ASProtocolVersions").is_none() {
            return Err("OPTIONS without MS-ASProtocolVersions".to_string());
        }
        Ok(())
    }

    /// The request a phone repeats when nothing changed: its current key, answered with
    /// Status 1, the same key and no changes.
    fn steady_folder_sync(&mut self) -> Result<(), String> {
        let response = self
            .device
            .command("FolderSync", Some(&folder_sync(&self.sync_key)));
        if response.http.status != 200 {
            return Err(format!("FolderSync answered {}", response.http.status));
        }
        let doc = response.doc.ok_or("FolderSync answered without a body")?;
        let status = doc.child_text(fh::STATUS);
        if status.as_deref() != Some("1") {
            return Err(format!("FolderSync Status {status:?}"));
        }
        match doc.child_text(fh::SYNC_KEY) {
            Some(key) if key == self.sync_key => Ok(()),
            Some(key) => {
                // Not expected when nothing changed, but a phone would simply move on.
                self.sync_key = key;
                Ok(())
            }
            None => Err("FolderSync answered without a SyncKey".to_string()),
        }
    }

    /// Sends one request; a panic in the test client (no answer, undecodable WBXML) counts
    /// as a failure and the connection is reopened for the next request.
    fn request(&mut self, kind: RequestKind) -> Result<(), String> {
        let outcome = catch_unwind(AssertUnwindSafe(|| match kind {
            RequestKind::Options => self.options(),
            RequestKind::FolderSync => self.steady_folder_sync(),
        }));
        outcome.unwrap_or_else(|_| {
            self.device.http.close();
            Err(format!("{} got no usable answer", kind.name()))
        })
    }
}

/// Runs `clients` threads, each sending `kind` requests back to back on its own connection
/// for `seconds`, all starting together once every connection is established.
fn run_phase(
    server: &TestServer,
    kind: RequestKind,
    clients: usize,
    seconds: u64,
) -> Result<PhaseResult, String> {
    let start_line = Barrier::new(clients + 1);
    let run_for = Duration::from_secs(seconds);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|index| {
                let start_line = &start_line;
                scope.spawn(move || {
                    let prepared = catch_unwind(AssertUnwindSafe(|| {
                        Client::prepare(server, kind, index)
                    }))
                    .unwrap_or_else(|_| Err("no answer while connecting".to_string()));
                    // Everyone passes the barrier, even a client that failed to prepare,
                    // so the others are not left waiting.
                    start_line.wait();
                    let mut client = prepared?;
                    let deadline = Instant::now() + run_for;
                    let mut latencies = Vec::new();
                    let mut failures = 0;
                    let mut first_failure = None;
                    while Instant::now() < deadline && failures < MAX_FAILURES_PER_CLIENT {
                        let sent = Instant::now();
                        match client.request(kind) {
                            Ok(()) => latencies.push(sent.elapsed()),
                            Err(message) => {
                                failures += 1;
                                first_failure.get_or_insert(message);
                            }
                        }
                    }
                    if let Some(message) = first_failure {
                        eprintln!("bench_frontdoor: client {index}: {failures} failures, first: {message}");
                    }
                    Ok::<_, String>((latencies, failures))
                })
            })
            .collect();
        start_line.wait();
        let started = Instant::now();
        let mut result = PhaseResult {
            latencies: Vec::new(),
            failures: 0,
            wall: Duration::ZERO,
        };
        for worker in workers {
            let (latencies, failures) = worker
                .join()
                .map_err(|_| format!("a {} client thread panicked", kind.name()))??;
            result.latencies.extend(latencies);
            result.failures += failures;
        }
        result.wall = started.elapsed();
        result.latencies.sort_unstable();
        Ok(result)
    })
}

fn report_phase(kind: RequestKind, result: &PhaseResult, server_cpu_seconds: f64) {
    let name = kind.name();
    let done = result.latencies.len();
    let wall = result.wall.as_secs_f64().max(1e-9);
    println!("{name} requests answered 200 and checked: {done}");
    println!("{name} failed requests: {}", result.failures);
    println!("{name} throughput: {:.0} requests/s", done as f64 / wall);
    println!(
        "{name} latency p50: {}",
        millis(percentile(&result.latencies, 50.0))
    );
    println!(
        "{name} latency p99: {}",
        millis(percentile(&result.latencies, 99.0))
    );
    println!(
        "{name} server CPU: {:.0}% of one core, {:.0} us per request",
        100.0 * server_cpu_seconds / wall,
        1e6 * server_cpu_seconds / (done.max(1) as f64)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_default_and_override() {
        let defaults = parse_options(&[]).expect("defaults");
        assert_eq!(
            (defaults.connections, defaults.clients, defaults.seconds),
            (1000, 4, 10)
        );
        assert!(defaults.easd.is_none());
        let chosen = parse_options(&words(
            "--connections 20 --clients 2 --seconds 3 --easd /opt/easd",
        ))
        .expect("options");
        assert_eq!(
            (chosen.connections, chosen.clients, chosen.seconds),
            (20, 2, 3)
        );
        assert_eq!(chosen.easd, Some(PathBuf::from("/opt/easd")));
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            "--clients 0",
            "--seconds -1",
            "--connections",
            "--fast 1",
            "--help",
        ] {
            assert!(parse_options(&words(bad)).is_err(), "{bad}");
        }
    }
}
