//! Free/busy: when a user is busy between two instants, from the events of all of the user's
//! calendars — series expanded in their own zone (so a 09:00 meeting stays at 09:00 local
//! across daylight saving changes), deleted occurrences left out, changed ones at their new
//! time and with their own BusyStatus — merged into non-overlapping intervals, and the
//! MS-ASCMD MergedFreeBusy string of 30-minute slots made from them.
//!
//! Only times and a busy level ever leave this module: never a subject, location or
//! attendee, so another user's availability shows nothing of what the events are.

use super::event::{exceptions_of, name, recurrence_of, rule_of, zone_of};
use crate::store::{PropertyRecord, Store, StoreError, UserId};

/// How busy someone is, ordered: where intervals overlap, the higher level wins. The values
/// are the MergedFreeBusy digits (MS-ASCMD 2.2.3.107).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Busy {
    Free = 0,
    Tentative = 1,
    Busy = 2,
    OutOfOffice = 3,
}

impl Busy {
    /// The level of an MS-ASCAL BusyStatus (0 free, 1 tentative, 2 busy, 3 out of office,
    /// 4 working elsewhere). Working elsewhere is available for meetings, so free; an absent
    /// or unknown value is busy, as MS-ASCAL's default.
    pub fn of_busy_status(value: Option<i64>) -> Busy {
        match value {
            Some(0) | Some(4) => Busy::Free,
            Some(1) => Busy::Tentative,
            Some(3) => Busy::OutOfOffice,
            _ => Busy::Busy,
        }
    }

    /// The MergedFreeBusy digit.
    pub fn digit(self) -> char {
        char::from(b'0' + self as u8)
    }
}

/// A busy time: `start` inclusive, `end` exclusive (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusyInterval {
    pub start: i64,
    pub end: i64,
    pub busy: Busy,
}

/// The length of one MergedFreeBusy slot (MS-ASCMD: every 30 minutes).
pub const SLOT_SECONDS: i64 = 30 * 60;

/// MeetingStatus values of a cancelled meeting (MS-ASCAL 2.2.2.29): not busy.
const CANCELLED: [i64; 4] = [5, 7, 13, 15];
/// ResponseType 4: the user declined (MS-ASCAL 2.2.2.40): not busy.
const DECLINED: i64 = 4;

/// The busy intervals of `user` from `from` to `to` (Unix seconds, `to` exclusive), from all
/// of the user's calendars, merged: sorted, non-overlapping, no free ones.
pub fn busy_intervals(
    store: &Store,
    user: UserId,
    from: i64,
    to: i64,
) -> Result<Vec<BusyInterval>, StoreError> {
    let records = store.calendar_records_ending_after(user, from)?;
    let mut raw = Vec::new();
    for record in &records {
        event_intervals(record, from, to, &mut raw);
    }
    Ok(merge(raw))
}

/// Whether a record (an event or one of its exceptions) leaves the time free.
fn frees_time(record: &PropertyRecord) -> bool {
    record
        .int(name::MEETING_STATUS)
        .is_some_and(|status| CANCELLED.contains(&status))
        || record.int(name::RESPONSE_TYPE) == Some(DECLINED)
}

/// Pushes the intervals of one event that overlap `from..to`, unmerged.
pub fn event_intervals(record: &PropertyRecord, from: i64, to: i64, out: &mut Vec<BusyInterval>) {
    let Some(start) = record.int(name::START_TIME) else {
        return;
    };
    if frees_time(record) {
        return;
    }
    let end = record.int(name::END_TIME).unwrap_or(start).max(start);
    let busy = Busy::of_busy_status(record.int(name::BUSY_STATUS));
    let mut push = |start: i64, end: i64, busy: Busy| {
        if busy != Busy::Free && start < to && end > from && end > start {
            out.push(BusyInterval {
                start: start.max(from),
                end: end.min(to),
                busy,
            });
        }
    };
    let Some(recurrence) = recurrence_of(record) else {
        push(start, end, busy);
        return;
    };
    let duration = end - start;
    let exceptions = exceptions_of(record);
    let zone = zone_of(record);
    // The occurrences that end after `from` and start before `to`.
    let rule = rule_of(recurrence);
    let window = rule.occurrences_between(start, &zone, from - duration + 1, to - 1);
    for occurrence in window {
        if exceptions
            .iter()
            .any(|e| e.int(name::EXCEPTION_START) == Some(occurrence))
        {
            continue;
        }
        push(occurrence, occurrence + duration, busy);
    }
    // Changed occurrences, wherever they were moved to.
    for exception in exceptions {
        let Some(original) = exception.int(name::EXCEPTION_START) else {
            continue;
        };
        if exception.int(name::DELETED) == Some(1) || frees_time(exception) {
            continue;
        }
        let start = exception.int(name::START_TIME).unwrap_or(original);
        let end = exception
            .int(name::END_TIME)
            .unwrap_or(start + duration)
            .max(start);
        let level = exception
            .int(name::BUSY_STATUS)
            .map_or(busy, |status| Busy::of_busy_status(Some(status)));
        push(start, end, level);
    }
}

/// Overlapping intervals made into sorted, non-overlapping ones, each part at the highest
/// level covering it; touching parts of the same level are joined.
pub fn merge(intervals: Vec<BusyInterval>) -> Vec<BusyInterval> {
    // A sweep over the boundaries, counting the open intervals of each level.
    let mut edges: Vec<(i64, usize, i32)> = Vec::with_capacity(intervals.len() * 2);
    for interval in intervals.iter().filter(|i| i.end > i.start) {
        edges.push((interval.start, interval.busy as usize, 1));
        edges.push((interval.end, interval.busy as usize, -1));
    }
    edges.sort_unstable();
    let mut open = [0i32; 4];
    let mut merged: Vec<BusyInterval> = Vec::new();
    let mut index = 0;
    while index < edges.len() {
        let at = edges[index].0;
        while index < edges.len() && edges[index].0 == at {
            open[edges[index].1] += edges[index].2;
            index += 1;
        }
        let level = (1..4).rev().find(|&l| open[l] > 0);
        let Some(next) = edges.get(index).map(|e| e.0) else {
            break;
        };
        let Some(level) = level else {
            continue;
        };
        let busy = [Busy::Free, Busy::Tentative, Busy::Busy, Busy::OutOfOffice][level];
        match merged.last_mut() {
            Some(last) if last.end == at && last.busy == busy => last.end = next,
            _ => merged.push(BusyInterval {
                start: at,
                end: next,
                busy,
            }),
        }
    }
    merged
}

/// The number of 30-minute slots from `from` to `to` (a last partial slot counts).
pub fn slot_count(from: i64, to: i64) -> i64 {
    ((to - from).max(0) + SLOT_SECONDS - 1) / SLOT_SECONDS
}

/// The MergedFreeBusy string for `from..to`: one digit per 30-minute slot, the highest level
/// of any busy time inside the slot (a meeting of 10 minutes makes its slot busy).
/// `merged` must be sorted and non-overlapping ([`merge`]).
pub fn merged_free_busy(merged: &[BusyInterval], from: i64, to: i64) -> String {
    let mut out = String::with_capacity(slot_count(from, to) as usize);
    let mut next = 0;
    let mut slot_start = from;
    while slot_start < to {
        let slot_end = (slot_start + SLOT_SECONDS).min(to);
        // Skip the intervals that ended before this slot.
        while next < merged.len() && merged[next].end <= slot_start {
            next += 1;
        }
        let level = merged[next..]
            .iter()
            .take_while(|i| i.start < slot_end)
            .map(|i| i.busy)
            .max()
            .unwrap_or(Busy::Free);
        out.push(level.digit());
        slot_start = slot_end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Property;

    fn interval(start: i64, end: i64, busy: Busy) -> BusyInterval {
        BusyInterval { start, end, busy }
    }

    #[test]
    fn overlaps_keep_the_higher_level_and_same_levels_join() {
        let merged = merge(vec![
            interval(100, 200, Busy::Tentative),
            interval(150, 300, Busy::Busy),
            interval(300, 400, Busy::Busy),
            interval(350, 360, Busy::OutOfOffice),
            interval(500, 500, Busy::Busy),
            interval(600, 700, Busy::Tentative),
            interval(620, 640, Busy::Tentative),
        ]);
        assert_eq!(
            merged,
            [
                interval(100, 150, Busy::Tentative),
                interval(150, 350, Busy::Busy),
                interval(350, 360, Busy::OutOfOffice),
                interval(360, 400, Busy::Busy),
                interval(600, 700, Busy::Tentative),
            ]
        );
        assert!(merge(Vec::new()).is_empty());
    }

    #[test]
    fn merged_free_busy_has_a_digit_per_half_hour_and_the_highest_wins() {
        let hour = 3600;
        let merged = merge(vec![
            interval(0, 1800, Busy::OutOfOffice),
            interval(1800, 5400, Busy::Busy),
            interval(7200, 9000, Busy::Tentative),
        ]);
        assert_eq!(merged_free_busy(&merged, 0, 9000), "32201");
        // A 10-minute meeting marks its whole slot; a partial last slot counts.
        let short = [interval(2 * hour + 600, 2 * hour + 1200, Busy::Busy)];
        assert_eq!(merged_free_busy(&short, 0, 3 * hour - 60), "000020");
        assert_eq!(merged_free_busy(&short, 0, 0), "");
        assert_eq!(slot_count(0, 3 * hour - 60), 6);
        // Slots need not start on the hour.
        assert_eq!(
            merged_free_busy(&short, 600 + 3 * 1800, 600 + 5 * 1800),
            "02"
        );
    }

    fn event(start: i64, end: i64) -> PropertyRecord {
        let mut record = PropertyRecord::default();
        record.set(name::START_TIME, Property::Int(start));
        record.set(name::END_TIME, Property::Int(end));
        record.set("Subject", Property::Text("Secret".into()));
        record
    }

    #[test]
    fn series_exceptions_and_statuses_are_honoured() {
        let day = 86_400;
        let mut series = event(10 * 3600, 11 * 3600);
        let mut daily = PropertyRecord::default();
        daily.set(name::TYPE, Property::Int(0));
        daily.set(name::INTERVAL, Property::Int(1));
        daily.set(name::OCCURRENCES, Property::Int(4));
        series.set(name::RECURRENCE, Property::Group(daily));
        let mut deleted = PropertyRecord::default();
        deleted.set(name::EXCEPTION_START, Property::Int(day + 10 * 3600));
        deleted.set(name::DELETED, Property::Int(1));
        let mut moved = PropertyRecord::default();
        moved.set(name::EXCEPTION_START, Property::Int(2 * day + 10 * 3600));
        moved.set(name::START_TIME, Property::Int(2 * day + 14 * 3600));
        moved.set(name::END_TIME, Property::Int(2 * day + 15 * 3600));
        moved.set(name::BUSY_STATUS, Property::Int(1));
        series.set(name::EXCEPTIONS, Property::Groups(vec![deleted, moved]));
        let mut out = Vec::new();
        event_intervals(&series, 0, 10 * day, &mut out);
        let merged = merge(out);
        assert_eq!(
            merged,
            [
                interval(10 * 3600, 11 * 3600, Busy::Busy),
                interval(2 * day + 14 * 3600, 2 * day + 15 * 3600, Busy::Tentative),
                interval(3 * day + 10 * 3600, 3 * day + 11 * 3600, Busy::Busy),
            ]
        );
        // Clipped to the range asked for.
        let mut clipped = Vec::new();
        event_intervals(&series, 10 * 3600 + 1800, day, &mut clipped);
        assert_eq!(clipped, [interval(10 * 3600 + 1800, 11 * 3600, Busy::Busy)]);

        let mut free = event(0, 3600);
        free.set(name::BUSY_STATUS, Property::Int(0));
        let mut cancelled = event(0, 3600);
        cancelled.set(name::MEETING_STATUS, Property::Int(7));
        let mut declined = event(0, 3600);
        declined.set(name::RESPONSE_TYPE, Property::Int(4));
        let mut none = Vec::new();
        for record in [free, cancelled, declined] {
            event_intervals(&record, 0, day, &mut none);
        }
        assert!(none.is_empty());
    }
}
