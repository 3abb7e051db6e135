//! Parsing the real-world messages of the conformance corpus in `tests/fixtures/mime` (Horde's ActiveSync
//! fixtures) and deliberately broken ones.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::*;

/// `tests/fixtures/mime` in the crate (origin and licence in `tests/fixtures/README.md`).
pub(crate) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mime")
}

pub(crate) fn corpus(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("conformance message {} missing ({e})", path.display()))
}

fn decode_location(raw: &[u8], location: &PartLocation) -> Vec<u8> {
    let body = &raw[location.body_start as usize..location.body_end as usize];
    let mut decoded = Vec::new();
    decoding_reader(body, location.encoding)
        .read_to_end(&mut decoded)
        .unwrap();
    decoded
}

fn body_text(raw: &[u8], body: &BodyPart) -> String {
    text_from_bytes(
        &decode_location(raw, &body.location),
        body.charset.as_deref(),
    )
}

fn mailbox(name: Option<&str>, email: &str) -> Mailbox {
    Mailbox {
        name: name.map(str::to_string),
        email: email.to_string(),
    }
}

fn kinds(parsed: &ParsedMessage) -> Vec<(BodyKind, &str, &str)> {
    parsed
        .bodies
        .iter()
        .map(|b| (b.kind, b.content_type.as_str(), b.location.path.as_str()))
        .collect()
}

#[test]
fn every_corpus_message_parses_and_its_parts_decode_consistently() {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("conformance corpus in tests/fixtures/mime")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 9, "{entries:?}");
    for path in entries {
        let raw = std::fs::read(&path).unwrap();
        let parsed = parse(&raw);
        let name = path.display();
        assert!(!parsed.mime_broken, "{name}");
        assert!(!parsed.subject.is_empty(), "{name}");
        assert!(parsed.from.is_some(), "{name}");
        assert!(parsed.date_sent.is_some(), "{name}");
        for body in &parsed.bodies {
            // The streaming decoder plus charset conversion gives the text mail-parser saw.
            assert_eq!(
                body_text(&raw, body).len() as u64,
                body.size,
                "{name} {body:?}"
            );
        }
        for attachment in &parsed.attachments {
            assert_eq!(
                decode_location(&raw, &attachment.location).len() as u64,
                attachment.size,
                "{name} {attachment:?}"
            );
            assert!(!attachment.display_name.is_empty());
        }
        // Parsing is a pure function of the bytes.
        assert_eq!(parse(&raw), parsed, "{name}");
    }
}

#[test]
fn plain_message() {
    let raw = corpus("email_plain.eml");
    let parsed = parse(&raw);
    assert_eq!(parsed.subject, "Subject");
    assert_eq!(
        parsed.from,
        Some(mailbox(Some("Michael J Rubinsky"), "mrubinsk@horde.org"))
    );
    assert_eq!(parsed.to, [mailbox(None, "mrubinsk@horde.org")]);
    assert_eq!(parsed.reply_to, [mailbox(None, "mrubinsk@horde.org")]);
    assert!(parsed.cc.is_empty());
    // Date: Mon, 08 Sep 2014 10:26:50 -0400
    assert_eq!(parsed.date_sent, Some(1_410_186_410));
    // Topmost Received: Mon,  8 Sep 2014 10:27:04 -0400 (EDT)
    assert_eq!(parsed.first_received, Some(1_410_186_424));
    assert_eq!(
        parsed.message_id.as_deref(),
        Some("20140908102650.Horde.1eE5viMIP-X-AwWHvBqf6A9@h4.theupstairsroom.com")
    );
    assert_eq!(parsed.message_class, "IPM.Note");
    assert_eq!(parsed.content_class, "urn:content-classes:message");
    assert_eq!(parsed.native_body_type, NativeBodyType::Plain);
    assert_eq!(parsed.internet_cpid, 65001);
    assert_eq!(parsed.importance, Importance::Normal);
    assert_eq!(
        kinds(&parsed),
        [
            (BodyKind::Plain, "text/plain", "1"),
            (BodyKind::Html, "text/plain", "1")
        ]
    );
    assert!(body_text(&raw, &parsed.bodies[0]).starts_with("Foo\n\n\n--\nmike"));
    assert!(parsed.attachments.is_empty());
    assert!(!parsed.has_attachments());
    assert!(parsed.preview.starts_with("Foo -- mike The Horde Project"));
    assert!(parsed.is_addressed_to("MRubinsk@horde.org"));
    assert!(!parsed.is_addressed_to("mike@theupstairsroom.com"));
    assert_eq!(parsed.display_to(), "mrubinsk@horde.org");
    assert_eq!(
        parsed.from.as_ref().unwrap().formatted(),
        "\"Michael J Rubinsky\" <mrubinsk@horde.org>"
    );
}

#[test]
fn smime_signed_message_hides_the_signature_part() {
    let raw = corpus("email_signed.eml");
    let parsed = parse(&raw);
    assert_eq!(parsed.message_class, "IPM.Note.SMIME.MultipartSigned");
    assert!(parsed.attachments.is_empty(), "{:?}", parsed.attachments);
    assert_eq!(parsed.bodies[0].location.path, "1");
    assert!(body_text(&raw, &parsed.bodies[0]).starts_with("S/MIME Signed.\n"));
}

#[test]
fn smime_encrypted_message_is_one_p7m_attachment() {
    let raw = corpus("encrypted.eml");
    let parsed = parse(&raw);
    assert_eq!(parsed.message_class, "IPM.Note.SMIME");
    assert!(parsed.bodies.is_empty());
    assert_eq!(parsed.attachments.len(), 1);
    let p7m = &parsed.attachments[0];
    assert_eq!(p7m.display_name, "smime.p7m");
    assert_eq!(p7m.content_type, "application/x-pkcs7-mime");
    assert_eq!(p7m.method, AttachmentMethod::Normal);
    assert_eq!(p7m.location.path, "1");
    assert_eq!(p7m.location.encoding, TransferEncoding::Base64);
    // DER: a SEQUENCE (0x30) with indefinite or long-form length.
    let der = decode_location(&raw, &p7m.location);
    assert_eq!(der[0], 0x30);
    assert_eq!(der.len() as u64, p7m.size);
    assert!(parsed.has_attachments());
}

#[test]
fn ios_multipart_alternative() {
    let raw = corpus("iOSMultipartAlternative.eml");
    let parsed = parse(&raw);
    assert_eq!(
        kinds(&parsed),
        [
            (BodyKind::Plain, "text/plain", "1"),
            (BodyKind::Html, "text/html", "2")
        ]
    );
    assert_eq!(parsed.native_body_type, NativeBodyType::Html);
    assert_eq!(parsed.internet_cpid, 20127, "us-ascii");
    assert!(body_text(&raw, &parsed.bodies[1]).contains("This is an HTML <b>email</b>."));
    assert_eq!(
        parsed.to,
        [mailbox(
            Some("Michael Rubinsky"),
            "mike@theupstairsroom.com"
        )]
    );
    assert_eq!(parsed.display_to(), "Michael Rubinsky");
    assert_eq!(parsed.date_sent, Some(1_357_081_837));
    assert_eq!(parsed.first_received, None);
}

#[test]
fn encoded_subject_and_odd_addresses() {
    let raw = corpus("idna.eml");
    let parsed = parse(&raw);
    assert_eq!(
        parsed.subject,
        "TT Belieferungsstart der Schulfrei-Exemplare für das Schuljahr 2017/2018"
    );
    assert_eq!(
        parsed.cc,
        [
            mailbox(None, "direktion@-abc.at"),
            mailbox(None, "direktion@nms.-nd.abc.de")
        ]
    );
    assert_eq!(parsed.internet_cpid, 28591, "iso-8859-1");
    assert_eq!(
        parsed.bodies[1].location.encoding,
        TransferEncoding::QuotedPrintable
    );
    let html = body_text(&raw, &parsed.bodies[1]);
    assert!(html.contains("<p class=\"MsoNormal\">FooBar"), "{html}");

    let raw = corpus("mime_encoding.eml");
    let parsed = parse(&raw);
    assert_eq!(parsed.subject, "ÃÄãë");
    assert_eq!(parsed.bodies[0].location.encoding, TransferEncoding::Base64);
    assert_eq!(
        body_text(&raw, &parsed.bodies[0]),
        "\nTest\n\nSent from Nine"
    );
    assert_eq!(parsed.preview, "Test Sent from Nine");
}

#[test]
fn imip_invitation_is_a_meeting_request() {
    let raw = corpus("invitation_one.eml");
    let parsed = parse(&raw);
    assert_eq!(parsed.message_class, "IPM.Schedule.Meeting.Request");
    assert_eq!(parsed.content_class, "urn:content-classes:calendarmessage");
    assert_eq!(
        parsed.sender,
        Some(mailbox(
            Some("Google Calendar"),
            "calendar-notification@google.com"
        ))
    );
    assert_eq!(
        parsed.reply_to,
        [mailbox(Some("Michael Rubinsky"), "mikerubinsky@gmail.com")]
    );
    let calendar = parsed
        .bodies
        .iter()
        .find(|b| b.kind == BodyKind::Calendar)
        .expect("calendar part");
    assert_eq!(calendar.location.path, "1.3");
    let ical = body_text(&raw, calendar);
    assert!(ical.starts_with("BEGIN:VCALENDAR"), "{ical}");
    assert!(ical.contains("METHOD:REQUEST"));
    // The iMIP part is not an attachment; the .ics file next to it is.
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(parsed.attachments[0].display_name, "invite.ics");
    assert_eq!(parsed.attachments[0].content_type, "application/ics");
    assert_eq!(parsed.attachments[0].location.path, "2");
    assert_eq!(parsed.internet_cpid, 1252, "windows-1252");
    // The base64 windows-1252 plain part converts to UTF-8 (it holds an en dash).
    let plain = body_text(&raw, &parsed.bodies[0]);
    assert!(plain.contains("1:30pm \u{2013} 2:30pm"), "{plain}");
}

#[test]
fn nested_rfc822_message_is_one_embedded_attachment() {
    let raw = corpus("rfc822_multipart.eml");
    let parsed = parse(&raw);
    assert_eq!(parsed.attachments.len(), 1);
    let nested = &parsed.attachments[0];
    assert_eq!(nested.method, AttachmentMethod::EmbeddedMessage);
    assert_eq!(nested.content_type, "message/rfc822");
    // The fixture's nested header block is cut short by an empty line inside its To
    // header, so the attached message has no readable subject to name the file after.
    assert_eq!(nested.display_name, "attachment-1.eml");
    assert_eq!(nested.location.path, "2");
    assert_eq!(nested.location.encoding, TransferEncoding::Identity);
    let eml = decode_location(&raw, &nested.location);
    assert!(eml.starts_with(b"From: m@example.com\nTo: \"P P"));
    assert!(eml.ends_with(b"examplelocal_--\n"));
    let inner = parse(&eml);
    assert_eq!(inner.from, Some(mailbox(None, "m@example.com")));
    // Threading headers, including Outlook's Thread-Index.
    assert_eq!(
        parsed.in_reply_to.as_deref(),
        Some("4165d7fe46254b1f9558650733831316@TLREXCH1.example.local")
    );
    assert_eq!(
        parsed.references,
        ["4165d7fe46254b1f9558650733831316@TLREXCH1.example.local"]
    );
    let thread_index = parsed.thread_index.as_ref().expect("Thread-Index");
    assert_eq!(thread_index.len(), 27);
    assert_eq!(
        parsed.thread_root_key(),
        "id:4165d7fe46254b1f9558650733831316@TLREXCH1.example.local"
    );
    assert_eq!(
        kinds(&parsed),
        [
            (BodyKind::Plain, "text/plain", "1.1"),
            (BodyKind::Html, "text/html", "1.2")
        ]
    );
}

#[test]
fn signed_message_with_attachment() {
    let raw = corpus("signed_attachment.eml");
    let parsed = parse(&raw);
    assert_eq!(parsed.message_class, "IPM.Note.SMIME.MultipartSigned");
    assert_eq!(parsed.attachments.len(), 1, "{:?}", parsed.attachments);
    let png = &parsed.attachments[0];
    assert_eq!(png.display_name, "foxtrotjobs.png");
    assert_eq!(png.content_type, "image/png");
    assert_eq!(png.location.path, "1.2");
    assert_eq!(png.size, 57_902);
    assert!(!png.is_inline);
    let bytes = decode_location(&raw, &png.location);
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(bytes.ends_with(b"IEND\xaeB`\x82"));
    assert_eq!(parsed.bodies[0].location.path, "1.1");
}

#[test]
fn message_without_headers_falls_back_to_a_plain_body() {
    let raw = b"this is not a message at all";
    let parsed = parse(raw);
    assert!(parsed.mime_broken);
    assert_eq!(parsed.subject, "");
    assert_eq!(parsed.bodies.len(), 1);
    assert_eq!(
        body_text(raw, &parsed.bodies[0]),
        "this is not a message at all"
    );
    assert_eq!(parsed.preview, "this is not a message at all");
    let empty = parse(b"");
    assert!(empty.mime_broken);
    assert_eq!(empty.bodies[0].size, 0);
}

#[test]
fn broken_mime_keeps_what_can_be_read() {
    // The last part is cut off (no closing boundary); its base64 still decodes.
    let raw = b"Subject: broken\r\nMessage-ID: <b@x>\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0x";
    let parsed = parse(raw);
    assert!(parsed.mime_broken);
    assert_eq!(parsed.subject, "broken");
    assert_eq!(parsed.message_id.as_deref(), Some("b@x"));
    assert_eq!(body_text(raw, &parsed.bodies[0]), "hello");
    assert_eq!(parsed.attachments.len(), 1);
    assert_eq!(
        parsed.attachments[0].location.encoding,
        TransferEncoding::Base64
    );
    assert_eq!(
        decode_location(raw, &parsed.attachments[0].location),
        b"%PDF-1"
    );
    assert_eq!(parsed.attachments[0].display_name, "attachment-1.pdf");

    // Binary junk in headers, no Date, undecodable base64: still a message.
    let raw = b"Subject: \xff\xfe bin\nFrom: \x00\nContent-Transfer-Encoding: base64\n\n!!!!****\n";
    let parsed = parse(raw);
    assert!(parsed.subject.ends_with("bin"));
    assert_eq!(parsed.date_sent, None);
    assert_eq!(parsed.bodies.len(), 2);

    // A multipart without a boundary parameter is read as one opaque part.
    let parsed = parse(b"Subject: nb\nContent-Type: multipart/mixed\n\n--XX\nhello\n");
    assert_eq!(parsed.subject, "nb");
}

#[test]
fn hostile_inputs_never_panic() {
    let mut inputs: Vec<Vec<u8>> = vec![
        b"Content-Type: multipart/mixed; boundary=a\n\n--a\n--a\n--a--".to_vec(),
        b"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nx".to_vec(),
        b"Content-Type: multipart/digest; boundary=b\n\n--b\n\n--b--\n".to_vec(),
        b"Subject: =?utf-8?b?////?= =?x?q?=ff?=\n\n".to_vec(),
        b"\r\n\r\n\r\n".to_vec(),
        b"From: <@>, ,,, \"\" <>\nTo: a:;\n\n".to_vec(),
        b"Content-Type: text/calendar; method=REQUEST\n\nMETHOD:REPLY\nATTENDEE;PARTSTAT=DECLINED:x\n".to_vec(),
    ];
    // Deeply nested multiparts.
    let mut deep = Vec::new();
    for level in 0..200 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{level}\n\n--b{level}\n").as_bytes(),
        );
    }
    inputs.push(deep);
    // Every prefix of a real message.
    let real = corpus("invitation_one.eml");
    for cut in (0..real.len()).step_by(97) {
        inputs.push(real[..cut].to_vec());
    }
    for input in &inputs {
        let parsed = parse(input);
        for body in &parsed.bodies {
            assert!(body.location.body_end as usize <= input.len());
            let _ = decode_location(input, &body.location);
        }
        for attachment in &parsed.attachments {
            assert!(attachment.location.body_end as usize <= input.len());
        }
    }
    let reply = parse(&inputs[6]);
    assert_eq!(reply.message_class, "IPM.Schedule.Meeting.Resp.Neg");
}

#[test]
fn importance_headers() {
    let of = |headers: &str| parse(format!("{headers}Subject: s\n\nb").as_bytes()).importance;
    assert_eq!(of("Importance: High\n"), Importance::High);
    assert_eq!(of("Importance: low\n"), Importance::Low);
    assert_eq!(of("X-Priority: 1 (Highest)\n"), Importance::High);
    assert_eq!(of("X-Priority: 5\n"), Importance::Low);
    assert_eq!(of("Priority: urgent\n"), Importance::High);
    assert_eq!(of(""), Importance::Normal);
}

#[test]
fn inline_images_and_names() {
    let raw = b"Subject: pics\nContent-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n<img src=\"cid:img1@x\">\n--r\nContent-Type: image/png\nContent-ID: <img1@x>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--r\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20report.bin\n\nxyz\n--r--\n";
    let parsed = parse(raw);
    assert_eq!(parsed.attachments.len(), 2, "{:?}", parsed.attachments);
    let image = &parsed.attachments[0];
    assert!(image.is_inline);
    assert_eq!(image.content_id.as_deref(), Some("img1@x"));
    assert_eq!(image.size, 8);
    let file = &parsed.attachments[1];
    assert!(!file.is_inline);
    assert_eq!(file.display_name, "€ report.bin");
    assert_eq!(file.size, 3);
    assert!(parsed.has_attachments());
    assert_eq!(parsed.native_body_type, NativeBodyType::Html);
}

#[test]
fn code_pages() {
    assert_eq!(code_page(None), 65001);
    assert_eq!(code_page(Some("UTF-8")), 65001);
    assert_eq!(code_page(Some("ISO_8859-15")), 28605);
    assert_eq!(code_page(Some("Windows-1251")), 1251);
    assert_eq!(code_page(Some("x-unknown")), 65001);
}

#[test]
fn raw_header_scan_unfolds() {
    let headers = raw_headers(b"Subject: a\r\n b\r\nX: 1\r\n\r\nBody: no\r\n");
    assert_eq!(
        headers,
        [
            ("Subject".to_string(), "a b".to_string()),
            ("X".to_string(), "1".to_string())
        ]
    );
}

/// Found by the `mime` fuzz target: a lone CR inside a quoted-printable body. mail-parser's
/// decoder drops it, the streaming decoder the store sends bodies with keeps it, and the size
/// filed for the body must be the size of what is sent.
#[test]
fn body_size_is_the_size_of_the_text_sent_even_for_malformed_quoted_printable() {
    let raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\
        Content-Type: text/html; charset=iso-8859-1\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\n\
        <p>lone\r\r\ncaf=E9</p>\r\n";
    let parsed = parse(raw);
    let body = &parsed.bodies[0];
    let text = body_text(raw, body);
    assert_eq!(text, "<p>lone\r\r\ncaf\u{e9}</p>\r\n");
    assert_eq!(body.size, text.len() as u64);
}

/// Found by the `mime` fuzz target: a multipart whose boundary line is broken
/// (`multipart/alternativeA boundary=...` with a stray control byte) and whose last parts nest
/// oddly. mail-parser 0.11.9 trips a `debug_assert!` on it (message.rs: "Invalid part ID"),
/// which release builds compile out; in debug builds `parse`'s guard contains the panic. Either
/// way `parse` returns, and every range it files lies inside the message.
#[test]
fn a_multipart_that_trips_mail_parser_is_still_filed() {
    let raw: &[u8] = b"From: \"A\" <a@example.com>\r\n\
      To: b@example.com, \"C, D\" <c@examp<0@x>\r\n\
      MIME-Version: 1.0\r\n\
      Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
      \r\n\
      --b1\r\n\
      Conten multipart/alternativeA boundary=\"b2\"\r\x0b\r\n\
      --b2\r\n\
      Content-Type: text/plain; charset=iso-8859-1\r\n\
      Content-Transfer-Encoding: quoted-printable\r\n\
      \r\n\
      caf=E9 =\r\n\
      soft\r\n\
      --b2\r\n\
      Content-Type: text/html; charset=utf-8\r\n\
      \r\n\
      <p>caf\xc3\x83\xc2\xa9</p>\r\n\
      --b2--\r\n\
      --b1\r\n\
      Content-Type: application/octet-stream; name=\"f.bin\"\r\n\
      Content-Disposition: attachment; filename=\"f.bin\"\r\n\
      Content-Transfer-Encoding: base64\r\n\
      \r\n\
      AAECAwQFBgcICQ==\r\n\
      --b1\r\n\
      Content-Type: message/rfc822\r\n\
      \r\n\
      Subject: ini.\n\
      --b1\r\n\
      Content-Type: message/rfc822\r\n\
      \r\n\
      Subject:MsoN iormal, div.MsoContent-Type: message/rfc822\r\n\
      \r\n\
      Subject: inner\r\n\
      \r\n\
      body\r\n\
      --b1--\r\n";
    let parsed = parse(raw);
    assert_eq!(parse(raw), parsed);
    for location in parsed
        .bodies
        .iter()
        .map(|b| &b.location)
        .chain(parsed.attachments.iter().map(|a| &a.location))
    {
        assert!(location.body_start <= location.body_end);
        assert!(location.body_end <= raw.len() as u64);
    }
}

#[test]
fn text_length_without_conversion_matches_the_converted_text() {
    let cases: [(&[u8], Option<&str>); 7] = [
        (b"plain ascii", None),
        ("gr\u{fc}\u{df}e".as_bytes(), Some("utf-8")),
        (b"bad \xff\xfe bytes", None),
        (b"bad \xff\xfe bytes", Some("UTF-8")),
        (b"latin \xe9t\xe9", Some("iso-8859-1")),
        ("caf\u{e9}".as_bytes(), Some("iso-8859-1")),
        (b"ascii \xe9", Some("us-ascii")),
    ];
    for (bytes, charset) in cases {
        assert_eq!(
            text_len(bytes, charset),
            text_from_bytes(bytes, charset).len() as u64,
            "{bytes:?} {charset:?}"
        );
    }
}

#[test]
fn one_parse_gives_the_fields_and_the_calendar_texts() {
    let mut messages: Vec<Vec<u8>> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    messages.push(b"no header at all".to_vec());
    messages.push(
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n\
          --b\nContent-Type: TEXT/Calendar; method=REQUEST\n\nBEGIN:VCALENDAR\n--b--\n"
            .to_vec(),
    );
    let mut with_calendar = 0;
    for raw in &messages {
        let (parsed, texts) = parse_with_calendar_texts(raw);
        assert_eq!(parsed, parse(raw));
        assert_eq!(texts, calendar_texts(raw));
        with_calendar += usize::from(!texts.is_empty());
    }
    assert!(with_calendar >= 2, "{with_calendar}");
}
