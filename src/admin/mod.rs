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
mod policy;
mod serve;
mod user;
mod vcard;
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
        Command::Wbxml(_) | Command::Doctor(_) => exit::SOFTWARE,
    }
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
