//! Recurrence expansion: the occurrences of an MS-ASCAL Recurrence (daily, weekly, monthly
//! on a day, monthly on the nth weekday, yearly on a date, yearly on the nth weekday; Interval,
//! Until, Occurrences, FirstDayOfWeek) computed in the event's local time and turned into UTC
//! through its zone, so a 09:00 meeting stays at 09:00 local across daylight saving changes.
//!
//! The semantics are iCalendar's (RFC 5545), which the iCalendar side of easd shares: the
//! pattern's instances from the first start on (a first start off the pattern is not an
//! instance), a day that a month lacks (the 31st, 29 February) is skipped, "nth weekday" with
//! several days picks the nth of the matching days (BYSETPOS), week 5 is the last. Until is a
//! UTC instant the last start may not pass. `tests/recurrence_dateutil.rs` checks this against
//! python-dateutil's rrule.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};

use super::tz::EventZone;

/// MS-ASCAL Recurrence Type values.
pub mod kind {
    pub const DAILY: u8 = 0;
    pub const WEEKLY: u8 = 1;
    pub const MONTHLY: u8 = 2;
    pub const MONTHLY_NTH: u8 = 3;
    pub const YEARLY: u8 = 5;
    pub const YEARLY_NTH: u8 = 6;
}

/// A recurrence pattern.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub kind: u8,
    pub interval: u32,
    /// The last allowed start (UTC).
    pub until: Option<i64>,
    pub count: Option<u32>,
    /// DayOfWeek: bit 0 Sunday … bit 6 Saturday.
    pub days: u8,
    pub day_of_month: u32,
    /// WeekOfMonth: 1–4, 5 the last.
    pub week_of_month: u32,
    pub month_of_year: u32,
    /// FirstDayOfWeek: 0 Sunday … 6 Saturday (weeks of an interval start on it).
    pub first_day_of_week: u32,
}

/// Periods in a row without an instance after which a pattern is taken to have none (a
/// 30 February); 29 February needs at most 8 years, so this is generous.
const MAX_EMPTY_PERIODS: u32 = 2_000;

fn day_bit(date: NaiveDate) -> u8 {
    1 << date.weekday().num_days_from_sunday()
}

fn month_start(first: NaiveDate, months_after: u32) -> Option<NaiveDate> {
    let index = first.year() * 12 + first.month0() as i32 + months_after as i32;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
}

/// The days of `month` (its first day) matching `days`, and of those the `nth` (5: last).
fn nth_matching(month: NaiveDate, days: u8, nth: u32) -> Option<NaiveDate> {
    let matching: Vec<NaiveDate> = month
        .iter_days()
        .take_while(|d| d.month() == month.month())
        .filter(|d| day_bit(*d) & days != 0)
        .collect();
    if nth >= 5 {
        matching.last().copied()
    } else {
        matching.get(nth.max(1) as usize - 1).copied()
    }
}

impl Rule {
    /// The candidate dates of period `k` (the k-th day, week, month or year counted in
    /// intervals from the first start's), in order.
    fn period(&self, first: NaiveDate, k: u32) -> Vec<NaiveDate> {
        let step = self.interval.max(1);
        let n = k.saturating_mul(step);
        match self.kind {
            kind::DAILY if self.days == 0 => {
                vec![first + Duration::days(i64::from(n))]
            }
            kind::DAILY | kind::WEEKLY => {
                // Weekly (and daily on chosen days, which is weekly with interval 1).
                let n = if self.kind == kind::DAILY { k } else { n };
                let back =
                    (first.weekday().num_days_from_sunday() + 7 - self.first_day_of_week % 7) % 7;
                let week = first - Duration::days(i64::from(back)) + Duration::weeks(i64::from(n));
                let days = if self.days == 0 {
                    day_bit(first)
                } else {
                    self.days
                };
                (0..7)
                    .map(|i| week + Duration::days(i))
                    .filter(|d| day_bit(*d) & days != 0)
                    .collect()
            }
            kind::MONTHLY | kind::MONTHLY_NTH => {
                let Some(month) = month_start(first, n) else {
                    return Vec::new();
                };
                if self.kind == kind::MONTHLY {
                    let day = if self.day_of_month == 0 {
                        first.day()
                    } else {
                        self.day_of_month
                    };
                    NaiveDate::from_ymd_opt(month.year(), month.month(), day)
                        .into_iter()
                        .collect()
                } else {
                    let days = if self.days == 0 {
                        day_bit(first)
                    } else {
                        self.days
                    };
                    nth_matching(month, days, self.week_of_month)
                        .into_iter()
                        .collect()
                }
            }
            kind::YEARLY | kind::YEARLY_NTH => {
                let year = first.year() + n as i32;
                let month_of_year = if self.month_of_year == 0 {
                    first.month()
                } else {
                    self.month_of_year
                };
                let Some(month) = NaiveDate::from_ymd_opt(year, month_of_year, 1) else {
                    return Vec::new();
                };
                if self.kind == kind::YEARLY {
                    let day = if self.day_of_month == 0 {
                        first.day()
                    } else {
                        self.day_of_month
                    };
                    NaiveDate::from_ymd_opt(year, month_of_year, day)
                        .into_iter()
                        .collect()
                } else {
                    let days = if self.days == 0 {
                        day_bit(first)
                    } else {
                        self.days
                    };
                    nth_matching(month, days, self.week_of_month)
                        .into_iter()
                        .collect()
                }
            }
            _ => Vec::new(),
        }
    }

    /// The local starts of the pattern from `first` on, in order, without end.
    pub fn local_starts(&self, first: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> + '_ {
        let time = first.time();
        let mut k = 0u32;
        let mut empty = 0u32;
        let mut pending: std::vec::IntoIter<NaiveDate> = Vec::new().into_iter();
        std::iter::from_fn(move || loop {
            if let Some(date) = pending.next() {
                let start = date.and_time(time);
                if start >= first {
                    return Some(start);
                }
                continue;
            }
            if empty > MAX_EMPTY_PERIODS || k == u32::MAX {
                return None;
            }
            let dates = self.period(first.date(), k);
            k += 1;
            empty = if dates.is_empty() { empty + 1 } else { 0 };
            pending = dates.into_iter();
        })
    }

    /// The UTC starts of the occurrences of a series whose first start is `first` (UTC) in
    /// `zone`, up to `horizon` (UTC, inclusive) and the rule's own Until and count.
    pub fn occurrences(&self, first: i64, zone: &EventZone, horizon: i64) -> Vec<i64> {
        let limit = self.until.map_or(horizon, |until| until.min(horizon));
        let count = self.count.map_or(usize::MAX, |c| c as usize);
        let mut out = Vec::new();
        for local in self.local_starts(zone.to_local(first)) {
            let utc = zone.to_utc(local);
            if out.len() >= count || utc > limit {
                break;
            }
            out.push(utc);
        }
        out
    }

    /// The UTC starts of the occurrences that start from `from` to `to` (UTC, both
    /// inclusive), within the rule's own Until and count. Only starts near the window are
    /// converted through the zone (local times are at most 14 hours from UTC), so a long
    /// series asked about a short window costs little more than its date arithmetic.
    pub fn occurrences_between(
        &self,
        first: i64,
        zone: &EventZone,
        from: i64,
        to: i64,
    ) -> Vec<i64> {
        const MAX_OFFSET: i64 = 14 * 3600;
        let limit = self.until.map_or(to, |until| until.min(to));
        let count = self.count.map_or(usize::MAX, |c| c as usize);
        let mut out = Vec::new();
        for (index, local) in self.local_starts(zone.to_local(first)).enumerate() {
            let naive = local.and_utc().timestamp();
            if index >= count || naive - MAX_OFFSET > limit {
                break;
            }
            if naive + MAX_OFFSET < from {
                continue;
            }
            let utc = zone.to_utc(local);
            if utc > limit {
                break;
            }
            if utc >= from {
                out.push(utc);
            }
        }
        out
    }

    /// The start of the last occurrence (UTC), `None` for a series without an end.
    pub fn last_start(&self, first: i64, zone: &EventZone) -> Option<i64> {
        if self.until.is_none() && self.count.is_none() {
            return None;
        }
        self.occurrences(first, zone, i64::MAX).last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::tz::IanaZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn a_weekly_nine_oclock_stays_at_nine_across_dst_in_both_hemispheres() {
        for name in ["Europe/Berlin", "Australia/Sydney"] {
            let tz = IanaZone::named(name).unwrap();
            let zone = EventZone::Iana(tz.clone());
            let rule = Rule {
                kind: kind::WEEKLY,
                interval: 1,
                count: Some(60),
                days: 1 << 3, // Wednesday
                first_day_of_week: 1,
                ..Rule::default()
            };
            let first = zone.to_utc(at(2025, 1, 1, 9));
            let starts = rule.occurrences(first, &zone, i64::MAX);
            assert_eq!(starts.len(), 60);
            for start in starts {
                let local = zone.to_local(start);
                assert_eq!(local.time(), at(2025, 1, 1, 9).time(), "{tz} {local}");
                assert_eq!(local.weekday(), chrono::Weekday::Wed);
            }
        }
    }

    #[test]
    fn occurrences_between_agree_with_the_full_expansion() {
        let zone = EventZone::Iana(IanaZone::named("America/Sao_Paulo").unwrap());
        let rule = Rule {
            kind: kind::DAILY,
            interval: 3,
            count: Some(400),
            ..Rule::default()
        };
        let first = zone.to_utc(at(2024, 1, 1, 23));
        let all = rule.occurrences(first, &zone, i64::MAX);
        for (from, to) in [
            (first, first),
            (all[10] - 1, all[20]),
            (all[10] + 1, all[20] - 1),
            (all[399] - 86_400, i64::MAX),
            (0, first - 1),
        ] {
            let want: Vec<i64> = all
                .iter()
                .copied()
                .filter(|s| (from..=to).contains(s))
                .collect();
            assert_eq!(rule.occurrences_between(first, &zone, from, to), want);
        }
    }

    #[test]
    fn months_without_the_day_are_skipped_and_last_weekdays_found() {
        let zone = EventZone::Iana(IanaZone::utc());
        let on_31st = Rule {
            kind: kind::MONTHLY,
            interval: 1,
            count: Some(4),
            day_of_month: 31,
            ..Rule::default()
        };
        let starts: Vec<_> = on_31st
            .local_starts(at(2025, 1, 31, 8))
            .take(4)
            .map(|d| d.date().month())
            .collect();
        assert_eq!(starts, [1, 3, 5, 7]);
        let last_friday = Rule {
            kind: kind::MONTHLY_NTH,
            interval: 1,
            days: 1 << 5,
            week_of_month: 5,
            ..Rule::default()
        };
        let fridays: Vec<_> = last_friday
            .local_starts(at(2025, 1, 1, 8))
            .take(2)
            .collect();
        assert_eq!(fridays, [at(2025, 1, 31, 8), at(2025, 2, 28, 8)]);
        let leap = Rule {
            kind: kind::YEARLY,
            interval: 1,
            month_of_year: 2,
            day_of_month: 29,
            until: Some(zone.to_utc(at(2033, 1, 1, 0))),
            ..Rule::default()
        };
        let years: Vec<_> = leap
            .occurrences(zone.to_utc(at(2024, 2, 29, 8)), &zone, i64::MAX)
            .into_iter()
            .map(|s| zone.to_local(s).year())
            .collect();
        assert_eq!(years, [2024, 2028, 2032]);
        assert_eq!(
            leap.last_start(zone.to_utc(at(2024, 2, 29, 8)), &zone),
            Some(zone.to_utc(at(2032, 2, 29, 8)))
        );
        let impossible = Rule {
            kind: kind::YEARLY,
            month_of_year: 2,
            day_of_month: 30,
            ..Rule::default()
        };
        assert_eq!(impossible.local_starts(at(2024, 1, 1, 0)).count(), 0);
    }
}
