//! Fuzz target for the MS-ASHTTP query parser (`src/eas/query.rs`), plain and base64 forms:
//! any query parses or is refused without a panic, and the base64 form easd writes for a
//! parsed query parses again to the same command and writes the same form again, whenever the
//! query fits that form (a printable-ASCII device ID, fields of at most 255 bytes). A query that
//! does not fit must still reach a stable base64 form within two more rounds, or be refused for
//! its device ID: the base64 form reads a non-printable device ID as a binary GUID, in hex.
//!
//! Seed corpus: the queries of `tests/fixtures/pyactivesync-requests/index.json` and
//! hand-written base64 ones (`fuzz/seeds/query`).

#![no_main]

use easd::eas::query::{encode_base64_query, parse_query, EasQuery, QueryError};
use libfuzzer_sys::fuzz_target;

/// Whether the base64 form can carry `query` unchanged.
fn fits_base64(query: &EasQuery) -> bool {
    let short = |text: &str| text.len() <= 255;
    query.device_id.bytes().all(|b| b.is_ascii_graphic())
        && short(&query.device_id)
        && short(&query.device_type)
        && query.user.as_deref().is_none_or(short)
        && query.params.iter().all(|(_, value)| short(value))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse_query(text) else {
        return;
    };
    let fits = fits_base64(&query);
    let mut encoded = encode_base64_query(&query);
    for round in 0..3 {
        let again = match parse_query(&encoded) {
            Ok(again) => again,
            Err(QueryError::BadValue("DeviceId")) if !fits => return,
            Err(error) => panic!("our own base64 form {encoded:?} does not parse: {error}"),
        };
        assert_eq!(again.command, query.command);
        let encoded_again = encode_base64_query(&again);
        if encoded_again == encoded {
            return;
        }
        assert!(!fits, "base64 form of a query that fits it is not stable");
        assert!(round < 2, "no stable base64 form after three rounds");
        encoded = encoded_again;
    }
});
