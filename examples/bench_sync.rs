//! Benchmark of the request path as a phone meets it over TLS (issue 14): the initial Sync of
//! a 10,000-message Inbox (~2 KB messages) at WindowSize 100 and 512 with BodyPreference 1
//! and 2 truncated and 4 (MIME), in items/s and server CPU per item; the latency of an
//! incremental Sync with nothing new (p50, p99); and FolderSync and OPTIONS requests/s on
//! one TLS keep-alive connection, with the server CPU per request (so the rate one server
//! core sustains, 1 s / CPU per request, is shown apart from this client's own cost).
//!
//! Every figure is the median of `--runs` runs (default 3), each run a fresh device (SyncKey
//! 0) on the same server and mailbox; the spread (min–max) is printed beside it. Server CPU
//! is the sum of the server's threads' run time from /proc/PID/task/*/schedstat
//! (nanoseconds), read before and after each measured part.
//!
//! Run: `cargo run --release --example bench_sync -- [--messages N] [--runs N] [--easd PATH]
//! [--parts LIST] [--requests N]`. To compare two builds under the same conditions, run it
//! with `--easd` on each. `--parts` and `--requests` serve counts that ignore the machine's
//! load: run the server under `valgrind --tool=callgrind` or `strace -c -f` (a wrapper
//! script as `--easd`) for one part at two request counts; the difference divided by the
//! difference in requests is the cost of one request, start-up and set-up cancelled out.

mod bench_util;

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bench_util::percentile;
use common::{TestDevice, TestServer, PASSWORD};
use easd::wbxml::tag::{airsync, airsyncbase as base, folder_hierarchy as fh};
use easd::wbxml::Element;

const ACCOUNT: &str = "bench@example.com";
const TRUNCATION: usize = 5120;
const INCREMENTAL_REQUESTS: usize = 300;
const SMALL_REQUESTS: usize = 2000;

struct Options {
    messages: usize,
    runs: usize,
    easd: Option<PathBuf>,
    parts: Vec<Part>,
    /// Requests per run of the incremental, FolderSync and OPTIONS parts, when given.
    requests: Option<usize>,
}

/// The measured parts of the benchmark, named as `--parts` names them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Initial,
    Incremental,
    FolderSync,
    Options,
}

const PARTS: [(&str, Part); 4] = [
    ("initial", Part::Initial),
    ("incremental", Part::Incremental),
    ("foldersync", Part::FolderSync),
    ("options", Part::Options),
];

fn parse_parts(list: &str) -> Result<Vec<Part>, String> {
    list.split(',')
        .map(|name| {
            PARTS
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name.trim()))
                .map(|(_, part)| *part)
                .ok_or_else(|| format!("unknown part {name:?}"))
        })
        .collect()
}

const USAGE: &str =
    "usage: bench_sync [--messages N] [--runs N] [--easd PATH] [--parts LIST] [--requests N]
  --messages N  messages in the Inbox for the initial Sync (default 10000)
  --runs N      runs of each measurement; the median is reported (default 3)
  --easd PATH   the easd binary (default: target/PROFILE/easd, rebuilt under cargo run)
  --parts LIST  the parts to run, comma-separated among initial, incremental, foldersync,
                options (default: all)
  --requests N  requests per run of the incremental, foldersync and options parts
                (default 300 incremental, 2000 each of the others)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        messages: 10_000,
        runs: 3,
        easd: None,
        parts: PARTS.iter().map(|(_, part)| *part).collect(),
        requests: None,
    };
    bench_util::read_flags(args, |flag| {
        match flag.name {
            "--messages" => options.messages = flag.positive()?,
            "--runs" => options.runs = flag.positive()?,
            "--easd" => options.easd = Some(flag.path()),
            "--parts" => options.parts = parse_parts(flag.value)?,
            "--requests" => options.requests = Some(flag.positive()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(options)
}

fn main() -> std::process::ExitCode {
    bench_util::bench_main("bench_sync", USAGE, parse_options, run)
}

fn run(args: &[String], options: &Options) -> Result<(), String> {
    let binary = bench_util::easd_under_test(options.easd.as_deref(), true)?;
    bench_util::print_header(
        "request-path (over TLS)",
        args,
        &format!(
            "messages={} runs={} truncation={TRUNCATION} easd={}",
            options.messages,
            options.runs,
            binary.display()
        ),
    );
    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| measure(&server, options)))
            .unwrap_or_else(|_| Err("a request got no answer".to_string()));
    if outcome.is_err() {
        let log = server.log();
        let lines: Vec<&str> = log.lines().collect();
        eprintln!("bench_sync: the server's last log lines:");
        for line in &lines[lines.len().saturating_sub(20)..] {
            eprintln!("  {line}");
        }
    }
    outcome
}

/// The context switches of the server's threads so far (voluntary and not, from
/// /proc/PID/task/*/status): the hand-offs between its threads per request, a figure the
/// machine's load changes far less than CPU time.
fn server_switches(pid: u32) -> Result<u64, String> {
    let tasks = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for entry in std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))? {
        let path = entry.map_err(|e| e.to_string())?.path().join("status");
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += text
            .lines()
            .filter(|line| line.contains("ctxt_switches:"))
            .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(total)
}

/// The CPU time the server's threads have used so far.
fn server_cpu(pid: u32) -> Result<Duration, String> {
    let tasks = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for entry in std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))? {
        let path = entry.map_err(|e| e.to_string())?.path().join("schedstat");
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += text
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .ok_or_else(|| format!("unreadable {}", path.display()))?;
    }
    Ok(Duration::from_nanos(total))
}

/// Median and range of `values`.
fn summary(values: &mut [f64], unit: &str, decimals: usize) -> String {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    format!(
        "{median:.decimals$} {unit} (runs: {:.decimals$}–{:.decimals$})",
        values[0],
        values[values.len() - 1]
    )
}

fn measure(server: &TestServer, options: &Options) -> Result<(), String> {
    let inbox = inbox_of(server)?;
    let inbox = inbox.as_str();
    let mbox = server.dir.join("bench.mbox");
    bench_util::write_report_mbox(&mbox, ACCOUNT, options.messages, 5)
        .map_err(|e| format!("writing the mbox: {e}"))?;
    let bytes = std::fs::metadata(&mbox).map_err(|e| e.to_string())?.len();
    let out = server.easd(&["import", ACCOUNT, mbox.to_str().ok_or("path")?]);
    if !out.status.success() {
        return Err(format!(
            "easd import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    println!(
        "mailbox: {} messages, {:.0} bytes each on average",
        options.messages,
        bytes as f64 / options.messages as f64
    );

    let incremental_requests = options.requests.unwrap_or(INCREMENTAL_REQUESTS);
    let small_requests = options.requests.unwrap_or(SMALL_REQUESTS);

    if options.parts.contains(&Part::Initial) {
        measure_initial_syncs(server, options, inbox)?;
    }
    if options.parts.contains(&Part::Incremental) {
        measure_incremental_syncs(server, options, inbox, incremental_requests)?;
    }
    let small: Vec<&str> = [(Part::FolderSync, "FolderSync"), (Part::Options, "OPTIONS")]
        .iter()
        .filter(|(part, _)| options.parts.contains(part))
        .map(|(_, name)| *name)
        .collect();
    if !small.is_empty() {
        measure_small_requests(server, options, &small, small_requests)?;
    }
    Ok(())
}

// --- 1. Initial Sync ----------------------------------------------------------------
fn measure_initial_syncs(
    server: &TestServer,
    options: &Options,
    inbox: &str,
) -> Result<(), String> {
    let pid = server.pid();
    println!();
    println!(
        "[1] initial Sync of the Inbox (target: >= 25,000 items/s, <= 40 µs server CPU per item)"
    );
    let mut device_number = 0;
    for body in [BodyChoice::Plain, BodyChoice::Html, BodyChoice::Mime] {
        for window in [100, 512] {
            let (mut rates, mut costs) = (Vec::new(), Vec::new());
            for _ in 0..options.runs {
                device_number += 1;
                let mut device = phone(server, &format!("initial{device_number}"));
                let cpu_before = server_cpu(pid)?;
                let started = Instant::now();
                let (items, _) = initial_sync(&mut device, inbox, window, body)?;
                let elapsed = started.elapsed();
                let cpu = server_cpu(pid)? - cpu_before;
                if items != options.messages {
                    return Err(format!(
                        "the initial Sync sent {items} items, the Inbox holds {}",
                        options.messages
                    ));
                }
                rates.push(items as f64 / elapsed.as_secs_f64());
                costs.push(cpu.as_secs_f64() * 1e6 / items as f64);
            }
            println!(
                "{:<30} window {window:>3}: {}; server CPU {}",
                body.label(),
                summary(&mut rates, "items/s", 0),
                summary(&mut costs, "µs/item", 1)
            );
        }
    }

    Ok(())
}

// --- 2. Incremental Sync with nothing new ---------------------------------------------
fn measure_incremental_syncs(
    server: &TestServer,
    options: &Options,
    inbox: &str,
    requests: usize,
) -> Result<(), String> {
    let pid = server.pid();
    println!();
    println!(
        "[2] incremental Sync with nothing new, {requests} requests per run (target: p99 < 0.3 ms)"
    );
    let mut device = phone(server, "incremental");
    let (_, mut key) = initial_sync(&mut device, inbox, 512, BodyChoice::Plain)?;
    let (mut p50s, mut p99s, mut costs) = (Vec::new(), Vec::new(), Vec::new());
    let mut switches = Vec::new();
    for _ in 0..options.runs {
        let mut latencies = Vec::with_capacity(requests);
        let switches_before = server_switches(pid)?;
        let cpu_before = server_cpu(pid)?;
        for _ in 0..requests {
            let started = Instant::now();
            let answer = sync_collection(&mut device, &key, inbox, 100, BodyChoice::Plain)?;
            latencies.push(started.elapsed());
            if answer.adds > 0 || answer.more_available {
                return Err("an incremental Sync with nothing new sent changes".into());
            }
            key = answer.key;
        }
        let cpu = server_cpu(pid)? - cpu_before;
        switches.push((server_switches(pid)? - switches_before) as f64 / requests as f64);
        latencies.sort();
        p50s.push(percentile(&latencies, 50.0).as_secs_f64() * 1000.0);
        p99s.push(percentile(&latencies, 99.0).as_secs_f64() * 1000.0);
        costs.push(cpu.as_secs_f64() * 1e6 / requests as f64);
    }
    println!(
        "p50 {}; p99 {}; server CPU {}; context switches {}",
        summary(&mut p50s, "ms", 3),
        summary(&mut p99s, "ms", 3),
        summary(&mut costs, "µs/request", 0),
        summary(&mut switches, "/request", 2)
    );

    Ok(())
}

// --- 3. FolderSync and OPTIONS over one TLS keep-alive connection ---------------------
fn measure_small_requests(
    server: &TestServer,
    options: &Options,
    names: &[&str],
    requests: usize,
) -> Result<(), String> {
    let pid = server.pid();
    println!();
    println!("[3] {requests} requests per run on one TLS keep-alive connection (target: >= 20,000 req/s on one core)");
    let mut device = phone(server, "small");
    let first = device.command("FolderSync", Some(&folder_sync("0")));
    let folder_key = first
        .doc
        .as_ref()
        .and_then(|d| d.child_text(fh::SYNC_KEY))
        .ok_or("FolderSync gave no SyncKey")?;
    for &name in names {
        let (mut rates, mut costs, mut cores) = (Vec::new(), Vec::new(), Vec::new());
        let mut switches = Vec::new();
        for _ in 0..options.runs {
            let switches_before = server_switches(pid)?;
            let cpu_before = server_cpu(pid)?;
            let started = Instant::now();
            for _ in 0..requests {
                let status = if name == "OPTIONS" {
                    device.options().status
                } else {
                    let answer = device.command("FolderSync", Some(&folder_sync(&folder_key)));
                    answer.status()
                };
                if status != 200 {
                    return Err(format!("{name} answered HTTP {status}"));
                }
            }
            let elapsed = started.elapsed();
            let cpu = server_cpu(pid)? - cpu_before;
            switches.push((server_switches(pid)? - switches_before) as f64 / requests as f64);
            let per_request = cpu.as_secs_f64() * 1e6 / requests as f64;
            rates.push(requests as f64 / elapsed.as_secs_f64());
            costs.push(per_request);
            cores.push(1e6 / per_request);
        }
        println!(
            "{name:<10}: {} with this client on the same machine; server CPU {} = {} on one server core; context switches {}",
            summary(&mut rates, "req/s", 0),
            summary(&mut costs, "µs/request", 1),
            summary(&mut cores, "req/s", 0),
            summary(&mut switches, "/request", 2)
        );
    }
    Ok(())
}

/// The Inbox's CollectionId, from a FolderSync as a phone learns it (the benchmark never
/// opens the database itself, so it measures any build, older schemas included).
fn inbox_of(server: &TestServer) -> Result<String, String> {
    let mut device = phone(server, "hierarchy");
    let answer = device.command("FolderSync", Some(&folder_sync("0")));
    let changes = answer
        .doc
        .as_ref()
        .and_then(|d| d.child(fh::CHANGES))
        .ok_or("FolderSync gave no Changes")?;
    let inbox = changes
        .children_with(fh::ADD)
        .find(|add| add.child_text(fh::TYPE).as_deref() == Some("2"))
        .and_then(|add| add.child_text(fh::SERVER_ID))
        .ok_or_else(|| "FolderSync named no Inbox".to_string());
    inbox
}

/// A phone on its own TLS keep-alive connection.
fn phone(server: &TestServer, id: &str) -> TestDevice {
    let mut device = TestDevice::new(server.tls_client(), ACCOUNT, PASSWORD, id);
    device.device_type = "iPhone".to_string();
    device
}

#[derive(Clone, Copy)]
enum BodyChoice {
    Plain,
    Html,
    Mime,
}

impl BodyChoice {
    fn label(self) -> &'static str {
        match self {
            BodyChoice::Plain => "BodyPreference 1 (5120 bytes)",
            BodyChoice::Html => "BodyPreference 2 (5120 bytes)",
            BodyChoice::Mime => "BodyPreference 4 (MIME, 5120)",
        }
    }
}

fn folder_sync(key: &str) -> Element {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key);
    doc
}

/// Syncs from key 0 to the end: (items sent, last key).
fn initial_sync(
    device: &mut TestDevice,
    inbox: &str,
    window: usize,
    body: BodyChoice,
) -> Result<(usize, String), String> {
    let mut key = sync_collection(device, "0", inbox, window, body)?.key;
    let mut items = 0;
    loop {
        let answer = sync_collection(device, &key, inbox, window, body)?;
        key = answer.key;
        items += answer.adds;
        if !answer.more_available {
            return Ok((items, key));
        }
    }
}

struct SyncAnswer {
    key: String,
    adds: usize,
    more_available: bool,
}

/// One Sync of the Inbox as iOS sends it: WindowSize and Options in every request.
fn sync_collection(
    device: &mut TestDevice,
    key: &str,
    inbox: &str,
    window: usize,
    body: BodyChoice,
) -> Result<SyncAnswer, String> {
    let mut doc = Element::new(airsync::SYNC);
    let collection = doc
        .push(Element::new(airsync::COLLECTIONS))
        .push(Element::new(airsync::COLLECTION));
    collection
        .push_text(airsync::SYNC_KEY, key)
        .push_text(airsync::COLLECTION_ID, inbox);
    if key != "0" {
        collection
            .push_text(airsync::DELETES_AS_MOVES, "1")
            .push_text(airsync::GET_CHANGES, "1")
            .push_text(airsync::WINDOW_SIZE, window.to_string());
    }
    let options = collection.push(Element::new(airsync::OPTIONS));
    options.push_text(airsync::FILTER_TYPE, "0");
    let body_type = match body {
        BodyChoice::Plain => "1",
        BodyChoice::Html => "2",
        BodyChoice::Mime => {
            options.push_text(airsync::MIME_SUPPORT, "2");
            "4"
        }
    };
    options
        .push(Element::new(base::BODY_PREFERENCE))
        .push_text(base::TYPE, body_type)
        .push_text(base::TRUNCATION_SIZE, TRUNCATION.to_string());
    let response = device.command("Sync", Some(&doc));
    if response.status() != 200 {
        return Err(format!("Sync answered HTTP {}", response.status()));
    }
    let answer = response
        .doc
        .as_ref()
        .and_then(|d| d.child(airsync::COLLECTIONS))
        .and_then(|l| l.child(airsync::COLLECTION))
        .ok_or("a Sync answer without a Collection")?;
    if answer.child_text(airsync::STATUS).as_deref() != Some("1") {
        return Err(format!(
            "Sync Status {:?}",
            answer.child_text(airsync::STATUS)
        ));
    }
    let adds = answer
        .child(airsync::COMMANDS)
        .map_or(0, |c| c.children_with(airsync::ADD).count());
    Ok(SyncAnswer {
        key: answer.child_text(airsync::SYNC_KEY).ok_or("no SyncKey")?,
        adds,
        more_available: answer.child(airsync::MORE_AVAILABLE).is_some(),
    })
}
