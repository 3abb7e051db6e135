//! Benchmark of folder views over TLS: 5,000 tasks with due dates (imported from one generated
//! iCalendar file) synced in windows of 100 three ways — the Tasks folder itself, the Tasks
//! folder as a calendar (`tasks-as-events all`) and as a mail folder
//! (`folders all-groupware-as-email`, each message with its .ics attachment announced) —
//! and prints items/s of each and the server's peak RSS growth over its size before the syncs.
//! Each phone has done its FolderSync first (the view folders come from it).
//!
//! Run: `cargo run --release --example bench_views -- [--easd PATH]`. It starts its own server
//! on loopback with a temporary database and stops it at the end.

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
use bench_util::{mib, reset_peak_rss, stats};
use common::{TestDevice, TestServer, PASSWORD};
use easd::store::Store;

const ACCOUNT: &str = "bench@example.com";
const WINDOW: usize = 100;
const TASKS: usize = 5_000;

fn main() -> ExitCode {
    bench_util::bench_main(
        "bench_views",
        "usage: bench_views [--easd PATH]",
        bench_util::parse_easd_flag,
        run,
    )
}

/// Tasks due over the next 200 days, every fourth at a time of day, every tenth completed.
fn tasks_file() -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    for n in 0..TASKS {
        let day = 20_260_101 + (n % 28) as u32 + 100 * ((n / 28) % 12) as u32;
        let due = if n % 4 == 0 {
            format!("DUE:{day}T170000Z")
        } else {
            format!("DUE;VALUE=DATE:{day}")
        };
        let done = if n % 10 == 0 {
            "STATUS:COMPLETED\r\nCOMPLETED:20251201T100000Z\r\n"
        } else {
            ""
        };
        let _ = write!(
            text,
            "BEGIN:VTODO\r\nUID:task-{n}\r\nSUMMARY:Task number {n}\r\n\
             DESCRIPTION:What to do for task {n}\\, in some detail.\r\n{due}\r\n{done}\
             PRIORITY:{}\r\nCATEGORIES:Home\r\nEND:VTODO\r\n",
            1 + n % 9
        );
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

fn run(args: &[String], easd: &Option<PathBuf>) -> Result<(), String> {
    let binary = bench_util::easd_under_test(easd.as_deref(), true)?;
    bench_util::print_header(
        "folder view",
        args,
        &format!(
            "tasks={TASKS} (a quarter timed, a tenth completed), window={WINDOW}, TLS, easd={}",
            binary.display()
        ),
    );
    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    let path = server.dir.join("tasks.ics");
    std::fs::write(&path, tasks_file()).map_err(|e| e.to_string())?;
    import(&server, ACCOUNT, &path, &[])?;
    let store = Store::open(&server.db).map_err(|e| e.to_string())?;
    let tasks = bench_util::folder_of(&store, ACCOUNT, "Tasks folder", |f| f.name == "Tasks")?;
    let pid = server.pid();
    let mut before_all = None;
    let mut growth = 0;
    // (label, phone, setting, the collection to sync)
    let phases = [
        ("the Tasks folder", "phone-tasks", None, tasks.to_string()),
        (
            "tasks as events",
            "phone-events",
            Some(("tasks-as-events", "all")),
            format!("ta{tasks}"),
        ),
        (
            "tasks as mail",
            "phone-mail",
            Some(("folders", "all-groupware-as-email")),
            format!("gt{tasks}"),
        ),
    ];
    for (label, phone, setting, collection) in phases {
        let mut device = TestDevice::new(server.tls_client(), ACCOUNT, PASSWORD, phone);
        folder_sync(&mut device)?;
        if let Some((key, value)) = setting {
            let out = server.easd(&["device", "set", ACCOUNT, phone, key, value]);
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            let folders = folder_sync(&mut device)?;
            if !folders.iter().any(|(id, _)| *id == collection) {
                return Err(format!("{label}: no folder {collection} after FolderSync"));
            }
        }
        let before = *before_all.get_or_insert(stats(pid)?);
        // Forget the peak so far (the first login's password hash), so VmHWM measures syncs.
        reset_peak_rss(pid)?;
        let started = Instant::now();
        let synced = initial_sync(&mut device, |key| {
            sync_request(key, &collection, WINDOW, None)
        })?;
        let elapsed = started.elapsed().as_secs_f64();
        let (items, requests) = (synced.items, synced.requests);
        if items != TASKS {
            return Err(format!("{label}: {items} items sent, {TASKS} expected"));
        }
        let after = stats(pid)?;
        let phase_growth = after.peak_rss_kib.saturating_sub(before.rss_kib);
        growth = growth.max(phase_growth);
        println!(
            "initial Sync of {label}: {items} items in {requests} requests, {elapsed:.2} s, {:.0} items/s, peak RSS {} over the start",
            items as f64 / elapsed,
            mib(phase_growth)
        );
    }
    let before = before_all.ok_or("no phase ran")?;
    println!(
        "server RSS: {} before the syncs, peak growth {}",
        mib(before.rss_kib),
        mib(growth)
    );
    Ok(())
}
