//! What one device may see under the administrator's per-device settings (`easd device set`):
//! the folders hidden from it ("folders: default", "mail-folders: default") and the cap on the
//! age of mail and events it gets ("past-mail", "past-calendar"), applied by FolderSync, Sync
//! and GetItemEstimate.
//!
//! A hidden folder's subfolders are hidden with it, so every ParentId a device sees names a
//! folder it has. Changing these settings resets the device's hierarchy state (`easd device
//! set` does it): its next FolderSync gets Status 9 and it fetches the hierarchy again.
//! Folders of a class the device's protocol version does not have (Notes below 14.0) are
//! hidden the same way.

use std::collections::HashSet;

use crate::store::{Device, Folder, FolderId, ItemClass, Store, StoreError, UserId};

/// Whether a device speaking `version` knows the class at all: Notes exist from 14.0 on
/// (MS-ASNOTE), so older devices are not offered Notes folders.
pub fn class_offered(class: Option<ItemClass>, version: &str) -> bool {
    let notes_since = crate::eas::sync::notes::NOTES_SINCE;
    class != Some(ItemClass::Notes)
        || crate::eas::ProtocolVersion::parse(version).is_some_and(|v| v >= notes_since)
}

/// The ids of the user's folders this device must not see (empty when it sees everything):
/// those its settings hide and those of a class its protocol version does not have.
pub fn hidden_folders(
    store: &Store,
    user: UserId,
    device: &Device,
) -> Result<HashSet<FolderId>, StoreError> {
    let settings = store.device_settings(device.id)?;
    let default_only = settings.default_folders_only();
    let default_mail_only = settings.default_mail_folders_only();
    let mut hidden = HashSet::new();
    let all_classes = class_offered(Some(ItemClass::Notes), &device.protocol_version);
    if !default_only && !default_mail_only && all_classes {
        return Ok(hidden);
    }
    let folders = store.folders_of(user)?;
    let hides = |folder: &Folder| {
        let class = ItemClass::for_folder_type(folder.folder_type);
        !class_offered(class, &device.protocol_version)
            || (!folder.special
                && (default_only || (default_mail_only && class == Some(ItemClass::Email))))
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
/// narrowed for mail by the device's "past-mail" setting and for calendars by its
/// "past-calendar" setting.
pub fn effective_filter(
    store: &Store,
    device: &Device,
    class: ItemClass,
    requested: u8,
) -> Result<u8, StoreError> {
    let settings = || store.device_settings(device.id);
    let cap = match class {
        ItemClass::Email => settings()?.mail_filter_cap(),
        ItemClass::Calendar => settings()?.calendar_filter_cap(),
        _ => return Ok(requested),
    };
    Ok(crate::store::device_settings::capped_filter(requested, cap))
}
