//! MoveItems and GetItemEstimate over real HTTP and WBXML against `easd serve`: a move gives
//! the item a new ServerId that Sync shows as a Delete in the source and an Add in the
//! destination, every refusal Status, isolation between users, and estimates that match what
//! the next Sync sends (priming, new mail, the FilterType window, bad keys and collections).

mod common;

use common::{collection, command_ids, filter_options, folder, TestDevice, TestServer};
use easd::store::{FolderId, FolderType, NewMessage, Store, UserId};
use easd::wbxml::tag::{airsync, item_estimate as ie, move_items as mv};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const DAY: i64 = 86_400;

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.com>\r\nTo: Alice <alice@example.com>\r\n\
         Subject: {subject}\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
         Message-ID: <{subject}@example.com>\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    )
    .into_bytes()
}

fn start() -> (TestServer, Store) {
    let server = TestServer::start();
    server.add_user(ALICE);
    server.add_user(BOB);
    let store = Store::open(&server.db).expect("open the server's database");
    (server, store)
}

fn user(store: &Store, email: &str) -> UserId {
    store.user_by_email(email).unwrap().expect("user").id
}

fn deliver(server: &TestServer, email: &str, subject: &str) {
    server.deliver(email, &message(subject));
}

/// Files a message received at `received` straight into the store (for FilterType tests).
fn file_dated(store: &Store, user: UserId, folder: FolderId, subject: &str, received: i64) -> i64 {
    let raw = message(subject);
    let mut new = NewMessage::new(&raw);
    new.received_at = Some(received);
    store.add_message(user, folder, &new).unwrap().item_id()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Asserts that libwbxml (when installed) decodes the answer and names `word` in it.
fn check_with_libwbxml(response: &common::EasResponse, word: &str) {
    common::libwbxml_agrees(&response.http.body, word);
}

// Sync helpers

fn sync_one(device: &mut TestDevice, key: &str, id: FolderId, filter: Option<&str>) -> Element {
    common::sync_one(device, collection(key, id, filter_options(filter)))
}

fn sync_key(c: &Element) -> String {
    c.child_text(airsync::SYNC_KEY).expect("SyncKey")
}

fn sync_all(
    device: &mut TestDevice,
    id: FolderId,
    filter: Option<&str>,
) -> (String, Vec<(easd::wbxml::Tag, String)>) {
    let first = sync_one(device, "0", id, filter);
    assert_eq!(first.child_text(airsync::STATUS).as_deref(), Some("1"));
    sync_on(device, &sync_key(&first), id)
}

/// Syncs from `key` until nothing more is available.
fn sync_on(
    device: &mut TestDevice,
    key: &str,
    id: FolderId,
) -> (String, Vec<(easd::wbxml::Tag, String)>) {
    let mut key = key.to_string();
    let mut all = Vec::new();
    loop {
        let answer = sync_one(device, &key, id, None);
        assert_eq!(answer.child_text(airsync::STATUS).as_deref(), Some("1"));
        key = sync_key(&answer);
        all.extend(command_ids(&answer));
        if answer.child(airsync::MORE_AVAILABLE).is_none() {
            return (key, all);
        }
    }
}

// MoveItems helpers

/// (SrcMsgId, SrcFldId, DstFldId) as text, so malformed ids can be sent too.
fn move_items(device: &mut TestDevice, moves: &[(&str, &str, &str)]) -> common::EasResponse {
    let mut doc = Element::new(mv::MOVE_ITEMS);
    for (item, from, to) in moves {
        doc.push(Element::new(mv::MOVE))
            .push_text(mv::SRC_MSG_ID, *item)
            .push_text(mv::SRC_FLD_ID, *from)
            .push_text(mv::DST_FLD_ID, *to);
    }
    let response = device.command("MoveItems", Some(&doc));
    assert_eq!(response.status(), 200);
    check_with_libwbxml(&response, "MoveItems");
    response
}

/// (SrcMsgId, Status, DstMsgId) of each Response.
fn move_results(response: &common::EasResponse) -> Vec<(String, String, Option<String>)> {
    let doc = response.doc();
    assert_eq!(doc.tag, mv::MOVE_ITEMS);
    doc.children_with(mv::RESPONSE)
        .map(|r| {
            (
                r.child_text(mv::SRC_MSG_ID).unwrap_or_default(),
                r.child_text(mv::STATUS).expect("Status"),
                r.child_text(mv::DST_MSG_ID),
            )
        })
        .collect()
}

fn item_id(store: &Store, user: UserId, folder: FolderId) -> Vec<i64> {
    store
        .items_in_window(user, folder, None)
        .unwrap()
        .into_iter()
        .map(|item| item.id)
        .collect()
}

#[test]
fn move_gives_a_new_server_id_that_sync_shows_in_both_folders() {
    let (server, store) = start();
    let alice = user(&store, ALICE);
    let inbox = folder(&store, alice, FolderType::Inbox);
    let archive = store
        .create_folder(alice, None, "Archive", FolderType::UserMail)
        .unwrap()
        .id;
    deliver(&server, ALICE, "keep");
    deliver(&server, ALICE, "move-me");
    let mut device = server.device(ALICE, "mover");
    let (inbox_key, adds) = sync_all(&mut device, inbox, None);
    assert_eq!(adds.len(), 2);
    let (archive_key, none) = sync_all(&mut device, archive, None);
    assert!(none.is_empty());

    let moved = adds[1].1.clone();
    let response = move_items(
        &mut device,
        &[(&moved, &inbox.to_string(), &archive.to_string())],
    );
    let results = move_results(&response);
    assert_eq!(results.len(), 1);
    let (source, code, new_id) = &results[0];
    assert_eq!((source.as_str(), code.as_str()), (moved.as_str(), "3"));
    let new_id = new_id.clone().expect("DstMsgId");
    assert_ne!(new_id, moved);

    let (_, inbox_changes) = sync_on(&mut device, &inbox_key, inbox);
    assert_eq!(inbox_changes, vec![(airsync::DELETE, moved.clone())]);
    let (_, archive_changes) = sync_on(&mut device, &archive_key, archive);
    assert_eq!(archive_changes, vec![(airsync::ADD, new_id.clone())]);
    assert_eq!(
        item_id(&store, alice, archive),
        vec![new_id.parse().unwrap()]
    );

    // The old id is gone: moving it again is an invalid source.
    let again = move_items(
        &mut device,
        &[(&moved, &inbox.to_string(), &archive.to_string())],
    );
    assert_eq!(move_results(&again)[0].1, "1");
}

#[test]
fn move_refusals_have_their_own_status_per_move() {
    let (server, store) = start();
    let alice = user(&store, ALICE);
    let inbox = folder(&store, alice, FolderType::Inbox);
    let drafts = folder(&store, alice, FolderType::Drafts);
    let contacts = folder(&store, alice, FolderType::Contacts);
    let deleted = folder(&store, alice, FolderType::DeletedItems);
    deliver(&server, ALICE, "one");
    let item = item_id(&store, alice, inbox)[0].to_string();
    let (inbox, drafts, contacts, deleted) = (
        inbox.to_string(),
        drafts.to_string(),
        contacts.to_string(),
        deleted.to_string(),
    );
    let mut device = server.device(ALICE, "refusals");
    let response = move_items(
        &mut device,
        &[
            ("999999", &inbox, &deleted), // no such item
            (&item, &drafts, &deleted),   // not in the folder named
            (&item, "999999", &deleted),  // no such source folder
            ("x", &inbox, &deleted),      // not an id at all
            (&item, &inbox, "999999"),    // no such destination
            (&item, &inbox, ""),          // empty destination
            (&item, &inbox, &inbox),      // same folder
            (&item, &inbox, &contacts),   // another class
            (&item, &inbox, &deleted),    // finally, a good one
            (&item, &inbox, &deleted),    // the old id is gone now
        ],
    );
    let codes: Vec<String> = move_results(&response)
        .into_iter()
        .map(|(_, code, _)| code)
        .collect();
    assert_eq!(
        codes,
        vec!["1", "1", "1", "1", "2", "2", "4", "5", "3", "1"]
    );
    let results = move_results(&response);
    assert!(results
        .iter()
        .filter(|(_, code, _)| code != "3")
        .all(|(_, _, dst)| dst.is_none()));
    assert_eq!(results[8].0, item);

    // A body that is not MoveItems, or one without any Move, is a bad request.
    let not_move = device.command("MoveItems", Some(&Element::new(ie::GET_ITEM_ESTIMATE)));
    assert_eq!(not_move.status(), 400);
    let empty = device.command("MoveItems", Some(&Element::new(mv::MOVE_ITEMS)));
    assert_eq!(empty.status(), 400);
}

#[test]
fn move_only_reaches_the_users_own_folders_and_items() {
    let (server, store) = start();
    let (alice, bob) = (user(&store, ALICE), user(&store, BOB));
    let alice_inbox = folder(&store, alice, FolderType::Inbox);
    let alice_deleted = folder(&store, alice, FolderType::DeletedItems);
    let bob_inbox = folder(&store, bob, FolderType::Inbox);
    let bob_deleted = folder(&store, bob, FolderType::DeletedItems);
    deliver(&server, ALICE, "alices");
    deliver(&server, BOB, "bobs");
    let alice_item = item_id(&store, alice, alice_inbox)[0].to_string();
    let bob_item = item_id(&store, bob, bob_inbox)[0].to_string();
    let mut device = server.device(ALICE, "nosy");
    let response = move_items(
        &mut device,
        &[
            // Bob's item in Bob's folders.
            (&bob_item, &bob_inbox.to_string(), &bob_deleted.to_string()),
            // Bob's item claimed to be in Alice's Inbox.
            (
                &bob_item,
                &alice_inbox.to_string(),
                &alice_deleted.to_string(),
            ),
            // Alice's item into Bob's folder.
            (
                &alice_item,
                &alice_inbox.to_string(),
                &bob_deleted.to_string(),
            ),
        ],
    );
    let codes: Vec<String> = move_results(&response)
        .into_iter()
        .map(|(_, code, _)| code)
        .collect();
    assert_eq!(codes, vec!["1", "1", "2"]);
    assert_eq!(
        item_id(&store, bob, bob_inbox),
        vec![bob_item.parse().unwrap()]
    );
    assert!(item_id(&store, bob, bob_deleted).is_empty());
    assert_eq!(
        item_id(&store, alice, alice_inbox),
        vec![alice_item.parse().unwrap()]
    );
}

// GetItemEstimate

/// One GetItemEstimate with the 14.0+ layout: (collection id, key, FilterType in Options).
fn estimate_doc(collections: &[(&str, Option<&str>, Option<&str>)]) -> Element {
    let mut doc = Element::new(ie::GET_ITEM_ESTIMATE);
    let list = doc.push(Element::new(ie::COLLECTIONS));
    for (id, key, filter) in collections {
        let c = list.push(Element::new(ie::COLLECTION));
        if let Some(key) = key {
            c.push_text(airsync::SYNC_KEY, *key);
        }
        c.push_text(ie::COLLECTION_ID, *id);
        if let Some(filter) = filter {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::FILTER_TYPE, *filter)
                .push_text(airsync::CLASS, "Email");
        }
    }
    doc
}

/// (CollectionId, Status, Estimate) of each Response.
fn estimates(device: &mut TestDevice, doc: &Element) -> Vec<(String, String, Option<u64>)> {
    let response = device.command("GetItemEstimate", Some(doc));
    assert_eq!(response.status(), 200);
    check_with_libwbxml(&response, "GetItemEstimate");
    let doc = response.doc();
    assert_eq!(doc.tag, ie::GET_ITEM_ESTIMATE);
    doc.children_with(ie::RESPONSE)
        .map(|r| {
            let c = r.child(ie::COLLECTION).expect("Collection");
            (
                c.child_text(ie::COLLECTION_ID).unwrap_or_default(),
                r.child_text(ie::STATUS).expect("Status"),
                c.child_text(ie::ESTIMATE)
                    .map(|e| e.parse().expect("a number")),
            )
        })
        .collect()
}

fn estimate_one(
    device: &mut TestDevice,
    id: FolderId,
    key: &str,
    filter: Option<&str>,
) -> (String, Option<u64>) {
    let id = id.to_string();
    let mut list = estimates(device, &estimate_doc(&[(&id, Some(key), filter)]));
    assert_eq!(list.len(), 1);
    let (answered, code, estimate) = list.remove(0);
    assert_eq!(answered, id);
    (code, estimate)
}

#[test]
fn estimate_counts_what_the_next_sync_sends() {
    let (server, store) = start();
    let alice = user(&store, ALICE);
    let inbox = folder(&store, alice, FolderType::Inbox);
    let mut device = server.device(ALICE, "estimator");

    // Not primed yet.
    assert_eq!(
        estimate_one(&mut device, inbox, "0", None),
        ("3".into(), None)
    );

    let first = sync_one(&mut device, "0", inbox, None);
    let key = sync_key(&first);
    assert_eq!(
        estimate_one(&mut device, inbox, &key, None),
        ("1".into(), Some(0))
    );
    for n in 0..5 {
        deliver(&server, ALICE, &format!("new-{n}"));
    }
    assert_eq!(
        estimate_one(&mut device, inbox, &key, None),
        ("1".into(), Some(5))
    );
    // Asking does not move the key: the same key still gets the same answer.
    assert_eq!(
        estimate_one(&mut device, inbox, &key, None),
        ("1".into(), Some(5))
    );

    // The next Sync sends exactly that many, and after it nothing is left.
    let (key, sent) = sync_on(&mut device, &key, inbox);
    assert_eq!(sent.len(), 5);
    assert_eq!(
        estimate_one(&mut device, inbox, &key, None),
        ("1".into(), Some(0))
    );

    // A move out and a new message: one Delete and one Add.
    let archive = store
        .create_folder(alice, None, "Archive", FolderType::UserMail)
        .unwrap()
        .id;
    let moved = sent[0].1.clone();
    let response = move_items(
        &mut device,
        &[(&moved, &inbox.to_string(), &archive.to_string())],
    );
    assert_eq!(move_results(&response)[0].1, "3");
    deliver(&server, ALICE, "later");
    assert_eq!(
        estimate_one(&mut device, inbox, &key, None),
        ("1".into(), Some(2))
    );
    let (_, sent) = sync_on(&mut device, &key, inbox);
    assert_eq!(sent.len(), 2);

    // Bad keys and collections.
    assert_eq!(estimate_one(&mut device, inbox, "12345-bogus", None).0, "4");
    let answers = estimates(
        &mut device,
        &estimate_doc(&[("999999", Some(&key), None), ("junk", Some(&key), None)]),
    );
    let codes: Vec<&str> = answers.iter().map(|(_, code, _)| code.as_str()).collect();
    assert_eq!(codes, vec!["2", "2"]);
    assert!(answers.iter().all(|(_, _, estimate)| estimate.is_none()));
    // Another user's folder is no collection of this one's.
    let bob_inbox = folder(&store, user(&store, BOB), FolderType::Inbox);
    assert_eq!(estimate_one(&mut device, bob_inbox, &key, None).0, "2");
    // A key of this device for another collection is not this collection's key.
    let (other_key, _) = sync_all(&mut device, archive, None);
    assert_eq!(estimate_one(&mut device, inbox, &other_key, None).0, "4");
    // A malformed document is a bad request.
    let bad = device.command(
        "GetItemEstimate",
        Some(&Element::new(ie::GET_ITEM_ESTIMATE)),
    );
    assert_eq!(bad.status(), 400);
}

#[test]
fn estimate_honours_the_filter_type_window() {
    let (server, store) = start();
    let alice = user(&store, ALICE);
    let inbox = folder(&store, alice, FolderType::Inbox);
    let now = now();
    for n in 0..3 {
        file_dated(&store, alice, inbox, &format!("old-{n}"), now - 60 * DAY);
    }
    for n in 0..2 {
        file_dated(&store, alice, inbox, &format!("recent-{n}"), now - DAY);
    }
    let mut device = server.device(ALICE, "windowed");

    // Primed with FilterType 3 (one week): the estimate uses the stored window.
    let first = sync_one(&mut device, "0", inbox, Some("3"));
    let key = sync_key(&first);
    assert_eq!(
        estimate_one(&mut device, inbox, &key, None),
        ("1".into(), Some(2))
    );
    // The FilterType the device names in the request counts too.
    assert_eq!(
        estimate_one(&mut device, inbox, &key, Some("3")),
        ("1".into(), Some(2))
    );
    assert_eq!(
        estimate_one(&mut device, inbox, &key, Some("0")),
        ("1".into(), Some(5))
    );
    let (key, sent) = sync_on(&mut device, &key, inbox);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        estimate_one(&mut device, inbox, &key, Some("3")),
        ("1".into(), Some(0))
    );

    // Widening the window to everything brings the three old ones as Adds; the estimate
    // says so before the Sync does.
    assert_eq!(
        estimate_one(&mut device, inbox, &key, Some("0")),
        ("1".into(), Some(3))
    );
    let widened = sync_one(&mut device, &key, inbox, Some("0"));
    let adds = command_ids(&widened);
    assert_eq!(adds.len(), 3);
    assert!(adds.iter().all(|(tag, _)| *tag == airsync::ADD));
    let key = sync_key(&widened);
    // Narrowing again: the three leave as SoftDelete, and are counted.
    assert_eq!(
        estimate_one(&mut device, inbox, &key, Some("3")),
        ("1".into(), Some(3))
    );
    let narrowed = sync_one(&mut device, &key, inbox, Some("3"));
    let soft: Vec<_> = command_ids(&narrowed);
    assert_eq!(soft.len(), 3);
    assert!(soft.iter().all(|(tag, _)| *tag == airsync::SOFT_DELETE));
}

#[test]
fn estimate_reads_the_12_1_layout() {
    let (server, store) = start();
    let alice = user(&store, ALICE);
    let inbox = folder(&store, alice, FolderType::Inbox);
    let now = now();
    file_dated(&store, alice, inbox, "old", now - 60 * DAY);
    file_dated(&store, alice, inbox, "recent", now - DAY);
    let mut device = server.device(ALICE, "older-phone");
    device.version = "12.1".to_string();
    let first = sync_one(&mut device, "0", inbox, None);
    let key = sync_key(&first);

    // 12.x: Class, CollectionId, FilterType and SyncKey straight in the Collection.
    let mut doc = Element::new(ie::GET_ITEM_ESTIMATE);
    doc.push(Element::new(ie::COLLECTIONS))
        .push(Element::new(ie::COLLECTION))
        .push_text(ie::CLASS, "Email")
        .push_text(ie::COLLECTION_ID, inbox.to_string())
        .push_text(airsync::FILTER_TYPE, "3")
        .push_text(airsync::SYNC_KEY, key.clone());
    let response = device.command("GetItemEstimate", Some(&doc));
    assert_eq!(response.status(), 200);
    check_with_libwbxml(&response, "Estimate");
    let answer = response.doc().child(ie::RESPONSE).expect("Response");
    assert_eq!(answer.child_text(ie::STATUS).as_deref(), Some("1"));
    let collection = answer.child(ie::COLLECTION).expect("Collection");
    assert_eq!(collection.child_text(ie::CLASS).as_deref(), Some("Email"));
    assert_eq!(collection.child_text(ie::ESTIMATE).as_deref(), Some("1"));
    // Without the FilterType: the stored options (none), so both.
    assert_eq!(
        estimate_one(&mut device, inbox, &key, None),
        ("1".into(), Some(2))
    );
}
