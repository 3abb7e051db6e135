//! iTIP messages (RFC 5546) carried in mail (iMIP, RFC 6047): the VEVENTs of an iCalendar
//! REQUEST, CANCEL or REPLY read into [`Invitation`]s — times in UTC (a TZID is an IANA name
//! or a Windows name through CLDR), organizer, attendees with their participation, the
//! recurrence rule's parts. Parsing is the `icalendar` crate's; this module only reads values.

use chrono::{NaiveDate, NaiveDateTime};
use icalendar::parser::{read_calendar, unfold, Component, Property};

use super::tz::{iana_of, EventZone, IanaZone};

/// One attendee (or the replying one, in a REPLY).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attendee {
    pub email: String,
    pub name: String,
    /// PARTSTAT: NEEDS-ACTION, ACCEPTED, TENTATIVE, DECLINED, …
    pub partstat: String,
    /// ROLE: REQ-PARTICIPANT, OPT-PARTICIPANT, NON-PARTICIPANT, CHAIR.
    pub role: String,
}

/// An RRULE's parts (RFC 5545 3.3.10), as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecurrenceRule {
    pub freq: String,
    pub interval: u32,
    pub count: Option<u32>,
    pub until: Option<i64>,
    /// BYDAY entries: (ordinal, 0 Sunday … 6 Saturday); ordinal 0 when none.
    pub by_day: Vec<(i32, u32)>,
    pub by_month_day: Option<u32>,
    pub by_month: Option<u32>,
    pub by_set_pos: Option<i32>,
    /// WKST, 0 Sunday … 6 Saturday.
    pub week_start: Option<u32>,
}

/// One VEVENT of an iTIP message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Invitation {
    pub method: String,
    pub uid: String,
    pub sequence: i64,
    pub stamp: Option<i64>,
    pub summary: String,
    pub location: String,
    pub description: String,
    pub start: i64,
    pub end: i64,
    pub all_day: bool,
    /// The zone of DTSTART's TZID, if it names one.
    pub zone: Option<IanaZone>,
    pub organizer: Option<Attendee>,
    pub attendees: Vec<Attendee>,
    pub rule: Option<RecurrenceRule>,
    pub exdates: Vec<i64>,
    pub recurrence_id: Option<i64>,
    /// STATUS (CANCELLED for a cancelled occurrence or meeting).
    pub status: String,
    /// The organizer takes no new time proposals (X-MICROSOFT-DISALLOW-COUNTER).
    pub disallow_counter: bool,
}

fn param<'a>(property: &'a Property<'_>, key: &str) -> Option<&'a str> {
    property
        .params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|p| p.val.as_ref())
        .map(|v| v.as_str().trim_matches('"'))
}

fn text(component: &Component<'_>, name: &str) -> String {
    component
        .find_prop(name)
        .map(|p| p.val.clone().unescape_text().as_str().to_string())
        .unwrap_or_default()
}

fn mailbox(property: &Property<'_>) -> Attendee {
    let value = property.val.as_str();
    let email = value
        .strip_prefix("mailto:")
        .or_else(|| value.strip_prefix("MAILTO:"))
        .unwrap_or(value)
        .trim()
        .to_string();
    Attendee {
        email,
        name: param(property, "CN").unwrap_or_default().to_string(),
        partstat: param(property, "PARTSTAT")
            .unwrap_or("NEEDS-ACTION")
            .to_ascii_uppercase(),
        role: param(property, "ROLE")
            .unwrap_or("REQ-PARTICIPANT")
            .to_ascii_uppercase(),
    }
}

/// A DATE or DATE-TIME value: Unix seconds, whether it is a date, and the zone of its TZID.
/// A floating time or an unknown TZID is taken as UTC.
pub fn date_time(value: &str, tzid: Option<&str>) -> Option<(i64, bool, Option<IanaZone>)> {
    let value = value.trim();
    if value.len() == 8 {
        let date = NaiveDate::parse_from_str(value, "%Y%m%d").ok()?;
        let midnight = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
        return Some((midnight, true, None));
    }
    let (local, utc) = match value.strip_suffix('Z') {
        Some(bare) => (bare, true),
        None => (value, false),
    };
    let local = NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S").ok()?;
    if utc {
        return Some((local.and_utc().timestamp(), false, None));
    }
    let zone = tzid.and_then(iana_of);
    let seconds = match &zone {
        Some(tz) => EventZone::Iana(tz.clone()).to_utc(local),
        None => local.and_utc().timestamp(),
    };
    Some((seconds, false, zone))
}

fn when(component: &Component<'_>, name: &str) -> Option<(i64, bool, Option<IanaZone>)> {
    let property = component.find_prop(name)?;
    date_time(property.val.as_str(), param(property, "TZID"))
}

const DAYS: [&str; 7] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];

/// Parses an RRULE value.
pub fn recurrence_rule(value: &str) -> Option<RecurrenceRule> {
    let mut rule = RecurrenceRule {
        interval: 1,
        ..RecurrenceRule::default()
    };
    for part in value.split(';') {
        let (key, val) = part.split_once('=')?;
        match key.to_ascii_uppercase().as_str() {
            "FREQ" => rule.freq = val.to_ascii_uppercase(),
            "INTERVAL" => rule.interval = val.parse().ok()?,
            "COUNT" => rule.count = Some(val.parse().ok()?),
            "UNTIL" => rule.until = Some(date_time(val, None)?.0),
            "BYDAY" => {
                for day in val.split(',') {
                    let day = day.trim().to_ascii_uppercase();
                    let at = day.len().checked_sub(2)?;
                    let weekday = DAYS.iter().position(|d| *d == &day[at..])? as u32;
                    let ordinal = if at == 0 { 0 } else { day[..at].parse().ok()? };
                    rule.by_day.push((ordinal, weekday));
                }
            }
            "BYMONTHDAY" => rule.by_month_day = Some(val.split(',').next()?.parse().ok()?),
            "BYMONTH" => rule.by_month = Some(val.split(',').next()?.parse().ok()?),
            "BYSETPOS" => rule.by_set_pos = Some(val.split(',').next()?.parse().ok()?),
            "WKST" => {
                rule.week_start =
                    Some(DAYS.iter().position(|d| d.eq_ignore_ascii_case(val))? as u32)
            }
            _ => {}
        }
    }
    (!rule.freq.is_empty()).then_some(rule)
}

fn invitation(method: &str, event: &Component<'_>) -> Option<Invitation> {
    let uid = text(event, "UID");
    let (start, all_day, zone) = when(event, "DTSTART")?;
    if uid.is_empty() {
        return None;
    }
    let end = match when(event, "DTEND") {
        Some((end, ..)) => end,
        None if all_day => start + 86_400,
        None => start,
    };
    let exdates = event
        .properties
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case("EXDATE"))
        .flat_map(|p| {
            let tzid = param(p, "TZID");
            p.val
                .as_str()
                .split(',')
                .filter_map(|v| date_time(v, tzid).map(|d| d.0))
                .collect::<Vec<_>>()
        })
        .collect();
    Some(Invitation {
        method: method.to_ascii_uppercase(),
        uid,
        sequence: text(event, "SEQUENCE").trim().parse().unwrap_or(0),
        stamp: when(event, "DTSTAMP").map(|d| d.0),
        summary: text(event, "SUMMARY"),
        location: text(event, "LOCATION"),
        description: text(event, "DESCRIPTION"),
        start,
        end: end.max(start),
        all_day,
        zone,
        organizer: event.find_prop("ORGANIZER").map(mailbox),
        attendees: event
            .properties
            .iter()
            .filter(|p| p.name.as_str().eq_ignore_ascii_case("ATTENDEE"))
            .map(mailbox)
            .collect(),
        rule: event
            .find_prop("RRULE")
            .and_then(|p| recurrence_rule(p.val.as_str())),
        exdates,
        recurrence_id: when(event, "RECURRENCE-ID").map(|r| r.0),
        status: text(event, "STATUS").to_ascii_uppercase(),
        disallow_counter: text(event, "X-MICROSOFT-DISALLOW-COUNTER").eq_ignore_ascii_case("TRUE"),
    })
}

/// One VTODO of an iCalendar file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Todo {
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub start: Option<i64>,
    pub due: Option<i64>,
    /// COMPLETED, or the time STATUS:COMPLETED was read without one.
    pub completed: Option<i64>,
    pub priority: Option<i64>,
}

/// What an iCalendar file holds: its events and to-dos, and the components that could not
/// be read (with why), which an import reports and skips.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    pub events: Vec<Invitation>,
    pub todos: Vec<Todo>,
    pub bad: Vec<String>,
}

fn todo(component: &Component<'_>) -> Todo {
    let done = text(component, "STATUS").eq_ignore_ascii_case("COMPLETED");
    let completed = when(component, "COMPLETED").map(|c| c.0);
    Todo {
        uid: text(component, "UID"),
        summary: text(component, "SUMMARY"),
        description: text(component, "DESCRIPTION"),
        start: when(component, "DTSTART").map(|d| d.0),
        due: when(component, "DUE").map(|d| d.0),
        completed: completed.or(done.then(crate::store::now)),
        priority: text(component, "PRIORITY").trim().parse().ok(),
    }
}

/// Reads an iCalendar file (one or more VCALENDARs).
pub fn read_file(ics: &str) -> Result<Contents, String> {
    let unfolded = unfold(ics);
    let calendar = read_calendar(&unfolded)?;
    let mut contents = Contents::default();
    for (n, component) in calendar.components.iter().enumerate() {
        let kind = component.name.as_str().to_ascii_uppercase();
        let label = || {
            let summary = text(component, "SUMMARY");
            format!(
                "{kind} #{} ({})",
                n + 1,
                if summary.is_empty() {
                    text(component, "UID")
                } else {
                    summary
                }
            )
        };
        match kind.as_str() {
            "VEVENT" => match invitation("PUBLISH", component) {
                Some(event) => contents.events.push(event),
                None => contents
                    .bad
                    .push(format!("{}: no UID or no readable DTSTART", label())),
            },
            "VTODO" => contents.todos.push(todo(component)),
            // Zones are resolved by their TZID (IANA or Windows names).
            "VTIMEZONE" => {}
            _ => contents
                .bad
                .push(format!("{}: not an event or a to-do", label())),
        }
    }
    Ok(contents)
}

/// The VEVENTs of an iTIP message; `Err` when it is no iCalendar object.
pub fn parse(ics: &str) -> Result<Vec<Invitation>, String> {
    let unfolded = unfold(ics);
    let calendar = read_calendar(&unfolded)?;
    let method = calendar
        .properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case("METHOD"))
        .map(|p| p.val.as_str().trim().to_string())
        .unwrap_or_else(|| "PUBLISH".into());
    Ok(calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .filter_map(|event| invitation(&method, event))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str =
        "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n\
VERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n\
DTSTART;TZID=W. Europe Standard Time:20250310T090000\r\n\
DTEND;TZID=Europe/Berlin:20250310T100000\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10;WKST=MO\r\n\
EXDATE;TZID=Europe/Berlin:20250317T090000\r\n\
ORGANIZER;CN=Olga Organizer:mailto:olga@example.org\r\nUID:abc-123@google.com\r\n\
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Alice\r\n \
;X-NUM-GUESTS=0:mailto:alice@example.com\r\nSEQUENCE:2\r\nSUMMARY:Planning\\, weekly\r\n\
LOCATION:Room 1\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn a_google_request_reads_with_zones_attendees_and_rule() {
        let invitations = parse(REQUEST).unwrap();
        assert_eq!(invitations.len(), 1);
        let i = &invitations[0];
        assert_eq!(i.method, "REQUEST");
        assert_eq!(i.uid, "abc-123@google.com");
        assert_eq!(i.sequence, 2);
        assert_eq!(i.summary, "Planning, weekly");
        // 09:00 in Berlin on 10 March 2025 (CET) is 08:00 UTC.
        assert_eq!(i.start, 1_741_593_600);
        assert_eq!(i.end, i.start + 3600);
        assert_eq!(i.zone, IanaZone::named("Europe/Berlin"));
        assert_eq!(i.organizer.as_ref().unwrap().email, "olga@example.org");
        assert_eq!(i.attendees[0].email, "alice@example.com");
        assert_eq!(i.attendees[0].name, "Alice");
        assert_eq!(i.attendees[0].partstat, "NEEDS-ACTION");
        let rule = i.rule.as_ref().unwrap();
        assert_eq!(
            (rule.freq.as_str(), rule.count, rule.by_day.as_slice()),
            ("WEEKLY", Some(10), &[(0, 1)][..])
        );
        assert_eq!(i.exdates, [i.start + 7 * 86_400]);
    }

    #[test]
    fn dates_and_bad_input() {
        assert_eq!(
            date_time("20250101", None),
            Some((1_735_689_600, true, None))
        );
        assert_eq!(
            recurrence_rule("FREQ=MONTHLY;BYDAY=-1FR").unwrap().by_day,
            [(-1, 5)]
        );
        assert!(recurrence_rule("INTERVAL=2").is_none());
        assert!(parse("not a calendar")
            .map(|v| v.is_empty())
            .unwrap_or(true));
    }
}
