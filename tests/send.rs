//! SendMail, SmartReply and SmartForward against `easd serve`: the 14.0+ WBXML form and the
//! 12.x query form, local delivery into Inboxes (seen through Sync), the submission command
//! (a recording script standing in for sendmail), Bcc, From, Sent Items, quoting, forwarding
//! attachments, ReplaceMime, LastVerbExecuted, failures and repeated ClientIds.

mod common;

use common::{folder, SendmailRecorder, TestDevice, TestServer};
use easd::store::{FolderType, LastVerb, Store, UserId};
use easd::wbxml::tag::{airsync, compose_mail as cm, email, email2, folder_hierarchy as fh, ping};
use easd::wbxml::Element;
use mail_parser::{MessageParser, MimeHeaders};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

struct Setup {
    server: TestServer,
    store: Store,
    recorder: SendmailRecorder,
}

fn start() -> Setup {
    start_with("")
}

fn start_with(extra_config: &str) -> Setup {
    let recorder = SendmailRecorder::new();
    let server = TestServer::start_with(&format!("{}\n{extra_config}", recorder.config()));
    server.add_user(ALICE);
    server.add_user(BOB);
    let store = Store::open(&server.db).unwrap();
    Setup {
        server,
        store,
        recorder,
    }
}

fn user(store: &Store, email: &str) -> UserId {
    store.user_by_email(email).unwrap().unwrap().id
}

/// Puts a message into a user's Inbox the way the MTA does; returns its ServerId.
fn deliver(setup: &Setup, email: &str, raw: &[u8]) -> i64 {
    setup.server.deliver(email, raw);
    let user = user(&setup.store, email);
    let inbox = folder(&setup.store, user, FolderType::Inbox);
    setup
        .store
        .items_in_window(user, inbox, None)
        .unwrap()
        .into_iter()
        .map(|item| item.id)
        .max()
        .expect("the delivered message")
}

fn compose(
    root: easd::wbxml::Tag,
    client_id: &str,
    mime: &[u8],
    fill: impl FnOnce(&mut Element),
) -> Element {
    let mut doc = Element::new(root);
    doc.push_text(cm::CLIENT_ID, client_id);
    fill(&mut doc);
    doc.push_opaque(cm::MIME, mime.to_vec());
    doc
}

fn source(item: i64) -> Element {
    let mut source = Element::new(cm::SOURCE);
    source.push_text(cm::ITEM_ID, item.to_string());
    source
}

/// Sends a compose command; `None` for success (HTTP 200, empty body), else the Status.
fn send(device: &mut TestDevice, cmd: &str, doc: &Element) -> Option<String> {
    let response = device.command(cmd, Some(doc));
    assert_eq!(response.status(), 200, "{cmd}");
    response.doc.as_ref().map(|doc| {
        assert_eq!(doc.tag, doc_root(cmd));
        doc.child_text(cm::STATUS).expect("Status")
    })
}

fn doc_root(cmd: &str) -> easd::wbxml::Tag {
    match cmd {
        "SendMail" => cm::SEND_MAIL,
        "SmartReply" => cm::SMART_REPLY,
        _ => cm::SMART_FORWARD,
    }
}

/// The subjects (and LastVerbExecuted values) a fresh Sync of a user's folder shows.
fn synced(
    server: &TestServer,
    email: &str,
    folder_type: FolderType,
    store: &Store,
) -> Vec<(String, Option<String>)> {
    let user = user(store, email);
    let id = folder(store, user, folder_type).to_string();
    let mut device = server.device(email, &format!("sync-{}", easd::store::random_hex(4)));
    let mut hierarchy = Element::new(fh::FOLDER_SYNC);
    hierarchy.push_text(fh::SYNC_KEY, "0");
    assert_eq!(device.command("FolderSync", Some(&hierarchy)).status(), 200);
    let collection = |key: &str| {
        let mut doc = Element::new(airsync::SYNC);
        let mut c = Element::new(airsync::COLLECTION);
        c.push_text(airsync::SYNC_KEY, key)
            .push_text(airsync::COLLECTION_ID, id.clone());
        doc.push(Element::new(airsync::COLLECTIONS)).push(c);
        doc
    };
    let first = device.command("Sync", Some(&collection("0")));
    let key = first
        .doc()
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .and_then(|c| c.child_text(airsync::SYNC_KEY))
        .expect("a key");
    let answer = device.command("Sync", Some(&collection(&key)));
    let Some(commands) = answer
        .doc
        .as_ref()
        .and_then(|d| d.child(airsync::COLLECTIONS))
        .and_then(|l| l.child(airsync::COLLECTION))
        .and_then(|c| c.child(airsync::COMMANDS))
        .cloned()
    else {
        return Vec::new();
    };
    commands
        .children_with(airsync::ADD)
        .filter_map(|add| add.child(airsync::APPLICATION_DATA))
        .map(|data| {
            (
                data.child_text(email::SUBJECT).unwrap_or_default(),
                data.child_text(email2::LAST_VERB_EXECUTED),
            )
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn send_mail_delivers_locally_submits_the_rest_strips_bcc_and_keeps_a_sent_copy() {
    let setup = start();
    let mut phone = setup.server.device(ALICE, "phone");
    // The client claims to be Bob: the server sends as Alice.
    let mime = b"From: Bob <bob@example.com>\r\nTo: Carol <carol@remote.example>\r\n\
                 Cc: bob@example.com\r\nBcc: hidden@remote.example\r\nSubject: Lunch\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\nNoon at the usual place?\r\n";
    let doc = compose(cm::SEND_MAIL, "c-1", mime, |d| {
        d.push_empty(cm::SAVE_IN_SENT_ITEMS);
    });
    assert_eq!(send(&mut phone, "SendMail", &doc), None);

    assert_eq!(setup.recorder.count(), 1);
    let args = setup.recorder.args(0);
    assert_eq!(
        args,
        [
            "-i",
            "-f",
            ALICE,
            "--",
            "carol@remote.example",
            "hidden@remote.example"
        ]
    );
    let sent = text(&setup.recorder.sent(0));
    // No Bcc header, and the hidden address nowhere in the message (only in the envelope).
    assert!(
        !sent
            .lines()
            .any(|line| line.to_ascii_lowercase().starts_with("bcc:")),
        "{sent}"
    );
    assert!(!sent.contains("hidden@remote.example"), "{sent}");
    assert!(!sent.contains("bob@example.com>"), "{sent}");
    let parsed = MessageParser::new().parse(sent.as_bytes()).unwrap();
    assert_eq!(
        parsed.from().unwrap().first().unwrap().address(),
        Some(ALICE)
    );
    assert!(parsed.message_id().is_some() && parsed.date().is_some());
    assert_eq!(
        parsed.body_text(0).unwrap().trim(),
        "Noon at the usual place?"
    );

    // Bob (local) got it through his Inbox, not through the MTA.
    let bobs = synced(&setup.server, BOB, FolderType::Inbox, &setup.store);
    assert_eq!(bobs, [("Lunch".to_string(), None)]);
    // Alice's Sent Items keeps the copy, Bcc included.
    let alice = user(&setup.store, ALICE);
    let sent_items = folder(&setup.store, alice, FolderType::SentItems);
    let copies = setup
        .store
        .items_in_window(alice, sent_items, None)
        .unwrap();
    assert_eq!(copies.len(), 1);
    let mut raw = Vec::new();
    std::io::Read::read_to_end(
        &mut setup.store.open_raw(alice, copies[0].id).unwrap(),
        &mut raw,
    )
    .unwrap();
    assert!(text(&raw).contains("Bcc: hidden@remote.example"));
    assert!(
        setup
            .store
            .message(alice, copies[0].id)
            .unwrap()
            .unwrap()
            .read
    );

    // The phone lost the answer and sends the same ClientId again: nothing goes out twice.
    assert_eq!(send(&mut phone, "SendMail", &doc), None);
    assert_eq!(setup.recorder.count(), 1);
    assert_eq!(
        synced(&setup.server, BOB, FolderType::Inbox, &setup.store).len(),
        1
    );
    // A new ClientId is a new message; without SaveInSentItems no copy is kept.
    let doc = compose(cm::SEND_MAIL, "c-2", mime, |_| {});
    assert_eq!(send(&mut phone, "SendMail", &doc), None);
    assert_eq!(setup.recorder.count(), 2);
    assert_eq!(
        setup
            .store
            .items_in_window(alice, sent_items, None)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_12_x_query_form_takes_the_mime_as_the_body() {
    let setup = start();
    let mut phone = setup.server.device(ALICE, "old-phone");
    phone.version = "12.1".to_string();
    let mime = b"To: dave@remote.example\r\nSubject: Old school\r\n\r\nHello from 12.1\r\n";
    let target = format!(
        "/Microsoft-Server-ActiveSync?{}&SaveInSent=T",
        phone.query("SendMail")
    );
    let auth = common::basic_auth(ALICE, common::PASSWORD);
    let headers = [
        ("Authorization", auth.as_str()),
        ("MS-ASProtocolVersion", "12.1"),
        ("Content-Type", "message/rfc822"),
    ];
    let response = phone.http.request("POST", &target, &headers, mime);
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    assert_eq!(setup.recorder.count(), 1);
    assert!(text(&setup.recorder.sent(0)).contains("Hello from 12.1"));
    let sent = synced(&setup.server, ALICE, FolderType::SentItems, &setup.store);
    assert_eq!(sent, [("Old school".to_string(), None)]);

    // A SmartReply naming an item that does not exist is a bad request in this form.
    let target = format!(
        "/Microsoft-Server-ActiveSync?{}&ItemId=999999&CollectionId=1",
        phone.query("SmartReply")
    );
    let response = phone.http.request("POST", &target, &headers, mime);
    assert_eq!(response.status, 400);
    // So is one that names no item at all.
    let target = format!(
        "/Microsoft-Server-ActiveSync?{}",
        phone.query("SmartForward")
    );
    let response = phone.http.request("POST", &target, &headers, mime);
    assert_eq!(response.status, 400);
    assert_eq!(setup.recorder.count(), 1);
    // The 12.x SmartReply always includes the original.
    let original = deliver(
        &setup,
        ALICE,
        b"From: kate@remote.example\r\nTo: alice@example.com\r\nSubject: Ping\r\n\r\nStill there?\r\n",
    );
    let target = format!(
        "/Microsoft-Server-ActiveSync?{}&ItemId={original}&CollectionId=1",
        phone.query("SmartReply")
    );
    let reply = b"To: kate@remote.example\r\nSubject: Re: Ping\r\n\r\nYes.\r\n";
    let response = phone.http.request("POST", &target, &headers, reply);
    assert_eq!(response.status, 200);
    assert_eq!(setup.recorder.count(), 2);
    let parsed_reply = setup.recorder.sent(1);
    let body = MessageParser::new()
        .parse(&parsed_reply)
        .unwrap()
        .body_text(0)
        .unwrap()
        .into_owned();
    assert!(body.contains("> Still there?"), "{body}");
    let alice = user(&setup.store, ALICE);
    let record = setup.store.message(alice, original).unwrap().unwrap();
    assert_eq!(record.last_verb, Some(LastVerb::ReplyToSender));

    // A failing MTA is a server failure.
    setup.recorder.set_failing(true);
    let target = format!("/Microsoft-Server-ActiveSync?{}", phone.query("SendMail"));
    let response = phone.http.request("POST", &target, &headers, mime);
    assert_eq!(response.status, 500);
}

#[test]
fn smart_reply_quotes_the_original_and_marks_it_replied() {
    let setup = start();
    let original = deliver(
        &setup,
        ALICE,
        b"From: Erin <erin@remote.example>\r\nTo: alice@example.com\r\nSubject: Question\r\n\
          Message-ID: <q1@remote.example>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n\
          Are you coming on Friday?\r\n",
    );
    let mut phone = setup.server.device(ALICE, "phone");
    let mime = b"To: erin@remote.example\r\nSubject: Re: Question\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\nYes, see you there.\r\n";
    let doc = compose(cm::SMART_REPLY, "r-1", mime, |d| {
        d.push(source(original));
    });
    assert_eq!(send(&mut phone, "SmartReply", &doc), None);

    let sent = setup.recorder.sent(0);
    let parsed = MessageParser::new().parse(&sent).unwrap();
    let body = parsed.body_text(0).unwrap();
    assert!(body.starts_with("Yes, see you there."), "{body}");
    assert!(body.contains("> Are you coming on Friday?"), "{body}");
    assert!(body.contains("Erin"), "{body}");
    assert_eq!(parsed.in_reply_to().as_text(), Some("q1@remote.example"));

    let inbox = synced(&setup.server, ALICE, FolderType::Inbox, &setup.store);
    assert_eq!(inbox, [("Question".to_string(), Some("1".to_string()))]);

    // Replying to the sender and someone else is a reply to all.
    let mime = b"To: erin@remote.example, frank@remote.example\r\nSubject: Re: Question\r\n\r\nBoth of you.\r\n";
    let doc = compose(cm::SMART_REPLY, "r-2", mime, |d| {
        d.push(source(original));
    });
    assert_eq!(send(&mut phone, "SmartReply", &doc), None);
    let alice = user(&setup.store, ALICE);
    let record = setup.store.message(alice, original).unwrap().unwrap();
    assert_eq!(record.last_verb, Some(LastVerb::ReplyToAll));

    // An HTML reply keeps its own structure; the original travels along as a message.
    let mime = b"To: erin@remote.example\r\nSubject: Re: Question\r\nMIME-Version: 1.0\r\n\
                 Content-Type: text/html; charset=utf-8\r\n\r\n<p>See you!</p>\r\n";
    let doc = compose(cm::SMART_REPLY, "r-3", mime, |d| {
        d.push(source(original));
    });
    assert_eq!(send(&mut phone, "SmartReply", &doc), None);
    let sent = setup.recorder.sent(2);
    let parsed = MessageParser::new().parse(&sent).unwrap();
    assert_eq!(parsed.body_html(0).unwrap().trim(), "<p>See you!</p>");
    let attached = parsed
        .attachments()
        .find_map(|part| part.message())
        .expect("the original as message/rfc822");
    assert_eq!(attached.message_id(), Some("q1@remote.example"));
}

fn original_with_attachment() -> Vec<u8> {
    b"From: Gina <gina@remote.example>\r\nTo: alice@example.com\r\nSubject: Report\r\n\
      MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
      --b1\r\nContent-Type: text/plain\r\n\r\nThe report is attached.\r\n\
      --b1\r\nContent-Type: application/octet-stream\r\n\
      Content-Disposition: attachment; filename=\"report.bin\"\r\n\
      Content-Transfer-Encoding: base64\r\n\r\nAAECA3JlcG9ydCBieXRlcw==\r\n--b1--\r\n"
        .to_vec()
}

/// The decoded bytes of every attachment named `name`, nested messages included.
fn find_attachment(raw: &[u8], name: &str) -> Option<Vec<u8>> {
    let message = MessageParser::new().parse(raw)?;
    for part in message.attachments() {
        if part.attachment_name() == Some(name) {
            return Some(part.contents().to_vec());
        }
        if let Some(nested) = part.message() {
            if let Some(found) = find_attachment(nested.raw_message(), name) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn smart_forward_carries_the_attachments_and_replace_mime_sends_as_is() {
    let setup = start();
    let original = deliver(&setup, ALICE, &original_with_attachment());
    let mut phone = setup.server.device(ALICE, "phone");
    let mime = b"To: henry@remote.example\r\nSubject: Fw: Report\r\n\r\nFYI\r\n";
    let doc = compose(cm::SMART_FORWARD, "f-1", mime, |d| {
        d.push_empty(cm::SAVE_IN_SENT_ITEMS);
        d.push(source(original));
    });
    assert_eq!(send(&mut phone, "SmartForward", &doc), None);
    let sent = setup.recorder.sent(0);
    assert_eq!(
        find_attachment(&sent, "report.bin").as_deref(),
        Some(&b"\x00\x01\x02\x03report bytes"[..])
    );
    let parsed = MessageParser::new().parse(&sent).unwrap();
    assert_eq!(parsed.body_text(0).unwrap().trim(), "FYI");
    let alice = user(&setup.store, ALICE);
    let record = setup.store.message(alice, original).unwrap().unwrap();
    assert_eq!(record.last_verb, Some(LastVerb::Forward));
    assert!(record.last_verb_time.is_some());
    // The Sent Items copy has the attachment too.
    let sent_items = synced(&setup.server, ALICE, FolderType::SentItems, &setup.store);
    assert_eq!(sent_items, [("Fw: Report".to_string(), None)]);

    // ReplaceMime: the client's MIME already holds everything; nothing is added.
    let mime = b"To: henry@remote.example\r\nSubject: Fw: Report (mine)\r\n\r\nOnly this.\r\n";
    let doc = compose(cm::SMART_FORWARD, "f-2", mime, |d| {
        d.push_empty(cm::REPLACE_MIME);
        d.push(source(original));
    });
    assert_eq!(send(&mut phone, "SmartForward", &doc), None);
    let sent = setup.recorder.sent(1);
    assert_eq!(find_attachment(&sent, "report.bin"), None);
    assert!(!text(&sent).contains("The report is attached."));
    assert!(text(&sent).ends_with("\r\n\r\nOnly this.\r\n"));
}

#[test]
fn failures_get_their_status_codes() {
    let setup = start();
    let bobs_item = deliver(
        &setup,
        BOB,
        b"From: x@remote.example\r\nTo: bob@example.com\r\nSubject: Private\r\n\r\nfor Bob\r\n",
    );
    let mut phone = setup.server.device(ALICE, "phone");
    let mime = b"To: ivan@remote.example\r\nSubject: Hi\r\n\r\nHi\r\n";

    // The MTA refuses: 120, its complaint in the log, and the ClientId may be sent again.
    setup.recorder.set_failing(true);
    let doc = compose(cm::SEND_MAIL, "x-1", mime, |_| {});
    assert_eq!(send(&mut phone, "SendMail", &doc).as_deref(), Some("120"));
    assert!(setup.server.log().contains("relay refused"));
    setup.recorder.set_failing(false);
    assert_eq!(send(&mut phone, "SendMail", &doc), None);
    assert_eq!(setup.recorder.count(), 1);

    // Another user's message is not found, and nothing is sent.
    let doc = compose(cm::SMART_FORWARD, "x-2", mime, |d| {
        d.push(source(bobs_item));
    });
    assert_eq!(
        send(&mut phone, "SmartForward", &doc).as_deref(),
        Some("150")
    );
    let doc = compose(cm::SMART_REPLY, "x-3", mime, |d| {
        d.push(source(999_999));
    });
    assert_eq!(send(&mut phone, "SmartReply", &doc).as_deref(), Some("150"));
    let bob = user(&setup.store, BOB);
    assert_eq!(
        setup
            .store
            .message(bob, bobs_item)
            .unwrap()
            .unwrap()
            .last_verb,
        None
    );

    // No recipient; no Mime; a Smart command without Source; MIME without headers.
    let doc = compose(
        cm::SEND_MAIL,
        "x-4",
        b"Subject: nobody\r\n\r\nx\r\n",
        |_| {},
    );
    assert_eq!(send(&mut phone, "SendMail", &doc).as_deref(), Some("119"));
    let mut doc = Element::new(cm::SEND_MAIL);
    doc.push_text(cm::CLIENT_ID, "x-5");
    assert_eq!(send(&mut phone, "SendMail", &doc).as_deref(), Some("103"));
    let doc = compose(cm::SMART_REPLY, "x-6", mime, |_| {});
    assert_eq!(send(&mut phone, "SmartReply", &doc).as_deref(), Some("103"));
    let doc = compose(cm::SEND_MAIL, "x-7", b"just text, no header", |_| {});
    assert_eq!(send(&mut phone, "SendMail", &doc).as_deref(), Some("107"));
    let doc = compose(cm::SEND_MAIL, &"x".repeat(65), mime, |_| {});
    assert_eq!(send(&mut phone, "SendMail", &doc).as_deref(), Some("103"));
    assert_eq!(setup.recorder.count(), 1);
}

#[test]
fn the_commands_are_advertised() {
    let setup = start();
    let mut phone = setup.server.device(ALICE, "phone");
    let options = phone.options();
    let commands = options.header("MS-ASProtocolCommands").unwrap_or_default();
    for command in ["SendMail", "SmartForward", "SmartReply"] {
        assert!(commands.split(',').any(|c| c == command), "{commands}");
    }
}

#[test]
fn a_local_recipient_s_waiting_ping_is_woken() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port();
    let setup = start_with(&format!("notify = 127.0.0.1:{port}\nlog-level = debug"));
    let out = setup
        .server
        .easd(&["config", "set", "push.heartbeat-min", "1"]);
    assert!(out.status.success(), "{out:?}");
    let bob = user(&setup.store, BOB);
    let bob_inbox = folder(&setup.store, bob, FolderType::Inbox);
    assert!(synced(&setup.server, BOB, FolderType::Inbox, &setup.store).is_empty());

    // Bob's phone brings its Inbox up to date and waits.
    let mut bobs_phone = setup.server.device(BOB, "bobs-phone");
    let sync = |device: &mut TestDevice, key: &str| {
        let mut doc = Element::new(airsync::SYNC);
        let c = doc
            .push(Element::new(airsync::COLLECTIONS))
            .push(Element::new(airsync::COLLECTION));
        c.push_text(airsync::SYNC_KEY, key)
            .push_text(airsync::COLLECTION_ID, bob_inbox.to_string());
        device
            .command("Sync", Some(&doc))
            .doc()
            .child(airsync::COLLECTIONS)
            .and_then(|l| l.child(airsync::COLLECTION))
            .and_then(|c| c.child_text(airsync::SYNC_KEY))
            .expect("a key")
    };
    let key = sync(&mut bobs_phone, "0");
    sync(&mut bobs_phone, &key);
    let waiting = std::thread::spawn(move || {
        let mut doc = Element::new(ping::PING);
        doc.push_text(ping::HEARTBEAT_INTERVAL, "60");
        doc.push(Element::new(ping::FOLDERS))
            .push(Element::new(ping::FOLDER))
            .push_text(ping::ID, bob_inbox.to_string())
            .push_text(ping::CLASS, "Email");
        let started = std::time::Instant::now();
        let answer = bobs_phone.command("Ping", Some(&doc));
        (answer.doc().child_text(ping::STATUS), started.elapsed())
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !setup.server.log().contains("parked for") {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            setup.server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let mut phone = setup.server.device(ALICE, "phone");
    let mime = b"To: bob@example.com\r\nSubject: Wake up\r\n\r\nNews.\r\n";
    let doc = compose(cm::SEND_MAIL, "p-1", mime, |_| {});
    assert_eq!(send(&mut phone, "SendMail", &doc), None);
    let (status, took) = waiting.join().unwrap();
    assert_eq!(status.as_deref(), Some("2"));
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    assert_eq!(setup.recorder.count(), 0);
}
