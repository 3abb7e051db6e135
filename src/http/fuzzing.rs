//! Entry points for the fuzz targets in `fuzz/` (compiled only with the `fuzzing` feature):
//! the front door's parsers of client bytes, each with the properties the rest of the house
//! relies on checked by assertion, so a violation is a crash the fuzzer reports.

use std::net::{Ipv4Addr, SocketAddr};

use super::chunked::{encode_chunk, ChunkedDecoder, LAST_CHUNK};
use super::head::{forwarded_head, parse_request_head, parse_response_head, BodyFraming};
use super::Limits;

/// A client request head: parsing never panics; an accepted head is rewritten for the request
/// loop without any client `X-Easd-*` or hop-by-hop header, and the rewritten head parses
/// again with the framing the front door announces (no smuggled second framing).
pub fn request_head(data: &[u8]) {
    let _ = parse_response_head(data, false);
    let Ok(Some((head, len))) = parse_request_head(data, Limits::default().max_head_bytes, None)
    else {
        return;
    };
    assert!(len <= data.len());
    let body_len = match head.framing {
        BodyFraming::Length(n) => n,
        BodyFraming::None | BodyFraming::Chunked => 0,
    };
    let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    let mut forwarded = forwarded_head(&head.forward_prefix, body_len, peer, true);
    let text = String::from_utf8_lossy(&forwarded).to_ascii_lowercase();
    let mut lines = text.split("\r\n").skip(1);
    for line in lines.by_ref().take_while(|line| !line.is_empty()) {
        let name = line.split(':').next().unwrap_or_default();
        let ours = name == "x-easd-peer" || name == "x-easd-tls" || name == "content-length";
        assert!(
            ours || !(name.starts_with("x-easd-") || name == "transfer-encoding"),
            "client header {name:?} reached the request loop"
        );
    }
    forwarded.extend_from_slice(b"\r\n");
    // The request loop's parser (tiny_http) has no header-count limit of its own, so the
    // forwarded head is read with room for the three headers the front door adds.
    let mut headers = [httparse::EMPTY_HEADER; 256];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&forwarded) {
        Ok(httparse::Status::Complete(parsed)) => assert_eq!(parsed, forwarded.len()),
        other => panic!("the forwarded head does not parse: {other:?}"),
    }
    let framing: Vec<(String, &[u8])> = request
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value))
        .filter(|(name, _)| name == "content-length" || name == "transfer-encoding")
        .collect();
    let length = body_len.to_string();
    assert_eq!(
        framing,
        [("content-length".to_string(), length.as_bytes())],
        "forwarded framing"
    );
}

/// A chunked body: decoding never panics, gives the same payload and outcome whether the
/// bytes arrive at once or one at a time, and the payload encodes and decodes to itself.
pub fn chunked_body(data: &[u8]) {
    let whole = decode_chunked(data, data.len().max(1));
    let bytewise = decode_chunked(data, 1);
    assert_eq!(whole, bytewise, "decoding depends on how the bytes arrive");

    let mut encoded = Vec::new();
    for piece in data.chunks(7) {
        encode_chunk(piece, &mut encoded);
    }
    encoded.extend_from_slice(LAST_CHUNK);
    let (payload, done, error) = decode_chunked(&encoded, encoded.len());
    assert_eq!((payload.as_slice(), done, error), (data, true, false));
}

/// Feeds `data` in pieces of `piece` bytes: the payload, whether the body ended, and
/// whether it was refused.
fn decode_chunked(data: &[u8], piece: usize) -> (Vec<u8>, bool, bool) {
    let mut decoder = ChunkedDecoder::new(1 << 20);
    let mut payload = Vec::new();
    for mut input in data.chunks(piece) {
        while !input.is_empty() && !decoder.is_done() {
            match decoder.step(input) {
                Ok(step) => {
                    assert!(step.consumed <= input.len() && step.data.end <= step.consumed);
                    payload.extend_from_slice(&input[step.data.clone()]);
                    input = &input[step.consumed..];
                }
                Err(_) => return (payload, false, true),
            }
        }
    }
    (payload, decoder.is_done(), false)
}
