//! What FolderCreate, FolderUpdate and FolderDelete share: the hierarchy sync key check before
//! a change and the fresh key after it, and the mapping of store errors to their Status codes.
//!
//! A folder command is accepted only from a device whose hierarchy key is current *and* up to
//! date with the user's hierarchy counter; otherwise it gets Status 9, runs FolderSync and
//! retries (MS-ASCMD). That way the key issued after the change can stand for the new counter
//! without hiding another device's changes from this one.

use super::folder_sync::HIERARCHY;
use super::{CommandError, Reply, Request};
use crate::store::{Folder, KeyMatch, StoreError};
use crate::wbxml::{tag::folder_hierarchy as fh, Element, Tag};

/// Status values shared by the three folder commands (MS-ASCMD 2.2.3.177.2–4).
pub mod status {
    pub const SUCCESS: &str = "1";
    pub const NAME_EXISTS: &str = "2";
    pub const SPECIAL_FOLDER: &str = "3";
    pub const NOT_FOUND: &str = "4";
    pub const PARENT_NOT_FOUND: &str = "5";
    pub const INVALID_SYNC_KEY: &str = "9";
    pub const MALFORMED: &str = "10";
}

/// The device's hierarchy key when it may change the hierarchy, else the Status to answer.
pub fn usable_key(
    request: &Request,
    key: &str,
) -> Result<Result<String, &'static str>, StoreError> {
    let current_seq = request.store.hierarchy_seq(request.user.id)?;
    Ok(
        match request
            .store
            .match_sync_key(request.device.id, HIERARCHY, key.trim())?
        {
            KeyMatch::Current(state) if state.seq == current_seq => Ok(state.key),
            _ => Err(status::INVALID_SYNC_KEY),
        },
    )
}

/// Issues the key that stands for the hierarchy after this device's own change.
pub fn key_after_change(request: &Request, previous: &str) -> Result<String, StoreError> {
    let seq = request.store.hierarchy_seq(request.user.id)?;
    // The view folders the device was told of stay with the new key (FolderSync sends any
    // difference later).
    let told = request
        .store
        .sync_state(request.device.id, HIERARCHY)?
        .map(|state| state.data)
        .unwrap_or_default();
    request
        .store
        .advance_sync_key(request.device.id, HIERARCHY, Some(previous), seq, &told)
}

/// The parent a FolderCreate or FolderUpdate names: the top level ("0" or empty: `None`) or
/// one of the user's folders; anything else is Status 5.
pub fn existing_parent(
    request: &Request,
    text: &str,
) -> Result<Result<Option<i64>, &'static str>, CommandError> {
    let parent = match text.trim() {
        "" | "0" => None,
        other => match other.parse() {
            Ok(id) => Some(id),
            Err(_) => return Ok(Err(status::PARENT_NOT_FOUND)),
        },
    };
    if let Some(id) = parent {
        if request.store.folder(request.user.id, id)?.is_none() {
            return Ok(Err(status::PARENT_NOT_FOUND));
        }
    }
    Ok(Ok(parent))
}

/// Maps a store refusal of a folder change to its Status.
pub fn status_for(error: &StoreError) -> Option<&'static str> {
    match error {
        StoreError::Conflict(_) => Some(status::NAME_EXISTS),
        StoreError::Invalid(_) => Some(status::SPECIAL_FOLDER),
        StoreError::NotFound(_) => Some(status::NOT_FOUND),
        _ => None,
    }
}

/// `<Command><Status>code</Status></Command>`.
pub fn status_only(command: Tag, code: &str) -> Element {
    let mut doc = Element::new(command);
    doc.push_text(fh::STATUS, code);
    doc
}

/// The answer of a folder command that failed with Status `code`.
pub fn refusal(command: Tag, code: &str) -> Result<Reply, CommandError> {
    Ok(Reply::Document(status_only(command, code)))
}

/// The folder the ServerId of a FolderUpdate or FolderDelete names when it is one of the
/// user's own; else the Status to answer: a view folder (per-device settings) is the server's
/// to change, like a default one.
pub fn own_folder(
    request: &Request,
    server_id: &str,
) -> Result<Result<Folder, &'static str>, CommandError> {
    let user = request.user.id;
    let server_id = server_id.trim();
    Ok(match server_id.parse::<i64>() {
        Ok(id) => request.store.folder(user, id)?.ok_or(status::NOT_FOUND),
        Err(_) => {
            match super::views::view_folder(request.store, user, request.device, server_id)? {
                Some(_) => Err(status::SPECIAL_FOLDER),
                None => Err(status::NOT_FOUND),
            }
        }
    })
}
