//! `easd device` against a running server: list (filters, errors), show, delete (the device
//! syncs everything again: its old keys get Sync Status 3 and FolderSync Status 9, the mail
//! stays), reset-all, and per-device settings taking effect over real WBXML: "mail-folders:
//! default" hides user-created mail folders from that device's FolderSync and Sync, and
//! "past-mail" caps the device's FilterType.

mod common;

use std::process::Output;

use common::{collection, command_ids, filter_options, folder, sync_one, TestDevice, TestServer};
use easd::store::{FolderId, FolderType, NewMessage, Store, UserId};
use easd::wbxml::tag::{airsync, folder_hierarchy as fh, item_estimate as ie, ping};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@other.example";

fn start() -> (TestServer, Store, UserId) {
    let server = TestServer::start();
    server.add_user(ALICE);
    server.add_user(BOB);
    let (store, user) = server.store_and_user(ALICE);
    (server, store, user)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn file(store: &Store, user: UserId, folder: FolderId, subject: &str, received: i64) -> i64 {
    let raw = format!(
        "From: Bob <bob@other.example>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@other.example>\r\n\r\nhello\r\n"
    );
    let mut new = NewMessage::new(raw.as_bytes());
    new.received_at = Some(received);
    store.add_message(user, folder, &new).unwrap().item_id()
}

/// FolderSync with `key`: (Status, new key, ServerIds and names of the added folders).
fn folder_sync(device: &mut TestDevice, key: &str) -> (String, String, Vec<(String, String)>) {
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, key);
    let response = device.command("FolderSync", Some(&doc));
    assert_eq!(response.status(), 200);
    let doc = response.doc();
    let added = doc
        .child(fh::CHANGES)
        .map(|changes| {
            changes
                .children_with(fh::ADD)
                .map(|add| {
                    (
                        add.child_text(fh::SERVER_ID).unwrap_or_default(),
                        add.child_text(fh::DISPLAY_NAME).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (
        doc.child_text(fh::STATUS).unwrap_or_default(),
        doc.child_text(fh::SYNC_KEY).unwrap_or_default(),
        added,
    )
}

/// One Sync collection: (Status, key, [(command tag, ServerId)]).
fn sync(
    device: &mut TestDevice,
    key: &str,
    id: FolderId,
    filter: Option<&str>,
) -> (String, String, Vec<(easd::wbxml::Tag, String)>) {
    let c = sync_one(device, collection(key, id, filter_options(filter)));
    let commands = command_ids(&c);
    (
        c.child_text(airsync::STATUS).unwrap_or_default(),
        c.child_text(airsync::SYNC_KEY).unwrap_or_default(),
        commands,
    )
}

/// A full first sync of a folder: its key after the items came.
fn full_sync(
    device: &mut TestDevice,
    id: FolderId,
    filter: Option<&str>,
) -> (String, Vec<(easd::wbxml::Tag, String)>) {
    let (status, key, _) = sync(device, "0", id, filter);
    assert_eq!(status, "1");
    let (status, key, commands) = sync(device, &key, id, None);
    assert_eq!(status, "1");
    (key, commands)
}

/// GetItemEstimate for one collection with the device's key and FilterType 0.
fn estimate(device: &mut TestDevice, id: FolderId, key: &str) -> Option<u64> {
    let mut doc = Element::new(ie::GET_ITEM_ESTIMATE);
    let c = doc
        .push(Element::new(ie::COLLECTIONS))
        .push(Element::new(ie::COLLECTION));
    c.push_text(airsync::SYNC_KEY, key)
        .push_text(ie::COLLECTION_ID, id.to_string());
    c.push(Element::new(airsync::OPTIONS))
        .push_text(airsync::FILTER_TYPE, "0");
    let response = device.command("GetItemEstimate", Some(&doc));
    assert_eq!(response.status(), 200);
    let answer = response
        .doc()
        .child(ie::RESPONSE)
        .cloned()
        .expect("Response");
    assert_eq!(answer.child_text(ie::STATUS).as_deref(), Some("1"));
    answer
        .child(ie::COLLECTION)
        .and_then(|c| c.child_text(ie::ESTIMATE))
        .map(|e| e.parse().expect("a number"))
}

#[test]
fn list_and_show_and_their_errors() {
    let (server, _store, _alice) = start();
    let out = server.easd(&["device", "list"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "no devices");

    let mut phone = server.device(ALICE, "alice-phone");
    phone.device_type = "iPhone".into();
    folder_sync(&mut phone, "0");
    let mut tablet = server.device(BOB, "bob-tablet");
    tablet.version = "14.1".into();
    folder_sync(&mut tablet, "0");

    let out = server.easd(&["device", "list"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for column in [
        "ACCOUNT",
        "DEVICE ID",
        "MODEL",
        "TYPE",
        "OS",
        "PROTOCOL",
        "REGISTERED",
        "LAST SYNC",
        "POLICY",
        "REMOTE WIPE",
    ] {
        assert!(lines[0].contains(column), "{column} in {}", lines[0]);
    }
    assert!(lines[1].starts_with(ALICE) && lines[1].contains("alice-phone"));
    assert!(lines[1].contains("iPhone") && lines[1].contains("16.1"));
    assert!(lines[2].starts_with(BOB) && lines[2].contains("14.1"));

    let only_bob = stdout(&server.easd(&["device", "list", "--user", BOB]));
    assert!(only_bob.contains("bob-tablet") && !only_bob.contains("alice-phone"));
    let only_example = stdout(&server.easd(&["device", "list", "--domain", "Example.com"]));
    assert!(only_example.contains("alice-phone") && !only_example.contains("bob-tablet"));

    // Unknown users and domains: 67; an unknown device: 65.
    let out = server.easd(&["device", "list", "--user", "nobody@example.com"]);
    assert_eq!(out.status.code(), Some(67));
    assert!(stderr(&out).contains("no such user"));
    let out = server.easd(&["device", "list", "--domain", "nowhere.example"]);
    assert_eq!(out.status.code(), Some(67));
    let out = server.easd(&["device", "show", "nobody@example.com", "x"]);
    assert_eq!(out.status.code(), Some(67));
    let out = server.easd(&["device", "show", ALICE, "bob-tablet"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("has no device"), "{}", stderr(&out));

    let out = server.easd(&["device", "show", ALICE, "alice-phone"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("alice-phone") && text.contains("iPhone"));
    assert!(text.contains("(folder list)"), "{text}");
    assert!(text.contains("mail-folders") && text.contains("past-mail"));
}

#[test]
fn delete_forgets_the_sync_state_and_keeps_the_mail() {
    let (server, store, alice) = start();
    let inbox = folder(&store, alice, FolderType::Inbox);
    let item = file(&store, alice, inbox, "kept", easd::store::now());
    let mut phone = server.device(ALICE, "phone");
    let (status, hierarchy_key, _) = folder_sync(&mut phone, "0");
    assert_eq!(status, "1");
    let (key, commands) = full_sync(&mut phone, inbox, None);
    assert_eq!(commands, [(airsync::ADD, item.to_string())]);
    let shown = stdout(&server.easd(&["device", "show", ALICE, "phone"]));
    assert!(shown.contains(&format!("Inbox [{inbox}]")), "{shown}");

    let out = server.easd(&["device", "delete", ALICE, "phone"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("syncs everything again"));
    assert!(!stdout(&server.easd(&["device", "list"])).contains("phone"));
    let out = server.easd(&["device", "delete", ALICE, "phone"]);
    assert_eq!(out.status.code(), Some(65));

    // The old keys are unknown now: Sync Status 3, FolderSync Status 9 (MS-ASCMD).
    let (status, _, _) = sync(&mut phone, &key, inbox, None);
    assert_eq!(status, "3");
    let (status, _, _) = folder_sync(&mut phone, &hierarchy_key);
    assert_eq!(status, "9");
    // The device starts over and gets the mail again: nothing was deleted.
    let (status, _, folders) = folder_sync(&mut phone, "0");
    assert_eq!(status, "1");
    assert!(folders.iter().any(|(id, _)| *id == inbox.to_string()));
    let (_, commands) = full_sync(&mut phone, inbox, None);
    assert_eq!(commands, [(airsync::ADD, item.to_string())]);
}

#[test]
fn reset_all_needs_yes_and_forgets_every_device() {
    let (server, store, alice) = start();
    let inbox = folder(&store, alice, FolderType::Inbox);
    let mut phone = server.device(ALICE, "phone");
    let (key, _) = full_sync(&mut phone, inbox, None);
    let mut tablet = server.device(BOB, "tablet");
    folder_sync(&mut tablet, "0");

    let out = server.easd(&["device", "reset-all"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("2 device(s)"), "{}", stderr(&out));
    assert_eq!(store.all_devices().unwrap().len(), 2);

    let out = server.easd(&["device", "reset-all", "--yes"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("forgot 2 device(s)"));
    assert!(store.all_devices().unwrap().is_empty());
    let (status, _, _) = sync(&mut phone, &key, inbox, None);
    assert_eq!(status, "3");
}

#[test]
fn set_checks_keys_and_values_and_its_help_lists_them() {
    let (server, _store, _alice) = start();
    let mut phone = server.device(ALICE, "phone");
    folder_sync(&mut phone, "0");
    let out = server.easd(&["device", "set", "--help"]);
    let help = stdout(&out);
    for spec in easd::store::device_settings::DEVICE_SETTINGS {
        assert!(help.contains(spec.key), "{} missing from help", spec.key);
        let values = spec.values.join(" | ");
        assert!(help.contains(&values), "{values} missing from help");
    }
    let out = server.easd(&["device", "set", ALICE, "phone", "colour", "red"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("past-mail"));
    let out = server.easd(&["device", "set", ALICE, "phone", "past-mail", "2y"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("1d, 3d"));
    let out = server.easd(&["device", "set", ALICE, "tablet", "past-mail", "1d"]);
    assert_eq!(out.status.code(), Some(65));
    let out = server.easd(&[
        "device",
        "set",
        "nobody@example.com",
        "phone",
        "past-mail",
        "1d",
    ]);
    assert_eq!(out.status.code(), Some(67));

    // Groupware settings are stored and shown.
    let out = server.easd(&[
        "device",
        "set",
        ALICE,
        "phone",
        "tasks-as-events",
        "incomplete",
    ]);
    assert!(out.status.success(), "{out:?}");
    let shown = stdout(&server.easd(&["device", "show", ALICE, "phone"]));
    assert!(
        shown
            .lines()
            .any(|l| l.contains("tasks-as-events ") && l.contains("incomplete (changed)")),
        "{shown}"
    );
}

#[test]
fn default_mail_folders_hide_user_folders_from_that_device_only() {
    let (server, store, alice) = start();
    let inbox = folder(&store, alice, FolderType::Inbox);
    let projects = store
        .create_folder(alice, None, "Projects", FolderType::UserMail)
        .unwrap();
    let under = store
        .create_folder(alice, Some(inbox), "Receipts", FolderType::UserMail)
        .unwrap();
    let nested = store
        .create_folder(alice, Some(projects.id), "2026", FolderType::UserMail)
        .unwrap();
    let mut phone = server.device(ALICE, "phone");
    let mut other = server.device(ALICE, "other");
    let (_, phone_key, all) = folder_sync(&mut phone, "0");
    for id in [projects.id, under.id, nested.id] {
        assert!(all.iter().any(|(f, _)| *f == id.to_string()));
    }
    let (projects_key, _) = full_sync(&mut phone, projects.id, None);

    let out = server.easd(&["device", "set", ALICE, "phone", "mail-folders", "default"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("folder list again"));

    // The device's hierarchy key was forgotten: Status 9, then a fresh list without the
    // user-created mail folders (and their subfolders), with the default ones.
    let (status, _, _) = folder_sync(&mut phone, &phone_key);
    assert_eq!(status, "9");
    let (status, key, visible) = folder_sync(&mut phone, "0");
    assert_eq!(status, "1");
    let names: Vec<&str> = visible.iter().map(|(_, name)| name.as_str()).collect();
    for default in [
        "Inbox",
        "Drafts",
        "Deleted Items",
        "Sent Items",
        "Outbox",
        "Junk E-mail",
    ] {
        assert!(names.contains(&default), "{default} missing from {names:?}");
    }
    for hidden in ["Projects", "Receipts", "2026"] {
        assert!(!names.contains(&hidden), "{hidden} shown: {names:?}");
    }
    // Non-mail default folders stay.
    assert!(
        names.contains(&"Contacts") || names.contains(&"Calendar"),
        "{names:?}"
    );
    // Syncing a hidden folder is refused like an unknown one (Status 12); pinging it asks
    // for a FolderSync (Status 7), as for a folder that is gone.
    let (status, _, _) = sync(&mut phone, &projects_key, projects.id, None);
    assert_eq!(status, "12");
    let mut ping = Element::new(ping::PING);
    ping.push_text(ping::HEARTBEAT_INTERVAL, "300");
    ping.push(Element::new(ping::FOLDERS))
        .push(Element::new(ping::FOLDER))
        .push_text(ping::ID, projects.id.to_string())
        .push_text(ping::CLASS, "Email");
    let answer = phone.command("Ping", Some(&ping));
    assert_eq!(answer.doc().child_text(ping::STATUS).as_deref(), Some("7"));
    // A folder created later stays hidden from this device.
    store
        .create_folder(alice, None, "Later", FolderType::UserMail)
        .unwrap();
    let (status, _, added) = folder_sync(&mut phone, &key);
    assert_eq!(status, "1");
    assert!(added.is_empty(), "{added:?}");

    // The other device of the same user still sees everything.
    let (_, _, all) = folder_sync(&mut other, "0");
    assert!(all.iter().any(|(_, name)| name == "Projects"));
    assert!(all.iter().any(|(_, name)| name == "Later"));

    // folders=default on another device hides user-created folders of every kind.
    let contacts = store
        .create_folder(alice, None, "Club", FolderType::UserContacts)
        .unwrap();
    let mut third = server.device(ALICE, "third");
    let (_, _, all) = folder_sync(&mut third, "0");
    assert!(all.iter().any(|(id, _)| *id == contacts.id.to_string()));
    let out = server.easd(&["device", "set", ALICE, "third", "folders", "default"]);
    assert!(out.status.success());
    let (_, _, visible) = folder_sync(&mut third, "0");
    let names: Vec<&str> = visible.iter().map(|(_, name)| name.as_str()).collect();
    assert!(
        names.contains(&"Inbox") && names.contains(&"Contacts"),
        "{names:?}"
    );
    for hidden in ["Club", "Projects", "Later"] {
        assert!(!names.contains(&hidden), "{hidden} shown: {names:?}");
    }

    // Back to all: the device fetches the list again and sees the folders.
    let out = server.easd(&["device", "set", ALICE, "phone", "mail-folders", "all"]);
    assert!(out.status.success());
    let (status, _, _) = folder_sync(&mut phone, &key);
    assert_eq!(status, "9");
    let (_, _, all) = folder_sync(&mut phone, "0");
    assert!(all.iter().any(|(_, name)| name == "Projects"));
}

#[test]
fn past_mail_caps_the_filter_type_of_that_device() {
    let (server, store, alice) = start();
    let inbox = folder(&store, alice, FolderType::Inbox);
    let now = easd::store::now();
    let old = file(&store, alice, inbox, "old", now - 10 * 86_400);
    let new = file(&store, alice, inbox, "new", now - 3600);

    let mut phone = server.device(ALICE, "phone");
    // Asking for everything, the device gets everything while no cap is set.
    let (key, commands) = full_sync(&mut phone, inbox, Some("0"));
    assert_eq!(commands.len(), 2);

    // A one-week cap: the old message leaves the device (SoftDelete) at its next Sync,
    // though it still asks for everything.
    let out = server.easd(&["device", "set", ALICE, "phone", "past-mail", "1w"]);
    assert!(out.status.success(), "{out:?}");
    let (status, key, commands) = sync(&mut phone, &key, inbox, Some("0"));
    assert_eq!(status, "1");
    assert_eq!(commands, [(airsync::SOFT_DELETE, old.to_string())]);
    // A narrower window asked by the device itself still applies.
    let (_, _, commands) = sync(&mut phone, &key, inbox, Some("1"));
    assert!(commands.is_empty(), "{commands:?}");

    // A fresh device with the same cap gets only the recent message, and its estimate
    // counts only that one.
    let mut tablet = server.device(ALICE, "tablet");
    folder_sync(&mut tablet, "0");
    let out = server.easd(&["device", "set", ALICE, "tablet", "past-mail", "3d"]);
    assert!(out.status.success());
    let (status, key, _) = sync(&mut tablet, "0", inbox, Some("0"));
    assert_eq!(status, "1");
    assert_eq!(estimate(&mut tablet, inbox, &key), Some(1));
    let (_, _, commands) = sync(&mut tablet, &key, inbox, None);
    assert_eq!(commands, [(airsync::ADD, new.to_string())]);
    // Another device without a cap is unaffected.
    let mut other = server.device(ALICE, "other");
    let (_, commands) = full_sync(&mut other, inbox, None);
    assert_eq!(commands.len(), 2);
}
