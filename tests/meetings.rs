//! Meeting mail (iMIP) through the real server: an invitation from outside delivered by
//! `easd deliver` becomes a tentative event on the phone (zone, recurrence, EXDATE, attendees,
//! organizer); a newer SEQUENCE updates it and an older one does not; CANCEL marks it
//! cancelled; a REPLY updates the organizer's attendee; an invitation sent with SendMail from
//! one user of the server to another reaches the other's calendar with no mail system.

mod class_sync;
mod common;

use class_sync::*;
use easd::store::FolderType;
use easd::wbxml::tag::{airsync, calendar as cal, compose_mail as cm, meeting_response as mr};
use easd::wbxml::Element;

const BOB: &str = "bob@example.com";

fn invitation(method: &str, sequence: u32, start: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: Olga <olga@remote.example>\r\nTo: {ALICE}\r\nSubject: Invitation: Planning\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nYou are invited.\r\n--b\r\n\
Content-Type: text/calendar; charset=utf-8; method={method}\r\n\r\n\
BEGIN:VCALENDAR\r\nPRODID:-//Example//Remote//EN\r\nVERSION:2.0\r\nMETHOD:{method}\r\n\
BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n\
DTEND;TZID=Europe/Berlin:{start_end}\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20250317T090000\r\n\
ORGANIZER;CN=Olga:mailto:olga@remote.example\r\nUID:planning-1@remote.example\r\n\
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;CN=Alice:mailto:{ALICE}\r\n\
ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Pat:mailto:pat@remote.example\r\n\
SEQUENCE:{sequence}\r\nSUMMARY:Planning\r\nLOCATION:Room 1\r\nDESCRIPTION:Agenda\\nfollows\r\n\
{extra}END:VEVENT\r\nEND:VCALENDAR\r\n--b--\r\n",
        start_end = start.replace("T09", "T10"),
    )
    .into_bytes()
}

/// Answers one meeting request: the Result element.
fn respond(
    phone: &mut common::TestDevice,
    answer: &str,
    collection: i64,
    request_id: &str,
    send_response: bool,
) -> Element {
    meeting_response(phone, |one| {
        one.push_text(mr::USER_RESPONSE, answer)
            .push_text(mr::COLLECTION_ID, collection.to_string())
            .push_text(mr::REQUEST_ID, request_id);
        if send_response {
            one.push(Element::new(mr::SEND_RESPONSE));
        }
    })
}

#[test]
fn an_invitation_from_outside_becomes_a_tentative_event_and_follows_updates_and_cancel() {
    let (server, store, user) = start();
    let calendar = folder(&store, user, FolderType::Calendar);
    let mut phone = phone(&server, "phone", "16.1");
    let k = first_key(&mut phone, calendar, |_| {});

    server.deliver(ALICE, &invitation("REQUEST", 1, "20250310T090000", ""));
    let (k, got) = pull(&mut phone, &k, calendar);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::ADD);
    let d = data(&got[0]);
    assert_eq!(text(d, cal::SUBJECT).as_deref(), Some("Planning"));
    // 09:00 in Berlin (CET) is 08:00 UTC.
    assert_eq!(
        text(d, cal::START_TIME).as_deref(),
        Some("20250310T080000Z")
    );
    assert_eq!(text(d, cal::END_TIME).as_deref(), Some("20250310T090000Z"));
    assert_eq!(text(d, cal::MEETING_STATUS).as_deref(), Some("3"));
    assert_eq!(text(d, cal::BUSY_STATUS).as_deref(), Some("1"));
    assert_eq!(text(d, cal::RESPONSE_TYPE).as_deref(), Some("5"));
    assert_eq!(text(d, cal::RESPONSE_REQUESTED).as_deref(), Some("1"));
    assert_eq!(
        text(d, cal::ORGANIZER_EMAIL).as_deref(),
        Some("olga@remote.example")
    );
    assert_eq!(
        text(d, cal::UID).as_deref(),
        Some("planning-1@remote.example")
    );
    // The zone travels as a blob naming the Windows zone, with Berlin's offsets.
    let blob = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text(d, cal::TIMEZONE).unwrap())
            .unwrap()
    };
    let info = easd::calendar::tz::TimeZoneInfo::from_blob(&blob).unwrap();
    assert_eq!(info.standard_name, "W. Europe Standard Time");
    assert_eq!((info.bias, info.daylight_bias), (-60, -60));
    let r = d.child(cal::RECURRENCE).unwrap();
    assert_eq!(text(r, cal::TYPE).as_deref(), Some("1"));
    assert_eq!(text(r, cal::DAY_OF_WEEK).as_deref(), Some("2"));
    assert_eq!(text(r, cal::OCCURRENCES).as_deref(), Some("10"));
    let exceptions = exceptions(d);
    assert_eq!(exceptions.len(), 1);
    assert_eq!(text(&exceptions[0], cal::DELETED).as_deref(), Some("1"));
    let attendees = attendees(d);
    assert_eq!(attendees.len(), 2);
    assert_eq!(
        text(&attendees[1], cal::ATTENDEE_STATUS).as_deref(),
        Some("3")
    );
    assert_eq!(
        text(&attendees[1], cal::ATTENDEE_TYPE).as_deref(),
        Some("2")
    );

    // A newer SEQUENCE moves it; an older one arriving late changes nothing.
    server.deliver(ALICE, &invitation("REQUEST", 4, "20250311T090000", ""));
    server.deliver(ALICE, &invitation("REQUEST", 2, "20250312T090000", ""));
    let (k, got) = pull(&mut phone, &k, calendar);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::CHANGE);
    assert_eq!(
        text(data(&got[0]), cal::START_TIME).as_deref(),
        Some("20250311T080000Z")
    );

    // CANCEL: the meeting is marked cancelled and free.
    server.deliver(
        ALICE,
        &invitation("CANCEL", 5, "20250311T090000", "STATUS:CANCELLED\r\n"),
    );
    let (_, got) = pull(&mut phone, &k, calendar);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(text(d, cal::MEETING_STATUS).as_deref(), Some("7"));
    assert_eq!(text(d, cal::BUSY_STATUS).as_deref(), Some("0"));
    // The mails themselves are in the Inbox.
    let inbox = folder(&store, user, FolderType::Inbox);
    assert_eq!(store.items_in_window(user, inbox, None).unwrap().len(), 4);
}

#[test]
fn a_reply_updates_the_organizers_attendee_and_local_invitations_need_no_mail_system() {
    let recorder = common::SendmailRecorder::new();
    let server = common::TestServer::start_with(&recorder.config());
    server.add_user(ALICE);
    server.add_user(BOB);
    let store = easd::store::Store::open(&server.db).unwrap();
    let alice = store.user_by_email(ALICE).unwrap().unwrap().id;
    let bob = store.user_by_email(BOB).unwrap().unwrap().id;

    // Alice's phone sends Bob an invitation (the client sends iMIP below 16.0).
    let mut alice_phone = phone(&server, "alice-phone", "14.1");
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//EN\r\nMETHOD:REQUEST\r\n\
BEGIN:VEVENT\r\nUID:dinner-7\r\nDTSTART:20250601T170000Z\r\nDTEND:20250601T190000Z\r\n\
SUMMARY:Dinner\r\nORGANIZER;CN=Alice:mailto:{ALICE}\r\n\
ATTENDEE;PARTSTAT=NEEDS-ACTION;CN=Bob:mailto:{BOB}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let mime = format!(
        "From: {ALICE}\r\nTo: {BOB}\r\nSubject: Dinner\r\nMIME-Version: 1.0\r\n\
Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n{ics}"
    );
    let mut doc = Element::new(cm::SEND_MAIL);
    doc.push_text(cm::CLIENT_ID, "invite-1");
    doc.push_opaque(cm::MIME, mime.into_bytes());
    let response = alice_phone.command("SendMail", Some(&doc));
    assert_eq!(response.status(), 200);
    assert_eq!(
        recorder.count(),
        0,
        "a local invitation needs no mail system"
    );

    let bob_calendar = folder(&store, bob, FolderType::Calendar);
    let events = store.folder_records(bob, bob_calendar).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.text("Subject"), Some("Dinner"));
    assert_eq!(events[0].1.int("MeetingStatus"), Some(3));

    // Alice's own calendar holds the meeting she organizes (her phone added it).
    let alice_calendar = folder(&store, alice, FolderType::Calendar);
    let k = first_key(&mut alice_phone, alice_calendar, |_| {});
    let answer = send(
        &mut alice_phone,
        &k,
        alice_calendar,
        vec![add("dinner", |d| {
            d.push_text(cal::SUBJECT, "Dinner")
                .push_text(cal::START_TIME, "20250601T170000Z")
                .push_text(cal::END_TIME, "20250601T190000Z")
                .push_text(cal::UID, "dinner-7")
                .push_text(cal::MEETING_STATUS, "1");
            d.push(Element::new(cal::ATTENDEES))
                .push(Element::new(cal::ATTENDEE))
                .push_text(cal::EMAIL, BOB)
                .push_text(cal::NAME, "Bob")
                .push_text(cal::ATTENDEE_STATUS, "5")
                .push_text(cal::ATTENDEE_TYPE, "1");
        })],
    );
    added_id(&answer);
    let k = key(&answer);

    // Bob's 16.1 phone accepts from his calendar; the server delivers the REPLY straight to
    // Alice (no submission), and her event shows Bob as accepted.
    let mut bob_phone = server.device(BOB, "bob-phone");
    bob_phone.version = "16.1".into();
    let result = respond(
        &mut bob_phone,
        "1",
        bob_calendar,
        &events[0].0.to_string(),
        true,
    );
    assert_eq!(
        text(&result, mr::STATUS).as_deref(),
        Some("1"),
        "{result:?}"
    );
    assert_eq!(recorder.count(), 0);
    let (k, got) = pull(&mut alice_phone, &k, alice_calendar);
    assert_eq!(got.len(), 1, "{got:?}");
    let attendee = data(&got[0])
        .child(cal::ATTENDEES)
        .and_then(|a| a.child(cal::ATTENDEE))
        .cloned()
        .unwrap();
    assert_eq!(text(&attendee, cal::ATTENDEE_STATUS).as_deref(), Some("3"));

    // A REPLY from outside (declined, by mail) changes the status again.
    let reply = format!(
        "From: {BOB}\r\nTo: {ALICE}\r\nSubject: Accepted: Dinner\r\nMIME-Version: 1.0\r\n\
Content-Type: text/calendar; method=REPLY; charset=utf-8\r\n\r\n\
BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//EN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n\
UID:dinner-7\r\nDTSTART:20250601T170000Z\r\nORGANIZER:mailto:{ALICE}\r\n\
ATTENDEE;PARTSTAT=DECLINED:mailto:{BOB}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    server.deliver(ALICE, reply.as_bytes());
    let (_, got) = pull(&mut alice_phone, &k, alice_calendar);
    assert_eq!(got.len(), 1, "{got:?}");
    let attendee = data(&got[0])
        .child(cal::ATTENDEES)
        .and_then(|a| a.child(cal::ATTENDEE))
        .cloned()
        .unwrap();
    assert_eq!(text(&attendee, cal::EMAIL).as_deref(), Some(BOB));
    assert_eq!(text(&attendee, cal::ATTENDEE_STATUS).as_deref(), Some("4"));
}

#[test]
fn accepting_from_the_inbox_sends_the_reply_through_submission_from_16_0_only() {
    let recorder = common::SendmailRecorder::new();
    let server = common::TestServer::start_with(&recorder.config());
    server.add_user(ALICE);
    let store = easd::store::Store::open(&server.db).unwrap();
    let user = store.user_by_email(ALICE).unwrap().unwrap().id;
    let inbox = folder(&store, user, FolderType::Inbox);
    let calendar = folder(&store, user, FolderType::Calendar);
    server.deliver(ALICE, &invitation("REQUEST", 1, "20250310T090000", ""));
    let mail = store.items_in_window(user, inbox, None).unwrap()[0].id;

    // The mail reaches phones with its MeetingRequest: times, recurrence, zone, GlobalObjId.
    for (version, has_message_type) in [("16.1", true), ("12.1", false)] {
        let mut reader = phone(&server, &format!("reader{version}"), version);
        let got = pull_all(&mut reader, inbox);
        assert_eq!(got.len(), 1);
        let d = data(&got[0]);
        assert_eq!(
            text(d, easd::wbxml::tag::email::MESSAGE_CLASS).as_deref(),
            Some("IPM.Schedule.Meeting.Request")
        );
        use easd::wbxml::tag::{email as em, email2 as em2};
        let meeting = d.child(em::MEETING_REQUEST).expect("MeetingRequest");
        assert_eq!(
            text(meeting, em::START_TIME).as_deref(),
            Some("2025-03-10T08:00:00.000Z")
        );
        assert_eq!(text(meeting, em::INSTANCE_TYPE).as_deref(), Some("1"));
        assert_eq!(
            text(meeting, em::ORGANIZER).as_deref(),
            Some("\"Olga\" <olga@remote.example>")
        );
        let recurrence = meeting
            .child(em::RECURRENCES)
            .and_then(|r| r.child(em::RECURRENCE))
            .expect("Recurrence");
        assert_eq!(text(recurrence, em::TYPE).as_deref(), Some("1"));
        assert_eq!(text(recurrence, em::OCCURRENCES).as_deref(), Some("10"));
        use base64::Engine;
        let id = base64::engine::general_purpose::STANDARD
            .decode(text(meeting, em::GLOBAL_OBJ_ID).unwrap())
            .unwrap();
        assert!(id
            .windows(b"planning-1@remote.example".len())
            .any(|w| w == b"planning-1@remote.example"));
        assert!(text(meeting, em::TIME_ZONE).is_some());
        assert_eq!(
            meeting.child(em2::MEETING_MESSAGE_TYPE).is_some(),
            has_message_type
        );
    }

    // A 16.1 phone accepts the mail and asks the server to answer: Olga gets a REPLY.
    let mut phone16 = phone(&server, "p16", "16.1");
    let result = respond(&mut phone16, "1", inbox, &mail.to_string(), true);
    assert_eq!(
        text(&result, mr::STATUS).as_deref(),
        Some("1"),
        "{result:?}"
    );
    let event = text(&result, mr::CALENDAR_ID).expect("CalendarId");
    recorder.wait_for_count(1);
    assert_eq!(recorder.count(), 1);
    assert!(recorder.args(0).iter().any(|a| a == "olga@remote.example"));
    let reply = recorder.sent_text(0);
    assert!(reply.contains("METHOD:REPLY"), "{reply}");
    assert!(reply.contains("UID:planning-1@remote.example"), "{reply}");
    assert!(
        reply.contains(&format!("ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ALICE}")),
        "{reply}"
    );
    assert!(reply.contains("Subject: Accepted: Planning"), "{reply}");
    let (_, record) = store
        .record_item(user, event.parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.int("ResponseType"), Some(3));
    assert_eq!(record.int("BusyStatus"), Some(2));

    // A 14.1 phone changes its mind to tentative on the event itself: the client mails the
    // organizer itself below 16.0, so the server sends nothing.
    let mut phone14 = phone(&server, "p14", "14.1");
    let result = respond(&mut phone14, "2", calendar, &event, true);
    assert_eq!(text(&result, mr::STATUS).as_deref(), Some("1"));
    assert_eq!(text(&result, mr::CALENDAR_ID), Some(event.clone()));
    assert!(store.queued_mails().unwrap().is_empty());
    assert_eq!(recorder.count(), 1);
    let (_, record) = store
        .record_item(user, event.parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.int("ResponseType"), Some(2));
    assert_eq!(record.int("BusyStatus"), Some(1));

    // Declining removes the meeting from the calendar; no CalendarId comes back.
    let result = respond(&mut phone16, "3", inbox, &mail.to_string(), true);
    assert_eq!(text(&result, mr::STATUS).as_deref(), Some("1"));
    assert!(result.child(mr::CALENDAR_ID).is_none());
    assert!(store.folder_records(user, calendar).unwrap().is_empty());
    recorder.wait_for_count(2);
    assert_eq!(recorder.count(), 2);
    assert!(recorder.sent_text(1).contains("PARTSTAT=DECLINED"));

    // Not a meeting, no such item, no such answer: Status 2.
    let plain = b"From: x@example.org\r\nTo: alice@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
    server.deliver(ALICE, plain);
    let plain_id = store
        .items_in_window(user, inbox, None)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .max()
        .unwrap();
    for (answer, id) in [
        ("1", plain_id.to_string()),
        ("1", "999999".into()),
        ("7", mail.to_string()),
    ] {
        let result = respond(&mut phone16, answer, inbox, &id, false);
        assert_eq!(text(&result, mr::STATUS).as_deref(), Some("2"), "{id}");
    }
}

#[test]
fn an_answer_the_mta_refused_is_kept_and_its_reply_sent_when_the_mta_is_back() {
    let recorder = common::SendmailRecorder::new();
    recorder.set_failing(true);
    let server = common::TestServer::start_with_env(
        &recorder.config(),
        &[("EASD_OUTBOX_BACKOFF", "1,1,3600,1")],
    );
    server.add_user(ALICE);
    let store = easd::store::Store::open(&server.db).unwrap();
    let user = store.user_by_email(ALICE).unwrap().unwrap().id;
    let inbox = folder(&store, user, FolderType::Inbox);
    server.deliver(ALICE, &invitation("REQUEST", 1, "20250310T090000", ""));
    let mail = store.items_in_window(user, inbox, None).unwrap()[0].id;
    let mut phone16 = phone(&server, "p16", "16.1");
    // The answer is recorded and its REPLY queued with it, whatever the mail system says.
    let result = respond(&mut phone16, "1", inbox, &mail.to_string(), true);
    assert_eq!(
        text(&result, mr::STATUS).as_deref(),
        Some("1"),
        "{result:?}"
    );
    let queued = store.queued_mails().unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].recipients, ["olga@remote.example"]);
    assert_eq!(queued[0].sender, ALICE);

    recorder.set_failing(false);
    recorder.wait_for_count(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !store.queued_mails().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "still queued");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(recorder.count(), 1);
    assert!(recorder.sent_text(0).contains("METHOD:REPLY"));
}
