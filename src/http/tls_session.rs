//! One server-side TLS session of a client connection, on rustls's unbuffered API: the
//! encrypted bytes in both directions live in buffers of ours that exist only while bytes
//! are in flight, so a connection that waits (a parked Ping, an idle keep-alive) holds no
//! TLS buffer at all, only rustls's keys and state.
//!
//! rustls's buffered `ServerConnection` keeps a 4 KiB read buffer for the whole life of a
//! connection (it only ever shrinks it back to 4 KiB): 40 MiB for 10,000 parked phones, as
//! much as everything else the front door holds for them (`examples/bench_push.rs`).
//!
//! The socket is read into the event loop's shared scratch buffer; only what rustls cannot
//! use yet (a partial record) is kept per connection.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};

/// Largest plaintext encrypted in one step: one full TLS record.
const RECORD_PLAINTEXT: usize = 16 * 1024;
/// Room reserved for a record's header, content type, padding and tag (22 bytes in TLS 1.3,
/// 29 in TLS 1.2 with AES-GCM).
const RECORD_OVERHEAD: usize = 64;
/// Encrypted output held for the socket before the session takes no more plaintext.
const OUTGOING_LIMIT: usize = 64 * 1024;
/// Received bytes held without completing a record or handshake message (a TLS record is at
/// most 16 KiB + 2 KiB; rustls joins handshake messages of up to 64 KiB).
const INCOMING_LIMIT: usize = 96 * 1024;

pub(crate) struct TlsSession {
    session: UnbufferedServerConnection,
    /// Received bytes rustls has not processed yet: empty except for a partial record.
    incoming: Vec<u8>,
    /// Encrypted bytes for the socket; `outgoing[sent..]` has not been written yet.
    outgoing: Vec<u8>,
    sent: usize,
    /// The client sent close_notify: no more application data will come.
    peer_closed: bool,
    /// A fatal error happened (its alert is queued): the session does nothing more.
    failed: bool,
}

/// What [`TlsSession::drive`] should do once the session may carry application data.
#[derive(Clone, Copy)]
enum Intent<'a> {
    /// Only process what arrived (and queue handshake answers).
    Process,
    /// Encrypt as much of these bytes as the outgoing limit allows.
    Encrypt(&'a [u8]),
    CloseNotify,
}

impl TlsSession {
    pub(crate) fn new(config: Arc<rustls::ServerConfig>) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession {
            session: UnbufferedServerConnection::new(config)?,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            peer_closed: false,
            failed: false,
        })
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    /// True while encrypted bytes wait for the socket.
    pub(crate) fn wants_write(&self) -> bool {
        self.sent < self.outgoing.len()
    }

    /// True once the client has sent close_notify.
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Reads once from `socket` through `scratch`; `Ok(0)` is the end of the stream.
    pub(crate) fn read_tls(
        &mut self,
        socket: &mut impl Read,
        scratch: &mut [u8],
    ) -> io::Result<usize> {
        let n = socket.read(scratch)?;
        self.incoming.extend_from_slice(&scratch[..n]);
        Ok(n)
    }

    /// Processes what arrived: application data is appended to `plaintext`, handshake
    /// messages are answered (queued for [`write_tls`](Self::write_tls)). An error is fatal
    /// for the connection; the alert rustls queued for it is in the outgoing bytes.
    pub(crate) fn process(&mut self, plaintext: &mut Vec<u8>) -> io::Result<()> {
        let outcome = self.drive(plaintext, Intent::Process).map(|_| ());
        if self.incoming.len() > INCOMING_LIMIT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS record or handshake message too large",
            ));
        }
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        }
        outcome
    }

    /// Encrypts a prefix of `data` for the socket and returns its length: 0 while the
    /// handshake is not done or the outgoing bytes are at their limit. Records that arrived
    /// meanwhile are processed and their plaintext appended to `plaintext`.
    pub(crate) fn encrypt(&mut self, data: &[u8], plaintext: &mut Vec<u8>) -> io::Result<usize> {
        self.drive(plaintext, Intent::Encrypt(data))
    }

    /// Queues a close_notify alert (once the handshake is done; before that there is no
    /// session to close).
    pub(crate) fn send_close_notify(&mut self, plaintext: &mut Vec<u8>) -> io::Result<()> {
        self.drive(plaintext, Intent::CloseNotify).map(|_| ())
    }

    /// Writes queued encrypted bytes once; `Ok(0)` when there were none.
    pub(crate) fn write_tls(&mut self, socket: &mut impl Write) -> io::Result<usize> {
        let unsent = &self.outgoing[self.sent..];
        if unsent.is_empty() {
            return Ok(0);
        }
        let n = socket.write(unsent)?;
        self.sent += n;
        if self.sent == self.outgoing.len() {
            // Freed, not kept: a connection waiting for the request loop after its handshake
            // would otherwise hold the handshake's 4-5 KiB until it parks.
            self.outgoing = Vec::new();
            self.sent = 0;
        }
        Ok(n)
    }

    /// Gives back the memory of buffers that hold nothing (the connection waits).
    pub(crate) fn release_buffers(&mut self) {
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        }
        if !self.wants_write() {
            self.outgoing = Vec::new();
            self.sent = 0;
        }
    }

    /// Moves the session on until it needs more input or may carry application data, then
    /// does what `intent` asks. Returns the bytes of plaintext encrypted.
    fn drive(&mut self, plaintext: &mut Vec<u8>, intent: Intent<'_>) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS session ended by an error",
            ));
        }
        let outcome = self.drive_once(plaintext, intent);
        if outcome.is_err() && !self.failed {
            // Whatever went wrong, the session's records are no longer in step with it.
            self.fail();
        }
        outcome
    }

    fn drive_once(&mut self, plaintext: &mut Vec<u8>, intent: Intent<'_>) -> io::Result<usize> {
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.session.process_tls_records(&mut self.incoming);
            let state = match state {
                Ok(state) => state,
                Err(error) => {
                    self.fail();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, error));
                }
            };
            let mut done = None;
            let mut failure = None;
            match state {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                plaintext.extend_from_slice(record.payload);
                            }
                            Err(error) => {
                                failure = Some(error);
                                break;
                            }
                        }
                    }
                }
                ConnectionState::EncodeTlsData(mut handshake) => {
                    append_with(&mut self.outgoing, 0, |buf| {
                        handshake.encode(buf).map_err(encode_failure)
                    })?;
                }
                // The bytes are in `outgoing` until the socket takes them; rustls only needs
                // to know they will go out once.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed => self.peer_closed = true,
                ConnectionState::Closed => {
                    self.peer_closed = true;
                    done = Some(0);
                }
                ConnectionState::WriteTraffic(mut traffic) => {
                    let mut encrypted = 0;
                    match intent {
                        Intent::Process => {}
                        Intent::Encrypt(data) => {
                            if self.sent > 0 {
                                self.outgoing.drain(..self.sent);
                                self.sent = 0;
                            }
                            while encrypted < data.len() && self.outgoing.len() < OUTGOING_LIMIT {
                                let room = OUTGOING_LIMIT - self.outgoing.len();
                                let take = (data.len() - encrypted).min(RECORD_PLAINTEXT).min(room);
                                let chunk = &data[encrypted..encrypted + take];
                                append_with(&mut self.outgoing, take + RECORD_OVERHEAD, |buf| {
                                    traffic.encrypt(chunk, buf).map_err(encrypt_failure)
                                })?;
                                encrypted += take;
                            }
                        }
                        Intent::CloseNotify => {
                            append_with(&mut self.outgoing, RECORD_OVERHEAD, |buf| {
                                traffic.queue_close_notify(buf).map_err(encrypt_failure)
                            })?;
                        }
                    }
                    done = Some(encrypted);
                }
                // Needs more bytes from the client; early data is never enabled.
                _ => done = Some(0),
            }
            discard_front(&mut self.incoming, discard);
            if let Some(error) = failure {
                self.fail();
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
            if let Some(encrypted) = done {
                return Ok(encrypted);
            }
        }
    }

    /// After a fatal error: nothing more is read (the records that caused it would only
    /// cause it again), and the alert rustls prepared goes into the outgoing bytes, so a last
    /// `write_tls` can tell the client why.
    fn fail(&mut self) {
        self.failed = true;
        self.incoming = Vec::new();
        loop {
            let UnbufferedStatus { state, .. } = self.session.process_tls_records(&mut []);
            match state {
                Ok(ConnectionState::EncodeTlsData(mut alert)) => {
                    let encoded = append_with(&mut self.outgoing, 0, |buf| {
                        alert.encode(buf).map_err(encode_failure)
                    });
                    if encoded.is_err() {
                        return;
                    }
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                _ => return,
            }
        }
    }
}

/// Why rustls could not write into the space it was given.
enum Shortfall {
    /// It needs this many bytes.
    Needs(usize),
    Failed(String),
}
use Shortfall::{Failed, Needs};

fn encode_failure(error: EncodeError) -> Shortfall {
    match error {
        EncodeError::InsufficientSize(size) => Needs(size.required_size),
        other => Failed(other.to_string()),
    }
}

fn encrypt_failure(error: EncryptError) -> Shortfall {
    match error {
        EncryptError::InsufficientSize(size) => Needs(size.required_size),
        other => Failed(other.to_string()),
    }
}

/// Appends what `write` puts into a slice at the end of `buf`, starting with `guess` bytes
/// of room and growing it to what rustls says it needs.
fn append_with(
    buf: &mut Vec<u8>,
    guess: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Shortfall>,
) -> io::Result<()> {
    let start = buf.len();
    buf.resize(start + guess, 0);
    loop {
        match write(&mut buf[start..]) {
            Ok(written) => {
                buf.truncate(start + written);
                return Ok(());
            }
            Err(Needs(size)) if size > buf.len() - start => buf.resize(start + size, 0),
            Err(Needs(size)) => {
                buf.truncate(start);
                return Err(io::Error::other(format!(
                    "TLS: rustls asked for {size} bytes and was given them"
                )));
            }
            Err(Failed(reason)) => {
                buf.truncate(start);
                return Err(io::Error::other(format!("TLS: {reason}")));
            }
        }
    }
}

/// Drops the first `n` bytes of `buf` (records rustls has finished with).
fn discard_front(buf: &mut Vec<u8>, n: usize) {
    if n >= buf.len() {
        buf.clear();
    } else if n > 0 {
        buf.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_with_grows_to_what_is_needed() {
        let mut buf = b"ab".to_vec();
        append_with(&mut buf, 0, |room| {
            if room.len() < 3 {
                return Err(Needs(3));
            }
            room[..3].copy_from_slice(b"cde");
            Ok(3)
        })
        .unwrap();
        assert_eq!(buf, b"abcde");
    }

    #[test]
    fn append_with_leaves_the_buffer_as_it_was_on_failure() {
        let mut buf = b"ab".to_vec();
        let outcome = append_with(&mut buf, 10, |_| Err(Failed("no".into())));
        assert!(outcome.is_err());
        assert_eq!(buf, b"ab");
    }

    #[test]
    fn discarding_keeps_the_partial_record() {
        let mut buf = b"donepartial".to_vec();
        discard_front(&mut buf, 4);
        assert_eq!(buf, b"partial");
        discard_front(&mut buf, 100);
        assert!(buf.is_empty());
    }
}
