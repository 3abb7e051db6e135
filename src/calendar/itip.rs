//! iTIP messages (RFC 5546) carried in mail (iMIP, RFC 6047): the VEVENTs of an iCalendar
//! REQUEST, CANCEL or REPLY read into [`Invitation`]s — times in UTC (a TZID is an IANA name
//! or a Windows name through CLDR), organizer, attendees with their participation, the
//! recurrence rule's parts. Parsing is the `icalendar` crate's; this module only reads values.

use chrono::{NaiveDate, NaiveDateTime};
use icalendar::parser::{read_calendar, unfold, Component, Property};

use super::tz::{iana_of, EventZone, IanaZone, TimeZoneInfo, Transition};

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
    /// The rules of the file's VTIMEZONE when DTSTART's TZID names no known zone.
    pub rules: Option<TimeZoneInfo>,
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

/// The VTIMEZONEs of a file by TZID, as yearly rules: for TZIDs that name no zone the tz
/// database or CLDR's Windows names know.
#[derive(Clone, Debug, Default)]
pub struct Zones(Vec<(String, TimeZoneInfo)>);

impl Zones {
    /// The rules of the file's VTIMEZONE with this TZID.
    pub fn rules(&self, tzid: &str) -> Option<&TimeZoneInfo> {
        self.0
            .iter()
            .find(|(id, _)| id == tzid)
            .map(|(_, info)| info)
    }
}

/// The IANA zone a TZID names: an IANA or Windows name, or one ending in an IANA name after
/// a vendor prefix (`/mozilla.org/20050126_1/America/New_York`).
pub fn zone_named(tzid: &str) -> Option<IanaZone> {
    let tzid = tzid.trim();
    iana_of(tzid).or_else(|| {
        tzid.char_indices()
            .filter(|(_, c)| *c == '/')
            .find_map(|(at, _)| IanaZone::named(&tzid[at + 1..]))
    })
}

/// The STANDARD/DAYLIGHT rules of a VTIMEZONE as a TimeZone blob's: the offsets of the
/// newest observances and, where they recur yearly (RRULE BYMONTH and BYDAY), the day and
/// local time of each change. Without a yearly DAYLIGHT rule the zone keeps standard time.
fn vtimezone_rules(zone: &Component<'_>) -> Option<TimeZoneInfo> {
    // (observance start, offset to in minutes east, yearly rule)
    let newest = |kind: &str| {
        zone.components
            .iter()
            .filter(|c| c.name.as_str().eq_ignore_ascii_case(kind))
            .filter_map(|c| {
                let start = c.find_prop("DTSTART")?.val.as_str().trim().to_string();
                let offset = utc_offset(c.find_prop("TZOFFSETTO")?.val.as_str())?;
                let rule = c
                    .find_prop("RRULE")
                    .and_then(|p| yearly_transition(p.val.as_str(), &start));
                Some((start, offset, rule))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
    };
    let standard = newest("STANDARD");
    let daylight = newest("DAYLIGHT");
    let standard_offset = standard.as_ref().or(daylight.as_ref())?.1;
    let name = text(zone, "TZID");
    let mut info = TimeZoneInfo {
        bias: -standard_offset,
        standard_name: name.clone(),
        daylight_name: name,
        ..TimeZoneInfo::default()
    };
    if let (Some((_, _, Some(to_standard))), Some((_, offset, Some(to_daylight)))) =
        (standard, daylight)
    {
        info.standard_date = to_standard;
        info.daylight_date = to_daylight;
        info.daylight_bias = -(offset - standard_offset);
    }
    Some(info)
}

/// `+0100`, `-0430`, `+053000` as minutes east of UTC.
fn utc_offset(text: &str) -> Option<i32> {
    let text = text.trim();
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits = &text[1..];
    if digits.len() < 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[0..2].parse().ok()?;
    let minutes: i32 = digits[2..4].parse().ok()?;
    Some(sign * (hours * 60 + minutes))
}

/// A yearly RRULE (`FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU`) with its observance's DTSTART time
/// as a transition: month, weekday, week of the month (5 = last) and local time.
fn yearly_transition(rrule: &str, start: &str) -> Option<Transition> {
    let rule = recurrence_rule(rrule)?;
    if rule.freq != "YEARLY" {
        return None;
    }
    let &(ordinal, weekday) = rule.by_day.first()?;
    // 1–4: that week of the month; -1 (or 5): the last one; none: not a single day.
    let week = match ordinal {
        0 => return None,
        1..=4 => ordinal as u16,
        _ => 5,
    };
    let time = NaiveDateTime::parse_from_str(start, "%Y%m%dT%H%M%S").ok()?;
    use chrono::Timelike;
    Some(Transition {
        month: rule.by_month? as u16,
        weekday: weekday as u16,
        week,
        hour: time.hour() as u16,
        minute: time.minute() as u16,
    })
}

/// A DATE or DATE-TIME value: Unix seconds, whether it is a date, and the zone of its TZID.
/// A floating time or an unknown TZID is taken as UTC.
pub fn date_time(value: &str, tzid: Option<&str>) -> Option<(i64, bool, Option<IanaZone>)> {
    date_time_in(value, tzid, &Zones::default())
}

/// [`date_time`] with the file's own VTIMEZONEs for TZIDs that name no known zone.
pub fn date_time_in(
    value: &str,
    tzid: Option<&str>,
    zones: &Zones,
) -> Option<(i64, bool, Option<IanaZone>)> {
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
    let zone = tzid.and_then(zone_named);
    let seconds = match (&zone, tzid.and_then(|id| zones.rules(id.trim()))) {
        (Some(tz), _) => EventZone::Iana(tz.clone()).to_utc(local),
        (None, Some(rules)) => EventZone::Rules(rules.clone()).to_utc(local),
        (None, None) => local.and_utc().timestamp(),
    };
    Some((seconds, false, zone))
}

fn when(
    component: &Component<'_>,
    name: &str,
    zones: &Zones,
) -> Option<(i64, bool, Option<IanaZone>)> {
    let property = component.find_prop(name)?;
    date_time_in(property.val.as_str(), param(property, "TZID"), zones)
}

/// A date property that is there but cannot be read (a reason to skip the component).
fn unreadable(component: &Component<'_>, name: &str, zones: &Zones) -> bool {
    component.find_prop(name).is_some() && when(component, name, zones).is_none()
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

fn invitation(method: &str, event: &Component<'_>, zones: &Zones) -> Option<Invitation> {
    let uid = text(event, "UID");
    let (start, all_day, zone) = when(event, "DTSTART", zones)?;
    // A TZID of the file's own VTIMEZONE: the event keeps those rules.
    let rules = match zone {
        Some(_) => None,
        None => event
            .find_prop("DTSTART")
            .and_then(|p| param(p, "TZID"))
            .and_then(|id| zones.rules(id.trim()))
            .cloned(),
    };
    if uid.is_empty() {
        return None;
    }
    let end = match when(event, "DTEND", zones) {
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
                .filter_map(|v| date_time_in(v, tzid, zones).map(|d| d.0))
                .collect::<Vec<_>>()
        })
        .collect();
    Some(Invitation {
        method: method.to_ascii_uppercase(),
        uid,
        sequence: text(event, "SEQUENCE").trim().parse().unwrap_or(0),
        stamp: when(event, "DTSTAMP", zones).map(|d| d.0),
        summary: text(event, "SUMMARY"),
        location: text(event, "LOCATION"),
        description: text(event, "DESCRIPTION"),
        start,
        end: end.max(start),
        all_day,
        zone,
        rules,
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
        recurrence_id: when(event, "RECURRENCE-ID", zones).map(|r| r.0),
        status: text(event, "STATUS").to_ascii_uppercase(),
        disallow_counter: text(event, "X-MICROSOFT-DISALLOW-COUNTER").eq_ignore_ascii_case("TRUE"),
    })
}

/// One VTODO of an iCalendar file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Todo {
    pub uid: String,
    pub summary: String,
    pub description: String,
    /// (Unix seconds, a DATE value)
    pub start: Option<(i64, bool)>,
    pub due: Option<(i64, bool)>,
    /// COMPLETED, or the time STATUS:COMPLETED was read without one.
    pub completed: Option<i64>,
    pub priority: Option<i64>,
    pub categories: Vec<String>,
    /// CLASS: PUBLIC, PRIVATE, CONFIDENTIAL.
    pub class: String,
    pub rule: Option<RecurrenceRule>,
    /// The first VALARM's time: an absolute TRIGGER, or one relative to DUE (else DTSTART).
    pub reminder: Option<i64>,
}

/// What an iCalendar file holds: its events and to-dos, and the components that could not
/// be read (with why), which an import reports and skips.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    pub events: Vec<Invitation>,
    pub todos: Vec<Todo>,
    pub bad: Vec<String>,
}

/// A VALARM TRIGGER duration (`-PT15M`, `-P1D`, `PT1H30M`) in seconds.
fn duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest = rest.strip_prefix('P')?;
    let mut seconds = 0;
    let mut number = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' => {}
            'W' | 'D' | 'H' | 'M' | 'S' => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                seconds += n * match c {
                    'W' => 7 * 86_400,
                    'D' => 86_400,
                    'H' => 3600,
                    'M' => 60,
                    _ => 1,
                };
            }
            _ => return None,
        }
    }
    number.is_empty().then_some(sign * seconds)
}

fn todo(component: &Component<'_>, zones: &Zones) -> Result<Todo, String> {
    for name in ["DTSTART", "DUE", "COMPLETED"] {
        if unreadable(component, name, zones) {
            return Err(format!("{name} is not a date"));
        }
    }
    let done = text(component, "STATUS").eq_ignore_ascii_case("COMPLETED");
    let completed = when(component, "COMPLETED", zones).map(|c| c.0);
    let start = when(component, "DTSTART", zones).map(|d| (d.0, d.1));
    let due = when(component, "DUE", zones).map(|d| (d.0, d.1));
    let rule = match component.find_prop("RRULE") {
        Some(p) => Some(
            recurrence_rule(p.val.as_str()).ok_or_else(|| "RRULE cannot be read".to_string())?,
        ),
        None => None,
    };
    let reminder = component
        .components
        .iter()
        .find(|c| c.name.as_str().eq_ignore_ascii_case("VALARM"))
        .and_then(|alarm| {
            let trigger = alarm.find_prop("TRIGGER")?;
            let value = trigger.val.as_str();
            if param(trigger, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE-TIME")) {
                return date_time_in(value, None, zones).map(|d| d.0);
            }
            let base = if param(trigger, "RELATED").is_some_and(|r| r.eq_ignore_ascii_case("END")) {
                due.or(start)
            } else {
                start.or(due)
            };
            Some(base?.0 + duration(value)?)
        });
    let categories = component
        .properties
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case("CATEGORIES"))
        .flat_map(|p| {
            p.val
                .as_str()
                .split(',')
                .map(|c| c.trim().replace("\\,", ",").replace("\\;", ";"))
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(Todo {
        uid: text(component, "UID"),
        summary: text(component, "SUMMARY"),
        description: text(component, "DESCRIPTION"),
        start,
        due,
        completed: completed.or(done.then(crate::store::now)),
        priority: text(component, "PRIORITY").trim().parse().ok(),
        categories,
        class: text(component, "CLASS").trim().to_ascii_uppercase(),
        rule,
        reminder,
    })
}

/// Reads an iCalendar file (one or more VCALENDARs).
pub fn read_file(ics: &str) -> Result<Contents, String> {
    let unfolded = unfold(ics);
    let calendar = read_calendar(&unfolded)?;
    let mut contents = Contents::default();
    let zones = file_zones(&calendar.components);
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
            "VEVENT" => match invitation("PUBLISH", component, &zones) {
                Some(event) => contents.events.push(event),
                None => contents
                    .bad
                    .push(format!("{}: no UID or no readable DTSTART", label())),
            },
            "VTODO" => match todo(component, &zones) {
                Ok(todo) => contents.todos.push(todo),
                Err(why) => contents.bad.push(format!("{}: {why}", label())),
            },
            // Read first (`file_zones`): TZIDs of known zones by name, others by their rules.
            "VTIMEZONE" => {}
            _ => contents
                .bad
                .push(format!("{}: not an event or a to-do", label())),
        }
    }
    Ok(contents)
}

/// The VTIMEZONEs among `components` whose TZID names no known zone.
fn file_zones(components: &[Component<'_>]) -> Zones {
    Zones(
        components
            .iter()
            .filter(|c| c.name.as_str().eq_ignore_ascii_case("VTIMEZONE"))
            .filter_map(|zone| {
                let tzid = text(zone, "TZID").trim().to_string();
                if tzid.is_empty() || zone_named(&tzid).is_some() {
                    return None;
                }
                Some((tzid, vtimezone_rules(zone)?))
            })
            .collect(),
    )
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
    let zones = file_zones(&calendar.components);
    Ok(calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .filter_map(|event| invitation(&method, event, &zones))
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
    fn vtimezones_with_unknown_names_give_their_rules_and_times() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Down Under\r\n\
BEGIN:STANDARD\r\nDTSTART:20080406T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU\r\n\
TZOFFSETFROM:+1100\r\nTZOFFSETTO:+1000\r\nEND:STANDARD\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:20081005T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU\r\n\
TZOFFSETFROM:+1000\r\nTZOFFSETTO:+1100\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Down Under:20250115T090000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTART;TZID=Down Under:20250715T090000\r\nEND:VEVENT\r\n\
BEGIN:VTODO\r\nUID:t\r\nDUE;VALUE=DATE:20250301\r\nBEGIN:VALARM\r\nTRIGGER;RELATED=END:-PT1H30M\r\n\
END:VALARM\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
        let contents = read_file(ics).unwrap();
        // Sydney-like rules: summer (January) is +11, winter (July) +10.
        let summer = &contents.events[0];
        assert_eq!(summer.start, 1_736_892_000);
        assert_eq!(contents.events[1].start, 1_752_534_000);
        let rules = summer.rules.as_ref().expect("the file's rules");
        assert_eq!((rules.bias, rules.daylight_bias), (-600, -60));
        assert_eq!(
            (rules.daylight_date.month, rules.daylight_date.week),
            (10, 1)
        );
        assert!(summer.zone.is_none());
        let todo = &contents.todos[0];
        assert_eq!(todo.due, Some((1_740_787_200, true)));
        assert_eq!(todo.reminder, Some(1_740_787_200 - 5400));
        assert_eq!(
            zone_named("/mozilla.org/20050126_1/America/New_York"),
            IanaZone::named("America/New_York")
        );
        assert_eq!(duration("-P1DT2H"), Some(-93_600));
        assert_eq!(duration("PT"), Some(0));
        assert_eq!(duration("-PTxM"), None);
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
