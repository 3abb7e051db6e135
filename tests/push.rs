//! DirectPush over real sockets against `easd serve`: Ping parked in the front door and woken
//! by `easd deliver` and by another device's change (and not by another user's), heartbeat
//! expiry, the Status codes, the empty Ping, superseding, the folder push request message,
//! SIGTERM with parked Pings, and the change committed between Sync and Ping.

mod common;

use std::time::{Duration, Instant};

use common::{collection, sync_one, TestDevice, TestServer};
use easd::store::{FolderId, FolderType, Store};
use easd::wbxml::tag::{airsync, email, move_items, ping};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

struct Push {
    server: TestServer,
    inbox: FolderId,
    bob_inbox: FolderId,
}

fn start() -> Push {
    let server = TestServer::start_with(&format!(
        "notify = 127.0.0.1:{}\nlog-level = debug",
        common::free_udp_port()
    ));
    server.add_user(ALICE);
    server.add_user(BOB);
    let out = server.easd(&["config", "set", "push.heartbeat-min", "1"]);
    assert!(out.status.success(), "{out:?}");
    let store = Store::open(&server.db).expect("open the server's database");
    let inbox_of = |email: &str| {
        let user = store.user_by_email(email).unwrap().expect("user").id;
        common::folder(&store, user, FolderType::Inbox)
    };
    let (inbox, bob_inbox) = (inbox_of(ALICE), inbox_of(BOB));
    Push {
        server,
        inbox,
        bob_inbox,
    }
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.net>\r\nTo: someone@example.com\r\nSubject: {subject}\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <{subject}@example.net>\r\n\r\nhi\r\n"
    )
    .into_bytes()
}

fn deliver(server: &TestServer, to: &str, subject: &str) {
    server.deliver(to, &message(subject));
}

fn ping_doc(heartbeat: Option<u64>, folders: &[FolderId]) -> Element {
    let mut doc = Element::new(ping::PING);
    if let Some(seconds) = heartbeat {
        doc.push_text(ping::HEARTBEAT_INTERVAL, seconds.to_string());
    }
    if !folders.is_empty() {
        let list = doc.push(Element::new(ping::FOLDERS));
        for id in folders {
            list.push(Element::new(ping::FOLDER))
                .push_text(ping::ID, id.to_string())
                .push_text(ping::CLASS, "Email");
        }
    }
    doc
}

/// A Ping answer: Status, the changed folders, the whole document, and how long it took.
struct PingAnswer {
    status: String,
    folders: Vec<String>,
    doc: Element,
    took: Duration,
}

fn ping_with(device: &mut TestDevice, doc: Option<&Element>) -> PingAnswer {
    let started = Instant::now();
    let response = device.command("Ping", doc);
    let took = started.elapsed();
    assert_eq!(response.status(), 200, "{:?}", response.http);
    common::libwbxml_agrees(&response.http.body, "<Ping");
    let doc = response.doc().clone();
    assert_eq!(doc.tag, ping::PING);
    let folders = doc
        .child(ping::FOLDERS)
        .map(|l| {
            l.children_with(ping::FOLDER)
                .filter_map(|f| f.text())
                .collect()
        })
        .unwrap_or_default();
    PingAnswer {
        status: doc.child_text(ping::STATUS).unwrap_or_default(),
        folders,
        doc,
        took,
    }
}

fn ping(device: &mut TestDevice, heartbeat: u64, folders: &[FolderId]) -> PingAnswer {
    ping_with(device, Some(&ping_doc(Some(heartbeat), folders)))
}

/// Runs a Ping from its own device (own connection) on another thread.
fn ping_in_background(
    server: &TestServer,
    email: &str,
    device_id: &str,
    heartbeat: u64,
    folders: Vec<FolderId>,
) -> std::thread::JoinHandle<PingAnswer> {
    let mut device = server.device(email, device_id);
    std::thread::spawn(move || ping(&mut device, heartbeat, &folders))
}

/// Sends one Sync collection and returns its answer.
fn sync(
    device: &mut TestDevice,
    key: &str,
    folder: FolderId,
    fill: impl FnOnce(&mut Element),
) -> Element {
    sync_one(device, collection(key, folder, fill))
}

/// Brings the device's copy of `folder` up to date; returns the key and the answer.
fn sync_up(device: &mut TestDevice, folder: FolderId) -> (String, Element) {
    let first = sync(device, "0", folder, |_| {});
    let key = first.child_text(airsync::SYNC_KEY).expect("key");
    let answer = sync(device, &key, folder, |_| {});
    let key = answer.child_text(airsync::SYNC_KEY).expect("key");
    (key, answer)
}

/// Waits until the server log shows `count` parked requests (log-level debug).
fn wait_parked(server: &TestServer, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.log().matches("parked for").count() < count {
        assert!(Instant::now() < deadline, "not parked:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_ping_is_woken_by_deliver_and_not_by_another_users_mail() {
    let push = start();
    let mut phone = push.server.device(ALICE, "phone");
    sync_up(&mut phone, push.inbox);
    let parked = ping_in_background(&push.server, ALICE, "phone", 60, vec![push.inbox]);
    wait_parked(&push.server, 1);
    deliver(&push.server, ALICE, "news");
    let answer = parked.join().unwrap();
    assert_eq!(answer.status, "2");
    assert_eq!(answer.folders, vec![push.inbox.to_string()]);
    assert!(answer.took < Duration::from_secs(10), "{:?}", answer.took);

    // Bob's mail does not concern Alice: her Ping runs to the end of its heartbeat.
    sync_up(&mut phone, push.inbox);
    let parked = ping_in_background(&push.server, ALICE, "phone", 2, vec![push.inbox]);
    wait_parked(&push.server, 2);
    deliver(&push.server, BOB, "for bob");
    let answer = parked.join().unwrap();
    assert_eq!(answer.status, "1");
    assert!(
        answer.took >= Duration::from_millis(1900),
        "{:?}",
        answer.took
    );
    assert!(answer.doc.child(ping::FOLDERS).is_none());
    let _ = push.bob_inbox;
}

#[test]
fn a_change_from_a_second_device_wakes_the_first() {
    let push = start();
    deliver(&push.server, ALICE, "shared");
    let mut phone = push.server.device(ALICE, "phone");
    let mut tablet = push.server.device(ALICE, "tablet");
    sync_up(&mut phone, push.inbox);
    let (tablet_key, answer) = sync_up(&mut tablet, push.inbox);
    let item = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .and_then(|a| a.child_text(airsync::SERVER_ID))
        .expect("the message on the tablet");

    let parked = ping_in_background(&push.server, ALICE, "phone", 60, vec![push.inbox]);
    wait_parked(&push.server, 1);
    let changed = sync(&mut tablet, &tablet_key, push.inbox, |c| {
        c.push(Element::new(airsync::COMMANDS))
            .push(Element::new(airsync::CHANGE))
            .push_text(airsync::SERVER_ID, item.clone())
            .push(Element::new(airsync::APPLICATION_DATA))
            .push_text(email::READ, "1");
    });
    assert_eq!(changed.child_text(airsync::STATUS).as_deref(), Some("1"));
    let answer = parked.join().unwrap();
    assert_eq!(answer.status, "2");
    assert_eq!(answer.folders, vec![push.inbox.to_string()]);
    assert!(answer.took < Duration::from_secs(10), "{:?}", answer.took);
}

#[test]
fn a_move_from_a_second_device_wakes_the_first() {
    let push = start();
    deliver(&push.server, ALICE, "to move");
    let mut phone = push.server.device(ALICE, "phone");
    let mut tablet = push.server.device(ALICE, "tablet");
    sync_up(&mut phone, push.inbox);
    let (_, answer) = sync_up(&mut tablet, push.inbox);
    let item = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .and_then(|a| a.child_text(airsync::SERVER_ID))
        .expect("the message on the tablet");
    let (store, user) = push.server.store_and_user(ALICE);
    let deleted = common::folder(&store, user, FolderType::DeletedItems);

    let parked = ping_in_background(&push.server, ALICE, "phone", 60, vec![push.inbox]);
    wait_parked(&push.server, 1);
    let mut doc = Element::new(move_items::MOVE_ITEMS);
    doc.push(Element::new(move_items::MOVE))
        .push_text(move_items::SRC_MSG_ID, item)
        .push_text(move_items::SRC_FLD_ID, push.inbox.to_string())
        .push_text(move_items::DST_FLD_ID, deleted.to_string());
    let moved = tablet.command("MoveItems", Some(&doc));
    assert_eq!(moved.status(), 200);
    let status = moved
        .doc()
        .child(move_items::RESPONSE)
        .and_then(|r| r.child_text(move_items::STATUS));
    assert_eq!(status.as_deref(), Some("3"), "MoveItems succeeded");
    let answer = parked.join().unwrap();
    assert_eq!(answer.status, "2");
    assert_eq!(answer.folders, vec![push.inbox.to_string()]);
    assert!(answer.took < Duration::from_secs(10), "{:?}", answer.took);
}

#[test]
fn a_change_between_sync_and_ping_answers_at_once() {
    let push = start();
    let mut phone = push.server.device(ALICE, "phone");
    sync_up(&mut phone, push.inbox);
    deliver(&push.server, ALICE, "meanwhile");
    let answer = ping(&mut phone, 60, &[push.inbox]);
    assert_eq!(answer.status, "2");
    assert_eq!(answer.folders, vec![push.inbox.to_string()]);
    assert!(answer.took < Duration::from_secs(5), "{:?}", answer.took);
}

#[test]
fn heartbeat_expiry_and_the_empty_ping() {
    let push = start();
    let mut phone = push.server.device(ALICE, "phone");
    // Nothing stored yet: an empty Ping lacks its parameters.
    assert_eq!(ping_with(&mut phone, None).status, "3");
    sync_up(&mut phone, push.inbox);
    let answer = ping(&mut phone, 1, &[push.inbox]);
    assert_eq!(answer.status, "1");
    assert!(
        answer.took >= Duration::from_millis(900),
        "{:?}",
        answer.took
    );
    // The empty Ping reuses heartbeat and folders.
    let answer = ping_with(&mut phone, None);
    assert_eq!(answer.status, "1");
    assert!(
        answer.took >= Duration::from_millis(900),
        "{:?}",
        answer.took
    );
    // And it watches the same folders: a change is reported with the stored folder.
    deliver(&push.server, ALICE, "news");
    let answer = ping_with(&mut phone, None);
    assert_eq!(answer.status, "2");
    assert_eq!(answer.folders, vec![push.inbox.to_string()]);
    // A Ping element with only a heartbeat takes the folders from the stored ones too.
    sync_up(&mut phone, push.inbox);
    let answer = ping_with(&mut phone, Some(&ping_doc(Some(1), &[])));
    assert_eq!(answer.status, "1");
}

#[test]
fn bad_heartbeats_too_many_folders_and_malformed_pings() {
    let push = start();
    let server = &push.server;
    assert!(server
        .easd(&["config", "set", "push.heartbeat-min", "30"])
        .status
        .success());
    let mut phone = server.device(ALICE, "phone");
    let answer = ping(&mut phone, 10, &[push.inbox]);
    assert_eq!(answer.status, "5");
    assert_eq!(
        answer.doc.child_text(ping::HEARTBEAT_INTERVAL).as_deref(),
        Some("30")
    );
    let answer = ping(&mut phone, 5000, &[push.inbox]);
    assert_eq!(answer.status, "5");
    assert_eq!(
        answer.doc.child_text(ping::HEARTBEAT_INTERVAL).as_deref(),
        Some("1800")
    );
    assert!(server
        .easd(&["config", "set", "push.heartbeat-max", "600"])
        .status
        .success());
    let answer = ping(&mut phone, 601, &[push.inbox]);
    assert_eq!(answer.status, "5");
    assert_eq!(
        answer.doc.child_text(ping::HEARTBEAT_INTERVAL).as_deref(),
        Some("600")
    );

    assert!(server
        .easd(&["config", "set", "push.max-folders", "1"])
        .status
        .success());
    let answer = ping(&mut phone, 60, &[push.inbox, push.inbox + 1]);
    assert_eq!(answer.status, "6");
    assert_eq!(
        answer.doc.child_text(ping::MAX_FOLDERS).as_deref(),
        Some("1")
    );

    let mut bad = Element::new(ping::PING);
    bad.push_text(ping::HEARTBEAT_INTERVAL, "soon");
    assert_eq!(ping_with(&mut phone, Some(&bad)).status, "4");
    let mut no_id = Element::new(ping::PING);
    no_id
        .push(Element::new(ping::FOLDERS))
        .push(Element::new(ping::FOLDER))
        .push_text(ping::CLASS, "Email");
    assert_eq!(ping_with(&mut phone, Some(&no_id)).status, "4");
}

#[test]
fn config_cli_lists_validates_and_explains_the_settings() {
    let push = start();
    let server = &push.server;
    let out = server.easd(&["config", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for key in [
        "push.heartbeat-min",
        "push.heartbeat-max",
        "push.max-folders",
    ] {
        assert!(help.contains(key), "{help}");
    }
    let out = server.easd(&["config", "get", "push.heartbeat-max"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1800");
    assert!(!server
        .easd(&["config", "set", "push.nonsense", "1"])
        .status
        .success());
    assert!(!server
        .easd(&["config", "set", "push.heartbeat-max", "soon"])
        .status
        .success());
    assert!(server
        .easd(&["config", "set", "push.heartbeat-max", "900"])
        .status
        .success());
    let out = server.easd(&["config", "list"]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("push.heartbeat-max = 900  (set"), "{list}");
    assert!(list.contains("push.max-folders = 300  (default"), "{list}");
    assert!(server
        .easd(&["config", "unset", "push.heartbeat-max"])
        .status
        .success());
    let out = server.easd(&["config", "get", "push.heartbeat-max"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1800");
}

#[test]
fn a_new_ping_supersedes_the_parked_one() {
    let push = start();
    let mut phone = push.server.device(ALICE, "phone");
    sync_up(&mut phone, push.inbox);
    let first = ping_in_background(&push.server, ALICE, "phone", 60, vec![push.inbox]);
    wait_parked(&push.server, 1);
    let second = ping(&mut phone, 2, &[push.inbox]);
    let first = first.join().unwrap();
    assert_eq!(first.status, "1");
    assert!(first.took < Duration::from_secs(10), "{:?}", first.took);
    assert_eq!(second.status, "1");
    assert!(
        second.took >= Duration::from_millis(1900),
        "{:?}",
        second.took
    );
}

#[test]
fn a_vanished_folder_needs_folder_sync_and_is_explained_after_three_pings() {
    let push = start();
    let mut phone = push.server.device(ALICE, "phone");
    let (_, _) = sync_up(&mut phone, push.inbox);
    let gone: FolderId = 987_654;
    for _ in 0..3 {
        assert_eq!(ping(&mut phone, 60, &[push.inbox, gone]).status, "7");
    }
    // The folder is no longer watched; the Inbox got the explanation, so it changed.
    let answer = ping(&mut phone, 60, &[push.inbox, gone]);
    assert_eq!(answer.status, "2");
    assert_eq!(answer.folders, vec![push.inbox.to_string()]);
    let (_, answer) = sync_up(&mut phone, push.inbox);
    let subject = answer
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .and_then(|a| a.child(airsync::APPLICATION_DATA))
        .and_then(|d| d.child_text(email::SUBJECT))
        .expect("the explanation in the Inbox");
    assert!(subject.contains("set up again"), "{subject}");
    let bodies = format!("{answer:?}");
    assert!(bodies.contains("remove this account"), "{bodies}");
}

#[test]
fn sigterm_answers_every_parked_ping() {
    let mut push = start();
    let mut parked = Vec::new();
    for n in 0..3 {
        let id = format!("phone{n}");
        let mut device = push.server.device(ALICE, &id);
        sync_up(&mut device, push.inbox);
        parked.push(ping_in_background(
            &push.server,
            ALICE,
            &id,
            600,
            vec![push.inbox],
        ));
    }
    wait_parked(&push.server, 3);
    let status = push.server.stop();
    assert!(status.success(), "{status:?}");
    for handle in parked {
        let answer = handle.join().unwrap();
        assert_eq!(answer.status, "1");
        assert!(answer.took < Duration::from_secs(20), "{:?}", answer.took);
    }
}

/// A Sync of one collection with a wait element (`Wait` or `HeartbeatInterval`).
fn hanging_sync_doc(key: &str, folder: FolderId, wait: &[(easd::wbxml::Tag, &str)]) -> Element {
    let mut doc = Element::new(airsync::SYNC);
    doc.push(Element::new(airsync::COLLECTIONS))
        .push(Element::new(airsync::COLLECTION))
        .push_text(airsync::SYNC_KEY, key)
        .push_text(airsync::COLLECTION_ID, folder.to_string());
    for (tag, value) in wait {
        doc.push_text(*tag, *value);
    }
    doc
}

#[test]
fn a_hanging_sync_is_woken_by_deliver_and_ends_empty() {
    let push = start();
    let mut phone = push.server.device(ALICE, "phone");
    let (key, _) = sync_up(&mut phone, push.inbox);

    // Nothing new for 2 seconds: the empty Sync response (HTTP 200, no body).
    let started = Instant::now();
    let doc = hanging_sync_doc(&key, push.inbox, &[(airsync::HEARTBEAT_INTERVAL, "2")]);
    let response = phone.command("Sync", Some(&doc));
    assert_eq!(response.status(), 200);
    assert!(response.http.body.is_empty(), "{:?}", response.doc);
    assert!(started.elapsed() >= Duration::from_millis(1900));

    // A delivery while it waits: the new mail comes at once.
    let server = &push.server;
    let mut waiting = server.device(ALICE, "phone");
    let doc = hanging_sync_doc(&key, push.inbox, &[(airsync::WAIT, "1")]);
    let parked = std::thread::spawn(move || {
        let started = Instant::now();
        (waiting.command("Sync", Some(&doc)), started.elapsed())
    });
    wait_parked(server, 2);
    deliver(server, ALICE, "pushed");
    let (response, took) = parked.join().unwrap();
    assert!(took < Duration::from_secs(10), "{took:?}");
    common::libwbxml_agrees(&response.http.body, "pushed");
    let collection = response
        .doc()
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .expect("a collection");
    let subject = collection
        .child(airsync::COMMANDS)
        .and_then(|c| c.child(airsync::ADD))
        .and_then(|a| a.child(airsync::APPLICATION_DATA))
        .and_then(|d| d.child_text(email::SUBJECT));
    assert_eq!(subject.as_deref(), Some("pushed"));
}

#[test]
fn hanging_sync_bounds() {
    let push = start();
    let mut phone = push.server.device(ALICE, "phone");
    let (key, _) = sync_up(&mut phone, push.inbox);
    let top_status = |response: &common::EasResponse| {
        let doc = response.doc();
        (
            doc.child_text(airsync::STATUS).unwrap_or_default(),
            doc.child_text(airsync::LIMIT),
        )
    };
    let both = hanging_sync_doc(
        &key,
        push.inbox,
        &[(airsync::WAIT, "5"), (airsync::HEARTBEAT_INTERVAL, "300")],
    );
    assert_eq!(
        top_status(&phone.command("Sync", Some(&both))),
        ("4".into(), None)
    );
    let long = hanging_sync_doc(&key, push.inbox, &[(airsync::WAIT, "60")]);
    assert_eq!(
        top_status(&phone.command("Sync", Some(&long))),
        ("14".into(), Some("30".into()))
    );
    let long = hanging_sync_doc(&key, push.inbox, &[(airsync::HEARTBEAT_INTERVAL, "3000")]);
    assert_eq!(
        top_status(&phone.command("Sync", Some(&long))),
        ("14".into(), Some("1800".into()))
    );
    assert!(push
        .server
        .easd(&["config", "set", "push.heartbeat-min", "120"])
        .status
        .success());
    let short = hanging_sync_doc(&key, push.inbox, &[(airsync::HEARTBEAT_INTERVAL, "60")]);
    assert_eq!(
        top_status(&phone.command("Sync", Some(&short))),
        ("14".into(), Some("120".into()))
    );
    let short = hanging_sync_doc(&key, push.inbox, &[(airsync::WAIT, "1")]);
    assert_eq!(
        top_status(&phone.command("Sync", Some(&short))),
        ("14".into(), Some("2".into()))
    );
}
