//! `easd import EMAIL FILE.ics` and `easd export EMAIL --folder Calendar`: events in and out
//! as iCalendar (RFC 5545). Import reads the file with the `icalendar` crate's parser
//! (`crate::calendar::itip::read_file`): VEVENTs (RRULE, EXDATE, RECURRENCE-ID occurrences
//! folded into their series as exceptions, TZIDs as IANA or Windows names) go into the
//! calendar (default `Calendar`; a missing one is created, type 13) and VTODOs into Tasks,
//! each folder in one transaction. Components that cannot be read are reported on stderr and
//! skipped (exit 65 then). Export writes one VCALENDAR: a VTIMEZONE per zone used (from the
//! events' own TimeZone rules), and per event a VEVENT with RRULE, EXDATE and a VEVENT per
//! changed occurrence (RECURRENCE-ID). Exporting what was imported and importing it again
//! gives the same file.

use std::collections::BTreeMap;
use std::io::Write;

use super::exit;
use crate::calendar::itip::{self, Todo};
use crate::calendar::tz::{EventZone, TimeZoneInfo, Transition};
use crate::config::Config;
use crate::store::{
    Folder, FolderType, ItemClass, NewRecordItem, Property, PropertyRecord, Store, User,
};

/// Whether `path` holds iCalendar: its name ends in .ics/.ical or its text starts with
/// BEGIN:VCALENDAR.
pub fn is_icalendar(path: &std::path::Path) -> bool {
    super::file_of_kind(path, &["ics", "ical"], "BEGIN:VCALENDAR")
}

fn folder_or_create(
    store: &Store,
    user: &User,
    class: ItemClass,
    name: &str,
    kind: FolderType,
) -> Result<Folder, String> {
    match super::class_folder(store, user.id, class, name)? {
        Some(folder) => Ok(folder),
        None => store
            .create_folder(user.id, None, name, kind)
            .map_err(|e| format!("cannot create the folder {name}: {e}")),
    }
}

fn task_record(todo: &Todo) -> PropertyRecord {
    let mut record = PropertyRecord::default();
    let text = |record: &mut PropertyRecord, name: &str, value: &str| {
        if !value.is_empty() {
            record.set(name, Property::Text(value.to_string()));
        }
    };
    text(&mut record, "Subject", &todo.summary);
    if !todo.description.is_empty() {
        let mut body = PropertyRecord::default();
        body.set("Type", Property::Int(1));
        body.set("Data", Property::Text(todo.description.clone()));
        record.set("Body", Property::Group(body));
    }
    for (name, value) in [
        ("StartDate", todo.start),
        ("UtcStartDate", todo.start),
        ("DueDate", todo.due),
        ("UtcDueDate", todo.due),
    ] {
        if let Some(value) = value {
            record.set(name, Property::Int(value));
        }
    }
    record.set(
        "Complete",
        Property::Int(i64::from(todo.completed.is_some())),
    );
    if let Some(done) = todo.completed {
        record.set("DateCompleted", Property::Int(done));
    }
    // iCalendar PRIORITY 1–4 high, 5 normal, 6–9 low; MS-ASTASK Importance 2, 1, 0.
    if let Some(priority) = todo.priority.filter(|p| *p > 0) {
        let importance = match priority {
            1..=4 => 2,
            5 => 1,
            _ => 0,
        };
        record.set("Importance", Property::Int(importance));
    }
    record
}

/// Imports the events and to-dos of `path` for `email`.
pub fn import(config: &Config, email: &str, path: &std::path::Path, folder: Option<&str>) -> i32 {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("easd: cannot read {}: {e}", path.display());
            return exit::IOERR;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let contents = match itip::read_file(text.trim_start_matches('\u{feff}')) {
        Ok(contents) => contents,
        Err(e) => {
            eprintln!("easd: {} is not iCalendar: {e}", path.display());
            return exit::DATAERR;
        }
    };
    let (store, user) = match super::open_user(config, email) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let mut bad = contents.bad.clone();
    // Series first, then the occurrences that change them.
    let mut series: BTreeMap<String, PropertyRecord> = BTreeMap::new();
    let mut order = Vec::new();
    for event in contents.events.iter().filter(|e| e.recurrence_id.is_none()) {
        if series.contains_key(&event.uid) {
            bad.push(format!(
                "VEVENT {}: a second event with this UID",
                event.uid
            ));
            continue;
        }
        order.push(event.uid.clone());
        series.insert(
            event.uid.clone(),
            crate::eas::meetings::imported_event(event, &user),
        );
    }
    for occurrence in contents.events.iter().filter(|e| e.recurrence_id.is_some()) {
        match series.get_mut(&occurrence.uid) {
            Some(record) if record.get("Recurrence").is_some() => {
                crate::eas::meetings::add_exception(record, occurrence)
            }
            _ => bad.push(format!(
                "VEVENT {}: RECURRENCE-ID of no recurring event in the file",
                occurrence.uid
            )),
        }
    }
    for reason in &bad {
        eprintln!("easd: {}: skipped {reason}", path.display());
    }
    let calendar = folder.unwrap_or("Calendar");
    let mut imported = (0, 0);
    if !order.is_empty() {
        let target = match folder_or_create(
            &store,
            &user,
            ItemClass::Calendar,
            calendar,
            FolderType::UserCalendar,
        ) {
            Ok(folder) => folder,
            Err(e) => {
                eprintln!("easd: {e}");
                return exit::CANTCREAT;
            }
        };
        let records: Vec<&PropertyRecord> =
            order.iter().filter_map(|uid| series.get(uid)).collect();
        let items: Vec<NewRecordItem> = records
            .iter()
            .map(|record| NewRecordItem {
                class: ItemClass::Calendar,
                sort_date: crate::eas::sync::calendar::last_end(record),
                record,
            })
            .collect();
        match store.add_record_items(user.id, target.id, &items) {
            Ok(ids) => imported.0 = ids.len(),
            Err(e) => {
                eprintln!("easd: no events imported: {e}");
                return exit::CANTCREAT;
            }
        }
    }
    if !contents.todos.is_empty() {
        let records: Vec<PropertyRecord> = contents.todos.iter().map(task_record).collect();
        let tasks = match super::class_folder(&store, user.id, ItemClass::Tasks, "Tasks") {
            Ok(Some(folder)) => folder,
            Ok(None) | Err(_) => {
                eprintln!("easd: {email} has no Tasks folder; to-dos not imported");
                return exit::CANTCREAT;
            }
        };
        let items: Vec<NewRecordItem> = records
            .iter()
            .map(|record| NewRecordItem {
                class: ItemClass::Tasks,
                sort_date: record
                    .int("Complete")
                    .filter(|c| *c != 0)
                    .map(|_| record.int("DateCompleted").unwrap_or(0)),
                record,
            })
            .collect();
        match store.add_record_items(user.id, tasks.id, &items) {
            Ok(ids) => imported.1 = ids.len(),
            Err(e) => {
                eprintln!("easd: no to-dos imported: {e}");
                return exit::CANTCREAT;
            }
        }
    }
    if imported != (0, 0) {
        crate::push::notify(config.notify, email);
    }
    eprintln!(
        "easd: imported {} events into {calendar} and {} to-dos into Tasks, skipped {} bad components",
        imported.0,
        imported.1,
        bad.len()
    );
    if bad.is_empty() {
        exit::OK
    } else {
        exit::DATAERR
    }
}

/// Writes the calendar folder `name` of `email` as iCalendar to standard output.
pub fn export(config: &Config, email: &str, name: &str) -> Option<i32> {
    let (store, user) = match super::open_user(config, email) {
        Ok(found) => found,
        Err(code) => return Some(code),
    };
    let folder = match super::class_folder(&store, user.id, ItemClass::Calendar, name) {
        Ok(Some(folder)) => folder,
        Ok(None) => return None,
        Err(e) => {
            eprintln!("easd: {e}");
            return Some(exit::SOFTWARE);
        }
    };
    let records = match store.folder_records(user.id, folder.id) {
        Ok(records) => records,
        Err(e) => {
            eprintln!("easd: {e}");
            return Some(exit::SOFTWARE);
        }
    };
    let text = calendar_text(records.iter().map(|(_, r)| r));
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return Some(exit::IOERR);
    }
    Some(exit::OK)
}

/// Escapes a TEXT value.
fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace('\n', "\\n")
}

/// Appends a content line folded at 75 octets.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

fn utc(unix: i64) -> String {
    crate::clock::eas_compact_datetime(unix)
}

fn local_text(t: chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn offset_text(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("{sign}{:02}{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

const DAYS: [&str; 7] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];

/// The TZID an event's blob is written under, and the blob's rules.
fn zone_of(record: &PropertyRecord) -> Option<(String, TimeZoneInfo, EventZone)> {
    let Some(Property::Bytes(blob)) = record.get("Timezone") else {
        return None;
    };
    let info = TimeZoneInfo::from_blob(blob)?;
    let zone = EventZone::from_blob(blob);
    let tzid = match &zone {
        EventZone::Iana(tz) if tz.is_utc() => return None,
        EventZone::Iana(tz) => tz.name().to_string(),
        EventZone::Rules(info) if info.standard_name.trim().is_empty() => "Custom".to_string(),
        EventZone::Rules(info) => info.standard_name.trim().to_string(),
    };
    Some((tzid, info, zone))
}

fn vtimezone(out: &mut String, tzid: &str, info: &TimeZoneInfo) {
    let standard = -(info.bias + info.standard_bias);
    let daylight = -(info.bias + info.daylight_bias);
    line(out, "BEGIN:VTIMEZONE");
    line(out, &format!("TZID:{}", escaped(tzid)));
    let part = |out: &mut String, kind: &str, from: i32, to: i32, rule: Option<&Transition>| {
        line(out, &format!("BEGIN:{kind}"));
        let (hour, minute) = rule.map_or((0, 0), |r| (r.hour, r.minute));
        line(out, &format!("DTSTART:16010101T{hour:02}{minute:02}00"));
        line(out, &format!("TZOFFSETFROM:{}", offset_text(from)));
        line(out, &format!("TZOFFSETTO:{}", offset_text(to)));
        if let Some(r) = rule {
            let week = if r.week >= 5 { -1 } else { i32::from(r.week) };
            let day = DAYS[usize::from(r.weekday % 7)];
            line(
                out,
                &format!("RRULE:FREQ=YEARLY;BYMONTH={};BYDAY={week}{day}", r.month),
            );
        }
        line(out, &format!("END:{kind}"));
    };
    if info.standard_date.month != 0 && info.daylight_date.month != 0 {
        part(
            out,
            "STANDARD",
            daylight,
            standard,
            Some(&info.standard_date),
        );
        part(
            out,
            "DAYLIGHT",
            standard,
            daylight,
            Some(&info.daylight_date),
        );
    } else {
        part(out, "STANDARD", standard, standard, None);
    }
    line(out, "END:VTIMEZONE");
}

/// The RRULE value of a stored Recurrence.
fn rrule(recurrence: &PropertyRecord) -> Option<String> {
    let int = |name: &str| recurrence.int(name);
    let kind = int("Type")?;
    let freq = match kind {
        0 => "DAILY",
        1 => "WEEKLY",
        2 | 3 => "MONTHLY",
        5 | 6 => "YEARLY",
        _ => return None,
    };
    let mut rule = format!("FREQ={freq}");
    if let Some(interval) = int("Interval").filter(|i| *i > 1) {
        rule.push_str(&format!(";INTERVAL={interval}"));
    }
    if let Some(count) = int("Occurrences") {
        rule.push_str(&format!(";COUNT={count}"));
    }
    if let Some(until) = int("Until") {
        rule.push_str(&format!(";UNTIL={}", utc(until)));
    }
    if let Some(days) = int("DayOfWeek").filter(|d| *d != 0) {
        let list: Vec<&str> = (0..7)
            .filter(|d| days & (1 << d) != 0)
            .map(|d| DAYS[d])
            .collect();
        rule.push_str(&format!(";BYDAY={}", list.join(",")));
    }
    if matches!(kind, 5 | 6) {
        if let Some(month) = int("MonthOfYear") {
            rule.push_str(&format!(";BYMONTH={month}"));
        }
    }
    if matches!(kind, 2 | 5) {
        if let Some(day) = int("DayOfMonth") {
            rule.push_str(&format!(";BYMONTHDAY={day}"));
        }
    }
    if matches!(kind, 3 | 6) {
        let week = int("WeekOfMonth").unwrap_or(1);
        rule.push_str(&format!(";BYSETPOS={}", if week >= 5 { -1 } else { week }));
    }
    if let Some(first) = int("FirstDayOfWeek") {
        rule.push_str(&format!(";WKST={}", DAYS[(first.rem_euclid(7)) as usize]));
    }
    Some(rule)
}

fn partstat(status: Option<i64>) -> &'static str {
    match status {
        Some(3) => "ACCEPTED",
        Some(2) => "TENTATIVE",
        Some(4) => "DECLINED",
        _ => "NEEDS-ACTION",
    }
}

/// A date-time property in the event's zone (or UTC), or a DATE for all-day events.
fn when(
    name: &str,
    unix: i64,
    all_day: bool,
    zone: Option<&(String, TimeZoneInfo, EventZone)>,
) -> String {
    match zone {
        _ if all_day => {
            let date = match zone {
                Some((_, _, z)) => z.to_local(unix),
                None => chrono::DateTime::from_timestamp(unix, 0)
                    .unwrap_or_default()
                    .naive_utc(),
            };
            format!("{name};VALUE=DATE:{}", &local_text(date)[..8])
        }
        Some((tzid, _, z)) => format!("{name};TZID={}:{}", tzid, local_text(z.to_local(unix))),
        None => format!("{name}:{}", utc(unix)),
    }
}

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
        if let Some((tzid, info, _)) = zone_of(record) {
            zones.entry(tzid).or_insert(info);
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
