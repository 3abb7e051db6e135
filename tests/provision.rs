//! Provisioning, policies and remote wipe over real HTTP and WBXML against `easd serve`: the
//! two-phase Provision for 12.1, 14.1 and 16.1 devices and the WAP document of 2.5; the
//! "provision first" answers (HTTP 449 below 14.0, Status 142/143/144/145 from 14.0 on); a
//! policy change and the refresh interval forcing re-provisioning; inheritance over the four
//! levels with `easd policy`; non-provisionable and declining devices (refused and mailed, or
//! exempted); the caps the server applies to the data it sends; and remote wipe (Waiting →
//! Wiped with its confirmation, cancel, account-only, a parked Ping woken by it).

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{folder_sync_status, provision_request, TestDevice, TestServer};
use easd::store::{FolderId, FolderType, NewMessage, Store, UserId};
use easd::wbxml::tag::{
    airsync, airsyncbase as base, folder_hierarchy as fh, item_operations as io, ping,
    provision as prov, settings,
};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const ADMIN: &str = "admin@example.com";
const EAS: &str = common::EAS_POLICY_TYPE;
const WAP: &str = "MS-WAP-Provisioning-XML";

fn start() -> TestServer {
    let server = TestServer::start_with(&format!(
        "admin-email = {ADMIN}\nnotify = 127.0.0.1:{}\nlog-level = debug",
        common::free_udp_port()
    ));
    server.add_user(ALICE);
    server
}

fn easd_ok(server: &TestServer, args: &[&str]) -> String {
    let out = server.easd(args);
    assert!(out.status.success(), "easd {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn device(server: &TestServer, id: &str, version: &str) -> TestDevice {
    server.device_speaking(ALICE, id, version)
}

fn user_id(server: &TestServer) -> (Store, UserId) {
    let (store, user) = server.store_and_user(ALICE);
    (store, user)
}

fn inbox(store: &Store, user: UserId) -> FolderId {
    common::folder(store, user, FolderType::Inbox)
}

/// (subject, cc) of every message in Alice's Inbox.
fn inbox_messages(server: &TestServer) -> Vec<(String, String)> {
    let (store, user) = user_id(server);
    let folder = inbox(&store, user);
    let mut statement = store
        .connection()
        .prepare(
            "SELECT m.subject, m.cc_addrs FROM messages m JOIN items i ON i.id = m.item_id
             WHERE i.folder_id = ?1 ORDER BY i.id",
        )
        .unwrap();
    let rows = statement
        .query_map([folder], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// The Policy element of a Provision answer.
fn answered_policy(answer: &Element) -> Element {
    assert_eq!(answer.tag, prov::PROVISION);
    assert_eq!(answer.child_text(prov::STATUS).as_deref(), Some("1"));
    answer
        .child(prov::POLICIES)
        .and_then(|p| p.child(prov::POLICY))
        .cloned()
        .expect("a Policy")
}

/// Phase one: the temporary key and the Data element.
fn phase_one(
    device: &mut TestDevice,
    policy_type: &str,
    extra: Option<Element>,
) -> (String, Element) {
    let mut doc = provision_request(policy_type, None);
    if let Some(extra) = extra {
        doc.children.insert(0, easd::wbxml::Node::Element(extra));
    }
    let response = device.command("Provision", Some(&doc));
    assert_eq!(response.status(), 200, "{:?}", response.http);
    common::libwbxml_agrees(&response.http.body, "Provision");
    let policy = answered_policy(response.doc());
    assert_eq!(policy.child_text(prov::STATUS).as_deref(), Some("1"));
    assert_eq!(
        policy.child_text(prov::POLICY_TYPE).as_deref(),
        Some(policy_type)
    );
    let key = policy
        .child_text(prov::POLICY_KEY)
        .expect("a temporary key");
    assert_ne!(key, "0");
    (key, policy.child(prov::DATA).cloned().expect("Data"))
}

/// Phase two: acknowledges `temporary` with `status`; returns the final key.
fn phase_two(device: &mut TestDevice, policy_type: &str, temporary: &str, status: &str) -> String {
    device.policy_key = Some(temporary.to_string());
    let response = device.command(
        "Provision",
        Some(&provision_request(policy_type, Some((temporary, status)))),
    );
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "Provision");
    let policy = answered_policy(response.doc());
    assert_eq!(policy.child_text(prov::STATUS).as_deref(), Some("1"));
    let key = policy.child_text(prov::POLICY_KEY).expect("a final key");
    assert_ne!(key, temporary);
    assert_ne!(key, "0");
    key
}

/// Both phases; the device carries the final key afterwards. Returns the provision doc.
fn provision(device: &mut TestDevice) -> Element {
    let (temporary, data) = phase_one(device, EAS, None);
    let key = phase_two(device, EAS, &temporary, "1");
    device.policy_key = Some(key);
    data.child(prov::EAS_PROVISION_DOC)
        .cloned()
        .expect("an EASProvisionDoc")
}

fn folder_sync(device: &mut TestDevice) -> common::EasResponse {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, "0");
    device.command("FolderSync", Some(&doc))
}

#[test]
fn the_neutral_default_lets_keyless_devices_in_and_provisions_the_neutral_doc() {
    let server = start();
    let mut phone = device(&server, "neutral", "16.1");
    assert_eq!(folder_sync_status(&mut phone), "1");
    let doc = provision(&mut phone);
    assert_eq!(
        doc.child_text(prov::DEVICE_PASSWORD_ENABLED).as_deref(),
        Some("0")
    );
    assert_eq!(doc.child_text(prov::ALLOW_HTML_EMAIL).as_deref(), Some("1"));
    assert_eq!(
        doc.child_text(prov::MAX_EMAIL_AGE_FILTER).as_deref(),
        Some("0")
    );
    assert_eq!(
        doc.elements().count(),
        easd::policy::SETTINGS
            .iter()
            .filter(|s| s.in_provision_doc)
            .count()
    );
    assert_eq!(folder_sync_status(&mut phone), "1");
    let show = easd_ok(&server, &["policy", "show"]);
    assert!(show.contains("neutral: nothing is enforced"), "{show}");

    // What is not a proper request gets the Provision and Policy Status codes.
    let response = phone.command("Provision", None);
    assert_eq!(
        response.doc().child_text(prov::STATUS).as_deref(),
        Some("2")
    );
    let response = phone.command("Provision", Some(&provision_request("bogus", None)));
    let policy = answered_policy(response.doc());
    assert_eq!(policy.child_text(prov::STATUS).as_deref(), Some("3"));
    assert!(policy.child(prov::POLICY_KEY).is_none());
    let response = phone.command(
        "Provision",
        Some(&provision_request(EAS, Some(("4242", "1")))),
    );
    let policy = answered_policy(response.doc());
    assert_eq!(policy.child_text(prov::STATUS).as_deref(), Some("5"));
}

#[test]
fn a_12_1_device_gets_449_until_it_provisions() {
    let server = start();
    easd_ok(&server, &["policy", "set", "DevicePasswordEnabled", "1"]);
    let mut phone = device(&server, "old", "12.1");
    phone.policy_key = Some("0".into());
    assert_eq!(folder_sync(&mut phone).status(), 449);
    let doc = provision(&mut phone);
    assert_eq!(
        doc.child_text(prov::DEVICE_PASSWORD_ENABLED).as_deref(),
        Some("1")
    );
    // 12.1 knows the 12.1 settings; 12.0 would not get AllowCamera.
    assert!(doc.child(prov::ALLOW_CAMERA).is_some());
    assert_eq!(folder_sync(&mut phone).status(), 200);
    // A key that is not the device's final key.
    phone.policy_key = Some("12345".into());
    assert_eq!(folder_sync(&mut phone).status(), 449);
    // A policy change: the old key no longer does.
    let key = provision_key_again(&mut phone);
    assert_eq!(folder_sync(&mut phone).status(), 200);
    easd_ok(&server, &["policy", "set", "AllowCamera", "0"]);
    assert_eq!(folder_sync(&mut phone).status(), 449);
    let doc = provision(&mut phone);
    assert_ne!(phone.policy_key.as_deref(), Some(key.as_str()));
    assert_eq!(doc.child_text(prov::ALLOW_CAMERA).as_deref(), Some("0"));
    assert_eq!(folder_sync(&mut phone).status(), 200);
    // The same device speaking 12.0 gets only the 12.0 settings.
    phone.version = "12.0".into();
    let (_, data) = phase_one(&mut phone, EAS, None);
    let doc = data.child(prov::EAS_PROVISION_DOC).unwrap();
    assert!(doc.child(prov::ALLOW_CAMERA).is_none());
    assert!(doc.child(prov::DEVICE_PASSWORD_ENABLED).is_some());
}

fn provision_key_again(phone: &mut TestDevice) -> String {
    provision(phone);
    phone.policy_key.clone().unwrap()
}

#[test]
fn devices_from_14_0_get_status_142_to_145_in_the_commands_answer() {
    let server = start();
    easd_ok(&server, &["policy", "set", "MinDevicePasswordLength", "6"]);
    for version in ["14.1", "16.1"] {
        let id = format!("modern{}", version.replace('.', ""));
        let mut phone = device(&server, &id, version);
        phone.policy_key = Some("0".into());
        assert_eq!(folder_sync_status(&mut phone), "142", "{version}");

        // 14.1+: DeviceInformation inside the first Provision is answered and stored.
        let mut info = Element::new(settings::DEVICE_INFORMATION);
        info.push(Element::new(settings::SET))
            .push_text(settings::MODEL, "Pocket 9")
            .push_text(settings::OS, "PocketOS 3")
            .push_text(settings::FRIENDLY_NAME, "Alice's phone")
            .push_text(settings::MOBILE_OPERATOR, "Carrier");
        let mut doc = provision_request(EAS, None);
        doc.children.insert(0, easd::wbxml::Node::Element(info));
        let response = phone.command("Provision", Some(&doc));
        common::libwbxml_agrees(&response.http.body, "DeviceInformation");
        let answer = response.doc();
        assert_eq!(
            answer
                .child(settings::DEVICE_INFORMATION)
                .and_then(|d| d.child_text(settings::STATUS))
                .as_deref(),
            Some("1")
        );
        let policy = answered_policy(answer);
        let temporary = policy.child_text(prov::POLICY_KEY).unwrap();
        let eas_doc = policy
            .child(prov::DATA)
            .and_then(|d| d.child(prov::EAS_PROVISION_DOC))
            .unwrap();
        assert_eq!(
            eas_doc
                .child_text(prov::MIN_DEVICE_PASSWORD_LENGTH)
                .as_deref(),
            Some("6")
        );
        // The temporary key does not open the door.
        phone.policy_key = Some(temporary.clone());
        assert_eq!(folder_sync_status(&mut phone), "144");
        let key = phase_two(&mut phone, EAS, &temporary, "1");
        phone.policy_key = Some(key.clone());
        assert_eq!(folder_sync_status(&mut phone), "1");
        // Acknowledging again (a lost answer) gets the same final key.
        let again = phone.command(
            "Provision",
            Some(&provision_request(EAS, Some((&key, "1")))),
        );
        assert_eq!(
            answered_policy(again.doc()).child_text(prov::POLICY_KEY),
            Some(key.clone())
        );
        phone.policy_key = Some("99".into());
        assert_eq!(folder_sync_status(&mut phone), "144");
        phone.policy_key = Some(key);

        let (store, user) = user_id(&server);
        let stored = store.device(user, &id).unwrap().unwrap();
        let info = store.device_information(stored.id).unwrap();
        assert_eq!(info.model, "Pocket 9");
        assert_eq!(info.os, "PocketOS 3");
        assert_eq!(info.friendly_name, "Alice's phone");
        assert_eq!(info.mobile_operator, "Carrier");
    }

    // A policy change: every device must provision again (143).
    easd_ok(&server, &["policy", "set", "MinDevicePasswordLength", "8"]);
    let mut phone = device(&server, "modern161", "16.1");
    phone.policy_key = Some(phone_key(&server, "modern161"));
    assert_eq!(folder_sync_status(&mut phone), "143");
    provision(&mut phone);
    assert_eq!(folder_sync_status(&mut phone), "1");

    // A device that says it is externally managed (acknowledgment Status 4): 145.
    let mut managed = device(&server, "managed", "16.1");
    let (temporary, _) = phase_one(&mut managed, EAS, None);
    let key = phase_two(&mut managed, EAS, &temporary, "4");
    managed.policy_key = Some(key);
    assert_eq!(folder_sync_status(&mut managed), "145");
}

/// The final key the server stored for a device.
fn phone_key(server: &TestServer, id: &str) -> String {
    let (store, user) = user_id(server);
    let device = store.device(user, id).unwrap().unwrap();
    store
        .provisioning(device.id)
        .unwrap()
        .policy_key
        .expect("a key")
        .to_string()
}

#[test]
fn the_refresh_interval_forces_provisioning_after_its_hours() {
    let server = start();
    easd_ok(&server, &["policy", "set", "AllowBluetooth", "1"]);
    easd_ok(&server, &["policy", "set", "refresh-interval", "2"]);
    let mut phone = device(&server, "refresh", "14.0");
    provision(&mut phone);
    assert_eq!(folder_sync_status(&mut phone), "1");
    // Three hours ago, as far as the server knows.
    let (store, _) = user_id(&server);
    store
        .connection()
        .execute(
            "UPDATE devices SET provisioned_at = provisioned_at - 3 * 3600 WHERE device_id = 'refresh'",
            [],
        )
        .unwrap();
    assert_eq!(folder_sync_status(&mut phone), "143");
    provision(&mut phone);
    assert_eq!(folder_sync_status(&mut phone), "1");
}

#[test]
fn a_2_5_device_gets_the_wap_provisioning_document() {
    let server = start();
    easd_ok(&server, &["policy", "set", "DevicePasswordEnabled", "1"]);
    easd_ok(
        &server,
        &["policy", "set", "MaxDevicePasswordFailedAttempts", "8"],
    );
    let mut phone = device(&server, "wm5", "2.5");
    phone.policy_key = Some("0".into());
    assert_eq!(folder_sync(&mut phone).status(), 449);
    let (temporary, data) = phase_one(&mut phone, WAP, None);
    let xml = data.text().expect("the document as text");
    assert!(xml.starts_with("<wap-provisioningdoc>"), "{xml}");
    assert!(xml.contains(r#"<parm name="4131" value="0"/>"#), "{xml}");
    assert!(
        xml.contains(r#"<parm name="DeviceWipeThreshold" value="8"/>"#),
        "{xml}"
    );
    let key = phase_two(&mut phone, WAP, &temporary, "1");
    phone.policy_key = Some(key);
    assert_eq!(folder_sync(&mut phone).status(), 200);
}

#[test]
fn policies_inherit_over_four_levels_and_inherit_reverts() {
    let server = start();
    let mut phone = device(&server, "levels", "16.1");
    assert_eq!(folder_sync_status(&mut phone), "1");
    easd_ok(&server, &["policy", "set", "MaxEmailAgeFilter", "5"]);
    easd_ok(
        &server,
        &[
            "policy",
            "set",
            "--domain",
            "example.com",
            "MaxEmailAgeFilter",
            "4",
        ],
    );
    easd_ok(
        &server,
        &["policy", "set", "--user", ALICE, "MaxEmailAgeFilter", "3"],
    );
    easd_ok(
        &server,
        &[
            "policy",
            "set",
            "--device",
            "levels",
            "MaxEmailAgeFilter",
            "2",
        ],
    );

    let line = |args: &[&str]| -> String {
        let show = easd_ok(&server, args);
        show.lines()
            .find(|l| l.starts_with("MaxEmailAgeFilter "))
            .expect("the setting is shown")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line(&["policy", "show"]), "MaxEmailAgeFilter 5 global");
    assert_eq!(
        line(&["policy", "show", "--domain", "example.com"]),
        "MaxEmailAgeFilter 4 domain"
    );
    assert_eq!(
        line(&["policy", "show", "--user", ALICE]),
        "MaxEmailAgeFilter 3 user"
    );
    assert_eq!(
        line(&["policy", "show", "--device", "levels"]),
        "MaxEmailAgeFilter 2 device"
    );
    let received = |phone: &mut TestDevice| {
        provision(phone)
            .child_text(prov::MAX_EMAIL_AGE_FILTER)
            .unwrap()
    };
    assert_eq!(received(&mut phone), "2");

    easd_ok(&server, &["policy", "inherit", "--device", "levels"]);
    assert_eq!(
        line(&["policy", "show", "--device", "levels"]),
        "MaxEmailAgeFilter 3 user"
    );
    assert_eq!(folder_sync_status(&mut phone), "143");
    assert_eq!(received(&mut phone), "3");
    easd_ok(
        &server,
        &["policy", "inherit", "--user", ALICE, "MaxEmailAgeFilter"],
    );
    assert_eq!(
        line(&["policy", "show", "--device", "levels"]),
        "MaxEmailAgeFilter 4 domain"
    );
    easd_ok(&server, &["policy", "inherit", "--domain", "example.com"]);
    assert_eq!(
        line(&["policy", "show", "--device", "levels"]),
        "MaxEmailAgeFilter 5 global"
    );
    assert_eq!(received(&mut phone), "5");
    easd_ok(&server, &["policy", "inherit", "--global"]);
    assert_eq!(
        line(&["policy", "show", "--device", "levels"]),
        "MaxEmailAgeFilter 0 default"
    );
    // Back to neutral: the device is refreshed once to receive the neutral provision.
    assert_eq!(folder_sync_status(&mut phone), "143");
    assert_eq!(received(&mut phone), "0");
    assert_eq!(folder_sync_status(&mut phone), "1");

    // Unknown keys are usage errors, bad values data errors; unknown levels are named.
    let out = server.easd(&["policy", "set", "NoSuchSetting", "1"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchSetting"));
    let out = server.easd(&["policy", "set", "AllowBluetooth", "7"]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");
    let out = server.easd(&[
        "policy",
        "set",
        "--domain",
        "nowhere.example",
        "AllowWiFi",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(67), "{out:?}");
    let help = server.easd(&["policy", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("MaxEmailHTMLBodyTruncationSize"));
    let keys = easd_ok(&server, &["policy", "keys"]);
    assert!(keys.contains("AllowBluetooth"), "{keys}");
    assert!(keys.contains("0|1|2"), "{keys}");
}

#[test]
fn a_non_provisionable_device_is_refused_and_mailed_once_unless_exempted() {
    let server = start();
    easd_ok(&server, &["policy", "set", "DevicePasswordEnabled", "1"]);
    // Never sends a policy key, never provisions.
    let mut old = device(&server, "noprov", "12.1");
    assert_eq!(folder_sync(&mut old).status(), 449);
    assert!(
        inbox_messages(&server).is_empty(),
        "told once before being judged"
    );
    assert_eq!(folder_sync(&mut old).status(), 449);
    assert_eq!(folder_sync(&mut old).status(), 449);
    let mail = inbox_messages(&server);
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].0.contains("could not connect"), "{mail:?}");
    assert!(mail[0].1.contains(ADMIN), "{mail:?}");

    // Exempted at the device level: let in.
    easd_ok(
        &server,
        &[
            "policy",
            "set",
            "--device",
            "noprov",
            "allow-non-provisionable",
            "1",
        ],
    );
    assert_eq!(folder_sync(&mut old).status(), 200);
    // Another keyless device of the same user is still refused.
    let mut other = device(&server, "noprov2", "14.1");
    assert_eq!(folder_sync_status(&mut other), "142");
    assert_eq!(folder_sync_status(&mut other), "142");
    assert_eq!(inbox_messages(&server).len(), 2);
    // Exempted for the whole user.
    easd_ok(
        &server,
        &[
            "policy",
            "set",
            "--user",
            ALICE,
            "allow-non-provisionable",
            "1",
        ],
    );
    assert_eq!(folder_sync_status(&mut other), "1");
}

#[test]
fn a_device_declining_the_policy_is_refused_and_mailed() {
    let server = start();
    easd_ok(&server, &["policy", "set", "RequireDeviceEncryption", "1"]);
    let mut phone = device(&server, "decliner", "14.1");
    let (temporary, _) = phase_one(&mut phone, EAS, None);
    let key = phase_two(&mut phone, EAS, &temporary, "3");
    phone.policy_key = Some(key);
    assert_eq!(folder_sync_status(&mut phone), "142");
    let mail = inbox_messages(&server);
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].0.contains("could not connect"));
    // Accepting it later lets the device in.
    provision(&mut phone);
    assert_eq!(folder_sync_status(&mut phone), "1");
}

// --- server-side enforcement -------------------------------------------------------------

fn sync_collection(
    device: &mut TestDevice,
    key: &str,
    folder: FolderId,
    options: Option<Element>,
) -> Element {
    let c = common::collection(key, folder, |c| {
        if let Some(options) = options {
            c.push(options);
        }
    });
    common::sync_one(device, c)
}

/// Syncs `folder` from key 0 with `options`; returns the ApplicationData of every Add.
fn sync_adds(device: &mut TestDevice, folder: FolderId, options: Element) -> Vec<Element> {
    let first = sync_collection(device, "0", folder, Some(options.clone()));
    let key = first.child_text(airsync::SYNC_KEY).expect("a key");
    let answer = sync_collection(device, &key, folder, Some(options));
    answer
        .child(airsync::COMMANDS)
        .map(|list| {
            list.children_with(airsync::ADD)
                .map(|add| add.child(airsync::APPLICATION_DATA).unwrap().clone())
                .collect()
        })
        .unwrap_or_default()
}

fn options(filter: &str, body_type: &str) -> Element {
    let mut options = Element::new(airsync::OPTIONS);
    options.push_text(airsync::FILTER_TYPE, filter);
    options
        .push(Element::new(base::BODY_PREFERENCE))
        .push_text(base::TYPE, body_type);
    options
}

fn file_message(store: &Store, user: UserId, raw: &[u8], received: i64) {
    let message = NewMessage {
        received_at: Some(received),
        ..NewMessage::new(raw)
    };
    store
        .add_message(user, inbox(store, user), &message)
        .expect("filed");
}

fn message(subject: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: {content_type}; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn with_attachment(subject: &str, attachment: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    format!(
        "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0und\"\r\n\r\n\
         --b0und\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n\
         --b0und\r\nContent-Type: application/x-test; name=\"data.bin\"\r\n\
         Content-Disposition: attachment; filename=\"data.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b0und--\r\n"
    )
    .into_bytes()
}

fn subject(data: &Element) -> String {
    data.child_text(easd::wbxml::tag::email::SUBJECT)
        .unwrap_or_default()
}

#[test]
fn the_server_caps_filter_type_bodies_and_html() {
    let server = start();
    let (store, user) = user_id(&server);
    let now = easd::store::now();
    file_message(
        &store,
        user,
        &message("ancient", "text/plain", "old news"),
        now - 30 * 86_400,
    );
    let long_text = "x".repeat(5000);
    file_message(
        &store,
        user,
        &message("recent", "text/plain", &long_text),
        now - 3600,
    );
    file_message(
        &store,
        user,
        &message("styled", "text/html", "<p><b>Hello</b> world</p>"),
        now - 60,
    );
    let folder = inbox(&store, user);

    // Without a policy: everything, whole, HTML as HTML.
    let mut phone = device(&server, "caps", "16.1");
    let adds = sync_adds(&mut phone, folder, options("0", "2"));
    assert_eq!(adds.len(), 3);

    easd_ok(&server, &["policy", "set", "MaxEmailAgeFilter", "2"]);
    easd_ok(
        &server,
        &["policy", "set", "MaxEmailBodyTruncationSize", "1"],
    );
    easd_ok(&server, &["policy", "set", "AllowHTMLEmail", "0"]);
    provision(&mut phone);
    // The client asks for everything (FilterType 0) as HTML, whole.
    let adds = sync_adds(&mut phone, folder, options("0", "2"));
    let subjects: Vec<String> = adds.iter().map(subject).collect();
    assert_eq!(
        subjects.len(),
        2,
        "the 30-day-old message is outside 3 days: {subjects:?}"
    );
    assert!(!subjects.contains(&"ancient".to_string()));
    for data in &adds {
        let body = data.child(base::BODY).expect("a Body");
        assert_eq!(
            body.child_text(base::TYPE).as_deref(),
            Some("1"),
            "plain text only"
        );
        let text = body.child_text(base::DATA).unwrap_or_default();
        assert!(!text.contains("<b>"), "{text}");
        if subject(data) == "recent" {
            assert_eq!(body.child_text(base::TRUNCATED).as_deref(), Some("1"));
            assert!(text.len() <= 1024, "{}", text.len());
        }
    }
}

#[test]
fn the_server_withholds_attachments_and_limits_versions() {
    let server = start();
    let (store, user) = user_id(&server);
    let payload = vec![7u8; 100];
    file_message(
        &store,
        user,
        &with_attachment("attached", &payload),
        easd::store::now(),
    );
    let folder = inbox(&store, user);
    let mut phone = device(&server, "attach", "16.1");
    let adds = sync_adds(&mut phone, folder, options("0", "1"));
    let reference = adds[0]
        .child(base::ATTACHMENTS)
        .and_then(|a| a.child(base::ATTACHMENT))
        .and_then(|a| a.child_text(base::FILE_REFERENCE))
        .expect("the attachment is announced without a policy");

    let fetch_status = |phone: &mut TestDevice| {
        let mut doc = Element::new(io::ITEM_OPERATIONS);
        doc.push(Element::new(io::FETCH))
            .push_text(io::STORE, "Mailbox")
            .push_text(base::FILE_REFERENCE, reference.clone());
        let response = phone.command("ItemOperations", Some(&doc));
        common::libwbxml_agrees(&response.http.body, "ItemOperations");
        response
            .doc()
            .child(io::RESPONSE)
            .and_then(|r| r.child(io::FETCH))
            .and_then(|f| f.child_text(io::STATUS))
            .expect("a Fetch Status")
    };
    assert_eq!(fetch_status(&mut phone), "1");

    easd_ok(&server, &["policy", "set", "AttachmentsEnabled", "0"]);
    provision(&mut phone);
    let adds = sync_adds(&mut phone, folder, options("0", "1"));
    assert!(adds[0].child(base::ATTACHMENTS).is_none(), "withheld");
    assert_eq!(fetch_status(&mut phone), "16");

    easd_ok(&server, &["policy", "set", "AttachmentsEnabled", "1"]);
    easd_ok(&server, &["policy", "set", "MaxAttachmentSize", "50"]);
    provision(&mut phone);
    let adds = sync_adds(&mut phone, folder, options("0", "1"));
    assert!(adds[0].child(base::ATTACHMENTS).is_none(), "too large");
    assert_eq!(fetch_status(&mut phone), "11");

    // 12.1's GetAttachment is refused too.
    let mut old = device(&server, "attach-old", "12.1");
    provision(&mut old);
    let target = format!(
        "/Microsoft-Server-ActiveSync?{}&AttachmentName={}",
        old.query("GetAttachment"),
        common::percent(&reference)
    );
    assert_eq!(old.post(&target, b"").status(), 403);

    // The newest version a policy allows: OPTIONS and the version check follow it.
    let versions = |phone: &mut TestDevice| {
        phone
            .options()
            .header("MS-ASProtocolVersions")
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_eq!(versions(&mut phone), "2.5,12.0,12.1,14.0,14.1,16.0,16.1");
    easd_ok(
        &server,
        &[
            "policy",
            "set",
            "--user",
            ALICE,
            "max-protocol-version",
            "14.1",
        ],
    );
    assert_eq!(versions(&mut phone), "2.5,12.0,12.1,14.0,14.1");
    let refused = folder_sync(&mut phone);
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.http.header("MS-ASProtocolVersions"),
        Some("2.5,12.0,12.1,14.0,14.1")
    );
}

// --- remote wipe ----------------------------------------------------------------------------

fn wipe_answer(phone: &mut TestDevice) -> Element {
    let response = phone.command("Provision", Some(&provision_request(EAS, None)));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "Provision");
    response.doc().clone()
}

fn wipe_status(server: &TestServer, id: &str) -> easd::store::WipeStatus {
    let (store, user) = user_id(server);
    let device = store.device(user, id).unwrap().unwrap();
    store.provisioning(device.id).unwrap().wipe
}

#[test]
fn a_remote_wipe_goes_from_waiting_to_wiped_with_a_confirmation() {
    use easd::store::WipeStatus;
    let server = start();
    let mut phone = device(&server, "lost", "16.1");
    provision(&mut phone);
    assert_eq!(folder_sync_status(&mut phone), "1");
    let out = easd_ok(&server, &["device", "wipe", ALICE, "lost"]);
    assert!(out.contains("waiting"), "{out}");
    assert_eq!(wipe_status(&server, "lost"), WipeStatus::Waiting);
    // Any command is told (140); Provision carries RemoteWipe.
    assert_eq!(folder_sync_status(&mut phone), "140");
    let answer = wipe_answer(&mut phone);
    assert!(answer.child(prov::REMOTE_WIPE).is_some(), "{answer:?}");
    assert!(answer.child(prov::POLICIES).is_none());
    assert!(
        inbox_messages(&server).is_empty(),
        "not before the acknowledgment"
    );
    let ack = common::wipe_ack(prov::REMOTE_WIPE);
    let response = phone.command("Provision", Some(&ack));
    assert_eq!(
        response.doc().child_text(prov::STATUS).as_deref(),
        Some("1")
    );
    assert_eq!(wipe_status(&server, "lost"), WipeStatus::Wiped);
    let mail = inbox_messages(&server);
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].0.contains("Remote wipe"), "{mail:?}");
    assert!(mail[0].1.contains(ADMIN), "{mail:?}");
    // Cancelling is only possible while waiting.
    let out = server.easd(&["device", "wipe", ALICE, "lost", "--cancel"]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");

    // A 12.1 device gets 449; a cancelled wipe lets it sync again.
    let mut old = device(&server, "old", "12.1");
    provision(&mut old);
    easd_ok(&server, &["device", "wipe", ALICE, "old"]);
    assert_eq!(folder_sync(&mut old).status(), 449);
    let out = easd_ok(&server, &["device", "wipe", ALICE, "old", "--cancel"]);
    assert!(out.contains("cancelled"), "{out}");
    assert_eq!(wipe_status(&server, "old"), WipeStatus::None);
    assert_eq!(folder_sync(&mut old).status(), 200);
    let out = server.easd(&["device", "wipe", ALICE, "nosuchdevice"]);
    assert_eq!(out.status.code(), Some(67), "{out:?}");
}

#[test]
fn an_account_only_wipe_needs_16_1() {
    use easd::store::WipeStatus;
    let server = start();
    let mut phone = device(&server, "work", "16.1");
    provision(&mut phone);
    let mut older = device(&server, "older", "14.1");
    provision(&mut older);
    let out = server.easd(&["device", "wipe", ALICE, "older", "--account-only"]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");
    assert_eq!(wipe_status(&server, "older"), WipeStatus::None);

    easd_ok(
        &server,
        &["device", "wipe", ALICE, "work", "--account-only"],
    );
    let answer = wipe_answer(&mut phone);
    assert!(
        answer.child(prov::ACCOUNT_ONLY_REMOTE_WIPE).is_some(),
        "{answer:?}"
    );
    assert!(answer.child(prov::REMOTE_WIPE).is_none());
    let ack = common::wipe_ack(prov::ACCOUNT_ONLY_REMOTE_WIPE);
    phone.command("Provision", Some(&ack));
    assert_eq!(wipe_status(&server, "work"), WipeStatus::Wiped);
    assert_eq!(inbox_messages(&server).len(), 1);
}

#[test]
fn a_parked_ping_is_woken_by_a_wipe() {
    let server = start();
    let out = server.easd(&["config", "set", "push.heartbeat-min", "1"]);
    assert!(out.status.success(), "{out:?}");
    let (store, user) = user_id(&server);
    let folder = inbox(&store, user);
    let mut phone = device(&server, "pinger", "16.1");
    provision(&mut phone);
    let first = sync_collection(&mut phone, "0", folder, None);
    let key = first.child_text(airsync::SYNC_KEY).unwrap();
    sync_collection(&mut phone, &key, folder, None);

    let waiting = std::thread::spawn(move || {
        let mut doc = Element::new(ping::PING);
        doc.push_text(ping::HEARTBEAT_INTERVAL, "1500");
        doc.push(Element::new(ping::FOLDERS))
            .push(Element::new(ping::FOLDER))
            .push_text(ping::ID, folder.to_string())
            .push_text(ping::CLASS, "Email");
        let started = Instant::now();
        let response = phone.command("Ping", Some(&doc));
        (response, started.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.log().matches("parked for").count() < 1 {
        assert!(Instant::now() < deadline, "not parked:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    easd_ok(&server, &["device", "wipe", ALICE, "pinger"]);
    let (response, took) = waiting.join().unwrap();
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "Ping");
    assert_eq!(
        response.doc().child_text(ping::STATUS).as_deref(),
        Some("140")
    );
    // Woken by the wipe, not by the end of a 25-minute heartbeat.
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn a_device_that_never_provisions_cannot_be_wiped_and_is_blocked() {
    use easd::store::WipeStatus;
    let server = start();
    // Under the neutral default the keyless device syncs; the wipe waits for it.
    let mut keyless = device(&server, "keyless", "14.1");
    assert_eq!(folder_sync_status(&mut keyless), "1");
    easd_ok(&server, &["device", "wipe", ALICE, "keyless"]);
    assert_eq!(folder_sync_status(&mut keyless), "140");
    // It does not come to Provision but asks again without a key: it cannot be wiped.
    assert_eq!(folder_sync_status(&mut keyless), "129");
    assert_eq!(wipe_status(&server, "keyless"), WipeStatus::Unsupported);
    assert_eq!(folder_sync_status(&mut keyless), "129");
    let out = server.easd(&["device", "wipe", ALICE, "keyless", "--cancel"]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");

    // Known to be non-provisionable before the wipe: Unsupported at once, refused (403).
    easd_ok(&server, &["policy", "set", "DevicePasswordEnabled", "1"]);
    let mut old = device(&server, "oldkeyless", "12.1");
    assert_eq!(folder_sync(&mut old).status(), 449);
    assert_eq!(folder_sync(&mut old).status(), 449);
    let out = easd_ok(&server, &["device", "wipe", ALICE, "oldkeyless"]);
    assert!(out.contains("Unsupported"), "{out}");
    assert_eq!(folder_sync(&mut old).status(), 403);
}
