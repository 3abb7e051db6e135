//! Benchmark of easd's mail path: the initial Sync of a 10,000-message Inbox in windows of 100
//! (the BodyPreference iOS asks for), the latency of an incremental Sync with nothing new, and
//! — when the server advertises ItemOperations — the time and the server's peak memory growth
//! for fetching a 50 MB attachment.
//!
//! Run: `cargo run --release --example bench_mail -- [--messages N] [--easd PATH]`. It starts
//! its own server on loopback with a temporary database, fills the mailbox with `easd import`
//! (a generated mbox), prints one figure per line next to its target and stops the server at
//! the end.

mod bench_util;

#[path = "bench_util/device.rs"]
mod bench_device;

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench_device::{import, initial_sync, sync, SyncAnswer};
use bench_util::{mib, millis, percentile, reset_peak_rss, stats, verdict};
use common::{basic_auth, TestDevice, TestServer, PASSWORD};
use easd::store::{FolderId, FolderType, Store};
use easd::wbxml::tag::{airsync, airsyncbase as base, item_operations as io};
use easd::wbxml::Element;

const ACCOUNT: &str = "bench@example.com";
const WINDOW: usize = 100;
const TRUNCATION: usize = 5120;
const INCREMENTAL_REQUESTS: usize = 100;
const ATTACHMENT_BYTES: usize = 50 * 1024 * 1024;
/// Targets from the mail issue.
const INITIAL_SYNC_TARGET: Duration = Duration::from_secs(2);
const RSS_GROWTH_TARGET_KIB: u64 = 8 * 1024;

struct Options {
    messages: usize,
    easd: Option<PathBuf>,
}

const USAGE: &str = "usage: bench_mail [--messages N] [--easd PATH]
  --messages N  messages in the Inbox for the initial Sync (default 10000)
  --easd PATH   the easd binary (default: target/PROFILE/easd, rebuilt under cargo run)";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        messages: 10_000,
        easd: None,
    };
    bench_util::read_flags(args, |flag| {
        match flag.name {
            "--messages" => options.messages = flag.positive()?,
            "--easd" => options.easd = Some(flag.path()),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(options)
}

fn main() -> ExitCode {
    bench_util::bench_main("bench_mail", USAGE, parse_options, run)
}

fn run(args: &[String], options: &Options) -> Result<(), String> {
    let binary = bench_util::easd_under_test(options.easd.as_deref(), true)?;
    bench_util::print_header(
        "mail",
        args,
        &format!(
            "messages={} window={WINDOW} body-preference=2/{TRUNCATION} easd={}",
            options.messages,
            binary.display()
        ),
    );

    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    bench_device::measure_showing_log("bench_mail", &server, || measure(&server, options))
}

fn measure(server: &TestServer, options: &Options) -> Result<(), String> {
    let pid = server.pid();
    let inbox = {
        let store = Store::open(&server.db).map_err(|e| e.to_string())?;
        bench_util::folder_of(&store, ACCOUNT, "Inbox", |f| {
            f.folder_type == FolderType::Inbox
        })?
    };

    // --- Fill the mailbox ---------------------------------------------------------------
    let mbox = server.dir.join("bench.mbox");
    bench_util::write_report_mbox(&mbox, ACCOUNT, options.messages, 8)
        .map_err(|e| format!("writing the mbox: {e}"))?;
    let started = Instant::now();
    import(server, ACCOUNT, &mbox, &[])?;
    println!();
    println!(
        "[0] import of {} messages: {:.2} s",
        options.messages,
        started.elapsed().as_secs_f64()
    );

    // --- 1. Initial Sync ----------------------------------------------------------------
    let mut device = server.device(ACCOUNT, "benchphone");
    device.device_type = "iPhone".to_string();
    let started = Instant::now();
    let synced = initial_sync(&mut device, |key| sync_request(key, inbox))?;
    let elapsed = started.elapsed();
    let (items, requests, mut key) = (synced.items, synced.requests, synced.key);
    if items != options.messages {
        return Err(format!(
            "the initial Sync sent {items} items, the Inbox holds {}",
            options.messages
        ));
    }
    let target = INITIAL_SYNC_TARGET.as_secs_f64() * options.messages as f64 / 10_000.0;
    println!();
    println!("[1] initial Sync, WindowSize {WINDOW}, BodyPreference 2 truncated at {TRUNCATION}");
    println!(
        "{items} items in {requests} requests: {:.2} s, {:.0} items/s (target: 10,000 in under \
         2 s, i.e. under {target:.2} s here) {}",
        elapsed.as_secs_f64(),
        items as f64 / elapsed.as_secs_f64(),
        verdict(elapsed.as_secs_f64() < target)
    );

    // --- 2. Incremental Sync with no changes --------------------------------------------
    let mut latencies = Vec::with_capacity(INCREMENTAL_REQUESTS);
    for _ in 0..INCREMENTAL_REQUESTS {
        let started = Instant::now();
        let answer = sync_collection(&mut device, &key, inbox)?;
        latencies.push(started.elapsed());
        if answer.adds > 0 || answer.more_available {
            return Err("an incremental Sync with no changes sent changes".into());
        }
        key = answer.key;
    }
    latencies.sort();
    println!();
    println!("[2] incremental Sync with no changes ({INCREMENTAL_REQUESTS} requests)");
    println!(
        "p50 {}  p99 {}",
        millis(percentile(&latencies, 50.0)),
        millis(percentile(&latencies, 99.0))
    );

    // --- 3. ItemOperations fetch of a 50 MB attachment ----------------------------------
    println!();
    println!("[3] ItemOperations fetch of a 50 MB attachment");
    let auth = basic_auth(ACCOUNT, PASSWORD);
    let options_answer = server.client().request(
        "OPTIONS",
        "/Microsoft-Server-ActiveSync",
        &[("Authorization", auth.as_str())],
        b"",
    );
    let advertised = options_answer
        .header("MS-ASProtocolCommands")
        .is_some_and(|list| list.split(',').any(|c| c.trim() == "ItemOperations"));
    if !advertised {
        println!("skipped: this server does not advertise ItemOperations");
        return Ok(());
    }
    let big = bench_util::big_attachment_message(&format!("Bench <{ACCOUNT}>"), ATTACHMENT_BYTES);
    let out = server.easd_stdin(&["deliver", ACCOUNT], &big);
    if !out.status.success() {
        return Err(format!(
            "easd deliver of the big message failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let answer = sync_collection(&mut device, &key, inbox)?;
    let reference = file_reference(&answer)
        .ok_or("the Sync of the big message named no attachment FileReference")?;
    // Forget the peak so far (the initial Sync), so VmHWM measures this fetch alone.
    reset_peak_rss(pid)?;
    let before = stats(pid)?;
    let started = Instant::now();
    let (status, bytes) = fetch_attachment(&mut device, &reference);
    let elapsed = started.elapsed();
    let after = stats(pid)?;
    if status != 200 || bytes < ATTACHMENT_BYTES {
        return Err(format!(
            "the fetch answered HTTP {status} with {bytes} bytes (expected the 50 MB attachment)"
        ));
    }
    let growth = after.peak_rss_kib.saturating_sub(before.rss_kib);
    println!(
        "{:.2} s for {bytes} response bytes; server peak RSS {} over {} before: growth {} \
         (target: under {}) {}",
        elapsed.as_secs_f64(),
        mib(after.peak_rss_kib),
        mib(before.rss_kib),
        mib(growth),
        mib(RSS_GROWTH_TARGET_KIB),
        verdict(growth < RSS_GROWTH_TARGET_KIB)
    );
    Ok(())
}

/// One Sync of the Inbox as iOS sends it: WindowSize and Options in every request.
fn sync_request(key: &str, inbox: FolderId) -> Element {
    common::sync_request(common::collection(key, inbox, |collection| {
        if key != "0" {
            collection
                .push_text(airsync::DELETES_AS_MOVES, "1")
                .push_text(airsync::GET_CHANGES, "1")
                .push_text(airsync::WINDOW_SIZE, WINDOW.to_string());
        }
        collection
            .push(Element::new(airsync::OPTIONS))
            .push_text(airsync::FILTER_TYPE, "0")
            .push(Element::new(base::BODY_PREFERENCE))
            .push_text(base::TYPE, "2")
            .push_text(base::TRUNCATION_SIZE, TRUNCATION.to_string());
    }))
}

fn sync_collection(
    device: &mut TestDevice,
    key: &str,
    inbox: FolderId,
) -> Result<SyncAnswer, String> {
    sync(device, &sync_request(key, inbox))
}

/// The FileReference of the first attachment a Sync answer's commands carry.
fn file_reference(answer: &SyncAnswer) -> Option<String> {
    answer
        .collection
        .child(airsync::COMMANDS)?
        .elements()
        .filter_map(|c| c.child(airsync::APPLICATION_DATA))
        .filter_map(|data| data.child(base::ATTACHMENTS))
        .flat_map(|list| list.children_with(base::ATTACHMENT))
        .find_map(|attachment| attachment.child_text(base::FILE_REFERENCE))
}

/// ItemOperations Fetch of an attachment, multipart allowed; (HTTP status, body bytes).
fn fetch_attachment(device: &mut TestDevice, reference: &str) -> (u16, usize) {
    let mut doc = Element::new(io::ITEM_OPERATIONS);
    doc.push(Element::new(io::FETCH))
        .push_text(io::STORE, "Mailbox")
        .push_text(base::FILE_REFERENCE, reference);
    let target = format!(
        "/Microsoft-Server-ActiveSync?{}",
        device.query("ItemOperations")
    );
    let auth = basic_auth(&device.login, PASSWORD);
    let body = easd::wbxml::encode(&doc);
    let response = device.http.request(
        "POST",
        &target,
        &[
            ("Authorization", auth.as_str()),
            ("MS-ASProtocolVersion", device.version.as_str()),
            ("Content-Type", "application/vnd.ms-sync.wbxml"),
            ("MS-ASAcceptMultiPart", "T"),
        ],
        &body,
    );
    (response.status, response.body.len())
}
