//! The generic change streamer of Sync: from a folder's change counter value the client has
//! seen, the Commands the client needs (Add, Change, Delete, SoftDelete), at most a window of
//! them, with any item class ([`ClassAdapter`]) encoding its own ApplicationData.
//!
//! The FilterType window: the sync state remembers the cutoff date the client was last brought
//! to. When the window narrows (time passes, or a smaller FilterType), items that fell out are
//! sent as SoftDelete; when it widens, items that came in are sent as Add. New and changed
//! items outside the window are never sent. These window moves are sent whole, in addition to
//! the window of changes: a window move is rare and splitting it would need a second cursor.

use std::collections::HashSet;

use super::class::{encode, ClassAdapter, ReadContext};
use crate::store::{ChangeKind, FolderId, Item, ItemChange, ItemId, StoreError};
use crate::wbxml::{tag::airsync, Element};

/// What one Sync response carries for a collection.
#[derive(Debug, Default)]
pub struct ServerChanges {
    pub commands: Vec<Element>,
    pub more_available: bool,
    /// The counter value the client has seen once it has `commands`.
    pub next_seq: i64,
}

/// Where a collection's client stands and how much it may get.
pub struct Cursor {
    pub folder: FolderId,
    /// The counter value the client has seen (0: nothing yet).
    pub since: i64,
    /// The window cutoff the client was brought to (`None`: no window).
    pub old_cutoff: Option<i64>,
    /// The cutoff of the window asked for now.
    pub new_cutoff: Option<i64>,
    /// Most changes to send (≥ 1).
    pub limit: usize,
}

fn in_window(cutoff: Option<i64>, date: Option<i64>) -> bool {
    match (cutoff, date) {
        (Some(cutoff), Some(date)) => date >= cutoff,
        _ => true,
    }
}

/// The changes of a folder after `cursor.since`. `echo` holds the items this request's own
/// client commands added, changed or deleted; their changes are not sent back.
pub fn server_changes(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    cursor: &Cursor,
    echo: &HashSet<ItemId>,
) -> Result<ServerChanges, StoreError> {
    let (store, user) = (context.store, context.user);
    let mut commands = Vec::new();
    let mut added: HashSet<ItemId> = HashSet::new();
    if cursor.since > 0 && cursor.old_cutoff != cursor.new_cutoff {
        for (item, inside) in window_moves(context, cursor)? {
            if inside {
                if let Some(add) = add_command(context, adapter, item.id)? {
                    added.insert(item.id);
                    commands.push(add);
                }
            } else {
                commands.push(server_id_command(airsync::SOFT_DELETE, item.id));
            }
        }
    }
    // Changes outside the window are skipped, so keep reading until the window is full or
    // the folder has no more: a narrow FilterType over a big folder still fills each answer.
    let limit = cursor.limit.max(1);
    let mut sent = 0;
    let mut since = cursor.since;
    loop {
        let page = store.item_changes_since(user, cursor.folder, since, limit - sent)?;
        for change in &page.changes {
            if let Some(command) = change_command(context, adapter, cursor, echo, &added, change)? {
                commands.push(command);
                sent += 1;
            }
        }
        since = page.next_seq;
        if !page.more_available || sent >= limit {
            return Ok(ServerChanges {
                commands,
                more_available: page.more_available,
                next_seq: page.next_seq,
            });
        }
    }
}

/// The command for one change, `None` when the client does not get it.
fn change_command(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    cursor: &Cursor,
    echo: &HashSet<ItemId>,
    added: &HashSet<ItemId>,
    change: &ItemChange,
) -> Result<Option<Element>, StoreError> {
    let id = change.item_id;
    Ok(match change.kind {
        ChangeKind::Added | ChangeKind::Changed if !reaches_client(cursor, added, change) => None,
        // The client's own Add, Change or Delete: it knows.
        _ if echo.contains(&id) => None,
        ChangeKind::Added => add_command(context, adapter, id)?,
        ChangeKind::Changed => {
            let Some(adapter) = adapter else {
                return Ok(None);
            };
            adapter.read(context, id)?.map(|record| {
                let mut command = server_id_command(airsync::CHANGE, id);
                let changes_only = !adapter.changes_whole_item(&record);
                command.push(encode(
                    adapter.fields(),
                    &record,
                    context.version,
                    changes_only,
                ));
                command
            })
        }
        ChangeKind::Deleted => Some(server_id_command(airsync::DELETE, id)),
    })
}

/// Whether an Add or Change reaches the client: it is inside the window asked for now and
/// was not already sent as a window move (`added`).
fn reaches_client(cursor: &Cursor, added: &HashSet<ItemId>, change: &ItemChange) -> bool {
    in_window(cursor.new_cutoff, change.sort_date) && !added.contains(&change.item_id)
}

/// How many commands [`server_changes`] would send from `cursor` with no window limit (the
/// client's own commands aside): GetItemEstimate. Counts from the change list and the window
/// moves without reading or encoding any item.
pub fn count_changes(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    cursor: &Cursor,
) -> Result<usize, StoreError> {
    let mut count = 0;
    let mut added: HashSet<ItemId> = HashSet::new();
    if cursor.since > 0 && cursor.old_cutoff != cursor.new_cutoff {
        for (item, inside) in window_moves(context, cursor)? {
            if !inside {
                count += 1;
            } else if adapter.is_some() {
                added.insert(item.id);
                count += 1;
            }
        }
    }
    let page = context
        .store
        .item_changes_since(context.user, cursor.folder, cursor.since, 0)?;
    count += page
        .changes
        .iter()
        .filter(|change| match change.kind {
            ChangeKind::Deleted => true,
            ChangeKind::Added | ChangeKind::Changed => {
                adapter.is_some() && reaches_client(cursor, &added, change)
            }
        })
        .count();
    Ok(count)
}

/// Items the client saw (created at or before `since`) that crossed the window edge:
/// `(item, true)` came into the window, `(item, false)` left it.
fn window_moves(context: &ReadContext, cursor: &Cursor) -> Result<Vec<(Item, bool)>, StoreError> {
    let (old, new) = (cursor.old_cutoff, cursor.new_cutoff);
    let widest = match (old, new) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    };
    let items = context
        .store
        .items_in_window(context.user, cursor.folder, widest)?;
    Ok(items
        .into_iter()
        .filter(|item| item.created_seq <= cursor.since)
        .filter_map(|item| {
            let was = in_window(old, item.sort_date);
            let is = in_window(new, item.sort_date);
            (was != is).then_some((item, is))
        })
        .collect())
}

fn server_id_command(tag: crate::wbxml::Tag, id: ItemId) -> Element {
    let mut command = Element::new(tag);
    command.push_text(airsync::SERVER_ID, id.to_string());
    command
}

/// An Add with the item's whole ApplicationData; `None` when the item cannot be read.
fn add_command(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    id: ItemId,
) -> Result<Option<Element>, StoreError> {
    let Some(adapter) = adapter else {
        return Ok(None);
    };
    let Some(record) = adapter.read(context, id)? else {
        return Ok(None);
    };
    let mut command = server_id_command(airsync::ADD, id);
    command.push(encode(adapter.fields(), &record, context.version, false));
    Ok(Some(command))
}

/// The ApplicationData of one item of the folder for a Fetch; `None` when it is not there.
pub fn fetch(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    folder: FolderId,
    id: ItemId,
) -> Result<Option<Element>, StoreError> {
    let Some(item) = context.store.item(context.user, id)? else {
        return Ok(None);
    };
    if item.folder_id != folder {
        return Ok(None);
    }
    let Some(adapter) = adapter else {
        return Ok(None);
    };
    Ok(adapter
        .read(context, id)?
        .map(|record| encode(adapter.fields(), &record, context.version, false)))
}
