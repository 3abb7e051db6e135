//! Recurrence expansion checked against an implementation nobody here wrote: python-dateutil's
//! rrule with Python's zoneinfo (`tests/fixtures/rrule_reference.py`; `.ci/run` installs
//! python-dateutil). Generated series — every recurrence type, intervals, counts and Until —
//! in ten zones: both hemispheres, half-hour zones with and without DST, zones without DST,
//! zones whose rules changed (Sao Paulo dropped DST in 2019, Moscow changed in 2011 and 2014),
//! starting at times that fall in DST gaps and overlaps on some dates.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{NaiveDate, NaiveDateTime};
use easd::calendar::recurrence::{kind, Rule};
use easd::calendar::tz::{EventZone, IanaZone};

const ZONES: [&str; 10] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Asia/Tokyo",
    "Europe/Moscow",
    "America/St_Johns",
    "Pacific/Auckland",
];

/// Both sides stop here: the compiled-in tz tables end around 2100, where Python's zoneinfo
/// goes on with the zone's last rule.
const HORIZON: i64 = 3_471_292_800; // 2080-01-01

/// A small deterministic generator (the series are the same on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % u64::from(below)) as u32
    }
}

struct Case {
    zone: &'static str,
    first: NaiveDateTime,
    rule: Rule,
}

fn generate(random: &mut Lcg, zone: &'static str) -> Case {
    let times = [(0, 0), (1, 30), (2, 30), (9, 0), (23, 30), (3, 0)];
    let (hour, minute) = times[random.next(times.len() as u32) as usize];
    let kinds = [
        kind::DAILY,
        kind::WEEKLY,
        kind::MONTHLY,
        kind::MONTHLY_NTH,
        kind::YEARLY,
        kind::YEARLY_NTH,
    ];
    let kind = kinds[random.next(6) as usize];
    let year = 2008 + random.next(18) as i32;
    let month = 1 + random.next(12);
    let day = 1 + random.next(28);
    let first = NaiveDate::from_ymd_opt(year, month, day)
        .unwrap()
        .and_hms_opt(hour, minute, 0)
        .unwrap();
    let days = match random.next(3) {
        0 => 1 << random.next(7),
        1 => 0b011_1110, // weekdays
        _ => (1 + random.next(127)) as u8,
    };
    let mut rule = Rule {
        kind,
        interval: 1 + random.next(3),
        days,
        day_of_month: 1 + random.next(31),
        week_of_month: 1 + random.next(5),
        month_of_year: 1 + random.next(12),
        first_day_of_week: random.next(7),
        ..Rule::default()
    };
    if kind == kind::DAILY {
        // Daily on chosen days is every week (Interval 1); plain daily has no days.
        if random.next(2) == 0 {
            rule.days = 0;
        } else {
            rule.interval = 1;
        }
    }
    if random.next(2) == 0 {
        rule.count = Some(1 + random.next(40));
    } else {
        let span_days = match kind {
            kind::DAILY => 120,
            kind::WEEKLY => 400,
            kind::MONTHLY | kind::MONTHLY_NTH => 1500,
            _ => 4000,
        };
        let until = first + chrono::Duration::days(i64::from(1 + random.next(span_days)));
        rule.until = Some(until.and_utc().timestamp());
    }
    Case { zone, first, rule }
}

fn local_text(t: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:00",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn as_json(case: &Case) -> String {
    let rule = &case.rule;
    let (freq, byweekday, bymonthday, bymonth, bysetpos) = match rule.kind {
        kind::DAILY => ("DAILY", rule.days, None, None, None),
        kind::WEEKLY => ("WEEKLY", rule.days, None, None, None),
        kind::MONTHLY => ("MONTHLY", 0, Some(rule.day_of_month), None, None),
        kind::MONTHLY_NTH => ("MONTHLY", rule.days, None, None, Some(rule.week_of_month)),
        kind::YEARLY => (
            "YEARLY",
            0,
            Some(rule.day_of_month),
            Some(rule.month_of_year),
            None,
        ),
        _ => (
            "YEARLY",
            rule.days,
            None,
            Some(rule.month_of_year),
            Some(rule.week_of_month),
        ),
    };
    let days: Vec<String> = (0..7)
        .filter(|d| byweekday & (1 << d) != 0)
        .map(|d| d.to_string())
        .collect();
    let opt = |v: Option<u32>| v.map_or("null".to_string(), |v| v.to_string());
    let setpos = bysetpos.map(|n| if n >= 5 { -1 } else { n as i64 });
    format!(
        r#"{{"tz":"{}","start":"{}","freq":"{}","interval":{},"wkst":{},"byweekday":[{}],"bymonthday":{},"bymonth":{},"bysetpos":{},"count":{},"until":{}}}"#,
        case.zone,
        local_text(case.first),
        freq,
        rule.interval,
        rule.first_day_of_week,
        days.join(","),
        opt(bymonthday),
        opt(bymonth),
        setpos.map_or("null".to_string(), |v| v.to_string()),
        opt(rule.count),
        rule.until.unwrap_or(HORIZON).min(HORIZON),
    )
}

fn dateutil_available() -> bool {
    Command::new("python3")
        .args(["-c", "import dateutil.rrule, zoneinfo"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn expansion_agrees_with_dateutil_in_ten_zones_across_dst() {
    if !dateutil_available() {
        eprintln!("python3 with python-dateutil is not installed: skipped (.ci/run installs it)");
        return;
    }
    let mut random = Lcg(20_261_206);
    let mut cases = Vec::new();
    for zone in ZONES {
        let event_zone = EventZone::Iana(IanaZone::named(zone).unwrap());
        let mut made = 0;
        while made < 60 {
            let case = generate(&mut random, zone);
            // A first start that does not exist locally is no event's start.
            let utc = event_zone.to_utc(case.first);
            if event_zone.to_local(utc) != case.first {
                continue;
            }
            cases.push(case);
            made += 1;
        }
    }
    let input: String = cases.iter().map(|c| as_json(c) + "\n").collect();
    let mut child = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rrule_reference.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the reference failed");
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(lines.len(), cases.len());
    let mut occurrences = 0;
    let mut crossing_dst = 0;
    for (case, line) in cases.iter().zip(lines) {
        let expected: Vec<i64> = line
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let zone = EventZone::Iana(IanaZone::named(case.zone).unwrap());
        let first = zone.to_utc(case.first);
        let got = case.rule.occurrences(first, &zone, HORIZON);
        assert_eq!(got, expected, "{}", as_json(case));
        occurrences += got.len();
        let offsets: std::collections::HashSet<i32> = got
            .iter()
            .map(|s| zone.offset_at_local(zone.to_local(*s)))
            .collect();
        if offsets.len() > 1 {
            crossing_dst += 1;
        }
    }
    // The generated series really exercise the expansion and the DST edges.
    assert!(occurrences > 5_000, "{occurrences}");
    assert!(crossing_dst > 100, "{crossing_dst}");
}
