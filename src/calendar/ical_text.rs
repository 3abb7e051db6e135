//! iCalendar (RFC 5545) content lines written from stored records, shared by the iTIP
//! writer (`itip_write`: meeting mail) and the export (`interchange::ics`): escaping and
//! folding, date-time forms, the VTIMEZONE of an event's TimeZone blob, RRULE from a stored
//! Recurrence, PARTSTAT from AttendeeStatus.

use super::tz::{EventZone, TimeZoneInfo, Transition};
use crate::store::{Property, PropertyRecord};

/// Escapes a TEXT value.
pub fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace(['\r', '\n'], "\\n")
}

/// Appends a content line folded at 75 octets.
pub fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// A UTC date-time value.
pub fn utc(unix: i64) -> String {
    crate::clock::eas_compact_datetime(unix)
}

/// A local (floating) date-time value.
pub fn local_text(t: chrono::NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%S").to_string()
}

/// A UTC offset in minutes as TZOFFSETFROM/TO write it.
pub fn offset_text(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("{sign}{:02}{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

/// iCalendar weekday names, Sunday first (MS-ASCAL's DayOfWeek bit order).
pub const DAYS: [&str; 7] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];

/// The event's TZID, rules and zone; `None` for UTC or no zone.
pub struct Zone {
    pub tzid: String,
    pub info: TimeZoneInfo,
    pub zone: EventZone,
}

/// The zone an event's TimeZone blob names: the TZID it is written under (IANA name, else the
/// blob's standard name), its rules and the zone for local times.
pub fn zone_of(record: &PropertyRecord) -> Option<Zone> {
    let Some(Property::Bytes(blob)) = record.get("Timezone") else {
        return None;
    };
    let info = TimeZoneInfo::from_blob(blob)?;
    let zone = EventZone::from_blob(blob);
    let tzid = match &zone {
        EventZone::Iana(tz) if tz.is_utc() => return None,
        EventZone::Iana(tz) => tz.name().to_string(),
        EventZone::Rules(info) if info.standard_name.trim().is_empty() => "Custom".to_string(),
        EventZone::Rules(info) => info.standard_name.trim().to_string(),
    };
    Some(Zone { tzid, info, zone })
}

/// A VTIMEZONE from the blob's rules (yearly transitions, or one fixed offset).
pub fn vtimezone(out: &mut String, tzid: &str, info: &TimeZoneInfo) {
    let standard = -(info.bias + info.standard_bias);
    let daylight = -(info.bias + info.daylight_bias);
    line(out, "BEGIN:VTIMEZONE");
    line(out, &format!("TZID:{}", escaped(tzid)));
    let part = |out: &mut String, kind: &str, from: i32, to: i32, rule: Option<&Transition>| {
        line(out, &format!("BEGIN:{kind}"));
        let (hour, minute) = rule.map_or((0, 0), |r| (r.hour, r.minute));
        line(out, &format!("DTSTART:16010101T{hour:02}{minute:02}00"));
        line(out, &format!("TZOFFSETFROM:{}", offset_text(from)));
        line(out, &format!("TZOFFSETTO:{}", offset_text(to)));
        if let Some(r) = rule {
            let week = if r.week >= 5 { -1 } else { i32::from(r.week) };
            let day = DAYS[usize::from(r.weekday % 7)];
            line(
                out,
                &format!("RRULE:FREQ=YEARLY;BYMONTH={};BYDAY={week}{day}", r.month),
            );
        }
        line(out, &format!("END:{kind}"));
    };
    if info.standard_date.month != 0 && info.daylight_date.month != 0 {
        part(
            out,
            "STANDARD",
            daylight,
            standard,
            Some(&info.standard_date),
        );
        part(
            out,
            "DAYLIGHT",
            standard,
            daylight,
            Some(&info.daylight_date),
        );
    } else {
        part(out, "STANDARD", standard, standard, None);
    }
    line(out, "END:VTIMEZONE");
}

/// The RRULE value of a stored Recurrence.
pub fn rrule(recurrence: &PropertyRecord) -> Option<String> {
    let int = |name: &str| recurrence.int(name);
    let kind = int("Type")?;
    let freq = match kind {
        0 => "DAILY",
        1 => "WEEKLY",
        2 | 3 => "MONTHLY",
        5 | 6 => "YEARLY",
        _ => return None,
    };
    let mut rule = format!("FREQ={freq}");
    if let Some(interval) = int("Interval").filter(|i| *i > 1) {
        rule.push_str(&format!(";INTERVAL={interval}"));
    }
    if let Some(count) = int("Occurrences") {
        rule.push_str(&format!(";COUNT={count}"));
    }
    if let Some(until) = int("Until") {
        rule.push_str(&format!(";UNTIL={}", utc(until)));
    }
    if let Some(days) = int("DayOfWeek").filter(|d| *d != 0) {
        let list: Vec<&str> = (0..7)
            .filter(|d| days & (1 << d) != 0)
            .map(|d| DAYS[d])
            .collect();
        rule.push_str(&format!(";BYDAY={}", list.join(",")));
    }
    if matches!(kind, 5 | 6) {
        if let Some(month) = int("MonthOfYear") {
            rule.push_str(&format!(";BYMONTH={month}"));
        }
    }
    if matches!(kind, 2 | 5) {
        if let Some(day) = int("DayOfMonth") {
            rule.push_str(&format!(";BYMONTHDAY={day}"));
        }
    }
    if matches!(kind, 3 | 6) {
        let week = int("WeekOfMonth").unwrap_or(1);
        rule.push_str(&format!(";BYSETPOS={}", if week >= 5 { -1 } else { week }));
    }
    if let Some(first) = int("FirstDayOfWeek") {
        rule.push_str(&format!(";WKST={}", DAYS[(first.rem_euclid(7)) as usize]));
    }
    Some(rule)
}

/// iCalendar PARTSTAT of an MS-ASCAL AttendeeStatus.
pub fn partstat(status: Option<i64>) -> &'static str {
    match status {
        Some(3) => "ACCEPTED",
        Some(2) => "TENTATIVE",
        Some(4) => "DECLINED",
        _ => "NEEDS-ACTION",
    }
}

/// A date-time property in the event's zone (or UTC), or a DATE for all-day events.
pub fn when(name: &str, unix: i64, all_day: bool, zone: Option<&Zone>) -> String {
    if all_day {
        let date = match zone {
            Some(z) => z.zone.to_local(unix),
            None => chrono::DateTime::from_timestamp(unix, 0)
                .unwrap_or_default()
                .naive_utc(),
        };
        return format!("{name};VALUE=DATE:{}", &local_text(date)[..8]);
    }
    match zone {
        Some(z) => format!(
            "{name};TZID={}:{}",
            parameter(&z.tzid),
            local_text(z.zone.to_local(unix))
        ),
        None => format!("{name}:{}", utc(unix)),
    }
}

/// A parameter value (TZID=…): quoted when it holds a character that ends a parameter.
fn parameter(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    if clean.contains([';', ':', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let mut out = String::new();
        line(&mut out, &format!("SUMMARY:{}", "é".repeat(60)));
        let lines: Vec<&str> = out.trim_end().split("\r\n").collect();
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.len() <= 75), "{lines:?}");
        assert!(lines[1..].iter().all(|l| l.starts_with(' ')));
    }

    #[test]
    fn text_and_parameter_values_are_escaped() {
        assert_eq!(escaped("a;b,c\\d\r\ne\rf"), "a\\;b\\,c\\\\d\\ne\\nf");
        assert_eq!(parameter("Europe/Berlin"), "Europe/Berlin");
        assert_eq!(parameter("Odd: zone, \"x\""), "\"Odd: zone, x\"");
    }
}
