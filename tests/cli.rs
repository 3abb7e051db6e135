//! The operator's command line: accounts, the WBXML tools, configuration errors and the
//! refusal to serve Basic auth in clear text.

mod common;

use std::path::PathBuf;

use common::easd_cli;

/// A configuration file pointing at a fresh database in a temporary directory.
struct Scratch {
    dir: PathBuf,
    config: PathBuf,
}

impl Scratch {
    fn new(name: &str, extra: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("easd-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("easd.conf");
        std::fs::write(
            &config,
            format!("database = {}\n{extra}", dir.join("easd.db").display()),
        )
        .expect("config");
        Scratch { dir, config }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        easd_cli(&self.config, args, None)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn user_add_list_passwd_del() {
    let s = Scratch::new("users", "");
    let out = s.run(&[
        "user",
        "add",
        "Alice@Example.com",
        "--password",
        "pw1",
        "--name",
        "Alice A.",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = easd_cli(
        &s.config,
        &["user", "add", "bob@example.com", "--password-stdin"],
        Some(b"from stdin\n"),
    );
    assert!(out.status.success(), "{out:?}");

    let list = stdout(&s.run(&["user", "list"]));
    assert!(list.contains("alice@example.com\tAlice A."), "{list}");
    assert!(list.contains("bob@example.com"), "{list}");

    // Duplicates and bad addresses are data errors (65); unknown users are 67.
    let dup = s.run(&["user", "add", "alice@example.com", "--password", "x"]);
    assert_eq!(dup.status.code(), Some(65));
    let bad = s.run(&["user", "add", "not-an-address", "--password", "x"]);
    assert_eq!(bad.status.code(), Some(65));
    let missing = s.run(&["user", "passwd", "carol@example.com", "--password", "x"]);
    assert_eq!(missing.status.code(), Some(67));
    let both = s.run(&["user", "add", "dave@example.com"]);
    assert_eq!(
        both.status.code(),
        Some(64),
        "a password source is required"
    );

    // The password really changes: check it against the stored hash.
    assert!(s
        .run(&["user", "passwd", "alice@example.com", "--password", "pw2"])
        .status
        .success());
    let store = easd::store::Store::open(&s.dir.join("easd.db")).expect("db");
    let alice = store
        .user_by_email("alice@example.com")
        .expect("q")
        .expect("alice");
    assert!(easd::store::verify_password("pw2", &alice.password_hash));
    assert!(!easd::store::verify_password("pw1", &alice.password_hash));
    let bob = store
        .user_by_email("bob@example.com")
        .expect("q")
        .expect("bob");
    assert!(easd::store::verify_password(
        "from stdin",
        &bob.password_hash
    ));
    drop(store);

    assert!(s.run(&["user", "del", "bob@example.com"]).status.success());
    let list = stdout(&s.run(&["user", "list"]));
    assert!(!list.contains("bob@example.com"), "{list}");
}

#[test]
fn wbxml_decode_and_encode_round_trip_a_captured_request() {
    let s = Scratch::new("wbxml", "");
    let capture: &[u8] = &[
        0x03, 0x01, 0x6A, 0x00, 0x00, 0x07, 0x56, 0x52, 0x03, 0x30, 0x00, 0x01, 0x01,
    ];
    let decoded = easd_cli(&s.config, &["wbxml", "decode"], Some(capture));
    assert!(decoded.status.success(), "{decoded:?}");
    let xml = stdout(&decoded);
    assert!(
        xml.contains("<FolderSync xmlns=\"FolderHierarchy:\">"),
        "{xml}"
    );
    assert!(xml.contains("<SyncKey>0</SyncKey>"), "{xml}");
    let encoded = easd_cli(&s.config, &["wbxml", "encode"], Some(xml.as_bytes()));
    assert!(encoded.status.success(), "{encoded:?}");
    assert_eq!(encoded.stdout, capture);

    let garbage = easd_cli(
        &s.config,
        &["wbxml", "decode"],
        Some(b"\x03\x01\x6a\x00\x45"),
    );
    assert_eq!(garbage.status.code(), Some(65));
}

#[test]
fn configuration_errors_name_the_line_and_exit_78() {
    let s = Scratch::new("badconf", "no-such-setting = 1\n");
    let out = s.run(&["user", "list"]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-setting"), "{err}");
}

#[test]
fn plain_http_on_a_network_address_is_refused() {
    let s = Scratch::new("plain", "https =\nhttp = 127.0.0.1:0\n");
    // On the command line, a non-loopback plain listener needs the explicit setting.
    let out = s.run(&["serve", "--http", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clear text"), "{err}");
}
