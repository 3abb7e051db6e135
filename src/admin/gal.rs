//! `easd gal show|publish|unpublish`: the address book (GAL) phones search — the users of a
//! domain plus the contact folders an administrator publishes to the owner's domain.

use argh::FromArgs;

use super::{exit, open_store};
use crate::config::Config;
use crate::store::StoreError;

/// the address book phones search (users of a domain and published contact folders)
#[derive(FromArgs)]
#[argh(subcommand, name = "gal")]
pub struct GalArgs {
    #[argh(subcommand)]
    action: GalAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum GalAction {
    Show(ShowArgs),
    Publish(PublishArgs),
    Unpublish(UnpublishArgs),
}

/// list the published folders, or the address book a user sees
#[derive(FromArgs)]
#[argh(subcommand, name = "show")]
struct ShowArgs {
    /// show the address book as this user sees it
    #[argh(positional)]
    email: Option<String>,
}

/// publish a user's contacts folder to everyone of the user's domain
#[derive(FromArgs)]
#[argh(subcommand, name = "publish")]
struct PublishArgs {
    /// the folder owner's e-mail address
    #[argh(positional)]
    email: String,
    /// the contacts folder's name (e.g. Contacts, Family)
    #[argh(positional)]
    folder: String,
}

/// withdraw a published contacts folder from the address book
#[derive(FromArgs)]
#[argh(subcommand, name = "unpublish")]
struct UnpublishArgs {
    /// the folder owner's e-mail address
    #[argh(positional)]
    email: String,
    /// the contacts folder's name
    #[argh(positional)]
    folder: String,
}

pub fn run(config: &Config, args: GalArgs) -> i32 {
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let outcome = match args.action {
        GalAction::Show(ShowArgs { email: None }) => store.published_folders().map(|folders| {
            if folders.is_empty() {
                println!("no published folders (publish one with: easd gal publish EMAIL FOLDER)");
            }
            for f in folders {
                println!("{}\t{}\t{} contacts", f.owner, f.folder, f.contacts);
            }
        }),
        GalAction::Show(ShowArgs { email: Some(email) }) => match store.user_by_email(&email) {
            Ok(Some(user)) => store.gal_entries(&user).map(|entries| {
                for e in entries {
                    println!(
                        "{}\t{}\t{}\t{}\t{}{}",
                        e.display_name,
                        e.email,
                        e.phone,
                        e.mobile_phone,
                        e.title,
                        if e.photo.is_some() { "\t(photo)" } else { "" }
                    );
                }
            }),
            Ok(None) => Err(StoreError::NotFound(format!("no such user: {email}"))),
            Err(e) => Err(e),
        },
        GalAction::Publish(a) => store
            .set_folder_published(&a.email, &a.folder, true)
            .map(|()| println!("published {} of {}", a.folder, a.email.to_lowercase())),
        GalAction::Unpublish(a) => store
            .set_folder_published(&a.email, &a.folder, false)
            .map(|()| println!("unpublished {} of {}", a.folder, a.email.to_lowercase())),
    };
    match outcome {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("easd: {e}");
            match e {
                StoreError::NotFound(_) => exit::NOUSER,
                StoreError::Conflict(_) | StoreError::Invalid(_) => exit::DATAERR,
                _ => exit::SOFTWARE,
            }
        }
    }
}
