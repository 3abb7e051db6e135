//! Benchmark of easd's contacts path over TLS: the initial Sync of 4,000 contacts without
//! photos and of 1,000 contacts with a 30 KB photo each (5,000 in all, imported from one
//! generated vCard file per folder), in windows of 100; prints items/s of each and the
//! server's peak RSS growth over its size before the syncs. The phone has done its FolderSync
//! first, as every phone does before it syncs a folder: so the first request's password check
//! (argon2id, about 19 MiB for a moment, then cached for five minutes) and TLS handshake are
//! not counted as the cost of syncing contacts.
//!
//! Run: `cargo run --release --example bench_contacts -- [--easd PATH]`. It starts its own
//! server on loopback with a temporary database and stops it at the end.

mod bench_util;

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use base64::Engine;
use bench_util::{mib, process_stats};
use common::{TestDevice, TestServer, PASSWORD};
use easd::store::{FolderId, Store};
use easd::wbxml::tag::{airsync, folder_hierarchy};
use easd::wbxml::Element;

const ACCOUNT: &str = "bench@example.com";
const WINDOW: usize = 100;
const PLAIN_CONTACTS: usize = 4_000;
const PHOTO_CONTACTS: usize = 1_000;
const PHOTO_BYTES: usize = 30 * 1024;
/// Targets from the contacts issue.
const PLAIN_TARGET_PER_SECOND: f64 = 10_000.0;
const RSS_GROWTH_TARGET_KIB: u64 = 16 * 1024;

fn main() -> ExitCode {
    bench_util::bench_main("bench_contacts", USAGE, parse_options, run)
}

const USAGE: &str = "usage: bench_contacts [--easd PATH]";

fn parse_options(words: &[String]) -> Result<Option<PathBuf>, String> {
    match words {
        [] => Ok(None),
        [flag, path] if flag == "--easd" => Ok(Some(PathBuf::from(path))),
        _ => Err(String::new()),
    }
}

/// A vCard file of `count` contacts, each with a photo of `photo_bytes` (0: none).
fn cards(prefix: &str, count: usize, photo_bytes: usize) -> String {
    let mut text = String::new();
    for n in 0..count {
        let _ = write!(
            text,
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{prefix}{n:05};Person;;;\r\nFN:Person {prefix}{n:05}\r\n\
             ORG:Example Ltd;Sales\r\nTEL;TYPE=CELL:+1 555 {n:05}\r\nTEL;TYPE=HOME:+1 556 {n:05}\r\n\
             TEL;TYPE=WORK:+1 557 {n:05}\r\nEMAIL;TYPE=INTERNET:p{n}@{prefix}.example\r\n\
             ADR;TYPE=HOME:;;{n} Main Street;Springfield;IL;62701;USA\r\nBDAY:1980-01-01\r\n\
             NOTE:Contact number {n}\r\n"
        );
        if photo_bytes > 0 {
            // Bytes that do not compress, like a JPEG's.
            let photo: Vec<u8> = (0..photo_bytes)
                .map(|i| ((i * 7919 + n * 104_729) % 251) as u8)
                .collect();
            let encoded = base64::engine::general_purpose::STANDARD.encode(photo);
            let _ = write!(text, "PHOTO;ENCODING=b;TYPE=JPEG:{encoded}\r\n");
        }
        text.push_str("END:VCARD\r\n");
    }
    text
}

fn run(args: &[String], easd: &Option<PathBuf>) -> Result<(), String> {
    let binary = bench_util::easd_under_test(easd.as_deref(), true)?;
    println!("easd contacts benchmark");
    println!("command: {}", args.join(" "));
    println!(
        "settings: contacts={PLAIN_CONTACTS} without photo + {PHOTO_CONTACTS} with a {PHOTO_BYTES}-byte photo, \
         window={WINDOW}, TLS, easd={}",
        binary.display()
    );
    let server = TestServer::start_with("log-level = warn");
    server.add_user(ACCOUNT);
    for (folder, count, photo) in [
        ("Contacts", PLAIN_CONTACTS, 0),
        ("Photos", PHOTO_CONTACTS, PHOTO_BYTES),
    ] {
        let path = server.dir.join(format!("{folder}.vcf"));
        std::fs::write(&path, cards(folder, count, photo)).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let out = server.easd(&[
            "import",
            ACCOUNT,
            path.to_str().ok_or("path")?,
            "--folder",
            folder,
        ]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        println!(
            "[0] import of {count} contacts into {folder}: {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
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
    // A phone's first request is FolderSync: the figures start from a connected phone.
    let mut device = TestDevice::new(server.tls_client(), ACCOUNT, PASSWORD, "benchphone");
    let mut folder_sync = Element::new(folder_hierarchy::FOLDER_SYNC);
    folder_sync.push_text(folder_hierarchy::SYNC_KEY, "0");
    if device.command("FolderSync", Some(&folder_sync)).status() != 200 {
        return Err("FolderSync failed".into());
    }
    let before = process_stats(pid).map_err(|e| e.to_string())?;
    let mut rates = Vec::new();
    let mut growths = Vec::new();
    for (name, expected) in [("Contacts", PLAIN_CONTACTS), ("Photos", PHOTO_CONTACTS)] {
        let id = folder_id(name)?;
        // Forget the peak so far, so VmHWM measures this phase alone.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .map_err(|e| format!("resetting the peak RSS of {pid}: {e}"))?;
        let phase_before = process_stats(pid).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let (mut key, _) = sync(&mut device, "0", id)?;
        let mut items = 0;
        let mut requests = 1;
        loop {
            let (next, (adds, more)) = sync(&mut device, &key, id)?;
            key = next;
            items += adds;
            requests += 1;
            if !more {
                break;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        if items != expected {
            return Err(format!("{name}: {items} contacts sent, {expected} stored"));
        }
        let rate = items as f64 / elapsed;
        println!(
            "[1] initial Sync of {name}: {items} contacts in {requests} requests, {elapsed:.2} s, {rate:.0} contacts/s"
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
    let after = process_stats(pid).map_err(|e| e.to_string())?;
    let growth = growths.iter().copied().max().unwrap_or(0);
    println!();
    println!(
        "contacts without photos: {:.0}/s (target: at least {PLAIN_TARGET_PER_SECOND:.0}/s) {}",
        rates[0],
        if rates[0] >= PLAIN_TARGET_PER_SECOND {
            "MET"
        } else {
            "MISSED"
        }
    );
    println!("contacts with a 30 KB photo: {:.0}/s", rates[1]);
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
