//! FolderDelete (MS-ASCMD 2.2.1.4): deletes one of the user's own folders with its subfolders.

use super::hierarchy::{self, status};
use super::{CommandError, Reply, Request};
use crate::wbxml::{tag::folder_hierarchy as fh, Element};

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let answer = |code| hierarchy::refusal(fh::FOLDER_DELETE, code);
    let Some(body) = request.body.filter(|b| b.tag == fh::FOLDER_DELETE) else {
        return answer(status::MALFORMED);
    };
    let (Some(key), Some(server_id)) = (
        body.child_text(fh::SYNC_KEY),
        body.child_text(fh::SERVER_ID),
    ) else {
        return answer(status::MALFORMED);
    };
    let key = match hierarchy::usable_key(request, &key)? {
        Ok(key) => key,
        Err(code) => return answer(code),
    };
    let user = request.user.id;
    let folder = match hierarchy::own_folder(request, &server_id)? {
        Ok(folder) => folder,
        Err(code) => return answer(code),
    };
    if let Err(e) = request.store.delete_folder(user, folder.id) {
        return match hierarchy::status_for(&e) {
            Some(code) => answer(code),
            None => Err(e.into()),
        };
    }
    let new_key = hierarchy::key_after_change(request, &key)?;
    let mut doc = Element::new(fh::FOLDER_DELETE);
    doc.push_text(fh::STATUS, status::SUCCESS)
        .push_text(fh::SYNC_KEY, new_key);
    Ok(Reply::Document(doc))
}
