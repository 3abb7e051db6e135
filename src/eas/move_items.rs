//! MoveItems (MS-ASCMD 2.2.1.12): moves items between the user's own folders of the same
//! class. Each Move gets its own Response; a moved item gets a new ServerId (DstMsgId), so the
//! source folder's clients see a Delete and the destination's an Add.

use super::{CommandError, Reply, Request};
use crate::store::{ItemClass, ItemId, StoreError};
use crate::wbxml::{tag::move_items as mv, Element};

/// MoveItems Status values (MS-ASCMD 2.2.3.177.9).
mod status {
    pub const INVALID_SOURCE: &str = "1";
    pub const INVALID_DESTINATION: &str = "2";
    pub const SUCCESS: &str = "3";
    pub const SAME_FOLDER: &str = "4";
    pub const FAILURE: &str = "5";
}

/// Most Move elements one request may carry; a phone moves a screenful at a time, and the
/// bound keeps one request from holding the request loop for long.
const MAX_MOVES: usize = 1000;

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(body) = request.body.filter(|b| b.tag == mv::MOVE_ITEMS) else {
        return Ok(Reply::HttpStatus(400));
    };
    let moves: Vec<&Element> = body.children_with(mv::MOVE).collect();
    if moves.is_empty() || moves.len() > MAX_MOVES {
        return Ok(Reply::HttpStatus(400));
    }
    let mut doc = Element::new(mv::MOVE_ITEMS);
    for one in moves {
        let source_text = one.child_text(mv::SRC_MSG_ID).unwrap_or_default();
        let response = doc.push(Element::new(mv::RESPONSE));
        response.push_text(mv::SRC_MSG_ID, source_text.trim());
        match move_one(request, one)? {
            Ok(new_id) => {
                // The user's other devices (and this one's Ping) learn of the move at once.
                request.note_change();
                response
                    .push_text(mv::STATUS, status::SUCCESS)
                    .push_text(mv::DST_MSG_ID, new_id.to_string());
            }
            Err(code) => {
                response.push_text(mv::STATUS, code);
            }
        }
    }
    Ok(Reply::Document(doc))
}

/// Moves the item one Move names: its new ServerId, or the Status that refuses it.
fn move_one(request: &Request, one: &Element) -> Result<Result<ItemId, &'static str>, StoreError> {
    let (store, user) = (request.store, request.user.id);
    let number = |tag| {
        one.child_text(tag)
            .and_then(|text| text.trim().parse::<i64>().ok())
    };
    let source_folder = match number(mv::SRC_FLD_ID) {
        Some(id) => store.folder(user, id)?,
        None => None,
    };
    let Some(source_folder) = source_folder else {
        return Ok(Err(status::INVALID_SOURCE));
    };
    // The item must be the user's and sit in the folder the client names: another user's
    // ids look exactly like ids that do not exist.
    let item = match number(mv::SRC_MSG_ID) {
        Some(id) => store.item(user, id)?,
        None => None,
    };
    let Some(item) = item.filter(|item| item.folder_id == source_folder.id) else {
        return Ok(Err(status::INVALID_SOURCE));
    };
    let destination = match number(mv::DST_FLD_ID) {
        Some(id) => store.folder(user, id)?,
        None => None,
    };
    let Some(destination) = destination else {
        return Ok(Err(status::INVALID_DESTINATION));
    };
    if destination.id == source_folder.id {
        return Ok(Err(status::SAME_FOLDER));
    }
    // A mail cannot become a contact: folders of another class refuse the item.
    if ItemClass::for_folder_type(destination.folder_type) != Some(item.class) {
        return Ok(Err(status::FAILURE));
    }
    match store.move_item(user, item.id, destination.id) {
        Ok(new_id) => Ok(Ok(new_id)),
        // Gone or changed in between (another device's request came first).
        Err(StoreError::NotFound(_)) => Ok(Err(status::INVALID_SOURCE)),
        Err(StoreError::Invalid(_)) => Ok(Err(status::FAILURE)),
        Err(e) => Err(e),
    }
}
