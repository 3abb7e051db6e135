//! ResolveRecipients Availability through the real server: Bob's calendars (imported with
//! `easd import`, as the server stores them) give Alice his MergedFreeBusy — a weekly 09:00
//! Europe/Berlin meeting that moves from 07:00 to 08:00 UTC when daylight saving ends, one
//! occurrence deleted and one moved, a meeting he has not answered (tentative), one he
//! declined (free), an event in a second calendar. The answer carries times and levels only,
//! never a subject; people outside Alice's domain and her external contacts get "not
//! available"; bad ranges and too many recipients get the spec's statuses. Every answer is
//! also decoded by libwbxml.

mod common;

use common::{TestDevice, TestServer};
use easd::wbxml::tag::resolve_recipients as rr;
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@other.test";

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("easd-freebusy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const BOB_CALENDAR: &str = "BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//easd tests//EN\r
BEGIN:VEVENT\r
UID:standup-1\r
SUMMARY:Secret standup\r
LOCATION:Hidden room\r
DTSTART;TZID=Europe/Berlin:20261014T090000\r
DTEND;TZID=Europe/Berlin:20261014T100000\r
RRULE:FREQ=WEEKLY;BYDAY=WE;COUNT=6\r
EXDATE;TZID=Europe/Berlin:20261104T090000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:standup-1\r
SUMMARY:Secret standup, moved\r
RECURRENCE-ID;TZID=Europe/Berlin:20261111T090000\r
DTSTART;TZID=Europe/Berlin:20261111T140000\r
DTEND;TZID=Europe/Berlin:20261111T150000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:offer-1\r
SUMMARY:Unanswered offer\r
DTSTART:20261022T100000Z\r
DTEND:20261022T110000Z\r
ORGANIZER:mailto:boss@elsewhere.test\r
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:declined-1\r
SUMMARY:Declined party\r
DTSTART:20261023T180000Z\r
DTEND:20261023T220000Z\r
ORGANIZER:mailto:boss@elsewhere.test\r
ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.com\r
END:VEVENT\r
END:VCALENDAR\r
";

const BOB_WORK: &str = "BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//easd tests//EN\r
BEGIN:VEVENT\r
UID:dentist-1\r
SUMMARY:Dentist\r
DTSTART:20261028T150000Z\r
DTEND:20261028T152000Z\r
END:VEVENT\r
END:VCALENDAR\r
";

fn setup() -> TestServer {
    let server = TestServer::start();
    for user in [ALICE, BOB, CAROL] {
        server.add_user(user);
    }
    let import = |user: &str, name: &str, text: &str, folder: &[&str]| {
        let path = temp_file(name, text);
        let mut args = vec!["import", user, path.to_str().unwrap()];
        args.extend_from_slice(folder);
        let out = server.easd(&args);
        assert!(out.status.success(), "import {name}: {out:?}");
    };
    import(BOB, "bob.ics", BOB_CALENDAR, &[]);
    import(BOB, "work.ics", BOB_WORK, &["--folder", "Work"]);
    import(
        ALICE,
        "friend.vcf",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bobby Faraway\r\nN:Faraway;Bobby;;;\r\n\
         EMAIL:friend@elsewhere.test\r\nEND:VCARD\r\n",
        &[],
    );
    server
}

/// Sends ResolveRecipients with Availability; returns the answer and its raw bytes.
fn ask(device: &mut TestDevice, to: &[&str], start: &str, end: &str) -> (Element, Vec<u8>) {
    let mut doc = Element::new(rr::RESOLVE_RECIPIENTS);
    for name in to {
        doc.push_text(rr::TO, *name);
    }
    let mut options = Element::new(rr::OPTIONS);
    let mut availability = Element::new(rr::AVAILABILITY);
    availability
        .push_text(rr::START_TIME, start)
        .push_text(rr::END_TIME, end);
    options.push(availability);
    doc.push(options);
    let response = device.command("ResolveRecipients", Some(&doc));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "ResolveRecipients");
    (response.doc().clone(), response.http.body.clone())
}

fn availability_of(doc: &Element, index: usize) -> Option<Element> {
    doc.children_with(rr::RESPONSE)
        .nth(index)?
        .child(rr::RECIPIENT)?
        .child(rr::AVAILABILITY)
        .cloned()
}

/// Seconds of a `2026-mm-ddThh:mm` UTC time.
fn at(text: &str) -> i64 {
    easd::clock::parse_form_datetime(text).unwrap()
}

/// The MergedFreeBusy expected from `from` for `days` days with these (start, end, digit).
fn expected(from: &str, days: i64, busy: &[(&str, &str, char)]) -> String {
    let from = at(from);
    (0..days * 48)
        .map(|slot| {
            let (start, end) = (from + slot * 1800, from + (slot + 1) * 1800);
            busy.iter()
                .filter(|(s, e, _)| at(s) < end && at(e) > start)
                .map(|(_, _, digit)| *digit)
                .max()
                .unwrap_or('0')
        })
        .collect()
}

#[test]
fn availability_expands_bobs_calendars_across_daylight_saving_with_exceptions() {
    let server = setup();
    let mut alice = server.device(ALICE, "alice-phone");
    let (doc, body) = ask(
        &mut alice,
        &[BOB],
        "2026-10-21T00:00:00.000Z",
        "2026-11-12T00:00:00.000Z",
    );
    assert_eq!(doc.child_text(rr::STATUS).as_deref(), Some("1"));
    let availability = availability_of(&doc, 0).expect("Availability");
    assert_eq!(availability.child_text(rr::STATUS).as_deref(), Some("1"));
    let merged = availability.child_text(rr::MERGED_FREE_BUSY).unwrap();
    let want = expected(
        "2026-10-21T00:00",
        22,
        &[
            // 09:00 Berlin is 07:00 UTC in summer time …
            ("2026-10-21T07:00", "2026-10-21T08:00", '2'),
            // … an unanswered meeting is tentative …
            ("2026-10-22T10:00", "2026-10-22T11:00", '1'),
            // … (the declined party of the 23rd leaves him free) …
            // … and 08:00 UTC once daylight saving ended on the 25th.
            ("2026-10-28T08:00", "2026-10-28T09:00", '2'),
            // The dentist, in the Work calendar: 20 minutes make the slot busy.
            ("2026-10-28T15:00", "2026-10-28T15:20", '2'),
            // 4 November is deleted; 11 November moved to 14:00 Berlin.
            ("2026-11-11T13:00", "2026-11-11T14:00", '2'),
        ],
    );
    assert_eq!(merged.len(), 22 * 48);
    assert_eq!(merged, want);

    // Free/busy only: nothing of what the events are leaves the server.
    let text = String::from_utf8_lossy(&body);
    for secret in ["Secret", "standup", "Hidden", "Dentist", "offer", "boss"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }

    // A range that starts mid-slot is cut in slots from its own start.
    let (doc, _) = ask(
        &mut alice,
        &[BOB],
        "2026-10-28T07:15:00.000Z",
        "2026-10-28T09:00:00.000Z",
    );
    let short = availability_of(&doc, 0).unwrap();
    assert_eq!(
        short.child_text(rr::MERGED_FREE_BUSY).as_deref(),
        Some("0222")
    );
}

#[test]
fn availability_is_for_users_of_the_domain_and_ranges_are_checked() {
    let server = setup();
    let mut alice = server.device(ALICE, "alice-phone");
    let (doc, _) = ask(
        &mut alice,
        &[BOB, "friend@elsewhere.test", "bo"],
        "2026-10-21T00:00:00.000Z",
        "2026-10-22T00:00:00.000Z",
    );
    // Bob: his day. Alice's external contact: not available (163).
    assert_eq!(
        availability_of(&doc, 0)
            .unwrap()
            .child_text(rr::STATUS)
            .as_deref(),
        Some("1")
    );
    let external = availability_of(&doc, 1).expect("Availability");
    assert_eq!(external.child_text(rr::STATUS).as_deref(), Some("163"));
    assert!(external.child(rr::MERGED_FREE_BUSY).is_none());
    // An ambiguous name gets suggestions, never free/busy.
    let ambiguous = doc.children_with(rr::RESPONSE).nth(2).unwrap();
    assert_eq!(ambiguous.child_text(rr::STATUS).as_deref(), Some("2"));
    assert!(ambiguous
        .children_with(rr::RECIPIENT)
        .all(|r| r.child(rr::AVAILABILITY).is_none()));

    // Carol, of another domain, cannot see Bob's time even by his exact address.
    let mut carol = server.device(CAROL, "carol-phone");
    let (doc, _) = ask(
        &mut carol,
        &[BOB],
        "2026-10-21T00:00:00.000Z",
        "2026-10-22T00:00:00.000Z",
    );
    let response = doc.child(rr::RESPONSE).unwrap();
    assert!(response.children_with(rr::RECIPIENT).all(|r| r
        .child(rr::AVAILABILITY)
        .and_then(|a| a.child(rr::MERGED_FREE_BUSY))
        .is_none()));

    // Reversed, empty and longer-than-32-KB ranges, and a missing EndTime: protocol error.
    for (start, end) in [
        ("2026-10-22T00:00:00.000Z", "2026-10-21T00:00:00.000Z"),
        ("2026-10-22T00:00:00.000Z", "2026-10-22T00:00:00.000Z"),
        ("2026-01-01T00:00:00.000Z", "2028-01-01T00:00:00.000Z"),
        ("2026-10-22T00:00:00.000Z", "soon"),
    ] {
        let (doc, _) = ask(&mut alice, &[BOB], start, end);
        assert_eq!(
            doc.child_text(rr::STATUS).as_deref(),
            Some("5"),
            "{start} {end}"
        );
        assert!(doc.child(rr::RESPONSE).is_none());
    }
    // Exactly 32 KB of slots is allowed.
    let (doc, _) = ask(
        &mut alice,
        &[BOB],
        "2026-01-01T00:00:00.000Z",
        "2027-11-14T16:00:00.000Z",
    );
    let long = availability_of(&doc, 0).unwrap();
    assert_eq!(
        long.child_text(rr::MERGED_FREE_BUSY).map(|m| m.len()),
        Some(32 * 1024)
    );

    // More than 100 recipients: 160 instead of free/busy.
    let many: Vec<&str> = std::iter::repeat_n(BOB, 101).collect();
    let (doc, _) = ask(
        &mut alice,
        &many,
        "2026-10-21T00:00:00.000Z",
        "2026-10-22T00:00:00.000Z",
    );
    let first = availability_of(&doc, 0).unwrap();
    assert_eq!(first.child_text(rr::STATUS).as_deref(), Some("160"));
}
