//! `easd backup OUT` and `easd restore FILE`: a consistent copy of the database taken while the
//! server runs (SQLite's online backup API), and putting such a copy back while it is stopped.
//!
//! A backup is one self-contained SQLite file (rollback-journal mode, no `-wal` beside it),
//! written under a temporary name, checked with `PRAGMA integrity_check`, then renamed into
//! place, so OUT is either the previous file or a complete, verified copy. A restore refuses
//! to run while `easd serve` holds the database lock (see [`crate::store::lock`]), checks that
//! FILE is an intact easd database this binary understands, keeps the old database as
//! `<db>.before-restore-<UTC time>` (with its write-ahead log, so nothing committed is lost),
//! and renames the verified copy into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use argh::FromArgs;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::exit;
use crate::config::Config;
use crate::store::lock::{adopt_directory_owner, lock_path, DatabaseLock};
use crate::store::schema;

/// How long a backup retries while the database is busy (a checkpoint in progress).
const BUSY_PATIENCE: Duration = Duration::from_secs(30);
const BUSY_PAUSE: Duration = Duration::from_millis(50);
/// Matches the store: wait for a concurrent writer rather than fail.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// copy the database to a file, safely while the server runs
#[derive(FromArgs)]
#[argh(subcommand, name = "backup")]
pub struct BackupArgs {
    /// the backup file to write (replaced atomically; mode 0600)
    #[argh(positional)]
    out: PathBuf,
}

/// replace the database with a backup (stop the server first)
#[derive(FromArgs)]
#[argh(subcommand, name = "restore")]
pub struct RestoreArgs {
    /// a file written by `easd backup`
    #[argh(positional)]
    file: PathBuf,
}

/// A failure with its message and exit code.
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    fn io(path: &Path, error: impl std::fmt::Display) -> Failure {
        Failure::new(exit::IOERR, format!("{}: {error}", path.display()))
    }
}

fn report(outcome: Result<(), Failure>) -> i32 {
    match outcome {
        Ok(()) => exit::OK,
        Err(failure) => {
            eprintln!("easd: {}", failure.message);
            failure.code
        }
    }
}

pub fn run_backup(config: &Config, args: BackupArgs) -> i32 {
    report(backup(&config.database, &args.out))
}

pub fn run_restore(config: &Config, args: RestoreArgs) -> i32 {
    report(restore(&config.database, &args.file))
}

fn backup(database: &Path, out: &Path) -> Result<(), Failure> {
    if !database.is_file() {
        return Err(Failure::new(
            exit::IOERR,
            format!("there is no database at {}", database.display()),
        ));
    }
    if out.is_dir() {
        return Err(Failure::new(
            exit::USAGE,
            format!("{} is a directory; name the backup file", out.display()),
        ));
    }
    if same_file(database, out) {
        return Err(Failure::new(
            exit::USAGE,
            "the backup file cannot be the database itself",
        ));
    }
    let source = open_existing(database)?;
    let temporary = TemporaryFile::create_beside(out)?;

    let mut copy = Connection::open(temporary.path()).map_err(|e| Failure::io(out, e))?;
    copy_database(&source, &mut copy).map_err(|e| Failure::io(database, e))?;
    drop(source);
    // The source runs in WAL mode and the copy inherits it; one self-contained file is what
    // a backup should be, so switch the copy back to a rollback journal.
    copy.pragma_update_and_check(None, "journal_mode", "DELETE", |_| Ok(()))
        .map_err(|e| Failure::io(out, e))?;
    drop(copy);

    let summary = verify_copy(temporary.path()).map_err(|why| {
        Failure::new(
            exit::SOFTWARE,
            format!(
                "the copy failed its check ({why}); {} was not written",
                out.display()
            ),
        )
    })?;
    temporary.persist(out)?;
    println!(
        "easd: backed up {} to {} (schema version {}, {} user(s), integrity ok)",
        database.display(),
        out.display(),
        summary.schema_version,
        summary.users
    );
    Ok(())
}

/// Copies the whole database in one backup step: one read transaction on the source, so the
/// copy is one consistent snapshot while the server goes on writing (WAL readers never block
/// the writer).
fn copy_database(source: &Connection, copy: &mut Connection) -> rusqlite::Result<()> {
    let backup = Backup::new(source, copy)?;
    let deadline = Instant::now() + BUSY_PATIENCE;
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                std::thread::sleep(BUSY_PAUSE);
            }
            _ => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("the database stayed busy".into()),
                ))
            }
        }
    }
}

fn restore(database: &Path, file: &Path) -> Result<(), Failure> {
    let lock = match DatabaseLock::try_acquire(database) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(Failure::new(
                exit::TEMPFAIL,
                format!(
                    "a running easd serve uses {} (it holds {}); stop it first \
                     (systemctl stop easd), restore, then start it again",
                    database.display(),
                    lock_path(database).display()
                ),
            ))
        }
        Err(error) => return Err(Failure::new(exit::CANTCREAT, error.to_string())),
    };
    if !file.is_file() {
        return Err(Failure::new(
            exit::USAGE,
            format!("{} is not a file", file.display()),
        ));
    }
    if same_file(database, file) {
        return Err(Failure::new(
            exit::USAGE,
            format!("{} is the database itself", file.display()),
        ));
    }
    if has_content(&sidecar(file, "-wal")) {
        return Err(Failure::new(
            exit::DATAERR,
            format!(
                "{} has a write-ahead log beside it ({}): it is a live database, not a \
                 backup; make a backup with `easd --db {} backup OUT` and restore that",
                file.display(),
                sidecar(file, "-wal").display(),
                file.display()
            ),
        ));
    }

    // Work on a private copy next to the database: the check then sees exactly the bytes
    // that go into place, and the final step is a rename within one file system.
    let temporary = TemporaryFile::create_beside(database)?;
    copy_file(file, temporary.path())?;
    let summary = verify_copy(temporary.path()).map_err(|why| {
        Failure::new(
            exit::DATAERR,
            format!("{} cannot be restored: {why}", file.display()),
        )
    })?;
    temporary.sync()?;

    let kept = if database.exists() {
        Some(set_aside(database)?)
    } else {
        None
    };
    temporary.persist(database)?;
    adopt_directory_owner(database).map_err(|e| Failure::io(database, e))?;
    drop(lock);

    println!(
        "easd: restored {} into {} (schema version {}, {} user(s))",
        file.display(),
        database.display(),
        summary.schema_version,
        summary.users
    );
    if let Some(kept) = kept {
        println!("easd: the previous database is kept as {}", kept.display());
    }
    if summary.schema_version < schema::latest_version() {
        println!(
            "easd: the backup has schema version {}; easd serve upgrades it to {} at start",
            summary.schema_version,
            schema::latest_version()
        );
    }
    Ok(())
}

/// Moves the current database (and its write-ahead log, if a checkpoint could not fold it
/// in) to `<db>.before-restore-<time>`, and removes its shared-memory index.
fn set_aside(database: &Path) -> Result<PathBuf, Failure> {
    // Fold the write-ahead log into the file first, so the kept copy is one file. A damaged
    // database (perhaps the reason for the restore) may refuse; its log then moves along
    // under the matching name, where SQLite finds it when the kept copy is opened.
    if let Ok(conn) = open_existing(database) {
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            eprintln!(
                "easd: warning: could not checkpoint {}: {error}",
                database.display()
            );
        }
    }
    let kept = free_name(&format!(
        "{}.before-restore-{}",
        database.display(),
        compact_utc(crate::store::now())
    ));
    fs::rename(database, &kept).map_err(|e| Failure::io(database, e))?;
    for suffix in ["-wal", "-journal"] {
        let old = sidecar(database, suffix);
        if has_content(&old) {
            fs::rename(&old, sidecar(&kept, suffix)).map_err(|e| Failure::io(&old, e))?;
        } else {
            remove_if_present(&old)?;
        }
    }
    remove_if_present(&sidecar(database, "-shm"))?;
    Ok(kept)
}

/// What a verified copy holds.
struct CopySummary {
    schema_version: i64,
    users: i64,
}

/// Checks that `path` is an intact easd database this binary can use.
fn verify_copy(path: &Path) -> Result<CopySummary, String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let not_a_database = |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => "it is not an SQLite database".to_string(),
        _ => error.to_string(),
    };
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(not_a_database)?;
    if problems.as_slice() != ["ok"] {
        let first = problems.first().cloned().unwrap_or_default();
        return Err(format!("integrity_check failed: {first}"));
    }
    let schema_version = schema::user_version(&conn).map_err(|e| e.to_string())?;
    let has_users_table: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|count| count > 0)
        .map_err(not_a_database)?;
    if schema_version < 1 || !has_users_table {
        return Err("it is not an easd database (no easd schema)".into());
    }
    if schema_version > schema::latest_version() {
        return Err(format!(
            "it was written by a newer easd (schema version {schema_version}; this easd \
             knows up to {}); use a newer easd",
            schema::latest_version()
        ));
    }
    let users = conn
        .query_row("SELECT count(*) FROM users", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    Ok(CopySummary {
        schema_version,
        users,
    })
}

/// Opens an existing database without creating one and without touching its schema.
fn open_existing(path: &Path) -> Result<Connection, Failure> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Failure::io(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| Failure::io(path, e))?;
    Ok(conn)
}

/// A file created with mode 0600 under a unique name in the target's directory, removed
/// (with any SQLite journal beside it) unless [`TemporaryFile::persist`] renamed it into place.
struct TemporaryFile {
    path: PathBuf,
    persisted: bool,
}

impl TemporaryFile {
    fn create_beside(target: &Path) -> Result<TemporaryFile, Failure> {
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "easd.db".into());
        let path = directory.join(format!(".{name}.tmp-{}", crate::store::random_hex(6)));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Failure::new(exit::CANTCREAT, format!("{}: {e}", path.display())))?;
        Ok(TemporaryFile {
            path,
            persisted: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn sync(&self) -> Result<(), Failure> {
        File::open(&self.path)
            .and_then(|file| file.sync_all())
            .map_err(|e| Failure::io(&self.path, e))
    }

    /// Flushes the file to disk and renames it to `target`, then flushes the directory so
    /// the rename survives a power cut.
    fn persist(mut self, target: &Path) -> Result<(), Failure> {
        self.sync()?;
        fs::rename(&self.path, target).map_err(|e| Failure::io(target, e))?;
        self.persisted = true;
        if let Some(directory) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Not every file system supports syncing a directory; the rename is done anyway.
            let _ = File::open(directory).and_then(|dir| dir.sync_all());
        }
        Ok(())
    }
}

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
            for suffix in ["-journal", "-wal", "-shm"] {
                let _ = fs::remove_file(sidecar(&self.path, suffix));
            }
        }
    }
}

fn copy_file(from: &Path, to: &Path) -> Result<(), Failure> {
    let mut source = File::open(from).map_err(|e| Failure::io(from, e))?;
    // The temporary already exists with mode 0600; fs::copy would give it FILE's mode.
    let mut target = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(to)
        .map_err(|e| Failure::io(to, e))?;
    io::copy(&mut source, &mut target).map_err(|e| Failure::io(to, e))?;
    target.flush().map_err(|e| Failure::io(to, e))
}

/// `<path><suffix>`, e.g. the `-wal` file of a database.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn has_content(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false)
}

fn remove_if_present(path: &Path) -> Result<(), Failure> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(Failure::io(path, error)),
        _ => Ok(()),
    }
}

/// Whether both paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// `base`, or `base-2`, `base-3`, … when a restore within the same second already used it.
fn free_name(base: &str) -> PathBuf {
    let mut candidate = PathBuf::from(base);
    let mut counter = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}-{counter}"));
        counter += 1;
    }
    candidate
}

/// `20260102T030405Z`: a UTC time that sorts and fits in a file name.
fn compact_utc(unix: i64) -> String {
    let text = crate::clock::iso_date(unix);
    let mut compact: String = text
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .map(|c| if c == ' ' { 'T' } else { c })
        .collect();
    compact.push('Z');
    compact
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDir;
    use crate::store::Store;

    #[test]
    fn compact_times_sort_and_fit_in_file_names() {
        assert_eq!(compact_utc(0), "19700101T000000Z");
        assert_eq!(compact_utc(1_709_164_800 + 3_723), "20240229T010203Z");
    }

    #[test]
    fn backup_then_restore_round_trips_and_keeps_the_old_database() {
        let temp = TempDir::new();
        let db = temp.path().join("easd.db");
        let store = Store::open(&db).unwrap();
        store.add_user("ann@localhost", "Ann", "pw").unwrap();
        let copy = temp.path().join("copy.db");
        backup(&db, &copy).map_err(|f| f.message).unwrap();
        assert!(!sidecar(&copy, "-wal").exists(), "a backup is one file");
        let mode = fs::metadata(&copy).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);

        // Changes after the backup are in the old database only (and partly in its WAL).
        store.add_user("bob@localhost", "Bob", "pw").unwrap();
        drop(store);
        restore(&db, &copy).map_err(|f| f.message).unwrap();

        let restored = Store::open(&db).unwrap();
        assert!(restored.user_by_email("ann@localhost").unwrap().is_some());
        assert!(restored.user_by_email("bob@localhost").unwrap().is_none());
        let kept: Vec<PathBuf> = fs::read_dir(temp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".before-restore-"))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        let old = Store::open(&kept[0]).unwrap();
        assert!(old.user_by_email("bob@localhost").unwrap().is_some());
        let leftovers: Vec<PathBuf> = fs::read_dir(temp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn restore_refuses_what_is_not_an_easd_database() {
        let temp = TempDir::new();
        let db = temp.path().join("easd.db");
        drop(Store::open(&db).unwrap());
        let garbage = temp.path().join("garbage");
        fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
        let failure = restore(&db, &garbage).err().unwrap();
        assert_eq!(failure.code, exit::DATAERR);
        assert!(
            failure.message.contains("not an SQLite database"),
            "{}",
            failure.message
        );

        let other = temp.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE notes (x);")
            .unwrap();
        let failure = restore(&db, &other).err().unwrap();
        assert!(
            failure.message.contains("not an easd database"),
            "{}",
            failure.message
        );

        let newer = temp.path().join("newer.db");
        backup(&db, &newer).map_err(|f| f.message).unwrap();
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", schema::latest_version() + 1)
            .unwrap();
        let failure = restore(&db, &newer).err().unwrap();
        assert!(
            failure.message.contains("newer easd"),
            "{}",
            failure.message
        );

        // Nothing was moved aside by the refused attempts.
        let names: Vec<String> = fs::read_dir(temp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.contains("before-restore")),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn restore_refuses_a_live_database_with_its_write_ahead_log() {
        let temp = TempDir::new();
        let db = temp.path().join("easd.db");
        let live_path = temp.path().join("live.db");
        let live = Store::open(&live_path).unwrap();
        live.add_user("ann@localhost", "Ann", "pw").unwrap();
        assert!(has_content(&sidecar(&live_path, "-wal")));
        let failure = restore(&db, &live_path).err().unwrap();
        assert_eq!(failure.code, exit::DATAERR);
        assert!(
            failure.message.contains("write-ahead log"),
            "{}",
            failure.message
        );
        assert!(!db.exists(), "nothing was put in place");
    }

    #[test]
    fn restore_waits_for_the_lock_holder() {
        let temp = TempDir::new();
        let db = temp.path().join("easd.db");
        drop(Store::open(&db).unwrap());
        let copy = temp.path().join("copy.db");
        backup(&db, &copy).map_err(|f| f.message).unwrap();
        let server = DatabaseLock::try_acquire(&db).unwrap().unwrap();
        let failure = restore(&db, &copy).err().unwrap();
        assert_eq!(failure.code, exit::TEMPFAIL);
        assert!(
            failure.message.contains("stop it first"),
            "{}",
            failure.message
        );
        drop(server);
        assert!(restore(&db, &copy).is_ok());
    }

    #[test]
    fn backup_refuses_to_overwrite_the_database() {
        let temp = TempDir::new();
        let db = temp.path().join("easd.db");
        drop(Store::open(&db).unwrap());
        let failure = backup(&db, &db).err().unwrap();
        assert_eq!(failure.code, exit::USAGE);
        let failure = backup(&temp.path().join("missing.db"), &temp.path().join("x")).err();
        assert!(failure.is_some());
    }
}
