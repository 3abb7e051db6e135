//! The full-text index of mail and the mailbox queries that use it (Search Store=Mailbox,
//! Find). The index is the SQLite FTS5 table `message_text` in the same file: one row per
//! message with the subject, the names and addresses of From/Sender/To/Cc/Reply-To, the plain
//! text of the body (HTML converted to text), the attachment names, and a `scope` column
//! holding the owner's token (`u<user id>`), written by the server only. Case and accents are
//! ignored (`unicode61 remove_diacritics 2`). It is contentless: the text is not kept twice.
//!
//! A row's rowid is the message's *key*: its received time × 2^10 plus its place among the
//! messages received in that second ([`free_key`]), so the index lists matches newest first by
//! itself and a date range is a rowid range. A query therefore never sorts: the page is the
//! first rows in rowid order and, when every mail folder of the user is searched, the total is
//! a count of the index's own postings. `message_text_keys` maps a key to its blob and the
//! folder the message is in (kept by a trigger when a move renumbers the message), for
//! searches of some folders only.
//!
//! Filing a message does not index it: the filing transaction puts it on
//! `message_text_backlog` ([`queue_for_index`], called by `mail.rs`), and the running server
//! indexes the backlog in batches while it is idle ([`Store::index_backlog`]). FTS5 writes a
//! new segment per transaction and merges segments later, so a batch of messages writes far
//! less to the disk than one transaction per message. A word query first indexes its user's
//! waiting messages, so what it finds is complete all the same. Trigger `messages_drop_text`
//! removes a message's index rows and its backlog entry in the transaction that deletes its
//! row (delete, folder or user deletion, draft replacement); a moved message keeps its blob,
//! so its backlog entry follows it. A database upgraded from a version without the index
//! starts with every message on the backlog, so the upgrade itself is quick.
//!
//! A query only ever reads items of the one user it names: its terms are confined to the text
//! columns and joined with the user's scope token, and the page's items are read with the
//! user's id. Knows no WBXML.

use std::io::{Read, Seek, SeekFrom};

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

use super::{FolderId, ItemId, Store, StoreError, UserId};
use crate::mime::{self, BodyKind, PartLocation, TransferEncoding};

/// Most bytes of decoded body text indexed per message: what a person searches for is near
/// the top, and the cap bounds the index and the time to file a huge message.
pub const MAX_INDEXED_BODY_BYTES: usize = 32 * 1024;

/// Most words a free-text query may have; more is "too complex".
pub const MAX_QUERY_TERMS: usize = 12;

/// Shortest word matched as a prefix; shorter ones must match a whole word, so a query of
/// one or two letters does not walk most of the index. Three-letter prefixes have an index
/// of their own (`prefix = '3'` in the schema); longer ones expand to few words.
const MIN_PREFIX_CHARS: usize = 3;

/// What a mailbox query asks for (every part optional; all given parts must hold).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailQuery {
    /// Words that must all occur (each as the start of a word) in the indexed text.
    pub terms: Vec<String>,
    /// The folders to look in (the caller resolves CollectionId, DeepTraversal and the
    /// folders hidden from the device); `None`: every mail folder of the user.
    pub folders: Option<Vec<FolderId>>,
    /// Only messages of this conversation (the stored 16-byte ConversationId).
    pub conversation_id: Option<Vec<u8>>,
    /// Received strictly after this time (Unix seconds).
    pub received_after: Option<i64>,
    /// Received strictly before this time (Unix seconds).
    pub received_before: Option<i64>,
}

/// Why a free-text query cannot be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermsError {
    /// No searchable word at all.
    Empty,
    /// More than [`MAX_QUERY_TERMS`] words.
    TooMany,
}

/// One found message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailHit {
    pub item: ItemId,
    pub folder: FolderId,
}

/// One page of found messages, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailHits {
    /// How many messages match in all.
    pub total: usize,
    pub hits: Vec<MailHit>,
}

/// The words of a free-text query, as the index's tokenizer splits text: runs of letters
/// and digits, lower-cased. Punctuation separates words ("invoice-2023" is two words).
pub fn query_terms(text: &str) -> Result<Vec<String>, TermsError> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.to_lowercase())
        .collect();
    if terms.is_empty() {
        return Err(TermsError::Empty);
    }
    if terms.len() > MAX_QUERY_TERMS {
        return Err(TermsError::TooMany);
    }
    Ok(terms)
}

/// The FTS5 MATCH expression of a user's query: every term must occur in the text columns,
/// each as a word prefix (whole word when shorter than [`MIN_PREFIX_CHARS`]), in a message
/// whose scope is the user's. Terms are quoted, so nothing a client sends is read as FTS5
/// syntax.
pub fn match_expression(user: UserId, terms: &[String]) -> String {
    let terms = terms
        .iter()
        .map(|term| {
            let quoted = format!("\"{}\"", term.replace('"', "\"\""));
            if term.chars().count() >= MIN_PREFIX_CHARS {
                quoted + "*"
            } else {
                quoted
            }
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "{{subject addresses body attachments}} : ({terms}) AND scope : \"{}\"",
        scope_token(user)
    )
}

/// The token of a user's messages in the `scope` column.
fn scope_token(user: UserId) -> String {
    format!("u{user}")
}

/// Bits of a key below the received time: room for 1,024 messages per second, few enough
/// that the index's rowid deltas stay small (3-byte varints for mail minutes apart).
const KEY_TIME_SHIFT: u32 = 10;
/// Received times are clamped to this range so that every key fits in an i64.
const MAX_KEY_TIME: i64 = (1 << 40) - 1;

/// The first key of a received time.
fn key_of_time(received: i64) -> i64 {
    received.clamp(0, MAX_KEY_TIME) << KEY_TIME_SHIFT
}

/// The text of one message as the index holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IndexedText {
    pub subject: String,
    pub addresses: String,
    pub body: String,
    pub attachments: String,
}

/// One text part to read for the index.
struct TextPart<'a> {
    kind: BodyKind,
    content_type: &'a str,
    charset: Option<&'a str>,
    location: &'a PartLocation,
}

/// The body text of a message from its text parts: the plain rendering, else the HTML one
/// converted to text; calendar parts are left out. Reads at most
/// [`MAX_INDEXED_BODY_BYTES`] per part and returns at most that much.
fn body_text<R: Read + Seek>(raw: &mut R, parts: &[TextPart<'_>]) -> Result<String, StoreError> {
    let has_plain = parts.iter().any(|p| p.kind == BodyKind::Plain);
    let wanted = if has_plain {
        BodyKind::Plain
    } else {
        BodyKind::Html
    };
    let mut text = String::new();
    for part in parts.iter().filter(|p| p.kind == wanted) {
        if text.len() >= MAX_INDEXED_BODY_BYTES {
            break;
        }
        let start = part.location.body_start;
        let end = part.location.body_end.max(start);
        raw.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        mime::decoding_reader(raw.by_ref().take(end - start), part.location.encoding)
            .take(MAX_INDEXED_BODY_BYTES as u64)
            .read_to_end(&mut bytes)?;
        let decoded = mime::text_from_bytes(&bytes, part.charset);
        if part.content_type == "text/html" {
            text.push_str(&mime::html_to_text(&decoded));
        } else {
            text.push_str(&decoded);
        }
        text.push('\n');
    }
    if text.len() > MAX_INDEXED_BODY_BYTES {
        let cut = (0..=MAX_INDEXED_BODY_BYTES)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    Ok(text)
}

impl IndexedText {
    /// The text of a stored message, from its rows (for the upgrade backlog): no new parse.
    /// Also its owner, folder and received time.
    fn of_stored(
        conn: &Connection,
        blob_id: i64,
    ) -> Result<Option<(Self, UserId, FolderId, i64)>, StoreError> {
        let row = conn
            .prepare_cached(
                "SELECT m.item_id, m.subject, m.from_addr, m.sender, m.to_addrs, m.cc_addrs,
                        m.reply_to, i.user_id, i.folder_id, m.date_received
                 FROM messages m JOIN items i ON i.id = m.item_id WHERE m.blob_id = ?1",
            )?
            .query_row([blob_id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    [
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, String>(6)?,
                    ],
                    (
                        row.get::<_, i64>(7)?,
                        row.get::<_, i64>(8)?,
                        row.get::<_, i64>(9)?,
                    ),
                ))
            })
            .optional()?;
        let Some((item, subject, addresses, (user, folder, received))) = row else {
            return Ok(None);
        };
        let stored_parts: Vec<(BodyKind, String, Option<String>, PartLocation)> = conn
            .prepare_cached(
                "SELECT kind, content_type, charset, mime_part_path, transfer_encoding,
                        body_start, body_end
                 FROM message_bodies WHERE item_id = ?1 ORDER BY kind, position",
            )?
            .query_map([item], |row| {
                let kind: String = row.get(0)?;
                let encoding: String = row.get(4)?;
                Ok((
                    BodyKind::from_name(&kind).unwrap_or(BodyKind::Calendar),
                    row.get(1)?,
                    row.get(2)?,
                    PartLocation {
                        path: row.get(3)?,
                        encoding: TransferEncoding::from_name(&encoding),
                        body_start: row.get::<_, i64>(5)?.max(0) as u64,
                        body_end: row.get::<_, i64>(6)?.max(0) as u64,
                    },
                ))
            })?
            .collect::<Result<_, _>>()?;
        let parts: Vec<TextPart<'_>> = stored_parts
            .iter()
            .map(|(kind, content_type, charset, location)| TextPart {
                kind: *kind,
                content_type,
                charset: charset.as_deref(),
                location,
            })
            .collect();
        let mut blob =
            conn.blob_open(rusqlite::MAIN_DB, c"message_blobs", c"raw", blob_id, true)?;
        let body = body_text(&mut blob, &parts)?;
        let attachments: Vec<String> = conn
            .prepare_cached(
                "SELECT display_name FROM attachments WHERE item_id = ?1 ORDER BY position",
            )?
            .query_map([item], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let text = IndexedText {
            subject,
            addresses: addresses
                .iter()
                .filter(|a| !a.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
            body,
            attachments: attachments.join("\n"),
        };
        Ok(Some((text, user, folder, received)))
    }
}

/// Adds the index row of the message stored in blob `blob_id`, received at `received` and
/// filed in `folder`, inside the caller's transaction (a row it already had is replaced).
pub(crate) fn index_text(
    conn: &Connection,
    blob_id: i64,
    user: UserId,
    folder: FolderId,
    received: i64,
    text: &IndexedText,
) -> Result<(), StoreError> {
    remove_text(conn, blob_id)?;
    let key = free_key(conn, received)?;
    conn.prepare_cached(
        "INSERT INTO message_text_keys (key, blob_id, folder_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![key, blob_id, folder])?;
    conn.prepare_cached(
        "INSERT INTO message_text (rowid, subject, addresses, body, attachments, scope)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        key,
        text.subject,
        text.addresses,
        text.body,
        text.attachments,
        scope_token(user)
    ])?;
    Ok(())
}

/// The key for a message received at `received`: the one after the last key of that second,
/// found by one range lookup. A second with more than 2^10 messages (a bulk import of
/// undated mail) spills past every key in use: still unique, only its order is approximate.
fn free_key(conn: &Connection, received: i64) -> Result<i64, StoreError> {
    let base = key_of_time(received);
    let slots = 1i64 << KEY_TIME_SHIFT;
    let last: Option<i64> = conn
        .prepare_cached("SELECT max(key) FROM message_text_keys WHERE key >= ?1 AND key < ?2")?
        .query_row([base, base + slots], |row| row.get(0))?;
    Ok(match last {
        None => base,
        Some(key) if key + 1 < base + slots => key + 1,
        Some(_) => {
            let highest: i64 = conn
                .prepare_cached("SELECT max(key) FROM message_text_keys")?
                .query_row([], |row| row.get(0))?;
            highest + 1
        }
    })
}

/// Removes the index row of blob `blob_id`, if it has one.
fn remove_text(conn: &Connection, blob_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "DELETE FROM message_text WHERE rowid =
             (SELECT key FROM message_text_keys WHERE blob_id = ?1)",
    )?
    .execute([blob_id])?;
    conn.prepare_cached("DELETE FROM message_text_keys WHERE blob_id = ?1")?
        .execute([blob_id])?;
    Ok(())
}

/// Puts a message being filed on the index's backlog, inside the filing transaction (called
/// by `mail.rs`). It is indexed later with others ([`Store::index_backlog`]), or before the
/// owner's next word query ([`Store::search_mail`]).
pub(crate) fn queue_for_index(conn: &Connection, blob_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR IGNORE INTO message_text_backlog (blob_id) VALUES (?1)")?
        .execute([blob_id])?;
    Ok(())
}

/// The SQL of a query that the index alone cannot answer (no words, or a conversation):
/// messages and items read directly, newest first. `i` = items, `m` = messages.
fn general_sql(user: UserId, query: &MailQuery) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = vec![Value::Integer(user)];
    let next = |values: &mut Vec<Value>, value: Value| {
        values.push(value);
        format!("?{}", values.len())
    };
    let mut sql = if query.terms.is_empty() {
        "SELECT i.id, i.folder_id FROM items i JOIN messages m ON m.item_id = i.id \
         WHERE i.user_id = ?1"
            .to_string()
    } else {
        let expression = next(
            &mut values,
            Value::Text(match_expression(user, &query.terms)),
        );
        format!(
            "SELECT i.id, i.folder_id FROM message_text t \
             JOIN message_text_keys k ON k.key = t.rowid \
             JOIN messages m ON m.blob_id = k.blob_id JOIN items i ON i.id = m.item_id \
             WHERE i.user_id = ?1 AND message_text MATCH {expression}"
        )
    };
    sql.push_str(" AND i.class = 'Email'");
    if let Some(folders) = &query.folders {
        let folders = next(&mut values, Value::Text(json_list(folders)));
        sql.push_str(&format!(
            " AND i.folder_id IN (SELECT value FROM json_each({folders}))"
        ));
    }
    if let Some(id) = &query.conversation_id {
        let id = next(&mut values, Value::Blob(id.clone()));
        sql.push_str(&format!(" AND m.conversation_id = {id}"));
    }
    if let Some(after) = query.received_after {
        let after = next(&mut values, Value::Integer(after));
        sql.push_str(&format!(" AND m.date_received > {after}"));
    }
    if let Some(before) = query.received_before {
        let before = next(&mut values, Value::Integer(before));
        sql.push_str(&format!(" AND m.date_received < {before}"));
    }
    sql.push_str(" ORDER BY m.date_received DESC, i.id DESC");
    (sql, values)
}

/// A list of ids as a JSON array, so a statement's text does not depend on the list.
fn json_list(ids: &[FolderId]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", ids.join(","))
}

/// The rowid range of a query's received-time bounds: `[low, high)`.
fn key_range(query: &MailQuery) -> (i64, i64) {
    let low = query
        .received_after
        .map_or(0, |after| key_of_time(after.saturating_add(1)));
    let high = query.received_before.map_or(i64::MAX, key_of_time);
    (low, high)
}

impl Store {
    /// The user's messages matching `query`, newest first (by received time): the total
    /// and the `count` hits starting at `first`. Another user's messages are never read.
    pub fn search_mail(
        &self,
        user: UserId,
        query: &MailQuery,
        first: usize,
        count: usize,
    ) -> Result<MailHits, StoreError> {
        if query.folders.as_ref().is_some_and(Vec::is_empty) {
            return Ok(MailHits::default());
        }
        if !query.terms.is_empty() {
            self.catch_up_index(user)?;
        }
        if query.terms.is_empty() || query.conversation_id.is_some() {
            return self.search_general(user, query, first, count);
        }
        let snapshot = self.read_snapshot()?;
        let expression = match_expression(user, &query.terms);
        let (low, high) = key_range(query);
        let mut total = 0usize;
        let mut keys = Vec::new();
        // One pass over the matches in key (= received) order counts them all and keeps the
        // page; every mail folder needs nothing but the index, some folders the key map.
        let (sql, folders) = match &query.folders {
            None => (
                "SELECT rowid FROM message_text
                 WHERE message_text MATCH ?1 AND rowid >= ?2 AND rowid < ?3 AND ?4 IS NULL
                 ORDER BY rowid DESC",
                None,
            ),
            Some(folders) => (
                "SELECT t.rowid FROM message_text t JOIN message_text_keys k ON k.key = t.rowid
                 WHERE message_text MATCH ?1 AND t.rowid >= ?2 AND t.rowid < ?3
                   AND k.folder_id IN (SELECT value FROM json_each(?4))
                 ORDER BY t.rowid DESC",
                Some(json_list(folders)),
            ),
        };
        {
            let mut statement = self.conn.prepare_cached(sql)?;
            let mut rows = statement.query(params![expression, low, high, folders])?;
            while let Some(row) = rows.next()? {
                if total >= first && keys.len() < count {
                    keys.push(row.get::<_, i64>(0)?);
                }
                total += 1;
            }
        }
        let mut hits = Vec::with_capacity(keys.len());
        {
            let mut resolve = self.conn.prepare_cached(
                "SELECT i.id, i.folder_id FROM message_text_keys k
                 JOIN messages m ON m.blob_id = k.blob_id JOIN items i ON i.id = m.item_id
                 WHERE k.key = ?1 AND i.user_id = ?2",
            )?;
            for key in keys {
                let hit = resolve
                    .query_row(params![key, user], |row| {
                        Ok(MailHit {
                            item: row.get(0)?,
                            folder: row.get(1)?,
                        })
                    })
                    .optional()?;
                hits.extend(hit);
            }
        }
        snapshot.end()?;
        Ok(MailHits { total, hits })
    }

    /// [`Store::search_mail`] for queries without words or with a conversation.
    fn search_general(
        &self,
        user: UserId,
        query: &MailQuery,
        first: usize,
        count: usize,
    ) -> Result<MailHits, StoreError> {
        let (sql, values) = general_sql(user, query);
        let mut total = 0usize;
        let mut hits = Vec::new();
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(values.iter()))?;
        while let Some(row) = rows.next()? {
            if total >= first && hits.len() < count {
                hits.push(MailHit {
                    item: row.get(0)?,
                    folder: row.get(1)?,
                });
            }
            total += 1;
        }
        Ok(MailHits { total, hits })
    }

    /// How many messages wait to be indexed.
    pub fn index_backlog_len(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM message_text_backlog")?
            .query_row([], |row| row.get(0))?;
        Ok(n.max(0) as usize)
    }

    /// Indexes up to `limit` waiting messages in one transaction (one new segment of the
    /// index); returns how many remain. The server calls it while no request waits.
    pub fn index_backlog(&self, limit: usize) -> Result<usize, StoreError> {
        self.index_waiting(None, limit)?;
        self.index_backlog_len()
    }

    /// Indexes the waiting messages of `user`, so a word query sees every message filed so
    /// far. A database upgraded from a version without the index may hold more of them than a
    /// request should wait for: at most [`MAX_CATCH_UP`] are done here, the idle loop does the
    /// rest.
    fn catch_up_index(&self, user: UserId) -> Result<(), StoreError> {
        let waiting: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM message_text_backlog)")?
            .query_row([], |row| row.get(0))?;
        let mut done = 0;
        let mut more = waiting;
        while more && done < MAX_CATCH_UP {
            more = self.index_waiting(Some(user), CATCH_UP_BATCH)?;
            done += CATCH_UP_BATCH;
        }
        Ok(())
    }

    /// Indexes up to `limit` waiting messages (of `user` only, if given) in one transaction;
    /// whether more of them wait.
    fn index_waiting(&self, user: Option<UserId>, limit: usize) -> Result<bool, StoreError> {
        let tx = self.write_transaction()?;
        // One more than the batch: whether the backlog ends with it.
        let blobs: Vec<i64> = match user {
            None => tx
                .prepare_cached(
                    "SELECT blob_id FROM message_text_backlog ORDER BY blob_id LIMIT ?1",
                )?
                .query_map([limit as i64 + 1], |row| row.get(0))?
                .collect::<Result<_, _>>()?,
            Some(user) => tx
                .prepare_cached(
                    "SELECT b.blob_id FROM message_text_backlog b
                     JOIN messages m ON m.blob_id = b.blob_id JOIN items i ON i.id = m.item_id
                     WHERE i.user_id = ?1 ORDER BY b.blob_id LIMIT ?2",
                )?
                .query_map(params![user, limit as i64 + 1], |row| row.get(0))?
                .collect::<Result<_, _>>()?,
        };
        for &blob in blobs.iter().take(limit) {
            if let Some((text, user, folder, received)) = IndexedText::of_stored(&tx, blob)? {
                index_text(&tx, blob, user, folder, received, &text)?;
            }
            tx.prepare_cached("DELETE FROM message_text_backlog WHERE blob_id = ?1")?
                .execute([blob])?;
        }
        tx.commit()?;
        Ok(blobs.len() > limit)
    }
}

/// Messages indexed per transaction when a query catches up with the backlog.
const CATCH_UP_BATCH: usize = 200;

/// Most waiting messages a query indexes before it runs (only an upgraded database's backlog
/// can be longer; the server's idle indexing finishes it).
const MAX_CATCH_UP: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FolderType, NewMessage};

    struct Fixture {
        store: Store,
        user: UserId,
        inbox: FolderId,
        folders: Vec<FolderId>,
    }

    fn fixture() -> Fixture {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("ann@example.com", "", "pw").unwrap().id;
        let (inbox, folders) = mail_folders(&store, user);
        Fixture {
            store,
            user,
            inbox,
            folders,
        }
    }

    fn mail_folders(store: &Store, user: UserId) -> (FolderId, Vec<FolderId>) {
        let folders = store.folders_of(user).unwrap();
        let inbox = folders.iter().find(|f| f.name == "Inbox").unwrap().id;
        let mail = folders
            .iter()
            .filter(|f| {
                crate::store::ItemClass::for_folder_type(f.folder_type)
                    == Some(crate::store::ItemClass::Email)
            })
            .map(|f| f.id)
            .collect();
        (inbox, mail)
    }

    fn message(subject: &str, body: &str) -> Vec<u8> {
        format!(
            "From: \"Zoë Quartermaine\" <zoe@example.org>\r\nTo: ann@example.com\r\n\
             Subject: {subject}\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    }

    fn file(f: &Fixture, folder: FolderId, raw: &[u8], received: i64) -> ItemId {
        let message = NewMessage {
            received_at: Some(received),
            ..NewMessage::new(raw)
        };
        f.store
            .add_message(f.user, folder, &message)
            .unwrap()
            .item_id()
    }

    /// The messages found in every mail folder, checked against the same query naming
    /// each folder (the index's own count and the per-folder path must agree).
    fn find(f: &Fixture, text: &str) -> Vec<ItemId> {
        let query = MailQuery {
            terms: query_terms(text).unwrap(),
            ..MailQuery::default()
        };
        let hits = f.store.search_mail(f.user, &query, 0, 100).unwrap();
        assert_eq!(hits.total, hits.hits.len());
        let named = MailQuery {
            folders: Some(f.folders.clone()),
            ..query
        };
        assert_eq!(f.store.search_mail(f.user, &named, 0, 100).unwrap(), hits);
        hits.hits.iter().map(|h| h.item).collect()
    }

    #[test]
    fn query_words_are_split_like_the_index_and_bounded() {
        assert_eq!(
            query_terms("Invoice-2023  Zoë!").unwrap(),
            vec!["invoice", "2023", "zoë"]
        );
        assert_eq!(query_terms(" -- "), Err(TermsError::Empty));
        let many = vec!["w"; MAX_QUERY_TERMS + 1].join(" ");
        assert_eq!(query_terms(&many), Err(TermsError::TooMany));
    }

    #[test]
    fn date_bounds_are_key_ranges() {
        let query = MailQuery {
            received_after: Some(100),
            received_before: Some(200),
            ..MailQuery::default()
        };
        // Strictly after 100: from the first key of second 101; strictly before 200.
        assert_eq!(key_range(&query), (101 << 10, 200 << 10));
        assert_eq!(key_range(&MailQuery::default()), (0, i64::MAX));
        assert_eq!(key_of_time(-5), 0);
        assert_eq!(key_of_time(i64::MAX), MAX_KEY_TIME << 10);
        assert_eq!(json_list(&[3, 14]), "[3,14]");
    }

    #[test]
    fn match_expressions_quote_every_term() {
        let terms = vec!["invoice".to_string(), "a".to_string(), "x\"y".to_string()];
        assert_eq!(
            match_expression(7, &terms),
            "{subject addresses body attachments} : (\"invoice\"* AND \"a\" AND \"x\"\"y\"*) \
             AND scope : \"u7\""
        );
    }

    #[test]
    fn subject_addresses_body_and_attachment_names_are_found() {
        let f = fixture();
        let plain = file(
            &f,
            f.inbox,
            &message("Invoice 2023", "Please pay soon."),
            100,
        );
        let html = b"From: shop@example.net\r\nTo: ann@example.com\r\nSubject: Order\r\n\
            MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
            Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            <p>Your <b>parcel</b> is on its way to Z=C3=BCrich</p>\r\n--b\r\n\
            Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"receipt-4711.pdf\"\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        let order = file(&f, f.inbox, html, 200);
        assert_eq!(find(&f, "invoice"), vec![plain]);
        assert_eq!(find(&f, "inv 2023"), vec![plain], "prefixes of words match");
        assert_eq!(find(&f, "PAY"), vec![plain], "case is ignored");
        assert_eq!(find(&f, "zoe"), vec![plain], "accents are ignored");
        assert_eq!(find(&f, "quartermaine"), vec![plain], "names in From");
        assert_eq!(
            find(&f, "zurich parcel"),
            vec![order],
            "HTML bodies, decoded"
        );
        assert!(find(&f, "bold").is_empty(), "markup is not indexed");
        assert_eq!(find(&f, "receipt 4711"), vec![order], "attachment names");
        assert_eq!(find(&f, "example"), vec![order, plain], "newest first");
        assert!(find(&f, "nothing-like-this").is_empty());
    }

    #[test]
    fn moves_deletes_and_replacements_keep_the_index_current() {
        let f = fixture();
        let id = file(&f, f.inbox, &message("Holiday plans", "Lisbon in May"), 100);
        let trash = f
            .store
            .folders_of(f.user)
            .unwrap()
            .into_iter()
            .find(|folder| folder.folder_type == FolderType::DeletedItems)
            .unwrap()
            .id;
        let moved = f.store.move_item(f.user, id, trash).unwrap();
        assert_eq!(find(&f, "lisbon"), vec![moved]);
        f.store
            .replace_message(f.user, moved, &message("Holiday plans", "Porto in June"))
            .unwrap();
        assert!(find(&f, "lisbon").is_empty());
        assert_eq!(find(&f, "porto"), vec![moved]);
        f.store.delete_item(f.user, moved).unwrap();
        assert!(find(&f, "porto").is_empty());
        let rows: i64 = f
            .store
            .connection()
            .query_row("SELECT count(*) FROM message_text", [], |r| r.get(0))
            .unwrap_or(0);
        assert_eq!(rows, 0);
        // A deleted folder takes its messages out of the index.
        let archive = f
            .store
            .create_folder(f.user, None, "Archive", FolderType::UserMail)
            .unwrap()
            .id;
        file(&f, archive, &message("Archived", "tax return"), 50);
        let query = MailQuery {
            terms: query_terms("tax").unwrap(),
            ..MailQuery::default()
        };
        assert_eq!(f.store.search_mail(f.user, &query, 0, 10).unwrap().total, 1);
        let query = MailQuery {
            folders: Some(vec![archive]),
            ..query
        };
        assert_eq!(f.store.search_mail(f.user, &query, 0, 10).unwrap().total, 1);
        f.store.delete_folder(f.user, archive).unwrap();
        assert_eq!(f.store.search_mail(f.user, &query, 0, 10).unwrap().total, 0);
    }

    #[test]
    fn another_users_mail_is_never_found() {
        let f = fixture();
        file(&f, f.inbox, &message("Secret recipe", "cardamom"), 100);
        let bob = f.store.add_user("bob@example.com", "", "pw").unwrap().id;
        let (_, bob_folders) = mail_folders(&f.store, bob);
        // Even naming Ann's folders, Bob's query reads only Bob's items.
        let mut folders = bob_folders;
        folders.extend(f.folders.iter().copied());
        let query = MailQuery {
            terms: query_terms("cardamom").unwrap(),
            folders: Some(folders),
            ..MailQuery::default()
        };
        assert_eq!(
            f.store.search_mail(bob, &query, 0, 10).unwrap(),
            MailHits::default()
        );
        let everywhere = MailQuery {
            folders: None,
            ..query
        };
        assert_eq!(
            f.store.search_mail(bob, &everywhere, 0, 10).unwrap(),
            MailHits::default()
        );
        // The owner's token is not a word of the text: searching it finds nothing.
        let token = MailQuery {
            terms: vec![format!("u{}", f.user)],
            ..MailQuery::default()
        };
        assert_eq!(f.store.search_mail(f.user, &token, 0, 10).unwrap().total, 0);
    }

    #[test]
    fn folders_conversations_dates_and_ranges_narrow_the_result() {
        let f = fixture();
        let ids: Vec<ItemId> = (0..5)
            .map(|n| {
                file(
                    &f,
                    f.inbox,
                    &message(&format!("Report {n}"), "weekly"),
                    1000 + n,
                )
            })
            .collect();
        let query = |change: &dyn Fn(&mut MailQuery)| {
            let mut query = MailQuery {
                terms: query_terms("weekly").unwrap(),
                ..MailQuery::default()
            };
            change(&mut query);
            query
        };
        let page = f.store.search_mail(f.user, &query(&|_| {}), 1, 2).unwrap();
        assert_eq!(page.total, 5);
        assert_eq!(
            page.hits.iter().map(|h| h.item).collect::<Vec<_>>(),
            vec![ids[3], ids[2]]
        );
        let dated = query(&|q| {
            q.received_after = Some(1001);
            q.received_before = Some(1004);
        });
        let hits = f.store.search_mail(f.user, &dated, 0, 10).unwrap();
        assert_eq!(
            hits.hits.iter().map(|h| h.item).collect::<Vec<_>>(),
            vec![ids[3], ids[2]]
        );
        let mut dated_in_folders = dated.clone();
        dated_in_folders.folders = Some(f.folders.clone());
        assert_eq!(
            f.store
                .search_mail(f.user, &dated_in_folders, 0, 10)
                .unwrap(),
            hits
        );
        // Without words: every message of the date window.
        let mut undated = dated.clone();
        undated.terms.clear();
        assert_eq!(
            f.store.search_mail(f.user, &undated, 0, 10).unwrap().total,
            2
        );
        let conversation = f
            .store
            .message(f.user, ids[1])
            .unwrap()
            .unwrap()
            .conversation_id;
        let threaded = query(&|q| q.conversation_id = Some(conversation.clone()));
        let hits = f.store.search_mail(f.user, &threaded, 0, 10).unwrap();
        assert!(hits.hits.iter().any(|h| h.item == ids[1]));
        let elsewhere = query(&|q| q.folders = Some(vec![-1]));
        assert_eq!(
            f.store
                .search_mail(f.user, &elsewhere, 0, 10)
                .unwrap()
                .total,
            0
        );
    }

    #[test]
    fn word_queries_read_the_index_in_key_order_without_sorting() {
        let f = fixture();
        let plan = |sql: &str| -> Vec<String> {
            let mut statement = f
                .store
                .connection()
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let expression = match_expression(f.user, &["invoice".to_string()]);
            let rows = statement
                .query_map(params![expression, 0, i64::MAX, "[1,2]"], |row| row.get(3))
                .unwrap();
            rows.map(Result::unwrap).collect()
        };
        let in_folders = plan(
            "SELECT t.rowid FROM message_text t JOIN message_text_keys k ON k.key = t.rowid
             WHERE message_text MATCH ?1 AND t.rowid >= ?2 AND t.rowid < ?3
               AND k.folder_id IN (SELECT value FROM json_each(?4))
             ORDER BY t.rowid DESC",
        );
        assert!(in_folders[0].contains("VIRTUAL TABLE"), "{in_folders:?}");
        assert!(
            !in_folders.iter().any(|step| step.contains("TEMP B-TREE")),
            "{in_folders:?}"
        );
    }

    #[test]
    fn keys_follow_received_time_and_never_clash() {
        let f = fixture();
        let a = file(&f, f.inbox, &message("Same second", "twins"), 5000);
        let b = file(&f, f.inbox, &message("Same second", "twins again"), 5000);
        let older = file(&f, f.inbox, &message("Older", "twins"), 4999);
        assert_eq!(find(&f, "twins"), vec![b, a, older]);
        let keys: i64 = f
            .store
            .connection()
            .query_row(
                "SELECT count(DISTINCT key) FROM message_text_keys",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(keys, 3);
        // A second whose 1,024 keys are all taken spills past every key in use.
        let full = key_of_time(7000);
        f.store
            .connection()
            .execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1023)
                 INSERT INTO message_text_keys (key, blob_id, folder_id)
                 SELECT ?1 + i, -1 - i, 0 FROM n",
                [full],
            )
            .unwrap();
        let spilled = file(&f, f.inbox, &message("Crowded", "twins"), 7000);
        assert_eq!(find(&f, "twins")[0], spilled);
        let key: i64 = f
            .store
            .connection()
            .query_row(
                "SELECT k.key FROM message_text_keys k JOIN messages m ON m.blob_id = k.blob_id
                 WHERE m.item_id = ?1",
                [spilled],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(key, full + 1024);
    }

    #[test]
    fn an_upgraded_database_indexes_its_old_mail_from_the_backlog() {
        let f = fixture();
        let old = file(&f, f.inbox, &message("Old contract", "signed in 2019"), 100);
        // The database as version 10 left it: no index, no backlog, no trigger.
        crate::store::schema::rewind_for_upgrade_tests(f.store.connection(), 10).unwrap();
        crate::store::schema::migrate(f.store.connection()).unwrap();
        assert_eq!(f.store.index_backlog_len().unwrap(), 1);
        let new = file(&f, f.inbox, &message("New contract", "signed today"), 200);
        assert_eq!(f.store.index_backlog_len().unwrap(), 2);
        assert_eq!(f.store.index_backlog(1).unwrap(), 1);
        assert_eq!(f.store.index_backlog(100).unwrap(), 0);
        assert_eq!(find(&f, "contract"), vec![new, old]);
        assert_eq!(find(&f, "2019"), vec![old]);
        assert_eq!(f.store.index_backlog_len().unwrap(), 0);
    }

    #[test]
    fn filed_mail_waits_for_the_index_and_a_word_query_indexes_it_first() {
        let f = fixture();
        let first = file(
            &f,
            f.inbox,
            &message("Quarterly numbers", "spreadsheet"),
            100,
        );
        let second = file(
            &f,
            f.inbox,
            &message("Picnic", "spreadsheet of snacks"),
            200,
        );
        let waiting = |store: &Store| store.index_backlog_len().unwrap();
        assert_eq!(waiting(&f.store), 2, "filing only queues the message");
        // Moved and deleted while waiting: indexed where it is, or not at all.
        let archive = f
            .store
            .create_folder(f.user, None, "Archive", FolderType::UserMail)
            .unwrap()
            .id;
        let moved = f.store.move_item(f.user, first, archive).unwrap();
        f.store.delete_item(f.user, second).unwrap();
        assert_eq!(waiting(&f.store), 1);
        // Another user's query indexes only that user's mail.
        let bob = f.store.add_user("bob@example.com", "", "pw").unwrap().id;
        let query = MailQuery {
            terms: query_terms("spreadsheet").unwrap(),
            ..MailQuery::default()
        };
        assert_eq!(f.store.search_mail(bob, &query, 0, 10).unwrap().total, 0);
        assert_eq!(waiting(&f.store), 1);
        let in_archive = MailQuery {
            folders: Some(vec![archive]),
            ..query.clone()
        };
        let hits = f.store.search_mail(f.user, &in_archive, 0, 10).unwrap();
        assert_eq!(
            hits.hits,
            vec![MailHit {
                item: moved,
                folder: archive
            }]
        );
        assert_eq!(waiting(&f.store), 0);
        assert_eq!(find(&f, "snacks"), Vec::<ItemId>::new());
        // Queries without words need no index and leave the backlog alone.
        file(&f, f.inbox, &message("Later", "spreadsheet"), 300);
        let undated = MailQuery::default();
        assert_eq!(
            f.store.search_mail(f.user, &undated, 0, 10).unwrap().total,
            2
        );
        assert_eq!(waiting(&f.store), 1);
    }
}
