//! What Sync remembers about items beyond their sync keys: the ServerId each client Add
//! created, per device, collection and ClientId. A client that lost the answer to an Add sends
//! the same Add (same ClientId) again; looking it up here answers with the item already
//! created instead of creating a duplicate. A fresh start of the collection (SyncKey 0)
//! forgets its ids.
//!
//! The id is recorded in the same transaction that creates the item ([`ClientAdd`] is passed
//! to the store method that files it), so a crash can never leave an item without its
//! ClientId, which the client's retry would duplicate.

use rusqlite::{params, Connection, OptionalExtension};

use super::items::item_of_user;
use super::{now, ItemId, Store, StoreError, UserId};

/// Longest ClientId kept (MS-ASCMD allows 64 characters).
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Where a client Add's ClientId is remembered: the device, the collection and the id.
#[derive(Clone, Copy, Debug)]
pub struct ClientAdd<'a> {
    pub device: i64,
    pub collection: &'a str,
    pub client_id: &'a str,
}

/// Records, inside the caller's transaction, that the client Add `key` created `item`.
pub(crate) fn record_client_add_in(
    conn: &Connection,
    key: &ClientAdd<'_>,
    item: ItemId,
) -> Result<(), StoreError> {
    if key.client_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(StoreError::Invalid(format!(
            "the ClientId is longer than {MAX_CLIENT_ID_CHARS} characters"
        )));
    }
    conn.execute(
        "INSERT OR REPLACE INTO sync_client_ids (device, collection, client_id, item_id, created)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key.device, key.collection, key.client_id, item, now()],
    )?;
    Ok(())
}

impl Store {
    /// The item a client Add with this ClientId created, if it is still the user's.
    pub fn client_add_item(
        &self,
        user: UserId,
        device: i64,
        collection: &str,
        client_id: &str,
    ) -> Result<Option<ItemId>, StoreError> {
        let item: Option<ItemId> = self
            .conn
            .prepare_cached(
                "SELECT item_id FROM sync_client_ids
                 WHERE device = ?1 AND collection = ?2 AND client_id = ?3",
            )?
            .query_row(params![device, collection, client_id], |row| row.get(0))
            .optional()?;
        match item {
            Some(id) => Ok(item_of_user(&self.conn, user, id)?.map(|item| item.id)),
            None => Ok(None),
        }
    }

    /// The item a client Add with this ClientId created, and whether it is still the user's
    /// (a sent draft, for one, is gone).
    pub fn client_add_record(
        &self,
        user: UserId,
        key: &ClientAdd<'_>,
    ) -> Result<Option<(ItemId, bool)>, StoreError> {
        let item: Option<ItemId> = self
            .conn
            .prepare_cached(
                "SELECT item_id FROM sync_client_ids
                 WHERE device = ?1 AND collection = ?2 AND client_id = ?3",
            )?
            .query_row(params![key.device, key.collection, key.client_id], |row| {
                row.get(0)
            })
            .optional()?;
        match item {
            Some(id) => Ok(Some((id, item_of_user(&self.conn, user, id)?.is_some()))),
            None => Ok(None),
        }
    }

    /// Records that a client Add with this ClientId created `item`.
    pub fn record_client_add(
        &self,
        device: i64,
        collection: &str,
        client_id: &str,
        item: ItemId,
    ) -> Result<(), StoreError> {
        let key = ClientAdd {
            device,
            collection,
            client_id,
        };
        record_client_add_in(&self.conn, &key, item)
    }

    /// Forgets the ClientIds of a collection on a device (its sync starts over).
    pub fn forget_client_adds(&self, device: i64, collection: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM sync_client_ids WHERE device = ?1 AND collection = ?2",
            params![device, collection],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DeviceSeen, FolderType, NewMessage};
    use super::*;

    #[test]
    fn client_ids_find_their_item_until_it_goes() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("sam@example.com", "", "pw").unwrap().id;
        let device = store
            .record_device(
                user,
                &DeviceSeen {
                    device_id: "DEV",
                    device_type: "Android",
                    user_agent: "ua",
                    protocol_version: "16.1",
                    now: 1,
                },
            )
            .unwrap()
            .id;
        let inbox = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Inbox)
            .unwrap()
            .id;
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        let item = store
            .add_message(user, inbox, &NewMessage::new(raw))
            .unwrap()
            .item_id();
        let collection = inbox.to_string();

        assert_eq!(
            store
                .client_add_item(user, device, &collection, "c1")
                .unwrap(),
            None
        );
        store
            .record_client_add(device, &collection, "c1", item)
            .unwrap();
        assert_eq!(
            store
                .client_add_item(user, device, &collection, "c1")
                .unwrap(),
            Some(item)
        );
        // Another user never sees it; a deleted item is no answer.
        let other = store.add_user("kim@example.com", "", "pw").unwrap().id;
        assert_eq!(
            store
                .client_add_item(other, device, &collection, "c1")
                .unwrap(),
            None
        );
        store.delete_item(user, item).unwrap();
        assert_eq!(
            store
                .client_add_item(user, device, &collection, "c1")
                .unwrap(),
            None
        );
        store.forget_client_adds(device, &collection).unwrap();
        assert!(store
            .record_client_add(device, &collection, &"x".repeat(65), item)
            .is_err());
    }

    #[test]
    fn a_client_add_and_its_client_id_commit_together() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("sam@example.com", "", "pw").unwrap().id;
        let seen = DeviceSeen {
            device_id: "DEV",
            device_type: "Android",
            user_agent: "ua",
            protocol_version: "16.1",
            now: 1,
        };
        let device = store.record_device(user, &seen).unwrap().id;
        let drafts = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Drafts)
            .unwrap()
            .id;
        let collection = drafts.to_string();
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        let key = ClientAdd {
            device,
            collection: &collection,
            client_id: "c1",
        };
        let item = store
            .add_client_message(user, drafts, &NewMessage::new(raw), Some(&key))
            .unwrap();
        assert_eq!(
            store.client_add_record(user, &key).unwrap(),
            Some((item, true))
        );

        // A ClientId that cannot be recorded rolls the item back with it.
        let long = "x".repeat(MAX_CLIENT_ID_CHARS + 1);
        let bad = ClientAdd {
            client_id: &long,
            ..key
        };
        assert!(store
            .add_client_message(user, drafts, &NewMessage::new(raw), Some(&bad))
            .is_err());
        assert_eq!(store.items_in_window(user, drafts, None).unwrap().len(), 1);

        store.delete_item(user, item).unwrap();
        assert_eq!(
            store.client_add_record(user, &key).unwrap(),
            Some((item, false))
        );
    }
}
