//! Meeting mail (iMIP, RFC 6047) arriving for a user — by `easd deliver` or from another user
//! of this server — applied to the user's default calendar:
//!
//! - REQUEST: a new meeting becomes a tentative event (MeetingStatus 3 "received", BusyStatus
//!   tentative, ResponseType "not responded"); a request with the same UID and at least the
//!   stored SEQUENCE updates it (the user's answer stays while the times are unchanged). A
//!   request for one occurrence (RECURRENCE-ID) changes that occurrence only.
//! - CANCEL: the meeting is marked cancelled (MeetingStatus 7, free), or the one occurrence
//!   is deleted from the series.
//! - REPLY: on the organizer's event, the replying attendee's status.
//!
//! The message itself is filed first and stays whatever happens here (it is the mail); the
//! calendar change is a second transaction, and a failure is logged, not a failed delivery.
//! The user's answer (MeetingResponse, [`respond`]) sets the event's response and, when the
//! command asks the server to, mails the organizer an iCalendar REPLY ([`reply_message`]).
//! The mail itself reaches phones with its MeetingRequest element
//! (`eas::sync::meeting_request`). Not built yet: organizer-side REQUEST/CANCEL sending by
//! the server for meetings a 16.x phone creates or changes.

use log::warn;

use crate::calendar::itip::{self, Invitation, RecurrenceRule};
use crate::calendar::tz::{windows_name_of, IanaZone, TimeZoneInfo};
use crate::eas::sync::calendar::last_end;
use crate::store::{
    FolderType, ItemClass, ItemId, NewRecordItem, Property, PropertyRecord, Store, StoreError, User,
};
use crate::wbxml::tag::calendar as cal;

/// Where the iTIP SEQUENCE of a received meeting is kept (no EAS property carries it).
const SEQUENCE: &str = "X-Sequence";

/// The iCalendar texts of a message's text/calendar parts.
pub fn calendar_parts(raw: &[u8]) -> Vec<String> {
    use mail_parser::MimeHeaders;
    let Some(message) = mail_parser::MessageParser::new().parse(raw) else {
        return Vec::new();
    };
    message
        .parts
        .iter()
        .filter(|part| {
            part.content_type().is_some_and(|t| {
                t.ctype().eq_ignore_ascii_case("text")
                    && t.subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("calendar"))
            })
        })
        .filter_map(|part| part.text_contents().map(str::to_string))
        .collect()
}

/// Applies the meeting mail in `raw` to `user`'s calendar; how many events it changed.
/// Errors are logged: the mail is delivered either way.
pub fn on_delivery(store: &Store, user: &User, raw: &[u8]) -> usize {
    let mut changed = 0;
    for ics in calendar_parts(raw) {
        let invitations = match itip::parse(&ics) {
            Ok(invitations) => invitations,
            Err(e) => {
                warn!("meeting mail for {}: not iCalendar: {e}", user.email);
                continue;
            }
        };
        for invitation in &invitations {
            match apply(store, user, invitation) {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) => warn!("meeting {} for {}: {e}", invitation.uid, user.email),
            }
        }
    }
    changed
}

fn name(tag: crate::wbxml::Tag) -> &'static str {
    tag.name()
}

fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The user's default calendar and the event with `uid` in it.
pub fn find_event(
    store: &Store,
    user: &User,
    uid: &str,
) -> Result<(crate::store::FolderId, Option<(ItemId, PropertyRecord)>), StoreError> {
    let folder = store
        .folders_of(user.id)?
        .into_iter()
        .find(|f| f.folder_type == FolderType::Calendar)
        .ok_or_else(|| StoreError::NotFound("the default calendar".into()))?;
    let event = store
        .folder_records(user.id, folder.id)?
        .into_iter()
        .find(|(_, record)| record.text(name(cal::UID)) == Some(uid));
    Ok((folder.id, event))
}

fn apply(store: &Store, user: &User, invitation: &Invitation) -> Result<bool, StoreError> {
    let organized_by_user = invitation
        .organizer
        .as_ref()
        .is_some_and(|o| same_address(&o.email, &user.email));
    let (folder, existing) = find_event(store, user, &invitation.uid)?;
    match invitation.method.as_str() {
        "REQUEST" | "PUBLISH" if !organized_by_user => {
            request(store, user, folder, existing, invitation)
        }
        "CANCEL" if !organized_by_user => {
            let Some((id, mut record)) = existing else {
                return Ok(false);
            };
            match invitation.recurrence_id {
                Some(occurrence) => {
                    let mut exception = PropertyRecord::default();
                    exception.set(name(cal::DELETED), Property::Int(1));
                    put_exception(&mut record, occurrence, exception);
                }
                None => {
                    record.set(name(cal::MEETING_STATUS), Property::Int(7));
                    record.set(name(cal::BUSY_STATUS), Property::Int(0));
                }
            }
            store.replace_record(user.id, id, last_end(&record), &record)?;
            Ok(true)
        }
        "REPLY" => {
            let Some((id, mut record)) = existing else {
                return Ok(false);
            };
            let mut attendees = match record.get(name(cal::ATTENDEES)) {
                Some(Property::Groups(list)) => list.clone(),
                _ => Vec::new(),
            };
            let mut changed = false;
            for reply in &invitation.attendees {
                let status = Property::Int(attendee_status(&reply.partstat));
                match attendees.iter_mut().find(|a| {
                    a.text(name(cal::EMAIL))
                        .is_some_and(|e| same_address(e, &reply.email))
                }) {
                    Some(attendee) => attendee.set(name(cal::ATTENDEE_STATUS), status),
                    None => {
                        let mut attendee = attendee_record(reply);
                        attendee.set(name(cal::ATTENDEE_STATUS), status);
                        attendees.push(attendee);
                    }
                }
                changed = true;
            }
            if !changed {
                return Ok(false);
            }
            record.set(name(cal::ATTENDEES), Property::Groups(attendees));
            store.replace_record(user.id, id, last_end(&record), &record)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn request(
    store: &Store,
    user: &User,
    folder: crate::store::FolderId,
    existing: Option<(ItemId, PropertyRecord)>,
    invitation: &Invitation,
) -> Result<bool, StoreError> {
    let Some((id, mut stored)) = existing else {
        if invitation.recurrence_id.is_some() {
            // An occurrence of a series this user does not have: nothing to attach it to.
            return Ok(false);
        }
        let record = event_record(invitation, user);
        let new = NewRecordItem {
            class: ItemClass::Calendar,
            sort_date: last_end(&record),
            record: &record,
        };
        store.add_record_item(user.id, folder, &new, None)?;
        return Ok(true);
    };
    if let Some(occurrence) = invitation.recurrence_id {
        let mut exception = PropertyRecord::default();
        exception.set(
            name(cal::SUBJECT),
            Property::Text(invitation.summary.clone()),
        );
        exception.set(name(cal::START_TIME), Property::Int(invitation.start));
        exception.set(name(cal::END_TIME), Property::Int(invitation.end));
        if !invitation.location.is_empty() {
            exception.set(
                name(cal::LOCATION),
                Property::Text(invitation.location.clone()),
            );
        }
        put_exception(&mut stored, occurrence, exception);
        store.replace_record(user.id, id, last_end(&stored), &stored)?;
        return Ok(true);
    }
    if stored.int(SEQUENCE).unwrap_or(0) > invitation.sequence {
        return Ok(false); // an older update arriving late
    }
    let mut record = event_record(invitation, user);
    // The user's answer stands while the meeting keeps its times.
    let same_times = stored.int(name(cal::START_TIME)) == Some(invitation.start)
        && stored.int(name(cal::END_TIME)) == Some(invitation.end);
    if same_times {
        for kept in [
            cal::RESPONSE_TYPE,
            cal::BUSY_STATUS,
            cal::APPOINTMENT_REPLY_TIME,
        ] {
            if let Some(value) = stored.get(name(kept)) {
                record.set(name(kept), value.clone());
            }
        }
    }
    store.replace_record(user.id, id, last_end(&record), &record)?;
    Ok(true)
}

/// Puts an exception for the occurrence starting at `occurrence` into the series.
fn put_exception(record: &mut PropertyRecord, occurrence: i64, mut exception: PropertyRecord) {
    const START: &str = "ExceptionStartTime";
    exception.set(START, Property::Int(occurrence));
    let mut list = match record.get(name(cal::EXCEPTIONS)) {
        Some(Property::Groups(list)) => list.clone(),
        _ => Vec::new(),
    };
    list.retain(|e| e.int(START) != Some(occurrence));
    list.push(exception);
    list.sort_by_key(|e| e.int(START));
    record.set(name(cal::EXCEPTIONS), Property::Groups(list));
}

/// MS-ASCAL AttendeeStatus of an iCalendar PARTSTAT.
fn attendee_status(partstat: &str) -> i64 {
    match partstat {
        "ACCEPTED" => 3,
        "TENTATIVE" => 2,
        "DECLINED" => 4,
        "NEEDS-ACTION" => 5,
        _ => 0,
    }
}

fn attendee_record(attendee: &itip::Attendee) -> PropertyRecord {
    let mut record = PropertyRecord::default();
    record.set(name(cal::EMAIL), Property::Text(attendee.email.clone()));
    if !attendee.name.is_empty() {
        record.set(name(cal::NAME), Property::Text(attendee.name.clone()));
    }
    record.set(
        name(cal::ATTENDEE_STATUS),
        Property::Int(attendee_status(&attendee.partstat)),
    );
    let kind = match attendee.role.as_str() {
        "OPT-PARTICIPANT" => 2,
        "NON-PARTICIPANT" => 3,
        _ => 1,
    };
    record.set(name(cal::ATTENDEE_TYPE), Property::Int(kind));
    record
}

/// The MS-ASCAL Recurrence of an RRULE starting at `start` (UTC) in the event's zone;
/// `None` for rules EAS cannot express.
pub fn recurrence_record(rule: &RecurrenceRule) -> Option<PropertyRecord> {
    let mut record = PropertyRecord::default();
    let days: i64 = rule.by_day.iter().map(|(_, day)| 1i64 << day).sum();
    let ordinal = rule
        .by_set_pos
        .or_else(|| rule.by_day.iter().map(|(n, _)| *n).find(|n| *n != 0));
    let week_of_month = ordinal.map(|n| if n < 0 { 5 } else { i64::from(n.min(5)) });
    let kind = match (rule.freq.as_str(), week_of_month) {
        ("DAILY", _) => 0,
        ("WEEKLY", _) => 1,
        ("MONTHLY", None) => 2,
        ("MONTHLY", Some(_)) => 3,
        ("YEARLY", None) => 5,
        ("YEARLY", Some(_)) => 6,
        _ => return None,
    };
    let int = |record: &mut PropertyRecord, tag: crate::wbxml::Tag, value: i64| {
        record.set(name(tag), Property::Int(value));
    };
    int(&mut record, cal::TYPE, kind);
    int(&mut record, cal::INTERVAL, i64::from(rule.interval.max(1)));
    if let Some(count) = rule.count {
        int(&mut record, cal::OCCURRENCES, i64::from(count));
    }
    if let Some(until) = rule.until {
        int(&mut record, cal::UNTIL, until);
    }
    if days != 0 {
        int(&mut record, cal::DAY_OF_WEEK, days);
    }
    if let Some(week) = week_of_month {
        int(&mut record, cal::WEEK_OF_MONTH, week);
    }
    if let Some(day) = rule.by_month_day {
        int(&mut record, cal::DAY_OF_MONTH, i64::from(day));
    }
    if let Some(month) = rule.by_month {
        int(&mut record, cal::MONTH_OF_YEAR, i64::from(month));
    }
    if let Some(first) = rule.week_start {
        int(&mut record, cal::FIRST_DAY_OF_WEEK, i64::from(first));
    }
    Some(record)
}

/// The TimeZone blob of an event in `zone` (UTC when it has none).
pub fn zone_blob(zone: Option<&IanaZone>, at: i64) -> Vec<u8> {
    use chrono::Datelike;
    let tz = zone.cloned().unwrap_or_else(IanaZone::utc);
    let year = chrono::DateTime::from_timestamp(at, 0).map_or(2025, |d| d.year());
    let windows = windows_name_of(&tz).unwrap_or(tz.name());
    TimeZoneInfo::for_zone(&tz, windows, year).to_blob()
}

/// The calendar record of an imported event: a plain appointment without attendees, a
/// meeting the user organizes when the organizer is the user, else a received meeting.
pub fn imported_event(event: &Invitation, user: &User) -> PropertyRecord {
    let mut record = event_record(event, user);
    record.remove(SEQUENCE);
    record.set(
        name(cal::DT_STAMP),
        Property::Int(event.stamp.unwrap_or(event.start)),
    );
    let organizer = event
        .organizer
        .as_ref()
        .is_some_and(|o| same_address(&o.email, &user.email));
    if event.attendees.is_empty() {
        record.set(name(cal::MEETING_STATUS), Property::Int(0));
        record.remove(name(cal::RESPONSE_REQUESTED));
        record.remove(name(cal::RESPONSE_TYPE));
        record.set(name(cal::BUSY_STATUS), Property::Int(2));
    } else if organizer {
        record.set(name(cal::MEETING_STATUS), Property::Int(1));
        record.set(name(cal::RESPONSE_TYPE), Property::Int(1));
        record.set(name(cal::BUSY_STATUS), Property::Int(2));
    }
    record
}

/// Adds to `series` the exception an event with RECURRENCE-ID describes (cancelled: the
/// occurrence is deleted).
pub fn add_exception(series: &mut PropertyRecord, occurrence: &Invitation) {
    let Some(at) = occurrence.recurrence_id else {
        return;
    };
    let mut exception = PropertyRecord::default();
    if occurrence.status == "CANCELLED" {
        exception.set(name(cal::DELETED), Property::Int(1));
    } else {
        exception.set(
            name(cal::SUBJECT),
            Property::Text(occurrence.summary.clone()),
        );
        exception.set(name(cal::START_TIME), Property::Int(occurrence.start));
        exception.set(name(cal::END_TIME), Property::Int(occurrence.end));
        if !occurrence.location.is_empty() {
            exception.set(
                name(cal::LOCATION),
                Property::Text(occurrence.location.clone()),
            );
        }
    }
    put_exception(series, at, exception);
}

/// The calendar record of a received meeting.
fn event_record(invitation: &Invitation, user: &User) -> PropertyRecord {
    let mut record = PropertyRecord::default();
    let text = |record: &mut PropertyRecord, tag: crate::wbxml::Tag, value: &str| {
        if !value.is_empty() {
            record.set(name(tag), Property::Text(value.to_string()));
        }
    };
    record.set(
        name(cal::TIMEZONE),
        Property::Bytes(zone_blob(invitation.zone.as_ref(), invitation.start)),
    );
    record.set(
        name(cal::ALL_DAY_EVENT),
        Property::Int(i64::from(invitation.all_day)),
    );
    if !invitation.description.is_empty() {
        let mut body = PropertyRecord::default();
        body.set("Type", Property::Int(1));
        body.set("Data", Property::Text(invitation.description.clone()));
        record.set("Body", Property::Group(body));
    }
    record.set(name(cal::BUSY_STATUS), Property::Int(1));
    if let Some(organizer) = &invitation.organizer {
        text(&mut record, cal::ORGANIZER_NAME, &organizer.name);
        text(&mut record, cal::ORGANIZER_EMAIL, &organizer.email);
    }
    record.set(name(cal::DT_STAMP), Property::Int(crate::store::now()));
    record.set(name(cal::START_TIME), Property::Int(invitation.start));
    record.set(name(cal::END_TIME), Property::Int(invitation.end));
    text(&mut record, cal::LOCATION, &invitation.location);
    text(&mut record, cal::SUBJECT, &invitation.summary);
    text(&mut record, cal::UID, &invitation.uid);
    let cancelled = invitation.status == "CANCELLED";
    record.set(
        name(cal::MEETING_STATUS),
        Property::Int(if cancelled { 7 } else { 3 }),
    );
    let attendees: Vec<PropertyRecord> = invitation.attendees.iter().map(attendee_record).collect();
    if !attendees.is_empty() {
        record.set(name(cal::ATTENDEES), Property::Groups(attendees));
    }
    if let Some(recurrence) = invitation.rule.as_ref().and_then(recurrence_record) {
        record.set(name(cal::RECURRENCE), Property::Group(recurrence));
        for exdate in &invitation.exdates {
            let mut exception = PropertyRecord::default();
            exception.set(name(cal::DELETED), Property::Int(1));
            put_exception(&mut record, *exdate, exception);
        }
    }
    let asked = invitation
        .attendees
        .iter()
        .find(|a| same_address(&a.email, &user.email));
    record.set(name(cal::RESPONSE_REQUESTED), Property::Int(1));
    let response = asked.map_or(5, |a| match attendee_status(&a.partstat) {
        2 => 2,
        3 => 3,
        4 => 4,
        _ => 5,
    });
    record.set(name(cal::RESPONSE_TYPE), Property::Int(response));
    record.set(SEQUENCE, Property::Int(invitation.sequence));
    record
}

/// The user's answer to a meeting (MeetingResponse UserResponse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Tentative,
    Decline,
}

impl Answer {
    /// From a MeetingResponse UserResponse value (1, 2, 3).
    pub fn from_code(code: &str) -> Option<Answer> {
        match code.trim() {
            "1" => Some(Answer::Accept),
            "2" => Some(Answer::Tentative),
            "3" => Some(Answer::Decline),
            _ => None,
        }
    }

    fn partstat(self) -> &'static str {
        match self {
            Answer::Accept => "ACCEPTED",
            Answer::Tentative => "TENTATIVE",
            Answer::Decline => "DECLINED",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Answer::Accept => "Accepted",
            Answer::Tentative => "Tentative",
            Answer::Decline => "Declined",
        }
    }
}

/// The meeting of a meeting-request mail: the first REQUEST in its calendar parts.
pub fn request_in_mail(raw: &[u8]) -> Option<Invitation> {
    calendar_parts(raw)
        .iter()
        .filter_map(|ics| itip::parse(ics).ok())
        .flatten()
        .find(|i| i.method == "REQUEST" && i.recurrence_id.is_none())
}

/// Records the user's answer on the event with `uid` (creating it from `invitation` when the
/// calendar lacks it): accepted is busy, tentative tentative; a declined meeting leaves the
/// calendar. Returns the event (`None` once declined) and its record as answered, or `None`
/// when there is no such meeting.
#[allow(clippy::type_complexity)]
pub fn respond(
    store: &Store,
    user: &User,
    uid: &str,
    invitation: Option<&Invitation>,
    answer: Answer,
) -> Result<Option<(Option<ItemId>, PropertyRecord)>, StoreError> {
    let (folder, existing) = find_event(store, user, uid)?;
    let (id, mut record) = match (existing, invitation) {
        (Some(found), _) => found,
        (None, Some(invitation)) => {
            let record = event_record(invitation, user);
            let new = NewRecordItem {
                class: ItemClass::Calendar,
                sort_date: last_end(&record),
                record: &record,
            };
            (store.add_record_item(user.id, folder, &new, None)?, record)
        }
        (None, None) => return Ok(None),
    };
    let status = attendee_status(answer.partstat());
    record.set(name(cal::RESPONSE_TYPE), Property::Int(status));
    record.set(
        name(cal::APPOINTMENT_REPLY_TIME),
        Property::Int(crate::store::now()),
    );
    if let Some(Property::Groups(list)) = record.get(name(cal::ATTENDEES)) {
        let mut list = list.clone();
        for attendee in &mut list {
            if attendee
                .text(name(cal::EMAIL))
                .is_some_and(|e| same_address(e, &user.email))
            {
                attendee.set(name(cal::ATTENDEE_STATUS), Property::Int(status));
            }
        }
        record.set(name(cal::ATTENDEES), Property::Groups(list));
    }
    if answer == Answer::Decline {
        store.delete_item(user.id, id)?;
        return Ok(Some((None, record)));
    }
    let busy = if answer == Answer::Accept { 2 } else { 1 };
    record.set(name(cal::BUSY_STATUS), Property::Int(busy));
    store.replace_record(user.id, id, last_end(&record), &record)?;
    Ok(Some((Some(id), record)))
}

fn ical_text(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

fn ical_utc(unix: i64) -> String {
    crate::clock::eas_compact_datetime(unix)
}

/// The iCalendar REPLY mail of the user's answer to the organizer of `record`: the
/// organizer's address and the RFC 5322 message. `None` when the event names no organizer.
pub fn reply_message(
    user: &User,
    record: &PropertyRecord,
    answer: Answer,
) -> Option<(String, Vec<u8>)> {
    let organizer = record.text(name(cal::ORGANIZER_EMAIL))?.to_string();
    let uid = record.text(name(cal::UID))?;
    let subject = record.text(name(cal::SUBJECT)).unwrap_or_default();
    let start = record.int(name(cal::START_TIME)).unwrap_or(0);
    let now = crate::store::now();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//easd//EN\r\nMETHOD:REPLY\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{stamp}\r\nDTSTART:{start}\r\nSEQUENCE:{sequence}\r\n\
SUMMARY:{summary}\r\nORGANIZER:mailto:{organizer}\r\n\
ATTENDEE;PARTSTAT={partstat}:mailto:{email}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        uid = ical_text(uid),
        stamp = ical_utc(now),
        start = ical_utc(start),
        sequence = record.int(SEQUENCE).unwrap_or(0),
        summary = ical_text(subject),
        partstat = answer.partstat(),
        email = user.email,
    );
    let message = format!(
        "From: {from}\r\nTo: {organizer}\r\nSubject: {prefix}: {subject}\r\nDate: {date}\r\n\
MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n{ics}",
        from = user.email,
        prefix = answer.prefix(),
        subject = subject.replace(['\r', '\n'], " "),
        date = crate::clock::rfc5322_date(now),
    );
    Some((organizer, message.into_bytes()))
}
