//! What reaches the disk: a phone that is up to date costs the storage nothing (flash wear on
//! routers and NAS boxes). A Sync with nothing new and a FolderSync with the current key leave
//! the database file and its write-ahead log byte for byte as they were, and a parked Ping
//! answered later (heartbeat, shutdown) is not a new contact that writes the device's
//! `last_seen`.

mod common;

use std::path::{Path, PathBuf};

use common::{TestDevice, TestServer};
use easd::store::{FolderId, FolderType, Store};
use easd::wbxml::tag::{airsync, airsyncbase as base, folder_hierarchy as fh, ping};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";

fn inbox_of(db: &Path, email: &str) -> FolderId {
    let store = Store::open(db).unwrap();
    let user = store.user_by_email(email).unwrap().unwrap();
    store
        .folders_of(user.id)
        .unwrap()
        .into_iter()
        .find(|f| f.folder_type == FolderType::Inbox)
        .unwrap()
        .id
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.net>\r\nTo: {ALICE}\r\nSubject: note {n}\r\n\
         Message-ID: <note{n}@example.net>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nhello {n}\r\n"
    )
    .into_bytes()
}

/// One Sync of the Inbox; returns the answer's SyncKey (the request's when the answer is
/// empty: nothing changed) and whether more is waiting.
fn sync(device: &mut TestDevice, key: &str, inbox: FolderId) -> (String, bool) {
    let doc = common::sync_request(common::collection(key, inbox, |collection| {
        if key != "0" {
            collection
                .push_text(airsync::GET_CHANGES, "1")
                .push_text(airsync::WINDOW_SIZE, "2");
        }
        collection
            .push(Element::new(airsync::OPTIONS))
            .push_text(airsync::FILTER_TYPE, "0")
            .push(Element::new(base::BODY_PREFERENCE))
            .push_text(base::TYPE, "1")
            .push_text(base::TRUNCATION_SIZE, "100");
    }));
    let response = device.command("Sync", Some(&doc));
    assert_eq!(response.status(), 200);
    let Some(doc) = response.doc.as_ref() else {
        return (key.to_string(), false);
    };
    let answer = doc
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .expect("a Collection");
    assert_eq!(answer.child_text(airsync::STATUS).as_deref(), Some("1"));
    (
        answer.child_text(airsync::SYNC_KEY).expect("a SyncKey"),
        answer.child(airsync::MORE_AVAILABLE).is_some(),
    )
}

fn folder_sync(device: &mut TestDevice, key: &str) -> String {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key);
    let response = device.command("FolderSync", Some(&doc));
    assert_eq!(response.status(), 200);
    let doc = response.doc();
    assert_eq!(doc.child_text(fh::STATUS).as_deref(), Some("1"));
    doc.child_text(fh::SYNC_KEY).expect("a SyncKey")
}

fn last_seen(store: &Store, device_id: &str) -> i64 {
    store
        .connection()
        .query_row(
            "SELECT last_seen FROM devices WHERE device_id = ?1",
            [device_id],
            |row| row.get(0),
        )
        .unwrap()
}

/// The bytes of the database file and of its WAL (empty when there is none).
fn files(db: &Path) -> (Vec<u8>, Vec<u8>) {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    (
        std::fs::read(db).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}

#[test]
fn requests_of_an_up_to_date_phone_leave_the_database_and_wal_unchanged() {
    let server = TestServer::start();
    server.add_user(ALICE);
    let inbox = inbox_of(&server.db, ALICE);
    for n in 0..5 {
        server.deliver(ALICE, &message(n));
    }
    let mut device = server.device(ALICE, "flashphone");
    let hierarchy_key = folder_sync(&mut device, "0");
    let (mut key, _) = sync(&mut device, "0", inbox);
    let mut rounds = 0;
    loop {
        let (next, more) = sync(&mut device, &key, inbox);
        key = next;
        rounds += 1;
        if !more {
            break;
        }
    }
    assert!(
        rounds >= 3,
        "a window of 2 needs several rounds for 5 messages"
    );
    // Up to date from here on.
    let (next, _) = sync(&mut device, &key, inbox);
    key = next;
    let before = files(&server.db);
    for _ in 0..3 {
        assert_eq!(sync(&mut device, &key, inbox).0, key);
        assert_eq!(folder_sync(&mut device, &hierarchy_key), hierarchy_key);
    }
    let after = files(&server.db);
    assert!(before.0 == after.0, "the database file changed");
    assert!(
        before.1 == after.1,
        "the WAL changed ({} -> {} bytes)",
        before.1.len(),
        after.1.len()
    );

    // The comparison can see a write: a new message changes the files.
    server.deliver(ALICE, &message(99));
    assert!(files(&server.db) != after);
}

#[test]
fn a_parked_ping_answered_at_shutdown_does_not_write_the_devices_last_seen() {
    let mut server = TestServer::start_with("log-level = debug");
    server.add_user(ALICE);
    let inbox = inbox_of(&server.db, ALICE);
    let mut device = server.device(ALICE, "parkedphone");
    let (key, _) = sync(&mut device, "0", inbox);
    let (key, _) = sync(&mut device, &key, inbox);
    assert_eq!(sync(&mut device, &key, inbox).0, key);

    let pinger = std::thread::spawn(move || {
        let mut doc = Element::new(ping::PING);
        doc.push_text(ping::HEARTBEAT_INTERVAL, "600");
        doc.push(Element::new(ping::FOLDERS))
            .push(Element::new(ping::FOLDER))
            .push_text(ping::ID, inbox.to_string())
            .push_text(ping::CLASS, "Email");
        let response = device.command("Ping", Some(&doc));
        assert_eq!(response.status(), 200);
        response.doc().child_text(ping::STATUS)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !server.log().contains(": parked for ") {
        assert!(
            std::time::Instant::now() < deadline,
            "the Ping never parked"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // As if the phone had parked its Ping an hour ago: a new contact now would move it.
    let long_ago = {
        let store = Store::open(&server.db).unwrap();
        store
            .connection()
            .execute(
                "UPDATE devices SET last_seen = last_seen - 3600 WHERE device_id = 'parkedphone'",
                [],
            )
            .unwrap();
        last_seen(&store, "parkedphone")
    };
    server.stop();
    assert_eq!(pinger.join().unwrap().as_deref(), Some("1"));
    let store = Store::open(&server.db).unwrap();
    assert_eq!(last_seen(&store, "parkedphone"), long_ago);
}
