//! Fuzz target for the MS-ASHTTP query parser (`src/eas/query.rs`), plain and base64 forms:
//! any query parses or is refused without a panic, and the base64 form easd writes for a
//! parsed query parses again to the same command, device type and tagged parameters, and
//! writes the same form again. (A device ID that is not printable ASCII is read from the base64
//! form as a binary GUID, in hex, so for those the form is stable from the second round on.)
//!
//! Seed corpus: the queries of `tests/fixtures/pyactivesync-requests/index.json` and
//! hand-written base64 ones (`fuzz/seeds/query`).

#![no_main]

use easd::eas::query::{encode_base64_query, parse_query, EasQuery};
use libfuzzer_sys::fuzz_target;

fn reparse(encoded: &str) -> EasQuery {
    parse_query(encoded)
        .unwrap_or_else(|error| panic!("our own base64 form {encoded:?} does not parse: {error}"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse_query(text) else {
        return;
    };
    let encoded = encode_base64_query(&query);
    let again = reparse(&encoded);
    assert_eq!(again.command, query.command);
    let mut encoded_again = encode_base64_query(&again);
    if query.device_id.bytes().all(|b| b.is_ascii_graphic()) && query.device_id.len() <= 255 {
        assert_eq!(again.device_id, query.device_id);
        assert_eq!(encoded_again, encoded, "base64 form is not stable");
    } else {
        let third = reparse(&encoded_again);
        encoded_again = encode_base64_query(&third);
        assert_eq!(encode_base64_query(&reparse(&encoded_again)), encoded_again);
    }
});
