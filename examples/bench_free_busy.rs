//! Benchmark of free/busy and certificate validation, the two costly parts of
//! ResolveRecipients Availability and ValidateCert:
//!
//! - `calendar::free_busy::busy_intervals` + `merged_free_busy` for one user with 5,000 events
//!   over three years in Europe/Berlin (one in ten a weekly or daily series, some with
//!   exceptions, some without an end), asked for one week and for one month: p50/p99/max.
//! - `smime::trust`: loading a trust store (the system bundle when it exists) and validating
//!   a two-certificate chain against it: p50/p99.
//!
//! Run: `cargo run --release --example bench_free_busy`.

mod bench_util;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use bench_util::{millis, percentile};
use easd::calendar::free_busy::{busy_intervals, merged_free_busy};
use easd::calendar::tz::{IanaZone, TimeZoneInfo};
use easd::smime::trust::{validate, TrustStore, Verdict};
use easd::store::{FolderType, NewRecordItem, Property, PropertyRecord, Store};

const EVENTS: usize = 5_000;
const QUERIES: usize = 300;
/// 2025-01-01T00:00:00Z.
const FIRST_DAY: i64 = 1_735_689_600;
const DAY: i64 = 86_400;

fn main() -> ExitCode {
    bench_util::bench_main(
        "bench_free_busy",
        "usage: bench_free_busy",
        bench_util::no_options,
        |_, ()| run(),
    )
}

fn run() -> Result<(), String> {
    bench_util::with_temp_database("freebusy", |db| free_busy(db).and_then(|()| certificates()))
}

/// A deterministic pseudo-random number (xorshift), so every run measures the same data.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn event(state: &mut u64, blob: &[u8], n: usize) -> PropertyRecord {
    let day = (next(state) % (3 * 365)) as i64;
    let hour = 6 + (next(state) % 12) as i64;
    let start = FIRST_DAY + day * DAY + hour * 3600;
    let mut record = PropertyRecord::default();
    record.set("Timezone", Property::Bytes(blob.to_vec()));
    record.set("Subject", Property::Text(format!("Event {n}")));
    record.set("StartTime", Property::Int(start));
    record.set(
        "EndTime",
        Property::Int(start + 1800 * (1 + (n % 4) as i64)),
    );
    record.set("BusyStatus", Property::Int((n % 4) as i64));
    if n.is_multiple_of(10) {
        let mut recurrence = PropertyRecord::default();
        recurrence.set(
            "Type",
            Property::Int(if n.is_multiple_of(20) { 0 } else { 1 }),
        );
        recurrence.set("Interval", Property::Int(1));
        if !n.is_multiple_of(20) {
            recurrence.set("DayOfWeek", Property::Int(1 << (day % 7)));
        }
        if !n.is_multiple_of(30) {
            recurrence.set("Occurrences", Property::Int(10 + (n % 90) as i64));
        }
        record.set("Recurrence", Property::Group(recurrence));
        let mut exceptions = Vec::new();
        for k in 1..=(n % 3) as i64 {
            let mut exception = PropertyRecord::default();
            exception.set("ExceptionStartTime", Property::Int(start + k * 7 * DAY));
            exception.set("Deleted", Property::Int(k % 2));
            exceptions.push(exception);
        }
        if !exceptions.is_empty() {
            record.set("Exceptions", Property::Groups(exceptions));
        }
    }
    record
}

fn free_busy(db: &Path) -> Result<(), String> {
    let err = |e: easd::store::StoreError| e.to_string();
    let store = Store::open(db).map_err(err)?;
    let user = store
        .add_user("bench@example.com", "Bench", "bench-password")
        .map_err(err)?;
    let calendar = store
        .folders_of(user.id)
        .map_err(err)?
        .into_iter()
        .find(|f| f.folder_type == FolderType::Calendar)
        .ok_or("no calendar folder")?;
    let berlin = IanaZone::named("Europe/Berlin").ok_or("no Europe/Berlin zone")?;
    let blob = TimeZoneInfo::for_zone(&berlin, "W. Europe Standard Time", 2025).to_blob();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let records: Vec<PropertyRecord> = (0..EVENTS).map(|n| event(&mut state, &blob, n)).collect();
    let items: Vec<NewRecordItem> = records
        .iter()
        .map(|record| NewRecordItem {
            class: easd::store::ItemClass::Calendar,
            sort_date: easd::eas::sync::calendar::last_end(record),
            record,
        })
        .collect();
    store
        .add_record_items(user.id, calendar.id, &items)
        .map_err(err)?;
    for (label, days) in [("one week", 7), ("one month", 30)] {
        let mut times = Vec::with_capacity(QUERIES);
        let mut busy_slots = 0usize;
        for q in 0..QUERIES {
            let from = FIRST_DAY + (q as i64 * 3) % (3 * 365) * DAY;
            let to = from + days * DAY;
            let start = Instant::now();
            let intervals = busy_intervals(&store, user.id, from, to).map_err(err)?;
            let merged = merged_free_busy(&intervals, from, to);
            times.push(start.elapsed());
            busy_slots += merged.bytes().filter(|b| *b != b'0').count();
        }
        times.sort();
        println!(
            "free/busy of {EVENTS} events ({} series), {label} ({} slots, {:.0} not free on \
             average), {QUERIES} queries: p50 {}, p99 {}, max {}",
            EVENTS / 10,
            days * 48,
            busy_slots as f64 / QUERIES as f64,
            millis(percentile(&times, 50.0)),
            millis(percentile(&times, 99.0)),
            millis(times[times.len() - 1]),
        );
    }
    Ok(())
}

fn certificates() -> Result<(), String> {
    let system = Path::new(easd::config::DEFAULT_SMIME_TRUST_STORE);
    let mut root_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let root_key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let root = root_params
        .self_signed(&root_key)
        .map_err(|e| e.to_string())?;
    let mut leaf_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::EmailProtection];
    let leaf_key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let leaf = leaf_params
        .signed_by(&leaf_key, &root, &root_key)
        .map_err(|e| e.to_string())?;

    let mut loads = Vec::new();
    let mut validations = Vec::new();
    let mut anchors = 0;
    for _ in 0..50 {
        let start = Instant::now();
        let mut store = if system.exists() {
            TrustStore::load(system).map_err(|e| e.to_string())?
        } else {
            TrustStore::default()
        };
        loads.push(start.elapsed());
        store.add_der(root.der());
        anchors = store.len();
        let start = Instant::now();
        let verdict = validate(leaf.der(), &[], &store, easd::store::now(), false);
        validations.push(start.elapsed());
        if verdict != Verdict::Valid {
            return Err(format!("the test chain did not validate: {verdict:?}"));
        }
    }
    loads.sort();
    validations.sort();
    println!(
        "trust store with {anchors} anchors ({}): load p50 {}, p99 {}; one chain validated: \
         p50 {}, p99 {}",
        if system.exists() {
            "the system bundle + 1"
        } else {
            "1 test root"
        },
        millis(percentile(&loads, 50.0)),
        millis(percentile(&loads, 99.0)),
        millis(percentile(&validations, 50.0)),
        millis(percentile(&validations, 99.0)),
    );
    Ok(())
}
