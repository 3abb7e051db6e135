//! Mailbox formats `easd import` reads: mbox files split into messages as a stream, and the
//! naming conventions of Maildir / Maildir++ (flags in file names, delivery times, `.Sub.Folder`
//! directories with IMAP modified UTF-7 names), plus the read/flagged state mail programs
//! leave in mbox headers.
//!
//! mbox splitting: a message starts at a line beginning `From ` that follows an empty line
//! (or starts the file) and carries a time of day (`hh:mm`) the way every From_ line's date
//! does — an unescaped "From " in a body (mboxo writers missed some) rarely meets both.
//! Lines `>From `, `>>From `, … lose one `>` (mboxrd unquoting; for mboxo files this is
//! also right for every line the writer quoted). The empty line that separates messages is
//! not part of the message. mboxcl `Content-Length` headers are not trusted (they are
//! wrong as soon as any tool rewrote the file).

use std::io::{self, BufRead};

/// One message cut from an mbox file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MboxMessage {
    /// The message bytes, unquoted, without the From_ line and the separating empty line.
    pub raw: Vec<u8>,
    /// The date of the From_ line (read as UTC: the line carries no zone).
    pub from_line_time: Option<i64>,
    /// Line number (1-based) of the From_ line, for progress and error messages.
    pub line: u64,
}

/// Splits an mbox stream into messages, one at a time (memory: the largest message).
pub struct MboxReader<R> {
    reader: R,
    line: Vec<u8>,
    line_number: u64,
    current: Option<MboxMessage>,
    previous_line_blank: bool,
    started: bool,
    done: bool,
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(reader: R) -> MboxReader<R> {
        MboxReader {
            reader,
            line: Vec::with_capacity(256),
            line_number: 0,
            current: None,
            previous_line_blank: false,
            started: false,
            done: false,
        }
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line_number
    }
}

fn is_blank_line(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// Whether `line` is an mbox From_ line (see the module comment).
pub fn is_from_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    String::from_utf8_lossy(rest)
        .split_whitespace()
        .any(|token| parse_time_of_day(token).is_some())
}

/// `hh:mm` or `hh:mm:ss` as seconds since midnight.
fn parse_time_of_day(token: &str) -> Option<i64> {
    let mut fields = token.split(':');
    let hours: i64 = fields.next()?.parse().ok()?;
    let minutes_text = fields.next()?;
    let minutes: i64 = minutes_text.parse().ok()?;
    let seconds: i64 = match fields.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    (fields.next().is_none()
        && minutes_text.len() == 2
        && (0..24).contains(&hours)
        && (0..60).contains(&minutes)
        && (0..61).contains(&seconds))
    .then_some(hours * 3600 + minutes * 60 + seconds)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The date of a From_ line such as `From a@b Wed Sep  8 10:27:04 2014` (asctime form, also
/// with a zone before the year), as Unix seconds read as UTC.
pub fn from_line_time(line: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(line.strip_prefix(b"From ")?);
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let month_index = tokens.iter().position(|t| {
        t.len() >= 3 && MONTHS.iter().any(|m| t[..3].eq_ignore_ascii_case(m)) && t.len() <= 9
    })?;
    let month = MONTHS
        .iter()
        .position(|m| tokens[month_index][..3].eq_ignore_ascii_case(m))?
        + 1;
    let day: u32 = tokens.get(month_index + 1)?.parse().ok()?;
    let seconds_of_day = parse_time_of_day(tokens.get(month_index + 2)?)?;
    let year: i64 = tokens[month_index + 3..]
        .iter()
        .find(|t| t.len() == 4 && t.chars().all(|c| c.is_ascii_digit()))?
        .parse()
        .ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month as u32, day) * 86_400 + seconds_of_day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Appends `line` to `raw`, removing one `>` from a quoted From_ line.
fn push_unquoted(raw: &mut Vec<u8>, line: &[u8]) {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        raw.extend_from_slice(&line[1..]);
    } else {
        raw.extend_from_slice(line);
    }
}

/// The message without the empty line that separated it from the next From_ line.
fn finish(mut message: MboxMessage) -> MboxMessage {
    if message.raw.ends_with(b"\r\n\r\n") {
        message.raw.truncate(message.raw.len() - 2);
    } else if message.raw.ends_with(b"\n\n") {
        message.raw.truncate(message.raw.len() - 1);
    }
    message
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = io::Result<MboxMessage>;

    fn next(&mut self) -> Option<io::Result<MboxMessage>> {
        if self.done {
            return None;
        }
        loop {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => {
                    self.done = true;
                    return self.current.take().map(|m| Ok(finish(m)));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            self.line_number += 1;
            let starts_message = is_from_line(&self.line);
            if !self.started {
                if is_blank_line(&self.line) {
                    continue;
                }
                if !starts_message {
                    self.done = true;
                    return Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "not an mbox file: line {} does not start with \"From \"",
                            self.line_number
                        ),
                    )));
                }
                self.started = true;
            }
            if starts_message && (self.previous_line_blank || self.current.is_none()) {
                let next = MboxMessage {
                    raw: Vec::new(),
                    from_line_time: from_line_time(&self.line),
                    line: self.line_number,
                };
                self.previous_line_blank = false;
                if let Some(finished) = self.current.replace(next) {
                    return Some(Ok(finish(finished)));
                }
                continue;
            }
            self.previous_line_blank = is_blank_line(&self.line);
            if let Some(current) = self.current.as_mut() {
                push_unquoted(&mut current.raw, &self.line);
            }
        }
    }
}

/// The read/flagged/answered state a mail program recorded for a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageFlags {
    pub seen: bool,
    pub flagged: bool,
    pub answered: bool,
    pub forwarded: bool,
    pub draft: bool,
}

/// The flags of a Maildir file name (`…:2,FRS`; `;2,` and `!2,` are the forms used where
/// `:` cannot appear in file names).
pub fn maildir_flags(file_name: &str) -> MessageFlags {
    let mut flags = MessageFlags::default();
    let info = [":2,", ";2,", "!2,"]
        .iter()
        .find_map(|marker| file_name.rfind(marker).map(|at| &file_name[at + 3..]));
    for flag in info.unwrap_or_default().chars() {
        match flag {
            'S' => flags.seen = true,
            'F' => flags.flagged = true,
            'R' => flags.answered = true,
            'P' => flags.forwarded = true,
            'D' => flags.draft = true,
            _ => {}
        }
    }
    flags
}

/// The delivery time a Maildir file name starts with (`1410186410.M…`), if plausible.
pub fn maildir_delivery_time(file_name: &str) -> Option<i64> {
    let digits: String = file_name
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let seconds: i64 = digits.parse().ok()?;
    // 1990 .. 2200: anything else is not a timestamp.
    (631_152_000..7_258_118_400)
        .contains(&seconds)
        .then_some(seconds)
}

/// The folder path of a Maildir++ subfolder directory (`.Projects.2026` → `["Projects",
/// "2026"]`), names decoded from IMAP modified UTF-7. `None` for names that are not
/// subfolders (no leading dot, `.`/`..`, empty components).
pub fn maildirpp_folder(dir_name: &str) -> Option<Vec<String>> {
    let rest = dir_name.strip_prefix('.')?;
    if rest.is_empty() || rest == "." {
        return None;
    }
    let components: Vec<String> = rest.split('.').map(decode_modified_utf7).collect();
    (!components.iter().any(|c| c.trim().is_empty())).then_some(components)
}

/// Decodes IMAP modified UTF-7 (RFC 3501 section 5.1.3): `&` starts base64 of UTF-16
/// with `,` for `/`, `-` ends it, `&-` is a literal `&`. Malformed input is kept as is.
pub fn decode_modified_utf7(name: &str) -> String {
    let mut decoded = String::new();
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        decoded.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(dash) = after.find('-') else {
            decoded.push_str(&rest[amp..]);
            return decoded;
        };
        let encoded = &after[..dash];
        if encoded.is_empty() {
            decoded.push('&');
        } else {
            match decode_utf16_base64(encoded) {
                Some(text) => decoded.push_str(&text),
                None => decoded.push_str(&rest[amp..amp + 1 + dash + 1]),
            }
        }
        rest = &after[dash + 1..];
    }
    decoded.push_str(rest);
    decoded
}

fn decode_utf16_base64(encoded: &str) -> Option<String> {
    use base64::Engine;
    let standard = encoded.replace(',', "/");
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(standard.as_bytes())
        .ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// The state mail programs store in mbox headers: `Status: RO` (R = read), `X-Status: AF`
/// (A = answered, F = flagged, T = draft) and Thunderbird's `X-Mozilla-Status` bits.
pub fn mbox_header_flags(raw: &[u8]) -> MessageFlags {
    let mut flags = MessageFlags::default();
    for (name, value) in super::raw_headers(raw) {
        if name.eq_ignore_ascii_case("Status") {
            flags.seen |= value.contains('R');
        } else if name.eq_ignore_ascii_case("X-Status") {
            flags.answered |= value.contains('A');
            flags.flagged |= value.contains('F');
            flags.draft |= value.contains('T');
        } else if name.eq_ignore_ascii_case("X-Mozilla-Status") {
            if let Ok(bits) = u32::from_str_radix(value.trim(), 16) {
                flags.seen |= bits & 0x0001 != 0;
                flags.answered |= bits & 0x0002 != 0;
                flags.flagged |= bits & 0x0004 != 0;
                flags.forwarded |= bits & 0x1000 != 0;
            }
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(mbox: &[u8]) -> Vec<MboxMessage> {
        MboxReader::new(mbox)
            .collect::<io::Result<Vec<_>>>()
            .unwrap()
    }

    #[test]
    fn splits_messages_and_unquotes_from_lines() {
        let mbox = b"From a@example.com Wed Sep  8 10:27:04 2014\n\
Subject: one\n\
\n\
>From the start\n\
>>From quoted twice\n\
> From is not a quote\n\
\n\
From b@example.com Thu Sep  9 11:00:00 2014\n\
Subject: two\n\
\n\
From here on: a body line after an empty line, but without a time, so no separator\n";
        let messages = split(mbox);
        // The third "From " line follows an empty line but carries no time: not a separator.
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(
            String::from_utf8_lossy(&messages[0].raw),
            "Subject: one\n\nFrom the start\n>From quoted twice\n> From is not a quote\n"
        );
        assert_eq!(messages[0].line, 1);
        assert_eq!(messages[1].line, 8);
        assert_eq!(messages[0].from_line_time, Some(1_410_172_024));
        assert!(messages[1].raw.starts_with(b"Subject: two\n\nFrom here on"));
    }

    #[test]
    fn from_line_without_blank_line_before_it_is_body_text() {
        let mbox = b"From x Mon Jan  1 00:00:00 2001\nSubject: a\n\nline\nFrom y Mon Jan  1 00:00:00 2001\nmore\n";
        let messages = split(mbox);
        assert_eq!(messages.len(), 1);
        assert!(messages[0]
            .raw
            .ends_with(b"line\nFrom y Mon Jan  1 00:00:00 2001\nmore\n"));
        assert_eq!(messages[0].from_line_time, Some(978_307_200));
    }

    #[test]
    fn crlf_mbox_and_leading_blank_lines() {
        let mbox = b"\r\n\r\nFrom x Mon Jan  1 00:00:00 +0000 2001\r\nA: b\r\n\r\nbody\r\n\r\nFrom y Tue Jan  2 00:00:00 2001\r\nA: c\r\n\r\nbody2\r\n";
        let messages = split(mbox);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].raw, b"A: b\r\n\r\nbody\r\n");
        assert_eq!(messages[1].raw, b"A: c\r\n\r\nbody2\r\n");
        assert_eq!(messages[0].from_line_time, Some(978_307_200));
    }

    #[test]
    fn non_mbox_input_is_an_error_and_empty_input_has_no_messages() {
        let mut reader = MboxReader::new(&b"Subject: hi\n\nbody\n"[..]);
        let error = reader.next().unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(reader.next().is_none());
        assert!(split(b"").is_empty());
        assert!(split(b"\n\n").is_empty());
        // A From_ line with nothing after it is an empty message.
        let messages = split(b"From x Mon Jan  1 00:00:00 2001\n");
        assert_eq!(messages.len(), 1);
        assert!(messages[0].raw.is_empty());
    }

    #[test]
    fn from_line_dates() {
        assert_eq!(
            from_line_time(b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n"),
            Some(1_310_126_914)
        );
        assert_eq!(from_line_time(b"From x Fri Jul  8 2011\n"), None);
        assert_eq!(from_line_time(b"From x garbage\n"), None);
        assert!(is_from_line(b"From - Fri Jul  8 12:08 2011\n"));
        assert!(!is_from_line(b"From: someone\n"));
        assert!(!is_from_line(b"From here to 99:99\n"));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn maildir_names() {
        let flags = maildir_flags("1410186410.M1P2.host,S=1234:2,FRS");
        assert!(flags.seen && flags.flagged && flags.answered && !flags.draft);
        assert_eq!(
            maildir_flags("1410186410.M1P2.host"),
            MessageFlags::default()
        );
        assert!(maildir_flags("x;2,S").seen);
        assert!(maildir_flags("x:2,P").forwarded);
        assert_eq!(
            maildir_delivery_time("1410186410.M1P2.host:2,S"),
            Some(1_410_186_410)
        );
        assert_eq!(maildir_delivery_time("msg.1"), None);
        assert_eq!(maildir_delivery_time("12.x"), None);
        assert_eq!(
            maildirpp_folder(".Projects.2026"),
            Some(vec!["Projects".to_string(), "2026".to_string()])
        );
        assert_eq!(
            maildirpp_folder(".Entw&APw-rfe"),
            Some(vec!["Entwürfe".to_string()])
        );
        assert_eq!(maildirpp_folder("cur"), None);
        assert_eq!(maildirpp_folder(".."), None);
        assert_eq!(maildirpp_folder(".a..b"), None);
    }

    #[test]
    fn modified_utf7() {
        assert_eq!(decode_modified_utf7("Entw&APw-rfe"), "Entwürfe");
        assert_eq!(decode_modified_utf7("A&-B"), "A&B");
        assert_eq!(decode_modified_utf7("&ZeVnLIqe-"), "日本語");
        assert_eq!(decode_modified_utf7("&Jjo-!"), "☺!");
        // Malformed: kept as is.
        assert_eq!(decode_modified_utf7("a&b"), "a&b");
        assert_eq!(decode_modified_utf7("a&*-b"), "a&*-b");
    }

    #[test]
    fn mbox_status_headers() {
        let flags =
            mbox_header_flags(b"Status: RO\nX-Status: AF\nSubject: x\n\nbody\nStatus: nothing\n");
        assert!(flags.seen && flags.answered && flags.flagged && !flags.draft);
        let flags = mbox_header_flags(b"X-Mozilla-Status: 1005\n\n");
        assert!(flags.seen && flags.flagged && flags.forwarded && !flags.answered);
        assert_eq!(mbox_header_flags(b"Status: O\n\n"), MessageFlags::default());
    }
}
