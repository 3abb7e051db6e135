//! Each user's folder hierarchy with change tracking, the ground FolderSync,
//! FolderCreate, FolderUpdate and FolderDelete stand on.
//!
//! Every change to a user's hierarchy bumps the user's `hierarchy_seq` once
//! (in the same transaction) and stamps the touched folders' `changed_seq`
//! with the new value; deletions leave tombstones carrying that value. A
//! client that last saw counter value `s` gets everything it missed from
//! [`Store::folder_changes_since`]`(user, s)` with indexed queries only.

use std::collections::HashMap;

use super::Transaction;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{is_unique_violation, Store, StoreError, UserId};

/// Row id of a folder; also its EAS ServerId.
pub type FolderId = i64;

/// The MS-ASCMD FolderSync `Type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FolderType {
    Generic = 1,
    Inbox = 2,
    Drafts = 3,
    DeletedItems = 4,
    SentItems = 5,
    Outbox = 6,
    Tasks = 7,
    Calendar = 8,
    Contacts = 9,
    Notes = 10,
    Journal = 11,
    UserMail = 12,
    UserCalendar = 13,
    UserContacts = 14,
    UserTasks = 15,
    UserJournal = 16,
    UserNotes = 17,
    Unknown = 18,
    RecipientInfoCache = 19,
}

impl FolderType {
    /// The type for a FolderSync `Type` value, if it is one.
    pub fn from_u8(value: u8) -> Option<FolderType> {
        use FolderType::*;
        Some(match value {
            1 => Generic,
            2 => Inbox,
            3 => Drafts,
            4 => DeletedItems,
            5 => SentItems,
            6 => Outbox,
            7 => Tasks,
            8 => Calendar,
            9 => Contacts,
            10 => Notes,
            11 => Journal,
            12 => UserMail,
            13 => UserCalendar,
            14 => UserContacts,
            15 => UserTasks,
            16 => UserJournal,
            17 => UserNotes,
            18 => Unknown,
            19 => RecipientInfoCache,
            _ => return None,
        })
    }

    /// The FolderSync `Type` value.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether a client may create a folder of this type (MS-ASCMD
    /// FolderCreate allows the generic type and the user-created types).
    pub fn is_user_creatable(self) -> bool {
        matches!(
            self,
            FolderType::Generic
                | FolderType::UserMail
                | FolderType::UserCalendar
                | FolderType::UserContacts
                | FolderType::UserTasks
                | FolderType::UserJournal
                | FolderType::UserNotes
        )
    }
}

/// One folder of a user's hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    pub id: FolderId,
    pub user_id: UserId,
    /// `None` at the top level (EAS ParentId "0").
    pub parent_id: Option<FolderId>,
    pub name: String,
    pub folder_type: FolderType,
    /// Hierarchy counter value of the change that created the folder.
    pub created_seq: i64,
    /// Hierarchy counter value of the folder's latest change.
    pub changed_seq: i64,
    /// One of the default folders every user gets; these cannot be renamed,
    /// moved or deleted.
    pub special: bool,
}

/// One entry of a hierarchy change list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FolderChange {
    Added(Folder),
    Updated(Folder),
    Deleted(FolderId),
}

/// The folders every new user starts with, all at the top level.
const DEFAULT_FOLDERS: &[(&str, FolderType)] = &[
    ("Inbox", FolderType::Inbox),
    ("Drafts", FolderType::Drafts),
    ("Deleted Items", FolderType::DeletedItems),
    ("Sent Items", FolderType::SentItems),
    ("Outbox", FolderType::Outbox),
    ("Junk E-mail", FolderType::UserMail),
    ("Contacts", FolderType::Contacts),
    ("Calendar", FolderType::Calendar),
    ("Tasks", FolderType::Tasks),
    ("Notes", FolderType::Notes),
];

const MAX_FOLDER_NAME_CHARS: usize = 256;

const FOLDER_COLUMNS: &str =
    "SELECT id, user_id, parent_id, name, folder_type, created_seq, changed_seq, special FROM folders";

fn folder_from_row(row: &Row<'_>) -> rusqlite::Result<Folder> {
    let type_value: i64 = row.get(4)?;
    Ok(Folder {
        id: row.get(0)?,
        user_id: row.get(1)?,
        parent_id: row.get(2)?,
        name: row.get(3)?,
        folder_type: u8::try_from(type_value)
            .ok()
            .and_then(FolderType::from_u8)
            .unwrap_or(FolderType::Unknown),
        created_seq: row.get(5)?,
        changed_seq: row.get(6)?,
        special: row.get(7)?,
    })
}

fn query_folders(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Folder>, StoreError> {
    let mut statement = conn.prepare_cached(&format!("{FOLDER_COLUMNS} {filter}"))?;
    let folders = statement
        .query_map(args, folder_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(folders)
}

fn folder_of_user(
    conn: &Connection,
    user: UserId,
    id: FolderId,
) -> Result<Option<Folder>, StoreError> {
    Ok(
        query_folders(conn, "WHERE id = ?1 AND user_id = ?2", params![id, user])?
            .into_iter()
            .next(),
    )
}

fn check_folder_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::Invalid("the folder name is empty".into()));
    }
    if name.chars().count() > MAX_FOLDER_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "the folder name is longer than {MAX_FOLDER_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "the folder name contains control characters".into(),
        ));
    }
    Ok(())
}

/// Increments the user's hierarchy counter and returns the new value.
fn bump_hierarchy_seq(conn: &Connection, user: UserId) -> Result<i64, StoreError> {
    conn.query_row(
        "UPDATE users SET hierarchy_seq = hierarchy_seq + 1 WHERE id = ?1 RETURNING hierarchy_seq",
        [user],
        |row| row.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("user {user}")))
}

/// Fails with a conflict if a sibling (other than `except`) already has the
/// name, compared case-insensitively as Exchange does.
fn check_sibling_name_free(
    conn: &Connection,
    user: UserId,
    parent: Option<FolderId>,
    name: &str,
    except: Option<FolderId>,
) -> Result<(), StoreError> {
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM folders
             WHERE user_id = ?1 AND coalesce(parent_id, 0) = coalesce(?2, 0)
               AND name = ?3 COLLATE NOCASE AND id IS NOT ?4)",
        params![user, parent, name, except],
        |row| row.get(0),
    )?;
    if taken {
        return Err(StoreError::Conflict(format!(
            "a folder named {name:?} already exists there"
        )));
    }
    Ok(())
}

fn sibling_conflict(error: rusqlite::Error, name: &str) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(format!("a folder named {name:?} already exists there"))
    } else {
        StoreError::Sqlite(error)
    }
}

/// Creates the default folders of a freshly inserted user as one hierarchy
/// change. Runs inside the caller's transaction.
pub(crate) fn create_default_hierarchy(conn: &Connection, user: UserId) -> Result<(), StoreError> {
    let seq = bump_hierarchy_seq(conn, user)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO folders (user_id, parent_id, name, folder_type, special, created_seq, changed_seq)
         VALUES (?1, NULL, ?2, ?3, 1, ?4, ?4)",
    )?;
    for (name, folder_type) in DEFAULT_FOLDERS {
        insert.execute(params![user, name, folder_type.as_u8(), seq])?;
    }
    Ok(())
}

/// Orders folders so that every folder comes after its parent when the
/// parent is in the list too; otherwise keeps the input order.
fn parents_first(folders: Vec<Folder>) -> Vec<Folder> {
    let count = folders.len();
    let position: HashMap<FolderId, usize> = folders
        .iter()
        .enumerate()
        .map(|(index, folder)| (folder.id, index))
        .collect();
    let mut placed = vec![false; count];
    let mut order = Vec::with_capacity(count);
    for start in 0..count {
        // Walk up through not-yet-placed ancestors, then place them top-down.
        // The length bound keeps a (never expected) cycle from looping.
        let mut chain = Vec::new();
        let mut current = Some(start);
        while let Some(index) = current {
            if placed[index] || chain.len() > count {
                break;
            }
            chain.push(index);
            current = folders[index]
                .parent_id
                .and_then(|parent| position.get(&parent).copied());
        }
        for &index in chain.iter().rev() {
            if !placed[index] {
                placed[index] = true;
                order.push(index);
            }
        }
    }
    let mut slots: Vec<Option<Folder>> = folders.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|index| slots[index].take())
        .collect()
}

impl Store {
    /// All of the user's folders, parents before children.
    pub fn folders_of(&self, user: UserId) -> Result<Vec<Folder>, StoreError> {
        Ok(parents_first(query_folders(
            &self.conn,
            "WHERE user_id = ?1 ORDER BY id",
            [user],
        )?))
    }

    /// The folder with this id if it belongs to `user`.
    pub fn folder(&self, user: UserId, id: FolderId) -> Result<Option<Folder>, StoreError> {
        folder_of_user(&self.conn, user, id)
    }

    /// The current value of the user's hierarchy change counter.
    pub fn hierarchy_seq(&self, user: UserId) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached("SELECT hierarchy_seq FROM users WHERE id = ?1")?
            .query_row([user], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("user {user}")))
    }

    /// What changed in the user's hierarchy after counter value `seq`.
    ///
    /// Additions and updates come first, in one list with parents before
    /// children (an updated folder may have moved under an added one), then
    /// deletions, children before parents. Folders both created and deleted
    /// after `seq` do not appear at all.
    pub fn folder_changes_since(
        &self,
        user: UserId,
        seq: i64,
    ) -> Result<Vec<FolderChange>, StoreError> {
        let snapshot = self.read_snapshot()?;
        let tx = &self.conn;
        let changed = query_folders(
            tx,
            "WHERE user_id = ?1 AND changed_seq > ?2 ORDER BY id",
            params![user, seq],
        )?;
        let mut changes: Vec<FolderChange> = parents_first(changed)
            .into_iter()
            .map(|folder| {
                if folder.created_seq > seq {
                    FolderChange::Added(folder)
                } else {
                    FolderChange::Updated(folder)
                }
            })
            .collect();
        {
            let mut statement = tx.prepare_cached(
                "SELECT folder_id FROM folder_tombstones
                 WHERE user_id = ?1 AND seq > ?2 AND created_seq <= ?2
                 ORDER BY seq, rowid",
            )?;
            let deleted = statement.query_map(params![user, seq], |row| row.get(0))?;
            for id in deleted {
                changes.push(FolderChange::Deleted(id?));
            }
        }
        snapshot.end()?;
        Ok(changes)
    }

    /// Creates a folder under `parent` (or at the top level). The parent must
    /// belong to the user ([`StoreError::NotFound`]), the name must be free
    /// among its siblings ([`StoreError::Conflict`]) and the type one a
    /// client may create ([`StoreError::Invalid`]).
    pub fn create_folder(
        &self,
        user: UserId,
        parent: Option<FolderId>,
        name: &str,
        folder_type: FolderType,
    ) -> Result<Folder, StoreError> {
        check_folder_name(name)?;
        if !folder_type.is_user_creatable() {
            return Err(StoreError::Invalid(format!(
                "folders of type {folder_type:?} cannot be created"
            )));
        }
        let tx = self.write_transaction()?;
        if let Some(parent_id) = parent {
            if folder_of_user(&tx, user, parent_id)?.is_none() {
                return Err(StoreError::NotFound(format!("folder {parent_id}")));
            }
        }
        check_sibling_name_free(&tx, user, parent, name, None)?;
        let seq = bump_hierarchy_seq(&tx, user)?;
        let id: FolderId = tx
            .query_row(
                "INSERT INTO folders (user_id, parent_id, name, folder_type, special, created_seq, changed_seq)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5) RETURNING id",
                params![user, parent, name, folder_type.as_u8(), seq],
                |row| row.get(0),
            )
            .map_err(|e| sibling_conflict(e, name))?;
        tx.commit()?;
        Ok(Folder {
            id,
            user_id: user,
            parent_id: parent,
            name: name.to_string(),
            folder_type,
            created_seq: seq,
            changed_seq: seq,
            special: false,
        })
    }

    /// Renames and/or moves a folder. The default folders cannot be changed
    /// ([`StoreError::Invalid`]); neither can a folder move under itself or
    /// its own subfolder. A call that changes nothing changes nothing (no
    /// counter bump).
    pub fn rename_folder(
        &self,
        user: UserId,
        id: FolderId,
        new_parent: Option<FolderId>,
        name: &str,
    ) -> Result<Folder, StoreError> {
        check_folder_name(name)?;
        let tx = self.write_transaction()?;
        let folder = folder_of_user(&tx, user, id)?
            .ok_or_else(|| StoreError::NotFound(format!("folder {id}")))?;
        if folder.special {
            return Err(StoreError::Invalid(format!(
                "the default folder {:?} cannot be renamed or moved",
                folder.name
            )));
        }
        if let Some(parent_id) = new_parent {
            if folder_of_user(&tx, user, parent_id)?.is_none() {
                return Err(StoreError::NotFound(format!("folder {parent_id}")));
            }
            let would_cycle: bool = tx.query_row(
                "WITH RECURSIVE ancestors(id) AS (
                     SELECT ?1
                     UNION
                     SELECT f.parent_id FROM folders f JOIN ancestors a ON f.id = a.id
                     WHERE f.parent_id IS NOT NULL)
                 SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = ?2)",
                params![parent_id, id],
                |row| row.get(0),
            )?;
            if would_cycle {
                return Err(StoreError::Invalid(
                    "a folder cannot be moved into itself or its subfolders".into(),
                ));
            }
        }
        if folder.parent_id == new_parent && folder.name == name {
            return Ok(folder);
        }
        check_sibling_name_free(&tx, user, new_parent, name, Some(id))?;
        let seq = bump_hierarchy_seq(&tx, user)?;
        tx.execute(
            "UPDATE folders SET parent_id = ?1, name = ?2, changed_seq = ?3 WHERE id = ?4",
            params![new_parent, name, seq, id],
        )
        .map_err(|e| sibling_conflict(e, name))?;
        tx.commit()?;
        Ok(Folder {
            parent_id: new_parent,
            name: name.to_string(),
            changed_seq: seq,
            ..folder
        })
    }

    /// Deletes a folder with all its subfolders, leaving a tombstone for
    /// each, and forgets every device's sync state for them. Default folders
    /// cannot be deleted ([`StoreError::Invalid`]).
    pub fn delete_folder(&self, user: UserId, id: FolderId) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        delete_folder_in(&tx, user, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Drops the user's tombstones of deletions at or before `up_to_seq`
    /// (once every device has synced past them). Returns how many went.
    pub fn prune_folder_tombstones(
        &self,
        user: UserId,
        up_to_seq: i64,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM folder_tombstones WHERE user_id = ?1 AND seq <= ?2",
            params![user, up_to_seq],
        )?)
    }
}

/// [`Store::delete_folder`] inside the caller's transaction.
pub(super) fn delete_folder_in(
    tx: &Transaction<'_>,
    user: UserId,
    id: FolderId,
) -> Result<(), StoreError> {
    let folder = folder_of_user(tx, user, id)?
        .ok_or_else(|| StoreError::NotFound(format!("folder {id}")))?;
    if folder.special {
        return Err(StoreError::Invalid(format!(
            "the default folder {:?} cannot be deleted",
            folder.name
        )));
    }
    // The subtree, deepest first, so tombstones and deletes go children
    // before parents.
    let subtree: Vec<(FolderId, i64, bool)> = {
        let mut statement = tx.prepare_cached(
            "WITH RECURSIVE subtree(id, depth) AS (
                 SELECT ?1, 0
                 UNION ALL
                 SELECT f.id, s.depth + 1 FROM folders f JOIN subtree s ON f.parent_id = s.id)
             SELECT f.id, f.created_seq, f.special
             FROM subtree s JOIN folders f ON f.id = s.id
             ORDER BY s.depth DESC, f.id",
        )?;
        let rows = statement.query_map([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    if subtree.iter().any(|&(_, _, special)| special) {
        return Err(StoreError::Invalid(
            "the folder contains a default folder".into(),
        ));
    }
    let seq = bump_hierarchy_seq(tx, user)?;
    {
        let mut tombstone = tx.prepare_cached(
            "INSERT OR REPLACE INTO folder_tombstones (user_id, folder_id, created_seq, seq)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM folders WHERE id = ?1")?;
        let mut forget_sync = tx.prepare_cached(
            "DELETE FROM sync_states
             WHERE collection = ?1 AND device IN (SELECT id FROM devices WHERE user_id = ?2)",
        )?;
        let mut forget_held = tx.prepare_cached(
            "DELETE FROM sync_held
             WHERE collection = ?1 AND device IN (SELECT id FROM devices WHERE user_id = ?2)",
        )?;
        for &(folder_id, created_seq, _) in &subtree {
            tombstone.execute(params![user, folder_id, created_seq, seq])?;
            delete.execute([folder_id])?;
            forget_sync.execute(params![folder_id.to_string(), user])?;
            forget_held.execute(params![folder_id.to_string(), user])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_user(email: &str) -> (Store, UserId) {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user(email, "", "pw").unwrap();
        (store, user.id)
    }

    fn find(store: &Store, user: UserId, name: &str) -> Folder {
        store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap()
    }

    fn summary(changes: &[FolderChange]) -> Vec<String> {
        changes
            .iter()
            .map(|change| match change {
                FolderChange::Added(f) => format!("+{}", f.name),
                FolderChange::Updated(f) => format!("~{}", f.name),
                FolderChange::Deleted(id) => format!("-{id}"),
            })
            .collect()
    }

    #[test]
    fn folder_type_round_trips() {
        for value in 1..=19u8 {
            assert_eq!(FolderType::from_u8(value).unwrap().as_u8(), value);
        }
        assert_eq!(FolderType::from_u8(0), None);
        assert_eq!(FolderType::from_u8(20), None);
        assert!(FolderType::UserMail.is_user_creatable());
        assert!(!FolderType::Inbox.is_user_creatable());
    }

    #[test]
    fn new_user_has_default_hierarchy_at_seq_one() {
        let (store, user) = store_with_user("a@example.com");
        assert_eq!(store.hierarchy_seq(user).unwrap(), 1);
        let folders = store.folders_of(user).unwrap();
        let names: Vec<(&str, u8)> = folders
            .iter()
            .map(|f| (f.name.as_str(), f.folder_type.as_u8()))
            .collect();
        assert_eq!(
            names,
            [
                ("Inbox", 2),
                ("Drafts", 3),
                ("Deleted Items", 4),
                ("Sent Items", 5),
                ("Outbox", 6),
                ("Junk E-mail", 12),
                ("Contacts", 9),
                ("Calendar", 8),
                ("Tasks", 7),
                ("Notes", 10)
            ]
        );
        assert!(folders.iter().all(|f| f.special
            && f.parent_id.is_none()
            && f.created_seq == 1
            && f.changed_seq == 1));
        let initial = store.folder_changes_since(user, 0).unwrap();
        assert_eq!(initial.len(), 10);
        assert!(initial.iter().all(|c| matches!(c, FolderChange::Added(_))));
        assert!(store.folder_changes_since(user, 1).unwrap().is_empty());
    }

    #[test]
    fn changes_since_track_add_rename_move_and_delete() {
        let (store, user) = store_with_user("a@example.com");
        let inbox = find(&store, user, "Inbox");

        let work = store
            .create_folder(user, Some(inbox.id), "Work", FolderType::UserMail)
            .unwrap();
        assert_eq!(work.created_seq, 2);
        assert_eq!(store.hierarchy_seq(user).unwrap(), 2);
        let after_add = 2;
        let projects = store
            .create_folder(user, Some(work.id), "Projects", FolderType::UserMail)
            .unwrap();
        let old = store
            .create_folder(user, Some(projects.id), "Old", FolderType::UserMail)
            .unwrap();
        let seen = store.hierarchy_seq(user).unwrap();
        assert_eq!(seen, 4);

        assert_eq!(
            summary(&store.folder_changes_since(user, 1).unwrap()),
            ["+Work", "+Projects", "+Old"]
        );
        assert_eq!(
            summary(&store.folder_changes_since(user, after_add).unwrap()),
            ["+Projects", "+Old"]
        );

        // Rename, then move to the top level.
        let renamed = store
            .rename_folder(user, work.id, Some(inbox.id), "Job")
            .unwrap();
        assert_eq!(renamed.changed_seq, 5);
        let moved = store
            .rename_folder(user, projects.id, None, "Projects")
            .unwrap();
        assert_eq!(moved.parent_id, None);
        assert_eq!(
            summary(&store.folder_changes_since(user, seen).unwrap()),
            ["~Job", "~Projects"]
        );
        assert_eq!(
            store.folder(user, projects.id).unwrap().unwrap().parent_id,
            None
        );

        // Deleting Projects takes Old with it; both reported, child first.
        let before_delete = store.hierarchy_seq(user).unwrap();
        store.delete_folder(user, projects.id).unwrap();
        assert_eq!(store.hierarchy_seq(user).unwrap(), before_delete + 1);
        assert!(store.folder(user, old.id).unwrap().is_none());
        assert_eq!(
            store.folder_changes_since(user, before_delete).unwrap(),
            [
                FolderChange::Deleted(old.id),
                FolderChange::Deleted(projects.id)
            ]
        );
        // A client that never saw them is not told about the deletion.
        assert_eq!(
            summary(&store.folder_changes_since(user, 1).unwrap()),
            ["+Job"]
        );
        // A client that saw Projects but not Old hears only about Projects.
        let mid: Vec<FolderChange> = store.folder_changes_since(user, 3).unwrap();
        assert_eq!(
            mid,
            [
                FolderChange::Updated(store.folder(user, work.id).unwrap().unwrap()),
                FolderChange::Deleted(projects.id)
            ]
        );
    }

    #[test]
    fn added_folders_come_after_their_parents_even_when_moved() {
        let (store, user) = store_with_user("a@example.com");
        let child = store
            .create_folder(user, None, "X", FolderType::UserMail)
            .unwrap();
        let parent = store
            .create_folder(user, None, "Y", FolderType::UserMail)
            .unwrap();
        store
            .rename_folder(user, child.id, Some(parent.id), "X")
            .unwrap();
        assert!(child.id < parent.id);
        assert_eq!(
            summary(&store.folder_changes_since(user, 1).unwrap()),
            ["+Y", "+X"]
        );
        let names: Vec<String> = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        let x = names.iter().position(|n| n == "X").unwrap();
        let y = names.iter().position(|n| n == "Y").unwrap();
        assert!(y < x);
    }

    #[test]
    fn sibling_names_are_unique_case_insensitively() {
        let (store, user) = store_with_user("a@example.com");
        let inbox = find(&store, user, "Inbox");
        assert!(matches!(
            store.create_folder(user, None, "inbox", FolderType::UserMail),
            Err(StoreError::Conflict(_))
        ));
        store
            .create_folder(user, Some(inbox.id), "Inbox", FolderType::UserMail)
            .unwrap();
        let a = store
            .create_folder(user, None, "A", FolderType::UserMail)
            .unwrap();
        store
            .create_folder(user, None, "B", FolderType::UserMail)
            .unwrap();
        assert!(matches!(
            store.rename_folder(user, a.id, None, "b"),
            Err(StoreError::Conflict(_))
        ));
        // A case-only rename of the same folder is allowed.
        let renamed = store.rename_folder(user, a.id, None, "a").unwrap();
        assert_eq!(renamed.name, "a");
        let seq = store.hierarchy_seq(user).unwrap();
        // A no-op rename does not bump the counter.
        store.rename_folder(user, a.id, None, "a").unwrap();
        assert_eq!(store.hierarchy_seq(user).unwrap(), seq);
    }

    #[test]
    fn invalid_folder_operations() {
        let (store, user) = store_with_user("a@example.com");
        let inbox = find(&store, user, "Inbox");
        let junk = find(&store, user, "Junk E-mail");
        for bad in ["", "   ", "tab\there"] {
            assert!(matches!(
                store.create_folder(user, None, bad, FolderType::UserMail),
                Err(StoreError::Invalid(_))
            ));
        }
        assert!(matches!(
            store.create_folder(user, None, "Second Inbox", FolderType::Inbox),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.create_folder(user, Some(999_999), "Orphan", FolderType::UserMail),
            Err(StoreError::NotFound(_))
        ));
        for special in [&inbox, &junk] {
            assert!(matches!(
                store.rename_folder(user, special.id, None, "Renamed"),
                Err(StoreError::Invalid(_))
            ));
            assert!(matches!(
                store.delete_folder(user, special.id),
                Err(StoreError::Invalid(_))
            ));
        }
        let a = store
            .create_folder(user, None, "A", FolderType::UserMail)
            .unwrap();
        let b = store
            .create_folder(user, Some(a.id), "B", FolderType::UserMail)
            .unwrap();
        assert!(matches!(
            store.rename_folder(user, a.id, Some(b.id), "A"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.rename_folder(user, a.id, Some(a.id), "A"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.delete_folder(user, 999_999),
            Err(StoreError::NotFound(_))
        ));
        // Subfolders may be moved under a default folder.
        store
            .rename_folder(user, b.id, Some(inbox.id), "B")
            .unwrap();
        // Only the four successful changes moved the counter (1 is the default hierarchy).
        assert_eq!(store.hierarchy_seq(user).unwrap(), 4);
    }

    #[test]
    fn users_cannot_touch_each_others_folders() {
        let store = Store::open_in_memory().unwrap();
        let alice = store.add_user("alice@example.com", "", "pw").unwrap().id;
        let bob = store.add_user("bob@example.com", "", "pw").unwrap().id;
        let secret = store
            .create_folder(alice, None, "Secret", FolderType::UserMail)
            .unwrap();
        let bob_inbox = find(&store, bob, "Inbox");
        let bob_seq = store.hierarchy_seq(bob).unwrap();

        assert!(store.folder(bob, secret.id).unwrap().is_none());
        assert!(store
            .folders_of(bob)
            .unwrap()
            .iter()
            .all(|f| f.user_id == bob));
        assert!(matches!(
            store.rename_folder(bob, secret.id, None, "Mine"),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_folder(bob, secret.id),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.create_folder(bob, Some(secret.id), "Inside", FolderType::UserMail),
            Err(StoreError::NotFound(_))
        ));
        // Nor move one's own folder under someone else's.
        let own = store
            .create_folder(bob, None, "Own", FolderType::UserMail)
            .unwrap();
        assert!(matches!(
            store.rename_folder(bob, own.id, Some(secret.id), "Own"),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.rename_folder(alice, secret.id, Some(bob_inbox.id), "Secret"),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            store.folder(alice, secret.id).unwrap().unwrap().name,
            "Secret"
        );
        assert_eq!(store.hierarchy_seq(bob).unwrap(), bob_seq + 1);
        assert!(store
            .folder_changes_since(bob, 0)
            .unwrap()
            .iter()
            .all(|c| !matches!(c, FolderChange::Added(f) if f.id == secret.id)));
    }

    #[test]
    fn deleting_a_folder_forgets_its_sync_states() {
        let (store, user) = store_with_user("a@example.com");
        let device = store
            .record_device(
                user,
                &super::super::DeviceSeen {
                    device_id: "D1",
                    device_type: "Android",
                    user_agent: "ua",
                    protocol_version: "14.1",
                    now: 100,
                },
            )
            .unwrap();
        let folder = store
            .create_folder(user, None, "F", FolderType::UserMail)
            .unwrap();
        let inbox = find(&store, user, "Inbox");
        store
            .advance_sync_key(device.id, &folder.id.to_string(), None, 0, b"")
            .unwrap();
        store
            .advance_sync_key(device.id, &inbox.id.to_string(), None, 0, b"")
            .unwrap();
        store.delete_folder(user, folder.id).unwrap();
        assert!(store
            .sync_state(device.id, &folder.id.to_string())
            .unwrap()
            .is_none());
        assert!(store
            .sync_state(device.id, &inbox.id.to_string())
            .unwrap()
            .is_some());
    }

    #[test]
    fn tombstones_can_be_pruned_and_ids_are_never_reused() {
        let (store, user) = store_with_user("a@example.com");
        let gone = store
            .create_folder(user, None, "Gone", FolderType::UserMail)
            .unwrap();
        store.delete_folder(user, gone.id).unwrap();
        let next = store
            .create_folder(user, None, "Gone", FolderType::UserMail)
            .unwrap();
        assert!(next.id > gone.id);
        assert_eq!(
            store.folder_changes_since(user, 2).unwrap(),
            [
                FolderChange::Added(next.clone()),
                FolderChange::Deleted(gone.id)
            ]
        );
        assert_eq!(store.prune_folder_tombstones(user, 3).unwrap(), 1);
        assert_eq!(
            store.folder_changes_since(user, 2).unwrap(),
            [FolderChange::Added(next)]
        );
    }

    #[test]
    fn change_queries_use_indexes() {
        let (store, _) = store_with_user("a@example.com");
        let plan = |sql: &str| -> String {
            let mut statement = store
                .connection()
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = statement
                .query_map(params![1, 0], |row| row.get::<_, String>(3))
                .unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
        };
        let folders =
            plan("SELECT id FROM folders WHERE user_id = ?1 AND changed_seq > ?2 ORDER BY id");
        assert!(folders.contains("folders_changes"), "{folders}");
        let tombstones = plan(
            "SELECT folder_id FROM folder_tombstones WHERE user_id = ?1 AND seq > ?2 AND created_seq <= ?2 ORDER BY seq, rowid",
        );
        assert!(tombstones.contains("folder_tombstones_seq"), "{tombstones}");
    }
}
