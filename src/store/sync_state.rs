//! Sync keys: per device and collection (`""` for the folder hierarchy,
//! else the folder id as text) the current and the previous sync key.
//!
//! A phone that lost a response repeats the key it sent before; keeping the
//! previous key (with its change counter and command data) lets the command
//! answer that request again instead of forcing a full resync.
//!
//! Keys look like `{tag}-{counter}`: the tag is random and renewed on every
//! fresh start, so keys from before a reset never match again; the counter
//! makes each key of a state unique.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::held::{self, HeldChanges, KeyStep};
use super::{now, random_hex, Store, StoreError};

/// The stored sync state of one collection on one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncState {
    /// The key handed out last.
    pub key: String,
    /// The change counter `key` stands for.
    pub seq: i64,
    /// The key handed out before `key`, still accepted for a replay.
    pub previous_key: Option<String>,
    pub previous_seq: Option<i64>,
    /// Opaque per-collection state owned by the command (e.g. options).
    pub data: Vec<u8>,
    /// The command data that went with `previous_key`.
    pub previous_data: Option<Vec<u8>>,
}

impl SyncState {
    /// The generation (key counter) of `key`, which [`super::held`] counts in.
    pub fn generation(&self) -> i64 {
        key_counter(&self.key)
    }

    /// The generation of `previous_key` (0 when there is none).
    pub fn previous_generation(&self) -> i64 {
        self.previous_key.as_deref().map_or(0, key_counter)
    }
}

/// The counter part of a key `{tag}-{counter}`; 0 for a key of another shape.
fn key_counter(key: &str) -> i64 {
    key.rsplit_once('-')
        .and_then(|(_, counter)| counter.parse().ok())
        .unwrap_or(0)
}

/// How a key sent by a client relates to the stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMatch {
    /// The latest key: the client is in step.
    Current(SyncState),
    /// The key before it: the client missed the last response (replay).
    Previous(SyncState),
    /// No state, or a key this state never issued (or forgot).
    Unknown,
}

/// Longest accepted collection name (folder ids are short decimal numbers).
const MAX_COLLECTION_CHARS: usize = 64;

fn state_from_row(row: &Row<'_>) -> rusqlite::Result<SyncState> {
    Ok(SyncState {
        key: row.get(0)?,
        seq: row.get(1)?,
        previous_key: row.get(2)?,
        previous_seq: row.get(3)?,
        data: row.get(4)?,
        previous_data: row.get(5)?,
    })
}

/// The stored state plus the key parts needed to make the next key.
struct StoredState {
    state: SyncState,
    tag: String,
    counter: i64,
}

fn load(
    conn: &Connection,
    device: i64,
    collection: &str,
) -> Result<Option<StoredState>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT sync_key, seq, previous_key, previous_seq, data, previous_data, tag, counter
             FROM sync_states WHERE device = ?1 AND collection = ?2",
        )?
        .query_row(params![device, collection], |row| {
            Ok(StoredState {
                state: state_from_row(row)?,
                tag: row.get(6)?,
                counter: row.get(7)?,
            })
        })
        .optional()?)
}

fn advance_in(
    tx: &Connection,
    device: i64,
    collection: &str,
    from: Option<&str>,
    seq: i64,
    data: &[u8],
) -> Result<(String, KeyStep, i64), StoreError> {
    check_collection(collection)?;
    let stored = load(tx, device, collection)?;
    let (tag, counter, previous, step) = match (from, stored) {
        (None, _) => (random_hex(4), 1, None, KeyStep::Fresh),
        (Some(from_key), Some(stored)) => {
            let next = stored.counter.saturating_add(1);
            if stored.state.key == from_key {
                let step = KeyStep::Current(stored.counter);
                let previous = (stored.state.key, stored.state.seq, stored.state.data);
                (stored.tag, next, Some(previous), step)
            } else if stored.state.previous_key.as_deref() == Some(from_key) {
                let step = KeyStep::Replay {
                    previous: stored.state.previous_generation(),
                    lost: stored.counter,
                };
                let previous = stored
                    .state
                    .previous_key
                    .zip(stored.state.previous_seq)
                    .map(|(key, seq)| (key, seq, stored.state.previous_data.unwrap_or_default()));
                (stored.tag, next, previous, step)
            } else {
                return Err(StoreError::Conflict(format!(
                    "sync key {from_key:?} is not current for collection {collection:?}"
                )));
            }
        }
        (Some(from_key), None) => {
            return Err(StoreError::Conflict(format!(
                "sync key {from_key:?} given but collection {collection:?} has no sync state"
            )));
        }
    };
    let key = format!("{tag}-{counter}");
    let (previous_key, previous_seq, previous_data) = match previous {
        Some((key, seq, data)) => (Some(key), Some(seq), Some(data)),
        None => (None, None, None),
    };
    tx.execute(
        "INSERT OR REPLACE INTO sync_states
                 (device, collection, tag, counter, sync_key, seq, data,
                  previous_key, previous_seq, previous_data, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            device,
            collection,
            tag,
            counter,
            key,
            seq,
            data,
            previous_key,
            previous_seq,
            previous_data,
            now()
        ],
    )
    .map_err(|e| {
        if e.sqlite_error().map(|s| s.extended_code)
            == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
        {
            StoreError::NotFound(format!("device {device}"))
        } else {
            StoreError::Sqlite(e)
        }
    })?;
    Ok((key, step, counter))
}

fn check_collection(collection: &str) -> Result<(), StoreError> {
    if collection.chars().count() > MAX_COLLECTION_CHARS {
        return Err(StoreError::Invalid(format!(
            "the collection id is longer than {MAX_COLLECTION_CHARS} characters"
        )));
    }
    Ok(())
}

impl Store {
    /// The sync state of a collection on a device, if any.
    pub fn sync_state(
        &self,
        device: i64,
        collection: &str,
    ) -> Result<Option<SyncState>, StoreError> {
        Ok(load(&self.conn, device, collection)?.map(|stored| stored.state))
    }

    /// Classifies a key sent by the client.
    pub fn match_sync_key(
        &self,
        device: i64,
        collection: &str,
        key: &str,
    ) -> Result<KeyMatch, StoreError> {
        let Some(stored) = load(&self.conn, device, collection)? else {
            return Ok(KeyMatch::Unknown);
        };
        let state = stored.state;
        Ok(if state.key == key {
            KeyMatch::Current(state)
        } else if state.previous_key.as_deref() == Some(key) {
            KeyMatch::Previous(state)
        } else {
            KeyMatch::Unknown
        })
    }

    /// Issues a new key for `seq` with command `data` and returns it.
    ///
    /// - `from = None`: a fresh start (e.g. the client sent SyncKey 0); any
    ///   old state is replaced and no previous key is kept.
    /// - `from = Some(current key)`: the current key becomes the previous one.
    /// - `from = Some(previous key)`: a replay; the previous key stays, the
    ///   key of the lost response is replaced.
    /// - any other `from` (or no state): [`StoreError::Conflict`], the
    ///   client's key is stale.
    pub fn advance_sync_key(
        &self,
        device: i64,
        collection: &str,
        from: Option<&str>,
        seq: i64,
        data: &[u8],
    ) -> Result<String, StoreError> {
        let tx = self.write_transaction()?;
        let (key, _, _) = advance_in(&tx, device, collection, from, seq, data)?;
        tx.commit()?;
        Ok(key)
    }

    /// [`Store::advance_sync_key`] for a Sync collection: in the same transaction, the set
    /// of items the device holds ([`super::held`]) moves to the new key with `held`, the
    /// answer's Adds and removals.
    pub fn advance_collection_key(
        &self,
        device: i64,
        collection: &str,
        from: Option<&str>,
        seq: i64,
        data: &[u8],
        held: &HeldChanges,
    ) -> Result<String, StoreError> {
        let tx = self.write_transaction()?;
        let (key, step, generation) = advance_in(&tx, device, collection, from, seq, data)?;
        held::update_in(&tx, device, collection, step, generation, held)?;
        tx.commit()?;
        Ok(key)
    }

    /// Every collection the device keeps a sync state for: (collection, current key, time of
    /// the last change of state), ordered by collection (`""`, the hierarchy, first).
    pub fn sync_states_of(&self, device: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT collection, sync_key, updated FROM sync_states WHERE device = ?1
             ORDER BY length(collection), collection",
        )?;
        let states = statement
            .query_map([device], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(states)
    }

    /// Forgets the sync state of one collection on a device.
    pub fn reset_sync_state(&self, device: i64, collection: &str) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        tx.execute(
            "DELETE FROM sync_states WHERE device = ?1 AND collection = ?2",
            params![device, collection],
        )?;
        held::forget_in(&tx, device, collection)?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets every sync state of a device (FolderSync with SyncKey 0 starts
    /// the whole device over).
    pub fn reset_all_sync_states(&self, device: i64) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        tx.execute("DELETE FROM sync_states WHERE device = ?1", [device])?;
        tx.execute("DELETE FROM sync_held WHERE device = ?1", [device])?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Store, i64) {
        super::super::test_support::store_with_device("sam@example.com")
    }

    #[test]
    fn fresh_start_then_advance_keeps_previous() {
        let (store, device) = setup();
        assert!(store.sync_state(device, "").unwrap().is_none());
        assert_eq!(
            store.match_sync_key(device, "", "0").unwrap(),
            KeyMatch::Unknown
        );

        let first = store
            .advance_sync_key(device, "", None, 1, b"opts-1")
            .unwrap();
        assert!(first.len() <= 64);
        assert!(first.ends_with("-1"));
        let state = store.sync_state(device, "").unwrap().unwrap();
        assert_eq!(state.key, first);
        assert_eq!(state.seq, 1);
        assert_eq!(state.data, b"opts-1");
        assert_eq!(state.previous_key, None);

        let second = store
            .advance_sync_key(device, "", Some(&first), 5, b"opts-2")
            .unwrap();
        assert_ne!(second, first);
        let state = store.sync_state(device, "").unwrap().unwrap();
        assert_eq!(state.key, second);
        assert_eq!(state.seq, 5);
        assert_eq!(state.previous_key.as_deref(), Some(first.as_str()));
        assert_eq!(state.previous_seq, Some(1));
        assert_eq!(state.previous_data.as_deref(), Some(&b"opts-1"[..]));

        assert!(matches!(
            store.match_sync_key(device, "", &second).unwrap(),
            KeyMatch::Current(s) if s.key == second
        ));
        assert!(matches!(
            store.match_sync_key(device, "", &first).unwrap(),
            KeyMatch::Previous(s) if s.previous_seq == Some(1)
        ));
        assert_eq!(
            store.match_sync_key(device, "", "bogus").unwrap(),
            KeyMatch::Unknown
        );
    }

    #[test]
    fn replaying_the_previous_key_replaces_the_lost_one() {
        let (store, device) = setup();
        let k1 = store.advance_sync_key(device, "7", None, 10, b"").unwrap();
        let k2 = store
            .advance_sync_key(device, "7", Some(&k1), 20, b"")
            .unwrap();
        // The response carrying k2 was lost; the client repeats k1.
        let k3 = store
            .advance_sync_key(device, "7", Some(&k1), 25, b"")
            .unwrap();
        assert_ne!(k3, k2);
        let state = store.sync_state(device, "7").unwrap().unwrap();
        assert_eq!(state.key, k3);
        assert_eq!(state.seq, 25);
        assert_eq!(state.previous_key.as_deref(), Some(k1.as_str()));
        assert_eq!(state.previous_seq, Some(10));
        assert_eq!(
            store.match_sync_key(device, "7", &k2).unwrap(),
            KeyMatch::Unknown
        );
        // Stale keys are refused and change nothing.
        assert!(matches!(
            store.advance_sync_key(device, "7", Some(&k2), 30, b""),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.sync_state(device, "7").unwrap().unwrap(), state);
    }

    #[test]
    fn fresh_start_invalidates_old_keys() {
        let (store, device) = setup();
        let k1 = store.advance_sync_key(device, "", None, 1, b"").unwrap();
        let k2 = store
            .advance_sync_key(device, "", Some(&k1), 2, b"")
            .unwrap();
        let restart = store.advance_sync_key(device, "", None, 2, b"").unwrap();
        let state = store.sync_state(device, "").unwrap().unwrap();
        assert_eq!(state.key, restart);
        assert_eq!(state.previous_key, None);
        assert_eq!(
            store.match_sync_key(device, "", &k1).unwrap(),
            KeyMatch::Unknown
        );
        assert_eq!(
            store.match_sync_key(device, "", &k2).unwrap(),
            KeyMatch::Unknown
        );
    }

    #[test]
    fn collections_are_independent_and_resettable() {
        let (store, device) = setup();
        let hierarchy = store.advance_sync_key(device, "", None, 1, b"").unwrap();
        let inbox = store.advance_sync_key(device, "3", None, 1, b"").unwrap();
        assert_eq!(
            store.match_sync_key(device, "3", &hierarchy).unwrap(),
            KeyMatch::Unknown
        );
        store.reset_sync_state(device, "3").unwrap();
        assert_eq!(
            store.match_sync_key(device, "3", &inbox).unwrap(),
            KeyMatch::Unknown
        );
        assert!(matches!(
            store.match_sync_key(device, "", &hierarchy).unwrap(),
            KeyMatch::Current(_)
        ));
        // Resetting what is not there is fine.
        store.reset_sync_state(device, "3").unwrap();
        store.advance_sync_key(device, "4", None, 1, b"").unwrap();
        store.reset_all_sync_states(device).unwrap();
        assert!(store.sync_state(device, "").unwrap().is_none());
        assert!(store.sync_state(device, "4").unwrap().is_none());
    }

    #[test]
    fn advancing_without_state_or_device_fails() {
        let (store, device) = setup();
        assert!(matches!(
            store.advance_sync_key(device, "", Some("abc-1"), 1, b""),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.advance_sync_key(device + 1000, "", None, 1, b""),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.advance_sync_key(device, &"9".repeat(65), None, 1, b""),
            Err(StoreError::Invalid(_))
        ));
    }
}
