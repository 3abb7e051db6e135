//! `easd import` of VTODOs into Tasks and `easd export --folder Tasks` (tests/fixtures/
//! tasks.ics: bad to-dos reported and skipped, the rest reach a phone, export → import →
//! export gives the same text), and VTIMEZONEs whose TZID names no zone (tests/fixtures/
//! vtimezone-custom.ics: a made-up name with US Eastern rules, a Windows name, a fixed
//! half-hour zone): times are computed from the file's own rules and the events keep them.

mod class_sync;
mod common;

use class_sync::*;
use easd::calendar::tz::{EventZone, TimeZoneInfo};
use easd::store::FolderType;
use easd::wbxml::tag::{calendar as cal, tasks as t};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn vtodos_import_into_tasks_reach_a_phone_and_export_stably() {
    let (server, store, user) = start();
    let out = server.easd(&["import", ALICE, fixture("tasks.ics").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.contains("0 events into Calendar and 3 to-dos"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Broken due date") && stderr.contains("DUE is not a date"),
        "{stderr}"
    );
    assert!(stderr.contains("Broken rule"), "{stderr}");

    let tasks = folder(&store, user, FolderType::Tasks);
    let records = store.folder_records(user, tasks).unwrap();
    let by_subject = |s: &str| {
        records
            .iter()
            .map(|(_, r)| r)
            .find(|r| r.text("Subject") == Some(s))
            .unwrap_or_else(|| panic!("{s}"))
    };
    let passport = by_subject("Renew passport");
    assert_eq!(passport.int("DueDate"), Some(1_744_675_200));
    assert_eq!(passport.int("Importance"), Some(2));
    assert_eq!(passport.int("Sensitivity"), Some(2));
    assert_eq!(passport.int("ReminderTime"), Some(1_744_675_200 - 86_400));
    let plants = by_subject("Water the plants");
    // 19:00 in Berlin (UTC+1 in March) is 18:00 UTC.
    assert_eq!(plants.int("UtcDueDate"), Some(1_741_024_800));
    assert!(plants.get("Recurrence").is_some());
    let taxes = by_subject("File taxes");
    assert_eq!(taxes.int("Complete"), Some(1));
    assert_eq!(taxes.int("Importance"), Some(0));

    // A phone gets them as tasks.
    let got = pull_all(&mut phone(&server, "p", "14.1"), tasks);
    assert_eq!(got.len(), 3);
    let passport = data_where(&got, t::SUBJECT, "Renew passport");
    assert_eq!(
        passport.child_text(t::DUE_DATE).as_deref(),
        Some("2025-04-15T00:00:00.000Z")
    );
    assert_eq!(passport.child_text(t::REMINDER_SET).as_deref(), Some("1"));

    // Export, import the export for another user, export again: the same text.
    let first = server.export_round_trip(ALICE, "Tasks", "bob@example.com");
    for line in [
        "UID:reminders-1@example.org",
        "DUE;VALUE=DATE:20250415",
        "CATEGORIES:Family,Papers",
        "CLASS:PRIVATE",
        "PRIORITY:1",
        "DESCRIPTION:Photos first\\, then the form",
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        "STATUS:COMPLETED",
        "COMPLETED:20250227T101500Z",
        "TRIGGER;VALUE=DATE-TIME:20250414T000000Z",
    ] {
        assert!(first.contains(&format!("{line}\r\n")), "{line} in {first}");
    }
    assert_eq!(first.matches("BEGIN:VTODO").count(), 3);
}

#[test]
fn vtimezones_with_unknown_names_use_their_own_rules() {
    let (server, store, user) = start();
    let out = server.easd(&[
        "import",
        ALICE,
        fixture("vtimezone-custom.ics").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("imported 3 events"), "{stderr}");

    let calendar = folder(&store, user, FolderType::Calendar);
    let got = pull_all(&mut phone(&server, "p", "16.1"), calendar);
    assert_eq!(got.len(), 3);
    let event = |uid: &str| data_where(&got, cal::UID, uid);
    // 09:00 Office Time on 3 March 2025 is still standard time (UTC-5).
    let weekly = event("custom-weekly@example.org");
    assert_eq!(
        weekly.child_text(cal::START_TIME).as_deref(),
        Some("20250303T140000Z")
    );
    // The event keeps the file's rules: the second Monday, after the change to daylight time
    // on 9 March, is 09:00 local = 13:00 UTC.
    use base64::Engine;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(weekly.child_text(cal::TIMEZONE).unwrap())
        .unwrap();
    let info = TimeZoneInfo::from_blob(&blob).unwrap();
    assert_eq!((info.bias, info.daylight_bias), (300, -60));
    assert_eq!((info.daylight_date.month, info.daylight_date.week), (3, 2));
    assert_eq!((info.standard_date.month, info.standard_date.week), (11, 1));
    let zone = EventZone::from_blob(&blob);
    let second = chrono::NaiveDate::from_ymd_opt(2025, 3, 10)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    assert_eq!(zone.to_utc(second), 1_741_611_600);

    // A Windows name resolves through CLDR: 09:00 New York in July is 13:00 UTC.
    assert_eq!(
        event("outlook-1@example.org")
            .child_text(cal::START_TIME)
            .as_deref(),
        Some("20250701T130000Z")
    );
    // A fixed +05:30 zone: 03:30 UTC.
    assert_eq!(
        event("island-1@example.org")
            .child_text(cal::START_TIME)
            .as_deref(),
        Some("20250701T033000Z")
    );

    // The export writes the custom zone with its rules, and reads back the same.
    let first = server.export_round_trip(ALICE, "Calendar", "bob@example.com");
    assert!(first.contains("TZID:Office Time\r\n"), "{first}");
    assert!(
        first.contains("DTSTART;TZID=Office Time:20250303T090000\r\n"),
        "{first}"
    );
    assert!(
        first.contains("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"),
        "{first}"
    );
}
