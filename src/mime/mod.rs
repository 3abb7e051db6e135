//! MIME parsing into the fields EAS needs: addresses, subject, dates, threading ids,
//! importance, message class (S/MIME, meeting requests), the text and HTML body parts and
//! the attachments, each located by byte offsets in the raw message so the store can
//! stream it back later without parsing again.
//!
//! Parsing uses mail-parser (a fuzzed, widely used parser; writing our own RFC 2047/2231
//! and charset handling would be far more code and far less tested). [`parse`] never
//! fails: a message whose MIME is broken still yields whatever can be read — at least the
//! subject and ids from its raw header lines — and is flagged [`ParsedMessage::mime_broken`].
//! The raw bytes are never altered; everything here is derived from them.
//!
//! Submodules: [`decode`] (streaming base64/quoted-printable readers), [`conversation`]
//! (ConversationId/ConversationIndex) and [`mailbox`] (mbox and Maildir formats).

pub mod conversation;
pub mod decode;
pub mod mailbox;

pub use decode::{decoding_reader, DecodingReader, TransferEncoding};

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use base64::Engine;
use mail_parser::{
    Address, ContentType, Encoding, Header, HeaderValue, Message, MessageParser, MessagePart,
    MimeHeaders, PartType,
};

/// Longest subject kept (characters); longer ones are cut.
const MAX_SUBJECT_CHARS: usize = 2048;
/// Longest formatted address list kept (characters).
const MAX_ADDRESS_LIST_CHARS: usize = 32 * 1024;
/// Longest Message-ID / In-Reply-To / reference kept (characters); longer ids are dropped.
const MAX_ID_CHARS: usize = 998;
/// How many References entries are kept (the root and the most recent ones matter).
const MAX_REFERENCES: usize = 50;
/// Length of the stored body preview (EAS `Preview` allows up to 255 characters).
pub const PREVIEW_CHARS: usize = 255;

/// EAS `Importance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Importance {
    Low = 0,
    Normal = 1,
    High = 2,
}

impl Importance {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(value: u8) -> Importance {
        match value {
            0 => Importance::Low,
            2 => Importance::High,
            _ => Importance::Normal,
        }
    }
}

/// EAS `NativeBodyType`: the form the message was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeBodyType {
    Plain = 1,
    Html = 2,
}

/// Where one part's (still transfer-encoded) body lies in the raw message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartLocation {
    /// The IMAP section number of the part: `1`, `2.1`, … (`1` is also the body of a
    /// single-part message).
    pub path: String,
    /// Byte offset of the first body byte.
    pub body_start: u64,
    /// Byte offset just past the body (the line break before the next boundary excluded).
    pub body_end: u64,
    pub encoding: TransferEncoding,
}

/// Which rendering of the message a body part belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// The parts to show, in order, when the reader wants plain text.
    Plain,
    /// The parts to show, in order, when the reader wants HTML.
    Html,
    /// The iMIP `text/calendar` part of a meeting request, cancellation or reply.
    Calendar,
}

impl BodyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyKind::Plain => "plain",
            BodyKind::Html => "html",
            BodyKind::Calendar => "calendar",
        }
    }

    pub fn from_name(name: &str) -> Option<BodyKind> {
        match name {
            "plain" => Some(BodyKind::Plain),
            "html" => Some(BodyKind::Html),
            "calendar" => Some(BodyKind::Calendar),
            _ => None,
        }
    }
}

/// One text part of a rendering. A plain rendering may hold an HTML part (a message with
/// only HTML) and the HTML rendering a plain part; `content_type` says which to convert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyPart {
    pub kind: BodyKind,
    /// `text/plain`, `text/html` or `text/calendar`.
    pub content_type: String,
    /// The declared charset, if any.
    pub charset: Option<String>,
    pub location: PartLocation,
    /// Length in bytes once decoded and converted to UTF-8.
    pub size: u64,
}

/// EAS `AttMethod`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachmentMethod {
    /// A normal attachment (file).
    Normal = 1,
    /// An attached e-mail message (`message/rfc822`).
    EmbeddedMessage = 5,
}

impl AttachmentMethod {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(value: u8) -> AttachmentMethod {
        if value == 5 {
            AttachmentMethod::EmbeddedMessage
        } else {
            AttachmentMethod::Normal
        }
    }
}

/// One attachment as EAS lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentPart {
    pub display_name: String,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Without the angle brackets.
    pub content_id: Option<String>,
    pub content_location: Option<String>,
    /// Shown inside the HTML body (it has a Content-ID and is not marked as attachment).
    pub is_inline: bool,
    /// Decoded size in bytes.
    pub size: u64,
    pub method: AttachmentMethod,
    pub location: PartLocation,
}

/// A name and address from an address header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub email: String,
}

impl Mailbox {
    /// `"Name" <addr>`, or just `addr` without a name.
    pub fn formatted(&self) -> String {
        match self.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) if self.email.is_empty() => name.to_string(),
            Some(name) => {
                let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{escaped}\" <{}>", self.email)
            }
            None => self.email.clone(),
        }
    }

    /// The name, or the address when there is no name.
    pub fn display(&self) -> &str {
        self.name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.email)
    }
}

/// Formats an address list the way EAS `To`/`Cc` carry it: `"A" <a@x>, b@y`.
pub fn format_address_list(list: &[Mailbox]) -> String {
    let joined = list
        .iter()
        .map(Mailbox::formatted)
        .collect::<Vec<_>>()
        .join(", ");
    clip_chars(&joined, MAX_ADDRESS_LIST_CHARS).to_string()
}

/// Everything EAS needs from one message, derived from its raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMessage {
    /// Decoded (RFC 2047) subject; empty when there is none.
    pub subject: String,
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    /// The `Date` header as Unix seconds, when present and valid.
    pub date_sent: Option<i64>,
    /// The date of the topmost `Received` header (the last hop's arrival time).
    pub first_received: Option<i64>,
    /// Ids without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    /// `References`, oldest (the thread root) first.
    pub references: Vec<String>,
    /// The decoded `Thread-Index` header (Outlook's conversation index), when well-formed.
    pub thread_index: Option<Vec<u8>>,
    pub importance: Importance,
    /// `urn:content-classes:message` or `urn:content-classes:calendarmessage`.
    pub content_class: &'static str,
    /// `IPM.Note`, `IPM.Note.SMIME`, `IPM.Note.SMIME.MultipartSigned`,
    /// `IPM.Schedule.Meeting.Request`, … (MS-ASEMAIL MessageClass).
    pub message_class: &'static str,
    /// The Windows code page of the body's charset (65001 for UTF-8 and unknown ones).
    pub internet_cpid: u32,
    pub native_body_type: NativeBodyType,
    pub bodies: Vec<BodyPart>,
    pub attachments: Vec<AttachmentPart>,
    /// Up to [`PREVIEW_CHARS`] characters of the text, whitespace collapsed.
    pub preview: String,
    /// The MIME structure could not be parsed cleanly; the fields hold what could be read.
    pub mime_broken: bool,
}

impl ParsedMessage {
    /// Whether `email` is among the To and Cc recipients (case-insensitive); when it is not,
    /// the message reached the mailbox as a Bcc (or through an alias or list).
    pub fn is_addressed_to(&self, email: &str) -> bool {
        self.to
            .iter()
            .chain(self.cc.iter())
            .any(|m| m.email.eq_ignore_ascii_case(email))
    }

    /// Whether any attachment is a real (not inline) attachment.
    pub fn has_attachments(&self) -> bool {
        self.attachments.iter().any(|a| !a.is_inline)
    }

    /// The key of the thread this message belongs to (see [`conversation::thread_root_key`]).
    pub fn thread_root_key(&self) -> String {
        conversation::thread_root_key(
            &self.references,
            self.in_reply_to.as_deref(),
            self.message_id.as_deref(),
            &self.subject,
        )
    }

    /// `To` display names joined by `; ` (EAS `DisplayTo`).
    pub fn display_to(&self) -> String {
        let joined = self
            .to
            .iter()
            .map(Mailbox::display)
            .collect::<Vec<_>>()
            .join("; ");
        clip_chars(&joined, MAX_ADDRESS_LIST_CHARS).to_string()
    }
}

/// Parses a raw RFC 5322 message. Never fails and never panics: broken input gives a
/// message with [`ParsedMessage::mime_broken`] set and the fields that could be read.
pub fn parse(raw: &[u8]) -> ParsedMessage {
    parse_guarded(raw, |_| ()).0
}

/// [`parse`] and [`calendar_texts`] from one pass of the parser, for a delivery that files
/// the message and applies the meetings it carries.
pub fn parse_with_calendar_texts(raw: &[u8]) -> (ParsedMessage, Vec<String>) {
    parse_guarded(raw, calendar_texts_of)
}

/// The texts of a message's `text/calendar` parts (attachments included), in order.
pub fn calendar_texts(raw: &[u8]) -> Vec<String> {
    MessageParser::new()
        .parse(raw)
        .map_or_else(Vec::new, |message| calendar_texts_of(&message))
}

fn calendar_texts_of(message: &Message<'_>) -> Vec<String> {
    message
        .parts
        .iter()
        .filter(|part| content_type_is(part.content_type(), "text", &["calendar"]))
        .filter_map(|part| part.text_contents().map(str::to_string))
        .collect()
}

/// Parses `raw` once into the message fields and whatever else `extra` reads from the
/// parsed message (nothing when the parser finds no message at all).
fn parse_guarded<T: Default>(raw: &[u8], extra: impl Fn(&Message<'_>) -> T) -> (ParsedMessage, T) {
    // mail-parser is written not to panic; the guard keeps a bug in it on hostile input
    // from taking a delivery down with it (the message is then stored unparsed).
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        let message = MessageParser::new().parse(raw);
        let more = message.as_ref().map(&extra).unwrap_or_default();
        (from_parsed(message, raw), more)
    }));
    match parsed {
        Ok((Some(message), more)) => (message, more),
        Ok((None, more)) => (fallback(raw), more),
        Err(_) => (fallback(raw), T::default()),
    }
}

fn from_parsed(message: Option<Message<'_>>, raw: &[u8]) -> Option<ParsedMessage> {
    let message = message?;
    // Without a single `Name: value` line the input is no message at all; mail-parser
    // then reads the first line as a (nameless) header and finds no body.
    if raw_headers(raw).is_empty() {
        return None;
    }
    Some(from_message(&message, raw))
}

/// The fields of a message mail-parser could not parse at all (no header found, or it
/// failed): ids and subject from the raw header lines, the whole input as a plain body.
fn fallback(raw: &[u8]) -> ParsedMessage {
    let headers = raw_headers(raw);
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let subject = find("subject").unwrap_or_default();
    ParsedMessage {
        subject: clip_chars(&subject, MAX_SUBJECT_CHARS).to_string(),
        from: None,
        sender: None,
        to: Vec::new(),
        cc: Vec::new(),
        reply_to: Vec::new(),
        date_sent: None,
        first_received: None,
        message_id: find("message-id").and_then(|v| clean_id(&v)),
        in_reply_to: None,
        references: Vec::new(),
        thread_index: None,
        importance: Importance::Normal,
        content_class: CLASS_MESSAGE,
        message_class: "IPM.Note",
        internet_cpid: CPID_UTF8,
        native_body_type: NativeBodyType::Plain,
        bodies: vec![BodyPart {
            kind: BodyKind::Plain,
            content_type: "text/plain".to_string(),
            charset: None,
            location: PartLocation {
                path: "1".to_string(),
                body_start: 0,
                body_end: raw.len() as u64,
                encoding: TransferEncoding::Identity,
            },
            size: String::from_utf8_lossy(raw).len() as u64,
        }],
        attachments: Vec::new(),
        preview: make_preview(&String::from_utf8_lossy(&raw[..raw.len().min(4096)])),
        mime_broken: true,
    }
}

/// Header fields of the top header block as (name, unfolded value), read line by line
/// without any MIME knowledge. Values are lossy UTF-8.
pub fn raw_headers(raw: &[u8]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(String::from_utf8_lossy(line).trim());
            }
            continue;
        }
        match line.iter().position(|&b| b == b':') {
            Some(colon) if colon > 0 => {
                let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
                let value = String::from_utf8_lossy(&line[colon + 1..])
                    .trim()
                    .to_string();
                fields.push((name, value));
            }
            // Not a header line: the header block is over (or never began).
            _ => break,
        }
    }
    fields
}

const CLASS_MESSAGE: &str = "urn:content-classes:message";
const CLASS_CALENDAR_MESSAGE: &str = "urn:content-classes:calendarmessage";
const CPID_UTF8: u32 = 65001;

fn from_message(message: &Message<'_>, raw: &[u8]) -> ParsedMessage {
    let headers = message.headers();
    let structure = Structure::of(&message.parts);

    let subject = message.subject().unwrap_or_default();
    let date_sent = message
        .date()
        .filter(|d| d.is_valid())
        .map(|d| d.to_timestamp());
    // The topmost Received header is the last hop: the arrival at our mail server.
    let first_received = message
        .received_all()
        .find_map(|r| r.date().filter(|d| d.is_valid()))
        .map(|d| d.to_timestamp());

    let root_type = message.parts.first().and_then(|p| p.content_type());
    let calendar = find_calendar_part(&message.parts, &structure);
    let message_class = if content_type_is(root_type, "multipart", &["signed"]) {
        "IPM.Note.SMIME.MultipartSigned"
    } else if content_type_is(root_type, "application", &["pkcs7-mime", "x-pkcs7-mime"]) {
        "IPM.Note.SMIME"
    } else if let Some(calendar) = &calendar {
        calendar.message_class
    } else {
        "IPM.Note"
    };

    let mut bodies = Vec::new();
    for (kind, ids) in [
        (BodyKind::Plain, &message.text_body),
        (BodyKind::Html, &message.html_body),
    ] {
        for &id in ids.iter() {
            let Some(part) = message.parts.get(id as usize) else {
                continue;
            };
            let content_type = match &part.body {
                PartType::Text(_) => "text/plain",
                PartType::Html(_) => "text/html",
                // Inline images in the rendering order are listed as attachments.
                _ => continue,
            };
            let charset = charset_of(part);
            let location = structure.location(id as usize, part);
            bodies.push(BodyPart {
                kind,
                content_type: content_type.to_string(),
                size: body_text_len(raw, &location, charset.as_deref()),
                charset,
                location,
            });
        }
    }
    if let Some(calendar) = &calendar {
        let part = &message.parts[calendar.part];
        let charset = charset_of(part);
        let location = structure.location(calendar.part, part);
        bodies.push(BodyPart {
            kind: BodyKind::Calendar,
            content_type: "text/calendar".to_string(),
            size: body_text_len(raw, &location, charset.as_deref()),
            charset,
            location,
        });
    }

    let mut attachments = Vec::new();
    for &id in &message.attachments {
        let index = id as usize;
        let Some(part) = message.parts.get(index) else {
            continue;
        };
        if calendar.as_ref().is_some_and(|c| c.part == index) || structure.is_signature(index) {
            continue;
        }
        let mut location = structure.location(index, part);
        // mail-parser falls back to the identity when a part does not decode cleanly (a
        // truncated last part, say); the reader still wants what the sender declared.
        if let Some(declared) = part.content_transfer_encoding() {
            location.encoding = TransferEncoding::from_name(declared);
        }
        attachments.push(attachment(part, location, raw, attachments.len()));
    }

    let native_body_type = if bodies.iter().any(|b| b.content_type == "text/html") {
        NativeBodyType::Html
    } else {
        NativeBodyType::Plain
    };
    let internet_cpid = bodies
        .iter()
        .find(|b| b.kind != BodyKind::Calendar)
        .map_or(CPID_UTF8, |b| code_page(b.charset.as_deref()));
    let preview = message
        .body_preview(PREVIEW_CHARS * 2)
        .map(|text| make_preview(&text))
        .unwrap_or_default();

    ParsedMessage {
        subject: clip_chars(subject.trim(), MAX_SUBJECT_CHARS).to_string(),
        from: message.from().and_then(|a| mailboxes(a).into_iter().next()),
        sender: message
            .sender()
            .and_then(|a| mailboxes(a).into_iter().next()),
        to: message.all_to().flat_map(mailboxes).collect(),
        cc: message.all_cc().flat_map(mailboxes).collect(),
        reply_to: message.reply_to().map(mailboxes).unwrap_or_default(),
        date_sent,
        first_received,
        message_id: message.message_id().and_then(clean_id),
        in_reply_to: id_list(message.in_reply_to()).into_iter().next(),
        references: references(message.references()),
        thread_index: header_text(headers, "Thread-Index").and_then(decode_thread_index),
        importance: importance(headers),
        content_class: if calendar.is_some() {
            CLASS_CALENDAR_MESSAGE
        } else {
            CLASS_MESSAGE
        },
        message_class,
        internet_cpid,
        native_body_type,
        bodies,
        attachments,
        preview,
        mime_broken: message.parts.iter().any(|p| p.is_encoding_problem),
    }
}

/// The tree shape of a message's parts: each part's IMAP section number and parent.
struct Structure {
    paths: Vec<String>,
    parents: Vec<Option<usize>>,
    /// Whether each part is a signature of a `multipart/signed`.
    signatures: Vec<bool>,
}

impl Structure {
    fn of(parts: &[MessagePart<'_>]) -> Structure {
        let count = parts.len();
        let mut structure = Structure {
            paths: vec![String::new(); count],
            parents: vec![None; count],
            signatures: vec![false; count],
        };
        let Some(root) = parts.first() else {
            return structure;
        };
        if !matches!(root.body, PartType::Multipart(_)) {
            structure.paths[0] = "1".to_string();
            return structure;
        }
        let mut visited = vec![false; count];
        visited[0] = true;
        let mut stack = vec![0usize];
        while let Some(index) = stack.pop() {
            let PartType::Multipart(children) = &parts[index].body else {
                continue;
            };
            let is_signed = content_type_is(parts[index].content_type(), "multipart", &["signed"]);
            for (position, &child) in children.iter().enumerate() {
                let child = child as usize;
                if child >= count || visited[child] {
                    continue;
                }
                visited[child] = true;
                structure.paths[child] = if structure.paths[index].is_empty() {
                    (position + 1).to_string()
                } else {
                    format!("{}.{}", structure.paths[index], position + 1)
                };
                structure.parents[child] = Some(index);
                structure.signatures[child] = is_signed
                    && content_type_is(
                        parts[child].content_type(),
                        "application",
                        &["pkcs7-signature", "x-pkcs7-signature"],
                    );
                stack.push(child);
            }
        }
        structure
    }

    fn location(&self, index: usize, part: &MessagePart<'_>) -> PartLocation {
        let start = u64::from(part.offset_body);
        PartLocation {
            path: self.paths.get(index).cloned().unwrap_or_default(),
            body_start: start,
            body_end: u64::from(part.offset_end).max(start),
            encoding: match part.encoding {
                Encoding::Base64 => TransferEncoding::Base64,
                Encoding::QuotedPrintable => TransferEncoding::QuotedPrintable,
                Encoding::None => TransferEncoding::Identity,
            },
        }
    }

    fn is_signature(&self, index: usize) -> bool {
        self.signatures.get(index).copied().unwrap_or(false)
    }

    fn parent_is(&self, parts: &[MessagePart<'_>], index: usize, subtype: &str) -> bool {
        self.parents
            .get(index)
            .copied()
            .flatten()
            .is_some_and(|parent| {
                content_type_is(parts[parent].content_type(), "multipart", &[subtype])
            })
    }
}

/// The iMIP part of a meeting message and what it means.
struct CalendarPart {
    part: usize,
    message_class: &'static str,
}

/// The first `text/calendar` part that is an iTIP request, cancellation or reply (a method
/// on its Content-Type or a `METHOD:` line) and not a plain file attachment.
fn find_calendar_part(parts: &[MessagePart<'_>], structure: &Structure) -> Option<CalendarPart> {
    for (index, part) in parts.iter().enumerate() {
        let content_type = part.content_type();
        if !content_type_is(content_type, "text", &["calendar"]) {
            continue;
        }
        let text = part.text_contents().unwrap_or_default();
        let method = ical_property(text, "METHOD")
            .or_else(|| {
                content_type
                    .and_then(|c| c.attribute("method"))
                    .map(str::to_string)
            })
            .map(|m| m.trim().to_ascii_uppercase());
        let is_attachment = part
            .content_disposition()
            .is_some_and(|d| d.is_attachment());
        let in_alternative = structure.parent_is(parts, index, "alternative");
        let declared = content_type.is_some_and(|c| c.has_attribute("method"));
        if is_attachment && !in_alternative && !declared {
            continue;
        }
        let message_class = match method.as_deref() {
            Some("REQUEST") => "IPM.Schedule.Meeting.Request",
            Some("CANCEL") => "IPM.Schedule.Meeting.Canceled",
            Some("REPLY") => match ical_parameter(text, "PARTSTAT").as_deref() {
                Some("ACCEPTED") => "IPM.Schedule.Meeting.Resp.Pos",
                Some("DECLINED") => "IPM.Schedule.Meeting.Resp.Neg",
                _ => "IPM.Schedule.Meeting.Resp.Tent",
            },
            _ => continue,
        };
        return Some(CalendarPart {
            part: index,
            message_class,
        });
    }
    None
}

/// The value of the first `NAME:value` line of an iCalendar text (unfolding ignored: the
/// properties asked for are short).
fn ical_property(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = key.split(';').next()?.trim();
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// The value of the first `;NAME=value` property parameter in an iCalendar text.
fn ical_parameter(text: &str, name: &str) -> Option<String> {
    let upper = text.to_ascii_uppercase();
    let needle = format!(";{}=", name.to_ascii_uppercase());
    let start = upper.find(&needle)? + needle.len();
    let value: String = upper[start..]
        .chars()
        .take_while(|c| !matches!(c, ';' | ':' | '\r' | '\n'))
        .collect();
    Some(value.trim_matches('"').to_string())
}

fn attachment(
    part: &MessagePart<'_>,
    location: PartLocation,
    raw: &[u8],
    position: usize,
) -> AttachmentPart {
    let content_type = part
        .content_type()
        .map(type_name)
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let method = if content_type == "message/rfc822" || content_type == "message/global" {
        AttachmentMethod::EmbeddedMessage
    } else {
        AttachmentMethod::Normal
    };
    let display_name = part
        .attachment_name()
        .map(clean_file_name)
        .filter(|name| !name.is_empty())
        .or_else(|| match &part.body {
            PartType::Message(nested) => nested
                .subject()
                .map(|s| clean_file_name(&format!("{}.eml", s.trim())))
                .filter(|name| name != ".eml"),
            _ => None,
        })
        .unwrap_or_else(|| {
            format!(
                "attachment-{}{}",
                position + 1,
                extension_for(&content_type)
            )
        });
    let content_id = part
        .content_id()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .filter(|id| !id.is_empty());
    let disposition_attachment = part
        .content_disposition()
        .is_some_and(|d| d.is_attachment());
    let start = usize::try_from(location.body_start).unwrap_or(usize::MAX);
    let end = usize::try_from(location.body_end).unwrap_or(usize::MAX);
    let size = raw
        .get(start..end)
        .map_or(0, |body| decode::decoded_len(body, location.encoding));
    AttachmentPart {
        display_name,
        is_inline: content_id.is_some() && !disposition_attachment,
        content_id,
        content_location: part
            .content_location()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty()),
        content_type,
        size,
        method,
        location,
    }
}

/// A file name fit for display: the last path component, without control characters.
fn clean_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    last.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(255)
        .collect()
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "message/rfc822" | "message/global" => ".eml",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "text/calendar" | "application/ics" => ".ics",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "application/pdf" => ".pdf",
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => ".p7m",
        "application/pkcs7-signature" | "application/x-pkcs7-signature" => ".p7s",
        _ => "",
    }
}

fn type_name(content_type: &ContentType<'_>) -> String {
    let main = content_type.ctype().trim().to_ascii_lowercase();
    match content_type.subtype() {
        Some(sub) => format!("{main}/{}", sub.trim().to_ascii_lowercase()),
        None => main,
    }
}

fn content_type_is(content_type: Option<&ContentType<'_>>, main: &str, subtypes: &[&str]) -> bool {
    content_type.is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case(main)
            && c.subtype()
                .is_some_and(|s| subtypes.iter().any(|want| s.eq_ignore_ascii_case(want)))
    })
}

fn charset_of(part: &MessagePart<'_>) -> Option<String> {
    part.content_type()
        .and_then(|c| c.attribute("charset"))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
}

/// The Windows code page for a MIME charset name (EAS `InternetCPID`); 65001 (UTF-8) for
/// UTF-8, no charset and the ones not listed.
pub fn code_page(charset: Option<&str>) -> u32 {
    let Some(charset) = charset else {
        return CPID_UTF8;
    };
    let name = charset.trim().to_ascii_lowercase().replace('_', "-");
    const TABLE: &[(&str, u32)] = &[
        ("us-ascii", 20127),
        ("ascii", 20127),
        ("iso-8859-1", 28591),
        ("latin1", 28591),
        ("iso-8859-2", 28592),
        ("iso-8859-3", 28593),
        ("iso-8859-4", 28594),
        ("iso-8859-5", 28595),
        ("iso-8859-6", 28596),
        ("iso-8859-7", 28597),
        ("iso-8859-8", 28598),
        ("iso-8859-9", 28599),
        ("iso-8859-13", 28603),
        ("iso-8859-15", 28605),
        ("windows-1250", 1250),
        ("windows-1251", 1251),
        ("windows-1252", 1252),
        ("windows-1253", 1253),
        ("windows-1254", 1254),
        ("windows-1255", 1255),
        ("windows-1256", 1256),
        ("windows-1257", 1257),
        ("windows-1258", 1258),
        ("koi8-r", 20866),
        ("koi8-u", 21866),
        ("shift-jis", 932),
        ("iso-2022-jp", 50220),
        ("euc-jp", 51932),
        ("gb2312", 936),
        ("gbk", 936),
        ("gb18030", 54936),
        ("big5", 950),
        ("euc-kr", 51949),
        ("ks-c-5601-1987", 949),
        ("utf-16", 1200),
        ("utf-7", 65000),
    ];
    TABLE
        .iter()
        .find(|(known, _)| *known == name)
        .map_or(CPID_UTF8, |(_, cpid)| *cpid)
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let email = addr.address().map(str::trim).unwrap_or_default();
            let name = addr
                .name()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty());
            if email.is_empty() && name.is_none() {
                return None;
            }
            Some(Mailbox {
                name,
                email: email.to_string(),
            })
        })
        .collect()
}

/// An id without angle brackets and blanks; `None` when empty or unreasonably long.
fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.chars().count() <= MAX_ID_CHARS && !id.chars().any(char::is_control))
        .then(|| id.to_string())
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => clean_id(id).into_iter().collect(),
        HeaderValue::TextList(ids) => ids.iter().filter_map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
}

/// References, keeping the root and the most recent ones when there are too many.
fn references(value: &HeaderValue<'_>) -> Vec<String> {
    let mut ids = id_list(value);
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids
}

fn header_text<'a>(headers: &'a [Header<'_>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .find_map(|h| h.value().as_text())
}

fn decode_thread_index(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    conversation::is_valid_index(&bytes).then_some(bytes)
}

/// `Importance`, else `X-Priority` (1–2 high, 4–5 low), else `Priority`.
fn importance(headers: &[Header<'_>]) -> Importance {
    if let Some(value) = header_text(headers, "Importance") {
        let value = value.trim();
        if value.eq_ignore_ascii_case("high") {
            return Importance::High;
        }
        if value.eq_ignore_ascii_case("low") {
            return Importance::Low;
        }
        return Importance::Normal;
    }
    if let Some(value) = header_text(headers, "X-Priority") {
        return match value.trim().chars().next() {
            Some('1' | '2') => Importance::High,
            Some('4' | '5') => Importance::Low,
            _ => Importance::Normal,
        };
    }
    match header_text(headers, "Priority").map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("urgent") => Importance::High,
        Some(v) if v.eq_ignore_ascii_case("non-urgent") => Importance::Low,
        _ => Importance::Normal,
    }
}

/// Whitespace collapsed to single spaces, control characters dropped, at most
/// [`PREVIEW_CHARS`] characters.
fn make_preview(text: &str) -> String {
    let mut preview = String::new();
    let mut count = 0;
    for word in text.split_whitespace() {
        if count > 0 {
            preview.push(' ');
            count += 1;
        }
        for c in word.chars().filter(|c| !c.is_control()) {
            if count >= PREVIEW_CHARS {
                return preview.trim_end().to_string();
            }
            preview.push(c);
            count += 1;
        }
    }
    preview
}

fn clip_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// The length of the text the store sends for a body part: its bytes decoded by the streaming
/// decoders and converted with its charset. mail-parser's own decoding differs on malformed
/// input (a lone CR inside quoted-printable, for one), so its text length is not used.
fn body_text_len(raw: &[u8], location: &PartLocation, charset: Option<&str>) -> u64 {
    let start = usize::try_from(location.body_start).unwrap_or(usize::MAX);
    let end = usize::try_from(location.body_end).unwrap_or(usize::MAX);
    let Some(encoded) = raw.get(start..end) else {
        return 0;
    };
    if location.encoding == TransferEncoding::Identity {
        return text_len(encoded, charset);
    }
    let mut bytes = Vec::with_capacity(encoded.len());
    // Reading from a slice cannot fail.
    let _ = decoding_reader(encoded, location.encoding).read_to_end(&mut bytes);
    text_len(&bytes, charset)
}

/// The length of `text_from_bytes(bytes, charset)`, without converting when the bytes are
/// valid UTF-8 read as UTF-8 (the text is then the bytes themselves).
fn text_len(bytes: &[u8], charset: Option<&str>) -> u64 {
    let read_as_utf8 = charset.is_none_or(|c| {
        mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()).is_none()
    });
    if read_as_utf8 && std::str::from_utf8(bytes).is_ok() {
        return bytes.len() as u64;
    }
    text_from_bytes(bytes, charset).len() as u64
}

/// The decoded text of a body part, converted to UTF-8 with its charset (`None` or an
/// unknown charset: UTF-8, invalid sequences replaced).
pub fn text_from_bytes(bytes: &[u8], charset: Option<&str>) -> String {
    let decoder =
        charset.and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()));
    match decoder {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Plain text for an HTML body (tags dropped, entities decoded).
pub fn html_to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(html)
}

/// HTML for a plain-text body (escaped, line breaks kept).
pub fn text_to_html(text: &str) -> String {
    mail_parser::decoders::html::text_to_html(text)
}

#[cfg(test)]
pub(crate) mod tests;
