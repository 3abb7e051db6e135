//! Drafts written on the device (MS-ASEMAIL 16.0 and 16.1): a Sync Add or Change of mail in
//! the user's Drafts folder carries the draft's fields (email:To, Cc, email2:Bcc, Subject,
//! Importance, airsyncbase:Body) and its attachments (airsyncbase:Attachments with Add
//! elements holding the bytes, and Delete elements naming a FileReference). easd keeps a
//! draft as an ordinary RFC 5322 message in Drafts, so it syncs to the user's other devices
//! like any message; an edit rebuilds the message and replaces the stored one, keeping its
//! ServerId.
//!
//! **The message.** From is always the user (address and display name); Date and
//! Message-ID are set when the draft is first stored (an edit keeps them); the body is one
//! `text/plain` or `text/html` part in UTF-8, and with attachments the message is
//! `multipart/mixed` (the body first). The stored draft keeps its Bcc header.
//!
//! **Sending** (email2:Send in the Add or Change): the draft goes out through the path
//! SendMail uses ([`crate::eas::compose::deliver`]: local recipients directly, the others
//! through the submission command), without its Bcc header; then, in one transaction, it
//! leaves Drafts and a copy is filed (read) in Sent Items, as Exchange does. A failed
//! submission leaves the draft where it was and answers the item with a server error.

use std::io::Read;

use base64::Engine;
use mail_parser::MessageParser;

use super::class::{ItemStatus, WriteHook};
use crate::clock::rfc5322_date;
use crate::eas::compose;
use crate::eas::{CommandError, ProtocolVersion, Request};
use crate::mime::{BodyKind, Importance, NativeBodyType};
use crate::store::{ClientAdd, FolderType, ItemId, NewMessage, Store, StoreError, User, UserId};
use crate::wbxml::tag::{airsyncbase as base, email, email2};
use crate::wbxml::Element;

/// Largest decoded body kept from a stored draft when it is edited.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One attachment of a draft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftAttachment {
    pub name: String,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Without angle brackets.
    pub content_id: Option<String>,
    pub is_inline: bool,
    pub data: Vec<u8>,
    /// Its place among the stored message's attachments (its FileReference), for one that
    /// was already stored.
    pub stored_position: Option<u32>,
    /// The client's id for an attachment added by this request.
    pub client_id: Option<String>,
}

/// A draft's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    pub importance: Importance,
    pub html: bool,
    pub body: String,
    pub attachments: Vec<DraftAttachment>,
    pub date: i64,
    /// Without angle brackets.
    pub message_id: String,
}

impl Draft {
    /// An empty draft of `user`, dated now.
    pub fn new(user: &User) -> Draft {
        Draft {
            to: String::new(),
            cc: String::new(),
            bcc: String::new(),
            subject: String::new(),
            importance: Importance::Normal,
            html: false,
            body: String::new(),
            attachments: Vec::new(),
            date: crate::store::now(),
            message_id: format!("{}@{}", crate::store::random_hex(16), user.domain),
        }
    }

    /// Applies the fields a client sent (Add or Change ApplicationData); fields it did not
    /// send stay as they are. Attachment deletes name FileReferences of item `item`.
    /// `Err` when an attachment Add lacks its content or name.
    pub fn apply(&mut self, data: &Element, item: Option<ItemId>) -> Result<(), ItemStatus> {
        let text = |tag| data.child_text(tag).map(|t| one_line(&t));
        if let Some(to) = text(email::TO) {
            self.to = to;
        }
        if let Some(cc) = text(email::CC) {
            self.cc = cc;
        }
        if let Some(bcc) = text(email2::BCC) {
            self.bcc = bcc;
        }
        if let Some(subject) = text(email::SUBJECT) {
            self.subject = subject;
        }
        if let Some(importance) = text(email::IMPORTANCE) {
            self.importance = match importance.trim() {
                "0" => Importance::Low,
                "2" => Importance::High,
                _ => Importance::Normal,
            };
        }
        if let Some(body) = data.child(base::BODY) {
            self.html = body.child_text(base::TYPE).as_deref().map(str::trim) == Some("2");
            self.body = body.child_text(base::DATA).unwrap_or_default();
        }
        let Some(attachments) = data.child(base::ATTACHMENTS) else {
            return Ok(());
        };
        for delete in attachments.children_with(base::DELETE) {
            let reference = delete.child_text(base::FILE_REFERENCE).unwrap_or_default();
            let position = parse_file_reference(&reference, item);
            let found = self
                .attachments
                .iter()
                .position(|a| a.stored_position.is_some() && a.stored_position == position);
            match found {
                Some(index) => {
                    self.attachments.remove(index);
                }
                None => return Err(ItemStatus::ObjectNotFound),
            }
        }
        for add in attachments.children_with(base::ADD) {
            let data = add.child(base::CONTENT).and_then(Element::bytes);
            let name = add.child_text(base::DISPLAY_NAME).map(|n| one_line(&n));
            let (Some(data), Some(name)) = (data, name) else {
                return Err(ItemStatus::ConversionError);
            };
            let content_type = add
                .child_text(base::CONTENT_TYPE)
                .map(|t| one_line(&t).to_ascii_lowercase())
                .filter(|t| t.contains('/') && !t.contains(['"', ';', ' ']))
                .unwrap_or_else(|| "application/octet-stream".to_string());
            self.attachments.push(DraftAttachment {
                name,
                content_type,
                content_id: add
                    .child_text(base::CONTENT_ID)
                    .map(|id| one_line(&id).trim_matches(['<', '>']).to_string())
                    .filter(|id| !id.is_empty()),
                is_inline: add.child_text(base::IS_INLINE).as_deref().map(str::trim) == Some("1"),
                data,
                stored_position: None,
                client_id: add.child_text(base::CLIENT_ID).map(|id| one_line(&id)),
            });
        }
        Ok(())
    }

    /// Every To, Cc and Bcc address, lower-case, each once.
    pub fn recipients(&self, from: &str) -> Vec<String> {
        compose::recipients_of(&self.message(from, true))
    }

    /// The RFC 5322 message from `from` (a formatted mailbox); `with_bcc`: keep the Bcc
    /// header (the stored draft and the Sent Items copy), else leave it out (what goes out).
    pub fn message(&self, from: &str, with_bcc: bool) -> Vec<u8> {
        let mut out = String::new();
        out.push_str(&format!("From: {from}\r\n"));
        for (name, value) in [("To", &self.to), ("Cc", &self.cc)] {
            if !value.trim().is_empty() {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        if with_bcc && !self.bcc.trim().is_empty() {
            out.push_str(&format!("Bcc: {}\r\n", self.bcc));
        }
        out.push_str(&format!("Subject: {}\r\n", header_text(&self.subject)));
        out.push_str(&format!("Date: {}\r\n", rfc5322_date(self.date)));
        out.push_str(&format!("Message-ID: <{}>\r\n", self.message_id));
        match self.importance {
            Importance::High => out.push_str("Importance: high\r\n"),
            Importance::Low => out.push_str("Importance: low\r\n"),
            Importance::Normal => {}
        }
        out.push_str("MIME-Version: 1.0\r\n");
        let subtype = if self.html { "html" } else { "plain" };
        let body_fields = format!(
            "Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
        );
        let mut raw = out.into_bytes();
        if self.attachments.is_empty() {
            raw.extend_from_slice(body_fields.as_bytes());
            raw.extend_from_slice(b"\r\n");
            raw.extend_from_slice(&compose::base64_lines(self.body.as_bytes()));
            return raw;
        }
        let boundary = format!("easd-{}", crate::store::random_hex(12));
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed;\r\n boundary=\"{boundary}\"\r\n\r\n")
                .as_bytes(),
        );
        raw.extend_from_slice(format!("--{boundary}\r\n{body_fields}\r\n").as_bytes());
        raw.extend_from_slice(&compose::base64_lines(self.body.as_bytes()));
        for attachment in &self.attachments {
            let name = header_text(&attachment.name).replace(['"', '\\'], "_");
            let disposition = if attachment.is_inline {
                "inline"
            } else {
                "attachment"
            };
            raw.extend_from_slice(
                format!(
                    "\r\n--{boundary}\r\nContent-Type: {}; name=\"{name}\"\r\nContent-Disposition: {disposition}; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n",
                    attachment.content_type
                )
                .as_bytes(),
            );
            if let Some(id) = &attachment.content_id {
                raw.extend_from_slice(format!("Content-ID: <{id}>\r\n").as_bytes());
            }
            raw.extend_from_slice(b"\r\n");
            raw.extend_from_slice(&compose::base64_lines(&attachment.data));
        }
        raw.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        raw
    }
}

/// A header value on one line (line breaks would start header fields of their own).
fn one_line(text: &str) -> String {
    text.replace("\r\n", " ")
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Unstructured header text: as is when plain ASCII, else an RFC 2047 encoded word.
fn header_text(text: &str) -> String {
    let text = one_line(text);
    if text.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return text;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("=?UTF-8?B?{encoded}?=")
}

/// The attachment position of a FileReference (`item:position`) of `item`.
fn parse_file_reference(reference: &str, item: Option<ItemId>) -> Option<u32> {
    let (owner, position) = reference.trim().split_once(':')?;
    if owner.parse::<ItemId>().ok() != item {
        return None;
    }
    position.parse().ok()
}

/// Most bytes read from the top of a stored draft to find its header block.
const MAX_HEADER_BYTES: u64 = 256 * 1024;

/// The Bcc header of the user's stored message (only drafts and sent mail keep one), as a
/// formatted address list; empty when there is none.
pub fn stored_bcc(store: &Store, user: UserId, item: ItemId) -> Result<String, StoreError> {
    let mut head = Vec::new();
    store
        .open_raw(user, item)?
        .take(MAX_HEADER_BYTES)
        .read_to_end(&mut head)?;
    let Some(headers) = MessageParser::new().parse_headers(&head) else {
        return Ok(String::new());
    };
    let Some(list) = headers.bcc() else {
        return Ok(String::new());
    };
    Ok(list
        .iter()
        .filter_map(|a| {
            let address = a.address()?;
            Some(match a.name() {
                Some(name) => crate::mime::Mailbox {
                    name: Some(name.to_string()),
                    email: address.to_string(),
                }
                .formatted(),
                None => address.to_string(),
            })
        })
        .collect::<Vec<_>>()
        .join(", "))
}

/// A stored draft read back into its fields, to be edited.
pub fn load(store: &Store, user: UserId, item: ItemId) -> Result<Option<Draft>, StoreError> {
    let Some(record) = store.message(user, item)? else {
        return Ok(None);
    };
    let bcc = stored_bcc(store, user, item)?;
    let html = record.native_body_type == NativeBodyType::Html;
    let kind = if html {
        BodyKind::Html
    } else {
        BodyKind::Plain
    };
    let body = store
        .body_text(user, item, kind, MAX_BODY_BYTES)?
        .unwrap_or_default();
    let mut attachments = Vec::new();
    for stored in store.message_attachments(user, item)? {
        let (_, mut reader) = store.open_attachment(user, item, stored.position)?;
        let mut data = Vec::new();
        reader.read_to_end(&mut data)?;
        let part = stored.part;
        attachments.push(DraftAttachment {
            name: part.display_name,
            content_type: part.content_type,
            content_id: part.content_id,
            is_inline: part.is_inline,
            data,
            stored_position: Some(stored.position),
            client_id: None,
        });
    }
    Ok(Some(Draft {
        to: record.to,
        cc: record.cc,
        bcc,
        subject: record.subject,
        importance: record.importance,
        html,
        body,
        attachments,
        date: record.date_sent.unwrap_or(record.date_received),
        message_id: record
            .message_id
            .unwrap_or_else(|| format!("{}@easd", crate::store::random_hex(16))),
    }))
}

/// The Email class's write hook for its Drafts folder.
pub struct Drafts;

/// The one [`Drafts`] hook.
pub static DRAFTS: Drafts = Drafts;

impl WriteHook for Drafts {
    fn supported(&self, version: ProtocolVersion) -> bool {
        supported(version)
    }

    fn wants_send(&self, command: &Element) -> bool {
        // email2:Send is a child of the command in MS-ASCMD; some clients put it in the
        // ApplicationData.
        command.child(email2::SEND).is_some()
            || command
                .child(crate::wbxml::tag::airsync::APPLICATION_DATA)
                .is_some_and(|data| data.child(email2::SEND).is_some())
    }

    fn edits_content(&self, data: &Element) -> bool {
        edits_content(data)
    }

    fn add(
        &self,
        store: &Store,
        user: &User,
        folder: crate::store::FolderId,
        data: &Element,
        client_add: Option<&ClientAdd<'_>>,
    ) -> Result<Result<(ItemId, Option<Element>), ItemStatus>, StoreError> {
        add(store, user, folder, data, client_add)
    }

    fn change(
        &self,
        store: &Store,
        user: &User,
        item: ItemId,
        data: &Element,
    ) -> Result<Result<Option<Element>, ItemStatus>, StoreError> {
        change(store, user, item, data)
    }

    fn send(&self, request: &Request, item: ItemId) -> Result<bool, CommandError> {
        send(request, item)
    }
}

/// The fields that make a Change an edit of the draft (not only of its state).
pub fn edits_content(data: &Element) -> bool {
    [
        email::TO,
        email::CC,
        email2::BCC,
        email::SUBJECT,
        email::IMPORTANCE,
        base::BODY,
        base::ATTACHMENTS,
    ]
    .into_iter()
    .any(|tag| data.child(tag).is_some())
}

/// Whether drafts can be written in this protocol version.
pub fn supported(version: ProtocolVersion) -> bool {
    version >= ProtocolVersion::V16_0
}

/// Stores a new draft (and its ClientId, in the same transaction).
pub fn add(
    store: &Store,
    user: &User,
    folder: crate::store::FolderId,
    data: &Element,
    client_add: Option<&ClientAdd<'_>>,
) -> Result<Result<(ItemId, Option<Element>), ItemStatus>, StoreError> {
    let mut draft = Draft::new(user);
    if let Err(status) = draft.apply(data, None) {
        return Ok(Err(status));
    }
    let raw = draft.message(&compose::user_mailbox(user), true);
    let message = NewMessage {
        read: true,
        received_at: Some(draft.date),
        ..NewMessage::new(&raw)
    };
    match store.add_client_message(user.id, folder, &message, client_add) {
        Ok(item) => {
            let references = attachment_references(store, user.id, item, &draft)?;
            Ok(Ok((item, references)))
        }
        Err(StoreError::Invalid(_)) => Ok(Err(ItemStatus::ConversionError)),
        Err(e) => Err(e),
    }
}

/// Rebuilds the stored draft `item` with the client's changes; the ApplicationData with the
/// FileReferences of attachments it added, if any.
pub fn change(
    store: &Store,
    user: &User,
    item: ItemId,
    data: &Element,
) -> Result<Result<Option<Element>, ItemStatus>, StoreError> {
    let Some(mut draft) = load(store, user.id, item)? else {
        return Ok(Err(ItemStatus::ObjectNotFound));
    };
    if let Err(status) = draft.apply(data, Some(item)) {
        return Ok(Err(status));
    }
    let raw = draft.message(&compose::user_mailbox(user), true);
    match store.replace_message(user.id, item, &raw) {
        Ok(()) => Ok(Ok(attachment_references(store, user.id, item, &draft)?)),
        Err(StoreError::NotFound(_)) => Ok(Err(ItemStatus::ObjectNotFound)),
        Err(StoreError::Invalid(_)) => Ok(Err(ItemStatus::ConversionError)),
        Err(e) => Err(e),
    }
}

/// ApplicationData/Attachments with a ClientId and FileReference for each attachment the
/// client added (MS-ASAIRS 2.2.2.7), `None` when it added none. The stored message lists
/// the attachments in the draft's order, so the n-th is at position n.
fn attachment_references(
    store: &Store,
    user: UserId,
    item: ItemId,
    draft: &Draft,
) -> Result<Option<Element>, StoreError> {
    let stored = store.message_attachments(user, item)?;
    let mut list = Element::new(base::ATTACHMENTS);
    for (index, attachment) in draft.attachments.iter().enumerate() {
        let Some(client_id) = &attachment.client_id else {
            continue;
        };
        let Some(position) = stored.get(index).map(|s| s.position) else {
            continue;
        };
        list.push(Element::new(base::ATTACHMENT))
            .push_text(base::CLIENT_ID, client_id.clone())
            .push_text(base::FILE_REFERENCE, format!("{item}:{position}"));
    }
    if list.children.is_empty() {
        return Ok(None);
    }
    let mut data = Element::new(crate::wbxml::tag::airsync::APPLICATION_DATA);
    data.push(list);
    Ok(Some(data))
}

/// Sends the stored draft `item` and moves it to Sent Items. `Ok(false)` when it could not
/// be sent (it stays in Drafts).
pub fn send(request: &Request, item: ItemId) -> Result<bool, CommandError> {
    let (store, user) = (request.store, request.user);
    let Some(draft) = load(store, user.id, item)? else {
        return Ok(false);
    };
    let from = compose::user_mailbox(user);
    let recipients = draft.recipients(&from);
    if recipients.is_empty() {
        log::warn!("draft {item} of {} has no recipient; not sent", user.email);
        return Ok(false);
    }
    if let Err(status) = compose::deliver(request, &recipients, &draft.message(&from, false))? {
        log::warn!(
            "draft {item} of {} was not sent (status {status})",
            user.email
        );
        return Ok(false);
    }
    let sent = compose::special_folder(request, user, FolderType::SentItems)?;
    store.file_sent_draft(user.id, item, sent, &draft.message(&from, true))?;
    request.note_change();
    log::info!(
        "draft {item} of {} sent to {} recipient(s)",
        user.email,
        recipients.len()
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 1,
            email: "me@x.org".to_string(),
            display_name: "Me Too".to_string(),
            domain: "x.org".to_string(),
            password_hash: String::new(),
            created: 0,
        }
    }

    fn data(children: &[(crate::wbxml::Tag, &str)]) -> Element {
        let mut data = Element::new(crate::wbxml::tag::airsync::APPLICATION_DATA);
        for (tag, text) in children {
            data.push_text(*tag, text.to_string());
        }
        data
    }

    #[test]
    fn a_plain_draft_is_one_text_part_from_the_user() {
        let mut draft = Draft::new(&user());
        let mut fields = data(&[
            (email::TO, "Bob <bob@y.org>"),
            (email2::BCC, "hidden@z.org"),
            (email::SUBJECT, "Plans\r\nBcc: evil@x.org"),
            (email::IMPORTANCE, "2"),
        ]);
        fields
            .push(Element::new(base::BODY))
            .push_text(base::TYPE, "1")
            .push_text(base::DATA, "See you at 8.");
        draft.apply(&fields, None).unwrap();
        let raw = draft.message("\"Me Too\" <me@x.org>", true);
        let parsed = crate::mime::parse(&raw);
        assert_eq!(parsed.subject, "Plans Bcc: evil@x.org");
        assert_eq!(parsed.importance, Importance::High);
        assert!(parsed.attachments.is_empty());
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("From: \"Me Too\" <me@x.org>\r\nTo: Bob <bob@y.org>\r\n"));
        assert!(text.contains("\r\nBcc: hidden@z.org\r\n"));
        assert!(text.contains("Content-Type: text/plain; charset=utf-8"));
        assert_eq!(
            draft.recipients("me@x.org"),
            ["bob@y.org", "hidden@z.org"].map(String::from)
        );
        let without = String::from_utf8_lossy(&draft.message("me@x.org", false)).to_string();
        assert!(!without.contains("hidden@z.org"));
        let body = MessageParser::new().parse(&raw[..]).unwrap();
        assert_eq!(body.body_text(0).unwrap().trim(), "See you at 8.");
    }

    #[test]
    fn attachments_make_a_multipart_message_and_deletes_name_file_references() {
        let mut draft = Draft::new(&user());
        let mut fields = data(&[(email::SUBJECT, "Zoë's photo")]);
        fields
            .push(Element::new(base::BODY))
            .push_text(base::TYPE, "2")
            .push_text(base::DATA, "<p>hi</p>");
        let add = fields
            .push(Element::new(base::ATTACHMENTS))
            .push(Element::new(base::ADD));
        add.push_text(base::CLIENT_ID, "a1")
            .push_text(base::DISPLAY_NAME, "photo \"1\".jpg")
            .push_text(base::METHOD, "1")
            .push_text(base::CONTENT_TYPE, "image/jpeg")
            .push_opaque(base::CONTENT, vec![0, 1, 2, 255]);
        draft.apply(&fields, None).unwrap();
        let raw = draft.message("me@x.org", true);
        let parsed = crate::mime::parse(&raw);
        assert_eq!(parsed.subject, "Zoë's photo");
        assert_eq!(parsed.native_body_type, NativeBodyType::Html);
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(parsed.attachments[0].content_type, "image/jpeg");
        assert_eq!(parsed.attachments[0].size, 4);
        let message = MessageParser::new().parse(&raw[..]).unwrap();
        assert_eq!(
            message.attachment(0).unwrap().contents(),
            &[0u8, 1, 2, 255][..]
        );

        // Stored as item 7, the attachment is 7:0; deleting it empties the list.
        draft.attachments[0].stored_position = Some(0);
        let mut delete = data(&[]);
        delete
            .push(Element::new(base::ATTACHMENTS))
            .push(Element::new(base::DELETE))
            .push_text(base::FILE_REFERENCE, "7:0");
        let mut other_item = draft.clone();
        assert_eq!(
            other_item.apply(&delete, Some(8)),
            Err(ItemStatus::ObjectNotFound)
        );
        draft.apply(&delete, Some(7)).unwrap();
        assert!(draft.attachments.is_empty());
        assert!(crate::mime::parse(&draft.message("me@x.org", true))
            .attachments
            .is_empty());
    }

    #[test]
    fn an_attachment_without_content_is_refused() {
        let mut draft = Draft::new(&user());
        let mut fields = data(&[]);
        fields
            .push(Element::new(base::ATTACHMENTS))
            .push(Element::new(base::ADD))
            .push_text(base::DISPLAY_NAME, "x.txt");
        assert_eq!(draft.apply(&fields, None), Err(ItemStatus::ConversionError));
    }
}
