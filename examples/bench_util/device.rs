//! Helpers of the benchmarks that drive a server as a phone does, through the test-side
//! server and device of tests/common: importing files, FolderSync, one Sync of a collection
//! and the initial-Sync loop. A benchmark includes it next to `common`:
//! `#[path = "bench_util/device.rs"] mod bench_device;` (kept out of `bench_util` because
//! the benchmarks without a test server do not include `common`).
// Each benchmark uses a different subset of these helpers.
#![allow(dead_code)]

use easd::wbxml::tag::{airsync, folder_hierarchy as fh};
use easd::wbxml::Element;

use crate::common::{TestDevice, TestServer};

/// `easd import ACCOUNT FILE [ARGS…]` into the server's database; the command's stderr when
/// it fails.
pub fn import(
    server: &TestServer,
    account: &str,
    file: &std::path::Path,
    args: &[&str],
) -> Result<(), String> {
    let mut command = vec!["import", account, file.to_str().ok_or("path")?];
    command.extend_from_slice(args);
    let out = server.easd(&command);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "easd import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// FolderSync from key 0: the ServerIds of the folders added, with their types.
pub fn folder_sync(device: &mut TestDevice) -> Result<Vec<(String, String)>, String> {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, "0");
    let answer = device.command("FolderSync", Some(&doc));
    if answer.status() != 200 {
        return Err(format!("FolderSync answered HTTP {}", answer.status()));
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

/// A Sync request of one collection: the key, the collection, the window (except with key 0,
/// which carries none) and then `options` when given.
pub fn sync_request(
    key: &str,
    collection: &str,
    window: usize,
    options: Option<Element>,
) -> Element {
    crate::common::sync_request(crate::common::collection(key, collection, |c| {
        if key != "0" {
            c.push_text(airsync::WINDOW_SIZE, window.to_string());
        }
        if let Some(options) = options {
            c.push(options);
        }
    }))
}

/// What the benchmarks read from one Sync answer.
pub struct SyncAnswer {
    pub key: String,
    pub adds: usize,
    pub more_available: bool,
    /// The answer's collection, for what a benchmark reads beyond the counts.
    pub collection: Element,
}

/// Sends one Sync request of one collection; an HTTP status other than 200, an answer
/// without its collection or a Status other than 1 is an error.
pub fn sync(device: &mut TestDevice, request: &Element) -> Result<SyncAnswer, String> {
    let response = device.command("Sync", Some(request));
    if response.status() != 200 {
        return Err(format!("Sync answered HTTP {}", response.status()));
    }
    let collection = response
        .doc
        .as_ref()
        .and_then(|d| d.child(airsync::COLLECTIONS))
        .and_then(|l| l.child(airsync::COLLECTION))
        .ok_or("a Sync answer without a Collection")?;
    if collection.child_text(airsync::STATUS).as_deref() != Some("1") {
        return Err(format!(
            "Sync Status {:?}",
            collection.child_text(airsync::STATUS)
        ));
    }
    Ok(SyncAnswer {
        key: collection
            .child_text(airsync::SYNC_KEY)
            .ok_or("no SyncKey")?,
        adds: collection
            .child(airsync::COMMANDS)
            .map_or(0, |c| c.children_with(airsync::ADD).count()),
        more_available: collection.child(airsync::MORE_AVAILABLE).is_some(),
        collection: collection.clone(),
    })
}

/// An initial Sync to its end: what it sent, in how many requests, and the key it ended with.
pub struct InitialSync {
    pub items: usize,
    pub requests: usize,
    pub key: String,
}

/// Syncs a collection from key 0 until no more items wait; `request` builds the Sync
/// request for a key.
pub fn initial_sync(
    device: &mut TestDevice,
    request: impl Fn(&str) -> Element,
) -> Result<InitialSync, String> {
    let mut done = InitialSync {
        items: 0,
        requests: 1,
        key: sync(device, &request("0"))?.key,
    };
    loop {
        let answer = sync(device, &request(&done.key))?;
        done.key = answer.key;
        done.items += answer.adds;
        done.requests += 1;
        if !answer.more_available {
            return Ok(done);
        }
    }
}

/// Runs a benchmark's measurements against `server`; a request that got no answer (the
/// test-side client panics) becomes a failure, and a failure prints the server's last log
/// lines.
pub fn measure_showing_log(
    name: &str,
    server: &TestServer,
    measure: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(measure))
        .unwrap_or_else(|_| Err("a request got no answer".to_string()));
    if outcome.is_err() {
        let log = server.log();
        let lines: Vec<&str> = log.lines().collect();
        eprintln!("{name}: the server's last log lines:");
        for line in &lines[lines.len().saturating_sub(20)..] {
            eprintln!("  {line}");
        }
    }
    outcome
}
