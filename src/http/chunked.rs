//! Incremental decoder and encoder for HTTP/1.1 `Transfer-Encoding: chunked`.
//!
//! The decoder is push-based and never buffers: it is fed whatever bytes arrived and
//! hands back the data ranges inside them, so request bodies can be counted against the
//! body limit and backend responses can be relayed without copying whole chunks.

use std::fmt;
use std::ops::Range;

/// Longest chunk-size line (size plus extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk (trailers are read and dropped).
const MAX_TRAILER_BYTES: usize = 8192;
/// The terminating zero-length chunk with an empty trailer.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Why a chunked body was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// The chunk-size line is not hexadecimal, empty, overflows or is too long.
    InvalidSize,
    /// Chunk data is not followed by CRLF, or a line ends without CR.
    Malformed,
    /// The decoded body would exceed the configured limit.
    TooLarge,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::InvalidSize => "invalid chunk size",
            ChunkError::Malformed => "malformed chunked framing",
            ChunkError::TooLarge => "chunked body exceeds the limit",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { value: u64, digits: u8, line: usize },
    Extension { value: u64, line: usize },
    SizeLf { value: u64 },
    Data { remaining: u64 },
    DataCr,
    DataLf,
    Trailer { line: usize, total: usize },
    TrailerLf { empty_line: bool, total: usize },
    Done,
}

/// One decoding step: `consumed` input bytes, of which `data` is the body payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) consumed: usize,
    pub(crate) data: Range<usize>,
}

/// Decodes one chunked body, counting the payload against `limit`.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    total: u64,
    limit: u64,
}

impl ChunkedDecoder {
    pub(crate) fn new(limit: u64) -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
                line: 0,
            },
            total: 0,
            limit,
        }
    }

    /// True once the last chunk and the trailer have been consumed.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes decoded so far.
    #[cfg(test)]
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Consumes framing bytes up to and including at most one run of payload.
    ///
    /// Call repeatedly on the unconsumed rest of the input until it is empty or the
    /// decoder is done; bytes after the end of the body are never consumed.
    pub(crate) fn step(&mut self, input: &[u8]) -> Result<Step, ChunkError> {
        let mut position = 0;
        while position < input.len() {
            if let State::Data { remaining } = self.state {
                let available = input.len() - position;
                let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
                let data = position..position + take;
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                return Ok(Step {
                    consumed: data.end,
                    data,
                });
            }
            if self.state == State::Done {
                break;
            }
            let Some(&byte) = input.get(position) else {
                break;
            };
            position += 1;
            self.state = self.advance(byte)?;
        }
        Ok(Step {
            consumed: position,
            data: position..position,
        })
    }

    fn advance(&mut self, byte: u8) -> Result<State, ChunkError> {
        Ok(match self.state {
            State::Size {
                value,
                digits,
                line,
            } => {
                if line >= MAX_SIZE_LINE {
                    return Err(ChunkError::InvalidSize);
                }
                match byte {
                    b'\r' if digits > 0 => State::SizeLf { value },
                    b';' | b' ' | b'\t' if digits > 0 => State::Extension {
                        value,
                        line: line + 1,
                    },
                    _ => {
                        let digit = hex_value(byte).ok_or(ChunkError::InvalidSize)?;
                        // 15 hex digits keep the value far below u64 overflow.
                        if digits >= 15 {
                            return Err(ChunkError::InvalidSize);
                        }
                        State::Size {
                            value: value * 16 + u64::from(digit),
                            digits: digits + 1,
                            line: line + 1,
                        }
                    }
                }
            }
            State::Extension { value, line } => match byte {
                b'\r' => State::SizeLf { value },
                b'\n' => return Err(ChunkError::Malformed),
                _ if line >= MAX_SIZE_LINE => return Err(ChunkError::InvalidSize),
                _ => State::Extension {
                    value,
                    line: line + 1,
                },
            },
            State::SizeLf { value } => {
                if byte != b'\n' {
                    return Err(ChunkError::Malformed);
                }
                if value == 0 {
                    State::Trailer { line: 0, total: 0 }
                } else {
                    let total = self.total.checked_add(value).ok_or(ChunkError::TooLarge)?;
                    if total > self.limit {
                        return Err(ChunkError::TooLarge);
                    }
                    self.total = total;
                    State::Data { remaining: value }
                }
            }
            State::DataCr => {
                if byte != b'\r' {
                    return Err(ChunkError::Malformed);
                }
                State::DataLf
            }
            State::DataLf => {
                if byte != b'\n' {
                    return Err(ChunkError::Malformed);
                }
                State::Size {
                    value: 0,
                    digits: 0,
                    line: 0,
                }
            }
            State::Trailer { line, total } => match byte {
                b'\r' => State::TrailerLf {
                    empty_line: line == 0,
                    total,
                },
                b'\n' => return Err(ChunkError::Malformed),
                _ if total >= MAX_TRAILER_BYTES => return Err(ChunkError::Malformed),
                _ => State::Trailer {
                    line: line + 1,
                    total: total + 1,
                },
            },
            State::TrailerLf { empty_line, total } => {
                if byte != b'\n' {
                    return Err(ChunkError::Malformed);
                }
                if empty_line {
                    State::Done
                } else {
                    State::Trailer { line: 0, total }
                }
            }
            // `step` handles these two before calling `advance`.
            State::Data { .. } | State::Done => self.state,
        })
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Appends `data` to `out` as one chunk (nothing for empty data, which would end the body).
pub(crate) fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `piece` bytes; returns (payload, consumed, done).
    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
        limit: u64,
    ) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::new(limit);
        let mut payload = Vec::new();
        let mut consumed = 0;
        for window in input.chunks(piece) {
            let mut offset = 0;
            while offset < window.len() && !decoder.is_done() {
                let step = decoder.step(&window[offset..])?;
                payload.extend_from_slice(&window[offset..][step.data.clone()]);
                offset += step.consumed;
                if step.consumed == 0 {
                    break;
                }
            }
            consumed += offset;
            if decoder.is_done() {
                break;
            }
        }
        assert_eq!(decoder.total(), payload.len() as u64);
        Ok((payload, consumed, decoder.is_done()))
    }

    const BODY: &[u8] = b"5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n";

    #[test]
    fn decodes_whole_and_byte_by_byte_input_identically() {
        for piece in [1, 2, 3, 7, BODY.len()] {
            let (payload, consumed, done) = decode_in_pieces(BODY, piece, 1024).unwrap();
            assert_eq!(payload, b"hello, world", "piece size {piece}");
            assert_eq!(consumed, BODY.len());
            assert!(done);
        }
    }

    #[test]
    fn leaves_bytes_after_the_body_unconsumed() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        let (payload, consumed, done) = decode_in_pieces(&input, input.len(), 1024).unwrap();
        assert_eq!(payload, b"hello, world");
        assert_eq!(consumed, BODY.len());
        assert!(done);
    }

    #[test]
    fn accepts_upper_case_hex_and_reports_incomplete_input() {
        let (payload, _, done) = decode_in_pieces(b"A\r\n0123456789\r\n", 4, 1024).unwrap();
        assert_eq!(payload, b"0123456789");
        assert!(!done);
    }

    #[test]
    fn enforces_the_limit_before_reading_the_chunk() {
        let mut decoder = ChunkedDecoder::new(10);
        assert_eq!(decoder.step(b"b\r\n"), Err(ChunkError::TooLarge));
        let (payload, _, done) = decode_in_pieces(b"a\r\n0123456789\r\n0\r\n\r\n", 5, 10).unwrap();
        assert_eq!(payload.len(), 10);
        assert!(done);
        assert_eq!(
            decode_in_pieces(b"6\r\n012345\r\n5\r\n01234\r\n", 100, 10),
            Err(ChunkError::TooLarge)
        );
    }

    #[test]
    fn rejects_broken_framing() {
        assert_eq!(
            decode_in_pieces(b"\r\n", 9, 99),
            Err(ChunkError::InvalidSize)
        );
        assert_eq!(
            decode_in_pieces(b"zz\r\n", 9, 99),
            Err(ChunkError::InvalidSize)
        );
        assert_eq!(
            decode_in_pieces(b"-1\r\n", 9, 99),
            Err(ChunkError::InvalidSize)
        );
        assert_eq!(
            decode_in_pieces(b"1234567890abcdef0\r\n", 99, u64::MAX),
            Err(ChunkError::InvalidSize)
        );
        assert_eq!(
            decode_in_pieces(b"3\nabc", 9, 99),
            Err(ChunkError::InvalidSize)
        );
        assert_eq!(
            decode_in_pieces(b"3\r\nabcX", 9, 99),
            Err(ChunkError::Malformed)
        );
        assert_eq!(
            decode_in_pieces(b"3\r\nabc\rX", 9, 99),
            Err(ChunkError::Malformed)
        );
        let long_extension = [b"1;".as_slice(), &[b'x'; MAX_SIZE_LINE + 1]].concat();
        assert_eq!(
            decode_in_pieces(&long_extension, 64, 99),
            Err(ChunkError::InvalidSize)
        );
        let long_trailer = [b"0\r\n".as_slice(), &[b'x'; MAX_TRAILER_BYTES + 1]].concat();
        assert_eq!(
            decode_in_pieces(&long_trailer, 64, 99),
            Err(ChunkError::Malformed)
        );
    }

    #[test]
    fn encoded_chunks_decode_back() {
        let mut encoded = Vec::new();
        encode_chunk(b"first piece", &mut encoded);
        encode_chunk(b"", &mut encoded);
        encode_chunk(&[7u8; 300], &mut encoded);
        encoded.extend_from_slice(LAST_CHUNK);
        assert!(encoded.starts_with(b"b\r\nfirst piece\r\n12c\r\n"));
        let (payload, consumed, done) = decode_in_pieces(&encoded, 13, 1024).unwrap();
        assert_eq!(&payload[..11], b"first piece");
        assert_eq!(payload.len(), 311);
        assert_eq!(consumed, encoded.len());
        assert!(done);
    }
}
