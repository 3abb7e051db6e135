//! vCard (RFC 2426 3.0, RFC 6350 4.0, and the 2.1 that Outlook writes) read into contact
//! property records and written back from them, for `easd import` and `easd export`.
//!
//! Reading: lines are unfolded, group prefixes (`item1.TEL`) dropped, quoted-printable and
//! base64 values decoded, text escapes undone. Each property maps onto the Contacts field
//! table's names: N, FN, NICKNAME, ORG, TITLE, TEL by type into the EAS phone slots (a second
//! number of a type takes that type's second slot, then a free spare slot), EMAIL into
//! Email1–3, ADR by type into the home, business and other address, BDAY and ANNIVERSARY,
//! NOTE as the body, URL, CATEGORIES, PHOTO (inline only), IMPP and X-AIM/X-JABBER…, Apple's
//! phonetic names, spouse/child/manager/assistant as RELATED (4.0) or X- properties. A card
//! that cannot be read (no END, a line without a colon, a photo that is not base64, neither N
//! nor FN) is reported with its first line and skipped.
//!
//! Writing produces vCard 3.0 with CRLF line ends, lines folded at 75 octets, properties in
//! a fixed order, so that export → import → export gives the same text.

use base64::Engine;

use crate::store::{Property, PropertyRecord};

/// A card that could not be read: the line it starts on and why.
#[derive(Debug, PartialEq, Eq)]
pub struct BadCard {
    pub line: usize,
    pub reason: String,
}

/// One unfolded content line.
struct ContentLine {
    /// Upper-case name without group.
    name: String,
    /// Upper-case parameter names with their values (TYPE values split on commas).
    params: Vec<(String, String)>,
    value: String,
    /// Where the line starts (1-based).
    line: usize,
}

impl ContentLine {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The TYPE values, lower-case (3.0 `TYPE=home,voice`, 2.1 bare `HOME`).
    fn types(&self) -> Vec<String> {
        self.params
            .iter()
            .filter(|(n, _)| n == "TYPE")
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().trim_matches('"').to_ascii_lowercase())
            .collect()
    }

    fn has_type(&self, t: &str) -> bool {
        self.types().iter().any(|x| x == t)
    }
}

/// Unfolded lines with their starting line numbers.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut quoted_printable_soft = false;
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let continues = raw.starts_with(' ') || raw.starts_with('\t');
        match lines.last_mut() {
            Some((_, last)) if quoted_printable_soft => {
                last.push_str(raw);
            }
            Some((_, last)) if continues => last.push_str(&raw[1..]),
            _ => lines.push((index + 1, raw.to_string())),
        }
        let last = &lines.last().map(|(_, l)| l.as_str()).unwrap_or("");
        // Quoted-printable soft line break (2.1): the value goes on on the next line.
        quoted_printable_soft =
            last.to_ascii_uppercase().contains("QUOTED-PRINTABLE") && last.ends_with('=');
        if quoted_printable_soft {
            if let Some((_, last)) = lines.last_mut() {
                last.pop();
            }
        }
    }
    lines
}

fn parse_line(line: usize, text: &str) -> Option<ContentLine> {
    // The value starts after the first colon outside a quoted parameter value.
    let mut in_quotes = false;
    let colon = text.char_indices().find_map(|(i, c)| match c {
        '"' => {
            in_quotes = !in_quotes;
            None
        }
        ':' if !in_quotes => Some(i),
        _ => None,
    })?;
    let (head, value) = (&text[..colon], &text[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next()?.trim();
    let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
    if name.is_empty() {
        return None;
    }
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_uppercase(), v.trim().to_string()),
            // 2.1: a bare parameter is a TYPE (or an ENCODING such as BASE64).
            None => {
                let bare = p.trim().to_ascii_uppercase();
                match bare.as_str() {
                    "BASE64" | "B" | "QUOTED-PRINTABLE" => ("ENCODING".into(), bare),
                    _ => ("TYPE".into(), bare),
                }
            }
        })
        .collect();
    Some(ContentLine {
        name,
        params,
        value: value.to_string(),
        line,
    })
}

fn decode_quoted_printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits on an unescaped separator and undoes the text escapes of each part.
fn split_escaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') | Some('N') => parts.last_mut().unwrap().push('\n'),
                Some(other) => parts.last_mut().unwrap().push(other),
                None => {}
            },
            c if c == separator => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts
}

fn unescape(text: &str) -> String {
    split_escaped(text, '\u{0}').concat()
}

/// `yyyy-mm-dd`, `yyyymmdd`, or either with a time: Unix seconds at 00:00 UTC of that day.
fn parse_date(text: &str) -> Option<i64> {
    let digits: String = text
        .trim()
        .split('T')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() != 8 {
        return None;
    }
    let date = chrono::NaiveDate::parse_from_str(&digits, "%Y%m%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

fn format_date(unix: i64) -> String {
    crate::clock::eas_datetime(unix)[..10].to_string()
}

const PHONE_SPARES: &[&str] = &["Home2PhoneNumber", "Business2PhoneNumber", "CarPhoneNumber"];

/// The phone slots a TEL of these types goes to, first free one wins.
fn phone_slots(tel: &ContentLine) -> Vec<&'static str> {
    let t = |name: &str| tel.has_type(name);
    if t("fax") {
        return if t("home") {
            vec!["HomeFaxNumber"]
        } else {
            vec!["BusinessFaxNumber"]
        };
    }
    if t("cell") || t("mobile") || t("iphone") {
        return vec!["MobilePhoneNumber"];
    }
    if t("pager") {
        return vec!["PagerNumber"];
    }
    if t("car") {
        return vec!["CarPhoneNumber"];
    }
    if t("x-radio") {
        return vec!["RadioPhoneNumber"];
    }
    if t("x-assistant") {
        return vec!["AssistantPhoneNumber"];
    }
    if t("x-company-main") || t("main") {
        return vec!["CompanyMainPhone"];
    }
    if t("x-mms") {
        return vec!["MMS"];
    }
    if t("work") {
        return vec!["BusinessPhoneNumber", "Business2PhoneNumber"];
    }
    if t("home") {
        return vec!["HomePhoneNumber", "Home2PhoneNumber"];
    }
    vec![
        "HomePhoneNumber",
        "MobilePhoneNumber",
        "BusinessPhoneNumber",
    ]
}

/// Reads every card of `text`: the records of the good ones, and the bad ones.
/// `check` refuses cards that read well but cannot be kept (a photo larger than phones take):
/// those are bad cards too.
pub fn parse_cards(
    text: &str,
    check: impl Fn(&PropertyRecord) -> Result<(), String>,
) -> (Vec<PropertyRecord>, Vec<BadCard>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    let mut card: Option<(usize, Vec<ContentLine>, Option<String>)> = None;
    for (line, raw) in unfold(text) {
        if raw.trim().is_empty() {
            continue;
        }
        let upper = raw.trim().to_ascii_uppercase();
        if upper == "BEGIN:VCARD" {
            if let Some((start, _, _)) = card.take() {
                bad.push(BadCard {
                    line: start,
                    reason: "card without END:VCARD".into(),
                });
            }
            card = Some((line, Vec::new(), None));
            continue;
        }
        if upper == "END:VCARD" {
            match card.take() {
                Some((start, lines, None)) => {
                    match card_record(&lines).and_then(|record| check(&record).map(|()| record)) {
                        Ok(record) => records.push(record),
                        Err(reason) => bad.push(BadCard {
                            line: start,
                            reason,
                        }),
                    }
                }
                Some((start, _, Some(reason))) => bad.push(BadCard {
                    line: start,
                    reason,
                }),
                None => bad.push(BadCard {
                    line,
                    reason: "END:VCARD without BEGIN:VCARD".into(),
                }),
            }
            continue;
        }
        match card.as_mut() {
            None => bad.push(BadCard {
                line,
                reason: "text outside BEGIN:VCARD … END:VCARD".into(),
            }),
            Some((_, lines, error)) => match parse_line(line, &raw) {
                Some(parsed) => lines.push(parsed),
                None => {
                    error.get_or_insert(format!("line {line}: not a vCard property"));
                }
            },
        }
    }
    if let Some((start, _, _)) = card {
        bad.push(BadCard {
            line: start,
            reason: "card without END:VCARD".into(),
        });
    }
    (records, bad)
}

/// A property's value as text (quoted-printable decoded).
fn value_text(line: &ContentLine) -> String {
    if line
        .param("ENCODING")
        .is_some_and(|e| e.eq_ignore_ascii_case("QUOTED-PRINTABLE"))
    {
        decode_quoted_printable(&line.value)
    } else {
        line.value.clone()
    }
}

fn set_text(record: &mut PropertyRecord, name: &str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        record.set(name, Property::Text(value.to_string()));
    }
}

fn add_to_list(record: &mut PropertyRecord, name: &str, values: Vec<String>) {
    let mut list = match record.remove(name) {
        Some(Property::List(list)) => list,
        _ => Vec::new(),
    };
    list.extend(values.into_iter().filter(|v| !v.trim().is_empty()));
    if !list.is_empty() {
        record.set(name, Property::List(list));
    }
}

/// Puts `value` into the first free slot of `slots`, then of the spares; `false` if none.
fn fill_slot(record: &mut PropertyRecord, slots: &[&str], spares: &[&str], value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return true;
    }
    for slot in slots.iter().chain(spares) {
        if record.get(slot).is_none() {
            record.set(slot, Property::Text(value.to_string()));
            return true;
        }
    }
    false
}

fn photo(line: &ContentLine) -> Result<Option<Vec<u8>>, String> {
    let value = line.value.trim();
    let encoded = if let Some(data) = value.strip_prefix("data:") {
        // 4.0: data:image/jpeg;base64,....
        match data.split_once(',') {
            Some((meta, data)) if meta.ends_with(";base64") => data,
            _ => return Err(format!("line {}: PHOTO data URI is not base64", line.line)),
        }
    } else if line
        .param("ENCODING")
        .is_some_and(|e| e.eq_ignore_ascii_case("b") || e.eq_ignore_ascii_case("BASE64"))
    {
        value
    } else {
        // A photo by reference (a URL) cannot be fetched here.
        return Ok(None);
    };
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map(Some)
        .map_err(|_| format!("line {}: PHOTO is not valid base64", line.line))
}

/// One card's record.
fn card_record(lines: &[ContentLine]) -> Result<PropertyRecord, String> {
    let mut record = PropertyRecord::default();
    let mut named = false;
    let mut emails = 0;
    let mut ims = 0;
    for line in lines {
        let text = value_text(line);
        match line.name.as_str() {
            "VERSION" | "PRODID" | "UID" | "REV" | "KIND" | "SOURCE" | "CLASS" => {}
            "N" => {
                named = true;
                let parts = split_escaped(&text, ';');
                let part = |i: usize| parts.get(i).map(String::as_str).unwrap_or("");
                set_text(&mut record, "LastName", part(0));
                set_text(&mut record, "FirstName", part(1));
                set_text(&mut record, "MiddleName", part(2));
                set_text(&mut record, "Title", part(3));
                set_text(&mut record, "Suffix", part(4));
            }
            "FN" => {
                named = true;
                set_text(&mut record, "FileAs", &unescape(&text));
            }
            "NICKNAME" => set_text(&mut record, "NickName", &unescape(&text)),
            "ORG" => {
                let parts = split_escaped(&text, ';');
                set_text(&mut record, "CompanyName", parts.first().map_or("", |s| s));
                set_text(&mut record, "Department", parts.get(1).map_or("", |s| s));
            }
            "TITLE" => set_text(&mut record, "JobTitle", &unescape(&text)),
            "TEL" => {
                let number = unescape(&text);
                let number = number.trim_start_matches("tel:");
                if !fill_slot(&mut record, &phone_slots(line), PHONE_SPARES, number) {
                    return Err(format!(
                        "line {}: more telephone numbers than a contact holds",
                        line.line
                    ));
                }
            }
            "EMAIL" => {
                emails += 1;
                if emails <= 3 {
                    set_text(
                        &mut record,
                        &format!("Email{emails}Address"),
                        &unescape(&text),
                    );
                }
            }
            "ADR" => {
                let prefix = if line.has_type("work") {
                    "Business"
                } else if line.has_type("home") {
                    "Home"
                } else {
                    "Other"
                };
                let parts = split_escaped(&text, ';');
                let part = |i: usize| parts.get(i).map(String::as_str).unwrap_or("");
                // Post-office box and extended address go with the street.
                let street: Vec<&str> = [part(2), part(1), part(0)]
                    .into_iter()
                    .filter(|s| !s.trim().is_empty())
                    .collect();
                set_text(
                    &mut record,
                    &format!("{prefix}AddressStreet"),
                    &street.join("\n"),
                );
                set_text(&mut record, &format!("{prefix}AddressCity"), part(3));
                set_text(&mut record, &format!("{prefix}AddressState"), part(4));
                set_text(&mut record, &format!("{prefix}AddressPostalCode"), part(5));
                set_text(&mut record, &format!("{prefix}AddressCountry"), part(6));
            }
            "BDAY" | "ANNIVERSARY" | "X-ANNIVERSARY" | "X-MS-ANNIVERSARY" => {
                let name = if line.name == "BDAY" {
                    "Birthday"
                } else {
                    "Anniversary"
                };
                match parse_date(&text) {
                    Some(date) => record.set(name, Property::Int(date)),
                    None => return Err(format!("line {}: {} is not a date", line.line, line.name)),
                }
            }
            "NOTE" => {
                let mut body = PropertyRecord::default();
                body.set("Type", Property::Int(1));
                body.set("Data", Property::Text(unescape(&text)));
                record.set("Body", Property::Group(body));
            }
            "URL" => set_text(&mut record, "WebPage", &unescape(&text)),
            "CATEGORIES" => add_to_list(&mut record, "Categories", split_escaped(&text, ',')),
            "PHOTO" => {
                if let Some(bytes) = photo(line)? {
                    record.set("Picture", Property::Bytes(bytes));
                }
            }
            "IMPP" | "X-AIM" | "X-JABBER" | "X-ICQ" | "X-MSN" | "X-SKYPE" | "X-GTALK"
            | "X-YAHOO" | "X-MS-IMADDRESS" => {
                ims += 1;
                let name = match ims {
                    1 => "IMAddress",
                    2 => "IMAddress2",
                    3 => "IMAddress3",
                    _ => continue,
                };
                set_text(&mut record, name, &unescape(&text));
            }
            "X-PHONETIC-FIRST-NAME" => set_text(&mut record, "YomiFirstName", &unescape(&text)),
            "X-PHONETIC-LAST-NAME" => set_text(&mut record, "YomiLastName", &unescape(&text)),
            "X-PHONETIC-ORG" => set_text(&mut record, "YomiCompanyName", &unescape(&text)),
            "X-SPOUSE" | "X-MS-SPOUSE" => set_text(&mut record, "Spouse", &unescape(&text)),
            "X-MANAGER" | "X-MS-MANAGER" => set_text(&mut record, "ManagerName", &unescape(&text)),
            "X-ASSISTANT" | "X-MS-ASSISTANT" => {
                set_text(&mut record, "AssistantName", &unescape(&text))
            }
            "X-CHILD" | "X-MS-CHILD" => add_to_list(&mut record, "Children", vec![unescape(&text)]),
            "X-OFFICE-LOCATION" => set_text(&mut record, "OfficeLocation", &unescape(&text)),
            "X-GOVERNMENT-ID" => set_text(&mut record, "GovernmentId", &unescape(&text)),
            "X-CUSTOMER-ID" => set_text(&mut record, "CustomerId", &unescape(&text)),
            "X-ACCOUNT-NAME" => set_text(&mut record, "AccountName", &unescape(&text)),
            "RELATED" => {
                let value = unescape(&text);
                if line.has_type("spouse") {
                    set_text(&mut record, "Spouse", &value);
                } else if line.has_type("child") {
                    add_to_list(&mut record, "Children", vec![value]);
                }
            }
            // Everything else (GENDER, GEO, LOGO, X-ABLabel, …) has no Contacts property.
            _ => {}
        }
    }
    if !named {
        return Err("card has neither N nor FN".into());
    }
    Ok(record)
}

/// Escapes a text value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded at 75 octets without splitting a character.
fn push_line(out: &mut String, line: &str) {
    let mut rest = line;
    let mut first = true;
    while !rest.is_empty() {
        let room = if first { 75 } else { 74 };
        let mut cut = rest.len().min(room);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if !first {
            out.push(' ');
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n");
        rest = &rest[cut..];
        first = false;
    }
}

/// One card as vCard 3.0.
pub fn write_card(record: &PropertyRecord) -> String {
    let text = |name: &str| record.text(name).unwrap_or("");
    let mut out = String::new();
    push_line(&mut out, "BEGIN:VCARD");
    push_line(&mut out, "VERSION:3.0");
    let n = ["LastName", "FirstName", "MiddleName", "Title", "Suffix"]
        .map(|name| escape(text(name)))
        .join(";");
    push_line(&mut out, &format!("N:{n}"));
    let full = match record.text("FileAs") {
        Some(file_as) => file_as.to_string(),
        None => [text("FirstName"), text("LastName")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    };
    push_line(&mut out, &format!("FN:{}", escape(&full)));
    let simple = [
        ("NickName", "NICKNAME"),
        ("JobTitle", "TITLE"),
        ("WebPage", "URL"),
        ("YomiFirstName", "X-PHONETIC-FIRST-NAME"),
        ("YomiLastName", "X-PHONETIC-LAST-NAME"),
        ("YomiCompanyName", "X-PHONETIC-ORG"),
        ("Spouse", "X-SPOUSE"),
        ("ManagerName", "X-MANAGER"),
        ("AssistantName", "X-ASSISTANT"),
        ("OfficeLocation", "X-OFFICE-LOCATION"),
        ("GovernmentId", "X-GOVERNMENT-ID"),
        ("CustomerId", "X-CUSTOMER-ID"),
        ("AccountName", "X-ACCOUNT-NAME"),
    ];
    if record.get("CompanyName").is_some() || record.get("Department").is_some() {
        push_line(
            &mut out,
            &format!(
                "ORG:{};{}",
                escape(text("CompanyName")),
                escape(text("Department"))
            ),
        );
    }
    for (name, property) in simple {
        if let Some(value) = record.text(name) {
            push_line(&mut out, &format!("{property}:{}", escape(value)));
        }
    }
    let phones = [
        ("MobilePhoneNumber", "CELL,VOICE"),
        ("HomePhoneNumber", "HOME,VOICE"),
        ("Home2PhoneNumber", "HOME,VOICE"),
        ("BusinessPhoneNumber", "WORK,VOICE"),
        ("Business2PhoneNumber", "WORK,VOICE"),
        ("HomeFaxNumber", "HOME,FAX"),
        ("BusinessFaxNumber", "WORK,FAX"),
        ("PagerNumber", "PAGER"),
        ("CarPhoneNumber", "CAR"),
        ("RadioPhoneNumber", "X-RADIO"),
        ("AssistantPhoneNumber", "X-ASSISTANT"),
        ("CompanyMainPhone", "X-COMPANY-MAIN"),
        ("MMS", "X-MMS"),
    ];
    for (name, types) in phones {
        if let Some(value) = record.text(name) {
            push_line(&mut out, &format!("TEL;TYPE={types}:{}", escape(value)));
        }
    }
    for n in 1..=3 {
        if let Some(value) = record.text(&format!("Email{n}Address")) {
            push_line(&mut out, &format!("EMAIL;TYPE=INTERNET:{}", escape(value)));
        }
    }
    for (prefix, types) in [("Home", "HOME"), ("Business", "WORK"), ("Other", "")] {
        let part = |field: &str| escape(text(&format!("{prefix}Address{field}")));
        let parts = ["Street", "City", "State", "PostalCode", "Country"].map(part);
        if parts.iter().all(String::is_empty) {
            continue;
        }
        let type_param = if types.is_empty() {
            String::new()
        } else {
            format!(";TYPE={types}")
        };
        push_line(&mut out, &format!("ADR{type_param}:;;{}", parts.join(";")));
    }
    for n in ["IMAddress", "IMAddress2", "IMAddress3"] {
        if let Some(value) = record.text(n) {
            push_line(&mut out, &format!("IMPP:{}", escape(value)));
        }
    }
    if let Some(date) = record.int("Birthday") {
        push_line(&mut out, &format!("BDAY:{}", format_date(date)));
    }
    if let Some(date) = record.int("Anniversary") {
        push_line(&mut out, &format!("X-ANNIVERSARY:{}", format_date(date)));
    }
    if let Some(Property::List(children)) = record.get("Children") {
        for child in children {
            push_line(&mut out, &format!("X-CHILD:{}", escape(child)));
        }
    }
    if let Some(Property::List(categories)) = record.get("Categories") {
        let list: Vec<String> = categories.iter().map(|c| escape(c)).collect();
        push_line(&mut out, &format!("CATEGORIES:{}", list.join(",")));
    }
    if let Some(Property::Group(body)) = record.get("Body") {
        // An RTF body (type 3, base64 of compressed RTF) has no text to give.
        let text = body.text("Data").filter(|_| body.int("Type") != Some(3));
        if let Some(data) = text.filter(|d| !d.is_empty()) {
            let data = if body.int("Type") == Some(2) {
                crate::mime::html_to_text(data)
            } else {
                data.to_string()
            };
            push_line(&mut out, &format!("NOTE:{}", escape(&data)));
        }
    }
    if let Some(Property::Bytes(bytes)) = record.get("Picture") {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        push_line(&mut out, &format!("PHOTO;ENCODING=b:{encoded}"));
    }
    push_line(&mut out, "END:VCARD");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<PropertyRecord>, Vec<BadCard>) {
        parse_cards(text, |_| Ok(()))
    }

    #[test]
    fn a_card_round_trips_and_folds() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jo;;Dr.;\r\nFN:Jo Doe\r\n\
            TEL;TYPE=CELL:+1 555\r\nTEL;TYPE=HOME:1\r\nTEL;TYPE=HOME:2\r\nTEL;TYPE=HOME:3\r\n\
            NOTE:line one\\nline two\\, with comma\r\nCATEGORIES:a,b\\,c\r\n\
            PHOTO;ENCODING=b;TYPE=JPEG:AQID\r\n BAU=\r\nBDAY:1990-04-01\r\nEND:VCARD\r\n";
        let (records, bad) = parse(card);
        assert!(bad.is_empty(), "{bad:?}");
        let record = &records[0];
        assert_eq!(record.text("Title"), Some("Dr."));
        assert_eq!(record.text("Home2PhoneNumber"), Some("2"));
        assert_eq!(record.text("Business2PhoneNumber"), Some("3"));
        assert_eq!(
            record.get("Picture"),
            Some(&Property::Bytes(vec![1, 2, 3, 4, 5]))
        );
        assert_eq!(
            record.get("Categories"),
            Some(&Property::List(vec!["a".into(), "b,c".into()]))
        );
        let written = write_card(record);
        assert!(written.lines().all(|l| l.len() <= 75));
        let (again, _) = parse(&written);
        let sorted = |r: &PropertyRecord| {
            let mut p = r.properties.clone();
            p.sort_by(|a, b| a.0.cmp(&b.0));
            p
        };
        // The overflow number came back in the slot its type names; from then on stable.
        assert_eq!(again[0].text("BusinessPhoneNumber"), Some("3"));
        assert_eq!(write_card(&again[0]), written);
        let (third, _) = parse(&write_card(&again[0]));
        assert_eq!(sorted(&third[0]), sorted(&again[0]));
    }

    #[test]
    fn bad_cards_are_reported_by_line() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nFN:Good\nEND:VCARD\nBEGIN:VCARD\nno colon here\n\
            END:VCARD\nBEGIN:VCARD\nVERSION:4.0\nEND:VCARD\nBEGIN:VCARD\nFN:Cut\n";
        let (records, bad) = parse(text);
        assert_eq!(records.len(), 1);
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [5, 8, 11]);
    }

    #[test]
    fn outlook_quoted_printable_is_decoded() {
        let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=utf-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;Anna\r\n\
            NOTE;ENCODING=QUOTED-PRINTABLE:first=0D=0Asecond line is long and goes on=\r\n\
            and on\r\nTEL;WORK;VOICE:+49 30 1\r\nEND:VCARD\r\n";
        let (records, bad) = parse(text);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(records[0].text("LastName"), Some("Müller"));
        assert_eq!(records[0].text("BusinessPhoneNumber"), Some("+49 30 1"));
        let Some(Property::Group(body)) = records[0].get("Body") else {
            panic!("a body")
        };
        assert_eq!(
            body.text("Data"),
            Some("first\r\nsecond line is long and goes onand on")
        );
    }
}
