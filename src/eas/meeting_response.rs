//! MeetingResponse (MS-ASCMD 2.2.1.11): the user accepts, tentatively accepts or declines a
//! meeting, named either by its meeting-request mail (the iCalendar REQUEST inside it) or by
//! the calendar event itself. The event's response is set (a declined meeting leaves the
//! calendar); the answer carries the event's ServerId as CalendarId unless declined.
//!
//! The item must be in the request's CollectionId (the Inbox or another mail folder holding
//! the request, or a calendar holding the event). 16.x InstanceId answers one occurrence of a
//! recurring meeting (declining it deletes that occurrence from the series).
//!
//! Who mails the organizer depends on the protocol version (MS-ASCMD 2.2.1.11): below 16.0
//! the client sends its own reply with SendMail; from 16.0 the server sends the iCalendar
//! REPLY when the request carries SendResponse — through the submission command, or straight
//! into the organizer's Inbox (and calendar) when the organizer is a user of this server.
//! SendResponse's Body is the reply's text; its ProposedStartTime and ProposedEndTime make the
//! mail a COUNTER (RFC 5546), unless the organizer disallowed new time proposals
//! (DisallowNewTimeProposal), when the plain REPLY goes.

use std::io::Read;

use super::sync::class::parse_eas_datetime;
use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::eas::meetings::{self, Answer, AnswerNote};
use crate::store::{ItemClass, ItemId, StoreError};
use crate::wbxml::{tag::airsyncbase, tag::meeting_response as mr, Element};

mod status {
    pub const SUCCESS: &str = "1";
    pub const INVALID_REQUEST: &str = "2";
    pub const MAILBOX_ERROR: &str = "3";
}

/// Most Requests in one command.
const MAX_REQUESTS: usize = 100;

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == mr::MEETING_RESPONSE) else {
        return Ok(Reply::HttpStatus(400));
    };
    let requests: Vec<&Element> = body.children_with(mr::REQUEST).collect();
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return Ok(Reply::HttpStatus(400));
    }
    let mut doc = Element::new(mr::MEETING_RESPONSE);
    for one in requests {
        let request_id = one.child_text(mr::REQUEST_ID).unwrap_or_default();
        let (code, calendar_id) = match answer_one(request, one)? {
            Ok(calendar_id) => (status::SUCCESS, calendar_id),
            Err(code) => (code, None),
        };
        let result = doc.push(Element::new(mr::RESULT));
        result
            .push_text(mr::REQUEST_ID, request_id.trim())
            .push_text(mr::STATUS, code);
        if let Some(id) = calendar_id {
            result.push_text(mr::CALENDAR_ID, id.to_string());
        }
    }
    Ok(Reply::Document(doc))
}

/// Answers one Request: the event's ServerId (none once declined), or a status.
fn answer_one(
    request: &Request,
    one: &Element,
) -> Result<Result<Option<ItemId>, &'static str>, CommandError> {
    let (store, user) = (request.store, request.user);
    let answer = one
        .child_text(mr::USER_RESPONSE)
        .and_then(|code| Answer::from_code(&code));
    let item_id = one
        .child_text(mr::REQUEST_ID)
        .and_then(|id| id.trim().parse::<ItemId>().ok());
    let (Some(answer), Some(item_id)) = (answer, item_id) else {
        return Ok(Err(status::INVALID_REQUEST));
    };
    let Some(item) = store.item(user.id, item_id)? else {
        return Ok(Err(status::INVALID_REQUEST));
    };
    // The item is named within its collection (MS-ASCMD 2.2.3.30.4).
    let collection = one
        .child_text(mr::COLLECTION_ID)
        .and_then(|c| c.trim().parse::<i64>().ok());
    if collection.is_some_and(|c| c != item.folder_id) {
        return Ok(Err(status::INVALID_REQUEST));
    }
    let mut occurrence = match one.child_text(mr::INSTANCE_ID) {
        None => None,
        Some(text) if request.version >= ProtocolVersion::V16_0 => {
            match parse_eas_datetime(&text) {
                Some(at) => Some(at),
                None => return Ok(Err(status::INVALID_REQUEST)),
            }
        }
        Some(_) => return Ok(Err(status::INVALID_REQUEST)),
    };
    let (uid, invitation) = match item.class {
        ItemClass::Email => {
            let mut raw = Vec::new();
            let read = store
                .open_raw(user.id, item_id)
                .map_err(CommandError::from)?
                .read_to_end(&mut raw);
            if read.is_err() {
                return Ok(Err(status::MAILBOX_ERROR));
            }
            match meetings::request_in_mail(&raw) {
                // A request for one occurrence answers that occurrence of the series the
                // calendar holds.
                Some(request) if request.recurrence_id.is_some() => {
                    occurrence = occurrence.or(request.recurrence_id);
                    (request.uid, None)
                }
                Some(invitation) => (invitation.uid.clone(), Some(invitation)),
                None => return Ok(Err(status::INVALID_REQUEST)),
            }
        }
        ItemClass::Calendar => match store.record_item(user.id, item_id)? {
            // The organizer does not answer their own meeting.
            Some((_, record)) if meetings::organizes(&record, user) => {
                return Ok(Err(status::INVALID_REQUEST))
            }
            Some((_, record)) => match record.text("UID") {
                Some(uid) => (uid.to_string(), None),
                None => return Ok(Err(status::INVALID_REQUEST)),
            },
            None => return Ok(Err(status::INVALID_REQUEST)),
        },
        _ => return Ok(Err(status::INVALID_REQUEST)),
    };
    let send_response = one.child(mr::SEND_RESPONSE);
    let proposal = match send_response.map(proposal_of).unwrap_or(Ok(None)) {
        // A proposal goes with a tentative answer or a decline (MS-ASCMD 2.2.3.141).
        Ok(Some(_)) if answer == Answer::Accept => return Ok(Err(status::INVALID_REQUEST)),
        Ok(proposal) => proposal,
        Err(()) => return Ok(Err(status::INVALID_REQUEST)),
    };
    // The answer and its mail to the organizer are one write: the mail is queued with the
    // answer, never lost after it.
    store.atomically(
        || -> Result<Result<Option<ItemId>, &'static str>, CommandError> {
            let responded =
                match meetings::respond(store, user, &uid, invitation.as_ref(), answer, occurrence)
                {
                    Ok(Some(responded)) => responded,
                    Ok(None) => return Ok(Err(status::INVALID_REQUEST)),
                    Err(StoreError::NotFound(_)) => return Ok(Err(status::MAILBOX_ERROR)),
                    Err(e) => return Err(e.into()),
                };
            request.note_change();
            let (calendar_id, record) = responded;
            if let (true, Some(send)) = (request.version >= ProtocolVersion::V16_0, send_response) {
                let disallowed = record.int("DisallowNewTimeProposal") == Some(1);
                let note = AnswerNote {
                    occurrence,
                    proposed: proposal.filter(|_| !disallowed),
                    text: send
                        .child(airsyncbase::BODY)
                        .and_then(|b| b.child_text(airsyncbase::DATA))
                        .unwrap_or_default(),
                };
                if let Some((organizer, message)) =
                    meetings::answer_mail(user, &record, answer, &note)
                {
                    if super::compose::deliver_queued(request, &[organizer], &message)?.is_err() {
                        return Ok(Err(status::MAILBOX_ERROR));
                    }
                }
            }
            Ok(Ok(calendar_id))
        },
    )
}

/// SendResponse's ProposedStartTime and ProposedEndTime: `Err` when only one is there, a
/// date does not parse, or the end is before the start.
fn proposal_of(send: &Element) -> Result<Option<(i64, i64)>, ()> {
    let start = send.child_text(mr::PROPOSED_START_TIME);
    let end = send.child_text(mr::PROPOSED_END_TIME);
    match (start, end) {
        (None, None) => Ok(None),
        (Some(start), Some(end)) => {
            let start = parse_eas_datetime(&start).ok_or(())?;
            let end = parse_eas_datetime(&end).ok_or(())?;
            if end < start {
                return Err(());
            }
            Ok(Some((start, end)))
        }
        _ => Err(()),
    }
}
