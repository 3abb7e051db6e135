//! `easd user add|passwd|set|del|list`: accounts, by full e-mail address (`easd user cert`
//! is `user_cert.rs`).

use std::io::BufRead;

use argh::FromArgs;

use super::{exit, open_store};
use crate::config::Config;
use crate::store::gal::ProfileChange;
use crate::store::StoreError;

/// manage user accounts
#[derive(FromArgs)]
#[argh(subcommand, name = "user")]
pub struct UserArgs {
    #[argh(subcommand)]
    action: UserAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum UserAction {
    Add(AddArgs),
    Passwd(PasswdArgs),
    Set(SetArgs),
    Del(DelArgs),
    List(ListArgs),
    Cert(super::user_cert::UserCertArgs),
}

/// add a user (the domain is created with its first user)
#[derive(FromArgs)]
#[argh(subcommand, name = "add")]
struct AddArgs {
    /// the user's e-mail address, which is also the login name
    #[argh(positional)]
    email: String,
    /// the password (visible in the process list: prefer --password-stdin)
    #[argh(option)]
    password: Option<String>,
    /// read the password from the first line of standard input
    #[argh(switch)]
    password_stdin: bool,
    /// display name shown on devices (default: the part before @)
    #[argh(option)]
    name: Option<String>,
}

/// set a user's password
#[derive(FromArgs)]
#[argh(subcommand, name = "passwd")]
struct PasswdArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
    /// the new password (visible in the process list: prefer --password-stdin)
    #[argh(option)]
    password: Option<String>,
    /// read the new password from the first line of standard input
    #[argh(switch)]
    password_stdin: bool,
}

/// set a user's address-book fields or the administrator mark of the web page
#[derive(FromArgs)]
#[argh(subcommand, name = "set")]
struct SetArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
    /// let the user see all users, devices and policies on the web page
    #[argh(switch)]
    admin: bool,
    /// take the administrator mark away
    #[argh(switch)]
    no_admin: bool,
    /// display name shown on devices and in the address book
    #[argh(option)]
    name: Option<String>,
    /// work phone number in the address book ("" clears it)
    #[argh(option)]
    phone: Option<String>,
    /// mobile phone number in the address book ("" clears it)
    #[argh(option)]
    mobile: Option<String>,
    /// job title in the address book ("" clears it)
    #[argh(option)]
    title: Option<String>,
    /// company in the address book ("" clears it)
    #[argh(option)]
    company: Option<String>,
    /// office in the address book ("" clears it)
    #[argh(option)]
    office: Option<String>,
    /// photo for the address book: a JPEG or PNG file of at most 100 KB
    #[argh(option)]
    photo: Option<std::path::PathBuf>,
    /// remove the photo
    #[argh(switch)]
    no_photo: bool,
}

/// delete a user and all of the user's data
#[derive(FromArgs)]
#[argh(subcommand, name = "del")]
struct DelArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
}

/// list users
#[derive(FromArgs)]
#[argh(subcommand, name = "list")]
struct ListArgs {}

pub fn run(config: &Config, args: UserArgs) -> i32 {
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let outcome = match args.action {
        UserAction::Add(a) => {
            let password = match password_from(a.password, a.password_stdin) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let name = a
                .name
                .unwrap_or_else(|| a.email.split('@').next().unwrap_or_default().to_string());
            store
                .add_user(&a.email, &name, &password)
                .map(|user| println!("added {}", user.email))
        }
        UserAction::Passwd(a) => {
            let password = match password_from(a.password, a.password_stdin) {
                Ok(p) => p,
                Err(code) => return code,
            };
            store
                .set_password(&a.email, &password)
                .map(|()| println!("password changed for {}", a.email.to_lowercase()))
        }
        UserAction::Set(a) => match set(&store, a) {
            Ok(result) => result,
            Err(code) => return code,
        },
        UserAction::Del(a) => store
            .delete_user(&a.email)
            .map(|()| println!("deleted {}", a.email.to_lowercase())),
        UserAction::List(_) => store.list_users().map(|users| {
            if users.is_empty() {
                println!("no users (add one with: easd user add EMAIL --password-stdin)");
            }
            for user in users {
                println!(
                    "{}\t{}\t{}",
                    user.email,
                    user.display_name,
                    crate::clock::iso_date(user.created)
                );
            }
        }),
        UserAction::Cert(cert) => return super::user_cert::run(&store, cert),
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

/// `easd user set`: the profile fields, then the administrator mark. `Err` is an exit code
/// for a usage problem found before anything was written.
fn set(store: &crate::store::Store, a: SetArgs) -> Result<Result<(), StoreError>, i32> {
    if a.admin && a.no_admin {
        eprintln!("easd: give at most one of --admin or --no-admin");
        return Err(exit::USAGE);
    }
    if a.photo.is_some() && a.no_photo {
        eprintln!("easd: give at most one of --photo or --no-photo");
        return Err(exit::USAGE);
    }
    let photo = match &a.photo {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) if is_picture(&bytes) => Some(Some(bytes)),
            Ok(_) => {
                eprintln!("easd: {} is not a JPEG or PNG picture", path.display());
                return Err(exit::DATAERR);
            }
            Err(e) => {
                eprintln!("easd: cannot read {}: {e}", path.display());
                return Err(exit::NOINPUT);
            }
        },
        None if a.no_photo => Some(None),
        None => None,
    };
    let change = ProfileChange {
        display_name: a.name,
        phone: a.phone,
        mobile_phone: a.mobile,
        title: a.title,
        company: a.company,
        office: a.office,
        photo,
    };
    let email = a.email.trim().to_lowercase();
    let profile_given = change.display_name.is_some()
        || change.phone.is_some()
        || change.mobile_phone.is_some()
        || change.title.is_some()
        || change.company.is_some()
        || change.office.is_some()
        || change.photo.is_some();
    if !profile_given && !a.admin && !a.no_admin {
        eprintln!("easd: nothing to set (see easd user set --help)");
        return Err(exit::USAGE);
    }
    if profile_given {
        if let Err(e) = store.set_user_profile(&email, &change) {
            return Ok(Err(e));
        }
        println!("address-book fields of {email} set");
    }
    if a.admin || a.no_admin {
        if let Err(e) = store.set_admin(&email, a.admin) {
            return Ok(Err(e));
        }
        println!(
            "{email} is {}an administrator of the web page",
            if a.admin { "" } else { "no longer " }
        );
    }
    Ok(Ok(()))
}

/// JPEG or PNG by their first bytes (what phones show as contact pictures).
fn is_picture(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// The password from the option or the first line of standard input, never both.
fn password_from(option: Option<String>, from_stdin: bool) -> Result<String, i32> {
    match (option, from_stdin) {
        (Some(p), false) => Ok(p),
        (None, true) => {
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                eprintln!("easd: cannot read the password from standard input");
                return Err(exit::IOERR);
            }
            let password = line.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                eprintln!("easd: empty password on standard input");
                return Err(exit::DATAERR);
            }
            Ok(password)
        }
        _ => {
            eprintln!("easd: give exactly one of --password PW or --password-stdin");
            Err(exit::USAGE)
        }
    }
}
