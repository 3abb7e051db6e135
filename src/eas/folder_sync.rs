//! FolderSync (MS-ASCMD 2.2.1.5): the folder hierarchy and its changes since the device's
//! hierarchy sync key. Keys live in the store's sync state under the collection "" so that a
//! device repeating its previous key (its last answer was lost) is answered again, not reset.

use std::collections::HashSet;

use super::hierarchy::status_only;
use super::{device_view, views, CommandError, Reply, Request};
use crate::store::{Folder, FolderChange, FolderId, KeyMatch};
use crate::wbxml::{tag::folder_hierarchy as fh, Element};

/// The sync-state collection name of the folder hierarchy.
pub const HIERARCHY: &str = "";

/// FolderSync Status values (MS-ASCMD 2.2.3.177.5).
mod status {
    pub const SUCCESS: &str = "1";
    pub const INVALID_SYNC_KEY: &str = "9";
    pub const MALFORMED: &str = "10";
}

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(sync_key) = request
        .body
        .filter(|body| body.tag == fh::FOLDER_SYNC)
        .and_then(|body| body.child_text(fh::SYNC_KEY))
    else {
        return Ok(Reply::Document(status_only(
            fh::FOLDER_SYNC,
            status::MALFORMED,
        )));
    };
    let store = request.store;
    let user = request.user.id;
    let device = request.device.id;
    // Every read in one snapshot (one state of the hierarchy, one read lock; the request
    // loop's, holding the login and device reads too), the writes after it.
    let snapshot = request.read_snapshot()?;
    let current_seq = store.hierarchy_seq(user)?;

    // (changes since, the key the device holds, whether that key is the newest one issued,
    // the view folders that key told of)
    let (since, from_key, is_current, told) = if sync_key.trim() == "0" {
        (None, None, false, Vec::new())
    } else {
        match store.match_sync_key(device, HIERARCHY, sync_key.trim())? {
            KeyMatch::Current(state) => (
                Some(state.seq),
                Some(state.key),
                true,
                views::parse_listing(&state.data),
            ),
            // The answer to the previous request was lost: send those changes again.
            KeyMatch::Previous(state) => match (state.previous_seq, state.previous_key) {
                (Some(seq), Some(key)) => (
                    Some(seq),
                    Some(key),
                    false,
                    views::parse_listing(&state.previous_data.unwrap_or_default()),
                ),
                _ => {
                    return Ok(Reply::Document(status_only(
                        fh::FOLDER_SYNC,
                        status::INVALID_SYNC_KEY,
                    )))
                }
            },
            KeyMatch::Unknown => {
                return Ok(Reply::Document(status_only(
                    fh::FOLDER_SYNC,
                    status::INVALID_SYNC_KEY,
                )))
            }
        }
    };

    let changes = match since {
        None => store
            .folders_of(user)?
            .into_iter()
            .map(FolderChange::Added)
            .collect(),
        Some(seq) => store.folder_changes_since(user, seq)?,
    };
    let settings = store.device_settings(device)?;
    let changes = without_hidden(
        changes,
        &device_view::hidden_folders_under(store, user, request.device, &settings)?,
    );
    // View folders (per-device settings) are compared with the list the key told of.
    let view_folders = views::view_folders_under(store, user, request.device, &settings)?;
    snapshot.end()?;
    if since.is_none() {
        // SyncKey 0 starts the device over: every collection it synced is forgotten too.
        store.reset_all_sync_states(device)?;
    }

    let listing = views::listing(&view_folders);
    let view_changes = views::changes(&told, &views::parse_listing(&listing));

    // Nothing new for a device that is up to date: keep its key and write nothing.
    let key = match from_key {
        Some(key)
            if is_current
                && changes.is_empty()
                && view_changes.is_empty()
                && since == Some(current_seq) =>
        {
            key
        }
        _ => store.advance_sync_key(
            device,
            HIERARCHY,
            from_key.as_deref(),
            current_seq,
            &listing,
        )?,
    };

    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::STATUS, status::SUCCESS);
    doc.push_text(fh::SYNC_KEY, key);
    let list = doc.push(Element::new(fh::CHANGES));
    list.push_text(fh::COUNT, (changes.len() + view_changes.len()).to_string());
    for change in &changes {
        match change {
            FolderChange::Added(folder) => {
                list.push(folder_element(fh::ADD, folder));
            }
            FolderChange::Updated(folder) => {
                list.push(folder_element(fh::UPDATE, folder));
            }
            FolderChange::Deleted(id) => {
                list.push(Element::new(fh::DELETE))
                    .push_text(fh::SERVER_ID, id.to_string());
            }
        }
    }
    for id in &view_changes.deleted {
        list.push(Element::new(fh::DELETE))
            .push_text(fh::SERVER_ID, id.clone());
    }
    for (tag, entries) in [
        (fh::ADD, &view_changes.added),
        (fh::UPDATE, &view_changes.updated),
    ] {
        for (id, kind, name) in entries {
            list.push(Element::new(tag))
                .push_text(fh::SERVER_ID, id.clone())
                .push_text(fh::PARENT_ID, "0")
                .push_text(fh::DISPLAY_NAME, name.clone())
                .push_text(fh::TYPE, kind.to_string());
        }
    }
    Ok(Reply::Document(doc))
}

/// The changes as this device may see them (per-device folder settings): a hidden folder
/// is not added, and one that became hidden (moved under a hidden folder) is deleted.
fn without_hidden(changes: Vec<FolderChange>, hidden: &HashSet<FolderId>) -> Vec<FolderChange> {
    if hidden.is_empty() {
        return changes;
    }
    changes
        .into_iter()
        .filter_map(|change| match change {
            FolderChange::Added(folder) if hidden.contains(&folder.id) => None,
            FolderChange::Updated(folder) if hidden.contains(&folder.id) => {
                Some(FolderChange::Deleted(folder.id))
            }
            other => Some(other),
        })
        .collect()
}

fn folder_element(tag: crate::wbxml::Tag, folder: &Folder) -> Element {
    let mut element = Element::new(tag);
    element
        .push_text(fh::SERVER_ID, folder.id.to_string())
        .push_text(
            fh::PARENT_ID,
            folder
                .parent_id
                .map_or_else(|| "0".to_string(), |p| p.to_string()),
        )
        .push_text(fh::DISPLAY_NAME, folder.name.clone())
        .push_text(fh::TYPE, (folder.folder_type as u8).to_string());
    element
}
