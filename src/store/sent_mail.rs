//! The ClientIds of mail a device has sent (SendMail, SmartReply, SmartForward). A phone
//! that lost the answer to a send sends the same message again with the same ClientId;
//! finding the id here means the message went out already and is not sent twice.
//!
//! The ids share the `sync_client_ids` table with Sync's client Adds under the pseudo
//! collection [`SENT_COLLECTION`], which no folder id can equal (folder ids are numbers).
//! `item_id` holds the Sent Items copy, or 0 when none was kept. Ids older than
//! [`SENT_CLIENT_ID_DAYS`] are pruned when a device records a new one, so the table does
//! not grow with every message ever sent.

use rusqlite::{params, OptionalExtension};

use super::sync_items::MAX_CLIENT_ID_CHARS;
use super::{now, ItemId, Store, StoreError};

/// The `collection` value of sent-mail ClientIds in `sync_client_ids`.
pub const SENT_COLLECTION: &str = "ComposeMail";
/// How long a sent ClientId is remembered (a retry comes within minutes).
pub const SENT_CLIENT_ID_DAYS: i64 = 30;

impl Store {
    /// Whether `device` already sent a message with this ClientId.
    pub fn sent_client_id_seen(&self, device: i64, client_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM sync_client_ids
                 WHERE device = ?1 AND collection = ?2 AND client_id = ?3",
            )?
            .query_row(params![device, SENT_COLLECTION, client_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Records that `device` sent a message with this ClientId (`sent_copy`: its Sent Items
    /// copy), and forgets the device's ids older than [`SENT_CLIENT_ID_DAYS`], in one
    /// transaction.
    pub fn record_sent_client_id(
        &self,
        device: i64,
        client_id: &str,
        sent_copy: Option<ItemId>,
    ) -> Result<(), StoreError> {
        if client_id.chars().count() > MAX_CLIENT_ID_CHARS {
            return Err(StoreError::Invalid(format!(
                "the ClientId is longer than {MAX_CLIENT_ID_CHARS} characters"
            )));
        }
        let now = now();
        let tx = self.write_transaction()?;
        tx.execute(
            "DELETE FROM sync_client_ids WHERE device = ?1 AND collection = ?2 AND created < ?3",
            params![device, SENT_COLLECTION, now - SENT_CLIENT_ID_DAYS * 86_400],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO sync_client_ids (device, collection, client_id, item_id, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![device, SENT_COLLECTION, client_id, sent_copy.unwrap_or(0), now],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::DeviceSeen;
    use super::*;

    fn device(store: &Store, user: i64, id: &str) -> i64 {
        let seen = DeviceSeen {
            device_id: id,
            device_type: "Android",
            user_agent: "ua",
            protocol_version: "16.1",
            now: 1,
        };
        store.record_device(user, &seen).unwrap().id
    }

    #[test]
    fn sent_client_ids_are_remembered_per_device_and_pruned() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("sam@example.com", "", "pw").unwrap().id;
        let (phone, tablet) = (device(&store, user, "P"), device(&store, user, "T"));
        assert!(!store.sent_client_id_seen(phone, "m1").unwrap());
        store.record_sent_client_id(phone, "m1", None).unwrap();
        assert!(store.sent_client_id_seen(phone, "m1").unwrap());
        assert!(!store.sent_client_id_seen(tablet, "m1").unwrap());
        // A Sync collection's ClientIds are another namespace.
        assert_eq!(store.client_add_item(user, phone, "1", "m1").unwrap(), None);
        assert!(store
            .record_sent_client_id(phone, &"x".repeat(65), None)
            .is_err());

        store
            .connection()
            .execute("UPDATE sync_client_ids SET created = 0", [])
            .unwrap();
        store.record_sent_client_id(phone, "m2", Some(7)).unwrap();
        assert!(!store.sent_client_id_seen(phone, "m1").unwrap());
        assert!(store.sent_client_id_seen(phone, "m2").unwrap());
    }
}
