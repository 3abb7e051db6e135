//! What each device holds: per device and collection, the ServerIds of the items the server
//! has told the device about and not yet taken back — the ground truth Sync decides Add
//! against Change, and whether a Delete or SoftDelete may name an item at all.
//!
//! Change counters alone cannot tell this once answers are windowed: pages follow the
//! change counter, so an old item changed late moves behind the cursor and a device that
//! never received it would be sent a Change. Recording what was sent makes the protocol's
//! invariant — an item a device lacks reaches it as an Add; Change, Delete and SoftDelete
//! only name items it has; nothing is added twice — a property of the data, not of counters.
//!
//! Rows carry the sync-key generation (the key's counter) that added and removed them, so a
//! device that lost an answer and repeats its previous key sees the set as it was then:
//! [`Store::holds`] reads the set *as of* a generation, and the commit of the next key
//! ([`Store::advance_collection_key`]) first undoes the lost answer's marks, drops removals
//! the device has confirmed, then records the new answer's marks — in the same transaction
//! that issues the key.

use std::collections::HashSet;

use rusqlite::{params, Connection};

use super::{ItemId, Store, StoreError};

/// What one answer changes in a device's set: the items it tells the device of (Adds,
/// including the device's own Adds) and the items it takes back (Delete, SoftDelete, the
/// device's own Deletes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldChanges {
    pub added: Vec<ItemId>,
    pub removed: Vec<ItemId>,
}

impl HeldChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Where a device's set is read: its collection and the generation of the key it sent.
#[derive(Clone, Copy, Debug)]
pub struct HeldView<'a> {
    pub device: i64,
    pub collection: &'a str,
    /// The counter of the sync key the device sent.
    pub generation: i64,
}

/// How the key being issued relates to the stored one, for [`update_in`].
pub(crate) enum KeyStep {
    /// A fresh start: the set is emptied.
    Fresh,
    /// From the current key (its counter).
    Current(i64),
    /// A replay from the previous key (its counter) of the lost answer's.
    Replay { previous: i64, lost: i64 },
}

/// Brings the set of a collection from the key the device sent to the key being issued
/// (`generation`), inside the caller's transaction.
pub(crate) fn update_in(
    conn: &Connection,
    device: i64,
    collection: &str,
    step: KeyStep,
    generation: i64,
    changes: &HeldChanges,
) -> Result<(), StoreError> {
    let confirmed = match step {
        KeyStep::Fresh => {
            forget_in(conn, device, collection)?;
            0
        }
        KeyStep::Current(counter) => counter,
        KeyStep::Replay { previous, lost } => {
            // The lost answer never reached the device: undo what it told.
            conn.prepare_cached(
                "DELETE FROM sync_held WHERE device = ?1 AND collection = ?2 AND added >= ?3",
            )?
            .execute(params![device, collection, lost])?;
            conn.prepare_cached(
                "UPDATE sync_held SET removed = NULL
                 WHERE device = ?1 AND collection = ?2 AND removed >= ?3",
            )?
            .execute(params![device, collection, lost])?;
            previous
        }
    };
    // Removals the device confirmed by sending a later key can never be rolled back.
    conn.prepare_cached(
        "DELETE FROM sync_held WHERE device = ?1 AND collection = ?2 AND removed <= ?3",
    )?
    .execute(params![device, collection, confirmed])?;
    mark_in(conn, device, collection, generation, changes)
}

/// Records `changes` at `generation` inside the caller's transaction.
fn mark_in(
    conn: &Connection,
    device: i64,
    collection: &str,
    generation: i64,
    changes: &HeldChanges,
) -> Result<(), StoreError> {
    let mut add = conn.prepare_cached(
        "INSERT OR REPLACE INTO sync_held (device, collection, item_id, added, removed)
         VALUES (?1, ?2, ?3, ?4, NULL)",
    )?;
    for item in &changes.added {
        add.execute(params![device, collection, item, generation])?;
    }
    let mut remove = conn.prepare_cached(
        "UPDATE sync_held SET removed = ?4
         WHERE device = ?1 AND collection = ?2 AND item_id = ?3 AND removed IS NULL",
    )?;
    for item in &changes.removed {
        remove.execute(params![device, collection, item, generation])?;
    }
    Ok(())
}

/// Forgets a collection's set on a device, inside the caller's transaction.
pub(crate) fn forget_in(
    conn: &Connection,
    device: i64,
    collection: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sync_held WHERE device = ?1 AND collection = ?2")?
        .execute(params![device, collection])?;
    Ok(())
}

impl Store {
    /// Whether the device held `item` in the collection as of the view's generation.
    pub fn holds(&self, view: &HeldView<'_>, item: ItemId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sync_held
                 WHERE device = ?1 AND collection = ?2 AND item_id = ?3
                   AND added <= ?4 AND (removed IS NULL OR removed > ?4))",
            )?
            .query_row(
                params![view.device, view.collection, item, view.generation],
                |row| row.get(0),
            )?)
    }

    /// Every item the device held in the collection as of the view's generation.
    pub fn held_items(&self, view: &HeldView<'_>) -> Result<HashSet<ItemId>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT item_id FROM sync_held
             WHERE device = ?1 AND collection = ?2
               AND added <= ?3 AND (removed IS NULL OR removed > ?3)",
        )?;
        let items = statement
            .query_map(
                params![view.device, view.collection, view.generation],
                |row| row.get(0),
            )?
            .collect::<Result<HashSet<ItemId>, _>>()?;
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Store, i64) {
        super::super::test_support::store_with_device("held@example.com")
    }

    fn changes(added: &[ItemId], removed: &[ItemId]) -> HeldChanges {
        HeldChanges {
            added: added.to_vec(),
            removed: removed.to_vec(),
        }
    }

    fn held_at(store: &Store, device: i64, generation: i64) -> Vec<ItemId> {
        let view = HeldView {
            device,
            collection: "7",
            generation,
        };
        let mut items: Vec<ItemId> = store.held_items(&view).unwrap().into_iter().collect();
        items.sort();
        for &item in &items {
            assert!(store.holds(&view, item).unwrap());
        }
        items
    }

    fn rows(store: &Store) -> i64 {
        store
            .conn
            .query_row("SELECT count(*) FROM sync_held", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn each_key_sees_the_set_its_answer_left() {
        let (store, device) = setup();
        let k1 = store
            .advance_collection_key(device, "7", None, 0, b"", &changes(&[], &[]))
            .unwrap();
        let k2 = store
            .advance_collection_key(device, "7", Some(&k1), 3, b"", &changes(&[10, 11], &[]))
            .unwrap();
        assert_eq!(held_at(&store, device, 1), Vec::<ItemId>::new());
        assert_eq!(held_at(&store, device, 2), [10, 11]);
        let k3 = store
            .advance_collection_key(device, "7", Some(&k2), 5, b"", &changes(&[12], &[10]))
            .unwrap();
        // Key 2 (the previous) still sees 10; key 3 does not.
        assert_eq!(held_at(&store, device, 2), [10, 11]);
        assert_eq!(held_at(&store, device, 3), [11, 12]);
        // The device confirms key 3 by sending it: the removal of 10 is final and goes.
        store
            .advance_collection_key(device, "7", Some(&k3), 6, b"", &changes(&[], &[]))
            .unwrap();
        assert_eq!(held_at(&store, device, 4), [11, 12]);
        assert_eq!(rows(&store), 2);
    }

    #[test]
    fn confirmed_removals_are_found_through_the_index_not_by_reading_the_whole_set() {
        let (store, _) = setup();
        let plan: Vec<String> = store
            .conn
            .prepare(
                "EXPLAIN QUERY PLAN DELETE FROM sync_held
                 WHERE device = ?1 AND collection = ?2 AND removed <= ?3",
            )
            .unwrap()
            .query_map(params![1, "7", 3], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("INDEX sync_held_removed")),
            "{plan:?}"
        );
    }

    #[test]
    fn a_replay_undoes_what_the_lost_answer_told() {
        let (store, device) = setup();
        let k1 = store
            .advance_collection_key(device, "7", None, 0, b"", &changes(&[], &[]))
            .unwrap();
        let k2 = store
            .advance_collection_key(device, "7", Some(&k1), 2, b"", &changes(&[1, 2], &[]))
            .unwrap();
        // The answer carrying key 3 (Add 3, Delete 1) is lost.
        store
            .advance_collection_key(device, "7", Some(&k2), 4, b"", &changes(&[3], &[1]))
            .unwrap();
        // The device repeats key 2: as of key 2 it holds 1 and 2, never 3.
        assert_eq!(held_at(&store, device, 2), [1, 2]);
        // The replay's answer (key 4) adds 4 only.
        let k4 = store
            .advance_collection_key(device, "7", Some(&k2), 4, b"", &changes(&[4], &[]))
            .unwrap();
        assert!(k4.ends_with("-4"), "{k4}");
        assert_eq!(held_at(&store, device, 4), [1, 2, 4]);
        assert_eq!(rows(&store), 3);
    }

    #[test]
    fn starting_over_or_forgetting_empties_the_set() {
        let (store, device) = setup();
        let k1 = store
            .advance_collection_key(device, "7", None, 0, b"", &changes(&[], &[]))
            .unwrap();
        store
            .advance_collection_key(device, "7", Some(&k1), 2, b"", &changes(&[1], &[]))
            .unwrap();
        store
            .advance_collection_key(device, "7", None, 0, b"", &changes(&[], &[]))
            .unwrap();
        assert_eq!(rows(&store), 0);
        let k1 = store.sync_state(device, "7").unwrap().unwrap().key;
        store
            .advance_collection_key(device, "7", Some(&k1), 2, b"", &changes(&[1], &[]))
            .unwrap();
        store.reset_sync_state(device, "7").unwrap();
        assert_eq!(rows(&store), 0);
    }
}
