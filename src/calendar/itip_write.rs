//! iTIP messages (RFC 5546) written from a stored calendar event, and the iMIP mail
//! (RFC 6047) that carries them: REQUEST and CANCEL from the organizer (the whole series or
//! one occurrence by RECURRENCE-ID), REPLY and COUNTER from an attendee. Times are written
//! in the event's zone with its VTIMEZONE (from the event's TimeZone rules), so a weekly
//! 09:00 meeting stays at 09:00 for the receiver across daylight-saving changes.

use super::ical_text::{escaped, line, partstat, rrule, utc, vtimezone, when, zone_of, Zone};
use crate::store::{Property, PropertyRecord};

/// The iTIP method of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
    Reply,
    Counter,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
            Method::Reply => "REPLY",
            Method::Counter => "COUNTER",
        }
    }
}

/// The answering attendee of a REPLY or COUNTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answering {
    pub email: String,
    /// ACCEPTED, TENTATIVE or DECLINED.
    pub partstat: &'static str,
    /// A COUNTER's proposed start and end (UTC).
    pub proposed: Option<(i64, i64)>,
    /// The attendee's own words (COMMENT).
    pub comment: Option<String>,
}

/// One iTIP message about `event`.
pub struct Itip<'a> {
    pub method: Method,
    pub event: &'a PropertyRecord,
    /// The organizer's address (the event's OrganizerEmail when it has one).
    pub organizer: &'a str,
    pub sequence: i64,
    /// One occurrence of the series (its original start): the message is about it only.
    pub occurrence: Option<i64>,
    /// REPLY and COUNTER: who answers; REQUEST and CANCEL name every attendee.
    pub answering: Option<Answering>,
    /// A REQUEST that moves the meeting: every attendee is asked again (PARTSTAT
    /// NEEDS-ACTION), whatever they answered before.
    pub rescheduled: bool,
    pub now: i64,
}

/// Whether `address` can stand in a mail header and an iCalendar `mailto:` as it is: one
/// `local@domain` without spaces, controls or the characters that separate addresses.
/// Addresses come from phones; anything else is left out of meeting mail.
pub fn plausible_address(address: &str) -> bool {
    let bad = |c: char| c.is_control() || c.is_whitespace() || "<>,;:\"()[]\\".contains(c);
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !address.chars().any(bad)
        }
        None => false,
    }
}

fn mailto(name: &str, params: &str, cn: Option<&str>, email: &str) -> String {
    let cn = cn
        .filter(|n| !n.is_empty())
        .map(|n| format!(";CN=\"{}\"", n.replace(['"', '\r', '\n'], "")))
        .unwrap_or_default();
    format!("{name}{cn}{params}:mailto:{email}")
}

fn groups<'r>(record: &'r PropertyRecord, name: &str) -> &'r [PropertyRecord] {
    match record.get(name) {
        Some(Property::Groups(list)) => list,
        _ => &[],
    }
}

/// The text of the event's location (a 16.x Location group or the older text).
fn location(record: &PropertyRecord) -> Option<&str> {
    match record.get("Location") {
        Some(Property::Group(group)) => group.text("DisplayName"),
        _ => record.text("Location"),
    }
}

/// The event's body as plain text.
fn description(record: &PropertyRecord) -> Option<String> {
    let Some(Property::Group(body)) = record.get("Body") else {
        return None;
    };
    let data = body.text("Data").unwrap_or_default();
    let plain = if body.int("Type") == Some(2) {
        crate::mime::html_to_text(data)
    } else {
        data.to_string()
    };
    (!plain.trim().is_empty()).then_some(plain)
}

impl Itip<'_> {
    /// The exception of the occurrence this message is about, if the event has one.
    fn exception(&self) -> Option<&PropertyRecord> {
        let at = self.occurrence?;
        groups(self.event, "Exceptions")
            .iter()
            .find(|e| e.int("ExceptionStartTime") == Some(at))
    }

    /// The VCALENDAR text.
    pub fn to_ics(&self) -> String {
        let mut out = String::new();
        line(&mut out, "BEGIN:VCALENDAR");
        line(&mut out, "VERSION:2.0");
        line(&mut out, "PRODID:-//easd//meetings//EN");
        line(&mut out, &format!("METHOD:{}", self.method.name()));
        let zone = zone_of(self.event);
        if let Some(zone) = &zone {
            vtimezone(&mut out, &zone.tzid, &zone.info);
        }
        let zone = zone.as_ref();
        self.vevent(&mut out, zone, self.occurrence);
        // A REQUEST for the whole series carries its changed occurrences too.
        if self.method == Method::Request && self.occurrence.is_none() {
            for exception in groups(self.event, "Exceptions") {
                if exception.int("Deleted") == Some(1) {
                    continue;
                }
                if let Some(at) = exception.int("ExceptionStartTime") {
                    self.vevent(&mut out, zone, Some(at));
                }
            }
        }
        line(&mut out, "END:VCALENDAR");
        out
    }

    fn vevent(&self, out: &mut String, zone: Option<&Zone>, occurrence: Option<i64>) {
        let event = self.event;
        let exception = occurrence.and_then(|at| {
            groups(event, "Exceptions")
                .iter()
                .find(|e| e.int("ExceptionStartTime") == Some(at))
        });
        let all_day = event.int("AllDayEvent") == Some(1);
        let series_start = event.int("StartTime").unwrap_or(0);
        let series_end = event.int("EndTime").unwrap_or(series_start);
        let (start, end) = match occurrence {
            Some(at) => {
                let start = exception.and_then(|e| e.int("StartTime")).unwrap_or(at);
                let end = exception
                    .and_then(|e| e.int("EndTime"))
                    .unwrap_or(start + (series_end - series_start).max(0));
                (start, end)
            }
            None => (series_start, series_end),
        };
        let pick = |name: &str| -> Option<String> {
            exception
                .and_then(|e| e.text(name))
                .or(event.text(name))
                .map(str::to_string)
        };
        let text = |out: &mut String, name: &str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                line(out, &format!("{name}:{}", escaped(value)));
            }
        };
        line(out, "BEGIN:VEVENT");
        line(
            out,
            &format!("UID:{}", escaped(event.text("UID").unwrap_or_default())),
        );
        line(out, &format!("DTSTAMP:{}", utc(self.now)));
        line(out, &format!("SEQUENCE:{}", self.sequence));
        if let Some(at) = occurrence {
            line(out, &when("RECURRENCE-ID", at, all_day, zone));
        }
        let organizer_name = event.text("OrganizerName");
        line(
            out,
            &mailto("ORGANIZER", "", organizer_name, self.organizer),
        );
        match &self.answering {
            Some(answering) => {
                // A COUNTER's DTSTART and DTEND are the proposal (RFC 5546 3.2.7).
                let (start, end) = answering.proposed.unwrap_or((start, end));
                line(out, &when("DTSTART", start, all_day, zone));
                line(out, &when("DTEND", end, all_day, zone));
                text(out, "SUMMARY", pick("Subject").as_deref());
                line(
                    out,
                    &mailto(
                        "ATTENDEE",
                        &format!(";PARTSTAT={}", answering.partstat),
                        None,
                        &answering.email,
                    ),
                );
                text(out, "COMMENT", answering.comment.as_deref());
            }
            None => {
                line(out, &when("DTSTART", start, all_day, zone));
                line(out, &when("DTEND", end, all_day, zone));
                text(out, "SUMMARY", pick("Subject").as_deref());
                let place = exception
                    .and_then(|e| location(e).map(str::to_string))
                    .or_else(|| location(event).map(str::to_string));
                text(out, "LOCATION", place.as_deref());
                text(out, "DESCRIPTION", description(event).as_deref());
                for attendee in groups(event, "Attendees") {
                    let Some(email) = attendee.text("Email").filter(|e| plausible_address(e))
                    else {
                        continue;
                    };
                    let role = match attendee.int("AttendeeType") {
                        Some(2) => "OPT-PARTICIPANT",
                        Some(3) => "NON-PARTICIPANT",
                        _ => "REQ-PARTICIPANT",
                    };
                    let status = if self.rescheduled {
                        None
                    } else {
                        attendee.int("AttendeeStatus")
                    };
                    let params = format!(";ROLE={role};PARTSTAT={};RSVP=TRUE", partstat(status));
                    line(
                        out,
                        &mailto("ATTENDEE", &params, attendee.text("Name"), email),
                    );
                }
                if occurrence.is_none() {
                    if let Some(Property::Group(recurrence)) = event.get("Recurrence") {
                        if let Some(rule) = rrule(recurrence) {
                            line(out, &format!("RRULE:{rule}"));
                        }
                        for deleted in groups(event, "Exceptions")
                            .iter()
                            .filter(|e| e.int("Deleted") == Some(1))
                        {
                            if let Some(at) = deleted.int("ExceptionStartTime") {
                                line(out, &when("EXDATE", at, all_day, zone));
                            }
                        }
                    }
                }
                let cancelled = self.method == Method::Cancel;
                line(
                    out,
                    if cancelled {
                        "STATUS:CANCELLED"
                    } else {
                        "STATUS:CONFIRMED"
                    },
                );
                if event.int("DisallowNewTimeProposal") == Some(1) {
                    line(out, "X-MICROSOFT-DISALLOW-COUNTER:TRUE");
                }
            }
        }
        line(out, "END:VEVENT");
    }

    /// The subject line of the mail carrying this message.
    pub fn subject(&self) -> String {
        let base = self
            .exception()
            .and_then(|e| e.text("Subject"))
            .or(self.event.text("Subject"))
            .unwrap_or_default()
            .replace(['\r', '\n'], " ");
        let prefix = match (self.method, self.answering.as_ref().map(|a| a.partstat)) {
            (Method::Request, _) => "Invitation",
            (Method::Cancel, _) => "Canceled",
            (Method::Counter, _) => "New Time Proposed",
            (Method::Reply, Some("ACCEPTED")) => "Accepted",
            (Method::Reply, Some("TENTATIVE")) => "Tentative",
            (Method::Reply, _) => "Declined",
        };
        format!("{prefix}: {base}")
    }

    /// The iMIP mail: a text part (the attendee's words or the event's description) and the
    /// text/calendar part with the method.
    pub fn mail(&self, from: &str, to: &[String], text: &str) -> Vec<u8> {
        let method = self.method.name();
        let ics = self.to_ics();
        let boundary = format!("easd-{}", crate::store::random_hex(8));
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
{text}\r\n--{boundary}\r\n\
Content-Type: text/calendar; method={method}; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n{ics}--{boundary}--\r\n",
            to = to.join(", "),
            subject = self.subject(),
            date = crate::clock::rfc5322_date(self.now),
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly_meeting() -> PropertyRecord {
        let mut event = PropertyRecord::default();
        event.set("UID", Property::Text("m-1".into()));
        event.set("Subject", Property::Text("Budget; Q3, final".into()));
        event.set("StartTime", Property::Int(1_748_851_200)); // 2025-06-02 08:00 UTC
        event.set("EndTime", Property::Int(1_748_854_800));
        let mut recurrence = PropertyRecord::default();
        recurrence.set("Type", Property::Int(1));
        recurrence.set("DayOfWeek", Property::Int(2));
        recurrence.set("Occurrences", Property::Int(4));
        event.set("Recurrence", Property::Group(recurrence));
        let mut bob = PropertyRecord::default();
        bob.set("Email", Property::Text("bob@example.com".into()));
        bob.set("AttendeeStatus", Property::Int(3));
        event.set("Attendees", Property::Groups(vec![bob]));
        let mut gone = PropertyRecord::default();
        gone.set("ExceptionStartTime", Property::Int(1_749_456_000));
        gone.set("Deleted", Property::Int(1));
        event.set("Exceptions", Property::Groups(vec![gone]));
        event
    }

    fn itip(event: &PropertyRecord, method: Method, rescheduled: bool) -> String {
        Itip {
            method,
            event,
            organizer: "alice@example.com",
            sequence: 3,
            occurrence: None,
            answering: None,
            rescheduled,
            now: 0,
        }
        .to_ics()
    }

    #[test]
    fn requests_read_back_with_the_events_values() {
        let event = weekly_meeting();
        let ics = itip(&event, Method::Request, false);
        let read = crate::calendar::itip::parse(&ics).unwrap();
        assert_eq!(read.len(), 1);
        let request = &read[0];
        assert_eq!(request.method, "REQUEST");
        assert_eq!(request.uid, "m-1");
        assert_eq!(request.sequence, 3);
        assert_eq!(request.summary, "Budget; Q3, final");
        assert_eq!((request.start, request.end), (1_748_851_200, 1_748_854_800));
        assert_eq!(request.rule.as_ref().unwrap().count, Some(4));
        assert_eq!(request.exdates, [1_749_456_000]);
        assert_eq!(request.attendees[0].partstat, "ACCEPTED");
        assert_eq!(
            request.organizer.as_ref().unwrap().email,
            "alice@example.com"
        );
        // Moved: Bob is asked again.
        let moved = itip(&event, Method::Request, true);
        let read = crate::calendar::itip::parse(&moved).unwrap();
        assert_eq!(read[0].attendees[0].partstat, "NEEDS-ACTION");
        let cancel = itip(&event, Method::Cancel, false);
        assert_eq!(
            crate::calendar::itip::parse(&cancel).unwrap()[0].status,
            "CANCELLED"
        );
    }

    #[test]
    fn only_plain_addresses_are_written() {
        assert!(plausible_address("bob@example.com"));
        assert!(plausible_address("o'neil+x@example.co.uk"));
        for bad in [
            "",
            "bob",
            "@example.com",
            "bob@",
            "a b@x",
            "a@x\r\nBcc: c@y",
            "a@x,c@y",
            "<a@x>",
        ] {
            assert!(!plausible_address(bad), "{bad:?}");
        }
        let mut event = weekly_meeting();
        let mut evil = PropertyRecord::default();
        evil.set(
            "Email",
            Property::Text("eve@x\r\nATTENDEE:mailto:z@y".into()),
        );
        event.set("Attendees", Property::Groups(vec![evil]));
        let ics = itip(&event, Method::Request, false);
        assert!(!ics.contains("eve@x"), "{ics}");
    }

    #[test]
    fn a_counter_proposes_its_times_for_one_occurrence() {
        let event = weekly_meeting();
        let ics = Itip {
            method: Method::Counter,
            event: &event,
            organizer: "alice@example.com",
            sequence: 0,
            occurrence: Some(1_750_060_800),
            answering: Some(Answering {
                email: "bob@example.com".into(),
                partstat: "TENTATIVE",
                proposed: Some((1_750_068_000, 1_750_071_600)),
                comment: Some("later?".into()),
            }),
            rescheduled: false,
            now: 0,
        }
        .to_ics();
        let read = &crate::calendar::itip::parse(&ics).unwrap()[0];
        assert_eq!(read.method, "COUNTER");
        assert_eq!(read.recurrence_id, Some(1_750_060_800));
        assert_eq!((read.start, read.end), (1_750_068_000, 1_750_071_600));
        assert_eq!(read.attendees.len(), 1);
        assert_eq!(read.attendees[0].partstat, "TENTATIVE");
    }
}
