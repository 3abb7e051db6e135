//! The database schema and its migrations.
//!
//! Migrations are an ordered list of SQL steps in [`MIGRATIONS`]; step *n*
//! (counting from 1) brings the database to `PRAGMA user_version` *n*. Each
//! step runs in its own transaction together with the `user_version` bump, so
//! a database is always at exactly one known version. A database whose
//! version is higher than the number of steps was written by a newer easd and
//! is refused. Never edit a released step: append a new one.
//!
//! # Schema (version 1)
//!
//! All timestamps are Unix seconds. Ids use `AUTOINCREMENT` so that an id is
//! never reused after a delete (folder ids are handed to phones as ServerIds,
//! device ids key sync state).
//!
//! **`domains`** — mail domains that have (or had) users.
//! - `id` INTEGER PRIMARY KEY AUTOINCREMENT
//! - `name` TEXT NOT NULL UNIQUE — lower-case, e.g. `example.com`
//! - `created` INTEGER NOT NULL
//!
//! **`users`** — one row per mailbox.
//! - `id` INTEGER PRIMARY KEY AUTOINCREMENT
//! - `domain_id` INTEGER NOT NULL → `domains(id)` (RESTRICT: a domain with users cannot go)
//! - `local_part` TEXT NOT NULL — lower-case part before the `@`
//! - `email` TEXT NOT NULL UNIQUE — lower-case `local_part@domain`
//! - `display_name` TEXT NOT NULL
//! - `password_hash` TEXT NOT NULL — argon2id PHC string
//! - `created` INTEGER NOT NULL
//! - `hierarchy_seq` INTEGER NOT NULL DEFAULT 0 — the user's folder-hierarchy change counter
//! - UNIQUE (`domain_id`, `local_part`); index `users_local_part` (`local_part`) for bare-name logins
//!
//! **`devices`** — phones and tablets seen per user.
//! - `id` INTEGER PRIMARY KEY AUTOINCREMENT
//! - `user_id` INTEGER NOT NULL → `users(id)` ON DELETE CASCADE
//! - `device_id` TEXT NOT NULL — the client's DeviceId
//! - `device_type`, `user_agent`, `protocol_version` TEXT NOT NULL
//! - `first_seen`, `last_seen` INTEGER NOT NULL
//! - UNIQUE (`user_id`, `device_id`)
//!
//! **`folders`** — each user's folder hierarchy.
//! - `id` INTEGER PRIMARY KEY AUTOINCREMENT — the ServerId
//! - `user_id` INTEGER NOT NULL → `users(id)` ON DELETE CASCADE
//! - `parent_id` INTEGER NULL → `folders(id)` ON DELETE CASCADE — NULL at top level
//! - `name` TEXT NOT NULL
//! - `folder_type` INTEGER NOT NULL — MS-ASCMD FolderSync Type value
//! - `special` INTEGER NOT NULL DEFAULT 0 — 1 for the default folders (cannot be renamed, moved or deleted)
//! - `created_seq` INTEGER NOT NULL — `hierarchy_seq` of the change that created it
//! - `changed_seq` INTEGER NOT NULL — `hierarchy_seq` of its latest change
//! - UNIQUE index `folders_sibling_name` (`user_id`, `coalesce(parent_id, 0)`, `name COLLATE NOCASE`)
//! - index `folders_changes` (`user_id`, `changed_seq`); index `folders_parent` (`parent_id`)
//!
//! **`folder_tombstones`** — deleted folders, so FolderSync can report deletions.
//! - `user_id` INTEGER NOT NULL → `users(id)` ON DELETE CASCADE
//! - `folder_id` INTEGER NOT NULL — the deleted folder's id
//! - `created_seq` INTEGER NOT NULL — copied from the folder
//! - `seq` INTEGER NOT NULL — `hierarchy_seq` of the deletion
//! - PRIMARY KEY (`user_id`, `folder_id`); index `folder_tombstones_seq` (`user_id`, `seq`);
//!   within one deletion, rows are inserted children first (rowid order)
//!
//! **`sync_states`** — per device and collection, the current and previous sync key.
//! - `device` INTEGER NOT NULL → `devices(id)` ON DELETE CASCADE
//! - `collection` TEXT NOT NULL — `""` for the folder hierarchy, else the folder id as text
//! - `tag` TEXT NOT NULL — random per fresh start, prefix of every key of this state
//! - `counter` INTEGER NOT NULL — suffix of the current key
//! - `sync_key` TEXT NOT NULL, `seq` INTEGER NOT NULL, `data` BLOB NOT NULL — the current key,
//!   the change counter it stands for, opaque command state
//! - `previous_key` TEXT, `previous_seq` INTEGER, `previous_data` BLOB — the key before it (replay)
//! - `updated` INTEGER NOT NULL
//! - PRIMARY KEY (`device`, `collection`), WITHOUT ROWID
//!
//! **`settings`** — runtime key/value settings (`easd config set`).
//! - `key` TEXT PRIMARY KEY, `value` TEXT NOT NULL, `updated` INTEGER NOT NULL; WITHOUT ROWID

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::StoreError;

/// Schema version 1: accounts, devices, folders, sync state, settings.
const V1: &str = "
CREATE TABLE domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    local_part TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    hierarchy_seq INTEGER NOT NULL DEFAULT 0,
    UNIQUE (domain_id, local_part)
);
CREATE INDEX users_local_part ON users(local_part);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    device_type TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    protocol_version TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (user_id, device_id)
);

CREATE TABLE folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES folders(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    folder_type INTEGER NOT NULL,
    special INTEGER NOT NULL DEFAULT 0,
    created_seq INTEGER NOT NULL,
    changed_seq INTEGER NOT NULL
);
CREATE UNIQUE INDEX folders_sibling_name
    ON folders(user_id, coalesce(parent_id, 0), name COLLATE NOCASE);
CREATE INDEX folders_changes ON folders(user_id, changed_seq);
CREATE INDEX folders_parent ON folders(parent_id);

CREATE TABLE folder_tombstones (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    folder_id INTEGER NOT NULL,
    created_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, folder_id)
);
CREATE INDEX folder_tombstones_seq ON folder_tombstones(user_id, seq);

CREATE TABLE sync_states (
    device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    tag TEXT NOT NULL,
    counter INTEGER NOT NULL,
    sync_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    previous_key TEXT,
    previous_seq INTEGER,
    previous_data BLOB,
    updated INTEGER NOT NULL,
    PRIMARY KEY (device, collection)
) WITHOUT ROWID;

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The migration steps, oldest first. Index `i` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1];

/// The schema version this code brings databases to.
pub fn latest_version() -> i64 {
    // The list is a compile-time constant of a handful of entries.
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Reads `PRAGMA user_version`.
pub fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings the database up to [`latest_version`], one transaction per step.
pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    migrate_with(conn, MIGRATIONS)
}

fn migrate_with(conn: &Connection, steps: &[&str]) -> Result<(), StoreError> {
    let known = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    let found = user_version(conn)?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    let first_step = usize::try_from(found).map_err(|_| {
        StoreError::Invalid(format!("database has a negative schema version ({found})"))
    })?;
    for (index, sql) in steps.iter().enumerate().skip(first_step) {
        let target = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        if user_version(&tx)? >= target {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
        log::info!("database schema migrated to version {target}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_names(conn: &Connection) -> Vec<String> {
        let mut statement = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        let names = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<Vec<String>, _>>()
            .unwrap();
        names
    }

    #[test]
    fn empty_database_is_migrated_to_latest() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        assert_eq!(
            table_names(&conn),
            [
                "devices",
                "domains",
                "folder_tombstones",
                "folders",
                "settings",
                "sync_states",
                "users"
            ]
        );
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        let before = conn.total_changes();
        migrate(&conn).unwrap();
        assert_eq!(conn.total_changes(), before);
        assert_eq!(user_version(&conn).unwrap(), latest_version());
    }

    #[test]
    fn steps_apply_incrementally_from_an_older_version() {
        let steps = [
            "CREATE TABLE a (x INTEGER);",
            "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);",
        ];
        let conn = Connection::open_in_memory().unwrap();
        migrate_with(&conn, &steps[..1]).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 1);
        migrate_with(&conn, &steps).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM a", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn failing_step_rolls_back_entirely() {
        let steps = ["CREATE TABLE a (x INTEGER); CREATE TABLE a (x INTEGER);"];
        let conn = Connection::open_in_memory().unwrap();
        assert!(matches!(
            migrate_with(&conn, &steps),
            Err(StoreError::Sqlite(_))
        ));
        assert_eq!(user_version(&conn).unwrap(), 0);
        assert!(table_names(&conn).is_empty());
    }

    #[test]
    fn newer_version_is_too_new() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 42).unwrap();
        match migrate(&conn) {
            Err(StoreError::TooNew { found, known }) => {
                assert_eq!(found, 42);
                assert_eq!(known, latest_version());
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn negative_version_is_invalid() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", -1).unwrap();
        assert!(matches!(migrate(&conn), Err(StoreError::Invalid(_))));
    }
}
