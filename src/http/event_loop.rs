//! The single-threaded event loop of the front door: accepting, driving every client
//! connection through its phases, dispatching complete requests to the backend pool,
//! parking and resuming requests, deadlines, and graceful shutdown.
//!
//! Readiness events only mark work; the work queue then drives connections until they
//! would block, so no handler ever recurses into another and an idle process sleeps in
//! `poll` until the earliest deadline.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};

use super::backend::{read_unless_drained, BackendConn, Exchange, Finish};
use super::body::BodyCollector;
use super::chunked::{ChunkError, ChunkedDecoder};
use super::conn::{
    BodyProgress, ClientConn, DeadlineKind, ForwardRequest, IncomingRequest, ParkedRequest, Phase,
    ReadOutcome, ResumeReason,
};
use super::head::{
    error_response, forwarded_head, parse_request_head, BodyFraming, ParkRequest, CONTINUE_RESPONSE,
};
use super::notify::{NotifySocket, NOTIFY_TOKEN};
use super::outgoing::ResponseBudget;
use super::park::{ConnRef, ParkIndex};
use super::timers::{poll_timeout, TimerHeap};
use super::{Command, FrontDoorConfig, Limits};

pub(crate) const WAKER_TOKEN: Token = Token(0);

pub(crate) fn listener_token(index: usize) -> Token {
    Token(1 + index)
}

/// Read buffer shared by all connections (the loop handles one at a time).
const SCRATCH_SIZE: usize = 64 * 1024;
/// Connections accepted beyond `max_connections` only to be told `503`; past this many
/// they are closed without a word.
const REJECT_ALLOWANCE: usize = 64;
/// Time an over-limit connection gets to receive its `503`.
const REJECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds a client over the connection limit should wait (`Retry-After`).
const OVERLOAD_RETRY_AFTER: u32 = 5;
/// Seconds a client should wait when no more requests can be parked.
const PARK_FULL_RETRY_AFTER: u32 = 60;
/// How long a closing connection's unread input is still drained.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after an accept error such as EMFILE, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Retry delay when the backend's listen queue is full.
const BACKEND_RETRY: Duration = Duration::from_millis(50);
/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Wake-ups are remembered this long, for requests that were at the backend when the
/// wake-up came and ask to park afterwards.
const WAKE_MEMORY: Duration = Duration::from_secs(600);
/// Remembered wake-ups are pruned once there are more than this many.
const WAKE_MEMORY_PRUNE_AT: usize = 256;
/// Least time between two warnings about a limit being hit.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);
/// Read/write rounds one connection gets before the others' turn (about 2 MiB), so a
/// fast bulk transfer cannot starve the rest of the loop.
const DRIVE_BUDGET: usize = 32;

/// A listening socket and the TLS configuration for connections accepted on it.
pub(crate) struct Listener {
    pub(crate) socket: Option<TcpListener>,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) addr: SocketAddr,
}

enum Work {
    Client(ConnRef),
    Backend(usize),
    Dispatch,
    /// Read change notifications (the UDP socket is readable).
    Notify,
}

/// What one pass over a backend connection achieved.
enum BackendStep {
    Progress,
    Stalled,
    Finished(Finish),
    Failed(String),
    ClientGone,
    ClientWriteFailed(ConnRef),
}

pub(crate) struct EventLoop {
    poll: Poll,
    listeners: Vec<Listener>,
    commands: Receiver<Command>,
    limits: Limits,
    /// [`FrontDoorConfig::forwarded_request_headers`].
    forwarded_request_headers: Option<&'static [&'static str]>,
    backend_socket: PathBuf,
    spool_dir: PathBuf,
    /// Memory for answers waiting for slow clients, and the spool beyond it.
    answer_budget: Arc<ResponseBudget>,
    /// Client-framed answer bytes on their way from a backend connection to a client.
    relay: Vec<u8>,
    backend_token_base: usize,
    client_token_base: usize,
    clients: Vec<Option<ClientConn>>,
    free_slots: Vec<usize>,
    active_clients: usize,
    rejecting_clients: usize,
    next_serial: u64,
    backends: Vec<BackendConn>,
    queue: VecDeque<ConnRef>,
    parks: ParkIndex,
    /// The UDP socket change notifications arrive on, if it could be bound.
    notify: Option<NotifySocket>,
    /// [`super::FrontDoorConfig::on_notification`].
    on_notification: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Last wake-up per park key (see [`WAKE_MEMORY`]).
    recent_wakes: HashMap<String, Instant>,
    timers: TimerHeap<ConnRef>,
    work: VecDeque<Work>,
    /// Work that used up its budget; continued after the next (non-blocking) poll.
    deferred: Vec<Work>,
    scratch: Vec<u8>,
    accept_paused_until: Option<Instant>,
    backend_retry_at: Option<Instant>,
    shutdown_deadline: Option<Instant>,
    last_limit_warning: Option<Instant>,
}

fn client_of(clients: &mut [Option<ClientConn>], cref: ConnRef) -> Option<&mut ClientConn> {
    clients
        .get_mut(cref.slot)?
        .as_mut()
        .filter(|conn| conn.serial == cref.serial)
}

/// Sets the connection's deadline, adding a heap entry only when it moves earlier.
fn set_deadline(
    timers: &mut TimerHeap<ConnRef>,
    conn: &mut ClientConn,
    slot: usize,
    at: Instant,
    kind: DeadlineKind,
) {
    conn.deadline = Some((at, kind));
    if conn.scheduled.is_none_or(|scheduled| at < scheduled) {
        timers.schedule(
            at,
            ConnRef {
                slot,
                serial: conn.serial,
            },
        );
        conn.scheduled = Some(at);
    }
}

/// Keeps the send-stall deadline of a connection that is receiving a response.
fn note_output(
    timers: &mut TimerHeap<ConnRef>,
    conn: &mut ClientConn,
    slot: usize,
    stall: Duration,
    moved: bool,
) {
    let sending = matches!(
        conn.phase,
        Phase::AtBackend(_) | Phase::Sending | Phase::Closing
    ) && !conn.rejecting;
    if !sending {
        return;
    }
    if conn.has_unsent() {
        if moved || conn.deadline.is_none() {
            set_deadline(
                timers,
                conn,
                slot,
                Instant::now() + stall,
                DeadlineKind::Send,
            );
        }
    } else if matches!(conn.phase, Phase::AtBackend(_)) {
        conn.deadline = None;
    }
}

fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

impl EventLoop {
    pub(crate) fn new(
        poll: Poll,
        listeners: Vec<Listener>,
        commands: Receiver<Command>,
        notify: Option<NotifySocket>,
        config: FrontDoorConfig,
    ) -> Self {
        let backend_count = config.backend_connections.max(1);
        let backend_token_base = 1 + listeners.len();
        let answer_budget = Arc::new(ResponseBudget::new(
            config.spool_dir.clone(),
            config.limits.answer_memory_per_connection,
            config.limits.answer_memory_total,
            config.limits.answer_spool_total,
        ));
        EventLoop {
            poll,
            commands,
            limits: config.limits,
            forwarded_request_headers: config.forwarded_request_headers,
            backend_socket: config.backend_socket,
            spool_dir: config.spool_dir,
            answer_budget,
            relay: Vec::new(),
            backend_token_base,
            client_token_base: backend_token_base + backend_count,
            listeners,
            clients: Vec::new(),
            free_slots: Vec::new(),
            active_clients: 0,
            rejecting_clients: 0,
            next_serial: 1,
            backends: (0..backend_count).map(|_| BackendConn::new()).collect(),
            queue: VecDeque::new(),
            parks: ParkIndex::new(),
            notify,
            on_notification: config.on_notification,
            recent_wakes: HashMap::new(),
            timers: TimerHeap::new(),
            work: VecDeque::new(),
            deferred: Vec::new(),
            scratch: vec![0; SCRATCH_SIZE],
            accept_paused_until: None,
            backend_retry_at: None,
            shutdown_deadline: None,
            last_limit_warning: None,
        }
    }

    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        for listener in &self.listeners {
            log::debug!(
                "front door listening on {} ({})",
                listener.addr,
                if listener.tls.is_some() {
                    "TLS"
                } else {
                    "plain"
                }
            );
        }
        loop {
            let timeout = if self.work.is_empty() {
                poll_timeout(Instant::now(), self.next_wakeup())
            } else {
                Some(Duration::ZERO)
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            for event in events.iter() {
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                self.on_event(event.token(), readable);
            }
            self.handle_commands();
            self.on_timers(Instant::now());
            self.do_work();
            if self.finished() {
                self.close_everything();
                log::debug!("front door stopped");
                return Ok(());
            }
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.timers.next_deadline(),
            self.accept_paused_until,
            self.backend_retry_at,
            self.shutdown_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One poll event. `readable`: the event may mean something to read (data, the end, an
    /// error); only then is a backend connection's drained mark cleared.
    fn on_event(&mut self, token: Token, readable: bool) {
        let index = token.0;
        if token == WAKER_TOKEN {
            // Commands are read after every poll anyway.
        } else if token == NOTIFY_TOKEN {
            self.work.push_back(Work::Notify);
        } else if index < self.backend_token_base {
            self.accept(index - 1);
        } else if index < self.client_token_base {
            let index = index - self.backend_token_base;
            if let Some(backend) = self.backends.get_mut(index).filter(|_| readable) {
                backend.drained = false;
            }
            self.work.push_back(Work::Backend(index));
        } else {
            let slot = index - self.client_token_base;
            if let Some(Some(conn)) = self.clients.get_mut(slot) {
                conn.socket_drained = false;
                self.work.push_back(Work::Client(ConnRef {
                    slot,
                    serial: conn.serial,
                }));
            }
        }
    }

    fn handle_commands(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Shutdown => self.begin_shutdown(),
                Command::Wake(key) => self.wake(key),
                Command::ReplaceTls(index, config) => match self.listeners.get_mut(index) {
                    Some(listener) if listener.tls.is_some() => {
                        listener.tls = Some(config);
                        // Only from here on do handshakes use it (the signal thread's log
                        // line comes first): tests and operators can wait for this one.
                        log::info!("{}: the reloaded certificate is in use", listener.addr);
                    }
                    _ => log::warn!("no TLS listener #{index} to give a new certificate"),
                },
            }
        }
    }

    fn on_timers(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|until| until <= now) {
            self.accept_paused_until = None;
            for index in 0..self.listeners.len() {
                self.accept(index);
            }
        }
        if self.backend_retry_at.is_some_and(|at| at <= now) {
            self.backend_retry_at = None;
            self.work.push_back(Work::Dispatch);
        }
        while let Some((at, cref)) = self.timers.pop_due(now) {
            let Some(conn) = client_of(&mut self.clients, cref) else {
                continue;
            };
            if conn.scheduled == Some(at) {
                conn.scheduled = None;
            }
            match conn.deadline {
                None => {}
                Some((deadline, kind)) if deadline <= now => {
                    conn.deadline = None;
                    self.on_deadline(cref, kind);
                }
                Some((deadline, kind)) => {
                    set_deadline(&mut self.timers, conn, cref.slot, deadline, kind);
                }
            }
        }
    }

    fn do_work(&mut self) {
        while let Some(work) = self.work.pop_front() {
            match work {
                Work::Client(cref) => self.drive_client(cref),
                Work::Backend(index) => self.drive_backend(index),
                Work::Dispatch => self.dispatch(),
                Work::Notify => self.read_notifications(),
            }
        }
        self.work.extend(self.deferred.drain(..));
    }

    fn finished(&self) -> bool {
        self.shutdown_deadline.is_some_and(|deadline| {
            self.active_clients + self.rejecting_clients == 0 || Instant::now() >= deadline
        })
    }

    fn close_everything(&mut self) {
        let remaining: Vec<ConnRef> = self.live_connections();
        if !remaining.is_empty() {
            log::warn!(
                "shutdown grace period over; dropping {} connection(s)",
                remaining.len()
            );
        }
        for cref in remaining {
            self.close_client(cref);
        }
        for index in 0..self.backends.len() {
            self.drop_backend_stream(index);
        }
    }

    fn live_connections(&self) -> Vec<ConnRef> {
        self.clients
            .iter()
            .enumerate()
            .filter_map(|(slot, conn)| {
                conn.as_ref().map(|conn| ConnRef {
                    slot,
                    serial: conn.serial,
                })
            })
            .collect()
    }

    fn arm(&mut self, cref: ConnRef, after: Duration, kind: DeadlineKind) {
        if let Some(conn) = client_of(&mut self.clients, cref) {
            set_deadline(
                &mut self.timers,
                conn,
                cref.slot,
                Instant::now() + after,
                kind,
            );
        }
    }

    /// Limit warnings at most once a minute, so an overload does not flood the log.
    fn may_warn_about_limits(&mut self, now: Instant) -> bool {
        let due = self
            .last_limit_warning
            .is_none_or(|last| now.saturating_duration_since(last) >= LIMIT_WARNING_INTERVAL);
        if due {
            self.last_limit_warning = Some(now);
        }
        due
    }

    // ----- accepting -------------------------------------------------------------

    fn accept(&mut self, index: usize) {
        if self.shutdown_deadline.is_some() || self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(index).and_then(|l| l.socket.as_ref()) else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.admit(index, stream, peer),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(error) => {
                    // Typically EMFILE/ENFILE: the pending connection stays queued, so
                    // retrying at once would spin. Wait for descriptors to free up.
                    log::warn!("accept failed: {error}; pausing new connections briefly");
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, index: usize, stream: TcpStream, peer: SocketAddr) {
        let over_limit = self.active_clients >= self.limits.max_connections;
        if over_limit && self.rejecting_clients >= REJECT_ALLOWANCE {
            log::debug!("{peer}: over the connection limit, closed at once");
            return;
        }
        if let Err(error) = stream.set_nodelay(true) {
            log::debug!("{peer}: cannot set TCP_NODELAY: {error}");
        }
        let tls = self.listeners.get(index).and_then(|l| l.tls.clone());
        let serial = self.next_serial;
        self.next_serial += 1;
        let budget = Arc::clone(&self.answer_budget);
        let mut conn = match ClientConn::new(serial, stream, peer, tls, budget) {
            Ok(conn) => conn,
            Err(error) => {
                log::warn!("{peer}: cannot start a TLS session: {error}");
                return;
            }
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.clients.push(None);
                self.clients.len() - 1
            }
        };
        let token = Token(self.client_token_base + slot);
        if let Err(error) = self.poll.registry().register(
            &mut conn.socket,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("{peer}: cannot register the connection: {error}");
            self.free_slots.push(slot);
            return;
        }
        let now = Instant::now();
        if over_limit {
            if self.may_warn_about_limits(now) {
                log::warn!(
                    "{} connections open (the limit); answering new ones with 503",
                    self.active_clients
                );
            }
            log::debug!("{peer}: over the connection limit, answering 503");
            conn.rejecting = true;
            // The queue is empty: a response this small always fits its window.
            let _ = conn.queue(&error_response(503, Some(OVERLOAD_RETRY_AFTER)));
            conn.phase = Phase::Closing;
            set_deadline(
                &mut self.timers,
                &mut conn,
                slot,
                now + REJECT_TIMEOUT,
                DeadlineKind::Send,
            );
            self.rejecting_clients += 1;
        } else {
            set_deadline(
                &mut self.timers,
                &mut conn,
                slot,
                now + self.limits.head_timeout,
                DeadlineKind::Head,
            );
            self.active_clients += 1;
        }
        if let Some(entry) = self.clients.get_mut(slot) {
            *entry = Some(conn);
        }
        self.work.push_back(Work::Client(ConnRef { slot, serial }));
    }

    // ----- client connections ------------------------------------------------------

    fn drive_client(&mut self, cref: ConnRef) {
        for _ in 0..DRIVE_BUDGET {
            let stall = self.limits.head_timeout;
            let Some(conn) = client_of(&mut self.clients, cref) else {
                return;
            };
            let moved = match conn.flush() {
                Ok(moved) => moved,
                Err(error) => {
                    log::debug!("{}: write failed: {error}", conn.peer);
                    self.close_client(cref);
                    return;
                }
            };
            note_output(&mut self.timers, conn, cref.slot, stall, moved);
            if moved && conn.accepts_output() {
                if let Phase::AtBackend(index) = conn.phase {
                    // The backend may wait for exactly this room (spool budget used up);
                    // readiness is edge-triggered, so nothing else would read it again.
                    self.work.push_back(Work::Backend(index));
                }
            }
            let Some(changed) = self.advance(cref) else {
                return;
            };
            let Some(read) = self.read_client(cref) else {
                return;
            };
            if !(moved || changed || read) {
                return;
            }
        }
        self.deferred.push(Work::Client(cref));
    }

    /// Reads once if the connection's phase wants input. `None`: the connection is gone.
    fn read_client(&mut self, cref: ConnRef) -> Option<bool> {
        let max_head = self.limits.max_head_bytes;
        let conn = client_of(&mut self.clients, cref)?;
        let wants_input = !conn.peer_closed
            && match conn.phase {
                Phase::ReadingHead => conn.inbuf.len() <= max_head,
                Phase::ReadingBody(_) | Phase::Closing | Phase::Lingering => true,
                // Keep reading (bounded) to notice a client that goes away.
                Phase::Queued(_) | Phase::AtBackend(_) | Phase::Sending | Phase::Parked(_) => {
                    conn.inbuf.len() < max_head
                }
            };
        if !wants_input {
            return Some(false);
        }
        match conn.read_some(&mut self.scratch) {
            Ok(ReadOutcome::Data) => Some(true),
            Ok(ReadOutcome::WouldBlock) => Some(false),
            Ok(ReadOutcome::Eof) => {
                conn.peer_closed = true;
                Some(true)
            }
            Err(error) => {
                log::debug!("{}: read failed: {error}", conn.peer);
                self.close_client(cref);
                None
            }
        }
    }

    /// Moves the connection's state machine on with the input it has. Returns whether
    /// anything changed, or `None` when the connection was closed.
    fn advance(&mut self, cref: ConnRef) -> Option<bool> {
        let shutting_down = self.shutdown_deadline.is_some();
        let conn = client_of(&mut self.clients, cref)?;
        match conn.phase {
            Phase::ReadingHead => self.advance_head(cref),
            Phase::ReadingBody(_) => self.advance_body(cref),
            Phase::Queued(_) | Phase::AtBackend(_) => Some(false),
            Phase::Sending => {
                if conn.has_unsent() {
                    return Some(false);
                }
                // The answer is out: wait for the next request.
                let limits = &self.limits;
                let now = Instant::now();
                if shutting_down {
                    conn.phase = Phase::Closing;
                } else if conn.inbuf.is_empty() {
                    conn.phase = Phase::ReadingHead;
                    conn.release_buffers();
                    let at = now + limits.idle_timeout;
                    set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Idle);
                } else {
                    conn.phase = Phase::ReadingHead;
                    let at = now + limits.head_timeout;
                    set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Head);
                }
                Some(true)
            }
            Phase::Parked(_) => {
                if conn.peer_closed {
                    log::debug!("{}: client left while parked", conn.peer);
                    self.close_client(cref);
                    None
                } else {
                    Some(false)
                }
            }
            Phase::Closing => {
                conn.inbuf.clear();
                if conn.has_unsent() || (conn.is_handshaking() && !conn.peer_closed) {
                    return Some(false);
                }
                if !conn.shut_write() {
                    // close_notify queued; the next flush sends it.
                    return Some(true);
                }
                if shutting_down || conn.peer_closed {
                    self.close_client(cref);
                    return None;
                }
                conn.phase = Phase::Lingering;
                self.arm(cref, LINGER_TIMEOUT, DeadlineKind::Linger);
                Some(true)
            }
            Phase::Lingering => {
                conn.inbuf.clear();
                if conn.peer_closed {
                    self.close_client(cref);
                    return None;
                }
                Some(false)
            }
        }
    }

    fn advance_head(&mut self, cref: ConnRef) -> Option<bool> {
        let limits = &self.limits;
        let conn = client_of(&mut self.clients, cref)?;
        if conn.inbuf.is_empty() {
            if conn.peer_closed {
                if conn.has_unsent() {
                    // Finish sending the last response before closing.
                    conn.phase = Phase::Closing;
                    let at = Instant::now() + limits.head_timeout;
                    set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Send);
                    return Some(true);
                }
                self.close_client(cref);
                return None;
            }
            return Some(false);
        }
        if matches!(conn.deadline, Some((_, DeadlineKind::Idle))) {
            let at = Instant::now() + limits.head_timeout;
            set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Head);
        }
        match parse_request_head(
            &conn.inbuf,
            limits.max_head_bytes,
            self.forwarded_request_headers,
        ) {
            Ok(None) => {
                if conn.peer_closed {
                    log::debug!("{}: closed in the middle of a request head", conn.peer);
                    self.close_client(cref);
                    return None;
                }
                Some(false)
            }
            Err(error) => {
                log::debug!("{}: refused request head ({})", conn.peer, error.status());
                self.fail(cref, error.status(), None);
                Some(true)
            }
            Ok(Some((head, len))) => {
                conn.inbuf.drain(..len.min(conn.inbuf.len()));
                if let BodyFraming::Length(length) = head.framing {
                    if length > limits.max_body_bytes {
                        log::debug!("{}: body of {length} bytes refused (413)", conn.peer);
                        self.fail(cref, 413, None);
                        return Some(true);
                    }
                }
                if head.expect_continue && head.framing != BodyFraming::None {
                    // Nothing else is queued between requests: this always fits the window.
                    let _ = conn.queue(CONTINUE_RESPONSE);
                }
                let progress = match head.framing {
                    BodyFraming::None => BodyProgress::Remaining(0),
                    BodyFraming::Length(length) => BodyProgress::Remaining(length),
                    BodyFraming::Chunked => {
                        BodyProgress::Chunked(ChunkedDecoder::new(limits.max_body_bytes))
                    }
                };
                conn.phase = Phase::ReadingBody(Box::new(IncomingRequest {
                    head,
                    progress,
                    collector: BodyCollector::new(),
                }));
                let at = Instant::now() + limits.body_timeout;
                set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Body);
                Some(true)
            }
        }
    }

    fn advance_body(&mut self, cref: ConnRef) -> Option<bool> {
        let conn = client_of(&mut self.clients, cref)?;
        let Phase::ReadingBody(incoming) = &mut conn.phase else {
            return Some(false);
        };
        let mut consumed = 0;
        let mut failure: Option<u16> = None;
        let complete = match &mut incoming.progress {
            BodyProgress::Remaining(remaining) => {
                let available = conn.inbuf.len() as u64;
                let take = (*remaining).min(available) as usize;
                if take > 0 {
                    let data = conn.inbuf.get(..take).unwrap_or_default();
                    if let Err(error) = incoming.collector.push(data, &self.spool_dir) {
                        log::warn!("cannot spool a request body: {error}");
                        failure = Some(500);
                    }
                    *remaining -= take as u64;
                    consumed = take;
                }
                *remaining == 0
            }
            BodyProgress::Chunked(decoder) => {
                while consumed < conn.inbuf.len() && !decoder.is_done() && failure.is_none() {
                    let input = conn.inbuf.get(consumed..).unwrap_or_default();
                    match decoder.step(input) {
                        Ok(step) => {
                            let data = input.get(step.data.clone()).unwrap_or_default();
                            if let Err(error) = incoming.collector.push(data, &self.spool_dir) {
                                log::warn!("cannot spool a request body: {error}");
                                failure = Some(500);
                            }
                            consumed += step.consumed;
                            if step.consumed == 0 {
                                break;
                            }
                        }
                        Err(ChunkError::TooLarge) => failure = Some(413),
                        Err(error) => {
                            log::debug!("{}: bad chunked body: {error}", conn.peer);
                            failure = Some(400);
                        }
                    }
                }
                decoder.is_done()
            }
        };
        conn.inbuf.drain(..consumed.min(conn.inbuf.len()));
        if let Some(status) = failure {
            self.fail(cref, status, None);
            return Some(true);
        }
        if complete {
            let Phase::ReadingBody(incoming) = std::mem::replace(&mut conn.phase, Phase::Closing)
            else {
                return Some(false);
            };
            let IncomingRequest {
                head, collector, ..
            } = *incoming;
            let body = collector.finish();
            let forward_head = forwarded_head(
                &head.forward_prefix,
                body.len(),
                canonical_peer(conn.peer),
                conn.is_tls(),
            );
            conn.phase = Phase::Queued(Box::new(ForwardRequest {
                head: forward_head,
                body,
                is_head_method: head.is_head_method,
                client_minor_version: head.minor_version,
                client_keep_alive: head.keep_alive,
                resume: None,
            }));
            conn.deadline = None;
            if conn.inbuf.is_empty() {
                conn.inbuf = Vec::new();
            }
            self.queue.push_back(cref);
            self.work.push_back(Work::Dispatch);
            return Some(true);
        }
        if conn.peer_closed {
            log::debug!("{}: closed in the middle of a request body", conn.peer);
            self.close_client(cref);
            return None;
        }
        Some(consumed > 0)
    }

    /// Answers with a front-door error response and closes after sending it.
    fn fail(&mut self, cref: ConnRef, status: u16, retry_after: Option<u32>) {
        let stall = self.limits.head_timeout;
        let Some(conn) = client_of(&mut self.clients, cref) else {
            return;
        };
        if let Err(error) = conn.queue(&error_response(status, retry_after)) {
            log::warn!("{}: cannot queue a {status} answer: {error}", conn.peer);
            self.close_client(cref);
            return;
        }
        conn.phase = Phase::Closing;
        set_deadline(
            &mut self.timers,
            conn,
            cref.slot,
            Instant::now() + stall,
            DeadlineKind::Send,
        );
        self.work.push_back(Work::Client(cref));
    }

    fn on_deadline(&mut self, cref: ConnRef, kind: DeadlineKind) {
        let Some(conn) = client_of(&mut self.clients, cref) else {
            return;
        };
        match kind {
            DeadlineKind::Head => {
                if !matches!(conn.phase, Phase::ReadingHead) {
                    return;
                }
                if conn.is_handshaking() {
                    log::debug!("{}: TLS handshake timed out", conn.peer);
                    self.close_client(cref);
                } else {
                    log::debug!("{}: request head timed out (408)", conn.peer);
                    self.fail(cref, 408, None);
                }
            }
            DeadlineKind::Idle => {
                if matches!(conn.phase, Phase::ReadingHead) {
                    conn.phase = Phase::Closing;
                    self.arm(cref, LINGER_TIMEOUT, DeadlineKind::Send);
                    self.work.push_back(Work::Client(cref));
                }
            }
            DeadlineKind::Body => {
                if matches!(conn.phase, Phase::ReadingBody(_)) {
                    log::debug!("{}: request body timed out (408)", conn.peer);
                    self.fail(cref, 408, None);
                }
            }
            DeadlineKind::Park => self.resume(cref, ResumeReason::Timeout),
            DeadlineKind::Send | DeadlineKind::Linger => {
                if kind == DeadlineKind::Send {
                    log::debug!("{}: client stopped reading; dropped", conn.peer);
                }
                self.close_client(cref);
            }
        }
    }

    /// Removes a connection and everything that refers to it.
    fn close_client(&mut self, cref: ConnRef) {
        let Some(entry) = self.clients.get_mut(cref.slot) else {
            return;
        };
        if entry.as_ref().map(|conn| conn.serial) != Some(cref.serial) {
            return;
        }
        let Some(mut conn) = entry.take() else {
            return;
        };
        self.free_slots.push(cref.slot);
        if conn.rejecting {
            self.rejecting_clients -= 1;
        } else {
            self.active_clients -= 1;
        }
        match std::mem::replace(&mut conn.phase, Phase::Lingering) {
            Phase::AtBackend(index) => self.abort_exchange(index),
            Phase::Parked(parked) => self.parks.remove(cref, &parked.key, &parked.device),
            _ => {}
        }
        log::debug!(
            "{}: connection closed after {} request(s)",
            conn.peer,
            conn.requests_served
        );
        conn.close_now();
        let _ = self.poll.registry().deregister(&mut conn.socket);
    }

    // ----- parking -----------------------------------------------------------------

    fn park(
        &mut self,
        cref: ConnRef,
        mut request: Box<ForwardRequest>,
        park: ParkRequest,
        handed_over: Instant,
    ) {
        let shutting_down = self.shutdown_deadline.is_some();
        let woken_meanwhile = self
            .recent_wakes
            .get(&park.key)
            .is_some_and(|woken| *woken >= handed_over);
        let at_capacity =
            self.parks.len() >= self.limits.max_parked && !self.parks.contains_device(&park.device);
        let Some(conn) = client_of(&mut self.clients, cref) else {
            return;
        };
        if conn.peer_closed {
            log::debug!("{}: client left before its request could park", conn.peer);
            self.close_client(cref);
            return;
        }
        if shutting_down {
            if request.resume == Some(ResumeReason::Shutdown) {
                self.fail(cref, 503, Some(PARK_FULL_RETRY_AFTER));
            } else {
                request.resume = Some(ResumeReason::Shutdown);
                conn.phase = Phase::Queued(request);
                self.queue.push_back(cref);
                self.work.push_back(Work::Dispatch);
            }
            return;
        }
        if woken_meanwhile {
            // The wake-up came while the backend was deciding to park: it may not have
            // seen the news, so ask again at once instead of sleeping on it.
            log::debug!(
                "{}: woken while at the backend; resuming at once",
                conn.peer
            );
            request.resume = Some(ResumeReason::Notify);
            conn.phase = Phase::Queued(request);
            self.queue.push_back(cref);
            self.work.push_back(Work::Dispatch);
            return;
        }
        if at_capacity {
            let parked = self.parks.len();
            if self.may_warn_about_limits(Instant::now()) {
                log::warn!("{parked} requests parked (the limit); answering new ones with 503");
            }
            self.fail(cref, 503, Some(PARK_FULL_RETRY_AFTER));
            return;
        }
        log::debug!("{}: parked for {} s", conn.peer, park.seconds);
        let ParkRequest {
            seconds,
            key,
            device,
        } = park;
        let superseded = self.parks.insert(cref, &key, &device);
        conn.phase = Phase::Parked(Box::new(ParkedRequest {
            request,
            key,
            device,
        }));
        conn.release_buffers();
        set_deadline(
            &mut self.timers,
            conn,
            cref.slot,
            Instant::now() + Duration::from_secs(seconds),
            DeadlineKind::Park,
        );
        self.work.push_back(Work::Client(cref));
        if let Some(older) = superseded {
            self.resume(older, ResumeReason::Superseded);
        }
    }

    /// Wakes the users named by waiting change notifications.
    fn read_notifications(&mut self) {
        let Some(socket) = &self.notify else {
            return;
        };
        let mut more = false;
        let users = socket.receive(&mut self.scratch, &mut more);
        if more {
            // Edge-triggered: datagrams may be left, so come back after the next poll.
            self.deferred.push(Work::Notify);
        }
        if !users.is_empty() {
            if let Some(notified) = &self.on_notification {
                notified();
            }
        }
        for user in users {
            self.wake(user);
        }
    }

    /// Resumes everything parked under `key`, and remembers the wake-up for requests
    /// that are at the backend right now and may ask to park in a moment.
    fn wake(&mut self, key: String) {
        let now = Instant::now();
        if self.recent_wakes.len() >= WAKE_MEMORY_PRUNE_AT {
            self.recent_wakes
                .retain(|_, at| now.saturating_duration_since(*at) < WAKE_MEMORY);
        }
        for cref in self.parks.connections_for_key(&key) {
            self.resume(cref, ResumeReason::Notify);
        }
        self.recent_wakes.insert(key, now);
    }

    /// Sends a parked request to the backend again, marked with `reason`.
    fn resume(&mut self, cref: ConnRef, reason: ResumeReason) {
        let Some(conn) = client_of(&mut self.clients, cref) else {
            return;
        };
        if !matches!(conn.phase, Phase::Parked(_)) {
            return;
        }
        let Phase::Parked(parked) = std::mem::replace(&mut conn.phase, Phase::Closing) else {
            return;
        };
        let ParkedRequest {
            mut request,
            key,
            device,
        } = *parked;
        log::debug!(
            "{}: resuming parked request ({})",
            conn.peer,
            reason.as_str()
        );
        request.resume = Some(reason);
        conn.phase = Phase::Queued(request);
        conn.deadline = None;
        self.parks.remove(cref, &key, &device);
        self.queue.push_back(cref);
        self.work.push_back(Work::Dispatch);
    }

    // ----- backend -----------------------------------------------------------------

    fn dispatch(&mut self) {
        while !self.queue.is_empty() && self.backend_retry_at.is_none() {
            let Some(index) = self.backends.iter().position(BackendConn::is_free) else {
                return;
            };
            let Some(cref) = self.queue.pop_front() else {
                return;
            };
            let queued = client_of(&mut self.clients, cref)
                .is_some_and(|conn| matches!(conn.phase, Phase::Queued(_)));
            if !queued {
                continue;
            }
            if !self.ensure_backend_stream(index) {
                if self.backend_retry_at.is_some() {
                    self.queue.push_front(cref);
                    return;
                }
                self.fail(cref, 502, None);
                continue;
            }
            let Some(conn) = client_of(&mut self.clients, cref) else {
                continue;
            };
            let Phase::Queued(request) =
                std::mem::replace(&mut conn.phase, Phase::AtBackend(index))
            else {
                continue;
            };
            if let Some(backend) = self.backends.get_mut(index) {
                backend.exchange = Some(Exchange::new(cref, request));
            }
            self.work.push_back(Work::Backend(index));
        }
    }

    /// Connects backend slot `index` if needed. False when no connection is possible
    /// now; `backend_retry_at` is then set if trying again soon makes sense.
    fn ensure_backend_stream(&mut self, index: usize) -> bool {
        let token = Token(self.backend_token_base + index);
        let Some(backend) = self.backends.get_mut(index) else {
            return false;
        };
        if backend.stream.is_some() {
            return true;
        }
        match UnixStream::connect(&self.backend_socket) {
            Ok(mut stream) => {
                // Writability is asked for only while a request waits to be written
                // (`backend_step`).
                if let Err(error) =
                    self.poll
                        .registry()
                        .register(&mut stream, token, Interest::READABLE)
                {
                    log::warn!("cannot register a backend connection: {error}");
                    return false;
                }
                backend.stream = Some(stream);
                backend.drained = false;
                backend.writable_interest = false;
                true
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.backend_retry_at = Some(Instant::now() + BACKEND_RETRY);
                false
            }
            Err(error) => {
                log::warn!(
                    "backend {} unreachable: {error}",
                    self.backend_socket.display()
                );
                false
            }
        }
    }

    fn drop_backend_stream(&mut self, index: usize) {
        if let Some(backend) = self.backends.get_mut(index) {
            if let Some(mut stream) = backend.stream.take() {
                let _ = self.poll.registry().deregister(&mut stream);
            }
        }
    }

    /// Abandons the exchange on backend `index` (its client is gone): the connection is
    /// closed so the backend stops working on it.
    fn abort_exchange(&mut self, index: usize) {
        if let Some(backend) = self.backends.get_mut(index) {
            backend.exchange = None;
        }
        self.drop_backend_stream(index);
        self.work.push_back(Work::Dispatch);
    }

    fn drive_backend(&mut self, index: usize) {
        for _ in 0..DRIVE_BUDGET {
            match self.backend_step(index) {
                BackendStep::Progress => {}
                BackendStep::Stalled => return,
                BackendStep::Finished(finish) => {
                    self.finish_exchange(index, finish);
                    return;
                }
                BackendStep::Failed(reason) => {
                    self.backend_failed(index, &reason);
                    return;
                }
                BackendStep::ClientGone => {
                    self.abort_exchange(index);
                    return;
                }
                BackendStep::ClientWriteFailed(cref) => {
                    self.close_client(cref);
                    return;
                }
            }
        }
        self.deferred.push(Work::Backend(index));
    }

    fn backend_step(&mut self, index: usize) -> BackendStep {
        let EventLoop {
            backends,
            clients,
            scratch,
            relay,
            poll,
            timers,
            limits,
            backend_token_base,
            ..
        } = self;
        let token = Token(*backend_token_base + index);
        let Some(backend) = backends.get_mut(index) else {
            return BackendStep::Stalled;
        };
        let Some(stream) = backend.stream.as_mut() else {
            return BackendStep::Stalled;
        };
        let drained = &mut backend.drained;
        let Some(exchange) = backend.exchange.as_mut() else {
            // An idle connection only ever reports that the backend closed it.
            let close = match read_unless_drained(stream, drained, scratch) {
                Ok(0) => true,
                Ok(_) => {
                    log::warn!("unsolicited bytes from the backend; reconnecting");
                    true
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => false,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                    return BackendStep::Progress
                }
                Err(_) => true,
            };
            if close {
                if let Some(mut stream) = backend.stream.take() {
                    let _ = poll.registry().deregister(&mut stream);
                }
            }
            return BackendStep::Stalled;
        };
        let mut progress = match exchange.write_request(stream) {
            Ok(moved) => moved,
            Err(error) => return BackendStep::Failed(format!("sending the request: {error}")),
        };
        // A request the socket did not take whole waits for writability; re-registering
        // reports it at once if there is room already, so no wake-up is lost.
        let write_waits = !exchange.request_sent();
        if write_waits != backend.writable_interest {
            let interest = if write_waits {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(error) = poll.registry().reregister(stream, token, interest) {
                return BackendStep::Failed(format!("polling the backend connection: {error}"));
            }
            backend.writable_interest = write_waits;
        }
        let cref = exchange.client;
        let Some(conn) = client_of(clients, cref) else {
            return BackendStep::ClientGone;
        };
        // The answer is taken at the backend's pace whatever the client does: what the
        // client has not taken yet waits in its output queue (memory, then spool file).
        // Only when the spool budget is used up does the client's pace count again.
        let mut finished = None;
        let may_read = !exchange.response_started() || conn.accepts_output();
        let read = if may_read {
            read_unless_drained(stream, drained, scratch)
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        };
        match read {
            Ok(0) => match exchange.on_backend_eof() {
                Ok(finish) => finished = Some(finish),
                Err(bad) => return BackendStep::Failed(bad.0.to_string()),
            },
            Ok(n) => {
                progress = true;
                let data = scratch.get(..n).unwrap_or_default();
                relay.clear();
                match exchange.on_response_bytes(data, relay) {
                    Ok(outcome) => finished = outcome,
                    Err(bad) => return BackendStep::Failed(bad.0.to_string()),
                }
                if let Err(error) = conn.queue(relay) {
                    log::warn!("{}: cannot spool the answer: {error}", conn.peer);
                    return BackendStep::ClientWriteFailed(cref);
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => progress = true,
            Err(error) => return BackendStep::Failed(format!("reading the response: {error}")),
        }
        if conn.has_unsent() {
            match conn.flush() {
                Ok(moved) => {
                    note_output(timers, conn, cref.slot, limits.head_timeout, moved);
                    // Room made for the client may be what a skipped read above waited for.
                    progress |= moved;
                }
                Err(error) => {
                    log::debug!("{}: write failed: {error}", conn.peer);
                    return BackendStep::ClientWriteFailed(cref);
                }
            }
        }
        if let Some(finish) = finished {
            BackendStep::Finished(finish)
        } else if progress {
            BackendStep::Progress
        } else {
            BackendStep::Stalled
        }
    }

    fn finish_exchange(&mut self, index: usize, finish: Finish) {
        let Some(exchange) = self
            .backends
            .get_mut(index)
            .and_then(|backend| backend.exchange.take())
        else {
            return;
        };
        let keep_backend = match &finish {
            Finish::Relayed { keep_backend, .. } | Finish::Park { keep_backend, .. } => {
                *keep_backend
            }
        };
        if !keep_backend || !exchange.request_sent() {
            self.drop_backend_stream(index);
        }
        self.work.push_back(Work::Dispatch);
        let cref = exchange.client;
        let shutting_down = self.shutdown_deadline.is_some();
        let limits = &self.limits;
        let Some(conn) = client_of(&mut self.clients, cref) else {
            return;
        };
        // The exchange is over: the connection must no longer point at the backend.
        conn.phase = Phase::Closing;
        self.work.push_back(Work::Client(cref));
        match finish {
            Finish::Relayed {
                client_keep_alive, ..
            } => {
                conn.requests_served += 1;
                let now = Instant::now();
                if conn.output_spooled() {
                    log::debug!(
                        "{}: answer complete, {} bytes still to send (partly spooled)",
                        conn.peer,
                        conn.pending_out()
                    );
                }
                if client_keep_alive && !conn.peer_closed && !shutting_down && conn.has_unsent() {
                    // Sent at the client's pace; the backend connection is already free.
                    conn.phase = Phase::Sending;
                    if !matches!(conn.deadline, Some((_, DeadlineKind::Send))) {
                        let at = now + limits.head_timeout;
                        set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Send);
                    }
                } else if client_keep_alive && !conn.peer_closed && !shutting_down {
                    conn.phase = Phase::ReadingHead;
                    if conn.inbuf.is_empty() {
                        conn.release_buffers();
                        let at = now + limits.idle_timeout;
                        set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Idle);
                    } else {
                        let at = now + limits.head_timeout;
                        set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Head);
                    }
                } else if !matches!(conn.deadline, Some((_, DeadlineKind::Send))) {
                    let at = now + limits.head_timeout;
                    set_deadline(&mut self.timers, conn, cref.slot, at, DeadlineKind::Send);
                }
            }
            Finish::Park { park, .. } => {
                let handed_over = exchange.started;
                self.park(cref, exchange.into_request(), park, handed_over);
            }
        }
    }

    fn backend_failed(&mut self, index: usize, reason: &str) {
        let exchange = self
            .backends
            .get_mut(index)
            .and_then(|backend| backend.exchange.take());
        self.drop_backend_stream(index);
        self.work.push_back(Work::Dispatch);
        log::warn!("backend exchange failed: {reason}");
        let Some(exchange) = exchange else {
            return;
        };
        let cref = exchange.client;
        if exchange.response_started() {
            // Part of the response is out; closing early is the only way to say so.
            let stall = self.limits.head_timeout;
            if let Some(conn) = client_of(&mut self.clients, cref) {
                conn.phase = Phase::Closing;
                set_deadline(
                    &mut self.timers,
                    conn,
                    cref.slot,
                    Instant::now() + stall,
                    DeadlineKind::Send,
                );
                self.work.push_back(Work::Client(cref));
            }
        } else {
            self.fail(cref, 502, None);
        }
    }

    // ----- shutdown ----------------------------------------------------------------

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        log::debug!("front door shutting down");
        self.shutdown_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
        for listener in &mut self.listeners {
            if let Some(mut socket) = listener.socket.take() {
                let _ = self.poll.registry().deregister(&mut socket);
            }
        }
        for cref in self.parks.all() {
            self.resume(cref, ResumeReason::Shutdown);
        }
        for cref in self.live_connections() {
            let Some(conn) = client_of(&mut self.clients, cref) else {
                continue;
            };
            match conn.phase {
                Phase::ReadingHead if conn.inbuf.is_empty() => {
                    if conn.has_unsent() {
                        conn.phase = Phase::Closing;
                        self.work.push_back(Work::Client(cref));
                    } else {
                        self.close_client(cref);
                    }
                }
                Phase::Lingering => self.close_client(cref),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_reported_without_ipv4_mapping() {
        let mapped: SocketAddr = "[::ffff:192.0.2.9]:4000".parse().unwrap();
        assert_eq!(canonical_peer(mapped).to_string(), "192.0.2.9:4000");
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(canonical_peer(v6).to_string(), "[2001:db8::1]:443");
    }
}
