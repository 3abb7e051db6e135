//! The mio front door of easd: one thread that owns every listening socket and every
//! client connection, terminates TLS (rustls), parses and limits request heads and
//! bodies, and forwards each complete request over a small pool of keep-alive
//! Unix-socket connections to the blocking tiny_http loop behind it.
//! It also owns the loopback UDP socket of change notifications (`notify.rs`): a
//! datagram naming a user resumes that user's parked requests, and tells whoever gave
//! [`FrontDoorConfig::on_notification`] that a change arrived.
//!
//! The backend therefore only ever sees complete, in-flight requests: idle keep-alive
//! connections, slow clients and parked DirectPush requests (`X-Easd-Park`) cost a little
//! memory here and no thread anywhere.
//!
//! Internal headers between the two halves (client-supplied `X-Easd-*` headers are
//! always removed first):
//! - to the backend: `X-Easd-Peer: <ip:port>`, `X-Easd-Tls: 1|0`, and on a re-sent parked
//!   request `X-Easd-Resume: timeout|notify|superseded|shutdown`;
//! - from the backend: `X-Easd-Park: <seconds>`, `X-Easd-Park-Key: <user>`,
//!   `X-Easd-Park-Device: <user+device>` ask the front door to hold the request.

mod backend;
mod body;
mod chunked;
mod conn;
mod event_loop;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod head;
mod limits;
mod notify;
mod outgoing;
mod park;
mod timers;
pub mod tls;
mod tls_session;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};

pub use limits::Limits;

/// Backend connections used when nothing else is configured.
pub const DEFAULT_BACKEND_CONNECTIONS: usize = 2;

/// One listening socket: plain HTTP when `tls` is `None`.
#[derive(Clone)]
pub struct ListenerSpec {
    pub addr: SocketAddr,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Everything the front door needs to run.
#[derive(Clone)]
pub struct FrontDoorConfig {
    pub listeners: Vec<ListenerSpec>,
    /// The Unix socket tiny_http listens on (`tiny_http::Server::http_unix`).
    pub backend_socket: PathBuf,
    /// Keep-alive connections to the backend (requests beyond wait in a FIFO queue).
    pub backend_connections: usize,
    pub limits: Limits,
    /// Where request bodies larger than 256 KiB, and answers a slow client has not taken
    /// beyond the memory budgets of [`Limits`], are spooled (as unlinked files).
    pub spool_dir: PathBuf,
    /// Loopback UDP address for change notifications (see [`crate::push`]); `None`: none.
    pub notify: Option<SocketAddr>,
    /// Called (on the front door's thread) after each read of change notifications that
    /// named a user; `easd serve` wakes the request loop with it, which then re-reads what
    /// another process (`easd deliver`) may have queued for it to send.
    pub on_notification: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The client request headers the backend reads (case-insensitive names); the others are
    /// checked like any header but left out of the head forwarded to it, which the backend
    /// (tiny_http) then parses a byte at a time. `None`: every end-to-end header.
    pub forwarded_request_headers: Option<&'static [&'static str]>,
}

impl FrontDoorConfig {
    /// A configuration with [`DEFAULT_BACKEND_CONNECTIONS`] and default [`Limits`].
    pub fn new(listeners: Vec<ListenerSpec>, backend_socket: PathBuf, spool_dir: PathBuf) -> Self {
        FrontDoorConfig {
            listeners,
            backend_socket,
            backend_connections: DEFAULT_BACKEND_CONNECTIONS,
            limits: Limits::default(),
            spool_dir,
            notify: None,
            on_notification: None,
            forwarded_request_headers: None,
        }
    }
}

/// Messages from [`FrontDoorHandle`]s to the event loop.
pub(crate) enum Command {
    Shutdown,
    Wake(String),
    ReplaceTls(usize, Arc<rustls::ServerConfig>),
}

/// The bound but not yet running front door.
pub struct FrontDoor {
    poll: Poll,
    listeners: Vec<event_loop::Listener>,
    waker: Arc<Waker>,
    commands_tx: Sender<Command>,
    commands_rx: Receiver<Command>,
    notify: Option<notify::NotifySocket>,
    config: FrontDoorConfig,
}

/// A cheap, cloneable remote control for a running [`FrontDoor`].
#[derive(Clone)]
pub struct FrontDoorHandle {
    commands: Sender<Command>,
    waker: Arc<Waker>,
}

impl FrontDoor {
    /// Binds every listener (SO_REUSEADDR, non-blocking) and prepares the spool
    /// directory. Nothing is accepted until [`FrontDoor::run`].
    pub fn bind(config: FrontDoorConfig) -> io::Result<FrontDoor> {
        if config.listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the front door needs at least one listener",
            ));
        }
        std::fs::create_dir_all(&config.spool_dir)?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), event_loop::WAKER_TOKEN)?);
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for (index, spec) in config.listeners.iter().enumerate() {
            let mut socket = TcpListener::bind(spec.addr).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot listen on {}: {error}", spec.addr),
                )
            })?;
            poll.registry().register(
                &mut socket,
                event_loop::listener_token(index),
                Interest::READABLE,
            )?;
            let addr = socket.local_addr()?;
            listeners.push(event_loop::Listener {
                socket: Some(socket),
                tls: spec.tls.clone(),
                addr,
            });
        }
        let notify = config
            .notify
            .and_then(|addr| notify::NotifySocket::bind(addr, poll.registry()));
        let (commands_tx, commands_rx) = mpsc::channel();
        Ok(FrontDoor {
            notify,
            poll,
            listeners,
            waker,
            commands_tx,
            commands_rx,
            config,
        })
    }

    /// The bound addresses (port 0 resolved), in listener order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr).collect()
    }

    pub fn handle(&self) -> FrontDoorHandle {
        FrontDoorHandle {
            commands: self.commands_tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Runs the event loop on the calling thread until [`FrontDoorHandle::shutdown`]
    /// has been handled completely.
    pub fn run(self) -> io::Result<()> {
        event_loop::EventLoop::new(
            self.poll,
            self.listeners,
            self.commands_rx,
            self.notify,
            self.config,
        )
        .run()
    }
}

impl FrontDoorHandle {
    /// Stops accepting, resumes parked requests with `X-Easd-Resume: shutdown`, lets
    /// in-flight requests finish (about 10 s at most) and makes `run` return.
    pub fn shutdown(&self) {
        self.send(Command::Shutdown);
    }

    /// Resumes every request parked under `park_key` with `X-Easd-Resume: notify`.
    pub fn wake(&self, park_key: &str) {
        self.send(Command::Wake(park_key.to_ascii_lowercase()));
    }

    /// Uses `config` for new TLS connections on listener `listener` (index in the
    /// configuration), e.g. after a certificate renewal. Existing sessions are unaffected.
    pub fn replace_tls_config(&self, listener: usize, config: Arc<rustls::ServerConfig>) {
        self.send(Command::ReplaceTls(listener, config));
    }

    fn send(&self, command: Command) {
        // A stopped front door has nobody left to tell; that is not an error.
        if self.commands.send(command).is_ok() {
            if let Err(error) = self.waker.wake() {
                log::warn!("cannot wake the front door: {error}");
            }
        }
    }
}

// Compile-time check: handles travel to other threads.
const _: fn() = || {
    fn assert_send<T: Send + Clone>() {}
    assert_send::<FrontDoorHandle>();
};
