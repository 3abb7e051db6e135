//! Items — the things inside folders (mail, and later contacts, events, tasks, notes) — and
//! their per-folder change tracking, the ground every Sync, MoveItems and ItemOperations
//! stands on.
//!
//! Every folder has its own change counter (`folders.item_seq`). Each write to an item
//! bumps its folder's counter by one in the same transaction and stamps the item's
//! `changed_seq` (and `created_seq` on insert) with the new value; a delete leaves a
//! tombstone carrying that value. So within a folder every change has its own counter
//! value, and a client that last saw value `s` gets everything it missed, in order, from
//! [`Store::item_changes_since`] with indexed queries only — and can resume exactly after
//! the last change it was sent when a window size cut the list short.
//!
//! Moving an item gives it a **new id** (EAS MoveItems returns the new ServerId as
//! `DstMsgId`): the source folder gets a tombstone for the old id and the target folder an
//! addition of the new one, so a phone that still syncs the source can never mistake a
//! stale delete for the moved item. Per-class tables (messages, …) reference
//! `items(id) ON DELETE CASCADE ON UPDATE CASCADE` and follow the item without copying.
//!
//! A class module (mail today; contacts, calendar, tasks and notes later) files its own row
//! for an item inside the same transaction as `insert_item` / `touch_item`, which do the
//! counting; deleting and moving are class-independent and live here.
//!
//! Every method takes the user and never reads or writes another user's rows.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{FolderId, FolderType, Store, StoreError, UserId};

/// Row id of an item; also its EAS ServerId.
pub type ItemId = i64;

/// What kind of data an item is (its EAS class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemClass {
    Email,
    Contacts,
    Calendar,
    Tasks,
    Notes,
}

impl ItemClass {
    /// The EAS class name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemClass::Email => "Email",
            ItemClass::Contacts => "Contacts",
            ItemClass::Calendar => "Calendar",
            ItemClass::Tasks => "Tasks",
            ItemClass::Notes => "Notes",
        }
    }

    pub fn from_name(name: &str) -> Option<ItemClass> {
        Some(match name {
            "Email" => ItemClass::Email,
            "Contacts" => ItemClass::Contacts,
            "Calendar" => ItemClass::Calendar,
            "Tasks" => ItemClass::Tasks,
            "Notes" => ItemClass::Notes,
            _ => return None,
        })
    }

    /// The class of the items a folder of this type holds; `None` for folders that hold
    /// no syncable items (Journal).
    pub fn for_folder_type(folder_type: FolderType) -> Option<ItemClass> {
        use FolderType::*;
        match folder_type {
            Generic | Inbox | Drafts | DeletedItems | SentItems | Outbox | UserMail | Unknown => {
                Some(ItemClass::Email)
            }
            Calendar | UserCalendar => Some(ItemClass::Calendar),
            Contacts | UserContacts | RecipientInfoCache => Some(ItemClass::Contacts),
            Tasks | UserTasks => Some(ItemClass::Tasks),
            Notes | UserNotes => Some(ItemClass::Notes),
            Journal | UserJournal => None,
        }
    }
}

/// One item's tracking record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: ItemId,
    pub user_id: UserId,
    pub folder_id: FolderId,
    pub class: ItemClass,
    /// Folder counter value of the change that put the item into its folder.
    pub created_seq: i64,
    /// Folder counter value of the item's latest change.
    pub changed_seq: i64,
    /// The date FilterType windows compare: received date for mail, start for events;
    /// `None` for items without one (contacts), which every window includes.
    pub sort_date: Option<i64>,
}

/// What happened to an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// New to a client that saw the folder at the `since` value.
    Added,
    /// Known to that client, changed since.
    Changed,
    /// Known to that client, deleted or moved away since.
    Deleted,
}

/// One entry of a folder's change list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemChange {
    pub kind: ChangeKind,
    pub item_id: ItemId,
    /// The folder counter value of this change; changes come in increasing order.
    pub seq: i64,
    /// The item's sort date (`None` for deletions and undated items).
    pub sort_date: Option<i64>,
}

/// A page of a folder's changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemChanges {
    pub changes: Vec<ItemChange>,
    /// More changes follow; ask again from `next_seq` (EAS MoreAvailable).
    pub more_available: bool,
    /// The counter value the client has seen once it has these changes: the last
    /// change's value when the page was cut short, else the folder's current value.
    pub next_seq: i64,
}

const ITEM_COLUMNS: &str =
    "SELECT id, user_id, folder_id, class, created_seq, changed_seq, sort_date FROM items";

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<Item> {
    let class: String = row.get(3)?;
    Ok(Item {
        id: row.get(0)?,
        user_id: row.get(1)?,
        folder_id: row.get(2)?,
        // The CHECK constraint admits only known names.
        class: ItemClass::from_name(&class).unwrap_or(ItemClass::Email),
        created_seq: row.get(4)?,
        changed_seq: row.get(5)?,
        sort_date: row.get(6)?,
    })
}

/// The item with this id if it belongs to `user`.
pub(crate) fn item_of_user(
    conn: &Connection,
    user: UserId,
    id: ItemId,
) -> Result<Option<Item>, StoreError> {
    let mut statement =
        conn.prepare_cached(&format!("{ITEM_COLUMNS} WHERE id = ?1 AND user_id = ?2"))?;
    Ok(statement
        .query_row(params![id, user], item_from_row)
        .optional()?)
}

/// Increments the folder's item counter and returns the new value. The folder must be the
/// user's (`NotFound`) and, when `class` is given, hold items of that class (`Invalid`);
/// both are checked before anything is written.
fn bump_item_seq(
    conn: &Connection,
    user: UserId,
    folder: FolderId,
    class: Option<ItemClass>,
) -> Result<i64, StoreError> {
    let type_value: i64 = conn
        .prepare_cached("SELECT folder_type FROM folders WHERE id = ?1 AND user_id = ?2")?
        .query_row(params![folder, user], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
    if let Some(class) = class {
        let folder_type = u8::try_from(type_value)
            .ok()
            .and_then(FolderType::from_u8)
            .unwrap_or(FolderType::Unknown);
        if ItemClass::for_folder_type(folder_type) != Some(class) {
            return Err(StoreError::Invalid(format!(
                "folder {folder} ({folder_type:?}) cannot hold {} items",
                class.as_str()
            )));
        }
    }
    Ok(conn
        .prepare_cached(
            "UPDATE folders SET item_seq = item_seq + 1 WHERE id = ?1 RETURNING item_seq",
        )?
        .query_row([folder], |row| row.get(0))?)
}

/// Inserts a new item into the user's folder as one change of that folder; runs inside the
/// caller's transaction (the class module adds its own row for the same id).
pub(crate) fn insert_item(
    conn: &Connection,
    user: UserId,
    folder: FolderId,
    class: ItemClass,
    sort_date: Option<i64>,
) -> Result<Item, StoreError> {
    let seq = bump_item_seq(conn, user, folder, Some(class))?;
    let id: ItemId = conn
        .prepare_cached(
            "INSERT INTO items (user_id, folder_id, class, created_seq, changed_seq, sort_date)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5) RETURNING id",
        )?
        .query_row(
            params![user, folder, class.as_str(), seq, sort_date],
            |row| row.get(0),
        )?;
    Ok(Item {
        id,
        user_id: user,
        folder_id: folder,
        class,
        created_seq: seq,
        changed_seq: seq,
        sort_date,
    })
}

/// Records a change to the item as one change of its folder; runs inside the caller's
/// transaction. Returns the new counter value.
pub(crate) fn touch_item(conn: &Connection, user: UserId, id: ItemId) -> Result<i64, StoreError> {
    let item =
        item_of_user(conn, user, id)?.ok_or_else(|| StoreError::NotFound(format!("item {id}")))?;
    let seq = bump_item_seq(conn, user, item.folder_id, None)?;
    conn.prepare_cached("UPDATE items SET changed_seq = ?1 WHERE id = ?2")?
        .execute(params![seq, id])?;
    Ok(seq)
}

/// Deletes the user's item, leaving its tombstone, inside the caller's transaction.
pub(crate) fn delete_item_in(
    conn: &Connection,
    user: UserId,
    id: ItemId,
) -> Result<(), StoreError> {
    let item =
        item_of_user(conn, user, id)?.ok_or_else(|| StoreError::NotFound(format!("item {id}")))?;
    let seq = bump_item_seq(conn, user, item.folder_id, None)?;
    conn.execute(
        "INSERT INTO item_tombstones (folder_id, item_id, created_seq, seq)
         VALUES (?1, ?2, ?3, ?4)",
        params![item.folder_id, id, item.created_seq, seq],
    )?;
    conn.execute("DELETE FROM items WHERE id = ?1", [id])?;
    Ok(())
}

/// Moves the user's item to `target` inside the caller's transaction; returns the item's new
/// id (the same id when it already was there).
fn move_item_in(
    tx: &Connection,
    user: UserId,
    id: ItemId,
    target: FolderId,
) -> Result<ItemId, StoreError> {
    let item =
        item_of_user(tx, user, id)?.ok_or_else(|| StoreError::NotFound(format!("item {id}")))?;
    if item.folder_id == target {
        return Ok(id);
    }
    let target_seq = bump_item_seq(tx, user, target, Some(item.class))?;
    let source_seq = bump_item_seq(tx, user, item.folder_id, None)?;
    tx.execute(
        "INSERT INTO item_tombstones (folder_id, item_id, created_seq, seq)
             VALUES (?1, ?2, ?3, ?4)",
        params![item.folder_id, id, item.created_seq, source_seq],
    )?;
    // A fresh id from the AUTOINCREMENT sequence: insert a placeholder row and drop it
    // (the sequence never goes back), then renumber the item, which cascades to its
    // class rows.
    let new_id: ItemId = tx.query_row(
        "INSERT INTO items (user_id, folder_id, class, created_seq, changed_seq, sort_date)
             VALUES (?1, ?2, ?3, 0, 0, NULL) RETURNING id",
        params![user, target, item.class.as_str()],
        |row| row.get(0),
    )?;
    tx.execute("DELETE FROM items WHERE id = ?1", [new_id])?;
    tx.execute(
        "UPDATE items SET id = ?1, folder_id = ?2, created_seq = ?3, changed_seq = ?3
             WHERE id = ?4",
        params![new_id, target, target_seq, id],
    )?;
    Ok(new_id)
}

impl Store {
    /// The current value of the folder's item change counter.
    pub fn folder_item_seq(&self, user: UserId, folder: FolderId) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached("SELECT item_seq FROM folders WHERE id = ?1 AND user_id = ?2")?
            .query_row(params![folder, user], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))
    }

    /// The item with this id if it belongs to `user`.
    pub fn item(&self, user: UserId, id: ItemId) -> Result<Option<Item>, StoreError> {
        item_of_user(&self.conn, user, id)
    }

    /// What changed in the folder after counter value `since`, oldest first, at most
    /// `limit` entries (EAS WindowSize; 0 means no limit).
    ///
    /// Added and Changed are told apart by whether the item was created after `since` (a
    /// hint: whether a device has an item is `store::held`'s to say); every deletion after
    /// `since` is listed, even of items created after it, since a device may hold those
    /// too. When the page is cut short, `next_seq` is the value of its last change and the
    /// next call continues right after it.
    pub fn item_changes_since(
        &self,
        user: UserId,
        folder: FolderId,
        since: i64,
        limit: usize,
    ) -> Result<ItemChanges, StoreError> {
        let snapshot = self.read_snapshot()?;
        let tx = &self.conn;
        let current: i64 = tx
            .prepare_cached("SELECT item_seq FROM folders WHERE id = ?1 AND user_id = ?2")?
            .query_row(params![folder, user], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("folder {folder}")))?;
        // One more than asked for tells whether more are available.
        let fetch = if limit == 0 { -1 } else { limit as i64 + 1 };
        let mut changes: Vec<ItemChange> = Vec::new();
        {
            let mut statement = tx.prepare_cached(
                "SELECT id, created_seq, changed_seq, sort_date FROM items
                 WHERE folder_id = ?1 AND user_id = ?2 AND changed_seq > ?3
                 ORDER BY changed_seq LIMIT ?4",
            )?;
            let rows = statement.query_map(params![folder, user, since, fetch], |row| {
                let created: i64 = row.get(1)?;
                Ok(ItemChange {
                    kind: if created > since {
                        ChangeKind::Added
                    } else {
                        ChangeKind::Changed
                    },
                    item_id: row.get(0)?,
                    seq: row.get(2)?,
                    sort_date: row.get(3)?,
                })
            })?;
            for change in rows {
                changes.push(change?);
            }
        }
        {
            // The folder is the user's (checked above); tombstones carry no user column.
            let mut statement = tx.prepare_cached(
                "SELECT item_id, seq FROM item_tombstones
                 WHERE folder_id = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3",
            )?;
            let rows = statement.query_map(params![folder, since, fetch], |row| {
                Ok(ItemChange {
                    kind: ChangeKind::Deleted,
                    item_id: row.get(0)?,
                    seq: row.get(1)?,
                    sort_date: None,
                })
            })?;
            for change in rows {
                changes.push(change?);
            }
        }
        snapshot.end()?;
        // Each counter value belongs to exactly one change, so this order is total.
        changes.sort_by_key(|change| change.seq);
        let more_available = limit != 0 && changes.len() > limit;
        if more_available {
            changes.truncate(limit);
        }
        let next_seq = match changes.last() {
            Some(last) if more_available => last.seq,
            _ => current,
        };
        Ok(ItemChanges {
            changes,
            more_available,
            next_seq,
        })
    }

    /// The folder's items whose sort date is at or after `since_date` (all items when
    /// `None`), newest first; undated items are always included (EAS FilterType).
    pub fn items_in_window(
        &self,
        user: UserId,
        folder: FolderId,
        since_date: Option<i64>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "{ITEM_COLUMNS} WHERE folder_id = ?1 AND user_id = ?2
             AND (?3 IS NULL OR sort_date IS NULL OR sort_date >= ?3)
             ORDER BY sort_date DESC, id DESC"
        ))?;
        let items = statement
            .query_map(params![folder, user, since_date], item_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(items)
    }

    /// The folder's items dated in `[from, to)` (`None`: without that bound), the band a
    /// FilterType window move crosses; undated items are never in a band.
    pub fn items_dated_between(
        &self,
        user: UserId,
        folder: FolderId,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "{ITEM_COLUMNS} WHERE folder_id = ?1 AND user_id = ?2 AND sort_date IS NOT NULL
             AND (?3 IS NULL OR sort_date >= ?3) AND (?4 IS NULL OR sort_date < ?4)
             ORDER BY sort_date DESC, id DESC"
        ))?;
        let items = statement
            .query_map(params![folder, user, from, to], item_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(items)
    }

    /// Deletes an item (and its class data): one change of its folder, which keeps a
    /// tombstone so clients learn of it.
    pub fn delete_item(&self, user: UserId, id: ItemId) -> Result<(), StoreError> {
        let tx = self.write_transaction()?;
        delete_item_in(&tx, user, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Empties one of the user's folders in one transaction (ItemOperations
    /// EmptyFolderContents): every item goes, each with its tombstone, and with
    /// `with_subfolders` every subfolder that is not (and holds no) default folder.
    /// Returns how many items and folders went; none when the folder is not the user's
    /// ([`StoreError::NotFound`]).
    pub fn empty_folder(
        &self,
        user: UserId,
        folder: FolderId,
        with_subfolders: bool,
    ) -> Result<(usize, usize), StoreError> {
        let tx = self.write_transaction()?;
        let owned: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM folders WHERE id = ?1 AND user_id = ?2)",
            params![folder, user],
            |row| row.get(0),
        )?;
        if !owned {
            return Err(StoreError::NotFound(format!("folder {folder}")));
        }
        let items: Vec<(ItemId, i64)> = {
            let mut statement =
                tx.prepare_cached("SELECT id, created_seq FROM items WHERE folder_id = ?1")?;
            let rows = statement.query_map([folder], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for &(id, created_seq) in &items {
            let seq = bump_item_seq(&tx, user, folder, None)?;
            tx.execute(
                "INSERT INTO item_tombstones (folder_id, item_id, created_seq, seq)
                 VALUES (?1, ?2, ?3, ?4)",
                params![folder, id, created_seq, seq],
            )?;
            tx.execute("DELETE FROM items WHERE id = ?1", [id])?;
        }
        let mut folders = 0;
        if with_subfolders {
            let children: Vec<FolderId> = {
                let mut statement = tx.prepare_cached(
                    "SELECT id FROM folders WHERE parent_id = ?1 AND user_id = ?2",
                )?;
                let rows = statement.query_map(params![folder, user], |row| row.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            for child in children {
                match super::folders::delete_folder_in(&tx, user, child) {
                    Ok(()) => folders += 1,
                    // A default folder (or one holding one) stays.
                    Err(StoreError::Invalid(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        tx.commit()?;
        Ok((items.len(), folders))
    }

    /// Moves an item to another of the user's folders, returning its new id (see the
    /// module comment): a deletion in the source folder and an addition in the target,
    /// in one transaction. The target must hold items of the item's class
    /// ([`StoreError::Invalid`]); moving into the same folder changes nothing.
    pub fn move_item(
        &self,
        user: UserId,
        id: ItemId,
        target: FolderId,
    ) -> Result<ItemId, StoreError> {
        let tx = self.write_transaction()?;
        let new_id = move_item_in(&tx, user, id, target)?;
        tx.commit()?;
        Ok(new_id)
    }

    /// Forgets the folder's tombstones up to counter value `up_to_seq` (once no sync state
    /// of any device is older). Returns how many went.
    pub fn prune_item_tombstones(
        &self,
        user: UserId,
        folder: FolderId,
        up_to_seq: i64,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM item_tombstones WHERE folder_id = ?1 AND seq <= ?2
             AND folder_id IN (SELECT id FROM folders WHERE id = ?1 AND user_id = ?3)",
            params![folder, up_to_seq, user],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        store: Store,
        user: UserId,
        inbox: FolderId,
        other: FolderId,
    }

    fn fixture() -> Fixture {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("a@example.com", "", "pw").unwrap().id;
        let folders = store.folders_of(user).unwrap();
        let inbox = folders.iter().find(|f| f.name == "Inbox").unwrap().id;
        let other = store
            .create_folder(user, None, "Other", FolderType::UserMail)
            .unwrap()
            .id;
        Fixture {
            store,
            user,
            inbox,
            other,
        }
    }

    /// Inserts a bare Email item in its own transaction.
    fn add(f: &Fixture, folder: FolderId, date: i64) -> Item {
        let tx = f.store.write_transaction().unwrap();
        let item = insert_item(&tx, f.user, folder, ItemClass::Email, Some(date)).unwrap();
        tx.commit().unwrap();
        item
    }

    fn touch(f: &Fixture, id: ItemId) -> i64 {
        let tx = f.store.write_transaction().unwrap();
        let seq = touch_item(&tx, f.user, id).unwrap();
        tx.commit().unwrap();
        seq
    }

    fn summary(changes: &ItemChanges) -> Vec<(ChangeKind, ItemId, i64)> {
        changes
            .changes
            .iter()
            .map(|c| (c.kind, c.item_id, c.seq))
            .collect()
    }

    #[test]
    fn each_write_is_one_change_of_its_folder() {
        let f = fixture();
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), 0);
        let a = add(&f, f.inbox, 100);
        let b = add(&f, f.inbox, 200);
        assert_eq!((a.created_seq, b.created_seq), (1, 2));
        assert_eq!(touch(&f, a.id), 3);
        f.store.delete_item(f.user, b.id).unwrap();
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), 4);
        // Another folder counts on its own.
        let c = add(&f, f.other, 300);
        assert_eq!(c.created_seq, 1);
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), 4);

        // From scratch: a (changed) is new; b's deletion is listed too (a device may hold
        // an item created after its key: store::held decides).
        let all = f.store.item_changes_since(f.user, f.inbox, 0, 0).unwrap();
        assert_eq!(
            summary(&all),
            [(ChangeKind::Added, a.id, 3), (ChangeKind::Deleted, b.id, 4)]
        );
        assert!(!all.more_available);
        assert_eq!(all.next_seq, 4);
        // A client that saw both: a changed, b deleted.
        let since2 = f.store.item_changes_since(f.user, f.inbox, 2, 0).unwrap();
        assert_eq!(
            summary(&since2),
            [
                (ChangeKind::Changed, a.id, 3),
                (ChangeKind::Deleted, b.id, 4)
            ]
        );
        assert_eq!(since2.changes[0].sort_date, Some(100));
        // Up to date: nothing, same counter.
        let none = f.store.item_changes_since(f.user, f.inbox, 4, 0).unwrap();
        assert!(none.changes.is_empty());
        assert_eq!(none.next_seq, 4);
    }

    #[test]
    fn change_lists_page_by_window_size_and_resume_exactly() {
        let f = fixture();
        let items: Vec<Item> = (0..7).map(|n| add(&f, f.inbox, n)).collect();
        // Seq 8 deletes the second item, seq 9 changes the first.
        f.store.delete_item(f.user, items[1].id).unwrap();
        touch(&f, items[0].id);
        // A client that saw the first three items pages through the rest, 2 at a time.
        let mut since = 3;
        let mut pages = Vec::new();
        loop {
            let page = f
                .store
                .item_changes_since(f.user, f.inbox, since, 2)
                .unwrap();
            assert!(page.changes.len() <= 2);
            pages.push(summary(&page));
            since = page.next_seq;
            if !page.more_available {
                break;
            }
        }
        let flat: Vec<(ChangeKind, ItemId, i64)> = pages.concat();
        let expected = vec![
            (ChangeKind::Added, items[3].id, 4),
            (ChangeKind::Added, items[4].id, 5),
            (ChangeKind::Added, items[5].id, 6),
            (ChangeKind::Added, items[6].id, 7),
            (ChangeKind::Deleted, items[1].id, 8),
            (ChangeKind::Changed, items[0].id, 9),
        ];
        assert_eq!(flat, expected);
        assert_eq!(pages.len(), 3);
        assert_eq!(since, 9);
        // A page that ends exactly at the last change says so.
        let exact = f.store.item_changes_since(f.user, f.inbox, 7, 2).unwrap();
        assert!(!exact.more_available);
        assert_eq!(exact.next_seq, 9);
    }

    #[test]
    fn emptying_a_folder_leaves_a_tombstone_per_item_and_keeps_others_alone() {
        let f = fixture();
        let a = add(&f, f.other, 1);
        let b = add(&f, f.other, 2);
        let kept = add(&f, f.inbox, 3);
        let sub = f
            .store
            .create_folder(f.user, Some(f.other), "Sub", FolderType::UserMail)
            .unwrap();
        let seen = f.store.folder_item_seq(f.user, f.other).unwrap();
        assert_eq!(
            f.store.empty_folder(f.user, f.other, false).unwrap(),
            (2, 0)
        );
        let changes = f
            .store
            .item_changes_since(f.user, f.other, seen, 0)
            .unwrap();
        let deleted: Vec<ItemId> = changes.changes.iter().map(|c| c.item_id).collect();
        assert_eq!(deleted, [a.id, b.id]);
        assert!(changes
            .changes
            .iter()
            .all(|c| c.kind == ChangeKind::Deleted));
        assert!(f.store.item(f.user, kept.id).unwrap().is_some());
        assert!(f.store.folder(f.user, sub.id).unwrap().is_some());
        // With subfolders; a default folder is never among what goes.
        assert_eq!(f.store.empty_folder(f.user, f.other, true).unwrap(), (0, 1));
        assert!(f.store.folder(f.user, sub.id).unwrap().is_none());
        assert_eq!(f.store.empty_folder(f.user, f.inbox, true).unwrap(), (1, 0));
        // Another user's folder is not found.
        let other_user = f.store.add_user("b@example.com", "", "pw").unwrap().id;
        assert!(matches!(
            f.store.empty_folder(other_user, f.other, true),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn moving_gives_a_new_id_and_a_tombstone() {
        let f = fixture();
        let a = add(&f, f.inbox, 100);
        let seen_inbox = f.store.folder_item_seq(f.user, f.inbox).unwrap();
        let seen_other = f.store.folder_item_seq(f.user, f.other).unwrap();
        let moved = f.store.move_item(f.user, a.id, f.other).unwrap();
        assert!(moved > a.id);
        assert!(f.store.item(f.user, a.id).unwrap().is_none());
        let item = f.store.item(f.user, moved).unwrap().unwrap();
        assert_eq!(item.folder_id, f.other);
        assert_eq!(item.sort_date, Some(100));
        assert_eq!(
            summary(
                &f.store
                    .item_changes_since(f.user, f.inbox, seen_inbox, 0)
                    .unwrap()
            ),
            [(ChangeKind::Deleted, a.id, 2)]
        );
        assert_eq!(
            summary(
                &f.store
                    .item_changes_since(f.user, f.other, seen_other, 0)
                    .unwrap()
            ),
            [(ChangeKind::Added, moved, 1)]
        );
        // Back again: yet another id; ids are never reused.
        let back = f.store.move_item(f.user, moved, f.inbox).unwrap();
        assert!(back > moved);
        let fresh = add(&f, f.inbox, 1);
        assert!(fresh.id > back);
        // Into the same folder: nothing happens.
        let seq = f.store.folder_item_seq(f.user, f.inbox).unwrap();
        assert_eq!(f.store.move_item(f.user, back, f.inbox).unwrap(), back);
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), seq);
    }

    #[test]
    fn items_only_go_into_folders_of_their_class() {
        let f = fixture();
        let contacts = f
            .store
            .folders_of(f.user)
            .unwrap()
            .into_iter()
            .find(|folder| folder.folder_type == FolderType::Contacts)
            .unwrap()
            .id;
        let tx = f.store.write_transaction().unwrap();
        assert!(matches!(
            insert_item(&tx, f.user, contacts, ItemClass::Email, None),
            Err(StoreError::Invalid(_))
        ));
        let contact = insert_item(&tx, f.user, contacts, ItemClass::Contacts, None).unwrap();
        tx.commit().unwrap();
        assert!(matches!(
            f.store.move_item(f.user, contact.id, f.inbox),
            Err(StoreError::Invalid(_))
        ));
        // The failed move left both folders untouched.
        assert_eq!(f.store.folder_item_seq(f.user, f.inbox).unwrap(), 0);
        assert_eq!(f.store.folder_item_seq(f.user, contacts).unwrap(), 1);
        // Undated items are in every window.
        let window = f
            .store
            .items_in_window(f.user, contacts, Some(1_000))
            .unwrap();
        assert_eq!(window.len(), 1);
    }

    #[test]
    fn filter_windows_are_newest_first() {
        let f = fixture();
        let old = add(&f, f.inbox, 1_000);
        let mid = add(&f, f.inbox, 2_000);
        let new = add(&f, f.inbox, 3_000);
        let ids = |since| -> Vec<ItemId> {
            f.store
                .items_in_window(f.user, f.inbox, since)
                .unwrap()
                .iter()
                .map(|i| i.id)
                .collect()
        };
        assert_eq!(ids(None), [new.id, mid.id, old.id]);
        assert_eq!(ids(Some(2_000)), [new.id, mid.id]);
        assert_eq!(ids(Some(3_001)), Vec::<ItemId>::new());
    }

    #[test]
    fn users_never_see_each_others_items() {
        let f = fixture();
        let mine = add(&f, f.inbox, 5);
        let bob = f.store.add_user("bob@example.com", "", "pw").unwrap().id;
        let bob_inbox = f
            .store
            .folders_of(bob)
            .unwrap()
            .into_iter()
            .find(|folder| folder.name == "Inbox")
            .unwrap()
            .id;
        assert!(f.store.item(bob, mine.id).unwrap().is_none());
        assert!(matches!(
            f.store.item_changes_since(bob, f.inbox, 0, 0),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            f.store.folder_item_seq(bob, f.inbox),
            Err(StoreError::NotFound(_))
        ));
        assert!(f
            .store
            .items_in_window(bob, f.inbox, None)
            .unwrap()
            .is_empty());
        assert!(matches!(
            f.store.delete_item(bob, mine.id),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            f.store.move_item(bob, mine.id, bob_inbox),
            Err(StoreError::NotFound(_))
        ));
        // Nor can one move one's own item into someone else's folder.
        assert!(matches!(
            f.store.move_item(f.user, mine.id, bob_inbox),
            Err(StoreError::NotFound(_))
        ));
        {
            let tx = f.store.write_transaction().unwrap();
            assert!(matches!(
                insert_item(&tx, bob, f.inbox, ItemClass::Email, None),
                Err(StoreError::NotFound(_))
            ));
            assert!(matches!(
                touch_item(&tx, bob, mine.id),
                Err(StoreError::NotFound(_))
            ));
        }
        f.store.delete_item(f.user, mine.id).unwrap();
        assert_eq!(f.store.prune_item_tombstones(bob, f.inbox, 100).unwrap(), 0);
        assert_eq!(
            f.store
                .item_changes_since(f.user, f.inbox, 1, 0)
                .unwrap()
                .changes
                .len(),
            1
        );
        assert_eq!(
            f.store.prune_item_tombstones(f.user, f.inbox, 100).unwrap(),
            1
        );
        assert!(f
            .store
            .item_changes_since(f.user, f.inbox, 1, 0)
            .unwrap()
            .changes
            .is_empty());
        assert_eq!(f.store.folder_item_seq(bob, bob_inbox).unwrap(), 0);
    }

    #[test]
    fn deleting_a_folder_or_user_takes_its_items() {
        let f = fixture();
        let a = add(&f, f.other, 1);
        f.store.delete_folder(f.user, f.other).unwrap();
        assert!(f.store.item(f.user, a.id).unwrap().is_none());
        let b = add(&f, f.inbox, 1);
        f.store.delete_user("a@example.com").unwrap();
        let left: i64 = f
            .store
            .connection()
            .query_row("SELECT count(*) FROM items WHERE id = ?1", [b.id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn change_queries_use_indexes() {
        let f = fixture();
        let plan = |sql: &str| -> String {
            let mut statement = f
                .store
                .connection()
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = statement
                .query_map([], |row| row.get::<_, String>(3))
                .unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
        };
        let items = plan(
            "SELECT id FROM items WHERE folder_id = 1 AND user_id = 1 AND changed_seq > 0 ORDER BY changed_seq LIMIT 10",
        );
        assert!(items.contains("items_changes"), "{items}");
        let tombstones = plan(
            "SELECT item_id FROM item_tombstones WHERE folder_id = 1 AND seq > 0 AND created_seq <= 0 ORDER BY seq LIMIT 10",
        );
        assert!(
            tombstones.contains("PRIMARY KEY") && !tombstones.contains("TEMP B-TREE"),
            "{tombstones}"
        );
        let window = plan(
            "SELECT id FROM items WHERE folder_id = 1 AND user_id = 1 AND (NULL IS NULL OR sort_date IS NULL OR sort_date >= 5) ORDER BY sort_date DESC, id DESC",
        );
        assert!(window.contains("items_window"), "{window}");
    }
}
