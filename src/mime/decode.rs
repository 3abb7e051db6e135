//! Streaming Content-Transfer-Encoding decoders: base64 and quoted-printable as
//! [`Read`] adapters over the raw bytes of one MIME part.
//!
//! The store keeps every message byte-exact and reads a part back through SQLite's
//! incremental blob I/O; these adapters decode on the way out, a few kilobytes at a time,
//! so serving a 50 MB attachment never needs the message (or the attachment) in memory.
//! mail-parser decodes parts only from a complete in-memory message, hence our own
//! decoders. Both are lenient the way mail readers are: characters outside the base64
//! alphabet are skipped, a missing final padding still yields the bytes it can, and a
//! malformed `=` escape in quoted-printable is passed through as it stands.

use std::io::{self, Read};

/// The Content-Transfer-Encoding of a part, as far as decoding is concerned: `7bit`,
/// `8bit` and `binary` (and anything unknown) are all the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferEncoding {
    Identity,
    Base64,
    QuotedPrintable,
}

impl TransferEncoding {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferEncoding::Identity => "identity",
            TransferEncoding::Base64 => "base64",
            TransferEncoding::QuotedPrintable => "quoted-printable",
        }
    }

    /// The encoding for a stored name or a Content-Transfer-Encoding header value
    /// (case-insensitive); anything unknown is the identity, as RFC 2045 readers treat it.
    pub fn from_name(name: &str) -> TransferEncoding {
        let name = name.trim();
        if name.eq_ignore_ascii_case("base64") {
            TransferEncoding::Base64
        } else if name.eq_ignore_ascii_case("quoted-printable") {
            TransferEncoding::QuotedPrintable
        } else {
            TransferEncoding::Identity
        }
    }
}

/// Size of the encoded-input buffer of each decoder.
const INPUT_BUFFER: usize = 8 * 1024;

/// A reader that yields the decoded bytes of `inner` for one transfer encoding.
pub enum DecodingReader<R> {
    Identity(R),
    Base64(Base64Reader<R>),
    QuotedPrintable(QuotedPrintableReader<R>),
}

/// Wraps `inner` (the encoded body of a part) in the decoder for `encoding`.
pub fn decoding_reader<R: Read>(inner: R, encoding: TransferEncoding) -> DecodingReader<R> {
    match encoding {
        TransferEncoding::Identity => DecodingReader::Identity(inner),
        TransferEncoding::Base64 => DecodingReader::Base64(Base64Reader::new(inner)),
        TransferEncoding::QuotedPrintable => {
            DecodingReader::QuotedPrintable(QuotedPrintableReader::new(inner))
        }
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            DecodingReader::Identity(inner) => inner.read(out),
            DecodingReader::Base64(reader) => reader.read(out),
            DecodingReader::QuotedPrintable(reader) => reader.read(out),
        }
    }
}

/// How many bytes `encoded` decodes to, without keeping the decoded bytes.
pub fn decoded_len(encoded: &[u8], encoding: TransferEncoding) -> u64 {
    match encoding {
        TransferEncoding::Identity => encoded.len() as u64,
        _ => {
            let mut reader = decoding_reader(encoded, encoding);
            // Reading from a slice cannot fail.
            io::copy(&mut reader, &mut io::sink()).unwrap_or(0)
        }
    }
}

/// Encoded input buffered from the inner reader, shared by both decoders.
struct Input<R> {
    inner: R,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> Input<R> {
    fn new(inner: R) -> Input<R> {
        Input {
            inner,
            buffer: vec![0u8; INPUT_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next encoded byte, or `None` at the end of the input.
    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        if self.start == self.end {
            if self.eof {
                return Ok(None);
            }
            loop {
                match self.inner.read(&mut self.buffer) {
                    Ok(0) => {
                        self.eof = true;
                        return Ok(None);
                    }
                    Ok(n) => {
                        self.start = 0;
                        self.end = n;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        let byte = self.buffer[self.start];
        self.start += 1;
        Ok(Some(byte))
    }
}

/// Up to three decoded bytes that did not fit the caller's buffer yet.
#[derive(Default)]
struct Pending {
    bytes: [u8; 4],
    start: usize,
    end: usize,
}

impl Pending {
    fn push(&mut self, byte: u8) {
        self.bytes[self.end] = byte;
        self.end += 1;
    }

    /// Moves pending bytes into `out[*written..]`; returns whether all went.
    fn drain_into(&mut self, out: &mut [u8], written: &mut usize) -> bool {
        while self.start < self.end && *written < out.len() {
            out[*written] = self.bytes[self.start];
            self.start += 1;
            *written += 1;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            true
        } else {
            false
        }
    }
}

const INVALID: u8 = 0xff;

/// The base64 alphabet (RFC 4648 section 4) as a lookup table; everything else is INVALID.
const BASE64_VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut index = 0;
    while index < alphabet.len() {
        table[alphabet[index] as usize] = index as u8;
        index += 1;
    }
    table
};

/// Decodes base64 from an inner reader. Line breaks and any other non-alphabet bytes are
/// skipped; `=` ends the current 4-character group (so concatenated padded blocks decode
/// too); a truncated final group yields the whole bytes it holds.
pub struct Base64Reader<R> {
    input: Input<R>,
    /// Sextets collected for the current group, most recent in the low bits.
    group: u32,
    /// How many sextets `group` holds (0–3).
    sextets: u8,
    pending: Pending,
}

impl<R: Read> Base64Reader<R> {
    pub fn new(inner: R) -> Base64Reader<R> {
        Base64Reader {
            input: Input::new(inner),
            group: 0,
            sextets: 0,
            pending: Pending::default(),
        }
    }

    /// Emits the whole bytes of an incomplete group (at padding or end of input).
    fn flush_partial_group(&mut self) {
        match self.sextets {
            2 => self.pending.push((self.group >> 4) as u8),
            3 => {
                self.pending.push((self.group >> 10) as u8);
                self.pending.push((self.group >> 2) as u8);
            }
            // One sextet holds no whole byte.
            _ => {}
        }
        self.group = 0;
        self.sextets = 0;
    }
}

impl<R: Read> Read for Base64Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            if !self.pending.drain_into(out, &mut written) {
                break;
            }
            let Some(byte) = self.input.next_byte()? else {
                self.flush_partial_group();
                self.pending.drain_into(out, &mut written);
                break;
            };
            let value = BASE64_VALUES[usize::from(byte)];
            if value == INVALID {
                if byte == b'=' {
                    self.flush_partial_group();
                }
                continue;
            }
            self.group = (self.group << 6) | u32::from(value);
            self.sextets += 1;
            if self.sextets == 4 {
                let group = self.group;
                self.group = 0;
                self.sextets = 0;
                for byte in [(group >> 16) as u8, (group >> 8) as u8, group as u8] {
                    if written < out.len() {
                        out[written] = byte;
                        written += 1;
                    } else {
                        self.pending.push(byte);
                    }
                }
            }
        }
        Ok(written)
    }
}

/// Where the quoted-printable decoder is inside an `=` escape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QpState {
    Text,
    /// Just read `=`.
    Equals,
    /// Read `=` and one hex digit (kept as the original byte).
    EqualsHex(u8),
    /// Read `=` followed by spaces or tabs: transport padding before a soft line break.
    EqualsSpace,
    /// Read `=` and CR: a soft line break unless something other than LF follows.
    EqualsCr,
}

/// Decodes quoted-printable (RFC 2045 section 6.7) from an inner reader: `=XX` escapes,
/// soft line breaks (`=` at the end of a line, also with trailing blanks or a bare LF).
/// Malformed escapes are passed through unchanged. Trailing whitespace at the end of an
/// encoded line (which the RFC says a decoder should drop) is kept: removing it would need
/// unbounded look-ahead, and it is invisible in every body it occurs in.
pub struct QuotedPrintableReader<R> {
    input: Input<R>,
    state: QpState,
    /// A byte read while resolving an escape that must be processed again as text.
    replay: Option<u8>,
    pending: Pending,
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

impl<R: Read> QuotedPrintableReader<R> {
    pub fn new(inner: R) -> QuotedPrintableReader<R> {
        QuotedPrintableReader {
            input: Input::new(inner),
            state: QpState::Text,
            replay: None,
            pending: Pending::default(),
        }
    }

    /// Feeds one encoded byte through the state machine, pushing decoded bytes to `pending`.
    fn step(&mut self, byte: u8) {
        match self.state {
            QpState::Text => {
                if byte == b'=' {
                    self.state = QpState::Equals;
                } else {
                    self.pending.push(byte);
                }
            }
            QpState::Equals => match byte {
                b'\n' => self.state = QpState::Text,
                b'\r' => self.state = QpState::EqualsCr,
                b' ' | b'\t' => self.state = QpState::EqualsSpace,
                _ if hex_value(byte).is_some() => self.state = QpState::EqualsHex(byte),
                _ => {
                    self.pending.push(b'=');
                    self.state = QpState::Text;
                    self.replay = Some(byte);
                }
            },
            QpState::EqualsHex(first) => {
                match (hex_value(first), hex_value(byte)) {
                    (Some(high), Some(low)) => self.pending.push((high << 4) | low),
                    _ => {
                        self.pending.push(b'=');
                        self.pending.push(first);
                        self.replay = Some(byte);
                    }
                }
                self.state = QpState::Text;
            }
            QpState::EqualsSpace => match byte {
                b' ' | b'\t' => {}
                b'\n' => self.state = QpState::Text,
                b'\r' => self.state = QpState::EqualsCr,
                _ => {
                    // Not padding after all: keep the `=` (the blanks are lost).
                    self.pending.push(b'=');
                    self.state = QpState::Text;
                    self.replay = Some(byte);
                }
            },
            QpState::EqualsCr => {
                self.state = QpState::Text;
                if byte != b'\n' {
                    self.replay = Some(byte);
                }
            }
        }
    }

    /// At the end of the input: an unfinished escape is passed through.
    fn finish(&mut self) {
        match self.state {
            QpState::Equals | QpState::EqualsSpace => self.pending.push(b'='),
            QpState::EqualsHex(first) => {
                self.pending.push(b'=');
                self.pending.push(first);
            }
            QpState::Text | QpState::EqualsCr => {}
        }
        self.state = QpState::Text;
    }
}

impl<R: Read> Read for QuotedPrintableReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            if !self.pending.drain_into(out, &mut written) {
                break;
            }
            let byte = match self.replay.take() {
                Some(byte) => byte,
                None => match self.input.next_byte()? {
                    Some(byte) => byte,
                    None => {
                        self.finish();
                        self.pending.drain_into(out, &mut written);
                        break;
                    }
                },
            };
            self.step(byte);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// A reader that hands out at most `step` bytes per call, to cross every boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Decodes with input trickled `input_step` bytes at a time into reads of `output_step`.
    fn decode(
        encoded: &[u8],
        encoding: TransferEncoding,
        input_step: usize,
        output_step: usize,
    ) -> Vec<u8> {
        let mut reader = decoding_reader(
            Trickle {
                data: encoded,
                step: input_step,
            },
            encoding,
        );
        let mut decoded = Vec::new();
        let mut chunk = vec![0u8; output_step];
        loop {
            let n = reader.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            decoded.extend_from_slice(&chunk[..n]);
        }
        decoded
    }

    fn pseudo_random_bytes(len: usize, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 8) as u8
            })
            .collect()
    }

    /// Base64 with MIME line breaks every 76 characters.
    fn wrapped_base64(data: &[u8], line_end: &str) -> Vec<u8> {
        let text = base64::engine::general_purpose::STANDARD.encode(data);
        let mut wrapped = String::new();
        for line in text.as_bytes().chunks(76) {
            wrapped.push_str(std::str::from_utf8(line).unwrap());
            wrapped.push_str(line_end);
        }
        wrapped.into_bytes()
    }

    #[test]
    fn base64_round_trips_every_length_and_chunking() {
        for len in [0usize, 1, 2, 3, 4, 5, 56, 57, 58, 1000, 20_000] {
            let data = pseudo_random_bytes(len, len as u32);
            for line_end in ["\r\n", "\n"] {
                let encoded = wrapped_base64(&data, line_end);
                for (input_step, output_step) in [(1, 1), (1, 7), (3, 2), (4096, 3), (9000, 9000)] {
                    assert_eq!(
                        decode(&encoded, TransferEncoding::Base64, input_step, output_step),
                        data,
                        "len {len} steps {input_step}/{output_step}"
                    );
                }
                assert_eq!(decoded_len(&encoded, TransferEncoding::Base64), len as u64);
            }
        }
    }

    #[test]
    fn base64_is_lenient() {
        let b64 = TransferEncoding::Base64;
        // Missing padding still yields the whole bytes.
        assert_eq!(decode(b"aGk", b64, 1, 10), b"hi");
        assert_eq!(decode(b"aA", b64, 1, 10), b"h");
        // Junk and whitespace are skipped.
        assert_eq!(decode(b" a G\t k*=\r\n", b64, 2, 10), b"hi");
        // Concatenated padded blocks decode in turn.
        assert_eq!(decode(b"aGk=aGk=", b64, 3, 10), b"hihi");
        // A lone sextet holds no byte.
        assert_eq!(decode(b"a", b64, 1, 10), b"");
        assert_eq!(decode(b"", b64, 1, 10), b"");
    }

    #[test]
    fn quoted_printable_decodes_escapes_and_soft_breaks() {
        let qp = TransferEncoding::QuotedPrintable;
        let encoded = b"caf=C3=A9 =3D ok=\r\nnext line=\nand more= \t\r\nend\r\nlast";
        let expected = "café = oknext lineand moreend\r\nlast".as_bytes();
        for (input_step, output_step) in [(1, 1), (2, 3), (100, 100)] {
            assert_eq!(decode(encoded, qp, input_step, output_step), expected);
        }
        assert_eq!(decoded_len(encoded, qp), expected.len() as u64);
    }

    #[test]
    fn quoted_printable_passes_malformed_escapes_through() {
        let qp = TransferEncoding::QuotedPrintable;
        assert_eq!(decode(b"a=zzb", qp, 1, 1), b"a=zzb");
        assert_eq!(decode(b"a=4zb", qp, 1, 1), b"a=4zb");
        assert_eq!(decode(b"50% =", qp, 1, 1), b"50% =");
        assert_eq!(decode(b"x=4", qp, 1, 1), b"x=4");
        assert_eq!(decode(b"x= y", qp, 1, 1), b"x=y");
        assert_eq!(decode(b"x=\ry", qp, 1, 1), b"xy");
        assert_eq!(decode(b"=3d=3D", qp, 1, 1), b"==");
    }

    #[test]
    fn identity_is_a_pass_through() {
        let data = pseudo_random_bytes(5000, 7);
        assert_eq!(decode(&data, TransferEncoding::Identity, 13, 17), data);
        assert_eq!(decoded_len(&data, TransferEncoding::Identity), 5000);
    }

    #[test]
    fn encoding_names() {
        for encoding in [
            TransferEncoding::Identity,
            TransferEncoding::Base64,
            TransferEncoding::QuotedPrintable,
        ] {
            assert_eq!(TransferEncoding::from_name(encoding.as_str()), encoding);
        }
        assert_eq!(
            TransferEncoding::from_name(" BASE64 "),
            TransferEncoding::Base64
        );
        assert_eq!(
            TransferEncoding::from_name("8bit"),
            TransferEncoding::Identity
        );
    }
}
