//! Mailbox search through the real server: Search Store=Mailbox (FreeText, Class,
//! CollectionId, DeepTraversal, ConversationId, GreaterThan/LessThan DateReceived, Range,
//! Total, RebuildResults, BodyPreference, BodyPartPreference, MIMESupport,
//! RightsManagementSupport, and the statuses of bad queries), results opened by their LongId
//! with ItemOperations, SmartReply and SmartForward, Find (16.1) over mail and the address
//! book, isolation (Bob never finds Alice's mail), folders hidden from a device, and a
//! database from before the index indexed by the running server. Every answer is also
//! decoded by libwbxml.

mod common;

use common::{search_store, TestDevice, TestServer};
use easd::store::{FolderType, ItemId, Store, UserId};
use easd::wbxml::tag::{
    airsync, airsyncbase as base, compose_mail as cm, email, find as f, gal, item_operations as io,
    rights_management as rm, search as s,
};
use easd::wbxml::{Element, Tag};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// Alice's old mail, as an mbox (From_ lines carry the delivery dates).
const INBOX_MBOX: &str = "From bob@example.com Mon Jan  2 10:00:00 2023\n\
From: Bob Builder <bob@example.com>\n\
To: Alice <alice@example.com>\n\
Subject: Invoice 2023-117\n\
Date: Mon, 2 Jan 2023 10:00:00 +0000\n\
Message-ID: <inv117@example.com>\n\
\n\
Please find the invoice for the plumbing work attached in spirit.\n\
\n\
From bob@example.com Thu Jun 15 09:00:00 2023\n\
From: Bob Builder <bob@example.com>\n\
To: Alice <alice@example.com>\n\
Cc: \"Doe, Jane\" <jane@example.net>\n\
Subject: Re: Invoice 2023-117\n\
Date: Thu, 15 Jun 2023 09:00:00 +0000\n\
Message-ID: <inv117-paid@example.com>\n\
In-Reply-To: <inv117@example.com>\n\
References: <inv117@example.com>\n\
\n\
Thanks, the invoice is paid. Regards from Zürich.\n\
\n";

const ARCHIVE_MBOX: &str = "From carol@example.org Sat May  5 08:00:00 2018\n\
From: Carol <carol@example.org>\n\
To: Alice <alice@example.com>\n\
Subject: Archive note\n\
Date: Sat, 5 May 2018 08:00:00 +0000\n\
\n\
The invoice index lives here.\n\
\n";

const ARCHIVE_2019_MBOX: &str = "From carol@example.org Fri Mar  1 08:00:00 2019\n\
From: Carol <carol@example.org>\n\
To: Alice <alice@example.com>\n\
Subject: Old invoice from 2019\n\
Date: Fri, 1 Mar 2019 08:00:00 +0000\n\
\n\
An archived invoice for the roof.\n\
\n";

struct Setup {
    server: TestServer,
    store: Store,
    alice: UserId,
}

fn import(server: &TestServer, mbox: &str, folder: &str) {
    let path = server
        .dir
        .join(format!("{}.mbox", folder.replace('/', "-")));
    std::fs::write(&path, mbox).unwrap();
    let out = server.easd(&["import", ALICE, path.to_str().unwrap(), "--folder", folder]);
    assert!(out.status.success(), "import: {out:?}");
}

fn setup() -> Setup {
    let server = TestServer::start();
    server.add_user(ALICE);
    server.add_user(BOB);
    import(&server, INBOX_MBOX, "Inbox");
    import(&server, ARCHIVE_MBOX, "Archive");
    import(&server, ARCHIVE_2019_MBOX, "Archive/2019");
    // `easd import` indexes what it filed before it exits.
    let store = Store::open(&server.db).expect("open the server's database");
    assert_eq!(store.index_backlog_len().unwrap(), 0);
    let lunch =
        b"From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: Lunch?\r\n\r\npizza\r\n";
    server.deliver(ALICE, lunch);
    // A delivery only queues its message for the index (the server indexes in batches); a
    // Search indexes the user's waiting mail first.
    assert_eq!(store.index_backlog_len().unwrap(), 1);
    let alice = store.user_by_email(ALICE).unwrap().unwrap().id;
    Setup {
        server,
        store,
        alice,
    }
}

fn folder_id(store: &Store, user: UserId, name: &str) -> i64 {
    store
        .folders_of(user)
        .unwrap()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("folder {name}"))
        .id
}

/// The criteria of a query inside And, as phones send them.
fn query(criteria: Vec<Element>) -> Element {
    let mut and = Element::new(s::AND);
    for c in criteria {
        and.push(c);
    }
    let mut query = Element::new(s::QUERY);
    query.push(and);
    query
}

fn free_text(text: &str) -> Element {
    Element::with_text(s::FREE_TEXT, text)
}

fn class() -> Element {
    Element::with_text(airsync::CLASS, "Email")
}

fn collection(id: i64) -> Element {
    Element::with_text(airsync::COLLECTION_ID, id.to_string())
}

fn date(tag: Tag, value: &str) -> Element {
    let mut e = Element::new(tag);
    e.push(Element::new(email::DATE_RECEIVED));
    e.push_text(s::VALUE, value);
    e
}

fn search(device: &mut TestDevice, query: Element, options: Vec<Element>) -> Element {
    search_store(device, "Mailbox", query, options)
}

fn store_status(store: &Element) -> String {
    store.child_text(s::STATUS).expect("a Status")
}

/// Each Result's (LongId, CollectionId, Subject).
fn results(store: &Element) -> Vec<(String, String, String)> {
    store
        .children_with(s::RESULT)
        .filter(|r| !r.is_empty())
        .map(|r| {
            assert_eq!(r.child_text(airsync::CLASS).as_deref(), Some("Email"));
            let properties = r.child(s::PROPERTIES).expect("Properties");
            (
                r.child_text(s::LONG_ID).expect("LongId"),
                r.child_text(airsync::COLLECTION_ID).expect("CollectionId"),
                properties.child_text(email::SUBJECT).unwrap_or_default(),
            )
        })
        .collect()
}

fn subjects(store: &Element) -> Vec<String> {
    results(store).into_iter().map(|(_, _, s)| s).collect()
}

fn body_preference(kind: &str, truncation: Option<&str>) -> Element {
    let mut p = Element::new(base::BODY_PREFERENCE);
    p.push_text(base::TYPE, kind);
    if let Some(size) = truncation {
        p.push_text(base::TRUNCATION_SIZE, size);
    }
    p
}

fn first_properties(store: &Element) -> Element {
    store
        .child(s::RESULT)
        .and_then(|r| r.child(s::PROPERTIES))
        .expect("a result")
        .clone()
}

#[test]
fn mailbox_search_finds_by_words_folders_dates_and_conversation_with_each_option() {
    let setup = setup();
    let mut phone = setup.server.device(ALICE, "phone");
    let inbox = folder_id(&setup.store, setup.alice, "Inbox");
    let archive = folder_id(&setup.store, setup.alice, "Archive");

    // The whole mailbox, newest first; case and accents do not matter; words are prefixes.
    let all = search(
        &mut phone,
        query(vec![class(), free_text("INVOICE")]),
        vec![],
    );
    assert_eq!(store_status(&all), "1");
    assert_eq!(
        subjects(&all),
        [
            "Re: Invoice 2023-117",
            "Invoice 2023-117",
            "Old invoice from 2019",
            "Archive note"
        ]
    );
    assert_eq!(all.child_text(s::RANGE).as_deref(), Some("0-3"));
    assert_eq!(all.child_text(s::TOTAL).as_deref(), Some("4"));
    let zurich = search(&mut phone, query(vec![free_text("zurich pai")]), vec![]);
    assert_eq!(subjects(&zurich), ["Re: Invoice 2023-117"]);
    // Addresses and names are searched too.
    let carol = search(
        &mut phone,
        query(vec![free_text("carol example org")]),
        vec![],
    );
    assert_eq!(carol.child_text(s::TOTAL).as_deref(), Some("2"));
    // Nothing found: one empty Result, Total 0, no Range.
    let none = search(&mut phone, query(vec![free_text("xylophone")]), vec![]);
    assert_eq!(store_status(&none), "1");
    assert_eq!(none.children_with(s::RESULT).count(), 1);
    assert!(none.child(s::RANGE).is_none());
    assert_eq!(none.child_text(s::TOTAL).as_deref(), Some("0"));
    // The message delivered last is found at once, though it waited for the index.
    let lunch = search(&mut phone, query(vec![free_text("pizza")]), vec![]);
    assert_eq!(subjects(&lunch), ["Lunch?"]);
    assert_eq!(setup.store.index_backlog_len().unwrap(), 0);

    // One folder; with DeepTraversal its subfolders as well.
    let in_inbox = search(
        &mut phone,
        query(vec![class(), collection(inbox), free_text("invoice")]),
        vec![],
    );
    assert_eq!(
        subjects(&in_inbox),
        ["Re: Invoice 2023-117", "Invoice 2023-117"]
    );
    assert!(results(&in_inbox)
        .iter()
        .all(|(_, folder, _)| *folder == inbox.to_string()));
    let shallow = search(
        &mut phone,
        query(vec![collection(archive), free_text("invoice")]),
        vec![],
    );
    assert_eq!(subjects(&shallow), ["Archive note"]);
    let deep = search(
        &mut phone,
        query(vec![collection(archive), free_text("invoice")]),
        vec![Element::new(s::DEEP_TRAVERSAL)],
    );
    assert_eq!(subjects(&deep), ["Old invoice from 2019", "Archive note"]);

    // Dates: strictly after and before.
    let early_2023 = search(
        &mut phone,
        query(vec![
            free_text("invoice"),
            date(s::GREATER_THAN, "2022-12-31T00:00:00.000Z"),
            date(s::LESS_THAN, "2023-03-01T00:00:00.000Z"),
        ]),
        vec![],
    );
    assert_eq!(subjects(&early_2023), ["Invoice 2023-117"]);
    // Without words: everything in the window.
    let in_2018 = search(
        &mut phone,
        query(vec![
            date(s::GREATER_THAN, "2018-01-01T00:00:00.000Z"),
            date(s::LESS_THAN, "2019-01-01T00:00:00.000Z"),
        ]),
        vec![],
    );
    assert_eq!(subjects(&in_2018), ["Archive note"]);

    // Range picks a window, Total counts all; RebuildResults is honoured (nothing cached).
    let page = search(
        &mut phone,
        query(vec![free_text("invoice")]),
        vec![
            Element::with_text(s::RANGE, "1-2"),
            Element::new(s::REBUILD_RESULTS),
        ],
    );
    assert_eq!(
        subjects(&page),
        ["Invoice 2023-117", "Old invoice from 2019"]
    );
    assert_eq!(page.child_text(s::RANGE).as_deref(), Some("1-2"));
    assert_eq!(page.child_text(s::TOTAL).as_deref(), Some("4"));
    let past_the_end = search(
        &mut phone,
        query(vec![free_text("invoice")]),
        vec![Element::with_text(s::RANGE, "10-19")],
    );
    assert_eq!(store_status(&past_the_end), "12");

    // BodyPreference: plain text truncated; MIMESupport 2 with Type 4: the whole message.
    let truncated = search(
        &mut phone,
        query(vec![free_text("plumbing")]),
        vec![body_preference("1", Some("10"))],
    );
    let body = first_properties(&truncated);
    let body = body.child(base::BODY).expect("Body");
    assert_eq!(body.child_text(base::TYPE).as_deref(), Some("1"));
    assert_eq!(body.child_text(base::TRUNCATED).as_deref(), Some("1"));
    assert_eq!(body.child_text(base::DATA).as_deref(), Some("Please fin"));
    let mime = search(
        &mut phone,
        query(vec![free_text("plumbing")]),
        vec![
            Element::with_text(airsync::MIME_SUPPORT, "2"),
            body_preference("4", None),
            Element::with_text(rm::RIGHTS_MANAGEMENT_SUPPORT, "1"),
        ],
    );
    let properties = first_properties(&mime);
    let body = properties.child(base::BODY).expect("Body");
    assert_eq!(body.child_text(base::TYPE).as_deref(), Some("4"));
    assert!(body
        .child_text(base::DATA)
        .is_some_and(|mime| mime.contains("Message-ID: <inv117@example.com>")));

    // ConversationId: both messages of the thread; BodyPartPreference gives the BodyPart.
    let original: ItemId = results(&early_2023)[0].0.parse().unwrap();
    let conversation = setup
        .store
        .message(setup.alice, original)
        .unwrap()
        .unwrap()
        .conversation_id;
    let mut part = Element::new(base::BODY_PART_PREFERENCE);
    part.push_text(base::TYPE, "2")
        .push_text(base::TRUNCATION_SIZE, "12")
        .push_text(base::PREVIEW, "20");
    let thread = search(
        &mut phone,
        query(vec![Element::with_opaque(
            s::CONVERSATION_ID,
            conversation.clone(),
        )]),
        vec![part],
    );
    assert_eq!(
        subjects(&thread),
        ["Re: Invoice 2023-117", "Invoice 2023-117"]
    );
    let properties = first_properties(&thread);
    let body_part = properties.child(base::BODY_PART).expect("BodyPart");
    assert_eq!(body_part.child_text(base::STATUS).as_deref(), Some("1"));
    assert_eq!(body_part.child_text(base::TYPE).as_deref(), Some("2"));
    assert_eq!(body_part.child_text(base::TRUNCATED).as_deref(), Some("1"));
    assert_eq!(body_part.child_text(base::DATA).map(|d| d.len()), Some(12));
    assert!(body_part
        .child_text(base::PREVIEW)
        .is_some_and(|p| p.starts_with("Thanks, the invoice")));
}

#[test]
fn bad_queries_get_the_search_statuses() {
    let setup = setup();
    let mut phone = setup.server.device(ALICE, "phone");
    let status = |phone: &mut TestDevice, query: Element, options: Vec<Element>| {
        store_status(&search(phone, query, options))
    };
    let mut or = Element::new(s::QUERY);
    or.push(Element::new(s::OR)).push(free_text("a"));
    assert_eq!(status(&mut phone, or, vec![]), "8", "Or is too complex");
    let many = vec!["word"; 13].join(" ");
    assert_eq!(
        status(&mut phone, query(vec![free_text(&many)]), vec![]),
        "8"
    );
    assert_eq!(
        status(
            &mut phone,
            query(vec![free_text("invoice")]),
            vec![Element::with_text(s::RANGE, "9-2")]
        ),
        "2",
        "a range that ends before it starts"
    );
    assert_eq!(
        status(
            &mut phone,
            query(vec![collection(999_999), free_text("x")]),
            vec![]
        ),
        "11",
        "an unknown folder: the device's hierarchy is out of date"
    );
    assert_eq!(
        status(
            &mut phone,
            query(vec![
                Element::with_text(airsync::CLASS, "Contacts"),
                free_text("x")
            ]),
            vec![]
        ),
        "2"
    );
    assert_eq!(
        status(
            &mut phone,
            query(vec![date(s::GREATER_THAN, "last week")]),
            vec![]
        ),
        "2"
    );
    assert_eq!(status(&mut phone, Element::new(s::QUERY), vec![]), "2");
    assert_eq!(
        status(
            &mut phone,
            query(vec![free_text("invoice")]),
            vec![Element::with_text(rm::RIGHTS_MANAGEMENT_SUPPORT, "7")]
        ),
        "2"
    );
    let mut part = Element::new(base::BODY_PART_PREFERENCE);
    part.push_text(base::TYPE, "2");
    assert_eq!(
        status(&mut phone, query(vec![free_text("invoice")]), vec![part]),
        "2",
        "BodyPartPreference belongs to a ConversationId search"
    );
    // DocumentLibrary is not offered.
    let mut linked = Element::new(s::QUERY);
    linked.push(Element::new(s::EQUAL_TO));
    let library = search_store(&mut phone, "DocumentLibrary", linked, vec![]);
    assert_eq!(store_status(&library), "3");
    // A Search without a Store is not a Search document.
    let response = phone.command("Search", Some(&Element::new(s::SEARCH)));
    assert_eq!(response.status(), 400);
}

fn item_operations_fetch(device: &mut TestDevice, long_id: &str) -> Element {
    let mut doc = Element::new(io::ITEM_OPERATIONS);
    let fetch = doc.push(Element::new(io::FETCH));
    fetch
        .push_text(io::STORE, "Mailbox")
        .push_text(s::LONG_ID, long_id);
    fetch
        .push(Element::new(io::OPTIONS))
        .push(body_preference("1", None));
    let response = device.command("ItemOperations", Some(&doc));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "ItemOperations");
    response
        .doc()
        .child(io::RESPONSE)
        .and_then(|r| r.child(io::FETCH))
        .expect("a Fetch")
        .clone()
}

fn compose(root: Tag, client_id: &str, long_id: &str, mime: &str) -> Element {
    let mut doc = Element::new(root);
    doc.push_text(cm::CLIENT_ID, client_id);
    doc.push(Element::new(cm::SOURCE))
        .push_text(cm::LONG_ID, long_id);
    doc.push_opaque(cm::MIME, mime.as_bytes().to_vec());
    doc
}

fn bob_subjects(store: &Store) -> Vec<String> {
    let bob = store.user_by_email(BOB).unwrap().unwrap().id;
    let inbox = store
        .folders_of(bob)
        .unwrap()
        .into_iter()
        .find(|f| f.folder_type == FolderType::Inbox)
        .unwrap()
        .id;
    store
        .items_in_window(bob, inbox, None)
        .unwrap()
        .into_iter()
        .filter_map(|item| store.message(bob, item.id).unwrap())
        .map(|m| m.subject)
        .collect()
}

#[test]
fn a_result_opens_with_item_operations_and_is_answered_with_smart_reply_and_forward() {
    let setup = setup();
    let mut phone = setup.server.device(ALICE, "phone");
    let found = search(&mut phone, query(vec![free_text("plumbing")]), vec![]);
    let (long_id, _, _) = results(&found).remove(0);

    let fetched = item_operations_fetch(&mut phone, &long_id);
    assert_eq!(fetched.child_text(io::STATUS).as_deref(), Some("1"));
    assert_eq!(
        fetched.child_text(s::LONG_ID).as_deref(),
        Some(long_id.as_str())
    );
    let properties = fetched.child(io::PROPERTIES).expect("Properties");
    assert_eq!(
        properties.child_text(email::SUBJECT).as_deref(),
        Some("Invoice 2023-117")
    );
    assert!(properties
        .child(base::BODY)
        .and_then(|b| b.child_text(base::DATA))
        .is_some_and(|text| text.contains("plumbing work")));

    let reply = compose(
        cm::SMART_REPLY,
        "reply-1",
        &long_id,
        "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Re: Invoice 2023-117\r\n\r\nPaid.\r\n",
    );
    let answer = phone.command("SmartReply", Some(&reply));
    assert_eq!(answer.status(), 200);
    assert!(
        answer.doc.is_none(),
        "success is an empty answer: {:?}",
        answer.doc
    );
    let forward = compose(
        cm::SMART_FORWARD,
        "forward-1",
        &long_id,
        "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Fwd: Invoice 2023-117\r\n\r\nFYI\r\n",
    );
    let answer = phone.command("SmartForward", Some(&forward));
    assert_eq!(answer.status(), 200);
    assert!(answer.doc.is_none(), "{:?}", answer.doc);
    let mut received = bob_subjects(&setup.store);
    received.sort();
    assert_eq!(received, ["Fwd: Invoice 2023-117", "Re: Invoice 2023-117"]);
    // The original shows it was answered.
    let original: ItemId = long_id.parse().unwrap();
    let record = setup.store.message(setup.alice, original).unwrap().unwrap();
    assert!(record.last_verb.is_some());
}

#[test]
fn another_users_mail_is_never_found_and_hidden_folders_are_not_searched() {
    let setup = setup();
    let mut alice = setup.server.device(ALICE, "phone");
    let mut bob = setup.server.device(BOB, "bob-phone");
    let inbox = folder_id(&setup.store, setup.alice, "Inbox");
    let archive = folder_id(&setup.store, setup.alice, "Archive");

    let found = search(&mut alice, query(vec![free_text("invoice")]), vec![]);
    let long_id = results(&found)[0].0.clone();
    let nothing = search(&mut bob, query(vec![free_text("invoice")]), vec![]);
    assert_eq!(nothing.child_text(s::TOTAL).as_deref(), Some("0"));
    let foreign = search(
        &mut bob,
        query(vec![collection(inbox), free_text("invoice")]),
        vec![],
    );
    assert_eq!(
        store_status(&foreign),
        "11",
        "Alice's folder is unknown to Bob"
    );
    let fetched = item_operations_fetch(&mut bob, &long_id);
    assert_eq!(fetched.child_text(io::STATUS).as_deref(), Some("6"));
    // Bob's own mail is found by Bob, and not by Alice.
    let out = setup.server.easd_stdin(
        &["deliver", BOB],
        b"From: x@example.net\r\nTo: bob@example.com\r\nSubject: invoice for Bob\r\n\r\nhi\r\n",
    );
    assert!(out.status.success());
    let bobs = search(&mut bob, query(vec![free_text("invoice")]), vec![]);
    assert_eq!(subjects(&bobs), ["invoice for Bob"]);
    let alices = search(&mut alice, query(vec![free_text("invoice")]), vec![]);
    assert!(!subjects(&alices).contains(&"invoice for Bob".to_string()));

    // The device may see only the default mail folders: Archive is not searched.
    let out = setup
        .server
        .easd(&["device", "set", ALICE, "phone", "mail-folders", "default"]);
    assert!(out.status.success(), "{out:?}");
    let visible = search(&mut alice, query(vec![free_text("invoice")]), vec![]);
    assert_eq!(
        subjects(&visible),
        ["Re: Invoice 2023-117", "Invoice 2023-117"]
    );
    let hidden = search(
        &mut alice,
        query(vec![collection(archive), free_text("invoice")]),
        vec![],
    );
    assert_eq!(store_status(&hidden), "11");
    // Another device of Alice's still sees everything.
    let mut tablet = setup.server.device(ALICE, "tablet");
    let everything = search(&mut tablet, query(vec![free_text("invoice")]), vec![]);
    assert_eq!(everything.child_text(s::TOTAL).as_deref(), Some("4"));
}

const SEARCH_ID: &str = "5d3c4a2b-1f0e-4d9c-8b7a-69584736a2b1";

fn find(device: &mut TestDevice, criterion: Element) -> Element {
    let mut doc = Element::new(f::FIND);
    doc.push_text(f::SEARCH_ID, SEARCH_ID);
    doc.push(Element::new(f::EXECUTE_SEARCH)).push(criterion);
    let response = device.command("Find", Some(&doc));
    assert_eq!(response.status(), 200);
    // libwbxml's tables end before the Find code page (25): it names those tags "unknown",
    // but it must still read the document.
    common::libwbxml_agrees(&response.http.body, "ActiveSync");
    response.doc().clone()
}

fn mailbox_criterion(criteria: Vec<Element>, options: Vec<Element>) -> Element {
    let mut criterion = Element::new(f::MAIL_BOX_SEARCH_CRITERION);
    let q = criterion.push(Element::new(f::QUERY));
    for c in criteria {
        q.push(c);
    }
    if !options.is_empty() {
        let o = criterion.push(Element::new(f::OPTIONS));
        for option in options {
            o.push(option);
        }
    }
    criterion
}

#[test]
fn find_searches_mail_and_the_address_book() {
    let setup = setup();
    let out = setup
        .server
        .easd(&["user", "set", BOB, "--name", "Bob Builder"]);
    assert!(out.status.success(), "{out:?}");
    let mut phone = setup.server.device(ALICE, "phone");
    let inbox = folder_id(&setup.store, setup.alice, "Inbox");

    let doc = find(
        &mut phone,
        mailbox_criterion(
            vec![
                class(),
                collection(inbox),
                Element::with_text(f::FREE_TEXT, "invoice"),
            ],
            vec![Element::with_text(f::RANGE, "0-0")],
        ),
    );
    assert_eq!(doc.child_text(f::STATUS).as_deref(), Some("1"));
    let response = doc.child(f::RESPONSE).expect("Response");
    assert_eq!(response.child_text(io::STORE).as_deref(), Some("Mailbox"));
    assert_eq!(response.child_text(f::STATUS).as_deref(), Some("1"));
    assert_eq!(response.child_text(f::RANGE).as_deref(), Some("0-0"));
    assert_eq!(response.child_text(f::TOTAL).as_deref(), Some("2"));
    let result = response.child(f::RESULT).expect("Result");
    assert_eq!(result.child_text(airsync::CLASS).as_deref(), Some("Email"));
    assert_eq!(
        result.child_text(airsync::COLLECTION_ID),
        Some(inbox.to_string())
    );
    let server_id = result.child_text(airsync::SERVER_ID).expect("ServerId");
    let properties = result.child(f::PROPERTIES).expect("Properties");
    assert_eq!(
        properties.child_text(email::SUBJECT).as_deref(),
        Some("Re: Invoice 2023-117")
    );
    assert_eq!(
        properties.child_text(email::DATE_RECEIVED).as_deref(),
        Some("2023-06-15T09:00:00.000Z")
    );
    assert_eq!(
        properties.child_text(f::DISPLAY_CC).as_deref(),
        Some("Doe, Jane")
    );
    assert_eq!(
        properties.child_text(f::HAS_ATTACHMENTS).as_deref(),
        Some("0")
    );
    assert!(properties
        .child_text(f::PREVIEW)
        .is_some_and(|p| p.starts_with("Thanks, the invoice is paid")));
    // The ServerId opens the message.
    assert_eq!(
        item_operations_fetch(&mut phone, &server_id)
            .child_text(io::STATUS)
            .as_deref(),
        Some("1")
    );
    // DeepTraversal over the whole Archive tree.
    let archive = folder_id(&setup.store, setup.alice, "Archive");
    let doc = find(
        &mut phone,
        mailbox_criterion(
            vec![
                collection(archive),
                Element::with_text(f::FREE_TEXT, "invoice"),
            ],
            vec![Element::new(f::DEEP_TRAVERSAL)],
        ),
    );
    let response = doc.child(f::RESPONSE).unwrap();
    assert_eq!(response.child_text(f::TOTAL).as_deref(), Some("2"));

    // The address book, with pictures.
    let mut gal_criterion = Element::new(f::GAL_SEARCH_CRITERION);
    gal_criterion.push_text(f::QUERY, "bo");
    let options = gal_criterion.push(Element::new(f::OPTIONS));
    options.push_text(f::RANGE, "0-9");
    options
        .push(Element::new(f::PICTURE))
        .push_text(f::MAX_PICTURES, "1");
    let doc = find(&mut phone, gal_criterion);
    assert_eq!(doc.child_text(f::STATUS).as_deref(), Some("1"));
    let response = doc.child(f::RESPONSE).unwrap();
    assert_eq!(response.child_text(io::STORE).as_deref(), Some("GAL"));
    assert_eq!(response.child_text(f::TOTAL).as_deref(), Some("1"));
    let properties = response
        .child(f::RESULT)
        .and_then(|r| r.child(f::PROPERTIES))
        .expect("Properties");
    assert_eq!(
        properties.child_text(gal::DISPLAY_NAME).as_deref(),
        Some("Bob Builder")
    );
    assert_eq!(
        properties.child_text(gal::EMAIL_ADDRESS).as_deref(),
        Some(BOB)
    );
    assert_eq!(
        properties
            .child(gal::PICTURE)
            .and_then(|p| p.child_text(gal::STATUS))
            .as_deref(),
        Some("173"),
        "Bob has no photo"
    );

    // Statuses: a range not from 0 (Response 4), a bad SearchId (2), an unknown folder (3).
    let doc = find(
        &mut phone,
        mailbox_criterion(
            vec![Element::with_text(f::FREE_TEXT, "invoice")],
            vec![Element::with_text(f::RANGE, "5-9")],
        ),
    );
    assert_eq!(doc.child_text(f::STATUS).as_deref(), Some("1"));
    assert_eq!(
        doc.child(f::RESPONSE)
            .and_then(|r| r.child_text(f::STATUS))
            .as_deref(),
        Some("4")
    );
    let doc = find(
        &mut phone,
        mailbox_criterion(
            vec![collection(999_999), Element::with_text(f::FREE_TEXT, "x")],
            vec![],
        ),
    );
    assert_eq!(doc.child_text(f::STATUS).as_deref(), Some("3"));
    let mut bad_id = Element::new(f::FIND);
    bad_id.push_text(f::SEARCH_ID, "not-a-guid");
    bad_id
        .push(Element::new(f::EXECUTE_SEARCH))
        .push(mailbox_criterion(
            vec![Element::with_text(f::FREE_TEXT, "x")],
            vec![],
        ));
    let response = phone.command("Find", Some(&bad_id));
    assert_eq!(response.doc().child_text(f::STATUS).as_deref(), Some("2"));
    // Find is a 16.1 command.
    let mut old = setup.server.device(ALICE, "old-phone");
    old.version = "14.1".into();
    let doc = find(
        &mut old,
        mailbox_criterion(vec![Element::with_text(f::FREE_TEXT, "invoice")], vec![]),
    );
    assert_eq!(doc.child_text(f::STATUS).as_deref(), Some("2"));
    // Bob's Find never reaches Alice's mail.
    let mut bob = setup.server.device(BOB, "bob-phone");
    let doc = find(
        &mut bob,
        mailbox_criterion(vec![Element::with_text(f::FREE_TEXT, "invoice")], vec![]),
    );
    assert_eq!(
        doc.child(f::RESPONSE)
            .and_then(|r| r.child_text(f::TOTAL))
            .as_deref(),
        Some("0")
    );
}

#[test]
fn a_database_from_before_the_index_is_indexed_by_the_running_server() {
    let mut setup = setup();
    // Make the file what version 10 left: no index, no backlog, no trigger.
    easd::store::schema::rewind_for_upgrade_tests(setup.store.connection(), 10).unwrap();
    setup.server.kill_and_restart();
    // The restarted server migrated the file and indexes the backlog while idle; a Search
    // now and then is the only thing that can interrupt it.
    let mut phone = setup.server.device(ALICE, "phone");
    let mut total = String::new();
    for _ in 0..500 {
        let found = search(&mut phone, query(vec![free_text("invoice")]), vec![]);
        total = found.child_text(s::TOTAL).unwrap_or_default();
        if total == "4" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(total, "4");
    let version: i64 = setup
        .store
        .connection()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 11);
    let backlog: i64 = setup
        .store
        .connection()
        .query_row("SELECT count(*) FROM message_text_backlog", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(backlog, 0);
    // Deleting a message still takes it out of the index after the upgrade.
    let found = search(&mut phone, query(vec![free_text("plumbing")]), vec![]);
    let id: ItemId = results(&found)[0].0.parse().unwrap();
    setup.store.delete_item(setup.alice, id).unwrap();
    let gone = search(&mut phone, query(vec![free_text("plumbing")]), vec![]);
    assert_eq!(gone.child_text(s::TOTAL).as_deref(), Some("0"));
}
