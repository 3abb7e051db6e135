//! The blocking request loop behind the front door: one thread taking one request at a time
//! from tiny_http on a private Unix socket. It owns what a request *means*: the MS-ASHTTP
//! query, Basic authentication, protocol version checks, device records, dispatch to the EAS
//! commands and autodiscover, and the per-request log line. While no request waits it does
//! the work between requests ([`idle`]): indexing the mail an upgrade left unindexed and
//! sending the outbox, a small step at a time. Sockets, TLS, limits and waiting requests belong to
//! [`crate::http`].

pub mod answer;
pub mod auth;
pub mod containment;
pub mod idle;
pub mod throttle;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use log::{debug, info, warn};

use crate::autodiscover::{self, AccountInfo, AutodiscoverSettings};
use crate::eas::query::{parse_query, Command, QueryError};
use crate::eas::{self, ProtocolVersion, Reply, WBXML_CONTENT_TYPE};
use crate::logsafe::{escaped, escaped_text};
use crate::store::{DeviceSeen, Store, User};
use crate::wbxml;
use answer::Answer;
use auth::{Credentials, Logins, Outcome};

/// The path of the EAS endpoint, compared case-insensitively.
const ACTIVESYNC_PATH: &str = "/microsoft-server-activesync";
/// The path of the autodiscover endpoint, compared case-insensitively.
const AUTODISCOVER_PATH: &str = "/autodiscover/autodiscover.xml";

/// What the request loop needs from the start-up configuration.
pub struct BackendSettings {
    /// Largest request body read; the front door already refuses larger ones.
    pub max_body_bytes: u64,
    /// Log every request and response decoded to XML (passwords redacted).
    pub debug_wire: bool,
    pub autodiscover: AutodiscoverSettings,
    /// Where change notifications go (config `notify`); `None`: nobody is told.
    pub notify: Option<std::net::SocketAddr>,
    /// The outgoing-mail program and its first arguments (config `submission-command`).
    pub submission_command: Vec<String>,
    /// The administrator's address (config `admin-email`).
    pub admin_email: Option<String>,
    /// The CA certificates ValidateCert trusts (config `smime-trust-store`).
    pub smime_trust_store: std::path::PathBuf,
    /// Lockouts and hash budget for failed logins (config `login-*`).
    pub throttle: throttle::ThrottleSettings,
    /// The web page's server address and CA certificate.
    pub web: crate::web::WebSettings,
    /// Honour the test-only fault header (`EASD_TEST_FAULTS=1`; see [`containment`]).
    pub test_faults: bool,
    /// When refused outbox mail is tried again ([`crate::outbox::backoff_from_env`]).
    pub outbox_backoff: crate::store::Backoff,
}

/// The request handler: the store plus what it remembers between requests.
pub struct Backend {
    store: Store,
    settings: BackendSettings,
    logins: Logins,
}

/// Facts about one request for its log line.
#[derive(Default)]
struct LogFields {
    user: String,
    device: String,
    command: String,
}

impl Backend {
    pub fn new(store: Store, settings: BackendSettings) -> Backend {
        Backend {
            store,
            logins: Logins::new(settings.throttle.clone()),
            settings,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves requests until the server is unblocked (shutdown). `stopping` is set before
    /// the unblock: while the loop polls (it has idle work) it may take the unblock for
    /// "nothing waiting", so it checks the flag too. `outbox_hint` is set (and the loop
    /// unblocked) when another process may have queued mail for it to send: the front door
    /// does so on every change notification, and `easd deliver` sends one. The outbox's next
    /// due time is re-read then, and after a request that queued mail, not after every
    /// request.
    pub fn run(
        &mut self,
        server: &tiny_http::Server,
        stopping: &AtomicBool,
        outbox_hint: &AtomicBool,
    ) {
        let mut idle = idle::IdleWork::new(
            &self.store,
            self.settings.outbox_backoff,
            crate::store::now(),
        );
        loop {
            if outbox_hint.swap(false, Ordering::SeqCst) {
                idle.reread_outbox(&self.store);
            }
            let next = match idle.wait(crate::store::now()) {
                idle::Wait::NoTime => server.try_recv(),
                idle::Wait::For(time) => server.recv_timeout(time),
            };
            match next {
                Ok(Some(request)) => {
                    self.serve(request);
                    // Mail the request queued is due at once.
                    if self.store.take_mail_queued() {
                        idle.reread_outbox(&self.store);
                    }
                }
                Ok(None) if stopping.load(Ordering::SeqCst) => break,
                Ok(None) => {
                    let outbox = idle::OutboxSettings {
                        submission_command: &self.settings.submission_command,
                        notify: self.settings.notify,
                    };
                    idle.step(&self.store, &outbox, crate::store::now());
                }
                Err(_) => break,
            }
        }
    }

    /// Answers one request (contained: a panic becomes 500) and writes its log line.
    fn serve(&mut self, mut request: tiny_http::Request) {
        let started = Instant::now();
        let mut fields = LogFields::default();
        let request_line = format!("{} {}", request.method(), request.url());
        let handled =
            containment::contain(&request_line, || self.handle(&mut request, &mut fields));
        let answer = handled.unwrap_or_else(|_| {
            containment::ensure_no_open_transaction(&self.store);
            Answer::status(500)
        });
        let peer = header(&request, RequestHeader::Peer).unwrap_or_default();
        let command = if fields.command.is_empty() {
            request.method().as_str().to_string()
        } else {
            fields.command.clone()
        };
        info!(
            "{} {} {} {} {} {} {}ms",
            or_dash(&peer),
            or_dash(&fields.user),
            or_dash(&fields.device),
            escaped(&command),
            escaped(request.url().split('?').next().unwrap_or_default()),
            answer.status,
            started.elapsed().as_millis()
        );
        let response = answer.into_response(&self.store);
        // Streamed answers read the store while they are sent, so sending is contained too.
        match containment::contain(&request_line, move || request.respond(response)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => debug!("response not delivered: {e}"),
            Err(_) => {
                containment::ensure_no_open_transaction(&self.store);
            }
        }
    }

    fn handle(&mut self, request: &mut tiny_http::Request, fields: &mut LogFields) -> Answer {
        let url = request.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        let path = path.trim_end_matches('/').to_ascii_lowercase();
        if path == ACTIVESYNC_PATH {
            self.activesync(request, query, fields)
        } else if path == AUTODISCOVER_PATH {
            self.autodiscover(request, fields)
        } else if crate::web::is_web_path(&path) {
            self.web_page(request, &path, query, fields)
        } else {
            Answer::status(404)
        }
    }

    /// Checks the Basic credentials; `Err` is the 401 to send.
    fn authenticate(
        logins: &mut Logins,
        store: &Store,
        request: &tiny_http::Request,
        fields: &mut LogFields,
    ) -> Result<User, Answer> {
        let credentials: Option<Credentials> =
            header(request, RequestHeader::Authorization).and_then(|h| auth::parse_basic(&h));
        let Some(credentials) = credentials else {
            return Err(Answer::unauthorized());
        };
        fields.user = credentials.login.clone();
        let peer = header(request, RequestHeader::Peer).and_then(|text| peer_ip(&text));
        match logins.authenticate(store, &credentials, peer) {
            Ok(Outcome::Accepted(user)) => {
                fields.user = user.email.clone();
                Ok(user)
            }
            Ok(Outcome::Failed { locked }) => {
                auth::log_failure(peer, &credentials.login, &locked);
                Err(Answer::unauthorized())
            }
            Ok(Outcome::Refused(refusal)) => {
                debug!("login refused unchecked: {refusal:?}");
                // MS-ASHTTP 3.1.5.2.3: 503 when the client's actions triggered throttling;
                // clients wait for Retry-After. Not 401, which makes phones ask for a password.
                Err(Answer::status(503)
                    .header("Retry-After", &refusal.retry_after_secs().to_string()))
            }
            Err(e) => {
                warn!("authentication: {e}");
                Err(Answer::status(500))
            }
        }
    }

    fn activesync(
        &mut self,
        request: &mut tiny_http::Request,
        query_text: &str,
        fields: &mut LogFields,
    ) -> Answer {
        // Up to the policy gate the request usually only reads: one snapshot (one WAL read
        // lock) for the login, the query's user, the policy, the device and its provisioning
        // state instead of a lock per query. It ends before anything is written.
        let snapshot = match self.store.read_snapshot() {
            Ok(snapshot) => snapshot,
            Err(e) => return internal_error(&e),
        };
        let user = match Self::authenticate(&mut self.logins, &self.store, request, fields) {
            Ok(user) => user,
            Err(answer) => return answer,
        };
        match request.method() {
            tiny_http::Method::Options => return self.options(&user, query_text),
            tiny_http::Method::Post => {}
            _ => return Answer::status(405).header("Allow", "OPTIONS,POST"),
        }
        let mut query = match parse_query(query_text) {
            Ok(query) => query,
            Err(QueryError::UnknownCommand(name)) => {
                fields.command = name;
                return Answer::status(501);
            }
            Err(e) => {
                debug!(
                    "bad query {:?}: {}",
                    escaped(query_text),
                    escaped_text(&e.to_string(), 1024)
                );
                return Answer::status(400);
            }
        };
        fields.command = query.command.name().to_string();
        fields.device = query.device_id.clone();
        // The plain query form asks for a multipart ItemOperations answer with this header.
        if header(request, RequestHeader::AcceptMultiPart)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("T"))
        {
            query.accept_multipart = true;
        }

        // The query's User names whose mailbox is meant; it must be the one who logged in.
        // Phones name themselves by the address they logged in with: that needs no lookup.
        if let Some(named) = query
            .user
            .as_deref()
            .filter(|u| !u.is_empty() && !u.trim().eq_ignore_ascii_case(&user.email))
        {
            match self.store.find_login(named) {
                Ok(Some(other)) if other.id == user.id => {}
                Ok(_) => return Answer::status(403),
                Err(e) => return internal_error(&e),
            }
        }

        let version_text = query
            .protocol_version
            .clone()
            .or_else(|| header(request, RequestHeader::ProtocolVersion));
        // The policy in force for this user and device: the newest version it allows caps
        // the version check, and the gate below enforces it.
        let policy = match self.store.effective_policy(&user, Some(&query.device_id)) {
            Ok(policy) => policy,
            Err(e) => return internal_error(&e),
        };
        let Some(version) = version_text
            .as_deref()
            .and_then(ProtocolVersion::parse)
            .filter(|v| *v <= policy.max_version())
        else {
            return Answer::status(400).header("MS-ASProtocolVersions", &policy.versions_header());
        };

        let user_agent = header(request, RequestHeader::UserAgent).unwrap_or_default();
        let seen = DeviceSeen {
            device_id: &query.device_id,
            device_type: &query.device_type,
            user_agent: &user_agent,
            protocol_version: version.as_str(),
            now: crate::store::now(),
        };
        // A parked request sent again by the front door (heartbeat over, a change, shutdown)
        // is the contact that parked it, already recorded: recording it again would write a
        // phone's last_seen at every heartbeat's end, and at shutdown for every parked phone
        // at once (an fsync each).
        let resumed = header(request, RequestHeader::Resume).is_some();
        let gated =
            query.command != Command::Provision && eas::IMPLEMENTED.contains(&query.command);
        // Still in the snapshot: the device as stored when this contact changes nothing
        // (the usual case; `None` when it must be recorded, a write) and, in the same
        // statement, its provisioning state when the policy gate needs it.
        let stored = if gated {
            self.store
                .device_with_provisioning(user.id, &query.device_id)
                .map(|found| found.map_or((None, None), |(d, p)| (Some(d), Some(p))))
        } else {
            self.store
                .device(user.id, &query.device_id)
                .map(|found| (found, None))
        };
        let reads = stored.and_then(|(known, provisioning)| {
            let known = if resumed {
                known
            } else {
                self.store.as_recorded(known, &seen)?
            };
            let provisioning = known.as_ref().and(provisioning);
            Ok((known, provisioning))
        });
        let (known, provisioning) = match reads {
            Ok(reads) => reads,
            Err(e) => return internal_error(&e),
        };
        let policy_key = header(request, RequestHeader::PolicyKey)
            .and_then(|text| text.trim().parse::<u32>().ok())
            .or(query.policy_key);
        let now = crate::store::now();
        let admin_email = self.settings.admin_email.as_deref();
        // The gate decides from the snapshot's reads; what it writes waits for the gate's
        // turn below, after the snapshot.
        let decision = match (&known, &provisioning) {
            (Some(device), Some(state)) => {
                let input = eas::policy_gate::GateInput {
                    store: &self.store,
                    user: &user,
                    device,
                    policy: &policy,
                    policy_key,
                    now,
                    admin_email,
                };
                Some(eas::policy_gate::decide(&input, state))
            }
            _ => None,
        };
        // A command that reads in the request's snapshot gets it still open when nothing
        // is written before the command: the device is recorded and the gate writes nothing.
        let snapshot = if eas::READS_IN_REQUEST_SNAPSHOT.contains(&query.command)
            && known.is_some()
            && decision.as_ref().is_some_and(|d| d.writes_nothing())
            && !(self.settings.test_faults && header(request, RequestHeader::TestFault).is_some())
        {
            Some(snapshot)
        } else {
            if let Err(e) = snapshot.end() {
                return internal_error(&e);
            }
            None
        };
        let device = match known.map_or_else(|| self.store.record_device(user.id, &seen), Ok) {
            Ok(device) => device,
            Err(e) => return internal_error(&e),
        };

        let raw_body = match read_body(request, self.settings.max_body_bytes) {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        let body = if raw_body.is_empty() || !is_wbxml(request, &raw_body) {
            None
        } else {
            match wbxml::decode(&raw_body) {
                Ok(doc) => Some(doc),
                Err(e) => {
                    debug!("undecodable WBXML body: {e}");
                    return Answer::status(400);
                }
            }
        };
        if self.settings.debug_wire {
            if let Some(doc) = &body {
                debug!("request {}:\n{}", fields.command, redacted_xml(doc));
            }
        }

        if gated {
            let input = eas::policy_gate::GateInput {
                store: &self.store,
                user: &user,
                device: &device,
                policy: &policy,
                policy_key,
                now,
                admin_email,
            };
            let gate = match (decision, &provisioning) {
                (Some(decision), Some(state)) => decision.apply(&input, state),
                _ => eas::policy_gate::check(&input),
            };
            match gate {
                Ok(outcome) => {
                    if outcome.notice_filed {
                        if let Some(addr) = self.settings.notify {
                            crate::push::notify(addr, &user.email);
                        }
                    }
                    if let eas::policy_gate::Verdict::Refuse(code) = outcome.verdict {
                        debug!(
                            "{} refused by the policy gate: {code}",
                            escaped(&fields.device)
                        );
                        return match eas::policy_gate::refusal(query.command, version, code) {
                            Ok(doc) => Answer::wbxml(wbxml::encode(&doc)),
                            Err(status) => Answer::status(status),
                        };
                    }
                }
                Err(e) => return internal_error(&e),
            }
        }

        let eas_request = eas::Request {
            store: &self.store,
            user: &user,
            device: &device,
            version,
            query: &query,
            body: body.as_ref(),
            raw_body: &raw_body,
            submission_command: &self.settings.submission_command,
            resume: header(request, RequestHeader::Resume)
                .and_then(|text| eas::Resume::parse(&text)),
            changed: std::cell::Cell::new(false),
            notify: self.settings.notify,
            policy: &policy,
            admin_email: self.settings.admin_email.as_deref(),
            smime_trust_store: &self.settings.smime_trust_store,
            snapshot: std::cell::Cell::new(snapshot.map(|s| s.leave_open())),
        };
        if self.settings.test_faults {
            let fault = header(request, RequestHeader::TestFault);
            if let Some(fault) = fault.as_deref().and_then(containment::TestFault::parse) {
                if let Err(e) = containment::inject_test_fault(&self.store, fault) {
                    return internal_error(&e);
                }
            }
        }
        let Some(outcome) = eas::execute(query.command, &eas_request) else {
            return Answer::status(501);
        };
        // A command that answered before its reads leaves the snapshot to end here.
        if let Some(open) = eas_request.snapshot.take() {
            if let Err(e) = self.store.resume_snapshot(open).end() {
                return internal_error(&e);
            }
        }
        let hierarchy_command = matches!(
            query.command,
            Command::FolderCreate | Command::FolderUpdate | Command::FolderDelete
        );
        if eas_request.changed.get() || hierarchy_command {
            // After the command's transaction committed: the user's other devices may wait.
            if let Some(addr) = self.settings.notify {
                crate::push::notify(addr, &user.email);
            }
        }
        match outcome {
            Ok(Reply::Document(doc)) => {
                if self.settings.debug_wire {
                    debug!("response {}:\n{}", fields.command, redacted_xml(&doc));
                }
                Answer::wbxml(wbxml::encode(&doc))
            }
            Ok(Reply::Empty) => Answer::eas_empty(),
            Ok(Reply::HttpStatus(code)) => Answer::status(code),
            Ok(Reply::Binary {
                content_type,
                pieces,
            }) => {
                let mut answer = Answer::eas_empty().header("Content-Type", &content_type);
                answer.tail = pieces;
                answer
            }
            Ok(Reply::Park { seconds }) => Answer::status(200)
                .header("X-Easd-Park", &seconds.to_string())
                .header("X-Easd-Park-Key", &user.email.to_ascii_lowercase())
                .header(
                    "X-Easd-Park-Device",
                    &format!("{}+{}", user.email.to_ascii_lowercase(), device.device_id),
                ),
            Err(e) => {
                let error = e.to_string();
                warn!(
                    "{} for {}: {}",
                    fields.command,
                    user.email,
                    escaped_text(&error, 1024)
                );
                Answer::status(500)
            }
        }
    }

    /// The family's web page ([`crate::web`]), with this loop's logins and notifications.
    fn web_page(
        &mut self,
        request: &mut tiny_http::Request,
        path: &str,
        query: &str,
        fields: &mut LogFields,
    ) -> Answer {
        fields.command = "Web".to_string();
        let body = match read_body(request, crate::web::MAX_FORM_BYTES) {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        let method = request.method().as_str().to_string();
        let cookie_header = header(request, RequestHeader::Cookie);
        let page_request = crate::web::WebRequest {
            method: &method,
            path,
            query,
            cookie_header: cookie_header.as_deref(),
            tls: header(request, RequestHeader::Tls).is_some_and(|v| v.trim() == "1"),
            peer: header(request, RequestHeader::Peer).and_then(|text| peer_ip(&text)),
            body: &body,
        };
        let mut env = crate::web::WebEnv {
            store: &self.store,
            settings: &self.settings.web,
            logins: &mut self.logins,
            notify: self.settings.notify,
        };
        let page = crate::web::serve(&mut env, &page_request);
        let mut answer = Answer::status(page.status);
        answer.headers.extend(page.headers);
        answer.body = page.body;
        answer
    }

    /// OPTIONS: the versions the user's policy allows (and the device's, when the query
    /// names one) and the commands easd serves.
    fn options(&self, user: &User, query_text: &str) -> Answer {
        let device_id = parse_query(query_text).ok().map(|q| q.device_id);
        match self
            .store
            .effective_policy(user, device_id.as_deref().filter(|d| !d.is_empty()))
        {
            Ok(policy) => Answer::options(&policy.versions_header()),
            Err(e) => internal_error(&e),
        }
    }

    fn autodiscover(&mut self, request: &mut tiny_http::Request, fields: &mut LogFields) -> Answer {
        fields.command = "Autodiscover".to_string();
        let user = match Self::authenticate(&mut self.logins, &self.store, request, fields) {
            Ok(user) => user,
            Err(answer) => return answer,
        };
        if request.method() != &tiny_http::Method::Post {
            return Answer::status(405).header("Allow", "POST");
        }
        let body = match read_body(request, self.settings.max_body_bytes) {
            Ok(body) => body,
            Err(answer) => return answer,
        };
        let parsed = match autodiscover::parse_request(&body) {
            Ok(parsed) => parsed,
            Err(e) => {
                debug!(
                    "autodiscover request not understood: {}",
                    escaped_text(&e.to_string(), 1024)
                );
                // MS-OXDSCLI answers a bad request with its error document, over HTTP 200.
                let xml = autodiscover::error_response(e.error_code(), &self.settings.autodiscover);
                return Answer::xml(200, xml);
            }
        };
        // One user never learns about another: the address asked for must be the caller's.
        let account = AccountInfo {
            email: user.email.clone(),
            display_name: user.display_name.clone(),
        };
        let known = parsed.email.eq_ignore_ascii_case(&user.email);
        let xml = autodiscover::respond(
            &parsed,
            known.then_some(&account),
            &self.settings.autodiscover,
        );
        Answer::xml(200, xml)
    }
}

/// A request-derived log field, escaped and capped; `-` when empty.
fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        escaped(text).to_string()
    }
}

/// The client address from `X-Easd-Peer` (`ip:port` or `[ipv6]:port`, or a bare address).
fn peer_ip(text: &str) -> Option<std::net::IpAddr> {
    let text = text.trim();
    text.parse::<std::net::SocketAddr>()
        .map(|addr| addr.ip())
        .or_else(|_| text.parse())
        .ok()
}

fn internal_error(e: &dyn std::fmt::Display) -> Answer {
    warn!("internal error: {}", escaped_text(&e.to_string(), 1024));
    Answer::status(500)
}

/// The request headers the request loop reads: [`header`] reads no other, and the front
/// door forwards no other client header ([`RequestHeader::FROM_CLIENTS`]), so tiny_http
/// does not parse, a byte at a time, what nothing here reads. No log prints the headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestHeader {
    Authorization,
    ContentType,
    /// The web page's session.
    Cookie,
    UserAgent,
    AcceptMultiPart,
    ProtocolVersion,
    PolicyKey,
    /// [`containment::TEST_FAULT_HEADER`], honoured only with `EASD_TEST_FAULTS=1`.
    TestFault,
    /// Added by the front door: the client's address.
    Peer,
    /// Added by the front door: whether the client spoke TLS.
    Tls,
    /// Added by the front door to a parked request it sends again.
    Resume,
}

impl RequestHeader {
    /// Every header the request loop reads.
    pub const ALL: [RequestHeader; 11] = [
        RequestHeader::Authorization,
        RequestHeader::ContentType,
        RequestHeader::Cookie,
        RequestHeader::UserAgent,
        RequestHeader::AcceptMultiPart,
        RequestHeader::ProtocolVersion,
        RequestHeader::PolicyKey,
        RequestHeader::TestFault,
        RequestHeader::Peer,
        RequestHeader::Tls,
        RequestHeader::Resume,
    ];

    /// The client headers the front door forwards (its own `X-Easd-` ones it adds itself).
    pub const FROM_CLIENTS: &'static [&'static str] = &[
        "Authorization",
        "Content-Type",
        "Cookie",
        "User-Agent",
        "MS-ASAcceptMultiPart",
        "MS-ASProtocolVersion",
        "X-MS-PolicyKey",
        containment::TEST_FAULT_HEADER,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RequestHeader::Authorization => "Authorization",
            RequestHeader::ContentType => "Content-Type",
            RequestHeader::Cookie => "Cookie",
            RequestHeader::UserAgent => "User-Agent",
            RequestHeader::AcceptMultiPart => "MS-ASAcceptMultiPart",
            RequestHeader::ProtocolVersion => "MS-ASProtocolVersion",
            RequestHeader::PolicyKey => "X-MS-PolicyKey",
            RequestHeader::TestFault => containment::TEST_FAULT_HEADER,
            RequestHeader::Peer => "X-Easd-Peer",
            RequestHeader::Tls => "X-Easd-Tls",
            RequestHeader::Resume => "X-Easd-Resume",
        }
    }
}

/// The first value of a request header, case-insensitively.
pub fn header(request: &tiny_http::Request, wanted: RequestHeader) -> Option<String> {
    let name = wanted.name();
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}

/// WBXML bodies are recognised by their media type, or by the WBXML 1.3 version byte when a
/// client leaves the type out.
fn is_wbxml(request: &tiny_http::Request, body: &[u8]) -> bool {
    match header(request, RequestHeader::ContentType) {
        Some(media) => media.to_ascii_lowercase().starts_with(WBXML_CONTENT_TYPE),
        None => body.first() == Some(&0x03),
    }
}

/// Reads the request body, refusing one larger than `limit` with 413.
fn read_body(request: &mut tiny_http::Request, limit: u64) -> Result<Vec<u8>, Answer> {
    if request.body_length().is_some_and(|len| len as u64 > limit) {
        return Err(Answer::status(413));
    }
    let mut body = Vec::with_capacity(request.body_length().unwrap_or(0).min(1 << 20));
    match request.as_reader().take(limit + 1).read_to_end(&mut body) {
        Ok(_) if body.len() as u64 > limit => Err(Answer::status(413)),
        Ok(_) => Ok(body),
        Err(e) => {
            debug!("request body unreadable: {e}");
            Err(Answer::status(400))
        }
    }
}

/// The XML form of a document for the debug log, with secrets blanked out and the text of
/// every element on one line (a newline in a client's text must not forge a log line).
fn redacted_xml(doc: &wbxml::Element) -> String {
    let mut copy = doc.clone();
    redact(&mut copy);
    wbxml::xml::to_xml(&copy)
}

fn redact(element: &mut wbxml::Element) {
    use wbxml::tag::settings;
    if element.tag == settings::PASSWORD {
        element.children = vec![wbxml::Node::Text("********".into())];
        return;
    }
    for child in element.children.iter_mut() {
        match child {
            wbxml::Node::Element(e) => redact(e),
            wbxml::Node::Text(text) => *text = escaped_text(text, usize::MAX).to_string(),
            wbxml::Node::Opaque(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wbxml::{tag::settings, Element};

    #[test]
    fn debug_xml_hides_device_passwords() {
        let mut doc = Element::new(settings::SETTINGS);
        doc.push(Element::new(settings::DEVICE_PASSWORD))
            .push(Element::new(settings::SET))
            .push_text(settings::PASSWORD, "hunter2");
        let xml = redacted_xml(&doc);
        assert!(!xml.contains("hunter2"), "{xml}");
        assert!(xml.contains("********"), "{xml}");
    }

    #[test]
    fn debug_xml_keeps_client_text_on_one_line() {
        let mut doc = Element::new(settings::SETTINGS);
        doc.push(Element::new(settings::DEVICE_INFORMATION))
            .push(Element::new(settings::SET))
            .push_text(
                settings::MODEL,
                "x\n[WARN] auth failure from 6.6.6.6 user \"y\"",
            );
        let xml = redacted_xml(&doc);
        assert!(xml.lines().all(|line| !line.starts_with("[WARN]")), "{xml}");
        assert!(xml.contains("x\\n[WARN]"), "{xml}");
    }

    #[test]
    fn every_header_the_loop_reads_is_forwarded_by_the_front_door_or_added_by_it() {
        for wanted in RequestHeader::ALL {
            let name = wanted.name();
            let from_front_door = name.to_ascii_lowercase().starts_with("x-easd-");
            let forwarded = RequestHeader::FROM_CLIENTS
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name));
            assert!(forwarded != from_front_door, "{name}");
        }
        // And nothing else is forwarded.
        assert_eq!(
            RequestHeader::FROM_CLIENTS.len(),
            RequestHeader::ALL
                .iter()
                .filter(|h| !h.name().to_ascii_lowercase().starts_with("x-easd-"))
                .count()
        );
    }

    #[test]
    fn the_peer_address_is_read_with_or_without_a_port() {
        assert_eq!(peer_ip("192.0.2.7:5123"), Some([192, 0, 2, 7].into()));
        assert_eq!(peer_ip("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(peer_ip("2001:db8::1"), "2001:db8::1".parse().ok());
        assert_eq!(peer_ip("garbage"), None);
    }
}
