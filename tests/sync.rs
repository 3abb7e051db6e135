//! Sync over real HTTP and WBXML against `easd serve`: the initial sync, windows and
//! MoreAvailable, client commands, server changes, the FilterType window, lost answers,
//! empty and partial requests, the Status codes, and a message whose MIME is broken.

mod common;

use std::collections::HashSet;

use common::{collection, command_ids, folder, sync_one, TestDevice, TestServer};
use easd::store::{FolderId, FolderType, NewMessage, Store, UserId};
use easd::wbxml::tag::{airsync, airsyncbase as base, email, email2};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: {subject}\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn start() -> (TestServer, Store, UserId) {
    let server = TestServer::start();
    server.add_user(ALICE);
    let (store, user) = server.store_and_user(ALICE);
    (server, store, user)
}

fn file(store: &Store, user: UserId, folder: FolderId, subject: &str, received: i64) -> i64 {
    let raw = message(subject, "hello");
    let mut new = NewMessage::new(&raw);
    new.received_at = Some(received);
    store.add_message(user, folder, &new).unwrap().item_id()
}

fn sync_doc(collections: Vec<Element>) -> Element {
    let mut doc = Element::new(airsync::SYNC);
    let list = doc.push(Element::new(airsync::COLLECTIONS));
    for c in collections {
        list.push(c);
    }
    doc
}

/// Sends a Sync and returns the whole answer.
fn sync(device: &mut TestDevice, doc: &Element) -> common::EasResponse {
    let response = device.command("Sync", Some(doc));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "Sync");
    response
}

fn status(c: &Element) -> String {
    c.child_text(airsync::STATUS).unwrap_or_default()
}

fn key(c: &Element) -> String {
    c.child_text(airsync::SYNC_KEY).expect("SyncKey")
}

fn first_key(device: &mut TestDevice, id: FolderId) -> String {
    let answer = sync_one(device, collection("0", id, |_| {}));
    assert_eq!(status(&answer), "1");
    assert!(answer.child(airsync::COMMANDS).is_none());
    key(&answer)
}

#[test]
fn initial_sync_sends_adds_with_application_data_and_bodies() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let out = server.easd_stdin(
        &["deliver", ALICE],
        &message("Greetings", "Hello Alice, this is the body."),
    );
    assert!(out.status.success(), "{out:?}");
    let mut device = server.device(ALICE, "initial");

    let k1 = first_key(&mut device, inbox);
    // A second SyncKey 0 (iOS does this) simply starts over.
    let k1 = {
        let again = first_key(&mut device, inbox);
        assert_ne!(again, k1);
        again
    };
    let answer = sync_one(
        &mut device,
        collection(&k1, inbox, |c| {
            let options = c.push(Element::new(airsync::OPTIONS));
            options
                .push(Element::new(base::BODY_PREFERENCE))
                .push_text(base::TYPE, "1")
                .push_text(base::TRUNCATION_SIZE, "10")
                .push_text(base::PREVIEW, "5");
        }),
    );
    assert_eq!(status(&answer), "1");
    assert_ne!(key(&answer), k1);
    let list = command_ids(&answer);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].0, airsync::ADD);
    let add = answer
        .child(airsync::COMMANDS)
        .unwrap()
        .child(airsync::ADD)
        .unwrap();
    let data = add
        .child(airsync::APPLICATION_DATA)
        .expect("ApplicationData");
    assert_eq!(
        data.child_text(email::SUBJECT).as_deref(),
        Some("Greetings")
    );
    assert!(data
        .child_text(email::FROM)
        .unwrap()
        .contains("bob@example.com"));
    assert_eq!(data.child_text(email::READ).as_deref(), Some("0"));
    let received = data.child_text(email::DATE_RECEIVED).unwrap();
    assert!(
        received.ends_with(".000Z") && received.len() == 24,
        "{received}"
    );
    assert!(data.child(email2::CONVERSATION_ID).is_some());
    let body = data.child(base::BODY).expect("Body");
    assert_eq!(body.child_text(base::TYPE).as_deref(), Some("1"));
    assert_eq!(body.child_text(base::TRUNCATED).as_deref(), Some("1"));
    assert_eq!(body.child_text(base::DATA).as_deref(), Some("Hello Alic"));
    assert_eq!(body.child_text(base::PREVIEW).as_deref(), Some("Hello"));

    // Type 4: the raw MIME message, through a Fetch.
    let server_id: i64 = list[0].1.parse().unwrap();
    let answer = sync_one(
        &mut device,
        collection(&key(&answer), inbox, |c| {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::MIME_SUPPORT, "2")
                .push(Element::new(base::BODY_PREFERENCE))
                .push_text(base::TYPE, "4");
            c.push(Element::new(airsync::COMMANDS))
                .push(Element::new(airsync::FETCH))
                .push_text(airsync::SERVER_ID, server_id.to_string());
        }),
    );
    let fetched = answer
        .child(airsync::RESPONSES)
        .and_then(|r| r.child(airsync::FETCH))
        .expect("Responses/Fetch");
    assert_eq!(status(fetched), "1");
    let body = fetched
        .child(airsync::APPLICATION_DATA)
        .and_then(|d| d.child(base::BODY))
        .expect("Body");
    assert_eq!(body.child_text(base::TYPE).as_deref(), Some("4"));
    let mime = body.child_text(base::DATA).unwrap();
    assert!(
        mime.starts_with("Return-Path") || mime.contains("Subject: Greetings\r\n"),
        "{mime}"
    );
}

#[test]
fn a_3000_message_folder_arrives_in_windows_with_every_item_exactly_once() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let mut expected = HashSet::new();
    for n in 0..3000 {
        expected.insert(file(&store, user, inbox, &format!("m{n}"), 1_700_000_000 + n).to_string());
    }
    let mut device = server.device(ALICE, "windows");
    let mut sync_key = first_key(&mut device, inbox);
    let mut seen = Vec::new();
    for round in 0.. {
        assert!(round < 40, "too many rounds");
        let answer = sync_one(
            &mut device,
            collection(&sync_key, inbox, |c| {
                c.push_text(airsync::WINDOW_SIZE, "100");
            }),
        );
        sync_key = key(&answer);
        let list = command_ids(&answer);
        assert!(list.len() <= 100);
        seen.extend(list.into_iter().map(|(_, id)| id));
        let tags: Vec<_> = answer.elements().map(|e| e.tag).collect();
        match tags.iter().position(|t| *t == airsync::MORE_AVAILABLE) {
            Some(more) => {
                let commands_at = tags.iter().position(|t| *t == airsync::COMMANDS).unwrap();
                assert!(more < commands_at, "MoreAvailable before Commands");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 3000, "every item once, none twice");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), expected);
}

#[test]
fn window_size_defaults_to_100_and_0_or_over_512_mean_512() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    for n in 0..600 {
        file(&store, user, inbox, &format!("w{n}"), 1_700_000_000 + n);
    }
    for (window, expected) in [
        (None, 100),
        (Some("0"), 512),
        (Some("1000"), 512),
        (Some("7"), 7),
    ] {
        let device_id = format!("window{}", window.unwrap_or("none"));
        let mut device = server.device(ALICE, &device_id);
        let sync_key = first_key(&mut device, inbox);
        let answer = sync_one(
            &mut device,
            collection(&sync_key, inbox, |c| {
                if let Some(size) = window {
                    c.push_text(airsync::WINDOW_SIZE, size);
                }
            }),
        );
        assert_eq!(
            command_ids(&answer).len(),
            expected,
            "WindowSize {window:?}"
        );
        assert!(answer.child(airsync::MORE_AVAILABLE).is_some());
    }
}

#[test]
fn request_window_size_is_shared_by_the_collections() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let sent = folder(&store, user, FolderType::SentItems);
    for n in 0..20 {
        file(&store, user, inbox, &format!("i{n}"), 1_700_000_000 + n);
        file(&store, user, sent, &format!("s{n}"), 1_700_000_000 + n);
    }
    let mut device = server.device(ALICE, "shared");
    let (ki, ks) = (first_key(&mut device, inbox), first_key(&mut device, sent));
    let mut doc = sync_doc(vec![
        collection(&ki, inbox, |_| {}),
        collection(&ks, sent, |_| {}),
    ]);
    doc.push_text(airsync::WINDOW_SIZE, "25");
    let response = sync(&mut device, &doc);
    let answers: Vec<&Element> = response
        .doc()
        .child(airsync::COLLECTIONS)
        .unwrap()
        .children_with(airsync::COLLECTION)
        .collect();
    assert_eq!(command_ids(answers[0]).len(), 20);
    assert_eq!(command_ids(answers[1]).len(), 5);
    assert!(answers[1].child(airsync::MORE_AVAILABLE).is_some());
}

#[test]
fn client_changes_deletes_fetches_and_adds_get_honest_statuses() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let trash = folder(&store, user, FolderType::DeletedItems);
    let calendar = folder(&store, user, FolderType::Calendar);
    let a = file(&store, user, inbox, "a", 1_700_000_000);
    let b = file(&store, user, inbox, "b", 1_700_000_001);
    let c = file(&store, user, inbox, "c", 1_700_000_002);
    let mut device = server.device(ALICE, "client");
    let k = first_key(&mut device, inbox);
    let answer = sync_one(&mut device, collection(&k, inbox, |_| {}));
    assert_eq!(command_ids(&answer).len(), 3);

    let answer = sync_one(
        &mut device,
        collection(&key(&answer), inbox, |col| {
            col.push_text(airsync::GET_CHANGES, "1");
            let list = col.push(Element::new(airsync::COMMANDS));
            let change = list.push(Element::new(airsync::CHANGE));
            change.push_text(airsync::SERVER_ID, a.to_string());
            let data = change.push(Element::new(airsync::APPLICATION_DATA));
            data.push_text(email::READ, "1");
            data.push(Element::new(email::FLAG))
                .push_text(email::STATUS, "2")
                .push_text(email::FLAG_TYPE, "Follow up");
            data.push(Element::new(email::CATEGORIES))
                .push_text(email::CATEGORY, "Red");
            list.push(Element::new(airsync::DELETE))
                .push_text(airsync::SERVER_ID, b.to_string());
            list.push(Element::new(airsync::CHANGE))
                .push_text(airsync::SERVER_ID, "999999")
                .push(Element::new(airsync::APPLICATION_DATA))
                .push_text(email::READ, "1");
            let add = list.push(Element::new(airsync::ADD));
            add.push_text(airsync::CLIENT_ID, "c-1");
            add.push(Element::new(airsync::APPLICATION_DATA))
                .push_text(email::SUBJECT, "draft");
            list.push(Element::new(airsync::FETCH))
                .push_text(airsync::SERVER_ID, c.to_string());
        }),
    );
    assert_eq!(status(&answer), "1");
    // The client's own changes are not echoed back.
    assert!(command_ids(&answer).is_empty(), "{answer:?}");
    let responses = answer.child(airsync::RESPONSES).expect("Responses");
    let bad_change = responses.child(airsync::CHANGE).expect("failed Change");
    assert_eq!(
        bad_change.child_text(airsync::SERVER_ID).as_deref(),
        Some("999999")
    );
    assert_eq!(status(bad_change), "8");
    let add = responses.child(airsync::ADD).expect("Add answer");
    assert_eq!(add.child_text(airsync::CLIENT_ID).as_deref(), Some("c-1"));
    assert_eq!(status(add), "6");
    assert!(add.child(airsync::SERVER_ID).is_none());
    let fetch = responses.child(airsync::FETCH).expect("Fetch answer");
    assert_eq!(status(fetch), "1");
    assert_eq!(
        fetch
            .child(airsync::APPLICATION_DATA)
            .and_then(|d| d.child_text(email::SUBJECT))
            .as_deref(),
        Some("c")
    );
    assert!(responses.child(airsync::DELETE).is_none());

    let stored = store.message(user, a).unwrap().unwrap();
    assert!(stored.read);
    assert_eq!(stored.categories, ["Red"]);
    assert_eq!(stored.flag.status.as_u8(), 2);
    // DeletesAsMoves defaults to true: b went to Deleted Items.
    assert!(store.item(user, b).unwrap().is_none());
    assert_eq!(store.items_in_window(user, trash, None).unwrap().len(), 1);

    // DeletesAsMoves 0 deletes outright; a second Delete of it is Status 8.
    let answer = sync_one(
        &mut device,
        collection(&key(&answer), inbox, |col| {
            col.push_text(airsync::DELETES_AS_MOVES, "0");
            col.push(Element::new(airsync::COMMANDS))
                .push(Element::new(airsync::DELETE))
                .push_text(airsync::SERVER_ID, c.to_string());
        }),
    );
    assert!(responses_of(&answer).is_empty());
    assert_eq!(store.items_in_window(user, trash, None).unwrap().len(), 1);
    assert!(store.item(user, c).unwrap().is_none());
    let answer = sync_one(
        &mut device,
        collection(&key(&answer), inbox, |col| {
            col.push(Element::new(airsync::COMMANDS))
                .push(Element::new(airsync::DELETE))
                .push_text(airsync::SERVER_ID, c.to_string());
        }),
    );
    assert_eq!(responses_of(&answer), [(airsync::DELETE, "8".to_string())]);

    // An event without a start time cannot be an event: an honest error, nothing stored.
    let kc = first_key(&mut device, calendar);
    let answer = sync_one(
        &mut device,
        collection(&kc, calendar, |col| {
            let add = col
                .push(Element::new(airsync::COMMANDS))
                .push(Element::new(airsync::ADD));
            add.push_text(airsync::CLIENT_ID, "x");
            add.push(Element::new(airsync::APPLICATION_DATA));
        }),
    );
    assert_eq!(responses_of(&answer), [(airsync::ADD, "6".to_string())]);
    assert!(store
        .items_in_window(user, calendar, None)
        .unwrap()
        .is_empty());
}

fn responses_of(c: &Element) -> Vec<(easd::wbxml::Tag, String)> {
    c.child(airsync::RESPONSES)
        .map(|r| r.elements().map(|e| (e.tag, status(e))).collect())
        .unwrap_or_default()
}

#[test]
fn server_changes_reach_the_client() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let a = file(&store, user, inbox, "a", 1_700_000_000);
    let b = file(&store, user, inbox, "b", 1_700_000_001);
    let mut device = server.device(ALICE, "server");
    let k = first_key(&mut device, inbox);
    let answer = sync_one(&mut device, collection(&k, inbox, |_| {}));
    let k = key(&answer);

    // Up to date: same key, no commands.
    let answer = sync_one(&mut device, collection(&k, inbox, |_| {}));
    assert_eq!(key(&answer), k);
    assert!(command_ids(&answer).is_empty());

    let change = easd::store::MessageChange {
        read: Some(true),
        ..Default::default()
    };
    store.change_message(user, a, &change).unwrap();
    store.delete_item(user, b).unwrap();
    let c = file(&store, user, inbox, "c", 1_700_000_002);
    let answer = sync_one(&mut device, collection(&k, inbox, |_| {}));
    assert_eq!(
        command_ids(&answer),
        [
            (airsync::CHANGE, a.to_string()),
            (airsync::DELETE, b.to_string()),
            (airsync::ADD, c.to_string())
        ]
    );
    let changed = answer
        .child(airsync::COMMANDS)
        .unwrap()
        .child(airsync::CHANGE)
        .unwrap();
    let data = changed.child(airsync::APPLICATION_DATA).unwrap();
    assert_eq!(data.child_text(email::READ).as_deref(), Some("1"));
    assert!(
        data.child(email::SUBJECT).is_none(),
        "a Change carries the state only"
    );
}

#[test]
fn the_filter_window_soft_deletes_and_adds_back() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let now = easd::store::now();
    let old = file(&store, user, inbox, "old", now - 10 * 86_400);
    let new = file(&store, user, inbox, "new", now - 3600);
    let mut device = server.device(ALICE, "filter");
    let k = first_key(&mut device, inbox);
    let with_filter = |key: &str, filter: &str| {
        let filter = filter.to_string();
        collection(key, inbox, move |c| {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::FILTER_TYPE, filter);
        })
    };
    let answer = sync_one(&mut device, with_filter(&k, "3"));
    assert_eq!(command_ids(&answer), [(airsync::ADD, new.to_string())]);
    let answer = sync_one(&mut device, with_filter(&key(&answer), "0"));
    assert_eq!(command_ids(&answer), [(airsync::ADD, old.to_string())]);
    let answer = sync_one(&mut device, with_filter(&key(&answer), "3"));
    assert_eq!(
        command_ids(&answer),
        [(airsync::SOFT_DELETE, old.to_string())]
    );
    // The options stay in force without being repeated.
    let answer = sync_one(&mut device, collection(&key(&answer), inbox, |_| {}));
    assert!(command_ids(&answer).is_empty());
    let answer = sync_one(&mut device, with_filter(&key(&answer), "0"));
    assert_eq!(command_ids(&answer), [(airsync::ADD, old.to_string())]);
}

#[test]
fn a_narrow_window_over_a_big_folder_still_fills_the_answer() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let now = easd::store::now();
    for n in 0..30 {
        file(
            &store,
            user,
            inbox,
            &format!("old{n}"),
            now - 30 * 86_400 + n,
        );
    }
    let recent: HashSet<String> = (0..5)
        .map(|n| file(&store, user, inbox, &format!("new{n}"), now - 60 + n).to_string())
        .collect();
    let mut device = server.device(ALICE, "narrow");
    let k = first_key(&mut device, inbox);
    let answer = sync_one(
        &mut device,
        collection(&k, inbox, |c| {
            c.push_text(airsync::WINDOW_SIZE, "5");
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::FILTER_TYPE, "1");
        }),
    );
    let ids: HashSet<String> = command_ids(&answer).into_iter().map(|(_, id)| id).collect();
    assert_eq!(ids, recent);
    assert!(answer.child(airsync::MORE_AVAILABLE).is_none());
}

#[test]
fn a_lost_answer_is_sent_again_with_a_fresh_key() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    for n in 0..3 {
        file(&store, user, inbox, &format!("m{n}"), 1_700_000_000 + n);
    }
    let mut device = server.device(ALICE, "retry");
    let k1 = first_key(&mut device, inbox);
    let first = sync_one(&mut device, collection(&k1, inbox, |_| {}));
    let mut keys = vec![key(&first)];
    for _ in 0..3 {
        let again = sync_one(&mut device, collection(&k1, inbox, |_| {}));
        assert_eq!(status(&again), "1");
        assert_eq!(command_ids(&again), command_ids(&first));
        assert!(!keys.contains(&key(&again)));
        keys.push(key(&again));
    }
    // Only the newest key and k1 are good now.
    let stale = sync_one(&mut device, collection(&keys[0], inbox, |_| {}));
    assert_eq!(status(&stale), "3");
    let last = sync_one(&mut device, collection(keys.last().unwrap(), inbox, |_| {}));
    assert_eq!(status(&last), "1");
    assert!(command_ids(&last).is_empty());
    assert_eq!(store.items_in_window(user, inbox, None).unwrap().len(), 3);

    // A repeated Delete (its answer was lost) is answered as the first one was.
    let current = keys.last().unwrap().clone();
    let victim = command_ids(&first)[0].1.clone();
    let delete = |key: &str| {
        let victim = victim.clone();
        collection(key, inbox, move |c| {
            c.push_text(airsync::DELETES_AS_MOVES, "0");
            c.push(Element::new(airsync::COMMANDS))
                .push(Element::new(airsync::DELETE))
                .push_text(airsync::SERVER_ID, victim);
        })
    };
    let once = sync_one(&mut device, delete(&current));
    let twice = sync_one(&mut device, delete(&current));
    for answer in [&once, &twice] {
        assert_eq!(status(answer), "1");
        assert!(answer.child(airsync::RESPONSES).is_none(), "{answer:?}");
        assert!(command_ids(answer).is_empty(), "{answer:?}");
    }
    assert_ne!(key(&once), key(&twice));
    assert_eq!(store.items_in_window(user, inbox, None).unwrap().len(), 2);
}

#[test]
fn status_codes_and_empty_and_partial_requests() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let sent = folder(&store, user, FolderType::SentItems);
    let mut device = server.device(ALICE, "status");
    let top = |response: &common::EasResponse| response.doc().child_text(airsync::STATUS);

    // An empty request with nothing cached: 13.
    let response = device.command("Sync", None);
    assert_eq!(response.status(), 200);
    assert_eq!(top(&response).as_deref(), Some("13"));
    // A Partial one with nothing cached is just its own collections.
    let mut doc = sync_doc(vec![collection("0", inbox, |_| {})]);
    doc.push_empty(airsync::PARTIAL);
    let response = sync(&mut device, &doc);
    let answer = response.doc().child(airsync::COLLECTIONS).unwrap();
    assert_eq!(answer.elements().count(), 1);
    // A collection without a SyncKey: 4.
    let mut bad = Element::new(airsync::COLLECTION);
    bad.push_text(airsync::COLLECTION_ID, inbox.to_string());
    assert_eq!(
        top(&sync(&mut device, &sync_doc(vec![bad]))).as_deref(),
        Some("4")
    );
    // Too many collections: 15.
    let many = (0..101).map(|_| collection("0", inbox, |_| {})).collect();
    assert_eq!(
        top(&sync(&mut device, &sync_doc(many))).as_deref(),
        Some("15")
    );
    // An unknown key: 3. A folder that is not there: 12.
    assert_eq!(
        status(&sync_one(&mut device, collection("nope-1", inbox, |_| {}))),
        "3"
    );
    assert_eq!(
        status(&sync_one(&mut device, collection("0", 999_999, |_| {}))),
        "12"
    );

    let ki = first_key(&mut device, inbox);
    let ks = first_key(&mut device, sent);
    let response = sync(
        &mut device,
        &sync_doc(vec![
            collection(&ki, inbox, |_| {}),
            collection(&ks, sent, |_| {}),
        ]),
    );
    assert_eq!(
        response
            .doc()
            .child(airsync::COLLECTIONS)
            .unwrap()
            .elements()
            .count(),
        2
    );
    // Nothing changed: an empty request gets an empty answer.
    let response = device.command("Sync", None);
    assert_eq!(response.status(), 200);
    assert!(response.http.body.is_empty());
    // New mail: the empty request is answered as the cached one.
    let m = file(&store, user, sent, "new", 1_700_000_000);
    let response = device.command("Sync", None);
    let answers: Vec<Element> = response
        .doc()
        .child(airsync::COLLECTIONS)
        .unwrap()
        .elements()
        .cloned()
        .collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(command_ids(&answers[1]), [(airsync::ADD, m.to_string())]);
    // Partial: only the inbox is named; the sent folder keeps its key and is synced too.
    let n = file(&store, user, sent, "newer", 1_700_000_001);
    let mut doc = sync_doc(vec![collection(&key(&answers[0]), inbox, |_| {})]);
    doc.push_empty(airsync::PARTIAL);
    let response = sync(&mut device, &doc);
    let answers: Vec<Element> = response
        .doc()
        .child(airsync::COLLECTIONS)
        .unwrap()
        .elements()
        .cloned()
        .collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(command_ids(&answers[1]), [(airsync::ADD, n.to_string())]);
}

#[test]
fn protocol_2_5_gets_the_old_body_elements() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    file(&store, user, inbox, "old", 1_700_000_000);
    let mut device = server.device(ALICE, "old");
    device.version = "2.5".to_string();
    let k = first_key(&mut device, inbox);
    let answer = sync_one(&mut device, collection(&k, inbox, |_| {}));
    assert_eq!(answer.child_text(airsync::CLASS).as_deref(), Some("Email"));
    let data = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .and_then(|a| a.child(airsync::APPLICATION_DATA))
        .expect("ApplicationData");
    assert!(data.child_text(email::BODY).unwrap().contains("hello"));
    assert!(data.child(base::BODY).is_none());
    assert!(data.child(email2::CONVERSATION_ID).is_none());
}

#[test]
fn mime_that_is_not_utf8_is_sent_unchanged_and_decodes_with_libwbxml() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let mut raw = b"From: b@example.com\r\nSubject: latin\r\n\
        Content-Type: text/plain; charset=iso-8859-1\r\n\
        Content-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe\r\n"
        .to_vec();
    raw.extend_from_slice(b"\r\n");
    let id = store
        .add_message(user, inbox, &NewMessage::new(&raw))
        .unwrap()
        .item_id();
    let mut device = server.device(ALICE, "latin");
    let k = first_key(&mut device, inbox);
    let answer = sync_one(
        &mut device,
        collection(&k, inbox, |c| {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::MIME_SUPPORT, "2")
                .push(Element::new(base::BODY_PREFERENCE))
                .push_text(base::TYPE, "4");
        }),
    );
    let add = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .expect("Add");
    assert_eq!(add.child_text(airsync::SERVER_ID), Some(id.to_string()));
    let body = add
        .child(airsync::APPLICATION_DATA)
        .and_then(|d| d.child(base::BODY))
        .expect("Body");
    assert_eq!(body.child(base::DATA).and_then(|d| d.bytes()), Some(raw));
}

#[test]
fn html_bodies_all_or_none_and_attachments() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let raw = b"From: b@example.com\r\nTo: alice@example.com\r\nSubject: rich\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n\
        --XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>there</b></p>\r\n\
        --XX\r\nContent-Type: application/pdf\r\n\
        Content-Disposition: attachment; filename=report.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n";
    let id = store
        .add_message(user, inbox, &NewMessage::new(raw))
        .unwrap()
        .item_id();
    let mut device = server.device(ALICE, "rich");
    let k = first_key(&mut device, inbox);
    let with_preference = |key: &str, truncation: &str, all_or_none: &str| {
        let (truncation, all_or_none) = (truncation.to_string(), all_or_none.to_string());
        collection(key, inbox, move |c| {
            c.push(Element::new(airsync::OPTIONS))
                .push(Element::new(base::BODY_PREFERENCE))
                .push_text(base::TYPE, "2")
                .push_text(base::TRUNCATION_SIZE, truncation)
                .push_text(base::ALL_OR_NONE, all_or_none);
        })
    };
    let fetch = |c: &mut Element| {
        c.push(Element::new(airsync::COMMANDS))
            .push(Element::new(airsync::FETCH))
            .push_text(airsync::SERVER_ID, id.to_string());
    };
    let answer = sync_one(&mut device, with_preference(&k, "5000", "1"));
    let data = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .and_then(|a| a.child(airsync::APPLICATION_DATA))
        .expect("ApplicationData")
        .clone();
    let body = data.child(base::BODY).unwrap();
    assert_eq!(body.child_text(base::TYPE).as_deref(), Some("2"));
    assert!(body
        .child_text(base::DATA)
        .unwrap()
        .contains("<b>there</b>"));
    assert!(body.child(base::TRUNCATED).is_none());
    assert_eq!(
        data.child_text(base::NATIVE_BODY_TYPE).as_deref(),
        Some("2")
    );
    let attachment = data
        .child(base::ATTACHMENTS)
        .and_then(|a| a.child(base::ATTACHMENT))
        .expect("Attachment");
    assert_eq!(
        attachment.child_text(base::DISPLAY_NAME).as_deref(),
        Some("report.pdf")
    );
    assert_eq!(
        attachment.child_text(base::FILE_REFERENCE),
        Some(format!("{id}:0"))
    );
    assert_eq!(
        attachment.child_text(base::ESTIMATED_DATA_SIZE).as_deref(),
        Some("9")
    );

    // AllOrNone with a body larger than TruncationSize: no Data, marked truncated.
    let mut request = with_preference(&key(&answer), "5", "1");
    fetch(&mut request);
    let answer = sync_one(&mut device, request);
    let body = answer
        .child(airsync::RESPONSES)
        .and_then(|r| r.child(airsync::FETCH))
        .and_then(|f| f.child(airsync::APPLICATION_DATA))
        .and_then(|d| d.child(base::BODY))
        .expect("Body")
        .clone();
    assert_eq!(body.child_text(base::TRUNCATED).as_deref(), Some("1"));
    assert!(body.child(base::DATA).is_none());
}

/// A message whose MIME structure is broken (a multipart without its boundaries, a part
/// header cut off) is still filed and still reaches the phone, with what could be read.
#[test]
fn a_message_with_broken_mime_still_syncs() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let broken = b"From: Carol <carol@example.net>\r\nTo: alice@example.com\r\n\
Subject: Broken but readable\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"never-used\"\r\n\r\n\
The sender's mailer forgot every boundary.\r\n--never-use\r\nContent-Type: text/pl";
    server.deliver(ALICE, broken);
    let mut device = server.device(ALICE, "broken");
    let sync_key = first_key(&mut device, inbox);
    let answer = sync_one(
        &mut device,
        collection(&sync_key, inbox, |c| {
            c.push(Element::new(airsync::OPTIONS))
                .push(Element::new(base::BODY_PREFERENCE))
                .push_text(base::TYPE, "1");
        }),
    );
    assert_eq!(status(&answer), "1");
    let add = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .expect("the broken message is sent");
    let data = add
        .child(airsync::APPLICATION_DATA)
        .expect("ApplicationData");
    assert_eq!(
        data.child_text(email::SUBJECT).as_deref(),
        Some("Broken but readable")
    );
    assert!(data.child(base::BODY).is_some(), "{data:?}");
}

/// Conflict resolution: the phone changes a message that another device changed after the
/// phone's sync key. By default (Conflict absent or 1) the server's version wins: the
/// phone's Change answers Status 7 and the phone gets the server's version. With Conflict 0
/// the phone's change wins.
#[test]
fn the_server_wins_a_conflict_unless_the_client_asks_to_win() {
    let (server, store, user) = start();
    let inbox = folder(&store, user, FolderType::Inbox);
    let item = file(&store, user, inbox, "contested", 1_700_000_000).to_string();
    let mut phone = server.device(ALICE, "phone");
    let mut tablet = server.device(ALICE, "tablet");
    let mut phone_key = first_key(&mut phone, inbox);
    phone_key = key(&sync_one(&mut phone, collection(&phone_key, inbox, |_| {})));
    let mut tablet_key = first_key(&mut tablet, inbox);
    tablet_key = key(&sync_one(
        &mut tablet,
        collection(&tablet_key, inbox, |_| {}),
    ));
    let read_change = |key: &str, read: &str, conflict: Option<&str>| {
        let (item, read, conflict) = (item.clone(), read.to_string(), conflict.map(str::to_string));
        collection(key, inbox, move |c| {
            if let Some(conflict) = conflict {
                c.push(Element::new(airsync::OPTIONS))
                    .push_text(airsync::CONFLICT, conflict);
            }
            c.push(Element::new(airsync::COMMANDS))
                .push(Element::new(airsync::CHANGE))
                .push_text(airsync::SERVER_ID, item)
                .push(Element::new(airsync::APPLICATION_DATA))
                .push_text(email::READ, read);
        })
    };
    let is_read = || {
        let conn = rusqlite::Connection::open(&server.db).unwrap();
        conn.query_row(
            "SELECT read FROM messages WHERE subject = 'contested'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };

    // The tablet reads it; the phone, not yet aware, marks it unread: the server wins.
    let answer = sync_one(&mut tablet, read_change(&tablet_key, "1", None));
    tablet_key = key(&answer);
    let answer = sync_one(&mut phone, read_change(&phone_key, "0", None));
    assert_eq!(responses_of(&answer), [(airsync::CHANGE, "7".to_string())]);
    assert_eq!(command_ids(&answer), [(airsync::CHANGE, item.clone())]);
    phone_key = key(&answer);
    assert_eq!(is_read(), 1);

    // Once it has the server's version, the phone's next change applies.
    let answer = sync_one(&mut phone, read_change(&phone_key, "0", None));
    assert!(responses_of(&answer).is_empty(), "{answer:?}");
    phone_key = key(&answer);
    assert_eq!(is_read(), 0);

    // The tablet reads it again; the phone asks to win conflicts (Conflict 0): it does.
    let answer = sync_one(&mut tablet, read_change(&tablet_key, "1", None));
    assert_eq!(status(&answer), "1");
    let answer = sync_one(&mut phone, read_change(&phone_key, "0", Some("0")));
    assert!(responses_of(&answer).is_empty(), "{answer:?}");
    assert_eq!(is_read(), 0);
}
