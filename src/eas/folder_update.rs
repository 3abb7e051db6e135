//! FolderUpdate (MS-ASCMD 2.2.1.6): renames and/or moves one of the user's own folders.

use super::hierarchy::{self, status};
use super::{CommandError, Reply, Request};
use crate::store::StoreError;
use crate::wbxml::{tag::folder_hierarchy as fh, Element};

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let answer = |code| hierarchy::refusal(fh::FOLDER_UPDATE, code);
    let Some(body) = request.body.filter(|b| b.tag == fh::FOLDER_UPDATE) else {
        return answer(status::MALFORMED);
    };
    let (Some(key), Some(server_id), Some(parent), Some(name)) = (
        body.child_text(fh::SYNC_KEY),
        body.child_text(fh::SERVER_ID),
        body.child_text(fh::PARENT_ID),
        body.child_text(fh::DISPLAY_NAME),
    ) else {
        return answer(status::MALFORMED);
    };
    if name.trim().is_empty() {
        return answer(status::MALFORMED);
    }
    let key = match hierarchy::usable_key(request, &key)? {
        Ok(key) => key,
        Err(code) => return answer(code),
    };
    let user = request.user.id;
    let folder = match hierarchy::own_folder(request, &server_id)? {
        Ok(folder) => folder,
        Err(code) => return answer(code),
    };
    let parent = match hierarchy::existing_parent(request, &parent)? {
        Ok(parent) => parent,
        Err(code) => return answer(code),
    };
    if folder.special {
        return answer(status::SPECIAL_FOLDER);
    }
    match request
        .store
        .rename_folder(user, folder.id, parent, name.trim())
    {
        Ok(_) => {}
        // The folder is not special, so the store refused the new place: under itself.
        Err(StoreError::Invalid(_)) => return answer(status::PARENT_NOT_FOUND),
        Err(e) => {
            return match hierarchy::status_for(&e) {
                Some(code) => answer(code),
                None => Err(e.into()),
            }
        }
    }
    let new_key = hierarchy::key_after_change(request, &key)?;
    let mut doc = Element::new(fh::FOLDER_UPDATE);
    doc.push_text(fh::STATUS, status::SUCCESS)
        .push_text(fh::SYNC_KEY, new_key);
    Ok(Reply::Document(doc))
}
