//! Fuzz target for the front door's request-head parser (`src/http/head.rs`): any bytes parse
//! or are refused without a panic, and an accepted head reaches the request loop without client
//! `X-Easd-*`/hop-by-hop headers and with exactly the framing the front door announces.
//!
//! Seed corpus: request heads built from `tests/fixtures/pyactivesync-requests/index.json` and
//! hand-written ones (`fuzz/seeds/http_head`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    easd::http::fuzzing::request_head(data);
});
