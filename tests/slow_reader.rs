//! Phones that ask for a large attachment and then stop reading, against the real `easd
//! serve`: the request loop must not wait for them. The front door takes each answer from
//! the loop at the loop's pace, keeps what the phone has not taken in memory up to a budget
//! and the rest in an unlinked spool file, and sends it at the phone's pace. Meanwhile other
//! devices are answered, the server's memory stays far below the size of the answers, and a
//! phone that reads again gets every byte.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{
    attachment_bytes, basic_auth, message_with_attachment, read_response, Stream, TestDevice,
    TestServer, PASSWORD,
};
use easd::store::{FolderId, FolderType, Store};
use easd::wbxml::tag::{
    airsync, airsyncbase as base, folder_hierarchy as fh, item_operations as io,
};
use easd::wbxml::{self, Element};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
/// Larger than everything the loopback sockets can hold between the server and a phone.
const ATTACHMENT_BYTES: usize = 50 * 1024 * 1024;
/// Far less than one answer: the server cannot be holding the answers in memory.
const RSS_BOUND_KIB: u64 = 40 * 1024;
/// Generous bound on waiting for the server to reach a state the test needs.
const PATIENCE: Duration = Duration::from_secs(120);

const FROM_CAROL: &str = "Carol <carol@example.com>";

fn inbox(store: &Store, email: &str) -> FolderId {
    let user = store.user_by_email(email).unwrap().expect("user").id;
    common::folder(store, user, FolderType::Inbox)
}

fn sync_request(key: &str, folder: FolderId) -> Element {
    let mut doc = Element::new(airsync::SYNC);
    doc.push(Element::new(airsync::COLLECTIONS))
        .push(Element::new(airsync::COLLECTION))
        .push_text(airsync::SYNC_KEY, key)
        .push_text(airsync::COLLECTION_ID, folder.to_string());
    doc
}

/// Syncs `folder` from key 0: (Status, the Adds' ApplicationData).
fn initial_sync(device: &mut TestDevice, folder: FolderId) -> (String, Vec<Element>) {
    let first = device.command("Sync", Some(&sync_request("0", folder)));
    assert_eq!(first.status(), 200);
    let collection = |doc: &Element| {
        doc.child(airsync::COLLECTIONS)
            .and_then(|l| l.child(airsync::COLLECTION))
            .cloned()
            .expect("a Collection")
    };
    let key = collection(first.doc())
        .child_text(airsync::SYNC_KEY)
        .expect("a SyncKey");
    let second = device.command("Sync", Some(&sync_request(&key, folder)));
    assert_eq!(second.status(), 200);
    let answer = collection(second.doc());
    let adds = answer
        .child(airsync::COMMANDS)
        .map(|c| {
            c.children_with(airsync::ADD)
                .filter_map(|add| add.child(airsync::APPLICATION_DATA).cloned())
                .collect()
        })
        .unwrap_or_default();
    (answer.child_text(airsync::STATUS).unwrap_or_default(), adds)
}

fn file_reference(data: &Element) -> String {
    data.child(base::ATTACHMENTS)
        .and_then(|a| a.child(base::ATTACHMENT))
        .and_then(|a| a.child_text(base::FILE_REFERENCE))
        .expect("a FileReference")
}

/// The bytes of one EAS POST, as a phone sends them.
fn post_bytes(device: &TestDevice, query: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST /Microsoft-Server-ActiveSync?{query} HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: {}\r\nMS-ASProtocolVersion: {}\r\n\
         Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: {}\r\n",
        basic_auth(&device.login, PASSWORD),
        device.version,
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A phone's connection that sends one request and then reads nothing until told to.
fn stalled_request(server: &TestServer, tls: bool, request: &[u8]) -> Box<dyn Stream> {
    let addr = if tls { server.https } else { server.http };
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut stream: Box<dyn Stream> = if tls {
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(common::tls_client_config(), name).expect("tls");
        Box::new(rustls::StreamOwned::new(conn, tcp))
    } else {
        Box::new(tcp)
    };
    stream.write_all(request).expect("send the request");
    stream.flush().expect("flush");
    stream
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server's open spool files of answers (unlinked, so only /proc still names them).
fn spooled_answers(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's descriptors")
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter(|target| target.to_string_lossy().contains(".easd-answer-"))
        .count()
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .expect("a /proc status field")
}

/// The multipart ItemOperations answer's second part (the attachment).
fn second_part(body: &[u8]) -> &[u8] {
    let word = |i: usize| u32::from_le_bytes(body[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
    assert_eq!(word(0), 2, "two parts");
    let (offset, length) = (word(3), word(4));
    assert_eq!(offset + length, body.len());
    &body[offset..]
}

#[test]
fn phones_that_stop_reading_hold_up_nobody_and_get_every_byte_later() {
    let server = TestServer::start();
    server.add_user(ALICE);
    server.add_user(BOB);
    let pid = server.pid();
    let original = attachment_bytes(ATTACHMENT_BYTES);
    server.deliver(
        ALICE,
        &message_with_attachment(FROM_CAROL, ALICE, "Large", &original),
    );
    server.deliver(
        BOB,
        &message_with_attachment(FROM_CAROL, BOB, "Small", b"a few bytes"),
    );
    let store = Store::open(&server.db).expect("the server's database");

    let mut alice = server.device(ALICE, "alice-phone");
    let (status, adds) = initial_sync(&mut alice, inbox(&store, ALICE));
    assert_eq!(status, "1");
    let reference = file_reference(&adds[0]);
    // Bob's phone signed in before (a password check costs the server ~19 MiB of argon2
    // memory, briefly). From here on the peak counts only what the large answers cost.
    let mut bob = server.device(BOB, "bob-phone");
    assert_eq!(bob.options().status, 200);
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS");

    // Two phones ask for the 50 MB attachment, one as GetAttachment over plain HTTP, one as
    // a multipart ItemOperations Fetch over TLS, and then read nothing.
    let mut legacy = server.device(ALICE, "stalled-legacy");
    legacy.version = "12.1".to_string();
    let query = format!(
        "{}&AttachmentName={}",
        legacy.query("GetAttachment"),
        common::percent(&reference)
    );
    let mut plain_stalled = stalled_request(&server, false, &post_bytes(&legacy, &query, &[], b""));
    wait_until("the loop answers GetAttachment", || {
        server.log().contains(" GetAttachment ")
    });
    let modern = server.device(ALICE, "stalled-modern");
    let mut fetch = Element::new(io::ITEM_OPERATIONS);
    fetch
        .push(Element::new(io::FETCH))
        .push_text(io::STORE, "Mailbox")
        .push_text(base::FILE_REFERENCE, reference.clone());
    let request = post_bytes(
        &modern,
        &modern.query("ItemOperations"),
        &[("MS-ASAcceptMultiPart", "T")],
        &wbxml::encode(&fetch),
    );
    let mut tls_stalled = stalled_request(&server, true, &request);
    wait_until("the loop answers ItemOperations", || {
        server.log().contains(" ItemOperations ")
    });

    // Bob's phone is served while both answers wait for their phones. Before the front door
    // spooled answers, each of these waited until the stalled phones were dropped (30 s of
    // not reading), and the stalled phones then never got their bytes (checked below).
    let options = bob.options();
    assert_eq!(options.status, 200);
    assert!(options.header("MS-ASProtocolVersions").is_some());
    let mut folder_sync = Element::new(fh::FOLDER_SYNC);
    folder_sync.push_text(fh::SYNC_KEY, "0");
    let answer = bob.command("FolderSync", Some(&folder_sync));
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.doc().child_text(fh::STATUS).as_deref(), Some("1"));
    let (status, adds) = initial_sync(&mut bob, inbox(&store, BOB));
    assert_eq!((status.as_str(), adds.len()), ("1", 1));

    // The loop is done with both answers (it answered Bob after them): the front door holds
    // what the phones have not taken, on disk rather than in memory.
    assert_eq!(
        spooled_answers(pid),
        2,
        "the front door holds both answers in spool files"
    );
    let rss = proc_status_kib(pid, "VmRSS");
    let peak = proc_status_kib(pid, "VmHWM");
    println!("server RSS {rss} kB (peak {peak} kB) while two phones hold 50 MB answers");
    assert!(rss < RSS_BOUND_KIB, "server RSS {rss} kB");
    assert!(peak < RSS_BOUND_KIB, "server peak RSS {peak} kB");

    // The phones read again and get every byte; the spool files are gone with the answers.
    let answer = read_response(plain_stalled.as_mut())
        .expect("the GetAttachment answer")
        .expect("a response");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("Content-Type"), Some("application/x-test"));
    assert!(answer.body == original, "GetAttachment bytes differ");
    let answer = read_response(tls_stalled.as_mut())
        .expect("the ItemOperations answer")
        .expect("a response");
    assert_eq!(answer.status, 200);
    assert!(
        second_part(&answer.body) == original,
        "multipart bytes differ"
    );
    assert_eq!(spooled_answers(pid), 0);

    // The connection stays usable for the phone's next request.
    let request = post_bytes(
        &legacy,
        &legacy.query("FolderSync"),
        &[],
        &wbxml::encode(&folder_sync),
    );
    plain_stalled.write_all(&request).expect("send again");
    let again = read_response(plain_stalled.as_mut())
        .expect("the FolderSync answer")
        .expect("a response");
    assert_eq!(again.status, 200);
    let doc = wbxml::decode(&again.body).expect("WBXML");
    assert_eq!(doc.child_text(fh::STATUS).as_deref(), Some("1"));
}
