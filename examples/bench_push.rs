//! Benchmark of DirectPush: K Pings from K distinct devices parked over TLS in one running
//! `easd serve`, what holding them costs the server (RSS, threads, CPU over an idle period),
//! and the push latency for a sample of users: from the change notification datagram to the
//! Ping's answer (half the sample), and from starting `easd deliver` to it (the other half).
//!
//! Run: `cargo run --release --example bench_push -- [--pings K] [--sample N] [--idle SECONDS]
//! [--easd PATH]` (or set EASD_BIN). The sample's devices belong to N users of their own (a
//! delivery wakes exactly one Ping); the other K-N devices belong to one further user. At the
//! end the server gets SIGTERM and every parked Ping must answer Status 1.

mod bench_util;

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bench_util::{mib, millis, percentile, stats, verdict};
use common::{basic_auth, read_response, TestServer, PASSWORD};
use easd::store::{FolderType, NewMessage, Store};
use easd::wbxml::{self, tag::ping, Element};

/// The crowd's user: owns every parked device outside the sample.
const CROWD: &str = "crowd@example.com";
/// Heartbeat of the parked Pings: longer than any run.
const HEARTBEAT: u64 = 1700;
/// Targets from the DirectPush issue (the RSS one halved by issue 14, from 128 MiB).
const RSS_TARGET_KIB: u64 = 64 * 1024;
const LATENCY_TARGET: Duration = Duration::from_millis(100);
const IDLE_CPU_TARGET_PER_MINUTE: f64 = 0.1;
/// Pause between the last park and the start of the idle CPU measurement.
const IDLE_SETTLE: Duration = Duration::from_secs(2);

struct Options {
    pings: usize,
    sample: usize,
    idle_seconds: u64,
    easd: Option<PathBuf>,
}

const USAGE: &str = "usage: bench_push [--pings K] [--sample N] [--idle SECONDS] [--easd PATH]
  --pings K        Pings to park, each from its own device (default 1000)
  --sample N       users who get one delivery each, for the latency (default 100)
  --idle SECONDS   idle period over which the server's CPU time is measured (default 60)
  --easd PATH      the easd binary (default: EASD_BIN, else target/PROFILE/easd)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        pings: 1000,
        sample: 100,
        idle_seconds: 60,
        easd: std::env::var_os("EASD_BIN").map(PathBuf::from),
    };
    bench_util::read_flags(args, |flag| {
        match flag.name {
            "--pings" => options.pings = flag.positive()?,
            "--sample" => options.sample = flag.positive()?,
            "--idle" => options.idle_seconds = flag.positive()?,
            "--easd" => options.easd = Some(flag.path()),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if options.sample > options.pings {
        return Err("--sample cannot exceed --pings".to_string());
    }
    Ok(options)
}

fn main() -> ExitCode {
    bench_util::bench_main("bench_push", USAGE, parse_options, run)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One device's parked Ping: its TLS connection with the request sent and unanswered.
struct ParkedPing {
    stream: TlsStream,
}

fn ping_body(inbox: i64) -> Vec<u8> {
    let mut doc = Element::new(ping::PING);
    doc.push_text(ping::HEARTBEAT_INTERVAL, HEARTBEAT.to_string());
    doc.push(Element::new(ping::FOLDERS))
        .push(Element::new(ping::FOLDER))
        .push_text(ping::ID, inbox.to_string())
        .push_text(ping::CLASS, "Email");
    wbxml::encode(&doc)
}

/// Opens a TLS connection and sends a Ping for `email` from `device`, without reading.
fn send_ping(
    server: &TestServer,
    email: &str,
    device: &str,
    body: &[u8],
) -> Result<ParkedPing, String> {
    let tcp = TcpStream::connect(server.https).map_err(|e| format!("connect: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(common::tls_client_config(), name)
        .map_err(|e| format!("tls: {e}"))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let head = format!(
        "POST /Microsoft-Server-ActiveSync?Cmd=Ping&User={user}&DeviceId={device}&DeviceType=Bench \
         HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nMS-ASProtocolVersion: 16.1\r\n\
         Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: {len}\r\n\r\n",
        user = common::percent(email),
        auth = basic_auth(email, PASSWORD),
        len = body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .and_then(|()| stream.flush())
        .map_err(|e| format!("send: {e}"))?;
    Ok(ParkedPing { stream })
}

/// The Ping Status of an answer.
fn ping_status(stream: &mut TlsStream) -> Result<String, String> {
    let response = read_response(stream)
        .map_err(|e| format!("read: {e}"))?
        .ok_or("connection closed without an answer")?;
    if response.status != 200 {
        return Err(format!("HTTP {}", response.status));
    }
    let doc = wbxml::decode(&response.body).map_err(|e| format!("WBXML: {e}"))?;
    Ok(doc.child_text(ping::STATUS).unwrap_or_default())
}

/// How many requests the server has parked so far (its debug log says so for each).
fn parked_in_log(server: &TestServer) -> usize {
    server.log().matches(": parked for ").count()
}

fn run(args: &[String], options: &Options) -> Result<(), String> {
    let binary = bench_util::easd_under_test(options.easd.as_deref(), false)?;
    let (before, after) =
        bench_util::raise_own_open_files_limit().map_err(|e| format!("prlimit: {e}"))?;
    bench_util::print_header(
        "DirectPush",
        args,
        &format!(
            "pings={} sample={} idle={}s easd={}",
            options.pings,
            options.sample,
            options.idle_seconds,
            binary.display()
        ),
    );
    println!(
        "client open-files limit: {:?} -> {:?}",
        before.soft, after.soft
    );

    let notify_port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut server = TestServer::start_with(&format!(
        "log-level = debug\nmax-connections = {}\nnotify = 127.0.0.1:{notify_port}",
        options.pings + 100
    ));
    let pid = server.pid();

    // Users: the crowd plus one per sampled device.
    let started = Instant::now();
    server.add_user(CROWD);
    let sample_users: Vec<String> = (0..options.sample)
        .map(|n| format!("user{n}@example.com"))
        .collect();
    for email in &sample_users {
        server.add_user(email);
    }
    let store = Store::open(&server.db).map_err(|e| e.to_string())?;
    let inbox_of = |email: &str| {
        bench_util::folder_of(&store, email, "Inbox", |f| {
            f.folder_type == FolderType::Inbox
        })
    };
    println!(
        "users created: {} in {}",
        options.sample + 1,
        millis(started.elapsed())
    );

    // Idle, but after a first request: the request loop's internal connections (a fixed
    // pool) exist from then on.
    let warmup = server.device(CROWD, "warmup").options();
    if warmup.status != 200 {
        return Err(format!("OPTIONS answered {}", warmup.status));
    }
    std::thread::sleep(Duration::from_millis(300));
    let idle = stats(pid)?;
    println!();
    println!(
        "[1] idle server (pid {pid}) after one request: RSS {}, threads {}",
        mib(idle.rss_kib),
        idle.threads
    );

    // --- 2. Park K Pings -----------------------------------------------------------------
    let started = Instant::now();
    let crowd_body = ping_body(inbox_of(CROWD)?);
    let mut crowd = Vec::with_capacity(options.pings - options.sample);
    for n in 0..options.pings - options.sample {
        crowd.push(send_ping(
            &server,
            CROWD,
            &format!("crowd{n}"),
            &crowd_body,
        )?);
    }
    let mut sample = Vec::with_capacity(options.sample);
    for (n, email) in sample_users.iter().enumerate() {
        let body = ping_body(inbox_of(email)?);
        sample.push(send_ping(&server, email, &format!("sample{n}"), &body)?);
    }
    let deadline = Instant::now() + Duration::from_secs(120 + options.pings as u64 / 20);
    while parked_in_log(&server) < options.pings {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} Pings parked",
                parked_in_log(&server),
                options.pings
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!();
    println!(
        "[2] {} Pings sent over TLS and parked in {}",
        options.pings,
        millis(started.elapsed())
    );
    std::thread::sleep(Duration::from_millis(500));
    let holding = stats(pid)?;
    println!("parked Pings held: {}", parked_in_log(&server));
    println!(
        "server RSS holding them: {} (target under {}: {})",
        mib(holding.rss_kib),
        mib(RSS_TARGET_KIB),
        verdict(holding.rss_kib < RSS_TARGET_KIB)
    );
    println!(
        "server threads holding them: {} (idle: {}; target unchanged: {})",
        holding.threads,
        idle.threads,
        verdict(holding.threads == idle.threads)
    );
    println!("server open file descriptors: {}", holding.open_fds);

    // --- 3. Idle CPU ---------------------------------------------------------------------
    let ticks_per_second = bench_util::clock_ticks_per_second();
    // The last requests may still be settling (log lines, SQLite checkpoint): start the idle
    // period a little later.
    std::thread::sleep(IDLE_SETTLE);
    let before = stats(pid)?;
    std::thread::sleep(Duration::from_secs(options.idle_seconds));
    let after = stats(pid)?;
    let cpu = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks_per_second as f64;
    let per_minute = cpu * 60.0 / options.idle_seconds as f64;
    println!();
    println!(
        "[3] server CPU over {} idle seconds with {} parked: {cpu:.2} s ({per_minute:.3} s per minute; target under {IDLE_CPU_TARGET_PER_MINUTE}: {})",
        options.idle_seconds,
        options.pings,
        verdict(per_minute < IDLE_CPU_TARGET_PER_MINUTE)
    );

    // --- 4. Push latency -----------------------------------------------------------------
    // First half of the sample: the message is committed by this process, then the clock
    // starts as the change notification datagram leaves (the front door's own latency).
    // Second half: the clock starts as `easd deliver` is started (what a phone sees).
    let udp_count = options.sample / 2;
    let deliver_sample = sample.split_off(udp_count);
    let udp_sample = sample;
    let notifier = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let message = b"From: bench@example.net\r\nSubject: push\r\n\r\nhello\r\n";
    let (answered_tx, answered_rx) = mpsc::channel();
    let mut readers = Vec::new();
    for (n, mut parked) in udp_sample.into_iter().enumerate() {
        let answered = answered_tx.clone();
        readers.push(std::thread::spawn(move || {
            let outcome = ping_status(&mut parked.stream);
            let _ = answered.send((n, Instant::now(), outcome));
        }));
    }
    drop(answered_tx);
    for email in &sample_users[..udp_count] {
        let user = store
            .user_by_email(email)
            .map_err(|e| e.to_string())?
            .ok_or("user missing")?;
        store
            .add_message(user.id, inbox_of(email)?, &NewMessage::new(message))
            .map_err(|e| e.to_string())?;
    }
    let mut notified_at = Vec::with_capacity(udp_count);
    for email in &sample_users[..udp_count] {
        notified_at.push(Instant::now());
        notifier
            .send_to(&easd::push::datagram(email), ("127.0.0.1", notify_port))
            .map_err(|e| e.to_string())?;
        // One wake-up at a time: latency, not throughput.
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut udp_latencies = Vec::with_capacity(udp_count);
    for (n, at, outcome) in answered_rx {
        match outcome {
            Ok(status) if status == "2" => udp_latencies.push(at.duration_since(notified_at[n])),
            Ok(status) => return Err(format!("sample Ping {n} answered Status {status}")),
            Err(e) => return Err(format!("sample Ping {n}: {e}")),
        }
    }
    for reader in readers.drain(..) {
        let _ = reader.join();
    }
    udp_latencies.sort();
    println!();
    println!(
        "[4a] push latency, notification datagram sent -> Ping answer (Status 2), {} users: p50 {}, p99 {}, max {}",
        udp_latencies.len(),
        millis(percentile(&udp_latencies, 50.0)),
        millis(percentile(&udp_latencies, 99.0)),
        millis(udp_latencies.last().copied().unwrap_or_default())
    );

    let (answered_tx, answered_rx) = mpsc::channel();
    for (n, mut parked) in deliver_sample.into_iter().enumerate() {
        let answered = answered_tx.clone();
        readers.push(std::thread::spawn(move || {
            let outcome = ping_status(&mut parked.stream);
            let _ = answered.send((n, Instant::now(), outcome));
        }));
    }
    drop(answered_tx);
    let mut delivered_at = Vec::with_capacity(options.sample - udp_count);
    for email in &sample_users[udp_count..] {
        delivered_at.push(Instant::now());
        let out = server.easd_stdin(&["deliver", email], message);
        if !out.status.success() {
            return Err(format!("deliver to {email}: {out:?}"));
        }
    }
    let mut latencies = Vec::with_capacity(options.sample);
    for (n, at, outcome) in answered_rx {
        match outcome {
            Ok(status) if status == "2" => latencies.push(at.duration_since(delivered_at[n])),
            Ok(status) => return Err(format!("sample Ping {n} answered Status {status}")),
            Err(e) => return Err(format!("sample Ping {n}: {e}")),
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    latencies.sort();
    println!();
    println!(
        "[4b] push latency, easd deliver start -> Ping answer (Status 2), {} users: p50 {}, p99 {} (target p99 under {}: {}), max {}",
        latencies.len(),
        millis(percentile(&latencies, 50.0)),
        millis(percentile(&latencies, 99.0)),
        millis(LATENCY_TARGET),
        verdict(percentile(&latencies, 99.0) < LATENCY_TARGET),
        millis(latencies.last().copied().unwrap_or_default())
    );
    println!("(each figure includes starting the easd deliver process and its SQLite transaction)");
    let after_wake = stats(pid)?;
    println!(
        "server RSS / threads after the wake-ups: {} / {}",
        mib(after_wake.rss_kib),
        after_wake.threads
    );

    // --- 5. SIGTERM: every parked Ping answers Status 1 ----------------------------------
    let started = Instant::now();
    let status = server.stop();
    let mut ones = 0;
    let mut failures = Vec::new();
    for (n, mut parked) in crowd.into_iter().enumerate() {
        let _ = parked
            .stream
            .sock
            .set_read_timeout(Some(Duration::from_secs(30)));
        match ping_status(&mut parked.stream) {
            Ok(status) if status == "1" => ones += 1,
            Ok(status) => failures.push(format!("crowd {n}: Status {status}")),
            Err(e) => failures.push(format!("crowd {n}: {e}")),
        }
    }
    println!();
    println!(
        "[5] SIGTERM: {ones} of {} remaining parked Pings answered Status 1; server exited {status} after {}",
        options.pings - options.sample,
        millis(started.elapsed())
    );
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} Pings not answered properly, first: {first}",
            failures.len()
        ));
    }
    Ok(())
}
