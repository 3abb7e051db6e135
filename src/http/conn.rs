//! One client connection of the front door: the TCP socket, the optional rustls session,
//! the byte buffers in both directions (the output queue is `outgoing.rs`) and the phase of
//! the request/response cycle.
//!
//! This module only moves bytes (non-blocking, TLS or plain); the event loop decides
//! what the bytes mean and when phases change.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use super::body::{Body, BodyCollector};
use super::chunked::ChunkedDecoder;
use super::head::RequestHead;
use super::outgoing::{Outgoing, ResponseBudget};
use super::tls_session::TlsSession;

/// Why a parked request was sent to the backend again (`X-Easd-Resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResumeReason {
    Timeout,
    Notify,
    Superseded,
    Shutdown,
}

impl ResumeReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ResumeReason::Timeout => "timeout",
            ResumeReason::Notify => "notify",
            ResumeReason::Superseded => "superseded",
            ResumeReason::Shutdown => "shutdown",
        }
    }
}

/// A complete request, ready to be written to the backend (possibly several times when
/// it is parked and resumed).
#[derive(Debug)]
pub(crate) struct ForwardRequest {
    /// Request line and headers for the backend, without the terminating blank line.
    pub(crate) head: Vec<u8>,
    pub(crate) body: Body,
    pub(crate) is_head_method: bool,
    pub(crate) client_minor_version: u8,
    pub(crate) client_keep_alive: bool,
    pub(crate) resume: Option<ResumeReason>,
}

/// How far the body of the request being received has come.
#[derive(Debug)]
pub(crate) enum BodyProgress {
    Remaining(u64),
    Chunked(ChunkedDecoder),
}

/// A request whose head has arrived and whose body is still arriving.
#[derive(Debug)]
pub(crate) struct IncomingRequest {
    pub(crate) head: RequestHead,
    pub(crate) progress: BodyProgress,
    pub(crate) collector: BodyCollector,
}

/// A request held by the front door until a timer, a wake-up or a newer park.
#[derive(Debug)]
pub(crate) struct ParkedRequest {
    pub(crate) request: Box<ForwardRequest>,
    pub(crate) key: String,
    pub(crate) device: String,
}

#[derive(Debug)]
pub(crate) enum Phase {
    /// Waiting for a request head (this includes the TLS handshake).
    ReadingHead,
    ReadingBody(Box<IncomingRequest>),
    /// Complete request waiting for a free backend connection.
    Queued(Box<ForwardRequest>),
    /// The request is being handled on this backend connection.
    AtBackend(usize),
    Parked(Box<ParkedRequest>),
    /// The backend's answer is complete (the backend connection is free again) and still
    /// being sent; then the connection waits for its next request.
    Sending,
    /// Sending the last response before closing.
    Closing,
    /// Write side shut down; reading and discarding until the client closes too.
    Lingering,
}

/// What a deadline of a connection means when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadlineKind {
    /// Handshake plus request head not complete.
    Head,
    /// Keep-alive connection unused for too long.
    Idle,
    /// Request body not complete.
    Body,
    /// A parked request's time is up.
    Park,
    /// The client has not accepted output for too long.
    Send,
    /// Lingering close is over.
    Linger,
}

/// Result of one read attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// Bytes (or TLS records) arrived; `inbuf` may have grown.
    Data,
    WouldBlock,
    /// The client closed its sending side (TCP FIN or TLS close_notify).
    Eof,
}

pub(crate) struct ClientConn {
    pub(crate) serial: u64,
    pub(crate) socket: TcpStream,
    pub(crate) peer: SocketAddr,
    tls: Option<Box<TlsSession>>,
    pub(crate) phase: Phase,
    /// Received plaintext not yet consumed by the request parser.
    pub(crate) inbuf: Vec<u8>,
    out: Outgoing,
    pub(crate) peer_closed: bool,
    /// A read found the socket empty: no read is tried again until the poll reports the
    /// socket (readiness is edge-triggered, so data arriving after that empty read is
    /// reported). Saves the empty reads of every turn of the loop while a request is served.
    pub(crate) socket_drained: bool,
    close_notify_sent: bool,
    pub(crate) requests_served: u64,
    pub(crate) deadline: Option<(Instant, DeadlineKind)>,
    /// Earliest timer-heap entry pending for this connection.
    pub(crate) scheduled: Option<Instant>,
    /// Accepted over the connection limit only to be told `503`.
    pub(crate) rejecting: bool,
}

impl ClientConn {
    pub(crate) fn new(
        serial: u64,
        socket: TcpStream,
        peer: SocketAddr,
        tls_config: Option<Arc<rustls::ServerConfig>>,
        budget: Arc<ResponseBudget>,
    ) -> Result<ClientConn, rustls::Error> {
        let tls = match tls_config {
            Some(config) => Some(Box::new(TlsSession::new(config)?)),
            None => None,
        };
        Ok(ClientConn {
            serial,
            socket,
            peer,
            tls,
            phase: Phase::ReadingHead,
            inbuf: Vec::new(),
            out: Outgoing::new(budget),
            peer_closed: false,
            socket_drained: false,
            close_notify_sent: false,
            requests_served: 0,
            deadline: None,
            scheduled: None,
            rejecting: false,
        })
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_handshaking())
    }

    /// Output queued but not yet handed to the socket or to rustls.
    pub(crate) fn pending_out(&self) -> u64 {
        self.out.pending()
    }

    /// True while part of the queued output waits in a spool file.
    pub(crate) fn output_spooled(&self) -> bool {
        self.out.is_spooled()
    }

    /// Whether more answer bytes should be queued now (see `Outgoing::accepts_more`).
    pub(crate) fn accepts_output(&self) -> bool {
        self.out.accepts_more()
    }

    /// True while anything at all is waiting to be written to the socket.
    pub(crate) fn has_unsent(&self) -> bool {
        self.pending_out() > 0 || self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Queues bytes to be sent after what is already queued. An error (the spool file
    /// could not be written) means they are lost: the connection must be closed.
    pub(crate) fn queue(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.push(bytes)
    }

    /// Gives memory back while the connection waits (idle keep-alive or parked).
    pub(crate) fn release_buffers(&mut self) {
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
        } else {
            self.inbuf.shrink_to_fit();
        }
        self.out.release_memory();
        if let Some(tls) = self.tls.as_mut() {
            tls.release_buffers();
        }
    }

    /// Reads once from the socket (through TLS if any), appending plaintext to `inbuf`.
    pub(crate) fn read_some(&mut self, scratch: &mut [u8]) -> io::Result<ReadOutcome> {
        if self.peer_closed {
            return Ok(ReadOutcome::Eof);
        }
        if self.socket_drained {
            return Ok(ReadOutcome::WouldBlock);
        }
        let outcome = self.read_socket(scratch);
        if let Ok(ReadOutcome::WouldBlock) = outcome {
            self.socket_drained = true;
        }
        outcome
    }

    fn read_socket(&mut self, scratch: &mut [u8]) -> io::Result<ReadOutcome> {
        let Some(tls) = self.tls.as_mut() else {
            return match self.socket.read(scratch) {
                Ok(0) => Ok(ReadOutcome::Eof),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&scratch[..n]);
                    Ok(ReadOutcome::Data)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(ReadOutcome::Data),
                Err(e) => Err(e),
            };
        };
        let socket_eof = match tls.read_tls(&mut self.socket, scratch) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(ReadOutcome::Data),
            Err(e) => return Err(e),
        };
        if let Err(error) = tls.process(&mut self.inbuf) {
            // rustls has queued an alert describing the problem; try to deliver it.
            let _ = tls.write_tls(&mut self.socket);
            return Err(error);
        }
        Ok(if socket_eof || tls.peer_closed() {
            ReadOutcome::Eof
        } else {
            ReadOutcome::Data
        })
    }

    /// Writes queued output until the socket takes no more or one window (64 KiB) has
    /// gone, so a fast reader of a large answer cannot hold the loop; callers go on while
    /// this reports progress. Returns whether any byte moved.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        self.out.refill()?;
        let mut progress = false;
        match self.tls.as_mut() {
            None => {
                while !self.out.unsent().is_empty() {
                    match self.socket.write(self.out.unsent()) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            self.out.consume(n);
                            progress = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Some(tls) => loop {
                let mut moved = 0;
                if !self.out.unsent().is_empty() {
                    moved = tls.encrypt(self.out.unsent(), &mut self.inbuf)?;
                    self.out.consume(moved);
                }
                let mut wrote = false;
                let mut blocked = false;
                while tls.wants_write() {
                    match tls.write_tls(&mut self.socket) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(_) => wrote = true,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            blocked = true;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                progress |= moved > 0 || wrote;
                if blocked || (moved == 0 && !wrote) || self.out.unsent().is_empty() {
                    break;
                }
            },
        }
        Ok(progress)
    }

    /// Starts closing the write direction: TLS close_notify first (flushed by later
    /// `flush` calls); returns true once the TCP write side has been shut down.
    pub(crate) fn shut_write(&mut self) -> bool {
        if let Some(tls) = self.tls.as_mut() {
            if !self.close_notify_sent {
                // A session that cannot queue it (broken) is closed without it.
                let _ = tls.send_close_notify(&mut self.inbuf);
                self.close_notify_sent = true;
                return false;
            }
        }
        if self.has_unsent() {
            return false;
        }
        let _ = self.socket.shutdown(Shutdown::Write);
        true
    }

    /// Best effort goodbye for a connection about to be dropped.
    pub(crate) fn close_now(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            if !self.close_notify_sent && !tls.is_handshaking() {
                let _ = tls.send_close_notify(&mut self.inbuf);
                self.close_notify_sent = true;
                let _ = tls.write_tls(&mut self.socket);
            }
        }
    }
}
