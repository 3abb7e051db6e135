//! The receiving side of change notifications: a non-blocking UDP socket on loopback,
//! registered with the front door's poller. Each datagram names one user (format in
//! [`crate::push`]); the event loop wakes that user's parked requests. Datagrams from
//! anything but loopback are ignored, so no other host can make phones poll.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};

/// The poller token of the notification socket (far above listener, backend and client
/// tokens, which count up from zero).
pub(crate) const NOTIFY_TOKEN: Token = Token(usize::MAX - 1);

/// Datagrams read per readiness event before other work gets a turn; the rest wait for
/// the next poll (the socket stays readable).
const DATAGRAMS_PER_TURN: usize = 256;

pub(crate) struct NotifySocket {
    socket: UdpSocket,
}

impl NotifySocket {
    /// Binds and registers the socket. A failure is logged and leaves the server without
    /// push notifications (phones then learn of changes when their heartbeat ends) rather
    /// than without service.
    pub(crate) fn bind(addr: SocketAddr, registry: &Registry) -> Option<NotifySocket> {
        let outcome = UdpSocket::bind(addr).and_then(|mut socket| {
            registry.register(&mut socket, NOTIFY_TOKEN, Interest::READABLE)?;
            Ok(socket)
        });
        match outcome {
            Ok(socket) => {
                log::debug!("listening for change notifications on udp {addr}");
                Some(NotifySocket { socket })
            }
            Err(error) => {
                log::error!(
                    "cannot listen for change notifications on udp {addr}: {error}; \
                     waiting phones will only hear of changes when their heartbeat ends"
                );
                None
            }
        }
    }

    /// Reads the waiting datagrams and returns the users they name (loopback senders only).
    /// `more` is set when the turn's budget ran out with datagrams possibly left.
    pub(crate) fn receive(&self, buffer: &mut [u8], more: &mut bool) -> Vec<String> {
        let mut users = Vec::new();
        *more = false;
        for _ in 0..DATAGRAMS_PER_TURN {
            match self.socket.recv_from(buffer) {
                Ok((len, from)) => {
                    if !from.ip().to_canonical().is_loopback() {
                        log::debug!("ignored a change notification from {from}");
                        continue;
                    }
                    match crate::push::parse_datagram(&buffer[..len]) {
                        Some(user) => users.push(user),
                        None => log::debug!("ignored a malformed change notification"),
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return users,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    log::warn!("change notification socket: {error}");
                    return users;
                }
            }
        }
        *more = true;
        users
    }
}
