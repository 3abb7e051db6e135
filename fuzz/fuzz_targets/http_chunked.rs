//! Fuzz target for the chunked-body decoder (`src/http/chunked.rs`): no panic, the same
//! payload and outcome whether the bytes arrive at once or one by one, and every payload
//! survives the encoder and decoder unchanged.
//!
//! Seed corpus: hand-written bodies (`fuzz/seeds/http_chunked`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    easd::http::fuzzing::chunked_body(data);
});
