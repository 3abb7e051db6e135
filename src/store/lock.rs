//! The "a server uses this database" lock: an exclusive advisory `flock` on `<db>.lock`,
//! held by `easd serve` for its whole life.
//!
//! SQLite's own locks only protect single transactions; they cannot stop `easd restore` from
//! swapping the file under a running server, or a second `easd serve` from sharing the
//! database with the first. The lock file is never written and never removed: removing it
//! while another process holds it open would let a third process lock a fresh file of the
//! same name. The kernel releases the lock when the holder exits, however it exits, so a
//! crashed server never leaves a stale lock behind (unlike a pid file alone).
//!
//! Also here: [`adopt_directory_owner`], which keeps files that `sudo easd …` creates beside
//! the database (the lock file, a restored database, a new key) usable by the service user.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// An exclusive lock on `<db>.lock`; released when dropped (the file is closed).
#[derive(Debug)]
pub struct DatabaseLock {
    path: PathBuf,
    // Closing the descriptor releases the lock, so the file lives exactly as long as the lock.
    _file: File,
}

/// The lock file that belongs to the database at `database`: `<database>.lock`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl DatabaseLock {
    /// Takes the lock without waiting. `Ok(None)` means another process (or another open
    /// file in this process) holds it. Creates the database directory (mode 0700) and the
    /// lock file (mode 0600) when they are missing.
    pub fn try_acquire(database: &Path) -> io::Result<Option<DatabaseLock>> {
        let path = lock_path(database);
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)?;
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        // A lock file root created would lock the service user out of starting.
        adopt_directory_owner(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        loop {
            // SAFETY: flock only acts on the descriptor, which `file` keeps open.
            let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if result == 0 {
                return Ok(Some(DatabaseLock { path, _file: file }));
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) => return Ok(None),
                _ => {
                    return Err(io::Error::new(
                        error.kind(),
                        format!("cannot lock {}: {error}", path.display()),
                    ))
                }
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// When easd runs as root, gives `path` to the owner of its directory. The packaged service
/// runs as its own user, who owns the state directory: a database, lock or key written by
/// `sudo easd …` must stay usable for it. Not root: nothing to do (and nothing allowed).
pub fn adopt_directory_owner(path: &Path) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let owner = std::fs::metadata(&directory)?;
    let current = std::fs::metadata(path)?;
    if owner.uid() == current.uid() && owner.gid() == current.gid() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))
}

/// Whether some process holds the lock of `database` right now (a server is running). The
/// probe takes and releases the lock; a missing lock file means nobody holds it, and the
/// probe does not create one.
pub fn is_held(database: &Path) -> io::Result<bool> {
    if !lock_path(database).exists() {
        return Ok(false);
    }
    Ok(DatabaseLock::try_acquire(database)?.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDir;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let temp = TempDir::new();
        let db = temp.path().join("data").join("easd.db");
        assert!(!is_held(&db).unwrap(), "no lock file yet");

        let first = DatabaseLock::try_acquire(&db).unwrap().expect("free");
        assert_eq!(first.path(), temp.path().join("data").join("easd.db.lock"));
        // flock locks belong to open files, so a second open in the same process conflicts
        // just as another process would.
        assert!(DatabaseLock::try_acquire(&db).unwrap().is_none());
        assert!(is_held(&db).unwrap());

        drop(first);
        assert!(!is_held(&db).unwrap());
        let again = DatabaseLock::try_acquire(&db).unwrap();
        assert!(again.is_some());
    }

    #[test]
    fn files_created_as_root_go_to_the_directory_owner() {
        let temp = TempDir::new();
        let dir = temp.path().join("state");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("easd.db");
        std::fs::write(&file, b"").unwrap();
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            // The state directory belongs to a service user (nobody, 65534).
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        }
        adopt_directory_owner(&file).unwrap();
        let expected = std::fs::metadata(&dir).unwrap();
        let got = std::fs::metadata(&file).unwrap();
        if root {
            assert_eq!((got.uid(), got.gid()), (65534, 65534));
        } else {
            // Without root nothing changes: the file stays ours, like the directory.
            assert_eq!(got.uid(), expected.uid());
        }
    }

    #[test]
    fn the_lock_file_and_directory_are_private_and_survive_release() {
        use std::os::unix::fs::PermissionsExt;
        let temp = TempDir::new();
        let db = temp.path().join("new-dir").join("easd.db");
        drop(DatabaseLock::try_acquire(&db).unwrap().expect("free"));
        let lock = lock_path(&db);
        let mode = std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(db.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert!(
            lock.exists(),
            "the lock file stays (removing it would race)"
        );
        assert!(!db.exists(), "locking does not create the database");
    }
}
