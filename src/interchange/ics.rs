//! iCalendar (RFC 5545) written from stored records: events (VEVENT with RRULE, EXDATE and
//! a VEVENT per changed occurrence, a VTIMEZONE per zone the events use, from their own
//! TimeZone rules) and tasks (VTODO). `easd export` writes folders with it and the
//! groupware-as-mail view attaches one item's text. Lines are CRLF-terminated and folded at
//! 75 octets, properties in a fixed order, so that export → import → export gives the same
//! text.

use std::collections::BTreeMap;

use crate::calendar::ical_text::{escaped, line, partstat, rrule, utc, vtimezone, when, zone_of};
use crate::calendar::tz::TimeZoneInfo;
use crate::store::{Property, PropertyRecord};

fn write_event(out: &mut String, record: &PropertyRecord) {
    let zone = zone_of(record);
    let zone = zone.as_ref();
    let all_day = record.int("AllDayEvent") == Some(1);
    let start = record.int("StartTime").unwrap_or(0);
    let end = record.int("EndTime").unwrap_or(start);
    let uid = record.text("UID").unwrap_or_default();
    let text = |out: &mut String, name: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            line(out, &format!("{name}:{}", escaped(value)));
        }
    };
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}", escaped(uid)));
    line(
        out,
        &format!("DTSTAMP:{}", utc(record.int("DtStamp").unwrap_or(start))),
    );
    line(out, &when("DTSTART", start, all_day, zone));
    line(out, &when("DTEND", end, all_day, zone));
    text(out, "SUMMARY", record.text("Subject"));
    let location = match record.get("Location") {
        Some(Property::Group(group)) => group.text("DisplayName"),
        _ => record.text("Location"),
    };
    text(out, "LOCATION", location);
    if let Some(Property::Group(body)) = record.get("Body") {
        let data = body.text("Data").unwrap_or_default();
        let plain = if body.int("Type") == Some(2) {
            crate::mime::html_to_text(data)
        } else {
            data.to_string()
        };
        text(out, "DESCRIPTION", Some(&plain));
    }
    if let Some(Property::List(categories)) = record.get("Categories") {
        let list: Vec<String> = categories.iter().map(|c| escaped(c)).collect();
        line(out, &format!("CATEGORIES:{}", list.join(",")));
    }
    if record.int("BusyStatus") == Some(0) {
        line(out, "TRANSP:TRANSPARENT");
    }
    if matches!(record.int("MeetingStatus"), Some(5 | 7)) {
        line(out, "STATUS:CANCELLED");
    }
    if let Some(email) = record.text("OrganizerEmail") {
        let cn = record
            .text("OrganizerName")
            .map(|n| format!(";CN=\"{}\"", n.replace('"', "")))
            .unwrap_or_default();
        line(out, &format!("ORGANIZER{cn}:mailto:{email}"));
    }
    if let Some(Property::Groups(attendees)) = record.get("Attendees") {
        for attendee in attendees {
            let Some(email) = attendee.text("Email") else {
                continue;
            };
            let cn = attendee
                .text("Name")
                .map(|n| format!(";CN=\"{}\"", n.replace('"', "")))
                .unwrap_or_default();
            let role = match attendee.int("AttendeeType") {
                Some(2) => "OPT-PARTICIPANT",
                Some(3) => "NON-PARTICIPANT",
                _ => "REQ-PARTICIPANT",
            };
            line(
                out,
                &format!(
                    "ATTENDEE{cn};ROLE={role};PARTSTAT={}:mailto:{email}",
                    partstat(attendee.int("AttendeeStatus"))
                ),
            );
        }
    }
    let exceptions = match record.get("Exceptions") {
        Some(Property::Groups(list)) => list.as_slice(),
        _ => &[],
    };
    if let Some(Property::Group(recurrence)) = record.get("Recurrence") {
        if let Some(rule) = rrule(recurrence) {
            line(out, &format!("RRULE:{rule}"));
        }
        for exception in exceptions.iter().filter(|e| e.int("Deleted") == Some(1)) {
            if let Some(at) = exception.int("ExceptionStartTime") {
                line(out, &when("EXDATE", at, all_day, zone));
            }
        }
    }
    line(out, "END:VEVENT");
    // Changed occurrences: their own VEVENT with the series' UID and a RECURRENCE-ID.
    for exception in exceptions.iter().filter(|e| e.int("Deleted") != Some(1)) {
        let Some(at) = exception.int("ExceptionStartTime") else {
            continue;
        };
        let start = exception.int("StartTime").unwrap_or(at);
        let end = exception
            .int("EndTime")
            .unwrap_or(start + (end - record.int("StartTime").unwrap_or(end)));
        line(out, "BEGIN:VEVENT");
        line(out, &format!("UID:{}", escaped(uid)));
        line(
            out,
            &format!("DTSTAMP:{}", utc(record.int("DtStamp").unwrap_or(at))),
        );
        line(out, &when("RECURRENCE-ID", at, all_day, zone));
        line(out, &when("DTSTART", start, all_day, zone));
        line(out, &when("DTEND", end, all_day, zone));
        text(
            out,
            "SUMMARY",
            exception.text("Subject").or(record.text("Subject")),
        );
        text(out, "LOCATION", exception.text("Location"));
        line(out, "END:VEVENT");
    }
}

/// The iCalendar text of a calendar's events.
pub fn calendar_text<'a>(records: impl Iterator<Item = &'a PropertyRecord> + Clone) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//easd//calendar export//EN");
    let mut zones: BTreeMap<String, TimeZoneInfo> = BTreeMap::new();
    for record in records.clone() {
        if let Some(zone) = zone_of(record) {
            zones.entry(zone.tzid).or_insert(zone.info);
        }
    }
    for (tzid, info) in &zones {
        vtimezone(&mut out, tzid, info);
    }
    for record in records {
        write_event(&mut out, record);
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// A DATE when the task's local time is midnight (a task due on a day), else UTC.
fn task_when(out: &mut String, name: &str, local: Option<i64>, utc_time: Option<i64>) {
    let (Some(local), utc_time) = (local.or(utc_time), utc_time.or(local)) else {
        return;
    };
    if local.rem_euclid(86_400) == 0 {
        line(out, &format!("{name};VALUE=DATE:{}", &utc(local)[..8]));
    } else if let Some(at) = utc_time {
        line(out, &format!("{name}:{}", utc(at)));
    }
}

/// The task's UID: the one it was imported with, else one made from its id.
pub fn task_uid(id: i64, record: &PropertyRecord) -> String {
    record
        .text("UID")
        .map(str::to_string)
        .unwrap_or_else(|| format!("easd-task-{id}"))
}

fn write_todo(out: &mut String, id: i64, record: &PropertyRecord) {
    let text = |out: &mut String, name: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            line(out, &format!("{name}:{}", escaped(value)));
        }
    };
    line(out, "BEGIN:VTODO");
    line(out, &format!("UID:{}", escaped(&task_uid(id, record))));
    text(out, "SUMMARY", record.text("Subject"));
    if let Some(Property::Group(body)) = record.get("Body") {
        let data = body.text("Data").unwrap_or_default();
        let plain = if body.int("Type") == Some(2) {
            crate::mime::html_to_text(data)
        } else {
            data.to_string()
        };
        text(out, "DESCRIPTION", Some(&plain));
    }
    task_when(
        out,
        "DTSTART",
        record.int("StartDate"),
        record.int("UtcStartDate"),
    );
    task_when(out, "DUE", record.int("DueDate"), record.int("UtcDueDate"));
    if record.int("Complete") == Some(1) {
        line(out, "STATUS:COMPLETED");
        if let Some(done) = record.int("DateCompleted") {
            line(out, &format!("COMPLETED:{}", utc(done)));
        }
    } else {
        line(out, "STATUS:NEEDS-ACTION");
    }
    // MS-ASTASK Importance 2 high, 1 normal, 0 low; iCalendar PRIORITY 1, 5, 9.
    if let Some(importance) = record.int("Importance") {
        let priority = match importance {
            2 => 1,
            0 => 9,
            _ => 5,
        };
        line(out, &format!("PRIORITY:{priority}"));
    }
    match record.int("Sensitivity") {
        Some(2) => line(out, "CLASS:PRIVATE"),
        Some(3) => line(out, "CLASS:CONFIDENTIAL"),
        _ => {}
    }
    if let Some(Property::List(categories)) = record.get("Categories") {
        let list: Vec<String> = categories.iter().map(|c| escaped(c)).collect();
        line(out, &format!("CATEGORIES:{}", list.join(",")));
    }
    if let Some(Property::Group(recurrence)) = record.get("Recurrence") {
        if let Some(rule) = rrule(recurrence) {
            line(out, &format!("RRULE:{rule}"));
        }
    }
    if record.int("ReminderSet") == Some(1) {
        if let Some(at) = record.int("ReminderTime") {
            line(out, "BEGIN:VALARM");
            line(out, "ACTION:DISPLAY");
            text(
                out,
                "DESCRIPTION",
                record.text("Subject").or(Some("Reminder")),
            );
            line(out, &format!("TRIGGER;VALUE=DATE-TIME:{}", utc(at)));
            line(out, "END:VALARM");
        }
    }
    line(out, "END:VTODO");
}

/// The iCalendar text of tasks (item id and record each).
pub fn tasks_text<'a>(records: impl Iterator<Item = (i64, &'a PropertyRecord)>) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//easd//tasks export//EN");
    for (id, record) in records {
        write_todo(&mut out, id, record);
    }
    line(&mut out, "END:VCALENDAR");
    out
}
