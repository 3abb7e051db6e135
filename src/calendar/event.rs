//! Reading the stored record of a calendar event (the neutral property record of
//! [`crate::store::records`], named by MS-ASCAL element names): its zone and its recurrence
//! rule. Shared by the Calendar class of Sync, iCalendar export and free/busy.

use super::recurrence::Rule;
use super::tz::{EventZone, IanaZone};
use crate::store::{Property, PropertyRecord};

/// The MS-ASCAL element names events are stored under.
pub mod name {
    pub const TIMEZONE: &str = "Timezone";
    pub const START_TIME: &str = "StartTime";
    pub const END_TIME: &str = "EndTime";
    pub const BUSY_STATUS: &str = "BusyStatus";
    pub const MEETING_STATUS: &str = "MeetingStatus";
    pub const RESPONSE_TYPE: &str = "ResponseType";
    pub const RECURRENCE: &str = "Recurrence";
    pub const EXCEPTIONS: &str = "Exceptions";
    pub const DELETED: &str = "Deleted";
    /// Where an exception's original start is stored (16.x sends it as InstanceId).
    pub const EXCEPTION_START: &str = "ExceptionStartTime";
    pub const TYPE: &str = "Type";
    pub const INTERVAL: &str = "Interval";
    pub const UNTIL: &str = "Until";
    pub const OCCURRENCES: &str = "Occurrences";
    pub const DAY_OF_WEEK: &str = "DayOfWeek";
    pub const DAY_OF_MONTH: &str = "DayOfMonth";
    pub const WEEK_OF_MONTH: &str = "WeekOfMonth";
    pub const MONTH_OF_YEAR: &str = "MonthOfYear";
    pub const FIRST_DAY_OF_WEEK: &str = "FirstDayOfWeek";
}

/// The expansion rule of a stored Recurrence.
pub fn rule_of(recurrence: &PropertyRecord) -> Rule {
    let int = |field: &str| recurrence.int(field);
    let small = |field: &str| int(field).and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Rule {
        kind: small(name::TYPE).min(255) as u8,
        interval: small(name::INTERVAL).max(1),
        until: int(name::UNTIL),
        count: int(name::OCCURRENCES).and_then(|n| u32::try_from(n).ok()),
        days: (small(name::DAY_OF_WEEK) & 0x7f) as u8,
        day_of_month: small(name::DAY_OF_MONTH),
        week_of_month: small(name::WEEK_OF_MONTH),
        month_of_year: small(name::MONTH_OF_YEAR),
        first_day_of_week: small(name::FIRST_DAY_OF_WEEK),
    }
}

/// The zone of an event's local times (its TimeZone blob; UTC without one).
pub fn zone_of(record: &PropertyRecord) -> EventZone {
    match record.get(name::TIMEZONE) {
        Some(Property::Bytes(blob)) => EventZone::from_blob(blob),
        _ => EventZone::Iana(IanaZone::utc()),
    }
}

/// The event's Recurrence, if it is a series.
pub fn recurrence_of(record: &PropertyRecord) -> Option<&PropertyRecord> {
    match record.get(name::RECURRENCE) {
        Some(Property::Group(recurrence)) => Some(recurrence),
        _ => None,
    }
}

/// The event's Exceptions (deleted or changed occurrences).
pub fn exceptions_of(record: &PropertyRecord) -> &[PropertyRecord] {
    match record.get(name::EXCEPTIONS) {
        Some(Property::Groups(groups)) => groups,
        _ => &[],
    }
}
