//! What SendMail, SmartForward and SmartReply share (MS-ASCMD 2.2.1.17, 2.2.1.19 and
//! 2.2.1.20): reading the request in either form, turning the client's MIME into the message
//! that goes out, and the submission itself.
//!
//! **Request forms.** From 14.0 the body is a ComposeMail WBXML document (ClientId,
//! SaveInSentItems, ReplaceMime, Mime, Source). Before 14.0 the query carries the ids
//! (`ItemId`, `CollectionId`, `SaveInSent=T`) and the body is the MIME itself
//! (`message/rfc822`); failures are then bare HTTP statuses (400 for a bad request, 500 when
//! the message could not be sent), success is an empty 200 in both forms.
//!
//! **The message.** The client's header block is kept line for line, except: `From` is
//! always the user (a missing From, or one naming anybody else, is replaced by the user's
//! address and display name — nobody sends as another user); `Bcc` is removed from what
//! recipients get (the sender's Sent Items copy keeps it, as mail programs do); `Date` and
//! `Message-ID` are added when missing, and a reply gets `In-Reply-To`/`References`.
//!
//! **Including the original** (Smart commands without ReplaceMime; always in the 12.x
//! form): a reply whose new message is a single `text/plain` part gets the original's text
//! quoted below the new text (`> ` lines under an "On …, … wrote:" line). Any other reply
//! (HTML, multipart) and every forward becomes `multipart/mixed`: the client's content as
//! the first part and the original message, byte for byte, as a `message/rfc822` part. So a
//! forward keeps every attachment of the original reachable (and signatures valid), and
//! nothing of the original is re-encoded.
//!
//! **Delivery.** Recipients (To, Cc, Bcc) who are users of this server get the message in
//! their Inbox (one transaction each); the others are handed to the `submission-command`
//! (see [`crate::mail_submit`]) first, so a failing MTA fails the send before any local copy
//! exists. A ClientId the device already sent answers success without sending again: the
//! phone that repeats a send has lost our answer, and the message did go out (the spec's
//! status 118, "previously sent", would make some phones report a failure for it).

use base64::Engine;
use log::{info, warn};
use mail_parser::MessageParser;

use super::query::QueryParam;
use super::{CommandError, ProtocolVersion, Reply, Request};
use crate::clock::rfc5322_date;
use crate::mail_submit;
use crate::mime::{self, BodyKind, Mailbox};
use crate::store::sync_items::MAX_CLIENT_ID_CHARS;
use crate::store::{
    FolderType, ItemId, LastVerb, MessageChange, MessageRecord, NewMessage, StoreError, User,
};
use crate::wbxml::{tag::compose_mail as cm, Element, Tag};

/// ComposeMail Status values (MS-ASCMD common status codes).
pub mod status {
    /// The request is not the command's document (missing ClientId, Mime, Source…).
    pub const INVALID_XML: u16 = 103;
    /// The MIME has no header block at all.
    pub const INVALID_MIME: u16 = 107;
    /// The server failed in a way that is not the request's fault.
    pub const SERVER_ERROR: u16 = 110;
    /// The message is larger than the server stores.
    pub const MESSAGE_TOO_LARGE: u16 = 122;
    /// The message names no recipient.
    pub const NO_RECIPIENT: u16 = 119;
    /// The mail transfer agent refused the message.
    pub const SUBMISSION_FAILED: u16 = 120;
    /// The Source item is not (or no longer) in the user's mailbox.
    pub const ITEM_NOT_FOUND: u16 = 150;
}

/// Most decoded bytes of the original's text quoted into a reply.
const MAX_QUOTED_BYTES: usize = 1024 * 1024;

/// Which of the three commands runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compose {
    Send,
    Reply,
    Forward,
}

impl Compose {
    fn root_tag(self) -> Tag {
        match self {
            Compose::Send => cm::SEND_MAIL,
            Compose::Reply => cm::SMART_REPLY,
            Compose::Forward => cm::SMART_FORWARD,
        }
    }
}

/// A request, from either form.
struct Parsed {
    client_id: Option<String>,
    save_in_sent: bool,
    replace_mime: bool,
    mime: Vec<u8>,
    /// The ServerId (or LongId) of the original, for the Smart commands.
    source_item: Option<String>,
}

/// A failure reported to the client: its ComposeMail Status (WBXML form) and HTTP status
/// (query form).
struct Failure {
    status: u16,
    http: u16,
}

impl Failure {
    fn client(status: u16) -> Failure {
        Failure { status, http: 400 }
    }

    fn server(status: u16) -> Failure {
        Failure { status, http: 500 }
    }
}

/// Runs SendMail, SmartReply or SmartForward.
pub fn handle(request: &Request, command: Compose) -> Result<Reply, CommandError> {
    let wbxml_form = request.body.is_some() || request.version >= ProtocolVersion::V14_0;
    let parsed = if wbxml_form {
        parse_document(request.body, command)
    } else {
        parse_query_form(request, command)
    };
    let outcome = match parsed {
        Ok(parsed) => run(request, command, &parsed)?,
        Err(failure) => Err(failure),
    };
    Ok(match outcome {
        Ok(()) => Reply::Empty,
        Err(failure) if wbxml_form => {
            let mut doc = Element::new(command.root_tag());
            doc.push_text(cm::STATUS, failure.status.to_string());
            Reply::Document(doc)
        }
        Err(failure) => Reply::HttpStatus(failure.http),
    })
}

fn parse_document(body: Option<&Element>, command: Compose) -> Result<Parsed, Failure> {
    let invalid = || Failure::client(status::INVALID_XML);
    let body = body
        .filter(|b| b.tag == command.root_tag())
        .ok_or_else(invalid)?;
    let client_id = body
        .child_text(cm::CLIENT_ID)
        .map(|id| id.trim().to_string())
        // MS-ASCMD allows 40 characters; what the store cannot keep is refused before
        // anything is sent, so a retry can always be recognised.
        .filter(|id| !id.is_empty() && id.chars().count() <= MAX_CLIENT_ID_CHARS)
        .ok_or_else(invalid)?;
    let mime = body
        .child(cm::MIME)
        .and_then(Element::bytes)
        .ok_or_else(invalid)?;
    let source_item = match command {
        Compose::Send => None,
        Compose::Reply | Compose::Forward => {
            let source = body.child(cm::SOURCE).ok_or_else(invalid)?;
            let item = source
                .child_text(cm::ITEM_ID)
                .or_else(|| source.child_text(cm::LONG_ID))
                .ok_or_else(invalid)?;
            Some(item)
        }
    };
    Ok(Parsed {
        client_id: Some(client_id),
        save_in_sent: body.child(cm::SAVE_IN_SENT_ITEMS).is_some(),
        replace_mime: body.child(cm::REPLACE_MIME).is_some(),
        mime,
        source_item,
    })
}

fn parse_query_form(request: &Request, command: Compose) -> Result<Parsed, Failure> {
    let query = request.query;
    let source_item = match command {
        Compose::Send => None,
        Compose::Reply | Compose::Forward => Some(
            query
                .param(&QueryParam::ItemId)
                .or_else(|| query.param(&QueryParam::LongId))
                .map(str::to_string)
                .ok_or_else(|| Failure::client(status::INVALID_XML))?,
        ),
    };
    Ok(Parsed {
        client_id: None,
        save_in_sent: query.save_in_sent,
        replace_mime: false,
        mime: request.raw_body.to_vec(),
        source_item,
    })
}

/// The original of a reply or forward.
struct Original {
    item: ItemId,
    record: MessageRecord,
}

fn run(
    request: &Request,
    command: Compose,
    parsed: &Parsed,
) -> Result<Result<(), Failure>, CommandError> {
    let store = request.store;
    let user = request.user;
    if let Some(client_id) = &parsed.client_id {
        if store.sent_client_id_seen(request.device.id, client_id)? {
            info!(
                "{} for {}: ClientId {:?} was sent already; not sending it again",
                command_name(command),
                user.email,
                crate::logsafe::escaped(client_id)
            );
            return Ok(Ok(()));
        }
    }
    let original = match &parsed.source_item {
        None => None,
        Some(id) => {
            let record = match id.trim().parse::<ItemId>() {
                Ok(item) => store
                    .message(user.id, item)?
                    .map(|record| Original { item, record }),
                Err(_) => None,
            };
            match record {
                Some(original) => Some(original),
                None => return Ok(Err(Failure::client(status::ITEM_NOT_FOUND))),
            }
        }
    };
    if mime::raw_headers(&parsed.mime).is_empty() {
        return Ok(Err(Failure::client(status::INVALID_MIME)));
    }
    let include = match (&original, parsed.replace_mime) {
        (Some(original), false) => Some(original),
        _ => None,
    };
    let message = compose(request, command, &parsed.mime, original.as_ref(), include)?;
    if message.recipients.is_empty() {
        return Ok(Err(Failure::client(status::NO_RECIPIENT)));
    }
    if message.with_bcc.len() > crate::store::mail::MAX_MESSAGE_BYTES {
        return Ok(Err(Failure::client(status::MESSAGE_TOO_LARGE)));
    }

    if let Err(status) = deliver(request, &message.recipients, &message.without_bcc)? {
        return Ok(Err(Failure::server(status)));
    }
    let mut sent_copy = None;
    if parsed.save_in_sent {
        match special_folder(request, user, FolderType::SentItems)? {
            Some(sent) => {
                let filed = NewMessage {
                    received_at: Some(crate::store::now()),
                    read: true,
                    ..NewMessage::new(&message.with_bcc)
                };
                sent_copy = Some(store.add_message(user.id, sent, &filed)?.item_id());
                request.note_change();
            }
            None => warn!("{} has no Sent Items folder; no copy kept", user.email),
        }
    }
    if let Some(original) = &original {
        let verb = match command {
            Compose::Forward => LastVerb::Forward,
            _ if message.recipients.len() > 1 => LastVerb::ReplyToAll,
            _ => LastVerb::ReplyToSender,
        };
        let change = MessageChange {
            last_verb: Some((verb, crate::store::now())),
            ..MessageChange::default()
        };
        match store.change_message(user.id, original.item, &change) {
            Ok(true) => request.note_change(),
            // The original may have been deleted meanwhile; the mail went out all the same.
            Ok(false) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(client_id) = &parsed.client_id {
        store.record_sent_client_id(request.device.id, client_id, sent_copy)?;
    }
    info!(
        "{} for {}: {} recipient(s), {} bytes",
        command_name(command),
        user.email,
        message.recipients.len(),
        message.without_bcc.len()
    );
    Ok(Ok(()))
}

/// Delivers a message: `recipients` who are users of this server get `message` in their
/// Inbox, the others are handed to the submission command first (so a failing MTA fails
/// the send before any local copy exists). `Err` holds the ComposeMail status of a failure:
/// [`status::SUBMISSION_FAILED`] or [`status::SERVER_ERROR`]. Also used to send drafts
/// (Sync's email2:Send).
pub(crate) fn deliver(
    request: &Request,
    recipients: &[String],
    message: &[u8],
) -> Result<Result<(), u16>, CommandError> {
    let (local, remote) = split_recipients(request, recipients)?;
    if !remote.is_empty() {
        if let Err(e) = mail_submit::submit(
            request.submission_command,
            &request.user.email,
            &remote,
            message,
        ) {
            warn!("sending mail for {}: {e}", request.user.email);
            return Ok(Err(status::SUBMISSION_FAILED));
        }
    }
    file_for_local(request, &local, message)
}

/// Delivers mail the server sends for the user as part of a write (a meeting answer): users
/// of this server get it in their Inbox now, the others' copy is queued in the outbox
/// (`store::outbox`). Inside the write's transaction the mail thus exists exactly when the
/// write does; the request loop sends it after the commit. `Err` as for [`deliver`].
pub(crate) fn deliver_queued(
    request: &Request,
    recipients: &[String],
    message: &[u8],
) -> Result<Result<(), u16>, CommandError> {
    let (local, remote) = split_recipients(request, recipients)?;
    if !remote.is_empty() {
        let queued = crate::store::Outgoing {
            user: request.user.id,
            sender: &request.user.email,
            recipients: &remote,
            message,
        };
        request.store.enqueue_mail(&queued, crate::store::now())?;
    }
    file_for_local(request, &local, message)
}

/// The recipients who are users of this server (each once) and the addresses of the others.
fn split_recipients(
    request: &Request,
    recipients: &[String],
) -> Result<(Vec<User>, Vec<String>), CommandError> {
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for address in recipients {
        match local_user(request, address)? {
            Some(recipient) => {
                if !local.iter().any(|u: &User| u.id == recipient.id) {
                    local.push(recipient);
                }
            }
            None => remote.push(address.clone()),
        }
    }
    Ok((local, remote))
}

/// Files `message` in the Inbox of each of `local`.
fn file_for_local(
    request: &Request,
    local: &[User],
    message: &[u8],
) -> Result<Result<(), u16>, CommandError> {
    for recipient in local {
        let Some(inbox) = special_folder(request, recipient, FolderType::Inbox)? else {
            warn!(
                "{} has no Inbox; the message to them is dropped",
                recipient.email
            );
            return Ok(Err(status::SERVER_ERROR));
        };
        let filed = NewMessage {
            received_at: Some(crate::store::now()),
            recipient: Some(&recipient.email),
            ..NewMessage::new(message)
        };
        // A meeting mailed between users of this server reaches the calendar directly, in
        // the transaction that files the mail.
        crate::eas::meetings::file_mail(request.store, recipient, inbox, &filed)?;
        if recipient.id == request.user.id {
            request.note_change();
        } else {
            request.notify_user(&recipient.email);
        }
    }
    Ok(Ok(()))
}

fn command_name(command: Compose) -> &'static str {
    match command {
        Compose::Send => "SendMail",
        Compose::Reply => "SmartReply",
        Compose::Forward => "SmartForward",
    }
}

/// The user an address names: the exact address, else the address without a `+extension`.
pub(crate) fn local_user(request: &Request, address: &str) -> Result<Option<User>, StoreError> {
    if let Some(user) = request.store.user_by_email(address)? {
        return Ok(Some(user));
    }
    if let Some((local, domain)) = address.rsplit_once('@') {
        if let Some((base, _extension)) = local.split_once('+') {
            return request.store.user_by_email(&format!("{base}@{domain}"));
        }
    }
    Ok(None)
}

pub(crate) fn special_folder(
    request: &Request,
    user: &User,
    folder_type: FolderType,
) -> Result<Option<i64>, StoreError> {
    Ok(request
        .store
        .folders_of(user.id)?
        .into_iter()
        .find(|f| f.special && f.folder_type == folder_type)
        .map(|f| f.id))
}

/// The message ready to go.
struct Outgoing {
    /// What recipients get.
    without_bcc: Vec<u8>,
    /// The sender's Sent Items copy.
    with_bcc: Vec<u8>,
    /// Every To, Cc and Bcc address, lower-case, each once.
    recipients: Vec<String>,
}

/// One header field: its name and its exact lines (folding kept).
struct HeaderField {
    name: String,
    lines: Vec<u8>,
}

fn compose(
    request: &Request,
    command: Compose,
    mime_bytes: &[u8],
    original: Option<&Original>,
    include: Option<&Original>,
) -> Result<Outgoing, CommandError> {
    let (header_block, body) = split_message(mime_bytes);
    let fields = header_fields(header_block);
    let recipients = recipients_of(mime_bytes);
    let has = |name: &str| fields.iter().any(|f| f.name.eq_ignore_ascii_case(name));
    let user = request.user;

    // Fields added or replaced at the top.
    let mut added: Vec<u8> = Vec::new();
    let from_is_user = fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("From"))
        .count()
        == 1
        && client_from(mime_bytes).is_some_and(|from| from.eq_ignore_ascii_case(&user.email));
    if !from_is_user {
        added.extend_from_slice(format!("From: {}\r\n", user_mailbox(user)).as_bytes());
    }
    if !has("Date") {
        added.extend_from_slice(
            format!("Date: {}\r\n", rfc5322_date(crate::store::now())).as_bytes(),
        );
    }
    if !has("Message-ID") {
        added.extend_from_slice(
            format!(
                "Message-ID: <{}@{}>\r\n",
                crate::store::random_hex(16),
                user.domain
            )
            .as_bytes(),
        );
    }
    if let (Compose::Reply, Some(original)) = (command, original) {
        if let Some(id) = &original.record.message_id {
            if !has("In-Reply-To") {
                added.extend_from_slice(format!("In-Reply-To: <{id}>\r\n").as_bytes());
            }
            if !has("References") {
                let mut references: Vec<String> = original
                    .record
                    .references
                    .iter()
                    .map(|r| format!("<{r}>"))
                    .collect();
                references.push(format!("<{id}>"));
                added.extend_from_slice(
                    format!("References: {}\r\n", references.join("\r\n ")).as_bytes(),
                );
            }
        }
    }

    let content_type = fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("Content-Type"))
        .map(|f| field_value(&f.lines).to_ascii_lowercase())
        .unwrap_or_default();
    let is_plain = content_type.is_empty() || content_type.starts_with("text/plain");

    // The body and the Content-* fields that describe it.
    let mut content_fields: Vec<u8> = Vec::new();
    let mut new_body: Vec<u8> = Vec::new();
    let keep_content_fields;
    match include {
        None => {
            keep_content_fields = true;
            new_body.extend_from_slice(body);
        }
        Some(original) if command == Compose::Reply && is_plain => {
            keep_content_fields = false;
            let new_text = MessageParser::new()
                .parse(mime_bytes)
                .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
                .unwrap_or_default();
            let quoted = quoted_original(request, original)?;
            let text = format!("{}\r\n\r\n{quoted}", new_text.trim_end());
            content_fields.extend_from_slice(
                b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n",
            );
            new_body.extend_from_slice(&base64_lines(text.as_bytes()));
        }
        Some(original) => {
            keep_content_fields = false;
            let boundary = format!("easd-{}", crate::store::random_hex(12));
            content_fields.extend_from_slice(
                format!("MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"{boundary}\"\r\n")
                    .as_bytes(),
            );
            new_body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            for field in fields.iter().filter(|f| is_content_field(&f.name)) {
                new_body.extend_from_slice(&field.lines);
            }
            new_body.extend_from_slice(b"\r\n");
            new_body.extend_from_slice(body);
            let raw = original_bytes(request, original)?;
            let encoding = if raw.contains(&0) {
                "binary"
            } else if raw.iter().any(|&b| b >= 0x80) {
                "8bit"
            } else {
                "7bit"
            };
            new_body.extend_from_slice(
                format!(
                    "\r\n--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment;\r\n filename=\"{}.eml\"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n",
                    attachment_name(&original.record.subject)
                )
                .as_bytes(),
            );
            new_body.extend_from_slice(&raw);
            if !raw.ends_with(b"\n") {
                new_body.extend_from_slice(b"\r\n");
            }
            new_body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
    }

    let assemble = |keep_bcc: bool| {
        let mut out = Vec::with_capacity(header_block.len() + new_body.len() + 512);
        out.extend_from_slice(&added);
        for field in &fields {
            let name = field.name.as_str();
            let dropped = (!from_is_user
                && (name.eq_ignore_ascii_case("From") || name.eq_ignore_ascii_case("Sender")))
                || (!keep_bcc && name.eq_ignore_ascii_case("Bcc"))
                || (!keep_content_fields
                    && (is_content_field(name) || name.eq_ignore_ascii_case("MIME-Version")));
            if !dropped {
                out.extend_from_slice(&field.lines);
            }
        }
        out.extend_from_slice(&content_fields);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&new_body);
        out
    };
    Ok(Outgoing {
        without_bcc: assemble(false),
        with_bcc: assemble(true),
        recipients,
    })
}

/// The header block (with its line ends, without the blank line) and the body.
fn split_message(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut line_start = 0;
    while line_start < raw.len() {
        let line_end = raw[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| line_start + p + 1);
        let line = &raw[line_start..line_end];
        if line == b"\r\n" || line == b"\n" {
            return (&raw[..line_start], &raw[line_end..]);
        }
        line_start = line_end;
    }
    (raw, &[])
}

/// The header block cut into fields; a line that starts with white space continues the
/// field before it. Every field ends with a line end.
fn header_fields(block: &[u8]) -> Vec<HeaderField> {
    let mut fields: Vec<HeaderField> = Vec::new();
    for line in block.split_inclusive(|&b| b == b'\n') {
        let continues = matches!(line.first(), Some(b' ') | Some(b'\t'));
        match fields.last_mut() {
            Some(field) if continues => field.lines.extend_from_slice(line),
            _ => {
                let name = line
                    .iter()
                    .position(|&b| b == b':')
                    .map(|p| String::from_utf8_lossy(&line[..p]).trim().to_string())
                    .unwrap_or_default();
                fields.push(HeaderField {
                    name,
                    lines: line.to_vec(),
                });
            }
        }
    }
    for field in &mut fields {
        if !field.lines.ends_with(b"\n") {
            field.lines.extend_from_slice(b"\r\n");
        }
    }
    fields
}

/// A field's value, unfolded.
fn field_value(lines: &[u8]) -> String {
    let text = String::from_utf8_lossy(lines);
    let value = text.split_once(':').map_or("", |(_, v)| v);
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_content_field(name: &str) -> bool {
    name.len() > 8 && name.as_bytes()[..8].eq_ignore_ascii_case(b"Content-")
}

/// Every To, Cc and Bcc address of the client's message, lower-case, each once.
pub(crate) fn recipients_of(raw: &[u8]) -> Vec<String> {
    let Some(message) = MessageParser::new().parse_headers(raw) else {
        return Vec::new();
    };
    let mut addresses: Vec<String> = Vec::new();
    for list in [message.to(), message.cc(), message.bcc()]
        .into_iter()
        .flatten()
    {
        for addr in list.iter() {
            let Some(address) = addr.address().map(|a| a.trim().to_ascii_lowercase()) else {
                continue;
            };
            if address.contains('@') && !addresses.contains(&address) {
                addresses.push(address);
            }
        }
    }
    addresses
}

/// The address of the client's From, when it names exactly one.
fn client_from(raw: &[u8]) -> Option<String> {
    let message = MessageParser::new().parse_headers(raw)?;
    let from = message.from()?;
    let mut addresses = from.iter().filter_map(|a| a.address());
    let first = addresses.next()?.trim().to_string();
    addresses.next().is_none().then_some(first)
}

/// `Name <user@domain>`, the name RFC 2047-encoded when it is not plain ASCII.
pub(crate) fn user_mailbox(user: &User) -> String {
    let name = user.display_name.trim();
    if name.is_empty() {
        return user.email.clone();
    }
    if name.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Mailbox {
            name: Some(name.to_string()),
            email: user.email.clone(),
        }
        .formatted();
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
    format!("=?UTF-8?B?{encoded}?= <{}>", user.email)
}

/// The original's text under an attribution line, each line quoted with `> `.
fn quoted_original(request: &Request, original: &Original) -> Result<String, StoreError> {
    let text = request
        .store
        .body_text(
            request.user.id,
            original.item,
            BodyKind::Plain,
            MAX_QUOTED_BYTES,
        )?
        .unwrap_or_default();
    let record = &original.record;
    let when = record.date_sent.unwrap_or(record.date_received);
    let mut quoted = format!("On {}, {} wrote:\r\n", rfc5322_date(when), record.from);
    for line in text.lines() {
        quoted.push('>');
        if !line.is_empty() {
            quoted.push(' ');
        }
        quoted.push_str(line);
        quoted.push_str("\r\n");
    }
    Ok(quoted)
}

/// The original's exact bytes, read from the store in chunks.
fn original_bytes(request: &Request, original: &Original) -> Result<Vec<u8>, StoreError> {
    use std::io::Read;
    let mut raw = Vec::with_capacity(usize::try_from(original.record.size).unwrap_or(0));
    request
        .store
        .open_raw(request.user.id, original.item)?
        .read_to_end(&mut raw)?;
    Ok(raw)
}

/// A file name for the attached original: its subject, without characters that would break
/// the quoted parameter or a file system.
fn attachment_name(subject: &str) -> String {
    let name: String = subject
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | ','))
        .take(60)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        "message".to_string()
    } else {
        name.to_string()
    }
}

/// Base64 in 76-character lines, each ended with CRLF.
pub(crate) fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_keep_folded_lines_together() {
        let raw = b"To: a@x.org,\r\n b@y.org\r\nBcc: c@z.org\nSubject: hi\r\n\r\nbody\r\n";
        let (block, body) = split_message(raw);
        assert_eq!(body, b"body\r\n");
        let fields = header_fields(block);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["To", "Bcc", "Subject"]);
        assert_eq!(fields[0].lines, b"To: a@x.org,\r\n b@y.org\r\n");
        assert_eq!(field_value(&fields[0].lines), "a@x.org, b@y.org");
        assert_eq!(
            recipients_of(raw),
            ["a@x.org", "b@y.org", "c@z.org"].map(String::from)
        );
    }

    #[test]
    fn a_message_without_a_blank_line_is_all_header() {
        let (block, body) = split_message(b"Subject: x\r\n");
        assert_eq!(block, b"Subject: x\r\n");
        assert!(body.is_empty());
    }

    #[test]
    fn dates_names_and_content_fields() {
        assert_eq!(rfc5322_date(0), "1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_795_712_457), "26 Nov 2026 17:00:57 +0000");
        assert_eq!(attachment_name("Re: \"plans\"/2026"), "Re plans2026");
        assert_eq!(attachment_name("///"), "message");
        assert!(is_content_field("content-type"));
        assert!(!is_content_field("Content"));
        assert_eq!(
            client_from(b"From: \"Me\" <Me@X.org>\r\n\r\n").as_deref(),
            Some("Me@X.org")
        );
        assert_eq!(client_from(b"From: a@x.org, b@x.org\r\n\r\n"), None);
        let user = |name: &str| User {
            id: 1,
            email: "me@x.org".to_string(),
            display_name: name.to_string(),
            domain: "x.org".to_string(),
            password_hash: String::new(),
            created: 0,
        };
        assert_eq!(user_mailbox(&user("")), "me@x.org");
        assert_eq!(user_mailbox(&user("Me Too")), "\"Me Too\" <me@x.org>");
        assert_eq!(
            user_mailbox(&user("Zoë")),
            "=?UTF-8?B?Wm/Dqw==?= <me@x.org>"
        );
        // A line break in a name never starts a header field of its own.
        assert!(!user_mailbox(&user("A\r\nBcc: x@y.org")).contains('\n'));
        let lines = base64_lines(&[0u8; 100]);
        assert!(lines.split(|&b| b == b'\n').all(|l| l.len() <= 77));
    }
}
