//! `easd import EMAIL FILE.ics` and `easd export EMAIL --folder Calendar`: events in and out
//! as iCalendar (RFC 5545). Import reads the file with the `icalendar` crate's parser
//! (`crate::calendar::itip::read_file`): VEVENTs (RRULE, EXDATE, RECURRENCE-ID occurrences
//! folded into their series as exceptions, TZIDs as IANA or Windows names) go into the
//! calendar (default `Calendar`; a missing one is created, type 13) and VTODOs into Tasks,
//! each folder in one transaction. Components that cannot be read are reported on stderr and
//! skipped (exit 65 then). A TZID that is neither an IANA nor a Windows name takes the rules
//! of the file's VTIMEZONE of that name. Export (`crate::interchange::ics`) writes one
//! VCALENDAR: for a calendar a VTIMEZONE per zone used (from the events' own TimeZone rules),
//! and per event a VEVENT with RRULE, EXDATE and a VEVENT per changed occurrence
//! (RECURRENCE-ID); for a task folder a VTODO per task (UID, dates, status, priority, class,
//! categories, RRULE, reminder). Exporting what was imported and importing it again gives
//! the same file.

use std::collections::BTreeMap;
use std::io::Write;

use super::exit;
use crate::calendar::itip::{self, Todo};
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

/// A to-do as a task record. A DATE due (or start) is the task's day: local and UTC date
/// at midnight, as phones write a task due on a day; a DATE-TIME is that instant for both.
/// The UID is kept (tasks have none on the wire), so an export writes it back.
fn task_record(todo: &Todo) -> PropertyRecord {
    let mut record = PropertyRecord::default();
    let text = |record: &mut PropertyRecord, name: &str, value: &str| {
        if !value.is_empty() {
            record.set(name, Property::Text(value.to_string()));
        }
    };
    text(&mut record, "UID", &todo.uid);
    text(&mut record, "Subject", &todo.summary);
    if !todo.description.is_empty() {
        let mut body = PropertyRecord::default();
        body.set("Type", Property::Int(1));
        body.set("Data", Property::Text(todo.description.clone()));
        record.set("Body", Property::Group(body));
    }
    for (local, utc, value) in [
        ("StartDate", "UtcStartDate", todo.start),
        ("DueDate", "UtcDueDate", todo.due),
    ] {
        if let Some((at, _)) = value {
            record.set(local, Property::Int(at));
            record.set(utc, Property::Int(at));
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
    let sensitivity = match todo.class.as_str() {
        "PRIVATE" => Some(2),
        "CONFIDENTIAL" => Some(3),
        _ => None,
    };
    if let Some(sensitivity) = sensitivity {
        record.set("Sensitivity", Property::Int(sensitivity));
    }
    if !todo.categories.is_empty() {
        record.set("Categories", Property::List(todo.categories.clone()));
    }
    if let Some(mut recurrence) = todo
        .rule
        .as_ref()
        .and_then(crate::eas::meetings::recurrence_record)
    {
        // A task's recurrence starts on its start (else due) day.
        if let Some((at, _)) = todo.start.or(todo.due) {
            recurrence.set("Start", Property::Int(at));
        }
        record.set("Recurrence", Property::Group(recurrence));
    }
    if let Some(at) = todo.reminder {
        record.set("ReminderSet", Property::Int(1));
        record.set("ReminderTime", Property::Int(at));
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
        let mut record = crate::eas::meetings::imported_event(event, &user);
        // A TZID that names no known zone: the event keeps its VTIMEZONE's rules, so its
        // occurrences follow that zone's daylight saving changes.
        if let Some(rules) = &event.rules {
            record.set("Timezone", Property::Bytes(rules.to_blob()));
        }
        series.insert(event.uid.clone(), record);
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
    // A calendar of that name, else a task folder of that name (to-dos).
    let mut found = None;
    for class in [ItemClass::Calendar, ItemClass::Tasks] {
        match super::class_folder(&store, user.id, class, name) {
            Ok(Some(folder)) => {
                found = Some((folder, class));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("easd: {e}");
                return Some(exit::SOFTWARE);
            }
        }
    }
    let (folder, class) = found?;
    let records = match store.folder_records(user.id, folder.id) {
        Ok(records) => records,
        Err(e) => {
            eprintln!("easd: {e}");
            return Some(exit::SOFTWARE);
        }
    };
    let text = if class == ItemClass::Tasks {
        crate::interchange::ics::tasks_text(records.iter().map(|(id, r)| (*id, r)))
    } else {
        crate::interchange::ics::calendar_text(records.iter().map(|(_, r)| r))
    };
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
