//! Drafts (16.x) over real HTTP and WBXML against `easd serve`: a draft added on one device
//! (body and attachment) reaches another, a retried Add makes no duplicate, an edit (subject,
//! attachment deleted) follows, sending a draft (email2:Send) goes through the submission
//! command without Bcc and moves it to Sent Items, a failed send keeps it, and Adds outside
//! Drafts or below 16.0 are refused.

mod common;

use base64::Engine;
use common::{collection, folder, sync_one, SendmailRecorder, TestDevice, TestServer};
use easd::store::{FolderId, FolderType, Store, UserId};
use easd::wbxml::tag::{airsync, airsyncbase as base, email, email2, item_operations as io};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

struct Setup {
    server: TestServer,
    store: Store,
    user: UserId,
    recorder: SendmailRecorder,
}

fn start() -> Setup {
    let recorder = SendmailRecorder::new();
    let server = TestServer::start_with(&recorder.config());
    server.add_user(ALICE);
    server.add_user(BOB);
    let store = Store::open(&server.db).unwrap();
    let user = store.user_by_email(ALICE).unwrap().unwrap().id;
    Setup {
        server,
        store,
        user,
        recorder,
    }
}

fn items(store: &Store, user: UserId, folder: FolderId) -> Vec<i64> {
    store
        .items_in_window(user, folder, None)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}

/// Sends one collection (checking libwbxml reads the answer) and returns its answer.
fn sync(
    device: &mut TestDevice,
    key: &str,
    id: FolderId,
    fill: impl FnOnce(&mut Element),
) -> Element {
    sync_one(device, collection(key, id, fill))
}

fn key(c: &Element) -> String {
    c.child_text(airsync::SYNC_KEY).expect("SyncKey")
}

/// The first key of a collection, asking for plain-text bodies.
fn first_key(device: &mut TestDevice, id: FolderId) -> String {
    let answer = sync(device, "0", id, |c| {
        c.push(Element::new(airsync::OPTIONS))
            .push(Element::new(base::BODY_PREFERENCE))
            .push_text(base::TYPE, "1");
    });
    assert_eq!(answer.child_text(airsync::STATUS).as_deref(), Some("1"));
    key(&answer)
}

/// ApplicationData of a draft to Bob with a text attachment.
fn draft_data(subject: &str, attachment: &[u8]) -> Element {
    let mut data = Element::new(airsync::APPLICATION_DATA);
    data.push_text(email::TO, "Bob <bob@remote.example>")
        .push_text(email::SUBJECT, subject)
        .push_text(email::IMPORTANCE, "2");
    data.push(Element::new(base::BODY))
        .push_text(base::TYPE, "1")
        .push_text(base::DATA, "Draft text");
    data.push(Element::new(base::ATTACHMENTS))
        .push(Element::new(base::ADD))
        .push_text(base::CLIENT_ID, "att-1")
        .push_text(base::DISPLAY_NAME, "notes.bin")
        .push_text(base::METHOD, "1")
        .push_text(base::CONTENT_TYPE, "application/octet-stream")
        .push_opaque(base::CONTENT, attachment.to_vec());
    data
}

/// A Commands element holding one Add.
fn add_command(client_id: &str, data: Element, send: bool) -> Element {
    let mut commands = Element::new(airsync::COMMANDS);
    let add = commands.push(Element::new(airsync::ADD));
    add.push_text(airsync::CLIENT_ID, client_id);
    if send {
        add.push_empty(email2::SEND);
    }
    add.push(data);
    commands
}

/// The Responses/Add of a collection answer.
fn add_response(answer: &Element) -> Element {
    answer
        .child(airsync::RESPONSES)
        .and_then(|r| r.child(airsync::ADD))
        .cloned()
        .unwrap_or_else(|| panic!("Responses/Add in {answer:?}"))
}

fn fetch_attachment(device: &mut TestDevice, reference: &str) -> Vec<u8> {
    let mut doc = Element::new(io::ITEM_OPERATIONS);
    doc.push(Element::new(io::FETCH))
        .push_text(io::STORE, "Mailbox")
        .push_text(base::FILE_REFERENCE, reference);
    let response = device.command("ItemOperations", Some(&doc));
    assert_eq!(response.status(), 200);
    let text = response
        .doc()
        .child(io::RESPONSE)
        .and_then(|r| r.child(io::FETCH))
        .and_then(|f| f.child(io::PROPERTIES))
        .and_then(|p| p.child_text(io::DATA))
        .expect("Data");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[test]
fn a_draft_reaches_the_other_device_once_and_its_edits_follow() {
    let setup = start();
    let (store, user) = (&setup.store, setup.user);
    let drafts = folder(store, user, FolderType::Drafts);
    let attachment: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut phone = setup.server.device(ALICE, "phone");
    let k1 = first_key(&mut phone, drafts);

    let add = add_command("draft-1", draft_data("Plan", &attachment), false);
    let answer = sync(&mut phone, &k1, drafts, |c| {
        c.push(add.clone());
    });
    let response = add_response(&answer);
    assert_eq!(response.child_text(airsync::STATUS).as_deref(), Some("1"));
    assert_eq!(
        response.child_text(airsync::CLIENT_ID).as_deref(),
        Some("draft-1")
    );
    let server_id = response.child_text(airsync::SERVER_ID).expect("ServerId");
    let attachment_answer = response
        .child(airsync::APPLICATION_DATA)
        .and_then(|d| d.child(base::ATTACHMENTS))
        .and_then(|a| a.child(base::ATTACHMENT))
        .expect("the attachment's FileReference");
    assert_eq!(
        attachment_answer.child_text(base::CLIENT_ID).as_deref(),
        Some("att-1")
    );
    let reference = attachment_answer
        .child_text(base::FILE_REFERENCE)
        .expect("FileReference");
    assert_eq!(
        items(store, user, drafts),
        [server_id.parse::<i64>().unwrap()]
    );

    // The answer was lost: the same request (same key, same ClientId) again.
    let again = sync(&mut phone, &k1, drafts, |c| {
        c.push(add.clone());
    });
    let replayed = add_response(&again);
    assert_eq!(replayed.child_text(airsync::STATUS).as_deref(), Some("1"));
    assert_eq!(
        replayed.child_text(airsync::SERVER_ID),
        Some(server_id.clone())
    );
    assert_eq!(items(store, user, drafts).len(), 1);
    let phone_key = key(&again);

    // The tablet gets the draft with its fields, body and attachment.
    let mut tablet = setup.server.device(ALICE, "tablet");
    let t1 = first_key(&mut tablet, drafts);
    let answer = sync(&mut tablet, &t1, drafts, |_| {});
    let added = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .expect("the draft");
    assert_eq!(
        added.child_text(airsync::SERVER_ID),
        Some(server_id.clone())
    );
    let data = added.child(airsync::APPLICATION_DATA).unwrap();
    assert_eq!(data.child_text(email::SUBJECT).as_deref(), Some("Plan"));
    assert!(data
        .child_text(email::TO)
        .unwrap()
        .contains("bob@remote.example"));
    assert!(data.child_text(email::FROM).unwrap().contains(ALICE));
    assert_eq!(data.child_text(email::IMPORTANCE).as_deref(), Some("2"));
    assert_eq!(data.child_text(email2::IS_DRAFT).as_deref(), Some("1"));
    let body = data.child(base::BODY).unwrap();
    assert_eq!(body.child_text(base::DATA).unwrap().trim(), "Draft text");
    let listed = data
        .child(base::ATTACHMENTS)
        .and_then(|a| a.child(base::ATTACHMENT))
        .expect("the attachment");
    assert_eq!(
        listed.child_text(base::DISPLAY_NAME).as_deref(),
        Some("notes.bin")
    );
    assert_eq!(
        listed.child_text(base::FILE_REFERENCE),
        Some(reference.clone())
    );
    assert_eq!(fetch_attachment(&mut tablet, &reference), attachment);
    let tablet_key = key(&answer);

    // The phone renames the draft and deletes the attachment.
    let answer = sync(&mut phone, &phone_key, drafts, |c| {
        let change = c
            .push(Element::new(airsync::COMMANDS))
            .push(Element::new(airsync::CHANGE));
        change.push_text(airsync::SERVER_ID, server_id.clone());
        let data = change.push(Element::new(airsync::APPLICATION_DATA));
        data.push_text(email::SUBJECT, "Plan B");
        data.push(Element::new(base::ATTACHMENTS))
            .push(Element::new(base::DELETE))
            .push_text(base::FILE_REFERENCE, reference.clone());
    });
    // A Change that succeeds and adds no attachment needs no answer.
    assert!(answer.child(airsync::RESPONSES).is_none(), "{answer:?}");
    assert!(answer.child(airsync::COMMANDS).is_none(), "{answer:?}");
    assert_eq!(
        items(store, user, drafts),
        [server_id.parse::<i64>().unwrap()]
    );

    // Another Change adds an attachment: its FileReference comes back in Responses.
    let answer = sync(&mut phone, &key(&answer), drafts, |c| {
        let change = c
            .push(Element::new(airsync::COMMANDS))
            .push(Element::new(airsync::CHANGE));
        change.push_text(airsync::SERVER_ID, server_id.clone());
        change
            .push(Element::new(airsync::APPLICATION_DATA))
            .push(Element::new(base::ATTACHMENTS))
            .push(Element::new(base::ADD))
            .push_text(base::CLIENT_ID, "att-2")
            .push_text(base::DISPLAY_NAME, "second.txt")
            .push_text(base::METHOD, "1")
            .push_opaque(base::CONTENT, b"second".to_vec());
    });
    let changed = answer
        .child(airsync::RESPONSES)
        .and_then(|r| r.child(airsync::CHANGE))
        .expect("Responses/Change");
    assert_eq!(changed.child_text(airsync::STATUS).as_deref(), Some("1"));
    let second = changed
        .child(airsync::APPLICATION_DATA)
        .and_then(|d| d.child(base::ATTACHMENTS))
        .and_then(|a| a.child(base::ATTACHMENT))
        .expect("the new attachment");
    assert_eq!(second.child_text(base::CLIENT_ID).as_deref(), Some("att-2"));
    let second_reference = second.child_text(base::FILE_REFERENCE).unwrap();
    assert_eq!(fetch_attachment(&mut phone, &second_reference), b"second");

    let answer = sync(&mut tablet, &tablet_key, drafts, |_| {});
    let changed = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::CHANGE))
        .expect("the edit");
    assert_eq!(
        changed.child_text(airsync::SERVER_ID),
        Some(server_id.clone())
    );
    let data = changed.child(airsync::APPLICATION_DATA).unwrap();
    assert_eq!(data.child_text(email::SUBJECT).as_deref(), Some("Plan B"));
    // The first attachment is gone, the second is there.
    let names: Vec<String> = data
        .child(base::ATTACHMENTS)
        .map(|a| {
            a.children_with(base::ATTACHMENT)
                .filter_map(|e| e.child_text(base::DISPLAY_NAME))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["second.txt"]);
    assert_eq!(
        data.child(base::BODY)
            .and_then(|b| b.child_text(base::DATA))
            .unwrap()
            .trim(),
        "Draft text"
    );
    // Nothing was sent.
    assert_eq!(setup.recorder.count(), 0);
}

#[test]
fn sending_a_draft_submits_it_without_bcc_and_moves_it_to_sent_items() {
    let setup = start();
    let (store, user) = (&setup.store, setup.user);
    let drafts = folder(store, user, FolderType::Drafts);
    let sent_items = folder(store, user, FolderType::SentItems);
    let bob = store.user_by_email(BOB).unwrap().unwrap().id;
    let bob_inbox = folder(store, bob, FolderType::Inbox);
    let mut phone = setup.server.device(ALICE, "phone");
    let k = first_key(&mut phone, drafts);

    let mut data = draft_data("Lunch", b"menu");
    data.push_text(email::CC, BOB)
        .push_text(email2::BCC, "hidden@remote.example");
    let answer = sync(&mut phone, &k, drafts, |c| {
        c.push(add_command("d-1", data, false));
    });
    let draft = add_response(&answer)
        .child_text(airsync::SERVER_ID)
        .unwrap();

    // Send it with a Change carrying email2:Send.
    let answer = sync(&mut phone, &key(&answer), drafts, |c| {
        let change = c
            .push(Element::new(airsync::COMMANDS))
            .push(Element::new(airsync::CHANGE));
        change.push_text(airsync::SERVER_ID, draft.clone());
        change.push_empty(email2::SEND);
        change.push(Element::new(airsync::APPLICATION_DATA));
    });
    assert!(answer.child(airsync::RESPONSES).is_none(), "{answer:?}");
    assert_eq!(setup.recorder.count(), 1);
    let args = setup.recorder.args(0);
    assert_eq!(
        args,
        [
            "-i",
            "-f",
            ALICE,
            "--",
            "bob@remote.example",
            "hidden@remote.example"
        ]
    );
    let sent = setup.recorder.sent_text(0);
    assert!(sent.contains("Subject: Lunch"), "{sent}");
    assert!(sent.contains(&format!("From: {ALICE}")) || sent.contains(&format!("<{ALICE}>")));
    assert!(!sent.contains("hidden@remote.example"), "{sent}");
    assert!(!sent.to_ascii_lowercase().contains("\nbcc:"), "{sent}");
    // The local Cc got it directly.
    assert_eq!(items(store, bob, bob_inbox).len(), 1);
    // It left Drafts; Sent Items has it, Bcc kept.
    assert!(items(store, user, drafts).is_empty());
    let copies = items(store, user, sent_items);
    assert_eq!(copies.len(), 1);
    let copy = store.message(user, copies[0]).unwrap().unwrap();
    assert_eq!(copy.subject, "Lunch");
    assert!(copy.read);
    // The phone hears in the same answer that the draft left Drafts.
    let commands = answer.child(airsync::COMMANDS).expect("a Delete");
    assert_eq!(
        commands
            .child(airsync::DELETE)
            .and_then(|d| d.child_text(airsync::SERVER_ID)),
        Some(draft.clone())
    );

    // An Add that sends at once: the answer carries the ServerId and drops it again.
    let before = key(&answer);
    let answer = sync(&mut phone, &before, drafts, |c| {
        c.push(add_command("d-2", draft_data("Now", b"x"), true));
    });
    let response = add_response(&answer);
    assert_eq!(response.child_text(airsync::STATUS).as_deref(), Some("1"));
    let id = response.child_text(airsync::SERVER_ID).unwrap();
    let deleted = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::DELETE))
        .and_then(|d| d.child_text(airsync::SERVER_ID));
    assert_eq!(deleted, Some(id.clone()));
    assert_eq!(setup.recorder.count(), 2);
    assert!(items(store, user, drafts).is_empty());
    assert_eq!(items(store, user, sent_items).len(), 2);

    // Its answer was lost: the same request again is not a second message.
    let answer = sync(&mut phone, &before, drafts, |c| {
        c.push(add_command("d-2", draft_data("Now", b"x"), true));
    });
    let replayed = add_response(&answer);
    assert_eq!(replayed.child_text(airsync::STATUS).as_deref(), Some("1"));
    assert_eq!(replayed.child_text(airsync::SERVER_ID), Some(id.clone()));
    assert_eq!(setup.recorder.count(), 2);
    assert_eq!(items(store, user, sent_items).len(), 2);
    let sent_key = key(&answer);

    // The MTA refuses: the item fails and the draft stays.
    setup.recorder.set_failing(true);
    let answer = sync(&mut phone, &sent_key, drafts, |c| {
        c.push(add_command("d-3", draft_data("Later", b"y"), true));
    });
    let response = add_response(&answer);
    assert_eq!(response.child_text(airsync::STATUS).as_deref(), Some("5"));
    let kept = response.child_text(airsync::SERVER_ID).unwrap();
    assert_eq!(items(store, user, drafts), [kept.parse::<i64>().unwrap()]);
    assert_eq!(items(store, user, sent_items).len(), 2);
    assert_eq!(setup.recorder.count(), 2);
}

#[test]
fn drafts_need_protocol_16_and_the_drafts_folder() {
    let setup = start();
    let (store, user) = (&setup.store, setup.user);
    let drafts = folder(store, user, FolderType::Drafts);
    let inbox = folder(store, user, FolderType::Inbox);

    let mut old = setup.server.device(ALICE, "old");
    old.version = "14.1".to_string();
    let k = first_key(&mut old, drafts);
    let answer = sync(&mut old, &k, drafts, |c| {
        c.push(add_command("d-1", draft_data("Old", b"x"), false));
    });
    let response = add_response(&answer);
    assert_eq!(response.child_text(airsync::STATUS).as_deref(), Some("6"));
    assert!(response.child(airsync::SERVER_ID).is_none());
    assert!(items(store, user, drafts).is_empty());

    let mut phone = setup.server.device(ALICE, "phone");
    let k = first_key(&mut phone, inbox);
    let answer = sync(&mut phone, &k, inbox, |c| {
        c.push(add_command("d-1", draft_data("Inbox", b"x"), true));
    });
    let response = add_response(&answer);
    assert_eq!(response.child_text(airsync::STATUS).as_deref(), Some("6"));
    assert!(items(store, user, inbox).is_empty());
    assert_eq!(setup.recorder.count(), 0);
}

/// The reference guide's SmartSync recovery with client Adds: the answer to a Sync that
/// carried an Add is lost three times in a row; each time the phone sends the same request
/// with its previous SyncKey. Every answer names the same ServerId, and the folder ends with
/// one message.
#[test]
fn an_add_resent_three_times_with_the_previous_key_creates_one_message() {
    let Setup {
        server,
        store,
        user,
        recorder: _recorder,
    } = start();
    let drafts = folder(&store, user, FolderType::Drafts);
    let mut phone = server.device(ALICE, "resender");
    phone.version = "16.1".to_string();
    let previous = first_key(&mut phone, drafts);
    let mut server_ids = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for _ in 0..4 {
        let answer = sync(&mut phone, &previous, drafts, |c| {
            c.push(add_command("resent-1", draft_data("Resent", b"abc"), false));
        });
        assert_eq!(answer.child_text(airsync::STATUS).as_deref(), Some("1"));
        let added = add_response(&answer);
        assert_eq!(added.child_text(airsync::STATUS).as_deref(), Some("1"));
        server_ids.insert(added.child_text(airsync::SERVER_ID).expect("ServerId"));
        keys.insert(key(&answer));
    }
    assert_eq!(server_ids.len(), 1, "{server_ids:?}");
    assert_eq!(keys.len(), 4, "each answer has a fresh key");
    assert_eq!(items(&store, user, drafts).len(), 1);
}
