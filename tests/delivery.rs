//! Mail arriving through the real binary: `easd deliver` (the MTA's delivery agent) and
//! `easd import` (mbox files and Maildirs), against the database of a running `easd serve`,
//! and a 50 MB message whose attachment is read back through the streaming reader with
//! bounded memory.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::TestServer;
use easd::mime::BodyKind;
use easd::store::{ChangeKind, FlagStatus, Folder, FolderId, ItemId, LastVerb, Store, UserId};

const PAT: &str = "pat@example.com";

fn corpus(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mime")
        .join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("conformance message {} missing ({e})", path.display()))
}

fn server_with_pat() -> TestServer {
    let server = TestServer::start();
    server.add_user(PAT);
    server
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn deliver(server: &TestServer, args: &[&str], message: &[u8]) -> Output {
    let mut all = vec!["deliver"];
    all.extend_from_slice(args);
    server.easd_stdin(&all, message)
}

/// A second connection to the server's database, as any CLI command has.
fn open(server: &TestServer) -> (Store, UserId) {
    let (store, user) = server.store_and_user(PAT);
    (store, user)
}

fn folder_at(store: &Store, user: UserId, path: &str) -> Option<Folder> {
    let folders = store.folders_of(user).unwrap();
    let mut parent: Option<FolderId> = None;
    let mut found = None;
    for name in path.split('/') {
        let folder = folders
            .iter()
            .find(|f| f.parent_id == parent && f.name == name)?
            .clone();
        parent = Some(folder.id);
        found = Some(folder);
    }
    found
}

/// The ids of the messages in a folder, oldest change first.
fn messages_in(store: &Store, user: UserId, folder: FolderId) -> Vec<ItemId> {
    store
        .item_changes_since(user, folder, 0, 0)
        .unwrap()
        .changes
        .into_iter()
        .filter(|c| c.kind == ChangeKind::Added)
        .map(|c| c.item_id)
        .collect()
}

fn raw_of(store: &Store, user: UserId, item: ItemId) -> Vec<u8> {
    let mut raw = Vec::new();
    store
        .open_raw(user, item)
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    raw
}

#[test]
fn deliver_files_into_the_inbox_or_a_folder_and_answers_with_sysexits_codes() {
    let server = server_with_pat();
    let signed = corpus("signed_attachment.eml");
    let out = deliver(&server, &[PAT], &signed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let (store, user) = open(&server);
    let inbox = folder_at(&store, user, "Inbox").unwrap();
    let delivered = messages_in(&store, user, inbox.id);
    assert_eq!(delivered.len(), 1);
    // Byte-exact (the S/MIME signature still covers it), with the fields parsed.
    assert_eq!(raw_of(&store, user, delivered[0]), signed);
    let record = store.message(user, delivered[0]).unwrap().unwrap();
    assert_eq!(record.message_class, "IPM.Note.SMIME.MultipartSigned");
    assert!(
        record.received_as_bcc,
        "addressed to mrubinsk@, delivered to pat@"
    );
    assert!(!record.read);
    let received_age = easd::store::now() - record.date_received;
    assert!((0..120).contains(&received_age), "delivery time is now");

    // A leading mbox From_ line is dropped, a +extension finds the user, case is ignored.
    let with_from_line = b"From sender@example.net Mon Jan  1 00:00:00 2024\nSubject: envelope\nMessage-ID: <env@x>\n\nhello\n";
    let out = deliver(&server, &["Pat+lists@Example.com"], with_from_line);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let delivered = messages_in(&store, user, inbox.id);
    assert_eq!(delivered.len(), 2);
    assert_eq!(
        raw_of(&store, user, delivered[1]),
        b"Subject: envelope\nMessage-ID: <env@x>\n\nhello\n"
    );

    // A folder by path, case-insensitively; missing folders are not created.
    let out = deliver(
        &server,
        &[PAT, "--folder", "Projects/2026"],
        b"Subject: p\n\nx\n",
    );
    assert_eq!(out.status.code(), Some(73), "{}", stderr(&out));
    assert!(stderr(&out).contains("Projects/2026"), "{}", stderr(&out));
    let projects = store
        .create_folder(user, None, "Projects", easd::store::FolderType::UserMail)
        .unwrap();
    let year = store
        .create_folder(
            user,
            Some(projects.id),
            "2026",
            easd::store::FolderType::UserMail,
        )
        .unwrap();
    let out = deliver(
        &server,
        &[PAT, "--folder", "projects/2026"],
        b"Subject: p\n\nx\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(messages_in(&store, user, year.id).len(), 1);
    // Well-known names find the default folders.
    let out = deliver(&server, &[PAT, "--folder", "Spam"], b"Subject: junk\n\nx\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let junk = folder_at(&store, user, "Junk E-mail").unwrap();
    assert_eq!(messages_in(&store, user, junk.id).len(), 1);
    // A folder that holds no mail cannot take it.
    let out = deliver(
        &server,
        &[PAT, "--folder", "Contacts"],
        b"Subject: c\n\nx\n",
    );
    assert_eq!(out.status.code(), Some(73), "{}", stderr(&out));

    // A delivery pointed at a database that is not there defers and creates nothing.
    let elsewhere = server.dir.join("elsewhere").join("easd.db");
    let out = server.easd_stdin(
        &["--db", elsewhere.to_str().unwrap(), "deliver", PAT],
        b"Subject: lost?\n\nx\n",
    );
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(!elsewhere.exists() && !elsewhere.parent().unwrap().exists());

    // Unknown user: 67. Empty input: 65. Nothing was filed by either.
    let out = deliver(&server, &["nobody@example.com"], b"Subject: x\n\ny\n");
    assert_eq!(out.status.code(), Some(67), "{}", stderr(&out));
    for empty in [&b""[..], b"\n\n", b"From x Mon Jan  1 00:00:00 2024\n"] {
        let out = deliver(&server, &[PAT], empty);
        assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    }
    assert_eq!(messages_in(&store, user, inbox.id).len(), 2);
    assert_eq!(store.folder_item_seq(user, inbox.id).unwrap(), 2);

    // The running server shares the file and is none the worse for it.
    let mut phone = server.device(PAT, "deliverycheck");
    let mut sync = easd::wbxml::Element::new(easd::wbxml::tag::folder_hierarchy::FOLDER_SYNC);
    sync.push_text(easd::wbxml::tag::folder_hierarchy::SYNC_KEY, "0");
    assert_eq!(phone.command("FolderSync", Some(&sync)).status(), 200);
    assert!(!server.log().contains("database error"), "{}", server.log());
}

#[test]
fn deliver_waits_for_a_busy_database_and_defers_when_it_stays_busy() {
    let server = server_with_pat();
    // Make sure the CLI's migrations are done before the lock is taken.
    drop(open(&server));
    let hold_write_lock = |seconds: f64| {
        let path = server.db.clone();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_secs_f64(seconds));
            conn.execute_batch("COMMIT").unwrap();
        });
        locked_rx.recv().unwrap();
        holder
    };
    // A lock held for a second: delivery waits (busy timeout) and succeeds.
    let holder = hold_write_lock(1.0);
    let started = Instant::now();
    let out = deliver(&server, &[PAT], b"Subject: patient\n\nx\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_millis(500));
    holder.join().unwrap();
    // A lock held past the busy timeout: temporary failure, so the MTA retries.
    let holder = hold_write_lock(7.0);
    let out = deliver(&server, &[PAT], b"Subject: deferred\n\nx\n");
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("deferred"), "{}", stderr(&out));
    holder.join().unwrap();
    let (store, user) = open(&server);
    let inbox = folder_at(&store, user, "Inbox").unwrap();
    assert_eq!(messages_in(&store, user, inbox.id).len(), 1);
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "easd-delivery-{}-{name}-{}",
            std::process::id(),
            easd::store::random_hex(4)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn import(server: &TestServer, args: &[&str]) -> Output {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    server.easd(&all)
}

const MBOX: &str = "From alice@example.net Mon Jan  1 10:00:00 2024
Message-ID: <one@example.net>
Subject: first
Status: RO

hello
>From the quoted line
>>From twice quoted

From bob@example.net Tue Jan  2 11:00:00 2024
Message-ID: <two@example.net>
Subject: second
X-Status: F

world

From carol@example.net Wed Jan  3 12:00:00 2024
Subject: third, no id, no Date

From here on: not a separator (no time of day)
";

#[test]
fn import_an_mbox_then_again_without_duplicates() {
    let server = server_with_pat();
    let scratch = Scratch::new("mbox");
    let mbox = scratch.0.join("old.mbox");
    std::fs::write(&mbox, MBOX).unwrap();
    let mbox_arg = mbox.to_str().unwrap();

    let out = import(&server, &[PAT, mbox_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("3 messages stored") && stderr(&out).contains("1 folders"),
        "{}",
        stderr(&out)
    );
    let (store, user) = open(&server);
    let inbox = folder_at(&store, user, "Inbox").unwrap();
    let items = messages_in(&store, user, inbox.id);
    assert_eq!(items.len(), 3);
    let first = store.message(user, items[0]).unwrap().unwrap();
    assert_eq!(first.subject, "first");
    assert!(first.read, "Status: RO");
    assert_eq!(first.flag.status, FlagStatus::Cleared);
    // No Received header: the From_ line's date is the delivery date.
    assert_eq!(first.date_received, 1_704_103_200);
    let body = store
        .body_text(user, items[0], BodyKind::Plain, 1000)
        .unwrap()
        .unwrap();
    assert_eq!(body, "hello\nFrom the quoted line\n>From twice quoted\n");
    let second = store.message(user, items[1]).unwrap().unwrap();
    assert!(!second.read);
    assert_eq!(second.flag.status, FlagStatus::Active, "X-Status: F");
    let third = raw_of(&store, user, items[2]);
    assert!(third.ends_with(b"\n\nFrom here on: not a separator (no time of day)\n"));

    // Again: nothing new, nothing changed.
    let seq = store.folder_item_seq(user, inbox.id).unwrap();
    let out = import(&server, &[PAT, mbox_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 messages stored") && stderr(&out).contains("3 already present"),
        "{}",
        stderr(&out)
    );
    assert_eq!(store.folder_item_seq(user, inbox.id).unwrap(), seq);

    // Into a nested folder, created on the way; small batches and progress lines.
    let out = import(
        &server,
        &[
            PAT,
            mbox_arg,
            "--folder",
            "Archive/2024",
            "--batch",
            "2",
            "--progress",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("import: 2 messages read, 2 stored"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("(2 created)"), "{}", stderr(&out));
    let archive = folder_at(&store, user, "Archive/2024").unwrap();
    assert_eq!(messages_in(&store, user, archive.id).len(), 3);

    // Not a mailbox, no such path, no such user.
    let not_mbox = scratch.0.join("note.txt");
    std::fs::write(&not_mbox, "Subject: just a message\n\nhi\n").unwrap();
    let out = import(&server, &[PAT, not_mbox.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an mbox file"),
        "{}",
        stderr(&out)
    );
    let out = import(&server, &[PAT, scratch.0.join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(74), "{}", stderr(&out));
    let out = import(&server, &["nobody@example.com", mbox_arg]);
    assert_eq!(out.status.code(), Some(67), "{}", stderr(&out));
    let out = import(&server, &[PAT, scratch.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
}

/// Writes one Maildir message file.
fn maildir_file(dir: &Path, sub: &str, name: &str, subject: &str) {
    let path = dir.join(sub);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(
        path.join(name),
        format!("Message-ID: <{name}@maildir>\nSubject: {subject}\n\nbody of {subject}\n"),
    )
    .unwrap();
}

fn make_maildir(root: &Path) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    maildir_file(root, "cur", "1700000000.M1P1.host,S=60:2,S", "read");
    maildir_file(root, "cur", "1700000100.M2P1.host,S=60:2,FRS", "flagged");
    maildir_file(root, "new", "1700000200.M3P1.host", "fresh");
    // A dot file and tmp/ are not messages.
    std::fs::write(root.join("cur/.hidden"), "x").unwrap();
    maildir_file(root, "tmp", "1700000300.M4P1.host", "half written");
    maildir_file(
        &root.join(".Sent"),
        "cur",
        "1700000400.M5P1.host:2,S",
        "sent",
    );
    maildir_file(
        &root.join(".Projects.2026"),
        "cur",
        "1700000500.M6P1.host:2,",
        "nested",
    );
    maildir_file(
        &root.join(".Entw&APw-rfe"),
        "cur",
        "1700000600.M7P1.host:2,D",
        "draft",
    );
    // Not Maildir++ folders: no leading dot, or no cur/new inside.
    std::fs::create_dir_all(root.join("courierimapkeywords")).unwrap();
    std::fs::create_dir_all(root.join(".Empty-but-not-a-maildir")).unwrap();
}

#[test]
fn import_a_maildir_with_subfolders_and_flags_then_again_without_duplicates() {
    let server = server_with_pat();
    let scratch = Scratch::new("maildir");
    let root = scratch.0.join("Maildir");
    make_maildir(&root);
    let root_arg = root.to_str().unwrap();

    let out = import(&server, &[PAT, root_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("6 messages stored") && stderr(&out).contains("4 folders"),
        "{}",
        stderr(&out)
    );
    let (store, user) = open(&server);
    let subjects = |path: &str| -> Vec<(String, bool, FlagStatus)> {
        let folder = folder_at(&store, user, path).unwrap_or_else(|| panic!("folder {path}"));
        messages_in(&store, user, folder.id)
            .into_iter()
            .map(|id| {
                let m = store.message(user, id).unwrap().unwrap();
                (m.subject, m.read, m.flag.status)
            })
            .collect()
    };
    assert_eq!(
        subjects("Inbox"),
        [
            ("read".to_string(), true, FlagStatus::Cleared),
            ("flagged".to_string(), true, FlagStatus::Active),
            ("fresh".to_string(), false, FlagStatus::Cleared),
        ]
    );
    assert_eq!(
        subjects("Sent Items"),
        [("sent".to_string(), true, FlagStatus::Cleared)]
    );
    assert_eq!(
        subjects("Projects/2026"),
        [("nested".to_string(), false, FlagStatus::Cleared)]
    );
    assert_eq!(
        subjects("Entwürfe"),
        [("draft".to_string(), false, FlagStatus::Cleared)]
    );
    assert!(folder_at(&store, user, "Empty-but-not-a-maildir").is_none());
    let inbox = folder_at(&store, user, "Inbox").unwrap();
    let flagged = messages_in(&store, user, inbox.id)[1];
    let record = store.message(user, flagged).unwrap().unwrap();
    assert_eq!(record.last_verb, Some(LastVerb::ReplyToSender), "R flag");
    // The file name's timestamp is the delivery date when no Received header says more.
    assert_eq!(record.date_received, 1_700_000_100);

    // Again: every message is already there.
    let out = import(&server, &[PAT, root_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 messages stored") && stderr(&out).contains("6 already present"),
        "{}",
        stderr(&out)
    );
    assert_eq!(messages_in(&store, user, inbox.id).len(), 3);

    // Under --folder, the whole tree goes beneath it and names are kept.
    let out = import(&server, &[PAT, root_arg, "--folder", "Old account"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(subjects("Old account").len(), 3);
    assert_eq!(subjects("Old account/Sent").len(), 1);
    assert_eq!(subjects("Old account/Projects/2026").len(), 1);

    // A Maildir++ folder that lands on a non-mail folder stops the import before it starts.
    let contacts_root = scratch.0.join("WithContacts");
    make_maildir(&contacts_root);
    maildir_file(
        &contacts_root.join(".Contacts"),
        "cur",
        "1.M1P1.h:2,",
        "oops",
    );
    let seq = store.folder_item_seq(user, inbox.id).unwrap();
    let out = import(&server, &[PAT, contacts_root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(73), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not hold mail"),
        "{}",
        stderr(&out)
    );
    assert_eq!(store.folder_item_seq(user, inbox.id).unwrap(), seq);
}

/// Size of the attachment of the big message, before base64 (about 50 MB encoded).
const BIG_ATTACHMENT_BYTES: u64 = 37 * 1024 * 1024;

/// The attachment's bytes: a fixed pseudo-random stream (xorshift), so the reader can
/// check every byte without holding a copy.
struct PatternStream {
    state: u64,
}

impl PatternStream {
    fn new() -> PatternStream {
        PatternStream {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn fill(&mut self, buffer: &mut [u8]) {
        for byte in buffer {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *byte = (self.state >> 24) as u8;
        }
    }
}

fn big_message() -> Vec<u8> {
    use base64::Engine;
    let mut message = b"Subject: a big one\r\nMessage-ID: <big@example.com>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BIG\r\n\r\n--BIG\r\n\
Content-Type: text/plain\r\n\r\nsee attached\r\n--BIG\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=big.bin\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let mut pattern = PatternStream::new();
    let mut chunk = vec![0u8; 57 * 1024];
    let mut remaining = BIG_ATTACHMENT_BYTES;
    while remaining > 0 {
        let n = remaining.min(chunk.len() as u64) as usize;
        pattern.fill(&mut chunk[..n]);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&chunk[..n]);
        for line in encoded.as_bytes().chunks(76) {
            message.extend_from_slice(line);
            message.extend_from_slice(b"\r\n");
        }
        remaining -= n as u64;
    }
    message.extend_from_slice(b"--BIG--\r\n");
    message
}

/// A field of /proc/self/status in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

const STREAM_CHILD_DB: &str = "EASD_TEST_STREAM_DB";

#[test]
fn a_50_mb_message_is_delivered_and_its_attachment_streams_with_bounded_memory() {
    let server = server_with_pat();
    let message = big_message();
    assert!(message.len() > 50_000_000, "{}", message.len());
    let started = Instant::now();
    let out = deliver(&server, &[PAT], &message);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    println!(
        "delivered {} bytes in {:.2} s",
        message.len(),
        started.elapsed().as_secs_f64()
    );
    drop(message);

    // The reading happens in a fresh process (this test binary, running only the child
    // test), so the figures are not disturbed by this process's own allocations or by
    // other tests running in parallel threads.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "big_attachment_stream_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STREAM_CHILD_DB, &server.db)
        .output()
        .unwrap();
    let child_output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{child_output}");
    assert!(out.status.success(), "{child_output}");
    assert!(
        child_output.contains("1 passed"),
        "the child test did not run: {child_output}"
    );
}

/// The reading half of the 50 MB test; started by it in a separate process.
#[test]
#[ignore = "runs in a child process of a_50_mb_message_is_delivered_and_its_attachment_streams_with_bounded_memory"]
fn big_attachment_stream_child() {
    let db = std::env::var_os(STREAM_CHILD_DB).expect(
        "started by a_50_mb_message_is_delivered_and_its_attachment_streams_with_bounded_memory",
    );
    let store = Store::open(Path::new(&db)).unwrap();
    let user = store.user_by_email(PAT).unwrap().unwrap().id;
    let inbox = folder_at(&store, user, "Inbox").unwrap();
    let item = messages_in(&store, user, inbox.id)[0];
    let attachments = store.message_attachments(user, item).unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].part.display_name, "big.bin");
    assert_eq!(attachments[0].part.size, BIG_ATTACHMENT_BYTES);

    let rss_before = status_kib("VmRSS");
    let started = Instant::now();
    let (_, mut reader) = store.open_attachment(user, item, 0).unwrap();
    let mut expected = PatternStream::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut want = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut peak_rss = rss_before;
    let mut reads = 0u64;
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        expected.fill(&mut want[..n]);
        assert!(
            buffer[..n] == want[..n],
            "attachment differs at byte {total}"
        );
        total += n as u64;
        reads += 1;
        if reads.is_multiple_of(64) {
            peak_rss = peak_rss.max(status_kib("VmRSS"));
        }
    }
    peak_rss = peak_rss.max(status_kib("VmRSS"));
    // VmHWM catches any peak between the samples.
    let high_water = status_kib("VmHWM");
    assert_eq!(total, BIG_ATTACHMENT_BYTES);
    let growth_kib = high_water.max(peak_rss).saturating_sub(rss_before);
    println!(
        "streamed {} MiB in {:.2} s; RSS before {} KiB, peak {} KiB, high-water {} KiB, growth {} KiB",
        total / (1024 * 1024),
        started.elapsed().as_secs_f64(),
        rss_before,
        peak_rss,
        high_water,
        growth_kib
    );
    assert!(
        growth_kib < 16 * 1024,
        "reading the attachment grew the process by {growth_kib} KiB"
    );
}
