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

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bench_util::{mib, process_stats};
use common::{TestDevice, TestServer, PASSWORD};
use easd::store::Store;
use easd::wbxml::tag::{airsync, folder_hierarchy as fh};
use easd::wbxml::Element;

const ACCOUNT: &str = "bench@example.com";
const WINDOW: usize = 100;
const TASKS: usize = 5_000;
const USAGE: &str = "usage: bench_views [--easd PATH]";

fn main() -> ExitCode {
    bench_util::bench_main("bench_views", USAGE, parse_options, run)
}

fn parse_options(args: &[String]) -> Result<Option<PathBuf>, String> {
    match args {
        [] => Ok(None),
        [flag, path] if flag == "--easd" => Ok(Some(PathBuf::from(path))),
        _ => Err(String::new()),
    }
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

/// FolderSync from 0: the ServerIds of the folders added, with their types.
fn folder_sync(device: &mut TestDevice) -> Result<Vec<(String, String)>, String> {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, "0");
    let answer = device.command("FolderSync", Some(&doc));
    if answer.status() != 200 {
        return Err("FolderSync failed".into());
    }
    Ok(answer
        .doc()
        .child(fh::CHANGES)
        .map(|c| {
            c.children_with(fh::ADD)
                .map(|a| {
                    (
                        a.child_text(fh::SERVER_ID).unwrap_or_default(),
                        a.child_text(fh::TYPE).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// One Sync of the collection: the new key, the Adds it carried and whether more wait.
fn sync(device: &mut TestDevice, key: &str, id: &str) -> Result<(String, usize, bool), String> {
    let mut doc = Element::new(airsync::SYNC);
    let c = doc
        .push(Element::new(airsync::COLLECTIONS))
        .push(Element::new(airsync::COLLECTION));
    c.push_text(airsync::SYNC_KEY, key)
        .push_text(airsync::COLLECTION_ID, id);
    if key != "0" {
        c.push_text(airsync::WINDOW_SIZE, WINDOW.to_string());
    }
    let answer = device.command("Sync", Some(&doc));
    if answer.status() != 200 {
        return Err(format!("Sync answered HTTP {}", answer.status()));
    }
    let collection = answer
        .doc()
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .ok_or("no collection in the answer")?;
    if collection.child_text(airsync::STATUS).as_deref() != Some("1") {
        return Err(format!(
            "Sync status {:?}",
            collection.child_text(airsync::STATUS)
        ));
    }
    let adds = collection
        .child(airsync::COMMANDS)
        .map_or(0, |c| c.children_with(airsync::ADD).count());
    Ok((
        collection.child_text(airsync::SYNC_KEY).ok_or("no key")?,
        adds,
        collection.child(airsync::MORE_AVAILABLE).is_some(),
    ))
}

fn run(args: &[String], easd: &Option<PathBuf>) -> Result<(), String> {
    let binary = bench_util::easd_under_test(easd.as_deref(), true)?;
    println!("easd folder view benchmark");
    println!("command: {}", args.join(" "));
    println!(
        "settings: tasks={TASKS} (a quarter timed, a tenth completed), window={WINDOW}, TLS, easd={}",
        binary.display()
    );
    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    let path = server.dir.join("tasks.ics");
    std::fs::write(&path, tasks_file()).map_err(|e| e.to_string())?;
    let out = server.easd(&["import", ACCOUNT, path.to_str().ok_or("path")?]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let store = Store::open(&server.db).map_err(|e| e.to_string())?;
    let user = store
        .user_by_email(ACCOUNT)
        .map_err(|e| e.to_string())?
        .ok_or("no account")?
        .id;
    let tasks = store
        .folders_of(user)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|f| f.name == "Tasks")
        .ok_or("no Tasks folder")?
        .id;
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
        let before = *before_all.get_or_insert(process_stats(pid).map_err(|e| e.to_string())?);
        // Forget the peak so far (the first login's password hash), so VmHWM measures syncs.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .map_err(|e| format!("resetting the peak RSS of {pid}: {e}"))?;
        let started = Instant::now();
        let (mut key, _, _) = sync(&mut device, "0", &collection)?;
        let (mut items, mut requests) = (0, 1);
        loop {
            let (next, adds, more) = sync(&mut device, &key, &collection)?;
            key = next;
            items += adds;
            requests += 1;
            if !more {
                break;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        if items != TASKS {
            return Err(format!("{label}: {items} items sent, {TASKS} expected"));
        }
        let after = process_stats(pid).map_err(|e| e.to_string())?;
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
