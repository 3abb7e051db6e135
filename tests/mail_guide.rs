//! Runs every command that docs/mail.md shows, taken from the page itself (so the page and
//! easd cannot drift apart): the Postfix pipe transport and `mailbox_command`, fetchmail's
//! and procmail's delivery lines, `easd import` of a Maildir, the `submission-command`
//! lines, `easd config`, and the shell one-liner that wakes a waiting phone.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{easd_binary, TestServer};
use easd::store::FolderType;
use easd::wbxml::tag::{airsync, ping};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";

fn guide() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mail.md"))
        .expect("docs/mail.md")
}

/// The one line of the guide that contains `marker`, trimmed.
fn guide_line(marker: &str) -> String {
    let page = guide();
    let lines: Vec<&str> = page.lines().filter(|l| l.contains(marker)).collect();
    assert_eq!(
        lines.len(),
        1,
        "docs/mail.md: lines with {marker:?}: {lines:?}"
    );
    lines[0].trim().to_string()
}

/// How the guide's `/usr/bin/easd` (or bare `easd`) runs here: this build, this server's
/// configuration.
fn easd_here(server: &TestServer) -> String {
    format!(
        "{} --config {}",
        easd_binary().display(),
        server.config.display()
    )
}

/// Runs `script` with /bin/sh (as Postfix, fetchmail and procmail do) with `input` on its
/// standard input.
fn shell(script: &str, env: &[(&str, &str)], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    child.wait_with_output().expect("sh output")
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.net>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <{subject}@example.net>\r\n\r\nhi\r\n"
    )
    .into_bytes()
}

/// Subjects of the messages in the user's folder of `folder_type`, in arrival order.
fn subjects(server: &TestServer, email: &str, folder_name: Option<&str>) -> Vec<String> {
    let conn = rusqlite::Connection::open(&server.db).expect("db");
    let sql = "SELECT m.subject FROM messages m JOIN items i ON i.id = m.item_id \
               JOIN folders f ON f.id = i.folder_id JOIN users u ON u.id = i.user_id \
               WHERE u.email = ?1 AND (CASE WHEN ?2 IS NULL THEN f.folder_type = 2 \
               ELSE f.name = ?2 END) ORDER BY i.id";
    let mut statement = conn.prepare(sql).expect("query");
    statement
        .query_map(rusqlite::params![email, folder_name], |row| row.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn the_delivery_lines_for_postfix_fetchmail_and_procmail_file_mail() {
    let server = TestServer::start_with(&format!("notify = 127.0.0.1:{}", common::free_udp_port()));
    server.add_user(ALICE);
    let easd = easd_here(&server);

    // Postfix pipe(8): argv=… with ${recipient} expanded by Postfix, no shell.
    let pipe = guide_line("argv=/usr/bin/easd deliver");
    let argv = pipe.split("argv=").nth(1).expect("argv");
    let run = |recipient: &str, subject: &str| {
        let words = argv
            .replace("/usr/bin/easd", &easd)
            .replace("${sender}", "carol@example.net")
            .replace("${recipient}", recipient);
        let mut words = words.split_whitespace();
        let program = words.next().expect("program");
        let mut child = Command::new(program)
            .args(words)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pipe argv");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&message(subject))
            .unwrap();
        child.wait_with_output().expect("output")
    };
    let filed = run(ALICE, "via-pipe");
    assert!(filed.status.success(), "{filed:?}");
    // An unknown recipient: 67, which Postfix turns into a bounce.
    assert_eq!(run("nobody@example.com", "lost").status.code(), Some(67));
    assert_eq!(
        run("alice+lists@example.com", "extension").status.code(),
        Some(0)
    );

    // mailbox_command: Postfix runs it with /bin/sh and $RECIPIENT set.
    let mailbox = guide_line("mailbox_command = ");
    let script = mailbox
        .split_once("= ")
        .expect("value")
        .1
        .replace("/usr/bin/easd", &easd);
    let out = shell(
        &script,
        &[("RECIPIENT", ALICE)],
        &message("via-mailbox-command"),
    );
    assert!(out.status.success(), "{out:?}");

    // fetchmail's mda string and procmail's pipe recipe.
    let fetchmail = guide_line("mda \"");
    let mda = fetchmail
        .split("mda \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("mda")
        .replace("/usr/bin/easd", &easd);
    assert!(shell(&mda, &[], &message("via-fetchmail")).status.success());
    let recipe = guide_line("| /usr/bin/easd deliver");
    let procmail = recipe
        .trim_start_matches("| ")
        .replace("/usr/bin/easd", &easd);
    assert!(shell(&procmail, &[], &message("via-procmail"))
        .status
        .success());

    assert_eq!(
        subjects(&server, ALICE, None),
        [
            "via-pipe",
            "extension",
            "via-mailbox-command",
            "via-fetchmail",
            "via-procmail"
        ]
    );
}

#[test]
fn the_import_line_copies_a_maildir_with_its_folders() {
    let server = TestServer::start_with(&format!("notify = 127.0.0.1:{}", common::free_udp_port()));
    server.add_user(ALICE);
    let home = server.dir.join("home");
    for folder in ["Maildir", "Maildir/.Projects"] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(home.join(folder).join(sub)).unwrap();
        }
    }
    std::fs::write(home.join("Maildir/cur/1.host:2,S"), message("old-news")).unwrap();
    std::fs::write(home.join("Maildir/.Projects/new/2.host"), message("plans")).unwrap();

    let line = guide_line("easd import alice@example.com ~/Maildir");
    let script = line.replacen("easd", &easd_here(&server), 1);
    let home_text = home.display().to_string();
    let out = shell(&script, &[("HOME", &home_text)], b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(subjects(&server, ALICE, None), ["old-news"]);
    assert_eq!(subjects(&server, ALICE, Some("Projects")), ["plans"]);
    // Again: nothing is imported twice.
    assert!(shell(&script, &[("HOME", &home_text)], b"")
        .status
        .success());
    assert_eq!(subjects(&server, ALICE, None), ["old-news"]);
}

#[test]
fn the_submission_command_lines_are_accepted_and_the_config_commands_work() {
    let server = TestServer::start_with(&format!("notify = 127.0.0.1:{}", common::free_udp_port()));
    let page = guide();
    let lines: Vec<&str> = page
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("submission-command = "))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in lines {
        let config = server.dir.join("submission.conf");
        std::fs::write(
            &config,
            format!("database = {}\n{line}\n", server.db.display()),
        )
        .unwrap();
        let out = common::easd_cli(&config, &["config", "list"], None);
        assert!(out.status.success(), "{line}: {out:?}");
    }

    let list = guide_line("easd config list");
    let set = guide_line("easd config set push.heartbeat-max");
    for line in [list, set] {
        let out = shell(&line.replacen("easd", &easd_here(&server), 1), &[], b"");
        assert!(out.status.success(), "{line}: {out:?}");
    }
    let value = server.easd(&["config", "get", "push.heartbeat-max"]);
    assert_eq!(String::from_utf8_lossy(&value.stdout).trim(), "900");
}

#[test]
fn the_shell_one_liner_wakes_a_waiting_phone() {
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        panic!("bash is needed for /dev/udp");
    }
    let port = common::free_udp_port();
    let server = TestServer::start_with(&format!("notify = 127.0.0.1:{port}\nlog-level = debug"));
    server.add_user(ALICE);
    server.easd(&["config", "set", "push.heartbeat-min", "1"]);
    let (store, user) = server.store_and_user(ALICE);
    let inbox = common::folder(&store, user, FolderType::Inbox);

    let mut phone = server.device(ALICE, "phone");
    let mut key = "0".to_string();
    for _ in 0..2 {
        let mut doc = Element::new(airsync::SYNC);
        doc.push(Element::new(airsync::COLLECTIONS))
            .push(Element::new(airsync::COLLECTION))
            .push_text(airsync::SYNC_KEY, key.clone())
            .push_text(airsync::COLLECTION_ID, inbox.to_string());
        let answer = phone.command("Sync", Some(&doc));
        key = answer
            .doc()
            .child(airsync::COLLECTIONS)
            .and_then(|c| c.child(airsync::COLLECTION))
            .and_then(|c| c.child_text(airsync::SYNC_KEY))
            .expect("key");
    }
    let waiting = std::thread::spawn(move || {
        let mut doc = Element::new(ping::PING);
        doc.push_text(ping::HEARTBEAT_INTERVAL, "120");
        doc.push(Element::new(ping::FOLDERS))
            .push(Element::new(ping::FOLDER))
            .push_text(ping::ID, inbox.to_string())
            .push_text(ping::CLASS, "Email");
        let started = Instant::now();
        let answer = phone.command("Ping", Some(&doc));
        (answer.doc().child_text(ping::STATUS), started.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("parked for") {
        assert!(Instant::now() < deadline, "not parked:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }

    // Mail filed by a program that does not notify (here: easd told another port) ...
    let quiet = server.dir.join("quiet.conf");
    std::fs::write(
        &quiet,
        format!(
            "database = {}\nnotify = 127.0.0.1:{}\n",
            server.db.display(),
            common::free_udp_port()
        ),
    )
    .unwrap();
    let out = common::easd_cli(&quiet, &["deliver", ALICE], Some(&message("quiet")));
    assert!(out.status.success(), "{out:?}");
    // ... reaches the phone at once when that program sends the guide's datagram.
    let line = guide_line("printf 'alice@example.com' > /dev/udp/");
    let script = line.replace("2325", &port.to_string());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(out.status.success(), "{out:?}");
    let (status, took) = waiting.join().expect("ping thread");
    assert_eq!(status.as_deref(), Some("2"));
    // Well before the heartbeat, and before the test client's 30 s retry could matter.
    assert!(took < Duration::from_secs(20), "{took:?}");
}
