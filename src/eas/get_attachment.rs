//! GetAttachment (MS-ASCMD 2.2.1.7, protocol 2.5 and 12.x): `AttachmentName=item:position`
//! (the name Sync writes in the 2.5 AttName and the 12.x FileReference) answers HTTP 200 with
//! the attachment's Content-Type and its decoded bytes. An attachment that does not exist,
//! or is not the caller's, is HTTP 500, as MS-ASCMD prescribes for a deleted attachment; one
//! the security policy withholds (AttachmentsEnabled=0, over MaxAttachmentSize) is HTTP 403.
//! `item:native` names the native file of a groupware-as-mail message (a vCard or iCalendar
//! object made from the item when it is asked for).

use super::query::QueryParam;
use super::{CommandError, Piece, Reply, Request};
use crate::store::{ItemId, StoreError};

pub fn handle(request: &Request) -> Result<Reply, CommandError> {
    let Some(name) = request.query.param(&QueryParam::AttachmentName) else {
        return Ok(Reply::HttpStatus(400));
    };
    // The native file a groupware-as-mail message attaches (a vCard, an iCalendar object).
    if let Some(item) = super::sync::view_class::parse_native_reference(name) {
        let Some(file) =
            super::sync::view_class::native_file(request.store, request.user.id, item)?
        else {
            return Ok(Reply::HttpStatus(500));
        };
        if !request.policy.allows_attachment(file.bytes.len() as u64) {
            return Ok(Reply::HttpStatus(403));
        }
        return Ok(Reply::Binary {
            content_type: file.content_type.to_string(),
            pieces: vec![Piece::Bytes(file.bytes)],
        });
    }
    let Some((item, position)) = parse_name(name) else {
        return Ok(Reply::HttpStatus(500));
    };
    let attachment = match request.store.message_attachments(request.user.id, item) {
        Ok(attachments) => attachments.into_iter().find(|a| a.position == position),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(attachment) = attachment else {
        return Ok(Reply::HttpStatus(500));
    };
    // The security policy withholds attachments (AttachmentsEnabled=0, MaxAttachmentSize).
    if !request.policy.allows_attachment(attachment.part.size) {
        return Ok(Reply::HttpStatus(403));
    }
    let body = Piece::Stored {
        user: request.user.id,
        item,
        location: attachment.part.location,
        skip: 0,
        length: attachment.part.size,
        base64: false,
    };
    let content_type = if attachment.part.content_type.is_empty() {
        "application/octet-stream".to_string()
    } else {
        attachment.part.content_type
    };
    Ok(Reply::Binary {
        content_type,
        pieces: vec![body],
    })
}

/// `item:position`.
fn parse_name(name: &str) -> Option<(ItemId, u32)> {
    let (item, position) = name.trim().split_once(':')?;
    Some((item.parse().ok()?, position.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_item_and_position() {
        assert_eq!(parse_name("7:0"), Some((7, 0)));
        assert_eq!(parse_name("7"), None);
        assert_eq!(parse_name("../etc:1"), None);
    }
}
