//! Property records: the data of items whose class is described by a property table
//! (contacts, tasks, notes, and later calendar events) — one row per item in `item_records`
//! holding the item's properties in a small neutral binary format that this module alone
//! reads and writes. The store never sees WBXML: a property is a name (the class table's
//! element name, e.g. `FileAs`) and a value (text, integer, bytes, a list of texts, a group
//! of properties, or a list of groups), so a 12.1 and a 16.1 device read the same record and
//! each is sent what its version knows.
//!
//! Every write is one transaction with its folder's change counter: [`super::items`]'s
//! `insert_item` / `touch_item` do the counting and this module files the record beside it.
//!
//! The format (all integers LEB128 varints, signed ones zig-zag encoded): a record is a count
//! and that many `(name, value)` pairs, a name is a length and UTF-8 bytes, a value is a kind
//! byte followed by its body — 0 text (length, UTF-8), 1 integer, 2 bytes (length, bytes),
//! 3 list of texts (count, texts), 4 group (a record), 5 list of groups (count, records).

use rusqlite::{params, OptionalExtension};

use super::items::{insert_item, item_of_user, touch_item};
use super::sync_items::{record_client_add_in, ClientAdd};
use super::{FolderId, Item, ItemClass, ItemId, Store, StoreError, UserId};

/// One property value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Property {
    Text(String),
    /// Numbers, booleans (0/1) and dates (Unix seconds).
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<String>),
    Group(PropertyRecord),
    Groups(Vec<PropertyRecord>),
}

/// An item's properties, in the order they were set; names are unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropertyRecord {
    pub properties: Vec<(String, Property)>,
}

/// Largest stored record (bytes): a contact with a full-size picture and a long body fits.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

impl PropertyRecord {
    pub fn get(&self, name: &str) -> Option<&Property> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Sets `name`, replacing any earlier value.
    pub fn set(&mut self, name: &str, value: Property) {
        match self.properties.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.properties.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Property> {
        let at = self.properties.iter().position(|(n, _)| n == name)?;
        Some(self.properties.remove(at).1)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Property::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Property::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The neutral binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_record(&mut out, self);
        out
    }

    /// Reads [`PropertyRecord::to_bytes`]; `None` for damaged data.
    pub fn from_bytes(bytes: &[u8]) -> Option<PropertyRecord> {
        let mut reader = Reader { bytes, at: 0 };
        let record = reader.record(0)?;
        (reader.at == bytes.len()).then_some(record)
    }
}

fn write_uint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_str(out: &mut Vec<u8>, text: &[u8]) {
    write_uint(out, text.len() as u64);
    out.extend_from_slice(text);
}

fn write_record(out: &mut Vec<u8>, record: &PropertyRecord) {
    write_uint(out, record.properties.len() as u64);
    for (name, value) in &record.properties {
        write_str(out, name.as_bytes());
        match value {
            Property::Text(text) => {
                out.push(0);
                write_str(out, text.as_bytes());
            }
            Property::Int(n) => {
                out.push(1);
                write_uint(out, ((n << 1) ^ (n >> 63)) as u64);
            }
            Property::Bytes(bytes) => {
                out.push(2);
                write_str(out, bytes);
            }
            Property::List(texts) => {
                out.push(3);
                write_uint(out, texts.len() as u64);
                for text in texts {
                    write_str(out, text.as_bytes());
                }
            }
            Property::Group(group) => {
                out.push(4);
                write_record(out, group);
            }
            Property::Groups(groups) => {
                out.push(5);
                write_uint(out, groups.len() as u64);
                for group in groups {
                    write_record(out, group);
                }
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Groups nest at most this deep (recurrence inside an exception inside an event is 3).
const MAX_DEPTH: usize = 8;

impl Reader<'_> {
    fn uint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            n |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.uint()?).ok()?;
        // Every element takes at least one byte: a larger count is damage.
        (n <= self.bytes.len() - self.at).then_some(n)
    }

    fn raw(&mut self) -> Option<&[u8]> {
        let len = self.count()?;
        let slice = self.bytes.get(self.at..self.at + len)?;
        self.at += len;
        Some(slice)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.raw()?.to_vec()).ok()
    }

    fn record(&mut self, depth: usize) -> Option<PropertyRecord> {
        if depth > MAX_DEPTH {
            return None;
        }
        let count = self.count()?;
        let mut record = PropertyRecord::default();
        for _ in 0..count {
            let name = self.text()?;
            let kind = *self.bytes.get(self.at)?;
            self.at += 1;
            let value = match kind {
                0 => Property::Text(self.text()?),
                1 => {
                    let z = self.uint()?;
                    Property::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
                }
                2 => Property::Bytes(self.raw()?.to_vec()),
                3 => {
                    let n = self.count()?;
                    Property::List((0..n).map(|_| self.text()).collect::<Option<_>>()?)
                }
                4 => Property::Group(self.record(depth + 1)?),
                5 => {
                    let n = self.count()?;
                    Property::Groups(
                        (0..n)
                            .map(|_| self.record(depth + 1))
                            .collect::<Option<_>>()?,
                    )
                }
                _ => return None,
            };
            record.properties.push((name, value));
        }
        Some(record)
    }
}

/// A new item of a property class: where it goes and what it holds.
pub struct NewRecordItem<'a> {
    pub class: ItemClass,
    /// The date FilterType windows compare (`None`: in every window).
    pub sort_date: Option<i64>,
    pub record: &'a PropertyRecord,
}

fn checked_bytes(record: &PropertyRecord) -> Result<Vec<u8>, StoreError> {
    let bytes = record.to_bytes();
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "item of {} bytes (at most {MAX_RECORD_BYTES})",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn file_record(
    conn: &rusqlite::Connection,
    user: UserId,
    folder: FolderId,
    new: &NewRecordItem<'_>,
    bytes: &[u8],
) -> Result<ItemId, StoreError> {
    let item = insert_item(conn, user, folder, new.class, new.sort_date)?;
    conn.prepare_cached("INSERT INTO item_records (item_id, record) VALUES (?1, ?2)")?
        .execute(params![item.id, bytes])?;
    Ok(item.id)
}

impl Store {
    /// Files a new item of a property class in one transaction, with the ClientId of the
    /// Add that created it (so a repeated Add finds it).
    pub fn add_record_item(
        &self,
        user: UserId,
        folder: FolderId,
        new: &NewRecordItem<'_>,
        client_add: Option<&ClientAdd<'_>>,
    ) -> Result<ItemId, StoreError> {
        let bytes = checked_bytes(new.record)?;
        let tx = self.write_transaction()?;
        let id = file_record(&tx, user, folder, new, &bytes)?;
        if let Some(key) = client_add {
            record_client_add_in(&tx, key, id)?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Files many items into one folder in one transaction (an import): all or none.
    pub fn add_record_items(
        &self,
        user: UserId,
        folder: FolderId,
        items: &[NewRecordItem<'_>],
    ) -> Result<Vec<ItemId>, StoreError> {
        let encoded = items
            .iter()
            .map(|item| checked_bytes(item.record))
            .collect::<Result<Vec<_>, _>>()?;
        let tx = self.write_transaction()?;
        let mut ids = Vec::with_capacity(items.len());
        for (item, bytes) in items.iter().zip(&encoded) {
            ids.push(file_record(&tx, user, folder, item, bytes)?);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The record of the user's item `id` when it is of `class`; `None` when it is gone or
    /// of another class.
    pub fn record_of_class(
        &self,
        user: UserId,
        id: ItemId,
        class: ItemClass,
    ) -> Result<Option<PropertyRecord>, StoreError> {
        Ok(self
            .record_item(user, id)?
            .filter(|(item, _)| item.class == class)
            .map(|(_, record)| record))
    }

    /// The item and its record, `None` when it is not the user's or holds no record.
    pub fn record_item(
        &self,
        user: UserId,
        id: ItemId,
    ) -> Result<Option<(Item, PropertyRecord)>, StoreError> {
        let Some(item) = item_of_user(&self.conn, user, id)? else {
            return Ok(None);
        };
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT record FROM item_records WHERE item_id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?;
        let Some(bytes) = bytes else { return Ok(None) };
        let record = PropertyRecord::from_bytes(&bytes)
            .ok_or_else(|| StoreError::Invalid(format!("item {id}: damaged record")))?;
        Ok(Some((item, record)))
    }

    /// Replaces the item's record (and its sort date) as one change of its folder.
    /// `NotFound` when the item is not the user's or holds no record.
    pub fn replace_record(
        &self,
        user: UserId,
        id: ItemId,
        sort_date: Option<i64>,
        record: &PropertyRecord,
    ) -> Result<i64, StoreError> {
        let bytes = checked_bytes(record)?;
        let tx = self.write_transaction()?;
        let updated = tx
            .prepare_cached(
                "UPDATE item_records SET record = ?1 WHERE item_id = ?2
                 AND item_id IN (SELECT id FROM items WHERE id = ?2 AND user_id = ?3)",
            )?
            .execute(params![bytes, id, user])?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("item {id}")));
        }
        tx.prepare_cached("UPDATE items SET sort_date = ?1 WHERE id = ?2")?
            .execute(params![sort_date, id])?;
        let seq = touch_item(&tx, user, id)?;
        tx.commit()?;
        Ok(seq)
    }

    /// The records of `user`'s calendar events (every calendar folder) whose last occurrence
    /// ends after `from` (their sort date): the events that may be busy from then on
    /// (free/busy). Only the candidates are read; expanding them is the caller's job.
    pub fn calendar_records_ending_after(
        &self,
        user: UserId,
        from: i64,
    ) -> Result<Vec<PropertyRecord>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT r.item_id, r.record FROM items i JOIN item_records r ON r.item_id = i.id
             WHERE i.folder_id IN (SELECT id FROM folders WHERE user_id = ?1)
               AND i.user_id = ?1 AND i.class = 'Calendar' AND i.sort_date > ?2",
        )?;
        let rows = statement.query_map(params![user, from], |row| {
            Ok((row.get::<_, ItemId>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, bytes) = row?;
            let record = PropertyRecord::from_bytes(&bytes)
                .ok_or_else(|| StoreError::Invalid(format!("item {id}: damaged record")))?;
            out.push(record);
        }
        Ok(out)
    }

    /// Every item of the folder with its record, oldest first (export).
    pub fn folder_records(
        &self,
        user: UserId,
        folder: FolderId,
    ) -> Result<Vec<(ItemId, PropertyRecord)>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT r.item_id, r.record FROM item_records r JOIN items i ON i.id = r.item_id
             WHERE i.folder_id = ?1 AND i.user_id = ?2 ORDER BY i.id",
        )?;
        let rows = statement.query_map(params![folder, user], |row| {
            Ok((row.get::<_, ItemId>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, bytes) = row?;
            let record = PropertyRecord::from_bytes(&bytes)
                .ok_or_else(|| StoreError::Invalid(format!("item {id}: damaged record")))?;
            out.push((id, record));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FolderType;

    fn sample() -> PropertyRecord {
        let mut inner = PropertyRecord::default();
        inner.set("Type", Property::Int(1));
        inner.set("DayOfWeek", Property::Int(-42));
        let mut record = PropertyRecord::default();
        record.set("FileAs", Property::Text("Müller, Jo".into()));
        record.set("Picture", Property::Bytes(vec![0, 255, 1]));
        record.set("Children", Property::List(vec!["Ann".into(), "".into()]));
        record.set("Recurrence", Property::Group(inner.clone()));
        record.set("Exceptions", Property::Groups(vec![inner.clone(), inner]));
        record.set("Birthday", Property::Int(i64::MIN));
        record
    }

    #[test]
    fn records_round_trip_and_damage_is_refused() {
        let record = sample();
        let bytes = record.to_bytes();
        assert_eq!(PropertyRecord::from_bytes(&bytes), Some(record));
        for cut in 0..bytes.len() {
            assert_eq!(PropertyRecord::from_bytes(&bytes[..cut]), None, "{cut}");
        }
        assert_eq!(PropertyRecord::from_bytes(&[1, 1, b'a', 9]), None);
        assert_eq!(PropertyRecord::from_bytes(&[0xFF; 12]), None);
    }

    #[test]
    fn items_are_filed_replaced_and_counted() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("a@example.com", "", "pw").unwrap().id;
        let contacts = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Contacts)
            .unwrap()
            .id;
        let record = sample();
        let new = NewRecordItem {
            class: ItemClass::Contacts,
            sort_date: None,
            record: &record,
        };
        let id = store.add_record_item(user, contacts, &new, None).unwrap();
        let (item, back) = store.record_item(user, id).unwrap().unwrap();
        assert_eq!((item.created_seq, back), (1, record.clone()));
        let mut changed = record.clone();
        changed.remove("Picture");
        assert_eq!(
            store.replace_record(user, id, Some(5), &changed).unwrap(),
            2
        );
        let (item, back) = store.record_item(user, id).unwrap().unwrap();
        assert_eq!((item.sort_date, back), (Some(5), changed));
        // Another user sees nothing; a mail folder takes no contacts.
        let other = store.add_user("b@example.com", "", "pw").unwrap().id;
        assert!(store.record_item(other, id).unwrap().is_none());
        assert!(store.replace_record(other, id, None, &record).is_err());
        let inbox = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Inbox)
            .unwrap()
            .id;
        assert!(store.add_record_item(user, inbox, &new, None).is_err());
        assert_eq!(store.folder_records(user, contacts).unwrap().len(), 1);
        // An import is all or nothing.
        let batch = [
            NewRecordItem {
                class: ItemClass::Contacts,
                sort_date: None,
                record: &record,
            },
            NewRecordItem {
                class: ItemClass::Tasks,
                sort_date: None,
                record: &record,
            },
        ];
        assert!(store.add_record_items(user, contacts, &batch).is_err());
        assert_eq!(store.folder_records(user, contacts).unwrap().len(), 1);
    }
}
