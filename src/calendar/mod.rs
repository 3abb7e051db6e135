//! Calendar logic that knows no protocol: time zones (the TimeZone blob, Windows and IANA
//! zones, local time across daylight saving changes), recurrence expansion, and iTIP messages
//! read from and written for mail. Pure functions,
//! unit-tested here and checked against python-dateutil in `tests/recurrence_dateutil.rs`.

pub mod itip;
pub mod itip_write;
pub mod recurrence;
pub mod tz;
