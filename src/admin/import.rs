//! `easd import EMAIL PATH [--folder PATH]`: brings existing mail into a mailbox — an mbox
//! file, or a Maildir with its Maildir++ subfolders — creating folders as needed. A vCard
//! file (`.vcf`, or text starting with BEGIN:VCARD) is imported as contacts instead
//! (`super::contacts_io`), an iCalendar file (`.ics`, or text starting with BEGIN:VCALENDAR)
//! as events and to-dos (`super::calendar_io`).
//!
//! Folder mapping: a Maildir's own messages go to the Inbox and `.Sub.Folder` directories
//! to nested folders `Sub/Folder` (names decoded from IMAP modified UTF-7); a first-level
//! name of a well-known mailbox (INBOX, Sent, Sent Messages, Drafts, Trash, Deleted
//! Messages, Junk, Spam, …) maps to the default folder. With `--folder`, an mbox goes into
//! that folder and a Maildir's tree is placed beneath it, names kept as they are.
//!
//! Read state comes from Maildir flags (`S` read, `F` flagged, `R` answered, `P` passed)
//! and from mbox `Status`/`X-Status`/`X-Mozilla-Status` headers. Messages are filed in
//! batches, one transaction each (`--batch`, 500 by default); progress goes to stderr.
//! Running an import again does not duplicate anything: a message is skipped when its
//! folder already holds one with the same bytes (SHA-256 of the exact message). Content
//! rather than Message-ID is compared because ids are missing from some messages and
//! shared by different ones (a list copy and a direct copy of the same post).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use argh::FromArgs;

use super::exit;
use crate::config::Config;
use crate::mime::mailbox::{
    maildir_delivery_time, maildir_flags, maildirpp_folder, mbox_header_flags, MboxReader,
    MessageFlags,
};
use crate::store::mail::MAX_MESSAGE_BYTES;
use crate::store::{
    Filed, Folder, FolderId, FolderType, ItemClass, LastVerb, MailBatch, NewMessage, Store,
    StoreError, UserId,
};

/// import an mbox file or a Maildir into a mailbox, creating folders as needed, a vCard
/// file (.vcf) into a contacts folder, or an iCalendar file (.ics) into a calendar and Tasks
#[derive(FromArgs)]
#[argh(subcommand, name = "import")]
pub struct ImportArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
    /// an mbox file, a Maildir directory (with cur/ and new/), a vCard file (.vcf) or an
    /// iCalendar file (.ics)
    #[argh(positional)]
    path: PathBuf,
    /// folder for an mbox, or to hold a Maildir's folders, as a path such as Archive/2019
    /// (created if missing); default: Inbox and the Maildir's own folder names; for vCards
    /// the contacts folder (default Contacts); for iCalendar the calendar (default Calendar)
    #[argh(option)]
    folder: Option<String>,
    /// messages per transaction (default 500)
    #[argh(option, default = "500")]
    batch: usize,
    /// report progress every N messages (default 1000; 0 for the summary only)
    #[argh(option, default = "1000")]
    progress: u64,
}

/// A folder path of display names, `/`-separated on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FolderPath {
    components: Vec<String>,
}

impl FolderPath {
    /// `Projects/2026` → [Projects, 2026]; empty components are dropped.
    pub(super) fn parse(text: &str) -> FolderPath {
        FolderPath {
            components: text
                .split('/')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    fn from_components(components: Vec<String>) -> FolderPath {
        FolderPath { components }
    }

    fn joined(&self, more: &[String]) -> FolderPath {
        let mut components = self.components.clone();
        components.extend_from_slice(more);
        FolderPath { components }
    }
}

impl fmt::Display for FolderPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.components.join("/"))
    }
}

/// The default folder a well-known mailbox name stands for, by its easd name.
fn special_folder_name(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_lowercase().as_str() {
        "inbox" => "Inbox",
        "sent" | "sent items" | "sent messages" | "sent mail" => "Sent Items",
        "drafts" | "draft" => "Drafts",
        "trash" | "deleted items" | "deleted messages" | "bin" => "Deleted Items",
        "junk" | "spam" | "junk e-mail" | "junk email" | "junk mail" | "bulk mail" => "Junk E-mail",
        _ => return None,
    })
}

fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// The child of `parent` named `name`; at the top level a well-known name also finds its
/// default folder.
fn locate<'a>(folders: &'a [Folder], parent: Option<FolderId>, name: &str) -> Option<&'a Folder> {
    let children = || folders.iter().filter(move |f| f.parent_id == parent);
    children().find(|f| same_name(&f.name, name)).or_else(|| {
        let special = special_folder_name(name).filter(|_| parent.is_none())?;
        children().find(|f| f.special && same_name(&f.name, special))
    })
}

/// The user's folder at `path` (an empty path is the Inbox), if it exists.
pub(super) fn find_folder(
    store: &Store,
    user: UserId,
    path: &FolderPath,
) -> Result<Option<Folder>, StoreError> {
    let folders = store.folders_of(user)?;
    let inbox = [String::from("INBOX")];
    let components = if path.components.is_empty() {
        &inbox[..]
    } else {
        &path.components[..]
    };
    let mut parent: Option<&Folder> = None;
    for name in components {
        match locate(&folders, parent.map(|f| f.id), name) {
            Some(folder) => parent = Some(folder),
            None => return Ok(None),
        }
    }
    Ok(parent.cloned())
}

/// The user's folder at `path`, creating the missing ones (as mail folders); counts the
/// folders it created.
fn ensure_folder(
    store: &Store,
    user: UserId,
    path: &FolderPath,
    created: &mut u64,
) -> Result<Folder, StoreError> {
    if let Some(folder) = find_folder(store, user, path)? {
        return Ok(folder);
    }
    let mut parent: Option<Folder> = None;
    for name in &path.components {
        let folders = store.folders_of(user)?;
        let existing = locate(&folders, parent.as_ref().map(|f| f.id), name).cloned();
        parent = Some(match existing {
            Some(folder) => folder,
            None => {
                *created += 1;
                store.create_folder(
                    user,
                    parent.as_ref().map(|f| f.id),
                    name,
                    FolderType::UserMail,
                )?
            }
        });
    }
    parent.ok_or_else(|| StoreError::Invalid("empty folder path".into()))
}

/// Whether mail can be filed into the folder.
pub(super) fn holds_mail(folder: &Folder) -> bool {
    ItemClass::for_folder_type(folder.folder_type) == Some(ItemClass::Email)
}

/// Why an import stopped.
enum Stop {
    /// The source could not be read.
    Io(String, io::Error),
    /// The store refused; `at` says where in the source.
    Store(String, StoreError),
    /// A target folder cannot take mail.
    Folder(String),
}

impl Stop {
    fn exit_code(&self) -> i32 {
        match self {
            Stop::Io(_, e) if e.kind() == io::ErrorKind::InvalidData => exit::DATAERR,
            Stop::Io(..) => exit::IOERR,
            Stop::Folder(_) => exit::CANTCREAT,
            Stop::Store(_, StoreError::Sqlite(e)) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    exit::TEMPFAIL
                }
                Some(rusqlite::ErrorCode::DiskFull) => exit::IOERR,
                _ => exit::SOFTWARE,
            },
            Stop::Store(_, StoreError::Io(_)) => exit::IOERR,
            Stop::Store(_, StoreError::Invalid(_) | StoreError::Conflict(_)) => exit::CANTCREAT,
            Stop::Store(..) => exit::SOFTWARE,
        }
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Io(at, e) => write!(f, "{at}: {e}"),
            Stop::Store(at, e) => write!(f, "{at}: {e}"),
            Stop::Folder(why) => write!(f, "{why}"),
        }
    }
}

/// Counts for progress lines and the summary.
struct Tally {
    started: Instant,
    report_every: u64,
    next_report: u64,
    /// Messages read from the source (stored, duplicate or skipped).
    seen: u64,
    stored: u64,
    duplicates: u64,
    skipped: u64,
    bytes: u64,
    folders_used: u64,
    folders_created: u64,
    /// Messages stored in batches already committed.
    committed: u64,
}

impl Tally {
    fn new(report_every: u64) -> Tally {
        Tally {
            started: Instant::now(),
            report_every,
            next_report: report_every,
            seen: 0,
            stored: 0,
            duplicates: 0,
            skipped: 0,
            bytes: 0,
            folders_used: 0,
            folders_created: 0,
            committed: 0,
        }
    }

    fn count(&mut self, filed: Filed, bytes: usize) {
        self.seen += 1;
        match filed {
            Filed::Stored(_) => {
                self.stored += 1;
                self.bytes += bytes as u64;
            }
            Filed::Duplicate(_) => self.duplicates += 1,
        }
        if self.report_every > 0 && self.seen >= self.next_report {
            self.next_report += self.report_every;
            eprintln!(
                "easd: import: {} messages read, {} stored ({}), {:.1} s",
                self.seen,
                self.stored,
                mebibytes(self.bytes),
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn summary(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64();
        format!(
            "{} messages stored ({}) in {} folders ({} created), {} already present, \
             {} skipped; {:.1} s, {:.0} messages/s",
            self.stored,
            mebibytes(self.bytes),
            self.folders_used,
            self.folders_created,
            self.duplicates,
            self.skipped,
            seconds,
            self.seen as f64 / seconds.max(0.001)
        )
    }
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Files messages in transactions of `size` messages (duplicates count too: checking
/// them holds the write lock just the same).
struct Batcher<'s> {
    store: &'s Store,
    batch: Option<MailBatch<'s>>,
    /// Messages handled in the open batch.
    in_batch: u64,
    /// Of those, the ones stored (lost if the batch rolls back).
    pending: u64,
    size: u64,
    /// Where to announce each committed batch that stored something (push notification):
    /// the notify address and the user.
    notify: Option<(std::net::SocketAddr, String)>,
}

impl<'s> Batcher<'s> {
    fn add(
        &mut self,
        user: UserId,
        folder: FolderId,
        message: &NewMessage<'_>,
        tally: &mut Tally,
    ) -> Result<Filed, StoreError> {
        let batch = match &mut self.batch {
            Some(batch) => batch,
            None => self.batch.insert(self.store.mail_batch()?),
        };
        let filed = batch.add(user, folder, message)?;
        self.in_batch += 1;
        if matches!(filed, Filed::Stored(_)) {
            self.pending += 1;
        }
        if self.in_batch >= self.size {
            self.commit(tally)?;
        }
        Ok(filed)
    }

    fn commit(&mut self, tally: &mut Tally) -> Result<(), StoreError> {
        if let Some(batch) = self.batch.take() {
            batch.commit()?;
            if self.pending > 0 {
                if let Some((addr, email)) = &self.notify {
                    crate::push::notify(*addr, email);
                }
            }
            tally.committed += self.pending;
            self.pending = 0;
            self.in_batch = 0;
        }
        Ok(())
    }
}

/// Maps mail-program flags onto a new message.
fn with_flags<'a>(
    raw: &'a [u8],
    flags: MessageFlags,
    received_hint: Option<i64>,
) -> NewMessage<'a> {
    NewMessage {
        received_hint,
        read: flags.seen,
        flagged: flags.flagged,
        last_verb: if flags.answered {
            Some(LastVerb::ReplyToSender)
        } else if flags.forwarded {
            Some(LastVerb::Forward)
        } else {
            None
        },
        skip_duplicate: true,
        ..NewMessage::new(raw)
    }
}

/// One Maildir (the root or a Maildir++ subfolder) and where it goes.
struct MaildirFolder {
    dir: PathBuf,
    /// Folder path below the Maildir root (empty for the root itself).
    components: Vec<String>,
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// The root Maildir and its Maildir++ subfolders, parents before children.
fn maildir_folders(root: &Path) -> io::Result<Vec<MaildirFolder>> {
    let mut folders = vec![MaildirFolder {
        dir: root.to_path_buf(),
        components: Vec::new(),
    }];
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(components) = maildirpp_folder(&name) else {
            continue;
        };
        let dir = entry.path();
        if dir.is_dir() && is_maildir(&dir) {
            folders.push(MaildirFolder { dir, components });
        }
    }
    folders.sort_by(|a, b| a.components.cmp(&b.components));
    Ok(folders)
}

/// The message files of one Maildir (`new/` and `cur/`), in file-name (delivery) order.
fn maildir_messages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let sub_dir = dir.join(sub);
        if !sub_dir.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&sub_dir)? {
            let entry = entry?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

struct Importer<'s> {
    store: &'s Store,
    user: UserId,
    batcher: Batcher<'s>,
    tally: Tally,
}

impl Importer<'_> {
    fn target(&mut self, path: &FolderPath) -> Result<Folder, Stop> {
        let folder = ensure_folder(self.store, self.user, path, &mut self.tally.folders_created)
            .map_err(|e| Stop::Store(format!("folder {path}"), e))?;
        if !holds_mail(&folder) {
            return Err(Stop::Folder(format!(
                "the folder {path} does not hold mail; import into another folder with --folder"
            )));
        }
        Ok(folder)
    }

    fn import_mbox(&mut self, file: &Path, folder: &FolderPath) -> Result<(), Stop> {
        let target = self.target(folder)?;
        self.tally.folders_used = 1;
        let source = File::open(file).map_err(|e| Stop::Io(file.display().to_string(), e))?;
        let reader = MboxReader::new(BufReader::with_capacity(64 * 1024, source));
        for (index, message) in reader.enumerate() {
            let message = message.map_err(|e| Stop::Io(format!("{}", file.display()), e))?;
            let at = || {
                format!(
                    "message {} (line {}) of {}",
                    index + 1,
                    message.line,
                    file.display()
                )
            };
            if message.raw.iter().all(u8::is_ascii_whitespace) {
                eprintln!("easd: import: skipped {}: it is empty", at());
                self.tally.skipped += 1;
                continue;
            }
            let new = with_flags(
                &message.raw,
                mbox_header_flags(&message.raw),
                message.from_line_time,
            );
            self.file(target.id, &new, &at)?;
        }
        self.batcher
            .commit(&mut self.tally)
            .map_err(|e| Stop::Store(file.display().to_string(), e))
    }

    fn import_maildir(&mut self, root: &Path, base: Option<&FolderPath>) -> Result<(), Stop> {
        let folders = maildir_folders(root).map_err(|e| Stop::Io(root.display().to_string(), e))?;
        // Every target first, so a folder that cannot take mail stops the import before
        // any message is filed.
        let mut targets = Vec::with_capacity(folders.len());
        for folder in &folders {
            let path = match base {
                Some(base) => base.joined(&folder.components),
                None if folder.components.is_empty() => FolderPath::parse("INBOX"),
                None => FolderPath::from_components(folder.components.clone()),
            };
            targets.push(self.target(&path)?.id);
        }
        self.tally.folders_used = folders.len() as u64;
        for (folder, target) in folders.iter().zip(targets) {
            let files = maildir_messages(&folder.dir)
                .map_err(|e| Stop::Io(folder.dir.display().to_string(), e))?;
            for file in files {
                let at = || file.display().to_string();
                let too_large =
                    std::fs::metadata(&file).is_ok_and(|m| m.len() > MAX_MESSAGE_BYTES as u64);
                if too_large {
                    eprintln!(
                        "easd: import: skipped {}: larger than {MAX_MESSAGE_BYTES} bytes",
                        at()
                    );
                    self.tally.skipped += 1;
                    continue;
                }
                let raw = match std::fs::read(&file) {
                    Ok(raw) => raw,
                    // Another program may have moved it (new/ to cur/) meanwhile.
                    Err(e) => {
                        eprintln!("easd: import: skipped {}: {e}", at());
                        self.tally.skipped += 1;
                        continue;
                    }
                };
                if raw.iter().all(u8::is_ascii_whitespace) {
                    eprintln!("easd: import: skipped {}: it is empty", at());
                    self.tally.skipped += 1;
                    continue;
                }
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let new = with_flags(&raw, maildir_flags(&name), maildir_delivery_time(&name));
                self.file(target, &new, &at)?;
            }
            self.batcher
                .commit(&mut self.tally)
                .map_err(|e| Stop::Store(folder.dir.display().to_string(), e))?;
        }
        Ok(())
    }

    /// Files one message; one that is too large is skipped with a warning.
    fn file(
        &mut self,
        folder: FolderId,
        message: &NewMessage<'_>,
        at: &dyn Fn() -> String,
    ) -> Result<(), Stop> {
        match self
            .batcher
            .add(self.user, folder, message, &mut self.tally)
        {
            Ok(filed) => {
                self.tally.count(filed, message.raw.len());
                Ok(())
            }
            Err(StoreError::Invalid(why)) => {
                eprintln!("easd: import: skipped {}: {why}", at());
                self.tally.skipped += 1;
                Ok(())
            }
            Err(e) => Err(Stop::Store(at(), e)),
        }
    }
}

pub fn run(config: &Config, args: ImportArgs) -> i32 {
    if super::calendar_io::is_icalendar(&args.path) {
        return super::calendar_io::import(config, &args.email, &args.path, args.folder.as_deref());
    }
    if super::contacts_io::is_vcard(&args.path) {
        return super::contacts_io::import(config, &args.email, &args.path, args.folder.as_deref());
    }
    if args.batch == 0 {
        eprintln!("easd: --batch must be at least 1");
        return exit::USAGE;
    }
    let metadata = match std::fs::metadata(&args.path) {
        Ok(metadata) => metadata,
        Err(e) => {
            eprintln!("easd: cannot read {}: {e}", args.path.display());
            return exit::IOERR;
        }
    };
    if metadata.is_dir() && !is_maildir(&args.path) {
        eprintln!(
            "easd: {} is a directory but not a Maildir (it has no cur/ or new/)",
            args.path.display()
        );
        return exit::DATAERR;
    }
    if !config.database.is_file() {
        eprintln!(
            "easd: no database at {} (add the user first with easd user add)",
            config.database.display()
        );
        return exit::CONFIG;
    }
    let store = match super::open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let user = match store.user_by_email(&args.email) {
        Ok(Some(user)) => user,
        Ok(None) => {
            eprintln!("easd: no such user: {}", args.email);
            return exit::NOUSER;
        }
        Err(e) => {
            eprintln!("easd: {e}");
            return exit::SOFTWARE;
        }
    };
    let base = args.folder.as_deref().map(FolderPath::parse);
    let mut importer = Importer {
        store: &store,
        user: user.id,
        batcher: Batcher {
            store: &store,
            batch: None,
            in_batch: 0,
            pending: 0,
            size: args.batch as u64,
            notify: Some((config.notify, user.email.clone())),
        },
        tally: Tally::new(args.progress),
    };
    let outcome = if metadata.is_dir() {
        importer.import_maildir(&args.path, base.as_ref())
    } else {
        let folder = base.unwrap_or_else(|| FolderPath::parse("INBOX"));
        importer.import_mbox(&args.path, &folder)
    };
    // An unfinished batch rolls back when the batcher goes.
    let Importer { batcher, tally, .. } = importer;
    let uncommitted = batcher.pending;
    drop(batcher);
    // Filing only queued the mail for the search index: index it now, a batch per
    // transaction (one index segment each), so a search right after the import finds it all.
    // What fails here the server indexes later.
    let batch = args.batch.max(1);
    loop {
        match store.index_backlog(batch) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("easd: indexing the mail for search stopped ({e}); the server does it");
                break;
            }
        }
    }
    match outcome {
        Ok(()) => {
            eprintln!("easd: import finished: {}", tally.summary());
            exit::OK
        }
        Err(stop) => {
            eprintln!("easd: import stopped at {stop}");
            eprintln!(
                "easd: {} messages were imported before it ({} of the unfinished batch were \
                 not); run the same command again to continue: messages already imported are \
                 skipped",
                tally.committed, uncommitted
            );
            stop.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_user() -> (Store, UserId) {
        let store = Store::open_in_memory().unwrap();
        let user = store.add_user("pat@example.com", "", "pw").unwrap().id;
        (store, user)
    }

    #[test]
    fn folder_paths_parse_and_print() {
        let path = FolderPath::parse(" Projects / 2026/ ");
        assert_eq!(path.components, ["Projects", "2026"]);
        assert_eq!(path.to_string(), "Projects/2026");
        assert!(FolderPath::parse("//").components.is_empty());
    }

    #[test]
    fn well_known_names_find_the_default_folders() {
        let (store, user) = store_with_user();
        let name_of = |text: &str| {
            find_folder(&store, user, &FolderPath::parse(text))
                .unwrap()
                .map(|f| f.name)
        };
        assert_eq!(name_of("").as_deref(), Some("Inbox"));
        assert_eq!(name_of("INBOX").as_deref(), Some("Inbox"));
        assert_eq!(name_of("sent messages").as_deref(), Some("Sent Items"));
        assert_eq!(name_of("Trash").as_deref(), Some("Deleted Items"));
        assert_eq!(name_of("Spam").as_deref(), Some("Junk E-mail"));
        assert_eq!(name_of("junk e-mail").as_deref(), Some("Junk E-mail"));
        assert_eq!(name_of("Projects"), None);
        assert_eq!(name_of("Inbox/Sent"), None, "aliases apply at the top only");
    }

    #[test]
    fn ensure_folder_creates_nested_folders_once() {
        let (store, user) = store_with_user();
        let mut created = 0;
        let path = FolderPath::parse("Projects/2026");
        let folder = ensure_folder(&store, user, &path, &mut created).unwrap();
        assert_eq!(created, 2);
        assert_eq!(folder.name, "2026");
        assert_eq!(folder.folder_type, FolderType::UserMail);
        let again = ensure_folder(
            &store,
            user,
            &FolderPath::parse("projects/2026"),
            &mut created,
        )
        .unwrap();
        assert_eq!(again.id, folder.id);
        assert_eq!(created, 2);
        let under_inbox = ensure_folder(
            &store,
            user,
            &FolderPath::parse("INBOX/Lists"),
            &mut created,
        )
        .unwrap();
        let inbox = find_folder(&store, user, &FolderPath::parse("INBOX"))
            .unwrap()
            .unwrap();
        assert_eq!(under_inbox.parent_id, Some(inbox.id));
        assert_eq!(created, 3);
        let contacts = find_folder(&store, user, &FolderPath::parse("Contacts"))
            .unwrap()
            .unwrap();
        assert!(!holds_mail(&contacts));
        assert!(holds_mail(&inbox));
    }

    #[test]
    fn flags_map_to_message_state() {
        let flags = MessageFlags {
            seen: true,
            flagged: true,
            answered: true,
            forwarded: true,
            draft: false,
        };
        let message = with_flags(b"x", flags, Some(5));
        assert!(message.read && message.flagged && message.skip_duplicate);
        assert_eq!(message.last_verb, Some(LastVerb::ReplyToSender));
        assert_eq!(message.received_hint, Some(5));
        let forwarded = with_flags(
            b"x",
            MessageFlags {
                forwarded: true,
                ..MessageFlags::default()
            },
            None,
        );
        assert_eq!(forwarded.last_verb, Some(LastVerb::Forward));
        assert!(!forwarded.read);
    }
}
