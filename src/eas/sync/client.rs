//! The client's side of a Sync collection: its Add, Change, Delete and Fetch commands,
//! applied in order, each answered in Responses with its own Status where MS-ASCMD asks for
//! one (every Add and Fetch; a Change or Delete only when it failed, or when it added
//! attachments to a draft, whose FileReferences the client learns this way).
//!
//! A class may handle writes in some of its folders itself ([`WriteHook`]: mail in Drafts,
//! 16.x, is built as a message and sent when the command asks for it); this module only
//! asks the class for its hook and follows the outcome.

use std::collections::HashSet;

use super::class::{decode, ClassAdapter, ItemStatus, ReadContext, WriteHook};
use super::engine;
use crate::eas::{CommandError, Request};
use crate::store::sync_items::MAX_CLIENT_ID_CHARS;
use crate::store::{ClientAdd, Folder, FolderType, HeldChanges, ItemId, StoreError};
use crate::wbxml::{tag::airsync, tag::airsyncbase, Element};

/// What the client commands did.
#[derive(Default)]
pub struct Applied {
    /// The Responses children.
    pub responses: Vec<Element>,
    /// Items the client changed or deleted: their changes are not echoed back.
    pub touched: HashSet<ItemId>,
    /// Drafts the client added and sent in this request: they left the folder before the
    /// client heard of them from the server, so the answer tells it with a Delete.
    pub sent_adds: Vec<ItemId>,
    /// What the commands did to the set of items the device holds: its Adds it now holds,
    /// its Deletes it no longer does (whatever their status: it dropped them).
    pub held: HeldChanges,
    /// Items whose Change or Delete a view refused, or whose Change it wrote back in its own
    /// way: the answer sends them again as the server has them (`true`: as an Add, the
    /// client dropped it).
    pub restore: Vec<(ItemId, bool)>,
}

/// Settings of the collection that shape the client commands.
pub struct ClientContext<'a> {
    pub read: ReadContext<'a>,
    pub adapter: Option<&'static dyn ClassAdapter>,
    pub folder: &'a Folder,
    /// The device's row id (ClientIds are remembered per device and collection).
    pub device: i64,
    pub deletes_as_moves: bool,
    /// The request repeats one whose answer was lost: a Delete of an item already gone is
    /// the same Delete again, not an error.
    pub replay: bool,
    /// Changes of items that changed on the server after this counter value lose to the
    /// server's version (`Conflict` 1, the default); `None` when the client wins, and on a
    /// replay (the item changed because of the lost request itself).
    pub server_wins_after: Option<i64>,
    /// The collection's Supported list (ghosting): the properties the client manages;
    /// `None` when it sent none (it manages all of its version's).
    pub supported: Option<&'a [crate::wbxml::Tag]>,
    /// The request, for a class's write hook (a draft's From is the user; sending it goes
    /// out through SendMail's path). `None`: hooked writes are refused.
    pub request: Option<&'a Request<'a>>,
}

impl ClientContext<'_> {
    /// The class's own handling of writes in this folder, if it has one.
    fn hook(&self) -> Option<&'static dyn WriteHook> {
        self.adapter
            .and_then(|a| a.write_hook(self.folder.folder_type))
    }

    /// The hook and the request when this protocol version can use the hook.
    fn usable_hook(&self) -> Option<(&'static dyn WriteHook, &Request<'_>)> {
        match (self.hook(), self.request) {
            (Some(hook), Some(request)) if hook.supported(self.read.version) => {
                Some((hook, request))
            }
            _ => None,
        }
    }
}

/// Applies the commands; `Err` only for store failures.
pub fn apply(context: &ClientContext, commands: &[Element]) -> Result<Applied, CommandError> {
    let mut applied = Applied::default();
    for command in commands {
        let server_id = command.child_text(airsync::SERVER_ID).unwrap_or_default();
        let item = server_id.trim().parse::<ItemId>().ok();
        if context.adapter.is_some_and(|a| a.refuses(command.tag))
            && refuse(context, command, item, &mut applied)?
        {
            continue;
        }
        match command.tag {
            airsync::ADD => {
                let (answer, created, sent) = observed(context, None, None, || {
                    let (answer, created, sent) = add(context, command)?;
                    Ok(((answer, created, sent), created.filter(|_| !sent)))
                })?;
                match (created, sent) {
                    (Some(id), true) => applied.sent_adds.push(id),
                    _ => {
                        applied.touched.extend(created);
                        applied.held.added.extend(created);
                    }
                }
                applied.responses.push(answer);
            }
            airsync::CHANGE => {
                let instance = instance_of(command).flatten();
                let (status, data, sent) = observed(context, item, instance, || {
                    let outcome = change(context, item, command)?;
                    let written = item.filter(|_| outcome.0 == ItemStatus::Success && !outcome.2);
                    Ok((outcome, written))
                })?;
                // A sent draft left the folder: the client hears of it as a Delete.
                let echoed = context.adapter.is_some_and(|a| a.echoes_changes());
                if status == ItemStatus::Success && !sent && echoed {
                    applied.restore.extend(item.map(|id| (id, false)));
                } else if status == ItemStatus::Success && !sent {
                    applied.touched.extend(item);
                }
                if status != ItemStatus::Success || data.is_some() {
                    let mut answer = Element::new(airsync::CHANGE);
                    answer.push_text(airsync::SERVER_ID, server_id.trim());
                    if let Some(data) = data {
                        answer.push(data);
                    }
                    answer.push_text(airsync::STATUS, status.code());
                    applied.responses.push(answer);
                }
            }
            airsync::DELETE if command.child(airsyncbase::INSTANCE_ID).is_some() => {
                // One occurrence of a series (16.x): the device still holds the series.
                let instance = instance_of(command).flatten();
                let status = observed(context, item, instance, || {
                    let status = delete_instance(context, item, command)?;
                    Ok((status, item.filter(|_| status == ItemStatus::Success)))
                })?;
                if status == ItemStatus::Success {
                    applied.touched.extend(item);
                } else {
                    applied
                        .responses
                        .push(response(airsync::DELETE, &server_id, status));
                }
            }
            airsync::DELETE => {
                let status = observed(context, item, None, || {
                    let status = delete(context, item)?;
                    Ok((status, item.filter(|_| status == ItemStatus::Success)))
                })?;
                applied.held.removed.extend(item);
                match status {
                    ItemStatus::Success => applied.touched.extend(item),
                    // Deleted by the request being repeated: its Delete is no news to it.
                    ItemStatus::ObjectNotFound if context.replay => applied.touched.extend(item),
                    _ => applied
                        .responses
                        .push(response(airsync::DELETE, &server_id, status)),
                }
            }
            airsync::FETCH => {
                let data = match item {
                    Some(id) => {
                        engine::fetch(&context.read, context.adapter, context.folder.id, id)?
                    }
                    None => None,
                };
                let status = if data.is_some() {
                    ItemStatus::Success
                } else {
                    ItemStatus::ObjectNotFound
                };
                let mut fetched = response(airsync::FETCH, &server_id, status);
                if let Some(data) = data {
                    fetched.push(data);
                }
                applied.responses.push(fetched);
            }
            // Nothing else belongs in Commands; an unknown command changes nothing.
            _ => {}
        }
    }
    Ok(applied)
}

/// A write the collection does not take (a view): an Add is refused (Status 6, nothing is
/// created); a Change or Delete loses to the server's version (Status 7) and the item is sent
/// back as the server has it. Returns whether the command was a write (a Fetch is served as
/// usual).
fn refuse(
    context: &ClientContext,
    command: &Element,
    item: Option<ItemId>,
    applied: &mut Applied,
) -> Result<bool, StoreError> {
    let server_id = command.child_text(airsync::SERVER_ID).unwrap_or_default();
    match command.tag {
        airsync::ADD => {
            let client_id = command.child_text(airsync::CLIENT_ID).unwrap_or_default();
            let mut answer = Element::new(airsync::ADD);
            answer
                .push_text(airsync::CLIENT_ID, client_id.trim())
                .push_text(airsync::STATUS, ItemStatus::ConversionError.code());
            applied.responses.push(answer);
        }
        airsync::CHANGE | airsync::DELETE => match in_folder(context, item)? {
            Some(id) => {
                let status = ItemStatus::Conflict;
                applied
                    .responses
                    .push(response(command.tag, &server_id, status));
                let dropped = command.tag == airsync::DELETE
                    && command.child(airsyncbase::INSTANCE_ID).is_none();
                applied.restore.push((id, dropped));
            }
            None => applied.responses.push(response(
                command.tag,
                &server_id,
                ItemStatus::ObjectNotFound,
            )),
        },
        _ => return Ok(false),
    }
    Ok(true)
}

/// Runs one client write (`write` returns its outcome and the item it wrote, if it did) and,
/// when the class follows writes for this protocol version (the calendar's meeting mail from
/// 16.0), the class's follow-up in the same transaction (mail for other servers is queued
/// in the outbox there and sent by the request loop after the commit). `target` is the item the command names, read before the write.
fn observed<T>(
    context: &ClientContext,
    target: Option<ItemId>,
    instance: Option<i64>,
    write: impl FnOnce() -> Result<(T, Option<ItemId>), CommandError>,
) -> Result<T, CommandError> {
    let follows = match (context.adapter, context.request) {
        (Some(adapter), Some(request)) if adapter.observes_writes(context.read.version) => {
            Some((adapter, request))
        }
        _ => None,
    };
    let Some((adapter, request)) = follows else {
        return write().map(|(value, _)| value);
    };
    let (store, user) = (context.read.store, context.read.user);
    store.atomically(|| -> Result<T, CommandError> {
        let before = match in_folder(context, target)? {
            Some(id) => store.record_item(user, id)?.map(|(_, record)| record),
            None => None,
        };
        let (value, written) = write()?;
        if let Some(id) = written {
            adapter.after_client_write(request, id, before.as_ref(), instance)?;
        }
        Ok(value)
    })
}

fn response(tag: crate::wbxml::Tag, server_id: &str, status: ItemStatus) -> Element {
    let mut element = Element::new(tag);
    element
        .push_text(airsync::SERVER_ID, server_id.trim())
        .push_text(airsync::STATUS, status.code());
    element
}

/// Answers one Add; also returns the item it stands for and whether it was sent by the
/// class's write hook (and left the folder: a draft).
fn add(
    context: &ClientContext,
    command: &Element,
) -> Result<(Element, Option<ItemId>, bool), CommandError> {
    let client_id = command.child_text(airsync::CLIENT_ID).unwrap_or_default();
    let client_id = client_id.trim();
    let (store, user) = (context.read.store, context.read.user);
    let collection = context.folder.id.to_string();
    let mut answer = Element::new(airsync::ADD);
    answer.push_text(airsync::CLIENT_ID, client_id);
    let too_long = client_id.chars().count() > MAX_CLIENT_ID_CHARS;
    let key = (!client_id.is_empty() && !too_long).then_some(ClientAdd {
        device: context.device,
        collection: &collection,
        client_id,
    });
    // The same Add again (its answer was lost): the item it created is the answer.
    let recorded = match &key {
        Some(key) => store.client_add_record(user, key)?,
        None => None,
    };
    let hook = context.hook();
    let send = hook.is_some_and(|h| h.wants_send(command));
    let outcome = match (
        recorded,
        context.adapter,
        command.child(airsync::APPLICATION_DATA),
    ) {
        // A draft sent by the lost answer's request is gone from the folder: sent, not
        // sent again.
        (Some((id, false)), _, _) if send => {
            answer
                .push_text(airsync::SERVER_ID, id.to_string())
                .push_text(airsync::STATUS, ItemStatus::Success.code());
            return Ok((answer, Some(id), true));
        }
        (Some((id, true)), _, _) => Ok((id, None)),
        _ if too_long => Err(ItemStatus::ConversionError),
        (_, Some(_), Some(data)) if hook.is_some() => match context.usable_hook() {
            Some((hook, request)) => {
                hook.add(store, request.user, context.folder.id, data, key.as_ref())?
            }
            None => Err(ItemStatus::ConversionError),
        },
        (_, Some(adapter), Some(data)) => {
            let values = decode(adapter.fields(), data, context.read.version);
            adapter
                .add(&context.read, context.folder.id, &values, key.as_ref())?
                .map(|id| (id, None))
        }
        _ => Err(ItemStatus::ConversionError),
    };
    let (id, data) = match outcome {
        Ok(created) => created,
        Err(status) => {
            answer.push_text(airsync::STATUS, status.code());
            return Ok((answer, None, false));
        }
    };
    let mut status = ItemStatus::Success;
    let mut sent = false;
    if send {
        match context.usable_hook() {
            Some((hook, request)) if hook.send(request, id)? => sent = true,
            // Not sent: the draft stays, the client keeps it under its ServerId.
            _ => status = ItemStatus::ServerError,
        }
    }
    answer.push_text(airsync::SERVER_ID, id.to_string());
    if let Some(data) = data {
        answer.push(data);
    }
    answer.push_text(airsync::STATUS, status.code());
    Ok((answer, Some(id), sent))
}

/// Whether `item` is an item of this collection's folder.
fn in_folder(context: &ClientContext, item: Option<ItemId>) -> Result<Option<ItemId>, StoreError> {
    let Some(id) = item else { return Ok(None) };
    Ok(context
        .read
        .store
        .item(context.read.user, id)?
        .filter(|i| i.folder_id == context.folder.id)
        .map(|i| i.id))
}

/// Applies one Change: its status, the ApplicationData to answer with (FileReferences of
/// attachments added to a draft), and whether it sent the draft.
fn change(
    context: &ClientContext,
    item: Option<ItemId>,
    command: &Element,
) -> Result<(ItemStatus, Option<Element>, bool), CommandError> {
    let failed = |status| Ok((status, None, false));
    let Some(id) = in_folder(context, item)? else {
        return failed(ItemStatus::ObjectNotFound);
    };
    let Some(adapter) = context.adapter else {
        return failed(ItemStatus::ConversionError);
    };
    if let Some(since) = context.server_wins_after {
        let item = context.read.store.item(context.read.user, id)?;
        if item.is_some_and(|item| item.changed_seq > since) {
            return failed(ItemStatus::Conflict);
        }
    }
    let hook = context.hook();
    let send = hook.is_some_and(|h| h.wants_send(command));
    let data = command.child(airsync::APPLICATION_DATA);
    if data.is_none() && !send {
        return failed(ItemStatus::ConversionError);
    }
    let edits = |data: &Element| hook.is_some_and(|h| h.edits_content(data));
    let hooked = context.usable_hook();
    if (send || data.is_some_and(edits)) && hooked.is_none() {
        return failed(ItemStatus::ConversionError);
    }
    let mut answer_data = None;
    if let (Some((hook, request)), Some(data)) = (hooked, data) {
        if hook.edits_content(data) {
            match hook.change(context.read.store, request.user, id, data)? {
                Ok(references) => answer_data = references,
                Err(status) => return failed(status),
            }
        }
    }
    if let Some(data) = data {
        let values = decode(adapter.fields(), data, context.read.version);
        let status = match instance_of(command) {
            Some(Some(instance)) => {
                adapter.change_instance(&context.read, id, instance, &values)?
            }
            Some(None) => ItemStatus::ConversionError,
            None => adapter.change(&context.read, id, &values, context.supported)?,
        };
        if status != ItemStatus::Success {
            return failed(status);
        }
    }
    if let (true, Some((hook, request))) = (send, hooked) {
        if !hook.send(request, id)? {
            return Ok((ItemStatus::ServerError, answer_data, false));
        }
        return Ok((ItemStatus::Success, answer_data, true));
    }
    Ok((ItemStatus::Success, answer_data, false))
}

/// The command's `airsyncbase:InstanceId` (16.x: one occurrence of a series): `None` when it
/// has none, `Some(None)` when it is not a date.
fn instance_of(command: &Element) -> Option<Option<i64>> {
    let text = command.child_text(airsyncbase::INSTANCE_ID)?;
    Some(super::class::parse_eas_datetime(&text))
}

/// Deletes one occurrence of a series.
fn delete_instance(
    context: &ClientContext,
    item: Option<ItemId>,
    command: &Element,
) -> Result<ItemStatus, CommandError> {
    let Some(id) = in_folder(context, item)? else {
        return Ok(ItemStatus::ObjectNotFound);
    };
    match (context.adapter, instance_of(command)) {
        (Some(adapter), Some(Some(instance))) => {
            Ok(adapter.delete_instance(&context.read, id, instance)?)
        }
        _ => Ok(ItemStatus::ConversionError),
    }
}

fn delete(context: &ClientContext, item: Option<ItemId>) -> Result<ItemStatus, CommandError> {
    let Some(id) = in_folder(context, item)? else {
        return Ok(ItemStatus::ObjectNotFound);
    };
    let store = context.read.store;
    let user = context.read.user;
    if context.deletes_as_moves && context.folder.folder_type != FolderType::DeletedItems {
        let trash = store
            .folders_of(user)?
            .into_iter()
            .find(|f| f.folder_type == FolderType::DeletedItems);
        if let Some(trash) = trash {
            match store.move_item(user, id, trash.id) {
                Ok(_) => return Ok(ItemStatus::Success),
                // Deleted Items holds mail only: other classes are deleted outright.
                Err(StoreError::Invalid(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    store.delete_item(user, id)?;
    Ok(ItemStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::super::class::{Field, FieldKind, Record, Value};
    use super::super::collection::Options;
    use super::*;
    use crate::eas::ProtocolVersion;
    use crate::store::{DeviceSeen, FolderId, ItemClass, NewMessage, Store};
    use crate::wbxml::tag::email;

    /// A class that accepts Adds (filing a message with the sent Subject), to exercise the
    /// generic Add path the way a future class will.
    struct AddingClass;

    static FIELDS: &[Field] = &[Field::new(
        email::SUBJECT,
        FieldKind::Text,
        ProtocolVersion::V2_5,
    )];

    impl ClassAdapter for AddingClass {
        fn class(&self) -> ItemClass {
            ItemClass::Email
        }
        fn fields(&self) -> &'static [Field] {
            FIELDS
        }
        fn accepts_filter(&self, _filter: u8) -> bool {
            true
        }
        fn read(&self, _: &ReadContext, _: ItemId) -> Result<Option<Record>, StoreError> {
            Ok(None)
        }
        fn change(
            &self,
            _: &ReadContext,
            _: ItemId,
            _: &Record,
            _: Option<&[crate::wbxml::Tag]>,
        ) -> Result<ItemStatus, StoreError> {
            Ok(ItemStatus::Success)
        }
        fn add(
            &self,
            context: &ReadContext,
            folder: FolderId,
            values: &Record,
            client_add: Option<&ClientAdd<'_>>,
        ) -> Result<Result<ItemId, ItemStatus>, StoreError> {
            let (store, user) = (context.store, context.user);
            let Some(Value::Text(subject)) = values.get(email::SUBJECT) else {
                return Ok(Err(ItemStatus::ConversionError));
            };
            let raw = format!("Subject: {subject}\r\n\r\nbody\r\n");
            let message = NewMessage::new(raw.as_bytes());
            Ok(Ok(
                store.add_client_message(user, folder, &message, client_add)?
            ))
        }
    }

    #[test]
    fn a_repeated_add_finds_the_item_it_created() {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("sam@example.com", "", "pw").unwrap().id;
        let seen = DeviceSeen {
            device_id: "DEV",
            device_type: "Android",
            user_agent: "ua",
            protocol_version: "16.1",
            now: 1,
        };
        let device = store.record_device(user, &seen).unwrap().id;
        let inbox = store
            .folders_of(user)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Inbox)
            .unwrap();
        let options = Options::default();
        static ADDING: AddingClass = AddingClass;
        let context = ClientContext {
            read: ReadContext {
                store: &store,
                user,
                version: ProtocolVersion::V16_1,
                options: &options,
                policy: &crate::policy::EffectivePolicy::default(),
            },
            adapter: Some(&ADDING),
            folder: &inbox,
            device,
            deletes_as_moves: true,
            replay: false,
            server_wins_after: None,
            supported: None,
            request: None,
        };
        let mut add = Element::new(airsync::ADD);
        add.push_text(airsync::CLIENT_ID, "c-7");
        add.push(Element::new(airsync::APPLICATION_DATA))
            .push_text(email::SUBJECT, "note");

        let mut server_ids = Vec::new();
        for _ in 0..3 {
            let applied = apply(&context, std::slice::from_ref(&add)).unwrap();
            let answer = &applied.responses[0];
            assert_eq!(answer.child_text(airsync::STATUS).as_deref(), Some("1"));
            let id: ItemId = answer
                .child_text(airsync::SERVER_ID)
                .unwrap()
                .parse()
                .unwrap();
            assert!(applied.touched.contains(&id));
            server_ids.push(id);
        }
        assert!(server_ids.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(
            store.items_in_window(user, inbox.id, None).unwrap().len(),
            1
        );

        // Another ClientId is another item.
        let mut other = add.clone();
        other.children.remove(0);
        other.children.insert(
            0,
            crate::wbxml::Node::Element(Element::with_text(airsync::CLIENT_ID, "c-8")),
        );
        apply(&context, &[other]).unwrap();
        assert_eq!(
            store.items_in_window(user, inbox.id, None).unwrap().len(),
            2
        );
    }
}
