//! Calendar logic that knows no protocol: time zones (the TimeZone blob, Windows and IANA
//! zones, local time across daylight saving changes) and recurrence expansion. Pure functions,
//! unit-tested here and checked against python-dateutil in `tests/recurrence_dateutil.rs`.

pub mod itip;
pub mod recurrence;
pub mod tz;
