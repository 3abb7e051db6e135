//! A panic while one request is handled costs that request a 500, not the server: the request
//! loop keeps serving, the panicking request's transaction is rolled back, and SQLite's write
//! lock is free for `easd deliver`. The panics are injected with the test-only
//! `Easd-Test-Fault` header, which the server honours only when started with
//! `EASD_TEST_FAULTS=1`.

mod common;

use common::{basic_auth, HttpClient, TestServer, PASSWORD};
use easd::wbxml::{self, tag::folder_hierarchy as fh, Element};

const ALICE: &str = "alice@example.com";
const TARGET: &str =
    "/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice%40example.com&DeviceId=panicky&DeviceType=TestPhone";

fn folder_sync(client: &mut HttpClient, fault: Option<&str>) -> common::HttpResponse {
    let auth = basic_auth(ALICE, PASSWORD);
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("MS-ASProtocolVersion", "16.1"),
        ("Content-Type", "application/vnd.ms-sync.wbxml"),
    ];
    if let Some(fault) = fault {
        headers.push(("Easd-Test-Fault", fault));
    }
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, "0");
    client.request("POST", TARGET, &headers, &wbxml::encode(&doc))
}

fn folder_sync_status(response: &common::HttpResponse) -> Option<String> {
    assert_eq!(response.status, 200, "{response:?}");
    let doc = wbxml::decode(&response.body).expect("WBXML answer");
    doc.child_text(fh::STATUS)
}

fn options(client: &mut HttpClient) -> u16 {
    let auth = basic_auth(ALICE, PASSWORD);
    client
        .request(
            "OPTIONS",
            "/Microsoft-Server-ActiveSync",
            &[("Authorization", &auth)],
            b"",
        )
        .status
}

fn test_fault_rows(server: &TestServer) -> i64 {
    let db = rusqlite::Connection::open(&server.db).expect("open the database");
    db.query_row(
        "SELECT count(*) FROM settings WHERE key = 'test-fault'",
        [],
        |row| row.get(0),
    )
    .expect("count")
}

#[test]
fn a_panicking_request_gets_500_and_the_server_keeps_serving() {
    let server = TestServer::start_with_env("", &[("EASD_TEST_FAULTS", "1")]);
    server.add_user(ALICE);
    let mut client = server.client();

    for fault in ["panic", "panic-in-transaction"] {
        let response = folder_sync(&mut client, Some(fault));
        assert_eq!(response.status, 500, "{fault}: {response:?}");
        // The same connection, then a fresh one: the loop is alive and answers both.
        assert_eq!(options(&mut client), 200, "OPTIONS after {fault}");
        assert_eq!(
            folder_sync_status(&folder_sync(&mut server.client(), None)).as_deref(),
            Some("1"),
            "FolderSync after {fault}"
        );
    }

    // The write made before the panic was rolled back, and no lock is left behind: another
    // process can write at once.
    assert_eq!(test_fault_rows(&server), 0);
    let delivered = server.easd_stdin(
        &["deliver", ALICE],
        b"From: bob@example.com\r\nTo: alice@example.com\r\nSubject: after the panic\r\n\r\nhi\r\n",
    );
    assert!(delivered.status.success(), "deliver: {delivered:?}");

    let log = server.log();
    assert!(
        log.contains("panic while handling POST /Microsoft-Server-ActiveSync?Cmd=FolderSync"),
        "{log}"
    );
    assert!(
        log.contains("test fault injected inside a write transaction"),
        "{log}"
    );
}

#[test]
fn without_easd_test_faults_the_fault_header_is_ignored() {
    let server = TestServer::start();
    server.add_user(ALICE);
    let response = folder_sync(&mut server.client(), Some("panic-in-transaction"));
    assert_eq!(folder_sync_status(&response).as_deref(), Some("1"));
    assert_eq!(test_fault_rows(&server), 0);
    assert!(
        !server.log().contains("panic while handling"),
        "{}",
        server.log()
    );
}
