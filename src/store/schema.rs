//! The database schema and its migrations.
//!
//! Migrations are an ordered list of SQL steps in [`MIGRATIONS`]; step *n*
//! (counting from 1) brings the database to `PRAGMA user_version` *n*. Each
//! step runs in its own transaction together with the `user_version` bump, so
//! a database is always at exactly one known version. A database whose
//! version is higher than the number of steps was written by a newer easd and
//! is refused. Never edit a released step: append a new one.
//!
//! # Version 1: accounts, devices, folders, sync state, settings
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
//!
//! # Version 2: items and mail
//!
//! **`folders`** gains `item_seq` INTEGER NOT NULL DEFAULT 0 — the folder's item change
//! counter: every item write in the folder bumps it once (see `store::items`).
//!
//! **`items`** — everything inside folders, whatever its class.
//! - `id` INTEGER PRIMARY KEY AUTOINCREMENT — the ServerId; a moved item gets a new id
//! - `user_id` INTEGER NOT NULL → `users(id)` ON DELETE CASCADE
//! - `folder_id` INTEGER NOT NULL → `folders(id)` ON DELETE CASCADE
//! - `class` TEXT NOT NULL — `Email`, `Contacts`, `Calendar`, `Tasks` or `Notes` (CHECK)
//! - `created_seq` INTEGER NOT NULL — folder `item_seq` of the change that put it there
//! - `changed_seq` INTEGER NOT NULL — folder `item_seq` of its latest change
//! - `sort_date` INTEGER NULL — received date (mail), start (events): FilterType windows
//! - index `items_changes` (`folder_id`, `changed_seq`);
//!   index `items_window` (`folder_id`, `sort_date`)
//! - Per-class tables reference `items(id) ON DELETE CASCADE ON UPDATE CASCADE`, so a move
//!   (which renumbers the item) carries them along.
//!
//! **`item_tombstones`** — deleted or moved-away items, so Sync can report deletions.
//! - `folder_id` INTEGER NOT NULL → `folders(id)` ON DELETE CASCADE
//! - `item_id` INTEGER NOT NULL — the id the item had in that folder
//! - `created_seq` INTEGER NOT NULL — copied from the item
//! - `seq` INTEGER NOT NULL — folder `item_seq` of the deletion
//! - PRIMARY KEY (`folder_id`, `seq`) (one change per counter value); WITHOUT ROWID
//!
//! **`message_blobs`** — the exact RFC 5322 bytes of each message, read incrementally.
//! - `id` INTEGER PRIMARY KEY; `raw` BLOB NOT NULL
//! - Kept apart from `messages` so that reading or renumbering a message's metadata never
//!   walks or rewrites a blob's overflow pages; deleted by trigger `messages_drop_blob`.
//!
//! **`messages`** — the Email class data of an item.
//! - `item_id` INTEGER PRIMARY KEY → `items(id)` ON DELETE CASCADE ON UPDATE CASCADE
//! - `blob_id` INTEGER NOT NULL → `message_blobs(id)`; `size` INTEGER NOT NULL (bytes of raw);
//!   `content_sha256` BLOB NOT NULL (import de-duplication, index `messages_content`)
//! - `subject`, `from_addr`, `sender`, `to_addrs`, `cc_addrs`, `reply_to`, `display_to` TEXT
//!   NOT NULL — decoded; address lists formatted `"Name" <addr>, …`; `''` when absent
//! - `date_sent` INTEGER NULL (Date header); `date_received` INTEGER NOT NULL
//! - `message_id`, `in_reply_to` TEXT NULL; `references_ids` TEXT NOT NULL (space-separated,
//!   root first) — index `messages_message_id` (`message_id`) for threading
//! - `importance` INTEGER NOT NULL (0 low, 1 normal, 2 high); `read` INTEGER NOT NULL
//! - `flag_status` INTEGER NOT NULL (0 none, 1 complete, 2 active), `flag_type`,
//!   `flag_subject`, `flag_sub_ordinal_date` TEXT NULL, `flag_start_date`,
//!   `flag_utc_start_date`, `flag_due_date`, `flag_utc_due_date`, `flag_date_completed`,
//!   `flag_complete_time`, `flag_reminder_time`, `flag_ordinal_date` INTEGER NULL,
//!   `flag_reminder_set` INTEGER NOT NULL
//! - `categories` TEXT NOT NULL — newline-separated
//! - `last_verb` INTEGER NULL (1 reply, 2 reply all, 3 forward), `last_verb_time` INTEGER NULL
//! - `conversation_id` BLOB NOT NULL (16 bytes), `conversation_index` BLOB NOT NULL (22 + 5n)
//! - `content_class`, `message_class` TEXT NOT NULL; `internet_cpid`, `native_body_type`
//!   INTEGER NOT NULL; `received_as_bcc`, `has_attachments`, `mime_broken` INTEGER NOT NULL
//! - `preview` TEXT NOT NULL — up to 255 characters of text
//!
//! **`message_bodies`** — where each rendering's text parts are in the raw message.
//! - `item_id` → `items(id)` CASCADE (delete and update); `kind` TEXT (`plain`, `html`,
//!   `calendar`); `position` INTEGER — PRIMARY KEY (`item_id`, `kind`, `position`)
//! - `content_type` TEXT NOT NULL, `charset` TEXT NULL, `size` INTEGER NOT NULL (UTF-8 bytes)
//! - `mime_part_path` TEXT NOT NULL (IMAP section), `transfer_encoding` TEXT NOT NULL,
//!   `body_start`, `body_end` INTEGER NOT NULL (byte range of the encoded body in raw)
//!
//! **`attachments`** — the attachments EAS lists, in order.
//! - `item_id` → `items(id)` CASCADE (delete and update); `position` INTEGER (0-based) —
//!   PRIMARY KEY (`item_id`, `position`)
//! - `display_name`, `content_type` TEXT NOT NULL; `content_id`, `content_location` TEXT NULL
//! - `is_inline` INTEGER NOT NULL; `size` INTEGER NOT NULL (decoded); `method` INTEGER NOT NULL
//!   (EAS AttMethod: 1 file, 5 embedded message)
//! - `mime_part_path`, `transfer_encoding` TEXT NOT NULL; `body_start`, `body_end` INTEGER
//!
//! # Version 3: Sync client ids
//!
//! **`sync_client_ids`** — the ServerId each client Add created, so that a repeated Add (the
//! client lost the answer) finds its item instead of creating it twice (see `store::sync_items`).
//! - `device` INTEGER NOT NULL → `devices(id)` ON DELETE CASCADE; `collection` TEXT NOT NULL
//!   (the folder id as text); `client_id` TEXT NOT NULL — PRIMARY KEY of the three, WITHOUT ROWID
//! - `item_id` INTEGER NOT NULL — the created item (not a foreign key: a lookup checks it is
//!   still there, and moves renumber items)
//! - `created` INTEGER NOT NULL

//!
//! # Version 4: devices and Settings
//!
//! **`devices`** gains what the device tells in Settings DeviceInformation (and, 14.1+,
//! Provision): `model`, `imei`, `friendly_name`, `os`, `os_language`, `phone_number`,
//! `mobile_operator`, `user_agent_info` TEXT NOT NULL DEFAULT `''`; and `recovery_password`
//! TEXT NULL (Settings DevicePassword, kept as given so the administrator can read it out).
//!
//! **`device_settings`** — the administrator's per-device settings (`easd device set`).
//! - `device` → `devices(id)` CASCADE; `key` TEXT; `value` TEXT — PRIMARY KEY (`device`,
//!   `key`), WITHOUT ROWID; an absent key has its default (see `store::device_settings`)
//!
//! **`oof`** — a user's out-of-office settings (Settings Oof Set).
//! - `user_id` PRIMARY KEY → `users(id)` CASCADE; `state` INTEGER (0 off, 1 on, 2 scheduled);
//!   `start_time`, `end_time` INTEGER NULL (Unix seconds, for state 2)
//! - for each audience (`internal_`, `known_` = known external, `unknown_` = unknown external):
//!   `…enabled` INTEGER, `…reply` TEXT, `…body_type` TEXT (`Text` or `HTML`)
//! - `updated` INTEGER
//!
//! **`oof_replied`** — senders already answered in the current out-of-office period; emptied
//! by every Oof Set. `user_id` → `users(id)` CASCADE, `sender` TEXT (lower-case address),
//! `sent` INTEGER — PRIMARY KEY (`user_id`, `sender`), WITHOUT ROWID
//!
//! # Version 5: security policies, provisioning and remote wipe
//!
//! **`policy_settings`** — the customised settings of each policy level (`easd policy set`);
//! a level without rows inherits from the one above. **`devices`** gains each device's
//! provisioning state (`policy_key`, `policy_hash`, `policy_status`, `provisioned_at`,
//! `pending_policy_key`, `pending_policy_hash`, `keyless_asked`, `policy_notice`) and its
//! remote wipe (`wipe_status`, `wipe_account_only`, `wipe_requested`, `wipe_done`); the
//! constant `POLICIES` below describes each column.
//!
//! # Version 6: what each device holds
//!
//! **`sync_held`** — per device and Sync collection, the ServerIds the server told the device
//! of, with the sync-key counters that added and removed them (see `store::held`); the
//! constant `HELD` below describes each column.
//!
//! # Version 7: property records (contacts, tasks, notes)
//!
//! **`item_records`** — the data of an item whose class is a property table (see
//! `store::records`): `item_id` INTEGER PRIMARY KEY → `items(id)` ON DELETE CASCADE ON UPDATE
//! CASCADE; `record` BLOB NOT NULL — the item's properties in the neutral binary format of
//! `store::records` (no WBXML).
//!
//! # Version 9: the address book (GAL)
//!
//! **`users`** gains the fields an administrator sets (`phone`, `mobile_phone`, `title`,
//! `company`, `office` TEXT NOT NULL DEFAULT '', `photo` BLOB NULL) and index `users_domain`
//! (`domain_id`, `email`). **`gal_published_folders`** — contact folders an administrator
//! published to the owner's domain: `folder_id` INTEGER PRIMARY KEY → `folders(id)` ON DELETE
//! CASCADE; `published` INTEGER NOT NULL (when).
//!
//! # Version 10: S/MIME certificates of users
//!
//! **`user_certificates`** — certificates an administrator (`easd user cert add`) or the
//! user (web page) stored for a user; ResolveRecipients hands them to senders.
//! - `id` INTEGER PRIMARY KEY AUTOINCREMENT
//! - `user_id` INTEGER NOT NULL → `users(id)` ON DELETE CASCADE
//! - `der` BLOB NOT NULL — the X.509 certificate as DER
//! - `fingerprint` TEXT NOT NULL — SHA-256 of `der`, lower-case hex
//! - `not_before`, `not_after` INTEGER NOT NULL — its validity (Unix seconds, read at upload)
//! - `for_smime` INTEGER NOT NULL — 1 when its key usage allows mail protection
//! - `added` INTEGER NOT NULL; `added_by` TEXT NOT NULL — `admin` or `user`
//! - UNIQUE (`user_id`, `fingerprint`)
//!
//! # Version 11: the full-text index of mail
//!
//! **`message_text`** (FTS5) and **`message_text_backlog`**; see the constant `MAIL_SEARCH`
//! below and `store::mail_search`.
//!
//! # Version 12: the outbox
//!
//! **`outbox`** — mail the server sends on a user's behalf (meeting invitations and
//! cancellations, meeting answers, out-of-office replies), queued in the transaction of the
//! write that owes it and removed once the submission command took it (`store::outbox`).
//! - `id` INTEGER PRIMARY KEY AUTOINCREMENT
//! - `user_id` INTEGER NOT NULL → `users(id)` ON DELETE CASCADE — whose mail it is
//! - `sender` TEXT NOT NULL — the envelope sender (`<>` for out-of-office replies)
//! - `recipients` TEXT NOT NULL — the envelope recipients, one per line
//! - `message` BLOB NOT NULL — the raw RFC 5322 message
//! - `created` INTEGER NOT NULL; `attempts` INTEGER NOT NULL DEFAULT 0
//! - `next_attempt` INTEGER NOT NULL — when it is due; `last_error` TEXT NULL
//! - index `outbox_due` (`next_attempt`)
//!
//! # Version 13: finding confirmed removals of held items
//!
//! **`sync_held`** gains the partial index `sync_held_removed` (`device`, `collection`,
//! `removed`) over the rows a device was told to remove: committing a sync key deletes the
//! removals the device confirmed without reading every item the device holds.
//!
//! # Version 14: fewer merges of the full-text index
//!
//! **`message_text`** merges 8 segments of a level at a time (FTS5 `automerge`, kept in
//! `message_text_config`); see the constant `SEARCH_MERGES` below.

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

/// Schema version 2: items with per-folder change tracking, and mail.
const V2: &str = "
ALTER TABLE folders ADD COLUMN item_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    class TEXT NOT NULL CHECK (class IN ('Email', 'Contacts', 'Calendar', 'Tasks', 'Notes')),
    created_seq INTEGER NOT NULL,
    changed_seq INTEGER NOT NULL,
    sort_date INTEGER
);
CREATE INDEX items_changes ON items(folder_id, changed_seq);
CREATE INDEX items_window ON items(folder_id, sort_date);

CREATE TABLE item_tombstones (
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    created_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (folder_id, seq)
) WITHOUT ROWID;

CREATE TABLE message_blobs (
    id INTEGER PRIMARY KEY,
    raw BLOB NOT NULL
);

CREATE TABLE messages (
    item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE ON UPDATE CASCADE,
    blob_id INTEGER NOT NULL REFERENCES message_blobs(id),
    size INTEGER NOT NULL,
    content_sha256 BLOB NOT NULL,
    subject TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    sender TEXT NOT NULL,
    to_addrs TEXT NOT NULL,
    cc_addrs TEXT NOT NULL,
    reply_to TEXT NOT NULL,
    display_to TEXT NOT NULL,
    date_sent INTEGER,
    date_received INTEGER NOT NULL,
    message_id TEXT,
    in_reply_to TEXT,
    references_ids TEXT NOT NULL,
    importance INTEGER NOT NULL,
    read INTEGER NOT NULL,
    flag_status INTEGER NOT NULL DEFAULT 0,
    flag_type TEXT,
    flag_subject TEXT,
    flag_start_date INTEGER,
    flag_utc_start_date INTEGER,
    flag_due_date INTEGER,
    flag_utc_due_date INTEGER,
    flag_date_completed INTEGER,
    flag_complete_time INTEGER,
    flag_reminder_set INTEGER NOT NULL DEFAULT 0,
    flag_reminder_time INTEGER,
    flag_ordinal_date INTEGER,
    flag_sub_ordinal_date TEXT,
    categories TEXT NOT NULL DEFAULT '',
    last_verb INTEGER,
    last_verb_time INTEGER,
    conversation_id BLOB NOT NULL,
    conversation_index BLOB NOT NULL,
    content_class TEXT NOT NULL,
    message_class TEXT NOT NULL,
    internet_cpid INTEGER NOT NULL,
    native_body_type INTEGER NOT NULL,
    received_as_bcc INTEGER NOT NULL,
    has_attachments INTEGER NOT NULL,
    mime_broken INTEGER NOT NULL,
    preview TEXT NOT NULL
);
CREATE INDEX messages_message_id ON messages(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX messages_content ON messages(content_sha256);
CREATE INDEX messages_blob ON messages(blob_id);

CREATE TRIGGER messages_drop_blob AFTER DELETE ON messages BEGIN
    DELETE FROM message_blobs WHERE id = OLD.blob_id;
END;

CREATE TABLE message_bodies (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE ON UPDATE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('plain', 'html', 'calendar')),
    position INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    charset TEXT,
    size INTEGER NOT NULL,
    mime_part_path TEXT NOT NULL,
    transfer_encoding TEXT NOT NULL,
    body_start INTEGER NOT NULL,
    body_end INTEGER NOT NULL,
    PRIMARY KEY (item_id, kind, position)
) WITHOUT ROWID;

CREATE TABLE attachments (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE ON UPDATE CASCADE,
    position INTEGER NOT NULL,
    display_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_id TEXT,
    content_location TEXT,
    is_inline INTEGER NOT NULL,
    size INTEGER NOT NULL,
    method INTEGER NOT NULL,
    mime_part_path TEXT NOT NULL,
    transfer_encoding TEXT NOT NULL,
    body_start INTEGER NOT NULL,
    body_end INTEGER NOT NULL,
    PRIMARY KEY (item_id, position)
) WITHOUT ROWID;
";

/// Schema version 3: the ServerIds of client Adds (Sync).
const V3: &str = "
CREATE TABLE sync_client_ids (
    device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    client_id TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (device, collection, client_id)
) WITHOUT ROWID;
";

/// Device management and Settings: what devices tell about themselves (Settings
/// DeviceInformation), their recovery password (Settings DevicePassword), the administrator's
/// per-device settings, and each user's out-of-office state with the senders already answered.
const DEVICES_AND_SETTINGS: &str = "
ALTER TABLE devices ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN imei TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN friendly_name TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN os TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN os_language TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN phone_number TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN mobile_operator TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN user_agent_info TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN recovery_password TEXT;

CREATE TABLE device_settings (
    device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (device, key)
) WITHOUT ROWID;

CREATE TABLE oof (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    state INTEGER NOT NULL,
    start_time INTEGER,
    end_time INTEGER,
    internal_enabled INTEGER NOT NULL,
    internal_reply TEXT NOT NULL,
    internal_body_type TEXT NOT NULL,
    known_enabled INTEGER NOT NULL,
    known_reply TEXT NOT NULL,
    known_body_type TEXT NOT NULL,
    unknown_enabled INTEGER NOT NULL,
    unknown_reply TEXT NOT NULL,
    unknown_body_type TEXT NOT NULL,
    updated INTEGER NOT NULL
);

CREATE TABLE oof_replied (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sender TEXT NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (user_id, sender)
) WITHOUT ROWID;
";

/// Schema version 5: security policies per level, and each device's provisioning state and
/// remote wipe state (the DeviceInformation columns of version 4 are shared with Provision).
///
/// **`policy_settings`** — one customised policy setting of one level.
/// - `level` TEXT NOT NULL — `global`, `domain`, `user` or `device`
/// - `scope` TEXT NOT NULL — `""` (global), the domain name, the user's e-mail address, or
///   the client DeviceId (lower-case names; the DeviceId as the client sends it)
/// - `key` TEXT NOT NULL — the setting's name (`policy::SETTINGS`), `value` TEXT NOT NULL
/// - `updated` INTEGER NOT NULL; PRIMARY KEY (`level`, `scope`, `key`), WITHOUT ROWID
///
/// **`devices`** gains:
/// - `policy_key` INTEGER NULL — the final key of the latest acknowledged policy
/// - `policy_hash` TEXT NOT NULL DEFAULT '' — `EffectivePolicy::hash` of that policy
/// - `policy_status` INTEGER NULL — the device's acknowledgment Status (1 applied, 2 partly,
///   3 not applied, 4 externally managed)
/// - `provisioned_at` INTEGER NULL — when it acknowledged
/// - `pending_policy_key` INTEGER NULL, `pending_policy_hash` TEXT NULL — the temporary key
///   of phase one and the policy it was issued for
/// - `keyless_asked` INTEGER NOT NULL DEFAULT 0 — 1 once told to provision while sending no
///   policy key at all (the second such request marks the device non-provisionable)
/// - `policy_notice` TEXT NOT NULL DEFAULT '' — the last refusal the user was mailed about
///   (`non-provisionable`, `declined`), so each is mailed once
/// - `wipe_status` TEXT NOT NULL DEFAULT 'none' — `none`, `waiting`, `wiped`, `unsupported`
/// - `wipe_account_only` INTEGER NOT NULL DEFAULT 0; `wipe_requested`, `wipe_done` INTEGER NULL
const POLICIES: &str = "
CREATE TABLE policy_settings (
    level TEXT NOT NULL CHECK (level IN ('global', 'domain', 'user', 'device')),
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (level, scope, key)
) WITHOUT ROWID;

ALTER TABLE devices ADD COLUMN policy_key INTEGER;
ALTER TABLE devices ADD COLUMN policy_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN policy_status INTEGER;
ALTER TABLE devices ADD COLUMN provisioned_at INTEGER;
ALTER TABLE devices ADD COLUMN pending_policy_key INTEGER;
ALTER TABLE devices ADD COLUMN pending_policy_hash TEXT;
ALTER TABLE devices ADD COLUMN keyless_asked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN policy_notice TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN wipe_status TEXT NOT NULL DEFAULT 'none'
    CHECK (wipe_status IN ('none', 'waiting', 'wiped', 'unsupported'));
ALTER TABLE devices ADD COLUMN wipe_account_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN wipe_requested INTEGER;
ALTER TABLE devices ADD COLUMN wipe_done INTEGER;
";

/// Schema version 6: what each device holds (see `store::held`).
///
/// **`sync_held`** — per device and Sync collection, the items the server told the device of.
/// - `device` INTEGER NOT NULL → `devices(id)` ON DELETE CASCADE; `collection` TEXT NOT NULL
///   (the folder id as text); `item_id` INTEGER NOT NULL — PRIMARY KEY of the three, WITHOUT
///   ROWID (not a foreign key: a deleted item stays held until the device is told)
/// - `added` INTEGER NOT NULL — the sync-key counter of the answer that told the device
/// - `removed` INTEGER NULL — the counter of the answer that took it back (Delete,
///   SoftDelete); kept until the device confirms that answer with its next key
///
/// Existing sync states are carried over as the counters had them: a device holds the items
/// created up to its key's counter value and inside its FilterType cutoff, from generation 0
/// (so a replay of its previous key still sees them).
const HELD: &str = "
CREATE TABLE sync_held (
    device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    added INTEGER NOT NULL,
    removed INTEGER,
    PRIMARY KEY (device, collection, item_id)
) WITHOUT ROWID;

INSERT INTO sync_held (device, collection, item_id, added, removed)
SELECT s.device, s.collection, i.id, 0, NULL
FROM sync_states AS s
JOIN items AS i ON i.folder_id = CAST(s.collection AS INTEGER)
WHERE s.collection GLOB '[0-9]*'
  AND i.created_seq <= s.seq
  AND (i.sort_date IS NULL OR i.sort_date >= coalesce(
        CAST(nullif(substr(CAST(s.data AS TEXT),
                instr(CAST(s.data AS TEXT), 'cutoff=') + 7,
                instr(substr(CAST(s.data AS TEXT), instr(CAST(s.data AS TEXT), 'cutoff=') + 7),
                      char(10)) - 1), '') AS INTEGER),
        i.sort_date));
";

/// Schema version 7: property records of contacts, tasks and notes.
const RECORDS: &str = "
CREATE TABLE item_records (
    item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE ON UPDATE CASCADE,
    record BLOB NOT NULL
);
";

/// Schema version 8: the web page's sign-in sessions and the admin mark of users.
const WEB_SESSIONS: &str = "
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_user ON web_sessions(user_id);
";

/// Schema version 9: the address book (GAL) — fields an administrator sets for users, and
/// the contact folders published to the owner's domain.
const GAL: &str = "
ALTER TABLE users ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN mobile_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN company TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN office TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN photo BLOB;
CREATE INDEX users_domain ON users(domain_id, email);
CREATE TABLE gal_published_folders (
    folder_id INTEGER PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE,
    published INTEGER NOT NULL
);
";

/// Schema version 10: S/MIME certificates of users (ResolveRecipients CertificateRetrieval).
const USER_CERTIFICATES: &str = "
CREATE TABLE user_certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    der BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    for_smime INTEGER NOT NULL,
    added INTEGER NOT NULL,
    added_by TEXT NOT NULL,
    UNIQUE (user_id, fingerprint)
);
";

/// Schema version 11: the full-text index of mail (see `store::mail_search`).
///
/// **`message_text`** — FTS5, contentless (`content=''`, `contentless_delete=1`), an index of
/// three-letter prefixes (`prefix='3'`), tokenizer `unicode61 remove_diacritics 2`; columns `subject`, `addresses`, `body`, `attachments`
/// and `scope` (the owner's token `u<user id>`); `rowid` = the message's key (received time
/// × 2^10 + its place among the messages of that second, so rowid order is received order).
///
/// **`message_text_keys`** — `key` INTEGER PRIMARY KEY (a `message_text` rowid), `blob_id`
/// INTEGER NOT NULL UNIQUE (the message's blob, which a move keeps), `folder_id` INTEGER NOT
/// NULL (where the message is; trigger `messages_move_text` follows moves). Trigger
/// `messages_drop_text` removes a message's rows (and its backlog entry) when its `messages`
/// row goes.
///
/// **`message_text_backlog`** — `blob_id` INTEGER PRIMARY KEY: messages filed before this
/// version, indexed in batches by the running server (`Store::index_backlog`).
const MAIL_SEARCH: &str = "
CREATE VIRTUAL TABLE message_text USING fts5(
    subject, addresses, body, attachments, scope,
    content = '', contentless_delete = 1, prefix = '3',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE message_text_keys (
    key INTEGER PRIMARY KEY,
    blob_id INTEGER NOT NULL UNIQUE,
    folder_id INTEGER NOT NULL
);
CREATE TABLE message_text_backlog (blob_id INTEGER PRIMARY KEY);
INSERT INTO message_text_backlog (blob_id) SELECT blob_id FROM messages;
CREATE TRIGGER messages_drop_text AFTER DELETE ON messages BEGIN
    DELETE FROM message_text WHERE rowid =
        (SELECT key FROM message_text_keys WHERE blob_id = OLD.blob_id);
    DELETE FROM message_text_keys WHERE blob_id = OLD.blob_id;
    DELETE FROM message_text_backlog WHERE blob_id = OLD.blob_id;
END;
CREATE TRIGGER messages_move_text AFTER UPDATE OF item_id ON messages BEGIN
    UPDATE message_text_keys
        SET folder_id = (SELECT folder_id FROM items WHERE id = NEW.item_id)
        WHERE blob_id = NEW.blob_id;
END;
";

/// Schema version 12: the outbox of mail the server sends for users (see `store::outbox`).
const OUTBOX: &str = "
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    message BLOB NOT NULL,
    created INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt);
";

/// Schema version 13: the rows of `sync_held` a device was told to remove, indexed. Without
/// it every new sync key read all the items the device holds (10,000 in a big Inbox) to find
/// the few confirmed removals, so each answer of an initial sync cost more than the last.
const HELD_REMOVALS: &str = "
CREATE INDEX sync_held_removed ON sync_held(device, collection, removed)
    WHERE removed IS NOT NULL;
";

/// Schema version 14: the full-text index merges its segments in larger groups. FTS5 writes a
/// segment per indexing transaction and, by default, merges every 4 segments of a level into
/// one of the next level, so each indexed message is written again at every level: indexing
/// 2,000 10 KB messages in batches of 50 wrote 33.7 KiB per message. Merging 8 at a time
/// wrote 18.6 KiB (16 at a time: 18.0) for a few more segments to read per query (bench_search
/// with 10,000 messages: word queries p50 0.9 -> 1.0-1.2 ms of CPU, p99 about 3 ms either way).
const SEARCH_MERGES: &str = "
INSERT INTO message_text (message_text, rank) VALUES ('automerge', 8);
";

/// The migration steps, oldest first. Index `i` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    V1,
    V2,
    V3,
    DEVICES_AND_SETTINGS,
    POLICIES,
    HELD,
    RECORDS,
    WEB_SESSIONS,
    GAL,
    USER_CERTIFICATES,
    MAIL_SEARCH,
    OUTBOX,
    HELD_REMOVALS,
    SEARCH_MERGES,
];

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

/// Rewinds a database to what schema version `version` left, for upgrade tests: every table,
/// view, index and trigger that the first `version` steps do not create is dropped (the rows
/// of what stays are kept) and `user_version` is set, in one transaction. Tests build their
/// fixture with today's code and rewind it, so a new step needs no test edited. Only steps
/// that add objects can be undone this way: if a later step changed an object that stays
/// (`ALTER TABLE ... ADD COLUMN`), this refuses with [`StoreError::Invalid`]; rows a later
/// step rewrote in a table that stays are not restored.
#[doc(hidden)]
pub fn rewind_for_upgrade_tests(conn: &Connection, version: i64) -> Result<(), StoreError> {
    let steps = usize::try_from(version)
        .ok()
        .and_then(|count| MIGRATIONS.get(..count))
        .ok_or_else(|| StoreError::Invalid(format!("no schema version {version}")))?;
    let reference = Connection::open_in_memory()?;
    migrate_with(&reference, steps)?;
    let wanted = schema_objects(&reference)?;
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let mut unwanted = Vec::new();
    for object in schema_objects(&tx)? {
        match wanted
            .iter()
            .find(|w| w.kind == object.kind && w.name == object.name)
        {
            Some(kept) if kept.sql == object.sql => {}
            Some(_) => {
                return Err(StoreError::Invalid(format!(
                    "{} {} was changed after version {version}",
                    object.kind, object.name
                )))
            }
            None => unwanted.push(object),
        }
    }
    // Triggers and views first, then virtual tables (which take their shadow tables with
    // them), then indexes and tables, the latest created first.
    unwanted.sort_by_key(|object| match object.kind.as_str() {
        "trigger" | "view" => 0,
        _ if object.sql.starts_with("CREATE VIRTUAL TABLE") => 1,
        _ => 2,
    });
    for object in unwanted {
        let still_there: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2)",
            [&object.kind, &object.name],
            |row| row.get(0),
        )?;
        if still_there {
            let name = object.name.replace('"', "\"\"");
            tx.execute_batch(&format!("DROP {} \"{name}\"", object.kind.to_uppercase()))?;
        }
    }
    tx.pragma_update(None, "user_version", version)?;
    tx.commit()?;
    Ok(())
}

/// One entry of `sqlite_master` that a migration step made.
struct SchemaObject {
    kind: String,
    name: String,
    sql: String,
}

/// The schema's own objects (not SQLite's internal ones), the latest created first.
fn schema_objects(conn: &Connection) -> Result<Vec<SchemaObject>, StoreError> {
    let mut statement = conn.prepare(
        "SELECT type, name, sql FROM sqlite_master
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql IS NOT NULL
         ORDER BY rowid DESC",
    )?;
    let objects = statement
        .query_map([], |row| {
            Ok(SchemaObject {
                kind: row.get(0)?,
                name: row.get(1)?,
                sql: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(objects)
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
    fn existing_sync_states_hold_what_their_counters_covered() {
        let conn = Connection::open_in_memory().unwrap();
        migrate_with(&conn, &MIGRATIONS[..5]).unwrap();
        conn.execute_batch(
            "INSERT INTO domains (id, name, created) VALUES (1, 'x.org', 0);
             INSERT INTO users (id, domain_id, local_part, email, display_name, password_hash,
                                created) VALUES (1, 1, 'a', 'a@x.org', '', '', 0);
             INSERT INTO devices (id, user_id, device_id, device_type, user_agent,
                                  protocol_version, first_seen, last_seen)
                 VALUES (1, 1, 'D', 't', 'u', '16.1', 0, 0);
             INSERT INTO folders (id, user_id, name, folder_type, created_seq, changed_seq)
                 VALUES (5, 1, 'Inbox', 2, 1, 1);
             INSERT INTO items (id, user_id, folder_id, class, created_seq, changed_seq, sort_date)
                 VALUES (10, 1, 5, 'Email', 1, 1, 5000), (11, 1, 5, 'Email', 2, 2, 100),
                        (12, 1, 5, 'Email', 4, 4, 6000);
             INSERT INTO sync_states (device, collection, tag, counter, sync_key, seq, data,
                                      updated)
                 VALUES (1, '5', 't', 3, 't-3', 3, CAST('filter=3\ncutoff=1000\n' AS BLOB), 0),
                        (1, '', 't', 1, 't-1', 1, X'', 0);",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let held: Vec<(String, i64, i64)> = conn
            .prepare("SELECT collection, item_id, added FROM sync_held ORDER BY item_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // 10: seen and inside the window; 11: outside it; 12: after the key's counter.
        assert_eq!(held, [("5".to_string(), 10, 0)]);
    }

    #[test]
    fn empty_database_is_migrated_to_latest() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        assert_eq!(
            table_names(&conn),
            [
                "attachments",
                "device_settings",
                "devices",
                "domains",
                "folder_tombstones",
                "folders",
                "gal_published_folders",
                "item_records",
                "item_tombstones",
                "items",
                "message_blobs",
                "message_bodies",
                // The full-text index and its FTS5 shadow tables.
                "message_text",
                "message_text_backlog",
                "message_text_config",
                "message_text_data",
                "message_text_docsize",
                "message_text_idx",
                "message_text_keys",
                "messages",
                "oof",
                "oof_replied",
                "outbox",
                "policy_settings",
                "settings",
                "sync_client_ids",
                "sync_held",
                "sync_states",
                "user_certificates",
                "users",
                "web_sessions"
            ]
        );
    }

    #[test]
    fn the_search_index_merges_eight_segments_at_a_time_new_or_upgraded() {
        let automerge = |conn: &Connection| -> i64 {
            conn.query_row(
                "SELECT v FROM message_text_config WHERE k = 'automerge'",
                [],
                |row| row.get(0),
            )
            .unwrap()
        };
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        assert_eq!(automerge(&conn), 8);
        // A database of version 13 (FTS5's default: no row) is upgraded.
        let conn = Connection::open_in_memory().unwrap();
        migrate_with(&conn, &MIGRATIONS[..13]).unwrap();
        let rows: i64 = conn
            .query_row(
                "SELECT count(*) FROM message_text_config WHERE k = 'automerge'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0);
        migrate(&conn).unwrap();
        assert_eq!(automerge(&conn), 8);
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
    fn a_rewound_database_has_the_older_schema_and_keeps_its_rows() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO domains (id, name, created) VALUES (1, 'x.org', 0);
             INSERT INTO users (id, domain_id, local_part, email, display_name, password_hash,
                                created) VALUES (1, 1, 'a', 'a@x.org', '', '', 0);
             INSERT INTO outbox (user_id, sender, recipients, message, created, next_attempt)
                 VALUES (1, 'a@x.org', 'b@y.org', X'00', 0, 0);",
        )
        .unwrap();
        rewind_for_upgrade_tests(&conn, 10).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 10);
        let at_ten = Connection::open_in_memory().unwrap();
        migrate_with(&at_ten, &MIGRATIONS[..10]).unwrap();
        let objects = |conn: &Connection| -> Vec<(String, String)> {
            let mut objects: Vec<_> = schema_objects(conn)
                .unwrap()
                .into_iter()
                .map(|object| (object.kind, object.sql))
                .collect();
            objects.sort();
            objects
        };
        assert_eq!(objects(&conn), objects(&at_ten));
        let users: i64 = conn
            .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
            .unwrap();
        assert_eq!(users, 1);
        // And the real migrations bring it forward again.
        migrate(&conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        assert_eq!(table_names(&conn), {
            let fresh = Connection::open_in_memory().unwrap();
            migrate(&fresh).unwrap();
            table_names(&fresh)
        });
    }

    #[test]
    fn rewinding_past_a_step_that_altered_a_table_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        // Version 4 added columns to `devices`: version 3's table cannot be had back.
        assert!(matches!(
            rewind_for_upgrade_tests(&conn, 3),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(user_version(&conn).unwrap(), latest_version());
        assert!(matches!(
            rewind_for_upgrade_tests(&conn, latest_version() + 1),
            Err(StoreError::Invalid(_))
        ));
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
