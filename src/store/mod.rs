//! The one SQLite file of easd: opening it with the right pragmas, migrating
//! its schema, and the typed API every other part of the server uses to read
//! and write accounts, devices, folders, sync states, runtime settings, and the
//! items inside folders (mail in [`mail`], change tracking in [`items`]).
//!
//! One [`Store`] wraps one `rusqlite::Connection`; the server is
//! single-threaded, so there is no pool. Every write is exactly one SQLite
//! transaction (either an explicit `BEGIN IMMEDIATE` or a single statement,
//! which SQLite runs as its own transaction), so a crash or power cut never
//! leaves half an operation behind. Several writes that belong together (a meeting
//! mail filed and the calendar it changes) run inside [`Store::atomically`]: each
//! write's own transaction becomes a savepoint of the one around them. The schema
//! lives in [`schema`].

pub mod accounts;
pub mod certificates;
pub mod conversations;
pub mod device_settings;
pub mod devices;
pub mod folders;
pub mod gal;
pub mod held;
pub mod items;
pub mod lock;
pub mod mail;
pub mod mail_search;
pub mod oof;
pub mod outbox;
pub mod policies;
pub mod provisioning;
pub mod records;
pub mod schema;
pub mod sent_mail;
pub mod settings;
pub mod sync_items;
pub mod sync_state;
pub mod web_sessions;

pub use accounts::{decoy_hash, hash_password, verify_password, User, UserId};
pub use device_settings::{DeviceInformation, DeviceSettings};
pub use devices::{Device, DeviceSeen};
pub use folders::{Folder, FolderChange, FolderId, FolderType};
pub use held::{HeldChanges, HeldView};
pub use items::{ChangeKind, Item, ItemChange, ItemChanges, ItemClass, ItemId};
pub use mail::{
    Filed, Flag, FlagStatus, LastVerb, MailBatch, MessageChange, MessageRecord, NewMessage,
    StoredAttachment, StoredBody,
};
pub use mail_search::{MailHit, MailHits, MailQuery};
pub use outbox::{Backoff, Outgoing, QueuedMail};
pub use policies::PolicyLevel;
pub use provisioning::{Provisioning, WipeStatus};
pub use records::{NewRecordItem, Property, PropertyRecord};
pub use sync_items::ClientAdd;
pub use sync_state::{KeyMatch, SyncState};
pub use web_sessions::WebSession;

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use rusqlite::config::DbConfig;
use rusqlite::Connection;

/// How long a statement waits for another process (e.g. `easd` on the
/// command line while the server runs) to release its lock.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Upper bound for the write-ahead log after a checkpoint, so the WAL file
/// does not keep its high-water size on small flash storage.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 4 * 1024 * 1024;

/// Page size of a new database (an existing one keeps the size it was made with). A
/// commit writes every b-tree page it changes whole into the WAL; filing one message
/// changes about a dozen pages besides its own (table and index leaves, the folder's
/// counter, `sqlite_sequence`, the header page), so small pages write less: per
/// delivered 10 KB message 45 KiB instead of 78 KiB with SQLite's default 4 KiB pages
/// before the full-text index, 86 KiB instead of 143 KiB with it
/// (`examples/bench_storage.rs`), while reading a message's row costs the same.
const NEW_DATABASE_PAGE_SIZE: i64 = 1024;

/// Prepared statements kept per connection (`prepare_cached`). rusqlite keeps 16 by default,
/// fewer than one Sync request uses (auth, policy, device, sync state, items, messages,
/// bodies, attachments, held set ...), so a request evicted and re-compiled its own
/// statements. A compiled statement costs a few KiB; the server's distinct statements fit.
const STATEMENT_CACHE_CAPACITY: usize = 256;

/// Tuning knobs for [`Store::open_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite page cache size in KiB (per connection).
    pub cache_kib: u32,
}

impl Default for StoreOptions {
    /// A small cache (2 MiB): routers have little RAM and the working set of a
    /// household server is tiny.
    fn default() -> Self {
        StoreOptions { cache_kib: 2048 }
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug)]
pub enum StoreError {
    /// An error reported by SQLite.
    Sqlite(rusqlite::Error),
    /// The named thing does not exist (message says what).
    NotFound(String),
    /// The write would clash with existing data (duplicate name, stale key).
    Conflict(String),
    /// The input was rejected (message says why).
    Invalid(String),
    /// The database was written by a newer easd whose schema this code does
    /// not know.
    TooNew { found: i64, known: i64 },
    /// Creating the database directory or file failed.
    Io(std::io::Error),
    /// A write was attempted inside a [`ReadSnapshot`] (a bug): refused, or undone when the
    /// snapshot ended.
    WriteInReadSnapshot,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "database error: {e}"),
            StoreError::NotFound(what) => write!(f, "not found: {what}"),
            StoreError::Conflict(why) => write!(f, "conflict: {why}"),
            StoreError::Invalid(why) => write!(f, "invalid: {why}"),
            StoreError::TooNew { found, known } => write!(
                f,
                "database schema version {found} is newer than this easd understands \
                 (up to {known}); run a newer easd"
            ),
            StoreError::Io(e) => write!(f, "I/O error: {e}"),
            StoreError::WriteInReadSnapshot => {
                write!(f, "a write inside a read snapshot (refused or undone)")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Sqlite(e) => Some(e),
            StoreError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// The easd database: one SQLite connection with the schema migrated to the
/// version this code knows.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// Set when this connection queued outbox mail or made some due
    /// ([`Store::take_mail_queued`]).
    mail_queued: std::cell::Cell<bool>,
    /// Set while a [`ReadSnapshot`] this connection began is open: writes are refused.
    in_read_snapshot: std::cell::Cell<bool>,
}

/// SQLite settings for the whole process, made once before its first connection:
/// - no memory statistics: easd never asks for them (no `sqlite3_memory_used`, no soft heap
///   limit), and keeping them costs a global mutex and counter updates on every allocation
///   SQLite makes (some 5% of the instructions of one `easd deliver`);
/// - no up-front page-cache allocation: by default each page cache allocates and touches 20
///   pages when it fetches its first one, 87 KB for every ephemeral table (4 KiB pages) a
///   statement opens, such as the one that buffers the rows of a `RETURNING`, which uses a
///   page or two. Page by page, one `easd deliver` peaks at 373 KB of heap instead of
///   480 KB and takes some 37 fewer page faults.
fn sqlite_process_settings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use rusqlite::ffi;
        use std::ffi::{c_int, c_void};
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int, SQLITE_CONFIG_PAGECACHE a pointer
        // and two ints (no buffer, no bulk allocation). sqlite3_config only acts before
        // SQLite is initialised (the first connection of the process) and otherwise returns
        // SQLITE_MISUSE and changes nothing, which is harmless: the defaults stay.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int);
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PAGECACHE,
                std::ptr::null_mut::<c_void>(),
                0 as c_int,
                0 as c_int,
            );
        }
    });
}

impl Store {
    /// Opens (creating if needed) the database at `path` with default options.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// Opens (creating if needed) the database at `path`.
    ///
    /// A missing parent directory is created with mode 0700 and a missing
    /// file with mode 0600 (it holds password hashes). The schema is migrated
    /// to the latest version; a database from a newer easd is refused with
    /// [`StoreError::TooNew`].
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        prepare_database_file(path)?;
        sqlite_process_settings();
        let conn = Connection::open(path)?;
        Store::configure_and_migrate(conn, options)
    }

    /// An in-memory database with the full schema, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        sqlite_process_settings();
        Store::configure_and_migrate(Connection::open_in_memory()?, &StoreOptions::default())
    }

    fn configure_and_migrate(
        conn: Connection,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        // The busy timeout goes first so that switching to WAL waits for a
        // concurrent opener instead of failing.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Only takes effect while the file is still empty (before the first table).
        conn.pragma_update(None, "page_size", NEW_DATABASE_PAGE_SIZE)?;
        // Durability (no acknowledged write is lost on a power cut): in WAL mode a
        // commit appends the changed pages to the -wal file, and with synchronous =
        // FULL SQLite fsyncs that file before COMMIT returns. So when a write method
        // returns Ok — and before `easd deliver` exits 0, or a phone is told its change
        // was accepted — the transaction is on stable storage; a power cut after it
        // finds it in the WAL on the next open (frames up to the last commit frame with
        // valid checksums), a power cut before or during it leaves no trace of it (the
        // MTA, not having seen exit 0, delivers again). Checkpoints copy pages that are
        // already durable in the WAL into the database file, fsync the file before the
        // WAL is reused, and so never put a commit at risk. (synchronous = NORMAL, used
        // before, fsyncs the WAL only at checkpoints: a power cut could undo
        // transactions that had been acknowledged.) The cost: one fsync per write
        // transaction, plus two for the commit that crosses the auto-checkpoint
        // threshold (SQLite's default of 1000 pages, 1 MiB with 1 KiB pages), which then
        // checkpoints.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        // Query-planner stability: plans never depend on bound values. Without it SQLite
        // re-compiles a statement whenever a parameter compared to a column changes between
        // 0/1 and anything else, and rusqlite clears a cached statement's bindings (to NULL)
        // after each use, so every query naming user 1 (the first account, in most homes)
        // was compiled again on every run: most of the server's CPU in a Sync. easd keeps no
        // planner statistics and has no LIKE on an index, so no plan gets worse.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        let journal_mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !journal_mode.eq_ignore_ascii_case("wal") && !journal_mode.eq_ignore_ascii_case("memory")
        {
            log::warn!(
                "SQLite refused WAL mode (journal_mode is {journal_mode}); \
                 the file system may not support shared memory"
            );
        }
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // A negative cache_size is a size in KiB rather than in pages.
        conn.pragma_update(None, "cache_size", -i64::from(options.cache_kib))?;
        conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)?;
        schema::migrate(&conn)?;
        Ok(Store {
            conn,
            mail_queued: std::cell::Cell::new(false),
            in_read_snapshot: std::cell::Cell::new(false),
        })
    }

    /// The schema version of the open database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema::user_version(&self.conn)
    }

    /// The underlying connection, for modules that add their own queries.
    ///
    /// Do not leave a transaction open on it across calls to `Store`
    /// methods: each write method begins its own transaction, and SQLite
    /// does not nest them.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Starts a write transaction. `IMMEDIATE` takes the write lock up front,
    /// so a concurrent writer makes us wait (busy timeout) rather than fail
    /// half-way when a read would have to be upgraded to a write. Inside
    /// [`Store::atomically`] it is a savepoint of the enclosing transaction.
    pub(crate) fn write_transaction(&self) -> Result<Transaction<'_>, StoreError> {
        // (A snapshot rolled back behind its back, by containment after a panic, is over.)
        if self.in_read_snapshot.get() && !self.conn.is_autocommit() {
            return Err(StoreError::WriteInReadSnapshot);
        }
        Transaction::begin(&self.conn, "BEGIN IMMEDIATE")
    }

    /// Runs `writes` as one transaction: every store write inside it commits with the
    /// others when `writes` returns `Ok`, and none does when it returns `Err` (or panics).
    pub fn atomically<T, E: From<StoreError>>(
        &self,
        writes: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = self.write_transaction()?;
        let value = writes()?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Opens a read transaction: the store's queries until [`ReadSnapshot::end`] see one
    /// snapshot of the database and share one lock, instead of each taking and releasing
    /// the WAL read lock (file-lock system calls) on its own. Inside a transaction that is
    /// already open it adds nothing. No write may be made while it is open: a write
    /// transaction is refused up front, and a single-statement write (which SQLite would
    /// make part of this transaction) is undone when the snapshot ends, which then fails
    /// with [`StoreError::WriteInReadSnapshot`].
    pub fn read_snapshot(&self) -> Result<ReadSnapshot<'_>, StoreError> {
        let owned = self.conn.is_autocommit();
        if owned {
            self.conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
            self.in_read_snapshot.set(true);
        }
        Ok(ReadSnapshot { store: self, owned })
    }

    /// The snapshot [`ReadSnapshot::leave_open`] left open, to continue reading in and end.
    pub fn resume_snapshot(&self, _open: OpenSnapshot) -> ReadSnapshot<'_> {
        ReadSnapshot {
            store: self,
            owned: self.in_read_snapshot.get() && !self.conn.is_autocommit(),
        }
    }
}

/// A read snapshot left open to be resumed ([`Store::resume_snapshot`]) by code that cannot
/// hold the [`ReadSnapshot`] itself (it borrows the store); made only by
/// [`ReadSnapshot::leave_open`]. Whoever holds it must resume and end it.
#[must_use]
#[derive(Debug)]
pub struct OpenSnapshot {
    _made_by_the_store: (),
}

/// An open read transaction of [`Store::read_snapshot`]; dropping it without
/// [`ReadSnapshot::end`] (an error, a panic) rolls it back.
pub struct ReadSnapshot<'a> {
    store: &'a Store,
    /// Whether this snapshot began the transaction (and so ends it).
    owned: bool,
}

impl ReadSnapshot<'_> {
    /// Keeps the transaction open past this value, for [`Store::resume_snapshot`].
    pub fn leave_open(mut self) -> OpenSnapshot {
        self.owned = false;
        OpenSnapshot {
            _made_by_the_store: (),
        }
    }

    /// Ends the read transaction; [`StoreError::WriteInReadSnapshot`] (and nothing
    /// written) when a write was made inside it.
    pub fn end(mut self) -> Result<(), StoreError> {
        if self.owned {
            let conn = &self.store.conn;
            if conn.transaction_state(None::<&str>)? == rusqlite::TransactionState::Write {
                // Dropping rolls it back.
                return Err(StoreError::WriteInReadSnapshot);
            }
            self.owned = false;
            self.store.in_read_snapshot.set(false);
            conn.prepare_cached("COMMIT")?.execute([])?;
        }
        Ok(())
    }
}

impl Drop for ReadSnapshot<'_> {
    fn drop(&mut self) {
        if self.owned {
            self.store.in_read_snapshot.set(false);
            let conn = &self.store.conn;
            // Ending a read transaction early (a request answered before its writes) is
            // routine, so the statement is cached too.
            let rolled_back = conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut statement| statement.execute([]));
            if rolled_back.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
}

/// A transaction on the store's connection: `BEGIN … COMMIT` at the outside, a savepoint
/// when another one is open already (so store methods compose inside
/// [`Store::atomically`]). Dropped without [`Transaction::commit`], it rolls back.
pub struct Transaction<'c> {
    conn: &'c Connection,
    nested: bool,
    open: bool,
}

/// The savepoint name of nested transactions (SQLite resolves a name to the innermost).
const SAVEPOINT: &str = "easd_nested";

impl<'c> Transaction<'c> {
    fn begin(conn: &'c Connection, outermost: &str) -> Result<Transaction<'c>, StoreError> {
        let nested = !conn.is_autocommit();
        if nested {
            conn.execute_batch(&format!("SAVEPOINT {SAVEPOINT}"))?;
        } else {
            conn.execute_batch(outermost)?;
        }
        Ok(Transaction {
            conn,
            nested,
            open: true,
        })
    }

    /// Makes the writes permanent (or part of the enclosing transaction, when nested).
    pub fn commit(mut self) -> Result<(), rusqlite::Error> {
        self.open = false;
        if self.nested {
            self.conn.execute_batch(&format!("RELEASE {SAVEPOINT}"))
        } else {
            self.conn.execute_batch("COMMIT")
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let undo = if self.nested {
            format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}")
        } else {
            "ROLLBACK".to_string()
        };
        // A failed rollback leaves the transaction open; the request loop's containment
        // closes any transaction still open after a command.
        let _ = self.conn.execute_batch(&undo);
    }
}

/// Creates the parent directory (0700) and the database file (0600) if they
/// are missing, so SQLite never creates them with the process umask.
fn prepare_database_file(path: &Path) -> Result<(), StoreError> {
    let with_path = |e: std::io::Error| {
        StoreError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    };
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(parent).map_err(with_path)?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(with_path)?;
    Ok(())
}

/// Checks a short text field that users and devices supply: at most `max_chars` characters
/// and no control characters (they would garble logs and listings).
pub(crate) fn check_text_field(
    label: &str,
    value: &str,
    max_chars: usize,
) -> Result<(), StoreError> {
    if value.chars().count() > max_chars {
        return Err(StoreError::Invalid(format!(
            "{label} is longer than {max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "{label} contains control characters"
        )));
    }
    Ok(())
}

/// The current time as Unix seconds (0 if the clock is before 1970).
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `bytes` random bytes from the operating system, as lower-case hex.
///
/// Panics only if the operating system cannot provide randomness at all, in
/// which case no key or salt could be made safely anyway.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    let mut hex = String::with_capacity(bytes * 2);
    for byte in buffer {
        hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Shortens `text` to at most `max_chars` characters (never splits a char).
pub(crate) fn clip(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((byte_index, _)) => &text[..byte_index],
        None => text,
    }
}

/// Whether a SQLite error is a UNIQUE / PRIMARY KEY constraint violation.
pub(crate) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error().map(|e| e.extended_code),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
            | Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::{DeviceSeen, Outgoing, Store, User};

    /// Queues `message` from `owner` to rita@remote.example in the outbox, due at `now`.
    pub fn queue_for_rita(store: &Store, owner: &User, message: &[u8], now: i64) -> i64 {
        let to = ["rita@remote.example".to_string()];
        let mail = Outgoing {
            user: owner.id,
            sender: &owner.email,
            recipients: &to,
            message,
        };
        store.enqueue_mail(&mail, now).unwrap()
    }

    /// An in-memory store with one user (`email`) and one device of theirs: the store and the
    /// device's row id.
    pub fn store_with_device(email: &str) -> (Store, i64) {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user(email, "", "pw").unwrap();
        let device = store
            .record_device(
                user.id,
                &DeviceSeen {
                    device_id: "DEV",
                    device_type: "Android",
                    user_agent: "ua",
                    protocol_version: "14.1",
                    now: 1,
                },
            )
            .unwrap();
        (store, device.id)
    }

    /// A uniquely named directory under the system temp dir, removed on drop.
    pub struct TempDir {
        path: PathBuf,
    }

    impl TempDir {
        pub fn new() -> TempDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "easd-store-test-{}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                super::random_hex(4)
            ));
            TempDir { path }
        }

        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::TempDir;
    use super::*;

    fn users(store: &Store) -> i64 {
        store
            .connection()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn writes_inside_atomically_commit_together_or_not_at_all() {
        let store = Store::open_in_memory().unwrap();
        // Two writes, then a failure: neither stays.
        let failed: Result<(), StoreError> = store.atomically(|| {
            store.add_user("a@example.com", "", "pw")?;
            store.add_user("b@example.com", "", "pw")?;
            Err(StoreError::Invalid("later step failed".into()))
        });
        assert!(failed.is_err());
        assert_eq!(users(&store), 0);
        assert!(store.connection().is_autocommit());
        // A failing inner write rolls back alone; the caller may go on and commit the rest.
        store
            .atomically(|| -> Result<(), StoreError> {
                store.add_user("a@example.com", "", "pw")?;
                assert!(store.add_user("a@example.com", "", "pw").is_err());
                store.add_user("b@example.com", "", "pw")?;
                Ok(())
            })
            .unwrap();
        assert_eq!(users(&store), 2);
        assert!(store.connection().is_autocommit());
    }

    #[test]
    fn cached_statements_are_not_recompiled_for_small_parameter_values() {
        let temp = TempDir::new();
        let store = Store::open(&temp.path().join("easd.db")).unwrap();
        // The shape of most reads: rows of an item, checked to be the user's.
        let sql = "SELECT count(*) FROM attachments a JOIN items i ON i.id = a.item_id
                   WHERE a.item_id = ?1 AND i.user_id = ?2";
        // User 1: a value SQLite would otherwise re-plan for after rusqlite cleared the
        // bindings between runs.
        for _ in 0..3 {
            let mut statement = store.conn.prepare_cached(sql).unwrap();
            let _: i64 = statement.query_row([7, 1], |row| row.get(0)).unwrap();
        }
        let statement = store.conn.prepare_cached(sql).unwrap();
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0
        );
    }

    #[test]
    fn a_read_snapshot_sees_one_state_and_ends_its_transaction() {
        let temp = TempDir::new();
        let path = temp.path().join("easd.db");
        let reader = Store::open(&path).unwrap();
        let writer = Store::open(&path).unwrap();
        let count = |store: &Store| -> i64 {
            store
                .conn
                .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
                .unwrap()
        };
        let snapshot = reader.read_snapshot().unwrap();
        assert!(!reader.conn.is_autocommit());
        assert_eq!(count(&reader), 0);
        writer.add_user("snap@example.com", "", "pw").unwrap();
        // The snapshot still sees the state of its first read.
        assert_eq!(count(&reader), 0);
        // Inside an open transaction a snapshot adds nothing and ends nothing.
        reader.read_snapshot().unwrap().end().unwrap();
        assert!(!reader.conn.is_autocommit());
        snapshot.end().unwrap();
        assert!(reader.conn.is_autocommit());
        assert_eq!(count(&reader), 1);
        // Dropped without end (an error on the way): rolled back, no transaction left open.
        drop(reader.read_snapshot().unwrap());
        assert!(reader.conn.is_autocommit());
    }

    #[test]
    fn no_write_survives_inside_a_read_snapshot() {
        let store = Store::open_in_memory().unwrap();
        let snapshot = store.read_snapshot().unwrap();
        // A write transaction is refused before it begins.
        assert!(matches!(
            store.add_user("in@example.com", "", "pw"),
            Err(StoreError::WriteInReadSnapshot)
        ));
        // A single-statement write is undone and ending the snapshot fails.
        store
            .conn
            .execute(
                "INSERT INTO settings (key, value, updated) VALUES ('x', 'y', 0)",
                [],
            )
            .unwrap();
        assert!(matches!(
            snapshot.end(),
            Err(StoreError::WriteInReadSnapshot)
        ));
        assert!(store.conn.is_autocommit());
        let rows: i64 = store
            .conn
            .query_row("SELECT count(*) FROM settings WHERE key = 'x'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, 0);
        // After the snapshot, writes are made again.
        store.add_user("out@example.com", "", "pw").unwrap();
    }

    #[test]
    fn open_creates_private_directory_and_file_and_migrates() {
        let temp = TempDir::new();
        let path = temp.path().join("nested").join("easd.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::latest_version());
        let journal: String = store
            .connection()
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let foreign_keys: i64 = store
            .connection()
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert_eq!(foreign_keys, 1);
        let cache: i64 = store
            .connection()
            .pragma_query_value(None, "cache_size", |row| row.get(0))
            .unwrap();
        assert_eq!(cache, -2048);
        // FULL (2): every commit is on stable storage before it returns.
        let synchronous: i64 = store
            .connection()
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 2);
        let page_size: i64 = store
            .connection()
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .unwrap();
        assert_eq!(page_size, NEW_DATABASE_PAGE_SIZE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file_mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(file_mode, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
    }

    #[test]
    fn an_existing_database_keeps_its_page_size() {
        let temp = TempDir::new();
        let path = temp.path().join("easd.db");
        std::fs::create_dir_all(temp.path()).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "page_size", 4096).unwrap();
            conn.execute_batch("CREATE TABLE older (x); DROP TABLE older;")
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let page_size: i64 = store
            .connection()
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .unwrap();
        assert_eq!(page_size, 4096);
        assert_eq!(store.schema_version().unwrap(), schema::latest_version());
    }

    #[test]
    fn reopening_keeps_data_and_does_not_migrate_again() {
        let temp = TempDir::new();
        let path = temp.path().join("easd.db");
        {
            let store = Store::open_with(&path, &StoreOptions { cache_kib: 512 }).unwrap();
            store.set_setting("push.heartbeat-max", "900").unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::latest_version());
        assert_eq!(
            store.setting("push.heartbeat-max").unwrap().as_deref(),
            Some("900")
        );
        drop(store);
        // A third open is just as uneventful.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::latest_version());
    }

    #[test]
    fn two_connections_to_one_file_see_each_others_writes() {
        // The command line and the running server share the file.
        let temp = TempDir::new();
        let path = temp.path().join("easd.db");
        let server = Store::open(&path).unwrap();
        let cli = Store::open(&path).unwrap();
        cli.add_user("pat@example.com", "Pat", "pw").unwrap();
        assert!(server.user_by_email("pat@example.com").unwrap().is_some());
        server.set_setting("a", "1").unwrap();
        assert_eq!(cli.setting("a").unwrap().as_deref(), Some("1"));
    }

    #[test]
    fn database_from_newer_easd_is_refused() {
        let temp = TempDir::new();
        let path = temp.path().join("easd.db");
        drop(Store::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", schema::latest_version() + 5)
                .unwrap();
        }
        match Store::open(&path) {
            Err(StoreError::TooNew { found, known }) => {
                assert_eq!(found, schema::latest_version() + 5);
                assert_eq!(known, schema::latest_version());
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let temp = TempDir::new();
        std::fs::create_dir_all(temp.path()).unwrap();
        let path = temp.path().join("easd.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::Sqlite(_))));
    }

    #[test]
    fn random_hex_has_requested_length_and_varies() {
        let a = random_hex(8);
        let b = random_hex(8);
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert_eq!(random_hex(0), "");
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now() > 1_577_836_800);
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("", 0), "");
    }
}
