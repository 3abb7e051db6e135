//! Folder views: a folder of one class offered to a device as a folder of another class,
//! its items converted on the way out — the per-device settings `tasks-as-events`,
//! `notes-as-events` and `folders: all-groupware-as-email` of `easd device set`.
//!
//! A view is data ([`VIEWS`]): the source class, the setting and value that turn it on, the
//! folder type it is presented as, and the adapter that converts its items
//! (`sync::view_class`). Every source folder the device may see gets one view folder per
//! view turned on, with the source folder's name (as the reference guide's "new calendar
//! folder with the original task folder name") at the top level. Its ServerId is the view's
//! prefix and the source folder's id (`ta12`), so it never collides with a real folder
//! (numbers) and stays the same while the setting stays on.
//!
//! Views are one way (the guide's "one way synchronization from server to handheld"), except
//! that a Change of a task's event is written back to the task: the adapter refuses every
//! other client write. Items keep their ServerIds (the source items' ids); sync
//! state and held sets are per collection name, so a view and its source folder are synced
//! independently.
//!
//! The device learns of view folders through FolderSync like any other: the hierarchy key
//! keeps the list of view folders it was told of ([`listing`]); each FolderSync compares it
//! with the current list and sends the difference as Add, Update and Delete. Ping answers
//! Status 7 (FolderSync needed) while the two differ, so a device in Ping learns of a
//! changed setting at once.

use super::sync::class::ClassAdapter;
use super::sync::view_class;
use crate::store::{
    Device, DeviceSettings, Folder, FolderId, FolderType, ItemClass, Store, StoreError, UserId,
};

/// One kind of view.
pub struct View {
    /// The ServerId prefix of its folders (letters only).
    pub prefix: &'static str,
    /// The class of the folders it presents.
    pub source: ItemClass,
    /// The per-device setting and the value that turn it on.
    pub setting: &'static str,
    pub value: &'static str,
    /// The folder type the device sees.
    pub presented_as: FolderType,
    /// The adapter that converts the source items (and refuses writes).
    pub adapter: fn() -> &'static dyn ClassAdapter,
}

/// Every view. Two views of the same source differ in prefix, so switching between them
/// (all tasks / incomplete tasks) replaces the folder and the device syncs it afresh.
pub static VIEWS: &[View] = &[
    View {
        prefix: "ta",
        source: ItemClass::Tasks,
        setting: "tasks-as-events",
        value: "all",
        presented_as: FolderType::UserCalendar,
        adapter: || &view_class::TASKS_AS_EVENTS,
    },
    View {
        prefix: "ti",
        source: ItemClass::Tasks,
        setting: "tasks-as-events",
        value: "incomplete",
        presented_as: FolderType::UserCalendar,
        adapter: || &view_class::OPEN_TASKS_AS_EVENTS,
    },
    View {
        prefix: "ne",
        source: ItemClass::Notes,
        setting: "notes-as-events",
        value: "yes",
        presented_as: FolderType::UserCalendar,
        adapter: || &view_class::NOTES_AS_EVENTS,
    },
    View {
        prefix: "gc",
        source: ItemClass::Contacts,
        setting: "folders",
        value: "all-groupware-as-email",
        presented_as: FolderType::UserMail,
        adapter: || &view_class::CONTACTS_AS_MAIL,
    },
    View {
        prefix: "ge",
        source: ItemClass::Calendar,
        setting: "folders",
        value: "all-groupware-as-email",
        presented_as: FolderType::UserMail,
        adapter: || &view_class::EVENTS_AS_MAIL,
    },
    View {
        prefix: "gt",
        source: ItemClass::Tasks,
        setting: "folders",
        value: "all-groupware-as-email",
        presented_as: FolderType::UserMail,
        adapter: || &view_class::TASKS_AS_MAIL,
    },
    View {
        prefix: "gn",
        source: ItemClass::Notes,
        setting: "folders",
        value: "all-groupware-as-email",
        presented_as: FolderType::UserMail,
        adapter: || &view_class::NOTES_AS_MAIL,
    },
];

/// One view folder as a device sees it.
#[derive(Clone, Debug)]
pub struct ViewFolder {
    pub server_id: String,
    pub name: String,
    pub folder_type: FolderType,
    /// The folder whose items it shows.
    pub source: Folder,
    pub view: &'static View,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "View({})", self.prefix)
    }
}

impl ViewFolder {
    pub fn adapter(&self) -> &'static dyn ClassAdapter {
        (self.view.adapter)()
    }

    /// The class the device sees.
    pub fn class(&self) -> Option<ItemClass> {
        ItemClass::for_folder_type(self.folder_type)
    }
}

/// The ServerId of the view `view` of folder `source`.
pub fn server_id(view: &View, source: FolderId) -> String {
    format!("{}{source}", view.prefix)
}

/// The view folders this device is offered now (empty, without reading the folders, when
/// no view is turned on).
pub fn view_folders(
    store: &Store,
    user: UserId,
    device: &Device,
) -> Result<Vec<ViewFolder>, StoreError> {
    let settings = store.device_settings(device.id)?;
    view_folders_under(store, user, device, &settings)
}

/// [`view_folders`] with the device's settings already read.
pub fn view_folders_under(
    store: &Store,
    user: UserId,
    device: &Device,
    settings: &DeviceSettings,
) -> Result<Vec<ViewFolder>, StoreError> {
    let on: Vec<&'static View> = VIEWS
        .iter()
        .filter(|view| settings.get(view.setting) == view.value)
        .collect();
    if on.is_empty() {
        return Ok(Vec::new());
    }
    // A folder the settings hide has no view either; a class the device's version lacks
    // (Notes below 14.0) is what a view is for, so that rule does not apply here.
    let hidden = super::device_view::hidden_by_settings(store, user, device, settings)?;
    let all = store.folders_of(user)?;
    let mut folders = Vec::new();
    for view in on {
        for folder in all.iter().cloned() {
            if ItemClass::for_folder_type(folder.folder_type) == Some(view.source)
                && !hidden.contains(&folder.id)
            {
                folders.push(ViewFolder {
                    server_id: server_id(view, folder.id),
                    name: folder.name.clone(),
                    folder_type: view.presented_as,
                    source: folder,
                    view,
                });
            }
        }
    }
    Ok(folders)
}

/// The view folder with this ServerId, if the device is offered it now.
pub fn view_folder(
    store: &Store,
    user: UserId,
    device: &Device,
    server_id: &str,
) -> Result<Option<ViewFolder>, StoreError> {
    let Some(view) = VIEWS.iter().find(|v| server_id.starts_with(v.prefix)) else {
        return Ok(None);
    };
    if server_id[view.prefix.len()..].parse::<FolderId>().is_err() {
        return Ok(None);
    }
    Ok(view_folders(store, user, device)?
        .into_iter()
        .find(|f| f.server_id == server_id))
}

/// One view folder as the hierarchy key remembers it: (ServerId, type, name).
pub type Listed = (String, u8, String);

/// The view folders as kept with a hierarchy key: a line per folder, ServerId, type and name
/// separated by tabs (names have no control characters: the store refuses them).
pub fn listing(folders: &[ViewFolder]) -> Vec<u8> {
    let mut text = String::new();
    for folder in folders {
        let name: String = folder.name.chars().filter(|c| !c.is_control()).collect();
        text.push_str(&format!(
            "{}\t{}\t{name}\n",
            folder.server_id, folder.folder_type as u8
        ));
    }
    text.into_bytes()
}

/// The view folders a hierarchy key's data lists.
pub fn parse_listing(data: &[u8]) -> Vec<Listed> {
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let id = parts.next()?.to_string();
            let kind = parts.next()?.parse().ok()?;
            let name = parts.next()?.to_string();
            Some((id, kind, name))
        })
        .collect()
}

/// What changed between the view folders a device was told of and those it has now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ViewChanges {
    pub added: Vec<Listed>,
    pub updated: Vec<Listed>,
    pub deleted: Vec<String>,
}

impl ViewChanges {
    pub fn len(&self) -> usize {
        self.added.len() + self.updated.len() + self.deleted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The difference from `told` to `now`.
pub fn changes(told: &[Listed], now: &[Listed]) -> ViewChanges {
    let mut changes = ViewChanges::default();
    for entry in now {
        match told.iter().find(|t| t.0 == entry.0) {
            None => changes.added.push(entry.clone()),
            Some(before) if before != entry => changes.updated.push(entry.clone()),
            Some(_) => {}
        }
    }
    for before in told {
        if !now.iter().any(|n| n.0 == before.0) {
            changes.deleted.push(before.0.clone());
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_round_trip_and_differences_are_adds_updates_and_deletes() {
        let told = vec![
            ("ta7".to_string(), 13, "Tasks".to_string()),
            ("ne9".to_string(), 13, "Notes".to_string()),
        ];
        let text: String = told
            .iter()
            .map(|(id, kind, name)| format!("{id}\t{kind}\t{name}\n"))
            .collect();
        assert_eq!(parse_listing(text.as_bytes()), told);
        assert!(parse_listing(b"garbage\nx\ty\tz\n").is_empty());
        let now = vec![
            ("ta7".to_string(), 13, "Chores".to_string()),
            ("gc3".to_string(), 12, "Contacts".to_string()),
        ];
        let diff = changes(&told, &now);
        assert_eq!(diff.added, vec![now[1].clone()]);
        assert_eq!(diff.updated, vec![now[0].clone()]);
        assert_eq!(diff.deleted, vec!["ne9".to_string()]);
        assert!(changes(&now, &now).is_empty());
    }

    #[test]
    fn prefixes_are_distinct_letters() {
        for (i, a) in VIEWS.iter().enumerate() {
            assert!(a.prefix.chars().all(|c| c.is_ascii_lowercase()));
            for b in &VIEWS[i + 1..] {
                assert!(!a.prefix.starts_with(b.prefix) && !b.prefix.starts_with(a.prefix));
            }
            let spec = crate::store::device_settings::setting_spec(a.setting).expect("setting");
            assert!(spec.values.contains(&a.value), "{}", a.prefix);
        }
    }
}
