//! The EAS endpoint over real HTTP(S): OPTIONS, authentication, both query forms, protocol
//! versions, body limits, device records and FolderSync, against a real `easd serve`.

mod common;

use base64::Engine;
use common::{basic_auth, TestServer, PASSWORD};
use easd::store::Store;
use easd::wbxml::{tag::folder_hierarchy as fh, Element};

const ALICE: &str = "alice@example.com";

fn folder_sync(key: &str) -> Element {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key);
    doc
}

fn server_with_alice() -> TestServer {
    let server = TestServer::start_with("max-body = 64K");
    server.add_user(ALICE);
    server
}

#[test]
fn options_advertises_versions_and_exactly_the_implemented_commands() {
    let server = server_with_alice();
    for mut device in [
        server.device(ALICE, "optionsplain"),
        common::TestDevice::new(server.tls_client(), ALICE, PASSWORD, "optionstls"),
    ] {
        let response = device.options();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("MS-ASProtocolVersions"),
            Some("2.5,12.0,12.1,14.0,14.1,16.0,16.1")
        );
        assert_eq!(response.header("MS-ASProtocolCommands"), Some(ADVERTISED));
        assert!(response.header("MS-Server-ActiveSync").is_some());
    }

    // Every advertised command is really served: none of them answers 501.
    let mut device = server.device(ALICE, "optionsall");
    for command in ADVERTISED.split(',') {
        let status = device.command(command, None).status();
        assert_ne!(status, 501, "{command} is advertised but not implemented");
    }
}

/// What OPTIONS must list: the commands easd implements, and no other.
const ADVERTISED: &str = "Sync,FolderSync,FolderCreate,FolderUpdate,FolderDelete,MoveItems,\
GetItemEstimate,MeetingResponse,Settings,Ping,ItemOperations,Provision,GetAttachment,SendMail,SmartForward,SmartReply,\
Search,ResolveRecipients,ValidateCert,Find";

#[test]
fn missing_or_wrong_credentials_get_401_with_a_challenge() {
    let server = server_with_alice();
    let mut client = server.client();
    let anonymous = client.request("OPTIONS", "/Microsoft-Server-ActiveSync", &[], b"");
    assert_eq!(anonymous.status, 401);
    assert!(anonymous
        .header("WWW-Authenticate")
        .is_some_and(|v| v.starts_with("Basic")));

    let mut wrong = server.device(ALICE, "dev1");
    wrong.password = "guess".into();
    assert_eq!(
        wrong
            .command("FolderSync", Some(&folder_sync("0")))
            .status(),
        401
    );

    let mut stranger = server.device("mallory@example.com", "dev1");
    assert_eq!(
        stranger
            .command("FolderSync", Some(&folder_sync("0")))
            .status(),
        401
    );

    // The path is matched case-insensitively; DOMAIN\user logs in too.
    let auth = basic_auth("example\\alice", PASSWORD);
    let ok = client.request(
        "OPTIONS",
        "/microsoft-server-activesync",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn plain_query_folder_sync_records_the_device_and_syncs_the_hierarchy() {
    let server = server_with_alice();
    let mut device = server.device(ALICE, "Appl1234");
    device.user_agent = "Apple-iPhone/1905.100".into();
    let first = device.command("FolderSync", Some(&folder_sync("0")));
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.http.header("Content-Type"),
        Some("application/vnd.ms-sync.wbxml")
    );
    assert_eq!(&first.http.body[..4], &[0x03, 0x01, 0x6A, 0x00]);
    let doc = first.doc();
    assert_eq!(doc.child_text(fh::STATUS).as_deref(), Some("1"));
    let key = doc.child_text(fh::SYNC_KEY).expect("sync key");
    let changes = doc.child(fh::CHANGES).expect("changes");
    let names: Vec<String> = changes
        .children_with(fh::ADD)
        .filter_map(|a| a.child_text(fh::DISPLAY_NAME))
        .collect();
    for expected in [
        "Inbox",
        "Drafts",
        "Deleted Items",
        "Sent Items",
        "Outbox",
        "Contacts",
        "Calendar",
        "Tasks",
        "Notes",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing in {names:?}"
        );
    }
    assert_eq!(changes.child_text(fh::COUNT), Some(names.len().to_string()));
    // Our answer must read the same through libwbxml, which nobody here wrote.
    common::libwbxml_agrees(&first.http.body, "<DisplayName>Inbox</DisplayName>");

    // Nothing changed: same key, no changes.
    let again = device.command("FolderSync", Some(&folder_sync(&key)));
    assert_eq!(again.doc().child_text(fh::STATUS).as_deref(), Some("1"));
    assert_eq!(
        again.doc().child_text(fh::SYNC_KEY).as_deref(),
        Some(key.as_str())
    );
    let count = again
        .doc()
        .child(fh::CHANGES)
        .and_then(|c| c.child_text(fh::COUNT));
    assert_eq!(count.as_deref(), Some("0"));

    // A key the server never issued: Status 9 (the client starts over with 0).
    let bogus = device.command("FolderSync", Some(&folder_sync("bogus-key")));
    assert_eq!(bogus.doc().child_text(fh::STATUS).as_deref(), Some("9"));

    // Not a FolderSync document at all: Status 10.
    let mut wrong = Element::new(fh::FOLDER_CREATE);
    wrong.push_text(fh::SYNC_KEY, "0");
    let malformed = device.command("FolderSync", Some(&wrong));
    assert_eq!(
        malformed.doc().child_text(fh::STATUS).as_deref(),
        Some("10")
    );

    let store = Store::open(&server.db).expect("open db");
    let devices = store.all_devices().expect("devices");
    let (user, recorded) = devices
        .iter()
        .find(|(_, d)| d.device_id == "Appl1234")
        .expect("device recorded");
    assert_eq!(user.email, ALICE);
    assert_eq!(recorded.device_type, "TestPhone");
    assert_eq!(recorded.user_agent, "Apple-iPhone/1905.100");
    assert_eq!(recorded.protocol_version, "16.1");
    assert!(recorded.first_seen > 0 && recorded.last_seen >= recorded.first_seen);
}

#[test]
fn a_lost_folder_sync_answer_is_replayed_for_the_previous_key() {
    let server = server_with_alice();
    let mut device = server.device(ALICE, "replay1");
    let first = device.command("FolderSync", Some(&folder_sync("0")));
    let key1 = first.doc().child_text(fh::SYNC_KEY).expect("key");
    // Change the hierarchy behind the device's back through the store.
    let store = Store::open(&server.db).expect("db");
    let alice = store.user_by_email(ALICE).expect("q").expect("alice");
    store
        .create_folder(
            alice.id,
            None,
            "Projects",
            easd::store::FolderType::UserMail,
        )
        .expect("folder");
    let second = device.command("FolderSync", Some(&folder_sync(&key1)));
    let key2 = second.doc().child_text(fh::SYNC_KEY).expect("key");
    assert_ne!(key1, key2);
    // The device never saw `second`; it repeats key1 and gets the same change with a new key.
    for _ in 0..3 {
        let replay = device.command("FolderSync", Some(&folder_sync(&key1)));
        let doc = replay.doc();
        assert_eq!(doc.child_text(fh::STATUS).as_deref(), Some("1"));
        let added: Vec<String> = doc
            .child(fh::CHANGES)
            .expect("changes")
            .children_with(fh::ADD)
            .filter_map(|a| a.child_text(fh::DISPLAY_NAME))
            .collect();
        assert_eq!(added, vec!["Projects".to_string()]);
    }
}

/// Builds the MS-ASHTTP base64 query by hand, field by field, independently of the server's
/// own encoder.
fn binary_query(
    version: u8,
    command: u8,
    device_id: &[u8],
    policy_key: Option<u32>,
    device_type: &str,
    params: &[(u8, &[u8])],
) -> String {
    let mut bytes = vec![version, command, 0x09, 0x04];
    bytes.push(device_id.len() as u8);
    bytes.extend_from_slice(device_id);
    match policy_key {
        Some(key) => {
            bytes.push(4);
            bytes.extend_from_slice(&key.to_le_bytes());
        }
        None => bytes.push(0),
    }
    bytes.push(device_type.len() as u8);
    bytes.extend_from_slice(device_type.as_bytes());
    for (tag, value) in params {
        bytes.push(*tag);
        bytes.push(value.len() as u8);
        bytes.extend_from_slice(value);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn base64_query_with_every_field_is_understood() {
    let server = server_with_alice();
    let mut device = server.device(ALICE, "unused");
    device.version = "".into(); // the version travels inside the binary query
    let query = binary_query(
        141,
        9, // FolderSync
        b"B64DEVICE0001",
        Some(0x1234_5678),
        "SmartPhone",
        &[(8, ALICE.as_bytes()), (7, &[0x01]), (1, b"5"), (3, b"item")],
    );
    let target = format!("/Microsoft-Server-ActiveSync?{}", common::percent(&query));
    let bytes = easd::wbxml::encode(&folder_sync("0"));
    let response = device.post(&target, &bytes);
    assert_eq!(response.status(), 200, "{:?}", response.http);
    assert_eq!(response.doc().child_text(fh::STATUS).as_deref(), Some("1"));

    let store = Store::open(&server.db).expect("db");
    let devices = store.all_devices().expect("devices");
    let recorded = devices
        .iter()
        .map(|(_, d)| d)
        .find(|d| d.device_id == "B64DEVICE0001")
        .expect("device from the binary query");
    assert_eq!(recorded.device_type, "SmartPhone");
    assert_eq!(recorded.protocol_version, "14.1");

    // A truncated binary query is malformed: 400.
    let truncated = &query[..8];
    let response = device.post(&format!("/Microsoft-Server-ActiveSync?{truncated}"), &bytes);
    assert_eq!(response.status(), 400);
}

#[test]
fn bad_requests_get_the_http_status_of_ms_ashttp() {
    let server = server_with_alice();
    let mut device = server.device(ALICE, "dev400");
    let body = easd::wbxml::encode(&folder_sync("0"));

    // No command at all: 400. A command easd does not offer: 501.
    let missing = device.post(
        "/Microsoft-Server-ActiveSync?User=alice&DeviceId=x&DeviceType=y",
        &body,
    );
    assert_eq!(missing.status(), 400);
    let unknown = device.command("Frobnicate", Some(&folder_sync("0")));
    assert_eq!(unknown.status(), 501);
    let unimplemented = device.command("GetHierarchy", None);
    assert_eq!(unimplemented.status(), 501);

    // An unsupported protocol version: 400, with the versions that are supported.
    device.version = "15.0".into();
    let version = device.command("FolderSync", Some(&folder_sync("0")));
    assert_eq!(version.status(), 400);
    assert!(version.http.header("MS-ASProtocolVersions").is_some());
    device.version = "16.1".into();

    // A body that is not WBXML: 400.
    let garbage = device.post(
        &format!(
            "/Microsoft-Server-ActiveSync?{}",
            device.query("FolderSync")
        ),
        &[0x03, 0x01, 0x6A, 0x00, 0x45, 0xFF],
    );
    assert_eq!(garbage.status(), 400);

    // Another user's mailbox in the query: 403.
    server.add_user("bob@example.com");
    let target = "/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=bob%40example.com&DeviceId=dev400&DeviceType=TestPhone";
    assert_eq!(device.post(target, &body).status(), 403);

    // Unknown paths: 404.
    let mut client = server.client();
    assert_eq!(client.request("GET", "/nothing-here", &[], b"").status, 404);
}

#[test]
fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let server = server_with_alice();
    let mut client = server.client();
    let auth = basic_auth(ALICE, PASSWORD);
    // Announce 10 MB but send only the head: the answer must come without the body.
    let head = format!(
        "POST /Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=big&DeviceType=t HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nMS-ASProtocolVersion: 16.1\r\nContent-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: 10000000\r\n\r\n"
    );
    let response = client.raw(head.as_bytes());
    assert_eq!(response.status, 413);
}

#[test]
fn autodiscover_answers_both_schemas_and_their_errors() {
    let server = server_with_alice();
    let mut client = server.tls_client();
    let auth = basic_auth(ALICE, PASSWORD);
    let request = |email: &str, schema: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006\"><Request><EMailAddress>{email}</EMailAddress><AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
        )
    };
    let mobilesync =
        "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006";
    let outlook = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    let ok = client.request(
        "POST",
        "/Autodiscover/Autodiscover.xml",
        &[("Authorization", &auth), ("Content-Type", "text/xml")],
        request(ALICE, mobilesync).as_bytes(),
    );
    assert_eq!(ok.status, 200);
    let text = String::from_utf8(ok.body.clone()).expect("utf-8");
    assert!(text.contains("<Type>MobileSync</Type>"), "{text}");
    let url = format!(
        "<Url>https://localhost:{}/Microsoft-Server-ActiveSync</Url>",
        server.https.port()
    );
    assert!(text.contains(&url), "{url} in {text}");
    assert!(text.contains(ALICE), "{text}");

    let ok = client.request(
        "POST",
        "/autodiscover/autodiscover.xml",
        &[("Authorization", &auth)],
        request(ALICE, outlook).as_bytes(),
    );
    assert_eq!(ok.status, 200);
    let text = String::from_utf8(ok.body.clone()).expect("utf-8");
    assert!(text.contains("MobileSync"), "{text}");
    assert!(text.contains("responseschema/2006a"), "{text}");

    // Someone else's address: an error, not their settings.
    let other = client.request(
        "POST",
        "/autodiscover/autodiscover.xml",
        &[("Authorization", &auth)],
        request("bob@example.com", mobilesync).as_bytes(),
    );
    let text = String::from_utf8(other.body.clone()).expect("utf-8");
    assert!(text.contains("Error"), "{text}");
    assert!(!text.contains("<Url>"), "{text}");

    // A schema nobody offers.
    let schema = client.request(
        "POST",
        "/autodiscover/autodiscover.xml",
        &[("Authorization", &auth)],
        request(ALICE, "urn:example:nothing").as_bytes(),
    );
    let text = String::from_utf8(schema.body.clone()).expect("utf-8");
    assert!(text.contains("Error"), "{text}");

    // Not XML.
    let bad = client.request(
        "POST",
        "/autodiscover/autodiscover.xml",
        &[("Authorization", &auth)],
        b"this is not xml",
    );
    assert!(bad.status == 400 || String::from_utf8_lossy(&bad.body).contains("Error"));

    // Unauthenticated.
    let anonymous = client.request(
        "POST",
        "/autodiscover/autodiscover.xml",
        &[],
        request(ALICE, mobilesync).as_bytes(),
    );
    assert_eq!(anonymous.status, 401);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = server_with_alice();
    let mut device = server.device(ALICE, "stop1");
    assert_eq!(
        device
            .command("FolderSync", Some(&folder_sync("0")))
            .status(),
        200
    );
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    // The database is intact and closed: it opens and has the device.
    let store = Store::open(&server.db).expect("db");
    assert!(store
        .all_devices()
        .expect("devices")
        .iter()
        .any(|(_, d)| d.device_id == "stop1"));
}

#[test]
fn every_request_is_logged_and_debug_wire_shows_the_documents() {
    let server = TestServer::start_with("debug-wire = true");
    server.add_user(ALICE);
    let mut device = server.device(ALICE, "logged1");
    assert_eq!(
        device
            .command("FolderSync", Some(&folder_sync("0")))
            .status(),
        200
    );
    // The log is written by the server process; give it a moment to reach the file.
    let mut log = String::new();
    for _ in 0..50 {
        log = server.log();
        if log.contains("response FolderSync") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        log.lines()
            .any(|l| l.contains("alice@example.com logged1 FolderSync") && l.contains(" 200 ")),
        "{log}"
    );
    assert!(log.contains("<SyncKey>0</SyncKey>"), "{log}");
    assert!(log.contains("<DisplayName>Inbox</DisplayName>"), "{log}");
    assert!(!log.contains(PASSWORD), "the password must never be logged");
}
