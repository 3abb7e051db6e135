//! vCard in and out through the real CLI against a running server: Apple, Google, Outlook and
//! vCard 4.0 files are imported (photos included) and reach a phone; export → import into an
//! empty folder → export gives the same cards; bad cards are reported by line and skipped,
//! and nothing is half-imported.

mod class_sync;
mod common;

use class_sync::*;
use easd::store::{FolderType, Property};
use easd::wbxml::tag::contacts as c;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn real_world_cards_import_reach_a_phone_and_round_trip() {
    let (server, store, user) = start();
    for (file, cards) in [
        ("contacts-apple.vcf", 2),
        ("contacts-google.vcf", 41),
        ("contacts-outlook.vcf", 1),
        ("contacts-v4.vcf", 1),
    ] {
        let out = server.easd(&["import", ALICE, &fixture(file)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {stderr}");
        assert!(
            stderr.contains(&format!("imported {cards} contacts")),
            "{file}: {stderr}"
        );
    }
    let contacts = folder(&store, user, FolderType::Contacts);
    let records = store.folder_records(user, contacts).unwrap();
    assert_eq!(records.len(), 45);
    let find = |file_as: &str| {
        records
            .iter()
            .find(|(_, r)| r.text("FileAs") == Some(file_as))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{file_as}"))
    };
    let johnny = find("Johnny Appleseed");
    assert_eq!(johnny.text("CompanyName"), Some("Orchard Inc."));
    assert_eq!(johnny.text("HomeAddressCity"), Some("Cupertino"));
    assert_eq!(johnny.text("WebPage"), Some("https://orchard.example"));
    assert_eq!(johnny.text("YomiFirstName"), Some("Jonny"));
    assert!(matches!(johnny.get("Picture"), Some(Property::Bytes(b)) if b.len() == 3072));
    // Both mobile numbers are kept: the second in a spare slot.
    assert_eq!(johnny.text("MobilePhoneNumber"), Some("+1 (555) 010-0001"));
    assert_eq!(johnny.text("Home2PhoneNumber"), Some("+1 (555) 010-0002"));
    let grace = find("Grace Hopper");
    assert_eq!(grace.text("Title"), Some("RAdm."));
    assert!(
        grace.get("Picture").is_none(),
        "a photo by URL is not fetched"
    );
    let juergen = find("Jürgen Müller");
    assert_eq!(juergen.text("LastName"), Some("Müller"));
    assert_eq!(juergen.text("BusinessAddressStreet"), Some("Hauptstraße 1"));
    assert_eq!(juergen.text("BusinessFaxNumber"), Some("+49 30 123457"));
    assert_eq!(juergen.text("Spouse"), Some("Anna"));
    assert_eq!(juergen.text("IMAddress"), Some("juergen@im.example"));
    assert!(matches!(juergen.get("Picture"), Some(Property::Bytes(b)) if b.len() == 1000));
    let ada = find("Ada Lovelace");
    assert_eq!(ada.text("HomePhoneNumber"), Some("+44-20-7946-0001"));
    assert_eq!(ada.text("Spouse"), Some("William King"));
    assert_eq!(
        ada.get("Children"),
        Some(&Property::List(vec!["Byron".into(), "Anne".into()]))
    );

    // A phone gets them, photos included.
    let mut phone_a = phone(&server, "vcard-phone", "14.1");
    let got = pull_all(&mut phone_a, contacts);
    assert_eq!(got.len(), 45);
    let with_photo = got
        .iter()
        .filter(|cmd| data(cmd).child(c::PICTURE).is_some())
        .count();
    assert_eq!(with_photo, 3);

    // Round trip: export, import into an empty folder, export again.
    let first = server.easd(&["export", ALICE, "--folder", "Contacts"]);
    assert!(first.status.success(), "{first:?}");
    let dir = std::env::temp_dir().join(format!("easd-vcard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("export.vcf");
    std::fs::write(&path, &first.stdout).unwrap();
    let out = server.easd(&["import", ALICE, path.to_str().unwrap(), "--folder", "Copy"]);
    assert!(out.status.success(), "{out:?}");
    let second = server.easd(&["export", ALICE, "--folder", "Copy"]);
    assert!(second.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        String::from_utf8_lossy(&first.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout)
            .matches("BEGIN:VCARD")
            .count(),
        45
    );
    // The created folder is a contacts folder (type 14) a phone can see.
    let (_, folders) = folder_sync(&mut phone_a);
    assert!(folders
        .iter()
        .any(|(_, name, kind)| name == "Copy" && kind == "14"));
}

#[test]
fn bad_cards_are_reported_by_line_and_skipped() {
    let (server, store, user) = start();
    let out = server.easd(&["import", ALICE, &fixture("contacts-bad.vcf")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    for line in [":5: ", ":10: ", ":19: "] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
    assert!(stderr.contains("imported 2 contacts"), "{stderr}");
    let contacts = folder(&store, user, FolderType::Contacts);
    let names: Vec<String> = store
        .folder_records(user, contacts)
        .unwrap()
        .iter()
        .filter_map(|(_, r)| r.text("FileAs").map(str::to_string))
        .collect();
    assert_eq!(names, ["Good One", "Good Two"]);
    // A photo larger than phones take makes the card a bad one; the others still go in.
    use base64::Engine;
    let big = base64::engine::general_purpose::STANDARD.encode(vec![9u8; 40_000]);
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big Photo\r\nPHOTO;ENCODING=b:{big}\r\nEND:VCARD\r\n\
         BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Small\r\nEND:VCARD\r\n"
    );
    let path = std::env::temp_dir().join(format!("easd-big-{}.vcf", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = server.easd(&["import", ALICE, path.to_str().unwrap(), "--folder", "Big"]);
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":1: card skipped: photo of 40000 bytes"),
        "{stderr}"
    );
    assert!(stderr.contains("imported 1 contacts"), "{stderr}");

    // An unknown user gets nothing and the right exit code.
    let out = server.easd(&["import", "nobody@example.com", &fixture("contacts-v4.vcf")]);
    assert_eq!(out.status.code(), Some(67));
}
