//! Benchmark of easd's calendar path over TLS: the initial Sync of 10,000 events — 9,000
//! single events spread over the past ten months and the next two, and 1,000 weekly series
//! without end, each with a moved and a deleted occurrence — imported from one generated
//! iCalendar file, in windows of 100, once with FilterType 4 (two weeks back) and once with
//! FilterType 0 (everything); prints events/s of each and the server's peak RSS growth over
//! its size before the syncs. The phones have done their FolderSync first (see
//! bench_contacts: the first request's password check is not a cost of syncing).
//!
//! Run: `cargo run --release --example bench_calendar -- [--easd PATH]`. It starts its own
//! server on loopback with a temporary database and stops it at the end.

mod bench_util;

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bench_util::{mib, process_stats};
use common::{TestDevice, TestServer, PASSWORD};
use easd::store::{FolderId, Store};
use easd::wbxml::tag::{airsync, folder_hierarchy};
use easd::wbxml::Element;

const ACCOUNT: &str = "bench@example.com";
const WINDOW: usize = 100;
const SINGLE_EVENTS: usize = 9_000;
const RECURRING_EVENTS: usize = 1_000;
const DAY: i64 = 86_400;
/// Targets from the calendar issue.
const TARGET_PER_SECOND: f64 = 10_000.0;
const RSS_GROWTH_TARGET_KIB: u64 = 16 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mut easd = None;
    let mut words = args.iter().skip(1);
    while let Some(word) = words.next() {
        match (word.as_str(), words.next()) {
            ("--easd", Some(path)) => easd = Some(PathBuf::from(path)),
            _ => {
                eprintln!("usage: bench_calendar [--easd PATH]");
                return ExitCode::from(2);
            }
        }
    }
    match run(&args, easd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_calendar: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

fn compact(unix: i64) -> String {
    easd::clock::eas_compact_datetime(unix)
}

/// The start of single event `n`: from ten months ago to two months ahead, at 12:00 UTC.
fn single_start(n: usize, now: i64) -> i64 {
    let today = now.div_euclid(DAY) * DAY;
    today - 300 * DAY + (n as i64 * 360 / SINGLE_EVENTS as i64) * DAY + 12 * 3600
}

/// The iCalendar file: single events, then weekly series started a year ago with a moved
/// and a deleted occurrence each.
fn calendar(now: i64) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    for n in 0..SINGLE_EVENTS {
        let start = single_start(n, now);
        let _ = write!(
            text,
            "BEGIN:VEVENT\r\nUID:single-{n}\r\nDTSTAMP:{stamp}\r\nDTSTART:{start}\r\n\
             DTEND:{end}\r\nSUMMARY:Appointment {n}\r\nLOCATION:Room {room}\r\n\
             DESCRIPTION:Notes for appointment {n}\r\nEND:VEVENT\r\n",
            stamp = compact(start - DAY),
            start = compact(start),
            end = compact(start + 3600),
            room = n % 40,
        );
    }
    let year_ago = now.div_euclid(DAY) * DAY - 364 * DAY;
    for n in 0..RECURRING_EVENTS {
        let start = year_ago + (n % 7) as i64 * DAY + 9 * 3600;
        let _ = write!(
            text,
            "BEGIN:VEVENT\r\nUID:series-{n}\r\nDTSTAMP:{stamp}\r\n\
             DTSTART;TZID=Europe/Berlin:{local}\r\nDTEND;TZID=Europe/Berlin:{local_end}\r\n\
             RRULE:FREQ=WEEKLY\r\nEXDATE:{deleted}\r\nSUMMARY:Weekly {n}\r\n\
             ORGANIZER:mailto:boss@example.com\r\n\
             ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ACCOUNT}\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:series-{n}\r\nRECURRENCE-ID:{moved}\r\nDTSTAMP:{stamp}\r\n\
             DTSTART:{moved_to}\r\nDTEND:{moved_end}\r\nSUMMARY:Weekly {n} (moved)\r\n\
             END:VEVENT\r\n",
            stamp = compact(start - DAY),
            local = compact(start).trim_end_matches('Z'),
            local_end = compact(start + 3600).trim_end_matches('Z'),
            deleted = compact(start + 14 * DAY - 3600),
            moved = compact(start + 21 * DAY - 3600),
            moved_to = compact(start + 21 * DAY),
            moved_end = compact(start + 21 * DAY + 3600),
        );
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

fn run(args: &[String], easd: Option<PathBuf>) -> Result<(), String> {
    let binary = match easd {
        Some(path) => path,
        None => {
            bench_util::build_easd_with_cargo(env!("CARGO_MANIFEST_DIR"))
                .map_err(|e| e.to_string())?;
            bench_util::easd_beside_current_exe().map_err(|e| e.to_string())?
        }
    };
    std::env::set_var("EASD_BIN", &binary);
    println!("easd calendar benchmark");
    println!("command: {}", args.join(" "));
    println!(
        "settings: events={SINGLE_EVENTS} single + {RECURRING_EVENTS} weekly series with 2 exceptions each, \
         window={WINDOW}, TLS, easd={}",
        binary.display()
    );
    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    let now = easd::store::now();
    let path = server.dir.join("calendar.ics");
    std::fs::write(&path, calendar(now)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let out = server.easd(&["import", ACCOUNT, path.to_str().ok_or("path")?]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    println!(
        "[0] import of {} events: {:.2} s",
        SINGLE_EVENTS + RECURRING_EVENTS,
        started.elapsed().as_secs_f64()
    );
    let store = Store::open(&server.db).map_err(|e| e.to_string())?;
    let user = store
        .user_by_email(ACCOUNT)
        .map_err(|e| e.to_string())?
        .ok_or("no account")?
        .id;
    let folder_id = |name: &str| -> Result<FolderId, String> {
        store
            .folders_of(user)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|f| f.name == name)
            .map(|f| f.id)
            .ok_or_else(|| format!("no folder {name}"))
    };
    let pid = server.pid();
    let calendar_id = folder_id("Calendar")?;
    let mut rates = Vec::new();
    let mut growths = Vec::new();
    let mut before_all = None;
    for (filter, phone) in [("4", "phone-2w"), ("0", "phone-all")] {
        // A phone's first request is FolderSync: the figures start from a connected phone.
        let mut device = TestDevice::new(server.tls_client(), ACCOUNT, PASSWORD, phone);
        let mut folder_sync = Element::new(folder_hierarchy::FOLDER_SYNC);
        folder_sync.push_text(folder_hierarchy::SYNC_KEY, "0");
        if device.command("FolderSync", Some(&folder_sync)).status() != 200 {
            return Err("FolderSync failed".into());
        }
        let before = *before_all.get_or_insert(process_stats(pid).map_err(|e| e.to_string())?);
        // Forget the peak so far, so VmHWM measures this phase alone.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .map_err(|e| format!("resetting the peak RSS of {pid}: {e}"))?;
        let phase_before = process_stats(pid).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let (mut key, _) = sync(&mut device, "0", calendar_id, filter)?;
        let mut items = 0;
        let mut requests = 1;
        loop {
            let (next, (adds, more)) = sync(&mut device, &key, calendar_id, filter)?;
            key = next;
            items += adds;
            requests += 1;
            if !more {
                break;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        // Inside two weeks: every series (no end) and the single events ending after the
        // cutoff (whole hours, as the server computes it).
        let expected = if filter == "0" {
            SINGLE_EVENTS + RECURRING_EVENTS
        } else {
            let cutoff = (easd::store::now() - 14 * DAY).div_euclid(3600) * 3600;
            RECURRING_EVENTS
                + (0..SINGLE_EVENTS)
                    .filter(|n| single_start(*n, now) + 3600 >= cutoff)
                    .count()
        };
        if items != expected {
            return Err(format!(
                "FilterType {filter}: {items} events sent, {expected} expected"
            ));
        }
        let rate = items as f64 / elapsed;
        println!(
            "[1] initial Sync with FilterType {filter}: {items} events in {requests} requests, {elapsed:.2} s, {rate:.0} events/s"
        );
        rates.push(rate);
        let phase_after = process_stats(pid).map_err(|e| e.to_string())?;
        let growth = phase_after.peak_rss_kib.saturating_sub(before.rss_kib);
        println!(
            "    server RSS {} at the start of this phase, peak {} (growth over the start of all syncs: {})",
            mib(phase_before.rss_kib),
            mib(phase_after.peak_rss_kib),
            mib(growth)
        );
        growths.push(growth);
    }
    let before = before_all.ok_or("no phase ran")?;
    let after = process_stats(pid).map_err(|e| e.to_string())?;
    let growth = growths.iter().copied().max().unwrap_or(0);
    println!();
    for (filter, rate) in ["4 (two weeks)", "0 (all)"].iter().zip(&rates) {
        println!(
            "FilterType {filter}: {rate:.0} events/s (target: at least {TARGET_PER_SECOND:.0}/s) {}",
            if *rate >= TARGET_PER_SECOND { "MET" } else { "MISSED" }
        );
    }
    println!(
        "server RSS: {} before the syncs, {} after, peak growth {} (target under {}) {}",
        mib(before.rss_kib),
        mib(after.rss_kib),
        mib(growth),
        mib(RSS_GROWTH_TARGET_KIB),
        if growth < RSS_GROWTH_TARGET_KIB {
            "MET"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

/// One Sync of the collection: the new key, the Adds it carried and whether more wait.
fn sync(
    device: &mut TestDevice,
    key: &str,
    id: FolderId,
    filter: &str,
) -> Result<(String, (usize, bool)), String> {
    let mut doc = Element::new(airsync::SYNC);
    let c = doc
        .push(Element::new(airsync::COLLECTIONS))
        .push(Element::new(airsync::COLLECTION));
    c.push_text(airsync::SYNC_KEY, key)
        .push_text(airsync::COLLECTION_ID, id.to_string());
    if key != "0" {
        c.push_text(airsync::WINDOW_SIZE, WINDOW.to_string());
    }
    c.push(Element::new(airsync::OPTIONS))
        .push_text(airsync::FILTER_TYPE, filter);
    let response = device.command("Sync", Some(&doc));
    let answer = response
        .doc
        .as_ref()
        .and_then(|d| d.child(airsync::COLLECTIONS))
        .and_then(|l| l.child(airsync::COLLECTION))
        .ok_or_else(|| format!("no collection in the answer ({})", response.status()))?;
    let new_key = answer.child_text(airsync::SYNC_KEY).ok_or("no SyncKey")?;
    let adds = answer
        .child(airsync::COMMANDS)
        .map_or(0, |c| c.children_with(airsync::ADD).count());
    Ok((
        new_key,
        (adds, answer.child(airsync::MORE_AVAILABLE).is_some()),
    ))
}
