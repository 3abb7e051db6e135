//! Calendar logic that knows no protocol: time zones (the TimeZone blob, Windows and IANA
//! zones, local time across daylight saving changes), recurrence expansion, the stored event
//! record's zone and rule (`event`), free/busy (`free_busy`: busy intervals, MergedFreeBusy), and
//! iTIP messages read from and written for mail. Pure functions,
//! unit-tested here and checked against python-dateutil in `tests/recurrence_dateutil.rs`.

pub mod event;
pub mod free_busy;
pub mod ical_text;
pub mod itip;
pub mod itip_write;
pub mod recurrence;
pub mod tz;
