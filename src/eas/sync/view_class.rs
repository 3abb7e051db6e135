//! The adapters of folder views (`crate::eas::views`): items of one class read as items of
//! another, read-only. [`ViewClass`] is one adapter for every view; what differs is data —
//! the source class, the class presented and the conversion.
//!
//! Conversions (from the neutral stored records, so every protocol version gets what its
//! field table allows):
//!
//! - **Task → event**: a due date at midnight (the task's local DueDate) is an all-day event
//!   on that day; a due time is a 30-minute event starting then; a task without a due date
//!   uses its start date the same way, and one with neither is not shown. Completed tasks
//!   show with "✓ " before the subject (the `incomplete` view leaves them out: its window
//!   keeps undated items only, and a completed task is dated by its completion). Subject,
//!   body, categories, sensitivity and the reminder carry over; every such event is free
//!   time (BusyStatus 0). A task's recurrence is not expanded: the event is its current
//!   occurrence.
//! - **Note → event**: an all-day event on the day the note last changed, with its subject,
//!   body and categories.
//! - **Any class → mail**: a readable message: the subject is the item's title (a contact's
//!   name, an event's or task's subject), the body lists every property of the source class
//!   by its field table, the sender is the item's first category (the reference guide's
//!   "category recorded as the sender") at the user's address, and the message is read. It
//!   carries the item in its native format as an attachment ([`native_file`]: a vCard, an
//!   iCalendar object, a note's text), fetched by ItemOperations or GetAttachment through
//!   the reference `item:native`.
//!
//! Writes: a Change of a task's event is written back to the task where the mapping is clear
//! ([`event_to_task`]: subject, body, categories, sensitivity, due date from the event's
//! start, reminder), and the phone gets the event as the view now shows it. Everything else
//! is refused (`ClassAdapter::refuses`: Adds and Deletes in every view, Changes in note and
//! mail views): the Sync command answers without changing anything and sends the item back
//! as the server has it.

use super::class::{
    adapter_for, BodyValue, ClassAdapter, Field, FieldKind, ItemStatus, ReadContext, Record, Value,
};
use super::data_class::DataClass;
use crate::eas::ProtocolVersion;
use crate::store::{ClientAdd, FolderId, ItemClass, ItemId, Property, PropertyRecord, StoreError};
use crate::wbxml::tag::{airsync, airsyncbase, calendar, email, notes, tasks};
use crate::wbxml::{Element, Tag};

/// How the items are presented.
pub enum Presented {
    /// As calendar events: the conversion makes a calendar record.
    Events(fn(ItemId, &PropertyRecord) -> Option<PropertyRecord>),
    /// As mail: a readable message whose title is the first of these properties that is set.
    Mail { title: &'static [&'static str] },
}

/// One view's adapter.
pub struct ViewClass {
    pub source: ItemClass,
    pub presented: Presented,
    /// Only undated source items (incomplete tasks): the window ends after every date.
    pub undated_only: bool,
    /// How a client's Change of a presented item is written back to the source record
    /// (`None`: the view is read-only). It gets the client's values as a record of the
    /// presented class and may refuse with a status.
    pub write_back: Option<WriteBack>,
}

/// Writes a client's Change back to the source record.
pub type WriteBack = fn(&PropertyRecord, &mut PropertyRecord) -> Result<(), ItemStatus>;

pub static TASKS_AS_EVENTS: ViewClass = ViewClass {
    source: ItemClass::Tasks,
    presented: Presented::Events(task_event),
    undated_only: false,
    write_back: Some(event_to_task),
};

pub static OPEN_TASKS_AS_EVENTS: ViewClass = ViewClass {
    source: ItemClass::Tasks,
    presented: Presented::Events(task_event),
    undated_only: true,
    write_back: Some(event_to_task),
};

pub static NOTES_AS_EVENTS: ViewClass = ViewClass {
    source: ItemClass::Notes,
    presented: Presented::Events(note_event),
    undated_only: false,
    write_back: None,
};

pub static CONTACTS_AS_MAIL: ViewClass = ViewClass {
    source: ItemClass::Contacts,
    presented: Presented::Mail {
        title: &[
            "FileAs",
            "CompanyName",
            "Email1Address",
            "MobilePhoneNumber",
        ],
    },
    undated_only: false,
    write_back: None,
};

pub static EVENTS_AS_MAIL: ViewClass = ViewClass {
    source: ItemClass::Calendar,
    presented: Presented::Mail {
        title: &["Subject", "Location"],
    },
    undated_only: false,
    write_back: None,
};

pub static TASKS_AS_MAIL: ViewClass = ViewClass {
    source: ItemClass::Tasks,
    presented: Presented::Mail {
        title: &["Subject"],
    },
    undated_only: false,
    write_back: None,
};

pub static NOTES_AS_MAIL: ViewClass = ViewClass {
    source: ItemClass::Notes,
    presented: Presented::Mail {
        title: &["Subject"],
    },
    undated_only: false,
    write_back: None,
};

const DAY: i64 = 86_400;

fn name(tag: Tag) -> &'static str {
    tag.name()
}

/// The property class of a source adapter (views convert property records).
fn source_class(class: ItemClass) -> Option<&'static DataClass> {
    match class {
        ItemClass::Tasks => Some(&super::tasks::TASKS),
        ItemClass::Notes => Some(&super::notes::NOTES),
        ItemClass::Contacts => Some(&super::contacts::CONTACTS),
        ItemClass::Calendar => Some(&super::calendar::EVENTS),
        ItemClass::Email => None,
    }
}

/// The calendar class (what event views present).
fn calendar_class() -> &'static DataClass {
    &super::calendar::EVENTS
}

/// The parts of an event every view makes: subject, body, categories, free time, UTC zone.
fn event_base(id: ItemId, kind: &str, source: &PropertyRecord) -> PropertyRecord {
    let mut event = PropertyRecord::default();
    for field in ["Subject", "Body", "Categories", "Sensitivity"] {
        if let Some(value) = source.get(field) {
            event.set(field, value.clone());
        }
    }
    event.set(
        name(calendar::TIMEZONE),
        Property::Bytes(crate::calendar::tz::TimeZoneInfo::default().to_blob()),
    );
    event.set(name(calendar::BUSY_STATUS), Property::Int(0));
    event.set(name(calendar::MEETING_STATUS), Property::Int(0));
    event.set(
        name(calendar::UID),
        Property::Text(format!("easd-{kind}-{id}")),
    );
    event
}

/// Sets the event's times: an all-day event on `day`'s date, or 30 minutes from `at`.
fn set_times(event: &mut PropertyRecord, local: i64, utc: i64) {
    let (start, end, all_day) = if local.rem_euclid(DAY) == 0 {
        (local, local + DAY, true)
    } else {
        (utc, utc + 30 * 60, false)
    };
    event.set(name(calendar::START_TIME), Property::Int(start));
    event.set(name(calendar::END_TIME), Property::Int(end));
    event.set(
        name(calendar::ALL_DAY_EVENT),
        Property::Int(i64::from(all_day)),
    );
    event.set(name(calendar::DT_STAMP), Property::Int(start));
}

/// A task as an event (see the module comment); `None` for a task without dates.
pub fn task_event(id: ItemId, task: &PropertyRecord) -> Option<PropertyRecord> {
    let date = |local: Tag, utc: Tag| {
        let local_value = task.int(name(local));
        let utc_value = task.int(name(utc));
        Some((local_value.or(utc_value)?, utc_value.or(local_value)?))
    };
    let (local, utc) = date(tasks::DUE_DATE, tasks::UTC_DUE_DATE)
        .or_else(|| date(tasks::START_DATE, tasks::UTC_START_DATE))?;
    let mut event = event_base(id, "task", task);
    set_times(&mut event, local, utc);
    if task.int(name(tasks::COMPLETE)).unwrap_or(0) != 0 {
        let subject = task.text(name(tasks::SUBJECT)).unwrap_or_default();
        event.set(
            name(calendar::SUBJECT),
            Property::Text(format!("✓ {subject}")),
        );
    }
    if task.int(name(tasks::REMINDER_SET)).unwrap_or(0) != 0 {
        if let (Some(remind), Some(start)) = (
            task.int(name(tasks::REMINDER_TIME)),
            event.int(name(calendar::START_TIME)),
        ) {
            let minutes = ((start - remind) / 60).max(0);
            event.set(name(calendar::REMINDER), Property::Int(minutes));
        }
    }
    Some(event)
}

/// A client's edit of a task's event written back to the task, where the mapping is clear:
/// the subject (without the "✓ " the view adds), body, categories and sensitivity as sent;
/// the event's start is the new due date (an all-day event's day, in the zone the phone
/// sent, is a task due that day; a timed event's start is the due time); its reminder the
/// task's reminder. Completion, start date and recurrence are the task's own and stay.
pub fn event_to_task(event: &PropertyRecord, task: &mut PropertyRecord) -> Result<(), ItemStatus> {
    let subject = event.text(name(calendar::SUBJECT)).unwrap_or_default();
    let subject = subject.strip_prefix("✓ ").unwrap_or(subject).trim();
    if subject.is_empty() {
        task.remove(name(tasks::SUBJECT));
    } else {
        task.set(name(tasks::SUBJECT), Property::Text(subject.to_string()));
    }
    for field in ["Categories", "Sensitivity"] {
        match event.get(field) {
            Some(value) => task.set(field, value.clone()),
            None => {
                task.remove(field);
            }
        }
    }
    // Phones leave out bodies they hold truncated: a body is changed only when sent.
    if let Some(body) = event.get("Body") {
        task.set("Body", body.clone());
    }
    let Some(start) = event.int(name(calendar::START_TIME)) else {
        return Err(ItemStatus::ConversionError);
    };
    let zone = match event.get(name(calendar::TIMEZONE)) {
        Some(Property::Bytes(blob)) => crate::calendar::tz::EventZone::from_blob(blob),
        _ => crate::calendar::tz::EventZone::Iana(crate::calendar::tz::IanaZone::utc()),
    };
    let local = zone.to_local(start).and_utc().timestamp();
    let all_day = event.int(name(calendar::ALL_DAY_EVENT)) == Some(1);
    // The local due date is the day (or time) on the phone's clock; the UTC one the instant.
    let due_local = if all_day {
        local - local.rem_euclid(DAY)
    } else {
        local
    };
    let due_utc = start;
    task.set(name(tasks::DUE_DATE), Property::Int(due_local));
    task.set(name(tasks::UTC_DUE_DATE), Property::Int(due_utc));
    match event.int(name(calendar::REMINDER)) {
        Some(minutes) => {
            task.set(name(tasks::REMINDER_SET), Property::Int(1));
            task.set(
                name(tasks::REMINDER_TIME),
                Property::Int(due_utc - minutes.max(0) * 60),
            );
        }
        None => {
            task.set(name(tasks::REMINDER_SET), Property::Int(0));
            task.remove(name(tasks::REMINDER_TIME));
        }
    }
    Ok(())
}

/// A note as an all-day event on the day it last changed.
pub fn note_event(id: ItemId, note: &PropertyRecord) -> Option<PropertyRecord> {
    let changed = note.int(name(notes::LAST_MODIFIED_DATE))?;
    let mut event = event_base(id, "note", note);
    let day = changed - changed.rem_euclid(DAY);
    set_times(&mut event, day, day);
    Some(event)
}

/// `FirstName` → "First name", `Email1Address` → "Email1 address".
fn label(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A property's value as a person reads it (`None`: nothing readable, e.g. a picture).
fn readable(field: &Field, property: &Property) -> Option<String> {
    Some(match (field.kind, property) {
        (FieldKind::Date | FieldKind::CompactDate, Property::Int(n)) => {
            format!("{} UTC", crate::clock::iso_date(*n))
        }
        (FieldKind::Bool, Property::Int(n)) => (if *n != 0 { "yes" } else { "no" }).to_string(),
        (_, Property::Text(text)) => text.clone(),
        (_, Property::Int(n)) => n.to_string(),
        (_, Property::List(texts)) => texts.join(", "),
        (FieldKind::Group(inner), Property::Group(group)) => {
            let parts: Vec<String> = inner
                .iter()
                .filter_map(|f| {
                    let value = readable(f, group.get(f.stored_name())?)?;
                    Some(format!("{} {value}", label(f.stored_name()).to_lowercase()))
                })
                .collect();
            if parts.is_empty() {
                return None;
            }
            parts.join(", ")
        }
        (FieldKind::Groups(_, inner), Property::Groups(groups)) => {
            let entries: Vec<String> = groups
                .iter()
                .filter_map(|group| {
                    let first = inner
                        .iter()
                        .find_map(|f| readable(f, group.get(f.stored_name())?))?;
                    Some(first)
                })
                .collect();
            if entries.is_empty() {
                return None;
            }
            entries.join("; ")
        }
        _ => return None,
    })
}

/// The readable text of a record: a line per property the class's table describes, then its
/// body after an empty line.
pub fn summary(fields: &[Field], record: &PropertyRecord) -> String {
    let mut lines = Vec::new();
    let mut body = None;
    let mut seen = Vec::new();
    for field in fields {
        let stored = field.stored_name();
        if seen.contains(&stored) {
            continue;
        }
        seen.push(stored);
        let Some(property) = record.get(stored) else {
            continue;
        };
        if matches!(field.kind, FieldKind::Body | FieldKind::PlainBody) {
            if let Property::Group(group) = property {
                body = group.text("Data").map(str::to_string);
            }
            continue;
        }
        if let Some(value) = readable(field, property).filter(|v| !v.is_empty()) {
            lines.push(format!("{}: {value}", label(stored)));
        }
    }
    let mut text = lines.join("\r\n");
    if let Some(body) = body.filter(|b| !b.trim().is_empty()) {
        text.push_str("\r\n\r\n");
        text.push_str(&body);
    }
    text
}

/// The date a message of the item is received on: its start, due, completion or change.
fn message_date(record: &PropertyRecord) -> i64 {
    [
        "StartTime",
        "UtcDueDate",
        "DateCompleted",
        "UtcStartDate",
        "LastModifiedDate",
    ]
    .iter()
    .find_map(|n| record.int(n))
    .unwrap_or(0)
}

/// An item in its native interchange format: what a groupware-as-mail message attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeFile {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The FileReference (12.0+) and AttName (2.5) of an item's native file.
pub fn native_reference(item: ItemId) -> String {
    format!("{item}:native")
}

/// The item a [`native_reference`] names.
pub fn parse_native_reference(text: &str) -> Option<ItemId> {
    text.trim().strip_suffix(":native")?.parse().ok()
}

/// A file name from an item's title: no path separators or control characters, at most 60
/// characters.
fn file_name(title: &str, extension: &str) -> String {
    let clean: String = title
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | ':' | '"'))
        .take(60)
        .collect();
    let clean = clean.trim();
    format!(
        "{}.{extension}",
        if clean.is_empty() { "item" } else { clean }
    )
}

/// The user's item `item` as a vCard (contacts), an iCalendar object (events, tasks) or
/// text (notes); `None` when it is no such item of the user's.
pub fn native_file(
    store: &crate::store::Store,
    user: crate::store::UserId,
    item: ItemId,
) -> Result<Option<NativeFile>, StoreError> {
    Ok(store
        .record_item(user, item)?
        .and_then(|(item, record)| native_file_of(item.id, item.class, &record)))
}

/// [`native_file`] of a record already read.
fn native_file_of(id: ItemId, class: ItemClass, record: &PropertyRecord) -> Option<NativeFile> {
    use crate::interchange::{ics, vcard};
    let title = ["FileAs", "Subject"]
        .iter()
        .find_map(|n| record.text(n))
        .unwrap_or_default()
        .to_string();
    Some(match class {
        ItemClass::Contacts => NativeFile {
            name: file_name(&title, "vcf"),
            content_type: "text/vcard",
            bytes: vcard::write_card(record).into_bytes(),
        },
        ItemClass::Calendar => NativeFile {
            name: file_name(&title, "ics"),
            content_type: "text/calendar",
            bytes: ics::calendar_text(std::iter::once(record)).into_bytes(),
        },
        ItemClass::Tasks => NativeFile {
            name: file_name(&title, "ics"),
            content_type: "text/calendar",
            bytes: ics::tasks_text(std::iter::once((id, record))).into_bytes(),
        },
        ItemClass::Notes => {
            let fields = adapter_for(ItemClass::Notes).map_or(&[][..], |a| a.fields());
            NativeFile {
                name: file_name(&title, "txt"),
                content_type: "text/plain",
                bytes: summary(fields, record).into_bytes(),
            }
        }
        ItemClass::Email => return None,
    })
}

/// The Attachments element announcing the item's native file (left out when the policy
/// withholds a file of its size).
fn attachments(
    context: &ReadContext,
    item: ItemId,
    class: ItemClass,
    record: &PropertyRecord,
) -> Option<Element> {
    let file = native_file_of(item, class, record)?;
    let size = file.bytes.len() as u64;
    if !context.policy.allows_attachment(size) {
        return None;
    }
    let reference = native_reference(item);
    Some(if context.version >= ProtocolVersion::V12_0 {
        let mut list = Element::new(airsyncbase::ATTACHMENTS);
        list.push(Element::new(airsyncbase::ATTACHMENT))
            .push_text(airsyncbase::DISPLAY_NAME, file.name)
            .push_text(airsyncbase::FILE_REFERENCE, reference)
            .push_text(airsyncbase::METHOD, "1")
            .push_text(airsyncbase::ESTIMATED_DATA_SIZE, size.to_string());
        list
    } else {
        let mut list = Element::new(email::ATTACHMENTS);
        list.push(Element::new(email::ATTACHMENT))
            .push_text(email::ATT_NAME, reference)
            .push_text(email::ATT_SIZE, size.to_string())
            .push_text(email::ATT_METHOD, "1")
            .push_text(email::DISPLAY_NAME, file.name);
        list
    })
}

impl ViewClass {
    fn stored(
        &self,
        context: &ReadContext,
        item: ItemId,
    ) -> Result<Option<PropertyRecord>, StoreError> {
        context
            .store
            .record_of_class(context.user, item, self.source)
    }

    fn mail(
        &self,
        context: &ReadContext,
        item: ItemId,
        title_from: &[&str],
        record: &PropertyRecord,
    ) -> Result<Record, StoreError> {
        let user = context.store.user_by_id(context.user)?;
        let (address, display) = user
            .map(|u| (u.email.clone(), u.display_name.clone()))
            .unwrap_or_default();
        let fields = adapter_for(self.source).map_or(&[][..], |a| a.fields());
        let title = title_from
            .iter()
            .find_map(|n| record.text(n).filter(|t| !t.trim().is_empty()))
            .unwrap_or("(no title)")
            .to_string();
        let sender = match record.get("Categories") {
            Some(Property::List(list)) if !list.is_empty() => list[0].clone(),
            _ => self.source.as_str().to_string(),
        };
        let quoted = |name: &str| name.replace(['"', '\\'], "");
        let text = |s: String| Value::Text(s);
        let mut mail = Record::default();
        mail.set(
            email::TO,
            text(format!("\"{}\" <{address}>", quoted(&display))),
        );
        mail.set(
            email::FROM,
            text(format!("\"{}\" <{address}>", quoted(&sender))),
        );
        mail.set(email::SUBJECT, text(title.clone()));
        mail.set(email::DATE_RECEIVED, Value::Date(message_date(record)));
        mail.set(email::DISPLAY_TO, text(display));
        mail.set(email::THREAD_TOPIC, text(title));
        mail.set(email::IMPORTANCE, Value::Int(1));
        mail.set(email::READ, Value::Bool(true));
        mail.set(email::MESSAGE_CLASS, text("IPM.Note".into()));
        let body = BodyValue {
            body_type: 1,
            data: summary(fields, record),
        };
        if context.version >= ProtocolVersion::V12_0 {
            mail.set(
                airsyncbase::BODY,
                Value::Nested(super::body::stored_body(
                    &body,
                    context.options,
                    context.version,
                )),
            );
            mail.set(email::INTERNET_CPID, Value::Int(65001));
            mail.set(email::FLAG, Value::Nested(Element::new(email::FLAG)));
            mail.set(
                email::CONTENT_CLASS,
                text("urn:content-classes:message".into()),
            );
            mail.set(airsyncbase::NATIVE_BODY_TYPE, Value::Int(1));
        } else {
            let plain = super::body::stored_plain_body(&body, context.options);
            let truncated = plain.len() < body.data.len();
            mail.set(
                email::BODY,
                Value::Nested(Element::with_text(email::BODY, plain)),
            );
            mail.set(
                email::BODY_TRUNCATED,
                Value::Nested(Element::with_text(
                    email::BODY_TRUNCATED,
                    if truncated { "1" } else { "0" },
                )),
            );
        }
        if let Some(list) = attachments(context, item, self.source, record) {
            mail.set(list.tag, Value::Nested(list));
        }
        Ok(mail)
    }
}

impl ClassAdapter for ViewClass {
    fn class(&self) -> ItemClass {
        match self.presented {
            Presented::Events(_) => ItemClass::Calendar,
            Presented::Mail { .. } => ItemClass::Email,
        }
    }

    fn fields(&self) -> &'static [Field] {
        match self.presented {
            Presented::Events(_) => calendar_class().fields,
            Presented::Mail { .. } => super::email::EmailClass.fields(),
        }
    }

    fn accepts_filter(&self, filter: u8) -> bool {
        match self.presented {
            Presented::Events(_) => calendar_class().accepts_filter(filter),
            Presented::Mail { .. } => super::email::EmailClass.accepts_filter(filter),
        }
    }

    fn window_cutoff(&self, filter: u8, now: i64) -> Option<i64> {
        if self.undated_only {
            return Some(i64::MAX);
        }
        super::collection::window_cutoff(filter, now)
    }

    fn read(&self, context: &ReadContext, item: ItemId) -> Result<Option<Record>, StoreError> {
        let Some(record) = self.stored(context, item)? else {
            return Ok(None);
        };
        match self.presented {
            Presented::Events(convert) => {
                Ok(convert(item, &record).map(|event| calendar_class().present(context, &event)))
            }
            Presented::Mail { title } => self.mail(context, item, title, &record).map(Some),
        }
    }

    fn change(
        &self,
        context: &ReadContext,
        item: ItemId,
        values: &Record,
        _supported: Option<&[Tag]>,
    ) -> Result<ItemStatus, StoreError> {
        let (Some(write_back), Some(source)) = (self.write_back, source_class(self.source)) else {
            return Ok(ItemStatus::Conflict);
        };
        let sent = super::data_class::to_properties(self.fields(), values);
        source.rewrite(context, item, |record| write_back(&sent, record))
    }

    fn add(
        &self,
        _context: &ReadContext,
        _folder: FolderId,
        _values: &Record,
        _client_add: Option<&ClientAdd<'_>>,
    ) -> Result<Result<ItemId, ItemStatus>, StoreError> {
        Ok(Err(ItemStatus::ConversionError))
    }

    fn changes_whole_item(&self, _record: &Record) -> bool {
        true
    }

    fn refuses(&self, command: Tag) -> bool {
        command != airsync::CHANGE || self.write_back.is_none()
    }

    fn echoes_changes(&self) -> bool {
        true
    }

    fn may_hide_items(&self) -> bool {
        matches!(self.presented, Presented::Events(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(due_local: i64, due_utc: i64, done: bool) -> PropertyRecord {
        let mut task = PropertyRecord::default();
        task.set("Subject", Property::Text("Bins".into()));
        task.set("DueDate", Property::Int(due_local));
        task.set("UtcDueDate", Property::Int(due_utc));
        task.set("Complete", Property::Int(i64::from(done)));
        task.set("ReminderSet", Property::Int(1));
        task.set("ReminderTime", Property::Int(due_utc - 3600));
        task
    }

    #[test]
    fn a_task_due_at_midnight_is_an_all_day_event_and_a_due_time_a_timed_one() {
        // 2024-01-04 00:00 local (stored as such), 23:00 UTC the day before.
        let day = 1_704_326_400;
        let event = task_event(5, &task(day, day - 3600, false)).unwrap();
        assert_eq!(event.int("AllDayEvent"), Some(1));
        assert_eq!(event.int("StartTime"), Some(day));
        assert_eq!(event.int("EndTime"), Some(day + DAY));
        assert_eq!(event.text("Subject"), Some("Bins"));
        assert_eq!(event.text("UID"), Some("easd-task-5"));
        assert_eq!(event.int("BusyStatus"), Some(0));
        let timed = task_event(5, &task(day + 9 * 3600, day + 8 * 3600, true)).unwrap();
        assert_eq!(timed.int("AllDayEvent"), Some(0));
        assert_eq!(timed.int("StartTime"), Some(day + 8 * 3600));
        assert_eq!(timed.int("EndTime"), Some(day + 8 * 3600 + 1800));
        assert_eq!(timed.int("Reminder"), Some(60));
        assert_eq!(timed.text("Subject"), Some("✓ Bins"));
        assert!(task_event(5, &PropertyRecord::default()).is_none());
    }

    #[test]
    fn an_edited_event_writes_subject_due_day_and_reminder_back_to_the_task() {
        use crate::calendar::tz::{IanaZone, TimeZoneInfo};
        let berlin = IanaZone::named("Europe/Berlin").unwrap();
        let blob = TimeZoneInfo::for_zone(&berlin, "W. Europe Standard Time", 2024).to_blob();
        let day = 1_704_844_800; // 2024-01-10
        let mut event = PropertyRecord::default();
        event.set("Timezone", Property::Bytes(blob));
        event.set("Subject", Property::Text("✓ Bins".into()));
        event.set("AllDayEvent", Property::Int(1));
        event.set("StartTime", Property::Int(day - 3600)); // midnight in Berlin
        event.set("Reminder", Property::Int(15));
        let mut task = task(0, 0, true);
        event_to_task(&event, &mut task).unwrap();
        assert_eq!(task.text("Subject"), Some("Bins"));
        assert_eq!(task.int("DueDate"), Some(day));
        assert_eq!(task.int("UtcDueDate"), Some(day - 3600));
        assert_eq!(task.int("ReminderTime"), Some(day - 3600 - 900));
        assert_eq!(task.int("Complete"), Some(1));
        // And the view shows it on that day again.
        let shown = task_event(1, &task).unwrap();
        assert_eq!(shown.int("StartTime"), Some(day));
        assert_eq!(shown.int("AllDayEvent"), Some(1));
        // An event without a start cannot be a due date.
        let mut no_start = event.clone();
        no_start.remove("StartTime");
        assert_eq!(
            event_to_task(&no_start, &mut task),
            Err(ItemStatus::ConversionError)
        );
    }

    #[test]
    fn a_note_is_an_all_day_event_on_its_day_and_summaries_list_properties() {
        let mut note = PropertyRecord::default();
        note.set("Subject", Property::Text("Milk".into()));
        note.set("LastModifiedDate", Property::Int(1_704_326_400 + 5000));
        let event = note_event(9, &note).unwrap();
        assert_eq!(event.int("StartTime"), Some(1_704_326_400));
        assert_eq!(event.int("AllDayEvent"), Some(1));

        let mut contact = PropertyRecord::default();
        contact.set("FileAs", Property::Text("Doe, Jo".into()));
        contact.set("Email1Address", Property::Text("jo@example.org".into()));
        let mut body = PropertyRecord::default();
        body.set("Type", Property::Int(1));
        body.set("Data", Property::Text("Met at the fair.".into()));
        contact.set("Body", Property::Group(body));
        let fields = adapter_for(ItemClass::Contacts).unwrap().fields();
        let text = summary(fields, &contact);
        assert!(text.contains("Email1 address: jo@example.org"), "{text}");
        assert!(text.contains("File as: Doe, Jo"), "{text}");
        assert!(text.ends_with("\r\n\r\nMet at the fair."), "{text}");
    }
}
