//! Mail: filing messages (the exact RFC 5322 bytes plus the fields EAS needs, parsed once
//! on arrival), reading them back — metadata, body parts and attachments streamed through
//! SQLite's incremental blob I/O — and changing their read, flag and category state.
//!
//! A message is an item of class `Email` (see [`super::items`]): filing, changing or
//! deleting it is one change of its folder. The raw bytes live in `message_blobs` and are
//! never altered (S/MIME signatures stay valid). They are written through a zero-filled
//! blob of the right size, so SQLite does not make its own copy of a large message, and
//! read in place: [`Store::open_raw`] and [`Store::open_part`] hand out readers that pull a
//! few kilobytes at a time and decode base64/quoted-printable on the way
//! ([`crate::mime::decode`]), so serving an attachment needs neither the message nor the
//! attachment in memory. Parsing on arrival does hold the whole message (and mail-parser's
//! decoded copies of its parts) in memory once; [`MAX_MESSAGE_BYTES`] bounds that.
//!
//! Threading: a message whose `In-Reply-To`/`References` names a message already in the
//! user's mailbox joins that message's conversation (same ConversationId, the parent's
//! ConversationIndex plus a response level); otherwise the ids are derived from the thread
//! root (see [`crate::mime::conversation`]). Outlook's own `Thread-Index` is kept as sent.

use std::io::{Read, Seek, SeekFrom, Take, Write};

use super::Transaction;
use rusqlite::blob::{Blob, ZeroBlob};
use rusqlite::{params, Connection, OptionalExtension, Row, MAIN_DB};
use sha2::{Digest, Sha256};

use super::items::{delete_item_in, insert_item, touch_item, ItemClass, ItemId};
use super::sync_items::{record_client_add_in, ClientAdd};
use super::{now, FolderId, Store, StoreError, UserId};
use crate::mime::conversation;
use crate::mime::{
    self, AttachmentMethod, AttachmentPart, BodyKind, DecodingReader, Importance, NativeBodyType,
    ParsedMessage, PartLocation, TransferEncoding,
};

/// The largest message easd stores (bytes). Parsing holds a message in memory about twice.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Most response levels a conversation index grows to; deeper replies start a new index
/// (same ConversationId) rather than grow without bound.
const MAX_RESPONSE_LEVELS: usize = 100;

/// Most categories a message may carry, and their longest name (characters).
const MAX_CATEGORIES: usize = 300;
const MAX_CATEGORY_CHARS: usize = 255;

/// Dates outside 1980 .. now + 1 day in Received/Date headers are not believed.
const EARLIEST_PLAUSIBLE_DATE: i64 = 315_532_800;
const LATEST_PLAUSIBLE_AHEAD_SECS: i64 = 86_400;

/// EAS `LastVerbExecuted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LastVerb {
    ReplyToSender = 1,
    ReplyToAll = 2,
    Forward = 3,
}

impl LastVerb {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(value: u8) -> Option<LastVerb> {
        match value {
            1 => Some(LastVerb::ReplyToSender),
            2 => Some(LastVerb::ReplyToAll),
            3 => Some(LastVerb::Forward),
            _ => None,
        }
    }
}

/// EAS `Flag/Status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlagStatus {
    #[default]
    Cleared = 0,
    Complete = 1,
    Active = 2,
}

impl FlagStatus {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(value: u8) -> FlagStatus {
        match value {
            1 => FlagStatus::Complete,
            2 => FlagStatus::Active,
            _ => FlagStatus::Cleared,
        }
    }
}

/// The follow-up flag of a message (EAS `Flag`); dates are Unix seconds, the "local" ones
/// holding the wall-clock time as if it were UTC, as EAS sends them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flag {
    pub status: FlagStatus,
    pub flag_type: Option<String>,
    pub subject: Option<String>,
    pub start_date: Option<i64>,
    pub utc_start_date: Option<i64>,
    pub due_date: Option<i64>,
    pub utc_due_date: Option<i64>,
    pub date_completed: Option<i64>,
    pub complete_time: Option<i64>,
    pub reminder_set: bool,
    pub reminder_time: Option<i64>,
    pub ordinal_date: Option<i64>,
    pub sub_ordinal_date: Option<String>,
}

impl Flag {
    /// An active follow-up flag without dates, as mail programs set it.
    pub fn follow_up() -> Flag {
        Flag {
            status: FlagStatus::Active,
            flag_type: Some("Flag for follow up".to_string()),
            ..Flag::default()
        }
    }
}

/// A message to file.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    /// The exact bytes; stored unchanged.
    pub raw: &'a [u8],
    /// When the message reached this mailbox (delivery time). `None`: taken from the
    /// message — topmost Received header, else `received_hint`, else Date, else now.
    pub received_at: Option<i64>,
    /// A delivery time the mailbox format recorded (mbox From_ line, Maildir file name).
    pub received_hint: Option<i64>,
    pub read: bool,
    pub flagged: bool,
    pub last_verb: Option<LastVerb>,
    /// The mailbox address the message was delivered to, to tell whether it came as Bcc.
    pub recipient: Option<&'a str>,
    /// Skip the message when the folder already holds one with the same bytes.
    pub skip_duplicate: bool,
}

impl<'a> NewMessage<'a> {
    /// An unread message with no delivery information.
    pub fn new(raw: &'a [u8]) -> NewMessage<'a> {
        NewMessage {
            raw,
            received_at: None,
            received_hint: None,
            read: false,
            flagged: false,
            last_verb: None,
            recipient: None,
            skip_duplicate: false,
        }
    }
}

/// What filing a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filed {
    Stored(ItemId),
    /// `skip_duplicate` found the same bytes already in the folder (this item).
    Duplicate(ItemId),
}

impl Filed {
    pub fn item_id(self) -> ItemId {
        match self {
            Filed::Stored(id) | Filed::Duplicate(id) => id,
        }
    }
}

/// A stored message's fields (everything but the bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    pub item_id: ItemId,
    pub folder_id: FolderId,
    /// Size of the raw message in bytes.
    pub size: u64,
    pub content_sha256: Vec<u8>,
    pub subject: String,
    pub from: String,
    pub sender: String,
    pub to: String,
    pub cc: String,
    pub reply_to: String,
    pub display_to: String,
    pub date_sent: Option<i64>,
    pub date_received: i64,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub importance: Importance,
    pub read: bool,
    pub flag: Flag,
    pub categories: Vec<String>,
    pub last_verb: Option<LastVerb>,
    pub last_verb_time: Option<i64>,
    pub conversation_id: Vec<u8>,
    pub conversation_index: Vec<u8>,
    pub content_class: String,
    pub message_class: String,
    pub internet_cpid: u32,
    pub native_body_type: NativeBodyType,
    pub received_as_bcc: bool,
    pub has_attachments: bool,
    pub mime_broken: bool,
    pub preview: String,
}

impl MessageRecord {
    /// The conversation index in the form EAS sends it.
    pub fn eas_conversation_index(&self) -> Vec<u8> {
        conversation::eas_conversation_index(&self.conversation_index)
    }
}

/// One stored body part (see [`mime::BodyPart`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBody {
    pub kind: BodyKind,
    pub position: u32,
    pub content_type: String,
    pub charset: Option<String>,
    pub size: u64,
    pub location: PartLocation,
}

/// One stored attachment and its place in the message's list (EAS FileReference).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAttachment {
    pub position: u32,
    pub part: AttachmentPart,
}

/// A change to a message's state from a client; `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageChange {
    pub read: Option<bool>,
    pub flag: Option<Flag>,
    pub categories: Option<Vec<String>>,
    /// The verb and when it was executed.
    pub last_verb: Option<(LastVerb, i64)>,
}

/// The raw bytes of a stored message, readable and seekable in place.
pub type RawMessage<'conn> = Blob<'conn>;

/// The decoded bytes of one part of a stored message.
pub type PartReader<'conn> = DecodingReader<Take<Blob<'conn>>>;

/// A run of message filings in one write transaction (for imports: one commit per batch
/// instead of per message). Dropping it without [`MailBatch::commit`] rolls back.
pub struct MailBatch<'s> {
    tx: Transaction<'s>,
}

impl MailBatch<'_> {
    /// Files one message (see [`Store::add_message`]).
    pub fn add(
        &mut self,
        user: UserId,
        folder: FolderId,
        message: &NewMessage<'_>,
    ) -> Result<Filed, StoreError> {
        check_size(message.raw)?;
        let digest = sha256(message.raw);
        if message.skip_duplicate {
            if let Some(existing) = duplicate_in_folder(&self.tx, user, folder, &digest)? {
                return Ok(Filed::Duplicate(existing));
            }
        }
        let parsed = mime::parse(message.raw);
        file_parsed(&self.tx, user, folder, message, &parsed, &digest, None)
    }

    /// The batch's transaction, for a write that must commit together with the filings.
    pub(crate) fn connection(&self) -> &rusqlite::Connection {
        &self.tx
    }

    /// Makes every message of the batch permanent at once.
    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit()?)
    }
}

fn check_size(raw: &[u8]) -> Result<(), StoreError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(StoreError::Invalid(format!(
            "the message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            raw.len()
        )));
    }
    Ok(())
}

fn sha256(raw: &[u8]) -> [u8; 32] {
    Sha256::digest(raw).into()
}

fn duplicate_in_folder(
    conn: &Connection,
    user: UserId,
    folder: FolderId,
    digest: &[u8; 32],
) -> Result<Option<ItemId>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT i.id FROM messages m JOIN items i ON i.id = m.item_id
             WHERE m.content_sha256 = ?1 AND i.folder_id = ?2 AND i.user_id = ?3 LIMIT 1",
        )?
        .query_row(params![&digest[..], folder, user], |row| row.get(0))
        .optional()?)
}

fn plausible_date(date: Option<i64>, now: i64) -> Option<i64> {
    date.filter(|&d| (EARLIEST_PLAUSIBLE_DATE..=now + LATEST_PLAUSIBLE_AHEAD_SECS).contains(&d))
}

/// The (ConversationId, ConversationIndex) of a new message (see the module comment).
fn conversation_of(
    conn: &Connection,
    user: UserId,
    parsed: &ParsedMessage,
    message_time: i64,
    nonce: u8,
) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    let candidates = parsed
        .in_reply_to
        .iter()
        .chain(parsed.references.iter().rev());
    let mut lookup = conn.prepare_cached(
        "SELECT m.conversation_id, m.conversation_index FROM messages m
         JOIN items i ON i.id = m.item_id
         WHERE m.message_id = ?1 AND i.user_id = ?2 LIMIT 1",
    )?;
    for parent_id in candidates {
        let parent: Option<(Vec<u8>, Vec<u8>)> = lookup
            .query_row(params![parent_id, user], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        if let Some((id, parent_index)) = parent {
            let index = match &parsed.thread_index {
                Some(sent) => sent.clone(),
                None if conversation::is_valid_index(&parent_index)
                    && parent_index.len()
                        < conversation::INDEX_HEADER_LEN
                            + MAX_RESPONSE_LEVELS * conversation::RESPONSE_LEVEL_LEN =>
                {
                    conversation::index_reply(&parent_index, message_time, nonce)
                }
                None => header_for(&id, message_time),
            };
            return Ok((id, index));
        }
    }
    let id = conversation::conversation_id(&parsed.thread_root_key());
    let index = parsed
        .thread_index
        .clone()
        .unwrap_or_else(|| conversation::index_header(message_time, &id));
    Ok((id.to_vec(), index))
}

fn header_for(id: &[u8], time: i64) -> Vec<u8> {
    let mut guid = [0u8; 16];
    let len = id.len().min(16);
    guid[..len].copy_from_slice(&id[..len]);
    conversation::index_header(time, &guid)
}

/// Files a parsed message inside the caller's transaction: as a new item, or as the new
/// content of `existing` (whose old message rows the caller removed).
fn file_parsed(
    conn: &Connection,
    user: UserId,
    folder: FolderId,
    message: &NewMessage<'_>,
    parsed: &ParsedMessage,
    digest: &[u8; 32],
    existing: Option<ItemId>,
) -> Result<Filed, StoreError> {
    let now = now();
    let date_sent = plausible_date(parsed.date_sent, now);
    let received = message
        .received_at
        .or_else(|| plausible_date(parsed.first_received, now))
        .or_else(|| plausible_date(message.received_hint, now))
        .or(date_sent)
        .unwrap_or(now);
    let (conversation_id, conversation_index) =
        conversation_of(conn, user, parsed, date_sent.unwrap_or(received), digest[0])?;

    let item_id = match existing {
        Some(id) => id,
        None => insert_item(conn, user, folder, ItemClass::Email, Some(received))?.id,
    };

    let blob_id: i64 = conn
        .prepare_cached("INSERT INTO message_blobs (raw) VALUES (?1) RETURNING id")?
        .query_row([ZeroBlob(message.raw.len() as u64)], |row| row.get(0))?;
    {
        let mut blob = conn.blob_open(MAIN_DB, c"message_blobs", c"raw", blob_id, false)?;
        blob.write_all(message.raw)?;
        blob.close()?;
    }
    super::mail_search::queue_for_index(conn, blob_id)?;

    let received_as_bcc = message
        .recipient
        .is_some_and(|address| !parsed.is_addressed_to(address));
    let flag = if message.flagged {
        Flag::follow_up()
    } else {
        Flag::default()
    };
    let text_or_empty = |mailbox: &Option<mime::Mailbox>| {
        mailbox
            .as_ref()
            .map(mime::Mailbox::formatted)
            .unwrap_or_default()
    };
    conn.prepare_cached(
        "INSERT INTO messages (item_id, blob_id, size, content_sha256, subject, from_addr,
             sender, to_addrs, cc_addrs, reply_to, display_to, date_sent, date_received,
             message_id, in_reply_to, references_ids, importance, read, flag_status, flag_type,
             last_verb, last_verb_time, conversation_id, conversation_index, content_class,
             message_class, internet_cpid, native_body_type, received_as_bcc, has_attachments,
             mime_broken, preview)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)",
    )?
    .execute(params![
        item_id,
        blob_id,
        message.raw.len() as i64,
        &digest[..],
        parsed.subject,
        text_or_empty(&parsed.from),
        text_or_empty(&parsed.sender),
        mime::format_address_list(&parsed.to),
        mime::format_address_list(&parsed.cc),
        mime::format_address_list(&parsed.reply_to),
        parsed.display_to(),
        date_sent,
        received,
        parsed.message_id,
        parsed.in_reply_to,
        parsed.references.join(" "),
        parsed.importance.as_u8(),
        message.read,
        flag.status.as_u8(),
        flag.flag_type,
        message.last_verb.map(LastVerb::as_u8),
        // A mail program's "answered" flag has no time; the arrival is its lower bound.
        message.last_verb.map(|_| received),
        conversation_id,
        conversation_index,
        parsed.content_class,
        parsed.message_class,
        parsed.internet_cpid,
        parsed.native_body_type as u8,
        received_as_bcc,
        parsed.has_attachments(),
        parsed.mime_broken,
        parsed.preview,
    ])?;

    let mut insert_body = conn.prepare_cached(
        "INSERT INTO message_bodies (item_id, kind, position, content_type, charset, size,
             mime_part_path, transfer_encoding, body_start, body_end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut positions = [0u32; 3];
    for body in &parsed.bodies {
        let slot = &mut positions[body.kind as usize];
        insert_body.execute(params![
            item_id,
            body.kind.as_str(),
            *slot,
            body.content_type,
            body.charset,
            body.size as i64,
            body.location.path,
            body.location.encoding.as_str(),
            body.location.body_start as i64,
            body.location.body_end as i64,
        ])?;
        *slot += 1;
    }
    if parsed.attachments.is_empty() {
        // A one-shot `easd deliver` would compile the statement for nothing.
        return Ok(Filed::Stored(item_id));
    }
    let mut insert_attachment = conn.prepare_cached(
        "INSERT INTO attachments (item_id, position, display_name, content_type, content_id,
             content_location, is_inline, size, method, mime_part_path, transfer_encoding,
             body_start, body_end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (position, attachment) in parsed.attachments.iter().enumerate() {
        insert_attachment.execute(params![
            item_id,
            position as i64,
            attachment.display_name,
            attachment.content_type,
            attachment.content_id,
            attachment.content_location,
            attachment.is_inline,
            attachment.size as i64,
            attachment.method.as_u8(),
            attachment.location.path,
            attachment.location.encoding.as_str(),
            attachment.location.body_start as i64,
            attachment.location.body_end as i64,
        ])?;
    }
    Ok(Filed::Stored(item_id))
}

const MESSAGE_COLUMNS: &str = "SELECT m.item_id, i.folder_id, m.size, m.content_sha256,
    m.subject, m.from_addr, m.sender, m.to_addrs, m.cc_addrs, m.reply_to, m.display_to,
    m.date_sent, m.date_received, m.message_id, m.in_reply_to, m.references_ids, m.importance,
    m.read, m.flag_status, m.flag_type, m.flag_subject, m.flag_start_date,
    m.flag_utc_start_date, m.flag_due_date, m.flag_utc_due_date, m.flag_date_completed,
    m.flag_complete_time, m.flag_reminder_set, m.flag_reminder_time, m.flag_ordinal_date,
    m.flag_sub_ordinal_date, m.categories, m.last_verb, m.last_verb_time, m.conversation_id,
    m.conversation_index, m.content_class, m.message_class, m.internet_cpid,
    m.native_body_type, m.received_as_bcc, m.has_attachments, m.mime_broken, m.preview
    FROM messages m JOIN items i ON i.id = m.item_id";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let references: String = row.get(15)?;
    let categories: String = row.get(31)?;
    let native: u8 = row.get(39)?;
    Ok(MessageRecord {
        item_id: row.get(0)?,
        folder_id: row.get(1)?,
        size: row.get::<_, i64>(2)?.max(0) as u64,
        content_sha256: row.get(3)?,
        subject: row.get(4)?,
        from: row.get(5)?,
        sender: row.get(6)?,
        to: row.get(7)?,
        cc: row.get(8)?,
        reply_to: row.get(9)?,
        display_to: row.get(10)?,
        date_sent: row.get(11)?,
        date_received: row.get(12)?,
        message_id: row.get(13)?,
        in_reply_to: row.get(14)?,
        references: references.split_whitespace().map(str::to_string).collect(),
        importance: Importance::from_u8(row.get(16)?),
        read: row.get(17)?,
        flag: Flag {
            status: FlagStatus::from_u8(row.get(18)?),
            flag_type: row.get(19)?,
            subject: row.get(20)?,
            start_date: row.get(21)?,
            utc_start_date: row.get(22)?,
            due_date: row.get(23)?,
            utc_due_date: row.get(24)?,
            date_completed: row.get(25)?,
            complete_time: row.get(26)?,
            reminder_set: row.get(27)?,
            reminder_time: row.get(28)?,
            ordinal_date: row.get(29)?,
            sub_ordinal_date: row.get(30)?,
        },
        categories: categories
            .split('\n')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        last_verb: row.get::<_, Option<u8>>(32)?.and_then(LastVerb::from_u8),
        last_verb_time: row.get(33)?,
        conversation_id: row.get(34)?,
        conversation_index: row.get(35)?,
        content_class: row.get(36)?,
        message_class: row.get(37)?,
        internet_cpid: row.get(38)?,
        native_body_type: if native == NativeBodyType::Html as u8 {
            NativeBodyType::Html
        } else {
            NativeBodyType::Plain
        },
        received_as_bcc: row.get(40)?,
        has_attachments: row.get(41)?,
        mime_broken: row.get(42)?,
        preview: row.get(43)?,
    })
}

fn message_of_user(
    conn: &Connection,
    user: UserId,
    item: ItemId,
) -> Result<Option<MessageRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{MESSAGE_COLUMNS} WHERE m.item_id = ?1 AND i.user_id = ?2"
        ))?
        .query_row(params![item, user], message_from_row)
        .optional()?)
}

fn location_from(path: String, encoding: String, start: i64, end: i64) -> PartLocation {
    PartLocation {
        path,
        body_start: start.max(0) as u64,
        body_end: end.max(0) as u64,
        encoding: TransferEncoding::from_name(&encoding),
    }
}

fn check_categories(categories: &[String]) -> Result<(), StoreError> {
    if categories.len() > MAX_CATEGORIES {
        return Err(StoreError::Invalid(format!(
            "more than {MAX_CATEGORIES} categories"
        )));
    }
    for category in categories {
        if category.trim().is_empty()
            || category.chars().any(char::is_control)
            || category.chars().count() > MAX_CATEGORY_CHARS
        {
            return Err(StoreError::Invalid(format!(
                "unusable category name {category:?}"
            )));
        }
    }
    Ok(())
}

impl Store {
    /// Files one message into the user's folder as one transaction: the bytes, the parsed
    /// fields, its body parts and attachments, and one change of the folder. The message
    /// is parsed before the write lock is taken. A message over [`MAX_MESSAGE_BYTES`] is
    /// [`StoreError::Invalid`]; a folder that is not the user's is `NotFound`, one that
    /// holds no mail `Invalid`.
    pub fn add_message(
        &self,
        user: UserId,
        folder: FolderId,
        message: &NewMessage<'_>,
    ) -> Result<Filed, StoreError> {
        // Refused before it is parsed.
        check_size(message.raw)?;
        self.add_parsed_message(user, folder, message, &mime::parse(message.raw))
    }

    /// [`Store::add_message`] for a caller that has parsed the message already: `parsed`
    /// is `mime::parse(message.raw)` (a delivery parses once for the mail and its meetings).
    pub fn add_parsed_message(
        &self,
        user: UserId,
        folder: FolderId,
        message: &NewMessage<'_>,
        parsed: &ParsedMessage,
    ) -> Result<Filed, StoreError> {
        check_size(message.raw)?;
        let digest = sha256(message.raw);
        let tx = self.write_transaction()?;
        if message.skip_duplicate {
            if let Some(existing) = duplicate_in_folder(&tx, user, folder, &digest)? {
                return Ok(Filed::Duplicate(existing));
            }
        }
        let filed = file_parsed(&tx, user, folder, message, parsed, &digest, None)?;
        tx.commit()?;
        Ok(filed)
    }

    /// Files a message a client added (a draft) and remembers its ClientId, in one
    /// transaction, so a retried Add finds it (see [`super::sync_items`]).
    pub fn add_client_message(
        &self,
        user: UserId,
        folder: FolderId,
        message: &NewMessage<'_>,
        client_add: Option<&ClientAdd<'_>>,
    ) -> Result<ItemId, StoreError> {
        check_size(message.raw)?;
        let digest = sha256(message.raw);
        let parsed = mime::parse(message.raw);
        let tx = self.write_transaction()?;
        let item = file_parsed(&tx, user, folder, message, &parsed, &digest, None)?.item_id();
        if let Some(key) = client_add {
            record_client_add_in(&tx, key, item)?;
        }
        tx.commit()?;
        Ok(item)
    }

    /// Replaces the content of the user's message `item` with `raw` (an edited draft), in
    /// one transaction: the item keeps its id, read state and categories, and the edit is
    /// one change of its folder. `NotFound` when the message is not the user's.
    pub fn replace_message(
        &self,
        user: UserId,
        item: ItemId,
        raw: &[u8],
    ) -> Result<(), StoreError> {
        check_size(raw)?;
        let digest = sha256(raw);
        let parsed = mime::parse(raw);
        let tx = self.write_transaction()?;
        let current = message_of_user(&tx, user, item)?
            .ok_or_else(|| StoreError::NotFound(format!("message {item}")))?;
        // The blob goes with its row (trigger messages_drop_blob).
        for table in ["messages", "message_bodies", "attachments"] {
            tx.execute(&format!("DELETE FROM {table} WHERE item_id = ?1"), [item])?;
        }
        let message = NewMessage {
            read: current.read,
            ..NewMessage::new(raw)
        };
        file_parsed(
            &tx,
            user,
            current.folder_id,
            &message,
            &parsed,
            &digest,
            Some(item),
        )?;
        tx.execute(
            "UPDATE messages SET categories = ?1 WHERE item_id = ?2",
            params![current.categories.join("\n"), item],
        )?;
        touch_item(&tx, user, item)?;
        tx.commit()?;
        Ok(())
    }

    /// A sent draft leaves Drafts: in one transaction the draft `item` is deleted and, when
    /// `sent` names a folder, `raw` (the message as sent, Bcc kept) is filed there as read.
    /// Returns the Sent Items copy.
    pub fn file_sent_draft(
        &self,
        user: UserId,
        item: ItemId,
        sent: Option<FolderId>,
        raw: &[u8],
    ) -> Result<Option<ItemId>, StoreError> {
        check_size(raw)?;
        let digest = sha256(raw);
        let parsed = mime::parse(raw);
        let tx = self.write_transaction()?;
        delete_item_in(&tx, user, item)?;
        let copy = match sent {
            Some(folder) => {
                let message = NewMessage {
                    received_at: Some(now()),
                    read: true,
                    ..NewMessage::new(raw)
                };
                Some(file_parsed(&tx, user, folder, &message, &parsed, &digest, None)?.item_id())
            }
            None => None,
        };
        tx.commit()?;
        Ok(copy)
    }

    /// Starts a batch of filings in one write transaction (see [`MailBatch`]).
    pub fn mail_batch(&self) -> Result<MailBatch<'_>, StoreError> {
        Ok(MailBatch {
            tx: self.write_transaction()?,
        })
    }

    /// The stored fields of the user's message `item`.
    pub fn message(&self, user: UserId, item: ItemId) -> Result<Option<MessageRecord>, StoreError> {
        message_of_user(&self.conn, user, item)
    }

    /// The body parts of the user's message, by kind, then position.
    pub fn message_bodies(
        &self,
        user: UserId,
        item: ItemId,
    ) -> Result<Vec<StoredBody>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT b.kind, b.position, b.content_type, b.charset, b.size, b.mime_part_path,
                    b.transfer_encoding, b.body_start, b.body_end
             FROM message_bodies b JOIN items i ON i.id = b.item_id
             WHERE b.item_id = ?1 AND i.user_id = ?2
             ORDER BY b.kind, b.position",
        )?;
        let rows = statement.query_map(params![item, user], |row| {
            let kind: String = row.get(0)?;
            Ok((
                kind,
                StoredBody {
                    kind: BodyKind::Plain,
                    position: row.get(1)?,
                    content_type: row.get(2)?,
                    charset: row.get(3)?,
                    size: row.get::<_, i64>(4)?.max(0) as u64,
                    location: location_from(row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?),
                },
            ))
        })?;
        let mut bodies = Vec::new();
        for row in rows {
            let (kind, mut body) = row?;
            // The CHECK constraint admits only the three names.
            let Some(kind) = BodyKind::from_name(&kind) else {
                continue;
            };
            body.kind = kind;
            bodies.push(body);
        }
        Ok(bodies)
    }

    /// The attachments of the user's message, in order.
    pub fn message_attachments(
        &self,
        user: UserId,
        item: ItemId,
    ) -> Result<Vec<StoredAttachment>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT a.position, a.display_name, a.content_type, a.content_id,
                    a.content_location, a.is_inline, a.size, a.method, a.mime_part_path,
                    a.transfer_encoding, a.body_start, a.body_end
             FROM attachments a JOIN items i ON i.id = a.item_id
             WHERE a.item_id = ?1 AND i.user_id = ?2
             ORDER BY a.position",
        )?;
        let attachments = statement
            .query_map(params![item, user], |row| {
                Ok(StoredAttachment {
                    position: row.get(0)?,
                    part: AttachmentPart {
                        display_name: row.get(1)?,
                        content_type: row.get(2)?,
                        content_id: row.get(3)?,
                        content_location: row.get(4)?,
                        is_inline: row.get(5)?,
                        size: row.get::<_, i64>(6)?.max(0) as u64,
                        method: AttachmentMethod::from_u8(row.get(7)?),
                        location: location_from(
                            row.get(8)?,
                            row.get(9)?,
                            row.get(10)?,
                            row.get(11)?,
                        ),
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(attachments)
    }

    /// The blob id and size of the user's message.
    fn message_blob(&self, user: UserId, item: ItemId) -> Result<(i64, u64), StoreError> {
        self.conn
            .prepare_cached(
                "SELECT m.blob_id, m.size FROM messages m JOIN items i ON i.id = m.item_id
                 WHERE m.item_id = ?1 AND i.user_id = ?2",
            )?
            .query_row(params![item, user], |row| {
                Ok((row.get(0)?, row.get::<_, i64>(1)?.max(0) as u64))
            })
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("message {item}")))
    }

    /// The exact stored bytes of the user's message, read in place (`len()` is the size).
    pub fn open_raw(&self, user: UserId, item: ItemId) -> Result<RawMessage<'_>, StoreError> {
        let (blob_id, _) = self.message_blob(user, item)?;
        Ok(self
            .conn
            .blob_open(MAIN_DB, c"message_blobs", c"raw", blob_id, true)?)
    }

    /// The decoded bytes of one part (a [`StoredBody`] or [`StoredAttachment`] location)
    /// of the user's message, streamed from the blob.
    pub fn open_part(
        &self,
        user: UserId,
        item: ItemId,
        location: &PartLocation,
    ) -> Result<PartReader<'_>, StoreError> {
        let (blob_id, size) = self.message_blob(user, item)?;
        if location.body_start > location.body_end || location.body_end > size {
            return Err(StoreError::Invalid(format!(
                "part {} lies outside message {item}",
                location.path
            )));
        }
        let mut blob = self
            .conn
            .blob_open(MAIN_DB, c"message_blobs", c"raw", blob_id, true)?;
        blob.seek(SeekFrom::Start(location.body_start))?;
        Ok(mime::decoding_reader(
            blob.take(location.body_end - location.body_start),
            location.encoding,
        ))
    }

    /// Attachment `position` of the user's message and a reader of its decoded bytes.
    pub fn open_attachment(
        &self,
        user: UserId,
        item: ItemId,
        position: u32,
    ) -> Result<(StoredAttachment, PartReader<'_>), StoreError> {
        let attachment = self
            .message_attachments(user, item)?
            .into_iter()
            .find(|a| a.position == position)
            .ok_or_else(|| StoreError::NotFound(format!("attachment {item}:{position}")))?;
        let reader = self.open_part(user, item, &attachment.part.location)?;
        Ok((attachment, reader))
    }

    /// The message's text in one rendering (`Plain` or `Html`), its parts joined, each
    /// converted to UTF-8 (and between HTML and plain text where a part is the other
    /// kind). At most `max_bytes` decoded bytes are read per part and returned in all, cut
    /// at a character boundary. `None` when the message has no part for that rendering.
    pub fn body_text(
        &self,
        user: UserId,
        item: ItemId,
        kind: BodyKind,
        max_bytes: usize,
    ) -> Result<Option<String>, StoreError> {
        let bodies = self.message_bodies(user, item)?;
        self.body_text_of(user, item, &bodies, kind, max_bytes)
    }

    /// [`Store::body_text`] from the message's body parts as [`Store::message_bodies`] gave
    /// them, for a caller that has them already.
    pub fn body_text_of(
        &self,
        user: UserId,
        item: ItemId,
        bodies: &[StoredBody],
        kind: BodyKind,
        max_bytes: usize,
    ) -> Result<Option<String>, StoreError> {
        let parts: Vec<&StoredBody> = bodies.iter().filter(|b| b.kind == kind).collect();
        if parts.is_empty() {
            return Ok(None);
        }
        let mut text = String::new();
        for part in parts {
            let mut bytes = Vec::new();
            self.open_part(user, item, &part.location)?
                .take(max_bytes as u64)
                .read_to_end(&mut bytes)?;
            let decoded = mime::text_from_bytes(&bytes, part.charset.as_deref());
            let converted = match (kind, part.content_type.as_str()) {
                (BodyKind::Plain, "text/html") => mime::html_to_text(&decoded),
                (BodyKind::Html, "text/plain") => mime::text_to_html(&decoded),
                _ => decoded,
            };
            text.push_str(&converted);
            if text.len() >= max_bytes {
                let cut = (0..=max_bytes)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                text.truncate(cut);
                break;
            }
        }
        Ok(Some(text))
    }

    /// Applies a client's change to a message (read state, flag, categories, last verb) as
    /// one change of its folder. Returns `false` (and records nothing) when the message
    /// already had exactly that state.
    pub fn change_message(
        &self,
        user: UserId,
        item: ItemId,
        change: &MessageChange,
    ) -> Result<bool, StoreError> {
        if let Some(categories) = &change.categories {
            check_categories(categories)?;
        }
        let tx = self.write_transaction()?;
        let current = message_of_user(&tx, user, item)?
            .ok_or_else(|| StoreError::NotFound(format!("message {item}")))?;
        let read = change.read.unwrap_or(current.read);
        let flag = change.flag.clone().unwrap_or_else(|| current.flag.clone());
        let categories = change
            .categories
            .clone()
            .unwrap_or_else(|| current.categories.clone());
        let (last_verb, last_verb_time) = match change.last_verb {
            Some((verb, time)) => (Some(verb), Some(time)),
            None => (current.last_verb, current.last_verb_time),
        };
        if read == current.read
            && flag == current.flag
            && categories == current.categories
            && last_verb == current.last_verb
            && last_verb_time == current.last_verb_time
        {
            return Ok(false);
        }
        tx.execute(
            "UPDATE messages SET read = ?1, flag_status = ?2, flag_type = ?3, flag_subject = ?4,
                 flag_start_date = ?5, flag_utc_start_date = ?6, flag_due_date = ?7,
                 flag_utc_due_date = ?8, flag_date_completed = ?9, flag_complete_time = ?10,
                 flag_reminder_set = ?11, flag_reminder_time = ?12, flag_ordinal_date = ?13,
                 flag_sub_ordinal_date = ?14, categories = ?15, last_verb = ?16,
                 last_verb_time = ?17
             WHERE item_id = ?18",
            params![
                read,
                flag.status.as_u8(),
                flag.flag_type,
                flag.subject,
                flag.start_date,
                flag.utc_start_date,
                flag.due_date,
                flag.utc_due_date,
                flag.date_completed,
                flag.complete_time,
                flag.reminder_set,
                flag.reminder_time,
                flag.ordinal_date,
                flag.sub_ordinal_date,
                categories.join("\n"),
                last_verb.map(LastVerb::as_u8),
                last_verb_time,
                item,
            ],
        )?;
        touch_item(&tx, user, item)?;
        tx.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::tests::{corpus, corpus_dir};
    use crate::store::items::ChangeKind;
    use crate::store::FolderType;

    struct Fixture {
        store: Store,
        user: UserId,
        inbox: FolderId,
    }

    fn fixture() -> Fixture {
        let store = Store::open_in_memory().unwrap();
        let user = store
            .add_user("mike@theupstairsroom.com", "", "pw")
            .unwrap()
            .id;
        let inbox = folder_named(&store, user, "Inbox");
        Fixture { store, user, inbox }
    }

    fn folder_named(store: &Store, user: UserId, name: &str) -> FolderId {
        store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap()
            .id
    }

    fn file(f: &Fixture, raw: &[u8]) -> ItemId {
        f.store
            .add_message(f.user, f.inbox, &NewMessage::new(raw))
            .unwrap()
            .item_id()
    }

    fn read_all(mut reader: impl Read) -> Vec<u8> {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn every_corpus_message_is_stored_byte_exact_and_reads_back() {
        let f = fixture();
        let mut names: Vec<_> = std::fs::read_dir(corpus_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        for path in names {
            let raw = std::fs::read(&path).unwrap();
            let parsed = mime::parse(&raw);
            let id = file(&f, &raw);
            let name = path.display();
            // Byte-exact, S/MIME included: a signature over these bytes still verifies.
            let blob = f.store.open_raw(f.user, id).unwrap();
            assert_eq!(blob.len(), raw.len(), "{name}");
            assert_eq!(read_all(blob), raw, "{name}");

            let record = f.store.message(f.user, id).unwrap().unwrap();
            assert_eq!(record.folder_id, f.inbox);
            assert_eq!(record.size, raw.len() as u64);
            assert_eq!(record.subject, parsed.subject, "{name}");
            assert_eq!(record.message_class, parsed.message_class, "{name}");
            assert_eq!(record.has_attachments, parsed.has_attachments(), "{name}");
            assert_eq!(record.conversation_id.len(), 16);
            assert!(conversation::is_valid_index(&record.conversation_index));
            assert!(!record.read);
            assert!(!record.mime_broken);

            let attachments = f.store.message_attachments(f.user, id).unwrap();
            assert_eq!(attachments.len(), parsed.attachments.len(), "{name}");
            for stored in &attachments {
                assert_eq!(stored.part, parsed.attachments[stored.position as usize]);
                let (_, reader) = f
                    .store
                    .open_attachment(f.user, id, stored.position)
                    .unwrap();
                assert_eq!(read_all(reader).len() as u64, stored.part.size, "{name}");
            }
            let bodies = f.store.message_bodies(f.user, id).unwrap();
            assert_eq!(bodies.len(), parsed.bodies.len(), "{name}");
            if bodies.iter().any(|b| b.kind == BodyKind::Plain) {
                let text = f
                    .store
                    .body_text(f.user, id, BodyKind::Plain, usize::MAX)
                    .unwrap()
                    .unwrap();
                assert!(!text.is_empty(), "{name}");
            }
        }
    }

    #[test]
    fn stored_fields_of_a_signed_message_with_attachment() {
        let f = fixture();
        let raw = corpus("signed_attachment.eml");
        let id = f
            .store
            .add_message(
                f.user,
                f.inbox,
                &NewMessage {
                    received_at: Some(1_700_000_000),
                    recipient: Some("mike@theupstairsroom.com"),
                    ..NewMessage::new(&raw)
                },
            )
            .unwrap()
            .item_id();
        let record = f.store.message(f.user, id).unwrap().unwrap();
        assert_eq!(record.date_received, 1_700_000_000);
        assert_eq!(record.date_sent, Some(1_410_187_426));
        assert_eq!(record.from, "\"Michael J Rubinsky\" <mrubinsk@horde.org>");
        assert_eq!(record.to, "mrubinsk@horde.org");
        // Delivered to mike@ though addressed to mrubinsk@: a Bcc (here: a list).
        assert!(record.received_as_bcc);
        assert_eq!(record.message_class, "IPM.Note.SMIME.MultipartSigned");
        assert_eq!(record.content_sha256, sha256(&raw).to_vec());
        assert_eq!(
            f.store.item(f.user, id).unwrap().unwrap().sort_date,
            Some(1_700_000_000)
        );
        let (attachment, reader) = f.store.open_attachment(f.user, id, 0).unwrap();
        assert_eq!(attachment.part.display_name, "foxtrotjobs.png");
        let png = read_all(reader);
        assert_eq!(png.len(), 57_902);
        assert!(png.starts_with(b"\x89PNG"));
        assert!(matches!(
            f.store.open_attachment(f.user, id, 1),
            Err(StoreError::NotFound(_))
        ));
        let text = f
            .store
            .body_text(f.user, id, BodyKind::Plain, 10_000)
            .unwrap()
            .unwrap();
        assert!(text.starts_with("Have an attachment.\n"), "{text}");
        // An HTML rendering of a plain-only message is made from the plain part.
        let html = f
            .store
            .body_text(f.user, id, BodyKind::Html, 10_000)
            .unwrap()
            .unwrap();
        assert!(html.contains("Have an attachment."), "{html}");
        assert!(f
            .store
            .body_text(f.user, id, BodyKind::Calendar, 10)
            .unwrap()
            .is_none());
        let short = f
            .store
            .body_text(f.user, id, BodyKind::Plain, 2)
            .unwrap()
            .unwrap();
        assert_eq!(short, "Ha");
    }

    #[test]
    fn broken_message_is_stored_and_readable() {
        let f = fixture();
        let raw = b"Subject: half a message\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n\nthe body\n--zz\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo";
        let before = now();
        let id = file(&f, raw);
        let record = f.store.message(f.user, id).unwrap().unwrap();
        assert!(record.mime_broken);
        assert_eq!(record.subject, "half a message");
        // No Date and no Received: filed at delivery time.
        assert!(record.date_received >= before);
        assert_eq!(record.date_sent, None);
        assert_eq!(
            f.store
                .body_text(f.user, id, BodyKind::Plain, 1000)
                .unwrap()
                .as_deref(),
            Some("the body")
        );
        let (_, reader) = f.store.open_attachment(f.user, id, 0).unwrap();
        assert_eq!(read_all(reader), b"\x89PNG\r\n\x1a\n");
        assert_eq!(read_all(f.store.open_raw(f.user, id).unwrap()), raw);

        // Not a message at all: still stored, shown as text.
        let junk = b"\x00\x01 no headers here";
        let id = file(&f, junk);
        let record = f.store.message(f.user, id).unwrap().unwrap();
        assert!(record.mime_broken);
        assert_eq!(
            f.store
                .body_text(f.user, id, BodyKind::Plain, 1000)
                .unwrap()
                .as_deref(),
            Some("\u{0}\u{1} no headers here")
        );
    }

    #[test]
    fn received_date_comes_from_delivery_then_headers() {
        let f = fixture();
        let message = |headers: &str| format!("{headers}Subject: s\n\nbody\n").into_bytes();
        let received_of = |raw: &[u8], hint: Option<i64>| {
            let id = f
                .store
                .add_message(
                    f.user,
                    f.inbox,
                    &NewMessage {
                        received_hint: hint,
                        ..NewMessage::new(raw)
                    },
                )
                .unwrap()
                .item_id();
            f.store.message(f.user, id).unwrap().unwrap().date_received
        };
        let both = message(
            "Received: from a by b; Tue, 02 Jan 2024 10:00:00 +0000\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n",
        );
        assert_eq!(received_of(&both, Some(1_600_000_000)), 1_704_189_600);
        let dated = message("Date: Mon, 01 Jan 2024 10:00:00 +0000\n");
        assert_eq!(received_of(&dated, Some(1_600_000_000)), 1_600_000_000);
        assert_eq!(received_of(&dated, None), 1_704_103_200);
        // An unreadable Date, or one in the far future, is not believed.
        let before = now();
        let unreadable = message("Date: sometime last week\n");
        assert!(received_of(&unreadable, None) >= before);
        let far = message("Date: Fri, 01 Jan 2100 10:00:00 +0000\n");
        assert!(received_of(&far, None) >= before);
    }

    #[test]
    fn replies_join_their_parents_conversation() {
        let f = fixture();
        let root = b"Message-ID: <root@x>\nDate: Mon, 01 Jan 2024 10:00:00 +0000\nSubject: Lunch\n\nwhere?\n";
        let reply = b"Message-ID: <reply@x>\nIn-Reply-To: <root@x>\nReferences: <root@x>\nDate: Mon, 01 Jan 2024 11:00:00 +0000\nSubject: Re: Lunch\n\nhere\n";
        let second = b"Message-ID: <second@x>\nIn-Reply-To: <reply@x>\nReferences: <root@x> <reply@x>\nDate: Mon, 01 Jan 2024 12:00:00 +0000\nSubject: Re: Re: Lunch\n\nok\n";
        let other = b"Message-ID: <other@x>\nSubject: Lunch\n\nunrelated\n";
        // The reply arrives first: its ids are derived from the root id all the same.
        let reply_id = file(&f, reply);
        let root_id = file(&f, root);
        let second_id = file(&f, second);
        let other_id = file(&f, other);
        let record = |id| f.store.message(f.user, id).unwrap().unwrap();
        let (root, reply, second, other) = (
            record(root_id),
            record(reply_id),
            record(second_id),
            record(other_id),
        );
        assert_eq!(reply.conversation_id, root.conversation_id);
        assert_eq!(second.conversation_id, root.conversation_id);
        assert_ne!(other.conversation_id, root.conversation_id);
        assert_eq!(root.conversation_index.len(), 22);
        // The second reply found its parent in the mailbox: one response level more.
        assert_eq!(second.conversation_index.len(), 27);
        assert_eq!(
            &second.conversation_index[..22],
            &reply.conversation_index[..]
        );
        assert_eq!(second.eas_conversation_index().len(), 10);
        assert_eq!(root.references, Vec::<String>::new());
        assert_eq!(second.references, ["root@x", "reply@x"]);
        // Outlook's Thread-Index is kept as sent.
        let outlook = corpus("rfc822_multipart.eml");
        let outlook_id = file(&f, &outlook);
        let index = record(outlook_id).conversation_index;
        assert_eq!(index, mime::parse(&outlook).thread_index.unwrap());
    }

    #[test]
    fn duplicates_are_skipped_per_folder_when_asked() {
        let f = fixture();
        let raw = corpus("email_plain.eml");
        let skip = NewMessage {
            skip_duplicate: true,
            ..NewMessage::new(&raw)
        };
        let first = f.store.add_message(f.user, f.inbox, &skip).unwrap();
        assert!(matches!(first, Filed::Stored(_)));
        assert_eq!(
            f.store.add_message(f.user, f.inbox, &skip).unwrap(),
            Filed::Duplicate(first.item_id())
        );
        // Elsewhere, or without the flag, it is a new message.
        let archive = f
            .store
            .create_folder(f.user, None, "Archive", FolderType::UserMail)
            .unwrap()
            .id;
        assert!(matches!(
            f.store.add_message(f.user, archive, &skip).unwrap(),
            Filed::Stored(_)
        ));
        assert!(matches!(
            f.store
                .add_message(f.user, f.inbox, &NewMessage::new(&raw))
                .unwrap(),
            Filed::Stored(_)
        ));
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), 2);
    }

    #[test]
    fn batches_commit_together_or_not_at_all() {
        let f = fixture();
        {
            let mut batch = f.store.mail_batch().unwrap();
            batch
                .add(f.user, f.inbox, &NewMessage::new(b"Subject: a\n\n1\n"))
                .unwrap();
            // Dropped without commit.
        }
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), 0);
        let mut batch = f.store.mail_batch().unwrap();
        for n in 0..3 {
            let raw = format!("Subject: {n}\n\nbody\n");
            batch
                .add(
                    f.user,
                    f.inbox,
                    &NewMessage {
                        skip_duplicate: true,
                        ..NewMessage::new(raw.as_bytes())
                    },
                )
                .unwrap();
        }
        // Within the batch, a duplicate of a message added earlier in it is seen.
        assert!(matches!(
            batch
                .add(
                    f.user,
                    f.inbox,
                    &NewMessage {
                        skip_duplicate: true,
                        ..NewMessage::new(b"Subject: 0\n\nbody\n")
                    }
                )
                .unwrap(),
            Filed::Duplicate(_)
        ));
        batch.commit().unwrap();
        let changes = f.store.item_changes_since(f.user, f.inbox, 0, 0).unwrap();
        assert_eq!(changes.changes.len(), 3);
        assert!(changes.changes.iter().all(|c| c.kind == ChangeKind::Added));
    }

    #[test]
    fn changing_state_is_one_change_and_no_op_changes_nothing() {
        let f = fixture();
        let id = f
            .store
            .add_message(
                f.user,
                f.inbox,
                &NewMessage {
                    read: true,
                    flagged: true,
                    last_verb: Some(LastVerb::Forward),
                    ..NewMessage::new(b"Subject: s\n\nb\n")
                },
            )
            .unwrap()
            .item_id();
        let record = f.store.message(f.user, id).unwrap().unwrap();
        assert!(record.read);
        assert_eq!(record.flag, Flag::follow_up());
        assert_eq!(record.last_verb, Some(LastVerb::Forward));
        let seq = f.store.folder_item_seq(f.user, f.inbox).unwrap();

        let unread = MessageChange {
            read: Some(false),
            categories: Some(vec!["Work".into(), "Family, friends".into()]),
            ..MessageChange::default()
        };
        assert!(f.store.change_message(f.user, id, &unread).unwrap());
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), seq + 1);
        assert!(!f.store.change_message(f.user, id, &unread).unwrap());
        assert!(!f
            .store
            .change_message(f.user, id, &MessageChange::default())
            .unwrap());
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), seq + 1);
        let record = f.store.message(f.user, id).unwrap().unwrap();
        assert!(!record.read);
        assert_eq!(record.categories, ["Work", "Family, friends"]);

        let flag = Flag {
            status: FlagStatus::Complete,
            flag_type: Some("for Follow Up".into()),
            complete_time: Some(1_700_000_000),
            date_completed: Some(1_700_000_000),
            reminder_set: true,
            reminder_time: Some(1_699_000_000),
            sub_ordinal_date: Some("5555555".into()),
            ..Flag::default()
        };
        let change = MessageChange {
            flag: Some(flag.clone()),
            last_verb: Some((LastVerb::ReplyToAll, 1_700_000_100)),
            ..MessageChange::default()
        };
        assert!(f.store.change_message(f.user, id, &change).unwrap());
        let record = f.store.message(f.user, id).unwrap().unwrap();
        assert_eq!(record.flag, flag);
        assert_eq!(record.last_verb, Some(LastVerb::ReplyToAll));
        assert_eq!(record.last_verb_time, Some(1_700_000_100));
        let changes = f.store.item_changes_since(f.user, f.inbox, seq, 0).unwrap();
        assert_eq!(changes.changes.len(), 1);
        assert_eq!(changes.changes[0].kind, ChangeKind::Changed);

        for bad in [vec!["".to_string()], vec!["a\nb".to_string()]] {
            assert!(matches!(
                f.store.change_message(
                    f.user,
                    id,
                    &MessageChange {
                        categories: Some(bad),
                        ..MessageChange::default()
                    }
                ),
                Err(StoreError::Invalid(_))
            ));
        }
    }

    #[test]
    fn moving_and_deleting_keep_blobs_consistent() {
        let f = fixture();
        let raw = corpus("invitation_one.eml");
        let id = file(&f, &raw);
        let count_blobs = || -> i64 {
            f.store
                .connection()
                .query_row("SELECT count(*) FROM message_blobs", [], |r| r.get(0))
                .unwrap()
        };
        let blob_id = |id: ItemId| -> i64 {
            f.store
                .connection()
                .query_row(
                    "SELECT blob_id FROM messages WHERE item_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap()
        };
        let original_blob = blob_id(id);
        let trash = folder_named(&f.store, f.user, "Deleted Items");
        let moved = f.store.move_item(f.user, id, trash).unwrap();
        // The metadata followed the new id; the blob was not copied.
        assert_eq!(blob_id(moved), original_blob);
        assert_eq!(count_blobs(), 1);
        let record = f.store.message(f.user, moved).unwrap().unwrap();
        assert_eq!(record.folder_id, trash);
        assert_eq!(record.message_class, "IPM.Schedule.Meeting.Request");
        assert_eq!(f.store.message_attachments(f.user, moved).unwrap().len(), 1);
        assert_eq!(f.store.message_bodies(f.user, moved).unwrap().len(), 3);
        assert!(f.store.message(f.user, id).unwrap().is_none());
        assert_eq!(read_all(f.store.open_raw(f.user, moved).unwrap()), raw);
        // Mail cannot go to a contacts folder.
        let contacts = folder_named(&f.store, f.user, "Contacts");
        assert!(matches!(
            f.store.move_item(f.user, moved, contacts),
            Err(StoreError::Invalid(_))
        ));
        f.store.delete_item(f.user, moved).unwrap();
        assert_eq!(count_blobs(), 0);
        let rows: i64 = f
            .store
            .connection()
            .query_row(
                "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM attachments)
                      + (SELECT count(*) FROM message_bodies)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0);
        // Deleting a folder with mail in it takes the blobs too.
        let archive = f
            .store
            .create_folder(f.user, None, "Archive", FolderType::UserMail)
            .unwrap()
            .id;
        f.store
            .add_message(f.user, archive, &NewMessage::new(&raw))
            .unwrap();
        assert_eq!(count_blobs(), 1);
        f.store.delete_folder(f.user, archive).unwrap();
        assert_eq!(count_blobs(), 0);
    }

    #[test]
    fn users_never_see_each_others_mail() {
        let f = fixture();
        let raw = corpus("signed_attachment.eml");
        let id = file(&f, &raw);
        let bob = f.store.add_user("bob@example.com", "", "pw").unwrap().id;
        let bob_inbox = folder_named(&f.store, bob, "Inbox");
        assert!(f.store.message(bob, id).unwrap().is_none());
        assert!(f.store.message_attachments(bob, id).unwrap().is_empty());
        assert!(f.store.message_bodies(bob, id).unwrap().is_empty());
        assert!(matches!(
            f.store.open_raw(bob, id),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            f.store.open_attachment(bob, id, 0),
            Err(StoreError::NotFound(_))
        ));
        let location = f.store.message_attachments(f.user, id).unwrap()[0]
            .part
            .location
            .clone();
        assert!(matches!(
            f.store.open_part(bob, id, &location),
            Err(StoreError::NotFound(_))
        ));
        assert!(f
            .store
            .body_text(bob, id, BodyKind::Plain, 100)
            .unwrap()
            .is_none());
        assert!(matches!(
            f.store.change_message(
                bob,
                id,
                &MessageChange {
                    read: Some(true),
                    ..MessageChange::default()
                }
            ),
            Err(StoreError::NotFound(_))
        ));
        // Nor file into someone else's folder.
        assert!(matches!(
            f.store.add_message(bob, f.inbox, &NewMessage::new(&raw)),
            Err(StoreError::NotFound(_))
        ));
        // Bob's copy of the same message (same Message-ID) does not thread with Alice's.
        let bobs = f
            .store
            .add_message(
                bob,
                bob_inbox,
                &NewMessage::new(
                    b"In-Reply-To: <20140908104346.Horde.HdeyXVAthz2I-RoYhtDuYA1@h4.theupstairsroom.com>\nSubject: Re\n\nx\n",
                ),
            )
            .unwrap()
            .item_id();
        let index = f
            .store
            .message(bob, bobs)
            .unwrap()
            .unwrap()
            .conversation_index;
        assert_eq!(index.len(), 22, "no parent found in Bob's mailbox");
        assert!(!f.store.message(f.user, id).unwrap().unwrap().read);
    }

    #[test]
    fn parts_outside_the_message_are_refused() {
        let f = fixture();
        let id = file(&f, b"Subject: s\n\nbody\n");
        let bad = PartLocation {
            path: "9".into(),
            body_start: 5,
            body_end: 5_000,
            encoding: TransferEncoding::Identity,
        };
        assert!(matches!(
            f.store.open_part(f.user, id, &bad),
            Err(StoreError::Invalid(_))
        ));
        let huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            f.store
                .add_message(f.user, f.inbox, &NewMessage::new(&huge)),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn a_replaced_draft_keeps_its_id_and_a_sent_draft_moves_to_sent_items() {
        let f = fixture();
        let drafts = folder_named(&f.store, f.user, "Drafts");
        let sent = folder_named(&f.store, f.user, "Sent Items");
        let first = b"Subject: one\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n--b\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nA\r\n--b--\r\n";
        let item = f
            .store
            .add_message(f.user, drafts, &NewMessage::new(first))
            .unwrap()
            .item_id();
        let change = MessageChange {
            categories: Some(vec!["Blue".to_string()]),
            ..MessageChange::default()
        };
        f.store.change_message(f.user, item, &change).unwrap();
        let seq = f.store.folder_item_seq(f.user, drafts).unwrap();

        f.store
            .replace_message(f.user, item, b"Subject: two\r\n\r\nnew text\r\n")
            .unwrap();
        let record = f.store.message(f.user, item).unwrap().unwrap();
        assert_eq!(record.subject, "two");
        assert_eq!(record.categories, ["Blue"]);
        assert!(f
            .store
            .message_attachments(f.user, item)
            .unwrap()
            .is_empty());
        let changes = f.store.item_changes_since(f.user, drafts, seq, 0).unwrap();
        assert_eq!(changes.changes.len(), 1);
        assert_eq!(changes.changes[0].kind, ChangeKind::Changed);
        let blobs: i64 = f
            .store
            .connection()
            .query_row("SELECT count(*) FROM message_blobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(blobs, 1, "the old bytes went with the old row");
        assert!(matches!(
            f.store
                .replace_message(f.user, item + 100, b"Subject: x\r\n\r\n"),
            Err(StoreError::NotFound(_))
        ));

        let copy = f
            .store
            .file_sent_draft(
                f.user,
                item,
                Some(sent),
                b"Subject: two\r\nBcc: h@x.org\r\n\r\nnew text\r\n",
            )
            .unwrap()
            .unwrap();
        assert!(f.store.message(f.user, item).unwrap().is_none());
        let record = f.store.message(f.user, copy).unwrap().unwrap();
        assert_eq!(record.folder_id, sent);
        assert!(record.read);
        let changes = f.store.item_changes_since(f.user, drafts, seq, 0).unwrap();
        assert_eq!(changes.changes.last().unwrap().kind, ChangeKind::Deleted);
    }
}
