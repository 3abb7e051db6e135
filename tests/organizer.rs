//! The organizer's side of meetings through the real server: a meeting Alice's 16.1 phone
//! creates invites Bob (a user of the same server: his Inbox and calendar, no mail system)
//! and a remote attendee (through the submission command); Bob's answer reaches Alice's
//! phone as his attendee status; changes send the next SEQUENCE, a removed attendee and a
//! deleted occurrence or meeting get CANCELs; a 14.1 phone's meeting makes the server send
//! nothing (the client mails its invitations itself below 16.0). MeetingResponse answers one
//! occurrence (InstanceId), proposes a new time (COUNTER) unless the organizer disallows it,
//! and carries the user's words. Every answer is decoded with libwbxml where installed.

mod class_sync;
mod common;

use base64::Engine;
use class_sync::*;
use easd::store::{FolderType, Property, Store};
use easd::wbxml::tag::{
    airsync, airsyncbase, calendar as cal, email as em, meeting_response as mr,
};
use easd::wbxml::Element;

const BOB: &str = "bob@example.com";
const REMOTE: &str = "rita@remote.example";
/// Monday 2 June 2025, 10:00 in Berlin (08:00 UTC).
const START: &str = "20250602T080000Z";
const END: &str = "20250602T090000Z";
/// The second occurrence (a week later), as a 16.x InstanceId.
const SECOND: &str = "2025-06-09T08:00:00.000Z";

fn berlin_blob() -> String {
    use easd::calendar::tz::{IanaZone, TimeZoneInfo};
    let zone = IanaZone::named("Europe/Berlin").unwrap();
    let blob = TimeZoneInfo::for_zone(&zone, "W. Europe Standard Time", 2025).to_blob();
    base64::engine::general_purpose::STANDARD.encode(blob)
}

/// A weekly meeting of five Mondays Alice organizes, as a 16.1 phone writes it.
fn meeting(d: &mut Element, start: &str, end: &str, attendees: &[(&str, &str)]) {
    d.push_text(cal::TIMEZONE, berlin_blob())
        .push_text(cal::SUBJECT, "Garden planning")
        .push_text(cal::START_TIME, start)
        .push_text(cal::END_TIME, end)
        .push_text(cal::MEETING_STATUS, "1")
        .push_text(cal::BUSY_STATUS, "2");
    let list = d.push(Element::new(cal::ATTENDEES));
    for (email, name) in attendees {
        list.push(Element::new(cal::ATTENDEE))
            .push_text(cal::EMAIL, *email)
            .push_text(cal::NAME, *name)
            .push_text(cal::ATTENDEE_TYPE, "1");
    }
    d.push(Element::new(cal::RECURRENCE))
        .push_text(cal::TYPE, "1")
        .push_text(cal::INTERVAL, "1")
        .push_text(cal::OCCURRENCES, "5")
        .push_text(cal::DAY_OF_WEEK, "2");
}

struct Family {
    server: common::TestServer,
    recorder: common::SendmailRecorder,
    store: Store,
    alice: i64,
    bob: i64,
}

fn family() -> Family {
    family_with_env(&[])
}

/// The family on a server started with `env` added to its environment.
fn family_with_env(env: &[(&str, &str)]) -> Family {
    let recorder = common::SendmailRecorder::new();
    let server = common::TestServer::start_with_env(&recorder.config(), env);
    server.add_user(ALICE);
    server.add_user(BOB);
    let store = Store::open(&server.db).unwrap();
    let alice = store.user_by_email(ALICE).unwrap().unwrap().id;
    let bob = store.user_by_email(BOB).unwrap().unwrap().id;
    Family {
        server,
        recorder,
        store,
        alice,
        bob,
    }
}

fn attendee(data: &Element, email: &str) -> Element {
    attendees(data)
        .into_iter()
        .find(|a| text(a, cal::EMAIL).as_deref() == Some(email))
        .unwrap_or_else(|| panic!("{email} among {data:?}"))
}

fn server_id(command: &Element) -> String {
    text(command, airsync::SERVER_ID).expect("ServerId")
}

#[test]
fn a_meeting_from_a_16_1_phone_invites_local_and_remote_attendees_and_follows_its_changes() {
    let f = family();
    let a_cal = folder(&f.store, f.alice, FolderType::Calendar);
    let b_cal = folder(&f.store, f.bob, FolderType::Calendar);
    let b_inbox = folder(&f.store, f.bob, FolderType::Inbox);
    let mut a_phone = f.server.device_speaking(ALICE, "alice16", "16.1");
    let mut b_phone = f.server.device_speaking(BOB, "bob16", "16.1");
    let ka = first_key(&mut a_phone, a_cal, |_| {});
    let kb_cal = first_key(&mut b_phone, b_cal, |_| {});
    let kb_inbox = first_key(&mut b_phone, b_inbox, |_| {});
    let both = [(BOB, "Bob"), (REMOTE, "Rita")];

    // Alice's phone adds the meeting.
    let answer = send(
        &mut a_phone,
        &ka,
        a_cal,
        vec![add("garden", |d| {
            meeting(d, START, END, &both);
            d.push_text(cal::CLIENT_UID, "garden-1");
        })],
    );
    let event = added_id(&answer);
    let ka = key(&answer);

    // The remote attendee's REQUEST goes through the submission command, Bob's does not.
    f.recorder.wait_for_count(1);
    assert_eq!(f.recorder.count(), 1);
    let args = f.recorder.args(0);
    assert!(args.iter().any(|a| a == REMOTE), "{args:?}");
    assert!(!args.iter().any(|a| a == BOB), "{args:?}");
    // Content lines are folded at 75 octets: unfolded before looking.
    let request = f.recorder.sent_text(0).replace("\r\n ", "");
    assert!(
        request
            .lines()
            .any(|l| l.starts_with("ORGANIZER") && l.ends_with(":mailto:alice@example.com")),
        "{request}"
    );
    for expected in [
        "METHOD:REQUEST",
        "UID:garden-1",
        "SEQUENCE:0",
        "mailto:bob@example.com",
        "mailto:rita@remote.example",
        "RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO",
        "BEGIN:VTIMEZONE",
        // 10:00 local in the event's zone, not 08:00 UTC.
        "DTSTART;TZID=Europe/Berlin:20250602T100000",
        "Subject: Invitation: Garden planning",
    ] {
        assert!(request.contains(expected), "{expected} in {request}");
    }

    // Bob's phone gets the meeting request in the Inbox and the meeting in the calendar.
    let (_, mail) = pull(&mut b_phone, &kb_inbox, b_inbox);
    assert_eq!(mail.len(), 1, "{mail:?}");
    let mail_data = data(&mail[0]);
    assert_eq!(
        text(mail_data, em::MESSAGE_CLASS).as_deref(),
        Some("IPM.Schedule.Meeting.Request")
    );
    assert!(mail_data.child(em::MEETING_REQUEST).is_some());
    let (kb_cal, got) = pull(&mut b_phone, &kb_cal, b_cal);
    assert_eq!(got.len(), 1, "{got:?}");
    let bob_event = data(&got[0]);
    assert_eq!(text(bob_event, cal::MEETING_STATUS).as_deref(), Some("3"));
    assert_eq!(text(bob_event, cal::START_TIME).as_deref(), Some(START));
    assert_eq!(text(bob_event, cal::UID).as_deref(), Some("garden-1"));
    assert_eq!(
        text(bob_event, cal::ORGANIZER_EMAIL).as_deref(),
        Some(ALICE)
    );
    let bob_event_id = server_id(&got[0]);

    // Bob accepts on his phone and asks the server to answer: Alice's phone sees it.
    let result = meeting_response(&mut b_phone, |r| {
        r.push_text(mr::USER_RESPONSE, "1")
            .push_text(mr::COLLECTION_ID, b_inbox.to_string())
            .push_text(mr::REQUEST_ID, server_id(&mail[0]));
        r.push(Element::new(mr::SEND_RESPONSE));
    });
    assert_eq!(
        text(&result, mr::STATUS).as_deref(),
        Some("1"),
        "{result:?}"
    );
    assert_eq!(text(&result, mr::CALENDAR_ID), Some(bob_event_id.clone()));
    assert!(f.store.queued_mails().unwrap().is_empty());
    assert_eq!(f.recorder.count(), 1, "Alice is local: no submission");
    let (kb_cal, got) = pull(&mut b_phone, &kb_cal, b_cal);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        text(data(&got[0]), cal::RESPONSE_TYPE).as_deref(),
        Some("3")
    );
    let (ka, got) = pull(&mut a_phone, &ka, a_cal);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].tag, airsync::CHANGE);
    let alice_event = data(&got[0]);
    assert_eq!(
        text(&attendee(alice_event, BOB), cal::ATTENDEE_STATUS).as_deref(),
        Some("3")
    );
    assert_eq!(
        text(alice_event, cal::ORGANIZER_EMAIL).as_deref(),
        Some(ALICE)
    );

    // A reminder changed on Alice's phone is no news for the attendees.
    let answer = send(
        &mut a_phone,
        &ka,
        a_cal,
        vec![change(&event, |d| {
            meeting(d, START, END, &both);
            d.push_text(cal::REMINDER, "15");
        })],
    );
    assert_eq!(status(&answer), "1");
    let ka = key(&answer);
    assert_eq!(f.recorder.count(), 1);

    // Moved by an hour: everyone gets the next SEQUENCE, Bob's calendar moves.
    let answer = send(
        &mut a_phone,
        &ka,
        a_cal,
        vec![change(&event, |d| {
            meeting(d, "20250602T090000Z", "20250602T100000Z", &both)
        })],
    );
    let ka = key(&answer);
    f.recorder.wait_for_count(2);
    assert_eq!(f.recorder.count(), 2);
    let update = f.recorder.sent_text(1).replace("\r\n ", "");
    assert!(update.contains("SEQUENCE:1"), "{update}");
    assert!(
        update.contains("DTSTART;TZID=Europe/Berlin:20250602T110000"),
        "{update}"
    );
    let (kb_cal, got) = pull(&mut b_phone, &kb_cal, b_cal);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        text(data(&got[0]), cal::START_TIME).as_deref(),
        Some("20250602T090000Z")
    );

    // Rita removed: she alone gets a CANCEL; Bob hears nothing.
    let answer = send(
        &mut a_phone,
        &ka,
        a_cal,
        vec![change(&event, |d| {
            meeting(d, "20250602T090000Z", "20250602T100000Z", &[(BOB, "Bob")])
        })],
    );
    let ka = key(&answer);
    f.recorder.wait_for_count(3);
    assert_eq!(f.recorder.count(), 3);
    assert!(f.recorder.args(2).iter().any(|a| a == REMOTE));
    let cancel = f.recorder.sent_text(2).replace("\r\n ", "");
    assert!(cancel.contains("METHOD:CANCEL"), "{cancel}");
    assert!(cancel.contains("STATUS:CANCELLED"), "{cancel}");
    assert!(cancel.contains("SEQUENCE:2"), "{cancel}");
    let (kb_cal, got) = pull(&mut b_phone, &kb_cal, b_cal);
    assert!(got.is_empty(), "{got:?}");

    // The meeting now starts at 09:00 UTC (11:00 in Berlin): its occurrences too.
    let second = "2025-06-09T09:00:00.000Z";
    let fourth = "2025-06-23T09:00:00.000Z";

    // The fourth occurrence moved on its own (InstanceId): a REQUEST for that occurrence;
    // Bob's series gets the changed occurrence.
    let mut change_one = change(&event, |d| {
        d.push_text(cal::START_TIME, "20250623T130000Z")
            .push_text(cal::END_TIME, "20250623T140000Z");
    });
    change_one.push_text(airsyncbase::INSTANCE_ID, fourth);
    let answer = send(&mut a_phone, &ka, a_cal, vec![change_one]);
    assert_eq!(status(&answer), "1", "{answer:?}");
    let ka = key(&answer);
    let raw = last_mail(&f.store, f.bob, b_inbox);
    assert!(raw.contains("METHOD:REQUEST"), "{raw}");
    assert!(
        raw.contains("RECURRENCE-ID;TZID=Europe/Berlin:20250623T110000"),
        "{raw}"
    );
    assert!(
        raw.contains("DTSTART;TZID=Europe/Berlin:20250623T150000"),
        "{raw}"
    );
    assert!(raw.contains("SEQUENCE:3"), "{raw}");
    let (kb_cal, got) = pull(&mut b_phone, &kb_cal, b_cal);
    assert_eq!(got.len(), 1, "{got:?}");
    let moved = occurrence(data(&got[0]), fourth);
    assert_eq!(
        text(&moved, cal::START_TIME).as_deref(),
        Some("20250623T130000Z")
    );
    // Bob accepts that mail: the answer is for that occurrence, on both sides.
    let occurrence_mail = f
        .store
        .items_in_window(f.bob, b_inbox, None)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .max()
        .unwrap();
    let result = meeting_response(&mut b_phone, |r| {
        r.push_text(mr::USER_RESPONSE, "1")
            .push_text(mr::COLLECTION_ID, b_inbox.to_string())
            .push_text(mr::REQUEST_ID, occurrence_mail.to_string());
        r.push(Element::new(mr::SEND_RESPONSE));
    });
    assert_eq!(
        text(&result, mr::STATUS).as_deref(),
        Some("1"),
        "{result:?}"
    );
    let (kb_cal, got) = pull(&mut b_phone, &kb_cal, b_cal);
    let answered = occurrence(data(&got[0]), fourth);
    assert_eq!(text(&answered, cal::RESPONSE_TYPE).as_deref(), Some("3"));
    let (ka, got) = pull(&mut a_phone, &ka, a_cal);
    let seen = occurrence(data(&got[0]), fourth);
    assert_eq!(
        text(&attendee(&seen, BOB), cal::ATTENDEE_STATUS).as_deref(),
        Some("3")
    );

    // The second occurrence deleted through its InstanceId: Bob's series loses it.
    let mut delete_one = delete(&event);
    delete_one.push_text(airsyncbase::INSTANCE_ID, second);
    let answer = send(&mut a_phone, &ka, a_cal, vec![delete_one]);
    assert_eq!(status(&answer), "1");
    let ka = key(&answer);
    let (kb_cal, got) = pull(&mut b_phone, &kb_cal, b_cal);
    assert_eq!(got.len(), 1, "{got:?}");
    let gone = occurrence(data(&got[0]), second);
    assert_eq!(text(&gone, cal::DELETED).as_deref(), Some("1"));
    // The cancellation Bob received names that occurrence.
    let raw = last_mail(&f.store, f.bob, b_inbox);
    assert!(raw.contains("METHOD:CANCEL"), "{raw}");
    assert!(
        raw.contains("RECURRENCE-ID;TZID=Europe/Berlin:20250609T110000"),
        "{raw}"
    );

    // The whole meeting deleted: Bob's event is cancelled and free.
    let answer = send(&mut a_phone, &ka, a_cal, vec![delete(&event)]);
    assert_eq!(status(&answer), "1");
    let (_, got) = pull(&mut b_phone, &kb_cal, b_cal);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        text(data(&got[0]), cal::MEETING_STATUS).as_deref(),
        Some("7")
    );
    assert_eq!(text(data(&got[0]), cal::BUSY_STATUS).as_deref(), Some("0"));
    // Nothing waits in the outbox, so nothing more is on its way (a sent message is
    // recorded before it leaves the outbox).
    assert!(f.store.queued_mails().unwrap().is_empty());
    assert_eq!(f.recorder.count(), 3, "Rita was no longer invited");
}

#[test]
fn below_16_0_the_phone_sends_its_invitations_and_the_server_sends_nothing() {
    let f = family();
    let a_cal = folder(&f.store, f.alice, FolderType::Calendar);
    let b_inbox = folder(&f.store, f.bob, FolderType::Inbox);
    let b_cal = folder(&f.store, f.bob, FolderType::Calendar);
    let mut a_phone = f.server.device_speaking(ALICE, "alice14", "14.1");
    let k = first_key(&mut a_phone, a_cal, |_| {});
    let answer = send(
        &mut a_phone,
        &k,
        a_cal,
        vec![add("old", |d| {
            meeting(d, START, END, &[(BOB, "Bob"), (REMOTE, "Rita")]);
            d.push_text(cal::UID, "old-1");
        })],
    );
    let event = added_id(&answer);
    let k = key(&answer);
    let answer = send(
        &mut a_phone,
        &k,
        a_cal,
        vec![change(&event, |d| {
            meeting(d, "20250602T090000Z", "20250602T100000Z", &[(BOB, "Bob")])
        })],
    );
    let k = key(&answer);
    send(&mut a_phone, &k, a_cal, vec![delete(&event)]);
    assert!(f.store.queued_mails().unwrap().is_empty());
    assert_eq!(f.recorder.count(), 0);
    assert!(f
        .store
        .items_in_window(f.bob, b_inbox, None)
        .unwrap()
        .is_empty());
    assert!(f.store.folder_records(f.bob, b_cal).unwrap().is_empty());
}

/// Retries after one second, give up after `give_up` seconds, a dead attempt retaken after
/// one second: the outbox on a test's time scale.
fn quick_backoff(give_up: u32) -> String {
    format!("1,1,{give_up},1")
}

/// Waits (generous deadline) until `done` holds.
fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_within(what, 60, done);
}

/// Waits until `done` holds, at most `seconds`.
fn wait_within(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Alice's 16.1 phone adds a meeting with Bob (local) and Rita (remote).
fn alice_invites(f: &Family) {
    let a_cal = folder(&f.store, f.alice, FolderType::Calendar);
    let mut a_phone = f.server.device_speaking(ALICE, "alice16", "16.1");
    let k = first_key(&mut a_phone, a_cal, |_| {});
    let answer = send(
        &mut a_phone,
        &k,
        a_cal,
        vec![add("garden", |d| {
            meeting(d, START, END, &[(BOB, "Bob"), (REMOTE, "Rita")])
        })],
    );
    added_id(&answer);
}

#[test]
fn an_invitation_the_mta_refused_is_sent_by_a_later_retry_exactly_once() {
    // The phone's write stands; the refused invitation waits in the outbox.
    let f = a_refused_invitation_waiting(&quick_backoff(3600));
    let queued = f.store.queued_mails().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipients, [REMOTE]);
    assert!(
        queued[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("relay refused")),
        "{queued:?}"
    );
    assert_eq!(f.recorder.count(), 0);

    // The MTA is back: a retry sends it with no request from any phone.
    f.recorder.set_failing(false);
    f.recorder.wait_for_count(1);
    wait_until("the sent mail leaving the outbox", || {
        f.store.queued_mails().unwrap().is_empty()
    });
    assert_eq!(f.recorder.count(), 1, "sent exactly once");
    assert!(f.recorder.args(0).iter().any(|a| a == REMOTE));
    assert!(f.recorder.sent_text(0).contains("METHOD:REQUEST"));
    let a_inbox = folder(&f.store, f.alice, FolderType::Inbox);
    assert!(f
        .store
        .items_in_window(f.alice, a_inbox, None)
        .unwrap()
        .is_empty());
}

#[test]
fn an_invitation_queued_before_a_crash_is_sent_after_the_restart() {
    let backoff = quick_backoff(3600);
    let mut f = family_with_env(&[("EASD_OUTBOX_BACKOFF", &backoff)]);
    f.recorder.set_failing(true);
    alice_invites(&f);
    // When the phone has its answer the invitation is already stored with the meeting.
    assert_eq!(f.store.queued_mails().unwrap().len(), 1);
    f.server.kill_and_restart();
    f.recorder.set_failing(false);
    f.recorder.wait_for_count(1);
    wait_until("the sent mail leaving the outbox", || {
        f.store.queued_mails().unwrap().is_empty()
    });
    assert_eq!(f.recorder.count(), 1, "sent exactly once");
    assert!(f.recorder.args(0).iter().any(|a| a == REMOTE));
    assert!(f
        .recorder
        .sent_text(0)
        .contains("Invitation: Garden planning"));
}

#[test]
fn an_invitation_given_up_on_keeps_the_meeting_and_tells_the_organizer() {
    let backoff = quick_backoff(2);
    let f = family_with_env(&[("EASD_OUTBOX_BACKOFF", &backoff)]);
    f.recorder.set_failing(true);
    let a_cal = folder(&f.store, f.alice, FolderType::Calendar);
    let a_inbox = folder(&f.store, f.alice, FolderType::Inbox);
    let b_cal = folder(&f.store, f.bob, FolderType::Calendar);
    alice_invites(&f);
    wait_until("the outbox giving up", || {
        f.store.queued_mails().unwrap().is_empty()
    });
    assert_eq!(f.recorder.count(), 0);
    assert_eq!(f.store.folder_records(f.alice, a_cal).unwrap().len(), 1);
    // Bob, on this server, has his invitation all the same.
    assert_eq!(f.store.folder_records(f.bob, b_cal).unwrap().len(), 1);
    let note = last_mail(&f.store, f.alice, a_inbox);
    assert!(
        note.contains("Subject: Not sent: Invitation: Garden planning"),
        "{note}"
    );
    assert!(note.contains(REMOTE), "{note}");
    assert!(note.contains("relay refused"), "{note}");
    assert!(!note.contains(BOB), "{note}");
}

#[test]
fn answers_for_one_occurrence_and_new_time_proposals() {
    let f = family();
    let a_cal = folder(&f.store, f.alice, FolderType::Calendar);
    let b_cal = folder(&f.store, f.bob, FolderType::Calendar);
    let mut a_phone = f.server.device_speaking(ALICE, "alice16", "16.1");
    let mut b_phone = f.server.device_speaking(BOB, "bob16", "16.1");
    let ka = first_key(&mut a_phone, a_cal, |_| {});
    let answer = send(
        &mut a_phone,
        &ka,
        a_cal,
        vec![
            add("open", |d| {
                meeting(d, START, END, &[(BOB, "Bob")]);
                d.push_text(cal::CLIENT_UID, "open-1");
            }),
            add("fixed", |d| {
                meeting(d, START, END, &[(BOB, "Bob")]);
                d.push_text(cal::CLIENT_UID, "fixed-1")
                    .push_text(cal::DISALLOW_NEW_TIME_PROPOSAL, "1");
            }),
        ],
    );
    let ka = key(&answer);
    let got = pull_all(&mut b_phone, b_cal);
    assert_eq!(got.len(), 2, "{got:?}");
    let by_uid = |uid: &str| {
        got.iter()
            .find(|c| text(data(c), cal::UID).as_deref() == Some(uid))
            .map(server_id)
            .unwrap()
    };
    let (open, fixed) = (by_uid("open-1"), by_uid("fixed-1"));

    // Tentative for the second occurrence with a new time and a note: a COUNTER for that
    // occurrence reaches Alice, whose phone shows Bob's proposal.
    let respond = |phone: &mut common::TestDevice,
                   event: &str,
                   answer: &str,
                   instance: Option<&str>,
                   proposal: Option<(&str, &str)>| {
        meeting_response(phone, |r| {
            r.push_text(mr::USER_RESPONSE, answer)
                .push_text(mr::COLLECTION_ID, b_cal.to_string())
                .push_text(mr::REQUEST_ID, event);
            if let Some(instance) = instance {
                r.push_text(mr::INSTANCE_ID, instance);
            }
            let send = r.push(Element::new(mr::SEND_RESPONSE));
            send.push(Element::new(airsyncbase::BODY))
                .push_text(airsyncbase::TYPE, "1")
                .push_text(airsyncbase::DATA, "Could we start later?");
            if let Some((start, end)) = proposal {
                send.push_text(mr::PROPOSED_START_TIME, start)
                    .push_text(mr::PROPOSED_END_TIME, end);
            }
        })
    };
    let proposal = Some(("20250609T120000Z", "20250609T130000Z"));
    let result = respond(&mut b_phone, &open, "2", Some(SECOND), proposal);
    assert_eq!(
        text(&result, mr::STATUS).as_deref(),
        Some("1"),
        "{result:?}"
    );
    assert_eq!(text(&result, mr::CALENDAR_ID), Some(open.clone()));
    let (_, record) = f
        .store
        .record_item(f.bob, open.parse().unwrap())
        .unwrap()
        .unwrap();
    let Some(Property::Groups(exceptions)) = record.get("Exceptions") else {
        panic!("an exception for the occurrence: {record:?}");
    };
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0].int("ResponseType"), Some(2));
    assert_eq!(
        record.int("ResponseType"),
        Some(5),
        "the series is unanswered"
    );
    let alice_inbox = folder(&f.store, f.alice, FolderType::Inbox);
    let counter = last_mail(&f.store, f.alice, alice_inbox);
    for expected in [
        "METHOD:COUNTER",
        "RECURRENCE-ID;TZID=Europe/Berlin:20250609T100000",
        "DTSTART;TZID=Europe/Berlin:20250609T140000",
        "PARTSTAT=TENTATIVE",
        "COMMENT:Could we start later?",
        "Subject: New Time Proposed: Garden planning",
    ] {
        assert!(counter.contains(expected), "{expected} in {counter}");
    }
    let (ka, got) = pull(&mut a_phone, &ka, a_cal);
    let open_alice = got
        .iter()
        .find(|c| text(data(c), cal::UID).as_deref() == Some("open-1"))
        .expect("Alice's meeting changed");
    // The answer is about the second occurrence: it shows there, the series is unanswered.
    let series_bob = attendee(data(open_alice), BOB);
    assert_ne!(
        text(&series_bob, cal::ATTENDEE_STATUS).as_deref(),
        Some("2")
    );
    let second = occurrence(data(open_alice), SECOND);
    let bob = attendee(&second, BOB);
    assert_eq!(text(&bob, cal::ATTENDEE_STATUS).as_deref(), Some("2"));
    assert_eq!(
        text(&bob, mr::PROPOSED_START_TIME).as_deref(),
        Some("20250609T120000Z")
    );

    // Declining one occurrence takes it out of Bob's series; the REPLY names it.
    let third = "2025-06-16T08:00:00.000Z";
    let result = respond(&mut b_phone, &open, "3", Some(third), None);
    assert_eq!(text(&result, mr::STATUS).as_deref(), Some("1"));
    assert!(result.child(mr::CALENDAR_ID).is_none());
    let (_, record) = f
        .store
        .record_item(f.bob, open.parse().unwrap())
        .unwrap()
        .expect("the series stays");
    let Some(Property::Groups(exceptions)) = record.get("Exceptions") else {
        panic!("{record:?}");
    };
    assert!(
        exceptions
            .iter()
            .any(|e| e.int("Deleted") == Some(1)
                && e.int("ExceptionStartTime") == Some(1_750_060_800))
    );
    let reply = last_mail(&f.store, f.alice, alice_inbox);
    assert!(reply.contains("METHOD:REPLY"), "{reply}");
    assert!(reply.contains("PARTSTAT=DECLINED"), "{reply}");
    assert!(
        reply.contains("RECURRENCE-ID;TZID=Europe/Berlin:20250616T100000"),
        "{reply}"
    );
    let (ka, got) = pull(&mut a_phone, &ka, a_cal);
    let open_alice = data(&got[0]);
    let declined = attendee(&occurrence(open_alice, third), BOB);
    assert_eq!(text(&declined, cal::ATTENDEE_STATUS).as_deref(), Some("4"));
    assert_ne!(
        text(&attendee(open_alice, BOB), cal::ATTENDEE_STATUS).as_deref(),
        Some("4")
    );

    // The organizer disallowed new times: the proposal is dropped, a plain REPLY goes.
    let result = respond(&mut b_phone, &fixed, "2", None, proposal);
    assert_eq!(text(&result, mr::STATUS).as_deref(), Some("1"));
    let reply = last_mail(&f.store, f.alice, alice_inbox);
    assert!(reply.contains("METHOD:REPLY"), "{reply}");
    assert!(!reply.contains("COUNTER"), "{reply}");
    let (ka, got) = pull(&mut a_phone, &ka, a_cal);
    let fixed_alice = got
        .iter()
        .find(|c| text(data(c), cal::UID).as_deref() == Some("fixed-1"))
        .expect("Alice's meeting changed");
    let alice_fixed = server_id(fixed_alice);
    let bob = attendee(data(fixed_alice), BOB);
    assert_eq!(text(&bob, cal::ATTENDEE_STATUS).as_deref(), Some("2"));
    assert!(bob.child(mr::PROPOSED_START_TIME).is_none());

    // Bad requests: a proposal with an accept, half a proposal, an instance of the wrong
    // form, the wrong collection.
    let accept_with_time = respond(&mut b_phone, &open, "1", None, proposal);
    assert_eq!(text(&accept_with_time, mr::STATUS).as_deref(), Some("2"));
    let bad_instance = respond(&mut b_phone, &open, "1", Some("next week"), None);
    assert_eq!(text(&bad_instance, mr::STATUS).as_deref(), Some("2"));
    let half = meeting_response(&mut b_phone, |r| {
        r.push_text(mr::USER_RESPONSE, "2")
            .push_text(mr::COLLECTION_ID, b_cal.to_string())
            .push_text(mr::REQUEST_ID, &open);
        r.push(Element::new(mr::SEND_RESPONSE))
            .push_text(mr::PROPOSED_START_TIME, "20250609T120000Z");
    });
    assert_eq!(text(&half, mr::STATUS).as_deref(), Some("2"));
    let b_inbox = folder(&f.store, f.bob, FolderType::Inbox);
    let wrong_folder = meeting_response(&mut b_phone, |r| {
        r.push_text(mr::USER_RESPONSE, "1")
            .push_text(mr::COLLECTION_ID, b_inbox.to_string())
            .push_text(mr::REQUEST_ID, &open);
    });
    assert_eq!(text(&wrong_folder, mr::STATUS).as_deref(), Some("2"));
    // Alice does not answer her own meeting.
    let own = meeting_response(&mut a_phone, |r| {
        r.push_text(mr::USER_RESPONSE, "1")
            .push_text(mr::COLLECTION_ID, a_cal.to_string())
            .push_text(mr::REQUEST_ID, &alice_fixed);
    });
    assert_eq!(text(&own, mr::STATUS).as_deref(), Some("2"));

    // Alice cancels the fixed meeting (MeetingStatus 5): Bob's copy is cancelled.
    let answer = send(
        &mut a_phone,
        &ka,
        a_cal,
        vec![change(&alice_fixed, |d| {
            meeting(d, START, END, &[(BOB, "Bob")]);
            d.push_text(cal::DISALLOW_NEW_TIME_PROPOSAL, "1");
            d.children.retain(
                |c| !matches!(c, easd::wbxml::Node::Element(e) if e.tag == cal::MEETING_STATUS),
            );
            d.push_text(cal::MEETING_STATUS, "5");
        })],
    );
    assert_eq!(status(&answer), "1", "{answer:?}");
    let (_, record) = f
        .store
        .record_item(f.bob, fixed.parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.int("MeetingStatus"), Some(7));
    let cancel = last_mail(&f.store, f.bob, folder(&f.store, f.bob, FolderType::Inbox));
    assert!(cancel.contains("METHOD:CANCEL"), "{cancel}");
}

/// The exception of the occurrence `instance` in a 16.x event.
fn occurrence(data: &Element, instance: &str) -> Element {
    data.child(cal::EXCEPTIONS)
        .and_then(|e| {
            e.children_with(cal::EXCEPTION)
                .find(|x| text(x, airsyncbase::INSTANCE_ID).as_deref() == Some(instance))
        })
        .cloned()
        .unwrap_or_else(|| panic!("an exception for {instance} in {data:?}"))
}

/// The newest message in a folder, as text.
fn last_mail(store: &Store, user: i64, folder: i64) -> String {
    let last = store
        .items_in_window(user, folder, None)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .max()
        .expect("a message");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut store.open_raw(user, last).unwrap(), &mut raw).unwrap();
    String::from_utf8_lossy(&raw).replace("\r\n ", "")
}

/// Alice's invitation to Rita, refused once by the MTA (which still refuses), waiting in the
/// outbox under `backoff` (`EASD_OUTBOX_BACKOFF`).
fn a_refused_invitation_waiting(backoff: &str) -> Family {
    let f = family_with_env(&[("EASD_OUTBOX_BACKOFF", backoff)]);
    f.recorder.set_failing(true);
    alice_invites(&f);
    wait_until("a refused attempt", || {
        f.store
            .queued_mails()
            .unwrap()
            .first()
            .is_some_and(|m| m.attempts >= 1)
    });
    f
}

#[test]
fn mail_the_administrator_retries_is_sent_at_once() {
    // A refused invitation waits an hour; `easd outbox retry` tells the running server, which
    // sends it without waiting for a request or its once-a-minute look at the outbox.
    let f = a_refused_invitation_waiting("3600,3600,7200,1");
    f.recorder.set_failing(false);
    let id = f.store.queued_mails().unwrap()[0].id.to_string();
    let out = f.server.easd(&["outbox", "retry", &id]);
    assert!(out.status.success(), "{out:?}");
    // Well under the minute after which the server would look anyway.
    wait_within("the retried invitation sent", 20, || {
        f.recorder.count() == 1
    });
    wait_until("the outbox emptied", || {
        f.store.queued_mails().unwrap().is_empty()
    });
}

#[test]
fn the_administrator_lists_and_drops_waiting_mail() {
    // A refused invitation waits an hour for its next attempt.
    let f = a_refused_invitation_waiting("3600,3600,7200,1");
    let id = f.store.queued_mails().unwrap()[0].id.to_string();
    let out = f.server.easd(&["outbox", "list"]);
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.starts_with(&format!("{id}  {ALICE} -> {REMOTE}")),
        "{listed}"
    );
    assert!(listed.contains("1 attempt(s)"), "{listed}");
    assert!(listed.contains("relay refused"), "{listed}");

    let out = f.server.easd(&["outbox", "drop", &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(f.store.queued_mails().unwrap().is_empty());
    let out = f.server.easd(&["outbox", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "the outbox is empty\n"
    );
    // Unknown ids are refused (EX_NOINPUT).
    let out = f.server.easd(&["outbox", "retry", &id]);
    assert_eq!(out.status.code(), Some(66), "{out:?}");
    assert_eq!(f.recorder.count(), 0);
}
