//! `easd user cert add|list|remove`: the S/MIME certificates of a user, which ResolveRecipients
//! hands to people writing to that user. (The server's own TLS certificate is `easd cert`.)

use argh::FromArgs;

use super::exit;
use crate::smime::x509;
use crate::store::certificates::CertificateState;
use crate::store::{Store, StoreError};

/// manage a user's S/MIME certificates (given to senders by ResolveRecipients)
#[derive(FromArgs)]
#[argh(subcommand, name = "cert")]
pub struct UserCertArgs {
    #[argh(subcommand)]
    action: CertAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum CertAction {
    Add(AddArgs),
    List(ListArgs),
    Remove(RemoveArgs),
}

/// store the certificate(s) of a PEM, .cer or .der file for a user
#[derive(FromArgs)]
#[argh(subcommand, name = "add")]
struct AddArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
    /// the certificate file (PEM, or one DER certificate); CA certificates in it are skipped
    #[argh(positional)]
    file: std::path::PathBuf,
}

/// list a user's certificates
#[derive(FromArgs)]
#[argh(subcommand, name = "list")]
struct ListArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
}

/// remove one of a user's certificates by its fingerprint (8 or more leading hex digits)
#[derive(FromArgs)]
#[argh(subcommand, name = "remove")]
struct RemoveArgs {
    /// the user's e-mail address
    #[argh(positional)]
    email: String,
    /// the SHA-256 fingerprint as `list` shows it, or its first 8+ hex digits
    #[argh(positional)]
    fingerprint: String,
}

pub fn run(store: &Store, args: UserCertArgs) -> i32 {
    let email = match &args.action {
        CertAction::Add(a) => &a.email,
        CertAction::List(a) => &a.email,
        CertAction::Remove(a) => &a.email,
    };
    let user = match store.user_by_email(email) {
        Ok(Some(user)) => user,
        Ok(None) => {
            eprintln!("easd: no user {}", email.trim().to_lowercase());
            return exit::NOUSER;
        }
        Err(e) => {
            eprintln!("easd: {e}");
            return exit::SOFTWARE;
        }
    };
    let outcome = match args.action {
        CertAction::Add(a) => {
            let bytes = match std::fs::read(&a.file) {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("easd: cannot read {}: {e}", a.file.display());
                    return exit::NOINPUT;
                }
            };
            match crate::web::certificates::store_file(store, &user, &bytes, "admin") {
                Ok(Ok(stored)) => {
                    for (fingerprint, new) in stored {
                        let verb = if new { "added" } else { "already stored" };
                        println!("{verb}: {fingerprint} for {}", user.email);
                    }
                    Ok(())
                }
                Ok(Err(refusal)) => {
                    eprintln!("easd: {}: {refusal}", a.file.display());
                    return exit::DATAERR;
                }
                Err(e) => Err(e),
            }
        }
        CertAction::List(_) => store.user_certificates(user.id).map(|list| {
            if list.is_empty() {
                println!("no certificates for {}", user.email);
            }
            let now = crate::store::now();
            for certificate in list {
                let name = x509::read(&certificate.der)
                    .map(|info| info.common_name)
                    .unwrap_or_default();
                let state = match certificate.state_at(now) {
                    CertificateState::Usable => "valid",
                    CertificateState::NotForMail => "not for mail",
                    CertificateState::Expired => "expired",
                    CertificateState::NotYetValid => "not yet valid",
                };
                println!(
                    "{}\t{}\t{} to {}\t{state}\tby {}",
                    certificate.fingerprint,
                    name,
                    crate::clock::iso_date(certificate.not_before),
                    crate::clock::iso_date(certificate.not_after),
                    certificate.added_by
                );
            }
        }),
        CertAction::Remove(a) => store
            .remove_user_certificate(user.id, &a.fingerprint)
            .map(|fingerprint| println!("removed {fingerprint} from {}", user.email)),
    };
    match outcome {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("easd: {e}");
            match e {
                StoreError::NotFound(_) => exit::NOINPUT,
                StoreError::Conflict(_) | StoreError::Invalid(_) => exit::DATAERR,
                _ => exit::SOFTWARE,
            }
        }
    }
}
