//! What the item-class tests (contacts, tasks, notes) share: a server with one user, a phone
//! per protocol version, and Sync requests and answers as element trees. Every answer is also
//! decoded by libwbxml (where installed), an implementation nobody here wrote.

#![allow(dead_code)]

use crate::common::{TestDevice, TestServer};
use easd::store::{FolderId, Store, UserId};
use easd::wbxml::tag::{airsync, calendar as cal, folder_hierarchy as fh, meeting_response as mr};
use easd::wbxml::{Element, Tag};

pub const ALICE: &str = "alice@example.com";

pub fn start() -> (TestServer, Store, UserId) {
    let server = TestServer::start();
    server.add_user(ALICE);
    let (store, user) = server.store_and_user(ALICE);
    (server, store, user)
}

pub use crate::common::folder;

/// A phone of Alice speaking `version`.
pub fn phone(server: &TestServer, id: &str, version: &str) -> TestDevice {
    server.device_speaking(ALICE, id, version)
}

pub use crate::common::{collection, sync_one};

pub fn status(c: &Element) -> String {
    c.child_text(airsync::STATUS).unwrap_or_default()
}

pub fn key(c: &Element) -> String {
    c.child_text(airsync::SYNC_KEY).expect("SyncKey")
}

/// The first key of a collection, sending `fill` (Supported, Options) with SyncKey 0.
pub fn first_key(device: &mut TestDevice, id: FolderId, fill: impl FnOnce(&mut Element)) -> String {
    let answer = sync_one(device, collection("0", id, fill));
    assert_eq!(status(&answer), "1", "{answer:?}");
    key(&answer)
}

/// The commands of an answer.
pub fn commands(c: &Element) -> Vec<Element> {
    c.child(airsync::COMMANDS)
        .map(|list| list.elements().cloned().collect())
        .unwrap_or_default()
}

/// Syncs until no MoreAvailable: the new key and every command.
pub fn pull(device: &mut TestDevice, key_now: &str, id: FolderId) -> (String, Vec<Element>) {
    pull_with(device, key_now, id, |_| {})
}

pub fn pull_with(
    device: &mut TestDevice,
    key_now: &str,
    id: FolderId,
    fill: impl Fn(&mut Element),
) -> (String, Vec<Element>) {
    let mut key_now = key_now.to_string();
    let mut all = Vec::new();
    for _ in 0..100 {
        let answer = sync_one(device, collection(&key_now, id, &fill));
        assert_eq!(status(&answer), "1", "{answer:?}");
        key_now = key(&answer);
        all.extend(commands(&answer));
        if answer.child(airsync::MORE_AVAILABLE).is_none() {
            return (key_now, all);
        }
    }
    panic!("MoreAvailable without end");
}

/// The initial Sync of a collection, from key 0 to its end: every command.
pub fn pull_all(device: &mut TestDevice, id: FolderId) -> Vec<Element> {
    let key_now = first_key(device, id, |_| {});
    pull(device, &key_now, id).1
}

/// The ApplicationData among `commands` whose `tag` is `value`.
pub fn data_where<'a>(commands: &'a [Element], tag: Tag, value: &str) -> &'a Element {
    commands
        .iter()
        .map(data)
        .find(|d| d.child_text(tag).as_deref() == Some(value))
        .unwrap_or_else(|| panic!("no item with {tag:?} {value} in {commands:?}"))
}

/// Sends client commands; returns the answer.
pub fn send(
    device: &mut TestDevice,
    key_now: &str,
    id: FolderId,
    commands: Vec<Element>,
) -> Element {
    send_with(device, key_now, id, commands, |_| {})
}

pub fn send_with(
    device: &mut TestDevice,
    key_now: &str,
    id: FolderId,
    list: Vec<Element>,
    fill: impl FnOnce(&mut Element),
) -> Element {
    sync_one(
        device,
        collection(key_now, id, |c| {
            fill(c);
            let commands = c.push(Element::new(airsync::COMMANDS));
            for command in list {
                commands.push(command);
            }
        }),
    )
}

/// An Add command with ApplicationData built by `fill`.
pub fn add(client_id: &str, fill: impl FnOnce(&mut Element)) -> Element {
    let mut add = Element::new(airsync::ADD);
    add.push_text(airsync::CLIENT_ID, client_id);
    fill(add.push(Element::new(airsync::APPLICATION_DATA)));
    add
}

/// A Change command.
pub fn change(server_id: &str, fill: impl FnOnce(&mut Element)) -> Element {
    let mut change = Element::new(airsync::CHANGE);
    change.push_text(airsync::SERVER_ID, server_id);
    fill(change.push(Element::new(airsync::APPLICATION_DATA)));
    change
}

pub fn delete(server_id: &str) -> Element {
    let mut delete = Element::new(airsync::DELETE);
    delete.push_text(airsync::SERVER_ID, server_id);
    delete
}

/// The Responses child of `tag` (Add, Change, ...), if any.
pub fn response(c: &Element, tag: Tag) -> Option<Element> {
    c.child(airsync::RESPONSES)
        .and_then(|r| r.child(tag))
        .cloned()
}

/// The ServerId an Add response gave, asserting Status 1.
pub fn added_id(c: &Element) -> String {
    let add = response(c, airsync::ADD).unwrap_or_else(|| panic!("Add response in {c:?}"));
    assert_eq!(status(&add), "1", "{add:?}");
    add.child_text(airsync::SERVER_ID).expect("ServerId")
}

pub fn data(command: &Element) -> &Element {
    command
        .child(airsync::APPLICATION_DATA)
        .expect("ApplicationData")
}

/// A child's text (short for the many field checks of the item-class tests).
pub fn text(e: &Element, tag: Tag) -> Option<String> {
    e.child_text(tag)
}

/// The Attendees of a calendar item's ApplicationData (none: empty).
pub fn attendees(data: &Element) -> Vec<Element> {
    children_of(data, cal::ATTENDEES, cal::ATTENDEE)
}

/// The Exceptions of a calendar item's ApplicationData (none: empty).
pub fn exceptions(data: &Element) -> Vec<Element> {
    children_of(data, cal::EXCEPTIONS, cal::EXCEPTION)
}

fn children_of(data: &Element, list: Tag, item: Tag) -> Vec<Element> {
    data.child(list)
        .map(|l| l.children_with(item).cloned().collect())
        .unwrap_or_default()
}

/// One MeetingResponse with one Request that `fill` builds: the Result (the answer is also
/// decoded by libwbxml where installed).
pub fn meeting_response(device: &mut TestDevice, fill: impl FnOnce(&mut Element)) -> Element {
    let mut doc = Element::new(mr::MEETING_RESPONSE);
    fill(doc.push(Element::new(mr::REQUEST)));
    let response = device.command("MeetingResponse", Some(&doc));
    assert_eq!(response.status(), 200);
    crate::common::libwbxml_agrees(&response.http.body, "<MeetingResponse");
    response.doc().child(mr::RESULT).cloned().expect("a Result")
}

/// FolderSync from `key_now`: the new key, and the Adds (id, name, type) and Deletes (id).
pub fn folder_changes(
    device: &mut TestDevice,
    key_now: &str,
) -> (String, Vec<(String, String, String)>, Vec<String>) {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key_now);
    let response = device.command("FolderSync", Some(&doc));
    crate::common::libwbxml_agrees(&response.http.body, "<FolderSync");
    let doc = response.doc();
    assert_eq!(doc.child_text(fh::STATUS).as_deref(), Some("1"), "{doc:?}");
    let changes = doc.child(fh::CHANGES);
    let adds = changes
        .map(|c| {
            c.children_with(fh::ADD)
                .map(|a| {
                    (
                        a.child_text(fh::SERVER_ID).unwrap_or_default(),
                        a.child_text(fh::DISPLAY_NAME).unwrap_or_default(),
                        a.child_text(fh::TYPE).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let deletes = changes
        .map(|c| {
            c.children_with(fh::DELETE)
                .map(|d| d.child_text(fh::SERVER_ID).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    (doc.child_text(fh::SYNC_KEY).expect("key"), adds, deletes)
}

/// FolderSync from key 0: the key and the added folders as (ServerId, name, type).
pub fn folder_sync(device: &mut TestDevice) -> (String, Vec<(String, String, String)>) {
    let (key_now, adds, _) = folder_changes(device, "0");
    (key_now, adds)
}

/// FolderCreate of a top-level folder of `kind`: its ServerId.
pub fn create_folder(device: &mut TestDevice, name: &str, kind: &str) -> FolderId {
    let (key_now, _) = folder_sync(device);
    let mut doc = Element::new(fh::FOLDER_CREATE);
    doc.push_text(fh::SYNC_KEY, key_now)
        .push_text(fh::PARENT_ID, "0")
        .push_text(fh::DISPLAY_NAME, name)
        .push_text(fh::TYPE, kind);
    let response = device.command("FolderCreate", Some(&doc));
    assert_eq!(
        response.doc().child_text(fh::STATUS).as_deref(),
        Some("1"),
        "{:?}",
        response.doc()
    );
    response
        .doc()
        .child_text(fh::SERVER_ID)
        .expect("ServerId")
        .parse()
        .unwrap()
}
