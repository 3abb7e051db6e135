//! Calendar (MS-ASCAL) through the real server: a 16.1 and a 12.1 phone on the same events —
//! every property, attendees, the TimeZone blob, recurrence, exceptions written the 12.1 way
//! (Exceptions) and the 16.1 way (InstanceId Change and Delete of one occurrence), deletes;
//! FilterType with old recurring series; calendars created with FolderCreate type 13. Every
//! answer is also decoded by libwbxml where installed.

mod class_sync;
mod common;

use class_sync::*;
use easd::clock::eas_compact_datetime as compact;
use easd::store::FolderType;
use easd::wbxml::tag::{airsync, airsyncbase as base, calendar as cal};
use easd::wbxml::Element;

/// A TIME_ZONE_INFORMATION blob (W. Europe: UTC+1, DST from the last Sunday of March to the
/// last Sunday of October), base64 as phones send it.
fn berlin_blob() -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    blob.extend_from_slice(&(-60i32).to_le_bytes());
    let name = |text: &str| {
        let mut bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        bytes.resize(64, 0);
        bytes
    };
    let date = |month: u16, hour: u16| {
        [0u16, month, 0, 5, hour, 0, 0, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    blob.extend(name("W. Europe Standard Time"));
    blob.extend(date(10, 3));
    blob.extend_from_slice(&0i32.to_le_bytes());
    blob.extend(name("W. Europe Daylight Time"));
    blob.extend(date(3, 2));
    blob.extend_from_slice(&(-60i32).to_le_bytes());
    assert_eq!(blob.len(), 172);
    base64::engine::general_purpose::STANDARD.encode(blob)
}

const START: i64 = 1_735_889_400; // 2025-01-03 07:30 UTC, a Friday
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// A weekly meeting on Fridays with two attendees, as a 16.1 phone writes it.
fn standup_16(d: &mut Element) {
    d.push_text(cal::TIMEZONE, berlin_blob())
        .push_text(cal::ALL_DAY_EVENT, "0");
    d.push(Element::new(base::BODY))
        .push_text(base::TYPE, "1")
        .push_text(base::DATA, "Bring the numbers.");
    d.push_text(cal::BUSY_STATUS, "2")
        .push_text(cal::ORGANIZER_NAME, "Alice")
        .push_text(cal::ORGANIZER_EMAIL, ALICE)
        .push_text(cal::DT_STAMP, compact(START - DAY))
        .push_text(cal::END_TIME, compact(START + HOUR));
    d.push(Element::new(base::LOCATION))
        .push_text(base::DISPLAY_NAME, "Room 4")
        .push_text(base::CITY, "Berlin");
    d.push_text(cal::REMINDER, "15")
        .push_text(cal::SENSITIVITY, "0")
        .push_text(cal::SUBJECT, "Standup")
        .push_text(cal::START_TIME, compact(START))
        .push_text(cal::MEETING_STATUS, "1");
    let attendees = d.push(Element::new(cal::ATTENDEES));
    for (email, name, status, kind) in [
        ("bob@example.com", "Bob", "3", "1"),
        ("carol@example.net", "Carol", "5", "2"),
    ] {
        attendees
            .push(Element::new(cal::ATTENDEE))
            .push_text(cal::EMAIL, email)
            .push_text(cal::NAME, name)
            .push_text(cal::ATTENDEE_STATUS, status)
            .push_text(cal::ATTENDEE_TYPE, kind);
    }
    d.push(Element::new(cal::CATEGORIES))
        .push_text(cal::CATEGORY, "Work");
    d.push(Element::new(cal::RECURRENCE))
        .push_text(cal::TYPE, "1")
        .push_text(cal::INTERVAL, "1")
        .push_text(cal::DAY_OF_WEEK, "32")
        .push_text(cal::FIRST_DAY_OF_WEEK, "1");
    d.push_text(cal::RESPONSE_REQUESTED, "1")
        .push_text(cal::DISALLOW_NEW_TIME_PROPOSAL, "0")
        .push_text(
            cal::ONLINE_MEETING_EXTERNAL_LINK,
            "https://meet.example.com/standup",
        )
        .push_text(cal::CLIENT_UID, "uid-standup-1");
}

#[test]
fn a_16_1_and_a_12_1_phone_share_one_recurring_meeting_and_its_exceptions() {
    let (server, store, user) = start();
    let calendar = folder(&store, user, FolderType::Calendar);
    let mut a = phone(&server, "a16", "16.1");
    let mut b = phone(&server, "b12", "12.1");
    let ka = first_key(&mut a, calendar, |_| {});
    let kb = first_key(&mut b, calendar, |_| {});
    let answer = send(&mut a, &ka, calendar, vec![add("c1", standup_16)]);
    let id = added_id(&answer);
    let ka = key(&answer);

    // The 12.1 phone reads it the 12.1 way: Location as text, no 14.x+ fields.
    let (kb, got) = pull(&mut b, &kb, calendar);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(text(d, cal::SUBJECT).as_deref(), Some("Standup"));
    assert_eq!(
        text(d, cal::START_TIME).as_deref(),
        Some("20250103T073000Z")
    );
    assert_eq!(text(d, cal::END_TIME).as_deref(), Some("20250103T083000Z"));
    assert_eq!(text(d, cal::TIMEZONE), Some(berlin_blob()));
    assert_eq!(text(d, cal::LOCATION).as_deref(), Some("Room 4"));
    assert!(d.child(base::LOCATION).is_none());
    assert_eq!(text(d, cal::UID).as_deref(), Some("uid-standup-1"));
    assert_eq!(text(d, cal::ORGANIZER_EMAIL).as_deref(), Some(ALICE));
    assert_eq!(text(d, cal::MEETING_STATUS).as_deref(), Some("1"));
    assert_eq!(text(d, cal::REMINDER).as_deref(), Some("15"));
    assert_eq!(text(d, cal::BUSY_STATUS).as_deref(), Some("2"));
    assert!(d.child(cal::RESPONSE_REQUESTED).is_none());
    assert!(d.child(cal::CLIENT_UID).is_none());
    let attendees = attendees(d);
    assert_eq!(attendees.len(), 2);
    assert_eq!(
        text(&attendees[1], cal::EMAIL).as_deref(),
        Some("carol@example.net")
    );
    assert_eq!(
        text(&attendees[1], cal::ATTENDEE_STATUS).as_deref(),
        Some("5")
    );
    assert_eq!(
        text(&attendees[1], cal::ATTENDEE_TYPE).as_deref(),
        Some("2")
    );
    let r = d.child(cal::RECURRENCE).unwrap();
    assert_eq!(text(r, cal::TYPE).as_deref(), Some("1"));
    assert_eq!(text(r, cal::DAY_OF_WEEK).as_deref(), Some("32"));
    assert!(r.child(cal::FIRST_DAY_OF_WEEK).is_none());
    assert_eq!(
        d.child(base::BODY)
            .and_then(|b| b.child_text(base::DATA))
            .as_deref(),
        Some("Bring the numbers.")
    );

    // The 12.1 phone moves the second occurrence an hour later and deletes the third: it
    // sends the whole event with its Exceptions.
    let moved_start = START + WEEK + HOUR;
    let answer = send(
        &mut b,
        &kb,
        calendar,
        vec![change(&id, |c| {
            for node in &d.children {
                if let easd::wbxml::Node::Element(e) = node {
                    c.push(e.clone());
                }
            }
            let list = c.push(Element::new(cal::EXCEPTIONS));
            list.push(Element::new(cal::EXCEPTION))
                .push_text(cal::EXCEPTION_START_TIME, compact(START + WEEK))
                .push_text(cal::START_TIME, compact(moved_start))
                .push_text(cal::END_TIME, compact(moved_start + HOUR))
                .push_text(cal::SUBJECT, "Standup (late)");
            list.push(Element::new(cal::EXCEPTION))
                .push_text(cal::DELETED, "1")
                .push_text(cal::EXCEPTION_START_TIME, compact(START + 2 * WEEK));
        })],
    );
    assert!(response(&answer, airsync::CHANGE).is_none(), "{answer:?}");
    let kb = key(&answer);

    // The 16.1 phone gets them keyed by InstanceId, and its 16.x-only fields survived the
    // 12.1 phone's Change.
    let (ka, got) = pull(&mut a, &ka, calendar);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    let list = exceptions(d);
    assert_eq!(list.len(), 2);
    assert_eq!(
        text(&list[0], base::INSTANCE_ID).as_deref(),
        Some(easd::clock::eas_datetime(START + WEEK).as_str())
    );
    assert_eq!(
        text(&list[0], cal::SUBJECT).as_deref(),
        Some("Standup (late)")
    );
    assert!(list[0].child(cal::EXCEPTION_START_TIME).is_none());
    assert_eq!(text(&list[1], cal::DELETED).as_deref(), Some("1"));
    assert_eq!(text(d, cal::RESPONSE_REQUESTED).as_deref(), Some("1"));
    assert_eq!(
        d.child(base::LOCATION)
            .and_then(|l| l.child_text(base::DISPLAY_NAME))
            .as_deref(),
        Some("Room 4")
    );

    // The 16.1 phone changes the fourth occurrence and deletes the fifth by InstanceId.
    let mut one = change(&id, |c| {
        c.push_text(cal::SUBJECT, "Standup (remote)")
            .push_text(cal::START_TIME, compact(START + 3 * WEEK))
            .push_text(cal::END_TIME, compact(START + 3 * WEEK + 2 * HOUR));
    });
    one.children.insert(
        1,
        easd::wbxml::Node::Element(Element::with_text(
            base::INSTANCE_ID,
            easd::clock::eas_datetime(START + 3 * WEEK),
        )),
    );
    let mut gone = delete(&id);
    gone.push_text(
        base::INSTANCE_ID,
        easd::clock::eas_datetime(START + 4 * WEEK),
    );
    let answer = send(&mut a, &ka, calendar, vec![one, gone]);
    assert!(answer.child(airsync::RESPONSES).is_none(), "{answer:?}");
    let ka = key(&answer);

    // The 12.1 phone sees four exceptions on the series, which is still there.
    let (kb, got) = pull(&mut b, &kb, calendar);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].tag, airsync::CHANGE);
    let d = data(&got[0]);
    assert_eq!(text(d, cal::SUBJECT).as_deref(), Some("Standup"));
    let list = exceptions(d);
    assert_eq!(list.len(), 4);
    let fourth = list
        .iter()
        .find(|e| text(e, cal::EXCEPTION_START_TIME) == Some(compact(START + 3 * WEEK)))
        .expect("the fourth occurrence's exception");
    assert_eq!(
        text(fourth, cal::SUBJECT).as_deref(),
        Some("Standup (remote)")
    );
    assert_eq!(
        text(fourth, cal::END_TIME),
        Some(compact(START + 3 * WEEK + 2 * HOUR))
    );
    let fifth = list
        .iter()
        .find(|e| text(e, cal::EXCEPTION_START_TIME) == Some(compact(START + 4 * WEEK)))
        .expect("the fifth occurrence's exception");
    assert_eq!(text(fifth, cal::DELETED).as_deref(), Some("1"));

    // A 16.1 Change of the series without Exceptions (16.x never sends them) keeps them;
    // one that changes the recurrence drops them.
    let series = |subject: &str, interval: &str| {
        change(&id, |c| {
            standup_16(c);
            c.child_mut(cal::SUBJECT).unwrap().children =
                vec![easd::wbxml::Node::Text(subject.into())];
            c.child_mut(cal::RECURRENCE)
                .unwrap()
                .child_mut(cal::INTERVAL)
                .unwrap()
                .children = vec![easd::wbxml::Node::Text(interval.into())];
        })
    };
    let answer = send(&mut a, &ka, calendar, vec![series("Daily standup", "1")]);
    let ka = key(&answer);
    let (kb, got) = pull(&mut b, &kb, calendar);
    let d = data(&got[0]);
    assert_eq!(text(d, cal::SUBJECT).as_deref(), Some("Daily standup"));
    assert_eq!(exceptions(d).len(), 4);
    let answer = send(&mut a, &ka, calendar, vec![series("Biweekly", "2")]);
    let ka = key(&answer);
    let (kb, got) = pull(&mut b, &kb, calendar);
    let d = data(&got[0]);
    assert_eq!(exceptions(d).len(), 0, "{d:?}");

    // An InstanceId that is no date, and one on an event that does not recur: Status 6.
    let answer = send(
        &mut a,
        &ka,
        calendar,
        vec![add("single", |d| {
            d.push_text(cal::SUBJECT, "Dentist")
                .push_text(cal::START_TIME, compact(START))
                .push_text(cal::END_TIME, compact(START + HOUR));
        })],
    );
    let single = added_id(&answer);
    let ka = key(&answer);
    let mut bad = delete(&id);
    bad.push_text(base::INSTANCE_ID, "tomorrow");
    let mut not_recurring = delete(&single);
    not_recurring.push_text(base::INSTANCE_ID, easd::clock::eas_datetime(START));
    let answer = send(&mut a, &ka, calendar, vec![bad, not_recurring]);
    let statuses: Vec<String> = answer
        .child(airsync::RESPONSES)
        .unwrap()
        .children_with(airsync::DELETE)
        .map(status)
        .collect();
    assert_eq!(statuses, ["6", "6"]);
    let ka = key(&answer);

    // Deleting the series deletes it everywhere.
    let answer = send(&mut a, &ka, calendar, vec![delete(&id)]);
    assert!(answer.child(airsync::RESPONSES).is_none(), "{answer:?}");
    let (_, got) = pull(&mut b, &kb, calendar);
    let deletes: Vec<_> = got.iter().filter(|c| c.tag == airsync::DELETE).collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(text(deletes[0], airsync::SERVER_ID), Some(id));
}

#[test]
fn filter_type_keeps_events_with_an_occurrence_after_the_cutoff() {
    let (server, store, user) = start();
    let calendar = folder(&store, user, FolderType::Calendar);
    let now = easd::store::now();
    let old = now - 365 * DAY;
    let mut a = phone(&server, "writer", "14.1");
    let k = first_key(&mut a, calendar, |_| {});
    let event = |client_id: &str, subject: &str, recurrence: Option<(&str, i64)>| {
        let subject = subject.to_string();
        let recurrence = recurrence.map(|(field, value)| (field.to_string(), value));
        add(client_id, move |d| {
            d.push_text(cal::SUBJECT, subject)
                .push_text(cal::START_TIME, compact(old))
                .push_text(cal::END_TIME, compact(old + HOUR));
            if let Some((field, value)) = recurrence {
                let r = d.push(Element::new(cal::RECURRENCE));
                r.push_text(cal::TYPE, "0").push_text(cal::INTERVAL, "1");
                match field.as_str() {
                    "until" => r.push_text(cal::UNTIL, compact(value)),
                    "count" => r.push_text(cal::OCCURRENCES, value.to_string()),
                    _ => r,
                };
            }
        })
    };
    let adds = vec![
        event("past", "A year ago", None),
        event("forever", "Daily since a year ago", Some(("none", 0))),
        event(
            "until",
            "Daily until next week",
            Some(("until", now + WEEK)),
        ),
        event(
            "ended",
            "Daily until last month",
            Some(("until", now - 30 * DAY)),
        ),
        event("counted", "Ten days a year ago", Some(("count", 10))),
        add("soon", |d| {
            d.push_text(cal::SUBJECT, "Tomorrow")
                .push_text(cal::START_TIME, compact(now + DAY))
                .push_text(cal::END_TIME, compact(now + DAY + HOUR));
        }),
    ];
    let answer = send(&mut a, &k, calendar, adds);
    assert_eq!(
        answer
            .child(airsync::RESPONSES)
            .unwrap()
            .children_with(airsync::ADD)
            .filter(|a| status(a) == "1")
            .count(),
        6
    );
    let subjects = |filter: &str| {
        let mut phone = phone(&server, &format!("reader{filter}"), "16.1");
        let options = |c: &mut Element| {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::FILTER_TYPE, filter);
        };
        let k = first_key(&mut phone, calendar, options);
        let (_, got) = pull_with(&mut phone, &k, calendar, options);
        let mut subjects: Vec<String> = got
            .iter()
            .map(|c| text(data(c), cal::SUBJECT).unwrap())
            .collect();
        subjects.sort();
        subjects
    };
    assert_eq!(
        subjects("4"),
        [
            "Daily since a year ago",
            "Daily until next week",
            "Tomorrow"
        ]
    );
    assert_eq!(subjects("0").len(), 6);

    // The device setting "past-calendar: 2w" narrows a phone that asks for everything.
    let mut capped = phone(&server, "capped", "16.1");
    // Its first Sync makes the phone known, so the setting can name it.
    first_key(&mut capped, calendar, |_| {});
    let out = server.easd(&["device", "set", ALICE, "capped", "past-calendar", "2w"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (_, folders) = folder_sync(&mut capped);
    assert!(!folders.is_empty());
    let got = pull_all(&mut capped, calendar);
    assert_eq!(got.len(), 3, "{got:?}");

    // FilterType 1 (one day) is not a calendar filter: Status 4 once items are asked for.
    let mut phone = phone(&server, "bad-filter", "16.1");
    let one_day = |c: &mut Element| {
        c.push(Element::new(airsync::OPTIONS))
            .push_text(airsync::FILTER_TYPE, "1");
    };
    let k = first_key(&mut phone, calendar, one_day);
    let answer = sync_one(&mut phone, collection(&k, calendar, one_day));
    assert_eq!(status(&answer), "4", "{answer:?}");
}

#[test]
fn a_calendar_created_with_folder_create_type_13_syncs_between_phones() {
    let (server, _store, _user) = start();
    let mut a = phone(&server, "a", "16.1");
    let family = create_folder(&mut a, "Family", "13");
    let (_, folders) = folder_sync(&mut a);
    assert!(folders
        .iter()
        .any(|(id, name, kind)| *id == family.to_string() && name == "Family" && kind == "13"));
    let k = first_key(&mut a, family, |_| {});
    let answer = send(
        &mut a,
        &k,
        family,
        vec![add("bday", |d| {
            d.push_text(cal::ALL_DAY_EVENT, "1")
                .push_text(cal::SUBJECT, "Grandma's birthday")
                .push_text(cal::START_TIME, "20250612T000000Z")
                .push_text(cal::END_TIME, "20250613T000000Z");
            d.push(Element::new(cal::RECURRENCE))
                .push_text(cal::TYPE, "5")
                .push_text(cal::MONTH_OF_YEAR, "6")
                .push_text(cal::DAY_OF_MONTH, "12")
                .push_text(cal::CALENDAR_TYPE, "1")
                .push_text(cal::IS_LEAP_MONTH, "0");
        })],
    );
    added_id(&answer);

    let mut b = phone(&server, "b", "14.1");
    let (_, folders) = folder_sync(&mut b);
    assert!(folders
        .iter()
        .any(|(_, name, kind)| name == "Family" && kind == "13"));
    let got = pull_all(&mut b, family);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(text(d, cal::ALL_DAY_EVENT).as_deref(), Some("1"));
    let r = d.child(cal::RECURRENCE).unwrap();
    assert_eq!(text(r, cal::TYPE).as_deref(), Some("5"));
    assert_eq!(text(r, cal::CALENDAR_TYPE).as_deref(), Some("1"));
    assert_eq!(text(r, cal::IS_LEAP_MONTH).as_deref(), Some("0"));
    // Every event has a UID, made by the server when the phone sent none.
    assert_eq!(text(d, cal::UID).map(|u| u.len()), Some(32));
}
