//! ItemOperations and GetAttachment over real HTTP and WBXML against `easd serve`: Fetch of
//! a message (with body preferences and Schema) and of an attachment (whole, by Range, and
//! as a multipart answer), EmptyFolderContents, Move of a conversation, GetAttachment of
//! protocol 12.x, and that nobody reaches another user's mail.

mod common;

use base64::Engine;
use common::{
    attachment_bytes, basic_auth, message_with_attachment, HttpResponse, TestDevice, TestServer,
};
use easd::store::{FolderId, FolderType, ItemId, Store, UserId};
use easd::wbxml::tag::{airsync, airsyncbase as base, email, item_operations as io, search};
use easd::wbxml::{self, Element};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

fn start() -> (TestServer, Store, UserId) {
    let server = TestServer::start();
    server.add_user(ALICE);
    server.add_user(BOB);
    let (store, user) = server.store_and_user(ALICE);
    (server, store, user)
}

fn inbox(store: &Store, user: UserId) -> FolderId {
    common::folder(store, user, FolderType::Inbox)
}

fn plain_message(subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: {subject}\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\
         {extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

const FROM_BOB: &str = "Bob <bob@example.com>";
const TO_ALICE: &str = "Alice <alice@example.com>";

/// Syncs the folder from key 0 and returns each Add's ApplicationData with its ServerId.
fn sync_adds(device: &mut TestDevice, folder: FolderId) -> Vec<(String, Element)> {
    let collection = |key: &str, options: bool| {
        let mut doc = Element::new(airsync::SYNC);
        let c = doc
            .push(Element::new(airsync::COLLECTIONS))
            .push(Element::new(airsync::COLLECTION));
        c.push_text(airsync::SYNC_KEY, key)
            .push_text(airsync::COLLECTION_ID, folder.to_string());
        if options {
            c.push(Element::new(airsync::OPTIONS))
                .push(Element::new(base::BODY_PREFERENCE))
                .push_text(base::TYPE, "1");
        }
        doc
    };
    let first = device.command("Sync", Some(&collection("0", false)));
    let key = first
        .doc()
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .and_then(|c| c.child_text(airsync::SYNC_KEY))
        .expect("a SyncKey");
    let answer = device.command("Sync", Some(&collection(&key, true)));
    let c = answer
        .doc()
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .cloned()
        .expect("a collection");
    c.child(airsync::COMMANDS)
        .map(|list| {
            list.children_with(airsync::ADD)
                .map(|add| {
                    (
                        add.child_text(airsync::SERVER_ID).unwrap(),
                        add.child(airsync::APPLICATION_DATA).unwrap().clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn file_reference(data: &Element) -> String {
    data.child(base::ATTACHMENTS)
        .and_then(|a| a.child(base::ATTACHMENT))
        .and_then(|a| a.child_text(base::FILE_REFERENCE))
        .expect("a FileReference")
}

/// An ItemOperations document with these operations.
fn operations(list: Vec<Element>) -> Element {
    let mut doc = Element::new(io::ITEM_OPERATIONS);
    for operation in list {
        doc.push(operation);
    }
    doc
}

fn fetch_attachment(reference: &str, range: Option<&str>) -> Element {
    let mut fetch = Element::new(io::FETCH);
    fetch
        .push_text(io::STORE, "Mailbox")
        .push_text(base::FILE_REFERENCE, reference);
    if let Some(range) = range {
        fetch
            .push(Element::new(io::OPTIONS))
            .push_text(io::RANGE, range);
    }
    fetch
}

/// Sends ItemOperations and returns the Response's children (checking the global Status
/// and that libwbxml reads the answer).
fn item_operations(device: &mut TestDevice, doc: &Element) -> Vec<Element> {
    let response = device.command("ItemOperations", Some(doc));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "ItemOperations");
    let doc = response.doc();
    assert_eq!(doc.child_text(io::STATUS).as_deref(), Some("1"), "{doc:?}");
    doc.child(io::RESPONSE)
        .map(|r| r.elements().cloned().collect())
        .unwrap_or_default()
}

fn status(e: &Element) -> String {
    e.child_text(io::STATUS).unwrap_or_default()
}

/// A POST with the device's credentials but no WBXML decoding of the answer.
fn raw_post(
    device: &mut TestDevice,
    query: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let auth = basic_auth(&device.login, &device.password);
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("MS-ASProtocolVersion", device.version.as_str()),
        ("Content-Type", "application/vnd.ms-sync.wbxml"),
    ];
    headers.extend_from_slice(extra);
    let target = format!("/Microsoft-Server-ActiveSync?{query}");
    device.http.request("POST", &target, &headers, body)
}

#[test]
fn fetch_by_server_id_uses_body_preferences_and_schema() {
    let (server, store, user) = start();
    let inbox = inbox(&store, user);
    server.deliver(
        ALICE,
        &plain_message("Greetings", "", "Hello Alice, this is the body."),
    );
    let mut device = server.device(ALICE, "fetcher");
    let adds = sync_adds(&mut device, inbox);
    let server_id = adds[0].0.clone();

    let mut fetch = Element::new(io::FETCH);
    fetch
        .push_text(io::STORE, "Mailbox")
        .push_text(airsync::COLLECTION_ID, inbox.to_string())
        .push_text(airsync::SERVER_ID, server_id.clone());
    fetch
        .push(Element::new(io::OPTIONS))
        .push(Element::new(base::BODY_PREFERENCE))
        .push_text(base::TYPE, "1")
        .push_text(base::TRUNCATION_SIZE, "5");
    let answers = item_operations(&mut device, &operations(vec![fetch.clone()]));
    let answer = &answers[0];
    assert_eq!(answer.tag, io::FETCH);
    assert_eq!(status(answer), "1");
    assert_eq!(
        answer.child_text(airsync::SERVER_ID),
        Some(server_id.clone())
    );
    assert_eq!(answer.child_text(airsync::CLASS).as_deref(), Some("Email"));
    let properties = answer.child(io::PROPERTIES).expect("Properties");
    assert_eq!(
        properties.child_text(email::SUBJECT).as_deref(),
        Some("Greetings")
    );
    let body = properties.child(base::BODY).expect("Body");
    assert_eq!(body.child_text(base::TYPE).as_deref(), Some("1"));
    assert_eq!(body.child_text(base::TRUNCATED).as_deref(), Some("1"));
    assert_eq!(body.child_text(base::DATA).as_deref(), Some("Hello"));

    // Schema narrows the answer to the fields named.
    let options = fetch.child_mut(io::OPTIONS).unwrap();
    options
        .push(Element::new(io::SCHEMA))
        .push_empty(email::SUBJECT);
    let answers = item_operations(&mut device, &operations(vec![fetch]));
    let properties = answers[0].child(io::PROPERTIES).expect("Properties");
    let tags: Vec<_> = properties.elements().map(|e| e.tag).collect();
    assert_eq!(tags, [email::SUBJECT]);

    // A LongId that is a ServerId names the same item; a wrong collection finds nothing.
    let mut by_long_id = Element::new(io::FETCH);
    by_long_id
        .push_text(io::STORE, "Mailbox")
        .push_text(search::LONG_ID, server_id.clone());
    let mut wrong_folder = Element::new(io::FETCH);
    wrong_folder
        .push_text(io::STORE, "Mailbox")
        .push_text(airsync::COLLECTION_ID, (inbox + 1).to_string())
        .push_text(airsync::SERVER_ID, server_id);
    let answers = item_operations(&mut device, &operations(vec![by_long_id, wrong_folder]));
    assert_eq!(status(&answers[0]), "1");
    assert!(answers[0].child(io::PROPERTIES).is_some());
    assert_eq!(status(&answers[1]), "6");
}

#[test]
fn fetch_of_an_attachment_returns_its_bytes_and_honours_range() {
    let (server, store, user) = start();
    let original = attachment_bytes(3000);
    server.deliver(
        ALICE,
        &message_with_attachment(FROM_BOB, TO_ALICE, "Files", &original),
    );
    let mut device = server.device(ALICE, "attach");
    let adds = sync_adds(&mut device, inbox(&store, user));
    let reference = file_reference(&adds[0].1);

    let answers = item_operations(
        &mut device,
        &operations(vec![
            fetch_attachment(&reference, None),
            fetch_attachment(&reference, Some("10-19")),
            fetch_attachment(&reference, Some("2990-5000")),
            fetch_attachment(&reference, Some("3000-3001")),
        ]),
    );
    let data = |answer: &Element| {
        let text = answer
            .child(io::PROPERTIES)
            .and_then(|p| p.child_text(io::DATA))
            .expect("Data");
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64 Data")
    };
    let properties = |answer: &Element, tag| {
        answer
            .child(io::PROPERTIES)
            .and_then(|p| p.child_text(tag))
            .unwrap_or_default()
    };
    assert_eq!(status(&answers[0]), "1");
    assert_eq!(
        answers[0].child_text(base::FILE_REFERENCE),
        Some(reference.clone())
    );
    assert_eq!(
        properties(&answers[0], base::CONTENT_TYPE),
        "application/x-test"
    );
    assert_eq!(data(&answers[0]), original);

    assert_eq!(status(&answers[1]), "1");
    assert_eq!(data(&answers[1]), &original[10..20]);
    assert_eq!(properties(&answers[1], io::RANGE), "10-19");
    assert_eq!(properties(&answers[1], io::TOTAL), "3000");

    // A range past the end is cut at the end; one that starts past it is invalid.
    assert_eq!(data(&answers[2]), &original[2990..]);
    assert_eq!(properties(&answers[2], io::RANGE), "2990-2999");
    assert_eq!(status(&answers[3]), "8");
}

#[test]
fn multipart_answers_carry_the_document_and_the_data_as_parts() {
    let (server, store, user) = start();
    let original = attachment_bytes(10_000);
    server.deliver(
        ALICE,
        &message_with_attachment(FROM_BOB, TO_ALICE, "Parts", &original),
    );
    let mut device = server.device(ALICE, "multipart");
    let adds = sync_adds(&mut device, inbox(&store, user));
    let reference = file_reference(&adds[0].1);

    let doc = operations(vec![fetch_attachment(&reference, None)]);
    let query = device.query("ItemOperations");
    let response = raw_post(
        &mut device,
        &query,
        &[("MS-ASAcceptMultiPart", "T")],
        &wbxml::encode(&doc),
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("Content-Type"),
        Some("application/vnd.ms-sync.multipart")
    );
    let body = &response.body;
    let word = |i: usize| u32::from_le_bytes(body[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
    assert_eq!(word(0), 2, "two parts: the document and the attachment");
    let part = |n: usize| {
        let (offset, length) = (word(1 + 2 * n), word(2 + 2 * n));
        &body[offset..offset + length]
    };
    assert_eq!(word(1), 4 + 8 * 2, "the first part follows the table");
    assert_eq!(word(3), word(1) + word(2), "parts follow each other");
    assert_eq!(word(3) + word(4), body.len());

    common::libwbxml_agrees(part(0), "Part");
    let answer = wbxml::decode(part(0)).expect("part 0 is WBXML");
    let fetch = answer
        .child(io::RESPONSE)
        .and_then(|r| r.child(io::FETCH))
        .expect("Fetch");
    assert_eq!(status(fetch), "1");
    let properties = fetch.child(io::PROPERTIES).expect("Properties");
    assert!(properties.child(io::DATA).is_none());
    assert_eq!(properties.child_text(io::PART).as_deref(), Some("1"));
    assert_eq!(part(1), original.as_slice());
}

#[test]
fn empty_folder_contents_deletes_items_and_subfolders() {
    let (server, store, user) = start();
    let inbox = inbox(&store, user);
    server.deliver(ALICE, &plain_message("One", "", "first"));
    server.deliver(ALICE, &plain_message("Two", "", "second"));
    let sub = store
        .create_folder(user, Some(inbox), "Old", FolderType::UserMail)
        .unwrap()
        .id;
    let mut device = server.device(ALICE, "emptier");

    // Sync to a key that knows both messages.
    let sync = |device: &mut TestDevice, key: &str| {
        let mut doc = Element::new(airsync::SYNC);
        doc.push(Element::new(airsync::COLLECTIONS))
            .push(Element::new(airsync::COLLECTION))
            .push_text(airsync::SYNC_KEY, key)
            .push_text(airsync::COLLECTION_ID, inbox.to_string());
        device
            .command("Sync", Some(&doc))
            .doc()
            .child(airsync::COLLECTIONS)
            .and_then(|l| l.child(airsync::COLLECTION))
            .cloned()
            .expect("a collection")
    };
    let key = sync(&mut device, "0")
        .child_text(airsync::SYNC_KEY)
        .unwrap();
    let answer = sync(&mut device, &key);
    let adds = answer.child(airsync::COMMANDS).unwrap().elements().count();
    assert_eq!(adds, 2);
    let key = answer.child_text(airsync::SYNC_KEY).unwrap();

    let mut empty = Element::new(io::EMPTY_FOLDER_CONTENTS);
    empty.push_text(airsync::COLLECTION_ID, inbox.to_string());
    empty
        .push(Element::new(io::OPTIONS))
        .push_empty(io::DELETE_SUB_FOLDERS);
    let answers = item_operations(&mut device, &operations(vec![empty]));
    assert_eq!(answers[0].tag, io::EMPTY_FOLDER_CONTENTS);
    assert_eq!(status(&answers[0]), "1");
    assert_eq!(
        answers[0].child_text(airsync::COLLECTION_ID),
        Some(inbox.to_string())
    );

    let answer = sync(&mut device, &key);
    let commands: Vec<_> = answer
        .child(airsync::COMMANDS)
        .expect("the deletes")
        .elements()
        .map(|e| e.tag)
        .collect();
    assert_eq!(commands, [airsync::DELETE, airsync::DELETE]);
    assert!(store.folder(user, sub).unwrap().is_none());
    assert!(store.items_in_window(user, inbox, None).unwrap().is_empty());
}

#[test]
fn move_takes_a_whole_conversation_to_the_destination() {
    let (server, store, user) = start();
    let inbox = inbox(&store, user);
    server.deliver(ALICE, &plain_message("Plans", "", "shall we?"));
    server.deliver(
        ALICE,
        &plain_message(
            "Re-Plans",
            "In-Reply-To: <Plans@example.com>\r\nReferences: <Plans@example.com>\r\n",
            "yes",
        ),
    );
    server.deliver(ALICE, &plain_message("Lunch", "", "food"));
    let archive = store
        .create_folder(user, None, "Archive", FolderType::UserMail)
        .unwrap()
        .id;
    let items: Vec<ItemId> = store
        .items_in_window(user, inbox, None)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    let subject = |id| store.message(user, id).unwrap().unwrap();
    let plans = items
        .iter()
        .copied()
        .find(|&id| subject(id).subject == "Plans")
        .unwrap();
    let conversation = subject(plans).conversation_id;

    let mut device = server.device(ALICE, "mover");
    let mut move_op = Element::new(io::MOVE);
    move_op
        .push_opaque(io::CONVERSATION_ID, conversation.clone())
        .push_text(io::DST_FLD_ID, archive.to_string());
    move_op
        .push(Element::new(io::OPTIONS))
        .push_empty(io::MOVE_ALWAYS);
    let mut to_nowhere = Element::new(io::MOVE);
    to_nowhere
        .push_opaque(io::CONVERSATION_ID, conversation.clone())
        .push_text(io::DST_FLD_ID, "999999");
    let answers = item_operations(&mut device, &operations(vec![move_op, to_nowhere]));
    assert_eq!(answers[0].tag, io::MOVE);
    assert_eq!(status(&answers[0]), "1");
    assert_eq!(
        answers[0]
            .child(io::CONVERSATION_ID)
            .and_then(Element::bytes),
        Some(conversation.clone())
    );
    assert_eq!(status(&answers[1]), "6");

    let moved = store.conversation_messages(user, &conversation).unwrap();
    assert_eq!(moved.len(), 2, "both messages of the conversation");
    assert!(moved.iter().all(|&(_, folder)| folder == archive));
    let left: Vec<String> = store
        .items_in_window(user, inbox, None)
        .unwrap()
        .into_iter()
        .map(|i| subject(i.id).subject)
        .collect();
    assert_eq!(left, ["Lunch"]);
}

#[test]
fn get_attachment_of_protocol_12_answers_the_bytes() {
    let (server, store, user) = start();
    let original = attachment_bytes(5000);
    server.deliver(
        ALICE,
        &message_with_attachment(FROM_BOB, TO_ALICE, "Old", &original),
    );
    let mut device = server.device(ALICE, "legacy");
    device.version = "12.1".to_string();
    let adds = sync_adds(&mut device, inbox(&store, user));
    let reference = file_reference(&adds[0].1);

    let query = format!(
        "{}&AttachmentName={}",
        device.query("GetAttachment"),
        common::percent(&reference)
    );
    let response = raw_post(&mut device, &query, &[], b"");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("application/x-test"));
    assert_eq!(response.body, original);

    let query = format!("{}&AttachmentName=999999:0", device.query("GetAttachment"));
    assert_eq!(raw_post(&mut device, &query, &[], b"").status, 500);

    let options = device.options();
    let commands = options.header("MS-ASProtocolCommands").unwrap_or_default();
    assert!(commands.contains("ItemOperations") && commands.contains("GetAttachment"));
}

#[test]
fn another_users_mail_is_never_found() {
    let (server, store, user) = start();
    server.deliver(
        ALICE,
        &message_with_attachment(FROM_BOB, TO_ALICE, "Private", b"secret bytes"),
    );
    let mut alice = server.device(ALICE, "alice-phone");
    let adds = sync_adds(&mut alice, inbox(&store, user));
    let (server_id, data) = &adds[0];
    let reference = file_reference(data);

    let mut bob = server.device(BOB, "bob-phone");
    let mut fetch_item = Element::new(io::FETCH);
    fetch_item
        .push_text(io::STORE, "Mailbox")
        .push_text(airsync::SERVER_ID, server_id.clone());
    let mut empty = Element::new(io::EMPTY_FOLDER_CONTENTS);
    empty.push_text(airsync::COLLECTION_ID, inbox(&store, user).to_string());
    let answers = item_operations(
        &mut bob,
        &operations(vec![fetch_item, fetch_attachment(&reference, None), empty]),
    );
    assert_eq!(status(&answers[0]), "6");
    assert!(answers[0].child(io::PROPERTIES).is_none());
    assert_eq!(status(&answers[1]), "15");
    assert!(answers[1].child(io::PROPERTIES).is_none());
    assert_eq!(status(&answers[2]), "6");
    assert_eq!(
        store
            .items_in_window(user, inbox(&store, user), None)
            .unwrap()
            .len(),
        1
    );

    bob.version = "12.1".to_string();
    let query = format!(
        "{}&AttachmentName={}",
        bob.query("GetAttachment"),
        common::percent(&reference)
    );
    assert_eq!(raw_post(&mut bob, &query, &[], b"").status, 500);
}

/// Answers far larger than the front door's buffers (it relays them with back-pressure)
/// arrive whole, one after another on the same keep-alive connection, over plain HTTP and
/// TLS, in all three forms: GetAttachment, multipart, and base64 inside the WBXML document.
/// Each is read from the database while it is sent.
#[test]
fn large_attachments_arrive_whole_in_every_form_and_connection_kind() {
    let (server, store, user) = start();
    let original = attachment_bytes(12 * 1024 * 1024 + 5);
    server.deliver(
        ALICE,
        &message_with_attachment(FROM_BOB, TO_ALICE, "Large", &original),
    );
    for tls in [false, true] {
        let http = if tls {
            server.tls_client()
        } else {
            server.client()
        };
        let mut device = TestDevice::new(http, ALICE, common::PASSWORD, &format!("large{tls}"));
        let adds = sync_adds(&mut device, inbox(&store, user));
        let reference = file_reference(&adds[0].1);
        for round in 0..2 {
            let query = format!(
                "{}&AttachmentName={}",
                device.query("GetAttachment"),
                common::percent(&reference)
            );
            let plain = raw_post(&mut device, &query, &[], b"");
            assert_eq!(plain.status, 200, "tls {tls} round {round}");
            assert!(
                plain.body == original,
                "GetAttachment, tls {tls} round {round}"
            );

            let doc = wbxml::encode(&operations(vec![fetch_attachment(&reference, None)]));
            let query = device.query("ItemOperations");
            let multipart = raw_post(&mut device, &query, &[("MS-ASAcceptMultiPart", "T")], &doc);
            assert_eq!(multipart.status, 200);
            let body = &multipart.body;
            let word = |i: usize| u32::from_le_bytes(body[i * 4..i * 4 + 4].try_into().unwrap());
            let (offset, length) = (word(3) as usize, word(4) as usize);
            assert_eq!(offset + length, body.len());
            assert!(
                &body[offset..] == original.as_slice(),
                "multipart, tls {tls}"
            );

            let inline = item_operations(
                &mut device,
                &operations(vec![fetch_attachment(&reference, None)]),
            );
            let data = inline[0]
                .child(io::PROPERTIES)
                .and_then(|p| p.child_text(io::DATA))
                .expect("Data");
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("base64 Data");
            assert!(decoded == original, "inline base64, tls {tls}");
        }
    }
}
