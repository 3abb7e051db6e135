//! `easd import EMAIL FILE.ics` and `easd export EMAIL --folder Calendar`: a file with a
//! zoned weekly series, an EXDATE, a moved occurrence (RECURRENCE-ID), an all-day event, a
//! to-do and two bad components imports (bad ones reported and skipped, exit 65); the events
//! reach a phone; the export round-trips to the same text.

mod class_sync;
mod common;

use class_sync::*;
use easd::store::FolderType;
use easd::wbxml::tag::calendar as cal;

const ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n\
BEGIN:VTIMEZONE\r\nTZID:/freeassociation.sourceforge.net/Europe/Berlin\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20250303T090000\r\n\
DTEND;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20250303T093000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250630T000000Z\r\n\
EXDATE;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20250310T090000\r\n\
SUMMARY:Standup\\, team\r\nLOCATION:Room 2\r\nDESCRIPTION:Line one\\nLine two\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20250101T000000Z\r\n\
RECURRENCE-ID;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20250407T090000\r\n\
DTSTART;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20250407T110000\r\n\
DTEND;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20250407T113000\r\n\
SUMMARY:Standup (late)\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:holiday-1\r\nDTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:20251225\r\n\
DTEND;VALUE=DATE:20251226\r\nSUMMARY:Christmas\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nSUMMARY:No start, no uid\r\nEND:VEVENT\r\n\
BEGIN:VJOURNAL\r\nUID:j1\r\nSUMMARY:Diary\r\nEND:VJOURNAL\r\n\
BEGIN:VTODO\r\nUID:todo-1\r\nSUMMARY:Buy milk\r\nDUE:20250305T170000Z\r\nPRIORITY:1\r\nEND:VTODO\r\n\
END:VCALENDAR\r\n";

#[test]
fn an_ics_file_imports_reaches_a_phone_and_exports_stably() {
    let (server, store, user) = start();
    let file = server.dir.join("family.ics");
    std::fs::write(&file, ICS).unwrap();
    let out = server.easd(&["import", ALICE, file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.contains("imported 2 events into Calendar and 1 to-dos"),
        "{stderr}"
    );
    assert!(stderr.contains("No start, no uid"), "{stderr}");
    assert!(stderr.contains("VJOURNAL"), "{stderr}");

    // A phone sees the series at 09:00 Berlin time (08:00 UTC in March), its exceptions, and
    // the all-day event.
    let calendar = folder(&store, user, FolderType::Calendar);
    let got = pull_all(&mut phone(&server, "p", "14.1"), calendar);
    assert_eq!(got.len(), 2);
    let series = data_where(&got, cal::UID, "series-1");
    assert_eq!(
        series.child_text(cal::SUBJECT).as_deref(),
        Some("Standup, team")
    );
    assert_eq!(
        series.child_text(cal::START_TIME).as_deref(),
        Some("20250303T080000Z")
    );
    let exceptions = series.child(cal::EXCEPTIONS).unwrap();
    assert_eq!(exceptions.children_with(cal::EXCEPTION).count(), 2);
    let tasks = folder(&store, user, FolderType::Tasks);
    let todos = store.folder_records(user, tasks).unwrap();
    assert_eq!(todos.len(), 1);
    assert_eq!(todos[0].1.text("Subject"), Some("Buy milk"));
    assert_eq!(todos[0].1.int("Importance"), Some(2));

    // Export, import the export for another user, export again: the same text.
    let first = server.export_round_trip(ALICE, "Calendar", "bob@example.com");
    assert!(
        first.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin"),
        "{first}"
    );
    assert!(
        first.contains("RRULE:FREQ=WEEKLY;UNTIL=20250630T000000Z;BYDAY=MO"),
        "{first}"
    );
    assert!(
        first.contains("EXDATE;TZID=Europe/Berlin:20250310T090000"),
        "{first}"
    );
    assert!(
        first.contains("RECURRENCE-ID;TZID=Europe/Berlin:20250407T090000"),
        "{first}"
    );
    assert!(first.contains("DTSTART;VALUE=DATE:20251225"), "{first}");
}
