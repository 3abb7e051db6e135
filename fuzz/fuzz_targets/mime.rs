//! Fuzz target for MIME filing (`src/mime`): `parse` never panics on any bytes, is a pure
//! function of them, every body and attachment range it files lies inside the message, and
//! the streaming decoders read each range to the size that was filed for it.
//!
//! `parse` guards mail-parser with `catch_unwind` (a bug in it must not take a delivery down):
//! a panic raised inside mail-parser's own source is contained there and allowed here (its
//! debug assertions fire on some malformed multiparts; release builds compile them out). Every
//! other panic still aborts, as libFuzzer's hook does.
//!
//! Seed corpus: `tests/fixtures/mime/*.eml` and hand-written messages (`fuzz/seeds/mime`).

#![no_main]

use std::io::Read;
use std::sync::Once;

use easd::mime::{self, decode::decoding_reader, PartLocation};
use libfuzzer_sys::fuzz_target;

fn decoded(raw: &[u8], location: &PartLocation) -> Vec<u8> {
    assert!(location.body_start <= location.body_end, "{location:?}");
    assert!(location.body_end <= raw.len() as u64, "{location:?}");
    let range = &raw[location.body_start as usize..location.body_end as usize];
    let mut out = Vec::new();
    decoding_reader(range, location.encoding)
        .read_to_end(&mut out)
        .expect("decoding from memory cannot fail");
    out
}

/// Lets panics raised inside mail-parser unwind to `parse`'s guard; aborts on any other.
fn contain_mail_parser_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let file = info.location().map_or("", |l| l.file());
            eprintln!("{info}");
            if !file.contains("/mail-parser-") {
                std::process::abort();
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    contain_mail_parser_panics();
    let parsed = mime::parse(data);
    assert_eq!(mime::parse(data), parsed, "parse is not deterministic");
    for body in &parsed.bodies {
        let bytes = decoded(data, &body.location);
        let text = mime::text_from_bytes(&bytes, body.charset.as_deref());
        assert_eq!(text.len() as u64, body.size, "body size filed for {body:?}");
    }
    for attachment in &parsed.attachments {
        let bytes = decoded(data, &attachment.location);
        assert_eq!(
            bytes.len() as u64,
            attachment.size,
            "attachment size of {attachment:?}"
        );
    }
    let _ = parsed.thread_root_key();
    let _ = parsed.display_to();
    let _ = mime::raw_headers(data);
});
