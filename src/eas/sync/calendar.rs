//! The Calendar class (MS-ASCAL, 2.5–16.1): its field table — Attendees and Exceptions as
//! repeated groups, Recurrence as a nested table, the TimeZone blob (MS-ASDTYPE
//! TIME_ZONE_INFORMATION, base64 on the wire, kept as sent), the 16.x AirSyncBase Location —
//! and its rules:
//!
//! - FilterType (0, 4–7): an event is inside while any of its occurrences ends after the
//!   cutoff, so its sort date is the end of its last occurrence (a series without an end never
//!   leaves; one ending after a count is expanded in the event's zone).
//! - 16.x clients edit one occurrence through the Change's or Delete's `InstanceId` and never
//!   send Exceptions back: a Change without Exceptions keeps them, unless it changed the
//!   recurrence (then the old exceptions no longer fit and go).
//! - Every event has a UID: the 16.x ClientUid when the phone sent one, else a new one.
//!   16.x clients send neither UID nor the organizer (MS-ASCAL 2.2.2.46, 2.2.2.35): a Change
//!   keeps them.
//! - From 16.0 the server mails the attendees of meetings the user organizes when a phone
//!   writes them (`eas::organizer`, through [`ClassAdapter::after_client_write`]).
//!
//! Calendar dates travel in the compact form `yyyymmddThhmmssZ`; Exception InstanceIds (16.x)
//! in the long form, stored as the ExceptionStartTime older versions send.

use super::class::{ClassAdapter, Field, FieldKind, ItemStatus, ReadContext, Record};
use super::data_class::{to_properties, DataClass};
use crate::eas::ProtocolVersion::{V12_0, V14_0, V14_1, V16_0, V2_5};
use crate::store::{ClientAdd, FolderId, ItemClass, ItemId, Property, PropertyRecord, StoreError};
use crate::wbxml::tag::{airsyncbase, calendar, meeting_response};
use crate::wbxml::Tag;

use FieldKind::{Base64, Body, Bool, CompactDate, Date, Group, Groups, Int, List, PlainBody, Text};

/// The FilterTypes calendar takes (MS-ASCMD 2.2.3.70.1): none, 2 weeks … 6 months back.
pub const FILTERS: &[u8] = &[0, 4, 5, 6, 7];

/// The name exception start times are stored under (16.x sends them as InstanceId).
const EXCEPTION_START: &str = "ExceptionStartTime";

/// AirSyncBase Location (16.x); its DisplayName is the older versions' Location text.
static LOCATION: &[Field] = &[
    Field::new(airsyncbase::DISPLAY_NAME, Text, V16_0),
    Field::new(airsyncbase::ANNOTATION, Text, V16_0),
    Field::new(airsyncbase::STREET, Text, V16_0),
    Field::new(airsyncbase::CITY, Text, V16_0),
    Field::new(airsyncbase::STATE, Text, V16_0),
    Field::new(airsyncbase::COUNTRY, Text, V16_0),
    Field::new(airsyncbase::POSTAL_CODE, Text, V16_0),
    Field::new(airsyncbase::LATITUDE, Text, V16_0),
    Field::new(airsyncbase::LONGITUDE, Text, V16_0),
    Field::new(airsyncbase::ACCURACY, Text, V16_0),
    Field::new(airsyncbase::ALTITUDE, Text, V16_0),
    Field::new(airsyncbase::ALTITUDE_ACCURACY, Text, V16_0),
    Field::new(airsyncbase::LOCATION_URI, Text, V16_0),
];

static ATTENDEE: &[Field] = &[
    Field::new(calendar::EMAIL, Text, V2_5),
    Field::new(calendar::NAME, Text, V2_5),
    Field::new(calendar::ATTENDEE_STATUS, Int, V12_0),
    Field::new(calendar::ATTENDEE_TYPE, Int, V12_0),
    // An attendee's counter-proposal (a COUNTER received by the organizer).
    Field::new(meeting_response::PROPOSED_START_TIME, CompactDate, V16_0),
    Field::new(meeting_response::PROPOSED_END_TIME, CompactDate, V16_0),
];

static RECURRENCE: &[Field] = &[
    Field::new(calendar::TYPE, Int, V2_5),
    Field::new(calendar::OCCURRENCES, Int, V2_5),
    Field::new(calendar::INTERVAL, Int, V2_5),
    Field::new(calendar::WEEK_OF_MONTH, Int, V2_5),
    Field::new(calendar::DAY_OF_WEEK, Int, V2_5),
    Field::new(calendar::MONTH_OF_YEAR, Int, V2_5),
    Field::new(calendar::UNTIL, CompactDate, V2_5),
    Field::new(calendar::DAY_OF_MONTH, Int, V2_5),
    Field::new(calendar::CALENDAR_TYPE, Int, V14_0),
    Field::new(calendar::IS_LEAP_MONTH, Bool, V14_0),
    Field::new(calendar::FIRST_DAY_OF_WEEK, Int, V14_1),
];

/// One exception: a deleted occurrence, or a changed one with the properties it overrides.
static EXCEPTION: &[Field] = &[
    Field::new(calendar::DELETED, Bool, V2_5),
    Field::new(calendar::EXCEPTION_START_TIME, CompactDate, V2_5).until(V16_0),
    Field::new(airsyncbase::INSTANCE_ID, Date, V16_0).stored_as(EXCEPTION_START),
    Field::new(calendar::SUBJECT, Text, V2_5),
    Field::new(calendar::START_TIME, CompactDate, V2_5),
    Field::new(calendar::END_TIME, CompactDate, V2_5),
    Field::new(calendar::BODY, PlainBody, V2_5).until(V12_0),
    Field::new(airsyncbase::BODY, Body, V12_0),
    Field::new(calendar::LOCATION, Text, V2_5).until(V16_0),
    Field::new(airsyncbase::LOCATION, Group(LOCATION), V16_0),
    Field::new(calendar::CATEGORIES, List(calendar::CATEGORY), V2_5),
    Field::new(calendar::SENSITIVITY, Int, V2_5),
    Field::new(calendar::BUSY_STATUS, Int, V2_5),
    Field::new(calendar::ALL_DAY_EVENT, Bool, V2_5),
    Field::new(calendar::REMINDER, Int, V2_5),
    Field::new(calendar::DT_STAMP, CompactDate, V2_5),
    Field::new(calendar::MEETING_STATUS, Int, V2_5),
    Field::new(
        calendar::ATTENDEES,
        Groups(calendar::ATTENDEE, ATTENDEE),
        V14_0,
    ),
    Field::new(calendar::APPOINTMENT_REPLY_TIME, CompactDate, V14_0),
    Field::new(calendar::RESPONSE_TYPE, Int, V14_0),
    Field::new(calendar::ONLINE_MEETING_CONF_LINK, Text, V14_1),
    Field::new(calendar::ONLINE_MEETING_EXTERNAL_LINK, Text, V14_1),
];

/// Calendar ApplicationData, in the order of MS-ASCAL.
static FIELDS: &[Field] = &[
    Field::new(calendar::TIMEZONE, Base64, V2_5),
    Field::new(calendar::ALL_DAY_EVENT, Bool, V2_5),
    Field::new(calendar::BODY, PlainBody, V2_5).until(V12_0),
    Field::new(airsyncbase::BODY, Body, V12_0),
    Field::new(calendar::BUSY_STATUS, Int, V2_5),
    Field::new(calendar::ORGANIZER_NAME, Text, V2_5).kept_from(V16_0),
    Field::new(calendar::ORGANIZER_EMAIL, Text, V2_5).kept_from(V16_0),
    Field::new(calendar::DT_STAMP, CompactDate, V2_5),
    Field::new(calendar::END_TIME, CompactDate, V2_5),
    Field::new(calendar::LOCATION, Text, V2_5).until(V16_0),
    Field::new(airsyncbase::LOCATION, Group(LOCATION), V16_0),
    Field::new(calendar::REMINDER, Int, V2_5),
    Field::new(calendar::SENSITIVITY, Int, V2_5),
    Field::new(calendar::SUBJECT, Text, V2_5),
    Field::new(calendar::START_TIME, CompactDate, V2_5),
    Field::new(calendar::UID, Text, V2_5).kept_from(V16_0),
    Field::new(calendar::MEETING_STATUS, Int, V2_5),
    Field::new(
        calendar::ATTENDEES,
        Groups(calendar::ATTENDEE, ATTENDEE),
        V2_5,
    ),
    Field::new(calendar::CATEGORIES, List(calendar::CATEGORY), V2_5),
    Field::new(calendar::RECURRENCE, Group(RECURRENCE), V2_5),
    Field::new(
        calendar::EXCEPTIONS,
        Groups(calendar::EXCEPTION, EXCEPTION),
        V2_5,
    )
    .kept_from(V16_0),
    Field::new(calendar::RESPONSE_REQUESTED, Bool, V14_0),
    Field::new(calendar::APPOINTMENT_REPLY_TIME, CompactDate, V14_0),
    Field::new(calendar::RESPONSE_TYPE, Int, V14_0),
    Field::new(calendar::DISALLOW_NEW_TIME_PROPOSAL, Bool, V14_0),
    Field::new(calendar::ONLINE_MEETING_CONF_LINK, Text, V14_1),
    Field::new(calendar::ONLINE_MEETING_EXTERNAL_LINK, Text, V14_1),
    Field::new(calendar::CLIENT_UID, Text, V16_0),
];

/// The calendar field table (iCalendar import and export map onto it).
pub fn fields() -> &'static [Field] {
    FIELDS
}

fn name(tag: Tag) -> &'static str {
    tag.name()
}

fn groups(record: &PropertyRecord, tag: Tag) -> &[PropertyRecord] {
    match record.get(name(tag)) {
        Some(Property::Groups(groups)) => groups,
        _ => &[],
    }
}

/// The most a series can span per occurrence of `recurrence` (seconds): a day, a week, a
/// month or a year per interval (more occurrences per period only end it sooner).
fn longest_step(recurrence: &PropertyRecord) -> i64 {
    const DAY: i64 = 86_400;
    let interval = recurrence.int(name(calendar::INTERVAL)).unwrap_or(1).max(1);
    let period = match recurrence.int(name(calendar::TYPE)).unwrap_or(0) {
        0 => DAY,
        1 => 7 * DAY,
        2 | 3 => 31 * DAY,
        _ => 366 * DAY,
    };
    interval.saturating_mul(period)
}

/// The end of the event's last occurrence (its sort date, which FilterType compares with the
/// cutoff): `i64::MAX` for a series without an end.
pub fn last_end(record: &PropertyRecord) -> Option<i64> {
    let start = record.int(name(calendar::START_TIME));
    let end = record.int(name(calendar::END_TIME)).or(start)?;
    let duration = (end - start.unwrap_or(end)).max(0);
    let mut last = end;
    if let Some(Property::Group(recurrence)) = record.get(name(calendar::RECURRENCE)) {
        let first = start.unwrap_or(end);
        last = if let Some(until) = recurrence.int(name(calendar::UNTIL)) {
            // Until is the last start allowed (a whole day for all-day series).
            until
                .saturating_add(duration)
                .saturating_add(86_400)
                .max(end)
        } else if let Some(count) = recurrence.int(name(calendar::OCCURRENCES)) {
            // Counted: the last occurrence, expanded in the event's zone (bounded from the
            // interval when the count is too large to expand on every write).
            match (count <= 1_000).then(|| rule_of(recurrence)) {
                Some(rule) => rule
                    .last_start(first, &zone_of(record))
                    .map_or(end, |last| last.saturating_add(duration).max(end)),
                None => first
                    .saturating_add(count.saturating_mul(longest_step(recurrence)))
                    .saturating_add(duration),
            }
        } else {
            i64::MAX
        };
    }
    // A changed occurrence may have been moved past the series' end.
    for exception in groups(record, calendar::EXCEPTIONS) {
        if let Some(moved) = exception.int(name(calendar::END_TIME)) {
            last = last.max(moved);
        }
    }
    Some(last)
}

pub use crate::calendar::event::{rule_of, zone_of};

fn cutoff(filter: u8, now: i64) -> Option<i64> {
    super::collection::window_cutoff(filter, now)
}

/// MeetingStatus 0 (an appointment) unless told; a UID for every event.
fn prepare(record: &mut PropertyRecord, _now: i64) {
    if record.get(name(calendar::MEETING_STATUS)).is_none() {
        record.set(name(calendar::MEETING_STATUS), Property::Int(0));
    }
    if record.text(name(calendar::UID)).is_none() {
        let uid = match record.text(name(calendar::CLIENT_UID)) {
            Some(client_uid) => client_uid.to_string(),
            None => crate::store::random_hex(16),
        };
        record.set(name(calendar::UID), Property::Text(uid));
    }
}

/// A changed recurrence drops the exceptions the client did not resend (16.x clients cannot
/// send them; they described occurrences of the old pattern).
fn revise(before: &PropertyRecord, after: &mut PropertyRecord) {
    let recurrence = name(calendar::RECURRENCE);
    let exceptions = name(calendar::EXCEPTIONS);
    if before.get(recurrence) != after.get(recurrence)
        && before.get(exceptions) == after.get(exceptions)
    {
        after.remove(exceptions);
    }
}

/// The calendar's property storage and rules.
pub static EVENTS: DataClass = DataClass {
    class: ItemClass::Calendar,
    fields: FIELDS,
    filters: FILTERS,
    cutoff,
    sort_date: last_end,
    prepare,
    max_binary: 4096,
    revise,
};

/// The Calendar class: [`DataClass`] storage plus edits of single occurrences.
pub struct CalendarClass;

/// The Calendar class.
pub static CALENDAR: CalendarClass = CalendarClass;

/// Puts `exception` (keyed by its start) into the event's Exceptions, replacing one for the
/// same occurrence. Only a recurring event has occurrences.
fn set_exception(record: &mut PropertyRecord, exception: PropertyRecord) -> Result<(), ItemStatus> {
    if record.get(name(calendar::RECURRENCE)).is_none() {
        return Err(ItemStatus::ConversionError);
    }
    let start = exception.int(EXCEPTION_START);
    let mut list = groups(record, calendar::EXCEPTIONS).to_vec();
    list.retain(|e| e.int(EXCEPTION_START) != start);
    list.push(exception);
    list.sort_by_key(|e| e.int(EXCEPTION_START));
    record.set(name(calendar::EXCEPTIONS), Property::Groups(list));
    Ok(())
}

impl ClassAdapter for CalendarClass {
    fn class(&self) -> ItemClass {
        ItemClass::Calendar
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn accepts_filter(&self, filter: u8) -> bool {
        EVENTS.accepts_filter(filter)
    }

    fn window_cutoff(&self, filter: u8, now: i64) -> Option<i64> {
        EVENTS.window_cutoff(filter, now)
    }

    fn read(&self, context: &ReadContext, item: ItemId) -> Result<Option<Record>, StoreError> {
        EVENTS.read(context, item)
    }

    fn change(
        &self,
        context: &ReadContext,
        item: ItemId,
        values: &Record,
        supported: Option<&[Tag]>,
    ) -> Result<ItemStatus, StoreError> {
        EVENTS.change(context, item, values, supported)
    }

    fn add(
        &self,
        context: &ReadContext,
        folder: FolderId,
        values: &Record,
        client_add: Option<&ClientAdd<'_>>,
    ) -> Result<Result<ItemId, ItemStatus>, StoreError> {
        // An event has a start (MS-ASCAL StartTime is required in an Add).
        if values.get(calendar::START_TIME).is_none() {
            return Ok(Err(ItemStatus::ConversionError));
        }
        EVENTS.add(context, folder, values, client_add)
    }

    fn change_instance(
        &self,
        context: &ReadContext,
        item: ItemId,
        instance: i64,
        values: &Record,
    ) -> Result<ItemStatus, StoreError> {
        // The occurrence's ApplicationData uses the event's own elements; the exception
        // keeps those an exception can carry.
        let sent = to_properties(FIELDS, values);
        let mut exception = PropertyRecord::default();
        for field in EXCEPTION {
            if let Some(value) = sent.get(field.stored_name()) {
                exception.set(field.stored_name(), value.clone());
            }
        }
        exception.set(EXCEPTION_START, Property::Int(instance));
        EVENTS.rewrite(context, item, |record| set_exception(record, exception))
    }

    fn delete_instance(
        &self,
        context: &ReadContext,
        item: ItemId,
        instance: i64,
    ) -> Result<ItemStatus, StoreError> {
        let mut exception = PropertyRecord::default();
        exception.set(name(calendar::DELETED), Property::Int(1));
        exception.set(EXCEPTION_START, Property::Int(instance));
        EVENTS.rewrite(context, item, |record| set_exception(record, exception))
    }

    fn changes_whole_item(&self, record: &Record) -> bool {
        EVENTS.changes_whole_item(record)
    }

    fn observes_writes(&self, version: crate::eas::ProtocolVersion) -> bool {
        crate::eas::organizer::server_sends(version)
    }

    fn after_client_write(
        &self,
        request: &crate::eas::Request,
        item: ItemId,
        before: Option<&PropertyRecord>,
        instance: Option<i64>,
    ) -> Result<(), crate::eas::CommandError> {
        crate::eas::organizer::after_write(request, item, before, instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eas::sync::class::{decode, encode, Value};

    fn group_count(record: &Record, tag: Tag) -> usize {
        match record.get(tag) {
            Some(Value::Groups(groups)) => groups.len(),
            _ => 0,
        }
    }
    use crate::eas::ProtocolVersion::{V12_1, V16_1};

    fn weekly(until: Option<i64>, count: Option<i64>) -> PropertyRecord {
        let mut recurrence = PropertyRecord::default();
        recurrence.set("Type", Property::Int(1));
        recurrence.set("Interval", Property::Int(1));
        recurrence.set("DayOfWeek", Property::Int(2));
        if let Some(until) = until {
            recurrence.set("Until", Property::Int(until));
        }
        if let Some(count) = count {
            recurrence.set("Occurrences", Property::Int(count));
        }
        let mut record = PropertyRecord::default();
        record.set("StartTime", Property::Int(1_000_000));
        record.set("EndTime", Property::Int(1_003_600));
        record.set("Recurrence", Property::Group(recurrence));
        record
    }

    #[test]
    fn a_series_is_dated_by_its_last_occurrence() {
        let mut single = PropertyRecord::default();
        single.set("StartTime", Property::Int(10));
        single.set("EndTime", Property::Int(20));
        assert_eq!(last_end(&single), Some(20));
        assert_eq!(last_end(&weekly(None, None)), Some(i64::MAX));
        let until = 1_000_000 + 30 * 86_400;
        assert!(last_end(&weekly(Some(until), None)).unwrap() >= until + 3600);
        // Ten weekly occurrences (Mondays, like the first): the tenth ends nine weeks on.
        let counted = last_end(&weekly(None, Some(10))).unwrap();
        assert_eq!(counted, 1_000_000 + 9 * 7 * 86_400 + 3600);
        // An occurrence moved later keeps the series inside longer.
        let mut moved = weekly(Some(until), None);
        let mut exception = PropertyRecord::default();
        exception.set(EXCEPTION_START, Property::Int(1_000_000));
        exception.set("EndTime", Property::Int(until * 2));
        moved.set("Exceptions", Property::Groups(vec![exception]));
        assert_eq!(last_end(&moved), Some(until * 2));
    }

    #[test]
    fn a_changed_recurrence_drops_exceptions_not_resent() {
        let mut before = weekly(None, None);
        let mut exception = PropertyRecord::default();
        exception.set(EXCEPTION_START, Property::Int(1_000_000));
        exception.set("Deleted", Property::Int(1));
        before.set("Exceptions", Property::Groups(vec![exception]));
        let mut same = before.clone();
        same.set("Subject", Property::Text("new title".into()));
        revise(&before, &mut same);
        assert!(same.get("Exceptions").is_some());
        let mut other = before.clone();
        other.set(
            "Recurrence",
            weekly(None, Some(3)).get("Recurrence").unwrap().clone(),
        );
        revise(&before, &mut other);
        assert!(other.get("Exceptions").is_none());
    }

    #[test]
    fn exceptions_travel_as_start_times_before_16_and_instance_ids_from_16() {
        let mut exception = Record::default();
        exception.set(calendar::DELETED, Value::Bool(true));
        exception.set(calendar::EXCEPTION_START_TIME, Value::Date(1_700_000_000));
        let mut record = Record::default();
        record.set(calendar::SUBJECT, Value::Text("Standup".into()));
        record.set(calendar::START_TIME, Value::Date(1_699_990_000));
        record.set(calendar::EXCEPTIONS, Value::Groups(vec![exception]));
        let stored = to_properties(FIELDS, &record);
        let back = super::super::data_class::from_properties(FIELDS, &stored);
        let new = encode(FIELDS, back.clone(), V16_1, false);
        let sent = new
            .child(calendar::EXCEPTIONS)
            .and_then(|e| e.child(calendar::EXCEPTION))
            .unwrap();
        assert_eq!(
            sent.child_text(airsyncbase::INSTANCE_ID).as_deref(),
            Some("2023-11-14T22:13:20.000Z")
        );
        assert!(sent.child(calendar::EXCEPTION_START_TIME).is_none());
        let old = encode(FIELDS, back.clone(), V12_1, false);
        let sent = old
            .child(calendar::EXCEPTIONS)
            .and_then(|e| e.child(calendar::EXCEPTION))
            .unwrap();
        assert_eq!(
            sent.child_text(calendar::EXCEPTION_START_TIME).as_deref(),
            Some("20231114T221320Z")
        );
        assert_eq!(
            old.child_text(calendar::START_TIME).as_deref(),
            Some("20231114T192640Z")
        );
        let decoded = decode(FIELDS, &old, V12_1);
        assert_eq!(group_count(&decoded, calendar::EXCEPTIONS), 1);
    }

    #[test]
    fn location_reads_as_text_before_16_and_as_a_group_from_16() {
        let mut record = Record::default();
        record.set(calendar::LOCATION, Value::Text("Kitchen".into()));
        let stored = to_properties(FIELDS, &record);
        let back = super::super::data_class::from_properties(FIELDS, &stored);
        let new = encode(FIELDS, back.clone(), V16_1, false);
        let location = new.child(airsyncbase::LOCATION).unwrap();
        assert_eq!(
            location.child_text(airsyncbase::DISPLAY_NAME).as_deref(),
            Some("Kitchen")
        );
        let decoded = decode(FIELDS, &new, V16_1);
        let stored = to_properties(FIELDS, &decoded);
        let back = super::super::data_class::from_properties(FIELDS, &stored);
        let old = encode(FIELDS, back.clone(), V12_1, false);
        assert_eq!(
            old.child_text(calendar::LOCATION).as_deref(),
            Some("Kitchen")
        );
    }
}
