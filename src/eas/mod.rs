//! EAS commands, one module per command (MS-ASCMD). The server module authenticates the request,
//! records the device and hands each command a [`Request`]; the command answers with a [`Reply`]
//! and never touches HTTP itself. A command reports protocol problems through its own Status
//! element; only failures of the store come back as [`CommandError`], which becomes HTTP 500.

pub mod folder_create;
pub mod folder_delete;
pub mod folder_sync;
pub mod folder_update;
mod hierarchy;
pub mod sync;
pub mod version;

pub use version::ProtocolVersion;

use crate::server::query::{Command, EasQuery};
use crate::store::{Device, Store, StoreError, User};
use crate::wbxml::Element;

/// Everything a command may look at: the authenticated user, the device, the negotiated
/// protocol version, the query and the decoded WBXML body (if the request had one).
pub struct Request<'a> {
    pub store: &'a Store,
    pub user: &'a User,
    pub device: &'a Device,
    pub version: ProtocolVersion,
    pub query: &'a EasQuery,
    pub body: Option<&'a Element>,
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
        _ => None,
    }
}
