//! Message bodies as Sync sends them: the AirSyncBase Body (MS-ASAIRS 2.2.2.9) for 12.0 and
//! later — plain text, HTML or the whole MIME message, truncated to the client's
//! TruncationSize (or left out with AllOrNone), with a Preview in 14.0+ — and the 2.5 forms
//! (Email:Body/BodyTruncated, or Email:MIMEData with MIMESupport), whose truncation is a
//! code from a fixed table.
//!
//! Items of the property classes (contacts, tasks, notes) keep their body as a type and a
//! text; [`stored_body`] sends it by the same preference and truncation rules.

use std::io::Read;

use super::class::BodyValue;
use super::collection::{BodyPreference, Options};
use crate::eas::ProtocolVersion;
use crate::mime::{BodyKind, NativeBodyType};
use crate::store::{MessageRecord, Store, StoreError, UserId};
use crate::wbxml::{tag::airsyncbase as base, tag::email, Element};

/// The body types of AirSyncBase:Type.
const PLAIN: u8 = 1;
const HTML: u8 = 2;
const MIME: u8 = 4;

/// 2.5 `Truncation` codes → bytes (the last code, 9, is "do not truncate").
const TRUNCATION_BYTES: [u64; 9] = [0, 512, 1024, 2048, 5120, 10240, 20480, 51200, 102_400];
/// 2.5 `MIMETruncation` codes → bytes (8 is "do not truncate").
const MIME_TRUNCATION_BYTES: [u64; 8] = [0, 4096, 5120, 7168, 10240, 20480, 51200, 102_400];

/// Largest body text read when the client set no truncation (bytes).
const UNTRUNCATED_LIMIT: u64 = 32 * 1024 * 1024;

/// The body a message is sent with.
pub struct BodyContent {
    pub body_type: u8,
    /// The size of the whole body in this type.
    pub estimated_size: u64,
    /// `None`: left out (AllOrNone and too large).
    pub data: Option<Vec<u8>>,
    pub truncated: bool,
}

/// Picks the body type for the client's preferences (MS-ASAIRS 3.2.5.1): MIME when MIMESupport
/// asks for it (always, or for S/MIME messages) and the client accepts type 4; else the
/// message's native type if the client listed it; else HTML, plain, MIME in that order.
pub fn choose(options: &Options, record: &MessageRecord) -> BodyPreference {
    let listed = |t: u8| {
        options
            .body_preferences
            .iter()
            .find(|p| p.body_type == t)
            .cloned()
    };
    let smime = record.message_class.contains("SMIME");
    if options.mime_support == 2 || (options.mime_support == 1 && smime) {
        if let Some(mime) = listed(MIME) {
            return mime;
        }
    }
    let native = match record.native_body_type {
        NativeBodyType::Plain => PLAIN,
        NativeBodyType::Html => HTML,
    };
    listed(native)
        .or_else(|| listed(HTML))
        .or_else(|| listed(PLAIN))
        .or_else(|| listed(MIME))
        .unwrap_or(BodyPreference {
            body_type: PLAIN,
            ..BodyPreference::default()
        })
}

/// Reads the body of `item` in `body_type`, at most `limit` bytes of it.
pub fn content(
    store: &Store,
    user: UserId,
    record: &MessageRecord,
    body_type: u8,
    limit: Option<u64>,
    all_or_none: bool,
) -> Result<BodyContent, StoreError> {
    let item = record.item_id;
    let (estimated_size, mut data) = if body_type == MIME {
        let mut raw = store.open_raw(user, item)?;
        let mut bytes = Vec::new();
        (&mut raw)
            .take(limit.unwrap_or(u64::MAX))
            .read_to_end(&mut bytes)?;
        (record.size, bytes)
    } else {
        let kind = if body_type == HTML {
            BodyKind::Html
        } else {
            BodyKind::Plain
        };
        let bodies = store.message_bodies(user, item)?;
        let full = bodies
            .iter()
            .filter(|b| b.kind == kind)
            .map(|b| b.size)
            .sum::<u64>();
        // One byte more than allowed tells whether the text was cut.
        let wanted = limit.map_or(UNTRUNCATED_LIMIT, |l| l.saturating_add(1));
        let text = store
            .body_text_of(
                user,
                item,
                &bodies,
                kind,
                wanted.min(UNTRUNCATED_LIMIT) as usize,
            )?
            .unwrap_or_default();
        (full.max(text.len() as u64), text.into_bytes())
    };
    let truncated = match limit {
        Some(limit) if data.len() as u64 > limit || estimated_size > limit => {
            data.truncate(cut_point(&data, limit as usize));
            true
        }
        _ => false,
    };
    Ok(BodyContent {
        body_type,
        estimated_size,
        data: (!(truncated && all_or_none)).then_some(data),
        truncated,
    })
}

/// The largest length ≤ `limit` that does not split a UTF-8 character (MIME is cut anywhere).
fn cut_point(data: &[u8], limit: usize) -> usize {
    let mut cut = limit.min(data.len());
    while cut > 0 && cut < data.len() && (data[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    cut
}

/// The AirSyncBase:Body element (12.0+).
pub fn airsyncbase_body(
    store: &Store,
    user: UserId,
    record: &MessageRecord,
    options: &Options,
    version: ProtocolVersion,
) -> Result<Element, StoreError> {
    let preference = choose(options, record);
    let body = content(
        store,
        user,
        record,
        preference.body_type,
        preference.truncation_size,
        preference.all_or_none,
    )?;
    let mut element = Element::new(base::BODY);
    element
        .push_text(base::TYPE, body.body_type.to_string())
        .push_text(base::ESTIMATED_DATA_SIZE, body.estimated_size.to_string());
    if body.truncated {
        element.push_text(base::TRUNCATED, "1");
    }
    if let Some(data) = body.data {
        element.push(data_element(base::DATA, data));
    }
    if version >= ProtocolVersion::V14_0 {
        if let Some(chars) = preference.preview.filter(|&c| c > 0) {
            let preview: String = record.preview.chars().take(chars as usize).collect();
            element.push_text(base::PREVIEW, preview);
        }
    }
    Ok(element)
}

/// Text when the bytes are UTF-8 (what libwbxml expects for Data), else opaque.
fn data_element(tag: crate::wbxml::Tag, data: Vec<u8>) -> Element {
    match String::from_utf8(data) {
        Ok(text) => Element::with_text(tag, text),
        Err(e) => Element::with_opaque(tag, e.into_bytes()),
    }
}

/// The 2.5 body elements, in order: either MIMEData/MIMETruncated/MIMESize (MIMESupport) or
/// Body/BodyTruncated (plain text).
pub fn protocol_2_5_body(
    store: &Store,
    user: UserId,
    record: &MessageRecord,
    options: &Options,
) -> Result<Vec<Element>, StoreError> {
    let smime = record.message_class.contains("SMIME");
    let mut elements = Vec::new();
    if options.mime_support == 2 || (options.mime_support == 1 && smime) {
        let limit = options
            .mime_truncation
            .and_then(|code| MIME_TRUNCATION_BYTES.get(code as usize).copied());
        let body = content(store, user, record, MIME, limit, false)?;
        if body.truncated {
            elements.push(Element::with_text(email::MIME_TRUNCATED, "1"));
        }
        elements.push(data_element(
            email::MIME_DATA,
            body.data.unwrap_or_default(),
        ));
        elements.push(Element::with_text(
            email::MIME_SIZE,
            body.estimated_size.to_string(),
        ));
    } else {
        let limit = options
            .truncation
            .and_then(|code| TRUNCATION_BYTES.get(code as usize).copied());
        let body = content(store, user, record, PLAIN, limit, false)?;
        elements.push(data_element(email::BODY, body.data.unwrap_or_default()));
        if body.truncated {
            elements.push(Element::with_text(email::BODY_TRUNCATED, "1"));
        }
    }
    Ok(elements)
}

/// The AirSyncBase:Body of a stored (non-mail) body for the client's preferences: the stored
/// type if the client listed it, else HTML or plain text converted from it (RTF cannot be
/// converted and stays RTF); without preferences plain text. Truncation, AllOrNone and Preview
/// as for mail.
pub fn stored_body(stored: &BodyValue, options: &Options, version: ProtocolVersion) -> Element {
    let listed = |t: u8| {
        options
            .body_preferences
            .iter()
            .find(|p| p.body_type == t)
            .cloned()
    };
    let preference = listed(stored.body_type)
        .or_else(|| listed(HTML))
        .or_else(|| listed(PLAIN))
        .unwrap_or(BodyPreference {
            body_type: PLAIN,
            ..BodyPreference::default()
        });
    let (body_type, text) = converted(stored, preference.body_type);
    let mut data = text.into_bytes();
    let estimated_size = data.len() as u64;
    let truncated = match preference.truncation_size {
        Some(limit) if estimated_size > limit => {
            data.truncate(cut_point(&data, limit as usize));
            true
        }
        _ => false,
    };
    let mut element = Element::new(base::BODY);
    element
        .push_text(base::TYPE, body_type.to_string())
        .push_text(base::ESTIMATED_DATA_SIZE, estimated_size.to_string());
    if truncated {
        element.push_text(base::TRUNCATED, "1");
    }
    if !(truncated && preference.all_or_none) {
        element.push(data_element(base::DATA, data));
    }
    if version >= ProtocolVersion::V14_0 {
        if let Some(chars) = preference.preview.filter(|&c| c > 0) {
            let (_, plain) = converted(stored, PLAIN);
            let preview: String = plain.chars().take(chars as usize).collect();
            element.push_text(base::PREVIEW, preview);
        }
    }
    element
}

/// A stored body's text in the pre-12.0 plain body element, cut at the 2.5 `Truncation` code.
pub fn stored_plain_body(stored: &BodyValue, options: &Options) -> String {
    let (_, text) = converted(stored, PLAIN);
    let limit = options
        .truncation
        .and_then(|code| TRUNCATION_BYTES.get(code as usize).copied());
    match limit {
        Some(limit) if text.len() as u64 > limit => {
            text[..cut_point(text.as_bytes(), limit as usize)].to_string()
        }
        _ => text,
    }
}

/// The stored body as `wanted` (1 plain, 2 HTML); RTF stays RTF.
fn converted(stored: &BodyValue, wanted: u8) -> (u8, String) {
    match (stored.body_type, wanted) {
        (PLAIN, HTML) => (HTML, crate::mime::text_to_html(&stored.data)),
        (HTML, PLAIN) | (HTML, MIME) => (PLAIN, crate::mime::html_to_text(&stored.data)),
        (stored_type, _) => (stored_type, stored.data.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bodies_follow_preferences_and_truncation() {
        let stored = BodyValue {
            body_type: PLAIN,
            data: "héllo world".into(),
        };
        let mut options = Options::default();
        let plain = stored_body(&stored, &options, ProtocolVersion::V16_1);
        assert_eq!(plain.child_text(base::TYPE).as_deref(), Some("1"));
        assert_eq!(plain.child_text(base::DATA).as_deref(), Some("héllo world"));
        options.body_preferences.push(BodyPreference {
            body_type: HTML,
            truncation_size: Some(3),
            all_or_none: false,
            preview: Some(5),
        });
        let html = stored_body(&stored, &options, ProtocolVersion::V16_1);
        assert_eq!(html.child_text(base::TYPE).as_deref(), Some("2"));
        assert_eq!(html.child_text(base::TRUNCATED).as_deref(), Some("1"));
        assert_eq!(html.child_text(base::PREVIEW).as_deref(), Some("héllo"));
        options.body_preferences[0].all_or_none = true;
        let none = stored_body(&stored, &options, ProtocolVersion::V12_1);
        assert!(none.child(base::DATA).is_none() && none.child(base::PREVIEW).is_none());
        options.truncation = Some(1);
        let long = BodyValue {
            body_type: PLAIN,
            data: "é".repeat(400),
        };
        assert_eq!(stored_plain_body(&long, &options).len(), 512);
    }

    #[test]
    fn cuts_never_split_characters() {
        let text = "aé€".as_bytes(); // 1 + 2 + 3 bytes
        assert_eq!(cut_point(text, 2), 1);
        assert_eq!(cut_point(text, 3), 3);
        assert_eq!(cut_point(text, 5), 3);
        assert_eq!(cut_point(text, 6), 6);
        assert_eq!(cut_point(text, 100), 6);
    }
}
