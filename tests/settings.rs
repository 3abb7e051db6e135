//! Settings against `easd serve` over real WBXML: Oof Get/Set (states, times, messages, body
//! types, bad arguments), DeviceInformation Set (shown by `easd device show`), UserInformation
//! Get in its 12.1 and 14.1+ shapes, DevicePassword Set, RightsManagementInformation Get; every
//! answer also decoded by libwbxml. Then out-of-office replies sent by `easd deliver`: once per
//! sender per period, the message chosen by sender, never to lists or automatic mail.

mod common;

use common::{SendmailRecorder, TestDevice, TestServer};
use easd::store::Store;
use easd::wbxml::tag::{rights_management as rm, settings as st};
use easd::wbxml::Element;
use mail_parser::MessageParser;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

fn settings(parts: Vec<Element>) -> Element {
    let mut doc = Element::new(st::SETTINGS);
    for part in parts {
        doc.push(part);
    }
    doc
}

/// Sends a Settings request; checks the top-level Status is 1 and libwbxml decodes the answer.
fn run(device: &mut TestDevice, parts: Vec<Element>) -> Element {
    let response = device.command("Settings", Some(&settings(parts)));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "Settings");
    let doc = response.doc().clone();
    assert_eq!(doc.tag, st::SETTINGS);
    assert_eq!(doc.child_text(st::STATUS).as_deref(), Some("1"));
    doc
}

fn part_status(doc: &Element, tag: easd::wbxml::Tag) -> String {
    doc.child(tag)
        .and_then(|p| p.child_text(st::STATUS))
        .unwrap_or_else(|| panic!("no status for {tag:?} in {doc:?}"))
}

fn oof_get(body_type: &str) -> Element {
    let mut oof = Element::new(st::OOF);
    oof.push(Element::new(st::GET))
        .push_text(st::BODY_TYPE, body_type);
    oof
}

fn oof_message(audience: easd::wbxml::Tag, enabled: bool, reply: &str, kind: &str) -> Element {
    let mut message = Element::new(st::OOF_MESSAGE);
    message
        .push_empty(audience)
        .push_text(st::ENABLED, if enabled { "1" } else { "0" })
        .push_text(st::REPLY_MESSAGE, reply)
        .push_text(st::BODY_TYPE, kind);
    message
}

fn oof_set(state: &str, times: Option<(&str, &str)>, messages: Vec<Element>) -> Element {
    let mut oof = Element::new(st::OOF);
    let set = oof.push(Element::new(st::SET));
    set.push_text(st::OOF_STATE, state);
    if let Some((start, end)) = times {
        set.push_text(st::START_TIME, start)
            .push_text(st::END_TIME, end);
    }
    for message in messages {
        set.push(message);
    }
    oof
}

/// (audience tag, Enabled, ReplyMessage, BodyType) of each OofMessage in an Oof Get answer.
fn oof_messages(doc: &Element) -> Vec<(easd::wbxml::Tag, String, String, String)> {
    let get = doc
        .child(st::OOF)
        .and_then(|o| o.child(st::GET))
        .expect("Get");
    get.children_with(st::OOF_MESSAGE)
        .map(|m| {
            let audience = [
                st::APPLIES_TO_INTERNAL,
                st::APPLIES_TO_EXTERNAL_KNOWN,
                st::APPLIES_TO_EXTERNAL_UNKNOWN,
            ]
            .into_iter()
            .find(|tag| m.child(*tag).is_some())
            .expect("an audience");
            (
                audience,
                m.child_text(st::ENABLED).unwrap_or_default(),
                m.child_text(st::REPLY_MESSAGE).unwrap_or_default(),
                m.child_text(st::BODY_TYPE).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn user_information_device_information_and_rights_management_per_version() {
    let server = TestServer::start();
    server.add_user(ALICE);
    for version in ["12.1", "14.1", "16.1"] {
        let mut phone = server.device(ALICE, &format!("phone-{version}"));
        phone.version = version.to_string();
        let mut info = Element::new(st::DEVICE_INFORMATION);
        info.push(Element::new(st::SET))
            .push_text(st::MODEL, format!("Model {version}"))
            .push_text(st::IMEI, "356938035643809")
            .push_text(st::FRIENDLY_NAME, "Alice's phone")
            .push_text(st::OS, "Android 14")
            .push_text(st::OS_LANGUAGE, "English")
            .push_text(st::PHONE_NUMBER, "+15551234")
            .push_text(st::MOBILE_OPERATOR, "Operator")
            .push_text(st::USER_AGENT, "Agent/1");
        let mut user_info = Element::new(st::USER_INFORMATION);
        user_info.push_empty(st::GET);
        let mut rights = Element::new(st::RIGHTS_MANAGEMENT_INFORMATION);
        rights.push_empty(st::GET);
        let doc = run(&mut phone, vec![info, user_info, rights]);
        // Answers come in request order.
        let order: Vec<_> = doc.elements().skip(1).map(|e| e.tag).collect();
        assert_eq!(
            order,
            [
                st::DEVICE_INFORMATION,
                st::USER_INFORMATION,
                st::RIGHTS_MANAGEMENT_INFORMATION
            ]
        );
        assert_eq!(part_status(&doc, st::DEVICE_INFORMATION), "1");
        assert_eq!(part_status(&doc, st::USER_INFORMATION), "1");
        let get = doc
            .child(st::USER_INFORMATION)
            .and_then(|u| u.child(st::GET))
            .expect("Get");
        let rights = doc.child(st::RIGHTS_MANAGEMENT_INFORMATION).unwrap();
        if version == "12.1" {
            let addresses = get.child(st::EMAIL_ADDRESSES).expect("EmailAddresses");
            assert_eq!(
                addresses.child_text(st::SMTP_ADDRESS).as_deref(),
                Some(ALICE)
            );
            assert!(addresses.child(st::PRIMARY_SMTP_ADDRESS).is_none());
            assert!(get.child(st::ACCOUNTS).is_none());
            // RightsManagementInformation is 14.1+.
            assert_eq!(rights.child_text(st::STATUS).as_deref(), Some("2"));
        } else {
            assert!(get.child(st::EMAIL_ADDRESSES).is_none());
            let account = get
                .child(st::ACCOUNTS)
                .and_then(|a| a.child(st::ACCOUNT))
                .expect("Accounts/Account");
            assert_eq!(
                account.child_text(st::USER_DISPLAY_NAME).as_deref(),
                Some("alice")
            );
            assert!(account.child(st::ACCOUNT_ID).is_none());
            let addresses = account.child(st::EMAIL_ADDRESSES).unwrap();
            assert_eq!(
                addresses.child_text(st::PRIMARY_SMTP_ADDRESS).as_deref(),
                Some(ALICE)
            );
            assert_eq!(rights.child_text(st::STATUS).as_deref(), Some("1"));
            let templates = rights
                .child(st::GET)
                .and_then(|g| g.child(rm::RIGHTS_MANAGEMENT_TEMPLATES))
                .expect("RightsManagementTemplates");
            assert!(templates.is_empty());
        }
        let shown = server.easd(&["device", "show", ALICE, &phone.device_id]);
        assert!(shown.status.success(), "{shown:?}");
        let text = String::from_utf8_lossy(&shown.stdout);
        for expected in [
            format!("Model {version}"),
            "356938035643809".into(),
            "Alice's phone".into(),
            "Android 14".into(),
            "+15551234".into(),
            "Operator".into(),
            "Agent/1".into(),
        ] {
            assert!(text.contains(&expected), "{expected} missing from {text}");
        }
        let listed = server.easd(&["device", "list", "--user", ALICE]);
        assert!(String::from_utf8_lossy(&listed.stdout).contains(&format!("Model {version}")));
    }
}

#[test]
fn oof_set_and_get_with_times_messages_and_body_types() {
    let server = TestServer::start();
    server.add_user(ALICE);
    let mut phone = server.device(ALICE, "phone");

    // Never set: off, every message disabled.
    let doc = run(&mut phone, vec![oof_get("Text")]);
    assert_eq!(part_status(&doc, st::OOF), "1");
    let get = doc.child(st::OOF).unwrap().child(st::GET).unwrap();
    assert_eq!(get.child_text(st::OOF_STATE).as_deref(), Some("0"));
    assert!(oof_messages(&doc).iter().all(|m| m.1 == "0"));

    let set = oof_set(
        "2",
        Some(("2026-12-20T00:00:00.000Z", "2027-01-03T00:00:00.000Z")),
        vec![
            oof_message(st::APPLIES_TO_INTERNAL, true, "Back on the 3rd.", "Text"),
            oof_message(
                st::APPLIES_TO_EXTERNAL_KNOWN,
                true,
                "<p>Away &amp; back soon</p>",
                "HTML",
            ),
            oof_message(st::APPLIES_TO_EXTERNAL_UNKNOWN, false, "", "Text"),
        ],
    );
    let doc = run(&mut phone, vec![set]);
    assert_eq!(part_status(&doc, st::OOF), "1");

    let doc = run(&mut phone, vec![oof_get("Text")]);
    let get = doc.child(st::OOF).unwrap().child(st::GET).unwrap();
    assert_eq!(get.child_text(st::OOF_STATE).as_deref(), Some("2"));
    assert_eq!(
        get.child_text(st::START_TIME).as_deref(),
        Some("2026-12-20T00:00:00.000Z")
    );
    assert_eq!(
        get.child_text(st::END_TIME).as_deref(),
        Some("2027-01-03T00:00:00.000Z")
    );
    let messages = oof_messages(&doc);
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[0],
        (
            st::APPLIES_TO_INTERNAL,
            "1".into(),
            "Back on the 3rd.".into(),
            "Text".into()
        )
    );
    // The HTML reply comes back as text when the Get asks for text.
    assert_eq!(messages[1].0, st::APPLIES_TO_EXTERNAL_KNOWN);
    assert_eq!(messages[1].2.trim(), "Away & back soon");
    assert_eq!(messages[1].3, "Text");
    assert_eq!(messages[2].1, "0");

    // And the text reply as HTML when the Get asks for HTML.
    let doc = run(&mut phone, vec![oof_get("HTML")]);
    let messages = oof_messages(&doc);
    assert!(messages[0].2.contains("Back on the 3rd."));
    assert!(messages[0].2.contains('<'), "{:?}", messages[0]);
    assert_eq!(messages[0].3, "HTML");
    assert_eq!(messages[1].2, "<p>Away &amp; back soon</p>");

    // Bad arguments: an unknown state, times the wrong way round, a scheduled Oof without
    // times (state 0 clears nothing it does not name), a Get with an unknown body type, an
    // Oof with neither Get nor Set.
    let doc = run(&mut phone, vec![oof_set("7", None, vec![])]);
    assert_eq!(part_status(&doc, st::OOF), "5");
    let backwards = oof_set(
        "2",
        Some(("2027-01-03T00:00:00.000Z", "2026-12-20T00:00:00.000Z")),
        vec![],
    );
    assert_eq!(part_status(&run(&mut phone, vec![backwards]), st::OOF), "6");
    let broken_time = oof_set("2", Some(("yesterday", "2026-12-20T00:00:00.000Z")), vec![]);
    assert_eq!(
        part_status(&run(&mut phone, vec![broken_time]), st::OOF),
        "5"
    );
    assert_eq!(
        part_status(&run(&mut phone, vec![oof_get("RTF")]), st::OOF),
        "2"
    );
    assert_eq!(
        part_status(&run(&mut phone, vec![Element::new(st::OOF)]), st::OOF),
        "2"
    );
    // None of that changed the stored settings.
    let doc = run(&mut phone, vec![oof_get("Text")]);
    let get = doc.child(st::OOF).unwrap().child(st::GET).unwrap();
    assert_eq!(get.child_text(st::OOF_STATE).as_deref(), Some("2"));

    // Turning it off keeps the messages for next time.
    assert_eq!(
        part_status(&run(&mut phone, vec![oof_set("0", None, vec![])]), st::OOF),
        "1"
    );
    let doc = run(&mut phone, vec![oof_get("Text")]);
    let get = doc.child(st::OOF).unwrap().child(st::GET).unwrap();
    assert_eq!(get.child_text(st::OOF_STATE).as_deref(), Some("0"));
    assert_eq!(oof_messages(&doc)[0].2, "Back on the 3rd.");

    // A 12.1 device gets the same shapes.
    phone.version = "12.1".into();
    let doc = run(&mut phone, vec![oof_get("Text")]);
    assert_eq!(oof_messages(&doc).len(), 3);
}

#[test]
fn device_password_is_stored_and_shown_and_bad_requests_get_protocol_errors() {
    let server = TestServer::start();
    server.add_user(ALICE);
    let mut phone = server.device(ALICE, "phone");
    let mut password = Element::new(st::DEVICE_PASSWORD);
    password
        .push(Element::new(st::SET))
        .push_text(st::PASSWORD, "r3cover-me");
    let doc = run(&mut phone, vec![password]);
    assert_eq!(part_status(&doc, st::DEVICE_PASSWORD), "1");
    let shown = server.easd(&["device", "show", ALICE, "phone"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("r3cover-me"));

    let mut too_long = Element::new(st::DEVICE_PASSWORD);
    too_long
        .push(Element::new(st::SET))
        .push_text(st::PASSWORD, "x".repeat(300));
    assert_eq!(
        part_status(&run(&mut phone, vec![too_long]), st::DEVICE_PASSWORD),
        "5"
    );
    // Without Set, or DeviceInformation without Set, or UserInformation without Get: 2.
    let mut no_set = Element::new(st::DEVICE_PASSWORD);
    no_set.push_empty(st::GET);
    assert_eq!(
        part_status(&run(&mut phone, vec![no_set]), st::DEVICE_PASSWORD),
        "2"
    );
    let doc = run(
        &mut phone,
        vec![
            Element::new(st::DEVICE_INFORMATION),
            Element::new(st::USER_INFORMATION),
        ],
    );
    assert_eq!(part_status(&doc, st::DEVICE_INFORMATION), "2");
    assert_eq!(part_status(&doc, st::USER_INFORMATION), "2");

    // A document that is not Settings at all: top-level Status 2.
    let response = phone.command("Settings", Some(&Element::new(st::OOF)));
    assert_eq!(response.status(), 200);
    assert_eq!(response.doc().child_text(st::STATUS).as_deref(), Some("2"));
    // An empty body is not a Settings document either.
    let response = phone.command("Settings", None);
    assert_eq!(response.status(), 200);
    assert_eq!(response.doc().child_text(st::STATUS).as_deref(), Some("2"));
}

struct OofSetup {
    server: TestServer,
    recorder: SendmailRecorder,
    store: Store,
}

fn oof_setup() -> OofSetup {
    oof_setup_with_env(&[])
}

fn oof_setup_with_env(env: &[(&str, &str)]) -> OofSetup {
    let recorder = SendmailRecorder::new();
    let server = TestServer::start_with_env(&recorder.config(), env);
    server.add_user(ALICE);
    server.add_user(BOB);
    let store = Store::open(&server.db).unwrap();
    OofSetup {
        server,
        recorder,
        store,
    }
}

fn deliver(setup: &OofSetup, to: &str, raw: &str) {
    setup.server.deliver(to, raw.as_bytes());
}

fn inbox_subjects(setup: &OofSetup, email: &str) -> Vec<String> {
    let user = setup.store.user_by_email(email).unwrap().unwrap();
    let inbox = setup
        .store
        .folders_of(user.id)
        .unwrap()
        .into_iter()
        .find(|f| f.folder_type == easd::store::FolderType::Inbox)
        .unwrap();
    setup
        .store
        .items_in_window(user.id, inbox.id, None)
        .unwrap()
        .into_iter()
        .map(|item| {
            setup
                .store
                .message(user.id, item.id)
                .unwrap()
                .unwrap()
                .subject
        })
        .collect()
}

fn away_for_everyone(phone: &mut TestDevice) {
    let set = oof_set(
        "1",
        None,
        vec![
            oof_message(st::APPLIES_TO_INTERNAL, true, "Internal: away.", "Text"),
            oof_message(st::APPLIES_TO_EXTERNAL_KNOWN, true, "Known: away.", "Text"),
            oof_message(
                st::APPLIES_TO_EXTERNAL_UNKNOWN,
                true,
                "Unknown: away.",
                "Text",
            ),
        ],
    );
    assert_eq!(part_status(&run(phone, vec![set]), st::OOF), "1");
}

#[test]
fn deliver_sends_one_out_of_office_reply_per_sender_and_period() {
    let setup = oof_setup();
    let mut phone = setup.server.device(ALICE, "phone");

    // Off: no reply.
    deliver(
        &setup,
        ALICE,
        "From: Carol <carol@remote.example>\r\nTo: alice@example.com\r\nSubject: Before\r\n\r\nhi\r\n",
    );
    assert_eq!(setup.recorder.count(), 0);

    away_for_everyone(&mut phone);
    deliver(
        &setup,
        ALICE,
        "Return-Path: <carol@remote.example>\r\nFrom: Carol <carol@remote.example>\r\n\
         To: alice@example.com\r\nSubject: Lunch?\r\nMessage-ID: <m1@remote.example>\r\n\
         References: <m0@remote.example>\r\n\r\nhi\r\n",
    );
    assert_eq!(setup.recorder.count(), 1);
    let args = setup.recorder.args(0);
    assert_eq!(args, ["-i", "-f", "<>", "--", "carol@remote.example"]);
    let reply = setup.recorder.sent_text(0);
    let parsed = MessageParser::new().parse(reply.as_bytes()).unwrap();
    assert_eq!(parsed.subject(), Some("Automatic reply: Lunch?"));
    assert_eq!(
        parsed.from().unwrap().first().unwrap().address(),
        Some(ALICE)
    );
    assert_eq!(
        parsed.to().unwrap().first().unwrap().address(),
        Some("carol@remote.example")
    );
    assert_eq!(parsed.in_reply_to().as_text(), Some("m1@remote.example"));
    assert!(reply.contains("References: <m0@remote.example> <m1@remote.example>"));
    assert!(reply.contains("Auto-Submitted: auto-replied"));
    assert_eq!(parsed.body_text(0).unwrap().trim(), "Unknown: away.");
    // The original was filed all the same.
    assert!(inbox_subjects(&setup, ALICE).contains(&"Lunch?".to_string()));

    // The same sender again in this period: no second reply.
    deliver(
        &setup,
        ALICE,
        "From: carol@remote.example\r\nTo: alice@example.com\r\nSubject: Again\r\n\r\nhi\r\n",
    );
    assert_eq!(setup.recorder.count(), 1);

    // Lists, bulk mail, automatic mail, bounces and no-reply senders never get one.
    for raw in [
        "From: news@lists.example\r\nList-Id: <news.lists.example>\r\nSubject: News\r\n\r\nx\r\n",
        "From: promo@shop.example\r\nPrecedence: bulk\r\nSubject: Sale\r\n\r\nx\r\n",
        "From: robot@auto.example\r\nAuto-Submitted: auto-generated\r\nSubject: Report\r\n\r\nx\r\n",
        "From: MAILER-DAEMON@remote.example\r\nSubject: Undelivered\r\n\r\nx\r\n",
        "From: no-reply@service.example\r\nSubject: Code\r\n\r\nx\r\n",
        "Return-Path: <>\r\nFrom: dave@remote.example\r\nSubject: Bounce\r\n\r\nx\r\n",
    ] {
        deliver(&setup, ALICE, raw);
    }
    assert_eq!(setup.recorder.count(), 1);

    // An external sender Alice has written to gets the "known" message; the envelope sender
    // given by the MTA wins over the headers.
    let sent_items = setup
        .store
        .folders_of(setup.store.user_by_email(ALICE).unwrap().unwrap().id)
        .unwrap()
        .into_iter()
        .find(|f| f.folder_type == easd::store::FolderType::SentItems)
        .unwrap();
    let out = setup.server.easd_stdin(
        &["deliver", ALICE, "--folder", &sent_items.name],
        b"From: alice@example.com\r\nTo: \"Erin\" <erin@partner.example>\r\nSubject: Plan\r\n\r\nx\r\n",
    );
    assert!(out.status.success(), "{out:?}");
    let out = setup.server.easd_stdin(
        &["deliver", ALICE, "--sender", "erin@partner.example"],
        b"From: Erin <erin@partner.example>\r\nSubject: Re: Plan\r\n\r\nx\r\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(setup.recorder.count(), 2);
    let parsed_known = setup.recorder.sent_text(1);
    let parsed_known = MessageParser::new().parse(parsed_known.as_bytes()).unwrap();
    assert_eq!(parsed_known.body_text(0).unwrap().trim(), "Known: away.");

    // A sender of Alice's own domain (Bob, local) gets the internal message in his Inbox,
    // not through the MTA.
    deliver(
        &setup,
        ALICE,
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: Status\r\n\r\nx\r\n",
    );
    assert_eq!(setup.recorder.count(), 2);
    assert_eq!(inbox_subjects(&setup, BOB), ["Automatic reply: Status"]);

    // A new Oof Set starts a new period: Carol is answered again.
    away_for_everyone(&mut phone);
    deliver(
        &setup,
        ALICE,
        "From: carol@remote.example\r\nTo: alice@example.com\r\nSubject: Third\r\n\r\nhi\r\n",
    );
    assert_eq!(setup.recorder.count(), 3);
}

#[test]
fn a_scheduled_oof_replies_only_inside_its_window() {
    let setup = oof_setup();
    let mut phone = setup.server.device(ALICE, "phone");
    let message = || {
        vec![oof_message(
            st::APPLIES_TO_EXTERNAL_UNKNOWN,
            true,
            "Away.",
            "Text",
        )]
    };
    // A window in the past: no reply.
    let past = oof_set(
        "2",
        Some(("2020-01-01T00:00:00.000Z", "2020-01-02T00:00:00.000Z")),
        message(),
    );
    assert_eq!(part_status(&run(&mut phone, vec![past]), st::OOF), "1");
    deliver(
        &setup,
        ALICE,
        "From: carol@remote.example\r\nSubject: One\r\n\r\nx\r\n",
    );
    assert_eq!(setup.recorder.count(), 0);
    // A window around now: a reply.
    let now = oof_set(
        "2",
        Some(("2020-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z")),
        message(),
    );
    assert_eq!(part_status(&run(&mut phone, vec![now]), st::OOF), "1");
    deliver(
        &setup,
        ALICE,
        "From: carol@remote.example\r\nSubject: Two\r\n\r\nx\r\n",
    );
    assert_eq!(setup.recorder.count(), 1);
}

/// Alice away for everyone, a server retrying its outbox every second, and Carol's mail
/// delivered while the MTA refuses everything: the setup, Alice's phone and what `easd
/// deliver` said.
fn delivered_while_the_mta_refuses() -> (OofSetup, TestDevice, std::process::Output) {
    let setup = oof_setup_with_env(&[("EASD_OUTBOX_BACKOFF", "1,1,3600,1")]);
    let mut phone = setup.server.device(ALICE, "phone");
    away_for_everyone(&mut phone);
    setup.recorder.set_failing(true);
    let out = setup.server.easd_stdin(
        &["deliver", ALICE],
        b"From: Carol <carol@remote.example>\r\nTo: alice@example.com\r\nSubject: Lunch?\r\n\r\nhi\r\n",
    );
    (setup, phone, out)
}

#[test]
fn mail_deliver_queued_is_sent_by_the_server_without_waiting_for_a_request() {
    // `easd deliver` tells the running server (a change notification) after it queued a
    // reply its MTA refused; the server then looks at its outbox at once. Without that it
    // would notice only after its next request or its once-a-minute look, and this test
    // makes no request after the delivery and waits well under a minute.
    let (setup, _phone, out) = delivered_while_the_mta_refuses();
    assert!(out.status.success(), "deliver: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("queued, the server retries"));
    setup.recorder.set_failing(false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while setup.recorder.count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the queued reply was not sent"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(setup
        .recorder
        .sent_text(0)
        .contains("Subject: Automatic reply: Lunch?"));
}

#[test]
fn an_out_of_office_reply_the_mta_refused_is_sent_by_the_server_later() {
    let (setup, mut phone, out) = delivered_while_the_mta_refuses();
    // Delivered; the refused reply waits in the outbox, and the sender counts as answered.
    assert!(out.status.success(), "deliver: {out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("queued, the server retries"), "{said}");
    let queued = setup.store.queued_mails().unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        (queued[0].sender.as_str(), queued[0].recipients.as_slice()),
        ("<>", ["carol@remote.example".to_string()].as_slice())
    );
    deliver(
        &setup,
        ALICE,
        "From: carol@remote.example\r\nTo: alice@example.com\r\nSubject: Again\r\n\r\nhi\r\n",
    );
    assert_eq!(setup.store.queued_mails().unwrap().len(), 1);

    // The MTA is back: the server sends it (any request makes the loop look at the outbox
    // at once; otherwise it looks every minute).
    setup.recorder.set_failing(false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while setup.recorder.count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the reply was not sent"
        );
        phone.options();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    setup.recorder.wait_for_count(1);
    assert!(setup
        .recorder
        .sent_text(0)
        .contains("Subject: Automatic reply: Lunch?"));
    assert_eq!(
        setup.recorder.args(0),
        ["-i", "-f", "<>", "--", "carol@remote.example"]
    );
}

/// Commits in the database's write-ahead log: frames of the current WAL generation (their
/// salt is the header's) that end a transaction (a non-zero database size after commit).
fn commits_in_wal(db: &std::path::Path) -> usize {
    let wal = std::fs::read(format!("{}-wal", db.display())).unwrap_or_default();
    if wal.len() < 32 {
        return 0;
    }
    let word = |at: usize| u32::from_be_bytes(wal[at..at + 4].try_into().unwrap());
    let frame_len = 24 + word(8) as usize;
    let salt = &wal[16..24];
    wal[32..]
        .chunks_exact(frame_len)
        .take_while(|frame| &frame[8..16] == salt)
        .filter(|frame| frame[4..8] != [0, 0, 0, 0])
        .count()
}

#[test]
fn a_delivery_and_its_out_of_office_reply_are_one_transaction() {
    let setup = oof_setup();
    let mut phone = setup.server.device(ALICE, "phone");
    away_for_everyone(&mut phone);
    // The test's own connection keeps the WAL from being checkpointed away; a small database
    // never reaches the automatic checkpoint.
    let before = commits_in_wal(&setup.server.db);
    deliver(
        &setup,
        ALICE,
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: Plans\r\n\r\nx\r\n",
    );
    assert_eq!(inbox_subjects(&setup, ALICE), ["Plans"]);
    assert_eq!(inbox_subjects(&setup, BOB), ["Automatic reply: Plans"]);
    assert_eq!(
        commits_in_wal(&setup.server.db) - before,
        1,
        "the message, the answered sender and the reply commit together"
    );
    // Without a reply due it is one transaction as well.
    let before = commits_in_wal(&setup.server.db);
    deliver(
        &setup,
        ALICE,
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: More\r\n\r\nx\r\n",
    );
    assert_eq!(commits_in_wal(&setup.server.db) - before, 1);
    assert_eq!(inbox_subjects(&setup, BOB), ["Automatic reply: Plans"]);
}
