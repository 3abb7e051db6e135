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

#[path = "bench_util/device.rs"]
mod bench_device;

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use base64::Engine;
use bench_device::{folder_sync, import, initial_sync, sync_request};
use bench_util::{print_phase_rss, print_rss_summary, reset_peak_rss, stats, verdict};
use common::{TestDevice, TestServer, PASSWORD};
use easd::store::Store;

const ACCOUNT: &str = "bench@example.com";
const WINDOW: usize = 100;
const PLAIN_CONTACTS: usize = 4_000;
const PHOTO_CONTACTS: usize = 1_000;
const PHOTO_BYTES: usize = 30 * 1024;
/// Targets from the contacts issue.
const PLAIN_TARGET_PER_SECOND: f64 = 10_000.0;
const RSS_GROWTH_TARGET_KIB: u64 = 16 * 1024;

fn main() -> ExitCode {
    bench_util::bench_main(
        "bench_contacts",
        "usage: bench_contacts [--easd PATH]",
        bench_util::parse_easd_flag,
        run,
    )
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
    bench_util::print_header(
        "contacts",
        args,
        &format!(
            "contacts={PLAIN_CONTACTS} without photo + {PHOTO_CONTACTS} with a {PHOTO_BYTES}-byte photo, \
         window={WINDOW}, TLS, easd={}",
        binary.display()
        ),
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
        import(&server, ACCOUNT, &path, &["--folder", folder])?;
        println!(
            "[0] import of {count} contacts into {folder}: {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
    let store = Store::open(&server.db).map_err(|e| e.to_string())?;
    let pid = server.pid();
    // A phone's first request is FolderSync: the figures start from a connected phone.
    let mut device = TestDevice::new(server.tls_client(), ACCOUNT, PASSWORD, "benchphone");
    folder_sync(&mut device)?;
    let before = stats(pid)?;
    let mut rates = Vec::new();
    let mut growths = Vec::new();
    for (name, expected) in [("Contacts", PLAIN_CONTACTS), ("Photos", PHOTO_CONTACTS)] {
        let id = bench_util::folder_of(&store, ACCOUNT, name, |f| f.name == name)?.to_string();
        reset_peak_rss(pid)?;
        let phase_before = stats(pid)?;
        let started = Instant::now();
        let synced = initial_sync(&mut device, |key| sync_request(key, &id, WINDOW, None))?;
        let elapsed = started.elapsed().as_secs_f64();
        let (items, requests) = (synced.items, synced.requests);
        if items != expected {
            return Err(format!("{name}: {items} contacts sent, {expected} stored"));
        }
        let rate = items as f64 / elapsed;
        println!(
            "[1] initial Sync of {name}: {items} contacts in {requests} requests, {elapsed:.2} s, {rate:.0} contacts/s"
        );
        rates.push(rate);
        let phase_after = stats(pid)?;
        let growth = phase_after.peak_rss_kib.saturating_sub(before.rss_kib);
        print_phase_rss(&phase_before, &phase_after, growth);
        growths.push(growth);
    }
    let after = stats(pid)?;
    let growth = growths.iter().copied().max().unwrap_or(0);
    println!();
    println!(
        "contacts without photos: {:.0}/s (target: at least {PLAIN_TARGET_PER_SECOND:.0}/s) {}",
        rates[0],
        verdict(rates[0] >= PLAIN_TARGET_PER_SECOND)
    );
    println!("contacts with a 30 KB photo: {:.0}/s", rates[1]);
    print_rss_summary(&before, &after, growth, RSS_GROWTH_TARGET_KIB);
    Ok(())
}
