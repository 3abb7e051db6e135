//! Meeting mail (iMIP, RFC 6047) arriving for a user — by `easd deliver` or from another user
//! of this server — applied to the user's default calendar:
//!
//! - REQUEST: a new meeting becomes a tentative event (MeetingStatus 3 "received", BusyStatus
//!   tentative, ResponseType "not responded"); a request with the same UID and at least the
//!   stored SEQUENCE updates it (the user's answer stays while the times are unchanged). A
//!   request for one occurrence (RECURRENCE-ID) changes that occurrence only.
//! - CANCEL: the meeting is marked cancelled (MeetingStatus 7, free), or the one occurrence
//!   is deleted from the series.
//! - REPLY and COUNTER, on an event the user organizes: the replying attendee's status (and a
//!   COUNTER's proposed times).
//!
//! The message is filed and the calendar changed in one transaction ([`file_mail`]); a
//! meeting the calendar cannot take (no default calendar, an event too large) is logged and
//! the mail still filed. The user's answer (MeetingResponse, [`respond`]) sets the event's
//! response — for the series or one occurrence — and, when the command asks the server to,
//! mails the organizer an iCalendar REPLY or COUNTER ([`answer_mail`]). The mail itself
//! reaches phones with its MeetingRequest element (`eas::sync::meeting_request`). The
//! organizer's side (REQUEST and CANCEL for meetings a 16.x phone writes) is
//! `eas::organizer`.

use log::warn;

use crate::calendar::itip::{self, Invitation, RecurrenceRule};
use crate::calendar::itip_write::{Answering, Itip, Method};
use crate::calendar::tz::{windows_name_of, IanaZone, TimeZoneInfo};
use crate::eas::sync::calendar::last_end;
use crate::store::{
    Filed, FolderId, FolderType, ItemClass, ItemId, NewMessage, NewRecordItem, Property,
    PropertyRecord, Store, StoreError, User,
};
use crate::wbxml::tag::calendar as cal;

/// Where the iTIP SEQUENCE of a meeting is kept (no EAS property carries it).
pub const SEQUENCE: &str = "X-Sequence";

/// The iCalendar texts of a message's text/calendar parts.
pub fn calendar_parts(raw: &[u8]) -> Vec<String> {
    crate::mime::calendar_texts(raw)
}

/// The iTIP messages in a mail's text/calendar parts (parts that are no iCalendar are
/// logged and skipped).
pub fn invitations_in(raw: &[u8], user: &User) -> Vec<Invitation> {
    invitations_from(&calendar_parts(raw), user)
}

fn invitations_from(calendar_texts: &[String], user: &User) -> Vec<Invitation> {
    let mut all = Vec::new();
    for ics in calendar_texts {
        match itip::parse(ics) {
            Ok(invitations) => all.extend(invitations),
            Err(e) => warn!("meeting mail for {}: not iCalendar: {e}", user.email),
        }
    }
    all
}

/// Files a message into `folder` and applies the meetings it carries to the user's
/// calendar, as one transaction: a crash leaves neither the mail without its calendar change
/// nor the change without the mail. The message is parsed once for both.
pub fn file_mail(
    store: &Store,
    user: &User,
    folder: FolderId,
    message: &NewMessage<'_>,
) -> Result<Filed, StoreError> {
    let (parsed, calendar_texts) = crate::mime::parse_with_calendar_texts(message.raw);
    let invitations = invitations_from(&calendar_texts, user);
    if invitations.is_empty() {
        return store.add_parsed_message(user.id, folder, message, &parsed);
    }
    store.atomically(|| {
        let filed = store.add_parsed_message(user.id, folder, message, &parsed)?;
        if !matches!(filed, Filed::Duplicate(_)) {
            apply_all(store, user, &invitations)?;
        }
        Ok(filed)
    })
}

/// Applies iTIP messages to `user`'s calendar; how many events changed. A meeting the
/// calendar cannot take is logged and skipped; a database failure is returned.
pub fn apply_all(
    store: &Store,
    user: &User,
    invitations: &[Invitation],
) -> Result<usize, StoreError> {
    let mut changed = 0;
    for invitation in invitations {
        match apply(store, user, invitation) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e @ (StoreError::Invalid(_) | StoreError::NotFound(_))) => {
                warn!("meeting {} for {}: {e}", invitation.uid, user.email)
            }
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}

fn name(tag: crate::wbxml::Tag) -> &'static str {
    tag.name()
}

/// Where an attendee's proposed times are stored (MeetingResponse ProposedStartTime and
/// ProposedEndTime inside the calendar Attendee, 16.x).
pub const PROPOSED_START: &str = "ProposedStartTime";
pub const PROPOSED_END: &str = "ProposedEndTime";

/// Whether `record` is a meeting `user` organizes: MeetingStatus says the user organizes it
/// (1, 5, 9, 13) and the organizer, if named, is the user.
pub fn organizes(record: &PropertyRecord, user: &User) -> bool {
    let status = record.int(name(cal::MEETING_STATUS)).unwrap_or(0);
    status & 1 == 1
        && status & 2 == 0
        && record
            .text(name(cal::ORGANIZER_EMAIL))
            .is_none_or(|o| same_address(o, &user.email))
}

pub fn same_address(a: &str, b: &str) -> bool {
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
        "REPLY" | "COUNTER" => {
            let Some((id, mut record)) = existing else {
                return Ok(false);
            };
            if !organizes(&record, user) {
                return Ok(false);
            }
            let counter = invitation.method == "COUNTER";
            // An answer for one occurrence goes on that occurrence (an exception holding
            // its own attendees), not on the series.
            let occurrence = invitation
                .recurrence_id
                .filter(|_| record.get(name(cal::RECURRENCE)).is_some());
            let exception =
                occurrence.map(|at| exception_at(&record, at).cloned().unwrap_or_default());
            if invitation.attendees.is_empty()
                || exception
                    .as_ref()
                    .is_some_and(|e| e.int(name(cal::DELETED)) == Some(1))
            {
                return Ok(false);
            }
            let listed = |r: &PropertyRecord| match r.get(name(cal::ATTENDEES)) {
                Some(Property::Groups(list)) => Some(list.clone()),
                _ => None,
            };
            let mut attendees = exception
                .as_ref()
                .and_then(listed)
                .or_else(|| listed(&record))
                .unwrap_or_default();
            for reply in &invitation.attendees {
                let at = match attendees.iter().position(|a| {
                    a.text(name(cal::EMAIL))
                        .is_some_and(|e| same_address(e, &reply.email))
                }) {
                    Some(at) => at,
                    None => {
                        attendees.push(attendee_record(reply));
                        attendees.len() - 1
                    }
                };
                let attendee = &mut attendees[at];
                attendee.set(
                    name(cal::ATTENDEE_STATUS),
                    Property::Int(attendee_status(&reply.partstat)),
                );
                if counter {
                    // The attendee's proposal, shown with the attendee (16.x).
                    attendee.set(PROPOSED_START, Property::Int(invitation.start));
                    attendee.set(PROPOSED_END, Property::Int(invitation.end));
                } else {
                    attendee.remove(PROPOSED_START);
                    attendee.remove(PROPOSED_END);
                }
            }
            match (occurrence, exception) {
                (Some(at), Some(mut exception)) => {
                    exception.set(name(cal::ATTENDEES), Property::Groups(attendees));
                    put_exception(&mut record, at, exception);
                }
                _ => record.set(name(cal::ATTENDEES), Property::Groups(attendees)),
            }
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
    if invitation.disallow_counter {
        record.set(name(cal::DISALLOW_NEW_TIME_PROPOSAL), Property::Int(1));
    }
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
}

/// The meeting of a meeting-request mail: the REQUEST for the series in its calendar parts,
/// else the first for one occurrence (its `recurrence_id` says which).
pub fn request_in_mail(raw: &[u8]) -> Option<Invitation> {
    let requests: Vec<Invitation> = calendar_parts(raw)
        .iter()
        .filter_map(|ics| itip::parse(ics).ok())
        .flatten()
        .filter(|i| i.method == "REQUEST")
        .collect();
    let series = requests.iter().position(|i| i.recurrence_id.is_none());
    requests.into_iter().nth(series.unwrap_or(0))
}

/// Records the user's answer on the event with `uid` (creating it from `invitation` when the
/// calendar lacks it), in one transaction: accepted is busy, tentative tentative; a declined
/// meeting leaves the calendar. With `occurrence` (MeetingResponse InstanceId, the
/// occurrence's original start) only that occurrence is answered: an exception of the
/// series, a deleted one when declined. Returns the event (`None` once the meeting is
/// declined) and its record as answered, or `None` when there is no such meeting.
#[allow(clippy::type_complexity)]
pub fn respond(
    store: &Store,
    user: &User,
    uid: &str,
    invitation: Option<&Invitation>,
    answer: Answer,
    occurrence: Option<i64>,
) -> Result<Option<(Option<ItemId>, PropertyRecord)>, StoreError> {
    store.atomically(|| respond_in(store, user, uid, invitation, answer, occurrence))
}

#[allow(clippy::type_complexity)]
fn respond_in(
    store: &Store,
    user: &User,
    uid: &str,
    invitation: Option<&Invitation>,
    answer: Answer,
    occurrence: Option<i64>,
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
    let busy = match answer {
        Answer::Accept => 2,
        Answer::Tentative => 1,
        Answer::Decline => 0,
    };
    let now = crate::store::now();
    if let Some(at) = occurrence {
        if record.get(name(cal::RECURRENCE)).is_none() {
            return Ok(None); // no occurrences to answer one of
        }
        let mut exception = exception_at(&record, at).cloned().unwrap_or_default();
        if answer == Answer::Decline {
            exception = PropertyRecord::default();
            exception.set(name(cal::DELETED), Property::Int(1));
        } else {
            exception.set(name(cal::RESPONSE_TYPE), Property::Int(status));
            exception.set(name(cal::BUSY_STATUS), Property::Int(busy));
            exception.set(name(cal::APPOINTMENT_REPLY_TIME), Property::Int(now));
        }
        put_exception(&mut record, at, exception);
        store.replace_record(user.id, id, last_end(&record), &record)?;
        let calendar_id = (answer != Answer::Decline).then_some(id);
        return Ok(Some((calendar_id, record)));
    }
    record.set(name(cal::RESPONSE_TYPE), Property::Int(status));
    record.set(name(cal::APPOINTMENT_REPLY_TIME), Property::Int(now));
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
    record.set(name(cal::BUSY_STATUS), Property::Int(busy));
    store.replace_record(user.id, id, last_end(&record), &record)?;
    Ok(Some((Some(id), record)))
}

/// The exception of the occurrence starting at `at`, if the series has one.
fn exception_at(record: &PropertyRecord, at: i64) -> Option<&PropertyRecord> {
    match record.get(name(cal::EXCEPTIONS)) {
        Some(Property::Groups(list)) => list
            .iter()
            .find(|e| e.int("ExceptionStartTime") == Some(at)),
        _ => None,
    }
}

/// What the user says with an answer the server mails (MeetingResponse SendResponse).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnswerNote {
    /// The occurrence answered (its original start), `None` for the whole meeting.
    pub occurrence: Option<i64>,
    /// A new time the user proposes (start, end): the mail is a COUNTER.
    pub proposed: Option<(i64, i64)>,
    /// The user's words (SendResponse Body).
    pub text: String,
}

/// The iCalendar REPLY (or, with a proposal, COUNTER) mail of the user's answer to the
/// organizer of `record`: the organizer's address and the RFC 5322 message. `None` when the
/// event names no organizer.
pub fn answer_mail(
    user: &User,
    record: &PropertyRecord,
    answer: Answer,
    note: &AnswerNote,
) -> Option<(String, Vec<u8>)> {
    let organizer = record
        .text(name(cal::ORGANIZER_EMAIL))
        .map(str::trim)
        .filter(|o| crate::calendar::itip_write::plausible_address(o))?
        .to_string();
    record.text(name(cal::UID))?;
    let itip = Itip {
        method: if note.proposed.is_some() {
            Method::Counter
        } else {
            Method::Reply
        },
        event: record,
        organizer: &organizer,
        sequence: record.int(SEQUENCE).unwrap_or(0),
        occurrence: note.occurrence,
        answering: Some(Answering {
            email: user.email.clone(),
            partstat: answer.partstat(),
            proposed: note.proposed,
            comment: (!note.text.trim().is_empty()).then(|| note.text.clone()),
        }),
        rescheduled: false,
        now: crate::store::now(),
    };
    let message = itip.mail(&user.email, std::slice::from_ref(&organizer), &note.text);
    Some((organizer, message))
}
