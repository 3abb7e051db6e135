//! EAS commands, one module per command (MS-ASCMD). The server module authenticates the request,
//! records the device and hands each command a [`Request`]; the command answers with a [`Reply`]
//! and never touches HTTP itself. A command reports protocol problems through its own Status
//! element; only failures of the store come back as [`CommandError`], which becomes HTTP 500.

mod compose;
pub mod device_view;
pub mod find;
pub mod folder_create;
pub mod folder_delete;
pub mod folder_sync;
pub mod folder_update;
pub mod get_attachment;
pub mod get_item_estimate;
mod hierarchy;
pub mod item_operations;
mod mail_query;
pub mod meeting_response;
pub mod meetings;
pub mod move_items;
pub mod organizer;
mod picture;
pub mod ping;
pub mod policy_gate;
pub mod provision;
pub mod provision_doc;
pub mod query;
pub mod resolve_recipients;
pub mod search;
pub mod send_mail;
pub mod settings;
pub mod smart_forward;
pub mod smart_reply;
pub mod stream;
pub mod sync;
pub mod validate_cert;
pub mod views;

pub use crate::protocol_version::ProtocolVersion;

use std::cell::Cell;

use crate::policy::EffectivePolicy;
use crate::store::{Device, OpenSnapshot, ReadSnapshot, Store, StoreError, User};
use crate::wbxml::Element;
use query::{Command, EasQuery};

/// The WBXML media type of EAS bodies (MS-ASHTTP).
pub const WBXML_CONTENT_TYPE: &str = "application/vnd.ms-sync.wbxml";

/// Everything a command may look at: the authenticated user, the device, the negotiated
/// protocol version, the query and the decoded WBXML body (if the request had one).
pub struct Request<'a> {
    pub store: &'a Store,
    pub user: &'a User,
    pub device: &'a Device,
    pub version: ProtocolVersion,
    pub query: &'a EasQuery,
    pub body: Option<&'a Element>,
    /// The request body as sent (SendMail 12.x sends the MIME itself, `message/rfc822`).
    pub raw_body: &'a [u8],
    /// The outgoing-mail program and its first arguments (config `submission-command`).
    pub submission_command: &'a [String],
    /// Why the front door sent this request again after parking it (`None` the first time).
    pub resume: Option<Resume>,
    /// Set by a command that committed a change other devices of the user should hear
    /// about; the request loop then sends the push notification.
    pub changed: Cell<bool>,
    /// Where change notifications go (config `notify`), for [`Request::notify_user`].
    pub notify: Option<std::net::SocketAddr>,
    /// The security policy in force for this user and device (after inheritance); commands
    /// cap what they send by it (FilterType, bodies, HTML, attachments).
    pub policy: &'a EffectivePolicy,
    /// The administrator's address (config `admin-email`), Cc of the notices easd files.
    pub admin_email: Option<&'a str>,
    /// The CA certificates ValidateCert trusts (config `smime-trust-store`).
    pub smime_trust_store: &'a std::path::Path,
    /// The request loop's read snapshot, still open, for a command of
    /// [`READS_IN_REQUEST_SNAPSHOT`] to continue its reads in ([`Request::read_snapshot`]).
    pub snapshot: Cell<Option<OpenSnapshot>>,
}

/// The commands that begin by reading in [`Request::read_snapshot`] and end it before any
/// write: the request loop may leave its own snapshot (login, policy, device) open for them,
/// so a request that changes nothing reads in one transaction. Any other command runs
/// after that snapshot ended. (A write inside a snapshot fails, see
/// [`Store::read_snapshot`], so a mistake here cannot write silently.)
pub const READS_IN_REQUEST_SNAPSHOT: &[Command] = &[Command::FolderSync, Command::Sync];

impl<'a> Request<'a> {
    /// A read snapshot for the command's reads: the request loop's, when it left one open
    /// (taken, so only the first call gets it), else a new one.
    pub fn read_snapshot(&self) -> Result<ReadSnapshot<'a>, StoreError> {
        match self.snapshot.take() {
            Some(open) => Ok(self.store.resume_snapshot(open)),
            None => self.store.read_snapshot(),
        }
    }

    /// Records that this request changed the user's data (see [`Request::changed`]).
    pub fn note_change(&self) {
        self.changed.set(true);
    }

    /// Tells the server that another user's data changed (e.g. mail delivered locally), after
    /// the transaction committed, so that user's waiting devices answer.
    pub fn notify_user(&self, email: &str) {
        if let Some(addr) = self.notify {
            crate::push::notify(addr, email);
        }
    }
}

/// The `X-Easd-Resume` reasons of the parking protocol (docs/ARCHITECTURE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The wait ended.
    Timeout,
    /// A change notification for the user arrived.
    Notify,
    /// A newer waiting request of the same device replaced this one.
    Superseded,
    /// The server is stopping.
    Shutdown,
}

impl Resume {
    /// The header value; `None` for anything else (treated as a first request).
    pub fn parse(text: &str) -> Option<Resume> {
        match text.trim() {
            "timeout" => Some(Resume::Timeout),
            "notify" => Some(Resume::Notify),
            "superseded" => Some(Resume::Superseded),
            "shutdown" => Some(Resume::Shutdown),
            _ => None,
        }
    }
}

/// What a command answers.
#[derive(Debug)]
pub enum Reply {
    /// HTTP 200 with this document as WBXML.
    Document(Element),
    /// HTTP 200 with an empty body.
    Empty,
    /// An answer that MS-ASHTTP gives as a bare HTTP status (e.g. 400 for a body that is not
    /// the command's document at all).
    HttpStatus(u16),
    /// Nothing to say yet: the front door holds the request for up to `seconds` and sends it
    /// again (with [`Request::resume`] set) when that time is up or the user's data changes.
    Park { seconds: u64 },
    /// HTTP 200 with these bytes as they are (an attachment, a multipart ItemOperations),
    /// sent piece after piece so that a large piece is never copied into one buffer.
    Binary {
        content_type: String,
        pieces: Vec<Piece>,
    },
}

/// One piece of a [`Reply::Binary`] answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes already in memory (a document, a multipart table).
    Bytes(Vec<u8>),
    /// A part of one of the user's stored messages (an attachment), decoded from the
    /// database while it is sent, so the request loop never holds it whole: `skip` decoded
    /// bytes are passed over, then `length` bytes go out — as base64 text when `base64`.
    Stored {
        user: crate::store::UserId,
        item: crate::store::ItemId,
        location: crate::mime::PartLocation,
        skip: u64,
        length: u64,
        base64: bool,
    },
}

impl Piece {
    /// How many bytes this piece puts on the wire.
    pub fn wire_len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::Stored { length, base64, .. } if *base64 => length.div_ceil(3) * 4,
            Piece::Stored { length, .. } => *length,
        }
    }
}

/// A failure that is not the client's fault.
#[derive(Debug)]
pub enum CommandError {
    Store(StoreError),
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        CommandError::Store(e)
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Store(e) => write!(f, "store: {e}"),
        }
    }
}

/// The commands easd implements, in the order `MS-ASProtocolCommands` lists them. Only these
/// are advertised in OPTIONS; everything else is answered 501.
pub const IMPLEMENTED: &[Command] = &[
    Command::Sync,
    Command::FolderSync,
    Command::FolderCreate,
    Command::FolderUpdate,
    Command::FolderDelete,
    Command::MoveItems,
    Command::GetItemEstimate,
    Command::MeetingResponse,
    Command::Settings,
    Command::Ping,
    Command::ItemOperations,
    Command::Provision,
    Command::GetAttachment,
    Command::SendMail,
    Command::SmartForward,
    Command::SmartReply,
    Command::Search,
    Command::ResolveRecipients,
    Command::ValidateCert,
    Command::Find,
];

/// The `MS-ASProtocolCommands` header value.
pub fn commands_header() -> String {
    let names: Vec<&str> = IMPLEMENTED.iter().map(|c| c.name()).collect();
    names.join(",")
}

/// Runs one command. `None` means easd does not implement it (the caller answers 501).
pub fn execute(command: Command, request: &Request) -> Option<Result<Reply, CommandError>> {
    match command {
        Command::Sync => Some(sync::handle(request)),
        Command::FolderSync => Some(folder_sync::handle(request)),
        Command::FolderCreate => Some(folder_create::handle(request)),
        Command::FolderUpdate => Some(folder_update::handle(request)),
        Command::FolderDelete => Some(folder_delete::handle(request)),
        Command::MoveItems => Some(move_items::handle(request)),
        Command::GetItemEstimate => Some(get_item_estimate::handle(request)),
        Command::MeetingResponse => Some(meeting_response::handle(request)),
        Command::Settings => Some(settings::handle(request)),
        Command::Ping => Some(ping::handle(request)),
        Command::ItemOperations => Some(item_operations::handle(request)),
        Command::Provision => Some(provision::handle(request)),
        Command::GetAttachment => Some(get_attachment::handle(request)),
        Command::SendMail => Some(send_mail::handle(request)),
        Command::SmartForward => Some(smart_forward::handle(request)),
        Command::SmartReply => Some(smart_reply::handle(request)),
        Command::Search => Some(search::handle(request)),
        Command::ResolveRecipients => Some(resolve_recipients::handle(request)),
        Command::ValidateCert => Some(validate_cert::handle(request)),
        Command::Find => Some(find::handle(request)),
        _ => None,
    }
}
