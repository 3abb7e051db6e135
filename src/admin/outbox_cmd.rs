//! `easd outbox list|retry|drop`: the mail the server sends for users (meeting invitations
//! and answers, out-of-office replies) that waits in the outbox because the mail system
//! refused it (see [`crate::outbox`]). `retry` makes an entry due now and tells the running
//! server (a change notification, which makes it look at its outbox at once); `drop` removes it unsent.

use argh::FromArgs;

use super::{exit, open_store};
use crate::config::Config;
use crate::store::{QueuedMail, Store, StoreError};

/// the server's queue of outgoing mail: list, retry now, drop
#[derive(FromArgs)]
#[argh(subcommand, name = "outbox")]
pub struct OutboxArgs {
    #[argh(subcommand)]
    action: OutboxAction,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum OutboxAction {
    List(ListArgs),
    Retry(RetryArgs),
    Drop(DropArgs),
}

/// list the queued messages: id, owner, recipients, age, attempts, next attempt, last error
#[derive(FromArgs)]
#[argh(subcommand, name = "list")]
struct ListArgs {}

/// make a queued message due now (the running server sends it within a minute)
#[derive(FromArgs)]
#[argh(subcommand, name = "retry")]
struct RetryArgs {
    /// the message's id (from easd outbox list)
    #[argh(positional)]
    id: i64,
}

/// remove a queued message without sending it
#[derive(FromArgs)]
#[argh(subcommand, name = "drop")]
struct DropArgs {
    /// the message's id (from easd outbox list)
    #[argh(positional)]
    id: i64,
}

pub fn run(config: &Config, args: OutboxArgs) -> i32 {
    let store = match open_store(config) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let now = crate::store::now();
    let outcome = match args.action {
        OutboxAction::List(_) => list(&store, now).map(|()| true),
        OutboxAction::Retry(a) => retry(config, &store, a.id, now),
        OutboxAction::Drop(a) => store.remove_queued_mail(a.id),
    };
    match outcome {
        Ok(true) => exit::OK,
        Ok(false) => {
            eprintln!("easd: no such message in the outbox");
            exit::NOINPUT
        }
        Err(e) => {
            eprintln!("easd: {e}");
            exit::TEMPFAIL
        }
    }
}

/// Makes entry `id` due now; the owner's change notification wakes the running server's
/// request loop, which then sends it.
fn retry(config: &Config, store: &Store, id: i64, now: i64) -> Result<bool, StoreError> {
    let owner = match store.queued_mail(id)? {
        Some(mail) => store.user_by_id(mail.user)?,
        None => return Ok(false),
    };
    let retried = store.retry_queued_mail(id, now)?;
    if let (true, Some(owner)) = (retried, owner) {
        crate::push::notify(config.notify, &owner.email);
    }
    Ok(retried)
}

fn list(store: &Store, now: i64) -> Result<(), StoreError> {
    let queued = store.queued_mails()?;
    if queued.is_empty() {
        println!("the outbox is empty");
        return Ok(());
    }
    for mail in &queued {
        println!("{}", line(store, mail, now)?);
    }
    Ok(())
}

/// One entry as `easd outbox list` prints it.
fn line(store: &Store, mail: &QueuedMail, now: i64) -> Result<String, StoreError> {
    let owner = store
        .user_by_id(mail.user)?
        .map(|u| u.email)
        .unwrap_or_else(|| format!("user {}", mail.user));
    let next = if mail.next_attempt <= now {
        "due now".to_string()
    } else {
        format!("next in {}", span(mail.next_attempt - now))
    };
    let error = mail
        .last_error
        .as_deref()
        .map(|e| format!(", last error: {}", crate::logsafe::escaped_text(e, 300)))
        .unwrap_or_default();
    Ok(format!(
        "{id}  {owner} -> {to}  queued {age} ago, {attempts} attempt(s), {next}{error}",
        id = mail.id,
        to = mail.recipients.join(", "),
        age = span(now - mail.created),
        attempts = mail.attempts,
    ))
}

/// A duration for people: `45s`, `12m`, `3h`, `2d`.
fn span(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::queue_for_rita;

    #[test]
    fn a_line_names_owner_recipients_age_and_the_last_error() {
        let store = Store::open_in_memory().unwrap();
        let ann = store.add_user("ann@example.com", "", "pw").unwrap();
        let id = queue_for_rita(&store, &ann, b"x", 1000);
        let backoff = crate::store::Backoff::default();
        store
            .queued_mail_failed(id, "relay refused\nnow", 1000, &backoff)
            .unwrap();
        let mail = store.queued_mail(id).unwrap().unwrap();
        assert_eq!(
            line(&store, &mail, 4600).unwrap(),
            format!(
                "{id}  ann@example.com -> rita@remote.example  queued 60m ago, 1 attempt(s), \
                 due now, last error: relay refused\\nnow"
            )
        );
        assert_eq!(span(30), "30s");
        assert_eq!(span(3 * 86400), "3d");
    }
}
