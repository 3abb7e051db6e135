//! ItemOperations (MS-ASCMD 2.2.1.10): Fetch of a mail item (by ServerId or a LongId that
//! names one), or of an attachment by FileReference (with byte Range); EmptyFolderContents;
//! and Move of a whole conversation. Items are read through the Sync Email class, so a
//! fetched message has exactly the fields and body Sync would send. With
//! `MS-ASAcceptMultiPart: T` (or the base64 query's flag) the answer is the multipart
//! layout of MS-ASCMD 2.2.2.9: the WBXML document first, then each attachment or body as
//! its own part, named in the document by a `Part` element instead of `Data`. Without it an
//! attachment travels as base64 text in `Data`, encoded while it is read and spliced into
//! the encoded document as a piece of its own, so a request holds an attachment only once.

use std::io::Read;

use super::stream::PieceReader;
use super::sync::class::{self, adapter_for, ReadContext};
use super::sync::collection::{self, Options};
use super::{CommandError, Piece, Reply, Request};
use crate::mime::PartLocation;
use crate::store::{FolderType, Item, ItemClass, ItemId, Store, StoreError};
use crate::wbxml::tag::{airsync, airsyncbase as base, item_operations as io, search};
use crate::wbxml::{self, Element};

/// ItemOperations Status values (MS-ASCMD 2.2.3.177.8).
mod status {
    pub const SUCCESS: &str = "1";
    pub const PROTOCOL_ERROR: &str = "2";
    /// "The object was not found or access denied."
    pub const NOT_FOUND: &str = "6";
    pub const BAD_RANGE: &str = "8";
    pub const STORE_NOT_SUPPORTED: &str = "9";
    /// "The requested data size is too large": over the policy's MaxAttachmentSize.
    pub const TOO_LARGE: &str = "11";
    pub const CONVERSION_FAILED: &str = "14";
    pub const BAD_ATTACHMENT: &str = "15";
    /// "Access to the resource is denied": the policy's AttachmentsEnabled is 0.
    pub const ACCESS_DENIED: &str = "16";
}

/// The media type of a multipart answer (MS-ASCMD 2.2.2.9).
pub const MULTIPART_CONTENT_TYPE: &str = "application/vnd.ms-sync.multipart";

/// Folders whose messages a conversation Move leaves where they are: what the user sent or
/// is about to send, and what is already thrown away.
const KEPT_IN_PLACE: [FolderType; 4] = [
    FolderType::Drafts,
    FolderType::DeletedItems,
    FolderType::SentItems,
    FolderType::Outbox,
];

/// The binary parts of a multipart answer (part 0, the document, is added at the end), or
/// the base64 texts of an ordinary answer, which are put into the encoded document only
/// when it is sent (see [`Parts::read`]).
struct Parts {
    multipart: bool,
    data: Vec<Piece>,
    /// Per request: what a stand-in text starts with (see [`Parts::stand_in`]).
    stand_in_prefix: String,
}

impl Parts {
    fn new(multipart: bool) -> Parts {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Parts {
            multipart,
            data: Vec::new(),
            stand_in_prefix: format!("\u{FFFF}easd-data-{nanos:08x}-"),
        }
    }

    /// The text that stands for piece `index` in the document until it is encoded.
    fn stand_in(&self, index: usize) -> String {
        format!("{}{index}\u{FFFF}", self.stand_in_prefix)
    }

    /// The element that carries stored attachment data: `Part` in a multipart answer, else
    /// `Data` whose base64 text stands in the document as a stand-in until it is sent. The
    /// data itself is read from the database only while the answer goes out
    /// ([`Piece::Stored`]), so the request never holds it.
    fn stored(&mut self, piece: Piece) -> Element {
        if self.multipart {
            return self.add_part(piece);
        }
        let piece = match piece {
            Piece::Stored {
                user,
                item,
                location,
                skip,
                length,
                ..
            } => Piece::Stored {
                user,
                item,
                location,
                skip,
                length,
                base64: true,
            },
            bytes => bytes,
        };
        self.data.push(piece);
        Element::with_text(io::DATA, self.stand_in(self.data.len() - 1))
    }

    /// Makes `piece` the next part of a multipart answer; the `Part` element names it.
    fn add_part(&mut self, piece: Piece) -> Element {
        self.data.push(piece);
        Element::with_text(io::PART, self.data.len().to_string())
    }
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == io::ITEM_OPERATIONS) else {
        return Ok(Reply::Document(top_status(status::PROTOCOL_ERROR)));
    };
    let mut parts = Parts::new(request.query.accept_multipart);
    let mut responses = Vec::new();
    for operation in body.elements() {
        let response = match operation.tag {
            io::FETCH => fetch(request, operation, &mut parts)?,
            io::EMPTY_FOLDER_CONTENTS => empty_folder_contents(request, operation)?,
            io::MOVE => move_conversation(request, operation)?,
            _ => return Ok(Reply::Document(top_status(status::PROTOCOL_ERROR))),
        };
        responses.push(response);
    }
    let mut doc = top_status(status::SUCCESS);
    let list = doc.push(Element::new(io::RESPONSE));
    for response in responses {
        list.push(response);
    }
    if !parts.multipart {
        return ordinary_answer(request.store, doc, parts);
    }
    let mut pieces = Vec::with_capacity(parts.data.len() + 2);
    pieces.push(Piece::Bytes(wbxml::encode(&doc)));
    pieces.extend(parts.data);
    pieces.insert(0, Piece::Bytes(multipart_table(&pieces)));
    Ok(Reply::Binary {
        content_type: MULTIPART_CONTENT_TYPE.to_string(),
        pieces,
    })
}

/// A WBXML answer; attachment texts kept aside by [`Parts::stored`] go into the encoded
/// document in place of their stand-ins, as pieces of their own.
fn ordinary_answer(store: &Store, mut doc: Element, parts: Parts) -> Result<Reply, CommandError> {
    if parts.data.is_empty() {
        return Ok(Reply::Document(doc));
    }
    let encoded = wbxml::encode(&doc);
    let mut pieces = Vec::with_capacity(2 * parts.data.len() + 1);
    let mut rest = &encoded[..];
    for index in 0..parts.data.len() {
        let stand_in = parts.stand_in(index);
        let found: Vec<usize> = find_all(rest, stand_in.as_bytes());
        let [at] = found[..] else {
            // A stand-in text also occurs in the message itself: put the texts in place.
            replace_stand_ins(store, &mut doc, &parts)?;
            return Ok(Reply::Document(doc));
        };
        pieces.push(Piece::Bytes(rest[..at].to_vec()));
        rest = &rest[at + stand_in.len()..];
    }
    pieces.push(Piece::Bytes(rest.to_vec()));
    drop(encoded);
    // Interleave: before, text 0, between, text 1, …, after.
    let mut texts = parts.data.into_iter();
    let mut interleaved = Vec::with_capacity(pieces.len() * 2);
    for (i, piece) in pieces.into_iter().enumerate() {
        if i > 0 {
            if let Some(text) = texts.next() {
                interleaved.push(text);
            }
        }
        interleaved.push(piece);
    }
    Ok(Reply::Binary {
        content_type: super::WBXML_CONTENT_TYPE.to_string(),
        pieces: interleaved,
    })
}

/// Where `needle` starts in `haystack`, every time.
fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    (0..=haystack.len() - needle.len())
        .filter(|&i| haystack[i..].starts_with(needle))
        .collect()
}

/// Puts the kept base64 texts into the document where their stand-ins are: only in Data
/// elements, which nothing but [`Parts::stored`] writes.
fn replace_stand_ins(
    store: &Store,
    element: &mut Element,
    parts: &Parts,
) -> Result<(), StoreError> {
    let is_data = element.tag == io::DATA;
    for node in &mut element.children {
        match node {
            wbxml::Node::Element(child) => replace_stand_ins(store, child, parts)?,
            wbxml::Node::Text(text) if is_data && text.starts_with(&parts.stand_in_prefix) => {
                let index = (0..parts.data.len()).find(|&i| *text == parts.stand_in(i));
                if let Some(piece) = index.and_then(|i| parts.data.get(i)) {
                    let mut bytes = Vec::new();
                    PieceReader::new(store, vec![piece.clone()]).read_to_end(&mut bytes)?;
                    *text = String::from_utf8_lossy(&bytes).into_owned();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `<ItemOperations><Status>code</Status></ItemOperations>`.
fn top_status(code: &str) -> Element {
    let mut doc = Element::new(io::ITEM_OPERATIONS);
    doc.push_text(io::STATUS, code);
    doc
}

/// The head of the MS-ASCMD 2.2.2.9 layout: the number of parts, then each part's offset
/// and length (little-endian 32-bit, offsets from the start of the body). The parts follow
/// it in order.
fn multipart_table(parts: &[Piece]) -> Vec<u8> {
    let header = 4 + 8 * parts.len() as u64;
    let mut out = Vec::with_capacity(header as usize);
    out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    let mut offset = header;
    for part in parts {
        let length = part.wire_len();
        // Attachments are capped far below 4 GiB (MAX_MESSAGE_BYTES), so these fit.
        out.extend_from_slice(&(offset as u32).to_le_bytes());
        out.extend_from_slice(&(length as u32).to_le_bytes());
        offset += length;
    }
    out
}

/// One Fetch: an attachment (FileReference) or an item (ServerId, or a LongId).
fn fetch(request: &Request, fetch: &Element, parts: &mut Parts) -> Result<Element, CommandError> {
    let mut answer = Element::new(io::FETCH);
    let store_name = fetch.child_text(io::STORE).unwrap_or_default();
    if !store_name.trim().eq_ignore_ascii_case("Mailbox") {
        let code = if store_name.trim().is_empty() {
            status::PROTOCOL_ERROR
        } else {
            status::STORE_NOT_SUPPORTED
        };
        answer.push_text(io::STATUS, code);
        return Ok(answer);
    }
    let options = fetch.child(io::OPTIONS);
    if let Some(reference) = fetch.child_text(base::FILE_REFERENCE) {
        fetch_attachment(request, &reference, options, parts, &mut answer)?;
    } else if let Some(server_id) = fetch.child_text(airsync::SERVER_ID) {
        let collection_id = fetch.child_text(airsync::COLLECTION_ID);
        let ids = Element::with_text(airsync::SERVER_ID, server_id.clone());
        fetch_item(
            request,
            &server_id,
            collection_id.as_deref(),
            ids,
            options,
            parts,
            &mut answer,
        )?;
    } else if let Some(long_id) = fetch.child_text(search::LONG_ID) {
        // A Search or Find result's LongId is the item's ServerId (see `search.rs`).
        let ids = Element::with_text(search::LONG_ID, long_id.clone());
        fetch_item(request, &long_id, None, ids, options, parts, &mut answer)?;
    } else {
        answer.push_text(io::STATUS, status::PROTOCOL_ERROR);
    }
    Ok(answer)
}

/// A FileReference as Sync writes it: `item:position`.
fn parse_file_reference(text: &str) -> Option<(ItemId, u32)> {
    let (item, position) = text.trim().split_once(':')?;
    Some((item.parse().ok()?, position.parse().ok()?))
}

/// A Range `start-end` (zero-based, inclusive).
fn parse_range(text: &str) -> Option<(u64, u64)> {
    let (start, end) = text.trim().split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    (start <= end).then_some((start, end))
}

fn fetch_attachment(
    request: &Request,
    reference: &str,
    options: Option<&Element>,
    parts: &mut Parts,
    answer: &mut Element,
) -> Result<(), CommandError> {
    let range = match options.and_then(|o| o.child_text(io::RANGE)) {
        None => None,
        Some(text) => match parse_range(&text) {
            Some(range) => Some(range),
            None => {
                answer.push_text(io::STATUS, status::BAD_RANGE);
                return Ok(());
            }
        },
    };
    // The native file a groupware-as-mail message attaches (a vCard, an iCalendar object).
    if let Some(item) = super::sync::view_class::parse_native_reference(reference) {
        let file = super::sync::view_class::native_file(request.store, request.user.id, item)?.map(
            |file| FileToSend {
                total: file.bytes.len() as u64,
                content_type: file.content_type.to_string(),
                source: FileSource::Made(file.bytes),
            },
        );
        return send_file(request, reference, file, range, parts, answer);
    }
    let found = match parse_file_reference(reference) {
        None => None,
        Some((item, position)) => match request.store.message_attachments(request.user.id, item) {
            Ok(attachments) => attachments
                .into_iter()
                .find(|a| a.position == position)
                .map(|a| FileToSend {
                    total: a.part.size,
                    content_type: a.part.content_type,
                    source: FileSource::Stored(item, a.part.location),
                }),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
    };
    send_file(request, reference, found, range, parts, answer)
}

/// A file a FileReference names: a stored attachment, or bytes made now (an item's native
/// file).
struct FileToSend {
    total: u64,
    content_type: String,
    source: FileSource,
}

enum FileSource {
    Stored(ItemId, PartLocation),
    Made(Vec<u8>),
}

/// The Fetch answer for a file: not found, refused by the policy's attachment limits, a Range
/// past its end, or (a slice of) its data with its Properties.
fn send_file(
    request: &Request,
    reference: &str,
    file: Option<FileToSend>,
    range: Option<(u64, u64)>,
    parts: &mut Parts,
    answer: &mut Element,
) -> Result<(), CommandError> {
    let refusal = match &file {
        None => Some(status::BAD_ATTACHMENT),
        Some(file) if !request.policy.allows_attachment(file.total) => {
            Some(if request.policy.allows_attachment(0) {
                status::TOO_LARGE
            } else {
                status::ACCESS_DENIED
            })
        }
        Some(file) if range.is_some_and(|(start, _)| start >= file.total) => {
            Some(status::BAD_RANGE)
        }
        Some(_) => None,
    };
    let (Some(file), None) = (file, refusal) else {
        answer.push_text(io::STATUS, refusal.unwrap_or(status::BAD_ATTACHMENT));
        answer.push_text(base::FILE_REFERENCE, reference);
        return Ok(());
    };
    let total = file.total;
    let (skip, length) = match range {
        Some((start, end)) => (start, end.min(total - 1) - start + 1),
        None => (0, total),
    };
    let data = match file.source {
        FileSource::Stored(item, location) => parts.stored(Piece::Stored {
            user: request.user.id,
            item,
            location,
            skip,
            length,
            base64: false,
        }),
        FileSource::Made(bytes) => {
            let slice = bytes[skip as usize..(skip + length) as usize].to_vec();
            // Inline data is base64 text; a multipart part is the bytes themselves.
            parts.stored(Piece::Bytes(if parts.multipart {
                slice
            } else {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .encode(slice)
                    .into_bytes()
            }))
        }
    };
    answer.push_text(io::STATUS, status::SUCCESS);
    answer.push_text(base::FILE_REFERENCE, reference);
    let properties = answer.push(Element::new(io::PROPERTIES));
    properties.push_text(base::CONTENT_TYPE, file.content_type);
    if range.is_some() {
        properties
            .push_text(io::RANGE, format!("{skip}-{}", skip + length.max(1) - 1))
            .push_text(io::TOTAL, total.to_string());
    }
    properties.push(data);
    Ok(())
}

/// Fetch of the user's item `id_text` (its ServerId), read through its Sync class.
fn fetch_item(
    request: &Request,
    id_text: &str,
    collection_id: Option<&str>,
    ids: Element,
    options: Option<&Element>,
    parts: &mut Parts,
    answer: &mut Element,
) -> Result<(), CommandError> {
    let user = request.user.id;
    let item = match id_text.trim().parse::<ItemId>() {
        Ok(id) => request.store.item(user, id)?,
        Err(_) => None,
    };
    // A view folder (per-device settings) reads its source folder's items as its own class.
    let view = match collection_id.map(str::trim) {
        Some(c) if c.parse::<i64>().is_err() => {
            super::views::view_folder(request.store, user, request.device, c)?
        }
        _ => None,
    };
    let item = item.filter(|item| match (&view, collection_id) {
        (Some(view), _) => view.source.id == item.folder_id,
        (None, c) => c.is_none_or(|c| c.trim().parse::<i64>().ok() == Some(item.folder_id)),
    });
    let Some(item) = item else {
        answer.push_text(io::STATUS, status::NOT_FOUND);
        if let Some(c) = collection_id {
            answer.push_text(airsync::COLLECTION_ID, c);
        }
        answer.push(ids);
        return Ok(());
    };
    let Some(mut parsed_options) = parse_options(options) else {
        answer.push_text(io::STATUS, status::PROTOCOL_ERROR);
        answer.push(ids);
        return Ok(());
    };
    let (class, adapter) = match &view {
        Some(view) => (view.class().unwrap_or(item.class), Some(view.adapter())),
        None => (item.class, adapter_for(item.class)),
    };
    parsed_options.capped_by(request.policy, class);
    let Some(fields) = fields_through(request, adapter, &item, &parsed_options)? else {
        answer.push_text(io::STATUS, status::CONVERSION_FAILED);
        answer.push(ids);
        return Ok(());
    };
    let schema = options.and_then(|o| o.child(io::SCHEMA));
    let mut properties = Element::new(io::PROPERTIES);
    for mut field in fields {
        if schema.is_some_and(|s| s.child(field.tag).is_none()) {
            continue;
        }
        if field.tag == base::BODY && parts.multipart {
            move_body_to_part(&mut field, parts);
        }
        properties.push(field);
    }
    answer.push_text(io::STATUS, status::SUCCESS);
    if let Some(c) = collection_id {
        answer.push_text(airsync::COLLECTION_ID, c);
    }
    answer.push(ids);
    answer.push_text(airsync::CLASS, class.as_str());
    answer.push(properties);
    Ok(())
}

/// The fields of one of the user's items as Sync would send them (its class's field table,
/// the negotiated version, the body as `options` ask); `None` when its class has no
/// adapter or its data cannot be read. Shared with Search and Find results.
pub(super) fn item_fields(
    request: &Request,
    item: &Item,
    options: &Options,
) -> Result<Option<Vec<Element>>, CommandError> {
    fields_through(request, adapter_for(item.class), item, options)
}

/// [`item_fields`] read through `adapter` (a view folder's presents another class).
fn fields_through(
    request: &Request,
    adapter: Option<&'static dyn super::sync::class::ClassAdapter>,
    item: &Item,
    options: &Options,
) -> Result<Option<Vec<Element>>, CommandError> {
    let Some(adapter) = adapter else {
        return Ok(None);
    };
    let context = ReadContext {
        store: request.store,
        user: request.user.id,
        version: request.version,
        options,
        policy: request.policy,
    };
    let Some(record) = adapter.read(&context, item.id)? else {
        return Ok(None);
    };
    let data = class::encode(adapter.fields(), record, request.version, false);
    Ok(Some(data.elements().cloned().collect()))
}

/// In a multipart answer the body's Data travels as a part of its own.
fn move_body_to_part(body: &mut Element, parts: &mut Parts) {
    let Some(position) = body
        .children
        .iter()
        .position(|node| matches!(node, wbxml::Node::Element(e) if e.tag == base::DATA))
    else {
        return;
    };
    if let wbxml::Node::Element(data) = &body.children[position] {
        let bytes = data.bytes().unwrap_or_default();
        body.children[position] = wbxml::Node::Element(parts.add_part(Piece::Bytes(bytes)));
    }
}

/// The Fetch Options as Sync reads its own (MIMESupport, BodyPreference, …); `None` when a
/// value does not parse.
pub(super) fn parse_options(options: Option<&Element>) -> Option<Options> {
    let Some(options) = options else {
        return Some(Options::default());
    };
    // Sync's parser reads a Collection; lend it one that carries these Options.
    let mut collection = Element::new(airsync::COLLECTION);
    collection
        .push_text(airsync::SYNC_KEY, "0")
        .push_text(airsync::COLLECTION_ID, "0");
    let mut sync_options = options.clone();
    sync_options.tag = airsync::OPTIONS;
    collection.push(sync_options);
    collection::parse(&collection)?.options
}

/// Empties one of the user's folders: every item deleted with a tombstone (so Sync reports
/// the deletes), and its subfolders too when DeleteSubFolders is present.
fn empty_folder_contents(request: &Request, operation: &Element) -> Result<Element, CommandError> {
    let user = request.user.id;
    let mut answer = Element::new(io::EMPTY_FOLDER_CONTENTS);
    let collection_id = operation.child_text(airsync::COLLECTION_ID);
    let folder = match collection_id.as_deref().map(|c| c.trim().parse::<i64>()) {
        Some(Ok(id)) => request.store.folder(user, id)?,
        _ => {
            answer.push_text(io::STATUS, status::PROTOCOL_ERROR);
            return Ok(answer);
        }
    };
    let collection_id = collection_id.unwrap_or_default();
    let Some(folder) = folder else {
        answer
            .push_text(io::STATUS, status::NOT_FOUND)
            .push_text(airsync::COLLECTION_ID, collection_id);
        return Ok(answer);
    };
    let delete_subfolders = operation
        .child(io::OPTIONS)
        .is_some_and(|o| o.child(io::DELETE_SUB_FOLDERS).is_some());
    // One transaction: a failure leaves the folder as it was, never half emptied.
    let (items, folders) = request
        .store
        .empty_folder(user, folder.id, delete_subfolders)?;
    if items + folders > 0 {
        request.note_change();
    }
    answer
        .push_text(io::STATUS, status::SUCCESS)
        .push_text(airsync::COLLECTION_ID, collection_id);
    Ok(answer)
}

/// Moves every message of a conversation into DstFldId, except what lies in Drafts, Sent
/// Items, Outbox and Deleted Items. MoveAlways is accepted; easd keeps no rule for future
/// messages of the conversation.
fn move_conversation(request: &Request, operation: &Element) -> Result<Element, CommandError> {
    let user = request.user.id;
    let mut answer = Element::new(io::MOVE);
    let conversation = operation
        .child(io::CONVERSATION_ID)
        .and_then(Element::bytes);
    let target = operation
        .child_text(io::DST_FLD_ID)
        .and_then(|t| t.trim().parse::<i64>().ok());
    let (Some(conversation), Some(target)) = (conversation, target) else {
        answer.push_text(io::STATUS, status::PROTOCOL_ERROR);
        return Ok(answer);
    };
    let folders = request.store.folders_of(user)?;
    let mail_target = folders
        .iter()
        .find(|f| f.id == target)
        .is_some_and(|f| ItemClass::for_folder_type(f.folder_type) == Some(ItemClass::Email));
    if !mail_target {
        answer.push_text(io::STATUS, status::NOT_FOUND);
        answer.push_opaque(io::CONVERSATION_ID, conversation);
        return Ok(answer);
    }
    let kept: Vec<i64> = folders
        .iter()
        .filter(|f| KEPT_IN_PLACE.contains(&f.folder_type))
        .map(|f| f.id)
        .collect();
    for (item, folder) in request.store.conversation_messages(user, &conversation)? {
        if folder == target || kept.contains(&folder) {
            continue;
        }
        match request.store.move_item(user, item, target) {
            Ok(_) => request.note_change(),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    answer.push_text(io::STATUS, status::SUCCESS);
    answer.push_opaque(io::CONVERSATION_ID, conversation);
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_layout_counts_offsets_and_lengths() {
        let parts = [
            Piece::Bytes(b"doc".to_vec()),
            Piece::Bytes(b"hello".to_vec()),
            Piece::Bytes(Vec::new()),
        ];
        let body = multipart_table(&parts);
        assert_eq!(body.len(), 28);
        let word = |i: usize| u32::from_le_bytes(body[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(0), 3);
        assert_eq!((word(1), word(2)), (28, 3));
        assert_eq!((word(3), word(4)), (31, 5));
        assert_eq!((word(5), word(6)), (36, 0));
    }

    /// Puts `piece` (an attachment's base64 text) into `<Properties>` of an ordinary answer.
    fn answer_with(parts: &mut Parts, piece: Piece, extra: Option<String>) -> Element {
        let mut doc = top_status(status::SUCCESS);
        let properties = doc.push(Element::new(io::PROPERTIES));
        if let Some(text) = extra {
            properties.push_text(io::VERSION, text);
        }
        properties.push(parts.stored(piece));
        doc
    }

    fn concat(store: &Store, pieces: Vec<Piece>) -> Vec<u8> {
        let mut out = Vec::new();
        PieceReader::new(store, pieces)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn kept_texts_go_into_the_encoded_document() {
        let store = Store::open_in_memory().unwrap();
        let text = "QUJD".repeat(40_000);
        let mut expected = top_status(status::SUCCESS);
        expected
            .push(Element::new(io::PROPERTIES))
            .push_text(io::DATA, text.clone());

        let mut parts = Parts::new(false);
        let doc = answer_with(&mut parts, Piece::Bytes(text.clone().into_bytes()), None);
        let Reply::Binary { pieces, .. } = ordinary_answer(&store, doc, parts).unwrap() else {
            panic!("pieces expected");
        };
        assert_eq!(concat(&store, pieces), wbxml::encode(&expected));

        // A stand-in that also occurs elsewhere: the text goes into the document instead.
        let mut parts = Parts::new(false);
        let stand_in = parts.stand_in(0);
        let piece = Piece::Bytes(text.clone().into_bytes());
        let doc = answer_with(&mut parts, piece, Some(stand_in.clone()));
        let Reply::Document(doc) = ordinary_answer(&store, doc, parts).unwrap() else {
            panic!("a document expected");
        };
        let properties = doc.child(io::PROPERTIES).unwrap();
        assert_eq!(properties.child_text(io::DATA), Some(text));
        assert_eq!(properties.child_text(io::VERSION), Some(stand_in));
    }

    #[test]
    fn references_and_ranges_parse_strictly() {
        assert_eq!(parse_file_reference("12:3"), Some((12, 3)));
        assert_eq!(parse_file_reference("12"), None);
        assert_eq!(parse_file_reference("x:1"), None);
        assert_eq!(parse_range("0-99"), Some((0, 99)));
        assert_eq!(parse_range("5-4"), None);
        assert_eq!(parse_range("-4"), None);
    }
}
