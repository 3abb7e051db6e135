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

#[path = "bench_util/device.rs"]
mod bench_device;

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bench_device::{folder_sync, import, initial_sync, sync_request};
use bench_util::{print_phase_rss, print_rss_summary, reset_peak_rss, stats, verdict};
use common::{TestDevice, TestServer, PASSWORD};
use easd::store::Store;
use easd::wbxml::tag::airsync;
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
    bench_util::bench_main(
        "bench_calendar",
        "usage: bench_calendar [--easd PATH]",
        bench_util::parse_easd_flag,
        run,
    )
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

fn run(args: &[String], easd: &Option<PathBuf>) -> Result<(), String> {
    let binary = bench_util::easd_under_test(easd.as_deref(), true)?;
    bench_util::print_header(
        "calendar",
        args,
        &format!(
            "events={SINGLE_EVENTS} single + {RECURRING_EVENTS} weekly series with 2 exceptions each, \
         window={WINDOW}, TLS, easd={}",
        binary.display()
        ),
    );
    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    let now = easd::store::now();
    let path = server.dir.join("calendar.ics");
    std::fs::write(&path, calendar(now)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    import(&server, ACCOUNT, &path, &[])?;
    println!(
        "[0] import of {} events: {:.2} s",
        SINGLE_EVENTS + RECURRING_EVENTS,
        started.elapsed().as_secs_f64()
    );
    let store = Store::open(&server.db).map_err(|e| e.to_string())?;
    let calendar_id =
        bench_util::folder_of(&store, ACCOUNT, "Calendar", |f| f.name == "Calendar")?.to_string();
    let pid = server.pid();
    let mut rates = Vec::new();
    let mut growths = Vec::new();
    let mut before_all = None;
    for (filter, phone) in [("4", "phone-2w"), ("0", "phone-all")] {
        // A phone's first request is FolderSync: the figures start from a connected phone.
        let mut device = TestDevice::new(server.tls_client(), ACCOUNT, PASSWORD, phone);
        folder_sync(&mut device)?;
        let before = *before_all.get_or_insert(stats(pid)?);
        reset_peak_rss(pid)?;
        let phase_before = stats(pid)?;
        let started = Instant::now();
        let synced = initial_sync(&mut device, |key| {
            let mut options = Element::new(airsync::OPTIONS);
            options.push_text(airsync::FILTER_TYPE, filter);
            sync_request(key, &calendar_id, WINDOW, Some(options))
        })?;
        let elapsed = started.elapsed().as_secs_f64();
        let (items, requests) = (synced.items, synced.requests);
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
        let phase_after = stats(pid)?;
        let growth = phase_after.peak_rss_kib.saturating_sub(before.rss_kib);
        print_phase_rss(&phase_before, &phase_after, growth);
        growths.push(growth);
    }
    let before = before_all.ok_or("no phase ran")?;
    let after = stats(pid)?;
    let growth = growths.iter().copied().max().unwrap_or(0);
    println!();
    for (filter, rate) in ["4 (two weeks)", "0 (all)"].iter().zip(&rates) {
        println!(
            "FilterType {filter}: {rate:.0} events/s (target: at least {TARGET_PER_SECOND:.0}/s) {}",
            verdict(*rate >= TARGET_PER_SECOND)
        );
    }
    print_rss_summary(&before, &after, growth, RSS_GROWTH_TARGET_KIB);
    Ok(())
}
