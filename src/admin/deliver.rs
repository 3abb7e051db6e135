//! `easd deliver EMAIL [--folder PATH]`: the local delivery agent. Reads one message on
//! standard input and files it into the user's Inbox (or the named folder) in one
//! transaction, answering with the sysexits codes mail systems act on.
//!
//! For Postfix, either `mailbox_command = /usr/bin/easd deliver "$RECIPIENT"` or, with
//! virtual domains, a pipe(8) transport running as the user that owns the database:
//! `easd unix - n n - - pipe flags=R user=easd argv=/usr/bin/easd deliver ${recipient}`.
//! A leading mbox `From ` line (pipe flag `F`) is dropped; everything else — including any
//! `Return-Path:`/`Delivered-To:` the MTA added — is kept byte for byte.
//!
//! A message carrying an iCalendar REQUEST, CANCEL or REPLY (iMIP) also changes the
//! recipient's calendar (see `crate::eas::meetings`).
//!
//! While the recipient's out-of-office is on (Settings Oof), the sender gets one automatic
//! reply per period (see `crate::oof`), written in the same transaction as the message; pass
//! the envelope sender with `--sender ${sender}`.
//!
//! Exit codes: 0 delivered; 65 empty or oversized message (bounce); 67 unknown recipient
//! (bounce); 73 no such folder (bounce); 75 anything transient — database busy or locked,
//! disk full, unreadable input, a database that is missing or cannot be opened — so the
//! MTA keeps the message queued and retries rather than bounce it. 78 (configuration
//! unreadable) is deferred by Postfix as well.

use std::io::Read;

use argh::FromArgs;

use super::exit;
use super::import::{find_folder, holds_mail, FolderPath};
use crate::config::Config;
use crate::store::mail::MAX_MESSAGE_BYTES;
use crate::store::{now, NewMessage, Store, StoreError, StoreOptions, User};

/// deliver one message from standard input into a mailbox (for Postfix and other MTAs)
#[derive(FromArgs)]
#[argh(subcommand, name = "deliver")]
pub struct DeliverArgs {
    /// the recipient's e-mail address (a `+extension` is ignored if no such user exists)
    #[argh(positional)]
    email: String,
    /// folder to file into, as a path of names such as Projects/2026 (case-insensitive;
    /// INBOX, Sent, Trash, Spam… name the default folders); default Inbox
    #[argh(option)]
    folder: Option<String>,
    /// the envelope sender (Postfix: ${sender}); an out-of-office reply goes there (default:
    /// the Return-Path header, else From)
    #[argh(option)]
    sender: Option<String>,
}

pub fn run(config: &Config, args: DeliverArgs) -> i32 {
    // The whole message first, whatever happens next: an MTA writing to a process that
    // exits early gets a broken pipe instead of our exit code and reason.
    let raw = match read_message(std::io::stdin().lock()) {
        Ok(raw) => raw,
        Err(code) => return code,
    };
    // Never create a database here: a delivery agent pointed at the wrong file would
    // otherwise make an empty one and bounce every message as "no such user".
    if !config.database.is_file() {
        eprintln!(
            "easd: no database at {} (check the configuration of this delivery)",
            config.database.display()
        );
        return exit::TEMPFAIL;
    }
    let options = StoreOptions {
        cache_kib: config.cache_kib,
    };
    let store = match Store::open_with(&config.database, &options) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("easd: cannot open {}: {e}", config.database.display());
            return exit::TEMPFAIL;
        }
    };
    let user = match recipient(&store, &args.email) {
        Ok(Some(user)) => user,
        Ok(None) => {
            eprintln!("easd: no such user: {}", args.email);
            return exit::NOUSER;
        }
        Err(e) => return failure(&e),
    };
    let path = FolderPath::parse(args.folder.as_deref().unwrap_or("INBOX"));
    let folder = match find_folder(&store, user.id, &path) {
        Ok(Some(folder)) if holds_mail(&folder) => folder,
        Ok(Some(folder)) => {
            eprintln!("easd: the folder {:?} does not hold mail", folder.name);
            return exit::CANTCREAT;
        }
        Ok(None) => {
            eprintln!(
                "easd: {} has no folder {:?} (create it on a phone or with easd import)",
                user.email,
                path.to_string()
            );
            return exit::CANTCREAT;
        }
        Err(e) => return failure(&e),
    };
    let now = now();
    let message = NewMessage {
        received_at: Some(now),
        recipient: Some(&user.email),
        ..NewMessage::new(&raw)
    };
    // One transaction: the message, the calendar a meeting mail changes, and the
    // out-of-office reply it owes (the sender recorded as answered, the reply filed or queued).
    let delivered = store.atomically(|| -> Result<_, StoreError> {
        crate::eas::meetings::file_mail(&store, &user, folder.id, &message)?;
        Ok(crate::oof::write_reply(
            &store,
            &user,
            &raw,
            args.sender.as_deref(),
            now,
        ))
    });
    match delivered {
        Ok(reply) => {
            // Committed: phones waiting in Ping or a hanging Sync hear of it now.
            crate::push::notify(config.notify, &user.email);
            out_of_office(config, &store, &user, reply, now);
            exit::OK
        }
        Err(e) => failure(&e),
    }
}

/// Finishes the out-of-office reply the delivery wrote, if any (see `crate::oof`). The
/// message is delivered already, so a failure here is reported on standard error (the MTA
/// logs it) and changes no exit code.
fn out_of_office(
    config: &Config,
    store: &Store,
    user: &User,
    reply: Result<crate::oof::Written, StoreError>,
    now: i64,
) {
    let outcome = reply.map_err(|e| e.to_string()).and_then(|written| {
        crate::oof::send_written(
            store,
            written,
            &config.submission_command,
            Some(config.notify),
            now,
        )
    });
    match outcome {
        Ok(crate::oof::Outcome::Replied(to)) => {
            eprintln!("easd: out-of-office reply from {} sent to {to}", user.email);
        }
        Ok(crate::oof::Outcome::Queued(to, error)) => {
            // The running server looks at its outbox when a notification arrives; the one
            // sent for the delivery went before the reply was queued.
            crate::push::notify(config.notify, &user.email);
            eprintln!(
                "easd: out-of-office reply from {} to {to} queued, the server retries: {error}",
                user.email
            );
        }
        Ok(_) => {}
        Err(e) => eprintln!(
            "easd: out-of-office reply from {} not sent: {e}",
            user.email
        ),
    }
}

/// The user an envelope recipient names: the exact address, else the address without a
/// `+extension`, else (for a bare name without `@`) the one user with that local part.
pub(super) fn recipient(store: &Store, email: &str) -> Result<Option<User>, StoreError> {
    let email = email.trim();
    if let Some(user) = store.user_by_email(email)? {
        return Ok(Some(user));
    }
    if let Some((local, domain)) = email.rsplit_once('@') {
        if let Some((base, _extension)) = local.split_once('+') {
            if !base.is_empty() {
                return store.user_by_email(&format!("{base}@{domain}"));
            }
        }
        return Ok(None);
    }
    let base = email.split_once('+').map_or(email, |(base, _)| base);
    store.find_login(base)
}

/// The message from `input`, without a leading mbox From_ line. Empty input, input that
/// holds nothing but blank space, and input over the size limit are data errors.
fn read_message(mut input: impl Read) -> Result<Vec<u8>, i32> {
    let mut raw = Vec::new();
    if let Err(e) = (&mut input)
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut raw)
    {
        eprintln!("easd: cannot read the message from standard input: {e}");
        return Err(exit::TEMPFAIL);
    }
    if raw.len() > MAX_MESSAGE_BYTES {
        // Read (and drop) the rest so the MTA sees the exit code, not a broken pipe.
        let _ = std::io::copy(&mut input, &mut std::io::sink());
        eprintln!("easd: message refused: it is larger than {MAX_MESSAGE_BYTES} bytes");
        return Err(exit::DATAERR);
    }
    strip_from_line(&mut raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        eprintln!("easd: message refused: standard input held no message");
        return Err(exit::DATAERR);
    }
    Ok(raw)
}

/// Drops an mbox `From sender date` envelope line some MTAs put first.
fn strip_from_line(raw: &mut Vec<u8>) {
    if raw.starts_with(b"From ") {
        let end = raw
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |newline| newline + 1);
        raw.drain(..end);
    }
}

/// Reports a store failure and picks the exit code: everything the store can fail with
/// here is transient from the MTA's point of view (busy, locked, full, I/O) or a fault of
/// ours that a retry after a fix will cure, so the message stays queued.
fn failure(error: &StoreError) -> i32 {
    eprintln!("easd: delivery deferred: {error}");
    exit::TEMPFAIL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_line_is_stripped_and_only_the_first() {
        let mut raw = b"From a@b Mon Jan  1 00:00:00 2001\nSubject: x\n\nFrom me\n".to_vec();
        strip_from_line(&mut raw);
        assert_eq!(raw, b"Subject: x\n\nFrom me\n");
        let mut raw = b"Subject: x\n\nbody\n".to_vec();
        strip_from_line(&mut raw);
        assert_eq!(raw, b"Subject: x\n\nbody\n");
        let mut raw = b"From only".to_vec();
        strip_from_line(&mut raw);
        assert!(raw.is_empty());
    }

    #[test]
    fn empty_input_is_a_data_error() {
        assert_eq!(read_message(&b""[..]), Err(exit::DATAERR));
        assert_eq!(read_message(&b"\r\n \n"[..]), Err(exit::DATAERR));
        assert_eq!(
            read_message(&b"From x Mon Jan  1 00:00:00 2001\n\n"[..]),
            Err(exit::DATAERR)
        );
        assert_eq!(
            read_message(&b"Subject: s\n\nb"[..]),
            Ok(b"Subject: s\n\nb".to_vec())
        );
    }

    #[test]
    fn recipients_with_extensions_and_bare_names() {
        let store = Store::open_in_memory().unwrap();
        store.add_user("pat@example.com", "", "pw").unwrap();
        let found = |address: &str| recipient(&store, address).unwrap().map(|u| u.email);
        assert_eq!(found("Pat@Example.com").as_deref(), Some("pat@example.com"));
        assert_eq!(
            found("pat+lists@example.com").as_deref(),
            Some("pat@example.com")
        );
        assert_eq!(found("pat").as_deref(), Some("pat@example.com"));
        assert_eq!(found("pat+x").as_deref(), Some("pat@example.com"));
        assert_eq!(found("pat@other.example"), None);
        assert_eq!(found("+x@example.com"), None);
        assert_eq!(found("nobody@example.com"), None);
    }
}
