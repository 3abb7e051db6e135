//! The organizer's side of meetings: when a 16.0 or 16.1 phone adds, changes or deletes a
//! meeting the user organizes (MeetingStatus 1, 5, 9 or 13), the server mails its attendees
//! (MS-ASCMD 2.2.1.11: below 16.0 the client sends meeting mail itself with SendMail, so
//! the server sends nothing for older phones):
//!
//! - a new meeting: REQUEST to every attendee;
//! - a change of what the meeting is (times, zone, recurrence, subject, location, body,
//!   all-day) or of its attendees: REQUEST with the next SEQUENCE to the attendees, CANCEL to
//!   those removed; attendees only added get the REQUEST alone;
//! - MeetingStatus cancelled, or the meeting deleted: CANCEL to every attendee;
//! - one occurrence changed or deleted through 16.x InstanceId: REQUEST or CANCEL with its
//!   RECURRENCE-ID.
//!
//! The event keeps the organizer (the user: 16.x phones do not send OrganizerEmail) and the
//! SEQUENCE. Attendees who are users of this server get the mail in their Inbox and the
//! meeting in their calendar inside the transaction of the phone's write; mail to the others
//! is queued in the outbox in that same transaction (`store::outbox`), so it exists exactly
//! when the write does, and the server sends it once the write committed (`crate::outbox`).

use log::warn;

use super::meetings::{self, organizes, same_address, SEQUENCE};
use super::{CommandError, ProtocolVersion, Request};
use crate::calendar::itip_write::{plausible_address, Itip, Method};
use crate::store::{FolderType, ItemId, NewMessage, Outgoing, Property, PropertyRecord};

/// Whether the server mails attendees for phones of `version`.
pub fn server_sends(version: ProtocolVersion) -> bool {
    version >= ProtocolVersion::V16_0
}

/// The fields whose change is a new version of the meeting for its attendees.
const SIGNIFICANT: &[&str] = &[
    "StartTime",
    "EndTime",
    "Timezone",
    "AllDayEvent",
    "Subject",
    "Location",
    "Body",
    "Recurrence",
    "DisallowNewTimeProposal",
];

fn attendee_addresses(record: &PropertyRecord, organizer: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(Property::Groups(list)) = record.get("Attendees") {
        for attendee in list {
            if let Some(email) = attendee.text("Email").map(str::trim) {
                let fresh = !out.iter().any(|e| same_address(e, email));
                if plausible_address(email) && fresh && !same_address(email, organizer) {
                    out.push(email.to_string());
                }
            }
        }
    }
    out
}

fn cancelled(record: &PropertyRecord) -> bool {
    record.int("MeetingStatus").unwrap_or(0) & 4 != 0
}

/// The fields whose change moves the meeting: attendees are asked to answer again.
const WHEN: &[&str] = &[
    "StartTime",
    "EndTime",
    "Timezone",
    "AllDayEvent",
    "Recurrence",
];

/// What one write owes the attendees: (method, recipients, occurrence).
type Owed = (Method, Vec<String>, Option<i64>);

/// Decides the meeting mail of a write from the event before and after it.
fn owed(
    before: Option<&PropertyRecord>,
    after: Option<&PropertyRecord>,
    organizer: &str,
    occurrence: Option<i64>,
) -> Vec<Owed> {
    let was = before.map(|r| attendee_addresses(r, organizer));
    let now = after.map(|r| attendee_addresses(r, organizer));
    match (before, after, occurrence) {
        // One occurrence: the exception the write left says which.
        (_, Some(after), Some(at)) => {
            let deleted = match after.get("Exceptions") {
                Some(Property::Groups(list)) => list.iter().any(|e| {
                    e.int("ExceptionStartTime") == Some(at) && e.int("Deleted") == Some(1)
                }),
                _ => false,
            };
            let method = if deleted {
                Method::Cancel
            } else {
                Method::Request
            };
            vec![(method, now.unwrap_or_default(), Some(at))]
        }
        (None, Some(after), None) if !cancelled(after) => {
            vec![(Method::Request, now.unwrap_or_default(), None)]
        }
        (Some(before), None, _) if !cancelled(before) => {
            vec![(Method::Cancel, was.unwrap_or_default(), None)]
        }
        (Some(before), Some(after), None) => {
            let was = was.unwrap_or_default();
            let now = now.unwrap_or_default();
            if cancelled(after) && !cancelled(before) {
                let mut all = was;
                for address in now {
                    if !all.iter().any(|w| same_address(w, &address)) {
                        all.push(address);
                    }
                }
                return vec![(Method::Cancel, all, None)];
            }
            if cancelled(after) {
                return Vec::new();
            }
            let removed: Vec<String> = was
                .iter()
                .filter(|w| !now.iter().any(|n| same_address(n, w)))
                .cloned()
                .collect();
            let added: Vec<String> = now
                .iter()
                .filter(|n| !was.iter().any(|w| same_address(w, n)))
                .cloned()
                .collect();
            let changed = cancelled(before)
                || SIGNIFICANT
                    .iter()
                    .any(|field| before.get(field) != after.get(field));
            let mut out = Vec::new();
            if changed {
                out.push((Method::Request, now, None));
            } else if !added.is_empty() {
                out.push((Method::Request, added, None));
            }
            if !removed.is_empty() {
                out.push((Method::Cancel, removed, None));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// After a 16.x phone's write of calendar item `item` (`before`: its record before the
/// write; `occurrence`: the InstanceId of a single-occurrence edit), inside the write's
/// transaction: records organizer and SEQUENCE on the event, delivers the meeting mail to
/// attendees on this server and queues the mail for the others in the outbox.
pub fn after_write(
    request: &Request,
    item: ItemId,
    before: Option<&PropertyRecord>,
    occurrence: Option<i64>,
) -> Result<(), CommandError> {
    let (store, user) = (request.store, request.user);
    if !server_sends(request.version) {
        return Ok(());
    }
    let after = store.record_item(user.id, item)?.map(|(_, record)| record);
    let organized = |r: Option<&PropertyRecord>| r.is_some_and(|r| organizes(r, user));
    if !organized(before) && !organized(after.as_ref()) {
        return Ok(());
    }
    // A repeated Add (its answer was lost) finds the event already announced.
    if before.is_none() && after.as_ref().is_some_and(|a| a.int(SEQUENCE).is_some()) {
        return Ok(());
    }
    let mut owed = owed(before, after.as_ref(), &user.email, occurrence);
    owed.retain(|(_, to, _)| !to.is_empty());
    // The event as the attendees should see it: the one after the write, else the one
    // deleted; with the organizer and the SEQUENCE.
    let Some(mut event) = after.clone().or_else(|| before.cloned()) else {
        return Ok(());
    };
    let previous = before.and_then(|b| b.int(SEQUENCE));
    let sequence = match (previous, owed.is_empty()) {
        (None, _) if before.is_none() => 0,
        (previous, false) => previous.map_or(1, |s| s + 1),
        (previous, true) => previous.unwrap_or(0),
    };
    event.set(SEQUENCE, Property::Int(sequence));
    if event.text("OrganizerEmail").is_none() {
        event.set("OrganizerEmail", Property::Text(user.email.clone()));
        if !user.display_name.is_empty() {
            event.set("OrganizerName", Property::Text(user.display_name.clone()));
        }
    }
    if let Some(after) = &after {
        if *after != event {
            let sort = crate::eas::sync::calendar::last_end(&event);
            store.replace_record(user.id, item, sort, &event)?;
        }
    }
    let moved = match (before, &after) {
        (Some(before), Some(after)) => WHEN.iter().any(|f| before.get(f) != after.get(f)),
        _ => false,
    };
    for (method, recipients, at) in owed {
        let itip = Itip {
            method,
            event: &event,
            organizer: &user.email,
            sequence,
            occurrence: at,
            answering: None,
            rescheduled: method == Method::Request && (moved || at.is_some()),
            now: crate::store::now(),
        };
        let text = match method {
            Method::Cancel => "This meeting has been canceled.".to_string(),
            _ => "You are invited to this meeting.".to_string(),
        };
        let message = itip.mail(&user.email, &recipients, &text);
        let mut remote = Vec::new();
        for address in recipients {
            match super::compose::local_user(request, &address)? {
                Some(attendee) if attendee.id != user.id => {
                    let Some(inbox) =
                        super::compose::special_folder(request, &attendee, FolderType::Inbox)?
                    else {
                        warn!("{} has no Inbox; meeting mail dropped", attendee.email);
                        continue;
                    };
                    let filed = NewMessage {
                        received_at: Some(crate::store::now()),
                        recipient: Some(&attendee.email),
                        ..NewMessage::new(&message)
                    };
                    meetings::file_mail(store, &attendee, inbox, &filed)?;
                    request.notify_user(&attendee.email);
                }
                Some(_) => {}
                None => remote.push(address),
            }
        }
        if !remote.is_empty() {
            let queued = Outgoing {
                user: user.id,
                sender: &user.email,
                recipients: &remote,
                message: &message,
            };
            store.enqueue_mail(&queued, crate::store::now())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(attendees: &[&str]) -> PropertyRecord {
        let mut record = PropertyRecord::default();
        record.set("MeetingStatus", Property::Int(1));
        record.set("StartTime", Property::Int(1000));
        record.set("EndTime", Property::Int(2000));
        let list = attendees
            .iter()
            .map(|email| {
                let mut a = PropertyRecord::default();
                a.set("Email", Property::Text(email.to_string()));
                a
            })
            .collect();
        record.set("Attendees", Property::Groups(list));
        record
    }

    fn methods(owed: &[Owed]) -> Vec<(&'static str, Vec<String>)> {
        owed.iter()
            .map(|(m, to, _)| (m.name(), to.clone()))
            .collect()
    }

    #[test]
    fn writes_owe_requests_and_cancels() {
        let me = "me@example.com";
        let two = meeting(&["a@x", "b@x", me]);
        // A new meeting: a REQUEST to the attendees, never to the organizer.
        assert_eq!(
            methods(&owed(None, Some(&two), me, None)),
            [("REQUEST", vec!["a@x".to_string(), "b@x".to_string()])]
        );
        // A reminder changed: nothing; the time changed: everyone again.
        let mut reminder = two.clone();
        reminder.set("Reminder", Property::Int(15));
        assert!(owed(Some(&two), Some(&reminder), me, None).is_empty());
        let mut moved = two.clone();
        moved.set("StartTime", Property::Int(1500));
        assert_eq!(owed(Some(&two), Some(&moved), me, None).len(), 1);
        // B removed, C added: C alone is invited, B gets a CANCEL.
        let swapped = meeting(&["a@x", "c@x"]);
        assert_eq!(
            methods(&owed(Some(&two), Some(&swapped), me, None)),
            [
                ("REQUEST", vec!["c@x".to_string()]),
                ("CANCEL", vec!["b@x".to_string()])
            ]
        );
        // Cancelled or deleted: a CANCEL to all.
        let mut cancelled = two.clone();
        cancelled.set("MeetingStatus", Property::Int(5));
        assert_eq!(
            methods(&owed(Some(&two), Some(&cancelled), me, None))[0].0,
            "CANCEL"
        );
        assert_eq!(methods(&owed(Some(&two), None, me, None))[0].0, "CANCEL");
        assert!(owed(Some(&cancelled), None, me, None).is_empty());
        // One occurrence deleted: a CANCEL of that occurrence.
        let mut one_gone = two.clone();
        let mut exception = PropertyRecord::default();
        exception.set("ExceptionStartTime", Property::Int(90_000));
        exception.set("Deleted", Property::Int(1));
        one_gone.set("Exceptions", Property::Groups(vec![exception]));
        let owed = owed(Some(&two), Some(&one_gone), me, Some(90_000));
        assert_eq!((owed[0].0, owed[0].2), (Method::Cancel, Some(90_000)));
    }
}
