//! Fuzz target for the autodiscover request parser (`src/autodiscover.rs`): any body parses or
//! is refused without a panic, and every answer written for a parsed request (account found
//! or not) is well-formed XML, whatever the request's e-mail address and schema held.
//!
//! Seed corpus: hand-written MobileSync and Outlook requests (`fuzz/seeds/autodiscover`).

#![no_main]

use easd::autodiscover::{parse_request, respond, AccountInfo, AutodiscoverSettings};
use libfuzzer_sys::fuzz_target;
use xml::reader::{EventReader, XmlEvent};

fn assert_well_formed(document: &str) {
    let mut elements = 0;
    for event in EventReader::new(document.as_bytes()) {
        match event {
            Ok(XmlEvent::StartElement { .. }) => elements += 1,
            Ok(_) => {}
            Err(error) => panic!("answer is not XML ({error}): {document}"),
        }
    }
    assert!(elements > 0, "empty answer");
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = parse_request(data) else {
        return;
    };
    let settings = AutodiscoverSettings {
        mobilesync_url: "https://mail.example.com/Microsoft-Server-ActiveSync".to_string(),
        server_host: "mail.example.com".to_string(),
        extra_protocols: Vec::new(),
    };
    let account = AccountInfo {
        email: request.email.clone(),
        display_name: "Fuzz <&> User".to_string(),
    };
    assert_well_formed(&respond(&request, Some(&account), &settings));
    assert_well_formed(&respond(&request, None, &settings));
});
