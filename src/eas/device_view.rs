//! What one device may see under the administrator's per-device settings (`easd device set`):
//! the folders hidden from it ("folders: default", "mail-folders: default") and the cap on the
//! age of mail it gets ("past-mail"), applied by FolderSync, Sync and GetItemEstimate.
//!
//! A hidden folder's subfolders are hidden with it, so every ParentId a device sees names a
//! folder it has. Changing these settings resets the device's hierarchy state (`easd device
//! set` does it): its next FolderSync gets Status 9 and it fetches the hierarchy again.

use std::collections::HashSet;

use crate::store::{Device, Folder, FolderId, ItemClass, Store, StoreError, UserId};

/// The ids of the user's folders this device must not see (empty when it sees everything).
pub fn hidden_folders(
    store: &Store,
    user: UserId,
    device: &Device,
) -> Result<HashSet<FolderId>, StoreError> {
    let settings = store.device_settings(device.id)?;
    let default_only = settings.default_folders_only();
    let default_mail_only = settings.default_mail_folders_only();
    let mut hidden = HashSet::new();
    if !default_only && !default_mail_only {
        return Ok(hidden);
    }
    let folders = store.folders_of(user)?;
    let hides = |folder: &Folder| {
        !folder.special
            && (default_only
                || ItemClass::for_folder_type(folder.folder_type) == Some(ItemClass::Email))
    };
    hidden.extend(folders.iter().filter(|f| hides(f)).map(|f| f.id));
    // Subfolders of hidden folders: repeat until no folder is added (the depth is small).
    loop {
        let before = hidden.len();
        for folder in &folders {
            if folder.parent_id.is_some_and(|p| hidden.contains(&p)) {
                hidden.insert(folder.id);
            }
        }
        if hidden.len() == before {
            return Ok(hidden);
        }
    }
}

/// Whether the device may see (and sync) this folder.
pub fn folder_visible(
    store: &Store,
    user: UserId,
    device: &Device,
    folder: FolderId,
) -> Result<bool, StoreError> {
    Ok(!hidden_folders(store, user, device)?.contains(&folder))
}

/// The FilterType that applies to a collection of `class`: what the device asked for,
/// narrowed for mail by the device's "past-mail" setting.
pub fn effective_filter(
    store: &Store,
    device: &Device,
    class: ItemClass,
    requested: u8,
) -> Result<u8, StoreError> {
    if class != ItemClass::Email {
        return Ok(requested);
    }
    let cap = store.device_settings(device.id)?.mail_filter_cap();
    Ok(crate::store::device_settings::capped_filter(requested, cap))
}
