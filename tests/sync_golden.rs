//! Sync answers byte for byte: a fixed corpus of requests (FolderSync, initial and
//! incremental Sync in several windows and body preferences and protocol versions, client
//! changes, deletes, Fetch, FilterType moves, contacts, GetItemEstimate) replayed against a
//! seeded mailbox, every answer written as XML and compared with the answers recorded in
//! `tests/fixtures/sync-golden.txt` before the Sync path was optimised. Speed work must not
//! change a single answer.
//!
//! Only what is random or the clock by design is masked: the random tag of each sync key
//! (`{tag}-{n}` becomes `K-{n}`; the counter stays) and a meeting request's DTStamp (the
//! time the answer was written). Item ids, dates and bodies are deterministic: the
//! messages are filed with fixed delivery times into a fresh database.
//!
//! After an intended change of behaviour, re-record with `EASD_BLESS_GOLDEN=1 cargo test
//! --test sync_golden` and review the diff of the fixture.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{TestDevice, TestServer};
use easd::store::{FolderId, FolderType, NewMessage, Store, UserId};
use easd::wbxml::tag::{airsync, email, folder_hierarchy as fh};
use easd::wbxml::xml::{from_xml, to_xml};
use easd::wbxml::{Element, Node};

const ALICE: &str = "alice@example.com";
const GOLDEN: &str = "tests/fixtures/sync-golden.txt";
/// 2023-11-14T22:13:20Z: every message is older than any FilterType window.
const BASE_TIME: i64 = 1_700_000_000;

/// The messages of the mailbox: generated shapes, then Horde's real-world fixtures.
fn corpus() -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let paragraph = "The quarterly figures are in and the team has reviewed them. \
                     Grüße aus Köln — «naïve» café ☕ and 日本語のテキスト.\r\n";
    for n in 0..24 {
        let text = paragraph.repeat(1 + n % 7);
        let head = format!(
            "From: Sender {n} <sender{n}@example.org>\r\nTo: Alice <{ALICE}>\r\n\
             Cc: {cc}\r\nSubject: Report number {n}\r\n\
             Date: Tue, 14 Nov 2023 {h:02}:{m:02}:00 +0000\r\n\
             Message-ID: <golden-{n}@example.org>\r\n{reply}MIME-Version: 1.0\r\n",
            cc = if n % 3 == 0 {
                "Carol <carol@example.org>"
            } else {
                "bob@example.org"
            },
            h = n % 24,
            m = (n * 7) % 60,
            reply = if n % 4 == 1 {
                format!("In-Reply-To: <golden-{}@example.org>\r\n", n - 1)
            } else {
                String::new()
            },
        );
        let body = match n % 4 {
            0 => format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}"),
            1 => format!(
                "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{}</p></body></html>\r\n",
                text.replace("\r\n", "<br>")
            ),
            2 => format!(
                "Content-Type: multipart/alternative; boundary=\"alt{n}\"\r\n\r\n\
                 --alt{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
                 --alt{n}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{text}</p>\r\n\
                 --alt{n}--\r\n"
            ),
            _ => format!(
                "Content-Type: multipart/mixed; boundary=\"mix{n}\"\r\n\r\n\
                 --mix{n}\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe, see the file.\r\n\
                 --mix{n}\r\nContent-Type: application/pdf; name=\"report-{n}.pdf\"\r\n\
                 Content-Disposition: attachment; filename=\"report-{n}.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4=\r\n\
                 --mix{n}--\r\n"
            ),
        };
        messages.push(format!("{head}{body}").into_bytes());
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mime");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/mime")
        .map(|entry| entry.expect("entry").path())
        .collect();
    names.sort();
    for name in names {
        messages.push(std::fs::read(name).expect("fixture message"));
    }
    messages
}

/// The server with Alice's mailbox filed: (server, store, user, inbox, contacts).
fn seeded() -> (TestServer, Store, UserId, FolderId, FolderId) {
    let server = TestServer::start();
    server.add_user(ALICE);
    let (store, user) = server.store_and_user(ALICE);
    let folder = |kind| common::folder(&store, user, kind);
    let (inbox, contacts) = (folder(FolderType::Inbox), folder(FolderType::Contacts));
    for (n, raw) in corpus().iter().enumerate() {
        let mut new = NewMessage::new(raw);
        new.received_at = Some(BASE_TIME + 60 * n as i64);
        new.read = n % 5 == 0;
        new.flagged = n % 6 == 0;
        new.recipient = Some(ALICE);
        store
            .add_message(user, inbox, &new)
            .expect("file a message");
    }
    (server, store, user, inbox, contacts)
}

/// Records every exchange as masked XML.
struct Transcript {
    text: String,
}

impl Transcript {
    /// Sends `xml` (or no body) as `cmd` from `device`, records request and answer, and
    /// returns the answer's document (unmasked) when there is one.
    fn send(
        &mut self,
        label: &str,
        device: &mut TestDevice,
        cmd: &str,
        xml: Option<&str>,
    ) -> Option<Element> {
        let body = xml.map(|x| from_xml(x).unwrap_or_else(|e| panic!("{label}: {e}\n{x}")));
        let response = device.command(cmd, body.as_ref());
        writeln!(
            self.text,
            "=== {label}: {cmd} ({} {})",
            device.device_id, device.version
        )
        .unwrap();
        if let Some(body) = &body {
            self.text.push_str(&masked_xml(body));
            self.text.push_str("--- answer\n");
        }
        writeln!(self.text, "HTTP {}", response.status()).unwrap();
        if let Some(doc) = &response.doc {
            self.text.push_str(&masked_xml(doc));
        } else {
            writeln!(self.text, "({} body bytes)", response.http.body.len()).unwrap();
        }
        response.doc
    }
}

/// The XML of `doc` with every sync key's random tag masked.
fn masked_xml(doc: &Element) -> String {
    let mut doc = doc.clone();
    mask_keys(&mut doc);
    let xml = to_xml(&doc);
    // Skip the prolog: it is the same for every document.
    xml.lines().skip(2).flat_map(|line| [line, "\n"]).collect()
}

fn mask_keys(element: &mut Element) {
    let is_key = element.tag == airsync::SYNC_KEY || element.tag == fh::SYNC_KEY;
    let is_clock = element.tag == email::DT_STAMP;
    for child in &mut element.children {
        match child {
            Node::Element(inner) => mask_keys(inner),
            Node::Text(text) if is_key => {
                if let Some((_, counter)) = text.rsplit_once('-') {
                    *text = format!("K-{counter}");
                }
            }
            Node::Text(text) if is_clock => *text = "NOW".to_string(),
            _ => {}
        }
    }
}

/// The SyncKey of the (first) collection of a Sync answer.
fn sync_key(doc: &Option<Element>) -> String {
    doc.as_ref()
        .and_then(|d| d.child(airsync::COLLECTIONS))
        .and_then(|l| l.child(airsync::COLLECTION))
        .and_then(|c| c.child_text(airsync::SYNC_KEY))
        .expect("a SyncKey in the answer")
}

fn more_available(doc: &Option<Element>) -> bool {
    doc.as_ref()
        .and_then(|d| d.child(airsync::COLLECTIONS))
        .and_then(|l| l.child(airsync::COLLECTION))
        .is_some_and(|c| c.child(airsync::MORE_AVAILABLE).is_some())
}

fn sync_request(key: &str, folder: FolderId, extra: &str, options: &str) -> String {
    format!(
        "<Sync xmlns=\"AirSync:\"><Collections><Collection><SyncKey>{key}</SyncKey>\
         <CollectionId>{folder}</CollectionId>{extra}{options}</Collection></Collections></Sync>"
    )
}

/// Syncs `folder` from key 0 until nothing more is available; returns the last key.
fn initial_sync(
    transcript: &mut Transcript,
    device: &mut TestDevice,
    folder: FolderId,
    window: usize,
    options: &str,
) -> String {
    let answer = transcript.send(
        "key 0",
        device,
        "Sync",
        Some(&sync_request("0", folder, "", options)),
    );
    let mut key = sync_key(&answer);
    for round in 1.. {
        let extra = format!("<GetChanges>1</GetChanges><WindowSize>{window}</WindowSize>");
        let answer = transcript.send(
            &format!("initial window {round}"),
            device,
            "Sync",
            Some(&sync_request(&key, folder, &extra, options)),
        );
        key = sync_key(&answer);
        if !more_available(&answer) {
            break;
        }
        assert!(round < 100, "the initial sync does not end");
    }
    key
}

fn device(server: &TestServer, id: &str, version: &str) -> TestDevice {
    let mut device = server.device_speaking(ALICE, id, version);
    device.device_type = "GoldenPhone".to_string();
    device
}

fn options(filter: u8, preferences: &str) -> String {
    format!("<Options><FilterType>{filter}</FilterType>{preferences}</Options>")
}

fn preference(body_type: u8, truncation: Option<u32>, more: &str) -> String {
    let truncation = truncation.map_or(String::new(), |t| {
        format!("<TruncationSize>{t}</TruncationSize>")
    });
    format!(
        "<BodyPreference xmlns=\"AirSyncBase:\"><Type>{body_type}</Type>{truncation}{more}\
         </BodyPreference>"
    )
}

/// Runs the corpus and returns the transcript.
fn run_corpus() -> String {
    let (server, store, user, inbox, contacts) = seeded();
    let mut t = Transcript {
        text: String::new(),
    };

    // A 16.1 phone: OPTIONS is not WBXML, FolderSync, then mail in small windows, plain text.
    let mut phone = device(&server, "golden-a", "16.1");
    let options_answer = phone.options();
    writeln!(
        t.text,
        "=== OPTIONS: HTTP {} versions {:?} commands {:?}",
        options_answer.status,
        options_answer.header("MS-ASProtocolVersions"),
        options_answer.header("MS-ASProtocolCommands")
    )
    .unwrap();
    let folders = t.send(
        "hierarchy",
        &mut phone,
        "FolderSync",
        Some("<FolderSync xmlns=\"FolderHierarchy:\"><SyncKey>0</SyncKey></FolderSync>"),
    );
    let hierarchy_key = folders
        .as_ref()
        .and_then(|d| d.child_text(fh::SYNC_KEY))
        .expect("a hierarchy key");
    t.send(
        "hierarchy unchanged",
        &mut phone,
        "FolderSync",
        Some(&format!(
            "<FolderSync xmlns=\"FolderHierarchy:\"><SyncKey>{hierarchy_key}</SyncKey></FolderSync>"
        )),
    );
    let plain = options(0, &preference(1, Some(100), "<Preview>40</Preview>"));
    let mut key_a = initial_sync(&mut t, &mut phone, inbox, 5, &plain);
    let up_to_date = t.send(
        "nothing new",
        &mut phone,
        "Sync",
        Some(&sync_request(
            &key_a,
            inbox,
            "<GetChanges>1</GetChanges><WindowSize>5</WindowSize>",
            &plain,
        )),
    );
    key_a = sync_key(&up_to_date);

    // Other phones: HTML in one window of 512, MIME, 14.1, 12.1 and 2.5 shapes.
    let mut html = device(&server, "golden-b", "16.1");
    let html_options = options(
        0,
        &format!(
            "{}{}",
            preference(2, Some(300), ""),
            preference(1, None, "<Preview>255</Preview>")
        ),
    );
    let mut key_b = initial_sync(&mut t, &mut html, inbox, 512, &html_options);
    let mut mime = device(&server, "golden-c", "14.1");
    let mime_options = format!(
        "<Options><FilterType>0</FilterType><MIMESupport>2</MIMESupport>{}</Options>",
        preference(4, Some(1000), "")
    );
    initial_sync(&mut t, &mut mime, inbox, 10, &mime_options);
    let mut old = device(&server, "golden-d", "12.1");
    let all_or_none = options(0, &preference(2, Some(400), "<AllOrNone>1</AllOrNone>"));
    initial_sync(&mut t, &mut old, inbox, 50, &all_or_none);
    let mut ancient = device(&server, "golden-e", "2.5");
    let ancient_options = "<Options><FilterType>0</FilterType><Truncation>1</Truncation>\
                           <MIMESupport>1</MIMESupport><MIMETruncation>1</MIMETruncation></Options>";
    initial_sync(&mut t, &mut ancient, inbox, 7, ancient_options);

    // The first phone marks one read, flags another, deletes a third and fetches a fourth.
    let ids: Vec<i64> = store
        .item_changes_since(user, inbox, 0, 1000)
        .expect("inbox items")
        .changes
        .iter()
        .map(|change| change.item_id)
        .collect();
    let changes = format!(
        "<GetChanges>1</GetChanges><WindowSize>5</WindowSize><Commands>\
         <Change><ServerId>{}</ServerId><ApplicationData><Read xmlns=\"Email:\">1</Read>\
         </ApplicationData></Change>\
         <Change><ServerId>{}</ServerId><ApplicationData><Flag xmlns=\"Email:\">\
         <Status>2</Status><FlagType>Follow up</FlagType></Flag></ApplicationData></Change>\
         <Delete><ServerId>{}</ServerId></Delete>\
         <Fetch><ServerId>{}</ServerId></Fetch></Commands>",
        ids[1], ids[2], ids[3], ids[4]
    );
    let answer = t.send(
        "client changes",
        &mut phone,
        "Sync",
        Some(&sync_request(&key_a, inbox, &changes, &plain)),
    );
    key_a = sync_key(&answer);
    // New mail arrives; the HTML phone gets the changes, the delete and the new message.
    let late = corpus()[0].clone();
    let mut new = NewMessage::new(&late);
    new.received_at = Some(BASE_TIME + 100_000);
    store
        .add_message(user, inbox, &new)
        .expect("file a late message");
    t.send(
        "estimate",
        &mut html,
        "GetItemEstimate",
        Some(&format!(
            "<GetItemEstimate xmlns=\"GetItemEstimate:\"><Collections><Collection>\
             <SyncKey xmlns=\"AirSync:\">{key_b}</SyncKey><CollectionId>{inbox}</CollectionId>\
             <Options xmlns=\"AirSync:\"><FilterType>0</FilterType></Options>\
             </Collection></Collections></GetItemEstimate>"
        )),
    );
    let answer = t.send(
        "others' changes",
        &mut html,
        "Sync",
        Some(&sync_request(
            &key_b,
            inbox,
            "<GetChanges>1</GetChanges><WindowSize>512</WindowSize>",
            &html_options,
        )),
    );
    let lost_key = key_b.clone();
    key_b = sync_key(&answer);
    // The answer was lost: the phone repeats its previous key and gets the same changes.
    t.send(
        "replay",
        &mut html,
        "Sync",
        Some(&sync_request(
            &lost_key,
            inbox,
            "<GetChanges>1</GetChanges><WindowSize>512</WindowSize>",
            &html_options,
        )),
    );
    let _ = key_b;
    // The first phone's own changes are not echoed; the new message is.
    let answer = t.send(
        "own changes not echoed",
        &mut phone,
        "Sync",
        Some(&sync_request(
            &key_a,
            inbox,
            "<GetChanges>1</GetChanges><WindowSize>5</WindowSize>",
            &plain,
        )),
    );
    key_a = sync_key(&answer);

    // FilterType moves: a month's window takes every (old) message back, then all come again.
    let month = options(5, &preference(1, Some(100), "<Preview>40</Preview>"));
    let answer = t.send(
        "window narrows",
        &mut phone,
        "Sync",
        Some(&sync_request(
            &key_a,
            inbox,
            "<GetChanges>1</GetChanges><WindowSize>5</WindowSize>",
            &month,
        )),
    );
    key_a = sync_key(&answer);
    let answer = t.send(
        "window widens",
        &mut phone,
        "Sync",
        Some(&sync_request(
            &key_a,
            inbox,
            "<GetChanges>1</GetChanges><WindowSize>5</WindowSize>",
            &plain,
        )),
    );
    key_a = sync_key(&answer);
    let answer = t.send(
        "after the widening",
        &mut phone,
        "Sync",
        Some(&sync_request(
            &key_a,
            inbox,
            "<GetChanges>1</GetChanges><WindowSize>5</WindowSize>",
            &plain,
        )),
    );
    let _ = sync_key(&answer);

    // Contacts: one phone adds two, the other receives them.
    let contact_options = "<Options><BodyPreference xmlns=\"AirSyncBase:\"><Type>1</Type>\
                           <TruncationSize>32</TruncationSize></BodyPreference></Options>";
    let answer = t.send(
        "contacts key 0",
        &mut phone,
        "Sync",
        Some(&sync_request("0", contacts, "", contact_options)),
    );
    let contacts_key = sync_key(&answer);
    let adds = "<GetChanges>1</GetChanges><Commands>\
        <Add><ClientId>c1</ClientId><ApplicationData>\
        <FileAs xmlns=\"Contacts:\">Doe, Jane</FileAs><FirstName xmlns=\"Contacts:\">Jane</FirstName>\
        <LastName xmlns=\"Contacts:\">Doe</LastName>\
        <Email1Address xmlns=\"Contacts:\">jane@example.org</Email1Address>\
        <MobilePhoneNumber xmlns=\"Contacts:\">+49 170 1234567</MobilePhoneNumber>\
        <Body xmlns=\"AirSyncBase:\"><Type>1</Type><Data>Met at the conference in Köln, \
        talked about the quarterly figures.</Data></Body></ApplicationData></Add>\
        <Add><ClientId>c2</ClientId><ApplicationData>\
        <FileAs xmlns=\"Contacts:\">Roe, Richard</FileAs><LastName xmlns=\"Contacts:\">Roe</LastName>\
        <Categories xmlns=\"Contacts:\"><Category>Work</Category><Category>VIP</Category></Categories>\
        </ApplicationData></Add></Commands>";
    t.send(
        "contacts added",
        &mut phone,
        "Sync",
        Some(&sync_request(
            &contacts_key,
            contacts,
            adds,
            contact_options,
        )),
    );
    initial_sync(&mut t, &mut html, contacts, 1, contact_options);

    t.text
}

#[test]
fn sync_answers_match_the_recorded_golden_transcript() {
    let transcript = run_corpus();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("EASD_BLESS_GOLDEN").is_some() {
        std::fs::write(&path, &transcript).expect("write the golden transcript");
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record it with EASD_BLESS_GOLDEN=1)",
            path.display()
        )
    });
    if transcript != golden {
        let first = transcript
            .lines()
            .zip(golden.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| transcript.lines().count().min(golden.lines().count()));
        let context = |text: &str| -> String {
            text.lines()
                .skip(first.saturating_sub(8))
                .take(16)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "the answers differ from {GOLDEN} at line {}:\n--- now:\n{}\n--- recorded:\n{}",
            first + 1,
            context(&transcript),
            context(&golden)
        );
    }
}
