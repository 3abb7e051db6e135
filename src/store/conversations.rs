//! Conversations of mail: which of a user's messages share a ConversationId (MS-ASCMD
//! ItemOperations Move of a whole conversation).

use rusqlite::params;

use super::{FolderId, ItemId, Store, StoreError, UserId};

impl Store {
    /// The user's messages whose conversation id is `conversation_id`, with the folder each
    /// is in, oldest first.
    pub fn conversation_messages(
        &self,
        user: UserId,
        conversation_id: &[u8],
    ) -> Result<Vec<(ItemId, FolderId)>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT i.id, i.folder_id FROM messages m JOIN items i ON i.id = m.item_id
             WHERE i.user_id = ?1 AND m.conversation_id = ?2
             ORDER BY i.id",
        )?;
        let rows = statement
            .query_map(params![user, conversation_id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{FolderId, FolderType, NewMessage, Store, UserId};

    fn inbox(store: &Store, user: UserId) -> FolderId {
        store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Inbox)
            .unwrap()
            .id
    }

    #[test]
    fn finds_only_the_users_messages_of_the_conversation() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("ann@example.com", "", "pw").unwrap().id;
        let other = store.add_user("other@example.com", "", "pw").unwrap().id;
        let (mine, theirs) = (inbox(&store, user), inbox(&store, other));
        let first: &[u8] = b"Subject: Plans\r\nMessage-ID: <a@x>\r\n\r\nhi\r\n";
        let reply: &[u8] = b"Subject: Re: Plans\r\nMessage-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\n\
                             References: <a@x>\r\n\r\nok\r\n";
        let unrelated: &[u8] = b"Subject: Lunch\r\nMessage-ID: <c@x>\r\n\r\nfood\r\n";
        let file = |user, folder, raw| {
            store
                .add_message(user, folder, &NewMessage::new(raw))
                .unwrap()
                .item_id()
        };
        let a = file(user, mine, first);
        let b = file(user, mine, reply);
        file(user, mine, unrelated);
        file(other, theirs, first);
        let id = store.message(user, a).unwrap().unwrap().conversation_id;
        assert_eq!(
            store.conversation_messages(user, &id).unwrap(),
            vec![(a, mine), (b, mine)]
        );
        assert!(store
            .conversation_messages(user, b"nope")
            .unwrap()
            .is_empty());
    }
}
