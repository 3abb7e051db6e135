//! The `easd` command line (argh): `serve`, account and device management and the WBXML tools. Every
//! subcommand lives in its own module; this one parses the global options, loads the
//! configuration and maps failures to sysexits-style exit codes.

mod backup;
mod calendar_io;
mod cert;
mod config_cmd;
mod contacts_io;
mod deliver;
pub mod device;
mod device_wipe;
mod doctor;
mod gal;
mod import;
mod outbox_cmd;
mod policy;
mod serve;
mod user;
pub mod user_cert;
mod wbxml_tool;

use std::path::PathBuf;

use argh::FromArgs;

use crate::config::Config;

/// Exit codes from sysexits.h, so mail systems and scripts can tell failures apart.
pub mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 64;
    pub const DATAERR: i32 = 65;
    pub const NOINPUT: i32 = 66;
    pub const NOUSER: i32 = 67;
    pub const SOFTWARE: i32 = 70;
    pub const CANTCREAT: i32 = 73;
    pub const IOERR: i32 = 74;
    pub const TEMPFAIL: i32 = 75;
    pub const CONFIG: i32 = 78;
}

/// easd — Exchange ActiveSync server: mail, contacts, tasks and notes for phones,
/// from one binary and one SQLite file.
#[derive(FromArgs)]
pub struct Cli {
    /// configuration file (default /etc/easd/easd.conf when it exists)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// the SQLite database file (overrides the configuration)
    #[argh(option)]
    pub db: Option<PathBuf>,
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
pub enum Command {
    Serve(serve::ServeArgs),
    User(user::UserArgs),
    Wbxml(wbxml_tool::WbxmlArgs),
    Cert(cert::CertArgs),
    Backup(backup::BackupArgs),
    Restore(backup::RestoreArgs),
    Doctor(doctor::DoctorArgs),
    Deliver(deliver::DeliverArgs),
    Device(device::DeviceArgs),
    Import(import::ImportArgs),
    Export(contacts_io::ExportArgs),
    Config(config_cmd::ConfigArgs),
    Policy(policy::PolicyArgs),
    Gal(gal::GalArgs),
    Outbox(outbox_cmd::OutboxArgs),
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    let cli: Cli = argh::from_env();
    run(cli)
}

pub fn run(cli: Cli) -> i32 {
    if let Command::Wbxml(args) = &cli.command {
        // The codec tools need neither configuration nor database.
        return wbxml_tool::run(args);
    }
    if let Command::Doctor(args) = &cli.command {
        // The doctor loads the configuration itself: one that does not load is its first finding.
        return doctor::run(cli.config.as_deref(), cli.db.as_deref(), args);
    }
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("easd: {e}");
            return exit::CONFIG;
        }
    };
    if let Some(db) = cli.db {
        config.database = db;
    }
    match cli.command {
        Command::Serve(args) => serve::run(config, args),
        Command::User(args) => user::run(&config, args),
        Command::Cert(args) => cert::run(&config, args),
        Command::Backup(args) => backup::run_backup(&config, args),
        Command::Restore(args) => backup::run_restore(&config, args),
        Command::Deliver(args) => deliver::run(&config, args),
        Command::Device(args) => device::run(&config, args),
        Command::Import(args) => import::run(&config, args),
        Command::Export(args) => contacts_io::export(&config, args),
        Command::Config(args) => config_cmd::run(&config, args),
        Command::Policy(args) => policy::run(&config, args),
        Command::Gal(args) => gal::run(&config, args),
        Command::Outbox(args) => outbox_cmd::run(&config, args),
        Command::Wbxml(_) | Command::Doctor(_) => exit::SOFTWARE,
    }
}

/// Opens the configured database for a command on an existing user's data (`import` and
/// `export` of contacts and calendars): the store and the user, or the exit code, reported.
fn open_user(
    config: &Config,
    email: &str,
) -> Result<(crate::store::Store, crate::store::User), i32> {
    if !config.database.is_file() {
        eprintln!(
            "easd: no database at {} (add the user first with easd user add)",
            config.database.display()
        );
        return Err(exit::CONFIG);
    }
    let store = open_store(config)?;
    match store.user_by_email(email) {
        Ok(Some(user)) => Ok((store, user)),
        Ok(None) => {
            eprintln!("easd: no such user: {email}");
            Err(exit::NOUSER)
        }
        Err(e) => {
            eprintln!("easd: {e}");
            Err(exit::SOFTWARE)
        }
    }
}

/// The user's folder of `class` named `name` (any case).
fn class_folder(
    store: &crate::store::Store,
    user: crate::store::UserId,
    class: crate::store::ItemClass,
    name: &str,
) -> Result<Option<crate::store::Folder>, String> {
    let folders = store.folders_of(user).map_err(|e| e.to_string())?;
    Ok(folders.into_iter().find(|f| {
        crate::store::ItemClass::for_folder_type(f.folder_type) == Some(class)
            && f.name.eq_ignore_ascii_case(name)
    }))
}

/// Whether `path` holds a text format whose files end in one of `extensions` or whose text
/// starts with `begin` (e.g. `BEGIN:VCARD`), after a byte-order mark and white space.
fn file_of_kind(path: &std::path::Path, extensions: &[&str], begin: &str) -> bool {
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)));
    by_name
        || (path.is_file()
            && std::fs::read(path).is_ok_and(|bytes| {
                let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).to_string();
                head.trim_start_matches('\u{feff}')
                    .trim_start()
                    .to_ascii_uppercase()
                    .starts_with(begin)
            }))
}

/// Opens the configured database (creating and migrating it), reporting failures on stderr.
fn open_store(config: &Config) -> Result<crate::store::Store, i32> {
    let options = crate::store::StoreOptions {
        cache_kib: config.cache_kib,
    };
    crate::store::Store::open_with(&config.database, &options).map_err(|e| {
        eprintln!("easd: cannot open {}: {e}", config.database.display());
        exit::CANTCREAT
    })
}
