//! Unix seconds and civil UTC dates, in the forms EAS and the command line print. Hand-written
//! (days-from-civil arithmetic) because a date crate would be the largest dependency for it.

/// `yyyy-mm-ddThh:mm:ss.000Z`, the MS-ASDTYPE dateTime form.
pub fn eas_datetime(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.000Z")
}

/// `yyyymmddThhmmssZ`, the compact MS-ASDTYPE form calendar items use.
pub fn eas_compact_datetime(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `yyyy-mm-dd hh:mm:ss` (UTC) for tables on the command line.
pub fn iso_date(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `d Mon yyyy hh:mm:ss +0000`, the RFC 5322 date of a message easd writes itself.
pub fn rfc5322_date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(unix);
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    format!("{d} {month} {y:04} {h:02}:{mi:02}:{s:02} +0000")
}

/// `yyyy-mm-ddThh:mm` (UTC), the value of an HTML `datetime-local` field.
pub fn form_datetime(unix: i64) -> String {
    let (y, mo, d, h, mi, _) = civil(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}")
}

/// Reads `yyyy-mm-ddThh:mm` (seconds optional) as UTC; `None` for anything else.
pub fn parse_form_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let mut time_parts = time.splitn(3, ':');
    let hour: i64 = time_parts.next()?.parse().ok()?;
    let minute: i64 = time_parts.next()?.parse().ok()?;
    let second: i64 = time_parts.next().map_or(Some(0), |s| s.parse().ok())?;
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
        || hour < 0
        || minute < 0
        || second < 0
    {
        return None;
    }
    let unix = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    // Refuses dates that do not exist (31 April) by a round trip.
    (civil(unix).2 == day as u32).then_some(unix)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day, hour, minute, second) of a Unix time, UTC.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_datetimes_round_trip() {
        assert_eq!(form_datetime(951_782_400), "2000-02-29T00:00");
        assert_eq!(parse_form_datetime("2000-02-29T00:00"), Some(951_782_400));
        assert_eq!(
            parse_form_datetime("2026-11-18T11:06:40"),
            Some(1_795_000_000)
        );
        assert_eq!(parse_form_datetime("2026-04-31T10:00"), None);
        assert_eq!(parse_form_datetime("2026-13-01T10:00"), None);
        assert_eq!(parse_form_datetime("yesterday"), None);
        assert_eq!(parse_form_datetime(""), None);
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(eas_datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_date(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(eas_datetime(1_795_000_000), "2026-11-18T11:06:40.000Z");
        assert_eq!(iso_date(-1), "1969-12-31 23:59:59");
        assert_eq!(rfc5322_date(1_795_712_457), "26 Nov 2026 17:00:57 +0000");
    }
}
