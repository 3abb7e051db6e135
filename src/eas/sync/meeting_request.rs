//! The Email class's MeetingRequest element (MS-ASEMAIL 2.2.2.48): what a phone shows with a
//! meeting-request or cancellation mail (times, zone, recurrence, organizer, GlobalObjId) so
//! it can offer Accept/Tentative/Decline. Built from the iCalendar REQUEST or CANCEL inside
//! the stored message, only for messages whose MessageClass says they carry one.

use std::io::Read;

use super::super::ProtocolVersion::{self, V14_0, V14_1};
use crate::calendar::itip::{self, Invitation};
use crate::eas::meetings::{calendar_parts, recurrence_record, zone_blob};
use crate::store::{ItemId, Store, StoreError, UserId};
use crate::wbxml::tag::{email, email2};
use crate::wbxml::Element;

/// Whether mail of `message_class` carries a meeting the phone shows.
pub fn carries_meeting(message_class: &str) -> bool {
    message_class.starts_with("IPM.Schedule.Meeting.Request")
        || message_class.starts_with("IPM.Schedule.Meeting.Canceled")
}

/// The MeetingRequest element of the message, `None` when it holds no REQUEST or CANCEL.
pub fn element(
    store: &Store,
    user: UserId,
    item: ItemId,
    version: ProtocolVersion,
) -> Result<Option<Element>, StoreError> {
    let mut raw = Vec::new();
    if store.open_raw(user, item)?.read_to_end(&mut raw).is_err() {
        return Ok(None);
    }
    let meeting = calendar_parts(&raw)
        .iter()
        .filter_map(|ics| itip::parse(ics).ok())
        .flatten()
        .find(|i| matches!(i.method.as_str(), "REQUEST" | "CANCEL"));
    Ok(meeting.map(|m| build(&m, version)))
}

/// PidLidGlobalObjectId (MS-OXOCAL 2.2.1.27) of an iCalendar UID: Outlook's class id, no
/// instance date, and the UID in the "vCal-Uid" form non-Outlook UIDs take.
pub fn global_object_id(uid: &str, instance: Option<(u16, u8, u8)>) -> Vec<u8> {
    const CLASS_ID: [u8; 16] = [
        0x04, 0x00, 0x00, 0x00, 0x82, 0x00, 0xE0, 0x00, 0x74, 0xC5, 0xB7, 0x10, 0x1A, 0x82, 0xE0,
        0x08,
    ];
    let mut data = b"vCal-Uid".to_vec();
    data.extend([1, 0, 0, 0]);
    data.extend(uid.as_bytes());
    data.push(0);
    let mut id = CLASS_ID.to_vec();
    match instance {
        Some((year, month, day)) => id.extend([(year >> 8) as u8, year as u8, month, day]),
        None => id.extend([0; 4]),
    }
    id.extend([0; 16]); // creation time and reserved
    id.extend((data.len() as u32).to_le_bytes());
    id.extend(data);
    id
}

fn build(meeting: &Invitation, version: ProtocolVersion) -> Element {
    use base64::Engine;
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let date = crate::clock::eas_datetime;
    let mut element = Element::new(email::MEETING_REQUEST);
    element
        .push_text(
            email::ALL_DAY_EVENT,
            if meeting.all_day { "1" } else { "0" },
        )
        .push_text(email::START_TIME, date(meeting.start))
        .push_text(email::DT_STAMP, date(crate::store::now()))
        .push_text(email::END_TIME, date(meeting.end))
        .push_text(
            email::INSTANCE_TYPE,
            if meeting.rule.is_some() { "1" } else { "0" },
        );
    if !meeting.location.is_empty() {
        element.push_text(email::LOCATION, meeting.location.clone());
    }
    if let Some(organizer) = &meeting.organizer {
        let address = if organizer.name.is_empty() {
            organizer.email.clone()
        } else {
            format!(
                "\"{}\" <{}>",
                organizer.name.replace('"', ""),
                organizer.email
            )
        };
        element.push_text(email::ORGANIZER, address);
    }
    element.push_text(email::RESPONSE_REQUESTED, "1");
    if let Some(recurrence) = meeting.rule.as_ref().and_then(recurrence_record) {
        let list = element.push(Element::new(email::RECURRENCES));
        let entry = list.push(Element::new(email::RECURRENCE));
        let int = |name: &str| recurrence.int(name);
        entry.push_text(email::TYPE, int("Type").unwrap_or(0).to_string());
        entry.push_text(email::INTERVAL, int("Interval").unwrap_or(1).to_string());
        if let Some(until) = int("Until") {
            entry.push_text(email::UNTIL, date(until));
        }
        for (name, tag) in [
            ("Occurrences", email::OCCURRENCES),
            ("DayOfWeek", email::DAY_OF_WEEK),
            ("DayOfMonth", email::DAY_OF_MONTH),
            ("WeekOfMonth", email::WEEK_OF_MONTH),
            ("MonthOfYear", email::MONTH_OF_YEAR),
        ] {
            if let Some(value) = int(name) {
                entry.push_text(tag, value.to_string());
            }
        }
        if version >= V14_0 {
            entry.push_text(email2::CALENDAR_TYPE, "1");
        }
        if let (true, Some(first)) = (version >= V14_1, int("FirstDayOfWeek")) {
            entry.push_text(email2::FIRST_DAY_OF_WEEK, first.to_string());
        }
    }
    let busy = if meeting.method == "CANCEL" { "0" } else { "2" };
    element
        .push_text(email::SENSITIVITY, "0")
        .push_text(email::BUSY_STATUS, busy)
        .push_text(
            email::TIME_ZONE,
            base64(&zone_blob(meeting.zone.as_ref(), meeting.start)),
        )
        .push_text(
            email::GLOBAL_OBJ_ID,
            base64(&global_object_id(&meeting.uid, None)),
        );
    if version >= V14_1 {
        // 1: an initial meeting request (MS-ASEMAIL 2.2.2.49).
        element.push_text(email2::MEETING_MESSAGE_TYPE, "1");
    }
    element
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_object_ids_carry_the_uid() {
        let id = global_object_id("abc", None);
        assert_eq!(&id[..4], &[0x04, 0x00, 0x00, 0x00]);
        assert_eq!(u32::from_le_bytes(id[36..40].try_into().unwrap()), 16);
        assert_eq!(&id[40..48], b"vCal-Uid");
        assert_eq!(&id[52..55], b"abc");
        assert!(carries_meeting("IPM.Schedule.Meeting.Request"));
        assert!(!carries_meeting("IPM.Schedule.Meeting.Resp.Pos"));
    }
}
