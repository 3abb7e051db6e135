//! Fuzz target for the WBXML decoder: any bytes must decode or fail cleanly, and whatever decodes
//! must survive our own encoder and decoder unchanged (and the XML writer without a panic).
//!
//! Seed corpus: the conformance requests (see `README.md` beside this crate).

#![no_main]

use easd::wbxml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(root) = wbxml::decode(data) else {
        return;
    };
    let bytes = wbxml::encode(&root);
    match wbxml::decode(&bytes) {
        Ok(again) => assert_eq!(again, root, "decode(encode(tree)) differs from tree"),
        Err(error) => panic!("our own encoding does not decode: {error}"),
    }
    // Not every tree is representable in XML 1.0; reading it back may fail, but must not panic.
    let _ = wbxml::xml::from_xml(&wbxml::xml::to_xml(&root));
});
