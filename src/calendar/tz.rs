//! Time zones of calendar events: the MS-ASDTYPE TimeZone blob (a Windows
//! TIME_ZONE_INFORMATION: bias, standard and daylight names, transition rules) read and
//! written, and the zone an event's local times belong to.
//!
//! A blob names its zone by its Windows StandardName; CLDR's windowsZones mapping (the
//! `windows-timezones` crate) turns that into an IANA zone of the tz database (`jiff`: the
//! system's /usr/share/zoneinfo, else the copy bundled in the binary), whose history is right
//! for every year. A blob whose name is an IANA name is taken as such. A blob that matches no known zone still works from its own rules: a yearly
//! standard/daylight transition ("the last Sunday of October at 03:00").
//!
//! Local times that do not exist (the hour skipped in spring) move forward by the gap; local
//! times that happen twice (autumn) are the first of the two — what iCalendar (RFC 5545
//! 3.3.5) and Python's zoneinfo do.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Length of an encoded TIME_ZONE_INFORMATION.
pub const BLOB_LEN: usize = 172;

/// A yearly transition: `month`, the `week`-th (5: last) `weekday` (0 Sunday) at `hour`:`minute`
/// local time. A SYSTEMTIME with a year is a one-off date in Windows; it is read as yearly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    pub month: u16,
    pub weekday: u16,
    pub week: u16,
    pub hour: u16,
    pub minute: u16,
}

/// A decoded TimeZone blob. Biases are minutes *west* of UTC (Windows' sign).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimeZoneInfo {
    pub bias: i32,
    pub standard_name: String,
    pub standard_date: Transition,
    pub standard_bias: i32,
    pub daylight_name: String,
    pub daylight_date: Transition,
    pub daylight_bias: i32,
}

fn utf16_name(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|unit| *unit != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let mut bytes: Vec<u8> = name
        .encode_utf16()
        .take(31)
        .flat_map(u16::to_le_bytes)
        .collect();
    bytes.resize(64, 0);
    out.extend(bytes);
}

fn read_transition(bytes: &[u8]) -> Transition {
    let field = |i: usize| u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
    Transition {
        month: field(1),
        weekday: field(2),
        week: field(3),
        hour: field(4),
        minute: field(5),
    }
}

fn put_transition(out: &mut Vec<u8>, t: &Transition) {
    for value in [0, t.month, t.weekday, t.week, t.hour, t.minute, 0, 0] {
        out.extend(value.to_le_bytes());
    }
}

impl TimeZoneInfo {
    /// Reads a blob; `None` when it is not 172 bytes.
    pub fn from_blob(blob: &[u8]) -> Option<TimeZoneInfo> {
        if blob.len() != BLOB_LEN {
            return None;
        }
        let int = |at: usize| i32::from_le_bytes(blob[at..at + 4].try_into().unwrap_or([0; 4]));
        Some(TimeZoneInfo {
            bias: int(0),
            standard_name: utf16_name(&blob[4..68]),
            standard_date: read_transition(&blob[68..84]),
            standard_bias: int(84),
            daylight_name: utf16_name(&blob[88..152]),
            daylight_date: read_transition(&blob[152..168]),
            daylight_bias: int(168),
        })
    }

    /// The 172-byte blob.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOB_LEN);
        out.extend(self.bias.to_le_bytes());
        put_name(&mut out, &self.standard_name);
        put_transition(&mut out, &self.standard_date);
        out.extend(self.standard_bias.to_le_bytes());
        put_name(&mut out, &self.daylight_name);
        put_transition(&mut out, &self.daylight_date);
        out.extend(self.daylight_bias.to_le_bytes());
        out
    }

    fn has_daylight(&self) -> bool {
        self.standard_date.month != 0 && self.daylight_date.month != 0
    }

    /// The rules of IANA zone `tz` in `year` as a blob: the offsets in January and July, and
    /// the transitions found between them (for phones, which want a blob with every event).
    pub fn for_zone(tz: &IanaZone, windows_name: &str, year: i32) -> TimeZoneInfo {
        let offset_at = |utc: i64| tz.offset_at_utc(utc);
        let start = NaiveDate::from_ymd_opt(year, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default()
            .and_utc()
            .timestamp();
        // Walk the year by days, and the hours of a day where the offset changes.
        let mut changes = Vec::new();
        let mut previous = offset_at(start);
        let mut day = start;
        while day < start + 366 * 86_400 {
            if offset_at(day + 86_400) != previous {
                for hour in 1..=24 {
                    let at = day + hour * 3600;
                    let now = offset_at(at);
                    if now != previous {
                        changes.push((at, previous, now));
                        previous = now;
                        break;
                    }
                }
            }
            day += 86_400;
        }
        let standard = changes
            .iter()
            .map(|c| c.1.min(c.2))
            .min()
            .unwrap_or(previous);
        let mut info = TimeZoneInfo {
            bias: -standard,
            standard_name: windows_name.to_string(),
            daylight_name: windows_name.to_string(),
            ..TimeZoneInfo::default()
        };
        for (utc, before, after) in changes.into_iter().take(2) {
            // The transition in the local time before it.
            let local = DateTime::from_timestamp(utc + i64::from(before) * 60, 0)
                .unwrap_or_default()
                .naive_utc();
            let week = ((local.day() - 1) / 7 + 1) as u16;
            let last = local.day() + 7 > days_in_month(local.year(), local.month());
            let rule = Transition {
                month: local.month() as u16,
                weekday: local.weekday().num_days_from_sunday() as u16,
                week: if last { 5 } else { week },
                hour: local.hour() as u16,
                minute: local.minute() as u16,
            };
            if after > before {
                info.daylight_date = rule;
                info.daylight_bias = -(after - standard);
            } else {
                info.standard_date = rule;
            }
        }
        info
    }

    /// The UTC offset in minutes (east positive) at local time `local`, by the blob's rules.
    fn offset_at_local(&self, local: NaiveDateTime) -> i32 {
        let standard = -(self.bias + self.standard_bias);
        if !self.has_daylight() {
            return standard;
        }
        let daylight = -(self.bias + self.daylight_bias);
        let year = local.year();
        let (Some(to_daylight), Some(to_standard)) = (
            transition_in(year, &self.daylight_date),
            transition_in(year, &self.standard_date),
        ) else {
            return standard;
        };
        let in_daylight = if to_daylight < to_standard {
            local >= to_daylight && local < to_standard
        } else {
            // Southern hemisphere: daylight time spans the new year.
            local >= to_daylight || local < to_standard
        };
        if in_daylight {
            daylight
        } else {
            standard
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|d| d.pred_opt()).map_or(31, |d| d.day())
}

/// The local time of transition `t` in `year`.
fn transition_in(year: i32, t: &Transition) -> Option<NaiveDateTime> {
    let month = u32::from(t.month);
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let shift = (u32::from(t.weekday) + 7 - first.weekday().num_days_from_sunday()) % 7;
    let mut day = 1 + shift + 7 * (u32::from(t.week.clamp(1, 5)) - 1);
    while day > days_in_month(year, month) {
        day -= 7;
    }
    NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(
        u32::from(t.hour).min(23),
        u32::from(t.minute).min(59),
        0,
    )
}

/// A zone of the IANA tz database, by name ("Europe/Berlin").
#[derive(Clone)]
pub struct IanaZone(jiff::tz::TimeZone);

impl IanaZone {
    /// UTC itself.
    pub fn utc() -> IanaZone {
        IanaZone(jiff::tz::TimeZone::UTC)
    }

    /// The zone of an IANA name, if the database knows it.
    pub fn named(name: &str) -> Option<IanaZone> {
        jiff::tz::db().get(name).ok().map(IanaZone)
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }

    pub fn is_utc(&self) -> bool {
        self.name() == "UTC"
    }

    /// The UTC offset in minutes (east positive) at Unix seconds `utc`.
    pub fn offset_at_utc(&self, utc: i64) -> i32 {
        // Outside jiff's years -9999..=9999 (no event's), the nearest representable instant.
        let at = jiff::Timestamp::from_second(utc).unwrap_or(if utc < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        self.0.to_offset(at).seconds() / 60
    }

    /// The UTC offset in minutes at local time `local`: for a time in a gap (skipped in
    /// spring) or a fold (repeated in autumn), the offset before the transition.
    pub fn offset_at_local(&self, local: NaiveDateTime) -> i32 {
        let civil = i16::try_from(local.year()).ok().and_then(|year| {
            jiff::civil::DateTime::new(
                year,
                local.month() as i8,
                local.day() as i8,
                local.hour() as i8,
                local.minute() as i8,
                local.second().min(59) as i8,
                0,
            )
            .ok()
        });
        let Some(civil) = civil else {
            return self.offset_at_utc(local.and_utc().timestamp());
        };
        let offset = match self.0.to_ambiguous_timestamp(civil).offset() {
            jiff::tz::AmbiguousOffset::Unambiguous { offset } => offset,
            jiff::tz::AmbiguousOffset::Gap { before, .. } => before,
            jiff::tz::AmbiguousOffset::Fold { before, .. } => before,
        };
        offset.seconds() / 60
    }
}

impl PartialEq for IanaZone {
    fn eq(&self, other: &IanaZone) -> bool {
        self.name() == other.name()
    }
}

impl std::fmt::Debug for IanaZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IanaZone({})", self.name())
    }
}

impl std::fmt::Display for IanaZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The zone an event's local times are in.
#[derive(Clone, Debug, PartialEq)]
pub enum EventZone {
    Iana(IanaZone),
    /// A blob that names no known zone: its own yearly rules.
    Rules(TimeZoneInfo),
}

impl EventZone {
    /// The zone of a TimeZone blob: the IANA zone its StandardName names (a Windows name
    /// through CLDR, or an IANA name), else the blob's rules. UTC for a blob that is not one.
    pub fn from_blob(blob: &[u8]) -> EventZone {
        let Some(info) = TimeZoneInfo::from_blob(blob) else {
            return EventZone::Iana(IanaZone::utc());
        };
        match iana_of(&info.standard_name) {
            Some(tz) if matches_rules(&tz, &info) => EventZone::Iana(tz),
            _ => EventZone::Rules(info),
        }
    }

    /// The UTC offset in minutes at local time `local` (for a time that does not exist, the
    /// offset before the gap; for one that happens twice, the first).
    pub fn offset_at_local(&self, local: NaiveDateTime) -> i32 {
        match self {
            EventZone::Rules(info) => info.offset_at_local(local),
            EventZone::Iana(tz) => tz.offset_at_local(local),
        }
    }

    /// Unix seconds of local time `local`.
    pub fn to_utc(&self, local: NaiveDateTime) -> i64 {
        local.and_utc().timestamp() - i64::from(self.offset_at_local(local)) * 60
    }

    /// The local time of Unix seconds `utc`.
    pub fn to_local(&self, utc: i64) -> NaiveDateTime {
        let at = DateTime::from_timestamp(utc, 0)
            .unwrap_or_default()
            .naive_utc();
        let offset = match self {
            EventZone::Iana(tz) => tz.offset_at_utc(utc),
            EventZone::Rules(info) => {
                // The offset at the local time this UTC time would have in standard time,
                // then checked once more with the result.
                let guess = at + chrono::TimeDelta::minutes(i64::from(info.offset_at_local(at)));
                info.offset_at_local(guess)
            }
        };
        at + chrono::TimeDelta::minutes(i64::from(offset))
    }
}

/// The IANA zone named by a Windows zone name (CLDR windowsZones) or an IANA name.
pub fn iana_of(name: &str) -> Option<IanaZone> {
    let name = name.trim();
    if let Ok(windows) = name.parse::<windows_timezones::WindowsTimezone>() {
        return IanaZone::named(windows.tzdb_id());
    }
    // Some writers prefix IANA names ("/freeassociation.sourceforge.net/Europe/Berlin").
    std::iter::once(name)
        .chain(name.match_indices('/').map(|(at, _)| &name[at + 1..]))
        .find_map(IanaZone::named)
}

/// The Windows name of an IANA zone, for blobs easd writes: the Windows zone whose CLDR
/// main zone it is. Other IANA zones go by their own name (which `iana_of` reads back).
pub fn windows_name_of(tz: &IanaZone) -> Option<&'static str> {
    use strum::IntoEnumIterator;
    windows_timezones::WindowsTimezone::iter()
        .find(|windows| windows.tzdb_id() == tz.name())
        .map(|windows| windows.name())
}

/// Whether an IANA zone agrees with a blob's standard offset this year — a guard against a
/// blob whose name says one zone and whose bias another (the bias wins then).
fn matches_rules(tz: &IanaZone, info: &TimeZoneInfo) -> bool {
    let standard = -(info.bias + info.standard_bias);
    (2020..2030).any(|year| {
        [1, 7].iter().any(|&month| {
            let at = NaiveDate::from_ymd_opt(year, month, 15)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .unwrap_or_default();
            tz.offset_at_utc(at.and_utc().timestamp()) == standard
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    fn zone(name: &str) -> IanaZone {
        IanaZone::named(name).unwrap()
    }

    fn berlin_rules(name: &str) -> TimeZoneInfo {
        TimeZoneInfo {
            bias: -60,
            standard_name: name.into(),
            standard_date: Transition {
                month: 10,
                weekday: 0,
                week: 5,
                hour: 3,
                minute: 0,
            },
            standard_bias: 0,
            daylight_name: name.into(),
            daylight_date: Transition {
                month: 3,
                weekday: 0,
                week: 5,
                hour: 2,
                minute: 0,
            },
            daylight_bias: -60,
        }
    }

    #[test]
    fn blobs_round_trip() {
        let info = berlin_rules("W. Europe Standard Time");
        let blob = info.to_blob();
        assert_eq!(blob.len(), BLOB_LEN);
        assert_eq!(TimeZoneInfo::from_blob(&blob), Some(info));
        assert_eq!(TimeZoneInfo::from_blob(&blob[1..]), None);
    }

    #[test]
    fn a_windows_name_maps_to_its_iana_zone_through_cldr() {
        let blob = berlin_rules("W. Europe Standard Time").to_blob();
        assert_eq!(
            EventZone::from_blob(&blob),
            EventZone::Iana(zone("Europe/Berlin"))
        );
        assert_eq!(
            iana_of("AUS Eastern Standard Time"),
            Some(zone("Australia/Sydney"))
        );
        assert_eq!(iana_of("Asia/Kolkata"), Some(zone("Asia/Kolkata")));
        assert_eq!(
            iana_of("/freeassociation.sourceforge.net/Europe/Berlin"),
            Some(zone("Europe/Berlin"))
        );
        assert_eq!(iana_of("Mars/Olympus"), None);
        assert_eq!(
            windows_name_of(&zone("Europe/Berlin")),
            Some("W. Europe Standard Time")
        );
    }

    #[test]
    fn an_unknown_blob_works_from_its_own_rules_in_both_hemispheres() {
        let zone = EventZone::from_blob(&berlin_rules("Somewhere Odd").to_blob());
        assert!(matches!(zone, EventZone::Rules(_)));
        assert_eq!(zone.offset_at_local(local(2025, 1, 10, 9, 0)), 60);
        assert_eq!(zone.offset_at_local(local(2025, 7, 10, 9, 0)), 120);
        // 2025: DST from 30 March 02:00 to 26 October 03:00.
        assert_eq!(zone.offset_at_local(local(2025, 3, 30, 1, 59)), 60);
        assert_eq!(zone.offset_at_local(local(2025, 3, 30, 3, 0)), 120);
        assert_eq!(zone.offset_at_local(local(2025, 10, 26, 3, 0)), 60);
        let nine = local(2025, 7, 10, 9, 0);
        assert_eq!(zone.to_local(zone.to_utc(nine)), nine);

        // Sydney-like: +10, daylight +11 from the first Sunday of October to the first
        // Sunday of April.
        let south = TimeZoneInfo {
            bias: -600,
            standard_name: "Nowhere South".into(),
            standard_date: Transition {
                month: 4,
                weekday: 0,
                week: 1,
                hour: 3,
                minute: 0,
            },
            daylight_date: Transition {
                month: 10,
                weekday: 0,
                week: 1,
                hour: 2,
                minute: 0,
            },
            daylight_bias: -60,
            ..TimeZoneInfo::default()
        };
        let zone = EventZone::Rules(south);
        assert_eq!(zone.offset_at_local(local(2025, 1, 10, 9, 0)), 660);
        assert_eq!(zone.offset_at_local(local(2025, 7, 10, 9, 0)), 600);
    }

    #[test]
    fn the_bundled_database_serves_systems_without_zoneinfo() {
        // Routers often ship no /usr/share/zoneinfo; jiff then falls back to this copy.
        let berlin = jiff::tz::TimeZoneDatabase::bundled()
            .get("Europe/Berlin")
            .unwrap();
        let july = jiff::Timestamp::from_second(1_752_148_800).unwrap(); // 2025-07-10 12:00 UTC
        assert_eq!(berlin.to_offset(july).seconds(), 7200);
    }

    #[test]
    fn iana_zones_give_local_nine_across_dst() {
        let zone = EventZone::Iana(zone("America/New_York"));
        let winter = zone.to_utc(local(2025, 3, 7, 9, 0));
        let summer = zone.to_utc(local(2025, 3, 14, 9, 0));
        assert_eq!(summer - winter, 7 * 86_400 - 3600);
        // 02:30 on 9 March 2025 does not exist: it is 03:30 EDT.
        let gap = zone.to_utc(local(2025, 3, 9, 2, 30));
        assert_eq!(zone.to_local(gap), local(2025, 3, 9, 3, 30));
    }

    #[test]
    fn a_zone_written_as_a_blob_reads_back_as_the_same_rules() {
        for name in [
            "Europe/Berlin",
            "Australia/Sydney",
            "America/New_York",
            "Asia/Kolkata",
        ] {
            let tz = zone(name);
            let info = TimeZoneInfo::for_zone(&tz, "Test", 2025);
            let rules = EventZone::Rules(info);
            let iana = EventZone::Iana(tz.clone());
            for month in 1..=12 {
                let at = local(2025, month, 12, 12, 0);
                assert_eq!(
                    rules.offset_at_local(at),
                    iana.offset_at_local(at),
                    "{tz} {month}"
                );
            }
        }
    }
}
