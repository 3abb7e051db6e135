//! The address book through the real server: `easd user set` fields and photos, `easd gal
//! publish|unpublish|show`, Search Store=GAL (Query prefixes, accents, Range, Total, Picture
//! statuses) and ResolveRecipients (resolved, ambiguous, unresolved, own contacts,
//! certificates, availability, pictures). Isolation: a user of another domain never finds
//! this domain's users, and contacts appear in the GAL only while their folder is published.
//! Every answer is also decoded by libwbxml.

mod common;

use common::{TestDevice, TestServer};
use easd::wbxml::tag::{gal, resolve_recipients as rr, search as s};
use easd::wbxml::Element;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const BORIS: &str = "boris@example.com";
const CAROL: &str = "carol@other.test";

/// A tiny PNG (only its signature matters to `easd user set --photo`).
const BOB_PHOTO: &[u8] = b"\x89PNG\r\n\x1a\nbob-photo-bytes";
const BORIS_PHOTO: &[u8] = b"\xFF\xD8\xFF\xE0boris";

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("easd-gal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn setup() -> TestServer {
    let server = TestServer::start();
    for user in [ALICE, BOB, BORIS, CAROL] {
        server.add_user(user);
    }
    let set = |args: &[&str]| {
        let out = server.easd(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    let bob_photo = temp_file("bob.png", BOB_PHOTO);
    let boris_photo = temp_file("boris.jpg", BORIS_PHOTO);
    set(&["user", "set", ALICE, "--name", "Alice Ångström"]);
    set(&[
        "user",
        "set",
        BOB,
        "--name",
        "Bob Builder",
        "--phone",
        "+1 555 0100",
        "--title",
        "Plumber",
        "--photo",
        bob_photo.to_str().unwrap(),
    ]);
    set(&[
        "user",
        "set",
        BORIS,
        "--name",
        "Boris Becker",
        "--photo",
        boris_photo.to_str().unwrap(),
    ]);
    set(&["user", "set", CAROL, "--name", "Carol Bond"]);
    let family = temp_file(
        "family.vcf",
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bonnie Parker\r\nN:Parker;Bonnie;;;\r\n\
          EMAIL:bonnie@family.test\r\nTEL;TYPE=CELL:+1 555 0199\r\nEND:VCARD\r\n",
    );
    let out = server.easd(&[
        "import",
        ALICE,
        family.to_str().unwrap(),
        "--folder",
        "Family",
    ]);
    assert!(out.status.success(), "import: {out:?}");
    server
}

fn search(device: &mut TestDevice, store: &str, query: &str, options: Vec<Element>) -> Element {
    common::search_store(device, store, Element::with_text(s::QUERY, query), options)
}

fn range(text: &str) -> Element {
    Element::with_text(s::RANGE, text)
}

fn picture(max_size: Option<&str>, max_pictures: Option<&str>) -> Element {
    let mut p = Element::new(s::PICTURE);
    if let Some(size) = max_size {
        p.push_text(s::MAX_SIZE, size);
    }
    if let Some(count) = max_pictures {
        p.push_text(s::MAX_PICTURES, count);
    }
    p
}

/// (email, picture status, picture bytes) of each Result.
fn results(store: &Element) -> Vec<(String, Option<String>, Option<Vec<u8>>)> {
    store
        .children_with(s::RESULT)
        .filter_map(|r| r.child(s::PROPERTIES))
        .map(|p| {
            let picture = p.child(gal::PICTURE);
            (
                p.child_text(gal::EMAIL_ADDRESS).unwrap_or_default(),
                picture.and_then(|p| p.child_text(gal::STATUS)),
                picture
                    .and_then(|p| p.child(gal::DATA))
                    .and_then(|d| d.bytes()),
            )
        })
        .collect()
}

fn emails(store: &Element) -> Vec<String> {
    results(store).into_iter().map(|(e, _, _)| e).collect()
}

#[test]
fn gal_search_finds_domain_users_by_prefix_with_fields_range_total_and_pictures() {
    let server = setup();
    let mut alice = server.device(ALICE, "alice-phone");

    let store = search(
        &mut alice,
        "GAL",
        "bo",
        vec![range("0-9"), picture(None, None)],
    );
    assert_eq!(store.child_text(s::STATUS).as_deref(), Some("1"));
    assert_eq!(emails(&store), [BOB, BORIS]);
    assert_eq!(store.child_text(s::RANGE).as_deref(), Some("0-1"));
    assert_eq!(store.child_text(s::TOTAL).as_deref(), Some("2"));
    let first = store
        .child(s::RESULT)
        .unwrap()
        .child(s::PROPERTIES)
        .unwrap();
    assert_eq!(
        first.child_text(gal::DISPLAY_NAME).as_deref(),
        Some("Bob Builder")
    );
    assert_eq!(first.child_text(gal::PHONE).as_deref(), Some("+1 555 0100"));
    assert_eq!(first.child_text(gal::TITLE).as_deref(), Some("Plumber"));
    assert_eq!(first.child_text(gal::ALIAS).as_deref(), Some("bob"));
    let found = results(&store);
    assert_eq!(found[0].1.as_deref(), Some("1"));
    assert_eq!(found[0].2.as_deref(), Some(BOB_PHOTO));

    // Case, accents, last names and addresses.
    let store = search(&mut alice, "GAL", "ANGST", vec![]);
    assert_eq!(emails(&store), [ALICE]);
    let store = search(&mut alice, "GAL", "Becker", vec![]);
    assert_eq!(emails(&store), [BORIS]);
    let store = search(&mut alice, "GAL", "boris@", vec![]);
    assert_eq!(emails(&store), [BORIS]);
    // Prefixes only: the middle of a word does not match.
    let store = search(&mut alice, "GAL", "uilder", vec![]);
    assert!(emails(&store).is_empty());
    assert_eq!(store.child_text(s::TOTAL).as_deref(), Some("0"));
    assert!(store.child(s::RANGE).is_none());

    // Range picks a window; Total still counts every match.
    let store = search(&mut alice, "GAL", "bo", vec![range("1-5")]);
    assert_eq!(emails(&store), [BORIS]);
    assert_eq!(store.child_text(s::RANGE).as_deref(), Some("1-1"));
    assert_eq!(store.child_text(s::TOTAL).as_deref(), Some("2"));
    // No picture asked for: no Picture element.
    assert!(results(&store)[0].1.is_none());

    // Picture limits: MaxPictures 1 → the second gets 175; MaxSize below Bob's photo → 174.
    let store = search(&mut alice, "GAL", "bo", vec![picture(None, Some("1"))]);
    let statuses: Vec<_> = results(&store).into_iter().map(|r| r.1).collect();
    assert_eq!(statuses, [Some("1".into()), Some("175".into())]);
    let store = search(&mut alice, "GAL", "bo", vec![picture(Some("10"), None)]);
    let found = results(&store);
    assert_eq!(found[0].1.as_deref(), Some("174"));
    assert_eq!(found[0].2, None);
    assert_eq!(found[1].1.as_deref(), Some("1"));
    // A user without a photo: 173.
    let store = search(&mut alice, "GAL", "alice", vec![picture(None, None)]);
    assert_eq!(results(&store)[0].1.as_deref(), Some("173"));

    // A bad range is an invalid request of the store.
    let store = search(&mut alice, "GAL", "bo", vec![range("9-1")]);
    assert_eq!(store.child_text(s::STATUS).as_deref(), Some("2"));
    // A Mailbox query is a structure (tests/search_mailbox.rs), not a GAL string: invalid.
    let store = search(&mut alice, "Mailbox", "invoice", vec![]);
    assert_eq!(store.child_text(s::STATUS).as_deref(), Some("2"));
    assert!(store.child(s::RESULT).is_none());
}

#[test]
fn gal_is_per_domain_and_contacts_only_while_published() {
    let server = setup();
    let mut bob = server.device(BOB, "bob-phone");
    let mut carol = server.device(CAROL, "carol-phone");

    // Carol (another domain) never finds Bob, though his name matches; she finds herself.
    let store = search(&mut carol, "GAL", "bo", vec![]);
    assert_eq!(emails(&store), [CAROL]);
    let store = search(&mut carol, "GAL", "alice", vec![]);
    assert!(emails(&store).is_empty());

    // Alice's Family contacts are not in the GAL until published.
    let store = search(&mut bob, "GAL", "bonnie", vec![]);
    assert!(emails(&store).is_empty());
    let out = server.easd(&["gal", "publish", ALICE, "family"]);
    assert!(out.status.success(), "{out:?}");
    let shown = server.easd(&["gal", "show"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("Family\t1 contacts"));
    let store = search(&mut bob, "GAL", "bonnie", vec![]);
    assert_eq!(emails(&store), ["bonnie@family.test"]);
    let props = store
        .child(s::RESULT)
        .unwrap()
        .child(s::PROPERTIES)
        .unwrap();
    assert_eq!(
        props.child_text(gal::MOBILE_PHONE).as_deref(),
        Some("+1 555 0199")
    );
    assert_eq!(props.child_text(gal::LAST_NAME).as_deref(), Some("Parker"));
    // Published to Alice's domain only.
    let store = search(&mut carol, "GAL", "bonnie", vec![]);
    assert!(emails(&store).is_empty());
    let out = server.easd(&["gal", "unpublish", ALICE, "Family"]);
    assert!(out.status.success(), "{out:?}");
    let store = search(&mut bob, "GAL", "bonnie", vec![]);
    assert!(emails(&store).is_empty());

    // The admin's view of a user's address book.
    let shown = server.easd(&["gal", "show", BOB]);
    let text = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        text.contains("Boris Becker") && !text.contains("Carol"),
        "{text}"
    );
    // Mistakes are refused with an exit code, nothing written.
    let out = server.easd(&["gal", "publish", ALICE, "Nope"]);
    assert!(!out.status.success());
    let not_a_picture = temp_file("note.txt", b"hello");
    let out = server.easd(&[
        "user",
        "set",
        BOB,
        "--photo",
        not_a_picture.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(65));
    let out = server.easd(&["user", "set", "nobody@example.com", "--phone", "1"]);
    assert_eq!(out.status.code(), Some(67));
}

fn resolve(device: &mut TestDevice, to: &[&str], options: Option<Element>) -> Element {
    let mut doc = Element::new(rr::RESOLVE_RECIPIENTS);
    for name in to {
        doc.push_text(rr::TO, *name);
    }
    if let Some(options) = options {
        doc.push(options);
    }
    let response = device.command("ResolveRecipients", Some(&doc));
    assert_eq!(response.status(), 200);
    common::libwbxml_agrees(&response.http.body, "ResolveRecipients");
    response.doc().clone()
}

fn responses(doc: &Element) -> Vec<&Element> {
    doc.children_with(rr::RESPONSE).collect()
}

fn recipient_emails(response: &Element) -> Vec<String> {
    response
        .children_with(rr::RECIPIENT)
        .map(|r| r.child_text(rr::EMAIL_ADDRESS).unwrap_or_default())
        .collect()
}

#[test]
fn resolve_recipients_resolves_suggests_and_reports_options() {
    let server = setup();
    let mut alice = server.device(ALICE, "alice-phone");

    let mut options = Element::new(rr::OPTIONS);
    options.push_text(rr::CERTIFICATE_RETRIEVAL, "2");
    let mut availability = Element::new(rr::AVAILABILITY);
    availability
        .push_text(rr::START_TIME, "2026-12-07T08:00:00.000Z")
        .push_text(rr::END_TIME, "2026-12-07T18:00:00.000Z");
    options.push(availability);
    let mut picture = Element::new(rr::PICTURE);
    picture.push_text(rr::MAX_PICTURES, "5");
    options.push(picture);
    let doc = resolve(&mut alice, &[BOB, "bo", "nobody", "Bonnie"], Some(options));
    assert_eq!(doc.child_text(rr::STATUS).as_deref(), Some("1"));
    let answers = responses(&doc);
    assert_eq!(answers.len(), 4);

    // An exact address resolves to one GAL recipient with certificates, free/busy, picture.
    let exact = answers[0];
    assert_eq!(exact.child_text(rr::TO).as_deref(), Some(BOB));
    assert_eq!(exact.child_text(rr::STATUS).as_deref(), Some("1"));
    assert_eq!(exact.child_text(rr::RECIPIENT_COUNT).as_deref(), Some("1"));
    let recipient = exact.child(rr::RECIPIENT).unwrap();
    assert_eq!(recipient.child_text(rr::TYPE).as_deref(), Some("1"));
    assert_eq!(
        recipient.child_text(rr::DISPLAY_NAME).as_deref(),
        Some("Bob Builder")
    );
    let certificates = recipient.child(rr::CERTIFICATES).unwrap();
    assert_eq!(certificates.child_text(rr::STATUS).as_deref(), Some("7"));
    // Bob is a user of Alice's domain with an empty calendar: free all ten hours.
    let free_busy = recipient.child(rr::AVAILABILITY).unwrap();
    assert_eq!(free_busy.child_text(rr::STATUS).as_deref(), Some("1"));
    assert_eq!(
        free_busy.child_text(rr::MERGED_FREE_BUSY).as_deref(),
        Some("00000000000000000000")
    );
    let photo = recipient.child(rr::PICTURE).unwrap();
    assert_eq!(photo.child_text(rr::STATUS).as_deref(), Some("1"));
    assert_eq!(
        photo.child(rr::DATA).and_then(|d| d.bytes()).as_deref(),
        Some(BOB_PHOTO)
    );

    // A prefix shared by several people: ambiguous, all suggested (GAL first, then Alice's
    // own contacts), no certificates.
    let ambiguous = answers[1];
    assert_eq!(ambiguous.child_text(rr::STATUS).as_deref(), Some("2"));
    assert_eq!(
        recipient_emails(ambiguous),
        [BOB, BORIS, "bonnie@family.test"]
    );
    assert!(ambiguous
        .children_with(rr::RECIPIENT)
        .all(|r| r.child(rr::CERTIFICATES).is_none()));

    // Nobody: unresolved.
    assert_eq!(answers[2].child_text(rr::STATUS).as_deref(), Some("4"));
    assert_eq!(
        answers[2].child_text(rr::RECIPIENT_COUNT).as_deref(),
        Some("0")
    );

    // Alice's own (unpublished) contact resolves for her, as a contact (Type 2).
    let own = answers[3];
    assert_eq!(own.child_text(rr::STATUS).as_deref(), Some("1"));
    assert_eq!(recipient_emails(own), ["bonnie@family.test"]);
    assert_eq!(
        own.child(rr::RECIPIENT)
            .unwrap()
            .child_text(rr::TYPE)
            .as_deref(),
        Some("2")
    );

    // MaxAmbiguousRecipients caps the suggestions: partial status 3.
    let mut options = Element::new(rr::OPTIONS);
    options.push_text(rr::MAX_AMBIGUOUS_RECIPIENTS, "1");
    let doc = resolve(&mut alice, &["bo"], Some(options));
    let partial = responses(&doc)[0];
    assert_eq!(partial.child_text(rr::STATUS).as_deref(), Some("3"));
    assert_eq!(recipient_emails(partial), [BOB]);

    // Another domain resolves neither Bob nor Alice's contacts.
    let mut carol = server.device(CAROL, "carol-phone");
    let doc = resolve(&mut carol, &[BOB, "bonnie"], None);
    for answer in responses(&doc) {
        assert_eq!(answer.child_text(rr::STATUS).as_deref(), Some("4"));
    }

    // A request without To is a protocol error (status 5).
    let doc = resolve(&mut alice, &[], None);
    assert_eq!(doc.child_text(rr::STATUS).as_deref(), Some("5"));
    assert!(responses(&doc).is_empty());
}
