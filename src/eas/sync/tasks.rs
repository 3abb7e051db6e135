//! The Tasks class (MS-ASTASK): its field table — with Recurrence (every type, Regenerate,
//! DeadOccur, and the 14.x calendar fields) as a nested table — and its rules: FilterType 8
//! sends only incomplete tasks (a completed task is dated by its completion, an incomplete one
//! is undated, and filter 8's cutoff lies after every date), and a task marked complete
//! without a DateCompleted gets the time of the write.

use super::class::{Field, FieldKind};
use super::data_class::{unrevised, DataClass};
use crate::eas::ProtocolVersion::{V12_0, V14_0, V14_1, V2_5};
use crate::store::{ItemClass, Property, PropertyRecord};
use crate::wbxml::tag::{airsyncbase, tasks};

use FieldKind::{Body, Bool, Date, Group, Int, List, PlainBody, Text};

/// FilterType 8: incomplete tasks only (MS-ASCMD 2.2.3.70.1).
pub const INCOMPLETE_TASKS: u8 = 8;

/// The Recurrence element's children.
static RECURRENCE: &[Field] = &[
    Field::new(tasks::TYPE, Int, V2_5),
    Field::new(tasks::START, Date, V2_5),
    Field::new(tasks::UNTIL, Date, V2_5),
    Field::new(tasks::OCCURRENCES, Int, V2_5),
    Field::new(tasks::INTERVAL, Int, V2_5),
    Field::new(tasks::DAY_OF_MONTH, Int, V2_5),
    Field::new(tasks::DAY_OF_WEEK, Int, V2_5),
    Field::new(tasks::WEEK_OF_MONTH, Int, V2_5),
    Field::new(tasks::MONTH_OF_YEAR, Int, V2_5),
    Field::new(tasks::REGENERATE, Bool, V2_5),
    Field::new(tasks::DEAD_OCCUR, Bool, V2_5),
    Field::new(tasks::CALENDAR_TYPE, Int, V14_0),
    Field::new(tasks::IS_LEAP_MONTH, Bool, V14_0),
    Field::new(tasks::FIRST_DAY_OF_WEEK, Int, V14_1),
];

/// Tasks ApplicationData, in the order of MS-ASTASK.
static FIELDS: &[Field] = &[
    Field::new(tasks::BODY, PlainBody, V2_5).until(V12_0),
    Field::new(airsyncbase::BODY, Body, V12_0),
    Field::new(tasks::CATEGORIES, List(tasks::CATEGORY), V2_5),
    Field::new(tasks::COMPLETE, Bool, V2_5),
    Field::new(tasks::DATE_COMPLETED, Date, V2_5),
    Field::new(tasks::DUE_DATE, Date, V2_5),
    Field::new(tasks::UTC_DUE_DATE, Date, V2_5),
    Field::new(tasks::IMPORTANCE, Int, V2_5),
    Field::new(tasks::RECURRENCE, Group(RECURRENCE), V2_5),
    Field::new(tasks::REMINDER_SET, Bool, V2_5),
    Field::new(tasks::REMINDER_TIME, Date, V2_5),
    Field::new(tasks::SENSITIVITY, Int, V2_5),
    Field::new(tasks::START_DATE, Date, V2_5),
    Field::new(tasks::UTC_START_DATE, Date, V2_5),
    Field::new(tasks::SUBJECT, Text, V2_5),
];

fn complete(record: &PropertyRecord) -> bool {
    record.int(tasks::COMPLETE.name()).unwrap_or(0) != 0
}

/// Filter 8 keeps undated (incomplete) tasks only; the others have no window.
fn cutoff(filter: u8, _now: i64) -> Option<i64> {
    (filter == INCOMPLETE_TASKS).then_some(i64::MAX)
}

/// A completed task is dated by its completion; an incomplete one has no date.
fn sort_date(record: &PropertyRecord) -> Option<i64> {
    complete(record).then(|| record.int(tasks::DATE_COMPLETED.name()).unwrap_or(0))
}

/// Complete is required (0 when not sent); a completed task has a DateCompleted.
fn prepare(record: &mut PropertyRecord, now: i64) {
    let done = complete(record);
    record.set(tasks::COMPLETE.name(), Property::Int(i64::from(done)));
    if done && record.get(tasks::DATE_COMPLETED.name()).is_none() {
        record.set(tasks::DATE_COMPLETED.name(), Property::Int(now));
    }
    if !done {
        record.remove(tasks::DATE_COMPLETED.name());
    }
}

/// The Tasks class.
pub static TASKS: DataClass = DataClass {
    class: ItemClass::Tasks,
    fields: FIELDS,
    filters: &[0, INCOMPLETE_TASKS],
    cutoff,
    sort_date,
    prepare,
    max_binary: 0,
    revise: unrevised,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_completed_tasks_leave_the_incomplete_window() {
        let mut open = PropertyRecord::default();
        prepare(&mut open, 100);
        assert_eq!(open.int("Complete"), Some(0));
        assert_eq!(sort_date(&open), None);
        let mut done = PropertyRecord::default();
        done.set("Complete", Property::Int(1));
        prepare(&mut done, 100);
        assert_eq!(sort_date(&done), Some(100));
        let window = cutoff(INCOMPLETE_TASKS, 0).unwrap();
        assert!(sort_date(&done).unwrap() < window);
        assert_eq!(cutoff(0, 0), None);
    }
}
