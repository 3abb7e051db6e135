//! Sends the outbox (`store::outbox`): the mail the server sends on a user's behalf after a
//! committed write (meeting invitations and cancellations, meeting answers, out-of-office
//! replies). Like an MTA's queue run, one call takes one due entry and hands it to the
//! submission command: accepted, the entry goes; refused, it waits by the [`Backoff`]; once
//! too old, it goes and a "Not sent" note naming the recipients is filed in the owner's
//! Inbox in the same transaction. The request loop calls [`send_next_due`] while no request
//! waits (and so right after the write that queued the mail); `easd deliver` calls
//! [`attempt_claimed`] for the out-of-office reply it just queued, claimed.

use log::{info, warn};

use crate::mail_submit;
use crate::store::outbox::Retry;
use crate::store::{Backoff, FolderType, NewMessage, QueuedMail, Store, StoreError};

/// The environment variable that sets the backoff as `first,longest,give-up,lease` seconds
/// (see [`Backoff`]; tests use seconds instead of minutes and days).
pub const BACKOFF_ENV: &str = "EASD_OUTBOX_BACKOFF";

/// What one call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Nothing was due.
    NothingDue,
    /// The submission command took entry `id`.
    Sent(i64),
    /// Refused; tried again at this time.
    Retrying(i64),
    /// Refused for the last time: dropped, and the owner told.
    GaveUp(i64),
}

/// The backoff in force: [`Backoff::default`], or [`BACKOFF_ENV`] when it holds four
/// positive numbers of seconds.
pub fn backoff_from_env() -> Backoff {
    let Ok(text) = std::env::var(BACKOFF_ENV) else {
        return Backoff::default();
    };
    let numbers: Vec<i64> = text
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect();
    match numbers[..] {
        [first_retry, longest, give_up_after, claim_lease] => Backoff {
            first_retry,
            longest,
            give_up_after,
            claim_lease,
        },
        _ => {
            warn!("{BACKOFF_ENV} ignored: expected four positive numbers of seconds");
            Backoff::default()
        }
    }
}

/// Takes the oldest entry due at `now` and tries it once. `notify` is told of a user whose
/// Inbox got a note.
pub fn send_next_due(
    store: &Store,
    submission_command: &[String],
    backoff: &Backoff,
    notify: Option<std::net::SocketAddr>,
    now: i64,
) -> Result<Attempt, StoreError> {
    match store.claim_due_mail(now, backoff.claim_lease)? {
        Some(mail) => attempt(store, mail, submission_command, backoff, notify, now),
        None => Ok(Attempt::NothingDue),
    }
}

/// The one attempt at entry `id` that its writer claimed when it queued it
/// ([`Store::enqueue_claimed_mail`]). `NothingDue` when it is gone (dropped meanwhile).
pub fn attempt_claimed(
    store: &Store,
    id: i64,
    submission_command: &[String],
    backoff: &Backoff,
    notify: Option<std::net::SocketAddr>,
    now: i64,
) -> Result<Attempt, StoreError> {
    match store.queued_mail(id)? {
        Some(mail) => attempt(store, mail, submission_command, backoff, notify, now),
        None => Ok(Attempt::NothingDue),
    }
}

/// One attempt at a claimed entry.
fn attempt(
    store: &Store,
    mail: QueuedMail,
    submission_command: &[String],
    backoff: &Backoff,
    notify: Option<std::net::SocketAddr>,
    now: i64,
) -> Result<Attempt, StoreError> {
    let error = match mail_submit::submit(
        submission_command,
        &mail.sender,
        &mail.recipients,
        &mail.message,
    ) {
        Ok(()) => {
            store.remove_queued_mail(mail.id)?;
            info!(
                "outbox: mail {} from {} sent to {} recipient(s)",
                mail.id,
                mail.sender,
                mail.recipients.len()
            );
            return Ok(Attempt::Sent(mail.id));
        }
        Err(e) => e.to_string(),
    };
    // The submission took time: the failure is recorded at the time it happened.
    let failed_at = crate::store::now().max(now);
    let retry = match store.queued_mail_failed(mail.id, &error, failed_at, backoff) {
        Ok(retry) => retry,
        // Dropped by the administrator while the attempt ran.
        Err(StoreError::NotFound(_)) => return Ok(Attempt::NothingDue),
        Err(e) => return Err(e),
    };
    match retry {
        Retry::At(at) => {
            warn!(
                "outbox: mail {} from {} not sent (attempt {}), retried in {} s: {error}",
                mail.id,
                mail.sender,
                mail.attempts + 1,
                at - failed_at
            );
            Ok(Attempt::Retrying(at))
        }
        Retry::GiveUp => {
            warn!(
                "outbox: mail {} from {} given up after {} attempts: {error}",
                mail.id,
                mail.sender,
                mail.attempts + 1
            );
            let owner = store.atomically(|| -> Result<Option<String>, StoreError> {
                let owner = file_not_sent_note(store, &mail, &error, failed_at)?;
                store.remove_queued_mail(mail.id)?;
                Ok(owner)
            })?;
            if let (Some(addr), Some(owner)) = (notify, owner) {
                crate::push::notify(addr, &owner);
            }
            Ok(Attempt::GaveUp(mail.id))
        }
    }
}

/// Files the note of mail given up on in its owner's Inbox; the owner's address, when the
/// note was filed.
fn file_not_sent_note(
    store: &Store,
    mail: &QueuedMail,
    error: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let Some(user) = store.user_by_id(mail.user)? else {
        return Ok(None);
    };
    let Some(inbox) = store
        .folders_of(user.id)?
        .into_iter()
        .find(|f| f.folder_type == FolderType::Inbox)
    else {
        warn!("{} has no Inbox: no note of the unsent mail", user.email);
        return Ok(None);
    };
    let subject = mail_parser::MessageParser::new()
        .parse(&mail.message)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
        .replace(['\r', '\n'], " ");
    let raw = format!(
        "From: Mail server <postmaster@{domain}>\r\nTo: <{email}>\r\n\
Subject: Not sent: {subject}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
The mail \"{subject}\" that the server was to send for you since {since} could not be \
handed to the mail system after {attempts} attempts, and has been given up, for:\r\n\r\n\
{list}\r\n\r\nThe last error was: {error}\r\n\r\n{advice}",
        domain = user.domain,
        email = user.email,
        date = crate::clock::rfc5322_date(now),
        since = crate::clock::rfc5322_date(mail.created),
        attempts = mail.attempts + 1,
        list = mail.recipients.join("\r\n"),
        error = error.replace(['\r', '\n'], " "),
        advice = if is_meeting_mail(&mail.message) {
            "The meeting is saved in your calendar: change it again later to send it once \
             more, or tell these people yourself.\r\n"
        } else {
            "Tell these people yourself if they need to know.\r\n"
        },
    );
    let note = NewMessage {
        received_at: Some(now),
        recipient: Some(&user.email),
        ..NewMessage::new(raw.as_bytes())
    };
    store.add_message(user.id, inbox.id, &note)?;
    Ok(Some(user.email))
}

/// Whether a message carries iCalendar (meeting mail: invitations, cancellations, answers).
fn is_meeting_mail(message: &[u8]) -> bool {
    let needle = b"text/calendar";
    message
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail_submit::SUBMISSION_TIMEOUT;
    use crate::store::test_support::queue_for_rita;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into(), "sh".into()]
    }

    #[test]
    fn a_refused_entry_waits_and_is_given_up_with_a_note_to_its_owner() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap();
        let now = crate::store::now();
        queue_for_rita(
            &store,
            &ann,
            b"Subject: Invitation: Garden\r\n\r\nbody",
            now,
        );
        let refusing = sh("cat >/dev/null; echo 'relay refused' >&2; exit 75");
        let backoff = Backoff {
            first_retry: 60,
            longest: 60,
            give_up_after: 3600,
            claim_lease: 180,
        };
        let first = send_next_due(&store, &refusing, &backoff, None, now).unwrap();
        assert!(
            matches!(first, Attempt::Retrying(at) if at >= now + 60),
            "{first:?}"
        );
        assert_eq!(
            send_next_due(&store, &refusing, &backoff, None, now).unwrap(),
            Attempt::NothingDue
        );
        // An hour later the entry is too old: dropped, and Ann reads why.
        let later = now + 3600;
        let last = send_next_due(&store, &refusing, &backoff, None, later).unwrap();
        assert!(matches!(last, Attempt::GaveUp(_)), "{last:?}");
        assert!(store.queued_mails().unwrap().is_empty());
        let inbox = store
            .folders_of(ann.id)
            .unwrap()
            .into_iter()
            .find(|f| f.folder_type == FolderType::Inbox)
            .unwrap();
        let notes = store.items_in_window(ann.id, inbox.id, None).unwrap();
        assert_eq!(notes.len(), 1);
        assert!(!is_meeting_mail(b"Subject: Automatic reply\r\n\r\naway"));
        assert!(is_meeting_mail(
            b"Content-Type: TEXT/CALENDAR; method=REQUEST\r\n"
        ));
    }

    #[test]
    fn a_claim_outlasts_the_submission_timeout() {
        assert!(Backoff::default().claim_lease > SUBMISSION_TIMEOUT.as_secs() as i64);
    }

    #[test]
    fn an_accepted_entry_leaves_the_queue() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap();
        let now = crate::store::now();
        let id = queue_for_rita(&store, &ann, b"Subject: x\r\n\r\nbody", now);
        let accepting = sh("cat >/dev/null");
        assert_eq!(
            send_next_due(&store, &accepting, &Backoff::default(), None, now).unwrap(),
            Attempt::Sent(id)
        );
        assert_eq!(store.next_mail_due().unwrap(), None);
    }
}
