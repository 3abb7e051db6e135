//! FolderCreate (MS-ASCMD 2.2.1.3): a new user folder under a parent the user owns.

use super::hierarchy::{self, status};
use super::{CommandError, Reply, Request};
use crate::store::FolderType;
use crate::wbxml::{tag::folder_hierarchy as fh, Element};

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let answer = |code| hierarchy::refusal(fh::FOLDER_CREATE, code);
    let Some(body) = request.body.filter(|b| b.tag == fh::FOLDER_CREATE) else {
        return answer(status::MALFORMED);
    };
    let (Some(key), Some(parent), Some(name), Some(kind)) = (
        body.child_text(fh::SYNC_KEY),
        body.child_text(fh::PARENT_ID),
        body.child_text(fh::DISPLAY_NAME),
        body.child_text(fh::TYPE),
    ) else {
        return answer(status::MALFORMED);
    };
    let Some(folder_type) = kind
        .trim()
        .parse::<u8>()
        .ok()
        .and_then(FolderType::from_u8)
        .filter(|t| t.is_user_creatable())
    else {
        return answer(status::MALFORMED);
    };
    if name.trim().is_empty() {
        return answer(status::MALFORMED);
    }
    let key = match hierarchy::usable_key(request, &key)? {
        Ok(key) => key,
        Err(code) => return answer(code),
    };
    let parent = match hierarchy::existing_parent(request, &parent)? {
        Ok(parent) => parent,
        Err(code) => return answer(code),
    };
    let folder =
        match request
            .store
            .create_folder(request.user.id, parent, name.trim(), folder_type)
        {
            Ok(folder) => folder,
            Err(e) => match hierarchy::status_for(&e) {
                Some(code) => return answer(code),
                None => return Err(e.into()),
            },
        };
    let new_key = hierarchy::key_after_change(request, &key)?;
    let mut doc = Element::new(fh::FOLDER_CREATE);
    doc.push_text(fh::STATUS, status::SUCCESS)
        .push_text(fh::SYNC_KEY, new_key)
        .push_text(fh::SERVER_ID, folder.id.to_string());
    Ok(Reply::Document(doc))
}
