//! The web page in a real browser: Debian's chromium, headless, driven through chromedriver's
//! W3C WebDriver HTTP API with a few hand-written JSON requests (a WebDriver client crate
//! would bring an async runtime). It signs in, wipes a device that a test device then sees as
//! RemoteWipe, sets out-of-office and reads it back through Settings Oof, changes the password;
//! and takes screenshots of every page at phone and laptop width into
//! target/web-screenshots/. `.ci/run` installs chromium and chromium-driver; without them the
//! test says loudly that it skipped.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{folder_sync_status, HttpClient, TestDevice, TestServer, PASSWORD};
use easd::wbxml::tag::settings as st;
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
/// How the key of an element reference begins in WebDriver answers (W3C names
/// `element-6066-11e4-a932-00f53a16f5e1`; this chromedriver answers with another suffix).
const ELEMENT_KEY_PREFIX: &str = "\"element-6066-11e4-";

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The string value after `"key":"` in a JSON answer (no escapes expected in it).
fn json_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let marker = format!("\"{key}\":\"");
    let start = json.find(&marker)? + marker.len();
    let end = start + json[start..].find('"')?;
    Some(&json[start..end])
}

/// A chromedriver process and one browser session in it.
struct Browser {
    driver: Child,
    http: HttpClient,
    session: String,
    base: String,
    _profile: PathBuf,
}

impl Browser {
    fn start(base: &str) -> Option<Browser> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile =
            std::env::temp_dir().join(format!("easd-chromium-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.display()),
        ]
        .iter()
        .map(|a| json_string(a))
        .collect::<Vec<_>>()
        .join(",");
        let mut http = HttpClient::plain(addr);
        let body = format!(
            "{{\"capabilities\":{{\"alwaysMatch\":{{\"acceptInsecureCerts\":true,\
             \"goog:chromeOptions\":{{\"binary\":\"/usr/bin/chromium\",\"args\":[{args}]}}}}}}}}"
        );
        let answer = http.request(
            "POST",
            "/session",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        assert_eq!(answer.status, 200, "new session: {text}");
        let session = json_value(&text, "sessionId")
            .expect("a session id")
            .to_string();
        Some(Browser {
            driver,
            http,
            session,
            base: base.to_string(),
            _profile: profile,
        })
    }

    fn call(&mut self, method: &str, path: &str, body: &str) -> String {
        let target = format!("/session/{}{path}", self.session);
        let answer = self.http.request(
            method,
            &target,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        assert_eq!(answer.status, 200, "{method} {path} {body}: {text}");
        text
    }

    fn go(&mut self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.call(
            "POST",
            "/url",
            &format!("{{\"url\":{}}}", json_string(&url)),
        );
    }

    fn element(&mut self, css: &str) -> String {
        let answer = self.call(
            "POST",
            "/element",
            &format!(
                "{{\"using\":\"css selector\",\"value\":{}}}",
                json_string(css)
            ),
        );
        answer
            .find(ELEMENT_KEY_PREFIX)
            .and_then(|start| {
                let rest = &answer[start + 1..];
                let key = &rest[..rest.find('"')?];
                json_value(rest, key).or_else(|| json_value(&answer, key))
            })
            .unwrap_or_else(|| panic!("no element {css}: {answer}"))
            .to_string()
    }

    fn type_into(&mut self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            &format!("{{\"text\":{}}}", json_string(text)),
        );
    }

    fn click(&mut self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), "{}");
    }

    /// The page's HTML (the JSON string `value` of the answer, unescaped).
    fn source(&mut self) -> String {
        let answer = self.call("GET", "/source", "");
        let start = answer.find("\"value\":\"").expect("a value") + "\"value\":\"".len();
        let mut html = String::new();
        let mut chars = answer[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => html.push('\n'),
                    Some('t') => html.push('\t'),
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        let code = u32::from_str_radix(&hex, 16).expect("\\u escape");
                        html.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    Some(other) => html.push(other),
                    None => break,
                },
                c => html.push(c),
            }
        }
        html
    }

    /// Waits until the page shows `text` (after a click that navigates).
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let source = self.source();
            if source.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "never showed {text:?}: {source}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn resize(&mut self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            &format!("{{\"width\":{width},\"height\":{height}}}"),
        );
    }

    fn screenshot(&mut self, name: &str) {
        let answer = self.call("GET", "/screenshot", "");
        let png = base64::engine::general_purpose::STANDARD
            .decode(json_value(&answer, "value").expect("a screenshot"))
            .expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let target = format!("/session/{}", self.session);
        let _ = self.http.request("DELETE", &target, &[], b"");
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

fn chromium_installed() -> bool {
    ["chromium", "chromedriver"].iter().all(|program| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[test]
fn a_person_signs_in_wipes_a_lost_phone_sets_out_of_office_and_changes_the_password() {
    if !chromium_installed() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the browser test: chromium and chromedriver are not installed \
             (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
        return;
    }
    let server = TestServer::start_with(&format!(
        "notify = 127.0.0.1:{}\nlog-level = debug",
        common::free_udp_port()
    ));
    server.add_user(ALICE);
    let out = server.easd(&["user", "set", ALICE, "--admin"]);
    assert!(out.status.success(), "{out:?}");
    // The phone that gets lost: provisioned, as phones with a policy are.
    let mut lost = server.device(ALICE, "iphone-15");
    lost.device_type = "iPhone".into();
    common::provision(&mut lost);
    assert_eq!(folder_sync_status(&mut lost), "1");

    let base = format!("https://localhost:{}", server.https.port());
    let Some(mut browser) = Browser::start(&base) else {
        panic!("chromium and chromedriver are installed but chromedriver did not start");
    };
    browser.resize(390, 844);

    // Sign in.
    browser.go("/");
    browser.wait_for("Sign in");
    browser.screenshot("phone-signin");
    browser.type_into("#email", ALICE);
    browser.type_into("#password", PASSWORD);
    browser.click("form.card button[type=submit]");
    browser.wait_for("iPhone — last sync");
    browser.screenshot("phone-devices");

    // Wipe, with its confirmation.
    browser.click("a[href$='action=wipe']");
    browser.wait_for("Yes, wipe the device");
    browser.screenshot("phone-confirm-wipe");
    browser.click("main form button[type=submit]");
    browser.wait_for("wipe pending");
    browser.screenshot("phone-devices-wipe-pending");
    common::acknowledge_remote_wipe(&mut lost);
    browser.go("/web/devices");
    browser.wait_for("<dd>wiped</dd>");
    browser.screenshot("phone-devices-wiped");

    // Out of office, read back through Settings Oof by a device.
    browser.go("/web/oof");
    browser.wait_for("Automatic replies");
    browser.click("#on");
    browser.click("#internal_on");
    browser.type_into("#internal", "On holiday until the 3rd.");
    browser.click("main form button[type=submit]");
    browser.wait_for("Your out-of-office reply is saved.");
    browser.screenshot("phone-oof");
    let mut reader = server.device(ALICE, "reader");
    let mut get = Element::new(st::SETTINGS);
    get.push(Element::new(st::OOF))
        .push(Element::new(st::GET))
        .push_text(st::BODY_TYPE, "Text");
    let answer = reader.command("Settings", Some(&get));
    let oof = answer
        .doc()
        .child(st::OOF)
        .and_then(|o| o.child(st::GET))
        .cloned()
        .expect("Oof Get");
    assert_eq!(oof.child_text(st::OOF_STATE).as_deref(), Some("1"));
    let internal = oof
        .children_with(st::OOF_MESSAGE)
        .find(|m| m.child(st::APPLIES_TO_INTERNAL).is_some())
        .expect("the internal message");
    assert_eq!(internal.child_text(st::ENABLED).as_deref(), Some("1"));
    assert_eq!(
        internal.child_text(st::REPLY_MESSAGE).as_deref(),
        Some("On holiday until the 3rd.")
    );

    // The password.
    let new = "a brand new passphrase";
    browser.go("/web/password");
    browser.wait_for("Current password");
    browser.type_into("#old", PASSWORD);
    browser.type_into("#new", new);
    browser.type_into("#repeat", new);
    browser.click("main form button[type=submit]");
    browser.wait_for("Your password is changed.");
    browser.screenshot("phone-password");
    assert_eq!(reader.options().status, 401, "the old password is gone");
    let mut renewed = TestDevice::new(server.client(), ALICE, new, "reader");
    assert_eq!(renewed.options().status, 200);

    browser.go("/web/certificates");
    browser.wait_for("No certificates stored");
    browser.screenshot("phone-certificates");
    browser.go("/web/setup");
    browser.wait_for("Set up a phone");
    browser.screenshot("phone-setup");
    browser.go("/web/admin");
    browser.wait_for("Pending wipes");
    browser.screenshot("phone-admin");

    // Every page again at laptop width.
    browser.resize(1280, 900);
    for (path, name, shows) in [
        ("/web/devices", "laptop-devices", "wiped"),
        (
            "/web/devices/confirm?device=iphone-15&action=remove",
            "laptop-confirm-remove",
            "Yes, forget it",
        ),
        ("/web/oof", "laptop-oof", "Automatic replies"),
        ("/web/password", "laptop-password", "Current password"),
        (
            "/web/certificates",
            "laptop-certificates",
            "Add a certificate",
        ),
        ("/web/setup", "laptop-setup", "Android and Outlook"),
        ("/web/admin", "laptop-admin", "Pending wipes"),
    ] {
        browser.go(path);
        browser.wait_for(shows);
        browser.screenshot(name);
    }
    browser.click(".signout button");
    browser.wait_for("Sign in");
    browser.screenshot("laptop-signin");
}
