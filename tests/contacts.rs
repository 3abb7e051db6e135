//! Contacts through the real server (MS-ASCNTC): two phones of one user at different
//! protocol versions see each other's Adds, Changes and Deletes; ghosting keeps what a phone
//! does not manage; a lost answer is replayed without a duplicate; conflicts; folders of
//! type 14, MoveItems, GetItemEstimate, ItemOperations Fetch of a Picture, and the Picture limit.

mod class_sync;
mod common;

use class_sync::*;
use easd::store::FolderType;
use easd::wbxml::tag::{
    airsync, airsyncbase as base, contacts as c, contacts2 as c2, item_estimate as ge,
    item_operations as io, move_items as mv,
};
use easd::wbxml::Element;

const PHOTO: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// The contact a user types on a phone: three numbers, a birthday, a photo, children.
fn jo(data: &mut Element) {
    data.push_text(c::FIRST_NAME, "Jo")
        .push_text(c::LAST_NAME, "Doe")
        .push_text(c::FILE_AS, "Doe, Jo")
        .push_text(c::MOBILE_PHONE_NUMBER, "+1 555 0100")
        .push_text(c::HOME_PHONE_NUMBER, "+1 555 0101")
        .push_text(c::BUSINESS_PHONE_NUMBER, "+1 555 0102")
        .push_text(c::EMAIL1_ADDRESS, "jo@example.org")
        .push_text(c::BIRTHDAY, "1990-04-01T00:00:00.000Z")
        .push_text(c::PICTURE, PHOTO)
        .push_text(c::HOME_ADDRESS_STREET, "1 Main St")
        .push_text(c::HOME_ADDRESS_CITY, "Springfield")
        .push_text(c2::NICK_NAME, "JD");
    data.push(Element::new(c::CHILDREN))
        .push_text(c::CHILD, "Ann")
        .push_text(c::CHILD, "Ben");
    data.push(Element::new(c::CATEGORIES))
        .push_text(c::CATEGORY, "Family");
    data.push(Element::new(base::BODY))
        .push_text(base::TYPE, "1")
        .push_text(base::DATA, "Met at the conference.");
}

#[test]
fn a_contact_added_changed_and_deleted_on_one_phone_reaches_the_other() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "phone-a", "16.1");
    let mut b = phone(&server, "phone-b", "12.1");
    let ka = first_key(&mut a, contacts, |_| {});
    let kb = first_key(&mut b, contacts, |_| {});

    let answer = send(&mut a, &ka, contacts, vec![add("new-1", jo)]);
    let id = added_id(&answer);
    let ka = key(&answer);
    // Its own Add is not sent back to it.
    let (ka, echoed) = pull(&mut a, &ka, contacts);
    assert!(echoed.is_empty(), "{echoed:?}");

    // The 12.1 phone gets all of it, body included, and the Class element.
    let (kb, got) = pull_with(&mut b, &kb, contacts, |c| {
        c.push(Element::new(airsync::OPTIONS))
            .push(Element::new(base::BODY_PREFERENCE))
            .push_text(base::TYPE, "1");
    });
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::ADD);
    assert_eq!(text(&got[0], airsync::SERVER_ID).as_deref(), Some(&*id));
    let d = data(&got[0]);
    assert_eq!(text(d, c::FILE_AS).as_deref(), Some("Doe, Jo"));
    assert_eq!(
        text(d, c::MOBILE_PHONE_NUMBER).as_deref(),
        Some("+1 555 0100")
    );
    assert_eq!(
        text(d, c::HOME_PHONE_NUMBER).as_deref(),
        Some("+1 555 0101")
    );
    assert_eq!(
        text(d, c::BUSINESS_PHONE_NUMBER).as_deref(),
        Some("+1 555 0102")
    );
    assert_eq!(
        text(d, c::BIRTHDAY).as_deref(),
        Some("1990-04-01T00:00:00.000Z")
    );
    assert_eq!(text(d, c::PICTURE).as_deref(), Some(PHOTO));
    assert_eq!(text(d, c2::NICK_NAME).as_deref(), Some("JD"));
    let children: Vec<String> = d
        .child(c::CHILDREN)
        .unwrap()
        .children_with(c::CHILD)
        .filter_map(|e| e.text())
        .collect();
    assert_eq!(children, ["Ann", "Ben"]);
    let body = d.child(base::BODY).expect("Body");
    assert_eq!(
        body.child_text(base::DATA).as_deref(),
        Some("Met at the conference.")
    );

    // B edits the whole contact (no Supported: it manages every field): the home number goes.
    let answer = send(
        &mut b,
        &kb,
        contacts,
        vec![change(&id, |d| {
            d.push_text(c::FIRST_NAME, "Jo")
                .push_text(c::LAST_NAME, "Doe-Smith")
                .push_text(c::FILE_AS, "Doe-Smith, Jo")
                .push_text(c::MOBILE_PHONE_NUMBER, "+1 555 0199")
                .push_text(c::PICTURE, PHOTO);
        })],
    );
    assert!(response(&answer, airsync::CHANGE).is_none(), "{answer:?}");
    let kb = key(&answer);
    let (ka, got) = pull(&mut a, &ka, contacts);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::CHANGE);
    let d = data(&got[0]);
    assert_eq!(text(d, c::LAST_NAME).as_deref(), Some("Doe-Smith"));
    assert_eq!(
        text(d, c::MOBILE_PHONE_NUMBER).as_deref(),
        Some("+1 555 0199")
    );
    assert_eq!(text(d, c::HOME_PHONE_NUMBER), None);
    assert_eq!(text(d, c::PICTURE).as_deref(), Some(PHOTO));
    // The body was not sent with the Change and is kept.
    assert!(d.child(base::BODY).is_some());

    // A deletes it; B hears of it.
    let answer = send(&mut a, &ka, contacts, vec![delete(&id)]);
    assert!(response(&answer, airsync::DELETE).is_none(), "{answer:?}");
    let (_, got) = pull(&mut b, &kb, contacts);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::DELETE);
    assert!(store.folder_records(user, contacts).unwrap().is_empty());
}

#[test]
fn a_phone_that_does_not_list_picture_keeps_the_picture_another_phone_set() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "full", "16.1");
    let mut g = phone(&server, "ghosting", "14.1");
    let ka = first_key(&mut a, contacts, |_| {});
    let kg = first_key(&mut g, contacts, |c| {
        c.push(Element::new(airsync::SUPPORTED))
            .push_empty(c::FIRST_NAME)
            .push_empty(c::LAST_NAME)
            .push_empty(c::FILE_AS)
            .push_empty(c::MOBILE_PHONE_NUMBER)
            .push_empty(c::EMAIL1_ADDRESS);
    });
    let answer = send(&mut a, &ka, contacts, vec![add("c1", jo)]);
    let id = added_id(&answer);
    let ka = key(&answer);
    let (kg, got) = pull(&mut g, &kg, contacts);
    assert_eq!(got.len(), 1);

    // The 14.1 phone changes the name and leaves out the mobile number it manages.
    let answer = send(
        &mut g,
        &kg,
        contacts,
        vec![change(&id, |d| {
            d.push_text(c::FIRST_NAME, "Joanna")
                .push_text(c::LAST_NAME, "Doe")
                .push_text(c::FILE_AS, "Doe, Joanna")
                .push_text(c::EMAIL1_ADDRESS, "jo@example.org");
        })],
    );
    assert!(response(&answer, airsync::CHANGE).is_none(), "{answer:?}");
    let (_, got) = pull(&mut a, &ka, contacts);
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert_eq!(text(d, c::FIRST_NAME).as_deref(), Some("Joanna"));
    assert_eq!(text(d, c::PICTURE).as_deref(), Some(PHOTO), "ghosted: kept");
    assert_eq!(
        text(d, c::HOME_PHONE_NUMBER).as_deref(),
        Some("+1 555 0101"),
        "ghosted: kept"
    );
    assert_eq!(text(d, c::MOBILE_PHONE_NUMBER), None, "managed: cleared");
    assert_eq!(text(d, c2::NICK_NAME).as_deref(), Some("JD"));
}

#[test]
fn a_lost_answer_to_an_add_is_replayed_without_a_duplicate() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "lossy", "14.1");
    let k = first_key(&mut a, contacts, |_| {});
    let first = send(&mut a, &k, contacts, vec![add("lost-1", jo)]);
    // The phone never saw that answer and sends the same request again.
    let again = send(&mut a, &k, contacts, vec![add("lost-1", jo)]);
    assert_eq!(added_id(&first), added_id(&again));
    assert_eq!(store.folder_records(user, contacts).unwrap().len(), 1);
    let (_, got) = pull(&mut a, &key(&again), contacts);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn a_conflicting_change_loses_to_the_server_unless_conflict_is_0() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "a", "16.1");
    let mut b = phone(&server, "b", "16.1");
    let ka = first_key(&mut a, contacts, |_| {});
    let kb = first_key(&mut b, contacts, |_| {});
    let answer = send(&mut a, &ka, contacts, vec![add("x", jo)]);
    let id = added_id(&answer);
    let ka = key(&answer);
    let (kb, _) = pull(&mut b, &kb, contacts);
    let rename = |name: &'static str| {
        change(&id, move |d| {
            d.push_text(c::FIRST_NAME, name);
        })
    };
    // B changes it first; A, still at its old key, changes it too and loses.
    let kb = key(&send(&mut b, &kb, contacts, vec![rename("FromB")]));
    let answer = send(&mut a, &ka, contacts, vec![rename("FromA")]);
    let refused = response(&answer, airsync::CHANGE).expect("a Change response");
    assert_eq!(status(&refused), "7");
    let server_version = commands(&answer);
    assert_eq!(server_version.len(), 1, "{answer:?}");
    assert_eq!(
        text(data(&server_version[0]), c::FIRST_NAME).as_deref(),
        Some("FromB")
    );
    let ka = key(&answer);

    // With Conflict 0 the client wins.
    let kb = key(&send(&mut b, &kb, contacts, vec![rename("FromB2")]));
    let answer = send_with(&mut a, &ka, contacts, vec![rename("FromA2")], |c| {
        c.push(Element::new(airsync::OPTIONS))
            .push_text(airsync::CONFLICT, "0");
    });
    assert!(response(&answer, airsync::CHANGE).is_none(), "{answer:?}");
    let (_, got) = pull(&mut b, &kb, contacts);
    assert_eq!(
        text(data(&got[0]), c::FIRST_NAME).as_deref(),
        Some("FromA2")
    );
}

#[test]
fn contacts_live_in_created_folders_move_between_them_and_are_counted_and_fetched() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "mover", "16.1");
    let family = create_folder(&mut a, "Family", "14");
    let (_, folders) = folder_sync(&mut a);
    assert!(folders
        .iter()
        .any(|(id, name, kind)| id == &family.to_string() && name == "Family" && kind == "14"));

    let kc = first_key(&mut a, contacts, |_| {});
    let kf = first_key(&mut a, family, |_| {});
    let answer = send(&mut a, &kc, contacts, vec![add("m1", jo)]);
    let id = added_id(&answer);
    let kc = key(&answer);

    // Another phone is told how many contacts wait for it.
    let mut b = phone(&server, "counter", "14.1");
    let kb = first_key(&mut b, contacts, |_| {});
    let mut estimate = Element::new(ge::GET_ITEM_ESTIMATE);
    estimate
        .push(Element::new(ge::COLLECTIONS))
        .push(Element::new(ge::COLLECTION))
        .push_text(airsync::SYNC_KEY, kb)
        .push_text(ge::COLLECTION_ID, contacts.to_string());
    let response_doc = b.command("GetItemEstimate", Some(&estimate));
    let estimate_text = format!("{:?}", response_doc.doc());
    let found = response_doc
        .doc()
        .child(ge::RESPONSE)
        .and_then(|r| r.child(ge::COLLECTION))
        .and_then(|c| c.child_text(ge::ESTIMATE));
    assert_eq!(found.as_deref(), Some("1"), "{estimate_text}");

    // ItemOperations Fetch of the contact's Picture alone.
    let mut fetch = Element::new(io::ITEM_OPERATIONS);
    let f = fetch.push(Element::new(io::FETCH));
    f.push_text(io::STORE, "Mailbox")
        .push_text(airsync::COLLECTION_ID, contacts.to_string())
        .push_text(airsync::SERVER_ID, id.clone());
    f.push(Element::new(io::OPTIONS))
        .push(Element::new(io::SCHEMA))
        .push_empty(c::PICTURE);
    let fetched = a.command("ItemOperations", Some(&fetch));
    common::libwbxml_agrees(&fetched.http.body, "Picture");
    let properties = fetched
        .doc()
        .child(io::RESPONSE)
        .and_then(|r| r.child(io::FETCH))
        .and_then(|f| f.child(io::PROPERTIES))
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", fetched.doc()));
    assert_eq!(properties.child_text(c::PICTURE).as_deref(), Some(PHOTO));
    assert!(properties.child(c::FIRST_NAME).is_none());

    // MoveItems into the created folder: Delete in one, Add in the other.
    let mut moves = Element::new(mv::MOVE_ITEMS);
    moves
        .push(Element::new(mv::MOVE))
        .push_text(mv::SRC_MSG_ID, id.clone())
        .push_text(mv::SRC_FLD_ID, contacts.to_string())
        .push_text(mv::DST_FLD_ID, family.to_string());
    let moved = a.command("MoveItems", Some(&moves));
    let answer = moved.doc().child(mv::RESPONSE).expect("Response").clone();
    assert_eq!(answer.child_text(mv::STATUS).as_deref(), Some("3"));
    let new_id = answer.child_text(mv::DST_MSG_ID).expect("DstMsgId");
    let (_, got) = pull(&mut a, &kc, contacts);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::DELETE);
    let (_, got) = pull(&mut a, &kf, family);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tag, airsync::ADD);
    assert_eq!(text(&got[0], airsync::SERVER_ID), Some(new_id.clone()));
    assert_eq!(text(data(&got[0]), c::PICTURE).as_deref(), Some(PHOTO));

    // A contact cannot move into a mail folder.
    let inbox = folder(&store, user, FolderType::Inbox);
    let mut moves = Element::new(mv::MOVE_ITEMS);
    moves
        .push(Element::new(mv::MOVE))
        .push_text(mv::SRC_MSG_ID, new_id)
        .push_text(mv::SRC_FLD_ID, family.to_string())
        .push_text(mv::DST_FLD_ID, inbox.to_string());
    let refused = a.command("MoveItems", Some(&moves));
    assert_ne!(
        refused
            .doc()
            .child(mv::RESPONSE)
            .and_then(|r| r.child_text(mv::STATUS))
            .as_deref(),
        Some("3")
    );
}

#[test]
fn a_picture_over_48_kb_of_base64_is_refused_with_status_6() {
    use base64::Engine;
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "big", "16.1");
    let k = first_key(&mut a, contacts, |_| {});
    let big = base64::engine::general_purpose::STANDARD.encode(vec![7u8; 40_000]);
    let answer = send(
        &mut a,
        &k,
        contacts,
        vec![add("big-1", |d| {
            d.push_text(c::FILE_AS, "Big").push_text(c::PICTURE, big);
        })],
    );
    let refused = response(&answer, airsync::ADD).expect("Add response");
    assert_eq!(status(&refused), "6");
    assert!(store.folder_records(user, contacts).unwrap().is_empty());
}

#[test]
fn the_same_contact_reads_right_at_every_protocol_version() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut writer = phone(&server, "writer", "16.1");
    let k = first_key(&mut writer, contacts, |_| {});
    let answer = send(
        &mut writer,
        &k,
        contacts,
        vec![add("v", |d| {
            jo(d);
            d.push_text(c::ALIAS, "jdoe");
        })],
    );
    added_id(&answer);
    for version in ["12.1", "14.1", "16.1"] {
        let mut reader = phone(&server, &format!("reader-{version}"), version);
        let got = pull_all(&mut reader, contacts);
        assert_eq!(got.len(), 1, "{version}");
        let d = data(&got[0]);
        assert_eq!(text(d, c::FILE_AS).as_deref(), Some("Doe, Jo"), "{version}");
        assert_eq!(text(d, c::PICTURE).as_deref(), Some(PHOTO), "{version}");
        // Alias exists from 14.0 on.
        assert_eq!(
            text(d, c::ALIAS).is_some(),
            version != "12.1",
            "{version}: {d:?}"
        );
    }
}

#[test]
fn every_contacts_and_contacts2_property_reaches_the_other_phone() {
    use easd::eas::sync::class::FieldKind;
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "all-a", "16.1");
    let mut b = phone(&server, "all-b", "16.1");
    let ka = first_key(&mut a, contacts, |_| {});
    let kb = first_key(&mut b, contacts, |_| {});
    let fields = easd::eas::sync::contacts::fields();
    let value_of = |field: &easd::eas::sync::class::Field| match field.kind {
        FieldKind::Date => "2001-02-03T00:00:00.000Z".to_string(),
        FieldKind::Int => "3".to_string(),
        FieldKind::Base64 => PHOTO.to_string(),
        _ => format!("value of {}", field.tag.name()),
    };
    let v16 = easd::eas::ProtocolVersion::V16_1;
    let answer = send(
        &mut a,
        &ka,
        contacts,
        vec![add("all", |d| {
            for field in fields.iter().filter(|f| f.exists_in(v16)) {
                match field.kind {
                    FieldKind::List(item) => {
                        d.push(Element::new(field.tag))
                            .push_text(item, "one")
                            .push_text(item, "two");
                    }
                    FieldKind::Body => {
                        d.push(Element::new(field.tag))
                            .push_text(base::TYPE, "2")
                            .push_text(base::DATA, "<p>html body</p>");
                    }
                    _ => {
                        d.push_text(field.tag, value_of(field));
                    }
                }
            }
        })],
    );
    added_id(&answer);
    let (_, got) = pull_with(&mut b, &kb, contacts, |c| {
        c.push(Element::new(airsync::OPTIONS))
            .push(Element::new(base::BODY_PREFERENCE))
            .push_text(base::TYPE, "2");
    });
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    let mut checked = 0;
    for field in fields.iter().filter(|f| f.exists_in(v16)) {
        let element = d
            .child(field.tag)
            .unwrap_or_else(|| panic!("{} missing", field.tag.name()));
        match field.kind {
            FieldKind::List(item) => {
                let items: Vec<String> = element
                    .children_with(item)
                    .filter_map(|e| e.text())
                    .collect();
                assert_eq!(items, ["one", "two"], "{}", field.tag.name());
            }
            FieldKind::Body => {
                assert_eq!(element.child_text(base::TYPE).as_deref(), Some("2"));
                assert_eq!(
                    element.child_text(base::DATA).as_deref(),
                    Some("<p>html body</p>")
                );
            }
            _ => assert_eq!(
                element.text().as_deref(),
                Some(value_of(field).as_str()),
                "{}",
                field.tag.name()
            ),
        }
        checked += 1;
    }
    // 48 Contacts properties besides Body, Categories and Children, and 10 of Contacts2.
    assert!(checked >= 60, "{checked}");
}

#[test]
fn a_2_5_phone_reads_the_body_as_contacts_body_and_a_plain_phone_gets_html_as_text() {
    let (server, store, user) = start();
    let contacts = folder(&store, user, FolderType::Contacts);
    let mut a = phone(&server, "modern", "16.1");
    let ka = first_key(&mut a, contacts, |_| {});
    let answer = send(
        &mut a,
        &ka,
        contacts,
        vec![add("h", |d| {
            d.push_text(c::FILE_AS, "Html");
            d.push(Element::new(base::BODY))
                .push_text(base::TYPE, "2")
                .push_text(base::DATA, "<p>Hello <b>there</b></p>");
        })],
    );
    added_id(&answer);
    let mut old = phone(&server, "wm5", "2.5");
    let ko = first_key(&mut old, contacts, |c| {
        c.push_text(airsync::CLASS, "Contacts");
    });
    let (_, got) = pull_with(&mut old, &ko, contacts, |c| {
        c.push_text(airsync::CLASS, "Contacts");
    });
    assert_eq!(got.len(), 1);
    let d = data(&got[0]);
    assert!(d.child(base::BODY).is_none());
    let body = text(d, c::BODY).expect("Contacts:Body");
    assert!(body.contains("Hello") && !body.contains("<b>"), "{body}");

    let mut plain = phone(&server, "plain", "14.1");
    let kp = first_key(&mut plain, contacts, |_| {});
    let (_, got) = pull_with(&mut plain, &kp, contacts, |c| {
        c.push(Element::new(airsync::OPTIONS))
            .push(Element::new(base::BODY_PREFERENCE))
            .push_text(base::TYPE, "1");
    });
    let body = data(&got[0]).child(base::BODY).unwrap();
    assert_eq!(body.child_text(base::TYPE).as_deref(), Some("1"));
    assert!(!body.child_text(base::DATA).unwrap().contains('<'));
}

#[test]
fn a_device_limited_to_default_folders_does_not_see_created_contact_folders() {
    let (server, _store, _user) = start();
    let mut a = phone(&server, "limited", "16.1");
    let family = create_folder(&mut a, "Family", "14");
    let out = server.easd(&["device", "set", ALICE, "limited", "folders", "default"]);
    assert!(out.status.success(), "{out:?}");
    let (_, folders) = folder_sync(&mut a);
    assert!(folders.iter().all(|(id, _, _)| id != &family.to_string()));
    assert!(
        folders.iter().any(|(_, _, kind)| kind == "9"),
        "Contacts itself stays"
    );
    let answer = sync_one(&mut a, collection("0", family, |_| {}));
    assert_eq!(status(&answer), "12");
}
