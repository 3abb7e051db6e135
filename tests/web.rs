//! The family's web page over real HTTPS against `easd serve`: sign-in (same logins and
//! throttle as EAS), the session cookie and its attributes, CSRF refusal, sign-out; the own
//! devices with wipe / cancel / remove behind a confirmation, seen by a real test device as
//! RemoteWipe, and a parked Ping woken by it; a second user who can neither see nor act on the
//! first user's devices, also by URL tampering; out-of-office read back through Settings Oof;
//! the password change; the administrators' overview.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{folder_sync_status, HttpClient, HttpResponse, TestDevice, TestServer, PASSWORD};
use easd::store::{FolderType, Store, WipeStatus};
use easd::wbxml::tag::{ping, settings as st};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

fn start() -> TestServer {
    let server = TestServer::start_with(&format!(
        "notify = 127.0.0.1:{}\nlog-level = debug",
        common::free_udp_port()
    ));
    server.add_user(ALICE);
    server.add_user(BOB);
    server
}

fn percent(text: &str) -> String {
    common::percent(text)
}

/// A browser: one TLS connection and a cookie jar.
struct Browser {
    http: HttpClient,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        Browser {
            http: server.tls_client(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &HttpResponse) {
        for (name, value) in &response.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap_or_default();
            let (k, v) = pair.split_once('=').expect("a cookie");
            if v.is_empty() || value.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
    }

    fn get(&mut self, target: &str) -> HttpResponse {
        let cookie = self.cookie_header();
        let response = self
            .http
            .request("GET", target, &[("Cookie", &cookie)], b"");
        self.keep_cookies(&response);
        response
    }

    fn post(&mut self, target: &str, fields: &[(&str, &str)]) -> HttpResponse {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
            .collect::<Vec<_>>()
            .join("&");
        let cookie = self.cookie_header();
        let response = self.http.request(
            "POST",
            target,
            &[
                ("Cookie", &cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        );
        self.keep_cookies(&response);
        response
    }

    fn sign_in(&mut self, email: &str, password: &str) -> HttpResponse {
        let form = self.get("/web/signin");
        assert_eq!(form.status, 200);
        let token = hidden(&text(&form), "signin");
        self.post(
            "/web/signin",
            &[("signin", &token), ("email", email), ("password", password)],
        )
    }

    /// The CSRF token of the page at `target`.
    fn csrf(&mut self, target: &str) -> String {
        let page = self.get(target);
        assert_eq!(page.status, 200, "{}", text(&page));
        hidden(&text(&page), "csrf")
    }
}

fn text(response: &HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// The value of the hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn signed_in(server: &TestServer, email: &str) -> Browser {
    let mut browser = Browser::new(server);
    let answer = browser.sign_in(email, PASSWORD);
    assert_eq!(answer.status, 303, "{}", text(&answer));
    browser
}

// --- a device that provisions, like a phone ----------------------------------------------

/// A provisioned phone of `email` speaking `version`.
fn phone(server: &TestServer, email: &str, id: &str, version: &str) -> TestDevice {
    let mut device = server.device_speaking(email, id, version);
    common::provision(&mut device);
    assert_eq!(folder_sync_status(&mut device), "1");
    device
}

fn wipe_status(server: &TestServer, email: &str, id: &str) -> WipeStatus {
    let store = Store::open(&server.db).unwrap();
    let user = store.user_by_email(email).unwrap().unwrap();
    let device = store.device(user.id, id).unwrap().expect("the device");
    store.provisioning(device.id).unwrap().wipe
}

// --- sign-in ---------------------------------------------------------------------------------

#[test]
fn sign_in_sets_a_protected_session_cookie_and_sign_out_ends_it() {
    let server = start();
    let mut browser = Browser::new(&server);
    let root = browser.get("/");
    assert_eq!(root.status, 303);
    assert_eq!(root.header("Location"), Some("/web/devices"));
    let devices = browser.get("/web/devices");
    assert_eq!(devices.status, 303, "signed out: to the sign-in page");
    assert_eq!(devices.header("Location"), Some("/web/signin"));

    let form = browser.get("/web/signin");
    assert_eq!(form.status, 200);
    let page = text(&form);
    assert!(page.contains("<label for=\"email\">"), "{page}");
    assert!(page.contains("<label for=\"password\">"), "{page}");
    assert!(form
        .header("Content-Security-Policy")
        .is_some_and(|v| v.contains("frame-ancestors 'none'")));

    // Wrong password: refused and logged in the line fail2ban reads.
    let wrong = browser.sign_in(ALICE, "not the password");
    assert_eq!(wrong.status, 401);
    assert!(text(&wrong).contains("Wrong e-mail address or password"));
    assert!(server
        .log()
        .contains("auth failure from 127.0.0.1 user \"alice@example.com\""));
    assert!(!browser.cookies.contains_key("easd_session"));

    let accepted = browser.sign_in(ALICE, PASSWORD);
    assert_eq!(accepted.status, 303);
    assert_eq!(accepted.header("Location"), Some("/web/devices"));
    let cookie = accepted
        .headers
        .iter()
        .find(|(n, v)| n.eq_ignore_ascii_case("set-cookie") && v.starts_with("easd_session="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    for attribute in [
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=43200",
        "Path=/web",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let devices = browser.get("/web/devices");
    assert_eq!(devices.status, 200);
    assert!(text(&devices).contains(ALICE));
    assert_eq!(devices.header("Cache-Control"), Some("no-store"));

    // Sign-out needs the form's token too, and ends the session for good.
    let stolen = browser.cookies.clone();
    let refused = browser.post("/web/signout", &[]);
    assert_eq!(refused.status, 403);
    let csrf = browser.csrf("/web/devices");
    let out = browser.post("/web/signout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(browser.get("/web/devices").status, 303);
    browser.cookies = stolen;
    assert_eq!(
        browser.get("/web/devices").status,
        303,
        "the old cookie is dead"
    );
}

#[test]
fn sign_in_needs_the_forms_own_token_and_https() {
    let server = start();
    let mut browser = Browser::new(&server);
    // A form posted from elsewhere carries no token bound to this browser.
    let forged = browser.post(
        "/web/signin",
        &[("signin", "0123"), ("email", ALICE), ("password", PASSWORD)],
    );
    assert_eq!(forged.status, 403);
    assert!(!browser.cookies.contains_key("easd_session"));

    let mut plain = server.client();
    let answer = plain.request("GET", "/web/signin", &[], b"");
    assert_eq!(answer.status, 403);
    assert!(text(&answer).contains("HTTPS"));
    // EAS and autodiscover are untouched by the page's routes.
    assert_eq!(plain.request("GET", "/nothing-here", &[], b"").status, 404);
    // Only GET reads and only POST changes.
    let mut tls = server.tls_client();
    let put = tls.request("PUT", "/web/devices", &[], b"");
    assert_eq!(put.status, 405);
    assert_eq!(put.header("Allow"), Some("GET, HEAD, POST"));
}

#[test]
fn failed_sign_ins_are_throttled_like_eas_logins() {
    let server = TestServer::start_with("login-failures = 3\nlogin-lockout = 600");
    server.add_user(ALICE);
    let mut browser = Browser::new(&server);
    for _ in 0..3 {
        assert_eq!(browser.sign_in(ALICE, "guess").status, 401);
    }
    let locked = browser.sign_in(ALICE, PASSWORD);
    assert_eq!(locked.status, 503, "{}", text(&locked));
    assert!(locked.header("Retry-After").is_some());
    // The same lock holds for EAS from this address.
    let mut phone = server.device(ALICE, "p1");
    assert_eq!(phone.options().status, 503);
}

// --- devices ---------------------------------------------------------------------------------

#[test]
fn a_wipe_from_the_page_is_confirmed_reaches_the_device_and_shows_as_wiped() {
    let server = start();
    let mut lost = phone(&server, ALICE, "lost-iphone", "16.1");
    let mut browser = signed_in(&server, ALICE);
    let page = text(&browser.get("/web/devices"));
    assert!(page.contains("TestPhone — last sync just now"), "{page}");
    assert!(page.contains("16.1"), "{page}");
    assert!(
        page.contains("<dd>neutral policy</dd>"),
        "policy state: {page}"
    );
    assert!(
        page.contains("/web/devices/confirm?device=lost-iphone&amp;action=wipe"),
        "{page}"
    );

    // The confirmation step changes nothing.
    let confirm = browser.get("/web/devices/confirm?device=lost-iphone&action=wipe");
    assert_eq!(confirm.status, 200);
    let confirm_page = text(&confirm);
    assert!(
        confirm_page.contains("Yes, wipe the device"),
        "{confirm_page}"
    );
    assert_eq!(wipe_status(&server, ALICE, "lost-iphone"), WipeStatus::None);
    let csrf = hidden(&confirm_page, "csrf");

    // Without the token, or with a wrong one, nothing happens.
    let no_token = browser.post(
        "/web/devices",
        &[("device", "lost-iphone"), ("action", "wipe")],
    );
    assert_eq!(no_token.status, 403);
    let wrong_token = browser.post(
        "/web/devices",
        &[
            ("csrf", "00000000000000000000000000000000"),
            ("device", "lost-iphone"),
            ("action", "wipe"),
        ],
    );
    assert_eq!(wrong_token.status, 403);
    assert_eq!(wipe_status(&server, ALICE, "lost-iphone"), WipeStatus::None);

    let done = browser.post(
        "/web/devices",
        &[
            ("csrf", &csrf),
            ("device", "lost-iphone"),
            ("action", "wipe"),
        ],
    );
    assert_eq!(done.status, 303, "{}", text(&done));
    assert_eq!(
        wipe_status(&server, ALICE, "lost-iphone"),
        WipeStatus::Waiting
    );
    let page = text(&browser.get(done.header("Location").unwrap()));
    assert!(page.contains("wipe pending"), "{page}");
    assert!(page.contains("action=cancel-wipe"), "{page}");

    // The phone is told at its next request and gets RemoteWipe from Provision.
    common::acknowledge_remote_wipe(&mut lost);
    assert_eq!(
        wipe_status(&server, ALICE, "lost-iphone"),
        WipeStatus::Wiped
    );
    let page = text(&browser.get("/web/devices"));
    assert!(page.contains("<dd>wiped</dd>"), "{page}");
    assert!(!page.contains("action=wipe\""), "no second wipe: {page}");
}

#[test]
fn cancel_account_only_wipe_and_remove() {
    let server = start();
    let _new = phone(&server, ALICE, "new", "16.1");
    let _old = phone(&server, ALICE, "old", "14.1");
    let mut browser = signed_in(&server, ALICE);
    let page = text(&browser.get("/web/devices"));
    assert!(
        page.contains("device=new&amp;action=wipe-account"),
        "{page}"
    );
    assert!(
        !page.contains("device=old&amp;action=wipe-account"),
        "account-only needs 16.1: {page}"
    );
    let csrf = hidden(&page, "csrf");
    let refused = browser.post(
        "/web/devices",
        &[
            ("csrf", &csrf),
            ("device", "old"),
            ("action", "wipe-account"),
        ],
    );
    assert_eq!(refused.status, 409);
    assert_eq!(wipe_status(&server, ALICE, "old"), WipeStatus::None);

    let account = browser.post(
        "/web/devices",
        &[
            ("csrf", &csrf),
            ("device", "new"),
            ("action", "wipe-account"),
        ],
    );
    assert_eq!(account.status, 303);
    assert!(text(&browser.get("/web/devices")).contains("account removal pending"));
    let cancel = browser.post(
        "/web/devices",
        &[
            ("csrf", &csrf),
            ("device", "new"),
            ("action", "cancel-wipe"),
        ],
    );
    assert_eq!(cancel.status, 303);
    assert_eq!(wipe_status(&server, ALICE, "new"), WipeStatus::None);

    let remove = browser.post(
        "/web/devices",
        &[("csrf", &csrf), ("device", "old"), ("action", "remove")],
    );
    assert_eq!(remove.status, 303);
    let store = Store::open(&server.db).unwrap();
    let alice = store.user_by_email(ALICE).unwrap().unwrap();
    assert!(store.device(alice.id, "old").unwrap().is_none());
    assert!(store.device(alice.id, "new").unwrap().is_some());
}

#[test]
fn nobody_sees_or_acts_on_another_users_devices() {
    let server = start();
    let _alices = phone(&server, ALICE, "alices-phone", "16.1");
    let _bobs = phone(&server, BOB, "bobs-phone", "16.1");
    let mut bob = signed_in(&server, BOB);
    let page = text(&bob.get("/web/devices"));
    assert!(page.contains("bobs-phone"), "{page}");
    assert!(!page.contains("alices-phone"), "{page}");

    // URL tampering: the same answer as for a device that does not exist.
    let confirm = bob.get("/web/devices/confirm?device=alices-phone&action=wipe");
    assert_eq!(confirm.status, 404);
    assert!(!text(&confirm).contains("alices-phone"));
    let csrf = hidden(&page, "csrf");
    for action in ["wipe", "wipe-account", "remove"] {
        let answer = bob.post(
            "/web/devices",
            &[
                ("csrf", &csrf),
                ("device", "alices-phone"),
                ("action", action),
            ],
        );
        assert_eq!(answer.status, 404, "{action}");
    }
    assert_eq!(
        wipe_status(&server, ALICE, "alices-phone"),
        WipeStatus::None
    );

    // Alice's token is no good in Bob's session, nor Bob's in Alice's.
    let mut alice = signed_in(&server, ALICE);
    let alice_csrf = alice.csrf("/web/devices");
    assert_ne!(alice_csrf, csrf);
    let answer = bob.post(
        "/web/devices",
        &[
            ("csrf", &alice_csrf),
            ("device", "bobs-phone"),
            ("action", "wipe"),
        ],
    );
    assert_eq!(answer.status, 403);
    assert_eq!(wipe_status(&server, BOB, "bobs-phone"), WipeStatus::None);
    // The overview of all users is for administrators only.
    assert_eq!(bob.get("/web/admin").status, 403);
}

#[test]
fn a_wipe_from_the_page_wakes_the_devices_parked_ping() {
    let server = start();
    let out = server.easd(&["config", "set", "push.heartbeat-min", "1"]);
    assert!(out.status.success(), "{out:?}");
    let store = Store::open(&server.db).unwrap();
    let alice = store.user_by_email(ALICE).unwrap().unwrap();
    let inbox = store
        .folders_of(alice.id)
        .unwrap()
        .into_iter()
        .find(|f| f.folder_type == FolderType::Inbox)
        .unwrap()
        .id;
    let mut pinger = phone(&server, ALICE, "pinger", "16.1");
    let waiting = std::thread::spawn(move || {
        let mut doc = Element::new(ping::PING);
        doc.push_text(ping::HEARTBEAT_INTERVAL, "1500");
        doc.push(Element::new(ping::FOLDERS))
            .push(Element::new(ping::FOLDER))
            .push_text(ping::ID, inbox.to_string())
            .push_text(ping::CLASS, "Email");
        pinger.command("Ping", Some(&doc))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("parked for") {
        assert!(Instant::now() < deadline, "not parked:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut browser = signed_in(&server, ALICE);
    let csrf = browser.csrf("/web/devices");
    let done = browser.post(
        "/web/devices",
        &[("csrf", &csrf), ("device", "pinger"), ("action", "wipe")],
    );
    assert_eq!(done.status, 303);
    let response = waiting.join().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.doc().child_text(ping::STATUS).as_deref(),
        Some("140"),
        "woken and told to provision"
    );
}

// --- out-of-office and password --------------------------------------------------------------

#[test]
fn out_of_office_set_on_the_page_is_what_settings_oof_reads() {
    let server = start();
    let mut browser = signed_in(&server, ALICE);
    let csrf = browser.csrf("/web/oof");
    let bad = browser.post(
        "/web/oof",
        &[
            ("csrf", &csrf),
            ("state", "period"),
            ("start", "2026-12-27T09:00"),
            ("end", "2026-12-24T09:00"),
            ("internal", "typed, not lost"),
        ],
    );
    assert_eq!(bad.status, 400);
    assert!(text(&bad).contains("end after it starts"));
    assert!(
        text(&bad).contains(">typed, not lost</textarea>"),
        "{}",
        text(&bad)
    );
    let saved = browser.post(
        "/web/oof",
        &[
            ("csrf", &csrf),
            ("state", "period"),
            ("start", "2026-12-24T09:00"),
            ("end", "2026-12-27T17:30"),
            ("internal_on", "1"),
            ("internal", "Back after Christmas <3"),
            ("external_on", "1"),
            ("external_to", "known"),
            ("external", "I am away."),
        ],
    );
    assert_eq!(saved.status, 303, "{}", text(&saved));
    let page = text(&browser.get("/web/oof?done=saved"));
    assert!(page.contains("Back after Christmas &lt;3"), "{page}");
    assert!(page.contains("value=\"2026-12-24T09:00\""), "{page}");

    let mut device = server.device(ALICE, "oofreader");
    let mut get = Element::new(st::SETTINGS);
    get.push(Element::new(st::OOF))
        .push(Element::new(st::GET))
        .push_text(st::BODY_TYPE, "Text");
    let answer = device.command("Settings", Some(&get));
    assert_eq!(answer.status(), 200);
    let oof = answer
        .doc()
        .child(st::OOF)
        .and_then(|o| o.child(st::GET))
        .cloned()
        .expect("Oof Get");
    assert_eq!(oof.child_text(st::OOF_STATE).as_deref(), Some("2"));
    assert_eq!(
        oof.child_text(st::START_TIME).as_deref(),
        Some("2026-12-24T09:00:00.000Z")
    );
    assert_eq!(
        oof.child_text(st::END_TIME).as_deref(),
        Some("2026-12-27T17:30:00.000Z")
    );
    let messages: Vec<(bool, String, String)> = oof
        .children_with(st::OOF_MESSAGE)
        .map(|m| {
            (
                m.child(st::APPLIES_TO_INTERNAL).is_some(),
                m.child_text(st::ENABLED).unwrap_or_default(),
                m.child_text(st::REPLY_MESSAGE).unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        messages.contains(&(true, "1".into(), "Back after Christmas <3".into())),
        "{messages:?}"
    );
    assert!(
        messages.contains(&(false, "1".into(), "I am away.".into())),
        "{messages:?}"
    );
    assert!(
        messages.contains(&(false, "0".into(), "I am away.".into())),
        "unknown senders get none: {messages:?}"
    );
}

#[test]
fn the_password_changes_only_with_the_old_one_and_ends_other_sessions() {
    let server = start();
    let mut browser = signed_in(&server, ALICE);
    let mut elsewhere = signed_in(&server, ALICE);
    let csrf = browser.csrf("/web/password");
    let new = "a much newer passphrase";
    let wrong_old = browser.post(
        "/web/password",
        &[
            ("csrf", &csrf),
            ("old", "nope"),
            ("new", new),
            ("repeat", new),
        ],
    );
    assert_eq!(wrong_old.status, 403);
    let differ = browser.post(
        "/web/password",
        &[
            ("csrf", &csrf),
            ("old", PASSWORD),
            ("new", new),
            ("repeat", "other"),
        ],
    );
    assert_eq!(differ.status, 400);
    let no_token = browser.post(
        "/web/password",
        &[("old", PASSWORD), ("new", new), ("repeat", new)],
    );
    assert_eq!(no_token.status, 403);
    let mut phone = server.device(ALICE, "pw");
    assert_eq!(phone.options().status, 200, "the old password still works");

    let changed = browser.post(
        "/web/password",
        &[
            ("csrf", &csrf),
            ("old", PASSWORD),
            ("new", new),
            ("repeat", new),
        ],
    );
    assert_eq!(changed.status, 200);
    assert!(text(&changed).contains("Your password is changed"));
    assert_eq!(
        browser.get("/web/devices").status,
        200,
        "this session stays"
    );
    assert_eq!(
        elsewhere.get("/web/devices").status,
        303,
        "other sessions end"
    );
    assert_eq!(phone.options().status, 401);
    let mut renewed = TestDevice::new(server.client(), ALICE, new, "pw");
    assert_eq!(renewed.options().status, 200);
    assert_eq!(Browser::new(&server).sign_in(ALICE, new).status, 303);
}

// --- administrators --------------------------------------------------------------------------

#[test]
fn an_administrator_sees_all_devices_policies_with_sources_and_pending_wipes() {
    let server = start();
    let _alices = phone(&server, ALICE, "alices-phone", "16.1");
    let out = server.easd(&[
        "policy",
        "set",
        "--user",
        ALICE,
        "MinDevicePasswordLength",
        "6",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = server.easd(&["device", "wipe", ALICE, "alices-phone"]);
    assert!(out.status.success(), "{out:?}");
    let out = server.easd(&["user", "set", BOB, "--admin"]);
    assert!(out.status.success(), "{out:?}");
    let mut bob = signed_in(&server, BOB);
    let devices = text(&bob.get("/web/devices"));
    assert!(devices.contains("href=\"/web/admin\""), "{devices}");
    assert!(
        !devices.contains("alices-phone"),
        "own devices page stays own"
    );
    let admin = bob.get("/web/admin");
    assert_eq!(admin.status, 200);
    let page = text(&admin);
    assert!(page.contains(ALICE) && page.contains(BOB), "{page}");
    assert!(page.contains("alices-phone"), "{page}");
    assert!(
        page.contains("<tr><td>MinDevicePasswordLength</td><td>6</td><td>user</td></tr>"),
        "{page}"
    );
    assert!(page.contains("<h2>Pending wipes</h2><ul><li>"), "{page}");

    let out = server.easd(&["user", "set", BOB, "--no-admin"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(bob.get("/web/admin").status, 403);
}

// --- phone setup -----------------------------------------------------------------------------

/// The CA certificate easd made at its first start, DER.
fn first_start_ca(server: &TestServer) -> Vec<u8> {
    let pem = std::fs::read_to_string(server.db.with_file_name("easd-ca.pem"))
        .expect("the first start makes a CA next to the database");
    easd::ca::pem_der(&pem).expect("a certificate")
}

#[test]
fn a_client_that_trusts_only_the_ca_accepts_the_server() {
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::io::{Read, Write};
    let server = start();
    let ca = first_start_ca(&server);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca)).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(server.https).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"GET /web/signin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("the handshake succeeds with only the CA trusted");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn the_setup_page_offers_the_ca_the_profile_and_the_values_to_type() {
    let server = start();
    let ca = first_start_ca(&server);
    let mut browser = signed_in(&server, ALICE);
    let page = browser.get("/web/setup");
    assert_eq!(page.status, 200);
    let html = text(&page);
    let fingerprint = easd::ca::sha256_fingerprint(&ca);
    assert!(html.contains(&fingerprint), "{html}");
    assert!(html.contains("<dt>Server</dt><dd>localhost</dd>"), "{html}");
    assert!(
        html.contains(&format!("<dt>User name</dt><dd>{ALICE}</dd>")),
        "{html}"
    );
    assert!(
        html.contains("<svg") && html.contains("role=\"img\""),
        "{html}"
    );

    let download = browser.get("/web/setup/easd-ca.cer");
    assert_eq!(download.status, 200);
    assert_eq!(
        download.header("Content-Type"),
        Some("application/x-x509-ca-cert")
    );
    assert_eq!(download.body, ca);

    let profile = browser.get("/web/setup/easd.mobileconfig");
    assert_eq!(profile.status, 200);
    assert_eq!(
        profile.header("Content-Type"),
        Some("application/x-apple-aspen-config")
    );
    let body = String::from_utf8(profile.body.clone()).unwrap();
    assert!(!body.contains(PASSWORD) && !body.contains("<key>Password</key>"));
    // Validated as a property list by Python's plistlib, which prints what iOS reads.
    let path = server.dir.join("easd.mobileconfig");
    std::fs::write(&path, &profile.body).unwrap();
    let script = r#"
import plistlib, sys, hashlib
with open(sys.argv[1], 'rb') as f:
    p = plistlib.load(f)
assert p['PayloadType'] == 'Configuration', p
assert p['PayloadVersion'] == 1
for key in ('PayloadIdentifier', 'PayloadUUID', 'PayloadDisplayName'):
    assert isinstance(p[key], str) and p[key], key
ids = [p['PayloadIdentifier']]
uuids = [p['PayloadUUID']]
for q in p['PayloadContent']:
    assert q['PayloadVersion'] == 1
    ids.append(q['PayloadIdentifier']); uuids.append(q['PayloadUUID'])
    if q['PayloadType'] == 'com.apple.eas.account':
        assert 'Password' not in q
        print('eas', q['Host'], q['UserName'], q['EmailAddress'], q['SSL'])
    elif q['PayloadType'] == 'com.apple.security.root':
        print('ca', hashlib.sha256(q['PayloadContent']).hexdigest())
    else:
        raise SystemExit('unexpected payload ' + q['PayloadType'])
assert len(set(ids)) == len(ids) and len(set(uuids)) == len(uuids)
assert all(i.startswith('localhost.easd.') for i in ids), ids
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    let port = server.https.port();
    assert!(
        printed.contains(&format!("eas localhost:{port} {ALICE} {ALICE} True")),
        "{printed}"
    );
    let ca_hex: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&ca)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert!(printed.contains(&format!("ca {ca_hex}")), "{printed}");
    // Installing it twice replaces the account: the identifiers do not change.
    let again = browser.get("/web/setup/easd.mobileconfig");
    assert_eq!(again.body, profile.body);
    // Signed out, nothing is handed out.
    let mut stranger = Browser::new(&server);
    assert_eq!(stranger.get("/web/setup/easd.mobileconfig").status, 303);
}

// --- S/MIME certificates ------------------------------------------------------------------

/// A self-signed S/MIME certificate for `email`, as PEM.
fn smime_pem(email: &str) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{email} mail"));
    params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(email.try_into().unwrap())];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::EmailProtection];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2090, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

#[test]
fn users_store_their_own_certificates_and_only_their_own() {
    use easd::wbxml::tag::resolve_recipients as rr;
    let server = start();
    let mut alice = signed_in(&server, ALICE);
    let csrf = alice.csrf("/web/certificates");
    assert!(text(&alice.get("/web/certificates")).contains("No certificates stored"));

    // Bob's certificate is not Alice's to store; garbage is no certificate.
    let refused = alice.post(
        "/web/certificates",
        &[("csrf", &csrf), ("action", "add"), ("pem", &smime_pem(BOB))],
    );
    assert_eq!(refused.status, 400);
    assert!(
        text(&refused).contains("for bob@example.com"),
        "{}",
        text(&refused)
    );
    let garbage = alice.post(
        "/web/certificates",
        &[("csrf", &csrf), ("action", "add"), ("pem", "hello")],
    );
    assert_eq!(garbage.status, 400);
    // Without the session's token nothing is stored.
    let forged = alice.post(
        "/web/certificates",
        &[
            ("csrf", "0000"),
            ("action", "add"),
            ("pem", &smime_pem(ALICE)),
        ],
    );
    assert_eq!(forged.status, 403);

    let added = alice.post(
        "/web/certificates",
        &[
            ("csrf", &csrf),
            ("action", "add"),
            ("pem", &smime_pem(ALICE)),
        ],
    );
    assert_eq!(added.status, 303, "{}", text(&added));
    let page = text(&alice.get("/web/certificates?done=added"));
    assert!(
        page.contains("alice@example.com mail") && page.contains("in use"),
        "{page}"
    );
    let fingerprint = hidden(&page, "fingerprint");

    // Bob's phone now gets Alice's certificate.
    let mut phone = server.device(BOB, "bob-phone");
    let mut doc = Element::new(rr::RESOLVE_RECIPIENTS);
    doc.push_text(rr::TO, ALICE);
    let mut options = Element::new(rr::OPTIONS);
    options.push_text(rr::CERTIFICATE_RETRIEVAL, "2");
    doc.push(options);
    let answer = phone.command("ResolveRecipients", Some(&doc));
    let certificates = answer
        .doc()
        .child(rr::RESPONSE)
        .and_then(|r| r.child(rr::RECIPIENT))
        .and_then(|r| r.child(rr::CERTIFICATES))
        .cloned()
        .unwrap();
    assert_eq!(certificates.child_text(rr::STATUS).as_deref(), Some("1"));

    // Bob cannot remove Alice's certificate, even knowing its fingerprint.
    let mut bob = signed_in(&server, BOB);
    let bob_csrf = bob.csrf("/web/certificates");
    let tampered = bob.post(
        "/web/certificates",
        &[
            ("csrf", &bob_csrf),
            ("action", "remove"),
            ("fingerprint", &fingerprint),
        ],
    );
    assert_eq!(tampered.status, 400);
    assert!(!text(&bob.get("/web/certificates")).contains(&fingerprint));
    let removed = alice.post(
        "/web/certificates",
        &[
            ("csrf", &csrf),
            ("action", "remove"),
            ("fingerprint", &fingerprint),
        ],
    );
    assert_eq!(removed.status, 303);
    assert!(text(&alice.get("/web/certificates")).contains("No certificates stored"));
}
