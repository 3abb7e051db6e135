//! The generic change streamer of Sync: from what a device holds and the folder's change
//! counter value it has seen, the Commands it needs (Add, Change, Delete, SoftDelete), at
//! most a window of them, with any item class ([`ClassAdapter`]) encoding its own
//! ApplicationData.
//!
//! Add or Change is decided by whether the device holds the item (`store::held`), never by
//! comparing counters: pages follow the change counter, so an old item changed late sits
//! behind the cursor and may never have reached the device. The rules, per item:
//!
//! | the item | held by the device | not held |
//! | --- | --- | --- |
//! | changed since the key, inside the window | Change | Add |
//! | changed since the key, outside the window | SoftDelete | — |
//! | deleted or moved away since the key | Delete | — |
//!
//! The FilterType window: the sync state remembers the cutoff date the device was last
//! brought to. When the window narrows (time passes, or a smaller FilterType), held items
//! that fell out are sent as SoftDelete; when it widens, items that came in are sent as Add.
//! These window moves are sent whole, in addition to the window of changes: a window move is
//! rare and splitting it would need a second cursor. Every Add and removal sent is returned
//! in [`ServerChanges::held`], which the caller commits with the new sync key.

use std::collections::HashSet;

use super::class::{encode, ClassAdapter, ReadContext};
use crate::store::{
    ChangeKind, FolderId, HeldChanges, HeldView, Item, ItemChange, ItemId, StoreError,
};
use crate::wbxml::{tag::airsync, Element};

/// What one Sync response carries for a collection.
#[derive(Debug, Default)]
pub struct ServerChanges {
    pub commands: Vec<Element>,
    pub more_available: bool,
    /// The counter value the client has seen once it has `commands`.
    pub next_seq: i64,
    /// What the commands add to and take from the device's set of held items.
    pub held: HeldChanges,
}

/// Where a collection's client stands and how much it may get.
pub struct Cursor<'a> {
    pub folder: FolderId,
    /// The counter value the client has seen (0: nothing yet).
    pub since: i64,
    /// The window cutoff the client was brought to (`None`: no window).
    pub old_cutoff: Option<i64>,
    /// The cutoff of the window asked for now.
    pub new_cutoff: Option<i64>,
    /// Most changes to send (≥ 1).
    pub limit: usize,
    /// The device's held items, as of the key it sent.
    pub held: HeldView<'a>,
}

fn in_window(cutoff: Option<i64>, date: Option<i64>) -> bool {
    match (cutoff, date) {
        (Some(cutoff), Some(date)) => date >= cutoff,
        _ => true,
    }
}

/// One command the device is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Due {
    Add(ItemId),
    Change(ItemId),
    Delete(ItemId),
    SoftDelete(ItemId),
}

/// The device's held set while an answer is being planned: the stored set as of its key,
/// with this request's own marks (the client's commands, then the answer's) on top.
struct Holdings<'a> {
    context: &'a ReadContext<'a>,
    view: HeldView<'a>,
    changes: HeldChanges,
    added: HashSet<ItemId>,
    removed: HashSet<ItemId>,
}

impl<'a> Holdings<'a> {
    fn new(context: &'a ReadContext<'a>, view: HeldView<'a>, client: &HeldChanges) -> Self {
        let mut holdings = Holdings {
            context,
            view,
            changes: HeldChanges::default(),
            added: HashSet::new(),
            removed: HashSet::new(),
        };
        for &id in &client.added {
            holdings.add(id);
        }
        for &id in &client.removed {
            holdings.remove(id);
        }
        holdings.changes = HeldChanges::default();
        holdings
    }

    fn holds(&self, id: ItemId) -> Result<bool, StoreError> {
        if self.removed.contains(&id) {
            return Ok(false);
        }
        if self.added.contains(&id) {
            return Ok(true);
        }
        self.context.store.holds(&self.view, id)
    }

    fn add(&mut self, id: ItemId) {
        self.removed.remove(&id);
        self.added.insert(id);
        self.changes.added.push(id);
    }

    fn remove(&mut self, id: ItemId) {
        self.added.remove(&id);
        self.removed.insert(id);
        self.changes.removed.push(id);
    }

    fn note(&mut self, due: Due) {
        match due {
            Due::Add(id) => self.add(id),
            Due::Delete(id) | Due::SoftDelete(id) => self.remove(id),
            Due::Change(_) => {}
        }
    }
}

/// Walks what the device is due after the cursor, in order: window moves first, then the
/// folder's changes a page at a time. `send` turns one due command into what is sent and
/// says what it sent (an item that cannot be read is not sent; a held item a view no longer
/// shows goes as a SoftDelete); it is called until `limit` commands of the change stream
/// were sent. Returns whether more changes are available, the
/// counter value reached, and the held-set changes of what was sent.
fn walk(
    context: &ReadContext,
    cursor: &Cursor,
    echo: &HashSet<ItemId>,
    client: &HeldChanges,
    limit: Option<usize>,
    send: &mut dyn FnMut(Due) -> Result<Option<Due>, StoreError>,
) -> Result<(bool, i64, HeldChanges), StoreError> {
    // Only reads from here on: one snapshot for the whole answer, so the items of a window
    // come from one state of the folder and share one read lock.
    let snapshot = context.store.read_snapshot()?;
    let walked = walk_in_snapshot(context, cursor, echo, client, limit, send)?;
    snapshot.end()?;
    Ok(walked)
}

fn walk_in_snapshot(
    context: &ReadContext,
    cursor: &Cursor,
    echo: &HashSet<ItemId>,
    client: &HeldChanges,
    limit: Option<usize>,
    send: &mut dyn FnMut(Due) -> Result<Option<Due>, StoreError>,
) -> Result<(bool, i64, HeldChanges), StoreError> {
    let mut holdings = Holdings::new(context, cursor.held, client);
    for due in window_moves(context, cursor, &holdings)? {
        if let Some(sent) = send(due)? {
            holdings.note(sent);
        }
    }
    // Changes the device does not get are skipped, so keep reading until the window is full
    // or the folder has no more: a narrow FilterType over a big folder still fills answers.
    let mut sent = 0;
    let mut since = cursor.since;
    loop {
        let wanted = limit.map_or(0, |limit| limit.max(1) - sent);
        let page = context
            .store
            .item_changes_since(context.user, cursor.folder, since, wanted)?;
        for change in &page.changes {
            let Some(due) = due_for(cursor, echo, &holdings, change)? else {
                continue;
            };
            if let Some(due) = send(due)? {
                holdings.note(due);
                sent += 1;
            }
        }
        since = page.next_seq;
        let full = limit.is_some_and(|limit| sent >= limit.max(1));
        if !page.more_available || full {
            return Ok((page.more_available, page.next_seq, holdings.changes));
        }
    }
}

/// The command one change makes due, `None` when the device gets nothing for it.
fn due_for(
    cursor: &Cursor,
    echo: &HashSet<ItemId>,
    holdings: &Holdings,
    change: &ItemChange,
) -> Result<Option<Due>, StoreError> {
    let id = change.item_id;
    let held = holdings.holds(id)?;
    Ok(match change.kind {
        ChangeKind::Deleted => held.then_some(Due::Delete(id)),
        ChangeKind::Added | ChangeKind::Changed => {
            match (in_window(cursor.new_cutoff, change.sort_date), held) {
                // The client's own Add or Change: it knows. (Its item may still have left
                // the window, which it learns as for any item.)
                (true, true) if echo.contains(&id) => None,
                (true, true) => Some(Due::Change(id)),
                (true, false) => Some(Due::Add(id)),
                (false, true) => Some(Due::SoftDelete(id)),
                (false, false) => None,
            }
        }
    })
}

/// The changes of a folder after `cursor.since`. `echo` holds the items this request's own
/// client commands added, changed or deleted (their changes are not sent back); `client`
/// what those commands did to the device's held set.
pub fn server_changes(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    cursor: &Cursor,
    echo: &HashSet<ItemId>,
    client: &HeldChanges,
) -> Result<ServerChanges, StoreError> {
    let mut commands = Vec::new();
    let mut send = |due: Due| -> Result<Option<Due>, StoreError> {
        let (command, sent) = match due {
            Due::Add(id) => (
                item_command(context, adapter, airsync::ADD, id, false)?,
                due,
            ),
            Due::Change(id) => match item_command(context, adapter, airsync::CHANGE, id, true)? {
                Some(command) => (Some(command), due),
                // A view that no longer shows the item (a task that lost its dates): the
                // device drops it.
                None if adapter.is_some_and(|a| a.may_hide_items()) => (
                    Some(server_id_command(airsync::SOFT_DELETE, id)),
                    Due::SoftDelete(id),
                ),
                None => (None, due),
            },
            Due::Delete(id) => (Some(server_id_command(airsync::DELETE, id)), due),
            Due::SoftDelete(id) => (Some(server_id_command(airsync::SOFT_DELETE, id)), due),
        };
        Ok(command.map(|command| {
            commands.push(command);
            sent
        }))
    };
    let (more_available, next_seq, held) =
        walk(context, cursor, echo, client, Some(cursor.limit), &mut send)?;
    Ok(ServerChanges {
        commands,
        more_available,
        next_seq,
        held,
    })
}

/// How many commands [`server_changes`] would send from `cursor` with no window limit (the
/// client's own commands aside): GetItemEstimate. Counts without reading or encoding items.
pub fn count_changes(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    cursor: &Cursor,
) -> Result<usize, StoreError> {
    let mut count = 0;
    let mut send = |due: Due| -> Result<Option<Due>, StoreError> {
        let sent = match (due, adapter) {
            // A view may not show an item: only reading it tells.
            (Due::Add(id), Some(a)) if a.may_hide_items() => a.read(context, id)?.is_some(),
            (Due::Add(_) | Due::Change(_), _) => adapter.is_some(),
            (Due::Delete(_) | Due::SoftDelete(_), _) => true,
        };
        count += usize::from(sent);
        Ok(sent.then_some(due))
    };
    walk(
        context,
        cursor,
        &HashSet::new(),
        &HeldChanges::default(),
        None,
        &mut send,
    )?;
    Ok(count)
}

/// Items that crossed the window edge since the device's key: held items now outside go as
/// SoftDelete, items now inside that the device lacks as Add. Only the band between the two
/// cutoffs can hold them: a held item is always inside the window it was last brought to.
/// Items changed after the key are left to the change stream, which sees them anyway.
fn window_moves(
    context: &ReadContext,
    cursor: &Cursor,
    holdings: &Holdings,
) -> Result<Vec<Due>, StoreError> {
    let (old, new) = (cursor.old_cutoff, cursor.new_cutoff);
    if cursor.since == 0 || old == new {
        return Ok(Vec::new());
    }
    // `None` reaches back without end; it orders before every date.
    let (band, entering) = if new < old {
        ((new, old), true)
    } else {
        ((old, new), false)
    };
    let items = context
        .store
        .items_dated_between(context.user, cursor.folder, band.0, band.1)?;
    let mut due = Vec::new();
    for Item {
        id, changed_seq, ..
    } in items
    {
        if changed_seq > cursor.since {
            continue;
        }
        let held = holdings.holds(id)?;
        match (entering, held) {
            (true, false) => due.push(Due::Add(id)),
            (false, true) => due.push(Due::SoftDelete(id)),
            _ => {}
        }
    }
    Ok(due)
}

fn server_id_command(tag: crate::wbxml::Tag, id: ItemId) -> Element {
    let mut command = Element::new(tag);
    command.push_text(airsync::SERVER_ID, id.to_string());
    command
}

/// An Add (the whole ApplicationData) or a Change (what the class sends in changes) of the
/// item; `None` when the class or the item cannot be read.
fn item_command(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    tag: crate::wbxml::Tag,
    id: ItemId,
    change: bool,
) -> Result<Option<Element>, StoreError> {
    let Some(adapter) = adapter else {
        return Ok(None);
    };
    let Some(record) = adapter.read(context, id)? else {
        return Ok(None);
    };
    let changes_only = change && !adapter.changes_whole_item(&record);
    let mut command = server_id_command(tag, id);
    command.push(encode(
        adapter.fields(),
        record,
        context.version,
        changes_only,
    ));
    Ok(Some(command))
}

/// The item again as the server has it, for a client whose write was refused: a Change
/// (the whole item), or an Add when the client dropped it (a refused Delete); `None` when
/// it cannot be read.
pub fn restore_command(
    context: &ReadContext,
    adapter: Option<&dyn ClassAdapter>,
    id: ItemId,
    as_add: bool,
) -> Result<Option<Element>, StoreError> {
    let tag = if as_add {
        airsync::ADD
    } else {
        airsync::CHANGE
    };
    item_command(context, adapter, tag, id, false)
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
        .map(|record| encode(adapter.fields(), record, context.version, false)))
}
