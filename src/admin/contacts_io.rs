//! `easd import EMAIL FILE.vcf [--folder NAME]` and `easd export EMAIL [--folder NAME]`:
//! contacts in and out as vCard (see [`super::vcard`]). An import files every good card of the
//! file into the contacts folder in one transaction (all or nothing); bad cards are reported
//! on stderr with their line and skipped. The folder is a contacts folder by name (default
//! `Contacts`); an import creates a missing one (type 14). Export writes vCard 3.0 to stdout.

use std::io::Write;

use argh::FromArgs;

use super::exit;
use crate::config::Config;
use crate::interchange::vcard;
use crate::store::{Folder, FolderType, ItemClass, NewRecordItem, Store, UserId};

/// Whether `path` holds vCards: its name ends in .vcf/.vcard or its text starts with BEGIN:VCARD.
pub fn is_vcard(path: &std::path::Path) -> bool {
    super::file_of_kind(path, &["vcf", "vcard"], "BEGIN:VCARD")
}

/// The user's contacts folder named `name` (any case).
fn contacts_folder(store: &Store, user: UserId, name: &str) -> Result<Option<Folder>, String> {
    super::class_folder(store, user, ItemClass::Contacts, name)
}

/// The store and the user's id, or the exit code (reported).
fn open_user(config: &Config, email: &str) -> Result<(Store, UserId), i32> {
    super::open_user(config, email).map(|(store, user)| (store, user.id))
}

/// Imports the cards of `path` for `email`.
pub fn import(config: &Config, email: &str, path: &std::path::Path, folder: Option<&str>) -> i32 {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("easd: cannot read {}: {e}", path.display());
            return exit::IOERR;
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    // Pictures larger than phones take (MS-ASCNTC) would be refused by every phone's Sync.
    let limit = crate::eas::sync::contacts::MAX_PICTURE_BYTES;
    let (records, bad) = vcard::parse_cards(text.trim_start_matches('\u{feff}'), |r| {
        match r.get("Picture") {
            Some(crate::store::Property::Bytes(b)) if b.len() > limit => Err(format!(
                "photo of {} bytes (phones take at most {limit})",
                b.len()
            )),
            _ => Ok(()),
        }
    });
    for card in &bad {
        eprintln!(
            "easd: {}:{}: card skipped: {}",
            path.display(),
            card.line,
            card.reason
        );
    }
    let (store, user) = match open_user(config, email) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let name = folder.unwrap_or("Contacts");
    let folder = match contacts_folder(&store, user, name) {
        Ok(Some(folder)) => folder,
        Ok(None) => match store.create_folder(user, None, name, FolderType::UserContacts) {
            Ok(folder) => folder,
            Err(e) => {
                eprintln!("easd: cannot create the contacts folder {name}: {e}");
                return exit::CANTCREAT;
            }
        },
        Err(e) => {
            eprintln!("easd: {e}");
            return exit::SOFTWARE;
        }
    };
    let items: Vec<NewRecordItem> = records
        .iter()
        .map(|record| NewRecordItem {
            class: ItemClass::Contacts,
            sort_date: None,
            record,
        })
        .collect();
    match store.add_record_items(user, folder.id, &items) {
        Ok(ids) => {
            if !ids.is_empty() {
                crate::push::notify(config.notify, email);
            }
            eprintln!(
                "easd: imported {} contacts into {}, skipped {} bad cards",
                ids.len(),
                folder.name,
                bad.len()
            );
            if bad.is_empty() {
                exit::OK
            } else {
                exit::DATAERR
            }
        }
        Err(e) => {
            eprintln!("easd: nothing imported: {e}");
            exit::CANTCREAT
        }
    }
}

/// write a user's contacts (vCard 3.0), a calendar or a task folder (iCalendar) to standard output
#[derive(FromArgs)]
#[argh(subcommand, name = "export")]
pub struct ExportArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
    /// the contacts, calendar or task folder, e.g. Calendar or Tasks (default Contacts)
    #[argh(option, default = "String::from(\"Contacts\")")]
    folder: String,
}

pub fn export(config: &Config, args: ExportArgs) -> i32 {
    // A calendar or task folder of that name is exported as iCalendar.
    if let Some(code) = super::calendar_io::export(config, &args.email, &args.folder) {
        return code;
    }
    let (store, user) = match open_user(config, &args.email) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let folder = match contacts_folder(&store, user, &args.folder) {
        Ok(Some(folder)) => folder,
        Ok(None) => {
            eprintln!(
                "easd: {} has no contacts folder {}",
                args.email, args.folder
            );
            return exit::NOINPUT;
        }
        Err(e) => {
            eprintln!("easd: {e}");
            return exit::SOFTWARE;
        }
    };
    let records = match store.folder_records(user, folder.id) {
        Ok(records) => records,
        Err(e) => {
            eprintln!("easd: {e}");
            return exit::SOFTWARE;
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (_, record) in &records {
        if out.write_all(vcard::write_card(record).as_bytes()).is_err() {
            return exit::IOERR;
        }
    }
    if out.flush().is_err() {
        return exit::IOERR;
    }
    exit::OK
}
