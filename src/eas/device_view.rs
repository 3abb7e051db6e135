//! What one device may see under the administrator's per-device settings (`easd device set`):
//! the folders hidden from it ("folders: default", "mail-folders: default") and the cap on the
//! age of mail and events it gets ("past-mail", "past-calendar"), applied by FolderSync, Sync
//! and GetItemEstimate.
//!
//! A hidden folder's subfolders are hidden with it, so every ParentId a device sees names a
//! folder it has. Changing these settings resets the device's hierarchy state (`easd device
//! set` does it): its next FolderSync gets Status 9 and it fetches the hierarchy again.
//! Folders of a class the device's protocol version does not have (Notes below 14.0) are
//! hidden the same way. [`collection`] is the one lookup of a collection by the ServerId a
//! device sends: a folder it may see, or a view folder (`super::views`) with its source
//! folder and converting adapter.

use std::collections::HashSet;

use super::sync::class::{adapter_for, ClassAdapter};
use crate::store::{
    Device, DeviceSettings, Folder, FolderId, ItemClass, Store, StoreError, UserId,
};

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
    hidden(store, user, device, &settings, true)
}

/// [`hidden_folders`] with the device's settings already read (FolderSync reads them once
/// for this and its view folders).
pub fn hidden_folders_under(
    store: &Store,
    user: UserId,
    device: &Device,
    settings: &DeviceSettings,
) -> Result<HashSet<FolderId>, StoreError> {
    hidden(store, user, device, settings, true)
}

/// The folders these device settings hide, whatever the device's protocol version.
pub fn hidden_by_settings(
    store: &Store,
    user: UserId,
    device: &Device,
    settings: &DeviceSettings,
) -> Result<HashSet<FolderId>, StoreError> {
    hidden(store, user, device, settings, false)
}

fn hidden(
    store: &Store,
    user: UserId,
    device: &Device,
    settings: &DeviceSettings,
    by_version: bool,
) -> Result<HashSet<FolderId>, StoreError> {
    let default_only = settings.default_folders_only();
    let default_mail_only = settings.default_mail_folders_only();
    let mut hidden = HashSet::new();
    let all_classes =
        !by_version || class_offered(Some(ItemClass::Notes), &device.protocol_version);
    if !default_only && !default_mail_only && all_classes {
        return Ok(hidden);
    }
    let folders = store.folders_of(user)?;
    let hides = |folder: &Folder| {
        let class = ItemClass::for_folder_type(folder.folder_type);
        (by_version && !class_offered(class, &device.protocol_version))
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

/// A Sync collection as this device may see it: the folder whose items it holds, the class
/// the device sees and the adapter that reads them — for a view folder (`super::views`) the
/// source folder, the presented class and the converting adapter.
pub struct Collection {
    pub folder: Folder,
    /// `None` for a folder that holds no items of any class Sync knows.
    pub class: Option<ItemClass>,
    pub adapter: Option<&'static dyn ClassAdapter>,
}

/// The collection a device names by `id` (a folder's ServerId or a view folder's), `None`
/// when it does not exist for this device or holds no items (then Sync answers that the
/// hierarchy changed).
pub fn collection(
    store: &Store,
    user: UserId,
    device: &Device,
    id: &str,
) -> Result<Option<Collection>, StoreError> {
    if let Ok(folder_id) = id.parse::<FolderId>() {
        let Some(folder) = store.folder(user, folder_id)? else {
            return Ok(None);
        };
        if !folder_visible(store, user, device, folder.id)? {
            return Ok(None);
        }
        let class = ItemClass::for_folder_type(folder.folder_type);
        return Ok(Some(Collection {
            adapter: class.and_then(adapter_for),
            folder,
            class,
        }));
    }
    let Some(view) = super::views::view_folder(store, user, device, id)? else {
        return Ok(None);
    };
    Ok(Some(Collection {
        adapter: Some(view.adapter()),
        class: view.class(),
        folder: view.source,
    }))
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
