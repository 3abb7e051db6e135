//! Reads the pieces of a binary reply ([`Piece`]) in order: bytes in memory as they are, stored
//! message parts decoded from their SQLite blob while the request loop sends the answer, a
//! buffer at a time (ItemOperations also reads stored pieces into its document here). A 50 MB
//! attachment therefore costs the request loop a few hundred kilobytes, however large it is.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read};

use log::warn;

use super::Piece;
use crate::store::Store;

/// Bytes of decoded data encoded to base64 at a time (a multiple of 3: no padding between).
const BASE64_CHUNK: usize = 3 * 16 * 1024;

/// Reads the pieces one after another; each stored part is opened when it is reached.
pub struct PieceReader<'s> {
    store: &'s Store,
    pending: VecDeque<Piece>,
    current: Option<Box<dyn Read + 's>>,
}

impl<'s> PieceReader<'s> {
    pub fn new(store: &'s Store, pieces: Vec<Piece>) -> PieceReader<'s> {
        PieceReader {
            store,
            pending: pieces.into(),
            current: None,
        }
    }

    fn open(&self, piece: Piece) -> io::Result<Box<dyn Read + 's>> {
        let wire_len = piece.wire_len();
        let reader: Box<dyn Read + 's> = match piece {
            Piece::Bytes(bytes) => return Ok(Box::new(Cursor::new(bytes))),
            Piece::Stored {
                user,
                item,
                location,
                skip,
                length,
                base64,
            } => {
                let mut part = self
                    .store
                    .open_part(user, item, &location)
                    .map_err(io::Error::other)?;
                io::copy(&mut (&mut part).take(skip), &mut io::sink())?;
                let part = part.take(length);
                if base64 {
                    Box::new(Base64Encoder::new(part))
                } else {
                    Box::new(part)
                }
            }
        };
        // The answer's Content-Length was promised from the stored size: keep it exact even
        // if the stored part changed meanwhile, so the connection's framing stays sound.
        Ok(Box::new(ExactLength {
            inner: reader,
            left: wire_len,
            short: false,
        }))
    }
}

impl Read for PieceReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(reader) = self.current.as_mut() {
                let n = reader.read(out)?;
                if n > 0 || out.is_empty() {
                    return Ok(n);
                }
                self.current = None;
            }
            let Some(piece) = self.pending.pop_front() else {
                return Ok(0);
            };
            self.current = Some(self.open(piece)?);
        }
    }
}

/// Yields exactly `left` bytes: the inner reader's, cut or padded with zeros.
struct ExactLength<R> {
    inner: R,
    left: u64,
    short: bool,
}

impl<R: Read> Read for ExactLength<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let want = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = if self.short {
            0
        } else {
            self.inner.read(&mut out[..want])?
        };
        let n = if n == 0 {
            if !self.short {
                warn!("a stored part ended {} bytes early; padding", self.left);
                self.short = true;
            }
            out[..want].fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// Encodes what it reads to base64 (standard alphabet, no line breaks).
struct Base64Encoder<R> {
    inner: R,
    raw: Vec<u8>,
    encoded: Vec<u8>,
    position: usize,
    done: bool,
}

impl<R: Read> Base64Encoder<R> {
    fn new(inner: R) -> Self {
        Base64Encoder {
            inner,
            raw: vec![0; BASE64_CHUNK],
            encoded: Vec::with_capacity(BASE64_CHUNK / 3 * 4),
            position: 0,
            done: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        let mut filled = 0;
        while filled < self.raw.len() {
            match self.inner.read(&mut self.raw[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Only a short (last) chunk may end in padding.
        self.done = filled < self.raw.len();
        self.encoded.resize(filled.div_ceil(3) * 4, 0);
        base64::Engine::encode_slice(
            &base64::engine::general_purpose::STANDARD,
            &self.raw[..filled],
            &mut self.encoded,
        )
        .map_err(io::Error::other)?;
        self.position = 0;
        Ok(())
    }
}

impl<R: Read> Read for Base64Encoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.position == self.encoded.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let available = &self.encoded[self.position..];
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut reader: impl Read) -> Vec<u8> {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("in-memory read");
        out
    }

    #[test]
    fn base64_encoding_matches_the_one_shot_encoder_at_every_size() {
        let engine = &base64::engine::general_purpose::STANDARD;
        for size in [
            0,
            1,
            2,
            3,
            4,
            BASE64_CHUNK - 1,
            BASE64_CHUNK,
            BASE64_CHUNK + 1,
            200_001,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let streamed = read_all(Base64Encoder::new(Cursor::new(data.clone())));
            assert_eq!(
                streamed,
                base64::Engine::encode(engine, &data).into_bytes(),
                "size {size}"
            );
            assert_eq!(streamed.len() as u64, (size as u64).div_ceil(3) * 4);
        }
    }

    #[test]
    fn exact_length_cuts_long_input_and_pads_short_input() {
        let long = ExactLength {
            inner: Cursor::new(vec![1u8; 10]),
            left: 4,
            short: false,
        };
        assert_eq!(read_all(long), vec![1; 4]);
        let short = ExactLength {
            inner: Cursor::new(vec![1u8; 2]),
            left: 5,
            short: false,
        };
        assert_eq!(read_all(short), vec![1, 1, 0, 0, 0]);
    }
}
